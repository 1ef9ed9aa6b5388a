//! The client against the mock cluster in the deterministic simulation.

mod sim;

use std::time::Duration;

use kafka_proto::ApiKey;
use kafka_proto::ErrorCode;
use kafka_state::{AdminOutcome, Broker, Event, Misuse, NewTopic, RequestError, RequestId};
use sim::{for_each_seed, Sim};

const SECS: fn(u64) -> Duration = Duration::from_secs;

fn admin_result(sim: &mut Sim, id: RequestId) -> Result<AdminOutcome, RequestError> {
    sim.wait_for(SECS(60), |e| match e {
        Event::AdminResult { id: got, result } if *got == id => Some(result.clone()),
        _ => None,
    })
}

fn topic_ready(sim: &Sim, topic: &str, partitions: usize) -> bool {
    sim.client.cluster().topic(topic).is_some_and(|t| {
        t.partitions.len() == partitions && t.partitions.iter().all(|p| p.leader.is_some())
    })
}

#[test]
fn sim_bootstraps_negotiates_and_fetches_metadata_from_three_brokers() {
    for_each_seed(|seed| {
        let mut sim = Sim::new(seed, 3);
        sim.wait_metadata(SECS(10), |m| m.brokers().count() == 3);
        assert!(sim
            .events
            .iter()
            .any(|e| matches!(e, Event::BrokerReady { .. })));
        assert!(sim.events.contains(&Event::MetadataUpdated));
        assert_eq!(
            sim.client.cluster().cluster_id(),
            Some("kafka-mock-cluster")
        );
        // Exactly one connection: the bootstrap one, adopted as its node.
        assert_eq!(sim.opens.len(), 1, "seed {seed}");
        let node = (0..3)
            .find(|n| {
                sim.client
                    .negotiated_version(Broker::Node(*n), ApiKey::Metadata)
                    .is_some()
            })
            .expect("the bootstrap connection became a node connection");
        // The mock serves everything kafka-proto knows: the max wins.
        let v = |api: ApiKey| sim.client.negotiated_version(Broker::Node(node), api);
        assert_eq!(
            v(ApiKey::Metadata),
            Some(*ApiKey::Metadata.versions().end())
        );
        assert_eq!(v(ApiKey::Produce), Some(*ApiKey::Produce.versions().end()));
        // ...except unstable versions.
        let init = *ApiKey::InitProducerId.versions().end();
        assert!(ApiKey::InitProducerId.is_unstable(init));
        assert_eq!(v(ApiKey::InitProducerId), Some(init - 1));
    });
}

#[test]
fn sim_create_topic_shows_in_metadata_then_delete() {
    for_each_seed(|seed| {
        let mut sim = Sim::new(seed, 3);
        let now = sim.now;
        let id = sim
            .client
            .admin()
            .create_topics(now, [NewTopic::new("orders", 6, 3)])
            .unwrap();
        match admin_result(&mut sim, id) {
            Ok(AdminOutcome::CreateTopics(r)) => {
                assert_eq!(r.len(), 1);
                assert_eq!(
                    (r[0].name.as_str(), r[0].error),
                    ("orders", ErrorCode::None)
                );
            }
            other => panic!("seed {seed}: {other:?}"),
        }
        // Creating it again reports the broker's per-topic error.
        let now = sim.now;
        let id = sim
            .client
            .admin()
            .create_topics(now, [NewTopic::new("orders", 6, 3)])
            .unwrap();
        let Ok(AdminOutcome::CreateTopics(r)) = admin_result(&mut sim, id) else {
            panic!()
        };
        assert_eq!(r[0].error, ErrorCode::TopicAlreadyExists);

        let now = sim.now;
        sim.client.track_topic(now, "orders").unwrap();
        sim.run_until(SECS(10), |s| topic_ready(s, "orders", 6));
        for p in 0..6 {
            let leader = sim.client.cluster().leader_for("orders", p).unwrap();
            assert_eq!(sim.cluster.partition_leader("orders", p).unwrap(), leader);
        }

        let now = sim.now;
        let id = sim.client.admin().delete_topics(now, ["orders"]).unwrap();
        let Ok(AdminOutcome::DeleteTopics(r)) = admin_result(&mut sim, id) else {
            panic!()
        };
        assert_eq!(r[0].error, ErrorCode::None);
        let now = sim.now;
        let id = sim.client.admin().metadata(now, ["orders"]).unwrap();
        let Ok(AdminOutcome::Metadata(m)) = admin_result(&mut sim, id) else {
            panic!()
        };
        assert_eq!(
            m.topic("orders").map(|t| t.error),
            Some(ErrorCode::UnknownTopicOrPartition)
        );
    });
}

#[test]
fn sim_admin_misuse_is_returned_not_sent() {
    let mut sim = Sim::new(1, 1);
    let now = sim.now;
    let mut admin = sim.client.admin();
    assert_eq!(
        admin.create_topics(now, [NewTopic::new("t", 0, 1)]),
        Err(Misuse::InvalidPartitions(0))
    );
    assert_eq!(
        admin.create_topics(now, [NewTopic::new("t", 1, 0)]),
        Err(Misuse::InvalidReplicationFactor(0))
    );
    assert_eq!(
        admin.create_topics(now, [NewTopic::new("t", 1, -2)]),
        Err(Misuse::InvalidReplicationFactor(-2))
    );
    assert!(admin
        .create_topics(now, [NewTopic::new("t", -1, -1)])
        .is_ok());
    assert!(matches!(
        admin.create_topics(now, [NewTopic::new("bad name", 1, 1)]),
        Err(Misuse::InvalidTopicName { .. })
    ));
    assert_eq!(
        admin.create_topics(now, Vec::<NewTopic>::new()),
        Err(Misuse::NoTopics)
    );
    assert_eq!(
        admin.delete_topics(now, ["a", "a"]),
        Err(Misuse::DuplicateTopic("a".into()))
    );
    assert!(matches!(
        admin.metadata(now, [""]),
        Err(Misuse::InvalidTopicName { .. })
    ));
    assert!(sim.client.track_topic(now, "..").is_err());
}

#[test]
fn sim_broker_down_reconnects_elsewhere_and_metadata_recovers() {
    for_each_seed(|seed| {
        let mut sim = Sim::new(seed, 3);
        sim.cluster.create_topic("t", 6, 3).unwrap();
        let now = sim.now;
        sim.client.track_topic(now, "t").unwrap();
        sim.run_until(SECS(10), |s| topic_ready(s, "t", 6));

        // Take down the broker the client talks to.
        let node = (0..3)
            .find(|n| {
                sim.client
                    .negotiated_version(Broker::Node(*n), ApiKey::Metadata)
                    .is_some()
            })
            .unwrap();
        sim.set_broker_up(node, false);
        sim.wait_for(SECS(5), |e| match e {
            Event::ConnectionLost { broker, .. } if *broker == Broker::Node(node) => Some(()),
            _ => None,
        });
        let now = sim.now;
        sim.client.refresh_metadata(now).unwrap();
        sim.wait_metadata(SECS(30), |m| {
            m.brokers().count() == 2
                && (0..6).all(|p| m.leader_for("t", p).is_some_and(|l| l != node))
        });
        assert!(sim.client.cluster().brokers().all(|(id, _)| id != node));
        // Leaders agree with the cluster after the failover.
        for p in 0..6 {
            assert_eq!(
                sim.client.cluster().leader_for("t", p),
                sim.cluster.partition_leader("t", p).ok()
            );
        }

        // A leader move is picked up on the next refresh, with its epoch.
        let target = sim
            .client
            .cluster()
            .brokers()
            .map(|(id, _)| id)
            .next()
            .unwrap();
        let epoch = sim.client.cluster().partition("t", 0).unwrap().leader_epoch;
        sim.cluster.move_leader("t", 0, target).unwrap();
        let now = sim.now;
        sim.client.refresh_metadata(now).unwrap();
        sim.wait_metadata(SECS(10), |m| {
            m.leader_for("t", 0) == Some(target)
                && m.partition("t", 0).unwrap().leader_epoch > epoch
        });
    });
}

#[test]
fn sim_all_brokers_down_then_one_back_rebootstraps() {
    for_each_seed(|seed| {
        let mut sim = Sim::new(seed, 3);
        sim.wait_metadata(SECS(10), |m| m.brokers().count() == 3);
        for b in 0..3 {
            sim.set_broker_up(b, false);
        }
        sim.run_for(SECS(5));
        let now = sim.now;
        sim.client.refresh_metadata(now).unwrap();
        sim.run_for(SECS(5));
        let lost = sim
            .events
            .iter()
            .filter(|e| matches!(e, Event::ConnectionLost { .. }))
            .count();
        assert!(lost >= 3, "seed {seed}: only {lost} losses");
        // Reconnect attempts are spaced by backoff, not a busy loop.
        assert!(
            sim.opens.len() < 80,
            "seed {seed}: {} opens",
            sim.opens.len()
        );
        sim.set_broker_up(1, true);
        let before = sim.events.len();
        sim.run_until(SECS(30), |s| {
            s.events[before..].contains(&Event::MetadataUpdated)
                || s.events[before..]
                    .iter()
                    .any(|e| matches!(e, Event::BrokerReady { .. }))
        });
        sim.wait_metadata(SECS(30), |m| m.brokers().count() == 1);
    });
}

#[test]
fn sim_in_flight_requests_are_capped_per_connection() {
    for_each_seed(|seed| {
        let mut sim = Sim::with_config(seed, 1, |c| c.max_in_flight = 2);
        sim.latency = Duration::from_millis(20);
        sim.wait_metadata(SECS(10), |m| m.brokers().count() == 1);
        let now = sim.now;
        let ids: Vec<RequestId> = (0..10)
            .map(|_| sim.client.admin().metadata_all(now).unwrap())
            .collect();
        for id in ids {
            assert!(admin_result(&mut sim, id).is_ok(), "seed {seed}");
        }
        let max = sim.max_outstanding.values().copied().max().unwrap();
        assert_eq!(max, 2, "seed {seed}: the cap is reached and never passed");
    });
}

#[test]
fn sim_dropped_connection_sends_in_flight_admin_again_and_client_recovers() {
    for_each_seed(|seed| {
        let mut sim = Sim::new(seed, 2);
        sim.wait_metadata(SECS(10), |m| m.brokers().count() == 2);
        let now = sim.now;
        let id = sim.client.admin().metadata_all(now).unwrap();
        sim.flush();
        for conn in sim.open_conns() {
            sim.drop_connection(conn);
        }
        // Sent again on a new connection within the API timeout.
        match admin_result(&mut sim, id) {
            Ok(AdminOutcome::Metadata(md)) => {
                assert_eq!(md.brokers().count(), 2, "seed {seed}")
            }
            other => panic!("seed {seed}: {other:?}"),
        }
        let now = sim.now;
        let id = sim.client.admin().metadata_all(now).unwrap();
        assert!(admin_result(&mut sim, id).is_ok());
    });
}

#[test]
fn sim_injected_metadata_errors_are_retried() {
    for_each_seed(|seed| {
        let mut sim = Sim::new(seed, 1);
        sim.cluster.create_topic("t", 2, 1).unwrap();
        sim.cluster.inject_error(kafka_mock::ErrorInjection::new(
            ApiKey::Metadata,
            ErrorCode::UnknownServerError,
            3,
        ));
        let now = sim.now;
        sim.client.track_topic(now, "t").unwrap();
        sim.run_until(SECS(10), |s| topic_ready(s, "t", 2));
    });
}
