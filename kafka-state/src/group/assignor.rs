//! The client-side assignor contract of the classic group protocol.
//!
//! In the classic protocol the group leader computes every member's
//! partitions. Each member advertises a [`Subscription`] in JoinGroup
//! (encoded as Kafka's `ConsumerProtocolSubscription`); the leader's
//! chosen [`Assignor`] maps the members to [`Assignment`]s, sent back in
//! SyncGroup (as `ConsumerProtocolAssignment`). The encodings are the Java
//! client's, so mixed groups work.

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;

use crate::TopicPartition;

/// How a rebalance hands partitions over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum RebalanceProtocol {
    /// Every member gives up all its partitions before the assignment.
    Eager,
    /// Members keep what stays theirs; what moves is revoked first and
    /// handed over in a second rebalance (KIP-429).
    Cooperative,
}

/// What a member tells the leader in JoinGroup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscription {
    /// The topics the member consumes.
    pub topics: Vec<String>,
    /// Assignor-specific data (the sticky assignors keep state here).
    pub user_data: Option<Bytes>,
    /// The partitions the member owns now (cooperative rebalancing).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation `owned_partitions` belong to; -1 when unknown.
    pub generation_id: i32,
    /// The member's rack (`client.rack`), for rack-aware assignment.
    pub rack_id: Option<String>,
}

/// What the leader gives a member in SyncGroup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignment {
    /// The member's partitions.
    pub partitions: Vec<TopicPartition>,
    /// Assignor-specific data.
    pub user_data: Option<Bytes>,
}

/// One member of the group, as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSubscription {
    /// The id the coordinator gave it.
    pub member_id: String,
    /// Its static instance id (KIP-345), if any.
    pub instance_id: Option<String>,
    /// What it asked for.
    pub subscription: Subscription,
}

/// One partition of a subscribed topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The partition index.
    pub partition: i32,
    /// The racks of its replicas (empty when brokers have no rack).
    pub racks: Vec<String>,
}

/// A subscribed topic as the leader's metadata knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Its partitions, by index.
    pub partitions: Vec<PartitionInfo>,
}

/// Why an assignor could not assign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AssignError {
    /// A member's subscription or user data could not be read.
    #[error("member {member_id}: {reason}")]
    BadMember {
        /// The member.
        member_id: String,
        /// What was wrong.
        reason: String,
    },
    /// Anything else the assignor reports.
    #[error("{0}")]
    Other(String),
}

/// Computes a group's assignment on the leader. The built-in ones are
/// range, roundrobin, sticky and cooperative-sticky; an application may
/// supply its own.
pub trait Assignor: fmt::Debug + Send {
    /// The protocol name advertised in JoinGroup (`"range"`, ...); members
    /// agree on one the whole group supports.
    fn name(&self) -> &str;

    /// How this assignor hands partitions over.
    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Eager
    }

    /// User data this member advertises in its subscription, given what
    /// it owns now and the generation that gave it.
    fn user_data(&self, _owned: &[TopicPartition], _generation_id: i32) -> Option<Bytes> {
        None
    }

    /// Assigns the partitions of `topics` (only subscribed topics the
    /// leader's metadata knows) to `members`; every member gets an entry,
    /// empty if it gets nothing. Deterministic for the same input.
    fn assign(
        &self,
        topics: &BTreeMap<String, TopicInfo>,
        members: &[MemberSubscription],
    ) -> Result<BTreeMap<String, Assignment>, AssignError>;

    /// This member received `assignment` in `generation_id`.
    fn on_assignment(&mut self, _assignment: &Assignment, _generation_id: i32) {}
}
