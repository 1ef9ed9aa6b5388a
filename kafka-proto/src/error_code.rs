//! Kafka protocol error codes.
//!
//! Every response that can fail carries one or more `int16` error fields.
//! [`ErrorCode`] gives those numbers a name, a short description and the
//! retry classification Kafka's own client uses.
//!
//! The whole table lives in a single macro invocation below: the enum, the
//! code mapping, [`ErrorCode::name`], [`ErrorCode::description`],
//! [`ErrorCode::is_retriable`] and [`ErrorCode::ALL`] are all generated from
//! it, so they cannot disagree with each other.
//!
//! The table follows `clients/src/main/java/org/apache/kafka/common/protocol/Errors.java`
//! as of Apache Kafka 4.4 (codes -1 through 136, with no gaps). The
//! retriable flag is `true` exactly when the exception class Kafka maps
//! the code to extends `org.apache.kafka.common.errors.RetriableException`
//! (directly, or through `RefreshRetriableException` / `InvalidMetadataException`).
//! The descriptions are this crate's own wording.

use std::fmt;

/// Generates [`ErrorCode`] and everything derived from the table.
///
/// Each row is `code, Variant, "KAFKA_NAME", retriable, "description"`.
/// Rows must be in ascending code order (a test checks this).
macro_rules! error_codes {
    ($( $code:literal, $variant:ident, $name:literal, $retriable:literal, $desc:literal; )*) => {
        /// A Kafka protocol error code.
        ///
        /// One variant per code defined by Apache Kafka 4.4 (-1 through 136),
        /// plus [`ErrorCode::Unknown`] for any other value, so decoding a
        /// response from a newer broker never fails just because it sent a
        /// code this crate has not heard of.
        ///
        /// Convert from the wire value with [`ErrorCode::from_code`] (or
        /// `From<i16>`), and back with [`ErrorCode::code`] (or
        /// `From<ErrorCode> for i16`). [`ErrorCode::None`] (code 0) means
        /// success.
        ///
        /// # Example
        ///
        /// ```
        /// use kafka_proto::ErrorCode;
        ///
        /// let err = ErrorCode::from_code(6);
        /// assert_eq!(err, ErrorCode::NotLeaderOrFollower);
        /// assert_eq!(err.name(), "NOT_LEADER_OR_FOLLOWER");
        /// assert!(err.is_retriable());
        /// assert_eq!(i16::from(err), 6);
        ///
        /// // Checking a response field.
        /// assert_eq!(ErrorCode::from_code(0).result(), Ok(()));
        /// assert_eq!(
        ///     ErrorCode::check(29),
        ///     Err(ErrorCode::TopicAuthorizationFailed)
        /// );
        ///
        /// // Codes this crate does not know are kept, not rejected.
        /// let new = ErrorCode::from_code(9999);
        /// assert_eq!(new, ErrorCode::Unknown(9999));
        /// assert_eq!(new.code(), 9999);
        /// assert!(!new.is_retriable());
        /// ```
        #[non_exhaustive]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(
                #[doc = concat!("`", $name, "` (", stringify!($code), "): ", $desc)]
                $variant,
            )*
            /// A code this crate does not know, holding the raw wire value.
            ///
            /// [`ErrorCode::from_code`] only produces this for values that
            /// have no named variant; building `Unknown(n)` by hand for a
            /// known `n` gives a value that does not compare equal to the
            /// named variant.
            Unknown(i16),
        }

        impl ErrorCode {
            /// Every code this crate knows, in ascending code order.
            ///
            /// Does not include [`ErrorCode::Unknown`].
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The `int16` value sent on the wire.
            pub const fn code(self) -> i16 {
                match self {
                    $(ErrorCode::$variant => $code,)*
                    ErrorCode::Unknown(code) => code,
                }
            }

            /// Maps a wire value to its variant, or to
            /// [`ErrorCode::Unknown`] if the value has no named variant.
            ///
            /// Never fails: every `i16` maps to some `ErrorCode`, and
            /// `ErrorCode::from_code(n).code() == n` for all `n`.
            pub const fn from_code(code: i16) -> ErrorCode {
                match code {
                    $($code => ErrorCode::$variant,)*
                    other => ErrorCode::Unknown(other),
                }
            }

            /// Kafka's name for the code, e.g. `"UNKNOWN_TOPIC_OR_PARTITION"`.
            ///
            /// [`ErrorCode::Unknown`] gives `"UNKNOWN_ERROR_CODE"`, which is
            /// not a Kafka name.
            pub const fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                    ErrorCode::Unknown(_) => "UNKNOWN_ERROR_CODE",
                }
            }

            /// A one-line, human-readable explanation of the code.
            pub const fn description(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $desc,)*
                    ErrorCode::Unknown(_) => "The broker returned an error code this client does not recognize.",
                }
            }

            /// Whether the same request may succeed if sent again later.
            ///
            /// `true` exactly for the codes whose Kafka exception class
            /// extends `RetriableException`. Some of these (for example
            /// [`ErrorCode::NotLeaderOrFollower`]) only succeed on retry
            /// after refreshing metadata or finding the coordinator again.
            /// [`ErrorCode::Unknown`] is not retriable, matching Kafka's
            /// treatment of unrecognized codes as an unknown server error.
            pub const fn is_retriable(self) -> bool {
                match self {
                    $(ErrorCode::$variant => $retriable,)*
                    ErrorCode::Unknown(_) => false,
                }
            }
        }
    };
}

error_codes! {
    -1, UnknownServerError, "UNKNOWN_SERVER_ERROR", false,
        "The broker hit an unexpected internal failure while handling the request.";
    0, None, "NONE", false,
        "No error; the operation succeeded.";
    1, OffsetOutOfRange, "OFFSET_OUT_OF_RANGE", false,
        "The requested offset lies outside the range the broker holds for this partition.";
    2, CorruptMessage, "CORRUPT_MESSAGE", true,
        "A record failed validation: bad CRC, invalid size, null key on a compacted topic, or similar corruption.";
    3, UnknownTopicOrPartition, "UNKNOWN_TOPIC_OR_PARTITION", true,
        "The broker has no such topic or partition.";
    4, InvalidFetchSize, "INVALID_FETCH_SIZE", false,
        "The fetch size in the request is not valid.";
    5, LeaderNotAvailable, "LEADER_NOT_AVAILABLE", true,
        "The partition currently has no leader, typically because an election is in progress.";
    6, NotLeaderOrFollower, "NOT_LEADER_OR_FOLLOWER", true,
        "The broker is not the leader (or, for replica requests, not a replica) of the partition.";
    7, RequestTimedOut, "REQUEST_TIMED_OUT", true,
        "The broker did not complete the request within the allowed time.";
    8, BrokerNotAvailable, "BROKER_NOT_AVAILABLE", false,
        "The target broker is not available.";
    9, ReplicaNotAvailable, "REPLICA_NOT_AVAILABLE", true,
        "A replica of the partition is not available on the broker.";
    10, MessageTooLarge, "MESSAGE_TOO_LARGE", false,
        "A record or batch is larger than the broker's configured maximum.";
    11, StaleControllerEpoch, "STALE_CONTROLLER_EPOCH", false,
        "The request carried an outdated controller epoch; the controller has moved.";
    12, OffsetMetadataTooLarge, "OFFSET_METADATA_TOO_LARGE", false,
        "The metadata string attached to an offset commit is too long.";
    13, NetworkException, "NETWORK_EXCEPTION", true,
        "The connection was closed before a response arrived.";
    14, CoordinatorLoadInProgress, "COORDINATOR_LOAD_IN_PROGRESS", true,
        "The coordinator is still loading its state and cannot serve the request yet.";
    15, CoordinatorNotAvailable, "COORDINATOR_NOT_AVAILABLE", true,
        "No coordinator is currently available for this group or transaction.";
    16, NotCoordinator, "NOT_COORDINATOR", true,
        "The broker is not the coordinator for this group or transaction.";
    17, InvalidTopicException, "INVALID_TOPIC_EXCEPTION", false,
        "The topic name is invalid or the operation is not allowed on this topic.";
    18, RecordListTooLarge, "RECORD_LIST_TOO_LARGE", false,
        "A record batch is larger than the broker's log segment size.";
    19, NotEnoughReplicas, "NOT_ENOUGH_REPLICAS", true,
        "Too few in-sync replicas to accept the write; nothing was appended.";
    20, NotEnoughReplicasAfterAppend, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", true,
        "The write was appended, but fewer in-sync replicas than required acknowledged it.";
    21, InvalidRequiredAcks, "INVALID_REQUIRED_ACKS", false,
        "The acks value in the produce request is not allowed.";
    22, IllegalGeneration, "ILLEGAL_GENERATION", false,
        "The group generation id in the request is not the current one.";
    23, InconsistentGroupProtocol, "INCONSISTENT_GROUP_PROTOCOL", false,
        "The member's protocol type or protocols do not match the group, or are empty.";
    24, InvalidGroupId, "INVALID_GROUP_ID", false,
        "The group id is not valid.";
    25, UnknownMemberId, "UNKNOWN_MEMBER_ID", false,
        "The coordinator does not recognize this member id.";
    26, InvalidSessionTimeout, "INVALID_SESSION_TIMEOUT", false,
        "The session timeout is outside the range the broker permits.";
    27, RebalanceInProgress, "REBALANCE_IN_PROGRESS", false,
        "The group is rebalancing; the member must rejoin.";
    28, InvalidCommitOffsetSize, "INVALID_COMMIT_OFFSET_SIZE", false,
        "The offset commit payload has an invalid size.";
    29, TopicAuthorizationFailed, "TOPIC_AUTHORIZATION_FAILED", false,
        "The client is not authorized to access the topic.";
    30, GroupAuthorizationFailed, "GROUP_AUTHORIZATION_FAILED", false,
        "The client is not authorized to access the group.";
    31, ClusterAuthorizationFailed, "CLUSTER_AUTHORIZATION_FAILED", false,
        "The client is not authorized for this cluster-level operation.";
    32, InvalidTimestamp, "INVALID_TIMESTAMP", false,
        "A record timestamp is outside the range the broker accepts.";
    33, UnsupportedSaslMechanism, "UNSUPPORTED_SASL_MECHANISM", false,
        "The broker does not offer the requested SASL mechanism.";
    34, IllegalSaslState, "ILLEGAL_SASL_STATE", false,
        "The request is not allowed at this point of the SASL exchange.";
    35, UnsupportedVersion, "UNSUPPORTED_VERSION", false,
        "The broker does not support this API version.";
    36, TopicAlreadyExists, "TOPIC_ALREADY_EXISTS", false,
        "A topic with this name already exists.";
    37, InvalidPartitions, "INVALID_PARTITIONS", false,
        "The requested number of partitions is not valid.";
    38, InvalidReplicationFactor, "INVALID_REPLICATION_FACTOR", false,
        "The replication factor is not valid for this cluster.";
    39, InvalidReplicaAssignment, "INVALID_REPLICA_ASSIGNMENT", false,
        "The explicit replica assignment is not valid.";
    40, InvalidConfig, "INVALID_CONFIG", false,
        "A configuration value in the request is not valid.";
    41, NotController, "NOT_CONTROLLER", true,
        "The broker is not the active controller.";
    42, InvalidRequest, "INVALID_REQUEST", false,
        "The request is malformed or not valid for this broker; the broker log has details.";
    43, UnsupportedForMessageFormat, "UNSUPPORTED_FOR_MESSAGE_FORMAT", false,
        "The topic's message format version does not support this request.";
    44, PolicyViolation, "POLICY_VIOLATION", false,
        "The request was rejected by a broker-side policy.";
    45, OutOfOrderSequenceNumber, "OUT_OF_ORDER_SEQUENCE_NUMBER", false,
        "The broker received a producer sequence number out of order.";
    46, DuplicateSequenceNumber, "DUPLICATE_SEQUENCE_NUMBER", false,
        "The broker already has a batch with this producer sequence number.";
    47, InvalidProducerEpoch, "INVALID_PRODUCER_EPOCH", false,
        "The producer epoch is outdated; a newer producer instance has taken over.";
    48, InvalidTxnState, "INVALID_TXN_STATE", false,
        "The transactional operation is not valid in the transaction's current state.";
    49, InvalidProducerIdMapping, "INVALID_PRODUCER_ID_MAPPING", false,
        "The producer id is not the one assigned to this transactional id.";
    50, InvalidTransactionTimeout, "INVALID_TRANSACTION_TIMEOUT", false,
        "The transaction timeout exceeds the broker's maximum.";
    51, ConcurrentTransactions, "CONCURRENT_TRANSACTIONS", true,
        "Another operation on the same transaction is still in progress.";
    52, TransactionCoordinatorFenced, "TRANSACTION_COORDINATOR_FENCED", false,
        "The transaction coordinator sending the marker is no longer the current one.";
    53, TransactionalIdAuthorizationFailed, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", false,
        "The client is not authorized to use this transactional id.";
    54, SecurityDisabled, "SECURITY_DISABLED", false,
        "Security features are turned off on the broker.";
    55, OperationNotAttempted, "OPERATION_NOT_ATTEMPTED", false,
        "The broker skipped this operation because another operation in the batch failed.";
    56, KafkaStorageError, "KAFKA_STORAGE_ERROR", true,
        "The broker hit a disk error accessing the log.";
    57, LogDirNotFound, "LOG_DIR_NOT_FOUND", false,
        "The named log directory is not configured on the broker.";
    58, SaslAuthenticationFailed, "SASL_AUTHENTICATION_FAILED", false,
        "SASL authentication did not succeed.";
    59, UnknownProducerId, "UNKNOWN_PRODUCER_ID", false,
        "The broker holds no state for this producer id, for example after its records expired.";
    60, ReassignmentInProgress, "REASSIGNMENT_IN_PROGRESS", false,
        "A partition reassignment is already running.";
    61, DelegationTokenAuthDisabled, "DELEGATION_TOKEN_AUTH_DISABLED", false,
        "Delegation tokens are not enabled on the broker.";
    62, DelegationTokenNotFound, "DELEGATION_TOKEN_NOT_FOUND", false,
        "The broker has no such delegation token.";
    63, DelegationTokenOwnerMismatch, "DELEGATION_TOKEN_OWNER_MISMATCH", false,
        "The principal is not the token's owner or an allowed renewer.";
    64, DelegationTokenRequestNotAllowed, "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED", false,
        "Delegation token requests are not accepted on this kind of connection.";
    65, DelegationTokenAuthorizationFailed, "DELEGATION_TOKEN_AUTHORIZATION_FAILED", false,
        "The client is not authorized for this delegation token operation.";
    66, DelegationTokenExpired, "DELEGATION_TOKEN_EXPIRED", false,
        "The delegation token has expired.";
    67, InvalidPrincipalType, "INVALID_PRINCIPAL_TYPE", false,
        "The principal type is not supported.";
    68, NonEmptyGroup, "NON_EMPTY_GROUP", false,
        "The group still has members, so the operation is refused.";
    69, GroupIdNotFound, "GROUP_ID_NOT_FOUND", false,
        "No group with this id exists.";
    70, FetchSessionIdNotFound, "FETCH_SESSION_ID_NOT_FOUND", true,
        "The broker has no fetch session with this id.";
    71, InvalidFetchSessionEpoch, "INVALID_FETCH_SESSION_EPOCH", true,
        "The fetch session epoch does not match what the broker expects.";
    72, ListenerNotFound, "LISTENER_NOT_FOUND", true,
        "The partition leader has no listener matching the one the metadata request used.";
    73, TopicDeletionDisabled, "TOPIC_DELETION_DISABLED", false,
        "Deleting topics is disabled on this cluster.";
    74, FencedLeaderEpoch, "FENCED_LEADER_EPOCH", true,
        "The leader epoch in the request is older than the broker's.";
    75, UnknownLeaderEpoch, "UNKNOWN_LEADER_EPOCH", true,
        "The leader epoch in the request is newer than the broker's.";
    76, UnsupportedCompressionType, "UNSUPPORTED_COMPRESSION_TYPE", false,
        "The client cannot handle the compression type used by this partition.";
    77, StaleBrokerEpoch, "STALE_BROKER_EPOCH", false,
        "The broker epoch in the request is outdated.";
    78, OffsetNotAvailable, "OFFSET_NOT_AVAILABLE", true,
        "The offset cannot be served yet because the new leader's high watermark has not caught up.";
    79, MemberIdRequired, "MEMBER_ID_REQUIRED", false,
        "The member must rejoin using the member id the coordinator assigned.";
    80, PreferredLeaderNotAvailable, "PREFERRED_LEADER_NOT_AVAILABLE", true,
        "The preferred leader replica is not available.";
    81, GroupMaxSizeReached, "GROUP_MAX_SIZE_REACHED", false,
        "The group already has the maximum number of members.";
    82, FencedInstanceId, "FENCED_INSTANCE_ID", false,
        "Another member with the same group.instance.id has replaced this one.";
    83, EligibleLeadersNotAvailable, "ELIGIBLE_LEADERS_NOT_AVAILABLE", true,
        "No replica eligible to become leader is available.";
    84, ElectionNotNeeded, "ELECTION_NOT_NEEDED", true,
        "A leader election is not needed for this partition.";
    85, NoReassignmentInProgress, "NO_REASSIGNMENT_IN_PROGRESS", false,
        "There is no partition reassignment to cancel or alter.";
    86, GroupSubscribedToTopic, "GROUP_SUBSCRIBED_TO_TOPIC", false,
        "Offsets cannot be deleted while the group is subscribed to the topic.";
    87, InvalidRecord, "INVALID_RECORD", false,
        "The broker rejected a record that failed its validation.";
    88, UnstableOffsetCommit, "UNSTABLE_OFFSET_COMMIT", true,
        "Pending transactional offset commits must complete before offsets can be read.";
    89, ThrottlingQuotaExceeded, "THROTTLING_QUOTA_EXCEEDED", true,
        "The request exceeded a throttling quota.";
    90, ProducerFenced, "PRODUCER_FENCED", false,
        "A newer producer with the same transactional id has fenced this one.";
    91, ResourceNotFound, "RESOURCE_NOT_FOUND", false,
        "The request refers to a resource that does not exist.";
    92, DuplicateResource, "DUPLICATE_RESOURCE", false,
        "The request names the same resource more than once.";
    93, UnacceptableCredential, "UNACCEPTABLE_CREDENTIAL", false,
        "The requested credential does not meet the acceptance criteria.";
    94, InconsistentVoterSet, "INCONSISTENT_VOTER_SET", false,
        "The sender or receiver of a voter-only request is not an expected voter.";
    95, InvalidUpdateVersion, "INVALID_UPDATE_VERSION", false,
        "The update version in the request is not valid.";
    96, FeatureUpdateFailed, "FEATURE_UPDATE_FAILED", false,
        "The finalized feature update failed due to a server-side error.";
    97, PrincipalDeserializationFailure, "PRINCIPAL_DESERIALIZATION_FAILURE", false,
        "A forwarded request's principal could not be deserialized.";
    98, SnapshotNotFound, "SNAPSHOT_NOT_FOUND", false,
        "The requested snapshot does not exist.";
    99, PositionOutOfRange, "POSITION_OUT_OF_RANGE", false,
        "The requested snapshot position is negative or beyond the snapshot's size.";
    100, UnknownTopicId, "UNKNOWN_TOPIC_ID", true,
        "The broker has no topic with this topic id.";
    101, DuplicateBrokerRegistration, "DUPLICATE_BROKER_REGISTRATION", false,
        "Another broker is already registered with this broker id.";
    102, BrokerIdNotRegistered, "BROKER_ID_NOT_REGISTERED", false,
        "No broker is registered with this broker id.";
    103, InconsistentTopicId, "INCONSISTENT_TOPIC_ID", true,
        "The topic id in the request does not match the one in the broker's log.";
    104, InconsistentClusterId, "INCONSISTENT_CLUSTER_ID", false,
        "The cluster id in the request does not match the server's.";
    105, TransactionalIdNotFound, "TRANSACTIONAL_ID_NOT_FOUND", false,
        "No transaction with this transactional id exists.";
    106, FetchSessionTopicIdError, "FETCH_SESSION_TOPIC_ID_ERROR", true,
        "The fetch session mixed or changed topic ids inconsistently.";
    107, IneligibleReplica, "INELIGIBLE_REPLICA", false,
        "The proposed ISR includes a replica that is not eligible to be in it.";
    108, NewLeaderElected, "NEW_LEADER_ELECTED", false,
        "The partition state was updated, but leadership has since moved to another broker.";
    109, OffsetMovedToTieredStorage, "OFFSET_MOVED_TO_TIERED_STORAGE", false,
        "The requested offset is only available from tiered storage.";
    110, FencedMemberEpoch, "FENCED_MEMBER_EPOCH", false,
        "The member epoch is fenced; the member must give up its partitions and rejoin.";
    111, UnreleasedInstanceId, "UNRELEASED_INSTANCE_ID", false,
        "The instance id is still held by another member, which must leave first.";
    112, UnsupportedAssignor, "UNSUPPORTED_ASSIGNOR", false,
        "The group does not support the requested assignor or assignor version.";
    113, StaleMemberEpoch, "STALE_MEMBER_EPOCH", false,
        "The member epoch is outdated; retry once the heartbeat returns the current epoch.";
    114, MismatchedEndpointType, "MISMATCHED_ENDPOINT_TYPE", false,
        "The request was sent to the wrong kind of endpoint (broker vs controller).";
    115, UnsupportedEndpointType, "UNSUPPORTED_ENDPOINT_TYPE", false,
        "The requested endpoint type is not supported.";
    116, UnknownControllerId, "UNKNOWN_CONTROLLER_ID", false,
        "The controller id is not known.";
    117, UnknownSubscriptionId, "UNKNOWN_SUBSCRIPTION_ID", false,
        "The client telemetry subscription id is unknown or outdated.";
    118, TelemetryTooLarge, "TELEMETRY_TOO_LARGE", false,
        "The pushed client telemetry exceeds the broker's size limit.";
    119, InvalidRegistration, "INVALID_REGISTRATION", false,
        "The controller considers the broker's registration invalid.";
    120, TransactionAbortable, "TRANSACTION_ABORTABLE", false,
        "The transaction failed but can be aborted so the transactional id stays usable.";
    121, InvalidRecordState, "INVALID_RECORD_STATE", false,
        "The record is not in a state that allows this acknowledgement.";
    122, ShareSessionNotFound, "SHARE_SESSION_NOT_FOUND", true,
        "The broker has no such share session.";
    123, InvalidShareSessionEpoch, "INVALID_SHARE_SESSION_EPOCH", true,
        "The share session epoch does not match what the broker expects.";
    124, FencedStateEpoch, "FENCED_STATE_EPOCH", false,
        "The share-group state epoch is outdated, so the share coordinator rejected the request.";
    125, InvalidVoterKey, "INVALID_VOTER_KEY", false,
        "The voter key does not match the receiving replica.";
    126, DuplicateVoter, "DUPLICATE_VOTER", false,
        "The voter is already in the voter set.";
    127, VoterNotFound, "VOTER_NOT_FOUND", false,
        "The voter is not in the voter set.";
    128, InvalidRegularExpression, "INVALID_REGULAR_EXPRESSION", false,
        "The subscription regular expression is not valid.";
    129, RebootstrapRequired, "REBOOTSTRAP_REQUIRED", false,
        "The client's metadata is stale; it must rebootstrap from its bootstrap servers.";
    130, StreamsInvalidTopology, "STREAMS_INVALID_TOPOLOGY", false,
        "The Streams topology supplied by the member is not valid.";
    131, StreamsInvalidTopologyEpoch, "STREAMS_INVALID_TOPOLOGY_EPOCH", false,
        "The Streams topology epoch supplied by the member is not valid.";
    132, StreamsTopologyFenced, "STREAMS_TOPOLOGY_FENCED", false,
        "The Streams topology epoch supplied by the member is older than the group's.";
    133, ShareSessionLimitReached, "SHARE_SESSION_LIMIT_REACHED", true,
        "The broker cannot open another share session because its limit is reached.";
    134, GroupDeletionFailed, "GROUP_DELETION_FAILED", false,
        "The group could not be deleted; the per-group error message says why.";
    135, StreamsTopologyDescriptionUpdateFailed, "STREAMS_TOPOLOGY_DESCRIPTION_UPDATE_FAILED", false,
        "The broker could not apply the Streams topology description update.";
    136, ControllerIdNotRegistered, "CONTROLLER_ID_NOT_REGISTERED", false,
        "The controller id is not registered with the quorum.";
}

impl ErrorCode {
    /// Whether this code reports a failure, i.e. it is anything but
    /// [`ErrorCode::None`].
    pub const fn is_error(self) -> bool {
        !matches!(self, ErrorCode::None)
    }

    /// `Ok(())` for [`ErrorCode::None`], `Err(self)` for every other code.
    ///
    /// ```
    /// use kafka_proto::ErrorCode;
    ///
    /// fn handle(error_code: i16) -> Result<(), ErrorCode> {
    ///     ErrorCode::from_code(error_code).result()?;
    ///     Ok(())
    /// }
    /// assert!(handle(0).is_ok());
    /// assert_eq!(handle(3), Err(ErrorCode::UnknownTopicOrPartition));
    /// ```
    pub const fn result(self) -> Result<(), ErrorCode> {
        if self.is_error() {
            Err(self)
        } else {
            Ok(())
        }
    }

    /// Checks a raw response error field: `Ok(())` for 0, otherwise the
    /// decoded code as the error. Shorthand for
    /// `ErrorCode::from_code(code).result()`.
    pub const fn check(code: i16) -> Result<(), ErrorCode> {
        ErrorCode::from_code(code).result()
    }
}

impl From<i16> for ErrorCode {
    fn from(code: i16) -> Self {
        ErrorCode::from_code(code)
    }
}

impl From<ErrorCode> for i16 {
    fn from(error: ErrorCode) -> Self {
        error.code()
    }
}

/// Formats as `NAME (code): description`.
impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.name(),
            self.code(),
            self.description()
        )
    }
}

impl std::error::Error for ErrorCode {}

#[cfg(test)]
mod tests {
    use super::ErrorCode;
    use std::collections::HashSet;

    /// Highest code defined by Apache Kafka 4.4.
    const MAX_KNOWN: i16 = 136;

    #[test]
    fn error_code_count_and_range() {
        // -1 and 0 through 136, no gaps.
        assert_eq!(ErrorCode::ALL.len(), 138);
        assert_eq!(ErrorCode::ALL.first().unwrap().code(), -1);
        assert_eq!(ErrorCode::ALL.last().unwrap().code(), MAX_KNOWN);
    }

    #[test]
    fn error_code_all_sorted_and_contiguous() {
        // Kafka has no gaps between -1 and the highest code.
        let codes: Vec<i16> = ErrorCode::ALL.iter().map(|e| e.code()).collect();
        let expected: Vec<i16> = (-1..=MAX_KNOWN).collect();
        assert_eq!(codes, expected);
    }

    #[test]
    fn error_code_codes_unique() {
        let codes: HashSet<i16> = ErrorCode::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), ErrorCode::ALL.len());
        let variants: HashSet<ErrorCode> = ErrorCode::ALL.iter().copied().collect();
        assert_eq!(variants.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn error_code_round_trips() {
        for &e in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(e.code()), e, "{e:?}");
            assert_eq!(ErrorCode::from(i16::from(e)), e, "{e:?}");
            assert!(!matches!(e, ErrorCode::Unknown(_)), "{e:?}");
        }
    }

    #[test]
    fn error_code_unknown_codes_round_trip() {
        let known: HashSet<i16> = ErrorCode::ALL.iter().map(|e| e.code()).collect();
        for n in i16::MIN..=i16::MAX {
            let e = ErrorCode::from_code(n);
            assert_eq!(e.code(), n);
            if known.contains(&n) {
                assert!(!matches!(e, ErrorCode::Unknown(_)), "{n}");
            } else {
                assert_eq!(e, ErrorCode::Unknown(n));
                assert_eq!(i16::from(e), n);
                assert!(e.is_error());
                assert!(!e.is_retriable());
                assert_eq!(e.name(), "UNKNOWN_ERROR_CODE");
                assert_eq!(e.result(), Err(e));
            }
        }
        assert_eq!(ErrorCode::from_code(-2), ErrorCode::Unknown(-2));
        assert_eq!(
            ErrorCode::from_code(MAX_KNOWN + 1),
            ErrorCode::Unknown(MAX_KNOWN + 1)
        );
        assert_eq!(ErrorCode::from_code(i16::MIN), ErrorCode::Unknown(i16::MIN));
    }

    fn is_screaming_snake(s: &str) -> bool {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            && s.starts_with(|c: char| c.is_ascii_uppercase())
            && !s.ends_with('_')
            && !s.contains("__")
    }

    fn camel_case(screaming: &str) -> String {
        screaming
            .split('_')
            .map(|word| {
                let mut chars = word.chars();
                let first = chars.next().unwrap();
                first.to_string() + &chars.as_str().to_ascii_lowercase()
            })
            .collect()
    }

    #[test]
    fn error_code_names_screaming_snake_and_unique() {
        let mut names = HashSet::new();
        for &e in ErrorCode::ALL {
            let name = e.name();
            assert!(is_screaming_snake(name), "{name}");
            assert!(names.insert(name), "duplicate name {name}");
        }
        assert!(is_screaming_snake(ErrorCode::Unknown(9999).name()));
        assert!(!names.contains(ErrorCode::Unknown(9999).name()));
    }

    #[test]
    fn error_code_variant_matches_name() {
        for &e in ErrorCode::ALL {
            assert_eq!(format!("{e:?}"), camel_case(e.name()));
        }
    }

    #[test]
    fn error_code_descriptions_are_one_line() {
        for &e in ErrorCode::ALL.iter().chain(&[ErrorCode::Unknown(1000)]) {
            let d = e.description();
            assert!(!d.is_empty(), "{e:?}");
            assert!(!d.contains('\n'), "{e:?}");
            assert!(d.ends_with('.'), "{e:?}");
        }
    }

    #[test]
    fn error_code_known_values() {
        let cases: &[(i16, ErrorCode, &str, bool)] = &[
            (
                -1,
                ErrorCode::UnknownServerError,
                "UNKNOWN_SERVER_ERROR",
                false,
            ),
            (0, ErrorCode::None, "NONE", false),
            (1, ErrorCode::OffsetOutOfRange, "OFFSET_OUT_OF_RANGE", false),
            (2, ErrorCode::CorruptMessage, "CORRUPT_MESSAGE", true),
            (
                3,
                ErrorCode::UnknownTopicOrPartition,
                "UNKNOWN_TOPIC_OR_PARTITION",
                true,
            ),
            (
                6,
                ErrorCode::NotLeaderOrFollower,
                "NOT_LEADER_OR_FOLLOWER",
                true,
            ),
            (7, ErrorCode::RequestTimedOut, "REQUEST_TIMED_OUT", true),
            (
                8,
                ErrorCode::BrokerNotAvailable,
                "BROKER_NOT_AVAILABLE",
                false,
            ),
            (
                14,
                ErrorCode::CoordinatorLoadInProgress,
                "COORDINATOR_LOAD_IN_PROGRESS",
                true,
            ),
            (16, ErrorCode::NotCoordinator, "NOT_COORDINATOR", true),
            (
                19,
                ErrorCode::NotEnoughReplicas,
                "NOT_ENOUGH_REPLICAS",
                true,
            ),
            (
                27,
                ErrorCode::RebalanceInProgress,
                "REBALANCE_IN_PROGRESS",
                false,
            ),
            (
                29,
                ErrorCode::TopicAuthorizationFailed,
                "TOPIC_AUTHORIZATION_FAILED",
                false,
            ),
            (
                35,
                ErrorCode::UnsupportedVersion,
                "UNSUPPORTED_VERSION",
                false,
            ),
            (
                36,
                ErrorCode::TopicAlreadyExists,
                "TOPIC_ALREADY_EXISTS",
                false,
            ),
            (42, ErrorCode::InvalidRequest, "INVALID_REQUEST", false),
            (
                45,
                ErrorCode::OutOfOrderSequenceNumber,
                "OUT_OF_ORDER_SEQUENCE_NUMBER",
                false,
            ),
            (
                47,
                ErrorCode::InvalidProducerEpoch,
                "INVALID_PRODUCER_EPOCH",
                false,
            ),
            (
                51,
                ErrorCode::ConcurrentTransactions,
                "CONCURRENT_TRANSACTIONS",
                true,
            ),
            (
                59,
                ErrorCode::UnknownProducerId,
                "UNKNOWN_PRODUCER_ID",
                false,
            ),
            (79, ErrorCode::MemberIdRequired, "MEMBER_ID_REQUIRED", false),
            (90, ErrorCode::ProducerFenced, "PRODUCER_FENCED", false),
            (100, ErrorCode::UnknownTopicId, "UNKNOWN_TOPIC_ID", true),
            (
                120,
                ErrorCode::TransactionAbortable,
                "TRANSACTION_ABORTABLE",
                false,
            ),
            (
                129,
                ErrorCode::RebootstrapRequired,
                "REBOOTSTRAP_REQUIRED",
                false,
            ),
            (
                132,
                ErrorCode::StreamsTopologyFenced,
                "STREAMS_TOPOLOGY_FENCED",
                false,
            ),
            (
                133,
                ErrorCode::ShareSessionLimitReached,
                "SHARE_SESSION_LIMIT_REACHED",
                true,
            ),
            // DeleteGroups v3 (Kafka 4.4) pairs this code with a message.
            (
                134,
                ErrorCode::GroupDeletionFailed,
                "GROUP_DELETION_FAILED",
                false,
            ),
        ];
        for &(code, variant, name, retriable) in cases {
            assert_eq!(ErrorCode::from_code(code), variant, "{code}");
            assert_eq!(variant.code(), code, "{name}");
            assert_eq!(variant.name(), name, "{code}");
            assert_eq!(variant.is_retriable(), retriable, "{name}");
        }
    }

    #[test]
    fn error_code_retriable_set_matches_kafka() {
        // Codes whose Kafka exception extends RetriableException (directly,
        // or via RefreshRetriableException / InvalidMetadataException).
        let expected: HashSet<i16> = [
            2, 3, 5, 6, 7, 9, 13, 14, 15, 16, 19, 20, 41, 51, 56, 70, 71, 72, 74, 75, 78, 80, 83,
            84, 88, 89, 100, 103, 106, 122, 123, 133,
        ]
        .into_iter()
        .collect();
        let actual: HashSet<i16> = ErrorCode::ALL
            .iter()
            .filter(|e| e.is_retriable())
            .map(|e| e.code())
            .collect();
        assert_eq!(actual, expected);
    }

    #[test]
    fn error_code_is_error_and_result() {
        assert!(!ErrorCode::None.is_error());
        assert_eq!(ErrorCode::None.result(), Ok(()));
        assert_eq!(ErrorCode::check(0), Ok(()));
        for &e in ErrorCode::ALL.iter().filter(|e| **e != ErrorCode::None) {
            assert!(e.is_error(), "{e:?}");
            assert_eq!(e.result(), Err(e));
            assert_eq!(ErrorCode::check(e.code()), Err(e));
        }
    }

    #[test]
    fn error_code_display_and_error_trait() {
        let e = ErrorCode::UnknownTopicOrPartition;
        let shown = e.to_string();
        assert!(
            shown.starts_with("UNKNOWN_TOPIC_OR_PARTITION (3): "),
            "{shown}"
        );
        assert!(shown.ends_with(e.description()), "{shown}");
        assert_eq!(
            ErrorCode::Unknown(-7).to_string(),
            format!(
                "UNKNOWN_ERROR_CODE (-7): {}",
                ErrorCode::Unknown(-7).description()
            )
        );
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
        assert_eq!(boxed.to_string(), shown);
    }
}
