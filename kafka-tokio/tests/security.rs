//! TLS and SASL end to end: TLS through `socat OPENSSL-LISTEN` in front
//! of a real broker (Tansu's own TLS flags are broken), SASL against the
//! mock cluster's server side.

use std::time::Duration;

use kafka_mock::{MockCluster, SaslMechanism as MockMechanism};
use kafka_testkit::{free_port, Tansu, TestPki, TlsProxy};
use kafka_tokio::{
    BrokerAddr, Client, Config, Error, NewTopic, ProducerRecord, SaslConfig, TlsConfig,
};

/// A broker reachable only through TLS: Tansu advertising the proxy.
fn tls_broker(pki: &TestPki, mtls: bool) -> Option<(Tansu, TlsProxy)> {
    let proxy_port = free_port().unwrap();
    let broker = Tansu::start_advertising(Some(proxy_port))?;
    let proxy = TlsProxy::start_on(pki, proxy_port, broker.port(), mtls).expect("socat starts");
    Some((broker, proxy))
}

fn config(port: u16, tls: TlsConfig) -> Config {
    let mut c = Config::new([BrokerAddr::new("127.0.0.1", port)]);
    c.tls = Some(tls);
    c.api_timeout = Duration::from_secs(5);
    c
}

async fn produce_one(client: &Client, topic: &str) {
    client
        .create_topic(NewTopic::new(topic, 2, 1))
        .await
        .unwrap();
    let report = client
        .producer()
        .send(
            ProducerRecord::new(topic)
                .with_key("k")
                .with_value("over tls"),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(report.offset, 0);
}

#[tokio::test]
async fn tls_to_a_real_broker_verifies_the_certificate() {
    let pki = TestPki::generate().unwrap();
    let Some((_broker, proxy)) = tls_broker(&pki, false) else {
        return;
    };
    let ca = pki.read("ca.pem").unwrap();
    let client = Client::connect(config(proxy.port(), TlsConfig::new().with_ca_pem(ca)))
        .await
        .unwrap();
    produce_one(&client, "secure").await;
    client.close().await;

    // The public roots do not know the test CA: the handshake fails, the
    // client never reaches the broker, and connect says why.
    let err = Client::connect(config(proxy.port(), TlsConfig::new()))
        .await
        .unwrap_err();
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
    // Unless verification is explicitly turned off.
    let client = Client::connect(config(
        proxy.port(),
        TlsConfig::new().dangerous_disable_verification(),
    ))
    .await
    .unwrap();
    client.close().await;
}

#[tokio::test]
async fn mutual_tls_presents_the_client_certificate() {
    let pki = TestPki::generate().unwrap();
    let Some((_broker, proxy)) = tls_broker(&pki, true) else {
        return;
    };
    let ca = pki.read("ca.pem").unwrap();
    let tls = TlsConfig::new()
        .with_ca_pem(ca.clone())
        .with_client_cert_pem(
            pki.read("client.pem").unwrap(),
            pki.read("client.key").unwrap(),
        );
    let client = Client::connect(config(proxy.port(), tls)).await.unwrap();
    produce_one(&client, "mtls").await;
    client.close().await;
    // Without a certificate the proxy refuses the handshake.
    assert!(
        Client::connect(config(proxy.port(), TlsConfig::new().with_ca_pem(ca)))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn sasl_plain_and_scram_against_the_mock() {
    let mock = MockCluster::builder()
        .brokers(2)
        .sasl_user(MockMechanism::Plain, "paul", "p-secret")
        .sasl_user(MockMechanism::ScramSha256, "sam", "s256-secret")
        .sasl_user(MockMechanism::ScramSha512, "sara", "s512-secret")
        .build()
        .unwrap();
    let bootstrap = BrokerAddr::parse_list(&mock.bootstrap()).unwrap();
    let cases = [
        (
            "plain",
            SaslConfig::plain("paul", "p-secret"),
            SaslConfig::plain("paul", "nope"),
        ),
        (
            "scram256",
            SaslConfig::scram_sha256("sam", "s256-secret"),
            SaslConfig::scram_sha256("sam", "nope"),
        ),
        (
            "scram512",
            SaslConfig::scram_sha512("sara", "s512-secret"),
            SaslConfig::scram_sha512("sara", "nope"),
        ),
    ];
    for (name, good, bad) in cases {
        let mut c = Config::new(bootstrap.clone());
        c.sasl = Some(good);
        let client = Client::connect(c).await.unwrap();
        produce_one(&client, name).await;
        client.close().await;

        let mut c = Config::new(bootstrap.clone());
        c.sasl = Some(bad);
        c.api_timeout = Duration::from_millis(500);
        assert!(
            Client::connect(c).await.is_err(),
            "{name} with a bad password"
        );
    }
}

#[tokio::test]
async fn oauthbearer_tokens_come_from_an_async_provider() {
    let mock = MockCluster::builder()
        .brokers(2)
        .sasl_user(MockMechanism::OAuthBearer, "svc", "token-from-idp")
        .build()
        .unwrap();
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = calls.clone();
    let mut config = Config::new(BrokerAddr::parse_list(&mock.bootstrap()).unwrap());
    config.sasl = Some(SaslConfig::oauthbearer());
    let client = Client::connect_with_token_provider(config, move || {
        let counted = counted.clone();
        async move {
            // An identity provider round trip.
            tokio::time::sleep(Duration::from_millis(20)).await;
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(("token-from-idp".to_string(), Duration::from_secs(600)))
        }
    })
    .await
    .unwrap();
    produce_one(&client, "oauth").await;
    assert!(calls.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    client.close().await;

    // A provider handing out a wrong token never gets the client in.
    let mut config = Config::new(BrokerAddr::parse_list(&mock.bootstrap()).unwrap());
    config.sasl = Some(SaslConfig::oauthbearer());
    config.api_timeout = Duration::from_millis(700);
    let err = Client::connect_with_token_provider(config, || async {
        Ok(("forged".to_string(), Duration::from_secs(600)))
    })
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Request(_)), "{err}");
}
