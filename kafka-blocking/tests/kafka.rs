//! The blocking client against Apache Kafka: the bodies of the Tansu suite
//! (`common`) on the 3-node cluster this test binary shares, every topic
//! replicated 3 times, and this adapter's TLS (its own socket code) on the
//! real SSL, mutual-TLS and SASL_SSL listeners.

mod common;

use std::time::{Duration, Instant};

use common::Broker;
use kafka_blocking::{Client, Config, Error, NewTopic, ProducerRecord, SaslConfig, TlsConfig};
use kafka_testkit::kafka::{Listener, DEFAULT_USER};
use kafka_testkit::KafkaCluster;

fn kafka() -> Option<Broker> {
    let cluster = KafkaCluster::shared()?;
    Some(Broker {
        bootstrap: cluster.bootstrap(),
        replication: 3,
        prefix: format!("b{}-", std::process::id()),
    })
}

#[test]
fn topics_on_kafka() {
    let Some(broker) = kafka() else { return };
    common::topics(&broker);
}

#[test]
fn every_codec_keys_headers_nulls_and_idempotence_on_kafka() {
    let Some(broker) = kafka() else { return };
    common::every_codec_keys_headers_nulls_and_idempotence(&broker);
}

#[test]
fn big_record_offsets_seek_and_lag_on_kafka() {
    let Some(broker) = kafka() else { return };
    common::big_record_offsets_seek_and_lag(&broker);
}

#[test]
fn many_partitions_on_kafka() {
    let Some(broker) = kafka() else { return };
    common::many_partitions(&broker);
}

/// Creates a replicated topic and writes one record to it.
fn produce_one(client: &Client, topic: &str) {
    let topic = format!("{topic}-{}", std::process::id());
    client.create_topic(NewTopic::new(&topic, 1, 3)).unwrap();
    let r = client
        .producer()
        .send(
            ProducerRecord::new(&topic)
                .with_key(b"k".to_vec())
                .with_value(b"v".to_vec()),
        )
        .and_then(|d| d.wait())
        .unwrap();
    assert_eq!(r.offset, 0);
}

#[test]
fn tls_mutual_tls_and_sasl_ssl_on_kafka() {
    let Some(cluster) = KafkaCluster::shared() else {
        return;
    };
    let ca = std::fs::read(cluster.ca_pem()).unwrap();
    let pki = cluster.pki();

    let mut config = Config::default();
    config.tls = Some(TlsConfig::new().with_ca_pem(ca.clone()));
    let client = Client::connect(at(&cluster.bootstrap_for(Listener::Ssl), config)).unwrap();
    produce_one(&client, "b-tls");

    let mut config = Config::default();
    config.tls = Some(
        TlsConfig::new()
            .with_ca_pem(ca.clone())
            .with_client_cert_pem(
                pki.read("client.pem").unwrap(),
                pki.read("client.key").unwrap(),
            ),
    );
    let client = Client::connect(at(&cluster.bootstrap_for(Listener::Mtls), config)).unwrap();
    produce_one(&client, "b-mtls");
    // No client certificate: the broker ends the handshake.
    let mut config = Config::default();
    config.tls = Some(TlsConfig::new().with_ca_pem(ca.clone()));
    config.api_timeout = Duration::from_secs(5);
    assert!(Client::connect(at(&cluster.bootstrap_for(Listener::Mtls), config)).is_err());

    let mut config = Config::default();
    config.tls = Some(TlsConfig::new().with_ca_pem(ca.clone()));
    config.sasl = Some(SaslConfig::scram_sha256(DEFAULT_USER.0, DEFAULT_USER.1));
    let client = Client::connect(at(&cluster.bootstrap_for(Listener::SaslSsl), config)).unwrap();
    produce_one(&client, "b-sasl-ssl");

    // A wrong password fails at once with the authentication error (the
    // API timeout is the default minute).
    let mut config = Config::default();
    config.tls = Some(TlsConfig::new().with_ca_pem(ca));
    config.sasl = Some(SaslConfig::plain(DEFAULT_USER.0, "wrong"));
    let started = Instant::now();
    let err = Client::connect(at(&cluster.bootstrap_for(Listener::SaslSsl), config)).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Request(kafka_state::RequestError::Disconnected {
                reason: kafka_state::DisconnectReason::Authentication(_),
                ..
            })
        ),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// `config` with its bootstrap list set to `servers`.
fn at(servers: &str, mut config: kafka_blocking::Config) -> kafka_blocking::Config {
    config.bootstrap = kafka_blocking::BrokerAddr::parse_list(servers).unwrap();
    config
}
