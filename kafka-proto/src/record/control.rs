//! Control records: the transaction markers (and other broker-written
//! records) that live in control batches.
//!
//! A control record's key is `version: i16, type: i16`. For `ABORT` (0) and
//! `COMMIT` (1) the value is an end-transaction marker: `version: i16,
//! coordinator_epoch: i32`. Both may grow trailing fields in later
//! versions, which are ignored, as the Java client does.

use bytes::{BufMut, Bytes, BytesMut};

use super::builder::{BatchOptions, RecordBatchBuilder};
use super::cursor::Cursor;
use super::records::Record;
use crate::error::{DecodeError, EncodeError};

/// The type field of a control record key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ControlRecordType {
    /// A transaction was aborted.
    Abort,
    /// A transaction was committed.
    Commit,
    /// KRaft leader change.
    LeaderChange,
    /// KRaft snapshot header.
    SnapshotHeader,
    /// KRaft snapshot footer.
    SnapshotFooter,
    /// KRaft `kraft.version` record.
    KRaftVersion,
    /// KRaft voter set.
    KRaftVoters,
    /// A type this library does not know.
    Unknown(i16),
}

impl ControlRecordType {
    /// The wire id.
    pub const fn id(self) -> i16 {
        match self {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
            ControlRecordType::LeaderChange => 2,
            ControlRecordType::SnapshotHeader => 3,
            ControlRecordType::SnapshotFooter => 4,
            ControlRecordType::KRaftVersion => 5,
            ControlRecordType::KRaftVoters => 6,
            ControlRecordType::Unknown(id) => id,
        }
    }

    /// The type for a wire id.
    pub const fn from_id(id: i16) -> Self {
        match id {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            2 => ControlRecordType::LeaderChange,
            3 => ControlRecordType::SnapshotHeader,
            4 => ControlRecordType::SnapshotFooter,
            5 => ControlRecordType::KRaftVersion,
            6 => ControlRecordType::KRaftVoters,
            other => ControlRecordType::Unknown(other),
        }
    }
}

/// The value of an `ABORT` or `COMMIT` control record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndTxnMarker {
    /// Marker schema version (0 today).
    pub version: i16,
    /// Epoch of the transaction coordinator that wrote the marker.
    pub coordinator_epoch: i32,
}

impl EndTxnMarker {
    /// A version 0 marker.
    pub const fn new(coordinator_epoch: i32) -> Self {
        Self {
            version: 0,
            coordinator_epoch,
        }
    }

    /// Decodes a marker value.
    pub fn decode(value: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cursor::new(value, 0);
        let version = c.i16("EndTxnMarker.Version")?;
        if version < 0 {
            return Err(DecodeError::invalid(
                "EndTxnMarker.Version",
                format!("negative version {version}"),
            ));
        }
        let coordinator_epoch = c.i32("EndTxnMarker.CoordinatorEpoch")?;
        Ok(Self {
            version,
            coordinator_epoch,
        })
    }

    /// Appends the marker value.
    pub fn encode(&self, buf: &mut BytesMut) {
        buf.put_i16(self.version);
        buf.put_i32(self.coordinator_epoch);
    }
}

/// A decoded control record.
///
/// ```
/// use kafka_proto::record::{encode_control_batch, Batches, BatchOptions, ControlRecord, EndTxnMarker};
///
/// let marker = ControlRecord::Commit(EndTxnMarker::new(5));
/// let options = BatchOptions { producer_id: 9, producer_epoch: 1, ..BatchOptions::default() };
/// let batch = Batches::new(encode_control_batch(&options, 1000, &marker)?).next().unwrap()?;
/// assert!(batch.header().is_control() && batch.header().is_transactional());
/// let record = batch.records()?.next().unwrap()?;
/// assert_eq!(ControlRecord::from_record(&record)?, marker);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ControlRecord {
    /// The producer's transaction was aborted: skip its records.
    Abort(EndTxnMarker),
    /// The producer's transaction was committed.
    Commit(EndTxnMarker),
    /// Any other control type; its value is left undecoded.
    Other {
        /// The record type.
        kind: ControlRecordType,
        /// The key's schema version.
        version: i16,
    },
}

impl ControlRecord {
    /// Decodes a record of a control batch.
    pub fn from_record(record: &Record) -> Result<Self, DecodeError> {
        Self::from_key_value(record.key.as_deref(), record.value.as_deref())
    }

    /// Decodes a control record from its key and value.
    pub fn from_key_value(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<Self, DecodeError> {
        let key = key.ok_or_else(|| DecodeError::invalid("ControlRecord.Key", "null key"))?;
        let mut c = Cursor::new(key, 0);
        let version = c.i16("ControlRecord.Version")?;
        if version < 0 {
            return Err(DecodeError::invalid(
                "ControlRecord.Version",
                format!("negative version {version}"),
            ));
        }
        let kind = ControlRecordType::from_id(c.i16("ControlRecord.Type")?);
        let marker = || {
            let value =
                value.ok_or_else(|| DecodeError::invalid("EndTxnMarker", "null marker value"))?;
            EndTxnMarker::decode(value)
        };
        Ok(match kind {
            ControlRecordType::Abort => ControlRecord::Abort(marker()?),
            ControlRecordType::Commit => ControlRecord::Commit(marker()?),
            kind => ControlRecord::Other { kind, version },
        })
    }

    /// The record type.
    pub fn kind(&self) -> ControlRecordType {
        match self {
            ControlRecord::Abort(_) => ControlRecordType::Abort,
            ControlRecord::Commit(_) => ControlRecordType::Commit,
            ControlRecord::Other { kind, .. } => *kind,
        }
    }

    /// The version 0 key (`version`, `type`).
    pub fn key(&self) -> Bytes {
        let version = match self {
            ControlRecord::Other { version, .. } => *version,
            _ => 0,
        };
        let mut buf = BytesMut::with_capacity(4);
        buf.put_i16(version);
        buf.put_i16(self.kind().id());
        buf.freeze()
    }

    /// The value: the marker for `ABORT`/`COMMIT`, none otherwise.
    pub fn value(&self) -> Option<Bytes> {
        match self {
            ControlRecord::Abort(m) | ControlRecord::Commit(m) => {
                let mut buf = BytesMut::with_capacity(6);
                m.encode(&mut buf);
                Some(buf.freeze())
            }
            ControlRecord::Other { .. } => None,
        }
    }
}

/// Encodes a control batch holding one control record, as a transaction
/// coordinator (or a mock broker) writes markers. The control flag is set,
/// and for `ABORT`/`COMMIT` so is the transactional flag; the producer
/// fields come from `options`.
pub fn encode_control_batch(
    options: &BatchOptions,
    timestamp: i64,
    record: &ControlRecord,
) -> Result<Bytes, EncodeError> {
    let mut options = *options;
    options.control = true;
    if matches!(record, ControlRecord::Abort(_) | ControlRecord::Commit(_)) {
        options.transactional = true;
    }
    let mut builder = RecordBatchBuilder::new(options);
    builder.append(timestamp, Some(&record.key()), record.value().as_deref())?;
    builder.finish()
}
