//! The one error type every adapter returns.

use kafka_proto::ErrorCode;
use kafka_state::admin::TopicOutcome;
use std::collections::BTreeMap;

use kafka_state::consumer::FetchError;
use kafka_state::group::{CommitError, GroupError};
use kafka_state::producer::{InvalidRecord, ProduceError, SendError, TxnError};
use kafka_state::{DisconnectReason, FatalError, Misuse, RequestError, TopicPartition};

/// Why an application call failed.
///
/// Nothing is folded into a neighbour: a full producer buffer, a record
/// whose delivery timeout passed and a call that ran out of time are three
/// variants, so an application can react to each. [`Error::is_retriable`]
/// says whether trying the same call again may succeed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The arguments or the configuration were wrong; nothing was sent.
    #[error(transparent)]
    Misuse(Misuse),
    /// No broker answered the request.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// A broker answered with an error code.
    #[error("{code}{}", message.as_deref().map(|m| format!(" [{m}]")).unwrap_or_default())]
    Kafka {
        /// The code; its name is `code.name()`.
        code: ErrorCode,
        /// The broker's explanation or the object concerned, if any.
        message: Option<String>,
    },
    /// A record was refused before it was sent.
    #[error("invalid record: {0}")]
    InvalidRecord(InvalidRecord),
    /// A record could not be written for a reason other than a broker
    /// error code (an unknown partition, an encoding failure).
    #[error(transparent)]
    Produce(ProduceError),
    /// The producer's buffer (`buffer_memory`) had no room for the record
    /// and the call does not wait for room.
    #[error("the producer's buffer is full")]
    BufferFull,
    /// A record was not acknowledged within the producer's
    /// `delivery_timeout`; it may or may not have been written.
    #[error("the record's delivery timeout passed")]
    DeliveryTimeout,
    /// Fetching a partition stopped at `offset`; it resumes after a seek.
    /// For corrupt data (`error` is [`FetchError::Corrupt`]), seeking to
    /// `offset + 1` skips the bad record.
    #[error("fetching {partition} stopped at offset {offset}: {error}")]
    Fetch {
        /// The partition.
        partition: TopicPartition,
        /// Where it stopped (-1 if it had no position).
        offset: i64,
        /// Why.
        error: FetchError,
    },
    /// A partition has no valid position and `auto_offset_reset` is
    /// `None`: seek it.
    #[error("{partition} has no position{}", out_of_range.map(|o| format!(" (offset {o} is out of range)")).unwrap_or_default())]
    NoPosition {
        /// The partition.
        partition: TopicPartition,
        /// The offset the broker rejected, if that is why.
        out_of_range: Option<i64>,
    },
    /// The client failed for good.
    #[error(transparent)]
    Fatal(#[from] FatalError),
    /// A socket or thread could not be set up.
    #[error("I/O: {0}")]
    Io(String),
    /// The call did not finish within its timeout.
    #[error("timed out")]
    Timeout,
    /// Another consumer of this client is alive; a client has one
    /// assignment, so it hands out one consumer at a time.
    #[error("this client already has a consumer")]
    ConsumerInUse,
    /// A commit did not go through for every partition. `refused` is set
    /// when nothing was sent (the member was rebalancing or out of its
    /// group); `failed` names each partition that was not committed and
    /// why. Partitions not named were committed.
    #[error("commit failed{}{}", refused.as_ref().map(|r| format!(": {r}")).unwrap_or_default(), failed.iter().next().map(|(tp, e)| format!(" ({} partition(s), {tp}: {e})", failed.len())).unwrap_or_default())]
    Commit {
        /// Why nothing was sent, if so.
        refused: Option<CommitError>,
        /// The partitions not committed.
        failed: BTreeMap<TopicPartition, CommitError>,
    },
    /// Not a failure: the group member is about to revoke these
    /// partitions and waits for the application first
    /// (`GroupConfig::await_revoke`). A consumer yields it once, in place
    /// of a record: commit what was processed, then call the consumer's
    /// `revoke_done` (the member revokes anyway after
    /// `GroupConfig::revoke_wait`). Records of the partitions are no
    /// longer yielded; polling again goes on with the others.
    #[error("partitions are being revoked: commit, then call revoke_done ({} partition(s){})", .0.len(), .0.first().map(|tp| format!(", {tp}")).unwrap_or_default())]
    Revoking(Vec<TopicPartition>),
    /// The group member stopped for good (fenced, or refused by the
    /// coordinator); the consumer no longer gets partitions from the group.
    #[error("the consumer group member stopped: {0}")]
    Group(GroupError),
    /// A transactional producer's call failed: abort and retry the
    /// transaction for [`TxnError::Abortable`], drop the producer for
    /// [`TxnError::Fatal`].
    #[error(transparent)]
    Transaction(TxnError),
    /// The client was closed.
    #[error("the client is closed")]
    Closed,
    /// A bug in this library: the core broke its own contract (for
    /// example, answered a call with another call's kind of result).
    #[error("internal error: {0}")]
    Unexpected(&'static str),
}

impl Error {
    /// The Kafka error code, when a broker sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Kafka { code, .. } => Some(*code),
            Error::Fetch {
                error: FetchError::Broker(code),
                ..
            } => Some(*code),
            _ => None,
        }
    }

    /// Whether the same call may succeed if made again: a broker error
    /// Kafka calls retriable, a broker nobody reached, a timeout, a full
    /// buffer. Misuse, invalid records, fatal errors and a closed client
    /// are not.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Kafka { code, .. } => code.is_retriable(),
            // A broker that refused our credentials or certificate will
            // refuse them again.
            Error::Request(RequestError::Disconnected { reason, .. }) => !matches!(
                reason,
                DisconnectReason::Authentication(_) | DisconnectReason::Tls(_)
            ),
            Error::Request(RequestError::Timeout) => true,
            Error::Produce(ProduceError::InvalidPartition { .. }) => true,
            Error::BufferFull | Error::DeliveryTimeout | Error::Timeout => true,
            // Polling again goes on.
            Error::Revoking(_) => true,
            // After the rebalance the member may commit what it still owns.
            Error::Commit {
                refused: Some(CommitError::RebalanceInProgress),
                ..
            } => true,
            Error::Fetch {
                error: FetchError::Broker(code),
                ..
            } => code.is_retriable(),
            _ => false,
        }
    }

    /// The first failed topic of a create or delete, as an error.
    pub fn check_topics(outcomes: &[TopicOutcome]) -> Result<(), Error> {
        match outcomes.iter().find(|o| o.error.is_error()) {
            Some(o) => Err(Error::Kafka {
                code: o.error,
                message: Some(match &o.message {
                    Some(m) => format!("{}: {m}", o.name),
                    None => o.name.clone(),
                }),
            }),
            None => Ok(()),
        }
    }
}

impl From<Misuse> for Error {
    fn from(m: Misuse) -> Self {
        match m {
            // One name for "closed", whichever side noticed first.
            Misuse::Closed => Error::Closed,
            Misuse::Failed(f) => Error::Fatal(f),
            m => Error::Misuse(m),
        }
    }
}

impl From<TxnError> for Error {
    fn from(e: TxnError) -> Self {
        match e {
            TxnError::Unusable(m) => m.into(),
            e => Error::Transaction(e),
        }
    }
}

impl From<ProduceError> for Error {
    fn from(e: ProduceError) -> Self {
        match e {
            ProduceError::Broker { code, message } => Error::Kafka { code, message },
            ProduceError::Timeout => Error::DeliveryTimeout,
            ProduceError::Closed => Error::Closed,
            e => Error::Produce(e),
        }
    }
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Invalid { reason, .. } => Error::InvalidRecord(reason),
            SendError::Unusable { error, .. } => error.into(),
            SendError::BufferFull(_) => Error::BufferFull,
            SendError::Transaction { error, .. } => Error::Transaction(error),
            _ => Error::Unexpected("a send refusal this version does not know"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_failures_stay_distinct_and_say_whether_to_retry() {
        assert_eq!(Error::from(ProduceError::Timeout), Error::DeliveryTimeout);
        assert_ne!(Error::DeliveryTimeout, Error::Timeout);
        let full = SendError::BufferFull(Box::new(kafka_state::ProducerRecord::new("t")));
        assert_eq!(Error::from(full), Error::BufferFull);
        assert!(Error::BufferFull.is_retriable());
        let leader = Error::Kafka {
            code: ErrorCode::NotLeaderOrFollower,
            message: None,
        };
        assert!(leader.is_retriable());
        assert_eq!(leader.code(), Some(ErrorCode::NotLeaderOrFollower));
        let denied = Error::Kafka {
            code: ErrorCode::TopicAuthorizationFailed,
            message: None,
        };
        assert!(!denied.is_retriable());
        assert!(!Error::Closed.is_retriable());
        assert_eq!(Error::from(Misuse::Closed), Error::Closed);
    }
}
