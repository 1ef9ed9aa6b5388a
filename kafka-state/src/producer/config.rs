//! Producer settings ([`ProducerConfig`], `config.producer`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use kafka_proto::record::Compression;

use crate::error::Misuse;
use crate::producer::{InvalidRecord, ProducerRecord};

/// How many replicas must have a batch before the leader answers (`acks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Acks {
    /// `acks=0`: the broker sends no answer at all; delivery reports carry
    /// offset -1 and no broker error can be seen.
    None,
    /// `acks=1`: the leader alone.
    Leader,
    /// `acks=all` (`-1`): every in-sync replica. Required by idempotence.
    #[default]
    All,
}

impl Acks {
    /// The value sent in a Produce request.
    pub const fn wire(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// Picks the partition of a record that names none.
///
/// It runs once the topic's partition count is known. The returned index
/// must be in `0..partitions`; any other value fails the record with
/// [`ProduceError::InvalidPartition`](crate::producer::ProduceError::InvalidPartition).
pub trait Partitioner: Send + Sync {
    /// The partition for a record of `topic` with this key and value.
    /// `available` lists the partitions that have a leader right now.
    fn partition(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        partitions: i32,
        available: &[i32],
    ) -> i32;
}

/// Which partitioner places records without an explicit partition
/// (`partitioner.class`).
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum PartitionerChoice {
    /// Keyed records go to `murmur2(key) % partitions`, as the Java client
    /// does; records without a key stick to one partition until its batch
    /// is sent or full (KIP-480).
    #[default]
    Default,
    /// An application-supplied partitioner.
    Custom(Arc<dyn Partitioner>),
}

impl fmt::Debug for PartitionerChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartitionerChoice::Default => f.write_str("Default"),
            PartitionerChoice::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// Settings of the producer, the `producer` field of
/// [`Config`](crate::Config). Names follow the Java client's.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProducerConfig {
    /// `acks`; [`Acks::All`] by default.
    pub acks: Acks,
    /// How long a batch waits for more records before it is sent
    /// (`linger.ms`, 5 ms).
    pub linger: Duration,
    /// Upper bound of one batch's uncompressed size in bytes
    /// (`batch.size`; 1,000,000 as in librdkafka, where the Java client
    /// has 16 KiB). A larger record gets a batch of its own. Batches are
    /// not allocated up front, so a high bound costs nothing while traffic
    /// is light and cuts per-request overhead when it is heavy.
    pub batch_size: usize,
    /// Bytes of records, each with
    /// [`RECORD_OVERHEAD`](crate::producer::RECORD_OVERHEAD), the producer
    /// holds before
    /// [`SendError::BufferFull`](crate::producer::SendError::BufferFull)
    /// (`buffer.memory`, 32 MiB).
    pub buffer_memory: usize,
    /// Codec of every batch (`compression.type`, none).
    pub compression: Compression,
    /// Largest Produce request, and so largest record, in bytes
    /// (`max.request.size`, 1 MiB).
    pub max_request_size: usize,
    /// Upper bound on the time from `send` to the record's delivery report
    /// for records not in flight (`delivery.timeout.ms`, 120 s).
    ///
    /// A batch times out with its first record, and keeps taking records
    /// for its `linger`, or a hundredth of this if longer, while it waits
    /// for its connection: a record may be reported timed out that much
    /// before its own deadline, never sooner.
    pub delivery_timeout: Duration,
    /// First delay before retrying a partition after a retriable error
    /// (`retry.backoff.ms`, 100 ms); doubles per attempt.
    pub retry_backoff: Duration,
    /// Cap of the retry delay (`retry.backoff.max.ms`, 1 s).
    pub retry_backoff_max: Duration,
    /// Most batches of one partition in flight at once
    /// (`max.in.flight.requests.per.connection`, 5; at most 5 with
    /// idempotence).
    ///
    /// While a partition's batches are in flight its next batch keeps
    /// filling, so a lower value gives fewer, larger batches. That can
    /// pay when a producer spreads records over many partitions of a
    /// broker close by and busy (one in flight was 1.3× faster for keyed
    /// records over 1,000 partitions in the repository's bench); over a
    /// link with a real round trip it caps each partition at one batch
    /// per round trip.
    pub max_in_flight: usize,
    /// Exactly-once writes per partition through producer ids and
    /// sequence numbers (`enable.idempotence`, on). Needs [`Acks::All`].
    pub enable_idempotence: bool,
    /// Where records without a partition go (`partitioner.class`).
    pub partitioner: PartitionerChoice,
    /// Makes the producer transactional (`transactional.id`): records are
    /// sent inside transactions through
    /// [`Client::transactions`](crate::Client::transactions). One id names
    /// one logical producer across restarts; a new instance fences the
    /// old one. Needs idempotence. `None` by default.
    pub transactional_id: Option<String>,
    /// How long the coordinator lets a transaction stay open before it
    /// aborts it (`transaction.timeout.ms`, 60 s).
    pub transaction_timeout: Duration,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        Self {
            acks: Acks::All,
            linger: Duration::from_millis(5),
            batch_size: 1_000_000,
            buffer_memory: 32 << 20,
            compression: Compression::None,
            max_request_size: 1 << 20,
            delivery_timeout: Duration::from_secs(120),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            max_in_flight: 5,
            enable_idempotence: true,
            partitioner: PartitionerChoice::Default,
            transactional_id: None,
            transaction_timeout: Duration::from_secs(60),
        }
    }
}

/// Most in-flight batches per partition the broker tracks for duplicates.
pub(crate) const MAX_IDEMPOTENT_IN_FLIGHT: usize = 5;

/// The smallest `buffer_memory`: room for a small record with its
/// bookkeeping and a batch header.
const MIN_BUFFER_MEMORY: usize = 1024;

impl ProducerConfig {
    /// Whether `record` could ever be sent with these settings: a valid
    /// topic name, no negative partition, not larger than a request or
    /// the whole buffer. [`Producer::send`](crate::producer::Producer::send)
    /// checks this too; adapters that queue records before the core sees
    /// them call it first to refuse at once.
    pub fn check_record(&self, record: &ProducerRecord) -> Result<(), InvalidRecord> {
        crate::admin::check_topic_name(&record.topic).map_err(InvalidRecord::Topic)?;
        self.check_record_fields(record)
    }

    /// [`ProducerConfig::check_record`] without the topic name, which the
    /// producer checks the first time it meets a topic: adapters call this
    /// before reserving room for a record, and leave the rest to
    /// [`Producer::send`](crate::producer::Producer::send).
    pub fn check_record_fields(&self, record: &ProducerRecord) -> Result<(), InvalidRecord> {
        self.check_record_sized(record, record.estimated_size())
    }

    /// [`ProducerConfig::check_record_fields`] given the record's
    /// estimated size, which the producer has computed already.
    pub(crate) fn check_record_sized(
        &self,
        record: &ProducerRecord,
        size: usize,
    ) -> Result<(), InvalidRecord> {
        if let Some(p) = record.partition.filter(|p| *p < 0) {
            return Err(InvalidRecord::NegativePartition(p));
        }
        let size = size + super::accumulator::BATCH_OVERHEAD;
        // Held, the record also costs its bookkeeping (see `send`).
        let limit = self
            .max_request_size
            .min(self.buffer_memory.saturating_sub(super::RECORD_OVERHEAD));
        if size > limit {
            return Err(InvalidRecord::TooLarge { size, limit });
        }
        Ok(())
    }

    /// Checks the settings; `request_timeout` is the client's.
    pub(crate) fn validate(&self, request_timeout: Duration) -> Result<(), Misuse> {
        let bad = |m| Err(Misuse::InvalidConfig(m));
        if self.enable_idempotence && self.acks != Acks::All {
            return bad("enable_idempotence requires acks=all");
        }
        if self.max_in_flight == 0 {
            return bad("producer max_in_flight must be at least 1");
        }
        if self.enable_idempotence && self.max_in_flight > MAX_IDEMPOTENT_IN_FLIGHT {
            return bad("enable_idempotence allows at most 5 in-flight batches per partition");
        }
        if self.batch_size == 0 || self.max_request_size < 128 {
            return bad("batch_size must be positive and max_request_size at least 128");
        }
        // A batch never outgrows the buffer (see `batch_limit`), so only
        // a buffer that cannot hold a small record is refused.
        if self.buffer_memory < MIN_BUFFER_MEMORY {
            return bad("buffer_memory must be at least 1024 bytes");
        }
        if !self.compression.is_enabled() {
            return bad("compression codec not enabled in this build");
        }
        if self.retry_backoff.is_zero() || self.retry_backoff_max < self.retry_backoff {
            return bad("retry_backoff must be positive and at most retry_backoff_max");
        }
        if let Some(id) = &self.transactional_id {
            if id.is_empty() {
                return bad("transactional_id must not be empty");
            }
            if !self.enable_idempotence {
                return bad("transactional_id requires enable_idempotence");
            }
        }
        let ms = self.transaction_timeout.as_millis();
        if ms == 0 || ms > i32::MAX as u128 {
            return bad("transaction_timeout must be between 1 ms and i32::MAX ms");
        }
        if self.delivery_timeout < self.linger + request_timeout {
            return bad("delivery_timeout must be at least linger + request_timeout");
        }
        Ok(())
    }
}
