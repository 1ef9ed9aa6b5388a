//! Consumer-group administration against the simulated cluster: offsets
//! set and read back, groups listed, described and deleted, through
//! coordinator moves.

mod sim;

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_mock::ErrorInjection;
use kafka_proto::{ApiKey, ErrorCode};
use kafka_state::admin::AdminOutcome;
use kafka_state::{Event, RequestId, TopicPartition};
use sim::{for_each_seed, Sim};

fn outcome(sim: &mut Sim, id: RequestId) -> AdminOutcome {
    sim.wait_for(Duration::from_secs(120), |e| match e {
        Event::AdminResult { id: got, result } if *got == id => {
            Some(result.clone().expect("the command succeeded"))
        }
        _ => None,
    })
}

#[test]
fn sim_group_offsets_listing_description_and_deletion_survive_coordinator_moves() {
    for_each_seed(|seed| {
        let mut sim = Sim::new(seed, 3);
        sim.cluster.create_topic("orders", 3, 3).unwrap();
        let now = sim.now;
        let id = sim.client.admin().metadata(now, ["orders"]).unwrap();
        outcome(&mut sim, id);

        // Every coordinator step fails once the way a moving coordinator
        // does: the answers still come.
        for api in [
            ApiKey::OffsetCommit,
            ApiKey::OffsetFetch,
            ApiKey::DescribeGroups,
        ] {
            sim.cluster
                .inject_error(ErrorInjection::new(api, ErrorCode::NotCoordinator, 1));
        }
        sim.cluster.inject_error(ErrorInjection::new(
            ApiKey::FindCoordinator,
            ErrorCode::CoordinatorNotAvailable,
            1,
        ));

        let want: BTreeMap<TopicPartition, i64> = (0..3)
            .map(|p| (TopicPartition::new("orders", p), 10 * i64::from(p) + 5))
            .collect();
        let now = sim.now;
        let id = sim
            .client
            .admin()
            .alter_group_offsets(now, "billing", want.clone())
            .unwrap();
        let AdminOutcome::AlterGroupOffsets(set) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        assert_eq!(set.len(), 3, "seed {seed}");
        assert!(
            set.values().all(|c| *c == ErrorCode::None),
            "seed {seed}: {set:?}"
        );

        let now = sim.now;
        let id = sim.client.admin().group_offsets(now, "billing").unwrap();
        let AdminOutcome::GroupOffsets(got) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        assert_eq!(got.error, ErrorCode::None);
        let read: BTreeMap<TopicPartition, i64> = got
            .offsets
            .iter()
            .map(|(tp, o)| (tp.clone(), o.as_ref().unwrap().offset))
            .collect();
        assert_eq!(read, want, "seed {seed}");

        let now = sim.now;
        let id = sim.client.admin().list_groups(now).unwrap();
        let AdminOutcome::ListGroups(list) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        assert!(list.errors.is_empty(), "seed {seed}: {:?}", list.errors);
        assert!(
            list.groups.iter().any(|g| g.group_id == "billing"),
            "seed {seed}"
        );

        let now = sim.now;
        let id = sim
            .client
            .admin()
            .describe_groups(now, ["billing", "nobody"])
            .unwrap();
        let AdminOutcome::DescribeGroups(described) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        assert_eq!(described.len(), 2);
        let billing = described.iter().find(|g| g.group_id == "billing").unwrap();
        assert_eq!(
            (billing.error, billing.state.as_str()),
            (ErrorCode::None, "Empty")
        );
        assert!(billing.members.is_empty());
        let nobody = described.iter().find(|g| g.group_id == "nobody").unwrap();
        assert_eq!(nobody.state, "Dead", "seed {seed}");

        let now = sim.now;
        let id = sim.client.admin().delete_groups(now, ["billing"]).unwrap();
        let AdminOutcome::DeleteGroups(deleted) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        assert_eq!(deleted, [("billing".to_string(), ErrorCode::None)]);
        let now = sim.now;
        let id = sim.client.admin().group_offsets(now, "billing").unwrap();
        let AdminOutcome::GroupOffsets(after) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        assert!(after.offsets.is_empty(), "seed {seed}: {after:?}");

        // The injected failures were met and retried.
        let sent = |api| sim.sent.iter().filter(|(_, _, a)| *a == api).count();
        assert!(sent(ApiKey::OffsetCommit) >= 2, "seed {seed}");
        assert!(sent(ApiKey::OffsetFetch) >= 3, "seed {seed}");
        assert!(sent(ApiKey::DescribeGroups) >= 3, "seed {seed}");
        // One lookup per group command, one after each failure.
        assert!(sent(ApiKey::FindCoordinator) >= 6 + 4, "seed {seed}");
    });
}

#[test]
fn group_commands_check_their_arguments() {
    let mut sim = Sim::new(1, 1);
    let now = sim.now;
    let mut admin = sim.client.admin();
    assert!(admin.describe_groups(now, Vec::<String>::new()).is_err());
    assert!(admin.delete_groups(now, [""]).is_err());
    assert!(admin.describe_groups(now, ["a", "a"]).is_err());
    assert!(admin
        .alter_group_offsets(now, "g", BTreeMap::new())
        .is_err());
    let negative = BTreeMap::from([(TopicPartition::new("t", 0), -1)]);
    assert!(admin.alter_group_offsets(now, "g", negative).is_err());
}

/// Offsets set for topics the client has no metadata of: a topic the
/// cluster has is looked up first and set; topics it lacks are answered
/// UNKNOWN_TOPIC_OR_PARTITION each, under their own names, even two
/// with the same partition numbers (newer requests name topics by id,
/// which such topics do not have).
#[test]
fn sim_group_offsets_for_topics_missing_from_metadata_are_looked_up_or_refused() {
    for_each_seed(|seed| {
        let mut sim = Sim::new(seed, 3);
        sim.cluster.create_topic("late", 2, 3).unwrap();
        let want: BTreeMap<TopicPartition, i64> = [
            (TopicPartition::new("late", 0), 4),
            (TopicPartition::new("late", 1), 6),
            (TopicPartition::new("ghost-a", 0), 1),
            (TopicPartition::new("ghost-b", 0), 1),
        ]
        .into();
        let now = sim.now;
        let id = sim
            .client
            .admin()
            .alter_group_offsets(now, "audit", want.clone())
            .unwrap();
        let AdminOutcome::AlterGroupOffsets(set) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        assert_eq!(
            set.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "seed {seed}: {set:?}"
        );
        for (tp, code) in &set {
            let expected = if tp.topic == "late" {
                ErrorCode::None
            } else {
                ErrorCode::UnknownTopicOrPartition
            };
            assert_eq!(*code, expected, "seed {seed}: {tp}");
        }
        let now = sim.now;
        let id = sim.client.admin().group_offsets(now, "audit").unwrap();
        let AdminOutcome::GroupOffsets(got) = outcome(&mut sim, id) else {
            panic!("seed {seed}: wrong outcome")
        };
        let read: BTreeMap<TopicPartition, i64> = got
            .offsets
            .iter()
            .map(|(tp, o)| (tp.clone(), o.as_ref().unwrap().offset))
            .collect();
        let late: BTreeMap<TopicPartition, i64> = want
            .into_iter()
            .filter(|(tp, _)| tp.topic == "late")
            .collect();
        assert_eq!(read, late, "seed {seed}");
    });
}
