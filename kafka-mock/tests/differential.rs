//! kafka-mock checked against Apache Kafka: the same request sequence goes
//! to a 3-broker mock and to a 3-broker Kafka cluster (kafka-testkit), and
//! the decoded responses are compared field by field.
//!
//! Before the comparison each response is normalised for what may
//! legitimately differ between two clusters: throttle times, node ids and
//! ports, which broker leads or coordinates, cluster and topic ids, fetch
//! session ids, member and producer ids (by order of appearance), and the
//! wording of error messages (only whether there is one is compared).
//! Record batches fetched back are decoded and compared batch header by
//! batch header and record by record, except for the timestamps of
//! transaction markers and the CRCs that cover those or a producer id.
//!
//! Every remaining difference must be in [`KNOWN`], each entry matching a
//! deviation documented in `kafka-mock/README.md`; an unlisted difference
//! fails the test, and so does a listed one that no longer happens, so the
//! list (and the README) stay true. Run with `--nocapture` to see every
//! difference and the ApiVersions comparison.
//!
//! The sequences (produce, fetch and admin; groups; transactions) run
//! twice: with the newest version of each API that both sides serve, and
//! with the oldest.
//!
//! Without a Kafka install the test is skipped with a message, unless
//! `KAFKA_REQUIRE_KAFKA=1`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_mock::MockCluster;
use kafka_proto::frame::{decode_response_frame, encode_request_frame, split_frame};
use kafka_proto::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_proto::messages::create_topics_request::CreatableTopic;
use kafka_proto::messages::delete_topics_request::DeleteTopicState;
use kafka_proto::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_proto::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_proto::messages::metadata_request::MetadataRequestTopic;
use kafka_proto::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_proto::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_proto::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_proto::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_proto::messages::*;
use kafka_proto::record::{BatchHeader, BatchOptions, Batches, Compression, RecordBatchBuilder};
use kafka_proto::{ApiKey, ErrorCode, RequestBody, ResponseBody, Uuid};
use kafka_testkit::KafkaCluster;

/// Bound on one request's answer. Kafka answers everything here in well
/// under a second; the margin is for a loaded 2-core machine.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on waiting for Kafka to make a change visible (topic creation
/// reaching every broker, the offsets topic coming up).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Metadata version of the test's own routing lookups (not compared):
/// flexible, and served by both sides.
const ROUTING_METADATA_VERSION: i16 = 12;

/// Differences that are known and documented in `kafka-mock/README.md`
/// ("Known deviations from Apache Kafka"). Each entry is a substring of
/// the difference's `step | path` text.
const KNOWN: &[(&str, &str)] = &[
    // The log stores only v2 batches, so Produce starts at v3 (Kafka 4
    // still takes v0-v2 and converts them).
    ("ApiVersions", "Produce.min"),
    // No fetch sessions: the mock answers session id 0 (KIP-227 allows a
    // broker to decline), so clients keep sending full fetches.
    ("fetch new session", ".session_id"),
    // Kafka serves Fetch v11+ from a follower replica (KIP-392; the
    // consumer's metadata makes it eligible even without a rack); the mock
    // answers NOT_LEADER_OR_FOLLOWER, which clients' tests rely on to
    // force a metadata refresh after `move_leader`.
    ("fetch from a follower", ""),
    // TxnOffsetCommit v6 (Kafka 4.4) names topics only by id; the mock's
    // transactional offsets are kept by topic name, so it serves up to v5.
    ("ApiVersions", "TxnOffsetCommit.max"),
    // A classic member with the consumer protocol type may join a live
    // KIP-848 consumer group in Kafka (a mixed group); the mock answers
    // INCONSISTENT_GROUP_PROTOCOL.
    (
        "classic join on a consumer group, consumer protocol",
        ".error_code",
    ),
    (
        "classic join on a consumer group, consumer protocol",
        ".member_id",
    ),
];

#[test]
fn mock_and_kafka_answer_the_same_requests_alike() {
    let Some(kafka) = KafkaCluster::shared() else {
        return;
    };
    let started = Instant::now();
    // The harness sets default.replication.factor=3 (Kafka's own default
    // is 1, like the mock's); topics created with replication -1 must
    // compare equal.
    let mut config = kafka_mock::ClusterConfig::default();
    config.default_replication = 3;
    // The harness shortens KIP-848 heartbeats and sessions; ConsumerGroup
    // heartbeat answers carry the interval.
    config.consumer_group_heartbeat_interval_ms =
        kafka_testkit::kafka::CONSUMER_GROUP_HEARTBEAT_INTERVAL_MS;
    config.consumer_group_session_timeout_ms =
        kafka_testkit::kafka::CONSUMER_GROUP_SESSION_TIMEOUT_MS;
    let mock = MockCluster::builder()
        .config(config)
        .brokers(3)
        .build()
        .unwrap();
    let kafka_nodes: Vec<SocketAddr> = kafka
        .node_ids()
        .into_iter()
        .map(|id| kafka.addr(id, kafka_testkit::Listener::Plaintext))
        .collect();
    let mut m = Peer::new("mock", mock.brokers()[0].1);
    let mut k = Peer::new("kafka", kafka_nodes[0]);
    let mut report = Report::default();

    let versions = compare_api_versions(&mut m, &mut k, &mut report);
    // Records carry timestamps a minute in the past: inside any broker's
    // accepted window, and the same on both sides.
    let base_ts = wall_ms() - 60_000;
    for pass in [Pass::Newest, Pass::Oldest] {
        let v = |key: ApiKey| {
            let (lo, hi) = versions[&key];
            match pass {
                Pass::Newest => hi,
                Pass::Oldest => lo,
            }
        };
        run_sequence(&mut m, &mut k, &mut report, pass, &v, base_ts);
        run_group_sequence(&mut m, &mut k, &mut report, pass, &v);
        run_txn_sequence(&mut m, &mut k, &mut report, pass, &v, base_ts);
    }
    eprintln!(
        "differential: {} steps compared in {:.1} s",
        report.steps,
        started.elapsed().as_secs_f64()
    );
    report.check();
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    Newest,
    Oldest,
}

impl Pass {
    fn tag(self) -> &'static str {
        match self {
            Pass::Newest => "new",
            Pass::Oldest => "old",
        }
    }
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

// ---------------------------------------------------------------------------
// A small raw-protocol client: one connection per node, bounded reads.
// ---------------------------------------------------------------------------

struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    correlation: i32,
}

impl Conn {
    fn open(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT)?;
        stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
        stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: BytesMut::new(),
            correlation: 0,
        })
    }

    fn call(&mut self, version: i16, body: RequestBody) -> io::Result<ResponseBody> {
        let key = body.api_key();
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key.id())
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some("differential".into()));
        let mut out = BytesMut::new();
        encode_request_frame(&header, &body, &mut out).map_err(io::Error::other)?;
        self.stream.write_all(&out)?;
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        let frame = loop {
            if let Some(frame) = split_frame(&mut self.buf, 64 << 20).map_err(io::Error::other)? {
                break frame;
            }
            if Instant::now() > deadline {
                return Err(io::ErrorKind::TimedOut.into());
            }
            let mut chunk = [0u8; 16 << 10];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("connection closed before the answer to {key:?} v{version}"),
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        };
        let (h, body) = decode_response_frame(frame, key, version).map_err(io::Error::other)?;
        if h.correlation_id != self.correlation {
            return Err(io::Error::other(format!(
                "correlation id {} for request {}",
                h.correlation_id, self.correlation
            )));
        }
        Ok(body)
    }
}

/// One side of the comparison: a cluster reached through its own brokers.
struct Peer {
    name: &'static str,
    bootstrap: SocketAddr,
    /// Node id to address, from Metadata.
    nodes: BTreeMap<i32, SocketAddr>,
    conns: HashMap<i32, Conn>,
    versions: BTreeMap<i16, (i16, i16)>,
}

impl Peer {
    fn new(name: &'static str, bootstrap: SocketAddr) -> Self {
        let mut peer = Self {
            name,
            bootstrap,
            nodes: BTreeMap::new(),
            conns: HashMap::new(),
            versions: BTreeMap::new(),
        };
        let md = peer.routing_metadata(&[]);
        for b in &md.brokers {
            let addr: SocketAddr = format!("{}:{}", b.host, b.port).parse().unwrap();
            peer.nodes.insert(b.node_id, addr);
        }
        assert_eq!(peer.nodes.len(), 3, "{name}: brokers {:?}", peer.nodes);
        peer
    }

    /// Sends to node `node`, or to the bootstrap broker for `None`.
    fn try_call(
        &mut self,
        node: Option<i32>,
        version: i16,
        body: impl Into<RequestBody>,
    ) -> io::Result<ResponseBody> {
        let key = node.unwrap_or(i32::MIN);
        let addr = match node {
            Some(n) => self.nodes[&n],
            None => self.bootstrap,
        };
        if let std::collections::hash_map::Entry::Vacant(e) = self.conns.entry(key) {
            e.insert(Conn::open(addr)?);
        }
        let result = self.conns.get_mut(&key).unwrap().call(version, body.into());
        if result.is_err() {
            // The connection is in an unknown state; the next call reconnects.
            self.conns.remove(&key);
        }
        result
    }

    fn call(
        &mut self,
        node: Option<i32>,
        version: i16,
        body: impl Into<RequestBody>,
    ) -> ResponseBody {
        let body = body.into();
        let key = body.api_key();
        self.try_call(node, version, body)
            .unwrap_or_else(|e| panic!("{}: {key:?} v{version} to {node:?}: {e}", self.name))
    }

    fn routing_metadata(&mut self, topics: &[&str]) -> MetadataResponse {
        let req = MetadataRequest::default()
            .with_topics(Some(
                topics
                    .iter()
                    .map(|t| MetadataRequestTopic::default().with_name(Some(t.to_string())))
                    .collect(),
            ))
            .with_allow_auto_topic_creation(false);
        match self.call(None, ROUTING_METADATA_VERSION, req) {
            ResponseBody::Metadata(md) => md,
            other => panic!("{other:?}"),
        }
    }

    /// Waits until every broker of this peer sees `topics` (or, with
    /// `exist` false, no longer sees them) with a leader for every
    /// partition and a full ISR. The mock is ready at once; Kafka takes a
    /// moment to spread a topic change to every broker.
    fn settle(&mut self, topics: &[&str], exist: bool) {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        let nodes: Vec<i32> = self.nodes.keys().copied().collect();
        loop {
            let mut ready = true;
            for &n in &nodes {
                let req = MetadataRequest::default()
                    .with_topics(Some(
                        topics
                            .iter()
                            .map(|t| MetadataRequestTopic::default().with_name(Some(t.to_string())))
                            .collect(),
                    ))
                    .with_allow_auto_topic_creation(false);
                let ResponseBody::Metadata(md) = self.call(Some(n), ROUTING_METADATA_VERSION, req)
                else {
                    panic!()
                };
                ready &= md.topics.iter().all(|t| {
                    if exist {
                        t.error_code == 0
                            && !t.partitions.is_empty()
                            && t.partitions.iter().all(|p| {
                                p.error_code == 0
                                    && p.leader_id >= 0
                                    && p.isr_nodes.len() == p.replica_nodes.len()
                            })
                    } else {
                        t.error_code != 0
                    }
                });
            }
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: topics {topics:?} did not settle (exist: {exist}) in {SETTLE_TIMEOUT:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn partition(&mut self, topic: &str, partition: i32) -> (i32, Vec<i32>) {
        let md = self.routing_metadata(&[topic]);
        let p = md.topics[0]
            .partitions
            .iter()
            .find(|p| p.partition_index == partition)
            .unwrap_or_else(|| panic!("{}: no {topic}-{partition}", self.name));
        (p.leader_id, p.replica_nodes.clone())
    }

    fn leader(&mut self, topic: &str, partition: i32) -> i32 {
        self.partition(topic, partition).0
    }

    /// A replica of the partition that does not lead it.
    fn follower(&mut self, topic: &str, partition: i32) -> i32 {
        let (leader, replicas) = self.partition(topic, partition);
        replicas.into_iter().find(|&r| r != leader).unwrap()
    }

    fn topic_id(&mut self, topic: &str) -> Uuid {
        self.routing_metadata(&[topic]).topics[0].topic_id
    }

    fn coordinator_ready(&mut self, node: i32, group: &str) -> bool {
        let req = OffsetFetchRequest::default().with_group_id(group.into());
        match self.try_call(Some(node), 7, req) {
            Ok(ResponseBody::OffsetFetch(r)) => r.error_code == 0,
            _ => false,
        }
    }

    fn first_node(&self) -> i32 {
        *self.nodes.keys().next().unwrap()
    }

    /// The group coordinator, asked of any broker until it answers without
    /// error: Kafka creates its offsets topic on the first lookup and
    /// answers COORDINATOR_NOT_AVAILABLE until it is up.
    fn coordinator(&mut self, group: &str) -> i32 {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            let req = FindCoordinatorRequest::default()
                .with_key(group.into())
                .with_key_type(0);
            let ResponseBody::FindCoordinator(r) = self.call(None, 3, req) else {
                panic!()
            };
            // Kafka names the coordinator as soon as the offsets
            // partition has a leader, but answers NOT_COORDINATOR or
            // COORDINATOR_LOAD_IN_PROGRESS until it has loaded it: ask it
            // for the group's offsets until it answers without error.
            if r.error_code == 0 && self.coordinator_ready(r.node_id, group) {
                return r.node_id;
            }
            assert!(
                Instant::now() < deadline,
                "{}: no coordinator for {group}: {r:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

// ---------------------------------------------------------------------------
// ApiVersions
// ---------------------------------------------------------------------------

/// The APIs the sequence uses.
const USED: &[ApiKey] = &[
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::Metadata,
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::FindCoordinator,
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::JoinGroup,
    ApiKey::SyncGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::DescribeGroups,
    ApiKey::ListGroups,
    ApiKey::ConsumerGroupHeartbeat,
    ApiKey::ConsumerGroupDescribe,
    ApiKey::InitProducerId,
    ApiKey::AddPartitionsToTxn,
    ApiKey::AddOffsetsToTxn,
    ApiKey::TxnOffsetCommit,
    ApiKey::EndTxn,
];

/// Compares the version ranges of every API key and returns, for each API
/// the sequence uses, the oldest and newest version that kafka-proto, the
/// mock and Kafka all know.
fn compare_api_versions(
    m: &mut Peer,
    k: &mut Peer,
    report: &mut Report,
) -> HashMap<ApiKey, (i16, i16)> {
    let v = ApiKey::ApiVersions.versions().end().to_owned();
    for peer in [&mut *m, &mut *k] {
        let req = ApiVersionsRequest::default()
            .with_client_software_name("kafka-mock-differential".into())
            .with_client_software_version("0".into());
        let ResponseBody::ApiVersions(r) = peer.call(None, v, req) else {
            panic!()
        };
        assert_eq!(r.error_code, 0, "{}: {r:?}", peer.name);
        peer.versions = r
            .api_keys
            .iter()
            .map(|a| (a.api_key, (a.min_version, a.max_version)))
            .collect();
    }
    let keys: BTreeSet<i16> = m
        .versions
        .keys()
        .chain(k.versions.keys())
        .copied()
        .collect();
    let mut kafka_only = Vec::new();
    for key in keys {
        let name =
            ApiKey::try_from(key).map_or_else(|_| format!("key {key}"), |k| format!("{k:?}"));
        match (m.versions.get(&key), k.versions.get(&key)) {
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => {
                eprintln!(
                    "ApiVersions {name}: mock {}-{} kafka {}-{}",
                    a.0, a.1, b.0, b.1
                );
                // Two kinds of difference are expected by design and
                // documented in the README: the mock also serves old
                // versions that Kafka 4 removed (KIP-896), and its newest
                // version of each API is kafka-proto's, whose schemas may
                // be older than the broker's.
                let removed_by_kafka = a.0 < b.0;
                let proto_max = ApiKey::try_from(key).map(|k| *k.versions().end()).ok();
                let newer_than_proto = a.1 < b.1 && Some(a.1) == proto_max;
                if !removed_by_kafka {
                    report.differ("ApiVersions", &format!("{name}.min"), a.0, b.0);
                }
                if !newer_than_proto {
                    report.differ("ApiVersions", &format!("{name}.max"), a.1, b.1);
                }
            }
            (Some(a), None) => {
                report.differ("ApiVersions", &name, format!("{}-{}", a.0, a.1), "absent");
            }
            (None, Some(b)) => kafka_only.push(format!("{name} {}-{}", b.0, b.1)),
            (None, None) => unreachable!(),
        }
    }
    // The mock serves a subset of Kafka's APIs by design; listed, not compared.
    eprintln!(
        "ApiVersions: served by Kafka only: {}",
        kafka_only.join(", ")
    );
    report.steps += 1;
    USED.iter()
        .map(|&key| {
            let ours = key.versions();
            let (ml, mh) = m.versions[&key.id()];
            let (kl, kh) = k.versions[&key.id()];
            let lo = ml.max(kl).max(*ours.start());
            let hi = mh.min(kh).min(*ours.end());
            assert!(lo <= hi, "{key:?}: no common version");
            (key, (lo, hi))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The sequence
// ---------------------------------------------------------------------------

/// Runs `f` on the mock, then on Kafka.
fn each(peers: &mut [&mut Peer; 2], mut f: impl FnMut(&mut Peer, usize) -> Flat) -> [Flat; 2] {
    let mock = f(&mut *peers[0], 0);
    let kafka = f(&mut *peers[1], 1);
    [mock, kafka]
}

fn run_sequence(
    m: &mut Peer,
    k: &mut Peer,
    report: &mut Report,
    pass: Pass,
    v: &dyn Fn(ApiKey) -> i16,
    base_ts: i64,
) {
    let tag = pass.tag();
    let topic = format!("diff-{tag}-a");
    let single = format!("diff-{tag}-b");
    let group = format!("diff-{tag}-group");
    let mut peers = [m, k];
    let label = |what: &str, key: ApiKey| format!("{tag} {key:?} v{} {what}", v(key));

    // Metadata before anything exists: unknown and invalid names, never
    // created (auto-creation off from v4; older versions always create,
    // so they ask only for the invalid name).
    let vm = v(ApiKey::Metadata);
    let unknown = format!("diff-{tag}-missing");
    let names: Vec<&str> = if vm >= 4 {
        vec![unknown.as_str(), "bad name!"]
    } else {
        vec!["bad name!"]
    };
    let req = MetadataRequest::default()
        .with_topics(Some(
            names
                .iter()
                .map(|t| MetadataRequestTopic::default().with_name(Some(t.to_string())))
                .collect(),
        ))
        .with_allow_auto_topic_creation(vm < 4);
    report.compare(
        &label("unknown and invalid topics", ApiKey::Metadata),
        each(&mut peers, |p, _| ask(p, None, vm, req.clone())),
    );

    // CreateTopics: two good topics, then the error cases, one per request
    // so that each answer is compared on its own.
    let vc = v(ApiKey::CreateTopics);
    let creatable = |name: &str, partitions: i32, rf: i16| {
        CreatableTopic::default()
            .with_name(name.into())
            .with_num_partitions(partitions)
            .with_replication_factor(rf)
    };
    let create = |topics: Vec<CreatableTopic>, validate_only: bool| {
        CreateTopicsRequest::default()
            .with_topics(topics)
            .with_timeout_ms(10_000)
            .with_validate_only(validate_only)
    };
    let cases: Vec<(&str, CreateTopicsRequest)> = vec![
        (
            "ok",
            create(
                vec![creatable(&topic, 3, 3), creatable(&single, 1, -1)],
                false,
            ),
        ),
        ("exists", create(vec![creatable(&topic, 3, 3)], false)),
        (
            "invalid name",
            create(vec![creatable("bad/name", 1, 1)], false),
        ),
        (
            "name too long",
            create(vec![creatable(&"x".repeat(250), 1, 1)], false),
        ),
        (
            "zero partitions",
            create(vec![creatable(&format!("diff-{tag}-p0"), 0, 1)], false),
        ),
        (
            "replication above brokers",
            create(vec![creatable(&format!("diff-{tag}-rf4"), 1, 4)], false),
        ),
        (
            "zero replication",
            create(vec![creatable(&format!("diff-{tag}-rf0"), 1, 0)], false),
        ),
        (
            "too many partitions",
            create(
                vec![creatable(&format!("diff-{tag}-huge"), 100_000, 1)],
                false,
            ),
        ),
        (
            "same topic twice",
            create(
                vec![
                    creatable(&format!("diff-{tag}-twice"), 1, 1),
                    creatable(&format!("diff-{tag}-twice"), 1, 1),
                ],
                false,
            ),
        ),
        (
            "validate only",
            create(vec![creatable(&format!("diff-{tag}-dry"), 2, 1)], true),
        ),
    ];
    for (what, req) in cases {
        let label = label(&format!("create {what}"), ApiKey::CreateTopics);
        let answers = each(&mut peers, |p, _| {
            let r = ask(p, Some(p.first_node()), vc, req.clone());
            if what == "ok" {
                p.settle(&[&topic, &single], true);
            }
            r
        });
        report.compare(&label, answers);
    }

    // Metadata of the new topics, as a client sees it.
    let req = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic.clone())),
            MetadataRequestTopic::default().with_name(Some(single.clone())),
        ]))
        .with_allow_auto_topic_creation(vm < 4);
    report.compare(
        &label("created topics", ApiKey::Metadata),
        each(&mut peers, |p, _| ask(p, None, vm, req.clone())),
    );
    // All topics (null list): this pass's topics. Others' leftovers are
    // not compared, nor internal topics, which the mock does not list
    // (see the README).
    // (Version 0 spells "all" as an empty list.)
    let all = MetadataRequest::default()
        .with_topics(if vm == 0 { Some(Vec::new()) } else { None })
        .with_allow_auto_topic_creation(vm < 4);
    let prefix = format!("diff-{tag}-");
    report.compare(
        &label("all topics", ApiKey::Metadata),
        each(&mut peers, |p, _| match p.call(None, vm, all.clone()) {
            ResponseBody::Metadata(mut r) => {
                r.topics
                    .retain(|t| t.name.as_deref().is_some_and(|n| n.starts_with(&prefix)));
                normalise(p, ResponseBody::Metadata(r))
            }
            other => panic!("{other:?}"),
        }),
    );
    // By topic id (v10 and later): a known one and an unknown one.
    if vm >= 10 {
        report.compare(
            &label("by topic id", ApiKey::Metadata),
            each(&mut peers, |p, _| {
                let id = p.topic_id(&topic);
                let req = MetadataRequest::default()
                    .with_topics(Some(vec![
                        MetadataRequestTopic::default()
                            .with_name(None)
                            .with_topic_id(id),
                        MetadataRequestTopic::default()
                            .with_name(None)
                            .with_topic_id(Uuid::from_u64_pair(7, 7)),
                    ]))
                    .with_allow_auto_topic_creation(false);
                ask(p, None, vm, req)
            }),
        );
    }

    // Produce.
    let vp = v(ApiKey::Produce);
    let batch1 = {
        let mut b = RecordBatchBuilder::new(BatchOptions::default());
        b.append_with_headers(
            base_ts,
            Some(b"k1"),
            Some(b"v1"),
            [("h", Some(&b"x"[..])), ("n", None)],
        )
        .unwrap();
        b.append(base_ts + 10, None, Some(b"v2")).unwrap();
        b.append(base_ts + 5, Some(b"k3"), None).unwrap();
        b.finish().unwrap()
    };
    let batch2 = {
        let mut b = RecordBatchBuilder::new(BatchOptions {
            compression: Compression::Gzip,
            ..BatchOptions::default()
        });
        b.append(base_ts + 20, Some(b"k4"), Some(b"gz4")).unwrap();
        b.append(base_ts + 20, Some(b"k5"), Some(b"gz5")).unwrap();
        b.finish().unwrap()
    };
    // Kafka 4 refuses create times more than an hour ahead of its clock
    // (message.timestamp.after.max.ms).
    let future = {
        let mut b = RecordBatchBuilder::new(BatchOptions::default());
        b.append(base_ts, None, Some(b"now")).unwrap();
        b.append(wall_ms() + 2 * 3_600_000, None, Some(b"later"))
            .unwrap();
        b.finish().unwrap()
    };
    let corrupt = {
        let mut b = BytesMut::from(&batch1[..]);
        let last = b.len() - 1;
        b[last] ^= 0xff;
        b.freeze()
    };
    let two_batches = {
        let mut b = BytesMut::from(&batch1[..]);
        b.extend_from_slice(&batch1);
        b.freeze()
    };
    let produce = |p: &mut Peer, name: &str, partition: i32, records: Option<Bytes>, acks: i16| {
        let id = if vp >= 13 {
            p.topic_id(name)
        } else {
            Uuid::ZERO
        };
        ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(name.into())
                .with_topic_id(id)
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(records)])])
    };
    type Target = fn(&mut Peer, &str) -> Option<i32>;
    let to_leader: Target = |p, t| Some(p.leader(t, 0));
    let to_follower: Target = |p, t| Some(p.follower(t, 0));
    let to_first: Target = |p, _| Some(p.first_node());
    // What, topic, partition, records, acks, where to.
    type ProduceCase<'a> = (&'a str, &'a str, i32, Option<Bytes>, i16, Target);
    let cases: Vec<ProduceCase> = vec![
        (
            "first batch",
            &topic,
            0,
            Some(batch1.clone()),
            -1,
            to_leader,
        ),
        ("gzip batch", &topic, 0, Some(batch2.clone()), -1, to_leader),
        (
            "to a follower",
            &topic,
            0,
            Some(batch1.clone()),
            -1,
            to_follower,
        ),
        (
            "unknown partition",
            &topic,
            99,
            Some(batch1.clone()),
            -1,
            to_leader,
        ),
        ("bad crc", &topic, 0, Some(corrupt.clone()), -1, to_leader),
        (
            "two batches",
            &topic,
            0,
            Some(two_batches.clone()),
            -1,
            to_leader,
        ),
        ("acks 2", &topic, 0, Some(batch1.clone()), 2, to_leader),
        (
            "timestamp far ahead",
            &topic,
            0,
            Some(future.clone()),
            -1,
            to_leader,
        ),
        // acks=1 only where nothing reads the log afterwards: Kafka's high
        // watermark then moves when the followers have fetched.
        ("acks 1", &single, 0, Some(batch1.clone()), 1, to_leader),
    ];
    for (what, name, partition, records, acks, target) in cases {
        let label = label(&format!("produce {what}"), ApiKey::Produce);
        report.compare(
            &label,
            each(&mut peers, |p, _| {
                let node = target(p, name);
                let req = produce(p, name, partition, records.clone(), acks);
                ask(p, node, vp, req)
            }),
        );
    }
    // An unknown topic: by name before v13, by an unknown id from v13.
    report.compare(
        &label("produce unknown topic", ApiKey::Produce),
        each(&mut peers, |p, _| {
            let mut req = produce(p, &topic, 0, Some(batch1.clone()), -1);
            req.topic_data[0].name = unknown.clone();
            req.topic_data[0].topic_id = if vp >= 13 {
                Uuid::from_u64_pair(7, 7)
            } else {
                Uuid::ZERO
            };
            let node = to_first(p, &topic);
            ask(p, node, vp, req)
        }),
    );

    // Fetch: the log written above (3 + 2 records at offsets 0..5).
    let vf = v(ApiKey::Fetch);
    let fetch = |p: &mut Peer, name: &str, partition: i32, offset: i64, session_epoch: i32| {
        let id = if vf >= 13 {
            p.topic_id(name)
        } else {
            Uuid::ZERO
        };
        FetchRequest::default()
            .with_replica_id(-1)
            .with_max_wait_ms(0)
            .with_min_bytes(0)
            .with_max_bytes(1 << 20)
            .with_isolation_level(0)
            .with_session_id(0)
            .with_session_epoch(session_epoch)
            .with_topics(vec![FetchTopic::default()
                .with_topic(name.into())
                .with_topic_id(id)
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_current_leader_epoch(-1)
                    .with_fetch_offset(offset)
                    .with_log_start_offset(-1)
                    .with_partition_max_bytes(1 << 20)])])
    };
    let cases: Vec<(&str, i32, i64, i32, Target)> = vec![
        ("from 0", 0, 0, -1, to_leader),
        ("from inside a batch", 0, 1, -1, to_leader),
        ("from the second batch", 0, 3, -1, to_leader),
        ("at the end", 0, 5, -1, to_leader),
        ("past the end", 0, 99, -1, to_leader),
        ("negative offset", 0, -5, -1, to_leader),
        ("unknown partition", 99, 0, -1, to_leader),
        ("new session", 0, 0, 0, to_leader),
        ("from a follower", 0, 0, -1, to_follower),
    ];
    // The fourth field is the fetch session epoch (0 asks for a session).
    for (what, partition, offset, session_epoch, target) in cases {
        if session_epoch == 0 && vf < 7 {
            continue;
        }
        let label = label(&format!("fetch {what}"), ApiKey::Fetch);
        report.compare(
            &label,
            each(&mut peers, |p, _| {
                let node = target(p, &topic);
                let req = fetch(p, &topic, partition, offset, session_epoch);
                ask(p, node, vf, req)
            }),
        );
    }
    // read_committed, and a leader epoch from the future (v9 and later).
    report.compare(
        &label("fetch read_committed", ApiKey::Fetch),
        each(&mut peers, |p, _| {
            let node = to_leader(p, &topic);
            let req = fetch(p, &topic, 0, 0, -1).with_isolation_level(1);
            ask(p, node, vf, req)
        }),
    );
    if vf >= 9 {
        report.compare(
            &label("fetch with a future leader epoch", ApiKey::Fetch),
            each(&mut peers, |p, _| {
                let node = to_leader(p, &topic);
                let mut req = fetch(p, &topic, 0, 0, -1);
                req.topics[0].partitions[0].current_leader_epoch = 5;
                ask(p, node, vf, req)
            }),
        );
    }
    report.compare(
        &label("fetch unknown topic", ApiKey::Fetch),
        each(&mut peers, |p, _| {
            let mut req = fetch(p, &topic, 0, 0, -1);
            req.topics[0].topic = unknown.clone();
            req.topics[0].topic_id = if vf >= 13 {
                Uuid::from_u64_pair(7, 7)
            } else {
                Uuid::ZERO
            };
            let node = to_first(p, &topic);
            ask(p, node, vf, req)
        }),
    );

    // ListOffsets: the records carry timestamps T, T+10, T+5, T+20, T+20.
    let vl = v(ApiKey::ListOffsets);
    let list = |name: &str, partition: i32, ts: i64, isolation: i8| {
        ListOffsetsRequest::default()
            .with_replica_id(-1)
            .with_isolation_level(isolation)
            .with_timeout_ms(10_000)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name.into())
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_current_leader_epoch(-1)
                    .with_timestamp(ts)
                    .with_max_num_offsets(1)])])
    };
    let mut cases: Vec<(String, &str, i32, i64, i8)> = vec![
        ("earliest".into(), &topic, 0, -2, 0),
        ("latest".into(), &topic, 0, -1, 0),
        ("by exact timestamp".into(), &topic, 0, base_ts + 10, 0),
        (
            "by timestamp between records".into(),
            &topic,
            0,
            base_ts + 6,
            0,
        ),
        (
            "by timestamp of the later batch".into(),
            &topic,
            0,
            base_ts + 11,
            0,
        ),
        (
            "by timestamp after all".into(),
            &topic,
            0,
            base_ts + 1000,
            0,
        ),
        ("by timestamp 0".into(), &topic, 0, 0, 0),
        ("empty partition latest".into(), &topic, 1, -1, 0),
        ("empty partition by timestamp".into(), &topic, 1, base_ts, 0),
        ("unknown partition".into(), &topic, 99, -1, 0),
        ("unknown topic".into(), &unknown, 0, -1, 0),
        ("invalid timestamp -7".into(), &topic, 0, -7, 0),
    ];
    if vl >= 2 {
        cases.push(("latest read_committed".into(), &topic, 0, -1, 1));
    }
    if vl >= 7 {
        cases.push(("max timestamp".into(), &topic, 0, -3, 0));
        cases.push(("max timestamp empty".into(), &topic, 1, -3, 0));
    }
    if vl >= 8 {
        cases.push(("earliest local".into(), &topic, 0, -4, 0));
    }
    if vl >= 9 {
        cases.push(("earliest pending upload".into(), &topic, 0, -5, 0));
    }
    for (what, name, partition, ts, isolation) in cases {
        let label = label(&format!("list offsets {what}"), ApiKey::ListOffsets);
        report.compare(
            &label,
            each(&mut peers, |p, _| {
                let node = if name == topic && partition < 3 {
                    Some(p.leader(name, partition))
                } else {
                    Some(p.first_node())
                };
                ask(p, node, vl, list(name, partition, ts, isolation))
            }),
        );
    }
    report.compare(
        &label("list offsets to a follower", ApiKey::ListOffsets),
        each(&mut peers, |p, _| {
            let node = Some(p.follower(&topic, 0));
            ask(p, node, vl, list(&topic, 0, -1, 0))
        }),
    );
    if vl >= 4 {
        report.compare(
            &label(
                "list offsets with a future leader epoch",
                ApiKey::ListOffsets,
            ),
            each(&mut peers, |p, _| {
                let node = Some(p.leader(&topic, 0));
                let mut req = list(&topic, 0, -1, 0);
                req.topics[0].partitions[0].current_leader_epoch = 5;
                ask(p, node, vl, req)
            }),
        );
    }

    // FindCoordinator (after the coordinator is up on both sides).
    let vfc = v(ApiKey::FindCoordinator);
    let coordinators = [peers[0].coordinator(&group), peers[1].coordinator(&group)];
    let find = if vfc >= 4 {
        FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![group.clone()])
    } else {
        FindCoordinatorRequest::default()
            .with_key(group.clone())
            .with_key_type(0)
    };
    report.compare(
        &label("find coordinator", ApiKey::FindCoordinator),
        each(&mut peers, |p, _| ask(p, None, vfc, find.clone())),
    );
    // The single-key form, with its error message field (v1 to v3).
    if vfc >= 4 {
        let single_key = FindCoordinatorRequest::default()
            .with_key(group.clone())
            .with_key_type(0);
        report.compare(
            &format!("{tag} FindCoordinator v3 find coordinator"),
            each(&mut peers, |p, _| ask(p, None, 3, single_key.clone())),
        );
    }
    if vfc >= 1 {
        let bad = find.clone().with_key_type(5);
        report.compare(
            &label("find coordinator bad key type", ApiKey::FindCoordinator),
            each(&mut peers, |p, _| ask(p, None, vfc, bad.clone())),
        );
    }

    // OffsetCommit without a group (generation -1, no member), as a client
    // that assigns partitions itself commits.
    let voc = v(ApiKey::OffsetCommit);
    let commit = |p: &mut Peer, name: &str, parts: &[(i32, i64)]| {
        let id = if voc >= 10 {
            p.topic_id(name)
        } else {
            Uuid::ZERO
        };
        OffsetCommitRequest::default()
            .with_group_id(group.clone())
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(String::new())
            .with_retention_time_ms(-1)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(name.into())
                .with_topic_id(id)
                .with_partitions(
                    parts
                        .iter()
                        .map(|&(partition, offset)| {
                            OffsetCommitRequestPartition::default()
                                .with_partition_index(partition)
                                .with_committed_offset(offset)
                                .with_committed_leader_epoch(-1)
                                .with_commit_timestamp(-1)
                                .with_committed_metadata(Some("meta".into()))
                        })
                        .collect(),
                )])
    };
    // What, topic, (partition, offset) pairs.
    type CommitCase<'a> = (&'a str, &'a str, Vec<(i32, i64)>);
    let cases: Vec<CommitCase> = vec![
        ("ok", &topic, vec![(0, 3), (1, 0)]),
        ("unknown partition", &topic, vec![(99, 1)]),
        ("offset past the end", &topic, vec![(2, 1000)]),
    ];
    for (what, name, parts) in cases {
        let label = label(&format!("offset commit {what}"), ApiKey::OffsetCommit);
        let answers = each(&mut peers, |p, side| {
            let req = commit(p, name, &parts);
            ask(p, Some(coordinators[side]), voc, req)
        });
        report.compare(&label, answers);
    }
    report.compare(
        &label("offset commit unknown topic", ApiKey::OffsetCommit),
        each(&mut peers, |p, side| {
            let mut req = commit(p, &topic, &[(0, 1)]);
            req.topics[0].name = unknown.clone();
            req.topics[0].topic_id = if voc >= 10 {
                Uuid::from_u64_pair(7, 7)
            } else {
                Uuid::ZERO
            };
            ask(p, Some(coordinators[side]), voc, req)
        }),
    );
    report.compare(
        &label("offset commit to a non-coordinator", ApiKey::OffsetCommit),
        each(&mut peers, |p, side| {
            let other = p
                .nodes
                .keys()
                .copied()
                .find(|&n| n != coordinators[side])
                .unwrap();
            let req = commit(p, &topic, &[(0, 1)]);
            ask(p, Some(other), voc, req)
        }),
    );
    // A member and generation of a group that does not exist.
    let ghost = format!("diff-{tag}-ghost");
    report.compare(
        &label(
            "offset commit as a member of an unknown group",
            ApiKey::OffsetCommit,
        ),
        each(&mut peers, |p, _| {
            let node = p.coordinator(&ghost);
            let mut req = commit(p, &topic, &[(0, 1)]);
            req.group_id = ghost.clone();
            req.generation_id_or_member_epoch = 5;
            req.member_id = "member-1".into();
            ask(p, Some(node), voc, req)
        }),
    );

    // OffsetFetch: committed, never committed, all, and an unknown group.
    let vof = v(ApiKey::OffsetFetch);
    let offset_fetch = |p: &mut Peer, g: &str, parts: Option<Vec<i32>>| {
        if vof >= 8 {
            let id = if vof >= 10 {
                p.topic_id(&topic)
            } else {
                Uuid::ZERO
            };
            OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                .with_group_id(g.into())
                .with_member_epoch(-1)
                .with_topics(parts.map(|parts| {
                    vec![OffsetFetchRequestTopics::default()
                        .with_name(topic.clone())
                        .with_topic_id(id)
                        .with_partition_indexes(parts)]
                }))])
        } else {
            OffsetFetchRequest::default()
                .with_group_id(g.into())
                .with_topics(parts.map(|parts| {
                    vec![OffsetFetchRequestTopic::default()
                        .with_name(topic.clone())
                        .with_partition_indexes(parts)]
                }))
        }
    };
    let unknown_group = format!("diff-{tag}-nogroup");
    let cases: Vec<(&str, &str, Option<Vec<i32>>)> = vec![
        ("committed and not", &group, Some(vec![0, 1, 2, 99])),
        ("all topics", &group, None),
        ("unknown group", &unknown_group, Some(vec![0])),
        ("unknown group all topics", &unknown_group, None),
    ];
    for (what, g, parts) in cases {
        // "All topics" (null) exists from v2.
        if parts.is_none() && vof < 2 {
            continue;
        }
        let label = label(&format!("offset fetch {what}"), ApiKey::OffsetFetch);
        report.compare(
            &label,
            each(&mut peers, |p, side| {
                let node = if g == group {
                    coordinators[side]
                } else {
                    p.coordinator(g)
                };
                let req = offset_fetch(p, g, parts.clone());
                ask(p, Some(node), vof, req)
            }),
        );
    }

    // DeleteTopics: one that exists, one that does not (and, from v6, an
    // unknown id); then the deleted topic is gone from Metadata.
    let vd = v(ApiKey::DeleteTopics);
    let delete = |names: &[&str], id: Option<Uuid>| {
        let req = DeleteTopicsRequest::default().with_timeout_ms(10_000);
        if vd >= 6 {
            let mut topics: Vec<DeleteTopicState> = names
                .iter()
                .map(|n| DeleteTopicState::default().with_name(Some(n.to_string())))
                .collect();
            if let Some(id) = id {
                topics.push(DeleteTopicState::default().with_topic_id(id));
            }
            req.with_topics(topics)
        } else {
            req.with_topic_names(names.iter().map(|n| n.to_string()).collect())
        }
    };
    let cases: Vec<(&str, DeleteTopicsRequest)> = vec![
        ("ok", delete(&[&single], None)),
        ("unknown", delete(&[&unknown], None)),
        ("unknown id", delete(&[], Some(Uuid::from_u64_pair(7, 7)))),
    ];
    for (what, req) in cases {
        if req.topics.is_empty() && req.topic_names.is_empty() {
            continue;
        }
        let label = label(&format!("delete topics {what}"), ApiKey::DeleteTopics);
        report.compare(
            &label,
            each(&mut peers, |p, _| {
                let r = ask(p, Some(p.first_node()), vd, req.clone());
                if what == "ok" {
                    p.settle(&[&single], false);
                }
                r
            }),
        );
    }
    let req = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(single.clone()))
        ]))
        .with_allow_auto_topic_creation(vm < 4);
    if vm >= 4 {
        report.compare(
            &label("deleted topic", ApiKey::Metadata),
            each(&mut peers, |p, _| ask(p, None, vm, req.clone())),
        );
    }
    // Each pass names its own topics; this one's go before the next.
    for p in peers {
        let node = Some(p.first_node());
        p.call(node, vd, delete(&[&topic], None));
    }
}

// ---------------------------------------------------------------------------
// The group sequence: a classic group, then a KIP-848 consumer group
// ---------------------------------------------------------------------------

/// A heartbeat step: what it shows, which member (by order of appearance;
/// `None` for one the group does not know), the epoch relative to the
/// member's, and the partitions it says it owns.
type HeartbeatCase = (&'static str, Option<usize>, i32, Option<Vec<i32>>);

/// Member ids differ between clusters (Kafka draws them at random): each
/// one seen is replaced by its order of appearance on that side.
#[derive(Default)]
struct Ids(Vec<String>, i32);

impl Ids {
    fn learn(&mut self, id: &str) {
        if !id.is_empty() && !self.0.iter().any(|x| x == id) {
            self.0.push(id.to_string());
        }
    }

    fn get(&self, i: usize) -> String {
        self.0.get(i).cloned().unwrap_or_default()
    }

    fn apply(&self, flat: Flat) -> Flat {
        flat.into_iter()
            .map(|(mut path, mut value)| {
                for (i, id) in self.0.iter().enumerate() {
                    path = path.replace(id.as_str(), &format!("<member{i}>"));
                    value = value.replace(id.as_str(), &format!("<member{i}>"));
                }
                (path, value)
            })
            .collect()
    }
}

/// Sends a group request to the peer's coordinator of `group`, learns the
/// member id an answer hands out, and normalises the answer.
fn ask_group(
    p: &mut Peer,
    ids: &mut Ids,
    node: i32,
    version: i16,
    body: impl Into<RequestBody>,
) -> Flat {
    let r = p.call(Some(node), version, body);
    match &r {
        ResponseBody::JoinGroup(j) => ids.learn(&j.member_id),
        ResponseBody::ConsumerGroupHeartbeat(h) => {
            ids.learn(h.member_id.as_deref().unwrap_or(""));
            // The member epoch to send next (Kafka's epochs are compared,
            // the test just follows them).
            if h.error_code == 0 && h.member_epoch > 0 {
                ids.1 = h.member_epoch;
            }
        }
        _ => {}
    }
    ids.apply(normalise(p, r))
}

fn run_group_sequence(
    m: &mut Peer,
    k: &mut Peer,
    report: &mut Report,
    pass: Pass,
    v: &dyn Fn(ApiKey) -> i16,
) {
    let tag = pass.tag();
    let topic = format!("diff-{tag}-grp");
    let classic = format!("diff-{tag}-classic");
    let consumer = format!("diff-{tag}-consumer");
    let mut peers = [m, k];
    let label = |what: &str, key: ApiKey| format!("{tag} {key:?} v{} {what}", v(key));
    let vct = v(ApiKey::CreateTopics);
    for p in peers.iter_mut() {
        let req = CreateTopicsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![
                kafka_proto::messages::create_topics_request::CreatableTopic::default()
                    .with_name(topic.clone())
                    .with_num_partitions(2)
                    .with_replication_factor(3),
            ]);
        let node = Some(p.first_node());
        p.call(node, vct, req);
        p.settle(&[&topic], true);
    }
    let mut ids = [Ids::default(), Ids::default()];

    // ---- classic: join (with the member id round trip from v4), sync,
    // heartbeat, commit, fetch, describe, list, leave.
    let nodes = [
        peers[0].coordinator(&classic),
        peers[1].coordinator(&classic),
    ];
    let vj = v(ApiKey::JoinGroup);
    let subscription = {
        let s = ConsumerProtocolSubscription::default().with_topics(vec![topic.clone()]);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&0i16.to_be_bytes());
        kafka_proto::Message::encode(&s, &mut buf, 0).unwrap();
        buf.freeze()
    };
    let join = |member: String| {
        JoinGroupRequest::default()
            .with_group_id(classic.clone())
            .with_session_timeout_ms(30_000)
            .with_rebalance_timeout_ms(30_000)
            .with_member_id(member)
            .with_protocol_type("consumer".into())
            .with_protocols(vec![
                kafka_proto::messages::join_group_request::JoinGroupRequestProtocol::default()
                    .with_name("range".into())
                    .with_metadata(subscription.clone()),
            ])
    };
    report.compare(
        &label("classic join", ApiKey::JoinGroup),
        each(&mut peers, |p, side| {
            ask_group(p, &mut ids[side], nodes[side], vj, join(String::new()))
        }),
    );
    if vj >= 4 {
        report.compare(
            &label("classic join with the member id", ApiKey::JoinGroup),
            each(&mut peers, |p, side| {
                let id = ids[side].get(0);
                ask_group(p, &mut ids[side], nodes[side], vj, join(id))
            }),
        );
    }
    let vs = v(ApiKey::SyncGroup);
    report.compare(
        &label("classic sync", ApiKey::SyncGroup),
        each(&mut peers, |p, side| {
            let id = ids[side].get(0);
            let mut req = SyncGroupRequest::default()
                .with_group_id(classic.clone())
                .with_generation_id(1)
                .with_member_id(id.clone())
                .with_assignments(vec![
                    kafka_proto::messages::sync_group_request::SyncGroupRequestAssignment::default(
                    )
                    .with_member_id(id)
                    .with_assignment(Bytes::from_static(b"\0\0assignment")),
                ]);
            if vs >= 5 {
                req.protocol_type = Some("consumer".into());
                req.protocol_name = Some("range".into());
            }
            ask_group(p, &mut ids[side], nodes[side], vs, req)
        }),
    );
    let vh = v(ApiKey::Heartbeat);
    for (what, generation, known) in [
        ("ok", 1, true),
        ("wrong generation", 7, true),
        ("unknown member", 1, false),
    ] {
        report.compare(
            &label(&format!("classic heartbeat {what}"), ApiKey::Heartbeat),
            each(&mut peers, |p, side| {
                let id = if known {
                    ids[side].get(0)
                } else {
                    "nobody".into()
                };
                let req = HeartbeatRequest::default()
                    .with_group_id(classic.clone())
                    .with_generation_id(generation)
                    .with_member_id(id);
                ask_group(p, &mut ids[side], nodes[side], vh, req)
            }),
        );
    }
    let voc = v(ApiKey::OffsetCommit);
    let commit = |p: &mut Peer, group: &str, member: String, generation: i32| {
        let id = if voc >= 10 {
            p.topic_id(&topic)
        } else {
            Uuid::ZERO
        };
        OffsetCommitRequest::default()
            .with_group_id(group.into())
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(member)
            .with_retention_time_ms(-1)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(topic.clone())
                .with_topic_id(id)
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(5)
                    .with_committed_metadata(Some("m".into()))])])
    };
    for (what, generation) in [("ok", 1), ("wrong generation", 3)] {
        report.compare(
            &label(&format!("classic commit {what}"), ApiKey::OffsetCommit),
            each(&mut peers, |p, side| {
                let req = commit(p, &classic, ids[side].get(0), generation);
                ask_group(p, &mut ids[side], nodes[side], voc, req)
            }),
        );
    }
    let vof = v(ApiKey::OffsetFetch);
    let fetch = |group: &str, member: Option<String>, epoch: i32| {
        if vof >= 8 {
            OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                .with_group_id(group.into())
                .with_member_id(member)
                .with_member_epoch(epoch)
                .with_topics(None)])
        } else {
            // "All topics" (null) exists from v2.
            OffsetFetchRequest::default()
                .with_group_id(group.into())
                .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                    .with_name(topic.clone())
                    .with_partition_indexes(vec![0])]))
        }
    };
    report.compare(
        &label("classic fetch", ApiKey::OffsetFetch),
        each(&mut peers, |p, side| {
            ask_group(
                p,
                &mut ids[side],
                nodes[side],
                vof,
                fetch(&classic, None, -1),
            )
        }),
    );
    let vdg = v(ApiKey::DescribeGroups);
    report.compare(
        &label("classic describe", ApiKey::DescribeGroups),
        each(&mut peers, |p, side| {
            let req = DescribeGroupsRequest::default().with_groups(vec![classic.clone()]);
            ask_group(p, &mut ids[side], nodes[side], vdg, req)
        }),
    );
    let vlg = v(ApiKey::ListGroups);
    let list = |p: &mut Peer,
                ids: &mut Ids,
                node: i32,
                group: &str,
                states: Vec<String>,
                types: Vec<String>| {
        let req = ListGroupsRequest::default()
            .with_states_filter(if vlg >= 4 { states } else { Vec::new() })
            .with_types_filter(if vlg >= 5 { types } else { Vec::new() });
        let ResponseBody::ListGroups(mut r) = p.call(Some(node), vlg, req) else {
            panic!()
        };
        // Other groups share the broker differently on each side.
        r.groups.retain(|g| g.group_id == group);
        ids.apply(normalise(p, ResponseBody::ListGroups(r)))
    };
    for (what, states, types) in [
        ("all", vec![], vec![]),
        (
            "stable classic",
            vec!["Stable".to_string()],
            vec!["classic".to_string()],
        ),
        ("consumer type", vec![], vec!["consumer".to_string()]),
    ] {
        report.compare(
            &label(&format!("classic list {what}"), ApiKey::ListGroups),
            each(&mut peers, |p, side| {
                list(
                    p,
                    &mut ids[side],
                    nodes[side],
                    &classic,
                    states.clone(),
                    types.clone(),
                )
            }),
        );
    }
    let vl = v(ApiKey::LeaveGroup);
    report.compare(
        &label("classic leave", ApiKey::LeaveGroup),
        each(&mut peers, |p, side| {
            let id = ids[side].get(0);
            let req = if vl >= 3 {
                LeaveGroupRequest::default()
                    .with_group_id(classic.clone())
                    .with_members(vec![
                        kafka_proto::messages::leave_group_request::MemberIdentity::default()
                            .with_member_id(id),
                    ])
            } else {
                LeaveGroupRequest::default()
                    .with_group_id(classic.clone())
                    .with_member_id(id)
            };
            ask_group(p, &mut ids[side], nodes[side], vl, req)
        }),
    );
    report.compare(
        &label("classic describe after leave", ApiKey::DescribeGroups),
        each(&mut peers, |p, side| {
            let req = DescribeGroupsRequest::default().with_groups(vec![classic.clone()]);
            ask_group(p, &mut ids[side], nodes[side], vdg, req)
        }),
    );

    // ---- consumer group (KIP-848): join, heartbeat, errors, describe,
    // offsets, leave.
    let nodes = [
        peers[0].coordinator(&consumer),
        peers[1].coordinator(&consumer),
    ];
    let mut ids = [Ids::default(), Ids::default()];
    let vh = v(ApiKey::ConsumerGroupHeartbeat);
    let vcd = v(ApiKey::ConsumerGroupDescribe);
    // From v1 the member chooses its id; v0 members get one from the
    // coordinator.
    let chosen = if vh >= 1 {
        format!("diff-{tag}-member")
    } else {
        String::new()
    };
    let hb_join = || {
        ConsumerGroupHeartbeatRequest::default()
            .with_group_id(consumer.clone())
            .with_member_id(chosen.clone())
            .with_member_epoch(0)
            .with_rebalance_timeout_ms(30_000)
            .with_subscribed_topic_names(Some(vec![topic.clone()]))
            .with_topic_partitions(Some(Vec::new()))
    };
    let hb = |member: String, epoch: i32, owned: Option<Vec<i32>>, topic_id: Uuid| {
        ConsumerGroupHeartbeatRequest::default()
            .with_group_id(consumer.clone())
            .with_member_id(member)
            .with_member_epoch(epoch)
            .with_topic_partitions(owned.map(|ps| {
                vec![
                    kafka_proto::messages::consumer_group_heartbeat_request::TopicPartitions::default()
                        .with_topic_id(topic_id)
                        .with_partitions(ps),
                ]
            }))
    };
    report.compare(
        &label("consumer join", ApiKey::ConsumerGroupHeartbeat),
        each(&mut peers, |p, side| {
            ask_group(p, &mut ids[side], nodes[side], vh, hb_join())
        }),
    );
    // Epochs relative to the member's current one.
    let cases: Vec<HeartbeatCase> = vec![
        ("heartbeat", Some(0), 0, Some(vec![0, 1])),
        ("heartbeat without owned partitions", Some(0), 0, None),
        ("future epoch", Some(0), 7, Some(vec![0, 1])),
        ("unknown member", None, 0, Some(Vec::new())),
    ];
    for (what, member, epoch, owned) in cases {
        report.compare(
            &label(&format!("consumer {what}"), ApiKey::ConsumerGroupHeartbeat),
            each(&mut peers, |p, side| {
                let id = member.map_or_else(|| "nobody".to_string(), |i| ids[side].get(i));
                let tid = p.topic_id(&topic);
                let current = ids[side].1;
                ask_group(
                    p,
                    &mut ids[side],
                    nodes[side],
                    vh,
                    hb(id, current + epoch, owned.clone(), tid),
                )
            }),
        );
    }
    let invalid: Vec<(&str, ConsumerGroupHeartbeatRequest)> = vec![
        (
            "join without rebalance timeout",
            hb_join().with_rebalance_timeout_ms(-1),
        ),
        (
            "join without subscription",
            hb_join().with_subscribed_topic_names(None),
        ),
        (
            "join with owned partitions",
            hb_join().with_topic_partitions(None),
        ),
        (
            "join with an unknown assignor",
            hb_join().with_server_assignor(Some("nope".into())),
        ),
        (
            "heartbeat to an unknown group",
            hb_join()
                .with_group_id(format!("diff-{tag}-nocg"))
                .with_member_epoch(3)
                .with_member_id("x".into()),
        ),
    ];
    for (what, req) in invalid {
        report.compare(
            &label(&format!("consumer {what}"), ApiKey::ConsumerGroupHeartbeat),
            each(&mut peers, |p, side| {
                let node = if req.group_id == consumer {
                    nodes[side]
                } else {
                    p.coordinator(&req.group_id)
                };
                ask_group(p, &mut ids[side], node, vh, req.clone())
            }),
        );
    }
    // The member rejoins at epoch 0 under the same id (what a client does
    // after FENCED_MEMBER_EPOCH).
    report.compare(
        &label(
            "consumer rejoin with the same id",
            ApiKey::ConsumerGroupHeartbeat,
        ),
        each(&mut peers, |p, side| {
            let req = hb_join().with_member_id(ids[side].get(0));
            ask_group(p, &mut ids[side], nodes[side], vh, req)
        }),
    );
    // A second member (ids chosen by the test from v1, so the assignors
    // see the same ids on both sides): the first must revoke a partition,
    // which reaches the second only once the first stops reporting it.
    if vh >= 1 {
        let second = format!("diff-{tag}-member2");
        // Per side: each member's epoch and owned partitions.
        let mut state: [[(i32, Vec<i32>); 2]; 2] =
            std::array::from_fn(|_| [(0, vec![0, 1]), (0, Vec::new())]);
        for side in 0..2 {
            state[side][0].0 = ids[side].1;
        }
        let steps: [(&str, usize); 6] = [
            ("second member joins", 1),
            ("first member told to revoke", 0),
            ("second member waits", 1),
            ("first member acknowledges", 0),
            ("second member gets the partition", 1),
            ("second member settles", 1),
        ];
        for (what, who) in steps {
            if what == "first member told to revoke" {
                // Kafka 4.4 computes the new target at most once a second
                // (the mock too, by default): until then the group is
                // Assigning and the steps above compare that.
                std::thread::sleep(Duration::from_millis(1_200));
            }
            report.compare(
                &label(&format!("consumer {what}"), ApiKey::ConsumerGroupHeartbeat),
                each(&mut peers, |p, side| {
                    let tid = p.topic_id(&topic);
                    let (epoch, owned) = state[side][who].clone();
                    let req = if what == "second member joins" {
                        hb_join().with_member_id(second.clone())
                    } else {
                        let id = if who == 0 {
                            ids[side].get(0)
                        } else {
                            second.clone()
                        };
                        hb(id, epoch, Some(owned), tid)
                    };
                    let r = p.call(Some(nodes[side]), vh, req);
                    if let ResponseBody::ConsumerGroupHeartbeat(h) = &r {
                        ids[side].learn(h.member_id.as_deref().unwrap_or(""));
                        if h.error_code == 0 {
                            state[side][who].0 = h.member_epoch;
                            if let Some(a) = &h.assignment {
                                state[side][who].1 = a
                                    .topic_partitions
                                    .iter()
                                    .flat_map(|t| t.partitions.clone())
                                    .collect();
                            }
                        }
                    }
                    ids[side].apply(normalise(p, r))
                }),
            );
        }
        report.compare(
            &label(
                "consumer describe two members",
                ApiKey::ConsumerGroupDescribe,
            ),
            each(&mut peers, |p, side| {
                let req =
                    ConsumerGroupDescribeRequest::default().with_group_ids(vec![consumer.clone()]);
                ask_group(p, &mut ids[side], nodes[side], vcd, req)
            }),
        );
        report.compare(
            &label(
                "consumer second member leaves",
                ApiKey::ConsumerGroupHeartbeat,
            ),
            each(&mut peers, |p, side| {
                let req = hb(second.clone(), -1, None, Uuid::ZERO);
                ask_group(p, &mut ids[side], nodes[side], vh, req)
            }),
        );
        for side in 0..2 {
            ids[side].1 = state[side][0].0;
        }
    }
    let describe = ConsumerGroupDescribeRequest::default().with_group_ids(vec![consumer.clone()]);
    report.compare(
        &label("consumer describe", ApiKey::ConsumerGroupDescribe),
        each(&mut peers, |p, side| {
            ask_group(p, &mut ids[side], nodes[side], vcd, describe.clone())
        }),
    );
    for (what, group) in [
        ("an unknown group", format!("diff-{tag}-nocg")),
        ("a classic group", classic.clone()),
    ] {
        report.compare(
            &label(
                &format!("consumer describe {what}"),
                ApiKey::ConsumerGroupDescribe,
            ),
            each(&mut peers, |p, side| {
                let node = p.coordinator(&group);
                let req =
                    ConsumerGroupDescribeRequest::default().with_group_ids(vec![group.clone()]);
                ask_group(p, &mut ids[side], node, vcd, req)
            }),
        );
    }
    if voc >= 9 {
        for (what, epoch, known) in [
            ("ok", 0, true),
            ("stale epoch", -1, true),
            ("unknown member", 0, false),
        ] {
            report.compare(
                &label(&format!("consumer commit {what}"), ApiKey::OffsetCommit),
                each(&mut peers, |p, side| {
                    let id = if known {
                        ids[side].get(0)
                    } else {
                        "nobody".into()
                    };
                    let req = commit(p, &consumer, id, ids[side].1 + epoch);
                    ask_group(p, &mut ids[side], nodes[side], voc, req)
                }),
            );
        }
    }
    if vof >= 9 {
        for (what, epoch, known) in [
            ("ok", 0, true),
            ("stale epoch", -1, true),
            ("unknown member", 0, false),
        ] {
            report.compare(
                &label(&format!("consumer fetch {what}"), ApiKey::OffsetFetch),
                each(&mut peers, |p, side| {
                    let id = if known {
                        ids[side].get(0)
                    } else {
                        "nobody".into()
                    };
                    let current = ids[side].1;
                    ask_group(
                        p,
                        &mut ids[side],
                        nodes[side],
                        vof,
                        fetch(&consumer, Some(id), current + epoch),
                    )
                }),
            );
        }
    }
    report.compare(
        &label(
            "consumer group described as classic",
            ApiKey::DescribeGroups,
        ),
        each(&mut peers, |p, side| {
            let req = DescribeGroupsRequest::default().with_groups(vec![consumer.clone()]);
            ask_group(p, &mut ids[side], nodes[side], vdg, req)
        }),
    );
    for (what, states, types) in [
        ("all", vec![], vec![]),
        (
            "stable consumer",
            vec!["stable".to_string()],
            vec!["consumer".to_string()],
        ),
        ("classic type", vec![], vec!["classic".to_string()]),
    ] {
        report.compare(
            &label(&format!("consumer list {what}"), ApiKey::ListGroups),
            each(&mut peers, |p, side| {
                list(
                    p,
                    &mut ids[side],
                    nodes[side],
                    &consumer,
                    states.clone(),
                    types.clone(),
                )
            }),
        );
    }
    // A classic JoinGroup on the live consumer group: with a protocol type
    // other than "consumer" both refuse it; with "consumer" Kafka takes the
    // member in (a mixed group, here still at MEMBER_ID_REQUIRED), the mock
    // refuses it. Before v4 Kafka would add the member at once, which
    // would change the rest of the sequence, so only v4+.
    if vj >= 4 {
        for (what, protocol_type) in [
            ("other protocol", "other"),
            ("consumer protocol", "consumer"),
        ] {
            report.compare(
                &label(
                    &format!("classic join on a consumer group, {what}"),
                    ApiKey::JoinGroup,
                ),
                each(&mut peers, |p, side| {
                    let req = join(String::new())
                        .with_group_id(consumer.clone())
                        .with_protocol_type(protocol_type.into());
                    let r = p.call(Some(nodes[side]), vj, req);
                    ids[side].apply(normalise(p, r))
                }),
            );
        }
    }
    report.compare(
        &label("consumer leave", ApiKey::ConsumerGroupHeartbeat),
        each(&mut peers, |p, side| {
            let id = ids[side].get(0);
            ask_group(
                p,
                &mut ids[side],
                nodes[side],
                vh,
                hb(id, -1, None, Uuid::ZERO),
            )
        }),
    );
    report.compare(
        &label(
            "consumer describe after leave",
            ApiKey::ConsumerGroupDescribe,
        ),
        each(&mut peers, |p, side| {
            ask_group(p, &mut ids[side], nodes[side], vcd, describe.clone())
        }),
    );

    for p in peers {
        let node = Some(p.first_node());
        let vd = p.versions[&ApiKey::DeleteTopics.id()]
            .1
            .min(*ApiKey::DeleteTopics.versions().end());
        let req = DeleteTopicsRequest::default()
            .with_timeout_ms(10_000)
            .with_topic_names(vec![topic.clone()]);
        let req = if vd >= 6 {
            req.with_topic_names(Vec::new()).with_topics(vec![
                kafka_proto::messages::delete_topics_request::DeleteTopicState::default()
                    .with_name(Some(topic.clone())),
            ])
        } else {
            req
        };
        p.call(node, vd, req);
    }
}

// ---------------------------------------------------------------------------
// The transaction sequence
// ---------------------------------------------------------------------------

/// Producer ids are handed out by each cluster (Kafka from blocks its
/// controller allocates): every one seen is replaced by its order of
/// appearance on that side, wherever a `producer_id` field carries it.
#[derive(Default)]
struct Pids(Vec<i64>);

impl Pids {
    fn learn(&mut self, pid: i64) {
        if pid >= 0 && !self.0.contains(&pid) {
            self.0.push(pid);
        }
    }

    fn apply(&self, flat: Flat) -> Flat {
        flat.into_iter()
            .map(|(path, value)| {
                let known = path
                    .ends_with("producer_id")
                    .then(|| value.parse::<i64>().ok())
                    .flatten()
                    .and_then(|v| self.0.iter().position(|&p| p == v));
                match known {
                    Some(i) => (path, format!("<pid{i}>")),
                    None => (path, value),
                }
            })
            .collect()
    }
}

/// Who writes a batch in the transaction sequence, and how.
#[derive(Debug, Clone, Copy)]
enum Writer {
    /// The transactional producer in a transactional batch, at its epoch
    /// plus this offset (an older epoch writes from sequence 0).
    Txn(i16),
    /// The transactional producer's id and epoch in a plain batch.
    TxnPlain,
    /// A transactional batch in a request without the transactional id.
    TxnWithoutId,
    /// The idempotent producer, at its next sequence plus this offset.
    Idempotent(i32),
}

/// One side's transactional producer, as a client would track it.
struct TxnSide {
    coordinator: i32,
    group_coordinator: i32,
    pids: Pids,
    producer_id: i64,
    epoch: i16,
    /// The idempotent producer (epoch 0) and its next sequence.
    idempotent_id: i64,
    idempotent_seq: i32,
    /// Per partition: the epoch of the last batch written and the next
    /// sequence (a new epoch starts again at 0).
    seqs: BTreeMap<i32, (i16, i32)>,
}

impl TxnSide {
    fn new(p: &mut Peer, txn_id: &str, group: &str) -> Self {
        Self {
            coordinator: p.txn_coordinator(txn_id),
            group_coordinator: p.coordinator(group),
            pids: Pids::default(),
            producer_id: -1,
            epoch: -1,
            idempotent_id: -1,
            idempotent_seq: 0,
            seqs: BTreeMap::new(),
        }
    }

    fn next_seq(&self, partition: i32) -> i32 {
        match self.seqs.get(&partition) {
            Some(&(epoch, seq)) if epoch == self.epoch => seq,
            _ => 0,
        }
    }

    /// A batch of `count` records was written at the current epoch.
    fn written(&mut self, partition: i32, count: i32) {
        let seq = self.next_seq(partition) + count;
        self.seqs.insert(partition, (self.epoch, seq));
    }

    /// Follows the producer id and epoch a transactional InitProducerId or
    /// an EndTxn v5+ hands out, as the client adopts them.
    fn learn(&mut self, req: &RequestBody, version: i16, r: &ResponseBody) {
        match r {
            ResponseBody::InitProducerId(x) => {
                self.pids.learn(x.producer_id);
                let transactional = matches!(
                    req,
                    RequestBody::InitProducerId(i) if i.transactional_id.is_some()
                );
                if x.error_code == 0 && transactional {
                    (self.producer_id, self.epoch) = (x.producer_id, x.producer_epoch);
                } else if x.error_code == 0 {
                    self.idempotent_id = x.producer_id;
                }
            }
            ResponseBody::EndTxn(x) if version >= 5 && x.error_code == 0 => {
                self.pids.learn(x.producer_id);
                (self.producer_id, self.epoch) = (x.producer_id, x.producer_epoch);
            }
            _ => {}
        }
    }
}

/// Every error code in a response, at any depth.
fn error_codes(body: &ResponseBody) -> Vec<i16> {
    flatten(&format!("{body:?}"))
        .into_iter()
        .filter(|(path, _)| path.ends_with("error_code"))
        .filter_map(|(_, v)| v.parse().ok())
        .collect()
}

/// Retriable answers of a transaction coordinator that is still loading
/// (Kafka creates its state topic on the first lookup) or still completing
/// the previous transaction (Kafka writes markers after answering EndTxn).
const LOADING: &[ErrorCode] = &[
    ErrorCode::CoordinatorLoadInProgress,
    ErrorCode::CoordinatorNotAvailable,
    ErrorCode::NotCoordinator,
    ErrorCode::ConcurrentTransactions,
];
const BUSY: &[ErrorCode] = &[ErrorCode::ConcurrentTransactions];

/// Sends a request, and again while the answer carries one of `retry_on`
/// (as a client retries; within SETTLE_TIMEOUT), then follows the producer
/// id and epoch it hands out and normalises the last answer.
fn ask_txn(
    p: &mut Peer,
    st: &mut TxnSide,
    node: i32,
    version: i16,
    body: impl Into<RequestBody>,
    retry_on: &[ErrorCode],
) -> Flat {
    let body = body.into();
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let mut retries = 0;
    let r = loop {
        let r = p.call(Some(node), version, body.clone());
        let again = error_codes(&r)
            .iter()
            .any(|&c| retry_on.iter().any(|e| e.code() == c));
        if !again || Instant::now() >= deadline {
            break r;
        }
        retries += 1;
        std::thread::sleep(Duration::from_millis(100));
    };
    if retries > 0 {
        eprintln!(
            "    {}: {:?} answered after {retries} retries",
            p.name,
            body.api_key()
        );
    }
    st.learn(&body, version, &r);
    st.pids.apply(normalise(p, r))
}

impl Peer {
    /// The transaction coordinator of `id`, asked of any broker until one
    /// is named (Kafka answers COORDINATOR_NOT_AVAILABLE until its
    /// transaction state topic is up).
    fn txn_coordinator(&mut self, id: &str) -> i32 {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            let req = FindCoordinatorRequest::default()
                .with_key(id.into())
                .with_key_type(1);
            let ResponseBody::FindCoordinator(r) = self.call(None, 3, req) else {
                panic!()
            };
            if r.error_code == 0 {
                return r.node_id;
            }
            assert!(
                Instant::now() < deadline,
                "{}: no transaction coordinator for {id}: {r:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until a finished transaction's markers are written: every
    /// partition's last stable offset reaches its high watermark and, with
    /// `group`, the group's offsets of `topic`-0 are stable. Kafka answers
    /// EndTxn (and fences) before it writes the markers; the mock writes
    /// them at once.
    fn await_markers(&mut self, topic: &str, partitions: &[i32], group: Option<(&str, i32)>) {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        let offset = |p: &mut Self, partition: i32, isolation: i8| {
            let node = Some(p.leader(topic, partition));
            let req = ListOffsetsRequest::default()
                .with_replica_id(-1)
                .with_isolation_level(isolation)
                .with_topics(vec![ListOffsetsTopic::default()
                    .with_name(topic.into())
                    .with_partitions(vec![ListOffsetsPartition::default()
                        .with_partition_index(partition)
                        .with_timestamp(-1)])]);
            match p.call(node, 5, req) {
                ResponseBody::ListOffsets(r) => r.topics[0].partitions[0].offset,
                other => panic!("{other:?}"),
            }
        };
        loop {
            let mut done = partitions
                .iter()
                .all(|&part| offset(self, part, 1) == offset(self, part, 0));
            if let Some((group, node)) = group {
                let req = OffsetFetchRequest::default()
                    .with_group_id(group.into())
                    .with_require_stable(true)
                    .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                        .with_name(topic.into())
                        .with_partition_indexes(vec![0])]));
                let r = self.call(Some(node), 7, req);
                done &= !error_codes(&r).contains(&ErrorCode::UnstableOffsetCommit.code());
            }
            if done {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: transaction markers on {topic} not written in {SETTLE_TIMEOUT:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn run_txn_sequence(
    m: &mut Peer,
    k: &mut Peer,
    report: &mut Report,
    pass: Pass,
    v: &dyn Fn(ApiKey) -> i16,
    base_ts: i64,
) {
    let tag = pass.tag();
    let topic = format!("diff-{tag}-txn");
    let unknown = format!("diff-{tag}-txnmissing");
    let group = format!("diff-{tag}-txngroup");
    let ghost = format!("diff-{tag}-txnghost");
    let txn_id = format!("diff-{tag}-tx");
    let mut peers = [m, k];
    let label = |what: &str, key: ApiKey, version: i16| format!("{tag} {key:?} v{version} {what}");
    let vct = v(ApiKey::CreateTopics);
    for p in peers.iter_mut() {
        let req = CreateTopicsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(topic.clone())
                .with_num_partitions(2)
                .with_replication_factor(3)]);
        let node = Some(p.first_node());
        p.call(node, vct, req);
        p.settle(&[&topic], true);
    }
    let mut sides = [0, 1].map(|side| TxnSide::new(&mut *peers[side], &txn_id, &group));
    let ghost_nodes = [peers[0].coordinator(&ghost), peers[1].coordinator(&ghost)];
    // A transactional id no producer initialised, and its coordinator.
    let stranger = format!("diff-{tag}-txstranger");
    let stranger_nodes = [
        peers[0].txn_coordinator(&stranger),
        peers[1].txn_coordinator(&stranger),
    ];

    // Key types exist from FindCoordinator v1; the client form of
    // AddPartitionsToTxn stops at v3 (v4+ is for brokers); the isolation
    // level of ListOffsets comes with v2.
    let vfc = v(ApiKey::FindCoordinator).max(1);
    let vi = v(ApiKey::InitProducerId);
    let va = v(ApiKey::AddPartitionsToTxn).min(3);
    let vp = v(ApiKey::Produce);
    let vao = v(ApiKey::AddOffsetsToTxn);
    let vto = v(ApiKey::TxnOffsetCommit);
    let ve = v(ApiKey::EndTxn);
    let vf = v(ApiKey::Fetch);
    let vl = v(ApiKey::ListOffsets).max(2);
    let vof = v(ApiKey::OffsetFetch);

    // FindCoordinator for a transactional id (after it is up on both sides).
    for (what, key) in [
        ("find transaction coordinator", txn_id.clone()),
        ("find transaction coordinator empty id", String::new()),
    ] {
        let req = if vfc >= 4 {
            FindCoordinatorRequest::default()
                .with_key_type(1)
                .with_coordinator_keys(vec![key])
        } else {
            FindCoordinatorRequest::default()
                .with_key(key)
                .with_key_type(1)
        };
        report.compare(
            &label(what, ApiKey::FindCoordinator, vfc),
            each(&mut peers, |p, _| ask(p, None, vfc, req.clone())),
        );
    }

    // InitProducerId: idempotent (any broker), then the error cases of a
    // transactional one, then a first and a second initialisation.
    let init = |id: Option<&str>, timeout_ms: i32| {
        InitProducerIdRequest::default()
            .with_transactional_id(id.map(String::from))
            .with_transaction_timeout_ms(timeout_ms)
    };
    report.compare(
        &label("init idempotent", ApiKey::InitProducerId, vi),
        each(&mut peers, |p, side| {
            let node = p.first_node();
            ask_txn(p, &mut sides[side], node, vi, init(None, 60_000), LOADING)
        }),
    );
    report.compare(
        &label("init to a non-coordinator", ApiKey::InitProducerId, vi),
        each(&mut peers, |p, side| {
            let st = &mut sides[side];
            let other = p
                .nodes
                .keys()
                .copied()
                .find(|&n| n != st.coordinator)
                .unwrap();
            ask_txn(p, st, other, vi, init(Some(&txn_id), 60_000), &[])
        }),
    );
    report.compare(
        &label(
            "init with a timeout above the maximum",
            ApiKey::InitProducerId,
            vi,
        ),
        each(&mut peers, |p, side| {
            let st = &mut sides[side];
            let node = st.coordinator;
            ask_txn(p, st, node, vi, init(Some(&txn_id), 900_001), &[])
        }),
    );
    report.compare(
        &label(
            "init with an empty transactional id",
            ApiKey::InitProducerId,
            vi,
        ),
        each(&mut peers, |p, side| {
            let st = &mut sides[side];
            let node = st.coordinator;
            ask_txn(p, st, node, vi, init(Some(""), 60_000), &[])
        }),
    );
    for what in ["init transactional", "init transactional again"] {
        report.compare(
            &label(what, ApiKey::InitProducerId, vi),
            each(&mut peers, |p, side| {
                let st = &mut sides[side];
                let node = st.coordinator;
                ask_txn(p, st, node, vi, init(Some(&txn_id), 60_000), LOADING)
            }),
        );
    }
    // KIP-360 (v3+): a producer that knows its id and epoch asks for a bump.
    if vi >= 3 {
        for (what, pid_offset) in [
            ("init with the current producer id and epoch", 0),
            ("init with a wrong producer id", 1_000),
        ] {
            report.compare(
                &label(what, ApiKey::InitProducerId, vi),
                each(&mut peers, |p, side| {
                    let st = &mut sides[side];
                    let node = st.coordinator;
                    let req = init(Some(&txn_id), 60_000)
                        .with_producer_id(st.producer_id + pid_offset)
                        .with_producer_epoch(st.epoch);
                    ask_txn(p, st, node, vi, req, BUSY)
                }),
            );
        }
    }

    let end = |st: &TxnSide, epoch_offset: i16, commit: bool| {
        EndTxnRequest::default()
            .with_transactional_id(txn_id.clone())
            .with_producer_id(st.producer_id)
            .with_producer_epoch(st.epoch + epoch_offset)
            .with_committed(commit)
    };
    report.compare(
        &label("end txn with none open", ApiKey::EndTxn, ve),
        each(&mut peers, |p, side| {
            let st = &mut sides[side];
            let node = st.coordinator;
            let req = end(st, 0, true);
            ask_txn(p, st, node, ve, req, BUSY)
        }),
    );

    // AddPartitionsToTxn (client form), with its errors.
    let add = |st: &TxnSide, pid_offset: i64, epoch_offset: i16, topics: &[(&str, Vec<i32>)]| {
        AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(txn_id.clone())
            .with_v3_and_below_producer_id(st.producer_id + pid_offset)
            .with_v3_and_below_producer_epoch(st.epoch + epoch_offset)
            .with_v3_and_below_topics(
                topics
                    .iter()
                    .map(|(name, parts)| {
                        AddPartitionsToTxnTopic::default()
                            .with_name(name.to_string())
                            .with_partitions(parts.clone())
                    })
                    .collect(),
            )
    };
    // What, producer id and epoch offsets, topics, to the coordinator.
    type AddCase<'a> = (&'a str, i64, i16, Vec<(&'a str, Vec<i32>)>, bool);
    let cases: Vec<AddCase> = vec![
        ("add partitions", 0, 0, vec![(&topic, vec![0])], true),
        (
            "add partitions with unknown ones",
            0,
            0,
            vec![(&topic, vec![1, 99]), (&unknown, vec![0])],
            true,
        ),
        (
            "add partitions with a stale epoch",
            0,
            -1,
            vec![(&topic, vec![1])],
            true,
        ),
        (
            "add partitions with a wrong producer id",
            1_000,
            0,
            vec![(&topic, vec![1])],
            true,
        ),
        (
            "add partitions to a non-coordinator",
            0,
            0,
            vec![(&topic, vec![1])],
            false,
        ),
    ];
    for (what, pid_offset, epoch_offset, topics, to_coordinator) in cases {
        report.compare(
            &label(what, ApiKey::AddPartitionsToTxn, va),
            each(&mut peers, |p, side| {
                let st = &mut sides[side];
                let node = if to_coordinator {
                    st.coordinator
                } else {
                    p.nodes
                        .keys()
                        .copied()
                        .find(|&n| n != st.coordinator)
                        .unwrap()
                };
                let req = add(st, pid_offset, epoch_offset, &topics);
                ask_txn(p, st, node, va, req, BUSY)
            }),
        );
    }
    report.compare(
        &label(
            "add partitions for an unknown transactional id",
            ApiKey::AddPartitionsToTxn,
            va,
        ),
        each(&mut peers, |p, side| {
            let st = &mut sides[side];
            let req = add(st, 0, 0, &[(&topic, vec![1])])
                .with_v3_and_below_transactional_id(stranger.clone());
            ask_txn(p, st, stranger_nodes[side], va, req, BUSY)
        }),
    );

    // Transactional Produce: to the added partition, to one not added
    // (Produce v12+ adds it in Kafka with transaction version 2), and with a
    // stale epoch. Sequences advance only when a batch is written.
    let produce_step = |report: &mut Report,
                        peers: &mut [&mut Peer; 2],
                        sides: &mut [TxnSide; 2],
                        what: &str,
                        partition: i32,
                        writer: Writer,
                        values: &[&str]| {
        let answers = each(peers, |p, side| {
            let st = &mut sides[side];
            let (pid, epoch, seq) = match writer {
                Writer::Txn(0) | Writer::TxnPlain | Writer::TxnWithoutId => {
                    (st.producer_id, st.epoch, st.next_seq(partition))
                }
                Writer::Txn(offset) => (st.producer_id, st.epoch + offset, 0),
                Writer::Idempotent(offset) => (st.idempotent_id, 0, st.idempotent_seq + offset),
            };
            let mut b = RecordBatchBuilder::new(BatchOptions {
                producer_id: pid,
                producer_epoch: epoch,
                base_sequence: seq,
                transactional: matches!(writer, Writer::Txn(_) | Writer::TxnWithoutId),
                ..BatchOptions::default()
            });
            for (i, value) in values.iter().enumerate() {
                b.append(base_ts + i as i64, Some(b"tk"), Some(value.as_bytes()))
                    .unwrap();
            }
            let id = if vp >= 13 {
                p.topic_id(&topic)
            } else {
                Uuid::ZERO
            };
            let req = ProduceRequest::default()
                .with_transactional_id(match writer {
                    Writer::Txn(_) | Writer::TxnPlain => Some(txn_id.clone()),
                    Writer::TxnWithoutId | Writer::Idempotent(_) => None,
                })
                .with_acks(-1)
                .with_timeout_ms(10_000)
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(topic.clone())
                    .with_topic_id(id)
                    .with_partition_data(vec![PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(b.finish().unwrap()))])]);
            let node = p.leader(&topic, partition);
            let flat = ask_txn(p, st, node, vp, req, BUSY);
            let ok = flat
                .iter()
                .filter(|(path, _)| path.ends_with("error_code"))
                .all(|(_, v)| v == "0");
            // Only a batch at the next sequence moves it on (a duplicate
            // is answered without error too).
            let count = values.len() as i32;
            match writer {
                Writer::Txn(0) | Writer::TxnPlain | Writer::TxnWithoutId if ok => {
                    st.written(partition, count)
                }
                Writer::Idempotent(0) if ok => st.idempotent_seq += count,
                _ => {}
            }
            flat
        });
        report.compare(&label(what, ApiKey::Produce, vp), answers);
    };
    produce_step(
        report,
        &mut peers,
        &mut sides,
        "produce transactional",
        0,
        Writer::Txn(0),
        &["t1", "t2"],
    );
    produce_step(
        report,
        &mut peers,
        &mut sides,
        "produce transactional to a partition not added",
        1,
        Writer::Txn(0),
        &["t3"],
    );
    produce_step(
        report,
        &mut peers,
        &mut sides,
        "produce transactional with a stale epoch",
        0,
        Writer::Txn(-1),
        &["stale"],
    );
    // The transactional producer's batches without the transactional id,
    // and a plain batch of it into its open transaction; then the
    // idempotent producer: a batch, its retry, a sequence gap.
    let writes: [(&str, i32, Writer, &[&str]); 5] = [
        (
            "produce transactional without the transactional id",
            0,
            Writer::TxnWithoutId,
            &["no id"],
        ),
        (
            "produce plain by the transactional producer",
            0,
            Writer::TxnPlain,
            &["plain"],
        ),
        (
            "produce idempotent",
            1,
            Writer::Idempotent(0),
            &["i1", "i2"],
        ),
        (
            "produce idempotent duplicate",
            1,
            Writer::Idempotent(-2),
            &["i1", "i2"],
        ),
        (
            "produce idempotent out of order",
            1,
            Writer::Idempotent(3),
            &["gap"],
        ),
    ];
    for (what, partition, writer, values) in writes {
        produce_step(
            report, &mut peers, &mut sides, what, partition, writer, values,
        );
    }

    // Offsets in the transaction: AddOffsetsToTxn, then TxnOffsetCommit to
    // the group coordinator, as a producer outside any group (generation
    // -1, no member) and as a member of a group that does not exist.
    let add_offsets = |st: &TxnSide, epoch_offset: i16, group: &str| {
        AddOffsetsToTxnRequest::default()
            .with_transactional_id(txn_id.clone())
            .with_producer_id(st.producer_id)
            .with_producer_epoch(st.epoch + epoch_offset)
            .with_group_id(group.into())
    };
    for (what, epoch_offset, g, to_coordinator) in [
        ("add offsets", 0, &group, true),
        ("add offsets with a stale epoch", -1, &group, true),
        ("add offsets to a non-coordinator", 0, &group, false),
        (
            "add offsets with an empty group id",
            0,
            &String::new(),
            true,
        ),
        ("add offsets for another group", 0, &ghost, true),
    ] {
        report.compare(
            &label(what, ApiKey::AddOffsetsToTxn, vao),
            each(&mut peers, |p, side| {
                let st = &mut sides[side];
                let node = if to_coordinator {
                    st.coordinator
                } else {
                    p.nodes
                        .keys()
                        .copied()
                        .find(|&n| n != st.coordinator)
                        .unwrap()
                };
                let req = add_offsets(st, epoch_offset, g);
                ask_txn(p, st, node, vao, req, BUSY)
            }),
        );
    }
    let txn_commit =
        |st: &TxnSide, epoch_offset: i16, group: &str, member: &str, generation: i32| {
            TxnOffsetCommitRequest::default()
                .with_transactional_id(txn_id.clone())
                .with_group_id(group.into())
                .with_producer_id(st.producer_id)
                .with_producer_epoch(st.epoch + epoch_offset)
                .with_generation_id_or_member_epoch(generation)
                .with_member_id(member.into())
                .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                    .with_name(topic.clone())
                    .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(2)
                        .with_committed_leader_epoch(-1)
                        .with_committed_metadata(Some("txn".into()))])])
        };
    // What, epoch offset, group, member, generation.
    type TxnCommitCase<'a> = (&'a str, i16, &'a str, &'a str, i32);
    let cases: Vec<TxnCommitCase> = vec![
        ("txn offset commit", 0, &group, "", -1),
        ("txn offset commit with a stale epoch", -1, &group, "", -1),
        (
            "txn offset commit as a member of an unknown group",
            0,
            &ghost,
            "member-1",
            5,
        ),
    ];
    for (what, epoch_offset, g, member, generation) in cases {
        // The member's identity is in the request from v3 (KIP-447).
        if !member.is_empty() && vto < 3 {
            continue;
        }
        report.compare(
            &label(what, ApiKey::TxnOffsetCommit, vto),
            each(&mut peers, |p, side| {
                let st = &mut sides[side];
                let node = if g == group {
                    st.group_coordinator
                } else {
                    ghost_nodes[side]
                };
                let req = txn_commit(st, epoch_offset, g, member, generation);
                ask_txn(p, st, node, vto, req, BUSY)
            }),
        );
    }
    report.compare(
        &label(
            "txn offset commit to a non-coordinator",
            ApiKey::TxnOffsetCommit,
            vto,
        ),
        each(&mut peers, |p, side| {
            let st = &mut sides[side];
            let other = p
                .nodes
                .keys()
                .copied()
                .find(|&n| n != st.group_coordinator)
                .unwrap();
            let req = txn_commit(st, 0, &group, "", -1);
            ask_txn(p, st, other, vto, req, BUSY)
        }),
    );
    report.compare(
        &label(
            "txn offset commit with an empty group id",
            ApiKey::TxnOffsetCommit,
            vto,
        ),
        each(&mut peers, |p, side| {
            let st = &mut sides[side];
            // Asked without the readiness probe of `coordinator`, which an
            // empty group id would fail; the offsets topic is up by now.
            let find = FindCoordinatorRequest::default()
                .with_key(String::new())
                .with_key_type(0);
            let ResponseBody::FindCoordinator(r) = p.call(None, 3, find) else {
                panic!()
            };
            let req = txn_commit(st, 0, "", "", -1);
            ask_txn(p, st, r.node_id, vto, req, BUSY)
        }),
    );
    report.compare(
        &label(
            "txn offset commit for an unknown partition",
            ApiKey::TxnOffsetCommit,
            vto,
        ),
        each(&mut peers, |p, side| {
            let st = &mut sides[side];
            let node = st.group_coordinator;
            let mut req = txn_commit(st, 0, &group, "", -1);
            req.topics[0].partitions[0].partition_index = 99;
            ask_txn(p, st, node, vto, req, BUSY)
        }),
    );

    // EndTxn: for an unknown transactional id, to a non-coordinator, with a
    // wrong epoch, then the commit.
    report.compare(
        &label(
            "end txn for an unknown transactional id",
            ApiKey::EndTxn,
            ve,
        ),
        each(&mut peers, |p, side| {
            let st = &mut sides[side];
            let req = end(st, 0, true).with_transactional_id(stranger.clone());
            ask_txn(p, st, stranger_nodes[side], ve, req, BUSY)
        }),
    );
    for (what, epoch_offset, to_coordinator) in [
        ("end txn to a non-coordinator", 0, false),
        ("end txn with a wrong epoch", 3, true),
        ("end txn commit", 0, true),
    ] {
        report.compare(
            &label(what, ApiKey::EndTxn, ve),
            each(&mut peers, |p, side| {
                let st = &mut sides[side];
                let node = if to_coordinator {
                    st.coordinator
                } else {
                    p.nodes
                        .keys()
                        .copied()
                        .find(|&n| n != st.coordinator)
                        .unwrap()
                };
                let req = end(st, epoch_offset, true);
                ask_txn(p, st, node, ve, req, BUSY)
            }),
        );
    }
    for (side, p) in peers.iter_mut().enumerate() {
        let node = sides[side].group_coordinator;
        p.await_markers(&topic, &[0, 1], Some((&group, node)));
    }

    // What a read_committed consumer sees: the records with their control
    // batches, the last stable offset, and the committed offsets.
    let fetch_committed = |p: &mut Peer, st: &TxnSide, partition: i32| {
        let id = if vf >= 13 {
            p.topic_id(&topic)
        } else {
            Uuid::ZERO
        };
        let req = FetchRequest::default()
            .with_replica_id(-1)
            .with_max_wait_ms(0)
            .with_min_bytes(0)
            .with_max_bytes(1 << 20)
            .with_isolation_level(1)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(topic.clone())
                .with_topic_id(id)
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_current_leader_epoch(-1)
                    .with_fetch_offset(0)
                    .with_log_start_offset(-1)
                    .with_partition_max_bytes(1 << 20)])]);
        let node = Some(p.leader(&topic, partition));
        st.pids.apply(ask(p, node, vf, req))
    };
    let lso = |p: &mut Peer, partition: i32| {
        let req = ListOffsetsRequest::default()
            .with_replica_id(-1)
            .with_isolation_level(1)
            .with_timeout_ms(10_000)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(topic.clone())
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_current_leader_epoch(-1)
                    .with_timestamp(-1)
                    .with_max_num_offsets(1)])]);
        let node = Some(p.leader(&topic, partition));
        ask(p, node, vl, req)
    };
    let read_back = |report: &mut Report,
                     peers: &mut [&mut Peer; 2],
                     sides: &[TxnSide; 2],
                     after: &str,
                     parts: &[i32]| {
        for &partition in parts {
            report.compare(
                &label(
                    &format!("fetch read_committed partition {partition} after {after}"),
                    ApiKey::Fetch,
                    vf,
                ),
                each(peers, |p, side| fetch_committed(p, &sides[side], partition)),
            );
            report.compare(
                &label(
                    &format!("list offsets read_committed partition {partition} after {after}"),
                    ApiKey::ListOffsets,
                    vl,
                ),
                each(peers, |p, _| lso(p, partition)),
            );
        }
    };
    read_back(report, &mut peers, &sides, "commit", &[0, 1]);
    let offset_fetch_step = |report: &mut Report,
                             peers: &mut [&mut Peer; 2],
                             sides: &[TxnSide; 2],
                             what: &str| {
        let answers = each(peers, |p, side| {
            let req = if vof >= 8 {
                OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                    .with_group_id(group.clone())
                    .with_member_epoch(-1)
                    .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                        .with_name(topic.clone())
                        .with_topic_id(if vof >= 10 {
                            p.topic_id(&topic)
                        } else {
                            Uuid::ZERO
                        })
                        .with_partition_indexes(vec![0])]))])
            } else {
                OffsetFetchRequest::default()
                    .with_group_id(group.clone())
                    .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                        .with_name(topic.clone())
                        .with_partition_indexes(vec![0])]))
            };
            let req = req.with_require_stable(vof >= 7);
            let node = sides[side].group_coordinator;
            ask(p, Some(node), vof, req)
        });
        report.compare(&label(what, ApiKey::OffsetFetch, vof), answers);
    };
    offset_fetch_step(report, &mut peers, &sides, "offset fetch after the commit");
    report.compare(
        &label("end txn commit repeated", ApiKey::EndTxn, ve),
        each(&mut peers, |p, side| {
            let st = &mut sides[side];
            let node = st.coordinator;
            let req = end(st, 0, true);
            ask_txn(p, st, node, ve, req, BUSY)
        }),
    );

    // A second transaction, aborted: its records stay invisible.
    report.compare(
        &label(
            "add partitions second transaction",
            ApiKey::AddPartitionsToTxn,
            va,
        ),
        each(&mut peers, |p, side| {
            let st = &mut sides[side];
            let node = st.coordinator;
            let req = add(st, 0, 0, &[(&topic, vec![0])]);
            ask_txn(p, st, node, va, req, BUSY)
        }),
    );
    produce_step(
        report,
        &mut peers,
        &mut sides,
        "produce transactional second transaction",
        0,
        Writer::Txn(0),
        &["a1", "a2", "a3"],
    );
    report.compare(
        &label("end txn abort", ApiKey::EndTxn, ve),
        each(&mut peers, |p, side| {
            let st = &mut sides[side];
            let node = st.coordinator;
            let req = end(st, 0, false);
            ask_txn(p, st, node, ve, req, BUSY)
        }),
    );
    for p in peers.iter_mut() {
        p.await_markers(&topic, &[0], None);
    }
    read_back(report, &mut peers, &sides, "abort", &[0]);
    for (what, epoch_offset, commit) in [
        ("end txn commit after an abort", 0, true),
        ("end txn abort with the previous epoch", -1, false),
    ] {
        report.compare(
            &label(what, ApiKey::EndTxn, ve),
            each(&mut peers, |p, side| {
                let st = &mut sides[side];
                let node = st.coordinator;
                let req = end(st, epoch_offset, commit);
                ask_txn(p, st, node, ve, req, BUSY)
            }),
        );
    }

    // A third transaction, cut short by a new InitProducerId: Kafka fences
    // the producer, aborts the transaction and answers
    // CONCURRENT_TRANSACTIONS until the abort is done.
    report.compare(
        &label(
            "add partitions third transaction",
            ApiKey::AddPartitionsToTxn,
            va,
        ),
        each(&mut peers, |p, side| {
            let st = &mut sides[side];
            let node = st.coordinator;
            let req = add(st, 0, 0, &[(&topic, vec![0])]);
            ask_txn(p, st, node, va, req, BUSY)
        }),
    );
    produce_step(
        report,
        &mut peers,
        &mut sides,
        "produce transactional third transaction",
        0,
        Writer::Txn(0),
        &["f1"],
    );
    let fenced: [(i64, i16); 2] = [0, 1].map(|side| (sides[side].producer_id, sides[side].epoch));
    report.compare(
        &label(
            "init while a transaction is open",
            ApiKey::InitProducerId,
            vi,
        ),
        each(&mut peers, |p, side| {
            let st = &mut sides[side];
            let node = st.coordinator;
            ask_txn(p, st, node, vi, init(Some(&txn_id), 60_000), &[])
        }),
    );
    report.compare(
        &label(
            "init while a transaction is open, retried",
            ApiKey::InitProducerId,
            vi,
        ),
        each(&mut peers, |p, side| {
            let st = &mut sides[side];
            let node = st.coordinator;
            ask_txn(p, st, node, vi, init(Some(&txn_id), 60_000), BUSY)
        }),
    );
    for p in peers.iter_mut() {
        p.await_markers(&topic, &[0], None);
    }
    read_back(report, &mut peers, &sides, "the fence", &[0]);
    report.compare(
        &label("end txn by the fenced producer", ApiKey::EndTxn, ve),
        each(&mut peers, |p, side| {
            let st = &mut sides[side];
            let node = st.coordinator;
            let (pid, epoch) = fenced[side];
            let req = EndTxnRequest::default()
                .with_transactional_id(txn_id.clone())
                .with_producer_id(pid)
                .with_producer_epoch(epoch)
                .with_committed(true);
            ask_txn(p, st, node, ve, req, BUSY)
        }),
    );
    let stale = fenced[0].1 - sides[0].epoch;
    produce_step(
        report,
        &mut peers,
        &mut sides,
        "produce by the fenced producer",
        0,
        Writer::Txn(stale),
        &["fenced"],
    );

    // A fourth transaction as a transaction-v2 client runs it: neither
    // AddPartitionsToTxn nor AddOffsetsToTxn; Produce v12+ and
    // TxnOffsetCommit v5+ add the partition and the group (older versions
    // are refused, and the commit then finds no transaction).
    produce_step(
        report,
        &mut peers,
        &mut sides,
        "produce transactional fourth transaction, partition not added",
        1,
        Writer::Txn(0),
        &["v2"],
    );
    report.compare(
        &label(
            "txn offset commit fourth transaction, group not added",
            ApiKey::TxnOffsetCommit,
            vto,
        ),
        each(&mut peers, |p, side| {
            let st = &mut sides[side];
            let node = st.group_coordinator;
            let mut req = txn_commit(st, 0, &group, "", -1);
            req.topics[0].partitions[0].committed_offset = 4;
            ask_txn(p, st, node, vto, req, BUSY)
        }),
    );
    report.compare(
        &label("end txn commit fourth transaction", ApiKey::EndTxn, ve),
        each(&mut peers, |p, side| {
            let st = &mut sides[side];
            let node = st.coordinator;
            let req = end(st, 0, true);
            ask_txn(p, st, node, ve, req, BUSY)
        }),
    );
    for (side, p) in peers.iter_mut().enumerate() {
        let node = sides[side].group_coordinator;
        p.await_markers(&topic, &[1], Some((&group, node)));
    }
    read_back(report, &mut peers, &sides, "the fourth transaction", &[1]);
    offset_fetch_step(
        report,
        &mut peers,
        &sides,
        "offset fetch after the fourth transaction",
    );

    for p in peers {
        let node = Some(p.first_node());
        let vd = p.versions[&ApiKey::DeleteTopics.id()]
            .1
            .min(*ApiKey::DeleteTopics.versions().end());
        let req = DeleteTopicsRequest::default().with_timeout_ms(10_000);
        let req = if vd >= 6 {
            req.with_topics(vec![
                DeleteTopicState::default().with_name(Some(topic.clone()))
            ])
        } else {
            req.with_topic_names(vec![topic.clone()])
        };
        p.call(node, vd, req);
    }
}

// ---------------------------------------------------------------------------
// Normalisation: what may differ between two clusters
// ---------------------------------------------------------------------------

/// A response flattened to `path = value` lines after normalisation.
type Flat = Vec<(String, String)>;

/// Marks a value that is set (non-zero, non-null) without its content.
const SET: &str = "<set>";

fn uuid_marker(u: &mut Uuid) {
    if *u != Uuid::ZERO {
        *u = Uuid::from_u64_pair(0, 1);
    }
}

/// Keeps only whether there is an error message; its wording is printed
/// (with `--nocapture`) but not compared.
fn message_marker(m: &mut Option<String>) {
    if let Some(text) = m.as_deref().filter(|t| !t.is_empty()) {
        if text != SET {
            eprintln!("    message: {text:?}");
        }
        *m = Some(SET.into());
    }
}

impl Peer {
    /// A node id as its position among this peer's brokers (the mock
    /// numbers them from 0, Kafka from 1); -1 stays -1.
    fn rank(&self, id: i32) -> i32 {
        if id < 0 {
            return id;
        }
        self.nodes
            .keys()
            .position(|&n| n == id)
            .map_or(1000 + id, |i| i as i32)
    }

    /// Which broker leads a partition differs by placement: a leader id in
    /// an answer becomes 0 when it is the leader this peer's metadata
    /// names, 1 when it is another live broker.
    fn leader_marker(&self, id: i32, leader: Option<i32>) -> i32 {
        match leader {
            _ if id < 0 => id,
            Some(l) if l == id => 0,
            _ if self.nodes.contains_key(&id) => 1,
            _ => 1000 + id,
        }
    }
}

/// Sends a request and normalises the answer; a connection closed
/// instead of an answer is a result too (Kafka closes connections on
/// requests it cannot parse).
fn ask(p: &mut Peer, node: Option<i32>, version: i16, body: impl Into<RequestBody>) -> Flat {
    match p.try_call(node, version, body) {
        Ok(r) => normalise(p, r),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            vec![(String::new(), "connection closed".into())]
        }
        Err(e) => panic!("{}: {e}", p.name),
    }
}

fn normalise(p: &mut Peer, body: ResponseBody) -> Flat {
    let mut extra: Flat = Vec::new();
    let body = match body {
        ResponseBody::Metadata(mut r) => {
            r.throttle_time_ms = 0;
            let mut brokers: Vec<_> = r
                .brokers
                .into_iter()
                .map(|mut b| {
                    b.node_id = p.rank(b.node_id);
                    b.port = 0;
                    b
                })
                .collect();
            brokers.sort_by_key(|b| b.node_id);
            r.brokers = brokers;
            if r.cluster_id.is_some() {
                r.cluster_id = Some(SET.into());
            }
            // Any live broker may be named as the controller.
            if p.nodes.contains_key(&r.controller_id) {
                r.controller_id = 0;
            }
            r.topics.sort_by(|a, b| a.name.cmp(&b.name));
            for t in &mut r.topics {
                uuid_marker(&mut t.topic_id);
                t.partitions.sort_by_key(|p| p.partition_index);
                for part in &mut t.partitions {
                    let replicas = part.replica_nodes.clone();
                    // Placement differs: keep the leader's position among
                    // the replicas, and how many replicas, ISR members and
                    // offline replicas there are (each must be a replica).
                    part.leader_id = match replicas.iter().position(|&r| r == part.leader_id) {
                        Some(i) => i as i32,
                        None if part.leader_id < 0 => part.leader_id,
                        None => 1000,
                    };
                    let known = |ids: &mut Vec<i32>| {
                        for id in ids.iter_mut() {
                            *id = if replicas.contains(id) && p.nodes.contains_key(id) {
                                0
                            } else {
                                1000 + *id
                            };
                        }
                    };
                    known(&mut part.replica_nodes);
                    known(&mut part.isr_nodes);
                    known(&mut part.offline_replicas);
                }
            }
            ResponseBody::Metadata(r)
        }
        ResponseBody::CreateTopics(mut r) => {
            r.throttle_time_ms = 0;
            for t in &mut r.topics {
                uuid_marker(&mut t.topic_id);
                message_marker(&mut t.error_message);
                if let Some(configs) = &t.configs {
                    // The names are compared, not the values: those are
                    // the brokers' defaults, which the harness and the mock
                    // set differently (retention, segment sizes).
                    for c in configs {
                        extra.push((format!("topics.{}.configs.{}", t.name, c.name), SET.into()));
                    }
                    t.configs = Some(Vec::new());
                }
            }
            ResponseBody::CreateTopics(r)
        }
        ResponseBody::DeleteTopics(mut r) => {
            r.throttle_time_ms = 0;
            for t in &mut r.responses {
                uuid_marker(&mut t.topic_id);
                message_marker(&mut t.error_message);
            }
            ResponseBody::DeleteTopics(r)
        }
        ResponseBody::Produce(mut r) => {
            r.throttle_time_ms = 0;
            let leaders: Vec<i32> = r
                .responses
                .iter()
                .flat_map(|t| &t.partition_responses)
                .map(|p| p.current_leader.leader_id)
                .collect();
            for t in &mut r.responses {
                uuid_marker(&mut t.topic_id);
                let name = t.name.clone();
                for part in &mut t.partition_responses {
                    message_marker(&mut part.error_message);
                    for e in &mut part.record_errors {
                        message_marker(&mut e.batch_index_error_message);
                    }
                    let leader = leader_of(p, &name, part.index);
                    part.current_leader.leader_id =
                        p.leader_marker(part.current_leader.leader_id, leader);
                }
            }
            // The endpoints are those of the leaders named above.
            for n in &mut r.node_endpoints {
                n.node_id = if leaders.contains(&n.node_id) {
                    0
                } else {
                    1000 + n.node_id
                };
                n.port = 0;
            }
            ResponseBody::Produce(r)
        }
        ResponseBody::Fetch(mut r) => {
            r.throttle_time_ms = 0;
            if r.session_id != 0 {
                r.session_id = 1;
            }
            for (ti, t) in r.responses.iter_mut().enumerate() {
                uuid_marker(&mut t.topic_id);
                let name = t.topic.clone();
                for part in &mut t.partitions {
                    if let Some(records) = part.records.take() {
                        for (path, value) in flatten_records(records) {
                            extra.push((format!("responses[{ti}].records{path}"), value));
                        }
                        part.records = Some(Bytes::new());
                    }
                    let leader = leader_of(p, &name, part.partition_index);
                    part.current_leader.leader_id =
                        p.leader_marker(part.current_leader.leader_id, leader);
                }
            }
            for n in &mut r.node_endpoints {
                n.node_id = p.rank(n.node_id);
                n.port = 0;
            }
            ResponseBody::Fetch(r)
        }
        ResponseBody::ListOffsets(mut r) => {
            r.throttle_time_ms = 0;
            ResponseBody::ListOffsets(r)
        }
        ResponseBody::FindCoordinator(mut r) => {
            r.throttle_time_ms = 0;
            message_marker(&mut r.error_message);
            // Which broker coordinates a group differs by placement. From
            // v4 the answer is in `coordinators` and the top-level fields
            // are absent (left at their defaults by the decoder).
            if r.coordinators.is_empty() {
                r.node_id = p.leader_marker(r.node_id, None);
                r.port = if r.port > 0 { 1 } else { r.port };
            }
            for c in &mut r.coordinators {
                message_marker(&mut c.error_message);
                c.node_id = p.leader_marker(c.node_id, None);
                c.port = if c.port > 0 { 1 } else { c.port };
            }
            ResponseBody::FindCoordinator(r)
        }
        ResponseBody::OffsetCommit(mut r) => {
            r.throttle_time_ms = 0;
            for t in &mut r.topics {
                uuid_marker(&mut t.topic_id);
            }
            ResponseBody::OffsetCommit(r)
        }
        ResponseBody::OffsetFetch(mut r) => {
            r.throttle_time_ms = 0;
            // The order of an "all topics" answer is unspecified (Kafka's
            // follows a hash map).
            for g in &mut r.groups {
                g.topics.sort_by(|a, b| a.name.cmp(&b.name));
                for t in &mut g.topics {
                    uuid_marker(&mut t.topic_id);
                    t.partitions.sort_by_key(|p| p.partition_index);
                }
            }
            r.topics.sort_by(|a, b| a.name.cmp(&b.name));
            for t in &mut r.topics {
                t.partitions.sort_by_key(|p| p.partition_index);
            }
            ResponseBody::OffsetFetch(r)
        }
        ResponseBody::JoinGroup(mut r) => {
            r.throttle_time_ms = 0;
            ResponseBody::JoinGroup(r)
        }
        ResponseBody::SyncGroup(mut r) => {
            r.throttle_time_ms = 0;
            ResponseBody::SyncGroup(r)
        }
        ResponseBody::Heartbeat(mut r) => {
            r.throttle_time_ms = 0;
            ResponseBody::Heartbeat(r)
        }
        ResponseBody::LeaveGroup(mut r) => {
            r.throttle_time_ms = 0;
            ResponseBody::LeaveGroup(r)
        }
        ResponseBody::ListGroups(mut r) => {
            r.throttle_time_ms = 0;
            ResponseBody::ListGroups(r)
        }
        ResponseBody::DescribeGroups(mut r) => {
            r.throttle_time_ms = 0;
            for g in &mut r.groups {
                message_marker(&mut g.error_message);
            }
            ResponseBody::DescribeGroups(r)
        }
        ResponseBody::ConsumerGroupHeartbeat(mut r) => {
            r.throttle_time_ms = 0;
            message_marker(&mut r.error_message);
            if let Some(a) = &mut r.assignment {
                for t in &mut a.topic_partitions {
                    uuid_marker(&mut t.topic_id);
                    t.partitions.sort();
                }
            }
            ResponseBody::ConsumerGroupHeartbeat(r)
        }
        ResponseBody::ConsumerGroupDescribe(mut r) => {
            r.throttle_time_ms = 0;
            for g in &mut r.groups {
                message_marker(&mut g.error_message);
                // Members are listed in no particular order (the test
                // chooses the ids when it has more than one).
                g.members.sort_by(|a, b| a.member_id.cmp(&b.member_id));
                for m in &mut g.members {
                    m.subscribed_topic_names.sort();
                    for a in [&mut m.assignment, &mut m.target_assignment] {
                        for t in &mut a.topic_partitions {
                            uuid_marker(&mut t.topic_id);
                            t.partitions.sort();
                        }
                    }
                }
            }
            ResponseBody::ConsumerGroupDescribe(r)
        }
        ResponseBody::InitProducerId(mut r) => {
            r.throttle_time_ms = 0;
            ResponseBody::InitProducerId(r)
        }
        ResponseBody::AddPartitionsToTxn(mut r) => {
            r.throttle_time_ms = 0;
            // Kafka builds the answer from a hash map of partitions.
            r.results_by_topic_v3_and_below
                .sort_by(|a, b| a.name.cmp(&b.name));
            for t in &mut r.results_by_topic_v3_and_below {
                t.results_by_partition.sort_by_key(|p| p.partition_index);
            }
            ResponseBody::AddPartitionsToTxn(r)
        }
        ResponseBody::AddOffsetsToTxn(mut r) => {
            r.throttle_time_ms = 0;
            ResponseBody::AddOffsetsToTxn(r)
        }
        ResponseBody::TxnOffsetCommit(mut r) => {
            r.throttle_time_ms = 0;
            ResponseBody::TxnOffsetCommit(r)
        }
        ResponseBody::EndTxn(mut r) => {
            r.throttle_time_ms = 0;
            ResponseBody::EndTxn(r)
        }
        other => other,
    };
    let mut flat = flatten(&format!("{body:?}"));
    flat.extend(extra);
    flat
}

/// The partition's leader according to the peer, if the topic exists.
fn leader_of(p: &mut Peer, topic: &str, partition: i32) -> Option<i32> {
    if topic.is_empty() {
        return None;
    }
    let md = p.routing_metadata(&[topic]);
    md.topics
        .first()
        .filter(|t| t.error_code == 0)?
        .partitions
        .iter()
        .find(|x| x.partition_index == partition)
        .map(|x| x.leader_id)
}

/// A fetched record set, batch by batch: every header field and every
/// record's offset, timestamp, key, value and headers.
fn flatten_records(records: Bytes) -> Flat {
    #[derive(Debug)]
    #[allow(dead_code)] // read through Debug
    struct BatchView {
        header: BatchHeader,
        records: Vec<RecordView>,
    }
    #[derive(Debug)]
    #[allow(dead_code)] // read through Debug
    struct RecordView {
        offset: i64,
        timestamp: i64,
        key: Option<Bytes>,
        value: Option<Bytes>,
        headers: Vec<(String, Option<Bytes>)>,
    }
    let mut batches = Batches::new(records);
    let mut views = Vec::new();
    for b in &mut batches {
        let b = b.expect("fetched batch decodes");
        let records = b
            .records()
            .expect("records decode")
            .map(|r| {
                let r = r.expect("record decodes");
                RecordView {
                    offset: r.offset,
                    timestamp: r.timestamp,
                    key: r.key.clone(),
                    value: r.value.clone(),
                    headers: r.headers.iter().map(|(k, v)| (k.to_string(), v)).collect(),
                }
            })
            .collect();
        views.push(BatchView {
            header: *b.header(),
            records,
        });
    }
    let mut flat = flatten(&format!("{views:?}"));
    // A marker's timestamps are the coordinator's clock when it wrote it,
    // and the CRC covers them, as it covers the cluster-assigned producer
    // id of an idempotent or transactional batch: whether they are set is
    // compared, not their values.
    for (path, value) in &mut flat {
        let Some(i) = path
            .strip_prefix('[')
            .and_then(|rest| rest.split(']').next())
            .and_then(|i| i.parse::<usize>().ok())
        else {
            continue;
        };
        let header = &views[i].header;
        let volatile = if path.ends_with(".header.crc") {
            header.is_control() || header.producer_id >= 0
        } else {
            header.is_control()
                && (path.ends_with(".header.base_timestamp")
                    || path.ends_with(".header.max_timestamp")
                    || path.ends_with(".timestamp"))
        };
        if volatile {
            *value = SET.into();
        }
    }
    flat.push((".truncated".into(), batches.is_truncated().to_string()));
    flat
}

// ---------------------------------------------------------------------------
// Flattening a Debug rendering into `path = value` pairs
// ---------------------------------------------------------------------------

/// Turns a derived `Debug` rendering (`Name { a: 1, b: [X { c: "s" }] }`)
/// into `(".a", "1")`, `(".b[0].c", "\"s\"")`: one line per leaf, named by
/// its path, so two responses can be compared field by field. Tuple
/// wrappers (`Some(..)`, enum variants) are transparent.
fn flatten(debug: &str) -> Flat {
    let mut p = DebugParser {
        s: debug.as_bytes(),
        i: 0,
        out: Vec::new(),
    };
    p.value(String::new());
    p.out
}

struct DebugParser<'a> {
    s: &'a [u8],
    i: usize,
    out: Flat,
}

impl DebugParser<'_> {
    fn peek(&self) -> u8 {
        self.s.get(self.i).copied().unwrap_or(0)
    }

    fn ws(&mut self) {
        while self.peek() == b' ' {
            self.i += 1;
        }
    }

    fn token(&mut self) -> String {
        let start = self.i;
        while !matches!(
            self.peek(),
            0 | b' ' | b',' | b'{' | b'}' | b'(' | b')' | b'[' | b']' | b':' | b'"'
        ) {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    fn string(&mut self) -> String {
        let start = self.i;
        self.i += 1; // opening quote
        while self.peek() != b'"' && self.peek() != 0 {
            if self.peek() == b'\\' {
                self.i += 1;
            }
            self.i += 1;
        }
        self.i += 1; // closing quote
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    fn value(&mut self, path: String) {
        self.ws();
        match self.peek() {
            b'[' => {
                self.i += 1;
                let mut n = 0;
                loop {
                    self.ws();
                    if self.peek() == b']' {
                        self.i += 1;
                        break;
                    }
                    self.value(format!("{path}[{n}]"));
                    n += 1;
                    self.ws();
                    if self.peek() == b',' {
                        self.i += 1;
                    }
                }
                if n == 0 {
                    self.out.push((path, "[]".into()));
                }
            }
            b'"' => {
                let s = self.string();
                self.out.push((path, s));
            }
            b'(' => self.tuple(path),
            _ => {
                let mut tok = self.token();
                if tok == "b" && self.peek() == b'"' {
                    tok.push_str(&self.string());
                    self.out.push((path, tok));
                    return;
                }
                self.ws();
                match self.peek() {
                    b'{' => {
                        self.i += 1;
                        loop {
                            self.ws();
                            if self.peek() == b'}' {
                                self.i += 1;
                                break;
                            }
                            let name = self.token();
                            self.ws();
                            assert_eq!(self.peek(), b':', "Debug text at {}", self.i);
                            self.i += 1;
                            self.value(format!("{path}.{name}"));
                            self.ws();
                            if self.peek() == b',' {
                                self.i += 1;
                            }
                        }
                    }
                    b'(' => self.tuple(path),
                    _ => self.out.push((path, tok)),
                }
            }
        }
    }

    /// `(a, b)`: the first element keeps the path, others get `.1`, `.2`.
    fn tuple(&mut self, path: String) {
        self.i += 1;
        let mut n = 0;
        loop {
            self.ws();
            if self.peek() == b')' {
                self.i += 1;
                break;
            }
            let sub = if n == 0 {
                path.clone()
            } else {
                format!("{path}.{n}")
            };
            self.value(sub);
            n += 1;
            self.ws();
            if self.peek() == b',' {
                self.i += 1;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Collecting and judging differences
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Report {
    steps: usize,
    /// `step | path | mock=… kafka=…`
    diffs: Vec<(String, String)>,
}

impl Report {
    fn differ(&mut self, step: &str, path: &str, mock: impl Debug, kafka: impl Debug) {
        let (a, b) = (format!("{mock:?}"), format!("{kafka:?}"));
        if a != b {
            self.diffs
                .push((format!("{step} | {path}"), format!("mock={a} kafka={b}")));
        }
    }

    fn compare(&mut self, step: &str, [mock, kafka]: [Flat; 2]) {
        self.steps += 1;
        let a: BTreeMap<_, _> = mock.into_iter().collect();
        let b: BTreeMap<_, _> = kafka.into_iter().collect();
        let paths: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for path in paths {
            let (x, y) = (a.get(path), b.get(path));
            if x != y {
                let show = |v: Option<&String>| v.cloned().unwrap_or_else(|| "(absent)".into());
                self.diffs.push((
                    format!("{step} | {path}"),
                    format!("mock={} kafka={}", show(x), show(y)),
                ));
            }
        }
    }

    fn check(&self) {
        let mut unknown = Vec::new();
        let mut used = vec![false; KNOWN.len()];
        for (where_, what) in &self.diffs {
            let hit = KNOWN
                .iter()
                .position(|(step, path)| where_.contains(step) && where_.contains(path));
            match hit {
                Some(i) => {
                    used[i] = true;
                    eprintln!("known:   {where_} | {what}");
                }
                None => {
                    eprintln!("DIFFERS: {where_} | {what}");
                    unknown.push(format!("{where_} | {what}"));
                }
            }
        }
        let stale: Vec<_> = KNOWN
            .iter()
            .zip(&used)
            .filter(|(_, u)| !**u)
            .map(|(k, _)| k)
            .collect();
        assert!(
            unknown.is_empty() && stale.is_empty(),
            "{} undocumented differences between the mock and Kafka:\n{}\n\
             known deviations that no longer happen (remove them here and in the README): {stale:?}",
            unknown.len(),
            unknown.join("\n"),
        );
    }
}
