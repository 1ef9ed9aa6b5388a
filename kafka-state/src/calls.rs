//! Bookkeeping shared by the adapters: application calls waiting for the
//! core's events, and the error those calls end with.
//!
//! An adapter turns each user call into a command on the [`Client`] plus
//! a [`Reply`] (a closure that wakes the caller: a oneshot sender under
//! tokio, a channel under threads). [`Calls`] holds the replies and
//! answers them as [`Client::poll_event`] yields the matching events, so
//! every adapter matches events to calls the same way. Records the
//! producer's buffer has no room for wait here, in send order, and go in
//! as room frees up: back-pressure without losing or reordering records.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use kafka_proto::{DecodeError, ErrorCode};
use tracing::debug;

use crate::admin::{AdminOutcome, TopicOutcome};
use crate::consumer::{ConsumerEvent, FetchError, ListedOffset, LookupError, OffsetSpec};
use crate::error::{FatalError, Misuse, RequestError};
use crate::producer::{DeliveryId, DeliveryReport, InvalidRecord, ProduceError, SendError};
use crate::{Client, Event, FetchedRecords, ProducerRecord, RequestId, TopicPartition};

const LOG: &str = "kafka_state::calls";

/// Wakes a waiting caller with its result.
pub type Reply<T> = Box<dyn FnOnce(Result<T, CallError>) + Send>;

/// Per partition, a listed offset or why there is none.
pub type Offsets = BTreeMap<TopicPartition, Result<ListedOffset, LookupError>>;

/// Consumer problems kept for the application at most; older ones are
/// dropped (each is also logged) so an unread error queue cannot grow
/// without bound.
const MAX_CONSUMER_ERRORS: usize = 1024;

/// Why an application call failed: the error type the adapters expose.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The arguments or the configuration were wrong; nothing was sent.
    #[error(transparent)]
    Misuse(Misuse),
    /// No broker answered the request.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// A broker answered with an error code.
    #[error("{code}{}", message.as_deref().map(|m| format!(" [{m}]")).unwrap_or_default())]
    Kafka {
        /// The code; its name is `code.name()`.
        code: ErrorCode,
        /// The broker's explanation or the object concerned, if any.
        message: Option<String>,
    },
    /// A record was refused before it was sent.
    #[error("invalid record: {0}")]
    InvalidRecord(InvalidRecord),
    /// A record could not be written for a reason other than a broker
    /// error code (an unknown partition, an encoding failure).
    #[error(transparent)]
    Produce(ProduceError),
    /// Fetching a partition stopped at `offset`; it resumes after a seek.
    #[error("fetching {partition} stopped at offset {offset}: {error}")]
    Fetch {
        /// The partition.
        partition: TopicPartition,
        /// Where it stopped (-1 if it had no position).
        offset: i64,
        /// Why.
        error: FetchError,
    },
    /// A partition has no valid position and `auto_offset_reset` is
    /// `None`: seek it.
    #[error("{partition} has no position{}", out_of_range.map(|o| format!(" (offset {o} is out of range)")).unwrap_or_default())]
    NoPosition {
        /// The partition.
        partition: TopicPartition,
        /// The offset the broker rejected, if that is why.
        out_of_range: Option<i64>,
    },
    /// A record in fetched data could not be decoded.
    #[error("corrupt record data: {0}")]
    Corrupt(DecodeError),
    /// The client failed for good.
    #[error(transparent)]
    Fatal(#[from] FatalError),
    /// A socket or thread could not be set up.
    #[error("I/O: {0}")]
    Io(String),
    /// The call did not finish within its timeout.
    #[error("timed out")]
    Timeout,
    /// The client was closed.
    #[error("the client is closed")]
    Closed,
}

impl CallError {
    /// The Kafka error code, when a broker sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            CallError::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The first failed topic of a create or delete, as an error.
    pub fn check_topics(outcomes: &[TopicOutcome]) -> Result<(), CallError> {
        match outcomes.iter().find(|o| o.error.is_error()) {
            Some(o) => Err(CallError::Kafka {
                code: o.error,
                message: Some(match &o.message {
                    Some(m) => format!("{}: {m}", o.name),
                    None => o.name.clone(),
                }),
            }),
            None => Ok(()),
        }
    }
}

impl From<Misuse> for CallError {
    fn from(m: Misuse) -> Self {
        match m {
            // One name for "closed", whichever side noticed first.
            Misuse::Closed => CallError::Closed,
            Misuse::Failed(f) => CallError::Fatal(f),
            m => CallError::Misuse(m),
        }
    }
}

impl From<ProduceError> for CallError {
    fn from(e: ProduceError) -> Self {
        match e {
            ProduceError::Broker { code, message } => CallError::Kafka { code, message },
            ProduceError::Timeout => CallError::Timeout,
            ProduceError::Closed => CallError::Closed,
            e => CallError::Produce(e),
        }
    }
}

impl From<SendError> for CallError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Invalid { reason, .. } => CallError::InvalidRecord(reason),
            SendError::Unusable { error, .. } => error.into(),
            // Calls wait for room instead of failing; this is reached only
            // by adapters that chose not to wait.
            SendError::BufferFull(_) => CallError::Timeout,
        }
    }
}

/// Partitions whose position was reset while a pull
/// ([`Calls::pull_records`]) was on its way to the application: what that
/// pull brings for them predates the reset, and adapters drop it.
#[derive(Debug, Default)]
pub enum Stale {
    /// No reset.
    #[default]
    Nothing,
    /// Every partition (the assignment changed).
    All,
    /// These partitions.
    Some(HashSet<TopicPartition>),
}

impl Stale {
    /// Marks `tps`.
    pub fn add(&mut self, tps: &[TopicPartition]) {
        match self {
            Stale::All => {}
            Stale::Nothing => *self = Stale::Some(tps.iter().cloned().collect()),
            Stale::Some(set) => set.extend(tps.iter().cloned()),
        }
    }

    /// Whether records of `tp` are stale.
    pub fn contains(&self, tp: &TopicPartition) -> bool {
        match self {
            Stale::Nothing => false,
            Stale::All => true,
            Stale::Some(set) => set.contains(tp),
        }
    }
}

/// Where a record's delivery report goes. Any
/// `FnOnce(Result<DeliveryReport, CallError>) + Send` is one (so a boxed
/// [`Reply`]); an adapter can name its own type instead, which saves an
/// allocation and an indirect call per record.
pub trait Deliver: Send + 'static {
    /// Hands over the report (or why there is none).
    fn deliver(self, result: Result<DeliveryReport, CallError>);
}

impl<F> Deliver for F
where
    F: FnOnce(Result<DeliveryReport, CallError>) + Send + 'static,
{
    fn deliver(self, result: Result<DeliveryReport, CallError>) {
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
    /// Never sendable (invalid record, closed client).
    Refused(CallError),
}

impl<D> std::fmt::Debug for Offer<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Offer::Accepted => f.write_str("Accepted"),
            Offer::Full(..) => f.write_str("Full"),
            Offer::Refused(e) => f.debug_tuple("Refused").field(e).finish(),
        }
    }
}

/// A record waiting for room in the producer's buffer.
struct Blocked<D> {
    record: ProducerRecord,
    accepted: Option<Reply<()>>,
    delivered: D,
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
    consumer_errors: VecDeque<CallError>,
    /// A consumer waiting for records, and how many batches it takes.
    pull: Option<(usize, Reply<Vec<FetchedRecords>>)>,
    deliveries: Deliveries<D>,
    blocked: VecDeque<Blocked<D>>,
    flushes: Vec<Reply<()>>,
}

impl<D> Default for Calls<D> {
    fn default() -> Self {
        Self {
            admin: HashMap::new(),
            offsets: HashMap::new(),
            consumer_errors: VecDeque::new(),
            pull: None,
            deliveries: Deliveries::default(),
            blocked: VecDeque::new(),
            flushes: Vec::new(),
        }
    }
}

impl<D> std::fmt::Debug for Calls<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Calls")
            .field("admin", &self.admin.len())
            .field("offsets", &self.offsets.len())
            .field("consumer_errors", &self.consumer_errors.len())
            .field("pull", &self.pull.is_some())
            .field("deliveries", &self.deliveries.len())
            .field("blocked", &self.blocked.len())
            .field("flushes", &self.flushes.len())
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

    fn consumer_error(&mut self, error: CallError) {
        debug!(target: LOG, %error, "consumer problem for the application");
        if self.consumer_errors.len() >= MAX_CONSUMER_ERRORS {
            self.consumer_errors.pop_front();
        }
        self.consumer_errors.push_back(error);
    }

    /// Hands `record` to the producer: `accepted` answers once it is
    /// buffered (at once unless the buffer is full), `delivered` with its
    /// delivery report. Without `accepted`, a refusal (an invalid record,
    /// a closed client) goes to `delivered`: for adapters that bound what
    /// they buffer themselves and do not wait for acceptance. Records queue behind earlier blocked ones, so
    /// they keep their send order. The core reads no clock: the adapter
    /// fills in a missing timestamp first.
    pub fn send(
        &mut self,
        client: &mut Client,
        now: Instant,
        record: ProducerRecord,
        accepted: Option<Reply<()>>,
        delivered: D,
    ) {
        let blocked = Blocked {
            record,
            accepted,
            delivered,
        };
        if !self.blocked.is_empty() {
            self.blocked.push_back(blocked);
            return;
        }
        if let Some(b) = self.try_send(client, now, blocked) {
            self.blocked.push_back(b);
        }
    }

    /// [`Calls::send`] for an adapter that runs it in the sending
    /// thread (with the client behind a lock): a record refused outright
    /// (invalid, client closed) comes back as the error, and `delivered`
    /// is dropped without an answer. A record the full buffer cannot take
    /// yet waits in order, as with `send`.
    pub fn send_now(
        &mut self,
        client: &mut Client,
        now: Instant,
        record: ProducerRecord,
        delivered: D,
    ) -> Result<(), CallError> {
        if !self.blocked.is_empty() {
            // Checked now, while the caller can still be told.
            client
                .config()
                .producer
                .check_record(&record)
                .map_err(CallError::InvalidRecord)?;
            self.blocked.push_back(Blocked {
                record,
                accepted: None,
                delivered,
            });
            return Ok(());
        }
        match client.producer().send(now, record) {
            Ok(id) => {
                self.deliveries.insert(id, delivered);
                Ok(())
            }
            Err(SendError::BufferFull(record)) => {
                self.blocked.push_back(Blocked {
                    record: *record,
                    accepted: None,
                    delivered,
                });
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Offers `record` to the producer without queueing it here: for an
    /// adapter that waits for room itself (on
    /// [`Event::BufferAvailable`]) rather
    /// than keep records in this queue. A full buffer hands the record and
    /// its reply back; a refused record comes back as the error.
    pub fn offer(
        &mut self,
        client: &mut Client,
        now: Instant,
        record: ProducerRecord,
        delivered: D,
    ) -> Offer<D> {
        if !self.blocked.is_empty() {
            // Records queued here go first; one that can never go is
            // refused now rather than after the wait.
            if let Err(reason) = client.config().producer.check_record(&record) {
                let record = Box::new(record);
                return Offer::Refused(SendError::Invalid { record, reason }.into());
            }
            return Offer::Full(Box::new(record), delivered);
        }
        match client.producer().send(now, record) {
            Ok(id) => {
                self.deliveries.insert(id, delivered);
                Offer::Accepted
            }
            Err(SendError::BufferFull(record)) => Offer::Full(record, delivered),
            Err(e) => Offer::Refused(e.into()),
        }
    }

    /// `Some` gives the record back when the buffer is full.
    fn try_send(&mut self, client: &mut Client, now: Instant, b: Blocked<D>) -> Option<Blocked<D>> {
        let Blocked {
            record,
            accepted,
            delivered,
        } = b;
        match client.producer().send(now, record) {
            Ok(id) => {
                self.deliveries.insert(id, delivered);
                if let Some(accepted) = accepted {
                    accepted(Ok(()));
                }
                None
            }
            Err(SendError::BufferFull(record)) => Some(Blocked {
                record: *record,
                accepted,
                delivered,
            }),
            Err(e) => {
                match accepted {
                    Some(accepted) => accepted(Err(e.into())),
                    None => delivered.deliver(Err(e.into())),
                }
                None
            }
        }
    }

    /// Retries blocked records in order until the buffer is full again.
    fn unblock(&mut self, client: &mut Client, now: Instant) {
        while let Some(b) = self.blocked.pop_front() {
            if let Some(b) = self.try_send(client, now, b) {
                self.blocked.push_front(b);
                break;
            }
        }
        if self.blocked.is_empty() && !self.flushes.is_empty() {
            // Records that were blocked when the flush began go out now.
            let _ = client.producer().flush(now);
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

    /// Answers the calls an event concerns.
    pub fn handle_event(&mut self, client: &mut Client, now: Instant, event: Event) {
        match event {
            Event::AdminResult { id, result } => {
                if let Some(reply) = self.admin.remove(&id) {
                    reply(result.map_err(CallError::from));
                }
            }
            Event::Delivery { id, result } => {
                if let Some(reply) = self.deliveries.remove(id) {
                    reply.deliver(result.map_err(CallError::from));
                }
                self.unblock(client, now);
            }
            Event::BufferAvailable => self.unblock(client, now),
            Event::FlushComplete => {
                if self.blocked.is_empty() && client.producer().is_idle() {
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
            }) => self.consumer_error(CallError::Fetch {
                partition,
                offset,
                error,
            }),
            Event::Consumer(ConsumerEvent::NeedsPosition {
                partition,
                out_of_range,
            }) => self.consumer_error(CallError::NoPosition {
                partition,
                out_of_range,
            }),
            Event::Fatal(fatal) => self.fail_all(&CallError::Fatal(fatal)),
            other => debug!(target: LOG, event = ?other, "event"),
        }
    }

    /// Answers every waiting call with `error`.
    pub fn fail_all(&mut self, error: &CallError) {
        for (_, reply) in self.admin.drain() {
            reply(Err(error.clone()));
        }
        for (_, reply) in self.offsets.drain() {
            reply(Err(error.clone()));
        }
        if let Some((_, reply)) = self.pull.take() {
            reply(Err(error.clone()));
        }
        for reply in self.deliveries.drain() {
            reply.deliver(Err(error.clone()));
        }
        for b in self.blocked.drain(..) {
            match b.accepted {
                Some(accepted) => accepted(Err(error.clone())),
                None => b.delivered.deliver(Err(error.clone())),
            }
        }
        for reply in self.flushes.drain(..) {
            reply(Err(error.clone()));
        }
    }
}

/// Record create times for an adapter, at one clock read per send
/// instead of two: the wall clock is read at most once a second and
/// carried forward from the monotonic `now` the send already has. Between
/// readings the result strays from the wall clock only as fast as the
/// system slews it (NTP: at most 0.5 ms a second); a step of the clock
/// shows at the next reading.
///
/// ```
/// use std::time::{Duration, Instant};
/// let mut clock = kafka_state::calls::WallClock::default();
/// let start = Instant::now();
/// assert_eq!(clock.millis(start, || 1_000), 1_000);
/// // Within the second, the reader is not called.
/// let later = start + Duration::from_millis(250);
/// assert_eq!(clock.millis(later, || unreachable!()), 1_250);
/// ```
#[derive(Debug, Default, Clone)]
pub struct WallClock {
    anchor: Option<(Instant, i64)>,
}

impl WallClock {
    /// How long a wall-clock reading is carried forward.
    pub const RESYNC: Duration = Duration::from_secs(1);

    /// Milliseconds since the Unix epoch at `now`; `read` reads the wall
    /// clock, when needed.
    pub fn millis(&mut self, now: Instant, read: impl FnOnce() -> i64) -> i64 {
        if let Some((at, ms)) = self.anchor {
            if let Some(since) = now.checked_duration_since(at) {
                if since < Self::RESYNC {
                    return ms.saturating_add(since.as_millis() as i64);
                }
            }
        }
        let ms = read();
        self.anchor = Some((now, ms));
        ms
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
            reply(Err(CallError::Closed));
        }
        assert!(d.remove(DeliveryId(7)).is_none(), "answered once only");
        assert_eq!((d.len(), d.slots.len(), d.base), (2, 5, 5));
        d.remove(DeliveryId(5)).expect("registered")(Err(CallError::Closed));
        assert_eq!((d.len(), d.slots.len(), d.base), (1, 2, 8));
        assert!(d.remove(DeliveryId(4)).is_none());
        assert!(d.remove(DeliveryId(100)).is_none());
        // A gap (an id the core used for a refused record) is just empty.
        d.insert(DeliveryId(12), recorder(&log, 12));
        let left: Vec<_> = d.drain().collect();
        assert_eq!(left.len(), 2);
        assert_eq!(d.len(), 0);
        for reply in left {
            reply(Err(CallError::Closed));
        }
        let mut seen: Vec<u64> = log.lock().unwrap().iter().map(|(id, _)| *id).collect();
        seen.sort_unstable();
        assert_eq!(seen, [5, 6, 7, 8, 9, 12]);
        // Empty again: the next id becomes the base.
        d.insert(DeliveryId(40), recorder(&log, 40));
        assert_eq!((d.base, d.slots.len()), (40, 1));
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // a test needs some Instant to start from
    fn wall_clock_reads_again_after_a_second_or_when_now_goes_back() {
        let mut clock = WallClock::default();
        let t0 = Instant::now();
        let mut reads = 0;
        let mut read = |v: i64| {
            reads += 1;
            v
        };
        assert_eq!(clock.millis(t0, || read(5_000)), 5_000);
        let ms = |d: u64| Duration::from_millis(d);
        assert_eq!(clock.millis(t0 + ms(999), || read(0)), 5_999);
        // A second on: the wall clock is read again, and a step shows.
        assert_eq!(clock.millis(t0 + ms(1_000), || read(9_000)), 9_000);
        assert_eq!(clock.millis(t0 + ms(1_010), || read(0)), 9_010);
        // An earlier `now` than the last reading (another thread's) reads.
        assert_eq!(clock.millis(t0 + ms(500), || read(8_500)), 8_500);
        assert_eq!(reads, 3);
    }
}
