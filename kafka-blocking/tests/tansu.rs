//! The blocking client against a real broker (Tansu).

use kafka_blocking::{Client, Config, NewTopic};
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
