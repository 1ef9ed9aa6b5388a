//! KIP-848 consumer groups: the `ConsumerGroupHeartbeat` protocol.
//!
//! The coordinator owns the assignment. Each heartbeat may bump the group
//! epoch (a member joined or left, a subscription changed, a subscribed
//! topic gained partitions, a new topic matched a regex); a bumped epoch
//! gets a new target assignment from the server assignor (`uniform` or
//! `range`); and each member is then reconciled towards its target one
//! step at a time, as Kafka's `CurrentAssignmentBuilder` does: a member
//! first gives up the partitions it must revoke (it acknowledges by no
//! longer listing them as owned), and a partition is handed to its new
//! owner only once the previous owner has released it. A member's epoch
//! moves to the target epoch when it has no revocation pending.
//!
//! A bumped epoch gets its target assignment in the first heartbeat at
//! least `consumer_group_assignment_interval_ms` after the previous one
//! was computed (the first one of a group at once), as Kafka 4.4 batches
//! rebalances. Subscription regexes are resolved in the heartbeat that
//! brings them (Kafka resolves them in the background, at most every
//! 10 s).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kafka_proto::messages::consumer_group_describe_response::{
    Assignment as DescribedAssignment, DescribedGroup as CgDescribedGroup, Member as CgMemberDesc,
    TopicPartitions as DescribedTopicPartitions,
};
use kafka_proto::messages::consumer_group_heartbeat_request::TopicPartitions as OwnedPartitions;
use kafka_proto::messages::consumer_group_heartbeat_response::{
    Assignment as HbAssignment, TopicPartitions as HbTopicPartitions,
};
use kafka_proto::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse,
};
use kafka_proto::{ApiKey, ErrorCode, ResponseBody, Uuid};
use regex::Regex;

use super::{Group, GROUP_OPERATIONS};
use crate::cluster::{Cluster, Reply, Topic};
use crate::Ctx;

/// Partitions by topic id.
type Parts = BTreeMap<Uuid, BTreeSet<i32>>;
/// Partitions by topic name, as the assignors work with them.
type NamedParts = BTreeSet<(String, i32)>;
/// An error and the message Kafka sends with it.
type Refusal = (ErrorCode, String);

/// Server assignors the coordinator offers, the default first.
pub(crate) const ASSIGNORS: [&str; 2] = ["uniform", "range"];
/// The member epoch of a member leaving the group.
const LEAVE_EPOCH: i32 = -1;
/// The member epoch of a static member leaving for now (KIP-345): it keeps
/// its partitions until its session expires or its instance rejoins.
const STATIC_LEAVE_EPOCH: i32 = -2;

/// Where a member stands in its reconciliation, as Kafka's `MemberState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MemberState {
    /// At its target (or about to move to a newer one).
    Stable,
    /// Waiting for the member to acknowledge revoked partitions.
    UnrevokedPartitions,
    /// At the target epoch, waiting for partitions other members still own.
    UnreleasedPartitions,
}

/// A member of a consumer group.
#[derive(Debug, Clone, PartialEq)]
struct CgMember {
    id: String,
    instance_id: Option<String>,
    rack_id: Option<String>,
    client_id: String,
    client_host: String,
    rebalance_timeout_ms: i32,
    topic_names: Vec<String>,
    regex: Option<String>,
    server_assignor: Option<String>,
    epoch: i32,
    previous_epoch: i32,
    state: MemberState,
    /// Partitions the member may consume.
    assigned: Parts,
    /// Partitions the member must give up before it moves on.
    revoking: Parts,
    /// The member epoch at which each assigned partition became the
    /// member's: commits with an older epoch are accepted for partitions
    /// held since then, as Kafka 4.4 does.
    since: BTreeMap<(Uuid, i32), i32>,
    session_deadline: Option<Instant>,
    /// Set while revocations are pending: the member is fenced if it has
    /// not acknowledged them by then.
    rebalance_deadline: Option<Instant>,
}

impl CgMember {
    fn new(id: String) -> Self {
        Self {
            id,
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            rebalance_timeout_ms: -1,
            topic_names: Vec::new(),
            regex: None,
            server_assignor: None,
            epoch: 0,
            previous_epoch: 0,
            state: MemberState::Stable,
            assigned: Parts::new(),
            revoking: Parts::new(),
            since: BTreeMap::new(),
            session_deadline: None,
            rebalance_deadline: None,
        }
    }

    fn reconciled_to(&self, epoch: i32) -> bool {
        self.state == MemberState::Stable && self.epoch == epoch
    }

    fn set_epoch(&mut self, epoch: i32) {
        self.previous_epoch = self.epoch;
        self.epoch = epoch;
    }

    /// The member's subscription regex, compiled to match whole names as
    /// Java's `Pattern.matches` does; `None` without one (or if invalid,
    /// which the heartbeat that set it refused).
    fn compiled_regex(&self) -> Option<Regex> {
        self.regex
            .as_deref()
            .filter(|r| !r.is_empty())
            .and_then(|r| compile(r).ok())
    }

    /// Existing topics the member subscribes to, by name or regex.
    fn topics(&self, topics: &BTreeMap<String, Topic>) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = self
            .topic_names
            .iter()
            .filter(|t| topics.contains_key(*t))
            .cloned()
            .collect();
        if let Some(re) = self.compiled_regex() {
            out.extend(
                topics
                    .iter()
                    .filter(|(n, t)| !t.internal && re.is_match(n))
                    .map(|(n, _)| n.clone()),
            );
        }
        out
    }
}

fn compile(regex: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{regex})$"))
}

/// A consumer group's membership and assignment state.
#[derive(Debug, Default)]
pub(crate) struct ConsumerGroup {
    epoch: i32,
    assignment_epoch: i32,
    members: BTreeMap<String, CgMember>,
    /// Target assignment of each member, as of `assignment_epoch`.
    target: BTreeMap<String, Parts>,
    /// The subscribed topics with their id and partition count when the
    /// epoch was last bumped; a change bumps the epoch again.
    metadata: BTreeMap<String, (Uuid, usize)>,
    /// When the target assignment was last computed.
    last_assignment: Option<Instant>,
}

impl ConsumerGroup {
    /// A new group: Kafka 4.4 moves a group it creates to epoch 1 at once,
    /// so the first member's subscription brings it to epoch 2.
    fn created() -> Self {
        Self {
            epoch: 1,
            ..Self::default()
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The state as Kafka's `ConsumerGroupState` names it.
    pub(super) fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.epoch > self.assignment_epoch {
            "Assigning"
        } else if self
            .members
            .values()
            .all(|m| m.reconciled_to(self.assignment_epoch))
        {
            "Stable"
        } else {
            "Reconciling"
        }
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.members
            .values()
            .flat_map(|m| m.session_deadline.into_iter().chain(m.rebalance_deadline))
            .min()
    }

    /// Whether any member subscribes to `topic` (OffsetDelete refuses to
    /// delete such offsets).
    pub(super) fn is_subscribed_to(&self, topic: &str) -> bool {
        self.members.values().any(|m| {
            m.topic_names.iter().any(|t| t == topic)
                || m.compiled_regex().is_some_and(|r| r.is_match(topic))
        })
    }

    fn static_member(&self, instance: &str) -> Option<&CgMember> {
        self.members
            .values()
            .find(|m| m.instance_id.as_deref() == Some(instance))
    }

    /// The assignor most members ask for, else the default (Kafka's
    /// `computePreferredServerAssignor`).
    fn preferred_assignor(&self) -> &'static str {
        let mut votes = [0usize; ASSIGNORS.len()];
        for m in self.members.values() {
            if let Some(i) = m
                .server_assignor
                .as_deref()
                .and_then(|a| ASSIGNORS.iter().position(|x| *x == a))
            {
                votes[i] += 1;
            }
        }
        let best = votes.iter().copied().max().unwrap_or(0);
        if best == 0 {
            return ASSIGNORS[0];
        }
        ASSIGNORS[votes.iter().position(|v| *v == best).unwrap_or(0)]
    }

    fn compute_metadata(
        &self,
        topics: &BTreeMap<String, Topic>,
    ) -> BTreeMap<String, (Uuid, usize)> {
        let mut names = BTreeSet::new();
        for m in self.members.values() {
            names.extend(m.topics(topics));
        }
        names
            .into_iter()
            .filter_map(|n| topics.get(&n).map(|t| (n, (t.id, t.partitions.len()))))
            .collect()
    }

    /// Removes a member (it left, or was fenced) and bumps the epoch. The
    /// new target assignment waits for a heartbeat, unless no member is
    /// left (Kafka 4.4 describes a group the last member left with both
    /// epochs bumped).
    fn remove_member(&mut self, id: &str, topics: &BTreeMap<String, Topic>) {
        if self.members.remove(id).is_some() {
            self.target.remove(id);
            self.epoch += 1;
            self.metadata = self.compute_metadata(topics);
            if self.members.is_empty() {
                self.compute_target(topics);
            }
        }
    }

    /// Partitions owned (assigned or still being revoked) by members other
    /// than `id`: those cannot be handed to `id` yet.
    fn owned_by_others(&self, id: &str) -> BTreeSet<(Uuid, i32)> {
        let mut out = BTreeSet::new();
        for m in self.members.values().filter(|m| m.id != id) {
            for parts in [&m.assigned, &m.revoking] {
                for (t, ps) in parts {
                    out.extend(ps.iter().map(|p| (*t, *p)));
                }
            }
        }
        out
    }

    /// Computes the target assignment for the current epoch.
    fn compute_target(&mut self, topics: &BTreeMap<String, Topic>) {
        let subs: BTreeMap<String, BTreeSet<String>> = self
            .members
            .values()
            .map(|m| (m.id.clone(), m.topics(topics)))
            .collect();
        let counts: BTreeMap<String, i32> = topics
            .iter()
            .map(|(n, t)| (n.clone(), t.partitions.len() as i32))
            .collect();
        let name_of: BTreeMap<Uuid, String> =
            topics.iter().map(|(n, t)| (t.id, n.clone())).collect();
        let previous: BTreeMap<String, NamedParts> = self
            .target
            .iter()
            .map(|(m, parts)| {
                let named = parts
                    .iter()
                    .filter_map(|(id, ps)| name_of.get(id).map(|n| (n, ps)))
                    .flat_map(|(n, ps)| ps.iter().map(move |p| (n.clone(), *p)))
                    .collect();
                (m.clone(), named)
            })
            .collect();
        let named = match self.preferred_assignor() {
            "range" => assign_range(&subs, &counts),
            _ => assign_uniform(&subs, &counts, &previous),
        };
        self.target = named
            .into_iter()
            .map(|(m, parts)| {
                let mut by_id = Parts::new();
                for (n, p) in parts {
                    if let Some(t) = topics.get(&n) {
                        by_id.entry(t.id).or_default().insert(p);
                    }
                }
                (m, by_id)
            })
            .collect();
        self.assignment_epoch = self.epoch;
    }

    /// Kafka's `ConsumerGroup.validateOffsetCommit`.
    pub(super) fn validate_offset_commit(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        epoch: i32,
        transactional: bool,
        version: i16,
        partitions: &[(Uuid, i32)],
    ) -> Result<(), ErrorCode> {
        if epoch < 0 && self.members.is_empty() {
            return Ok(());
        }
        if transactional && epoch < 0 && member_id.is_empty() && instance_id.is_none() {
            return Ok(());
        }
        let Some(m) = self.members.get(member_id) else {
            return Err(ErrorCode::UnknownMemberId);
        };
        if !transactional && version < 9 {
            return Err(ErrorCode::UnsupportedVersion);
        }
        let held_since = |tp: &(Uuid, i32)| m.since.get(tp).is_some_and(|e| *e <= epoch);
        let older_but_held =
            epoch < m.epoch && !partitions.is_empty() && partitions.iter().all(held_since);
        if epoch != m.epoch && !older_but_held {
            return Err(ErrorCode::StaleMemberEpoch);
        }
        Ok(())
    }

    /// Kafka's `ConsumerGroup.validateOffsetFetch` (OffsetFetch v9+).
    pub(super) fn validate_offset_fetch(
        &self,
        member_id: Option<&str>,
        epoch: i32,
    ) -> Result<(), ErrorCode> {
        let Some(id) = member_id else {
            if epoch < 0 {
                return Ok(());
            }
            return Err(ErrorCode::UnknownMemberId);
        };
        let Some(m) = self.members.get(id) else {
            return Err(ErrorCode::UnknownMemberId);
        };
        if epoch != m.epoch {
            return Err(ErrorCode::StaleMemberEpoch);
        }
        Ok(())
    }

    /// Fences members whose session or rebalance timeout passed.
    pub(super) fn expire(&mut self, now: Instant, topics: &BTreeMap<String, Topic>) {
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                m.session_deadline.is_some_and(|d| d <= now)
                    || m.rebalance_deadline.is_some_and(|d| d <= now)
            })
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            tracing::debug!(target: "kafka_mock::groups", member = %id, "consumer group member fenced by a timeout");
            self.remove_member(&id, topics);
        }
    }

    fn describe(&self, group_id: &str, topics: &BTreeMap<String, Topic>) -> CgDescribedGroup {
        let name_of: BTreeMap<Uuid, String> =
            topics.iter().map(|(n, t)| (t.id, n.clone())).collect();
        let assignment = |parts: &Parts| {
            DescribedAssignment::default().with_topic_partitions(
                parts
                    .iter()
                    .filter_map(|(id, ps)| {
                        name_of.get(id).map(|n| {
                            DescribedTopicPartitions::default()
                                .with_topic_id(*id)
                                .with_topic_name(n.clone())
                                .with_partitions(ps.iter().copied().collect())
                        })
                    })
                    .collect(),
            )
        };
        let empty = Parts::new();
        CgDescribedGroup::default()
            .with_group_id(group_id.to_string())
            .with_group_state(self.state_name().to_string())
            .with_group_epoch(self.epoch)
            .with_assignment_epoch(self.assignment_epoch)
            .with_assignor_name(self.preferred_assignor().to_string())
            .with_members(
                self.members
                    .values()
                    .map(|m| {
                        CgMemberDesc::default()
                            .with_member_id(m.id.clone())
                            .with_instance_id(m.instance_id.clone())
                            .with_rack_id(m.rack_id.clone())
                            .with_member_epoch(m.epoch)
                            .with_client_id(m.client_id.clone())
                            .with_client_host(m.client_host.clone())
                            .with_subscribed_topic_names(m.topic_names.clone())
                            // Kafka describes "no regex" as an empty one.
                            .with_subscribed_topic_regex(Some(m.regex.clone().unwrap_or_default()))
                            .with_assignment(assignment(&m.assigned))
                            .with_target_assignment(assignment(
                                self.target.get(&m.id).unwrap_or(&empty),
                            ))
                            // 1: a member on the consumer protocol.
                            .with_member_type(1)
                    })
                    .collect(),
            )
    }
}

/// The uniform assignor: every member gets as many partitions as the
/// others (within one) among the topics it subscribes to, and keeps what
/// it had where that allows.
fn assign_uniform(
    subs: &BTreeMap<String, BTreeSet<String>>,
    counts: &BTreeMap<String, i32>,
    previous: &BTreeMap<String, NamedParts>,
) -> BTreeMap<String, NamedParts> {
    let mut out: BTreeMap<String, NamedParts> = subs
        .keys()
        .map(|m| (m.clone(), NamedParts::new()))
        .collect();
    let all: NamedParts = subs
        .values()
        .flatten()
        .flat_map(|t| (0..counts.get(t).copied().unwrap_or(0)).map(move |p| (t.clone(), p)))
        .collect();
    let subscribed = subs.values().filter(|s| !s.is_empty()).count().max(1);
    let cap = all.len().div_ceil(subscribed);
    let mut taken = NamedParts::new();
    for (m, parts) in previous {
        let (Some(sub), Some(mine)) = (subs.get(m), out.get_mut(m)) else {
            continue;
        };
        for tp in parts {
            if mine.len() < cap
                && sub.contains(&tp.0)
                && all.contains(tp)
                && taken.insert(tp.clone())
            {
                mine.insert(tp.clone());
            }
        }
    }
    for tp in all.iter().filter(|tp| !taken.contains(*tp)) {
        let best = subs
            .iter()
            .filter(|(_, s)| s.contains(&tp.0))
            .map(|(m, _)| m)
            .min_by_key(|m| out.get(*m).map_or(0, |p| p.len()));
        if let Some(m) = best.cloned() {
            out.entry(m).or_default().insert(tp.clone());
        }
    }
    // Even out what stickiness left uneven (members with different
    // subscriptions), one move at a time; bounded by the partition count.
    for _ in 0..all.len() {
        let mut moved = false;
        'search: for (from, parts) in &out {
            for tp in parts {
                for (to, sub) in subs {
                    let (a, b) = (parts.len(), out.get(to).map_or(0, |p| p.len()));
                    if to != from && sub.contains(&tp.0) && a > b + 1 {
                        let (from, to, tp) = (from.clone(), to.clone(), tp.clone());
                        if let Some(p) = out.get_mut(&from) {
                            p.remove(&tp);
                        }
                        out.entry(to).or_default().insert(tp);
                        moved = true;
                        break 'search;
                    }
                }
            }
        }
        if !moved {
            break;
        }
    }
    out
}

/// The range assignor: per topic, the subscribed members in member id
/// order take consecutive ranges, the first ones one partition more.
fn assign_range(
    subs: &BTreeMap<String, BTreeSet<String>>,
    counts: &BTreeMap<String, i32>,
) -> BTreeMap<String, NamedParts> {
    let mut out: BTreeMap<String, NamedParts> = subs
        .keys()
        .map(|m| (m.clone(), NamedParts::new()))
        .collect();
    let topics: BTreeSet<&String> = subs.values().flatten().collect();
    for t in topics {
        let members: Vec<&String> = subs
            .iter()
            .filter(|(_, s)| s.contains(t))
            .map(|(m, _)| m)
            .collect();
        let n = counts.get(t).copied().unwrap_or(0).max(0) as usize;
        let (q, r) = (n / members.len(), n % members.len());
        let mut start = 0;
        for (i, m) in members.iter().enumerate() {
            let len = q + usize::from(i < r);
            let mine = out.entry((*m).clone()).or_default();
            mine.extend((start..start + len).map(|p| (t.clone(), p as i32)));
            start += len;
        }
    }
    out
}

/// Whether the member still owns any of `parts`, by the owned partitions
/// it reported (not reporting them counts as still owning).
fn owns_any(owned: Option<&[OwnedPartitions]>, parts: &Parts) -> bool {
    let Some(owned) = owned else {
        return true;
    };
    owned.iter().any(|tp| {
        parts
            .get(&tp.topic_id)
            .is_some_and(|s| tp.partitions.iter().any(|p| s.contains(p)))
    })
}

/// Whether every owned partition is in `parts` (Kafka's `isSubset`).
fn is_subset(owned: Option<&[OwnedPartitions]>, parts: &Parts) -> bool {
    let Some(owned) = owned else {
        return false;
    };
    owned.iter().all(|tp| {
        parts
            .get(&tp.topic_id)
            .is_some_and(|s| tp.partitions.iter().all(|p| s.contains(p)))
    })
}

/// One step of Kafka's `CurrentAssignmentBuilder`.
fn reconcile(
    m: &mut CgMember,
    target_epoch: i32,
    target: &Parts,
    others: &BTreeSet<(Uuid, i32)>,
    owned: Option<&[OwnedPartitions]>,
) {
    if m.reconciled_to(target_epoch) {
        return;
    }
    match m.state {
        MemberState::Stable => {
            if m.epoch != target_epoch {
                next_assignment(m, m.epoch, target_epoch, target, others, owned);
            }
        }
        MemberState::UnrevokedPartitions => {
            if !owns_any(owned, &m.revoking) {
                let epoch = (m.epoch + 1).min(target_epoch);
                next_assignment(m, epoch, target_epoch, target, others, owned);
            }
        }
        MemberState::UnreleasedPartitions => {
            next_assignment(m, m.epoch, target_epoch, target, others, owned);
        }
    }
}

fn next_assignment(
    m: &mut CgMember,
    epoch: i32,
    target_epoch: i32,
    target: &Parts,
    others: &BTreeSet<(Uuid, i32)>,
    owned: Option<&[OwnedPartitions]>,
) {
    let empty = BTreeSet::new();
    let mut assigned = Parts::new();
    let mut revoking = Parts::new();
    let mut pending = Parts::new();
    let mut unreleased = false;
    let topics: BTreeSet<Uuid> = target.keys().chain(m.assigned.keys()).copied().collect();
    for t in topics {
        let want = target.get(&t).unwrap_or(&empty);
        let cur = m.assigned.get(&t).unwrap_or(&empty);
        let keep: BTreeSet<i32> = cur.intersection(want).copied().collect();
        let rev: BTreeSet<i32> = cur.difference(&keep).copied().collect();
        let mut add: BTreeSet<i32> = want.difference(&keep).copied().collect();
        let before = add.len();
        add.retain(|p| !others.contains(&(t, *p)));
        unreleased |= add.len() < before;
        for (map, set) in [
            (&mut assigned, keep),
            (&mut revoking, rev),
            (&mut pending, add),
        ] {
            if !set.is_empty() {
                map.insert(t, set);
            }
        }
    }
    if !revoking.is_empty() && owns_any(owned, &revoking) {
        m.state = MemberState::UnrevokedPartitions;
        m.set_epoch(epoch);
        set_assigned(m, assigned);
        m.revoking = revoking;
        return;
    }
    for (t, ps) in pending {
        assigned.entry(t).or_default().extend(ps);
    }
    m.state = if unreleased {
        MemberState::UnreleasedPartitions
    } else {
        MemberState::Stable
    };
    m.set_epoch(target_epoch);
    set_assigned(m, assigned);
    m.revoking = Parts::new();
}

/// Sets the member's assigned partitions (after its epoch): kept ones keep
/// the epoch they were first held at, new ones take the current epoch.
fn set_assigned(m: &mut CgMember, assigned: Parts) {
    let epoch = m.epoch;
    m.since = assigned
        .iter()
        .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
        .map(|tp| (tp, m.since.get(&tp).copied().unwrap_or(epoch)))
        .collect();
    m.assigned = assigned;
}

fn to_response_assignment(parts: &Parts) -> HbAssignment {
    HbAssignment::default().with_topic_partitions(
        parts
            .iter()
            .map(|(t, ps)| {
                HbTopicPartitions::default()
                    .with_topic_id(*t)
                    .with_partitions(ps.iter().copied().collect())
            })
            .collect(),
    )
}

/// Kafka's `throwIfConsumerGroupHeartbeatRequestIsInvalid`.
fn validate_request(req: &ConsumerGroupHeartbeatRequest, version: i16) -> Result<(), Refusal> {
    let invalid = |m: &str| Err((ErrorCode::InvalidRequest, m.to_string()));
    if (version >= 1 || req.member_epoch > 0 || req.member_epoch == LEAVE_EPOCH)
        && req.member_id.is_empty()
    {
        return invalid("MemberId can't be empty.");
    }
    if req.group_id.is_empty() {
        return invalid("GroupId can't be empty.");
    }
    if req.instance_id.as_deref() == Some("") {
        return invalid("InstanceId can't be empty.");
    }
    if req.rack_id.as_deref() == Some("") {
        return invalid("RackId can't be empty.");
    }
    if req.member_epoch == 0 {
        if req.rebalance_timeout_ms == -1 {
            return invalid("RebalanceTimeoutMs must be provided in first request.");
        }
        if req.topic_partitions.as_ref().is_none_or(|p| !p.is_empty()) {
            return invalid("TopicPartitions must be empty when (re-)joining.");
        }
        if req.subscribed_topic_names.is_none() && req.subscribed_topic_regex.is_none() {
            return invalid(
                "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.",
            );
        }
    } else if req.member_epoch == STATIC_LEAVE_EPOCH {
        if req.instance_id.is_none() {
            return invalid("InstanceId can't be null.");
        }
    } else if req.member_epoch < STATIC_LEAVE_EPOCH {
        return invalid("MemberEpoch is invalid.");
    }
    if let Some(a) = req.server_assignor.as_deref() {
        if !ASSIGNORS.contains(&a) {
            return Err((
                ErrorCode::UnsupportedAssignor,
                format!(
                    "ServerAssignor {a} is not supported. Supported assignors: {}.",
                    ASSIGNORS.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Kafka's `throwIfConsumerGroupMemberEpochIsInvalid`.
fn check_epoch(m: &CgMember, epoch: i32, owned: Option<&[OwnedPartitions]>) -> Result<(), Refusal> {
    let fenced = |rel: &str| {
        Err((
            ErrorCode::FencedMemberEpoch,
            format!(
                "The consumer group member has a {rel} member epoch ({epoch}) than the one known \
                 by the group coordinator ({}). The member must abandon all its partitions and rejoin.",
                m.epoch
            ),
        ))
    };
    if epoch > m.epoch {
        return fenced("greater");
    }
    if epoch < m.epoch && (epoch != m.previous_epoch || !is_subset(owned, &m.assigned)) {
        return fenced("smaller");
    }
    Ok(())
}

fn not_found(group_id: &str, exists: bool) -> Refusal {
    let msg = if exists {
        format!("Group {group_id} is not a consumer group.")
    } else {
        format!("Group {group_id} not found.")
    };
    (ErrorCode::GroupIdNotFound, msg)
}

fn ms(v: i32) -> Duration {
    Duration::from_millis(u64::try_from(v).unwrap_or(0))
}

impl Cluster {
    pub(super) fn consumer_group_heartbeat(
        &mut self,
        ctx: &Ctx,
        req: ConsumerGroupHeartbeatRequest,
    ) -> Reply {
        let throttle = self.faults.throttle_ms;
        let result = self
            .faults
            .take(ApiKey::ConsumerGroupHeartbeat, ctx.broker, None, None)
            .map(|e| (e, e.description().to_string()))
            .map_or(Ok(()), Err)
            .and_then(|()| validate_request(&req, ctx.version))
            .and_then(
                |()| match self.group_status(ctx.broker, &req.group_id, true) {
                    Some(e) => Err((e, e.description().to_string())),
                    None => Ok(()),
                },
            )
            .and_then(|()| {
                if req.member_epoch == LEAVE_EPOCH || req.member_epoch == STATIC_LEAVE_EPOCH {
                    self.cg_leave(ctx.now, &req)
                } else {
                    self.cg_heartbeat(ctx, &req)
                }
            });
        let resp = match result {
            Ok(r) => r,
            Err((e, message)) => ConsumerGroupHeartbeatResponse::default()
                .with_error_code(e.code())
                .with_error_message(Some(message)),
        };
        Reply::Respond(ResponseBody::ConsumerGroupHeartbeat(
            resp.with_throttle_time_ms(throttle),
        ))
    }

    fn cg_leave(
        &mut self,
        now: Instant,
        req: &ConsumerGroupHeartbeatRequest,
    ) -> Result<ConsumerGroupHeartbeatResponse, Refusal> {
        let session = ms(self.config.consumer_group_session_timeout_ms);
        let Cluster { groups, topics, .. } = self;
        let group = groups.groups.get_mut(&req.group_id);
        let exists = group.is_some();
        let Some(cg) = group.and_then(|g| g.consumer.as_mut()) else {
            return Err(not_found(&req.group_id, exists));
        };
        let id = match req.instance_id.as_deref() {
            None => {
                if !cg.members.contains_key(&req.member_id) {
                    return Err(unknown_member(&req.member_id, &req.group_id));
                }
                req.member_id.clone()
            }
            Some(inst) => {
                let Some(m) = cg.static_member(inst) else {
                    return Err(unknown_instance(inst));
                };
                if m.id != req.member_id {
                    return Err(fenced_instance(&req.member_id, inst, &m.id));
                }
                m.id.clone()
            }
        };
        if req.member_epoch == STATIC_LEAVE_EPOCH {
            if let Some(m) = cg.members.get_mut(&id) {
                m.set_epoch(STATIC_LEAVE_EPOCH);
                m.revoking.clear();
                m.rebalance_deadline = None;
                m.session_deadline = Some(now + session);
            }
        } else {
            cg.remove_member(&id, topics);
        }
        Ok(ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(req.member_id.clone()))
            .with_member_epoch(req.member_epoch))
    }

    fn cg_heartbeat(
        &mut self,
        ctx: &Ctx,
        req: &ConsumerGroupHeartbeatRequest,
    ) -> Result<ConsumerGroupHeartbeatResponse, Refusal> {
        let now = ctx.now;
        let generated = self.new_uuid().to_string();
        let interval = self.config.consumer_group_heartbeat_interval_ms;
        let session = ms(self.config.consumer_group_session_timeout_ms);
        let max_size = usize::try_from(self.config.consumer_group_max_size).unwrap_or(0);
        let assignment_interval = ms(self.config.consumer_group_assignment_interval_ms);
        let client_host = format!("/{}", self.config.host);
        let Cluster { groups, topics, .. } = self;
        let create = req.member_epoch == 0;
        let gid = &req.group_id;
        match groups.groups.get_mut(gid) {
            None if !create => return Err(not_found(gid, false)),
            None => {
                let mut g = Group::new();
                g.consumer = Some(ConsumerGroup::created());
                groups.groups.insert(gid.clone(), g);
            }
            Some(g) if g.consumer.is_none() => {
                if !create {
                    return Err(not_found(gid, true));
                }
                if !g.is_empty_classic() {
                    // Kafka may upgrade a live classic group in place; the
                    // mock does not (see the README).
                    return Err((
                        ErrorCode::GroupIdNotFound,
                        format!("Cannot upgrade classic group {gid} to consumer group."),
                    ));
                }
                // An empty classic group becomes a consumer group; its
                // committed offsets stay.
                let offsets = std::mem::take(&mut g.offsets);
                *g = Group::new();
                g.offsets = offsets;
                g.consumer = Some(ConsumerGroup::created());
            }
            Some(_) => {}
        }
        let Some(cg) = groups.groups.get_mut(gid).and_then(|g| g.consumer.as_mut()) else {
            return Err((ErrorCode::UnknownServerError, String::new()));
        };
        if cg.members.len() >= max_size
            && (req.member_id.is_empty() || !cg.members.contains_key(&req.member_id))
        {
            return Err((
                ErrorCode::GroupMaxSizeReached,
                format!(
                    "The consumer group has reached its maximum capacity of {max_size} members."
                ),
            ));
        }
        let member_id = if req.member_id.is_empty() {
            generated
        } else {
            req.member_id.clone()
        };
        let owned = req.topic_partitions.as_deref();
        // The member as it was (None if new), and as it will be.
        let (old, mut member) = match req.instance_id.as_deref() {
            None => match cg.members.get(&member_id) {
                Some(m) => {
                    check_epoch(m, req.member_epoch, owned)?;
                    (Some(m.clone()), m.clone())
                }
                None if create => (None, CgMember::new(member_id.clone())),
                None => return Err(unknown_member(&member_id, gid)),
            },
            Some(inst) => match cg.static_member(inst).cloned() {
                None if create => match cg.members.get(&member_id) {
                    Some(m) => (Some(m.clone()), m.clone()),
                    None => (None, CgMember::new(member_id.clone())),
                },
                Some(prev) if create => {
                    if prev.epoch != STATIC_LEAVE_EPOCH {
                        return Err((
                            ErrorCode::UnreleasedInstanceId,
                            format!(
                                "Static member {member_id} with instance id {inst} cannot join the \
                                 group because the instance id is owned by {} member.",
                                prev.id
                            ),
                        ));
                    }
                    // The new instance takes over the old one's partitions
                    // and target under its own member id.
                    cg.members.remove(&prev.id);
                    if let Some(t) = cg.target.remove(&prev.id) {
                        cg.target.insert(member_id.clone(), t);
                    }
                    let mut m = prev.clone();
                    m.id = member_id.clone();
                    m.epoch = 0;
                    m.previous_epoch = 0;
                    (Some(prev), m)
                }
                None => return Err(unknown_instance(inst)),
                Some(prev) => {
                    if prev.id != member_id {
                        return Err(fenced_instance(&member_id, inst, &prev.id));
                    }
                    check_epoch(&prev, req.member_epoch, owned)?;
                    (Some(prev.clone()), prev)
                }
            },
        };
        if let Some(i) = &req.instance_id {
            member.instance_id = Some(i.clone());
        }
        if let Some(r) = &req.rack_id {
            member.rack_id = Some(r.clone());
        }
        if req.rebalance_timeout_ms != -1 {
            member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        }
        if let Some(a) = &req.server_assignor {
            member.server_assignor = Some(a.clone());
        }
        if let Some(names) = &req.subscribed_topic_names {
            member.topic_names = names.clone();
        }
        if let Some(re) = &req.subscribed_topic_regex {
            member.regex = Some(re.clone());
        }
        member.client_id = ctx.client_id.clone().unwrap_or_default();
        member.client_host = client_host;
        let old_names = old
            .as_ref()
            .map(|m| m.topic_names.clone())
            .unwrap_or_default();
        let old_regex = old.as_ref().and_then(|m| m.regex.clone());
        let mut bump = old_names != member.topic_names;
        if old_regex != member.regex {
            if let Some(re) = member.regex.as_deref().filter(|r| !r.is_empty()) {
                if let Err(e) = compile(re) {
                    return Err((
                        ErrorCode::InvalidRegularExpression,
                        format!(
                            "SubscribedTopicRegex `{re}` is not a valid regular expression: {e}."
                        ),
                    ));
                }
            }
            bump = true;
        }
        let old_assigned = old.as_ref().map(|m| m.assigned.clone()).unwrap_or_default();
        cg.members.insert(member_id.clone(), member);
        let metadata = cg.compute_metadata(topics);
        if metadata != cg.metadata {
            cg.metadata = metadata;
            bump = true;
        }
        if bump {
            cg.epoch += 1;
            tracing::debug!(target: "kafka_mock::groups", group = %gid, epoch = cg.epoch, "group epoch bumped");
        }
        // Kafka 4.4 computes a new target assignment at most once per
        // interval (measured: about a second), so a burst of joins makes one
        // rebalance; until then the group is Assigning.
        if cg.epoch > cg.assignment_epoch
            && cg
                .last_assignment
                .is_none_or(|t| now >= t + assignment_interval)
        {
            cg.compute_target(topics);
            cg.last_assignment = Some(now);
        }
        let target = cg.target.get(&member_id).cloned().unwrap_or_default();
        let others = cg.owned_by_others(&member_id);
        let target_epoch = cg.assignment_epoch;
        let Some(m) = cg.members.get_mut(&member_id) else {
            return Err((ErrorCode::UnknownServerError, String::new()));
        };
        let was_unrevoked = m.state == MemberState::UnrevokedPartitions;
        reconcile(m, target_epoch, &target, &others, owned);
        if m.state == MemberState::UnrevokedPartitions {
            if !was_unrevoked || m.rebalance_deadline.is_none() {
                m.rebalance_deadline = Some(now + ms(m.rebalance_timeout_ms.max(0)));
            }
        } else {
            m.rebalance_deadline = None;
        }
        m.session_deadline = Some(now + session);
        let full = req.member_epoch == 0
            || (req.rebalance_timeout_ms != -1
                && (req.subscribed_topic_names.is_some() || req.subscribed_topic_regex.is_some())
                && req.topic_partitions.is_some());
        let mut resp = ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(member_id.clone()))
            .with_member_epoch(m.epoch)
            .with_heartbeat_interval_ms(interval);
        if full || m.assigned != old_assigned {
            resp.assignment = Some(to_response_assignment(&m.assigned));
        }
        Ok(resp)
    }

    pub(super) fn consumer_group_describe(
        &mut self,
        ctx: &Ctx,
        req: ConsumerGroupDescribeRequest,
    ) -> Reply {
        let injected = self
            .faults
            .take(ApiKey::ConsumerGroupDescribe, ctx.broker, None, None);
        let mut resp =
            ConsumerGroupDescribeResponse::default().with_throttle_time_ms(self.faults.throttle_ms);
        for id in req.group_ids {
            let error = injected.or_else(|| self.group_status(ctx.broker, &id, true));
            let mut d = match (error, self.groups.groups.get(&id)) {
                (Some(e), _) => CgDescribedGroup::default()
                    .with_group_id(id.clone())
                    .with_error_code(e.code())
                    .with_error_message(Some(e.description().to_string())),
                (
                    None,
                    Some(Group {
                        consumer: Some(cg), ..
                    }),
                ) => cg.describe(&id, &self.topics),
                (None, g) => {
                    let (e, msg) = not_found(&id, g.is_some());
                    CgDescribedGroup::default()
                        .with_group_id(id.clone())
                        .with_error_code(e.code())
                        .with_error_message(Some(msg))
                }
            };
            if req.include_authorized_operations && d.error_code == 0 {
                d.authorized_operations = GROUP_OPERATIONS;
            }
            resp.groups.push(d);
        }
        Reply::Respond(ResponseBody::ConsumerGroupDescribe(resp))
    }
}

fn unknown_member(member_id: &str, group_id: &str) -> Refusal {
    (
        ErrorCode::UnknownMemberId,
        format!("Member {member_id} is not a member of group {group_id}."),
    )
}

fn unknown_instance(instance: &str) -> Refusal {
    (
        ErrorCode::UnknownMemberId,
        format!("Instance id {instance} is unknown."),
    )
}

fn fenced_instance(member_id: &str, instance: &str, owner: &str) -> Refusal {
    (
        ErrorCode::FencedInstanceId,
        format!(
            "Static member {member_id} with instance id {instance} was fenced by member {owner}."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subs(entries: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        entries
            .iter()
            .map(|(m, ts)| (m.to_string(), ts.iter().map(|t| t.to_string()).collect()))
            .collect()
    }

    #[test]
    fn uniform_balances_and_keeps_what_it_can() {
        let counts = BTreeMap::from([("a".to_string(), 5), ("b".to_string(), 1)]);
        let first = assign_uniform(&subs(&[("m1", &["a", "b"])]), &counts, &BTreeMap::new());
        assert_eq!(first["m1"].len(), 6);
        let second = assign_uniform(
            &subs(&[("m1", &["a", "b"]), ("m2", &["a", "b"])]),
            &counts,
            &first,
        );
        assert_eq!(second["m1"].len(), 3);
        assert_eq!(second["m2"].len(), 3);
        assert!(
            second["m1"].is_subset(&first["m1"]),
            "m1 keeps a subset of what it had"
        );
        assert!(second["m1"].is_disjoint(&second["m2"]));
    }

    #[test]
    fn uniform_respects_different_subscriptions() {
        let counts = BTreeMap::from([("a".to_string(), 4), ("b".to_string(), 2)]);
        let out = assign_uniform(
            &subs(&[("m1", &["a"]), ("m2", &["a", "b"])]),
            &counts,
            &BTreeMap::new(),
        );
        assert!(out["m1"].iter().all(|(t, _)| t == "a"));
        assert_eq!(out["m1"].len() + out["m2"].len(), 6);
        assert_eq!(out["m1"].len(), 3);
    }

    #[test]
    fn range_gives_consecutive_ranges_in_member_order() {
        let counts = BTreeMap::from([("a".to_string(), 5)]);
        let out = assign_range(&subs(&[("m2", &["a"]), ("m1", &["a"])]), &counts);
        let m1: Vec<i32> = out["m1"].iter().map(|(_, p)| *p).collect();
        let m2: Vec<i32> = out["m2"].iter().map(|(_, p)| *p).collect();
        assert_eq!(m1, vec![0, 1, 2]);
        assert_eq!(m2, vec![3, 4]);
    }

    #[test]
    fn regexes_match_whole_names() {
        let re = compile("orders-.*").unwrap();
        assert!(re.is_match("orders-eu"));
        assert!(!re.is_match("old-orders-eu"));
        assert!(compile("(unclosed").is_err());
    }
}
