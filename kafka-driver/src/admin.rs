//! Admin calls with typed results: each call says what its answer is,
//! so an adapter never matches a generic outcome.

use std::time::Instant;

use std::collections::BTreeMap;

use kafka_proto::ErrorCode;
use kafka_state::admin::{
    AclBinding, AclBindingFilter, AclFilterOutcome, AclOutcome, AdminOutcome, AlterConfigOp,
    ClusterDescription, ConfigResource, FeatureDescription, GroupDescription, GroupListings,
    GroupOffsets, NewPartitions, NewTopic, QuotaEntity, QuotaEntry, QuotaFilter, QuotaOp,
    QuotaOutcome, ResourceConfigs, ResourceOutcome, ScramChange, TopicOutcome, UserOutcome,
    UserScramCredentials,
};
use kafka_state::{Client, ClusterMetadata, Misuse, RequestId, TopicPartition};

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

/// Creates topics; each gets its outcome.
pub fn create_topics(topics: Vec<NewTopic>) -> AdminCall<Vec<TopicOutcome>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().create_topics(now, topics)),
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

        /// Metadata of every topic in the cluster.
        pub $($asyncness)? fn metadata_all(&self) -> Result<$crate::api::ClusterMetadata, $crate::Error> {
            self.admin($crate::admin::metadata_all())$($dot_await)*
        }

        /// Creates topics and returns each topic's outcome.
        pub $($asyncness)? fn create_topics(
            &self,
            topics: impl IntoIterator<Item = $crate::api::NewTopic>,
        ) -> Result<Vec<$crate::api::TopicOutcome>, $crate::Error> {
            self.admin($crate::admin::create_topics(topics.into_iter().collect()))$($dot_await)*
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
