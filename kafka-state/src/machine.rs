//! The one contract every sub-machine of a [`Client`](crate::Client)
//! speaks (metadata refresh, admin, producer, transaction manager,
//! consumer, group member).
//!
//! A sub-machine never sees a socket, a connection or another machine. The
//! client hands it a [`Ctx`] holding what is shared: the time, the
//! metadata, the queue of outbound requests, the event queue and which
//! brokers have a connection with room. Every request a machine queues
//! during a call is routed back to that machine by its [`RequestId`], so
//! the client needs no list of who asked for what. Adding a machine is:
//! implement [`SubMachine`], then register its field in the client's
//! `registered!` list (which also fixes the order machines are polled in).
//!
//! Two pairs of machines share state no other machine may touch: the
//! group member with the consumer (assignment, consumed offsets) and the
//! transaction manager with the producer (producer id, partitions that
//! may send, failed records). Each pair meets in a cooperate step the
//! client runs before every round of [`SubMachine::poll_requests`], so
//! neither machine holds the other.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use crate::error::FatalError;
use crate::metadata::MetadataState;
use crate::router::{Inbound, RequestId, RequestQueue};
use crate::{Broker, Event};

/// Whether a dedicated connection is ready, and where machines ask for
/// the ones that are not.
type Readiness<'a> = (&'a dyn Fn(Broker) -> bool, &'a mut BTreeSet<Broker>);

/// What a sub-machine may use and change while the client calls it.
pub(crate) struct Ctx<'a> {
    /// The client's clock: the one place time is held.
    pub(crate) now: Instant,
    /// How long a request may wait for a usable connection.
    pub(crate) api_timeout: Duration,
    pub(crate) metadata: &'a mut MetadataState,
    /// Requests to send; each is answered to the machine that queued it.
    pub(crate) requests: &'a mut RequestQueue,
    pub(crate) events: &'a mut VecDeque<Event>,
    /// Whether a broker (by node id) has a ready connection with room.
    ready: &'a dyn Fn(i32) -> bool,
    /// Brokers a machine waits for: the client connects to them.
    wanted: &'a mut BTreeSet<i32>,
    /// The same for the dedicated connections
    /// ([`Broker::Coordinator`], [`Broker::Producer`]), when the
    /// caller provides them.
    coordinators: Option<Readiness<'a>>,
    metadata_changed: bool,
    fatal: Option<FatalError>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(
        now: Instant,
        api_timeout: Duration,
        metadata: &'a mut MetadataState,
        requests: &'a mut RequestQueue,
        events: &'a mut VecDeque<Event>,
        ready: &'a dyn Fn(i32) -> bool,
        wanted: &'a mut BTreeSet<i32>,
    ) -> Self {
        Self {
            now,
            api_timeout,
            metadata,
            requests,
            events,
            ready,
            wanted,
            coordinators: None,
            metadata_changed: false,
            fatal: None,
        }
    }

    /// Whether `node` has a ready connection with room for a request now.
    /// If not, the client opens one (or waits out its reconnect backoff,
    /// with a timer) and polls the machines again once it is ready.
    pub(crate) fn node_ready(&mut self, node: i32) -> bool {
        if (self.ready)(node) {
            return true;
        }
        self.wanted.insert(node);
        false
    }

    /// Adds the readiness of the dedicated connections and the set where
    /// machines ask for them.
    pub(crate) fn with_coordinators(
        mut self,
        ready: &'a dyn Fn(Broker) -> bool,
        wanted: &'a mut BTreeSet<Broker>,
    ) -> Self {
        self.coordinators = Some((ready, wanted));
        self
    }

    /// [`Ctx::node_ready`] for the group coordinator's connection to
    /// `node` ([`Broker::Coordinator`]); the plain connection where the
    /// caller provides none.
    pub(crate) fn coordinator_ready(&mut self, node: i32) -> bool {
        self.dedicated_ready(Broker::Coordinator(node), node)
    }

    /// [`Ctx::node_ready`] for the producer's connection to `node`
    /// ([`Broker::Producer`]), which the transaction manager shares.
    pub(crate) fn producer_ready(&mut self, node: i32) -> bool {
        self.dedicated_ready(Broker::Producer(node), node)
    }

    fn dedicated_ready(&mut self, broker: Broker, node: i32) -> bool {
        match &mut self.coordinators {
            Some((ready, wanted)) => {
                if ready(broker) {
                    return true;
                }
                wanted.insert(broker);
                false
            }
            None => self.node_ready(node),
        }
    }

    /// The machine changed the metadata cache: the client reports
    /// [`Event::MetadataUpdated`] and adopts new broker ids.
    pub(crate) fn metadata_changed(&mut self) {
        self.metadata_changed = true;
    }

    /// The machine hit an error the client cannot go on after.
    pub(crate) fn fail(&mut self, fatal: FatalError) {
        self.fatal.get_or_insert(fatal);
    }

    /// What the client acts on after the calls: (metadata changed, fatal).
    pub(crate) fn finish(self) -> (bool, Option<FatalError>) {
        (self.metadata_changed, self.fatal)
    }
}

impl fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx")
            .field("now", &self.now)
            .field("wanted", &self.wanted)
            .finish_non_exhaustive()
    }
}

/// The contract between the client and each of its sub-machines.
pub(crate) trait SubMachine {
    /// Queues the requests that can go now into `ctx.requests`. Called
    /// after every input and command, in rounds while any machine queued
    /// something (so requests can pipeline on a connection), so it must
    /// queue only what is due.
    fn poll_requests(&mut self, ctx: &mut Ctx<'_>);

    /// The answer to (or the failure of) a request this machine queued.
    fn handle_response(&mut self, ctx: &mut Ctx<'_>, inbound: Inbound);

    /// Time reached a deadline this machine reported. Calling it early is
    /// harmless. Machines that check their deadlines in
    /// [`SubMachine::poll_requests`] (run right after) need not act here.
    fn handle_timeout(&mut self, _ctx: &mut Ctx<'_>) {}

    /// The earliest deadline of this machine, even one already passed.
    fn poll_timeout(&self, now: Instant, metadata: &MetadataState) -> Option<Instant>;

    /// Whether a request of this machine, queued but not sent, is no
    /// longer worth sending (its broker stopped leading its partitions).
    /// Returning true withdraws it: the machine has forgotten it.
    fn withdraw(&mut self, _id: RequestId, _metadata: &MetadataState) -> bool {
        false
    }

    /// The client is shutting down (closed or failed); every request of
    /// the machine has already been answered with an error.
    fn shut_down(&mut self, _ctx: &mut Ctx<'_>) {}
}
