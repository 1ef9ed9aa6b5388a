//! Test bodies shared by the Tansu suite (`tansu.rs`) and the Apache Kafka
//! suite (`kafka.rs`): each runs against a [`Broker`].

use kafka_mio::{AdminOutcome, BrokerAddr, Client, Config, Error, Tokens};
use kafka_proto::ErrorCode;

use super::Harness;

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

    pub fn new_topic(&self, name: &str, partitions: i32) -> kafka_mio::NewTopic {
        kafka_mio::NewTopic::new(name, partitions, self.replication)
    }

    pub fn config(&self) -> Config {
        Config::new(BrokerAddr::parse_list(&self.bootstrap).unwrap())
    }

    /// A client with `config` in `h`, on `tokens`; returns its index.
    pub fn client(&self, h: &mut Harness, config: Config, tokens: Tokens) -> usize {
        let client = Client::connect(config, h.poll.registry(), tokens).unwrap();
        h.add(client)
    }

    /// Creates `topic` and checks that it worked.
    pub fn create(&self, h: &mut Harness, c: usize, topic: kafka_mio::NewTopic) {
        let id = h.clients[c].create_topic(topic).unwrap();
        let AdminOutcome::CreateTopics(created) = h.outcome(c, id) else {
            panic!("not a create outcome");
        };
        Error::check_topics(&created).unwrap();
    }
}

pub fn sixteen_partitions(broker: &Broker) {
    let mut h = Harness::new();
    let c = broker.client(&mut h, broker.config(), Tokens::range(100..116));
    let many = broker.topic("many");

    let id = h.clients[c]
        .create_topic(broker.new_topic(&many, 16))
        .unwrap();
    let AdminOutcome::CreateTopics(created) = h.outcome(c, id) else {
        panic!("not a create outcome");
    };
    Error::check_topics(&created).unwrap();

    // Kafka creates topics asynchronously: a broker may list the new
    // topic without partitions or leaders for a moment.
    let deadline = std::time::Instant::now() + super::LIMIT;
    loop {
        let id = h.clients[c].metadata([many.as_str()]).unwrap();
        let AdminOutcome::Metadata(md) = h.outcome(c, id) else {
            panic!("not metadata");
        };
        let ready = md.topic(&many).is_some_and(|t| {
            t.partitions.len() == 16 && t.partitions.iter().all(|p| p.leader.is_some())
        });
        if ready {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{md:?}");
        h.turn(std::time::Duration::from_millis(100));
    }

    let id = h.clients[c]
        .create_topic(broker.new_topic(&many, 1))
        .unwrap();
    let AdminOutcome::CreateTopics(again) = h.outcome(c, id) else {
        panic!("not a create outcome");
    };
    assert_eq!(
        Error::check_topics(&again).unwrap_err().code(),
        Some(ErrorCode::TopicAlreadyExists)
    );

    let id = h.clients[c].delete_topic(&many).unwrap();
    let AdminOutcome::DeleteTopics(deleted) = h.outcome(c, id) else {
        panic!("not a delete outcome");
    };
    Error::check_topics(&deleted).unwrap();
    h.clients[c].close();
}

pub fn produce_and_consume(broker: &Broker) {
    use kafka_mio::{Event, ProducerRecord, SeekTo, TopicPartition};
    let mut h = Harness::new();
    let c = broker.client(&mut h, broker.config(), Tokens::range(200..216));
    let pc = broker.topic("pc");
    broker.create(&mut h, c, broker.new_topic(&pc, 2));
    for i in 0..100 {
        h.clients[c]
            .send(
                ProducerRecord::new(&pc)
                    .with_partition(i % 2)
                    .with_value(format!("{i}")),
            )
            .unwrap();
    }
    h.clients[c].flush().unwrap();
    h.until(|h| h.seen[c].contains(&Event::FlushComplete));
    let delivered = h.seen[c]
        .iter()
        .flat_map(Event::outcomes)
        .filter(|(_, r)| r.is_ok())
        .count();
    assert_eq!(delivered, 100);

    let tps = [
        TopicPartition::new(pc.as_str(), 0),
        TopicPartition::new(pc.as_str(), 1),
    ];
    h.clients[c].assign(tps.clone()).unwrap();
    for tp in &tps {
        h.clients[c].seek(tp, SeekTo::Earliest).unwrap();
    }
    let mut next = [0i64; 2];
    let deadline = std::time::Instant::now() + super::LIMIT;
    while next.iter().sum::<i64>() < 100 {
        assert!(std::time::Instant::now() < deadline, "only {next:?}");
        h.turn(std::time::Duration::from_millis(50));
        while let Some(fetched) = h.clients[c].poll_records() {
            for r in fetched {
                let r = r.unwrap();
                let p = r.partition as usize;
                assert_eq!(r.offset, next[p]);
                next[p] += 1;
                let v: i64 = std::str::from_utf8(r.value.as_ref().unwrap())
                    .unwrap()
                    .parse()
                    .unwrap();
                assert_eq!(v, 2 * r.offset + r.partition as i64);
            }
        }
    }
}

/// Sends `records` and waits until each has its report; returns them in
/// send order.
pub fn deliver(
    h: &mut Harness,
    c: usize,
    records: Vec<kafka_mio::ProducerRecord>,
) -> Vec<kafka_mio::DeliveryReport> {
    use kafka_mio::Event;
    let ids: Vec<_> = records
        .into_iter()
        .map(|r| h.clients[c].send(r).unwrap())
        .collect();
    h.clients[c].flush().unwrap();
    let find = |h: &Harness, id| {
        h.seen[c]
            .iter()
            .flat_map(Event::outcomes)
            .find_map(|(got, result)| (got == id).then_some(result))
    };
    h.until(|h| ids.iter().all(|id| find(h, *id).is_some()));
    ids.iter()
        .map(|id| find(h, *id).unwrap().expect("delivered"))
        .collect()
}

pub fn every_codec_with_keys_headers_and_nulls(broker: &Broker) {
    use bytes::Bytes;
    use kafka_mio::{Compression, ProducerRecord, SeekTo, TopicPartition};
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    for (i, codec) in codecs.into_iter().enumerate() {
        let mut h = Harness::new();
        let mut config = broker.config();
        config.producer.compression = codec;
        let c = broker.client(&mut h, config, Tokens::range(300..316));
        let topic = broker.topic(&format!("mio-codec-{i}"));
        broker.create(&mut h, c, broker.new_topic(&topic, 1));
        let records: Vec<ProducerRecord> = (0..50)
            .map(|n| {
                let mut r = ProducerRecord::new(&topic)
                    .with_key(format!("k{n}"))
                    .with_header("n", Some(Bytes::from(n.to_string())))
                    .with_header("n", None);
                if n % 5 != 0 {
                    r = r.with_value(format!("v{n}"));
                }
                r
            })
            .collect();
        let reports = deliver(&mut h, c, records);
        assert!(reports
            .iter()
            .enumerate()
            .all(|(n, r)| r.offset == n as i64));

        let tp = TopicPartition::new(&topic, 0);
        h.clients[c].assign([tp.clone()]).unwrap();
        h.clients[c].seek(&tp, SeekTo::Earliest).unwrap();
        let mut next = 0i64;
        let deadline = std::time::Instant::now() + super::LIMIT;
        while next < 50 {
            assert!(
                std::time::Instant::now() < deadline,
                "{codec:?}: only {next}"
            );
            h.turn(std::time::Duration::from_millis(50));
            while let Some(fetched) = h.clients[c].poll_records() {
                for r in fetched {
                    let r = r.unwrap();
                    assert_eq!(r.offset, next);
                    assert_eq!(r.key.as_deref(), Some(format!("k{next}").as_bytes()));
                    let value = (next % 5 != 0).then(|| format!("v{next}"));
                    assert_eq!(r.value.as_deref(), value.as_deref().map(str::as_bytes));
                    let headers: Vec<_> = r.headers.iter().collect();
                    assert_eq!(headers[0], ("n", Some(Bytes::from(next.to_string()))));
                    assert_eq!(headers[1], ("n", None));
                    next += 1;
                }
            }
        }
    }
}

/// A 5 MB record (Kafka needs the topic's `max.message.bytes` raised),
/// offsets and lag.
pub fn a_five_megabyte_record_offsets_and_lag(broker: &Broker) {
    use kafka_mio::{Event, OffsetSpec, ProducerRecord, SeekTo, TopicPartition};
    let mut h = Harness::new();
    let mut config = broker.config();
    config.producer.max_request_size = 8 << 20;
    let c = broker.client(&mut h, config, Tokens::range(500..516));
    let big_topic = broker.topic("big");
    broker.create(
        &mut h,
        c,
        broker
            .new_topic(&big_topic, 1)
            .with_config("max.message.bytes", "8388608"),
    );
    let big: Vec<u8> = (0..5 << 20).map(|i| (i % 251) as u8).collect();
    let reports = deliver(
        &mut h,
        c,
        vec![
            ProducerRecord::new(&big_topic).with_value(big.clone()),
            ProducerRecord::new(&big_topic).with_value("small"),
        ],
    );
    assert_eq!((reports[0].offset, reports[1].offset), (0, 1));

    let tp = TopicPartition::new(big_topic.as_str(), 0);
    let id = h.clients[c]
        .core_mut()
        .consumer()
        .offsets_for(
            std::time::Instant::now(),
            [tp.clone()],
            OffsetSpec::Earliest,
        )
        .unwrap();
    let listed = |h: &Harness| {
        h.seen[c].iter().find_map(|e| match e {
            Event::Consumer(kafka_state::ConsumerEvent::OffsetsListed { id: got, offsets })
                if *got == id =>
            {
                Some(offsets.clone())
            }
            _ => None,
        })
    };
    h.until(|h| listed(h).is_some());
    assert_eq!(listed(&h).unwrap()[&tp].as_ref().unwrap().offset, Some(0));

    h.clients[c].assign([tp.clone()]).unwrap();
    h.clients[c].seek(&tp, SeekTo::Earliest).unwrap();
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + super::LIMIT;
    while got.len() < 2 {
        assert!(std::time::Instant::now() < deadline);
        h.turn(std::time::Duration::from_millis(50));
        while let Some(fetched) = h.clients[c].poll_records() {
            got.extend(fetched.into_iter().map(Result::unwrap));
        }
    }
    assert_eq!(got[0].value.as_deref(), Some(&big[..]));
    assert_eq!(got[1].value.as_deref(), Some(&b"small"[..]));
    assert_eq!(h.clients[c].core_mut().consumer().lag(&tp), Some(0));
}

/// Configs (a topic's and a broker's, each from the right broker; an
/// incremental change), partitions added, records deleted, and the
/// cluster with its features, from the mio loop.
pub fn configs_partitions_records_cluster(broker: &Broker) {
    use kafka_mio::{
        AlterConfigOp, ConfigResource, ConfigSource, NewPartitions, ProducerRecord, TopicPartition,
    };
    let mut h = Harness::new();
    let c = broker.client(&mut h, broker.config(), Tokens::range(200..216));
    let topic = broker.topic("mio-admin");
    broker.create(&mut h, c, broker.new_topic(&topic, 1));

    let id = h.clients[c].describe_cluster(false).unwrap();
    let AdminOutcome::DescribeCluster(cluster) = h.outcome(c, id) else {
        panic!("not a cluster description");
    };
    let node = cluster.controller.expect("a controller");
    assert!(
        cluster.brokers.iter().any(|b| b.node == node),
        "{cluster:?}"
    );
    let id = h.clients[c].describe_features(Some(node)).unwrap();
    let AdminOutcome::DescribeFeatures(features) = h.outcome(c, id) else {
        panic!("not features");
    };
    assert!(features
        .supported
        .iter()
        .any(|f| f.name == "transaction.version"));

    // Kafka creates topics asynchronously: the broker answering may not
    // know the topic for a moment.
    let deadline = std::time::Instant::now() + super::LIMIT;
    loop {
        let id = h.clients[c]
            .alter_configs(
                [(
                    ConfigResource::Topic(topic.clone()),
                    vec![AlterConfigOp::Set("retention.ms".into(), "654321".into())],
                )],
                false,
            )
            .unwrap();
        let AdminOutcome::AlterConfigs(altered) = h.outcome(c, id) else {
            panic!("not an alter outcome");
        };
        if altered[0].error == ErrorCode::UnknownTopicOrPartition
            && std::time::Instant::now() < deadline
        {
            h.turn(std::time::Duration::from_millis(100));
            continue;
        }
        assert_eq!(altered[0].error, ErrorCode::None, "{altered:?}");
        break;
    }
    // Kafka applies the change through its metadata log: look until seen.
    let deadline = std::time::Instant::now() + super::LIMIT;
    loop {
        let id = h.clients[c]
            .describe_configs(
                [
                    ConfigResource::Topic(topic.clone()),
                    ConfigResource::Broker(node),
                ],
                false,
            )
            .unwrap();
        let AdminOutcome::DescribeConfigs(described) = h.outcome(c, id) else {
            panic!("not configs");
        };
        assert_eq!(described[1].error, ErrorCode::None, "{:?}", described[1]);
        assert!(!described[1].entries.is_empty());
        // A broker that has not learned the new topic yet answers
        // UNKNOWN_TOPIC_OR_PARTITION (no entries): ask again.
        let retention = described[0]
            .entries
            .iter()
            .find(|e| e.name == "retention.ms");
        if let Some(retention) = retention.filter(|r| r.value.as_deref() == Some("654321")) {
            assert_eq!(retention.source, ConfigSource::DynamicTopic);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{:?}", described[0]);
        h.turn(std::time::Duration::from_millis(100));
    }

    let id = h.clients[c]
        .create_partitions([NewPartitions::new(&topic, 2)], false)
        .unwrap();
    let AdminOutcome::CreatePartitions(grown) = h.outcome(c, id) else {
        panic!("not a partitions outcome");
    };
    assert_eq!(grown[0].error, ErrorCode::None, "{grown:?}");

    deliver(
        &mut h,
        c,
        (0..5)
            .map(|i| {
                ProducerRecord::new(&topic)
                    .with_partition(0)
                    .with_value(format!("{i}"))
            })
            .collect(),
    );
    let tp = TopicPartition::new(topic.as_str(), 0);
    let id = h.clients[c]
        .delete_records([(tp.clone(), 3)].into_iter().collect())
        .unwrap();
    let AdminOutcome::DeleteRecords(deleted) = h.outcome(c, id) else {
        panic!("not a delete-records outcome");
    };
    assert_eq!(deleted[&tp], Ok(3));
    h.clients[c].close();
}
