//! Consumer groups: the classic group member (`member`), its settings
//! ([`GroupConfig`]) and events ([`GroupEvent`]), the assignors a group
//! leader runs and the encoding members exchange through JoinGroup and
//! SyncGroup ([`protocol`]).

pub mod assignor;
mod builtin;
mod config;
mod event;
pub(crate) mod member;
pub mod protocol;

pub use builtin::{RangeAssignor, RoundRobinAssignor};

pub use assignor::{
    AssignError, Assignment, Assignor, MemberSubscription, PartitionInfo, RebalanceProtocol,
    Subscription, TopicInfo,
};
pub use config::{GroupConfig, MakeAssignor};
pub use event::{
    CommitError, GroupError, GroupEvent, GroupMetadata, LeaveReason, OffsetAndMetadata,
};
