//! TLS and SASL against the real listeners of an Apache Kafka cluster:
//! SASL PLAIN and SCRAM-SHA-256/512 over plaintext and TLS, TLS with the
//! certificate verified, and mutual TLS. A wrong password must fail the
//! call at once with an authentication error, not after the API timeout.

use std::time::{Duration, Instant};

use kafka_testkit::kafka::{Listener, DEFAULT_USER};
use kafka_testkit::KafkaCluster;
use kafka_tokio::{
    BrokerAddr, Client, Config, Error, NewTopic, ProducerRecord, SaslConfig, SeekTo, TlsConfig,
    TopicPartition,
};

fn config(cluster: &KafkaCluster, listener: Listener) -> Config {
    Config::new(BrokerAddr::parse_list(&cluster.bootstrap_for(listener)).unwrap())
}

fn ca(cluster: &KafkaCluster) -> Vec<u8> {
    std::fs::read(cluster.ca_pem()).unwrap()
}

async fn connect(config: Config) -> Result<Client, Error> {
    tokio::time::timeout(Duration::from_secs(30), Client::connect(config))
        .await
        .expect("connects or fails in time")
}

/// Creates a replicated topic, writes a record and reads it back: the
/// whole path (admin, produce, fetch) over the secured connections, to
/// every broker the partitions live on.
async fn round_trip(client: &Client, topic: &str) {
    client
        .create_topic(NewTopic::new(topic, 3, 3))
        .await
        .unwrap();
    for p in 0..3 {
        let report = client
            .producer()
            .send(
                ProducerRecord::new(topic)
                    .with_partition(p)
                    .with_value(format!("secret {p}")),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        assert_eq!(report.offset, 0);
    }
    let mut consumer = client.consumer().unwrap();
    let tps: Vec<TopicPartition> = (0..3).map(|p| TopicPartition::new(topic, p)).collect();
    consumer.assign(tps.clone()).await.unwrap();
    for tp in tps {
        consumer.seek(tp, SeekTo::Earliest).await.unwrap();
    }
    for _ in 0..3 {
        let r = tokio::time::timeout(Duration::from_secs(20), next_record(&mut consumer))
            .await
            .expect("a record in time")
            .unwrap()
            .unwrap();
        assert_eq!(
            r.value.as_deref(),
            Some(format!("secret {}", r.partition).as_bytes())
        );
    }
}

async fn next_record(
    consumer: &mut kafka_tokio::Consumer,
) -> Option<Result<kafka_tokio::ConsumerRecord, Error>> {
    use futures_core::Stream;
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *consumer).poll_next(cx)).await
}

fn topic(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

/// Whether `err` says that authentication failed.
fn is_auth_failure(err: &Error) -> bool {
    matches!(
        err,
        Error::Request(kafka_state::RequestError::Disconnected {
            reason: kafka_state::DisconnectReason::Authentication(_),
            ..
        })
    )
}

/// Connecting with a wrong password fails quickly (the API timeout is the
/// default minute) with an authentication error.
async fn refused_at_once(config: Config, what: &str) {
    assert_eq!(config.api_timeout, Duration::from_secs(60));
    let started = Instant::now();
    let err = connect(config)
        .await
        .err()
        .unwrap_or_else(|| panic!("{what}: a wrong password got in"));
    let took = started.elapsed();
    assert!(is_auth_failure(&err), "{what}: {err:?}");
    assert!(
        took < Duration::from_secs(5),
        "{what}: refused after {took:?}"
    );
}

fn mechanisms(password: &str) -> [(&'static str, SaslConfig); 3] {
    let user = DEFAULT_USER.0;
    [
        ("plain", SaslConfig::plain(user, password)),
        ("scram256", SaslConfig::scram_sha256(user, password)),
        ("scram512", SaslConfig::scram_sha512(user, password)),
    ]
}

#[tokio::test]
async fn sasl_plain_and_scram_on_kafka() {
    let Some(cluster) = KafkaCluster::shared() else {
        return;
    };
    for (name, sasl) in mechanisms(DEFAULT_USER.1) {
        let mut c = config(cluster, Listener::Sasl);
        c.sasl = Some(sasl);
        let client = connect(c).await.unwrap();
        round_trip(&client, &topic(&format!("sasl-{name}"))).await;
        client.close().await;
    }
    for (name, sasl) in mechanisms("not-the-password") {
        let mut c = config(cluster, Listener::Sasl);
        c.sasl = Some(sasl);
        refused_at_once(c, name).await;
    }
    // An unknown user is refused the same way.
    let mut c = config(cluster, Listener::Sasl);
    c.sasl = Some(SaslConfig::scram_sha256("mallory", "x"));
    refused_at_once(c, "unknown user").await;
}

#[tokio::test]
async fn tls_on_kafka_verifies_the_broker() {
    let Some(cluster) = KafkaCluster::shared() else {
        return;
    };
    let mut c = config(cluster, Listener::Ssl);
    c.tls = Some(TlsConfig::new().with_ca_pem(ca(cluster)));
    let client = connect(c).await.unwrap();
    round_trip(&client, &topic("tls")).await;
    client.close().await;

    // The public roots do not know the test CA: the handshake fails, and
    // the connect call says so at once instead of waiting out the
    // default one-minute API timeout.
    let mut c = config(cluster, Listener::Ssl);
    c.tls = Some(TlsConfig::new());
    assert_eq!(c.api_timeout, Duration::from_secs(60));
    let started = Instant::now();
    let Err(err) = connect(c).await else {
        panic!("an untrusted broker got in");
    };
    let took = started.elapsed();
    assert!(
        matches!(
            &err,
            Error::Request(kafka_state::RequestError::Disconnected {
                reason: kafka_state::DisconnectReason::Tls(m),
                ..
            }) if m.contains("UnknownIssuer")
        ),
        "{err:?}"
    );
    assert!(took < Duration::from_secs(5), "refused after {took:?}");
}

#[tokio::test]
async fn mutual_tls_on_kafka() {
    let Some(cluster) = KafkaCluster::shared() else {
        return;
    };
    let pki = cluster.pki();
    let mut c = config(cluster, Listener::Mtls);
    c.tls = Some(
        TlsConfig::new()
            .with_ca_pem(ca(cluster))
            .with_client_cert_pem(
                pki.read("client.pem").unwrap(),
                pki.read("client.key").unwrap(),
            ),
    );
    let client = connect(c).await.unwrap();
    round_trip(&client, &topic("mtls")).await;
    client.close().await;

    // Without a client certificate the broker ends the handshake.
    let mut c = config(cluster, Listener::Mtls);
    c.tls = Some(TlsConfig::new().with_ca_pem(ca(cluster)));
    c.api_timeout = Duration::from_secs(5);
    assert!(connect(c).await.is_err());
}

#[tokio::test]
async fn sasl_over_tls_on_kafka() {
    let Some(cluster) = KafkaCluster::shared() else {
        return;
    };
    for (name, sasl) in mechanisms(DEFAULT_USER.1) {
        let mut c = config(cluster, Listener::SaslSsl);
        c.sasl = Some(sasl);
        c.tls = Some(TlsConfig::new().with_ca_pem(ca(cluster)));
        let client = connect(c).await.unwrap();
        round_trip(&client, &topic(&format!("sasl-ssl-{name}"))).await;
        client.close().await;
    }
    let mut c = config(cluster, Listener::SaslSsl);
    c.sasl = Some(SaslConfig::scram_sha512(DEFAULT_USER.0, "wrong"));
    c.tls = Some(TlsConfig::new().with_ca_pem(ca(cluster)));
    refused_at_once(c, "scram512 over TLS").await;
}
