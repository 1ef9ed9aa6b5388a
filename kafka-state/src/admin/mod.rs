//! Admin commands: create and delete topics, fetch metadata, add
//! partitions, describe and change configs, delete records, describe the
//! cluster and its features, administer consumer and share groups, ACLs,
//! SCRAM credentials and client quotas, move replicas and elect leaders,
//! describe log directories, producers and transactions, and update
//! feature levels. Reached
//! through the borrowed handle [`Client::admin`](crate::Client::admin);
//! results arrive as [`Event::AdminResult`]. Commands over several items
//! answer each item on its own.

mod acl;
mod features;
mod groups;
mod ops;
mod quota;
mod replicas;
mod scram;
mod txns;

pub use acl::{
    AclBinding, AclBindingFilter, AclFilterOutcome, AclOutcome, AclPatternType, AclPermission,
    AclResourceType,
};
pub use features::{FeatureOutcome, FeatureUpdate, FeatureUpgrade};
pub use groups::{
    CommittedOffset, GroupDescription, GroupListing, GroupListings, GroupOffsets, MemberDescription,
};
pub use ops::{
    AclOperation, AlterConfigOp, BrokerDescription, ClusterDescription, ConfigEntry,
    ConfigResource, ConfigSource, ConfigSynonym, FeatureDescription, FinalizedFeature,
    NewPartitions, ResourceConfigs, ResourceOutcome, SupportedFeature,
};
pub use quota::{QuotaEntity, QuotaEntry, QuotaFilter, QuotaMatch, QuotaOp, QuotaOutcome};
pub use replicas::{
    BrokerLogDirs, ElectionType, LogDirDescription, PartitionOutcome, PartitionReassignment,
    ReplicaLog,
};
pub use scram::{
    ScramChange, ScramCredentialInfo, ScramMechanism, UserOutcome, UserScramCredentials,
};
pub use txns::{
    ProducerState, TransactionDescription, TransactionFilter, TransactionListing,
    TransactionListings,
};

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

use kafka_proto::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_proto::messages::delete_topics_request::DeleteTopicState;
use kafka_proto::messages::metadata_request::MetadataRequestTopic;
use kafka_proto::messages::{CreateTopicsRequest, DeleteTopicsRequest, MetadataRequest};
use kafka_proto::{ErrorCode, RequestBody, ResponseBody, Uuid};

use crate::error::{DisconnectReason, Misuse, RequestError};
use crate::machine::{Ctx, SubMachine};
use crate::metadata::{ClusterMetadata, MetadataState};
use crate::router::{Inbound, Outbound, RequestId, Target};
use crate::{Client, Event};

/// A topic to create: a partition count and replication factor (-1 for
/// the broker's defaults), or an explicit replica assignment
/// ([`NewTopic::assigned`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewTopic {
    /// The name.
    pub name: String,
    /// Number of partitions, or -1 for the broker default (and with an
    /// assignment).
    pub partitions: i32,
    /// Replication factor, or -1 for the broker default (and with an
    /// assignment).
    pub replication_factor: i16,
    /// Per partition, in index order, its replicas' broker ids (the
    /// first is the preferred leader); `None` lets the broker place them.
    pub assignment: Option<Vec<Vec<i32>>>,
    /// Topic configs (`cleanup.policy`, `retention.ms`, ...).
    pub configs: Vec<(String, String)>,
}

impl NewTopic {
    /// A topic with no configs.
    pub fn new(name: impl Into<String>, partitions: i32, replication_factor: i16) -> Self {
        Self {
            name: name.into(),
            partitions,
            replication_factor,
            assignment: None,
            configs: Vec::new(),
        }
    }

    /// A topic whose partition `i` lives on the brokers `assignment[i]`,
    /// the first of them its preferred leader; partition count and
    /// replication factor follow from it (they are sent as -1).
    pub fn assigned(name: impl Into<String>, assignment: Vec<Vec<i32>>) -> Self {
        Self::new(name, -1, -1).with_assignment(assignment)
    }

    /// Sets the replica assignment (see [`NewTopic::assigned`]); the
    /// partition count and replication factor must then be -1.
    pub fn with_assignment(mut self, assignment: Vec<Vec<i32>>) -> Self {
        self.assignment = Some(assignment);
        self
    }

    /// Adds a topic config.
    pub fn with_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.push((key.into(), value.into()));
        self
    }

    /// Refuses a topic that cannot be sent as given (its name is
    /// checked apart).
    fn check(&self) -> Result<(), Misuse> {
        if self.partitions <= 0 && self.partitions != -1 {
            return Err(Misuse::InvalidPartitions(self.partitions));
        }
        if self.replication_factor == 0 || self.replication_factor < -1 {
            return Err(Misuse::InvalidReplicationFactor(self.replication_factor));
        }
        match self.assignment_problem() {
            Some(reason) => Err(Misuse::InvalidNewTopic {
                topic: self.name.clone(),
                reason,
            }),
            None => Ok(()),
        }
    }

    fn assignment_problem(&self) -> Option<&'static str> {
        let assignment = self.assignment.as_ref()?;
        if self.partitions != -1 || self.replication_factor != -1 {
            return Some(
                "a replica assignment excludes a partition count or replication factor (leave both -1)",
            );
        }
        if assignment.is_empty() {
            return Some("the replica assignment lists no partitions");
        }
        if i32::try_from(assignment.len()).is_err() {
            return Some("the replica assignment lists too many partitions");
        }
        for replicas in assignment {
            if replicas.is_empty() {
                return Some("a partition of the replica assignment has no replicas");
            }
            if replicas.iter().any(|&b| b < 0) {
                return Some("the replica assignment names a negative broker id");
            }
            let distinct: BTreeSet<i32> = replicas.iter().copied().collect();
            if distinct.len() != replicas.len() {
                return Some("a partition of the replica assignment names a broker twice");
            }
            if replicas.len() != assignment[0].len() {
                return Some(
                    "the partitions of the replica assignment have different replica counts",
                );
            }
        }
        None
    }
}

/// The per-topic outcome of a create or delete.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicOutcome {
    /// The topic.
    pub name: String,
    /// [`ErrorCode::None`] on success.
    pub error: ErrorCode,
    /// The broker's explanation, if it gave one.
    pub message: Option<String>,
    /// A created (or, validating only, a creatable) topic's partition
    /// count, as the broker reports it (CreateTopics v5 and later).
    pub partitions: Option<i32>,
    /// Its replication factor, likewise.
    pub replication_factor: Option<i16>,
    /// A created topic's id (CreateTopics v7 and later). A validate-only
    /// answer may carry one too, which names no topic.
    pub id: Option<Uuid>,
}

impl TopicOutcome {
    pub(crate) fn new(name: String, error: ErrorCode, message: Option<String>) -> Self {
        Self {
            name,
            error,
            message,
            partitions: None,
            replication_factor: None,
            id: None,
        }
    }
}

/// The outcome of deleting one topic by id
/// ([`Admin::delete_topics_by_id`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicIdOutcome {
    /// The topic id asked for.
    pub id: Uuid,
    /// The topic's name, if the broker gave it.
    pub name: Option<String>,
    /// [`ErrorCode::None`] on success, `UNKNOWN_TOPIC_ID` for an id the
    /// cluster does not have.
    pub error: ErrorCode,
    /// The broker's explanation, if it gave one.
    pub message: Option<String>,
}

/// What an admin command produced.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AdminOutcome {
    /// Per-topic results of [`Admin::create_topics`].
    CreateTopics(Vec<TopicOutcome>),
    /// Per-topic results of [`Admin::delete_topics`].
    DeleteTopics(Vec<TopicOutcome>),
    /// Per-id results of [`Admin::delete_topics_by_id`], in the order
    /// asked.
    DeleteTopicsById(Vec<TopicIdOutcome>),
    /// The answer to [`Admin::metadata`] or [`Admin::describe_topics`],
    /// alone (the client's cache also takes it in).
    Metadata(ClusterMetadata),
    /// Every group of the cluster ([`Admin::list_groups`]).
    ListGroups(GroupListings),
    /// Per group, in the order asked ([`Admin::describe_groups`]).
    DescribeGroups(Vec<GroupDescription>),
    /// Per group, [`ErrorCode::None`] or why it was not deleted
    /// ([`Admin::delete_groups`]).
    DeleteGroups(Vec<(String, ErrorCode)>),
    /// A group's committed offsets ([`Admin::group_offsets`]).
    GroupOffsets(GroupOffsets),
    /// Per partition, [`ErrorCode::None`] or why the offset was not set
    /// ([`Admin::alter_group_offsets`]).
    AlterGroupOffsets(BTreeMap<crate::TopicPartition, ErrorCode>),
    /// Per resource, in the order asked ([`Admin::describe_configs`]).
    DescribeConfigs(Vec<ResourceConfigs>),
    /// Per resource, in the order asked ([`Admin::alter_configs`]).
    AlterConfigs(Vec<ResourceOutcome>),
    /// Per topic, in the order asked ([`Admin::create_partitions`]).
    CreatePartitions(Vec<TopicOutcome>),
    /// Per partition, its new low watermark or why its records stay
    /// ([`Admin::delete_records`]).
    DeleteRecords(BTreeMap<crate::TopicPartition, Result<i64, ErrorCode>>),
    /// The cluster ([`Admin::describe_cluster`]).
    DescribeCluster(ClusterDescription),
    /// A broker's features ([`Admin::describe_features`]).
    DescribeFeatures(FeatureDescription),
    /// Per binding, in the order asked ([`Admin::create_acls`]).
    CreateAcls(Vec<AclOutcome>),
    /// The bindings a filter matched ([`Admin::describe_acls`]).
    DescribeAcls(Vec<AclBinding>),
    /// Per filter, in the order asked, what it deleted
    /// ([`Admin::delete_acls`]).
    DeleteAcls(Vec<AclFilterOutcome>),
    /// Per user asked (every user if none was named)
    /// ([`Admin::describe_user_scram_credentials`]).
    DescribeUserScramCredentials(Vec<UserScramCredentials>),
    /// Per user, in the order first named
    /// ([`Admin::alter_user_scram_credentials`]).
    AlterUserScramCredentials(Vec<UserOutcome>),
    /// The quotas a filter matched ([`Admin::describe_client_quotas`]).
    DescribeClientQuotas(Vec<QuotaEntry>),
    /// Per entity, in the order asked ([`Admin::alter_client_quotas`]).
    AlterClientQuotas(Vec<QuotaOutcome>),
    /// The reassignments in progress
    /// ([`Admin::list_partition_reassignments`]).
    ListPartitionReassignments(BTreeMap<crate::TopicPartition, PartitionReassignment>),
    /// Per partition, in the order asked
    /// ([`Admin::alter_partition_reassignments`]).
    AlterPartitionReassignments(Vec<PartitionOutcome>),
    /// Per partition ([`Admin::elect_leaders`]); `ELECTION_NOT_NEEDED`
    /// where the leader already was the one asked for.
    ElectLeaders(Vec<PartitionOutcome>),
    /// Per broker, its log directories ([`Admin::describe_log_dirs`]).
    DescribeLogDirs(Vec<BrokerLogDirs>),
    /// Per partition, the producers its leader tracks or why it could not
    /// say ([`Admin::describe_producers`]).
    DescribeProducers(BTreeMap<crate::TopicPartition, Result<Vec<ProducerState>, ErrorCode>>),
    /// Every coordinator's transactions ([`Admin::list_transactions`]).
    ListTransactions(TransactionListings),
    /// Per transactional id, in the order asked
    /// ([`Admin::describe_transactions`]).
    DescribeTransactions(Vec<TransactionDescription>),
    /// Per partition, [`ErrorCode::None`] or why the group's offset stays
    /// ([`Admin::delete_group_offsets`]).
    DeleteGroupOffsets(BTreeMap<crate::TopicPartition, ErrorCode>),
    /// Per feature, in the order asked ([`Admin::update_features`]).
    UpdateFeatures(Vec<FeatureOutcome>),
    /// A command about the cluster as a whole that the broker refused.
    Refused {
        /// Why.
        code: ErrorCode,
        /// The broker's explanation, if it gave one.
        message: Option<String>,
    },
}

/// The result carried by [`Event::AdminResult`]: the outcome, or why no
/// broker answered.
pub type AdminResult = Result<AdminOutcome, RequestError>;

/// Borrowed handle for admin commands; see [`Client::admin`].
#[derive(Debug)]
pub struct Admin<'a> {
    pub(crate) client: &'a mut Client,
}

impl Admin<'_> {
    /// Creates topics. Names are checked against Kafka's rules, partitions
    /// must be at least 1 and the replication factor at least 1 (or -1 for
    /// either, meaning the broker default); a replica assignment must list
    /// partitions 0..n, each with the same number of distinct brokers.
    pub fn create_topics(
        &mut self,
        now: Instant,
        topics: impl IntoIterator<Item = NewTopic>,
    ) -> Result<RequestId, Misuse> {
        self.create_topics_validate(now, topics, false)
    }

    /// [`Admin::create_topics`], and with `validate_only` the broker only
    /// checks: nothing is created, and each topic's outcome says whether
    /// it would have been (with the partition count and replication
    /// factor it would have, CreateTopics v5 and later). CreateTopics v0
    /// cannot say `validate_only`, so such a request fails to encode
    /// rather than create.
    pub fn create_topics_validate(
        &mut self,
        now: Instant,
        topics: impl IntoIterator<Item = NewTopic>,
        validate_only: bool,
    ) -> Result<RequestId, Misuse> {
        let topics: Vec<NewTopic> = topics.into_iter().collect();
        check_names(topics.iter().map(|t| t.name.as_str()))?;
        for t in &topics {
            t.check()?;
        }
        let timeout_ms = millis(self.client.config().request_timeout);
        let body = CreateTopicsRequest::default()
            .with_timeout_ms(timeout_ms)
            .with_validate_only(validate_only)
            .with_topics(
                topics
                    .into_iter()
                    .map(|t| {
                        let assignments = t
                            .assignment
                            .unwrap_or_default()
                            .into_iter()
                            .zip(0..)
                            .map(|(broker_ids, partition)| {
                                CreatableReplicaAssignment::default()
                                    .with_partition_index(partition)
                                    .with_broker_ids(broker_ids)
                            })
                            .collect();
                        CreatableTopic::default()
                            .with_name(t.name)
                            .with_num_partitions(t.partitions)
                            .with_replication_factor(t.replication_factor)
                            .with_assignments(assignments)
                            .with_configs(
                                t.configs
                                    .into_iter()
                                    .map(|(k, v)| {
                                        CreatableTopicConfig::default()
                                            .with_name(k)
                                            .with_value(Some(v))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        self.submit(now, body.into(), AdminKind::CreateTopics)
    }

    /// Deletes topics by name.
    pub fn delete_topics<S: Into<String>>(
        &mut self,
        now: Instant,
        names: impl IntoIterator<Item = S>,
    ) -> Result<RequestId, Misuse> {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        check_names(names.iter().map(String::as_str))?;
        let timeout_ms = millis(self.client.config().request_timeout);
        // Built in the pre-v6 shape; the router moves names into `topics`
        // for v6 and later.
        let body = DeleteTopicsRequest::default()
            .with_timeout_ms(timeout_ms)
            .with_topic_names(names);
        self.submit(now, body.into(), AdminKind::DeleteTopics)
    }

    /// Deletes topics by id (DeleteTopics v6 and later, Kafka 2.8 and
    /// later); against an older broker the command fails with
    /// [`RequestError::Unsupported`] without being sent. Per id, the
    /// outcome, with the name if the broker gave it.
    pub fn delete_topics_by_id(
        &mut self,
        now: Instant,
        ids: impl IntoIterator<Item = Uuid>,
    ) -> Result<RequestId, Misuse> {
        let ids: Vec<Uuid> = ids.into_iter().collect();
        if ids.is_empty() {
            return Err(Misuse::NoTopics);
        }
        let mut seen = BTreeSet::new();
        for id in &ids {
            if id.is_zero() {
                return Err(Misuse::InvalidConfig("a topic id is zero"));
            }
            if !seen.insert(*id) {
                return Err(Misuse::InvalidConfig("a topic id is given twice"));
            }
        }
        let timeout_ms = millis(self.client.config().request_timeout);
        let body = DeleteTopicsRequest::default()
            .with_timeout_ms(timeout_ms)
            .with_topics(
                ids.iter()
                    .map(|&id| DeleteTopicState::default().with_topic_id(id))
                    .collect(),
            );
        self.submit(now, body.into(), AdminKind::DeleteTopicsById(ids))
    }

    /// Fetches metadata for `topics` (never creating them).
    pub fn metadata<S: Into<String>>(
        &mut self,
        now: Instant,
        topics: impl IntoIterator<Item = S>,
    ) -> Result<RequestId, Misuse> {
        self.describe_topics(now, topics, false)
    }

    /// [`Admin::metadata`], and with `authorized_operations` each topic
    /// also says what this client may do to it
    /// ([`TopicMetadata::authorized_operations`](crate::TopicMetadata::authorized_operations);
    /// Metadata v8 and later, `None` from older brokers).
    pub fn describe_topics<S: Into<String>>(
        &mut self,
        now: Instant,
        topics: impl IntoIterator<Item = S>,
        authorized_operations: bool,
    ) -> Result<RequestId, Misuse> {
        let names: Vec<String> = topics.into_iter().map(Into::into).collect();
        check_names(names.iter().map(String::as_str))?;
        let topics = names
            .into_iter()
            .map(|n| MetadataRequestTopic::default().with_name(Some(n)))
            .collect();
        self.fetch_metadata(now, Some(topics), authorized_operations)
    }

    /// Fetches the brokers and the controller, no topics: the cheapest
    /// round trip that proves a broker answers. (Metadata v0 cannot ask
    /// for no topics; with it the answer lists them all.)
    pub fn brokers(&mut self, now: Instant) -> Result<RequestId, Misuse> {
        self.fetch_metadata(now, Some(Vec::new()), false)
    }

    /// Fetches metadata for every topic in the cluster.
    pub fn metadata_all(&mut self, now: Instant) -> Result<RequestId, Misuse> {
        self.fetch_metadata(now, None, false)
    }

    fn fetch_metadata(
        &mut self,
        now: Instant,
        topics: Option<Vec<MetadataRequestTopic>>,
        authorized_operations: bool,
    ) -> Result<RequestId, Misuse> {
        let all = topics.is_none();
        // Cleared for versions before 8, which cannot ask.
        let body = MetadataRequest::default()
            .with_allow_auto_topic_creation(false)
            .with_include_topic_authorized_operations(authorized_operations)
            .with_topics(topics);
        self.submit(now, body.into(), AdminKind::Metadata { all })
    }

    /// Lists every group of the cluster (each broker lists the groups it
    /// coordinates).
    pub fn list_groups(&mut self, now: Instant) -> Result<RequestId, Misuse> {
        self.list_groups_matching(now, Vec::new(), Vec::new())
    }

    /// Lists the groups in one of `states` (`Stable`, `Empty`, ...) and of
    /// one of `types` (`classic`, `consumer`, `share`); an empty list
    /// matches any. Brokers that cannot filter are filtered here.
    pub fn list_groups_matching(
        &mut self,
        now: Instant,
        states: Vec<String>,
        types: Vec<String>,
    ) -> Result<RequestId, Misuse> {
        if states.iter().chain(&types).any(String::is_empty) {
            return Err(Misuse::InvalidConfig(
                "a group state or type filter is empty",
            ));
        }
        let (id, deadline, _) = self.start_group_command(now)?;
        let brokers: Vec<i32> = self
            .client
            .metadata
            .cache
            .brokers()
            .map(|(n, _)| n)
            .collect();
        self.client
            .admin
            .groups
            .list(id, deadline, brokers, groups::ListFilter { states, types });
        self.client.pump();
        Ok(id)
    }

    /// Describes groups: state, assignor, members and their partitions.
    pub fn describe_groups<S: Into<String>>(
        &mut self,
        now: Instant,
        groups: impl IntoIterator<Item = S>,
    ) -> Result<RequestId, Misuse> {
        self.per_group(now, groups::GroupOp::Describe, groups)
    }

    /// Deletes groups; only groups without active members can go.
    pub fn delete_groups<S: Into<String>>(
        &mut self,
        now: Instant,
        groups: impl IntoIterator<Item = S>,
    ) -> Result<RequestId, Misuse> {
        self.per_group(now, groups::GroupOp::Delete, groups)
    }

    /// Reads every committed offset of `group`.
    pub fn group_offsets(&mut self, now: Instant, group: &str) -> Result<RequestId, Misuse> {
        self.per_group(now, groups::GroupOp::FetchOffsets, [group])
    }

    /// Describes share groups (KIP-932): state, assignor, members and
    /// their partitions. A group that is not a share group is answered
    /// with its error (`GROUP_ID_NOT_FOUND`, ...).
    pub fn describe_share_groups<S: Into<String>>(
        &mut self,
        now: Instant,
        groups: impl IntoIterator<Item = S>,
    ) -> Result<RequestId, Misuse> {
        self.per_group(now, groups::GroupOp::DescribeShare, groups)
    }

    /// Deletes `group`'s committed offsets of `partitions` (OffsetDelete),
    /// at its coordinator; a group still subscribed to a topic keeps that
    /// topic's offsets (`GROUP_SUBSCRIBED_TO_TOPIC`).
    pub fn delete_group_offsets(
        &mut self,
        now: Instant,
        group: &str,
        partitions: impl IntoIterator<Item = crate::TopicPartition>,
    ) -> Result<RequestId, Misuse> {
        let partitions: BTreeSet<crate::TopicPartition> = partitions.into_iter().collect();
        if partitions.is_empty() {
            return Err(Misuse::InvalidConfig("no partitions given"));
        }
        check_partitions(&partitions)?;
        self.per_group(now, groups::GroupOp::DeleteOffsets(partitions), [group])
    }

    /// Describes transactions by transactional id, each asked of its
    /// transaction coordinator.
    pub fn describe_transactions<S: Into<String>>(
        &mut self,
        now: Instant,
        transactional_ids: impl IntoIterator<Item = S>,
    ) -> Result<RequestId, Misuse> {
        self.per_group(
            now,
            groups::GroupOp::DescribeTransactions,
            transactional_ids,
        )
    }

    /// Lists the reassignments in progress, of `partitions` only if given;
    /// the controller answers.
    pub fn list_partition_reassignments(
        &mut self,
        now: Instant,
        partitions: Option<Vec<crate::TopicPartition>>,
    ) -> Result<RequestId, Misuse> {
        if let Some(p) = &partitions {
            if p.is_empty() {
                return Err(Misuse::InvalidConfig("no partitions given"));
            }
            check_partitions(p)?;
        }
        let op = ops::Op::ListReassignments {
            timeout_ms: millis(self.client.config().request_timeout),
        };
        self.start_ops(now, op, vec![ops::Key::Reassignments(partitions)])
    }

    /// Moves partitions to new replicas (the first is the preferred
    /// leader), or cancels a partition's reassignment with `None`; the
    /// controller answers. Per partition, the outcome.
    pub fn alter_partition_reassignments(
        &mut self,
        now: Instant,
        targets: BTreeMap<crate::TopicPartition, Option<Vec<i32>>>,
    ) -> Result<RequestId, Misuse> {
        if targets.is_empty() {
            return Err(Misuse::InvalidConfig("no partitions given"));
        }
        check_partitions(targets.keys())?;
        for (tp, replicas) in &targets {
            if let Some(reason) = replicas.as_deref().and_then(replicas::replicas_problem) {
                return Err(Misuse::InvalidReassignment {
                    partition: tp.clone(),
                    reason,
                });
            }
        }
        let op = ops::Op::AlterReassignments {
            timeout_ms: millis(self.client.config().request_timeout),
        };
        let keys = targets
            .into_iter()
            .map(|(tp, r)| ops::Key::Reassign(tp, r))
            .collect();
        self.start_ops(now, op, keys)
    }

    /// Elects leaders: the preferred replica, or with
    /// [`ElectionType::Unclean`] any live one for leaderless partitions.
    /// `None` elects for every partition that needs it. Per partition,
    /// the outcome.
    pub fn elect_leaders(
        &mut self,
        now: Instant,
        election: ElectionType,
        partitions: Option<Vec<crate::TopicPartition>>,
    ) -> Result<RequestId, Misuse> {
        let keys = match partitions {
            None => vec![ops::Key::Elect(None)],
            Some(p) => {
                let p: BTreeSet<crate::TopicPartition> = p.into_iter().collect();
                if p.is_empty() {
                    return Err(Misuse::InvalidConfig("no partitions given"));
                }
                check_partitions(&p)?;
                p.into_iter().map(|tp| ops::Key::Elect(Some(tp))).collect()
            }
        };
        let op = ops::Op::ElectLeaders {
            election,
            timeout_ms: millis(self.client.config().request_timeout),
        };
        self.start_ops(now, op, keys)
    }

    /// Describes every broker's log directories and the replicas in them
    /// (of `topics` only, if given), each broker asked on its own.
    pub fn describe_log_dirs(
        &mut self,
        now: Instant,
        topics: Option<Vec<String>>,
    ) -> Result<RequestId, Misuse> {
        if let Some(t) = &topics {
            check_names(t.iter().map(String::as_str))?;
        }
        let op = ops::Op::DescribeLogDirs { topics };
        self.start_ops(now, op, vec![ops::Key::EveryBroker])
    }

    /// The producers each partition's leader keeps state for (ids,
    /// epochs, last sequences, open transactions).
    pub fn describe_producers(
        &mut self,
        now: Instant,
        partitions: impl IntoIterator<Item = crate::TopicPartition>,
    ) -> Result<RequestId, Misuse> {
        let partitions: BTreeSet<crate::TopicPartition> = partitions.into_iter().collect();
        if partitions.is_empty() {
            return Err(Misuse::InvalidConfig("no partitions given"));
        }
        check_partitions(&partitions)?;
        let keys = partitions.into_iter().map(ops::Key::Producers).collect();
        self.start_ops(now, ops::Op::DescribeProducers, keys)
    }

    /// Lists the transactions of every transaction coordinator that
    /// `filter` matches, merged.
    pub fn list_transactions(
        &mut self,
        now: Instant,
        filter: TransactionFilter,
    ) -> Result<RequestId, Misuse> {
        if filter.states.iter().any(String::is_empty) {
            return Err(Misuse::InvalidConfig("a transaction state filter is empty"));
        }
        if filter.producer_ids.iter().any(|&p| p < 0) {
            return Err(Misuse::InvalidConfig("a producer id filter is negative"));
        }
        if filter.min_duration_ms.is_some_and(|d| d < 0) {
            return Err(Misuse::InvalidConfig(
                "a transaction duration filter is negative",
            ));
        }
        if filter.id_pattern.as_deref() == Some("") {
            return Err(Misuse::InvalidConfig("a transactional id pattern is empty"));
        }
        let op = ops::Op::ListTransactions(filter);
        self.start_ops(now, op, vec![ops::Key::EveryBroker])
    }

    /// Finalizes features at new levels (the controller answers); with
    /// `validate_only` it only checks. Per feature, the outcome.
    pub fn update_features(
        &mut self,
        now: Instant,
        updates: impl IntoIterator<Item = FeatureUpdate>,
        validate_only: bool,
    ) -> Result<RequestId, Misuse> {
        let updates: Vec<FeatureUpdate> = updates.into_iter().collect();
        if updates.is_empty() {
            return Err(Misuse::InvalidConfig("no feature updates given"));
        }
        let mut seen = BTreeSet::new();
        for u in &updates {
            let reason = u
                .problem()
                .or_else(|| (!seen.insert(&u.name)).then_some("the feature is named twice"));
            if let Some(reason) = reason {
                return Err(Misuse::InvalidFeatureUpdate {
                    feature: u.name.clone(),
                    reason,
                });
            }
        }
        let op = ops::Op::UpdateFeatures {
            validate_only,
            timeout_ms: millis(self.client.config().request_timeout),
        };
        let keys = updates.into_iter().map(ops::Key::Feature).collect();
        self.start_ops(now, op, keys)
    }

    /// Sets `group`'s committed offsets, as an administrator: the group
    /// must have no active members. Newer versions of the request name
    /// topics by id, so a topic the client's metadata lacks is looked up
    /// first; one the cluster does not have either is answered
    /// UNKNOWN_TOPIC_OR_PARTITION without being sent.
    pub fn alter_group_offsets(
        &mut self,
        now: Instant,
        group: &str,
        offsets: BTreeMap<crate::TopicPartition, i64>,
    ) -> Result<RequestId, Misuse> {
        if offsets.is_empty() {
            return Err(Misuse::InvalidConfig("no offsets to set"));
        }
        if let Some((_, &o)) = offsets.iter().find(|(_, &o)| o < 0) {
            return Err(Misuse::InvalidOffset(o));
        }
        for tp in offsets.keys() {
            check_topic_name(&tp.topic)?;
        }
        self.per_group(now, groups::GroupOp::CommitOffsets(offsets), [group])
    }

    /// Describes the configs of `resources`, each routed on its own: a
    /// broker's configs (and loggers) to that broker, topics to any.
    /// `synonyms` adds every source's value of each config.
    pub fn describe_configs(
        &mut self,
        now: Instant,
        resources: impl IntoIterator<Item = ConfigResource>,
        synonyms: bool,
    ) -> Result<RequestId, Misuse> {
        let resources: Vec<ConfigResource> = resources.into_iter().collect();
        check_resources(resources.iter())?;
        let keys = resources
            .into_iter()
            .map(|r| ops::Key::Resource(r, Vec::new()))
            .collect();
        let op = ops::Op::DescribeConfigs {
            synonyms,
            documentation: false,
        };
        self.start_ops(now, op, keys)
    }

    /// Changes configs incrementally (IncrementalAlterConfigs), each
    /// resource on its own; with `validate_only` the brokers only check.
    pub fn alter_configs(
        &mut self,
        now: Instant,
        changes: impl IntoIterator<Item = (ConfigResource, Vec<AlterConfigOp>)>,
        validate_only: bool,
    ) -> Result<RequestId, Misuse> {
        let changes: Vec<(ConfigResource, Vec<AlterConfigOp>)> = changes.into_iter().collect();
        check_resources(changes.iter().map(|(r, _)| r))?;
        for (_, ops) in &changes {
            if ops.is_empty() {
                return Err(Misuse::InvalidConfig("a config resource has no changes"));
            }
            let mut seen = BTreeSet::new();
            for op in ops {
                let name = match op {
                    AlterConfigOp::Set(n, _)
                    | AlterConfigOp::Delete(n)
                    | AlterConfigOp::Append(n, _)
                    | AlterConfigOp::Subtract(n, _) => n,
                };
                if name.is_empty() {
                    return Err(Misuse::InvalidConfig("a config name is empty"));
                }
                if !seen.insert(name) {
                    return Err(Misuse::InvalidConfig(
                        "a config is changed twice in one resource",
                    ));
                }
            }
        }
        let keys = changes
            .into_iter()
            .map(|(r, ops)| ops::Key::Resource(r, ops))
            .collect();
        self.start_ops(now, ops::Op::AlterConfigs { validate_only }, keys)
    }

    /// Grows topics to new partition counts; the request goes to the
    /// controller. With `validate_only` the controller only checks.
    pub fn create_partitions(
        &mut self,
        now: Instant,
        topics: impl IntoIterator<Item = NewPartitions>,
        validate_only: bool,
    ) -> Result<RequestId, Misuse> {
        let topics: Vec<NewPartitions> = topics.into_iter().collect();
        check_names(topics.iter().map(|t| t.topic.as_str()))?;
        for t in &topics {
            if t.count < 1 {
                return Err(Misuse::InvalidPartitions(t.count));
            }
            if let Some(a) = &t.assignment {
                if a.is_empty() || a.iter().any(|r| r.is_empty() || r.iter().any(|&b| b < 0)) {
                    return Err(Misuse::InvalidConfig(
                        "a partition assignment lists no brokers or a negative broker id",
                    ));
                }
            }
        }
        let op = ops::Op::CreatePartitions {
            validate_only,
            timeout_ms: millis(self.client.config().request_timeout),
        };
        let keys = topics.into_iter().map(ops::Key::Partitions).collect();
        self.start_ops(now, op, keys)
    }

    /// Deletes every record of each partition before its offset (-1: up
    /// to the high watermark), asking each partition's leader.
    pub fn delete_records(
        &mut self,
        now: Instant,
        before: BTreeMap<crate::TopicPartition, i64>,
    ) -> Result<RequestId, Misuse> {
        if before.is_empty() {
            return Err(Misuse::InvalidConfig("no partitions given"));
        }
        for (tp, &offset) in &before {
            check_topic_name(&tp.topic)?;
            if tp.partition < 0 {
                return Err(Misuse::InvalidPartition(tp.clone()));
            }
            if offset < -1 {
                return Err(Misuse::InvalidOffset(offset));
            }
        }
        let op = ops::Op::DeleteRecords {
            timeout_ms: millis(self.client.config().request_timeout),
        };
        let keys = before
            .into_iter()
            .map(|(tp, o)| ops::Key::Records(tp, o))
            .collect();
        self.start_ops(now, op, keys)
    }

    /// Describes the cluster (DescribeCluster): its id, controller and
    /// brokers with their racks, and with `authorized_operations` what
    /// this client may do to it.
    pub fn describe_cluster(
        &mut self,
        now: Instant,
        authorized_operations: bool,
    ) -> Result<RequestId, Misuse> {
        let op = ops::Op::DescribeCluster {
            authorized_operations,
        };
        self.start_ops(now, op, vec![ops::Key::Cluster])
    }

    /// The features a broker supports and those the cluster finalized,
    /// from the ApiVersions answer of `node` (any broker if `None`).
    pub fn describe_features(
        &mut self,
        now: Instant,
        node: Option<i32>,
    ) -> Result<RequestId, Misuse> {
        if node.is_some_and(|n| n < 0) {
            return Err(Misuse::InvalidConfig("a broker id is negative"));
        }
        let op = ops::Op::DescribeFeatures { node };
        self.start_ops(now, op, vec![ops::Key::Cluster])
    }

    /// Creates ACLs; any broker takes them (Kafka forwards to the
    /// controller). Per binding, the outcome.
    pub fn create_acls(
        &mut self,
        now: Instant,
        bindings: impl IntoIterator<Item = AclBinding>,
    ) -> Result<RequestId, Misuse> {
        let bindings: Vec<AclBinding> = bindings.into_iter().collect();
        if bindings.is_empty() {
            return Err(Misuse::InvalidConfig("no ACL bindings given"));
        }
        for b in &bindings {
            if let Some(reason) = b.problem() {
                return Err(Misuse::InvalidAcl {
                    acl: b.to_string(),
                    reason,
                });
            }
        }
        let keys = bindings.into_iter().map(ops::Key::Acl).collect();
        self.start_ops(now, ops::Op::CreateAcls, keys)
    }

    /// The ACLs `filter` matches.
    pub fn describe_acls(
        &mut self,
        now: Instant,
        filter: AclBindingFilter,
    ) -> Result<RequestId, Misuse> {
        check_acl_filter(&filter)?;
        self.start_ops(
            now,
            ops::Op::DescribeAcls,
            vec![ops::Key::AclFilter(filter)],
        )
    }

    /// Deletes every ACL each filter matches. Per filter, the bindings it
    /// matched and whether each was deleted.
    pub fn delete_acls(
        &mut self,
        now: Instant,
        filters: impl IntoIterator<Item = AclBindingFilter>,
    ) -> Result<RequestId, Misuse> {
        let filters: Vec<AclBindingFilter> = filters.into_iter().collect();
        if filters.is_empty() {
            return Err(Misuse::InvalidConfig("no ACL filters given"));
        }
        for f in &filters {
            check_acl_filter(f)?;
        }
        let keys = filters.into_iter().map(ops::Key::AclFilter).collect();
        self.start_ops(now, ops::Op::DeleteAcls, keys)
    }

    /// Describes the SCRAM credentials (mechanisms and iterations, never
    /// secrets) of `users`, or of every user if `users` is empty.
    pub fn describe_user_scram_credentials<S: Into<String>>(
        &mut self,
        now: Instant,
        users: impl IntoIterator<Item = S>,
    ) -> Result<RequestId, Misuse> {
        let users: Vec<String> = users.into_iter().map(Into::into).collect();
        if users.iter().any(String::is_empty) {
            return Err(Misuse::InvalidScramChange {
                user: String::new(),
                reason: "the user name is empty",
            });
        }
        let users = (!users.is_empty()).then_some(users);
        self.start_ops(
            now,
            ops::Op::DescribeScram,
            vec![ops::Key::ScramUsers(users)],
        )
    }

    /// Sets or removes users' SCRAM credentials; any broker takes them
    /// (Kafka forwards to the controller). The salt is drawn from the
    /// client's generator and only the salted password is sent. Per
    /// user, the outcome.
    pub fn alter_user_scram_credentials(
        &mut self,
        now: Instant,
        changes: impl IntoIterator<Item = ScramChange>,
    ) -> Result<RequestId, Misuse> {
        let changes: Vec<ScramChange> = changes.into_iter().collect();
        if changes.is_empty() {
            return Err(Misuse::InvalidConfig("no SCRAM credential changes given"));
        }
        let mut seen = BTreeSet::new();
        for c in &changes {
            let reason = c.problem().or_else(|| {
                (!seen.insert((c.user().to_string(), c.mechanism())))
                    .then_some("the user's mechanism is changed twice")
            });
            if let Some(reason) = reason {
                return Err(Misuse::InvalidScramChange {
                    user: c.user().to_string(),
                    reason,
                });
            }
        }
        // One key per user, in the order first named: Kafka answers per user.
        let mut keys: Vec<(String, Vec<scram::SaltedChange>)> = Vec::new();
        for c in changes {
            let salted = match &c {
                ScramChange::Upsert {
                    mechanism,
                    iterations,
                    password,
                    ..
                } => {
                    let salt = self.client.random_bytes(32);
                    let salted_password = crate::sasl::salted_password(
                        *mechanism == ScramMechanism::Sha512,
                        password,
                        &salt,
                        *iterations,
                    );
                    scram::SaltedChange::Upsert {
                        mechanism: *mechanism,
                        // Checked above to be at most 16384.
                        iterations: i32::try_from(*iterations).unwrap_or(i32::MAX),
                        salt: salt.into(),
                        salted_password: salted_password.into(),
                    }
                }
                ScramChange::Delete { mechanism, .. } => scram::SaltedChange::Delete(*mechanism),
            };
            match keys.iter_mut().find(|(u, _)| u == c.user()) {
                Some((_, list)) => list.push(salted),
                None => keys.push((c.user().to_string(), vec![salted])),
            }
        }
        let keys = keys
            .into_iter()
            .map(|(u, c)| ops::Key::ScramUser(u, c))
            .collect();
        self.start_ops(now, ops::Op::AlterScram, keys)
    }

    /// The client quotas `filter` matches.
    pub fn describe_client_quotas(
        &mut self,
        now: Instant,
        filter: QuotaFilter,
    ) -> Result<RequestId, Misuse> {
        if let Some(reason) = filter.problem() {
            return Err(Misuse::InvalidQuota {
                entity: format!("{filter:?}"),
                reason,
            });
        }
        self.start_ops(
            now,
            ops::Op::DescribeQuotas,
            vec![ops::Key::QuotaFilter(filter)],
        )
    }

    /// Sets or removes client quotas, each entity on its own; with
    /// `validate_only` the broker only checks. Per entity, the outcome.
    pub fn alter_client_quotas(
        &mut self,
        now: Instant,
        changes: impl IntoIterator<Item = (QuotaEntity, Vec<QuotaOp>)>,
        validate_only: bool,
    ) -> Result<RequestId, Misuse> {
        let changes: Vec<(QuotaEntity, Vec<QuotaOp>)> = changes.into_iter().collect();
        if changes.is_empty() {
            return Err(Misuse::InvalidConfig("no quota changes given"));
        }
        let mut seen = BTreeSet::new();
        for (entity, ops) in &changes {
            let reason = quota::problem(entity, ops)
                .or_else(|| (!seen.insert(entity)).then_some("the entity is named twice"));
            if let Some(reason) = reason {
                return Err(Misuse::InvalidQuota {
                    entity: entity.to_string(),
                    reason,
                });
            }
        }
        let keys = changes
            .into_iter()
            .map(|(e, ops)| ops::Key::Quota(e, ops))
            .collect();
        self.start_ops(now, ops::Op::AlterQuotas { validate_only }, keys)
    }

    fn start_ops(
        &mut self,
        now: Instant,
        op: ops::Op,
        keys: Vec<ops::Key>,
    ) -> Result<RequestId, Misuse> {
        let (id, deadline, backoff) = self.start_group_command(now)?;
        self.client
            .admin
            .ops
            .start(id, now, deadline, backoff, op, keys);
        self.client.pump();
        Ok(id)
    }

    fn per_group<S: Into<String>>(
        &mut self,
        now: Instant,
        op: groups::GroupOp,
        groups: impl IntoIterator<Item = S>,
    ) -> Result<RequestId, Misuse> {
        let groups: Vec<String> = groups.into_iter().map(Into::into).collect();
        check_group_ids(&groups)?;
        let (id, deadline, backoff) = self.start_group_command(now)?;
        let refresh = match &op {
            groups::GroupOp::CommitOffsets(offsets) => {
                let cache = &self.client.metadata.cache;
                offsets.keys().any(|tp| cache.topic(&tp.topic).is_none())
            }
            _ => false,
        };
        let groups_machine = &mut self.client.admin.groups;
        groups_machine.per_group(id, now, deadline, backoff, op, groups);
        if refresh {
            groups_machine.look_up_topics_first(id);
        }
        self.client.pump();
        Ok(id)
    }

    fn start_group_command(
        &mut self,
        now: Instant,
    ) -> Result<(RequestId, Instant, std::time::Duration), Misuse> {
        let client = &mut *self.client;
        client.check_usable()?;
        client.tick(now);
        let id = client.requests.next_id();
        let config = client.config();
        Ok((id, now + config.api_timeout, config.retry_backoff))
    }

    fn submit(
        &mut self,
        now: Instant,
        body: RequestBody,
        kind: AdminKind,
    ) -> Result<RequestId, Misuse> {
        let client = &mut *self.client;
        client.check_usable()?;
        client.tick(now);
        let id = client.requests.next_id();
        let deadline = now + client.config().api_timeout;
        client.admin.pending.insert(
            id,
            Pending {
                kind,
                body,
                deadline,
            },
        );
        client.admin.unsent.push_back(id);
        client.pump();
        Ok(id)
    }
}

fn millis(d: std::time::Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// Kafka's topic name rules.
pub(crate) fn check_topic_name(name: &str) -> Result<(), Misuse> {
    let bad = |reason| {
        Err(Misuse::InvalidTopicName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name == "." || name == ".." {
        return bad("'.' and '..' are reserved");
    }
    if name.len() > 249 {
        return bad("longer than 249 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return bad("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

/// Partitions: valid topic names and indexes of 0 or more.
fn check_partitions<'a>(
    partitions: impl IntoIterator<Item = &'a crate::TopicPartition>,
) -> Result<(), Misuse> {
    for tp in partitions {
        check_topic_name(&tp.topic)?;
        if tp.partition < 0 {
            return Err(Misuse::InvalidPartition(tp.clone()));
        }
    }
    Ok(())
}

/// Group ids must be non-empty and unique within one command.
fn check_group_ids(groups: &[String]) -> Result<(), Misuse> {
    if groups.is_empty() {
        return Err(Misuse::InvalidConfig("no groups given"));
    }
    let mut seen = BTreeSet::new();
    for g in groups {
        if g.is_empty() {
            return Err(Misuse::InvalidConfig("a group id is empty"));
        }
        if !seen.insert(g) {
            return Err(Misuse::InvalidConfig("a group is given twice"));
        }
    }
    Ok(())
}

/// Config resources: at least one, each once, valid names.
fn check_resources<'a>(resources: impl Iterator<Item = &'a ConfigResource>) -> Result<(), Misuse> {
    let mut seen = BTreeSet::new();
    for r in resources {
        match r {
            ConfigResource::Topic(t) => check_topic_name(t)?,
            ConfigResource::Group(g) if g.is_empty() => {
                return Err(Misuse::InvalidConfig("a group id is empty"));
            }
            ConfigResource::Broker(n) | ConfigResource::BrokerLogger(n) if *n < 0 => {
                return Err(Misuse::InvalidConfig("a broker id is negative"));
            }
            _ => {}
        }
        if !seen.insert(r) {
            return Err(Misuse::InvalidConfig("a config resource is given twice"));
        }
    }
    if seen.is_empty() {
        return Err(Misuse::InvalidConfig("no config resources given"));
    }
    Ok(())
}

fn check_names<'a>(names: impl Iterator<Item = &'a str>) -> Result<(), Misuse> {
    let mut seen = BTreeSet::new();
    for name in names {
        check_topic_name(name)?;
        if !seen.insert(name) {
            return Err(Misuse::DuplicateTopic(name.to_string()));
        }
    }
    if seen.is_empty() {
        return Err(Misuse::NoTopics);
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub(crate) enum AdminKind {
    CreateTopics,
    DeleteTopics,
    /// The ids asked for, in order.
    DeleteTopicsById(Vec<Uuid>),
    Metadata {
        all: bool,
    },
}

/// A single-request command: sent to any broker, and sent again when
/// the socket it went on closes before the answer, until its deadline. The broker may have carried out the first: a create or
/// delete sent again can come back TOPIC_ALREADY_EXISTS or
/// UNKNOWN_TOPIC_OR_PARTITION, as with the Java client.
#[derive(Debug)]
struct Pending {
    kind: AdminKind,
    body: RequestBody,
    deadline: Instant,
}

/// Admin commands waiting to be sent or answered.
#[derive(Debug, Default)]
pub(crate) struct AdminState {
    pending: BTreeMap<RequestId, Pending>,
    /// Group commands: several requests each, and coordinators to find.
    groups: groups::GroupAdmin,
    /// Commands routed per item to brokers, leaders or the controller.
    ops: ops::OpsAdmin,
    /// Single-request commands to send (again), in order.
    unsent: VecDeque<RequestId>,
}

impl SubMachine for AdminState {
    fn poll_requests(&mut self, ctx: &mut Ctx<'_>) {
        self.groups.poll_requests(ctx);
        self.ops.poll_requests(ctx);
        for id in self.unsent.drain(..) {
            if let Some(p) = self.pending.get(&id) {
                ctx.requests.push(Outbound {
                    id,
                    target: Target::Any,
                    body: p.body.clone(),
                    expires: p.deadline,
                });
            }
        }
    }

    fn handle_response(&mut self, ctx: &mut Ctx<'_>, inbound: Inbound) {
        if self.groups.owns(inbound.id) {
            return self.groups.handle_response(ctx, inbound);
        }
        if self.ops.owns(inbound.id) {
            return self.ops.handle_response(ctx, inbound);
        }
        // A closed socket (a broker going down) is worth another broker;
        // a failed login or TLS handshake, a protocol breach or the
        // client's own close is answered as it is.
        let closed = matches!(
            inbound.result,
            Err(RequestError::Disconnected {
                reason: DisconnectReason::Closed,
                ..
            })
        );
        if closed
            && self
                .pending
                .get(&inbound.id)
                .is_some_and(|p| ctx.now < p.deadline)
        {
            self.unsent.push_back(inbound.id);
            return;
        }
        if let Some((event, changed)) = self.answer(inbound, ctx.metadata) {
            ctx.events.push_back(event);
            match changed {
                Ok(true) => ctx.metadata_changed(),
                Ok(false) => {}
                Err(fatal) => ctx.fail(fatal),
            }
        }
    }

    fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        self.groups.handle_timeout(ctx);
        self.ops.handle_timeout(ctx);
    }

    fn poll_timeout(&self, _now: Instant, _metadata: &MetadataState) -> Option<Instant> {
        // Single-request commands expire in the client's queue
        // (`api_timeout`), which answers them with a timeout; group
        // commands wait out coordinator backoffs and their deadline.
        self.groups
            .poll_timeout()
            .into_iter()
            .chain(self.ops.poll_timeout())
            .min()
    }

    fn shut_down(&mut self, ctx: &mut Ctx<'_>) {
        self.groups.shut_down(ctx);
        self.ops.shut_down(ctx);
        // Those waiting to go again are in no queue that answers them.
        for id in std::mem::take(&mut self.unsent) {
            let closed = Inbound {
                id,
                result: Err(RequestError::Closed),
            };
            if let Some((event, _)) = self.answer(closed, ctx.metadata) {
                ctx.events.push_back(event);
            }
        }
    }
}

impl AdminState {
    /// Turns an answer into the user's event; metadata answers also feed
    /// the cache (`Ok(true)` if it changed).
    fn answer(
        &mut self,
        inbound: Inbound,
        metadata: &mut MetadataState,
    ) -> Option<(Event, Result<bool, crate::FatalError>)> {
        let kind = self.pending.remove(&inbound.id)?.kind;
        let mut changed = Ok(false);
        let result = match (kind, inbound.result) {
            (_, Err(e)) => Err(e),
            (AdminKind::CreateTopics, Ok(ResponseBody::CreateTopics(r))) => {
                Ok(AdminOutcome::CreateTopics(
                    r.topics
                        .into_iter()
                        .map(|t| TopicOutcome {
                            partitions: (t.num_partitions >= 0).then_some(t.num_partitions),
                            replication_factor: (t.replication_factor >= 0)
                                .then_some(t.replication_factor),
                            id: (!t.topic_id.is_zero()).then_some(t.topic_id),
                            ..TopicOutcome::new(
                                t.name,
                                ErrorCode::from_code(t.error_code),
                                t.error_message,
                            )
                        })
                        .collect(),
                ))
            }
            (AdminKind::DeleteTopics, Ok(ResponseBody::DeleteTopics(r))) => {
                Ok(AdminOutcome::DeleteTopics(
                    r.responses
                        .into_iter()
                        .map(|t| {
                            TopicOutcome::new(
                                t.name.unwrap_or_default(),
                                ErrorCode::from_code(t.error_code),
                                t.error_message,
                            )
                        })
                        .collect(),
                ))
            }
            (AdminKind::DeleteTopicsById(ids), Ok(ResponseBody::DeleteTopics(r))) => {
                let mut answers: BTreeMap<Uuid, _> =
                    r.responses.into_iter().map(|t| (t.topic_id, t)).collect();
                Ok(AdminOutcome::DeleteTopicsById(
                    ids.into_iter()
                        .map(|id| match answers.remove(&id) {
                            Some(t) => TopicIdOutcome {
                                id,
                                name: t.name.filter(|n| !n.is_empty()),
                                error: ErrorCode::from_code(t.error_code),
                                message: t.error_message,
                            },
                            // A broker that skips an id: say so rather
                            // than drop it.
                            None => TopicIdOutcome {
                                id,
                                name: None,
                                error: ErrorCode::UnknownServerError,
                                message: Some("the broker did not answer for this topic id".into()),
                            },
                        })
                        .collect(),
                ))
            }
            (AdminKind::Metadata { all }, Ok(ResponseBody::Metadata(r))) => {
                changed = metadata.cache.apply(&r, all);
                Ok(AdminOutcome::Metadata(ClusterMetadata::from_response(&r)))
            }
            // The connection decodes the body of the API it sent.
            (_, Ok(_)) => return None,
        };
        Some((
            Event::AdminResult {
                id: inbound.id,
                result,
            },
            changed,
        ))
    }
}

fn check_acl_filter(filter: &AclBindingFilter) -> Result<(), Misuse> {
    match filter.problem() {
        Some(reason) => Err(Misuse::InvalidAcl {
            acl: filter.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        for ok in ["a", "orders.v1", "A_b-C", &"x".repeat(249)] {
            assert_eq!(check_topic_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", ".", "..", "a b", "ü", "a/b", &"x".repeat(250)] {
            assert!(check_topic_name(bad).is_err(), "{bad}");
        }
    }
}
