//! TLS (socat in front of Tansu) and SASL (the mock's server side) with
//! the mio client, producing a record through each.

mod common;

use common::Harness;
use kafka_mio::{
    BrokerAddr, Client, Config, Error, Event, NewTopic, ProducerRecord, SaslConfig, TlsConfig,
    Tokens,
};
use kafka_mock::{MockCluster, SaslMechanism as MockMechanism};
use kafka_testkit::{free_port, Tansu, TestPki, TlsProxy};

/// Creates `topic`, produces one record and returns its offset.
fn produce_one(h: &mut Harness, c: usize, topic: &str) -> i64 {
    let id = h.clients[c]
        .create_topic(NewTopic::new(topic, 1, 1))
        .unwrap();
    let kafka_mio::AdminOutcome::CreateTopics(out) = h.outcome(c, id) else {
        panic!("not a create outcome")
    };
    Error::check_topics(&out).unwrap();
    let d = h.clients[c]
        .send(ProducerRecord::new(topic).with_value("hello"))
        .unwrap();
    h.clients[c].flush().unwrap();
    let find = |h: &Harness| {
        h.seen[c]
            .iter()
            .flat_map(Event::outcomes)
            .find_map(|(id, result)| (id == d).then_some(result))
    };
    h.until(|h| find(h).is_some());
    find(h).unwrap().unwrap().offset
}

#[test]
fn tls_through_socat_to_tansu() {
    let pki = TestPki::generate().unwrap();
    let proxy_port = free_port().unwrap();
    let Some(broker) = Tansu::start_advertising(Some(proxy_port)) else {
        return;
    };
    let _proxy = TlsProxy::start_on(&pki, proxy_port, broker.port(), false).unwrap();
    let mut config = Config::new([BrokerAddr::new("127.0.0.1", proxy_port)]);
    config.tls = Some(TlsConfig::new().with_ca_pem(pki.read("ca.pem").unwrap()));
    let mut h = Harness::new();
    let client = Client::connect(config, h.poll.registry(), Tokens::range(10..20)).unwrap();
    let c = h.add(client);
    assert_eq!(produce_one(&mut h, c, "tls"), 0);
}

#[test]
fn sasl_scram_against_the_mock() {
    let mock = MockCluster::builder()
        .sasl_user(MockMechanism::ScramSha512, "sara", "secret")
        .build()
        .unwrap();
    let mut config = Config::new(BrokerAddr::parse_list(&mock.bootstrap()).unwrap());
    config.sasl = Some(SaslConfig::scram_sha512("sara", "secret"));
    let mut h = Harness::new();
    let client = Client::connect(config, h.poll.registry(), Tokens::range(10..20)).unwrap();
    let c = h.add(client);
    assert_eq!(produce_one(&mut h, c, "sasl"), 0);

    // A wrong password: the connection is refused with an authentication
    // reason, never a panic.
    let mut config = Config::new(BrokerAddr::parse_list(&mock.bootstrap()).unwrap());
    config.sasl = Some(SaslConfig::scram_sha512("sara", "wrong"));
    let client = Client::connect(config, h.poll.registry(), Tokens::range(20..30)).unwrap();
    let bad = h.add(client);
    h.until(|h| {
        h.seen[bad].iter().any(|e| {
            matches!(e, Event::ConnectionLost { reason, .. }
                if matches!(reason, kafka_state::DisconnectReason::Authentication(_)))
        })
    });
}
