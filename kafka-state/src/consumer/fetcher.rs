//! The fetcher: up to two Fetches in flight per leader, the answers
//! scanned and buffered per partition, and the records handed out from
//! the buffer.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use kafka_proto::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_proto::messages::{FetchRequest, FetchResponse};
use kafka_proto::{DecodeError, ErrorCode, ResponseBody, Uuid};
use tracing::{debug, warn};

use super::records::{self, FetchedRecords};
use super::{
    config, leader_epoch, ConsumerEvent, ConsumerState, FetchError, IsolationLevel, PartState, LOG,
};
use crate::metadata::{ClusterMetadata, MetadataState};
use crate::router::{Inbound, Outbound, RequestId, RequestQueue, Target};
use crate::{Event, TopicPartition};

/// Fetches one leader may have outstanding at once. The second carries
/// only partitions the last answer showed more records for, so the
/// broker answers it at once instead of parking it for `fetch_max_wait`
/// in front of the first one's successor. Every fetch is a full one
/// outside any fetch session (KIP-227), whose epochs would order them.
const MAX_FETCHES_PER_LEADER: usize = 2;

/// The end of what a partition may read: the high watermark, or the last
/// stable offset with `read_committed`.
fn readable_end(config: &super::ConsumerConfig, p: &PartState) -> Option<i64> {
    match config.isolation_level {
        IsolationLevel::ReadCommitted => p.last_stable,
        _ => p.high_watermark,
    }
}

/// Whether the last answer for the partition showed records past its
/// position.
fn has_more(config: &super::ConsumerConfig, p: &PartState) -> bool {
    matches!((p.position, readable_end(config, p)), (Some(at), Some(end)) if at < end)
}

#[derive(Debug)]
pub(super) struct SentPart {
    partition: TopicPartition,
    topic_id: Uuid,
    epoch: u64,
    offset: i64,
}

#[derive(Debug)]
pub(super) struct FetchInFlight {
    id: RequestId,
    node: i32,
    parts: Vec<SentPart>,
}

#[derive(Debug)]
pub(super) struct Buffered {
    pub(super) epoch: u64,
    pub(super) records: FetchedRecords,
    /// A corrupt batch right after these records: reported once they are
    /// taken, so the application gets the good records first.
    pub(super) failure: Option<(i64, DecodeError)>,
}

impl ConsumerState {
    pub(super) fn next_records(&self) -> Option<usize> {
        self.buffered.iter().position(|b| {
            self.parts
                .get(&b.records.partition)
                .is_some_and(|p| !p.paused && !p.revoking && p.epoch == b.epoch)
        })
    }

    /// Hands out the next buffered records and moves the position. If a
    /// corrupt batch followed them, the position is now at it and its
    /// [`ConsumerEvent::PartitionFailed`] is queued behind the records.
    pub(crate) fn take_records(&mut self, events: &mut VecDeque<Event>) -> Option<FetchedRecords> {
        let i = self.next_records()?;
        let mut b = self.buffered.remove(i)?;
        b.records.epoch = b.epoch;
        if let Some(p) = self.parts.get_mut(&b.records.partition) {
            p.position = Some(b.records.next_offset);
            p.buffered = false;
        }
        if let Some((offset, error)) = b.failure {
            events.push_back(Event::Consumer(ConsumerEvent::PartitionFailed {
                partition: b.records.partition.clone(),
                offset,
                error: FetchError::Corrupt(error),
            }));
        }
        Some(b.records)
    }

    /// Queues a fetch to every leader of fetchable partitions that has
    /// none outstanding; returns whether metadata is missing for some.
    pub(super) fn poll_fetches(
        &mut self,
        now: Instant,
        metadata: &mut MetadataState,
        queue: &mut RequestQueue,
        api_timeout: Duration,
    ) -> bool {
        let mut want_metadata = false;
        // Fetches, one per leader with room for one more.
        let mut fetch_groups: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
        let mut in_flight: BTreeMap<i32, usize> = BTreeMap::new();
        for f in self.fetches.values() {
            *in_flight.entry(f.node).or_default() += 1;
        }
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
            if self.throttled.contains_key(&leader) {
                continue;
            }
            let out = in_flight.get(&leader).copied().unwrap_or(0);
            if out > 0 && (out >= MAX_FETCHES_PER_LEADER || !has_more(&self.config, p)) {
                continue;
            }
            fetch_groups.entry(leader).or_default().push(tp.clone());
        }
        let held = std::mem::take(&mut self.held);
        let draining = self.draining_leaders(&metadata.cache);
        for (node, tps) in fetch_groups {
            // Every partition this fetch would carry is caught up, so the
            // broker would hold it for `fetch_max_wait`, while a partition
            // of the same leader is still handing out records and has more
            // at the broker: sent now, the fetch would keep that
            // partition's next one waiting behind it. Hold it until the
            // records are taken (then both go together), at most the
            // broker's wait.
            if draining.contains(&node) && tps.iter().all(|tp| self.caught_up(tp)) {
                let until = held
                    .get(&node)
                    .copied()
                    .unwrap_or(now + self.config.fetch_max_wait);
                if now < until {
                    self.held.insert(node, until);
                    continue;
                }
            }
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
            self.fetches.insert(
                id,
                FetchInFlight {
                    id,
                    node,
                    parts: sent,
                },
            );
            queue.push(Outbound {
                id,
                target: Target::Node(node),
                body: body.into(),
                expires: now + api_timeout,
            });
        }
        want_metadata
    }

    /// Whether `tp` was at the end of what it may read by the last fetch.
    fn caught_up(&self, tp: &TopicPartition) -> bool {
        self.parts.get(tp).is_some_and(
            |p| matches!((p.position, readable_end(&self.config, p)), (Some(at), Some(end)) if at >= end),
        )
    }

    /// Leaders of partitions whose buffered records the application will
    /// take next and that have more to fetch after them.
    fn draining_leaders(&self, cache: &ClusterMetadata) -> BTreeSet<i32> {
        self.buffered
            .iter()
            .filter(|b| {
                self.parts.get(&b.records.partition).is_some_and(|p| {
                    !p.paused
                        && !p.revoking
                        && p.epoch == b.epoch
                        && readable_end(&self.config, p)
                            .is_some_and(|end| b.records.next_offset < end)
                })
            })
            .filter_map(|b| {
                let tp = &b.records.partition;
                cache.leader_for(&tp.topic, tp.partition)
            })
            .collect()
    }

    pub(super) fn fetch_is_stale(&self, id: RequestId, cache: &ClusterMetadata) -> bool {
        let moved = |node: i32, tp: &TopicPartition| {
            cache.leader_for(&tp.topic, tp.partition) != Some(node)
        };
        self.fetches
            .get(&id)
            .is_some_and(|f| f.parts.iter().any(|s| moved(f.node, &s.partition)))
    }

    /// Releases a withdrawn fetch's partitions; false if `id` is no fetch.
    pub(super) fn fetch_cancelled(&mut self, id: RequestId) -> bool {
        let Some(f) = self.fetches.remove(&id) else {
            return false;
        };
        self.release(&f);
        true
    }

    pub(super) fn is_fetch(&self, id: RequestId) -> bool {
        self.fetches.contains_key(&id)
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

    /// When a backoff or a throttle of a fetchable partition ends (the
    /// earliest such time after `now`).
    pub(super) fn fetch_timeout(&self, now: Instant, cache: &ClusterMetadata) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        for (tp, p) in &self.parts {
            if !p.wants_fetch() {
                continue;
            }
            let t = match p.backoff_until {
                Some(t) => Some(t),
                None => cache
                    .leader_for(&tp.topic, tp.partition)
                    .and_then(|l| self.throttled.get(&l))
                    .copied(),
            };
            next = next.into_iter().chain(t.filter(|t| *t > now)).min();
        }
        let held = self.held.values().copied().filter(|t| *t > now);
        next.into_iter().chain(held).min()
    }

    pub(super) fn handle_fetch_response(
        &mut self,
        now: Instant,
        inbound: Inbound,
        metadata: &mut MetadataState,
        events: &mut VecDeque<Event>,
    ) {
        let Some(f) = self.fetches.remove(&inbound.id) else {
            return;
        };
        let node = f.node;
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
        // A corrupt batch stops the partition at once (nothing past it is
        // fetched), but good records before it are handed out first and
        // the failure is reported only when they are taken.
        let mut failure = scan.corrupt.clone();
        if let Some((offset, error)) = &failure {
            warn!(target: LOG, partition = %tp, offset, %error, "corrupt batch, partition stopped");
            p.stopped = true;
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
                    failure: failure.take(),
                });
            }
            // Only control batches or aborted data: nothing to hand out,
            // but the position moves past it.
            Some(next) => p.position = Some(next),
            None => {}
        }
        if let Some((offset, error)) = failure {
            events.push_back(Event::Consumer(ConsumerEvent::PartitionFailed {
                partition: tp.clone(),
                offset,
                error: FetchError::Corrupt(error),
            }));
        }
    }
}
