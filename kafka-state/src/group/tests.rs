//! Properties every built-in assignor keeps, on random groups.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::TopicPartition;

const TOPICS: &[&str] = &["a", "b", "c", "d", "e"];
const RACKS: &[&str] = &["r0", "r1", "r2"];

#[derive(Debug, Clone)]
struct Case {
    topics: BTreeMap<String, TopicInfo>,
    members: Vec<MemberSubscription>,
    equal: bool,
    /// Members and replicas have racks (KIP-881 may then move owned
    /// partitions to improve locality, so stickiness is not promised).
    racks: bool,
}

fn arb_case() -> impl Strategy<Value = Case> {
    (
        1usize..=5,
        proptest::collection::vec(1i32..=16, 5),
        proptest::collection::vec(proptest::collection::vec(0usize..3, 0..3), 16 * 5),
        1usize..=8,
        any::<bool>(),
        proptest::collection::vec((any::<u8>(), proptest::option::of(0usize..3)), 8),
        any::<bool>(),
    )
        .prop_map(
            |(n_topics, counts, racks, n_members, equal, picks, with_racks)| {
                let topics: BTreeMap<String, TopicInfo> = (0..n_topics)
                    .map(|t| {
                        let partitions = (0..counts[t])
                            .map(|p| PartitionInfo {
                                partition: p,
                                racks: if with_racks {
                                    racks[t * 16 + p as usize]
                                        .iter()
                                        .map(|r| RACKS[*r].to_string())
                                        .collect()
                                } else {
                                    vec![]
                                },
                            })
                            .collect();
                        (TOPICS[t].to_string(), TopicInfo { partitions })
                    })
                    .collect();
                let members = (0..n_members)
                    .map(|m| {
                        let (mask, rack) = picks[m];
                        let mut subscribed: Vec<String> = if equal {
                            topics.keys().cloned().collect()
                        } else {
                            topics
                                .keys()
                                .enumerate()
                                .filter(|(i, _)| mask & (1 << i) != 0)
                                .map(|(_, t)| t.clone())
                                .collect()
                        };
                        if subscribed.is_empty() {
                            subscribed.push(TOPICS[0].to_string());
                        }
                        MemberSubscription {
                            member_id: format!("member-{m}-{mask}"),
                            instance_id: None,
                            subscription: Subscription {
                                topics: subscribed,
                                rack_id: if with_racks {
                                    rack.map(|r| RACKS[r].to_string())
                                } else {
                                    None
                                },
                                ..Subscription::default()
                            },
                        }
                    })
                    .collect();
                Case {
                    topics,
                    members,
                    equal,
                    racks: with_racks,
                }
            },
        )
}

fn subscribed_partitions(case: &Case) -> BTreeSet<TopicPartition> {
    case.members
        .iter()
        .flat_map(|m| m.subscription.topics.iter())
        .filter_map(|t| case.topics.get_key_value(t))
        .flat_map(|(t, info)| {
            info.partitions
                .iter()
                .map(move |p| TopicPartition::new(t.clone(), p.partition))
        })
        .collect()
}

/// Every member gets an entry, only subscribed partitions, none twice.
fn check_well_formed(
    case: &Case,
    out: &BTreeMap<String, Assignment>,
) -> Result<BTreeSet<TopicPartition>, TestCaseError> {
    let ids: BTreeSet<&String> = case.members.iter().map(|m| &m.member_id).collect();
    prop_assert_eq!(out.keys().collect::<BTreeSet<_>>(), ids);
    let mut seen = BTreeSet::new();
    for m in &case.members {
        for tp in &out[&m.member_id].partitions {
            prop_assert!(
                m.subscription.topics.contains(&tp.topic),
                "{} got unsubscribed {}",
                m.member_id,
                tp
            );
            prop_assert!(seen.insert(tp.clone()), "{} assigned twice", tp);
        }
    }
    Ok(seen)
}

fn sizes(out: &BTreeMap<String, Assignment>) -> (usize, usize) {
    let sizes: Vec<usize> = out.values().map(|a| a.partitions.len()).collect();
    (
        sizes.iter().copied().min().unwrap_or(0),
        sizes.iter().copied().max().unwrap_or(0),
    )
}

/// Members own what `out` gave them, in `generation`.
fn owning(
    case: &Case,
    out: &BTreeMap<String, Assignment>,
    generation: i32,
) -> Vec<MemberSubscription> {
    case.members
        .iter()
        .map(|m| {
            let mut m = m.clone();
            m.subscription.owned_partitions = out[&m.member_id].partitions.clone();
            m.subscription.generation_id = generation;
            m
        })
        .collect()
}

/// Runs a sticky assignor. `None` when, with racks, the reassignment
/// does not converge: Java's rack-aware loop cycles forever on such
/// inputs (GroupCompat.java times out on them); ours stops and says so.
/// Without racks it always converges.
fn sticky_run(
    a: &dyn Assignor,
    case: &Case,
    members: &[MemberSubscription],
) -> Result<Option<BTreeMap<String, Assignment>>, TestCaseError> {
    match a.assign(&case.topics, members) {
        Ok(out) => Ok(Some(out)),
        Err(e) if case.racks && e.to_string().contains("did not converge") => Ok(None),
        Err(e) => Err(TestCaseError::fail(e.to_string())),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, max_shrink_iters: 256, ..ProptestConfig::default() })]

    #[test]
    fn range_covers_and_balances_each_topic(case in arb_case()) {
        let out = RangeAssignor.assign(&case.topics, &case.members).unwrap();
        let assigned = check_well_formed(&case, &out)?;
        prop_assert_eq!(assigned, subscribed_partitions(&case));
        for topic in case.topics.keys() {
            let counts: Vec<usize> = case
                .members
                .iter()
                .filter(|m| m.subscription.topics.contains(topic))
                .map(|m| out[&m.member_id].partitions.iter().filter(|tp| &tp.topic == topic).count())
                .collect();
            if let (Some(lo), Some(hi)) = (counts.iter().min(), counts.iter().max()) {
                prop_assert!(hi - lo <= 1, "topic {} counts {:?}", topic, counts);
            }
        }
        prop_assert_eq!(RangeAssignor.assign(&case.topics, &case.members).unwrap(), out);
    }

    #[test]
    fn roundrobin_covers_and_balances_equal_subscriptions(case in arb_case()) {
        let out = RoundRobinAssignor.assign(&case.topics, &case.members).unwrap();
        let assigned = check_well_formed(&case, &out)?;
        prop_assert_eq!(assigned, subscribed_partitions(&case));
        if case.equal {
            let (lo, hi) = sizes(&out);
            prop_assert!(hi - lo <= 1);
        }
    }

    #[test]
    fn sticky_covers_balances_and_keeps_a_balanced_assignment(case in arb_case()) {
        let sticky = StickyAssignor::default();
        let Some(out) = sticky_run(&sticky, &case, &case.members)? else { return Ok(()) };
        let assigned = check_well_formed(&case, &out)?;
        prop_assert_eq!(assigned, subscribed_partitions(&case));
        if case.equal {
            let (lo, hi) = sizes(&out);
            prop_assert!(hi - lo <= 1, "sizes {} .. {}", lo, hi);
        }
        // Next generation, same group: each member's user data carries
        // what it got; nothing needs to move, so nothing does.
        let members: Vec<MemberSubscription> = case
            .members
            .iter()
            .map(|m| {
                let mut me = StickyAssignor::default();
                me.on_assignment(&out[&m.member_id], 1);
                let mut m = m.clone();
                m.subscription.user_data = me.user_data(&[], 1);
                m.subscription.generation_id = 1;
                m
            })
            .collect();
        let Some(again) = sticky_run(&sticky, &case, &members)? else { return Ok(()) };
        if case.equal && !case.racks {
            for (id, a) in &out {
                let before: BTreeSet<_> = a.partitions.iter().collect();
                let after: BTreeSet<_> = again[id].partitions.iter().collect();
                prop_assert_eq!(before, after, "{} moved", id);
            }
        }
    }

    #[test]
    fn cooperative_never_gives_away_an_owned_partition(case in arb_case(), joiners in 0usize..3) {
        let coop = CooperativeStickyAssignor::default();
        let Some(first) = sticky_run(&coop, &case, &case.members)? else { return Ok(()) };
        check_well_formed(&case, &first)?;
        // New members join; the old ones own what they got.
        let mut grown = case.clone();
        grown.members = owning(&case, &first, 1);
        for j in 0..joiners {
            let mut m = case.members[j % case.members.len()].clone();
            m.member_id = format!("joiner-{j}");
            m.subscription.owned_partitions.clear();
            grown.members.push(m);
        }
        let Some(second) = sticky_run(&coop, &grown, &grown.members)? else { return Ok(()) };
        let assigned = check_well_formed(&grown, &second)?;
        for m in &grown.members {
            for tp in &m.subscription.owned_partitions {
                // An owned partition stays with its owner or is left out
                // (the owner revokes it first); it never goes elsewhere.
                let holder = second.iter().find(|(_, a)| a.partitions.contains(tp)).map(|(id, _)| id);
                prop_assert!(holder.is_none() || holder == Some(&m.member_id), "{} went from {} to {:?}", tp, m.member_id, holder);
            }
        }
        // Every partition is assigned or still held by an owner who must
        // revoke it.
        let owned: BTreeSet<TopicPartition> = grown.members.iter().flat_map(|m| m.subscription.owned_partitions.clone()).collect();
        for tp in subscribed_partitions(&grown) {
            prop_assert!(assigned.contains(&tp) || owned.contains(&tp), "{} lost", tp);
        }
        // After revoking, follow-up rebalances complete the handover. With
        // equal subscriptions one follow-up does; with unequal ones the
        // sticky algorithm's general path may balance further in the
        // follow-up, revoking again, so it takes a few more rounds, each
        // giving nothing away while owned. (The algorithm is the Java
        // client's; `tests/group_java_compat.rs` matches its results for
        // a second cooperative round.) (With racks, Java's
        // general path may move a rack-mismatched partition in any round,
        // so only the ownership rule holds.)
        let mut previous = second;
        let mut third = None;
        for round in 0..6 {
            let members = owning(&grown, &previous, 2 + round);
            let Some(next) = sticky_run(&coop, &grown, &members)? else { return Ok(()) };
            let assigned = check_well_formed(&grown, &next)?;
            for m in &members {
                for tp in &m.subscription.owned_partitions {
                    let holder = next.iter().find(|(_, a)| a.partitions.contains(tp)).map(|(id, _)| id);
                    prop_assert!(holder.is_none() || holder == Some(&m.member_id), "round {}: {} went from {} to {:?}", round + 3, tp, m.member_id, holder);
                }
            }
            let complete = assigned == subscribed_partitions(&grown);
            if round == 0 && case.equal && !case.racks {
                prop_assert!(complete, "one follow-up completes an equal group");
            }
            if complete {
                third = Some(next);
                break;
            }
            previous = next;
        }
        let Some(third) = third else {
            prop_assert!(case.racks, "no complete assignment after 6 follow-ups");
            return Ok(());
        };
        if case.equal && !case.racks {
            let (lo, hi) = sizes(&third);
            prop_assert!(hi - lo <= 1, "sizes {} .. {}", lo, hi);
        }
    }
}

#[test]
fn cooperative_moves_a_partition_in_two_rebalances() {
    let topics = BTreeMap::from([(
        "t".to_string(),
        TopicInfo {
            partitions: (0..2)
                .map(|partition| PartitionInfo {
                    partition,
                    racks: vec![],
                })
                .collect(),
        },
    )]);
    let member = |id: &str, owned: &[i32]| MemberSubscription {
        member_id: id.into(),
        instance_id: None,
        subscription: Subscription {
            topics: vec!["t".into()],
            owned_partitions: owned.iter().map(|p| TopicPartition::new("t", *p)).collect(),
            generation_id: 3,
            ..Subscription::default()
        },
    };
    let coop = CooperativeStickyAssignor::default();
    // "a" owns both; "b" joins: "a" keeps one, and the other is left out.
    let first = coop
        .assign(&topics, &[member("a", &[0, 1]), member("b", &[])])
        .unwrap();
    assert_eq!(first["a"].partitions, [TopicPartition::new("t", 0)]);
    assert!(first["b"].partitions.is_empty());
    // "a" revoked partition 1; the second rebalance gives it to "b".
    let second = coop
        .assign(&topics, &[member("a", &[0]), member("b", &[])])
        .unwrap();
    assert_eq!(second["b"].partitions, [TopicPartition::new("t", 1)]);
    assert_eq!(coop.protocol(), RebalanceProtocol::Cooperative);
}

#[test]
fn sticky_user_data_round_trips_through_on_assignment() {
    let mut s = StickyAssignor::default();
    assert_eq!(s.user_data(&[], -1), None);
    let a = Assignment {
        partitions: vec![TopicPartition::new("t", 1), TopicPartition::new("u", 0)],
        user_data: None,
    };
    s.on_assignment(&a, 4);
    let data = s.user_data(&[], 4).expect("user data after an assignment");
    // [t:[1], u:[0]] (Java HashMap order: "t" then "u"), generation 4.
    let want: &[u8] = &[
        0, 0, 0, 2, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, b'u', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
        0, 4,
    ];
    assert_eq!(&data[..], want);
    let mut c = CooperativeStickyAssignor::default();
    assert_eq!(
        c.user_data(&[], 0).as_deref(),
        Some(&[0xff, 0xff, 0xff, 0xff][..])
    );
    c.on_assignment(&a, 9);
    assert_eq!(c.user_data(&[], 0).as_deref(), Some(&[0, 0, 0, 9][..]));
}

#[test]
fn empty_group_gets_empty_assignment() {
    let topics = BTreeMap::new();
    for a in [
        &RangeAssignor as &dyn Assignor,
        &RoundRobinAssignor,
        &StickyAssignor::default(),
        &CooperativeStickyAssignor::default(),
    ] {
        assert!(a.assign(&topics, &[]).unwrap().is_empty(), "{}", a.name());
    }
}
