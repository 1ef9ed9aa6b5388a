//! Arbitrary bytes as a request frame (without the size prefix).
//!
//! Checks: decoding never panics; a frame that decodes re-encodes, the
//! re-encoding has a correct size prefix and decodes to the same header and
//! body, and encoding that again gives the same bytes.
#![no_main]

use bytes::{Bytes, BytesMut};
use kafka_proto::frame::{decode_request_frame, encode_request_frame};
use kafka_proto_fuzz::same;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((h1, b1)) = decode_request_frame(Bytes::copy_from_slice(data)) else {
        return;
    };

    let mut wire = BytesMut::new();
    if let Err(e) = encode_request_frame(&h1, &b1, &mut wire) {
        panic!("decoded request does not re-encode: {e}\nheader: {h1:?}\nbody: {b1:?}");
    }
    let size = i32::from_be_bytes(wire[..4].try_into().unwrap());
    assert_eq!(
        usize::try_from(size).ok(),
        Some(wire.len() - 4),
        "size prefix does not match the frame"
    );
    let wire = wire.freeze();

    let (h2, b2) = match decode_request_frame(wire.slice(4..)) {
        Ok(v) => v,
        Err(e) => panic!(
            "re-encoded request does not decode: {e}\nheader: {h1:?}\nbody: {b1:?}\nwire: {wire:02x?}"
        ),
    };
    assert!(
        same(&h1, &h2),
        "request header changed in round trip:\nfirst:  {h1:?}\nsecond: {h2:?}"
    );
    assert!(
        same(&b1, &b2),
        "request body changed in round trip:\nfirst:  {b1:?}\nsecond: {b2:?}"
    );

    let mut again = BytesMut::new();
    encode_request_frame(&h2, &b2, &mut again).expect("second encode");
    assert_eq!(wire, again.freeze(), "encoding is not stable");
});
