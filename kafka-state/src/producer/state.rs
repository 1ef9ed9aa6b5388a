//! The producer's state machine: what it holds, its commands, and its
//! place in the client's contract ([`SubMachine`]).
//!
//! The work is split by stage, each an `impl ProducerState` of its own:
//! `accumulator` (records into batches, expiry), `sender` (batches into
//! Produce requests), `outcomes` (answers into delivery reports, retries
//! and sequence repairs) and `idempotence` (the producer id and epoch).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use tracing::trace;

use super::accumulator::{available, BatchState, Placed, Placer, Spare, TopicState, Waiting};
use super::config::ProducerConfig;
use super::idempotence::ProducerIdState;
use super::sender::{Sendable, SentRequest};
use super::{DeliveryId, InvalidRecord, ProduceError, ProducerRecord, SendError, RECORD_OVERHEAD};
use crate::machine::{Ctx, SubMachine};
use crate::metadata::MetadataState;
use crate::rng::Rng;
use crate::router::{Inbound, RequestId};
use crate::stats::{PartitionStats, ProducerPartitionStats, TotalStats};
use crate::txn::TxnLink;
use crate::Event;

const LOG: &str = "kafka_state::producer";

/// By when the client must pump after a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PumpBy {
    /// The send changed nothing a pump acts on.
    Never,
    /// A batch opened that is due at this instant, once it has lingered.
    Linger(Instant),
    /// Now.
    Now,
}

/// The producer inside a [`Client`](crate::Client).
pub(crate) struct ProducerState {
    pub(super) config: ProducerConfig,
    pub(super) request_timeout: Duration,
    pub(super) rng: Rng,
    pub(super) next_delivery: u64,
    pub(super) next_batch: u64,
    pub(super) spare: Spare,
    pub(super) topics: BTreeMap<String, TopicState>,
    pub(super) buffered: usize,
    pub(super) pending: usize,
    pub(super) requests: BTreeMap<RequestId, SentRequest>,
    /// What the last `prepare` found ready to send, for `drain`.
    pub(super) sendable: Vec<Sendable>,
    pub(super) throttled: BTreeMap<i32, Instant>,
    pub(super) pid: ProducerIdState,
    pub(super) flushing: bool,
    pub(super) buffer_blocked: bool,
    /// Delivery reports so far, successes and failures, for statistics.
    pub(super) delivered: u64,
    pub(super) failed: u64,
    /// With a `transactional_id`: what the transaction manager (which
    /// owns the producer id then) and the producer tell each other.
    pub(crate) txn: Option<TxnLink>,
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

impl ProducerState {
    pub(crate) fn new(config: ProducerConfig, request_timeout: Duration, seed: u64) -> Self {
        Self {
            request_timeout,
            rng: Rng::new(seed ^ 0x7072_6f64_7563_6572),
            next_delivery: 0,
            next_batch: 0,
            spare: Spare::default(),
            topics: BTreeMap::new(),
            buffered: 0,
            pending: 0,
            requests: BTreeMap::new(),
            sendable: Vec::new(),
            throttled: BTreeMap::new(),
            pid: ProducerIdState::new(),
            flushing: false,
            buffer_blocked: false,
            delivered: 0,
            failed: 0,
            txn: config.transactional_id.clone().map(TxnLink::new),
            config,
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

    pub(super) fn idempotent(&self) -> bool {
        self.config.enable_idempotence
    }

    pub(super) fn current_pid(&self) -> Option<(i64, i16)> {
        if let Some(txn) = &self.txn {
            return txn.pid;
        }
        if self.idempotent() {
            self.pid.current()
        } else {
            None
        }
    }

    /// Queues a record and places it in a batch when its topic's
    /// partitions are known. Also returns by when the client must pump
    /// for it: never ([`PumpBy::Never`]) when it joined an open batch,
    /// which changes nothing a pump would act on; once the batch it opened
    /// has lingered ([`PumpBy::Linger`]); at once otherwise (a full batch
    /// closed, the record waits for metadata or failed, a flush runs, or a
    /// transaction may have to add the partition first).
    ///
    /// Skipping the pump keeps a send's cost independent of how many
    /// partitions hold batches: keyed records spread over a thousand
    /// partitions open a batch with nearly every record, and a pump per
    /// record walked every partition for each of them.
    pub(crate) fn send(
        &mut self,
        now: Instant,
        record: ProducerRecord,
        metadata: &mut MetadataState,
        events: &mut VecDeque<Event>,
    ) -> Result<(DeliveryId, PumpBy), SendError> {
        // One lookup of the topic serves the checks and, in the common
        // case (partitions known, metadata unchanged since, nothing
        // waiting), the placing: a record costs no further lookups.
        let topic = self.topics.get_mut(&*record.topic);
        // A topic already held passed the name check (and is tracked):
        // only the record's own fields are checked again.
        let known = topic.is_some();
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
        if self.buffered + size + RECORD_OVERHEAD > self.config.buffer_memory {
            self.buffer_blocked = true;
            return Err(SendError::BufferFull(Box::new(record)));
        }
        self.next_delivery += 1;
        let id = DeliveryId(self.next_delivery);
        self.buffered += size + RECORD_OVERHEAD;
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
        let cache = &metadata.cache;
        let ready = topic.and_then(|t| {
            let count = t.placeable_count(cache.changes())?;
            t.waiting.is_empty().then_some((t, count))
        });
        let by = match ready {
            Some((t, count)) => {
                let mut placer = Placer {
                    config: &self.config,
                    rng: &mut self.rng,
                    next_batch: &mut self.next_batch,
                    spare: &mut self.spare,
                    now,
                };
                match placer.put(t, w, count, |topic| available(cache.topic(topic))) {
                    Ok(Placed::Joined) => PumpBy::Never,
                    // `linger` is zero while the buffer is full.
                    Ok(Placed::Opened) if self.txn.is_none() => PumpBy::Linger(now + self.linger()),
                    Ok(Placed::Opened | Placed::Closed) => PumpBy::Now,
                    Err((id, size, e)) => {
                        self.fail(events, id, size, e);
                        PumpBy::Now
                    }
                }
            }
            None => {
                if self.place(w, now, cache, events) {
                    PumpBy::Now
                } else {
                    PumpBy::Never
                }
            }
        };
        let by = if self.flushing { PumpBy::Now } else { by };
        Ok((id, by))
    }

    /// Batches go without waiting out `linger`: a flush is running, or a
    /// sender found the buffer full (waiting then would only hold it full).
    pub(super) fn hurry(&self) -> bool {
        self.flushing || self.buffer_blocked
    }

    /// How long an open batch waits for more records: not at all while a
    /// sender finds the buffer full.
    pub(super) fn linger(&self) -> Duration {
        if self.buffer_blocked {
            Duration::ZERO
        } else {
            self.config.linger
        }
    }

    /// Sends every batch without waiting for `linger` until nothing is
    /// pending (a transaction commits).
    pub(crate) fn send_all_now(&mut self) {
        self.flushing = true;
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
        for mut t in topics.into_values() {
            for w in t.waiting.take_all() {
                self.fail(events, w.id, w.size, ProduceError::Closed);
            }
            for ps in t.partitions.into_values() {
                for b in ps.batches {
                    self.fail_batch_records(events, b, ProduceError::Closed);
                }
            }
        }
    }

    /// The earliest instant at which something here becomes due, passed
    /// or not: each of these is acted on (and so cleared) by a pump.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let linger = self.linger();
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| {
            if next.is_none_or(|n| t < n) {
                next = Some(t);
            }
        };
        // The id is fetched only while records wait for it.
        if self.idempotent() && self.pending > 0 && self.txn.is_none() {
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
                if let Some(b) = ps.batches.back().filter(|b| b.open && !b.lingered) {
                    consider(b.created + linger);
                }
            }
        }
        next
    }

    /// Batches sent and not answered yet.
    /// Adds the producer's part of a statistics snapshot.
    pub(crate) fn stats_into(
        &self,
        partitions: &mut BTreeMap<crate::TopicPartition, PartitionStats>,
        totals: &mut TotalStats,
    ) {
        totals.producer_records = self.pending as u64;
        totals.producer_bytes = self.buffered as u64;
        totals.records_delivered = self.delivered;
        totals.records_failed = self.failed;
        for (topic, t) in &self.topics {
            for (partition, ps) in t.partitions.iter() {
                if ps.batches.is_empty() {
                    continue;
                }
                let mut p = ProducerPartitionStats::default();
                for b in &ps.batches {
                    let n = b.records.len() as u64;
                    if matches!(b.state, BatchState::InFlight(_)) {
                        p.in_flight_batches += 1;
                        p.in_flight_records += n;
                    } else {
                        p.queued_records += n;
                        p.queued_bytes += b.size as u64;
                    }
                }
                let tp = crate::TopicPartition::new(topic.clone(), partition);
                partitions.entry(tp).or_default().producer = Some(p);
            }
        }
    }

    pub(crate) fn in_flight_batches(&self) -> usize {
        self.topics
            .values()
            .flat_map(|t| t.partitions.values())
            .map(|ps| ps.in_flight)
            .sum()
    }

    /// Fails every record not in flight: the transaction aborts.
    fn drop_unsent(&mut self, events: &mut VecDeque<Event>) {
        let mut waiting = Vec::new();
        let mut unsent = Vec::new();
        for t in self.topics.values_mut() {
            waiting.extend(t.waiting.take_all().map(|w| (w.id, w.size)));
            for ps in t.partitions.values_mut() {
                let (sent, not_sent): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut ps.batches)
                    .into_iter()
                    .partition(|b| matches!(b.state, BatchState::InFlight(_)));
                ps.batches = sent;
                ps.retry_at = None;
                unsent.extend(not_sent);
            }
        }
        for (id, size) in waiting {
            self.fail(events, id, size, ProduceError::TransactionAborted);
        }
        for b in unsent {
            self.fail_batch_records(events, b, ProduceError::TransactionAborted);
        }
    }
}

impl SubMachine for ProducerState {
    fn poll_requests(&mut self, ctx: &mut Ctx<'_>) {
        if self.txn.as_ref().is_some_and(|t| t.aborting) {
            self.drop_unsent(ctx.events);
        }
        let wanted = self.prepare(ctx);
        // Leaders without a ready connection get one asked for; their
        // batches wait for a later round or pump.
        // Batches go on the producer's own connections (with a
        // transactional producer's transaction requests): on the broker's
        // shared connection they would queue behind the consumer's
        // fetches held for `fetch_max_wait`.
        let ready: BTreeSet<i32> = wanted
            .into_iter()
            .filter(|n| ctx.producer_ready(*n))
            .collect();
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
