//! Answers the differential test (tests/differential.rs) found differing
//! from Apache Kafka 4.4 and that the mock now gives as Kafka does, checked
//! without a broker so they hold on machines where Kafka is not installed.

mod support;

use bytes::Bytes;
use kafka_mock::MockCluster;
use kafka_proto::messages::create_topics_request::CreatableTopic;
use kafka_proto::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_proto::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_proto::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_proto::messages::*;
use kafka_proto::record::{BatchOptions, RecordBatchBuilder};
use kafka_proto::{ErrorCode, ResponseBody};
use support::TcpClient;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn batch(timestamps: &[i64]) -> Bytes {
    let mut b = RecordBatchBuilder::new(BatchOptions::default());
    for &ts in timestamps {
        b.append(ts, None, Some(b"v")).unwrap();
    }
    b.finish().unwrap()
}

fn produce(c: &mut TcpClient, records: Bytes) -> produce_response::PartitionProduceResponse {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name("t".into())
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])]);
    let ResponseBody::Produce(r) = c.call(12, req) else {
        panic!()
    };
    r.responses[0].partition_responses[0].clone()
}

fn create(
    c: &mut TcpClient,
    topics: Vec<CreatableTopic>,
    validate_only: bool,
) -> CreateTopicsResponse {
    let req = CreateTopicsRequest::default()
        .with_topics(topics)
        .with_timeout_ms(1000)
        .with_validate_only(validate_only);
    let ResponseBody::CreateTopics(r) = c.call(7, req) else {
        panic!()
    };
    r
}

fn topic(name: &str, partitions: i32, rf: i16) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(name.into())
        .with_num_partitions(partitions)
        .with_replication_factor(rf)
}

#[test]
fn create_topics_answers_like_kafka() {
    let mock = MockCluster::builder().build().unwrap();
    let mut c = TcpClient::connect(mock.brokers()[0].1);

    // Success: no message (Kafka sends null) and every config of the topic.
    let r = create(&mut c, vec![topic("a", 2, 1)], false);
    let t = &r.topics[0];
    assert_eq!((t.error_code, t.error_message.as_deref()), (0, None));
    let configs = t.configs.as_ref().unwrap();
    assert!(configs.iter().any(|c| c.name == "compression.zstd.level"));
    let after = configs
        .iter()
        .find(|c| c.name == "message.timestamp.after.max.ms")
        .unwrap();
    assert_eq!(after.value.as_deref(), Some("3600000"));

    // A name twice: one INVALID_REQUEST answer, nothing created.
    let r = create(
        &mut c,
        vec![topic("twice", 1, 1), topic("twice", 1, 1)],
        false,
    );
    assert_eq!(r.topics.len(), 1);
    assert_eq!(r.topics[0].error_code, ErrorCode::InvalidRequest.code());
    assert!(!mock
        .with(|c| c.topic_names())
        .unwrap()
        .contains(&"twice".to_string()));

    // Validate only: checked and described like a creation, not created.
    let r = create(&mut c, vec![topic("dry", 3, 1)], true);
    let t = &r.topics[0];
    assert_eq!(
        (t.error_code, t.num_partitions, t.replication_factor),
        (0, 3, 1)
    );
    assert!(!t.topic_id.is_zero());
    let r = create(&mut c, vec![topic("dry", 3, 9)], true);
    assert_eq!(
        r.topics[0].error_code,
        ErrorCode::InvalidReplicationFactor.code()
    );
    assert!(!mock
        .with(|c| c.topic_names())
        .unwrap()
        .contains(&"dry".to_string()));

    // Far more partitions than the controller writes for one request.
    let r = create(&mut c, vec![topic("huge", 100_000, 1)], false);
    assert_eq!(r.topics[0].error_code, ErrorCode::PolicyViolation.code());
    assert!(!mock
        .with(|c| c.topic_names())
        .unwrap()
        .contains(&"huge".to_string()));
}

/// A topic id decides a Metadata lookup, whatever the name says.
#[test]
fn metadata_by_topic_id() {
    use kafka_proto::messages::metadata_request::MetadataRequestTopic;
    let mock = MockCluster::builder().topic("t", 2, 1).build().unwrap();
    let mut c = TcpClient::connect(mock.brokers()[0].1);
    let ResponseBody::Metadata(md) = c.call(
        12,
        MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some("t".into()))
        ])),
    ) else {
        panic!()
    };
    let id = md.topics[0].topic_id;
    // Some clients send an empty name next to the id.
    let ResponseBody::Metadata(md) = c.call(
        12,
        MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default()
            .with_name(Some(String::new()))
            .with_topic_id(id)])),
    ) else {
        panic!()
    };
    let t = &md.topics[0];
    assert_eq!((t.error_code, t.name.as_deref()), (0, Some("t")));
    assert_eq!(t.partitions.len(), 2);
}

#[test]
fn produce_refuses_timestamps_far_ahead() {
    let mock = MockCluster::builder().topic("t", 1, 1).build().unwrap();
    let mut c = TcpClient::connect(mock.brokers()[0].1);
    let now = now_ms();
    let p = produce(&mut c, batch(&[now, now + 2 * 3_600_000]));
    assert_eq!(p.error_code, ErrorCode::InvalidTimestamp.code());
    assert_eq!(p.base_offset, -1);
    let indexes: Vec<i32> = p.record_errors.iter().map(|e| e.batch_index).collect();
    assert_eq!(indexes, [1]);
    // Old timestamps are fine (message.timestamp.before.max.ms is unbounded).
    assert_eq!(produce(&mut c, batch(&[1_600_000_000_000])).error_code, 0);

    // Turned off, the same batch is taken.
    let lax = MockCluster::builder()
        .topic("t", 1, 1)
        .check_timestamps(false)
        .build()
        .unwrap();
    let mut c = TcpClient::connect(lax.brokers()[0].1);
    assert_eq!(produce(&mut c, batch(&[now + 2 * 3_600_000])).error_code, 0);
}

#[test]
fn fetch_and_list_offsets_errors_carry_what_kafka_sends() {
    let mock = MockCluster::builder().topic("t", 1, 1).build().unwrap();
    let mut c = TcpClient::connect(mock.brokers()[0].1);
    assert_eq!(produce(&mut c, batch(&[now_ms()])).error_code, 0);

    // Out of range: no offsets and a null aborted list.
    let req = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic("t".into())
            .with_partitions(vec![FetchPartition::default()
                .with_fetch_offset(99)
                .with_partition_max_bytes(1 << 20)])]);
    let ResponseBody::Fetch(r) = c.call(12, req) else {
        panic!()
    };
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, ErrorCode::OffsetOutOfRange.code());
    assert_eq!(
        (p.high_watermark, p.last_stable_offset, p.log_start_offset),
        (-1, -1, -1)
    );
    assert_eq!(p.aborted_transactions, None);

    let list = |ts: i64| {
        ListOffsetsRequest::default()
            .with_replica_id(-1)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name("t".into())
                .with_partitions(vec![
                    ListOffsetsPartition::default().with_timestamp(ts)
                ])])
    };
    // Below v4 there is no leader epoch to send; this used to close the
    // connection because the response did not encode.
    let ResponseBody::ListOffsets(r) = c.call(1, list(-1)) else {
        panic!()
    };
    assert_eq!(r.topics[0].partitions[0].offset, 1);
    // Nothing found: no epoch either.
    let ResponseBody::ListOffsets(r) = c.call(9, list(now_ms() + 60_000)) else {
        panic!()
    };
    let p = &r.topics[0].partitions[0];
    assert_eq!((p.offset, p.leader_epoch), (-1, -1));
    // Earliest pending upload: nothing without tiered storage.
    let ResponseBody::ListOffsets(r) = c.call(9, list(-5)) else {
        panic!()
    };
    assert_eq!(r.topics[0].partitions[0].offset, -1);
    // A leader epoch the partition has not reached.
    let mut req = list(-1);
    req.topics[0].partitions[0].current_leader_epoch = 5;
    let ResponseBody::ListOffsets(r) = c.call(9, req) else {
        panic!()
    };
    let p = &r.topics[0].partitions[0];
    assert_eq!(
        (p.error_code, p.offset),
        (ErrorCode::UnknownLeaderEpoch.code(), -1)
    );
    // An unknown special timestamp.
    let ResponseBody::ListOffsets(r) = c.call(9, list(-7)) else {
        panic!()
    };
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ErrorCode::UnsupportedVersion.code()
    );
}
