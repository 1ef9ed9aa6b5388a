//! A Produce frame in pieces is, byte for byte, the frame encoded whole,
//! and the record sets it was told to share are not copied.

use bytes::{Bytes, BytesMut};
use kafka_proto::arbitrary::ArbitraryVersioned;
use kafka_proto::frame::{encode_produce_frame, encode_request_frame};
use kafka_proto::messages::{ProduceRequest, RequestHeader};
use kafka_proto::{ApiKey, EncodeError, RequestBody};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn header(version: i16) -> RequestHeader {
    RequestHeader::default()
        .with_request_api_key(ApiKey::Produce.id())
        .with_request_api_version(version)
        .with_correlation_id(42)
        .with_client_id(Some("pieces".into()))
}

fn whole(version: i16, body: &ProduceRequest) -> Result<Bytes, EncodeError> {
    let mut buf = BytesMut::new();
    encode_request_frame(&header(version), &RequestBody::from(body.clone()), &mut buf)?;
    Ok(buf.freeze())
}

#[test]
fn pieces_are_the_whole_frame_and_share_large_record_sets() {
    let cases = std::env::var("KAFKA_PROTO_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    for version in ApiKey::Produce.versions() {
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let strategy = (
            ProduceRequest::arbitrary(version),
            prop_oneof![Just(0usize), Just(1), Just(8), Just(usize::MAX)],
        );
        runner
            .run(&strategy, |(body, min_shared)| {
                let pieces = encode_produce_frame(&header(version), &body, min_shared);
                match whole(version, &body) {
                    Ok(expected) => {
                        let pieces = pieces.expect("pieces encode when the whole does");
                        prop_assert!(pieces.iter().all(|p| !p.is_empty()));
                        prop_assert_eq!(pieces.concat(), expected.to_vec());
                        let sets: Vec<&Bytes> = body
                            .topic_data
                            .iter()
                            .flat_map(|t| &t.partition_data)
                            .filter_map(|p| p.records.as_ref())
                            .filter(|r| !r.is_empty() && r.len() >= min_shared)
                            .collect();
                        for r in &sets {
                            prop_assert!(
                                pieces
                                    .iter()
                                    .any(|p| p.as_ptr() == r.as_ptr() && p.len() == r.len()),
                                "a shared record set is its own piece"
                            );
                        }
                        prop_assert!(pieces.len() <= 2 * sets.len() + 1);
                    }
                    Err(_) => prop_assert!(pieces.is_err(), "fails where the whole frame fails"),
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("Produce v{version}: {e}"));
    }
}

#[test]
fn a_header_for_another_api_or_version_is_refused() {
    let body = ProduceRequest::default();
    let other = header(9).with_request_api_key(ApiKey::Fetch.id());
    assert!(encode_produce_frame(&other, &body, 0).is_err());
    assert!(encode_produce_frame(&header(99), &body, 0).is_err());
    let txn = ProduceRequest::default().with_transactional_id(Some("t".into()));
    assert!(encode_produce_frame(&header(2), &txn, 0).is_err());
    assert!(encode_produce_frame(&header(3), &txn, 0).is_ok());
}
