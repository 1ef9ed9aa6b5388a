//! Legacy message sets (magic 0 and 1).
//!
//! Each entry is one message: offset, size, CRC32 (IEEE, over magic to end),
//! magic, attributes, timestamp (magic 1 only), key and value. A compressed
//! entry is a wrapper whose value inflates to an inner message set; magic 1
//! inner offsets are relative to the wrapper's, magic 0 inner offsets are
//! absolute. Compression nests at most one level.

use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};

use super::batch::{BatchHeader, LOG_OVERHEAD};
use super::compression;
use super::cursor::Cursor;
use super::records::{slice, Headers, Record, SharedRecord};
use super::{Compression, DecodeOptions, TimestampType, NO_PARTITION_LEADER_EPOCH};
use super::{NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};

/// CRC, magic, attributes, and the key and value lengths of a magic 0 message.
pub(crate) const MIN_MESSAGE_LEN: usize = 4 + 1 + 1 + 4 + 4;
const CODEC_MASK: i8 = 0x07;
const TIMESTAMP_TYPE_BIT: i8 = 1 << 3;

/// One parsed legacy message; key and value are ranges in the parsed slice.
struct Message {
    offset: i64,
    crc: u32,
    size: i32,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<Range<usize>>,
    value: Option<Range<usize>>,
}

impl Message {
    fn codec(&self) -> i8 {
        self.attributes & CODEC_MASK
    }
}

/// Parses the message at `pos`, returning it and the position after it.
fn parse_message(
    data: &[u8],
    pos: usize,
    verify_crc: bool,
) -> Result<(Message, usize), DecodeError> {
    let mut c = Cursor::new(data, pos);
    let offset = c.i64("Message.Offset")?;
    let size = c.i32("Message.MessageSize")?;
    if size < MIN_MESSAGE_LEN as i32 {
        return Err(DecodeError::invalid(
            "Message.MessageSize",
            format!("{size} is below the minimum message size"),
        ));
    }
    let body = c.take(size as usize, "Message.MessageSize")?;
    let end = body.end;
    let msg = data.get(..end).unwrap_or_default();
    let mut c = Cursor::new(msg, body.start);
    let crc = c.u32("Message.Crc")?;
    let magic = c.i8("Message.Magic")?;
    if !(0..=1).contains(&magic) {
        return Err(DecodeError::version("Message.Magic", i16::from(magic)));
    }
    if verify_crc {
        let computed = crc32fast::hash(msg.get(c.pos() - 1..).unwrap_or_default());
        if computed != crc {
            return Err(DecodeError::new(
                "Message.Crc",
                DecodeErrorKind::CrcMismatch {
                    stored: crc,
                    computed,
                },
            ));
        }
    }
    let attributes = c.i8("Message.Attributes")?;
    let timestamp = if magic == 1 {
        c.i64("Message.Timestamp")?
    } else {
        NO_TIMESTAMP
    };
    let key = c.i32_bytes("Message.Key")?;
    let value = c.i32_bytes("Message.Value")?;
    if c.pos() != end {
        return Err(DecodeError::new(
            "Message",
            DecodeErrorKind::TrailingBytes(end - c.pos()),
        ));
    }
    Ok((
        Message {
            offset,
            crc,
            size,
            magic,
            attributes,
            timestamp,
            key,
            value,
        },
        end,
    ))
}

/// The messages of a legacy entry and how to turn their offsets and
/// timestamps into absolute ones.
#[derive(Debug, Clone)]
pub(crate) struct LegacyBody {
    /// A message set: the entry itself, or a wrapper's inflated value.
    messages: Bytes,
    /// Added to inner offsets (magic 1 wrappers); `None` when absolute.
    offset_base: Option<i64>,
    /// The wrapper's timestamp, when it is a log-append time.
    log_append_time: Option<i64>,
    count: u32,
}

impl LegacyBody {
    pub(crate) fn records(&self) -> LegacyRecords {
        LegacyRecords {
            data: self.messages.clone(),
            pos: 0,
            left: self.count,
            offset_base: self.offset_base,
            log_append_time: self.log_append_time,
        }
    }
}

/// Decodes a complete legacy entry (exactly `raw`), inflating a wrapper
/// and validating every inner message.
pub(crate) fn decode_entry(
    raw: &Bytes,
    options: &DecodeOptions,
) -> Result<(BatchHeader, LegacyBody), DecodeError> {
    let (outer, _) = parse_message(raw, 0, options.verify_crc)?;
    let codec = outer.codec();
    let compression = Compression::from_id(codec).ok_or_else(|| {
        DecodeError::new(
            "Message.Attributes",
            DecodeErrorKind::UnsupportedCompression(codec),
        )
    })?;
    let attr_mask: i8 = if outer.magic == 1 {
        CODEC_MASK | TIMESTAMP_TYPE_BIT
    } else {
        CODEC_MASK
    };
    let mut header = BatchHeader {
        base_offset: outer.offset,
        batch_length: outer.size,
        partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
        magic: outer.magic,
        crc: outer.crc,
        attributes: i16::from(outer.attributes & attr_mask),
        last_offset_delta: 0,
        base_timestamp: outer.timestamp,
        max_timestamp: outer.timestamp,
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
        base_sequence: NO_SEQUENCE,
        record_count: 1,
    };
    if compression == Compression::None {
        let body = LegacyBody {
            messages: raw.clone(),
            offset_base: None,
            log_append_time: None,
            count: 1,
        };
        return Ok((header, body));
    }

    let Some(value) = outer.value.clone() else {
        return Err(DecodeError::invalid(
            "Message.Value",
            "compressed wrapper has a null value",
        ));
    };
    let compressed = raw.get(value).unwrap_or_default();
    let messages = Bytes::from(compression::decompress(
        compression,
        compressed,
        options.max_decompressed_size,
    )?);

    // Validate the inner set once, so iteration cannot fail, and find the
    // first and last inner offsets.
    let mut pos = 0;
    let mut count: u32 = 0;
    let (mut first, mut last) = (0i64, 0i64);
    while pos < messages.len() {
        let (inner, next) = parse_message(&messages, pos, options.verify_crc)?;
        if inner.codec() != 0 {
            return Err(DecodeError::invalid(
                "Message.Attributes",
                "nested compression in a legacy message set",
            ));
        }
        if count == 0 {
            first = inner.offset;
        }
        last = inner.offset;
        count = count
            .checked_add(1)
            .ok_or_else(|| DecodeError::invalid("Message.Value", "too many inner messages"))?;
        pos = next;
    }
    if count == 0 {
        return Err(DecodeError::invalid(
            "Message.Value",
            "compressed wrapper holds no messages",
        ));
    }

    let offset_base = (outer.magic == 1).then(|| outer.offset.wrapping_sub(last));
    header.base_offset = match offset_base {
        Some(base) => base.wrapping_add(first),
        None => first,
    };
    header.last_offset_delta =
        i32::try_from(outer.offset.wrapping_sub(header.base_offset)).unwrap_or(i32::MAX);
    header.record_count = i32::try_from(count).unwrap_or(i32::MAX);
    let log_append_time =
        (outer.magic == 1 && outer.attributes & TIMESTAMP_TYPE_BIT != 0).then_some(outer.timestamp);
    Ok((
        header,
        LegacyBody {
            messages,
            offset_base,
            log_append_time,
            count,
        },
    ))
}

/// Iterates the messages of a legacy entry as [`Record`]s.
#[derive(Debug, Clone)]
pub(crate) struct LegacyRecords {
    data: Bytes,
    pos: usize,
    left: u32,
    offset_base: Option<i64>,
    log_append_time: Option<i64>,
}

impl LegacyRecords {
    /// The next message's offset, timestamp, key and value (ranges in `self.data`).
    #[allow(clippy::type_complexity)]
    fn next_raw(
        &mut self,
    ) -> Option<Result<(i64, i64, Option<Range<usize>>, Option<Range<usize>>), DecodeError>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // The CRC was checked when the entry was decoded.
        let (msg, next) = match parse_message(&self.data, self.pos, false) {
            Ok(m) => m,
            Err(e) => {
                self.left = 0;
                return Some(Err(e));
            }
        };
        self.pos = next;
        let timestamp = match (self.log_append_time, msg.magic) {
            (Some(t), _) => t,
            (None, 1) => msg.timestamp,
            (None, _) => NO_TIMESTAMP,
        };
        let offset = match self.offset_base {
            Some(base) => base.wrapping_add(msg.offset),
            None => msg.offset,
        };
        Some(Ok((offset, timestamp, msg.key, msg.value)))
    }

    pub(crate) fn next(&mut self) -> Option<Result<Record, DecodeError>> {
        Some(
            self.next_raw()?
                .map(|(offset, timestamp, key, value)| Record {
                    offset,
                    timestamp,
                    key: key.map(|r| slice(&self.data, r)),
                    value: value.map(|r| slice(&self.data, r)),
                    headers: Headers::new(),
                }),
        )
    }

    pub(crate) fn next_shared(&mut self) -> Option<Result<SharedRecord, DecodeError>> {
        Some(self.next_raw()?.map(|(offset, timestamp, key, value)| {
            SharedRecord::new(self.data.clone(), offset, timestamp, key, value, 0..0, 0)
        }))
    }

    pub(crate) fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left as usize))
    }
}

/// How to write a legacy message set with [`encode_legacy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyOptions {
    /// 0 or 1.
    pub magic: i8,
    /// gzip, snappy or lz4 wrap all records in one compressed message.
    /// (Kafka does not allow zstd before magic 2.)
    pub compression: Compression,
    /// Codec level; `None` for the codec's default.
    pub compression_level: Option<i32>,
    /// Magic 1 only.
    pub timestamp_type: TimestampType,
}

impl Default for LegacyOptions {
    fn default() -> Self {
        Self {
            magic: 1,
            compression: Compression::None,
            compression_level: None,
            timestamp_type: TimestampType::CreateTime,
        }
    }
}

/// Encodes `records` as a legacy (magic 0 or 1) message set.
///
/// Records keep their own offsets, which must increase. Uncompressed, each
/// record is one message. Compressed, the records go into one wrapper whose
/// offset is the last record's and whose timestamp is the largest one (under
/// log-append time every record then reads that timestamp). Records with
/// headers are rejected: legacy messages have none.
///
/// ```
/// use kafka_proto::record::{encode_legacy, Batches, LegacyOptions, Record};
///
/// let r = Record { offset: 7, timestamp: 1000, value: Some("v".into()), ..Record::default() };
/// let set = encode_legacy([&r], &LegacyOptions::default())?;
/// let batch = Batches::new(set).next().unwrap()?;
/// assert_eq!(batch.header().magic, 1);
/// assert_eq!(batch.records()?.next().unwrap()?, r);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encode_legacy<'a, I>(records: I, options: &LegacyOptions) -> Result<Bytes, EncodeError>
where
    I: IntoIterator<Item = &'a Record>,
{
    let invalid = |detail: &str| EncodeError::Invalid {
        what: "LegacyOptions",
        detail: detail.to_owned(),
    };
    let magic = options.magic;
    if !(0..=1).contains(&magic) {
        return Err(invalid("magic must be 0 or 1"));
    }
    let log_append = options.timestamp_type == TimestampType::LogAppendTime;
    if magic == 0 && log_append {
        return Err(invalid("magic 0 has no timestamps"));
    }
    if options.compression == Compression::Zstd {
        return Err(invalid("zstd needs magic 2"));
    }
    let ts_bit = if log_append { TIMESTAMP_TYPE_BIT } else { 0 };

    let mut out = BytesMut::new();
    if options.compression == Compression::None {
        let mut last = None;
        for r in records {
            check_record(r, last)?;
            last = Some(r.offset);
            write_message(
                &mut out,
                r.offset,
                magic,
                ts_bit,
                r.timestamp,
                r.key.as_deref(),
                r.value.as_deref(),
            )?;
        }
        return Ok(out.freeze());
    }

    let mut inner = BytesMut::new();
    let mut first = None;
    let mut last = None;
    let mut max_timestamp = NO_TIMESTAMP;
    for r in records {
        check_record(r, last)?;
        let first = *first.get_or_insert(r.offset);
        last = Some(r.offset);
        max_timestamp = max_timestamp.max(r.timestamp);
        // Magic 1 inner offsets are relative to the first record.
        let offset = if magic == 1 {
            r.offset.wrapping_sub(first)
        } else {
            r.offset
        };
        write_message(
            &mut inner,
            offset,
            magic,
            0,
            r.timestamp,
            r.key.as_deref(),
            r.value.as_deref(),
        )?;
    }
    let Some(last) = last else {
        return Ok(Bytes::new());
    };
    let mut compressed = BytesMut::new();
    compression::compress(
        options.compression,
        options.compression_level,
        &inner,
        &mut compressed,
    )?;
    write_message(
        &mut out,
        last,
        magic,
        options.compression.id() | ts_bit,
        max_timestamp,
        None,
        Some(&compressed),
    )?;
    Ok(out.freeze())
}

fn check_record(r: &Record, previous: Option<i64>) -> Result<(), EncodeError> {
    if !r.headers.is_empty() {
        return Err(EncodeError::Invalid {
            what: "Record.Headers",
            detail: "legacy messages cannot carry headers".to_owned(),
        });
    }
    if previous.is_some_and(|p| r.offset <= p) {
        return Err(EncodeError::Invalid {
            what: "Record.Offset",
            detail: format!(
                "offset {} does not follow {}",
                r.offset,
                previous.unwrap_or(0)
            ),
        });
    }
    Ok(())
}

fn write_message(
    out: &mut BytesMut,
    offset: i64,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Result<(), EncodeError> {
    let start = out.len();
    out.put_i64(offset);
    out.put_i32(0); // size, filled below
    out.put_u32(0); // crc, filled below
    out.put_i8(magic);
    out.put_i8(attributes);
    if magic == 1 {
        out.put_i64(timestamp);
    }
    for (field, what) in [(key, "Message.Key"), (value, "Message.Value")] {
        match field {
            Some(b) => {
                let len = i32::try_from(b.len())
                    .map_err(|_| EncodeError::TooLong { what, len: b.len() })?;
                out.put_i32(len);
                out.put_slice(b);
            }
            None => out.put_i32(-1),
        }
    }
    let size = out.len() - start - LOG_OVERHEAD;
    let size = i32::try_from(size).map_err(|_| EncodeError::TooLong {
        what: "Message",
        len: size,
    })?;
    let crc = crc32fast::hash(&out[start + LOG_OVERHEAD + 4..]);
    out[start + 8..start + 12].copy_from_slice(&size.to_be_bytes());
    out[start + 12..start + 16].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}
