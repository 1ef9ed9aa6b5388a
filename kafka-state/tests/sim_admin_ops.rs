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
            if let Event::Delivery { id, result } = e {
                assert!(result.is_ok(), "seed {seed}: {result:?}");
                pending.remove(id);
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
