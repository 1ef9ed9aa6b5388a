//! Topic administration against the simulated cluster: explicit replica
//! assignments and validate-only creation with errors kept per topic,
//! deletion by topic id (and its refusal by a broker too old for it),
//! offline replicas of a stopped broker and authorized operations asked
//! for only when wanted; and the caller mistakes refused before sending.

mod sim;

use std::time::Duration;

use kafka_proto::{ApiKey, ErrorCode, Uuid};
use kafka_state::admin::{AclOperation, AdminOutcome};
use kafka_state::{ClusterMetadata, Event, Misuse, NewTopic, RequestError, RequestId};
use sim::{for_each_seed, Sim};

fn result(sim: &mut Sim, id: RequestId) -> Result<AdminOutcome, RequestError> {
    sim.wait_for(Duration::from_secs(180), |e| match e {
        Event::AdminResult { id: got, result } if *got == id => Some(result.clone()),
        _ => None,
    })
}

fn outcome(sim: &mut Sim, id: RequestId) -> AdminOutcome {
    result(sim, id).expect("the command succeeded")
}

/// What an admin `metadata` of `topics` answers, or with `operations` a
/// `describe_topics` that asks for the authorized operations too.
fn described<const N: usize>(
    sim: &mut Sim,
    topics: [&str; N],
    operations: bool,
) -> ClusterMetadata {
    let now = sim.now;
    let mut admin = sim.client.admin();
    let id = match operations {
        true => admin.describe_topics(now, topics, true),
        false => admin.metadata(now, topics),
    }
    .unwrap();
    match outcome(sim, id) {
        AdminOutcome::Metadata(md) => md,
        other => panic!("seed {}: wrong outcome {other:?}", sim.seed),
    }
}

#[test]
fn sim_create_with_assignment_and_validate_only_keep_errors_per_topic() {
    for_each_seed(|seed| {
        let mut sim = Sim::new(seed, 3);
        sim.cluster.create_topic("exists", 1, 1).unwrap();
        let now = sim.now;
        let id = sim
            .client
            .admin()
            .create_topics(
                now,
                [
                    NewTopic::assigned("placed", vec![vec![2, 0], vec![0, 1], vec![1, 2]]),
                    NewTopic::assigned("nowhere", vec![vec![0, 99]]),
                    NewTopic::new("exists", 1, 1),
                ],
            )
            .unwrap();
        let AdminOutcome::CreateTopics(done) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        let by = |n: &str| done.iter().find(|o| o.name == n).unwrap().clone();
        let placed = by("placed");
        assert_eq!(placed.error, ErrorCode::None, "seed {seed}: {placed:?}");
        assert_eq!(placed.partitions, Some(3));
        assert_eq!(placed.replication_factor, Some(2));
        assert!(placed.id.is_some());
        assert_eq!(by("nowhere").error, ErrorCode::InvalidReplicaAssignment);
        assert_eq!(by("exists").error, ErrorCode::TopicAlreadyExists);

        let md = described(&mut sim, ["placed", "nowhere"], false);
        let t = md.topic("placed").unwrap();
        let replicas: Vec<Vec<i32>> = t.partitions.iter().map(|p| p.replicas.clone()).collect();
        assert_eq!(replicas, vec![vec![2, 0], vec![0, 1], vec![1, 2]]);
        let leaders: Vec<Option<i32>> = t.partitions.iter().map(|p| p.leader).collect();
        assert_eq!(leaders, vec![Some(2), Some(0), Some(1)]);
        assert_eq!(
            md.topic("nowhere").unwrap().error,
            ErrorCode::UnknownTopicOrPartition
        );

        // Validate only: the good one is reported with its shape, the
        // bad ones with their errors, and nothing is created.
        let now = sim.now;
        let id = sim
            .client
            .admin()
            .create_topics_validate(
                now,
                [
                    NewTopic::new("maybe", 4, 2),
                    NewTopic::assigned("maybe-placed", vec![vec![1], vec![2]]),
                    NewTopic::new("too-wide", 1, 5),
                    NewTopic::new("placed", 1, 1),
                ],
                true,
            )
            .unwrap();
        let AdminOutcome::CreateTopics(done) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        let by = |n: &str| done.iter().find(|o| o.name == n).unwrap().clone();
        let maybe = by("maybe");
        assert_eq!(maybe.error, ErrorCode::None, "seed {seed}: {maybe:?}");
        assert_eq!(
            (maybe.partitions, maybe.replication_factor),
            (Some(4), Some(2))
        );
        let placed = by("maybe-placed");
        assert_eq!(placed.error, ErrorCode::None, "seed {seed}: {placed:?}");
        assert_eq!(
            (placed.partitions, placed.replication_factor),
            (Some(2), Some(1))
        );
        assert_eq!(by("too-wide").error, ErrorCode::InvalidReplicationFactor);
        assert_eq!(by("placed").error, ErrorCode::TopicAlreadyExists);
        let md = described(&mut sim, ["maybe", "maybe-placed"], false);
        for n in ["maybe", "maybe-placed"] {
            assert_eq!(
                md.topic(n).unwrap().error,
                ErrorCode::UnknownTopicOrPartition,
                "seed {seed}: {n} was created"
            );
        }
    });
}

#[test]
fn sim_validate_only_is_refused_by_create_topics_v0_rather_than_applied() {
    let mut sim = Sim::new(1, 1);
    sim.cluster.set_max_version(ApiKey::CreateTopics, 0);
    let now = sim.now;
    let id = sim
        .client
        .admin()
        .create_topics_validate(now, [NewTopic::new("t", 1, 1)], true)
        .unwrap();
    assert!(
        matches!(result(&mut sim, id), Err(RequestError::Encode(_))),
        "sent"
    );
}

#[test]
fn sim_delete_by_id_answers_per_id_with_names() {
    for_each_seed(|seed| {
        let mut sim = Sim::new(seed, 3);
        sim.cluster.create_topic("a", 1, 1).unwrap();
        sim.cluster.create_topic("b", 2, 2).unwrap();
        let md = described(&mut sim, ["a", "b"], false);
        let (a, b) = (md.topic("a").unwrap().id, md.topic("b").unwrap().id);
        let stranger = Uuid::from_u64_pair(42, 42);
        let now = sim.now;
        let id = sim
            .client
            .admin()
            .delete_topics_by_id(now, [b, stranger, a])
            .unwrap();
        let AdminOutcome::DeleteTopicsById(done) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        let ids: Vec<Uuid> = done.iter().map(|o| o.id).collect();
        assert_eq!(ids, vec![b, stranger, a], "in the order asked");
        assert_eq!(done[0].error, ErrorCode::None);
        assert_eq!(done[0].name.as_deref(), Some("b"));
        assert_eq!(done[1].error, ErrorCode::UnknownTopicId);
        assert_eq!(done[1].name, None);
        assert_eq!(done[2].error, ErrorCode::None);
        assert_eq!(done[2].name.as_deref(), Some("a"));
        let md = described(&mut sim, ["a", "b"], false);
        for n in ["a", "b"] {
            assert_eq!(
                md.topic(n).unwrap().error,
                ErrorCode::UnknownTopicOrPartition
            );
        }
    });
}

#[test]
fn sim_delete_by_id_is_unsupported_before_delete_topics_v6() {
    let mut sim = Sim::new(1, 1);
    sim.cluster.set_max_version(ApiKey::DeleteTopics, 5);
    sim.cluster.create_topic("a", 1, 1).unwrap();
    let now = sim.now;
    let id = sim
        .client
        .admin()
        .delete_topics_by_id(now, [Uuid::from_u64_pair(1, 1)])
        .unwrap();
    match result(&mut sim, id) {
        Err(RequestError::Unsupported(e)) => assert_eq!(e.api, ApiKey::DeleteTopics),
        other => panic!("{other:?}"),
    }
    // By name still works on that broker.
    let now = sim.now;
    let id = sim.client.admin().delete_topics(now, ["a"]).unwrap();
    let AdminOutcome::DeleteTopics(done) = outcome(&mut sim, id) else {
        panic!("wrong outcome")
    };
    assert_eq!(done[0].error, ErrorCode::None);
}

#[test]
fn sim_describe_shows_offline_replicas_and_operations_only_when_asked() {
    for_each_seed(|seed| {
        let mut sim = Sim::new(seed, 3);
        sim.cluster.create_topic("t", 3, 3).unwrap();
        let md = described(&mut sim, ["t"], false);
        let t = md.topic("t").unwrap();
        assert_eq!(t.authorized_operations, None, "not asked");
        assert!(t.partitions.iter().all(|p| p.offline_replicas.is_empty()));

        sim.set_broker_up(1, false);
        // The client sees its connection to broker 1 close first.
        sim.run_for(Duration::from_secs(1));
        let md = described(&mut sim, ["t"], true);
        let t = md.topic("t").unwrap();
        for p in &t.partitions {
            assert_eq!(p.offline_replicas, vec![1], "seed {seed}: {p:?}");
            assert!(!p.isr.contains(&1), "seed {seed}: {p:?}");
        }
        let ops = t.authorized_operations.clone().expect("asked");
        assert_eq!(
            ops,
            vec![
                AclOperation::Read,
                AclOperation::Write,
                AclOperation::Create,
                AclOperation::Delete,
                AclOperation::Alter,
                AclOperation::Describe,
                AclOperation::DescribeConfigs,
                AclOperation::AlterConfigs,
            ],
            "seed {seed}"
        );
        // The cache keeps the offline replicas, never the operations.
        let cached = sim.client.cluster().topic("t").unwrap();
        assert_eq!(cached.authorized_operations, None);
        assert!(cached
            .partitions
            .iter()
            .all(|p| p.offline_replicas == vec![1]));
    });
}

#[test]
fn sim_operations_are_not_known_before_metadata_v8() {
    let mut sim = Sim::new(1, 1);
    sim.cluster.set_max_version(ApiKey::Metadata, 7);
    sim.cluster.create_topic("t", 1, 1).unwrap();
    let now = sim.now;
    let id = sim
        .client
        .admin()
        .describe_topics(now, ["t"], true)
        .unwrap();
    let AdminOutcome::Metadata(md) = outcome(&mut sim, id) else {
        panic!("wrong outcome")
    };
    let t = md.topic("t").unwrap();
    assert_eq!(t.error, ErrorCode::None);
    assert_eq!(t.authorized_operations, None);
}

#[test]
fn new_topic_and_id_mistakes_are_refused_naming_the_topic() {
    let mut sim = Sim::new(1, 1);
    let now = sim.now;
    let mut admin = sim.client.admin();
    let cases: Vec<(NewTopic, &str)> = vec![
        (NewTopic::assigned("t", vec![]), "no partitions"),
        (
            NewTopic::assigned("t", vec![vec![1], vec![]]),
            "no replicas",
        ),
        (NewTopic::assigned("t", vec![vec![1, 1]]), "twice"),
        (
            NewTopic::assigned("t", vec![vec![1, 2], vec![1]]),
            "different",
        ),
        (NewTopic::assigned("t", vec![vec![-1]]), "negative"),
        (
            NewTopic::new("t", 3, -1).with_assignment(vec![vec![1]]),
            "excludes",
        ),
        (
            NewTopic::new("t", -1, 2).with_assignment(vec![vec![1]]),
            "excludes",
        ),
    ];
    for (topic, words) in cases {
        let shown = format!("{topic:?}");
        match admin.create_topics_validate(now, [NewTopic::new("fine", 1, 1), topic], true) {
            Err(Misuse::InvalidNewTopic { topic, reason }) => {
                assert_eq!(topic, "t", "{shown}");
                assert!(reason.contains(words), "{shown}: {reason}");
            }
            other => panic!("{shown}: {other:?}"),
        }
    }
    assert_eq!(
        admin.create_topics(now, [NewTopic::new("t", 0, 1)]),
        Err(Misuse::InvalidPartitions(0))
    );
    assert_eq!(
        admin.create_topics(now, [NewTopic::new("t", 1, -2)]),
        Err(Misuse::InvalidReplicationFactor(-2))
    );
    assert_eq!(
        admin.delete_topics_by_id(now, Vec::<Uuid>::new()),
        Err(Misuse::NoTopics)
    );
    assert!(admin.delete_topics_by_id(now, [Uuid::ZERO]).is_err());
    let u = Uuid::from_u64_pair(1, 2);
    assert!(admin.delete_topics_by_id(now, [u, u]).is_err());
    assert!(admin.describe_topics(now, ["bad/name"], true).is_err());
}

/// A single-request command whose connection closes before the answer
/// goes again on another (the broker it went to is down) within the API
/// timeout, instead of failing with `Disconnected`; the answer is the
/// one a fresh request gets. Without a usable broker until the deadline,
/// it fails as before.
#[test]
fn sim_single_request_commands_go_again_when_their_connection_closes() {
    for_each_seed(|seed| {
        let mut sim = Sim::new(seed, 3);
        sim.cluster.create_topic("t", 3, 3).unwrap();
        let now = sim.now;
        let warm = sim.client.admin().metadata(now, ["t"]).unwrap();
        outcome(&mut sim, warm);
        let now = sim.now;
        let asks = [
            sim.client.admin().metadata(now, ["t"]).unwrap(),
            sim.client
                .admin()
                .create_topics(now, [NewTopic::new("fresh", 2, 2)])
                .unwrap(),
            sim.client
                .admin()
                .describe_topics(now, ["t"], true)
                .unwrap(),
        ];
        // Once they are on their way, whatever broker they went to is
        // down before it answers.
        let sent = |sim: &Sim| sim.client.stats().brokers.iter().any(|b| b.in_flight > 0);
        while !sent(&sim) {
            assert!(sim.step(), "seed {seed}: nothing sent");
        }
        for conn in sim.open_conns() {
            if let Some(b) = sim.broker_of(conn) {
                sim.set_broker_up(b, false);
                sim.drop_connection(conn);
                sim.set_broker_up(b, true);
            }
        }
        let AdminOutcome::Metadata(md) = outcome(&mut sim, asks[0]) else {
            panic!("seed {seed}: wrong outcome")
        };
        assert_eq!(md.topic("t").unwrap().partitions.len(), 3, "seed {seed}");
        match result(&mut sim, asks[1]) {
            // The first may have been carried out before the close.
            Ok(AdminOutcome::CreateTopics(t)) => assert!(
                matches!(t[0].error, ErrorCode::None | ErrorCode::TopicAlreadyExists),
                "seed {seed}: {t:?}"
            ),
            other => panic!("seed {seed}: {other:?}"),
        }
        let AdminOutcome::Metadata(md) = outcome(&mut sim, asks[2]) else {
            panic!("seed {seed}: wrong outcome")
        };
        assert!(
            md.topic("t").unwrap().authorized_operations.is_some(),
            "seed {seed}"
        );

        // Every broker down past the deadline: the command fails.
        for b in 0..3 {
            sim.set_broker_up(b, false);
        }
        for conn in sim.open_conns() {
            sim.drop_connection(conn);
        }
        let now = sim.now;
        let id = sim.client.admin().metadata(now, ["t"]).unwrap();
        let err = result(&mut sim, id).unwrap_err();
        assert!(
            matches!(
                err,
                RequestError::Timeout | RequestError::Disconnected { .. }
            ),
            "seed {seed}: {err:?}"
        );
    });
}
