//! Group membership settings: [`GroupConfig`], the field
//! [`Config::group`](crate::Config::group).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::Assignor;
use crate::error::Misuse;

/// Builds a fresh [`Assignor`]. A [`Config`](crate::Config) can be cloned
/// and used for several clients, so it holds makers rather than assignors:
/// each client makes its own (an assignor may keep state).
pub type MakeAssignor = Arc<dyn Fn() -> Box<dyn Assignor> + Send + Sync>;

/// Which rebalance protocol the member speaks (`group.protocol`).
///
/// - [`GroupProtocol::Classic`] (JoinGroup/SyncGroup): works with every
///   broker; one member (the leader) computes the assignment with the
///   client-side [`GroupConfig::assignors`], and every rebalance is a
///   round through all members (eager or cooperative).
/// - [`GroupProtocol::Consumer`] (KIP-848, ConsumerGroupHeartbeat; Kafka
///   4.0 and later): the coordinator assigns (the broker-side assignor
///   [`GroupConfig::remote_assignor`] names), each member reconciles on
///   its own, and rebalances are incremental without a group-wide
///   barrier, so a member that joins or leaves disturbs only the
///   partitions that move. It also offers a broker-side regular
///   expression subscription. Choose it on Kafka 4.x unless a member of
///   the same group must still speak the classic protocol (a Kafka 4.x
///   group mixes both, but an older broker does not). Client-side
///   assignors (`assignors`, hence the eager or cooperative choice) do not
///   apply under it; `session_timeout` and `heartbeat_interval` are the
///   broker's (`group.consumer.*`) and only bound how long the member
///   waits for a heartbeat answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum GroupProtocol {
    /// JoinGroup/SyncGroup with client-side assignors; the default, as in
    /// the Java client and librdkafka.
    #[default]
    Classic,
    /// The KIP-848 consumer protocol: ConsumerGroupHeartbeat and
    /// broker-side assignment.
    Consumer,
}

/// Settings of the consumer-group member, named after the Java client's
/// (`group.id`, `session.timeout.ms`, ...).
#[derive(Clone)]
#[non_exhaustive]
pub struct GroupConfig {
    /// The group to join (`group.id`).
    pub group_id: String,
    /// A static member's instance id (`group.instance.id`, KIP-345): a
    /// restart within the session timeout takes the old place back
    /// without a rebalance. Static members never send LeaveGroup.
    pub group_instance_id: Option<String>,
    /// The coordinator drops the member after this long without a
    /// heartbeat (`session.timeout.ms`).
    pub session_timeout: Duration,
    /// How long the coordinator waits for members to rejoin during a
    /// rebalance (`rebalance.timeout.ms`); `None` means `max_poll_interval`.
    pub rebalance_timeout: Option<Duration>,
    /// Time between heartbeats (`heartbeat.interval.ms`); below the
    /// session timeout, usually a third of it.
    pub heartbeat_interval: Duration,
    /// The longest the application may go without taking records
    /// ([`Consumer::record_poll`](crate::Consumer::record_poll)) before the
    /// member leaves the group and its partitions are lost
    /// (`max.poll.interval.ms`).
    pub max_poll_interval: Duration,
    /// Assignors in preference order (`partition.assignment.strategy`);
    /// the group uses the first one every member supports.
    pub assignors: Vec<MakeAssignor>,
    /// Commit consumed offsets every `auto_commit_interval`, before
    /// partitions are revoked and when leaving (`enable.auto.commit`).
    pub enable_auto_commit: bool,
    /// Time between automatic commits (`auto.commit.interval.ms`).
    pub auto_commit_interval: Duration,
    /// The member's rack (`client.rack`), for rack-aware assignors.
    pub client_rack: Option<String>,
    /// Lets the application act before an orderly revoke (a rejoin of
    /// the eager protocol, a cooperative hand-over, an unsubscribe): the
    /// member first reports
    /// [`ConsumerEvent::PartitionsRevoking`](crate::ConsumerEvent::PartitionsRevoking),
    /// withholds the partitions' records, keeps heartbeating and accepts
    /// commits of them in its current generation, and revokes and rejoins
    /// (or leaves) only once the application calls
    /// [`Consumer::revoke_done`](crate::Consumer::revoke_done), or after
    /// [`GroupConfig::revoke_wait`] at the latest. The Java client's
    /// `ConsumerRebalanceListener.onPartitionsRevoked`, for applications
    /// that commit by hand. Off by default: revokes happen at once.
    pub await_revoke: bool,
    /// The rebalance protocol (`group.protocol`); classic by default.
    pub group_protocol: GroupProtocol,
    /// The broker-side assignor to ask for under
    /// [`GroupProtocol::Consumer`] (`group.remote.assignor`, Kafka ships
    /// `uniform` and `range`); `None` lets the broker choose. Refused with
    /// the classic protocol.
    pub remote_assignor: Option<String>,
}

impl fmt::Debug for GroupConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupConfig")
            .field("group_id", &self.group_id)
            .field("group_instance_id", &self.group_instance_id)
            .field("session_timeout", &self.session_timeout)
            .field("rebalance_timeout", &self.rebalance_timeout)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("max_poll_interval", &self.max_poll_interval)
            .field("assignors", &self.assignors.len())
            .field("enable_auto_commit", &self.enable_auto_commit)
            .field("auto_commit_interval", &self.auto_commit_interval)
            .field("client_rack", &self.client_rack)
            .field("await_revoke", &self.await_revoke)
            .field("group_protocol", &self.group_protocol)
            .field("remote_assignor", &self.remote_assignor)
            .finish()
    }
}

impl GroupConfig {
    /// The Java client's defaults for group `group_id`; the assignor is
    /// range ([`RangeAssignor`](super::RangeAssignor)) until
    /// [`GroupConfig::only_assignor`] or [`GroupConfig::with_assignor`]
    /// says otherwise.
    pub fn new(group_id: impl Into<String>) -> Self {
        Self {
            group_id: group_id.into(),
            group_instance_id: None,
            session_timeout: Duration::from_secs(45),
            rebalance_timeout: None,
            heartbeat_interval: Duration::from_secs(3),
            max_poll_interval: Duration::from_secs(300),
            assignors: vec![
                Arc::new(|| Box::new(super::RangeAssignor) as Box<dyn Assignor>),
                Arc::new(|| {
                    Box::new(super::CooperativeStickyAssignor::default()) as Box<dyn Assignor>
                }),
            ],
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            client_rack: None,
            await_revoke: false,
            group_protocol: GroupProtocol::Classic,
            remote_assignor: None,
        }
    }

    /// Makes `make`'s assignor the only one, replacing the defaults.
    pub fn only_assignor<A: Assignor + 'static>(
        mut self,
        make: impl Fn() -> A + Send + Sync + 'static,
    ) -> Self {
        self.assignors.clear();
        self.with_assignor(make)
    }

    /// Appends an assignor (lower preference than those already added).
    pub fn with_assignor<A: Assignor + 'static>(
        mut self,
        make: impl Fn() -> A + Send + Sync + 'static,
    ) -> Self {
        self.assignors
            .push(Arc::new(move || Box::new(make()) as Box<dyn Assignor>));
        self
    }

    /// The rebalance timeout in effect.
    pub fn effective_rebalance_timeout(&self) -> Duration {
        self.rebalance_timeout.unwrap_or(self.max_poll_interval)
    }

    /// The longest the member waits for the application before an
    /// orderly revoke ([`GroupConfig::await_revoke`]): the rebalance
    /// timeout, less one heartbeat interval and a margin of a tenth of the
    /// rebalance timeout (at most 5 s).
    ///
    /// Why: once another member starts a rebalance, the coordinator waits
    /// the rebalance timeout for every member to rejoin and drops those
    /// that did not (their partitions are then reassigned without a
    /// hand-over, and the member loses them on its return). This member
    /// hears of the rebalance with its next heartbeat, up to a heartbeat
    /// interval late, and its commits and JoinGroup still have to reach
    /// the coordinator (the margin). Revoking by this bound keeps a slow
    /// or forgetful application from stalling the group, or from costing
    /// the member its place; the member then reports
    /// [`GroupEvent::RevokeTimedOut`](super::GroupEvent::RevokeTimedOut).
    /// The same bound applies to a cooperative hand-over and to an
    /// unsubscribe, so no revoke waits forever.
    pub fn revoke_wait(&self) -> Duration {
        let rebalance = self.effective_rebalance_timeout();
        let margin = (rebalance / 10).min(Duration::from_secs(5));
        rebalance.saturating_sub(self.heartbeat_interval + margin)
    }

    /// Checks the settings; [`Config::validate`](crate::Config::validate)
    /// calls it.
    pub fn validate(&self) -> Result<(), Misuse> {
        let bad = |reason| Err(Misuse::InvalidConfig(reason));
        if self.group_id.is_empty() {
            return bad("group_id must not be empty");
        }
        if self.group_id.len() > i16::MAX as usize {
            return bad("group_id is too long");
        }
        if let Some(id) = &self.group_instance_id {
            if id.is_empty() || id.len() > 249 {
                return bad("group_instance_id must be 1 to 249 characters");
            }
        }
        let ms = |d: Duration| d.as_millis();
        let max = i32::MAX as u128;
        if self.session_timeout.is_zero() || ms(self.session_timeout) > max {
            return bad("session_timeout must be positive and fit in i32 milliseconds");
        }
        if self.heartbeat_interval.is_zero() || self.heartbeat_interval >= self.session_timeout {
            return bad("heartbeat_interval must be positive and below session_timeout");
        }
        if self.max_poll_interval.is_zero() || ms(self.max_poll_interval) > max {
            return bad("max_poll_interval must be positive and fit in i32 milliseconds");
        }
        let rebalance = self.effective_rebalance_timeout();
        if rebalance.is_zero() || ms(rebalance) > max {
            return bad("rebalance_timeout must be positive and fit in i32 milliseconds");
        }
        if self.enable_auto_commit && self.auto_commit_interval.is_zero() {
            return bad("auto_commit_interval must be positive with enable_auto_commit");
        }
        match self.group_protocol {
            GroupProtocol::Consumer => {
                // Client-side assignors are not used: nothing to check.
                if self
                    .remote_assignor
                    .as_deref()
                    .is_some_and(|a| a.is_empty())
                {
                    return bad("remote_assignor must not be empty (None lets the broker choose)");
                }
                return Ok(());
            }
            GroupProtocol::Classic => {
                if self.remote_assignor.is_some() {
                    return bad("remote_assignor needs group_protocol Consumer");
                }
            }
        }
        if self.assignors.is_empty() {
            return bad("a group needs at least one assignor");
        }
        let mut names: Vec<String> = self
            .assignors
            .iter()
            .map(|m| m().name().to_string())
            .collect();
        if names.iter().any(|n| n.is_empty()) {
            return bad("an assignor has an empty name");
        }
        names.sort();
        let before = names.len();
        names.dedup();
        if names.len() != before {
            return bad("two assignors share a name");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::{AssignError, Assignment, MemberSubscription, TopicInfo};
    use std::collections::BTreeMap;

    #[derive(Debug)]
    struct Named(&'static str);

    impl Assignor for Named {
        fn name(&self) -> &str {
            self.0
        }
        fn assign(
            &self,
            _topics: &BTreeMap<String, TopicInfo>,
            _members: &[MemberSubscription],
        ) -> Result<BTreeMap<String, Assignment>, AssignError> {
            Ok(BTreeMap::new())
        }
    }

    #[test]
    fn bad_settings_are_refused_with_a_reason() {
        // The defaults are range, then cooperative-sticky, as the Java
        // client's; `only_assignor` replaces them.
        let default = GroupConfig::new("g");
        assert_eq!(default.validate(), Ok(()));
        let names: Vec<String> = default
            .assignors
            .iter()
            .map(|m| m().name().into())
            .collect();
        assert_eq!(names, ["range", "cooperative-sticky"]);
        let ok = GroupConfig::new("g").only_assignor(|| Named("a"));
        assert_eq!(ok.assignors.len(), 1);
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.effective_rebalance_timeout(), ok.max_poll_interval);
        // 300 s less a 3 s heartbeat and the 5 s margin; 10 s less 1 s
        // and a tenth.
        assert_eq!(ok.revoke_wait(), Duration::from_secs(292));
        let short = GroupConfig {
            rebalance_timeout: Some(Duration::from_secs(10)),
            heartbeat_interval: Duration::from_secs(1),
            ..ok.clone()
        };
        assert_eq!(short.revoke_wait(), Duration::from_secs(8));
        assert!(!ok.await_revoke, "off by default");
        let none = GroupConfig {
            assignors: Vec::new(),
            ..ok.clone()
        };
        let cases: Vec<(GroupConfig, &str)> = vec![
            (none, "assignor"),
            (
                GroupConfig::new("").only_assignor(|| Named("a")),
                "group_id",
            ),
            (ok.clone().with_assignor(|| Named("a")), "share a name"),
            (
                GroupConfig {
                    heartbeat_interval: ok.session_timeout,
                    ..ok.clone()
                },
                "heartbeat_interval",
            ),
            (
                GroupConfig {
                    group_instance_id: Some(String::new()),
                    ..ok.clone()
                },
                "group_instance_id",
            ),
            (
                GroupConfig {
                    auto_commit_interval: Duration::ZERO,
                    ..ok.clone()
                },
                "auto_commit_interval",
            ),
            (
                GroupConfig {
                    max_poll_interval: Duration::from_secs(1 << 40),
                    ..ok.clone()
                },
                "max_poll_interval",
            ),
        ];
        // The consumer protocol needs no client-side assignor; a remote
        // assignor needs it.
        let consumer = GroupConfig {
            group_protocol: GroupProtocol::Consumer,
            remote_assignor: Some("uniform".into()),
            assignors: Vec::new(),
            ..ok.clone()
        };
        assert_eq!(consumer.validate(), Ok(()));
        assert_eq!(GroupConfig::new("g").group_protocol, GroupProtocol::Classic);
        let mut cases = cases;
        cases.push((
            GroupConfig {
                remote_assignor: Some("uniform".into()),
                ..ok.clone()
            },
            "group_protocol Consumer",
        ));
        cases.push((
            GroupConfig {
                remote_assignor: Some(String::new()),
                ..consumer.clone()
            },
            "remote_assignor",
        ));
        for (config, words) in cases {
            match config.validate() {
                Err(Misuse::InvalidConfig(reason)) => {
                    assert!(reason.contains(words), "{reason:?} should name {words:?}")
                }
                other => panic!("{config:?}: {other:?}"),
            }
        }
    }
}
