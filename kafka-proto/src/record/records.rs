//! Records as a consumer sees them, and the lazy iterator that parses them.

use std::fmt;
use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};

use super::cursor::Cursor;
use super::legacy;
use crate::codec::put_varint;
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};

/// One record, whatever the magic of the batch it came from.
///
/// `offset` and `timestamp` are absolute (batch base plus deltas; under
/// log-append time, the batch's timestamp). Keys, values and header values
/// share the decoded buffer. Legacy (magic 0/1) records have no headers, and
/// magic 0 records have [`NO_TIMESTAMP`](super::NO_TIMESTAMP).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// The record's offset in its partition.
    pub offset: i64,
    /// Milliseconds since the Unix epoch (meaning set by the batch's timestamp type).
    pub timestamp: i64,
    /// The key, `None` for a null key.
    pub key: Option<Bytes>,
    /// The value, `None` for a null value (a tombstone).
    pub value: Option<Bytes>,
    /// The headers, in wire order, duplicates included.
    pub headers: Headers,
}

/// A record's headers, kept in wire form and parsed on iteration.
///
/// Holding the encoded bytes rather than a list means reading a record
/// allocates nothing, and re-encoding a decoded record copies them verbatim.
/// Keys are UTF-8 (checked when the record was decoded); values may be null.
///
/// ```
/// use kafka_proto::record::Headers;
///
/// let headers = Headers::from_pairs([("a", Some(&b"1"[..])), ("b", None), ("a", Some(&b"2"[..]))])?;
/// assert_eq!(headers.len(), 3);
/// assert_eq!(headers.last("a").unwrap().as_deref(), Some(&b"2"[..]));
/// let keys: Vec<&str> = headers.iter().map(|(k, _)| k).collect();
/// assert_eq!(keys, ["a", "b", "a"]);
/// # Ok::<(), kafka_proto::EncodeError>(())
/// ```
#[derive(Clone, Default)]
pub struct Headers {
    /// The headers without their count prefix.
    data: Bytes,
    count: u32,
}

impl Headers {
    /// No headers.
    pub const fn new() -> Self {
        Self {
            data: Bytes::new(),
            count: 0,
        }
    }

    /// Encodes `(key, value)` pairs into a header list.
    pub fn from_pairs<K, V, I>(pairs: I) -> Result<Self, EncodeError>
    where
        K: AsRef<str>,
        V: AsRef<[u8]>,
        I: IntoIterator<Item = (K, Option<V>)>,
    {
        let mut buf = BytesMut::new();
        let mut count: u32 = 0;
        for (key, value) in pairs {
            let key = key.as_ref().as_bytes();
            put_varint(&mut buf, len_i32(key.len(), "Record.Headers.Key")?);
            buf.put_slice(key);
            match value {
                Some(v) => {
                    let v = v.as_ref();
                    put_varint(&mut buf, len_i32(v.len(), "Record.Headers.Value")?);
                    buf.put_slice(v);
                }
                None => put_varint(&mut buf, -1),
            }
            count = count
                .checked_add(1)
                .filter(|&c| c <= i32::MAX as u32)
                .ok_or(EncodeError::TooLong {
                    what: "Record.Headers",
                    len: count as usize,
                })?;
        }
        Ok(Self {
            data: buf.freeze(),
            count,
        })
    }

    pub(crate) fn from_wire(data: Bytes, count: u32) -> Self {
        Self { data, count }
    }

    /// The encoded headers (without the count), as they appear on the wire.
    pub fn as_wire_bytes(&self) -> &Bytes {
        &self.data
    }

    /// Number of headers, duplicates included.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when there are no headers.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Iterates `(key, value)` pairs in wire order.
    pub fn iter(&self) -> HeaderIter<'_> {
        HeaderIter {
            data: &self.data,
            pos: 0,
            left: self.count,
        }
    }

    /// The value of the last header named `key` (Kafka's `lastHeader`):
    /// `None` if absent, `Some(None)` if present with a null value.
    pub fn last(&self, key: &str) -> Option<Option<Bytes>> {
        self.iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v)
            .last()
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.count == other.count && (self.data == other.data || self.iter().eq(other.iter()))
    }
}

impl Eq for Headers {}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = (&'a str, Option<Bytes>);
    type IntoIter = HeaderIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over [`Headers`], yielding `(key, value)`.
#[derive(Clone)]
pub struct HeaderIter<'a> {
    data: &'a Bytes,
    pos: usize,
    left: u32,
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = (&'a str, Option<Bytes>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let data: &'a [u8] = self.data;
        let mut c = Cursor::new(data, self.pos);
        // The headers were validated when the record was decoded (or were
        // built by `from_pairs`); a failure here only ends the iteration.
        let key = c.varint_bytes("Record.Headers.Key").ok()??;
        let key = std::str::from_utf8(data.get(key)?).ok()?;
        let value = c.varint_bytes("Record.Headers.Value").ok()?;
        self.pos = c.pos();
        self.left -= 1;
        Some((key, value.map(|r| self.data.slice(r))))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left as usize))
    }
}

fn len_i32(len: usize, what: &'static str) -> Result<i32, EncodeError> {
    i32::try_from(len).map_err(|_| EncodeError::TooLong { what, len })
}

/// Iterator over the records of one batch, from [`RecordBatch::records`](super::RecordBatch::records).
///
/// Each step parses one record; nothing is allocated per record. The first
/// error ends the iteration. Owns its buffer, so it can outlive the batch.
#[derive(Debug, Clone)]
pub struct Records {
    inner: Inner,
}

#[derive(Debug, Clone)]
enum Inner {
    V2(V2Records),
    Legacy(legacy::LegacyRecords),
    Done,
}

impl Records {
    pub(crate) fn v2(
        data: Bytes,
        count: u32,
        base_offset: i64,
        base_timestamp: i64,
        log_append_time: Option<i64>,
    ) -> Self {
        Self {
            inner: Inner::V2(V2Records {
                data,
                pos: 0,
                left: count,
                base_offset,
                base_timestamp,
                log_append_time,
            }),
        }
    }

    pub(crate) fn legacy(inner: legacy::LegacyRecords) -> Self {
        Self {
            inner: Inner::Legacy(inner),
        }
    }
}

impl Iterator for Records {
    type Item = Result<Record, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let result = match &mut self.inner {
            Inner::V2(r) => r.next()?,
            Inner::Legacy(r) => r.next()?,
            Inner::Done => return None,
        };
        if result.is_err() {
            self.inner = Inner::Done;
        }
        Some(result)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            Inner::V2(r) => (0, Some(r.left as usize + 1)),
            Inner::Legacy(r) => r.size_hint(),
            Inner::Done => (0, Some(0)),
        }
    }
}

impl std::iter::FusedIterator for Records {}

#[derive(Debug, Clone)]
struct V2Records {
    data: Bytes,
    pos: usize,
    left: u32,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
}

impl V2Records {
    #[inline]
    fn next(&mut self) -> Option<Result<Record, DecodeError>> {
        if self.left == 0 {
            let trailing = self.data.len().saturating_sub(self.pos);
            if trailing > 0 {
                self.pos = self.data.len();
                return Some(Err(DecodeError::new(
                    "RecordBatch.Records",
                    DecodeErrorKind::TrailingBytes(trailing),
                )));
            }
            return None;
        }
        self.left -= 1;
        Some(self.decode_one())
    }

    #[inline]
    fn decode_one(&mut self) -> Result<Record, DecodeError> {
        let data: &[u8] = &self.data;
        let mut c = Cursor::new(data, self.pos);
        let len = c.varint("Record.Length")?;
        if len < 0 {
            return Err(DecodeError::invalid(
                "Record.Length",
                format!("negative length {len}"),
            ));
        }
        let body = c.take(len as usize, "Record.Length")?;
        let end = body.end;
        let record = data.get(..end).unwrap_or_default();
        let mut c = Cursor::new(record, body.start);
        let _attributes = c.i8("Record.Attributes")?;
        let timestamp_delta = c.varlong("Record.TimestampDelta")?;
        let offset_delta = c.varint("Record.OffsetDelta")?;
        let key = c.varint_bytes("Record.Key")?;
        let value = c.varint_bytes("Record.Value")?;
        let header_count = c.varint("Record.Headers")?;
        if header_count < 0 {
            return Err(DecodeError::invalid(
                "Record.Headers",
                format!("negative header count {header_count}"),
            ));
        }
        let headers = if header_count == 0 {
            Headers::new()
        } else {
            let start = c.pos();
            // Each header takes at least two bytes (two length varints).
            if (header_count as usize).saturating_mul(2) > c.remaining() {
                return Err(DecodeError::too_large(
                    "Record.Headers",
                    header_count as u64,
                    c.remaining(),
                ));
            }
            for _ in 0..header_count {
                let key = c
                    .varint_bytes("Record.Headers.Key")?
                    .ok_or_else(|| DecodeError::invalid("Record.Headers.Key", "null header key"))?;
                if std::str::from_utf8(record.get(key).unwrap_or_default()).is_err() {
                    return Err(DecodeError::invalid(
                        "Record.Headers.Key",
                        "key is not UTF-8",
                    ));
                }
                c.varint_bytes("Record.Headers.Value")?;
            }
            Headers::from_wire(self.data.slice(start..c.pos()), header_count as u32)
        };
        if c.pos() != end {
            return Err(DecodeError::new(
                "Record",
                DecodeErrorKind::TrailingBytes(end - c.pos()),
            ));
        }
        self.pos = end;
        Ok(Record {
            offset: self.base_offset.wrapping_add(i64::from(offset_delta)),
            timestamp: match self.log_append_time {
                Some(t) => t,
                None => self.base_timestamp.wrapping_add(timestamp_delta),
            },
            key: key.map(|r| slice(&self.data, r)),
            value: value.map(|r| slice(&self.data, r)),
            headers,
        })
    }
}

/// A zero-copy slice; an empty range shares nothing.
#[inline]
pub(crate) fn slice(data: &Bytes, r: Range<usize>) -> Bytes {
    if r.is_empty() {
        Bytes::new()
    } else {
        data.slice(r)
    }
}
