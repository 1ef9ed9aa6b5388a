//! Record batches: the `records` payload of Produce and Fetch.
//!
//! A record set is a concatenation of entries. Modern entries are
//! [record batches](RecordBatch) (magic 2); brokers may also hold legacy
//! message sets (magic 0 and 1). [`Batches`] walks a record set of any mix
//! and yields [`RecordBatch`]es; [`RecordBatch::records`] yields [`Record`]s
//! with the same shape for every magic, [`RecordBatch::records_shared`]
//! the same records as [`SharedRecord`]s (owned, one reference on the
//! batch's buffer each, key and value as slices or as [`Bytes`] on demand),
//! and [`RecordBatch::records_ref`] an owned [`RecordData`] lending the
//! same records ([`RecordRef`]), which is fastest when each record is
//! handled while iterating or the records travel together (see
//! [`RecordData`] for the trade-off).
//!
//! Decoding is lazy and zero-copy: a batch's header is parsed and its CRC
//! checked up front, records are parsed only while iterating, and keys,
//! values and header values are [`Bytes`] slices of the input (or of the
//! single buffer a compressed batch inflates into).
//!
//! Encoding goes through [`RecordBatchBuilder`], which appends records
//! straight into one buffer, or the [`encode`] shortcut.
//!
//! ```
//! use bytes::Bytes;
//! use kafka_proto::record::{BatchOptions, Batches, Compression, RecordBatchBuilder};
//!
//! let mut builder = RecordBatchBuilder::new(BatchOptions {
//!     base_offset: 100,
//!     compression: Compression::None,
//!     ..BatchOptions::default()
//! });
//! builder.append(1_700_000_000_000, Some(b"k"), Some(b"hello"))?;
//! builder.append_with_headers(1_700_000_000_001, None, Some(b"world"), [("trace", Some(&b"1"[..]))])?;
//! let set: Bytes = builder.finish()?;
//!
//! let mut batches = Batches::new(set);
//! let batch = batches.next().unwrap()?;
//! assert_eq!(batch.header().last_offset(), 101);
//! let values: Vec<Bytes> = batch
//!     .records()?
//!     .map(|r| r.map(|r| r.value.unwrap()))
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(values, ["hello", "world"]);
//! assert!(batches.next().is_none() && !batches.is_truncated());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod batch;
mod builder;
mod compression;
mod control;
mod cursor;
mod legacy;
mod records;

pub use batch::{BatchHeader, Batches, RecordBatch};
pub use builder::{assign_offsets, encode, BatchHeaderMut, BatchOptions, RecordBatchBuilder};
pub use control::{encode_control_batch, ControlRecord, ControlRecordType, EndTxnMarker};
pub use legacy::{encode_legacy, LegacyOptions};
pub use records::{
    HeaderIter, HeaderRefIter, Headers, HeadersRef, Record, RecordData, RecordRef, RecordRefs,
    Records, RefsPosition, SharedRecord, SharedRecords,
};

#[cfg(doc)]
use bytes::Bytes;

/// Producer id of a batch written without idempotence.
pub const NO_PRODUCER_ID: i64 = -1;
/// Producer epoch of a batch written without idempotence.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// Base sequence of a batch written without idempotence.
pub const NO_SEQUENCE: i32 = -1;
/// Partition leader epoch before the broker assigns one.
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;
/// Timestamp of a record that has none (magic 0).
pub const NO_TIMESTAMP: i64 = -1;

/// Default bound on the inflated size of one compressed batch: 64 MiB.
pub const DEFAULT_MAX_DECOMPRESSED_SIZE: usize = 64 << 20;

/// The compression codec of a batch (attribute bits 0-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Compression {
    /// Uncompressed.
    #[default]
    None,
    /// gzip (deflate with gzip framing).
    Gzip,
    /// Snappy; raw blocks on write, raw or xerial-framed on read.
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// Zstandard (magic 2 only).
    Zstd,
}

impl Compression {
    /// The codec id stored in the attributes.
    pub const fn id(self) -> i8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec with this id, if Kafka defines one.
    pub const fn from_id(id: i8) -> Option<Self> {
        match id {
            0 => Some(Compression::None),
            1 => Some(Compression::Gzip),
            2 => Some(Compression::Snappy),
            3 => Some(Compression::Lz4),
            4 => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// Kafka's name for the codec (`none`, `gzip`, `snappy`, `lz4`, `zstd`).
    pub const fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Whether this build can compress and decompress with the codec
    /// (its cargo feature is on).
    pub const fn is_enabled(self) -> bool {
        match self {
            Compression::None => true,
            Compression::Gzip => cfg!(feature = "gzip"),
            Compression::Snappy => cfg!(feature = "snappy"),
            Compression::Lz4 => cfg!(feature = "lz4"),
            Compression::Zstd => cfg!(feature = "zstd"),
        }
    }
}

/// What a record timestamp means (attribute bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum TimestampType {
    /// Set by the producer when the record was created.
    #[default]
    CreateTime,
    /// Set by the broker when it appended the batch; every record of the
    /// batch then reads the batch's max timestamp.
    LogAppendTime,
}

/// Limits applied while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// The largest size a compressed batch may inflate to. Exceeding it is
    /// [`DecodeErrorKind::DecompressionLimit`](crate::DecodeErrorKind::DecompressionLimit),
    /// detected while inflating.
    pub max_decompressed_size: usize,
    /// Check CRCs (on by default, like the Java consumer's `check.crcs`).
    pub verify_crc: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            max_decompressed_size: DEFAULT_MAX_DECOMPRESSED_SIZE,
            verify_crc: true,
        }
    }
}
