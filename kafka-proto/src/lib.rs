//! Pure encoding and decoding of the Apache Kafka wire protocol.
//!
//! `kafka-proto` does no I/O and reads no clock. It covers:
//!
//! - every request and response of every API key and version, generated
//!   from Kafka's message schemas (see [`messages`]), including flexible
//!   versions with compact encodings and tagged fields: 95 keys and 368
//!   request/response version pairs from Kafka 4.4.0, 4.3.1 and 3.9.2, each
//!   version from the newest release defining it. Over 4.3, Kafka 4.4 adds
//!   keys 93 (StreamsGroupTopologyDescriptionUpdate) and 94
//!   (UnregisterController), ApiVersions v5, DeleteGroups v3,
//!   TxnOffsetCommit v6 (topics by id), StreamsGroupDescribe v1 and
//!   StreamsGroupHeartbeat v1;
//! - request and response headers and whole frames ([`frame`]);
//! - record batches (magic 2), legacy message sets (magic 0 and 1), and
//!   the gzip, snappy, lz4 and zstd codecs ([`record`]);
//! - every Kafka error code ([`ErrorCode`]).
//!
//! Decoders never panic on bad input: they return a [`DecodeError`] that
//! names the field and position, and they check every declared length
//! against the bytes present before allocating.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "proptest")]
pub mod arbitrary;
pub mod codec;
pub mod error;
pub mod error_code;
pub mod frame;
pub mod messages;
pub mod record;

pub use codec::{UnknownTaggedFields, Uuid, UuidParseError};
pub use error::{DecodeError, DecodeErrorKind, EncodeError};
pub use error_code::ErrorCode;
pub use messages::{ApiKey, Listener, Request, RequestBody, ResponseBody, UnknownApiKey};

use bytes::{Bytes, BytesMut};
use std::ops::RangeInclusive;

/// A versioned protocol structure with its own wire encoding: requests,
/// responses, headers and the data schemas Kafka stores inside records.
pub trait Message: Sized {
    /// The schema name, e.g. `"MetadataRequest"`.
    const NAME: &'static str;
    /// Every version this type can encode and decode.
    const VERSIONS: RangeInclusive<i16>;
    /// The first flexible version (compact encodings and tagged fields), if any.
    const FLEXIBLE_FROM: Option<i16>;

    /// Appends the encoding of `self` in `version` to `buf`.
    ///
    /// Fails if the version is unknown, or if a field that does not exist in
    /// `version` holds a value other than its default and is not marked as
    /// safe to drop.
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError>;

    /// Decodes one value in `version` from the front of `buf`, advancing it.
    fn decode(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError>;
}
