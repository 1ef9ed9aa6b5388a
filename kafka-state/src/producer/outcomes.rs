//! Outcomes: a Produce answer (or its failure) per batch becomes
//! delivery reports, a retry after backoff, a split of a batch too large,
//! or a repair of the partition's sequence.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_proto::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_proto::messages::ProduceResponse;
use kafka_proto::{ErrorCode, ResponseBody};
use tracing::{debug, trace, warn};

use super::accumulator::{split, Batch, BatchState, Held};
use super::config::{Acks, ProducerConfig};
use super::sender::{next_sequence, SentBatch};
use super::state::ProducerState;
use super::{Delivered, DeliveryId, ProduceError, RECORD_OVERHEAD};
use crate::error::RequestError;
use crate::machine::Ctx;
use crate::metadata::MetadataState;
use crate::rng::Rng;
use crate::router::Inbound;
use crate::{Event, TopicPartition};

const LOG: &str = "kafka_state::producer";

/// Retry delays vary by ±20%.
const RETRY_JITTER: f64 = 0.2;

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

/// The retry delay after `attempts` failures: `retry_backoff ·
/// 2^(attempts-1)`, capped at `retry_backoff_max`, then jittered.
pub(super) fn backoff(config: &ProducerConfig, rng: &mut Rng, attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(31);
    let base = config
        .retry_backoff
        .saturating_mul(1u32 << exp)
        .min(config.retry_backoff_max);
    rng.jitter(base, RETRY_JITTER)
}

/// The answer for one sent batch. Brokers answer topics and partitions
/// in the order they were asked, which is the order of the request's
/// batches: `at` (topic, partition) is where the last one was found, and
/// the next is looked for right after it before anywhere else, so a
/// request with a batch for each of a thousand partitions costs a
/// thousand steps, not half a million.
fn find_partition<'a>(
    r: &'a ProduceResponse,
    s: &SentBatch,
    at: &mut (usize, usize),
) -> Option<&'a PartitionProduceResponse> {
    let matches = |t: &TopicProduceResponse| {
        (!t.name.is_empty() && *t.name == *s.topic)
            || (t.name.is_empty() && t.topic_id == s.topic_id)
    };
    let (ti, pi) = *at;
    let next = [(ti, pi.wrapping_add(1)), (ti.saturating_add(1), 0)];
    for (ti, pi) in next {
        let hit = r
            .responses
            .get(ti)
            .filter(|t| matches(t))
            .and_then(|t| t.partition_responses.get(pi))
            .filter(|p| p.index == s.partition);
        if hit.is_some() {
            *at = (ti, pi);
            return hit;
        }
    }
    r.responses
        .iter()
        .enumerate()
        .filter(|(_, t)| matches(t))
        .flat_map(|(ti, t)| {
            t.partition_responses
                .iter()
                .enumerate()
                .map(move |(pi, p)| (ti, pi, p))
        })
        .find(|(_, _, p)| p.index == s.partition)
        .map(|(ti, pi, p)| {
            *at = (ti, pi);
            p
        })
}

impl ProducerState {
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
        // Just before the first partition of the first topic.
        let mut at = (0, usize::MAX);
        for s in req.batches {
            let outcome = match &resp {
                None => Outcome::Unknown,
                Some(_) if acks0 => Outcome::Written {
                    base_offset: -1,
                    append_time: -1,
                },
                Some(r) => match find_partition(r, &s, &mut at) {
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
        // A transactional producer never repairs a sequence itself: the
        // batch fails, the transaction aborts, and the next one starts
        // under a new epoch.
        let repairs_sequences = idempotent && self.txn.is_none();
        let Some(ps) = self
            .topics
            .get_mut(&*s.topic)
            .and_then(|t| t.partitions.get_mut(s.partition))
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
                self.written(events, &s.topic, s.partition, base_offset, append_time, b);
            }
            Outcome::Closed => {
                if let Some(b) = ps.batches.remove(idx) {
                    self.fail_batch_records(events, b, ProduceError::Closed);
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
                let halves = match split(b, &mut self.next_batch) {
                    Ok(halves) => halves,
                    Err(failed) => {
                        let (b, e) = *failed;
                        warn!(target: LOG, %tp, error = %e, "cannot split batch");
                        self.fail_batch_records(events, b, ProduceError::Encode(e));
                        return;
                    }
                };
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
            } if repairs_sequences => {
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
                self.fail_batch_records(events, b, ProduceError::Broker { code, message });
            }
        }
    }

    pub(super) fn retry(
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
            .and_then(|t| t.partitions.get_mut(tp.partition))
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
                self.fail_batch_records(events, b, error);
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
            .and_then(|t| t.partitions.get_mut(tp.partition))
        else {
            return;
        };
        let at = now + delay;
        ps.retry_at = Some(ps.retry_at.map_or(at, |r| r.max(at)));
        debug!(target: LOG, %tp, attempts, ?delay, error = ?error.map(|e| e.0), "retrying batch");
    }

    pub(super) fn fail_batch_records(
        &mut self,
        events: &mut VecDeque<Event>,
        b: Batch,
        error: ProduceError,
    ) {
        let count = b.records.len();
        self.failed += count as u64;
        self.settle(count, b.records_size() + count * RECORD_OVERHEAD);
        for id in b.records.ids() {
            if let Some(txn) = self.txn.as_mut() {
                txn.record_failed(&error);
            }
            events.push_back(Event::DeliveryFailed {
                id,
                error: error.clone(),
            });
        }
        self.announce_room(events);
    }

    /// One event for the whole written batch.
    fn written(
        &mut self,
        events: &mut VecDeque<Event>,
        topic: &Arc<str>,
        partition: i32,
        base_offset: i64,
        append_time: i64,
        mut b: Batch,
    ) {
        let size = b.records_size() + b.records.len() * RECORD_OVERHEAD;
        let records = match std::mem::replace(&mut b.records, Held::Encoded(Vec::new())) {
            Held::Encoded(reports) => reports,
            // Only an encoded batch is written; this keeps the report whole
            // should that ever change.
            Held::Records(r) => r.iter().map(|r| (r.id, r.timestamp)).collect(),
        };
        // Give the batch's memory back before the event goes out.
        self.spare.keep(b);
        self.delivered += records.len() as u64;
        self.settle(records.len(), size);
        events.push_back(Event::Delivered(Delivered::new(
            Arc::clone(topic),
            partition,
            base_offset,
            append_time,
            records,
        )));
        self.announce_room(events);
    }

    /// One record failed for good.
    pub(super) fn fail(
        &mut self,
        events: &mut VecDeque<Event>,
        id: DeliveryId,
        size: usize,
        error: ProduceError,
    ) {
        self.failed += 1;
        self.settle(1, size + RECORD_OVERHEAD);
        if let Some(txn) = self.txn.as_mut() {
            txn.record_failed(&error);
        }
        events.push_back(Event::DeliveryFailed { id, error });
        self.announce_room(events);
    }

    /// `count` records of `size` bytes (bookkeeping included) left the buffer.
    fn settle(&mut self, count: usize, size: usize) {
        self.buffered = self.buffered.saturating_sub(size);
        self.pending = self.pending.saturating_sub(count);
    }

    fn announce_room(&mut self, events: &mut VecDeque<Event>) {
        if self.buffer_blocked && self.buffered < self.config.buffer_memory {
            self.buffer_blocked = false;
            events.push_back(Event::BufferAvailable);
        }
    }

    pub(super) fn finish_flush(&mut self, events: &mut VecDeque<Event>) {
        if self.flushing && self.pending == 0 {
            self.flushing = false;
            events.push_back(Event::FlushComplete);
        }
    }
}
