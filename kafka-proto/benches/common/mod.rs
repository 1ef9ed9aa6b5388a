//! Workloads shared by the criterion bench (`codec.rs`) and the
//! callgrind driver (`examples/profile_codec.rs`), so both measure the
//! same inputs.
#![allow(dead_code)] // each user takes what it needs

use bytes::BytesMut;
use kafka_proto::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_proto::messages::MetadataResponse;

/// 3 brokers, 10 topics of 100 partitions each: 1,000 partitions.
pub fn metadata_ours() -> MetadataResponse {
    let brokers = (0..3)
        .map(|id| {
            MetadataResponseBroker::default()
                .with_node_id(id)
                .with_host(format!("broker-{id}.example.internal"))
                .with_port(9092)
                .with_rack(Some(format!("rack-{id}")))
        })
        .collect();
    let topics = (0..10)
        .map(|t| {
            MetadataResponseTopic::default()
                .with_name(Some(format!("topic-{t}")))
                .with_topic_id(kafka_proto::Uuid::from_u64_pair(t, t + 1))
                .with_partitions(
                    (0..100)
                        .map(|p| {
                            MetadataResponsePartition::default()
                                .with_partition_index(p)
                                .with_leader_id(p % 3)
                                .with_leader_epoch(7)
                                .with_replica_nodes(vec![p % 3, (p + 1) % 3, (p + 2) % 3])
                                .with_isr_nodes(vec![p % 3, (p + 1) % 3, (p + 2) % 3])
                        })
                        .collect(),
                )
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some("bench-cluster".into()))
        .with_controller_id(0)
        .with_topics(topics)
}

/// kafka-protocol's built-in lz4 compressor is hard-wired to level 4 of the
/// C liblz4 frame API, which is LZ4HC (slow, ~10x the fast level). Its API
/// has no level option, but `encode_with_custom_compression` accepts a
/// compressor: this one is its own `lz4` crate at level 0 (the fast
/// compressor, as librdkafka and the Java client use) with 64 KiB
/// independent blocks and no checksums, like ours and like the frames
/// librdkafka and the Java client write. (The `lz4` crate turns on block
/// and content checksums by default: two xxhash32 passes that the frames
/// we compare against do not pay for.)
pub fn their_lz4_level0(
    records: &mut BytesMut,
    out: &mut BytesMut,
    compression: kafka_protocol::records::Compression,
) -> anyhow::Result<()> {
    use bytes::BufMut;
    use std::io::Write;
    assert_eq!(compression, kafka_protocol::records::Compression::Lz4);
    let mut enc = lz4::EncoderBuilder::new()
        .level(0)
        .block_size(lz4::BlockSize::Max64KB)
        .block_mode(lz4::BlockMode::Independent)
        .checksum(lz4::ContentChecksum::NoChecksum)
        .block_checksum(lz4::liblz4::BlockChecksum::NoBlockChecksum)
        .build(out.writer())?;
    enc.write_all(records)?;
    let (_, r) = enc.finish();
    r?;
    Ok(())
}

/// The same response as [`metadata_ours`], built with kafka-protocol.
pub fn metadata_theirs() -> kafka_protocol::messages::MetadataResponse {
    use kafka_protocol::messages::metadata_response as m;
    use kafka_protocol::messages::{BrokerId, TopicName};
    use kafka_protocol::protocol::StrBytes;
    let brokers = (0..3)
        .map(|id| {
            m::MetadataResponseBroker::default()
                .with_node_id(BrokerId(id))
                .with_host(StrBytes::from_string(format!(
                    "broker-{id}.example.internal"
                )))
                .with_port(9092)
                .with_rack(Some(StrBytes::from_string(format!("rack-{id}"))))
        })
        .collect();
    let topics = (0..10u64)
        .map(|t| {
            m::MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(format!("topic-{t}")))))
                .with_topic_id(uuid::Uuid::from_u64_pair(t, t + 1))
                .with_partitions(
                    (0..100)
                        .map(|p| {
                            let r = vec![
                                BrokerId(p % 3),
                                BrokerId((p + 1) % 3),
                                BrokerId((p + 2) % 3),
                            ];
                            m::MetadataResponsePartition::default()
                                .with_partition_index(p)
                                .with_leader_id(BrokerId(p % 3))
                                .with_leader_epoch(7)
                                .with_replica_nodes(r.clone())
                                .with_isr_nodes(r)
                        })
                        .collect(),
                )
        })
        .collect();
    m::MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_static_str("bench-cluster")))
        .with_controller_id(BrokerId(0))
        .with_topics(topics)
}
