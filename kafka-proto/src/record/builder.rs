//! Encoding v2 record batches, and re-stamping encoded ones.

use bytes::{Bytes, BytesMut};

use super::batch::{
    ATTR_CONTROL, ATTR_DELETE_HORIZON, ATTR_LOG_APPEND_TIME, ATTR_TRANSACTIONAL, LOG_OVERHEAD,
    MAGIC_OFFSET, V2_CRC_START, V2_HEADER_LEN,
};
use super::compression;
use super::records::{Headers, Record};
use super::{Compression, TimestampType, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH};
use super::{NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP};
use crate::codec::{varint_len, varlong_len};
use crate::error::{DecodeError, EncodeError};

/// The batch-level fields of a v2 batch to encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOptions {
    /// Offset of the first record (producers send 0; the broker assigns).
    pub base_offset: i64,
    /// Leader epoch (-1 from producers; the broker stamps it).
    pub partition_leader_epoch: i32,
    /// Producer id, or [`NO_PRODUCER_ID`].
    pub producer_id: i64,
    /// Producer epoch, or [`NO_PRODUCER_EPOCH`].
    pub producer_epoch: i16,
    /// Sequence of the first record, or [`NO_SEQUENCE`].
    pub base_sequence: i32,
    /// Part of a transaction.
    pub transactional: bool,
    /// Holds control records.
    pub control: bool,
    /// Set the delete-horizon bit (written by compaction).
    pub delete_horizon: bool,
    /// Create time (producers) or log-append time (brokers).
    pub timestamp_type: TimestampType,
    /// The codec applied by [`RecordBatchBuilder::finish`].
    pub compression: Compression,
    /// Codec level, `None` for the default (gzip 6, zstd 3; lz4 and snappy have none).
    pub compression_level: Option<i32>,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            base_offset: 0,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            transactional: false,
            control: false,
            delete_horizon: false,
            timestamp_type: TimestampType::CreateTime,
            compression: Compression::None,
            compression_level: None,
        }
    }
}

impl BatchOptions {
    fn attributes(&self) -> i16 {
        let mut a = i16::from(self.compression.id());
        if self.timestamp_type == TimestampType::LogAppendTime {
            a |= ATTR_LOG_APPEND_TIME;
        }
        if self.transactional {
            a |= ATTR_TRANSACTIONAL;
        }
        if self.control {
            a |= ATTR_CONTROL;
        }
        if self.delete_horizon {
            a |= ATTR_DELETE_HORIZON;
        }
        a
    }
}

/// Builds one v2 record batch by appending records straight into a buffer.
///
/// Each append computes the record's size up front and writes it in one
/// pass; nothing is allocated per record beyond the buffer's growth.
/// [`finish`](Self::finish) compresses if asked, fills in the header and
/// CRC, and hands the batch over as [`Bytes`] without copying when
/// uncompressed.
///
/// ```
/// use kafka_proto::record::{BatchOptions, Batches, Compression, RecordBatchBuilder};
///
/// let mut b = RecordBatchBuilder::new(BatchOptions {
///     producer_id: 42,
///     producer_epoch: 0,
///     base_sequence: 10,
///     compression: Compression::None,
///     ..BatchOptions::default()
/// });
/// for i in 0..3u8 {
///     b.append(1000 + i64::from(i), None, Some(&[i]))?;
/// }
/// assert_eq!(b.record_count(), 3);
/// let batch = Batches::new(b.finish()?).next().unwrap()?;
/// assert_eq!((batch.header().producer_id, batch.header().record_count), (42, 3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct RecordBatchBuilder {
    /// A `Vec` rather than a `BytesMut`: its `extend_from_slice` inlines
    /// (`BytesMut`'s does not always), which matters at ~3 copies per record.
    buf: Vec<u8>,
    options: BatchOptions,
    count: i32,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
}

/// Room for the fixed part of a record: length (5), attributes (1),
/// timestamp delta (10), offset delta (5), key length (5).
const RECORD_PREFIX_MAX: usize = 26;

impl RecordBatchBuilder {
    /// Starts an empty batch.
    pub fn new(options: BatchOptions) -> Self {
        Self::with_buffer(BytesMut::new(), options)
    }

    /// Starts an empty batch in `buf`, reusing its allocation (its contents are cleared).
    pub fn with_buffer(buf: BytesMut, options: BatchOptions) -> Self {
        // Takes the allocation over without copying when `buf` is unique.
        let mut buf = Vec::from(buf);
        buf.clear();
        buf.resize(V2_HEADER_LEN, 0);
        Self {
            buf,
            options,
            count: 0,
            last_offset_delta: -1,
            base_timestamp: NO_TIMESTAMP,
            max_timestamp: NO_TIMESTAMP,
        }
    }

    /// The options the batch was started with.
    pub fn options(&self) -> &BatchOptions {
        &self.options
    }

    /// Records appended so far.
    pub fn record_count(&self) -> i32 {
        self.count
    }

    /// True before the first append.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size of the batch so far, uncompressed, header included.
    pub fn size_in_bytes(&self) -> usize {
        self.buf.len()
    }

    /// The size a record would add, for deciding whether it still fits a
    /// batch before appending it (an upper bound: the deltas are assumed
    /// to need their widest encoding).
    pub fn estimate_record_size(
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &Headers,
    ) -> usize {
        let len = |b: Option<&[u8]>| b.map_or(0, <[u8]>::len);
        // Prefix, value length (5) and header count (5) at their widest.
        RECORD_PREFIX_MAX + len(key) + 5 + len(value) + 5 + headers.as_wire_bytes().len()
    }

    /// Appends a record at the next offset, without headers.
    #[inline]
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<(), EncodeError> {
        let delta = self.next_offset_delta()?;
        self.write(delta, timestamp, key, value, 0, 0, |_| {})
    }

    /// Appends a record at the next offset with headers (keys may repeat).
    pub fn append_with_headers<'h, I>(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: I,
    ) -> Result<(), EncodeError>
    where
        I: IntoIterator<Item = (&'h str, Option<&'h [u8]>)>,
        I::IntoIter: Clone,
    {
        let delta = self.next_offset_delta()?;
        let headers = headers.into_iter();
        let mut count: usize = 0;
        let mut size: usize = 0;
        for (k, v) in headers.clone() {
            count += 1;
            size = size
                .saturating_add(prefixed_len(k.len(), "Record.Headers.Key")?)
                .saturating_add(match v {
                    Some(v) => prefixed_len(v.len(), "Record.Headers.Value")?,
                    None => 1,
                });
        }
        let count = i32::try_from(count).map_err(|_| EncodeError::TooLong {
            what: "Record.Headers",
            len: count,
        })?;
        self.write(delta, timestamp, key, value, count, size, |buf| {
            for (k, v) in headers {
                put_varint(buf, k.len() as i32);
                buf.extend_from_slice(k.as_bytes());
                match v {
                    Some(v) => {
                        put_varint(buf, v.len() as i32);
                        buf.extend_from_slice(v);
                    }
                    None => put_varint(buf, -1),
                }
            }
        })
    }

    /// Appends `record` at `record.offset` (which must be above the previous
    /// record's and within `i32` of the base offset), copying its headers
    /// verbatim.
    #[inline(always)]
    pub fn append_record(&mut self, record: &Record) -> Result<(), EncodeError> {
        let delta = record
            .offset
            .checked_sub(self.options.base_offset)
            .and_then(|d| i32::try_from(d).ok())
            .filter(|&d| d > self.last_offset_delta)
            .ok_or_else(|| EncodeError::Invalid {
                what: "Record.Offset",
                detail: format!(
                    "offset {} does not follow offset delta {} from base {}",
                    record.offset, self.last_offset_delta, self.options.base_offset
                ),
            })?;
        let headers = record.headers.as_wire_bytes();
        self.write(
            delta,
            record.timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            record.headers.len() as i32,
            headers.len(),
            |buf| buf.extend_from_slice(headers),
        )
    }

    fn next_offset_delta(&self) -> Result<i32, EncodeError> {
        self.last_offset_delta
            .checked_add(1)
            .ok_or_else(|| EncodeError::Invalid {
                what: "RecordBatch.LastOffsetDelta",
                detail: "offset delta overflows i32".to_owned(),
            })
    }

    /// Writes one record whose headers (`header_count` of them, `headers_len`
    /// bytes) are written by `put_headers`.
    ///
    /// The common record (deltas below 8192, a key of at most 32 bytes, a
    /// record under 8 KiB, fewer than 64 headers) takes a fast path: every
    /// varint before the key is then one or two bytes, so they are packed
    /// into one `u64` and stored with a single 8-byte write; the key, value
    /// and headers are one copy each. Anything else, and every error, goes
    /// through [`write_general`](Self::write_general).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn write(
        &mut self,
        offset_delta: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        header_count: i32,
        headers_len: usize,
        put_headers: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), EncodeError> {
        let base_timestamp = if self.count == 0 {
            timestamp
        } else {
            self.base_timestamp
        };
        let ts = zigzag64(timestamp.wrapping_sub(base_timestamp));
        let od = u64::from(zigzag32(offset_delta));
        let key_len = key.map_or(0, <[u8]>::len);
        let value_len = value.map_or(0, <[u8]>::len);
        let vz = value.map_or(1, |v| (v.len() as u64).wrapping_shl(1));
        let hz = u64::from(zigzag32(header_count));
        // `ts` is only meaningful if the subtraction did not overflow.
        let no_overflow = timestamp.checked_sub(base_timestamp).is_some();
        if no_overflow
            && self.count < i32::MAX
            && (ts | od | vz) < 1 << 14
            && hz < 1 << 7
            && key_len <= SHORT_KEY
            && headers_len < 1 << 13
        {
            let (ts_len, od_len, vz_len) = (len2(ts), len2(od), len2(vz));
            // Attributes, deltas, key length (one byte: the key is short),
            // key, value length, value, header count (one byte), headers.
            let body = 1 + ts_len + od_len + 1 + key_len + vz_len + value_len + 1 + headers_len;
            let lz = (body as u64) << 1;
            let start = self.buf.len();
            if lz < 1 << 14 && start + body + 2 - LOG_OVERHEAD <= i32::MAX as usize {
                let l_len = len2(lz);
                let kz = key.map_or(1, |k| (k.len() as u64) << 1);
                // length | attributes (0) | timestamp delta | offset delta | key length:
                // at most 2 + 1 + 2 + 2 + 1 = 8 bytes.
                let mut shift = 8 * (l_len + 1);
                let mut word = enc2(lz) | enc2(ts) << shift;
                shift += 8 * ts_len;
                word |= enc2(od) << shift;
                shift += 8 * od_len;
                word |= kz << shift;
                let n = shift / 8 + 1;
                // Each piece goes straight into the buffer: the prefix and
                // the value length as whole words from registers (then cut
                // to their length), the key and value as copies. (Staging
                // them in a stack buffer first costs a store-forwarding
                // stall when the buffer is read back.)
                self.buf.extend_from_slice(&word.to_le_bytes());
                self.buf.truncate(start + n);
                if let Some(k) = key {
                    self.buf.extend_from_slice(k);
                }
                let at = self.buf.len();
                self.buf.extend_from_slice(&(enc2(vz) as u16).to_le_bytes());
                self.buf.truncate(at + vz_len);
                if let Some(v) = value {
                    self.buf.extend_from_slice(v);
                }
                self.buf.push(hz as u8);
                if headers_len != 0 {
                    put_headers(&mut self.buf);
                }
                self.finish_record(offset_delta, timestamp);
                return Ok(());
            }
        }
        self.write_general(
            offset_delta,
            timestamp,
            key,
            value,
            header_count,
            headers_len,
            put_headers,
        )
    }

    /// Batch bookkeeping after a record is written.
    #[inline(always)]
    fn finish_record(&mut self, offset_delta: i32, timestamp: i64) {
        if self.count == 0 {
            self.base_timestamp = timestamp;
            self.max_timestamp = timestamp;
        } else if timestamp > self.max_timestamp {
            self.max_timestamp = timestamp;
        }
        self.count += 1;
        self.last_offset_delta = offset_delta;
    }

    /// [`write`](Self::write) for any record: exact size checks and errors.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn write_general(
        &mut self,
        offset_delta: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        header_count: i32,
        headers_len: usize,
        put_headers: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), EncodeError> {
        if self.count == i32::MAX {
            return Err(EncodeError::TooLong {
                what: "RecordBatch.Records",
                len: self.count as usize,
            });
        }
        let base_timestamp = if self.count == 0 {
            timestamp
        } else {
            self.base_timestamp
        };
        let timestamp_delta =
            timestamp
                .checked_sub(base_timestamp)
                .ok_or_else(|| EncodeError::Invalid {
                    what: "Record.Timestamp",
                    detail: format!(
                        "{timestamp} is too far from the base timestamp {base_timestamp}"
                    ),
                })?;
        let key_len = match key {
            Some(k) => prefixed_len(k.len(), "Record.Key")?,
            None => 1,
        };
        let value_len = match value {
            Some(v) => prefixed_len(v.len(), "Record.Value")?,
            None => 1,
        };
        let body_len = 1usize
            .saturating_add(varlong_len(timestamp_delta))
            .saturating_add(varint_len(offset_delta))
            .saturating_add(key_len)
            .saturating_add(value_len)
            .saturating_add(varint_len(header_count))
            .saturating_add(headers_len);
        let body = i32::try_from(body_len).map_err(|_| EncodeError::TooLong {
            what: "Record",
            len: body_len,
        })?;
        let total = varint_len(body) + body_len;
        if self.buf.len().saturating_add(total) - LOG_OVERHEAD > i32::MAX as usize {
            return Err(EncodeError::TooLong {
                what: "RecordBatch",
                len: self.buf.len().saturating_add(total),
            });
        }

        self.buf.reserve(total);
        // Length, attributes, deltas and the key's length (at most 26
        // bytes), then the key itself when short, in one copy.
        let mut prefix = Scratch::new();
        prefix.varint(body);
        prefix.byte(0);
        prefix.varlong(timestamp_delta);
        prefix.varint(offset_delta);
        match key {
            Some(k) => {
                prefix.varint(k.len() as i32);
                if !prefix.try_extend(k) {
                    self.buf.extend_from_slice(prefix.bytes());
                    prefix.clear();
                    self.buf.extend_from_slice(k);
                }
            }
            None => prefix.varint(-1),
        }
        match value {
            Some(v) => {
                prefix.varint(v.len() as i32);
                self.buf.extend_from_slice(prefix.bytes());
                self.buf.extend_from_slice(v);
                prefix.clear();
            }
            None => prefix.varint(-1),
        }
        prefix.varint(header_count);
        self.buf.extend_from_slice(prefix.bytes());
        put_headers(&mut self.buf);
        self.finish_record(offset_delta, timestamp);
        Ok(())
    }

    /// Completes the batch: compresses the records if configured, writes
    /// the header and CRC32C, and returns the encoded batch.
    ///
    /// An lz4 batch is compressed straight into a buffer sized for the
    /// worst case (about the uncompressed size), and the returned `Bytes`
    /// keeps that allocation: hand it back through
    /// [`with_buffer`](Self::with_buffer) to encode the next batch without
    /// growing, or copy it out if many compressed batches are held at once.
    pub fn finish(self) -> Result<Bytes, EncodeError> {
        let Self {
            mut buf,
            options,
            count,
            last_offset_delta,
            base_timestamp,
            max_timestamp,
        } = self;
        let header = Header {
            options,
            count,
            last_offset_delta,
            base_timestamp,
            max_timestamp,
        };
        #[cfg(feature = "lz4")]
        if options.compression == Compression::Lz4 {
            // Written straight into one buffer sized for the worst case
            // (about the uncompressed size), so that a buffer recycled
            // through `with_buffer` never has to grow for the next batch.
            let records = buf.get(V2_HEADER_LEN..).unwrap_or_default();
            let mut out =
                Vec::with_capacity(V2_HEADER_LEN + compression::lz4_frame_bound(records.len()));
            out.resize(V2_HEADER_LEN, 0);
            compression::lz4_frame(records, &mut out)?;
            header.write(&mut out)?;
            return Ok(Bytes::from(out));
        }
        if options.compression != Compression::None {
            let records = buf.get(V2_HEADER_LEN..).unwrap_or_default();
            let mut out = BytesMut::with_capacity(V2_HEADER_LEN + records.len() / 2 + 64);
            out.resize(V2_HEADER_LEN, 0);
            compression::compress(
                options.compression,
                options.compression_level,
                records,
                &mut out,
            )?;
            header.write(&mut out)?;
            return Ok(out.freeze());
        }
        header.write(&mut buf)?;
        // No copy: the vector's allocation becomes the `Bytes`.
        Ok(Bytes::from(buf))
    }
}

/// The batch-level fields `finish` writes.
struct Header {
    options: BatchOptions,
    count: i32,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
}

impl Header {
    /// Fills in the 61-byte header at the front of `buf` (the whole batch) and its CRC.
    fn write(&self, buf: &mut [u8]) -> Result<(), EncodeError> {
        let options = &self.options;
        let batch_length =
            i32::try_from(buf.len() - LOG_OVERHEAD).map_err(|_| EncodeError::TooLong {
                what: "RecordBatch",
                len: buf.len(),
            })?;
        let h = &mut buf[..V2_HEADER_LEN];
        h[0..8].copy_from_slice(&options.base_offset.to_be_bytes());
        h[8..12].copy_from_slice(&batch_length.to_be_bytes());
        h[12..16].copy_from_slice(&options.partition_leader_epoch.to_be_bytes());
        h[16] = 2;
        h[21..23].copy_from_slice(&options.attributes().to_be_bytes());
        h[23..27].copy_from_slice(&self.last_offset_delta.max(0).to_be_bytes());
        h[27..35].copy_from_slice(&self.base_timestamp.to_be_bytes());
        h[35..43].copy_from_slice(&self.max_timestamp.to_be_bytes());
        h[43..51].copy_from_slice(&options.producer_id.to_be_bytes());
        h[51..53].copy_from_slice(&options.producer_epoch.to_be_bytes());
        h[53..57].copy_from_slice(&options.base_sequence.to_be_bytes());
        h[57..61].copy_from_slice(&self.count.to_be_bytes());
        let crc = crc32c::crc32c(&buf[V2_CRC_START..]);
        buf[17..21].copy_from_slice(&crc.to_be_bytes());
        Ok(())
    }
}

/// Encodes `records` as one v2 batch, each at its own `offset` (increasing,
/// within `i32` of `options.base_offset`).
///
/// ```
/// use kafka_proto::record::{encode, BatchOptions, Compression, Record, RecordBatch};
///
/// let records: Vec<Record> = (0..3)
///     .map(|i| Record { offset: i, timestamp: 10 * i, value: Some("v".into()), ..Record::default() })
///     .collect();
/// let options = BatchOptions { compression: Compression::None, ..BatchOptions::default() };
/// let mut bytes = encode(&records, &options)?;
/// let batch = RecordBatch::decode(&mut bytes, &Default::default())?;
/// assert_eq!(batch.records()?.collect::<Result<Vec<_>, _>>()?, records);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encode<'a, I>(records: I, options: &BatchOptions) -> Result<Bytes, EncodeError>
where
    I: IntoIterator<Item = &'a Record>,
{
    let mut builder = RecordBatchBuilder::new(*options);
    for record in records {
        builder.append_record(record)?;
    }
    builder.finish()
}

#[inline(always)]
fn zigzag32(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

#[inline(always)]
fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Encoded size of an unsigned varint below 2^14: 1 or 2.
#[inline(always)]
fn len2(v: u64) -> usize {
    1 + usize::from(v >= 0x80)
}

/// An unsigned varint below 2^14, encoded into the low bytes of a word
/// (little-endian), branch-free.
#[inline(always)]
fn enc2(v: u64) -> u64 {
    let more = u64::from(v >= 0x80);
    (v & 0x7f) | (more << 7) | ((v >> 7) << 8)
}

fn prefixed_len(len: usize, what: &'static str) -> Result<usize, EncodeError> {
    let n = i32::try_from(len).map_err(|_| EncodeError::TooLong { what, len })?;
    Ok(varint_len(n) + len)
}

#[inline]
fn put_varint(buf: &mut Vec<u8>, v: i32) {
    let mut s = Scratch::new();
    s.varint(v);
    buf.extend_from_slice(s.bytes());
}

/// A small stack buffer for the varints (and a short key) of one record.
///
/// Varints are written 8 bytes at a time: each is encoded into a `u64`
/// and stored whole, then the length advances by its encoded size, so there
/// is one bounds check per varint rather than one per byte.
struct Scratch {
    buf: [u8; SCRATCH],
    len: usize,
}

/// Room for the prefix (26), value length (5), header count (5), a short
/// key, and the 8-byte stores' slack.
const SCRATCH: usize = 96;

/// Keys up to this long are copied into the scratch buffer with the prefix.
const SHORT_KEY: usize = 32;

impl Scratch {
    #[inline(always)]
    fn new() -> Self {
        Self {
            buf: [0; SCRATCH],
            len: 0,
        }
    }

    #[inline(always)]
    fn clear(&mut self) {
        self.len = 0;
    }

    #[inline(always)]
    fn byte(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    /// Stores up to 8 bytes of `word` (little-endian) and keeps `n` of them.
    #[inline(always)]
    fn word(&mut self, word: u64, n: usize) {
        if let Some(slot) = self
            .buf
            .get_mut(self.len..)
            .and_then(|s| s.first_chunk_mut::<8>())
        {
            *slot = word.to_le_bytes();
            self.len += n;
        }
    }

    #[inline(always)]
    fn uvarint(&mut self, v: u64) {
        // One-byte fast path: deltas and short lengths.
        if v < 0x80 {
            self.byte(v as u8);
            return;
        }
        // Two bytes: lengths up to 8 KiB, deltas up to 8191.
        if v < 1 << 14 {
            self.word((v & 0x7f) | 0x80 | ((v >> 7) << 8), 2);
            return;
        }
        self.uvarint_long(v);
    }

    #[cold]
    fn uvarint_long(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.byte((v as u8) | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }

    #[inline(always)]
    fn varint(&mut self, v: i32) {
        self.uvarint(u64::from(((v << 1) ^ (v >> 31)) as u32));
    }

    #[inline(always)]
    fn varlong(&mut self, v: i64) {
        self.uvarint(((v << 1) ^ (v >> 63)) as u64);
    }

    /// Appends `b` if it is short and fits; false (and nothing written) otherwise.
    #[inline(always)]
    fn try_extend(&mut self, b: &[u8]) -> bool {
        if b.len() > SHORT_KEY {
            return false;
        }
        match self.buf.get_mut(self.len..self.len + b.len()) {
            Some(dst) => {
                dst.copy_from_slice(b);
                self.len += b.len();
                true
            }
            None => false,
        }
    }

    #[inline(always)]
    fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

/// Mutable access to the header of one encoded v2 batch, for a broker that
/// stamps offsets, leader epochs or producer state without re-encoding the
/// records.
///
/// The base offset, length and leader epoch sit before the CRC'd region
/// and are rewritten in place; setters of fields inside it recompute the
/// CRC32C (one pass over the batch per call).
///
/// ```
/// use bytes::BytesMut;
/// use kafka_proto::record::{encode, BatchHeaderMut, BatchOptions, Batches, Record};
///
/// let record = Record::default();
/// let mut buf = BytesMut::from(&encode([&record], &BatchOptions::default())?[..]);
/// let mut header = BatchHeaderMut::new(&mut buf)?;
/// header.set_base_offset(500);
/// header.set_partition_leader_epoch(3);
/// let batch = Batches::new(buf.freeze()).next().unwrap()?;
/// assert_eq!((batch.header().base_offset, batch.header().partition_leader_epoch), (500, 3));
/// assert_eq!(batch.records()?.next().unwrap()?.offset, 500);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct BatchHeaderMut<'a> {
    batch: &'a mut [u8],
}

impl<'a> BatchHeaderMut<'a> {
    /// Wraps `batch`, which must be exactly one magic 2 batch.
    pub fn new(batch: &'a mut [u8]) -> Result<Self, DecodeError> {
        let Some(&[a, b, c, d]) = batch.get(8..LOG_OVERHEAD) else {
            return Err(DecodeError::truncated(
                "RecordBatch",
                LOG_OVERHEAD - batch.len(),
            ));
        };
        let declared = i32::from_be_bytes([a, b, c, d]);
        let expected = batch.len() - LOG_OVERHEAD;
        if declared < 0 || declared as usize != expected || batch.len() < V2_HEADER_LEN {
            return Err(DecodeError::invalid(
                "RecordBatch.BatchLength",
                format!("length {declared} does not match the {expected} byte(s) given"),
            ));
        }
        match batch.get(MAGIC_OFFSET) {
            Some(2) => Ok(Self { batch }),
            Some(&m) => Err(DecodeError::version(
                "RecordBatch.Magic",
                i16::from(m as i8),
            )),
            None => Err(DecodeError::truncated("RecordBatch.Magic", 1)),
        }
    }

    /// Sets the base offset (outside the CRC).
    pub fn set_base_offset(&mut self, base_offset: i64) {
        self.batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
    }

    /// Sets the partition leader epoch (outside the CRC).
    pub fn set_partition_leader_epoch(&mut self, epoch: i32) {
        self.batch[12..16].copy_from_slice(&epoch.to_be_bytes());
    }

    /// The batch's last offset delta.
    pub fn last_offset_delta(&self) -> i32 {
        i32::from_be_bytes([
            self.batch[23],
            self.batch[24],
            self.batch[25],
            self.batch[26],
        ])
    }

    /// Sets producer id, epoch and base sequence, and recomputes the CRC.
    pub fn set_producer(&mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) {
        self.batch[43..51].copy_from_slice(&producer_id.to_be_bytes());
        self.batch[51..53].copy_from_slice(&producer_epoch.to_be_bytes());
        self.batch[53..57].copy_from_slice(&base_sequence.to_be_bytes());
        self.update_crc();
    }

    /// Switches the batch to log-append time at `timestamp` (what a broker
    /// with `message.timestamp.type=LogAppendTime` does), and recomputes the CRC.
    pub fn set_log_append_time(&mut self, timestamp: i64) {
        let attributes =
            i16::from_be_bytes([self.batch[21], self.batch[22]]) | ATTR_LOG_APPEND_TIME;
        self.batch[21..23].copy_from_slice(&attributes.to_be_bytes());
        self.batch[35..43].copy_from_slice(&timestamp.to_be_bytes());
        self.update_crc();
    }

    fn update_crc(&mut self) {
        let crc = crc32c::crc32c(&self.batch[V2_CRC_START..]);
        self.batch[17..21].copy_from_slice(&crc.to_be_bytes());
    }
}

/// Gives the v2 batches of a record set consecutive offsets starting at
/// `first_offset`, in place, and returns the next free offset.
///
/// Every entry must be a complete magic 2 batch; the CRCs are untouched
/// because offsets lie outside them.
///
/// ```
/// use bytes::BytesMut;
/// use kafka_proto::record::{assign_offsets, encode, BatchOptions, Record};
///
/// let records = [Record::default(), Record { offset: 1, ..Record::default() }];
/// let mut set = BytesMut::from(&encode(&records, &BatchOptions::default())?[..]);
/// assert_eq!(assign_offsets(&mut set, 40)?, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn assign_offsets(record_set: &mut [u8], first_offset: i64) -> Result<i64, DecodeError> {
    let total = record_set.len();
    let mut next = first_offset;
    let mut rest = record_set;
    while !rest.is_empty() {
        let at = total - rest.len();
        let Some(&[a, b, c, d]) = rest.get(8..LOG_OVERHEAD) else {
            return Err(
                DecodeError::truncated("RecordBatch", LOG_OVERHEAD - rest.len())
                    .at(total, total - at),
            );
        };
        let len = usize::try_from(i32::from_be_bytes([a, b, c, d]))
            .ok()
            .and_then(|l| l.checked_add(LOG_OVERHEAD))
            .filter(|&l| l <= rest.len())
            .ok_or_else(|| {
                DecodeError::invalid("RecordBatch.BatchLength", "batch overruns the record set")
                    .at(total, total - at)
            })?;
        let (batch, tail) = rest.split_at_mut(len);
        let mut header = BatchHeaderMut::new(batch).map_err(|e| e.at(total, total - at))?;
        header.set_base_offset(next);
        next = next
            .wrapping_add(i64::from(header.last_offset_delta()))
            .wrapping_add(1);
        rest = tail;
    }
    Ok(next)
}
