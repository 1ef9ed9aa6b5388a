//! The KIP-848 consumer protocol ([`GroupProtocol::Consumer`]): the part
//! of the member that differs from the classic one.
//!
//! One request, ConsumerGroupHeartbeat, does what JoinGroup, SyncGroup,
//! Heartbeat and LeaveGroup do in the classic protocol. The member joins
//! at epoch 0 with its whole state (subscription, rebalance timeout,
//! broker-side assignor, rack, owned partitions), and from then on sends
//! a field only when it changed since the last answered heartbeat; after
//! any failed or refused heartbeat it sends everything again rather than
//! repeating the lost request. The coordinator answers with the member
//! epoch, the heartbeat interval and, when it changed, the member's target
//! assignment by topic id.
//!
//! Reconciling a target (in `GroupMember::cooperate`, through the same
//! consumer steps as the classic member): topic ids are resolved through
//! metadata (every topic is fetched while some id is unknown; the
//! unresolved partitions wait, they are not dropped); partitions the
//! target leaves out are revoked first (committed first with auto-commit,
//! through the revoke window of [`GroupConfig::await_revoke`]); the next
//! heartbeat, sent at once, reports the smaller owned set; only then are
//! the new partitions added, which start at their committed offsets.
//!
//! Errors: FENCED_MEMBER_EPOCH and UNKNOWN_MEMBER_ID lose the partitions
//! (no commit) and rejoin at epoch 0, with the same member id after a
//! fenced epoch and a new one after an unknown member id.
//! UNRELEASED_INSTANCE_ID (a static member's previous incarnation has not
//! left yet) is fatal, as in librdkafka and the Java client: retrying
//! would only race the other instance, and the application decides.
//! GROUP_MAX_SIZE_REACHED, UNSUPPORTED_ASSIGNOR, INVALID_REGULAR_EXPRESSION
//! and authorization errors are fatal too; coordinator errors find the
//! coordinator again. Leaving sends epoch -1 (-2 for a static member, who
//! keeps its assignment for the session timeout; -1 for every member that
//! missed the max poll interval, whose partitions are lost and which
//! rejoins at epoch 0 on its next poll); a leave that fails is retried a
//! few times, being idempotent.
//!
//! Member ids are made by the client (required by ConsumerGroupHeartbeat
//! v1, KIP-1082): 16 bytes from the client's seeded generator, written as
//! Kafka writes a UUID. The id lasts across rejoins.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafka_proto::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_proto::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use kafka_proto::{ErrorCode, ResponseBody, Uuid};
use tracing::{debug, info, warn};

use super::{
    millis, ConsumerOp, Cooperate, GroupConfig, GroupError, GroupEvent, GroupMember, Phase, LOG,
};
use crate::error::RequestError;
use crate::machine::Ctx;
use crate::metadata::ClusterMetadata;
use crate::rng::Rng;
use crate::router::RequestId;
use crate::{Event, TopicPartition};

/// Epoch of a leave heartbeat of a dynamic member.
const LEAVE_EPOCH: i32 = -1;
/// Epoch of a leave heartbeat of a static member: it comes back within
/// the session timeout and keeps its assignment meanwhile.
const STATIC_LEAVE_EPOCH: i32 = -2;
/// A leave heartbeat is tried this often at most.
const LEAVE_ATTEMPTS: u8 = 3;

/// The KIP-848 member's own state; [`GroupMember::generation`] holds the
/// member epoch.
#[derive(Debug)]
pub(super) struct ConsumerProtocol {
    /// The target assignment not yet fully reconciled, by topic id.
    target: Option<BTreeMap<Uuid, BTreeSet<i32>>>,
    /// The heartbeat interval the coordinator asks for.
    interval: Option<Duration>,
    /// What the coordinator has of this member: the fields of the last
    /// answered heartbeat. `None` sends everything.
    sent: Option<Fields>,
    /// What the heartbeat in flight carries; `sent` once answered.
    sending: Option<Fields>,
    /// Something to report changed (owned partitions, subscription): the
    /// next heartbeat goes at once.
    dirty: bool,
    /// Leave heartbeats to send.
    leaves: Vec<LeaveBeat>,
    /// Leave heartbeats in flight.
    leaving: BTreeMap<RequestId, LeaveBeat>,
    /// Some assigned topic id has no name yet: metadata fetches every topic.
    unresolved: bool,
    /// Partitions were revoked and the coordinator has not yet answered a
    /// heartbeat reporting it: new partitions wait.
    revoke_unacked: bool,
    /// The heartbeat in flight reports every revoke done.
    sending_ack: bool,
    rng: Rng,
}

/// A leave heartbeat: the member's id and epoch -1 or -2.
#[derive(Debug, Clone)]
pub(super) struct LeaveBeat {
    member_id: String,
    epoch: i32,
    attempts: u8,
}

/// The fields of a heartbeat that are sent only when changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fields {
    topics: Option<Vec<String>>,
    regex: Option<String>,
    assignor: Option<String>,
    rack: Option<String>,
    rebalance_timeout_ms: i32,
    owned: BTreeMap<Uuid, Vec<i32>>,
}

impl ConsumerProtocol {
    pub(super) fn new(seed: u64) -> Self {
        Self {
            target: None,
            interval: None,
            sent: None,
            sending: None,
            dirty: false,
            leaves: Vec::new(),
            leaving: BTreeMap::new(),
            unresolved: false,
            revoke_unacked: false,
            sending_ack: false,
            // Apart from the stream the client draws from the same seed.
            rng: Rng::new(seed ^ 0x6b69_7038_3438_6d62),
        }
    }

    /// A fresh member id: 16 random bytes written as Kafka writes a UUID.
    pub(super) fn new_member_id(&mut self) -> String {
        let id = Uuid::from_u64_pair(self.rng.next_u64(), self.rng.next_u64());
        id.to_string()
    }

    /// Forgets what the coordinator knows of the member: the next
    /// heartbeat carries everything.
    pub(super) fn forget(&mut self) {
        self.sent = None;
        self.sending = None;
        self.target = None;
        self.revoke_unacked = false;
        self.sending_ack = false;
    }

    /// Whether requests wait to be sent to the coordinator.
    pub(super) fn has_unsent(&self) -> bool {
        !self.leaves.is_empty()
    }

    /// Whether the next heartbeat should go at once.
    pub(super) fn dirty(&self) -> bool {
        self.dirty
    }

    pub(super) fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// Whether `id` is a leave heartbeat in flight.
    pub(super) fn owns_leave(&self, id: RequestId) -> bool {
        self.leaving.contains_key(&id)
    }

    #[cfg(test)]
    pub(super) fn target_len(&self) -> Option<usize> {
        self.target
            .as_ref()
            .map(|t| t.values().map(BTreeSet::len).sum())
    }
}

impl GroupMember {
    fn cg(&mut self) -> &mut ConsumerProtocol {
        &mut self.consumer_protocol
    }

    /// Queues a leave heartbeat if the coordinator may know the member.
    /// `for_good` (the max poll interval passed) leaves with epoch -1 even
    /// for a static member, as the Java client does, so its partitions
    /// move on at once rather than after the session timeout.
    pub(super) fn cg_leave(&mut self, for_good: bool) {
        let known = match self.phase {
            Phase::Idle | Phase::Unjoined => false,
            Phase::Stable => self.generation > 0,
            _ => true,
        };
        if known && self.coordinator.is_some() && !self.member_id.is_empty() {
            let epoch = if self.is_static() && !for_good {
                STATIC_LEAVE_EPOCH
            } else {
                LEAVE_EPOCH
            };
            let member_id = self.member_id.clone();
            self.cg().leaves.push(LeaveBeat {
                member_id,
                epoch,
                attempts: 0,
            });
        }
        self.generation = 0;
        self.cg().forget();
        self.cg().dirty = false;
    }

    /// The member's current heartbeat fields.
    fn cg_fields(&self, config: &GroupConfig, cache: &ClusterMetadata) -> Fields {
        let (topics, regex) = match &self.topic_regex {
            Some(r) => (None, Some(r.clone())),
            None => (Some(self.subscription()), None),
        };
        // Partitions still being revoked are owned until the revoke is
        // done: reporting them earlier would let another member take them
        // before their offsets are committed.
        let mut owned: BTreeMap<Uuid, Vec<i32>> = BTreeMap::new();
        let revoking = self.revoking.iter().flat_map(|w| w.partitions.iter());
        let queued = self.ops.iter().flat_map(|op| match op {
            ConsumerOp::Revoke { partitions, .. } => Some(partitions.iter()),
            _ => None,
        });
        let all: BTreeSet<&TopicPartition> = self
            .owned
            .iter()
            .chain(revoking)
            .chain(queued.flatten())
            .collect();
        for tp in all {
            if let Some(m) = cache.topic(&tp.topic).filter(|m| !m.id.is_zero()) {
                owned.entry(m.id).or_default().push(tp.partition);
            }
        }
        Fields {
            topics,
            regex,
            assignor: config.remote_assignor.clone(),
            rack: config.client_rack.clone(),
            rebalance_timeout_ms: millis(config.effective_rebalance_timeout()),
            owned,
        }
    }

    /// Whether the coordinator lacks something of the member's state (the
    /// last answered heartbeat differs), so a heartbeat should go now.
    pub(super) fn cg_changed(&self, config: &GroupConfig, cache: &ClusterMetadata) -> bool {
        match &self.consumer_protocol.sent {
            Some(sent) => *sent != self.cg_fields(config, cache),
            None => false,
        }
    }

    /// Builds the next heartbeat: the full state when the coordinator may
    /// not have it (joining, after an error), else only what changed.
    pub(super) fn cg_heartbeat(
        &mut self,
        config: &GroupConfig,
        cache: &ClusterMetadata,
    ) -> ConsumerGroupHeartbeatRequest {
        if self.member_id.is_empty() {
            self.member_id = self.cg().new_member_id();
        }
        let now = self.cg_fields(config, cache);
        let before = if self.generation == 0 {
            None
        } else {
            self.consumer_protocol.sent.clone()
        };
        let mut req = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(config.group_id.clone())
            .with_member_id(self.member_id.clone())
            .with_member_epoch(self.generation)
            .with_instance_id(config.group_instance_id.clone());
        if before
            .as_ref()
            .is_none_or(|b| b.topics != now.topics || b.regex != now.regex)
        {
            match (&now.regex, &before) {
                (Some(r), Some(b)) if b.regex.is_none() => {
                    // From names to a pattern: the names are cleared.
                    req.subscribed_topic_names = Some(Vec::new());
                    req.subscribed_topic_regex = Some(r.clone());
                }
                (Some(r), _) => req.subscribed_topic_regex = Some(r.clone()),
                (None, Some(b)) if b.regex.is_some() => {
                    // From a pattern to names: the pattern is cleared.
                    req.subscribed_topic_names = now.topics.clone();
                    req.subscribed_topic_regex = Some(String::new());
                }
                (None, _) => req.subscribed_topic_names = now.topics.clone(),
            }
        }
        if before.as_ref().is_none_or(|b| b.assignor != now.assignor) {
            req.server_assignor = now.assignor.clone();
        }
        if before.as_ref().is_none_or(|b| b.rack != now.rack) {
            req.rack_id = now.rack.clone();
        }
        if before
            .as_ref()
            .is_none_or(|b| b.rebalance_timeout_ms != now.rebalance_timeout_ms)
        {
            req.rebalance_timeout_ms = now.rebalance_timeout_ms;
        }
        if before.as_ref().is_none_or(|b| b.owned != now.owned) {
            req.topic_partitions = Some(
                now.owned
                    .iter()
                    .map(|(id, parts)| {
                        TopicPartitions::default()
                            .with_topic_id(*id)
                            .with_partitions(parts.clone())
                    })
                    .collect(),
            );
        }
        let revoke_pending = self.revoke_pending();
        let cg = self.cg();
        cg.sending = Some(now);
        cg.sending_ack = cg.revoke_unacked && !revoke_pending;
        cg.dirty = false;
        req
    }

    /// The leave heartbeats to send now, recorded as in flight under the
    /// ids `next` gives.
    pub(super) fn cg_leaves(
        &mut self,
        group_id: &str,
        instance_id: Option<String>,
        mut next: impl FnMut() -> RequestId,
    ) -> Vec<(RequestId, ConsumerGroupHeartbeatRequest)> {
        let mut out = Vec::new();
        for beat in std::mem::take(&mut self.cg().leaves) {
            let id = next();
            out.push((
                id,
                ConsumerGroupHeartbeatRequest::default()
                    .with_group_id(group_id.to_string())
                    .with_member_id(beat.member_id.clone())
                    .with_member_epoch(beat.epoch)
                    .with_instance_id(instance_id.clone()),
            ));
            self.cg().leaving.insert(id, beat);
        }
        out
    }

    /// The answer to a leave heartbeat: retried (a leave is idempotent)
    /// after a coordinator error or a lost answer, a few times.
    pub(super) fn handle_cg_leave(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: RequestId,
        result: Result<ResponseBody, RequestError>,
    ) {
        let Some(mut beat) = self.cg().leaving.remove(&id) else {
            return;
        };
        let code = match result {
            Ok(ResponseBody::ConsumerGroupHeartbeat(r)) => ErrorCode::from_code(r.error_code),
            Ok(_) => ErrorCode::UnknownServerError,
            Err(RequestError::Closed) => return,
            Err(_) => {
                self.coordinator_lost(ctx.now, "leave heartbeat failed");
                ErrorCode::CoordinatorNotAvailable
            }
        };
        match code {
            ErrorCode::None => debug!(target: LOG, epoch = beat.epoch, "left the group"),
            ErrorCode::NotCoordinator
            | ErrorCode::CoordinatorNotAvailable
            | ErrorCode::CoordinatorLoadInProgress
                if beat.attempts + 1 < LEAVE_ATTEMPTS =>
            {
                if code != ErrorCode::CoordinatorLoadInProgress {
                    self.coordinator_lost(ctx.now, code.name());
                }
                beat.attempts += 1;
                self.cg().leaves.push(beat);
            }
            c => debug!(target: LOG, error = ?c, "leave heartbeat refused"),
        }
    }

    /// The answer to a heartbeat (`join`: the one at epoch 0).
    pub(super) fn handle_cg_heartbeat(
        &mut self,
        ctx: &mut Ctx<'_>,
        join: bool,
        epoch: i32,
        result: Result<ResponseBody, RequestError>,
    ) {
        let now = ctx.now;
        let Some(config) = self.config.clone() else {
            return;
        };
        let sending = self.cg().sending.take();
        let current = epoch == self.generation
            && if join {
                true
            } else {
                matches!(self.phase, Phase::Stable)
            };
        let resp: ConsumerGroupHeartbeatResponse = match result {
            Ok(ResponseBody::ConsumerGroupHeartbeat(r)) => r,
            Ok(_) => ConsumerGroupHeartbeatResponse::default()
                .with_error_code(ErrorCode::UnknownServerError.code()),
            Err(RequestError::Closed) => {
                self.cg().sent = None;
                if join {
                    self.rejoin(now, Duration::ZERO);
                }
                return;
            }
            Err(e @ (RequestError::Unsupported(_) | RequestError::Encode(_))) => {
                return self.fail(GroupError::Unusable(e), ctx.events);
            }
            Err(e) => {
                debug!(target: LOG, error = %e, "heartbeat failed");
                self.cg().sent = None;
                self.coordinator_lost(now, "heartbeat failed");
                if join {
                    self.rejoin(now, self.retry_backoff);
                } else {
                    self.next_heartbeat = Some(now);
                }
                return;
            }
        };
        if !current {
            return;
        }
        let code = ErrorCode::from_code(resp.error_code);
        match code {
            ErrorCode::None => {}
            ErrorCode::FencedMemberEpoch => return self.reset_generation(now, false, code),
            ErrorCode::UnknownMemberId => return self.reset_generation(now, true, code),
            ErrorCode::FencedInstanceId => {
                return self.fail(GroupError::FencedInstanceId, ctx.events)
            }
            ErrorCode::InvalidRegularExpression => {
                let why = resp.error_message.unwrap_or_else(|| code.name().into());
                return self.fail(GroupError::InvalidRegularExpression(why), ctx.events);
            }
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                self.cg().sent = None;
                self.coordinator_lost(now, code.name());
                if join {
                    return self.rejoin(now, Duration::ZERO);
                }
                self.next_heartbeat = Some(now);
                return;
            }
            c if c.is_retriable() => {
                self.cg().sent = None;
                if join {
                    return self.rejoin(now, self.retry_backoff);
                }
                self.next_heartbeat = Some(now + self.retry_backoff);
                return;
            }
            c => {
                if let Some(m) = &resp.error_message {
                    warn!(target: LOG, error = ?c, message = %m, "the coordinator refused the member");
                }
                return self.fail(GroupError::Broker(c), ctx.events);
            }
        }
        if let Some(id) = resp.member_id.filter(|id| !id.is_empty()) {
            self.member_id = id;
        }
        let old = self.generation;
        if resp.member_epoch > 0 {
            self.generation = resp.member_epoch;
        }
        if self.generation != old {
            debug!(target: LOG, epoch = self.generation, "member epoch");
            // Commits waiting for a retry go with the current epoch (a
            // STALE_MEMBER_EPOCH heals this way, as in the Java client).
            self.commits.restamp(self.generation);
        }
        let interval = u64::try_from(resp.heartbeat_interval_ms)
            .ok()
            .filter(|ms| *ms > 0)
            .map_or(config.heartbeat_interval, Duration::from_millis);
        let cg = self.cg();
        cg.sent = sending;
        cg.interval = Some(interval);
        if std::mem::take(&mut cg.sending_ack) {
            cg.revoke_unacked = false;
        }
        if let Some(a) = resp.assignment {
            let mut target: BTreeMap<Uuid, BTreeSet<i32>> = BTreeMap::new();
            for t in a.topic_partitions {
                target
                    .entry(t.topic_id)
                    .or_default()
                    .extend(t.partitions.into_iter().filter(|p| *p >= 0));
            }
            cg.target = Some(target);
            self.assignments += 1;
        }
        self.next_heartbeat = Some(self.heartbeat_due(now, interval));
        self.session_deadline = Some(now + config.session_timeout);
        if join {
            self.phase = Phase::Stable;
            info!(target: LOG, epoch = self.generation, member_id = %self.member_id, "joined");
            ctx.events.push_back(Event::Group(GroupEvent::Joined {
                generation_id: self.generation,
                member_id: self.member_id.clone(),
                leader: false,
                protocol: config.remote_assignor.clone().unwrap_or_default(),
            }));
        }
    }

    /// Whether partitions are being revoked (queued, or in the window).
    fn revoke_pending(&self) -> bool {
        self.revoking.is_some()
            || self
                .ops
                .iter()
                .any(|op| matches!(op, ConsumerOp::Revoke { .. }))
    }

    /// Moves the consumer towards the target assignment: revokes first;
    /// adds only once nothing is being revoked. Returns whether it queued
    /// anything for the consumer.
    pub(super) fn reconcile(&mut self, c: &mut Cooperate<'_>) -> bool {
        if !matches!(self.phase, Phase::Stable) || self.generation <= 0 {
            return false;
        }
        let Some(target) = self.consumer_protocol.target.as_ref() else {
            return false;
        };
        let mut wanted = BTreeSet::new();
        let mut unresolved = 0;
        for (id, parts) in target {
            let name = c
                .metadata
                .cache
                .topics()
                .find(|(_, m)| m.id == *id)
                .map(|(n, _)| n.to_string());
            match name {
                Some(name) => {
                    wanted.extend(parts.iter().map(|p| TopicPartition::new(name.clone(), *p)))
                }
                None => unresolved += parts.len(),
            }
        }
        // Ids not in the cache: fetch every topic until they are.
        let cg = &mut self.consumer_protocol;
        if unresolved > 0 {
            if !cg.unresolved {
                debug!(target: LOG, partitions = unresolved, "assigned topic ids unknown; fetching metadata");
            }
            c.metadata.want_all_topics(true);
            c.metadata.request_update();
        } else if cg.unresolved {
            c.metadata.want_all_topics(false);
        }
        cg.unresolved = unresolved > 0;
        // A revoke under way finishes, and the coordinator hears of it,
        // before anything is added.
        if self.revoke_pending() {
            return false;
        }
        let revoked: BTreeSet<TopicPartition> = self.owned.difference(&wanted).cloned().collect();
        if !revoked.is_empty() {
            debug!(target: LOG, revoked = revoked.len(), "the target assignment takes partitions away");
            self.revoke(revoked);
            self.consumer_protocol.revoke_unacked = true;
            return true;
        }
        if self.consumer_protocol.revoke_unacked {
            return false;
        }
        let added: BTreeSet<TopicPartition> = wanted.difference(&self.owned).cloned().collect();
        if unresolved == 0 {
            self.consumer_protocol.target = None;
        }
        if added.is_empty() {
            return false;
        }
        debug!(target: LOG, added = added.len(), "the target assignment adds partitions");
        self.add_partitions(c.now, added);
        self.consumer_protocol.dirty = true;
        true
    }
}
