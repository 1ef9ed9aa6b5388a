//! Deterministic simulation: a [`Client`] and a [`kafka_mock::Cluster`]
//! (the same model the mock server runs) joined by a fake network with a
//! virtual clock and seeded latency, in the spirit of quinn-proto's `Pair`
//! and str0m's netem.
//!
//! [`Sim::step`] delivers what is due in both directions and jumps the
//! clock to the next wake-up: the earliest of the client's and cluster's
//! `poll_timeout` and the next in-flight delivery. Faults are knobs:
//! latency and jitter, dropped connections, brokers down and up, and,
//! through the public `cluster` field, leader moves and injected errors.
//!
//! Several clients can share the cluster ([`Sim::add_client`]): client 0
//! is the `client` field, the others are peers, each with its own
//! connections and events; a peer can crash (its sockets reset, nothing
//! said) and be replaced.
//!
//! Seeds: [`for_each_seed`] runs `KAFKA_SIM_SEEDS` seeds (default 20), or
//! only `KAFKA_SIM_SEED` if set; a failing seed prints itself. With
//! `KAFKA_SIM_TRACE` set, the group and partition events of every client
//! go to stderr with their virtual time, to read a failing seed's story.
#![allow(dead_code)] // each test file uses a different part of the harness

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_mock::{Cluster, ClusterConfig, Output};
use kafka_proto::frame::{decode_response_frame, encode_request_frame, split_frame};
use kafka_proto::messages::RequestHeader;
use kafka_proto::{ApiKey, RequestBody, ResponseBody};
use kafka_state::{BrokerAddr, Client, Config, ConnId, ConnRequest, Event};

/// Broker `n` listens on `BASE_PORT + n`.
pub const BASE_PORT: u16 = 9092;
const MAX_FRAME: usize = 64 << 20;

/// SplitMix64, for the network's choices (separate from the client's).
#[derive(Debug, Clone)]
pub struct SimRng(u64);

impl SimRng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..=max`.
    pub fn duration(&mut self, max: Duration) -> Duration {
        let nanos = max.as_nanos() as u64;
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.next_u64() % (nanos + 1))
    }
}

#[derive(Debug)]
enum Delivery {
    /// Request bytes reach the cluster.
    ToCluster(Bytes),
    /// Response bytes reach the client.
    ToClient(Bytes),
    /// The client's connection attempt completes (or is refused).
    Connect { port: u16 },
    /// The cluster closed the connection; the client sees EOF.
    Closed,
    /// The client closed the connection after what it wrote before:
    /// the cluster reads that, then sees EOF.
    ClientClosed,
}

#[derive(Debug)]
struct Pending {
    at: Instant,
    seq: u64,
    /// Which client (0 is `Sim::client`).
    peer: usize,
    conn: ConnId,
    what: Delivery,
}

/// A client besides `Sim::client`.
pub struct Peer {
    pub client: Client,
    /// Every event it reported, in order.
    pub events: Vec<Event>,
    /// False once crashed: it is no longer driven.
    pub alive: bool,
}

/// The mock's connection id for a client's connection: client 0 keeps its
/// own numbers, peers get theirs shifted apart.
fn mock_of(peer: usize, conn: ConnId) -> kafka_mock::ConnId {
    kafka_mock::ConnId(((peer as u64) << 40) | conn.0)
}

fn from_mock(conn: kafka_mock::ConnId) -> (usize, ConnId) {
    ((conn.0 >> 40) as usize, ConnId(conn.0 & ((1 << 40) - 1)))
}

/// One simulated TCP connection.
#[derive(Debug, Default)]
struct Link {
    /// What the client wrote that is not a whole frame yet (a Produce
    /// request comes in pieces), to count requests when they are whole.
    written: BytesMut,
    to_cluster: BytesMut,
    to_client: BytesMut,
    /// Latest scheduled delivery per direction, so bytes stay in order.
    last_up: Option<Instant>,
    last_down: Option<Instant>,
    /// Requests sent minus responses received.
    outstanding: usize,
    /// Nothing reaches the client on this link before this instant
    /// ([`Sim::hold_responses`]).
    hold_until: Option<Instant>,
    /// The client closed it: nothing more reaches the client.
    closed_by_client: bool,
}

/// The client, the cluster and the network between them.
pub struct Sim {
    pub client: Client,
    pub cluster: Cluster,
    pub now: Instant,
    pub start: Instant,
    pub seed: u64,
    pub rng: SimRng,
    /// Base one-way latency.
    pub latency: Duration,
    /// Extra latency, uniform in `0..=jitter`, per message.
    pub jitter: Duration,
    pending: Vec<Pending>,
    seq: u64,
    links: BTreeMap<(usize, ConnId), Link>,
    /// Clients 1.. (see [`Sim::add_client`]).
    pub peers: Vec<Peer>,
    /// The configuration client 0 was built with, for peers.
    config: Config,
    down: BTreeSet<i32>,
    /// Peers not driven for now ([`Sim::freeze`]).
    frozen: BTreeSet<usize>,
    /// Every event the client reported, in order.
    pub events: Vec<Event>,
    /// Most requests ever outstanding on each connection.
    pub max_outstanding: BTreeMap<ConnId, usize>,
    /// Every `ConnRequest::Open`: when, which connection, which port.
    pub opens: Vec<(Instant, ConnId, u16)>,
    /// Every request frame the client wrote: when, on which connection,
    /// which API.
    pub sent: Vec<(Instant, ConnId, ApiKey)>,
}

/// The instant simulations start at; the one clock read in the harness.
#[allow(clippy::disallowed_methods)]
pub fn epoch() -> Instant {
    Instant::now()
}

pub fn mock(c: ConnId) -> kafka_mock::ConnId {
    kafka_mock::ConnId(c.0)
}

impl Sim {
    /// `brokers` brokers, all in the bootstrap list, seeded latency.
    pub fn new(seed: u64, brokers: i32) -> Self {
        Self::with_config(seed, brokers, |_| {})
    }

    /// Like [`Sim::new`], with a chance to change the client's config.
    pub fn with_config(seed: u64, brokers: i32, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::with_configs(seed, brokers, |_| {}, tweak)
    }

    /// Like [`Sim::with_config`], with a chance to change the cluster's
    /// config too.
    pub fn with_configs(
        seed: u64,
        brokers: i32,
        cluster: impl FnOnce(&mut ClusterConfig),
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        let start = epoch();
        let mut cc = ClusterConfig::default();
        cc.brokers = brokers;
        cc.auto_create_topics = false;
        cluster(&mut cc);
        let mut cluster = Cluster::new(cc, start);
        for b in 0..brokers {
            cluster.set_broker_port(b, BASE_PORT + b as u16);
        }
        let bootstrap = (0..brokers).map(|b| BrokerAddr::new("127.0.0.1", BASE_PORT + b as u16));
        let mut config = Config::new(bootstrap);
        config.seed = seed;
        tweak(&mut config);
        let client = Client::new(config.clone(), start).expect("valid config");
        let mut rng = SimRng(seed ^ 0x5eed_5eed_5eed_5eed);
        let latency = Duration::from_micros(500 + rng.next_u64() % 4_500);
        let jitter = Duration::from_micros(rng.next_u64() % 3_000);
        Self {
            client,
            cluster,
            now: start,
            start,
            seed,
            rng,
            latency,
            jitter,
            pending: Vec::new(),
            seq: 0,
            links: BTreeMap::new(),
            peers: Vec::new(),
            config,
            down: BTreeSet::new(),
            frozen: BTreeSet::new(),
            events: Vec::new(),
            max_outstanding: BTreeMap::new(),
            opens: Vec::new(),
            sent: Vec::new(),
        }
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    fn delay(&mut self) -> Duration {
        let jitter = self.jitter;
        self.latency + self.rng.duration(jitter)
    }

    fn schedule(&mut self, peer: usize, conn: ConnId, what: Delivery) {
        let mut at = self.now + self.delay();
        // Keep each direction of a link in order, like TCP.
        if let Some(link) = self.links.get_mut(&(peer, conn)) {
            let up = matches!(what, Delivery::ToCluster(_) | Delivery::ClientClosed);
            let last = if up {
                &mut link.last_up
            } else {
                &mut link.last_down
            };
            if let Some(l) = *last {
                at = at.max(l);
            }
            if !up {
                if let Some(h) = link.hold_until {
                    at = at.max(h);
                }
            }
            *last = Some(at);
        }
        self.seq += 1;
        self.pending.push(Pending {
            at,
            seq: self.seq,
            peer,
            conn,
            what,
        });
    }

    /// Client `peer` (0 is `Sim::client`).
    pub fn client_of(&mut self, peer: usize) -> &mut Client {
        match peer {
            0 => &mut self.client,
            n => &mut self.peers[n - 1].client,
        }
    }

    /// The events client `peer` reported.
    pub fn events_of(&self, peer: usize) -> &[Event] {
        match peer {
            0 => &self.events,
            n => &self.peers[n - 1].events,
        }
    }

    fn alive(&self, peer: usize) -> bool {
        peer == 0 || self.peers.get(peer - 1).is_some_and(|p| p.alive)
    }

    /// Alive and not frozen: the clients time and the network reach.
    fn driven(&self, peer: usize) -> bool {
        self.alive(peer) && !self.frozen.contains(&peer)
    }

    /// Client `peer` stops being driven (a long GC pause, a stopped
    /// process): no timeouts fire and nothing reaches it until
    /// [`Sim::thaw`]; what it already sent still travels. Its sockets
    /// stay open.
    pub fn freeze(&mut self, peer: usize) {
        assert!(self.alive(peer), "only a live client freezes");
        self.frozen.insert(peer);
    }

    /// Client `peer` runs again: what reached its sockets meanwhile is
    /// delivered, in order, and its overdue timers fire.
    pub fn thaw(&mut self, peer: usize) {
        self.frozen.remove(&peer);
    }

    pub fn is_frozen(&self, peer: usize) -> bool {
        self.frozen.contains(&peer)
    }

    /// Delays what the cluster sends on one of client `peer`'s
    /// connections (answers, a close) until `until`, while its other
    /// connections and other clients go on: answers then arrive in an
    /// order across connections that latency alone would not give.
    pub fn hold_responses(&mut self, peer: usize, conn: ConnId, until: Instant) {
        let Some(link) = self.links.get_mut(&(peer, conn)) else {
            return;
        };
        link.hold_until = Some(link.hold_until.map_or(until, |h| h.max(until)));
        link.last_down = Some(link.last_down.map_or(until, |l| l.max(until)));
        for p in &mut self.pending {
            let up = matches!(p.what, Delivery::ToCluster(_) | Delivery::ClientClosed);
            if p.peer == peer && p.conn == conn && !up {
                p.at = p.at.max(until);
            }
        }
    }

    /// The connections client `peer` has open (or opening).
    pub fn conns_of(&self, peer: usize) -> Vec<ConnId> {
        self.links
            .iter()
            .filter(|((p, _), l)| *p == peer && !l.closed_by_client)
            .map(|((_, c), _)| *c)
            .collect()
    }

    /// Resets one of client `peer`'s connections from the network's
    /// side: both ends see it close.
    pub fn drop_peer_connection(&mut self, peer: usize, conn: ConnId) {
        if self.links.contains_key(&(peer, conn)) {
            self.forget(peer, conn);
            if self.driven(peer) {
                let now = self.now;
                self.client_of(peer).handle_closed(now, conn);
            } else {
                // A frozen client sees the reset once it runs again.
                self.schedule(peer, conn, Delivery::Closed);
                self.links.entry((peer, conn)).or_default();
            }
        }
    }

    /// Every client that is still driven, by index.
    pub fn live_clients(&self) -> Vec<usize> {
        (0..=self.peers.len()).filter(|p| self.alive(*p)).collect()
    }

    /// Adds a client with client 0's configuration changed by `tweak`
    /// (its seed differs); returns its index.
    pub fn add_client(&mut self, tweak: impl FnOnce(&mut Config)) -> usize {
        let mut config = self.config.clone();
        config.seed = self
            .seed
            .wrapping_mul(31)
            .wrapping_add(self.peers.len() as u64 + 1);
        config.client_id = None;
        tweak(&mut config);
        let client = Client::new(config, self.now).expect("valid config");
        self.peers.push(Peer {
            client,
            events: Vec::new(),
            alive: true,
        });
        self.peers.len()
    }

    /// Client `peer` (not 0) dies: its connections reset under the
    /// cluster, it sends nothing more and is no longer driven.
    pub fn crash(&mut self, peer: usize) {
        assert!(peer > 0, "client 0 cannot crash");
        self.peers[peer - 1].alive = false;
        self.frozen.remove(&peer);
        let conns: Vec<ConnId> = self
            .links
            .keys()
            .filter(|(p, _)| *p == peer)
            .map(|(_, c)| *c)
            .collect();
        for conn in conns {
            self.links.remove(&(peer, conn));
            self.cluster.handle_closed(self.now, mock_of(peer, conn));
        }
        self.pending.retain(|p| p.peer != peer);
    }

    /// Replaces crashed client `peer` with a new one built from client
    /// 0's configuration changed by `tweak`.
    pub fn restart(&mut self, peer: usize, tweak: impl FnOnce(&mut Config)) {
        assert!(
            peer > 0 && !self.alive(peer),
            "only a crashed peer restarts"
        );
        let mut config = self.config.clone();
        config.seed = self.seed.wrapping_mul(37).wrapping_add(peer as u64 + 1000);
        config.client_id = None;
        tweak(&mut config);
        self.peers[peer - 1] = Peer {
            client: Client::new(config, self.now).expect("valid config"),
            events: Vec::new(),
            alive: true,
        };
    }

    /// Collects the outputs of every live client.
    fn drain_clients(&mut self) {
        for peer in self.live_clients() {
            if self.driven(peer) {
                self.drain_client(peer);
            }
        }
    }

    /// Collects a client's outputs: transmit → conn → events.
    fn drain_client(&mut self, peer: usize) {
        while let Some(t) = self.client_of(peer).poll_transmit() {
            let whole = match self.links.get_mut(&(peer, t.conn)) {
                Some(link) => {
                    link.written.extend_from_slice(&t.bytes);
                    let whole = link.written.len() - frames_pending(&link.written);
                    link.written.split_to(whole).freeze()
                }
                None => t.bytes.clone(),
            };
            let frames = count_frames(&whole);
            if peer == 0 {
                for api in frame_apis(&whole) {
                    if tracing() {
                        eprintln!(
                            "{:?} client 0 sends {api:?} on {:?}",
                            self.elapsed(),
                            t.conn
                        );
                    }
                    self.sent.push((self.now, t.conn, api));
                }
            }
            if let Some(link) = self.links.get_mut(&(peer, t.conn)) {
                link.outstanding += frames;
                if peer == 0 {
                    let max = self.max_outstanding.entry(t.conn).or_default();
                    *max = (*max).max(link.outstanding);
                }
            }
            self.schedule(peer, t.conn, Delivery::ToCluster(t.bytes));
        }
        while let Some(req) = self.client_of(peer).poll_conn() {
            match req {
                ConnRequest::Open { conn, port, .. } => {
                    if peer == 0 {
                        self.opens.push((self.now, conn, port));
                    }
                    self.links.insert((peer, conn), Link::default());
                    self.schedule(peer, conn, Delivery::Connect { port });
                }
                ConnRequest::Close { conn } => self.close_from_client(peer, conn),
                other => panic!("unexpected {other:?}"),
            }
        }
        while let Some(e) = self.client_of(peer).poll_event() {
            if tracing() && matches!(e, Event::Group(_) | Event::Consumer(_)) {
                eprintln!("{:?} client {peer}: {e:?}", self.elapsed());
            }
            match peer {
                0 => self.events.push(e),
                n => self.peers[n - 1].events.push(e),
            }
        }
    }

    /// An orderly close by the client: what it wrote before still
    /// reaches the cluster (as TCP delivers data before the FIN); nothing
    /// reaches the client any more.
    fn close_from_client(&mut self, peer: usize, conn: ConnId) {
        let Some(link) = self.links.get_mut(&(peer, conn)) else {
            return;
        };
        link.closed_by_client = true;
        self.pending.retain(|p| {
            !(p.peer == peer && p.conn == conn && !matches!(p.what, Delivery::ToCluster(_)))
        });
        self.schedule(peer, conn, Delivery::ClientClosed);
    }

    fn forget(&mut self, peer: usize, conn: ConnId) {
        self.links.remove(&(peer, conn));
        self.pending.retain(|p| !(p.peer == peer && p.conn == conn));
        self.cluster.handle_closed(self.now, mock_of(peer, conn));
    }

    fn drain_cluster(&mut self) {
        while let Some(out) = self.cluster.poll_output() {
            match out {
                Output::Send { conn, bytes } => {
                    let (peer, conn) = from_mock(conn);
                    self.schedule(peer, conn, Delivery::ToClient(bytes))
                }
                Output::Close { conn, .. } => {
                    let (peer, conn) = from_mock(conn);
                    self.schedule(peer, conn, Delivery::Closed)
                }
                _ => {}
            }
        }
    }

    /// Delivers what is due and jumps to the next wake-up. Returns false
    /// if nothing is scheduled at all.
    pub fn step(&mut self) -> bool {
        self.step_capped(None)
    }

    /// Like [`Sim::step`], but the clock stops at `cap` if nothing is due
    /// before it (so callers can interleave commands at a steady pace).
    pub fn step_until(&mut self, cap: Instant) -> bool {
        self.step_capped(Some(cap))
    }

    fn step_capped(&mut self, cap: Option<Instant>) -> bool {
        self.drain_clients();
        self.drain_cluster();
        let driven: Vec<usize> = self
            .live_clients()
            .into_iter()
            .filter(|p| !self.frozen.contains(p))
            .collect();
        let clients = driven
            .into_iter()
            .filter_map(|p| self.client_of(p).poll_timeout())
            .min();
        let next = [
            self.pending
                .iter()
                .filter(|p| self.deliverable(p))
                .map(|p| p.at)
                .min(),
            clients,
            self.cluster.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        let next = match (next, cap) {
            (Some(n), Some(c)) => Some(n.min(c)),
            (n, c) => n.or(c),
        };
        let Some(next) = next else {
            return false;
        };
        self.now = self.now.max(next);
        let now = self.now;
        while let Some(i) = self
            .pending
            .iter()
            .enumerate()
            .filter(|(_, p)| p.at <= now && self.deliverable(p))
            .min_by_key(|(_, p)| (p.at, p.seq))
            .map(|(i, _)| i)
        {
            let p = self.pending.remove(i);
            let peer = p.peer;
            self.deliver(p);
            if self.driven(peer) {
                self.drain_client(peer);
            }
            self.drain_cluster();
        }
        if self.cluster.poll_timeout().is_some_and(|t| t <= now) {
            self.cluster.handle_timeout(now);
        }
        for peer in self.live_clients() {
            if self.frozen.contains(&peer) {
                continue;
            }
            let client = self.client_of(peer);
            if client.poll_timeout().is_some_and(|t| t <= now) {
                client.handle_timeout(now);
            }
        }
        self.drain_clients();
        self.drain_cluster();
        true
    }

    /// Whether `p` may be delivered now: nothing reaches a frozen client.
    fn deliverable(&self, p: &Pending) -> bool {
        matches!(p.what, Delivery::ToCluster(_) | Delivery::ClientClosed)
            || !self.frozen.contains(&p.peer)
    }

    fn deliver(&mut self, p: Pending) {
        let now = self.now;
        let (peer, key) = (p.peer, (p.peer, p.conn));
        match p.what {
            Delivery::Connect { port } => {
                let broker = self
                    .cluster
                    .broker_ids()
                    .into_iter()
                    .find(|b| self.cluster.broker_port(*b) == Some(port));
                match broker {
                    Some(b) if !self.down.contains(&b) => {
                        self.cluster.handle_connected(now, mock_of(peer, p.conn), b);
                        self.client_of(peer).handle_connected(now, p.conn);
                    }
                    _ => {
                        self.links.remove(&key);
                        self.client_of(peer).handle_connect_failed(
                            now,
                            p.conn,
                            "connection refused",
                        );
                    }
                }
            }
            Delivery::ToCluster(bytes) => {
                let Some(link) = self.links.get_mut(&key) else {
                    return;
                };
                link.to_cluster.extend_from_slice(&bytes);
                let mut frames = Vec::new();
                while let Ok(Some(f)) = split_frame(&mut link.to_cluster, MAX_FRAME) {
                    frames.push(f);
                }
                for f in frames {
                    self.cluster.handle_frame(now, mock_of(peer, p.conn), f);
                }
            }
            Delivery::ToClient(bytes) => {
                let Some(link) = self.links.get_mut(&key).filter(|l| !l.closed_by_client) else {
                    return;
                };
                link.outstanding = link.outstanding.saturating_sub(count_frames(&bytes));
                link.to_client.extend_from_slice(&bytes);
                let mut buf = std::mem::take(&mut link.to_client);
                self.client_of(peer).handle_recv(now, p.conn, &mut buf);
                if let Some(link) = self.links.get_mut(&key) {
                    link.to_client = buf;
                }
            }
            Delivery::Closed => {
                if let Some(link) = self.links.remove(&key) {
                    if !link.closed_by_client {
                        self.client_of(peer).handle_closed(now, p.conn);
                    }
                }
            }
            Delivery::ClientClosed => {
                if self.links.remove(&key).is_some() {
                    self.cluster.handle_closed(now, mock_of(peer, p.conn));
                }
            }
        }
    }

    /// Steps for exactly `d` of virtual time: the clock ends at now + `d`
    /// even when nothing is scheduled that early.
    pub fn run_exactly(&mut self, d: Duration) {
        let until = self.now + d;
        while self.now < until {
            self.step_capped(Some(until));
        }
    }

    /// Steps until `done` holds; panics (naming the seed) if it does not
    /// within `limit` of virtual time.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Sim) -> bool) {
        let deadline = self.now + limit;
        for _ in 0..1_000_000 {
            if done(self) {
                return;
            }
            if self.now > deadline || !self.step() {
                break;
            }
        }
        if done(self) {
            return;
        }
        panic!(
            "seed {}: condition not met after {:?} of virtual time; last events: {:?}",
            self.seed,
            self.elapsed(),
            self.events.iter().rev().take(8).collect::<Vec<_>>()
        );
    }

    /// Steps for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        while self.now < until {
            if !self.step() {
                break;
            }
        }
    }

    /// Steps until the first event matching `f` (among those not yet
    /// taken) and returns what `f` extracted; earlier events are kept.
    pub fn wait_for<T>(&mut self, limit: Duration, mut f: impl FnMut(&Event) -> Option<T>) -> T {
        let mut found = None;
        let mut seen = 0;
        self.run_until(limit, |s| {
            for e in &s.events[seen..] {
                if let Some(t) = f(e) {
                    found = Some(t);
                    return true;
                }
            }
            seen = s.events.len();
            false
        });
        found.expect("run_until returned")
    }

    /// Steps until the client's metadata cache satisfies `f`.
    pub fn wait_metadata(
        &mut self,
        limit: Duration,
        f: impl Fn(&kafka_state::ClusterMetadata) -> bool,
    ) {
        self.run_until(limit, |s| f(s.client.cluster()));
    }

    /// Resets a connection from the network's side: both ends see it close.
    pub fn drop_connection(&mut self, conn: ConnId) {
        if self.links.contains_key(&(0, conn)) {
            self.forget(0, conn);
            self.client.handle_closed(self.now, conn);
        }
    }

    /// Connections currently open between client 0 and cluster.
    pub fn open_conns(&self) -> Vec<ConnId> {
        self.links
            .keys()
            .filter(|(p, _)| *p == 0)
            .map(|(_, c)| *c)
            .collect()
    }

    /// Takes a broker down (its connections close, new ones are refused)
    /// or brings it back.
    pub fn set_broker_up(&mut self, broker: i32, up: bool) {
        if up {
            self.down.remove(&broker);
        } else {
            self.down.insert(broker);
        }
        self.cluster
            .set_broker_up(broker, up)
            .expect("known broker");
    }

    /// The broker a client connection goes to.
    pub fn broker_of(&self, conn: ConnId) -> Option<i32> {
        self.opens
            .iter()
            .find(|(_, c, _)| *c == conn)
            .map(|(_, _, port)| i32::from(*port - BASE_PORT))
    }

    /// Sends `body` (in `version`) to `broker` on a connection of its own
    /// that the client never sees, and returns the answer. Tests use it
    /// to write data (Produce, transactions) straight into the cluster.
    /// Other connections' output produced meanwhile is scheduled as usual.
    pub fn side_call(&mut self, broker: i32, version: i16, body: RequestBody) -> ResponseBody {
        self.seq += 1;
        let conn = kafka_mock::ConnId((1 << 48) + self.seq);
        let key = body.api_key();
        let header = RequestHeader::default()
            .with_request_api_key(key.id())
            .with_request_api_version(version)
            .with_correlation_id(1)
            .with_client_id(Some("sim-side".into()));
        let mut buf = BytesMut::new();
        encode_request_frame(&header, &body, &mut buf).expect("side request encodes");
        self.cluster.handle_connected(self.now, conn, broker);
        self.cluster
            .handle_frame(self.now, conn, buf.freeze().slice(4..));
        let mut answer = None;
        while let Some(out) = self.cluster.poll_output() {
            match out {
                Output::Send { conn: c, bytes } if c == conn => {
                    let (_, body) = decode_response_frame(bytes.slice(4..), key, version)
                        .expect("side response decodes");
                    answer = Some(body);
                }
                Output::Send { conn, bytes } => {
                    let (peer, conn) = from_mock(conn);
                    self.schedule(peer, conn, Delivery::ToClient(bytes))
                }
                Output::Close { conn: c, .. } if c == conn => {}
                Output::Close { conn, .. } => {
                    let (peer, conn) = from_mock(conn);
                    self.schedule(peer, conn, Delivery::Closed)
                }
                _ => {}
            }
        }
        self.cluster.handle_closed(self.now, conn);
        answer.unwrap_or_else(|| panic!("seed {}: no answer to side {key}", self.seed))
    }

    /// Drains the client's outputs now (after a command issued directly).
    pub fn flush(&mut self) {
        self.drain_clients();
        self.drain_cluster();
    }
}

/// The API keys of the request frames in `bytes`.
fn frame_apis(bytes: &Bytes) -> Vec<ApiKey> {
    let mut b = BytesMut::from(&bytes[..]);
    let mut out = Vec::new();
    while let Ok(Some(f)) = split_frame(&mut b, MAX_FRAME) {
        if let Some(api) = f
            .get(..2)
            .and_then(|k| ApiKey::try_from(i16::from_be_bytes([k[0], k[1]])).ok())
        {
            out.push(api);
        }
    }
    out
}

/// Bytes at the end of `written` that are not a whole frame yet.
fn frames_pending(written: &[u8]) -> usize {
    let mut at = 0;
    while let Some(size) = written.get(at..at + 4) {
        let len = 4 + i32::from_be_bytes([size[0], size[1], size[2], size[3]]) as usize;
        if written.len() - at < len {
            break;
        }
        at += len;
    }
    written.len() - at
}

fn count_frames(bytes: &Bytes) -> usize {
    let mut b = BytesMut::from(&bytes[..]);
    let mut n = 0;
    while let Ok(Some(_)) = split_frame(&mut b, MAX_FRAME) {
        n += 1;
    }
    n
}

/// Prints the seed if the test panics while it is alive.
struct SeedGuard(u64);

impl Drop for SeedGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "simulation failed with seed {0}; rerun just it with KAFKA_SIM_SEED={0}",
                self.0
            );
        }
    }
}

/// Whether `KAFKA_SIM_TRACE` asks for the events on stderr.
pub fn tracing() -> bool {
    std::env::var_os("KAFKA_SIM_TRACE").is_some()
}

/// Runs `f` for each seed: `KAFKA_SIM_SEED` alone if set, else
/// `0..KAFKA_SIM_SEEDS` (default 20).
pub fn for_each_seed(f: impl Fn(u64)) {
    let seeds: Vec<u64> = match std::env::var("KAFKA_SIM_SEED") {
        Ok(s) => vec![s.parse().expect("KAFKA_SIM_SEED is a number")],
        Err(_) => {
            let n = std::env::var("KAFKA_SIM_SEEDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(20u64);
            (0..n).collect()
        }
    };
    for seed in seeds {
        let _guard = SeedGuard(seed);
        f(seed);
    }
}

/// Records as (key, value).
pub type KeyValues = Vec<(Bytes, Bytes)>;

/// What a read_committed reader of a partition of the mock's log would
/// see, as (key, value) in offset order, and the records of transactions
/// still open (which would hold every such reader back), and how many
/// records were written outside transactions (counted as committed).
pub fn committed_records(
    cluster: &Cluster,
    topic: &str,
    partition: i32,
) -> (KeyValues, KeyValues, usize) {
    use kafka_proto::record::{Batches, ControlRecord};
    let mut out = Vec::new();
    let mut plain = 0;
    let mut open: BTreeMap<i64, Vec<(Bytes, Bytes)>> = BTreeMap::new();
    for bytes in cluster.partition_batches(topic, partition).unwrap() {
        for batch in Batches::new(bytes) {
            let batch = batch.unwrap();
            let h = *batch.header();
            let records = batch.records().unwrap().map(|r| r.unwrap());
            if h.is_control() {
                for r in records {
                    match ControlRecord::from_record(&r).unwrap() {
                        ControlRecord::Commit(_) => {
                            out.extend(open.remove(&h.producer_id).unwrap_or_default())
                        }
                        ControlRecord::Abort(_) => {
                            open.remove(&h.producer_id);
                        }
                        _ => {}
                    }
                }
                continue;
            }
            let kv = records.map(|r| (r.key.unwrap_or_default(), r.value.unwrap_or_default()));
            if h.is_transactional() {
                open.entry(h.producer_id).or_default().extend(kv);
            } else {
                let before = out.len();
                out.extend(kv);
                plain += out.len() - before;
            }
        }
    }
    (out, open.into_values().flatten().collect(), plain)
}
