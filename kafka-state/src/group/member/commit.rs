//! Offset commits: what is queued, in flight and waiting to be retried,
//! and what the coordinator acknowledged per partition.
//!
//! Every commit has the id its command returned (automatic ones get one
//! too) and keeps the generation it was made in. Overlapping commits of a
//! partition are ordered by that id: only the newest commit of a partition
//! is ever sent again, and the acknowledged offset of a partition moves
//! only to the answer of a commit at least as new as the one it shows, so
//! an old answer arriving late never takes it back.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use kafka_proto::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_proto::messages::{OffsetCommitRequest, OffsetCommitResponse};
use kafka_proto::ErrorCode;

use crate::group::{CommitError, GroupEvent, OffsetAndMetadata};
use crate::metadata::ClusterMetadata;
use crate::router::RequestId;
use crate::{Event, TopicPartition};

/// What a commit's errors mean for the member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CommitVerdict {
    /// Nothing for the member to do.
    Fine,
    /// The coordinator moved or is unavailable: find it again.
    FindCoordinator,
    /// The generation the commit was made in is over.
    GenerationOver(ErrorCode),
    /// The group is rebalancing.
    Rebalancing,
}

#[derive(Debug)]
struct Commit {
    automatic: bool,
    generation: i32,
    member_id: String,
    instance_id: Option<String>,
    /// Partitions not yet answered for good.
    offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
    results: BTreeMap<TopicPartition, Result<OffsetAndMetadata, CommitError>>,
    deadline: Instant,
    /// Not sent again before this.
    not_before: Instant,
    last_error: Option<ErrorCode>,
    /// The request carrying it, while in flight.
    wire: Option<RequestId>,
    /// Held until the rebalance in flight ends ([`CommitBook::park`]).
    parked: bool,
}

/// Commits of one member.
#[derive(Debug, Default)]
pub(super) struct CommitBook {
    commits: BTreeMap<RequestId, Commit>,
    wire: BTreeMap<RequestId, RequestId>,
    /// The newest commit naming each partition, and its offset.
    latest: BTreeMap<TopicPartition, (RequestId, i64)>,
    /// Acknowledged offsets, with the commit that set each.
    acked: BTreeMap<TopicPartition, (RequestId, OffsetAndMetadata)>,
}

impl CommitBook {
    /// Files a commit made in `generation`; sent by [`CommitBook::poll`].
    #[allow(clippy::too_many_arguments)]
    pub(super) fn add(
        &mut self,
        id: RequestId,
        automatic: bool,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
        now: Instant,
        api_timeout: Duration,
    ) {
        for (tp, o) in &offsets {
            self.latest.insert(tp.clone(), (id, o.offset));
        }
        self.commits.insert(
            id,
            Commit {
                automatic,
                generation,
                member_id: member_id.to_string(),
                instance_id: instance_id.map(str::to_string),
                offsets,
                results: BTreeMap::new(),
                deadline: now + api_timeout,
                not_before: now,
                last_error: None,
                wire: None,
                parked: false,
            },
        );
    }

    /// Holds commit `id` back until [`CommitBook::unpark`]: made in a
    /// generation a rebalance is ending, it would be refused now, and is
    /// good in the generation the rebalance makes.
    pub(super) fn park(&mut self, id: RequestId) {
        if let Some(c) = self.commits.get_mut(&id) {
            c.parked = true;
        }
    }

    /// Whether a commit is held back.
    pub(super) fn has_parked(&self) -> bool {
        self.commits.values().any(|c| c.parked)
    }

    /// Lets the held commits go, in `generation` as `member_id`.
    pub(super) fn unpark(&mut self, generation: i32, member_id: &str) {
        for c in self.commits.values_mut().filter(|c| c.parked) {
            c.parked = false;
            c.generation = generation;
            c.member_id = member_id.to_string();
        }
    }

    /// Fails the held commits with `error`: the rebalance they waited for
    /// did not make a generation.
    pub(super) fn fail_parked(&mut self, error: CommitError, events: &mut VecDeque<Event>) {
        let ids: Vec<RequestId> = self
            .commits
            .iter()
            .filter(|(_, c)| c.parked)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(c) = self.commits.get_mut(&id) {
                c.parked = false;
            }
            self.fail_rest(id, |_| error.clone(), events);
        }
    }

    /// The offset last sent (or being sent) for `tp`, if any commit of it
    /// has not failed.
    pub(super) fn latest(&self, tp: &TopicPartition) -> Option<i64> {
        self.latest.get(tp).map(|(_, o)| *o)
    }

    /// What the coordinator acknowledged, per partition.
    pub(super) fn acknowledged(&self) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        self.acked
            .iter()
            .map(|(tp, (_, o))| (tp.clone(), o.clone()))
            .collect()
    }

    /// Whether any commit waits to be sent.
    pub(super) fn has_unsent(&self) -> bool {
        self.commits.values().any(|c| c.wire.is_none() && !c.parked)
    }

    /// Fails, unsent, the commits of partitions lost: they may belong to
    /// another member now.
    pub(super) fn drop_lost(
        &mut self,
        lost: &BTreeSet<TopicPartition>,
        events: &mut VecDeque<Event>,
    ) {
        let ids: Vec<RequestId> = self.commits.keys().copied().collect();
        for id in ids {
            let Some(c) = self.commits.get_mut(&id) else {
                continue;
            };
            if c.wire.is_some() {
                continue;
            }
            let gone: Vec<TopicPartition> = c
                .offsets
                .keys()
                .filter(|tp| lost.contains(*tp))
                .cloned()
                .collect();
            for tp in &gone {
                c.offsets.remove(tp);
                c.results.insert(tp.clone(), Err(CommitError::NotOwned));
            }
            for tp in &gone {
                self.forget_latest(tp, id);
            }
            self.finish_if_done(id, events);
        }
    }

    fn forget_latest(&mut self, tp: &TopicPartition, id: RequestId) {
        if self.latest.get(tp).is_some_and(|(l, _)| *l == id) {
            self.latest.remove(tp);
        }
    }

    /// Reports a commit with nothing left to answer.
    fn finish_if_done(&mut self, id: RequestId, events: &mut VecDeque<Event>) {
        let done = self
            .commits
            .get(&id)
            .is_some_and(|c| c.offsets.is_empty() && c.wire.is_none());
        if !done {
            return;
        }
        if let Some(c) = self.commits.remove(&id) {
            events.push_back(Event::Group(GroupEvent::Committed {
                id,
                automatic: c.automatic,
                offsets: c.results,
                refused: None,
            }));
        }
    }

    /// Fails every commit not in flight whose deadline passed.
    pub(super) fn expire(&mut self, now: Instant, events: &mut VecDeque<Event>) {
        let ids: Vec<RequestId> = self
            .commits
            .iter()
            .filter(|(_, c)| c.wire.is_none() && c.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.fail_rest(id, |c| CommitError::Timeout(c.last_error), events);
        }
    }

    /// Fails what is left of commit `id`, reporting it.
    fn fail_rest(
        &mut self,
        id: RequestId,
        error: impl Fn(&Commit) -> CommitError,
        events: &mut VecDeque<Event>,
    ) {
        let Some(c) = self.commits.get_mut(&id) else {
            return;
        };
        let e = error(c);
        let rest = std::mem::take(&mut c.offsets);
        for tp in rest.keys() {
            c.results.insert(tp.clone(), Err(e.clone()));
        }
        for tp in rest.keys() {
            self.forget_latest(tp, id);
        }
        self.finish_if_done(id, events);
    }

    /// Fails every commit not in flight with `error` (the client closed,
    /// the member stopped).
    pub(super) fn fail_unsent(&mut self, error: CommitError, events: &mut VecDeque<Event>) {
        let ids: Vec<RequestId> = self
            .commits
            .iter()
            .filter(|(_, c)| c.wire.is_none())
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.fail_rest(id, |_| error.clone(), events);
        }
    }

    /// The earliest time a commit expires, or may be sent again if the
    /// coordinator is `ready`.
    pub(super) fn next_deadline(&self, ready: bool) -> Option<Instant> {
        self.commits
            .values()
            .filter(|c| c.wire.is_none())
            .map(|c| {
                if ready && !c.parked {
                    c.not_before.min(c.deadline)
                } else {
                    c.deadline
                }
            })
            .min()
    }

    /// Builds the requests for every commit that may go now, oldest
    /// first. A commit sent again carries only partitions it is still the
    /// newest commit of; the others are reported superseded.
    pub(super) fn poll(
        &mut self,
        now: Instant,
        group_id: &str,
        cache: &ClusterMetadata,
        mut next_id: impl FnMut() -> RequestId,
        events: &mut VecDeque<Event>,
    ) -> Vec<(RequestId, OffsetCommitRequest)> {
        let mut out = Vec::new();
        let ids: Vec<RequestId> = self
            .commits
            .iter()
            .filter(|(_, c)| c.wire.is_none() && !c.parked && c.not_before <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let stale: Vec<TopicPartition> = match self.commits.get(&id) {
                Some(c) => c
                    .offsets
                    .keys()
                    .filter(|tp| self.latest.get(*tp).is_none_or(|(l, _)| *l != id))
                    .cloned()
                    .collect(),
                None => continue,
            };
            let Some(c) = self.commits.get_mut(&id) else {
                continue;
            };
            for tp in stale {
                c.offsets.remove(&tp);
                c.results.insert(tp, Err(CommitError::Superseded));
            }
            if c.offsets.is_empty() {
                self.finish_if_done(id, events);
                continue;
            }
            let wire = next_id();
            c.wire = Some(wire);
            self.wire.insert(wire, id);
            out.push((wire, request(group_id, c, cache)));
        }
        out
    }

    /// Whether `wire` is a commit request of this book.
    pub(super) fn owns(&self, wire: RequestId) -> bool {
        self.wire.contains_key(&wire)
    }

    /// Moves commits not in flight to member epoch `epoch` (consumer
    /// protocol: a commit goes with the member's current epoch, so one
    /// refused with STALE_MEMBER_EPOCH succeeds once the heartbeat brought
    /// the new epoch).
    pub(super) fn restamp(&mut self, epoch: i32) {
        for c in self.commits.values_mut() {
            if c.wire.is_none() {
                c.generation = epoch;
            }
        }
    }

    /// The generation a commit request was made in.
    pub(super) fn generation_of(&self, wire: RequestId) -> Option<i32> {
        let id = self.wire.get(&wire)?;
        self.commits.get(id).map(|c| c.generation)
    }

    /// Takes the outcome of a commit request. `retry_backoff` delays a
    /// retry; `response` is `None` when the request failed without an
    /// answer (retried like a coordinator error).
    pub(super) fn handle(
        &mut self,
        now: Instant,
        wire: RequestId,
        response: Option<&OffsetCommitResponse>,
        cache: &ClusterMetadata,
        retry_backoff: Duration,
        events: &mut VecDeque<Event>,
    ) -> CommitVerdict {
        let Some(id) = self.wire.remove(&wire) else {
            return CommitVerdict::Fine;
        };
        let mut verdict = CommitVerdict::Fine;
        let Some(c) = self.commits.get_mut(&id) else {
            return verdict;
        };
        c.wire = None;
        let Some(resp) = response else {
            c.not_before = now + retry_backoff;
            self.expire(now, events);
            return CommitVerdict::FindCoordinator;
        };
        let mut answered: BTreeMap<TopicPartition, ErrorCode> = BTreeMap::new();
        for t in &resp.topics {
            let name = if t.name.is_empty() {
                cache
                    .topics()
                    .find(|(_, m)| m.id == t.topic_id)
                    .map(|(n, _)| n.to_string())
                    .unwrap_or_default()
            } else {
                t.name.clone()
            };
            for p in &t.partitions {
                answered.insert(
                    TopicPartition::new(name.clone(), p.partition_index),
                    ErrorCode::from_code(p.error_code),
                );
            }
        }
        let sent: Vec<TopicPartition> = c.offsets.keys().cloned().collect();
        let mut retry = false;
        for tp in sent {
            // A partition the answer leaves out is retried.
            let code = answered
                .get(&tp)
                .copied()
                .unwrap_or(ErrorCode::UnknownServerError);
            let outcome = match code {
                ErrorCode::None => Some(Ok(())),
                ErrorCode::IllegalGeneration
                | ErrorCode::UnknownMemberId
                | ErrorCode::FencedInstanceId
                | ErrorCode::FencedMemberEpoch => {
                    verdict = CommitVerdict::GenerationOver(code);
                    Some(Err(CommitError::Rebalanced(code)))
                }
                ErrorCode::RebalanceInProgress => {
                    if verdict == CommitVerdict::Fine {
                        verdict = CommitVerdict::Rebalancing;
                    }
                    Some(Err(CommitError::RebalanceInProgress))
                }
                // Consumer protocol: the commit's epoch is behind the
                // coordinator's; the heartbeat that brings the new epoch
                // restamps it (`restamp`), so it is retried.
                ErrorCode::StaleMemberEpoch => {
                    c.last_error = Some(code);
                    None
                }
                ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                    if verdict == CommitVerdict::Fine {
                        verdict = CommitVerdict::FindCoordinator;
                    }
                    c.last_error = Some(code);
                    None
                }
                _ if answered.contains_key(&tp) && !code.is_retriable() => {
                    Some(Err(CommitError::Broker(code)))
                }
                _ => {
                    c.last_error = Some(code);
                    None
                }
            };
            let Some(outcome) = outcome else {
                retry = true;
                continue;
            };
            let Some(o) = c.offsets.remove(&tp) else {
                continue;
            };
            match outcome {
                Ok(()) => {
                    let newer = self.acked.get(&tp).is_some_and(|(a, _)| *a > id);
                    if !newer {
                        self.acked.insert(tp.clone(), (id, o.clone()));
                    }
                    c.results.insert(tp, Ok(o));
                }
                Err(e) => {
                    c.results.insert(tp.clone(), Err(e));
                    if self.latest.get(&tp).is_some_and(|(l, _)| *l == id) {
                        self.latest.remove(&tp);
                    }
                }
            }
        }
        if retry {
            if let Some(c) = self.commits.get_mut(&id) {
                c.not_before = now + retry_backoff;
            }
            self.expire(now, events);
        }
        self.finish_if_done(id, events);
        verdict
    }
}

/// The OffsetCommit for `c`, naming topics both by name and by id (each
/// version keeps the one it has).
fn request(group_id: &str, c: &Commit, cache: &ClusterMetadata) -> OffsetCommitRequest {
    let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for (tp, o) in &c.offsets {
        topics.entry(tp.topic.as_str()).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(tp.partition)
                .with_committed_offset(o.offset)
                .with_committed_leader_epoch(o.leader_epoch.unwrap_or(-1))
                .with_committed_metadata(o.metadata.clone()),
        );
    }
    OffsetCommitRequest::default()
        .with_group_id(group_id.to_string())
        .with_generation_id_or_member_epoch(c.generation)
        .with_member_id(c.member_id.clone())
        .with_group_instance_id(c.instance_id.clone())
        .with_topics(
            topics
                .into_iter()
                .map(|(t, parts)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(t.to_string())
                        .with_topic_id(cache.topic(t).map(|m| m.id).unwrap_or_default())
                        .with_partitions(parts)
                })
                .collect(),
        )
}
