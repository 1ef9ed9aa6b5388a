//! Producers and transactions as the brokers see them: the producers a
//! partition's leader tracks, the transactions each coordinator holds,
//! and one transaction's state.

use kafka_proto::ErrorCode;

use crate::TopicPartition;

/// A producer a partition's leader keeps state for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProducerState {
    /// The producer id.
    pub producer_id: i64,
    /// Its epoch.
    pub producer_epoch: i32,
    /// The sequence of its last record written (-1 if none).
    pub last_sequence: i32,
    /// When it last wrote, in ms since the epoch (-1 if unknown).
    pub last_timestamp: i64,
    /// The epoch of the coordinator of its last transaction marker (-1
    /// if none).
    pub coordinator_epoch: i32,
    /// The first offset of its open transaction, if one is open.
    pub current_txn_start_offset: Option<i64>,
}

/// Which transactions to list; the default lists every one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransactionFilter {
    /// Only transactions in these states (`Ongoing`, `PrepareCommit`,
    /// `CompleteAbort`, `Empty`, ...); empty: any.
    pub states: Vec<String>,
    /// Only these producer ids; empty: any.
    pub producer_ids: Vec<i64>,
    /// Only transactions open at least this long, in ms (ListTransactions
    /// v1, Kafka 3.8 and later; an older broker cannot take it).
    pub min_duration_ms: Option<i64>,
    /// Only transactional ids matching this regular expression (RE2/J, on
    /// the broker; ListTransactions v2, Kafka 4.1 and later).
    pub id_pattern: Option<String>,
}

impl TransactionFilter {
    /// Lists every transaction.
    pub fn any() -> Self {
        Self::default()
    }

    /// Narrows to a state (repeatable).
    pub fn with_state(mut self, state: impl Into<String>) -> Self {
        self.states.push(state.into());
        self
    }

    /// Narrows to a producer id (repeatable).
    pub fn with_producer_id(mut self, id: i64) -> Self {
        self.producer_ids.push(id);
        self
    }

    /// Only transactions open at least `ms` milliseconds.
    pub fn with_min_duration_ms(mut self, ms: i64) -> Self {
        self.min_duration_ms = Some(ms);
        self
    }

    /// Only transactional ids matching `pattern` (a regular expression).
    pub fn with_id_pattern(mut self, pattern: impl Into<String>) -> Self {
        self.id_pattern = Some(pattern.into());
        self
    }
}

/// One transaction as its coordinator lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransactionListing {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id it has now.
    pub producer_id: i64,
    /// Its state (`Ongoing`, `CompleteCommit`, `Empty`, ...).
    pub state: String,
    /// The coordinator (broker) that listed it.
    pub coordinator: i32,
}

/// The transactions of every coordinator, and the brokers that could not
/// list theirs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransactionListings {
    /// The transactions, by transactional id.
    pub transactions: Vec<TransactionListing>,
    /// Brokers that answered with an error (their transactions are
    /// missing).
    pub errors: Vec<(i32, ErrorCode)>,
    /// States the brokers did not know (a filter naming them matches
    /// nothing).
    pub unknown_states: Vec<String>,
}

/// A transaction as its coordinator describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransactionDescription {
    /// The transactional id.
    pub transactional_id: String,
    /// [`ErrorCode::None`], or why it could not be described
    /// (`TRANSACTIONAL_ID_NOT_FOUND`, ...).
    pub error: ErrorCode,
    /// Its state.
    pub state: String,
    /// The producer id and epoch it has now.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// The transaction timeout, in ms.
    pub timeout_ms: i32,
    /// When the open transaction started, in ms since the epoch (-1 when
    /// none is open).
    pub start_time_ms: i64,
    /// The partitions of the open transaction.
    pub partitions: Vec<TopicPartition>,
}

impl TransactionDescription {
    pub(crate) fn failed(transactional_id: String, error: ErrorCode) -> Self {
        Self {
            transactional_id,
            error,
            state: String::new(),
            producer_id: -1,
            producer_epoch: -1,
            timeout_ms: 0,
            start_time_ms: -1,
            partitions: Vec::new(),
        }
    }
}
