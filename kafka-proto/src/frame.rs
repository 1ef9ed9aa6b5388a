//! Whole frames: the 4-byte size prefix, the request or response header,
//! and the body.
//!
//! ```
//! use bytes::BytesMut;
//! use kafka_proto::frame::{decode_request_frame, encode_request_frame, split_frame};
//! use kafka_proto::messages::{ApiVersionsRequest, RequestHeader};
//! use kafka_proto::{ApiKey, RequestBody};
//!
//! let header = RequestHeader::default()
//!     .with_request_api_key(ApiKey::ApiVersions.id())
//!     .with_request_api_version(3)
//!     .with_correlation_id(7)
//!     .with_client_id(Some("example".into()));
//! let body = RequestBody::from(
//!     ApiVersionsRequest::default()
//!         .with_client_software_name("kafka-rs".into())
//!         .with_client_software_version("0.1".into()),
//! );
//! let mut wire = BytesMut::new();
//! encode_request_frame(&header, &body, &mut wire)?;
//!
//! // A server cuts the frame off its read buffer and decodes it.
//! let frame = split_frame(&mut wire, 1 << 20)?.expect("a whole frame");
//! let (h, b) = decode_request_frame(frame)?;
//! assert_eq!(h.correlation_id, 7);
//! assert_eq!(b, body);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::codec;
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::messages::{ProduceRequest, RequestHeader, ResponseHeader};
use crate::{ApiKey, Message, RequestBody, ResponseBody};

/// The largest frame Kafka brokers accept by default (`socket.request.max.bytes`, 100 MiB).
pub const DEFAULT_MAX_FRAME_SIZE: usize = 100 * 1024 * 1024;

/// Cuts one size-prefixed frame off the front of `buf`, without the prefix.
///
/// Returns `Ok(None)` while the frame is incomplete, leaving `buf` as it
/// is, so a reader only has to append what the socket gave it and call
/// this again. A negative size or one above `max_size` is an error: the
/// connection is unusable after it.
pub fn split_frame(buf: &mut BytesMut, max_size: usize) -> Result<Option<Bytes>, DecodeError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let size = usize::try_from(size)
        .map_err(|_| DecodeError::invalid("frame size", format!("negative frame size {size}")))?;
    if size > max_size {
        return Err(DecodeError::new(
            "frame size",
            DecodeErrorKind::LengthTooLarge {
                declared: size as u64,
                available: max_size,
            },
        ));
    }
    if buf.len() - 4 < size {
        // Reserve for the rest of this frame now, bounded by max_size above.
        buf.reserve(size + 4 - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(size).freeze()))
}

/// Reserves a size prefix, runs `body`, then writes the size.
fn with_size_prefix(
    buf: &mut BytesMut,
    body: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = buf.len();
    buf.put_i32(0);
    if let Err(e) = body(buf) {
        buf.truncate(start);
        return Err(e);
    }
    let len = buf.len() - start - 4;
    let size = i32::try_from(len).map_err(|_| EncodeError::TooLong { what: "frame", len })?;
    buf[start..start + 4].copy_from_slice(&size.to_be_bytes());
    Ok(())
}

/// The header must name the API of the body it heads.
fn check_header_key(header: &RequestHeader, key: ApiKey) -> Result<(), EncodeError> {
    if header.request_api_key == key.id() {
        return Ok(());
    }
    Err(EncodeError::Invalid {
        what: "RequestHeader.RequestApiKey",
        detail: format!(
            "header says API key {} but the body is {key}",
            header.request_api_key
        ),
    })
}

/// Appends a size-prefixed request frame: `header`, then `body` in
/// `header.request_api_version`. The header version follows the API and
/// version (v2 for flexible versions, else v1, v0 for ControlledShutdown v0).
///
/// Fails if the header's API key does not match the body's. On error `buf`
/// is left as it was.
pub fn encode_request_frame(
    header: &RequestHeader,
    body: &RequestBody,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let key = body.api_key();
    check_header_key(header, key)?;
    let version = header.request_api_version;
    with_size_prefix(buf, |buf| {
        header.encode(buf, key.request_header_version(version))?;
        body.encode(version, buf)
    })
}

/// A Produce request frame in pieces that, written one after the other,
/// are the bytes [`encode_request_frame`] gives: every record set of at
/// least `min_shared` bytes is a piece of its own that shares the caller's
/// `Bytes` instead of being copied, and the rest (size prefix, header,
/// names, length prefixes) is one buffer cut into the pieces between them.
/// A writer with vectored I/O, or one that queues pieces, then moves each
/// batch from the producer to the socket without a copy.
///
/// Fails as [`encode_request_frame`] does: a header that names another API
/// or a version Produce lacks, a field the version cannot carry.
pub fn encode_produce_frame(
    header: &RequestHeader,
    body: &ProduceRequest,
    min_shared: usize,
) -> Result<Vec<Bytes>, EncodeError> {
    let key = ApiKey::Produce;
    check_header_key(header, key)?;
    let version = header.request_api_version;
    if !key.versions().contains(&version) {
        return Err(EncodeError::UnsupportedVersion {
            what: "ProduceRequest",
            version,
        });
    }
    let flexible = version >= 9;
    // Room for all but the shared record sets, so the buffer never grows.
    let room: usize = body
        .topic_data
        .iter()
        .map(|t| {
            32 + t.name.len()
                + t.partition_data
                    .iter()
                    .map(|p| match p.records.as_ref().map_or(0, Bytes::len) {
                        n if n >= min_shared => 16,
                        n => 16 + n,
                    })
                    .sum::<usize>()
        })
        .sum();
    let id = header.client_id.as_ref().map_or(0, String::len);
    let mut buf = BytesMut::with_capacity(256 + id + room);
    // Where each shared record set goes: after this many bytes of `buf`.
    let mut shared: Vec<(usize, &Bytes)> = Vec::new();
    buf.put_i32(0);
    header.encode(&mut buf, key.request_header_version(version))?;
    match &body.transactional_id {
        Some(_) if version < 3 => {
            return Err(EncodeError::FieldNotInVersion {
                field: "ProduceRequest.TransactionalId",
                version,
            })
        }
        id if version >= 3 => codec::put_nullable_string(
            &mut buf,
            id.as_deref(),
            flexible,
            "ProduceRequest.TransactionalId",
        )?,
        _ => {}
    }
    codec::put_i16(&mut buf, body.acks);
    codec::put_i32(&mut buf, body.timeout_ms);
    codec::put_array_len(
        &mut buf,
        Some(body.topic_data.len()),
        flexible,
        "ProduceRequest.TopicData",
    )?;
    for t in &body.topic_data {
        if version <= 12 {
            codec::put_string(&mut buf, &t.name, flexible, "TopicProduceData.Name")?;
        } else {
            codec::put_uuid(&mut buf, &t.topic_id);
        }
        codec::put_array_len(
            &mut buf,
            Some(t.partition_data.len()),
            flexible,
            "TopicProduceData.PartitionData",
        )?;
        for p in &t.partition_data {
            codec::put_i32(&mut buf, p.index);
            const WHAT: &str = "PartitionProduceData.Records";
            match &p.records {
                Some(r) if !r.is_empty() && r.len() >= min_shared => {
                    codec::put_bytes_len(&mut buf, r.len(), flexible, WHAT)?;
                    shared.push((buf.len(), r));
                }
                Some(r) => codec::put_bytes(&mut buf, r, flexible, WHAT)?,
                None => codec::put_nullable_bytes(&mut buf, None, flexible, WHAT)?,
            }
            if flexible {
                codec::put_unknown_tagged_fields(
                    &mut buf,
                    &p.unknown_tagged_fields,
                    "PartitionProduceData",
                )?;
            }
        }
        if flexible {
            codec::put_unknown_tagged_fields(
                &mut buf,
                &t.unknown_tagged_fields,
                "TopicProduceData",
            )?;
        }
    }
    if flexible {
        codec::put_unknown_tagged_fields(&mut buf, &body.unknown_tagged_fields, "ProduceRequest")?;
    }
    let len = buf.len() - 4 + shared.iter().map(|(_, r)| r.len()).sum::<usize>();
    let size = i32::try_from(len).map_err(|_| EncodeError::TooLong { what: "frame", len })?;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    let own = buf.freeze();
    let mut pieces = Vec::with_capacity(2 * shared.len() + 1);
    let mut at = 0;
    for (end, r) in shared {
        pieces.push(own.slice(at..end));
        pieces.push(r.clone());
        at = end;
    }
    if at < own.len() {
        pieces.push(own.slice(at..));
    }
    Ok(pieces)
}

/// Decodes a request frame (without its size prefix): the header, whose
/// version follows from the API key and version it starts with, then the
/// body. Bytes left after the body are an error.
pub fn decode_request_frame(frame: Bytes) -> Result<(RequestHeader, RequestBody), DecodeError> {
    let start = frame.len();
    let mut buf = frame;
    if buf.len() < 4 {
        return Err(DecodeError::truncated("RequestHeader", 4 - buf.len()).at(start, buf.len()));
    }
    let raw_key = i16::from_be_bytes([buf[0], buf[1]]);
    let version = i16::from_be_bytes([buf[2], buf[3]]);
    let key = ApiKey::try_from(raw_key).map_err(|_| {
        DecodeError::invalid(
            "RequestHeader.RequestApiKey",
            format!("unknown API key {raw_key}"),
        )
        .at(start, start)
    })?;
    if !key.versions().contains(&version) {
        return Err(DecodeError::version(key.name(), version).at(start, start));
    }
    let header = RequestHeader::decode(&mut buf, key.request_header_version(version))
        .map_err(|e| e.at(start, buf.len()))?;
    let body_start = start - buf.len();
    let body = RequestBody::decode(key, version, &mut buf).map_err(|e| e.shifted(body_start))?;
    expect_end(&buf, key.name(), start)?;
    Ok((header, body))
}

/// Appends a size-prefixed response frame for `body` in `version`, with a
/// response header carrying `correlation_id` (header v1 for flexible
/// versions except ApiVersions, else v0). On error `buf` is left as it was.
pub fn encode_response_frame(
    correlation_id: i32,
    version: i16,
    body: &ResponseBody,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let key = body.api_key();
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    with_size_prefix(buf, |buf| {
        header.encode(buf, key.response_header_version(version))?;
        body.encode(version, buf)
    })
}

/// Decodes a response frame (without its size prefix) to a request of
/// `api_key` in `version`. Bytes left after the body are an error.
pub fn decode_response_frame(
    frame: Bytes,
    api_key: ApiKey,
    version: i16,
) -> Result<(ResponseHeader, ResponseBody), DecodeError> {
    let start = frame.len();
    let mut buf = frame;
    let header = ResponseHeader::decode(&mut buf, api_key.response_header_version(version))
        .map_err(|e| e.at(start, buf.len()))?;
    let body_start = start - buf.len();
    let body =
        ResponseBody::decode(api_key, version, &mut buf).map_err(|e| e.shifted(body_start))?;
    expect_end(&buf, api_key.name(), start)?;
    Ok((header, body))
}

/// The correlation id at the start of a response frame, which a client
/// needs before it knows which request (and so which body type) it answers.
pub fn response_correlation_id(frame: &[u8]) -> Result<i32, DecodeError> {
    match frame {
        [a, b, c, d, ..] => Ok(i32::from_be_bytes([*a, *b, *c, *d])),
        _ => Err(DecodeError::truncated(
            "ResponseHeader.CorrelationId",
            4 - frame.len(),
        )),
    }
}

fn expect_end(buf: &Bytes, what: &'static str, start: usize) -> Result<(), DecodeError> {
    if buf.is_empty() {
        Ok(())
    } else {
        Err(DecodeError::new(what, DecodeErrorKind::TrailingBytes(buf.len())).at(start, buf.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{ApiVersionsResponse, MetadataRequest};

    #[test]
    fn split_frame_waits_for_whole_frames_and_rejects_hostile_sizes() {
        let mut buf = BytesMut::from(&[0, 0, 0, 3, 1, 2][..]);
        assert_eq!(split_frame(&mut buf, 100).unwrap(), None);
        assert_eq!(buf.len(), 6);
        buf.extend_from_slice(&[3, 0, 0]);
        assert_eq!(
            &split_frame(&mut buf, 100).unwrap().unwrap()[..],
            &[1, 2, 3]
        );
        assert_eq!(&buf[..], &[0, 0]);

        let mut huge = BytesMut::from(&[0x7f, 0xff, 0xff, 0xff][..]);
        assert!(split_frame(&mut huge, DEFAULT_MAX_FRAME_SIZE).is_err());
        assert!(
            huge.capacity() < 1024,
            "must not reserve for a rejected frame"
        );
        let mut negative = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        assert!(split_frame(&mut negative, 100).is_err());
    }

    #[test]
    fn api_versions_response_uses_header_v0_even_when_flexible() {
        let body = ResponseBody::from(ApiVersionsResponse::default().with_error_code(35));
        let mut buf = BytesMut::new();
        encode_response_frame(9, 3, &body, &mut buf).unwrap();
        // size, correlation id, then straight into the body: no tagged-field byte.
        assert_eq!(&buf[4..8], &9i32.to_be_bytes());
        assert_eq!(&buf[8..10], &35i16.to_be_bytes());
        let mut frame = buf.split_off(4).freeze();
        assert_eq!(response_correlation_id(&frame).unwrap(), 9);
        let (h, b) = decode_response_frame(frame.split_off(0), ApiKey::ApiVersions, 3).unwrap();
        assert_eq!(h.correlation_id, 9);
        assert_eq!(b, body);
    }

    #[test]
    fn mismatched_header_and_body_is_refused() {
        let header = RequestHeader::default().with_request_api_key(ApiKey::Produce.id());
        let mut buf = BytesMut::from(&b"keep"[..]);
        let err = encode_request_frame(&header, &MetadataRequest::default().into(), &mut buf);
        assert!(err.is_err());
        assert_eq!(&buf[..], b"keep");
    }

    #[test]
    fn request_frames_report_errors_with_offsets() {
        // Unknown key.
        let e = decode_request_frame(Bytes::from_static(&[0x7f, 0, 0, 0])).unwrap_err();
        assert!(e.to_string().contains("unknown API key"));
        // Metadata v12 header, then a topic array claiming 2^31-1 entries.
        let mut raw = vec![0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0xff, 0];
        raw.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x07]);
        let e = decode_request_frame(Bytes::from(raw)).unwrap_err();
        assert!(
            matches!(e.kind(), DecodeErrorKind::LengthTooLarge { .. }),
            "{e}"
        );
        assert_eq!(e.offset(), Some(16));
        // Trailing bytes after a valid body.
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::Metadata.id())
            .with_request_api_version(1);
        let mut buf = BytesMut::new();
        encode_request_frame(&header, &MetadataRequest::default().into(), &mut buf).unwrap();
        buf.put_u8(0);
        let e = decode_request_frame(buf.split_off(4).freeze()).unwrap_err();
        assert_eq!(e.kind(), &DecodeErrorKind::TrailingBytes(1));
    }
}
