//! Classic consumer groups: the group coordinator driven through `Cluster`
//! with a fake clock (join/sync, rebalances, session and rebalance
//! timeouts, static membership, offsets, group administration), plus one
//! full cycle over TCP with `MockCluster`.

mod support;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_mock::{Cluster, ClusterConfig, ConnId, MockCluster, Output};
use kafka_proto::frame::{decode_response_frame, encode_request_frame};
use kafka_proto::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_proto::messages::leave_group_request::MemberIdentity;
use kafka_proto::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_proto::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_proto::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_proto::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_proto::messages::*;
use kafka_proto::{ApiKey, ErrorCode, Message, RequestBody, ResponseBody};
use support::TcpClient;

const SESSION_MS: i32 = 10_000;
const REBALANCE_MS: i32 = 20_000;

/// A cluster, a fake clock and decoded responses per connection.
struct Sim {
    c: Cluster,
    now: Instant,
    next_conn: u64,
    correlation: i32,
    sent: HashMap<ConnId, VecDeque<(ApiKey, i16)>>,
    got: HashMap<ConnId, VecDeque<ResponseBody>>,
    closed: Vec<(ConnId, String)>,
}

impl Sim {
    fn new(brokers: i32) -> Self {
        let mut cfg = ClusterConfig::default();
        cfg.brokers = brokers;
        let now = Instant::now();
        let mut c = Cluster::new(cfg, now);
        for b in 0..brokers {
            c.set_broker_port(b, 9092 + b as u16);
        }
        Self {
            c,
            now,
            next_conn: 0,
            correlation: 0,
            sent: HashMap::new(),
            got: HashMap::new(),
            closed: Vec::new(),
        }
    }

    fn connect(&mut self, broker: i32) -> ConnId {
        self.next_conn += 1;
        let id = ConnId(self.next_conn);
        self.c.handle_connected(self.now, id, broker);
        id
    }

    fn send(&mut self, conn: ConnId, version: i16, body: impl Into<RequestBody>) {
        let body = body.into();
        let key = body.api_key();
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key.id())
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some("test-client".into()));
        let mut buf = BytesMut::new();
        encode_request_frame(&header, &body, &mut buf).unwrap();
        let frame = buf.freeze().slice(4..);
        self.sent.entry(conn).or_default().push_back((key, version));
        self.c.handle_frame(self.now, conn, frame);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(out) = self.c.poll_output() {
            match out {
                Output::Send { conn, bytes } => {
                    let mut bytes = bytes;
                    while bytes.len() >= 4 {
                        let n = i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                        let frame = bytes.slice(4..4 + n as usize);
                        bytes = bytes.slice(4 + n as usize..);
                        let (key, version) = self.sent.get_mut(&conn).unwrap().pop_front().unwrap();
                        let (_, body) = decode_response_frame(frame, key, version).unwrap();
                        self.got.entry(conn).or_default().push_back(body);
                    }
                }
                Output::Close { conn, reason } => self.closed.push((conn, reason)),
                _ => {}
            }
        }
        assert!(
            self.closed.is_empty(),
            "connection closed: {:?}",
            self.closed
        );
    }

    fn recv(&mut self, conn: ConnId) -> Option<ResponseBody> {
        self.got.get_mut(&conn).and_then(|q| q.pop_front())
    }

    fn call(&mut self, conn: ConnId, version: i16, body: impl Into<RequestBody>) -> ResponseBody {
        self.send(conn, version, body);
        self.recv(conn).expect("an immediate answer")
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.c.handle_timeout(self.now);
        self.drain();
    }

    fn state(&self, group: &str) -> Option<String> {
        self.c
            .group_states()
            .into_iter()
            .find(|(g, _)| g == group)
            .map(|(_, s)| s)
    }
}

fn subscription(topics: &[&str]) -> Bytes {
    let s = ConsumerProtocolSubscription::default()
        .with_topics(topics.iter().map(|t| t.to_string()).collect());
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&0i16.to_be_bytes());
    s.encode(&mut buf, 0).unwrap();
    buf.freeze()
}

fn join_req(v: i16, group: &str, member: &str, instance: Option<&str>) -> JoinGroupRequest {
    let mut r = JoinGroupRequest::default()
        .with_group_id(group.into())
        .with_session_timeout_ms(SESSION_MS)
        .with_member_id(member.into())
        .with_protocol_type("consumer".into())
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name("range".into())
                .with_metadata(subscription(&["t"])),
            JoinGroupRequestProtocol::default()
                .with_name("roundrobin".into())
                .with_metadata(subscription(&["t"])),
        ]);
    if v >= 1 {
        r.rebalance_timeout_ms = REBALANCE_MS;
    }
    if v >= 5 {
        r.group_instance_id = instance.map(String::from);
    }
    r
}

fn join_resp(b: ResponseBody) -> JoinGroupResponse {
    match b {
        ResponseBody::JoinGroup(r) => r,
        other => panic!("not a JoinGroup response: {other:?}"),
    }
}

fn sync_req(
    v: i16,
    group: &str,
    member: &str,
    generation: i32,
    assignments: &[(&str, &str)],
) -> SyncGroupRequest {
    let mut r = SyncGroupRequest::default()
        .with_group_id(group.into())
        .with_member_id(member.into())
        .with_generation_id(generation)
        .with_assignments(
            assignments
                .iter()
                .map(|(m, a)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(m.to_string())
                        .with_assignment(Bytes::copy_from_slice(a.as_bytes()))
                })
                .collect(),
        );
    if v >= 5 {
        r.protocol_type = Some("consumer".into());
        r.protocol_name = Some("range".into());
    }
    r
}

fn sync_resp(b: ResponseBody) -> SyncGroupResponse {
    match b {
        ResponseBody::SyncGroup(r) => r,
        other => panic!("not a SyncGroup response: {other:?}"),
    }
}

fn heartbeat(sim: &mut Sim, conn: ConnId, group: &str, member: &str, generation: i32) -> ErrorCode {
    let req = HeartbeatRequest::default()
        .with_group_id(group.into())
        .with_member_id(member.into())
        .with_generation_id(generation);
    match sim.call(conn, 4, req) {
        ResponseBody::Heartbeat(r) => ErrorCode::from(r.error_code),
        other => panic!("{other:?}"),
    }
}

/// Joins a new dynamic member with JoinGroup v9: MEMBER_ID_REQUIRED, then
/// the rejoin (which may park). Returns the member id.
fn join_new(sim: &mut Sim, conn: ConnId, group: &str) -> String {
    let r = join_resp(sim.call(conn, 9, join_req(9, group, "", None)));
    assert_eq!(r.error_code, ErrorCode::MemberIdRequired.code());
    assert!(r.member_id.starts_with("test-client-"), "{}", r.member_id);
    let id = r.member_id;
    sim.send(conn, 9, join_req(9, group, &id, None));
    id
}

/// Two dynamic members A (leader) and B in a Stable group at generation 2,
/// A assigned "pa" and B "pb".
fn stable_pair(sim: &mut Sim, group: &str) -> (ConnId, String, ConnId, String) {
    let ca = sim.connect(0);
    let cb = sim.connect(0);
    let a = join_new(sim, ca, group);
    // Alone in a new group: the join completes at once (no initial delay).
    let ja = join_resp(sim.recv(ca).expect("first member joins at once"));
    assert_eq!((ja.error_code, ja.generation_id), (0, 1));
    assert_eq!(ja.leader, a);
    assert_eq!(ja.members.len(), 1);
    let sa = sync_resp(sim.call(ca, 5, sync_req(5, group, &a, 1, &[(&a, "solo")])));
    assert_eq!(sa.error_code, 0);
    assert_eq!(&sa.assignment[..], b"solo");
    assert_eq!(sim.state(group).as_deref(), Some("Stable"));

    let b = join_new(sim, cb, group);
    assert!(sim.recv(cb).is_none(), "B waits for A to rejoin");
    assert_eq!(sim.state(group).as_deref(), Some("PreparingRebalance"));
    assert_eq!(
        heartbeat(sim, ca, group, &a, 1),
        ErrorCode::RebalanceInProgress
    );
    sim.send(ca, 9, join_req(9, group, &a, None));
    let ja = join_resp(sim.recv(ca).expect("A's rejoin completes the rebalance"));
    let jb = join_resp(sim.recv(cb).expect("B is answered too"));
    assert_eq!((ja.error_code, jb.error_code), (0, 0));
    assert_eq!((ja.generation_id, jb.generation_id), (2, 2));
    assert_eq!(ja.leader, a);
    assert_eq!(jb.leader, a);
    assert_eq!(ja.protocol_name.as_deref(), Some("range"));
    let mut ids: Vec<&str> = ja.members.iter().map(|m| m.member_id.as_str()).collect();
    ids.sort();
    let mut want = vec![a.as_str(), b.as_str()];
    want.sort();
    assert_eq!(ids, want, "the leader gets every member");
    assert!(ja
        .members
        .iter()
        .all(|m| m.metadata == subscription(&["t"])));
    assert!(jb.members.is_empty(), "followers get no member list");
    assert_eq!(sim.state(group).as_deref(), Some("CompletingRebalance"));

    sim.send(cb, 5, sync_req(5, group, &b, 2, &[]));
    assert!(sim.recv(cb).is_none(), "a follower waits for the leader");
    let sa = sync_resp(sim.call(ca, 5, sync_req(5, group, &a, 2, &[(&a, "pa"), (&b, "pb")])));
    let sb = sync_resp(sim.recv(cb).expect("the leader's SyncGroup answers B"));
    assert_eq!((sa.error_code, sb.error_code), (0, 0));
    assert_eq!(&sa.assignment[..], b"pa");
    assert_eq!(&sb.assignment[..], b"pb");
    assert_eq!(sb.protocol_name.as_deref(), Some("range"));
    assert_eq!(sim.state(group).as_deref(), Some("Stable"));
    (ca, a, cb, b)
}

#[test]
fn two_members_join_and_sync() {
    let mut sim = Sim::new(1);
    let (ca, a, cb, b) = stable_pair(&mut sim, "g");
    assert_eq!(heartbeat(&mut sim, ca, "g", &a, 2), ErrorCode::None);
    assert_eq!(heartbeat(&mut sim, cb, "g", &b, 2), ErrorCode::None);
    assert_eq!(
        heartbeat(&mut sim, cb, "g", &b, 1),
        ErrorCode::IllegalGeneration
    );
    assert_eq!(
        heartbeat(&mut sim, cb, "g", "nobody", 2),
        ErrorCode::UnknownMemberId
    );
    // A follower rejoining with the same metadata in Stable gets the
    // current generation back without a rebalance.
    let j = join_resp(sim.call(cb, 9, join_req(9, "g", &b, None)));
    assert_eq!((j.error_code, j.generation_id), (0, 2));
    assert_eq!(sim.state("g").as_deref(), Some("Stable"));
    // A late SyncGroup in Stable returns the member's assignment.
    let s = sync_resp(sim.call(cb, 5, sync_req(5, "g", &b, 2, &[])));
    assert_eq!(&s.assignment[..], b"pb");
}

#[test]
fn inconsistent_protocol_is_rejected() {
    let mut sim = Sim::new(1);
    let (ca, _a, _cb, _b) = stable_pair(&mut sim, "g");
    let mut req = join_req(9, "g", "", None);
    req.protocol_type = "connect".into();
    let r = join_resp(sim.call(ca, 9, req));
    assert_eq!(r.error_code, ErrorCode::InconsistentGroupProtocol.code());
    let mut req = join_req(9, "g", "", None);
    req.protocols = vec![JoinGroupRequestProtocol::default()
        .with_name("sticky".into())
        .with_metadata(subscription(&["t"]))];
    let r = join_resp(sim.call(ca, 9, req));
    assert_eq!(r.error_code, ErrorCode::InconsistentGroupProtocol.code());
}

#[test]
fn member_leaving_triggers_rebalance() {
    let mut sim = Sim::new(1);
    let (ca, a, cb, b) = stable_pair(&mut sim, "g");
    let leave = LeaveGroupRequest::default()
        .with_group_id("g".into())
        .with_members(vec![MemberIdentity::default().with_member_id(b.clone())]);
    match sim.call(cb, 5, leave) {
        ResponseBody::LeaveGroup(r) => {
            assert_eq!(r.error_code, 0);
            assert_eq!(r.members.len(), 1);
            assert_eq!(r.members[0].error_code, 0);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sim.state("g").as_deref(), Some("PreparingRebalance"));
    assert_eq!(
        heartbeat(&mut sim, ca, "g", &a, 2),
        ErrorCode::RebalanceInProgress
    );
    sim.send(ca, 9, join_req(9, "g", &a, None));
    let j = join_resp(sim.recv(ca).expect("the last member rejoined"));
    assert_eq!((j.error_code, j.generation_id), (0, 3));
    assert_eq!(j.members.len(), 1);
    // v0-2 LeaveGroup: one member, error at the top.
    let leave = LeaveGroupRequest::default()
        .with_group_id("g".into())
        .with_member_id(b.clone());
    match sim.call(cb, 1, leave) {
        ResponseBody::LeaveGroup(r) => assert_eq!(r.error_code, ErrorCode::UnknownMemberId.code()),
        other => panic!("{other:?}"),
    }
    let s = sync_resp(sim.call(ca, 5, sync_req(5, "g", &a, 3, &[(&a, "all")])));
    assert_eq!(&s.assignment[..], b"all");
    // The last member leaving empties the group and bumps the generation.
    let leave = LeaveGroupRequest::default()
        .with_group_id("g".into())
        .with_member_id(a.clone());
    match sim.call(ca, 2, leave) {
        ResponseBody::LeaveGroup(r) => assert_eq!(r.error_code, 0),
        other => panic!("{other:?}"),
    }
    assert_eq!(sim.state("g").as_deref(), Some("Empty"));
}

#[test]
fn silent_member_expires_after_session_timeout() {
    let mut sim = Sim::new(1);
    let (ca, a, _cb, b) = stable_pair(&mut sim, "g");
    let deadline = sim.c.poll_timeout().expect("session timers are armed");
    assert!(deadline <= sim.now + Duration::from_millis(SESSION_MS as u64));
    sim.advance(Duration::from_secs(6));
    assert_eq!(heartbeat(&mut sim, ca, "g", &a, 2), ErrorCode::None);
    assert_eq!(sim.state("g").as_deref(), Some("Stable"));
    sim.advance(Duration::from_secs(5));
    // B has been silent for 11 s > 10 s: gone, and the group rebalances.
    assert_eq!(sim.state("g").as_deref(), Some("PreparingRebalance"));
    assert_eq!(
        heartbeat(&mut sim, ca, "g", &a, 2),
        ErrorCode::RebalanceInProgress
    );
    sim.send(ca, 9, join_req(9, "g", &a, None));
    let j = join_resp(sim.recv(ca).expect("only A is left"));
    assert_eq!((j.error_code, j.generation_id), (0, 3));
    assert_eq!(j.members.len(), 1);
    assert_eq!(j.members[0].member_id, a);
    let _ = b;
}

#[test]
fn rebalance_completes_without_members_that_do_not_rejoin() {
    let mut sim = Sim::new(1);
    let (ca, a, cb, b) = stable_pair(&mut sim, "g");
    // The leader rejoins (a rebalance), B keeps heartbeating but never
    // rejoins: after the rebalance timeout the join completes without it.
    sim.send(ca, 9, join_req(9, "g", &a, None));
    assert!(sim.recv(ca).is_none());
    for _ in 0..4 {
        sim.advance(Duration::from_secs(4));
        assert_eq!(
            heartbeat(&mut sim, cb, "g", &b, 2),
            ErrorCode::RebalanceInProgress
        );
        assert!(sim.recv(ca).is_none());
    }
    sim.advance(Duration::from_secs(5));
    let j = join_resp(
        sim.recv(ca)
            .expect("the rebalance timeout completes the join"),
    );
    assert_eq!((j.error_code, j.generation_id), (0, 3));
    assert_eq!(j.members.len(), 1);
    assert_eq!(
        heartbeat(&mut sim, cb, "g", &b, 2),
        ErrorCode::UnknownMemberId
    );
}

#[test]
fn member_that_never_syncs_is_removed() {
    let mut sim = Sim::new(1);
    let ca = sim.connect(0);
    let cb = sim.connect(0);
    let a = join_new(&mut sim, ca, "g");
    let _ = sim.recv(ca).unwrap();
    let b = join_new(&mut sim, cb, "g");
    // A is still in CompletingRebalance of generation 1 (never synced):
    // B's join makes it rebalance, A rejoins.
    sim.send(ca, 9, join_req(9, "g", &a, None));
    let _ = join_resp(sim.recv(ca).unwrap());
    let _ = join_resp(sim.recv(cb).unwrap());
    // Only A syncs; B heartbeats but never sends SyncGroup.
    sim.send(ca, 5, sync_req(5, "g", &a, 2, &[(&a, "x"), (&b, "y")]));
    assert!(sim.recv(ca).is_some());
    for _ in 0..3 {
        sim.advance(Duration::from_secs(5));
        assert_eq!(heartbeat(&mut sim, ca, "g", &a, 2), ErrorCode::None);
        assert_eq!(heartbeat(&mut sim, cb, "g", &b, 2), ErrorCode::None);
    }
    assert_eq!(sim.state("g").as_deref(), Some("Stable"));
    sim.advance(Duration::from_secs(6));
    // The pending-sync timer (rebalance timeout) dropped B.
    assert_eq!(sim.state("g").as_deref(), Some("PreparingRebalance"));
    assert_eq!(
        heartbeat(&mut sim, ca, "g", &a, 2),
        ErrorCode::RebalanceInProgress
    );
    assert_eq!(
        heartbeat(&mut sim, cb, "g", &b, 2),
        ErrorCode::UnknownMemberId
    );
}

#[test]
fn static_member_rejoins_without_rebalance() {
    let mut sim = Sim::new(1);
    let ca = sim.connect(0);
    let cb = sim.connect(0);
    // Static members skip MEMBER_ID_REQUIRED.
    let ja = join_resp(sim.call(ca, 5, join_req(5, "g", "", Some("ia"))));
    assert_eq!((ja.error_code, ja.generation_id), (0, 1));
    let a = ja.member_id.clone();
    assert!(a.starts_with("ia-"), "{a}");
    sim.send(cb, 5, join_req(5, "g", "", Some("ib")));
    assert!(sim.recv(cb).is_none());
    sim.send(ca, 5, join_req(5, "g", &a, Some("ia")));
    let ja = join_resp(sim.recv(ca).unwrap());
    let jb = join_resp(sim.recv(cb).unwrap());
    assert_eq!((ja.generation_id, jb.generation_id), (2, 2));
    assert_eq!(ja.members.len(), 2);
    assert!(ja
        .members
        .iter()
        .any(|m| m.group_instance_id.as_deref() == Some("ib")));
    let b = jb.member_id.clone();
    sim.send(cb, 3, {
        let mut r = sync_req(3, "g", &b, 2, &[]);
        r.group_instance_id = Some("ib".into());
        r
    });
    let mut s = sync_req(3, "g", &a, 2, &[(&a, "pa"), (&b, "pb")]);
    s.group_instance_id = Some("ia".into());
    let _ = sim.call(ca, 3, s);
    assert_eq!(&sync_resp(sim.recv(cb).unwrap()).assignment[..], b"pb");

    // B restarts: same instance id, no member id, same protocols.
    let cb2 = sim.connect(0);
    let j = join_resp(sim.call(cb2, 5, join_req(5, "g", "", Some("ib"))));
    assert_eq!(j.error_code, 0);
    assert_eq!(j.generation_id, 2, "no new generation");
    assert_ne!(j.member_id, b);
    assert_eq!(j.leader, a);
    assert!(j.members.is_empty());
    assert_eq!(sim.state("g").as_deref(), Some("Stable"));
    let b2 = j.member_id;
    let mut s = sync_req(3, "g", &b2, 2, &[]);
    s.group_instance_id = Some("ib".into());
    let s = sync_resp(sim.call(cb2, 3, s));
    assert_eq!(&s.assignment[..], b"pb", "the old assignment is kept");
    // The old incarnation is fenced.
    let hb = HeartbeatRequest::default()
        .with_group_id("g".into())
        .with_member_id(b.clone())
        .with_generation_id(2)
        .with_group_instance_id(Some("ib".into()));
    match sim.call(cb, 3, hb) {
        ResponseBody::Heartbeat(r) => assert_eq!(r.error_code, ErrorCode::FencedInstanceId.code()),
        other => panic!("{other:?}"),
    }
    assert_eq!(heartbeat(&mut sim, ca, "g", &a, 2), ErrorCode::None);

    // The static leader rejoining with v9 learns it leads but must skip
    // the assignment.
    let ca2 = sim.connect(0);
    let j = join_resp(sim.call(ca2, 9, join_req(9, "g", "", Some("ia"))));
    assert_eq!((j.error_code, j.generation_id), (0, 2));
    assert_eq!(j.leader, j.member_id);
    assert!(j.skip_assignment);
    assert_eq!(j.members.len(), 2);
    assert_eq!(sim.state("g").as_deref(), Some("Stable"));
}

#[test]
fn member_id_required_flow() {
    let mut sim = Sim::new(1);
    let c = sim.connect(0);
    let r = join_resp(sim.call(c, 4, join_req(4, "g", "", None)));
    assert_eq!(r.error_code, ErrorCode::MemberIdRequired.code());
    assert_eq!(r.generation_id, -1);
    assert!(!r.member_id.is_empty());
    assert_eq!(sim.state("g").as_deref(), Some("Empty"));
    // An unknown member id is refused.
    let bad = join_resp(sim.call(c, 4, join_req(4, "g", "someone-else", None)));
    assert_eq!(bad.error_code, ErrorCode::UnknownMemberId.code());
    let ok = join_resp(sim.call(c, 4, join_req(4, "g", &r.member_id, None)));
    assert_eq!(ok.error_code, 0);
    assert_eq!(ok.member_id, r.member_id);
    assert_eq!(ok.leader, r.member_id);
    // v3 and older hand out a member id and join in one go.
    let old = join_resp(sim.call(c, 3, join_req(3, "h", "", None)));
    assert_eq!((old.error_code, old.generation_id), (0, 1));
    assert!(old.member_id.starts_with("test-client-"));
    // A pending member id that is never used expires with the session.
    let p = join_resp(sim.call(c, 9, join_req(9, "k", "", None)));
    assert_eq!(p.error_code, ErrorCode::MemberIdRequired.code());
    sim.advance(Duration::from_millis(SESSION_MS as u64 + 1));
    let late = join_resp(sim.call(c, 9, join_req(9, "k", &p.member_id, None)));
    assert_eq!(late.error_code, ErrorCode::UnknownMemberId.code());
}

#[test]
fn invalid_session_timeout_and_group_id() {
    let mut sim = Sim::new(1);
    let c = sim.connect(0);
    let mut req = join_req(9, "g", "", None);
    req.session_timeout_ms = 1000;
    let r = join_resp(sim.call(c, 9, req.clone()));
    assert_eq!(r.error_code, ErrorCode::InvalidSessionTimeout.code());
    sim.c.set_group_session_timeout_bounds(500, 60_000);
    let r = join_resp(sim.call(c, 9, req));
    assert_eq!(r.error_code, ErrorCode::MemberIdRequired.code());
    let r = join_resp(sim.call(c, 9, join_req(9, "", "", None)));
    assert_eq!(r.error_code, ErrorCode::InvalidGroupId.code());
}

#[test]
fn requests_to_other_brokers_get_not_coordinator() {
    let mut sim = Sim::new(3);
    let c0 = sim.connect(0);
    let coordinator = match sim.call(
        c0,
        3,
        FindCoordinatorRequest::default().with_key("g".into()),
    ) {
        ResponseBody::FindCoordinator(r) => r.node_id,
        other => panic!("{other:?}"),
    };
    let other = (coordinator + 1) % 3;
    let c = sim.connect(other);
    let r = join_resp(sim.call(c, 9, join_req(9, "g", "", None)));
    assert_eq!(r.error_code, ErrorCode::NotCoordinator.code());
    assert_eq!(
        heartbeat(&mut sim, c, "g", "m", 1),
        ErrorCode::NotCoordinator
    );
    let f = OffsetFetchRequest::default()
        .with_group_id("g".into())
        .with_topics(None);
    match sim.call(c, 7, f) {
        ResponseBody::OffsetFetch(r) => assert_eq!(r.error_code, ErrorCode::NotCoordinator.code()),
        other => panic!("{other:?}"),
    }
    // The coordinator itself accepts it.
    let cc = sim.connect(coordinator);
    let r = join_resp(sim.call(cc, 9, join_req(9, "g", "", None)));
    assert_eq!(r.error_code, ErrorCode::MemberIdRequired.code());
    // Moving the coordinator answers a parked JoinGroup with NOT_COORDINATOR.
    sim.send(cc, 9, join_req(9, "g", &r.member_id, None));
    let j = join_resp(sim.recv(cc).unwrap());
    assert_eq!(j.error_code, 0);
    sim.c.move_coordinator(0, "g", other).unwrap();
    let r = join_resp(sim.call(cc, 9, join_req(9, "g", &j.member_id, None)));
    assert_eq!(r.error_code, ErrorCode::NotCoordinator.code());
}

#[test]
fn find_coordinator_v3_and_v4() {
    let mut sim = Sim::new(3);
    let c = sim.connect(1);
    let single = |sim: &mut Sim, key: &str, key_type: i8| match sim.call(
        c,
        3,
        FindCoordinatorRequest::default()
            .with_key(key.into())
            .with_key_type(key_type),
    ) {
        ResponseBody::FindCoordinator(r) => r,
        other => panic!("{other:?}"),
    };
    let g = single(&mut sim, "group-a", 0);
    assert_eq!(g.error_code, 0);
    assert!((0..3).contains(&g.node_id));
    assert_eq!(g.host, "127.0.0.1");
    assert_eq!(g.port, 9092 + g.node_id);
    let t = single(&mut sim, "txn-a", 1);
    assert_eq!(t.error_code, 0);
    let bad = single(&mut sim, "x", 7);
    assert_eq!(bad.error_code, ErrorCode::InvalidRequest.code());

    let batched = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(vec!["group-a".into(), "group-b".into()]);
    match sim.call(c, 4, batched) {
        ResponseBody::FindCoordinator(r) => {
            assert_eq!(r.coordinators.len(), 2);
            assert_eq!(r.coordinators[0].key, "group-a");
            assert_eq!(r.coordinators[0].node_id, g.node_id);
            assert_eq!(r.coordinators[0].port, g.port);
            assert_eq!(r.coordinators[1].key, "group-b");
            assert_eq!(r.coordinators[1].error_code, 0);
        }
        other => panic!("{other:?}"),
    }
    let target = (g.node_id + 1) % 3;
    sim.c.move_coordinator(0, "group-a", target).unwrap();
    assert_eq!(single(&mut sim, "group-a", 0).node_id, target);
    // Fault injection answers with the injected error.
    sim.c.inject_error(kafka_mock::ErrorInjection::new(
        ApiKey::FindCoordinator,
        ErrorCode::CoordinatorNotAvailable,
        1,
    ));
    let e = single(&mut sim, "group-a", 0);
    assert_eq!(e.error_code, ErrorCode::CoordinatorNotAvailable.code());
}

fn commit(
    sim: &mut Sim,
    c: ConnId,
    v: i16,
    group: &str,
    member: &str,
    generation: i32,
    parts: &[(&str, i32, i64)],
) -> Vec<(String, i32, i16)> {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (t, p, o) in parts {
        let part = OffsetCommitRequestPartition::default()
            .with_partition_index(*p)
            .with_committed_offset(*o)
            .with_committed_metadata(Some(format!("m{o}")));
        match topics.iter_mut().find(|x| x.name == *t) {
            Some(x) => x.partitions.push(part),
            None => topics.push(
                OffsetCommitRequestTopic::default()
                    .with_name(t.to_string())
                    .with_partitions(vec![part]),
            ),
        }
    }
    let req = OffsetCommitRequest::default()
        .with_group_id(group.into())
        .with_member_id(member.into())
        .with_generation_id_or_member_epoch(generation)
        .with_topics(topics);
    match sim.call(c, v, req) {
        ResponseBody::OffsetCommit(r) => r
            .topics
            .into_iter()
            .flat_map(|t| {
                let name = t.name.clone();
                t.partitions
                    .into_iter()
                    .map(move |p| (name.clone(), p.partition_index, p.error_code))
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

fn fetch_v7(
    sim: &mut Sim,
    c: ConnId,
    group: &str,
    topics: Option<&[(&str, &[i32])]>,
) -> Vec<(String, i32, i64)> {
    let req = OffsetFetchRequest::default()
        .with_group_id(group.into())
        .with_topics(topics.map(|ts| {
            ts.iter()
                .map(|(t, ps)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(t.to_string())
                        .with_partition_indexes(ps.to_vec())
                })
                .collect()
        }));
    match sim.call(c, 7, req) {
        ResponseBody::OffsetFetch(r) => {
            assert_eq!(r.error_code, 0);
            r.topics
                .into_iter()
                .flat_map(|t| {
                    let name = t.name.clone();
                    t.partitions.into_iter().map(move |p| {
                        assert_eq!(p.error_code, 0);
                        (name.clone(), p.partition_index, p.committed_offset)
                    })
                })
                .collect()
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn offsets_commit_fetch_delete() {
    let mut sim = Sim::new(1);
    sim.c.create_topic("t", 2, 1).unwrap();
    sim.c.create_topic("u", 1, 1).unwrap();
    let c = sim.connect(0);
    // A group only used for offsets (generation -1, no member).
    let r = commit(
        &mut sim,
        c,
        8,
        "simple",
        "",
        -1,
        &[
            ("t", 0, 10),
            ("t", 1, 11),
            ("u", 0, 5),
            ("nope", 0, 1),
            ("t", 9, 1),
        ],
    );
    assert_eq!(
        r,
        vec![
            ("t".into(), 0, 0),
            ("t".into(), 1, 0),
            ("t".into(), 9, ErrorCode::UnknownTopicOrPartition.code()),
            ("u".into(), 0, 0),
            ("nope".into(), 0, ErrorCode::UnknownTopicOrPartition.code()),
        ]
    );
    assert_eq!(sim.state("simple").as_deref(), Some("Empty"));
    let got = fetch_v7(
        &mut sim,
        c,
        "simple",
        Some(&[("t", &[0, 1]), ("u", &[0]), ("zzz", &[3])]),
    );
    assert_eq!(
        got,
        vec![
            ("t".into(), 0, 10),
            ("t".into(), 1, 11),
            ("u".into(), 0, 5),
            ("zzz".into(), 3, -1),
        ]
    );
    let all = fetch_v7(&mut sim, c, "simple", None);
    assert_eq!(all.len(), 3);
    // Unknown groups have no offsets.
    assert_eq!(
        fetch_v7(&mut sim, c, "other", Some(&[("t", &[0])])),
        vec![("t".into(), 0, -1)]
    );
    // Generation checks for an unknown group.
    let r = commit(&mut sim, c, 8, "ghost", "m", 3, &[("t", 0, 1)]);
    assert_eq!(r[0].2, ErrorCode::IllegalGeneration.code());
    let r = commit(&mut sim, c, 9, "ghost", "m", 3, &[("t", 0, 1)]);
    assert_eq!(r[0].2, ErrorCode::GroupIdNotFound.code());
    // Metadata too large.
    let req = OffsetCommitRequest::default()
        .with_group_id("simple".into())
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name("t".into())
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(1)
                .with_committed_metadata(Some("x".repeat(5000)))])]);
    match sim.call(c, 8, req) {
        ResponseBody::OffsetCommit(r) => assert_eq!(
            r.topics[0].partitions[0].error_code,
            ErrorCode::OffsetMetadataTooLarge.code()
        ),
        other => panic!("{other:?}"),
    }

    // v8+ OffsetFetch: several groups at once, null topics = everything.
    let req = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default()
            .with_group_id("simple".into())
            .with_topics(None),
        OffsetFetchRequestGroup::default()
            .with_group_id("other".into())
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name("u".into())
                .with_partition_indexes(vec![0])])),
    ]);
    match sim.call(c, 8, req) {
        ResponseBody::OffsetFetch(r) => {
            assert_eq!(r.groups.len(), 2);
            let g0 = &r.groups[0];
            assert_eq!(g0.group_id, "simple");
            let n: usize = g0.topics.iter().map(|t| t.partitions.len()).sum();
            assert_eq!(n, 3);
            let t = g0.topics.iter().find(|t| t.name == "t").unwrap();
            assert_eq!(t.partitions[1].committed_offset, 11);
            assert_eq!(t.partitions[1].metadata.as_deref(), Some("m11"));
            assert_eq!(r.groups[1].topics[0].partitions[0].committed_offset, -1);
        }
        other => panic!("{other:?}"),
    }

    // v10: topics by id.
    let tid = {
        let m = MetadataRequest::default().with_topics(None);
        match sim.call(c, 12, m) {
            ResponseBody::Metadata(r) => {
                r.topics
                    .iter()
                    .find(|t| t.name.as_deref() == Some("u"))
                    .unwrap()
                    .topic_id
            }
            other => panic!("{other:?}"),
        }
    };
    let req = OffsetCommitRequest::default()
        .with_group_id("simple".into())
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_topic_id(tid)
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(77)])]);
    match sim.call(c, 10, req) {
        ResponseBody::OffsetCommit(r) => {
            assert_eq!(r.topics[0].topic_id, tid);
            assert_eq!(r.topics[0].partitions[0].error_code, 0);
        }
        other => panic!("{other:?}"),
    }
    let req = OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
        .with_group_id("simple".into())
        .with_topics(Some(vec![OffsetFetchRequestTopics::default()
            .with_topic_id(tid)
            .with_partition_indexes(vec![0])]))]);
    match sim.call(c, 10, req) {
        ResponseBody::OffsetFetch(r) => {
            assert_eq!(r.groups[0].topics[0].topic_id, tid);
            assert_eq!(r.groups[0].topics[0].partitions[0].committed_offset, 77);
        }
        other => panic!("{other:?}"),
    }

    // OffsetDelete on an empty group removes offsets.
    let del = OffsetDeleteRequest::default()
        .with_group_id("simple".into())
        .with_topics(vec![OffsetDeleteRequestTopic::default()
            .with_name("t".into())
            .with_partitions(vec![
                OffsetDeleteRequestPartition::default().with_partition_index(1)
            ])]);
    match sim.call(c, 0, del) {
        ResponseBody::OffsetDelete(r) => {
            assert_eq!(r.error_code, 0);
            assert_eq!(r.topics[0].partitions[0].error_code, 0);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fetch_v7(&mut sim, c, "simple", Some(&[("t", &[1])])),
        vec![("t".into(), 1, -1)]
    );
    // Deleting a topic drops its committed offsets.
    sim.c.delete_topic("u").unwrap();
    assert_eq!(
        fetch_v7(&mut sim, c, "simple", None),
        vec![("t".into(), 0, 10)]
    );
    let del = OffsetDeleteRequest::default().with_group_id("missing".into());
    match sim.call(c, 0, del) {
        ResponseBody::OffsetDelete(r) => {
            assert_eq!(r.error_code, ErrorCode::GroupIdNotFound.code())
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn member_offsets_follow_the_generation() {
    let mut sim = Sim::new(1);
    sim.c.create_topic("t", 1, 1).unwrap();
    let (ca, a, _cb, _b) = stable_pair(&mut sim, "g");
    let r = commit(&mut sim, ca, 8, "g", &a, 2, &[("t", 0, 42)]);
    assert_eq!(r[0].2, 0);
    let r = commit(&mut sim, ca, 8, "g", &a, 1, &[("t", 0, 43)]);
    assert_eq!(r[0].2, ErrorCode::IllegalGeneration.code());
    let r = commit(&mut sim, ca, 8, "g", "stranger", 2, &[("t", 0, 43)]);
    assert_eq!(r[0].2, ErrorCode::UnknownMemberId.code());
    // Without member and generation, only an empty group accepts commits.
    let r = commit(&mut sim, ca, 8, "g", "", -1, &[("t", 0, 43)]);
    assert_eq!(r[0].2, ErrorCode::UnknownMemberId.code());
    assert_eq!(
        fetch_v7(&mut sim, ca, "g", Some(&[("t", &[0])])),
        vec![("t".into(), 0, 42)]
    );
    // The group consumes "t": its offsets cannot be deleted.
    let del = OffsetDeleteRequest::default()
        .with_group_id("g".into())
        .with_topics(vec![OffsetDeleteRequestTopic::default()
            .with_name("t".into())
            .with_partitions(vec![
                OffsetDeleteRequestPartition::default().with_partition_index(0)
            ])]);
    match sim.call(ca, 0, del) {
        ResponseBody::OffsetDelete(r) => {
            assert_eq!(r.error_code, 0);
            assert_eq!(
                r.topics[0].partitions[0].error_code,
                ErrorCode::GroupSubscribedToTopic.code()
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn list_describe_delete_groups() {
    let mut sim = Sim::new(1);
    sim.c.create_topic("t", 1, 1).unwrap();
    let (ca, a, cb, b) = stable_pair(&mut sim, "g");
    let _ = commit(&mut sim, ca, 8, "simple", "", -1, &[("t", 0, 1)]);
    let list =
        |sim: &mut Sim, v: i16, states: &[&str], types: &[&str]| -> Vec<(String, String, String)> {
            let mut req = ListGroupsRequest::default();
            if v >= 4 {
                req.states_filter = states.iter().map(|s| s.to_string()).collect();
            }
            if v >= 5 {
                req.types_filter = types.iter().map(|s| s.to_string()).collect();
            }
            match sim.call(ca, v, req) {
                ResponseBody::ListGroups(r) => {
                    assert_eq!(r.error_code, 0);
                    let mut g: Vec<_> = r
                        .groups
                        .into_iter()
                        .map(|g| (g.group_id, g.protocol_type, g.group_state))
                        .collect();
                    g.sort();
                    g
                }
                other => panic!("{other:?}"),
            }
        };
    assert_eq!(
        list(&mut sim, 5, &[], &[]),
        vec![
            ("g".into(), "consumer".into(), "Stable".into()),
            ("simple".into(), "".into(), "Empty".into())
        ]
    );
    assert_eq!(list(&mut sim, 5, &["Stable"], &["classic"]).len(), 1);
    assert_eq!(list(&mut sim, 4, &["empty"], &[]).len(), 1);
    assert!(list(&mut sim, 5, &[], &["consumer"]).is_empty());
    assert_eq!(list(&mut sim, 0, &[], &[]).len(), 2);

    let describe = |sim: &mut Sim, v: i16, ids: &[&str]| match sim.call(
        ca,
        v,
        DescribeGroupsRequest::default().with_groups(ids.iter().map(|s| s.to_string()).collect()),
    ) {
        ResponseBody::DescribeGroups(r) => r.groups,
        other => panic!("{other:?}"),
    };
    let d = describe(&mut sim, 5, &["g", "missing"]);
    assert_eq!(d[0].error_code, 0);
    assert_eq!(d[0].group_state, "Stable");
    assert_eq!(d[0].protocol_type, "consumer");
    assert_eq!(d[0].protocol_data, "range");
    assert_eq!(d[0].members.len(), 2);
    let ma = d[0].members.iter().find(|m| m.member_id == a).unwrap();
    assert_eq!(&ma.member_assignment[..], b"pa");
    assert_eq!(ma.member_metadata, subscription(&["t"]));
    assert_eq!(ma.client_id, "test-client");
    assert_eq!(d[1].group_state, "Dead");
    assert_eq!(d[1].error_code, 0);
    let d = describe(&mut sim, 6, &["missing"]);
    assert_eq!(d[0].error_code, ErrorCode::GroupIdNotFound.code());

    let delete = |sim: &mut Sim, ids: &[&str]| match sim.call(
        ca,
        2,
        DeleteGroupsRequest::default()
            .with_groups_names(ids.iter().map(|s| s.to_string()).collect()),
    ) {
        ResponseBody::DeleteGroups(r) => r
            .results
            .into_iter()
            .map(|r| (r.group_id, ErrorCode::from(r.error_code)))
            .collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        delete(&mut sim, &["g", "simple", "missing"]),
        vec![
            ("g".into(), ErrorCode::NonEmptyGroup),
            ("simple".into(), ErrorCode::None),
            ("missing".into(), ErrorCode::GroupIdNotFound),
        ]
    );
    for (c, m) in [(ca, &a), (cb, &b)] {
        let leave = LeaveGroupRequest::default()
            .with_group_id("g".into())
            .with_members(vec![MemberIdentity::default().with_member_id(m.clone())]);
        let _ = sim.call(c, 4, leave);
    }
    // A leaving makes the group rebalance; B leaving then empties it.
    assert_eq!(sim.state("g").as_deref(), Some("Empty"));
    assert_eq!(
        delete(&mut sim, &["g"]),
        vec![("g".into(), ErrorCode::None)]
    );
    assert!(list(&mut sim, 5, &[], &[]).is_empty());
    assert_eq!(fetch_v7(&mut sim, ca, "simple", None), vec![]);
}

/// Every served version of every group API answers and encodes: a full
/// cycle per JoinGroup version, with the other APIs at matching versions.
#[test]
fn every_version_encodes() {
    let mut sim = Sim::new(1);
    sim.c.create_topic("t", 1, 1).unwrap();
    let c = sim.connect(0);
    for v in 0..=9i16 {
        let group = format!("g{v}");
        let mut j = join_resp(sim.call(c, v, join_req(v, &group, "", None)));
        if v >= 4 {
            assert_eq!(j.error_code, ErrorCode::MemberIdRequired.code());
            j = join_resp(sim.call(c, v, join_req(v, &group, &j.member_id, None)));
        }
        assert_eq!(j.error_code, 0, "JoinGroup v{v}");
        let id = j.member_id.clone();
        let sv = v.min(5);
        let s = sync_resp(sim.call(c, sv, sync_req(sv, &group, &id, 1, &[(&id, "x")])));
        assert_eq!(s.error_code, 0, "SyncGroup v{sv}");
        let hv = v.min(4);
        let hb = HeartbeatRequest::default()
            .with_group_id(group.clone())
            .with_member_id(id.clone())
            .with_generation_id(1);
        match sim.call(c, hv, hb) {
            ResponseBody::Heartbeat(r) => assert_eq!(r.error_code, 0, "Heartbeat v{hv}"),
            other => panic!("{other:?}"),
        }
        for cv in 0..=9i16 {
            let (member, generation) = if cv == 0 { ("", -1) } else { (id.as_str(), 1) };
            if cv == 0 {
                continue; // v0 cannot name the member of a live group
            }
            let r = commit(
                &mut sim,
                c,
                cv,
                &group,
                member,
                generation,
                &[("t", 0, i64::from(cv))],
            );
            assert_eq!(r[0].2, 0, "OffsetCommit v{cv}");
        }
        for fv in 0..=7i16 {
            let got = fetch_v7_at(&mut sim, c, fv, &group);
            assert_eq!(got, 9, "OffsetFetch v{fv}");
        }
        for dv in 0..=6i16 {
            match sim.call(
                c,
                dv,
                DescribeGroupsRequest::default().with_groups(vec![group.clone()]),
            ) {
                ResponseBody::DescribeGroups(r) => assert_eq!(r.groups[0].members.len(), 1),
                other => panic!("{other:?}"),
            }
        }
        for lv in 0..=5i16 {
            match sim.call(c, lv, ListGroupsRequest::default()) {
                ResponseBody::ListGroups(r) => assert_eq!(r.error_code, 0),
                other => panic!("{other:?}"),
            }
        }
        for fv in 0..=6i16 {
            let mut req = FindCoordinatorRequest::default();
            if fv >= 4 {
                req.coordinator_keys = vec![group.clone()];
            } else {
                req.key = group.clone();
            }
            let _ = sim.call(c, fv, req);
        }
        let lv = v.min(5);
        let mut leave = LeaveGroupRequest::default().with_group_id(group.clone());
        if lv >= 3 {
            leave.members = vec![MemberIdentity::default().with_member_id(id.clone())];
        } else {
            leave.member_id = id.clone();
        }
        let _ = sim.call(c, lv, leave);
        let dv = v.min(2);
        match sim.call(
            c,
            dv,
            DeleteGroupsRequest::default().with_groups_names(vec![group.clone()]),
        ) {
            ResponseBody::DeleteGroups(r) => assert_eq!(r.results[0].error_code, 0),
            other => panic!("{other:?}"),
        }
    }
}

fn fetch_v7_at(sim: &mut Sim, c: ConnId, v: i16, group: &str) -> i64 {
    let req = OffsetFetchRequest::default()
        .with_group_id(group.into())
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name("t".into())
            .with_partition_indexes(vec![0])]));
    match sim.call(c, v, req) {
        ResponseBody::OffsetFetch(r) => r.topics[0].partitions[0].committed_offset,
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Over TCP
// ---------------------------------------------------------------------------

#[test]
fn tcp_join_sync_heartbeat_commit_fetch() {
    let cluster = MockCluster::builder()
        .brokers(3)
        .topic("orders", 2, 1)
        .build()
        .unwrap();
    let mut boot = TcpClient::connect(cluster.brokers()[0].1);
    let coord = match boot.call(
        4,
        FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec!["tcp-group".into()]),
    ) {
        ResponseBody::FindCoordinator(r) => r.coordinators[0].clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(coord.error_code, 0);
    let addr = cluster
        .brokers()
        .iter()
        .find(|(id, _)| *id == coord.node_id)
        .unwrap()
        .1;
    assert_eq!(i32::from(addr.port()), coord.port);
    let mut c = TcpClient::connect(addr);
    let r = join_resp(c.call(9, join_req(9, "tcp-group", "", None)));
    assert_eq!(r.error_code, ErrorCode::MemberIdRequired.code());
    let r = join_resp(c.call(9, join_req(9, "tcp-group", &r.member_id, None)));
    assert_eq!((r.error_code, r.generation_id), (0, 1));
    assert!(r.member_id.starts_with("tcp-client-"));
    let id = r.member_id;
    let s = sync_resp(c.call(5, sync_req(5, "tcp-group", &id, 1, &[(&id, "everything")])));
    assert_eq!(&s.assignment[..], b"everything");
    let hb = HeartbeatRequest::default()
        .with_group_id("tcp-group".into())
        .with_member_id(id.clone())
        .with_generation_id(1);
    match c.call(4, hb) {
        ResponseBody::Heartbeat(r) => assert_eq!(r.error_code, 0),
        other => panic!("{other:?}"),
    }
    let req = OffsetCommitRequest::default()
        .with_group_id("tcp-group".into())
        .with_member_id(id.clone())
        .with_generation_id_or_member_epoch(1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name("orders".into())
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(1)
                .with_committed_offset(123)])]);
    match c.call(9, req) {
        ResponseBody::OffsetCommit(r) => assert_eq!(r.topics[0].partitions[0].error_code, 0),
        other => panic!("{other:?}"),
    }
    let req = OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
        .with_group_id("tcp-group".into())
        .with_topics(None)]);
    match c.call(9, req) {
        ResponseBody::OffsetFetch(r) => {
            let t = &r.groups[0].topics[0];
            assert_eq!(t.name, "orders");
            assert_eq!(t.partitions[0].partition_index, 1);
            assert_eq!(t.partitions[0].committed_offset, 123);
        }
        other => panic!("{other:?}"),
    }
}
