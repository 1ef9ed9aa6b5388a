//! The types of the public API every adapter shares; each re-exports
//! this module, so a program moves between runtimes by changing its
//! imports' crate name.

pub use crate::admin::{DeletedRecords, DescribedProducers};
pub use crate::batch::{BatchReports, IntoReports, ReportRef, Reports};
pub use crate::{Committed, Error, Offsets, Rebalance, TokenResult};
pub use kafka_proto::record::{Compression, HeadersRef};
pub use kafka_proto::ErrorCode;
pub use kafka_proto::Uuid;
pub use kafka_state::admin::{
    AclBinding, AclBindingFilter, AclFilterOutcome, AclOperation, AclOutcome, AclPatternType,
    AclPermission, AclResourceType, AlterConfigOp, BrokerDescription, BrokerLogDirs,
    ClusterDescription, CommittedOffset, ConfigEntry, ConfigResource, ConfigSource, ConfigSynonym,
    ElectionType, FeatureDescription, FeatureOutcome, FeatureUpdate, FeatureUpgrade,
    FinalizedFeature, GroupDescription, GroupListing, GroupListings, GroupOffsets,
    LogDirDescription, MemberDescription, NewPartitions, PartitionOutcome, PartitionReassignment,
    ProducerState, QuotaEntity, QuotaEntry, QuotaFilter, QuotaMatch, QuotaOp, QuotaOutcome,
    ReplicaLog, ResourceConfigs, ResourceOutcome, ScramChange, ScramCredentialInfo, ScramMechanism,
    SupportedFeature, TransactionDescription, TransactionFilter, TransactionListing,
    TransactionListings, UserOutcome, UserScramCredentials,
};
pub use kafka_state::consumer::{
    AutoOffsetReset, ConsumedOffset, IsolationLevel, ListedOffset, OffsetSpec, RecordView, SeekTo,
};
pub use kafka_state::group::{
    Assignor, CommitError, CooperativeStickyAssignor, GroupConfig, GroupError, GroupMetadata,
    GroupProtocol, OffsetAndMetadata, RangeAssignor, RoundRobinAssignor, StickyAssignor,
};
pub use kafka_state::producer::{
    Acks, DeliveryReport, ProducerConfig, ProducerRecord, TopicName, TxnCause, TxnError, TxnState,
};
pub use kafka_state::sasl::{SaslConfig, SaslMechanism};
pub use kafka_state::stats::{
    BrokerStats, ConnRole, ConnState, ConsumerPartitionStats, GroupState, GroupStats, Latency,
    PartitionStats, ProducerPartitionStats, TotalStats,
};
pub use kafka_state::{
    BrokerAddr, ClientStats, ClusterMetadata, Config, ConsumerConfig, ConsumerRecord, NewTopic,
    PartitionMetadata, TopicIdOutcome, TopicMetadata, TopicOutcome, TopicPartition,
};
