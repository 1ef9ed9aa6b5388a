//! Consumer groups: the assignors a group leader runs and the encoding
//! members exchange through JoinGroup and SyncGroup. Group
//! administration reads members' assignments with
//! [`protocol::decode_assignment`]; the group member that joins groups
//! is still to come.

pub mod assignor;
mod builtin;
pub mod protocol;

pub use builtin::{RangeAssignor, RoundRobinAssignor};

pub use assignor::{
    AssignError, Assignment, Assignor, MemberSubscription, PartitionInfo, Subscription, TopicInfo,
};
