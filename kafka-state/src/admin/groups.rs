//! Consumer-group administration: list, describe and delete groups, read
//! and set their committed offsets.
//!
//! Groups live on their coordinator, so every command but the listing
//! first finds each group's coordinator (FindCoordinator, one group per
//! request so that every version of it serves) and then asks it. A
//! coordinator that moved, is not there yet or is still loading is found
//! again after `retry_backoff`, until the command's `api_timeout` runs out.
//! The listing asks every broker, since each knows only its own groups.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_proto::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_proto::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_proto::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_proto::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, DeleteGroupsRequest,
    DescribeGroupsRequest, DescribeTransactionsRequest, FindCoordinatorRequest, ListGroupsRequest,
    MetadataRequest, OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest,
    ShareGroupDescribeRequest, ShareGroupDescribeResponse,
};
use kafka_proto::{ErrorCode, RequestBody, ResponseBody, Uuid};

use crate::error::RequestError;
use crate::machine::Ctx;
use crate::metadata::ClusterMetadata;
use crate::router::{Inbound, Outbound, RequestId, Target};
use crate::{Event, TopicPartition};

use super::txns::TransactionDescription;
use super::AdminOutcome;

/// Which groups a listing keeps: an empty list matches any.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListFilter {
    pub(crate) states: Vec<String>,
    pub(crate) types: Vec<String>,
}

impl ListFilter {
    /// Whether a listing passes (a broker too old to report a state or
    /// type filtered it already, or could not).
    fn keeps(&self, g: &GroupListing) -> bool {
        let matches = |wanted: &[String], have: &Option<String>| {
            wanted.is_empty()
                || have
                    .as_ref()
                    .is_none_or(|h| wanted.iter().any(|w| w.eq_ignore_ascii_case(h)))
        };
        matches(&self.states, &g.state) && matches(&self.types, &g.group_type)
    }
}

/// One group as a broker lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupListing {
    /// The group id.
    pub group_id: String,
    /// `consumer` for consumer groups; empty for groups that only commit
    /// offsets.
    pub protocol_type: String,
    /// Its state (`Stable`, `Empty`, ...), from brokers that report it.
    pub state: Option<String>,
    /// `classic` or `consumer` (KIP-848), from brokers that report it.
    pub group_type: Option<String>,
}

/// Every group of the cluster, and the brokers that could not list theirs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupListings {
    /// The groups, by id.
    pub groups: Vec<GroupListing>,
    /// Brokers that answered with an error (their groups are missing).
    pub errors: Vec<(i32, ErrorCode)>,
}

/// One member of a described group.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemberDescription {
    /// The id the coordinator gave it.
    pub member_id: String,
    /// Its static instance id, if any.
    pub instance_id: Option<String>,
    /// Its client id.
    pub client_id: String,
    /// Where it connects from.
    pub host: String,
    /// Its partitions, for consumer groups whose assignment decodes.
    pub assignment: Vec<TopicPartition>,
}

/// A group as its coordinator describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// [`ErrorCode::None`], or why the group could not be described.
    pub error: ErrorCode,
    /// `Stable`, `Empty`, `PreparingRebalance`, `Dead`, ...
    pub state: String,
    /// `consumer` for consumer groups.
    pub protocol_type: String,
    /// `classic` (JoinGroup/SyncGroup) or `consumer` (KIP-848).
    pub group_type: String,
    /// The assignor: the one the leader chose (classic) or the server's
    /// (`uniform`, `range`).
    pub assignor: String,
    /// The members.
    pub members: Vec<MemberDescription>,
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommittedOffset {
    /// The next offset the group consumes.
    pub offset: i64,
    /// The leader epoch of the record before it, if known.
    pub leader_epoch: Option<i32>,
    /// What the committer attached.
    pub metadata: Option<String>,
}

/// A group's committed offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupOffsets {
    /// [`ErrorCode::None`], or why the group's offsets could not be read.
    pub error: ErrorCode,
    /// Per partition, the offset or the partition's error.
    pub offsets: BTreeMap<TopicPartition, Result<CommittedOffset, ErrorCode>>,
}

/// What one group command asks of each group's coordinator.
#[derive(Debug, Clone)]
pub(crate) enum GroupOp {
    Describe,
    Delete,
    FetchOffsets,
    /// Commit these offsets as an admin (generation -1, no member): only
    /// a group without active members accepts it.
    CommitOffsets(BTreeMap<TopicPartition, i64>),
    /// Describe as a share group (ShareGroupDescribe).
    DescribeShare,
    /// Delete these committed offsets (OffsetDelete).
    DeleteOffsets(BTreeSet<TopicPartition>),
    /// Describe transactions: the "group" is a transactional id, found at
    /// its transaction coordinator.
    DescribeTransactions,
}

impl GroupOp {
    /// FindCoordinator's key type: 0 for groups, 1 for transactions.
    fn key_type(&self) -> i8 {
        match self {
            Self::DescribeTransactions => 1,
            _ => 0,
        }
    }
}

/// What one group's part of a command came to.
#[derive(Debug, Clone)]
enum Done {
    Describe(GroupDescription),
    Delete(ErrorCode),
    Offsets(GroupOffsets),
    Committed(BTreeMap<TopicPartition, ErrorCode>),
    Transaction(TransactionDescription),
    /// The coordinator could not be found or asked (a broker error code
    /// for the group as a whole).
    Failed(ErrorCode),
}

#[derive(Debug)]
struct Task {
    group: String,
    coordinator: Option<i32>,
    /// The answer named topics by ids the cache does not know: fetch
    /// every topic's metadata, then ask again (once).
    needs_metadata: bool,
    refreshed: bool,
    /// DescribeGroups did not know the group: ask ConsumerGroupDescribe
    /// (KIP-848 groups), and fall back to this if it does not know it
    /// either.
    not_classic: Option<GroupDescription>,
    in_flight: Option<RequestId>,
    /// Not before this (a retry's backoff).
    not_before: Instant,
    done: Option<Done>,
}

#[derive(Debug)]
enum Command {
    /// ListGroups to every broker: those still to send, those waiting.
    List {
        unsent: Vec<i32>,
        waiting: BTreeSet<RequestId>,
        listings: GroupListings,
        filter: ListFilter,
    },
    PerGroup {
        op: GroupOp,
        tasks: Vec<Task>,
    },
}

#[derive(Debug)]
struct Job {
    command: Command,
    deadline: Instant,
    /// How long to wait before finding a coordinator again.
    backoff: Duration,
    /// A transport failure that ends the command once nothing else can.
    failure: Option<RequestError>,
}

/// What a request of this machine was for.
#[derive(Debug, Clone, Copy)]
enum Sub {
    /// ListGroups to this broker.
    List(i32),
    Find(usize),
    Ask(usize),
    /// Every topic's metadata, to name topics an answer gave by id.
    Metadata(usize),
}

/// The group commands in progress.
#[derive(Debug, Default)]
pub(crate) struct GroupAdmin {
    jobs: BTreeMap<RequestId, Job>,
    /// Request id to (command id, what it was for).
    subs: BTreeMap<RequestId, (RequestId, Sub)>,
}

impl GroupAdmin {
    pub(crate) fn list(
        &mut self,
        id: RequestId,
        deadline: Instant,
        brokers: Vec<i32>,
        filter: ListFilter,
    ) {
        let command = Command::List {
            unsent: brokers,
            waiting: BTreeSet::new(),
            listings: GroupListings::default(),
            filter,
        };
        self.start(id, deadline, Duration::ZERO, command);
    }

    pub(crate) fn per_group(
        &mut self,
        id: RequestId,
        now: Instant,
        deadline: Instant,
        backoff: Duration,
        op: GroupOp,
        groups: Vec<String>,
    ) {
        let tasks = groups
            .into_iter()
            .map(|group| Task {
                group,
                coordinator: None,
                needs_metadata: false,
                refreshed: false,
                not_classic: None,
                in_flight: None,
                not_before: now,
                done: None,
            })
            .collect();
        self.start(id, deadline, backoff, Command::PerGroup { op, tasks });
    }

    fn start(&mut self, id: RequestId, deadline: Instant, backoff: Duration, command: Command) {
        let job = Job {
            command,
            deadline,
            backoff,
            failure: None,
        };
        self.jobs.insert(id, job);
    }

    /// Has every group of command `id` fetch all topics' metadata before
    /// anything else (it names topics the client's metadata lacks).
    pub(crate) fn look_up_topics_first(&mut self, id: RequestId) {
        if let Some(Job {
            command: Command::PerGroup { tasks, .. },
            ..
        }) = self.jobs.get_mut(&id)
        {
            for t in tasks {
                t.needs_metadata = true;
            }
        }
    }

    /// Whether `id` is one of this machine's requests.
    pub(crate) fn owns(&self, id: RequestId) -> bool {
        self.subs.contains_key(&id)
    }

    pub(crate) fn poll_requests(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        for (&cmd, job) in &mut self.jobs {
            let expires = job.deadline;
            match &mut job.command {
                Command::List {
                    unsent,
                    waiting,
                    filter,
                    ..
                } => {
                    for node in unsent.drain(..) {
                        let id = ctx.requests.next_id();
                        ctx.requests.push(Outbound {
                            id,
                            target: Target::Node(node),
                            body: ListGroupsRequest::default()
                                .with_states_filter(filter.states.clone())
                                .with_types_filter(filter.types.clone())
                                .into(),
                            expires,
                        });
                        waiting.insert(id);
                        self.subs.insert(id, (cmd, Sub::List(node)));
                    }
                }
                Command::PerGroup { op, tasks } => {
                    for (i, task) in tasks.iter_mut().enumerate() {
                        if task.done.is_some() || task.in_flight.is_some() || task.not_before > now
                        {
                            continue;
                        }
                        let id = ctx.requests.next_id();
                        let (target, body, sub) = match task.coordinator {
                            _ if task.needs_metadata => (
                                Target::Any,
                                MetadataRequest::default()
                                    .with_allow_auto_topic_creation(false)
                                    .with_topics(None)
                                    .into(),
                                Sub::Metadata(i),
                            ),
                            None => (
                                Target::Any,
                                find_coordinator(&task.group, op.key_type()),
                                Sub::Find(i),
                            ),
                            Some(node) => (
                                Target::Node(node),
                                match task.not_classic {
                                    Some(_) => ConsumerGroupDescribeRequest::default()
                                        .with_group_ids(vec![task.group.clone()])
                                        .into(),
                                    None => ask(op, &task.group, &ctx.metadata.cache),
                                },
                                Sub::Ask(i),
                            ),
                        };
                        ctx.requests.push(Outbound {
                            id,
                            target,
                            body,
                            expires,
                        });
                        task.in_flight = Some(id);
                        self.subs.insert(id, (cmd, sub));
                    }
                }
            }
        }
    }

    pub(crate) fn handle_response(&mut self, ctx: &mut Ctx<'_>, inbound: Inbound) {
        let Some((cmd, sub)) = self.subs.remove(&inbound.id) else {
            return;
        };
        let Some(job) = self.jobs.get_mut(&cmd) else {
            return;
        };
        let backoff = ctx.now + job.backoff;
        let past_deadline = ctx.now >= job.deadline;
        match (&mut job.command, sub) {
            (
                Command::List {
                    waiting,
                    listings,
                    filter,
                    ..
                },
                Sub::List(node),
            ) => {
                waiting.remove(&inbound.id);
                match inbound.result {
                    Ok(ResponseBody::ListGroups(r)) => {
                        let code = ErrorCode::from_code(r.error_code);
                        if code.is_error() {
                            listings.errors.push((node, code));
                        }
                        listings.groups.extend(
                            r.groups
                                .into_iter()
                                .map(|g| GroupListing {
                                    group_id: g.group_id,
                                    protocol_type: g.protocol_type,
                                    state: non_empty(g.group_state),
                                    group_type: non_empty(g.group_type),
                                })
                                .filter(|g| filter.keeps(g)),
                        );
                    }
                    Ok(_) => {}
                    Err(e) => job.failure = Some(e),
                }
            }
            (Command::PerGroup { tasks, .. }, Sub::Metadata(i)) => {
                let Some(task) = tasks.get_mut(i) else { return };
                task.in_flight = None;
                match inbound.result {
                    Ok(ResponseBody::Metadata(r)) => {
                        task.needs_metadata = false;
                        task.refreshed = true;
                        if ctx.metadata.cache.apply(&r, true).unwrap_or(false) {
                            ctx.metadata_changed();
                        }
                    }
                    _ => task.not_before = backoff,
                }
                if past_deadline && task.done.is_none() {
                    task.done = Some(Done::Failed(ErrorCode::RequestTimedOut));
                }
            }
            (Command::PerGroup { op, tasks }, Sub::Find(i) | Sub::Ask(i)) => {
                let Some(task) = tasks.get_mut(i) else { return };
                task.in_flight = None;
                let outcome = match inbound.result {
                    Ok(ResponseBody::ConsumerGroupDescribe(r)) => consumer_group(r, &task.group)
                        .map(|found| {
                            task.done = Some(Done::Describe(found.unwrap_or_else(|| {
                                task.not_classic.take().unwrap_or_else(|| dead(&task.group))
                            })));
                        }),
                    // A broker without KIP-848 groups: the classic answer stands.
                    Err(RequestError::Unsupported(_)) if task.not_classic.is_some() => {
                        task.done = task.not_classic.take().map(Done::Describe);
                        Ok(())
                    }
                    Ok(body) => match sub {
                        Sub::Find(_) => found(&body, &task.group).map(|node| {
                            task.coordinator = Some(node);
                        }),
                        _ => answer(op, &task.group, body, &ctx.metadata.cache, !task.refreshed)
                            .map(|done| match done {
                                // Kafka answers a KIP-848 group's id as unknown
                                // to DescribeGroups.
                                Done::Describe(d)
                                    if matches!(op, GroupOp::Describe)
                                        && (d.state == "Dead"
                                            || d.error == ErrorCode::GroupIdNotFound) =>
                                {
                                    task.not_classic = Some(d);
                                }
                                done => task.done = Some(done),
                            }),
                    },
                    // No broker will ever take it (a group kind or API the
                    // cluster does not serve): the command fails now.
                    Err(e @ (RequestError::Unsupported(_) | RequestError::Encode(_))) => {
                        job.failure = Some(e);
                        job.deadline = ctx.now;
                        Err(Retry::Soon)
                    }
                    Err(e) => {
                        // The coordinator's connection failed: look again.
                        task.coordinator = None;
                        job.failure = Some(e);
                        Err(Retry::Soon)
                    }
                };
                match outcome {
                    Ok(()) => {}
                    Err(Retry::Refind) => {
                        task.coordinator = None;
                        task.not_before = backoff;
                    }
                    Err(Retry::Soon) => task.not_before = backoff,
                    Err(Retry::Metadata) => task.needs_metadata = true,
                    Err(Retry::Never(code)) => task.done = Some(Done::Failed(code)),
                }
                if past_deadline && task.done.is_none() {
                    task.done = Some(Done::Failed(ErrorCode::RequestTimedOut));
                }
            }
            _ => {}
        }
        self.finish(ctx);
    }

    /// Answers commands that are complete (or out of time).
    fn finish(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        let complete: Vec<RequestId> = self
            .jobs
            .iter()
            .filter(|(_, job)| job.complete(now))
            .map(|(id, _)| *id)
            .collect();
        for id in complete {
            let Some(job) = self.jobs.remove(&id) else {
                continue;
            };
            self.subs.retain(|_, (cmd, _)| *cmd != id);
            ctx.events.push_back(Event::AdminResult {
                id,
                result: job.outcome(),
            });
        }
    }

    pub(crate) fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        self.finish(ctx);
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.jobs
            .values()
            .flat_map(|job| {
                let retries = match &job.command {
                    Command::PerGroup { tasks, .. } => tasks
                        .iter()
                        .filter(|t| t.done.is_none() && t.in_flight.is_none())
                        .map(|t| t.not_before)
                        .min(),
                    Command::List { .. } => None,
                };
                retries.into_iter().chain([job.deadline])
            })
            .min()
    }

    pub(crate) fn shut_down(&mut self, ctx: &mut Ctx<'_>) {
        for (id, _) in std::mem::take(&mut self.jobs) {
            ctx.events.push_back(Event::AdminResult {
                id,
                result: Err(RequestError::Closed),
            });
        }
        self.subs.clear();
    }
}

impl Job {
    fn complete(&self, now: Instant) -> bool {
        match &self.command {
            Command::List {
                unsent, waiting, ..
            } => unsent.is_empty() && waiting.is_empty(),
            Command::PerGroup { tasks, .. } => {
                tasks.iter().all(|t| t.done.is_some())
                    || (now >= self.deadline && tasks.iter().all(|t| t.in_flight.is_none()))
            }
        }
    }

    fn outcome(self) -> Result<AdminOutcome, RequestError> {
        match self.command {
            Command::List { mut listings, .. } => {
                if let Some(e) = self.failure {
                    return Err(e);
                }
                listings.groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
                listings.groups.dedup_by(|a, b| a.group_id == b.group_id);
                Ok(AdminOutcome::ListGroups(listings))
            }
            Command::PerGroup { op, tasks } => {
                // Out of time with a group never reached over the network:
                // the transport's error says more than a timeout code.
                if tasks.iter().any(|t| t.done.is_none()) {
                    return Err(self.failure.unwrap_or(RequestError::Timeout));
                }
                let done: Vec<(String, Done)> = tasks
                    .into_iter()
                    .filter_map(|t| t.done.map(|d| (t.group, d)))
                    .collect();
                Ok(collect(&op, done))
            }
        }
    }
}

/// What to do after a failed step.
enum Retry {
    /// The coordinator moved or is not known: find it again.
    Refind,
    /// The same again after the backoff.
    Soon,
    /// The same again once the metadata names every topic.
    Metadata,
    /// The group's final answer.
    Never(ErrorCode),
}

fn classify(code: ErrorCode) -> Result<(), Retry> {
    match code {
        ErrorCode::None => Ok(()),
        ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => Err(Retry::Refind),
        ErrorCode::CoordinatorLoadInProgress => Err(Retry::Soon),
        code => Err(Retry::Never(code)),
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn find_coordinator(key: &str, key_type: i8) -> RequestBody {
    // Built in the pre-v4 shape; the router moves the key for v4 and up.
    FindCoordinatorRequest::default()
        .with_key(key.to_string())
        .with_key_type(key_type)
        .into()
}

/// The coordinator's node from a FindCoordinator answer.
fn found(body: &ResponseBody, group: &str) -> Result<i32, Retry> {
    let ResponseBody::FindCoordinator(r) = body else {
        return Err(Retry::Soon);
    };
    let (code, node) = match r.coordinators.iter().find(|c| c.key == group) {
        Some(c) => (c.error_code, c.node_id),
        None => (r.error_code, r.node_id),
    };
    classify(ErrorCode::from_code(code))?;
    if node < 0 {
        return Err(Retry::Soon);
    }
    Ok(node)
}

fn topic_ids(cache: &ClusterMetadata) -> BTreeMap<String, Uuid> {
    cache
        .topics()
        .map(|(name, t)| (name.to_string(), t.id))
        .collect()
}

fn ask(op: &GroupOp, group: &str, cache: &ClusterMetadata) -> RequestBody {
    match op {
        GroupOp::Describe => DescribeGroupsRequest::default()
            .with_groups(vec![group.to_string()])
            .into(),
        GroupOp::Delete => DeleteGroupsRequest::default()
            .with_groups_names(vec![group.to_string()])
            .into(),
        // Built in the v8 shape (a list of groups); the router moves the
        // group to the top level for older versions. A null topic list
        // asks for every committed partition.
        GroupOp::FetchOffsets => OffsetFetchRequest::default()
            .with_groups(vec![OffsetFetchRequestGroup::default()
                .with_group_id(group.to_string())
                .with_topics(None)])
            .into(),
        GroupOp::CommitOffsets(offsets) => {
            // Version 10 names topics by id, earlier ones by name.
            let ids = topic_ids(cache);
            let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
            // A topic the metadata does not list (looked up already) has
            // no id to send: it is answered here (see `outcome`).
            for (tp, offset) in offsets.iter().filter(|(tp, _)| ids.contains_key(&tp.topic)) {
                topics.entry(&tp.topic).or_default().push(
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(tp.partition)
                        .with_committed_offset(*offset),
                );
            }
            let topics = topics
                .into_iter()
                .map(|(name, partitions)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(name.to_string())
                        .with_topic_id(ids.get(name).copied().unwrap_or_default())
                        .with_partitions(partitions)
                })
                .collect();
            OffsetCommitRequest::default()
                .with_group_id(group.to_string())
                .with_generation_id_or_member_epoch(-1)
                .with_topics(topics)
                .into()
        }
        GroupOp::DescribeShare => ShareGroupDescribeRequest::default()
            .with_group_ids(vec![group.to_string()])
            .into(),
        GroupOp::DeleteOffsets(partitions) => {
            let mut topics: BTreeMap<&str, Vec<OffsetDeleteRequestPartition>> = BTreeMap::new();
            for tp in partitions {
                topics.entry(&tp.topic).or_default().push(
                    OffsetDeleteRequestPartition::default().with_partition_index(tp.partition),
                );
            }
            OffsetDeleteRequest::default()
                .with_group_id(group.to_string())
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(name, partitions)| {
                            OffsetDeleteRequestTopic::default()
                                .with_name(name.to_string())
                                .with_partitions(partitions)
                        })
                        .collect(),
                )
                .into()
        }
        GroupOp::DescribeTransactions => DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![group.to_string()])
            .into(),
    }
}

/// The coordinator's answer for one group.
fn answer(
    op: &GroupOp,
    group: &str,
    body: ResponseBody,
    cache: &ClusterMetadata,
    may_refresh: bool,
) -> Result<Done, Retry> {
    match (op, body) {
        (GroupOp::Describe, ResponseBody::DescribeGroups(r)) => {
            let Some(g) = r.groups.into_iter().find(|g| g.group_id == group) else {
                return Err(Retry::Soon);
            };
            let error = ErrorCode::from_code(g.error_code);
            classify(error).or_else(|r| match r {
                Retry::Never(_) => Ok(()),
                other => Err(other),
            })?;
            let consumer = g.protocol_type == "consumer";
            let members = g
                .members
                .into_iter()
                .map(|m| MemberDescription {
                    assignment: if consumer {
                        decode_assignment(&m.member_assignment)
                    } else {
                        Vec::new()
                    },
                    member_id: m.member_id,
                    instance_id: m.group_instance_id,
                    client_id: m.client_id,
                    host: m.client_host,
                })
                .collect();
            Ok(Done::Describe(GroupDescription {
                group_id: g.group_id,
                error,
                state: g.group_state,
                protocol_type: g.protocol_type,
                group_type: "classic".to_string(),
                assignor: g.protocol_data,
                members,
            }))
        }
        (GroupOp::Delete, ResponseBody::DeleteGroups(r)) => {
            let Some(g) = r.results.into_iter().find(|g| g.group_id == group) else {
                return Err(Retry::Soon);
            };
            let code = ErrorCode::from_code(g.error_code);
            classify(code).or_else(|r| match r {
                Retry::Never(_) => Ok(()),
                other => Err(other),
            })?;
            Ok(Done::Delete(code))
        }
        (GroupOp::FetchOffsets, ResponseBody::OffsetFetch(r)) => {
            let names: BTreeMap<Uuid, String> = topic_ids(cache)
                .into_iter()
                .map(|(name, id)| (id, name))
                .collect();
            // Version 10 names topics by id only.
            let unknown = r
                .groups
                .iter()
                .flat_map(|g| &g.topics)
                .any(|t| t.name.is_empty() && !names.contains_key(&t.topic_id));
            if unknown && may_refresh {
                return Err(Retry::Metadata);
            }
            let mut out = GroupOffsets {
                error: ErrorCode::None,
                offsets: BTreeMap::new(),
            };
            let mut put =
                |name: String, id: Uuid, p: i32, offset: i64, epoch: i32, metadata, code| {
                    let topic = match name.is_empty() {
                        true => names.get(&id).cloned().unwrap_or_default(),
                        false => name,
                    };
                    let code = ErrorCode::from_code(code);
                    let entry = match code {
                        ErrorCode::None => Ok(CommittedOffset {
                            offset,
                            leader_epoch: (epoch >= 0).then_some(epoch),
                            metadata,
                        }),
                        code => Err(code),
                    };
                    // -1 means nothing committed for a partition listed anyway;
                    // a topic named by an id nobody knows (deleted) is left out.
                    if (offset >= 0 || entry.is_err()) && !topic.is_empty() {
                        out.offsets.insert(TopicPartition::new(topic, p), entry);
                    }
                };
            let code = match r.groups.into_iter().find(|g| g.group_id == group) {
                Some(g) => {
                    for t in g.topics {
                        for p in t.partitions {
                            put(
                                t.name.clone(),
                                t.topic_id,
                                p.partition_index,
                                p.committed_offset,
                                p.committed_leader_epoch,
                                p.metadata,
                                p.error_code,
                            );
                        }
                    }
                    g.error_code
                }
                None => {
                    for t in r.topics {
                        for p in t.partitions {
                            put(
                                t.name.clone(),
                                Uuid::default(),
                                p.partition_index,
                                p.committed_offset,
                                p.committed_leader_epoch,
                                p.metadata,
                                p.error_code,
                            );
                        }
                    }
                    r.error_code
                }
            };
            out.error = ErrorCode::from_code(code);
            classify(out.error).or_else(|r| match r {
                Retry::Never(_) => Ok(()),
                other => Err(other),
            })?;
            Ok(Done::Offsets(out))
        }
        (GroupOp::CommitOffsets(_), ResponseBody::OffsetCommit(r)) => {
            let names: BTreeMap<Uuid, String> = topic_ids(cache)
                .into_iter()
                .map(|(name, id)| (id, name))
                .collect();
            let mut out = BTreeMap::new();
            for t in r.topics {
                let topic = match t.name.is_empty() {
                    true => names.get(&t.topic_id).cloned().unwrap_or_default(),
                    false => t.name,
                };
                for p in t.partitions {
                    let code = ErrorCode::from_code(p.error_code);
                    // A moved coordinator answers every partition alike.
                    if matches!(
                        code,
                        ErrorCode::NotCoordinator
                            | ErrorCode::CoordinatorNotAvailable
                            | ErrorCode::CoordinatorLoadInProgress
                    ) {
                        classify(code)?;
                    }
                    out.insert(TopicPartition::new(topic.clone(), p.partition_index), code);
                }
            }
            Ok(Done::Committed(out))
        }
        (GroupOp::DescribeShare, ResponseBody::ShareGroupDescribe(r)) => share_group(r, group),
        (GroupOp::DeleteOffsets(asked), ResponseBody::OffsetDelete(r)) => {
            let top = ErrorCode::from_code(r.error_code);
            match classify(top) {
                Ok(()) => {}
                // A group-wide answer (GROUP_ID_NOT_FOUND, ...) is every
                // partition's.
                Err(Retry::Never(code)) => {
                    return Ok(Done::Committed(
                        asked.iter().map(|tp| (tp.clone(), code)).collect(),
                    ))
                }
                Err(other) => return Err(other),
            }
            let mut out = BTreeMap::new();
            for t in r.topics {
                for p in t.partitions {
                    out.insert(
                        TopicPartition::new(t.name.clone(), p.partition_index),
                        ErrorCode::from_code(p.error_code),
                    );
                }
            }
            Ok(Done::Committed(out))
        }
        (GroupOp::DescribeTransactions, ResponseBody::DescribeTransactions(r)) => {
            let Some(t) = r
                .transaction_states
                .into_iter()
                .find(|t| t.transactional_id == group)
            else {
                return Err(Retry::Soon);
            };
            let error = ErrorCode::from_code(t.error_code);
            classify(error).or_else(|r| match r {
                Retry::Never(_) => Ok(()),
                other => Err(other),
            })?;
            let mut partitions: Vec<TopicPartition> = t
                .topics
                .iter()
                .flat_map(|d| {
                    d.partitions
                        .iter()
                        .map(|&p| TopicPartition::new(d.topic.clone(), p))
                })
                .collect();
            partitions.sort();
            Ok(Done::Transaction(TransactionDescription {
                transactional_id: t.transactional_id,
                error,
                state: t.transaction_state,
                producer_id: t.producer_id,
                producer_epoch: t.producer_epoch,
                timeout_ms: t.transaction_timeout_ms,
                start_time_ms: t.transaction_start_time_ms,
                partitions,
            }))
        }
        // The connection decodes the body of the API it sent.
        _ => Err(Retry::Soon),
    }
}

/// A share group from a ShareGroupDescribe answer; a group the
/// coordinator does not know as one is described with its error.
fn share_group(r: ShareGroupDescribeResponse, group: &str) -> Result<Done, Retry> {
    let Some(g) = r.groups.into_iter().find(|g| g.group_id == group) else {
        return Err(Retry::Soon);
    };
    let error = ErrorCode::from_code(g.error_code);
    classify(error).or_else(|r| match r {
        Retry::Never(_) => Ok(()),
        other => Err(other),
    })?;
    let members = g
        .members
        .into_iter()
        .map(|m| MemberDescription {
            assignment: m
                .assignment
                .topic_partitions
                .iter()
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .map(|&p| TopicPartition::new(t.topic_name.clone(), p))
                })
                .collect(),
            member_id: m.member_id,
            instance_id: None,
            client_id: m.client_id,
            host: m.client_host,
        })
        .collect();
    Ok(Done::Describe(GroupDescription {
        group_id: g.group_id,
        error,
        state: if error.is_error() {
            "Dead".to_string()
        } else {
            g.group_state
        },
        protocol_type: "share".to_string(),
        group_type: "share".to_string(),
        assignor: g.assignor_name,
        members,
    }))
}

/// A group described as not existing.
fn dead(group: &str) -> GroupDescription {
    GroupDescription {
        group_id: group.to_string(),
        error: ErrorCode::GroupIdNotFound,
        state: "Dead".to_string(),
        protocol_type: String::new(),
        group_type: String::new(),
        assignor: String::new(),
        members: Vec::new(),
    }
}

/// A KIP-848 group from a ConsumerGroupDescribe answer; `None` when the
/// coordinator does not know it as one.
fn consumer_group(
    r: ConsumerGroupDescribeResponse,
    group: &str,
) -> Result<Option<GroupDescription>, Retry> {
    let Some(g) = r.groups.into_iter().find(|g| g.group_id == group) else {
        return Err(Retry::Soon);
    };
    let error = ErrorCode::from_code(g.error_code);
    match classify(error) {
        Ok(()) => {}
        Err(Retry::Never(_)) => return Ok(None),
        Err(other) => return Err(other),
    }
    let members = g
        .members
        .into_iter()
        .map(|m| MemberDescription {
            assignment: m
                .assignment
                .topic_partitions
                .iter()
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .map(|&p| TopicPartition::new(t.topic_name.clone(), p))
                })
                .collect(),
            member_id: m.member_id,
            instance_id: m.instance_id,
            client_id: m.client_id,
            host: m.client_host,
        })
        .collect();
    Ok(Some(GroupDescription {
        group_id: g.group_id,
        error,
        state: g.group_state,
        protocol_type: "consumer".to_string(),
        group_type: "consumer".to_string(),
        assignor: g.assignor_name,
        members,
    }))
}

/// A consumer group member's partitions from its encoded assignment
/// (empty when it does not decode).
fn decode_assignment(data: &Bytes) -> Vec<TopicPartition> {
    crate::group::protocol::decode_assignment(data)
        .map(|a| a.partitions)
        .unwrap_or_default()
}

fn collect(op: &GroupOp, done: Vec<(String, Done)>) -> AdminOutcome {
    match op {
        GroupOp::DescribeTransactions => AdminOutcome::DescribeTransactions(
            done.into_iter()
                .map(|(id, d)| match d {
                    Done::Transaction(t) => t,
                    other => TransactionDescription::failed(id, failed_code(&other)),
                })
                .collect(),
        ),
        GroupOp::DeleteOffsets(asked) => {
            let (_, d) = done
                .into_iter()
                .next()
                .unwrap_or_else(|| (String::new(), Done::Failed(ErrorCode::UnknownServerError)));
            AdminOutcome::DeleteGroupOffsets(match d {
                Done::Committed(c) => c,
                other => {
                    let code = failed_code(&other);
                    asked.iter().map(|tp| (tp.clone(), code)).collect()
                }
            })
        }
        GroupOp::Describe | GroupOp::DescribeShare => AdminOutcome::DescribeGroups(
            done.into_iter()
                .map(|(group, d)| match d {
                    Done::Describe(g) => g,
                    other => GroupDescription {
                        group_id: group,
                        error: failed_code(&other),
                        state: String::new(),
                        protocol_type: String::new(),
                        group_type: String::new(),
                        assignor: String::new(),
                        members: Vec::new(),
                    },
                })
                .collect(),
        ),
        GroupOp::Delete => AdminOutcome::DeleteGroups(
            done.into_iter()
                .map(|(group, d)| match d {
                    Done::Delete(code) => (group, code),
                    other => (group, failed_code(&other)),
                })
                .collect(),
        ),
        GroupOp::FetchOffsets => {
            let (_, d) = done
                .into_iter()
                .next()
                .unwrap_or_else(|| (String::new(), Done::Failed(ErrorCode::UnknownServerError)));
            AdminOutcome::GroupOffsets(match d {
                Done::Offsets(o) => o,
                other => GroupOffsets {
                    error: failed_code(&other),
                    offsets: BTreeMap::new(),
                },
            })
        }
        GroupOp::CommitOffsets(asked) => {
            let (_, d) = done
                .into_iter()
                .next()
                .unwrap_or_else(|| (String::new(), Done::Failed(ErrorCode::UnknownServerError)));
            AdminOutcome::AlterGroupOffsets(match d {
                Done::Committed(mut c) => {
                    // Partitions of topics left out of the request (not in
                    // the cluster's metadata), and any the broker skipped.
                    for tp in asked.keys() {
                        c.entry(tp.clone())
                            .or_insert(ErrorCode::UnknownTopicOrPartition);
                    }
                    c.retain(|tp, _| asked.contains_key(tp));
                    c
                }
                other => {
                    let code = failed_code(&other);
                    asked.keys().map(|tp| (tp.clone(), code)).collect()
                }
            })
        }
    }
}

fn failed_code(d: &Done) -> ErrorCode {
    match d {
        Done::Failed(code) => *code,
        _ => ErrorCode::UnknownServerError,
    }
}
