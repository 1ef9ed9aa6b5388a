//! A response frame for an API key and version chosen by the first 3 input
//! bytes (see `kafka_proto_fuzz::split_response_input`).
//!
//! Checks: decoding never panics; a frame that decodes re-encodes with
//! `encode_response_frame` and decodes to the same correlation id and body,
//! and encoding that again gives the same bytes.
//!
//! `encode_response_frame` writes a header with only the correlation id, so
//! unknown tagged fields of a flexible response header are not expected to
//! survive; everything else in the header is.
#![no_main]

use bytes::{Bytes, BytesMut};
use kafka_proto::frame::{decode_response_frame, encode_response_frame};
use kafka_proto::messages::ResponseHeader;
use kafka_proto_fuzz::{same, split_response_input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((key, version, frame)) = split_response_input(data) else {
        return;
    };
    let Ok((h1, b1)) = decode_response_frame(Bytes::copy_from_slice(frame), key, version) else {
        return;
    };
    assert_eq!(b1.api_key(), key, "decoded body is for another API");

    let mut wire = BytesMut::new();
    if let Err(e) = encode_response_frame(h1.correlation_id, version, &b1, &mut wire) {
        panic!("decoded {key} v{version} response does not re-encode: {e}\nbody: {b1:?}");
    }
    let size = i32::from_be_bytes(wire[..4].try_into().unwrap());
    assert_eq!(
        usize::try_from(size).ok(),
        Some(wire.len() - 4),
        "size prefix does not match the frame"
    );
    let wire = wire.freeze();

    let (h2, b2) = match decode_response_frame(wire.slice(4..), key, version) {
        Ok(v) => v,
        Err(e) => panic!(
            "re-encoded {key} v{version} response does not decode: {e}\nbody: {b1:?}\nwire: {wire:02x?}"
        ),
    };
    let expected_header = ResponseHeader::default().with_correlation_id(h1.correlation_id);
    assert_eq!(h2, expected_header, "{key} v{version} response header");
    assert!(
        same(&b1, &b2),
        "{key} v{version} response body changed in round trip:\nfirst:  {b1:?}\nsecond: {b2:?}"
    );

    let mut again = BytesMut::new();
    encode_response_frame(h2.correlation_id, version, &b2, &mut again).expect("second encode");
    assert_eq!(wire, again.freeze(), "{key} v{version}: encoding is not stable");
});
