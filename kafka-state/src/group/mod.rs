//! Consumer groups: the assignors a group leader runs and the encoding
//! members exchange through JoinGroup and SyncGroup.

pub mod assignor;

pub use assignor::{
    AssignError, Assignment, Assignor, MemberSubscription, PartitionInfo, RebalanceProtocol,
    Subscription, TopicInfo,
};
