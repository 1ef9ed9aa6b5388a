//! Nothing a client sends may panic the mock, and every response it sends
//! must decode as the response to the request it answers.
//!
//! Drives the sans-IO `Cluster` directly with arbitrary requests of every
//! API and version it serves (from kafka-proto's proptest strategies),
//! interleaved with requests that hit real topics, on a virtual clock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_mock::{Cluster, ClusterConfig, ConnId, Output};
use kafka_proto::frame::{decode_response_frame, encode_request_frame};
use kafka_proto::messages::RequestHeader;
use kafka_proto::{ApiKey, RequestBody};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Every (API, version) the mock advertises in its ApiVersions answer.
fn served() -> Vec<(ApiKey, i16)> {
    let mut out = Vec::new();
    let mut cluster = Cluster::new(ClusterConfig::default(), Instant::now());
    cluster.handle_connected(Instant::now(), ConnId(1), 0);
    let req = RequestBody::ApiVersions(Default::default());
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::ApiVersions.id())
        .with_request_api_version(0)
        .with_correlation_id(1);
    let mut buf = BytesMut::new();
    encode_request_frame(&header, &req, &mut buf).unwrap();
    cluster.handle_frame(Instant::now(), ConnId(1), buf.split_off(4).freeze());
    let Some(Output::Send { bytes, .. }) = cluster.poll_output() else {
        panic!("no ApiVersions answer")
    };
    let (_, body) = decode_response_frame(bytes.slice(4..), ApiKey::ApiVersions, 0).unwrap();
    let kafka_proto::ResponseBody::ApiVersions(v) = body else {
        panic!()
    };
    for k in v.api_keys {
        let key = ApiKey::try_from(k.api_key).unwrap();
        for version in k.min_version..=k.max_version {
            out.push((key, version));
        }
    }
    out
}

struct Harness {
    cluster: Cluster,
    now: Instant,
    conn: u64,
    inflight: HashMap<(u64, i32), (ApiKey, i16)>,
    correlation: i32,
    responses: usize,
}

impl Harness {
    fn new() -> Self {
        let now = Instant::now();
        let mut config = ClusterConfig::default();
        config.brokers = 3;
        let mut cluster = Cluster::new(config, now);
        cluster.create_topic("t", 3, 3).unwrap();
        let mut h = Self {
            cluster,
            now,
            conn: 1,
            inflight: HashMap::new(),
            correlation: 0,
            responses: 0,
        };
        h.cluster.handle_connected(now, ConnId(1), 0);
        h
    }

    fn send(&mut self, version: i16, body: &RequestBody) {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(body.api_key().id())
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some("robustness".into()));
        let mut buf = BytesMut::new();
        if encode_request_frame(&header, body, &mut buf).is_err() {
            return;
        }
        self.inflight
            .insert((self.conn, self.correlation), (body.api_key(), version));
        let frame = buf.split_off(4).freeze();
        self.cluster
            .handle_frame(self.now, ConnId(self.conn), frame);
        self.drain();
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.cluster.handle_timeout(self.now);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(out) = self.cluster.poll_output() {
            match out {
                Output::Send { conn, bytes } => {
                    let mut rest: Bytes = bytes;
                    while rest.len() >= 4 {
                        let size =
                            i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                        let frame = rest.slice(4..4 + size);
                        rest = rest.slice(4 + size..);
                        let correlation =
                            i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
                        let (key, version) = self
                            .inflight
                            .remove(&(conn.0, correlation))
                            .expect("a response answers a request we sent");
                        decode_response_frame(frame, key, version).unwrap_or_else(|e| {
                            panic!("{key} v{version} response does not decode: {e}")
                        });
                        self.responses += 1;
                    }
                }
                Output::Close { conn, .. } if conn.0 == self.conn => {
                    // Reconnect, to a broker chosen by the connection count.
                    self.conn += 1;
                    let broker = (self.conn % 3) as i32;
                    self.cluster
                        .handle_connected(self.now, ConnId(self.conn), broker);
                }
                _ => {}
            }
        }
    }
}

#[test]
fn arbitrary_requests_never_panic_and_every_response_decodes() {
    let cases: u32 = std::env::var("KAFKA_MOCK_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let pairs = served();
    assert!(pairs.len() > 150, "only {} served versions", pairs.len());
    let total_responses = std::cell::Cell::new(0);
    for (key, version) in pairs {
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let strategy = proptest::collection::vec(RequestBody::arbitrary(key, version), 1..4);
        runner
            .run(&strategy, |bodies| {
                let mut h = Harness::new();
                for body in &bodies {
                    h.send(version, body);
                    h.advance(Duration::from_millis(10));
                }
                // Let every parked request time out: clients may ask for
                // waits up to i32::MAX ms (24.8 days).
                for _ in 0..3 {
                    h.advance(Duration::from_secs(30 * 86_400));
                }
                total_responses.set(total_responses.get() + h.responses);
                prop_assert!(
                    h.inflight.keys().all(|(c, _)| *c != h.conn) || key == ApiKey::Produce,
                    "{key} v{version}: a request on the open connection was never answered"
                );
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{key} v{version}: {e}"));
    }
    assert!(total_responses.get() > 0);
}
