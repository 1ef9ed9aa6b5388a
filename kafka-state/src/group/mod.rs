//! Consumer groups: the classic group member (`member`), its settings
//! ([`GroupConfig`]) and events ([`GroupEvent`]), the assignors a group
//! leader runs and the encoding members exchange through JoinGroup and
//! SyncGroup.

pub mod assignor;
mod config;
mod event;
pub(crate) mod member;

pub use assignor::{
    AssignError, Assignment, Assignor, MemberSubscription, PartitionInfo, RebalanceProtocol,
    Subscription, TopicInfo,
};
pub use config::{GroupConfig, MakeAssignor};
pub use event::{
    CommitError, GroupError, GroupEvent, GroupMetadata, LeaveReason, OffsetAndMetadata,
};
