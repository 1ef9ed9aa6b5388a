//! TLS (socat in front of Tansu) and SASL (the mock's server side,
//! including OAUTHBEARER with a token provider) with the blocking client.

use std::time::Duration;

use kafka_blocking::{Client, Config, NewTopic, ProducerRecord, SaslConfig, TlsConfig};
use kafka_mock::{MockCluster, SaslMechanism as MockMechanism};
use kafka_testkit::{free_port, Tansu, TestPki, TlsProxy};

fn produce_one(client: &Client, topic: &str) {
    client.create_topic(NewTopic::new(topic, 1, 1)).unwrap();
    let r = client
        .producer()
        .send(
            ProducerRecord::new(topic)
                .with_key(b"k".to_vec())
                .with_value(b"v".to_vec()),
        )
        .and_then(|d| d.wait())
        .unwrap();
    assert_eq!(r.offset, 0);
}

#[test]
fn tls_with_verification_and_client_certificates() {
    let pki = TestPki::generate().unwrap();
    let proxy_port = free_port().unwrap();
    let Some(broker) = Tansu::start_advertising(Some(proxy_port)) else {
        return;
    };
    let _proxy = TlsProxy::start_on(&pki, proxy_port, broker.port(), true).unwrap();
    let bootstrap = format!("127.0.0.1:{proxy_port}");
    let mut config = Config::default();
    config.tls = Some(
        TlsConfig::new()
            .with_ca_pem(pki.read("ca.pem").unwrap())
            .with_client_cert_pem(
                pki.read("client.pem").unwrap(),
                pki.read("client.key").unwrap(),
            ),
    );
    let client = Client::connect(at(&bootstrap, config)).unwrap();
    produce_one(&client, "tls");

    // Public roots do not trust the test CA.
    let mut config = Config::default();
    config.tls = Some(TlsConfig::new());
    config.api_timeout = Duration::from_millis(500);
    assert!(Client::connect(at(&bootstrap, config)).is_err());
}

#[test]
fn sasl_scram_plain_and_oauthbearer() {
    let mock = MockCluster::builder()
        .sasl_user(MockMechanism::Plain, "paul", "pw")
        .sasl_user(MockMechanism::ScramSha512, "sara", "pw512")
        .sasl_user(MockMechanism::OAuthBearer, "svc", "tok")
        .build()
        .unwrap();
    for (name, sasl) in [
        ("plain", SaslConfig::plain("paul", "pw")),
        ("scram", SaslConfig::scram_sha512("sara", "pw512")),
    ] {
        let mut config = Config::default();
        config.sasl = Some(sasl);
        let client = Client::connect(at(&mock.bootstrap(), config)).unwrap();
        produce_one(&client, name);
    }
    let mut config = Config::default();
    config.sasl = Some(SaslConfig::oauthbearer());
    let client = Client::connect_with_token_provider(at(&mock.bootstrap(), config), || {
        Ok(("tok".to_string(), Duration::from_secs(300)))
    })
    .unwrap();
    produce_one(&client, "oauth");

    let mut config = Config::default();
    config.sasl = Some(SaslConfig::scram_sha512("sara", "nope"));
    config.api_timeout = Duration::from_millis(500);
    assert!(Client::connect(at(&mock.bootstrap(), config)).is_err());
}

/// `config` with its bootstrap list set to `servers`.
fn at(servers: &str, mut config: kafka_blocking::Config) -> kafka_blocking::Config {
    config.bootstrap = kafka_blocking::BrokerAddr::parse_list(servers).unwrap();
    config
}
