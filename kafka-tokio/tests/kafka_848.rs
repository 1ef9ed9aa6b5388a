//! The KIP-848 consumer group protocol (`GroupProtocol::Consumer`) against
//! Apache Kafka 4.4: two members share a topic and hand it over with
//! committed offsets continued; a regular expression subscription picks
//! up a topic created after joining, matched by the broker, and with the
//! classic protocol by the member. The same bodies run on the mock's
//! consumer-group coordinator.

mod common;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use common::{next_in_time, next_record, Broker};
use kafka_testkit::KafkaCluster;
use kafka_tokio::{Config, GroupProtocol, ProducerRecord, TopicPartition};

fn kafka() -> Option<Broker> {
    let cluster = KafkaCluster::shared()?;
    Some(Broker {
        bootstrap: cluster.bootstrap(),
        replication: 3,
        exact_latest: true,
        prefix: format!("k{}-", std::process::id()),
    })
}

fn member(group: &str) -> impl Fn(&mut Config) + '_ {
    move |c: &mut Config| {
        let mut g = common::group_config(group);
        g.group_protocol = GroupProtocol::Consumer;
        c.group = Some(g);
        c.consumer.auto_offset_reset = kafka_tokio::AutoOffsetReset::Earliest;
    }
}

fn seq(r: &kafka_tokio::ConsumerRecord) -> u64 {
    std::str::from_utf8(r.value.as_deref().unwrap())
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn consumer_protocol_members_share_and_hand_over_on_kafka() {
    let Some(broker) = kafka() else { return };
    members_share_and_hand_over(&broker).await;
}

#[tokio::test]
async fn consumer_protocol_members_share_and_hand_over_on_the_mock() {
    let (_mock, broker) = mock();
    members_share_and_hand_over(&broker).await;
}

#[tokio::test]
async fn a_regex_subscription_picks_up_a_new_topic_on_the_mock() {
    let (_mock, broker) = mock();
    regex_picks_up_a_new_topic(&broker, GroupProtocol::Consumer).await;
}

#[tokio::test]
async fn a_classic_regex_subscription_picks_up_a_new_topic_on_the_mock() {
    let (_mock, broker) = mock();
    regex_picks_up_a_new_topic(&broker, GroupProtocol::Classic).await;
}

/// The mock's consumer-group coordinator (KIP-848) with a shorter
/// heartbeat interval, so hand-overs take about a second.
fn mock() -> (kafka_mock::MockCluster, Broker) {
    let mock = kafka_mock::MockCluster::builder()
        .brokers(3)
        .consumer_group_heartbeat_interval_ms(500)
        .build()
        .expect("mock starts");
    let broker = Broker {
        bootstrap: mock.bootstrap(),
        replication: 1,
        exact_latest: true,
        prefix: String::new(),
    };
    (mock, broker)
}

async fn members_share_and_hand_over(broker: &Broker) {
    const N: u64 = 400;
    let topic = broker.topic("share");
    let group = broker.topic("share-g");
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
    let all: BTreeSet<TopicPartition> = (0..4)
        .map(|p| TopicPartition::new(topic.as_str(), p))
        .collect();

    // A alone: every partition; it commits the 100 records it read.
    let a_client = broker.client(member(&group)).await;
    let mut a = a_client.consumer().unwrap();
    a.subscribe([topic.as_str()]).await.unwrap();
    let mut seen: HashSet<u64> = HashSet::new();
    for _ in 0..100 {
        seen.insert(seq(&next_in_time(&mut a).await));
    }
    let owned: BTreeSet<_> = a.assignment().unwrap().into_iter().collect();
    assert_eq!(owned, all, "a lone member owns every partition");
    let committed = tokio::time::timeout(Duration::from_secs(30), a.commit())
        .await
        .expect("commit in time")
        .unwrap();
    assert_eq!(committed.values().map(|o| o.offset).sum::<i64>(), 100);
    let meta = a.group_metadata().unwrap().expect("in a group");
    assert!(meta.generation_id >= 1, "a member epoch: {meta:?}");
    assert_eq!(meta.member_id.len(), 22, "a client-made id: {meta:?}");

    // B joins: A revokes some partitions, B starts them where A committed.
    let b_client = broker.client(member(&group)).await;
    let mut b = b_client.consumer().unwrap();
    b.subscribe([topic.as_str()]).await.unwrap();
    let mut b_first: HashMap<TopicPartition, i64> = HashMap::new();
    let (sa, sb) = tokio::time::timeout(Duration::from_secs(90), async {
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
    let (sa, sb): (BTreeSet<_>, BTreeSet<_>) = (sa.into_iter().collect(), sb.into_iter().collect());
    assert!(sa.is_disjoint(&sb), "{sa:?} and {sb:?} overlap");
    assert_eq!(sa.union(&sb).cloned().collect::<BTreeSet<_>>(), all);
    for (tp, first) in &b_first {
        let from = committed.get(tp).map_or(0, |o| o.offset);
        assert_eq!(*first, from, "B's first record of {tp}");
    }

    // More records; A reads some of its own, commits and leaves; B takes
    // over and continues each of A's partitions at A's commit.
    let reports = admin
        .producer()
        .send_batch((N..2 * N).map(|i| {
            ProducerRecord::new(&topic)
                .with_partition((i % 4) as i32)
                .with_value(i.to_string())
        }))
        .await;
    assert!(reports.failed() == 0);
    for _ in 0..20 {
        seen.insert(seq(&next_in_time(&mut a).await));
    }
    let a_commit = tokio::time::timeout(Duration::from_secs(30), a.commit())
        .await
        .expect("commit in time")
        .unwrap();
    drop(a);
    a_client.close().await;
    let mut taken: HashMap<TopicPartition, i64> = HashMap::new();
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(60), async {
        while seen.len() as u64 != 2 * N || b.assignment().unwrap().len() != 4 {
            tokio::select! {
                r = next_record(&mut b) => {
                    let r = r.unwrap().unwrap();
                    let tp = TopicPartition::new(&*r.topic, r.partition);
                    if sa.contains(&tp) {
                        taken.entry(tp).or_insert(r.offset);
                    }
                    seen.insert(seq(&r));
                }
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    })
    .await
    .expect("B takes every partition over and reads every record");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "a clean leave, no session expiry"
    );
    for (tp, first) in &taken {
        assert_eq!(
            Some(*first),
            a_commit.get(tp).map(|o| o.offset),
            "B continues {tp} at A's commit"
        );
    }
    assert_eq!(taken.len(), sa.len(), "B read from every partition A had");
    drop(b);
    b_client.close().await;
    admin.close().await;
}

#[tokio::test]
async fn a_regex_subscription_picks_up_a_new_topic_on_kafka() {
    let Some(broker) = kafka() else { return };
    regex_picks_up_a_new_topic(&broker, GroupProtocol::Consumer).await;
}

#[tokio::test]
async fn a_classic_regex_subscription_picks_up_a_new_topic_on_kafka() {
    let Some(broker) = kafka() else { return };
    regex_picks_up_a_new_topic(&broker, GroupProtocol::Classic).await;
}

/// A member subscribed by regex reads a matching topic, then one created
/// after it joined: the broker matches under the consumer protocol, the
/// member itself (at each metadata refresh) under the classic one.
async fn regex_picks_up_a_new_topic(broker: &Broker, protocol: GroupProtocol) {
    // Each protocol's run has its own names: both may run at once.
    let tag = match protocol {
        GroupProtocol::Classic => "rxc",
        _ => "rx",
    };
    let first = broker.topic(&format!("{tag}-one"));
    let later = broker.topic(&format!("{tag}-two"));
    let group = broker.topic(&format!("{tag}-g"));
    let admin = broker.client(|_| {}).await;
    admin
        .create_topic(broker.new_topic(&first, 2))
        .await
        .unwrap();
    let send = |topic: String| {
        let producer = admin.producer();
        async move {
            let r = producer
                .send_batch((0..10).map(|i| ProducerRecord::new(&topic).with_value(i.to_string())))
                .await;
            assert!(r.failed() == 0);
        }
    };
    send(first.clone()).await;
    let client = broker
        .client(|c| {
            member(&group)(c);
            if let Some(g) = c.group.as_mut() {
                g.group_protocol = protocol;
            }
            // The classic member sees new topics at a metadata refresh.
            c.metadata_max_age = Duration::from_secs(2);
        })
        .await;
    let mut c = client.consumer().unwrap();
    if protocol == GroupProtocol::Classic {
        let err = c.subscribe_regex("rx-(").await.unwrap_err();
        assert!(
            err.to_string().contains("invalid regular expression"),
            "{err}"
        );
    }
    let pattern = format!("{}{tag}-.*", broker.prefix);
    c.subscribe_regex(pattern.as_str()).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(60), next_record(&mut c))
        .await
        .expect("a record of the matching topic")
        .unwrap()
        .unwrap();
    assert_eq!(&*r.topic, first.as_str());
    admin
        .create_topic(broker.new_topic(&later, 1))
        .await
        .unwrap();
    send(later.clone()).await;
    // The coordinator (or the classic member, at its next metadata
    // refresh) matches again after topics change.
    let got = tokio::time::timeout(Duration::from_secs(90), async {
        loop {
            let r = next_record(&mut c).await.unwrap().unwrap();
            if *r.topic == *later {
                break r;
            }
        }
    })
    .await
    .expect("the topic created after joining is assigned and read");
    assert_eq!(got.offset, 0);
    drop(c);
    client.close().await;
    admin.close().await;
}
