//! Primitive wire types: fixed-width integers, varints, strings, byte
//! arrays, UUIDs, array lengths and tagged-field buffers.
//!
//! Readers take `&mut Bytes` and advance it; byte fields are returned as
//! zero-copy slices of the input. Every length is checked against the bytes
//! actually present before anything is allocated. Writers append to a
//! `BytesMut`.

use std::collections::BTreeMap;
use std::fmt;

use bytes::{Buf, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};

/// Tagged fields this library did not recognise, kept verbatim by tag so
/// that a decode followed by an encode loses nothing.
pub type UnknownTaggedFields = BTreeMap<u32, Bytes>;

/// A 128-bit Kafka UUID (topic ids, member ids, ...).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The all-zero UUID, which Kafka uses for "no id".
    pub const ZERO: Uuid = Uuid([0; 16]);

    /// Builds a UUID from its two big-endian halves.
    pub const fn from_u64_pair(high: u64, low: u64) -> Self {
        let h = high.to_be_bytes();
        let l = low.to_be_bytes();
        Uuid([
            h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], l[0], l[1], l[2], l[3], l[4], l[5],
            l[6], l[7],
        ])
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// True for [`Uuid::ZERO`].
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl fmt::Display for Uuid {
    /// Kafka prints UUIDs as URL-safe base64 without padding (22 characters).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = [0u8; 22];
        let mut n = 0;
        for chunk in self.0.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            let chars = chunk.len() + 1;
            for i in 0..chars {
                out[n] = ALPHABET[((v >> (18 - 6 * i)) & 0x3f) as usize];
                n += 1;
            }
        }
        // Every byte pushed is from ALPHABET, which is ASCII.
        f.write_str(std::str::from_utf8(&out[..n]).map_err(|_| fmt::Error)?)
    }
}

/// A string that is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UuidParseError;

impl fmt::Display for UuidParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a UUID: expected 22 characters of URL-safe base64, or 32 hex digits")
    }
}

impl std::error::Error for UuidParseError {}

impl std::str::FromStr for Uuid {
    type Err = UuidParseError;

    /// Parses Kafka's form (22 characters of URL-safe base64, as
    /// [`Display`](fmt::Display) prints it) or the RFC 4122 form (32 hex
    /// digits, dashes allowed).
    fn from_str(s: &str) -> Result<Self, UuidParseError> {
        if s.len() == 22 {
            let mut bits: u128 = 0;
            for (i, c) in s.bytes().enumerate() {
                let v = match c {
                    b'A'..=b'Z' => c - b'A',
                    b'a'..=b'z' => c - b'a' + 26,
                    b'0'..=b'9' => c - b'0' + 52,
                    b'-' => 62,
                    b'_' => 63,
                    _ => return Err(UuidParseError),
                };
                if i < 21 {
                    bits = (bits << 6) | u128::from(v);
                } else {
                    // The last character carries 2 bits and 4 of padding.
                    if v & 0x0f != 0 {
                        return Err(UuidParseError);
                    }
                    bits = (bits << 2) | u128::from(v >> 4);
                }
            }
            return Ok(Uuid(bits.to_be_bytes()));
        }
        let hex: String = s.chars().filter(|&c| c != '-').collect();
        if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(UuidParseError);
        }
        u128::from_str_radix(&hex, 16)
            .map(|v| Uuid(v.to_be_bytes()))
            .map_err(|_| UuidParseError)
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({self})")
    }
}

#[cfg(test)]
mod uuid_tests {
    use super::Uuid;

    #[test]
    fn uuid_text_round_trips() {
        for u in [
            Uuid::ZERO,
            Uuid::from_u64_pair(1, 2),
            Uuid::from_u64_pair(u64::MAX, 0x0123_4567_89ab_cdef),
            Uuid([0xff; 16]),
        ] {
            assert_eq!(u.to_string().parse::<Uuid>(), Ok(u));
        }
        assert_eq!(
            "00000000-0000-0001-0000-000000000002".parse::<Uuid>(),
            Ok(Uuid::from_u64_pair(1, 2))
        );
        for bad in ["", "x", "AAAAAAAAAAAAAAAAAAAAA!", "AAAAAAAAAAAAAAAAAAAAAB"] {
            assert!(bad.parse::<Uuid>().is_err(), "{bad}");
        }
    }
}

#[cold]
#[inline(never)]
fn truncated(what: &'static str, needed: usize) -> DecodeError {
    DecodeError::truncated(what, needed)
}

#[cold]
#[inline(never)]
fn too_large(what: &'static str, declared: usize, available: usize) -> DecodeError {
    DecodeError::too_large(what, declared as u64, available)
}

macro_rules! fixed_readers {
    ($($(#[$doc:meta])* $name:ident -> $ty:ty;)*) => {$(
        $(#[$doc])*
        #[inline]
        pub fn $name(buf: &mut Bytes, what: &'static str) -> Result<$ty, DecodeError> {
            const N: usize = std::mem::size_of::<$ty>();
            match buf.first_chunk::<N>() {
                Some(b) => {
                    let v = <$ty>::from_be_bytes(*b);
                    buf.advance(N);
                    Ok(v)
                }
                None => Err(truncated(what, N - buf.len())),
            }
        }
    )*};
}

fixed_readers! {
    /// Reads an `int8`.
    read_i8 -> i8;
    /// Reads a big-endian `int16`.
    read_i16 -> i16;
    /// Reads a big-endian `uint16`.
    read_u16 -> u16;
    /// Reads a big-endian `int32`.
    read_i32 -> i32;
    /// Reads a big-endian `uint32`.
    read_u32 -> u32;
    /// Reads a big-endian `int64`.
    read_i64 -> i64;
    /// Reads a big-endian IEEE 754 `float64`.
    read_f64 -> f64;
}

macro_rules! array_readers {
    ($($(#[$doc:meta])* $name:ident -> $ty:ty;)*) => {$(
        $(#[$doc])*
        #[inline]
        pub fn $name(buf: &mut Bytes, n: usize, what: &'static str) -> Result<Vec<$ty>, DecodeError> {
            const N: usize = std::mem::size_of::<$ty>();
            let len = n.saturating_mul(N);
            let Some(bytes) = buf.get(..len) else {
                return Err(too_large(what, n, buf.len()));
            };
            let v = bytes
                .chunks_exact(N)
                .map(|c| <$ty>::from_be_bytes(c.try_into().unwrap_or_default()))
                .collect();
            buf.advance(len);
            Ok(v)
        }
    )*};
}

array_readers! {
    /// Reads `n` big-endian `int16`s in one pass (after the array length).
    read_i16_array -> i16;
    /// Reads `n` big-endian `uint16`s in one pass (after the array length).
    read_u16_array -> u16;
    /// Reads `n` big-endian `int32`s in one pass (after the array length).
    read_i32_array -> i32;
    /// Reads `n` big-endian `uint32`s in one pass (after the array length).
    read_u32_array -> u32;
    /// Reads `n` big-endian `int64`s in one pass (after the array length).
    read_i64_array -> i64;
    /// Reads `n` big-endian `float64`s in one pass (after the array length).
    read_f64_array -> f64;
}

/// Reads a `bool` (one byte; any non-zero value is true, as Kafka's reader does).
#[inline]
pub fn read_bool(buf: &mut Bytes, what: &'static str) -> Result<bool, DecodeError> {
    Ok(read_i8(buf, what)? != 0)
}

/// Reads a 16-byte UUID.
#[inline]
pub fn read_uuid(buf: &mut Bytes, what: &'static str) -> Result<Uuid, DecodeError> {
    match buf.first_chunk::<16>() {
        Some(b) => {
            let u = Uuid(*b);
            buf.advance(16);
            Ok(u)
        }
        None => Err(truncated(what, 16 - buf.len())),
    }
}

/// Reads an unsigned LEB128 varint of at most 32 bits (5 bytes).
#[inline]
pub fn read_unsigned_varint(buf: &mut Bytes, what: &'static str) -> Result<u32, DecodeError> {
    // One-byte fast path: lengths, counts and tags are almost always < 128.
    if let Some(&b) = buf.first() {
        if b < 0x80 {
            buf.advance(1);
            return Ok(u32::from(b));
        }
    }
    read_unsigned_varint_slow(buf, what)
}

#[inline(never)]
fn read_unsigned_varint_slow(buf: &mut Bytes, what: &'static str) -> Result<u32, DecodeError> {
    let mut value: u32 = 0;
    for i in 0..5 {
        if !buf.has_remaining() {
            return Err(DecodeError::truncated(what, 1));
        }
        let b = buf.get_u8();
        if i == 4 && b > 0x0f {
            return Err(DecodeError::invalid(what, "varint exceeds 32 bits"));
        }
        value |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::invalid(what, "varint exceeds 32 bits"))
}

/// Reads an unsigned LEB128 varint of at most 64 bits (10 bytes).
#[inline]
pub fn read_unsigned_varlong(buf: &mut Bytes, what: &'static str) -> Result<u64, DecodeError> {
    let mut value: u64 = 0;
    for i in 0..10 {
        if !buf.has_remaining() {
            return Err(DecodeError::truncated(what, 1));
        }
        let b = buf.get_u8();
        if i == 9 && b > 0x01 {
            return Err(DecodeError::invalid(what, "varlong exceeds 64 bits"));
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::invalid(what, "varlong exceeds 64 bits"))
}

/// Reads a zigzag-encoded signed varint (`int32` range).
#[inline]
pub fn read_varint(buf: &mut Bytes, what: &'static str) -> Result<i32, DecodeError> {
    let v = read_unsigned_varint(buf, what)?;
    Ok(((v >> 1) as i32) ^ -((v & 1) as i32))
}

/// Reads a zigzag-encoded signed varlong (`int64` range).
#[inline]
pub fn read_varlong(buf: &mut Bytes, what: &'static str) -> Result<i64, DecodeError> {
    let v = read_unsigned_varlong(buf, what)?;
    Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
}

/// Splits `len` bytes off the front without copying.
#[inline]
pub fn read_slice(buf: &mut Bytes, len: usize, what: &'static str) -> Result<Bytes, DecodeError> {
    if len > buf.remaining() {
        return Err(too_large(what, len, buf.remaining()));
    }
    Ok(buf.split_to(len))
}

/// Reads a length prefix: `int16`/`int32` (classic) or unsigned varint minus
/// one (compact). Returns `None` for the null marker (-1 / 0).
#[inline]
fn read_len(
    buf: &mut Bytes,
    compact: bool,
    wide: bool,
    what: &'static str,
) -> Result<Option<usize>, DecodeError> {
    let raw: i64 = if compact {
        i64::from(read_unsigned_varint(buf, what)?) - 1
    } else if wide {
        i64::from(read_i32(buf, what)?)
    } else {
        i64::from(read_i16(buf, what)?)
    };
    if raw >= 0 {
        Ok(Some(raw as usize))
    } else if raw == -1 {
        Ok(None)
    } else {
        Err(negative_length(what, raw))
    }
}

#[cold]
#[inline(never)]
fn negative_length(what: &'static str, n: i64) -> DecodeError {
    DecodeError::invalid(what, format!("negative length {n}"))
}

/// Copies `len` bytes off the front into a `String`, checking UTF-8.
#[inline]
fn read_str(buf: &mut Bytes, len: usize, what: &'static str) -> Result<String, DecodeError> {
    let Some(bytes) = buf.get(..len) else {
        return Err(too_large(what, len, buf.len()));
    };
    let s = match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(e) => return Err(not_utf8(what, e)),
    };
    buf.advance(len);
    Ok(s)
}

#[cold]
#[inline(never)]
fn not_utf8(what: &'static str, e: std::str::Utf8Error) -> DecodeError {
    DecodeError::invalid(what, format!("string is not UTF-8: {e}"))
}

/// Reads a nullable string (`int16` length, or compact varint length).
#[inline]
pub fn read_nullable_string(
    buf: &mut Bytes,
    compact: bool,
    what: &'static str,
) -> Result<Option<String>, DecodeError> {
    match read_len(buf, compact, false, what)? {
        None => Ok(None),
        Some(len) => Ok(Some(read_str(buf, len, what)?)),
    }
}

/// Reads a non-nullable string; a null marker is an error.
#[inline]
pub fn read_string(
    buf: &mut Bytes,
    compact: bool,
    what: &'static str,
) -> Result<String, DecodeError> {
    match read_len(buf, compact, false, what)? {
        Some(len) => read_str(buf, len, what),
        None => Err(null_value(what, "null where a string is required")),
    }
}

/// Reads nullable bytes (`int32` length, or compact varint length), zero-copy.
#[inline]
pub fn read_nullable_bytes(
    buf: &mut Bytes,
    compact: bool,
    what: &'static str,
) -> Result<Option<Bytes>, DecodeError> {
    match read_len(buf, compact, true, what)? {
        None => Ok(None),
        Some(len) => Ok(Some(read_slice(buf, len, what)?)),
    }
}

/// Reads non-nullable bytes, zero-copy; a null marker is an error.
#[inline]
pub fn read_bytes(
    buf: &mut Bytes,
    compact: bool,
    what: &'static str,
) -> Result<Bytes, DecodeError> {
    read_nullable_bytes(buf, compact, what)?
        .ok_or_else(|| null_value(what, "null where bytes are required"))
}

/// Reads a nullable array length (`int32`, or compact varint), refusing a
/// count that could not fit in the remaining input at `min_elem_size` bytes
/// per element. The caller may then allocate `count` elements safely.
#[inline]
pub fn read_nullable_array_len(
    buf: &mut Bytes,
    compact: bool,
    min_elem_size: usize,
    what: &'static str,
) -> Result<Option<usize>, DecodeError> {
    match read_len(buf, compact, true, what)? {
        None => Ok(None),
        Some(n) => {
            let available = buf.remaining();
            if n.saturating_mul(min_elem_size.max(1)) > available {
                return Err(too_large(what, n, available));
            }
            Ok(Some(n))
        }
    }
}

/// Reads a non-nullable array length; see [`read_nullable_array_len`].
#[inline]
pub fn read_array_len(
    buf: &mut Bytes,
    compact: bool,
    min_elem_size: usize,
    what: &'static str,
) -> Result<usize, DecodeError> {
    read_nullable_array_len(buf, compact, min_elem_size, what)?
        .ok_or_else(|| null_value(what, "null where an array is required"))
}

#[cold]
#[inline(never)]
fn null_value(what: &'static str, detail: &'static str) -> DecodeError {
    DecodeError::invalid(what, detail)
}

/// Reads the header of a tagged-field section: the number of fields.
/// Each field needs at least two bytes (tag and size), which bounds the count.
#[inline]
pub fn read_tagged_count(buf: &mut Bytes, what: &'static str) -> Result<usize, DecodeError> {
    let n = read_unsigned_varint(buf, what)? as usize;
    if n.saturating_mul(2) > buf.remaining() {
        return Err(too_large(what, n, buf.remaining()));
    }
    Ok(n)
}

/// Reads one tagged field's tag and its payload as a zero-copy slice.
#[inline]
pub fn read_tagged_field(buf: &mut Bytes, what: &'static str) -> Result<(u32, Bytes), DecodeError> {
    let tag = read_unsigned_varint(buf, what)?;
    let size = read_unsigned_varint(buf, what)? as usize;
    Ok((tag, read_slice(buf, size, what)?))
}

/// Fails if a tagged field's payload was not consumed exactly.
#[inline]
pub fn expect_consumed(buf: &Bytes, what: &'static str) -> Result<(), DecodeError> {
    if buf.has_remaining() {
        Err(DecodeError::new(
            what,
            crate::error::DecodeErrorKind::TrailingBytes(buf.remaining()),
        ))
    } else {
        Ok(())
    }
}

/// Skips an entire tagged-field section, discarding its contents.
pub fn skip_tagged_fields(buf: &mut Bytes, what: &'static str) -> Result<(), DecodeError> {
    let n = read_tagged_count(buf, what)?;
    for _ in 0..n {
        read_tagged_field(buf, what)?;
    }
    Ok(())
}

/// Reads a tagged-field section keeping every field as unknown.
pub fn read_unknown_tagged_fields(
    buf: &mut Bytes,
    what: &'static str,
) -> Result<UnknownTaggedFields, DecodeError> {
    let n = read_tagged_count(buf, what)?;
    let mut fields = UnknownTaggedFields::new();
    for _ in 0..n {
        let (tag, data) = read_tagged_field(buf, what)?;
        fields.insert(tag, data);
    }
    Ok(fields)
}

/// Initial capacity for a collection of `n` decoded elements.
///
/// `n` has already been checked against the bytes present, but an element
/// in memory can be far larger than on the wire, so the up-front
/// reservation is capped and the vector grows as elements actually decode.
#[inline]
pub fn capacity(n: usize) -> usize {
    n.min(1024)
}

// ---- writers ----

/// Appends an unsigned LEB128 varint.
#[inline]
pub fn put_unsigned_varint(buf: &mut BytesMut, v: u32) {
    if v < 0x80 {
        buf.extend_from_slice(&[v as u8]);
    } else {
        put_unsigned_varlong(buf, u64::from(v));
    }
}

/// Appends an unsigned LEB128 varlong.
#[inline]
pub fn put_unsigned_varlong(buf: &mut BytesMut, mut v: u64) {
    let mut out = [0u8; 10];
    let mut n = 0;
    while v >= 0x80 && n < 9 {
        out[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    out[n] = v as u8;
    buf.extend_from_slice(&out[..=n]);
}

macro_rules! fixed_writers {
    ($($(#[$doc:meta])* $name:ident($ty:ty);)*) => {$(
        $(#[$doc])*
        #[inline]
        pub fn $name(buf: &mut BytesMut, v: $ty) {
            // `extend_from_slice` inlines to one store; `BufMut::put_*`
            // on `BytesMut` goes through an out-of-line `put_slice`.
            buf.extend_from_slice(&v.to_be_bytes());
        }
    )*};
}

fixed_writers! {
    /// Appends an `int8`.
    put_i8(i8);
    /// Appends a big-endian `int16`.
    put_i16(i16);
    /// Appends a big-endian `uint16`.
    put_u16(u16);
    /// Appends a big-endian `int32`.
    put_i32(i32);
    /// Appends a big-endian `uint32`.
    put_u32(u32);
    /// Appends a big-endian `int64`.
    put_i64(i64);
    /// Appends a big-endian IEEE 754 `float64`.
    put_f64(f64);
}

/// Appends a zigzag-encoded signed varint.
#[inline]
pub fn put_varint(buf: &mut BytesMut, v: i32) {
    put_unsigned_varint(buf, ((v << 1) ^ (v >> 31)) as u32);
}

/// Appends a zigzag-encoded signed varlong.
#[inline]
pub fn put_varlong(buf: &mut BytesMut, v: i64) {
    put_unsigned_varlong(buf, ((v << 1) ^ (v >> 63)) as u64);
}

/// Encoded size of an unsigned varint.
#[inline]
pub const fn unsigned_varint_len(v: u32) -> usize {
    // 7 bits per byte: ceil(significant bits / 7), at least 1. Branch-free.
    let bits = 32 - (v | 1).leading_zeros() as usize;
    // ceil(bits / 7) for bits in 1..=64, without a division.
    (bits * 9 + 64) / 64
}

/// Encoded size of a zigzag varint.
#[inline]
pub const fn varint_len(v: i32) -> usize {
    unsigned_varint_len(((v << 1) ^ (v >> 31)) as u32)
}

/// Encoded size of a zigzag varlong.
#[inline]
pub const fn varlong_len(v: i64) -> usize {
    let u = ((v << 1) ^ (v >> 63)) as u64;
    // 7 bits per byte: ceil(significant bits / 7), at least 1. Branch-free.
    let bits = 64 - (u | 1).leading_zeros() as usize;
    // ceil(bits / 7) for bits in 1..=64, without a division.
    (bits * 9 + 64) / 64
}

/// Appends a `bool`.
#[inline]
pub fn put_bool(buf: &mut BytesMut, v: bool) {
    buf.extend_from_slice(&[u8::from(v)]);
}

/// Appends a UUID.
#[inline]
pub fn put_uuid(buf: &mut BytesMut, v: &Uuid) {
    buf.extend_from_slice(&v.0);
}

#[inline]
fn put_len(
    buf: &mut BytesMut,
    len: Option<usize>,
    compact: bool,
    wide: bool,
    what: &'static str,
) -> Result<(), EncodeError> {
    match (len, compact) {
        (None, true) => put_unsigned_varint(buf, 0),
        (None, false) if wide => put_i32(buf, -1),
        (None, false) => put_i16(buf, -1),
        (Some(n), true) => {
            let v = u32::try_from(n)
                .ok()
                .and_then(|n| n.checked_add(1))
                .ok_or(EncodeError::TooLong { what, len: n })?;
            put_unsigned_varint(buf, v);
        }
        (Some(n), false) if wide => {
            let v = i32::try_from(n).map_err(|_| EncodeError::TooLong { what, len: n })?;
            put_i32(buf, v);
        }
        (Some(n), false) => {
            let v = i16::try_from(n).map_err(|_| EncodeError::TooLong { what, len: n })?;
            put_i16(buf, v);
        }
    }
    Ok(())
}

/// Appends a string (`int16` length, or compact).
#[inline]
pub fn put_string(
    buf: &mut BytesMut,
    v: &str,
    compact: bool,
    what: &'static str,
) -> Result<(), EncodeError> {
    put_len(buf, Some(v.len()), compact, false, what)?;
    buf.extend_from_slice(v.as_bytes());
    Ok(())
}

/// Appends a nullable string.
#[inline]
pub fn put_nullable_string(
    buf: &mut BytesMut,
    v: Option<&str>,
    compact: bool,
    what: &'static str,
) -> Result<(), EncodeError> {
    match v {
        Some(s) => put_string(buf, s, compact, what),
        None => put_len(buf, None, compact, false, what),
    }
}

/// Appends only the length prefix of `len` bytes (`int32`, or compact),
/// for a caller that sends the bytes themselves apart.
#[inline]
pub fn put_bytes_len(
    buf: &mut BytesMut,
    len: usize,
    compact: bool,
    what: &'static str,
) -> Result<(), EncodeError> {
    put_len(buf, Some(len), compact, true, what)
}

/// Appends bytes (`int32` length, or compact).
#[inline]
pub fn put_bytes(
    buf: &mut BytesMut,
    v: &[u8],
    compact: bool,
    what: &'static str,
) -> Result<(), EncodeError> {
    put_len(buf, Some(v.len()), compact, true, what)?;
    buf.extend_from_slice(v);
    Ok(())
}

/// Appends nullable bytes.
#[inline]
pub fn put_nullable_bytes(
    buf: &mut BytesMut,
    v: Option<&[u8]>,
    compact: bool,
    what: &'static str,
) -> Result<(), EncodeError> {
    match v {
        Some(b) => put_bytes(buf, b, compact, what),
        None => put_len(buf, None, compact, true, what),
    }
}

/// Appends an array length (`int32`, or compact); `None` is the null array.
#[inline]
pub fn put_array_len(
    buf: &mut BytesMut,
    len: Option<usize>,
    compact: bool,
    what: &'static str,
) -> Result<(), EncodeError> {
    put_len(buf, len, compact, true, what)
}

/// Writes a tagged-field section holding only `unknown` (for structures
/// without known tagged fields): a single zero byte when there are none.
#[inline]
pub fn put_unknown_tagged_fields(
    buf: &mut BytesMut,
    unknown: &UnknownTaggedFields,
    what: &'static str,
) -> Result<(), EncodeError> {
    if unknown.is_empty() {
        buf.extend_from_slice(&[0]);
        Ok(())
    } else {
        TaggedWriter::start(buf, 0, unknown, what)?.finish(buf)
    }
}

/// Writes tagged fields and unknown tagged fields in ascending tag order.
///
/// Generated code calls [`TaggedWriter::known`] for each present field in
/// ascending tag order; unknown fields with lower tags are flushed first.
pub struct TaggedWriter<'a> {
    unknown: std::iter::Peekable<std::collections::btree_map::Iter<'a, u32, Bytes>>,
    what: &'static str,
}

impl<'a> TaggedWriter<'a> {
    /// Writes the field count (`known` present fields plus every unknown one)
    /// and returns a writer for the fields themselves.
    pub fn start(
        buf: &mut BytesMut,
        known: usize,
        unknown: &'a UnknownTaggedFields,
        what: &'static str,
    ) -> Result<Self, EncodeError> {
        let total = known + unknown.len();
        let total = u32::try_from(total).map_err(|_| EncodeError::TooLong { what, len: total })?;
        put_unsigned_varint(buf, total);
        Ok(Self {
            unknown: unknown.iter().peekable(),
            what,
        })
    }

    fn flush_below(&mut self, buf: &mut BytesMut, tag: u32) -> Result<(), EncodeError> {
        while let Some((&t, data)) = self.unknown.peek() {
            if t > tag {
                break;
            }
            if t == tag {
                return Err(EncodeError::Invalid {
                    what: self.what,
                    detail: format!("unknown tagged field {t} collides with a known tag"),
                });
            }
            put_unsigned_varint(buf, t);
            let len = u32::try_from(data.len()).map_err(|_| EncodeError::TooLong {
                what: self.what,
                len: data.len(),
            })?;
            put_unsigned_varint(buf, len);
            buf.extend_from_slice(data);
            self.unknown.next();
        }
        Ok(())
    }

    /// Writes a known field whose payload `body` encodes into `scratch`.
    pub fn known(
        &mut self,
        buf: &mut BytesMut,
        tag: u32,
        body: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        self.flush_below(buf, tag)?;
        let mut scratch = BytesMut::new();
        body(&mut scratch)?;
        put_unsigned_varint(buf, tag);
        let len = u32::try_from(scratch.len()).map_err(|_| EncodeError::TooLong {
            what: self.what,
            len: scratch.len(),
        })?;
        put_unsigned_varint(buf, len);
        buf.extend_from_slice(&scratch);
        Ok(())
    }

    /// Writes the unknown fields left after the last known one.
    ///
    /// Every known field has been written by now, so whatever is left
    /// cannot clash, whatever its tag (up to and including `u32::MAX`).
    pub fn finish(self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        for (&tag, data) in self.unknown {
            put_unsigned_varint(buf, tag);
            let len = u32::try_from(data.len()).map_err(|_| EncodeError::TooLong {
                what: self.what,
                len: data.len(),
            })?;
            put_unsigned_varint(buf, len);
            buf.extend_from_slice(data);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    #[test]
    fn varint_round_trip_and_lengths() {
        for v in [0i32, 1, -1, 63, -64, 64, 300, i32::MAX, i32::MIN] {
            let mut b = BytesMut::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
            let mut r = b.freeze();
            assert_eq!(read_varint(&mut r, "v").unwrap(), v);
            assert!(r.is_empty());
        }
        for v in [0i64, -1, i64::MAX, i64::MIN, 1 << 40] {
            let mut b = BytesMut::new();
            put_varlong(&mut b, v);
            assert_eq!(b.len(), varlong_len(v), "{v}");
            assert_eq!(read_varlong(&mut b.freeze(), "v").unwrap(), v);
        }
    }

    #[test]
    fn overlong_varint_is_an_error() {
        let mut b = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert!(read_unsigned_varint(&mut b, "v").is_err());
        let mut b = Bytes::from_static(&[0xff; 11]);
        assert!(read_unsigned_varlong(&mut b, "v").is_err());
        let mut b = Bytes::from_static(&[0x80]);
        assert!(matches!(
            read_unsigned_varint(&mut b, "v").unwrap_err().kind(),
            crate::error::DecodeErrorKind::Truncated { .. }
        ));
    }

    #[test]
    fn hostile_lengths_fail_before_allocating() {
        // Claims 2^31-1 elements with 6 bytes present.
        let mut b = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0]);
        let e = read_array_len(&mut b, false, 4, "a").unwrap_err();
        assert!(matches!(
            e.kind(),
            crate::error::DecodeErrorKind::LengthTooLarge {
                declared: 2147483647,
                available: 6
            }
        ));
        let mut b = Bytes::from_static(&[0x7f, 0xff, b'a']);
        assert!(read_string(&mut b, false, "s").is_err());
        let mut b = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(read_bytes(&mut b, true, "b").is_err());
        let mut b = Bytes::from_static(&[0xfe, 0xff]);
        assert!(read_nullable_string(&mut b, false, "s").is_err());
    }

    #[test]
    fn strings_and_nulls() {
        let mut b = BytesMut::new();
        put_nullable_string(&mut b, None, true, "s").unwrap();
        put_nullable_string(&mut b, Some("héllo"), true, "s").unwrap();
        put_nullable_string(&mut b, None, false, "s").unwrap();
        put_string(&mut b, "x", false, "s").unwrap();
        let mut r = b.freeze();
        assert_eq!(read_nullable_string(&mut r, true, "s").unwrap(), None);
        assert_eq!(
            read_nullable_string(&mut r, true, "s").unwrap().as_deref(),
            Some("héllo")
        );
        assert_eq!(read_nullable_string(&mut r, false, "s").unwrap(), None);
        assert_eq!(read_string(&mut r, false, "s").unwrap(), "x");
        let mut bad = Bytes::from_static(&[0, 2, 0xff, 0xfe]);
        assert!(read_string(&mut bad, false, "s").is_err());
    }

    #[test]
    fn uuid_display_matches_kafka() {
        // Kafka's METADATA_TOPIC_ID is 0x...0001; its base64 form is fixed.
        let u = Uuid::from_u64_pair(0, 1);
        assert_eq!(u.to_string(), "AAAAAAAAAAAAAAAAAAAAAQ");
        assert_eq!(Uuid::ZERO.to_string().len(), 22);
    }

    #[test]
    fn tagged_writer_interleaves_unknown_fields() {
        let mut unknown = UnknownTaggedFields::new();
        unknown.insert(0, Bytes::from_static(b"a"));
        unknown.insert(5, Bytes::from_static(b"bc"));
        let mut b = BytesMut::new();
        let mut w = TaggedWriter::start(&mut b, 1, &unknown, "t").unwrap();
        w.known(&mut b, 2, |s| {
            s.put_u8(9);
            Ok(())
        })
        .unwrap();
        w.finish(&mut b).unwrap();
        assert_eq!(&b[..], &[3, 0, 1, b'a', 2, 1, 9, 5, 2, b'b', b'c']);
        let mut r = b.freeze();
        let all = read_unknown_tagged_fields(&mut r, "t").unwrap();
        assert_eq!(all.len(), 3);

        // The largest possible tag round-trips (found by fuzzing).
        let mut max = UnknownTaggedFields::new();
        max.insert(u32::MAX, Bytes::from_static(b"z"));
        let mut b = BytesMut::new();
        let w = TaggedWriter::start(&mut b, 0, &max, "t").unwrap();
        w.finish(&mut b).unwrap();
        assert_eq!(
            read_unknown_tagged_fields(&mut b.freeze(), "t").unwrap(),
            max
        );

        let mut clash = UnknownTaggedFields::new();
        clash.insert(2, Bytes::new());
        let mut b = BytesMut::new();
        let mut w = TaggedWriter::start(&mut b, 1, &clash, "t").unwrap();
        assert!(w.known(&mut b, 2, |_| Ok(())).is_err());
    }
}
