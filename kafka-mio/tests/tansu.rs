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
