//! The admin machinery of a kafka-state `Client`, driven through its
//! public API against the sans-IO `kafka_mock::Cluster` (three brokers,
//! topics `t` and `u`, group `g` with committed offsets), with every
//! answer of the cluster passing through the input's hands.
//!
//! Input layout: a sequence of operations, each an opcode byte followed
//! by the bytes it consumes (see [`Harness::op`]): issue one admin
//! command (any of the `Admin` handle's, with arguments drawn from the
//! input, invalid ones included: bad topic names, negative counts,
//! empty lists, unknown configs, huge numbers); deliver the next
//! response frame of a connection intact or mutated (a flipped byte, a
//! truncation, an error code written over an i16, a duplicate, garbage
//! instead, a forged length prefix, or dropped); advance the clock or
//! jump to the next deadline; reset a connection; refuse the next
//! connection attempt; arm a fault in the cluster (an injected error
//! code, a broker down, silent or back, an older API version); close the
//! client.
//!
//! Checks: nothing panics, and once the operations are done and the
//! clock has run past every command's `api_timeout` plus
//! `request_timeout` with the remaining answers delivered intact, every
//! command that returned `Ok(id)` got exactly one `Event::AdminResult`
//! with that id, and no result carries an id no command returned.
#![no_main]

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_mock::{Cluster, ClusterConfig, ErrorInjection, Output};
use kafka_proto::frame::split_frame;
use kafka_proto::{ApiKey, ErrorCode};
use kafka_state::admin::{
    AclBinding, AclBindingFilter, AclOperation, AclPatternType, AclPermission, AclResourceType,
    AlterConfigOp, ConfigResource, NewPartitions, QuotaEntity, QuotaFilter, QuotaMatch, QuotaOp,
    ScramChange, ScramMechanism,
};
use kafka_state::{
    BrokerAddr, Client, Config, ConnId, ConnRequest, Event, NewTopic, RequestId, TopicPartition,
};
use libfuzzer_sys::fuzz_target;

/// Broker `n` listens on `BASE_PORT + n`.
const BASE_PORT: u16 = 9092;
const BROKERS: i32 = 3;
/// Operations per input, so one input stays fast.
const MAX_OPS: usize = 300;
/// SCRAM upserts salt passwords with thousands of hash rounds; a few per
/// input are enough.
const MAX_SCRAM_ALTERS: u32 = 2;
const API_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// The APIs the admin commands send, for injected errors and older
/// versions.
const ADMIN_APIS: [ApiKey; 21] = [
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::Metadata,
    ApiKey::ListGroups,
    ApiKey::DescribeGroups,
    ApiKey::DeleteGroups,
    ApiKey::FindCoordinator,
    ApiKey::OffsetFetch,
    ApiKey::OffsetCommit,
    ApiKey::DescribeConfigs,
    ApiKey::IncrementalAlterConfigs,
    ApiKey::CreatePartitions,
    ApiKey::DeleteRecords,
    ApiKey::DescribeCluster,
    ApiKey::ApiVersions,
    ApiKey::CreateAcls,
    ApiKey::DescribeAcls,
    ApiKey::DeleteAcls,
    ApiKey::DescribeUserScramCredentials,
    ApiKey::AlterUserScramCredentials,
    ApiKey::DescribeClientQuotas,
];

/// Error codes a broker answers admin requests with.
const ERRORS: [i16; 24] = [
    -1,  // UNKNOWN_SERVER_ERROR
    3,   // UNKNOWN_TOPIC_OR_PARTITION
    5,   // LEADER_NOT_AVAILABLE
    6,   // NOT_LEADER_OR_FOLLOWER
    7,   // REQUEST_TIMED_OUT
    14,  // COORDINATOR_LOAD_IN_PROGRESS
    15,  // COORDINATOR_NOT_AVAILABLE
    16,  // NOT_COORDINATOR
    17,  // INVALID_TOPIC_EXCEPTION
    29,  // TOPIC_AUTHORIZATION_FAILED
    30,  // GROUP_AUTHORIZATION_FAILED
    31,  // CLUSTER_AUTHORIZATION_FAILED
    35,  // UNSUPPORTED_VERSION
    36,  // TOPIC_ALREADY_EXISTS
    37,  // INVALID_PARTITIONS
    38,  // INVALID_REPLICATION_FACTOR
    40,  // INVALID_CONFIG
    41,  // NOT_CONTROLLER
    42,  // INVALID_REQUEST
    68,  // NON_EMPTY_GROUP
    69,  // GROUP_ID_NOT_FOUND
    89,  // THROTTLING_QUOTA_EXCEEDED
    101, // DUPLICATE_BROKER_REGISTRATION, meaningless here
    i16::MAX,
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
    fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }
    fn i32(&mut self) -> i32 {
        i32::from_be_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    fn i64(&mut self) -> i64 {
        (i64::from(self.i32()) << 32) | i64::from(self.i32() as u32)
    }
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = usize::from(self.byte()).min(max).min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head.to_vec()
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// How many items a list gets: mostly one to three, sometimes none
    /// or more.
    fn count(&mut self) -> usize {
        match self.byte() {
            0..=15 => 0,
            b @ 16..=239 => 1 + usize::from(b % 3),
            b => usize::from(b % 8),
        }
    }
    /// Any string at all, from the input.
    fn string(&mut self) -> String {
        String::from_utf8_lossy(&self.bytes(40)).into_owned()
    }
    /// A topic name: mostly the cluster's, else new, invalid or arbitrary.
    fn topic(&mut self) -> String {
        match self.byte() % 12 {
            0..=3 => "t".into(),
            4 | 5 => "u".into(),
            6 => format!("n{}", self.byte() % 4),
            7 => String::new(),
            8 => "bad name".into(),
            9 => "..".into(),
            10 => "x".repeat(250),
            _ => self.string(),
        }
    }
    fn group(&mut self) -> String {
        match self.byte() % 6 {
            0..=2 => "g".into(),
            3 => "h".into(),
            4 => String::new(),
            _ => self.string(),
        }
    }
    /// A small number, sometimes negative, zero or any i32.
    fn small(&mut self) -> i32 {
        match self.byte() {
            b @ 0..=199 => i32::from(b % 8) - 1,
            200..=229 => i32::MIN,
            230..=239 => i32::MAX,
            _ => self.i32(),
        }
    }
    fn broker(&mut self) -> i32 {
        match self.byte() {
            b @ 0..=229 => i32::from(b % 4),
            230..=239 => -1,
            _ => self.i32(),
        }
    }
    fn offset(&mut self) -> i64 {
        match self.byte() {
            b @ 0..=199 => i64::from(b % 12) - 2,
            200..=229 => i64::MAX,
            _ => self.i64(),
        }
    }
    fn partition(&mut self) -> TopicPartition {
        let topic = self.topic();
        let p = self.small();
        TopicPartition::new(topic, p)
    }
    fn error(&mut self) -> i16 {
        match self.byte() {
            b @ 0..=239 => ERRORS[usize::from(b) % ERRORS.len()],
            _ => self.u16() as i16,
        }
    }
    fn config_name(&mut self) -> String {
        match self.byte() % 6 {
            0 => "retention.ms".into(),
            1 => "cleanup.policy".into(),
            2 => "no.such.config".into(),
            3 => String::new(),
            4 => "log.retention.bytes".into(),
            _ => self.string(),
        }
    }
    fn config_value(&mut self) -> String {
        match self.byte() % 4 {
            0 => "1000".into(),
            1 => "compact".into(),
            2 => "-9223372036854775808".into(),
            _ => self.string(),
        }
    }
    fn resource(&mut self) -> ConfigResource {
        match self.byte() % 5 {
            0 => ConfigResource::Topic(self.topic()),
            1 => ConfigResource::Broker(self.broker()),
            2 => ConfigResource::BrokerLogger(self.broker()),
            3 => ConfigResource::Group(self.group()),
            _ => ConfigResource::BrokerDefaults,
        }
    }
    fn resource_type(&mut self) -> AclResourceType {
        match self.byte() % 9 {
            0 => AclResourceType::Any,
            1 => AclResourceType::Topic,
            2 => AclResourceType::Group,
            3 => AclResourceType::Cluster,
            4 => AclResourceType::TransactionalId,
            5 => AclResourceType::DelegationToken,
            6 => AclResourceType::User,
            _ => AclResourceType::Unknown(self.byte() as i8),
        }
    }
    fn pattern_type(&mut self) -> AclPatternType {
        match self.byte() % 6 {
            0 => AclPatternType::Any,
            1 => AclPatternType::Match,
            2 | 3 => AclPatternType::Literal,
            4 => AclPatternType::Prefixed,
            _ => AclPatternType::Unknown(self.byte() as i8),
        }
    }
    fn operation(&mut self) -> AclOperation {
        match self.byte() % 8 {
            0 => AclOperation::All,
            1 => AclOperation::Read,
            2 => AclOperation::Write,
            3 => AclOperation::Describe,
            4 => AclOperation::Alter,
            5 => AclOperation::IdempotentWrite,
            6 => AclOperation::ClusterAction,
            _ => AclOperation::Unknown(self.byte() as i8),
        }
    }
    fn permission(&mut self) -> AclPermission {
        match self.byte() % 4 {
            0 => AclPermission::Any,
            1 => AclPermission::Deny,
            2 => AclPermission::Allow,
            _ => AclPermission::Unknown(self.byte() as i8),
        }
    }
    fn principal(&mut self) -> String {
        match self.byte() % 4 {
            0 | 1 => "User:alice".into(),
            2 => "User:*".into(),
            _ => self.string(),
        }
    }
    fn acl(&mut self) -> AclBinding {
        let name = match self.byte() % 3 {
            0 => "t".into(),
            1 => "*".into(),
            _ => self.string(),
        };
        let host = if self.flag() {
            "*".into()
        } else {
            self.string()
        };
        AclBinding::new(
            self.resource_type(),
            name,
            self.principal(),
            self.operation(),
            self.permission(),
        )
        .with_pattern_type(self.pattern_type())
        .with_host(host)
    }
    fn acl_filter(&mut self) -> AclBindingFilter {
        let mut f = AclBindingFilter::any();
        let fields = self.byte();
        if fields & 1 != 0 {
            f = f.with_resource_type(self.resource_type());
        }
        if fields & 2 != 0 {
            f = f.with_resource_name(if self.flag() {
                "t".into()
            } else {
                self.string()
            });
        }
        if fields & 4 != 0 {
            f = f.with_pattern_type(self.pattern_type());
        }
        if fields & 8 != 0 {
            f = f.with_principal(self.principal());
        }
        if fields & 16 != 0 {
            f = f.with_host(self.string());
        }
        if fields & 32 != 0 {
            f = f.with_operation(self.operation());
        }
        if fields & 64 != 0 {
            f = f.with_permission(self.permission());
        }
        f
    }
    fn mechanism(&mut self) -> ScramMechanism {
        match self.byte() % 5 {
            0 | 1 => ScramMechanism::Sha256,
            2 | 3 => ScramMechanism::Sha512,
            _ => ScramMechanism::Unknown(self.byte() as i8),
        }
    }
    fn user(&mut self) -> String {
        match self.byte() % 4 {
            0 | 1 => "alice".into(),
            2 => String::new(),
            _ => self.string(),
        }
    }
    fn quota_entity(&mut self) -> QuotaEntity {
        let mut e = QuotaEntity::new();
        for _ in 0..self.count() {
            let kind = match self.byte() % 5 {
                0 | 1 => "user".into(),
                2 => "client-id".into(),
                3 => "ip".into(),
                _ => self.string(),
            };
            let name = if self.byte() % 4 == 0 {
                None
            } else {
                Some(self.user())
            };
            e = e.with(kind, name);
        }
        e
    }
    fn quota_op(&mut self) -> QuotaOp {
        let key = match self.byte() % 4 {
            0 => "producer_byte_rate".into(),
            1 => "request_percentage".into(),
            2 => "no_such_quota".into(),
            _ => self.string(),
        };
        if self.flag() {
            let v = match self.byte() % 5 {
                0 => 1024.0,
                1 => -1.0,
                2 => f64::NAN,
                3 => f64::MAX,
                _ => f64::from(self.i32()),
            };
            QuotaOp::Set(key, v)
        } else {
            QuotaOp::Remove(key)
        }
    }
}

/// What happens to a response frame on its way to the client.
#[derive(Debug)]
enum Queued {
    Frame(Bytes),
    /// The cluster closed the connection after the frames before.
    Close,
}

/// The client, the cluster, and the network the input controls.
struct Harness {
    client: Client,
    cluster: Cluster,
    now: Instant,
    /// Connections the client opened and the cluster accepted, with the
    /// response frames (size prefix removed) not yet delivered.
    conns: BTreeMap<ConnId, VecDeque<Queued>>,
    /// What reached the client on each connection and it left unread (a
    /// partial frame).
    unread: BTreeMap<ConnId, BytesMut>,
    /// Refuse the next connection attempt.
    refuse_next: bool,
    /// Commands that returned `Ok`: id and when they were given.
    issued: BTreeMap<RequestId, Instant>,
    /// Results seen per id.
    results: BTreeMap<RequestId, u32>,
    scram_alters: u32,
    /// `ADMIN_FUZZ_TRACE` set: every command and result goes to stderr,
    /// to read what an input does.
    trace: bool,
}

fn mock(conn: ConnId) -> kafka_mock::ConnId {
    kafka_mock::ConnId(conn.0)
}

impl Harness {
    fn new() -> Option<Self> {
        #[allow(clippy::disallowed_methods)] // the one clock read, to start from
        let now = Instant::now();
        let mut cc = ClusterConfig::default();
        cc.brokers = BROKERS;
        cc.auto_create_topics = false;
        let mut cluster = Cluster::new(cc, now);
        for b in 0..BROKERS {
            cluster.set_broker_port(b, BASE_PORT + b as u16);
        }
        cluster.create_topic("t", 3, 3).ok()?;
        cluster.create_topic("u", 1, 2).ok()?;
        let mut config =
            Config::new((0..BROKERS).map(|b| BrokerAddr::new("127.0.0.1", BASE_PORT + b as u16)));
        config.seed = 7;
        config.api_timeout = API_TIMEOUT;
        config.request_timeout = REQUEST_TIMEOUT;
        let client = Client::new(config, now).ok()?;
        Some(Self {
            client,
            cluster,
            now,
            conns: BTreeMap::new(),
            unread: BTreeMap::new(),
            refuse_next: false,
            issued: BTreeMap::new(),
            results: BTreeMap::new(),
            scram_alters: 0,
            trace: std::env::var_os("ADMIN_FUZZ_TRACE").is_some(),
        })
    }

    /// Collects what the client and the cluster want done. Requests reach
    /// the cluster at once and intact; answers wait in `conns`.
    fn drain(&mut self) {
        loop {
            let mut progress = false;
            while let Some(t) = self.client.poll_transmit() {
                progress = true;
                if !self.conns.contains_key(&t.conn) {
                    continue;
                }
                let mut buf = BytesMut::from(&t.bytes[..]);
                while let Ok(Some(frame)) = split_frame(&mut buf, usize::MAX) {
                    self.cluster.handle_frame(self.now, mock(t.conn), frame);
                }
            }
            while let Some(req) = self.client.poll_conn() {
                progress = true;
                match req {
                    ConnRequest::Open { conn, port, .. } => {
                        let broker = i32::from(port.wrapping_sub(BASE_PORT));
                        if std::mem::take(&mut self.refuse_next) || !(0..BROKERS).contains(&broker)
                        {
                            self.client.handle_connect_failed(self.now, conn, "refused");
                        } else {
                            self.conns.insert(conn, VecDeque::new());
                            self.cluster.handle_connected(self.now, mock(conn), broker);
                            self.client.handle_connected(self.now, conn);
                        }
                    }
                    ConnRequest::Close { conn } => {
                        self.conns.remove(&conn);
                        self.unread.remove(&conn);
                        self.cluster.handle_closed(self.now, mock(conn));
                    }
                    _ => {}
                }
            }
            while let Some(out) = self.cluster.poll_output() {
                progress = true;
                match out {
                    Output::Send { conn, bytes } => {
                        if let Some(q) = self.conns.get_mut(&ConnId(conn.0)) {
                            let mut buf = BytesMut::from(&bytes[..]);
                            while let Ok(Some(frame)) = split_frame(&mut buf, usize::MAX) {
                                q.push_back(Queued::Frame(frame));
                            }
                        }
                    }
                    Output::Close { conn, .. } => {
                        if let Some(q) = self.conns.get_mut(&ConnId(conn.0)) {
                            q.push_back(Queued::Close);
                        }
                    }
                    _ => {}
                }
            }
            while let Some(e) = self.client.poll_event() {
                progress = true;
                if let Event::AdminResult { id, result } = e {
                    if self.trace {
                        eprintln!("{id:?}: {result:?}");
                    }
                    assert!(
                        self.issued.contains_key(&id),
                        "a result for {id:?}, which no command returned"
                    );
                    let n = self.results.entry(id).or_default();
                    *n += 1;
                    assert_eq!(*n, 1, "two results for {id:?}");
                }
            }
            if !progress {
                return;
            }
        }
    }

    /// A connection goes away under both ends.
    fn reset(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
        self.unread.remove(&conn);
        self.cluster.handle_closed(self.now, mock(conn));
        self.client.handle_closed(self.now, conn);
    }

    /// Bytes reach the client on `conn`, after what it left unread.
    fn recv(&mut self, conn: ConnId, bytes: &[u8]) {
        let mut buf = self.unread.remove(&conn).unwrap_or_default();
        buf.extend_from_slice(bytes);
        self.client.handle_recv(self.now, conn, &mut buf);
        if self.conns.contains_key(&conn) && !buf.is_empty() {
            self.unread.insert(conn, buf);
        }
    }

    fn recv_frame(&mut self, conn: ConnId, body: &[u8]) {
        let mut framed = Vec::with_capacity(body.len() + 4);
        framed.put_i32(body.len() as i32);
        framed.extend_from_slice(body);
        self.recv(conn, &framed);
    }

    /// Delivers the next thing queued on `conn`, changed as `mode` says.
    fn deliver(&mut self, conn: ConnId, mode: u8, input: &mut Input) {
        let Some(next) = self.conns.get_mut(&conn).and_then(VecDeque::pop_front) else {
            return;
        };
        let frame = match next {
            Queued::Close => return self.reset(conn),
            Queued::Frame(f) => f,
        };
        match mode {
            // Intact, most of the time.
            0..=7 => self.recv_frame(conn, &frame),
            // One byte flipped.
            8 => {
                let mut f = frame.to_vec();
                if !f.is_empty() {
                    let i = usize::from(input.u16()) % f.len();
                    f[i] ^= input.byte() | 1;
                }
                self.recv_frame(conn, &f);
            }
            // Truncated, with a length prefix that says so.
            9 => {
                let n = usize::from(input.u16()) % (frame.len() + 1);
                self.recv_frame(conn, &frame[..n]);
            }
            // An error code written over two bytes.
            10 => {
                let mut f = frame.to_vec();
                if f.len() >= 2 {
                    let i = usize::from(input.u16()) % (f.len() - 1);
                    f[i..i + 2].copy_from_slice(&input.error().to_be_bytes());
                }
                self.recv_frame(conn, &f);
            }
            // Twice.
            11 => {
                self.recv_frame(conn, &frame);
                self.recv_frame(conn, &frame);
            }
            // Garbage instead, behind the real correlation id or not.
            12 => {
                let mut f = Vec::new();
                if input.flag() && frame.len() >= 4 {
                    f.extend_from_slice(&frame[..4]);
                }
                f.extend_from_slice(&input.bytes(255));
                self.recv_frame(conn, &f);
            }
            // A forged length prefix: the bytes that follow read as part
            // of a frame that may never end.
            13 => {
                let mut f = Vec::with_capacity(frame.len() + 4);
                f.put_i32(input.i32());
                f.extend_from_slice(&frame);
                self.recv(conn, &f);
            }
            // Swapped with the frame behind it.
            14 => {
                let behind = self.conns.get_mut(&conn).and_then(|q| match q.front() {
                    Some(Queued::Frame(_)) => q.pop_front(),
                    _ => None,
                });
                if let Some(Queued::Frame(b)) = behind {
                    self.recv_frame(conn, &b);
                }
                self.recv_frame(conn, &frame);
            }
            // Lost.
            _ => {}
        }
    }

    fn advance(&mut self, to: Instant) {
        self.now = self.now.max(to);
        self.cluster.handle_timeout(self.now);
        self.drain();
        self.client.handle_timeout(self.now);
    }

    /// A command's outcome: an id to wait for, or misuse.
    fn issued(&mut self, r: Result<RequestId, kafka_state::Misuse>) {
        if self.trace {
            eprintln!("command: {r:?}");
        }
        if let Ok(id) = r {
            assert!(
                self.issued.insert(id, self.now).is_none(),
                "{id:?} returned twice"
            );
        }
    }

    fn op(&mut self, input: &mut Input) {
        match input.byte() % 16 {
            0..=4 => self.command(input),
            // The next frame of a connection, intact or not.
            5..=9 => {
                let live: Vec<ConnId> = self
                    .conns
                    .iter()
                    .filter(|(_, q)| !q.is_empty())
                    .map(|(c, _)| *c)
                    .collect();
                if live.is_empty() {
                    return;
                }
                let conn = live[usize::from(input.byte()) % live.len()];
                let mode = input.byte() % 18;
                self.deliver(conn, mode, input);
            }
            // Time passes, up to about a minute.
            10 => {
                let to = self.now + Duration::from_millis(u64::from(input.u16()));
                self.advance(to);
            }
            // The clock jumps to the next deadline of either side.
            11 => {
                let next = [self.client.poll_timeout(), self.cluster.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min();
                if let Some(t) = next {
                    self.advance(t);
                }
            }
            // A connection resets.
            12 => {
                let conns: Vec<ConnId> = self.conns.keys().copied().collect();
                if !conns.is_empty() {
                    let conn = conns[usize::from(input.byte()) % conns.len()];
                    self.reset(conn);
                }
            }
            13 => self.refuse_next = true,
            14 => self.fault(input),
            // The application closes the client (rarely).
            _ => {
                if input.byte() == 0xff {
                    self.client.close(self.now);
                }
            }
        }
    }

    /// A fault of the cluster's.
    fn fault(&mut self, input: &mut Input) {
        let api = ADMIN_APIS[usize::from(input.byte()) % ADMIN_APIS.len()];
        match input.byte() % 6 {
            0 | 1 => {
                let error = ErrorCode::from_code(input.error());
                let count = u32::from(input.byte() % 4) + 1;
                let mut inj = ErrorInjection::new(api, error, count);
                if input.flag() {
                    inj = inj.on_broker(input.broker());
                }
                self.cluster.inject_error(inj);
            }
            2 => {
                let b = input.broker();
                let _ = self.cluster.set_broker_up(b, input.flag());
            }
            3 => {
                let b = input.broker();
                let _ = self.cluster.set_broker_silent(b, input.flag());
            }
            4 => {
                let v = i16::from(input.byte() % 8);
                self.cluster.set_max_version(api, v);
            }
            _ => {
                let b = input.broker();
                let _ = self.cluster.move_leader("t", input.small(), b);
            }
        }
    }

    /// One admin command, with arguments from the input.
    fn command(&mut self, input: &mut Input) {
        let now = self.now;
        let r = match input.byte() % 23 {
            0 => {
                let topics: Vec<NewTopic> = (0..input.count())
                    .map(|_| {
                        let mut t = NewTopic::new(
                            input.topic(),
                            input.small(),
                            input.small().clamp(-2, i32::from(i16::MAX)) as i16,
                        );
                        for _ in 0..input.count() {
                            t = t.with_config(input.config_name(), input.config_value());
                        }
                        if input.flag() {
                            // Often valid, sometimes uneven or repeating.
                            let rf = input.count();
                            let assignment = (0..input.count())
                                .map(|_| (0..rf).map(|_| input.broker()).collect())
                                .collect();
                            t = NewTopic::new(t.name.clone(), -1, -1).with_assignment(assignment);
                        }
                        t
                    })
                    .collect();
                let validate_only = input.flag();
                self.client
                    .admin()
                    .create_topics_validate(now, topics, validate_only)
            }
            1 if input.flag() => {
                // Ids of known topics, or made up.
                let known: Vec<kafka_proto::Uuid> =
                    self.client.cluster().topics().map(|(_, t)| t.id).collect();
                let ids: Vec<kafka_proto::Uuid> = (0..input.count())
                    .map(|_| match known.get(usize::from(input.byte())) {
                        Some(id) => *id,
                        None => kafka_proto::Uuid::from_u64_pair(0, u64::from(input.byte())),
                    })
                    .collect();
                self.client.admin().delete_topics_by_id(now, ids)
            }
            1 => {
                let names: Vec<String> = (0..input.count()).map(|_| input.topic()).collect();
                self.client.admin().delete_topics(now, names)
            }
            2 => {
                let names: Vec<String> = (0..input.count()).map(|_| input.topic()).collect();
                let operations = input.flag();
                self.client
                    .admin()
                    .describe_topics(now, names, operations)
            }
            3 => self.client.admin().brokers(now),
            4 => self.client.admin().metadata_all(now),
            5 => self.client.admin().list_groups(now),
            6 => {
                let groups: Vec<String> = (0..input.count()).map(|_| input.group()).collect();
                self.client.admin().describe_groups(now, groups)
            }
            7 => {
                let groups: Vec<String> = (0..input.count()).map(|_| input.group()).collect();
                self.client.admin().delete_groups(now, groups)
            }
            8 => {
                let group = input.group();
                self.client.admin().group_offsets(now, &group)
            }
            9 => {
                let group = input.group();
                let offsets: BTreeMap<TopicPartition, i64> = (0..input.count())
                    .map(|_| (input.partition(), input.offset()))
                    .collect();
                self.client
                    .admin()
                    .alter_group_offsets(now, &group, offsets)
            }
            10 => {
                let resources: Vec<ConfigResource> =
                    (0..input.count()).map(|_| input.resource()).collect();
                let synonyms = input.flag();
                self.client
                    .admin()
                    .describe_configs(now, resources, synonyms)
            }
            11 => {
                let changes: Vec<(ConfigResource, Vec<AlterConfigOp>)> = (0..input.count())
                    .map(|_| {
                        let r = input.resource();
                        let ops = (0..input.count())
                            .map(|_| match input.byte() % 4 {
                                0 => AlterConfigOp::Set(input.config_name(), input.config_value()),
                                1 => AlterConfigOp::Delete(input.config_name()),
                                2 => {
                                    AlterConfigOp::Append(input.config_name(), input.config_value())
                                }
                                _ => AlterConfigOp::Subtract(
                                    input.config_name(),
                                    input.config_value(),
                                ),
                            })
                            .collect();
                        (r, ops)
                    })
                    .collect();
                let validate_only = input.flag();
                self.client
                    .admin()
                    .alter_configs(now, changes, validate_only)
            }
            12 => {
                let topics: Vec<NewPartitions> = (0..input.count())
                    .map(|_| {
                        let p = NewPartitions::new(input.topic(), input.small());
                        if input.flag() {
                            let a = (0..input.count())
                                .map(|_| (0..input.count()).map(|_| input.broker()).collect())
                                .collect();
                            p.with_assignment(a)
                        } else {
                            p
                        }
                    })
                    .collect();
                let validate_only = input.flag();
                self.client
                    .admin()
                    .create_partitions(now, topics, validate_only)
            }
            13 => {
                let before: BTreeMap<TopicPartition, i64> = (0..input.count())
                    .map(|_| (input.partition(), input.offset()))
                    .collect();
                self.client.admin().delete_records(now, before)
            }
            14 => {
                let ops = input.flag();
                self.client.admin().describe_cluster(now, ops)
            }
            15 => {
                let node = input.flag().then(|| input.broker());
                self.client.admin().describe_features(now, node)
            }
            16 => {
                let bindings: Vec<AclBinding> = (0..input.count()).map(|_| input.acl()).collect();
                self.client.admin().create_acls(now, bindings)
            }
            17 => {
                let filter = input.acl_filter();
                self.client.admin().describe_acls(now, filter)
            }
            18 => {
                let filters: Vec<AclBindingFilter> =
                    (0..input.count()).map(|_| input.acl_filter()).collect();
                self.client.admin().delete_acls(now, filters)
            }
            19 => {
                let users: Vec<String> = (0..input.count()).map(|_| input.user()).collect();
                self.client
                    .admin()
                    .describe_user_scram_credentials(now, users)
            }
            20 => {
                if self.scram_alters >= MAX_SCRAM_ALTERS {
                    return;
                }
                self.scram_alters += 1;
                let changes: Vec<ScramChange> = (0..input.count())
                    .map(|_| {
                        let user = input.user();
                        let mechanism = input.mechanism();
                        if input.flag() {
                            let iterations = match input.byte() % 4 {
                                0..=2 => 4096,
                                _ => u32::from(input.u16()),
                            };
                            ScramChange::upsert(user, mechanism, iterations, input.string())
                        } else {
                            ScramChange::delete(user, mechanism)
                        }
                    })
                    .collect();
                self.client
                    .admin()
                    .alter_user_scram_credentials(now, changes)
            }
            21 => {
                let mut f = QuotaFilter::any();
                for _ in 0..input.count() {
                    let kind = match input.byte() % 3 {
                        0 => "user".into(),
                        1 => "client-id".into(),
                        _ => input.string(),
                    };
                    let m = match input.byte() % 3 {
                        0 => QuotaMatch::Exact(input.user()),
                        1 => QuotaMatch::Default,
                        _ => QuotaMatch::Any,
                    };
                    f = f.with(kind, m);
                }
                if input.flag() {
                    f = f.strict();
                }
                self.client.admin().describe_client_quotas(now, f)
            }
            _ => {
                let changes: Vec<(QuotaEntity, Vec<QuotaOp>)> = (0..input.count())
                    .map(|_| {
                        let e = input.quota_entity();
                        let ops = (0..input.count()).map(|_| input.quota_op()).collect();
                        (e, ops)
                    })
                    .collect();
                let validate_only = input.flag();
                self.client
                    .admin()
                    .alter_client_quotas(now, changes, validate_only)
            }
        };
        self.issued(r);
    }

    /// Everything left is delivered intact and the clock runs past every
    /// command's deadline plus one request timeout.
    fn settle(&mut self) {
        let last = self.issued.values().max().copied().unwrap_or(self.now);
        let end = last.max(self.now) + API_TIMEOUT + REQUEST_TIMEOUT + Duration::from_secs(1);
        // A bound on the loop: a client that asks to be woken without end
        // shows up as results missing at the end.
        for _ in 0..100_000 {
            self.drain();
            let queued: Vec<ConnId> = self
                .conns
                .iter()
                .filter(|(_, q)| !q.is_empty())
                .map(|(c, _)| *c)
                .collect();
            if !queued.is_empty() {
                for conn in queued {
                    while self.conns.get(&conn).is_some_and(|q| !q.is_empty()) {
                        self.deliver(conn, 0, &mut Input(&[]));
                        self.drain();
                    }
                }
                continue;
            }
            if self.now >= end {
                break;
            }
            let next = [self.client.poll_timeout(), self.cluster.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(end);
            // Always forward, so a deadline reported as already passed
            // cannot stall the loop.
            let next = next.max(self.now + Duration::from_millis(1)).min(end);
            self.advance(next);
        }
        self.drain();
    }

    fn check(&self) {
        for (id, at) in &self.issued {
            assert!(
                self.results.contains_key(id),
                "no result for {id:?}, given {:?} before the end",
                self.now.saturating_duration_since(*at),
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(mut h) = Harness::new() else {
        return;
    };
    // Committed offsets for group `g` and a warm metadata cache, all
    // delivered intact, before the input takes over.
    let now = h.now;
    let tp = |p| TopicPartition::new("t", p);
    let offsets: BTreeMap<TopicPartition, i64> = [(tp(0), 5), (tp(1), 7)].into_iter().collect();
    let r = h.client.admin().metadata_all(now);
    h.issued(r);
    h.settle();
    // The offsets name topics by id in newer versions: after the metadata.
    let now = h.now;
    let r = h.client.admin().alter_group_offsets(now, "g", offsets);
    h.issued(r);
    h.settle();
    h.check();
    let mut input = Input(data);
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        h.op(&mut input);
        h.drain();
    }
    h.settle();
    h.check();
});
