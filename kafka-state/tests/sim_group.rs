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
                    a.partitions
                        .push(TopicPartition::new(topic.clone(), p.partition));
                }
            }
        }
        Ok(out)
    }
}

/// Which assignor the members run: the test's own round robin (eager or
/// cooperative), or one of the built-in ones by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    Test,
    Builtin(&'static str),
}

fn group_config(pick: Pick, cooperative: bool, instance: Option<&str>) -> GroupConfig {
    use kafka_state::group::{
        CooperativeStickyAssignor, RangeAssignor, RoundRobinAssignor, StickyAssignor,
    };
    let g = GroupConfig::new(GROUP);
    let mut g = match pick {
        Pick::Test => g.only_assignor(move || RoundRobin { cooperative }),
        Pick::Builtin("range") => g.only_assignor(|| RangeAssignor),
        Pick::Builtin("roundrobin") => g.only_assignor(|| RoundRobinAssignor),
        Pick::Builtin("sticky") => g.only_assignor(StickyAssignor::default),
        Pick::Builtin("cooperative-sticky") => g.only_assignor(CooperativeStickyAssignor::default),
        // The Java client's defaults: range and cooperative-sticky, so
        // range (eager) is what the group agrees on.
        Pick::Builtin("default") => g,
        Pick::Builtin(other) => panic!("no assignor {other}"),
    };
    g.group_instance_id = instance.map(str::to_string);
    g.session_timeout = SECS(6);
    g.heartbeat_interval = SECS(1);
    g.rebalance_timeout = Some(SECS(10));
    g.max_poll_interval = SECS(20);
    g.auto_commit_interval = SECS(1);
    g
}

fn tweak(
    pick: Pick,
    cooperative: bool,
    instance: Option<&str>,
) -> impl FnOnce(&mut kafka_state::Config) {
    let g = group_config(pick, cooperative, instance);
    move |c| {
        c.group = Some(g);
        c.consumer.auto_offset_reset = AutoOffsetReset::Earliest;
        c.consumer.fetch_max_wait = Duration::from_millis(100);
    }
}

/// How a test application answers `PartitionsRevoking`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnRevoke {
    /// Commits what it consumed and says it is done at once.
    CommitThenDone,
    /// Commits what it consumed and says it is done once the commit is
    /// answered (the Java client's `commitSync` in `onPartitionsRevoked`).
    CommitAwaitDone,
}

/// A commit a test application made in a revoke window.
#[derive(Debug)]
struct WindowCommit {
    peer: usize,
    id: kafka_state::RequestId,
    /// The partitions revoking when it was made.
    revoking: Vec<TopicPartition>,
    /// How many records were handed out when it was made.
    consumed_at: usize,
}

/// The simulation plus what the test saw.
struct World {
    sim: Sim,
    pick: Pick,
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
    /// Off where a zombie may legitimately overlap (a fenced static
    /// member until its next heartbeat).
    check_ownership: bool,
    /// Off where the side calls reading commits would take injected
    /// errors meant for the client.
    check_commits: bool,
    /// Clients whose application answers revoke windows, and how.
    on_revoke: BTreeMap<usize, OnRevoke>,
    /// Every commit made in a revoke window.
    window_commits: Vec<WindowCommit>,
    /// The commit of each client's open revoke window, and the
    /// partitions it covered.
    open_windows: BTreeMap<usize, (kafka_state::RequestId, Vec<TopicPartition>)>,
}

impl World {
    fn new(seed: u64, cooperative: bool, instance: Option<&str>) -> Self {
        Self::with(seed, cooperative, instance, |_| {})
    }

    fn with(
        seed: u64,
        cooperative: bool,
        instance: Option<&str>,
        change: impl FnOnce(&mut GroupConfig),
    ) -> Self {
        Self::picking(seed, Pick::Test, cooperative, instance, change)
    }

    fn picking(
        seed: u64,
        pick: Pick,
        cooperative: bool,
        instance: Option<&str>,
        change: impl FnOnce(&mut GroupConfig),
    ) -> Self {
        Self::configured(seed, pick, cooperative, instance, |c| {
            if let Some(g) = c.group.as_mut() {
                change(g);
            }
        })
    }

    /// Like [`World::picking`], changing client 0's whole configuration.
    fn configured(
        seed: u64,
        pick: Pick,
        cooperative: bool,
        instance: Option<&str>,
        change: impl FnOnce(&mut kafka_state::Config),
    ) -> Self {
        let base = tweak(pick, cooperative, instance);
        let mut sim = Sim::with_config(seed, 3, |c| {
            base(c);
            change(c);
        });
        sim.cluster.create_topic(TOPIC, PARTITIONS, 3).unwrap();
        Self {
            sim,
            pick,
            cooperative,
            produced: BTreeMap::new(),
            consumed: Vec::new(),
            committed: BTreeMap::new(),
            polling: BTreeSet::new(),
            steps: 0,
            check_ownership: true,
            check_commits: true,
            on_revoke: BTreeMap::new(),
            window_commits: Vec::new(),
            open_windows: BTreeMap::new(),
        }
    }

    /// A member configured like client 0 of [`World::with`] with `change`.
    fn add_member_with(&mut self, change: impl FnOnce(&mut GroupConfig)) -> usize {
        let base = tweak(self.pick, self.cooperative, None);
        let peer = self.sim.add_client(|c| {
            base(c);
            if let Some(g) = c.group.as_mut() {
                change(g);
            }
        });
        self.join(peer);
        peer
    }

    /// The applications that answer revoke windows: each commits what it
    /// consumed of the partitions (again if more are announced), then
    /// says it is done.
    fn answer_revokes(&mut self) {
        let now = self.sim.now;
        let hooks: Vec<(usize, OnRevoke)> = self.on_revoke.iter().map(|(p, m)| (*p, *m)).collect();
        for (peer, mode) in hooks {
            if !self.sim.live_clients().contains(&peer) {
                continue;
            }
            let revoking = self.sim.client_of(peer).consumer().revoking();
            if revoking.is_empty() {
                self.open_windows.remove(&peer);
                continue;
            }
            let last = self
                .open_windows
                .get(&peer)
                .filter(|(_, covered)| *covered == revoking)
                .map(|(id, _)| *id);
            let id = match last {
                Some(id) => id,
                None => {
                    let id = self
                        .sim
                        .client_of(peer)
                        .consumer()
                        .commit(now, None)
                        .expect("a commit in the revoke window is accepted");
                    self.open_windows.insert(peer, (id, revoking.clone()));
                    self.window_commits.push(WindowCommit {
                        peer,
                        id,
                        revoking,
                        consumed_at: self.consumed.len(),
                    });
                    id
                }
            };
            let answered = commit_results(self, peer, id).is_some();
            if mode == OnRevoke::CommitThenDone || answered {
                self.sim
                    .client_of(peer)
                    .consumer()
                    .revoke_done(now)
                    .unwrap();
                self.open_windows.remove(&peer);
            }
        }
    }

    /// Adds a member, which makes client 0 rejoin, and holds the answers
    /// on the connection its JoinGroup went on for `hold`. Returns the
    /// new member and that connection.
    fn add_member_holding_the_join(&mut self, hold: Duration) -> (usize, kafka_state::ConnId) {
        let joins = sent(self, ApiKey::JoinGroup);
        let peer = self.add_member(None);
        self.run_until(SECS(10), "client 0 rejoins", |w| {
            sent(w, ApiKey::JoinGroup) > joins
        });
        let (_, conn, _) = *self
            .sim
            .sent
            .iter()
            .rev()
            .find(|(_, _, api)| *api == ApiKey::JoinGroup)
            .expect("a JoinGroup was sent");
        let until = self.sim.now + hold;
        self.sim.hold_responses(0, conn, until);
        (peer, conn)
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
        let peer = self
            .sim
            .add_client(tweak(self.pick, self.cooperative, instance));
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
        // Versions every capped mock in these tests still serves.
        let ResponseBody::FindCoordinator(c) = self.sim.side_call(0, 1, find.into()) else {
            panic!("wrong response type")
        };
        if c.error_code != 0 {
            return BTreeMap::new();
        }
        let req = OffsetFetchRequest::default()
            .with_group_id(GROUP.into())
            .with_topics(None);
        let ResponseBody::OffsetFetch(r) = self.sim.side_call(c.node_id, 5, req.into()) else {
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
        self.answer_revokes();
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
        let mut owner: BTreeMap<TopicPartition, usize> = BTreeMap::new();
        let checked = if self.check_ownership {
            self.sim.live_clients()
        } else {
            Vec::new()
        };
        for peer in checked {
            for tp in self.sim.client_of(peer).consumer().assignment() {
                if let Some(other) = owner.insert(tp.clone(), peer) {
                    panic!("seed {seed}: partition {tp:?} owned by clients {other} and {peer}");
                }
            }
        }
        // Committed offsets never go back.
        if self.check_commits && self.steps % 4 == 0 {
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

    /// Balanced, caught up, and every member synced in the generation it
    /// joined last (none in the middle of a rebalance).
    fn settle(&mut self, members: &[usize], what: &str) {
        let members = members.to_vec();
        self.run_until(SECS(60), what, |w| {
            w.balanced(&members) && w.caught_up() && members.iter().all(|&m| w.synced(m))
        });
    }

    /// Client `peer`'s generation (member epoch under KIP-848); -1
    /// outside a group.
    fn generation(&mut self, peer: usize) -> i32 {
        self.sim
            .client_of(peer)
            .consumer()
            .group_metadata()
            .map_or(-1, |m| m.generation_id)
    }

    fn synced(&mut self, peer: usize) -> bool {
        let generation = self.generation(peer);
        let last = self
            .group_events(peer)
            .into_iter()
            .rev()
            .find_map(|e| match e {
                GroupEvent::Joined { generation_id, .. } => Some(generation_id),
                _ => None,
            });
        generation >= 0 && last == Some(generation)
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
    members_share_and_hand_over_with(Pick::Test, cooperative)
}

fn members_share_and_hand_over_with(pick: Pick, cooperative: bool) {
    for_each_seed(|seed| {
        let mut w = World::picking(seed, pick, cooperative, None, |_| {});
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
        // Through LeaveGroup, not the session timeout.
        assert!(
            w.sim.now < now + SECS(3),
            "seed {seed}: the leave took {:?}",
            w.sim.now - now
        );
        assert!(
            w.group_events(a).contains(&GroupEvent::Left {
                reason: LeaveReason::Unsubscribed
            }),
            "seed {seed}"
        );
        assert!(w.assignment(a).is_empty(), "seed {seed}");
        assert_eq!(
            w.duplicates(),
            0,
            "seed {seed}: a record was handed out twice"
        );
        // A crash: after the session timeout the survivor owns everything.
        w.sim.crash(b);
        w.polling.remove(&b);
        w.produce(5);
        w.settle(&[0], "the survivor took over after a crash");
        assert!(w.sim.elapsed() > SECS(6), "seed {seed}");
        let lost = w
            .consumer_events(0)
            .iter()
            .any(|e| matches!(e, ConsumerEvent::PartitionsLost { .. }));
        assert!(!lost, "seed {seed}: the survivor lost partitions");
        // Commits happened and cover what was consumed before the crash.
        let committed = w.fetch_committed();
        assert_eq!(
            committed.len(),
            PARTITIONS as usize,
            "seed {seed}: {committed:?}"
        );
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

/// The same with each built-in assignor deciding, and with the defaults
/// (range and cooperative-sticky offered, range agreed on).
#[test]
fn sim_builtin_assignors_share_and_hand_over() {
    for (name, cooperative) in [
        ("range", false),
        ("roundrobin", false),
        ("sticky", false),
        ("cooperative-sticky", true),
        ("default", false),
    ] {
        members_share_and_hand_over_with(Pick::Builtin(name), cooperative);
    }
}

/// How many requests of `api` client 0 sent so far.
fn sent(w: &World, api: ApiKey) -> usize {
    w.sim.sent.iter().filter(|(_, _, a)| *a == api).count()
}

#[test]
fn sim_member_id_required_then_join_with_the_given_id() {
    for_each_seed(|seed| {
        let mut w = World::new(seed, false, None);
        w.join(0);
        w.run_until(SECS(20), "joined", |w| w.joins(0) == 1);
        // JoinGroup v4+ without a member id is refused with one; the
        // second JoinGroup carries it and is accepted (the mock would
        // refuse an empty id again).
        assert_eq!(sent(&w, ApiKey::JoinGroup), 2, "seed {seed}");
        let meta = w.sim.client.consumer().group_metadata().unwrap();
        assert!(!meta.member_id.is_empty(), "seed {seed}");
        assert_eq!(meta.generation_id, 1, "seed {seed}");
    });
}

#[test]
fn sim_coordinator_moves_and_the_group_carries_on() {
    for_each_seed(|seed| {
        let mut w = World::new(seed, seed % 2 == 0, None);
        w.join(0);
        let a = w.add_member(None);
        w.produce(3);
        w.settle(&[0, a], "two members share");
        let joins = (w.joins(0), w.joins(a));
        let finds = sent(&w, ApiKey::FindCoordinator);
        let find = FindCoordinatorRequest::default().with_key(GROUP.into());
        let ResponseBody::FindCoordinator(c) = w.sim.side_call(0, 3, find.into()) else {
            panic!("wrong response type")
        };
        let target = (c.node_id + 1) % 3;
        w.sim.cluster.move_coordinator(0, GROUP, target).unwrap();
        w.produce(3);
        // Heartbeats get NOT_COORDINATOR, the member finds the new one and
        // goes on in the same generation.
        w.run_until(SECS(30), "commits reach the new coordinator", |w| {
            w.caught_up()
                && w.fetch_committed().values().all(|o| *o == 6)
                && w.fetch_committed().len() == PARTITIONS as usize
        });
        assert!(sent(&w, ApiKey::FindCoordinator) > finds, "seed {seed}");
        assert_eq!(
            (w.joins(0), w.joins(a)),
            joins,
            "seed {seed}: a rebalance happened"
        );
        for p in [0, a] {
            let gave_up = w.consumer_events(p).iter().any(|e| {
                matches!(
                    e,
                    ConsumerEvent::PartitionsLost { .. } | ConsumerEvent::PartitionsRevoked { .. }
                )
            });
            assert!(!gave_up, "seed {seed}: client {p} gave partitions up");
        }
        assert_eq!(w.duplicates(), 0, "seed {seed}");
    });
}

#[test]
fn sim_illegal_generation_on_heartbeat_loses_without_commit() {
    for_each_seed(|seed| {
        // Interval commits far apart: any commit in the window would be a
        // commit of lost partitions.
        let mut w = World::with(seed, seed % 2 == 0, None, |g| {
            g.auto_commit_interval = SECS(600)
        });
        w.join(0);
        w.produce(4);
        w.settle(&[0], "one member owns everything");
        let now = w.sim.now;
        let id = w.sim.client.consumer().commit(now, None).unwrap();
        w.run_until(SECS(10), "commit answered", |w| {
            w.group_events(0)
                .iter()
                .any(|e| matches!(e, GroupEvent::Committed { id: i, .. } if *i == id))
        });
        let committed = w.fetch_committed();
        assert_eq!(committed.values().copied().collect::<Vec<_>>(), vec![4; 6]);
        // Consumed further than committed, then the generation ends.
        w.produce(3);
        w.run_until(SECS(10), "consumed past the commit", |w| w.caught_up());
        let before = w.sim.events.len();
        let commits = sent(&w, ApiKey::OffsetCommit);
        w.sim.cluster.inject_error(ErrorInjection::new(
            ApiKey::Heartbeat,
            ErrorCode::IllegalGeneration,
            1,
        ));
        w.run_until(SECS(10), "partitions lost", |w| {
            w.sim.events[before..].iter().any(|e| {
                matches!(e, Event::Consumer(ConsumerEvent::PartitionsLost { partitions }) if partitions.len() == PARTITIONS as usize)
            })
        });
        let revoked = w.sim.events[before..]
            .iter()
            .any(|e| matches!(e, Event::Consumer(ConsumerEvent::PartitionsRevoked { .. })));
        assert!(!revoked, "seed {seed}: lost partitions must not be revoked");
        // The member rejoins and starts again from the commit: the records
        // after it come twice, and nothing of them was committed.
        w.run_until(SECS(20), "rejoined and replayed", |w| {
            w.balanced(&[0]) && w.duplicates() == 3 * PARTITIONS as usize
        });
        assert_eq!(
            sent(&w, ApiKey::OffsetCommit),
            commits,
            "seed {seed}: a commit was sent"
        );
        assert_eq!(w.fetch_committed(), committed, "seed {seed}");
        assert_eq!(w.duplicates(), 3 * PARTITIONS as usize, "seed {seed}");
    });
}

fn commit_results(w: &World, peer: usize, id: kafka_state::RequestId) -> Option<GroupEvent> {
    w.group_events(peer)
        .into_iter()
        .find(|e| matches!(e, GroupEvent::Committed { id: i, .. } if *i == id))
}

#[test]
fn sim_commit_during_a_rebalance_is_classified() {
    for_each_seed(|seed| {
        let cooperative = seed % 2 == 0;
        let mut w = World::new(seed, cooperative, None);
        w.join(0);
        w.produce(2);
        w.settle(&[0], "one member owns everything");
        let joins = sent(&w, ApiKey::JoinGroup);
        w.add_member(None);
        w.run_until(SECS(10), "client 0 rejoins", |w| {
            sent(w, ApiKey::JoinGroup) > joins
        });
        let now = w.sim.now;
        let id = w.sim.client.consumer().commit(now, None).unwrap();
        w.sim.flush();
        let Some(GroupEvent::Committed {
            offsets, refused, ..
        }) = commit_results(&w, 0, id)
        else {
            panic!("seed {seed}: the commit was not answered at once");
        };
        assert_eq!(
            refused,
            Some(CommitError::RebalanceInProgress),
            "seed {seed}"
        );
        // Cooperative members keep their partitions while rejoining.
        assert_eq!(
            offsets.len(),
            if cooperative { PARTITIONS as usize } else { 0 }
        );
        assert!(offsets
            .values()
            .all(|r| *r == Err(CommitError::RebalanceInProgress)));
        // The coordinator's own REBALANCE_IN_PROGRESS is classified too.
        w.settle(&[0, 1], "two members share");
        w.sim.cluster.inject_error(ErrorInjection::new(
            ApiKey::OffsetCommit,
            ErrorCode::RebalanceInProgress,
            1,
        ));
        let tp = TopicPartition::new(TOPIC, w.assignment(0).into_iter().next().unwrap());
        let offsets = BTreeMap::from([(
            tp.clone(),
            OffsetAndMetadata::new(1, None).with_metadata("m"),
        )]);
        let now = w.sim.now;
        let id = w.sim.client.consumer().commit(now, Some(offsets)).unwrap();
        w.run_until(SECS(10), "commit answered", |w| {
            commit_results(w, 0, id).is_some()
        });
        let answer = commit_results(&w, 0, id);
        let Some(GroupEvent::Committed {
            offsets,
            refused: None,
            ..
        }) = answer
        else {
            panic!("seed {seed}: wrong answer {answer:?}");
        };
        assert_eq!(
            offsets[&tp],
            Err(CommitError::RebalanceInProgress),
            "seed {seed}"
        );
        // Committing a partition not owned is the caller's mistake.
        let stranger = TopicPartition::new(TOPIC, w.assignment(1).into_iter().next().unwrap());
        let now = w.sim.now;
        let err = w
            .sim
            .client
            .consumer()
            .commit(
                now,
                Some(BTreeMap::from([(
                    stranger.clone(),
                    OffsetAndMetadata::new(1, None),
                )])),
            )
            .unwrap_err();
        assert_eq!(err, Misuse::NotAssigned(stranger));
    });
}

#[test]
fn sim_max_poll_interval_leaves_and_loses_then_rejoins() {
    for_each_seed(|seed| {
        let mut w = World::new(seed, seed % 2 == 0, None);
        w.join(0);
        let a = w.add_member(None);
        w.produce(2);
        w.settle(&[0, a], "two members share");
        let leaves = sent(&w, ApiKey::LeaveGroup);
        // The application stops taking records.
        w.polling.remove(&0);
        let stopped = w.sim.now;
        w.produce(2);
        w.settle(&[a], "the other member took over");
        assert!(
            w.sim.now >= stopped + SECS(20),
            "seed {seed}: left too early"
        );
        let g = w.group_events(0);
        assert!(
            g.contains(&GroupEvent::Left {
                reason: LeaveReason::PollIntervalExceeded
            }),
            "seed {seed}"
        );
        let c = w.consumer_events(0);
        let lost = c
            .iter()
            .any(|e| matches!(e, ConsumerEvent::PartitionsLost { .. }));
        assert!(lost, "seed {seed}: {c:?}");
        assert_eq!(sent(&w, ApiKey::LeaveGroup), leaves + 1, "seed {seed}");
        let metadata = w.sim.client.consumer().group_metadata();
        assert_eq!(metadata.map(|m| m.generation_id), Some(-1), "seed {seed}");
        // Polling again rejoins.
        w.polling.insert(0);
        w.produce(2);
        w.settle(&[0, a], "rejoined after polling again");
    });
}

#[test]
fn sim_static_member_restart_within_the_session_is_no_rebalance() {
    for_each_seed(|seed| {
        let mut w = World::new(seed, seed % 2 == 0, Some("i0"));
        w.join(0);
        let a = w.add_member(Some("ia"));
        w.produce(2);
        w.settle(&[0, a], "two members share");
        let joins = w.joins(0);
        let generation = w.generation(0);
        let owned = w.assignment(a);
        let before = w.sim.events.len();
        w.sim.crash(a);
        w.polling.remove(&a);
        w.run_for(SECS(1));
        w.sim.restart(a, tweak(w.pick, w.cooperative, Some("ia")));
        w.join(a);
        w.produce(2);
        w.settle(&[0, a], "the static member is back");
        assert_eq!(w.assignment(a), owned, "seed {seed}");
        assert_eq!(
            w.joins(0),
            joins,
            "seed {seed}: client 0 went through a rebalance"
        );
        let a_meta = w.sim.client_of(a).consumer().group_metadata().unwrap();
        assert_eq!(a_meta.generation_id, generation, "seed {seed}");
        let moved = w.sim.events[before..].iter().any(|e| {
            matches!(
                e,
                Event::Consumer(
                    ConsumerEvent::PartitionsLost { .. }
                        | ConsumerEvent::PartitionsRevoked { .. }
                        | ConsumerEvent::PartitionsAssigned { .. }
                )
            )
        });
        assert!(!moved, "seed {seed}: client 0's assignment changed");
        // Static members never send LeaveGroup.
        let now = w.sim.now;
        w.sim.client.consumer().unsubscribe(now).unwrap();
        w.sim.flush();
        w.run_for(SECS(1));
        assert_eq!(sent(&w, ApiKey::LeaveGroup), 0, "seed {seed}");
    });
}

#[test]
fn sim_duplicate_static_instance_is_fenced() {
    for_each_seed(|seed| {
        let mut w = World::new(seed, seed % 2 == 0, Some("dup"));
        w.join(0);
        w.produce(2);
        w.settle(&[0], "one member owns everything");
        // A second client with the same instance id takes the place over;
        // client 0 keeps its partitions until its next heartbeat (a zombie:
        // ownership may overlap meanwhile).
        w.check_ownership = false;
        let a = w.add_member(Some("dup"));
        w.run_until(SECS(10), "client 0 fenced", |w| {
            w.group_events(0)
                .contains(&GroupEvent::Failed(GroupError::FencedInstanceId))
        });
        w.polling.remove(&0);
        let c = w.consumer_events(0);
        assert!(
            matches!(c.last(), Some(ConsumerEvent::PartitionsLost { .. })),
            "seed {seed}: {c:?}"
        );
        assert!(w.assignment(0).is_empty());
        w.check_ownership = true;
        w.produce(2);
        w.settle(&[a], "the new instance owns everything");
        let now = w.sim.now;
        assert_eq!(
            w.sim.client.consumer().subscribe(now, [TOPIC]),
            Err(Misuse::GroupFailed(GroupError::FencedInstanceId))
        );
    });
}

#[test]
fn sim_coordinator_errors_are_retried() {
    for_each_seed(|seed| {
        let mut w = World::new(seed, seed % 2 == 0, None);
        w.check_commits = false;
        for (api, error, n) in [
            (
                ApiKey::FindCoordinator,
                ErrorCode::CoordinatorNotAvailable,
                2,
            ),
            (ApiKey::JoinGroup, ErrorCode::CoordinatorLoadInProgress, 1),
            (ApiKey::SyncGroup, ErrorCode::NotCoordinator, 1),
            (ApiKey::OffsetFetch, ErrorCode::UnstableOffsetCommit, 2),
        ] {
            w.sim
                .cluster
                .inject_error(ErrorInjection::new(api, error, n));
        }
        w.join(0);
        w.produce(2);
        w.settle(&[0], "joined despite the errors");
        let finds = sent(&w, ApiKey::FindCoordinator);
        let fetches = sent(&w, ApiKey::OffsetFetch);
        assert!(finds >= 4 && fetches >= 3, "seed {seed}: {finds} {fetches}");
        assert_eq!(w.joins(0), 1, "seed {seed}");
    });
}

#[test]
fn group_commands_refuse_misuse() {
    let mut sim = Sim::new(1, 1);
    let now = sim.now;
    let mut c = sim.client.consumer();
    assert_eq!(c.subscribe(now, [TOPIC]), Err(Misuse::NoGroupConfigured));
    assert_eq!(c.commit(now, None), Err(Misuse::NoGroupConfigured));
    assert_eq!(c.group_metadata(), None);
    let mut w = World::new(1, false, None);
    let now = w.sim.now;
    let mut c = w.sim.client.consumer();
    assert_eq!(c.commit(now, None), Err(Misuse::NotSubscribed));
    assert_eq!(
        c.subscribe(now, Vec::<String>::new()),
        Err(Misuse::NoTopics)
    );
    c.assign(now, [TopicPartition::new(TOPIC, 0)]).unwrap();
    assert_eq!(c.subscribe(now, [TOPIC]), Err(Misuse::ManuallyAssigned));
    c.unassign(now).unwrap();
    c.subscribe(now, [TOPIC]).unwrap();
    assert_eq!(c.subscription(), vec![TOPIC.to_string()]);
    assert_eq!(
        c.assign(now, [TopicPartition::new(TOPIC, 0)]),
        Err(Misuse::Subscribed)
    );
    assert_eq!(c.unassign(now), Err(Misuse::Subscribed));
    let meta = c.group_metadata().unwrap();
    assert_eq!((meta.group_id.as_str(), meta.generation_id), (GROUP, -1));
    c.unsubscribe(now).unwrap();
    assert!(c.subscription().is_empty());
    c.assign(now, [TopicPartition::new(TOPIC, 0)]).unwrap();
}

#[test]
fn sim_a_join_may_wait_longer_than_the_request_timeout() {
    for_each_seed(|seed| {
        // A crashed member holds the rebalance until its session (30 s)
        // expires, longer than the request timeout (10 s): the JoinGroup
        // waits without the connection being closed under it.
        let mut w = World::with(seed, seed % 2 == 0, None, |g| {
            g.session_timeout = SECS(30);
            g.heartbeat_interval = SECS(3);
            g.rebalance_timeout = Some(SECS(60));
            g.max_poll_interval = SECS(120);
        });
        let short = |c: &mut kafka_state::Config| c.request_timeout = SECS(10);
        // Client 0 was built before: rebuild the world's clients alike.
        w.sim.client = kafka_state::Client::new(
            {
                let mut c = w.sim.client.config().clone();
                short(&mut c);
                c
            },
            w.sim.now,
        )
        .unwrap();
        w.join(0);
        let a = w.sim.add_client(|c| {
            tweak(w.pick, w.cooperative, None)(c);
            if let Some(g) = c.group.as_mut() {
                g.session_timeout = SECS(30);
                g.heartbeat_interval = SECS(3);
                g.rebalance_timeout = Some(SECS(60));
                g.max_poll_interval = SECS(120);
            }
            short(c);
        });
        w.join(a);
        w.produce(2);
        w.settle(&[0, a], "two members share");
        w.sim.crash(a);
        w.polling.remove(&a);
        let joins = sent(&w, ApiKey::JoinGroup);
        let crashed = w.sim.now;
        let b = w.add_member(None);
        w.produce(2);
        w.settle(
            &[0, b],
            "the new member shares after the crashed one expired",
        );
        assert!(
            w.sim.now >= crashed + SECS(25),
            "seed {seed}: {:?}",
            w.sim.now - crashed
        );
        let lost = w
            .sim
            .events
            .iter()
            .any(|e| matches!(e, Event::ConnectionLost { .. }));
        let why: Vec<_> = w
            .sim
            .events
            .iter()
            .filter(|e| matches!(e, Event::ConnectionLost { .. }))
            .collect();
        assert!(
            !lost,
            "seed {seed}: a connection was closed under a waiting JoinGroup: {why:?}"
        );
        // Every JoinGroup since was answered with success: a SyncGroup
        // follows each, none was sent again after a failure.
        let group_calls: Vec<ApiKey> = w
            .sim
            .sent
            .iter()
            .map(|(_, _, a)| *a)
            .filter(|a| matches!(a, ApiKey::JoinGroup | ApiKey::SyncGroup))
            .collect();
        let since = group_calls
            .iter()
            .enumerate()
            .filter(|(_, a)| **a == ApiKey::JoinGroup)
            .nth(joins)
            .map(|(i, _)| i)
            .expect("client 0 rejoined");
        for pair in group_calls[since..].chunks(2) {
            assert_eq!(
                pair,
                [ApiKey::JoinGroup, ApiKey::SyncGroup],
                "seed {seed}: {group_calls:?}"
            );
        }
    });
}

#[test]
fn sim_connections_drop_under_a_busy_group() {
    for_each_seed(|seed| {
        let mut w = World::new(seed, seed % 2 == 0, None);
        w.join(0);
        let a = w.add_member(None);
        w.produce(3);
        w.settle(&[0, a], "two members share");
        // Client 0's sockets reset now and then (the coordinator's
        // included), while records keep coming and a third member joins.
        let mut b = None;
        for round in 0..8u64 {
            let pause = Duration::from_millis(700 + w.sim.rng.next_u64() % 2_300);
            w.run_for(pause);
            for conn in w.sim.open_conns() {
                w.sim.drop_connection(conn);
            }
            w.produce(1);
            if round == 3 {
                b = Some(w.add_member(None));
            }
        }
        let b = b.expect("added");
        w.settle(&[0, a, b], "three members share after the resets");
        let committed = w.fetch_committed();
        w.run_until(SECS(10), "commits caught up", |w| {
            let c = w.fetch_committed();
            c.len() == PARTITIONS as usize && c.iter().all(|(p, o)| w.produced.get(p) == Some(o))
        });
        assert!(committed.values().all(|o| *o > 0), "seed {seed}");
    });
}

#[test]
fn sim_close_commits_and_leaves_on_the_way_out() {
    for_each_seed(|seed| {
        let mut w = World::new(seed, seed % 2 == 0, None);
        w.join(0);
        w.produce(3);
        w.settle(&[0], "one member owns everything");
        // Consumed past the last automatic commit.
        w.produce(2);
        w.run_until(SECS(5), "caught up", |w| w.caught_up());
        let now = w.sim.now;
        w.sim.client.close(now);
        // The last bytes written before the sockets close: the final
        // commit, then LeaveGroup, on the coordinator connection.
        let mut apis = Vec::new();
        while let Some(t) = w.sim.client.poll_transmit() {
            let mut b = bytes::BytesMut::from(&t.bytes[..]);
            while let Ok(Some(f)) = kafka_proto::frame::split_frame(&mut b, 1 << 20) {
                apis.push(ApiKey::try_from(i16::from_be_bytes([f[0], f[1]])).unwrap());
            }
        }
        let leave = apis.iter().position(|a| *a == ApiKey::LeaveGroup);
        assert!(leave.is_some(), "seed {seed}: {apis:?}");
        let commit = apis.iter().position(|a| *a == ApiKey::OffsetCommit);
        assert!(commit < leave, "seed {seed}: {apis:?}");
        assert!(commit.is_some(), "seed {seed}: {apis:?}");
        let revoked = w.sim.client.poll_event().into_iter().chain(std::iter::from_fn(|| w.sim.client.poll_event())).any(|e| {
            matches!(e, Event::Consumer(ConsumerEvent::PartitionsRevoked { partitions, .. }) if partitions.len() == PARTITIONS as usize)
        });
        assert!(revoked, "seed {seed}");
    });
}

#[test]
fn sim_older_brokers_speak_older_group_versions() {
    // Before MEMBER_ID_REQUIRED, batched FindCoordinator, LeaveGroup
    // member lists, OffsetFetch groups and topic ids; and one step newer.
    let old: [(ApiKey, i16); 7] = [
        (ApiKey::FindCoordinator, 2),
        (ApiKey::JoinGroup, 3),
        (ApiKey::SyncGroup, 2),
        (ApiKey::Heartbeat, 2),
        (ApiKey::LeaveGroup, 2),
        (ApiKey::OffsetCommit, 6),
        (ApiKey::OffsetFetch, 5),
    ];
    let middle: [(ApiKey, i16); 7] = [
        (ApiKey::FindCoordinator, 3),
        (ApiKey::JoinGroup, 5),
        (ApiKey::SyncGroup, 3),
        (ApiKey::Heartbeat, 3),
        (ApiKey::LeaveGroup, 3),
        (ApiKey::OffsetCommit, 7),
        (ApiKey::OffsetFetch, 7),
    ];
    for_each_seed(|seed| {
        let caps = if seed % 2 == 0 { old } else { middle };
        let mut w = World::new(seed, seed % 4 < 2, None);
        for (api, v) in caps {
            w.sim.cluster.set_max_version(api, v);
        }
        w.join(0);
        let a = w.add_member(None);
        w.produce(3);
        w.settle(&[0, a], "two members share");
        assert_eq!(
            w.sim
                .client
                .negotiated_version(kafka_state::Broker::Node(0), ApiKey::JoinGroup),
            Some(caps[1].1),
            "seed {seed}"
        );
        let now = w.sim.now;
        w.sim.client_of(a).consumer().unsubscribe(now).unwrap();
        w.polling.remove(&a);
        w.produce(3);
        w.settle(&[0], "the other took over after a leave");
        assert!(
            w.sim.now < now + SECS(3),
            "seed {seed}: the leave was not heard"
        );
        assert_eq!(w.duplicates(), 0, "seed {seed}");
        let committed = w.fetch_committed();
        w.run_until(SECS(10), "commits caught up", |w| {
            let c = w.fetch_committed();
            c.len() == PARTITIONS as usize && c.values().all(|o| *o == 6)
        });
        assert!(committed.values().all(|o| *o > 0), "seed {seed}");
    });
}

/// Commits by hand only, and the application's word before a revoke.
fn manual_with_revoke_hook(g: &mut GroupConfig) {
    g.enable_auto_commit = false;
    g.await_revoke = true;
}

/// With auto-commit off, the application commits in the revoke window
/// (waiting for the answer, or saying it is done at once): each commit
/// goes out in the member's generation and succeeds, and each partition's
/// next owner starts exactly at it. Two joins and a leave, nothing twice.
#[test]
fn sim_manual_commits_in_the_revoke_window_hand_over_exactly() {
    for_each_seed(|seed| {
        let cooperative = seed % 2 == 0;
        let mode = if seed % 4 < 2 {
            OnRevoke::CommitAwaitDone
        } else {
            OnRevoke::CommitThenDone
        };
        let mut w = World::with(seed, cooperative, None, manual_with_revoke_hook);
        w.on_revoke.insert(0, mode);
        w.join(0);
        w.produce(5);
        w.settle(&[0], "one member owns everything");
        assert!(
            w.fetch_committed().is_empty(),
            "seed {seed}: only windows commit"
        );
        let a = w.add_member_with(manual_with_revoke_hook);
        w.on_revoke.insert(a, mode);
        w.produce(5);
        w.settle(&[0, a], "two members share");
        let b = w.add_member_with(manual_with_revoke_hook);
        w.on_revoke.insert(b, mode);
        w.produce(5);
        w.settle(&[0, a, b], "three members share");
        // A leave waits for the application too.
        let now = w.sim.now;
        w.sim.client_of(a).consumer().unsubscribe(now).unwrap();
        w.produce(5);
        w.settle(&[0, b], "the others took over after a leave");
        assert!(
            w.group_events(a).contains(&GroupEvent::Left {
                reason: LeaveReason::Unsubscribed
            }),
            "seed {seed}"
        );
        assert!(w.assignment(a).is_empty(), "seed {seed}");
        assert_eq!(
            w.duplicates(),
            0,
            "seed {seed}: a record was handed out twice"
        );
        let mut handed_over = 0;
        for wc in &w.window_commits {
            let answer = commit_results(&w, wc.peer, wc.id);
            let Some(GroupEvent::Committed {
                offsets,
                refused: None,
                ..
            }) = answer
            else {
                panic!("seed {seed}: {wc:?} answered {answer:?}");
            };
            for (tp, result) in offsets {
                let o = result.unwrap_or_else(|e| panic!("seed {seed}: {tp} of {wc:?}: {e}"));
                let next = w.consumed[wc.consumed_at..]
                    .iter()
                    .find(|(_, p, _)| *p == tp.partition);
                if let Some((peer, _, offset)) = next {
                    assert_eq!(
                        *offset, o.offset,
                        "seed {seed}: client {peer} went on with {tp} at {offset}, committed {}",
                        o.offset
                    );
                    if wc.revoking.contains(&tp) {
                        handed_over += 1;
                    }
                }
            }
        }
        assert!(handed_over > 0, "seed {seed}: {:?}", w.window_commits);
        for peer in [0, a, b] {
            let timed_out = w
                .group_events(peer)
                .iter()
                .any(|e| matches!(e, GroupEvent::RevokeTimedOut { .. }));
            assert!(!timed_out, "seed {seed}: client {peer} ran out of time");
        }
    });
}

/// An application that never says it is done holds the revoke up for
/// `revoke_wait` only: the member then revokes (reporting it), rejoins in
/// time to keep its place, and the group goes on within the rebalance
/// timeout.
#[test]
fn sim_an_unanswered_revoke_window_ends_at_the_bound() {
    for_each_seed(|seed| {
        let cooperative = seed % 2 == 0;
        let mut w = World::with(seed, cooperative, None, |g| g.await_revoke = true);
        let mut config = group_config(Pick::Test, cooperative, None);
        config.await_revoke = true;
        let bound = config.revoke_wait();
        w.join(0);
        w.produce(5);
        w.settle(&[0], "one member owns everything");
        let start = w.sim.now;
        let a = w.add_member(None);
        w.produce(5);
        w.run_until(SECS(30), "client 0 announces a revoke", |w| {
            !w.sim.client_of(0).consumer().revoking().is_empty()
        });
        let opened = w.sim.now;
        w.run_until(SECS(30), "client 0 revokes at the bound", |w| {
            w.group_events(0)
                .iter()
                .any(|e| matches!(e, GroupEvent::RevokeTimedOut { .. }))
        });
        let waited = w.sim.now - opened;
        assert!(
            waited >= bound && waited < bound + SECS(1),
            "seed {seed}: revoked {waited:?} after the announcement, bound {bound:?}"
        );
        w.run_until(SECS(30), "two members share", |w| {
            w.balanced(&[0, a]) && w.synced(0) && w.synced(a)
        });
        let took = w.sim.now - start;
        let rebalance = config.effective_rebalance_timeout();
        assert!(
            took < rebalance + SECS(2),
            "seed {seed}: the group stalled for {took:?}"
        );
        // In time: the member kept its place, so nothing was lost.
        let lost = w
            .consumer_events(0)
            .iter()
            .any(|e| matches!(e, ConsumerEvent::PartitionsLost { .. }));
        assert!(!lost, "seed {seed}: client 0 lost partitions");
        w.settle(&[0, a], "caught up");
        assert_eq!(w.duplicates(), 0, "seed {seed}: auto-commit at the bound");
    });
}

/// An unsubscribe waiting for the application when the generation ends
/// (ILLEGAL_GENERATION on a heartbeat): the partitions are lost, not
/// revoked, nothing of them is committed, and the member leaves (with a
/// LeaveGroup) without waiting out the revoke bound.
#[test]
fn sim_generation_ends_during_an_unsubscribe_revoke_wait() {
    for_each_seed(|seed| {
        let cooperative = seed % 2 == 0;
        let mut w = World::with(seed, cooperative, None, |g| {
            g.await_revoke = true;
            g.auto_commit_interval = SECS(600);
        });
        let bound = {
            let mut c = group_config(Pick::Test, cooperative, None);
            c.await_revoke = true;
            c.revoke_wait()
        };
        w.join(0);
        w.produce(3);
        w.settle(&[0], "one member owns everything");
        let now = w.sim.now;
        w.sim.client.consumer().unsubscribe(now).unwrap();
        w.polling.remove(&0);
        w.sim.flush();
        assert_eq!(
            w.sim.client.consumer().revoking().len(),
            PARTITIONS as usize,
            "seed {seed}: the unsubscribe opens a window"
        );
        let before = w.sim.events.len();
        let commits = sent(&w, ApiKey::OffsetCommit);
        w.sim.cluster.inject_error(ErrorInjection::new(
            ApiKey::Heartbeat,
            ErrorCode::IllegalGeneration,
            1,
        ));
        w.run_until(SECS(5), "partitions lost", |w| {
            w.sim.events[before..].iter().any(|e| {
                matches!(e, Event::Consumer(ConsumerEvent::PartitionsLost { partitions }) if partitions.len() == PARTITIONS as usize)
            })
        });
        w.run_until(SECS(2), "left", |w| {
            w.group_events(0).contains(&GroupEvent::Left {
                reason: LeaveReason::Unsubscribed,
            })
        });
        assert!(
            w.sim.now < now + bound,
            "seed {seed}: the leave waited for the revoke bound"
        );
        let after = &w.sim.events[before..];
        let revoked = after
            .iter()
            .any(|e| matches!(e, Event::Consumer(ConsumerEvent::PartitionsRevoked { .. })));
        let timed_out = after
            .iter()
            .any(|e| matches!(e, Event::Group(GroupEvent::RevokeTimedOut { .. })));
        assert!(!revoked && !timed_out, "seed {seed}: {after:?}");
        w.run_for(SECS(3));
        assert_eq!(
            sent(&w, ApiKey::OffsetCommit),
            commits,
            "seed {seed}: lost partitions were committed"
        );
        assert!(w.assignment(0).is_empty(), "seed {seed}");
        assert!(w.sim.client.consumer().revoking().is_empty(), "seed {seed}");
        // The coordinator still knows the member id after
        // ILLEGAL_GENERATION: a LeaveGroup spares the group a wait of the
        // rebalance timeout.
        assert_eq!(sent(&w, ApiKey::LeaveGroup), 1, "seed {seed}");
    });
}

/// The max poll interval keeps running while a revoke waits for the
/// application: an application that stopped polling before the window
/// opened is out of the group at `max_poll_interval` after its last poll,
/// its partitions lost (not revoked), even though the revoke bound is
/// later.
#[test]
fn sim_max_poll_interval_runs_during_a_revoke_wait() {
    for_each_seed(|seed| {
        let cooperative = seed % 2 == 0;
        let change = |g: &mut GroupConfig| {
            g.await_revoke = true;
            g.max_poll_interval = SECS(8);
            g.rebalance_timeout = Some(SECS(30));
        };
        let mut w = World::with(seed, cooperative, None, change);
        w.join(0);
        w.produce(2);
        w.settle(&[0], "one member owns everything");
        // Client 0's application stops polling and never answers windows.
        w.polling.remove(&0);
        let last_poll = w.sim.now;
        let a = w.add_member_with(change);
        w.on_revoke.insert(a, OnRevoke::CommitThenDone);
        w.run_until(SECS(8), "client 0 announces a revoke", |w| {
            !w.sim.client_of(0).consumer().revoking().is_empty()
        });
        w.run_until(SECS(12), "client 0 leaves", |w| {
            w.group_events(0).contains(&GroupEvent::Left {
                reason: LeaveReason::PollIntervalExceeded,
            })
        });
        let left = w.sim.now - last_poll;
        assert!(
            left >= SECS(8) && left < SECS(9),
            "seed {seed}: left {left:?} after the last poll"
        );
        let c = w.consumer_events(0);
        assert!(
            c.iter()
                .any(|e| matches!(e, ConsumerEvent::PartitionsLost { .. })),
            "seed {seed}: {c:?}"
        );
        let g = w.group_events(0);
        assert!(
            !g.iter()
                .any(|e| matches!(e, GroupEvent::RevokeTimedOut { .. })),
            "seed {seed}: {g:?}"
        );
        assert!(w.sim.client.consumer().revoking().is_empty(), "seed {seed}");
        w.produce(2);
        w.settle(&[a], "the other member took over");
    });
}

/// A cooperative rebalance while a member still waits for the committed
/// offsets of partitions it was just given (the coordinator answers
/// OffsetFetch with COORDINATOR_LOAD_IN_PROGRESS for a while): partitions
/// that move on before their offsets arrive start at the commit with
/// their next owner, and no record is handed out twice.
#[test]
fn sim_cooperative_rebalance_before_offsets_are_fetched() {
    for_each_seed(|seed| {
        let pick = Pick::Builtin("cooperative-sticky");
        let mut w = World::picking(seed, pick, true, None, |_| {});
        w.join(0);
        w.produce(3);
        w.settle(&[0], "one member owns everything");
        let a = w.add_member(None);
        w.produce(3);
        w.settle(&[0, a], "two members share");
        // The side calls reading commits would take the injected errors.
        w.check_commits = false;
        w.sim.cluster.inject_error(ErrorInjection::new(
            ApiKey::OffsetFetch,
            ErrorCode::CoordinatorLoadInProgress,
            40,
        ));
        let b = w.add_member(None);
        w.produce(3);
        w.run_until(SECS(30), "the new member is given partitions", |w| {
            !w.assignment(b).is_empty()
        });
        let waiting: Vec<_> = w
            .sim
            .client_of(b)
            .consumer()
            .assignment()
            .into_iter()
            .filter(|tp| w.sim.client_of(b).consumer().position(tp).is_none())
            .collect();
        assert!(
            !waiting.is_empty(),
            "seed {seed}: the offsets came before the next rebalance"
        );
        let c = w.add_member(None);
        w.produce(3);
        w.settle(&[0, a, b, c], "four members share");
        w.check_commits = true;
        assert_eq!(
            w.duplicates(),
            0,
            "seed {seed}: a record was handed out twice"
        );
        let joins = w
            .sim
            .events_of(b)
            .iter()
            .filter(|e| matches!(e, Event::Group(GroupEvent::Joined { .. })))
            .count();
        assert!(joins >= 2, "seed {seed}: the member joined {joins} times");
    });
}

/// Client 0's answers are held for a while (a slow network on its side)
/// just as it commits and another member joins: the commit's answer and
/// the heartbeat answers announcing the rebalance all come late, in
/// order. The commit still succeeds in the old generation, nothing is
/// lost, the group settles and no record is handed out twice.
#[test]
fn sim_heartbeat_answers_held_while_a_commit_is_in_flight() {
    for_each_seed(|seed| {
        let cooperative = seed % 2 == 0;
        let mut w = World::new(seed, cooperative, None);
        w.join(0);
        w.produce(4);
        w.settle(&[0], "one member owns everything");
        let now = w.sim.now;
        let id = w.sim.client.consumer().commit(now, None).unwrap();
        w.sim.flush();
        for conn in w.sim.conns_of(0) {
            w.sim.hold_responses(0, conn, now + SECS(3));
        }
        let a = w.add_member(None);
        w.produce(2);
        w.run_until(SECS(10), "the commit is answered", |w| {
            commit_results(w, 0, id).is_some()
        });
        assert!(
            w.sim.now >= now + SECS(3),
            "seed {seed}: the answer was not held"
        );
        let answer = commit_results(&w, 0, id);
        let Some(GroupEvent::Committed {
            offsets,
            refused: None,
            ..
        }) = &answer
        else {
            panic!("seed {seed}: {answer:?}");
        };
        assert!(
            offsets.values().all(|r| r.is_ok()),
            "seed {seed}: {offsets:?}"
        );
        w.settle(&[0, a], "two members share");
        let lost = w
            .consumer_events(0)
            .iter()
            .any(|e| matches!(e, ConsumerEvent::PartitionsLost { .. }));
        assert!(!lost, "seed {seed}: client 0 lost partitions");
        assert_eq!(w.duplicates(), 0, "seed {seed}");
    });
}

/// An unsubscribe while a cooperative rebalance is in flight: the
/// partitions are revoked at once, but what was consumed of them is
/// committed in the generation the rebalance makes (the old one is being
/// replaced, so the coordinator would refuse it), and only then does the
/// member leave. The next owners start where it stopped: nothing is
/// handed out twice.
#[test]
fn sim_unsubscribe_during_a_cooperative_rebalance_commits_in_the_new_generation() {
    for_each_seed(|seed| {
        let mut w = World::with(seed, true, None, |g| {
            // Only the revoke commits anything.
            g.auto_commit_interval = SECS(600);
        });
        w.join(0);
        w.produce(3);
        w.settle(&[0], "one member owns everything");
        let joins = sent(&w, ApiKey::JoinGroup);
        let commits = sent(&w, ApiKey::OffsetCommit);
        let generation = w.generation(0);
        w.add_member(None);
        w.run_until(SECS(10), "client 0 rejoins", |w| {
            sent(w, ApiKey::JoinGroup) > joins
        });
        let before = w.sim.events.len();
        let now = w.sim.now;
        w.sim.client.consumer().unsubscribe(now).unwrap();
        w.polling.remove(&0);
        w.sim.flush();
        assert!(w.assignment(0).is_empty(), "seed {seed}: revoked at once");
        assert_eq!(
            sent(&w, ApiKey::OffsetCommit),
            commits,
            "seed {seed}: the commit waits for the new generation"
        );
        w.run_until(SECS(20), "committed and left", |w| {
            w.sim.events[before..].iter().any(|e| {
                matches!(
                    e,
                    Event::Group(GroupEvent::Left {
                        reason: LeaveReason::Unsubscribed
                    })
                )
            }) && w.group_events(0).iter().any(|e| {
                matches!(
                    e,
                    GroupEvent::Committed {
                        automatic: true,
                        ..
                    }
                )
            })
        });
        let committed: Vec<GroupEvent> = w
            .group_events(0)
            .into_iter()
            .filter(|e| matches!(e, GroupEvent::Committed { .. }))
            .collect();
        let [GroupEvent::Committed {
            offsets,
            refused: None,
            ..
        }] = committed.as_slice()
        else {
            panic!("seed {seed}: one commit expected, got {committed:?}");
        };
        assert_eq!(offsets.len(), PARTITIONS as usize, "seed {seed}");
        assert!(
            offsets
                .values()
                .all(|r| r.as_ref().is_ok_and(|o| o.offset == 3)),
            "seed {seed}: {offsets:?}"
        );
        let joined = w.group_events(0).into_iter().rev().find_map(|e| match e {
            GroupEvent::Joined { generation_id, .. } => Some(generation_id),
            _ => None,
        });
        assert!(
            joined.is_some_and(|g| g > generation),
            "seed {seed}: committed in generation {joined:?}, after {generation}"
        );
        assert_eq!(sent(&w, ApiKey::LeaveGroup), 1, "seed {seed}");
        w.produce(2);
        w.settle(&[1], "the other member owns everything");
        assert_eq!(w.duplicates(), 0, "seed {seed}");
    });
}

/// A member whose JoinGroup answer is lost (its connection drops while
/// the others complete the generation) rejoins claiming its partitions as
/// of the generation before. The leader must not trust that claim over
/// the newer ones and may hand the partitions on at once, without a
/// revoke; so the member loses them as soon as its JoinGroup goes
/// unanswered, before anyone can be given them (waiting for the next
/// answer to show a generation passed is too late: the leader's own sync
/// can be quicker than that answer). Ownership stays disjoint at every
/// step.
#[test]
fn sim_member_rejoining_with_an_old_generation_loses_its_claims() {
    for_each_seed(|seed| {
        let mut w = World::new(seed, true, None);
        // Client 1 leads: it joined first.
        let a = w.add_member(None);
        w.produce(3);
        w.settle(&[a], "the leader owns everything");
        w.join(0);
        w.settle(&[0, a], "two members share");
        let mine = w.assignment(0);
        let generation = w.generation(0);
        // Its JoinGroup reaches the coordinator; the answer never comes.
        let (b, conn) = w.add_member_holding_the_join(SECS(600));
        let synced_past = |w: &World, peer: usize| {
            w.group_events(peer).iter().any(
                |e| matches!(e, GroupEvent::Joined { generation_id, .. } if *generation_id > generation),
            )
        };
        // The leader synced a generation client 0 is in without knowing
        // it. (Waiting longer, past client 0's session, would make it a
        // zombie the coordinator dropped: another story.)
        w.run_until(SECS(5), "the leader synced without client 0", |w| {
            synced_past(w, a)
        });
        let before = w.sim.events.len();
        w.sim.drop_connection(conn);
        w.settle(&[0, a, b], "three members share");
        let lost: Vec<ConsumerEvent> = w.sim.events[before..]
            .iter()
            .filter_map(|e| match e {
                Event::Consumer(c @ ConsumerEvent::PartitionsLost { .. }) => Some(c.clone()),
                _ => None,
            })
            .collect();
        let [ConsumerEvent::PartitionsLost { partitions }] = lost.as_slice() else {
            panic!("seed {seed}: client 0 should lose what it claimed once: {lost:?}");
        };
        let lost: BTreeSet<i32> = partitions.iter().map(|tp| tp.partition).collect();
        assert_eq!(lost, mine, "seed {seed}");
    });
}

/// Offsets a member stored for partitions it then gave up must not come
/// back when the partitions do: with manual commits, a member stores
/// offsets without committing them, leaves, another member reads on and
/// commits further, and the member comes back. Its next commit covers
/// only what it consumed since, and it reads on from the other member's
/// commit; committed offsets never go back (checked at every step).
#[test]
fn sim_offsets_stored_before_a_revoke_are_not_replayed_after_reassignment() {
    let came_back = std::cell::Cell::new(0);
    for_each_seed(|seed| {
        let cooperative = seed % 2 == 0;
        let mut w = World::with(seed, cooperative, None, |g| g.enable_auto_commit = false);
        w.join(0);
        let a = w.add_member(None);
        w.produce(3);
        w.settle(&[0, a], "two members share");
        let mine = w.assignment(0);
        // Stored (every record taken is), never committed.
        let now = w.sim.now;
        w.sim.client.consumer().unsubscribe(now).unwrap();
        w.polling.remove(&0);
        w.settle(&[a], "the other member owns everything");
        w.produce(3);
        w.run_until(SECS(10), "caught up", |w| w.caught_up());
        let now = w.sim.now;
        let id = w.sim.client_of(a).consumer().commit(now, None).unwrap();
        w.run_until(SECS(10), "the other member's commit answered", |w| {
            commit_results(w, a, id).is_some()
        });
        assert!(
            w.fetch_committed().values().all(|o| *o == 6),
            "seed {seed}: {:?}",
            w.fetch_committed()
        );
        let taken = w.consumed.len();
        w.join(0);
        w.settle(&[0, a], "shared again");
        let back: BTreeSet<i32> = w.assignment(0).intersection(&mine).copied().collect();
        came_back.set(came_back.get() + usize::from(!back.is_empty()));
        // Nothing consumed since it came back: nothing to commit, and
        // certainly not the offsets stored before it left.
        let now = w.sim.now;
        let id = w.sim.client.consumer().commit(now, None).unwrap();
        w.run_until(SECS(10), "commit answered", |w| {
            commit_results(w, 0, id).is_some()
        });
        let Some(GroupEvent::Committed { offsets, .. }) = commit_results(&w, 0, id) else {
            unreachable!()
        };
        assert!(
            offsets
                .values()
                .all(|r| r.as_ref().is_ok_and(|o| o.offset == 6)),
            "seed {seed}: {offsets:?}"
        );
        w.produce(2);
        w.run_until(SECS(10), "caught up again", |w| w.caught_up());
        let first_again = w.consumed[taken..]
            .iter()
            .filter(|(peer, p, _)| *peer == 0 && back.contains(p))
            .map(|(_, _, o)| *o)
            .min();
        assert_eq!(first_again, (!back.is_empty()).then_some(6), "seed {seed}");
        let now = w.sim.now;
        let id = w.sim.client.consumer().commit(now, None).unwrap();
        w.run_until(SECS(10), "second commit answered", |w| {
            commit_results(w, 0, id).is_some()
        });
        let Some(GroupEvent::Committed { offsets, .. }) = commit_results(&w, 0, id) else {
            unreachable!()
        };
        assert!(
            !offsets.is_empty()
                && offsets
                    .values()
                    .all(|r| r.as_ref().is_ok_and(|o| o.offset == 8)),
            "seed {seed}: {offsets:?}"
        );
    });
    assert!(
        came_back.get() > 0,
        "no seed gave a partition back to its first owner"
    );
}

/// The max poll interval runs out while the member's JoinGroup is in
/// flight (a cooperative member still owns its partitions then): they are
/// lost, not revoked, and what was consumed of them is not committed, as
/// another member may own them already.
#[test]
fn sim_max_poll_interval_expiring_mid_rebalance_loses_without_commit() {
    for_each_seed(|seed| {
        let mut w = World::with(seed, true, None, |g| g.auto_commit_interval = SECS(600));
        w.join(0);
        let a = w.add_member(None);
        w.produce(2);
        w.settle(&[0, a], "two members share");
        let mine = w.assignment(0);
        let commits = sent(&w, ApiKey::OffsetCommit);
        // The application stops taking records; a rebalance starts just
        // before the max poll interval (20 s) ends, and the answer to
        // client 0's JoinGroup is held past it.
        w.polling.remove(&0);
        let stopped = w.sim.now;
        w.run_for(SECS(18));
        let before = w.sim.events.len();
        let (b, _) = w.add_member_holding_the_join(SECS(5));
        w.run_until(SECS(10), "left", |w| {
            w.group_events(0).contains(&GroupEvent::Left {
                reason: LeaveReason::PollIntervalExceeded,
            })
        });
        assert!(w.sim.now >= stopped + SECS(20), "seed {seed}");
        let after = &w.sim.events[before..];
        let lost: Vec<&Event> = after
            .iter()
            .filter(|e| matches!(e, Event::Consumer(ConsumerEvent::PartitionsLost { .. })))
            .collect();
        let [Event::Consumer(ConsumerEvent::PartitionsLost { partitions })] = lost.as_slice()
        else {
            panic!("seed {seed}: {after:?}");
        };
        let lost: BTreeSet<i32> = partitions.iter().map(|tp| tp.partition).collect();
        assert_eq!(lost, mine, "seed {seed}");
        let revoked = after
            .iter()
            .any(|e| matches!(e, Event::Consumer(ConsumerEvent::PartitionsRevoked { .. })));
        assert!(!revoked, "seed {seed}: {after:?}");
        w.settle(&[a, b], "the others share");
        assert_eq!(
            sent(&w, ApiKey::OffsetCommit),
            commits,
            "seed {seed}: lost partitions were committed"
        );
    });
}

/// The classic protocol with a regular expression: the members match it
/// against the topics the metadata lists (internal and non-matching ones
/// left out), a topic created later that matches is assigned at the next
/// metadata refresh, and a pattern that does not compile is refused.
#[test]
fn sim_classic_regex_subscription_follows_the_matching_topics() {
    for_each_seed(|seed| {
        let cooperative = seed % 2 == 0;
        let base = tweak(Pick::Test, cooperative, None);
        let config = |c: &mut kafka_state::Config| {
            base(c);
            c.metadata_max_age = SECS(2);
        };
        let mut w = World::configured(seed, Pick::Test, cooperative, None, |c| {
            c.metadata_max_age = SECS(2);
        });
        w.sim.cluster.create_topic("other", 2, 3).unwrap();
        let a = w.sim.add_client(config);
        let now = w.sim.now;
        assert!(matches!(
            w.sim.client.consumer().subscribe_regex(now, "t("),
            Err(Misuse::InvalidRegex(_))
        ));
        for peer in [0, a] {
            w.sim
                .client_of(peer)
                .consumer()
                .subscribe_regex(now, "t|t[0-9]+")
                .unwrap();
            w.polling.insert(peer);
        }
        w.produce(2);
        w.settle(&[0, a], "the matching topic is shared");
        assert_eq!(w.sim.client.consumer().subscription(), ["t"], "seed {seed}");
        assert_eq!(
            w.sim.client.consumer().subscription_regex(),
            Some("t|t[0-9]+")
        );
        w.sim.cluster.create_topic("t2", 4, 3).unwrap();
        w.sim.cluster.create_topic("xt2", 1, 3).unwrap();
        let topics_of = |w: &mut World| -> BTreeMap<String, usize> {
            let mut n = BTreeMap::new();
            for peer in [0, a] {
                for tp in w.sim.client_of(peer).consumer().assignment() {
                    *n.entry(tp.topic).or_insert(0) += 1;
                }
            }
            n
        };
        let subscribed = |w: &mut World, peer: usize| {
            let mut s = w.sim.client_of(peer).consumer().subscription();
            s.sort();
            s == ["t", "t2"]
        };
        w.run_until(SECS(30), "the new matching topic is assigned", |w| {
            subscribed(w, 0)
                && subscribed(w, a)
                && topics_of(w) == BTreeMap::from([("t".to_string(), 6), ("t2".to_string(), 4)])
        });
    });
}
