//! Exactly once under chaos: a consume-transform-produce pipeline of one
//! to three instances, each a member of one consumer group reading the
//! input topic (read_committed) and a transactional producer copying
//! every record to the same partition of the output topic, committing the
//! input offsets with the transaction (`send_offsets` with the member's
//! `group_metadata`). Faults: brokers (so coordinators) going down and
//! up, dropped connections, instances crashing and restarting with the
//! same transactional id, and zombies: an instance frozen past its
//! session, replaced by a new one with its transactional id, then thawed
//! to run on.
//!
//! Checked once the faults stop and the pipeline drains: the committed
//! output (read from the log with its markers) holds every input record
//! exactly once and in order per partition, no transaction is left open,
//! and nothing a zombie sent after it thawed is visible (it is fenced: its
//! commit ends with a fatal error, or its records are aborted).
//!
//! Both transaction protocols, in turn by seed. Seeds: `KAFKA_SIM_SEEDS`
//! (default 20) or `KAFKA_SIM_SEED`.

mod sim;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_proto::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_proto::messages::ProduceRequest;
use kafka_proto::record::{encode, BatchOptions, Record};
use kafka_proto::ResponseBody;
use kafka_state::consumer::{AutoOffsetReset, IsolationLevel, SeekTo};
use kafka_state::group::{
    CooperativeStickyAssignor, GroupConfig, OffsetAndMetadata, RangeAssignor,
};
use kafka_state::{ConsumerEvent, Event, ProducerRecord, TopicPartition, TxnEvent, TxnOp};
use sim::{for_each_seed, Sim, SimRng};

const SECS: fn(u64) -> Duration = Duration::from_secs;
const MS: fn(u64) -> Duration = Duration::from_millis;
const INPUT: &str = "in";
const OUTPUT: &str = "out";
const GROUP: &str = "copiers";
const PARTITIONS: i32 = 4;
const BROKERS: i32 = 3;
const SESSION: Duration = Duration::from_secs(6);
const TXN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the faults go on.
const CHAOS: Duration = Duration::from_secs(20);
/// How long the pipeline may take to drain once they stop.
const DRAIN: Duration = Duration::from_secs(90);
/// The driver's pace.
const TICK: Duration = Duration::from_millis(20);

fn tweak(slot: usize, cooperative: bool) -> impl FnOnce(&mut kafka_state::Config) {
    move |c| {
        let g = GroupConfig::new(GROUP);
        let mut g = if cooperative {
            g.only_assignor(CooperativeStickyAssignor::default)
        } else {
            g.only_assignor(|| RangeAssignor)
        };
        g.session_timeout = SESSION;
        g.heartbeat_interval = SECS(1);
        g.rebalance_timeout = Some(SECS(10));
        g.max_poll_interval = SECS(10);
        g.enable_auto_commit = false;
        g.await_revoke = true;
        c.group = Some(g);
        c.consumer.auto_offset_reset = AutoOffsetReset::Earliest;
        c.consumer.isolation_level = IsolationLevel::ReadCommitted;
        c.consumer.fetch_max_wait = MS(100);
        c.producer.transactional_id = Some(format!("copier-{slot}"));
        c.producer.transaction_timeout = TXN_TIMEOUT;
        c.request_timeout = SECS(3);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for `init`.
    Init,
    /// No transaction open.
    Ready,
    /// A transaction is open and takes records.
    Open,
    /// A commit or an abort is under way.
    Ending,
    /// Failed for good; no longer driven.
    Dead,
}

/// One running instance of the pipeline.
#[derive(Debug)]
struct App {
    peer: usize,
    slot: usize,
    /// Key of the records it writes: a zombie's change when it thaws.
    label: String,
    /// Events of its client already handled.
    seen: usize,
    phase: Phase,
    /// Per input partition in the open transaction: where it started and
    /// the next offset.
    txn: BTreeMap<i32, (i64, i64)>,
    txn_records: usize,
    txn_started: Instant,
    /// A revoke waits for the open transaction to end.
    revoking: bool,
    /// Replaced by a newer instance with its transactional id.
    zombie: bool,
    /// Ended with a fatal transaction error.
    fatal: bool,
    /// Transactions it committed.
    commits: usize,
}

/// A fault that ends later.
#[derive(Debug, Clone, Copy)]
enum Restore {
    BrokerUp(i32),
    Restart { peer: usize, slot: usize },
    Thaw(usize),
}

struct World {
    sim: Sim,
    rng: SimRng,
    cooperative: bool,
    apps: Vec<App>,
    produced: BTreeMap<i32, i64>,
    restores: Vec<(Instant, Restore)>,
    zombies: usize,
    /// Crashes and zombies are among the faults (else only brokers and
    /// connections fail).
    replacing: bool,
    /// Apps that ended with a fatal error, by (slot, zombie).
    fatals: Vec<(usize, bool)>,
}

impl World {
    fn new(seed: u64, tv: i16, instances: usize, replacing: bool) -> Self {
        let mut sim = Sim::with_configs(
            seed,
            BROKERS,
            |c| c.transaction_version = tv,
            |c| c.request_timeout = SECS(3),
        );
        sim.cluster.create_topic(INPUT, PARTITIONS, 3).unwrap();
        sim.cluster.create_topic(OUTPUT, PARTITIONS, 3).unwrap();
        let mut w = Self {
            sim,
            rng: SimRng::new(seed ^ 0x7a5c_4a05_7a5c_4a05),
            cooperative: seed % 2 == 0,
            apps: Vec::new(),
            produced: BTreeMap::new(),
            restores: Vec::new(),
            zombies: 0,
            replacing,
            fatals: Vec::new(),
        };
        // Client 0 (the harness's own) stays idle: every instance is a
        // peer, so any of them can crash.
        for slot in 0..instances {
            let peer = w.sim.add_client(tweak(slot, w.cooperative));
            w.start(peer, slot);
        }
        w
    }

    fn below(&mut self, n: u64) -> u64 {
        self.rng.next_u64() % n.max(1)
    }

    /// Subscribes and initialises a new client as an instance.
    fn start(&mut self, peer: usize, slot: usize) {
        let now = self.sim.now;
        let c = self.sim.client_of(peer);
        c.consumer().subscribe(now, [INPUT]).unwrap();
        c.transactions().init(now).unwrap();
        self.apps.push(App {
            peer,
            slot,
            label: format!("s{slot}"),
            seen: 0,
            phase: Phase::Init,
            txn: BTreeMap::new(),
            txn_records: 0,
            txn_started: now,
            revoking: false,
            zombie: false,
            fatal: false,
            commits: 0,
        });
        self.sim.flush();
    }

    /// Writes `n` plain records to every partition of the input.
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
                    .with_name(INPUT.into())
                    .with_partition_data(vec![PartitionProduceData::default()
                        .with_index(p)
                        .with_records(Some(batch))])]);
            let leader = self.sim.cluster.partition_leader(INPUT, p).unwrap();
            if self.down(leader) {
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

    fn down(&self, broker: i32) -> bool {
        self.restores
            .iter()
            .any(|(_, r)| matches!(r, Restore::BrokerUp(b) if *b == broker))
    }

    fn driven(&self, a: usize) -> bool {
        let app = &self.apps[a];
        app.phase != Phase::Dead && !self.sim.is_frozen(app.peer)
    }

    /// Handles what happened to instance `a`, then lets it work.
    fn drive(&mut self, a: usize) {
        if !self.driven(a) {
            return;
        }
        let seed = self.sim.seed;
        let peer = self.apps[a].peer;
        let events: Vec<Event> = self.sim.events_of(peer)[self.apps[a].seen..].to_vec();
        self.apps[a].seen += events.len();
        for e in events {
            self.handle(a, e);
            if self.apps[a].phase == Phase::Dead {
                return;
            }
        }
        let now = self.sim.now;
        let app = &mut self.apps[a];
        let c = self.sim.client_of(peer);
        c.consumer().record_poll(now).unwrap();
        if app.phase == Phase::Ready && !app.revoking && !c.consumer().assignment().is_empty() {
            c.transactions().begin(now).unwrap();
            app.phase = Phase::Open;
            app.txn_started = now;
        }
        if app.phase == Phase::Open && !app.revoking {
            while let Some(fetched) = c.consumer().poll_records(now) {
                for r in fetched {
                    let r = r.expect("records decode");
                    let value = r.value.clone().unwrap_or_default();
                    let record = ProducerRecord::new(OUTPUT)
                        .with_partition(r.partition)
                        .with_key(app.label.clone())
                        .with_value(value);
                    if let Err(e) = c.producer().send(now, record) {
                        // The transaction failed meanwhile: its event says so.
                        assert!(
                            matches!(&e, kafka_state::SendError::Transaction { .. }),
                            "seed {seed}: {e:?}"
                        );
                        break;
                    }
                    let entry = app.txn.entry(r.partition).or_insert((r.offset, r.offset));
                    entry.1 = r.offset + 1;
                    app.txn_records += 1;
                }
            }
            let due =
                app.txn_records >= 12 || (app.txn_records > 0 && now >= app.txn_started + MS(300));
            if due {
                self.end(a, true);
            }
        }
        self.sim.flush();
    }

    /// Sends the offsets and commits, or aborts.
    fn end(&mut self, a: usize, commit: bool) {
        let now = self.sim.now;
        let app = &mut self.apps[a];
        let c = self.sim.client_of(app.peer);
        app.phase = Phase::Ending;
        if commit && !app.txn.is_empty() {
            let offsets = app.txn.iter().map(|(p, (_, next))| {
                (
                    TopicPartition::new(INPUT, *p),
                    OffsetAndMetadata::new(*next, None),
                )
            });
            let sent = match c.consumer().group_metadata() {
                Some(g) => c.transactions().send_offsets(now, offsets, &g).is_ok(),
                None => false,
            };
            if !sent {
                // Refused at once (the transaction already failed): abort.
                self.abort(a);
                return;
            }
        }
        let r = if commit {
            c.transactions().commit(now)
        } else {
            c.transactions().abort(now)
        };
        if let Err(e) = r {
            if e.is_abortable() {
                self.abort(a);
            } else {
                assert!(e.is_fatal(), "seed {}: {e:?}", self.sim.seed);
                self.die(a);
            }
        }
    }

    /// Aborts the open transaction; a fatal error met meanwhile (its event
    /// not handled yet) ends the instance.
    fn abort(&mut self, a: usize) {
        let now = self.sim.now;
        self.apps[a].phase = Phase::Ending;
        let peer = self.apps[a].peer;
        if let Err(e) = self.sim.client_of(peer).transactions().abort(now) {
            assert!(e.is_fatal(), "seed {}: {e:?}", self.sim.seed);
            self.die(a);
        }
    }

    fn die(&mut self, a: usize) {
        if self.apps[a].phase == Phase::Dead {
            return;
        }
        let app = &mut self.apps[a];
        app.phase = Phase::Dead;
        app.fatal = true;
        self.fatals.push((app.slot, app.zombie));
        let (peer, slot) = (app.peer, app.slot);
        // The instance is dropped; a new one takes its transactional id
        // unless one runs already (the zombie's replacement).
        self.sim.crash(peer);
        let taken = self
            .apps
            .iter()
            .any(|x| x.slot == slot && x.phase != Phase::Dead)
            || self
                .restores
                .iter()
                .any(|(_, r)| matches!(r, Restore::Restart { slot: s, .. } if *s == slot));
        if !taken {
            let at = self.sim.now + MS(500);
            self.restores.push((at, Restore::Restart { peer, slot }));
        }
    }

    fn handle(&mut self, a: usize, e: Event) {
        let now = self.sim.now;
        let seed = self.sim.seed;
        let peer = self.apps[a].peer;
        match e {
            Event::Transaction(t) => match t {
                TxnEvent::Initialized { .. } => self.apps[a].phase = Phase::Ready,
                TxnEvent::OffsetsSent { .. } => {}
                TxnEvent::Committed | TxnEvent::Aborted => {
                    let app = &mut self.apps[a];
                    let aborted = t == TxnEvent::Aborted;
                    app.commits += usize::from(!aborted);
                    let txn = std::mem::take(&mut app.txn);
                    app.txn_records = 0;
                    app.phase = Phase::Ready;
                    let revoking = std::mem::take(&mut app.revoking);
                    let c = self.sim.client_of(peer);
                    if aborted {
                        // Read again what the aborted transaction took.
                        let owned: BTreeSet<_> = c.consumer().assignment().into_iter().collect();
                        for (p, (start, _)) in txn {
                            let tp = TopicPartition::new(INPUT, p);
                            if owned.contains(&tp) {
                                c.consumer().seek(now, &tp, SeekTo::Offset(start)).unwrap();
                            }
                        }
                    }
                    if revoking {
                        c.consumer().revoke_done(now).unwrap();
                    }
                }
                TxnEvent::Failed { error, op } => {
                    if error.is_fatal() {
                        self.die(a);
                    } else if error.is_abortable() {
                        // A failed commit, or offsets refused while the
                        // transaction is open: abort. Offsets refused on
                        // the way to a commit or an abort change nothing
                        // (the commit's own event follows).
                        let phase = self.apps[a].phase;
                        if phase == Phase::Open || op == Some(TxnOp::Commit) {
                            self.abort(a);
                        }
                    } else {
                        panic!("seed {seed}: {error:?}");
                    }
                }
                other => panic!("seed {seed}: {other:?}"),
            },
            Event::Consumer(ConsumerEvent::PartitionsRevoking { .. }) => {
                let app = &mut self.apps[a];
                app.revoking = true;
                match app.phase {
                    Phase::Open => self.end(a, true),
                    Phase::Ending => {}
                    _ => {
                        app.revoking = false;
                        self.sim
                            .client_of(peer)
                            .consumer()
                            .revoke_done(now)
                            .unwrap();
                    }
                }
            }
            Event::Consumer(
                ConsumerEvent::PartitionsRevoked { partitions, .. }
                | ConsumerEvent::PartitionsLost { partitions },
            ) => {
                // Records of partitions no longer ours must not commit.
                let app = &mut self.apps[a];
                let touched = partitions
                    .iter()
                    .any(|tp| app.txn.contains_key(&tp.partition));
                if app.phase == Phase::Open && touched {
                    self.end(a, false);
                }
            }
            _ => {}
        }
    }

    /// Puts back what is due (all of it with `all`).
    fn restore_due(&mut self, all: bool) {
        let now = self.sim.now;
        let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.restores)
            .into_iter()
            .partition(|(at, _)| all || *at <= now);
        self.restores = rest;
        for (_, r) in due {
            match r {
                Restore::BrokerUp(b) => self.sim.set_broker_up(b, true),
                Restore::Restart { peer, slot } => {
                    let cooperative = self.cooperative;
                    self.sim.restart(peer, tweak(slot, cooperative));
                    self.start(peer, slot);
                }
                Restore::Thaw(peer) => {
                    self.sim.thaw(peer);
                    let zombie = self
                        .apps
                        .iter_mut()
                        .find(|x| x.peer == peer && x.zombie && x.phase != Phase::Dead);
                    if let Some(app) = zombie {
                        // What it sends from now on must never be visible.
                        app.label = format!("zombie-{peer}");
                    }
                }
            }
        }
    }

    /// Apps alive and not zombies.
    fn live(&self) -> Vec<usize> {
        (0..self.apps.len())
            .filter(|a| self.apps[*a].phase != Phase::Dead && !self.apps[*a].zombie)
            .collect()
    }

    fn fault(&mut self) {
        match self.below(10) {
            // A broker (maybe a coordinator) goes down for a while.
            0 | 1 => {
                if self
                    .restores
                    .iter()
                    .any(|(_, r)| matches!(r, Restore::BrokerUp(_)))
                {
                    return;
                }
                let b = self.below(BROKERS as u64) as i32;
                self.sim.set_broker_up(b, false);
                let at = self.sim.now + MS(300 + self.below(4_000));
                self.restores.push((at, Restore::BrokerUp(b)));
            }
            // A connection of an instance drops.
            2..=4 => {
                let live = self.live();
                if live.is_empty() {
                    return;
                }
                let a = live[self.below(live.len() as u64) as usize];
                let peer = self.apps[a].peer;
                let conns = self.sim.conns_of(peer);
                if !conns.is_empty() {
                    let c = conns[self.below(conns.len() as u64) as usize];
                    self.sim.drop_peer_connection(peer, c);
                }
            }
            // An instance crashes and comes back with its transactional id.
            5 if self.replacing => {
                let live: Vec<usize> = self
                    .live()
                    .into_iter()
                    .filter(|a| !self.sim.is_frozen(self.apps[*a].peer))
                    .collect();
                if live.is_empty() {
                    return;
                }
                let a = live[self.below(live.len() as u64) as usize];
                let (peer, slot) = (self.apps[a].peer, self.apps[a].slot);
                self.apps[a].phase = Phase::Dead;
                self.sim.crash(peer);
                let at = self.sim.now + MS(self.below(3_000));
                self.restores.push((at, Restore::Restart { peer, slot }));
            }
            // An instance freezes past its session; a replacement takes its
            // transactional id; the old one thaws later and runs on.
            6 if self.replacing && self.zombies == 0 => {
                // Only an instance that has its epoch: one still waiting
                // for it would be the newest instance once it thaws.
                let live: Vec<usize> = self
                    .live()
                    .into_iter()
                    .filter(|a| {
                        !self.sim.is_frozen(self.apps[*a].peer)
                            && self.apps[*a].phase != Phase::Init
                    })
                    .collect();
                if live.is_empty() {
                    return;
                }
                let a = live[self.below(live.len() as u64) as usize];
                let (peer, slot) = (self.apps[a].peer, self.apps[a].slot);
                self.zombies += 1;
                self.sim.freeze(peer);
                self.apps[a].zombie = true;
                let cooperative = self.cooperative;
                let new = self.sim.add_client(tweak(slot, cooperative));
                self.start(new, slot);
                let at = self.sim.now + SESSION + MS(1_000 + self.below(8_000));
                self.restores.push((at, Restore::Thaw(peer)));
            }
            _ => {}
        }
    }

    fn tick(&mut self) {
        let until = self.sim.now + TICK;
        self.sim.run_exactly(until - self.sim.now);
        for a in 0..self.apps.len() {
            self.drive(a);
        }
    }

    /// The committed output per partition as (key, value), and the values
    /// of transactions still open.
    fn committed(&self) -> (Vec<Vec<(Bytes, Bytes)>>, usize) {
        let mut out = Vec::new();
        let mut open_left = 0;
        for p in 0..PARTITIONS {
            let (seen, open, plain) = sim::committed_records(&self.sim.cluster, OUTPUT, p);
            assert_eq!(
                plain, 0,
                "seed {}: a record outside a transaction",
                self.sim.seed
            );
            out.push(seen);
            open_left += open.len();
        }
        (out, open_left)
    }

    fn drained(&self) -> bool {
        let (out, open) = self.committed();
        open == 0
            && (0..PARTITIONS).all(|p| {
                out[p as usize].len() as i64 >= self.produced.get(&p).copied().unwrap_or(0)
            })
    }

    fn run(&mut self, chaos: Duration) {
        let seed = self.sim.seed;
        let start = self.sim.now;
        let mut next_fault = start + SECS(2);
        let mut next_produce = start;
        while self.sim.now < start + chaos {
            if self.sim.now >= next_produce {
                self.produce(8);
                next_produce = self.sim.now + MS(1_500);
            }
            if self.sim.now >= next_fault {
                self.fault();
                next_fault = self.sim.now + MS(300 + self.below(1_200));
            }
            self.restore_due(false);
            self.tick();
        }
        // The faults stop: everything comes back, and the input is complete.
        self.restore_due(true);
        while self.produced.len() < PARTITIONS as usize || self.produced.values().any(|n| *n < 8) {
            self.produce(8);
            self.tick();
        }
        self.drain();
        // A zombie still running learns it was fenced once it has records
        // to copy again: more input, and run until it has failed.
        if self.apps.iter().any(|a| a.zombie && a.phase != Phase::Dead) {
            let deadline = self.sim.now + DRAIN;
            while self.apps.iter().any(|a| a.zombie && a.phase != Phase::Dead) {
                assert!(
                    self.sim.now < deadline,
                    "seed {seed}: a zombie was never fenced: {:?}",
                    self.apps
                );
                if self.drained() {
                    self.produce(4);
                }
                self.tick();
            }
            self.drain();
        }
    }

    /// Runs until the output holds every input record and no transaction
    /// is open.
    fn drain(&mut self) {
        let seed = self.sim.seed;
        let deadline = self.sim.now + DRAIN;
        while !self.drained() {
            assert!(
                self.sim.now < deadline,
                "seed {seed}: the pipeline did not drain: produced {:?}, committed {:?}, apps {:?}",
                self.produced,
                self.committed().0.iter().map(Vec::len).collect::<Vec<_>>(),
                self.apps
                    .iter()
                    .map(|a| (a.peer, a.slot, a.phase, a.zombie, a.txn_records))
                    .collect::<Vec<_>>()
            );
            self.restore_due(false);
            self.tick();
        }
    }

    fn check(&self, tv: i16) {
        let seed = self.sim.seed;
        let (out, open) = self.committed();
        assert_eq!(open, 0, "seed {seed} tv {tv}: transactions left open");
        for p in 0..PARTITIONS {
            let want: Vec<Bytes> = (0..self.produced[&p])
                .map(|i| Bytes::from(format!("{p}-{i}")))
                .collect();
            let got: Vec<Bytes> = out[p as usize].iter().map(|(_, v)| v.clone()).collect();
            assert_eq!(
                got, want,
                "seed {seed} tv {tv}: partition {p} is not every input record once, in order"
            );
            let leaked: Vec<_> = out[p as usize]
                .iter()
                .filter(|(k, _)| k.starts_with(b"zombie"))
                .collect();
            assert!(
                leaked.is_empty(),
                "seed {seed} tv {tv}: a fenced zombie's records are visible: {leaked:?}"
            );
        }
        if !self.replacing {
            // One producer per transactional id at any time: nothing can
            // fence it, so no fatal error may be reported.
            assert!(
                self.fatals.is_empty(),
                "seed {seed} tv {tv}: fatal errors without a rival: {:?}",
                self.fatals
            );
        }
    }
}

#[test]
fn sim_txn_pipeline_copies_exactly_once_under_chaos() {
    for_each_seed(|seed| {
        let tv = if seed % 2 == 0 { 2 } else { 0 };
        let instances = 1 + (seed / 2 % 3) as usize;
        let mut w = World::new(seed, tv, instances, true);
        w.run(CHAOS);
        w.check(tv);
    });
}

/// With one instance and faults that fence nobody (brokers and
/// coordinators moving, connections dropping) for a long run, no fatal
/// error is ever reported: fencing needs a rival.
#[test]
fn sim_txn_single_instance_is_never_fenced_by_faults() {
    for_each_seed(|seed| {
        for tv in [0, 2] {
            let mut w = World::new(seed, tv, 1, false);
            w.run(SECS(45));
            w.check(tv);
        }
    });
}
