//! Consumer groups in the deterministic simulation: several clients join
//! one group on the mock cluster, share the partitions, hand them over on
//! rebalances, and survive coordinator moves, injected errors, crashes and
//! slow applications. Invariants are checked after every step.

mod sim;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use kafka_mock::ErrorInjection;
use kafka_proto::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_proto::messages::{FindCoordinatorRequest, OffsetFetchRequest, ProduceRequest};
use kafka_proto::record::{encode, BatchOptions, Record};
use kafka_proto::{ApiKey, ErrorCode, ResponseBody};
use kafka_state::consumer::AutoOffsetReset;
use kafka_state::group::{
    AssignError, Assignment, Assignor, CommitError, GroupConfig, GroupError, GroupEvent,
    LeaveReason, MemberSubscription, OffsetAndMetadata, RebalanceProtocol, TopicInfo,
};
use kafka_state::{ConsumerEvent, Event, Misuse, TopicPartition};
use sim::{for_each_seed, Sim};

const SECS: fn(u64) -> Duration = Duration::from_secs;
const TOPIC: &str = "t";
const GROUP: &str = "g";
const PARTITIONS: i32 = 6;

/// Round robin over members sorted by id: partition `i` of every topic to
/// member `i mod n` of those subscribing. Not sticky on purpose: under
/// the cooperative protocol, the member's own hand-over rules must keep
/// ownership disjoint.
#[derive(Debug)]
struct RoundRobin {
    cooperative: bool,
}

impl Assignor for RoundRobin {
    fn name(&self) -> &str {
        if self.cooperative {
            "test-cooperative"
        } else {
            "test-eager"
        }
    }

    fn protocol(&self) -> RebalanceProtocol {
        if self.cooperative {
            RebalanceProtocol::Cooperative
        } else {
            RebalanceProtocol::Eager
        }
    }

    fn assign(
        &self,
        topics: &BTreeMap<String, TopicInfo>,
        members: &[MemberSubscription],
    ) -> Result<BTreeMap<String, Assignment>, AssignError> {
        let mut out: BTreeMap<String, Assignment> = members
            .iter()
            .map(|m| (m.member_id.clone(), Assignment::default()))
            .collect();
        for (topic, info) in topics {
            let mut subscribers: Vec<&str> = members
                .iter()
                .filter(|m| m.subscription.topics.contains(topic))
                .map(|m| m.member_id.as_str())
                .collect();
            subscribers.sort();
            if subscribers.is_empty() {
                continue;
            }
            for (i, p) in info.partitions.iter().enumerate() {
                let m = subscribers[i % subscribers.len()];
                if let Some(a) = out.get_mut(m) {
                    a.partitions.push(TopicPartition::new(topic.clone(), p.partition));
                }
            }
        }
        Ok(out)
    }
}

fn group_config(cooperative: bool, instance: Option<&str>) -> GroupConfig {
    let mut g = GroupConfig::new(GROUP).with_assignor(move || RoundRobin { cooperative });
    g.group_instance_id = instance.map(str::to_string);
    g.session_timeout = SECS(6);
    g.heartbeat_interval = SECS(1);
    g.rebalance_timeout = Some(SECS(10));
    g.max_poll_interval = SECS(20);
    g.auto_commit_interval = SECS(1);
    g
}

fn tweak(cooperative: bool, instance: Option<&str>) -> impl FnOnce(&mut kafka_state::Config) {
    let g = group_config(cooperative, instance);
    move |c| {
        c.group = Some(g);
        c.consumer.auto_offset_reset = AutoOffsetReset::Earliest;
        c.consumer.fetch_max_wait = Duration::from_millis(100);
    }
}

/// The simulation plus what the test saw.
struct World {
    sim: Sim,
    cooperative: bool,
    /// Records written per partition (offsets 0..n).
    produced: BTreeMap<i32, i64>,
    /// Every record handed out: (client, partition, offset).
    consumed: Vec<(usize, i32, i64)>,
    /// Highest committed offset seen per partition.
    committed: BTreeMap<i32, i64>,
    /// Clients whose application takes records (and reports polls).
    polling: BTreeSet<usize>,
    steps: u64,
}

impl World {
    fn new(seed: u64, cooperative: bool, instance: Option<&str>) -> Self {
        let mut sim = Sim::with_config(seed, 3, tweak(cooperative, instance));
        sim.cluster.create_topic(TOPIC, PARTITIONS, 3).unwrap();
        Self {
            sim,
            cooperative,
            produced: BTreeMap::new(),
            consumed: Vec::new(),
            committed: BTreeMap::new(),
            polling: BTreeSet::new(),
            steps: 0,
        }
    }

    fn join(&mut self, peer: usize) {
        let now = self.sim.now;
        self.sim
            .client_of(peer)
            .consumer()
            .subscribe(now, [TOPIC])
            .unwrap();
        self.polling.insert(peer);
    }

    fn add_member(&mut self, instance: Option<&str>) -> usize {
        let peer = self.sim.add_client(tweak(self.cooperative, instance));
        self.join(peer);
        peer
    }

    /// Writes `n` records to every partition.
    fn produce(&mut self, n: usize) {
        for p in 0..PARTITIONS {
            let base = self.produced.get(&p).copied().unwrap_or(0);
            let records: Vec<Record> = (0..n)
                .map(|i| Record {
                    offset: i as i64,
                    value: Some(Bytes::from(format!("{p}-{}", base + i as i64))),
                    ..Record::default()
                })
                .collect();
            let batch = encode(records.iter(), &BatchOptions::default()).unwrap();
            let req = ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(1000)
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(TOPIC.into())
                    .with_partition_data(vec![PartitionProduceData::default()
                        .with_index(p)
                        .with_records(Some(batch))])]);
            let leader = self.sim.cluster.partition_leader(TOPIC, p).unwrap();
            let ResponseBody::Produce(resp) = self.sim.side_call(leader, 9, req.into()) else {
                panic!("wrong response type")
            };
            let r = &resp.responses[0].partition_responses[0];
            assert_eq!(r.error_code, 0);
            assert_eq!(r.base_offset, base);
            self.produced.insert(p, base + n as i64);
        }
    }

    /// The group's committed offsets, read from the coordinator.
    fn fetch_committed(&mut self) -> BTreeMap<i32, i64> {
        let find = FindCoordinatorRequest::default().with_key(GROUP.into());
        let ResponseBody::FindCoordinator(c) = self.sim.side_call(0, 3, find.into()) else {
            panic!("wrong response type")
        };
        if c.error_code != 0 {
            return BTreeMap::new();
        }
        let req = OffsetFetchRequest::default()
            .with_group_id(GROUP.into())
            .with_topics(None);
        let ResponseBody::OffsetFetch(r) = self.sim.side_call(c.node_id, 7, req.into()) else {
            panic!("wrong response type")
        };
        r.topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .filter(|p| p.error_code == 0 && p.committed_offset >= 0)
            .map(|p| (p.partition_index, p.committed_offset))
            .collect()
    }

    /// Takes every record the polling clients have, storing each.
    fn consume(&mut self) {
        let now = self.sim.now;
        for peer in self.sim.live_clients() {
            if !self.polling.contains(&peer) {
                continue;
            }
            let c = self.sim.client_of(peer);
            c.consumer().record_poll(now).unwrap();
            while let Some(fetched) = c.consumer().poll_records(now) {
                for r in fetched {
                    let r = r.expect("records decode");
                    c.consumer().store_record(&r).unwrap();
                    self.consumed.push((peer, r.partition, r.offset));
                }
            }
        }
        self.sim.flush();
    }

    fn assignment(&mut self, peer: usize) -> BTreeSet<i32> {
        self.sim
            .client_of(peer)
            .consumer()
            .assignment()
            .into_iter()
            .map(|tp| tp.partition)
            .collect()
    }

    /// The invariants, after every step.
    fn check(&mut self) {
        let seed = self.sim.seed;
        // No partition owned by two live clients at once.
        let mut owner: BTreeMap<i32, usize> = BTreeMap::new();
        for peer in self.sim.live_clients() {
            for p in self.assignment(peer) {
                if let Some(other) = owner.insert(p, peer) {
                    panic!("seed {seed}: partition {p} owned by clients {other} and {peer}");
                }
            }
        }
        // Committed offsets never go back.
        if self.steps % 4 == 0 {
            for (p, o) in self.fetch_committed() {
                let before = self.committed.insert(p, o).unwrap_or(-1);
                assert!(
                    o >= before,
                    "seed {seed}: committed offset of {p} went back from {before} to {o}"
                );
            }
        }
    }

    fn step(&mut self) -> bool {
        let more = self.sim.step();
        self.steps += 1;
        self.consume();
        self.check();
        more
    }

    fn run_until(&mut self, limit: Duration, what: &str, mut done: impl FnMut(&mut World) -> bool) {
        let deadline = self.sim.now + limit;
        for _ in 0..500_000 {
            if done(self) {
                return;
            }
            if self.sim.now > deadline || !self.step() {
                break;
            }
        }
        if done(self) {
            return;
        }
        let last: Vec<String> = self
            .sim
            .live_clients()
            .into_iter()
            .flat_map(|p| {
                self.sim
                    .events_of(p)
                    .iter()
                    .rev()
                    .take(4)
                    .map(move |e| format!("{p}: {e:?}"))
                    .collect::<Vec<_>>()
            })
            .collect();
        panic!(
            "seed {}: {what} not reached after {:?}; last events: {last:#?}",
            self.sim.seed,
            self.sim.elapsed()
        );
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.sim.now + d;
        while self.sim.now < until {
            if !self.step() {
                break;
            }
        }
    }

    /// Every partition owned by exactly one of `members`, balanced.
    fn balanced(&mut self, members: &[usize]) -> bool {
        let n = members.len() as i32;
        let (lo, hi) = (PARTITIONS / n, (PARTITIONS + n - 1) / n);
        let mut all = BTreeSet::new();
        for &m in members {
            let a = self.assignment(m);
            if (a.len() as i32) < lo || (a.len() as i32) > hi {
                return false;
            }
            all.extend(a);
        }
        all.len() as i32 == PARTITIONS
    }

    /// Every record produced was handed out at least once.
    fn caught_up(&self) -> bool {
        let seen: BTreeSet<(i32, i64)> = self.consumed.iter().map(|(_, p, o)| (*p, *o)).collect();
        self.produced
            .iter()
            .all(|(p, n)| (0..*n).all(|o| seen.contains(&(*p, o))))
    }

    fn duplicates(&self) -> usize {
        let seen: BTreeSet<(i32, i64)> = self.consumed.iter().map(|(_, p, o)| (*p, *o)).collect();
        self.consumed.len() - seen.len()
    }

    fn settle(&mut self, members: &[usize], what: &str) {
        let members = members.to_vec();
        self.run_until(SECS(60), what, |w| w.balanced(&members) && w.caught_up());
    }

    fn group_events(&self, peer: usize) -> Vec<GroupEvent> {
        self.sim
            .events_of(peer)
            .iter()
            .filter_map(|e| match e {
                Event::Group(g) => Some(g.clone()),
                _ => None,
            })
            .collect()
    }

    fn consumer_events(&self, peer: usize) -> Vec<ConsumerEvent> {
        self.sim
            .events_of(peer)
            .iter()
            .filter_map(|e| match e {
                Event::Consumer(c) => Some(c.clone()),
                _ => None,
            })
            .collect()
    }

    fn joins(&self, peer: usize) -> usize {
        self.group_events(peer)
            .iter()
            .filter(|e| matches!(e, GroupEvent::Joined { .. }))
            .count()
    }
}

/// One, two, three members; a clean leave; a crash. Exactly once while
/// every hand-over is clean, at least once across the crash.
fn members_share_and_hand_over(cooperative: bool) {
    for_each_seed(|seed| {
        let mut w = World::new(seed, cooperative, None);
        w.join(0);
        w.produce(5);
        w.settle(&[0], "one member owns everything");
        let a = w.add_member(None);
        w.produce(5);
        w.settle(&[0, a], "two members share");
        let b = w.add_member(None);
        w.produce(5);
        w.settle(&[0, a, b], "three members share");
        // A clean leave: its partitions go to the others, nothing twice.
        let now = w.sim.now;
        w.sim.client_of(a).consumer().unsubscribe(now).unwrap();
        w.polling.remove(&a);
        w.produce(5);
        w.settle(&[0, b], "the others took over after a leave");
        assert!(
            w.group_events(a)
                .contains(&GroupEvent::Left { reason: LeaveReason::Unsubscribed }),
            "seed {seed}"
        );
        assert!(w.assignment(a).is_empty(), "seed {seed}");
        assert_eq!(w.duplicates(), 0, "seed {seed}: a record was handed out twice");
        // A crash: after the session timeout the survivor owns everything.
        w.sim.crash(b);
        w.polling.remove(&b);
        w.produce(5);
        w.settle(&[0], "the survivor took over after a crash");
        assert!(w.sim.elapsed() > SECS(6), "seed {seed}");
        let lost = w.consumer_events(0).iter().any(|e| matches!(e, ConsumerEvent::PartitionsLost { .. }));
        assert!(!lost, "seed {seed}: the survivor lost partitions");
        // Commits happened and cover what was consumed before the crash.
        let committed = w.fetch_committed();
        assert_eq!(committed.len(), PARTITIONS as usize, "seed {seed}: {committed:?}");
    });
}

#[test]
fn sim_eager_members_share_and_hand_over() {
    members_share_and_hand_over(false);
}

#[test]
fn sim_cooperative_members_share_and_hand_over() {
    members_share_and_hand_over(true);
}

