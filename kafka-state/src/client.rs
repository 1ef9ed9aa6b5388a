//! The [`Client`]: connections per broker, the request router, reconnect
//! backoff, and the sub-machines it drives through one contract
//! (`crate::machine`): metadata refresh, admin, producer, consumer, group
//! member.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use kafka_proto::messages::ProduceResponse;
use kafka_proto::{ApiKey, ResponseBody};
use tracing::{debug, info, warn};

use crate::admin::{check_topic_name, Admin, AdminState};
use crate::conn::{expects_response, ConnOutput, ConnSettings, Connection, Wire};
use crate::consumer::{Consumer, ConsumerState};
use crate::error::{DisconnectReason, FatalError, Misuse, RequestError};
use crate::group::member::{Cooperate, GroupMember};
use crate::machine::{Ctx, SubMachine};
use crate::metadata::{ClusterMetadata, MetadataRefresh, MetadataState};
use crate::producer::{Producer, ProducerState, PumpBy};
use crate::rng::Rng;
use crate::router::{Inbound, Outbound, RequestId, RequestQueue, Target};
use crate::sasl::{OAuthState, SaslMechanism};
use crate::stats::{BrokerStats, ConnCounters, ConnState, PartitionStats, TotalStats};
use crate::timer::{ClientTimer, TimerTable};
use crate::txn::TxnManager;
use crate::{
    Broker, BrokerAddr, ClientStats, Config, ConnId, ConnRequest, Event, TopicPartition, Transmit,
};

const LOG: &str = "kafka_state::client";
/// Reconnect delays vary by ±20% so clients do not reconnect in lockstep.
const BACKOFF_JITTER: f64 = 0.2;

/// Consecutive failures of one broker and when it may be tried again.
#[derive(Debug, Clone, Copy, Default)]
struct Backoff {
    failures: u32,
    until: Option<Instant>,
}

/// The registered sub-machines, in the order they are polled. Adding one
/// is implementing [`SubMachine`] for it, holding it in a field of
/// [`Client`] and naming that field here: a machine's slot is its place
/// in this list, and responses find their way back through it.
macro_rules! registered {
    ($client:ident, $($borrow:tt)+) => {
        [
            $($borrow)+ $client.admin as $($borrow)+ dyn SubMachine,
            $($borrow)+ $client.producer as $($borrow)+ dyn SubMachine,
            $($borrow)+ $client.txn as $($borrow)+ dyn SubMachine,
            $($borrow)+ $client.consumer as $($borrow)+ dyn SubMachine,
            $($borrow)+ $client.group as $($borrow)+ dyn SubMachine,
            $($borrow)+ $client.refresh as $($borrow)+ dyn SubMachine,
        ]
    };
}

/// Where a queued request can go right now.
enum Route {
    Send(ConnId),
    Wait,
}

/// A sans-IO Kafka client core.
///
/// Feed it inputs (`handle_*`) and commands, then drain its outputs
/// (`poll_*`) in the order the [crate docs](crate) give. It never reads a
/// clock, never blocks and never touches a socket.
pub struct Client {
    config: Config,
    client_id: String,
    rng: Rng,
    pub(crate) now: Instant,
    next_conn: u64,
    conns: BTreeMap<ConnId, Connection>,
    by_broker: BTreeMap<Broker, ConnId>,
    backoff: BTreeMap<Broker, Backoff>,
    pub(crate) requests: RequestQueue,
    /// The slot (see `registered!`) of the machine each queued or
    /// in-flight request goes back to.
    routes: BTreeMap<RequestId, usize>,
    /// Brokers a machine waits to have a ready connection to.
    wanted: BTreeSet<i32>,
    /// Brokers a machine waits to have a ready coordinator connection to.
    wanted_coordinators: BTreeSet<Broker>,
    pub(crate) metadata: MetadataState,
    refresh: MetadataRefresh,
    pub(crate) admin: AdminState,
    pub(crate) producer: ProducerState,
    /// The transaction manager, with a `transactional_id`.
    pub(crate) txn: Option<TxnManager>,
    pub(crate) consumer: ConsumerState,
    pub(crate) group: GroupMember,
    timers: TimerTable<ClientTimer>,
    /// When the client was created, for [`ClientStats::age_us`].
    started: Instant,
    /// Counts of connections already closed, per slot.
    retired: BTreeMap<Broker, ConnCounters>,
    /// [`Client::poll_timeout`] as of the last pump: a command that skips
    /// the pump (a send joining an open batch) still pumps once its `now`
    /// reaches this.
    next_timeout: Option<Instant>,
    /// Bytes for the adapter, each with the completion of an acks=0
    /// Produce it carries: such a request is done once the adapter takes
    /// its bytes (see [`Client::poll_transmit`]).
    transmits: VecDeque<(Transmit, Option<Inbound>)>,
    conn_requests: VecDeque<ConnRequest>,
    pub(crate) events: VecDeque<Event>,
    fatal: Option<FatalError>,
    closed: bool,
    /// Work was planned since the last [`Client::take_wakeup`].
    wakeup: bool,
    /// The OAUTHBEARER token; never in `Debug` output.
    oauth: OAuthState,
    /// rustls settings built from `config.tls`.
    #[cfg(feature = "tls")]
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field("conns", &self.conns.len())
            .field("queued", &self.requests.queue.len())
            .field("fatal", &self.fatal)
            .finish_non_exhaustive()
    }
}

/// The entry of `b` in a snapshot being built.
fn stats_slot(brokers: &mut BTreeMap<Broker, BrokerStats>, b: Broker) -> &mut BrokerStats {
    brokers.entry(b).or_insert_with(|| {
        let (node, role) = b.stats_key();
        BrokerStats {
            node,
            role,
            ..BrokerStats::default()
        }
    })
}

fn settings<'a>(config: &'a Config, client_id: &'a str) -> ConnSettings<'a> {
    ConnSettings {
        client_id,
        request_timeout: config.request_timeout,
        max_frame_size: config.max_frame_size,
        sasl: config.sasl.as_ref(),
        seed: config.seed,
        oauth_token: None,
    }
}

impl Client {
    /// Bytes from the seeded generator (SCRAM salts an admin computes).
    pub(crate) fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.rng.next_u64().to_le_bytes());
        }
        out.truncate(n);
        out
    }

    /// A client that starts bootstrapping at once: the first
    /// [`Client::poll_conn`] asks for a connection.
    pub fn new(config: Config, now: Instant) -> Result<Self, Misuse> {
        config.validate()?;
        let mut rng = Rng::new(config.seed);
        let client_id = match &config.client_id {
            Some(id) => id.clone(),
            None => format!("kafka-rs-{:08x}", rng.next_u64() as u32),
        };
        #[cfg(feature = "tls")]
        let tls = config.tls.as_ref().map(|t| t.build()).transpose()?;
        let metadata = MetadataState::new(now, config.metadata_max_age, config.retry_backoff);
        let producer =
            ProducerState::new(config.producer.clone(), config.request_timeout, config.seed);
        let txn = config.producer.transactional_id.clone().map(|id| {
            let p = &config.producer;
            TxnManager::new(id, p.transaction_timeout, p.retry_backoff)
        });
        let consumer = ConsumerState::new(&config);
        let group = GroupMember::new(&config, now);
        let mut client = Self {
            config,
            client_id,
            rng,
            now,
            next_conn: 0,
            conns: BTreeMap::new(),
            by_broker: BTreeMap::new(),
            backoff: BTreeMap::new(),
            requests: RequestQueue::default(),
            routes: BTreeMap::new(),
            wanted: BTreeSet::new(),
            wanted_coordinators: BTreeSet::new(),
            metadata,
            refresh: MetadataRefresh,
            admin: AdminState::default(),
            producer,
            txn,
            consumer,
            group,
            timers: TimerTable::default(),
            started: now,
            retired: BTreeMap::new(),
            next_timeout: None,
            transmits: VecDeque::new(),
            conn_requests: VecDeque::new(),
            events: VecDeque::new(),
            fatal: None,
            closed: false,
            wakeup: false,
            oauth: OAuthState::default(),
            #[cfg(feature = "tls")]
            tls,
        };
        if let Some(every) = client.config.stats_interval {
            client.timers.set(ClientTimer::Stats, now + every);
        }
        client.pump();
        Ok(client)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The client id sent in request headers.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    // ---- inputs -------------------------------------------------------

    /// The socket asked for by [`ConnRequest::Open`] is open.
    pub fn handle_connected(&mut self, now: Instant, conn: ConnId) {
        self.tick(now);
        #[cfg(feature = "tls")]
        if let Err(reason) = self.start_tls(conn) {
            self.drop_conn(conn, reason, true);
            self.pump();
            return;
        }
        let s = settings(&self.config, &self.client_id);
        if let Some(bytes) = self
            .conns
            .get_mut(&conn)
            .and_then(|c| c.handle_connected(s))
        {
            self.transmits.push_back((Transmit { conn, bytes }, None));
        }
        self.pump();
    }

    /// The socket asked for by [`ConnRequest::Open`] could not be opened
    /// (resolution failure, refused, unreachable...).
    pub fn handle_connect_failed(&mut self, now: Instant, conn: ConnId, error: impl fmt::Display) {
        self.tick(now);
        self.drop_conn(
            conn,
            DisconnectReason::ConnectFailed(error.to_string()),
            false,
        );
        self.pump();
    }

    /// The socket closed (EOF, reset, write error).
    pub fn handle_closed(&mut self, now: Instant, conn: ConnId) {
        self.tick(now);
        self.drop_conn(conn, DisconnectReason::Closed, false);
        self.pump();
    }

    /// Bytes arrived on `conn`, appended to `buf` (that connection's read
    /// buffer). Whole frames are cut off its front; a partial frame stays
    /// for the next call. Under TLS (`Config::tls`,
    /// feature `tls`) the bytes are ciphertext and all of them are consumed:
    /// partial frames wait, decrypted, inside the client. If the broker
    /// broke the protocol (or TLS failed) the client asks
    /// to close the connection ([`ConnRequest::Close`]) and reports
    /// [`Event::ConnectionLost`].
    pub fn handle_recv(&mut self, now: Instant, conn: ConnId, buf: &mut BytesMut) {
        self.tick(now);
        let mut s = settings(&self.config, &self.client_id);
        s.oauth_token = self.oauth.token(self.now);
        let Some(c) = self.conns.get_mut(&conn) else {
            // Data for a connection we already forgot.
            buf.clear();
            return;
        };
        let broker = c.broker;
        let mut out = Vec::new();
        let result = c.handle_recv(self.now, buf, s, &mut out);
        let transaction_version = c.transaction_version();
        for o in out {
            match o {
                ConnOutput::Ready => {
                    self.backoff.remove(&broker);
                    if let Some(level) = transaction_version {
                        self.metadata.cache.set_transaction_version(level);
                    }
                    self.events.push_back(Event::BrokerReady { broker });
                }
                ConnOutput::Transmit(bytes) => {
                    self.transmits.push_back((Transmit { conn, bytes }, None))
                }
                ConnOutput::TokenRequired => self.request_oauth_token(),
                ConnOutput::Response { id, body } => self.deliver(Inbound {
                    id,
                    result: Ok(*body),
                }),
            }
        }
        if let Err(reason) = result {
            buf.clear();
            self.drop_conn(conn, reason, true);
        }
        self.pump();
    }

    /// Time passed. Calling it early, or more than once, is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tick(now);
        let now = self.now;
        let expired: Vec<(ConnId, DisconnectReason)> = self
            .conns
            .iter_mut()
            .filter_map(|(id, c)| c.handle_timeout(now).err().map(|r| (*id, r)))
            .collect();
        for (conn, reason) in expired {
            self.drop_conn(conn, reason, true);
        }
        if self.timers.is_due(ClientTimer::Stats, now) {
            if let Some(every) = self.config.stats_interval {
                // From the deadline, not from `now`: a late wake-up does
                // not shift every later snapshot.
                let due = self.timers.get(ClientTimer::Stats).unwrap_or(now);
                self.timers.set(ClientTimer::Stats, (due + every).max(now));
                self.events.push_back(Event::Stats(Box::new(self.stats())));
            }
        }
        if !self.closed && self.fatal.is_none() {
            self.with_machines(None, |m, ctx| m.handle_timeout(ctx));
        }
        self.pump();
    }

    // ---- outputs ------------------------------------------------------

    /// Bytes to write, in order per connection.
    ///
    /// Taking the bytes of an acks=0 Produce completes it (its records are
    /// reported delivered, as the broker never answers). An adapter whose
    /// socket is backed up should stop taking bytes until it drains: the
    /// producer's `buffer_memory` then bounds what is held.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let (t, done) = self.transmits.pop_front()?;
        if let Some(c) = self.conns.get_mut(&t.conn) {
            c.counters.bytes_sent += t.bytes.len() as u64;
        }
        if let Some(inbound) = done {
            self.deliver(inbound);
            // The request's room is free: more may go.
            self.pump();
        }
        Some(t)
    }

    /// A socket to open or close.
    #[must_use]
    pub fn poll_conn(&mut self) -> Option<ConnRequest> {
        self.conn_requests.pop_front()
    }

    /// When to call [`Client::handle_timeout`] next; `None` if nothing is
    /// scheduled. An instant already passed means: call it now.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let conns = self.conns.values().filter_map(Connection::poll_timeout);
        let machines = if self.closed || self.fatal.is_some() {
            None
        } else {
            registered!(self, &)
                .into_iter()
                .filter_map(|m| m.poll_timeout(self.now, &self.metadata))
                .min()
        };
        self.timers
            .next()
            .into_iter()
            .chain(conns)
            .chain(machines)
            .min()
    }

    /// Something that happened.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether, since the last call, the client queued an output or may
    /// have moved its next timeout; clears the flag.
    ///
    /// For adapters that let application threads call commands directly
    /// (with the client behind a lock) while one driver polls the
    /// outputs: after a command, wake the driver only if this is true.
    /// Most sends only add a record to an open batch and return `false`,
    /// so a stream of sends costs one wake-up per batch, not per record.
    /// The driver calls it too, after draining, to start afresh.
    pub fn take_wakeup(&mut self) -> bool {
        // Transmits left unpolled are not counted: a driver holding back
        // while its sockets drain has seen them already, and waking it for
        // them on every send would only spin.
        let pending = !self.conn_requests.is_empty() || !self.events.is_empty();
        std::mem::take(&mut self.wakeup) || pending
    }

    /// [`Client::take_wakeup`] for an input fed outside the driver (a
    /// socket's reader handing over received bytes under the lock). Such
    /// inputs always run the client's pump, so the flag alone would say
    /// yes every time; this says yes only if the driver has something to
    /// do: a transmit, connection request or event waiting, or a timeout
    /// due before `armed`, the deadline the driver sleeps until. Clears
    /// the flag.
    pub fn take_wakeup_for(&mut self, armed: Option<Instant>) -> bool {
        self.wakeup = false;
        let sooner = match (self.poll_timeout(), armed) {
            (Some(next), Some(armed)) => next < armed,
            (next, _) => next.is_some() && armed.is_none(),
        };
        sooner
            || !self.transmits.is_empty()
            || !self.conn_requests.is_empty()
            || !self.events.is_empty()
    }

    // ---- commands and queries ----------------------------------------

    /// Admin commands (create and delete topics, metadata).
    pub fn admin(&mut self) -> Admin<'_> {
        Admin { client: self }
    }

    /// The producer: send records, flush, and query what is pending.
    /// Delivery reports arrive as [`Event::Delivered`] (a batch written)
    /// and [`Event::DeliveryFailed`].
    pub fn producer(&mut self) -> Producer<'_> {
        Producer { client: self }
    }

    /// Transactions of a producer with a `transactional_id`
    /// ([`ProducerConfig::transactional_id`](crate::producer::ProducerConfig::transactional_id)).
    pub fn transactions(&mut self) -> crate::producer::Transactions<'_> {
        crate::producer::Transactions { client: self }
    }

    /// The consumer: assignment, positions, fetched records.
    pub fn consumer(&mut self) -> Consumer<'_> {
        Consumer { client: self }
    }

    /// A snapshot of the client's statistics: per broker connection,
    /// per partition, the group member, and totals. It is computed from
    /// counters the client keeps anyway, so taking one costs a walk over
    /// connections and partitions and nothing on the paths it describes.
    ///
    /// ```
    /// # use std::time::Instant;
    /// let config = kafka_state::Config::bootstrap("localhost:9092")?;
    /// let client = kafka_state::Client::new(config, Instant::now())?;
    /// let stats = client.stats();
    /// assert_eq!(stats.client_id, client.client_id());
    /// assert_eq!(stats.totals.requests_sent, 0);
    /// # Ok::<(), kafka_state::Misuse>(())
    /// ```
    pub fn stats(&self) -> ClientStats {
        let mut brokers: BTreeMap<Broker, BrokerStats> = BTreeMap::new();
        for (b, retired) in &self.retired {
            let e = stats_slot(&mut brokers, *b);
            retired.fill(e);
            let backoff = self.backoff.get(b).and_then(|x| x.until);
            e.state = if backoff.is_some_and(|t| t > self.now) {
                ConnState::Backoff
            } else {
                ConnState::Down
            };
        }
        for c in self.conns.values() {
            let mut sum = self.retired.get(&c.broker).cloned().unwrap_or_default();
            sum.add(&c.counters);
            let e = stats_slot(&mut brokers, c.broker);
            sum.fill(e);
            e.state = c.stats_state();
            e.in_flight = c.in_flight() as u64;
            e.rtt = c.rtt.latency();
        }
        let mut totals = TotalStats::default();
        for b in brokers.values() {
            totals.requests_sent += b.requests_sent;
            totals.bytes_sent += b.bytes_sent;
            totals.responses_received += b.responses_received;
            totals.bytes_received += b.bytes_received;
            totals.connects += b.connects;
            totals.disconnects += b.disconnects;
            totals.in_flight += b.in_flight;
        }
        let mut partitions = BTreeMap::new();
        self.producer.stats_into(&mut partitions, &mut totals);
        self.consumer.stats_into(&mut partitions, &mut totals);
        let partitions = partitions
            .into_iter()
            .map(|(tp, mut p): (TopicPartition, PartitionStats)| {
                p.leader = self.metadata.cache.leader_for(&tp.topic, tp.partition);
                p.topic = tp.topic;
                p.partition = tp.partition;
                p
            })
            .collect();
        ClientStats {
            client_id: self.client_id.clone(),
            age_us: self.now.saturating_duration_since(self.started).as_micros() as u64,
            brokers: brokers.into_values().collect(),
            partitions,
            group: self.group.stats(),
            totals,
        }
    }

    /// The metadata cache.
    pub fn cluster(&self) -> &ClusterMetadata {
        &self.metadata.cache
    }

    /// Keeps `topic` in every metadata refresh, fetching it now if new.
    pub fn track_topic(&mut self, now: Instant, topic: &str) -> Result<(), Misuse> {
        self.check_usable()?;
        check_topic_name(topic)?;
        self.tick(now);
        self.metadata.track(topic);
        self.pump();
        Ok(())
    }

    /// Refreshes metadata as soon as the retry backoff allows.
    pub fn refresh_metadata(&mut self, now: Instant) -> Result<(), Misuse> {
        self.check_usable()?;
        self.tick(now);
        self.metadata.request_update();
        self.pump();
        Ok(())
    }

    /// The version of `api` negotiated with `broker`, while a ready
    /// connection to it exists.
    pub fn negotiated_version(&self, broker: Broker, api: ApiKey) -> Option<i16> {
        let conn = self.by_broker.get(&broker)?;
        self.conns.get(conn)?.version(api)
    }

    /// Gives the SASL OAUTHBEARER token, usually in answer to
    /// [`Event::OAuthTokenRequired`]. Connections waiting for it go on at
    /// once; new connections use it until `lifetime` has passed, then ask
    /// again. Connections already authenticated are not re-authenticated.
    pub fn set_oauth_token(
        &mut self,
        now: Instant,
        token: impl Into<String>,
        lifetime: Duration,
    ) -> Result<(), Misuse> {
        self.check_usable()?;
        if self.config.sasl.as_ref().map(|s| s.mechanism()) != Some(SaslMechanism::OAuthBearer) {
            return Err(Misuse::NotOAuthBearer);
        }
        self.tick(now);
        self.oauth.set(self.now, token.into(), lifetime)?;
        let mut s = settings(&self.config, &self.client_id);
        s.oauth_token = self.oauth.token(self.now);
        let mut failed = Vec::new();
        for (&conn, c) in self.conns.iter_mut().filter(|(_, c)| c.waits_for_token()) {
            let mut out = Vec::new();
            if let Err(reason) = c.handle_token(s, &mut out) {
                failed.push((conn, reason));
            }
            for o in out {
                if let ConnOutput::Transmit(bytes) = o {
                    self.transmits.push_back((Transmit { conn, bytes }, None));
                }
            }
        }
        for (conn, reason) in failed {
            self.drop_conn(conn, reason, true);
        }
        self.pump();
        Ok(())
    }

    /// The fatal error, once one happened.
    pub fn fatal_error(&self) -> Option<&FatalError> {
        self.fatal.as_ref()
    }

    /// Shuts down: asks to close every connection and fails every pending
    /// request with [`RequestError::Closed`]. Later commands return
    /// [`Misuse::Closed`].
    ///
    /// A group member first leaves as
    /// [`Consumer::unsubscribe`](crate::Consumer::unsubscribe) does: if the
    /// coordinator's connection is ready, the final commit and the
    /// LeaveGroup go out with the last transmits (written before the
    /// connections close, never answered). To know the final commit's
    /// outcome, unsubscribe and wait for its
    /// [`GroupEvent::Committed`](crate::group::GroupEvent::Committed)
    /// before closing.
    pub fn close(&mut self, now: Instant) {
        self.tick(now);
        if self.check_usable().is_ok() && self.group.is_subscribed() {
            // Closing waits for nobody: an open revoke window closes now.
            self.group.unsubscribe(false, &mut self.events);
            self.pump();
        }
        self.closed = true;
        self.shut_down();
    }

    // ---- internals ----------------------------------------------------

    /// Time is monotonic: a `now` from the past is clamped.
    pub(crate) fn tick(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    pub(crate) fn check_usable(&self) -> Result<(), Misuse> {
        if let Some(f) = &self.fatal {
            return Err(Misuse::Failed(f.clone()));
        }
        if self.closed {
            return Err(Misuse::Closed);
        }
        Ok(())
    }

    /// Runs after every input and command: lets sub-machines queue their
    /// requests, sends what can be sent, and re-arms the timers.
    pub(crate) fn pump(&mut self) {
        self.wakeup = true;
        if self.closed || self.fatal.is_some() {
            self.timers = TimerTable::default();
            return;
        }
        self.expire_queued();
        self.withdraw_stale();
        self.wanted.clear();
        self.wanted_coordinators.clear();
        // Rounds, so a machine can pipeline requests on a connection (each
        // dispatch fills connections, the next round sees what room is
        // left), and so a metadata refresh a dispatch asked for (an
        // unknown broker) goes at once: at least two.
        let rounds = self.config.max_in_flight.max(2);
        for round in 0..rounds {
            let cooperated = self.group_cooperate() | self.txn_cooperate();
            let queued = self.with_machines(None, |m, ctx| m.poll_requests(ctx));
            if self.closed || self.fatal.is_some() {
                return;
            }
            let nodes = self.wanted.iter().copied().map(Broker::Node);
            let dedicated = self.wanted_coordinators.iter().copied();
            let wanted: Vec<Broker> = nodes.chain(dedicated).collect();
            for broker in wanted {
                // Opens a connection if none exists and backoff allows.
                let _ = self.route_to(broker);
            }
            self.dispatch();
            if !queued && !cooperated && round > 0 {
                break;
            }
        }
        // What the last round's answers decided about the consumer is done
        // before the application next takes records (and the producer
        // knows what the transaction manager decided).
        self.group_cooperate();
        self.txn_cooperate();
        self.timers
            .set_opt(ClientTimer::QueueExpiry, self.requests.next_expiry());
        // A broker's backoff ends: queued requests or a machine wait for it.
        let reconnect = self
            .backoff
            .iter()
            .filter(|(b, _)| {
                !self.requests.queue.is_empty()
                    || match b {
                        Broker::Node(n) => self.wanted.contains(n),
                        Broker::Coordinator(_) | Broker::Producer(_) => {
                            self.wanted_coordinators.contains(b)
                        }
                        Broker::Bootstrap(_) => false,
                    }
            })
            .filter_map(|(_, b)| b.until)
            .filter(|t| *t > self.now)
            .min();
        self.timers.set_opt(ClientTimer::Reconnect, reconnect);
        self.next_timeout = self.poll_timeout();
    }

    /// The group member's step with the consumer (see
    /// `GroupMember::cooperate`); whether it changed anything.
    pub(crate) fn group_cooperate(&mut self) -> bool {
        self.group.cooperate(Cooperate {
            now: self.now,
            api_timeout: self.config.api_timeout,
            consumer: &mut self.consumer,
            metadata: &mut self.metadata,
            requests: &mut self.requests,
            events: &mut self.events,
        })
    }

    /// The transaction manager's step with the producer (see
    /// `TxnManager::cooperate`); whether it changed anything.
    pub(crate) fn txn_cooperate(&mut self) -> bool {
        let (Some(txn), Some(_)) = (self.txn.as_mut(), self.producer.txn.as_ref()) else {
            return false;
        };
        let pending = self.producer.pending_records();
        // A walk over every partition: only an abort reads it.
        let in_flight = match txn.state() {
            crate::producer::TxnState::Aborting => self.producer.in_flight_batches(),
            _ => 0,
        };
        let Some(link) = self.producer.txn.as_mut() else {
            return false;
        };
        txn.cooperate(link, pending, in_flight, &mut self.events)
    }

    /// Calls `f` on the machine in `slot` (or on every machine, in order)
    /// with a context; routes each request a call queued back to the
    /// machine that queued it, then acts on what the machines reported.
    /// Returns whether any request was queued.
    fn with_machines(
        &mut self,
        slot: Option<usize>,
        mut f: impl FnMut(&mut dyn SubMachine, &mut Ctx<'_>),
    ) -> bool {
        let max = self.config.max_in_flight;
        let (by_broker, conns) = (&self.by_broker, &self.conns);
        let ready_to = |broker: Broker| {
            by_broker
                .get(&broker)
                .and_then(|c| conns.get(c))
                .is_some_and(|c| c.can_send(max))
        };
        let ready = |node: i32| ready_to(Broker::Node(node));
        let coordinator_ready = |broker: Broker| ready_to(broker);
        let mut ctx = Ctx::new(
            self.now,
            self.config.api_timeout,
            &mut self.metadata,
            &mut self.requests,
            &mut self.events,
            &ready,
            &mut self.wanted,
        )
        .with_coordinators(&coordinator_ready, &mut self.wanted_coordinators);
        let mut queued = false;
        for (i, m) in registered!(self, &mut).into_iter().enumerate() {
            if slot.is_some_and(|s| s != i) {
                continue;
            }
            let before = ctx.requests.queue.len();
            f(m, &mut ctx);
            for r in ctx.requests.queue.iter().skip(before) {
                self.routes.insert(r.id, i);
                queued = true;
            }
        }
        let (changed, fatal) = ctx.finish();
        if changed {
            self.events.push_back(Event::MetadataUpdated);
            self.adopt_bootstrap_conns();
        }
        if let Some(fatal) = fatal {
            self.fail(fatal);
        }
        queued
    }

    /// [`Producer::send`] after its checks: places the record.
    /// Pumps only when placing the record changed what there is to do.
    pub(crate) fn producer_send(
        &mut self,
        record: crate::producer::ProducerRecord,
    ) -> Result<crate::producer::DeliveryId, crate::producer::SendError> {
        let (id, by) =
            self.producer
                .send(self.now, record, &mut self.metadata, &mut self.events)?;
        let now = self.now;
        // A deadline passed since the last pump (a send later than the
        // linger): do what is due now rather than wait for the driver.
        let due = self.next_timeout.is_some_and(|t| t <= now);
        let pump = match by {
            PumpBy::Never => false,
            PumpBy::Now => true,
            // A pump already due by then sees the new batch (and re-arms
            // for it); the driver sleeps until that one.
            PumpBy::Linger(at) => at <= now || self.next_timeout.is_none_or(|t| t > at),
        };
        if pump || due {
            self.pump();
        }
        Ok(id)
    }

    /// [`Producer::flush`] after its checks.
    pub(crate) fn producer_flush(&mut self) {
        self.producer.flush(&mut self.events);
    }

    fn expire_queued(&mut self) {
        let now = self.now;
        let (expired, kept): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.requests.queue)
            .into_iter()
            .partition(|r| r.expires <= now);
        self.requests.queue = kept;
        for r in expired {
            debug!(target: LOG, id = %r.id, "request expired in the queue");
            self.deliver(Inbound {
                id: r.id,
                result: Err(RequestError::Timeout),
            });
        }
    }

    /// Drops queued requests their machines no longer want sent (a fetch
    /// for a broker that stopped leading its partitions), so a dead broker
    /// does not hold them until they expire.
    fn withdraw_stale(&mut self) {
        let queue = std::mem::take(&mut self.requests.queue);
        let mut machines = registered!(self, &mut);
        for r in queue {
            let stale = self
                .routes
                .get(&r.id)
                .and_then(|slot| machines.get_mut(*slot))
                .is_some_and(|m| m.withdraw(r.id, &self.metadata));
            if stale {
                debug!(target: LOG, id = %r.id, "withdrawing a queued request: leadership moved");
                self.routes.remove(&r.id);
            } else {
                self.requests.queue.push_back(r);
            }
        }
    }

    /// Sends every queued request that has a usable connection, oldest
    /// first; the rest wait (a connection is opened for them if needed).
    fn dispatch(&mut self) {
        let queue = std::mem::take(&mut self.requests.queue);
        let mut waiting = VecDeque::new();
        for req in queue {
            let route = match &req.target {
                Target::Any => self.route_any(),
                Target::Node(id) => self.route_to(Broker::Node(*id)),
                Target::Coordinator(id) => self.route_to(Broker::Coordinator(*id)),
                Target::Producer(id) => self.route_to(Broker::Producer(*id)),
            };
            match route {
                Route::Wait => waiting.push_back(req),
                Route::Send(conn) => self.send_on(conn, req),
            }
        }
        // Requests queued while dispatching (none today) go after the waiting ones.
        waiting.append(&mut self.requests.queue);
        self.requests.queue = waiting;
        // Longer timeouts of requests sent, expired or withdrawn are done.
        if !self.requests.patient.is_empty() {
            let queued: BTreeSet<RequestId> = self.requests.queue.iter().map(|r| r.id).collect();
            self.requests.patient.retain(|id, _| queued.contains(id));
        }
    }

    fn send_on(&mut self, conn: ConnId, req: Outbound) {
        let mut s = settings(&self.config, &self.client_id);
        if let Some(patience) = self.requests.patient.remove(&req.id) {
            s.request_timeout = s.request_timeout.max(patience);
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let (id, broker) = (req.id, c.broker);
        let answered = expects_response(&req.body);
        match c.send(self.now, req, s) {
            Ok(wire) => {
                // acks=0: the broker stays silent; the request is done once
                // the adapter takes its bytes. Not before: an adapter that
                // stops taking bytes while a socket is backed up then holds
                // the records in the producer's bounded buffer.
                let done = (!answered).then(|| Inbound {
                    id,
                    result: Ok(ResponseBody::Produce(ProduceResponse::default())),
                });
                match wire {
                    Wire::One(bytes) => self.transmits.push_back((Transmit { conn, bytes }, done)),
                    Wire::Pieces(pieces) => {
                        // A request is done once its last piece is taken.
                        let last = pieces.len().saturating_sub(1);
                        let mut done = done;
                        for (i, bytes) in pieces.into_iter().enumerate() {
                            let done = if i == last { done.take() } else { None };
                            self.transmits.push_back((Transmit { conn, bytes }, done));
                        }
                    }
                }
            }
            Err(e) => {
                let error = RequestError::from(e);
                warn!(target: LOG, %id, %broker, %error, "cannot send request");
                self.deliver(Inbound {
                    id,
                    result: Err(error),
                });
            }
        }
    }

    /// A connection to `broker`: ready with room (send), or being set up,
    /// full, in backoff or unknown (wait; open it if allowed).
    fn route_to(&mut self, broker: Broker) -> Route {
        if let Some(&conn) = self.by_broker.get(&broker) {
            return match self.conns.get(&conn) {
                Some(c) if c.can_send(self.config.max_in_flight) => Route::Send(conn),
                _ => Route::Wait,
            };
        }
        if self.addr_of(broker).is_none() {
            // A node metadata does not list (yet).
            self.metadata.request_update();
        } else if self.may_connect(broker) {
            self.open(broker);
        }
        Route::Wait
    }

    /// The least loaded ready connection, one without a fetch the broker
    /// may be holding first; else wait for one being set up; else open
    /// one to a broker out of backoff, falling back to the bootstrap list
    /// when every known broker is failing (rebootstrap).
    fn route_any(&mut self) -> Route {
        let max = self.config.max_in_flight;
        // Coordinator connections carry group requests only: a JoinGroup
        // held there would hold anything queued behind it.
        let general =
            |c: &&Connection| !matches!(c.broker, Broker::Coordinator(_) | Broker::Producer(_));
        // The producer's connections hold no request at the broker (a
        // Produce waits at most for its replicas), so one may take a
        // metadata request when every general connection is behind a held
        // fetch.
        let usable = |c: &&Connection| general(c) || matches!(c.broker, Broker::Producer(_));
        if let Some(c) = self
            .conns
            .values()
            .filter(usable)
            .filter(|c| c.can_send(max))
            .filter(|c| general(c) || !c.holds_fetch())
            .min_by_key(|c| (c.holds_fetch(), !general(c), c.in_flight(), c.id))
        {
            return Route::Send(c.id);
        }
        if self.conns.values().any(|c| general(&c)) {
            return Route::Wait;
        }
        let nodes: Vec<Broker> = self
            .metadata
            .cache
            .brokers()
            .map(|(id, _)| Broker::Node(id))
            .collect();
        let all_failing = nodes.iter().all(|b| self.failures(*b) > 0);
        let pool: Vec<Broker> = if all_failing {
            if !nodes.is_empty() {
                info!(target: LOG, "every known broker is failing, rebootstrapping");
            }
            (0..self.config.bootstrap.len())
                .map(Broker::Bootstrap)
                .collect()
        } else {
            nodes
        };
        let eligible: Vec<Broker> = pool.into_iter().filter(|b| self.may_connect(*b)).collect();
        let fewest = eligible.iter().map(|b| self.failures(*b)).min();
        let best: Vec<Broker> = eligible
            .into_iter()
            .filter(|b| Some(self.failures(*b)) == fewest)
            .collect();
        if let Some(&broker) = best.get(self.rng.below(best.len())) {
            self.open(broker);
        }
        Route::Wait
    }

    fn failures(&self, broker: Broker) -> u32 {
        self.backoff.get(&broker).map_or(0, |b| b.failures)
    }

    fn may_connect(&self, broker: Broker) -> bool {
        self.backoff
            .get(&broker)
            .and_then(|b| b.until)
            .is_none_or(|t| t <= self.now)
    }

    fn addr_of(&self, broker: Broker) -> Option<BrokerAddr> {
        match broker {
            Broker::Bootstrap(i) => self.config.bootstrap.get(i).cloned(),
            Broker::Node(id) | Broker::Coordinator(id) | Broker::Producer(id) => {
                self.metadata.cache.broker(id).cloned()
            }
        }
    }

    fn open(&mut self, broker: Broker) {
        let Some(addr) = self.addr_of(broker) else {
            return;
        };
        self.next_conn += 1;
        let conn = ConnId(self.next_conn);
        debug!(target: LOG, %conn, %broker, %addr, "opening connection");
        self.conns.insert(
            conn,
            Connection::new(conn, broker, self.now, self.config.connection_setup_timeout),
        );
        self.by_broker.insert(broker, conn);
        self.conn_requests.push_back(ConnRequest::Open {
            conn,
            host: addr.host,
            port: addr.port,
        });
    }

    /// Forgets a connection: backoff for its broker, an event, and its
    /// outstanding requests fail back to their machines.
    fn drop_conn(&mut self, conn: ConnId, reason: DisconnectReason, tell_adapter: bool) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        let broker = c.broker;
        if self.by_broker.get(&broker) == Some(&conn) {
            self.by_broker.remove(&broker);
        }
        self.retire(&c);
        let failures = self.failures(broker).saturating_add(1);
        let delay = self.backoff_delay(failures);
        self.backoff.insert(
            broker,
            Backoff {
                failures,
                until: Some(self.now + delay),
            },
        );
        warn!(target: LOG, %conn, %broker, %reason, failures, ?delay, "connection lost");
        if tell_adapter {
            self.conn_requests.push_back(ConnRequest::Close { conn });
        }
        self.events.push_back(Event::ConnectionLost {
            broker,
            reason: reason.clone(),
        });
        for id in c.close() {
            self.deliver(Inbound {
                id,
                result: Err(RequestError::Disconnected {
                    broker,
                    reason: reason.clone(),
                }),
            });
        }
        // Every connection presents the same credentials and checks
        // certificates against the same roots: another broker would refuse
        // the login or fail the handshake the same way.
        if matches!(
            reason,
            DisconnectReason::Authentication(_) | DisconnectReason::Tls(_)
        ) {
            self.fail_queued(broker, &reason);
        }
    }

    /// Fails every request still waiting in the queue with `reason`.
    /// Used when authentication or the TLS handshake fails: another broker
    /// would fail the same way, and waiting for one (until `api_timeout`)
    /// would only hide the cause. Owners
    /// that retry (metadata, the producer) queue again after their
    /// backoff; one-shot calls (admin, the first metadata of a client)
    /// fail at once with the authentication error.
    fn fail_queued(&mut self, broker: Broker, reason: &DisconnectReason) {
        let queued = std::mem::take(&mut self.requests.queue);
        for r in queued {
            debug!(target: LOG, id = %r.id, %broker, "failing a queued request: authentication failed");
            self.deliver(Inbound {
                id: r.id,
                result: Err(RequestError::Disconnected {
                    broker,
                    reason: reason.clone(),
                }),
            });
        }
    }

    /// `reconnect_backoff · 2^(failures-1)`, capped at
    /// `reconnect_backoff_max`, then jittered.
    fn backoff_delay(&mut self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(31);
        let base = self
            .config
            .reconnect_backoff
            .saturating_mul(1u32 << exp)
            .min(self.config.reconnect_backoff_max);
        self.rng.jitter(base, BACKOFF_JITTER)
    }

    /// Routes a response or failure to the sub-machine that asked.
    fn deliver(&mut self, inbound: Inbound) {
        let Some(slot) = self.routes.remove(&inbound.id) else {
            debug!(target: LOG, id = %inbound.id, "no machine waits for this answer");
            return;
        };
        let mut inbound = Some(inbound);
        self.with_machines(Some(slot), |m, ctx| {
            if let Some(inbound) = inbound.take() {
                m.handle_response(ctx, inbound);
            }
        });
    }

    /// A bootstrap connection whose address metadata lists under a node id
    /// becomes that node's connection, keeping its negotiated versions.
    fn adopt_bootstrap_conns(&mut self) {
        let bootstrap: Vec<(usize, ConnId)> = self
            .by_broker
            .iter()
            .filter_map(|(b, c)| match b {
                Broker::Bootstrap(i) => Some((*i, *c)),
                Broker::Node(_) | Broker::Coordinator(_) | Broker::Producer(_) => None,
            })
            .collect();
        for (i, conn) in bootstrap {
            let Some(addr) = self.config.bootstrap.get(i) else {
                continue;
            };
            let node = self
                .metadata
                .cache
                .brokers()
                .find(|(id, a)| *a == addr && !self.by_broker.contains_key(&Broker::Node(*id)))
                .map(|(id, _)| id);
            if let (Some(node), Some(c)) = (node, self.conns.get_mut(&conn)) {
                debug!(target: LOG, %conn, node, "bootstrap connection is broker {node}");
                c.set_broker(Broker::Node(node));
                self.by_broker.remove(&Broker::Bootstrap(i));
                self.by_broker.insert(Broker::Node(node), conn);
                self.backoff.remove(&Broker::Bootstrap(i));
            }
        }
    }

    /// Puts a TLS session under a connection whose socket just opened.
    #[cfg(feature = "tls")]
    fn start_tls(&mut self, conn: ConnId) -> Result<(), DisconnectReason> {
        let (Some(rustls_config), Some(tls)) = (&self.tls, &self.config.tls) else {
            return Ok(());
        };
        let Some(broker) = self
            .conns
            .get(&conn)
            .filter(|c| c.is_connecting())
            .map(|c| c.broker)
        else {
            return Ok(());
        };
        let host = self.addr_of(broker).map(|a| a.host).unwrap_or_default();
        let name = tls.server_name(&host)?;
        debug!(target: LOG, %conn, %broker, server_name = ?name, "starting TLS");
        let layer = crate::tls::TlsLayer::new(rustls_config.clone(), name)?;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.set_tls(layer);
        }
        Ok(())
    }

    /// A connection waits for an OAuth token: asks the application, once
    /// per connection setup timeout while unanswered.
    fn request_oauth_token(&mut self) {
        if self
            .oauth
            .should_request(self.now, self.config.connection_setup_timeout)
        {
            info!(target: LOG, "SASL OAUTHBEARER needs a token");
            self.events.push_back(Event::OAuthTokenRequired);
        }
    }

    /// Records a fatal error (sticky) and shuts down.
    fn fail(&mut self, fatal: FatalError) {
        if self.fatal.is_some() {
            return;
        }
        warn!(target: LOG, error = %fatal, "fatal error");
        self.fatal = Some(fatal.clone());
        self.events.push_back(Event::Fatal(fatal));
        self.shut_down();
    }

    /// Keeps the counts of a connection that goes, for statistics.
    fn retire(&mut self, c: &Connection) {
        let retired = self.retired.entry(c.broker).or_default();
        retired.add(&c.counters);
        retired.disconnects += 1;
    }

    fn shut_down(&mut self) {
        let conns = std::mem::take(&mut self.conns);
        self.by_broker.clear();
        let mut failed: Vec<RequestId> = Vec::new();
        for (id, c) in conns {
            self.conn_requests
                .push_back(ConnRequest::Close { conn: id });
            self.retire(&c);
            failed.extend(c.close());
        }
        failed.extend(
            std::mem::take(&mut self.requests.queue)
                .into_iter()
                .map(|r| r.id),
        );
        for id in failed {
            self.deliver(Inbound {
                id,
                result: Err(RequestError::Closed),
            });
        }
        self.with_machines(None, |m, ctx| m.shut_down(ctx));
        self.routes.clear();
        self.timers = TimerTable::default();
    }
}
