//! The mio client against a real broker (Tansu). The bodies shared with
//! the Apache Kafka suite live in `common::suite`.

mod common;

use common::suite::{self, deliver, Broker};
use common::Harness;
use kafka_mio::{AdminOutcome, Error, Tokens};
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
fn sixteen_partitions_on_tansu() {
    let Some(broker) = Tansu::start() else { return };
    suite::sixteen_partitions(&tansu(&broker));
}

#[test]
fn produce_and_consume_on_tansu() {
    let Some(broker) = Tansu::start() else { return };
    suite::produce_and_consume(&tansu(&broker));
}

#[test]
fn every_codec_with_keys_headers_and_nulls_on_tansu() {
    let Some(broker) = Tansu::start() else { return };
    suite::every_codec_with_keys_headers_and_nulls(&tansu(&broker));
}

#[test]
fn a_five_megabyte_record_offsets_and_lag_on_tansu() {
    let Some(broker) = Tansu::start() else { return };
    suite::a_five_megabyte_record_offsets_and_lag(&tansu(&broker));
}

#[test]
fn reconnects_after_the_broker_restarts_on_tansu() {
    use kafka_mio::{BrokerAddr, Client, Config, ProducerRecord};
    let Some(mut broker) = Tansu::start() else {
        return;
    };
    let mut h = Harness::new();
    let mut config = Config::new(BrokerAddr::parse_list(&broker.bootstrap()).unwrap());
    config.reconnect_backoff_max = std::time::Duration::from_millis(200);
    let client = Client::connect(config, h.poll.registry(), Tokens::range(400..416)).unwrap();
    let c = h.add(client);
    let id = h.clients[c]
        .create_topic(kafka_mio::NewTopic::new("before", 1, 1))
        .unwrap();
    h.outcome(c, id);
    broker.restart().unwrap();
    // The restarted broker is empty (memory storage): retry until the
    // client has reconnected and the create succeeds.
    let deadline = std::time::Instant::now() + common::LIMIT;
    loop {
        assert!(std::time::Instant::now() < deadline, "never reconnected");
        let id = h.clients[c]
            .create_topic(kafka_mio::NewTopic::new("after", 1, 1))
            .unwrap();
        if let Ok(AdminOutcome::CreateTopics(out)) = h.result(c, id) {
            if Error::check_topics(&out).is_ok() {
                break;
            }
        }
        h.turn(std::time::Duration::from_millis(100));
    }
    let reports = deliver(
        &mut h,
        c,
        vec![ProducerRecord::new("after").with_value("x")],
    );
    assert_eq!(reports[0].offset, 0);
}
