//! The mock over real TCP, driven with kafka-proto frames: ApiVersions,
//! Metadata, CreateTopics, Produce, Fetch (including a parked long poll),
//! ListOffsets, and faults.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_mock::MockCluster;
use kafka_proto::frame::decode_response_frame;
use kafka_proto::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_proto::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_proto::messages::metadata_request::MetadataRequestTopic;
use kafka_proto::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_proto::messages::*;
use kafka_proto::record::{encode, BatchOptions, Batches, Record};
use kafka_proto::{ApiKey, ErrorCode, ResponseBody};
use support::TcpClient;

fn batch(values: &[&str]) -> Bytes {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            offset: i as i64,
            timestamp: 1_700_000_000_000 + i as i64,
            key: None,
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
            ..Record::default()
        })
        .collect();
    encode(records.iter(), &BatchOptions::default()).unwrap()
}

fn produce(c: &mut TcpClient, topic: &str, partition: i32, values: &[&str]) -> (i16, i64) {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic.into())
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch(values)))])]);
    let ResponseBody::Produce(resp) = c.call(9, req) else {
        panic!()
    };
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

fn fetch_request(topic: &str, partition: i32, offset: i64, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic.into())
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])])
}

fn values_of(resp: &FetchResponse) -> Vec<String> {
    let records = resp.responses[0].partitions[0]
        .records
        .clone()
        .unwrap_or_default();
    Batches::new(records)
        .flat_map(|b| b.unwrap().records().unwrap())
        .map(|r| String::from_utf8(r.unwrap().value.unwrap().to_vec()).unwrap())
        .collect()
}

#[test]
fn produce_fetch_list_offsets_and_faults_over_tcp() {
    let cluster = MockCluster::builder().brokers(3).build().unwrap();
    assert_eq!(cluster.bootstrap().split(',').count(), 3);
    cluster.create_topic("t", 3, 3).unwrap();
    let mut c = TcpClient::connect(cluster.brokers()[0].1);

    let ResponseBody::ApiVersions(v) = c.call(3, ApiVersionsRequest::default()) else {
        panic!()
    };
    assert_eq!(v.error_code, 0);
    let produce_versions = v
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::Produce.id())
        .unwrap();
    assert_eq!(produce_versions.min_version, 3);

    let ResponseBody::Metadata(md) = c.call(
        12,
        MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some("t".into()))
        ])),
    ) else {
        panic!()
    };
    assert_eq!(md.brokers.len(), 3);
    let leader = md.topics[0].partitions[0].leader_id;
    let leader_addr = cluster
        .brokers()
        .iter()
        .find(|(id, _)| *id == leader)
        .unwrap()
        .1;
    let follower = (leader + 1) % 3;
    let follower_addr = cluster
        .brokers()
        .iter()
        .find(|(id, _)| *id == follower)
        .unwrap()
        .1;

    // Produce to a follower: NOT_LEADER_OR_FOLLOWER.
    let mut f = TcpClient::connect(follower_addr);
    assert_eq!(
        produce(&mut f, "t", 0, &["x"]).0,
        ErrorCode::NotLeaderOrFollower.code()
    );

    let mut l = TcpClient::connect(leader_addr);
    assert_eq!(produce(&mut l, "t", 0, &["a", "b"]), (0, 0));
    assert_eq!(produce(&mut l, "t", 0, &["c"]), (0, 2));
    let ResponseBody::Fetch(resp) = l.call(12, fetch_request("t", 0, 0, 0)) else {
        panic!()
    };
    assert_eq!(resp.responses[0].partitions[0].high_watermark, 3);
    assert_eq!(values_of(&resp), ["a", "b", "c"]);

    // A long poll at the end of the log waits for max_wait_ms.
    let start = Instant::now();
    let ResponseBody::Fetch(resp) = l.call(12, fetch_request("t", 0, 3, 300)) else {
        panic!()
    };
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );
    assert!(values_of(&resp).is_empty());

    // Out of range.
    let ResponseBody::Fetch(resp) = l.call(12, fetch_request("t", 0, 99, 0)) else {
        panic!()
    };
    assert_eq!(
        resp.responses[0].partitions[0].error_code,
        ErrorCode::OffsetOutOfRange.code()
    );

    // ListOffsets earliest and latest.
    let lo = |ts: i64| {
        ListOffsetsRequest::default()
            .with_replica_id(-1)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name("t".into())
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(ts)])])
    };
    let ResponseBody::ListOffsets(r) = l.call(7, lo(-2)) else {
        panic!()
    };
    assert_eq!(r.topics[0].partitions[0].offset, 0);
    let ResponseBody::ListOffsets(r) = l.call(7, lo(-1)) else {
        panic!()
    };
    assert_eq!(r.topics[0].partitions[0].offset, 3);
    // By timestamp: the first record at or after it, inside its batch
    // (offsets 0..=2 carry T, T+1, T).
    let t = 1_700_000_000_000;
    let ResponseBody::ListOffsets(r) = l.call(7, lo(t + 1)) else {
        panic!()
    };
    let p = &r.topics[0].partitions[0];
    assert_eq!((p.offset, p.timestamp), (1, t + 1));
    let ResponseBody::ListOffsets(r) = l.call(7, lo(t + 2)) else {
        panic!()
    };
    assert_eq!(r.topics[0].partitions[0].offset, -1);
    // Max timestamp (-3): the first record carrying it.
    let ResponseBody::ListOffsets(r) = l.call(7, lo(-3)) else {
        panic!()
    };
    let p = &r.topics[0].partitions[0];
    assert_eq!((p.offset, p.timestamp), (1, t + 1));

    // Injected errors hit the next request only.
    cluster.inject_error(ApiKey::Produce, ErrorCode::NotEnoughReplicas, 1);
    assert_eq!(
        produce(&mut l, "t", 0, &["d"]).0,
        ErrorCode::NotEnoughReplicas.code()
    );
    assert_eq!(produce(&mut l, "t", 0, &["d"]), (0, 3));
    assert_eq!(cluster.partition_offsets("t", 0).unwrap(), (0, 4));

    // Moving the leader makes the old leader refuse.
    cluster.move_leader("t", 0, follower).unwrap();
    assert_eq!(
        produce(&mut l, "t", 0, &["e"]).0,
        ErrorCode::NotLeaderOrFollower.code()
    );
    assert_eq!(produce(&mut f, "t", 0, &["e"]), (0, 4));
}

#[test]
fn garbage_closes_only_that_connection() {
    let cluster = MockCluster::builder().build().unwrap();
    let addr = cluster.brokers()[0].1;
    let mut bad = TcpStream::connect(addr).unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // A frame with an unknown API key.
    bad.write_all(&[0, 0, 0, 8, 0x7f, 0x7f, 0, 0, 0, 0, 0, 1])
        .unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        bad.read(&mut buf).unwrap_or(0),
        0,
        "connection must be closed"
    );
    // A hostile size prefix.
    let mut huge = TcpStream::connect(addr).unwrap();
    huge.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    huge.write_all(&[0x7f, 0xff, 0xff, 0xff]).unwrap();
    assert_eq!(huge.read(&mut buf).unwrap_or(0), 0);
    // Others still work.
    let mut good = TcpClient::connect(addr);
    let ResponseBody::ApiVersions(v) = good.call(0, ApiVersionsRequest::default()) else {
        panic!()
    };
    assert_eq!(v.error_code, 0);
}

/// Kafka ignores bytes after a request body, and librdkafka 2.x depends on
/// it: its all-topics Metadata v13 request (captured verbatim here) ends
/// with 3 stray bytes after the body's tagged fields.
#[test]
fn trailing_bytes_after_a_request_body_are_ignored() {
    let cluster = MockCluster::builder().build().unwrap();
    cluster.create_topic("t", 1, 1).unwrap();
    let mut c = TcpClient::connect(cluster.brokers()[0].1);
    let frame: &[u8] = &[
        0x00, 0x03, 0x00, 0x0d, 0x00, 0x00, 0x00, 0x03, 0x00, 0x07, b'r', b'd', b'k', b'a', b'f',
        b'k', b'a', 0x00, // header v2: Metadata v13, correlation 3, "rdkafka", no tags
        0x00, 0x00, 0x00, 0x00, // topics null (all), no auto-create, no authz ops, no tags
        0x01, 0x00, 0x00, // stray bytes
    ];
    let mut buf = (frame.len() as i32).to_be_bytes().to_vec();
    buf.extend_from_slice(frame);
    c.stream.write_all(&buf).unwrap();
    let mut size = [0u8; 4];
    c.stream.read_exact(&mut size).unwrap();
    let mut resp = vec![0u8; i32::from_be_bytes(size) as usize];
    c.stream.read_exact(&mut resp).unwrap();
    let (h, body) = decode_response_frame(Bytes::from(resp), ApiKey::Metadata, 13).unwrap();
    assert_eq!(h.correlation_id, 3);
    let ResponseBody::Metadata(md) = body else {
        panic!()
    };
    let names: Vec<_> = md.topics.iter().map(|t| t.name.clone()).collect();
    assert_eq!(names, [Some("t".to_string())]);
}

/// Kafka sends nothing back for an acks=0 produce; with
/// `set_answer_acks_zero` the mock answers it, as Tansu does, so clients
/// can be tested against that.
#[test]
fn acks_zero_produce_is_answered_only_when_asked() {
    let mock = MockCluster::builder().topic("t", 1, 1).build().unwrap();
    let req = |acks: i16| {
        ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(1000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name("t".into())
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch(&["v"])))])])
    };
    let mut c = TcpClient::connect(mock.brokers()[0].1);
    // Unanswered, then an acks=1 request: its answer is the next frame.
    c.send_only(9, req(0));
    let ResponseBody::Produce(r) = c.call(9, req(1)) else {
        panic!()
    };
    assert_eq!(r.responses[0].partition_responses[0].base_offset, 1);
    mock.set_answer_acks_zero(true);
    let ResponseBody::Produce(r) = c.call(9, req(0)) else {
        panic!()
    };
    assert_eq!(r.responses[0].partition_responses[0].base_offset, 2);
}
