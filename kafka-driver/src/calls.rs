//! Application calls waiting for the core's events.
//!
//! An adapter turns each user call into a command on the
//! [`Client`] plus a [`Reply`] (a closure that wakes the caller: a oneshot
//! sender under tokio, a channel under threads). [`Calls`] holds the
//! replies and answers them as [`Client::poll_event`] yields the matching
//! events, so every adapter matches events to calls the same way.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tracing::debug;

use kafka_state::admin::AdminOutcome;
use kafka_state::consumer::{ConsumerEvent, ListedOffset, LookupError, OffsetSpec};
use kafka_state::group::{GroupEvent, GroupMetadata, OffsetAndMetadata};
use kafka_state::producer::{Delivered, DeliveryId, DeliveryReport, SendError, TxnEvent, TxnOp};
use kafka_state::{
    Client, ClientStats, Event, FetchedRecords, Misuse, ProducerRecord, RequestId, TopicPartition,
};

use crate::batch::Runs;
use crate::{BatchSlot, Error, PartOffer};

const LOG: &str = "kafka_driver::calls";

/// Wakes a waiting caller with its result.
pub type Reply<T> = Box<dyn FnOnce(Result<T, Error>) + Send>;

/// Per partition, a listed offset or why there is none.
pub type Offsets = BTreeMap<TopicPartition, Result<ListedOffset, LookupError>>;

/// What a successful commit committed, per partition.
pub type Committed = BTreeMap<TopicPartition, OffsetAndMetadata>;

/// A change of the consumer's assignment, as a consumer handle reports it
/// to the application's rebalance listener.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rebalance {
    /// Partitions joined the assignment; each starts at its committed
    /// offset (or per `auto_offset_reset`).
    Assigned(Vec<TopicPartition>),
    /// The group member is about to hand these partitions over and waits
    /// for the application first (`GroupConfig::await_revoke`): commit
    /// what was processed of them, then say so (each adapter's
    /// `revoke_done`, or its revoke hook returning). No record of them is
    /// yielded any more; [`Rebalance::Revoked`] follows.
    Revoking(Vec<TopicPartition>),
    /// Partitions were handed over in an orderly way. With auto-commit,
    /// what was consumed of them was committed first.
    Revoked(Vec<TopicPartition>),
    /// Partitions were taken away without a hand-over (session expired,
    /// fenced, max poll interval missed): another member may own them
    /// already, and nothing of them was or may be committed.
    Lost(Vec<TopicPartition>),
}

/// A transactional producer's call, as [`Calls::transaction`] starts it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TxnCall {
    /// Get the producer id, fencing earlier instances.
    Init,
    /// Open a transaction (answered at once).
    Begin,
    /// Commit a consumer group's offsets with the open transaction.
    SendOffsets(Committed, GroupMetadata),
    /// Commit the open transaction.
    Commit,
    /// Abort the open transaction.
    Abort,
}

/// Replies of transaction calls waiting for their event, one slot per
/// kind of call (offsets in call order).
#[derive(Default)]
struct TxnReplies {
    init: Option<Reply<()>>,
    offsets: VecDeque<Reply<()>>,
    commit: Option<Reply<()>>,
    abort: Option<Reply<()>>,
}

impl TxnReplies {
    fn take(&mut self, op: TxnOp) -> Option<Reply<()>> {
        match op {
            TxnOp::Init => self.init.take(),
            TxnOp::SendOffsets => self.offsets.pop_front(),
            TxnOp::Commit => self.commit.take(),
            TxnOp::Abort => self.abort.take(),
            _ => None,
        }
    }

    fn len(&self) -> usize {
        self.offsets.len()
            + [&self.init, &self.commit, &self.abort]
                .iter()
                .filter(|r| r.is_some())
                .count()
    }

    fn drain(&mut self) -> impl Iterator<Item = Reply<()>> {
        let singles = [self.init.take(), self.commit.take(), self.abort.take()];
        let offsets = std::mem::take(&mut self.offsets);
        singles.into_iter().flatten().chain(offsets)
    }
}

/// Assignment changes kept for a consumer handle at most; a handle that
/// never yields (so its listener never runs) cannot grow the queue
/// without bound. The oldest are dropped.
const MAX_REBALANCES: usize = 1024;

/// Consumer problems kept for the application at most; older ones are
/// dropped (each is also logged) so an unread error queue cannot grow
/// without bound.
const MAX_CONSUMER_ERRORS: usize = 1024;

/// Partitions the core took away (revoked or lost), for the consumer
/// handle: it must stop yielding their records at once, without waiting
/// for its next pull. The counter is read per record (one atomic load);
/// the list is taken under the core's lock.
#[derive(Debug, Default)]
pub struct Gone {
    pub(crate) seq: Arc<AtomicU64>,
    partitions: Vec<TopicPartition>,
    /// Partitions announced as revoking: records of them not yielded yet
    /// are dropped, those yielded still count as consumed.
    revoking: Vec<TopicPartition>,
    /// Every assignment change since the handle last looked, in order.
    changes: VecDeque<Rebalance>,
    tracking: bool,
}

impl Gone {
    /// Records `partitions` as gone, if a consumer handle listens.
    pub fn push(&mut self, partitions: &[TopicPartition]) {
        if self.tracking && !partitions.is_empty() {
            self.partitions.extend_from_slice(partitions);
            self.seq.fetch_add(1, Ordering::Release);
        }
    }

    /// Records an assignment change for the handle's listener; a
    /// revoke or loss also through [`Gone::push`].
    pub fn change(&mut self, change: Rebalance) {
        if !self.tracking {
            return;
        }
        match &change {
            Rebalance::Assigned(_) => {
                self.seq.fetch_add(1, Ordering::Release);
            }
            Rebalance::Revoking(tps) => {
                self.revoking.extend_from_slice(tps);
                self.seq.fetch_add(1, Ordering::Release);
            }
            Rebalance::Revoked(tps) | Rebalance::Lost(tps) => self.push(tps),
        }
        if self.changes.len() >= MAX_REBALANCES {
            self.changes.pop_front();
        }
        self.changes.push_back(change);
    }

    /// Starts or stops listening (a consumer handle came or went).
    pub fn track(&mut self, on: bool) {
        self.tracking = on;
        self.partitions.clear();
        self.revoking.clear();
        self.changes.clear();
    }

    /// What changed since the last look: the partitions gone, those
    /// announced as revoking, and every change in order.
    pub(crate) fn take(&mut self) -> Taken {
        Taken {
            gone: std::mem::take(&mut self.partitions),
            revoking: std::mem::take(&mut self.revoking),
            changes: std::mem::take(&mut self.changes),
        }
    }
}

/// What [`Gone::take`] hands a consumer handle.
pub(crate) struct Taken {
    pub(crate) gone: Vec<TopicPartition>,
    pub(crate) revoking: Vec<TopicPartition>,
    pub(crate) changes: VecDeque<Rebalance>,
}

/// Where a record's delivery report goes. Any
/// `FnOnce(Result<DeliveryReport, Error>) + Send` is one (so a boxed
/// [`Reply`]); an adapter can name its own type instead, which saves an
/// allocation and an indirect call per record.
pub trait Deliver: Send + 'static {
    /// Hands over the report (or why there is none).
    fn deliver(self, result: Result<DeliveryReport, Error>);
}

impl<F> Deliver for F
where
    F: FnOnce(Result<DeliveryReport, Error>) + Send + 'static,
{
    fn deliver(self, result: Result<DeliveryReport, Error>) {
        self(result)
    }
}

/// What became of a record given to [`Calls::offer`].
pub enum Offer<D = Reply<DeliveryReport>> {
    /// Buffered; the reply answers with its delivery report.
    Accepted,
    /// No room yet: the record and its reply, to offer again once the
    /// producer reports room.
    Full(Box<ProducerRecord>, D),
    /// Never sendable (invalid record, closed client); the reply comes
    /// back unanswered, for the caller to answer or drop.
    Refused(Error, D),
}

impl<D> std::fmt::Debug for Offer<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Offer::Accepted => f.write_str("Accepted"),
            Offer::Full(..) => f.write_str("Full"),
            Offer::Refused(e, _) => f.debug_tuple("Refused").field(e).finish(),
        }
    }
}

/// Delivery replies by id. The core numbers accepted records 1, 2, 3...
/// and reports them roughly in that order, so a queue indexed from the
/// oldest unanswered id replaces a hash map: insert and remove are O(1)
/// without hashing, and the entries sit together in memory. An answered
/// slot stays `None` until every older one is answered too.
struct Deliveries<D> {
    /// The id of `slots[0]`.
    base: u64,
    slots: VecDeque<Option<D>>,
    live: usize,
}

impl<D> Default for Deliveries<D> {
    fn default() -> Self {
        Self {
            base: 0,
            slots: VecDeque::new(),
            live: 0,
        }
    }
}

impl<D> Deliveries<D> {
    fn insert(&mut self, id: DeliveryId, reply: D) {
        if self.slots.is_empty() {
            self.base = id.0;
        }
        // Ids only grow, so an id below the oldest unanswered one was
        // never handed out by this core.
        debug_assert!(id.0 >= self.base, "delivery id {id} below {}", self.base);
        let Some(at) = id.0.checked_sub(self.base) else {
            return;
        };
        let Ok(at) = usize::try_from(at) else { return };
        if at >= self.slots.len() {
            self.slots.resize_with(at + 1, || None);
        }
        if self.slots[at].replace(reply).is_none() {
            self.live += 1;
        }
    }

    fn remove(&mut self, id: DeliveryId) -> Option<D> {
        let at = usize::try_from(id.0.checked_sub(self.base)?).ok()?;
        let reply = self.slots.get_mut(at)?.take()?;
        self.live -= 1;
        while matches!(self.slots.front(), Some(None)) {
            self.slots.pop_front();
            self.base += 1;
        }
        Some(reply)
    }

    fn len(&self) -> usize {
        self.live
    }

    fn drain(&mut self) -> impl Iterator<Item = D> + '_ {
        self.live = 0;
        self.slots.drain(..).flatten()
    }
}

/// Calls waiting for the core, keyed by the ids the core returned.
/// Delivery reports go to `D` ([`Deliver`]), by default a boxed closure.
pub struct Calls<D = Reply<DeliveryReport>> {
    admin: HashMap<RequestId, Reply<AdminOutcome>>,
    offsets: HashMap<RequestId, Reply<Offsets>>,
    commits: HashMap<RequestId, Reply<Committed>>,
    consumer_errors: VecDeque<Error>,
    /// A consumer waiting for records, and how many batches it takes.
    pull: Option<(usize, Reply<Vec<FetchedRecords>>)>,
    deliveries: Deliveries<D>,
    /// Places in batch slots of records offered with `offer_part`.
    runs: Runs,
    flushes: Vec<Reply<()>>,
    txn: TxnReplies,
    /// Partitions taken away, for the consumer handle.
    pub(crate) gone: Gone,
    /// Where periodic statistics go.
    stats: Vec<StatsSink>,
}

/// Takes each periodic statistics snapshot
/// ([`Config::stats_interval`](kafka_state::Config::stats_interval));
/// runs under the core's lock, so it only hands the snapshot on (a
/// channel send that does not block). Returns false once nobody listens
/// any more, and is then dropped.
pub type StatsSink = Box<dyn FnMut(&Arc<ClientStats>) -> bool + Send>;

impl<D> Default for Calls<D> {
    fn default() -> Self {
        Self {
            admin: HashMap::new(),
            offsets: HashMap::new(),
            commits: HashMap::new(),
            consumer_errors: VecDeque::new(),
            pull: None,
            deliveries: Deliveries::default(),
            runs: Runs::default(),
            flushes: Vec::new(),
            txn: TxnReplies::default(),
            gone: Gone::default(),
            stats: Vec::new(),
        }
    }
}

impl<D> std::fmt::Debug for Calls<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Calls")
            .field("admin", &self.admin.len())
            .field("offsets", &self.offsets.len())
            .field("commits", &self.commits.len())
            .field("consumer_errors", &self.consumer_errors.len())
            .field("pull", &self.pull.is_some())
            .field("deliveries", &(self.deliveries.len() + self.runs.len()))
            .field("flushes", &self.flushes.len())
            .field("transaction", &self.txn.len())
            .finish()
    }
}

impl<D: Deliver> Calls<D> {
    /// Starts an admin command (`start` calls one of
    /// [`Client::admin`]'s methods) whose outcome answers `reply`.
    pub fn admin(
        &mut self,
        client: &mut Client,
        now: Instant,
        start: impl FnOnce(&mut Client, Instant) -> Result<RequestId, Misuse>,
        reply: Reply<AdminOutcome>,
    ) {
        match start(client, now) {
            Ok(id) => {
                self.admin.insert(id, reply);
            }
            Err(e) => reply(Err(e.into())),
        }
    }

    /// Looks up offsets; `reply` gets them per partition.
    pub fn offsets_for(
        &mut self,
        client: &mut Client,
        now: Instant,
        partitions: Vec<TopicPartition>,
        spec: OffsetSpec,
        reply: Reply<Offsets>,
    ) {
        match client.consumer().offsets_for(now, partitions, spec) {
            Ok(id) => {
                self.offsets.insert(id, reply);
            }
            Err(e) => reply(Err(e.into())),
        }
    }

    /// Commits `offsets` (every owned partition's consumed offset when
    /// `None`) to the consumer group; `reply` gets what was committed.
    pub fn commit(
        &mut self,
        client: &mut Client,
        now: Instant,
        offsets: Option<Committed>,
        reply: Reply<Committed>,
    ) {
        match client.consumer().commit(now, offsets) {
            Ok(id) => {
                self.commits.insert(id, reply);
            }
            Err(e) => reply(Err(e.into())),
        }
    }

    /// Asks for fetched records: `reply` gets up to `max` partitions'
    /// worth as soon as the core has any (at once if it has), or the
    /// oldest consumer problem not yet reported. Records are taken from
    /// the core only to answer a pull, so a seek made before the pull is
    /// always respected. A newer pull replaces a waiting one, which gets
    /// an empty answer.
    pub fn pull_records(
        &mut self,
        client: &mut Client,
        now: Instant,
        max: usize,
        reply: Reply<Vec<FetchedRecords>>,
    ) {
        if let Some((_, old)) = self.pull.take() {
            old(Ok(Vec::new()));
        }
        self.pull = Some((max.max(1), reply));
        self.serve_pull(client, now);
    }

    /// Answers a waiting pull with nothing. Adapters call it just before a
    /// seek or an assignment change, in the same turn of the driver: a
    /// pull answered earlier carries records from before the change (the
    /// adapter drops those of the partitions it changed), and one answered
    /// later must not be mistaken for such, so no pull spans the change.
    pub fn cancel_pull(&mut self) {
        if let Some((_, reply)) = self.pull.take() {
            reply(Ok(Vec::new()));
        }
    }

    /// Answers a waiting pull if records or a consumer problem are there;
    /// adapters call it after every round of events. Returns whether it
    /// answered.
    pub fn serve_pull(&mut self, client: &mut Client, now: Instant) -> bool {
        let Some((max, reply)) = self.pull.take() else {
            return false;
        };
        if let Some(error) = self.consumer_errors.pop_front() {
            reply(Err(error));
            return true;
        }
        let mut out = Vec::new();
        while out.len() < max {
            match client.consumer().poll_records(now) {
                Some(r) => out.push(r),
                None => break,
            }
        }
        if out.is_empty() {
            self.pull = Some((max, reply));
            false
        } else {
            reply(Ok(out));
            true
        }
    }

    fn consumer_error(&mut self, error: Error) {
        debug!(target: LOG, %error, "consumer problem for the application");
        if self.consumer_errors.len() >= MAX_CONSUMER_ERRORS {
            self.consumer_errors.pop_front();
        }
        self.consumer_errors.push_back(error);
    }

    /// Offers `record` to the producer. A full buffer hands the record and
    /// its reply back, for the adapter to offer again once the core
    /// reports [`Event::BufferAvailable`]; a refused record comes back as
    /// the error. The core reads no clock: the adapter fills in a missing
    /// timestamp first.
    pub fn offer(
        &mut self,
        client: &mut Client,
        now: Instant,
        record: ProducerRecord,
        delivered: D,
    ) -> Offer<D> {
        match client.producer().send(now, record) {
            Ok(id) => {
                self.deliveries.insert(id, delivered);
                Offer::Accepted
            }
            Err(SendError::BufferFull(record)) => Offer::Full(record, delivered),
            Err(e) => Offer::Refused(e.into(), delivered),
        }
    }

    /// Offers `record` to the producer with its place in a batch's
    /// slot: its report lands at `index` of `slot`. The records of one
    /// batch offered one after another cost the driver one entry between
    /// them, not one each.
    pub fn offer_part(
        &mut self,
        client: &mut Client,
        now: Instant,
        record: ProducerRecord,
        slot: &Arc<BatchSlot>,
        index: usize,
    ) -> PartOffer {
        match client.producer().send(now, record) {
            Ok(id) => {
                self.runs.insert(id, slot, index);
                PartOffer::Accepted
            }
            Err(SendError::BufferFull(record)) => PartOffer::Full(record),
            Err(e) => PartOffer::Refused(e.into()),
        }
    }

    /// Starts a flush; `reply` answers once every record sent so far
    /// has its delivery report.
    pub fn flush(&mut self, client: &mut Client, now: Instant, reply: Reply<()>) {
        match client.producer().flush(now) {
            Ok(()) => self.flushes.push(reply),
            Err(e) => reply(Err(e.into())),
        }
    }

    /// Starts a transaction call; `reply` answers when the core reports
    /// its outcome (at once for [`TxnCall::Begin`] and for a call the
    /// producer's state refuses).
    pub fn transaction(
        &mut self,
        client: &mut Client,
        now: Instant,
        call: TxnCall,
        reply: Reply<()>,
    ) {
        let mut txn = client.transactions();
        let (started, slot) = match call {
            TxnCall::Init => (txn.init(now), Some(TxnOp::Init)),
            TxnCall::Begin => (txn.begin(now), None),
            TxnCall::SendOffsets(offsets, group) => (
                txn.send_offsets(now, offsets, &group),
                Some(TxnOp::SendOffsets),
            ),
            TxnCall::Commit => (txn.commit(now), Some(TxnOp::Commit)),
            TxnCall::Abort => (txn.abort(now), Some(TxnOp::Abort)),
        };
        match (started, slot) {
            (Err(e), _) => reply(Err(e.into())),
            (Ok(()), None) => reply(Ok(())),
            (Ok(()), Some(TxnOp::SendOffsets)) => self.txn.offsets.push_back(reply),
            (Ok(()), Some(op)) => {
                let slot = match op {
                    TxnOp::Init => &mut self.txn.init,
                    TxnOp::Commit => &mut self.txn.commit,
                    _ => &mut self.txn.abort,
                };
                // The same call again while it runs (its caller gave up
                // waiting): the newest caller gets the outcome.
                if let Some(old) = slot.replace(reply) {
                    old(Err(Error::Timeout));
                }
            }
        }
    }

    /// Adds a receiver of periodic statistics.
    pub fn on_stats(&mut self, sink: StatsSink) {
        self.stats.push(sink);
    }

    /// Answers the calls an event concerns.
    ///
    /// Reports of records sent with a batch slot may be held until
    /// [`settle`](Self::settle): call it once the events at hand are
    /// handled, before letting go of the core.
    pub fn handle_event(&mut self, client: &mut Client, event: Event) {
        // Only written batches' reports wait for the end of the pass;
        // anything else (a failure, a flush done, closing) sees them put.
        if !matches!(event, Event::Delivered(_)) {
            self.runs.settle();
        }
        match event {
            Event::Stats(stats) => {
                let stats = Arc::new(*stats);
                self.stats.retain_mut(|sink| sink(&stats));
            }
            Event::AdminResult { id, result } => {
                if let Some(reply) = self.admin.remove(&id) {
                    reply(result.map_err(Error::from));
                }
            }
            Event::Delivered(batch) => self.delivered(&batch),
            Event::DeliveryFailed { id, error } => {
                if let Some((slot, index)) = self.runs.take(id, &mut 0) {
                    slot.put(index, Err(error.into()));
                    self.runs.settle();
                } else if let Some(reply) = self.deliveries.remove(id) {
                    reply.deliver(Err(error.into()));
                }
            }
            Event::FlushComplete => {
                if client.producer().is_idle() {
                    for reply in self.flushes.drain(..) {
                        reply(Ok(()));
                    }
                }
            }
            Event::Consumer(ConsumerEvent::OffsetsListed { id, offsets }) => {
                if let Some(reply) = self.offsets.remove(&id) {
                    reply(Ok(offsets));
                }
            }
            Event::Consumer(ConsumerEvent::PartitionFailed {
                partition,
                offset,
                error,
            }) => self.consumer_error(Error::Fetch {
                partition,
                offset,
                error,
            }),
            Event::Consumer(ConsumerEvent::NeedsPosition {
                partition,
                out_of_range,
            }) => self.consumer_error(Error::NoPosition {
                partition,
                out_of_range,
            }),
            Event::Consumer(ConsumerEvent::PartitionsAssigned { partitions }) => {
                self.assignment_changed(Rebalance::Assigned(partitions));
            }
            Event::Consumer(ConsumerEvent::PartitionsRevoking { partitions, .. }) => {
                self.assignment_changed(Rebalance::Revoking(partitions));
            }
            Event::Consumer(ConsumerEvent::PartitionsRevoked { partitions, .. }) => {
                self.assignment_changed(Rebalance::Revoked(partitions));
            }
            Event::Consumer(ConsumerEvent::PartitionsLost { partitions }) => {
                self.assignment_changed(Rebalance::Lost(partitions));
            }
            Event::Group(GroupEvent::Committed {
                id,
                offsets,
                refused,
                ..
            }) => {
                if let Some(reply) = self.commits.remove(&id) {
                    reply(commit_result(offsets, refused));
                }
            }
            Event::Group(GroupEvent::Failed(error)) => {
                self.consumer_error(Error::Group(error));
            }
            Event::Transaction(e) => self.transaction_event(e),
            Event::Fatal(fatal) => self.fail_all(&Error::Fatal(fatal)),
            other => debug!(target: LOG, event = ?other, "event"),
        }
    }

    /// Puts the reports held since the last call into their batch slots,
    /// one hold of each slot's lock (see [`handle_event`](Self::handle_event)).
    pub fn settle(&mut self) {
        self.runs.settle();
    }

    /// Replies to the records of a written batch, and holds the reports of
    /// those offered with a batch slot for [`settle`](Self::settle).
    fn delivered(&mut self, batch: &Delivered) {
        let mut hint = 0;
        let mut i = 0;
        while let Some(id) = batch.id(i) {
            // Records sent together and written together have consecutive
            // ids in consecutive places of one slot: one lookup serves as
            // many of them as the run holding the first one covers.
            let span = self.runs.span(id, &mut hint);
            if span == 0 {
                if let Some(reply) = self.deliveries.remove(id) {
                    if let Some((_, report)) = batch.report(i) {
                        reply.deliver(Ok(report));
                    }
                }
                i += 1;
                continue;
            }
            let mut n = 1;
            while n < span && batch.id(i + n as usize).map(|d| d.0) == id.0.checked_add(n) {
                n += 1;
            }
            let outcomes = (i..i + n as usize).filter_map(|k| batch.outcome(k));
            self.runs.hold_range(
                id,
                n,
                &mut hint,
                batch.topic(),
                batch.partition(),
                outcomes.map(|(_, offset, time)| (offset, time)),
            );
            i += n as usize;
        }
    }

    fn transaction_event(&mut self, event: TxnEvent) {
        let (op, result) = match event {
            TxnEvent::Initialized { .. } => (TxnOp::Init, Ok(())),
            TxnEvent::OffsetsSent { .. } => (TxnOp::SendOffsets, Ok(())),
            TxnEvent::Committed => (TxnOp::Commit, Ok(())),
            TxnEvent::Aborted => (TxnOp::Abort, Ok(())),
            TxnEvent::Failed {
                op: Some(op),
                error,
            } => (op, Err(Error::Transaction(error))),
            other => {
                debug!(target: LOG, event = ?other, "transaction event with no call waiting");
                return;
            }
        };
        if let Some(reply) = self.txn.take(op) {
            reply(result);
        }
    }

    /// Hands the change to the consumer handle and wakes a pull waiting
    /// for it with nothing: a consumer with no records coming (its new
    /// partitions are at their end) still runs its listener now, not at
    /// the next record.
    fn assignment_changed(&mut self, change: Rebalance) {
        self.gone.change(change);
        if self.gone.tracking {
            self.cancel_pull();
        }
    }

    /// Answers every waiting call with `error`.
    pub fn fail_all(&mut self, error: &Error) {
        for (_, reply) in self.admin.drain() {
            reply(Err(error.clone()));
        }
        for (_, reply) in self.offsets.drain() {
            reply(Err(error.clone()));
        }
        for (_, reply) in self.commits.drain() {
            reply(Err(error.clone()));
        }
        if let Some((_, reply)) = self.pull.take() {
            reply(Err(error.clone()));
        }
        for reply in self.deliveries.drain() {
            reply.deliver(Err(error.clone()));
        }
        self.runs.fail_all(|| error.clone());
        for reply in self.flushes.drain(..) {
            reply(Err(error.clone()));
        }
        for reply in self.txn.drain() {
            reply(Err(error.clone()));
        }
        // No snapshot follows: receivers see their stream end.
        self.stats.clear();
    }
}

/// A commit's per-partition outcome as one result: the committed
/// offsets, or every partition that failed.
fn commit_result(
    offsets: BTreeMap<TopicPartition, Result<OffsetAndMetadata, kafka_state::group::CommitError>>,
    refused: Option<kafka_state::group::CommitError>,
) -> Result<Committed, Error> {
    let mut done = Committed::new();
    let mut failed = BTreeMap::new();
    for (tp, outcome) in offsets {
        match outcome {
            Ok(o) => {
                done.insert(tp, o);
            }
            Err(e) => {
                failed.insert(tp, e);
            }
        }
    }
    match (refused, failed.is_empty()) {
        (None, true) => Ok(done),
        (refused, _) => Err(Error::Commit { refused, failed }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn recorder(log: &Arc<Mutex<Vec<(u64, bool)>>>, id: u64) -> Reply<DeliveryReport> {
        let log = Arc::clone(log);
        Box::new(move |r| log.lock().unwrap().push((id, r.is_ok())))
    }

    #[test]
    fn deliveries_answer_out_of_order_and_trim_once_the_oldest_is_answered() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut d = Deliveries::default();
        for id in 5..10 {
            d.insert(DeliveryId(id), recorder(&log, id));
        }
        assert_eq!(d.len(), 5);
        // Later ids first: the slots stay until id 5 is answered.
        for id in [7, 9, 6] {
            let reply = d.remove(DeliveryId(id)).expect("registered");
            reply(Err(Error::Closed));
        }
        assert!(d.remove(DeliveryId(7)).is_none(), "answered once only");
        assert_eq!((d.len(), d.slots.len(), d.base), (2, 5, 5));
        d.remove(DeliveryId(5)).expect("registered")(Err(Error::Closed));
        assert_eq!((d.len(), d.slots.len(), d.base), (1, 2, 8));
        assert!(d.remove(DeliveryId(4)).is_none());
        assert!(d.remove(DeliveryId(100)).is_none());
        // A gap (an id the core used for a refused record) is just empty.
        d.insert(DeliveryId(12), recorder(&log, 12));
        let left: Vec<_> = d.drain().collect();
        assert_eq!(left.len(), 2);
        assert_eq!(d.len(), 0);
        for reply in left {
            reply(Err(Error::Closed));
        }
        let mut seen: Vec<u64> = log.lock().unwrap().iter().map(|(id, _)| *id).collect();
        seen.sort_unstable();
        assert_eq!(seen, [5, 6, 7, 8, 9, 12]);
        // Empty again: the next id becomes the base.
        d.insert(DeliveryId(40), recorder(&log, 40));
        assert_eq!((d.base, d.slots.len()), (40, 1));
    }
}
