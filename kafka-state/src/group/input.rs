//! The leader's view of a rebalance, prepared the way the Java client
//! prepares it, shared by the built-in assignors.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::assignor::{Assignment, MemberSubscription, TopicInfo};
use super::java::{cmp_str, JavaHashMap, JavaHashSet, Tp};
use crate::TopicPartition;

/// One subscribed topic that metadata knows, with its partitions sorted.
pub(crate) struct TopicView<'a> {
    pub(crate) name: &'a str,
    /// Partition indices, ascending.
    pub(crate) partitions: Vec<i32>,
    /// Replica racks per partition (same order as `partitions`).
    pub(crate) racks: Vec<Vec<&'a str>>,
}

/// The members and topics of one assignment, in Java's iteration orders.
pub(crate) struct GroupView<'a> {
    /// Members in the order the Java coordinator's `HashMap` of
    /// subscriptions iterates them (a later duplicate id replaces the
    /// earlier subscription in place, as `put` does).
    pub(crate) members: Vec<&'a MemberSubscription>,
    /// Subscribed, known, non-empty topics in the order Java's
    /// `partitionsPerTopic` map iterates them.
    pub(crate) topics: Vec<TopicView<'a>>,
}

impl<'a> GroupView<'a> {
    pub(crate) fn new(
        topics: &'a BTreeMap<String, TopicInfo>,
        members: &'a [MemberSubscription],
    ) -> Self {
        let mut by_id: JavaHashMap<String, usize> = JavaHashMap::new();
        for (i, m) in members.iter().enumerate() {
            by_id.insert(m.member_id.clone(), i);
        }
        let members: Vec<&MemberSubscription> = by_id.iter().map(|(_, &i)| &members[i]).collect();

        let mut subscribed: JavaHashSet<String> = JavaHashSet::new();
        for m in &members {
            for t in &m.subscription.topics {
                subscribed.insert(t.clone(), ());
            }
        }
        let mut per_topic: JavaHashMap<String, ()> = JavaHashMap::new();
        for t in subscribed.keys() {
            if topics
                .get(t)
                .is_some_and(|info| !info.partitions.is_empty())
            {
                per_topic.insert(t.clone(), ());
            }
        }
        let topics = per_topic
            .keys()
            .filter_map(|t| topics.get_key_value(t))
            .map(|(name, info)| {
                let mut parts: Vec<_> = info.partitions.iter().collect();
                parts.sort_by_key(|p| p.partition);
                TopicView {
                    name: name.as_str(),
                    partitions: parts.iter().map(|p| p.partition).collect(),
                    racks: parts
                        .iter()
                        .map(|p| p.racks.iter().map(String::as_str).collect())
                        .collect(),
                }
            })
            .collect();
        GroupView { members, topics }
    }

    pub(crate) fn topic(&self, name: &str) -> Option<&TopicView<'a>> {
        self.topics.iter().find(|t| t.name == name)
    }

    pub(crate) fn member(&self, id: &str) -> Option<&'a MemberSubscription> {
        self.members.iter().copied().find(|m| m.member_id == id)
    }
}

/// Java's `MemberInfo` order: static members first, by instance id, then
/// dynamic members by member id.
pub(crate) fn cmp_member_info(a: &MemberSubscription, b: &MemberSubscription) -> Ordering {
    match (&a.instance_id, &b.instance_id) {
        (Some(x), Some(y)) => cmp_str(x, y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => cmp_str(&a.member_id, &b.member_id),
    }
}

/// The member's rack if it has a non-empty one.
pub(crate) fn member_rack(m: &MemberSubscription) -> Option<&str> {
    m.subscription.rack_id.as_deref().filter(|r| !r.is_empty())
}

/// Java's `useRackAwareAssignment`: some consumer rack is also a replica
/// rack, and the partitions are not all on the same set of racks.
pub(crate) fn use_rack_aware<'x>(
    consumer_racks: &[&str],
    partition_racks: &[&str],
    racks_per_partition: impl IntoIterator<Item = &'x [&'x str]>,
) -> bool {
    if consumer_racks.is_empty() || !consumer_racks.iter().any(|r| partition_racks.contains(r)) {
        return false;
    }
    !racks_per_partition.into_iter().all(|racks| {
        racks.iter().all(|r| partition_racks.contains(r))
            && partition_racks.iter().all(|r| racks.contains(r))
    })
}

/// Turns per-member partition lists into the trait's result: every
/// member gets an entry, in the order the lists hold.
pub(crate) fn into_assignments(
    members: &[&MemberSubscription],
    mut lists: BTreeMap<String, Vec<Tp>>,
) -> BTreeMap<String, Assignment> {
    members
        .iter()
        .map(|m| {
            let parts = lists.remove(&m.member_id).unwrap_or_default();
            let partitions = parts
                .into_iter()
                .map(|tp| TopicPartition::new(tp.topic, tp.partition))
                .collect();
            (
                m.member_id.clone(),
                Assignment {
                    partitions,
                    user_data: None,
                },
            )
        })
        .collect()
}
