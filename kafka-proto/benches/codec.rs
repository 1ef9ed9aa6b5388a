//! kafka-proto against the `kafka-protocol` crate, side by side in one run,
//! plus a floor (CRC32C and a copy of the same bytes).
//!
//! Run: `cargo bench -p kafka-proto --bench codec`. Ratios are computed
//! from criterion's estimates by `scripts/bench-ratios.py`.

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kafka_proto::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_proto::messages::MetadataResponse;
use kafka_proto::Message;

const METADATA_VERSION: i16 = 12;

/// 3 brokers, 10 topics of 100 partitions each: 1,000 partitions.
fn metadata_ours() -> MetadataResponse {
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

fn metadata_theirs() -> kafka_protocol::messages::MetadataResponse {
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

fn metadata(c: &mut Criterion) {
    use kafka_protocol::protocol::{Decodable, Encodable};
    let ours = metadata_ours();
    let theirs = metadata_theirs();
    let mut buf = BytesMut::new();
    ours.encode(&mut buf, METADATA_VERSION).unwrap();
    let wire = buf.freeze();
    let mut check = BytesMut::new();
    theirs.encode(&mut check, METADATA_VERSION).unwrap();
    assert_eq!(
        wire,
        check.freeze(),
        "both crates must produce the same bytes"
    );

    let mut g = c.benchmark_group("metadata_1000_partitions");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("encode/ours", |b| {
        let mut out = BytesMut::with_capacity(wire.len());
        b.iter(|| {
            out.clear();
            ours.encode(&mut out, METADATA_VERSION).unwrap();
            black_box(out.len())
        })
    });
    g.bench_function("encode/kafka-protocol", |b| {
        let mut out = BytesMut::with_capacity(wire.len());
        b.iter(|| {
            out.clear();
            theirs.encode(&mut out, METADATA_VERSION).unwrap();
            black_box(out.len())
        })
    });
    g.bench_function("decode/ours", |b| {
        b.iter_batched(
            || wire.clone(),
            |mut w| MetadataResponse::decode(&mut w, METADATA_VERSION).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("decode/kafka-protocol", |b| {
        b.iter_batched(
            || wire.clone(),
            |mut w| {
                kafka_protocol::messages::MetadataResponse::decode(&mut w, METADATA_VERSION)
                    .unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// The floor for record work: checksum the bytes and copy them once.
fn floor(c: &mut Criterion, name: &str, data: &Bytes) {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("floor/crc32c+memcpy", |b| {
        let mut out = vec![0u8; data.len()];
        b.iter(|| {
            out.copy_from_slice(data);
            black_box(crc32c::crc32c(&out))
        })
    });
    g.finish();
}

fn floors(c: &mut Criterion) {
    floor(c, "floor_100k", &Bytes::from(vec![7u8; 100_000]));
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = metadata, floors
}
criterion_main!(benches);
