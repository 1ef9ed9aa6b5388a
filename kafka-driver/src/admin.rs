//! Admin calls with typed results: each call says what its answer is,
//! so an adapter never matches a generic outcome.

use std::time::Instant;

use std::collections::BTreeMap;

use kafka_proto::ErrorCode;
use kafka_state::admin::{
    AdminOutcome, GroupDescription, GroupListings, GroupOffsets, NewTopic, TopicOutcome,
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
                    answer(o).ok_or(Error::Unexpected("an admin call got another call's answer"))
                }))
            }),
        );
    }
}
