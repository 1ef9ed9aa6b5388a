//! Consumer groups: the group member (`member`, classic or KIP-848), its settings
//! ([`GroupConfig`]) and events ([`GroupEvent`]), the assignors a group
//! leader runs and the encoding members exchange through JoinGroup and
//! SyncGroup ([`protocol`]).
//!
//! The built-in assignors ([`RangeAssignor`], [`RoundRobinAssignor`],
//! [`StickyAssignor`], [`CooperativeStickyAssignor`]) reproduce the Java
//! client's assignments for the same group, so a Rust leader and Java
//! members (or the reverse) agree; `tests/group_java_compat.rs` checks
//! this against the Java client itself.

pub mod assignor;
mod config;
mod event;
mod input;
mod java;
pub(crate) mod member;
pub mod protocol;
mod range;
mod round_robin;
mod sticky;
#[cfg(test)]
mod tests;

pub use assignor::{
    AssignError, Assignment, Assignor, MemberSubscription, PartitionInfo, RebalanceProtocol,
    Subscription, TopicInfo,
};
pub use config::{GroupConfig, GroupProtocol, MakeAssignor};
pub use event::{
    CommitError, GroupError, GroupEvent, GroupMetadata, LeaveReason, OffsetAndMetadata,
};
pub use protocol::{
    decode_assignment, decode_subscription, encode_assignment, encode_subscription, ProtocolError,
    ASSIGNMENT_VERSION, SUBSCRIPTION_VERSION,
};
pub use range::RangeAssignor;
pub use round_robin::RoundRobinAssignor;
pub use sticky::{
    encode_cooperative_user_data, encode_sticky_user_data, CooperativeStickyAssignor,
    StickyAssignor,
};
