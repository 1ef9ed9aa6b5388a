//! KIP-848 consumer groups: the ConsumerGroupHeartbeat state machine
//! driven through `Cluster` with a fake clock (joins, hand-over only after
//! the previous owner acknowledged a revocation, leaves, static members,
//! session expiry, regex subscriptions, errors), and the other group APIs
//! on such a group.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::BytesMut;
mod support;

use kafka_mock::{Cluster, ClusterConfig, ConnId, ErrorInjection, MockCluster, Output};
use kafka_proto::frame::{decode_response_frame, encode_request_frame};
use kafka_proto::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_proto::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_proto::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_proto::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_proto::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_proto::messages::*;
use kafka_proto::{ApiKey, ErrorCode, RequestBody, ResponseBody, Uuid};
use support::TcpClient;

const GROUP: &str = "g";
const SESSION_MS: i32 = 3_000;

struct Sim {
    c: Cluster,
    now: Instant,
    conn: ConnId,
    correlation: i32,
    sent: VecDeque<(ApiKey, i16)>,
    got: VecDeque<ResponseBody>,
}

impl Sim {
    fn new() -> Self {
        let mut cfg = ClusterConfig::default();
        cfg.consumer_group_heartbeat_interval_ms = 1_000;
        cfg.consumer_group_session_timeout_ms = SESSION_MS;
        // Most tests look at one step at a time; the interval has its own.
        cfg.consumer_group_assignment_interval_ms = 0;
        Self::with_config(cfg)
    }

    fn with_config(cfg: ClusterConfig) -> Self {
        let now = Instant::now();
        let mut c = Cluster::new(cfg, now);
        c.set_broker_port(0, 9092);
        let conn = ConnId(1);
        c.handle_connected(now, conn, 0);
        c.create_topic("t", 4, 1).unwrap();
        Self {
            c,
            now,
            conn,
            correlation: 0,
            sent: VecDeque::new(),
            got: VecDeque::new(),
        }
    }

    fn call(&mut self, version: i16, body: impl Into<RequestBody>) -> ResponseBody {
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
        self.sent.push_back((key, version));
        self.c
            .handle_frame(self.now, self.conn, buf.freeze().slice(4..));
        self.drain();
        self.got.pop_front().expect("an immediate answer")
    }

    fn drain(&mut self) {
        while let Some(out) = self.c.poll_output() {
            match out {
                Output::Send { bytes, .. } => {
                    let mut bytes = bytes;
                    while bytes.len() >= 4 {
                        let n = i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                        let frame = bytes.slice(4..4 + n as usize);
                        bytes = bytes.slice(4 + n as usize..);
                        let (key, version) = self.sent.pop_front().unwrap();
                        let (_, body) = decode_response_frame(frame, key, version).unwrap();
                        self.got.push_back(body);
                    }
                }
                Output::Close { reason, .. } => panic!("connection closed: {reason}"),
                _ => {}
            }
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.c.handle_timeout(self.now);
        self.drain();
    }

    fn hb(&mut self, req: ConsumerGroupHeartbeatRequest) -> ConsumerGroupHeartbeatResponse {
        match self.call(1, req) {
            ResponseBody::ConsumerGroupHeartbeat(r) => r,
            other => panic!("not a heartbeat response: {other:?}"),
        }
    }

    fn describe(&mut self) -> consumer_group_describe_response::DescribedGroup {
        let req = ConsumerGroupDescribeRequest::default().with_group_ids(vec![GROUP.into()]);
        match self.call(1, req) {
            ResponseBody::ConsumerGroupDescribe(mut r) => r.groups.remove(0),
            other => panic!("not a describe response: {other:?}"),
        }
    }

    fn topic_id(&mut self, name: &str) -> Uuid {
        let req = MetadataRequest::default().with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default().with_name(Some(name.into())),
        ]));
        match self.call(12, req) {
            ResponseBody::Metadata(r) => r.topics[0].topic_id,
            other => panic!("not a metadata response: {other:?}"),
        }
    }
}

fn join(member: &str, topics: &[&str]) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GROUP.into())
        .with_member_id(member.into())
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(5_000)
        .with_subscribed_topic_names(Some(topics.iter().map(|t| t.to_string()).collect()))
        .with_topic_partitions(Some(Vec::new()))
}

/// A heartbeat reporting the partitions the member owns.
fn beat(member: &str, epoch: i32, owned: &Owned) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GROUP.into())
        .with_member_id(member.into())
        .with_member_epoch(epoch)
        .with_topic_partitions(Some(
            owned
                .iter()
                .map(|(t, ps)| {
                    TopicPartitions::default()
                        .with_topic_id(*t)
                        .with_partitions(ps.iter().copied().collect())
                })
                .collect(),
        ))
}

type Owned = BTreeMap<Uuid, BTreeSet<i32>>;

fn assignment(r: &ConsumerGroupHeartbeatResponse) -> Option<Owned> {
    r.assignment.as_ref().map(|a| {
        a.topic_partitions
            .iter()
            .map(|tp| (tp.topic_id, tp.partitions.iter().copied().collect()))
            .collect()
    })
}

fn count(o: &Owned) -> usize {
    o.values().map(BTreeSet::len).sum()
}

fn ok(r: &ConsumerGroupHeartbeatResponse) {
    assert_eq!(
        r.error_code,
        0,
        "heartbeat failed: {:?} {:?}",
        ErrorCode::from_code(r.error_code),
        r.error_message
    );
}

#[test]
fn a_member_joins_and_gets_every_partition() {
    let mut s = Sim::new();
    let r = s.hb(join("m1", &["t"]));
    ok(&r);
    assert_eq!(r.member_id.as_deref(), Some("m1"));
    assert_eq!(r.member_epoch, 2);
    assert_eq!(r.heartbeat_interval_ms, 1_000);
    let a = assignment(&r).expect("a joining member gets its assignment");
    assert_eq!(count(&a), 4);
    let d = s.describe();
    assert_eq!(d.group_state, "Stable");
    assert_eq!((d.group_epoch, d.assignment_epoch), (2, 2));
    assert_eq!(d.assignor_name, "uniform");
    assert_eq!(d.members[0].assignment.topic_partitions[0].topic_name, "t");
    // A heartbeat without changes carries no assignment.
    let r = s.hb(beat("m1", 2, &a));
    ok(&r);
    assert_eq!((r.member_epoch, r.assignment.is_some()), (2, false));
}

#[test]
fn v0_joins_get_a_member_id_from_the_coordinator() {
    let mut s = Sim::new();
    let r = match s.call(0, join("", &["t"])) {
        ResponseBody::ConsumerGroupHeartbeat(r) => r,
        other => panic!("{other:?}"),
    };
    ok(&r);
    assert_eq!(r.member_id.as_deref().map(str::len), Some(22));
    // v1 requires the member to choose its id.
    let r = s.hb(join("", &["t"]));
    assert_eq!(r.error_code, ErrorCode::InvalidRequest.code());
}

#[test]
fn partitions_move_only_after_the_previous_owner_revoked_them() {
    let mut s = Sim::new();
    let r1 = s.hb(join("m1", &["t"]));
    let owned1 = assignment(&r1).unwrap();
    assert_eq!(count(&owned1), 4);

    // m2 joins: the group epoch moves to 3, but every partition is still
    // m1's, so m2 is at the new epoch with nothing yet.
    let r2 = s.hb(join("m2", &["t"]));
    ok(&r2);
    assert_eq!(r2.member_epoch, 3);
    assert_eq!(assignment(&r2).map(|a| count(&a)), Some(0));
    assert_eq!(s.describe().group_state, "Reconciling");

    // m1 is told to give up two partitions and stays at epoch 2.
    let r = s.hb(beat("m1", 2, &owned1));
    ok(&r);
    assert_eq!(r.member_epoch, 2);
    let kept = assignment(&r).expect("the shrunk assignment");
    assert_eq!(count(&kept), 2);

    // Until m1 acknowledges, m2 gets nothing.
    let r = s.hb(beat("m2", 3, &Owned::new()));
    ok(&r);
    assert!(assignment(&r).is_none_or(|a| count(&a) == 0));

    // m1 still reports the revoked partitions: nothing moves.
    let r = s.hb(beat("m1", 2, &owned1));
    assert_eq!(r.member_epoch, 2);
    let r = s.hb(beat("m2", 3, &Owned::new()));
    assert!(assignment(&r).is_none_or(|a| count(&a) == 0));

    // m1 acknowledges: it reaches epoch 3; then m2 gets the other two.
    let r = s.hb(beat("m1", 2, &kept));
    ok(&r);
    assert_eq!(r.member_epoch, 3);
    let r = s.hb(beat("m2", 3, &Owned::new()));
    ok(&r);
    let got = assignment(&r).expect("m2's partitions");
    assert_eq!(count(&got), 2);
    let all: BTreeSet<i32> = kept
        .values()
        .chain(got.values())
        .flatten()
        .copied()
        .collect();
    assert_eq!(all, (0..4).collect());
    let r = s.hb(beat("m2", 3, &got));
    ok(&r);
    assert_eq!(s.describe().group_state, "Stable");
}

#[test]
fn a_leaving_member_hands_its_partitions_over() {
    let mut s = Sim::new();
    let a1 = assignment(&s.hb(join("m1", &["t"]))).unwrap();
    s.hb(join("m2", &["t"]));
    let k1 = assignment(&s.hb(beat("m1", 2, &a1))).unwrap();
    s.hb(beat("m1", 2, &k1));
    let a2 = assignment(&s.hb(beat("m2", 3, &Owned::new()))).unwrap();
    assert_eq!(count(&a2), 2);

    let leave = beat("m1", -1, &Owned::new());
    let r = s.hb(leave);
    ok(&r);
    assert_eq!((r.member_id.as_deref(), r.member_epoch), (Some("m1"), -1));
    let d = s.describe();
    assert_eq!((d.group_epoch, d.group_state.as_str()), (4, "Assigning"));

    let r = s.hb(beat("m2", 3, &a2));
    ok(&r);
    assert_eq!(r.member_epoch, 4);
    assert_eq!(assignment(&r).map(|a| count(&a)), Some(4));
    // The member that left is unknown now.
    let r = s.hb(beat("m1", 3, &Owned::new()));
    assert_eq!(r.error_code, ErrorCode::UnknownMemberId.code());
}

#[test]
fn session_expiry_removes_a_silent_member() {
    let mut s = Sim::new();
    s.hb(join("m1", &["t"]));
    let r = s.hb(join("m2", &["t"]));
    assert_eq!(r.member_epoch, 3);
    // m2 keeps heartbeating, m1 falls silent.
    let (mut epoch, mut owned) = (3, Owned::new());
    for _ in 0..4 {
        s.advance(Duration::from_millis(1_000));
        let r = s.hb(beat("m2", epoch, &owned));
        ok(&r);
        epoch = r.member_epoch;
        if let Some(a) = assignment(&r) {
            owned = a;
        }
    }
    let d = s.describe();
    assert_eq!(d.members.len(), 1);
    assert_eq!(d.members[0].member_id, "m2");
    assert_eq!((epoch, count(&owned)), (4, 4));
    let r = s.hb(beat("m1", 2, &Owned::new()));
    assert_eq!(r.error_code, ErrorCode::UnknownMemberId.code());
}

#[test]
fn a_member_that_does_not_revoke_in_time_is_fenced() {
    let mut s = Sim::new();
    let a1 = assignment(&s.hb(join("m1", &["t"]))).unwrap();
    s.hb(join("m2", &["t"]));
    s.hb(beat("m1", 2, &a1));
    // m1 heartbeats but never lets go; its rebalance timeout (5 s) passes.
    for _ in 0..6 {
        s.advance(Duration::from_millis(1_000));
        s.hb(beat("m2", 3, &Owned::new()));
        let r = s.hb(beat("m1", 2, &a1));
        if r.error_code != 0 {
            assert_eq!(r.error_code, ErrorCode::UnknownMemberId.code());
            return;
        }
    }
    panic!("m1 was never fenced");
}

#[test]
fn a_static_member_rejoins_with_its_partitions() {
    let mut s = Sim::new();
    let r = s.hb(join("m1", &["t"]).with_instance_id(Some("i1".into())));
    let a1 = assignment(&r).unwrap();
    s.hb(join("m2", &["t"]));
    let k1 = assignment(&s.hb(beat("m1", 2, &a1))).unwrap();
    s.hb(beat("m1", 2, &k1));
    s.hb(beat("m2", 3, &Owned::new()));

    // Another process with the same instance id while m1 is alive.
    let r = s.hb(join("m3", &["t"]).with_instance_id(Some("i1".into())));
    assert_eq!(r.error_code, ErrorCode::UnreleasedInstanceId.code());
    // A heartbeat naming i1 with another member id is fenced.
    let r = s.hb(beat("m3", 3, &Owned::new()).with_instance_id(Some("i1".into())));
    assert_eq!(r.error_code, ErrorCode::FencedInstanceId.code());

    // m1 leaves for a moment (-2): its partitions stay reserved.
    let r = s.hb(beat("m1", -2, &Owned::new()).with_instance_id(Some("i1".into())));
    ok(&r);
    assert_eq!(r.member_epoch, -2);
    let r = s.hb(beat("m2", 3, &Owned::new()));
    assert!(assignment(&r).is_none_or(|a| count(&a) == 2));

    // The instance comes back under a new member id and gets them back,
    // without a new group epoch.
    let r = s.hb(join("m1b", &["t"]).with_instance_id(Some("i1".into())));
    ok(&r);
    assert_eq!(r.member_epoch, 3);
    assert_eq!(assignment(&r), Some(k1));
    assert_eq!(s.describe().group_epoch, 3);
}

#[test]
fn a_regex_picks_up_new_topics_and_partitions_bump_the_epoch() {
    let mut s = Sim::new();
    s.c.create_topic("logs-a", 1, 1).unwrap();
    let req = join("m1", &[])
        .with_subscribed_topic_names(None)
        .with_subscribed_topic_regex(Some("logs-.*".into()));
    let r = s.hb(req);
    ok(&r);
    let a = assignment(&r).unwrap();
    assert_eq!(count(&a), 1);
    let d = s.describe();
    assert_eq!(
        d.members[0].subscribed_topic_regex.as_deref(),
        Some("logs-.*")
    );

    s.c.create_topic("logs-b", 2, 1).unwrap();
    s.c.create_topic("other", 2, 1).unwrap();
    let r = s.hb(beat("m1", 2, &a));
    ok(&r);
    assert_eq!(r.member_epoch, 3);
    let a = assignment(&r).unwrap();
    let b_id = s.topic_id("logs-b");
    assert_eq!(count(&a), 3);
    assert_eq!(a[&b_id].len(), 2);

    // New partitions of a subscribed topic bump the epoch too.
    let req = CreatePartitionsRequest::default()
        .with_timeout_ms(1_000)
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name("logs-b".into())
            .with_count(3)]);
    s.call(1, req);
    let r = s.hb(beat("m1", 3, &a));
    assert_eq!(r.member_epoch, 4);
    assert_eq!(assignment(&r).map(|a| count(&a)), Some(4));

    let bad = join("m2", &[])
        .with_subscribed_topic_names(None)
        .with_subscribed_topic_regex(Some("(unclosed".into()));
    let r = s.hb(bad);
    assert_eq!(r.error_code, ErrorCode::InvalidRegularExpression.code());
}

#[test]
fn the_range_assignor_is_chosen_by_the_members() {
    let mut s = Sim::new();
    let r = s.hb(join("m1", &["t"]).with_server_assignor(Some("range".into())));
    ok(&r);
    assert_eq!(s.describe().assignor_name, "range");
    let r = s.hb(join("m2", &["t"]).with_server_assignor(Some("fancy".into())));
    assert_eq!(r.error_code, ErrorCode::UnsupportedAssignor.code());
}

#[test]
fn heartbeat_errors() {
    let mut s = Sim::new();
    // Missing fields on a join.
    let r = s.hb(join("m1", &["t"]).with_rebalance_timeout_ms(-1));
    assert_eq!(r.error_code, ErrorCode::InvalidRequest.code());
    let r = s.hb(join("m1", &["t"]).with_subscribed_topic_names(None));
    assert_eq!(r.error_code, ErrorCode::InvalidRequest.code());
    let r = s.hb(join("m1", &["t"]).with_topic_partitions(None));
    assert_eq!(r.error_code, ErrorCode::InvalidRequest.code());
    // A heartbeat for a group that does not exist.
    let r = s.hb(beat("m1", 2, &Owned::new()));
    assert_eq!(r.error_code, ErrorCode::GroupIdNotFound.code());

    let r = s.hb(join("m1", &["t"]));
    ok(&r);
    // An epoch from the future, or an old one, is fenced.
    let r = s.hb(beat("m1", 8, &Owned::new()));
    assert_eq!(r.error_code, ErrorCode::FencedMemberEpoch.code());
    assert!(r.member_id.is_none());
    let r = s.hb(beat("nobody", 2, &Owned::new()));
    assert_eq!(r.error_code, ErrorCode::UnknownMemberId.code());
    // Injected faults answer before anything else.
    s.c.inject_error(ErrorInjection::new(
        ApiKey::ConsumerGroupHeartbeat,
        ErrorCode::CoordinatorLoadInProgress,
        1,
    ));
    let r = s.hb(beat("m1", 2, &Owned::new()));
    assert_eq!(r.error_code, ErrorCode::CoordinatorLoadInProgress.code());
    ok(&s.hb(beat("m1", 2, &Owned::new())));
    s.c.inject_error(ErrorInjection::new(
        ApiKey::ConsumerGroupDescribe,
        ErrorCode::NotCoordinator,
        1,
    ));
    assert_eq!(s.describe().error_code, ErrorCode::NotCoordinator.code());
    assert_eq!(s.describe().error_code, 0);
}

#[test]
fn the_group_max_size_is_enforced() {
    let mut cfg = ClusterConfig::default();
    cfg.consumer_group_max_size = 1;
    cfg.consumer_group_assignment_interval_ms = 0;
    let mut s = Sim::with_config(cfg);
    ok(&s.hb(join("m1", &["t"])));
    let r = s.hb(join("m2", &["t"]));
    assert_eq!(r.error_code, ErrorCode::GroupMaxSizeReached.code());
}

fn commit(member: &str, epoch: i32) -> OffsetCommitRequest {
    commit_partition(member, epoch, 0)
}

fn commit_partition(member: &str, epoch: i32, partition: i32) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GROUP.into())
        .with_member_id(member.into())
        .with_generation_id_or_member_epoch(epoch)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name("t".into())
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(partition)
                .with_committed_offset(7)])])
}

fn commit_error(r: ResponseBody) -> i16 {
    match r {
        ResponseBody::OffsetCommit(r) => r.topics[0].partitions[0].error_code,
        other => panic!("{other:?}"),
    }
}

#[test]
fn offsets_and_group_apis_on_a_consumer_group() {
    let mut s = Sim::new();
    ok(&s.hb(join("m1", &["t"])));
    ok(&s.hb(join("m2", &["t"])));
    // m1 is still at epoch 2, m2 at 3.
    assert_eq!(commit_error(s.call(9, commit("m1", 2))), 0);
    assert_eq!(
        commit_error(s.call(9, commit("m2", 1))),
        ErrorCode::StaleMemberEpoch.code()
    );
    assert_eq!(
        commit_error(s.call(9, commit("ghost", 1))),
        ErrorCode::UnknownMemberId.code()
    );
    assert_eq!(
        commit_error(s.call(8, commit("m1", 2))),
        ErrorCode::UnsupportedVersion.code()
    );

    let fetch = |member: Option<&str>, epoch: i32| {
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GROUP.into())
            .with_member_id(member.map(String::from))
            .with_member_epoch(epoch)
            .with_topics(None)])
    };
    let group_error = |r: ResponseBody| match r {
        ResponseBody::OffsetFetch(r) => r.groups[0].error_code,
        other => panic!("{other:?}"),
    };
    assert_eq!(group_error(s.call(9, fetch(Some("m2"), 3))), 0);
    assert_eq!(group_error(s.call(9, fetch(None, -1))), 0);
    assert_eq!(
        group_error(s.call(9, fetch(Some("m2"), 1))),
        ErrorCode::StaleMemberEpoch.code()
    );
    assert_eq!(
        group_error(s.call(9, fetch(Some("ghost"), 1))),
        ErrorCode::UnknownMemberId.code()
    );

    // ListGroups names the type; DescribeGroups describes classic groups only.
    let r = s.call(5, ListGroupsRequest::default());
    let ResponseBody::ListGroups(l) = r else {
        panic!()
    };
    assert_eq!(l.groups.len(), 1);
    assert_eq!(
        (
            l.groups[0].group_type.as_str(),
            l.groups[0].protocol_type.as_str()
        ),
        ("consumer", "consumer")
    );
    assert_eq!(l.groups[0].group_state, "Reconciling");
    let r = s.call(
        5,
        ListGroupsRequest::default().with_types_filter(vec!["classic".into()]),
    );
    let ResponseBody::ListGroups(l) = r else {
        panic!()
    };
    assert!(l.groups.is_empty());
    let r = s.call(
        6,
        DescribeGroupsRequest::default().with_groups(vec![GROUP.into()]),
    );
    let ResponseBody::DescribeGroups(d) = r else {
        panic!()
    };
    assert_eq!(d.groups[0].error_code, ErrorCode::GroupIdNotFound.code());

    // A classic JoinGroup cannot enter a live consumer group, nor can the
    // group be deleted while it has members.
    let join = JoinGroupRequest::default()
        .with_group_id(GROUP.into())
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type("other".into())
        .with_protocols(vec![
            JoinGroupRequestProtocol::default().with_name("x".into())
        ]);
    let ResponseBody::JoinGroup(j) = s.call(9, join.clone()) else {
        panic!()
    };
    assert_eq!(j.error_code, ErrorCode::InconsistentGroupProtocol.code());
    let del = DeleteGroupsRequest::default().with_groups_names(vec![GROUP.into()]);
    let ResponseBody::DeleteGroups(d) = s.call(2, del.clone()) else {
        panic!()
    };
    assert_eq!(d.results[0].error_code, ErrorCode::NonEmptyGroup.code());

    // Once empty, the group can become a classic one again; the offsets stay.
    ok(&s.hb(beat("m1", -1, &Owned::new())));
    ok(&s.hb(beat("m2", -1, &Owned::new())));
    assert_eq!(s.describe().group_state, "Empty");
    let ResponseBody::JoinGroup(j) = s.call(9, join) else {
        panic!()
    };
    assert_eq!(j.error_code, ErrorCode::MemberIdRequired.code());
    let r = s.call(9, fetch(None, -1));
    let ResponseBody::OffsetFetch(f) = r else {
        panic!()
    };
    assert_eq!(f.groups[0].topics[0].partitions[0].committed_offset, 7);
}

/// Over TCP, the server's own timers expire a silent member: the
/// shortened session timeout comes from the builder.
#[test]
fn a_served_cluster_expires_silent_members() {
    let cluster = MockCluster::builder()
        .consumer_group_session_timeout_ms(300)
        .consumer_group_heartbeat_interval_ms(100)
        .topic("t", 2, 1)
        .build()
        .unwrap();
    let mut c = TcpClient::connect(cluster.brokers()[0].1);
    let hb = |c: &mut TcpClient, req| match c.call(1, req) {
        ResponseBody::ConsumerGroupHeartbeat(r) => r,
        other => panic!("{other:?}"),
    };
    let r = hb(&mut c, join("m1", &["t"]));
    ok(&r);
    assert_eq!(r.heartbeat_interval_ms, 100);
    let r = hb(&mut c, join("m2", &["t"]));
    ok(&r);
    // m2 keeps heartbeating for a second; m1 stays silent.
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut epoch = r.member_epoch;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let r = hb(&mut c, beat("m2", epoch, &Owned::new()));
        ok(&r);
        epoch = r.member_epoch;
    }
    let r = hb(&mut c, beat("m1", 2, &Owned::new()));
    assert_eq!(r.error_code, ErrorCode::UnknownMemberId.code());
    match c.call(
        1,
        ConsumerGroupDescribeRequest::default().with_group_ids(vec![GROUP.into()]),
    ) {
        ResponseBody::ConsumerGroupDescribe(d) => {
            let members: Vec<&str> = d.groups[0]
                .members
                .iter()
                .map(|m| m.member_id.as_str())
                .collect();
            assert_eq!(members, vec!["m2"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_new_target_waits_for_the_assignment_interval() {
    let mut cfg = ClusterConfig::default();
    cfg.consumer_group_assignment_interval_ms = 1_000;
    cfg.consumer_group_session_timeout_ms = 10_000;
    let mut s = Sim::with_config(cfg);
    // A new group is assigned at once.
    let a1 = assignment(&s.hb(join("m1", &["t"]))).unwrap();
    assert_eq!(count(&a1), 4);
    s.advance(Duration::from_millis(300));
    // The second member bumps the epoch; the target follows a second after
    // the previous one.
    let r = s.hb(join("m2", &["t"]));
    assert_eq!(
        (r.member_epoch, assignment(&r).map(|a| count(&a))),
        (2, Some(0))
    );
    let d = s.describe();
    assert_eq!(
        (d.group_epoch, d.assignment_epoch, d.group_state.as_str()),
        (3, 2, "Assigning")
    );
    s.advance(Duration::from_millis(500));
    let r = s.hb(beat("m1", 2, &a1));
    assert!(r.assignment.is_none());
    assert_eq!(s.describe().group_state, "Assigning");
    s.advance(Duration::from_millis(300));
    let r = s.hb(beat("m1", 2, &a1));
    assert_eq!(r.member_epoch, 2);
    assert_eq!(assignment(&r).map(|a| count(&a)), Some(2));
    let d = s.describe();
    assert_eq!(
        (d.assignment_epoch, d.group_state.as_str()),
        (3, "Reconciling")
    );
}

#[test]
fn an_older_epoch_commits_partitions_held_since_then() {
    let mut s = Sim::new();
    let a1 = assignment(&s.hb(join("m1", &["t"]))).unwrap();
    s.hb(join("m2", &["t"]));
    let kept = assignment(&s.hb(beat("m1", 2, &a1))).unwrap();
    let r = s.hb(beat("m1", 2, &kept));
    assert_eq!(r.member_epoch, 3);
    let held = *kept.values().next().unwrap().iter().next().unwrap();
    let given_up = (0..4)
        .find(|p| !kept.values().any(|s| s.contains(p)))
        .unwrap();
    // m1 holds `held` since epoch 2: a commit made at epoch 2 still counts.
    assert_eq!(commit_error(s.call(9, commit_partition("m1", 2, held))), 0);
    assert_eq!(commit_error(s.call(9, commit_partition("m1", 3, held))), 0);
    // Not for an epoch before it held it, nor for a partition it gave up.
    assert_eq!(
        commit_error(s.call(9, commit_partition("m1", 1, held))),
        ErrorCode::StaleMemberEpoch.code()
    );
    assert_eq!(
        commit_error(s.call(9, commit_partition("m1", 2, given_up))),
        ErrorCode::StaleMemberEpoch.code()
    );
}
