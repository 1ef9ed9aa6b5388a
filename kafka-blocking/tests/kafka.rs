//! The blocking client against Apache Kafka: the bodies of the Tansu suite
//! (`common`) on the 3-node cluster this test binary shares, every topic
//! replicated 3 times, and this adapter's TLS (its own socket code) on the
//! real SSL, mutual-TLS and SASL_SSL listeners, and static group membership
//! (a restart without a rebalance, a fenced duplicate).

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

/// A group member polling on a thread of its own: what it was told
/// (`Rebalance`s, in order), its last generation, and how it ended.
struct GroupMember {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    changes: std::sync::Arc<std::sync::Mutex<Vec<kafka_blocking::Rebalance>>>,
    state: std::sync::Arc<std::sync::Mutex<MemberState>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default, Clone, Debug)]
struct MemberState {
    assignment: Vec<kafka_blocking::TopicPartition>,
    generation: Option<i32>,
    /// The error that ended the member, if one did.
    failed: Option<String>,
}

/// Timeouts of the group tests: a restart or a fenced duplicate shows
/// within a session timeout of 10 s (Kafka allows 6 s at least).
const SESSION: Duration = Duration::from_secs(10);

fn group_member(bootstrap: &str, topic: &str, group: &str, instance: Option<&str>) -> GroupMember {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let mut config = Config::bootstrap(bootstrap).unwrap();
    let mut g =
        kafka_blocking::GroupConfig::new(group).only_assignor(|| kafka_blocking::RangeAssignor);
    g.group_instance_id = instance.map(str::to_string);
    g.session_timeout = SESSION;
    g.heartbeat_interval = Duration::from_secs(1);
    config.group = Some(g);
    config.consumer.auto_offset_reset = kafka_blocking::AutoOffsetReset::Earliest;
    let client = Client::connect(config).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let changes: Arc<Mutex<Vec<kafka_blocking::Rebalance>>> = Arc::default();
    let state: Arc<Mutex<MemberState>> = Arc::default();
    let thread = {
        let (stop, changes, state) = (stop.clone(), changes.clone(), state.clone());
        let topic = topic.to_string();
        std::thread::spawn(move || {
            let mut consumer = client.consumer().unwrap();
            consumer.on_rebalance(move |c| changes.lock().unwrap().push(c));
            consumer.subscribe([topic]).unwrap();
            while !stop.load(Ordering::SeqCst) {
                let polled = consumer.poll(Duration::from_millis(100));
                let mut s = state.lock().unwrap();
                if let Err(e @ (Error::Group(_) | Error::Fatal(_))) = polled {
                    s.failed = Some(e.to_string());
                    return;
                }
                s.assignment = consumer.assignment().unwrap();
                s.assignment.sort();
                s.generation = consumer
                    .group_metadata()
                    .unwrap()
                    .map(|m| m.generation_id)
                    .filter(|&g| g >= 0);
            }
            // A static member's close sends no LeaveGroup: its place
            // waits a session timeout for it.
            drop(consumer);
            client.close();
        })
    };
    GroupMember {
        stop,
        changes,
        state,
        thread: Some(thread),
    }
}

impl GroupMember {
    fn state(&self) -> MemberState {
        self.state.lock().unwrap().clone()
    }

    fn changes(&self) -> usize {
        self.changes.lock().unwrap().len()
    }

    fn close(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for GroupMember {
    fn drop(&mut self) {
        self.close();
    }
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Static membership (KIP-345) on Kafka: the static member S leads, a
/// dynamic member D joins; S closes and a new client with S's instance id
/// comes back within the session timeout: it gets S's partitions in the
/// same generation, and D sees no rebalance (with range, any rebalance
/// would revoke D's partitions). Then a second client with the same
/// instance id joins: the coordinator gives it the place and the first
/// stops with `GroupError::FencedInstanceId`.
#[test]
fn a_static_member_restarts_without_a_rebalance_and_a_duplicate_is_fenced_on_kafka() {
    let Some(cluster) = KafkaCluster::shared() else {
        return;
    };
    let bootstrap = cluster.bootstrap();
    let topic = format!("b-static-{}", std::process::id());
    let group = format!("b-static-g-{}", std::process::id());
    let admin = Client::bootstrap(&bootstrap).unwrap();
    admin.create_topic(NewTopic::new(&topic, 4, 3)).unwrap();
    let instance = "static-s";

    let mut s = group_member(&bootstrap, &topic, &group, Some(instance));
    wait_until("S owns all four", Duration::from_secs(60), || {
        s.state().assignment.len() == 4
    });
    let d = group_member(&bootstrap, &topic, &group, None);
    wait_until("S and D share", Duration::from_secs(60), || {
        s.state().assignment.len() == 2 && d.state().assignment.len() == 2
    });
    // Settled: both report the same generation.
    wait_until("one generation", Duration::from_secs(30), || {
        let (a, b) = (s.state().generation, d.state().generation);
        a.is_some() && a == b
    });
    let before = s.state();
    let generation = before.generation.unwrap();
    let d_changes = d.changes();

    s.close();
    let closed = Instant::now();
    let mut s2 = group_member(&bootstrap, &topic, &group, Some(instance));
    wait_until("the restarted S owns S's partitions", SESSION, || {
        let now = s2.state();
        now.assignment == before.assignment && now.generation.is_some()
    });
    assert!(closed.elapsed() < SESSION, "{:?}", closed.elapsed());
    assert_eq!(s2.state().generation, Some(generation), "no new generation");
    // Longer than a session timeout: a rebalance the restart caused (or
    // the old member's expiry) would have come by now.
    std::thread::sleep(SESSION + Duration::from_secs(2));
    assert_eq!(d.changes(), d_changes, "D saw a rebalance");
    assert_eq!(d.state().generation, Some(generation));
    assert_eq!(s2.state().generation, Some(generation));
    assert_eq!(s2.state().assignment, before.assignment);
    let described = describe(&admin, &group);
    assert_eq!(described.state, "Stable", "{described:?}");
    let statics: Vec<_> = described
        .members
        .iter()
        .filter(|m| m.instance_id.as_deref() == Some(instance))
        .collect();
    assert_eq!(
        (described.members.len(), statics.len()),
        (2, 1),
        "{described:?}"
    );

    // The duplicate: the newcomer takes the place, the first is fenced.
    let s3 = group_member(&bootstrap, &topic, &group, Some(instance));
    wait_until("the first S fenced", Duration::from_secs(30), || {
        s2.state().failed.is_some()
    });
    let failed = s2.state().failed.unwrap();
    assert!(failed.contains("group instance id"), "{failed}");
    wait_until(
        "the newcomer owns the partitions",
        Duration::from_secs(30),
        || s3.state().assignment == before.assignment,
    );
    assert!(s3.state().failed.is_none());
    assert_eq!(d.state().assignment.len(), 2);
    let described = describe(&admin, &group);
    assert_eq!(described.members.len(), 2, "{described:?}");
    s2.close();
}

fn describe(admin: &Client, group: &str) -> kafka_blocking::GroupDescription {
    admin.describe_groups([group]).unwrap().remove(0)
}

#[test]
fn configs_partitions_records_cluster_on_kafka() {
    let Some(broker) = kafka() else { return };
    common::configs_partitions_records_cluster(&broker);
}
