//! Serving a [`Cluster`] over TCP on loopback.
//!
//! One listener per broker, a reader and a writer thread per connection,
//! and one thread that owns the model: every socket event and control call
//! goes to it over a channel, so the model itself stays single-threaded
//! and deterministic in what it does with each event.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use kafka_proto::frame::split_frame;
use kafka_proto::{ApiKey, ErrorCode};

use crate::cluster::{Cluster, ClusterConfig, ConnId, Output, RecordedRequest};
use crate::faults::ErrorInjection;
use crate::MockError;

type Control = Box<dyn FnOnce(&mut Cluster) + Send>;

enum Event {
    Connected {
        conn: ConnId,
        broker: i32,
        stream: TcpStream,
    },
    Frame {
        conn: ConnId,
        frame: Bytes,
    },
    Closed {
        conn: ConnId,
        reason: String,
    },
    Control(Control),
    Shutdown,
}

/// Configures and starts a [`MockCluster`].
#[derive(Debug, Clone, Default)]
pub struct MockClusterBuilder {
    config: ClusterConfig,
    base_port: u16,
    topics: Vec<(String, i32, i16)>,
    setup: Vec<SetupStep>,
    /// `Some(false)` keeps records with far-off timestamps (see
    /// [`ClusterConfig::check_timestamps`]); checked by default.
    check_timestamps: Option<bool>,
}

#[derive(Clone)]
enum SetupStep {
    SaslUser(crate::SaslMechanism, String, String),
}

impl std::fmt::Debug for SetupStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // The password stays out of every log.
            Self::SaslUser(mechanism, user, _) => f
                .debug_tuple("SaslUser")
                .field(mechanism)
                .field(user)
                .field(&"<redacted>")
                .finish(),
        }
    }
}

impl MockClusterBuilder {
    /// Number of brokers (node ids `0..n`); at least 1.
    pub fn brokers(mut self, n: i32) -> Self {
        self.config.brokers = n.max(1);
        self
    }

    /// First port: broker `i` listens on `port + i`. 0 picks free ports.
    pub fn port(mut self, port: u16) -> Self {
        self.base_port = port;
        self
    }

    /// Partitions of automatically created topics.
    pub fn default_partitions(mut self, n: i32) -> Self {
        self.config.default_partitions = n.max(1);
        self
    }

    /// Whether Metadata creates unknown topics (on by default, like Kafka).
    pub fn auto_create_topics(mut self, on: bool) -> Self {
        self.config.auto_create_topics = on;
        self
    }

    /// Stamp batches with the broker's clock.
    pub fn log_append_time(mut self, on: bool) -> Self {
        self.config.log_append_time = on;
        self
    }

    /// Bytes kept per partition before old batches are dropped.
    pub fn retention_bytes(mut self, bytes: usize) -> Self {
        self.config.retention_bytes = bytes;
        self
    }

    /// Keep every request for [`MockCluster::recorded_requests`].
    pub fn record_requests(mut self, on: bool) -> Self {
        self.config.record_requests = on;
        self
    }

    /// The cluster id.
    pub fn cluster_id(mut self, id: impl Into<String>) -> Self {
        self.config.cluster_id = id.into();
        self
    }

    /// A topic to create before serving.
    pub fn topic(mut self, name: impl Into<String>, partitions: i32, replication: i16) -> Self {
        self.topics.push((name.into(), partitions, replication));
        self
    }

    /// Require SASL, and accept this user with this mechanism.
    pub fn sasl_user(
        mut self,
        mechanism: crate::SaslMechanism,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.setup
            .push(SetupStep::SaslUser(mechanism, user.into(), password.into()));
        self
    }

    /// Whether Produce refuses create times more than the topic's
    /// `message.timestamp.after.max.ms` (one hour by default) ahead of the
    /// system clock, as Kafka 4 does. On unless turned off here.
    pub fn check_timestamps(mut self, on: bool) -> Self {
        self.check_timestamps = Some(on);
        self
    }

    /// Heartbeat interval told to members of KIP-848 consumer groups
    /// (`group.consumer.heartbeat.interval.ms`, default 5000).
    pub fn consumer_group_heartbeat_interval_ms(mut self, ms: i32) -> Self {
        self.config.consumer_group_heartbeat_interval_ms = ms;
        self
    }

    /// Session timeout of members of KIP-848 consumer groups
    /// (`group.consumer.session.timeout.ms`, default 45000).
    pub fn consumer_group_session_timeout_ms(mut self, ms: i32) -> Self {
        self.config.consumer_group_session_timeout_ms = ms;
        self
    }

    /// The least time between two target assignments of a KIP-848
    /// consumer group (default 1000; 0 assigns at once).
    pub fn consumer_group_assignment_interval_ms(mut self, ms: i32) -> Self {
        self.config.consumer_group_assignment_interval_ms = ms;
        self
    }

    /// The most members a KIP-848 consumer group admits
    /// (`group.consumer.max.size`).
    pub fn consumer_group_max_size(mut self, n: i32) -> Self {
        self.config.consumer_group_max_size = n;
        self
    }

    /// Replaces the whole model configuration.
    pub fn config(mut self, config: ClusterConfig) -> Self {
        self.config = config;
        self
    }

    /// Binds the listeners on 127.0.0.1 and starts serving.
    pub fn build(self) -> Result<MockCluster, MockError> {
        let mut config = self.config;
        config.epoch_millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        // The clock is the system's, so timestamps can be judged as Kafka does.
        config.check_timestamps = self.check_timestamps.unwrap_or(true);
        let now = Instant::now();
        let mut cluster = Cluster::new(config, now);
        let mut listeners = Vec::new();
        for id in cluster.broker_ids() {
            let port = if self.base_port == 0 {
                0
            } else {
                u16::try_from(i32::from(self.base_port) + id).map_err(|_| {
                    MockError::Invalid(format!("port {} + {id} overflows", self.base_port))
                })?
            };
            let listener = TcpListener::bind(("127.0.0.1", port))
                .map_err(|e| MockError::Server(format!("binding 127.0.0.1:{port}: {e}")))?;
            let addr = listener
                .local_addr()
                .map_err(|e| MockError::Server(e.to_string()))?;
            cluster.set_broker_port(id, addr.port());
            listeners.push((id, listener, addr));
        }
        for (name, partitions, replication) in &self.topics {
            cluster.create_topic(name, *partitions, *replication)?;
        }
        for step in &self.setup {
            match step {
                SetupStep::SaslUser(mechanism, user, password) => {
                    cluster.add_sasl_user(*mechanism, user, password)
                }
            }
        }

        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let next_conn = Arc::new(AtomicU64::new(1));
        let mut threads = Vec::new();
        let mut addrs = Vec::new();
        for (id, listener, addr) in listeners {
            addrs.push((id, addr));
            let tx = tx.clone();
            let stop = stop.clone();
            let next_conn = next_conn.clone();
            let max_frame = cluster.config().max_frame_size;
            threads.push(
                thread::Builder::new()
                    .name(format!("kafka-mock-listen-{id}"))
                    .spawn(move || accept_loop(id, listener, tx, stop, next_conn, max_frame))
                    .map_err(|e| MockError::Server(e.to_string()))?,
            );
        }
        threads.push(
            thread::Builder::new()
                .name("kafka-mock-cluster".into())
                .spawn(move || run_cluster(cluster, rx))
                .map_err(|e| MockError::Server(e.to_string()))?,
        );
        Ok(MockCluster {
            tx,
            addrs,
            stop,
            threads,
        })
    }
}

/// A running mock cluster on 127.0.0.1; stops when dropped.
pub struct MockCluster {
    tx: Sender<Event>,
    addrs: Vec<(i32, SocketAddr)>,
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl std::fmt::Debug for MockCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockCluster")
            .field("brokers", &self.addrs)
            .finish()
    }
}

impl MockCluster {
    /// A builder with one broker, free ports, and auto-created topics.
    pub fn builder() -> MockClusterBuilder {
        MockClusterBuilder::default()
    }

    /// `host:port` of every broker, comma-separated, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.addrs
            .iter()
            .map(|(_, a)| a.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Node id and address of each broker.
    pub fn brokers(&self) -> &[(i32, SocketAddr)] {
        &self.addrs
    }

    /// Runs `f` on the model, on the cluster thread, and returns its result.
    pub fn with<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Cluster) -> R + Send + 'static,
    ) -> Result<R, MockError> {
        let (rtx, rrx) = mpsc::channel();
        self.tx
            .send(Event::Control(Box::new(move |c| {
                let _ = rtx.send(f(c));
            })))
            .map_err(|_| MockError::Server("cluster thread stopped".into()))?;
        rrx.recv()
            .map_err(|_| MockError::Server("cluster thread stopped".into()))
    }

    /// Creates a topic.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication: i16,
    ) -> Result<(), MockError> {
        let name = name.to_string();
        self.with(move |c| c.create_topic(&name, partitions, replication))?
    }

    /// Deletes a topic.
    pub fn delete_topic(&self, name: &str) -> Result<(), MockError> {
        let name = name.to_string();
        self.with(move |c| c.delete_topic(&name))?
    }

    /// Log start offset and high watermark of a partition.
    pub fn partition_offsets(&self, topic: &str, partition: i32) -> Result<(i64, i64), MockError> {
        let topic = topic.to_string();
        self.with(move |c| c.partition_offsets(&topic, partition))?
    }

    /// Fails the next `count` requests of `api` with `error`, on any broker.
    pub fn inject_error(&self, api: ApiKey, error: ErrorCode, count: u32) {
        self.inject(ErrorInjection::new(api, error, count));
    }

    /// Arms an error injection (see [`ErrorInjection`] for filters).
    pub fn inject(&self, injection: ErrorInjection) {
        let _ = self.with(move |c| c.inject_error(injection));
    }

    /// Adds latency to every response from `broker`.
    pub fn set_broker_latency(&self, broker: i32, latency: Duration) {
        let _ = self.with(move |c| c.set_broker_latency(broker, latency));
    }

    /// Adds latency to every response of `api`.
    pub fn set_api_latency(&self, api: ApiKey, latency: Duration) {
        let _ = self.with(move |c| c.set_api_latency(api, latency));
    }

    /// Answers acks=0 produce requests, as some brokers wrongly do
    /// (Tansu 0.6); see [`Cluster::set_answer_acks_zero`].
    pub fn set_answer_acks_zero(&self, on: bool) {
        let _ = self.with(move |c| c.set_answer_acks_zero(on));
    }

    /// Closes every open connection to `broker`.
    pub fn drop_connections(&self, broker: i32) {
        let _ = self.with(move |c| c.drop_connections(broker));
    }

    /// Makes `broker` accept requests but never answer (or answer again).
    pub fn set_broker_silent(&self, broker: i32, silent: bool) -> Result<(), MockError> {
        self.with(move |c| c.set_broker_silent(broker, silent))?
    }

    /// Takes a broker down (connections closed, leadership moved) or up.
    pub fn set_broker_up(&self, broker: i32, up: bool) -> Result<(), MockError> {
        self.with(move |c| c.set_broker_up(broker, up))?
    }

    /// Moves a partition's leadership to `broker`, bumping the leader epoch.
    pub fn move_leader(&self, topic: &str, partition: i32, broker: i32) -> Result<(), MockError> {
        let topic = topic.to_string();
        self.with(move |c| c.move_leader(&topic, partition, broker))?
    }

    /// Reports `ms` of throttling in every response.
    pub fn set_throttle_ms(&self, ms: i32) {
        let _ = self.with(move |c| c.set_throttle_ms(ms));
    }

    /// Caps the size of a produced batch (`message.max.bytes`).
    pub fn set_max_message_bytes(&self, bytes: usize) {
        let _ = self.with(move |c| c.set_max_message_bytes(bytes));
    }

    /// Requests received so far (needs `record_requests(true)`).
    pub fn recorded_requests(&self) -> Vec<RecordedRequest> {
        self.with(|c| c.recorded_requests().to_vec())
            .unwrap_or_default()
    }
}

impl Drop for MockCluster {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.tx.send(Event::Shutdown);
        // Wake the listeners blocked in accept.
        for (_, addr) in &self.addrs {
            let _ = TcpStream::connect_timeout(addr, Duration::from_millis(100));
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn accept_loop(
    broker: i32,
    listener: TcpListener,
    tx: Sender<Event>,
    stop: Arc<AtomicBool>,
    next_conn: Arc<AtomicU64>,
    max_frame: usize,
) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        let conn = ConnId(next_conn.fetch_add(1, Ordering::Relaxed));
        let Ok(reader) = stream.try_clone() else {
            continue;
        };
        if tx
            .send(Event::Connected {
                conn,
                broker,
                stream,
            })
            .is_err()
        {
            return;
        }
        let tx = tx.clone();
        let _ = thread::Builder::new()
            .name(format!("kafka-mock-conn-{}", conn.0))
            .spawn(move || read_loop(conn, reader, tx, max_frame));
    }
}

fn read_loop(conn: ConnId, mut stream: TcpStream, tx: Sender<Event>, max_frame: usize) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let reason = loop {
        match stream.read(&mut chunk) {
            Ok(0) => break "client closed the connection".to_string(),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => break format!("read error: {e}"),
        }
        loop {
            match split_frame(&mut buf, max_frame) {
                Ok(Some(frame)) => {
                    if tx.send(Event::Frame { conn, frame }).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Event::Closed {
                        conn,
                        reason: format!("bad frame: {e}"),
                    });
                    let _ = stream.shutdown(Shutdown::Both);
                    return;
                }
            }
        }
    };
    let _ = tx.send(Event::Closed { conn, reason });
}

struct Writer {
    tx: Sender<Bytes>,
    stream: TcpStream,
}

fn spawn_writer(conn: ConnId, stream: &TcpStream) -> Option<Writer> {
    let mut out = stream.try_clone().ok()?;
    let (tx, rx): (Sender<Bytes>, Receiver<Bytes>) = mpsc::channel();
    thread::Builder::new()
        .name(format!("kafka-mock-write-{}", conn.0))
        .spawn(move || {
            for bytes in rx {
                if out.write_all(&bytes).is_err() {
                    let _ = out.shutdown(Shutdown::Both);
                    return;
                }
            }
        })
        .ok()?;
    Some(Writer {
        tx,
        stream: stream.try_clone().ok()?,
    })
}

fn run_cluster(mut cluster: Cluster, rx: Receiver<Event>) {
    let mut writers: HashMap<ConnId, Writer> = HashMap::new();
    loop {
        let event = match cluster.poll_timeout() {
            Some(at) => {
                let wait = at.saturating_duration_since(Instant::now());
                match rx.recv_timeout(wait) {
                    Ok(e) => Some(e),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            None => match rx.recv() {
                Ok(e) => Some(e),
                Err(_) => return,
            },
        };
        let now = Instant::now();
        match event {
            None => {}
            Some(Event::Connected {
                conn,
                broker,
                stream,
            }) => {
                if let Some(w) = spawn_writer(conn, &stream) {
                    writers.insert(conn, w);
                    cluster.handle_connected(now, conn, broker);
                }
            }
            Some(Event::Frame { conn, frame }) => cluster.handle_frame(now, conn, frame),
            Some(Event::Closed { conn, reason }) => {
                tracing::debug!(target: "kafka_mock::conn", conn = conn.0, %reason, "connection closed");
                if let Some(w) = writers.remove(&conn) {
                    let _ = w.stream.shutdown(Shutdown::Both);
                }
                cluster.handle_closed(now, conn);
            }
            Some(Event::Control(f)) => f(&mut cluster),
            Some(Event::Shutdown) => {
                for (_, w) in writers.drain() {
                    let _ = w.stream.shutdown(Shutdown::Both);
                }
                return;
            }
        }
        cluster.handle_timeout(Instant::now());
        while let Some(out) = cluster.poll_output() {
            match out {
                Output::Send { conn, bytes } => {
                    if let Some(w) = writers.get(&conn) {
                        let _ = w.tx.send(bytes);
                    }
                }
                Output::Close { conn, reason } => {
                    tracing::info!(target: "kafka_mock::conn", conn = conn.0, %reason, "closing connection");
                    if let Some(w) = writers.remove(&conn) {
                        // Let queued responses go out first: drop the sender,
                        // then shut the socket down once they are written.
                        drop(w.tx);
                        let stream = w.stream;
                        thread::spawn(move || {
                            thread::sleep(Duration::from_millis(20));
                            let _ = stream.shutdown(Shutdown::Both);
                        });
                    }
                }
            }
        }
    }
}

impl MockCluster {
    /// Moves the coordinator of a consumer group to `broker`.
    pub fn move_group_coordinator(&self, group: &str, broker: i32) -> Result<(), MockError> {
        let group = group.to_string();
        self.with(move |c| c.move_coordinator(crate::groups::KEY_GROUP, &group, broker))?
    }

    /// Moves the coordinator of a transactional id to `broker`.
    pub fn move_txn_coordinator(
        &self,
        transactional_id: &str,
        broker: i32,
    ) -> Result<(), MockError> {
        let id = transactional_id.to_string();
        self.with(move |c| c.move_coordinator(crate::groups::KEY_TRANSACTION, &id, broker))?
    }
}
