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

/// Runs a sticky assignor. `None` when the reassignment does not
/// converge: Java's loop cycles forever on such inputs (GroupCompat.java
/// times out on them); ours stops and says so. With racks this is common;
/// without racks it is rare (one cooperative join round in about 200,000
/// generated cases; `cooperative_gives_up_where_java_never_finishes`
/// keeps it).
fn sticky_run(
    a: &dyn Assignor,
    case: &Case,
    members: &[MemberSubscription],
) -> Result<Option<BTreeMap<String, Assignment>>, TestCaseError> {
    match a.assign(&case.topics, members) {
        Ok(out) => Ok(Some(out)),
        Err(e) if e.to_string().contains("did not converge") => Ok(None),
        Err(e) => Err(TestCaseError::fail(e.to_string())),
    }
}

/// How many follow-up rebalances the cooperative property allows after
/// members join. Without racks, about 130,000 generated groups settled
/// after at most two follow-ups (the one kept in
/// `cooperative_withholds_again_in_a_follow_up_as_java_does` needs two,
/// in Java too); the rest is headroom, not a promise of the protocol.
const FOLLOW_UPS: i32 = 6;

/// Checks one cooperative round (KIP-429). A partition that moves is
/// not handed over in the round that moves it: the assignor leaves it
/// out, its owner revokes it and rejoins, and a later round gives it to
/// the new member. So in every round no member gets a partition that
/// another member still owns, and every subscribed partition is assigned
/// unless its owner must revoke it. Returns whether the round left
/// nothing out (the group has settled).
fn check_cooperative_round(
    case: &Case,
    members: &[MemberSubscription],
    out: &BTreeMap<String, Assignment>,
) -> Result<bool, TestCaseError> {
    let mut checked = case.clone();
    checked.members = members.to_vec();
    let assigned = check_well_formed(&checked, out)?;
    for m in members {
        for tp in &m.subscription.owned_partitions {
            let holder = out
                .iter()
                .find(|(_, a)| a.partitions.contains(tp))
                .map(|(id, _)| id);
            prop_assert!(
                holder.is_none() || holder == Some(&m.member_id),
                "{} went from {} to {:?}",
                tp,
                m.member_id,
                holder
            );
        }
    }
    let owned: BTreeSet<&TopicPartition> = members
        .iter()
        .flat_map(|m| &m.subscription.owned_partitions)
        .collect();
    let subscribed = subscribed_partitions(&checked);
    for tp in &subscribed {
        prop_assert!(assigned.contains(tp) || owned.contains(tp), "{} lost", tp);
    }
    Ok(assigned == subscribed)
}

/// Each member's partitions as a set (an assignment's order carries no
/// meaning for the property).
fn as_sets(out: &BTreeMap<String, Assignment>) -> BTreeMap<&String, BTreeSet<&TopicPartition>> {
    out.iter()
        .map(|(id, a)| (id, a.partitions.iter().collect()))
        .collect()
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

    // A member joins a group whose members own what the first round gave
    // them; rebalances follow while a round leaves a partition out for
    // its owner to revoke, as the consumers would rejoin. One follow-up
    // is not always enough: with unequal subscriptions the follow-up's
    // balancing can move another owned partition, which is then left out
    // in its turn (the saved case, kept in
    // `cooperative_withholds_again_in_a_follow_up_as_java_does`, leaves
    // d-8 out in the first follow-up and assigns it in the second; Java's
    // assignor does exactly the same).
    #[test]
    fn cooperative_never_gives_away_an_owned_partition(case in arb_case(), joiners in 0usize..3) {
        let coop = CooperativeStickyAssignor::default();
        let Some(first) = sticky_run(&coop, &case, &case.members)? else { return Ok(()) };
        // Nobody owns anything yet, so nothing is left out.
        prop_assert!(check_cooperative_round(&case, &case.members, &first)?, "first round incomplete");
        // New members join; the old ones own what they got.
        let mut grown = case.clone();
        grown.members = owning(&case, &first, 1);
        for j in 0..joiners {
            let mut m = case.members[j % case.members.len()].clone();
            m.member_id = format!("joiner-{j}");
            m.subscription.owned_partitions.clear();
            grown.members.push(m);
        }
        let mut members = grown.members.clone();
        let mut settled = None;
        // Round 0 is the join; the follow-ups come after it.
        for round in 0..=FOLLOW_UPS {
            let Some(out) = sticky_run(&coop, &grown, &members)? else { return Ok(()) };
            if check_cooperative_round(&grown, &members, &out)? {
                settled = Some(out);
                break;
            }
            members = owning(&grown, &out, 2 + round);
        }
        // With racks, Java's rack-aware balancing can keep moving owned
        // partitions round after round, and the group never settles (one
        // such group, replayed by hand through GroupCompat.java, matched
        // Java for 30 rounds); then only the per-round rules above hold.
        let Some(settled) = settled else {
            prop_assert!(case.racks, "not settled after {} follow-ups", FOLLOW_UPS);
            return Ok(());
        };
        if !case.racks {
            // Settled means stable: another rebalance moves nothing.
            let again_members = owning(&grown, &settled, 3 + FOLLOW_UPS);
            let Some(again) = sticky_run(&coop, &grown, &again_members)? else { return Ok(()) };
            prop_assert_eq!(as_sets(&again), as_sets(&settled));
            if case.equal {
                let (lo, hi) = sizes(&settled);
                prop_assert!(hi - lo <= 1, "sizes {} .. {}", lo, hi);
            }
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

/// A group without racks: topics with these partition counts, members
/// subscribed to these topics, none owning anything yet.
fn plain_group(
    counts: &[(&str, i32)],
    subscriptions: &[(&str, &[&str])],
) -> (BTreeMap<String, TopicInfo>, Vec<MemberSubscription>) {
    let topics = counts
        .iter()
        .map(|(topic, n)| {
            let partitions = (0..*n)
                .map(|partition| PartitionInfo {
                    partition,
                    racks: vec![],
                })
                .collect();
            (topic.to_string(), TopicInfo { partitions })
        })
        .collect();
    let members = subscriptions
        .iter()
        .map(|(id, subscribed)| MemberSubscription {
            member_id: id.to_string(),
            instance_id: None,
            subscription: Subscription {
                topics: subscribed.iter().map(|t| t.to_string()).collect(),
                ..Subscription::default()
            },
        })
        .collect();
    (topics, members)
}

/// `members` after a round: each owns what `out` gave it, in `generation`.
fn after_round(
    members: &[MemberSubscription],
    out: &BTreeMap<String, Assignment>,
    generation: i32,
) -> Vec<MemberSubscription> {
    members
        .iter()
        .map(|m| {
            let mut m = m.clone();
            m.subscription.owned_partitions = out[&m.member_id].partitions.clone();
            m.subscription.generation_id = generation;
            m
        })
        .collect()
}

/// Copies of `members[i]` for each `i`, named `joiner-0`, ..., owning
/// nothing.
fn joiners(members: &[MemberSubscription], like: &[usize]) -> Vec<MemberSubscription> {
    like.iter()
        .enumerate()
        .map(|(j, i)| {
            let mut m = members[*i].clone();
            m.member_id = format!("joiner-{j}");
            m.subscription.owned_partitions.clear();
            m
        })
        .collect()
}

/// The input of the saved `cooperative_never_gives_away_an_owned_partition`
/// case (seed cc 008d9ef0…). Two members join; their join round leaves out
/// what the old members revoke. The first follow-up hands that over but its
/// balancing (unequal subscriptions) also moves d-8 from member-2-60 to
/// member-1-27, so d-8 is left out for its owner to revoke; the second
/// follow-up assigns it and the group is stable. The Java client's
/// CooperativeStickyAssignor (kafka-clients 4.4) returns the same
/// assignment in every one of these rounds (tests/group_java_compat.rs
/// replays them), so a second follow-up is the protocol at work, not a
/// fault of this port.
#[test]
fn cooperative_withholds_again_in_a_follow_up_as_java_does() {
    let (topics, members) = plain_group(
        &[("a", 14), ("b", 8), ("c", 15), ("d", 11), ("e", 14)],
        &[
            ("member-0-209", &["a", "e"]),
            ("member-1-27", &["a", "b", "d", "e"]),
            ("member-2-60", &["c", "d", "e"]),
            ("member-3-7", &["a", "b", "c"]),
            ("member-4-28", &["c", "d", "e"]),
            ("member-5-132", &["c"]),
            ("member-6-40", &["d"]),
        ],
    );
    let coop = CooperativeStickyAssignor::default();
    let all: usize = topics.values().map(|t| t.partitions.len()).sum();
    let count = |out: &BTreeMap<String, Assignment>| -> usize {
        out.values().map(|a| a.partitions.len()).sum()
    };
    let d8 = TopicPartition::new("d", 8);

    let first = coop.assign(&topics, &members).unwrap();
    assert_eq!(count(&first), all);
    assert!(first["member-2-60"].partitions.contains(&d8));

    let mut grown = after_round(&members, &first, 1);
    grown.extend(joiners(&members, &[0, 1]));
    let join = coop.assign(&topics, &grown).unwrap();
    assert!(join["joiner-0"].partitions.is_empty());
    assert!(join["joiner-1"].partitions.is_empty());
    assert!(join["member-2-60"].partitions.contains(&d8));

    let follow_up = coop
        .assign(&topics, &after_round(&grown, &join, 2))
        .unwrap();
    // Only d-8 is left out, and nobody but its owner had it.
    assert_eq!(count(&follow_up), all - 1);
    assert!(follow_up.values().all(|a| !a.partitions.contains(&d8)));

    let second = coop
        .assign(&topics, &after_round(&grown, &follow_up, 3))
        .unwrap();
    assert_eq!(count(&second), all);
    assert!(second["member-1-27"].partitions.contains(&d8));

    let again = coop
        .assign(&topics, &after_round(&grown, &second, 4))
        .unwrap();
    assert_eq!(again, second);
}

/// A join round without racks on which the Java client's
/// CooperativeStickyAssignor (kafka-clients 4.4) never returns: its
/// reassignment loop keeps moving partitions (over a minute of CPU
/// before GroupCompat.java gave up). Ours stops after a bound and
/// reports it, so the leader can fail the rebalance instead of hanging.
#[test]
fn cooperative_gives_up_where_java_never_finishes() {
    let (topics, members) = plain_group(
        &[("a", 15), ("b", 10), ("c", 4), ("d", 7), ("e", 16)],
        &[
            ("member-0-218", &["b", "d", "e"]),
            ("member-1-55", &["a", "b", "c", "e"]),
            ("member-2-0", &["a"]),
            ("member-3-224", &["a"]),
        ],
    );
    let coop = CooperativeStickyAssignor::default();
    let first = coop.assign(&topics, &members).unwrap();
    let mut grown = after_round(&members, &first, 1);
    grown.extend(joiners(&members, &[0, 1]));
    let err = coop.assign(&topics, &grown).unwrap_err();
    assert!(err.to_string().contains("did not converge"), "{err}");
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
