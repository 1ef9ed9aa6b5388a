//! The tokio client against a real broker (Tansu).

use kafka_proto::ErrorCode;
use kafka_testkit::Tansu;
use kafka_tokio::{Client, NewTopic};

#[tokio::test]
async fn topics_on_tansu() {
    let Some(broker) = Tansu::start() else { return };
    let client = Client::bootstrap(&broker.bootstrap()).await.unwrap();
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
