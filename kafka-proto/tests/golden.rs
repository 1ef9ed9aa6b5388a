//! Golden byte vectors, written out by hand field by field from Kafka's
//! message schemas (Kafka 4.3's and 4.4's `*.json` message definitions), so
//! that a reader sees the wire format. Each test checks both directions: ours
//! encodes the value to exactly these bytes, and decodes these bytes to
//! exactly the value. Where kafka-protocol has the message, it must read
//! and rewrite the same bytes too.
//!
//! Notation used in the comments:
//! - `uvarint(n)`: unsigned varint; compact strings, bytes and arrays store
//!   `len + 1` (`0` is null), tagged-field counts, tags and sizes store `n`.
//! - non-flexible strings are an int16 length then UTF-8, null is `-1`.

use bytes::{Bytes, BytesMut};
use kafka_proto::frame::{
    decode_request_frame, decode_response_frame, encode_request_frame, encode_response_frame,
};
use kafka_proto::messages::api_versions_response::{ApiVersion, SupportedFeatureKey};
use kafka_proto::messages::metadata_request::MetadataRequestTopic;
use kafka_proto::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_proto::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_proto::messages::*;
use kafka_proto::{ApiKey, Message, RequestBody, ResponseBody, Uuid};

/// Ours encodes `value` in `version` to `expected`, and decodes `expected`
/// back to `value` using every byte.
fn check_body<T: Message + PartialEq + std::fmt::Debug>(value: &T, version: i16, expected: &[u8]) {
    let mut buf = BytesMut::new();
    value.encode(&mut buf, version).expect("encode");
    assert_eq!(
        &buf[..],
        expected,
        "{} v{version} encoding\n ours:     {:02x?}\n expected: {:02x?}",
        T::NAME,
        &buf[..],
        expected
    );
    let mut input = Bytes::copy_from_slice(expected);
    let decoded = T::decode(&mut input, version).expect("decode");
    assert!(input.is_empty(), "{} bytes left", input.len());
    assert_eq!(&decoded, value);
}

/// kafka-protocol (an independent implementation) reads `expected` in
/// `version` using every byte and writes it back unchanged.
fn theirs_agree<T>(version: i16, expected: &[u8])
where
    T: kafka_protocol::protocol::Decodable + kafka_protocol::protocol::Encodable,
{
    let mut input = Bytes::copy_from_slice(expected);
    let value = T::decode(&mut input, version).expect("kafka-protocol decode");
    assert!(
        input.is_empty(),
        "kafka-protocol left {} bytes",
        input.len()
    );
    let mut out = BytesMut::new();
    value
        .encode(&mut out, version)
        .expect("kafka-protocol encode");
    assert_eq!(&out[..], expected, "kafka-protocol re-encoding");
}

/// Ours frames `header` + `body` to exactly `expected` (size prefix
/// included), and decodes the frame back to both.
fn check_request_frame(header: &RequestHeader, body: RequestBody, expected: &[u8]) {
    let mut buf = BytesMut::new();
    encode_request_frame(header, &body, &mut buf).expect("encode frame");
    assert_eq!(
        &buf[..],
        expected,
        "request frame\n ours:     {:02x?}\n expected: {:02x?}",
        &buf[..],
        expected
    );
    let (h, b) = decode_request_frame(Bytes::copy_from_slice(&expected[4..])).expect("decode");
    assert_eq!(&h, header);
    assert_eq!(b, body);
}

#[test]
fn api_versions_request_v0_frame() {
    // ApiVersions v0 is not flexible: request header v1, and the body has no
    // fields at all.
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0x00, 0x00, 0x00, 0x0d,  // frame size: 13 bytes follow
        // RequestHeader v1
        0x00, 0x12,              // RequestApiKey: 18 (ApiVersions)
        0x00, 0x00,              // RequestApiVersion: 0
        0x00, 0x00, 0x00, 0x01,  // CorrelationId: 1
        0x00, 0x03, b'c', b'l', b'i', // ClientId: int16 length 3, "cli"
        // ApiVersionsRequest v0: empty
    ];
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::ApiVersions.id())
        .with_request_api_version(0)
        .with_correlation_id(1)
        .with_client_id(Some("cli".into()));
    assert_eq!(ApiKey::ApiVersions.request_header_version(0), 1);
    check_request_frame(&header, ApiVersionsRequest::default().into(), expected);
}

#[test]
fn api_versions_request_v3_frame() {
    // ApiVersions v3 is flexible ("flexibleVersions": "3+"): request header
    // v2, compact strings and a tagged-field section in the body.
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0x00, 0x00, 0x00, 0x1c,  // frame size: 28 bytes follow
        // RequestHeader v2
        0x00, 0x12,              // RequestApiKey: 18 (ApiVersions)
        0x00, 0x03,              // RequestApiVersion: 3
        0x00, 0x00, 0x00, 0x07,  // CorrelationId: 7
        // ClientId: RequestHeader.json gives ClientId "flexibleVersions":
        // "none", so it stays an int16-length string even in header v2.
        0x00, 0x03, b'c', b'l', b'i',
        0x00,                    // header tagged fields: none
        // ApiVersionsRequest v3
        0x09, b'k', b'a', b'f', b'k', b'a', b'-', b'r', b's', // ClientSoftwareName: uvarint(8+1), "kafka-rs"
        0x04, b'0', b'.', b'1',  // ClientSoftwareVersion: uvarint(3+1), "0.1"
        0x00,                    // tagged fields: none
    ];
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::ApiVersions.id())
        .with_request_api_version(3)
        .with_correlation_id(7)
        .with_client_id(Some("cli".into()));
    let body = ApiVersionsRequest::default()
        .with_client_software_name("kafka-rs".into())
        .with_client_software_version("0.1".into());
    assert_eq!(ApiKey::ApiVersions.request_header_version(3), 2);
    check_request_frame(&header, body.into(), expected);
}

#[test]
fn api_versions_request_v5_frame() {
    // ApiVersions v5 (Kafka 4.4, KIP-1242) adds ClusterId and NodeId, with
    // which a client names the broker it means to reach. A new connection
    // sends our highest version, so this is the first frame a 4.4 broker
    // sees from us: both unknown, null and -1.
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0x00, 0x00, 0x00, 0x21,  // frame size: 33 bytes follow
        // RequestHeader v2
        0x00, 0x12,              // RequestApiKey: 18 (ApiVersions)
        0x00, 0x05,              // RequestApiVersion: 5
        0x00, 0x00, 0x00, 0x07,  // CorrelationId: 7
        0x00, 0x03, b'c', b'l', b'i', // ClientId: int16 length 3, "cli"
        0x00,                    // header tagged fields: none
        // ApiVersionsRequest v5
        0x09, b'k', b'a', b'f', b'k', b'a', b'-', b'r', b's', // ClientSoftwareName: uvarint(8+1), "kafka-rs"
        0x04, b'0', b'.', b'1',  // ClientSoftwareVersion: uvarint(3+1), "0.1"
        0x00,                    // ClusterId: compact nullable string, uvarint(0) = null
        0xff, 0xff, 0xff, 0xff,  // NodeId: int32 -1
        0x00,                    // tagged fields: none
    ];
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::ApiVersions.id())
        .with_request_api_version(5)
        .with_correlation_id(7)
        .with_client_id(Some("cli".into()));
    let body = ApiVersionsRequest::default()
        .with_client_software_name("kafka-rs".into())
        .with_client_software_version("0.1".into());
    assert_eq!((body.cluster_id.as_deref(), body.node_id), (None, -1));
    check_request_frame(&header, body.into(), expected);
}

#[test]
fn api_versions_request_v5_with_cluster_and_node_and_v4_drops_them() {
    #[rustfmt::skip]
    let v5: &[u8] = &[
        0x01,                    // ClientSoftwareName: uvarint(0+1), ""
        0x01,                    // ClientSoftwareVersion: uvarint(0+1), ""
        0x04, b'a', b'b', b'c',  // ClusterId: uvarint(3+1), "abc"
        0x00, 0x00, 0x00, 0x02,  // NodeId: 2
        0x00,                    // tagged fields: none
    ];
    let body = ApiVersionsRequest::default()
        .with_cluster_id(Some("abc".into()))
        .with_node_id(2);
    check_body(&body, 5, v5);
    // Both fields are "ignorable": a broker that only speaks v4 gets a v4
    // request without them rather than an encoding error.
    let mut v4 = BytesMut::new();
    body.encode(&mut v4, 4)
        .expect("v4 drops the ignorable fields");
    assert_eq!(&v4[..], &[0x01, 0x01, 0x00]);
}

#[test]
fn txn_offset_commit_request_v6_names_topics_by_id() {
    // TxnOffsetCommit v6 (Kafka 4.4, KIP-1319) replaces the topic name with
    // its id ("Name" has "versions": "0-5", "TopicId" "6+"), and the group
    // field is now GenerationIdOrMemberEpoch.
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0x03, b't', b'x',        // TransactionalId: uvarint(2+1), "tx"
        0x02, b'g',              // GroupId: uvarint(1+1), "g"
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, // ProducerId: 1000
        0x00, 0x02,              // ProducerEpoch: 2
        0x00, 0x00, 0x00, 0x05,  // GenerationIdOrMemberEpoch: 5
        0x02, b'm',              // MemberId: uvarint(1+1), "m"
        0x00,                    // GroupInstanceId: null
        0x02,                    // Topics: compact array, uvarint(1+1)
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
        0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, //   TopicId (no Name in v6)
        0x02,                    //   Partitions: compact array, uvarint(1+1)
        0x00, 0x00, 0x00, 0x03,  //     PartitionIndex: 3
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, // CommittedOffset: 42
        0xff, 0xff, 0xff, 0xff,  //     CommittedLeaderEpoch: -1
        0x00,                    //     CommittedMetadata: null
        0x00,                    //     tagged fields: none
        0x00,                    //   tagged fields: none
        0x00,                    // tagged fields: none
    ];
    use kafka_proto::messages::txn_offset_commit_request::{
        TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
    };
    let id = Uuid([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    let body = TxnOffsetCommitRequest::default()
        .with_transactional_id("tx".into())
        .with_group_id("g".into())
        .with_producer_id(1000)
        .with_producer_epoch(2)
        .with_generation_id_or_member_epoch(5)
        .with_member_id("m".into())
        .with_topics(vec![TxnOffsetCommitRequestTopic::default()
            .with_topic_id(id)
            .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                .with_partition_index(3)
                .with_committed_offset(42)
                // The schema gives no default, so Kafka's (and ours) is "".
                .with_committed_metadata(None)])]);
    check_body(&body, 6, expected);
    // The same value in v5 writes the (empty) name where v6 has the id, and
    // drops the id: both are "ignorable", so neither direction is an error.
    let mut v5 = BytesMut::new();
    body.encode(&mut v5, 5).expect("v5");
    assert_eq!(v5.len(), expected.len() - 16 + 1, "uuid out, empty name in");
}

#[test]
fn api_versions_response_v3_frame_with_header_v0_and_tagged_fields() {
    // ApiVersionsResponse v3 is flexible, but its response header is always
    // v0 (no tagged-field byte after the correlation id), so that a client
    // can parse the error of a version the broker does not support.
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0x00, 0x00, 0x00, 0x28,  // frame size: 40 bytes follow
        // ResponseHeader v0
        0x00, 0x00, 0x00, 0x07,  // CorrelationId: 7 (and no tagged fields)
        // ApiVersionsResponse v3
        0x00, 0x00,              // ErrorCode: 0
        0x02,                    // ApiKeys: compact array, uvarint(1+1)
        0x00, 0x12,              //   ApiKey: 18
        0x00, 0x00,              //   MinVersion: 0
        0x00, 0x04,              //   MaxVersion: 4
        0x00,                    //   tagged fields: none
        0x00, 0x00, 0x00, 0x00,  // ThrottleTimeMs: 0
        0x02,                    // tagged fields: 2, in ascending tag order
        0x00,                    //   tag 0: SupportedFeatures
        0x09,                    //   size: 9 bytes
        0x02,                    //     compact array, uvarint(1+1)
        0x03, b'm', b'v',        //       Name: uvarint(2+1), "mv"
        0x00, 0x01,              //       MinVersion: 1
        0x00, 0x14,              //       MaxVersion: 20
        0x00,                    //       tagged fields: none
        0x01,                    //   tag 1: FinalizedFeaturesEpoch
        0x08,                    //   size: 8 bytes
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, // int64: 5
        // FinalizedFeatures (tag 2, empty) and ZkMigrationReady (tag 3,
        // false) hold their defaults and are not written.
    ];
    let body = ApiVersionsResponse::default()
        .with_api_keys(vec![ApiVersion::default()
            .with_api_key(18)
            .with_min_version(0)
            .with_max_version(4)])
        .with_supported_features(vec![SupportedFeatureKey::default()
            .with_name("mv".into())
            .with_min_version(1)
            .with_max_version(20)])
        .with_finalized_features_epoch(5);
    assert_eq!(ApiKey::ApiVersions.response_header_version(3), 0);

    let body = ResponseBody::from(body);
    let mut buf = BytesMut::new();
    encode_response_frame(7, 3, &body, &mut buf).expect("encode");
    assert_eq!(&buf[..], expected, "{:02x?}", &buf[..]);
    let (h, b) = decode_response_frame(
        Bytes::copy_from_slice(&expected[4..]),
        ApiKey::ApiVersions,
        3,
    )
    .expect("decode");
    assert_eq!(h.correlation_id, 7);
    assert_eq!(b, body);
    theirs_agree::<kafka_protocol::messages::ApiVersionsResponse>(3, &expected[8..]);
}

#[test]
fn metadata_request_v12_one_topic_by_name() {
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0x02,                    // Topics: compact nullable array, uvarint(1+1)
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //   TopicId: zero UUID
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //   (asking by name)
        0x04, b'f', b'o', b'o',  //   Name: compact nullable string, uvarint(3+1), "foo"
        0x00,                    //   tagged fields: none
        0x01,                    // AllowAutoTopicCreation: true
        // IncludeClusterAuthorizedOperations: versions 8-10, absent in v12
        0x00,                    // IncludeTopicAuthorizedOperations: false
        0x00,                    // tagged fields: none
    ];
    let mut topic = MetadataRequestTopic::default();
    topic.name = Some("foo".into());
    let mut request = MetadataRequest::default();
    request.topics = Some(vec![topic]);
    request.allow_auto_topic_creation = true;
    request.include_topic_authorized_operations = false;
    check_body(&request, 12, expected);
    theirs_agree::<kafka_protocol::messages::MetadataRequest>(12, expected);
}

#[test]
fn metadata_response_v12_one_broker_topic_partition() {
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0x00, 0x00, 0x00, 0x00,  // ThrottleTimeMs: 0
        0x02,                    // Brokers: compact array, uvarint(1+1)
        0x00, 0x00, 0x00, 0x01,  //   NodeId: 1
        0x03, b'b', b'1',        //   Host: uvarint(2+1), "b1"
        0x00, 0x00, 0x23, 0x84,  //   Port: 9092
        0x00,                    //   Rack: compact nullable string, null
        0x00,                    //   tagged fields: none
        0x02, b'c',              // ClusterId: uvarint(1+1), "c"
        0x00, 0x00, 0x00, 0x01,  // ControllerId: 1
        0x02,                    // Topics: compact array, uvarint(1+1)
        0x00, 0x00,              //   ErrorCode: 0
        0x04, b'f', b'o', b'o',  //   Name: compact nullable string (nullable in 12+), "foo"
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // TopicId
        0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
        0x00,                    //   IsInternal: false
        0x02,                    //   Partitions: compact array, uvarint(1+1)
        0x00, 0x00,              //     ErrorCode: 0
        0x00, 0x00, 0x00, 0x00,  //     PartitionIndex: 0
        0x00, 0x00, 0x00, 0x01,  //     LeaderId: 1
        0x00, 0x00, 0x00, 0x07,  //     LeaderEpoch: 7
        0x02, 0x00, 0x00, 0x00, 0x01, // ReplicaNodes: compact array [1]
        0x02, 0x00, 0x00, 0x00, 0x01, // IsrNodes: compact array [1]
        0x01,                    //     OfflineReplicas: compact array, empty
        0x00,                    //     tagged fields: none
        0x80, 0x00, 0x00, 0x00,  //   TopicAuthorizedOperations: -2147483648 (the default: not requested)
        0x00,                    //   tagged fields: none
        // ClusterAuthorizedOperations: versions 8-10, absent in v12
        // ErrorCode (top level): versions 13+, absent in v12
        0x00,                    // tagged fields: none
    ];
    let mut broker = MetadataResponseBroker::default();
    broker.node_id = 1;
    broker.host = "b1".into();
    broker.port = 9092;
    broker.rack = None;

    let mut partition = MetadataResponsePartition::default();
    partition.partition_index = 0;
    partition.leader_id = 1;
    partition.leader_epoch = 7;
    partition.replica_nodes = vec![1];
    partition.isr_nodes = vec![1];

    let mut topic = MetadataResponseTopic::default();
    topic.name = Some("foo".into());
    topic.topic_id = Uuid([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    topic.partitions = vec![partition];
    assert_eq!(
        topic.topic_authorized_operations,
        i32::MIN,
        "schema default"
    );

    let mut response = MetadataResponse::default();
    response.brokers = vec![broker];
    response.cluster_id = Some("c".into());
    response.controller_id = 1;
    response.topics = vec![topic];
    check_body(&response, 12, expected);
    theirs_agree::<kafka_protocol::messages::MetadataResponse>(12, expected);
}

/// A RecordBatch (magic 2) holding one record, key null, value "hello".
#[rustfmt::skip]
const RECORD_BATCH: [u8; 73] = [
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // baseOffset: 0
    0x00, 0x00, 0x00, 0x3d,  // batchLength: 61 bytes follow this field
    0xff, 0xff, 0xff, 0xff,  // partitionLeaderEpoch: -1
    0x02,                    // magic: 2
    0xe6, 0x41, 0xa4, 0x4b,  // crc: CRC-32C of everything from attributes to the end
    0x00, 0x00,              // attributes: no compression, not transactional, not control
    0x00, 0x00, 0x00, 0x00,  // lastOffsetDelta: 0
    0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, // baseTimestamp: 1700000000000
    0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, // maxTimestamp: 1700000000000
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // producerId: -1 (not idempotent)
    0xff, 0xff,              // producerEpoch: -1
    0xff, 0xff, 0xff, 0xff,  // baseSequence: -1
    0x00, 0x00, 0x00, 0x01,  // records count: 1
    // Record (varints here are zigzag-encoded signed varints)
    0x16,                    // length: 11 (zigzag 22)
    0x00,                    // attributes: 0
    0x00,                    // timestampDelta: 0
    0x00,                    // offsetDelta: 0
    0x01,                    // keyLength: -1 (zigzag 1), null key
    0x0a,                    // valueLength: 5 (zigzag 10)
    b'h', b'e', b'l', b'l', b'o', // value
    0x00,                    // headers count: 0
];

#[test]
fn record_batch_crc_is_crc32c_from_attributes_to_end() {
    let stored = u32::from_be_bytes(RECORD_BATCH[17..21].try_into().unwrap());
    assert_eq!(crc32c::crc32c(&RECORD_BATCH[21..]), stored);
    let batch_length = i32::from_be_bytes(RECORD_BATCH[8..12].try_into().unwrap());
    assert_eq!(batch_length as usize, RECORD_BATCH.len() - 12);
}

#[test]
fn produce_request_v9_one_record() {
    let mut expected: Vec<u8> = vec![
        0x00, // TransactionalId: compact nullable string, null
        0xff, 0xff, // Acks: -1 (all in-sync replicas)
        0x00, 0x00, 0x75, 0x30, // TimeoutMs: 30000
        0x02, // TopicData: compact array, uvarint(1+1)
        0x04, b'f', b'o', b'o', //   Name: uvarint(3+1), "foo" (TopicId is 13+)
        0x02, //   PartitionData: compact array, uvarint(1+1)
        0x00, 0x00, 0x00, 0x00, //     Index: 0
        0x4a, //     Records: compact nullable bytes, uvarint(73+1), then the batch
    ];
    expected.extend_from_slice(&RECORD_BATCH);
    expected.extend_from_slice(&[
        0x00, //     tagged fields: none (PartitionProduceData)
        0x00, //   tagged fields: none (TopicProduceData)
        0x00, // tagged fields: none (ProduceRequest)
    ]);

    let mut partition = PartitionProduceData::default();
    partition.index = 0;
    partition.records = Some(Bytes::from_static(&RECORD_BATCH));
    let mut topic = TopicProduceData::default();
    topic.name = "foo".into();
    topic.partition_data = vec![partition];
    let mut request = ProduceRequest::default();
    request.transactional_id = None;
    request.acks = -1;
    request.timeout_ms = 30000;
    request.topic_data = vec![topic];
    check_body(&request, 9, &expected);
    theirs_agree::<kafka_protocol::messages::ProduceRequest>(9, &expected);
}

#[test]
fn unknown_tagged_fields_survive_decode_then_encode() {
    // An ApiVersionsResponse v3 from a newer broker: a tagged field it added
    // in an entry of ApiKeys (tag 0, which ApiVersion does not define), one
    // known top-level tag (1) and two unknown ones (4, and 1000 whose tag
    // takes two varint bytes). Ours keeps the unknown ones, in tag order
    // around the known one, and writes the same bytes back.
    #[rustfmt::skip]
    let wire: &[u8] = &[
        0x00, 0x00,              // ErrorCode: 0
        0x02,                    // ApiKeys: compact array, uvarint(1+1)
        0x00, 0x00,              //   ApiKey: 0
        0x00, 0x03,              //   MinVersion: 3
        0x00, 0x0d,              //   MaxVersion: 13
        0x01,                    //   tagged fields: 1
        0x00, 0x02, 0xab, 0xcd,  //     tag 0 (unknown here), size 2, bytes ab cd
        0x00, 0x00, 0x00, 0x00,  // ThrottleTimeMs: 0
        0x03,                    // tagged fields: 3
        0x01, 0x08,              //   tag 1 (FinalizedFeaturesEpoch), size 8
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, // int64: 42
        0x04, 0x01, 0x99,        //   tag 4 (unknown), size 1, byte 99
        0xe8, 0x07, 0x00,        //   tag 1000 (unknown, uvarint e8 07), size 0
    ];
    let decoded = ApiVersionsResponse::decode(&mut Bytes::from_static(wire), 3).expect("decode");
    assert_eq!(decoded.finalized_features_epoch, 42);
    assert_eq!(
        decoded
            .unknown_tagged_fields
            .into_iter()
            .collect::<Vec<_>>(),
        vec![(4, Bytes::from_static(&[0x99])), (1000, Bytes::new()),]
    );
    assert_eq!(
        decoded.api_keys[0]
            .unknown_tagged_fields
            .clone()
            .into_iter()
            .collect::<Vec<_>>(),
        vec![(0, Bytes::from_static(&[0xab, 0xcd]))]
    );

    let mut expected_value = ApiVersionsResponse::default()
        .with_api_keys(vec![{
            let mut v = ApiVersion::default()
                .with_api_key(0)
                .with_min_version(3)
                .with_max_version(13);
            v.unknown_tagged_fields
                .insert(0, Bytes::from_static(&[0xab, 0xcd]));
            v
        }])
        .with_finalized_features_epoch(42);
    expected_value
        .unknown_tagged_fields
        .insert(4, Bytes::from_static(&[0x99]));
    expected_value
        .unknown_tagged_fields
        .insert(1000, Bytes::new());
    check_body(&expected_value, 3, wire);
    theirs_agree::<kafka_protocol::messages::ApiVersionsResponse>(3, wire);
}
