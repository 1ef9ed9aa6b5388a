//! Every API key, every version, request and response: arbitrary values
//! round-trip through encode and decode, and decoding arbitrary bytes
//! never panics.

use bytes::{Bytes, BytesMut};
use kafka_proto::arbitrary::ArbitraryVersioned;
use kafka_proto::messages::*;
use kafka_proto::{ApiKey, Message, RequestBody, ResponseBody};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn cases() -> u32 {
    std::env::var("KAFKA_PROTO_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24)
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn every_request_and_response_round_trips_in_every_version() {
    let mut pairs = 0;
    for &key in ApiKey::ALL {
        for version in key.versions() {
            pairs += 1;
            runner()
                .run(&RequestBody::arbitrary(key, version), |body| {
                    let mut buf = BytesMut::new();
                    body.encode(version, &mut buf).expect("encode");
                    let mut bytes = buf.freeze();
                    let back = RequestBody::decode(key, version, &mut bytes).expect("decode");
                    prop_assert_eq!(bytes.len(), 0, "trailing bytes");
                    prop_assert_eq!(&back, &body);
                    Ok(())
                })
                .unwrap_or_else(|e| panic!("{key} v{version} request: {e}"));
            runner()
                .run(&ResponseBody::arbitrary(key, version), |body| {
                    let mut buf = BytesMut::new();
                    body.encode(version, &mut buf).expect("encode");
                    let mut bytes = buf.freeze();
                    let back = ResponseBody::decode(key, version, &mut bytes).expect("decode");
                    prop_assert_eq!(bytes.len(), 0, "trailing bytes");
                    prop_assert_eq!(&back, &body);
                    Ok(())
                })
                .unwrap_or_else(|e| panic!("{key} v{version} response: {e}"));
        }
    }
    // Kafka 4.4 ∪ 4.3 ∪ 3.9: a drop means a version silently went missing.
    assert_eq!(pairs, 368);
}

fn data_round_trip<T: Message + ArbitraryVersioned + PartialEq + Clone>() {
    for version in T::VERSIONS {
        runner()
            .run(&T::arbitrary(version), |value| {
                let mut buf = BytesMut::new();
                value.encode(&mut buf, version).expect("encode");
                let mut bytes = buf.freeze();
                let back = T::decode(&mut bytes, version).expect("decode");
                prop_assert!(bytes.is_empty());
                prop_assert!(back == value, "{:?} != {:?}", back, value);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{} v{version}: {e}", T::NAME));
    }
}

#[test]
fn headers_and_data_schemas_round_trip() {
    data_round_trip::<RequestHeader>();
    data_round_trip::<ResponseHeader>();
    data_round_trip::<ConsumerProtocolSubscription>();
    data_round_trip::<ConsumerProtocolAssignment>();
    data_round_trip::<ControlRecordTypeSchema>();
    data_round_trip::<EndTxnMarker>();
    data_round_trip::<DefaultPrincipalData>();
    data_round_trip::<LeaderChangeMessage>();
    data_round_trip::<SnapshotHeaderRecord>();
    data_round_trip::<SnapshotFooterRecord>();
    data_round_trip::<KRaftVersionRecord>();
    data_round_trip::<VotersRecord>();
    data_round_trip::<AbortedTxn>();
}

#[test]
fn arbitrary_bytes_never_panic_any_decoder() {
    let strategy = proptest::collection::vec(any::<u8>(), 0..256);
    for &key in ApiKey::ALL {
        for version in key.versions() {
            runner()
                .run(&strategy, |data| {
                    let _ = RequestBody::decode(key, version, &mut Bytes::from(data.clone()));
                    let _ = ResponseBody::decode(key, version, &mut Bytes::from(data));
                    Ok(())
                })
                .unwrap();
        }
    }
}

#[test]
fn truncating_a_valid_encoding_is_an_error_not_a_panic() {
    // Every strict prefix of a valid encoding must fail to decode (or decode
    // to something, for prefixes that happen to be complete), never panic.
    for &key in ApiKey::ALL {
        for version in key.versions() {
            runner()
                .run(&ResponseBody::arbitrary(key, version), |body| {
                    let mut buf = BytesMut::new();
                    body.encode(version, &mut buf).unwrap();
                    let full = buf.freeze();
                    for cut in 0..full.len() {
                        let mut b = full.slice(..cut);
                        if let Ok(decoded) = ResponseBody::decode(key, version, &mut b) {
                            prop_assert_ne!(decoded, body.clone());
                        }
                    }
                    Ok(())
                })
                .unwrap_or_else(|e| panic!("{key} v{version}: {e}"));
        }
    }
}
