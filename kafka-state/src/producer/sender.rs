//! The sender: picks each partition's next batch that may go, stamps it
//! with the producer id and sequence, and builds one Produce request per
//! leader with a ready connection.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_proto::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_proto::messages::ProduceRequest;
use kafka_proto::record::{BatchHeaderMut, BatchOptions, RecordBatchBuilder};
use kafka_proto::Uuid;
use tracing::{trace, warn};

use super::accumulator::{
    expire_partition, Batch, BatchState, Held, PartitionState, Spare, Stamp, TopicState,
};
use super::config::ProducerConfig;
use super::state::ProducerState;
use super::ProduceError;
use crate::machine::Ctx;
use crate::router::{Outbound, RequestId, Target};
use crate::TopicPartition;

const LOG: &str = "kafka_state::producer";

/// One batch of a Produce request.
#[derive(Debug)]
pub(super) struct SentBatch {
    pub(super) topic: Arc<str>,
    pub(super) topic_id: Uuid,
    pub(super) partition: i32,
    pub(super) uid: u64,
}

/// A Produce request being assembled: its size, batches and their bytes.
type NodeRequest = (usize, Vec<SentBatch>, Vec<(Arc<str>, Uuid, i32, Bytes)>);

#[derive(Debug)]
pub(super) struct SentRequest {
    pub(super) node: i32,
    pub(super) batches: Vec<SentBatch>,
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
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
    let ready =
        !b.open || b.lingered || b.attempts > 0 || flushing || b.created + config.linger <= now;
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
pub(super) fn next_sequence(seq: i32, count: i32) -> i32 {
    let next = i64::from(seq) + i64::from(count);
    if next > i64::from(i32::MAX) {
        (next - i64::from(i32::MAX) - 1) as i32
    } else {
        next as i32
    }
}

fn encode_batch(
    b: &mut Batch,
    spare: &mut Spare,
    stamp: Option<Stamp>,
    compression: kafka_proto::record::Compression,
    transactional: bool,
) -> Result<Bytes, String> {
    // Encoding closes the batch: the bytes kept for a retry, or for a
    // request it did not fit in this time, must hold every record it has.
    b.open = false;
    if let Some((bytes, with)) = &mut b.encoded {
        if *with != stamp {
            // Restamp a copy when a restart changed the sequence.
            let mut buf = BytesMut::from(&bytes[..]);
            let mut h = BatchHeaderMut::new(&mut buf).map_err(|e| e.to_string())?;
            let (pid, epoch, seq) = stamp.map_or((-1, -1, -1), |s| (s.producer_id, s.epoch, s.seq));
            h.set_producer(pid, epoch, seq);
            *bytes = buf.freeze();
            *with = stamp;
        }
        return Ok(bytes.clone());
    }
    let mut options = BatchOptions {
        compression,
        transactional,
        ..BatchOptions::default()
    };
    if let Some(s) = stamp {
        options.producer_id = s.producer_id;
        options.producer_epoch = s.epoch;
        options.base_sequence = s.seq;
    }
    let Held::Records(records) = &b.records else {
        return Err("the batch's bytes are gone".into());
    };
    // `b.size` bounds the encoded size: one allocation for the batch.
    let mut builder = RecordBatchBuilder::with_buffer(spare.buffer(b.size), options);
    let mut reports = Vec::with_capacity(records.len());
    for r in records.iter() {
        builder
            .append_with_headers(
                r.timestamp,
                r.key.as_deref(),
                r.value.as_deref(),
                r.headers.iter().map(|(k, v)| (k.as_str(), v.as_deref())),
            )
            .map_err(|e| e.to_string())?;
        reports.push((r.id, r.timestamp));
    }
    let bytes = builder.finish().map_err(|e| e.to_string())?;
    b.encoded = Some((bytes.clone(), stamp));
    // The bytes hold the records now; see `Held`.
    if let Held::Records(r) = std::mem::replace(&mut b.records, Held::Encoded(reports)) {
        spare.keep_chunks(r);
    }
    Ok(bytes)
}

/// A partition the sender's walk found with a batch that may go, and the
/// leader it goes to: what [`ProducerState::drain`] works through, so
/// building requests costs in proportion to what is sent, not to how many
/// partitions the producer knows.
#[derive(Debug)]
pub(super) struct Sendable {
    topic: Arc<str>,
    partition: i32,
    node: i32,
}

/// For an idle partition with a broken sequence: whether the epoch must
/// be bumped. If the broker has since acknowledged that sequence or later,
/// the batch was written and is simply resent (answered as a duplicate);
/// otherwise the partition's sequences start over at 0 under a new epoch
/// (KIP-360).
fn resolve_broken_sequence(ps: &mut PartitionState) -> bool {
    if ps.in_flight > 0 {
        return false;
    }
    let last_acked = ps.last_acked;
    let Some(b) = ps.batches.iter_mut().find(|b| b.broken) else {
        return false;
    };
    b.broken = false;
    let written = match (b.stamp, last_acked) {
        (Some(st), Some(acked)) => st.seq <= acked,
        _ => false,
    };
    if written {
        return false;
    }
    b.restart_seq = Some(0);
    ps.producer = None;
    true
}

impl ProducerState {
    /// Does what is due, asks for a producer id if needed, and returns the
    /// leaders that have a batch to send (remembering which partitions
    /// have, for [`drain`](Self::drain)).
    ///
    /// One walk of the partitions does it all: with keyed records over a
    /// thousand partitions, walking them once per stage (expiry, sequence
    /// repair, readiness, requests) was a sixth of the producer's CPU.
    pub(crate) fn prepare(&mut self, ctx: &mut Ctx<'_>) -> BTreeSet<i32> {
        let now = ctx.now;
        self.expire_waiting(now, &ctx.metadata.cache, ctx.events);
        let cache = &ctx.metadata.cache;
        let linger = self.linger();
        let idempotent = self.idempotent();
        let hurry = self.hurry();
        let mut wanted = BTreeSet::new();
        let mut need_metadata = false;
        let mut expired = Vec::new();
        let mut broken: Option<(TopicPartition, usize)> = None;
        let mut sendable = std::mem::take(&mut self.sendable);
        sendable.clear();
        for t in self.topics.values_mut() {
            let TopicState {
                name, partitions, ..
            } = t;
            let meta = cache.topic(name);
            for (partition, ps) in partitions.iter_mut() {
                expire_partition(ps, now, |b| expired.push((Arc::clone(name), partition, b)));
                if resolve_broken_sequence(ps) {
                    let (_, count) = broken.get_or_insert_with(|| {
                        (TopicPartition::new(name.to_string(), partition), 0)
                    });
                    *count += 1;
                }
                // A lingered batch is acted on: its deadline is done with.
                if let Some(b) = ps.batches.back_mut() {
                    if b.open && b.created + linger <= now {
                        b.lingered = true;
                    }
                }
                if let Some(txn) = self.txn.as_mut() {
                    if !ps.batches.is_empty() && !txn.may_send(name, partition) {
                        // Added first (first protocol), or held while the
                        // transaction cannot send.
                        txn.want(name, partition);
                        continue;
                    }
                }
                if next_sendable(ps, now, &self.config, hurry, idempotent).is_none() {
                    continue;
                }
                match meta
                    .and_then(|m| m.partition(partition))
                    .and_then(|p| p.leader)
                {
                    Some(node) if self.throttled.get(&node).is_none_or(|t| *t <= now) => {
                        wanted.insert(node);
                        sendable.push(Sendable {
                            topic: Arc::clone(name),
                            partition,
                            node,
                        });
                    }
                    Some(_) => {}
                    None => need_metadata = true,
                }
            }
        }
        self.sendable = sendable;
        self.fail_expired(expired, ctx.events);
        // One bump for all: every partition restarts its sequences under
        // the new epoch.
        if let Some((tp, partitions)) = broken {
            warn!(target: LOG, %tp, partitions, "sequence broken, bumping epoch");
            self.pid.bump_epoch();
        }
        if self.idempotent() && self.pending > 0 && self.txn.is_none() {
            self.pid.poll_request(now, ctx.requests, ctx.api_timeout);
        }
        if need_metadata {
            ctx.metadata.request_update();
        }
        self.finish_flush(ctx.events);
        wanted
    }

    /// Builds at most one Produce request per ready leader, each with the
    /// next batch of every partition it leads that [`prepare`](Self::prepare)
    /// found ready.
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
        let transactional = self.txn.is_some();
        let (compression, hurry) = (self.config.compression, self.hurry());
        let max = self.config.max_request_size;
        let mut per_node: BTreeMap<i32, NodeRequest> = BTreeMap::new();
        let mut failed = Vec::new();
        let sendable = std::mem::take(&mut self.sendable);
        let (topics, spare, config) = (&mut self.topics, &mut self.spare, &self.config);
        // The list comes topic by topic: one lookup per topic, not per
        // partition.
        let mut current: Option<(&mut TopicState, Uuid)> = None;
        for s in sendable.iter().filter(|s| ready.contains(&s.node)) {
            if !current
                .as_ref()
                .is_some_and(|(t, _)| Arc::ptr_eq(&t.name, &s.topic))
            {
                let topic_id = cache.topic(&s.topic).map_or(Uuid::default(), |m| m.id);
                current = topics.get_mut(&*s.topic).map(|t| (t, topic_id));
            }
            let Some((t, topic_id)) = current.as_mut() else {
                continue;
            };
            let Some(ps) = t.partitions.get_mut(s.partition) else {
                continue;
            };
            let Some(idx) = next_sendable(ps, now, config, hurry, idempotent) else {
                continue;
            };
            let entry = per_node.entry(s.node).or_default();
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
            let bytes = match encode_batch(b, spare, stamp, compression, transactional) {
                Ok(bytes) => bytes,
                Err(e) => {
                    if let Some(b) = ps.batches.remove(idx) {
                        failed.push((b, e));
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
                topic: Arc::clone(&s.topic),
                topic_id: *topic_id,
                partition: s.partition,
                uid: b.uid,
            });
            entry
                .2
                .push((Arc::clone(&s.topic), *topic_id, s.partition, bytes));
        }
        self.sendable = sendable;
        for (b, e) in failed {
            self.fail_batch_records(ctx.events, b, ProduceError::Encode(e));
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
            let transactional_id = match self.txn.as_mut() {
                Some(txn) => {
                    txn.batch_sent();
                    Some(txn.transactional_id.clone())
                }
                None => None,
            };
            let body = ProduceRequest::default()
                .with_transactional_id(transactional_id)
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
                target: Target::Producer(node),
                body: body.into(),
                expires: now + self.request_timeout,
            });
        }
    }

    fn batch_mut(&mut self, topic: &str, partition: i32, uid: u64) -> Option<&mut Batch> {
        let ps = self.topics.get_mut(topic)?.partitions.get_mut(partition)?;
        let i = ps.position(uid)?;
        ps.batches.get_mut(i)
    }
}
