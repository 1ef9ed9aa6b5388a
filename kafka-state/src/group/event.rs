//! What the group member reports and what its commands take.

use std::collections::BTreeMap;

use kafka_proto::ErrorCode;

use super::AssignError;
use crate::consumer::ConsumedOffset;
use crate::error::RequestError;
use crate::router::RequestId;
use crate::TopicPartition;

/// An offset to commit: the next record not processed (see
/// [consumed offsets](crate::consumer#consumed-offsets-positions-and-commits)),
/// the leader epoch of the record before it, and free-form metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OffsetAndMetadata {
    /// The offset of the next record to consume.
    pub offset: i64,
    /// The leader epoch of the last consumed record, if known.
    pub leader_epoch: Option<i32>,
    /// Stored with the offset (`offset.metadata.max.bytes` bounds it).
    pub metadata: Option<String>,
}

impl OffsetAndMetadata {
    /// An offset with its leader epoch and no metadata.
    pub fn new(offset: i64, leader_epoch: Option<i32>) -> Self {
        Self {
            offset,
            leader_epoch,
            metadata: None,
        }
    }

    /// Sets the metadata stored with the offset.
    pub fn with_metadata(mut self, metadata: impl Into<String>) -> Self {
        self.metadata = Some(metadata.into());
        self
    }
}

impl From<ConsumedOffset> for OffsetAndMetadata {
    fn from(c: ConsumedOffset) -> Self {
        Self::new(c.offset, c.leader_epoch)
    }
}

/// The member's place in its group, for a transactional producer's
/// `send_offsets_to_transaction` (the Java client's `groupMetadata()`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupMetadata {
    /// The group.
    pub group_id: String,
    /// The generation the member is in; -1 outside any.
    pub generation_id: i32,
    /// The id the coordinator gave the member; empty before it has one.
    pub member_id: String,
    /// The static instance id, if configured.
    pub group_instance_id: Option<String>,
}

impl GroupMetadata {
    /// Metadata naming only the group, for offsets sent to a transaction
    /// by a reader that is not a member of it (manual assignment): the
    /// coordinator checks no generation then, so nothing fences a zombie.
    /// A group member passes its consumer's `group_metadata()` instead.
    pub fn new(group_id: impl Into<String>) -> Self {
        Self {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

/// Why a commit failed for a partition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommitError {
    /// The group is rebalancing: nothing was committed. Commit again once
    /// the member is back in the group, for the partitions it still owns.
    #[error("the group is rebalancing; commit again after the rebalance")]
    RebalanceInProgress,
    /// The member's generation is over (ILLEGAL_GENERATION,
    /// UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, or the member left): the
    /// partitions may belong to another member already, so the offsets
    /// must not be committed. The Java client's `CommitFailedException`.
    #[error("the member is no longer in the generation that owned the partitions ({0:?})")]
    Rebalanced(ErrorCode),
    /// The partition was lost before the commit could be sent.
    #[error("the partition is no longer owned")]
    NotOwned,
    /// A later commit of the same partition replaced this one before it
    /// was sent again.
    #[error("a later commit of the partition replaced this one")]
    Superseded,
    /// The broker refused it for good.
    #[error("broker error {0:?}")]
    Broker(ErrorCode),
    /// Retriable failures until the API timeout; the last one is given.
    #[error("not committed within the API timeout (last error: {0:?})")]
    Timeout(Option<ErrorCode>),
    /// The client shut down.
    #[error(transparent)]
    Request(RequestError),
}

/// Why the member stopped for good. It leaves its partitions (as lost)
/// and does not rejoin; [`Consumer::subscribe`](crate::Consumer::subscribe)
/// then fails with [`Misuse::GroupFailed`](crate::Misuse::GroupFailed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// Another member uses the same `group_instance_id` (KIP-345).
    #[error("another member uses the same group instance id")]
    FencedInstanceId,
    /// The coordinator refused the member with an error retrying does not
    /// fix (INCONSISTENT_GROUP_PROTOCOL, INVALID_SESSION_TIMEOUT,
    /// GROUP_AUTHORIZATION_FAILED, GROUP_MAX_SIZE_REACHED, ...).
    #[error("the coordinator refused the member: {0:?}")]
    Broker(ErrorCode),
    /// The coordinator cannot be spoken to: it supports no version of a
    /// group API this client can use, or a request could not be encoded.
    #[error("the group protocol is unusable with the coordinator: {0}")]
    Unusable(RequestError),
    /// This member's subscription cannot be written in the consumer
    /// protocol (a value too long for the wire format, such as an
    /// assignor's user data over 2 GiB or a rack id over 32767 bytes).
    #[error("the member's subscription cannot be encoded: {0}")]
    Subscription(super::ProtocolError),
    /// The coordinator refused the regular expression of
    /// [`Consumer::subscribe_regex`](crate::Consumer::subscribe_regex)
    /// (INVALID_REGULAR_EXPRESSION), with the broker's explanation.
    /// Patterns are RE2/J syntax, checked only by the broker.
    #[error("the broker refused the subscription's regular expression: {0}")]
    InvalidRegularExpression(String),
}

/// Why the member left its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaveReason {
    /// [`Consumer::unsubscribe`](crate::Consumer::unsubscribe).
    Unsubscribed,
    /// The application did not take records within `max_poll_interval`;
    /// the next [`Consumer::record_poll`](crate::Consumer::record_poll)
    /// rejoins.
    PollIntervalExceeded,
}

/// What the group member reports, inside [`Event::Group`](crate::Event::Group).
/// Assignment changes come as
/// [`ConsumerEvent::PartitionsAssigned`](crate::ConsumerEvent::PartitionsAssigned),
/// `PartitionsRevoking`, `PartitionsRevoked` and `PartitionsLost`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum GroupEvent {
    /// The member joined a generation and received its assignment.
    Joined {
        /// The generation.
        generation_id: i32,
        /// The member's id.
        member_id: String,
        /// Whether this member computed the assignment.
        leader: bool,
        /// The assignor the group uses.
        protocol: String,
    },
    /// A commit finished, with a result per partition.
    Committed {
        /// The id [`Consumer::commit`](crate::Consumer::commit) returned;
        /// automatic commits have ids of their own.
        id: RequestId,
        /// An automatic commit (interval, before a revoke, on leaving).
        automatic: bool,
        /// Per partition, what was committed or why not.
        offsets: BTreeMap<TopicPartition, Result<OffsetAndMetadata, CommitError>>,
        /// Set when nothing was sent because the member was rebalancing or
        /// out of the group; every partition in `offsets` then carries the
        /// same error (there may be none: an eager member owns nothing
        /// while it rejoins).
        refused: Option<CommitError>,
    },
    /// The application did not call
    /// [`Consumer::revoke_done`](crate::Consumer::revoke_done) within
    /// [`GroupConfig::revoke_wait`](super::GroupConfig::revoke_wait) after
    /// [`ConsumerEvent::PartitionsRevoking`](crate::ConsumerEvent::PartitionsRevoking):
    /// the member revoked the partitions anyway (with auto-commit, what was
    /// consumed was committed first) and goes on rejoining or leaving.
    RevokeTimedOut {
        /// The partitions revoked without the application's word.
        partitions: Vec<TopicPartition>,
    },
    /// The leader's assignor failed; the member rejoins after a backoff.
    AssignFailed(AssignError),
    /// The member left the group.
    Left {
        /// Why.
        reason: LeaveReason,
    },
    /// The member stopped for good; see [`GroupError`].
    Failed(GroupError),
}
