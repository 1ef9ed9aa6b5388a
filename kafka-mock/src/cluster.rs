//! The sans-IO cluster model: decoded requests in, encoded responses out.
//!
//! A driver (see [`crate::server`]) or a simulation feeds it connection
//! events and frames with the current time, then drains
//! [`Cluster::poll_output`] and sleeps until [`Cluster::poll_timeout`].
//! Each connection answers strictly in request order, as a Kafka broker
//! does: a request waiting on a timer (a Fetch with `max_wait_ms`, a
//! JoinGroup waiting for members) holds back the ones behind it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_proto::frame::{decode_request_frame, encode_response_frame};
use kafka_proto::messages::RequestHeader;
use kafka_proto::{ApiKey, DecodeErrorKind, RequestBody, ResponseBody, Uuid};

use crate::faults::Faults;
use crate::log::PartitionLog;

/// Identifies one client connection; chosen by the driver, unique while open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Something the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// Write these bytes (one or more whole frames) to the connection.
    Send {
        /// The connection.
        conn: ConnId,
        /// Size-prefixed response frame.
        bytes: Bytes,
    },
    /// Close the connection; `reason` says why, for the log.
    Close {
        /// The connection.
        conn: ConnId,
        /// Why it is closed.
        reason: String,
    },
}

/// Settings of a mock cluster.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClusterConfig {
    /// Number of brokers, with node ids `0..brokers`.
    pub brokers: i32,
    /// The cluster id reported in Metadata and DescribeCluster.
    pub cluster_id: String,
    /// Host advertised for every broker.
    pub host: String,
    /// Partitions of a topic created automatically or without a count.
    pub default_partitions: i32,
    /// Replication factor of automatically created topics (capped at `brokers`).
    pub default_replication: i16,
    /// Create unknown topics on Metadata and Produce, as `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// The largest record batch a Produce may carry (`message.max.bytes`).
    pub max_message_bytes: usize,
    /// Bytes kept per partition before the oldest batches are dropped.
    pub retention_bytes: usize,
    /// Stamp batches with the broker's clock (`LogAppendTime`).
    pub log_append_time: bool,
    /// Largest request frame accepted.
    pub max_frame_size: usize,
    /// Keep a copy of every request for [`Cluster::recorded_requests`].
    pub record_requests: bool,
    /// Wall-clock milliseconds at `Instant` zero of the model; the driver
    /// sets it from the system clock, simulations choose it.
    pub epoch_millis: i64,
    /// Refuse records whose create time is further from the cluster's clock
    /// than the topic's `message.timestamp.after.max.ms` (one hour, as in
    /// Kafka 4) or `message.timestamp.before.max.ms` allow, with
    /// INVALID_TIMESTAMP, as Kafka does. Off by default, because a
    /// simulation's clock starts at an arbitrary `epoch_millis`;
    /// [`crate::MockCluster`], whose clock is the system's, turns it on.
    pub check_timestamps: bool,
    /// How often members of KIP-848 consumer groups are told to heartbeat
    /// (`group.consumer.heartbeat.interval.ms`, 5 s as in Kafka).
    pub consumer_group_heartbeat_interval_ms: i32,
    /// How long a consumer group member lives without a heartbeat
    /// (`group.consumer.session.timeout.ms`, 45 s as in Kafka).
    pub consumer_group_session_timeout_ms: i32,
    /// The most members a consumer group admits
    /// (`group.consumer.max.size`, unbounded as in Kafka).
    pub consumer_group_max_size: i32,
    /// The least time between two target assignments of a consumer group
    /// after its epoch was bumped; a second, as Kafka 4.4 was measured to
    /// wait. 0 assigns in the heartbeat that bumps the epoch.
    pub consumer_group_assignment_interval_ms: i32,
    /// The finalized `transaction.version` feature level advertised in
    /// ApiVersions: 2 (transaction v2, KIP-890) as in a Kafka 4 cluster
    /// formatted with its defaults; 0 leaves clients on the first
    /// transaction protocol.
    pub transaction_version: i16,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            brokers: 1,
            cluster_id: "kafka-mock-cluster".into(),
            host: "127.0.0.1".into(),
            default_partitions: 1,
            default_replication: 1,
            auto_create_topics: true,
            max_message_bytes: 1_048_588,
            retention_bytes: 256 << 20,
            log_append_time: false,
            max_frame_size: 100 << 20,
            record_requests: false,
            epoch_millis: 1_700_000_000_000,
            check_timestamps: false,
            consumer_group_heartbeat_interval_ms: 5_000,
            consumer_group_session_timeout_ms: 45_000,
            consumer_group_max_size: i32::MAX,
            consumer_group_assignment_interval_ms: 1_000,
            transaction_version: 2,
        }
    }
}

/// A request as the cluster received it, kept when `record_requests` is on.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The broker it was sent to.
    pub broker: i32,
    /// The connection it came on.
    pub conn: ConnId,
    /// Its header (API key, version, correlation id, client id).
    pub header: RequestHeader,
    /// Its body.
    pub body: RequestBody,
}

#[derive(Debug, Clone)]
pub(crate) struct Broker {
    pub(crate) id: i32,
    pub(crate) port: u16,
    pub(crate) rack: Option<String>,
    pub(crate) up: bool,
    /// Accepts and reads requests but never answers.
    pub(crate) silent: bool,
}

#[derive(Debug)]
pub(crate) struct Partition {
    pub(crate) index: i32,
    pub(crate) leader: i32,
    pub(crate) leader_epoch: i32,
    pub(crate) replicas: Vec<i32>,
    pub(crate) log: PartitionLog,
}

#[derive(Debug)]
pub(crate) struct Topic {
    pub(crate) id: Uuid,
    pub(crate) partitions: Vec<Partition>,
    pub(crate) configs: BTreeMap<String, String>,
    pub(crate) internal: bool,
}

/// What a handler decided about a request.
pub(crate) enum Reply {
    /// Answer now.
    Respond(ResponseBody),
    /// Answer later: `check` is called after every event and when
    /// `deadline` passes (then with `expired` true, and must answer).
    Park(Park),
    /// No response at all (Produce with acks=0).
    Nothing,
    /// Close the connection, as Kafka does for requests it cannot serve.
    Close(String),
}

pub(crate) type ParkCheck =
    Box<dyn FnMut(&mut Cluster, Instant, bool) -> Option<ResponseBody> + Send>;

pub(crate) struct Park {
    pub(crate) deadline: Instant,
    pub(crate) check: ParkCheck,
}

enum Slot {
    Pending {
        header: RequestHeader,
        body: Box<RequestBody>,
    },
    Parked {
        header: RequestHeader,
        park: Park,
    },
    Ready {
        bytes: Bytes,
        at: Instant,
    },
}

/// Per-connection state of areas that need it (SASL progress).
#[derive(Debug, Default)]
pub(crate) struct ConnAuth {
    /// Set once SASL (if configured) has completed.
    pub(crate) authenticated: bool,
    /// Mechanism chosen by SaslHandshake.
    pub(crate) mechanism: Option<String>,
    /// Server-side SCRAM exchange in progress.
    pub(crate) scram: Option<crate::sasl::ScramServer>,
    /// SaslHandshake v0 switches the connection to raw SASL tokens.
    pub(crate) raw_tokens: bool,
    /// Close the connection, for this reason, once the next response is
    /// sent (a failed SASL exchange is answered, then closed, as Kafka does).
    pub(crate) close_after_response: Option<String>,
    /// OAUTHBEARER sent the error challenge; the next message fails.
    pub(crate) oauth_failed: bool,
}

struct Conn {
    broker: i32,
    slots: VecDeque<Slot>,
    auth: ConnAuth,
}

/// The whole fake cluster: brokers, topics and their logs, groups,
/// producers and transactions, and the connections talking to it.
pub struct Cluster {
    pub(crate) config: ClusterConfig,
    pub(crate) start: Instant,
    pub(crate) now: Instant,
    pub(crate) brokers: BTreeMap<i32, Broker>,
    pub(crate) controller: i32,
    pub(crate) topics: BTreeMap<String, Topic>,
    pub(crate) faults: Faults,
    pub(crate) groups: crate::groups::GroupCoordinator,
    pub(crate) txn: crate::txn::ProducerState,
    pub(crate) sasl: crate::sasl::SaslConfig,
    conns: HashMap<ConnId, Conn>,
    outputs: VecDeque<Output>,
    recorded: Vec<RecordedRequest>,
    id_counter: u64,
}

impl Cluster {
    /// A cluster with `config.brokers` brokers, all up, ports unset (0).
    ///
    /// `now` anchors the model's clock: wall-clock timestamps are
    /// `config.epoch_millis` plus the time elapsed since `now`.
    pub fn new(config: ClusterConfig, now: Instant) -> Self {
        let brokers = (0..config.brokers.max(1))
            .map(|id| {
                (
                    id,
                    Broker {
                        id,
                        port: 0,
                        rack: None,
                        up: true,
                        silent: false,
                    },
                )
            })
            .collect();
        Self {
            config,
            start: now,
            now,
            brokers,
            controller: 0,
            topics: BTreeMap::new(),
            faults: Faults::default(),
            groups: Default::default(),
            txn: Default::default(),
            sasl: Default::default(),
            conns: HashMap::new(),
            outputs: VecDeque::new(),
            recorded: Vec::new(),
            id_counter: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// Node ids of all brokers, up or down.
    pub fn broker_ids(&self) -> Vec<i32> {
        self.brokers.keys().copied().collect()
    }

    /// Sets the port a broker advertises (the driver calls this once bound).
    pub fn set_broker_port(&mut self, broker: i32, port: u16) {
        if let Some(b) = self.brokers.get_mut(&broker) {
            b.port = port;
        }
    }

    /// How many client connections the model currently knows about.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// The port a broker advertises.
    pub fn broker_port(&self, broker: i32) -> Option<u16> {
        self.brokers.get(&broker).map(|b| b.port)
    }

    /// Wall-clock milliseconds at `now`.
    pub(crate) fn wall_ms(&self, now: Instant) -> i64 {
        self.config.epoch_millis + now.saturating_duration_since(self.start).as_millis() as i64
    }

    pub(crate) fn next_id(&mut self) -> u64 {
        self.id_counter += 1;
        self.id_counter
    }

    /// Pseudo-random UUID derived from a counter (deterministic for simulations).
    pub(crate) fn new_uuid(&mut self) -> Uuid {
        let n = self.next_id();
        let mut x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5851_f42d_4c95_7f2d;
        x ^= x >> 29;
        Uuid::from_u64_pair(x | 1, n)
    }

    fn tick(&mut self, now: Instant) {
        // Time never goes backwards, whatever the caller passes.
        if now > self.now {
            self.now = now;
        }
    }

    /// A client connected to `broker`. Connections to a broker that is
    /// down are closed at once.
    pub fn handle_connected(&mut self, now: Instant, conn: ConnId, broker: i32) {
        self.tick(now);
        if !self.brokers.get(&broker).is_some_and(|b| b.up) {
            self.outputs.push_back(Output::Close {
                conn,
                reason: format!("broker {broker} is down"),
            });
            return;
        }
        self.conns.insert(
            conn,
            Conn {
                broker,
                slots: VecDeque::new(),
                auth: ConnAuth::default(),
            },
        );
    }

    /// The connection is gone; whatever it was waiting for is dropped.
    pub fn handle_closed(&mut self, now: Instant, conn: ConnId) {
        self.tick(now);
        self.conns.remove(&conn);
    }

    /// One request frame (without its size prefix) arrived on `conn`.
    ///
    /// A frame that does not decode closes the connection with the reason;
    /// other connections are unaffected.
    pub fn handle_frame(&mut self, now: Instant, conn: ConnId, frame: Bytes) {
        self.tick(now);
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let broker = c.broker;
        if frame.len() > self.config.max_frame_size {
            self.close(
                conn,
                format!("frame of {} bytes exceeds the maximum", frame.len()),
            );
            return;
        }
        // SASL v0 handshakes are followed by raw tokens, not frames.
        if c.auth.raw_tokens {
            let reply = crate::sasl::raw_token(self, conn, frame);
            match reply {
                Ok(Some(bytes)) => {
                    let now = self.now;
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.slots.push_back(Slot::Ready { bytes, at: now });
                    }
                }
                Ok(None) => {}
                Err(reason) => self.close(conn, reason),
            }
            self.pump_all();
            return;
        }
        let (header, body) = match decode_lenient(&frame) {
            Ok(decoded) => decoded,
            Err(e) => {
                // ApiVersions with a version we do not know still gets an
                // answer, so a newer client can learn what we support.
                if let Some(bytes) = crate::admin::unsupported_api_versions(&frame) {
                    let now = self.now;
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.slots.push_back(Slot::Ready { bytes, at: now });
                    }
                    self.pump_all();
                    return;
                }
                self.close(conn, format!("undecodable request: {e}"));
                return;
            }
        };
        if self.config.record_requests {
            self.recorded.push(RecordedRequest {
                broker,
                conn,
                header: header.clone(),
                body: body.clone(),
            });
        }
        if self.brokers.get(&broker).is_some_and(|b| b.silent) {
            return;
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.slots.push_back(Slot::Pending {
                header,
                body: Box::new(body),
            });
        }
        self.pump_all();
    }

    /// Time passed: answer parked requests whose deadline is due, run
    /// group and transaction timers. Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tick(now);
        self.groups_timeout(now);
        self.txn_timeout(now);
        self.pump_all();
    }

    /// The next thing to do for the driver, if any.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Cluster::handle_timeout`] should be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| {
            next = Some(next.map_or(t, |n| n.min(t)));
        };
        for c in self.conns.values() {
            match c.slots.front() {
                Some(Slot::Ready { at, .. }) => consider(*at),
                Some(Slot::Parked { park, .. }) => consider(park.deadline),
                _ => {}
            }
        }
        if let Some(t) = self.groups_next_deadline() {
            consider(t);
        }
        if let Some(t) = self.txn_next_deadline() {
            consider(t);
        }
        next
    }

    /// Requests received so far (when `record_requests` is on).
    pub fn recorded_requests(&self) -> &[RecordedRequest] {
        &self.recorded
    }

    /// Forgets the recorded requests.
    pub fn clear_recorded_requests(&mut self) {
        self.recorded.clear();
    }

    pub(crate) fn close(&mut self, conn: ConnId, reason: String) {
        if self.conns.remove(&conn).is_some() {
            tracing::info!(target: "kafka_mock::conn", conn = conn.0, %reason, "closing connection");
            self.outputs.push_back(Output::Close { conn, reason });
        }
    }

    /// Closes every connection to `broker` (fault injection, broker down).
    pub(crate) fn close_broker_connections(&mut self, broker: i32, reason: &str) {
        let ids: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.broker == broker)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.close(id, reason.to_string());
        }
    }

    pub(crate) fn conn_auth(&mut self, conn: ConnId) -> Option<&mut ConnAuth> {
        self.conns.get_mut(&conn).map(|c| &mut c.auth)
    }

    pub(crate) fn conn_auth_ref(&self, conn: ConnId) -> Option<&ConnAuth> {
        self.conns.get(&conn).map(|c| &c.auth)
    }

    /// Moves every connection forward as far as it can go. Handling one
    /// request can complete requests parked on other connections (a
    /// Produce satisfying a Fetch), so this loops until nothing changes.
    fn pump_all(&mut self) {
        loop {
            let mut progressed = false;
            let mut ids: Vec<ConnId> = self.conns.keys().copied().collect();
            ids.sort();
            for id in ids {
                progressed |= self.pump(id);
            }
            if !progressed {
                break;
            }
        }
    }

    fn pump(&mut self, id: ConnId) -> bool {
        let mut progressed = false;
        loop {
            let now = self.now;
            let Some(conn) = self.conns.get_mut(&id) else {
                return progressed;
            };
            let broker = conn.broker;
            let Some(slot) = conn.slots.pop_front() else {
                return progressed;
            };
            let next = match slot {
                Slot::Ready { bytes, at } if at <= now => {
                    self.outputs.push_back(Output::Send { conn: id, bytes });
                    progressed = true;
                    if let Some(reason) = conn.auth.close_after_response.take() {
                        self.close(id, reason);
                        return true;
                    }
                    continue;
                }
                ready @ Slot::Ready { .. } => ready,
                Slot::Pending { header, body } => {
                    progressed = true;
                    match self.dispatch(now, id, broker, &header, *body) {
                        Reply::Respond(resp) => match self.ready(id, broker, &header, resp) {
                            Some(slot) => slot,
                            None => return true,
                        },
                        Reply::Park(park) => Slot::Parked { header, park },
                        Reply::Nothing => continue,
                        Reply::Close(reason) => {
                            self.close(id, reason);
                            return true;
                        }
                    }
                }
                Slot::Parked { header, mut park } => {
                    let expired = now >= park.deadline;
                    match (park.check)(self, now, expired) {
                        Some(resp) => match self.ready(id, broker, &header, resp) {
                            Some(slot) => slot,
                            None => return true,
                        },
                        None if expired => {
                            // A check must answer once expired; one that
                            // does not is a bug in the mock, not the client.
                            self.close(
                                id,
                                format!("parked {} never answered", header.request_api_key),
                            );
                            return true;
                        }
                        None => Slot::Parked { header, park },
                    }
                }
            };
            let ready_now = matches!(&next, Slot::Ready { at, .. } if *at <= now);
            match self.conns.get_mut(&id) {
                Some(conn) => conn.slots.push_front(next),
                None => return progressed,
            }
            if !ready_now {
                return progressed;
            }
        }
    }

    /// Encodes a response for `header`'s request, with injected latency.
    /// `None` if it does not encode: a bug in the mock, which closes the
    /// connection rather than leave the client waiting.
    fn ready(
        &mut self,
        conn: ConnId,
        broker: i32,
        header: &RequestHeader,
        body: ResponseBody,
    ) -> Option<Slot> {
        let mut buf = BytesMut::new();
        let version = header.request_api_version;
        let delay = ApiKey::try_from(header.request_api_key)
            .map(|k| self.faults.latency(broker, k))
            .unwrap_or(Duration::ZERO);
        match encode_response_frame(header.correlation_id, version, &body, &mut buf) {
            Ok(()) => Some(Slot::Ready {
                bytes: buf.freeze(),
                at: self.now + delay,
            }),
            Err(e) => {
                tracing::error!(target: "kafka_mock::conn", conn = conn.0, error = %e, "response does not encode");
                self.close(conn, format!("mock bug: response does not encode: {e}"));
                None
            }
        }
    }

    fn dispatch(
        &mut self,
        now: Instant,
        conn: ConnId,
        broker: i32,
        header: &RequestHeader,
        body: RequestBody,
    ) -> Reply {
        let version = header.request_api_version;
        let key = body.api_key();
        if !crate::admin::capped(key, &self.faults.max_versions)
            .is_some_and(|r| r.contains(&version))
        {
            return Reply::Close(format!("{key} v{version} is not served by this mock"));
        }
        if !crate::sasl::allowed(self, conn, key) {
            return Reply::Close(format!("{key} before SASL authentication completed"));
        }
        let ctx = crate::Ctx {
            now,
            conn,
            broker,
            version,
            client_id: header.client_id.clone(),
        };
        match body {
            RequestBody::ApiVersions(r) => self.api_versions(&ctx, r),
            RequestBody::Metadata(r) => self.metadata(&ctx, r),
            RequestBody::Produce(r) => self.produce(&ctx, r),
            RequestBody::Fetch(r) => self.fetch(&ctx, r),
            RequestBody::ListOffsets(r) => self.list_offsets(&ctx, r),
            RequestBody::DeleteRecords(r) => self.delete_records(&ctx, r),
            RequestBody::OffsetForLeaderEpoch(r) => self.offset_for_leader_epoch(&ctx, r),
            RequestBody::CreateTopics(r) => self.create_topics(&ctx, r),
            RequestBody::DeleteTopics(r) => self.delete_topics(&ctx, r),
            RequestBody::CreatePartitions(r) => self.create_partitions(&ctx, r),
            RequestBody::DescribeCluster(r) => self.describe_cluster(&ctx, r),
            RequestBody::DescribeConfigs(r) => self.describe_configs(&ctx, r),
            RequestBody::IncrementalAlterConfigs(r) => self.incremental_alter_configs(&ctx, r),
            RequestBody::SaslHandshake(r) => self.sasl_handshake(&ctx, r),
            RequestBody::SaslAuthenticate(r) => self.sasl_authenticate(&ctx, r),
            other => {
                let key = other.api_key();
                match crate::groups::dispatch(self, &ctx, other) {
                    Ok(reply) => reply,
                    Err(other) => match crate::txn::dispatch(self, &ctx, other) {
                        Ok(reply) => reply,
                        Err(other) => match crate::replicas::dispatch(self, &ctx, other) {
                            Ok(reply) => reply,
                            Err(_) => Reply::Close(format!("{key} is not served by this mock")),
                        },
                    },
                }
            }
        }
    }
}

/// Decodes a request frame, ignoring bytes after the body as Kafka does
/// (it reads what the schema needs and drops the rest). librdkafka relies
/// on that: its all-topics Metadata v13 request ends with 3 stray bytes.
fn decode_lenient(frame: &Bytes) -> Result<(RequestHeader, RequestBody), kafka_proto::DecodeError> {
    match decode_request_frame(frame.clone()) {
        Err(e) => match *e.kind() {
            DecodeErrorKind::TrailingBytes(n) if n <= frame.len() => {
                decode_request_frame(frame.slice(..frame.len() - n)).map_err(|_| e)
            }
            _ => Err(e),
        },
        ok => ok,
    }
}
