//! Classic consumer groups and committed offsets.
//!
//! This is the group coordinator of a Kafka broker for the classic
//! (JoinGroup/SyncGroup) protocol: the group state machine (Empty,
//! PreparingRebalance, CompletingRebalance, Stable, Dead), member ids,
//! static membership (KIP-345), session, rebalance and pending-sync timers,
//! and the offset APIs. The rules follow Kafka's `GroupCoordinator`; where
//! the mock differs, the comment says so.
//!
//! JoinGroup and SyncGroup requests that must wait are parked: the member
//! holds a ticket, and the state machine files the answer under that ticket
//! when it "invokes the callback", as Kafka's purgatory would.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_proto::messages::delete_groups_response::DeletableGroupResult;
use kafka_proto::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_proto::messages::find_coordinator_response::Coordinator;
use kafka_proto::messages::join_group_response::JoinGroupResponseMember;
use kafka_proto::messages::leave_group_response::MemberResponse;
use kafka_proto::messages::list_groups_response::ListedGroup;
use kafka_proto::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_proto::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_proto::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_proto::messages::{
    ConsumerProtocolSubscription, DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest,
    DescribeGroupsResponse, FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatRequest,
    HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse,
    ListGroupsRequest, ListGroupsResponse, OffsetCommitRequest, OffsetCommitResponse,
    OffsetDeleteRequest, OffsetDeleteResponse, OffsetFetchRequest, OffsetFetchResponse,
    SyncGroupRequest, SyncGroupResponse,
};
use kafka_proto::{ApiKey, ErrorCode, Message, RequestBody, ResponseBody, Uuid};

use crate::cluster::{Cluster, Park, Reply};
use crate::Ctx;

mod consumer;

use consumer::ConsumerGroup;

/// FindCoordinator key types.
pub(crate) const KEY_GROUP: i8 = 0;
pub(crate) const KEY_TRANSACTION: i8 = 1;

/// How long a new member's JoinGroup may wait before the member is dropped
/// (Kafka's `NewMemberJoinTimeoutMs`).
const NEW_MEMBER_JOIN_TIMEOUT: Duration = Duration::from_secs(300);
/// Kafka's default `offset.metadata.max.bytes`.
const MAX_OFFSET_METADATA: usize = 4096;
/// Answers for parked requests whose connection went away are dropped
/// after this long.
const RESULT_TTL: Duration = Duration::from_secs(600);
/// Extra time a parked request waits past the longest legitimate wait
/// before it answers on its own (a safety net; Kafka has none).
const PARK_SLACK: Duration = Duration::from_secs(30);
/// Operations an authorizer-less broker allows on a group: READ, DELETE,
/// DESCRIBE (bits of `AclOperation` codes 3, 6 and 8).
const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

/// State of a classic group, as Kafka names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// A member of a classic group.
#[derive(Debug)]
struct Member {
    id: String,
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocol_type: String,
    /// Supported protocols in preference order, with their metadata.
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    /// Ticket of a parked JoinGroup (the member is "awaiting join").
    join_waiter: Option<u64>,
    /// Ticket of a parked SyncGroup (the member is "awaiting sync").
    sync_waiter: Option<u64>,
    /// Joined but not yet part of a completed generation.
    is_new: bool,
    /// When the member expires unless it heartbeats (or rejoins) first.
    expires: Option<Instant>,
}

impl Member {
    fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }
}

/// The value of one committed offset.
#[derive(Debug, Clone)]
struct StoredOffset {
    offset: i64,
    leader_epoch: i32,
    metadata: String,
}

/// A classic group and its committed offsets.
#[derive(Debug)]
struct Group {
    state: GroupState,
    generation: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: Option<String>,
    /// Members in join order (the order decides the next leader).
    members: Vec<Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with their expiry.
    pending_members: BTreeMap<String, Instant>,
    /// Members of the current generation that have not sent SyncGroup yet.
    pending_sync: BTreeSet<String>,
    /// When the current join phase completes with whoever has joined.
    join_deadline: Option<Instant>,
    /// When members still in `pending_sync` are removed.
    sync_deadline: Option<Instant>,
    /// Topics the members subscribe to (consumer protocol only).
    subscribed_topics: Option<BTreeSet<String>>,
    offsets: BTreeMap<(String, i32), StoredOffset>,
    /// Set when the group is a KIP-848 consumer group; the classic state
    /// above then stays Empty.
    consumer: Option<ConsumerGroup>,
}

impl Group {
    fn new() -> Self {
        Self {
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: Vec::new(),
            pending_members: BTreeMap::new(),
            pending_sync: BTreeSet::new(),
            join_deadline: None,
            sync_deadline: None,
            subscribed_topics: None,
            offsets: BTreeMap::new(),
            consumer: None,
        }
    }

    /// A classic group without members, which a consumer group may replace.
    fn is_empty_classic(&self) -> bool {
        self.consumer.is_none()
            && self.state == GroupState::Empty
            && self.members.is_empty()
            && self.pending_members.is_empty()
    }

    /// The state as Kafka names it, for either kind of group.
    fn state_name(&self) -> &'static str {
        match &self.consumer {
            Some(cg) => cg.state_name(),
            None => self.state.name(),
        }
    }

    fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    fn has(&self, id: &str) -> bool {
        self.member(id).is_some()
    }

    fn is_leader(&self, id: &str) -> bool {
        self.leader.as_deref() == Some(id)
    }

    fn static_member_id(&self, instance: &str) -> Option<String> {
        self.members
            .iter()
            .find(|m| m.instance_id.as_deref() == Some(instance))
            .map(|m| m.id.clone())
    }

    fn add(&mut self, member: Member) {
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(member.id.clone());
        }
        self.pending_members.remove(&member.id);
        self.members.push(member);
    }

    fn remove(&mut self, id: &str) -> Option<Member> {
        self.pending_members.remove(id);
        self.pending_sync.remove(id);
        let i = self.members.iter().position(|m| m.id == id)?;
        let m = self.members.remove(i);
        if self.is_leader(id) {
            self.leader = self.members.first().map(|m| m.id.clone());
        }
        Some(m)
    }

    fn can_rebalance(&self) -> bool {
        matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        )
    }

    fn all_joined(&self) -> bool {
        self.members.iter().all(|m| m.join_waiter.is_some()) && self.pending_members.is_empty()
    }

    /// The longest rebalance timeout of the members (at least 1 ms, so a
    /// timer armed with it never fires at the instant it was armed).
    fn rebalance_timeout(&self) -> Duration {
        self.members
            .iter()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default()
            .max(Duration::from_millis(1))
    }

    fn supports_count(&self, protocol: &str) -> usize {
        self.members
            .iter()
            .filter(|m| m.protocols.iter().any(|(n, _)| n == protocol))
            .count()
    }

    /// Kafka's `supportsProtocols`: a member may join if its protocol type
    /// matches and it shares a protocol with every current member.
    fn supports_protocols(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.state == GroupState::Empty {
            !protocol_type.is_empty() && !protocols.is_empty()
        } else {
            self.protocol_type.as_deref() == Some(protocol_type)
                && protocols
                    .iter()
                    .any(|(n, _)| self.supports_count(n) == self.members.len())
        }
    }

    /// The protocol every member supports that gets the most votes, each
    /// member voting for the first such protocol in its own list. Ties go
    /// to the one the first member prefers.
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.first()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| self.supports_count(n) == self.members.len())
            .collect();
        let mut votes: Vec<usize> = vec![0; candidates.len()];
        for m in &self.members {
            if let Some(i) = m
                .protocols
                .iter()
                .find_map(|(n, _)| candidates.iter().position(|c| c == n))
            {
                if let Some(v) = votes.get_mut(i) {
                    *v += 1;
                }
            }
        }
        let mut best: Option<(usize, usize)> = None;
        for (i, &v) in votes.iter().enumerate() {
            if best.is_none_or(|(_, bv)| v > bv) {
                best = Some((i, v));
            }
        }
        best.and_then(|(i, _)| candidates.get(i).map(|s| s.to_string()))
    }

    fn current_member_metadata(&self) -> Vec<JoinGroupResponseMember> {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        self.members
            .iter()
            .map(|m| {
                JoinGroupResponseMember::default()
                    .with_member_id(m.id.clone())
                    .with_group_instance_id(m.instance_id.clone())
                    .with_metadata(m.metadata(&protocol))
            })
            .collect()
    }

    fn compute_subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = BTreeSet::new();
        for m in &self.members {
            topics.extend(subscription_topics(&m.metadata(protocol))?);
        }
        Some(topics)
    }

    fn is_subscribed_to(&self, topic: &str) -> bool {
        if let Some(cg) = &self.consumer {
            return cg.is_subscribed_to(topic);
        }
        self.subscribed_topics
            .as_ref()
            .is_some_and(|t| t.contains(topic))
    }

    fn next_deadline(&self) -> Option<Instant> {
        let members = self.members.iter().filter_map(|m| m.expires);
        let pending = self.pending_members.values().copied();
        members
            .chain(pending)
            .chain(self.join_deadline)
            .chain(self.sync_deadline)
            .chain(
                self.consumer
                    .as_ref()
                    .and_then(ConsumerGroup::next_deadline),
            )
            .min()
    }
}

/// Topics of a consumer-protocol subscription (a version prefix, then the
/// `ConsumerProtocolSubscription` schema); `None` if it does not parse.
fn subscription_topics(metadata: &Bytes) -> Option<Vec<String>> {
    let mut buf = metadata.clone();
    if buf.len() < 2 {
        return None;
    }
    let version = i16::from_be_bytes([buf[0], buf[1]]);
    let _ = buf.split_to(2);
    // Newer versions only add fields at the end: read them as the newest
    // version we know, as Kafka does.
    let version = version.clamp(0, *ConsumerProtocolSubscription::VERSIONS.end());
    ConsumerProtocolSubscription::decode(&mut buf, version)
        .ok()
        .map(|s| s.topics)
}

/// What a JoinGroup is answered with, before it is fitted to a version.
#[derive(Debug, Clone)]
struct JoinResult {
    error: ErrorCode,
    member_id: String,
    generation: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: String,
    skip_assignment: bool,
    members: Vec<JoinGroupResponseMember>,
}

impl JoinResult {
    fn error(member_id: impl Into<String>, error: ErrorCode) -> Self {
        Self {
            error,
            member_id: member_id.into(),
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            members: Vec::new(),
        }
    }

    fn of_group(group: &Group, member_id: &str, members: Vec<JoinGroupResponseMember>) -> Self {
        Self {
            error: ErrorCode::None,
            member_id: member_id.to_string(),
            generation: group.generation,
            protocol_type: group.protocol_type.clone(),
            protocol_name: group.protocol_name.clone(),
            leader: group.leader.clone().unwrap_or_default(),
            skip_assignment: false,
            members,
        }
    }

    fn response(self, version: i16, throttle_ms: i32) -> ResponseBody {
        let mut r = JoinGroupResponse::default()
            .with_throttle_time_ms(throttle_ms)
            .with_error_code(self.error.code())
            .with_generation_id(self.generation)
            .with_leader(self.leader)
            .with_member_id(self.member_id)
            .with_members(self.members);
        if version >= 7 {
            r.protocol_type = self.protocol_type;
            r.protocol_name = self.protocol_name;
        } else {
            r.protocol_name = Some(self.protocol_name.unwrap_or_default());
        }
        if version >= 9 {
            r.skip_assignment = self.skip_assignment;
        }
        ResponseBody::JoinGroup(r)
    }
}

/// What a SyncGroup is answered with, before it is fitted to a version.
#[derive(Debug, Clone)]
struct SyncResult {
    error: ErrorCode,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    assignment: Bytes,
}

impl SyncResult {
    fn error(error: ErrorCode) -> Self {
        Self {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }

    fn response(self, version: i16, throttle_ms: i32) -> ResponseBody {
        let mut r = SyncGroupResponse::default()
            .with_throttle_time_ms(throttle_ms)
            .with_error_code(self.error.code())
            .with_assignment(self.assignment);
        if version >= 5 {
            r.protocol_type = self.protocol_type;
            r.protocol_name = self.protocol_name;
        }
        ResponseBody::SyncGroup(r)
    }
}

/// An answer filed for a parked request.
#[derive(Debug)]
enum Outcome {
    Join(JoinResult),
    Sync(SyncResult),
}

/// Partitions an OffsetFetch asks for: (name, topic id, partitions).
type WantedTopics = Vec<(Option<String>, Uuid, Vec<i32>)>;
/// One partition's fetched offset: (partition, offset, leader epoch,
/// metadata, error).
type FetchedPartition = (i32, i64, i32, String, ErrorCode);
/// One topic's fetched offsets: (name, topic id, partitions).
type FetchedTopic = (String, Uuid, Vec<FetchedPartition>);

/// Answers for parked requests, by ticket, with when they were filed.
type Results = HashMap<u64, (Instant, Outcome)>;

/// How a JoinGroup was handled: answered now, or parked under a ticket.
enum JoinStep {
    Done(JoinResult),
    Wait(u64),
}

/// What a JoinGroup asks for, validated.
struct JoinParams {
    member_id: String,
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocol_type: String,
    protocols: Vec<(String, Bytes)>,
    require_known_member_id: bool,
    supports_skip_assignment: bool,
}

/// State of every consumer group.
#[derive(Debug)]
pub(crate) struct GroupCoordinator {
    /// Coordinators moved by fault injection: (key type, key) -> broker.
    pub(crate) overrides: HashMap<(i8, String), i32>,
    groups: BTreeMap<String, Group>,
    results: Results,
    next_ticket: u64,
    /// Kafka's `group.min.session.timeout.ms`.
    min_session_timeout_ms: i32,
    /// Kafka's `group.max.session.timeout.ms`.
    max_session_timeout_ms: i32,
}

impl Default for GroupCoordinator {
    fn default() -> Self {
        Self {
            overrides: HashMap::new(),
            groups: BTreeMap::new(),
            results: HashMap::new(),
            next_ticket: 0,
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
        }
    }
}

/// One committed offset, as OffsetCommit and TxnOffsetCommit carry it.
#[allow(dead_code)] // built by the transaction layer
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommittedOffset {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) leader_epoch: i32,
    pub(crate) metadata: Option<String>,
}

/// Serves the group APIs; hands any other request back.
#[allow(clippy::result_large_err)] // the request is handed back as is, unboxed
pub(crate) fn dispatch(
    cluster: &mut Cluster,
    ctx: &Ctx,
    body: RequestBody,
) -> Result<Reply, RequestBody> {
    Ok(match body {
        RequestBody::FindCoordinator(r) => cluster.find_coordinator(ctx, r),
        RequestBody::JoinGroup(r) => cluster.join_group(ctx, r),
        RequestBody::SyncGroup(r) => cluster.sync_group(ctx, r),
        RequestBody::Heartbeat(r) => cluster.heartbeat(ctx, r),
        RequestBody::LeaveGroup(r) => cluster.leave_group(ctx, r),
        RequestBody::OffsetCommit(r) => cluster.offset_commit(ctx, r),
        RequestBody::OffsetFetch(r) => cluster.offset_fetch(ctx, r),
        RequestBody::OffsetDelete(r) => cluster.offset_delete(ctx, r),
        RequestBody::ListGroups(r) => cluster.list_groups(ctx, r),
        RequestBody::DescribeGroups(r) => cluster.describe_groups(ctx, r),
        RequestBody::DeleteGroups(r) => cluster.delete_groups(ctx, r),
        RequestBody::ConsumerGroupHeartbeat(r) => cluster.consumer_group_heartbeat(ctx, r),
        RequestBody::ConsumerGroupDescribe(r) => cluster.consumer_group_describe(ctx, r),
        other => return Err(other),
    })
}

// ---------------------------------------------------------------------------
// The state machine. Free functions over one group and the answer box, so
// that the borrow of the group and of the results stay apart.
// ---------------------------------------------------------------------------

fn file(results: &mut Results, now: Instant, ticket: u64, outcome: Outcome) {
    results.retain(|_, (at, _)| now.saturating_duration_since(*at) < RESULT_TTL);
    results.insert(ticket, (now, outcome));
}

fn invoke_join(results: &mut Results, now: Instant, member: &mut Member, result: JoinResult) {
    if let Some(t) = member.join_waiter.take() {
        file(results, now, t, Outcome::Join(result));
    }
}

fn invoke_sync(results: &mut Results, now: Instant, member: &mut Member, result: SyncResult) {
    if let Some(t) = member.sync_waiter.take() {
        file(results, now, t, Outcome::Sync(result));
    }
}

fn schedule_heartbeat(member: &mut Member, now: Instant) {
    member.expires = Some(now + member.session_timeout);
}

/// Answers every member waiting in SyncGroup, then restarts their session.
fn propagate_assignment(group: &mut Group, results: &mut Results, now: Instant, error: ErrorCode) {
    let (ptype, pname) = if error == ErrorCode::None {
        (group.protocol_type.clone(), group.protocol_name.clone())
    } else {
        (None, None)
    };
    for m in &mut group.members {
        if m.sync_waiter.is_some() {
            let result = SyncResult {
                error,
                protocol_type: ptype.clone(),
                protocol_name: pname.clone(),
                assignment: m.assignment.clone(),
            };
            invoke_sync(results, now, m, result);
            schedule_heartbeat(m, now);
        }
    }
}

fn prepare_rebalance(group: &mut Group, results: &mut Results, now: Instant) {
    if group.state == GroupState::CompletingRebalance {
        for m in &mut group.members {
            m.assignment = Bytes::new();
        }
        propagate_assignment(group, results, now, ErrorCode::RebalanceInProgress);
    }
    group.pending_sync.clear();
    group.sync_deadline = None;
    // group.initial.rebalance.delay.ms is 0 in the mock: a group that was
    // empty completes its first join at once with whoever has joined.
    group.join_deadline = Some(if group.state == GroupState::Empty {
        now
    } else {
        now + group.rebalance_timeout()
    });
    group.state = GroupState::PreparingRebalance;
    maybe_complete_join(group, results, now);
}

fn maybe_prepare_rebalance(group: &mut Group, results: &mut Results, now: Instant) {
    if group.can_rebalance() {
        prepare_rebalance(group, results, now);
    }
}

fn maybe_complete_join(group: &mut Group, results: &mut Results, now: Instant) {
    if group.state == GroupState::PreparingRebalance
        && (group.all_joined() || group.join_deadline.is_some_and(|d| d <= now))
    {
        complete_join(group, results, now);
    }
}

/// Kafka's `onCompleteJoin`: drops dynamic members that did not rejoin,
/// starts the next generation and answers every waiting JoinGroup.
fn complete_join(group: &mut Group, results: &mut Results, now: Instant) {
    let gone: Vec<String> = group
        .members
        .iter()
        .filter(|m| m.join_waiter.is_none() && m.instance_id.is_none())
        .map(|m| m.id.clone())
        .collect();
    for id in gone {
        if let Some(mut m) = group.remove(&id) {
            invoke_sync(
                results,
                now,
                &mut m,
                SyncResult::error(ErrorCode::UnknownMemberId),
            );
        }
    }
    // Keep the leader if it rejoined, else pick any member that did.
    let leader_joined = group
        .leader
        .as_deref()
        .and_then(|l| group.member(l))
        .is_some_and(|m| m.join_waiter.is_some());
    if !leader_joined {
        match group.members.iter().find(|m| m.join_waiter.is_some()) {
            Some(m) => group.leader = Some(m.id.clone()),
            None if !group.members.is_empty() => {
                // Only static members that did not rejoin are left: wait
                // another rebalance timeout for them (or their session).
                group.join_deadline = Some(now + group.rebalance_timeout());
                return;
            }
            None => {}
        }
    }
    group.join_deadline = None;
    group.generation = group.generation.wrapping_add(1);
    group.pending_sync.clear();
    group.sync_deadline = None;
    if group.members.is_empty() {
        group.protocol_name = None;
        group.subscribed_topics = None;
        group.state = GroupState::Empty;
        return;
    }
    group.protocol_name = group.select_protocol();
    group.subscribed_topics = group.compute_subscribed_topics();
    group.state = GroupState::CompletingRebalance;
    let all = group.current_member_metadata();
    let leader = group.leader.clone().unwrap_or_default();
    let base = JoinResult::of_group(group, "", Vec::new());
    for m in &mut group.members {
        let mut result = base.clone();
        result.member_id = m.id.clone();
        if m.id == leader {
            result.members = all.clone();
        }
        invoke_join(results, now, m, result);
        schedule_heartbeat(m, now);
        m.is_new = false;
        group.pending_sync.insert(m.id.clone());
    }
    group.sync_deadline = Some(now + group.rebalance_timeout());
}

/// Kafka's `removeMemberAndUpdateGroup`.
fn remove_member_and_update(group: &mut Group, results: &mut Results, now: Instant, id: &str) {
    if let Some(mut m) = group.remove(id) {
        invoke_join(
            results,
            now,
            &mut m,
            JoinResult::error("", ErrorCode::UnknownMemberId),
        );
        // Kafka leaves such a SyncGroup unanswered; answering it is kinder.
        invoke_sync(
            results,
            now,
            &mut m,
            SyncResult::error(ErrorCode::UnknownMemberId),
        );
    }
    match group.state {
        GroupState::Stable | GroupState::CompletingRebalance => {
            maybe_prepare_rebalance(group, results, now)
        }
        GroupState::PreparingRebalance => maybe_complete_join(group, results, now),
        GroupState::Empty | GroupState::Dead => {}
    }
}

/// Kafka's `validateCurrentMember`: the instance id (if any) must map to
/// this member id, and the member must exist.
fn validate_member(group: &Group, member_id: &str, instance_id: Option<&str>) -> Option<ErrorCode> {
    if let Some(inst) = instance_id {
        match group.static_member_id(inst) {
            Some(cur) if cur != member_id => return Some(ErrorCode::FencedInstanceId),
            Some(_) => {}
            None => return Some(ErrorCode::UnknownMemberId),
        }
    }
    if !group.has(member_id) {
        return Some(ErrorCode::UnknownMemberId);
    }
    None
}

/// Kafka's offset-commit validation, for either kind of group.
/// `partitions` are the committed ones (a consumer group member may commit
/// them with an older epoch if it has owned them since).
#[allow(clippy::too_many_arguments)]
fn validate_offset_commit(
    group: &Group,
    member_id: &str,
    instance_id: Option<&str>,
    generation: i32,
    transactional: bool,
    version: i16,
    partitions: &[(Uuid, i32)],
) -> Result<(), ErrorCode> {
    if let Some(cg) = &group.consumer {
        return cg.validate_offset_commit(
            member_id,
            instance_id,
            generation,
            transactional,
            version,
            partitions,
        );
    }
    if group.state == GroupState::Dead {
        return Err(ErrorCode::CoordinatorNotAvailable);
    }
    if generation < 0 && group.state == GroupState::Empty {
        // Admin clients and consumers that assign partitions themselves.
        return Ok(());
    }
    if generation >= 0 || !member_id.is_empty() || instance_id.is_some() {
        if let Some(e) = validate_member(group, member_id, instance_id) {
            return Err(e);
        }
        if generation != group.generation {
            return Err(ErrorCode::IllegalGeneration);
        }
    } else if !transactional && group.state != GroupState::Empty {
        return Err(ErrorCode::UnknownMemberId);
    }
    if !transactional && group.state == GroupState::CompletingRebalance {
        return Err(ErrorCode::RebalanceInProgress);
    }
    Ok(())
}

impl GroupCoordinator {
    fn ticket(&mut self) -> u64 {
        self.next_ticket += 1;
        self.next_ticket
    }

    fn join(&mut self, now: Instant, group_id: &str, p: JoinParams, new_id: String) -> JoinStep {
        let unknown = p.member_id.is_empty();
        if let Some(g) = self.groups.get_mut(group_id) {
            match &g.consumer {
                // An empty consumer group turns back into a classic one;
                // its committed offsets stay.
                Some(cg) if cg.is_empty() => {
                    let offsets = std::mem::take(&mut g.offsets);
                    *g = Group::new();
                    g.offsets = offsets;
                }
                // Kafka lets a classic member with the consumer protocol
                // type join a consumer group; the mock does not.
                Some(_) => {
                    return JoinStep::Done(JoinResult::error(
                        p.member_id,
                        ErrorCode::InconsistentGroupProtocol,
                    ))
                }
                None => {}
            }
        }
        if !self.groups.contains_key(group_id) {
            if !unknown {
                return JoinStep::Done(JoinResult::error(p.member_id, ErrorCode::UnknownMemberId));
            }
            self.groups.insert(group_id.to_string(), Group::new());
        }
        let ticket = self.ticket();
        let Some(group) = self.groups.get_mut(group_id) else {
            return JoinStep::Done(JoinResult::error(
                p.member_id,
                ErrorCode::UnknownServerError,
            ));
        };
        let results = &mut self.results;
        let step = if unknown {
            new_member_join(group, results, now, p, new_id, ticket)
        } else {
            current_member_join(group, results, now, p, ticket)
        };
        maybe_complete_join(group, results, now);
        step
    }
}

fn new_member(
    p: &JoinParams,
    id: String,
    instance_id: Option<String>,
    now: Instant,
    ticket: u64,
) -> Member {
    Member {
        id,
        instance_id,
        client_id: p.client_id.clone(),
        client_host: p.client_host.clone(),
        session_timeout: p.session_timeout,
        rebalance_timeout: p.rebalance_timeout,
        protocol_type: p.protocol_type.clone(),
        protocols: p.protocols.clone(),
        assignment: Bytes::new(),
        join_waiter: Some(ticket),
        sync_waiter: None,
        is_new: true,
        expires: Some(now + NEW_MEMBER_JOIN_TIMEOUT),
    }
}

fn add_member_and_rebalance(
    group: &mut Group,
    results: &mut Results,
    now: Instant,
    member: Member,
) -> JoinStep {
    let ticket = member.join_waiter.unwrap_or_default();
    group.add(member);
    maybe_prepare_rebalance(group, results, now);
    JoinStep::Wait(ticket)
}

fn update_member(member: &mut Member, p: &JoinParams, ticket: u64) {
    member.protocols = p.protocols.clone();
    member.rebalance_timeout = p.rebalance_timeout;
    member.session_timeout = p.session_timeout;
    // A previous JoinGroup of the same member is superseded, as in Kafka;
    // its parked request answers on its own deadline.
    member.join_waiter = Some(ticket);
}

fn update_member_and_rebalance(
    group: &mut Group,
    results: &mut Results,
    now: Instant,
    member_id: &str,
    p: &JoinParams,
    ticket: u64,
) -> JoinStep {
    if let Some(m) = group.member_mut(member_id) {
        update_member(m, p, ticket);
    }
    maybe_prepare_rebalance(group, results, now);
    JoinStep::Wait(ticket)
}

fn new_member_join(
    group: &mut Group,
    results: &mut Results,
    now: Instant,
    p: JoinParams,
    new_id: String,
    ticket: u64,
) -> JoinStep {
    if group.state == GroupState::Dead {
        return JoinStep::Done(JoinResult::error("", ErrorCode::CoordinatorNotAvailable));
    }
    if !group.supports_protocols(&p.protocol_type, &p.protocols) {
        return JoinStep::Done(JoinResult::error("", ErrorCode::InconsistentGroupProtocol));
    }
    match p.instance_id.clone() {
        Some(inst) => match group.static_member_id(&inst) {
            Some(old) => update_static_member(group, results, now, &old, new_id, &p, ticket),
            None => {
                let m = new_member(&p, new_id, Some(inst), now, ticket);
                add_member_and_rebalance(group, results, now, m)
            }
        },
        None if p.require_known_member_id => {
            group
                .pending_members
                .insert(new_id.clone(), now + p.session_timeout);
            JoinStep::Done(JoinResult::error(new_id, ErrorCode::MemberIdRequired))
        }
        None => {
            let m = new_member(&p, new_id, None, now, ticket);
            add_member_and_rebalance(group, results, now, m)
        }
    }
}

/// A static member rejoined without its member id: it takes over the old
/// member's place under a new id (KIP-345). In a Stable group whose
/// protocol does not change, it gets the current generation back without
/// a rebalance.
fn update_static_member(
    group: &mut Group,
    results: &mut Results,
    now: Instant,
    old_id: &str,
    new_id: String,
    p: &JoinParams,
    ticket: u64,
) -> JoinStep {
    let current_leader = group.leader.clone().unwrap_or_default();
    let Some(m) = group.member_mut(old_id) else {
        return JoinStep::Done(JoinResult::error("", ErrorCode::UnknownServerError));
    };
    // Fence whoever still waits under the old id.
    invoke_join(
        results,
        now,
        m,
        JoinResult::error(old_id, ErrorCode::FencedInstanceId),
    );
    invoke_sync(
        results,
        now,
        m,
        SyncResult::error(ErrorCode::FencedInstanceId),
    );
    m.id = new_id.clone();
    update_member(m, p, ticket);
    schedule_heartbeat(m, now);
    if group.is_leader(old_id) {
        group.leader = Some(new_id.clone());
    }
    if group.pending_sync.remove(old_id) {
        group.pending_sync.insert(new_id.clone());
    }
    match group.state {
        GroupState::Stable => {
            if group.protocol_name == group.select_protocol() {
                let result = if p.supports_skip_assignment {
                    // JoinGroup v9+: the leader learns it leads, with the
                    // members, but must not run the assignor (KIP-814).
                    let is_leader = group.is_leader(&new_id);
                    let members = if is_leader {
                        group.current_member_metadata()
                    } else {
                        Vec::new()
                    };
                    let mut r = JoinResult::of_group(group, &new_id, members);
                    r.skip_assignment = is_leader;
                    r
                } else {
                    // Older versions get the old leader id, so that a
                    // rejoining leader does not assign.
                    let mut r = JoinResult::of_group(group, &new_id, Vec::new());
                    r.leader = current_leader;
                    r
                };
                if let Some(m) = group.member_mut(&new_id) {
                    invoke_join(results, now, m, result);
                }
            } else {
                maybe_prepare_rebalance(group, results, now);
            }
        }
        GroupState::CompletingRebalance => prepare_rebalance(group, results, now),
        GroupState::PreparingRebalance | GroupState::Empty | GroupState::Dead => {}
    }
    JoinStep::Wait(ticket)
}

fn current_member_join(
    group: &mut Group,
    results: &mut Results,
    now: Instant,
    p: JoinParams,
    ticket: u64,
) -> JoinStep {
    let id = p.member_id.clone();
    if group.state == GroupState::Dead {
        return JoinStep::Done(JoinResult::error(id, ErrorCode::CoordinatorNotAvailable));
    }
    if !group.supports_protocols(&p.protocol_type, &p.protocols) {
        return JoinStep::Done(JoinResult::error(id, ErrorCode::InconsistentGroupProtocol));
    }
    if group.pending_members.contains_key(&id) {
        if p.instance_id.is_some() {
            // Pending member ids are only handed to dynamic members.
            return JoinStep::Done(JoinResult::error(id, ErrorCode::UnknownMemberId));
        }
        let m = new_member(&p, id, None, now, ticket);
        return add_member_and_rebalance(group, results, now, m);
    }
    if let Some(e) = validate_member(group, &id, p.instance_id.as_deref()) {
        return JoinStep::Done(JoinResult::error(id, e));
    }
    let matches = group.member(&id).is_some_and(|m| m.matches(&p.protocols));
    match group.state {
        GroupState::PreparingRebalance => {
            update_member_and_rebalance(group, results, now, &id, &p, ticket)
        }
        GroupState::CompletingRebalance if matches => {
            // Same metadata (it probably lost the first answer): repeat it.
            let members = if group.is_leader(&id) {
                group.current_member_metadata()
            } else {
                Vec::new()
            };
            JoinStep::Done(JoinResult::of_group(group, &id, members))
        }
        GroupState::CompletingRebalance => {
            update_member_and_rebalance(group, results, now, &id, &p, ticket)
        }
        GroupState::Stable if group.is_leader(&id) || !matches => {
            // A leader's JoinGroup always rebalances: it may have seen a
            // metadata change that the member metadata does not show.
            update_member_and_rebalance(group, results, now, &id, &p, ticket)
        }
        GroupState::Stable => JoinStep::Done(JoinResult::of_group(group, &id, Vec::new())),
        GroupState::Empty | GroupState::Dead => {
            JoinStep::Done(JoinResult::error(id, ErrorCode::UnknownMemberId))
        }
    }
}

/// Formats a UUID the way Java's `UUID.toString` does.
fn java_uuid(u: Uuid) -> String {
    let b = u.as_bytes();
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn millis(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

impl Cluster {
    /// The broker coordinating `key` (a group id or transactional id): a
    /// stable hash over the live brokers, unless fault injection moved it.
    pub(crate) fn coordinator_for(&self, key_type: i8, key: &str) -> i32 {
        if let Some(&b) = self.groups.overrides.get(&(key_type, key.to_string())) {
            return b;
        }
        let live: Vec<i32> = self
            .brokers
            .values()
            .filter(|b| b.up)
            .map(|b| b.id)
            .collect();
        if live.is_empty() {
            return -1;
        }
        // FNV-1a: stable across runs and platforms.
        let mut h: u32 = 0x811c_9dc5;
        for b in key.bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        live[h as usize % live.len()]
    }

    /// Moves the coordinator of a group (`key_type` 0) or transactional id
    /// (`key_type` 1) to `broker`; requests for it elsewhere then get
    /// NOT_COORDINATOR.
    ///
    /// Moving a group's coordinator answers its parked JoinGroup and
    /// SyncGroup requests with NOT_COORDINATOR, as the old coordinator does
    /// when it unloads the group; the group's state carries over.
    pub fn move_coordinator(
        &mut self,
        key_type: i8,
        key: &str,
        broker: i32,
    ) -> Result<(), crate::MockError> {
        if !self.brokers.contains_key(&broker) {
            return Err(crate::MockError::UnknownBroker(broker));
        }
        let before = self.coordinator_for(key_type, key);
        self.groups
            .overrides
            .insert((key_type, key.to_string()), broker);
        if key_type == KEY_GROUP && before != broker {
            let now = self.now;
            let gc = &mut self.groups;
            if let Some(group) = gc.groups.get_mut(key) {
                for m in &mut group.members {
                    let id = m.id.clone();
                    invoke_join(
                        &mut gc.results,
                        now,
                        m,
                        JoinResult::error(id, ErrorCode::NotCoordinator),
                    );
                    invoke_sync(
                        &mut gc.results,
                        now,
                        m,
                        SyncResult::error(ErrorCode::NotCoordinator),
                    );
                }
            }
        }
        Ok(())
    }

    /// Sets the session timeouts a JoinGroup may ask for (Kafka's
    /// `group.min.session.timeout.ms` and `group.max.session.timeout.ms`,
    /// 6 s and 30 min by default); others get INVALID_SESSION_TIMEOUT.
    pub fn set_group_session_timeout_bounds(&mut self, min_ms: i32, max_ms: i32) {
        self.groups.min_session_timeout_ms = min_ms.max(0);
        self.groups.max_session_timeout_ms = max_ms.max(min_ms);
    }

    /// Names of the groups that exist, with their state as Kafka spells it.
    pub fn group_states(&self) -> Vec<(String, String)> {
        self.groups
            .groups
            .iter()
            .map(|(id, g)| (id.clone(), g.state_name().to_string()))
            .collect()
    }

    /// Stores committed offsets for `group` (used by TxnOffsetCommit when
    /// a transaction commits). Fails if the group's state forbids it.
    ///
    /// The group is created (empty, without protocol) if it does not exist,
    /// as Kafka does when a transaction commits offsets for a new group.
    #[allow(dead_code)] // called by the transaction layer
    pub(crate) fn commit_group_offsets(
        &mut self,
        _now: Instant,
        group: &str,
        offsets: Vec<CommittedOffset>,
    ) -> Result<(), ErrorCode> {
        let g = self
            .groups
            .groups
            .entry(group.to_string())
            .or_insert_with(Group::new);
        if g.state == GroupState::Dead {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        for o in offsets {
            g.offsets.insert(
                (o.topic, o.partition),
                StoredOffset {
                    offset: o.offset,
                    leader_epoch: o.leader_epoch,
                    metadata: o.metadata.unwrap_or_default(),
                },
            );
        }
        Ok(())
    }

    /// Checks a TxnOffsetCommit's member fields against the group, as Kafka
    /// does before accepting transactional offsets (a group that does not
    /// exist accepts them).
    pub(crate) fn validate_txn_offset_commit(
        &self,
        group: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), ErrorCode> {
        match self.groups.groups.get(group) {
            // Without a group only a producer outside any group (generation
            // -1) may commit; a generation names a group that would exist,
            // and Kafka answers ILLEGAL_GENERATION whatever the version.
            None if generation >= 0 => Err(ErrorCode::IllegalGeneration),
            None => Ok(()),
            Some(g) => {
                validate_offset_commit(g, member_id, instance_id, generation, true, i16::MAX, &[])
            }
        }
    }

    /// Runs the group timers due at `now`: session expiry, pending member
    /// expiry, rebalance and pending-sync timeouts.
    pub(crate) fn groups_timeout(&mut self, now: Instant) {
        for group in self.groups.groups.values_mut() {
            if let Some(cg) = &mut group.consumer {
                cg.expire(now, &self.topics);
            }
        }
        let gc = &mut self.groups;
        let results = &mut gc.results;
        for group in gc.groups.values_mut() {
            if group.next_deadline().is_none_or(|d| d > now) {
                continue;
            }
            let expired_pending: Vec<String> = group
                .pending_members
                .iter()
                .filter(|(_, &t)| t <= now)
                .map(|(id, _)| id.clone())
                .collect();
            for id in expired_pending {
                group.pending_members.remove(&id);
                maybe_complete_join(group, results, now);
            }
            let expired: Vec<String> = group
                .members
                .iter()
                .filter(|m| m.expires.is_some_and(|t| t <= now))
                .map(|m| m.id.clone())
                .collect();
            for id in expired {
                let Some(m) = group.member_mut(&id) else {
                    continue;
                };
                let waiting = m.join_waiter.is_some() || m.sync_waiter.is_some();
                if !m.is_new && waiting {
                    // Members waiting in a rebalance count as alive; their
                    // session restarts when the rebalance answers them.
                    m.expires = None;
                } else {
                    tracing::debug!(target: "kafka_mock::groups", member = %id, "session expired");
                    remove_member_and_update(group, results, now, &id);
                }
            }
            if group.join_deadline.is_some_and(|d| d <= now) {
                if group.state == GroupState::PreparingRebalance {
                    complete_join(group, results, now);
                } else {
                    group.join_deadline = None;
                }
            }
            if group.sync_deadline.is_some_and(|d| d <= now) {
                group.sync_deadline = None;
                if matches!(
                    group.state,
                    GroupState::CompletingRebalance | GroupState::Stable
                ) && !group.pending_sync.is_empty()
                {
                    let late: Vec<String> = group.pending_sync.iter().cloned().collect();
                    for id in late {
                        if let Some(mut m) = group.remove(&id) {
                            invoke_join(
                                results,
                                now,
                                &mut m,
                                JoinResult::error("", ErrorCode::UnknownMemberId),
                            );
                        }
                    }
                    prepare_rebalance(group, results, now);
                }
            }
        }
    }

    /// The earliest group timer.
    pub(crate) fn groups_next_deadline(&self) -> Option<Instant> {
        self.groups
            .groups
            .values()
            .filter_map(Group::next_deadline)
            .min()
    }

    /// Forgets every group's committed offsets for a deleted topic.
    pub(crate) fn groups_topic_deleted(&mut self, topic: &str) {
        for g in self.groups.groups.values_mut() {
            g.offsets.retain(|(t, _), _| t != topic);
        }
    }

    /// The error for a request about `group` sent to `broker`, if any:
    /// INVALID_GROUP_ID for an empty id where one is needed, else
    /// NOT_COORDINATOR unless this broker coordinates the group.
    fn group_status(&self, broker: i32, group: &str, needs_id: bool) -> Option<ErrorCode> {
        if needs_id && group.is_empty() {
            return Some(ErrorCode::InvalidGroupId);
        }
        if self.coordinator_for(KEY_GROUP, group) != broker {
            return Some(ErrorCode::NotCoordinator);
        }
        None
    }

    // -----------------------------------------------------------------------
    // FindCoordinator
    // -----------------------------------------------------------------------

    fn find_coordinator(&mut self, ctx: &Ctx, req: FindCoordinatorRequest) -> Reply {
        let injected = self
            .faults
            .take(ApiKey::FindCoordinator, ctx.broker, None, None);
        let key_type = if ctx.version >= 1 {
            req.key_type
        } else {
            KEY_GROUP
        };
        let lookup = |c: &Cluster, key: &str| -> (ErrorCode, i32, String, i32) {
            if let Some(code) = injected {
                return (code, -1, String::new(), -1);
            }
            if key_type != KEY_GROUP && key_type != KEY_TRANSACTION {
                return (ErrorCode::InvalidRequest, -1, String::new(), -1);
            }
            let node = c.coordinator_for(key_type, key);
            match c.brokers.get(&node).filter(|b| b.up) {
                Some(b) => (
                    ErrorCode::None,
                    b.id,
                    c.config.host.clone(),
                    i32::from(b.port),
                ),
                None => (ErrorCode::CoordinatorNotAvailable, -1, String::new(), -1),
            }
        };
        // Kafka sends an empty message, not a null one, with a success.
        let message = |e: ErrorCode| {
            Some(if e == ErrorCode::None {
                String::new()
            } else {
                e.description().to_string()
            })
        };
        let mut resp =
            FindCoordinatorResponse::default().with_throttle_time_ms(self.faults.throttle_ms);
        if ctx.version >= 4 {
            resp.coordinators = req
                .coordinator_keys
                .iter()
                .map(|k| {
                    let (e, node, host, port) = lookup(self, k);
                    Coordinator::default()
                        .with_key(k.clone())
                        .with_node_id(node)
                        .with_host(host)
                        .with_port(port)
                        .with_error_code(e.code())
                        .with_error_message(message(e))
                })
                .collect();
        } else {
            let (e, node, host, port) = lookup(self, &req.key);
            resp.error_code = e.code();
            // The field exists from v1; before v4 Kafka names the success.
            if ctx.version >= 1 {
                resp.error_message = if e == ErrorCode::None {
                    Some("NONE".into())
                } else {
                    message(e)
                };
            }
            resp.node_id = node;
            resp.host = host;
            resp.port = port;
        }
        Reply::Respond(ResponseBody::FindCoordinator(resp))
    }

    // -----------------------------------------------------------------------
    // JoinGroup, SyncGroup, Heartbeat, LeaveGroup
    // -----------------------------------------------------------------------

    fn join_group(&mut self, ctx: &Ctx, req: JoinGroupRequest) -> Reply {
        let version = ctx.version;
        let now = ctx.now;
        let done =
            |c: &Cluster, r: JoinResult| Reply::Respond(r.response(version, c.faults.throttle_ms));
        if let Some(code) = self.faults.take(ApiKey::JoinGroup, ctx.broker, None, None) {
            return done(self, JoinResult::error(req.member_id, code));
        }
        if let Some(code) = self.group_status(ctx.broker, &req.group_id, true) {
            return done(self, JoinResult::error(req.member_id, code));
        }
        let gc = &self.groups;
        if req.session_timeout_ms < gc.min_session_timeout_ms
            || req.session_timeout_ms > gc.max_session_timeout_ms
        {
            return done(
                self,
                JoinResult::error(req.member_id, ErrorCode::InvalidSessionTimeout),
            );
        }
        let rebalance_ms = if version == 0 {
            req.session_timeout_ms
        } else {
            req.rebalance_timeout_ms
        };
        let client_id = ctx.client_id.clone().unwrap_or_default();
        let uuid = self.new_uuid();
        let prefix = req.group_instance_id.clone().unwrap_or(client_id.clone());
        let new_id = format!("{prefix}-{}", java_uuid(uuid));
        let params = JoinParams {
            member_id: req.member_id,
            instance_id: req.group_instance_id,
            client_id,
            client_host: format!("/{}", self.config.host),
            session_timeout: millis(req.session_timeout_ms),
            rebalance_timeout: millis(rebalance_ms),
            protocol_type: req.protocol_type,
            protocols: req
                .protocols
                .into_iter()
                .map(|p| (p.name, p.metadata))
                .collect(),
            require_known_member_id: version >= 4,
            supports_skip_assignment: version >= 9,
        };
        let longest = params.rebalance_timeout;
        let group_id = req.group_id;
        let ticket = match self.groups.join(now, &group_id, params, new_id) {
            JoinStep::Done(r) => return done(self, r),
            JoinStep::Wait(t) => t,
        };
        if let Some((_, Outcome::Join(r))) = self.groups.results.remove(&ticket) {
            return done(self, r);
        }
        let longest = self
            .groups
            .groups
            .get(&group_id)
            .map_or(longest, |g| g.rebalance_timeout().max(longest));
        let deadline = now + longest.max(NEW_MEMBER_JOIN_TIMEOUT) + PARK_SLACK;
        Reply::Park(Park {
            deadline,
            check: Box::new(move |c: &mut Cluster, _now, expired| {
                if let Some((_, Outcome::Join(r))) = c.groups.results.remove(&ticket) {
                    return Some(r.response(version, c.faults.throttle_ms));
                }
                if !expired {
                    return None;
                }
                // Not answered in time (superseded by a newer JoinGroup of
                // the same member): let the client rejoin.
                if let Some(g) = c.groups.groups.get_mut(&group_id) {
                    for m in &mut g.members {
                        if m.join_waiter == Some(ticket) {
                            m.join_waiter = None;
                        }
                    }
                }
                Some(
                    JoinResult::error("", ErrorCode::RebalanceInProgress)
                        .response(version, c.faults.throttle_ms),
                )
            }),
        })
    }

    fn sync_group(&mut self, ctx: &Ctx, req: SyncGroupRequest) -> Reply {
        let version = ctx.version;
        let now = ctx.now;
        let done =
            |c: &Cluster, r: SyncResult| Reply::Respond(r.response(version, c.faults.throttle_ms));
        if let Some(code) = self.faults.take(ApiKey::SyncGroup, ctx.broker, None, None) {
            return done(self, SyncResult::error(code));
        }
        if let Some(code) = self.group_status(ctx.broker, &req.group_id, true) {
            return done(self, SyncResult::error(code));
        }
        let ticket = self.groups.ticket();
        let gc = &mut self.groups;
        let results = &mut gc.results;
        let Some(group) = gc.groups.get_mut(&req.group_id) else {
            return done(self, SyncResult::error(ErrorCode::UnknownMemberId));
        };
        let member_id = req.member_id.as_str();
        let error = if group.state == GroupState::Dead {
            Some(ErrorCode::CoordinatorNotAvailable)
        } else if let Some(e) = validate_member(group, member_id, req.group_instance_id.as_deref())
        {
            Some(e)
        } else if req.generation_id != group.generation {
            Some(ErrorCode::IllegalGeneration)
        } else if req
            .protocol_type
            .as_ref()
            .is_some_and(|t| group.protocol_type.as_ref() != Some(t))
            || req
                .protocol_name
                .as_ref()
                .is_some_and(|n| group.protocol_name.as_ref() != Some(n))
        {
            Some(ErrorCode::InconsistentGroupProtocol)
        } else {
            None
        };
        if let Some(e) = error {
            return done(self, SyncResult::error(e));
        }
        match group.state {
            GroupState::Empty | GroupState::Dead => {
                return done(self, SyncResult::error(ErrorCode::UnknownMemberId))
            }
            GroupState::PreparingRebalance => {
                return done(self, SyncResult::error(ErrorCode::RebalanceInProgress))
            }
            GroupState::Stable => {
                group.pending_sync.remove(member_id);
                if group.pending_sync.is_empty() {
                    group.sync_deadline = None;
                }
                let pt = group.protocol_type.clone();
                let pn = group.protocol_name.clone();
                let Some(m) = group.member_mut(member_id) else {
                    return done(self, SyncResult::error(ErrorCode::UnknownMemberId));
                };
                schedule_heartbeat(m, now);
                let r = SyncResult {
                    error: ErrorCode::None,
                    protocol_type: pt,
                    protocol_name: pn,
                    assignment: m.assignment.clone(),
                };
                return done(self, r);
            }
            GroupState::CompletingRebalance => {
                if let Some(m) = group.member_mut(member_id) {
                    m.sync_waiter = Some(ticket);
                }
                group.pending_sync.remove(member_id);
                if group.pending_sync.is_empty() {
                    group.sync_deadline = None;
                }
                if group.is_leader(member_id) {
                    let mut given: HashMap<String, Bytes> = HashMap::new();
                    for a in req.assignments {
                        given.entry(a.member_id).or_insert(a.assignment);
                    }
                    for m in &mut group.members {
                        m.assignment = given.remove(&m.id).unwrap_or_default();
                    }
                    propagate_assignment(group, results, now, ErrorCode::None);
                    group.state = GroupState::Stable;
                }
            }
        }
        if let Some((_, Outcome::Sync(r))) = self.groups.results.remove(&ticket) {
            return done(self, r);
        }
        let group_id = req.group_id;
        let longest = self
            .groups
            .groups
            .get(&group_id)
            .map_or(Duration::ZERO, |g| g.rebalance_timeout());
        Reply::Park(Park {
            deadline: now + longest + PARK_SLACK,
            check: Box::new(move |c: &mut Cluster, _now, expired| {
                if let Some((_, Outcome::Sync(r))) = c.groups.results.remove(&ticket) {
                    return Some(r.response(version, c.faults.throttle_ms));
                }
                if !expired {
                    return None;
                }
                if let Some(g) = c.groups.groups.get_mut(&group_id) {
                    for m in &mut g.members {
                        if m.sync_waiter == Some(ticket) {
                            m.sync_waiter = None;
                        }
                    }
                }
                Some(
                    SyncResult::error(ErrorCode::RebalanceInProgress)
                        .response(version, c.faults.throttle_ms),
                )
            }),
        })
    }

    fn heartbeat(&mut self, ctx: &Ctx, req: HeartbeatRequest) -> Reply {
        let code = self.heartbeat_error(ctx, &req);
        Reply::Respond(ResponseBody::Heartbeat(
            HeartbeatResponse::default()
                .with_throttle_time_ms(self.faults.throttle_ms)
                .with_error_code(code.code()),
        ))
    }

    fn heartbeat_error(&mut self, ctx: &Ctx, req: &HeartbeatRequest) -> ErrorCode {
        if let Some(code) = self.faults.take(ApiKey::Heartbeat, ctx.broker, None, None) {
            return code;
        }
        if let Some(code) = self.group_status(ctx.broker, &req.group_id, true) {
            return code;
        }
        let Some(group) = self.groups.groups.get_mut(&req.group_id) else {
            return ErrorCode::UnknownMemberId;
        };
        if group.state == GroupState::Dead {
            return ErrorCode::CoordinatorNotAvailable;
        }
        if let Some(e) = validate_member(group, &req.member_id, req.group_instance_id.as_deref()) {
            return e;
        }
        if req.generation_id != group.generation {
            return ErrorCode::IllegalGeneration;
        }
        let state = group.state;
        let Some(m) = group.member_mut(&req.member_id) else {
            return ErrorCode::UnknownMemberId;
        };
        match state {
            GroupState::Empty | GroupState::Dead => ErrorCode::UnknownMemberId,
            GroupState::CompletingRebalance | GroupState::Stable => {
                schedule_heartbeat(m, ctx.now);
                ErrorCode::None
            }
            GroupState::PreparingRebalance => {
                schedule_heartbeat(m, ctx.now);
                ErrorCode::RebalanceInProgress
            }
        }
    }

    fn leave_group(&mut self, ctx: &Ctx, req: LeaveGroupRequest) -> Reply {
        let now = ctx.now;
        let leaving: Vec<(String, Option<String>)> = if ctx.version >= 3 {
            req.members
                .into_iter()
                .map(|m| (m.member_id, m.group_instance_id))
                .collect()
        } else {
            vec![(req.member_id, None)]
        };
        let mut top = ErrorCode::None;
        let mut per_member: Vec<(String, Option<String>, ErrorCode)> = Vec::new();
        if let Some(code) = self.faults.take(ApiKey::LeaveGroup, ctx.broker, None, None) {
            top = code;
        } else if let Some(code) = self.group_status(ctx.broker, &req.group_id, true) {
            top = code;
        } else {
            let gc = &mut self.groups;
            let results = &mut gc.results;
            match gc.groups.get_mut(&req.group_id) {
                None => {
                    per_member = leaving
                        .into_iter()
                        .map(|(id, inst)| (id, inst, ErrorCode::UnknownMemberId))
                        .collect();
                }
                Some(group) if group.state == GroupState::Dead => {
                    top = ErrorCode::CoordinatorNotAvailable;
                }
                Some(group) => {
                    for (id, inst) in leaving {
                        let code = if id.is_empty() {
                            // Removal by instance id (an admin client).
                            match inst.as_deref().and_then(|i| group.static_member_id(i)) {
                                Some(cur) => {
                                    remove_member_and_update(group, results, now, &cur);
                                    ErrorCode::None
                                }
                                None => ErrorCode::UnknownMemberId,
                            }
                        } else if group.pending_members.remove(&id).is_some() {
                            maybe_complete_join(group, results, now);
                            ErrorCode::None
                        } else {
                            match validate_member(group, &id, inst.as_deref()) {
                                Some(e) => e,
                                None => {
                                    remove_member_and_update(group, results, now, &id);
                                    ErrorCode::None
                                }
                            }
                        };
                        per_member.push((id, inst, code));
                    }
                }
            }
        }
        let mut resp = LeaveGroupResponse::default().with_throttle_time_ms(self.faults.throttle_ms);
        if ctx.version >= 3 {
            resp.error_code = top.code();
            resp.members = per_member
                .into_iter()
                .map(|(id, inst, e)| {
                    MemberResponse::default()
                        .with_member_id(id)
                        .with_group_instance_id(inst)
                        .with_error_code(e.code())
                })
                .collect();
        } else {
            let member_error = per_member.first().map_or(ErrorCode::None, |m| m.2);
            let code = if top == ErrorCode::None {
                member_error
            } else {
                top
            };
            resp.error_code = code.code();
        }
        Reply::Respond(ResponseBody::LeaveGroup(resp))
    }

    // -----------------------------------------------------------------------
    // Offsets
    // -----------------------------------------------------------------------

    /// Resolves a topic named in an offset request; the name and whether
    /// `partition` exists in it.
    fn resolve_topic(&self, by_id: bool, name: &str, id: Uuid) -> Option<String> {
        if by_id {
            self.topic_name_by_id(id)
        } else {
            self.topics.contains_key(name).then(|| name.to_string())
        }
    }

    fn offset_commit(&mut self, ctx: &Ctx, req: OffsetCommitRequest) -> Reply {
        let version = ctx.version;
        let by_id = version >= 10;
        let now = ctx.now;
        let request_fault = self
            .faults
            .take(ApiKey::OffsetCommit, ctx.broker, None, None);
        let committed: Vec<(Uuid, i32)> = req
            .topics
            .iter()
            .flat_map(|t| {
                let id = if by_id {
                    t.topic_id
                } else {
                    self.topics.get(&t.name).map_or(Uuid::ZERO, |x| x.id)
                };
                t.partitions.iter().map(move |p| (id, p.partition_index))
            })
            .collect();
        let group_error: Option<ErrorCode> = request_fault
            .or_else(|| self.group_status(ctx.broker, &req.group_id, false))
            .or_else(|| {
                let generation = if version >= 1 {
                    req.generation_id_or_member_epoch
                } else {
                    -1
                };
                let instance = req.group_instance_id.as_deref();
                let gc = &mut self.groups;
                match gc.groups.get_mut(&req.group_id) {
                    None if generation < 0 => {
                        gc.groups.insert(req.group_id.clone(), Group::new());
                        None
                    }
                    None if version >= 9 => Some(ErrorCode::GroupIdNotFound),
                    None => Some(ErrorCode::IllegalGeneration),
                    Some(g) => {
                        match validate_offset_commit(
                            g,
                            &req.member_id,
                            instance,
                            generation,
                            false,
                            version,
                            &committed,
                        ) {
                            Err(e) => Some(e),
                            Ok(()) => {
                                // Commits keep a classic member's session alive.
                                if matches!(
                                    g.state,
                                    GroupState::Stable | GroupState::PreparingRebalance
                                ) {
                                    if let Some(m) = g.member_mut(&req.member_id) {
                                        schedule_heartbeat(m, now);
                                    }
                                }
                                None
                            }
                        }
                    }
                }
            });
        let mut resp =
            OffsetCommitResponse::default().with_throttle_time_ms(self.faults.throttle_ms);
        for t in req.topics {
            let resolved = self.resolve_topic(by_id, &t.name, t.topic_id);
            let mut rt = OffsetCommitResponseTopic::default();
            if by_id {
                rt.topic_id = t.topic_id;
            } else {
                rt.name = t.name.clone();
            }
            for p in t.partitions {
                let code = match &resolved {
                    None if by_id => ErrorCode::UnknownTopicId,
                    None => ErrorCode::UnknownTopicOrPartition,
                    Some(name) if !self.partition_exists(name, p.partition_index) => {
                        ErrorCode::UnknownTopicOrPartition
                    }
                    Some(name) => {
                        let partition_fault = if request_fault.is_none() {
                            self.faults.take(
                                ApiKey::OffsetCommit,
                                ctx.broker,
                                Some(name),
                                Some(p.partition_index),
                            )
                        } else {
                            None
                        };
                        if let Some(e) = group_error.or(partition_fault) {
                            e
                        } else if p
                            .committed_metadata
                            .as_ref()
                            .is_some_and(|m| m.len() > MAX_OFFSET_METADATA)
                        {
                            ErrorCode::OffsetMetadataTooLarge
                        } else if let Some(g) = self.groups.groups.get_mut(&req.group_id) {
                            g.offsets.insert(
                                (name.clone(), p.partition_index),
                                StoredOffset {
                                    offset: p.committed_offset,
                                    leader_epoch: p.committed_leader_epoch,
                                    metadata: p.committed_metadata.unwrap_or_default(),
                                },
                            );
                            ErrorCode::None
                        } else {
                            ErrorCode::CoordinatorNotAvailable
                        }
                    }
                };
                rt.partitions.push(
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code.code()),
                );
            }
            resp.topics.push(rt);
        }
        Reply::Respond(ResponseBody::OffsetCommit(resp))
    }

    /// Committed offsets of one group for the wanted partitions (or all of
    /// them): (topic, topic id, [(partition, offset, epoch, metadata, error)]).
    fn fetch_group_offsets(
        &self,
        group_id: &str,
        wanted: Option<WantedTopics>,
        by_id: bool,
    ) -> Vec<FetchedTopic> {
        let group = self.groups.groups.get(group_id);
        let topic_id = |name: &str| self.topics.get(name).map_or(Uuid::ZERO, |t| t.id);
        match wanted {
            None => {
                let mut out: Vec<FetchedTopic> = Vec::new();
                if let Some(g) = group {
                    for ((t, p), o) in &g.offsets {
                        let entry = (
                            *p,
                            o.offset,
                            o.leader_epoch,
                            o.metadata.clone(),
                            ErrorCode::None,
                        );
                        match out.last_mut() {
                            Some(last) if &last.0 == t => last.2.push(entry),
                            _ => out.push((t.clone(), topic_id(t), vec![entry])),
                        }
                    }
                }
                out
            }
            Some(topics) => topics
                .into_iter()
                .map(|(name, id, parts)| {
                    let resolved = match name {
                        Some(n) if !by_id => Some(n),
                        _ => self.topic_name_by_id(id),
                    };
                    let Some(name) = resolved else {
                        let parts = parts
                            .into_iter()
                            .map(|p| (p, -1, -1, String::new(), ErrorCode::UnknownTopicId))
                            .collect();
                        return (String::new(), id, parts);
                    };
                    let parts = parts
                        .into_iter()
                        .map(
                            |p| match group.and_then(|g| g.offsets.get(&(name.clone(), p))) {
                                Some(o) => (
                                    p,
                                    o.offset,
                                    o.leader_epoch,
                                    o.metadata.clone(),
                                    ErrorCode::None,
                                ),
                                None => (p, -1, -1, String::new(), ErrorCode::None),
                            },
                        )
                        .collect();
                    let id = if by_id { id } else { topic_id(&name) };
                    (name, id, parts)
                })
                .collect(),
        }
    }

    /// `require_stable` (KIP-447): a partition whose offset an ongoing
    /// transaction holds answers UNSTABLE_OFFSET_COMMIT until it ends, so
    /// that a new owner does not start before a zombie's commit.
    fn hold_unstable(&self, group: &str, fetched: &mut [FetchedTopic]) {
        for (topic, _, parts) in fetched.iter_mut() {
            for part in parts.iter_mut() {
                if self.txn_offset_pending(group, topic, part.0) {
                    *part = (
                        part.0,
                        -1,
                        -1,
                        String::new(),
                        ErrorCode::UnstableOffsetCommit,
                    );
                }
            }
        }
    }

    fn offset_fetch(&mut self, ctx: &Ctx, req: OffsetFetchRequest) -> Reply {
        let version = ctx.version;
        let injected = self
            .faults
            .take(ApiKey::OffsetFetch, ctx.broker, None, None);
        let mut resp =
            OffsetFetchResponse::default().with_throttle_time_ms(self.faults.throttle_ms);
        if version >= 8 {
            let by_id = version >= 10;
            for g in req.groups {
                let error = injected
                    .or_else(|| self.group_status(ctx.broker, &g.group_id, false))
                    .or_else(|| {
                        // Members of consumer groups say who they are (v9+).
                        let cg = self.groups.groups.get(&g.group_id)?.consumer.as_ref()?;
                        if version < 9 {
                            return None;
                        }
                        cg.validate_offset_fetch(g.member_id.as_deref(), g.member_epoch)
                            .err()
                    });
                let mut rg = OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
                if let Some(e) = error {
                    rg.error_code = e.code();
                    resp.groups.push(rg);
                    continue;
                }
                let wanted = g.topics.map(|ts| {
                    ts.into_iter()
                        .map(|t| (Some(t.name), t.topic_id, t.partition_indexes))
                        .collect()
                });
                let mut fetched = self.fetch_group_offsets(&g.group_id, wanted, by_id);
                if req.require_stable {
                    self.hold_unstable(&g.group_id, &mut fetched);
                }
                rg.topics = fetched
                    .into_iter()
                    .map(|(name, id, parts)| {
                        let mut t = OffsetFetchResponseTopics::default().with_partitions(
                            parts
                                .into_iter()
                                .map(|(p, off, epoch, meta, e)| {
                                    OffsetFetchResponsePartitions::default()
                                        .with_partition_index(p)
                                        .with_committed_offset(off)
                                        .with_committed_leader_epoch(epoch)
                                        .with_metadata(Some(meta))
                                        .with_error_code(e.code())
                                })
                                .collect(),
                        );
                        if by_id {
                            t.topic_id = id;
                        } else {
                            t.name = name;
                        }
                        t
                    })
                    .collect();
                resp.groups.push(rg);
            }
            return Reply::Respond(ResponseBody::OffsetFetch(resp));
        }
        let error = injected.or_else(|| self.group_status(ctx.broker, &req.group_id, false));
        let wanted: Option<WantedTopics> = req.topics.map(|ts| {
            ts.into_iter()
                .map(|t| (Some(t.name), Uuid::ZERO, t.partition_indexes))
                .collect()
        });
        let topics = match (error, wanted) {
            (Some(_), None) => Vec::new(),
            (Some(e), Some(w)) => w
                .into_iter()
                .map(|(n, id, parts)| {
                    let parts = parts
                        .into_iter()
                        .map(|p| (p, -1, -1, String::new(), e))
                        .collect();
                    (n.unwrap_or_default(), id, parts)
                })
                .collect(),
            (None, w) => {
                let mut fetched = self.fetch_group_offsets(&req.group_id, w, false);
                if version >= 7 && req.require_stable {
                    self.hold_unstable(&req.group_id, &mut fetched);
                }
                fetched
            }
        };
        resp.topics = topics
            .into_iter()
            .map(|(name, _, parts)| {
                OffsetFetchResponseTopic::default()
                    .with_name(name)
                    .with_partitions(
                        parts
                            .into_iter()
                            .map(|(p, off, epoch, meta, e)| {
                                let mut r = OffsetFetchResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_committed_offset(off)
                                    .with_metadata(Some(meta))
                                    .with_error_code(e.code());
                                if version >= 5 {
                                    r.committed_leader_epoch = epoch;
                                }
                                r
                            })
                            .collect(),
                    )
            })
            .collect();
        if version >= 2 {
            resp.error_code = error.map_or(0, |e| e.code());
        }
        Reply::Respond(ResponseBody::OffsetFetch(resp))
    }

    fn offset_delete(&mut self, ctx: &Ctx, req: OffsetDeleteRequest) -> Reply {
        let mut resp =
            OffsetDeleteResponse::default().with_throttle_time_ms(self.faults.throttle_ms);
        let error = self
            .faults
            .take(ApiKey::OffsetDelete, ctx.broker, None, None)
            .or_else(|| self.group_status(ctx.broker, &req.group_id, false))
            .or_else(|| match self.groups.groups.get(&req.group_id) {
                None => Some(ErrorCode::GroupIdNotFound),
                Some(g) if g.state == GroupState::Dead => Some(ErrorCode::GroupIdNotFound),
                Some(g)
                    if g.state != GroupState::Empty
                        && g.protocol_type.as_deref() != Some("consumer") =>
                {
                    Some(ErrorCode::NonEmptyGroup)
                }
                Some(_) => None,
            });
        if let Some(e) = error {
            resp.error_code = e.code();
            return Reply::Respond(ResponseBody::OffsetDelete(resp));
        }
        for t in req.topics {
            let exists = self.topics.contains_key(&t.name);
            let mut rt = OffsetDeleteResponseTopic::default().with_name(t.name.clone());
            for p in t.partitions {
                let code = if !exists {
                    ErrorCode::UnknownTopicOrPartition
                } else if let Some(g) = self.groups.groups.get_mut(&req.group_id) {
                    if g.state != GroupState::Empty && g.is_subscribed_to(&t.name) {
                        ErrorCode::GroupSubscribedToTopic
                    } else {
                        g.offsets.remove(&(t.name.clone(), p.partition_index));
                        ErrorCode::None
                    }
                } else {
                    ErrorCode::GroupIdNotFound
                };
                rt.partitions.push(
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code.code()),
                );
            }
            resp.topics.push(rt);
        }
        Reply::Respond(ResponseBody::OffsetDelete(resp))
    }

    // -----------------------------------------------------------------------
    // ListGroups, DescribeGroups, DeleteGroups
    // -----------------------------------------------------------------------

    fn list_groups(&mut self, ctx: &Ctx, req: ListGroupsRequest) -> Reply {
        let mut resp = ListGroupsResponse::default().with_throttle_time_ms(self.faults.throttle_ms);
        if let Some(code) = self.faults.take(ApiKey::ListGroups, ctx.broker, None, None) {
            resp.error_code = code.code();
            return Reply::Respond(ResponseBody::ListGroups(resp));
        }
        let states: Vec<String> = if ctx.version >= 4 {
            req.states_filter.iter().map(|s| s.to_lowercase()).collect()
        } else {
            Vec::new()
        };
        let types: Vec<String> = if ctx.version >= 5 {
            req.types_filter.iter().map(|s| s.to_lowercase()).collect()
        } else {
            Vec::new()
        };
        for (id, g) in &self.groups.groups {
            if g.state == GroupState::Dead || self.coordinator_for(KEY_GROUP, id) != ctx.broker {
                continue;
            }
            let (kind, protocol_type) = match g.consumer {
                Some(_) => ("consumer", "consumer".to_string()),
                None => ("classic", g.protocol_type.clone().unwrap_or_default()),
            };
            if !types.is_empty() && !types.iter().any(|t| t == kind) {
                continue;
            }
            let state = g.state_name();
            if !states.is_empty() && !states.contains(&state.to_lowercase()) {
                continue;
            }
            let mut l = ListedGroup::default()
                .with_group_id(id.clone())
                .with_protocol_type(protocol_type);
            if ctx.version >= 4 {
                l.group_state = state.to_string();
            }
            if ctx.version >= 5 {
                l.group_type = kind.to_string();
            }
            resp.groups.push(l);
        }
        Reply::Respond(ResponseBody::ListGroups(resp))
    }

    fn describe_groups(&mut self, ctx: &Ctx, req: DescribeGroupsRequest) -> Reply {
        let mut resp =
            DescribeGroupsResponse::default().with_throttle_time_ms(self.faults.throttle_ms);
        let injected = self
            .faults
            .take(ApiKey::DescribeGroups, ctx.broker, None, None);
        for id in req.groups {
            let mut d = DescribedGroup::default().with_group_id(id.clone());
            if ctx.version >= 3 && req.include_authorized_operations {
                d.authorized_operations = GROUP_OPERATIONS;
            }
            let error = injected.or_else(|| self.group_status(ctx.broker, &id, false));
            match (error, self.groups.groups.get(&id)) {
                (Some(e), _) => {
                    d.error_code = e.code();
                    if ctx.version >= 6 {
                        d.error_message = Some(e.description().to_string());
                    }
                }
                (None, g) if g.is_none_or(|g| g.consumer.is_some()) => {
                    // Kafka describes only classic groups here.
                    d.group_state = GroupState::Dead.name().to_string();
                    if ctx.version >= 6 {
                        d.error_code = ErrorCode::GroupIdNotFound.code();
                        d.error_message = Some(if g.is_some() {
                            format!("Group {id} is not a classic group.")
                        } else {
                            format!("Group {id} not found.")
                        });
                    }
                }
                (None, None) => {}
                (None, Some(g)) => {
                    d.group_state = g.state.name().to_string();
                    d.protocol_type = g.protocol_type.clone().unwrap_or_default();
                    let stable = g.state == GroupState::Stable;
                    let protocol = g.protocol_name.clone().unwrap_or_default();
                    if stable {
                        d.protocol_data = protocol.clone();
                    }
                    d.members = g
                        .members
                        .iter()
                        .map(|m| {
                            let (meta, assignment) = if stable {
                                (m.metadata(&protocol), m.assignment.clone())
                            } else {
                                (Bytes::new(), Bytes::new())
                            };
                            DescribedGroupMember::default()
                                .with_member_id(m.id.clone())
                                .with_group_instance_id(m.instance_id.clone())
                                .with_client_id(m.client_id.clone())
                                .with_client_host(m.client_host.clone())
                                .with_member_metadata(meta)
                                .with_member_assignment(assignment)
                        })
                        .collect();
                }
            }
            resp.groups.push(d);
        }
        Reply::Respond(ResponseBody::DescribeGroups(resp))
    }

    fn delete_groups(&mut self, ctx: &Ctx, req: DeleteGroupsRequest) -> Reply {
        let mut resp =
            DeleteGroupsResponse::default().with_throttle_time_ms(self.faults.throttle_ms);
        let injected = self
            .faults
            .take(ApiKey::DeleteGroups, ctx.broker, None, None);
        for id in req.groups_names {
            let code = match injected.or_else(|| self.group_status(ctx.broker, &id, false)) {
                Some(e) => e,
                None => match self.groups.groups.get(&id).map(|g| (g.state, &g.consumer)) {
                    None | Some((GroupState::Dead, _)) => ErrorCode::GroupIdNotFound,
                    Some((_, Some(cg))) if !cg.is_empty() => ErrorCode::NonEmptyGroup,
                    Some((GroupState::Empty, _)) => {
                        self.groups.groups.remove(&id);
                        ErrorCode::None
                    }
                    Some(_) => ErrorCode::NonEmptyGroup,
                },
            };
            resp.results.push(
                DeletableGroupResult::default()
                    .with_group_id(id)
                    .with_error_code(code.code()),
            );
        }
        Reply::Respond(ResponseBody::DeleteGroups(resp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClusterConfig;

    #[test]
    fn transactional_offsets_create_the_group_and_are_fetchable() {
        let now = Instant::now();
        let mut c = Cluster::new(ClusterConfig::default(), now);
        c.create_topic("t", 2, 1).unwrap();
        let offsets = vec![CommittedOffset {
            topic: "t".into(),
            partition: 1,
            offset: 99,
            leader_epoch: 3,
            metadata: Some("txn".into()),
        }];
        c.commit_group_offsets(now, "tg", offsets).unwrap();
        assert_eq!(
            c.group_states(),
            vec![("tg".to_string(), "Empty".to_string())]
        );
        let got = c.fetch_group_offsets("tg", None, false);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "t");
        assert_eq!(
            got[0].2,
            vec![(1, 99, 3, "txn".to_string(), ErrorCode::None)]
        );
        assert_eq!(c.validate_txn_offset_commit("tg", "", None, -1), Ok(()));
        assert_eq!(
            c.validate_txn_offset_commit("tg", "m", None, 1),
            Err(ErrorCode::UnknownMemberId)
        );
        c.groups_topic_deleted("t");
        assert!(c.fetch_group_offsets("tg", None, false).is_empty());
    }
}
