//! The tokio client against Apache Kafka: the bodies of the Tansu suite
//! (`common`) on the 3-node cluster this test binary shares, every topic
//! replicated 3 times. Failover lives in `kafka_failover.rs`, TLS and SASL
//! in `kafka_security.rs`.

mod common;

use common::Broker;
use kafka_testkit::KafkaCluster;
use kafka_tokio::{ErrorCode, ProducerRecord, SeekTo, TopicPartition};

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

/// Statistics against what Kafka did: a client quota throttles the
/// producer and the snapshot counts the broker's throttle times; records
/// delivered, the producer's connections per leader, round trips, and
/// the consumer's positions and lag once it read everything.
#[tokio::test]
async fn statistics_count_kafka_throttling_and_positions() {
    use kafka_tokio::{ConnRole, QuotaEntity, QuotaOp};
    let Some(broker) = kafka() else { return };
    let topic = broker.topic("stats");
    let client_id = format!("stats-{}", std::process::id());
    let admin = broker.client(|_| {}).await;
    admin
        .create_topic(broker.new_topic(&topic, 3))
        .await
        .unwrap();
    // 10 KB/s per broker for this client id only. A broker measures the
    // rate over its whole quota window (about 10 s) even for a fresh
    // client, so ~150 KB per leader is throttled for a few seconds.
    let entity = QuotaEntity::new().with("client-id", Some(client_id.clone()));
    let set = vec![(
        entity.clone(),
        vec![QuotaOp::Set("producer_byte_rate".into(), 10_240.0)],
    )];
    let outcome = admin.alter_client_quotas(set, false).await.unwrap();
    assert!(
        outcome.iter().all(|o| o.error == ErrorCode::None),
        "{outcome:?}"
    );
    // Brokers learn quotas from the metadata log, a moment later.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;

    let id = client_id.clone();
    let client = broker.client(move |c| c.client_id = Some(id)).await;
    let value = vec![b'q'; 1000];
    let reports = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        client.producer().send_batch((0..450).map(|i| {
            ProducerRecord::new(&topic)
                .with_partition(i % 3)
                .with_value(value.clone())
        })),
    )
    .await
    .expect("throttled, not stuck");
    assert!(reports.failed() == 0);
    let s = client.stats().unwrap();
    assert_eq!(s.totals.records_delivered, 450);
    let producers: Vec<_> = s
        .brokers
        .iter()
        .filter(|b| b.role == ConnRole::Producer)
        .collect();
    assert!(!producers.is_empty());
    let throttled: u64 = producers.iter().map(|b| b.throttled_responses).sum();
    let throttle_ms: u64 = producers.iter().map(|b| b.throttle_time_ms).sum();
    assert!(throttled >= 1 && throttle_ms > 0, "{producers:#?}");
    for b in &producers {
        let rtt = b.rtt.expect("answered produce requests");
        assert!(rtt.samples >= 1 && rtt.max_us >= rtt.p50_us, "{b:?}");
    }
    // Every partition's leader has a producer connection.
    let leaders: std::collections::BTreeSet<i32> = (0..3)
        .filter_map(|p| {
            s.partitions
                .iter()
                .find(|x| x.partition == p)
                .and_then(|x| x.leader)
        })
        .collect();
    let nodes: std::collections::BTreeSet<i32> = producers.iter().filter_map(|b| b.node).collect();
    assert!(leaders.is_subset(&nodes), "{leaders:?} {nodes:?}");

    let mut consumer = client.consumer().unwrap();
    let tps: Vec<TopicPartition> = (0..3)
        .map(|p| TopicPartition::new(topic.as_str(), p))
        .collect();
    consumer.assign(tps.clone()).await.unwrap();
    for tp in &tps {
        consumer.seek(tp.clone(), SeekTo::Earliest).await.unwrap();
    }
    for _ in 0..450 {
        common::next_in_time(&mut consumer).await;
    }
    // Offsets of yielded records are stored into the core at the next
    // pull (once per batch, not per record): one pull that finds nothing.
    let more = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        common::next_record(&mut consumer),
    )
    .await;
    assert!(more.is_err(), "no record past the 450");
    let s = client.stats().unwrap();
    let consumed: Vec<_> = s.partitions.iter().filter_map(|p| p.consumer).collect();
    assert_eq!(consumed.len(), 3, "{s:#?}");
    assert_eq!(
        consumed.iter().map(|c| c.position.unwrap()).sum::<i64>(),
        450
    );
    assert_eq!(
        consumed
            .iter()
            .map(|c| c.high_watermark.unwrap())
            .sum::<i64>(),
        450
    );
    assert!(consumed.iter().all(|c| c.lag == Some(0)), "{consumed:?}");
    assert!(
        consumed.iter().all(|c| c.consumed_offset == c.position),
        "{consumed:?}"
    );
    assert_eq!(s.totals.consumer_lag, 0);
    client.close().await;

    let remove = vec![(entity, vec![QuotaOp::Remove("producer_byte_rate".into())])];
    admin.alter_client_quotas(remove, false).await.unwrap();
    admin.close().await;
}

/// A consumer group's configs (KIP-848): set, described with their
/// source, deleted back to the broker's default.
#[tokio::test]
async fn group_configs_on_kafka() {
    use kafka_tokio::{AlterConfigOp, ConfigResource};
    let Some(broker) = kafka() else { return };
    let client = broker.client(|_| {}).await;
    let group = ConfigResource::Group(broker.topic("cfg-group"));
    let set = AlterConfigOp::Set("consumer.session.timeout.ms".into(), "50000".into());
    let altered = client
        .alter_configs([(group.clone(), vec![set])], false)
        .await
        .unwrap();
    assert_eq!(altered[0].error, ErrorCode::None, "{altered:?}");
    // A broker learns the change from the metadata log a moment later.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let described = client
            .describe_configs([group.clone()], false)
            .await
            .unwrap();
        assert_eq!(described[0].error, ErrorCode::None, "{described:?}");
        let e = described[0]
            .entries
            .iter()
            .find(|e| e.name == "consumer.session.timeout.ms")
            .expect("the group config is listed");
        if e.value.as_deref() == Some("50000") {
            assert_eq!(e.source.name(), "GROUP_CONFIG", "{e:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{e:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let delete = AlterConfigOp::Delete("consumer.session.timeout.ms".into());
    let altered = client
        .alter_configs([(group.clone(), vec![delete])], false)
        .await
        .unwrap();
    assert_eq!(altered[0].error, ErrorCode::None, "{altered:?}");
    // An empty group id is refused before anything is sent.
    let empty = ConfigResource::Group(String::new());
    assert!(client.describe_configs([empty], false).await.is_err());
    client.close().await;
}
