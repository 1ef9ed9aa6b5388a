//! Writes the seed corpus: `cargo run --example seeds` (from fuzz/).
//!
//! Valid frames for ApiVersions, Metadata, Produce and Fetch in a few
//! versions each (lowest, last non-flexible, first flexible, highest): the
//! default body and one generated with the proptest strategies from a fixed
//! seed, so reruns write the same files; and two generated frames for each
//! version Kafka 4.4 added. Existing files are overwritten;
//! others in the corpus directories are left alone.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::{BufMut, BytesMut};
use kafka_proto::frame::{encode_request_frame, encode_response_frame};
use kafka_proto::messages::{self as m, RequestHeader};
use kafka_proto::{ApiKey, RequestBody, ResponseBody};
use kafka_proto_fuzz::response_selector;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

const KEYS: [ApiKey; 4] = [
    ApiKey::ApiVersions,
    ApiKey::Metadata,
    ApiKey::Produce,
    ApiKey::Fetch,
];

/// Versions Kafka 4.4 added, besides ApiVersions v5 (the highest version,
/// seeded with the keys above). Seeding them lets a short run start inside
/// their new fields instead of first having to hit the key and version.
const KAFKA_4_4: [(ApiKey, i16); 6] = [
    (ApiKey::DeleteGroups, 3),
    (ApiKey::TxnOffsetCommit, 6),
    (ApiKey::StreamsGroupDescribe, 1),
    (ApiKey::StreamsGroupHeartbeat, 1),
    (ApiKey::StreamsGroupTopologyDescriptionUpdate, 0),
    (ApiKey::UnregisterController, 0),
];

fn versions(key: ApiKey) -> Vec<i16> {
    let r = key.versions();
    let mut v = vec![*r.start(), *r.end()];
    if let Some(f) = key.flexible_from() {
        v.push(f);
        v.push(f - 1);
    }
    v.retain(|x| r.contains(x));
    v.sort_unstable();
    v.dedup();
    v
}

fn default_request(key: ApiKey) -> RequestBody {
    match key {
        ApiKey::ApiVersions => m::ApiVersionsRequest::default().into(),
        ApiKey::Metadata => m::MetadataRequest::default().into(),
        ApiKey::Produce => m::ProduceRequest::default().into(),
        ApiKey::Fetch => m::FetchRequest::default().into(),
        _ => unreachable!("no seeds for {key}"),
    }
}

fn default_response(key: ApiKey) -> ResponseBody {
    match key {
        ApiKey::ApiVersions => m::ApiVersionsResponse::default().into(),
        ApiKey::Metadata => m::MetadataResponse::default().into(),
        ApiKey::Produce => m::ProduceResponse::default().into(),
        ApiKey::Fetch => m::FetchResponse::default().into(),
        _ => unreachable!("no seeds for {key}"),
    }
}

fn write(dir: &Path, name: &str, data: &[u8]) {
    fs::write(dir.join(name), data).expect("write seed");
}

fn request_frame(key: ApiKey, version: i16, body: &RequestBody) -> BytesMut {
    let header = RequestHeader::default()
        .with_request_api_key(key.id())
        .with_request_api_version(version)
        .with_correlation_id(i32::from(version) + 1)
        .with_client_id(Some("seed-client".into()));
    let mut wire = BytesMut::new();
    encode_request_frame(&header, body, &mut wire).expect("encode seed request");
    wire
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let dirs = ["request_frame", "response_frame", "split_frame"].map(|t| {
        let d = root.join(t);
        fs::create_dir_all(&d).expect("create corpus dir");
        d
    });
    let mut runner = TestRunner::deterministic();
    let mut count = 0;
    let mut small_frames: Vec<BytesMut> = Vec::new();

    for key in KEYS {
        for version in versions(key) {
            let arb_req = RequestBody::arbitrary(key, version)
                .new_tree(&mut runner)
                .expect("strategy")
                .current();
            let arb_resp = ResponseBody::arbitrary(key, version)
                .new_tree(&mut runner)
                .expect("strategy")
                .current();
            let requests = [("default", default_request(key)), ("arb", arb_req)];
            let responses = [("default", default_response(key)), ("arb", arb_resp)];

            for (kind, body) in &requests {
                let wire = request_frame(key, version, body);
                write(&dirs[0], &format!("seed-{key}-v{version}-{kind}"), &wire[4..]);
                count += 1;
                if wire.len() <= 255 {
                    small_frames.push(wire);
                }
            }
            for (kind, body) in &responses {
                let mut wire = BytesMut::new();
                encode_response_frame(7, version, body, &mut wire).expect("encode seed response");
                let mut input = response_selector(key, version).to_vec();
                input.extend_from_slice(&wire[4..]);
                write(&dirs[1], &format!("seed-{key}-v{version}-{kind}"), &input);
                count += 1;
            }
        }
    }

    for (key, version) in KAFKA_4_4 {
        for n in 0..2 {
            let req = RequestBody::arbitrary(key, version)
                .new_tree(&mut runner)
                .expect("strategy")
                .current();
            let resp = ResponseBody::arbitrary(key, version)
                .new_tree(&mut runner)
                .expect("strategy")
                .current();
            let wire = request_frame(key, version, &req);
            write(&dirs[0], &format!("seed-{key}-v{version}-arb{n}"), &wire[4..]);
            let mut wire = BytesMut::new();
            encode_response_frame(7, version, &resp, &mut wire).expect("encode seed response");
            let mut input = response_selector(key, version).to_vec();
            input.extend_from_slice(&wire[4..]);
            write(&dirs[1], &format!("seed-{key}-v{version}-arb{n}"), &input);
            count += 2;
        }
    }

    // split_frame: byte 0 is max_size, then [n, n bytes] chunks.
    let stream: Vec<u8> = small_frames.iter().take(3).flat_map(|f| f.to_vec()).collect();
    let chunked = |max: u8, chunk: usize, stream: &[u8]| {
        let mut out = vec![max];
        for c in stream.chunks(chunk) {
            out.push(c.len() as u8);
            out.extend_from_slice(c);
        }
        out
    };
    let mut hostile = BytesMut::new();
    hostile.put_i32(0); // empty frame
    hostile.put_i32(3);
    hostile.put_slice(b"abc");
    hostile.put_i32(-1); // negative size: error
    let mut too_big = BytesMut::new();
    too_big.put_i32(2);
    too_big.put_slice(b"ok");
    too_big.put_i32(300); // above max_size 255: error
    too_big.put_slice(&[0; 16]);
    let splits: [(&str, Vec<u8>); 5] = [
        ("three-frames-whole", chunked(255, 255, &stream)),
        ("three-frames-by-7", chunked(255, 7, &stream)),
        ("three-frames-by-1", chunked(255, 1, &stream[..stream.len().min(60)])),
        ("empty-then-negative", chunked(16, 5, &hostile)),
        ("too-big", chunked(255, 9, &too_big)),
    ];
    for (name, data) in &splits {
        write(&dirs[2], &format!("seed-{name}"), data);
        count += 1;
    }
    println!("wrote {count} seeds under {}", root.display());
}
