//! The blocking client against a real broker (Tansu).

use std::time::{Duration, Instant};

use kafka_blocking::{
    Client, Compression, Config, NewTopic, Position, ProducerRecord, SeekTo, TopicPartition,
};
use kafka_proto::ErrorCode;
use kafka_testkit::Tansu;

#[test]
fn topics_on_tansu() {
    let Some(broker) = Tansu::start() else { return };
    let client = Client::connect(&broker.bootstrap(), Config::default()).unwrap();
    client.create_topic(NewTopic::new("many", 16, 1)).unwrap();
    let md = client.metadata(["many"]).unwrap();
    assert_eq!(md.topic("many").unwrap().partitions.len(), 16);
    assert_eq!(
        client
            .create_topic(NewTopic::new("many", 1, 1))
            .unwrap_err()
            .code(),
        Some(ErrorCode::TopicAlreadyExists)
    );
    client.delete_topic("many").unwrap();
    let md = client.metadata(["many"]).unwrap();
    assert!(md.topic("many").is_none_or(|t| t.error.is_error()));
}

/// Reads `n` messages from the start of every partition of `topic`.
fn read_all(
    client: &Client,
    topic: &str,
    partitions: i32,
    n: usize,
) -> Vec<kafka_blocking::Message> {
    let mut consumer = client.consumer();
    let tps: Vec<_> = (0..partitions)
        .map(|p| TopicPartition::new(topic, p))
        .collect();
    consumer.assign(tps.clone()).unwrap();
    for tp in tps {
        consumer.seek(tp, SeekTo::Earliest).unwrap();
    }
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while out.len() < n {
        assert!(Instant::now() < deadline, "only {} of {n}", out.len());
        out.extend(consumer.poll(Duration::from_millis(200)).unwrap());
    }
    out
}

#[test]
fn every_codec_keys_headers_nulls_and_idempotence_on_tansu() {
    let Some(broker) = Tansu::start() else { return };
    for (i, codec) in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ]
    .into_iter()
    .enumerate()
    {
        let mut config = Config::default();
        config.producer.compression = codec;
        let client = Client::connect(&broker.bootstrap(), config).unwrap();
        let topic = format!("b-codec-{i}");
        client.create_topic(NewTopic::new(&topic, 2, 1)).unwrap();
        let producer = client.producer();
        let deliveries: Vec<_> = (0..200)
            .map(|n| {
                let mut r = ProducerRecord::new(&topic)
                    .with_partition(n % 2)
                    .with_key(format!("k{n}"))
                    .with_header("n", Some(n.to_string().into()));
                if n % 7 != 0 {
                    r = r.with_value(format!("value {n}"));
                }
                producer.send_async(r).unwrap()
            })
            .collect();
        for d in deliveries {
            d.wait().unwrap();
        }
        let got = read_all(&client, &topic, 2, 200);
        for m in &got {
            let n: i32 = std::str::from_utf8(m.key.as_ref().unwrap())
                .unwrap()
                .trim_start_matches('k')
                .parse()
                .unwrap();
            assert_eq!(m.partition, n % 2);
            assert_eq!(m.offset, i64::from(n / 2), "{codec:?}");
            let want = (n % 7 != 0).then(|| format!("value {n}"));
            assert_eq!(m.value.as_deref(), want.as_deref().map(str::as_bytes));
            assert_eq!(
                m.headers,
                vec![("n".to_string(), Some(n.to_string().into()))]
            );
        }
    }
}

#[test]
fn big_record_offsets_seek_and_lag_on_tansu() {
    let Some(broker) = Tansu::start() else { return };
    let mut config = Config::default();
    config.producer.max_request_size = 8 << 20;
    let client = Client::connect(&broker.bootstrap(), config).unwrap();
    client.create_topic(NewTopic::new("big", 1, 1)).unwrap();
    let producer = client.producer();
    let big: Vec<u8> = (0..5 << 20).map(|i| (i % 253) as u8).collect();
    let r = producer
        .send("big", Some(0), Some(b"big"), Some(&big), &[])
        .unwrap();
    assert_eq!(r.offset, 0);
    for i in 1..10 {
        producer
            .send("big", Some(0), None, Some(format!("{i}").as_bytes()), &[])
            .unwrap();
    }
    let mut consumer = client.consumer();
    assert_eq!(
        consumer.offsets("big", 0, Position::Earliest).unwrap(),
        Some(0)
    );
    let got = consumer.fetch("big", 0, 0, 1).unwrap();
    assert_eq!(got[0].value.as_deref(), Some(&big[..]));
    let got = consumer.fetch("big", 0, 5, 1 << 20).unwrap();
    assert_eq!(got[0].offset, 5);
    assert_eq!(got[0].value.as_deref(), Some(&b"5"[..]));
    let tp = TopicPartition::new("big", 0);
    consumer.seek(tp.clone(), SeekTo::Offset(9)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = consumer.poll(Duration::from_millis(200)).unwrap();
        if got.last().is_some_and(|m| m.offset == 9) {
            break;
        }
        assert!(Instant::now() < deadline);
    }
    assert_eq!(consumer.lag(tp).unwrap(), Some(0));
}

#[test]
fn reconnects_after_the_broker_restarts() {
    let Some(mut broker) = Tansu::start() else {
        return;
    };
    let mut config = Config::default();
    config.reconnect_backoff_max = Duration::from_millis(200);
    let client = Client::connect(&broker.bootstrap(), config).unwrap();
    client.create_topic(NewTopic::new("before", 1, 1)).unwrap();
    broker.restart().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Err(e) = client.create_topic(NewTopic::new("after", 1, 1)) {
        assert!(Instant::now() < deadline, "never reconnected: {e}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = client
        .producer()
        .send("after", None, None, Some(b"x"), &[])
        .unwrap();
    assert_eq!(r.offset, 0);
}

#[test]
fn many_partitions_on_tansu() {
    let Some(broker) = Tansu::start() else { return };
    let client = Client::connect(&broker.bootstrap(), Config::default()).unwrap();
    client.create_topic(NewTopic::new("wide", 32, 1)).unwrap();
    let producer = client.producer();
    let deliveries: Vec<_> = (0..32 * 10)
        .map(|i| {
            producer
                .send_async(
                    ProducerRecord::new("wide")
                        .with_partition(i % 32)
                        .with_value(format!("{i}")),
                )
                .unwrap()
        })
        .collect();
    for d in deliveries {
        assert!(d.wait().unwrap().offset < 10);
    }
    let got = read_all(&client, "wide", 32, 320);
    let mut next = [0i64; 32];
    for m in got {
        let p = m.partition as usize;
        assert_eq!(m.offset, next[p], "partition {p} in order");
        next[p] += 1;
    }
    assert!(next.iter().all(|n| *n == 10));
}
