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

#[tokio::test]
async fn configs_on_kafka() {
    let Some(broker) = kafka() else { return };
    common::configs(&broker).await;
}

#[tokio::test]
async fn partitions_on_kafka() {
    let Some(broker) = kafka() else { return };
    common::partitions(&broker).await;
}

#[tokio::test]
async fn delete_records_on_kafka() {
    let Some(broker) = kafka() else { return };
    common::delete_records(&broker).await;
}

#[tokio::test]
async fn cluster_on_kafka() {
    let Some(broker) = kafka() else { return };
    common::cluster(&broker).await;
}

/// What only Kafka has: sensitive broker configs (hidden), broker
/// loggers, authorized operations without an authorizer (all of them),
/// finalized `metadata.version`.
#[tokio::test]
async fn broker_loggers_secrets_and_features_on_kafka() {
    use kafka_tokio::{AclOperation, ConfigResource};
    let Some(broker) = kafka() else { return };
    let client = broker.client(|_| {}).await;
    let c = client.describe_cluster(true).await.unwrap();
    let ops = c.authorized_operations.expect("asked for");
    assert!(ops.contains(&AclOperation::Describe), "{ops:?}");
    let node = c.brokers[0].node;
    let described = client
        .describe_configs(
            [
                ConfigResource::Broker(node),
                ConfigResource::BrokerLogger(node),
            ],
            false,
        )
        .await
        .unwrap();
    let sensitive: Vec<_> = described[0]
        .entries
        .iter()
        .filter(|e| e.sensitive)
        .collect();
    assert!(!sensitive.is_empty());
    assert!(sensitive.iter().all(|e| e.value.is_none()), "{sensitive:?}");
    assert!(described[0].entries.iter().any(|e| e.read_only));
    assert_eq!(described[1].error, kafka_tokio::ErrorCode::None);
    assert!(
        described[1].entries.iter().any(|e| e.name == "root"),
        "{:?}",
        described[1]
    );
    // A logger level can be validated without changing it.
    // The cluster-wide dynamic defaults: any broker answers.
    let defaults = client
        .describe_configs([ConfigResource::BrokerDefaults], false)
        .await
        .unwrap();
    assert_eq!(
        defaults[0].error,
        kafka_tokio::ErrorCode::None,
        "{defaults:?}"
    );
    let outcome = client
        .alter_configs(
            [(
                ConfigResource::BrokerLogger(node),
                vec![kafka_tokio::AlterConfigOp::Set(
                    "kafka.server.ReplicaManager".into(),
                    "DEBUG".into(),
                )],
            )],
            true,
        )
        .await
        .unwrap();
    assert_eq!(
        outcome[0].error,
        kafka_tokio::ErrorCode::None,
        "{outcome:?}"
    );
    let f = client.describe_features(Some(node)).await.unwrap();
    assert!(
        f.finalized
            .iter()
            .any(|f| f.name == "metadata.version" && f.max_version_level > 0),
        "{f:?}"
    );
    client.close().await;
}
