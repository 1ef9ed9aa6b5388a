//! The mio client against Apache Kafka: the bodies of the Tansu suite
//! (`common::suite`) on the 3-node cluster this test binary shares, every
//! topic replicated 3 times, and this adapter's TLS (its own socket code)
//! on the real SSL, mutual-TLS and SASL_SSL listeners.

mod common;

use std::time::{Duration, Instant};

use common::suite::{self, Broker};
use common::Harness;
use kafka_mio::{Event, ProducerRecord, SaslConfig, TlsConfig, Tokens};
use kafka_testkit::kafka::{Listener, DEFAULT_USER};
use kafka_testkit::KafkaCluster;

fn kafka() -> Option<Broker> {
    let cluster = KafkaCluster::shared()?;
    Some(Broker {
        bootstrap: cluster.bootstrap(),
        replication: 3,
        prefix: format!("m{}-", std::process::id()),
    })
}

#[test]
fn sixteen_partitions_on_kafka() {
    let Some(broker) = kafka() else { return };
    suite::sixteen_partitions(&broker);
}

#[test]
fn produce_and_consume_on_kafka() {
    let Some(broker) = kafka() else { return };
    suite::produce_and_consume(&broker);
}

#[test]
fn every_codec_with_keys_headers_and_nulls_on_kafka() {
    let Some(broker) = kafka() else { return };
    suite::every_codec_with_keys_headers_and_nulls(&broker);
}

#[test]
fn a_five_megabyte_record_offsets_and_lag_on_kafka() {
    let Some(broker) = kafka() else { return };
    suite::a_five_megabyte_record_offsets_and_lag(&broker);
}

/// The brokers of `listener`, with `prefix` for topic names.
fn on(cluster: &KafkaCluster, listener: Listener, prefix: &str) -> Broker {
    Broker {
        bootstrap: cluster.bootstrap_for(listener),
        replication: 3,
        prefix: format!("{prefix}{}-", std::process::id()),
    }
}

/// Creates a replicated topic and produces one record at offset 0.
fn produce_one(broker: &Broker, h: &mut Harness, c: usize) {
    let topic = broker.topic("one");
    broker.create(h, c, broker.new_topic(&topic, 1));
    let reports = suite::deliver(h, c, vec![ProducerRecord::new(&topic).with_value("x")]);
    assert_eq!(reports[0].offset, 0);
}

#[test]
fn tls_mutual_tls_and_sasl_ssl_on_kafka() {
    let Some(cluster) = KafkaCluster::shared() else {
        return;
    };
    let ca = std::fs::read(cluster.ca_pem()).unwrap();
    let pki = cluster.pki();
    let mut h = Harness::new();

    let ssl = on(cluster, Listener::Ssl, "m-tls");
    let mut config = ssl.config();
    config.tls = Some(TlsConfig::new().with_ca_pem(ca.clone()));
    let c = ssl.client(&mut h, config, Tokens::range(1000..1010));
    produce_one(&ssl, &mut h, c);

    let mtls = on(cluster, Listener::Mtls, "m-mtls");
    let mut config = mtls.config();
    config.tls = Some(
        TlsConfig::new()
            .with_ca_pem(ca.clone())
            .with_client_cert_pem(
                pki.read("client.pem").unwrap(),
                pki.read("client.key").unwrap(),
            ),
    );
    let c = mtls.client(&mut h, config, Tokens::range(1010..1020));
    produce_one(&mtls, &mut h, c);

    let sasl_ssl = on(cluster, Listener::SaslSsl, "m-sasl-ssl");
    let mut config = sasl_ssl.config();
    config.tls = Some(TlsConfig::new().with_ca_pem(ca.clone()));
    config.sasl = Some(SaslConfig::scram_sha512(DEFAULT_USER.0, DEFAULT_USER.1));
    let c = sasl_ssl.client(&mut h, config, Tokens::range(1020..1030));
    produce_one(&sasl_ssl, &mut h, c);

    // A wrong password: a metadata call fails at once with the
    // authentication error (the API timeout is the default minute).
    let mut config = sasl_ssl.config();
    config.tls = Some(TlsConfig::new().with_ca_pem(ca));
    config.sasl = Some(SaslConfig::scram_sha512(DEFAULT_USER.0, "wrong"));
    let bad = sasl_ssl.client(&mut h, config, Tokens::range(1030..1040));
    let started = Instant::now();
    let id = h.clients[bad].metadata(["anything"]).unwrap();
    let result = h.result(bad, id);
    assert!(
        matches!(
            &result,
            Err(kafka_state::RequestError::Disconnected {
                reason: kafka_state::DisconnectReason::Authentication(_),
                ..
            })
        ),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(h.seen[bad]
        .iter()
        .any(|e| matches!(e, Event::ConnectionLost { .. })));
}

#[test]
fn configs_partitions_records_cluster_on_kafka() {
    let Some(broker) = kafka() else { return };
    suite::configs_partitions_records_cluster(&broker);
}
