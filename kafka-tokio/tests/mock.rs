//! The tokio client against the in-process mock cluster over real TCP.

use std::time::Duration;

use kafka_mock::MockCluster;
use kafka_proto::ErrorCode;
use kafka_tokio::{BrokerAddr, Client, Config, Error, NewTopic};

fn mock(brokers: i32) -> MockCluster {
    MockCluster::builder()
        .brokers(brokers)
        .build()
        .expect("mock starts")
}

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("finished within 30 s")
}

#[tokio::test(flavor = "current_thread")]
async fn admin_round_trip_on_current_thread_runtime() {
    let mock = mock(3);
    within(async {
        let client = Client::bootstrap(&mock.bootstrap()).await.unwrap();
        client
            .create_topic(NewTopic::new("t1", 4, 1))
            .await
            .unwrap();
        let err = client
            .create_topic(NewTopic::new("t1", 4, 1))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::TopicAlreadyExists), "{err}");
        let md = client.metadata(["t1", "missing"]).await.unwrap();
        assert_eq!(md.topic("t1").unwrap().partitions.len(), 4);
        assert_eq!(
            md.topic("missing").unwrap().error,
            ErrorCode::UnknownTopicOrPartition
        );
        assert_eq!(md.brokers().count(), 3);
        client.delete_topic("t1").await.unwrap();
        let all = client.metadata_all().await.unwrap();
        assert!(all.topic("t1").is_none());
        client.close().await;
        assert_eq!(client.metadata_all().await.unwrap_err(), Error::Closed);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_share_one_driver_on_multi_thread_runtime() {
    let mock = mock(1);
    within(async {
        let client = Client::bootstrap(&mock.bootstrap()).await.unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let c = client.clone();
                tokio::spawn(
                    async move { c.create_topic(NewTopic::new(format!("m{i}"), 1, 1)).await },
                )
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(client.metadata_all().await.unwrap().topics().count(), 8);
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn unreachable_bootstrap_fails_within_the_api_timeout() {
    // A port nobody listens on: bind, learn the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = Config::new([BrokerAddr::new("127.0.0.1", port)]);
    config.api_timeout = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let err = within(Client::connect(config)).await.unwrap_err();
    assert_eq!(err, Error::Request(kafka_state::RequestError::Timeout));
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test(flavor = "current_thread")]
async fn invalid_arguments_are_typed_errors() {
    let mock = mock(1);
    within(async {
        let client = Client::bootstrap(&mock.bootstrap()).await.unwrap();
        let err = client
            .create_topic(NewTopic::new("", 1, 1))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Misuse(_)), "{err}");
        let err = client
            .create_topic(NewTopic::new("ok", 0, 1))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Misuse(_)), "{err}");
        assert!(matches!(
            Client::bootstrap("no-port").await.unwrap_err(),
            Error::Misuse(_)
        ));
    })
    .await;
}
