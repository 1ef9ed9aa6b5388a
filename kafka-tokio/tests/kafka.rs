//! The tokio client against Apache Kafka: the bodies of the Tansu suite
//! (`common`) on the 3-node cluster this test binary shares, every topic
//! replicated 3 times. Failover lives in `kafka_failover.rs`, TLS and SASL
//! in `kafka_security.rs`.

mod common;

use common::Broker;
use kafka_testkit::KafkaCluster;

/// The shared cluster, or `None` (skip) when Kafka is not installed.
/// Topic names carry the process id: a cluster is per test binary, but
/// names stay unique should one ever be shared further.
fn kafka() -> Option<Broker> {
    let cluster = KafkaCluster::shared()?;
    Some(Broker {
        bootstrap: cluster.bootstrap(),
        replication: 3,
        exact_latest: true,
        prefix: format!("t{}-", std::process::id()),
    })
}

#[tokio::test]
async fn topics_on_kafka() {
    let Some(broker) = kafka() else { return };
    common::topics(&broker).await;
}

#[tokio::test]
async fn produce_every_codec_and_acks_on_kafka() {
    let Some(broker) = kafka() else { return };
    common::produce_every_codec_and_acks(&broker).await;
}

#[tokio::test]
async fn seek_offsets_and_lag_on_kafka() {
    let Some(broker) = kafka() else { return };
    common::seek_offsets_and_lag(&broker).await;
}

#[tokio::test]
async fn many_partitions_on_kafka() {
    let Some(broker) = kafka() else { return };
    common::many_partitions(&broker).await;
}

#[tokio::test]
async fn a_five_megabyte_record_on_kafka() {
    let Some(broker) = kafka() else { return };
    common::a_five_megabyte_record(&broker).await;
}

#[tokio::test]
async fn consumer_group_shares_and_hands_over_on_kafka() {
    let Some(broker) = kafka() else { return };
    common::consumer_group_shares_and_hands_over(&broker).await;
}

#[tokio::test]
async fn consume_transform_produce_exactly_once_on_kafka() {
    let Some(broker) = kafka() else { return };
    common::consume_transform_produce(&broker).await;
}
