//! The sticky assignors: `sticky` (eager) and `cooperative-sticky`.
//!
//! Both balance partitions across members (within one when subscriptions
//! are equal) while keeping as many partitions as possible where they
//! were, and align members with replica racks where that costs no
//! balance (KIP-881). The algorithm follows the Java client's
//! `AbstractStickyAssignor` step for step, including where its choices
//! depend on `HashMap` iteration order, so the result is the same.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_proto::codec;

use super::assignor::{
    AssignError, Assignment, Assignor, MemberSubscription, RebalanceProtocol, TopicInfo,
};
use super::input::{into_assignments, member_rack, use_rack_aware, GroupView, TopicView};
use super::java::{cmp_str, JavaHashMap, JavaHashSet, JavaString, Tp};
use crate::TopicPartition;

/// The generation of a member that has none.
const NO_GENERATION: i32 = -1;

/// What a member owned before this rebalance, as the assignor reads it.
struct MemberData {
    partitions: Vec<Tp>,
    generation: Option<i32>,
}

/// Encodes the `sticky` assignor's user data (Java's
/// `StickyAssignor` schema v1): the member's previous partitions, grouped
/// by topic in Java `HashMap` order, then its generation.
pub fn encode_sticky_user_data(partitions: &[TopicPartition], generation: i32) -> Bytes {
    // Java's CollectionUtils.groupPartitionsByTopic (computeIfAbsent).
    let mut groups: JavaHashMap<String, Vec<i32>> = JavaHashMap::new();
    for tp in partitions {
        groups
            .entry_front(tp.topic.clone(), Vec::new)
            .push(tp.partition);
    }
    let mut buf = BytesMut::new();
    buf.put_i32(groups.len() as i32);
    for (topic, parts) in groups.iter() {
        // Topic names come from metadata and fit in an int16 length.
        let name = topic.as_bytes();
        let len = name.len().min(i16::MAX as usize);
        buf.put_i16(len as i16);
        buf.put_slice(&name[..len]);
        buf.put_i32(parts.len() as i32);
        for p in parts {
            buf.put_i32(*p);
        }
    }
    buf.put_i32(generation);
    buf.freeze()
}

/// Reads `sticky` user data: the previous partitions and, in v1, the
/// generation. Unreadable data counts as nothing owned in generation -1,
/// as in Java.
fn decode_sticky_user_data(data: &Bytes) -> MemberData {
    fn partitions(buf: &mut Bytes) -> Result<Vec<Tp>, kafka_proto::DecodeError> {
        const WHAT: &str = "StickyAssignorUserData";
        let topics = codec::read_array_len(buf, false, 6, WHAT)?;
        let mut out = Vec::new();
        for _ in 0..topics {
            let topic = codec::read_string(buf, false, WHAT)?;
            let n = codec::read_array_len(buf, false, 4, WHAT)?;
            for p in codec::read_i32_array(buf, n, WHAT)? {
                out.push(Tp::new(&topic, p));
            }
        }
        Ok(out)
    }
    let mut v1 = data.clone();
    if let Ok(parts) = partitions(&mut v1) {
        if let Ok(generation) = codec::read_i32(&mut v1, "StickyAssignorUserData.generation") {
            return MemberData {
                partitions: parts,
                generation: Some(generation),
            };
        }
        return MemberData {
            partitions: parts,
            generation: None,
        };
    }
    MemberData {
        partitions: Vec::new(),
        generation: Some(NO_GENERATION),
    }
}

/// Encodes the `cooperative-sticky` assignor's user data: the generation.
pub fn encode_cooperative_user_data(generation: i32) -> Bytes {
    Bytes::copy_from_slice(&generation.to_be_bytes())
}

fn tps(list: &[TopicPartition]) -> Vec<Tp> {
    list.iter()
        .map(|tp| Tp::new(&tp.topic, tp.partition))
        .collect()
}

/// A subscription's generation, `None` when negative (Java's Optional).
fn sub_generation(m: &MemberSubscription) -> Option<i32> {
    let g = m.subscription.generation_id;
    (g >= 0).then_some(g)
}

fn sticky_member_data(m: &MemberSubscription) -> MemberData {
    match &m.subscription.user_data {
        Some(d) if !d.is_empty() => decode_sticky_user_data(d),
        _ => MemberData {
            partitions: Vec::new(),
            generation: None,
        },
    }
}

fn cooperative_member_data(m: &MemberSubscription) -> MemberData {
    let partitions = tps(&m.subscription.owned_partitions);
    if let Some(g) = sub_generation(m) {
        return MemberData {
            partitions,
            generation: Some(g),
        };
    }
    let generation = m.subscription.user_data.as_ref().map(|d| {
        let mut b = d.clone();
        codec::read_i32(&mut b, "CooperativeStickyUserData").unwrap_or(NO_GENERATION)
    });
    MemberData {
        partitions,
        generation,
    }
}

/// Kafka's `sticky` assignor (eager): balanced and sticky, remembering
/// each member's previous partitions and generation in its user data.
#[derive(Debug, Clone, Default)]
pub struct StickyAssignor {
    last: Option<(Vec<TopicPartition>, i32)>,
}

impl StickyAssignor {
    /// The protocol name, `"sticky"`.
    pub const NAME: &'static str = "sticky";
}

impl Assignor for StickyAssignor {
    fn name(&self) -> &str {
        Self::NAME
    }

    /// The partitions and generation of the last assignment this member
    /// received (as Java, not what it owns now: an eager member has
    /// revoked everything before it joins); `None` before the first.
    fn user_data(&self, _owned: &[TopicPartition], _generation_id: i32) -> Option<Bytes> {
        self.last
            .as_ref()
            .map(|(parts, generation)| encode_sticky_user_data(parts, *generation))
    }

    fn assign(
        &self,
        topics: &BTreeMap<String, TopicInfo>,
        members: &[MemberSubscription],
    ) -> Result<BTreeMap<String, Assignment>, AssignError> {
        let view = GroupView::new(topics, members);
        let outcome = sticky_assign(&view, sticky_member_data)?;
        Ok(into_assignments(&view.members, outcome.assignment))
    }

    fn on_assignment(&mut self, assignment: &Assignment, generation_id: i32) {
        self.last = Some((assignment.partitions.clone(), generation_id));
    }
}

/// Kafka's `cooperative-sticky` assignor: the sticky algorithm under the
/// cooperative protocol. A partition that moves is left out of its new
/// owner's assignment this round, so the old owner revokes it and the
/// follow-up rebalance hands it over.
#[derive(Debug, Clone)]
pub struct CooperativeStickyAssignor {
    generation: i32,
}

impl Default for CooperativeStickyAssignor {
    fn default() -> Self {
        CooperativeStickyAssignor {
            generation: NO_GENERATION,
        }
    }
}

impl CooperativeStickyAssignor {
    /// The protocol name, `"cooperative-sticky"`.
    pub const NAME: &'static str = "cooperative-sticky";
}

impl Assignor for CooperativeStickyAssignor {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Cooperative
    }

    /// The generation of the last assignment received (-1 before one),
    /// as a big-endian `int32`, for leaders reading subscription v0/v1.
    fn user_data(&self, _owned: &[TopicPartition], _generation_id: i32) -> Option<Bytes> {
        Some(encode_cooperative_user_data(self.generation))
    }

    fn assign(
        &self,
        topics: &BTreeMap<String, TopicInfo>,
        members: &[MemberSubscription],
    ) -> Result<BTreeMap<String, Assignment>, AssignError> {
        let view = GroupView::new(topics, members);
        let mut outcome = sticky_assign(&view, cooperative_member_data)?;
        let transferring = match outcome.transferring.take() {
            Some(t) => t,
            None => transferring_from_owned(&view, &outcome.assignment),
        };
        for (tp, consumer) in transferring {
            if let Some(list) = outcome.assignment.get_mut(&consumer) {
                if let Some(pos) = list.iter().position(|x| *x == tp) {
                    list.remove(pos);
                }
            }
        }
        Ok(into_assignments(&view.members, outcome.assignment))
    }

    fn on_assignment(&mut self, _assignment: &Assignment, generation_id: i32) {
        self.generation = generation_id;
    }
}

/// Partitions assigned to a member that another member owned and loses.
fn transferring_from_owned(
    view: &GroupView<'_>,
    assignment: &BTreeMap<String, Vec<Tp>>,
) -> Vec<(Tp, String)> {
    let mut added: Vec<(Tp, String)> = Vec::new();
    let mut revoked: HashSet<Tp> = HashSet::new();
    for m in &view.members {
        let owned: HashSet<Tp> = tps(&m.subscription.owned_partitions).into_iter().collect();
        let assigned = assignment.get(&m.member_id).cloned().unwrap_or_default();
        for tp in &assigned {
            if !owned.contains(tp) {
                added.push((tp.clone(), m.member_id.clone()));
            }
        }
        let assigned: HashSet<Tp> = assigned.into_iter().collect();
        for tp in tps(&m.subscription.owned_partitions) {
            if !assigned.contains(&tp) {
                revoked.insert(tp);
            }
        }
    }
    added.retain(|(tp, _)| revoked.contains(tp));
    added
}

/// The sticky algorithm's result.
struct Outcome {
    assignment: BTreeMap<String, Vec<Tp>>,
    /// Partitions moving between members, when the equal-subscription
    /// path knows them (`None` after the general path).
    transferring: Option<Vec<(Tp, String)>>,
}

fn ise(what: &str) -> AssignError {
    AssignError::Other(format!("sticky assignment failed: {what}"))
}

/// Java's `RackInfo`.
struct RackInfo {
    consumer_racks: HashMap<String, String>,
    partition_racks: HashMap<Tp, BTreeSet<String>>,
    consumers_by_partition: HashMap<Tp, usize>,
}

impl RackInfo {
    fn new(view: &GroupView<'_>) -> Self {
        let mut consumers_by_rack: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for m in &view.members {
            if let Some(r) = member_rack(m) {
                consumers_by_rack.entry(r).or_default().push(&m.member_id);
            }
        }
        let mut partition_racks: HashMap<Tp, BTreeSet<String>> = HashMap::new();
        let mut all_partition_racks: BTreeSet<&str> = BTreeSet::new();
        if !consumers_by_rack.is_empty() {
            for t in &view.topics {
                for (p, racks) in t.partitions.iter().zip(&t.racks) {
                    let set: BTreeSet<String> = racks.iter().map(|r| r.to_string()).collect();
                    all_partition_racks.extend(racks.iter().copied());
                    partition_racks.insert(Tp::new(t.name, *p), set);
                }
            }
        }
        let consumer_rack_list: Vec<&str> = consumers_by_rack.keys().copied().collect();
        let all: Vec<&str> = all_partition_racks.iter().copied().collect();
        let per_partition: Vec<Vec<&str>> = partition_racks
            .values()
            .map(|s| s.iter().map(String::as_str).collect())
            .collect();
        let rack_aware = use_rack_aware(
            &consumer_rack_list,
            &all,
            per_partition.iter().map(Vec::as_slice),
        );
        let consumers_by_partition = partition_racks
            .iter()
            .map(|(tp, racks)| {
                let n = racks
                    .iter()
                    .map(|r| consumers_by_rack.get(r.as_str()).map_or(0, Vec::len))
                    .sum();
                (tp.clone(), n)
            })
            .collect();
        if rack_aware {
            let consumer_racks = consumers_by_rack
                .iter()
                .flat_map(|(rack, cs)| cs.iter().map(move |c| (c.to_string(), rack.to_string())))
                .collect();
            RackInfo {
                consumer_racks,
                partition_racks,
                consumers_by_partition,
            }
        } else {
            RackInfo {
                consumer_racks: HashMap::new(),
                partition_racks: HashMap::new(),
                consumers_by_partition,
            }
        }
    }

    fn racks_mismatch(&self, consumer: &str, tp: &Tp) -> bool {
        match self.consumer_racks.get(consumer) {
            None => false,
            Some(rack) => self
                .partition_racks
                .get(tp)
                .is_none_or(|r| !r.contains(rack)),
        }
    }

    /// Stable sort by how many consumers share a rack with the partition.
    fn sort_by_rack_consumers(&self, partitions: &mut [Tp]) {
        if self.consumers_by_partition.is_empty() {
            return;
        }
        partitions.sort_by_key(|tp| self.consumers_by_partition.get(tp).copied().unwrap_or(0));
    }

    fn next_rack_consumer(&self, tp: &Tp, consumers: &[String], first: usize) -> Option<usize> {
        let racks = self.partition_racks.get(tp).filter(|r| !r.is_empty())?;
        (0..consumers.len())
            .map(|i| (first + i) % consumers.len())
            .find(|&i| {
                self.consumer_racks
                    .get(&consumers[i])
                    .is_some_and(|r| racks.contains(r))
            })
    }
}

fn sticky_assign(
    view: &GroupView<'_>,
    member_data: fn(&MemberSubscription) -> MemberData,
) -> Result<Outcome, AssignError> {
    if view.members.is_empty() {
        return Ok(Outcome {
            assignment: BTreeMap::new(),
            transferring: Some(Vec::new()),
        });
    }
    let all_topics: HashSet<&str> = view.topics.iter().map(|t| t.name).collect();
    let rack_info = RackInfo::new(view);

    // Java's allSubscriptionsEqual, which also settles who owned what.
    let mut equal = true;
    let mut subscribed: HashSet<&str> = HashSet::new();
    let mut max_generation = NO_GENERATION;
    let mut owned: Vec<(String, Vec<Tp>)> = Vec::new();
    let mut owner_of: HashMap<Tp, String> = HashMap::new();
    let mut multi: HashSet<Tp> = HashSet::new();
    let mut datas: Vec<MemberData> = Vec::new();
    for m in &view.members {
        let topics = &m.subscription.topics;
        if subscribed.is_empty() {
            subscribed.extend(topics.iter().map(String::as_str));
        } else if equal
            && !(topics.len() == subscribed.len()
                && topics.iter().all(|t| subscribed.contains(t.as_str())))
        {
            equal = false;
        }
        let data = member_data(m);
        let generation = data.generation.unwrap_or(NO_GENERATION);
        max_generation = max_generation.max(generation);
        owned.push((m.member_id.clone(), Vec::new()));
        let me = owned.len() - 1;
        for tp in &data.partitions {
            if !all_topics.contains(tp.topic.as_str()) {
                continue;
            }
            match owner_of.get(tp).cloned() {
                None => {
                    owned[me].1.push(tp.clone());
                    owner_of.insert(tp.clone(), m.member_id.clone());
                }
                Some(other) => {
                    let other_generation = view
                        .member(&other)
                        .and_then(sub_generation)
                        .unwrap_or(NO_GENERATION);
                    let remove_from_other = |owned: &mut Vec<(String, Vec<Tp>)>| {
                        if let Some((_, list)) = owned.iter_mut().find(|(c, _)| *c == other) {
                            if let Some(pos) = list.iter().position(|x| x == tp) {
                                list.remove(pos);
                            }
                        }
                    };
                    if generation == other_generation {
                        multi.insert(tp.clone());
                        remove_from_other(&mut owned);
                        owner_of.insert(tp.clone(), m.member_id.clone());
                    } else if generation > other_generation {
                        owned[me].1.push(tp.clone());
                        remove_from_other(&mut owned);
                        owner_of.insert(tp.clone(), m.member_id.clone());
                    }
                }
            }
        }
        datas.push(data);
    }

    if equal {
        constrained(view, &rack_info, owned, &multi)
    } else {
        let prev = previous_assignment(view, &datas, max_generation);
        let assignment = General::new(view, &rack_info, owned)?.build(prev)?;
        Ok(Outcome {
            assignment,
            transferring: None,
        })
    }
}

/// Partitions whose owners were of older generations: who had each last.
fn previous_assignment(
    view: &GroupView<'_>,
    datas: &[MemberData],
    max_generation: i32,
) -> HashMap<Tp, (String, i32)> {
    let mut prev: HashMap<Tp, (String, i32)> = HashMap::new();
    let mut update = |parts: &[Tp], consumer: &str, generation: i32| {
        for tp in parts {
            match prev.get(tp) {
                Some((_, g)) if generation <= *g => {}
                _ => {
                    prev.insert(tp.clone(), (consumer.to_string(), generation));
                }
            }
        }
    };
    for (m, data) in view.members.iter().zip(datas) {
        match data.generation {
            Some(g) if g < max_generation => update(&data.partitions, &m.member_id, g),
            None if max_generation > NO_GENERATION => {
                update(&data.partitions, &m.member_id, NO_GENERATION)
            }
            _ => {}
        }
    }
    prev
}

fn sorted_topic_names<'a>(view: &'a GroupView<'a>) -> Vec<&'a TopicView<'a>> {
    let mut topics: Vec<&TopicView<'_>> = view.topics.iter().collect();
    topics.sort_by(|a, b| cmp_str(a.name, b.name));
    topics
}

/// Java's `ConstrainedAssignmentBuilder`, for groups whose members all
/// subscribe to the same topics.
fn constrained(
    view: &GroupView<'_>,
    rack: &RackInfo,
    owned: Vec<(String, Vec<Tp>)>,
    multi: &HashSet<Tp>,
) -> Result<Outcome, AssignError> {
    let total: usize = view.topics.iter().map(|t| t.partitions.len()).sum();
    let n = owned.len();
    let min_quota = total / n;
    let max_quota = total.div_ceil(n);
    let expected_over = total % n;
    let mut current_over = 0usize;
    let mut under_min: Vec<String> = Vec::new();
    let mut exactly_min: Vec<String> = Vec::new();
    // Owned partitions given up (over quota, or on the wrong rack), and
    // by whom: handing one to someone else is a transfer.
    let mut maybe_revoked: HashMap<Tp, String> = HashMap::new();
    let mut assigned: Vec<Tp> = Vec::new();
    let mut assignment: BTreeMap<String, Vec<Tp>> = BTreeMap::new();
    let mut transferring: Vec<(Tp, String)> = Vec::new();

    for (consumer, list) in &owned {
        let mut mine: Vec<Tp> = Vec::new();
        for tp in list {
            if rack.racks_mismatch(consumer, tp) {
                maybe_revoked.insert(tp.clone(), consumer.clone());
            } else {
                mine.push(tp.clone());
            }
        }
        mine.sort_by(|a, b| {
            a.partition
                .cmp(&b.partition)
                .then(cmp_str(&a.topic, &b.topic))
        });
        for tp in multi {
            if let Some(pos) = mine.iter().position(|x| x == tp) {
                mine.remove(pos);
            }
        }
        let out = assignment.entry(consumer.clone()).or_default();
        if mine.len() < min_quota {
            out.extend(mine.iter().cloned());
            assigned.extend(mine);
            under_min.push(consumer.clone());
        } else if mine.len() >= max_quota && current_over < expected_over {
            current_over += 1;
            if current_over == expected_over {
                exactly_min.clear();
            }
            out.extend(mine[..max_quota].iter().cloned());
            assigned.extend(mine[..max_quota].iter().cloned());
            for tp in &mine[max_quota..] {
                maybe_revoked.insert(tp.clone(), consumer.clone());
            }
        } else {
            out.extend(mine[..min_quota].iter().cloned());
            assigned.extend(mine[..min_quota].iter().cloned());
            for tp in &mine[min_quota..] {
                maybe_revoked.insert(tp.clone(), consumer.clone());
            }
            if current_over < expected_over {
                exactly_min.push(consumer.clone());
            }
        }
    }

    // Every partition not kept, topics sorted, partitions ascending (the
    // two-pointer walk of Java, which assumes indices 0..n).
    let topics = sorted_topic_names(view);
    let mut unassigned: Vec<Tp> = Vec::new();
    if assigned.is_empty() {
        for t in &topics {
            unassigned.extend(t.partitions.iter().map(|p| Tp::new(t.name, *p)));
        }
    } else {
        assigned.sort_by(|a, b| cmp_str(&a.topic, &b.topic).then(a.partition.cmp(&b.partition)));
        let mut it = assigned.iter();
        let mut next = it.next();
        let mut direct = false;
        for t in &topics {
            for i in 0..t.partitions.len() {
                let i = i as i32;
                let hit = next.is_some_and(|tp| tp.topic == t.name && tp.partition == i);
                if direct || !hit {
                    unassigned.push(Tp::new(t.name, i));
                } else {
                    next = it.next();
                    if next.is_none() {
                        direct = true;
                    }
                }
            }
        }
    }

    under_min.sort_by(|a, b| cmp_str(a, b));
    exactly_min.sort_by(|a, b| cmp_str(a, b));
    rack.sort_by_rack_consumers(&mut unassigned);

    let mut give = |tp: &Tp, consumer: &str, assignment: &mut BTreeMap<String, Vec<Tp>>| -> usize {
        let list = assignment.entry(consumer.to_string()).or_default();
        list.push(tp.clone());
        let moved = maybe_revoked.get(tp).is_some_and(|owner| owner != consumer);
        if moved || multi.contains(tp) {
            transferring.retain(|(x, _)| x != tp);
            transferring.push((tp.clone(), consumer.to_string()));
        }
        list.len()
    };

    // Rack-aware round robin up to the quotas.
    if !rack.consumer_racks.is_empty() {
        let mut next_index = 0usize;
        let mut i = 0;
        while i < unassigned.len() {
            let tp = unassigned[i].clone();
            let mut consumer: Option<String> = None;
            if let Some(mut index) = rack.next_rack_consumer(&tp, &under_min, next_index) {
                let c = under_min[index].clone();
                let count = assignment.get(&c).map_or(0, Vec::len) + 1;
                if count >= min_quota {
                    under_min.retain(|x| *x != c);
                    if count < max_quota && current_over < expected_over {
                        exactly_min.push(c.clone());
                    }
                } else {
                    index += 1;
                }
                next_index = if under_min.is_empty() {
                    0
                } else {
                    index % under_min.len()
                };
                consumer = Some(c);
            } else if !exactly_min.is_empty() {
                if let Some(first) = rack.next_rack_consumer(&tp, &exactly_min, 0) {
                    let c = exactly_min[first].clone();
                    if assignment.get(&c).map_or(0, Vec::len) + 1 == max_quota {
                        exactly_min.remove(first);
                        current_over += 1;
                        if current_over == expected_over {
                            exactly_min.clear();
                        }
                    }
                    consumer = Some(c);
                }
            }
            match consumer {
                Some(c) => {
                    give(&tp, &c, &mut assignment);
                    unassigned.remove(i);
                }
                None => i += 1,
            }
        }
    }

    // Plain round robin for the rest.
    let mut cursor = 0usize;
    for tp in &unassigned {
        let consumer = if cursor < under_min.len() {
            cursor += 1;
            under_min[cursor - 1].clone()
        } else if under_min.is_empty() && exactly_min.is_empty() {
            return Err(ise("no more unfilled consumers to be assigned"));
        } else if under_min.is_empty() {
            exactly_min.remove(0)
        } else {
            cursor = 1;
            under_min[0].clone()
        };
        let count = give(tp, &consumer, &mut assignment);
        if count == min_quota {
            // Java removes the element its iterator last returned.
            if cursor > 0 && cursor <= under_min.len() {
                under_min.remove(cursor - 1);
                cursor -= 1;
            }
            exactly_min.push(consumer);
        } else if count == max_quota {
            current_over += 1;
        }
    }

    if !under_min.is_empty() {
        if current_over != expected_over {
            return Err(ise("members with more than the minimum quota fall short"));
        }
        for c in &under_min {
            if assignment.get(c).map_or(0, Vec::len) != min_quota {
                return Err(ise("a member does not reach the minimum quota"));
            }
        }
    }

    Ok(Outcome {
        assignment,
        transferring: Some(transferring),
    })
}

/// Java's `PartitionMovements`: which partitions moved between which
/// members, so a partition moving back undoes a move instead of adding one.
#[derive(Default)]
struct Movements {
    by_partition: HashMap<Tp, (String, String)>,
    by_topic: HashMap<String, HashMap<(String, String), JavaHashSet<Tp>>>,
}

impl Movements {
    fn remove_record(&mut self, tp: &Tp) -> Option<(String, String)> {
        let pair = self.by_partition.remove(tp)?;
        if let Some(for_topic) = self.by_topic.get_mut(&tp.topic) {
            if let Some(set) = for_topic.get_mut(&pair) {
                set.remove(tp);
                if set.is_empty() {
                    for_topic.remove(&pair);
                }
            }
            if for_topic.is_empty() {
                self.by_topic.remove(&tp.topic);
            }
        }
        Some(pair)
    }

    fn add_record(&mut self, tp: &Tp, pair: (String, String)) {
        self.by_partition.insert(tp.clone(), pair.clone());
        self.by_topic
            .entry(tp.topic.clone())
            .or_default()
            .entry(pair)
            .or_insert_with(JavaHashSet::new)
            .insert(tp.clone(), ());
    }

    fn move_partition(&mut self, tp: &Tp, old: &str, new: &str) {
        if self.by_partition.contains_key(tp) {
            if let Some((src, _)) = self.remove_record(tp) {
                if src != new {
                    self.add_record(tp, (src, new.to_string()));
                }
            }
        } else {
            self.add_record(tp, (old.to_string(), new.to_string()));
        }
    }

    fn actual_partition_to_move(&self, tp: &Tp, old: &str, new: &str) -> Tp {
        let Some(for_topic) = self.by_topic.get(&tp.topic) else {
            return tp.clone();
        };
        let old = match self.by_partition.get(tp) {
            Some((src, _)) => src.as_str(),
            None => old,
        };
        let reverse = (new.to_string(), old.to_string());
        match for_topic.get(&reverse).and_then(|set| set.keys().next()) {
            Some(first) => first.clone(),
            None => tp.clone(),
        }
    }
}

/// Java's `GeneralAssignmentBuilder`, for groups whose members subscribe
/// to different topics.
struct General<'v, 'a> {
    view: &'v GroupView<'a>,
    rack: &'v RackInfo,
    total: usize,
    topic_consumers: HashMap<String, Vec<String>>,
    consumer_topics: BTreeMap<String, Vec<String>>,
    current: BTreeMap<String, Vec<Tp>>,
    partition_consumer: HashMap<Tp, String>,
    sorted_partitions: Vec<Tp>,
    sorted: BTreeSet<(usize, JavaString)>,
    revocation_required: bool,
    movements: Movements,
}

impl<'v, 'a> General<'v, 'a> {
    fn new(
        view: &'v GroupView<'a>,
        rack: &'v RackInfo,
        owned: Vec<(String, Vec<Tp>)>,
    ) -> Result<Self, AssignError> {
        let mut topic_consumers: HashMap<String, Vec<String>> = view
            .topics
            .iter()
            .map(|t| (t.name.to_string(), Vec::new()))
            .collect();
        let mut consumer_topics = BTreeMap::new();
        for m in &view.members {
            let mut mine = Vec::new();
            for t in &m.subscription.topics {
                if let Some(list) = topic_consumers.get_mut(t) {
                    mine.push(t.clone());
                    list.push(m.member_id.clone());
                }
            }
            consumer_topics.insert(m.member_id.clone(), mine);
        }
        let current: BTreeMap<String, Vec<Tp>> = owned.into_iter().collect();
        let mut partition_consumer = HashMap::new();
        for (c, list) in &current {
            for tp in list {
                partition_consumer.insert(tp.clone(), c.clone());
            }
        }
        let mut topics: Vec<&TopicView<'_>> = view.topics.iter().collect();
        topics.sort_by(|a, b| {
            let na = topic_consumers.get(a.name).map_or(0, Vec::len);
            let nb = topic_consumers.get(b.name).map_or(0, Vec::len);
            na.cmp(&nb).then(cmp_str(a.name, b.name))
        });
        let sorted_partitions = topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| Tp::new(t.name, *p)))
            .collect();
        Ok(General {
            view,
            rack,
            total: view.topics.iter().map(|t| t.partitions.len()).sum(),
            topic_consumers,
            consumer_topics,
            current,
            partition_consumer,
            sorted_partitions,
            sorted: BTreeSet::new(),
            revocation_required: false,
            movements: Movements::default(),
        })
    }

    fn size(&self, c: &str) -> usize {
        self.current.get(c).map_or(0, Vec::len)
    }

    fn key(&self, c: &str) -> (usize, JavaString) {
        (self.size(c), JavaString(c.to_string()))
    }

    fn unsort(&mut self, c: &str) {
        let k = self.key(c);
        self.sorted.remove(&k);
    }

    fn resort(&mut self, c: &str) {
        let k = self.key(c);
        self.sorted.insert(k);
    }

    fn topic_size(&self, topic: &str) -> usize {
        self.view.topic(topic).map_or(0, |t| t.partitions.len())
    }

    fn max_assignment_size(&self, consumer: &str) -> usize {
        let topics = self
            .consumer_topics
            .get(consumer)
            .map_or(&[][..], Vec::as_slice);
        if topics.len() == self.view.topics.len() {
            self.total
        } else {
            topics.iter().map(|t| self.topic_size(t)).sum()
        }
    }

    fn subscribes(&self, consumer: &str, topic: &str) -> bool {
        self.consumer_topics
            .get(consumer)
            .is_some_and(|ts| ts.iter().any(|t| t == topic))
    }

    fn build(
        mut self,
        prev: HashMap<Tp, (String, i32)>,
    ) -> Result<BTreeMap<String, Vec<Tp>>, AssignError> {
        // Keep what members still may own.
        let mut assigned: Vec<Tp> = Vec::new();
        let consumers: Vec<String> = self.current.keys().cloned().collect();
        for c in &consumers {
            let member = self.view.member(c);
            let mut list = self.current.remove(c).unwrap_or_default();
            let mut keep = Vec::new();
            for tp in list.drain(..) {
                if !self.topic_consumers.contains_key(&tp.topic) {
                    self.partition_consumer.remove(&tp);
                } else if !member.is_some_and(|m| m.subscription.topics.contains(&tp.topic))
                    || self.rack.racks_mismatch(c, &tp)
                {
                    self.revocation_required = true;
                } else {
                    assigned.push(tp.clone());
                    keep.push(tp);
                }
            }
            self.current.insert(c.clone(), keep);
        }

        let mut unassigned = if assigned.is_empty() {
            self.sorted_partitions.clone()
        } else {
            let tc = &self.topic_consumers;
            assigned.sort_by(|a, b| {
                let na = tc.get(&a.topic).map_or(0, Vec::len);
                let nb = tc.get(&b.topic).map_or(0, Vec::len);
                na.cmp(&nb)
                    .then(cmp_str(&a.topic, &b.topic))
                    .then(a.partition.cmp(&b.partition))
            });
            let mut it = assigned.iter();
            let mut next = it.next();
            let mut direct = false;
            let mut out = Vec::new();
            for tp in &self.sorted_partitions {
                if direct || next != Some(tp) {
                    out.push(tp.clone());
                } else {
                    next = it.next();
                    if next.is_none() {
                        direct = true;
                    }
                }
            }
            out
        };

        let keys: Vec<String> = self.current.keys().cloned().collect();
        for c in &keys {
            self.resort(c);
        }
        self.balance(&prev, &mut unassigned)?;
        Ok(self.current)
    }

    fn maybe_assign_partition(&mut self, tp: &Tp, rack_matching: bool) -> bool {
        let found = self.sorted.iter().map(|(_, c)| c.0.clone()).find(|c| {
            self.subscribes(c, &tp.topic) && (!rack_matching || !self.rack.racks_mismatch(c, tp))
        });
        match found {
            Some(c) => {
                self.unsort(&c);
                self.current.entry(c.clone()).or_default().push(tp.clone());
                self.partition_consumer.insert(tp.clone(), c.clone());
                self.resort(&c);
                true
            }
            None => false,
        }
    }

    fn topic_can_move(&self, topic: &str) -> bool {
        self.topic_consumers.get(topic).map_or(0, Vec::len) >= 2
    }

    fn consumer_can_move(&self, c: &str) -> bool {
        let cur = self.size(c);
        if cur < self.max_assignment_size(c) {
            return true;
        }
        self.current
            .get(c)
            .is_some_and(|list| list.iter().any(|tp| self.topic_can_move(&tp.topic)))
    }

    fn is_balanced(&self) -> bool {
        let (Some(first), Some(last)) = (self.sorted.first(), self.sorted.last()) else {
            return true;
        };
        if first.0 + 1 >= last.0 {
            return true;
        }
        let mut owner: HashMap<&Tp, &str> = HashMap::new();
        for (c, list) in &self.current {
            for tp in list {
                owner.insert(tp, c);
            }
        }
        for (_, c) in &self.sorted {
            let c = c.0.as_str();
            let count = self.size(c);
            if count == self.max_assignment_size(c) {
                continue;
            }
            let mine = self.current.get(c).map_or(&[][..], Vec::as_slice);
            for topic in self.consumer_topics.get(c).map_or(&[][..], Vec::as_slice) {
                for i in 0..self.topic_size(topic) {
                    let tp = Tp::new(topic, i as i32);
                    if mine.contains(&tp) {
                        continue;
                    }
                    if let Some(other) = owner.get(&tp) {
                        if count + 1 < self.size(other) {
                            return false;
                        }
                    }
                }
            }
        }
        true
    }

    fn balance_score(assignment: &BTreeMap<String, Vec<Tp>>) -> usize {
        let sizes: Vec<usize> = assignment.values().map(Vec::len).collect();
        let mut score = 0;
        for i in 0..sizes.len() {
            for j in i + 1..sizes.len() {
                score += sizes[i].abs_diff(sizes[j]);
            }
        }
        score
    }

    fn balance(
        &mut self,
        prev: &HashMap<Tp, (String, i32)>,
        unassigned: &mut Vec<Tp>,
    ) -> Result<(), AssignError> {
        let initializing = self
            .sorted
            .last()
            .is_some_and(|(_, c)| self.current.get(&c.0).is_some_and(Vec::is_empty));

        if !self.rack.consumer_racks.is_empty() {
            let mut to_assign = unassigned.clone();
            let mut i = 0;
            while i < to_assign.len() {
                let tp = to_assign[i].clone();
                if self
                    .topic_consumers
                    .get(&tp.topic)
                    .is_some_and(|c| !c.is_empty())
                    && self.maybe_assign_partition(&tp, true)
                {
                    to_assign.remove(i);
                } else {
                    i += 1;
                }
            }
            for tp in &to_assign {
                self.maybe_assign_partition(tp, false);
            }
        } else {
            for tp in unassigned.iter() {
                self.maybe_assign_partition(tp, false);
            }
        }

        let fixed_topics: HashSet<String> = self
            .topic_consumers
            .keys()
            .filter(|t| !self.topic_can_move(t))
            .cloned()
            .collect();
        let fixed = |tp: &Tp| fixed_topics.contains(&tp.topic);
        self.sorted_partitions.retain(|tp| !fixed(tp));
        unassigned.retain(|tp| !fixed(tp));

        let mut fixed_assignments: Vec<(String, Vec<Tp>)> = Vec::new();
        let consumers: Vec<String> = self.consumer_topics.keys().cloned().collect();
        for c in consumers {
            if !self.consumer_can_move(&c) {
                self.unsort(&c);
                let list = self.current.remove(&c).unwrap_or_default();
                fixed_assignments.push((c, list));
            }
        }

        let pre_balance = self.current.clone();
        let pre_partition_consumer = self.partition_consumer.clone();
        if !self.revocation_required {
            let list = unassigned.clone();
            self.perform_reassignments(&list, prev)?;
        }
        let list = self.sorted_partitions.clone();
        let performed = self.perform_reassignments(&list, prev)?;
        if !initializing
            && performed
            && Self::balance_score(&self.current) >= Self::balance_score(&pre_balance)
        {
            self.current = pre_balance;
            self.partition_consumer = pre_partition_consumer;
        }
        for (c, list) in fixed_assignments {
            self.current.insert(c, list);
        }
        Ok(())
    }

    fn perform_reassignments(
        &mut self,
        partitions: &[Tp],
        prev: &HashMap<Tp, (String, i32)>,
    ) -> Result<bool, AssignError> {
        let mut performed = false;
        // Passes repeat while some partition moved. This usually settles
        // within a few passes, but Java's loop can cycle forever: often
        // with racks, rarely without (the Java cross-check keeps a
        // cooperative join round without racks on which kafka-clients
        // spins). Ours gives up after a bound no converging run comes
        // near (the Java cross-check would show one that did).
        for _ in 0..=partitions.len().saturating_mul(2).saturating_add(64) {
            let mut modified = false;
            for tp in partitions {
                if self.is_balanced() {
                    break;
                }
                let consumer = self
                    .partition_consumer
                    .get(tp)
                    .cloned()
                    .ok_or_else(|| ise("a partition has no consumer"))?;
                let size = |g: &Self, c: &str| -> Result<usize, AssignError> {
                    g.current
                        .get(c)
                        .map(Vec::len)
                        .ok_or_else(|| ise("a consumer left the assignment"))
                };
                // Java fails here (NullPointerException) when the previous
                // owner is out of the reassignment (it has all it can
                // have); skipping the preference assigns instead.
                let prev_size = prev
                    .get(tp)
                    .and_then(|(c, _)| self.current.get(c).map(|l| (c, l.len())));
                if let Some((prev_consumer, prev_size)) = prev_size {
                    if size(self, &consumer)? > prev_size + 1 {
                        let target = prev_consumer.clone();
                        self.reassign_to(tp, &target);
                        performed = true;
                        modified = true;
                        continue;
                    }
                }
                let others = self
                    .topic_consumers
                    .get(&tp.topic)
                    .cloned()
                    .unwrap_or_default();
                let mut found = false;
                let consumer_rack = self.rack.consumer_racks.get(&consumer);
                let partition_racks = self.rack.partition_racks.get(tp);
                if let (Some(cr), Some(pr)) = (consumer_rack, partition_racks) {
                    if !pr.is_empty() && pr.contains(cr) {
                        for other in &others {
                            let Some(or) = self.rack.consumer_racks.get(other) else {
                                continue;
                            };
                            if !pr.contains(or) {
                                continue;
                            }
                            if size(self, &consumer)? > size(self, other)? + 1 {
                                self.reassign(tp)?;
                                performed = true;
                                modified = true;
                                found = true;
                                break;
                            }
                        }
                    }
                }
                if !found {
                    for other in &others {
                        if size(self, &consumer)? > size(self, other)? + 1 {
                            self.reassign(tp)?;
                            performed = true;
                            modified = true;
                            break;
                        }
                    }
                }
            }
            if !modified {
                return Ok(performed);
            }
        }
        Err(ise("reassignment did not converge"))
    }

    fn reassign(&mut self, tp: &Tp) -> Result<(), AssignError> {
        let target = self
            .sorted
            .iter()
            .map(|(_, c)| c.0.clone())
            .find(|c| self.subscribes(c, &tp.topic))
            .ok_or_else(|| ise("no consumer for a partition"))?;
        self.reassign_to(tp, &target);
        Ok(())
    }

    fn reassign_to(&mut self, tp: &Tp, new: &str) {
        let Some(old) = self.partition_consumer.get(tp).cloned() else {
            return;
        };
        let moving = self.movements.actual_partition_to_move(tp, &old, new);
        let Some(from) = self.partition_consumer.get(&moving).cloned() else {
            return;
        };
        self.unsort(&from);
        self.unsort(new);
        self.movements.move_partition(&moving, &from, new);
        if let Some(list) = self.current.get_mut(&from) {
            if let Some(pos) = list.iter().position(|x| *x == moving) {
                list.remove(pos);
            }
        }
        self.current
            .entry(new.to_string())
            .or_default()
            .push(moving.clone());
        self.partition_consumer.insert(moving, new.to_string());
        self.resort(new);
        self.resort(&from);
    }
}
