//! The record accumulator: records wait for their topic's partitions,
//! join a batch of their partition (chosen by key, by a custom
//! partitioner or stickily), and expire at their delivery timeout.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_proto::record::{DecodeOptions, RecordBatch};
use kafka_proto::ErrorCode;
use tracing::debug;

use super::config::{PartitionerChoice, ProducerConfig};
use super::partitioner::partition_for_key;
use super::state::ProducerState;
use super::{estimated_size, DeliveryId, ProduceError, ProducerRecord};
use crate::metadata::{ClusterMetadata, TopicMetadata};
use crate::rng::Rng;
use crate::router::RequestId;
use crate::Event;

const LOG: &str = "kafka_state::producer";

/// Size of a v2 batch header: every batch costs this on top of its records.
pub(crate) const BATCH_OVERHEAD: usize = 61;

/// One record held by the producer.
#[derive(Debug)]
pub(super) struct Rec {
    pub(super) id: DeliveryId,
    pub(super) key: Option<Bytes>,
    pub(super) value: Option<Bytes>,
    pub(super) headers: Vec<(String, Option<Bytes>)>,
    pub(super) timestamp: i64,
    pub(super) size: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BatchState {
    /// Waiting to be sent (first time or again).
    Queued,
    /// Part of the Produce request with this id.
    InFlight(RequestId),
}

/// Producer id, epoch and base sequence a batch was encoded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    pub(super) producer_id: i64,
    pub(super) epoch: i16,
    pub(super) seq: i32,
}

#[derive(Debug)]
pub(super) struct Batch {
    pub(super) uid: u64,
    pub(super) records: Held,
    /// Estimated encoded size of the records, header included.
    pub(super) size: usize,
    pub(super) created: Instant,
    /// The first record's delivery deadline.
    pub(super) deadline: Instant,
    /// Still takes records (the newest batch, neither full nor sent).
    pub(super) open: bool,
    /// A pump found it lingered out: it may go, and its linger deadline is
    /// no longer reported. It stays open until it goes, so while its
    /// leader's connection is busy it keeps taking records rather than
    /// leave them to one more small batch behind it.
    pub(super) lingered: bool,
    pub(super) state: BatchState,
    /// Set at first send with idempotence; kept across retries.
    pub(super) stamp: Option<Stamp>,
    /// The encoded batch, so a retry resends the same bytes, and the
    /// stamp those bytes carry.
    pub(super) encoded: Option<(Bytes, Option<Stamp>)>,
    pub(super) attempts: u32,
    /// Sequences restart here, at this sequence, once nothing of the
    /// partition is in flight (after a rejected batch left a gap, or an
    /// epoch bump).
    pub(super) restart_seq: Option<i32>,
    /// The broker rejected this batch's sequence while it was the first
    /// unacknowledged one: an epoch bump is due unless later
    /// acknowledgements prove it written.
    pub(super) broken: bool,
    /// Sent before and not acknowledged: while such a batch is
    /// outstanding no new batch of the partition goes, so the broker's
    /// window of five recent batches still holds it when it is resent.
    pub(super) retried: bool,
    /// An attempt got no answer: the broker may have written it.
    pub(super) maybe_written: bool,
}

/// A batch's records in fixed-size chunks: a batch may hold thousands of
/// records, and growing one vector by doubling copied each record several
/// times (with large batches, through fresh mappings each time).
#[derive(Debug, Default)]
pub(super) struct Recs {
    pub(super) chunks: Vec<Vec<Rec>>,
    pub(super) len: usize,
}

impl Recs {
    pub(super) const CHUNK: usize = 256;
    const FIRST: usize = 16;

    pub(super) fn push(&mut self, r: Rec, spare: &mut Spare) {
        match self.chunks.last_mut() {
            Some(c) if c.len() < c.capacity() => c.push(r),
            _ => {
                // Chunks start small and double up to full size: most
                // batches under light load, or spread over many partitions,
                // hold a handful of records, and a full chunk for each of
                // a thousand partitions' batches is tens of megabytes.
                let next = self
                    .chunks
                    .last()
                    .map_or(Self::FIRST, |c| (c.capacity() * 2).min(Self::CHUNK));
                let mut c = if next >= Self::CHUNK {
                    spare.chunk()
                } else {
                    Vec::with_capacity(next)
                };
                c.push(r);
                self.chunks.push(c);
            }
        }
        self.len += 1;
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Rec> {
        self.chunks.iter().flatten()
    }

    pub(super) fn into_vec(self) -> Vec<Rec> {
        let mut v = Vec::with_capacity(self.len);
        for c in self.chunks {
            v.extend(c);
        }
        v
    }

    pub(super) fn from_vec(v: Vec<Rec>) -> Self {
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

/// What a batch keeps of its records.
///
/// Once a batch is encoded its bytes hold every key, value and header, so
/// the records themselves are let go: until the broker answers, each is
/// only the id and timestamp its report needs. A producer with many
/// records in flight would otherwise hold each twice (and an application's
/// owned values twice over), and the report list is built once, here,
/// rather than at the acknowledgement.
#[derive(Debug)]
pub(super) enum Held {
    /// Not yet encoded: the records whole.
    Records(Recs),
    /// Encoded: each record's id and timestamp, in batch order.
    Encoded(Vec<(DeliveryId, i64)>),
}

impl Held {
    pub(super) fn len(&self) -> usize {
        match self {
            Self::Records(r) => r.len(),
            Self::Encoded(e) => e.len(),
        }
    }

    /// The records' ids, in batch order.
    pub(super) fn ids(&self) -> impl Iterator<Item = DeliveryId> + '_ {
        let (whole, encoded) = match self {
            Self::Records(r) => (Some(r), None),
            Self::Encoded(e) => (None, Some(e)),
        };
        whole
            .into_iter()
            .flat_map(|r| r.iter().map(|r| r.id))
            .chain(encoded.into_iter().flatten().map(|&(id, _)| id))
    }
}

impl Batch {
    pub(super) fn record_count(&self) -> i32 {
        i32::try_from(self.records.len()).unwrap_or(i32::MAX)
    }

    /// The records' estimated sizes summed, the batch header left out.
    pub(super) fn records_size(&self) -> usize {
        self.size.saturating_sub(BATCH_OVERHEAD)
    }
}

#[derive(Debug, Default)]
pub(super) struct PartitionState {
    /// Unacknowledged batches in send order.
    pub(super) batches: VecDeque<Batch>,
    /// Batches of `batches` in flight.
    pub(super) in_flight: usize,
    /// No send before this (retry backoff).
    pub(super) retry_at: Option<Instant>,
    /// The producer id and epoch this partition's sequences belong to.
    pub(super) producer: Option<(i64, i16)>,
    pub(super) next_seq: i32,
    /// The broker has acknowledged a batch under `producer`. Until then a
    /// broker with no state for us accepts any sequence, so a later batch
    /// could overtake a failed first one: one batch in flight only.
    pub(super) confirmed: bool,
    /// The last sequence acknowledged under `producer`.
    pub(super) last_acked: Option<i32>,
}

impl PartitionState {
    pub(super) fn position(&self, uid: u64) -> Option<usize> {
        self.batches.iter().position(|b| b.uid == uid)
    }

    pub(super) fn restart_pending(&self) -> bool {
        self.batches
            .iter()
            .any(|b| b.restart_seq.is_some() || b.broken)
    }
}

/// A topic's partition states by partition number.
///
/// Records reach a partition in `0..count` only (checked before placing),
/// so the numbers are dense and a vector indexed by them finds a
/// partition in one step. A tree map cost a dozen dependent loads per
/// record with keyed records over a thousand partitions, a third of
/// placing one. A slot is about a hundred bytes, so the vector is bounded
/// by that times the topic's partition count.
#[derive(Debug, Default)]
pub(super) struct PartitionMap {
    slots: Vec<Option<PartitionState>>,
}

impl PartitionMap {
    /// The partition's state, created empty if it has none yet.
    /// `partition` is in the topic's `0..count`: the placer checks every
    /// choice against it before a record gets here.
    pub(super) fn entry(&mut self, partition: i32) -> &mut PartitionState {
        debug_assert!(partition >= 0, "partition {partition} was not checked");
        let i = usize::try_from(partition).unwrap_or(0);
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, || None);
        }
        self.slots[i].get_or_insert_with(PartitionState::default)
    }

    pub(super) fn get(&self, partition: i32) -> Option<&PartitionState> {
        let i = usize::try_from(partition).ok()?;
        self.slots.get(i)?.as_ref()
    }

    pub(super) fn get_mut(&mut self, partition: i32) -> Option<&mut PartitionState> {
        let i = usize::try_from(partition).ok()?;
        self.slots.get_mut(i)?.as_mut()
    }

    /// Partitions with a state, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (i32, &PartitionState)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i32::try_from(i).ok()?, s.as_ref()?)))
    }

    /// Partitions with a state, in order.
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (i32, &mut PartitionState)> {
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(|(i, s)| Some((i32::try_from(i).ok()?, s.as_mut()?)))
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &PartitionState> {
        self.slots.iter().flatten()
    }

    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut PartitionState> {
        self.slots.iter_mut().flatten()
    }

    pub(super) fn into_values(self) -> impl Iterator<Item = PartitionState> {
        self.slots.into_iter().flatten()
    }
}

/// A record whose topic's partitions are not known yet.
#[derive(Debug)]
pub(super) struct Waiting {
    pub(super) id: DeliveryId,
    pub(super) record: ProducerRecord,
    pub(super) size: usize,
    pub(super) deadline: Instant,
}

/// A topic's records waiting for its partitions, in fixed-size chunks.
///
/// A fast sender queues tens of thousands of records while the topic's
/// first metadata is on its way. One deque would double its way up to
/// that and keep the capacity for the producer's whole life; chunks are
/// freed as they empty, so what this holds stays in proportion to the
/// records counted against `buffer_memory`.
#[derive(Debug, Default)]
pub(super) struct WaitQueue {
    chunks: VecDeque<VecDeque<Waiting>>,
    len: usize,
}

impl WaitQueue {
    const CHUNK: usize = 256;

    pub(super) fn push_back(&mut self, w: Waiting) {
        match self.chunks.back_mut() {
            Some(c) if c.len() < Self::CHUNK => c.push_back(w),
            _ => {
                // Most topics have their metadata before a handful of
                // records arrive: the first chunk starts small.
                let cap = if self.chunks.is_empty() {
                    8
                } else {
                    Self::CHUNK
                };
                let mut c = VecDeque::with_capacity(cap);
                c.push_back(w);
                self.chunks.push_back(c);
            }
        }
        self.len += 1;
    }

    pub(super) fn pop_front(&mut self) -> Option<Waiting> {
        let c = self.chunks.front_mut()?;
        let w = c.pop_front();
        if c.is_empty() {
            self.chunks.pop_front();
        }
        if w.is_some() {
            self.len -= 1;
        }
        w
    }

    pub(super) fn front(&self) -> Option<&Waiting> {
        self.chunks.front().and_then(VecDeque::front)
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    pub(super) fn chunks(&self) -> usize {
        self.chunks.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Takes every waiting record out, in order.
    pub(super) fn take_all(&mut self) -> impl Iterator<Item = Waiting> {
        self.len = 0;
        std::mem::take(&mut self.chunks).into_iter().flatten()
    }
}

#[derive(Debug)]
pub(super) struct TopicState {
    /// Shared with every delivery report of the topic.
    pub(super) name: Arc<str>,
    pub(super) waiting: WaitQueue,
    pub(super) partitions: PartitionMap,
    /// The sticky partition for records without key (KIP-480) and whether
    /// a record went to it since it was chosen.
    pub(super) sticky: Option<i32>,
    pub(super) sticky_used: bool,
    /// The metadata's change count at which the topic was last seen with
    /// partitions to place records in, and how many. While the count is
    /// unchanged the metadata is too, so a send needs no lookup of it.
    pub(super) placeable_at: Option<(u64, i32)>,
}

impl TopicState {
    pub(super) fn new(name: Arc<str>) -> Self {
        Self {
            name,
            waiting: WaitQueue::default(),
            partitions: PartitionMap::default(),
            sticky: None,
            sticky_used: false,
            placeable_at: None,
        }
    }

    /// The topic's partition count, if the metadata is still as it was
    /// when the topic was last seen placeable (`changes`: its current
    /// change count).
    pub(super) fn placeable_count(&self, changes: u64) -> Option<i32> {
        self.placeable_at
            .filter(|(at, _)| *at == changes)
            .map(|(_, count)| count)
    }
}

/// Memory of written batches kept for the next ones: full-size record
/// chunks and encode buffers. Under a steady stream every batch needs the
/// same memory the last one gave back; taking it from here instead of the
/// allocator saves the page faults of memory the allocator had already
/// returned to the system (a sixth of the producer's CPU before). Bounded,
/// so an idle producer holds at most about 2 MiB of record chunks and two
/// batch buffers.
#[derive(Debug, Default)]
pub(super) struct Spare {
    chunks: Vec<Vec<Rec>>,
    buffers: Vec<BytesMut>,
}

impl Spare {
    /// Chunks kept: about two full 1 MB batches of 100-byte records.
    const CHUNKS: usize = 64;
    const BUFFERS: usize = 2;

    /// An empty chunk of `Recs::CHUNK` records.
    fn chunk(&mut self) -> Vec<Rec> {
        self.chunks
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(Recs::CHUNK))
    }

    /// An empty buffer of at least `size` bytes.
    pub(super) fn buffer(&mut self, size: usize) -> BytesMut {
        match self.buffers.pop() {
            Some(b) if b.capacity() >= size => b,
            _ => BytesMut::with_capacity(size),
        }
    }

    /// Chunks and buffers held.
    #[cfg(test)]
    pub(super) fn held(&self) -> (usize, usize) {
        (self.chunks.len(), self.buffers.len())
    }

    /// Takes back what a batch that is done with held: its full-size
    /// chunks (their records dropped) and its encoded bytes once nothing
    /// else shares them.
    pub(super) fn keep(&mut self, b: Batch) {
        if let Held::Records(r) = b.records {
            self.keep_chunks(r);
        }
        if self.buffers.len() < Self::BUFFERS {
            if let Some(Ok(mut buf)) = b.encoded.map(|(bytes, _)| bytes.try_into_mut()) {
                buf.clear();
                self.buffers.push(buf);
            }
        }
    }
}

impl Spare {
    /// Takes back the full-size chunks of records let go.
    pub(super) fn keep_chunks(&mut self, r: Recs) {
        for mut c in r.chunks {
            if c.capacity() == Recs::CHUNK && self.chunks.len() < Self::CHUNKS {
                c.clear();
                self.chunks.push(c);
            }
        }
    }
}

/// What placing a record needs besides the topic's own state; see
/// `ProducerState::placer`.
pub(super) struct Placer<'a> {
    pub(super) config: &'a ProducerConfig,
    pub(super) rng: &'a mut Rng,
    pub(super) next_batch: &'a mut u64,
    pub(super) spare: &'a mut Spare,
    pub(super) now: Instant,
}

/// A topic's records can go to partitions: its metadata names them.
fn placeable(meta: &TopicMetadata) -> bool {
    meta.error == ErrorCode::None && !meta.partitions.is_empty()
}

/// A topic's partition count as a partition number's type.
fn partition_count(meta: &TopicMetadata) -> i32 {
    i32::try_from(meta.partitions.len()).unwrap_or(i32::MAX)
}

/// The partitions with a leader, in order.
pub(super) fn available(meta: Option<&TopicMetadata>) -> Vec<i32> {
    meta.map(|m| {
        m.partitions
            .iter()
            .filter(|p| p.leader.is_some())
            .map(|p| p.partition)
            .collect()
    })
    .unwrap_or_default()
}

/// How long after its first record a batch still takes records: its
/// linger, or a hundredth of the delivery timeout if that is longer, so a
/// batch waiting for a busy connection keeps growing (a request takes
/// one batch per partition, and a batch closed at linger would leave the
/// records behind it to ever smaller batches).
pub(super) fn joining_slack(config: &ProducerConfig) -> Duration {
    config.linger.max(config.delivery_timeout / 100)
}

/// The largest batch: never over a request, nor over the whole buffer.
pub(super) fn batch_limit(config: &ProducerConfig) -> usize {
    config
        .batch_size
        .min(config.max_request_size)
        .min(config.buffer_memory)
}

/// What placing a record did to its partition's batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Placed {
    /// It joined the open batch: nothing a pump would act on.
    Joined,
    /// It opened a batch where none was open: that batch has nothing to
    /// do until it has lingered.
    Opened,
    /// It found the open batch full, which closed it (so it may go now),
    /// and opened the next.
    Closed,
}

impl Placer<'_> {
    /// Puts a record into a batch of the partition chosen for it: what
    /// that did (see `append`), or why no partition takes it.
    pub(super) fn put(
        &mut self,
        t: &mut TopicState,
        w: Waiting,
        count: i32,
        available: impl FnOnce(&str) -> Vec<i32>,
    ) -> Result<Placed, (DeliveryId, usize, ProduceError)> {
        match self.choose_partition(t, &w.record, w.size, count, available) {
            Ok(p) => Ok(self.append(t, p, w)),
            Err(e) => Err((w.id, w.size, e)),
        }
    }

    /// `available` lists the topic's partitions with a leader; it is
    /// called only when a choice needs them (a custom partitioner, a
    /// sticky switch).
    fn choose_partition(
        &mut self,
        t: &mut TopicState,
        record: &ProducerRecord,
        size: usize,
        count: i32,
        available: impl FnOnce(&str) -> Vec<i32>,
    ) -> Result<i32, ProduceError> {
        let available = || available(&record.topic);
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
                // Checked too: the sticky choice comes from the broker's
                // list of partitions.
                None => check(self.sticky_partition(t, size, count, available)),
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
                .get(p)
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

    /// Adds a record to the partition's open batch, or opens a new one.
    pub(super) fn append(&mut self, t: &mut TopicState, partition: i32, w: Waiting) -> Placed {
        let limit = batch_limit(self.config);
        let ps = t.partitions.entry(partition);
        let rec = Rec {
            id: w.id,
            timestamp: w.record.timestamp.unwrap_or(-1),
            key: w.record.key,
            value: w.record.value,
            headers: w.record.headers,
            size: w.size,
        };
        let mut placed = Placed::Opened;
        if let Some(b) = ps.batches.back_mut().filter(|b| b.open) {
            // A batch times out with its first record, so one that waits
            // long for its connection stops taking records: none is
            // reported timed out more than `joining_slack` early.
            if b.size + w.size <= limit && w.deadline <= b.deadline + joining_slack(self.config) {
                if let Held::Records(r) = &mut b.records {
                    b.size += w.size;
                    r.push(rec, self.spare);
                    return Placed::Joined;
                }
                // An encoded batch takes no more: it is closed already.
            }
            b.open = false;
            placed = Placed::Closed;
        }
        *self.next_batch += 1;
        let mut records = Recs::default();
        records.push(rec, self.spare);
        ps.batches.push_back(Batch {
            uid: *self.next_batch,
            records: Held::Records(records),
            size: BATCH_OVERHEAD + w.size,
            created: self.now,
            deadline: w.deadline,
            open: true,
            lingered: false,
            state: BatchState::Queued,
            stamp: None,
            encoded: None,
            attempts: 0,
            restart_seq: None,
            broken: false,
            retried: false,
            maybe_written: false,
        });
        placed
    }
}

/// Splits a batch the broker found too large into two halves.
///
/// An encoded batch let its records go, so they are read back from its
/// bytes; that fails only if those bytes are not the batch encoded here.
pub(super) fn split(b: Batch, next_uid: &mut u64) -> Result<Vec<Batch>, Box<(Batch, String)>> {
    let mut records = match b.records {
        Held::Records(r) => r.into_vec(),
        Held::Encoded(ref reports) => match read_back(&b, reports) {
            Ok(records) => records,
            Err(e) => return Err(Box::new((b, e))),
        },
    };
    let tail = records.split_off(records.len() / 2);
    Ok([records, tail]
        .into_iter()
        .filter(|r| !r.is_empty())
        .map(|records| {
            *next_uid += 1;
            Batch {
                uid: *next_uid,
                size: BATCH_OVERHEAD + records.iter().map(|r| r.size).sum::<usize>(),
                records: Held::Records(Recs::from_vec(records)),
                created: b.created,
                deadline: b.deadline,
                open: false,
                lingered: false,
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
        .collect())
}

/// An encoded batch's records, decoded from its bytes and matched with
/// their ids and timestamps. Keys and values share the batch's buffer (or
/// its inflated copy).
fn read_back(b: &Batch, reports: &[(DeliveryId, i64)]) -> Result<Vec<Rec>, String> {
    let Some((bytes, _)) = &b.encoded else {
        return Err("the batch's bytes are gone".into());
    };
    let mut options = DecodeOptions::default();
    // The records' estimated sizes bound what the batch inflates to.
    options.max_decompressed_size = options.max_decompressed_size.max(b.size);
    let batch = RecordBatch::decode(&mut bytes.clone(), &options).map_err(|e| e.to_string())?;
    let mut records = Vec::with_capacity(reports.len());
    let mut decoded = batch.records().map_err(|e| e.to_string())?;
    for &(id, timestamp) in reports {
        let r = match decoded.next() {
            Some(r) => r.map_err(|e| e.to_string())?,
            None => return Err("the encoded batch holds fewer records than were put in".into()),
        };
        let headers: Vec<(String, Option<Bytes>)> =
            r.headers.iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let size = estimated_size(r.key.as_ref(), r.value.as_ref(), &headers);
        records.push(Rec {
            id,
            key: r.key,
            value: r.value,
            headers,
            timestamp,
            size,
        });
    }
    if decoded.next().is_some() {
        return Err("the encoded batch holds more records than were put in".into());
    }
    Ok(records)
}

impl ProducerState {
    /// The topic map and, borrowed apart from it, what placing a record
    /// needs: a topic's state is then worked on in place.
    fn placer(&mut self, now: Instant) -> (&mut BTreeMap<String, TopicState>, Placer<'_>) {
        (
            &mut self.topics,
            Placer {
                config: &self.config,
                rng: &mut self.rng,
                next_batch: &mut self.next_batch,
                spare: &mut self.spare,
                now,
            },
        )
    }

    /// Puts a new record into a batch right away when its topic's
    /// partitions are known and none of the topic's records wait before
    /// it (the common case: no queue, no second lookup); otherwise queues
    /// it behind them. Returns whether anything but joining an open batch
    /// happened.
    pub(super) fn place(
        &mut self,
        w: Waiting,
        now: Instant,
        cache: &ClusterMetadata,
        events: &mut VecDeque<Event>,
    ) -> bool {
        let meta = cache.topic(&w.record.topic).filter(|m| placeable(m));
        let (topics, mut placer) = self.placer(now);
        let t = match topics.get_mut(&*w.record.topic) {
            Some(t) => t,
            None => topics
                .entry(w.record.topic.to_string())
                .or_insert_with(|| TopicState::new(Arc::clone(&w.record.topic))),
        };
        match meta {
            Some(meta) if t.waiting.is_empty() => {
                let count = partition_count(meta);
                t.placeable_at = Some((cache.changes(), count));
                match placer.put(t, w, count, |_| available(Some(meta))) {
                    Ok(placed) => placed != Placed::Joined,
                    Err((id, size, e)) => {
                        self.fail(events, id, size, e);
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
        let (topics, mut placer) = self.placer(now);
        let Some(t) = topics.get_mut(topic) else {
            return false;
        };
        let mut changed = false;
        // Reported once the topic is let go of; empty (no allocation)
        // unless something failed.
        let mut failed = Vec::new();
        match meta.filter(|m| placeable(m)) {
            Some(meta) => {
                let count = partition_count(meta);
                t.placeable_at = Some((cache.changes(), count));
                while let Some(w) = t.waiting.pop_front() {
                    match placer.put(t, w, count, |_| available(Some(meta))) {
                        Ok(placed) => changed |= placed != Placed::Joined,
                        Err(refused) => failed.push(refused),
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
            self.fail(events, id, size, error);
        }
        changed
    }

    /// Places waiting records, fails those past their delivery timeout and
    /// forgets backoffs and throttles that ended: what is due at `now`.
    pub(super) fn expire(
        &mut self,
        now: Instant,
        cache: &ClusterMetadata,
        events: &mut VecDeque<Event>,
    ) {
        self.expire_waiting(now, cache, events);
        let mut expired = Vec::new();
        for t in self.topics.values_mut() {
            for (partition, ps) in t.partitions.iter_mut() {
                expire_partition(ps, now, |b| {
                    expired.push((Arc::clone(&t.name), partition, b))
                });
            }
        }
        self.fail_expired(expired, events);
    }

    /// The topic-level part of [`expire`](Self::expire): records waiting
    /// for their topic's partitions are placed or failed, and ended
    /// throttles forgotten. The partitions' part is [`expire_partition`],
    /// which the sender runs in its own walk of the partitions.
    pub(super) fn expire_waiting(
        &mut self,
        now: Instant,
        cache: &ClusterMetadata,
        events: &mut VecDeque<Event>,
    ) {
        let names: Vec<String> = self
            .topics
            .iter()
            .filter(|(_, t)| !t.waiting.is_empty())
            .map(|(n, _)| n.clone())
            .collect();
        for name in &names {
            self.assign_topic(name, now, cache, events);
        }
        // Ended ones would be reported by `poll_timeout` forever.
        self.throttled.retain(|_, t| *t > now);
    }

    /// Fails the records of batches [`expire_partition`] took out.
    pub(super) fn fail_expired(
        &mut self,
        expired: Vec<(Arc<str>, i32, Batch)>,
        events: &mut VecDeque<Event>,
    ) {
        for (topic, partition, b) in expired {
            debug!(target: LOG, %topic, partition, records = b.records.len(), "batch expired");
            self.fail_batch_records(events, b, ProduceError::Timeout);
        }
    }
}

/// What is due at `now` in one partition: a retry backoff that ended is
/// forgotten, and each queued batch past its delivery timeout is taken
/// out and handed to `expired`.
pub(super) fn expire_partition(
    ps: &mut PartitionState,
    now: Instant,
    mut expired: impl FnMut(Batch),
) {
    // Ended ones would be reported by `poll_timeout` forever.
    if ps.retry_at.is_some_and(|r| r <= now) {
        ps.retry_at = None;
    }
    let mut i = 0;
    while i < ps.batches.len() {
        let b = &ps.batches[i];
        // Deadlines never decrease along the queue (set at placement from
        // a monotonic clock; a split keeps its batch's), so the first
        // queued batch not yet due ends the scan.
        if b.state == BatchState::Queued && b.deadline > now {
            break;
        }
        if b.state == BatchState::Queued {
            if let Some(mut b) = ps.batches.remove(i) {
                // A restart point moves on to the next batch.
                if let (Some(seq), Some(next)) = (b.restart_seq.take(), ps.batches.get_mut(i)) {
                    next.restart_seq.get_or_insert(seq);
                }
                expired(b);
            }
        } else {
            i += 1;
        }
    }
}
