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

/// A transactional producer set up on a one-broker mock: topic "t" and
/// the producer id and epoch after two initialisations (epoch 1), with
/// "t"-0 in its transaction.
fn txn_producer(c: &mut TcpClient) -> (i64, i16) {
    use kafka_proto::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
    let init = InitProducerIdRequest::default()
        .with_transactional_id(Some("tx".into()))
        .with_transaction_timeout_ms(60_000);
    let mut last = (-1, -1);
    for _ in 0..2 {
        let ResponseBody::InitProducerId(r) = c.call(5, init.clone()) else {
            panic!()
        };
        assert_eq!(r.error_code, 0);
        last = (r.producer_id, r.producer_epoch);
    }
    let add = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id("tx".into())
        .with_v3_and_below_producer_id(last.0)
        .with_v3_and_below_producer_epoch(last.1)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name("t".into())
            .with_partitions(vec![0])]);
    let ResponseBody::AddPartitionsToTxn(r) = c.call(3, add) else {
        panic!()
    };
    assert_eq!(
        r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code,
        0
    );
    last
}

fn txn_produce(c: &mut TcpClient, version: i16, pid: i64, epoch: i16, seq: i32) -> i16 {
    let mut b = RecordBatchBuilder::new(BatchOptions {
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        transactional: true,
        ..BatchOptions::default()
    });
    b.append(now_ms(), None, Some(b"v")).unwrap();
    let req = ProduceRequest::default()
        .with_transactional_id(Some("tx".into()))
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name("t".into())
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(b.finish().unwrap()))])]);
    let ResponseBody::Produce(r) = c.call(version, req) else {
        panic!()
    };
    r.responses[0].partition_responses[0].error_code
}

fn txn_offset_commit(
    c: &mut TcpClient,
    version: i16,
    group: &str,
    (pid, epoch): (i64, i16),
    (member, generation): (&str, i32),
) -> i16 {
    use kafka_proto::messages::txn_offset_commit_request::{
        TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
    };
    let req = TxnOffsetCommitRequest::default()
        .with_transactional_id("tx".into())
        .with_group_id(group.into())
        .with_producer_id(pid)
        .with_producer_epoch(epoch)
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(member.into())
        .with_topics(vec![TxnOffsetCommitRequestTopic::default()
            .with_name("t".into())
            .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(1)])]);
    let ResponseBody::TxnOffsetCommit(r) = c.call(version, req) else {
        panic!()
    };
    r.topics[0].partitions[0].error_code
}

/// A stale epoch in a transactional write (Produce, TxnOffsetCommit) is
/// reported as Kafka's broker-side verification reports it,
/// INVALID_PRODUCER_EPOCH, while the coordinator's own APIs keep
/// PRODUCER_FENCED.
#[test]
fn stale_epoch_in_transactional_writes_is_invalid_producer_epoch() {
    let mock = MockCluster::builder().topic("t", 1, 1).build().unwrap();
    let mut c = TcpClient::connect(mock.brokers()[0].1);
    let (pid, epoch) = txn_producer(&mut c);
    assert_eq!(txn_produce(&mut c, 12, pid, epoch, 0), 0);
    for version in [3, 9, 12] {
        assert_eq!(
            txn_produce(&mut c, version, pid, epoch - 1, 0),
            ErrorCode::InvalidProducerEpoch.code(),
            "Produce v{version}"
        );
    }
    for version in [3, 5] {
        assert_eq!(
            txn_offset_commit(&mut c, version, "g", (pid, epoch - 1), ("", -1)),
            ErrorCode::InvalidProducerEpoch.code(),
            "TxnOffsetCommit v{version}"
        );
    }
    let add_offsets = |epoch: i16| {
        AddOffsetsToTxnRequest::default()
            .with_transactional_id("tx".into())
            .with_producer_id(pid)
            .with_producer_epoch(epoch)
            .with_group_id("g".into())
    };
    let ResponseBody::AddOffsetsToTxn(r) = c.call(4, add_offsets(epoch - 1)) else {
        panic!()
    };
    assert_eq!(r.error_code, ErrorCode::ProducerFenced.code());
}

/// TxnOffsetCommit naming a member and generation of a group that does not
/// exist: ILLEGAL_GENERATION, as for a plain OffsetCommit below v9. Without
/// a generation the producer commits as a simple (group-less) consumer.
#[test]
fn txn_offset_commit_as_a_member_of_a_missing_group() {
    let mock = MockCluster::builder().topic("t", 1, 1).build().unwrap();
    let mut c = TcpClient::connect(mock.brokers()[0].1);
    let producer = txn_producer(&mut c);
    for version in [3, 5] {
        assert_eq!(
            txn_offset_commit(&mut c, version, "nogroup", producer, ("member-1", 5)),
            ErrorCode::IllegalGeneration.code(),
            "TxnOffsetCommit v{version}"
        );
    }
    assert_eq!(
        txn_offset_commit(&mut c, 5, "nogroup", producer, ("", -1)),
        0
    );
}

fn idempotent_produce(
    c: &mut TcpClient,
    pid: i64,
    seq: i32,
    timestamps: &[i64],
) -> produce_response::PartitionProduceResponse {
    let mut b = RecordBatchBuilder::new(BatchOptions {
        producer_id: pid,
        producer_epoch: 0,
        base_sequence: seq,
        ..BatchOptions::default()
    });
    for &ts in timestamps {
        b.append(ts, None, Some(b"v")).unwrap();
    }
    produce(c, b.finish().unwrap())
}

/// A retried idempotent batch is answered with its first offset and, as
/// the append time, the batch's own (create time) timestamp, which is what
/// Kafka's producer state remembers; batches the log's producer state
/// refuses carry the log start offset, those refused before the log do not.
#[test]
fn produce_answers_from_the_producer_state_carry_what_kafka_sends() {
    let mock = MockCluster::builder().topic("t", 1, 1).build().unwrap();
    let mut c = TcpClient::connect(mock.brokers()[0].1);
    let ResponseBody::InitProducerId(r) = c.call(
        5,
        InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000),
    ) else {
        panic!()
    };
    let pid = r.producer_id;
    let now = now_ms();
    let first = idempotent_produce(&mut c, pid, 0, &[now, now + 7]);
    assert_eq!((first.error_code, first.base_offset), (0, 0));
    assert_eq!(first.log_append_time_ms, -1);
    let retry = idempotent_produce(&mut c, pid, 0, &[now, now + 7]);
    assert_eq!(
        (
            retry.error_code,
            retry.base_offset,
            retry.log_append_time_ms
        ),
        (0, 0, now + 7)
    );
    let gap = idempotent_produce(&mut c, pid, 5, &[now]);
    assert_eq!(
        (gap.error_code, gap.base_offset, gap.log_start_offset),
        (ErrorCode::OutOfOrderSequenceNumber.code(), -1, 0)
    );
    // Refused before the log: no log start offset.
    let corrupt = produce(&mut c, Bytes::from_static(b"not a batch"));
    assert_eq!(corrupt.error_code, ErrorCode::CorruptMessage.code());
    assert_eq!(corrupt.log_start_offset, -1);
}

/// The transactional producer's own plain batch into its open transaction
/// is refused by the log (with the log start offset); a stale epoch is
/// refused by the coordinator's verification (without).
#[test]
fn transactional_produce_refusals_carry_what_kafka_sends() {
    let mock = MockCluster::builder().topic("t", 1, 1).build().unwrap();
    let mut c = TcpClient::connect(mock.brokers()[0].1);
    let (pid, epoch) = txn_producer(&mut c);
    assert_eq!(txn_produce(&mut c, 12, pid, epoch, 0), 0);
    let mut b = RecordBatchBuilder::new(BatchOptions {
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: 1,
        ..BatchOptions::default()
    });
    b.append(now_ms(), None, Some(b"plain")).unwrap();
    let plain = produce(&mut c, b.finish().unwrap());
    assert_eq!(
        (plain.error_code, plain.log_start_offset),
        (ErrorCode::InvalidTxnState.code(), 0)
    );
    let mut b = RecordBatchBuilder::new(BatchOptions {
        producer_id: pid,
        producer_epoch: epoch - 1,
        base_sequence: 0,
        transactional: true,
        ..BatchOptions::default()
    });
    b.append(now_ms(), None, Some(b"stale")).unwrap();
    let req = ProduceRequest::default()
        .with_transactional_id(Some("tx".into()))
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name("t".into())
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(b.finish().unwrap()))])]);
    let ResponseBody::Produce(r) = c.call(12, req) else {
        panic!()
    };
    let stale = &r.responses[0].partition_responses[0];
    assert_eq!(
        (stale.error_code, stale.log_start_offset),
        (ErrorCode::InvalidProducerEpoch.code(), -1)
    );
}

/// AddOffsetsToTxn takes an empty group id (Kafka's coordinator only adds
/// that group's offsets partition); the TxnOffsetCommit that follows is
/// the one refused, with INVALID_GROUP_ID.
#[test]
fn add_offsets_to_txn_takes_an_empty_group_id() {
    let mock = MockCluster::builder().topic("t", 1, 1).build().unwrap();
    let mut c = TcpClient::connect(mock.brokers()[0].1);
    let (pid, epoch) = txn_producer(&mut c);
    for version in [0, 4] {
        let req = AddOffsetsToTxnRequest::default()
            .with_transactional_id("tx".into())
            .with_producer_id(pid)
            .with_producer_epoch(epoch)
            .with_group_id(String::new());
        let ResponseBody::AddOffsetsToTxn(r) = c.call(version, req) else {
            panic!()
        };
        assert_eq!(r.error_code, 0, "AddOffsetsToTxn v{version}");
    }
    assert_eq!(
        txn_offset_commit(&mut c, 5, "", (pid, epoch), ("", -1)),
        ErrorCode::InvalidGroupId.code()
    );
}
