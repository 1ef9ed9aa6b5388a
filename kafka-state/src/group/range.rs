//! The range assignor.

use std::collections::BTreeMap;

use super::assignor::{AssignError, Assignment, Assignor, MemberSubscription, TopicInfo};
use super::input::{cmp_member_info, into_assignments, member_rack, use_rack_aware, GroupView};
use super::java::{cmp_tp_topic_first, Tp};

/// Kafka's `range` assignor: per topic, members in order (static members
/// by instance id first, then member ids) each take a contiguous range of
/// partitions, the first `partitions % members` one more than the rest.
///
/// When members advertise racks and partitions have replicas on only some
/// racks, partitions are first matched to members on a replica's rack
/// without changing how many each member gets, and topics with the same
/// partition count and subscribers stay co-partitioned (KIP-881). The
/// result equals the Java client's for the same input.
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeAssignor;

impl RangeAssignor {
    /// The protocol name, `"range"`.
    pub const NAME: &'static str = "range";
}

/// One topic's assignment in progress (Java's `TopicAssignmentState`).
struct TopicState<'a> {
    topic: &'a str,
    /// Subscribers in range order, with their racks.
    consumers: Vec<(&'a str, Option<&'a str>)>,
    /// Replica racks by partition; empty unless a subscriber has a rack.
    partition_racks: BTreeMap<i32, Vec<&'a str>>,
    needs_rack_aware: bool,
    unassigned: Vec<i32>,
    assigned: BTreeMap<&'a str, usize>,
    per_consumer: usize,
    remaining_with_extra: i64,
}

impl<'a> TopicState<'a> {
    fn racks_match(&self, consumer: &str, partition: i32) -> bool {
        match self
            .consumers
            .iter()
            .find(|(c, _)| *c == consumer)
            .and_then(|(_, r)| *r)
        {
            None => true,
            Some(rack) => self
                .partition_racks
                .get(&partition)
                .is_some_and(|racks| racks.contains(&rack)),
        }
    }

    fn max_assignable(&self, consumer: &str) -> usize {
        let extra = usize::from(self.remaining_with_extra > 0);
        (self.per_consumer + extra)
            .saturating_sub(self.assigned.get(consumer).copied().unwrap_or(0))
    }

    fn on_assigned(&mut self, consumer: &'a str, partitions: &[i32]) {
        let n = self.assigned.entry(consumer).or_insert(0);
        *n += partitions.len();
        if *n > self.per_consumer {
            self.remaining_with_extra -= 1;
        }
        self.unassigned.retain(|p| !partitions.contains(p));
    }
}

type Lists<'a> = BTreeMap<&'a str, Vec<Tp>>;

fn give<'a>(
    lists: &mut Lists<'a>,
    state: &mut TopicState<'a>,
    consumer: &'a str,
    partitions: &[i32],
) {
    if let Some(list) = lists.get_mut(consumer) {
        list.extend(partitions.iter().map(|&p| Tp::new(state.topic, p)));
    }
    state.on_assigned(consumer, partitions);
}

/// Java's `assignRanges`: each consumer in turn takes as many of the
/// remaining partitions it may have as its quota allows.
fn assign_ranges<'a>(state: &mut TopicState<'a>, lists: &mut Lists<'a>, rack_matching: bool) {
    let consumers: Vec<&'a str> = state.consumers.iter().map(|(c, _)| *c).collect();
    for consumer in consumers {
        if state.unassigned.is_empty() {
            break;
        }
        let max = state.max_assignable(consumer);
        let chosen: Vec<i32> = state
            .unassigned
            .iter()
            .copied()
            .filter(|&p| !rack_matching || state.racks_match(consumer, p))
            .take(max)
            .collect();
        if !chosen.is_empty() {
            give(lists, state, consumer, &chosen);
        }
    }
}

/// Java's `assignCoPartitionedWithRackMatching`: partition `p` of every
/// topic in the group goes to the first member matching all their racks.
fn assign_co_partitioned<'a>(
    states: &mut [&mut TopicState<'a>],
    num_partitions: usize,
    lists: &mut Lists<'a>,
) {
    let Some(first) = states.first() else { return };
    let mut remaining: Vec<&'a str> = first.consumers.iter().map(|(c, _)| *c).collect();
    for p in 0..num_partitions {
        let Ok(p) = i32::try_from(p) else { break };
        let found = remaining.iter().copied().find(|c| {
            states
                .iter()
                .all(|t| t.racks_match(c, p) && t.max_assignable(c) > 0)
        });
        if let Some(consumer) = found {
            for t in states.iter_mut() {
                give(lists, t, consumer, &[p]);
            }
            if states.iter().all(|t| t.max_assignable(consumer) == 0) {
                remaining.retain(|c| *c != consumer);
                if remaining.is_empty() {
                    break;
                }
            }
        }
    }
}

impl Assignor for RangeAssignor {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn assign(
        &self,
        topics: &BTreeMap<String, TopicInfo>,
        members: &[MemberSubscription],
    ) -> Result<BTreeMap<String, Assignment>, AssignError> {
        let view = GroupView::new(topics, members);
        let mut lists: Lists<'_> = view
            .members
            .iter()
            .map(|m| (m.member_id.as_str(), Vec::new()))
            .collect();

        let mut states: Vec<TopicState<'_>> = view
            .topics
            .iter()
            .map(|topic| {
                let mut subscribers: Vec<&MemberSubscription> = view
                    .members
                    .iter()
                    .copied()
                    .filter(|m| m.subscription.topics.iter().any(|t| t == topic.name))
                    .collect();
                subscribers.sort_by(|a, b| cmp_member_info(a, b));
                let consumers: Vec<(&str, Option<&str>)> = subscribers
                    .iter()
                    .map(|m| (m.member_id.as_str(), member_rack(m)))
                    .collect();
                let n = topic.partitions.len();
                let c = consumers.len();
                let mut consumer_racks: Vec<&str> =
                    consumers.iter().filter_map(|(_, r)| *r).collect();
                consumer_racks.sort_unstable();
                consumer_racks.dedup();
                let mut partition_racks = BTreeMap::new();
                let mut all_partition_racks: Vec<&str> = Vec::new();
                if !consumer_racks.is_empty() {
                    for (p, racks) in topic.partitions.iter().zip(&topic.racks) {
                        let mut set = racks.clone();
                        set.sort_unstable();
                        set.dedup();
                        all_partition_racks.extend(set.iter().copied());
                        partition_racks.insert(*p, set);
                    }
                    all_partition_racks.sort_unstable();
                    all_partition_racks.dedup();
                }
                let needs_rack_aware = use_rack_aware(
                    &consumer_racks,
                    &all_partition_racks,
                    partition_racks.values().map(Vec::as_slice),
                );
                TopicState {
                    topic: topic.name,
                    assigned: consumers.iter().map(|(c, _)| (*c, 0)).collect(),
                    consumers,
                    partition_racks,
                    needs_rack_aware,
                    unassigned: topic.partitions.clone(),
                    per_consumer: n.checked_div(c).unwrap_or(0),
                    remaining_with_extra: n.checked_rem(c).unwrap_or(0) as i64,
                }
            })
            .collect();

        let use_rack_aware = states.iter().any(|t| t.needs_rack_aware);
        if use_rack_aware {
            // Group topics by subscriber list, then by partition count
            // (zero when no subscriber has a rack, as in Java).
            let mut done = vec![false; states.len()];
            for i in 0..states.len() {
                if done[i] {
                    continue;
                }
                let same: Vec<usize> = (i..states.len())
                    .filter(|&j| {
                        !done[j]
                            && states[j].consumers == states[i].consumers
                            && states[j].partition_racks.len() == states[i].partition_racks.len()
                    })
                    .collect();
                for &j in &same {
                    done[j] = true;
                }
                if same.len() > 1 {
                    let num_partitions = states[i].partition_racks.len();
                    let mut group: Vec<&mut TopicState<'_>> = states
                        .iter_mut()
                        .enumerate()
                        .filter(|(j, _)| same.contains(j))
                        .map(|(_, s)| s)
                        .collect();
                    assign_co_partitioned(&mut group, num_partitions, &mut lists);
                } else if states[i].needs_rack_aware {
                    assign_ranges(&mut states[i], &mut lists, true);
                }
            }
        }
        for state in &mut states {
            assign_ranges(state, &mut lists, false);
        }
        if use_rack_aware {
            for list in lists.values_mut() {
                list.sort_by(cmp_tp_topic_first);
            }
        }
        let lists = lists.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        Ok(into_assignments(&view.members, lists))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::assignor::{PartitionInfo, Subscription};
    use crate::TopicPartition;

    fn topic(n: i32, racks: &[&[&str]]) -> TopicInfo {
        TopicInfo {
            partitions: (0..n)
                .map(|p| PartitionInfo {
                    partition: p,
                    racks: racks
                        .get(p as usize)
                        .map(|r| r.iter().map(|s| s.to_string()).collect())
                        .unwrap_or_default(),
                })
                .collect(),
        }
    }

    fn member(id: &str, topics: &[&str], rack: Option<&str>) -> MemberSubscription {
        MemberSubscription {
            member_id: id.into(),
            instance_id: None,
            subscription: Subscription {
                topics: topics.iter().map(|t| t.to_string()).collect(),
                rack_id: rack.map(str::to_string),
                ..Subscription::default()
            },
        }
    }

    fn parts(a: &Assignment) -> Vec<String> {
        a.partitions.iter().map(TopicPartition::to_string).collect()
    }

    #[test]
    fn javadoc_example() {
        let topics = BTreeMap::from([
            ("t0".to_string(), topic(3, &[])),
            ("t1".to_string(), topic(3, &[])),
        ]);
        let members = [
            member("C1", &["t0", "t1"], None),
            member("C0", &["t0", "t1"], None),
        ];
        let out = RangeAssignor.assign(&topics, &members).unwrap();
        let mut c0 = parts(&out["C0"]);
        c0.sort();
        assert_eq!(c0, ["t0-0", "t0-1", "t1-0", "t1-1"]);
        let mut c1 = parts(&out["C1"]);
        c1.sort();
        assert_eq!(c1, ["t0-2", "t1-2"]);
    }

    #[test]
    fn static_members_sort_first() {
        let topics = BTreeMap::from([("t".to_string(), topic(2, &[]))]);
        let mut a = member("a", &["t"], None);
        let mut z = member("z", &["t"], None);
        z.instance_id = Some("i0".into());
        a.instance_id = None;
        let out = RangeAssignor.assign(&topics, &[a, z]).unwrap();
        assert_eq!(parts(&out["z"]), ["t-0"]);
        assert_eq!(parts(&out["a"]), ["t-1"]);
    }

    #[test]
    fn racks_align_when_partitions_live_on_some_racks() {
        let topics = BTreeMap::from([("t".to_string(), topic(2, &[&["r1"], &["r0"]]))]);
        let members = [
            member("a", &["t"], Some("r0")),
            member("b", &["t"], Some("r1")),
        ];
        let out = RangeAssignor.assign(&topics, &members).unwrap();
        assert_eq!(parts(&out["a"]), ["t-1"]);
        assert_eq!(parts(&out["b"]), ["t-0"]);
    }

    #[test]
    fn unsubscribed_member_gets_empty_entry() {
        let topics = BTreeMap::from([("t".to_string(), topic(1, &[]))]);
        let members = [member("a", &["t"], None), member("b", &["other"], None)];
        let out = RangeAssignor.assign(&topics, &members).unwrap();
        assert_eq!(out.len(), 2);
        assert!(out["b"].partitions.is_empty());
    }
}
