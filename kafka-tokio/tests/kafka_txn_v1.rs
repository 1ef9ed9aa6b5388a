//! Transactions on an Apache Kafka cluster formatted with
//! `transaction.version=0`, which speaks only the first transaction
//! protocol (AddPartitionsToTxn and AddOffsetsToTxn before use, no epoch
//! bump at the end): the client must see the finalized feature and stay
//! on that protocol. The suite in `kafka.rs` runs the same body on a
//! cluster with transaction v2 (Kafka 4's default).

mod common;

use common::Broker;
use kafka_testkit::KafkaCluster;

#[tokio::test]
async fn consume_transform_produce_exactly_once_on_kafka_with_the_first_protocol() {
    let Some(cluster) = KafkaCluster::builder()
        .brokers(1)
        .feature("transaction.version", 0)
        .start()
    else {
        return;
    };
    let broker = Broker {
        bootstrap: cluster.bootstrap(),
        replication: 1,
        exact_latest: true,
        prefix: format!("v1-{}-", std::process::id()),
    };
    common::consume_transform_produce(&broker).await;
}
