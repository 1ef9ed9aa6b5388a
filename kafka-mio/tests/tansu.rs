//! The mio client against a real broker (Tansu).

mod common;

use common::Harness;
use kafka_mio::{AdminOutcome, Error, Tokens};
use kafka_proto::ErrorCode;
use kafka_testkit::Tansu;

#[test]
fn sixteen_partitions_on_tansu() {
    let Some(broker) = Tansu::start() else { return };
    let mut h = Harness::new();
    let c = h.client(&broker.bootstrap(), Tokens::range(100..116));

    let id = h.clients[c]
        .create_topic(kafka_mio::NewTopic::new("many", 16, 1))
        .unwrap();
    let AdminOutcome::CreateTopics(created) = h.outcome(c, id) else {
        panic!("not a create outcome");
    };
    Error::check_topics(&created).unwrap();

    let id = h.clients[c].metadata(["many"]).unwrap();
    let AdminOutcome::Metadata(md) = h.outcome(c, id) else {
        panic!("not metadata");
    };
    let topic = md.topic("many").expect("topic listed");
    assert_eq!(topic.partitions.len(), 16);
    assert!(topic.partitions.iter().all(|p| p.leader.is_some()));

    let id = h.clients[c]
        .create_topic(kafka_mio::NewTopic::new("many", 1, 1))
        .unwrap();
    let AdminOutcome::CreateTopics(again) = h.outcome(c, id) else {
        panic!("not a create outcome");
    };
    assert_eq!(
        Error::check_topics(&again).unwrap_err().code(),
        Some(ErrorCode::TopicAlreadyExists)
    );

    let id = h.clients[c].delete_topic("many").unwrap();
    let AdminOutcome::DeleteTopics(deleted) = h.outcome(c, id) else {
        panic!("not a delete outcome");
    };
    Error::check_topics(&deleted).unwrap();
    h.clients[c].close();
}

#[test]
fn produce_and_consume_on_tansu() {
    use kafka_mio::{Event, ProducerRecord, SeekTo, TopicPartition};
    let Some(broker) = Tansu::start() else { return };
    let mut h = Harness::new();
    let c = h.client(&broker.bootstrap(), Tokens::range(200..216));
    let id = h.clients[c]
        .create_topic(kafka_mio::NewTopic::new("pc", 2, 1))
        .unwrap();
    let AdminOutcome::CreateTopics(created) = h.outcome(c, id) else {
        panic!("not a create outcome");
    };
    Error::check_topics(&created).unwrap();
    for i in 0..100 {
        h.clients[c]
            .send(
                ProducerRecord::new("pc")
                    .with_partition(i % 2)
                    .with_value(format!("{i}")),
            )
            .unwrap();
    }
    h.clients[c].flush().unwrap();
    h.until(|h| h.seen[c].contains(&Event::FlushComplete));
    let delivered = h.seen[c]
        .iter()
        .filter(|e| matches!(e, Event::Delivery { result: Ok(_), .. }))
        .count();
    assert_eq!(delivered, 100);

    let tps = [TopicPartition::new("pc", 0), TopicPartition::new("pc", 1)];
    h.clients[c].assign(tps.clone()).unwrap();
    for tp in &tps {
        h.clients[c].seek(tp, SeekTo::Earliest).unwrap();
    }
    let mut next = [0i64; 2];
    let deadline = std::time::Instant::now() + common::LIMIT;
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
