//! Admin calls with typed results: each call says what its answer is,
//! so an adapter never matches a generic outcome.

use std::time::Instant;

use std::collections::BTreeMap;

use kafka_proto::ErrorCode;
use kafka_proto::Uuid;
use kafka_state::admin::{
    AclBinding, AclBindingFilter, AclFilterOutcome, AclOutcome, AdminOutcome, AlterConfigOp,
    BrokerLogDirs, ClusterDescription, ConfigResource, ElectionType, FeatureDescription,
    FeatureOutcome, FeatureUpdate, GroupDescription, GroupListings, GroupOffsets, NewPartitions,
    NewTopic, PartitionOutcome, PartitionReassignment, ProducerState, QuotaEntity, QuotaEntry,
    QuotaFilter, QuotaOp, QuotaOutcome, ResourceConfigs, ResourceOutcome, ScramChange,
    TopicOutcome, TransactionDescription, TransactionFilter, TransactionListings, UserOutcome,
    UserScramCredentials,
};
use kafka_state::{Client, ClusterMetadata, Misuse, RequestId, TopicIdOutcome, TopicPartition};

use crate::calls::{Calls, Deliver, Reply};
use crate::Error;

type Start = Box<dyn FnOnce(&mut Client, Instant) -> Result<RequestId, Misuse> + Send>;

/// An admin command and the kind of answer it gets.
pub struct AdminCall<T> {
    start: Start,
    answer: fn(AdminOutcome) -> Option<T>,
}

impl<T> std::fmt::Debug for AdminCall<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminCall").finish_non_exhaustive()
    }
}

fn metadata_of(o: AdminOutcome) -> Option<ClusterMetadata> {
    match o {
        AdminOutcome::Metadata(m) => Some(m),
        _ => None,
    }
}

/// Metadata of `topics` (never creating them).
pub fn metadata(topics: Vec<String>) -> AdminCall<ClusterMetadata> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().metadata(now, topics)),
        answer: metadata_of,
    }
}

/// Metadata of `topics`, with what this client may do to each if
/// `authorized_operations`.
pub fn describe_topics(
    topics: Vec<String>,
    authorized_operations: bool,
) -> AdminCall<ClusterMetadata> {
    AdminCall {
        start: Box::new(move |c, now| {
            c.admin()
                .describe_topics(now, topics, authorized_operations)
        }),
        answer: metadata_of,
    }
}

/// Metadata of every topic.
pub fn metadata_all() -> AdminCall<ClusterMetadata> {
    AdminCall {
        start: Box::new(|c, now| c.admin().metadata_all(now)),
        answer: metadata_of,
    }
}

/// The brokers of the cluster (metadata without topics): what a client
/// waits for when it starts.
pub fn brokers() -> AdminCall<ClusterMetadata> {
    AdminCall {
        start: Box::new(|c, now| c.admin().brokers(now)),
        answer: metadata_of,
    }
}

/// Creates topics (with `validate_only`, only checks them); each gets
/// its outcome.
pub fn create_topics(topics: Vec<NewTopic>, validate_only: bool) -> AdminCall<Vec<TopicOutcome>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().create_topics_validate(now, topics, validate_only)),
        answer: |o| match o {
            AdminOutcome::CreateTopics(v) => Some(v),
            _ => None,
        },
    }
}

/// Deletes topics; each gets its outcome.
pub fn delete_topics(names: Vec<String>) -> AdminCall<Vec<TopicOutcome>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().delete_topics(now, names)),
        answer: |o| match o {
            AdminOutcome::DeleteTopics(v) => Some(v),
            _ => None,
        },
    }
}

/// Deletes topics by id; each gets its outcome.
pub fn delete_topics_by_id(ids: Vec<Uuid>) -> AdminCall<Vec<TopicIdOutcome>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().delete_topics_by_id(now, ids)),
        answer: |o| match o {
            AdminOutcome::DeleteTopicsById(v) => Some(v),
            _ => None,
        },
    }
}

/// Every consumer group of the cluster.
pub fn list_groups() -> AdminCall<GroupListings> {
    AdminCall {
        start: Box::new(|c, now| c.admin().list_groups(now)),
        answer: |o| match o {
            AdminOutcome::ListGroups(v) => Some(v),
            _ => None,
        },
    }
}

/// Groups as their coordinators describe them.
pub fn describe_groups(groups: Vec<String>) -> AdminCall<Vec<GroupDescription>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().describe_groups(now, groups)),
        answer: |o| match o {
            AdminOutcome::DescribeGroups(v) => Some(v),
            _ => None,
        },
    }
}

/// Deletes groups; each gets its outcome.
pub fn delete_groups(groups: Vec<String>) -> AdminCall<Vec<(String, ErrorCode)>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().delete_groups(now, groups)),
        answer: |o| match o {
            AdminOutcome::DeleteGroups(v) => Some(v),
            _ => None,
        },
    }
}

/// A group's committed offsets.
pub fn group_offsets(group: String) -> AdminCall<GroupOffsets> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().group_offsets(now, &group)),
        answer: |o| match o {
            AdminOutcome::GroupOffsets(v) => Some(v),
            _ => None,
        },
    }
}

/// Sets a group's committed offsets (the group must have no members).
pub fn alter_group_offsets(
    group: String,
    offsets: BTreeMap<TopicPartition, i64>,
) -> AdminCall<BTreeMap<TopicPartition, ErrorCode>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().alter_group_offsets(now, &group, offsets)),
        answer: |o| match o {
            AdminOutcome::AlterGroupOffsets(v) => Some(v),
            _ => None,
        },
    }
}

/// The configs of `resources` (with every source's value if `synonyms`).
pub fn describe_configs(
    resources: Vec<ConfigResource>,
    synonyms: bool,
) -> AdminCall<Vec<ResourceConfigs>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().describe_configs(now, resources, synonyms)),
        answer: |o| match o {
            AdminOutcome::DescribeConfigs(v) => Some(v),
            _ => None,
        },
    }
}

/// Changes configs incrementally; each resource gets its outcome.
pub fn alter_configs(
    changes: Vec<(ConfigResource, Vec<AlterConfigOp>)>,
    validate_only: bool,
) -> AdminCall<Vec<ResourceOutcome>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().alter_configs(now, changes, validate_only)),
        answer: |o| match o {
            AdminOutcome::AlterConfigs(v) => Some(v),
            _ => None,
        },
    }
}

/// Grows topics to new partition counts; each topic gets its outcome.
pub fn create_partitions(
    topics: Vec<NewPartitions>,
    validate_only: bool,
) -> AdminCall<Vec<TopicOutcome>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().create_partitions(now, topics, validate_only)),
        answer: |o| match o {
            AdminOutcome::CreatePartitions(v) => Some(v),
            _ => None,
        },
    }
}

/// Per partition, its new low watermark or why its records stay.
pub type DeletedRecords = BTreeMap<TopicPartition, Result<i64, ErrorCode>>;

/// Deletes records before an offset in each partition.
pub fn delete_records(before: BTreeMap<TopicPartition, i64>) -> AdminCall<DeletedRecords> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().delete_records(now, before)),
        answer: |o| match o {
            AdminOutcome::DeleteRecords(v) => Some(v),
            _ => None,
        },
    }
}

/// The cluster: id, controller, brokers (and authorized operations).
pub fn describe_cluster(authorized_operations: bool) -> AdminCall<ClusterDescription> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().describe_cluster(now, authorized_operations)),
        answer: |o| match o {
            AdminOutcome::DescribeCluster(v) => Some(v),
            _ => None,
        },
    }
}

/// A broker's supported features and the cluster's finalized ones.
pub fn describe_features(node: Option<i32>) -> AdminCall<FeatureDescription> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().describe_features(now, node)),
        answer: |o| match o {
            AdminOutcome::DescribeFeatures(v) => Some(v),
            _ => None,
        },
    }
}

/// Creates ACLs; per binding, the outcome.
pub fn create_acls(bindings: Vec<AclBinding>) -> AdminCall<Vec<AclOutcome>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().create_acls(now, bindings)),
        answer: |o| match o {
            AdminOutcome::CreateAcls(v) => Some(v),
            _ => None,
        },
    }
}

/// The ACLs a filter matches.
pub fn describe_acls(filter: AclBindingFilter) -> AdminCall<Vec<AclBinding>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().describe_acls(now, filter)),
        answer: |o| match o {
            AdminOutcome::DescribeAcls(v) => Some(v),
            _ => None,
        },
    }
}

/// Deletes the ACLs each filter matches; per filter, what it deleted.
pub fn delete_acls(filters: Vec<AclBindingFilter>) -> AdminCall<Vec<AclFilterOutcome>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().delete_acls(now, filters)),
        answer: |o| match o {
            AdminOutcome::DeleteAcls(v) => Some(v),
            _ => None,
        },
    }
}

/// The SCRAM credentials of `users` (every user if empty).
pub fn describe_user_scram_credentials(users: Vec<String>) -> AdminCall<Vec<UserScramCredentials>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().describe_user_scram_credentials(now, users)),
        answer: |o| match o {
            AdminOutcome::DescribeUserScramCredentials(v) => Some(v),
            _ => None,
        },
    }
}

/// Sets or removes SCRAM credentials; per user, the outcome.
pub fn alter_user_scram_credentials(changes: Vec<ScramChange>) -> AdminCall<Vec<UserOutcome>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().alter_user_scram_credentials(now, changes)),
        answer: |o| match o {
            AdminOutcome::AlterUserScramCredentials(v) => Some(v),
            _ => None,
        },
    }
}

/// The client quotas a filter matches.
pub fn describe_client_quotas(filter: QuotaFilter) -> AdminCall<Vec<QuotaEntry>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().describe_client_quotas(now, filter)),
        answer: |o| match o {
            AdminOutcome::DescribeClientQuotas(v) => Some(v),
            _ => None,
        },
    }
}

/// Sets or removes client quotas; per entity, the outcome.
pub fn alter_client_quotas(
    changes: Vec<(QuotaEntity, Vec<QuotaOp>)>,
    validate_only: bool,
) -> AdminCall<Vec<QuotaOutcome>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().alter_client_quotas(now, changes, validate_only)),
        answer: |o| match o {
            AdminOutcome::AlterClientQuotas(v) => Some(v),
            _ => None,
        },
    }
}

/// The groups in one of `states` and of one of `types` (empty: any).
pub fn list_groups_matching(states: Vec<String>, types: Vec<String>) -> AdminCall<GroupListings> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().list_groups_matching(now, states, types)),
        answer: |o| match o {
            AdminOutcome::ListGroups(v) => Some(v),
            _ => None,
        },
    }
}

/// Share groups as their coordinators describe them.
pub fn describe_share_groups(groups: Vec<String>) -> AdminCall<Vec<GroupDescription>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().describe_share_groups(now, groups)),
        answer: |o| match o {
            AdminOutcome::DescribeGroups(v) => Some(v),
            _ => None,
        },
    }
}

/// Deletes a group's committed offsets of some partitions.
pub fn delete_group_offsets(
    group: String,
    partitions: Vec<TopicPartition>,
) -> AdminCall<BTreeMap<TopicPartition, ErrorCode>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().delete_group_offsets(now, &group, partitions)),
        answer: |o| match o {
            AdminOutcome::DeleteGroupOffsets(v) => Some(v),
            _ => None,
        },
    }
}

/// The reassignments in progress (of `partitions` only, if given).
pub fn list_partition_reassignments(
    partitions: Option<Vec<TopicPartition>>,
) -> AdminCall<BTreeMap<TopicPartition, PartitionReassignment>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().list_partition_reassignments(now, partitions)),
        answer: |o| match o {
            AdminOutcome::ListPartitionReassignments(v) => Some(v),
            _ => None,
        },
    }
}

/// Moves partitions to new replicas (`None` cancels a reassignment).
pub fn alter_partition_reassignments(
    targets: BTreeMap<TopicPartition, Option<Vec<i32>>>,
) -> AdminCall<Vec<PartitionOutcome>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().alter_partition_reassignments(now, targets)),
        answer: |o| match o {
            AdminOutcome::AlterPartitionReassignments(v) => Some(v),
            _ => None,
        },
    }
}

/// Elects leaders (of every partition that needs one if `None`).
pub fn elect_leaders(
    election: ElectionType,
    partitions: Option<Vec<TopicPartition>>,
) -> AdminCall<Vec<PartitionOutcome>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().elect_leaders(now, election, partitions)),
        answer: |o| match o {
            AdminOutcome::ElectLeaders(v) => Some(v),
            _ => None,
        },
    }
}

/// Every broker's log directories (only `topics`' replicas, if given).
pub fn describe_log_dirs(topics: Option<Vec<String>>) -> AdminCall<Vec<BrokerLogDirs>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().describe_log_dirs(now, topics)),
        answer: |o| match o {
            AdminOutcome::DescribeLogDirs(v) => Some(v),
            _ => None,
        },
    }
}

/// Per partition, the producers its leader tracks or its error.
pub type DescribedProducers = BTreeMap<TopicPartition, Result<Vec<ProducerState>, ErrorCode>>;

/// The producers of each partition, asked of its leader.
pub fn describe_producers(partitions: Vec<TopicPartition>) -> AdminCall<DescribedProducers> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().describe_producers(now, partitions)),
        answer: |o| match o {
            AdminOutcome::DescribeProducers(v) => Some(v),
            _ => None,
        },
    }
}

/// Every coordinator's transactions a filter matches.
pub fn list_transactions(filter: TransactionFilter) -> AdminCall<TransactionListings> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().list_transactions(now, filter)),
        answer: |o| match o {
            AdminOutcome::ListTransactions(v) => Some(v),
            _ => None,
        },
    }
}

/// Transactions by transactional id, each at its coordinator.
pub fn describe_transactions(ids: Vec<String>) -> AdminCall<Vec<TransactionDescription>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().describe_transactions(now, ids)),
        answer: |o| match o {
            AdminOutcome::DescribeTransactions(v) => Some(v),
            _ => None,
        },
    }
}

/// Finalizes features at new levels; per feature, the outcome.
pub fn update_features(
    updates: Vec<FeatureUpdate>,
    validate_only: bool,
) -> AdminCall<Vec<FeatureOutcome>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().update_features(now, updates, validate_only)),
        answer: |o| match o {
            AdminOutcome::UpdateFeatures(v) => Some(v),
            _ => None,
        },
    }
}

/// The admin methods every adapter's `Client` has, written once: an
/// adapter invokes it inside `impl Client` with `async, .await` or with
/// nothing, and supplies a private `fn admin<T>(&self, AdminCall<T>)`
/// (async or blocking) that runs a call and returns its answer.
#[macro_export]
macro_rules! admin_methods {
    ($($asyncness:ident)?, $($dot_await:tt)*) => {
        /// Metadata of `topics` (never creating them). Topics that do not
        /// exist are listed with `UNKNOWN_TOPIC_OR_PARTITION`.
        pub $($asyncness)? fn metadata<S: Into<String>>(
            &self,
            topics: impl IntoIterator<Item = S>,
        ) -> Result<$crate::api::ClusterMetadata, $crate::Error> {
            let topics = topics.into_iter().map(Into::into).collect();
            self.admin($crate::admin::metadata(topics))$($dot_await)*
        }

        /// Metadata of `topics` (never creating them); with
        /// `authorized_operations` each topic also lists what this client
        /// may do to it (`TopicMetadata::authorized_operations`).
        pub $($asyncness)? fn describe_topics<S: Into<String>>(
            &self,
            topics: impl IntoIterator<Item = S>,
            authorized_operations: bool,
        ) -> Result<$crate::api::ClusterMetadata, $crate::Error> {
            let topics = topics.into_iter().map(Into::into).collect();
            self.admin($crate::admin::describe_topics(topics, authorized_operations))$($dot_await)*
        }

        /// Metadata of every topic in the cluster.
        pub $($asyncness)? fn metadata_all(&self) -> Result<$crate::api::ClusterMetadata, $crate::Error> {
            self.admin($crate::admin::metadata_all())$($dot_await)*
        }

        /// Creates topics and returns each topic's outcome.
        pub $($asyncness)? fn create_topics(
            &self,
            topics: impl IntoIterator<Item = $crate::api::NewTopic>,
        ) -> Result<Vec<$crate::api::TopicOutcome>, $crate::Error> {
            self.admin($crate::admin::create_topics(topics.into_iter().collect(), false))$($dot_await)*
        }

        /// Creates topics, or with `validate_only` only checks them
        /// (nothing is created; each outcome says whether it would be,
        /// with the partition count and replication factor it would
        /// have). Each topic's outcome.
        pub $($asyncness)? fn create_topics_validate(
            &self,
            topics: impl IntoIterator<Item = $crate::api::NewTopic>,
            validate_only: bool,
        ) -> Result<Vec<$crate::api::TopicOutcome>, $crate::Error> {
            self.admin($crate::admin::create_topics(topics.into_iter().collect(), validate_only))$($dot_await)*
        }

        /// Creates one topic; a broker error becomes `Error::Kafka`.
        pub $($asyncness)? fn create_topic(&self, topic: $crate::api::NewTopic) -> Result<(), $crate::Error> {
            $crate::Error::check_topics(&self.create_topics([topic])$($dot_await)*?)
        }

        /// Deletes topics and returns each topic's outcome.
        pub $($asyncness)? fn delete_topics<S: Into<String>>(
            &self,
            names: impl IntoIterator<Item = S>,
        ) -> Result<Vec<$crate::api::TopicOutcome>, $crate::Error> {
            let names = names.into_iter().map(Into::into).collect();
            self.admin($crate::admin::delete_topics(names))$($dot_await)*
        }

        /// Deletes topics by id (brokers from Kafka 2.8; older ones give
        /// an unsupported-version error) and returns each id's outcome.
        pub $($asyncness)? fn delete_topics_by_id(
            &self,
            ids: impl IntoIterator<Item = $crate::api::Uuid>,
        ) -> Result<Vec<$crate::api::TopicIdOutcome>, $crate::Error> {
            self.admin($crate::admin::delete_topics_by_id(ids.into_iter().collect()))$($dot_await)*
        }

        /// Deletes one topic; a broker error becomes `Error::Kafka`.
        pub $($asyncness)? fn delete_topic(&self, name: &str) -> Result<(), $crate::Error> {
            $crate::Error::check_topics(&self.delete_topics([name])$($dot_await)*?)
        }

        /// Every consumer group of the cluster (each broker lists the
        /// groups it coordinates; those that could not are in `errors`).
        pub $($asyncness)? fn list_groups(&self) -> Result<$crate::api::GroupListings, $crate::Error> {
            self.admin($crate::admin::list_groups())$($dot_await)*
        }

        /// Describes groups: state, assignor, members and their
        /// partitions. A group that does not exist is described as `Dead`.
        pub $($asyncness)? fn describe_groups<S: Into<String>>(
            &self,
            groups: impl IntoIterator<Item = S>,
        ) -> Result<Vec<$crate::api::GroupDescription>, $crate::Error> {
            let groups = groups.into_iter().map(Into::into).collect();
            self.admin($crate::admin::describe_groups(groups))$($dot_await)*
        }

        /// Deletes groups without active members; each gets its outcome.
        pub $($asyncness)? fn delete_groups<S: Into<String>>(
            &self,
            groups: impl IntoIterator<Item = S>,
        ) -> Result<Vec<(String, $crate::api::ErrorCode)>, $crate::Error> {
            let groups = groups.into_iter().map(Into::into).collect();
            self.admin($crate::admin::delete_groups(groups))$($dot_await)*
        }

        /// Every committed offset of `group`.
        pub $($asyncness)? fn group_offsets(&self, group: &str) -> Result<$crate::api::GroupOffsets, $crate::Error> {
            self.admin($crate::admin::group_offsets(group.to_string()))$($dot_await)*
        }

        /// Sets `group`'s committed offsets, as an administrator (the group
        /// must have no active members); per partition, the outcome. The
        /// topics must be in the client's metadata ([`Self::metadata`]).
        pub $($asyncness)? fn alter_group_offsets(
            &self,
            group: &str,
            offsets: std::collections::BTreeMap<$crate::api::TopicPartition, i64>,
        ) -> Result<std::collections::BTreeMap<$crate::api::TopicPartition, $crate::api::ErrorCode>, $crate::Error> {
            self.admin($crate::admin::alter_group_offsets(group.to_string(), offsets))$($dot_await)*
        }

        /// The configs of `resources`, each asked of the right broker (a
        /// broker's own configs of that broker); `synonyms` adds every
        /// source's value. Per resource, its configs or its error.
        pub $($asyncness)? fn describe_configs(
            &self,
            resources: impl IntoIterator<Item = $crate::api::ConfigResource>,
            synonyms: bool,
        ) -> Result<Vec<$crate::api::ResourceConfigs>, $crate::Error> {
            let resources = resources.into_iter().collect();
            self.admin($crate::admin::describe_configs(resources, synonyms))$($dot_await)*
        }

        /// Changes configs incrementally (set, delete, append, subtract);
        /// with `validate_only` the brokers only check. Per resource, the
        /// outcome.
        pub $($asyncness)? fn alter_configs(
            &self,
            changes: impl IntoIterator<Item = ($crate::api::ConfigResource, Vec<$crate::api::AlterConfigOp>)>,
            validate_only: bool,
        ) -> Result<Vec<$crate::api::ResourceOutcome>, $crate::Error> {
            let changes = changes.into_iter().collect();
            self.admin($crate::admin::alter_configs(changes, validate_only))$($dot_await)*
        }

        /// Grows topics to new total partition counts (optionally placed);
        /// with `validate_only` the controller only checks. Per topic, the
        /// outcome.
        pub $($asyncness)? fn create_partitions(
            &self,
            topics: impl IntoIterator<Item = $crate::api::NewPartitions>,
            validate_only: bool,
        ) -> Result<Vec<$crate::api::TopicOutcome>, $crate::Error> {
            let topics = topics.into_iter().collect();
            self.admin($crate::admin::create_partitions(topics, validate_only))$($dot_await)*
        }

        /// Deletes each partition's records before its offset (-1: all),
        /// asking each partition's leader. Per partition, the new low
        /// watermark or the partition's error.
        pub $($asyncness)? fn delete_records(
            &self,
            before: std::collections::BTreeMap<$crate::api::TopicPartition, i64>,
        ) -> Result<$crate::admin::DeletedRecords, $crate::Error> {
            self.admin($crate::admin::delete_records(before))$($dot_await)*
        }

        /// The cluster: its id, controller and brokers with racks, and
        /// with `authorized_operations` what this client may do to it.
        pub $($asyncness)? fn describe_cluster(
            &self,
            authorized_operations: bool,
        ) -> Result<$crate::api::ClusterDescription, $crate::Error> {
            self.admin($crate::admin::describe_cluster(authorized_operations))$($dot_await)*
        }

        /// The features broker `node` (any broker if `None`) supports and
        /// those the cluster finalized, from its ApiVersions answer.
        pub $($asyncness)? fn describe_features(
            &self,
            node: Option<i32>,
        ) -> Result<$crate::api::FeatureDescription, $crate::Error> {
            self.admin($crate::admin::describe_features(node))$($dot_await)*
        }

        /// Creates ACLs (any broker takes them; Kafka forwards to the
        /// controller). Per binding, the outcome.
        pub $($asyncness)? fn create_acls(
            &self,
            bindings: impl IntoIterator<Item = $crate::api::AclBinding>,
        ) -> Result<Vec<$crate::api::AclOutcome>, $crate::Error> {
            let bindings = bindings.into_iter().collect();
            self.admin($crate::admin::create_acls(bindings))$($dot_await)*
        }

        /// The ACLs `filter` matches.
        pub $($asyncness)? fn describe_acls(
            &self,
            filter: $crate::api::AclBindingFilter,
        ) -> Result<Vec<$crate::api::AclBinding>, $crate::Error> {
            self.admin($crate::admin::describe_acls(filter))$($dot_await)*
        }

        /// Deletes every ACL each filter matches. Per filter, the bindings
        /// it matched and whether each was deleted.
        pub $($asyncness)? fn delete_acls(
            &self,
            filters: impl IntoIterator<Item = $crate::api::AclBindingFilter>,
        ) -> Result<Vec<$crate::api::AclFilterOutcome>, $crate::Error> {
            let filters = filters.into_iter().collect();
            self.admin($crate::admin::delete_acls(filters))$($dot_await)*
        }

        /// The SCRAM credentials (mechanisms and iterations) of `users`,
        /// or of every user if `users` is empty; per user, its error.
        pub $($asyncness)? fn describe_user_scram_credentials<S: Into<String>>(
            &self,
            users: impl IntoIterator<Item = S>,
        ) -> Result<Vec<$crate::api::UserScramCredentials>, $crate::Error> {
            let users = users.into_iter().map(Into::into).collect();
            self.admin($crate::admin::describe_user_scram_credentials(users))$($dot_await)*
        }

        /// Sets or removes SCRAM credentials (the password is salted here
        /// and never sent). Per user, the outcome.
        pub $($asyncness)? fn alter_user_scram_credentials(
            &self,
            changes: impl IntoIterator<Item = $crate::api::ScramChange>,
        ) -> Result<Vec<$crate::api::UserOutcome>, $crate::Error> {
            let changes = changes.into_iter().collect();
            self.admin($crate::admin::alter_user_scram_credentials(changes))$($dot_await)*
        }

        /// The client quotas `filter` matches, per entity.
        pub $($asyncness)? fn describe_client_quotas(
            &self,
            filter: $crate::api::QuotaFilter,
        ) -> Result<Vec<$crate::api::QuotaEntry>, $crate::Error> {
            self.admin($crate::admin::describe_client_quotas(filter))$($dot_await)*
        }

        /// Sets or removes client quotas; with `validate_only` the broker
        /// only checks. Per entity, the outcome.
        pub $($asyncness)? fn alter_client_quotas(
            &self,
            changes: impl IntoIterator<Item = ($crate::api::QuotaEntity, Vec<$crate::api::QuotaOp>)>,
            validate_only: bool,
        ) -> Result<Vec<$crate::api::QuotaOutcome>, $crate::Error> {
            let changes = changes.into_iter().collect();
            self.admin($crate::admin::alter_client_quotas(changes, validate_only))$($dot_await)*
        }

        /// The groups in one of `states` (`Stable`, `Empty`, ...) and of
        /// one of `types` (`classic`, `consumer`, `share`); an empty list
        /// matches any.
        pub $($asyncness)? fn list_groups_matching<S: Into<String>, T: Into<String>>(
            &self,
            states: impl IntoIterator<Item = S>,
            types: impl IntoIterator<Item = T>,
        ) -> Result<$crate::api::GroupListings, $crate::Error> {
            let states = states.into_iter().map(Into::into).collect();
            let types = types.into_iter().map(Into::into).collect();
            self.admin($crate::admin::list_groups_matching(states, types))$($dot_await)*
        }

        /// Describes share groups (KIP-932); a group that is not one is
        /// described with its error.
        pub $($asyncness)? fn describe_share_groups<S: Into<String>>(
            &self,
            groups: impl IntoIterator<Item = S>,
        ) -> Result<Vec<$crate::api::GroupDescription>, $crate::Error> {
            let groups = groups.into_iter().map(Into::into).collect();
            self.admin($crate::admin::describe_share_groups(groups))$($dot_await)*
        }

        /// Deletes `group`'s committed offsets of `partitions`; per
        /// partition, the outcome (`GROUP_SUBSCRIBED_TO_TOPIC` while the
        /// group consumes the topic).
        pub $($asyncness)? fn delete_group_offsets(
            &self,
            group: &str,
            partitions: impl IntoIterator<Item = $crate::api::TopicPartition>,
        ) -> Result<std::collections::BTreeMap<$crate::api::TopicPartition, $crate::api::ErrorCode>, $crate::Error> {
            let partitions = partitions.into_iter().collect();
            self.admin($crate::admin::delete_group_offsets(group.to_string(), partitions))$($dot_await)*
        }

        /// The partition reassignments in progress (of `partitions` only,
        /// if given), from the controller.
        pub $($asyncness)? fn list_partition_reassignments(
            &self,
            partitions: Option<Vec<$crate::api::TopicPartition>>,
        ) -> Result<std::collections::BTreeMap<$crate::api::TopicPartition, $crate::api::PartitionReassignment>, $crate::Error> {
            self.admin($crate::admin::list_partition_reassignments(partitions))$($dot_await)*
        }

        /// Moves partitions to new replicas (the first is the preferred
        /// leader); `None` cancels a partition's reassignment. Per
        /// partition, the outcome.
        pub $($asyncness)? fn alter_partition_reassignments(
            &self,
            targets: std::collections::BTreeMap<$crate::api::TopicPartition, Option<Vec<i32>>>,
        ) -> Result<Vec<$crate::api::PartitionOutcome>, $crate::Error> {
            self.admin($crate::admin::alter_partition_reassignments(targets))$($dot_await)*
        }

        /// Elects leaders, preferred or unclean, of `partitions` (every
        /// partition that needs one if `None`). Per partition, the outcome
        /// (`ELECTION_NOT_NEEDED` where nothing had to change).
        pub $($asyncness)? fn elect_leaders(
            &self,
            election: $crate::api::ElectionType,
            partitions: Option<Vec<$crate::api::TopicPartition>>,
        ) -> Result<Vec<$crate::api::PartitionOutcome>, $crate::Error> {
            self.admin($crate::admin::elect_leaders(election, partitions))$($dot_await)*
        }

        /// Every broker's log directories and the replicas in them (of
        /// `topics` only, if given); per broker, its directories or error.
        pub $($asyncness)? fn describe_log_dirs(
            &self,
            topics: Option<Vec<String>>,
        ) -> Result<Vec<$crate::api::BrokerLogDirs>, $crate::Error> {
            self.admin($crate::admin::describe_log_dirs(topics))$($dot_await)*
        }

        /// The producers each partition's leader keeps state for; per
        /// partition, the producers or its error.
        pub $($asyncness)? fn describe_producers(
            &self,
            partitions: impl IntoIterator<Item = $crate::api::TopicPartition>,
        ) -> Result<$crate::admin::DescribedProducers, $crate::Error> {
            let partitions = partitions.into_iter().collect();
            self.admin($crate::admin::describe_producers(partitions))$($dot_await)*
        }

        /// The transactions every coordinator holds that `filter`
        /// matches, merged (brokers that failed are in `errors`).
        pub $($asyncness)? fn list_transactions(
            &self,
            filter: $crate::api::TransactionFilter,
        ) -> Result<$crate::api::TransactionListings, $crate::Error> {
            self.admin($crate::admin::list_transactions(filter))$($dot_await)*
        }

        /// Describes transactions by transactional id, each at its
        /// transaction coordinator; per id, the state or its error.
        pub $($asyncness)? fn describe_transactions<S: Into<String>>(
            &self,
            transactional_ids: impl IntoIterator<Item = S>,
        ) -> Result<Vec<$crate::api::TransactionDescription>, $crate::Error> {
            let ids = transactional_ids.into_iter().map(Into::into).collect();
            self.admin($crate::admin::describe_transactions(ids))$($dot_await)*
        }

        /// Finalizes features at new levels (upgrade, safe or unsafe
        /// downgrade); with `validate_only` the controller only checks.
        /// Per feature, the outcome.
        pub $($asyncness)? fn update_features(
            &self,
            updates: impl IntoIterator<Item = $crate::api::FeatureUpdate>,
            validate_only: bool,
        ) -> Result<Vec<$crate::api::FeatureOutcome>, $crate::Error> {
            let updates = updates.into_iter().collect();
            self.admin($crate::admin::update_features(updates, validate_only))$($dot_await)*
        }
    };
}

impl<T: Send + 'static> AdminCall<T> {
    /// Issues the command; `reply` gets its typed answer.
    pub fn start<D: Deliver>(
        self,
        client: &mut Client,
        calls: &mut Calls<D>,
        now: Instant,
        reply: Reply<T>,
    ) {
        let answer = self.answer;
        calls.admin(
            client,
            now,
            self.start,
            Box::new(move |r| {
                reply(r.and_then(|o| {
                    match o {
                        AdminOutcome::Refused { code, message } => {
                            Err(Error::Kafka { code, message })
                        }
                        o => answer(o)
                            .ok_or(Error::Unexpected("an admin call got another call's answer")),
                    }
                }))
            }),
        );
    }
}
