//! Broker-routed admin commands against the simulated cluster: records
//! deleted at leaders that move, errors kept per item, a broker that is
//! down failing only its own resource, the command ending by its
//! deadline.

mod sim;

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_mock::ErrorInjection;
use kafka_proto::{ApiKey, ErrorCode};
use kafka_state::admin::{AdminOutcome, ConfigResource};
use kafka_state::{Event, ProducerRecord, RequestId, TopicPartition};
use sim::{for_each_seed, Sim};

fn outcome(sim: &mut Sim, id: RequestId) -> AdminOutcome {
    sim.wait_for(Duration::from_secs(180), |e| match e {
        Event::AdminResult { id: got, result } if *got == id => {
            Some(result.clone().expect("the command succeeded"))
        }
        _ => None,
    })
}

#[test]
fn sim_delete_records_follows_moved_leaders_and_keeps_errors_per_partition() {
    for_each_seed(|seed| {
        let mut sim = Sim::new(seed, 3);
        sim.cluster.create_topic("t", 3, 3).unwrap();
        let now = sim.now;
        let id = sim.client.admin().metadata(now, ["t"]).unwrap();
        outcome(&mut sim, id);
        let mut ids = Vec::new();
        for i in 0..30 {
            let now = sim.now;
            let r = ProducerRecord::new("t")
                .with_partition(i % 3)
                .with_value(b"v".to_vec());
            ids.push(sim.client.producer().send(now, r).unwrap());
        }
        let mut pending: std::collections::BTreeSet<_> = ids.into_iter().collect();
        sim.wait_for(Duration::from_secs(60), |e| {
            for (id, result) in e.outcomes() {
                assert!(result.is_ok(), "seed {seed}: {result:?}");
                pending.remove(&id);
            }
            pending.is_empty().then_some(())
        });
        // The client's cache names partition 0's old leader.
        let md = sim.client.cluster().leader_for("t", 0).unwrap();
        sim.cluster.move_leader("t", 0, (md + 1) % 3).unwrap();
        sim.cluster.inject_error(
            ErrorInjection::new(ApiKey::DeleteRecords, ErrorCode::NotLeaderOrFollower, 2)
                .on_partition("t", 1),
        );
        // Never answered well: it ends with its own error at the deadline.
        sim.cluster.inject_error(
            ErrorInjection::new(
                ApiKey::DeleteRecords,
                ErrorCode::NotLeaderOrFollower,
                100_000,
            )
            .on_partition("t", 2),
        );
        let tp = |p| TopicPartition::new("t", p);
        let before: BTreeMap<TopicPartition, i64> =
            [(tp(0), 5), (tp(1), 6), (tp(2), 7), (tp(3), 1)]
                .into_iter()
                .collect();
        let now = sim.now;
        let started = sim.elapsed();
        let id = sim.client.admin().delete_records(now, before).unwrap();
        let AdminOutcome::DeleteRecords(done) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        let took = sim.elapsed() - started;
        assert_eq!(done[&tp(0)], Ok(5), "seed {seed}");
        assert_eq!(done[&tp(1)], Ok(6), "seed {seed}");
        assert!(
            matches!(done[&tp(2)], Err(ErrorCode::NotLeaderOrFollower)),
            "seed {seed}: {done:?}"
        );
        assert_eq!(done[&tp(3)], Err(ErrorCode::UnknownTopicOrPartition));
        // The default api_timeout is a minute; retries stop there.
        assert!(took < Duration::from_secs(75), "seed {seed}: took {took:?}");
    });
}

#[test]
fn sim_a_broker_down_fails_only_its_own_configs() {
    for_each_seed(|seed| {
        let mut sim = Sim::with_config(seed, 3, |c| c.api_timeout = Duration::from_secs(10));
        sim.cluster.create_topic("t", 1, 3).unwrap();
        let now = sim.now;
        let id = sim.client.admin().brokers(now).unwrap();
        outcome(&mut sim, id);
        sim.set_broker_up(2, false);
        let now = sim.now;
        let started = sim.elapsed();
        let id = sim
            .client
            .admin()
            .describe_configs(
                now,
                [
                    ConfigResource::Broker(0),
                    ConfigResource::Broker(1),
                    ConfigResource::Broker(2),
                    ConfigResource::Topic("t".into()),
                ],
                true,
            )
            .unwrap();
        let AdminOutcome::DescribeConfigs(described) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        let took = sim.elapsed() - started;
        assert_eq!(described.len(), 4);
        for d in [&described[0], &described[1], &described[3]] {
            assert_eq!(d.error, ErrorCode::None, "seed {seed}: {d:?}");
            assert!(!d.entries.is_empty());
        }
        assert_eq!(described[2].resource, ConfigResource::Broker(2));
        assert_eq!(
            described[2].error,
            ErrorCode::RequestTimedOut,
            "seed {seed}"
        );
        assert!(
            took <= Duration::from_secs(12),
            "seed {seed}: took {took:?}"
        );

        // Back up: a retriable answer is asked again.
        sim.set_broker_up(2, true);
        sim.cluster.inject_error(
            ErrorInjection::new(ApiKey::DescribeConfigs, ErrorCode::RequestTimedOut, 1)
                .on_broker(2),
        );
        let now = sim.now;
        let id = sim
            .client
            .admin()
            .describe_configs(now, [ConfigResource::Broker(2)], false)
            .unwrap();
        let AdminOutcome::DescribeConfigs(described) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        assert_eq!(described[0].error, ErrorCode::None, "seed {seed}");
    });
}

#[test]
fn caller_mistakes_are_refused_before_anything_is_sent() {
    use kafka_state::admin::{AlterConfigOp, NewPartitions};
    use kafka_state::Misuse;
    let mut sim = Sim::new(1, 1);
    let now = sim.now;
    let mut admin = sim.client.admin();
    let topic = || ConfigResource::Topic("t".into());
    let set = |k: &str| AlterConfigOp::Set(k.into(), "1".into());
    let refused: Vec<Result<RequestId, Misuse>> = vec![
        admin.describe_configs(now, [], false),
        admin.describe_configs(now, [topic(), topic()], false),
        admin.describe_configs(now, [ConfigResource::Topic("no/slash".into())], false),
        admin.describe_configs(now, [ConfigResource::BrokerLogger(-3)], false),
        admin.alter_configs(now, [(topic(), vec![])], false),
        admin.alter_configs(
            now,
            [(topic(), vec![set("a"), AlterConfigOp::Delete("a".into())])],
            true,
        ),
        admin.alter_configs(now, [(topic(), vec![set("")])], false),
        admin.create_partitions(now, [NewPartitions::new("t", 0)], false),
        admin.create_partitions(now, [], false),
        admin.create_partitions(
            now,
            [NewPartitions::new("t", 2).with_assignment(vec![vec![]])],
            false,
        ),
        admin.create_partitions(
            now,
            [NewPartitions::new("t", 2), NewPartitions::new("t", 3)],
            false,
        ),
        admin.delete_records(now, BTreeMap::new()),
        admin.delete_records(
            now,
            [(TopicPartition::new("t", -1), 1)].into_iter().collect(),
        ),
        admin.delete_records(
            now,
            [(TopicPartition::new("t", 0), -2)].into_iter().collect(),
        ),
        admin.describe_features(now, Some(-1)),
    ];
    for (i, r) in refused.iter().enumerate() {
        assert!(r.is_err(), "case {i} was accepted");
    }
    sim.run_for(Duration::from_secs(1));
    assert!(
        !sim.events
            .iter()
            .any(|e| matches!(e, Event::AdminResult { .. })),
        "a refused command produced a result"
    );
}

#[test]
fn sim_delete_records_waits_for_a_partition_without_a_leader() {
    for_each_seed(|seed| {
        let mut sim = Sim::with_config(seed, 3, |c| c.api_timeout = Duration::from_secs(20));
        sim.cluster.create_topic("solo", 1, 1).unwrap();
        let now = sim.now;
        let id = sim.client.admin().metadata(now, ["solo"]).unwrap();
        outcome(&mut sim, id);
        let leader = sim.client.cluster().leader_for("solo", 0).unwrap();
        // The only replica is down: no leader until it is back.
        sim.set_broker_up(leader, false);
        let tp = TopicPartition::new("solo", 0);
        let now = sim.now;
        let id = sim
            .client
            .admin()
            .delete_records(now, [(tp.clone(), -1)].into_iter().collect())
            .unwrap();
        sim.run_for(Duration::from_secs(3));
        assert!(
            !sim.events
                .iter()
                .any(|e| matches!(e, Event::AdminResult { id: got, .. } if *got == id)),
            "seed {seed}: answered while the partition had no leader"
        );
        sim.set_broker_up(leader, true);
        let AdminOutcome::DeleteRecords(done) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        assert_eq!(done[&tp], Ok(0), "seed {seed}");

        // Down for good: the partition's own retriable error at the deadline.
        sim.set_broker_up(leader, false);
        let now = sim.now;
        let id = sim
            .client
            .admin()
            .delete_records(now, [(tp.clone(), -1)].into_iter().collect())
            .unwrap();
        let AdminOutcome::DeleteRecords(done) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        assert_eq!(done[&tp], Err(ErrorCode::LeaderNotAvailable), "seed {seed}");
    });
}

#[test]
fn sim_acl_scram_and_quota_commands_fail_at_once_where_the_cluster_does_not_serve_them() {
    use kafka_state::admin::{
        AclBinding, AclBindingFilter, AclOperation, AclPermission, AclResourceType, QuotaEntity,
        QuotaFilter, QuotaOp, ScramChange, ScramMechanism,
    };
    use kafka_state::RequestError;
    for_each_seed(|seed| {
        let mut sim = Sim::new(seed, 1);
        let now = sim.now;
        let binding = AclBinding::new(
            AclResourceType::Topic,
            "t",
            "User:alice",
            AclOperation::Read,
            AclPermission::Allow,
        );
        let mut admin = sim.client.admin();
        let ids = [
            admin.create_acls(now, [binding.clone()]).unwrap(),
            admin.describe_acls(now, AclBindingFilter::any()).unwrap(),
            admin.delete_acls(now, [binding.to_filter()]).unwrap(),
            admin
                .describe_user_scram_credentials(now, ["alice"])
                .unwrap(),
            admin
                .alter_user_scram_credentials(
                    now,
                    [ScramChange::upsert(
                        "alice",
                        ScramMechanism::Sha256,
                        4096,
                        "pw",
                    )],
                )
                .unwrap(),
            admin
                .describe_client_quotas(now, QuotaFilter::any())
                .unwrap(),
            admin
                .alter_client_quotas(
                    now,
                    [(
                        QuotaEntity::new().with_user("alice"),
                        vec![QuotaOp::Remove("producer_byte_rate".into())],
                    )],
                    false,
                )
                .unwrap(),
        ];
        let started = sim.elapsed();
        for id in ids {
            let result = sim.wait_for(Duration::from_secs(180), |e| match e {
                Event::AdminResult { id: got, result } if *got == id => Some(result.clone()),
                _ => None,
            });
            // The mock lists no ACL API in ApiVersions: the command ends
            // as unsupported, not by waiting out its timeout.
            assert!(
                matches!(result, Err(RequestError::Unsupported(_))),
                "seed {seed}: {result:?}"
            );
        }
        assert!(
            sim.elapsed() - started < Duration::from_secs(10),
            "seed {seed}"
        );
    });
}

#[test]
fn acl_mistakes_are_refused_with_the_acl_named() {
    use kafka_state::admin::{
        AclBinding, AclBindingFilter, AclOperation, AclPatternType, AclPermission, AclResourceType,
    };
    use kafka_state::Misuse;
    let mut sim = Sim::new(1, 1);
    let now = sim.now;
    let mut admin = sim.client.admin();
    let ok = AclBinding::new(
        AclResourceType::Topic,
        "t",
        "User:alice",
        AclOperation::Write,
        AclPermission::Allow,
    );
    let matching = ok.clone().with_pattern_type(AclPatternType::Match);
    match admin.create_acls(now, [ok.clone(), matching]) {
        Err(Misuse::InvalidAcl { acl, reason }) => {
            assert!(acl.contains("MATCH"), "{acl}");
            assert!(reason.contains("LITERAL or PREFIXED"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let nobody = AclBinding::new(
        AclResourceType::Topic,
        "t",
        "",
        AclOperation::Write,
        AclPermission::Allow,
    );
    assert!(matches!(
        admin.create_acls(now, [nobody]),
        Err(Misuse::InvalidAcl { .. })
    ));
    let unknown_op = AclBindingFilter::any().with_operation(AclOperation::Unknown(0));
    assert!(matches!(
        admin.delete_acls(now, [unknown_op.clone()]),
        Err(Misuse::InvalidAcl { .. })
    ));
    assert!(matches!(
        admin.describe_acls(now, unknown_op),
        Err(Misuse::InvalidAcl { .. })
    ));
    assert!(admin.create_acls(now, []).is_err());
    assert!(admin.delete_acls(now, []).is_err());
}

#[test]
fn scram_mistakes_are_refused_with_the_user_named() {
    use kafka_state::admin::{ScramChange, ScramMechanism};
    use kafka_state::Misuse;
    let mut sim = Sim::new(1, 1);
    let now = sim.now;
    let mut admin = sim.client.admin();
    let up = |user: &str, m, i, pw: &str| ScramChange::upsert(user, m, i, pw);
    let cases = [
        vec![up("", ScramMechanism::Sha256, 4096, "pw")],
        vec![up("bob", ScramMechanism::Sha256, 4095, "pw")],
        vec![up("bob", ScramMechanism::Sha512, 16_385, "pw")],
        vec![up("bob", ScramMechanism::Sha256, 4096, "")],
        vec![up("bob", ScramMechanism::Unknown(3), 4096, "pw")],
        vec![
            up("bob", ScramMechanism::Sha256, 4096, "pw"),
            ScramChange::delete("bob", ScramMechanism::Sha256),
        ],
    ];
    for (i, changes) in cases.into_iter().enumerate() {
        match admin.alter_user_scram_credentials(now, changes) {
            Err(Misuse::InvalidScramChange { .. }) => {}
            other => panic!("case {i}: {other:?}"),
        }
    }
    assert!(admin.alter_user_scram_credentials(now, []).is_err());
    assert!(admin.describe_user_scram_credentials(now, [""]).is_err());
    // The password is not in the change's debug output.
    let shown = format!("{:?}", up("bob", ScramMechanism::Sha256, 4096, "hunter2"));
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[test]
fn quota_mistakes_are_refused_with_the_entity_named() {
    use kafka_state::admin::{QuotaEntity, QuotaFilter, QuotaMatch, QuotaOp};
    use kafka_state::Misuse;
    let mut sim = Sim::new(1, 1);
    let now = sim.now;
    let mut admin = sim.client.admin();
    let alice = || QuotaEntity::new().with_user("alice");
    let rate = |v: f64| QuotaOp::Set("producer_byte_rate".into(), v);
    let cases = [
        vec![(QuotaEntity::new(), vec![rate(1.0)])],
        vec![(alice(), vec![])],
        vec![(alice(), vec![rate(f64::NAN)])],
        vec![(alice(), vec![rate(0.0)])],
        vec![(alice(), vec![QuotaOp::Set(String::new(), 1.0)])],
        vec![(
            alice(),
            vec![rate(1.0), QuotaOp::Remove("producer_byte_rate".into())],
        )],
        vec![(alice(), vec![rate(1.0)]), (alice(), vec![rate(2.0)])],
        vec![(QuotaEntity::new().with("", None), vec![rate(1.0)])],
    ];
    for (i, changes) in cases.into_iter().enumerate() {
        match admin.alter_client_quotas(now, changes, false) {
            Err(Misuse::InvalidQuota { .. }) => {}
            other => panic!("case {i}: {other:?}"),
        }
    }
    assert!(admin.alter_client_quotas(now, [], false).is_err());
    let twice = QuotaFilter::any()
        .with("user", QuotaMatch::Any)
        .with("user", QuotaMatch::Default);
    assert!(matches!(
        admin.describe_client_quotas(now, twice),
        Err(Misuse::InvalidQuota { .. })
    ));
}

/// A reassignment and an election asked of a controller that answers
/// NOT_CONTROLLER first are asked again (after fresh metadata) until it
/// takes them; in one command a partition moved to a broker that does
/// not exist fails alone; the preferred leader leads after the election.
#[test]
fn sim_reassignments_and_elections_retry_past_not_controller_and_fail_per_partition() {
    use kafka_state::admin::ElectionType;
    for_each_seed(|seed| {
        let mut sim = Sim::new(seed, 3);
        sim.cluster.create_topic("t", 2, 2).unwrap();
        let now = sim.now;
        let id = sim.client.admin().metadata(now, ["t"]).unwrap();
        outcome(&mut sim, id);
        let replicas = sim
            .client
            .cluster()
            .partition("t", 0)
            .unwrap()
            .replicas
            .clone();
        let newcomer = (0..3).find(|n| !replicas.contains(n)).unwrap();
        let count = 1 + (seed % 3) as u32;
        for api in [ApiKey::AlterPartitionReassignments, ApiKey::ElectLeaders] {
            sim.cluster
                .inject_error(ErrorInjection::new(api, ErrorCode::NotController, count));
        }
        let tp = |p| TopicPartition::new("t", p);
        let targets = BTreeMap::from([
            (tp(0), Some(vec![newcomer, replicas[0]])),
            (tp(1), Some(vec![0, 7])),
        ]);
        let now = sim.now;
        let id = sim
            .client
            .admin()
            .alter_partition_reassignments(now, targets)
            .unwrap();
        let AdminOutcome::AlterPartitionReassignments(done) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        assert_eq!(done.len(), 2, "seed {seed}: {done:?}");
        assert_eq!(done[0].partition, tp(0));
        assert_eq!(done[0].error, ErrorCode::None, "seed {seed}: {done:?}");
        assert_eq!(done[1].partition, tp(1));
        assert_eq!(done[1].error, ErrorCode::InvalidReplicaAssignment);

        let now = sim.now;
        let id = sim
            .client
            .admin()
            .list_partition_reassignments(now, None)
            .unwrap();
        let AdminOutcome::ListPartitionReassignments(listed) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        assert!(listed.is_empty(), "seed {seed}: {listed:?}");

        let now = sim.now;
        let id = sim
            .client
            .admin()
            .elect_leaders(
                now,
                ElectionType::Preferred,
                Some(vec![tp(0), tp(1), tp(5)]),
            )
            .unwrap();
        let AdminOutcome::ElectLeaders(elected) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        let code = |p| elected.iter().find(|o| o.partition == tp(p)).unwrap().error;
        assert!(
            matches!(code(0), ErrorCode::None | ErrorCode::ElectionNotNeeded),
            "seed {seed}: {elected:?}"
        );
        assert_eq!(code(5), ErrorCode::UnknownTopicOrPartition);
        let now = sim.now;
        let id = sim.client.admin().metadata(now, ["t"]).unwrap();
        let AdminOutcome::Metadata(md) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        let p0 = md.partition("t", 0).unwrap();
        assert_eq!(p0.leader, Some(newcomer), "seed {seed}: {p0:?}");
        assert_eq!(p0.replicas, vec![newcomer, replicas[0]]);
    });
}

/// Log directories are asked of every broker and merged per broker; a
/// broker that refuses keeps its own error, one that answers a retriable
/// error once is asked again, and one that is down is not listed (the
/// metadata no longer names it).
#[test]
fn sim_log_dirs_merge_every_broker_and_keep_a_failing_broker_apart() {
    for_each_seed(|seed| {
        let mut sim = Sim::with_config(seed, 3, |c| c.api_timeout = Duration::from_secs(10));
        sim.cluster.create_topic("t", 3, 2).unwrap();
        sim.cluster.create_topic("other", 1, 3).unwrap();
        let now = sim.now;
        let id = sim.client.admin().brokers(now).unwrap();
        outcome(&mut sim, id);
        sim.cluster.inject_error(
            ErrorInjection::new(ApiKey::DescribeLogDirs, ErrorCode::RequestTimedOut, 1)
                .on_broker(1),
        );
        sim.cluster.inject_error(
            ErrorInjection::new(
                ApiKey::DescribeLogDirs,
                ErrorCode::ClusterAuthorizationFailed,
                1_000,
            )
            .on_broker(2),
        );
        let now = sim.now;
        let started = sim.elapsed();
        let id = sim
            .client
            .admin()
            .describe_log_dirs(now, Some(vec!["t".into()]))
            .unwrap();
        let AdminOutcome::DescribeLogDirs(dirs) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        let took = sim.elapsed() - started;
        assert!(took <= Duration::from_secs(12), "seed {seed}: {took:?}");
        assert_eq!(dirs.iter().map(|b| b.node).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(
            dirs[2].error,
            ErrorCode::ClusterAuthorizationFailed,
            "seed {seed}"
        );
        for b in &dirs[..2] {
            assert_eq!(b.error, ErrorCode::None, "seed {seed}: {b:?}");
            assert_eq!(b.dirs.len(), 1);
            assert!(b.dirs[0].replicas.iter().all(|r| r.partition.topic == "t"));
        }
        // Each of the 6 replicas of t is on one broker; those of the two
        // brokers up are listed.
        let listed: usize = dirs
            .iter()
            .map(|b| b.dirs.iter().map(|d| d.replicas.len()).sum::<usize>())
            .sum();
        assert!((2..=6).contains(&listed), "seed {seed}: {dirs:?}");

        sim.set_broker_up(0, false);
        let now = sim.now;
        let id = sim.client.admin().describe_log_dirs(now, None).unwrap();
        let AdminOutcome::DescribeLogDirs(dirs) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        assert_eq!(dirs.iter().map(|b| b.node).collect::<Vec<_>>(), [1, 2]);
        assert!(dirs[0].dirs[0]
            .replicas
            .iter()
            .any(|r| r.partition.topic == "other"));
    });
}

/// Producers are asked of each partition's leader and follow a moved
/// leader; transactions are listed at every broker and described at their
/// coordinator, found again after NOT_COORDINATOR; a group's offsets are
/// deleted at a coordinator that is loading at first.
#[test]
fn sim_producers_transactions_and_offset_deletes_find_their_brokers() {
    use kafka_state::admin::TransactionFilter;
    for_each_seed(|seed| {
        let mut sim = Sim::with_configs(
            seed,
            3,
            |_| {},
            |c| c.producer.transactional_id = Some("tx".into()),
        );
        sim.cluster.create_topic("t", 2, 3).unwrap();
        let now = sim.now;
        sim.client.transactions().init(now).unwrap();
        sim.flush();
        sim.run_until(Duration::from_secs(30), |s| {
            s.events.iter().any(|e| matches!(e, Event::Transaction(_)))
        });
        let now = sim.now;
        sim.client.transactions().begin(now).unwrap();
        let now = sim.now;
        let r = ProducerRecord::new("t")
            .with_partition(1)
            .with_value(b"v".to_vec());
        let delivery = sim.client.producer().send(now, r).unwrap();
        sim.wait_for(Duration::from_secs(30), |e| {
            let (_, result) = e.outcomes().find(|(id, _)| *id == delivery)?;
            assert!(result.is_ok(), "seed {seed}: {result:?}");
            Some(())
        });
        let tp = TopicPartition::new("t", 1);
        let leader = sim.client.cluster().leader_for("t", 1).unwrap();
        sim.cluster.move_leader("t", 1, (leader + 1) % 3).unwrap();
        let now = sim.now;
        let id = sim
            .client
            .admin()
            .describe_producers(now, [tp.clone(), TopicPartition::new("t", 9)])
            .unwrap();
        let AdminOutcome::DescribeProducers(p) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        let states = p[&tp]
            .as_ref()
            .unwrap_or_else(|e| panic!("seed {seed}: {e:?}"));
        assert_eq!(states.len(), 1, "seed {seed}: {states:?}");
        assert_eq!(states[0].current_txn_start_offset, Some(0));
        assert!(p[&TopicPartition::new("t", 9)].is_err());

        let now = sim.now;
        let id = sim
            .client
            .admin()
            .list_transactions(now, TransactionFilter::any().with_state("Ongoing"))
            .unwrap();
        let AdminOutcome::ListTransactions(listed) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        assert_eq!(listed.transactions.len(), 1, "seed {seed}: {listed:?}");
        assert_eq!(listed.transactions[0].transactional_id, "tx");
        assert_eq!(listed.transactions[0].producer_id, states[0].producer_id);

        sim.cluster.inject_error(ErrorInjection::new(
            ApiKey::DescribeTransactions,
            ErrorCode::NotCoordinator,
            1 + (seed % 2) as u32,
        ));
        let now = sim.now;
        let id = sim
            .client
            .admin()
            .describe_transactions(now, ["tx", "nope"])
            .unwrap();
        let AdminOutcome::DescribeTransactions(d) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        assert_eq!(d[0].error, ErrorCode::None, "seed {seed}: {d:?}");
        assert_eq!(d[0].state, "Ongoing");
        assert_eq!(d[0].partitions, vec![tp.clone()]);
        assert_eq!(d[1].error, ErrorCode::TransactionalIdNotFound);

        // Offsets of a group without members, deleted at a coordinator
        // that is still loading at first.
        let now = sim.now;
        let id = sim
            .client
            .admin()
            .alter_group_offsets(now, "g", BTreeMap::from([(tp.clone(), 1)]))
            .unwrap();
        outcome(&mut sim, id);
        sim.cluster.inject_error(ErrorInjection::new(
            ApiKey::OffsetDelete,
            ErrorCode::CoordinatorLoadInProgress,
            2,
        ));
        let now = sim.now;
        let id = sim
            .client
            .admin()
            .delete_group_offsets(now, "g", [tp.clone()])
            .unwrap();
        let AdminOutcome::DeleteGroupOffsets(deleted) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        assert_eq!(deleted[&tp], ErrorCode::None, "seed {seed}: {deleted:?}");
        let now = sim.now;
        let id = sim.client.admin().group_offsets(now, "g").unwrap();
        let AdminOutcome::GroupOffsets(left) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        assert!(left.offsets.is_empty(), "seed {seed}: {left:?}");
    });
}

/// Mistakes in the new commands are typed errors naming the item, never
/// a request and never a panic.
#[test]
fn replica_and_feature_mistakes_are_refused_naming_the_item() {
    use kafka_state::admin::{ElectionType, FeatureUpdate, FeatureUpgrade, TransactionFilter};
    use kafka_state::Misuse;
    let mut sim = Sim::new(1, 1);
    let now = sim.now;
    let mut admin = sim.client.admin();
    let tp = |t: &str, p| TopicPartition::new(t, p);
    let move_to = |t: TopicPartition, r: Option<Vec<i32>>| BTreeMap::from([(t, r)]);
    let named = |r: Result<RequestId, Misuse>| r.unwrap_err().to_string();
    let e = named(admin.alter_partition_reassignments(now, move_to(tp("t", 0), Some(vec![1, -1]))));
    assert!(e.contains("t-0") && e.contains("negative"), "{e}");
    let e = named(admin.alter_partition_reassignments(now, move_to(tp("t", 0), Some(vec![2, 2]))));
    assert!(e.contains("t-0") && e.contains("twice"), "{e}");
    let e = named(admin.alter_partition_reassignments(now, move_to(tp("t", 1), Some(vec![]))));
    assert!(e.contains("t-1") && e.contains("empty"), "{e}");
    let e = named(admin.alter_partition_reassignments(now, move_to(tp("bad name", 0), None)));
    assert!(e.contains("bad name"), "{e}");
    let e = named(admin.alter_partition_reassignments(now, move_to(tp("t", -2), None)));
    assert!(e.contains("t--2"), "{e}");
    assert!(admin
        .alter_partition_reassignments(now, BTreeMap::new())
        .is_err());
    let e = named(admin.elect_leaders(now, ElectionType::Unclean, Some(vec![tp("t", -1)])));
    assert!(e.contains("t--1"), "{e}");
    assert!(admin
        .elect_leaders(now, ElectionType::Preferred, Some(vec![]))
        .is_err());
    let e = named(admin.list_partition_reassignments(now, Some(vec![tp("..", 0)])));
    assert!(e.contains("\"..\""), "{e}");
    let e = named(admin.describe_log_dirs(now, Some(vec!["a/b".into()])));
    assert!(e.contains("a/b"), "{e}");
    assert!(admin.describe_producers(now, Vec::new()).is_err());
    let e = named(admin.describe_producers(now, [tp("t", -5)]));
    assert!(e.contains("t--5"), "{e}");
    let e = named(admin.delete_group_offsets(now, "g", [tp("t", -1)]));
    assert!(e.contains("t--1"), "{e}");
    assert!(admin.delete_group_offsets(now, "", [tp("t", 0)]).is_err());
    assert!(admin.describe_transactions(now, [""]).is_err());
    assert!(admin
        .list_transactions(now, TransactionFilter::any().with_producer_id(-4))
        .is_err());
    assert!(admin
        .list_groups_matching(now, vec![String::new()], vec![])
        .is_err());
    let e =
        named(admin.update_features(now, [FeatureUpdate::upgrade("metadata.version", -1)], true));
    assert!(
        e.contains("metadata.version") && e.contains("negative"),
        "{e}"
    );
    let e = named(admin.update_features(now, [FeatureUpdate::upgrade("x", 0)], true));
    assert!(e.contains("downgrade"), "{e}");
    let twice = [
        FeatureUpdate::upgrade("x", 1),
        FeatureUpdate::new("x", 0, FeatureUpgrade::UnsafeDowngrade),
    ];
    let e = named(admin.update_features(now, twice, false));
    assert!(e.contains("twice"), "{e}");
    assert!(admin.update_features(now, [], false).is_err());
    sim.flush();
    assert!(sim
        .events
        .iter()
        .all(|e| !matches!(e, Event::AdminResult { .. })));
}

/// UpdateFeatures and ShareGroupDescribe, which the mock does not serve,
/// fail at once as unsupported rather than waiting out the timeout.
#[test]
fn sim_unserved_feature_updates_and_share_groups_fail_at_once() {
    use kafka_state::admin::FeatureUpdate;
    use kafka_state::RequestError;
    let mut sim = Sim::new(3, 3);
    let now = sim.now;
    let id = sim.client.admin().brokers(now).unwrap();
    outcome(&mut sim, id);
    let started = sim.elapsed();
    let now = sim.now;
    let id = sim
        .client
        .admin()
        .update_features(
            now,
            [FeatureUpdate::upgrade("transaction.version", 2)],
            true,
        )
        .unwrap();
    let result = sim.wait_for(Duration::from_secs(90), |e| match e {
        Event::AdminResult { id: got, result } if *got == id => Some(result.clone()),
        _ => None,
    });
    assert!(
        matches!(result, Err(RequestError::Unsupported(_))),
        "{result:?}"
    );
    let now = sim.now;
    let id = sim
        .client
        .admin()
        .describe_share_groups(now, ["g"])
        .unwrap();
    let result = sim.wait_for(Duration::from_secs(90), |e| match e {
        Event::AdminResult { id: got, result } if *got == id => Some(result.clone()),
        _ => None,
    });
    assert!(result.is_err(), "{result:?}");
    assert!(sim.elapsed() - started < Duration::from_secs(5));
}
