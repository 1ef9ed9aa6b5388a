//! Decoding record sets and the batches in them.

use bytes::{Buf, Bytes};

use super::compression;
use super::cursor::Cursor;
use super::legacy::{self, LegacyBody};
use super::records::{RecordData, Records, SharedRecords};
use super::{Compression, DecodeOptions, TimestampType};
use crate::error::{DecodeError, DecodeErrorKind};

/// Base offset (8) and batch length (4): the part outside the length.
pub(crate) const LOG_OVERHEAD: usize = 12;
/// Offset of the magic byte in every entry, whatever its version.
pub(crate) const MAGIC_OFFSET: usize = 16;
/// Size of a v2 batch header, up to and including the record count.
pub(crate) const V2_HEADER_LEN: usize = 61;
/// Where the v2 CRC starts covering (the attributes).
pub(crate) const V2_CRC_START: usize = 21;
/// The smallest encoded record (length, attributes, two deltas, null key
/// and value, no headers): bounds a record count by the bytes present.
pub(crate) const MIN_RECORD_LEN: usize = 7;

pub(crate) const ATTR_COMPRESSION_MASK: i16 = 0x07;
pub(crate) const ATTR_LOG_APPEND_TIME: i16 = 1 << 3;
pub(crate) const ATTR_TRANSACTIONAL: i16 = 1 << 4;
pub(crate) const ATTR_CONTROL: i16 = 1 << 5;
pub(crate) const ATTR_DELETE_HORIZON: i16 = 1 << 6;

/// The header fields of a batch.
///
/// For legacy entries the producer fields are the "none" values, the
/// partition leader epoch is -1, both timestamps are the message's
/// timestamp, and `attributes` holds the message's codec and timestamp-type
/// bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes following the length field.
    pub batch_length: i32,
    /// Leader epoch stamped by the broker (-1 if unknown).
    pub partition_leader_epoch: i32,
    /// Format version: 2, or 0/1 for legacy messages.
    pub magic: i8,
    /// The stored CRC (CRC32C for magic 2, CRC32 for legacy).
    pub crc: u32,
    /// Raw attribute bits.
    pub attributes: i16,
    /// Offset of the last record minus the base offset.
    pub last_offset_delta: i32,
    /// Timestamp of the first record (base for the deltas).
    pub base_timestamp: i64,
    /// Largest timestamp in the batch (the append time under log-append time).
    pub max_timestamp: i64,
    /// Producer id, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or -1.
    pub base_sequence: i32,
    /// Number of records the batch declares.
    pub record_count: i32,
}

impl BatchHeader {
    /// The codec, if the attributes name one Kafka defines.
    pub fn compression(&self) -> Option<Compression> {
        Compression::from_id((self.attributes & ATTR_COMPRESSION_MASK) as i8)
    }

    /// Create time or log-append time.
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & ATTR_LOG_APPEND_TIME != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Part of a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }

    /// Holds control records (transaction markers), not user data.
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }

    /// Compaction set a delete horizon (stored in the base timestamp).
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes & ATTR_DELETE_HORIZON != 0
    }

    /// Offset of the last record (also valid when compaction emptied the batch).
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .wrapping_add(i64::from(self.last_offset_delta))
    }

    /// The offset a consumer fetches next after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }
}

/// One entry of a record set: a v2 record batch or a legacy message (a
/// compressed legacy wrapper counts as one entry holding its inner messages).
///
/// The header is decoded and the CRC checked eagerly; v2 records are parsed
/// (and decompressed) only by [`records`](Self::records).
#[derive(Debug, Clone)]
pub struct RecordBatch {
    header: BatchHeader,
    raw: Bytes,
    body: Body,
    max_decompressed_size: usize,
}

#[derive(Debug, Clone)]
enum Body {
    V2(Bytes),
    Legacy(LegacyBody),
}

impl RecordBatch {
    /// Decodes one complete entry from the front of `buf`, advancing it.
    ///
    /// Unlike [`Batches`], an incomplete entry is an error here.
    ///
    /// ```
    /// use kafka_proto::record::{encode, BatchOptions, DecodeOptions, Record, RecordBatch};
    ///
    /// let record = Record { offset: 0, timestamp: 5, value: Some("v".into()), ..Record::default() };
    /// let mut buf = encode([&record], &BatchOptions::default())?;
    /// let batch = RecordBatch::decode(&mut buf, &DecodeOptions::default())?;
    /// assert!(buf.is_empty());
    /// assert_eq!(batch.records()?.next().unwrap()?, record);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decode(buf: &mut Bytes, options: &DecodeOptions) -> Result<Self, DecodeError> {
        let start_len = buf.len();
        match entry_len(buf) {
            Ok(Some(len)) => {
                let raw = buf.split_to(len);
                Self::decode_entry(raw, options).map_err(|e| e.at(start_len, start_len))
            }
            Ok(None) => {
                let needed = match buf.get(8..LOG_OVERHEAD) {
                    Some(&[a, b, c, d]) => (i32::from_be_bytes([a, b, c, d]) as usize)
                        .saturating_add(LOG_OVERHEAD)
                        .saturating_sub(buf.len()),
                    _ => LOG_OVERHEAD.saturating_sub(buf.len()).max(1),
                };
                Err(DecodeError::truncated("RecordBatch", needed.max(1)).at(start_len, buf.len()))
            }
            Err(e) => Err(e.at(start_len, start_len)),
        }
    }

    /// Decodes a complete entry (exactly `raw`).
    fn decode_entry(raw: Bytes, options: &DecodeOptions) -> Result<Self, DecodeError> {
        match raw.get(MAGIC_OFFSET).map(|&m| m as i8) {
            Some(2) => Self::decode_v2(raw, options),
            Some(0 | 1) => {
                let (header, body) = legacy::decode_entry(&raw, options)?;
                Ok(Self {
                    header,
                    raw,
                    body: Body::Legacy(body),
                    max_decompressed_size: options.max_decompressed_size,
                })
            }
            Some(m) => Err(DecodeError::version("RecordBatch.Magic", i16::from(m))),
            None => Err(DecodeError::truncated("RecordBatch.Magic", 1)),
        }
    }

    fn decode_v2(raw: Bytes, options: &DecodeOptions) -> Result<Self, DecodeError> {
        let data: &[u8] = &raw;
        let mut c = Cursor::new(data, 0);
        let base_offset = c.i64("RecordBatch.BaseOffset")?;
        let batch_length = c.i32("RecordBatch.BatchLength")?;
        if (batch_length as usize).saturating_add(LOG_OVERHEAD) < V2_HEADER_LEN {
            return Err(DecodeError::invalid(
                "RecordBatch.BatchLength",
                format!("{batch_length} is shorter than a batch header"),
            ));
        }
        let partition_leader_epoch = c.i32("RecordBatch.PartitionLeaderEpoch")?;
        let magic = c.i8("RecordBatch.Magic")?;
        let crc = c.u32("RecordBatch.Crc")?;
        if options.verify_crc {
            let computed = crc32c::crc32c(data.get(V2_CRC_START..).unwrap_or_default());
            if computed != crc {
                return Err(DecodeError::new(
                    "RecordBatch.Crc",
                    DecodeErrorKind::CrcMismatch {
                        stored: crc,
                        computed,
                    },
                ));
            }
        }
        let attributes = c.i16("RecordBatch.Attributes")?;
        let codec = (attributes & ATTR_COMPRESSION_MASK) as i8;
        let compression = Compression::from_id(codec).ok_or_else(|| {
            DecodeError::new(
                "RecordBatch.Attributes",
                DecodeErrorKind::UnsupportedCompression(codec),
            )
        })?;
        let header = BatchHeader {
            base_offset,
            batch_length,
            partition_leader_epoch,
            magic,
            crc,
            attributes,
            last_offset_delta: c.i32("RecordBatch.LastOffsetDelta")?,
            base_timestamp: c.i64("RecordBatch.BaseTimestamp")?,
            max_timestamp: c.i64("RecordBatch.MaxTimestamp")?,
            producer_id: c.i64("RecordBatch.ProducerId")?,
            producer_epoch: c.i16("RecordBatch.ProducerEpoch")?,
            base_sequence: c.i32("RecordBatch.BaseSequence")?,
            record_count: c.i32("RecordBatch.RecordCount")?,
        };
        let body = raw.slice(c.pos()..);
        if compression == Compression::None {
            check_count(header.record_count, body.len())?;
        } else {
            check_count(header.record_count, usize::MAX)?;
        }
        Ok(Self {
            header,
            raw,
            body: Body::V2(body),
            max_decompressed_size: options.max_decompressed_size,
        })
    }

    /// The header fields.
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The whole entry as it appeared in the record set.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// Iterates the records, decompressing first if the batch is compressed.
    ///
    /// Fails if the codec's feature is disabled, the data does not inflate,
    /// the inflated size passes the decode options' limit, or the inflated
    /// data cannot hold the declared record count. Each call decompresses
    /// anew, so call it once per batch.
    pub fn records(&self) -> Result<Records, DecodeError> {
        match &self.body {
            Body::V2(body) => {
                let codec = self.header.compression().unwrap_or_default();
                let data = if codec == Compression::None {
                    body.clone()
                } else {
                    Bytes::from(compression::decompress(
                        codec,
                        body,
                        self.max_decompressed_size,
                    )?)
                };
                check_count(self.header.record_count, data.len())?;
                let log_append_time = (self.header.timestamp_type()
                    == TimestampType::LogAppendTime)
                    .then_some(self.header.max_timestamp);
                Ok(Records::v2(
                    data,
                    self.header.record_count as u32,
                    self.header.base_offset,
                    self.header.base_timestamp,
                    log_append_time,
                ))
            }
            Body::Legacy(body) => Ok(Records::legacy(body.records())),
        }
    }
}

impl RecordBatch {
    /// Iterates the records as [`SharedRecord`](super::SharedRecord)s: owned records that share
    /// the batch's buffer through one reference each, with their key and
    /// value readable as slices for free and as [`Bytes`] on demand.
    ///
    /// Decompresses like [`records`](Self::records) (once per call) and
    /// fails on the same input. Cheaper than [`records`](Self::records),
    /// which takes a reference per key and per value; use it when records
    /// are kept past the batch, and [`records_ref`](Self::records_ref)
    /// when each is handled while iterating.
    pub fn records_shared(&self) -> Result<SharedRecords, DecodeError> {
        Ok(SharedRecords::new(self.records()?))
    }

    /// The batch's records, decompressed if needed, for iterating by
    /// reference without allocating or touching reference counts per record.
    ///
    /// The result owns its bytes: an uncompressed v2 batch's are shared
    /// with this batch (one reference in all), a compressed one's are
    /// inflated here, once. Fails like [`records`](Self::records). See
    /// [`RecordData`] for when to prefer this over [`records`](Self::records).
    pub fn records_ref(&self) -> Result<RecordData, DecodeError> {
        match &self.body {
            Body::V2(body) => {
                let codec = self.header.compression().unwrap_or_default();
                let data = if codec == Compression::None {
                    body.clone()
                } else {
                    Bytes::from(compression::decompress(
                        codec,
                        body,
                        self.max_decompressed_size,
                    )?)
                };
                check_count(self.header.record_count, data.len())?;
                let log_append_time = (self.header.timestamp_type()
                    == TimestampType::LogAppendTime)
                    .then_some(self.header.max_timestamp);
                Ok(RecordData::v2(
                    data,
                    self.header.record_count as u32,
                    self.header.base_offset,
                    self.header.base_timestamp,
                    log_append_time,
                ))
            }
            Body::Legacy(body) => Ok(RecordData::legacy(Records::legacy(body.records()))),
        }
    }
}

fn check_count(count: i32, available: usize) -> Result<(), DecodeError> {
    if count < 0 {
        return Err(DecodeError::invalid(
            "RecordBatch.RecordCount",
            format!("negative record count {count}"),
        ));
    }
    if (count as usize).saturating_mul(MIN_RECORD_LEN) > available {
        return Err(DecodeError::too_large(
            "RecordBatch.RecordCount",
            count as u64,
            available,
        ));
    }
    Ok(())
}

/// The length of the complete entry at the front of `buf`, `None` if the
/// buffer ends inside it, or an error if its length field is impossible.
fn entry_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    let Some(&[a, b, c, d]) = buf.get(8..LOG_OVERHEAD) else {
        return Ok(None);
    };
    let size = i32::from_be_bytes([a, b, c, d]);
    if size < legacy::MIN_MESSAGE_LEN as i32 {
        return Err(DecodeError::invalid(
            "RecordBatch.BatchLength",
            format!("{size} is below the minimum entry size"),
        ));
    }
    let len = (size as usize).saturating_add(LOG_OVERHEAD);
    Ok((len <= buf.len()).then_some(len))
}

/// Iterates the entries of a record set (the `records` field of a Produce
/// request or Fetch response), yielding [`RecordBatch`]es.
///
/// Magic 0, 1 and 2 entries may be mixed. Brokers cut fetch responses at a
/// byte limit, so the set may end inside an entry: iteration then stops
/// without an error and [`is_truncated`](Self::is_truncated) reports it. A
/// damaged complete entry yields an error, after which iteration stops.
///
/// ```
/// use kafka_proto::record::{encode, BatchOptions, Batches, Record};
///
/// let record = Record { value: Some("v".into()), ..Record::default() };
/// let batch = encode([&record], &BatchOptions::default())?;
/// // A response cut three bytes into the second copy of the batch.
/// let set = [&batch[..], &batch[..3]].concat();
/// let mut batches = Batches::new(set.into());
/// assert!(batches.next().unwrap().is_ok());
/// assert!(batches.next().is_none());
/// assert!(batches.is_truncated());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Batches {
    buf: Bytes,
    total_len: usize,
    options: DecodeOptions,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    Truncated,
    Failed,
}

impl Batches {
    /// Iterates `record_set` with the default [`DecodeOptions`].
    pub fn new(record_set: Bytes) -> Self {
        Self::with_options(record_set, DecodeOptions::default())
    }

    /// Iterates `record_set` with the given limits.
    pub fn with_options(record_set: Bytes, options: DecodeOptions) -> Self {
        Self {
            total_len: record_set.len(),
            buf: record_set,
            options,
            state: State::Reading,
        }
    }

    /// True once iteration stopped at a trailing partial entry.
    pub fn is_truncated(&self) -> bool {
        self.state == State::Truncated
    }

    /// The bytes not consumed yet (the partial entry, after truncation).
    pub fn remaining(&self) -> &Bytes {
        &self.buf
    }
}

impl Iterator for Batches {
    type Item = Result<RecordBatch, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.state != State::Reading {
            return None;
        }
        if self.buf.is_empty() {
            return None;
        }
        let at = self.buf.len();
        let result = match entry_len(&self.buf) {
            Ok(Some(len)) => {
                let raw = self.buf.split_to(len);
                RecordBatch::decode_entry(raw, &self.options)
            }
            Ok(None) => {
                self.state = State::Truncated;
                return None;
            }
            Err(e) => Err(e),
        };
        Some(result.map_err(|e| {
            self.state = State::Failed;
            self.buf.advance(self.buf.len());
            e.at(self.total_len, at)
        }))
    }
}

impl std::iter::FusedIterator for Batches {}
