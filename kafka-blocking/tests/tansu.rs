//! The blocking client against a real broker (Tansu). The bodies shared
//! with the Apache Kafka suite live in `common`.

mod common;

use std::time::{Duration, Instant};

use common::Broker;
use kafka_blocking::{Client, Config, NewTopic, ProducerRecord};
use kafka_testkit::Tansu;

/// One Tansu node: replication factor 1.
fn tansu(broker: &Tansu) -> Broker {
    Broker {
        bootstrap: broker.bootstrap(),
        replication: 1,
        prefix: String::new(),
    }
}

#[test]
fn topics_on_tansu() {
    let Some(broker) = Tansu::start() else { return };
    common::topics(&tansu(&broker));
}

#[test]
fn every_codec_keys_headers_nulls_and_idempotence_on_tansu() {
    let Some(broker) = Tansu::start() else { return };
    common::every_codec_keys_headers_nulls_and_idempotence(&tansu(&broker));
}

#[test]
fn big_record_offsets_seek_and_lag_on_tansu() {
    let Some(broker) = Tansu::start() else { return };
    common::big_record_offsets_seek_and_lag(&tansu(&broker));
}

#[test]
fn reconnects_after_the_broker_restarts() {
    let Some(mut broker) = Tansu::start() else {
        return;
    };
    let mut config = Config::default();
    config.reconnect_backoff_max = Duration::from_millis(200);
    let client = Client::connect(at(&broker.bootstrap(), config)).unwrap();
    client.create_topic(NewTopic::new("before", 1, 1)).unwrap();
    broker.restart().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Err(e) = client.create_topic(NewTopic::new("after", 1, 1)) {
        assert!(Instant::now() < deadline, "never reconnected: {e}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = client
        .producer()
        .send(ProducerRecord::new("after").with_value(b"x".to_vec()))
        .and_then(|d| d.wait())
        .unwrap();
    assert_eq!(r.offset, 0);
}

#[test]
fn many_partitions_on_tansu() {
    let Some(broker) = Tansu::start() else { return };
    common::many_partitions(&tansu(&broker));
}

/// `config` with its bootstrap list set to `servers`.
fn at(servers: &str, mut config: kafka_blocking::Config) -> kafka_blocking::Config {
    config.bootstrap = kafka_blocking::BrokerAddr::parse_list(servers).unwrap();
    config
}
