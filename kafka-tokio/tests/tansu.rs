//! The tokio client against a real broker (Tansu).

use kafka_proto::ErrorCode;
use kafka_testkit::Tansu;
use kafka_tokio::{Acks, BrokerAddr, Client, Compression, Config, NewTopic, ProducerRecord};

async fn client(broker: &Tansu, tune: impl FnOnce(&mut Config)) -> Client {
    let mut config = Config::new(BrokerAddr::parse_list(&broker.bootstrap()).unwrap());
    tune(&mut config);
    tokio::time::timeout(std::time::Duration::from_secs(30), Client::connect(config))
        .await
        .expect("connects in time")
        .unwrap()
}

#[tokio::test]
async fn topics_on_tansu() {
    let Some(broker) = Tansu::start() else { return };
    let client = client(&broker, |_| {}).await;
    client
        .create_topic(NewTopic::new("many", 16, 1))
        .await
        .unwrap();
    let md = client.metadata(["many"]).await.unwrap();
    assert_eq!(md.topic("many").unwrap().partitions.len(), 16);
    assert_eq!(
        client
            .create_topic(NewTopic::new("many", 1, 1))
            .await
            .unwrap_err()
            .code(),
        Some(ErrorCode::TopicAlreadyExists)
    );
    client.delete_topic("many").await.unwrap();
    client.close().await;
}

/// Every codec, acks setting and idempotence, with keys, headers and null
/// values: each record gets a report, offsets grow by one per partition.
#[tokio::test]
async fn produce_every_codec_and_acks_on_tansu() {
    let Some(broker) = Tansu::start() else { return };
    let cases = [
        (Compression::None, Acks::All, true),
        (Compression::Gzip, Acks::All, true),
        (Compression::Snappy, Acks::Leader, false),
        (Compression::Lz4, Acks::All, true),
        (Compression::Zstd, Acks::Leader, false),
        (Compression::None, Acks::None, false),
    ];
    for (i, (codec, acks, idempotent)) in cases.into_iter().enumerate() {
        let client = client(&broker, |c| {
            c.producer.compression = codec;
            c.producer.acks = acks;
            c.producer.enable_idempotence = idempotent;
        })
        .await;
        let topic = format!("codec-{i}");
        client
            .create_topic(NewTopic::new(&topic, 4, 1))
            .await
            .unwrap();
        let producer = client.producer();
        let records = (0..500).map(|n| {
            let mut r = ProducerRecord::new(&topic).with_key(format!("key-{}", n % 11));
            if n % 10 != 0 {
                r = r.with_value(format!("value {n} {codec:?}"));
            }
            r.with_header("n", Some(n.to_string().into()))
                .with_header("n", None)
        });
        let reports = producer.send_batch(records).await;
        let mut next = std::collections::HashMap::new();
        for r in reports {
            let r = r.unwrap_or_else(|e| panic!("{codec:?} {acks:?}: {e}"));
            if acks == Acks::None {
                assert_eq!(r.offset, -1);
                continue;
            }
            let expect = next.entry(r.partition).or_insert(0i64);
            assert_eq!(r.offset, *expect, "{codec:?} partition {}", r.partition);
            *expect += 1;
        }
        client.close().await;
    }
}

#[tokio::test]
async fn a_five_megabyte_record_on_tansu() {
    let Some(broker) = Tansu::start() else { return };
    let client = client(&broker, |c| c.producer.max_request_size = 8 << 20).await;
    client
        .create_topic(NewTopic::new("big", 1, 1))
        .await
        .unwrap();
    let value: Vec<u8> = (0..5 << 20).map(|i| (i % 251) as u8).collect();
    let report = client
        .producer()
        .send(ProducerRecord::new("big").with_value(value))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!((report.partition, report.offset), (0, 0));
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
