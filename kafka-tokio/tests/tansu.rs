//! The tokio client against a real broker (Tansu). The bodies shared with
//! the Apache Kafka suite live in `common`.

mod common;

use common::{next_record, Broker};
use kafka_testkit::Tansu;
use std::time::Duration;

use kafka_tokio::{
    Acks, BrokerAddr, Client, Config, NewTopic, ProducerRecord, SeekTo, TopicPartition,
};

async fn client(broker: &Tansu, tune: impl FnOnce(&mut Config)) -> Client {
    let mut config = Config::new(BrokerAddr::parse_list(&broker.bootstrap()).unwrap());
    tune(&mut config);
    tokio::time::timeout(std::time::Duration::from_secs(30), Client::connect(config))
        .await
        .expect("connects in time")
        .unwrap()
}

/// A fresh Tansu per test: one node, replication factor 1, and a
/// `ListOffsets` latest that is off by a batch.
fn tansu(broker: &Tansu) -> Broker {
    Broker {
        bootstrap: broker.bootstrap(),
        replication: 1,
        exact_latest: false,
        prefix: String::new(),
    }
}

#[tokio::test]
async fn topics_on_tansu() {
    let Some(broker) = Tansu::start() else { return };
    common::topics(&tansu(&broker)).await;
}

#[tokio::test]
async fn produce_every_codec_and_acks_on_tansu() {
    let Some(broker) = Tansu::start() else { return };
    common::produce_every_codec_and_acks(&tansu(&broker)).await;
}

#[tokio::test]
async fn seek_offsets_and_lag_on_tansu() {
    let Some(broker) = Tansu::start() else { return };
    common::seek_offsets_and_lag(&tansu(&broker)).await;
}

#[tokio::test]
async fn many_partitions_on_tansu() {
    let Some(broker) = Tansu::start() else { return };
    common::many_partitions(&tansu(&broker)).await;
}

#[tokio::test]
async fn a_five_megabyte_record_on_tansu() {
    let Some(broker) = Tansu::start() else { return };
    common::a_five_megabyte_record(&tansu(&broker)).await;
}

#[tokio::test]
async fn the_client_reconnects_after_the_broker_restarts() {
    let Some(mut broker) = Tansu::start() else {
        return;
    };
    let client = client(&broker, |c| {
        c.reconnect_backoff_max = std::time::Duration::from_millis(200);
    })
    .await;
    client
        .create_topic(NewTopic::new("before", 1, 1))
        .await
        .unwrap();
    broker.restart().unwrap();
    // Memory storage: the restarted broker is empty. The client must find
    // it again and carry on.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match client.create_topic(NewTopic::new("after", 1, 1)).await {
            Ok(()) => break,
            Err(e) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "never reconnected: {e}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
    let report = client
        .producer()
        .send(ProducerRecord::new("after").with_value("x"))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(report.offset, 0);
    client.close().await;
}

/// Tansu answers acks=0 produce requests, which Kafka brokers never do.
/// The client skips those answers instead of failing the connection (which
/// dropped every request queued behind it), and `close` writes out what
/// the sockets still hold and waits for the broker's end of stream before
/// closing them (closing with answers unread sends a reset, which discards
/// unsent bytes): a long acks=0 stream, flushed and closed, arrives whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acks_zero_stream_arrives_whole_on_tansu() {
    let Some(broker) = Tansu::start() else { return };
    let producer_client = client(&broker, |c| {
        c.producer.acks = Acks::None;
        c.producer.enable_idempotence = false;
    })
    .await;
    producer_client
        .create_topic(NewTopic::new("fire", 1, 1))
        .await
        .unwrap();
    // Many requests. Only an optimised build outruns the broker enough to
    // lose records the old way; `kafka-bench` checks that in release.
    const TOTAL: i64 = 200_000;
    let producer = producer_client.producer();
    let value = bytes::Bytes::from(vec![b'x'; 100]);
    let mut pending = Vec::new();
    for _ in 0..TOTAL {
        let r = ProducerRecord::new("fire").with_value(value.clone());
        pending.push(producer.send(r).await.unwrap());
    }
    producer.flush().await.unwrap();
    for p in pending {
        assert_eq!(p.await.unwrap().offset, -1);
    }
    producer_client.close().await;

    let reader = client(&broker, |_| {}).await;
    let mut consumer = reader.consumer().unwrap();
    let tp = TopicPartition::new("fire", 0);
    consumer.assign([tp.clone()]).await.unwrap();
    consumer.seek(tp.clone(), SeekTo::Earliest).await.unwrap();
    let mut next = 0;
    while next < TOTAL {
        let r = tokio::time::timeout(Duration::from_secs(10), next_record(&mut consumer))
            .await
            .unwrap_or_else(|_| panic!("only {next} of {TOTAL} records arrived"))
            .unwrap()
            .unwrap();
        assert_eq!(r.offset, next);
        next += 1;
    }
    reader.close().await;
}
