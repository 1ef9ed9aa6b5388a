//! A kafka-state `Client` in a consumer group, driven through its public
//! API against a scripted coordinator whose every answer the input picks.
//!
//! Input layout: byte 0 configures the member (assignor, auto-commit,
//! revoke hook, static instance id, and the consumer protocol of KIP-848
//! instead of the classic one); then a sequence of operations, each
//! an opcode byte followed by the bytes it consumes (see [`Script::op`]):
//! complete or refuse a connection attempt, answer a pending request
//! (FindCoordinator, JoinGroup with arbitrary members, leader, generation
//! and protocol, SyncGroup with arbitrary or well-formed assignment bytes,
//! Heartbeat, ConsumerGroupHeartbeat with arbitrary member ids, epochs,
//! intervals and assignments (of topic ids the metadata may not name
//! yet), OffsetFetch, OffsetCommit, LeaveGroup, each with arbitrary
//! error codes), advance the clock, drop a connection, feed garbage
//! bytes, and the application's calls (poll, commit, revoke done,
//! unsubscribe, subscribe again, close).
//!
//! Checks: the client never panics, and every partition it reports as
//! assigned (`ConsumerEvent::PartitionsAssigned`) was in an assignment
//! that some SyncGroup or ConsumerGroupHeartbeat answer of this run
//! carried.
#![no_main]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_proto::frame::{decode_request_frame, encode_response_frame, split_frame};
use kafka_proto::messages::api_versions_response::ApiVersion;
use kafka_proto::messages::consumer_group_heartbeat_response::{
    Assignment as CgAssignment, TopicPartitions as CgTopicPartitions,
};
use kafka_proto::messages::find_coordinator_response::Coordinator;
use kafka_proto::messages::join_group_response::JoinGroupResponseMember;
use kafka_proto::messages::leave_group_response::MemberResponse;
use kafka_proto::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_proto::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_proto::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_proto::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_proto::messages::{
    ApiVersionsResponse, ConsumerGroupHeartbeatResponse, FindCoordinatorResponse,
    HeartbeatResponse, JoinGroupResponse, LeaveGroupResponse, ListOffsetsResponse,
    MetadataResponse, OffsetCommitResponse, OffsetFetchResponse, RequestHeader, SyncGroupResponse,
};
use kafka_proto::{ApiKey, RequestBody, ResponseBody, Uuid};
use kafka_state::consumer::AutoOffsetReset;
use kafka_state::group::{
    decode_assignment, encode_assignment, Assignment, CooperativeStickyAssignor, GroupConfig,
    GroupProtocol, RangeAssignor, RoundRobinAssignor, StickyAssignor, ASSIGNMENT_VERSION,
};
use kafka_state::{
    BrokerAddr, Client, Config, ConnId, ConnRequest, ConsumerEvent, Event, TopicPartition,
};
use libfuzzer_sys::fuzz_target;

const TOPIC: &str = "t";
const TOPIC_ID: Uuid = Uuid::from_u64_pair(7, 9);
/// A second topic, named by some metadata answers only: a KIP-848
/// assignment of it waits until the metadata resolves its id.
const OTHER: &str = "u";
const OTHER_ID: Uuid = Uuid::from_u64_pair(8, 10);
/// Operations per input, so one input stays fast.
const MAX_OPS: usize = 400;

/// Error codes a coordinator answers with, weighted towards the ones the
/// member handles specially.
const ERRORS: [i16; 21] = [
    0,   // NONE
    3,   // UNKNOWN_TOPIC_OR_PARTITION
    7,   // REQUEST_TIMED_OUT
    14,  // COORDINATOR_LOAD_IN_PROGRESS
    15,  // COORDINATOR_NOT_AVAILABLE
    16,  // NOT_COORDINATOR
    22,  // ILLEGAL_GENERATION
    23,  // INCONSISTENT_GROUP_PROTOCOL
    24,  // INVALID_GROUP_ID
    25,  // UNKNOWN_MEMBER_ID
    26,  // INVALID_SESSION_TIMEOUT
    27,  // REBALANCE_IN_PROGRESS
    30,  // GROUP_AUTHORIZATION_FAILED
    79,  // MEMBER_ID_REQUIRED
    81,  // GROUP_MAX_SIZE_REACHED
    82,  // FENCED_INSTANCE_ID
    110, // FENCED_MEMBER_EPOCH
    111, // UNRELEASED_INSTANCE_ID
    112, // UNSUPPORTED_ASSIGNOR
    113, // STALE_MEMBER_EPOCH
    128, // INVALID_REGULAR_EXPRESSION
];

/// The input, read front to back; reads past the end give zeros.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }
    fn i32(&mut self) -> i32 {
        i32::from_be_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    fn bytes(&mut self, max: usize) -> Bytes {
        let n = usize::from(self.byte()).min(max).min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Bytes::copy_from_slice(head)
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Mostly success, else one of [`ERRORS`] or any code at all.
    fn error(&mut self) -> i16 {
        let b = self.byte();
        match b {
            0..=127 => 0,
            128..=239 => ERRORS[usize::from(b) % ERRORS.len()],
            _ => self.u16() as i16,
        }
    }
    /// A small partition index, sometimes out of the topic's range.
    fn partition(&mut self) -> i32 {
        match self.byte() {
            b @ 0..=249 => i32::from(b % 6),
            _ => self.i32(),
        }
    }
}

/// The scripted coordinator and the application around the client.
struct Script {
    client: Client,
    now: Instant,
    /// Connections the client asked for and that are not answered yet.
    opening: Vec<ConnId>,
    /// Connections up.
    open: Vec<ConnId>,
    /// Requests sent and not answered: connection, header, body.
    inbox: Vec<(ConnId, RequestHeader, RequestBody)>,
    /// Partitions of every well-formed assignment a SyncGroup answer
    /// carried.
    granted: BTreeSet<TopicPartition>,
    /// The member id handed out by the last JoinGroup answer.
    member_id: String,
}

impl Script {
    fn drain(&mut self) {
        while let Some(t) = self.client.poll_transmit() {
            let mut buf = BytesMut::from(&t.bytes[..]);
            while let Ok(Some(frame)) = split_frame(&mut buf, usize::MAX) {
                // The client's own requests always decode.
                let (h, body) = decode_request_frame(frame).expect("the client's request decodes");
                self.inbox.push((t.conn, h, body));
            }
        }
        while let Some(req) = self.client.poll_conn() {
            match req {
                ConnRequest::Open { conn, .. } => self.opening.push(conn),
                ConnRequest::Close { conn } => self.forget(conn),
                _ => {}
            }
        }
        while let Some(e) = self.client.poll_event() {
            if let Event::Consumer(ConsumerEvent::PartitionsAssigned { partitions }) = &e {
                for tp in partitions {
                    assert!(
                        self.granted.contains(tp),
                        "assigned {tp:?}, which no SyncGroup answer carried ({:?})",
                        self.granted
                    );
                }
            }
        }
    }

    fn forget(&mut self, conn: ConnId) {
        self.opening.retain(|c| *c != conn);
        self.open.retain(|c| *c != conn);
        self.inbox.retain(|(c, _, _)| *c != conn);
    }

    fn op(&mut self, input: &mut Input) {
        let now = self.now;
        match input.byte() % 10 {
            // A connection attempt completes or is refused.
            0 => {
                if self.opening.is_empty() {
                    return;
                }
                let i = usize::from(input.byte()) % self.opening.len();
                let conn = self.opening.remove(i);
                if input.byte() % 8 == 0 {
                    self.client.handle_connect_failed(now, conn, "refused");
                } else {
                    self.open.push(conn);
                    self.client.handle_connected(now, conn);
                }
            }
            // A pending request is answered (the likeliest operation).
            1..=3 => {
                if self.inbox.is_empty() {
                    return;
                }
                let i = usize::from(input.byte()) % self.inbox.len();
                let (conn, h, body) = self.inbox.remove(i);
                let Some(answer) = self.answer(input, &h, &body) else {
                    return;
                };
                let mut buf = BytesMut::new();
                if encode_response_frame(h.correlation_id, h.request_api_version, &answer, &mut buf)
                    .is_ok()
                {
                    self.client.handle_recv(now, conn, &mut buf);
                }
            }
            // Time passes: up to about a minute, in fine steps when small.
            4 | 5 => {
                let ms = u64::from(input.u16());
                self.now += Duration::from_millis(ms);
                self.client.handle_timeout(self.now);
            }
            // The clock jumps to the client's next deadline.
            6 => {
                if let Some(t) = self.client.poll_timeout() {
                    self.now = self.now.max(t);
                }
                self.client.handle_timeout(self.now);
            }
            // A connection resets.
            7 => {
                if self.open.is_empty() {
                    return;
                }
                let i = usize::from(input.byte()) % self.open.len();
                let conn = self.open[i];
                self.forget(conn);
                self.client.handle_closed(now, conn);
            }
            // The application polls and stores what it got, taking records
            // owned or lent (a few at a time), which must agree.
            8 => {
                let _ = self.client.consumer().record_poll(now);
                let step = usize::from(input.byte() % 4);
                while let Some(fetched) = self.client.consumer().poll_records(now) {
                    let want: Vec<_> = fetched
                        .iter()
                        .map(|r| r.map_err(|e| e.to_string()))
                        .collect();
                    let mut it = fetched.into_iter();
                    let mut got = Vec::new();
                    loop {
                        let mut n = 0;
                        let end = it.lend(|r| {
                            got.push(Ok(r.to_record()));
                            n += 1;
                            if n > step {
                                std::ops::ControlFlow::Break(())
                            } else {
                                std::ops::ControlFlow::Continue(())
                            }
                        });
                        if let kafka_state::consumer::Lent::Failed(e) = end {
                            got.push(Err(e.to_string()));
                        }
                        match it.next() {
                            Some(r) => got.push(r.map_err(|e| e.to_string())),
                            None => break,
                        }
                    }
                    assert_eq!(got, want, "lending and iterating disagree");
                    for r in got.into_iter().flatten() {
                        let _ = self.client.consumer().store_record(&r);
                    }
                }
            }
            // Another application call; misuse errors are fine.
            _ => match input.byte() % 8 {
                0 | 1 => {
                    let _ = self.client.consumer().commit(now, None);
                }
                2 | 3 => {
                    let _ = self.client.consumer().revoke_done(now);
                }
                4 => {
                    let _ = self.client.consumer().unsubscribe(now);
                }
                5 => {
                    let _ = self.client.consumer().subscribe(now, [TOPIC]);
                }
                6 => self.client.close(now),
                _ => {
                    // Garbage on a connection.
                    if let Some(&conn) = self.open.first() {
                        let mut buf = BytesMut::from(&input.bytes(64)[..]);
                        self.client.handle_recv(now, conn, &mut buf);
                    }
                }
            },
        }
    }

    /// The coordinator's answer to `body`, shaped by the input; `None`
    /// leaves the request unanswered for good.
    fn answer(
        &mut self,
        input: &mut Input,
        h: &RequestHeader,
        body: &RequestBody,
    ) -> Option<ResponseBody> {
        let v = h.request_api_version;
        Some(match body {
            RequestBody::ApiVersions(_) => {
                let apis = ApiKey::ALL
                    .iter()
                    .map(|k| {
                        ApiVersion::default()
                            .with_api_key(k.id())
                            .with_min_version(*k.versions().start())
                            .with_max_version(*k.versions().end())
                    })
                    .collect();
                ApiVersionsResponse::default().with_api_keys(apis).into()
            }
            RequestBody::Metadata(_) => {
                let partitions = i32::from(input.byte() % 6);
                let other = input.byte() % 4 == 0;
                let brokers = (0..2)
                    .map(|n| {
                        MetadataResponseBroker::default()
                            .with_node_id(n)
                            .with_host("b".into())
                            .with_port(9092 + n)
                    })
                    .collect();
                let topic = |name: &str, id: Uuid, error: i16| {
                    MetadataResponseTopic::default()
                        .with_error_code(error)
                        .with_name(Some(name.into()))
                        .with_topic_id(id)
                        .with_partitions(
                            (0..partitions)
                                .map(|p| {
                                    MetadataResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_leader_id(p % 2)
                                })
                                .collect(),
                        )
                };
                let mut topics = vec![topic(TOPIC, TOPIC_ID, input.error())];
                if other {
                    topics.push(topic(OTHER, OTHER_ID, 0));
                }
                MetadataResponse::default()
                    .with_cluster_id(Some("c".into()))
                    .with_brokers(brokers)
                    .with_topics(topics)
                    .into()
            }
            RequestBody::FindCoordinator(req) => {
                let error = input.error();
                let node = i32::from(input.byte() % 3);
                if v >= 4 {
                    let coordinators = req
                        .coordinator_keys
                        .iter()
                        .map(|k| {
                            Coordinator::default()
                                .with_key(k.clone())
                                .with_error_code(error)
                                .with_node_id(node)
                                .with_host("b".into())
                                .with_port(9092 + node)
                        })
                        .collect();
                    FindCoordinatorResponse::default()
                        .with_coordinators(coordinators)
                        .into()
                } else {
                    FindCoordinatorResponse::default()
                        .with_error_code(error)
                        .with_node_id(node)
                        .with_host("b".into())
                        .with_port(9092 + node)
                        .into()
                }
            }
            RequestBody::JoinGroup(req) => {
                let error = input.error();
                let generation = match input.byte() {
                    b @ 0..=239 => i32::from(b % 8),
                    _ => input.i32(),
                };
                let member_id = match input.byte() % 4 {
                    0 if !req.member_id.is_empty() => req.member_id.clone(),
                    0 | 1 => self.member_id.clone(),
                    2 => format!("m-{}", input.byte() % 4),
                    _ => String::new(),
                };
                self.member_id = member_id.clone();
                let leader = match input.byte() % 3 {
                    0 => member_id.clone(),
                    1 => "other".into(),
                    _ => format!("m-{}", input.byte() % 4),
                };
                let protocol = match (input.byte() % 4, req.protocols.first()) {
                    (0..=2, Some(p)) => p.name.clone(),
                    _ => String::from_utf8_lossy(&input.bytes(12)).into_owned(),
                };
                let own = req
                    .protocols
                    .iter()
                    .find(|p| p.name == protocol)
                    .map(|p| p.metadata.clone())
                    .unwrap_or_default();
                let count = input.byte() % 4;
                let members = (0..count)
                    .map(|i| {
                        let (id, metadata) = match input.byte() % 3 {
                            0 => (member_id.clone(), own.clone()),
                            1 => (format!("m-{i}"), own.clone()),
                            _ => (format!("m-{i}"), input.bytes(48)),
                        };
                        JoinGroupResponseMember::default()
                            .with_member_id(id)
                            .with_metadata(metadata)
                    })
                    .collect();
                let mut r = JoinGroupResponse::default()
                    .with_error_code(error)
                    .with_generation_id(generation)
                    .with_protocol_name(Some(protocol))
                    .with_leader(leader)
                    .with_member_id(member_id)
                    .with_members(members);
                if v >= 7 {
                    r = r.with_protocol_type(Some("consumer".into()));
                }
                if v >= 9 {
                    r = r.with_skip_assignment(input.byte() % 8 == 0);
                }
                r.into()
            }
            RequestBody::SyncGroup(req) => {
                let error = input.error();
                let assignment = if input.byte() % 4 == 0 {
                    input.bytes(64)
                } else {
                    let n = input.byte() % 7;
                    let partitions = (0..n)
                        .map(|_| {
                            let topic = if input.byte() % 8 == 0 { "u" } else { TOPIC };
                            TopicPartition::new(topic, input.partition())
                        })
                        .collect();
                    let a = Assignment {
                        partitions,
                        user_data: None,
                    };
                    encode_assignment(&a, ASSIGNMENT_VERSION).unwrap_or_default()
                };
                // What the client may take from this answer, decoded the
                // same way it decodes it.
                if let Ok(a) = decode_assignment(&assignment) {
                    self.granted.extend(a.partitions);
                }
                let mut r = SyncGroupResponse::default()
                    .with_error_code(error)
                    .with_assignment(assignment);
                if v >= 5 {
                    r = r
                        .with_protocol_type(Some("consumer".into()))
                        .with_protocol_name(req.protocol_name.clone());
                }
                r.into()
            }
            RequestBody::ConsumerGroupHeartbeat(req) => {
                let error = input.error();
                let member_id = match input.byte() % 4 {
                    0..=1 => Some(req.member_id.clone()),
                    2 => Some(format!("m-{}", input.byte() % 4)),
                    _ => None,
                };
                let epoch = match input.byte() {
                    b @ 0..=239 => i32::from(b % 8),
                    _ => input.i32(),
                };
                let interval = match input.byte() {
                    b @ 0..=239 => i32::from(b) * 50,
                    _ => input.i32(),
                };
                let assignment = (input.byte() % 3 == 0).then(|| {
                    let topics = (0..input.byte() % 3)
                        .map(|_| {
                            let (id, name) = match input.byte() % 8 {
                                0 => (OTHER_ID, OTHER),
                                1 => (Uuid::from_u64_pair(1, u64::from(input.byte())), ""),
                                _ => (TOPIC_ID, TOPIC),
                            };
                            let partitions: Vec<i32> =
                                (0..input.byte() % 5).map(|_| input.partition()).collect();
                            if !name.is_empty() {
                                self.granted.extend(
                                    partitions.iter().map(|p| TopicPartition::new(name, *p)),
                                );
                            }
                            CgTopicPartitions::default()
                                .with_topic_id(id)
                                .with_partitions(partitions)
                        })
                        .collect();
                    CgAssignment::default().with_topic_partitions(topics)
                });
                ConsumerGroupHeartbeatResponse::default()
                    .with_error_code(error)
                    .with_member_id(member_id)
                    .with_member_epoch(epoch)
                    .with_heartbeat_interval_ms(interval)
                    .with_assignment(assignment)
                    .into()
            }
            RequestBody::Heartbeat(_) => HeartbeatResponse::default()
                .with_error_code(input.error())
                .into(),
            RequestBody::LeaveGroup(req) => {
                let members = req
                    .members
                    .iter()
                    .map(|m| {
                        MemberResponse::default()
                            .with_member_id(m.member_id.clone())
                            .with_group_instance_id(m.group_instance_id.clone())
                            .with_error_code(input.error())
                    })
                    .collect();
                let mut r = LeaveGroupResponse::default().with_error_code(input.error());
                if v >= 3 {
                    r = r.with_members(members);
                }
                r.into()
            }
            RequestBody::OffsetCommit(req) => {
                let topics = req
                    .topics
                    .iter()
                    .map(|t| {
                        OffsetCommitResponseTopic::default()
                            .with_name(t.name.clone())
                            .with_topic_id(t.topic_id)
                            .with_partitions(
                                t.partitions
                                    .iter()
                                    .map(|p| {
                                        OffsetCommitResponsePartition::default()
                                            .with_partition_index(p.partition_index)
                                            .with_error_code(input.error())
                                    })
                                    .collect(),
                            )
                    })
                    .collect();
                OffsetCommitResponse::default().with_topics(topics).into()
            }
            RequestBody::OffsetFetch(req) => {
                let error = input.error();
                let mut wanted: Vec<i32> = Vec::new();
                if let Some(ts) = &req.topics {
                    wanted.extend(ts.iter().flat_map(|t| t.partition_indexes.iter().copied()));
                }
                for g in &req.groups {
                    if let Some(ts) = &g.topics {
                        wanted.extend(ts.iter().flat_map(|t| t.partition_indexes.iter().copied()));
                    }
                }
                let answers: Vec<(i32, i64, i16)> = wanted
                    .into_iter()
                    .map(|p| {
                        let offset = match input.byte() {
                            b @ 0..=199 => i64::from(b % 20),
                            200..=239 => -1,
                            _ => i64::from(input.i32()),
                        };
                        (p, offset, input.error())
                    })
                    .collect();
                if v >= 8 {
                    let group = req.groups.first().map(|g| g.group_id.clone());
                    let topics = OffsetFetchResponseTopics::default()
                        .with_name(TOPIC.into())
                        .with_topic_id(TOPIC_ID)
                        .with_partitions(
                            answers
                                .iter()
                                .map(|(p, o, e)| {
                                    OffsetFetchResponsePartitions::default()
                                        .with_partition_index(*p)
                                        .with_committed_offset(*o)
                                        .with_error_code(*e)
                                })
                                .collect(),
                        );
                    OffsetFetchResponse::default()
                        .with_groups(vec![OffsetFetchResponseGroup::default()
                            .with_group_id(group.unwrap_or_default())
                            .with_error_code(error)
                            .with_topics(vec![topics])])
                        .into()
                } else {
                    let topics = OffsetFetchResponseTopic::default()
                        .with_name(TOPIC.into())
                        .with_partitions(
                            answers
                                .iter()
                                .map(|(p, o, e)| {
                                    OffsetFetchResponsePartition::default()
                                        .with_partition_index(*p)
                                        .with_committed_offset(*o)
                                        .with_error_code(*e)
                                })
                                .collect(),
                        );
                    let mut r = OffsetFetchResponse::default().with_topics(vec![topics]);
                    if v >= 2 {
                        r = r.with_error_code(error);
                    }
                    r.into()
                }
            }
            RequestBody::ListOffsets(req) => {
                let topics = req
                    .topics
                    .iter()
                    .map(|t| {
                        ListOffsetsTopicResponse::default()
                            .with_name(t.name.clone())
                            .with_partitions(
                                t.partitions
                                    .iter()
                                    .map(|p| {
                                        ListOffsetsPartitionResponse::default()
                                            .with_partition_index(p.partition_index)
                                            .with_error_code(input.error())
                                            .with_offset(0)
                                    })
                                    .collect(),
                            )
                    })
                    .collect();
                ListOffsetsResponse::default().with_topics(topics).into()
            }
            // Fetches and anything else stay unanswered; the group does
            // not depend on them.
            _ => return None,
        })
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let setup = input.byte();
    let mut group = GroupConfig::new("g");
    group = match setup % 4 {
        0 => group.only_assignor(|| RangeAssignor),
        1 => group.only_assignor(|| RoundRobinAssignor),
        2 => group.only_assignor(StickyAssignor::default),
        _ => group.only_assignor(CooperativeStickyAssignor::default),
    };
    group.enable_auto_commit = setup & 4 == 0;
    group.await_revoke = setup & 8 != 0;
    if setup & 16 != 0 {
        group.group_instance_id = Some("static-1".into());
    }
    if setup & 32 != 0 {
        group.group_protocol = GroupProtocol::Consumer;
        group.remote_assignor = (setup & 64 != 0).then(|| "uniform".into());
    } else {
        group.session_timeout = Duration::from_secs(10);
        group.heartbeat_interval = Duration::from_secs(3);
    }
    group.max_poll_interval = Duration::from_secs(30);
    group.auto_commit_interval = Duration::from_secs(5);
    let mut config = Config::new([BrokerAddr::new("b", 9092)]);
    config.group = Some(group);
    config.consumer.auto_offset_reset = AutoOffsetReset::Earliest;
    #[allow(clippy::disallowed_methods)] // the one clock read, to start from
    let now = Instant::now();
    let Ok(client) = Client::new(config, now) else {
        return;
    };
    let mut s = Script {
        client,
        now,
        opening: Vec::new(),
        open: Vec::new(),
        inbox: Vec::new(),
        granted: BTreeSet::new(),
        member_id: String::new(),
    };
    let _ = s.client.consumer().subscribe(now, [TOPIC]);
    s.drain();
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        s.op(&mut input);
        s.drain();
    }
});
