//! The consumer with manual assignment: positions, fetching, offset
//! lookups. Reached through the borrowed handle
//! [`Client::consumer`](crate::Client::consumer).
//!
//! # How it fetches
//!
//! Every assigned partition with a position, not paused, not waiting for an
//! offset lookup and with nothing buffered or in flight is *fetchable*. For
//! each broker leading fetchable partitions the consumer keeps exactly one
//! Fetch in flight, naming all of them. A response's data is scanned once
//! (CRCs, aborted transactions, control batches) and buffered per partition
//! as [`FetchedRecords`]; the application takes them with
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
//!     for record in &fetched {
//!         let record = record?;
//!         println!("{}@{}: {:?}", record.partition, record.offset, record.value);
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Seams for groups and transactions
//!
//! A group member owns the assignment: on a rebalance it calls the
//! crate-internal `ConsumerState::assign`, then `ConsumerState::seek` with
//! each committed offset, before the client next pumps, so the offset lookups
//! `assign` schedules for new partitions are replaced before any is sent.
//! It commits what `ConsumerState::position` (the same as
//! [`Consumer::position`]) reports, with the
//! [`ConsumerRecord::leader_epoch`] of the last record taken. A transactional
//! producer's `send_offsets_to_transaction` reads the same positions, and
//! read_committed is [`ConsumerConfig::isolation_level`].

mod config;
mod machine;
mod records;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use kafka_proto::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_proto::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_proto::messages::{FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse};
use kafka_proto::record::DecodeOptions;
use kafka_proto::{DecodeError, ErrorCode, ResponseBody, Uuid};
use tracing::{debug, warn};

pub use config::{AutoOffsetReset, ConsumerConfig, IsolationLevel};
pub use records::{ConsumerRecord, FetchedRecords, IntoRecords, RecordIter};

use crate::admin::check_topic_name;
use crate::error::{Misuse, RequestError};
use crate::metadata::{ClusterMetadata, MetadataState};
use crate::router::{Inbound, Outbound, RequestId, RequestQueue, Target};
use crate::{Client, Config, Event, TopicPartition};

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
}

impl OffsetSpec {
    fn wire(self) -> i64 {
        match self {
            Self::Earliest => -2,
            Self::Latest => -1,
            Self::Timestamp(ts) => ts,
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
    /// Fetching a partition stopped: records before `offset` were
    /// delivered, the rest waits for a seek.
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

/// Borrowed handle for the consumer; see [`Client::consumer`].
#[derive(Debug)]
pub struct Consumer<'a> {
    pub(crate) client: &'a mut Client,
}

fn check_partitions(tps: &[TopicPartition]) -> Result<(), Misuse> {
    for tp in tps {
        check_topic_name(&tp.topic)?;
        if tp.partition < 0 {
            return Err(Misuse::InvalidPartition(tp.clone()));
        }
    }
    Ok(())
}

impl Consumer<'_> {
    /// Replaces the assignment. Partitions kept keep their positions;
    /// new ones start where `auto_offset_reset` says.
    pub fn assign(
        &mut self,
        now: Instant,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<(), Misuse> {
        let tps: Vec<TopicPartition> = partitions.into_iter().collect();
        check_partitions(&tps)?;
        let c = self.start(now)?;
        c.consumer
            .assign(c.now, tps, &mut c.metadata, &mut c.events);
        c.pump();
        Ok(())
    }

    /// Drops the whole assignment and everything buffered for it.
    pub fn unassign(&mut self, now: Instant) -> Result<(), Misuse> {
        let c = self.start(now)?;
        c.consumer
            .assign(c.now, Vec::new(), &mut c.metadata, &mut c.events);
        c.pump();
        Ok(())
    }

    /// Moves an assigned partition's position. Buffered records of the
    /// partition are dropped; a stopped partition fetches again.
    pub fn seek(
        &mut self,
        now: Instant,
        partition: &TopicPartition,
        to: SeekTo,
    ) -> Result<(), Misuse> {
        match to {
            SeekTo::Offset(o) if o < 0 => return Err(Misuse::InvalidOffset(o)),
            SeekTo::Timestamp(ts) if ts < 0 => return Err(Misuse::InvalidOffset(ts)),
            _ => {}
        }
        self.client.check_usable()?;
        self.check_assigned(std::slice::from_ref(partition))?;
        let c = self.start(now)?;
        c.consumer.seek(c.now, partition, to);
        c.pump();
        Ok(())
    }

    /// Stops fetching the partitions and withholds their buffered records.
    pub fn pause(
        &mut self,
        now: Instant,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<(), Misuse> {
        self.set_paused(now, partitions, true)
    }

    /// Undoes [`Consumer::pause`].
    pub fn resume(
        &mut self,
        now: Instant,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<(), Misuse> {
        self.set_paused(now, partitions, false)
    }

    fn set_paused(
        &mut self,
        now: Instant,
        partitions: impl IntoIterator<Item = TopicPartition>,
        paused: bool,
    ) -> Result<(), Misuse> {
        let tps: Vec<TopicPartition> = partitions.into_iter().collect();
        self.client.check_usable()?;
        self.check_assigned(&tps)?;
        let c = self.start(now)?;
        for tp in &tps {
            if let Some(p) = c.consumer.parts.get_mut(tp) {
                p.paused = paused;
            }
        }
        c.pump();
        Ok(())
    }

    /// The offset of the next record the application gets for an assigned
    /// partition; `None` while an offset lookup sets it, or while it has
    /// none and waits for a seek ([`ConsumerEvent::NeedsPosition`]).
    pub fn position(&self, partition: &TopicPartition) -> Option<i64> {
        self.client.consumer.position(partition)
    }

    /// The assigned partitions, in order.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.client.consumer.assignment().cloned().collect()
    }

    /// The paused partitions, in order.
    pub fn paused(&self) -> Vec<TopicPartition> {
        let parts = &self.client.consumer.parts;
        parts
            .iter()
            .filter(|(_, p)| p.paused)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// How far the position is behind the end of an assigned partition
    /// (the high watermark, or the last stable offset under
    /// read_committed), as of the last fetch.
    pub fn lag(&self, partition: &TopicPartition) -> Option<i64> {
        let p = self.client.consumer.parts.get(partition)?;
        let end = match self.client.consumer.config.isolation_level {
            IsolationLevel::ReadCommitted => p.last_stable.or(p.high_watermark),
            _ => p.high_watermark,
        }?;
        Some(end.saturating_sub(p.position?).max(0))
    }

    /// Looks up offsets at the partitions' leaders (any partitions, not
    /// only assigned ones). The answer comes as
    /// [`ConsumerEvent::OffsetsListed`] with the returned id; retriable
    /// errors are retried until the API timeout.
    pub fn offsets_for(
        &mut self,
        now: Instant,
        partitions: impl IntoIterator<Item = TopicPartition>,
        spec: OffsetSpec,
    ) -> Result<RequestId, Misuse> {
        let tps: BTreeSet<TopicPartition> = partitions.into_iter().collect();
        if tps.is_empty() {
            return Err(Misuse::NoTopics);
        }
        let list: Vec<TopicPartition> = tps.into_iter().collect();
        check_partitions(&list)?;
        if let OffsetSpec::Timestamp(ts) = spec {
            if ts < 0 {
                return Err(Misuse::InvalidOffset(ts));
            }
        }
        let c = self.start(now)?;
        let id = c.requests.next_id();
        let deadline = c.now + c.config().api_timeout;
        for tp in &list {
            c.metadata.track(&tp.topic);
        }
        c.consumer.offsets_for(c.now, id, list, spec, deadline);
        c.pump();
        Ok(id)
    }

    /// The next buffered records of a partition that is not paused, in
    /// arrival order. Taking them moves that partition's position past
    /// them, and frees the partition to be fetched again.
    pub fn poll_records(&mut self, now: Instant) -> Option<FetchedRecords> {
        self.client.check_usable().ok()?;
        self.client.tick(now);
        let records = self.client.consumer.take_records();
        if records.is_some() {
            self.client.pump();
        }
        records
    }

    /// Whether [`Consumer::poll_records`] would return something.
    pub fn has_records(&self) -> bool {
        self.client.consumer.next_records().is_some()
    }

    fn check_assigned(&self, tps: &[TopicPartition]) -> Result<(), Misuse> {
        match tps
            .iter()
            .find(|tp| !self.client.consumer.parts.contains_key(*tp))
        {
            Some(tp) => Err(Misuse::NotAssigned(tp.clone())),
            None => Ok(()),
        }
    }

    fn start(&mut self, now: Instant) -> Result<&mut Client, Misuse> {
        self.client.check_usable()?;
        self.client.tick(now);
        Ok(&mut *self.client)
    }
}

/// One assigned partition.
#[derive(Debug)]
struct PartState {
    position: Option<i64>,
    /// Changes whenever the position is set from outside a fetch, so
    /// answers to older fetches and lookups are recognised and dropped.
    epoch: u64,
    paused: bool,
    /// Not fetched until a seek (a broker error, corrupt data, no position).
    stopped: bool,
    /// The offset lookup that will set the position.
    reset: Option<JobId>,
    /// The fetch carrying this partition.
    fetching: Option<RequestId>,
    buffered: bool,
    backoff_until: Option<Instant>,
    /// A partition max bytes larger than configured, to get a batch bigger
    /// than `max_partition_fetch_bytes` whole.
    max_bytes: Option<usize>,
    high_watermark: Option<i64>,
    last_stable: Option<i64>,
}

impl PartState {
    fn new(epoch: u64) -> Self {
        Self {
            position: None,
            epoch,
            paused: false,
            stopped: false,
            reset: None,
            fetching: None,
            buffered: false,
            backoff_until: None,
            max_bytes: None,
            high_watermark: None,
            last_stable: None,
        }
    }

    /// Fetchable apart from backoff, throttling and leadership.
    fn wants_fetch(&self) -> bool {
        self.position.is_some()
            && !self.paused
            && !self.stopped
            && self.reset.is_none()
            && self.fetching.is_none()
            && !self.buffered
    }
}

type JobId = u64;

#[derive(Debug)]
enum JobKind {
    /// [`Consumer::offsets_for`]: answered with an event.
    User(RequestId),
    /// Sets a partition's position if it is still at `epoch`.
    Reset {
        partition: TopicPartition,
        epoch: u64,
    },
}

#[derive(Debug)]
struct JobEntry {
    spec: i64,
    not_before: Instant,
    sent: bool,
    last_error: Option<ErrorCode>,
}

/// An offset lookup over one or more partitions.
#[derive(Debug)]
struct Job {
    kind: JobKind,
    /// Retriable errors are retried until then (user lookups only).
    deadline: Option<Instant>,
    pending: BTreeMap<TopicPartition, JobEntry>,
    done: BTreeMap<TopicPartition, Result<ListedOffset, LookupError>>,
}

#[derive(Debug)]
struct SentPart {
    partition: TopicPartition,
    topic_id: Uuid,
    epoch: u64,
    offset: i64,
}

#[derive(Debug)]
struct FetchInFlight {
    id: RequestId,
    parts: Vec<SentPart>,
}

/// A ListOffsets request: its broker and the (job, partition) entries.
#[derive(Debug)]
struct Lookup {
    node: i32,
    entries: Vec<(JobId, TopicPartition)>,
}

#[derive(Debug)]
struct Buffered {
    epoch: u64,
    records: FetchedRecords,
}

/// The consumer's state inside the [`Client`].
#[derive(Debug)]
pub(crate) struct ConsumerState {
    config: ConsumerConfig,
    retry_backoff: Duration,
    request_timeout_ms: i32,
    parts: BTreeMap<TopicPartition, PartState>,
    next_epoch: u64,
    /// The one fetch per broker node, queued or in flight.
    fetches: BTreeMap<i32, FetchInFlight>,
    /// No fetch to a node before this (its last throttle time).
    throttled: BTreeMap<i32, Instant>,
    buffered: VecDeque<Buffered>,
    jobs: BTreeMap<JobId, Job>,
    next_job: JobId,
    /// ListOffsets requests and the (job, partition) entries they carry.
    lookups: BTreeMap<RequestId, Lookup>,
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
            buffered: VecDeque::new(),
            jobs: BTreeMap::new(),
            next_job: 0,
            lookups: BTreeMap::new(),
        }
    }

    /// A partition's position (what a group member commits).
    pub(crate) fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.parts.get(tp)?.position
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

    /// Replaces the assignment (validated by the caller). New partitions
    /// get an offset lookup per `auto_offset_reset`, sent at the next pump.
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
        for tp in gone {
            if let Some(p) = self.parts.remove(&tp) {
                if let Some(job) = p.reset {
                    self.jobs.remove(&job);
                }
            }
            self.buffered.retain(|b| b.records.partition != tp);
        }
        for tp in wanted {
            if self.parts.contains_key(&tp) {
                continue;
            }
            metadata.track(&tp.topic);
            let epoch = self.epoch();
            self.parts.insert(tp.clone(), PartState::new(epoch));
            debug!(target: LOG, partition = %tp, "assigned");
            self.auto_reset(now, &tp, None, events);
        }
    }

    /// Moves a partition's position (assigned, checked by the caller).
    pub(crate) fn seek(&mut self, now: Instant, tp: &TopicPartition, to: SeekTo) {
        let epoch = self.epoch();
        let Some(p) = self.parts.get_mut(tp) else {
            return;
        };
        p.epoch = epoch;
        p.stopped = false;
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

    /// Starts a user lookup (validated by the caller).
    pub(crate) fn offsets_for(
        &mut self,
        now: Instant,
        id: RequestId,
        partitions: Vec<TopicPartition>,
        spec: OffsetSpec,
        deadline: Instant,
    ) {
        let pending = partitions
            .into_iter()
            .map(|tp| (tp, JobEntry::new(spec.wire(), now)))
            .collect();
        self.next_job += 1;
        self.jobs.insert(
            self.next_job,
            Job {
                kind: JobKind::User(id),
                deadline: Some(deadline),
                pending,
                done: BTreeMap::new(),
            },
        );
    }

    fn next_records(&self) -> Option<usize> {
        self.buffered.iter().position(|b| {
            self.parts
                .get(&b.records.partition)
                .is_some_and(|p| !p.paused && p.epoch == b.epoch)
        })
    }

    /// Hands out the next buffered records and moves the position.
    pub(crate) fn take_records(&mut self) -> Option<FetchedRecords> {
        let i = self.next_records()?;
        let b = self.buffered.remove(i)?;
        if let Some(p) = self.parts.get_mut(&b.records.partition) {
            p.position = Some(b.records.next_offset);
            p.buffered = false;
        }
        Some(b.records)
    }

    // ---- resets --------------------------------------------------------

    /// A partition needs a position: look it up per `auto_offset_reset`,
    /// or tell the application.
    fn auto_reset(
        &mut self,
        now: Instant,
        tp: &TopicPartition,
        out_of_range: Option<i64>,
        events: &mut VecDeque<Event>,
    ) {
        match self.config.auto_offset_reset {
            AutoOffsetReset::Earliest => self.start_reset(now, tp, OffsetSpec::Earliest),
            AutoOffsetReset::Latest => self.start_reset(now, tp, OffsetSpec::Latest),
            _ => {
                if let Some(p) = self.parts.get_mut(tp) {
                    p.stopped = true;
                    p.position = None;
                }
                events.push_back(Event::Consumer(ConsumerEvent::NeedsPosition {
                    partition: tp.clone(),
                    out_of_range,
                }));
            }
        }
    }

    fn start_reset(&mut self, now: Instant, tp: &TopicPartition, spec: OffsetSpec) {
        let epoch = self.epoch();
        self.next_job += 1;
        let job = self.next_job;
        let Some(p) = self.parts.get_mut(tp) else {
            return;
        };
        if let Some(old) = p.reset.replace(job) {
            self.jobs.remove(&old);
        }
        p.epoch = epoch;
        p.position = None;
        p.buffered = false;
        self.buffered.retain(|b| b.records.partition != *tp);
        self.jobs.insert(
            job,
            Job {
                kind: JobKind::Reset {
                    partition: tp.clone(),
                    epoch,
                },
                deadline: None,
                pending: BTreeMap::from([(tp.clone(), JobEntry::new(spec.wire(), now))]),
                done: BTreeMap::new(),
            },
        );
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
        let mut want_metadata = false;
        self.expire_jobs(now);
        self.throttled.retain(|_, t| *t > now);
        // Offset lookups, one request per leader.
        let mut groups: BTreeMap<i32, Vec<(JobId, TopicPartition, i64)>> = BTreeMap::new();
        for (job_id, job) in &self.jobs {
            for (tp, e) in &job.pending {
                if e.sent || e.not_before > now {
                    continue;
                }
                let Some(leader) = metadata.cache.leader_for(&tp.topic, tp.partition) else {
                    metadata.track(&tp.topic);
                    want_metadata = true;
                    continue;
                };
                let group = groups.entry(leader).or_default();
                // A partition appears once per request; a second lookup waits.
                if !group.iter().any(|(_, t, _)| t == tp) {
                    group.push((*job_id, tp.clone(), e.spec));
                }
            }
        }
        for (node, entries) in groups {
            let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
            for (_, tp, spec) in &entries {
                let epoch = leader_epoch(&metadata.cache, tp);
                topics.entry(&tp.topic).or_default().push(
                    ListOffsetsPartition::default()
                        .with_partition_index(tp.partition)
                        .with_current_leader_epoch(epoch)
                        .with_timestamp(*spec),
                );
            }
            let body = ListOffsetsRequest::default()
                .with_replica_id(-1)
                .with_isolation_level(self.config.isolation_level.wire())
                .with_timeout_ms(self.request_timeout_ms)
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(t, ps)| {
                            ListOffsetsTopic::default()
                                .with_name(t.to_string())
                                .with_partitions(ps)
                        })
                        .collect(),
                );
            let id = queue.next_id();
            for (job, tp, _) in &entries {
                if let Some(e) = self.jobs.get_mut(job).and_then(|j| j.pending.get_mut(tp)) {
                    e.sent = true;
                }
            }
            debug!(target: LOG, %id, node, partitions = entries.len(), "listing offsets");
            let entries = entries.into_iter().map(|(j, tp, _)| (j, tp)).collect();
            self.lookups.insert(id, Lookup { node, entries });
            queue.push(Outbound {
                id,
                target: Target::Node(node),
                body: body.into(),
                expires: now + api_timeout,
            });
        }
        // Fetches, one per leader without one outstanding.
        let mut fetch_groups: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
        for (tp, p) in &mut self.parts {
            if p.backoff_until.is_some_and(|t| t <= now) {
                p.backoff_until = None;
            }
            if !p.wants_fetch() || p.backoff_until.is_some() {
                continue;
            }
            let Some(leader) = metadata.cache.leader_for(&tp.topic, tp.partition) else {
                metadata.track(&tp.topic);
                want_metadata = true;
                continue;
            };
            if self.fetches.contains_key(&leader) || self.throttled.contains_key(&leader) {
                continue;
            }
            fetch_groups.entry(leader).or_default().push(tp.clone());
        }
        for (node, tps) in fetch_groups {
            let id = queue.next_id();
            let mut sent = Vec::with_capacity(tps.len());
            let mut topics: BTreeMap<String, (Uuid, Vec<FetchPartition>)> = BTreeMap::new();
            for tp in tps {
                let Some(p) = self.parts.get_mut(&tp) else {
                    continue;
                };
                let Some(offset) = p.position else { continue };
                p.fetching = Some(id);
                let topic_id = metadata.cache.topic(&tp.topic).map_or(Uuid::ZERO, |t| t.id);
                let max_bytes = p.max_bytes.unwrap_or(self.config.max_partition_fetch_bytes);
                topics
                    .entry(tp.topic.clone())
                    .or_insert_with(|| (topic_id, Vec::new()))
                    .1
                    .push(
                        FetchPartition::default()
                            .with_partition(tp.partition)
                            .with_current_leader_epoch(leader_epoch(&metadata.cache, &tp))
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(config::clamp_i32(max_bytes)),
                    );
                sent.push(SentPart {
                    topic_id,
                    epoch: p.epoch,
                    offset,
                    partition: tp,
                });
            }
            // Both the name and the id go in; the encoder keeps the one
            // the negotiated version has (ids from Fetch v13).
            let body = FetchRequest::default()
                .with_max_wait_ms(self.config.max_wait_ms())
                .with_min_bytes(config::clamp_i32(self.config.fetch_min_bytes))
                .with_max_bytes(config::clamp_i32(self.config.fetch_max_bytes))
                .with_isolation_level(self.config.isolation_level.wire())
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(name, (topic_id, ps))| {
                            FetchTopic::default()
                                .with_topic(name)
                                .with_topic_id(topic_id)
                                .with_partitions(ps)
                        })
                        .collect(),
                );
            debug!(target: LOG, %id, node, partitions = sent.len(), "fetching");
            self.fetches.insert(node, FetchInFlight { id, parts: sent });
            queue.push(Outbound {
                id,
                target: Target::Node(node),
                body: body.into(),
                expires: now + api_timeout,
            });
        }
        if want_metadata {
            metadata.request_update();
        }
    }

    /// Whether a queued (unsent) request of ours is no longer worth
    /// sending: its broker no longer leads one of its partitions.
    pub(crate) fn is_stale(&self, id: RequestId, cache: &ClusterMetadata) -> bool {
        let moved = |node: i32, tp: &TopicPartition| {
            cache.leader_for(&tp.topic, tp.partition) != Some(node)
        };
        if let Some(l) = self.lookups.get(&id) {
            return l.entries.iter().any(|(_, tp)| moved(l.node, tp));
        }
        self.fetches
            .iter()
            .any(|(node, f)| f.id == id && f.parts.iter().any(|s| moved(*node, &s.partition)))
    }

    /// A queued request was withdrawn before it was sent: its partitions
    /// go out again at once, to their new leaders.
    pub(crate) fn handle_cancelled(&mut self, id: RequestId) {
        if let Some(node) = self.fetch_node(id) {
            if let Some(f) = self.fetches.remove(&node) {
                self.release(&f);
            }
        } else if let Some(l) = self.lookups.remove(&id) {
            for (job, tp) in l.entries {
                if let Some(e) = self.jobs.get_mut(&job).and_then(|j| j.pending.get_mut(&tp)) {
                    e.sent = false;
                }
            }
        }
    }

    fn fetch_node(&self, id: RequestId) -> Option<i32> {
        self.fetches
            .iter()
            .find(|(_, f)| f.id == id)
            .map(|(n, _)| *n)
    }

    fn release(&mut self, f: &FetchInFlight) {
        for s in &f.parts {
            if let Some(p) = self.parts.get_mut(&s.partition) {
                if p.fetching == Some(f.id) {
                    p.fetching = None;
                }
            }
        }
    }

    /// When something waiting on time becomes possible: a backoff or a
    /// throttle ends for a fetchable partition, a lookup may be retried,
    /// a user lookup times out.
    pub(crate) fn poll_timeout(&self, now: Instant, cache: &ClusterMetadata) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| {
            if t > now {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for (tp, p) in &self.parts {
            if !p.wants_fetch() {
                continue;
            }
            if let Some(t) = p.backoff_until {
                consider(t);
            } else if let Some(t) = cache
                .leader_for(&tp.topic, tp.partition)
                .and_then(|l| self.throttled.get(&l))
            {
                consider(*t);
            }
        }
        for job in self.jobs.values() {
            let unsent = job.pending.values().filter(|e| !e.sent);
            for e in unsent {
                consider(e.not_before);
                if let Some(d) = job.deadline {
                    consider(d);
                }
            }
        }
        next
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
        if let Some(node) = self.fetch_node(inbound.id) {
            let Some(f) = self.fetches.remove(&node) else {
                return;
            };
            self.release(&f);
            match inbound.result {
                Ok(ResponseBody::Fetch(resp)) => {
                    self.handle_fetch(now, node, &f, resp, metadata, events)
                }
                Ok(other) => {
                    warn!(target: LOG, api = %other.api_key(), "unexpected response to Fetch");
                    self.back_off(now, &f);
                }
                Err(error) => {
                    debug!(target: LOG, node, %error, "fetch failed, retrying");
                    self.back_off(now, &f);
                    metadata.request_update();
                }
            }
        } else if let Some(lookup) = self.lookups.remove(&inbound.id) {
            self.handle_lookup(now, lookup.entries, inbound.result, metadata);
            self.finish_jobs(now, events);
        }
    }

    fn back_off(&mut self, now: Instant, f: &FetchInFlight) {
        let until = now + self.retry_backoff;
        for s in &f.parts {
            if let Some(p) = self.parts.get_mut(&s.partition) {
                p.backoff_until = Some(until);
            }
        }
    }

    fn handle_fetch(
        &mut self,
        now: Instant,
        node: i32,
        f: &FetchInFlight,
        resp: FetchResponse,
        metadata: &mut MetadataState,
        events: &mut VecDeque<Event>,
    ) {
        if resp.throttle_time_ms > 0 {
            let delay = Duration::from_millis(resp.throttle_time_ms as u64);
            debug!(target: LOG, node, ?delay, "fetch throttled");
            self.throttled.insert(node, now + delay);
        }
        if let Err(code) = ErrorCode::check(resp.error_code) {
            debug!(target: LOG, node, ?code, "fetch failed as a whole, retrying");
            self.back_off(now, f);
            return;
        }
        // Answers name topics by id from Fetch v13, by name before.
        let by_id: HashMap<(Uuid, i32), &SentPart> = f
            .parts
            .iter()
            .map(|s| ((s.topic_id, s.partition.partition), s))
            .collect();
        let by_name: HashMap<(&str, i32), &SentPart> = f
            .parts
            .iter()
            .map(|s| ((s.partition.topic.as_str(), s.partition.partition), s))
            .collect();
        for topic in resp.responses {
            for pd in topic.partitions {
                let sent = if topic.topic_id != Uuid::ZERO {
                    by_id.get(&(topic.topic_id, pd.partition_index))
                } else {
                    by_name.get(&(topic.topic.as_str(), pd.partition_index))
                };
                if let Some(sent) = sent {
                    self.handle_partition(now, sent, pd, metadata, events);
                }
            }
        }
    }

    fn handle_partition(
        &mut self,
        now: Instant,
        sent: &SentPart,
        pd: kafka_proto::messages::fetch_response::PartitionData,
        metadata: &mut MetadataState,
        events: &mut VecDeque<Event>,
    ) {
        let options = self.decode_options();
        let read_committed = self.config.isolation_level == IsolationLevel::ReadCommitted;
        let tp = &sent.partition;
        let Some(p) = self.parts.get_mut(tp) else {
            return;
        };
        if p.epoch != sent.epoch || p.position != Some(sent.offset) {
            return;
        }
        let code = ErrorCode::from_code(pd.error_code);
        match code {
            ErrorCode::None => {}
            ErrorCode::OffsetOutOfRange => {
                debug!(target: LOG, partition = %tp, offset = sent.offset, "offset out of range");
                let tp = tp.clone();
                self.auto_reset(now, &tp, Some(sent.offset), events);
                return;
            }
            ErrorCode::NotLeaderOrFollower
            | ErrorCode::UnknownTopicOrPartition
            | ErrorCode::FencedLeaderEpoch
            | ErrorCode::UnknownLeaderEpoch
            | ErrorCode::UnknownTopicId
            | ErrorCode::InconsistentTopicId
            | ErrorCode::LeaderNotAvailable
            | ErrorCode::ReplicaNotAvailable
            | ErrorCode::KafkaStorageError
            | ErrorCode::OffsetNotAvailable => {
                debug!(target: LOG, partition = %tp, ?code, "leadership changed, refreshing metadata");
                metadata.request_update();
                p.backoff_until = Some(now + self.retry_backoff);
                return;
            }
            code if code.is_retriable() => {
                debug!(target: LOG, partition = %tp, ?code, "fetch error, retrying");
                p.backoff_until = Some(now + self.retry_backoff);
                return;
            }
            code => {
                warn!(target: LOG, partition = %tp, ?code, "fetch failed, partition stopped");
                p.stopped = true;
                events.push_back(Event::Consumer(ConsumerEvent::PartitionFailed {
                    partition: tp.clone(),
                    offset: sent.offset,
                    error: FetchError::Broker(code),
                }));
                return;
            }
        }
        p.high_watermark = (pd.high_watermark >= 0).then_some(pd.high_watermark);
        p.last_stable = (pd.last_stable_offset >= 0).then_some(pd.last_stable_offset);
        let data = pd.records.unwrap_or_default();
        let aborted =
            read_committed.then(|| pd.aborted_transactions.as_deref().unwrap_or_default());
        let scan = records::scan(&data, sent.offset, aborted, options);
        if let Some(need) = scan.needs_bytes {
            if need > self.config.fetch_max_bytes {
                p.stopped = true;
                events.push_back(Event::Consumer(ConsumerEvent::PartitionFailed {
                    partition: tp.clone(),
                    offset: sent.offset,
                    error: FetchError::RecordTooLarge(need),
                }));
                return;
            }
            debug!(target: LOG, partition = %tp, need, "batch larger than the partition fetch size");
            p.max_bytes = Some(need);
        } else if scan.next_offset.is_some() {
            p.max_bytes = None;
        }
        match scan.next_offset {
            Some(next) if !scan.visible.is_empty() => {
                p.buffered = true;
                let records = FetchedRecords::new(
                    tp.clone(),
                    &data,
                    &scan,
                    sent.offset,
                    next,
                    p.high_watermark,
                    options.max_decompressed_size,
                );
                self.buffered.push_back(Buffered {
                    epoch: sent.epoch,
                    records,
                });
            }
            // Only control batches or aborted data: nothing to hand out,
            // but the position moves past it.
            Some(next) => p.position = Some(next),
            None => {}
        }
        if let Some((offset, error)) = scan.corrupt {
            warn!(target: LOG, partition = %tp, offset, %error, "corrupt batch, partition stopped");
            p.stopped = true;
            events.push_back(Event::Consumer(ConsumerEvent::PartitionFailed {
                partition: tp.clone(),
                offset,
                error: FetchError::Corrupt(error),
            }));
        }
    }

    fn handle_lookup(
        &mut self,
        now: Instant,
        entries: Vec<(JobId, TopicPartition)>,
        result: Result<ResponseBody, RequestError>,
        metadata: &mut MetadataState,
    ) {
        let resp: Option<ListOffsetsResponse> = match result {
            Ok(ResponseBody::ListOffsets(r)) => Some(r),
            Ok(_) => None,
            Err(RequestError::Closed) => {
                for (job, tp) in entries {
                    self.conclude(job, &tp, Err(LookupError::Request(RequestError::Closed)));
                }
                return;
            }
            Err(error) => {
                debug!(target: LOG, %error, "offset lookup failed, retrying");
                None
            }
        };
        let mut refresh = resp.is_none();
        for (job, tp) in entries {
            let answer = resp.as_ref().and_then(|r| {
                r.topics
                    .iter()
                    .filter(|t| t.name == tp.topic)
                    .flat_map(|t| &t.partitions)
                    .find(|p| p.partition_index == tp.partition)
            });
            let outcome = match answer.map(|a| (a, ErrorCode::from_code(a.error_code))) {
                Some((a, ErrorCode::None)) => {
                    let offset = if a.offset >= 0 {
                        Some(a.offset)
                    } else {
                        a.old_style_offsets.first().copied().filter(|o| *o >= 0)
                    };
                    Ok(Ok(ListedOffset {
                        offset,
                        timestamp: (a.timestamp >= 0).then_some(a.timestamp),
                        leader_epoch: (a.leader_epoch >= 0).then_some(a.leader_epoch),
                    }))
                }
                Some((_, code)) if code.is_retriable() => Err(Some(code)),
                Some((_, code)) => Ok(Err(LookupError::Broker(code))),
                None => Err(None),
            };
            match outcome {
                Ok(result) => self.conclude(job, &tp, result),
                Err(code) => {
                    refresh = true;
                    let backoff = self.retry_backoff;
                    let Some(j) = self.jobs.get_mut(&job) else {
                        continue;
                    };
                    if let Some(e) = j.pending.get_mut(&tp) {
                        e.sent = false;
                        e.not_before = now + backoff;
                        e.last_error = code.or(e.last_error);
                    }
                }
            }
        }
        if refresh {
            metadata.request_update();
        }
    }

    fn conclude(
        &mut self,
        job: JobId,
        tp: &TopicPartition,
        result: Result<ListedOffset, LookupError>,
    ) {
        if let Some(j) = self.jobs.get_mut(&job) {
            if j.pending.remove(tp).is_some() {
                j.done.insert(tp.clone(), result);
            }
        }
    }

    /// Unsent user lookups past their deadline fail with a timeout.
    fn expire_jobs(&mut self, now: Instant) {
        for job in self.jobs.values_mut() {
            if job.deadline.is_none_or(|d| d > now) {
                continue;
            }
            let expired: Vec<TopicPartition> = job
                .pending
                .iter()
                .filter(|(_, e)| !e.sent)
                .map(|(tp, _)| tp.clone())
                .collect();
            for tp in expired {
                if let Some(e) = job.pending.remove(&tp) {
                    job.done.insert(tp, Err(LookupError::Timeout(e.last_error)));
                }
            }
        }
    }

    /// Reports finished user lookups and applies finished resets.
    pub(crate) fn finish_jobs(&mut self, now: Instant, events: &mut VecDeque<Event>) {
        self.expire_jobs(now);
        let finished: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.pending.is_empty())
            .map(|(id, _)| *id)
            .collect();
        for id in finished {
            let Some(job) = self.jobs.remove(&id) else {
                continue;
            };
            match job.kind {
                JobKind::User(req) => {
                    events.push_back(Event::Consumer(ConsumerEvent::OffsetsListed {
                        id: req,
                        offsets: job.done,
                    }))
                }
                JobKind::Reset { partition, epoch } => {
                    let Some(result) = job.done.into_values().next() else {
                        continue;
                    };
                    self.apply_reset(now, id, &partition, epoch, result, events);
                }
            }
        }
    }

    fn apply_reset(
        &mut self,
        now: Instant,
        job: JobId,
        tp: &TopicPartition,
        epoch: u64,
        result: Result<ListedOffset, LookupError>,
        events: &mut VecDeque<Event>,
    ) {
        let Some(p) = self.parts.get_mut(tp) else {
            return;
        };
        if p.epoch != epoch || p.reset != Some(job) {
            return;
        }
        p.reset = None;
        match result {
            Ok(ListedOffset {
                offset: Some(offset),
                ..
            }) => {
                debug!(target: LOG, partition = %tp, offset, "position reset");
                p.position = Some(offset);
                events.push_back(Event::Consumer(ConsumerEvent::PositionReset {
                    partition: tp.clone(),
                    offset,
                }));
            }
            // No record at or after the timestamp: the end of the log.
            Ok(_) => self.start_reset(now, tp, OffsetSpec::Latest),
            Err(error) => {
                p.stopped = true;
                events.push_back(Event::Consumer(ConsumerEvent::PartitionFailed {
                    partition: tp.clone(),
                    offset: p.position.unwrap_or(-1),
                    error: FetchError::Lookup(error),
                }));
            }
        }
    }
}

impl JobEntry {
    fn new(spec: i64, now: Instant) -> Self {
        Self {
            spec,
            not_before: now,
            sent: false,
            last_error: None,
        }
    }
}

fn leader_epoch(cache: &ClusterMetadata, tp: &TopicPartition) -> i32 {
    cache
        .partition(&tp.topic, tp.partition)
        .map_or(-1, |p| p.leader_epoch.max(-1))
}
