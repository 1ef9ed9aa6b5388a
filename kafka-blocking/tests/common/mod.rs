//! Test bodies shared by the Tansu suite (`tansu.rs`) and the Apache Kafka
//! suite (`kafka.rs`): each runs against a [`Broker`].

// Each test binary uses only some of the bodies.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use kafka_blocking::{
    Client, Compression, Config, NewTopic, OffsetSpec, ProducerRecord, SeekTo, TopicPartition,
};
use kafka_proto::ErrorCode;

/// Where the tests run.
pub struct Broker {
    /// `host:port[,..]`.
    pub bootstrap: String,
    /// The replication factor of every topic the tests create.
    pub replication: i16,
    /// Prepended to every topic name (a shared cluster outlives a test).
    pub prefix: String,
}

impl Broker {
    pub fn topic(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    pub fn new_topic(&self, name: &str, partitions: i32) -> NewTopic {
        NewTopic::new(name, partitions, self.replication)
    }

    pub fn client(&self, config: Config) -> Client {
        Client::connect(at(&self.bootstrap, config)).unwrap()
    }
}

/// Metadata until `ok` holds for the topic's entry (or its absence), for
/// at most 10 s: Kafka creates and deletes topics asynchronously, so a
/// broker may answer from before the change for a moment.
fn wait_metadata(
    client: &Client,
    topic: &str,
    ok: impl Fn(Option<&kafka_blocking::TopicMetadata>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let md = client.metadata([topic]).unwrap();
        if ok(md.topic(topic)) {
            return;
        }
        assert!(Instant::now() < deadline, "{topic}: {md:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn topics(broker: &Broker) {
    let client = broker.client(Config::default());
    let many = broker.topic("many");
    client.create_topic(broker.new_topic(&many, 16)).unwrap();
    wait_metadata(&client, &many, |t| {
        t.is_some_and(|t| t.partitions.len() == 16)
    });
    assert_eq!(
        client
            .create_topic(broker.new_topic(&many, 1))
            .unwrap_err()
            .code(),
        Some(ErrorCode::TopicAlreadyExists)
    );
    client.delete_topic(&many).unwrap();
    wait_metadata(&client, &many, |t| t.is_none_or(|t| t.error.is_error()));
}

/// Reads `n` messages from the start of every partition of `topic`.
pub fn read_all(
    client: &Client,
    topic: &str,
    partitions: i32,
    n: usize,
) -> Vec<kafka_blocking::ConsumerRecord> {
    let mut consumer = client.consumer().unwrap();
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

pub fn every_codec_keys_headers_nulls_and_idempotence(broker: &Broker) {
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
        let client = broker.client(config);
        let topic = broker.topic(&format!("b-codec-{i}"));
        client.create_topic(broker.new_topic(&topic, 2)).unwrap();
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
                producer.send(r).unwrap()
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
            let headers: Vec<_> = m.headers.iter().collect();
            assert_eq!(headers, [("n", Some(n.to_string().into()))]);
        }
    }
}

/// A 5 MB record (Kafka needs the topic's `max.message.bytes` raised),
/// offsets, fetch at an offset, seek and lag.
pub fn big_record_offsets_seek_and_lag(broker: &Broker) {
    let mut config = Config::default();
    config.producer.max_request_size = 8 << 20;
    let client = broker.client(config);
    let big_topic = broker.topic("big");
    client
        .create_topic(
            broker
                .new_topic(&big_topic, 1)
                .with_config("max.message.bytes", "8388608"),
        )
        .unwrap();
    let producer = client.producer();
    let big: Vec<u8> = (0..5 << 20).map(|i| (i % 253) as u8).collect();
    let r = producer
        .send(
            ProducerRecord::new(&big_topic)
                .with_partition(0)
                .with_key(b"big".to_vec())
                .with_value(big.clone()),
        )
        .and_then(|d| d.wait())
        .unwrap();
    assert_eq!(r.offset, 0);
    for i in 1..10 {
        producer
            .send(
                ProducerRecord::new(&big_topic)
                    .with_partition(0)
                    .with_value(format!("{i}")),
            )
            .and_then(|d| d.wait())
            .unwrap();
    }
    let mut consumer = client.consumer().unwrap();
    assert_eq!(
        offset_at(&consumer, &big_topic, OffsetSpec::Earliest),
        Some(0)
    );
    let got = consumer.fetch(&big_topic, 0, 0, 1).unwrap();
    assert_eq!(got[0].value.as_deref(), Some(&big[..]));
    let got = consumer.fetch(&big_topic, 0, 5, 1 << 20).unwrap();
    assert_eq!(got[0].offset, 5);
    assert_eq!(got[0].value.as_deref(), Some(&b"5"[..]));
    let tp = TopicPartition::new(&big_topic, 0);
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

pub fn many_partitions(broker: &Broker) {
    let client = broker.client(Config::default());
    let wide = broker.topic("wide");
    client.create_topic(broker.new_topic(&wide, 32)).unwrap();
    let producer = client.producer();
    let deliveries: Vec<_> = (0..32 * 10)
        .map(|i| {
            producer
                .send(
                    ProducerRecord::new(&wide)
                        .with_partition(i % 32)
                        .with_value(format!("{i}")),
                )
                .unwrap()
        })
        .collect();
    for d in deliveries {
        assert!(d.wait().unwrap().offset < 10);
    }
    let got = read_all(&client, &wide, 32, 320);
    let mut next = [0i64; 32];
    for m in got {
        let p = m.partition as usize;
        assert_eq!(m.offset, next[p], "partition {p} in order");
        next[p] += 1;
    }
    assert!(next.iter().all(|n| *n == 10));
}

/// `config` with its bootstrap list set to `servers`.
fn at(servers: &str, mut config: kafka_blocking::Config) -> kafka_blocking::Config {
    config.bootstrap = kafka_blocking::BrokerAddr::parse_list(servers).unwrap();
    config
}

/// Partition 0's offset of `topic` by `spec`.
pub fn offset_at(
    consumer: &kafka_blocking::Consumer,
    topic: &str,
    spec: OffsetSpec,
) -> Option<i64> {
    let tp = TopicPartition::new(topic, 0);
    let mut got = consumer.offsets([tp.clone()], spec).unwrap();
    got.remove(&tp).and_then(|r| r.ok()).and_then(|l| l.offset)
}

/// Configs of a topic and of every broker, a config change, partitions
/// added beside a missing topic's error, records deleted, the cluster.
pub fn configs_partitions_records_cluster(broker: &Broker) {
    use kafka_blocking::{AlterConfigOp, ConfigResource, NewPartitions};
    let client = broker.client(Config::default());
    let topic = broker.topic("admin");
    let missing = broker.topic("admin-missing");
    client.create_topic(broker.new_topic(&topic, 1)).unwrap();
    wait_metadata(&client, &topic, |t| {
        t.is_some_and(|t| t.partitions.len() == 1)
    });

    let cluster = client.describe_cluster(false).unwrap();
    let mut resources = vec![ConfigResource::Topic(topic.clone())];
    resources.extend(
        cluster
            .brokers
            .iter()
            .map(|b| ConfigResource::Broker(b.node)),
    );
    // Kafka creates topics asynchronously: the broker answering may not
    // know the topic for a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    let described = loop {
        let d = client.describe_configs(resources.clone(), false).unwrap();
        if d[0].error != ErrorCode::UnknownTopicOrPartition || Instant::now() > deadline {
            break d;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(described.len(), 1 + cluster.brokers.len());
    for d in &described {
        assert_eq!(d.error, ErrorCode::None, "{d:?}");
        assert!(!d.entries.is_empty());
    }
    let features = client.describe_features(None).unwrap();
    assert!(features
        .supported
        .iter()
        .any(|f| f.name == "transaction.version"));

    let altered = client
        .alter_configs(
            [(
                ConfigResource::Topic(topic.clone()),
                vec![AlterConfigOp::Set("segment.ms".into(), "7777777".into())],
            )],
            false,
        )
        .unwrap();
    assert_eq!(altered[0].error, ErrorCode::None, "{altered:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let c = client
            .describe_configs([ConfigResource::Topic(topic.clone())], false)
            .unwrap();
        // A broker that has not learned the topic yet answers
        // UNKNOWN_TOPIC_OR_PARTITION (no entries): ask again.
        let v = c[0].entries.iter().find(|e| e.name == "segment.ms");
        if v.is_some_and(|v| v.value.as_deref() == Some("7777777")) {
            break;
        }
        assert!(Instant::now() < deadline, "{:?}", c[0]);
        std::thread::sleep(Duration::from_millis(100));
    }

    let grown = client
        .create_partitions(
            [
                NewPartitions::new(&topic, 3),
                NewPartitions::new(&missing, 3),
            ],
            false,
        )
        .unwrap();
    assert_eq!(grown[0].error, ErrorCode::None, "{grown:?}");
    assert_eq!(grown[1].error, ErrorCode::UnknownTopicOrPartition);
    wait_metadata(&client, &topic, |t| {
        t.is_some_and(|t| t.partitions.len() == 3)
    });

    let producer = client.producer();
    for i in 0..4 {
        producer
            .send(
                ProducerRecord::new(&topic)
                    .with_partition(2)
                    .with_value(format!("{i}")),
            )
            .unwrap()
            .wait()
            .unwrap();
    }
    let tp = TopicPartition::new(topic.as_str(), 2);
    let deleted = client
        .delete_records([(tp.clone(), -1)].into_iter().collect())
        .unwrap();
    assert_eq!(deleted[&tp], Ok(4));
    client.delete_topic(&topic).unwrap();
    client.close();
}
