//! Admin commands over resources that live on particular brokers:
//! configs, partitions, records, replicas and their log directories,
//! producers, transactions, the cluster and its features; and the
//! cluster-wide security state (ACLs, SCRAM credentials, client quotas),
//! which any broker takes and Kafka forwards to the controller.
//!
//! A command is a list of items (a config resource, a topic, a partition,
//! a broker, the cluster). Each item is routed on its own: a broker's
//! configs and log directories to that broker, a partition's records and
//! producers to its leader, partitions, reassignments, elections and
//! feature updates to the controller, the rest to any broker. A command
//! over every broker (log directories, transaction listings) becomes one
//! item per broker the fresh metadata lists, merged in the outcome. Items bound for the same broker
//! share one request. An item whose answer is a retriable error (or whose
//! request was lost with its connection) is asked again after
//! `retry_backoff`, after fresh metadata when its broker may have moved,
//! until the command's `api_timeout`; every other item keeps its own
//! answer, so one failed topic does not fail the others.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kafka_proto::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_proto::messages::create_acls_request::AclCreation;
use kafka_proto::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_proto::messages::delete_acls_request::DeleteAclsFilter;
use kafka_proto::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use kafka_proto::messages::describe_configs_request::DescribeConfigsResource;
use kafka_proto::messages::describe_user_scram_credentials_request::UserName;
use kafka_proto::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_proto::messages::metadata_request::MetadataRequestTopic;
use kafka_proto::messages::{alter_client_quotas_request, describe_client_quotas_request};
use kafka_proto::messages::{
    alter_partition_reassignments_request, describe_producers_request, elect_leaders_request,
    list_partition_reassignments_request, update_features_request,
};
use kafka_proto::messages::{
    AlterClientQuotasRequest, AlterUserScramCredentialsRequest, ApiVersionsRequest,
    CreateAclsRequest, CreatePartitionsRequest, DeleteAclsRequest, DeleteRecordsRequest,
    DescribeAclsRequest, DescribeClientQuotasRequest, DescribeClusterRequest,
    DescribeConfigsRequest, DescribeUserScramCredentialsRequest, IncrementalAlterConfigsRequest,
    MetadataRequest,
};
use kafka_proto::messages::{
    AlterPartitionReassignmentsRequest, DescribeLogDirsRequest, DescribeProducersRequest,
    ElectLeadersRequest, ListPartitionReassignmentsRequest, ListTransactionsRequest,
    UpdateFeaturesRequest,
};
use kafka_proto::{ErrorCode, RequestBody, ResponseBody};

use crate::error::RequestError;
use crate::machine::Ctx;
use crate::metadata::ClusterMetadata;
use crate::router::{Inbound, Outbound, RequestId, Target};
use crate::{Event, TopicPartition};

use super::acl::{binding_from, AclBinding, AclBindingFilter, AclFilterOutcome, AclOutcome};
use super::features::{FeatureOutcome, FeatureUpdate};
use super::quota::{QuotaEntity, QuotaEntry, QuotaFilter, QuotaMatch, QuotaOp, QuotaOutcome};
use super::replicas::{
    BrokerLogDirs, ElectionType, LogDirDescription, PartitionOutcome, PartitionReassignment,
};
use super::scram::{
    SaltedChange, ScramCredentialInfo, ScramMechanism, UserOutcome, UserScramCredentials,
};
use super::txns::{ProducerState, TransactionFilter, TransactionListing, TransactionListings};
use super::AdminOutcome;

/// Something that has configs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ConfigResource {
    /// A topic's configs; any broker answers.
    Topic(String),
    /// A broker's configs (by node id); that broker answers.
    Broker(i32),
    /// A broker's log4j logger levels; that broker answers.
    BrokerLogger(i32),
    /// The dynamic defaults every broker shares; any broker answers.
    BrokerDefaults,
    /// A consumer group's configs (KIP-848 groups: session and heartbeat
    /// intervals, ...); any broker answers.
    Group(String),
}

impl ConfigResource {
    /// The resource type code of the protocol.
    fn type_code(&self) -> i8 {
        match self {
            Self::Topic(_) => 2,
            Self::Broker(_) | Self::BrokerDefaults => 4,
            Self::BrokerLogger(_) => 8,
            Self::Group(_) => 32,
        }
    }

    /// The resource name of the protocol.
    fn name(&self) -> String {
        match self {
            Self::Topic(t) | Self::Group(t) => t.clone(),
            Self::Broker(n) | Self::BrokerLogger(n) => n.to_string(),
            // The protocol names the cluster-wide defaults by an empty name.
            Self::BrokerDefaults => String::new(),
        }
    }

    /// The broker that must answer, if one must.
    fn node(&self) -> Option<i32> {
        match self {
            Self::Topic(_) | Self::BrokerDefaults | Self::Group(_) => None,
            Self::Broker(n) | Self::BrokerLogger(n) => Some(*n),
        }
    }
}

impl std::fmt::Display for ConfigResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Topic(t) => write!(f, "topic {t}"),
            Self::Broker(n) => write!(f, "broker {n}"),
            Self::BrokerLogger(n) => write!(f, "broker {n} loggers"),
            Self::BrokerDefaults => write!(f, "broker defaults"),
            Self::Group(g) => write!(f, "group {g}"),
        }
    }
}

/// Where a config's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigSource {
    /// Set on the topic.
    DynamicTopic,
    /// Set dynamically for this broker.
    DynamicBroker,
    /// Set dynamically as the default of every broker.
    DynamicDefaultBroker,
    /// From the broker's properties file.
    StaticBroker,
    /// Kafka's default.
    Default,
    /// A logger level set dynamically on this broker.
    DynamicBrokerLogger,
    /// A client metrics subscription's config.
    ClientMetrics,
    /// Set on a group.
    Group,
    /// A code this client does not know (or 0, unknown).
    Unknown(i8),
}

impl ConfigSource {
    fn from_code(code: i8) -> Self {
        match code {
            1 => Self::DynamicTopic,
            2 => Self::DynamicBroker,
            3 => Self::DynamicDefaultBroker,
            4 => Self::StaticBroker,
            5 => Self::Default,
            6 => Self::DynamicBrokerLogger,
            7 => Self::ClientMetrics,
            8 => Self::Group,
            c => Self::Unknown(c),
        }
    }

    /// Kafka's name for it (`DYNAMIC_TOPIC_CONFIG`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::DynamicTopic => "DYNAMIC_TOPIC_CONFIG",
            Self::DynamicBroker => "DYNAMIC_BROKER_CONFIG",
            Self::DynamicDefaultBroker => "DYNAMIC_DEFAULT_BROKER_CONFIG",
            Self::StaticBroker => "STATIC_BROKER_CONFIG",
            Self::Default => "DEFAULT_CONFIG",
            Self::DynamicBrokerLogger => "DYNAMIC_BROKER_LOGGER_CONFIG",
            Self::ClientMetrics => "CLIENT_METRICS_CONFIG",
            Self::Group => "GROUP_CONFIG",
            Self::Unknown(_) => "UNKNOWN",
        }
    }
}

/// One value a config would have from a source, strongest first.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigSynonym {
    /// The name it has at that source (`log.retention.ms` for
    /// `retention.ms`).
    pub name: String,
    /// The value there; `None` if sensitive.
    pub value: Option<String>,
    /// The source.
    pub source: ConfigSource,
}

/// One config of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigEntry {
    /// The name.
    pub name: String,
    /// The value; `None` when it is sensitive (the broker hides it) or
    /// unset.
    pub value: Option<String>,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// Whether the value is Kafka's default.
    pub is_default: bool,
    /// Whether it cannot be changed at run time.
    pub read_only: bool,
    /// Whether it is sensitive (a password): its value is never sent.
    pub sensitive: bool,
    /// The values from every source, when synonyms were asked for.
    pub synonyms: Vec<ConfigSynonym>,
    /// Its documentation, when asked for.
    pub documentation: Option<String>,
}

/// A resource's configs, or why they could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResourceConfigs {
    /// The resource.
    pub resource: ConfigResource,
    /// [`ErrorCode::None`] on success.
    pub error: ErrorCode,
    /// The broker's explanation, if it gave one.
    pub message: Option<String>,
    /// The configs, by name.
    pub entries: Vec<ConfigEntry>,
}

/// One change of [`Admin::alter_configs`](super::Admin::alter_configs).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AlterConfigOp {
    /// Sets a config.
    Set(String, String),
    /// Removes a config (back to its default).
    Delete(String),
    /// Adds values to a list config.
    Append(String, String),
    /// Removes values from a list config.
    Subtract(String, String),
}

impl AlterConfigOp {
    fn name(&self) -> &str {
        match self {
            Self::Set(n, _) | Self::Delete(n) | Self::Append(n, _) | Self::Subtract(n, _) => n,
        }
    }

    fn encode(&self) -> AlterableConfig {
        let (op, value) = match self {
            Self::Set(_, v) => (0, Some(v.clone())),
            Self::Delete(_) => (1, None),
            Self::Append(_, v) => (2, Some(v.clone())),
            Self::Subtract(_, v) => (3, Some(v.clone())),
        };
        AlterableConfig::default()
            .with_name(self.name().to_string())
            .with_config_operation(op)
            .with_value(value)
    }
}

/// The outcome of a change to one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResourceOutcome {
    /// The resource.
    pub resource: ConfigResource,
    /// [`ErrorCode::None`] on success.
    pub error: ErrorCode,
    /// The broker's explanation, if it gave one.
    pub message: Option<String>,
}

/// Partitions to add to a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewPartitions {
    /// The topic.
    pub topic: String,
    /// The new total number of partitions.
    pub count: i32,
    /// The replicas (broker ids) of each new partition, or `None` to let
    /// the controller place them.
    pub assignment: Option<Vec<Vec<i32>>>,
}

impl NewPartitions {
    /// Grows `topic` to `count` partitions, placed by the controller.
    pub fn new(topic: impl Into<String>, count: i32) -> Self {
        Self {
            topic: topic.into(),
            count,
            assignment: None,
        }
    }

    /// Places the new partitions: one list of broker ids per partition.
    pub fn with_assignment(mut self, assignment: Vec<Vec<i32>>) -> Self {
        self.assignment = Some(assignment);
        self
    }
}

/// One broker of [`ClusterDescription`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokerDescription {
    /// Its node id.
    pub node: i32,
    /// Its advertised host.
    pub host: String,
    /// Its advertised port.
    pub port: i32,
    /// Its rack, if configured.
    pub rack: Option<String>,
    /// Whether the controller fenced it.
    pub fenced: bool,
}

/// An operation an ACL can allow (what
/// [`ClusterDescription::authorized_operations`] lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum AclOperation {
    /// Every operation.
    All,
    /// Read.
    Read,
    /// Write.
    Write,
    /// Create.
    Create,
    /// Delete.
    Delete,
    /// Alter.
    Alter,
    /// Describe.
    Describe,
    /// Inter-broker actions.
    ClusterAction,
    /// Describe configs.
    DescribeConfigs,
    /// Alter configs.
    AlterConfigs,
    /// Idempotent produce.
    IdempotentWrite,
    /// Create delegation tokens.
    CreateTokens,
    /// Describe delegation tokens.
    DescribeTokens,
    /// Two-phase commit (KIP-939).
    TwoPhaseCommit,
    /// A code this client does not know.
    Unknown(i8),
}

impl AclOperation {
    const BITS: [(u32, Self); 14] = [
        (2, Self::All),
        (3, Self::Read),
        (4, Self::Write),
        (5, Self::Create),
        (6, Self::Delete),
        (7, Self::Alter),
        (8, Self::Describe),
        (9, Self::ClusterAction),
        (10, Self::DescribeConfigs),
        (11, Self::AlterConfigs),
        (12, Self::IdempotentWrite),
        (13, Self::CreateTokens),
        (14, Self::DescribeTokens),
        (15, Self::TwoPhaseCommit),
    ];

    /// The operations of a bit set (`None` for the "not asked" marker).
    pub(crate) fn from_bits(bits: i32) -> Option<Vec<Self>> {
        if bits == i32::MIN {
            return None;
        }
        Some(
            Self::BITS
                .iter()
                .filter(|(bit, _)| bits & (1 << bit) != 0)
                .map(|&(_, op)| op)
                .collect(),
        )
    }

    /// Kafka's name for it (`DESCRIBE_CONFIGS`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::All => "ALL",
            Self::Read => "READ",
            Self::Write => "WRITE",
            Self::Create => "CREATE",
            Self::Delete => "DELETE",
            Self::Alter => "ALTER",
            Self::Describe => "DESCRIBE",
            Self::ClusterAction => "CLUSTER_ACTION",
            Self::DescribeConfigs => "DESCRIBE_CONFIGS",
            Self::AlterConfigs => "ALTER_CONFIGS",
            Self::IdempotentWrite => "IDEMPOTENT_WRITE",
            Self::CreateTokens => "CREATE_TOKENS",
            Self::DescribeTokens => "DESCRIBE_TOKENS",
            Self::TwoPhaseCommit => "TWO_PHASE_COMMIT",
            Self::Unknown(_) => "UNKNOWN",
        }
    }

    /// The protocol code: the operation's bit in an authorized set.
    pub(crate) fn code(self) -> i8 {
        match self {
            Self::Unknown(c) => c,
            op => Self::BITS
                .iter()
                .find(|(_, o)| *o == op)
                .map_or(0, |&(bit, _)| bit as i8),
        }
    }

    pub(crate) fn from_code(code: i8) -> Self {
        Self::BITS
            .iter()
            .find(|&&(bit, _)| i64::from(bit) == i64::from(code))
            .map_or(Self::Unknown(code), |&(_, op)| op)
    }

    /// Parses Kafka's name, in any case.
    pub fn parse(s: &str) -> Option<Self> {
        Self::BITS
            .iter()
            .map(|&(_, op)| op)
            .find(|op| op.name().eq_ignore_ascii_case(s))
    }
}

/// The cluster as a broker describes it (DescribeCluster).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterDescription {
    /// The cluster id.
    pub cluster_id: String,
    /// The node id of the controller the broker names, if any.
    pub controller: Option<i32>,
    /// The brokers, by node id.
    pub brokers: Vec<BrokerDescription>,
    /// What this client may do to the cluster, when asked for.
    pub authorized_operations: Option<Vec<AclOperation>>,
}

/// A feature a broker can run at, and the levels it supports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SupportedFeature {
    /// Its name (`metadata.version`, `transaction.version`, ...).
    pub name: String,
    /// The lowest level the broker supports.
    pub min_version: i16,
    /// The highest level the broker supports.
    pub max_version: i16,
}

/// A feature the cluster has finalized at a level.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FinalizedFeature {
    /// Its name.
    pub name: String,
    /// The level in force (and the highest the cluster may use).
    pub max_version_level: i16,
    /// The lowest level the cluster may use.
    pub min_version_level: i16,
}

/// The features a broker reports in its ApiVersions answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FeatureDescription {
    /// What the broker supports.
    pub supported: Vec<SupportedFeature>,
    /// What the cluster finalized, as this broker last learned it.
    pub finalized: Vec<FinalizedFeature>,
    /// The epoch of the finalized features (-1 if none).
    pub finalized_epoch: i64,
}

/// What one command does.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    DescribeConfigs {
        synonyms: bool,
        documentation: bool,
    },
    AlterConfigs {
        validate_only: bool,
    },
    CreatePartitions {
        validate_only: bool,
        timeout_ms: i32,
    },
    DeleteRecords {
        timeout_ms: i32,
    },
    DescribeCluster {
        authorized_operations: bool,
    },
    DescribeFeatures {
        node: Option<i32>,
    },
    CreateAcls,
    DescribeAcls,
    DeleteAcls,
    DescribeScram,
    AlterScram,
    DescribeQuotas,
    AlterQuotas {
        validate_only: bool,
    },
    ListReassignments {
        timeout_ms: i32,
    },
    AlterReassignments {
        timeout_ms: i32,
    },
    ElectLeaders {
        election: ElectionType,
        timeout_ms: i32,
    },
    DescribeLogDirs {
        /// Only these topics' replicas (`None`: every replica).
        topics: Option<Vec<String>>,
    },
    DescribeProducers,
    ListTransactions(TransactionFilter),
    UpdateFeatures {
        validate_only: bool,
        timeout_ms: i32,
    },
}

/// One thing a command asks about, with what it needs to ask.
#[derive(Debug, Clone)]
pub(crate) enum Key {
    /// A config resource (and the changes to it, if altering).
    Resource(ConfigResource, Vec<AlterConfigOp>),
    Partitions(NewPartitions),
    /// Delete the records of a partition before an offset.
    Records(TopicPartition, i64),
    /// The cluster as a whole.
    Cluster,
    /// An ACL to create.
    Acl(AclBinding),
    /// ACLs to describe or delete.
    AclFilter(AclBindingFilter),
    /// The users whose SCRAM credentials to describe (`None`: all).
    ScramUsers(Option<Vec<String>>),
    /// A user's SCRAM credential changes.
    ScramUser(String, Vec<SaltedChange>),
    QuotaFilter(QuotaFilter),
    Quota(QuotaEntity, Vec<QuotaOp>),
    /// The reassignments to list (`None`: every one in progress).
    Reassignments(Option<Vec<TopicPartition>>),
    /// A partition's new replicas (`None`: cancel its reassignment).
    Reassign(TopicPartition, Option<Vec<i32>>),
    /// A partition to elect a leader for (`None`: every partition that
    /// needs one).
    Elect(Option<TopicPartition>),
    /// Every broker the metadata lists: one `Broker` item each once the
    /// metadata is in.
    EveryBroker,
    /// One broker.
    Broker(i32),
    /// The producers of a partition, asked of its leader.
    Producers(TopicPartition),
    /// A feature to finalize at a level.
    Feature(FeatureUpdate),
}

/// An item's final answer.
#[derive(Debug, Clone)]
enum Answer {
    Configs(ResourceConfigs),
    Code(ErrorCode, Option<String>),
    LowWatermark(i64),
    Cluster(ClusterDescription),
    Features(FeatureDescription),
    Acls(Vec<AclBinding>),
    AclsDeleted(Vec<AclOutcome>),
    Scram(Vec<UserScramCredentials>),
    Quotas(Vec<QuotaEntry>),
    Reassignments(BTreeMap<TopicPartition, PartitionReassignment>),
    /// Every partition an election over all of them touched.
    Elections(Vec<PartitionOutcome>),
    LogDirs(Vec<LogDirDescription>),
    Producers(Vec<ProducerState>),
    Transactions(Vec<TransactionListing>, Vec<String>),
}

#[derive(Debug)]
struct Item {
    key: Key,
    in_flight: Option<RequestId>,
    not_before: Instant,
    done: Option<Answer>,
    /// The retriable error of the last try: the item's answer if time
    /// runs out before a better one.
    last_error: Option<ErrorCode>,
}

#[derive(Debug)]
struct Job {
    op: Op,
    items: Vec<Item>,
    deadline: Instant,
    backoff: Duration,
    /// Leaders (or the controller) must be learned before items go.
    needs_metadata: bool,
    metadata_in_flight: Option<RequestId>,
    /// Not before this (after a failed metadata request).
    metadata_not_before: Instant,
    failure: Option<RequestError>,
}

/// The broker-routed commands in progress.
#[derive(Debug, Default)]
pub(crate) struct OpsAdmin {
    jobs: BTreeMap<RequestId, Job>,
    /// Request id to (command id, the items it carries; empty for a
    /// metadata request).
    subs: BTreeMap<RequestId, (RequestId, Vec<usize>)>,
}

/// What to do with an item after an answer.
enum Step {
    Done(Answer),
    /// Again after the backoff; `true` when fresh metadata comes first.
    Retry(ErrorCode, bool),
}

impl OpsAdmin {
    pub(crate) fn start(
        &mut self,
        id: RequestId,
        now: Instant,
        deadline: Instant,
        backoff: Duration,
        op: Op,
        keys: Vec<Key>,
    ) {
        // Leaders come from fresh metadata: the cache may not know the
        // topics, or know them from before a move.
        // Brokers, leaders and the controller come from fresh metadata
        // too.
        let needs_metadata = leader_routed(&op);
        let items = keys
            .into_iter()
            .map(|key| Item {
                key,
                in_flight: None,
                not_before: now,
                done: None,
                last_error: None,
            })
            .collect();
        self.jobs.insert(
            id,
            Job {
                op,
                items,
                deadline,
                backoff,
                needs_metadata,
                metadata_in_flight: None,
                metadata_not_before: now,
                failure: None,
            },
        );
    }

    pub(crate) fn owns(&self, id: RequestId) -> bool {
        self.subs.contains_key(&id)
    }

    pub(crate) fn poll_requests(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        for (&cmd, job) in &mut self.jobs {
            // Out of time: nothing new goes; `finish` answers once what is
            // in flight is back.
            if now >= job.deadline {
                continue;
            }
            if job.needs_metadata {
                if job.metadata_in_flight.is_none() && job.metadata_not_before <= now {
                    let id = ctx.requests.next_id();
                    ctx.requests.push(Outbound {
                        id,
                        target: Target::Any,
                        body: job.metadata_request(),
                        expires: job.deadline,
                    });
                    job.metadata_in_flight = Some(id);
                    self.subs.insert(id, (cmd, Vec::new()));
                }
                continue;
            }
            job.expand_brokers(&ctx.metadata.cache, now);
            let mut batches: BTreeMap<Route, Vec<usize>> = BTreeMap::new();
            let mut refresh = false;
            for (i, item) in job.items.iter_mut().enumerate() {
                if item.done.is_some() || item.in_flight.is_some() || item.not_before > now {
                    continue;
                }
                match route(&job.op, &item.key, &ctx.metadata.cache) {
                    Ok(r) => batches.entry(r).or_default().push(i),
                    // No leader yet (an election, a topic being created):
                    // ask the metadata again after the backoff.
                    Err(code) => match step(code, None, || Answer::Code(code, None)) {
                        Step::Done(a) => item.done = Some(a),
                        Step::Retry(code, _) => {
                            item.last_error = Some(code);
                            item.not_before = now + job.backoff;
                            refresh = true;
                        }
                    },
                }
            }
            if refresh {
                job.needs_metadata = true;
                job.metadata_not_before = now + job.backoff;
                continue;
            }
            for (route, idx) in batches {
                let id = ctx.requests.next_id();
                let keys: Vec<&Key> = idx.iter().map(|&i| &job.items[i].key).collect();
                let body = request(&job.op, &keys);
                ctx.requests.push(Outbound {
                    id,
                    target: match route {
                        Route::Any => Target::Any,
                        Route::Node(n) => Target::Node(n),
                    },
                    body,
                    expires: job.deadline,
                });
                for &i in &idx {
                    job.items[i].in_flight = Some(id);
                }
                self.subs.insert(id, (cmd, idx));
            }
        }
        // Items may have got their answer here (no leader, no topic).
        self.finish(ctx);
    }

    pub(crate) fn handle_response(&mut self, ctx: &mut Ctx<'_>, inbound: Inbound) {
        let Some((cmd, idx)) = self.subs.remove(&inbound.id) else {
            return;
        };
        let Some(job) = self.jobs.get_mut(&cmd) else {
            return;
        };
        let retry_at = ctx.now + job.backoff;
        if idx.is_empty() {
            job.metadata_in_flight = None;
            match inbound.result {
                Ok(ResponseBody::Metadata(r)) => {
                    match ctx.metadata.cache.apply(&r, false) {
                        Ok(true) => ctx.metadata_changed(),
                        Ok(false) => {}
                        Err(fatal) => ctx.fail(fatal),
                    }
                    job.needs_metadata = false;
                }
                Ok(_) => job.metadata_not_before = retry_at,
                Err(e) => {
                    job.metadata_not_before = retry_at;
                    job.failure = Some(e);
                }
            }
        } else {
            match inbound.result {
                // No broker will ever take it: the command fails as a whole.
                Err(e @ (RequestError::Unsupported(_) | RequestError::Encode(_))) => {
                    job.failure = Some(e);
                    for &i in &idx {
                        job.items[i].in_flight = None;
                        job.items[i].not_before = job.deadline;
                    }
                    job.deadline = ctx.now;
                }
                Err(e) => {
                    job.failure = Some(e);
                    for &i in &idx {
                        job.items[i].in_flight = None;
                        job.items[i].not_before = retry_at;
                    }
                    if leader_routed(&job.op) {
                        job.needs_metadata = true;
                    }
                }
                Ok(body) => {
                    let keys: Vec<Key> = idx.iter().map(|&i| job.items[i].key.clone()).collect();
                    let steps = answer(&job.op, &keys, body);
                    for (&i, step) in idx.iter().zip(steps) {
                        let item = &mut job.items[i];
                        item.in_flight = None;
                        match step {
                            Step::Done(a) => item.done = Some(a),
                            Step::Retry(code, refresh) => {
                                item.last_error = Some(code);
                                if ctx.now >= job.deadline {
                                    item.done = Some(Answer::Code(code, None));
                                } else {
                                    item.not_before = retry_at;
                                    job.needs_metadata |= refresh;
                                }
                            }
                        }
                    }
                }
            }
        }
        self.finish(ctx);
    }

    /// Answers the commands that are complete or out of time.
    fn finish(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        let complete: Vec<RequestId> = self
            .jobs
            .iter()
            .filter(|(_, job)| job.complete(now))
            .map(|(id, _)| *id)
            .collect();
        for id in complete {
            let Some(job) = self.jobs.remove(&id) else {
                continue;
            };
            self.subs.retain(|_, (cmd, _)| *cmd != id);
            ctx.events.push_back(Event::AdminResult {
                id,
                result: job.outcome(),
            });
        }
    }

    pub(crate) fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        self.finish(ctx);
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.jobs
            .values()
            .flat_map(|job| {
                // Items wait for the metadata first, then for their own
                // backoff; a wait already over is only reported when
                // nothing else is in flight to wake the machine.
                let waits = if job.needs_metadata {
                    job.metadata_in_flight
                        .is_none()
                        .then_some(job.metadata_not_before)
                } else {
                    job.items
                        .iter()
                        .filter(|t| t.done.is_none() && t.in_flight.is_none())
                        .map(|t| t.not_before)
                        .min()
                };
                // Past the deadline, the answers (or the client's own
                // request timeout) of what is in flight end the command.
                let in_flight = job.metadata_in_flight.is_some()
                    || job.items.iter().any(|t| t.in_flight.is_some());
                let waits = waits.filter(|&w| w < job.deadline);
                let deadline = (!in_flight).then_some(job.deadline);
                waits.into_iter().chain(deadline)
            })
            .min()
    }

    pub(crate) fn shut_down(&mut self, ctx: &mut Ctx<'_>) {
        for (id, _) in std::mem::take(&mut self.jobs) {
            ctx.events.push_back(Event::AdminResult {
                id,
                result: Err(RequestError::Closed),
            });
        }
        self.subs.clear();
    }
}

/// Where a batch of items goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Route {
    Any,
    Node(i32),
}

/// Whether the op's items go to a leader or the controller, which a
/// lost connection may mean has moved.
fn leader_routed(op: &Op) -> bool {
    matches!(
        op,
        Op::DeleteRecords { .. }
            | Op::CreatePartitions { .. }
            | Op::ListReassignments { .. }
            | Op::AlterReassignments { .. }
            | Op::ElectLeaders { .. }
            | Op::DescribeLogDirs { .. }
            | Op::DescribeProducers
            | Op::ListTransactions(_)
            | Op::UpdateFeatures { .. }
    )
}

fn route(op: &Op, key: &Key, cache: &ClusterMetadata) -> Result<Route, ErrorCode> {
    Ok(match (op, key) {
        (_, Key::Resource(r, _)) => match r.node() {
            Some(n) => known_broker(cache, n)?,
            None => Route::Any,
        },
        (Op::DescribeFeatures { node: Some(n) }, _) => known_broker(cache, *n)?,
        // Brokers forward to the controller they know; the one the
        // metadata names saves the hop.
        (
            _,
            Key::Partitions(_)
            | Key::Reassignments(_)
            | Key::Reassign(..)
            | Key::Elect(_)
            | Key::Feature(_),
        ) => cache.controller().map_or(Route::Any, Route::Node),
        (_, Key::Broker(n)) => known_broker(cache, *n)?,
        (_, Key::Records(tp, _) | Key::Producers(tp)) => {
            let topic = cache
                .topic(&tp.topic)
                .ok_or(ErrorCode::UnknownTopicOrPartition)?;
            if topic.error.is_error() {
                return Err(topic.error);
            }
            let partition = cache
                .partition(&tp.topic, tp.partition)
                .ok_or(ErrorCode::UnknownTopicOrPartition)?;
            partition
                .leader
                .map(Route::Node)
                .ok_or(ErrorCode::LeaderNotAvailable)?
        }
        _ => Route::Any,
    })
}

/// A broker the metadata lists (a client that has not learned any yet
/// tries anyway).
fn known_broker(cache: &ClusterMetadata, node: i32) -> Result<Route, ErrorCode> {
    if cache.broker(node).is_none() && cache.brokers().next().is_some() {
        return Err(ErrorCode::BrokerNotAvailable);
    }
    Ok(Route::Node(node))
}

impl Job {
    fn metadata_request(&self) -> RequestBody {
        let topics: BTreeSet<&str> = self
            .items
            .iter()
            .filter_map(|t| match &t.key {
                Key::Records(tp, _) | Key::Producers(tp) => Some(tp.topic.as_str()),
                Key::Partitions(p) => Some(p.topic.as_str()),
                _ => None,
            })
            .collect();
        MetadataRequest::default()
            .with_allow_auto_topic_creation(false)
            .with_topics(Some(
                topics
                    .into_iter()
                    .map(|t| MetadataRequestTopic::default().with_name(Some(t.to_string())))
                    .collect(),
            ))
            .into()
    }

    /// Replaces an every-broker item by one item per broker the
    /// metadata lists (an answer of its own if it lists none).
    fn expand_brokers(&mut self, cache: &ClusterMetadata, now: Instant) {
        let Some(at) = self
            .items
            .iter()
            .position(|t| matches!(t.key, Key::EveryBroker))
        else {
            return;
        };
        let brokers: Vec<i32> = cache.brokers().map(|(n, _)| n).collect();
        if brokers.is_empty() {
            self.items[at].done = Some(Answer::Code(ErrorCode::BrokerNotAvailable, None));
            return;
        }
        self.items.remove(at);
        self.items.extend(brokers.into_iter().map(|n| Item {
            key: Key::Broker(n),
            in_flight: None,
            not_before: now,
            done: None,
            last_error: None,
        }));
    }

    fn complete(&self, now: Instant) -> bool {
        self.items.iter().all(|t| t.done.is_some())
            || (now >= self.deadline
                && self.metadata_in_flight.is_none()
                && self.items.iter().all(|t| t.in_flight.is_none()))
    }

    fn outcome(self) -> Result<AdminOutcome, RequestError> {
        // No item got any answer from a broker: the transport's failure
        // says more than a timeout code per item.
        if self
            .items
            .iter()
            .all(|t| t.done.is_none() && t.last_error.is_none())
        {
            return Err(self.failure.unwrap_or(RequestError::Timeout));
        }
        let items: Vec<(Key, Answer)> = self
            .items
            .into_iter()
            .map(|t| {
                let timed_out = t.last_error.unwrap_or(ErrorCode::RequestTimedOut);
                (t.key, t.done.unwrap_or(Answer::Code(timed_out, None)))
            })
            .collect();
        Ok(match self.op {
            Op::DescribeConfigs { .. } => AdminOutcome::DescribeConfigs(
                items
                    .into_iter()
                    .filter_map(|(key, a)| {
                        let Key::Resource(resource, _) = key else {
                            return None;
                        };
                        Some(match a {
                            Answer::Configs(c) => c,
                            Answer::Code(error, message) => ResourceConfigs {
                                resource,
                                error,
                                message,
                                entries: Vec::new(),
                            },
                            _ => return None,
                        })
                    })
                    .collect(),
            ),
            Op::AlterConfigs { .. } => AdminOutcome::AlterConfigs(
                items
                    .into_iter()
                    .filter_map(|(key, a)| match (key, a) {
                        (Key::Resource(resource, _), Answer::Code(error, message)) => {
                            Some(ResourceOutcome {
                                resource,
                                error,
                                message,
                            })
                        }
                        _ => None,
                    })
                    .collect(),
            ),
            Op::CreatePartitions { .. } => AdminOutcome::CreatePartitions(
                items
                    .into_iter()
                    .filter_map(|(key, a)| match (key, a) {
                        (Key::Partitions(p), Answer::Code(error, message)) => {
                            Some(super::TopicOutcome::new(p.topic, error, message))
                        }
                        _ => None,
                    })
                    .collect(),
            ),
            Op::DeleteRecords { .. } => AdminOutcome::DeleteRecords(
                items
                    .into_iter()
                    .filter_map(|(key, a)| match (key, a) {
                        (Key::Records(tp, _), Answer::LowWatermark(w)) => Some((tp, Ok(w))),
                        (Key::Records(tp, _), Answer::Code(code, _)) => Some((tp, Err(code))),
                        _ => None,
                    })
                    .collect(),
            ),
            Op::CreateAcls => AdminOutcome::CreateAcls(
                items
                    .into_iter()
                    .filter_map(|(key, a)| match (key, a) {
                        (Key::Acl(binding), Answer::Code(error, message)) => Some(AclOutcome {
                            binding,
                            error,
                            message,
                        }),
                        _ => None,
                    })
                    .collect(),
            ),
            Op::DeleteAcls => AdminOutcome::DeleteAcls(
                items
                    .into_iter()
                    .filter_map(|(key, a)| {
                        let Key::AclFilter(filter) = key else {
                            return None;
                        };
                        Some(match a {
                            Answer::AclsDeleted(deleted) => AclFilterOutcome {
                                filter,
                                error: ErrorCode::None,
                                message: None,
                                deleted,
                            },
                            Answer::Code(error, message) => AclFilterOutcome {
                                filter,
                                error,
                                message,
                                deleted: Vec::new(),
                            },
                            _ => return None,
                        })
                    })
                    .collect(),
            ),
            Op::AlterScram => AdminOutcome::AlterUserScramCredentials(
                items
                    .into_iter()
                    .filter_map(|(key, a)| match (key, a) {
                        (Key::ScramUser(user, _), Answer::Code(error, message)) => {
                            Some(UserOutcome {
                                user,
                                error,
                                message,
                            })
                        }
                        _ => None,
                    })
                    .collect(),
            ),
            Op::AlterQuotas { .. } => AdminOutcome::AlterClientQuotas(
                items
                    .into_iter()
                    .filter_map(|(key, a)| match (key, a) {
                        (Key::Quota(entity, _), Answer::Code(error, message)) => {
                            Some(QuotaOutcome {
                                entity,
                                error,
                                message,
                            })
                        }
                        _ => None,
                    })
                    .collect(),
            ),
            Op::ListReassignments { .. } => match items.into_iter().next().map(|(_, a)| a) {
                Some(Answer::Reassignments(r)) => AdminOutcome::ListPartitionReassignments(r),
                Some(Answer::Code(code, message)) => AdminOutcome::Refused { code, message },
                _ => return Err(RequestError::Timeout),
            },
            Op::AlterReassignments { .. } => AdminOutcome::AlterPartitionReassignments(
                items
                    .into_iter()
                    .filter_map(|(key, a)| match (key, a) {
                        (Key::Reassign(partition, _), Answer::Code(error, message)) => {
                            Some(PartitionOutcome {
                                partition,
                                error,
                                message,
                            })
                        }
                        _ => None,
                    })
                    .collect(),
            ),
            Op::ElectLeaders { .. } => {
                let mut out = Vec::new();
                for (key, a) in items {
                    match (key, a) {
                        (Key::Elect(Some(partition)), Answer::Code(error, message)) => {
                            out.push(PartitionOutcome {
                                partition,
                                error,
                                message,
                            })
                        }
                        (Key::Elect(None), Answer::Elections(e)) => out.extend(e),
                        (Key::Elect(None), Answer::Code(code, message)) => {
                            return Ok(AdminOutcome::Refused { code, message })
                        }
                        _ => {}
                    }
                }
                AdminOutcome::ElectLeaders(out)
            }
            Op::DescribeLogDirs { .. } => {
                let mut out = Vec::new();
                for (key, a) in items {
                    match (key, a) {
                        (Key::Broker(node), Answer::LogDirs(dirs)) => out.push(BrokerLogDirs {
                            node,
                            error: ErrorCode::None,
                            dirs,
                        }),
                        (Key::Broker(node), Answer::Code(error, _)) => out.push(BrokerLogDirs {
                            node,
                            error,
                            dirs: Vec::new(),
                        }),
                        (Key::EveryBroker, Answer::Code(code, message)) => {
                            return Ok(AdminOutcome::Refused { code, message })
                        }
                        _ => {}
                    }
                }
                out.sort_by_key(|b| b.node);
                AdminOutcome::DescribeLogDirs(out)
            }
            Op::DescribeProducers => AdminOutcome::DescribeProducers(
                items
                    .into_iter()
                    .filter_map(|(key, a)| match (key, a) {
                        (Key::Producers(tp), Answer::Producers(p)) => Some((tp, Ok(p))),
                        (Key::Producers(tp), Answer::Code(code, _)) => Some((tp, Err(code))),
                        _ => None,
                    })
                    .collect(),
            ),
            Op::ListTransactions(_) => {
                let mut out = TransactionListings::default();
                for (key, a) in items {
                    match (key, a) {
                        (Key::Broker(_), Answer::Transactions(t, unknown)) => {
                            out.transactions.extend(t);
                            out.unknown_states.extend(unknown);
                        }
                        (Key::Broker(node), Answer::Code(code, _)) => out.errors.push((node, code)),
                        (Key::EveryBroker, Answer::Code(code, message)) => {
                            return Ok(AdminOutcome::Refused { code, message })
                        }
                        _ => {}
                    }
                }
                out.transactions.sort_by(|a, b| {
                    (&a.transactional_id, a.coordinator).cmp(&(&b.transactional_id, b.coordinator))
                });
                out.unknown_states.sort();
                out.unknown_states.dedup();
                AdminOutcome::ListTransactions(out)
            }
            Op::UpdateFeatures { .. } => AdminOutcome::UpdateFeatures(
                items
                    .into_iter()
                    .filter_map(|(key, a)| match (key, a) {
                        (Key::Feature(f), Answer::Code(error, message)) => Some(FeatureOutcome {
                            name: f.name,
                            error,
                            message,
                        }),
                        _ => None,
                    })
                    .collect(),
            ),
            Op::DescribeQuotas
            | Op::DescribeScram
            | Op::DescribeAcls
            | Op::DescribeCluster { .. }
            | Op::DescribeFeatures { .. } => match items.into_iter().next().map(|(_, a)| a) {
                Some(Answer::Cluster(c)) => AdminOutcome::DescribeCluster(c),
                Some(Answer::Features(f)) => AdminOutcome::DescribeFeatures(f),
                Some(Answer::Acls(a)) => AdminOutcome::DescribeAcls(a),
                Some(Answer::Scram(u)) => AdminOutcome::DescribeUserScramCredentials(u),
                Some(Answer::Quotas(q)) => AdminOutcome::DescribeClientQuotas(q),
                Some(Answer::Code(code, message)) => AdminOutcome::Refused { code, message },
                _ => return Err(RequestError::Timeout),
            },
        })
    }
}

/// One request carrying `keys`.
fn request(op: &Op, keys: &[&Key]) -> RequestBody {
    match op {
        Op::DescribeConfigs {
            synonyms,
            documentation,
        } => DescribeConfigsRequest::default()
            .with_include_synonyms(*synonyms)
            .with_include_documentation(*documentation)
            .with_resources(
                keys.iter()
                    .filter_map(|k| match k {
                        Key::Resource(r, _) => Some(
                            DescribeConfigsResource::default()
                                .with_resource_type(r.type_code())
                                .with_resource_name(r.name())
                                .with_configuration_keys(None),
                        ),
                        _ => None,
                    })
                    .collect(),
            )
            .into(),
        Op::AlterConfigs { validate_only } => IncrementalAlterConfigsRequest::default()
            .with_validate_only(*validate_only)
            .with_resources(
                keys.iter()
                    .filter_map(|k| match k {
                        Key::Resource(r, ops) => Some(
                            AlterConfigsResource::default()
                                .with_resource_type(r.type_code())
                                .with_resource_name(r.name())
                                .with_configs(ops.iter().map(AlterConfigOp::encode).collect()),
                        ),
                        _ => None,
                    })
                    .collect(),
            )
            .into(),
        Op::CreatePartitions {
            validate_only,
            timeout_ms,
        } => CreatePartitionsRequest::default()
            .with_validate_only(*validate_only)
            .with_timeout_ms(*timeout_ms)
            .with_topics(
                keys.iter()
                    .filter_map(|k| match k {
                        Key::Partitions(p) => Some(
                            CreatePartitionsTopic::default()
                                .with_name(p.topic.clone())
                                .with_count(p.count)
                                .with_assignments(p.assignment.as_ref().map(|a| {
                                    a.iter()
                                        .map(|ids| {
                                            CreatePartitionsAssignment::default()
                                                .with_broker_ids(ids.clone())
                                        })
                                        .collect()
                                })),
                        ),
                        _ => None,
                    })
                    .collect(),
            )
            .into(),
        Op::DeleteRecords { timeout_ms } => {
            let mut topics: BTreeMap<&str, Vec<DeleteRecordsPartition>> = BTreeMap::new();
            for k in keys {
                if let Key::Records(tp, offset) = k {
                    topics.entry(&tp.topic).or_default().push(
                        DeleteRecordsPartition::default()
                            .with_partition_index(tp.partition)
                            .with_offset(*offset),
                    );
                }
            }
            DeleteRecordsRequest::default()
                .with_timeout_ms(*timeout_ms)
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(t, p)| {
                            DeleteRecordsTopic::default()
                                .with_name(t.to_string())
                                .with_partitions(p)
                        })
                        .collect(),
                )
                .into()
        }
        Op::DescribeCluster {
            authorized_operations,
        } => DescribeClusterRequest::default()
            .with_include_cluster_authorized_operations(*authorized_operations)
            .with_endpoint_type(1)
            .into(),
        Op::CreateAcls => CreateAclsRequest::default()
            .with_creations(
                keys.iter()
                    .filter_map(|k| match k {
                        Key::Acl(b) => Some(
                            AclCreation::default()
                                .with_resource_type(b.resource_type.code())
                                .with_resource_name(b.resource_name.clone())
                                .with_resource_pattern_type(b.pattern_type.code())
                                .with_principal(b.principal.clone())
                                .with_host(b.host.clone())
                                .with_operation(b.operation.code())
                                .with_permission_type(b.permission.code()),
                        ),
                        _ => None,
                    })
                    .collect(),
            )
            .into(),
        Op::DescribeAcls => {
            // One filter per command: the request carries only one.
            let filter = keys
                .iter()
                .find_map(|k| match k {
                    Key::AclFilter(f) => Some(f.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            let (resource_type, pattern_type, operation, permission) = filter.codes();
            DescribeAclsRequest::default()
                .with_resource_type_filter(resource_type)
                .with_resource_name_filter(filter.resource_name)
                .with_pattern_type_filter(pattern_type)
                .with_principal_filter(filter.principal)
                .with_host_filter(filter.host)
                .with_operation(operation)
                .with_permission_type(permission)
                .into()
        }
        Op::DeleteAcls => DeleteAclsRequest::default()
            .with_filters(
                keys.iter()
                    .filter_map(|k| match k {
                        Key::AclFilter(f) => {
                            let (resource_type, pattern_type, operation, permission) = f.codes();
                            Some(
                                DeleteAclsFilter::default()
                                    .with_resource_type_filter(resource_type)
                                    .with_resource_name_filter(f.resource_name.clone())
                                    .with_pattern_type_filter(pattern_type)
                                    .with_principal_filter(f.principal.clone())
                                    .with_host_filter(f.host.clone())
                                    .with_operation(operation)
                                    .with_permission_type(permission),
                            )
                        }
                        _ => None,
                    })
                    .collect(),
            )
            .into(),
        Op::DescribeQuotas => {
            let filter = keys
                .iter()
                .find_map(|k| match k {
                    Key::QuotaFilter(f) => Some(f.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            DescribeClientQuotasRequest::default()
                .with_strict(filter.strict)
                .with_components(
                    filter
                        .components
                        .into_iter()
                        .map(|(t, m)| {
                            let (match_type, name) = match m {
                                QuotaMatch::Exact(n) => (0, Some(n)),
                                QuotaMatch::Default => (1, None),
                                QuotaMatch::Any => (2, None),
                            };
                            describe_client_quotas_request::ComponentData::default()
                                .with_entity_type(t)
                                .with_match_type(match_type)
                                .with_match(name)
                        })
                        .collect(),
                )
                .into()
        }
        Op::AlterQuotas { validate_only } => AlterClientQuotasRequest::default()
            .with_validate_only(*validate_only)
            .with_entries(
                keys.iter()
                    .filter_map(|k| match k {
                        Key::Quota(entity, ops) => Some(
                            alter_client_quotas_request::EntryData::default()
                                .with_entity(
                                    entity
                                        .components
                                        .iter()
                                        .map(|(t, n)| {
                                            alter_client_quotas_request::EntityData::default()
                                                .with_entity_type(t.clone())
                                                .with_entity_name(n.clone())
                                        })
                                        .collect(),
                                )
                                .with_ops(
                                    ops.iter()
                                        .map(|op| {
                                            let (value, remove) = match op {
                                                QuotaOp::Set(_, v) => (*v, false),
                                                QuotaOp::Remove(_) => (0.0, true),
                                            };
                                            alter_client_quotas_request::OpData::default()
                                                .with_key(op.key().to_string())
                                                .with_value(value)
                                                .with_remove(remove)
                                        })
                                        .collect(),
                                ),
                        ),
                        _ => None,
                    })
                    .collect(),
            )
            .into(),
        Op::DescribeScram => {
            let users = keys.iter().find_map(|k| match k {
                Key::ScramUsers(u) => u.clone(),
                _ => None,
            });
            DescribeUserScramCredentialsRequest::default()
                .with_users(users.map(|u| {
                    u.into_iter()
                        .map(|name| UserName::default().with_name(name))
                        .collect()
                }))
                .into()
        }
        Op::AlterScram => {
            let mut deletions = Vec::new();
            let mut upsertions = Vec::new();
            for k in keys {
                let Key::ScramUser(user, changes) = k else {
                    continue;
                };
                for c in changes {
                    match c {
                        SaltedChange::Delete(m) => deletions.push(
                            ScramCredentialDeletion::default()
                                .with_name(user.clone())
                                .with_mechanism(m.code()),
                        ),
                        SaltedChange::Upsert {
                            mechanism,
                            iterations,
                            salt,
                            salted_password,
                        } => upsertions.push(
                            ScramCredentialUpsertion::default()
                                .with_name(user.clone())
                                .with_mechanism(mechanism.code())
                                .with_iterations(*iterations)
                                .with_salt(salt.clone())
                                .with_salted_password(salted_password.clone()),
                        ),
                    }
                }
            }
            AlterUserScramCredentialsRequest::default()
                .with_deletions(deletions)
                .with_upsertions(upsertions)
                .into()
        }
        Op::ListReassignments { timeout_ms } => {
            let asked = keys.iter().find_map(|k| match k {
                Key::Reassignments(p) => p.clone(),
                _ => None,
            });
            ListPartitionReassignmentsRequest::default()
                .with_timeout_ms(*timeout_ms)
                .with_topics(asked.map(|tps| {
                    by_topic(tps.iter().map(|tp| (tp, tp.partition)))
                        .into_iter()
                        .map(|(t, p)| {
                            list_partition_reassignments_request::ListPartitionReassignmentsTopics::default()
                                .with_name(t.to_string())
                                .with_partition_indexes(p)
                        })
                        .collect()
                }))
                .into()
        }
        Op::AlterReassignments { timeout_ms } => {
            use alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
            let parts = keys.iter().filter_map(|k| match k {
                Key::Reassign(tp, replicas) => Some((
                    tp,
                    ReassignablePartition::default()
                        .with_partition_index(tp.partition)
                        .with_replicas(replicas.clone()),
                )),
                _ => None,
            });
            AlterPartitionReassignmentsRequest::default()
                .with_timeout_ms(*timeout_ms)
                .with_topics(
                    by_topic(parts)
                        .into_iter()
                        .map(|(t, p)| {
                            ReassignableTopic::default()
                                .with_name(t.to_string())
                                .with_partitions(p)
                        })
                        .collect(),
                )
                .into()
        }
        Op::ElectLeaders {
            election,
            timeout_ms,
        } => {
            let all = keys.iter().any(|k| matches!(k, Key::Elect(None)));
            let parts = keys.iter().filter_map(|k| match k {
                Key::Elect(Some(tp)) => Some((tp, tp.partition)),
                _ => None,
            });
            let topics = (!all).then(|| {
                by_topic(parts)
                    .into_iter()
                    .map(|(t, p)| {
                        elect_leaders_request::TopicPartitions::default()
                            .with_topic(t.to_string())
                            .with_partitions(p)
                    })
                    .collect()
            });
            ElectLeadersRequest::default()
                .with_election_type(election.code())
                .with_timeout_ms(*timeout_ms)
                .with_topic_partitions(topics)
                .into()
        }
        // Every replica: a topic in the request must list its partitions
        // (none means none), so the topics are kept afterwards instead.
        Op::DescribeLogDirs { .. } => DescribeLogDirsRequest::default().with_topics(None).into(),
        Op::DescribeProducers => {
            let parts = keys.iter().filter_map(|k| match k {
                Key::Producers(tp) => Some((tp, tp.partition)),
                _ => None,
            });
            DescribeProducersRequest::default()
                .with_topics(
                    by_topic(parts)
                        .into_iter()
                        .map(|(t, p)| {
                            describe_producers_request::TopicRequest::default()
                                .with_name(t.to_string())
                                .with_partition_indexes(p)
                        })
                        .collect(),
                )
                .into()
        }
        // The newer filters are left unset when not asked for: a broker
        // whose version lacks them then still answers.
        Op::ListTransactions(filter) => ListTransactionsRequest::default()
            .with_state_filters(filter.states.clone())
            .with_producer_id_filters(filter.producer_ids.clone())
            .with_duration_filter(filter.min_duration_ms.unwrap_or(-1))
            .with_transactional_id_pattern(filter.id_pattern.clone())
            .into(),
        Op::UpdateFeatures {
            validate_only,
            timeout_ms,
        } => UpdateFeaturesRequest::default()
            .with_timeout_ms(*timeout_ms)
            .with_validate_only(*validate_only)
            .with_feature_updates(
                keys.iter()
                    .filter_map(|k| match k {
                        Key::Feature(f) => Some(
                            update_features_request::FeatureUpdateKey::default()
                                .with_feature(f.name.clone())
                                .with_max_version_level(f.level)
                                .with_upgrade_type(f.upgrade.code())
                                .with_allow_downgrade(
                                    f.upgrade != super::features::FeatureUpgrade::Upgrade,
                                ),
                        ),
                        _ => None,
                    })
                    .collect(),
            )
            .into(),
        Op::DescribeFeatures { .. } => ApiVersionsRequest::default()
            .with_client_software_name(crate::conn::SOFTWARE_NAME.into())
            .with_client_software_version(crate::conn::SOFTWARE_VERSION.into())
            .into(),
    }
}

/// Items grouped by topic name, in name order.
fn by_topic<'a, T>(
    items: impl Iterator<Item = (&'a TopicPartition, T)>,
) -> BTreeMap<&'a str, Vec<T>> {
    let mut topics: BTreeMap<&str, Vec<T>> = BTreeMap::new();
    for (tp, item) in items {
        topics.entry(&tp.topic).or_default().push(item);
    }
    topics
}

/// What an error code means for an item: final, or worth another try
/// (after fresh metadata when the broker may have moved).
fn step(code: ErrorCode, message: Option<String>, ok: impl FnOnce() -> Answer) -> Step {
    match code {
        ErrorCode::None => Step::Done(ok()),
        ErrorCode::NotController
        | ErrorCode::NotLeaderOrFollower
        | ErrorCode::LeaderNotAvailable
        | ErrorCode::FencedLeaderEpoch
        | ErrorCode::UnknownLeaderEpoch => Step::Retry(code, true),
        // An unknown topic is an answer, not a transient state: asking
        // again would only wait out the timeout.
        ErrorCode::UnknownTopicOrPartition => Step::Done(Answer::Code(code, message)),
        // Flagged retriable by Kafka, but asking again changes nothing:
        // the preferred leader already leads.
        ErrorCode::ElectionNotNeeded => Step::Done(Answer::Code(code, message)),
        c if c.is_retriable() => Step::Retry(c, false),
        c => Step::Done(Answer::Code(c, message)),
    }
}

/// Each key's step, in the order of `keys`, from one answer. A key the
/// answer does not mention is retried.
fn answer(op: &Op, keys: &[Key], body: ResponseBody) -> Vec<Step> {
    let missing = || Step::Retry(ErrorCode::UnknownServerError, false);
    match (op, body) {
        (Op::DescribeConfigs { .. }, ResponseBody::DescribeConfigs(r)) => {
            let mut results: BTreeMap<(i8, String), _> = r
                .results
                .into_iter()
                .map(|res| ((res.resource_type, res.resource_name.clone()), res))
                .collect();
            keys.iter()
                .map(|k| {
                    let Key::Resource(resource, _) = k else {
                        return missing();
                    };
                    let Some(res) = results.remove(&(resource.type_code(), resource.name())) else {
                        return missing();
                    };
                    let code = ErrorCode::from_code(res.error_code);
                    step(code, res.error_message.clone(), || {
                        Answer::Configs(ResourceConfigs {
                            resource: resource.clone(),
                            error: code,
                            message: res.error_message,
                            entries: res
                                .configs
                                .into_iter()
                                .map(|c| {
                                    let source = ConfigSource::from_code(c.config_source);
                                    ConfigEntry {
                                        is_default: c.is_default || source == ConfigSource::Default,
                                        name: c.name,
                                        value: c.value,
                                        source,
                                        read_only: c.read_only,
                                        sensitive: c.is_sensitive,
                                        synonyms: c
                                            .synonyms
                                            .into_iter()
                                            .map(|s| ConfigSynonym {
                                                name: s.name,
                                                value: s.value,
                                                source: ConfigSource::from_code(s.source),
                                            })
                                            .collect(),
                                        documentation: c.documentation,
                                    }
                                })
                                .collect(),
                        })
                    })
                })
                .collect()
        }
        (Op::AlterConfigs { .. }, ResponseBody::IncrementalAlterConfigs(r)) => {
            let mut results: BTreeMap<(i8, String), _> = r
                .responses
                .into_iter()
                .map(|res| ((res.resource_type, res.resource_name.clone()), res))
                .collect();
            keys.iter()
                .map(|k| {
                    let Key::Resource(resource, _) = k else {
                        return missing();
                    };
                    match results.remove(&(resource.type_code(), resource.name())) {
                        Some(res) => {
                            let code = ErrorCode::from_code(res.error_code);
                            let message = res.error_message;
                            step(code, message.clone(), || Answer::Code(code, message))
                        }
                        None => missing(),
                    }
                })
                .collect()
        }
        (Op::CreatePartitions { .. }, ResponseBody::CreatePartitions(r)) => {
            let mut results: BTreeMap<String, _> =
                r.results.into_iter().map(|t| (t.name.clone(), t)).collect();
            keys.iter()
                .map(|k| {
                    let Key::Partitions(p) = k else {
                        return missing();
                    };
                    match results.remove(&p.topic) {
                        Some(t) => {
                            let code = ErrorCode::from_code(t.error_code);
                            let message = t.error_message;
                            step(code, message.clone(), || Answer::Code(code, message))
                        }
                        None => missing(),
                    }
                })
                .collect()
        }
        (Op::DeleteRecords { .. }, ResponseBody::DeleteRecords(r)) => {
            let mut results: BTreeMap<TopicPartition, (i16, i64)> = BTreeMap::new();
            for t in r.topics {
                for p in t.partitions {
                    results.insert(
                        TopicPartition::new(t.name.clone(), p.partition_index),
                        (p.error_code, p.low_watermark),
                    );
                }
            }
            keys.iter()
                .map(|k| {
                    let Key::Records(tp, _) = k else {
                        return missing();
                    };
                    match results.remove(tp) {
                        Some((code, low)) => step(ErrorCode::from_code(code), None, || {
                            Answer::LowWatermark(low)
                        }),
                        None => missing(),
                    }
                })
                .collect()
        }
        (Op::DescribeCluster { .. }, ResponseBody::DescribeCluster(r)) => {
            let code = ErrorCode::from_code(r.error_code);
            let message = r.error_message.clone();
            vec![step(code, message, || {
                let mut brokers: Vec<BrokerDescription> = r
                    .brokers
                    .into_iter()
                    .map(|b| BrokerDescription {
                        node: b.broker_id,
                        host: b.host,
                        port: b.port,
                        rack: b.rack,
                        fenced: b.is_fenced,
                    })
                    .collect();
                brokers.sort_by_key(|b| b.node);
                Answer::Cluster(ClusterDescription {
                    cluster_id: r.cluster_id,
                    controller: (r.controller_id >= 0).then_some(r.controller_id),
                    brokers,
                    authorized_operations: AclOperation::from_bits(r.cluster_authorized_operations),
                })
            })]
        }
        (Op::DescribeFeatures { .. }, ResponseBody::ApiVersions(r)) => {
            let code = ErrorCode::from_code(r.error_code);
            vec![step(code, None, || {
                Answer::Features(FeatureDescription {
                    supported: r
                        .supported_features
                        .into_iter()
                        .map(|f| SupportedFeature {
                            name: f.name,
                            min_version: f.min_version,
                            max_version: f.max_version,
                        })
                        .collect(),
                    finalized: r
                        .finalized_features
                        .into_iter()
                        .map(|f| FinalizedFeature {
                            name: f.name,
                            max_version_level: f.max_version_level,
                            min_version_level: f.min_version_level,
                        })
                        .collect(),
                    finalized_epoch: r.finalized_features_epoch,
                })
            })]
        }
        // Creations and filters are answered in the order sent.
        (Op::CreateAcls, ResponseBody::CreateAcls(r)) => {
            let mut results = r.results.into_iter();
            keys.iter()
                .map(|_| match results.next() {
                    Some(res) => {
                        let code = ErrorCode::from_code(res.error_code);
                        let message = res.error_message;
                        step(code, message.clone(), || Answer::Code(code, message))
                    }
                    None => missing(),
                })
                .collect()
        }
        (Op::DescribeAcls, ResponseBody::DescribeAcls(r)) => {
            let code = ErrorCode::from_code(r.error_code);
            vec![step(code, r.error_message, || {
                let mut bindings: Vec<AclBinding> = r
                    .resources
                    .into_iter()
                    .flat_map(|res| {
                        res.acls.into_iter().map(move |a| {
                            binding_from(
                                res.resource_type,
                                res.resource_name.clone(),
                                res.pattern_type,
                                a.principal,
                                a.host,
                                a.operation,
                                a.permission_type,
                            )
                        })
                    })
                    .collect();
                bindings.sort();
                Answer::Acls(bindings)
            })]
        }
        (Op::DeleteAcls, ResponseBody::DeleteAcls(r)) => {
            let mut results = r.filter_results.into_iter();
            keys.iter()
                .map(|_| match results.next() {
                    Some(res) => {
                        let code = ErrorCode::from_code(res.error_code);
                        step(code, res.error_message, || {
                            Answer::AclsDeleted(
                                res.matching_acls
                                    .into_iter()
                                    .map(|m| AclOutcome {
                                        error: ErrorCode::from_code(m.error_code),
                                        message: m.error_message,
                                        binding: binding_from(
                                            m.resource_type,
                                            m.resource_name,
                                            m.pattern_type,
                                            m.principal,
                                            m.host,
                                            m.operation,
                                            m.permission_type,
                                        ),
                                    })
                                    .collect(),
                            )
                        })
                    }
                    None => missing(),
                })
                .collect()
        }
        (Op::DescribeScram, ResponseBody::DescribeUserScramCredentials(r)) => {
            let code = ErrorCode::from_code(r.error_code);
            vec![step(code, r.error_message, || {
                Answer::Scram(
                    r.results
                        .into_iter()
                        .map(|u| UserScramCredentials {
                            user: u.user,
                            error: ErrorCode::from_code(u.error_code),
                            message: u.error_message,
                            credentials: u
                                .credential_infos
                                .into_iter()
                                .map(|c| ScramCredentialInfo {
                                    mechanism: ScramMechanism::from_code(c.mechanism),
                                    iterations: c.iterations,
                                })
                                .collect(),
                        })
                        .collect(),
                )
            })]
        }
        (Op::AlterScram, ResponseBody::AlterUserScramCredentials(r)) => {
            let mut results: BTreeMap<String, _> =
                r.results.into_iter().map(|u| (u.user.clone(), u)).collect();
            keys.iter()
                .map(|k| {
                    let Key::ScramUser(user, _) = k else {
                        return missing();
                    };
                    match results.remove(user) {
                        Some(u) => {
                            let code = ErrorCode::from_code(u.error_code);
                            let message = u.error_message;
                            step(code, message.clone(), || Answer::Code(code, message))
                        }
                        None => missing(),
                    }
                })
                .collect()
        }
        (Op::DescribeQuotas, ResponseBody::DescribeClientQuotas(r)) => {
            let code = ErrorCode::from_code(r.error_code);
            vec![step(code, r.error_message, || {
                let mut entries: Vec<QuotaEntry> = r
                    .entries
                    .unwrap_or_default()
                    .into_iter()
                    .map(|e| QuotaEntry {
                        entity: QuotaEntity {
                            components: e
                                .entity
                                .into_iter()
                                .map(|c| (c.entity_type, c.entity_name))
                                .collect(),
                        },
                        values: e.values.into_iter().map(|v| (v.key, v.value)).collect(),
                    })
                    .collect();
                entries.sort_by(|a, b| a.entity.cmp(&b.entity));
                Answer::Quotas(entries)
            })]
        }
        (Op::AlterQuotas { .. }, ResponseBody::AlterClientQuotas(r)) => {
            let mut results: BTreeMap<QuotaEntity, _> = r
                .entries
                .into_iter()
                .map(|e| {
                    let entity = QuotaEntity {
                        components: e
                            .entity
                            .into_iter()
                            .map(|c| (c.entity_type, c.entity_name))
                            .collect(),
                    };
                    (entity, (e.error_code, e.error_message))
                })
                .collect();
            keys.iter()
                .map(|k| {
                    let Key::Quota(entity, _) = k else {
                        return missing();
                    };
                    match results.remove(entity) {
                        Some((code, message)) => {
                            let code = ErrorCode::from_code(code);
                            step(code, message.clone(), || Answer::Code(code, message))
                        }
                        None => missing(),
                    }
                })
                .collect()
        }
        (Op::ListReassignments { .. }, ResponseBody::ListPartitionReassignments(r)) => {
            let code = ErrorCode::from_code(r.error_code);
            vec![step(code, r.error_message, || {
                Answer::Reassignments(
                    r.topics
                        .into_iter()
                        .flat_map(|t| {
                            t.partitions.into_iter().map(move |p| {
                                (
                                    TopicPartition::new(t.name.clone(), p.partition_index),
                                    PartitionReassignment {
                                        replicas: p.replicas,
                                        adding: p.adding_replicas,
                                        removing: p.removing_replicas,
                                    },
                                )
                            })
                        })
                        .collect(),
                )
            })]
        }
        (Op::AlterReassignments { .. }, ResponseBody::AlterPartitionReassignments(r)) => {
            let top = ErrorCode::from_code(r.error_code);
            let mut results: BTreeMap<TopicPartition, (i16, Option<String>)> = BTreeMap::new();
            for t in r.responses {
                for p in t.partitions {
                    results.insert(
                        TopicPartition::new(t.name.clone(), p.partition_index),
                        (p.error_code, p.error_message),
                    );
                }
            }
            keys.iter()
                .map(|k| {
                    let Key::Reassign(tp, _) = k else {
                        return missing();
                    };
                    // A request-wide error (NOT_CONTROLLER, ...) is every
                    // partition's.
                    let (code, message) = match results.remove(tp) {
                        Some((code, message)) if top == ErrorCode::None => {
                            (ErrorCode::from_code(code), message)
                        }
                        _ if top != ErrorCode::None => (top, r.error_message.clone()),
                        _ => return missing(),
                    };
                    step(code, message.clone(), || Answer::Code(code, message))
                })
                .collect()
        }
        (Op::ElectLeaders { .. }, ResponseBody::ElectLeaders(r)) => {
            let top = ErrorCode::from_code(r.error_code);
            let mut results: BTreeMap<TopicPartition, (ErrorCode, Option<String>)> =
                BTreeMap::new();
            for t in r.replica_election_results {
                for p in t.partition_result {
                    results.insert(
                        TopicPartition::new(t.topic.clone(), p.partition_id),
                        (ErrorCode::from_code(p.error_code), p.error_message),
                    );
                }
            }
            keys.iter()
                .map(|k| match k {
                    _ if top != ErrorCode::None => step(top, None, || Answer::Code(top, None)),
                    Key::Elect(None) => Step::Done(Answer::Elections(
                        std::mem::take(&mut results)
                            .into_iter()
                            .map(|(partition, (error, message))| PartitionOutcome {
                                partition,
                                error,
                                message,
                            })
                            .collect(),
                    )),
                    Key::Elect(Some(tp)) => match results.remove(tp) {
                        Some((code, message)) => {
                            step(code, message.clone(), || Answer::Code(code, message))
                        }
                        None => missing(),
                    },
                    _ => missing(),
                })
                .collect()
        }
        (Op::DescribeLogDirs { topics }, ResponseBody::DescribeLogDirs(r)) => {
            let code = ErrorCode::from_code(r.error_code);
            vec![step(code, None, || {
                let mut dirs = super::replicas::log_dirs(r);
                if let Some(topics) = topics {
                    for d in &mut dirs {
                        d.replicas.retain(|l| topics.contains(&l.partition.topic));
                    }
                }
                Answer::LogDirs(dirs)
            })]
        }
        (Op::DescribeProducers, ResponseBody::DescribeProducers(r)) => {
            let mut results = BTreeMap::new();
            for t in r.topics {
                for p in t.partitions {
                    results.insert(TopicPartition::new(t.name.clone(), p.partition_index), p);
                }
            }
            keys.iter()
                .map(|k| {
                    let Key::Producers(tp) = k else {
                        return missing();
                    };
                    let Some(p) = results.remove(tp) else {
                        return missing();
                    };
                    let code = ErrorCode::from_code(p.error_code);
                    step(code, p.error_message, || {
                        let mut producers: Vec<ProducerState> = p
                            .active_producers
                            .into_iter()
                            .map(|s| ProducerState {
                                producer_id: s.producer_id,
                                producer_epoch: s.producer_epoch,
                                last_sequence: s.last_sequence,
                                last_timestamp: s.last_timestamp,
                                coordinator_epoch: s.coordinator_epoch,
                                current_txn_start_offset: (s.current_txn_start_offset >= 0)
                                    .then_some(s.current_txn_start_offset),
                            })
                            .collect();
                        producers.sort_by_key(|s| s.producer_id);
                        Answer::Producers(producers)
                    })
                })
                .collect()
        }
        (Op::ListTransactions(_), ResponseBody::ListTransactions(r)) => {
            let node = match keys.first() {
                Some(Key::Broker(n)) => *n,
                _ => -1,
            };
            let code = ErrorCode::from_code(r.error_code);
            vec![step(code, None, || {
                Answer::Transactions(
                    r.transaction_states
                        .into_iter()
                        .map(|t| TransactionListing {
                            transactional_id: t.transactional_id,
                            producer_id: t.producer_id,
                            state: t.transaction_state,
                            coordinator: node,
                        })
                        .collect(),
                    r.unknown_state_filters,
                )
            })]
        }
        (Op::UpdateFeatures { .. }, ResponseBody::UpdateFeatures(r)) => {
            let top = ErrorCode::from_code(r.error_code);
            let mut results: BTreeMap<String, _> = r
                .results
                .into_iter()
                .map(|f| (f.feature.clone(), f))
                .collect();
            keys.iter()
                .map(|k| {
                    let Key::Feature(f) = k else {
                        return missing();
                    };
                    // From version 2 the answer is request-wide only.
                    let (code, message) = match results.remove(&f.name) {
                        Some(res) if top == ErrorCode::None => {
                            (ErrorCode::from_code(res.error_code), res.error_message)
                        }
                        _ => (top, r.error_message.clone()),
                    };
                    step(code, message.clone(), || Answer::Code(code, message))
                })
                .collect()
        }
        // The connection decodes the body of the API it sent.
        _ => keys.iter().map(|_| missing()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorized_operations_from_bits() {
        assert_eq!(AclOperation::from_bits(i32::MIN), None);
        assert_eq!(AclOperation::from_bits(0), Some(vec![]));
        // READ (3), DESCRIBE (8), ALTER_CONFIGS (11); bit 0 (UNKNOWN) and
        // 1 (ANY) are not operations a broker grants.
        let bits = (1 << 0) | (1 << 1) | (1 << 3) | (1 << 8) | (1 << 11);
        assert_eq!(
            AclOperation::from_bits(bits),
            Some(vec![
                AclOperation::Read,
                AclOperation::Describe,
                AclOperation::AlterConfigs
            ])
        );
    }

    #[test]
    fn acl_answers_are_read_in_order_with_errors_per_binding() {
        use super::super::acl::{AclPermission, AclResourceType};
        use kafka_proto::messages::create_acls_response::AclCreationResult;
        use kafka_proto::messages::delete_acls_response::{
            DeleteAclsFilterResult, DeleteAclsMatchingAcl,
        };
        use kafka_proto::messages::{CreateAclsResponse, DeleteAclsResponse};
        let binding = |name: &str| {
            AclBinding::new(
                AclResourceType::Topic,
                name,
                "User:a",
                AclOperation::Read,
                AclPermission::Allow,
            )
        };
        let keys = vec![Key::Acl(binding("x")), Key::Acl(binding("y"))];
        let body = ResponseBody::CreateAcls(CreateAclsResponse::default().with_results(vec![
            AclCreationResult::default(),
            AclCreationResult::default()
                .with_error_code(ErrorCode::InvalidRequest.code())
                .with_error_message(Some("no".into())),
        ]));
        let steps = answer(&Op::CreateAcls, &keys, body);
        assert!(matches!(
            steps[0],
            Step::Done(Answer::Code(ErrorCode::None, _))
        ));
        assert!(matches!(
            &steps[1],
            Step::Done(Answer::Code(ErrorCode::InvalidRequest, Some(m))) if m == "no"
        ));

        let filters = vec![
            Key::AclFilter(AclBindingFilter::any()),
            Key::AclFilter(binding("z").to_filter()),
        ];
        let matched = |name: &str, code: ErrorCode| {
            DeleteAclsMatchingAcl::default()
                .with_error_code(code.code())
                .with_resource_type(2)
                .with_resource_name(name.into())
                .with_pattern_type(3)
                .with_principal("User:a".into())
                .with_host("*".into())
                .with_operation(3)
                .with_permission_type(3)
        };
        let body =
            ResponseBody::DeleteAcls(DeleteAclsResponse::default().with_filter_results(vec![
                DeleteAclsFilterResult::default().with_matching_acls(vec![
                    matched("x", ErrorCode::None),
                    matched("y", ErrorCode::SecurityDisabled),
                ]),
                DeleteAclsFilterResult::default()
                    .with_error_code(ErrorCode::ClusterAuthorizationFailed.code()),
            ]));
        let steps = answer(&Op::DeleteAcls, &filters, body);
        let Step::Done(Answer::AclsDeleted(deleted)) = &steps[0] else {
            panic!("not deleted")
        };
        assert_eq!(deleted[0].binding, binding("x"));
        assert_eq!(deleted[0].error, ErrorCode::None);
        assert_eq!(deleted[1].error, ErrorCode::SecurityDisabled);
        assert!(matches!(
            steps[1],
            Step::Done(Answer::Code(ErrorCode::ClusterAuthorizationFailed, _))
        ));
        // A short answer leaves the filter it skipped to be asked again.
        let short = ResponseBody::DeleteAcls(DeleteAclsResponse::default());
        assert!(answer(&Op::DeleteAcls, &filters, short)
            .iter()
            .all(|s| matches!(s, Step::Retry(..))));
    }

    #[test]
    fn replica_and_feature_answers_apply_request_wide_errors_to_every_item() {
        use kafka_proto::messages::alter_partition_reassignments_response::{
            ReassignablePartitionResponse, ReassignableTopicResponse,
        };
        use kafka_proto::messages::elect_leaders_response::{
            PartitionResult, ReplicaElectionResult,
        };
        use kafka_proto::messages::update_features_response::UpdatableFeatureResult;
        use kafka_proto::messages::{
            AlterPartitionReassignmentsResponse, ElectLeadersResponse, UpdateFeaturesResponse,
        };
        let tp = |p| TopicPartition::new("t", p);
        let op = Op::AlterReassignments { timeout_ms: 1 };
        let keys = vec![
            Key::Reassign(tp(0), Some(vec![1])),
            Key::Reassign(tp(1), None),
        ];
        // NOT_CONTROLLER for the request: every partition again, after
        // fresh metadata.
        let body = ResponseBody::AlterPartitionReassignments(
            AlterPartitionReassignmentsResponse::default()
                .with_error_code(ErrorCode::NotController.code()),
        );
        assert!(answer(&op, &keys, body)
            .iter()
            .all(|s| matches!(s, Step::Retry(ErrorCode::NotController, true))));
        let body = ResponseBody::AlterPartitionReassignments(
            AlterPartitionReassignmentsResponse::default().with_responses(vec![
                ReassignableTopicResponse::default()
                    .with_name("t".into())
                    .with_partitions(vec![
                        ReassignablePartitionResponse::default().with_partition_index(0),
                        ReassignablePartitionResponse::default()
                            .with_partition_index(1)
                            .with_error_code(ErrorCode::NoReassignmentInProgress.code()),
                    ]),
            ]),
        );
        let steps = answer(&op, &keys, body);
        assert!(matches!(
            steps[0],
            Step::Done(Answer::Code(ErrorCode::None, _))
        ));
        assert!(matches!(
            steps[1],
            Step::Done(Answer::Code(ErrorCode::NoReassignmentInProgress, _))
        ));

        // ELECTION_NOT_NEEDED is flagged retriable but is an answer; an
        // election over every partition returns what the controller names.
        let op = Op::ElectLeaders {
            election: ElectionType::Preferred,
            timeout_ms: 1,
        };
        let results = ElectLeadersResponse::default().with_replica_election_results(vec![
            ReplicaElectionResult::default()
                .with_topic("t".into())
                .with_partition_result(vec![
                    PartitionResult::default()
                        .with_partition_id(0)
                        .with_error_code(ErrorCode::ElectionNotNeeded.code()),
                    PartitionResult::default().with_partition_id(1),
                ]),
        ]);
        let steps = answer(
            &op,
            &[Key::Elect(Some(tp(0)))],
            ResponseBody::ElectLeaders(results.clone()),
        );
        assert!(matches!(
            steps[0],
            Step::Done(Answer::Code(ErrorCode::ElectionNotNeeded, _))
        ));
        let steps = answer(
            &op,
            &[Key::Elect(None)],
            ResponseBody::ElectLeaders(results),
        );
        let Step::Done(Answer::Elections(all)) = &steps[0] else {
            panic!("not every partition")
        };
        assert_eq!(all.len(), 2);

        // UpdateFeatures v2 answers for the request only.
        let op = Op::UpdateFeatures {
            validate_only: true,
            timeout_ms: 1,
        };
        let keys = vec![
            Key::Feature(super::super::FeatureUpdate::upgrade("a", 1)),
            Key::Feature(super::super::FeatureUpdate::upgrade("b", 1)),
        ];
        let v2 = ResponseBody::UpdateFeatures(
            UpdateFeaturesResponse::default()
                .with_error_code(ErrorCode::InvalidUpdateVersion.code())
                .with_error_message(Some("no".into())),
        );
        assert!(answer(&op, &keys, v2).iter().all(|s| matches!(
            s,
            Step::Done(Answer::Code(ErrorCode::InvalidUpdateVersion, Some(m))) if m == "no"
        )));
        let v1 =
            ResponseBody::UpdateFeatures(UpdateFeaturesResponse::default().with_results(vec![
                UpdatableFeatureResult::default().with_feature("a".into()),
                UpdatableFeatureResult::default()
                    .with_feature("b".into())
                    .with_error_code(ErrorCode::InvalidUpdateVersion.code()),
            ]));
        let steps = answer(&op, &keys, v1);
        assert!(matches!(
            steps[0],
            Step::Done(Answer::Code(ErrorCode::None, _))
        ));
        assert!(matches!(
            steps[1],
            Step::Done(Answer::Code(ErrorCode::InvalidUpdateVersion, _))
        ));
    }

    #[test]
    fn config_sources_and_resources_have_their_codes() {
        assert_eq!(ConfigSource::from_code(1), ConfigSource::DynamicTopic);
        assert_eq!(ConfigSource::from_code(5).name(), "DEFAULT_CONFIG");
        assert_eq!(ConfigSource::from_code(42), ConfigSource::Unknown(42));
        let t = ConfigResource::Topic("x".into());
        assert_eq!((t.type_code(), t.name(), t.node()), (2, "x".into(), None));
        let b = ConfigResource::BrokerLogger(3);
        assert_eq!(
            (b.type_code(), b.name(), b.node()),
            (8, "3".into(), Some(3))
        );
    }

    #[test]
    fn error_codes_decide_retries() {
        let ok = || Answer::LowWatermark(1);
        assert!(matches!(
            step(ErrorCode::None, None, ok),
            Step::Done(Answer::LowWatermark(1))
        ));
        assert!(matches!(
            step(ErrorCode::NotLeaderOrFollower, None, ok),
            Step::Retry(_, true)
        ));
        assert!(matches!(
            step(ErrorCode::RequestTimedOut, None, ok),
            Step::Retry(_, false)
        ));
        for final_code in [
            ErrorCode::UnknownTopicOrPartition,
            ErrorCode::InvalidConfig,
            ErrorCode::PolicyViolation,
        ] {
            assert!(
                matches!(step(final_code, None, ok), Step::Done(Answer::Code(c, _)) if c == final_code),
                "{final_code:?}"
            );
        }
    }

    #[test]
    fn an_answer_missing_an_item_retries_it_and_a_wrong_body_never_panics() {
        let keys = vec![
            Key::Records(TopicPartition::new("t", 0), 1),
            Key::Records(TopicPartition::new("t", 1), 1),
        ];
        let op = Op::DeleteRecords { timeout_ms: 1 };
        let body = ResponseBody::DeleteRecords(
            kafka_proto::messages::DeleteRecordsResponse::default().with_topics(vec![
                kafka_proto::messages::delete_records_response::DeleteRecordsTopicResult::default()
                    .with_name("t".into())
                    .with_partitions(vec![
                        kafka_proto::messages::delete_records_response::DeleteRecordsPartitionResult::default()
                            .with_partition_index(0)
                            .with_low_watermark(1),
                    ]),
            ]),
        );
        let steps = answer(&op, &keys, body);
        assert!(matches!(steps[0], Step::Done(Answer::LowWatermark(1))));
        assert!(matches!(steps[1], Step::Retry(..)));
        let wrong = ResponseBody::DescribeCluster(Default::default());
        assert!(answer(&op, &keys, wrong)
            .iter()
            .all(|s| matches!(s, Step::Retry(..))));
    }
}
