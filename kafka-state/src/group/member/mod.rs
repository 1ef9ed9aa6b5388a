//! The consumer-group member, a sub-machine of the
//! [`Client`](crate::Client) next to the consumer. It speaks the classic
//! protocol (JoinGroup/SyncGroup, described here) or the KIP-848 consumer
//! protocol (ConsumerGroupHeartbeat, in `consumer`), as
//! [`GroupConfig::group_protocol`] says. Both share everything but the
//! requests: the steps with the consumer (`cooperate`), commits,
//! committed offsets, automatic commits, the revoke window, the max poll
//! interval and the events.
//!
//! # How it runs
//!
//! The classic member finds the group's coordinator (FindCoordinator), joins
//! (JoinGroup, with the member id MEMBER_ID_REQUIRED hands out, KIP-394),
//! computes the assignment if it leads (the chosen [`Assignor`] over every
//! member's subscription and the client's metadata), syncs (SyncGroup),
//! then heartbeats every `heartbeat_interval` while it owns its
//! partitions. New partitions start at their committed offsets
//! (OffsetFetch, `require_stable`), or where `auto_offset_reset` says when
//! nothing is committed.
//!
//! It talks to brokers through the sub-machine contract (`crate::machine`)
//! and to the consumer through one explicit step the client runs before
//! every round of requests, `GroupMember::cooperate`: the member's
//! answers only record what the consumer must do (add, revoke, lose,
//! position), and `cooperate` does it, in order, reading what was consumed
//! for the commits that go before a revoke. Decisions that need the
//! consumer (a revoke with its commit, an automatic commit, leaving after
//! the max poll interval) are taken there too, so nothing is handed out of
//! a partition once the member decided to give it up.
//!
//! # Rebalances
//!
//! With the eager protocol every partition is committed (auto-commit) and
//! revoked before the member rejoins. With the cooperative protocol
//! (KIP-429, every configured assignor cooperative) the member keeps its
//! partitions through the join, then commits and revokes only those its
//! new assignment leaves out, and rejoins at once if it revoked any so
//! that they can be handed over. A generation that ends without a
//! hand-over (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, the max poll interval)
//! loses the partitions instead: nothing of them is committed.
//!
//! # Waiting for the application before a revoke
//!
//! With [`GroupConfig::await_revoke`], an orderly revoke made in a stable
//! generation opens a window first: the consumer reports
//! `PartitionsRevoking` and withholds the partitions' records, and the
//! member stays in its generation (heartbeating, accepting commits of the
//! partitions, sending no JoinGroup or LeaveGroup) until the application
//! calls [`Consumer::revoke_done`](crate::Consumer::revoke_done) or
//! [`GroupConfig::revoke_wait`] passes (`GroupTimer::RevokeWait`). Then
//! the revoke goes on as without the window (auto-commit, revoke, rejoin
//! or leave). A generation that ends meanwhile loses the partitions.

mod commit;
mod consumer;
#[cfg(test)]
mod consumer_tests;
mod leader;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_proto::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_proto::messages::leave_group_request::MemberIdentity;
use kafka_proto::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_proto::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_proto::messages::{
    ConsumerGroupHeartbeatRequest, FindCoordinatorRequest, FindCoordinatorResponse,
    HeartbeatRequest, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, OffsetFetchRequest,
    OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse,
};
use kafka_proto::{ErrorCode, RequestBody, ResponseBody};
use tracing::{debug, info, warn};

use super::{
    protocol, Assignor, CommitError, GroupConfig, GroupError, GroupEvent, GroupMetadata,
    GroupProtocol, LeaveReason, MemberSubscription, OffsetAndMetadata, RebalanceProtocol,
    Subscription,
};
use crate::consumer::{ConsumerState, SeekTo};
use crate::error::{Misuse, RequestError};
use crate::machine::{Ctx, SubMachine};
use crate::metadata::{ClusterMetadata, MetadataState};
use crate::router::{Inbound, Outbound, RequestId, RequestQueue, Target};
use crate::timer::{timer_kinds, TimerTable};
use crate::{Config, Event, TopicPartition};

use commit::{CommitBook, CommitVerdict};
use consumer::ConsumerProtocol;

const LOG: &str = "kafka_state::group";
const PROTOCOL_TYPE: &str = "consumer";

timer_kinds! {
    /// Timers of the group member.
    pub(crate) enum GroupTimer {
        /// Find the coordinator again, or join again, after a backoff.
        Retry,
        /// The known coordinator has had no usable connection for too long.
        CoordinatorWait,
        /// The next heartbeat.
        Heartbeat,
        /// No heartbeat answered within the session timeout.
        Session,
        /// The application must take records by then.
        PollInterval,
        /// The next automatic commit.
        AutoCommit,
        /// A commit may be sent again, or expires.
        Commits,
        /// Committed offsets may be fetched again.
        OffsetFetch,
        /// The leader stops waiting for metadata of subscribed topics.
        Metadata,
        /// The member stops waiting for the application to finish with
        /// partitions it revokes.
        RevokeWait,
    }
}

/// The leader waits this long at most for metadata of topics only other
/// members subscribe to before it assigns with what it knows.
const METADATA_WAIT: Duration = Duration::from_secs(5);

/// Where the member is in the join protocol.
#[derive(Debug)]
enum Phase {
    /// Not subscribed, out of the group, or stopped for good.
    Idle,
    /// Joins as soon as the coordinator is reachable.
    Unjoined,
    /// JoinGroup in flight (consumer protocol: the heartbeat at epoch 0).
    Joining(RequestId),
    /// Joined; SyncGroup goes once the assignment is computed.
    Assigning(Box<PendingSync>),
    /// SyncGroup in flight.
    Syncing(RequestId),
    /// In a generation, with an assignment (consumer protocol: at a
    /// member epoch above 0, reconciling towards the target).
    Stable,
}

/// What a joined member needs to send SyncGroup.
#[derive(Debug)]
struct PendingSync {
    /// The leader's inputs; `None` for a follower (or a leader told to
    /// skip the assignment).
    members: Option<Vec<MemberSubscription>>,
    /// The leader assigns by then even if metadata is still missing.
    until: Instant,
}

/// What the member asks of the consumer, done in order by
/// [`GroupMember::cooperate`].
#[derive(Debug)]
enum ConsumerOp {
    /// Commit what was consumed of them (with auto-commit, in the
    /// generation given), then revoke them.
    Revoke {
        partitions: BTreeSet<TopicPartition>,
        generation: i32,
        member_id: String,
    },
    /// Take them away without a commit.
    Lose(BTreeSet<TopicPartition>),
    /// Add them; they wait for their committed offsets.
    Add(BTreeSet<TopicPartition>),
    /// Start at the committed offset, or per `auto_offset_reset`.
    Position(TopicPartition, Option<i64>),
}

/// An orderly revoke waiting for the application
/// ([`GroupConfig::await_revoke`]).
#[derive(Debug)]
struct RevokeWindow {
    partitions: BTreeSet<TopicPartition>,
    /// The generation and member id the partitions were owned in, for the
    /// automatic commit when the window closes.
    generation: i32,
    member_id: String,
    /// Revoked by then whatever the application does.
    deadline: Instant,
    /// The application said it is done.
    done: bool,
}

/// The group member's state inside the [`Client`](crate::Client).
pub(crate) struct GroupMember {
    /// Shared, so each step can hold it while changing the member.
    config: Option<Arc<GroupConfig>>,
    assignors: Vec<Box<dyn Assignor>>,
    /// Cooperative only if every assignor is.
    protocol: RebalanceProtocol,
    retry_backoff: Duration,
    /// Classic or consumer (KIP-848).
    kind: GroupProtocol,
    /// Subscribed topics; empty with a regular expression.
    subscription: Option<BTreeSet<String>>,
    /// A broker-side regular expression subscription (consumer protocol).
    topic_regex: Option<String>,
    /// The consumer protocol's own state.
    consumer_protocol: ConsumerProtocol,
    failed: Option<GroupError>,
    coordinator: Option<i32>,
    coordinator_ready: bool,
    unready_since: Option<Instant>,
    find: Option<RequestId>,
    find_after: Instant,
    join_after: Instant,
    member_id: String,
    /// The generation, or the member epoch with the consumer protocol.
    generation: i32,
    protocol_name: Option<String>,
    leader: bool,
    phase: Phase,
    rejoin_needed: bool,
    /// The heartbeat in flight and the generation it was sent in.
    heartbeat: Option<(RequestId, i32)>,
    /// When the last heartbeat went: the next one is due an interval
    /// after it, as the coordinator counts the session from the last one
    /// it received (an answer held up must not push the next one back).
    heartbeat_sent: Option<Instant>,
    next_heartbeat: Option<Instant>,
    session_deadline: Option<Instant>,
    /// Partitions of the current assignment (positions pending or not).
    owned: BTreeSet<TopicPartition>,
    /// Assignments received, for statistics.
    assignments: u64,
    ops: VecDeque<ConsumerOp>,
    /// Partitions waiting for committed offsets, with the assignment they
    /// came with (an answer for an older one is dropped).
    awaiting: BTreeMap<TopicPartition, u64>,
    next_epoch: u64,
    offset_fetch: Option<(RequestId, Vec<(TopicPartition, u64)>)>,
    offset_fetch_after: Instant,
    commits: CommitBook,
    next_auto_commit: Option<Instant>,
    last_poll: Instant,
    poll_expired: bool,
    /// LeaveGroup requests to send: (member id, instance id).
    leaves: Vec<(String, Option<String>)>,
    /// Partition counts the leader assigned with.
    assigned_with: BTreeMap<String, usize>,
    /// An orderly revoke waiting for the application.
    revoking: Option<RevokeWindow>,
    /// Leave once the revoke window closed: an unsubscribe waiting for
    /// the application.
    leave_after_revoke: Option<LeaveReason>,
    /// An unsubscribe came while a cooperative rebalance was in flight:
    /// the commit of what was consumed waits for the generation it makes
    /// (the one the partitions were owned in is being replaced, so the
    /// coordinator would refuse it), and the leave waits for that commit.
    commit_in_next_generation: bool,
    /// A classic member's regular expression, matched here against the
    /// topics the metadata lists (the consumer protocol leaves it to the
    /// broker).
    classic_regex: Option<ClassicRegex>,
    timers: TimerTable<GroupTimer>,
}

/// A compiled classic-protocol subscription pattern.
#[derive(Debug)]
struct ClassicRegex {
    regex: regex::Regex,
    /// The metadata's change count last matched against.
    matched_at: u64,
}

impl ClassicRegex {
    /// The topics of `cache` whose whole name matches, internal ones left
    /// out.
    fn matching(&self, cache: &ClusterMetadata) -> BTreeSet<String> {
        cache
            .topics()
            .filter(|(name, t)| !t.internal && self.regex.is_match(name))
            .map(|(name, _)| name.to_string())
            .collect()
    }
}

impl fmt::Debug for GroupMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupMember")
            .field("group", &self.config.as_ref().map(|c| &c.group_id))
            .field("member_id", &self.member_id)
            .field("generation", &self.generation)
            .field("phase", &self.phase)
            .field("owned", &self.owned.len())
            .finish_non_exhaustive()
    }
}

/// What the client lends the member for [`GroupMember::cooperate`].
pub(crate) struct Cooperate<'a> {
    pub(crate) now: Instant,
    pub(crate) api_timeout: Duration,
    pub(crate) consumer: &'a mut ConsumerState,
    pub(crate) metadata: &'a mut MetadataState,
    pub(crate) requests: &'a mut RequestQueue,
    pub(crate) events: &'a mut VecDeque<Event>,
}

impl GroupMember {
    pub(crate) fn new(config: &Config, now: Instant) -> Self {
        let assignors: Vec<Box<dyn Assignor>> = config
            .group
            .iter()
            .flat_map(|g| g.assignors.iter().map(|make| make()))
            .collect();
        let cooperative = !assignors.is_empty()
            && assignors
                .iter()
                .all(|a| a.protocol() == RebalanceProtocol::Cooperative);
        Self {
            config: config.group.clone().map(Arc::new),
            assignors,
            protocol: if cooperative {
                RebalanceProtocol::Cooperative
            } else {
                RebalanceProtocol::Eager
            },
            retry_backoff: config.retry_backoff,
            kind: config
                .group
                .as_ref()
                .map(|g| g.group_protocol)
                .unwrap_or_default(),
            subscription: None,
            topic_regex: None,
            consumer_protocol: ConsumerProtocol::new(config.seed),
            failed: None,
            coordinator: None,
            coordinator_ready: false,
            unready_since: None,
            find: None,
            find_after: now,
            join_after: now,
            member_id: String::new(),
            generation: -1,
            protocol_name: None,
            leader: false,
            phase: Phase::Idle,
            rejoin_needed: false,
            heartbeat: None,
            heartbeat_sent: None,
            next_heartbeat: None,
            session_deadline: None,
            owned: BTreeSet::new(),
            assignments: 0,
            ops: VecDeque::new(),
            awaiting: BTreeMap::new(),
            next_epoch: 0,
            offset_fetch: None,
            offset_fetch_after: now,
            commits: CommitBook::default(),
            next_auto_commit: None,
            last_poll: now,
            poll_expired: false,
            leaves: Vec::new(),
            assigned_with: BTreeMap::new(),
            revoking: None,
            leave_after_revoke: None,
            commit_in_next_generation: false,
            classic_regex: None,
            timers: TimerTable::default(),
        }
    }

    // ---- queries -------------------------------------------------------

    /// Whether the consumer's assignment belongs to the group.
    pub(crate) fn is_subscribed(&self) -> bool {
        self.subscription.is_some()
    }

    /// The subscribed topics, in order.
    pub(crate) fn subscription(&self) -> Vec<String> {
        self.subscription
            .iter()
            .flat_map(|s| s.iter().cloned())
            .collect()
    }

    /// The member's place in the group, if a group is configured.
    pub(crate) fn metadata(&self) -> Option<GroupMetadata> {
        let c = self.config.as_ref()?;
        Some(GroupMetadata {
            group_id: c.group_id.clone(),
            generation_id: self.generation,
            member_id: self.member_id.clone(),
            group_instance_id: c.group_instance_id.clone(),
        })
    }

    /// The member's part of a statistics snapshot, if a group is
    /// configured.
    pub(crate) fn stats(&self) -> Option<crate::stats::GroupStats> {
        use crate::stats::GroupState;
        let c = self.config.as_ref()?;
        Some(crate::stats::GroupStats {
            group_id: c.group_id.clone(),
            protocol: match self.kind {
                GroupProtocol::Classic => "classic",
                GroupProtocol::Consumer => "consumer",
            },
            state: match self.phase {
                Phase::Idle => GroupState::Idle,
                Phase::Unjoined => GroupState::Unjoined,
                Phase::Joining(_) => GroupState::Joining,
                Phase::Assigning(_) | Phase::Syncing(_) => GroupState::Syncing,
                Phase::Stable => GroupState::Stable,
            },
            generation: self.generation,
            member_id: self.member_id.clone(),
            coordinator: self.coordinator,
            assigned_partitions: self.owned.len() as u64,
            rebalances: self.assignments,
        })
    }

    /// Offsets the coordinator acknowledged for this member.
    pub(crate) fn committed(&self) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        self.commits.acknowledged()
    }

    /// The partitions of the current assignment.
    #[cfg(test)]
    pub(crate) fn owned(&self) -> &BTreeSet<TopicPartition> {
        &self.owned
    }

    /// The partitions an orderly revoke waits with, in order.
    pub(crate) fn revoking(&self) -> Vec<TopicPartition> {
        self.revoking
            .iter()
            .flat_map(|w| w.partitions.iter().cloned())
            .collect()
    }

    /// Whether the application may commit: subscribed, or finishing with
    /// the partitions of an unsubscribe.
    pub(crate) fn may_commit(&self) -> bool {
        self.is_subscribed() || self.revoking.is_some()
    }

    /// Whether a commit of `tp` is the member's to make: it is owned, or
    /// waits to be revoked.
    pub(crate) fn commits_for(&self, tp: &TopicPartition) -> bool {
        self.owned.contains(tp)
            || self
                .revoking
                .as_ref()
                .is_some_and(|w| w.partitions.contains(tp))
    }

    fn config(&self) -> Option<&GroupConfig> {
        self.config.as_deref()
    }

    fn is_static(&self) -> bool {
        self.config().is_some_and(|c| c.group_instance_id.is_some())
    }

    fn instance_id(&self) -> Option<String> {
        self.config().and_then(|c| c.group_instance_id.clone())
    }

    fn group_id(&self) -> String {
        self.config()
            .map(|c| c.group_id.clone())
            .unwrap_or_default()
    }

    // ---- commands ------------------------------------------------------

    /// When the next heartbeat is due after an answer at `now`: an
    /// `interval` after the last one went, or now if that has passed.
    fn heartbeat_due(&mut self, now: Instant, interval: Duration) -> Instant {
        let sent = self.heartbeat_sent.take().unwrap_or(now);
        (sent + interval).max(now)
    }

    /// Whether a classic JoinGroup or SyncGroup round is in flight.
    fn rebalancing(&self) -> bool {
        !self.consumer_protocol()
            && matches!(
                self.phase,
                Phase::Joining(_) | Phase::Assigning(_) | Phase::Syncing(_)
            )
    }

    /// Checks that a group command may run.
    pub(crate) fn check(&self) -> Result<(), Misuse> {
        if self.config.is_none() {
            return Err(Misuse::NoGroupConfigured);
        }
        if let Some(e) = &self.failed {
            return Err(Misuse::GroupFailed(e.clone()));
        }
        Ok(())
    }

    /// Whether the member speaks the consumer protocol (KIP-848).
    pub(crate) fn consumer_protocol(&self) -> bool {
        self.kind == GroupProtocol::Consumer
    }

    /// The regular expression subscribed to, if any.
    pub(crate) fn subscription_regex(&self) -> Option<&str> {
        self.topic_regex.as_deref()
    }

    /// Subscribes to `topics` (checked by the caller), replacing the
    /// subscription. Classic: partitions of topics dropped are revoked
    /// (with a commit) and the member rejoins. Consumer protocol: the next
    /// heartbeat carries the new subscription and the coordinator's new
    /// target says what moves.
    pub(crate) fn subscribe(
        &mut self,
        now: Instant,
        topics: BTreeSet<String>,
        metadata: &mut MetadataState,
    ) {
        for t in &topics {
            metadata.track(t);
        }
        self.classic_regex = None;
        self.subscribe_to(now, topics, None);
    }

    /// Subscribes to the topics whose whole name matches `pattern`: the
    /// broker matches it under the consumer protocol; a classic member
    /// matches it against every topic the metadata lists, now and at each
    /// change ([`GroupMember::cooperate`]).
    pub(crate) fn subscribe_regex(
        &mut self,
        now: Instant,
        pattern: String,
        metadata: &mut MetadataState,
    ) -> Result<(), Misuse> {
        if self.consumer_protocol() {
            self.subscribe_to(now, BTreeSet::new(), Some(pattern));
            return Ok(());
        }
        // Anchored: a topic is in only if its whole name matches, as with
        // the Java client's `Pattern.matcher(topic).matches()`.
        let regex = regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
            // The parser's message spans lines and points into the
            // anchored form; its last line says what is wrong.
            let full = e.to_string();
            let why = full
                .lines()
                .rev()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map_or(full.as_str(), |l| l.trim_start_matches("error: "));
            Misuse::InvalidRegex(format!("{pattern:?}: {why}"))
        })?;
        let regex = ClassicRegex {
            regex,
            matched_at: metadata.cache.changes(),
        };
        let topics = regex.matching(&metadata.cache);
        metadata.want_all_topics(true);
        self.classic_regex = Some(regex);
        self.subscribe_to(now, topics, Some(pattern));
        Ok(())
    }

    /// A classic regex subscription follows the topics the metadata lists:
    /// a change of the matching set is a new subscription (a rejoin).
    fn rematch(&mut self, now: Instant, metadata: &mut MetadataState) {
        let subscribed = self.subscription.is_some();
        if !self.consumer_protocol() {
            // Every topic while a regex needs them, else only those used.
            metadata.want_all_topics(subscribed && self.classic_regex.is_some());
        }
        let Some(r) = self.classic_regex.as_mut().filter(|_| subscribed) else {
            return;
        };
        let changes = metadata.cache.changes();
        if r.matched_at == changes {
            return;
        }
        r.matched_at = changes;
        let topics = r.matching(&metadata.cache);
        if self.subscription.as_ref() != Some(&topics) {
            info!(target: LOG, ?topics, "the topics matching the subscription changed");
            let pattern = self.topic_regex.clone();
            self.subscribe_to(now, topics, pattern);
        }
    }

    fn subscribe_to(&mut self, now: Instant, topics: BTreeSet<String>, regex: Option<String>) {
        let consumer = self.consumer_protocol();
        match &self.subscription {
            None if self.leave_after_revoke.is_some() => {
                // Unsubscribed, but still waiting for the application
                // before leaving: stay, and rejoin once it is done.
                info!(target: LOG, ?topics, "subscribing again before leaving; rejoining after the revoke");
                self.leave_after_revoke = None;
                self.last_poll = now;
                self.rejoin_needed = true;
            }
            None => {
                info!(target: LOG, ?topics, ?regex, "subscribing");
                self.last_poll = now;
                self.poll_expired = false;
                self.phase = Phase::Unjoined;
                self.join_after = now;
                if consumer {
                    self.generation = 0;
                }
            }
            Some(old) if *old == topics && self.topic_regex == regex => return,
            Some(_) if consumer => {
                info!(target: LOG, ?topics, ?regex, "subscription changed");
                self.consumer_protocol.mark_dirty();
            }
            Some(_) => {
                let dropped: BTreeSet<TopicPartition> = self
                    .owned
                    .iter()
                    .filter(|tp| !topics.contains(&tp.topic))
                    .cloned()
                    .collect();
                self.revoke(dropped);
                self.rejoin_needed = true;
            }
        }
        self.subscription = Some(topics);
        self.topic_regex = regex;
    }

    /// Leaves the group: commits and revokes everything, and sends
    /// LeaveGroup unless the member is static. With `wait` and
    /// [`GroupConfig::await_revoke`], the revoke and the leave wait for
    /// the application (see the module docs); without `wait` (the client
    /// closing) a window already open closes at once.
    pub(crate) fn unsubscribe(&mut self, wait: bool, events: &mut VecDeque<Event>) {
        if self.subscription.take().is_none() {
            return;
        }
        self.topic_regex = None;
        self.classic_regex = None;
        let all = std::mem::take(&mut self.owned);
        let in_generation = matches!(self.phase, Phase::Stable) && self.generation >= 0;
        let await_revoke = self.config().is_some_and(|c| c.await_revoke);
        if wait && await_revoke && in_generation && (!all.is_empty() || self.revoking.is_some()) {
            self.revoke(all);
            self.leave_after_revoke = Some(LeaveReason::Unsubscribed);
            return;
        }
        // Cooperative partitions stay the member's through a rebalance,
        // but the generation they were owned in is being replaced: a
        // commit made in it now would be refused (ILLEGAL_GENERATION or
        // REBALANCE_IN_PROGRESS) and the next owner would replay what was
        // consumed. They are revoked now; the commit goes in the
        // generation the rebalance makes, and the leave after it.
        let auto_commit = self.config().is_some_and(|c| c.enable_auto_commit);
        if wait
            && auto_commit
            && self.rebalancing()
            && self.protocol == RebalanceProtocol::Cooperative
            && !all.is_empty()
        {
            info!(target: LOG, "unsubscribing during a rebalance: committing in the generation it makes, then leaving");
            self.commit_in_next_generation = true;
            self.revoke(all);
            self.leave_after_revoke = Some(LeaveReason::Unsubscribed);
            return;
        }
        if let Some(w) = &mut self.revoking {
            w.done = true;
        }
        self.revoke(all);
        self.leave(LeaveReason::Unsubscribed, events);
    }

    /// The application finished with the partitions announced as
    /// revoking; the next `cooperate` revokes them. Nothing to do when no
    /// revoke waits.
    pub(crate) fn revoke_done(&mut self) {
        if let Some(w) = &mut self.revoking {
            debug!(target: LOG, partitions = w.partitions.len(), "the application is done with the revoking partitions");
            w.done = true;
        }
    }

    /// The application takes records: the max poll interval starts again,
    /// and a member that left for missing it rejoins.
    pub(crate) fn record_poll(&mut self, now: Instant) {
        self.last_poll = now;
        if self.poll_expired && self.subscription.is_some() && self.failed.is_none() {
            info!(target: LOG, "polled again after the max poll interval, rejoining");
            self.poll_expired = false;
            self.phase = Phase::Unjoined;
            self.join_after = now;
        }
    }

    /// Files an explicit commit of `offsets`, all of owned partitions
    /// (checked by the caller). Reports at once if the member is not in a
    /// stable generation.
    pub(crate) fn commit(
        &mut self,
        now: Instant,
        id: RequestId,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
        api_timeout: Duration,
        events: &mut VecDeque<Event>,
    ) {
        let refused = match self.phase {
            Phase::Stable if self.generation >= 0 => None,
            Phase::Idle => Some(CommitError::Rebalanced(ErrorCode::UnknownMemberId)),
            _ => Some(CommitError::RebalanceInProgress),
        };
        if offsets.is_empty() || refused.is_some() {
            let offsets = match &refused {
                Some(e) => offsets.into_keys().map(|tp| (tp, Err(e.clone()))).collect(),
                None => BTreeMap::new(),
            };
            events.push_back(Event::Group(GroupEvent::Committed {
                id,
                automatic: false,
                offsets,
                refused,
            }));
            return;
        }
        let (generation, member_id, instance) =
            (self.generation, self.member_id.clone(), self.instance_id());
        self.commits.add(
            id,
            false,
            generation,
            &member_id,
            instance.as_deref(),
            offsets,
            now,
            api_timeout,
        );
    }

    // ---- transitions ---------------------------------------------------

    /// Gives partitions up in an orderly way: committed (if auto-commit)
    /// and revoked by the next `cooperate`.
    fn revoke(&mut self, partitions: BTreeSet<TopicPartition>) {
        if partitions.is_empty() {
            return;
        }
        for tp in &partitions {
            self.owned.remove(tp);
            self.awaiting.remove(tp);
        }
        self.ops.push_back(ConsumerOp::Revoke {
            partitions,
            generation: self.generation,
            member_id: self.member_id.clone(),
        });
    }

    /// Adds partitions to the assignment: the consumer takes them, and
    /// they wait for their committed offsets.
    fn add_partitions(&mut self, now: Instant, added: BTreeSet<TopicPartition>) {
        if added.is_empty() {
            return;
        }
        self.next_epoch += 1;
        for tp in &added {
            self.awaiting.insert(tp.clone(), self.next_epoch);
        }
        self.owned.extend(added.iter().cloned());
        self.ops.push_back(ConsumerOp::Add(added));
        self.offset_fetch_after = now;
    }

    /// Loses every owned partition: another member may have them already.
    fn lose_all(&mut self) {
        let mut all = std::mem::take(&mut self.owned);
        if let Some(w) = self.revoking.take() {
            all.extend(w.partitions);
        }
        self.awaiting.clear();
        if !all.is_empty() {
            self.ops.push_back(ConsumerOp::Lose(all));
        }
    }

    /// The generation is over without a hand-over: partitions are lost and
    /// the member joins again (with a fresh member id if `forget_id`; the
    /// consumer protocol at epoch 0 with its full state).
    fn reset_generation(&mut self, now: Instant, forget_id: bool, why: ErrorCode) {
        warn!(target: LOG, error = ?why, generation = self.generation, "generation over, partitions lost");
        self.lose_all();
        if self.consumer_protocol() {
            self.generation = 0;
            self.consumer_protocol.forget();
            if forget_id {
                self.member_id = self.consumer_protocol.new_member_id();
            }
        } else {
            self.generation = -1;
            if forget_id {
                self.member_id.clear();
            }
        }
        self.heartbeat = None;
        self.commit_in_next_generation = false;
        // An unsubscribe waiting for its revoke window: the window is
        // gone with the partitions, so the next `cooperate` leaves. The
        // coordinator still knows the member id, and without a LeaveGroup
        // the others' rebalance would wait the rebalance timeout for it.
        if self.leave_after_revoke.is_some() && !self.member_id.is_empty() {
            return;
        }
        self.rejoin(now, Duration::ZERO);
    }

    /// Joins again after `delay` (keeps the partitions: an eager member
    /// revoked them before its JoinGroup already).
    fn rejoin(&mut self, now: Instant, delay: Duration) {
        if self.subscription.is_none() || self.failed.is_some() || self.poll_expired {
            self.phase = Phase::Idle;
            return;
        }
        self.phase = Phase::Unjoined;
        self.join_after = now + delay;
        self.next_heartbeat = None;
        self.session_deadline = None;
    }

    /// Leaves the group (LeaveGroup for a dynamic member whose coordinator
    /// is known), reporting it.
    /// The consumer protocol sends a leave heartbeat instead (epoch -2 for
    /// a static member) and keeps its member id for a later rejoin.
    fn leave(&mut self, reason: LeaveReason, events: &mut VecDeque<Event>) {
        info!(target: LOG, ?reason, member_id = %self.member_id, "leaving the group");
        if self.consumer_protocol() {
            self.cg_leave(reason == LeaveReason::PollIntervalExceeded);
        } else {
            let joined = !self.member_id.is_empty() && !matches!(self.phase, Phase::Idle);
            if joined && !self.is_static() && self.coordinator.is_some() {
                self.leaves
                    .push((self.member_id.clone(), self.instance_id()));
            }
            self.member_id.clear();
            self.generation = -1;
        }
        self.awaiting.clear();
        self.phase = Phase::Idle;
        self.heartbeat = None;
        self.rejoin_needed = false;
        self.leave_after_revoke = None;
        self.commit_in_next_generation = false;
        events.push_back(Event::Group(GroupEvent::Left { reason }));
    }

    /// Stops for good.
    fn fail(&mut self, error: GroupError, events: &mut VecDeque<Event>) {
        warn!(target: LOG, %error, "group member failed");
        self.lose_all();
        self.leave_after_revoke = None;
        self.commit_in_next_generation = false;
        self.failed = Some(error.clone());
        self.phase = Phase::Idle;
        self.heartbeat = None;
        self.generation = if self.consumer_protocol() { 0 } else { -1 };
        events.push_back(Event::Group(GroupEvent::Failed(error)));
    }

    fn coordinator_lost(&mut self, now: Instant, why: &str) {
        if let Some(node) = self.coordinator.take() {
            info!(target: LOG, node, why, "coordinator unknown, finding it again");
        }
        self.coordinator_ready = false;
        self.unready_since = None;
        self.find_after = self.find_after.max(now);
    }

    // ---- the step with the consumer -------------------------------------

    /// Does what the member decided about the consumer's partitions, and
    /// takes the decisions that need the consumer: commits before revokes,
    /// automatic commits, leaving after the max poll interval, the eager
    /// revoke before a rejoin. The client calls it before every round of
    /// requests. Returns whether it changed anything.
    pub(crate) fn cooperate(&mut self, mut c: Cooperate<'_>) -> bool {
        let Some(config) = self.config.clone() else {
            return false;
        };
        let now = c.now;
        let mut changed = false;
        self.rematch(now, c.metadata);
        // The max poll interval.
        let in_group = !matches!(self.phase, Phase::Idle);
        if in_group && !self.poll_expired && now >= self.last_poll + config.max_poll_interval {
            warn!(target: LOG, "max poll interval exceeded, leaving the group");
            self.lose_all();
            self.poll_expired = true;
            self.leave(LeaveReason::PollIntervalExceeded, c.events);
        }
        // The leader rejoins when a subscribed topic's partitions change.
        if matches!(self.phase, Phase::Stable) && self.leader && !self.rejoin_needed {
            let moved = self.assigned_with.iter().any(|(t, n)| {
                c.metadata
                    .cache
                    .topic(t)
                    .is_some_and(|m| !m.partitions.is_empty() && m.partitions.len() != *n)
            });
            if moved {
                info!(target: LOG, "partitions of a subscribed topic changed, rebalancing");
                self.rejoin_needed = true;
            }
        }
        // An orderly revoke waiting for the application: it is done, or
        // the wait is over.
        let due = self
            .revoking
            .as_ref()
            .is_some_and(|w| w.done || now >= w.deadline);
        if let Some(w) = due.then(|| self.revoking.take()).flatten() {
            if !w.done {
                warn!(target: LOG, partitions = w.partitions.len(), "the application did not finish with the revoking partitions in time; revoking them");
                c.events.push_back(Event::Group(GroupEvent::RevokeTimedOut {
                    partitions: w.partitions.iter().cloned().collect(),
                }));
            }
            self.revoke_now(&config, &mut c, w.partitions, w.generation, &w.member_id);
            changed = true;
        }
        // The rejoin (or leave) waits for an open window.
        if matches!(self.phase, Phase::Stable)
            && !self.consumer_protocol()
            && self.rejoin_needed
            && self.revoking.is_none()
            && self.leave_after_revoke.is_none()
        {
            if self.protocol == RebalanceProtocol::Eager {
                let all = std::mem::take(&mut self.owned);
                self.revoke(all);
            }
            // A revoke that opens a window below: rejoin once it closes.
            let waits = config.await_revoke
                && self.generation >= 0
                && self
                    .ops
                    .iter()
                    .any(|op| matches!(op, ConsumerOp::Revoke { .. }));
            if !waits {
                self.rejoin_needed = false;
                self.rejoin(now, Duration::ZERO);
            }
            changed = true;
        }
        if self.consumer_protocol() {
            // Revokes first; adds once they are done (a second pass).
            changed |= self.reconcile(&mut c);
            changed |= self.run_ops(&config, &mut c);
            changed |= self.reconcile(&mut c);
        }
        changed |= self.run_ops(&config, &mut c);
        // An unsubscribe whose window closed (or was lost) leaves now;
        // one waiting for the rebalance to commit in leaves after it.
        let awaits_generation = self.commit_in_next_generation && self.rebalancing();
        if !awaits_generation && self.commits.has_parked() {
            // The rebalance ended without a generation (a sync that makes
            // one releases the held commits).
            self.commit_in_next_generation = false;
            self.commits
                .fail_parked(CommitError::RebalanceInProgress, c.events);
        }
        if self.revoking.is_none() && !awaits_generation {
            if let Some(reason) = self.leave_after_revoke.take() {
                self.leave(reason, c.events);
                changed = true;
            }
        }
        // Automatic commits.
        let stable = matches!(self.phase, Phase::Stable) && self.generation >= 0;
        if config.enable_auto_commit && stable {
            let due = *self
                .next_auto_commit
                .get_or_insert(now + config.auto_commit_interval);
            if now >= due {
                self.next_auto_commit = Some(now + config.auto_commit_interval);
                let owned = self.owned.clone();
                let offsets = self.uncommitted(c.consumer, &owned);
                if !offsets.is_empty() {
                    debug!(target: LOG, partitions = offsets.len(), "automatic commit");
                    let id = c.requests.next_id();
                    let (generation, member_id, instance) =
                        (self.generation, self.member_id.clone(), self.instance_id());
                    self.commits.add(
                        id,
                        true,
                        generation,
                        &member_id,
                        instance.as_deref(),
                        offsets,
                        now,
                        c.api_timeout,
                    );
                    changed = true;
                }
            }
        } else {
            self.next_auto_commit = None;
        }
        self.refresh_timers();
        changed
    }

    /// Does the queued consumer steps in order (see [`ConsumerOp`]).
    /// Returns whether there were any.
    fn run_ops(&mut self, config: &GroupConfig, c: &mut Cooperate<'_>) -> bool {
        let now = c.now;
        let mut changed = false;
        while let Some(op) = self.ops.pop_front() {
            changed = true;
            match op {
                ConsumerOp::Revoke {
                    partitions,
                    generation,
                    member_id,
                } => {
                    let wait = config.await_revoke
                        && generation >= 0
                        && generation == self.generation
                        && matches!(self.phase, Phase::Stable);
                    if !wait {
                        self.revoke_now(config, c, partitions, generation, &member_id);
                        continue;
                    }
                    c.consumer.begin_revoke(&partitions, c.events);
                    match &mut self.revoking {
                        Some(w) => {
                            // Announced anew: the application is told of
                            // these and answers again.
                            w.partitions.extend(partitions);
                            w.done = false;
                        }
                        None => {
                            let deadline = now + config.revoke_wait();
                            info!(target: LOG, partitions = partitions.len(), "revoking; waiting for the application first");
                            self.revoking = Some(RevokeWindow {
                                partitions,
                                generation,
                                member_id,
                                deadline,
                                done: false,
                            });
                        }
                    }
                }
                ConsumerOp::Lose(partitions) => {
                    self.commits.drop_lost(&partitions, c.events);
                    c.consumer.lose(partitions, c.events);
                }
                ConsumerOp::Add(partitions) => {
                    c.consumer.add_awaiting(partitions, c.metadata, c.events);
                }
                ConsumerOp::Position(tp, offset) => {
                    // A seek the application made meanwhile wins.
                    if c.consumer.awaits_committed(&tp) && self.owned.contains(&tp) {
                        match offset {
                            Some(o) => c.consumer.seek(now, &tp, SeekTo::Offset(o)),
                            None => c.consumer.reset_position(now, &tp, c.events),
                        }
                    }
                }
            }
        }
        changed
    }

    /// Revokes `partitions` from the consumer, committing what was
    /// consumed of them first (with auto-commit) in the generation they
    /// were owned in.
    fn revoke_now(
        &mut self,
        config: &GroupConfig,
        c: &mut Cooperate<'_>,
        partitions: BTreeSet<TopicPartition>,
        generation: i32,
        member_id: &str,
    ) {
        if config.enable_auto_commit && generation >= 0 {
            let offsets = self.uncommitted(c.consumer, &partitions);
            if !offsets.is_empty() {
                let id = c.requests.next_id();
                let instance = self.instance_id();
                self.commits.add(
                    id,
                    true,
                    generation,
                    member_id,
                    instance.as_deref(),
                    offsets,
                    c.now,
                    c.api_timeout,
                );
                if self.commit_in_next_generation {
                    self.commits.park(id);
                }
            }
        }
        c.consumer.revoke(partitions, c.events);
    }

    /// Consumed offsets of `partitions` not yet committed or being
    /// committed.
    fn uncommitted(
        &self,
        consumer: &ConsumerState,
        partitions: &BTreeSet<TopicPartition>,
    ) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        partitions
            .iter()
            .filter_map(|tp| {
                let consumed = consumer.consumed(tp)?;
                let sent = self.commits.latest(tp);
                (sent != Some(consumed.offset)).then(|| (tp.clone(), consumed.into()))
            })
            .collect()
    }

    // ---- requests ------------------------------------------------------

    fn wants_coordinator(&self) -> bool {
        !matches!(self.phase, Phase::Idle)
            || self.commits.has_unsent()
            || !self.leaves.is_empty()
            || self.consumer_protocol.has_unsent()
    }

    fn push(&self, ctx: &mut Ctx<'_>, id: RequestId, node: i32, body: RequestBody) {
        ctx.requests.push(Outbound {
            id,
            target: Target::Coordinator(node),
            body,
            expires: ctx.now + ctx.api_timeout,
        });
    }

    /// Finds the coordinator if needed; whether it is ready for requests.
    fn poll_coordinator(&mut self, ctx: &mut Ctx<'_>, patience: Duration) -> Option<i32> {
        let now = ctx.now;
        if let Some(node) = self.coordinator {
            if ctx.coordinator_ready(node) {
                self.unready_since = None;
                self.coordinator_ready = true;
                return Some(node);
            }
            self.coordinator_ready = false;
            let since = *self.unready_since.get_or_insert(now);
            if now < since + patience {
                return None;
            }
            self.coordinator_lost(now, "no connection to it");
        }
        if self.find.is_none() && now >= self.find_after {
            let id = ctx.requests.next_id();
            debug!(target: LOG, %id, "finding the coordinator");
            self.find = Some(id);
            ctx.requests.push(Outbound {
                id,
                target: Target::Any,
                body: FindCoordinatorRequest::default()
                    .with_key(self.group_id())
                    .with_key_type(0)
                    .into(),
                expires: now + ctx.api_timeout,
            });
        }
        None
    }

    fn join_request(
        &self,
        config: &GroupConfig,
    ) -> Result<JoinGroupRequest, protocol::ProtocolError> {
        let topics = self.subscription();
        let owned: Vec<TopicPartition> = self.owned.iter().cloned().collect();
        let protocols = self
            .assignors
            .iter()
            .map(|a| {
                let subscription = Subscription {
                    topics: topics.clone(),
                    user_data: a.user_data(&owned, self.generation),
                    owned_partitions: owned.clone(),
                    generation_id: self.generation,
                    rack_id: config.client_rack.clone(),
                };
                Ok(JoinGroupRequestProtocol::default()
                    .with_name(a.name().to_string())
                    .with_metadata(protocol::encode_subscription(
                        &subscription,
                        protocol::SUBSCRIPTION_VERSION,
                    )?))
            })
            .collect::<Result<Vec<_>, protocol::ProtocolError>>()?;
        Ok(JoinGroupRequest::default()
            .with_group_id(config.group_id.clone())
            .with_session_timeout_ms(millis(config.session_timeout))
            .with_rebalance_timeout_ms(millis(config.effective_rebalance_timeout()))
            .with_member_id(self.member_id.clone())
            .with_group_instance_id(config.group_instance_id.clone())
            .with_protocol_type(PROTOCOL_TYPE.to_string())
            .with_protocols(protocols))
    }

    /// Computes the assignment (leader) once metadata allows, and sends
    /// SyncGroup.
    fn poll_sync(&mut self, ctx: &mut Ctx<'_>, node: i32) {
        let Phase::Assigning(pending) = &self.phase else {
            return;
        };
        let mut assignments = Vec::new();
        if let Some(members) = &pending.members {
            let topics = leader::subscribed_topics(members);
            let all_known = topics
                .iter()
                .all(|t| leader::topic_known(&ctx.metadata.cache, t));
            if !all_known && ctx.now < pending.until {
                return;
            }
            let infos = leader::topic_infos(&ctx.metadata.cache, &topics);
            let name = self.protocol_name.clone().unwrap_or_default();
            let Some(assignor) = self.assignors.iter().find(|a| a.name() == name) else {
                return;
            };
            match leader::assign(assignor.as_ref(), self.protocol, members, &infos) {
                Ok(map) => {
                    self.assigned_with = infos
                        .iter()
                        .map(|(t, i)| (t.clone(), i.partitions.len()))
                        .collect();
                    assignments = map
                        .into_iter()
                        .map(|(member_id, assignment)| {
                            SyncGroupRequestAssignment::default()
                                .with_member_id(member_id)
                                .with_assignment(assignment)
                        })
                        .collect();
                }
                Err(error) => {
                    warn!(target: LOG, %error, "the assignor failed");
                    ctx.events
                        .push_back(Event::Group(GroupEvent::AssignFailed(error)));
                    let backoff = self.retry_backoff;
                    self.rejoin(ctx.now, backoff);
                    return;
                }
            }
        }
        let id = ctx.requests.next_id();
        let body = SyncGroupRequest::default()
            .with_group_id(self.group_id())
            .with_generation_id(self.generation)
            .with_member_id(self.member_id.clone())
            .with_group_instance_id(self.instance_id())
            .with_protocol_type(Some(PROTOCOL_TYPE.to_string()))
            .with_protocol_name(self.protocol_name.clone())
            .with_assignments(assignments);
        debug!(target: LOG, %id, generation = self.generation, "syncing");
        self.push(ctx, id, node, body.into());
        self.phase = Phase::Syncing(id);
    }

    /// Sends the consumer protocol's heartbeat when one is due: to join,
    /// every interval, and at once when the member has something to
    /// report (a revoke done, partitions added, a new subscription).
    fn poll_cg_heartbeat(&mut self, ctx: &mut Ctx<'_>, config: &GroupConfig, node: i32) {
        let now = ctx.now;
        let join = match self.phase {
            Phase::Unjoined if self.ops.is_empty() && now >= self.join_after => true,
            Phase::Stable if self.heartbeat.is_none() => {
                let due = self.next_heartbeat.is_some_and(|t| now >= t)
                    || self.consumer_protocol.dirty()
                    || self.cg_changed(config, &ctx.metadata.cache);
                if !due {
                    return;
                }
                false
            }
            _ => return,
        };
        if join {
            self.generation = 0;
            self.consumer_protocol.forget();
        }
        let body: ConsumerGroupHeartbeatRequest = self.cg_heartbeat(config, &ctx.metadata.cache);
        let id = ctx.requests.next_id();
        debug!(target: LOG, %id, epoch = self.generation, member_id = %self.member_id, "heartbeat");
        self.push(ctx, id, node, body.into());
        self.heartbeat_sent = Some(now);
        if join {
            self.phase = Phase::Joining(id);
        } else {
            self.heartbeat = Some((id, self.generation));
            self.next_heartbeat = None;
        }
    }

    fn poll_offset_fetch(&mut self, ctx: &mut Ctx<'_>, node: i32) {
        if self.awaiting.is_empty()
            || self.offset_fetch.is_some()
            || ctx.now < self.offset_fetch_after
            || self.generation < 0
        {
            return;
        }
        let asked: Vec<(TopicPartition, u64)> = self
            .awaiting
            .iter()
            .map(|(tp, e)| (tp.clone(), *e))
            .collect();
        let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (tp, _) in &asked {
            topics
                .entry(tp.topic.as_str())
                .or_default()
                .push(tp.partition);
        }
        let topics = topics
            .into_iter()
            .map(|(t, parts)| {
                OffsetFetchRequestTopics::default()
                    .with_name(t.to_string())
                    .with_topic_id(
                        ctx.metadata
                            .cache
                            .topic(t)
                            .map(|m| m.id)
                            .unwrap_or_default(),
                    )
                    .with_partition_indexes(parts)
            })
            .collect();
        // Built in the v8+ shape; the router moves it for older versions.
        let body = OffsetFetchRequest::default()
            .with_require_stable(true)
            .with_groups(vec![OffsetFetchRequestGroup::default()
                .with_group_id(self.group_id())
                .with_topics(Some(topics))]);
        let id = ctx.requests.next_id();
        debug!(target: LOG, %id, partitions = asked.len(), "fetching committed offsets");
        self.push(ctx, id, node, body.into());
        self.offset_fetch = Some((id, asked));
    }

    /// Reports the deadlines that matter in the current state; a passed
    /// one only when acting on it is possible, so a driver never spins.
    fn refresh_timers(&mut self) {
        let Some(config) = &self.config else {
            return;
        };
        let wants = self.wants_coordinator();
        let t = &mut self.timers;
        let ready = self.coordinator.is_some() && self.coordinator_ready;
        let retry = if !wants {
            None
        } else if self.coordinator.is_none() {
            self.find.is_none().then_some(self.find_after)
        } else if ready && matches!(self.phase, Phase::Unjoined) && self.ops.is_empty() {
            Some(self.join_after)
        } else {
            None
        };
        t.set_opt(GroupTimer::Retry, retry);
        let wait = match (self.coordinator, ready, self.unready_since) {
            (Some(_), false, Some(since)) if wants => Some(since + config.heartbeat_interval),
            _ => None,
        };
        t.set_opt(GroupTimer::CoordinatorWait, wait);
        let stable = matches!(self.phase, Phase::Stable);
        t.set_opt(
            GroupTimer::Heartbeat,
            self.next_heartbeat
                .filter(|_| stable && ready && self.heartbeat.is_none()),
        );
        t.set_opt(
            GroupTimer::Session,
            self.session_deadline.filter(|_| stable),
        );
        let polling = !matches!(self.phase, Phase::Idle) && !self.poll_expired;
        t.set_opt(
            GroupTimer::PollInterval,
            polling.then_some(self.last_poll + config.max_poll_interval),
        );
        t.set_opt(
            GroupTimer::AutoCommit,
            self.next_auto_commit
                .filter(|_| stable && config.enable_auto_commit),
        );
        t.set_opt(GroupTimer::Commits, self.commits.next_deadline(ready));
        let fetch = (!self.awaiting.is_empty()
            && self.offset_fetch.is_none()
            && ready
            && self.generation >= 0)
            .then_some(self.offset_fetch_after);
        t.set_opt(GroupTimer::OffsetFetch, fetch);
        let metadata = match &self.phase {
            Phase::Assigning(p) if ready => Some(p.until),
            _ => None,
        };
        t.set_opt(GroupTimer::Metadata, metadata);
        t.set_opt(
            GroupTimer::RevokeWait,
            self.revoking.as_ref().map(|w| w.deadline),
        );
    }

    // ---- responses -----------------------------------------------------

    fn handle_find(&mut self, ctx: &mut Ctx<'_>, result: Result<ResponseBody, RequestError>) {
        self.find = None;
        let now = ctx.now;
        let resp = match result {
            Ok(ResponseBody::FindCoordinator(r)) => r,
            Ok(_) | Err(_) => {
                self.find_after = now + self.retry_backoff;
                return;
            }
        };
        let (code, node) = coordinator_of(&resp, &self.group_id());
        match code {
            ErrorCode::None if node >= 0 => {
                info!(target: LOG, node, "found the coordinator");
                self.coordinator = Some(node);
                self.unready_since = None;
                // A coordinator outside the cached brokers: refresh.
                if ctx.metadata.cache.broker(node).is_none() {
                    ctx.metadata.request_update();
                }
            }
            ErrorCode::GroupAuthorizationFailed | ErrorCode::InvalidGroupId => {
                self.fail(GroupError::Broker(code), ctx.events);
            }
            _ => {
                debug!(target: LOG, error = ?code, "no coordinator yet");
                self.find_after = now + self.retry_backoff;
            }
        }
    }

    fn handle_join(&mut self, ctx: &mut Ctx<'_>, result: Result<ResponseBody, RequestError>) {
        let now = ctx.now;
        let resp: JoinGroupResponse = match result {
            Ok(ResponseBody::JoinGroup(r)) => r,
            Ok(_) => return self.rejoin(now, self.retry_backoff),
            Err(e) => {
                // The JoinGroup may have reached the coordinator, and the
                // others may sync a generation with this member in it
                // without it knowing; rejoining, its claims would be
                // older than theirs and the leader may hand its
                // partitions on at once. Another member could be fetching
                // them before this one hears of it: they are lost now.
                let unanswered =
                    matches!(e, RequestError::Disconnected { .. } | RequestError::Timeout);
                if unanswered
                    && self.protocol == RebalanceProtocol::Cooperative
                    && !self.owned.is_empty()
                {
                    warn!(target: LOG, error = %e, "JoinGroup unanswered; its partitions are lost");
                    self.lose_all();
                }
                return self.request_failed(now, e, ctx.events);
            }
        };
        let code = ErrorCode::from_code(resp.error_code);
        match code {
            ErrorCode::None => {}
            ErrorCode::MemberIdRequired => {
                debug!(target: LOG, member_id = %resp.member_id, "joining with the member id given");
                self.member_id = resp.member_id;
                return self.rejoin(now, Duration::ZERO);
            }
            ErrorCode::UnknownMemberId => return self.reset_generation(now, true, code),
            ErrorCode::IllegalGeneration => return self.reset_generation(now, false, code),
            ErrorCode::RebalanceInProgress => return self.rejoin(now, Duration::ZERO),
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                self.coordinator_lost(now, code.name());
                return self.rejoin(now, Duration::ZERO);
            }
            ErrorCode::FencedInstanceId => {
                return self.fail(GroupError::FencedInstanceId, ctx.events)
            }
            c if c.is_retriable() => return self.rejoin(now, self.retry_backoff),
            c => return self.fail(GroupError::Broker(c), ctx.events),
        }
        let name = resp.protocol_name.clone().unwrap_or_default();
        if !self.assignors.iter().any(|a| a.name() == name) {
            return self.fail(
                GroupError::Broker(ErrorCode::InconsistentGroupProtocol),
                ctx.events,
            );
        }
        // A generation passed without this member: it joined one whose
        // answer it never got (the connection dropped), and others synced
        // in it. Its claims are older than theirs, so the leader may hand
        // its partitions to another member in this one without a revoke:
        // they are lost now, before anyone can be given them.
        let skipped = self.generation >= 0 && resp.generation_id > self.generation + 1;
        if skipped && self.protocol == RebalanceProtocol::Cooperative && !self.owned.is_empty() {
            warn!(
                target: LOG,
                from = self.generation,
                to = resp.generation_id,
                "a generation passed without this member; its partitions are lost"
            );
            self.lose_all();
        }
        self.member_id = resp.member_id.clone();
        self.generation = resp.generation_id;
        self.protocol_name = Some(name);
        self.leader = resp.leader == resp.member_id;
        let members = (self.leader && !resp.skip_assignment).then(|| {
            let members = leader::subscriptions(&resp.members);
            for t in leader::subscribed_topics(&members) {
                ctx.metadata.track(&t);
            }
            members
        });
        info!(
            target: LOG,
            generation = self.generation,
            member_id = %self.member_id,
            leader = self.leader,
            "joined"
        );
        self.phase = Phase::Assigning(Box::new(PendingSync {
            members,
            until: now + METADATA_WAIT,
        }));
    }

    fn handle_sync(&mut self, ctx: &mut Ctx<'_>, result: Result<ResponseBody, RequestError>) {
        let now = ctx.now;
        let resp: SyncGroupResponse = match result {
            Ok(ResponseBody::SyncGroup(r)) => r,
            Ok(_) => return self.rejoin(now, self.retry_backoff),
            Err(e) => return self.request_failed(now, e, ctx.events),
        };
        let code = ErrorCode::from_code(resp.error_code);
        match code {
            ErrorCode::None => {}
            ErrorCode::RebalanceInProgress => return self.rejoin(now, Duration::ZERO),
            ErrorCode::UnknownMemberId => return self.reset_generation(now, true, code),
            ErrorCode::IllegalGeneration => return self.reset_generation(now, false, code),
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                self.coordinator_lost(now, code.name());
                return self.rejoin(now, Duration::ZERO);
            }
            ErrorCode::FencedInstanceId => {
                return self.fail(GroupError::FencedInstanceId, ctx.events)
            }
            c if c.is_retriable() => return self.rejoin(now, self.retry_backoff),
            c => return self.fail(GroupError::Broker(c), ctx.events),
        }
        let Some(assignment) = leader::decode_own(&resp.assignment) else {
            return self.rejoin(now, self.retry_backoff);
        };
        let subscribed = self.subscription.clone().unwrap_or_default();
        let new: BTreeSet<TopicPartition> = assignment
            .partitions
            .iter()
            .filter(|tp| subscribed.contains(&tp.topic) && tp.partition >= 0)
            .cloned()
            .collect();
        let revoked: BTreeSet<TopicPartition> = self.owned.difference(&new).cloned().collect();
        let added: BTreeSet<TopicPartition> = new.difference(&self.owned).cloned().collect();
        self.phase = Phase::Stable;
        self.assignments += 1;
        if std::mem::take(&mut self.commit_in_next_generation) {
            // Unsubscribed during this rebalance: the held commit goes in
            // this generation (its partitions were kept through it, or are
            // owned by nobody until the follow-up round), then the leave.
            debug!(target: LOG, generation = self.generation, "committing in the new generation before leaving");
            self.commits.unpark(self.generation, &self.member_id);
        }
        if !revoked.is_empty() {
            debug!(target: LOG, revoked = revoked.len(), "assignment takes partitions away");
            self.revoke(revoked);
            // Cooperative: rejoin so that they can be handed over.
            self.rejoin_needed = true;
        }
        self.add_partitions(now, added);
        let name = self.protocol_name.clone().unwrap_or_default();
        if let Some(a) = self.assignors.iter_mut().find(|a| a.name() == name) {
            a.on_assignment(&assignment, self.generation);
        }
        let config = self.config.clone();
        if let Some(c) = config {
            self.next_heartbeat = Some(now + c.heartbeat_interval);
            self.session_deadline = Some(now + c.session_timeout);
        }
        info!(target: LOG, generation = self.generation, partitions = self.owned.len(), "assignment received");
        ctx.events.push_back(Event::Group(GroupEvent::Joined {
            generation_id: self.generation,
            member_id: self.member_id.clone(),
            leader: self.leader,
            protocol: name,
        }));
    }

    fn handle_heartbeat(
        &mut self,
        ctx: &mut Ctx<'_>,
        generation: i32,
        result: Result<ResponseBody, RequestError>,
    ) {
        let now = ctx.now;
        let Some(config) = self.config.clone() else {
            return;
        };
        let current = matches!(self.phase, Phase::Stable) && generation == self.generation;
        let code = match result {
            Ok(ResponseBody::Heartbeat(r)) => ErrorCode::from_code(r.error_code),
            Ok(_) => ErrorCode::UnknownServerError,
            Err(RequestError::Closed) => return,
            Err(e @ (RequestError::Unsupported(_) | RequestError::Encode(_))) => {
                return self.fail(GroupError::Unusable(e), ctx.events);
            }
            Err(_) => {
                self.coordinator_lost(now, "heartbeat failed");
                self.next_heartbeat = Some(now);
                return;
            }
        };
        if !current {
            return;
        }
        match code {
            ErrorCode::None => {
                self.session_deadline = Some(now + config.session_timeout);
                self.next_heartbeat = Some(self.heartbeat_due(now, config.heartbeat_interval));
            }
            ErrorCode::RebalanceInProgress => {
                debug!(target: LOG, "the group is rebalancing");
                self.rejoin_needed = true;
                self.next_heartbeat = Some(self.heartbeat_due(now, config.heartbeat_interval));
            }
            ErrorCode::IllegalGeneration => self.reset_generation(now, false, code),
            ErrorCode::UnknownMemberId => self.reset_generation(now, true, code),
            ErrorCode::FencedInstanceId => self.fail(GroupError::FencedInstanceId, ctx.events),
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                self.coordinator_lost(now, code.name());
                self.next_heartbeat = Some(now);
            }
            c if c.is_retriable() => self.next_heartbeat = Some(now + self.retry_backoff),
            c => self.fail(GroupError::Broker(c), ctx.events),
        }
    }

    fn handle_offset_fetch(
        &mut self,
        ctx: &mut Ctx<'_>,
        asked: Vec<(TopicPartition, u64)>,
        result: Result<ResponseBody, RequestError>,
    ) {
        let now = ctx.now;
        let retry_later = |m: &mut Self| m.offset_fetch_after = now + m.retry_backoff;
        let resp: OffsetFetchResponse = match result {
            Ok(ResponseBody::OffsetFetch(r)) => r,
            Ok(_) => return retry_later(self),
            Err(_) => {
                self.coordinator_lost(now, "offset fetch failed");
                return retry_later(self);
            }
        };
        let (group_error, found) = fetched_offsets(&resp, &ctx.metadata.cache);
        match group_error {
            ErrorCode::None => {}
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                self.coordinator_lost(now, group_error.name());
                return retry_later(self);
            }
            e if e.is_retriable() => return retry_later(self),
            e => {
                warn!(target: LOG, error = ?e, "cannot fetch committed offsets; resetting");
            }
        }
        let mut retry = false;
        for (tp, epoch) in asked {
            if self.awaiting.get(&tp) != Some(&epoch) {
                continue;
            }
            let (code, offset) = match found.get(&tp) {
                Some(answer) => *answer,
                // Asked by topic id while the id was unknown (the member
                // was assigned the topic before its metadata came): the
                // answer names another topic, or none. That is not
                // "nothing committed": ask again once the id is known.
                None if group_error == ErrorCode::None => {
                    ctx.metadata.request_update();
                    retry = true;
                    continue;
                }
                None => (group_error, -1),
            };
            if code == ErrorCode::UnknownTopicId {
                ctx.metadata.request_update();
            }
            if code != ErrorCode::None
                && (code.is_retriable()
                    || code == ErrorCode::UnstableOffsetCommit
                    || code == ErrorCode::UnknownTopicId)
            {
                retry = true;
                continue;
            }
            if code != ErrorCode::None {
                warn!(target: LOG, partition = %tp, error = ?code, "no committed offset; resetting");
            }
            self.awaiting.remove(&tp);
            let committed = (code == ErrorCode::None && offset >= 0).then_some(offset);
            debug!(target: LOG, partition = %tp, ?committed, "committed offset");
            self.ops.push_back(ConsumerOp::Position(tp, committed));
        }
        if retry {
            retry_later(self);
        }
    }

    fn handle_commit(&mut self, ctx: &mut Ctx<'_>, inbound: Inbound) {
        let now = ctx.now;
        let generation = self.commits.generation_of(inbound.id);
        let response = match &inbound.result {
            Ok(ResponseBody::OffsetCommit(r)) => Some(r),
            Err(RequestError::Closed) => None,
            _ => None,
        };
        if response.is_none() {
            self.coordinator_lost(now, "commit failed");
        }
        let verdict = self.commits.handle(
            now,
            inbound.id,
            response,
            &ctx.metadata.cache,
            self.retry_backoff,
            ctx.events,
        );
        let current = generation == Some(self.generation) && self.generation >= 0;
        if self.consumer_protocol() {
            // Retries go with the current member epoch.
            self.commits.restamp(self.generation);
        }
        match verdict {
            CommitVerdict::Fine => {}
            CommitVerdict::FindCoordinator => {
                if response.is_some() {
                    self.coordinator_lost(now, "commit went to a former coordinator");
                }
            }
            CommitVerdict::Rebalancing => {
                if current {
                    self.rejoin_needed = true;
                }
            }
            CommitVerdict::GenerationOver(code) => {
                if current && matches!(self.phase, Phase::Stable) {
                    match code {
                        ErrorCode::FencedInstanceId => {
                            self.fail(GroupError::FencedInstanceId, ctx.events)
                        }
                        ErrorCode::UnknownMemberId => self.reset_generation(now, true, code),
                        // Consumer protocol: the heartbeat says the same
                        // soon; acting now keeps the lost partitions from
                        // being consumed meanwhile.
                        _ => self.reset_generation(now, false, code),
                    }
                }
            }
        }
    }

    /// A join or sync got no answer: find the coordinator again and rejoin.
    fn request_failed(&mut self, now: Instant, error: RequestError, events: &mut VecDeque<Event>) {
        match error {
            RequestError::Closed => {}
            e @ (RequestError::Unsupported(_) | RequestError::Encode(_)) => {
                self.fail(GroupError::Unusable(e), events)
            }
            e => {
                debug!(target: LOG, error = %e, "group request failed");
                self.coordinator_lost(now, "request failed");
                self.rejoin(now, self.retry_backoff);
            }
        }
    }
}

impl SubMachine for GroupMember {
    fn poll_requests(&mut self, ctx: &mut Ctx<'_>) {
        let Some(config) = self.config.clone() else {
            return;
        };
        let now = ctx.now;
        self.commits.expire(now, ctx.events);
        // No heartbeat answered within the session: the coordinator is
        // probably gone (the Java client does the same).
        if matches!(self.phase, Phase::Stable) && self.session_deadline.is_some_and(|d| now >= d) {
            self.session_deadline = None;
            self.coordinator_lost(now, "session timed out without a heartbeat answer");
        }
        if !self.wants_coordinator() {
            self.coordinator_ready = false;
            self.refresh_timers();
            return;
        }
        let Some(node) = self.poll_coordinator(ctx, config.heartbeat_interval) else {
            self.refresh_timers();
            return;
        };
        // Commits first: a commit before a revoke must reach the
        // coordinator before the JoinGroup or LeaveGroup that follows.
        let group_id = config.group_id.clone();
        let mut next = || ctx.requests.next_id();
        let mut reqs = Vec::new();
        let mut events = VecDeque::new();
        for (id, body) in
            self.commits
                .poll(now, &group_id, &ctx.metadata.cache, &mut next, &mut events)
        {
            reqs.push((id, RequestBody::from(body)));
        }
        ctx.events.extend(events);
        for (id, body) in reqs {
            self.push(ctx, id, node, body);
        }
        let instance = self.instance_id();
        for (id, body) in self.cg_leaves(&group_id, instance, || ctx.requests.next_id()) {
            self.push(ctx, id, node, body.into());
        }
        if self.consumer_protocol() {
            self.poll_cg_heartbeat(ctx, &config, node);
            self.poll_offset_fetch(ctx, node);
            self.refresh_timers();
            return;
        }
        for (member_id, instance) in std::mem::take(&mut self.leaves) {
            let id = ctx.requests.next_id();
            // Built in the v3+ shape; the router moves it for older versions.
            let body = LeaveGroupRequest::default()
                .with_group_id(group_id.clone())
                .with_members(vec![MemberIdentity::default()
                    .with_member_id(member_id)
                    .with_group_instance_id(instance)
                    .with_reason(Some("the consumer is leaving the group".into()))]);
            self.push(ctx, id, node, body.into());
        }
        match self.phase {
            Phase::Unjoined if self.ops.is_empty() && now >= self.join_after => {
                let id = ctx.requests.next_id();
                let body = match self.join_request(&config) {
                    Ok(body) => body,
                    Err(e) => return self.fail(GroupError::Subscription(e), ctx.events),
                };
                debug!(target: LOG, %id, member_id = %self.member_id, "joining");
                // The coordinator holds a JoinGroup until the whole group
                // rejoined: up to the rebalance timeout (as the Java client,
                // with 5 s to spare).
                let patience = config.effective_rebalance_timeout() + Duration::from_secs(5);
                ctx.requests.push_patient(
                    Outbound {
                        id,
                        target: Target::Coordinator(node),
                        body: body.into(),
                        expires: now + ctx.api_timeout,
                    },
                    patience,
                );
                self.phase = Phase::Joining(id);
                self.leader = false;
                // This join carries the current subscription already.
                self.rejoin_needed = false;
            }
            Phase::Assigning(_) => self.poll_sync(ctx, node),
            Phase::Stable
                if self.heartbeat.is_none() && self.next_heartbeat.is_some_and(|t| now >= t) =>
            {
                let id = ctx.requests.next_id();
                let body = HeartbeatRequest::default()
                    .with_group_id(group_id.clone())
                    .with_generation_id(self.generation)
                    .with_member_id(self.member_id.clone())
                    .with_group_instance_id(self.instance_id());
                self.push(ctx, id, node, body.into());
                self.heartbeat = Some((id, self.generation));
                self.heartbeat_sent = Some(now);
                self.next_heartbeat = None;
            }
            _ => {}
        }
        self.poll_offset_fetch(ctx, node);
        self.refresh_timers();
    }

    fn handle_response(&mut self, ctx: &mut Ctx<'_>, inbound: Inbound) {
        let id = inbound.id;
        if self.find == Some(id) {
            self.handle_find(ctx, inbound.result);
        } else if self.consumer_protocol.owns_leave(id) {
            self.handle_cg_leave(ctx, id, inbound.result);
        } else if matches!(self.phase, Phase::Joining(j) if j == id) {
            if self.consumer_protocol() {
                self.phase = Phase::Unjoined;
                self.handle_cg_heartbeat(ctx, true, 0, inbound.result);
            } else {
                self.handle_join(ctx, inbound.result);
            }
        } else if matches!(self.phase, Phase::Syncing(s) if s == id) {
            self.handle_sync(ctx, inbound.result);
        } else if let Some((_, generation)) = self.heartbeat.filter(|(h, _)| *h == id) {
            self.heartbeat = None;
            if self.consumer_protocol() {
                self.handle_cg_heartbeat(ctx, false, generation, inbound.result);
            } else {
                self.handle_heartbeat(ctx, generation, inbound.result);
            }
        } else if self.offset_fetch.as_ref().is_some_and(|(f, _)| *f == id) {
            if let Some((_, asked)) = self.offset_fetch.take() {
                self.handle_offset_fetch(ctx, asked, inbound.result);
            }
        } else if self.commits.owns(id) {
            self.handle_commit(ctx, inbound);
        } else {
            // A LeaveGroup, or an answer the member stopped waiting for.
            if let Err(e) = &inbound.result {
                debug!(target: LOG, %id, error = %e, "group request failed");
            }
        }
        self.refresh_timers();
    }

    fn poll_timeout(&self, _now: Instant, _metadata: &MetadataState) -> Option<Instant> {
        self.timers.next()
    }

    fn shut_down(&mut self, ctx: &mut Ctx<'_>) {
        self.commits
            .fail_unsent(CommitError::Request(RequestError::Closed), ctx.events);
        self.timers = TimerTable::default();
        self.phase = Phase::Idle;
        self.revoking = None;
        self.leave_after_revoke = None;
        self.commit_in_next_generation = false;
    }
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// The error and node of a FindCoordinator answer, in either shape.
fn coordinator_of(resp: &FindCoordinatorResponse, key: &str) -> (ErrorCode, i32) {
    if let Some(c) = resp
        .coordinators
        .iter()
        .find(|c| c.key == key)
        .or(resp.coordinators.first())
    {
        return (ErrorCode::from_code(c.error_code), c.node_id);
    }
    (ErrorCode::from_code(resp.error_code), resp.node_id)
}

/// The group-level error and per-partition (error, offset) of an
/// OffsetFetch answer, in either shape.
fn fetched_offsets(
    resp: &OffsetFetchResponse,
    cache: &ClusterMetadata,
) -> (ErrorCode, BTreeMap<TopicPartition, (ErrorCode, i64)>) {
    let mut out = BTreeMap::new();
    let name_of = |name: &str, id: kafka_proto::Uuid| -> String {
        if name.is_empty() {
            cache
                .topics()
                .find(|(_, m)| m.id == id)
                .map(|(n, _)| n.to_string())
                .unwrap_or_default()
        } else {
            name.to_string()
        }
    };
    if let Some(g) = resp.groups.first() {
        for t in &g.topics {
            let name = name_of(&t.name, t.topic_id);
            for p in &t.partitions {
                out.insert(
                    TopicPartition::new(name.clone(), p.partition_index),
                    (ErrorCode::from_code(p.error_code), p.committed_offset),
                );
            }
        }
        return (ErrorCode::from_code(g.error_code), out);
    }
    for t in &resp.topics {
        for p in &t.partitions {
            out.insert(
                TopicPartition::new(t.name.clone(), p.partition_index),
                (ErrorCode::from_code(p.error_code), p.committed_offset),
            );
        }
    }
    (ErrorCode::from_code(resp.error_code), out)
}
