//! The eager assignors every Kafka client has: range and roundrobin,
//! with the Java client's member order and results.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use super::assignor::{AssignError, Assignment, Assignor, MemberSubscription, TopicInfo};
use crate::TopicPartition;

/// The order assignors lay members out in, as the Java client does:
/// static members first, by instance id, then the others by member id.
fn member_order(a: &MemberSubscription, b: &MemberSubscription) -> Ordering {
    match (&a.instance_id, &b.instance_id) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.member_id.cmp(&b.member_id),
    }
}

/// Every member with an empty assignment, so that each gets an entry.
fn empty(members: &[MemberSubscription]) -> BTreeMap<String, Assignment> {
    members
        .iter()
        .map(|m| (m.member_id.clone(), Assignment::default()))
        .collect()
}

fn check_unique(members: &[MemberSubscription]) -> Result<(), AssignError> {
    let mut seen = BTreeSet::new();
    for m in members {
        if !seen.insert(&m.member_id) {
            return Err(AssignError::BadMember {
                member_id: m.member_id.clone(),
                reason: "listed twice".into(),
            });
        }
    }
    Ok(())
}

/// Per topic, consecutive ranges of partitions to the members subscribed
/// to it, in member order; the first `partitions % members` members get
/// one more. Members subscribed to the same topics with the same partition
/// counts get the same shares of each.
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeAssignor;

impl Assignor for RangeAssignor {
    fn name(&self) -> &str {
        "range"
    }

    fn assign(
        &self,
        topics: &BTreeMap<String, TopicInfo>,
        members: &[MemberSubscription],
    ) -> Result<BTreeMap<String, Assignment>, AssignError> {
        check_unique(members)?;
        let mut out = empty(members);
        for (topic, info) in topics {
            let mut subscribed: Vec<&MemberSubscription> = members
                .iter()
                .filter(|m| m.subscription.topics.iter().any(|t| t == topic))
                .collect();
            if subscribed.is_empty() {
                continue;
            }
            subscribed.sort_by(|a, b| member_order(a, b));
            let mut partitions: Vec<i32> = info.partitions.iter().map(|p| p.partition).collect();
            partitions.sort_unstable();
            let (share, extra) = (
                partitions.len() / subscribed.len(),
                partitions.len() % subscribed.len(),
            );
            let mut next = 0;
            for (i, m) in subscribed.iter().enumerate() {
                let take = share + usize::from(i < extra);
                let slot = out.entry(m.member_id.clone()).or_default();
                slot.partitions.extend(
                    partitions[next..next + take]
                        .iter()
                        .map(|&p| TopicPartition::new(topic.clone(), p)),
                );
                next += take;
            }
        }
        Ok(out)
    }
}

/// Every subscribed partition (topics by name, partitions by index) dealt
/// in turn to the members in member order, skipping members not
/// subscribed to its topic.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobinAssignor;

impl Assignor for RoundRobinAssignor {
    fn name(&self) -> &str {
        "roundrobin"
    }

    fn assign(
        &self,
        topics: &BTreeMap<String, TopicInfo>,
        members: &[MemberSubscription],
    ) -> Result<BTreeMap<String, Assignment>, AssignError> {
        check_unique(members)?;
        let mut out = empty(members);
        let mut ordered: Vec<&MemberSubscription> = members.iter().collect();
        ordered.sort_by(|a, b| member_order(a, b));
        if ordered.is_empty() {
            return Ok(out);
        }
        let wanted: BTreeSet<&str> = members
            .iter()
            .flat_map(|m| m.subscription.topics.iter().map(String::as_str))
            .collect();
        let mut turn = 0usize;
        for (topic, info) in topics.iter().filter(|(t, _)| wanted.contains(t.as_str())) {
            let mut partitions: Vec<i32> = info.partitions.iter().map(|p| p.partition).collect();
            partitions.sort_unstable();
            for p in partitions {
                // Someone wants the topic, so the search ends.
                for _ in 0..ordered.len() {
                    let m = ordered[turn % ordered.len()];
                    turn += 1;
                    if m.subscription.topics.iter().any(|t| t == topic) {
                        let slot = out.entry(m.member_id.clone()).or_default();
                        slot.partitions.push(TopicPartition::new(topic.clone(), p));
                        break;
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::{PartitionInfo, Subscription};
    use proptest::prelude::*;

    fn member(id: &str, instance: Option<&str>, topics: &[&str]) -> MemberSubscription {
        MemberSubscription {
            member_id: id.into(),
            instance_id: instance.map(Into::into),
            subscription: Subscription {
                topics: topics.iter().map(|t| t.to_string()).collect(),
                generation_id: -1,
                ..Subscription::default()
            },
        }
    }

    fn topic(n: i32) -> TopicInfo {
        TopicInfo {
            partitions: (0..n)
                .map(|partition| PartitionInfo {
                    partition,
                    racks: Vec::new(),
                })
                .collect(),
        }
    }

    fn names(a: &Assignment) -> Vec<String> {
        a.partitions.iter().map(|tp| tp.to_string()).collect()
    }

    #[test]
    fn range_gives_the_first_members_the_extra_partitions_per_topic() {
        let topics = BTreeMap::from([("t0".to_string(), topic(3)), ("t1".to_string(), topic(3))]);
        let members = [
            member("c1", None, &["t0", "t1"]),
            member("c0", None, &["t0", "t1"]),
        ];
        let out = RangeAssignor.assign(&topics, &members).unwrap();
        assert_eq!(names(&out["c0"]), ["t0-0", "t0-1", "t1-0", "t1-1"]);
        assert_eq!(names(&out["c1"]), ["t0-2", "t1-2"]);
    }

    #[test]
    fn static_members_come_first_in_instance_order() {
        let topics = BTreeMap::from([("t".to_string(), topic(3))]);
        let members = [
            member("a", None, &["t"]),
            member("z", Some("i2"), &["t"]),
            member("y", Some("i1"), &["t"]),
        ];
        let out = RoundRobinAssignor.assign(&topics, &members).unwrap();
        assert_eq!(names(&out["y"]), ["t-0"]);
        assert_eq!(names(&out["z"]), ["t-1"]);
        assert_eq!(names(&out["a"]), ["t-2"]);
    }

    #[test]
    fn roundrobin_skips_members_not_subscribed() {
        let topics = BTreeMap::from([("a".to_string(), topic(2)), ("b".to_string(), topic(2))]);
        let members = [member("m0", None, &["a", "b"]), member("m1", None, &["b"])];
        let out = RoundRobinAssignor.assign(&topics, &members).unwrap();
        assert_eq!(names(&out["m0"]), ["a-0", "a-1", "b-1"]);
        assert_eq!(names(&out["m1"]), ["b-0"]);
        assert!(RangeAssignor
            .assign(
                &topics,
                &[member("x", None, &["a"]), member("x", None, &["a"])]
            )
            .is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Every partition someone subscribes to goes to exactly one member
        /// subscribed to its topic, and members with the same topics get
        /// shares within one partition per topic of each other.
        #[test]
        fn both_assign_every_partition_once_to_a_subscriber(
            counts in proptest::collection::vec(1i32..12, 1..4),
            subs in proptest::collection::vec(proptest::collection::vec(any::<bool>(), 4), 1..7),
        ) {
            let topics: BTreeMap<String, TopicInfo> = counts
                .iter()
                .enumerate()
                .map(|(i, &n)| (format!("t{i}"), topic(n)))
                .collect();
            let members: Vec<MemberSubscription> = subs
                .iter()
                .enumerate()
                .map(|(i, wants)| {
                    let ts: Vec<String> = (0..counts.len())
                        .filter(|&t| wants[t])
                        .map(|t| format!("t{t}"))
                        .collect();
                    let ts: Vec<&str> = ts.iter().map(String::as_str).collect();
                    member(&format!("m{i}"), None, &ts)
                })
                .collect();
            for assignor in [&RangeAssignor as &dyn Assignor, &RoundRobinAssignor] {
                let out = assignor.assign(&topics, &members).unwrap();
                prop_assert_eq!(out.len(), members.len());
                let mut seen = BTreeSet::new();
                for m in &members {
                    for tp in &out[&m.member_id].partitions {
                        prop_assert!(m.subscription.topics.contains(&tp.topic));
                        prop_assert!(seen.insert(tp.clone()), "{} twice", tp);
                    }
                }
                let wanted: usize = topics
                    .iter()
                    .filter(|(t, _)| members.iter().any(|m| m.subscription.topics.contains(t)))
                    .map(|(_, i)| i.partitions.len())
                    .sum();
                prop_assert_eq!(seen.len(), wanted);
            }
        }
    }
}
