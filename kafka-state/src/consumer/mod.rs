//! The consumer with manual assignment: positions, fetching, offset
//! lookups. Reached through the borrowed handle
//! [`Client::consumer`](crate::Client::consumer).
//!
//! # How it fetches
//!
//! Every assigned partition with a position, not paused, not waiting for an
//! offset lookup and with nothing buffered or in flight is *fetchable*. A
//! broker with no Fetch out gets one naming all its fetchable partitions.
//! While that one is out, a second may go, naming only the partitions
//! whose last answer showed more records than were read: the broker
//! answers it at once, so it never parks in front of the first one's
//! successor, and the broker is not left idle while an answer travels and
//! is scanned. A response's data is scanned once (CRCs, aborted
//! transactions, control batches) and buffered per partition as
//! [`FetchedRecords`]; the application takes them with
//! [`Consumer::poll_records`], which moves the position. Meanwhile the
//! broker's next fetch may already be out for the other partitions, so data
//! is prefetched, but at most one response's worth per partition is ever
//! buffered.
//!
//! Records are not [`Event`]s: after draining events, an adapter takes
//! them with [`Consumer::poll_records`] (a command: it moves positions and
//! may queue fetches, so drain the client's outputs again afterwards).
//! [`Consumer::has_records`] tells a driver when to wake a records stream
//! or a blocking `poll(timeout)`.
//!
//! ```
//! use std::time::Instant;
//!
//! use kafka_state::consumer::{AutoOffsetReset, SeekTo};
//! use kafka_state::{BrokerAddr, Client, Config, TopicPartition};
//!
//! let now = Instant::now();
//! let mut config = Config::new([BrokerAddr::new("127.0.0.1", 9092)]);
//! config.consumer.auto_offset_reset = AutoOffsetReset::Earliest;
//! let mut client = Client::new(config, now)?;
//! let orders = TopicPartition::new("orders", 0);
//! client.consumer().assign(now, [orders.clone()])?;
//! client.consumer().seek(now, &orders, SeekTo::Offset(42))?;
//! assert_eq!(client.consumer().position(&orders), Some(42));
//! // ... drive the client as the crate docs show; after each round:
//! while let Some(fetched) = client.consumer().poll_records(now) {
//!     let mut records = fetched.iter();
//!     while let Some(record) = records.next() {
//!         match record {
//!             Ok(record) => {
//!                 println!("{}@{}: {:?}", record.partition, record.offset, record.value);
//!                 // Processed: a commit may now include it.
//!                 client.consumer().store_record(&record)?;
//!             }
//!             // The records before it were yielded; the core takes the
//!             // position back to the bad one and reports it as an event.
//!             Err(error) => {
//!                 let at = records.resume_offset();
//!                 client.consumer().report_corrupt(now, &fetched, at, error)?;
//!             }
//!         }
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Corrupt data
//!
//! Records are never lost to a corrupt batch, and the failure always
//! names the partition and the offset where decoding failed, in a
//! [`ConsumerEvent::PartitionFailed`] with [`FetchError::Corrupt`]:
//!
//! - a batch that fails its CRC or header check when the data arrives
//!   stops the partition at once, but the good records before it are
//!   handed out first; the event is queued when they are taken, and the
//!   position is then at the bad batch.
//! - a record that fails only while iterated (a compressed batch that does
//!   not inflate, or inflates past `max_decompressed_size`) ends the
//!   iteration with the error after every good record before it. The
//!   iterator's `resume_offset` is where it failed; hand both to
//!   [`Consumer::report_corrupt`], which puts the position back there,
//!   stops the partition, drops what was fetched past it and queues the
//!   event.
//!
//! Either way the partition is not fetched again until a seek: past the
//! bad record to skip it, or to it to retry (after raising the bound).
//!
//! # Consumed offsets, positions and commits
//!
//! Two offsets are kept per partition, and they are not the same:
//!
//! - the **position** ([`Consumer::position`]) is where the next fetch
//!   continues from. It moves when [`Consumer::poll_records`] hands out a
//!   whole fetch's worth of records, before the application has looked at
//!   any of them, and when the application seeks.
//! - the **consumed offset** ([`Consumer::consumed`]) is what a group may
//!   commit: the offset of the next record the application has *not yet
//!   processed*, that is the offset of the last record it processed plus
//!   one, with that record's leader epoch. This is Kafka's convention for
//!   committed offsets (the Java client's `commitSync` takes the same
//!   value); storing a record's own offset instead would replay it after a
//!   restart. [`Consumer::store_record`] applies the `+ 1` so callers never
//!   do; [`Consumer::store_offset`] takes the already-incremented value.
//!
//! The consumed offset moves only when the application says a record was
//! handed to it (the adapters store each record as they yield it) or
//! stores one itself, for applications that process later. As in the Java
//! client, a seek moves the position only: the consumed offset follows
//! once a record at the new position is stored. Leaving the assignment
//! drops a partition's consumed offset.
//!
//! # Seams for groups and transactions
//!
//! The group member (`crate::group::member`, after
//! [`Consumer::subscribe`]) owns the assignment: on a rebalance it calls
//! the crate-internal `ConsumerState::revoke` for what it gives up (after
//! committing it) and `ConsumerState::add_awaiting` for what it gets, and
//! `ConsumerState::lose` when the assignment is gone without a hand-over.
//! Partitions added that way start no offset lookup: they wait until the
//! member's committed offsets arrive and it calls `ConsumerState::seek`
//! (or `ConsumerState::reset_position` when nothing is committed). A
//! manual assignment ([`Consumer::assign`]) and a subscription exclude
//! each other. Each of these reports
//! [`ConsumerEvent::PartitionsAssigned`], [`ConsumerEvent::PartitionsRevoked`]
//! or [`ConsumerEvent::PartitionsLost`], whoever changed the assignment,
//! and no record of a partition is handed out after its revoke or loss.
//! It commits what `ConsumerState::consumed_offsets` (the same as
//! [`Consumer::consumed_offsets`]) reports. A transactional producer's
//! `send_offsets_to_transaction` reads the same consumed offsets, and
//! read_committed is [`ConsumerConfig::isolation_level`].

mod config;
mod fetcher;
mod handle;
mod machine;
mod offsets;
mod records;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use kafka_proto::record::DecodeOptions;
use kafka_proto::{DecodeError, ErrorCode};
use tracing::debug;

pub use config::{AutoOffsetReset, ConsumerConfig, IsolationLevel};
pub use handle::Consumer;
pub use records::{ConsumerRecord, FetchedRecords, IntoRecords, Lent, RecordIter, RecordView};

use crate::error::{Misuse, RequestError};
use crate::metadata::{ClusterMetadata, MetadataState};
use crate::router::{Inbound, RequestId, RequestQueue};
use crate::{Config, Event, TopicPartition};

use fetcher::{Buffered, FetchInFlight};
use offsets::{Job, JobId, Lookup};

const LOG: &str = "kafka_state::consumer";

/// Where [`Consumer::seek`] moves a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SeekTo {
    /// This offset (0 or more).
    Offset(i64),
    /// The oldest record still in the log.
    Earliest,
    /// The end of the log.
    Latest,
    /// The first record whose timestamp is at least this many milliseconds
    /// since the Unix epoch; the end of the log if none is.
    Timestamp(i64),
}

/// What [`Consumer::offsets_for`] looks up per partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset (the last stable offset under read_committed).
    Latest,
    /// The first record with a timestamp at least this (ms since epoch).
    Timestamp(i64),
    /// The record with the highest timestamp, and that timestamp
    /// (ListOffsets v7, Kafka 3.0 and later; KIP-734).
    MaxTimestamp,
    /// The first offset still on the broker's local disk, which is past
    /// the log start when tiered storage moved older segments away
    /// (ListOffsets v8, Kafka 3.6 and later; KIP-405).
    EarliestLocal,
}

impl OffsetSpec {
    pub(crate) fn wire(self) -> i64 {
        match self {
            Self::Earliest => -2,
            Self::Latest => -1,
            Self::Timestamp(ts) => ts,
            Self::MaxTimestamp => -3,
            Self::EarliestLocal => -4,
        }
    }
}

/// One partition's answer to an offset lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListedOffset {
    /// The offset; `None` when a timestamp lookup found no record that late.
    pub offset: Option<i64>,
    /// The found record's timestamp, for timestamp lookups.
    pub timestamp: Option<i64>,
    /// The leader epoch the broker reported.
    pub leader_epoch: Option<i32>,
}

/// How far the application has consumed a partition; see the
/// [module docs](self#consumed-offsets-positions-and-commits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumedOffset {
    /// The offset of the next record the application has not processed:
    /// the last processed record's offset plus one. This is the value to
    /// commit.
    pub offset: i64,
    /// The leader epoch of the last processed record, if the broker
    /// stamped one; committed with the offset so that a later fetch from
    /// it can detect log truncation.
    pub leader_epoch: Option<i32>,
}

impl ConsumedOffset {
    /// The consumed offset `offset` (the next record not processed) with
    /// the leader epoch of the record before it.
    pub fn new(offset: i64, leader_epoch: Option<i32>) -> Self {
        Self {
            offset,
            leader_epoch,
        }
    }
}

/// Why an offset lookup failed for a partition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LookupError {
    /// The broker answered with an error that retrying does not fix.
    #[error("broker error {0:?}")]
    Broker(ErrorCode),
    /// No answer within the API timeout (retriable errors included).
    #[error("no answer within the API timeout (last error: {0:?})")]
    Timeout(Option<ErrorCode>),
    /// The request failed for good (the client was closed).
    #[error(transparent)]
    Request(RequestError),
}

/// Why fetching a partition stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// A batch failed to decode (bad CRC, impossible header).
    #[error("corrupt batch: {0}")]
    Corrupt(DecodeError),
    /// The broker answered with an error that retrying does not fix.
    #[error("broker error {0:?}")]
    Broker(ErrorCode),
    /// A single batch is larger than `fetch_max_bytes`.
    #[error("a batch of {0} bytes exceeds fetch_max_bytes")]
    RecordTooLarge(usize),
    /// Looking up the offset to reset to failed.
    #[error("offset lookup failed: {0}")]
    Lookup(LookupError),
}

/// What the consumer reports, inside [`Event::Consumer`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConsumerEvent {
    /// The answer to [`Consumer::offsets_for`].
    OffsetsListed {
        /// The id the command returned.
        id: RequestId,
        /// Per partition, the offset or why there is none.
        offsets: BTreeMap<TopicPartition, Result<ListedOffset, LookupError>>,
    },
    /// A partition has no valid position and `auto_offset_reset` is
    /// [`AutoOffsetReset::None`]: it is not fetched until a seek.
    NeedsPosition {
        /// The partition.
        partition: TopicPartition,
        /// The position the broker rejected as out of range; `None` for a
        /// partition just assigned.
        out_of_range: Option<i64>,
    },
    /// An offset lookup (a seek to earliest, latest or a timestamp, or an
    /// automatic reset) set a partition's position.
    PositionReset {
        /// The partition.
        partition: TopicPartition,
        /// The new position.
        offset: i64,
    },
    /// Partitions joined the assignment ([`Consumer::assign`], or a group
    /// rebalance). Each starts fetching once it has a position.
    PartitionsAssigned {
        /// The new partitions, in order.
        partitions: Vec<TopicPartition>,
    },
    /// A group member is about to revoke these partitions in an orderly
    /// way, and waits for the application first
    /// ([`GroupConfig::await_revoke`](crate::group::GroupConfig::await_revoke)):
    /// commit what was processed of them
    /// ([`Consumer::commit`], which accepts them until the revoke), then
    /// call [`Consumer::revoke_done`]. From this event on the core hands
    /// out no record of them (an adapter drops those it took but has not
    /// yielded). [`ConsumerEvent::PartitionsRevoked`] follows once the
    /// application is done or the wait ran out, or
    /// [`ConsumerEvent::PartitionsLost`] if the generation ends first.
    PartitionsRevoking {
        /// The partitions, in order.
        partitions: Vec<TopicPartition>,
        /// What the application had consumed of them
        /// ([`Consumer::consumed`]); partitions with nothing stored are
        /// absent.
        consumed: BTreeMap<TopicPartition, ConsumedOffset>,
    },
    /// Partitions left the assignment in an orderly way
    /// ([`Consumer::assign`] without them, [`Consumer::unassign`], or a
    /// group rebalance that moves them). From this event on the core hands
    /// out no record of them: an adapter drops the records of them it took
    /// but has not yielded yet.
    PartitionsRevoked {
        /// The partitions, in order.
        partitions: Vec<TopicPartition>,
        /// What the application had consumed of them
        /// ([`Consumer::consumed`]), for a last commit; partitions with
        /// nothing stored are absent.
        consumed: BTreeMap<TopicPartition, ConsumedOffset>,
    },
    /// Partitions were taken away without an orderly hand-over (a group
    /// member's session expired, it was fenced, or it missed the max poll
    /// interval): another member may own them already, so nothing of them
    /// may be committed. As after [`ConsumerEvent::PartitionsRevoked`], no
    /// record of them is handed out any more and an adapter drops those it
    /// holds.
    PartitionsLost {
        /// The partitions, in order.
        partitions: Vec<TopicPartition>,
    },
    /// Fetching a partition stopped: records before `offset` were
    /// delivered (for corrupt data, this event comes after them), the
    /// rest waits for a seek. See [corrupt data](self#corrupt-data).
    PartitionFailed {
        /// The partition.
        partition: TopicPartition,
        /// Where the failure is (-1 when a failed lookup left the
        /// partition without a position).
        offset: i64,
        /// What went wrong.
        error: FetchError,
    },
}

/// One assigned partition.
#[derive(Debug)]
pub(crate) struct PartState {
    position: Option<i64>,
    /// Changes whenever the position is set from outside a fetch, so
    /// answers to older fetches and lookups are recognised and dropped.
    epoch: u64,
    paused: bool,
    /// Announced as revoking: neither fetched nor handed out.
    revoking: bool,
    /// Not fetched until a seek (a broker error, corrupt data, no position).
    stopped: bool,
    /// The offset lookup that will set the position.
    reset: Option<JobId>,
    /// A group member is loading its committed offset to start from; a
    /// seek meanwhile clears it, so the seek wins over a late answer.
    awaits_committed: bool,
    /// The fetch carrying this partition.
    fetching: Option<RequestId>,
    buffered: bool,
    backoff_until: Option<Instant>,
    /// A partition max bytes larger than configured, to get a batch bigger
    /// than `max_partition_fetch_bytes` whole.
    max_bytes: Option<usize>,
    high_watermark: Option<i64>,
    last_stable: Option<i64>,
    /// What the application has consumed; independent of `position`.
    consumed: Option<ConsumedOffset>,
}

impl PartState {
    fn new(epoch: u64) -> Self {
        Self {
            position: None,
            epoch,
            paused: false,
            revoking: false,
            stopped: false,
            reset: None,
            awaits_committed: false,
            fetching: None,
            buffered: false,
            backoff_until: None,
            max_bytes: None,
            high_watermark: None,
            last_stable: None,
            consumed: None,
        }
    }

    /// Fetchable apart from backoff, throttling and leadership.
    fn wants_fetch(&self) -> bool {
        self.position.is_some()
            && !self.paused
            && !self.revoking
            && !self.stopped
            && self.reset.is_none()
            && self.fetching.is_none()
            && !self.buffered
    }
}

/// The consumer's state inside the [`Client`].
#[derive(Debug)]
pub(crate) struct ConsumerState {
    config: ConsumerConfig,
    retry_backoff: Duration,
    request_timeout_ms: i32,
    parts: BTreeMap<TopicPartition, PartState>,
    next_epoch: u64,
    /// Fetches queued or in flight, at most two per broker node.
    fetches: BTreeMap<RequestId, FetchInFlight>,
    /// No fetch to a node before this (its last throttle time).
    throttled: BTreeMap<i32, Instant>,
    /// Fetches held back per leader, and until when (see `poll_fetches`).
    held: BTreeMap<i32, Instant>,
    buffered: VecDeque<Buffered>,
    jobs: BTreeMap<JobId, Job>,
    next_job: JobId,
    /// ListOffsets requests and the (job, partition) entries they carry.
    lookups: BTreeMap<RequestId, Lookup>,
    /// The partition [`ConsumerState::store_record`] stored last.
    last_stored: Option<TopicPartition>,
}

impl ConsumerState {
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            config: config.consumer.clone(),
            retry_backoff: config.retry_backoff,
            request_timeout_ms: i32::try_from(config.request_timeout.as_millis())
                .unwrap_or(i32::MAX),
            parts: BTreeMap::new(),
            next_epoch: 0,
            fetches: BTreeMap::new(),
            throttled: BTreeMap::new(),
            held: BTreeMap::new(),
            buffered: VecDeque::new(),
            jobs: BTreeMap::new(),
            next_job: 0,
            lookups: BTreeMap::new(),
            last_stored: None,
        }
    }

    /// A partition's position: where the next fetch continues from.
    pub(crate) fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.parts.get(tp)?.position
    }

    /// A partition's consumed offset: what a group member commits.
    pub(crate) fn consumed(&self, tp: &TopicPartition) -> Option<ConsumedOffset> {
        self.parts.get(tp)?.consumed
    }

    /// Adds the consumer's part of a statistics snapshot.
    pub(crate) fn stats_into(
        &self,
        partitions: &mut BTreeMap<TopicPartition, crate::stats::PartitionStats>,
        totals: &mut crate::stats::TotalStats,
    ) {
        for (tp, p) in &self.parts {
            let lag = self.lag_of(p);
            totals.consumer_lag += lag.unwrap_or(0) as u64;
            partitions.entry(tp.clone()).or_default().consumer =
                Some(crate::stats::ConsumerPartitionStats {
                    position: p.position,
                    consumed_offset: p.consumed.map(|c| c.offset),
                    high_watermark: p.high_watermark,
                    last_stable_offset: p.last_stable,
                    lag,
                    paused: p.paused,
                });
        }
    }

    /// How far a partition's position is behind its end (the high
    /// watermark, or the last stable offset under read_committed), as of
    /// the last fetch.
    pub(crate) fn lag_of(&self, p: &PartState) -> Option<i64> {
        let end = match self.config.isolation_level {
            IsolationLevel::ReadCommitted => p.last_stable.or(p.high_watermark),
            _ => p.high_watermark,
        }?;
        Some(end.saturating_sub(p.position?).max(0))
    }

    /// Every assigned partition's consumed offset, for a commit.
    pub(crate) fn consumed_offsets(&self) -> BTreeMap<TopicPartition, ConsumedOffset> {
        self.parts
            .iter()
            .filter_map(|(tp, p)| Some((tp.clone(), p.consumed?)))
            .collect()
    }

    /// Records what the application consumed of an assigned partition;
    /// false if it is not assigned. The offset is checked by the caller.
    pub(crate) fn store(&mut self, tp: &TopicPartition, consumed: ConsumedOffset) -> bool {
        match self.parts.get_mut(tp) {
            Some(p) => {
                p.consumed = Some(consumed);
                true
            }
            None => false,
        }
    }

    /// [`ConsumerState::store`] for a record's partition, named by parts:
    /// adapters store every record they yield, so the partition of the
    /// last store is kept to spare a lookup key per record.
    pub(crate) fn store_record(
        &mut self,
        topic: &str,
        partition: i32,
        consumed: ConsumedOffset,
    ) -> Result<(), Misuse> {
        let tp = match &mut self.last_stored {
            Some(tp) if tp.partition == partition && tp.topic == topic => tp,
            slot => slot.insert(TopicPartition::new(topic, partition)),
        };
        match self.parts.get_mut(tp) {
            Some(p) => {
                p.consumed = Some(consumed);
                Ok(())
            }
            None => Err(Misuse::NotAssigned(tp.clone())),
        }
    }

    /// The assigned partitions, in order.
    pub(crate) fn assignment(&self) -> impl Iterator<Item = &TopicPartition> {
        self.parts.keys()
    }

    fn epoch(&mut self) -> u64 {
        self.next_epoch += 1;
        self.next_epoch
    }

    fn decode_options(&self) -> DecodeOptions {
        DecodeOptions {
            max_decompressed_size: self.config.max_decompressed_size,
            verify_crc: self.config.check_crcs,
        }
    }

    // ---- commands ------------------------------------------------------

    /// Replaces the assignment (validated by the caller): partitions not
    /// in `partitions` are revoked, new ones added, in that order. New
    /// partitions get an offset lookup per `auto_offset_reset`, sent at the
    /// next pump.
    pub(crate) fn assign(
        &mut self,
        now: Instant,
        partitions: Vec<TopicPartition>,
        metadata: &mut MetadataState,
        events: &mut VecDeque<Event>,
    ) {
        let wanted: BTreeSet<TopicPartition> = partitions.into_iter().collect();
        let gone: Vec<TopicPartition> = self
            .parts
            .keys()
            .filter(|tp| !wanted.contains(*tp))
            .cloned()
            .collect();
        self.revoke(gone, events);
        self.add(now, wanted, metadata, events);
    }

    /// Adds partitions to the assignment (an incremental, cooperative
    /// assignment); those already assigned are left as they are. Reports
    /// [`ConsumerEvent::PartitionsAssigned`] before anything about them.
    pub(crate) fn add(
        &mut self,
        now: Instant,
        partitions: impl IntoIterator<Item = TopicPartition>,
        metadata: &mut MetadataState,
        events: &mut VecDeque<Event>,
    ) {
        for tp in self.insert(partitions, metadata, events) {
            self.auto_reset(now, &tp, None, events);
        }
    }

    /// Adds partitions that wait for a position from elsewhere (a group
    /// member's committed offsets): no offset lookup starts, and they are
    /// not fetched until [`ConsumerState::seek`] or
    /// [`ConsumerState::reset_position`]. Reports
    /// [`ConsumerEvent::PartitionsAssigned`] as [`ConsumerState::add`] does.
    pub(crate) fn add_awaiting(
        &mut self,
        partitions: impl IntoIterator<Item = TopicPartition>,
        metadata: &mut MetadataState,
        events: &mut VecDeque<Event>,
    ) {
        let partitions: Vec<TopicPartition> = partitions.into_iter().collect();
        self.insert(partitions.iter().cloned(), metadata, events);
        for tp in &partitions {
            if let Some(p) = self.parts.get_mut(tp) {
                // One still assigned keeps a position it has.
                p.awaits_committed = p.position.is_none() && p.reset.is_none();
            }
        }
    }

    /// Whether the partition still waits for the group's committed offset
    /// (nothing, the application included, has positioned it since it
    /// was added).
    pub(crate) fn awaits_committed(&self, tp: &TopicPartition) -> bool {
        self.parts.get(tp).is_some_and(|p| p.awaits_committed)
    }

    /// Starts an assigned partition where `auto_offset_reset` says (a
    /// group member found nothing committed for it).
    pub(crate) fn reset_position(
        &mut self,
        now: Instant,
        tp: &TopicPartition,
        events: &mut VecDeque<Event>,
    ) {
        if let Some(p) = self.parts.get_mut(tp) {
            p.awaits_committed = false;
            self.auto_reset(now, tp, None, events);
        }
    }

    /// Inserts the partitions not assigned yet, reporting them; returns them.
    fn insert(
        &mut self,
        partitions: impl IntoIterator<Item = TopicPartition>,
        metadata: &mut MetadataState,
        events: &mut VecDeque<Event>,
    ) -> BTreeSet<TopicPartition> {
        let new: BTreeSet<TopicPartition> = partitions
            .into_iter()
            .filter(|tp| !self.parts.contains_key(tp))
            .collect();
        if new.is_empty() {
            return new;
        }
        events.push_back(Event::Consumer(ConsumerEvent::PartitionsAssigned {
            partitions: new.iter().cloned().collect(),
        }));
        for tp in &new {
            metadata.track(&tp.topic);
            let epoch = self.epoch();
            self.parts.insert(tp.clone(), PartState::new(epoch));
            debug!(target: LOG, partition = %tp, "assigned");
        }
        new
    }

    /// Takes partitions out of the assignment in an orderly way (the
    /// application's assign or unassign, a group rebalance). The event
    /// carries their consumed offsets, for a last commit.
    pub(crate) fn revoke(
        &mut self,
        partitions: impl IntoIterator<Item = TopicPartition>,
        events: &mut VecDeque<Event>,
    ) {
        let mut consumed = BTreeMap::new();
        let gone = self.remove(partitions, |tp, p| {
            if let Some(c) = p.consumed {
                consumed.insert(tp.clone(), c);
            }
        });
        if !gone.is_empty() {
            events.push_back(Event::Consumer(ConsumerEvent::PartitionsRevoked {
                partitions: gone,
                consumed,
            }));
        }
    }

    /// Announces an orderly revoke the group member waits with: the
    /// partitions stay assigned (their consumed offsets can be stored and
    /// committed) but are neither fetched nor handed out any more.
    pub(crate) fn begin_revoke(
        &mut self,
        partitions: &BTreeSet<TopicPartition>,
        events: &mut VecDeque<Event>,
    ) {
        let mut announced = Vec::new();
        let mut consumed = BTreeMap::new();
        for tp in partitions {
            if let Some(p) = self.parts.get_mut(tp) {
                p.revoking = true;
                if let Some(c) = p.consumed {
                    consumed.insert(tp.clone(), c);
                }
                announced.push(tp.clone());
            }
        }
        if !announced.is_empty() {
            debug!(target: LOG, partitions = announced.len(), "revoking, waiting for the application");
            events.push_back(Event::Consumer(ConsumerEvent::PartitionsRevoking {
                partitions: announced,
                consumed,
            }));
        }
    }

    /// Takes partitions out of the assignment without a hand-over (a
    /// group member's session expired, it was fenced, it missed the max
    /// poll interval): their consumed offsets are dropped unreported, since
    /// another member may already own them and committing would be wrong.
    pub(crate) fn lose(
        &mut self,
        partitions: impl IntoIterator<Item = TopicPartition>,
        events: &mut VecDeque<Event>,
    ) {
        let gone = self.remove(partitions, |_, _| {});
        if !gone.is_empty() {
            events.push_back(Event::Consumer(ConsumerEvent::PartitionsLost {
                partitions: gone,
            }));
        }
    }

    /// Removes assigned partitions with everything held for them: their
    /// pending resets and their buffered records, so none is handed out
    /// after this; answers to fetches in flight find no partition and are
    /// dropped. Returns those that were assigned, in order.
    fn remove(
        &mut self,
        partitions: impl IntoIterator<Item = TopicPartition>,
        mut each: impl FnMut(&TopicPartition, &PartState),
    ) -> Vec<TopicPartition> {
        let asked: BTreeSet<TopicPartition> = partitions.into_iter().collect();
        let mut gone = Vec::new();
        for tp in asked {
            let Some(p) = self.parts.remove(&tp) else {
                continue;
            };
            if let Some(job) = p.reset {
                self.jobs.remove(&job);
            }
            each(&tp, &p);
            debug!(target: LOG, partition = %tp, "unassigned");
            gone.push(tp);
        }
        if !gone.is_empty() {
            self.buffered
                .retain(|b| gone.binary_search(&b.records.partition).is_err());
        }
        gone
    }

    /// Takes back records handed out from `records` that failed to decode
    /// at `offset` (checked by the caller to lie within them): the
    /// position returns to `offset`, the partition stops until a seek, and
    /// [`ConsumerEvent::PartitionFailed`] reports it. Whatever was fetched
    /// past it, buffered or in flight, is dropped. A report about records
    /// handed out before a seek, a reset or a new assignment of the
    /// partition is ignored: the application has moved on from them.
    pub(crate) fn report_corrupt(
        &mut self,
        records: &FetchedRecords,
        offset: i64,
        error: DecodeError,
        events: &mut VecDeque<Event>,
    ) {
        let epoch = self.epoch();
        let tp = &records.partition;
        let Some(p) = self.parts.get_mut(tp) else {
            return;
        };
        if p.epoch != records.epoch {
            return;
        }
        debug!(target: LOG, partition = %tp, offset, %error, "records failed to decode, partition stopped");
        p.epoch = epoch;
        p.position = Some(offset);
        p.stopped = true;
        p.buffered = false;
        p.max_bytes = None;
        self.buffered.retain(|b| b.records.partition != *tp);
        events.push_back(Event::Consumer(ConsumerEvent::PartitionFailed {
            partition: tp.clone(),
            offset,
            error: FetchError::Corrupt(error),
        }));
    }

    /// Moves a partition's position (assigned, checked by the caller).
    pub(crate) fn seek(&mut self, now: Instant, tp: &TopicPartition, to: SeekTo) {
        let epoch = self.epoch();
        let Some(p) = self.parts.get_mut(tp) else {
            return;
        };
        p.epoch = epoch;
        p.stopped = false;
        p.awaits_committed = false;
        p.buffered = false;
        p.max_bytes = None;
        p.backoff_until = None;
        if let Some(job) = p.reset.take() {
            self.jobs.remove(&job);
        }
        self.buffered.retain(|b| b.records.partition != *tp);
        let spec = match to {
            SeekTo::Offset(o) => {
                p.position = Some(o);
                return;
            }
            SeekTo::Earliest => OffsetSpec::Earliest,
            SeekTo::Latest => OffsetSpec::Latest,
            SeekTo::Timestamp(ts) => OffsetSpec::Timestamp(ts),
        };
        self.start_reset(now, tp, spec);
    }

    // ---- requests ------------------------------------------------------

    /// Queues the lookups and fetches that can go out now.
    pub(crate) fn poll_requests(
        &mut self,
        now: Instant,
        metadata: &mut MetadataState,
        queue: &mut RequestQueue,
        api_timeout: Duration,
    ) {
        self.expire_jobs(now);
        self.throttled.retain(|_, t| *t > now);
        let lookups_want_metadata = self.poll_lookups(now, metadata, queue, api_timeout);
        let fetches_want_metadata = self.poll_fetches(now, metadata, queue, api_timeout);
        if lookups_want_metadata || fetches_want_metadata {
            metadata.request_update();
        }
    }

    /// Nothing assigned, no offset lookup or fetch under way, and no
    /// broker throttle or held fetch left for a polling round to clear.
    pub(crate) fn is_idle(&self) -> bool {
        self.parts.is_empty()
            && self.jobs.is_empty()
            && self.lookups.is_empty()
            && self.fetches.is_empty()
            && self.throttled.is_empty()
            && self.held.is_empty()
    }

    /// Whether a queued (unsent) request of ours is no longer worth
    /// sending: its broker no longer leads one of its partitions.
    pub(crate) fn is_stale(&self, id: RequestId, cache: &ClusterMetadata) -> bool {
        self.lookup_is_stale(id, cache) || self.fetch_is_stale(id, cache)
    }

    /// A queued request was withdrawn before it was sent: its partitions
    /// go out again at once, to their new leaders.
    pub(crate) fn handle_cancelled(&mut self, id: RequestId) {
        if !self.fetch_cancelled(id) {
            self.lookup_cancelled(id);
        }
    }

    /// When something waiting on time becomes possible: a backoff or a
    /// throttle ends for a fetchable partition, a lookup may be retried,
    /// a user lookup times out.
    pub(crate) fn poll_timeout(&self, now: Instant, cache: &ClusterMetadata) -> Option<Instant> {
        let fetch = self.fetch_timeout(now, cache);
        let lookup = self.lookup_timeout(now);
        fetch.into_iter().chain(lookup).min()
    }

    // ---- responses -----------------------------------------------------

    /// Takes the outcome of a request the consumer sent.
    pub(crate) fn handle_response(
        &mut self,
        now: Instant,
        inbound: Inbound,
        metadata: &mut MetadataState,
        events: &mut VecDeque<Event>,
    ) {
        if self.is_fetch(inbound.id) {
            self.handle_fetch_response(now, inbound, metadata, events);
        } else if let Some(lookup) = self.lookups.remove(&inbound.id) {
            self.handle_lookup(now, lookup.entries, inbound.result, metadata);
            self.finish_jobs(now, events);
        }
    }
}

pub(crate) fn leader_epoch(cache: &ClusterMetadata, tp: &TopicPartition) -> i32 {
    cache
        .partition(&tp.topic, tp.partition)
        .map_or(-1, |p| p.leader_epoch.max(-1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BrokerAddr;
    use bytes::Bytes;
    use kafka_proto::record::{encode, BatchOptions, Record};

    #[allow(clippy::disallowed_methods)] // a test needs some Instant to start from
    fn t0() -> Instant {
        Instant::now()
    }

    /// Puts a fetched batch of `tp` at offsets `0..n` into the buffer, as
    /// a fetch answer would.
    fn buffer(state: &mut ConsumerState, tp: &TopicPartition, n: usize) {
        let records: Vec<Record> = (0..n)
            .map(|i| Record {
                offset: i as i64,
                value: Some(Bytes::from_static(b"v")),
                ..Record::default()
            })
            .collect();
        let data = encode(records.iter(), &BatchOptions::default()).unwrap();
        let scan = records::scan(&data, 0, None, DecodeOptions::default());
        let p = state.parts.get_mut(tp).unwrap();
        p.position = Some(0);
        p.buffered = true;
        let epoch = p.epoch;
        let records = FetchedRecords::new(tp.clone(), &data, &scan, 0, n as i64, None, 1 << 20);
        state.buffered.push_back(Buffered {
            epoch,
            records,
            failure: None,
        });
    }

    /// A consumer of a one-broker client with empty metadata, and where
    /// its events go.
    fn fresh() -> (Instant, ConsumerState, MetadataState, VecDeque<Event>) {
        let now = t0();
        let config = Config::new([BrokerAddr::new("b", 9092)]);
        let metadata = MetadataState::new(now, Duration::from_secs(300), Duration::ZERO);
        (now, ConsumerState::new(&config), metadata, VecDeque::new())
    }

    #[test]
    fn a_consumer_is_idle_only_with_nothing_assigned_looked_up_or_throttled() {
        let (now, mut state, mut metadata, mut events) = fresh();
        assert!(state.is_idle());
        let tp = TopicPartition::new("t", 0);
        state.add(now, [tp.clone()], &mut metadata, &mut events);
        assert!(!state.is_idle(), "a partition is assigned");
        state.lose([tp], &mut events);
        assert!(state.is_idle(), "nothing is left once it is gone");
        state.throttled.insert(1, now + Duration::from_secs(1));
        assert!(!state.is_idle(), "a throttle waits for a round to clear it");
    }

    #[test]
    fn lost_partitions_drop_their_records_and_report_no_consumed_offsets() {
        let (now, mut state, mut metadata, mut events) = fresh();
        let (a, b) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
        state.add(now, [a.clone(), b.clone()], &mut metadata, &mut events);
        assert!(matches!(
            events.pop_front(),
            Some(Event::Consumer(ConsumerEvent::PartitionsAssigned { partitions }))
                if partitions == [a.clone(), b.clone()]
        ));
        events.clear();
        buffer(&mut state, &a, 3);
        buffer(&mut state, &b, 2);
        assert!(state.store(&a, ConsumedOffset::new(1, None)));
        // Losing a partition that is not assigned is no event of its own.
        let stranger = TopicPartition::new("u", 0);
        state.lose([a.clone(), stranger], &mut events);
        let lost: Vec<Event> = events.drain(..).collect();
        assert!(
            matches!(
                &lost[..],
                [Event::Consumer(ConsumerEvent::PartitionsLost { partitions })] if *partitions == [a.clone()]
            ),
            "{lost:?}"
        );
        assert_eq!(state.consumed(&a), None);
        assert!(state.consumed_offsets().is_empty());
        // Only b's records come out; a's were discarded with it.
        let taken = state.take_records(&mut events).expect("b is buffered");
        assert_eq!(taken.partition(), &b);
        assert!(state.take_records(&mut events).is_none());
        // Losing nothing assigned reports nothing.
        state.lose([a], &mut events);
        assert!(events.is_empty());
    }
}
