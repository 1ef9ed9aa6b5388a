//! The producer: a record accumulator per partition, partitioners,
//! retries, idempotence (producer ids and sequence numbers) and delivery
//! reports. Reached through the borrowed handle
//! [`Client::producer`](crate::Client::producer).
//!
//! Records are appended to a batch of their partition; a batch leaves
//! when it is full (`batch_size`), when it has waited `linger`, or on
//! [`Producer::flush`]. One Produce request per leader carries a batch of
//! each of its ready partitions. Every record sent gets exactly one
//! outcome: its offset in the [`Event::Delivered`](crate::Event::Delivered)
//! of its batch, or a [`ProduceError`] in an
//! [`Event::DeliveryFailed`](crate::Event::DeliveryFailed).
//!
//! # Retries and idempotence
//!
//! Retriable broker errors, lost connections and request timeouts send a
//! batch again after `retry_backoff` (doubling up to `retry_backoff_max`)
//! until `delivery_timeout`; errors that mean the leader moved refresh the
//! metadata first. A batch the broker finds too large is split in two.
//!
//! With idempotence (the default) every batch carries the producer id,
//! epoch and a per-partition sequence fixed at its first send, so a resent
//! batch is the same bytes and the broker drops it as a duplicate. To keep
//! each partition's log in send order and free of duplicates:
//!
//! - until the broker has acknowledged one batch of the current epoch, a
//!   partition has one batch in flight (a broker without state for the
//!   producer accepts any sequence, so a later batch could overtake);
//! - while a resent batch is outstanding no new batch of its partition
//!   goes, so it stays within the broker's window of recent batches;
//! - a sequence error on the first unacknowledged batch bumps the epoch
//!   locally (as idempotent producers do, KIP-360; a new producer id once
//!   the epoch runs out) and restarts that partition's sequences at 0,
//!   unless a later acknowledgement proves the batch written. A batch
//!   whose earlier attempt may be in the log is failed instead of written
//!   again.
//!
//! The producer id and epoch come from one small module
//! (`idempotence`): the producer asks it for the id to stamp batches
//! with and tells it when a sequence broke; it alone fetches the id.

mod accumulator;
mod config;
mod idempotence;
mod outcomes;
mod partitioner;
mod sender;
mod state;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use kafka_proto::ErrorCode;

pub use crate::txn::{Transactions, TxnCause, TxnError, TxnEvent, TxnOp, TxnState};
pub use config::{Acks, Partitioner, PartitionerChoice, ProducerConfig};
pub use partitioner::{murmur2, partition_for_key};
pub(crate) use state::{ProducerState, PumpBy};

use crate::error::Misuse;
use crate::Client;

/// What the producer keeps per record besides the record's own bytes (its
/// place in a batch or in its topic's queue for metadata), in bytes.
/// `buffer_memory` counts it with each record, so the buffer bounds the
/// memory the records take rather than only their encoded size.
pub const RECORD_OVERHEAD: usize = std::mem::size_of::<accumulator::Waiting>();

// The charge covers a record wherever it is held.
const _: () = assert!(std::mem::size_of::<accumulator::Rec>() <= RECORD_OVERHEAD);

/// A topic name as [`ProducerRecord::new`] takes it: `&str`, `String`
/// and `&String` are copied into a new `Arc<str>`; an `Arc<str>` (or a
/// reference to one) is shared without copying.
pub trait TopicName {
    /// The name as a shared string.
    fn into_topic(self) -> Arc<str>;
}

impl TopicName for &str {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self)
    }
}

impl TopicName for String {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self)
    }
}

impl TopicName for &String {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self.as_str())
    }
}

impl TopicName for Arc<str> {
    fn into_topic(self) -> Arc<str> {
        self
    }
}

impl TopicName for &Arc<str> {
    fn into_topic(self) -> Arc<str> {
        Arc::clone(self)
    }
}

/// A record to produce.
///
/// Build it with [`ProducerRecord::new`] and the `with_*` methods. Key,
/// value and header values are [`Bytes`]: the producer keeps them without
/// copying until their batch is encoded, and lets them go then (the
/// encoded batch holds their bytes until the broker answers).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProducerRecord {
    /// The topic. Shared, so a producer sending many records to one topic
    /// can clone one `Arc<str>` instead of allocating a name per record.
    pub topic: Arc<str>,
    /// An explicit partition; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// The key, hashed by the default partitioner.
    pub key: Option<Bytes>,
    /// The value; `None` is a tombstone on compacted topics.
    pub value: Option<Bytes>,
    /// Headers, in order; keys may repeat.
    pub headers: Vec<(String, Option<Bytes>)>,
    /// Create time in milliseconds since the Unix epoch. The core reads no
    /// clock: adapters fill it in (`None` sends the record without a
    /// timestamp, -1).
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record for `topic` with no key, value, headers or timestamp.
    /// `topic` may be a `&str` or `String` (copied into a new `Arc<str>`)
    /// or an `Arc<str>` (shared as is: the cheap choice in a hot loop).
    pub fn new(topic: impl TopicName) -> Self {
        Self {
            topic: topic.into_topic(),
            partition: None,
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// Sets the partition.
    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the key.
    pub fn with_key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the value.
    pub fn with_value(mut self, value: impl Into<Bytes>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, key: impl Into<String>, value: Option<Bytes>) -> Self {
        self.headers.push((key.into(), value));
        self
    }

    /// Sets the create time (milliseconds since the Unix epoch).
    pub fn with_timestamp(mut self, ms: i64) -> Self {
        self.timestamp = Some(ms);
        self
    }

    /// An upper bound of the record's encoded size in a batch.
    pub(crate) fn estimated_size(&self) -> usize {
        estimated_size(self.key.as_ref(), self.value.as_ref(), &self.headers)
    }
}

/// An upper bound of a record's encoded size in a batch: the length,
/// attributes, deltas and lengths counted at their widest varints.
fn estimated_size(
    key: Option<&Bytes>,
    value: Option<&Bytes>,
    headers: &[(String, Option<Bytes>)],
) -> usize {
    let len = |b: Option<&Bytes>| b.map_or(0, Bytes::len);
    let headers: usize = headers
        .iter()
        .map(|(k, v)| 10 + k.len() + len(v.as_ref()))
        .sum();
    26 + len(key) + 5 + len(value) + 5 + headers
}

/// Identifies one sent record; its outcome
/// ([`Event::Delivered`](crate::Event::Delivered) or
/// [`Event::DeliveryFailed`](crate::Event::DeliveryFailed)) carries the
/// same id. Ids grow in send order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryId(pub u64);

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "delivery#{}", self.0)
    }
}

/// Where a record was written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryReport {
    /// The topic (one shared name for all of the topic's reports).
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The record's offset; -1 with `acks=0`.
    pub offset: i64,
    /// The broker's append time if the topic uses `LogAppendTime`, else
    /// the record's create time (-1 if it had none).
    pub timestamp: i64,
}

impl DeliveryReport {
    /// A report, for code that hands reports on (a test of an
    /// application's delivery handling, an adapter's own plumbing).
    pub fn new(topic: impl Into<Arc<str>>, partition: i32, offset: i64, timestamp: i64) -> Self {
        Self {
            topic: topic.into(),
            partition,
            offset,
            timestamp,
        }
    }
}

/// The records of one batch the broker wrote, in send order: the
/// payload of [`Event::Delivered`](crate::Event::Delivered).
///
/// One event per batch instead of one per record: a batch of a thousand
/// small records costs the producer, and whoever dispatches its reports,
/// one event to build and match instead of a thousand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    topic: Arc<str>,
    partition: i32,
    /// -1 with `acks=0`.
    base_offset: i64,
    /// The broker's append time, or -1 if records keep their own.
    append_time: i64,
    /// Each record's id and create time.
    records: Vec<(DeliveryId, i64)>,
}

impl Delivered {
    pub(crate) fn new(
        topic: Arc<str>,
        partition: i32,
        base_offset: i64,
        append_time: i64,
        records: Vec<(DeliveryId, i64)>,
    ) -> Self {
        Self {
            topic,
            partition,
            base_offset,
            append_time,
            records,
        }
    }

    /// The topic.
    pub fn topic(&self) -> &Arc<str> {
        &self.topic
    }

    /// The partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// How many records the batch held.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the batch held no record (never, as the producer makes it).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The records' ids, in send order.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = DeliveryId> + '_ {
        self.records.iter().map(|&(id, _)| id)
    }

    /// The `index`th record's report.
    pub fn report(&self, index: usize) -> Option<(DeliveryId, DeliveryReport)> {
        self.records.get(index).map(|&r| self.make(index, r))
    }

    /// Every record's id and report, in send order.
    pub fn reports(&self) -> impl ExactSizeIterator<Item = (DeliveryId, DeliveryReport)> + '_ {
        self.records
            .iter()
            .enumerate()
            .map(|(i, &r)| self.make(i, r))
    }

    /// The `index`th record's id, offset and timestamp: its report
    /// without the topic and partition, which the whole batch shares.
    pub fn outcome(&self, index: usize) -> Option<(DeliveryId, i64, i64)> {
        self.records.get(index).map(|&r| self.outcome_of(index, r))
    }

    /// The `index`th record's id.
    pub fn id(&self, index: usize) -> Option<DeliveryId> {
        self.records.get(index).map(|&(id, _)| id)
    }

    fn outcome_of(
        &self,
        index: usize,
        (id, timestamp): (DeliveryId, i64),
    ) -> (DeliveryId, i64, i64) {
        let offset = if self.base_offset >= 0 {
            // A batch's record count is an i32, so the index fits.
            self.base_offset.saturating_add(index as i64)
        } else {
            -1
        };
        let timestamp = if self.append_time >= 0 {
            self.append_time
        } else {
            timestamp
        };
        (id, offset, timestamp)
    }

    fn make(&self, index: usize, record: (DeliveryId, i64)) -> (DeliveryId, DeliveryReport) {
        let (id, offset, timestamp) = self.outcome_of(index, record);
        let report = DeliveryReport {
            topic: Arc::clone(&self.topic),
            partition: self.partition,
            offset,
            timestamp,
        };
        (id, report)
    }
}

/// Why a record was not written (or may not have been).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProduceError {
    /// The broker refused the batch with a non-retriable error, or a
    /// retriable one persisted until the delivery timeout.
    #[error("broker error {}: {}", code.name(), code.description())]
    Broker {
        /// The Kafka error code; [`ErrorCode::name`] gives its name.
        code: ErrorCode,
        /// The broker's message, if any.
        message: Option<String>,
    },
    /// `delivery_timeout` passed before the record was acknowledged.
    #[error("delivery timed out")]
    Timeout,
    /// The partitioner or the record named a partition the topic lacks.
    #[error("partition {partition} does not exist (the topic has {partitions})")]
    InvalidPartition {
        /// The partition asked for.
        partition: i32,
        /// The topic's partition count.
        partitions: i32,
    },
    /// The batch could not be encoded.
    #[error("cannot encode the batch: {0}")]
    Encode(String),
    /// The client was closed or failed before the record was acknowledged.
    #[error("the client was closed")]
    Closed,
    /// The record's transaction was aborted before it was sent.
    #[error("the transaction was aborted")]
    TransactionAborted,
}

impl ProduceError {
    /// The Kafka error code, when a broker gave one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ProduceError::Broker { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Why a record the caller handed to [`Producer::send`] was not taken. Every
/// variant gives the record back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// `buffer_memory` is used up. Retry after an
    /// [`Event::BufferAvailable`](crate::Event::BufferAvailable) or a delivery.
    #[error("producer buffer is full")]
    BufferFull(Box<ProducerRecord>),
    /// The record itself is unusable.
    #[error("invalid record: {reason}")]
    Invalid {
        /// The record.
        record: Box<ProducerRecord>,
        /// What is wrong with it.
        reason: InvalidRecord,
    },
    /// The client is closed or failed.
    #[error("{error}")]
    Unusable {
        /// The record.
        record: Box<ProducerRecord>,
        /// [`Misuse::Closed`] or [`Misuse::Failed`].
        error: Misuse,
    },
    /// A transactional producer takes records only inside a transaction
    /// (after [`Transactions::begin`](crate::producer::Transactions::begin)),
    /// and not once it failed.
    #[error("{error}")]
    Transaction {
        /// The record.
        record: Box<ProducerRecord>,
        /// Why not now.
        error: TxnError,
    },
}

impl SendError {
    /// The record, back to the caller.
    pub fn into_record(self) -> ProducerRecord {
        match self {
            SendError::BufferFull(record)
            | SendError::Invalid { record, .. }
            | SendError::Unusable { record, .. }
            | SendError::Transaction { record, .. } => *record,
        }
    }
}

/// What makes a record unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidRecord {
    /// The topic name breaks Kafka's naming rules.
    #[error(transparent)]
    Topic(Misuse),
    /// A negative partition.
    #[error("negative partition {0}")]
    NegativePartition(i32),
    /// Larger than `max_request_size` or `buffer_memory`.
    #[error("record of about {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// The record's estimated encoded size.
        size: usize,
        /// The limit it exceeds.
        limit: usize,
    },
}

/// Borrowed handle for producing; see [`Client::producer`].
///
/// ```
/// use std::time::Instant;
/// use kafka_state::{BrokerAddr, Client, Config, Event, ProducerRecord};
///
/// let now = Instant::now();
/// let mut client = Client::new(Config::new([BrokerAddr::new("localhost", 9092)]), now)?;
/// let record = ProducerRecord::new("orders").with_key("id-7").with_value("shipped");
/// let id = client.producer().send(now, record)?;
/// assert_eq!(client.producer().in_flight_count(), 1);
/// // ... drive the client; later an `Event::Delivered` holding `id` arrives
/// // (or an `Event::DeliveryFailed { id, .. }`).
/// # let _ = id;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Producer<'a> {
    pub(crate) client: &'a mut Client,
}

impl Producer<'_> {
    /// Queues a record. It leaves with its batch (full, lingered, or
    /// flushed) and its outcome arrives with the returned id: in the
    /// [`Event::Delivered`](crate::Event::Delivered) of its batch, or as an
    /// [`Event::DeliveryFailed`](crate::Event::DeliveryFailed).
    ///
    /// The topic is tracked in metadata on first use; records wait for its
    /// partitions to be known, at most `delivery_timeout`.
    pub fn send(&mut self, now: Instant, record: ProducerRecord) -> Result<DeliveryId, SendError> {
        let client = &mut *self.client;
        if let Err(error) = client.check_usable() {
            return Err(SendError::Unusable {
                record: Box::new(record),
                error,
            });
        }
        if let Some(Err(error)) = client.txn.as_ref().map(|t| t.check_send()) {
            return Err(SendError::Transaction {
                record: Box::new(record),
                error,
            });
        }
        client.tick(now);
        client.producer_send(record)
    }

    /// Sends every batch now, without waiting for `linger`, until nothing
    /// is pending; then [`Event::FlushComplete`](crate::Event::FlushComplete)
    /// follows (at once if nothing is pending).
    pub fn flush(&mut self, now: Instant) -> Result<(), Misuse> {
        let client = &mut *self.client;
        client.check_usable()?;
        client.tick(now);
        client.producer_flush();
        client.pump();
        Ok(())
    }

    /// Records sent whose delivery report has not been emitted yet.
    pub fn in_flight_count(&self) -> usize {
        self.client.producer.pending_records()
    }

    /// Whether every sent record has its delivery report.
    pub fn is_idle(&self) -> bool {
        self.in_flight_count() == 0
    }

    /// Bytes of records held, each with [`RECORD_OVERHEAD`], counted
    /// against `buffer_memory`.
    pub fn buffered_bytes(&self) -> usize {
        self.client.producer.buffered_bytes()
    }

    /// The producer id and epoch in use, once idempotence has one.
    pub fn producer_id(&self) -> Option<(i64, i16)> {
        self.client.producer.producer_id()
    }
}
