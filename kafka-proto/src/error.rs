//! Errors returned by encoding and decoding.

use std::fmt;

/// Why a decode failed, without the location (see [`DecodeError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended before the value was complete.
    #[error("truncated: {needed} more byte(s) needed")]
    Truncated {
        /// How many more bytes the value needed (a lower bound).
        needed: usize,
    },
    /// A length or count prefix claims more data than the input holds.
    #[error("declared length {declared} exceeds the {available} byte(s) available")]
    LengthTooLarge {
        /// The length or element count the input declared.
        declared: u64,
        /// Bytes that were actually left.
        available: usize,
    },
    /// A value is outside what the protocol allows (negative length, bad UTF-8, ...).
    #[error("invalid value: {0}")]
    Invalid(String),
    /// The version is not one this type has.
    #[error("version {0} is not supported")]
    UnsupportedVersion(i16),
    /// A checksum did not match the data it covers.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// The checksum written in the input.
        stored: u32,
        /// The checksum computed over the bytes.
        computed: u32,
    },
    /// Decompressed data would exceed the configured limit.
    #[error("decompressed size exceeds the limit of {limit} bytes")]
    DecompressionLimit {
        /// The configured maximum inflated size.
        limit: usize,
    },
    /// The compression codec rejected the data.
    #[error("{codec} decompression failed: {detail}")]
    Compression {
        /// Codec name (`gzip`, `snappy`, `lz4`, `zstd`).
        codec: &'static str,
        /// The codec's own message.
        detail: String,
    },
    /// The data uses a codec whose cargo feature is disabled, or an unknown codec id.
    #[error("unsupported compression codec {0}")]
    UnsupportedCompression(i8),
    /// A complete value was decoded but bytes were left over.
    #[error("{0} unexpected trailing byte(s)")]
    TrailingBytes(usize),
}

/// A decode failure: what went wrong, in which field, and where.
///
/// `what` names the field or structure being read (for example
/// `MetadataResponse.Topics.Name`); `offset`, when known, is the byte
/// position in the frame or buffer handed to the top-level decoder.
///
/// The details live behind one pointer, so a `Result<T, DecodeError>` is
/// barely larger than `T` and the success path of every `?` stays cheap.
#[derive(Clone, PartialEq, Eq)]
pub struct DecodeError(Box<Inner>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    kind: DecodeErrorKind,
    what: &'static str,
    offset: Option<usize>,
}

impl fmt::Debug for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecodeError")
            .field("kind", &self.0.kind)
            .field("what", &self.0.what)
            .field("offset", &self.0.offset)
            .finish()
    }
}

impl DecodeError {
    /// Creates an error for `what`, with no location yet.
    #[cold]
    pub fn new(what: &'static str, kind: DecodeErrorKind) -> Self {
        Self(Box::new(Inner {
            kind,
            what,
            offset: None,
        }))
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn truncated(what: &'static str, needed: usize) -> Self {
        Self::new(what, DecodeErrorKind::Truncated { needed })
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        Self::new(what, DecodeErrorKind::Invalid(detail.into()))
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn too_large(what: &'static str, declared: u64, available: usize) -> Self {
        Self::new(
            what,
            DecodeErrorKind::LengthTooLarge {
                declared,
                available,
            },
        )
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn version(what: &'static str, version: i16) -> Self {
        Self::new(what, DecodeErrorKind::UnsupportedVersion(version))
    }

    /// Why decoding failed.
    pub fn kind(&self) -> &DecodeErrorKind {
        &self.0.kind
    }

    /// The field or structure that was being decoded.
    pub fn what(&self) -> &'static str {
        self.0.what
    }

    /// Byte offset of the failure from the start of the top-level input, when known.
    pub fn offset(&self) -> Option<usize> {
        self.0.offset
    }

    /// Records the failure position given the input's length at the start
    /// and the bytes left when the error surfaced. Keeps an offset already set.
    pub(crate) fn at(mut self, start_len: usize, remaining: usize) -> Self {
        if self.0.offset.is_none() {
            self.0.offset = Some(start_len.saturating_sub(remaining));
        }
        self
    }
}

impl DecodeError {
    /// Moves a known offset `by` bytes later, for an error from a decoder
    /// that saw only part of the input (a body after its header).
    pub(crate) fn shifted(mut self, by: usize) -> Self {
        self.0.offset = self.0.offset.map(|o| o + by);
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "decoding {}: {}", self.0.what, self.0.kind)?;
        if let Some(offset) = self.0.offset {
            write!(f, " (at byte {offset})")?;
        }
        Ok(())
    }
}

impl std::error::Error for DecodeError {}

/// An encode failure: the value cannot be represented in the requested version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The type has no such version.
    #[error("{what} has no version {version}")]
    UnsupportedVersion {
        /// The message or structure.
        what: &'static str,
        /// The requested version.
        version: i16,
    },
    /// A field holds a non-default value but does not exist in this version,
    /// and dropping it silently would change the meaning of the message.
    #[error("{field} is set but does not exist in version {version}")]
    FieldNotInVersion {
        /// Path of the field.
        field: &'static str,
        /// The requested version.
        version: i16,
    },
    /// A field is null in a version where it may not be.
    #[error("{field} is null but is not nullable in version {version}")]
    NullNotAllowed {
        /// Path of the field.
        field: &'static str,
        /// The requested version.
        version: i16,
    },
    /// A string, byte array or collection is too long for its length prefix.
    #[error("{what} is too long ({len}) for its length prefix")]
    TooLong {
        /// The field.
        what: &'static str,
        /// Its length in bytes or elements.
        len: usize,
    },
    /// An argument was out of the range the wire format allows.
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// The field or argument.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// Compression failed.
    #[error("{codec} compression failed: {detail}")]
    Compression {
        /// Codec name.
        codec: &'static str,
        /// The codec's own message.
        detail: String,
    },
    /// The requested codec's cargo feature is disabled.
    #[error("compression codec {0} is not enabled in this build")]
    UnsupportedCompression(&'static str),
}
