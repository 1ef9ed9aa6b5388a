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

    // Always inlined into the caller's loop: one call site per loop, and
    // returning the record through memory costs ~90 instructions each.
    #[inline(always)]
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

/// Iterator over the records of one batch as [`SharedRecord`]s, from
/// [`RecordBatch::records_shared`](super::RecordBatch::records_shared).
///
/// Each step parses one record and takes one reference on the batch's
/// buffer; nothing is allocated per record. The first error ends the
/// iteration. Owns its buffer, so it can outlive the batch.
#[derive(Debug, Clone)]
pub struct SharedRecords {
    inner: Inner,
}

impl SharedRecords {
    pub(crate) fn new(records: Records) -> Self {
        Self {
            inner: records.inner,
        }
    }
}

impl Iterator for SharedRecords {
    type Item = Result<SharedRecord, DecodeError>;

    // Always inlined into the caller's loop: one call site per loop, and
    // returning the record through memory costs ~90 instructions each.
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let result = match &mut self.inner {
            Inner::V2(r) => r.next_shared()?,
            Inner::Legacy(r) => r.next_shared()?,
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

impl std::iter::FusedIterator for SharedRecords {}

/// An owned record that shares its batch's buffer: what
/// [`RecordBatch::records_shared`](super::RecordBatch::records_shared) yields.
///
/// It holds one reference on the batch's (decompressed) record bytes and
/// the positions of its fields, so producing one costs a single
/// reference-count increment however many fields it has, and it can be
/// kept, cloned or sent to another thread like a [`Record`].
///
/// * [`key`](Self::key), [`value`](Self::value) and
///   [`headers`](Self::headers) are plain borrows: free.
/// * [`key_bytes`](Self::key_bytes) and [`value_bytes`](Self::value_bytes)
///   hand out zero-copy [`Bytes`] of the same buffer, on demand (one more
///   reference each), for a field that must live on its own.
/// * [`to_record`](Self::to_record) / `Record::from` make the classic
///   [`Record`] (zero-copy too).
///
/// Like every zero-copy view, a kept record keeps the whole batch buffer
/// alive.
///
/// ```
/// use kafka_proto::record::{encode, BatchOptions, Record, RecordBatch};
///
/// let records: Vec<Record> = (0..3)
///     .map(|i| Record { offset: i, timestamp: i, key: Some("k".into()), value: Some(vec![b'a'; 10].into()), ..Record::default() })
///     .collect();
/// let batch = RecordBatch::decode(&mut encode(&records, &BatchOptions::default())?, &Default::default())?;
/// let kept: Vec<_> = batch.records_shared()?.collect::<Result<_, _>>()?;
/// drop(batch);
/// assert_eq!(kept[2].offset(), 2);
/// assert_eq!(kept[2].key(), Some(&b"k"[..]));
/// assert_eq!(kept[2].value().map(<[u8]>::len), Some(10));
/// let value: bytes::Bytes = kept[2].value_bytes().unwrap(); // zero-copy
/// assert_eq!(Record::from(kept[2].clone()), records[2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct SharedRecord {
    /// The batch's whole record data; the fields are positions in it.
    data: Bytes,
    offset: i64,
    timestamp: i64,
    key: Option<Range<usize>>,
    value: Option<Range<usize>>,
    headers: Range<usize>,
    header_count: u32,
}

impl SharedRecord {
    pub(crate) fn new(
        data: Bytes,
        offset: i64,
        timestamp: i64,
        key: Option<Range<usize>>,
        value: Option<Range<usize>>,
        headers: Range<usize>,
        header_count: u32,
    ) -> Self {
        Self {
            data,
            offset,
            timestamp,
            key,
            value,
            headers,
            header_count,
        }
    }

    /// The record's offset in its partition.
    #[inline]
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// Milliseconds since the Unix epoch (meaning set by the batch's timestamp type).
    #[inline]
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// The key, `None` for a null key.
    #[inline]
    pub fn key(&self) -> Option<&[u8]> {
        self.key.clone().map(|r| self.get(r))
    }

    /// The value, `None` for a null value (a tombstone).
    #[inline]
    pub fn value(&self) -> Option<&[u8]> {
        self.value.clone().map(|r| self.get(r))
    }

    /// The key as zero-copy [`Bytes`] sharing the batch's buffer.
    #[inline]
    pub fn key_bytes(&self) -> Option<Bytes> {
        self.key.clone().map(|r| slice(&self.data, r))
    }

    /// The value as zero-copy [`Bytes`] sharing the batch's buffer.
    #[inline]
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.value.clone().map(|r| slice(&self.data, r))
    }

    /// The headers, in wire order, duplicates included.
    #[inline]
    pub fn headers(&self) -> HeadersRef<'_> {
        HeadersRef {
            data: self.get(self.headers.clone()),
            count: self.header_count,
        }
    }

    /// The record borrowed as a [`RecordRef`].
    #[inline]
    pub fn as_record_ref(&self) -> RecordRef<'_> {
        RecordRef {
            offset: self.offset,
            timestamp: self.timestamp,
            key: self.key(),
            value: self.value(),
            headers: self.headers(),
        }
    }

    /// The record as a [`Record`] whose key, value and headers are
    /// zero-copy [`Bytes`] of the same buffer.
    pub fn to_record(&self) -> Record {
        Record {
            offset: self.offset,
            timestamp: self.timestamp,
            key: self.key_bytes(),
            value: self.value_bytes(),
            headers: if self.header_count == 0 {
                Headers::new()
            } else {
                Headers::from_wire(self.data.slice(self.headers.clone()), self.header_count)
            },
        }
    }

    #[inline]
    fn get(&self, r: Range<usize>) -> &[u8] {
        self.data.get(r).unwrap_or_default()
    }
}

impl From<SharedRecord> for Record {
    fn from(r: SharedRecord) -> Self {
        r.to_record()
    }
}

impl fmt::Debug for SharedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedRecord")
            .field("offset", &self.offset)
            .field("timestamp", &self.timestamp)
            .field("key", &self.key())
            .field("value", &self.value())
            .field("headers", &self.headers())
            .finish()
    }
}

impl PartialEq for SharedRecord {
    fn eq(&self, other: &Self) -> bool {
        self.as_record_ref() == other.as_record_ref()
    }
}

impl Eq for SharedRecord {}

impl PartialEq<Record> for SharedRecord {
    fn eq(&self, other: &Record) -> bool {
        self.as_record_ref() == *other
    }
}

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
    #[inline(always)]
    fn next_shared(&mut self) -> Option<Result<SharedRecord, DecodeError>> {
        if self.left == 0 {
            return trailing(&self.data, &mut self.pos).map(Err);
        }
        self.left -= 1;
        let raw = match parse_record(&self.data, &mut self.pos) {
            Ok(raw) => raw,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(SharedRecord {
            data: self.data.clone(),
            offset: self.base_offset.wrapping_add(i64::from(raw.offset_delta)),
            timestamp: match self.log_append_time {
                Some(t) => t,
                None => self.base_timestamp.wrapping_add(raw.timestamp_delta),
            },
            key: raw.key,
            value: raw.value,
            headers: raw.headers,
            header_count: raw.header_count,
        }))
    }

    #[inline(always)]
    fn next(&mut self) -> Option<Result<Record, DecodeError>> {
        if self.left == 0 {
            return trailing(&self.data, &mut self.pos).map(Err);
        }
        self.left -= 1;
        let raw = match parse_record(&self.data, &mut self.pos) {
            Ok(raw) => raw,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(Record {
            offset: self.base_offset.wrapping_add(i64::from(raw.offset_delta)),
            timestamp: match self.log_append_time {
                Some(t) => t,
                None => self.base_timestamp.wrapping_add(raw.timestamp_delta),
            },
            key: raw.key.map(|r| slice(&self.data, r)),
            value: raw.value.map(|r| slice(&self.data, r)),
            headers: if raw.header_count == 0 {
                Headers::new()
            } else {
                Headers::from_wire(self.data.slice(raw.headers), raw.header_count)
            },
        }))
    }
}

/// The `TrailingBytes` error once the declared records are read, if bytes
/// remain (and then consumes them so it is reported once).
#[cold]
fn trailing(data: &[u8], pos: &mut usize) -> Option<DecodeError> {
    let trailing = data.len().saturating_sub(*pos);
    if trailing == 0 {
        return None;
    }
    *pos = data.len();
    Some(DecodeError::new(
        "RecordBatch.Records",
        DecodeErrorKind::TrailingBytes(trailing),
    ))
}

/// One parsed v2 record, as positions in the batch's record data.
pub(crate) struct RawRecord {
    pub(crate) timestamp_delta: i64,
    pub(crate) offset_delta: i32,
    pub(crate) header_count: u32,
    pub(crate) key: Option<Range<usize>>,
    pub(crate) value: Option<Range<usize>>,
    /// The encoded headers, without their count (empty when there are none).
    pub(crate) headers: Range<usize>,
}

/// Parses the v2 record at `*pos` in `data`, validating its framing and
/// header keys, and moves `*pos` past it. Shared by the owned and the
/// borrowed iterators, so both accept exactly the same input.
#[inline(always)]
pub(crate) fn parse_record(data: &[u8], pos: &mut usize) -> Result<RawRecord, DecodeError> {
    let mut c = Cursor::new(data, *pos);
    let len = c.varint("Record.Length")?;
    if len < 0 {
        return Err(negative("Record.Length", len));
    }
    // The record's own fields may not run past its length.
    let end = c.narrow(len as usize, "Record.Length")?;
    let _attributes = c.u8("Record.Attributes")?;
    let timestamp_delta = c.varlong("Record.TimestampDelta")?;
    let offset_delta = c.varint("Record.OffsetDelta")?;
    let key = c.varint_bytes("Record.Key")?;
    let value = c.varint_bytes("Record.Value")?;
    let header_count = c.varint("Record.Headers")?;
    let start = c.pos();
    if header_count != 0 {
        check_headers(&mut c, header_count)?;
    }
    if c.pos() != end {
        return Err(DecodeError::new(
            "Record",
            DecodeErrorKind::TrailingBytes(end - c.pos()),
        ));
    }
    *pos = end;
    Ok(RawRecord {
        timestamp_delta,
        offset_delta,
        header_count: header_count as u32,
        key,
        value,
        headers: start..end,
    })
}

#[cold]
#[inline(never)]
fn negative(what: &'static str, n: i32) -> DecodeError {
    DecodeError::invalid(what, format!("negative length {n}"))
}

/// Walks `count` headers, checking their framing and that keys are UTF-8.
#[inline(never)]
fn check_headers(c: &mut Cursor<'_>, header_count: i32) -> Result<(), DecodeError> {
    if header_count < 0 {
        return Err(DecodeError::invalid(
            "Record.Headers",
            format!("negative header count {header_count}"),
        ));
    }
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
        if std::str::from_utf8(c.get(key)).is_err() {
            return Err(DecodeError::invalid(
                "Record.Headers.Key",
                "key is not UTF-8",
            ));
        }
        c.varint_bytes("Record.Headers.Value")?;
    }
    Ok(())
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

/// A record borrowed from its batch's bytes: what [`RecordData::iter`] yields.
///
/// The same fields as [`Record`], but keys, values and headers are plain
/// slices, so producing one touches no reference count and allocates
/// nothing. To keep one past the [`RecordData`] it borrows from, use
/// [`RecordData::keep`] (shares the bytes) or [`to_record`](Self::to_record)
/// (copies them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordRef<'a> {
    /// The record's offset in its partition.
    pub offset: i64,
    /// Milliseconds since the Unix epoch (meaning set by the batch's timestamp type).
    pub timestamp: i64,
    /// The key, `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// The value, `None` for a null value (a tombstone).
    pub value: Option<&'a [u8]>,
    /// The headers, in wire order, duplicates included.
    pub headers: HeadersRef<'a>,
}

impl RecordRef<'_> {
    /// Copies the record into an owned [`Record`] (keys, values and headers
    /// are copied, not shared).
    pub fn to_record(&self) -> Record {
        Record {
            offset: self.offset,
            timestamp: self.timestamp,
            key: self.key.map(Bytes::copy_from_slice),
            value: self.value.map(Bytes::copy_from_slice),
            headers: self.headers.to_headers(),
        }
    }
}

impl PartialEq<Record> for RecordRef<'_> {
    fn eq(&self, other: &Record) -> bool {
        self.offset == other.offset
            && self.timestamp == other.timestamp
            && self.key == other.key.as_deref()
            && self.value == other.value.as_deref()
            && self.headers.len() == other.headers.len()
            && self
                .headers
                .iter()
                .zip(other.headers.iter())
                .all(|((k1, v1), (k2, v2))| k1 == k2 && v1 == v2.as_deref())
    }
}

/// A record's headers borrowed in wire form: [`Headers`] without the `Bytes`.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadersRef<'a> {
    data: &'a [u8],
    count: u32,
}

impl<'a> HeadersRef<'a> {
    /// The encoded headers (without the count), as they appear on the wire.
    pub fn as_wire_bytes(&self) -> &'a [u8] {
        self.data
    }

    /// Number of headers, duplicates included.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when there are no headers.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// An owned copy.
    pub fn to_headers(&self) -> Headers {
        Headers::from_wire(Bytes::copy_from_slice(self.data), self.count)
    }

    /// Iterates `(key, value)` pairs in wire order.
    pub fn iter(&self) -> HeaderRefIter<'a> {
        HeaderRefIter {
            data: self.data,
            pos: 0,
            left: self.count,
        }
    }

    /// The value of the last header named `key`: `None` if absent,
    /// `Some(None)` if present with a null value.
    pub fn last(&self, key: &str) -> Option<Option<&'a [u8]>> {
        self.iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v)
            .last()
    }
}

impl<'a> From<&'a Headers> for HeadersRef<'a> {
    fn from(headers: &'a Headers) -> Self {
        HeadersRef {
            data: headers.as_wire_bytes(),
            count: u32::try_from(headers.len()).unwrap_or(u32::MAX),
        }
    }
}

impl fmt::Debug for HeadersRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for HeadersRef<'a> {
    type Item = (&'a str, Option<&'a [u8]>);
    type IntoIter = HeaderRefIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over [`HeadersRef`], yielding `(key, value)`.
#[derive(Debug, Clone)]
pub struct HeaderRefIter<'a> {
    data: &'a [u8],
    pos: usize,
    left: u32,
}

impl<'a> Iterator for HeaderRefIter<'a> {
    type Item = (&'a str, Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let mut c = Cursor::new(self.data, self.pos);
        // Validated when the record was parsed; a failure only ends iteration.
        let key = c.varint_bytes("Record.Headers.Key").ok()??;
        let key = std::str::from_utf8(self.data.get(key)?).ok()?;
        let value = c.varint_bytes("Record.Headers.Value").ok()?;
        self.pos = c.pos();
        self.left -= 1;
        Some((key, value.map(|r| self.data.get(r).unwrap_or_default())))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left as usize))
    }
}

/// The record data of one batch, decompressed if it was compressed, for
/// iterating by reference: from [`RecordBatch::records_ref`](super::RecordBatch::records_ref).
///
/// It owns its bytes: an uncompressed v2 batch's records are shared with
/// the batch (one reference for the whole batch), a compressed one's are
/// inflated once into a buffer of its own. So it can be kept, cloned and
/// sent to another thread after the batch is gone, and
/// [`iter`](Self::iter) can be called any number of times.
///
/// # Which iterator to use
///
/// * [`RecordBatch::records`](super::RecordBatch::records) yields owned
///   [`Record`]s whose keys and values are [`Bytes`] sharing the input: use
///   it when most records must outlive the batch individually (queued for
///   different threads, kept in a cache). Each key, value and header set
///   costs a reference count increment (and decrement when dropped).
/// * [`RecordBatch::records_shared`](super::RecordBatch::records_shared)
///   yields owned [`SharedRecord`]s: one reference per record whatever its
///   fields, key and value readable as slices, and as [`Bytes`] only when
///   asked.
/// * `records_ref` yields [`RecordRef`]s of plain slices: nothing is
///   counted or allocated per record. Use it when each record is handled
///   while iterating (deserialized, summed, written out), which is most
///   consumers, or when the records travel together: keep the
///   `RecordData` itself. [`keep`](Self::keep) turns one record into a
///   [`Record`] sharing these bytes, and [`share`](Self::share) one key
///   or value into [`Bytes`], so only what is kept is counted.
///
/// All three parse and validate the same way and fail on the same input.
///
/// ```
/// use bytes::Bytes;
/// use kafka_proto::record::{encode, BatchOptions, Compression, Record, RecordBatch};
///
/// let records: Vec<Record> = (0..3)
///     .map(|i| Record { offset: i, timestamp: i, value: Some(vec![b'a' + i as u8; 10].into()), ..Record::default() })
///     .collect();
/// let options = BatchOptions { compression: Compression::Lz4, ..BatchOptions::default() };
/// let batch = RecordBatch::decode(&mut encode(&records, &options)?, &Default::default())?;
/// let data = batch.records_ref()?; // decompresses once
/// drop(batch); // the data owns what it needs
///
/// let mut total = 0;
/// let mut kept: Vec<Bytes> = Vec::new();
/// for record in &data {
///     let record = record?;
///     total += record.value.map_or(0, <[u8]>::len);
///     if record.offset == 1 {
///         // Shares the inflated buffer instead of copying the value.
///         kept.extend(record.value.and_then(|v| data.share(v)));
///     }
/// }
/// assert_eq!(total, 30);
/// assert_eq!(kept, [Bytes::from_static(b"bbbbbbbbbb")]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct RecordData {
    inner: DataInner,
}

#[derive(Debug, Clone)]
enum DataInner {
    V2 {
        data: Bytes,
        count: u32,
        base_offset: i64,
        base_timestamp: i64,
        log_append_time: Option<i64>,
    },
    /// Legacy messages are few per entry and already decoded into owned
    /// records; the error, if any, is yielded after the good ones.
    Legacy {
        records: Vec<Record>,
        error: Option<DecodeError>,
    },
}

impl RecordData {
    pub(crate) fn v2(
        data: Bytes,
        count: u32,
        base_offset: i64,
        base_timestamp: i64,
        log_append_time: Option<i64>,
    ) -> Self {
        Self {
            inner: DataInner::V2 {
                data,
                count,
                base_offset,
                base_timestamp,
                log_append_time,
            },
        }
    }

    pub(crate) fn legacy(records: Records) -> Self {
        let mut out = Vec::new();
        let mut error = None;
        for r in records {
            match r {
                Ok(r) => out.push(r),
                Err(e) => error = Some(e),
            }
        }
        Self {
            inner: DataInner::Legacy {
                records: out,
                error,
            },
        }
    }

    /// The (decompressed) record bytes of a v2 batch, `None` for legacy entries.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match &self.inner {
            DataInner::V2 { data, .. } => Some(data),
            DataInner::Legacy { .. } => None,
        }
    }

    /// `part` as [`Bytes`] sharing this data's buffer, without copying:
    /// `part` is a key, a value, or a header value that one of this data's
    /// records lent (any sub-slice of one will do).
    ///
    /// `None` if `part` does not lie in this data's bytes. An empty `part`
    /// is always an empty [`Bytes`].
    pub fn share(&self, part: &[u8]) -> Option<Bytes> {
        if part.is_empty() {
            return Some(Bytes::new());
        }
        match &self.inner {
            DataInner::V2 { data, .. } => share_from(data, part),
            DataInner::Legacy { records, .. } => records.iter().find_map(|r| {
                [
                    r.key.as_ref(),
                    r.value.as_ref(),
                    Some(r.headers.as_wire_bytes()),
                ]
                .into_iter()
                .flatten()
                .find_map(|b| share_from(b, part))
            }),
        }
    }

    /// An owned [`Record`] for `record`, one of this data's records, with
    /// key, value and headers sharing this data's buffer: the same
    /// [`Record`] that [`RecordBatch::records`](super::RecordBatch::records)
    /// yields, paid for only for the records kept.
    ///
    /// Parts that do not come from this data are copied, as
    /// [`RecordRef::to_record`] does.
    pub fn keep(&self, record: &RecordRef<'_>) -> Record {
        if let DataInner::Legacy { records, .. } = &self.inner {
            // Legacy records are already `Record`s. Offsets rise within an
            // entry, so the one lent is found without scanning them all,
            // which `share` would do once per part.
            let lent = |part: Option<&[u8]>, from: &Option<Bytes>| match (part, from) {
                (Some(p), Some(b)) => p.as_ptr() == b.as_ptr() && p.len() == b.len(),
                (p, b) => p.is_none() && b.is_none(),
            };
            if let Ok(i) = records.binary_search_by_key(&record.offset, |r| r.offset) {
                let r = &records[i];
                if lent(record.key, &r.key)
                    && lent(record.value, &r.value)
                    && record.timestamp == r.timestamp
                    && record.headers.len() == r.headers.len()
                    && record.headers.data == r.headers.as_wire_bytes()
                {
                    return r.clone();
                }
            }
        }
        let bytes = |part: &[u8]| {
            self.share(part)
                .unwrap_or_else(|| Bytes::copy_from_slice(part))
        };
        Record {
            offset: record.offset,
            timestamp: record.timestamp,
            key: record.key.map(bytes),
            value: record.value.map(bytes),
            headers: Headers::from_wire(bytes(record.headers.data), record.headers.count),
        }
    }

    /// Resumes an iteration of this data where [`RecordRefs::position`]
    /// said it stood, so a caller can stop after any record, let go of the
    /// borrow and go on later without parsing the records before again.
    ///
    /// A position taken from another `RecordData` yields an error or
    /// nothing, never a panic.
    pub fn iter_at(&self, at: RefsPosition) -> RecordRefs<'_> {
        let mut refs = self.iter();
        match &mut refs.inner {
            _ if at.done => refs.inner = RefsInner::Done,
            RefsInner::V2 {
                data, pos, left, ..
            } => {
                *pos = at.pos.min(data.len());
                *left = at.left;
            }
            RefsInner::Legacy { records, .. } => {
                let skip = records.len().saturating_sub(at.left as usize);
                if skip > 0 {
                    records.nth(skip - 1);
                }
            }
            RefsInner::Done => {}
        }
        refs
    }

    /// Iterates the records by reference. The first error ends the iteration.
    #[inline]
    pub fn iter(&self) -> RecordRefs<'_> {
        RecordRefs {
            inner: match &self.inner {
                DataInner::V2 {
                    data,
                    count,
                    base_offset,
                    base_timestamp,
                    log_append_time,
                } => RefsInner::V2 {
                    data,
                    pos: 0,
                    left: *count,
                    base_offset: *base_offset,
                    timestamp: match log_append_time {
                        Some(t) => (*t, false),
                        None => (*base_timestamp, true),
                    },
                },
                DataInner::Legacy { records, error } => RefsInner::Legacy {
                    records: records.iter(),
                    error: error.as_ref(),
                },
            },
        }
    }
}

/// `part` as a slice of `buf` if it lies within it. Compares addresses
/// only; the slice itself is taken by offset, so no pointer is trusted.
fn share_from(buf: &Bytes, part: &[u8]) -> Option<Bytes> {
    let start = (part.as_ptr() as usize).checked_sub(buf.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= buf.len()).then(|| buf.slice(start..end))
}

impl<'b> IntoIterator for &'b RecordData {
    type Item = Result<RecordRef<'b>, DecodeError>;
    type IntoIter = RecordRefs<'b>;
    #[inline]
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over the records of a [`RecordData`], yielding [`RecordRef`]s.
///
/// Allocation-free: each step parses one record in place.
#[derive(Debug, Clone)]
pub struct RecordRefs<'a> {
    inner: RefsInner<'a>,
}

#[derive(Debug, Clone)]
enum RefsInner<'a> {
    V2 {
        data: &'a [u8],
        pos: usize,
        left: u32,
        base_offset: i64,
        /// The base timestamp and whether deltas apply (false under
        /// log-append time, when it is every record's timestamp).
        timestamp: (i64, bool),
    },
    Legacy {
        records: std::slice::Iter<'a, Record>,
        error: Option<&'a DecodeError>,
    },
    Done,
}

/// Where a [`RecordRefs`] stands: see [`RecordData::iter_at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefsPosition {
    pos: usize,
    left: u32,
    done: bool,
}

impl RecordRefs<'_> {
    /// Where the iteration stands, to resume it with [`RecordData::iter_at`].
    pub fn position(&self) -> RefsPosition {
        match &self.inner {
            RefsInner::V2 { pos, left, .. } => RefsPosition {
                pos: *pos,
                left: *left,
                done: false,
            },
            RefsInner::Legacy { records, .. } => RefsPosition {
                pos: 0,
                left: u32::try_from(records.len()).unwrap_or(u32::MAX),
                done: false,
            },
            RefsInner::Done => RefsPosition {
                pos: 0,
                left: 0,
                done: true,
            },
        }
    }
}

impl<'a> Iterator for RecordRefs<'a> {
    type Item = Result<RecordRef<'a>, DecodeError>;

    // Always inlined into the caller's loop: one call site per loop, and
    // returning the record through memory costs ~90 instructions each.
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            RefsInner::V2 {
                data,
                pos,
                left,
                base_offset,
                timestamp,
            } => {
                let data: &'a [u8] = data;
                if *left == 0 {
                    let e = trailing(data, pos)?;
                    self.inner = RefsInner::Done;
                    return Some(Err(e));
                }
                *left -= 1;
                match parse_record(data, pos) {
                    Ok(raw) => Some(Ok(RecordRef {
                        offset: base_offset.wrapping_add(i64::from(raw.offset_delta)),
                        timestamp: if timestamp.1 {
                            timestamp.0.wrapping_add(raw.timestamp_delta)
                        } else {
                            timestamp.0
                        },
                        key: raw.key.map(|r| data.get(r).unwrap_or_default()),
                        value: raw.value.map(|r| data.get(r).unwrap_or_default()),
                        headers: HeadersRef {
                            data: data.get(raw.headers).unwrap_or_default(),
                            count: raw.header_count,
                        },
                    })),
                    Err(e) => {
                        self.inner = RefsInner::Done;
                        Some(Err(e))
                    }
                }
            }
            RefsInner::Legacy { records, error } => match records.next() {
                Some(r) => Some(Ok(RecordRef {
                    offset: r.offset,
                    timestamp: r.timestamp,
                    key: r.key.as_deref(),
                    value: r.value.as_deref(),
                    headers: HeadersRef {
                        data: r.headers.as_wire_bytes(),
                        count: r.headers.len() as u32,
                    },
                })),
                None => {
                    let e = error.take()?.clone();
                    self.inner = RefsInner::Done;
                    Some(Err(e))
                }
            },
            RefsInner::Done => None,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            RefsInner::V2 { left, .. } => (0, Some(*left as usize + 1)),
            RefsInner::Legacy { records, .. } => (0, Some(records.len() + 1)),
            RefsInner::Done => (0, Some(0)),
        }
    }
}

impl std::iter::FusedIterator for RecordRefs<'_> {}

#[cfg(test)]
mod shared_tests {
    use super::*;
    use crate::record::{
        encode, encode_legacy, BatchOptions, Batches, Compression, LegacyOptions, RecordBatch,
    };

    fn sample() -> Vec<Record> {
        (0..300i64)
            .map(|i| Record {
                offset: i * 37,
                timestamp: 1_700_000_000_000 + i * i * 101,
                key: match i % 4 {
                    0 => None,
                    1 => Some(Bytes::new()),
                    2 => Some(Bytes::from(vec![b'k'; (i as usize * 7) % 200])),
                    _ => Some(Bytes::from(format!("key{i}"))),
                },
                value: match i % 5 {
                    0 => None,
                    _ => Some(Bytes::from(vec![i as u8; (i as usize * 131) % 9000])),
                },
                headers: if i % 3 == 0 {
                    Headers::from_pairs([("h", Some(&b"v"[..])), ("n", None)]).unwrap()
                } else {
                    Headers::new()
                },
            })
            .collect()
    }

    fn batch_of(records: &[Record], compression: Compression) -> RecordBatch {
        let options = BatchOptions {
            compression,
            ..BatchOptions::default()
        };
        let wire = encode(records, &options).unwrap();
        RecordBatch::decode(&mut wire.clone(), &Default::default()).unwrap()
    }

    #[test]
    fn shared_records_match_records() {
        let records = sample();
        for compression in [Compression::None, Compression::Lz4] {
            let batch = batch_of(&records, compression);
            let owned: Vec<Record> = batch.records().unwrap().map(Result::unwrap).collect();
            assert_eq!(owned, records);
            let shared: Vec<SharedRecord> = batch
                .records_shared()
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert_eq!(shared.len(), records.len());
            for (s, r) in shared.iter().zip(&records) {
                assert_eq!(s, r);
                assert_eq!(s.offset(), r.offset);
                assert_eq!(s.timestamp(), r.timestamp);
                assert_eq!(s.key_bytes(), r.key);
                assert_eq!(s.value_bytes(), r.value);
                assert_eq!(&s.to_record(), r);
                assert_eq!(Record::from(s.clone()), *r);
            }
        }
    }

    #[test]
    fn shared_records_fail_like_records() {
        let records = sample();
        let wire = encode(&records, &BatchOptions::default()).unwrap();
        // Corrupt every byte of the record data in turn (CRC check off by
        // re-decoding the batch body): both iterators must agree.
        let batch = RecordBatch::decode(&mut wire.clone(), &Default::default()).unwrap();
        let owned: Vec<_> = batch.records().unwrap().collect();
        let shared: Vec<_> = batch.records_shared().unwrap().collect();
        assert_eq!(owned.len(), shared.len());
        let mut data = Records::v2(wire.slice(61..), 300, 0, 0, None);
        let mut shared = SharedRecords::new(Records::v2(wire.slice(61..), 300, 0, 0, None));
        for _ in 0..301 {
            let a = data.next().map(|r| r.map_err(|e| e.to_string()));
            let b = shared
                .next()
                .map(|r| r.map(|s| s.to_record()).map_err(|e| e.to_string()));
            assert_eq!(a, b);
        }
        for cut in [1usize, 2, 3, 10, 500, 1000] {
            let body = wire.slice(61..wire.len() - cut);
            let a: Vec<_> = Records::v2(body.clone(), 300, 0, 0, None)
                .map(|r| r.map_err(|e| e.to_string()))
                .collect();
            let b: Vec<_> = SharedRecords::new(Records::v2(body, 300, 0, 0, None))
                .map(|r| r.map(|s| s.to_record()).map_err(|e| e.to_string()))
                .collect();
            assert_eq!(a, b);
            assert!(a.last().unwrap().is_err());
        }
    }

    /// The sample without headers (legacy messages have none), and the
    /// magic 1 message sets holding it, uncompressed and gzip-wrapped.
    fn legacy_sets() -> (Vec<Record>, [(Compression, Bytes); 2]) {
        let records: Vec<Record> = sample()
            .into_iter()
            .map(|r| Record {
                headers: Headers::new(),
                ..r
            })
            .collect();
        let set = |compression| {
            let options = LegacyOptions {
                magic: 1,
                compression,
                ..LegacyOptions::default()
            };
            (compression, encode_legacy(&records, &options).unwrap())
        };
        let sets = [set(Compression::None), set(Compression::Gzip)];
        (records, sets)
    }

    #[test]
    fn shared_records_of_legacy_sets() {
        let (records, sets) = legacy_sets();
        for (_, set) in sets {
            let mut a = Vec::new();
            let mut b = Vec::new();
            for batch in Batches::new(set) {
                let batch = batch.unwrap();
                a.extend(batch.records().unwrap().map(Result::unwrap));
                b.extend(batch.records_shared().unwrap().map(Result::unwrap));
            }
            assert_eq!(a.len(), records.len());
            assert_eq!(b.len(), a.len());
            for (s, r) in b.iter().zip(&a) {
                assert_eq!(s, r);
            }
        }
    }

    /// Iterates `data` stopping after every `step` records and resuming
    /// from the position, collecting what it yields (errors as strings).
    fn resumed(data: &RecordData, step: usize) -> Vec<Result<Record, String>> {
        let mut out = Vec::new();
        let mut at = data.iter().position();
        loop {
            let mut refs = data.iter_at(at);
            let before = out.len();
            for r in refs.by_ref().take(step) {
                out.push(r.map(|r| r.to_record()).map_err(|e| e.to_string()));
            }
            if out.len() == before {
                return out;
            }
            at = refs.position();
        }
    }

    #[test]
    fn record_refs_resume_where_they_stopped() {
        let records = sample();
        for compression in [Compression::None, Compression::Zstd] {
            let data = batch_of(&records, compression).records_ref().unwrap();
            for step in [1, 2, 7, 299, 300, 1000] {
                let got = resumed(&data, step);
                assert_eq!(got.len(), records.len());
                for (g, r) in got.iter().zip(&records) {
                    assert_eq!(g.as_ref().unwrap(), r);
                }
            }
        }
        let (records, sets) = legacy_sets();
        for (_, set) in sets {
            let mut got = Vec::new();
            for batch in Batches::new(set) {
                got.extend(resumed(&batch.unwrap().records_ref().unwrap(), 3));
            }
            assert_eq!(got.len(), records.len());
            assert!(got.iter().zip(&records).all(|(g, r)| g.as_ref() == Ok(r)));
        }
        // Damaged data: resuming yields what one pass yields, error included.
        let wire = encode(&records, &BatchOptions::default()).unwrap();
        for cut in [1usize, 3, 500] {
            let data = RecordData::v2(wire.slice(61..wire.len() - cut), 300, 0, 0, None);
            let once: Vec<_> = data
                .iter()
                .map(|r| r.map(|r| r.to_record()).map_err(|e| e.to_string()))
                .collect();
            assert!(once.last().unwrap().is_err());
            for step in [1, 5] {
                assert_eq!(resumed(&data, step), once);
            }
        }
        // A position from other data neither panics nor invents records.
        let small = RecordData::v2(wire.slice(61..100), 300, 0, 0, None);
        let big = batch_of(&records, Compression::None).records_ref().unwrap();
        let mut far = big.iter();
        far.nth(250);
        let yielded: Vec<_> = small.iter_at(far.position()).collect();
        assert!(yielded.len() <= 1 && yielded.iter().all(Result::is_err));
    }

    /// True when `b` points into `part`'s memory: shared, not copied.
    fn same_memory(b: &Bytes, part: &[u8]) -> bool {
        b.as_ptr() == part.as_ptr() && b.len() == part.len()
    }

    #[test]
    fn record_data_outlives_its_batch_and_crosses_threads() {
        fn owned<T: Send + Sync + 'static>(_: &T) {}
        let records = sample();
        for compression in [Compression::None, Compression::Lz4, Compression::Gzip] {
            let batch = batch_of(&records, compression);
            let data = batch.records_ref().unwrap();
            drop(batch);
            owned(&data);
            let expected = records.clone();
            let kept = std::thread::spawn(move || {
                data.iter()
                    .map(|r| data.keep(&r.unwrap()))
                    .collect::<Vec<_>>()
            })
            .join()
            .unwrap();
            assert_eq!(kept, expected, "{compression:?}");
        }
    }

    #[test]
    fn share_and_keep_reuse_the_data_instead_of_copying() {
        let records = sample();
        for compression in [Compression::None, Compression::Snappy] {
            let batch = batch_of(&records, compression);
            let data = batch.records_ref().unwrap();
            let all = data.as_bytes().unwrap();
            if compression == Compression::None {
                // One reference for the batch, not a copy of its records.
                assert!(batch.raw().as_ptr_range().contains(&all.as_ptr()));
            }
            let mut n = 0;
            for (r, expected) in data.iter().zip(&records) {
                let r = r.unwrap();
                n += 1;
                for part in [r.key, r.value].into_iter().flatten() {
                    let shared = data.share(part).unwrap();
                    assert_eq!(shared, part);
                    assert!(part.is_empty() || same_memory(&shared, part));
                    if part.len() > 2 {
                        let inner = &part[1..part.len() - 1];
                        assert!(same_memory(&data.share(inner).unwrap(), inner));
                    }
                }
                for (_, v) in r.headers.iter() {
                    let v = v.unwrap_or_default();
                    assert_eq!(data.share(v).unwrap(), v);
                }
                let kept = data.keep(&r);
                assert_eq!(&kept, expected);
                if let (Some(k), Some(part)) = (&kept.value, r.value) {
                    assert!(part.is_empty() || same_memory(k, part));
                }
            }
            assert_eq!(n, records.len());

            // Slices from elsewhere are refused by share and copied by keep.
            let foreign = b"not from this batch".to_vec();
            assert_eq!(data.share(&foreign), None);
            assert_eq!(data.share(&foreign[..0]), Some(Bytes::new()));
            assert!(data.share(&all[all.len() - 1..]).is_some());
            if compression == Compression::None {
                // Starts in the batch header, before the record data.
                let raw = batch.raw();
                assert_eq!(data.share(&raw[60..62]), None);
                assert_eq!(data.share(raw), None);
            }
            let other = Record {
                key: Some(Bytes::from_static(b"k")),
                value: Some(Bytes::from(foreign.clone())),
                ..Record::default()
            };
            let other_ref = RecordRef {
                key: other.key.as_deref(),
                value: other.value.as_deref(),
                ..RecordRef::default()
            };
            let copied = data.keep(&other_ref);
            assert_eq!(copied, other);
            assert!(!same_memory(copied.value.as_ref().unwrap(), &foreign));
        }
    }

    #[test]
    fn share_finds_legacy_parts() {
        let (records, sets) = legacy_sets();
        for (compression, set) in sets {
            let mut kept = Vec::new();
            for batch in Batches::new(set) {
                let data = batch.unwrap().records_ref().unwrap();
                assert!(data.as_bytes().is_none());
                for r in &data {
                    let r = r.unwrap();
                    if let Some(v) = r.value.filter(|v| !v.is_empty()) {
                        assert!(same_memory(&data.share(v).unwrap(), v));
                        let k = data.keep(&r);
                        assert!(same_memory(k.value.as_ref().unwrap(), v));
                    }
                    kept.push(data.keep(&r));
                    // Same offset, parts from elsewhere: copied, not
                    // mistaken for the record at that offset.
                    let other = RecordRef {
                        value: Some(b"elsewhere"),
                        ..r
                    };
                    let copied = data.keep(&other);
                    assert_eq!(copied.value.as_deref(), Some(&b"elsewhere"[..]));
                    assert_eq!(copied.key.as_deref(), r.key);
                }
                assert_eq!(data.share(b"elsewhere"), None);
            }
            assert_eq!(kept, records, "{compression:?}");
        }
    }
}
