//! Test bodies shared by the Tansu suite (`tansu.rs`) and the Apache Kafka
//! suite (`kafka.rs`): each runs against a [`Broker`], which says where
//! the broker is and what it can do.

// Each test binary uses only some of the bodies.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Duration;

use kafka_proto::ErrorCode;
use kafka_tokio::{
    Acks, AlterConfigOp, BrokerAddr, Client, Compression, Config, ConfigResource, ConfigSource,
    NewPartitions, NewTopic, OffsetSpec, ProducerRecord, ResourceConfigs, ResourceOutcome, SeekTo,
    TopicOutcome, TopicPartition,
};

/// Where the tests run.
pub struct Broker {
    /// `host:port[,..]`.
    pub bootstrap: String,
    /// The replication factor of every topic the tests create.
    pub replication: i16,
    /// Whether `ListOffsets` latest is the high watermark. Tansu's is off
    /// by a batch, so its tests learn the end from fetches only.
    pub exact_latest: bool,
    /// Prepended to every topic name: a shared cluster outlives a test,
    /// and test binaries may run at the same time.
    pub prefix: String,
}

impl Broker {
    pub fn topic(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    pub fn new_topic(&self, name: &str, partitions: i32) -> NewTopic {
        NewTopic::new(name, partitions, self.replication)
    }

    pub async fn client(&self, tune: impl FnOnce(&mut Config)) -> Client {
        let mut config = Config::new(BrokerAddr::parse_list(&self.bootstrap).unwrap());
        tune(&mut config);
        tokio::time::timeout(Duration::from_secs(30), Client::connect(config))
            .await
            .expect("connects in time")
            .unwrap()
    }
}

pub async fn next_record(
    consumer: &mut kafka_tokio::Consumer,
) -> Option<Result<kafka_tokio::ConsumerRecord, kafka_tokio::Error>> {
    use futures_core::Stream;
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *consumer).poll_next(cx)).await
}

/// The next record within 20 s; panics on an error or a timeout.
pub async fn next_in_time(consumer: &mut kafka_tokio::Consumer) -> kafka_tokio::ConsumerRecord {
    tokio::time::timeout(Duration::from_secs(20), next_record(consumer))
        .await
        .expect("a record in time")
        .unwrap()
        .unwrap()
}

/// Create, list in metadata, refuse a second create, delete.
pub async fn topics(broker: &Broker) {
    let client = broker.client(|_| {}).await;
    let name = broker.topic("many");
    client
        .create_topic(broker.new_topic(&name, 16))
        .await
        .unwrap();
    // Kafka creates topics asynchronously: the broker answering Metadata
    // may not know the new topic's partitions for a moment (Tansu and the
    // mock know them at once).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let md = client.metadata([name.as_str()]).await.unwrap();
        let n = md.topic(&name).map_or(0, |t| t.partitions.len());
        if n == 16 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{n} partitions");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        client
            .create_topic(broker.new_topic(&name, 1))
            .await
            .unwrap_err()
            .code(),
        Some(ErrorCode::TopicAlreadyExists)
    );
    client.delete_topic(&name).await.unwrap();
    client.close().await;
}

/// Every codec, acks setting and idempotence, with keys, headers and null
/// values: each record gets a report, offsets grow by one per partition,
/// and what is read back is what was sent.
pub async fn produce_every_codec_and_acks(broker: &Broker) {
    let cases = [
        (Compression::None, Acks::All, true),
        (Compression::Gzip, Acks::All, true),
        (Compression::Snappy, Acks::Leader, false),
        (Compression::Lz4, Acks::All, true),
        (Compression::Zstd, Acks::Leader, false),
        (Compression::Gzip, Acks::All, false),
        (Compression::Zstd, Acks::All, true),
        (Compression::None, Acks::None, false),
    ];
    for (i, (codec, acks, idempotent)) in cases.into_iter().enumerate() {
        let client = broker
            .client(|c| {
                c.producer.compression = codec;
                c.producer.acks = acks;
                c.producer.enable_idempotence = idempotent;
            })
            .await;
        let topic = broker.topic(&format!("codec-{i}"));
        client
            .create_topic(broker.new_topic(&topic, 4))
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
        let reports = producer.send_batch(records.clone()).await;
        let mut next = HashMap::new();
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
        // Read everything back (acks=0 too: a flushed and closed stream
        // arrives whole): same keys, values (nulls included) and headers
        // (repeated keys, null values).
        if acks == Acks::None {
            client.close().await;
        }
        let reader = if acks == Acks::None {
            broker.client(|_| {}).await
        } else {
            client.clone()
        };
        let mut consumer = reader.consumer().unwrap();
        let tps = consumer.assign_topic(&topic).await.unwrap();
        for tp in &tps {
            consumer.seek(tp.clone(), SeekTo::Earliest).await.unwrap();
        }
        let mut got = Vec::new();
        while got.len() < 500 {
            got.push(next_in_time(&mut consumer).await);
        }
        let sent: Vec<ProducerRecord> = records.collect();
        for r in &got {
            let key = r.key.clone().unwrap();
            let same: Vec<&ProducerRecord> = sent
                .iter()
                .filter(|s| s.key.as_ref() == Some(&key))
                .collect();
            assert!(same.iter().any(|s| s.value == r.value), "{codec:?}: {r:?}");
            let headers: Vec<(String, Option<bytes::Bytes>)> =
                r.headers.iter().map(|(k, v)| (k.to_string(), v)).collect();
            assert_eq!(headers.len(), 2);
            assert_eq!(headers[1], ("n".to_string(), None));
        }
        // Per key, values come in send order (one key, one partition).
        let mut last: HashMap<bytes::Bytes, i64> = HashMap::new();
        for r in &got {
            if let Some(v) = &r.value {
                let n: i64 = std::str::from_utf8(v)
                    .unwrap()
                    .split(' ')
                    .nth(1)
                    .unwrap()
                    .parse()
                    .unwrap();
                let prev = last.insert(r.key.clone().unwrap(), n);
                assert!(prev.is_none_or(|p| p < n), "{codec:?}: {n} after {prev:?}");
            }
        }
        for tp in &tps {
            assert_eq!(consumer.lag(tp.clone()).await.unwrap(), Some(0));
        }
        if broker.exact_latest {
            let total: i64 = consumer
                .offsets(tps.clone(), OffsetSpec::Latest)
                .await
                .unwrap()
                .values()
                .map(|o| o.as_ref().unwrap().offset.unwrap())
                .sum();
            assert_eq!(total, 500, "{codec:?}");
        }
        reader.close().await;
        client.close().await;
    }
}

/// Offsets by time and position, seek, lag and position.
pub async fn seek_offsets_and_lag(broker: &Broker) {
    let client = broker.client(|_| {}).await;
    let topic = broker.topic("seek");
    client
        .create_topic(broker.new_topic(&topic, 1))
        .await
        .unwrap();
    let reports = client
        .producer()
        .send_batch((0..100).map(|i| {
            ProducerRecord::new(&topic)
                .with_value(format!("v{i}"))
                .with_timestamp(1_700_000_000_000 + i)
        }))
        .await;
    assert!(reports.failed() == 0);
    let mut consumer = client.consumer().unwrap();
    let tp = TopicPartition::new(topic.as_str(), 0);
    let earliest = consumer
        .offsets([tp.clone()], OffsetSpec::Earliest)
        .await
        .unwrap();
    assert_eq!(earliest[&tp].as_ref().unwrap().offset, Some(0));
    if broker.exact_latest {
        // Kafka answers the high watermark and looks records up by time.
        let latest = consumer
            .offsets([tp.clone()], OffsetSpec::Latest)
            .await
            .unwrap();
        assert_eq!(latest[&tp].as_ref().unwrap().offset, Some(100));
        let at = consumer
            .offsets([tp.clone()], OffsetSpec::Timestamp(1_700_000_000_042))
            .await
            .unwrap();
        assert_eq!(at[&tp].as_ref().unwrap().offset, Some(42));
    }
    consumer.assign([tp.clone()]).await.unwrap();
    // Before any fetch the end is unknown.
    assert_eq!(consumer.lag(tp.clone()).await.unwrap(), None);
    consumer.seek(tp.clone(), SeekTo::Offset(90)).await.unwrap();
    let r = next_in_time(&mut consumer).await;
    assert_eq!((r.offset, r.value.as_deref()), (90, Some(&b"v90"[..])));
    assert_eq!(r.timestamp, 1_700_000_000_090);
    // The high watermark comes from the fetch; after taking the fetched
    // records lag is 0.
    let mut last = r.offset;
    while last < 99 {
        last = next_in_time(&mut consumer).await.offset;
    }
    assert_eq!(consumer.lag(tp.clone()).await.unwrap(), Some(0));
    assert_eq!(consumer.position(tp.clone()).await.unwrap(), Some(100));
    // Back to the start: lag is the whole log again once fetched.
    consumer.seek(tp.clone(), SeekTo::Earliest).await.unwrap();
    assert_eq!(next_in_time(&mut consumer).await.offset, 0);
    client.close().await;
}

/// 64 partitions, 20 records each, read back in offset order per
/// partition.
pub async fn many_partitions(broker: &Broker) {
    let client = broker.client(|_| {}).await;
    let topic = broker.topic("wide");
    client
        .create_topic(broker.new_topic(&topic, 64))
        .await
        .unwrap();
    let reports = client
        .producer()
        .send_batch((0..64 * 20).map(|i| {
            ProducerRecord::new(&topic)
                .with_partition(i % 64)
                .with_value(format!("{i}"))
        }))
        .await;
    for r in &reports {
        let r = r.unwrap();
        assert!(r.offset() < 20, "{r:?}");
    }
    let mut consumer = client.consumer().unwrap();
    let tps = consumer.assign_topic(&topic).await.unwrap();
    assert_eq!(tps.len(), 64);
    for tp in &tps {
        consumer.seek(tp.clone(), SeekTo::Earliest).await.unwrap();
    }
    let mut count = HashMap::<i32, i64>::new();
    for _ in 0..64 * 20 {
        let r = next_in_time(&mut consumer).await;
        let n = count.entry(r.partition).or_default();
        assert_eq!(
            r.offset, *n,
            "partition {} value {:?}",
            r.partition, r.value
        );
        // Value i went to partition i % 64, in order.
        let v: i64 = std::str::from_utf8(r.value.as_deref().unwrap())
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(v, r.offset * 64 + r.partition as i64);
        *n += 1;
    }
    assert!(count.values().all(|n| *n == 20));
    client.close().await;
}

/// A 5 MB record: produced and read back whole. Kafka needs the topic's
/// `max.message.bytes` raised (1 MB by default); the consumer's
/// per-partition fetch limit is not a hard limit, the first batch always
/// comes.
pub async fn a_five_megabyte_record(broker: &Broker) {
    let client = broker
        .client(|c| c.producer.max_request_size = 8 << 20)
        .await;
    let topic = broker.topic("big");
    client
        .create_topic(
            broker
                .new_topic(&topic, 1)
                .with_config("max.message.bytes", "8388608"),
        )
        .await
        .unwrap();
    let value: Vec<u8> = (0..5 << 20).map(|i| (i % 251) as u8).collect();
    let report = client
        .producer()
        .send(ProducerRecord::new(&topic).with_value(value.clone()))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!((report.partition, report.offset), (0, 0));
    let mut consumer = client.consumer().unwrap();
    let tp = TopicPartition::new(topic.as_str(), 0);
    consumer.assign([tp.clone()]).await.unwrap();
    consumer.seek(tp, SeekTo::Earliest).await.unwrap();
    let r = next_in_time(&mut consumer).await;
    assert_eq!(r.value.as_deref(), Some(&value[..]));
    client.close().await;
}

/// The group settings the group tests use: short timeouts so a member
/// that leaves is noticed quickly, manual commits so the test decides
/// what is committed.
pub fn group_config(group: &str) -> kafka_tokio::GroupConfig {
    let mut g = kafka_tokio::GroupConfig::new(group);
    g.session_timeout = Duration::from_secs(10);
    g.heartbeat_interval = Duration::from_secs(1);
    g.rebalance_timeout = Some(Duration::from_secs(15));
    g.enable_auto_commit = false;
    g
}

/// Two members of one group split a 4-partition topic between them with
/// no partition owned twice; commits are acknowledged and resumed from;
/// when one member leaves, the other takes every partition over and the
/// rebalance listener hears of each change.
pub async fn consumer_group_shares_and_hands_over(broker: &Broker) {
    use kafka_tokio::Rebalance;
    use std::collections::{BTreeSet, HashSet};
    use std::sync::{Arc, Mutex};

    const N: u64 = 400;
    let topic = broker.topic("group");
    let group = broker.topic("group-g");
    let admin = broker.client(|_| {}).await;
    admin
        .create_topic(broker.new_topic(&topic, 4))
        .await
        .unwrap();
    let reports = admin
        .producer()
        .send_batch((0..N).map(|i| {
            ProducerRecord::new(&topic)
                .with_partition((i % 4) as i32)
                .with_value(i.to_string())
        }))
        .await;
    assert!(reports.failed() == 0);
    let seq = |r: &kafka_tokio::ConsumerRecord| -> u64 {
        std::str::from_utf8(r.value.as_deref().unwrap())
            .unwrap()
            .parse()
            .unwrap()
    };
    let all: BTreeSet<TopicPartition> = (0..4)
        .map(|p| TopicPartition::new(topic.as_str(), p))
        .collect();

    // Member A alone owns everything; it commits what it read.
    let member = |c: &mut Config| {
        c.group = Some(group_config(&group));
        c.consumer.auto_offset_reset = kafka_tokio::AutoOffsetReset::Earliest;
    };
    let a_client = broker.client(member).await;
    let mut a = a_client.consumer().unwrap();
    let a_log = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&a_log);
    a.on_rebalance(move |r| log.lock().unwrap().push(r));
    a.subscribe([topic.as_str()]).await.unwrap();
    assert_eq!(a.subscription().unwrap(), vec![topic.clone()]);
    let mut seen: HashSet<u64> = HashSet::new();
    for _ in 0..100 {
        seen.insert(seq(&next_in_time(&mut a).await));
    }
    let assigned: BTreeSet<_> = a.assignment().unwrap().into_iter().collect();
    assert_eq!(assigned, all, "a lone member owns every partition");
    assert!(
        matches!(&a_log.lock().unwrap()[..], [Rebalance::Assigned(tps)] if tps.len() == 4),
        "{:?}",
        a_log.lock().unwrap()
    );
    let committed = tokio::time::timeout(Duration::from_secs(30), a.commit())
        .await
        .expect("commit in time")
        .unwrap();
    let total: i64 = committed.values().map(|o| o.offset).sum();
    assert_eq!(total, 100, "the commit covers the 100 records read");
    assert_eq!(a.committed().unwrap(), committed);
    let meta = a.group_metadata().unwrap().expect("in a group");
    assert_eq!(meta.group_id, group);
    assert!(meta.generation_id >= 1 && !meta.member_id.is_empty());

    // Member B joins: both keep polling until every record was seen, and
    // then each owns a share, the shares disjoint and complete.
    let b_client = broker.client(member).await;
    let mut b = b_client.consumer().unwrap();
    let b_log = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&b_log);
    b.on_rebalance(move |r| log.lock().unwrap().push(r));
    b.subscribe([topic.as_str()]).await.unwrap();
    let mut b_first: HashMap<TopicPartition, i64> = HashMap::new();
    let shared = tokio::time::timeout(Duration::from_secs(90), async {
        loop {
            tokio::select! {
                r = next_record(&mut a) => { seen.insert(seq(&r.unwrap().unwrap())); }
                r = next_record(&mut b) => {
                    let r = r.unwrap().unwrap();
                    b_first.entry(TopicPartition::new(&*r.topic, r.partition)).or_insert(r.offset);
                    seen.insert(seq(&r));
                }
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            let (sa, sb) = (a.assignment().unwrap(), b.assignment().unwrap());
            if seen.len() as u64 == N && !sa.is_empty() && !sb.is_empty() {
                break (sa, sb);
            }
        }
    })
    .await
    .expect("the two members share the topic and read every record");
    let (sa, sb): (BTreeSet<_>, BTreeSet<_>) = (
        shared.0.into_iter().collect(),
        shared.1.into_iter().collect(),
    );
    assert!(sa.is_disjoint(&sb), "{sa:?} and {sb:?} overlap");
    assert_eq!(sa.union(&sb).cloned().collect::<BTreeSet<_>>(), all);
    assert!(
        a_log
            .lock()
            .unwrap()
            .iter()
            .any(|r| matches!(r, Rebalance::Revoked(_))),
        "A gave partitions up: {:?}",
        a_log.lock().unwrap()
    );
    // B started each partition it got where A had committed it (A
    // commits nothing else: auto-commit is off), or at the start.
    for (tp, first) in &b_first {
        let from = committed.get(tp).map_or(0, |o| o.offset);
        assert_eq!(*first, from, "B's first record of {tp}");
    }
    drop(a);
    a_client.close().await;

    // A left (LeaveGroup on close): B takes everything over well before
    // the session timeout would have expired A.
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            tokio::select! {
                r = next_record(&mut b) => { r.unwrap().unwrap(); }
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            if b.assignment().unwrap().len() == 4 {
                break;
            }
        }
    })
    .await
    .expect("B owns every partition after A left");
    assert!(started.elapsed() < Duration::from_secs(10));
    let assigned_to_b: usize = b_log
        .lock()
        .unwrap()
        .iter()
        .map(|r| match r {
            Rebalance::Assigned(tps) => tps.len(),
            _ => 0,
        })
        .sum();
    assert!(assigned_to_b >= 4, "{:?}", b_log.lock().unwrap());
    drop(b);
    b_client.close().await;
    admin.close().await;
}

/// A consume-transform-produce loop as one transactional client (a group
/// member and a transactional producer): each transaction writes the
/// transformed records and commits the offsets read with them; every
/// third one also writes records it then aborts. A read_committed reader
/// sees every input record transformed exactly once and nothing aborted,
/// and the group's committed offsets are the end of the input.
pub async fn consume_transform_produce(broker: &Broker) {
    use kafka_tokio::{Committed, IsolationLevel, OffsetAndMetadata};
    use std::collections::BTreeMap;

    const N: usize = 300;
    let input = broker.topic("ctp-in");
    let output = broker.topic("ctp-out");
    let group = broker.topic("ctp-g");
    let admin = broker.client(|_| {}).await;
    for t in [&input, &output] {
        admin.create_topic(broker.new_topic(t, 3)).await.unwrap();
    }
    let reports = admin
        .producer()
        .send_batch((0..N).map(|i| {
            ProducerRecord::new(&input)
                .with_partition((i % 3) as i32)
                .with_value(format!("r{i}"))
        }))
        .await;
    assert!(reports.failed() == 0);

    let txn_id = broker.topic("ctp-txn");
    let client = broker
        .client(|c| {
            c.group = Some(group_config(&group));
            c.consumer.auto_offset_reset = kafka_tokio::AutoOffsetReset::Earliest;
            c.consumer.isolation_level = IsolationLevel::ReadCommitted;
            c.producer.transactional_id = Some(txn_id.clone());
        })
        .await;
    let producer = client.producer();
    // Nothing may be sent before init.
    let early = producer
        .send(ProducerRecord::new(&output).with_value("early"))
        .await;
    assert!(
        matches!(early, Err(kafka_tokio::Error::Transaction(_))),
        "{early:?}"
    );
    tokio::time::timeout(Duration::from_secs(60), producer.init_transactions())
        .await
        .expect("init in time")
        .unwrap();
    let mut consumer = client.consumer().unwrap();
    consumer.subscribe([input.as_str()]).await.unwrap();
    let mut read = 0;
    let mut round = 0;
    while read < N {
        round += 1;
        producer.begin_transaction().await.unwrap();
        if round % 3 == 0 {
            for i in 0..5 {
                let r = ProducerRecord::new(&output).with_value(format!("junk{round}-{i}"));
                drop(producer.send(r).await.unwrap());
            }
            producer.abort_transaction().await.unwrap();
            continue;
        }
        let mut offsets: Committed = BTreeMap::new();
        let mut deliveries = Vec::new();
        for _ in 0..40.min(N - read) {
            let r = next_in_time(&mut consumer).await;
            let value = std::str::from_utf8(r.value.as_deref().unwrap()).unwrap();
            let out = ProducerRecord::new(&output)
                .with_partition(r.partition)
                .with_value(format!("out-{value}"));
            deliveries.push(producer.send(out).await.unwrap());
            offsets.insert(
                TopicPartition::new(&*r.topic, r.partition),
                OffsetAndMetadata::new(r.offset + 1, None),
            );
            read += 1;
        }
        let meta = consumer.group_metadata().unwrap().expect("in the group");
        producer
            .send_offsets_to_transaction(offsets, &meta)
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(60), producer.commit_transaction())
            .await
            .expect("commit in time")
            .unwrap();
        for d in deliveries {
            d.await.expect("a committed record was written");
        }
    }
    drop(consumer);

    // A read_committed reader outside the group.
    let reader = broker
        .client(|c| {
            c.consumer.isolation_level = IsolationLevel::ReadCommitted;
            c.consumer.auto_offset_reset = kafka_tokio::AutoOffsetReset::Earliest;
        })
        .await;
    let mut r = reader.consumer().unwrap();
    r.assign_topic(&output).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < N {
        let rec = next_in_time(&mut r).await;
        seen.push(String::from_utf8(rec.value.unwrap().to_vec()).unwrap());
    }
    // Nothing more (no junk, no duplicate) within a second.
    let extra = tokio::time::timeout(Duration::from_secs(1), next_record(&mut r)).await;
    assert!(extra.is_err(), "a record after the last: {extra:?}");
    seen.sort();
    let mut want: Vec<String> = (0..N).map(|i| format!("out-r{i}")).collect();
    want.sort();
    assert_eq!(seen, want);
    let committed = admin.group_offsets(&group).await.expect("group offsets");
    let total: i64 = committed
        .offsets
        .values()
        .map(|o| o.as_ref().expect("committed").offset)
        .sum();
    assert_eq!(total, N as i64, "{committed:?}");
}

/// Waits until the metadata lists `n` partitions of `topic` (Kafka
/// propagates changes to every broker asynchronously).
async fn partitions_become(client: &Client, topic: &str, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let md = client.metadata([topic]).await.unwrap();
        let have = md.topic(topic).map_or(0, |t| t.partitions.len());
        if have == n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{topic} has {have} partitions, expected {n}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn entry<'a>(configs: &'a ResourceConfigs, name: &str) -> &'a kafka_tokio::ConfigEntry {
    configs
        .entries
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("{} has no {name}", configs.resource))
}

/// Describe a topic's and every broker's configs (each broker answers
/// for itself), alter a topic's configs incrementally (validate only,
/// set, append, subtract, delete), with per-resource errors beside
/// successes.
pub async fn configs(broker: &Broker) {
    let client = broker.client(|_| {}).await;
    let topic = broker.topic("configs");
    let missing = broker.topic("configs-missing");
    client
        .create_topic(
            broker
                .new_topic(&topic, 1)
                .with_config("retention.ms", "3600000"),
        )
        .await
        .unwrap();
    let md = client.metadata([topic.as_str()]).await.unwrap();
    let nodes: Vec<i32> = md.brokers().map(|(n, _)| n).collect();
    assert!(!nodes.is_empty());
    let mut resources = vec![
        ConfigResource::Topic(topic.clone()),
        ConfigResource::Topic(missing.clone()),
    ];
    resources.extend(nodes.iter().map(|&n| ConfigResource::Broker(n)));
    // Kafka creates topics asynchronously: the broker that answers may
    // not know the new topic for a moment (and says it does not exist).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let described = loop {
        let d = client
            .describe_configs(resources.clone(), true)
            .await
            .unwrap();
        if d[0].error != ErrorCode::UnknownTopicOrPartition || std::time::Instant::now() > deadline
        {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(described.len(), 2 + nodes.len());
    let t = &described[0];
    assert_eq!(t.resource, ConfigResource::Topic(topic.clone()));
    assert_eq!(t.error, ErrorCode::None, "{:?}", t.message);
    let retention = entry(t, "retention.ms");
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert_eq!(retention.source, ConfigSource::DynamicTopic);
    assert!(!retention.is_default);
    assert_eq!(retention.synonyms[0].source, ConfigSource::DynamicTopic);
    assert!(
        t.entries.iter().any(|e| e.is_default),
        "some topic config is a default"
    );
    assert_eq!(described[1].error, ErrorCode::UnknownTopicOrPartition);
    assert!(described[1].entries.is_empty());
    for (b, &node) in described[2..].iter().zip(&nodes) {
        assert_eq!(b.resource, ConfigResource::Broker(node));
        assert_eq!(b.error, ErrorCode::None, "broker {node}: {:?}", b.message);
        assert!(!b.entries.is_empty());
        for e in &b.entries {
            assert!(!e.sensitive || e.value.is_none(), "{e:?} shows a secret");
        }
    }

    // Validate only: accepted, nothing changes; the missing topic fails alone.
    let changes = |ops: Vec<AlterConfigOp>| {
        vec![
            (ConfigResource::Topic(topic.clone()), ops),
            (
                ConfigResource::Topic(missing.clone()),
                vec![AlterConfigOp::Set("retention.ms".into(), "1".into())],
            ),
        ]
    };
    let set = vec![AlterConfigOp::Set("retention.ms".into(), "7200000".into())];
    let outcome = client
        .alter_configs(changes(set.clone()), true)
        .await
        .unwrap();
    assert_eq!(
        outcome[0].error,
        ErrorCode::None,
        "{:?}",
        outcome[0].message
    );
    assert_eq!(outcome[1].error, ErrorCode::UnknownTopicOrPartition);
    // A broker that has not learned the topic yet answers
    // UNKNOWN_TOPIC_OR_PARTITION: ask again for a while.
    let topic_configs = || async {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let c = client
                .describe_configs([ConfigResource::Topic(topic.clone())], false)
                .await
                .unwrap()
                .remove(0);
            if c.error != ErrorCode::UnknownTopicOrPartition || std::time::Instant::now() > deadline
            {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let now = topic_configs().await;
    assert_eq!(
        entry(&now, "retention.ms").value.as_deref(),
        Some("3600000")
    );
    // Synonyms only when asked for.
    assert!(now.entries.iter().all(|e| e.synonyms.is_empty()));

    let outcome = client.alter_configs(changes(set), false).await.unwrap();
    assert_eq!(
        outcome[0].error,
        ErrorCode::None,
        "{:?}",
        outcome[0].message
    );
    assert_eq!(outcome[1].error, ErrorCode::UnknownTopicOrPartition);
    // Kafka applies a change through its metadata log: wait for it.
    let read_back = |name: &'static str, want: Option<&'static str>| {
        let topic_configs = &topic_configs;
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                let c = topic_configs().await;
                let e = entry(&c, name).clone();
                if want.is_none_or(|w| e.value.as_deref() == Some(w))
                    || std::time::Instant::now() > deadline
                {
                    return e;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let e = read_back("retention.ms", Some("7200000")).await;
    assert_eq!(e.value.as_deref(), Some("7200000"));

    // A list config: set, append, subtract.
    let cleanup = |op: AlterConfigOp| {
        client.alter_configs([(ConfigResource::Topic(topic.clone()), vec![op])], false)
    };
    let ok =
        |o: Vec<ResourceOutcome>| assert_eq!(o[0].error, ErrorCode::None, "{:?}", o[0].message);
    ok(
        cleanup(AlterConfigOp::Set("cleanup.policy".into(), "delete".into()))
            .await
            .unwrap(),
    );
    ok(cleanup(AlterConfigOp::Append(
        "cleanup.policy".into(),
        "compact".into(),
    ))
    .await
    .unwrap());
    let e = read_back("cleanup.policy", Some("delete,compact")).await;
    assert_eq!(e.value.as_deref(), Some("delete,compact"));
    ok(cleanup(AlterConfigOp::Subtract(
        "cleanup.policy".into(),
        "delete".into(),
    ))
    .await
    .unwrap());
    let e = read_back("cleanup.policy", Some("compact")).await;
    assert_eq!(e.value.as_deref(), Some("compact"));

    // Delete: back to the default.
    ok(cleanup(AlterConfigOp::Delete("retention.ms".into()))
        .await
        .unwrap());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let c = topic_configs().await;
        let e = entry(&c, "retention.ms");
        if e.source != ConfigSource::DynamicTopic {
            assert_ne!(e.value.as_deref(), Some("7200000"));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "retention.ms stays {e:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A bad value fails its resource only.
    let outcome = client
        .alter_configs(
            [
                (
                    ConfigResource::Topic(topic.clone()),
                    vec![AlterConfigOp::Set(
                        "retention.ms".into(),
                        "not-a-number".into(),
                    )],
                ),
                (
                    ConfigResource::Topic(missing.clone()),
                    vec![AlterConfigOp::Set("retention.ms".into(), "1".into())],
                ),
            ],
            false,
        )
        .await
        .unwrap();
    assert_eq!(outcome[0].error, ErrorCode::InvalidConfig, "{outcome:?}");
    assert_eq!(outcome[1].error, ErrorCode::UnknownTopicOrPartition);

    // Caller mistakes never reach a broker.
    for bad in [
        client.describe_configs([], false).await,
        client
            .describe_configs([ConfigResource::Topic("a b".into())], false)
            .await,
        client
            .describe_configs([ConfigResource::Broker(-1)], false)
            .await,
    ] {
        assert!(matches!(bad, Err(kafka_tokio::Error::Misuse(_))), "{bad:?}");
    }
    let bad = client
        .alter_configs([(ConfigResource::Topic(topic.clone()), vec![])], false)
        .await;
    assert!(matches!(bad, Err(kafka_tokio::Error::Misuse(_))), "{bad:?}");
    client.delete_topic(&topic).await.unwrap();
    client.close().await;
}

/// Grow a topic (validate only first); a missing topic and a count that
/// does not grow fail alone.
pub async fn partitions(broker: &Broker) {
    let client = broker.client(|_| {}).await;
    let a = broker.topic("grow-a");
    let b = broker.topic("grow-b");
    let missing = broker.topic("grow-missing");
    client
        .create_topics([broker.new_topic(&a, 2), broker.new_topic(&b, 3)])
        .await
        .unwrap();
    partitions_become(&client, &a, 2).await;
    let ask = || {
        [
            NewPartitions::new(&a, 4),
            NewPartitions::new(&b, 3),
            NewPartitions::new(&missing, 2),
        ]
    };
    let check = |o: &[TopicOutcome]| {
        assert_eq!(o.len(), 3);
        assert_eq!(
            (o[0].name.as_str(), o[0].error),
            (a.as_str(), ErrorCode::None),
            "{o:?}"
        );
        assert_eq!(o[1].error, ErrorCode::InvalidPartitions, "{o:?}");
        assert_eq!(o[2].error, ErrorCode::UnknownTopicOrPartition, "{o:?}");
    };
    check(&client.create_partitions(ask(), true).await.unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    partitions_become(&client, &a, 2).await;
    check(&client.create_partitions(ask(), false).await.unwrap());
    partitions_become(&client, &a, 4).await;
    let bad = client
        .create_partitions([NewPartitions::new(&a, 0)], false)
        .await;
    assert!(matches!(bad, Err(kafka_tokio::Error::Misuse(_))), "{bad:?}");
    client.delete_topics([&a, &b]).await.unwrap();
    client.close().await;
}

/// Delete records before an offset in two partitions (each asked of its
/// leader), beside a partition and a topic that do not exist.
pub async fn delete_records(broker: &Broker) {
    let client = broker.client(|_| {}).await;
    let topic = broker.topic("trim");
    let missing = broker.topic("trim-missing");
    client
        .create_topic(broker.new_topic(&topic, 2))
        .await
        .unwrap();
    partitions_become(&client, &topic, 2).await;
    let reports = client
        .producer()
        .send_batch((0..20).map(|i| {
            ProducerRecord::new(&topic)
                .with_partition(i % 2)
                .with_value(format!("v{i}"))
        }))
        .await;
    assert!(reports.failed() == 0);
    let tp = |p| TopicPartition::new(topic.as_str(), p);
    let before = [
        (tp(0), 4),
        (tp(1), -1),
        (tp(7), 1),
        (TopicPartition::new(missing.as_str(), 0), 1),
    ]
    .into_iter()
    .collect();
    let done = client.delete_records(before).await.unwrap();
    assert_eq!(done.len(), 4);
    assert_eq!(done[&tp(0)], Ok(4), "{done:?}");
    assert_eq!(done[&tp(1)], Ok(10), "{done:?}");
    assert_eq!(done[&tp(7)], Err(ErrorCode::UnknownTopicOrPartition));
    assert_eq!(
        done[&TopicPartition::new(missing.as_str(), 0)],
        Err(ErrorCode::UnknownTopicOrPartition)
    );
    let consumer = client.consumer().unwrap();
    let earliest = consumer
        .offsets([tp(0), tp(1)], OffsetSpec::Earliest)
        .await
        .unwrap();
    assert_eq!(earliest[&tp(0)].as_ref().unwrap().offset, Some(4));
    assert_eq!(earliest[&tp(1)].as_ref().unwrap().offset, Some(10));
    // Past the end: the partition's own error.
    let done = client
        .delete_records([(tp(0), 100)].into_iter().collect())
        .await
        .unwrap();
    assert_eq!(done[&tp(0)], Err(ErrorCode::OffsetOutOfRange));
    let bad = client
        .delete_records([(tp(0), -5)].into_iter().collect())
        .await;
    assert!(matches!(bad, Err(kafka_tokio::Error::Misuse(_))), "{bad:?}");
    client.delete_topic(&topic).await.unwrap();
    client.close().await;
}

/// The cluster as DescribeCluster tells it matches the metadata; the
/// features of every broker include `transaction.version`.
pub async fn cluster(broker: &Broker) {
    let client = broker.client(|_| {}).await;
    let md = client.metadata_all().await.unwrap();
    let c = client.describe_cluster(false).await.unwrap();
    assert_eq!(Some(c.cluster_id.as_str()), md.cluster_id());
    let ids: Vec<i32> = c.brokers.iter().map(|b| b.node).collect();
    let mut expected: Vec<i32> = md.brokers().map(|(n, _)| n).collect();
    expected.sort_unstable();
    assert_eq!(ids, expected);
    let controller = c.controller.expect("a controller");
    assert!(ids.contains(&controller), "{c:?}");
    assert_eq!(c.authorized_operations, None);
    for &node in &ids {
        let f = client.describe_features(Some(node)).await.unwrap();
        assert!(
            f.supported.iter().any(|s| s.name == "transaction.version"),
            "{f:?}"
        );
        assert!(f.finalized_epoch >= 0, "{f:?}");
    }
    let f = client.describe_features(None).await.unwrap();
    assert!(!f.finalized.is_empty(), "{f:?}");
    client.close().await;
}
