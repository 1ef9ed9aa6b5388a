//! The round-robin assignor.

use std::collections::BTreeMap;

use super::assignor::{AssignError, Assignment, Assignor, MemberSubscription, TopicInfo};
use super::input::{cmp_member_info, into_assignments, GroupView};
use super::java::{cmp_str, Tp};

/// Kafka's `roundrobin` assignor: every partition of every subscribed
/// topic (topics in name order, partitions ascending) goes to the next
/// member in a fixed circular order (static members by instance id
/// first, then member ids), skipping members not subscribed to its topic.
/// The result equals the Java client's for the same input.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobinAssignor;

impl RoundRobinAssignor {
    /// The protocol name, `"roundrobin"`.
    pub const NAME: &'static str = "roundrobin";
}

impl Assignor for RoundRobinAssignor {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn assign(
        &self,
        topics: &BTreeMap<String, TopicInfo>,
        members: &[MemberSubscription],
    ) -> Result<BTreeMap<String, Assignment>, AssignError> {
        let view = GroupView::new(topics, members);
        let mut order = view.members.clone();
        order.sort_by(|a, b| cmp_member_info(a, b));

        let mut names: Vec<&str> = view
            .members
            .iter()
            .flat_map(|m| m.subscription.topics.iter().map(String::as_str))
            .collect();
        names.sort_by(|a, b| cmp_str(a, b));
        names.dedup();

        let mut lists: BTreeMap<String, Vec<Tp>> = BTreeMap::new();
        let mut next = 0usize;
        for name in names {
            let Some(topic) = view.topic(name) else {
                continue;
            };
            // Java counts partitions and numbers them 0..n.
            for p in 0..topic.partitions.len() {
                let Ok(p) = i32::try_from(p) else { break };
                // Some member subscribes to every listed topic, so this
                // finds one within a full turn.
                let mut chosen = None;
                for _ in 0..order.len() {
                    let m = order[next % order.len()];
                    next = (next + 1) % order.len();
                    if m.subscription.topics.iter().any(|t| t == name) {
                        chosen = Some(m);
                        break;
                    }
                }
                let Some(m) = chosen else { break };
                lists
                    .entry(m.member_id.clone())
                    .or_default()
                    .push(Tp::new(name, p));
            }
        }
        Ok(into_assignments(&view.members, lists))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::assignor::{PartitionInfo, Subscription};
    use crate::TopicPartition;

    fn topic(n: i32) -> TopicInfo {
        TopicInfo {
            partitions: (0..n)
                .map(|partition| PartitionInfo {
                    partition,
                    racks: vec![],
                })
                .collect(),
        }
    }

    fn member(id: &str, topics: &[&str]) -> MemberSubscription {
        MemberSubscription {
            member_id: id.into(),
            instance_id: None,
            subscription: Subscription {
                topics: topics.iter().map(|t| t.to_string()).collect(),
                ..Subscription::default()
            },
        }
    }

    fn parts(a: &Assignment) -> Vec<String> {
        a.partitions.iter().map(TopicPartition::to_string).collect()
    }

    #[test]
    fn javadoc_example_with_uneven_subscriptions() {
        let topics = BTreeMap::from([
            ("t0".to_string(), topic(1)),
            ("t1".to_string(), topic(2)),
            ("t2".to_string(), topic(3)),
        ]);
        let members = [
            member("C2", &["t0", "t1", "t2"]),
            member("C0", &["t0"]),
            member("C1", &["t0", "t1"]),
        ];
        let out = RoundRobinAssignor.assign(&topics, &members).unwrap();
        assert_eq!(parts(&out["C0"]), ["t0-0"]);
        assert_eq!(parts(&out["C1"]), ["t1-0"]);
        assert_eq!(parts(&out["C2"]), ["t1-1", "t2-0", "t2-1", "t2-2"]);
    }

    #[test]
    fn equal_subscriptions_interleave() {
        let topics = BTreeMap::from([("a".to_string(), topic(3)), ("b".to_string(), topic(3))]);
        let members = [member("m1", &["a", "b"]), member("m0", &["a", "b"])];
        let out = RoundRobinAssignor.assign(&topics, &members).unwrap();
        assert_eq!(parts(&out["m0"]), ["a-0", "a-2", "b-1"]);
        assert_eq!(parts(&out["m1"]), ["a-1", "b-0", "b-2"]);
    }

    #[test]
    fn no_members_no_assignment() {
        let topics = BTreeMap::from([("a".to_string(), topic(3))]);
        assert!(RoundRobinAssignor.assign(&topics, &[]).unwrap().is_empty());
    }
}
