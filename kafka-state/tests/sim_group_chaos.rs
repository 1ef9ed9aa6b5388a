//! Consumer groups under seeded chaos: 2 to 6 members, for every built-in
//! assignor, join, leave cleanly, crash, stall past the max poll
//! interval, freeze (no timer, nothing received), while coordinators
//! move, connections drop and answers are held on one connection while
//! the others go on. Automatic commits are on, so a member commits what
//! it consumed before every revoke.
//!
//! Checked after every step: no partition owned by two members the
//! coordinator counts in the group; committed offsets never go back.
//! Once the faults stop: every record was consumed at least once, and the
//! group settles, balanced, within a bounded simulated time. A static
//! member's bounce within the session timeout moves nothing elsewhere. A
//! second scenario with clean leaves only checks exactly once.
//!
//! Both protocols: the classic one with every built-in assignor, and the
//! consumer protocol (KIP-848) with each server assignor. Under KIP-848 a
//! static member's bounce is a clean close (a static leave, epoch -2) and
//! a restart; a crashed static member restarts after its session, since
//! the coordinator refuses its instance id until then (fatal for us).
//!
//! Seeds: `KAFKA_SIM_SEEDS` (default 20) or `KAFKA_SIM_SEED`; each seed
//! picks the group size and the faults, and runs cooperative-sticky, one
//! eager assignor (range, roundrobin, sticky in turn) and one KIP-848
//! server assignor (uniform, range in turn).

mod sim;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_proto::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_proto::messages::{
    ConsumerGroupDescribeRequest, DescribeGroupsRequest, FindCoordinatorRequest,
    OffsetFetchRequest, ProduceRequest,
};
use kafka_proto::record::{encode, BatchOptions, Record};
use kafka_proto::ResponseBody;
use kafka_state::consumer::AutoOffsetReset;
use kafka_state::group::{
    CooperativeStickyAssignor, GroupConfig, GroupEvent, GroupProtocol, RangeAssignor,
    RoundRobinAssignor, StickyAssignor,
};
use kafka_state::{ConsumerEvent, Event};
use sim::{for_each_seed, Sim, SimRng};

const SECS: fn(u64) -> Duration = Duration::from_secs;
const MS: fn(u64) -> Duration = Duration::from_millis;
const TOPIC: &str = "t";
const GROUP: &str = "g";
const PARTITIONS: i32 = 8;
const BROKERS: i32 = 3;
const SESSION: Duration = Duration::from_secs(6);
const MAX_POLL: Duration = Duration::from_secs(10);
/// How long the faults go on.
const CHAOS: Duration = Duration::from_secs(25);
/// How long the group may take to settle once they stop: a session
/// timeout and a rebalance timeout for the last zombie, then rounds.
const SETTLE: Duration = Duration::from_secs(60);

/// The assignors a seed runs: one of the eager ones in turn, the
/// cooperative one, and a KIP-848 server assignor in turn (named
/// `consumer:NAME`), so that every assignor runs for any six seeds in a
/// row and each seed stays fast.
fn assignors(seed: u64) -> [&'static str; 3] {
    let eager = ["range", "roundrobin", "sticky"];
    let server = ["consumer:uniform", "consumer:range"];
    [
        eager[(seed % 3) as usize],
        "cooperative-sticky",
        server[(seed % 2) as usize],
    ]
}

/// Whether `assignor` names a KIP-848 server assignor.
fn kip848(assignor: &str) -> bool {
    assignor.starts_with("consumer:")
}

fn group_config(assignor: &str, instance: Option<String>) -> GroupConfig {
    let g = GroupConfig::new(GROUP);
    if let Some(server) = assignor.strip_prefix("consumer:") {
        let mut g = g;
        g.group_protocol = GroupProtocol::Consumer;
        g.remote_assignor = Some(server.to_string());
        g.group_instance_id = instance;
        g.max_poll_interval = MAX_POLL;
        g.enable_auto_commit = true;
        g.auto_commit_interval = SECS(1);
        return g;
    }
    let mut g = match assignor {
        "range" => g.only_assignor(|| RangeAssignor),
        "roundrobin" => g.only_assignor(|| RoundRobinAssignor),
        "sticky" => g.only_assignor(StickyAssignor::default),
        "cooperative-sticky" => g.only_assignor(CooperativeStickyAssignor::default),
        other => panic!("no assignor {other}"),
    };
    g.group_instance_id = instance;
    g.session_timeout = SESSION;
    g.heartbeat_interval = SECS(1);
    g.rebalance_timeout = Some(SECS(10));
    g.max_poll_interval = MAX_POLL;
    g.enable_auto_commit = true;
    g.auto_commit_interval = SECS(1);
    g
}

fn tweak(
    assignor: &'static str,
    instance: Option<String>,
) -> impl FnOnce(&mut kafka_state::Config) {
    let g = group_config(assignor, instance);
    move |c| {
        c.group = Some(g);
        c.consumer.auto_offset_reset = AutoOffsetReset::Earliest;
        c.consumer.fetch_max_wait = MS(100);
    }
}

/// What a member is doing, as the test drives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Subscribed, its application taking records.
    Active,
    /// Subscribed, its application not taking records until then.
    Stalled(Instant),
    /// Not driven until then ([`Sim::freeze`]).
    Frozen(Instant),
    /// Unsubscribed cleanly.
    Left,
    /// Crashed; restarts then.
    Crashed(Instant),
}

/// A fault that ends later.
#[derive(Debug, Clone, Copy)]
enum Restore {
    BrokerUp(i32),
}

struct World {
    sim: Sim,
    assignor: &'static str,
    rng: SimRng,
    /// Per client (0 is `sim.client`).
    members: Vec<State>,
    /// The static instance id of each client that has one.
    instances: BTreeMap<usize, String>,
    produced: BTreeMap<i32, i64>,
    /// Every record handed out: (client, partition, offset).
    consumed: Vec<(usize, i32, i64)>,
    /// Highest committed offset seen per partition.
    committed: BTreeMap<i32, i64>,
    restores: Vec<(Instant, Restore)>,
    steps: u64,
    /// Ownership checks that found the coordinator reachable.
    ownership_checks: u64,
    /// The coordinator as last found; forgotten when a broker goes down
    /// or up.
    coordinator: Option<i32>,
    /// How many faults of each kind were injected (see [`World::fault`]).
    faults: [u64; 9],
}

impl World {
    fn new(seed: u64, assignor: &'static str, members: usize, statics: bool) -> Self {
        let instance = |i: usize| statics.then(|| format!("i{i}")).filter(|_| i == 1);
        // The KIP-848 session and heartbeat are the coordinator's: as
        // the classic members'.
        let cluster = |c: &mut kafka_mock::ClusterConfig| {
            c.consumer_group_session_timeout_ms = SESSION.as_millis() as i32;
            c.consumer_group_heartbeat_interval_ms = 1_000;
        };
        let mut sim = Sim::with_configs(seed, BROKERS, cluster, tweak(assignor, instance(0)));
        sim.cluster.create_topic(TOPIC, PARTITIONS, 3).unwrap();
        let mut instances = BTreeMap::new();
        for i in 1..members {
            let id = instance(i);
            if let Some(id) = &id {
                instances.insert(i, id.clone());
            }
            sim.add_client(tweak(assignor, id));
        }
        let mut w = Self {
            sim,
            assignor,
            rng: SimRng::new(seed ^ 0xc4a0_5c4a_05c4_a05c),
            members: vec![State::Active; members],
            instances,
            produced: BTreeMap::new(),
            consumed: Vec::new(),
            committed: BTreeMap::new(),
            restores: Vec::new(),
            steps: 0,
            ownership_checks: 0,
            coordinator: None,
            faults: [0; 9],
        };
        for m in 0..members {
            w.subscribe(m);
        }
        w
    }

    fn subscribe(&mut self, m: usize) {
        let now = self.sim.now;
        self.sim
            .client_of(m)
            .consumer()
            .subscribe(now, [TOPIC])
            .unwrap();
        self.members[m] = State::Active;
    }

    fn below(&mut self, n: u64) -> u64 {
        self.rng.next_u64() % n.max(1)
    }

    /// Writes `n` records to every partition, straight into the cluster.
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
            if !self.up(leader) {
                continue;
            }
            let ResponseBody::Produce(resp) = self.sim.side_call(leader, 9, req.into()) else {
                panic!("wrong response type")
            };
            let r = &resp.responses[0].partition_responses[0];
            if r.error_code != 0 {
                continue;
            }
            assert_eq!(r.base_offset, base, "seed {}", self.sim.seed);
            self.produced.insert(p, base + n as i64);
        }
    }

    fn up(&self, broker: i32) -> bool {
        !self
            .restores
            .iter()
            .any(|(_, r)| matches!(r, Restore::BrokerUp(b) if *b == broker))
    }

    /// The group's coordinator, asked of a broker that is up; `None` if
    /// it is down or unknown.
    fn coordinator(&mut self) -> Option<i32> {
        if let Some(c) = self.coordinator {
            return Some(c);
        }
        let ask = (0..BROKERS).find(|b| self.up(*b))?;
        let find = FindCoordinatorRequest::default().with_key(GROUP.into());
        let ResponseBody::FindCoordinator(c) = self.sim.side_call(ask, 1, find.into()) else {
            panic!("wrong response type")
        };
        self.coordinator = (c.error_code == 0 && self.up(c.node_id)).then_some(c.node_id);
        self.coordinator
    }

    /// The member ids the coordinator counts in the group.
    fn group_members(&mut self, coordinator: i32) -> Option<BTreeSet<String>> {
        self.group_view(coordinator).map(|(_, ids)| ids)
    }

    /// The group's state and member ids, as the coordinator has them.
    fn group_view(&mut self, coordinator: i32) -> Option<(String, BTreeSet<String>)> {
        self.group_assignments(coordinator)
            .map(|(state, members)| (state, members.into_keys().collect()))
    }

    /// The group's state and members, as the coordinator has them, with
    /// each member's partitions under KIP-848 (empty under the classic
    /// protocol, whose assignments the coordinator does not read).
    fn group_assignments(
        &mut self,
        coordinator: i32,
    ) -> Option<(String, BTreeMap<String, BTreeSet<i32>>)> {
        if kip848(self.assignor) {
            let req = ConsumerGroupDescribeRequest::default().with_group_ids(vec![GROUP.into()]);
            let ResponseBody::ConsumerGroupDescribe(r) =
                self.sim.side_call(coordinator, 0, req.into())
            else {
                panic!("wrong response type")
            };
            let g = r.groups.first()?;
            return (g.error_code == 0).then(|| {
                let members = g
                    .members
                    .iter()
                    .map(|m| {
                        let owned = m
                            .assignment
                            .topic_partitions
                            .iter()
                            .flat_map(|t| t.partitions.iter().copied())
                            .collect();
                        (m.member_id.clone(), owned)
                    })
                    .collect();
                (g.group_state.clone(), members)
            });
        }
        let req = DescribeGroupsRequest::default().with_groups(vec![GROUP.into()]);
        let ResponseBody::DescribeGroups(r) = self.sim.side_call(coordinator, 5, req.into()) else {
            panic!("wrong response type")
        };
        let g = r.groups.first()?;
        (g.error_code == 0).then(|| {
            let ids = g
                .members
                .iter()
                .map(|m| (m.member_id.clone(), BTreeSet::new()))
                .collect();
            (g.group_state.clone(), ids)
        })
    }

    fn committed_offsets(&mut self, coordinator: i32) -> BTreeMap<i32, i64> {
        let req = OffsetFetchRequest::default()
            .with_group_id(GROUP.into())
            .with_topics(None);
        let ResponseBody::OffsetFetch(r) = self.sim.side_call(coordinator, 5, req.into()) else {
            panic!("wrong response type")
        };
        r.topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .filter(|p| p.error_code == 0 && p.committed_offset >= 0)
            .map(|p| (p.partition_index, p.committed_offset))
            .collect()
    }

    fn driven(&self, m: usize) -> bool {
        matches!(
            self.members[m],
            State::Active | State::Stalled(_) | State::Left
        )
    }

    fn assignment(&mut self, m: usize) -> BTreeSet<i32> {
        self.sim
            .client_of(m)
            .consumer()
            .assignment()
            .into_iter()
            .map(|tp| tp.partition)
            .collect()
    }

    fn member_id(&mut self, m: usize) -> Option<String> {
        self.sim
            .client_of(m)
            .consumer()
            .group_metadata()
            .map(|g| g.member_id)
            .filter(|id| !id.is_empty())
    }

    /// The applications take every record they have and store each.
    fn consume(&mut self) {
        let now = self.sim.now;
        let el = self.sim.elapsed(); // for the trace
        for m in 0..self.members.len() {
            if self.members[m] != State::Active {
                continue;
            }
            let c = self.sim.client_of(m);
            c.consumer().record_poll(now).unwrap();
            while let Some(fetched) = c.consumer().poll_records(now) {
                for r in fetched {
                    let r = r.expect("records decode");
                    c.consumer().store_record(&r).unwrap();
                    if sim::tracing() {
                        eprintln!("{el:?} client {m}: took {}@{}", r.partition, r.offset);
                    }
                    self.consumed.push((m, r.partition, r.offset));
                }
            }
        }
        self.sim.flush();
    }

    /// The invariants, after every step.
    fn check(&mut self) {
        let seed = self.sim.seed;
        let Some(coordinator) = self.coordinator() else {
            return;
        };
        // No partition owned by two members the coordinator counts in
        // the group. A member it dropped (frozen past the session, cut
        // off) may still believe it owns partitions until it hears so:
        // that zombie is the classic protocol's, and its commits are
        // fenced by the generation.
        if let Some(ids) = self.group_members(coordinator) {
            self.ownership_checks += 1;
            let mut owner: BTreeMap<i32, usize> = BTreeMap::new();
            for m in 0..self.members.len() {
                if !self.driven(m) {
                    continue;
                }
                if !self.member_id(m).is_some_and(|id| ids.contains(&id)) {
                    continue;
                }
                for p in self.assignment(m) {
                    if let Some(other) = owner.insert(p, m) {
                        panic!(
                            "seed {seed} ({}): partition {p} owned by members {other} and {m} at {:?}",
                            self.assignor,
                            self.sim.elapsed()
                        );
                    }
                }
            }
        }
        // Committed offsets never go back.
        for (p, o) in self.committed_offsets(coordinator) {
            let before = self.committed.insert(p, o).unwrap_or(-1);
            assert!(
                o >= before,
                "seed {seed} ({}): committed offset of {p} went back from {before} to {o} at {:?}",
                self.assignor,
                self.sim.elapsed()
            );
        }
    }

    /// One step of the simulation, the clock stopping at `cap` at the
    /// latest, then the applications and the invariants.
    fn step(&mut self, cap: Instant) {
        self.sim.step_until(cap);
        self.steps += 1;
        self.consume();
        self.check();
    }

    /// Ends the faults whose time has come.
    fn restore_due(&mut self, all: bool) {
        let now = self.sim.now;
        let (due, later): (Vec<_>, Vec<_>) = self
            .restores
            .drain(..)
            .partition(|(at, _)| all || *at <= now);
        self.restores = later;
        for (_, r) in due {
            match r {
                Restore::BrokerUp(b) => {
                    self.sim.set_broker_up(b, true);
                    self.coordinator = None;
                }
            }
        }
        for m in 0..self.members.len() {
            match self.members[m] {
                State::Stalled(t) if all || t <= now => self.members[m] = State::Active,
                State::Frozen(t) if all || t <= now => {
                    self.sim.thaw(m);
                    self.members[m] = State::Active;
                }
                State::Crashed(t) if all || t <= now => {
                    let id = self.instances.get(&m).cloned();
                    self.sim.restart(m, tweak(self.assignor, id));
                    self.subscribe(m);
                }
                _ => {}
            }
        }
    }

    /// A random member in `ok`, client 0 excluded if `peers_only`.
    fn pick(&mut self, peers_only: bool, ok: impl Fn(State) -> bool) -> Option<usize> {
        let from = usize::from(peers_only);
        let c: Vec<usize> = (from..self.members.len())
            .filter(|m| ok(self.members[*m]))
            .collect();
        if c.is_empty() {
            return None;
        }
        Some(c[self.below(c.len() as u64) as usize])
    }

    fn subscribed(&self) -> usize {
        self.members
            .iter()
            .filter(|s| !matches!(s, State::Left))
            .count()
    }

    /// One seeded fault.
    fn fault(&mut self, clean_only: bool) {
        let now = self.sim.now;
        let kinds = if clean_only { 3 } else { 9 };
        let kind = self.below(kinds);
        self.faults[kind as usize] += 1;
        if sim::tracing() {
            eprintln!(
                "{:?} fault {kind}, members {:?}",
                self.sim.elapsed(),
                self.members
            );
        }
        match kind {
            // A clean leave (at least one member stays) ... In the
            // exactly-once scenario only from a settled group: a member
            // leaving in the middle of a rebalance (a cooperative
            // follow-up round, say) commits in the generation it owned the
            // partitions in, which the coordinator has moved past; the
            // commit fails and the next owner replays from the last one.
            // The Java client's commit on close fails the same way.
            0 => {
                if self.subscribed() > 1 && (!clean_only || self.settled()) {
                    if let Some(m) = self.pick(false, |s| s == State::Active) {
                        self.sim.client_of(m).consumer().unsubscribe(now).unwrap();
                        self.members[m] = State::Left;
                    }
                }
            }
            // ... and a comeback.
            1 => {
                if let Some(m) = self.pick(false, |s| s == State::Left) {
                    self.subscribe(m);
                }
            }
            // Answers held on one connection of a member.
            2 => {
                if let Some(m) = self.pick(false, |s| s != State::Left) {
                    if self.driven(m) {
                        let conns = self.sim.conns_of(m);
                        if !conns.is_empty() {
                            let c = conns[self.below(conns.len() as u64) as usize];
                            let hold = MS(200 + self.below(2_800));
                            self.sim.hold_responses(m, c, now + hold);
                        }
                    }
                }
            }
            // A crash (no leave); back later as a new process.
            3 => {
                if let Some(m) = self.pick(true, |s| s == State::Active) {
                    self.sim.crash(m);
                    let mut back = now + MS(500 + self.below(9_000));
                    if kip848(self.assignor) && self.instances.contains_key(&m) {
                        // Its instance id is refused until the session of
                        // the crashed process ends (UNRELEASED_INSTANCE_ID).
                        back = back.max(now + SESSION + SECS(1));
                    }
                    self.members[m] = State::Crashed(back);
                }
            }
            // The application stops taking records, past the max poll
            // interval or not.
            4 => {
                if let Some(m) = self.pick(false, |s| s == State::Active) {
                    let d = MS(2_000 + self.below(12_000));
                    self.members[m] = State::Stalled(now + d);
                }
            }
            // The process stops: no heartbeat, within the session or past it.
            5 => {
                if let Some(m) = self.pick(true, |s| s == State::Active) {
                    self.sim.freeze(m);
                    self.members[m] = State::Frozen(now + MS(500 + self.below(9_000)));
                }
            }
            // The coordinator's broker goes down for a while.
            6 => {
                if self.restores.is_empty() {
                    if let Some(b) = self.coordinator() {
                        self.sim.set_broker_up(b, false);
                        self.coordinator = None;
                        let d = MS(500 + self.below(5_000));
                        self.restores.push((now + d, Restore::BrokerUp(b)));
                    }
                }
            }
            // A connection resets.
            _ => {
                if let Some(m) = self.pick(false, |s| s != State::Left) {
                    if self.driven(m) {
                        let conns = self.sim.conns_of(m);
                        if !conns.is_empty() {
                            let c = conns[self.below(conns.len() as u64) as usize];
                            self.sim.drop_peer_connection(m, c);
                        }
                    }
                }
            }
        }
    }

    /// Faults for `CHAOS`, a tick at a time, records produced meanwhile.
    fn chaos(&mut self, clean_only: bool) {
        let end = self.sim.now + CHAOS;
        while self.sim.now < end {
            let tick = self.sim.now + MS(100 + self.below(900));
            while self.sim.now < tick {
                self.step(tick);
            }
            self.restore_due(false);
            if self.below(4) == 0 {
                let n = 1 + self.below(3) as usize;
                self.produce(n);
            }
            if self.below(3) == 0 {
                self.fault(clean_only);
            }
        }
        // A crashed KIP-848 static member comes back only once the
        // session of the crashed process ended (see `fault`).
        let statics_back = (0..self.members.len())
            .filter(|m| kip848(self.assignor) && self.instances.contains_key(m))
            .filter_map(|m| match self.members[m] {
                State::Crashed(t) => Some(t),
                _ => None,
            })
            .max();
        if let Some(t) = statics_back {
            while self.sim.now < t {
                self.step(t);
            }
        }
        self.restore_due(true);
    }

    fn caught_up(&self) -> bool {
        let seen: BTreeSet<(i32, i64)> = self.consumed.iter().map(|(_, p, o)| (*p, *o)).collect();
        self.produced
            .iter()
            .all(|(p, n)| (0..*n).all(|o| seen.contains(&(*p, o))))
    }

    fn duplicates(&self) -> Vec<(i32, i64)> {
        let mut seen = BTreeSet::new();
        self.consumed
            .iter()
            .filter(|(_, p, o)| !seen.insert((*p, *o)))
            .map(|(_, p, o)| (*p, *o))
            .collect()
    }

    fn active(&self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|m| self.members[*m] == State::Active)
            .collect()
    }

    /// Every partition owned by exactly one active member, the counts
    /// within one of each other, every active member in the generation
    /// it joined last, and nothing owned by a member that left.
    fn settled(&mut self) -> bool {
        let active = self.active();
        let n = active.len() as i32;
        let (lo, hi) = (PARTITIONS / n, (PARTITIONS + n - 1) / n);
        let mut all = BTreeSet::new();
        for &m in &active {
            let a = self.assignment(m);
            if (a.len() as i32) < lo || (a.len() as i32) > hi || !self.synced(m) {
                return false;
            }
            let before = all.len();
            all.extend(a.iter().copied());
            if all.len() != before + a.len() {
                return false;
            }
        }
        let left: Vec<usize> = (0..self.members.len())
            .filter(|m| self.members[*m] == State::Left)
            .collect();
        if !(all.len() as i32 == PARTITIONS
            && left.into_iter().all(|m| self.assignment(m).is_empty()))
        {
            return false;
        }
        // The members' views agree with the coordinator's: a member it
        // dropped (frozen past the session) may not know yet.
        let Some(coordinator) = self.coordinator() else {
            return false;
        };
        let mut ids = BTreeMap::new();
        for m in active {
            let Some(id) = self.member_id(m) else {
                return false;
            };
            // Under KIP-848 the coordinator knows what each member owns.
            let owned = if kip848(self.assignor) {
                self.assignment(m)
            } else {
                BTreeSet::new()
            };
            ids.insert(id, owned);
        }
        self.group_assignments(coordinator)
            .is_some_and(|(state, members)| state == "Stable" && members == ids)
    }

    fn synced(&mut self, m: usize) -> bool {
        if kip848(self.assignor) {
            // No join per epoch: `settled` asks the coordinator instead.
            return true;
        }
        let generation = self
            .sim
            .client_of(m)
            .consumer()
            .group_metadata()
            .map_or(-1, |g| g.generation_id);
        let last = self.sim.events_of(m).iter().rev().find_map(|e| match e {
            Event::Group(GroupEvent::Joined { generation_id, .. }) => Some(*generation_id),
            _ => None,
        });
        generation >= 0 && last == Some(generation)
    }

    /// Steps until the group is settled and has caught up; panics after
    /// `SETTLE` of simulated time.
    fn settle(&mut self, what: &str) {
        let deadline = self.sim.now + SETTLE;
        loop {
            if self.settled() && self.caught_up() {
                return;
            }
            if self.sim.now > deadline {
                let states = self.members.clone();
                let owned: Vec<_> = (0..self.members.len())
                    .map(|m| self.assignment(m))
                    .collect();
                panic!(
                    "seed {} ({}): {what}: not settled after {SETTLE:?}; states {states:?}, owned {owned:?}, caught up {}",
                    self.sim.seed,
                    self.assignor,
                    self.caught_up()
                );
            }
            let cap = self.sim.now + MS(200);
            self.step(cap);
        }
    }

    /// Client `m`'s consumer events since `from`.
    fn moves_since(&self, m: usize, from: usize) -> Vec<Event> {
        self.sim.events_of(m)[from.min(self.sim.events_of(m).len())..]
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::Consumer(
                        ConsumerEvent::PartitionsLost { .. }
                            | ConsumerEvent::PartitionsRevoking { .. }
                            | ConsumerEvent::PartitionsRevoked { .. }
                            | ConsumerEvent::PartitionsAssigned { .. }
                    ) | Event::Group(GroupEvent::Joined { .. })
                )
            })
            .cloned()
            .collect()
    }
}

/// The seeded group size: 2 to 6.
fn group_size(seed: u64) -> usize {
    let mut rng = SimRng::new(seed ^ 0x6a09_e667_f3bc_c908);
    2 + (rng.next_u64() % 5) as usize
}

#[test]
// The wall clock only reports the run time; the simulation never reads it.
#[allow(clippy::disallowed_methods)]
fn sim_group_chaos_every_assignor() {
    let started = std::time::Instant::now();
    let totals = std::cell::Cell::new((0u64, 0u64));
    let faults = std::cell::Cell::new([0u64; 9]);
    let outcomes = std::cell::Cell::new([0u64; 3]);
    for_each_seed(|seed| {
        for assignor in assignors(seed) {
            let n = group_size(seed);
            let statics = seed % 2 == 0;
            let mut w = World::new(seed, assignor, n, statics);
            w.produce(2);
            w.settle("first settle");
            w.chaos(false);
            w.produce(2);
            // Members that left come back, so all are counted below.
            for m in 0..n {
                if w.members[m] == State::Left {
                    w.subscribe(m);
                }
            }
            w.settle("after the faults");
            // A static member's bounce within the session timeout: the
            // others see no rebalance at all. First a session's quiet, so
            // that no member the faults left near the end of its session
            // (frozen, then cut off from the coordinator) expires during
            // the bounce.
            let first_static = w.instances.iter().next().map(|(m, id)| (*m, id.clone()));
            if let Some((m, id)) = first_static {
                let until = w.sim.now + SESSION + SECS(1);
                while w.sim.now < until {
                    w.step(until);
                }
                w.settle("before a static bounce");
                let marks: Vec<usize> = (0..n).map(|o| w.sim.events_of(o).len()).collect();
                let owned = w.assignment(m);
                if sim::tracing() {
                    eprintln!(
                        "{:?} static bounce of client {m}, owning {owned:?}",
                        w.sim.elapsed()
                    );
                }
                if kip848(assignor) {
                    // A static leave (epoch -2) first: the coordinator
                    // keeps the assignment for the instance id.
                    let now = w.sim.now;
                    w.members[m] = State::Left;
                    w.sim.client_of(m).close(now);
                    let until = w.sim.now + MS(200);
                    while w.sim.now < until {
                        w.step(until);
                    }
                }
                w.sim.crash(m);
                w.members[m] = State::Crashed(w.sim.now + SECS(3600));
                let until = w.sim.now + SECS(2);
                while w.sim.now < until {
                    w.step(until);
                }
                w.sim.restart(m, tweak(assignor, Some(id)));
                w.subscribe(m);
                w.produce(1);
                w.settle("after a static bounce");
                assert_eq!(w.assignment(m), owned, "seed {seed} ({assignor})");
                for o in (0..n).filter(|o| *o != m) {
                    let moves = w.moves_since(o, marks[o]);
                    assert!(
                        moves.is_empty(),
                        "seed {seed} ({assignor}): member {o} saw {moves:?} when static member {m} bounced"
                    );
                }
            }
            let (steps, checks) = totals.get();
            totals.set((steps + w.steps, checks + w.ownership_checks));
            let mut f = faults.get();
            for (a, b) in f.iter_mut().zip(w.faults) {
                *a += b;
            }
            faults.set(f);
            // What the faults did to the members, for the record.
            let mut o = outcomes.get();
            for m in 0..n {
                for e in w.sim.events_of(m) {
                    match e {
                        Event::Group(GroupEvent::Left { .. }) => o[0] += 1,
                        Event::Consumer(ConsumerEvent::PartitionsLost { .. }) => o[1] += 1,
                        Event::Group(GroupEvent::Joined { .. }) => o[2] += 1,
                        _ => {}
                    }
                }
            }
            outcomes.set(o);
        }
    });
    let (steps, checks) = totals.get();
    let [left, lost, joined] = outcomes.get();
    eprintln!(
        "group chaos: {steps} steps, {checks} ownership checks with the coordinator up, \
         faults (leave, comeback, hold, crash, stall, freeze, coordinator down, reset, reset) {:?}, \
         members left {left} times, lost partitions {lost} times, joined {joined} times, {:?}",
        faults.get(),
        started.elapsed()
    );
    assert!(checks > 0, "the ownership check never ran");
}

/// Only joins, clean leaves (from a settled group) and comebacks, with
/// answers held on single connections: with automatic commits before every
/// revoke, each record is handed out exactly once.
#[test]
fn sim_group_clean_leaves_hand_over_exactly_once() {
    for_each_seed(|seed| {
        for assignor in assignors(seed) {
            let n = group_size(seed);
            let mut w = World::new(seed, assignor, n, false);
            w.produce(2);
            w.settle("first settle");
            w.chaos(true);
            w.produce(2);
            w.settle("after the leaves");
            let dups = w.duplicates();
            assert!(
                dups.is_empty(),
                "seed {seed} ({assignor}): records handed out twice: {dups:?}"
            );
        }
    });
}
