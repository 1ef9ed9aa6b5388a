//! The producer's state machine: the record accumulator, idempotence
//! bookkeeping, Produce requests and their outcomes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_proto::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_proto::messages::produce_response::PartitionProduceResponse;
use kafka_proto::messages::{ProduceRequest, ProduceResponse};
use kafka_proto::record::{BatchHeaderMut, BatchOptions, RecordBatchBuilder};
use kafka_proto::{ErrorCode, ResponseBody, Uuid};
use tracing::{debug, trace, warn};

use super::config::{Acks, PartitionerChoice, ProducerConfig};
use super::idempotence::ProducerIdState;
use super::partitioner::partition_for_key;
use super::{DeliveryId, DeliveryReport, InvalidRecord, ProduceError, ProducerRecord, SendError};
use crate::error::RequestError;
use crate::machine::{Ctx, SubMachine};
use crate::metadata::{ClusterMetadata, MetadataState, TopicMetadata};
use crate::rng::Rng;
use crate::router::{Inbound, Outbound, RequestId, Target};
use crate::{Event, TopicPartition};

const LOG: &str = "kafka_state::producer";
/// Size of a v2 batch header: every batch costs this on top of its records.
pub(crate) const BATCH_OVERHEAD: usize = 61;
/// Retry delays vary by ±20%.
const RETRY_JITTER: f64 = 0.2;

/// One record held by the producer.
#[derive(Debug)]
struct Rec {
    id: DeliveryId,
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Vec<(String, Option<Bytes>)>,
    timestamp: i64,
    size: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BatchState {
    /// Waiting to be sent (first time or again).
    Queued,
    /// Part of the Produce request with this id.
    InFlight(RequestId),
}

/// Producer id, epoch and base sequence a batch was encoded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    producer_id: i64,
    epoch: i16,
    seq: i32,
}

#[derive(Debug)]
struct Batch {
    uid: u64,
    records: Recs,
    /// Estimated encoded size of the records, header included.
    size: usize,
    created: Instant,
    /// The first record's delivery deadline.
    deadline: Instant,
    /// Still takes records (the newest batch, not lingered out nor sent).
    open: bool,
    state: BatchState,
    /// Set at first send with idempotence; kept across retries.
    stamp: Option<Stamp>,
    /// The encoded batch, so a retry resends the same bytes.
    encoded: Option<Bytes>,
    attempts: u32,
    /// Sequences restart here, at this sequence, once nothing of the
    /// partition is in flight (after a rejected batch left a gap, or an
    /// epoch bump).
    restart_seq: Option<i32>,
    /// The broker rejected this batch's sequence while it was the first
    /// unacknowledged one: an epoch bump is due unless later
    /// acknowledgements prove it written.
    broken: bool,
    /// Sent before and not acknowledged: while such a batch is
    /// outstanding no new batch of the partition goes, so the broker's
    /// window of five recent batches still holds it when it is resent.
    retried: bool,
    /// An attempt got no answer: the broker may have written it.
    maybe_written: bool,
}

/// A batch's records in fixed-size chunks: a batch may hold thousands of
/// records, and growing one vector by doubling copied each record several
/// times (with large batches, through fresh mappings each time).
#[derive(Debug, Default)]
struct Recs {
    chunks: Vec<Vec<Rec>>,
    len: usize,
}

impl Recs {
    const CHUNK: usize = 256;

    fn push(&mut self, r: Rec) {
        match self.chunks.last_mut() {
            Some(c) if c.len() < c.capacity() => c.push(r),
            _ => {
                // The first chunk starts small: most batches under light
                // load hold a handful of records.
                let cap = if self.chunks.is_empty() {
                    16
                } else {
                    Self::CHUNK
                };
                let mut c = Vec::with_capacity(cap);
                c.push(r);
                self.chunks.push(c);
            }
        }
        self.len += 1;
    }

    fn len(&self) -> usize {
        self.len
    }

    fn iter(&self) -> impl Iterator<Item = &Rec> {
        self.chunks.iter().flatten()
    }

    fn into_vec(self) -> Vec<Rec> {
        let mut v = Vec::with_capacity(self.len);
        for c in self.chunks {
            v.extend(c);
        }
        v
    }

    fn from_vec(v: Vec<Rec>) -> Self {
        let len = v.len();
        Self {
            chunks: vec![v],
            len,
        }
    }
}

impl IntoIterator for Recs {
    type Item = Rec;
    type IntoIter = std::iter::Flatten<std::vec::IntoIter<Vec<Rec>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.chunks.into_iter().flatten()
    }
}

impl Batch {
    fn record_count(&self) -> i32 {
        i32::try_from(self.records.len()).unwrap_or(i32::MAX)
    }
}

#[derive(Debug, Default)]
struct PartitionState {
    /// Unacknowledged batches in send order.
    batches: VecDeque<Batch>,
    /// Batches of `batches` in flight.
    in_flight: usize,
    /// No send before this (retry backoff).
    retry_at: Option<Instant>,
    /// The producer id and epoch this partition's sequences belong to.
    producer: Option<(i64, i16)>,
    next_seq: i32,
    /// The broker has acknowledged a batch under `producer`. Until then a
    /// broker with no state for us accepts any sequence, so a later batch
    /// could overtake a failed first one: one batch in flight only.
    confirmed: bool,
    /// The last sequence acknowledged under `producer`.
    last_acked: Option<i32>,
}

impl PartitionState {
    fn position(&self, uid: u64) -> Option<usize> {
        self.batches.iter().position(|b| b.uid == uid)
    }

    fn restart_pending(&self) -> bool {
        self.batches
            .iter()
            .any(|b| b.restart_seq.is_some() || b.broken)
    }
}

/// A record whose topic's partitions are not known yet.
#[derive(Debug)]
struct Waiting {
    id: DeliveryId,
    record: ProducerRecord,
    size: usize,
    deadline: Instant,
}

#[derive(Debug)]
struct TopicState {
    /// Shared with every delivery report of the topic.
    name: Arc<str>,
    waiting: VecDeque<Waiting>,
    partitions: BTreeMap<i32, PartitionState>,
    /// The sticky partition for records without key (KIP-480) and whether
    /// a record went to it since it was chosen.
    sticky: Option<i32>,
    sticky_used: bool,
}

impl TopicState {
    fn new(name: Arc<str>) -> Self {
        Self {
            name,
            waiting: VecDeque::new(),
            partitions: BTreeMap::new(),
            sticky: None,
            sticky_used: false,
        }
    }
}

/// One batch of a Produce request.
#[derive(Debug)]
struct SentBatch {
    topic: Arc<str>,
    topic_id: Uuid,
    partition: i32,
    uid: u64,
}

/// A Produce request being assembled: its size, batches and their bytes.
type NodeRequest = (usize, Vec<SentBatch>, Vec<(Arc<str>, Uuid, i32, Bytes)>);

#[derive(Debug)]
struct SentRequest {
    node: i32,
    batches: Vec<SentBatch>,
}

/// What one batch's Produce outcome means.
enum Outcome {
    Written {
        base_offset: i64,
        append_time: i64,
    },
    Error {
        code: ErrorCode,
        message: Option<String>,
    },
    /// No answer (connection lost, timeout): it may or may not be written.
    Unknown,
    Closed,
}

/// The producer inside a [`Client`](crate::Client).
pub(crate) struct ProducerState {
    config: ProducerConfig,
    request_timeout: Duration,
    rng: Rng,
    next_delivery: u64,
    next_batch: u64,
    topics: BTreeMap<String, TopicState>,
    buffered: usize,
    pending: usize,
    requests: BTreeMap<RequestId, SentRequest>,
    throttled: BTreeMap<i32, Instant>,
    pid: ProducerIdState,
    flushing: bool,
    buffer_blocked: bool,
}

impl std::fmt::Debug for ProducerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerState")
            .field("pending", &self.pending)
            .field("buffered", &self.buffered)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// Errors after which the partition's leader may have moved.
fn stale_metadata(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NotLeaderOrFollower
            | ErrorCode::UnknownTopicOrPartition
            | ErrorCode::LeaderNotAvailable
            | ErrorCode::FencedLeaderEpoch
            | ErrorCode::UnknownLeaderEpoch
            | ErrorCode::KafkaStorageError
            | ErrorCode::UnknownTopicId
    )
}

impl ProducerState {
    pub(crate) fn new(config: ProducerConfig, request_timeout: Duration, seed: u64) -> Self {
        Self {
            config,
            request_timeout,
            rng: Rng::new(seed ^ 0x7072_6f64_7563_6572),
            next_delivery: 0,
            next_batch: 0,
            topics: BTreeMap::new(),
            buffered: 0,
            pending: 0,
            requests: BTreeMap::new(),
            throttled: BTreeMap::new(),
            pid: ProducerIdState::new(),
            flushing: false,
            buffer_blocked: false,
        }
    }

    pub(crate) fn pending_records(&self) -> usize {
        self.pending
    }

    pub(crate) fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    pub(crate) fn producer_id(&self) -> Option<(i64, i16)> {
        self.current_pid()
    }

    fn idempotent(&self) -> bool {
        self.config.enable_idempotence
    }

    fn current_pid(&self) -> Option<(i64, i16)> {
        if self.idempotent() {
            self.pid.current()
        } else {
            None
        }
    }

    // ---- commands -----------------------------------------------------

    /// Queues a record and places it in a batch when its topic's
    /// partitions are known. Also returns whether the client must pump:
    /// only when a batch opened or closed, the record waits for metadata,
    /// or a flush is running. A record that joins an open batch changes
    /// nothing a pump would act on, and skipping the pump keeps the cost
    /// of a send independent of how many batches are queued. (A deadline
    /// that passes meanwhile is still reported by `poll_timeout`.)
    pub(crate) fn send(
        &mut self,
        now: Instant,
        record: ProducerRecord,
        metadata: &mut MetadataState,
        events: &mut VecDeque<Event>,
    ) -> Result<(DeliveryId, bool), SendError> {
        // A topic already held passed the name check (and is tracked):
        // only the record's own fields are checked again.
        let known = self.topics.contains_key(&*record.topic);
        let size = record.estimated_size();
        let checked = if known {
            self.config.check_record_sized(&record, size)
        } else {
            crate::admin::check_topic_name(&record.topic)
                .map_err(InvalidRecord::Topic)
                .and_then(|()| self.config.check_record_sized(&record, size))
        };
        if let Err(reason) = checked {
            return Err(SendError::Invalid {
                record: Box::new(record),
                reason,
            });
        }
        if self.buffered + size > self.config.buffer_memory {
            self.buffer_blocked = true;
            return Err(SendError::BufferFull(Box::new(record)));
        }
        self.next_delivery += 1;
        let id = DeliveryId(self.next_delivery);
        self.buffered += size;
        self.pending += 1;
        if !known {
            metadata.track(&record.topic);
        }
        let deadline = now + self.config.delivery_timeout;
        trace!(target: LOG, %id, topic = %record.topic, size, "record queued");
        let w = Waiting {
            id,
            record,
            size,
            deadline,
        };
        let changed = self.place(w, now, &metadata.cache, events);
        Ok((id, changed || self.flushing))
    }

    pub(crate) fn flush(&mut self, events: &mut VecDeque<Event>) {
        if self.pending == 0 {
            events.push_back(Event::FlushComplete);
        } else {
            self.flushing = true;
        }
    }

    /// Fails every record still held: the client is closing.
    pub(crate) fn fail_all(&mut self, events: &mut VecDeque<Event>) {
        self.requests.clear();
        let topics = std::mem::take(&mut self.topics);
        for (topic, mut t) in topics {
            for w in t.waiting.drain(..) {
                self.report(events, w.id, w.size, Err(ProduceError::Closed));
            }
            for (partition, ps) in t.partitions {
                for b in ps.batches {
                    self.fail_batch_records(events, &topic, partition, b, ProduceError::Closed);
                }
            }
        }
    }

    // ---- placing records ----------------------------------------------

    /// The topic map and, borrowed apart from it, what placing a record
    /// needs: a topic's state is then worked on in place.
    fn split(&mut self, now: Instant) -> (&mut BTreeMap<String, TopicState>, Placer<'_>) {
        (
            &mut self.topics,
            Placer {
                config: &self.config,
                rng: &mut self.rng,
                next_batch: &mut self.next_batch,
                now,
            },
        )
    }

    /// Puts a new record into a batch right away when its topic's
    /// partitions are known and none of the topic's records wait before
    /// it (the common case: no queue, no second lookup); otherwise queues
    /// it behind them. Returns whether anything but joining an open batch
    /// happened.
    fn place(
        &mut self,
        w: Waiting,
        now: Instant,
        cache: &ClusterMetadata,
        events: &mut VecDeque<Event>,
    ) -> bool {
        let meta = cache.topic(&w.record.topic).filter(|m| placeable(m));
        let (topics, mut placer) = self.split(now);
        let t = match topics.get_mut(&*w.record.topic) {
            Some(t) => t,
            None => topics
                .entry(w.record.topic.to_string())
                .or_insert_with(|| TopicState::new(Arc::clone(&w.record.topic))),
        };
        match meta {
            Some(meta) if t.waiting.is_empty() => {
                match placer.choose_partition(t, &w.record, w.size, meta) {
                    Ok(p) => placer.append(t, p, w),
                    Err(e) => {
                        self.report(events, w.id, w.size, Err(e));
                        true
                    }
                }
            }
            _ => {
                let topic = Arc::clone(&w.record.topic);
                t.waiting.push_back(w);
                self.assign_topic(&topic, now, cache, events)
            }
        }
    }

    /// Moves a topic's waiting records into partition batches once its
    /// partitions are known; fails those past their deadline otherwise.
    /// Returns whether anything but joining an open batch happened.
    fn assign_topic(
        &mut self,
        topic: &str,
        now: Instant,
        cache: &ClusterMetadata,
        events: &mut VecDeque<Event>,
    ) -> bool {
        let meta = cache.topic(topic);
        let (topics, mut placer) = self.split(now);
        let Some(t) = topics.get_mut(topic) else {
            return false;
        };
        let mut changed = false;
        // Reported once the topic is let go of; empty (no allocation)
        // unless something failed.
        let mut failed = Vec::new();
        match meta.filter(|m| placeable(m)) {
            Some(meta) => {
                while let Some(w) = t.waiting.pop_front() {
                    match placer.choose_partition(t, &w.record, w.size, meta) {
                        Ok(p) => changed |= placer.append(t, p, w),
                        Err(e) => failed.push((w.id, w.size, e)),
                    }
                }
            }
            None => {
                changed = true;
                let known_error = meta.map(|m| m.error).filter(|e| e.is_error());
                while t.waiting.front().is_some_and(|w| w.deadline <= now) {
                    let Some(w) = t.waiting.pop_front() else {
                        break;
                    };
                    let error = match known_error {
                        Some(code) => ProduceError::Broker {
                            code,
                            message: None,
                        },
                        None => ProduceError::Timeout,
                    };
                    debug!(target: LOG, id = %w.id, topic, %error, "no metadata for topic within delivery timeout");
                    failed.push((w.id, w.size, error));
                }
            }
        }
        for (id, size, error) in failed {
            changed = true;
            self.report(events, id, size, Err(error));
        }
        changed
    }

    // ---- driving ------------------------------------------------------

    /// Places waiting records, fails those past their delivery timeout and
    /// forgets backoffs and throttles that ended: what is due at `now`.
    fn expire(&mut self, now: Instant, cache: &ClusterMetadata, events: &mut VecDeque<Event>) {
        let names: Vec<String> = self
            .topics
            .iter()
            .filter(|(_, t)| !t.waiting.is_empty())
            .map(|(n, _)| n.clone())
            .collect();
        for name in &names {
            self.assign_topic(name, now, cache, events);
        }
        self.expire_batches(now, events);
        // Ended ones would be reported by `poll_timeout` forever.
        self.throttled.retain(|_, t| *t > now);
        for t in self.topics.values_mut() {
            for ps in t.partitions.values_mut() {
                if ps.retry_at.is_some_and(|r| r <= now) {
                    ps.retry_at = None;
                }
            }
        }
    }

    /// Does what is due, asks for a producer id if needed, and returns the
    /// leaders that have a batch to send.
    pub(crate) fn prepare(&mut self, ctx: &mut Ctx<'_>) -> BTreeSet<i32> {
        let now = ctx.now;
        self.expire(now, &ctx.metadata.cache, ctx.events);
        self.resolve_broken_sequences();
        if self.idempotent() && self.pending > 0 {
            self.pid.poll_request(now, ctx.requests, ctx.api_timeout);
        }
        let metadata = &mut *ctx.metadata;
        let linger = self.config.linger;
        let idempotent = self.idempotent();
        let mut wanted = BTreeSet::new();
        let mut need_metadata = false;
        for (topic, t) in &mut self.topics {
            for (partition, ps) in &mut t.partitions {
                // A lingered batch takes no more records.
                if let Some(b) = ps.batches.back_mut() {
                    if b.open && b.created + linger <= now {
                        b.open = false;
                    }
                }
                if next_sendable(ps, now, &self.config, self.flushing, idempotent).is_none() {
                    continue;
                }
                match metadata.cache.leader_for(topic, *partition) {
                    Some(node) if self.throttled.get(&node).is_none_or(|t| *t <= now) => {
                        wanted.insert(node);
                    }
                    Some(_) => {}
                    None => need_metadata = true,
                }
            }
        }
        if need_metadata {
            metadata.request_update();
        }
        self.finish_flush(ctx.events);
        wanted
    }

    fn expire_batches(&mut self, now: Instant, events: &mut VecDeque<Event>) {
        let mut expired = Vec::new();
        for (topic, t) in &mut self.topics {
            for (partition, ps) in &mut t.partitions {
                let mut i = 0;
                while i < ps.batches.len() {
                    let b = &ps.batches[i];
                    // Deadlines never decrease along the queue (set at
                    // placement from a monotonic clock; a split keeps its
                    // batch's), so the first queued batch not yet due ends
                    // the scan.
                    if b.state == BatchState::Queued && b.deadline > now {
                        break;
                    }
                    if b.state == BatchState::Queued {
                        if let Some(mut b) = ps.batches.remove(i) {
                            // A restart point moves on to the next batch.
                            if let (Some(seq), Some(next)) =
                                (b.restart_seq.take(), ps.batches.get_mut(i))
                            {
                                next.restart_seq.get_or_insert(seq);
                            }
                            expired.push((topic.clone(), *partition, b));
                        }
                    } else {
                        i += 1;
                    }
                }
            }
        }
        for (topic, partition, b) in expired {
            debug!(target: LOG, %topic, partition, records = b.records.len(), "batch expired");
            self.fail_batch_records(events, &topic, partition, b, ProduceError::Timeout);
        }
    }

    /// For each partition idle with a broken sequence: if the broker has
    /// since acknowledged that sequence or later, the batch was written and
    /// is simply resent (answered as a duplicate); otherwise the epoch is
    /// bumped and the partition's sequences start over at 0 (KIP-360).
    fn resolve_broken_sequences(&mut self) {
        let mut bump = Vec::new();
        for (topic, t) in &mut self.topics {
            for (partition, ps) in &mut t.partitions {
                if ps.in_flight > 0 {
                    continue;
                }
                let Some(pos) = ps.batches.iter().position(|b| b.broken) else {
                    continue;
                };
                let last_acked = ps.last_acked;
                let b = &mut ps.batches[pos];
                b.broken = false;
                let written = match (b.stamp, last_acked) {
                    (Some(st), Some(acked)) => st.seq <= acked,
                    _ => false,
                };
                if written {
                    continue;
                }
                b.restart_seq = Some(0);
                ps.producer = None;
                bump.push(TopicPartition::new(topic.clone(), *partition));
            }
        }
        // One bump for all: every partition restarts its sequences under
        // the new epoch.
        if let Some(tp) = bump.first() {
            warn!(target: LOG, %tp, partitions = bump.len(), "sequence broken, bumping epoch");
            self.pid.bump_epoch();
        }
    }

    /// Builds at most one Produce request per ready leader, each with the
    /// next batch of every partition it leads.
    pub(crate) fn drain(&mut self, ctx: &mut Ctx<'_>, ready: &BTreeSet<i32>) {
        let now = ctx.now;
        let cache = &ctx.metadata.cache;
        if ready.is_empty() {
            return;
        }
        let pid = self.current_pid();
        let idempotent = self.idempotent();
        if idempotent && pid.is_none() {
            return;
        }
        let mut per_node: BTreeMap<i32, NodeRequest> = BTreeMap::new();
        let mut failed = Vec::new();
        let topic_names: Vec<Arc<str>> =
            self.topics.values().map(|t| Arc::clone(&t.name)).collect();
        for topic in topic_names {
            let topic_id = cache.topic(&topic).map_or(Uuid::default(), |m| m.id);
            let partitions: Vec<i32> = self
                .topics
                .get(&*topic)
                .map(|t| t.partitions.keys().copied().collect())
                .unwrap_or_default();
            for partition in partitions {
                let Some(node) = cache
                    .leader_for(&topic, partition)
                    .filter(|n| ready.contains(n))
                else {
                    continue;
                };
                let sendable = self
                    .topics
                    .get(&*topic)
                    .and_then(|t| t.partitions.get(&partition))
                    .and_then(|ps| next_sendable(ps, now, &self.config, self.flushing, idempotent));
                if sendable.is_none() {
                    continue;
                }
                let entry = per_node.entry(node).or_default();
                let max = self.config.max_request_size;
                let (compression, flushing) = (self.config.compression, self.flushing);
                let Some(ps) = self
                    .topics
                    .get_mut(&*topic)
                    .and_then(|t| t.partitions.get_mut(&partition))
                else {
                    continue;
                };
                let Some(idx) = next_sendable(ps, now, &self.config, flushing, idempotent) else {
                    continue;
                };
                if let Some((producer_id, epoch)) = pid {
                    apply_restart(ps, (producer_id, epoch));
                }
                let Some(b) = ps.batches.get_mut(idx) else {
                    continue;
                };
                let stamp = match (pid, b.stamp) {
                    (None, _) => None,
                    (Some(_), Some(s)) => Some(s),
                    (Some(_), None) => {
                        let (producer_id, epoch) = ps.producer.or(pid).unwrap_or((-1, -1));
                        let s = Stamp {
                            producer_id,
                            epoch,
                            seq: ps.next_seq,
                        };
                        ps.producer = Some((producer_id, epoch));
                        ps.next_seq = next_sequence(ps.next_seq, b.record_count());
                        b.stamp = Some(s);
                        Some(s)
                    }
                };
                let bytes = match encode_batch(b, stamp, compression) {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        if let Some(b) = ps.batches.remove(idx) {
                            failed.push((topic.clone(), partition, b, e));
                        }
                        continue;
                    }
                };
                if !entry.1.is_empty() && entry.0 + bytes.len() > max {
                    continue;
                }
                entry.0 += bytes.len();
                b.open = false;
                b.state = BatchState::InFlight(RequestId(0));
                ps.in_flight += 1;
                entry.1.push(SentBatch {
                    topic: topic.clone(),
                    topic_id,
                    partition,
                    uid: b.uid,
                });
                entry.2.push((topic.clone(), topic_id, partition, bytes));
            }
        }
        for (topic, partition, b, e) in failed {
            self.fail_batch_records(ctx.events, &topic, partition, b, ProduceError::Encode(e));
        }
        let acks = self.config.acks;
        for (node, (_, sent, data)) in per_node {
            if sent.is_empty() {
                continue;
            }
            let id = ctx.requests.next_id();
            for s in &sent {
                if let Some(b) = self.batch_mut(&s.topic, s.partition, s.uid) {
                    b.state = BatchState::InFlight(id);
                }
            }
            let mut topic_data: Vec<TopicProduceData> = Vec::new();
            for (topic, topic_id, partition, bytes) in data {
                let pd = PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(bytes));
                match topic_data.iter_mut().find(|t| *t.name == *topic) {
                    Some(t) => t.partition_data.push(pd),
                    None => topic_data.push(
                        TopicProduceData::default()
                            .with_name(topic.to_string())
                            .with_topic_id(topic_id)
                            .with_partition_data(vec![pd]),
                    ),
                }
            }
            trace!(target: LOG, %id, node, batches = sent.len(), "produce request");
            let body = ProduceRequest::default()
                .with_acks(acks.wire())
                .with_timeout_ms(millis(self.request_timeout))
                .with_topic_data(topic_data);
            self.requests.insert(
                id,
                SentRequest {
                    node,
                    batches: sent,
                },
            );
            ctx.requests.push(Outbound {
                id,
                target: Target::Node(node),
                body: body.into(),
                expires: now + self.request_timeout,
            });
        }
    }

    fn batch_mut(&mut self, topic: &str, partition: i32, uid: u64) -> Option<&mut Batch> {
        let ps = self.topics.get_mut(topic)?.partitions.get_mut(&partition)?;
        let i = ps.position(uid)?;
        ps.batches.get_mut(i)
    }

    /// The earliest instant at which something here becomes due, passed
    /// or not: each of these is acted on (and so cleared) by a pump.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let linger = self.config.linger;
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| {
            if next.is_none_or(|n| t < n) {
                next = Some(t);
            }
        };
        // The id is fetched only while records wait for it.
        if self.idempotent() && self.pending > 0 {
            if let Some(t) = self.pid.poll_timeout() {
                consider(t);
            }
        }
        for t in self.throttled.values() {
            consider(*t);
        }
        for t in self.topics.values() {
            if let Some(w) = t.waiting.front() {
                consider(w.deadline);
            }
            for ps in t.partitions.values() {
                if let Some(r) = ps.retry_at {
                    consider(r);
                }
                // The first queued batch has the earliest deadline (see
                // `expire_batches`).
                if let Some(b) = ps.batches.iter().find(|b| b.state == BatchState::Queued) {
                    consider(b.deadline);
                }
                if let Some(b) = ps.batches.back().filter(|b| b.open) {
                    consider(b.created + linger);
                }
            }
        }
        next
    }

    // ---- outcomes -----------------------------------------------------

    pub(crate) fn handle_response(&mut self, ctx: &mut Ctx<'_>, inbound: Inbound) {
        let now = ctx.now;
        let (metadata, events) = (&mut *ctx.metadata, &mut *ctx.events);
        if self.pid.is_request(inbound.id) {
            let (config, rng) = (&self.config, &mut self.rng);
            self.pid
                .handle_response(now, inbound.result, |n| backoff(config, rng, n));
            return;
        }
        let Some(req) = self.requests.remove(&inbound.id) else {
            return;
        };
        let resp = match inbound.result {
            Ok(ResponseBody::Produce(resp)) => Some(resp),
            Ok(other) => {
                warn!(target: LOG, api = %other.api_key(), "unexpected response to Produce");
                None
            }
            Err(RequestError::Closed) => {
                for s in req.batches {
                    self.complete(&s, Outcome::Closed, now, metadata, events);
                }
                return;
            }
            Err(e) => {
                debug!(target: LOG, id = %inbound.id, node = req.node, error = %e, "produce request failed");
                metadata.request_update();
                None
            }
        };
        let acks0 = self.config.acks == Acks::None;
        if let Some(r) = &resp {
            if r.throttle_time_ms > 0 {
                let until = now + Duration::from_millis(r.throttle_time_ms as u64);
                debug!(target: LOG, node = req.node, ms = r.throttle_time_ms, "throttled");
                self.throttled.insert(req.node, until);
            }
        }
        for s in req.batches {
            let outcome = match &resp {
                None => Outcome::Unknown,
                Some(_) if acks0 => Outcome::Written {
                    base_offset: -1,
                    append_time: -1,
                },
                Some(r) => match find_partition(r, &s) {
                    Some(p) => match ErrorCode::from_code(p.error_code) {
                        ErrorCode::None | ErrorCode::DuplicateSequenceNumber => Outcome::Written {
                            base_offset: p.base_offset,
                            append_time: p.log_append_time_ms,
                        },
                        code => Outcome::Error {
                            code,
                            message: p.error_message.clone(),
                        },
                    },
                    // The broker skipped a partition it was sent: no answer.
                    None => Outcome::Unknown,
                },
            };
            self.complete(&s, outcome, now, metadata, events);
        }
        self.finish_flush(events);
    }

    fn complete(
        &mut self,
        s: &SentBatch,
        outcome: Outcome,
        now: Instant,
        metadata: &mut MetadataState,
        events: &mut VecDeque<Event>,
    ) {
        let idempotent = self.idempotent();
        let Some(ps) = self
            .topics
            .get_mut(&*s.topic)
            .and_then(|t| t.partitions.get_mut(&s.partition))
        else {
            return;
        };
        let Some(idx) = ps.position(s.uid) else {
            return;
        };
        if matches!(ps.batches[idx].state, BatchState::InFlight(_)) {
            ps.in_flight = ps.in_flight.saturating_sub(1);
        }
        ps.batches[idx].state = BatchState::Queued;
        ps.batches[idx].retried = true;
        let tp = TopicPartition::new(s.topic.to_string(), s.partition);
        match outcome {
            Outcome::Written {
                base_offset,
                append_time,
            } => {
                let Some(b) = ps.batches.remove(idx) else {
                    return;
                };
                trace!(target: LOG, %tp, base_offset, records = b.records.len(), "batch written");
                if let Some(st) = b
                    .stamp
                    .filter(|st| Some((st.producer_id, st.epoch)) == ps.producer)
                {
                    ps.confirmed = true;
                    let last = next_sequence(st.seq, b.record_count() - 1);
                    ps.last_acked = Some(ps.last_acked.map_or(last, |l| l.max(last)));
                }
                for (i, r) in b.records.into_iter().enumerate() {
                    let offset = if base_offset >= 0 {
                        base_offset.saturating_add(i as i64)
                    } else {
                        -1
                    };
                    let timestamp = if append_time >= 0 {
                        append_time
                    } else {
                        r.timestamp
                    };
                    let report = DeliveryReport {
                        topic: s.topic.clone(),
                        partition: s.partition,
                        offset,
                        timestamp,
                    };
                    self.report(events, r.id, r.size, Ok(report));
                }
            }
            Outcome::Closed => {
                if let Some(b) = ps.batches.remove(idx) {
                    self.fail_batch_records(events, &s.topic, s.partition, b, ProduceError::Closed);
                }
            }
            Outcome::Error {
                code: code @ (ErrorCode::MessageTooLarge | ErrorCode::RecordListTooLarge),
                ..
            } if ps.batches[idx].records.len() > 1 => {
                let Some(b) = ps.batches.remove(idx) else {
                    return;
                };
                debug!(target: LOG, %tp, %code, records = b.records.len(), "splitting batch");
                let restart = b.stamp.map(|st| st.seq).or(b.restart_seq);
                let halves = split(b, &mut self.next_batch);
                for (k, mut h) in halves.into_iter().enumerate() {
                    if k == 0 {
                        h.restart_seq = restart;
                    }
                    ps.batches.insert(idx + k, h);
                }
            }
            Outcome::Error {
                code:
                    code @ (ErrorCode::OutOfOrderSequenceNumber
                    | ErrorCode::UnknownProducerId
                    | ErrorCode::InvalidProducerEpoch),
                ..
            } if idempotent => {
                let seq = ps.batches[idx].stamp.map(|st| st.seq);
                let behind = match (seq, ps.last_acked) {
                    (Some(seq), Some(acked)) => seq <= acked,
                    _ => false,
                };
                if behind {
                    // The broker acknowledged later sequences, so it has this
                    // batch: retry (a duplicate is answered with its offset)
                    // rather than write it again under a new epoch.
                    self.retry(now, &tp, s.uid, Some((code, None)), events);
                } else if ps.batches[idx].maybe_written {
                    // An earlier attempt may be in the log; writing it again
                    // under a new epoch could duplicate it. Report the error
                    // instead; the next batch finds out whether a gap is left.
                    if let Some(b) = ps.batches.remove(idx) {
                        warn!(target: LOG, %tp, %code, "sequence lost for a batch that may be written, failing it");
                        self.fail_batch_records(
                            events,
                            &s.topic,
                            s.partition,
                            b,
                            ProduceError::Broker {
                                code,
                                message: None,
                            },
                        );
                    }
                } else if idx == 0 && !ps.restart_pending() {
                    // The broker lost or never saw what precedes this batch.
                    // Decided once nothing is in flight: a later batch of the
                    // same response may still prove this one written.
                    debug!(target: LOG, %tp, %code, "sequence broken");
                    ps.batches[idx].broken = true;
                }
                // Otherwise an earlier batch is being retried: resend in order.
            }
            Outcome::Unknown => {
                ps.batches[idx].maybe_written = true;
                self.retry(now, &tp, s.uid, None, events);
            }
            Outcome::Error { code, message } => {
                if code.is_retriable() {
                    if stale_metadata(code) {
                        metadata.request_update();
                    }
                    self.retry(now, &tp, s.uid, Some((code, message)), events);
                    return;
                }
                let Some(mut b) = ps.batches.remove(idx) else {
                    return;
                };
                if idempotent {
                    // Refused, so not written: the next batch takes its sequence.
                    let restart = b.restart_seq.take().or(b.stamp.map(|st| st.seq));
                    if let (Some(seq), Some(next)) = (restart, ps.batches.get_mut(idx)) {
                        next.restart_seq.get_or_insert(seq);
                    } else if let Some(seq) = restart {
                        // Nothing follows: new batches continue from here.
                        if ps.in_flight == 0 {
                            ps.next_seq = seq;
                        }
                    }
                }
                debug!(target: LOG, %tp, %code, "batch failed");
                self.fail_batch_records(
                    events,
                    &s.topic,
                    s.partition,
                    b,
                    ProduceError::Broker { code, message },
                );
            }
        }
    }

    fn retry(
        &mut self,
        now: Instant,
        tp: &TopicPartition,
        uid: u64,
        error: Option<(ErrorCode, Option<String>)>,
        events: &mut VecDeque<Event>,
    ) {
        let Some(ps) = self
            .topics
            .get_mut(&tp.topic)
            .and_then(|t| t.partitions.get_mut(&tp.partition))
        else {
            return;
        };
        let Some(idx) = ps.position(uid) else { return };
        if ps.batches[idx].deadline <= now {
            if let Some(mut b) = ps.batches.remove(idx) {
                if let (Some(seq), Some(next)) = (b.restart_seq.take(), ps.batches.get_mut(idx)) {
                    next.restart_seq.get_or_insert(seq);
                }
                let error = match error {
                    Some((code, message)) => ProduceError::Broker { code, message },
                    None => ProduceError::Timeout,
                };
                self.fail_batch_records(events, &tp.topic, tp.partition, b, error);
            }
            return;
        }
        let attempts = {
            let b = &mut ps.batches[idx];
            b.attempts = b.attempts.saturating_add(1);
            b.attempts
        };
        let delay = backoff(&self.config, &mut self.rng, attempts);
        let Some(ps) = self
            .topics
            .get_mut(&tp.topic)
            .and_then(|t| t.partitions.get_mut(&tp.partition))
        else {
            return;
        };
        let at = now + delay;
        ps.retry_at = Some(ps.retry_at.map_or(at, |r| r.max(at)));
        debug!(target: LOG, %tp, attempts, ?delay, error = ?error.map(|e| e.0), "retrying batch");
    }

    fn fail_batch_records(
        &mut self,
        events: &mut VecDeque<Event>,
        topic: &str,
        partition: i32,
        b: Batch,
        error: ProduceError,
    ) {
        let _ = (topic, partition);
        for r in b.records {
            self.report(events, r.id, r.size, Err(error.clone()));
        }
    }

    fn report(
        &mut self,
        events: &mut VecDeque<Event>,
        id: DeliveryId,
        size: usize,
        result: Result<DeliveryReport, ProduceError>,
    ) {
        self.buffered = self.buffered.saturating_sub(size);
        self.pending = self.pending.saturating_sub(1);
        events.push_back(Event::Delivery { id, result });
        if self.buffer_blocked && self.buffered < self.config.buffer_memory {
            self.buffer_blocked = false;
            events.push_back(Event::BufferAvailable);
        }
    }

    fn finish_flush(&mut self, events: &mut VecDeque<Event>) {
        if self.flushing && self.pending == 0 {
            self.flushing = false;
            events.push_back(Event::FlushComplete);
        }
    }
}

impl SubMachine for ProducerState {
    fn poll_requests(&mut self, ctx: &mut Ctx<'_>) {
        let wanted = self.prepare(ctx);
        // Leaders without a ready connection get one asked for; their
        // batches wait for a later round or pump.
        let ready: BTreeSet<i32> = wanted.into_iter().filter(|n| ctx.node_ready(*n)).collect();
        self.drain(ctx, &ready);
    }

    fn handle_response(&mut self, ctx: &mut Ctx<'_>, inbound: Inbound) {
        ProducerState::handle_response(self, ctx, inbound);
    }

    fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        self.expire(ctx.now, &ctx.metadata.cache, ctx.events);
    }

    fn poll_timeout(&self, _now: Instant, _metadata: &MetadataState) -> Option<Instant> {
        ProducerState::poll_timeout(self)
    }

    fn shut_down(&mut self, ctx: &mut Ctx<'_>) {
        self.fail_all(ctx.events);
    }
}

/// The retry delay after `attempts` failures: `retry_backoff ·
/// 2^(attempts-1)`, capped at `retry_backoff_max`, then jittered.
fn backoff(config: &ProducerConfig, rng: &mut Rng, attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(31);
    let base = config
        .retry_backoff
        .saturating_mul(1u32 << exp)
        .min(config.retry_backoff_max);
    rng.jitter(base, RETRY_JITTER)
}

/// What placing a record needs besides the topic's own state; see
/// [`ProducerState::split`].
struct Placer<'a> {
    config: &'a ProducerConfig,
    rng: &'a mut Rng,
    next_batch: &'a mut u64,
    now: Instant,
}

/// A topic's records can go to partitions: its metadata names them.
fn placeable(meta: &TopicMetadata) -> bool {
    meta.error == ErrorCode::None && !meta.partitions.is_empty()
}

/// The largest batch: never over a request, nor over the whole buffer.
fn batch_limit(config: &ProducerConfig) -> usize {
    config
        .batch_size
        .min(config.max_request_size)
        .min(config.buffer_memory)
}

impl Placer<'_> {
    fn choose_partition(
        &mut self,
        t: &mut TopicState,
        record: &ProducerRecord,
        size: usize,
        meta: &TopicMetadata,
    ) -> Result<i32, ProduceError> {
        let count = i32::try_from(meta.partitions.len()).unwrap_or(i32::MAX);
        let check = |p: i32| {
            if (0..count).contains(&p) {
                Ok(p)
            } else {
                Err(ProduceError::InvalidPartition {
                    partition: p,
                    partitions: count,
                })
            }
        };
        if let Some(p) = record.partition {
            return check(p);
        }
        let available = || -> Vec<i32> {
            meta.partitions
                .iter()
                .filter(|p| p.leader.is_some())
                .map(|p| p.partition)
                .collect()
        };
        match &self.config.partitioner {
            PartitionerChoice::Custom(custom) => check(custom.partition(
                &record.topic,
                record.key.as_deref(),
                record.value.as_deref(),
                count,
                &available(),
            )),
            PartitionerChoice::Default => match &record.key {
                Some(key) => Ok(partition_for_key(key, count)),
                None => Ok(self.sticky_partition(t, size, count, available)),
            },
        }
    }

    /// KIP-480: keep the sticky partition while its newest batch can take
    /// the record; once that batch is sent or full, move to another one.
    fn sticky_partition(
        &mut self,
        t: &mut TopicState,
        size: usize,
        count: i32,
        available: impl FnOnce() -> Vec<i32>,
    ) -> i32 {
        let limit = batch_limit(self.config);
        if let Some(p) = t.sticky.filter(|p| *p < count) {
            let fits = t
                .partitions
                .get(&p)
                .and_then(|ps| ps.batches.back())
                .is_some_and(|b| b.open && b.size + size <= limit);
            if fits || !t.sticky_used {
                t.sticky_used = true;
                return p;
            }
        }
        // Only on a switch, once per batch: the common case allocates nothing.
        let available = available();
        let all: Vec<i32> = if available.is_empty() {
            (0..count).collect()
        } else {
            Vec::new()
        };
        let pool = if available.is_empty() {
            &all[..]
        } else {
            &available[..]
        };
        let others: Vec<i32> = pool
            .iter()
            .copied()
            .filter(|p| Some(*p) != t.sticky)
            .collect();
        let pool = if others.is_empty() { pool } else { &others[..] };
        let p = pool.get(self.rng.below(pool.len())).copied().unwrap_or(0);
        t.sticky = Some(p);
        t.sticky_used = true;
        p
    }

    /// Adds a record to the partition's open batch, or opens a new one
    /// (returning `true`).
    fn append(&mut self, t: &mut TopicState, partition: i32, w: Waiting) -> bool {
        let limit = batch_limit(self.config);
        let ps = t.partitions.entry(partition).or_default();
        let rec = Rec {
            id: w.id,
            timestamp: w.record.timestamp.unwrap_or(-1),
            key: w.record.key,
            value: w.record.value,
            headers: w.record.headers,
            size: w.size,
        };
        if let Some(b) = ps.batches.back_mut().filter(|b| b.open) {
            if b.size + w.size <= limit {
                b.size += w.size;
                b.records.push(rec);
                return false;
            }
            b.open = false;
        }
        *self.next_batch += 1;
        let mut records = Recs::default();
        records.push(rec);
        ps.batches.push_back(Batch {
            uid: *self.next_batch,
            records,
            size: BATCH_OVERHEAD + w.size,
            created: self.now,
            deadline: w.deadline,
            open: true,
            state: BatchState::Queued,
            stamp: None,
            encoded: None,
            attempts: 0,
            restart_seq: None,
            broken: false,
            retried: false,
            maybe_written: false,
        });
        true
    }
}

/// The index of the partition's batch to send next, if one may go now:
/// the first queued batch (all before it are in flight), ready (closed,
/// lingered, retried or flushed), with room in flight and no backoff.
fn next_sendable(
    ps: &PartitionState,
    now: Instant,
    config: &ProducerConfig,
    flushing: bool,
    idempotent: bool,
) -> Option<usize> {
    if ps.retry_at.is_some_and(|t| t > now) || ps.in_flight >= config.max_in_flight {
        return None;
    }
    // A sequence restart waits until nothing of the partition is in flight.
    if ps.in_flight > 0 && (ps.restart_pending() || (idempotent && !ps.confirmed)) {
        return None;
    }
    let idx = ps
        .batches
        .iter()
        .position(|b| b.state == BatchState::Queued)?;
    let b = &ps.batches[idx];
    let ready = !b.open || b.attempts > 0 || flushing || b.created + config.linger <= now;
    if !ready {
        return None;
    }
    if idempotent && !b.retried && ps.batches.iter().any(|o| o.retried) {
        return None;
    }
    Some(idx)
}

/// Applies a pending sequence restart (nothing is in flight when called
/// for a sendable batch) and moves an idle partition to the current epoch.
fn apply_restart(ps: &mut PartitionState, pid: (i64, i16)) {
    if ps.in_flight > 0 {
        return;
    }
    if let Some(pos) = ps.batches.iter().position(|b| b.restart_seq.is_some()) {
        let seq = ps.batches[pos].restart_seq.take().unwrap_or(0);
        for b in ps.batches.iter_mut().skip(pos) {
            b.stamp = None;
            b.restart_seq = None;
        }
        ps.next_seq = seq;
    }
    if ps.producer != Some(pid) && ps.batches.iter().all(|b| b.stamp.is_none()) {
        ps.producer = Some(pid);
        ps.next_seq = 0;
        ps.confirmed = false;
        ps.last_acked = None;
    }
}

/// Sequences wrap from `i32::MAX` to 0.
fn next_sequence(seq: i32, count: i32) -> i32 {
    let next = i64::from(seq) + i64::from(count);
    if next > i64::from(i32::MAX) {
        (next - i64::from(i32::MAX) - 1) as i32
    } else {
        next as i32
    }
}

fn encode_batch(
    b: &mut Batch,
    stamp: Option<Stamp>,
    compression: kafka_proto::record::Compression,
) -> Result<Bytes, String> {
    if let Some(bytes) = &b.encoded {
        let current = stamp.map(|s| (s.producer_id, s.epoch, s.seq));
        // Restamp a copy when a restart changed the sequence.
        let mut buf = BytesMut::from(&bytes[..]);
        let mut h = BatchHeaderMut::new(&mut buf).map_err(|e| e.to_string())?;
        let (pid, epoch, seq) = current.unwrap_or((-1, -1, -1));
        h.set_producer(pid, epoch, seq);
        let fresh = buf.freeze();
        if fresh == *bytes {
            return Ok(bytes.clone());
        }
        b.encoded = Some(fresh.clone());
        return Ok(fresh);
    }
    let mut options = BatchOptions {
        compression,
        ..BatchOptions::default()
    };
    if let Some(s) = stamp {
        options.producer_id = s.producer_id;
        options.producer_epoch = s.epoch;
        options.base_sequence = s.seq;
    }
    // `b.size` bounds the encoded size: one allocation for the batch.
    let mut builder = RecordBatchBuilder::with_buffer(BytesMut::with_capacity(b.size), options);
    for r in b.records.iter() {
        builder
            .append_with_headers(
                r.timestamp,
                r.key.as_deref(),
                r.value.as_deref(),
                r.headers.iter().map(|(k, v)| (k.as_str(), v.as_deref())),
            )
            .map_err(|e| e.to_string())?;
    }
    let bytes = builder.finish().map_err(|e| e.to_string())?;
    b.encoded = Some(bytes.clone());
    Ok(bytes)
}

/// Splits a batch the broker found too large into two halves.
fn split(b: Batch, next_uid: &mut u64) -> Vec<Batch> {
    let mut records = b.records.into_vec();
    let tail = records.split_off(records.len() / 2);
    [records, tail]
        .into_iter()
        .filter(|r| !r.is_empty())
        .map(|records| {
            *next_uid += 1;
            Batch {
                uid: *next_uid,
                size: BATCH_OVERHEAD + records.iter().map(|r| r.size).sum::<usize>(),
                records: Recs::from_vec(records),
                created: b.created,
                deadline: b.deadline,
                open: false,
                state: BatchState::Queued,
                stamp: None,
                encoded: None,
                attempts: b.attempts,
                restart_seq: None,
                broken: false,
                retried: true,
                maybe_written: false,
            }
        })
        .collect()
}

fn find_partition<'a>(
    r: &'a ProduceResponse,
    s: &SentBatch,
) -> Option<&'a PartitionProduceResponse> {
    r.responses
        .iter()
        .filter(|t| {
            (!t.name.is_empty() && *t.name == *s.topic)
                || (t.name.is_empty() && t.topic_id == s.topic_id)
        })
        .flat_map(|t| t.partition_responses.iter())
        .find(|p| p.index == s.partition)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::{Partitioner, ProducerRecord};
    use crate::router::RequestQueue;
    use kafka_proto::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_proto::messages::produce_response::TopicProduceResponse;
    use kafka_proto::messages::MetadataResponse;
    use std::sync::Arc;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[allow(clippy::disallowed_methods)] // a test needs some Instant to start from
    fn t0() -> Instant {
        Instant::now()
    }

    /// Metadata with topic `t` of `n` partitions, partition `p` led by node `p % 2`.
    fn metadata(now: Instant, n: i32) -> MetadataState {
        let resp = MetadataResponse::default()
            .with_brokers(
                (0..2)
                    .map(|b| {
                        MetadataResponseBroker::default()
                            .with_node_id(b)
                            .with_host("h".into())
                            .with_port(9092 + b)
                    })
                    .collect(),
            )
            .with_topics(vec![MetadataResponseTopic::default()
                .with_name(Some("t".into()))
                .with_partitions(
                    (0..n)
                        .map(|p| {
                            MetadataResponsePartition::default()
                                .with_partition_index(p)
                                .with_leader_id(p % 2)
                        })
                        .collect(),
                )]);
        let mut m = MetadataState::new(now, Duration::from_secs(300), MS(100));
        m.cache = ClusterMetadata::from_response(&resp);
        m
    }

    fn config(f: impl FnOnce(&mut ProducerConfig)) -> ProducerConfig {
        let mut c = ProducerConfig {
            enable_idempotence: false,
            ..ProducerConfig::default()
        };
        f(&mut c);
        c.validate(Duration::from_secs(30)).unwrap();
        c
    }

    /// A context over a fixture's fields, borrowed apart from its producer.
    macro_rules! ctx {
        ($f:ident) => {
            Ctx::new(
                $f.now,
                MS(60_000),
                &mut $f.m,
                &mut $f.q,
                &mut $f.events,
                &$f.ready,
                &mut $f.wanted,
            )
        };
    }

    struct Fixture {
        p: ProducerState,
        m: MetadataState,
        q: RequestQueue,
        events: VecDeque<Event>,
        now: Instant,
        /// Both brokers of `metadata` have a ready connection.
        ready: BTreeSet<i32>,
        wanted: BTreeSet<i32>,
    }

    impl Fixture {
        fn new(partitions: i32, f: impl FnOnce(&mut ProducerConfig)) -> Self {
            let now = t0();
            Self {
                p: ProducerState::new(config(f), Duration::from_secs(30), 7),
                m: metadata(now, partitions),
                q: RequestQueue::default(),
                events: VecDeque::new(),
                now,
                ready: BTreeSet::from([0, 1]),
                wanted: BTreeSet::new(),
            }
        }

        fn send(&mut self, r: ProducerRecord) -> Result<DeliveryId, SendError> {
            self.p
                .send(self.now, r, &mut self.m, &mut self.events)
                .map(|(id, _)| id)
        }

        fn value(&mut self, len: usize) -> DeliveryId {
            self.send(
                ProducerRecord::new("t")
                    .with_partition(0)
                    .with_value(vec![0u8; len]),
            )
            .unwrap()
        }

        /// Leaders with something to send now.
        fn wanted(&mut self) -> BTreeSet<i32> {
            self.p.prepare(&mut ctx!(self))
        }

        /// Drains to every wanted leader; returns the requests built.
        fn drain(&mut self) -> Vec<Outbound> {
            let ready = self.wanted();
            self.p.drain(&mut ctx!(self), &ready);
            self.q.queue.drain(..).collect()
        }

        fn partitions_with_batches(&self) -> Vec<i32> {
            self.p.topics["t"]
                .partitions
                .iter()
                .filter(|(_, ps)| !ps.batches.is_empty())
                .map(|(p, _)| *p)
                .collect()
        }

        /// Answers a Produce request: every partition written at `base`.
        fn answer(&mut self, req: &Outbound, base: i64) {
            let RequestBody::Produce(body) = &req.body else {
                panic!("not a produce request")
            };
            let resp = ProduceResponse::default().with_responses(
                body.topic_data
                    .iter()
                    .map(|t| {
                        TopicProduceResponse::default()
                            .with_name(t.name.clone())
                            .with_partition_responses(
                                t.partition_data
                                    .iter()
                                    .map(|p| {
                                        PartitionProduceResponse::default()
                                            .with_index(p.index)
                                            .with_base_offset(base)
                                            .with_log_append_time_ms(-1)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
            let inbound = Inbound {
                id: req.id,
                result: Ok(ResponseBody::Produce(resp)),
            };
            self.p.handle_response(&mut ctx!(self), inbound);
        }
    }

    use kafka_proto::RequestBody;

    #[test]
    fn a_batch_waits_for_linger_and_the_timer_says_when() {
        let mut f = Fixture::new(1, |c| c.linger = MS(20));
        f.value(10);
        assert!(f.wanted().is_empty(), "not lingered yet");
        assert_eq!(f.p.poll_timeout(), Some(f.now + MS(20)));
        f.now += MS(19);
        assert!(f.wanted().is_empty());
        f.now += MS(1);
        assert_eq!(f.wanted(), BTreeSet::from([0]));
        let reqs = f.drain();
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].target, Target::Node(0));
    }

    #[test]
    fn a_passed_deadline_is_still_reported_until_acted_on() {
        let mut f = Fixture::new(1, |c| c.linger = MS(20));
        let start = f.now;
        f.value(10);
        assert!(f.wanted().is_empty(), "not lingered yet");
        // Time runs past the linger with no pump: the deadline stays
        // reported, so a driver wakes at once instead of never.
        f.now += MS(500);
        assert_eq!(f.p.poll_timeout(), Some(start + MS(20)));
        assert_eq!(f.drain().len(), 1);
        // Sent: the linger deadline is gone; what remains is the delivery
        // timeout of the batch in flight, which is not reported.
        assert!(f.p.poll_timeout().is_none_or(|t| t > f.now));
    }

    #[test]
    fn a_retry_backoff_that_ended_is_not_reported_forever() {
        let mut f = Fixture::new(1, |c| c.linger = Duration::ZERO);
        f.value(10);
        let reqs = f.drain();
        assert_eq!(reqs.len(), 1);
        let inbound = Inbound {
            id: reqs[0].id,
            result: Err(RequestError::Timeout),
        };
        f.p.handle_response(&mut ctx!(f), inbound);
        let retry = f.p.poll_timeout().expect("a retry is scheduled");
        f.now = retry;
        assert_eq!(f.drain().len(), 1, "resent once the backoff ended");
        assert!(
            f.p.poll_timeout().is_none_or(|t| t > f.now),
            "the ended backoff is no longer a deadline"
        );
    }

    #[test]
    fn a_full_batch_goes_without_waiting_for_linger() {
        let mut f = Fixture::new(1, |c| {
            c.linger = Duration::from_secs(10);
            c.batch_size = 1024;
        });
        for _ in 0..3 {
            f.value(250);
        }
        assert!(f.wanted().is_empty(), "three records fit one batch");
        f.value(250);
        // The fourth did not fit: the first batch is closed and ready.
        let ps = &f.p.topics["t"].partitions[&0];
        assert_eq!(ps.batches.len(), 2);
        assert_eq!(ps.batches[0].records.len(), 3);
        let reqs = f.drain();
        assert_eq!(reqs.len(), 1);
        let RequestBody::Produce(body) = &reqs[0].body else {
            panic!()
        };
        let bytes = body.topic_data[0].partition_data[0]
            .records
            .clone()
            .unwrap();
        let batch = kafka_proto::record::Batches::new(bytes)
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(batch.header().record_count, 3);
        // The open batch still lingers.
        assert!(f.drain().is_empty());
    }

    #[test]
    fn buffer_memory_bounds_what_is_held_and_gives_records_back() {
        let mut f = Fixture::new(1, |c| {
            c.buffer_memory = 2048;
            c.batch_size = 1024;
            c.max_request_size = 1024;
        });
        let mut ids = Vec::new();
        let rejected = loop {
            let r = ProducerRecord::new("t").with_value(vec![1u8; 400]);
            match f.send(r.clone()) {
                Ok(id) => ids.push(id),
                Err(SendError::BufferFull(back)) => {
                    assert_eq!(*back, r);
                    break *back;
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(ids.len(), 4);
        assert!(f.p.buffered_bytes() <= 2048);
        f.now += MS(10);
        let reqs = f.drain();
        assert!(!reqs.is_empty());
        assert!(!f.events.contains(&Event::BufferAvailable));
        f.answer(&reqs[0], 0);
        assert!(f.events.contains(&Event::BufferAvailable));
        assert!(f.send(rejected).is_ok());
    }

    #[test]
    fn invalid_records_are_refused_and_given_back() {
        let mut f = Fixture::new(1, |c| c.max_request_size = 1024);
        let cases = [
            ProducerRecord::new(""),
            ProducerRecord::new("a b"),
            ProducerRecord::new("t").with_partition(-1),
            ProducerRecord::new("t").with_value(vec![0u8; 2000]),
            ProducerRecord::new("t").with_header("h", Some(vec![0u8; 2000].into())),
        ];
        for r in cases {
            match f.send(r.clone()) {
                Err(e @ SendError::Invalid { .. }) => assert_eq!(e.into_record(), r),
                other => panic!("{r:?}: {other:?}"),
            }
        }
        assert_eq!(f.p.pending_records(), 0);
        assert_eq!(f.p.buffered_bytes(), 0);
    }

    #[test]
    fn a_partition_the_topic_lacks_fails_the_record() {
        let mut f = Fixture::new(2, |_| {});
        let id = f.send(ProducerRecord::new("t").with_partition(5)).unwrap();
        assert_eq!(
            f.events.pop_front(),
            Some(Event::Delivery {
                id,
                result: Err(ProduceError::InvalidPartition {
                    partition: 5,
                    partitions: 2
                })
            })
        );
        assert_eq!(f.p.pending_records(), 0);
    }

    #[test]
    fn keyed_records_follow_murmur2() {
        let mut f = Fixture::new(6, |_| {});
        for k in 0..30 {
            let key = format!("key-{k}");
            f.send(ProducerRecord::new("t").with_key(key.clone()))
                .unwrap();
            let want = partition_for_key(key.as_bytes(), 6);
            let ps = &f.p.topics["t"].partitions[&want];
            let last = ps.batches.back().unwrap().records.iter().last().unwrap();
            assert_eq!(last.key.as_deref(), Some(key.as_bytes()));
        }
    }

    #[test]
    fn sticky_partitioner_stays_until_the_batch_leaves_then_moves() {
        let mut f = Fixture::new(4, |c| c.linger = MS(5));
        for _ in 0..10 {
            f.send(ProducerRecord::new("t").with_value("v")).unwrap();
        }
        let first = f.partitions_with_batches();
        assert_eq!(first.len(), 1, "unkeyed records stick to one partition");
        f.now += MS(5);
        assert!(!f.drain().is_empty());
        // The batch left: the next record moves to another partition.
        f.send(ProducerRecord::new("t").with_value("v")).unwrap();
        let sticky = f.p.topics["t"].sticky.unwrap();
        assert_ne!(sticky, first[0]);
        for _ in 0..5 {
            f.send(ProducerRecord::new("t").with_value("v")).unwrap();
        }
        assert_eq!(f.p.topics["t"].partitions[&sticky].batches.len(), 1);
        assert_eq!(
            f.p.topics["t"].partitions[&sticky].batches[0].records.len(),
            6
        );
    }

    #[test]
    fn sticky_partitioner_skips_partitions_without_a_leader() {
        let mut f = Fixture::new(4, |c| c.linger = MS(1));
        // Partitions 1 and 3 lose their leader.
        let resp = MetadataResponse::default()
            .with_brokers(vec![MetadataResponseBroker::default()
                .with_node_id(0)
                .with_host("h".into())
                .with_port(9092)])
            .with_topics(vec![MetadataResponseTopic::default()
                .with_name(Some("t".into()))
                .with_partitions(
                    (0..4)
                        .map(|p| {
                            MetadataResponsePartition::default()
                                .with_partition_index(p)
                                .with_leader_id(if p % 2 == 0 { 0 } else { -1 })
                        })
                        .collect(),
                )]);
        f.m.cache = ClusterMetadata::from_response(&resp);
        let mut chosen = BTreeSet::new();
        for _ in 0..40 {
            f.send(ProducerRecord::new("t").with_value("v")).unwrap();
            chosen.insert(f.p.topics["t"].sticky.unwrap());
            f.now += MS(1);
            f.drain();
        }
        assert_eq!(
            chosen,
            BTreeSet::from([0, 2]),
            "only partitions with a leader"
        );
    }

    struct Last;

    impl Partitioner for Last {
        fn partition(&self, _: &str, _: Option<&[u8]>, _: Option<&[u8]>, n: i32, _: &[i32]) -> i32 {
            n - 1
        }
    }

    #[test]
    fn a_custom_partitioner_decides() {
        let mut f = Fixture::new(3, |c| {
            c.partitioner = PartitionerChoice::Custom(Arc::new(Last))
        });
        f.send(ProducerRecord::new("t").with_key("k")).unwrap();
        f.send(ProducerRecord::new("t")).unwrap();
        assert_eq!(f.partitions_with_batches(), vec![2]);
    }

    #[test]
    fn records_wait_for_metadata_in_send_order() {
        let mut f = Fixture::new(1, |_| {});
        f.m.cache = ClusterMetadata::default();
        let a = f.send(ProducerRecord::new("t").with_partition(0)).unwrap();
        let b = f.send(ProducerRecord::new("t").with_partition(0)).unwrap();
        assert_eq!(f.p.topics["t"].waiting.len(), 2);
        f.m = metadata(f.now, 1);
        f.wanted();
        let ps = &f.p.topics["t"].partitions[&0];
        let ids: Vec<DeliveryId> = ps.batches[0].records.iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![a, b]);
    }

    #[test]
    fn config_validation() {
        let t = Duration::from_secs(30);
        let ok = ProducerConfig::default();
        assert!(ok.validate(t).is_ok());
        let bad = [
            ProducerConfig {
                acks: Acks::Leader,
                ..ProducerConfig::default()
            },
            ProducerConfig {
                max_in_flight: 6,
                ..ProducerConfig::default()
            },
            ProducerConfig {
                max_in_flight: 0,
                enable_idempotence: false,
                ..ProducerConfig::default()
            },
            ProducerConfig {
                delivery_timeout: Duration::from_secs(10),
                ..ProducerConfig::default()
            },
            ProducerConfig {
                batch_size: 0,
                ..ProducerConfig::default()
            },
        ];
        for c in bad {
            assert!(c.validate(t).is_err(), "{c:?}");
        }
        let acks1 = ProducerConfig {
            acks: Acks::Leader,
            enable_idempotence: false,
            max_in_flight: 10,
            ..ProducerConfig::default()
        };
        assert!(acks1.validate(t).is_ok());
    }

    #[test]
    fn sequences_wrap() {
        assert_eq!(next_sequence(0, 5), 5);
        assert_eq!(next_sequence(i32::MAX, 1), 0);
        assert_eq!(next_sequence(i32::MAX - 1, 3), 1);
    }

    #[test]
    fn batch_records_keep_their_order_across_chunks() {
        let rec = |n: u64| Rec {
            id: DeliveryId(n),
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp: 0,
            size: 1,
        };
        let mut r = Recs::default();
        for n in 0..1000 {
            r.push(rec(n));
        }
        assert_eq!(r.len(), 1000);
        assert!(r.chunks.len() > 1 && r.chunks.iter().all(|c| c.len() <= Recs::CHUNK));
        assert!(r.iter().map(|x| x.id.0).eq(0..1000));
        let v = r.into_vec();
        assert!(v.iter().map(|x| x.id.0).eq(0..1000));
        let r = Recs::from_vec(v);
        assert_eq!(r.len(), 1000);
        assert!(r.into_iter().map(|x| x.id.0).eq(0..1000));
    }
}
