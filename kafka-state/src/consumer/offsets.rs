//! Offset lookups: ListOffsets for the user ([`Consumer::offsets_for`]),
//! for seeks by time or to either end, and for automatic resets.
//!
//! [`Consumer::offsets_for`]: super::Consumer::offsets_for

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use kafka_proto::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_proto::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_proto::{ErrorCode, ResponseBody};
use tracing::debug;

use super::{
    leader_epoch, AutoOffsetReset, ConsumerEvent, ConsumerState, FetchError, ListedOffset,
    LookupError, OffsetSpec, LOG,
};
use crate::error::RequestError;
use crate::metadata::{ClusterMetadata, MetadataState};
use crate::router::{Outbound, RequestId, RequestQueue, Target};
use crate::{Event, TopicPartition};

pub(super) type JobId = u64;

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
pub(super) struct Job {
    kind: JobKind,
    /// Retriable errors are retried until then (user lookups only).
    deadline: Option<Instant>,
    pending: BTreeMap<TopicPartition, JobEntry>,
    done: BTreeMap<TopicPartition, Result<ListedOffset, LookupError>>,
}

/// A ListOffsets request: its broker and the (job, partition) entries.
#[derive(Debug)]
pub(super) struct Lookup {
    node: i32,
    pub(super) entries: Vec<(JobId, TopicPartition)>,
}

impl ConsumerState {
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

    // ---- resets --------------------------------------------------------

    /// A partition needs a position: look it up per `auto_offset_reset`,
    /// or tell the application.
    pub(super) fn auto_reset(
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

    pub(super) fn start_reset(&mut self, now: Instant, tp: &TopicPartition, spec: OffsetSpec) {
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

    /// Queues one ListOffsets per leader for the lookups due; returns
    /// whether metadata is missing for some.
    pub(super) fn poll_lookups(
        &mut self,
        now: Instant,
        metadata: &mut MetadataState,
        queue: &mut RequestQueue,
        api_timeout: Duration,
    ) -> bool {
        let mut want_metadata = false;
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
        want_metadata
    }

    pub(super) fn lookup_is_stale(&self, id: RequestId, cache: &ClusterMetadata) -> bool {
        let Some(l) = self.lookups.get(&id) else {
            return false;
        };
        l.entries
            .iter()
            .any(|(_, tp)| cache.leader_for(&tp.topic, tp.partition) != Some(l.node))
    }

    /// A withdrawn lookup's entries go out again.
    pub(super) fn lookup_cancelled(&mut self, id: RequestId) {
        if let Some(l) = self.lookups.remove(&id) {
            for (job, tp) in l.entries {
                if let Some(e) = self.jobs.get_mut(&job).and_then(|j| j.pending.get_mut(&tp)) {
                    e.sent = false;
                }
            }
        }
    }

    /// When an unsent lookup may be retried or a user lookup times out
    /// (the earliest such time after `now`).
    pub(super) fn lookup_timeout(&self, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        for job in self.jobs.values() {
            let unsent = job.pending.values().filter(|e| !e.sent);
            for e in unsent {
                let due = [Some(e.not_before), job.deadline];
                next = next
                    .into_iter()
                    .chain(due.into_iter().flatten().filter(|t| *t > now))
                    .min();
            }
        }
        next
    }

    pub(super) fn handle_lookup(
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
    pub(super) fn expire_jobs(&mut self, now: Instant) {
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
