//! Errors: what the caller did wrong ([`Misuse`], returned) apart from
//! what the network or a broker did ([`DisconnectReason`], [`RequestError`],
//! reported in [`Event`](crate::Event)s).

use kafka_proto::{ApiKey, DecodeError, EncodeError, ErrorCode};

use crate::sasl::AuthError;
use crate::{Broker, TopicPartition};

/// A caller mistake: returned by a command, changes no state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Misuse {
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
    /// A bootstrap address is not `host:port`.
    #[error("invalid broker address {0:?}, expected host:port")]
    InvalidBootstrap(String),
    /// A topic name breaks Kafka's naming rules.
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopicName {
        /// The name given.
        name: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A command that needs topics got none.
    #[error("no topics given")]
    NoTopics,
    /// The same topic appears twice in one command.
    #[error("topic {0:?} appears more than once")]
    DuplicateTopic(String),
    /// A partition count below 1.
    #[error("invalid partition count {0}, must be at least 1 (or -1 for the broker default)")]
    InvalidPartitions(i32),
    /// A replication factor of 0 or below -1.
    #[error("invalid replication factor {0}, must be at least 1 (or -1 for the broker default)")]
    InvalidReplicationFactor(i16),
    /// A partition index below 0.
    #[error("invalid partition {0}: the index must be 0 or more")]
    InvalidPartition(TopicPartition),
    /// A consumer command named a partition that is not assigned.
    #[error("partition {0} is not assigned")]
    NotAssigned(TopicPartition),
    /// A negative offset or timestamp where one must be 0 or more.
    #[error("invalid offset or timestamp {0}, must be 0 or more")]
    InvalidOffset(i64),
    /// An offset reported for handed-out records lies outside them.
    #[error("offset {offset} is outside the records handed out ({start}..={end})")]
    OffsetOutsideRecords {
        /// The offset given.
        offset: i64,
        /// The first offset the records cover.
        start: i64,
        /// The position after them.
        end: i64,
    },
    /// The client failed fatally earlier; it only reports that error now.
    #[error("the client has failed: {0}")]
    Failed(FatalError),
    /// The client was closed with [`Client::close`](crate::Client::close).
    #[error("the client is closed")]
    Closed,
    /// The TLS settings are unusable (a PEM that does not parse, a key
    /// that does not match the certificate, an invalid server name).
    #[error("invalid TLS configuration: {0}")]
    InvalidTlsConfig(String),
    /// An OAuth token was given but the client is not configured for
    /// OAUTHBEARER.
    #[error("the client is not configured for SASL OAUTHBEARER")]
    NotOAuthBearer,
    /// A group command ([`Consumer::subscribe`](crate::Consumer::subscribe),
    /// `commit`, ...) without [`Config::group`](crate::Config::group).
    #[error("no consumer group is configured (Config::group)")]
    NoGroupConfigured,
    /// [`Consumer::subscribe`](crate::Consumer::subscribe) while partitions
    /// are assigned manually: unassign them first.
    #[error("partitions are assigned manually; unassign before subscribing")]
    ManuallyAssigned,
    /// A manual assignment while subscribed to a group: unsubscribe first.
    #[error("subscribed to a group; unsubscribe before assigning manually")]
    Subscribed,
    /// [`Consumer::subscribe_regex`](crate::Consumer::subscribe_regex)
    /// under the classic group protocol with a pattern that does not
    /// compile (the consumer protocol leaves the check to the broker).
    #[error("invalid regular expression: {0}")]
    InvalidRegex(String),
    /// A group command that needs a subscription, without one.
    #[error("not subscribed to a group")]
    NotSubscribed,
    /// The group member stopped for good earlier.
    #[error("the group member failed: {0}")]
    GroupFailed(crate::group::GroupError),
    /// An ACL binding or filter that cannot be sent as given.
    #[error("invalid ACL {acl}: {reason}")]
    InvalidAcl {
        /// The binding or filter, as text.
        acl: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A SCRAM credential change that cannot be sent as given.
    #[error("invalid SCRAM credential change for user {user:?}: {reason}")]
    InvalidScramChange {
        /// The user.
        user: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A client quota change or filter that cannot be sent as given.
    #[error("invalid client quota for {entity}: {reason}")]
    InvalidQuota {
        /// The entity (or filter), as text.
        entity: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An OAuth token or its lifetime is unusable (the token is not shown).
    #[error("invalid OAuth token: {0}")]
    InvalidOAuthToken(&'static str),
    /// A reassignment's target replicas that cannot be sent as given.
    #[error("invalid reassignment of {partition}: {reason}")]
    InvalidReassignment {
        /// The partition.
        partition: TopicPartition,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A topic to create that cannot be sent as given (a replica
    /// assignment with gaps, empty or uneven replica lists, a broker
    /// named twice, an assignment besides a partition count, ...).
    #[error("invalid new topic {topic:?}: {reason}")]
    InvalidNewTopic {
        /// The topic.
        topic: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A feature update that cannot be sent as given.
    #[error("invalid update of feature {feature:?}: {reason}")]
    InvalidFeatureUpdate {
        /// The feature.
        feature: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// An error after which the client cannot continue. It is sticky: once
/// set, every command returns it as [`Misuse::Failed`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FatalError {
    /// Brokers report different cluster ids: the bootstrap list mixes
    /// clusters, or a broker was replaced by one from another cluster.
    #[error("cluster id changed from {expected:?} to {found:?}")]
    ClusterIdMismatch {
        /// The id seen first.
        expected: String,
        /// The id seen now.
        found: String,
    },
}

/// Why a connection was closed. Reported in
/// [`Event::ConnectionLost`](crate::Event::ConnectionLost).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The adapter could not open the socket.
    #[error("connect failed: {0}")]
    ConnectFailed(String),
    /// The socket was closed (by the peer or the network).
    #[error("connection closed")]
    Closed,
    /// The connection was not ready within `connection_setup_timeout`.
    #[error("connection setup timed out")]
    SetupTimeout,
    /// A request got no response within `request_timeout`.
    #[error("{api} request timed out")]
    RequestTimeout {
        /// The API of the request that timed out.
        api: ApiKey,
    },
    /// The broker broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The client closed it (shutdown, or the broker left the cluster).
    #[error("closed by the client")]
    Local,
    /// SASL authentication failed; the broker is backed off like any
    /// failed broker.
    #[error("authentication failed: {0}")]
    Authentication(#[from] AuthError),
    /// The TLS layer failed: a certificate that does not verify, a name
    /// mismatch, a handshake or record error.
    #[error("TLS error: {0}")]
    Tls(String),
}

/// The broker sent something the protocol does not allow. The connection
/// is closed; other connections are unaffected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A frame with a negative or oversized length prefix.
    #[error("bad frame: {0}")]
    Frame(DecodeError),
    /// A response arrived with no request outstanding.
    #[error("response with no request outstanding")]
    Unsolicited,
    /// A response answered another request than the oldest outstanding one.
    #[error("correlation id {got}, expected {expected}")]
    CorrelationMismatch {
        /// The oldest outstanding request's id.
        expected: i32,
        /// The id in the response.
        got: i32,
    },
    /// A response did not decode as the API and version requested.
    #[error("cannot decode {api} v{version} response: {error}")]
    Decode {
        /// The API of the request.
        api: ApiKey,
        /// Its version.
        version: i16,
        /// What was wrong.
        error: DecodeError,
    },
    /// The broker refused ApiVersions.
    #[error("ApiVersions failed: {0:?}")]
    ApiVersions(ErrorCode),
}

/// Why a request got no response. Its owner decides whether to retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The connection closed before the response arrived; the request
    /// may or may not have been processed.
    #[error("connection to {broker} lost: {reason}")]
    Disconnected {
        /// The broker it was sent to.
        broker: Broker,
        /// Why the connection closed.
        reason: DisconnectReason,
    },
    /// No connection could take it within `api_timeout`.
    #[error("no broker available within the API timeout")]
    Timeout,
    /// The broker supports no version of the API this client can use.
    #[error(transparent)]
    Unsupported(#[from] NoCommonVersion),
    /// The request could not be encoded (a bug in the caller's values).
    #[error("cannot encode request: {0}")]
    Encode(EncodeError),
    /// The client was closed.
    #[error("the client was closed")]
    Closed,
}

/// A broker and this client share no usable version of an API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{broker} supports no version of {api} this client can use")]
pub struct NoCommonVersion {
    /// The broker.
    pub broker: Broker,
    /// The API.
    pub api: ApiKey,
}
