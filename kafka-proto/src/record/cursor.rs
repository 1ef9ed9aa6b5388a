//! A bounds-checked reader over a byte slice, used by the hot record
//! decoding paths: it tracks a position instead of advancing a `Bytes`, so
//! fields can be turned into zero-copy slices with one `Bytes::slice` each.

use std::ops::Range;

use crate::error::DecodeError;

pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    pub(crate) fn new(buf: &'a [u8], pos: usize) -> Self {
        Self { buf, pos }
    }

    #[inline]
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Narrows the cursor to the next `n` bytes without consuming them:
    /// later reads see a buffer ending there. Returns that end.
    #[inline]
    pub(crate) fn narrow(&mut self, n: usize, what: &'static str) -> Result<usize, DecodeError> {
        let remaining = self.remaining();
        if n > remaining {
            return Err(too_large(what, n, remaining));
        }
        let end = self.pos + n;
        self.buf = self.buf.get(..end).unwrap_or(self.buf);
        Ok(end)
    }

    /// The bytes in `r` (a range this cursor returned), or none.
    #[inline]
    pub(crate) fn get(&self, r: Range<usize>) -> &'a [u8] {
        self.buf.get(r).unwrap_or_default()
    }

    /// Takes `n` bytes, returning their range in the underlying slice.
    #[inline(always)]
    pub(crate) fn take(
        &mut self,
        n: usize,
        what: &'static str,
    ) -> Result<Range<usize>, DecodeError> {
        let remaining = self.remaining();
        if n > remaining {
            return Err(too_large(what, n, remaining));
        }
        let start = self.pos;
        self.pos += n;
        Ok(start..self.pos)
    }

    #[inline]
    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let bytes = self
            .buf
            .get(self.pos..)
            .and_then(|rest| rest.first_chunk::<N>())
            .ok_or_else(|| truncated(what, N - self.remaining()))?;
        self.pos += N;
        Ok(*bytes)
    }

    #[inline]
    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        self.byte(what)
    }
    #[inline]
    pub(crate) fn i8(&mut self, what: &'static str) -> Result<i8, DecodeError> {
        Ok(i8::from_be_bytes(self.array(what)?))
    }
    #[inline]
    pub(crate) fn i16(&mut self, what: &'static str) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }
    #[inline]
    pub(crate) fn i32(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }
    #[inline]
    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }
    #[inline]
    pub(crate) fn i64(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    #[inline]
    fn byte(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(truncated(what, 1)),
        }
    }

    /// A zigzag varint in the `int32` range (at most 5 bytes).
    #[inline(always)]
    pub(crate) fn varint(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        let v = match self.short() {
            Some(v) => v as u32,
            None => self.varint_slow(what)?,
        };
        Ok(((v >> 1) as i32) ^ -((v & 1) as i32))
    }

    /// Fast paths for a varint of one byte (most deltas and small lengths)
    /// or two (lengths up to 8 KiB, deltas up to 8191); `None` otherwise.
    #[inline(always)]
    fn short(&mut self) -> Option<u64> {
        let rest = self.buf.get(self.pos..)?;
        match *rest {
            [b0, ..] if b0 < 0x80 => {
                self.pos += 1;
                Some(u64::from(b0))
            }
            [b0, b1, ..] if b1 < 0x80 => {
                self.pos += 2;
                Some(u64::from(b0 & 0x7f) | (u64::from(b1) << 7))
            }
            _ => None,
        }
    }

    #[inline(never)]
    fn varint_slow(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let mut v = 0u32;
        let mut shift = 0;
        loop {
            let b = self.byte(what)?;
            if shift == 28 && b > 0x0f {
                return Err(DecodeError::invalid(what, "varint exceeds 32 bits"));
            }
            v |= u32::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
            shift += 7;
        }
    }

    /// A zigzag varlong in the `int64` range (at most 10 bytes).
    #[inline(always)]
    pub(crate) fn varlong(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        let v = match self.short() {
            Some(v) => v,
            None => self.varlong_slow(what)?,
        };
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    #[inline(never)]
    fn varlong_slow(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = self.byte(what)?;
            if shift == 63 && b > 0x01 {
                return Err(DecodeError::invalid(what, "varlong exceeds 64 bits"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
            shift += 7;
        }
    }

    /// A varint length then that many bytes; -1 is null.
    #[inline(always)]
    pub(crate) fn varint_bytes(
        &mut self,
        what: &'static str,
    ) -> Result<Option<Range<usize>>, DecodeError> {
        match self.varint(what)? {
            n if n >= 0 => Ok(Some(self.take(n as usize, what)?)),
            -1 => Ok(None),
            n => Err(negative_length(what, i64::from(n))),
        }
    }

    /// An `int32` length then that many bytes; -1 is null.
    #[inline]
    pub(crate) fn i32_bytes(
        &mut self,
        what: &'static str,
    ) -> Result<Option<Range<usize>>, DecodeError> {
        match self.i32(what)? {
            n if n >= 0 => Ok(Some(self.take(n as usize, what)?)),
            -1 => Ok(None),
            n => Err(negative_length(what, i64::from(n))),
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
fn too_large(what: &'static str, n: usize, remaining: usize) -> DecodeError {
    DecodeError::too_large(what, n as u64, remaining)
}

#[cold]
#[inline(never)]
fn negative_length(what: &'static str, n: i64) -> DecodeError {
    DecodeError::invalid(what, format!("negative length {n}"))
}
