//! A real Apache Kafka cluster for integration tests: N combined
//! broker+controller JVMs (KRaft) on 127.0.0.1, formatted fresh in a
//! temporary directory and torn down on drop.
//!
//! The broker comes from `$KAFKA_HOME` (a directory with `libs/*.jar`),
//! else `target/kafka` in the workspace, where `scripts/install-kafka.sh`
//! assembles it from Maven Central. When neither exists,
//! [`KafkaClusterBuilder::start`] returns `None` and the caller skips its
//! test, unless `KAFKA_REQUIRE_KAFKA=1`, which turns that into a panic.
//! It runs on `$JAVA_HOME/bin/java`, else `java` on `PATH` (17 or newer).
//!
//! Each JVM runs under a small `sh` watchdog whose stdin is a pipe from the
//! test process: when the test process exits for any reason (a panic, a
//! `static` cluster that is never dropped, a kill), the pipe closes and
//! the watchdog kills the JVM, so no broker outlives its test.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use kafka_proto::frame::{decode_response_frame, encode_request_frame, split_frame};
use kafka_proto::messages::metadata_request::MetadataRequestTopic;
use kafka_proto::messages::{
    MetadataRequest, MetadataResponse, RequestHeader, SaslAuthenticateRequest, SaslHandshakeRequest,
};
use kafka_proto::{RequestBody, ResponseBody};

use crate::{free_port, TestPki};

/// The default bound on a cluster start, and on a node rejoining after
/// [`KafkaCluster::restart`].
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a clean stop (SIGTERM) may take before the node is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// The bound on one request of the harness's own small client.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Metadata v12: flexible, and served by every Kafka from 3.1 to 4.x.
const METADATA_VERSION: i16 = 12;

/// The user every cluster knows, for PLAIN and both SCRAM mechanisms.
pub const DEFAULT_USER: (&str, &str) = ("alice", "alice-secret");

/// The session timeout of KIP-848 consumer group members
/// (`group.consumer.session.timeout.ms`): 10 s rather than Kafka's 45 s,
/// so a test that kills a member sees its partitions move on in seconds.
/// The floor (`group.consumer.min.session.timeout.ms`) is lowered to 6 s,
/// the classic protocol's (`group.min.session.timeout.ms`).
pub const CONSUMER_GROUP_SESSION_TIMEOUT_MS: i32 = 10_000;

/// The heartbeat interval given to KIP-848 consumer group members
/// (`group.consumer.heartbeat.interval.ms`): 1 s rather than Kafka's 5 s,
/// a tenth of the session timeout as the classic tests use; the floor
/// (`group.consumer.min.heartbeat.interval.ms`) is lowered to 500 ms.
pub const CONSUMER_GROUP_HEARTBEAT_INTERVAL_MS: i32 = 1_000;

/// The broker logging configuration, written into each cluster's directory.
const LOG4J2_CONFIG: &str = include_str!("../kafka/log4j2.properties");

/// The watchdog: starts the command given as its arguments in the
/// background, prints its pid, and kills it with SIGKILL when its own stdin
/// reaches end of file. It exits with the command's status.
///
/// The JVM writes its console output to the watchdog's stderr (a file),
/// never to the pipe the pid travels on. The reader runs in a background subshell, whose stdin a non-interactive
/// shell would replace with /dev/null; fd 3 keeps the real pipe for it.
const WATCHDOG: &str = r#"exec 3<&0
"$@" </dev/null >&2 3<&- &
jvm=$!
echo "$jvm"
exec 1>/dev/null
{ read -r _ <&3; kill -9 "$jvm" 2>/dev/null; } &
reader=$!
exec 3<&-
wait "$jvm"
status=$?
kill "$reader" 2>/dev/null
exit "$status"
"#;

/// A client-facing listener of every node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Listener {
    /// `PLAINTEXT`: no authentication, no encryption.
    Plaintext,
    /// `SASL_PLAINTEXT` with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512.
    Sasl,
    /// `SSL` with the test CA's server certificate; no client certificate.
    Ssl,
    /// `SASL_SSL`: the mechanisms of [`Listener::Sasl`] over TLS.
    SaslSsl,
    /// `SSL` that requires a client certificate signed by the test CA
    /// (mutual TLS); the listener is named `MTLS` in the broker's config.
    Mtls,
}

impl Listener {
    const ALL: [Listener; 5] = [
        Listener::Plaintext,
        Listener::Sasl,
        Listener::Ssl,
        Listener::SaslSsl,
        Listener::Mtls,
    ];

    /// The listener's name in the broker's configuration.
    pub fn name(self) -> &'static str {
        match self {
            Listener::Plaintext => "PLAINTEXT",
            Listener::Sasl => "SASL_PLAINTEXT",
            Listener::Ssl => "SSL",
            Listener::SaslSsl => "SASL_SSL",
            Listener::Mtls => "MTLS",
        }
    }

    fn protocol(self) -> &'static str {
        match self {
            Listener::Mtls => "SSL",
            other => other.name(),
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Options for a [`KafkaCluster`]; made by [`KafkaCluster::builder`].
#[derive(Debug, Clone)]
pub struct KafkaClusterBuilder {
    brokers: usize,
    plain_users: Vec<(String, String)>,
    scram_users: Vec<(String, String)>,
    properties: Vec<(String, String)>,
    features: Vec<(String, String)>,
    super_users: Option<Vec<String>>,
    start_timeout: Duration,
}

impl KafkaClusterBuilder {
    /// The number of nodes, each both broker and controller (default 3).
    pub fn brokers(mut self, n: usize) -> Self {
        assert!(n >= 1, "a cluster needs at least one node");
        self.brokers = n;
        self
    }

    /// Adds a user for SASL/PLAIN (besides [`DEFAULT_USER`]).
    pub fn plain_user(mut self, name: &str, password: &str) -> Self {
        self.plain_users.push((name.into(), password.into()));
        self
    }

    /// Adds a user for SCRAM-SHA-256 and SCRAM-SHA-512, created when the
    /// storage is formatted (besides [`DEFAULT_USER`]).
    pub fn scram_user(mut self, name: &str, password: &str) -> Self {
        self.scram_users.push((name.into(), password.into()));
        self
    }

    /// Sets a broker property on every node, overriding the harness's.
    pub fn property(mut self, key: &str, value: &str) -> Self {
        self.properties.push((key.into(), value.into()));
        self
    }

    /// Formats the storage with a feature level, e.g.
    /// `feature("transaction.version", 0)` for a cluster that speaks only
    /// the first transaction protocol.
    pub fn feature(mut self, name: &str, level: i16) -> Self {
        self.features.push((name.into(), level.to_string()));
        self
    }

    /// Turns on the StandardAuthorizer with these principals (e.g.
    /// `"User:admin"`) as super users. The brokers' own PLAINTEXT
    /// connections run as `User:ANONYMOUS`, so that principal is a super
    /// user too: test ACLs on the SASL listeners.
    pub fn authorizer(mut self, super_users: &[&str]) -> Self {
        self.super_users = Some(super_users.iter().map(|s| s.to_string()).collect());
        self
    }

    /// The bound on the start (default 90 s).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Formats and starts the cluster and waits until Metadata lists every
    /// broker. Returns `None` (after printing why) when no Kafka install is
    /// found and `KAFKA_REQUIRE_KAFKA` is not `1`.
    ///
    /// # Panics
    ///
    /// When Kafka is required but missing, or the cluster does not come up
    /// in time (the message and stderr carry the tails of the node logs).
    pub fn start(self) -> Option<KafkaCluster> {
        let home = kafka_home()?;
        match KafkaCluster::launch(self, home) {
            Ok(cluster) => Some(cluster),
            Err(e) => panic!("the Kafka cluster did not start: {e}"),
        }
    }
}

/// A running Apache Kafka cluster; every JVM is killed on drop.
///
/// Nodes are numbered from 1 (their `node.id`). All methods take `&self`,
/// so a [`KafkaCluster::shared`] cluster can be used from many tests.
pub struct KafkaCluster {
    dir: PathBuf,
    home: PathBuf,
    pki: TestPki,
    nodes: Mutex<Vec<Node>>,
    ports: Vec<NodePorts>,
    start_timeout: Duration,
}

#[derive(Debug, Clone)]
struct NodePorts {
    listeners: [u16; 5],
    controller: u16,
}

#[derive(Debug)]
struct Node {
    id: i32,
    dir: PathBuf,
    /// The watchdog shell; its stdin is the pipe that keeps the JVM alive.
    watchdog: Option<(Child, ChildStdin)>,
    jvm_pid: Option<u32>,
}

impl fmt::Debug for KafkaCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaCluster")
            .field("dir", &self.dir)
            .field("bootstrap", &self.bootstrap())
            .finish_non_exhaustive()
    }
}

impl KafkaCluster {
    /// Options, starting from 3 nodes.
    pub fn builder() -> KafkaClusterBuilder {
        KafkaClusterBuilder {
            brokers: 3,
            plain_users: Vec::new(),
            scram_users: Vec::new(),
            properties: Vec::new(),
            features: Vec::new(),
            super_users: None,
            start_timeout: START_TIMEOUT,
        }
    }

    /// A 3-node cluster started on first use and shared by every test of
    /// this test binary; `None` when Kafka is not installed (see
    /// [`KafkaClusterBuilder::start`]). It is never dropped: the watchdogs
    /// kill its JVMs when the test process exits. Tests sharing it should
    /// use unique topic and group names and leave its nodes running.
    pub fn shared() -> Option<&'static KafkaCluster> {
        static SHARED: OnceLock<Option<KafkaCluster>> = OnceLock::new();
        SHARED.get_or_init(|| Self::builder().start()).as_ref()
    }

    fn launch(opts: KafkaClusterBuilder, home: PathBuf) -> io::Result<Self> {
        let started = Instant::now();
        sweep_stale_dirs();
        let dir = std::env::temp_dir().join(format!(
            "kafka-testkit-cluster-{}-{}",
            std::process::id(),
            free_port()?
        ));
        std::fs::create_dir_all(&dir)?;
        let pki = TestPki::generate()?;
        let n = opts.brokers;
        let mut chosen = crate::listen_ports(n * 6)?.into_iter();
        let mut next = || chosen.next().expect("six ports per node");
        let ports: Vec<NodePorts> = (0..n)
            .map(|_| NodePorts {
                listeners: [next(), next(), next(), next(), next()],
                controller: next(),
            })
            .collect();
        // PEM key stores spare a keytool run: Kafka reads the private key
        // (PKCS#8, unencrypted) and the certificate from one file.
        let keystore = dir.join("server-keystore.pem");
        let mut pem = pki.read("server.key")?;
        pem.extend(pki.read("server.pem")?);
        std::fs::write(&keystore, pem)?;
        std::fs::write(dir.join("log4j2.properties"), LOG4J2_CONFIG)?;

        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let id = i as i32 + 1;
            let node_dir = dir.join(format!("node-{id}"));
            std::fs::create_dir_all(&node_dir)?;
            let props = node_properties(&opts, id, &ports, &node_dir, &keystore, &pki);
            std::fs::write(node_dir.join("server.properties"), props)?;
            nodes.push(Node {
                id,
                dir: node_dir,
                watchdog: None,
                jvm_pid: None,
            });
        }
        let mut cluster = Self {
            dir,
            home,
            pki,
            nodes: Mutex::new(Vec::new()),
            ports,
            start_timeout: opts.start_timeout,
        };
        cluster.format(&opts, &nodes)?;
        *cluster.nodes.get_mut().unwrap_or_else(|e| e.into_inner()) = nodes;
        for id in 1..=n as i32 {
            cluster.spawn(id)?;
        }
        if let Err(e) = cluster.wait_for_brokers(n, cluster.start_timeout) {
            cluster.print_log_tails();
            return Err(e);
        }
        eprintln!(
            "kafka-testkit: {n}-node Kafka cluster up in {:.1} s at {} (logs in {})",
            started.elapsed().as_secs_f64(),
            cluster.bootstrap(),
            cluster.dir.display()
        );
        Ok(cluster)
    }

    /// Formats every node's storage, in parallel: each format is a JVM
    /// start of about a second.
    fn format(&self, opts: &KafkaClusterBuilder, nodes: &[Node]) -> io::Result<()> {
        let cluster_id = kafka_uuid()?;
        let mut scram = Vec::new();
        for (name, password) in with_default_user(&opts.scram_users) {
            for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
                scram.push("--add-scram".to_string());
                scram.push(format!("{mechanism}=[name={name},password={password}]"));
            }
        }
        let mut features = Vec::new();
        for (name, level) in &opts.features {
            features.push("--feature".to_string());
            features.push(format!("{name}={level}"));
        }
        let children = nodes
            .iter()
            .map(|node| {
                let out = std::fs::File::create(node.dir.join("format.log"))?;
                let err = out.try_clone()?;
                self.java(&node.dir.join("format.log"))
                    .args(["kafka.tools.StorageTool", "format", "-t", &cluster_id, "-c"])
                    .arg(node.dir.join("server.properties"))
                    .args(&scram)
                    .args(&features)
                    .stdin(Stdio::null())
                    .stdout(out)
                    .stderr(err)
                    .spawn()
            })
            .collect::<io::Result<Vec<_>>>()?;
        for (mut child, node) in children.into_iter().zip(nodes) {
            let status = child.wait()?;
            if !status.success() {
                let log = std::fs::read_to_string(node.dir.join("format.log")).unwrap_or_default();
                return Err(io::Error::other(format!(
                    "formatting node {} failed ({status}):\n{log}",
                    node.id
                )));
            }
        }
        Ok(())
    }

    /// `java` with Kafka's classpath, logging to `log_file`. Every JVM
    /// needs the file named: log4j would otherwise create a file called
    /// `${sys:kafka.log.file}` in the working directory.
    fn java(&self, log_file: &Path) -> Command {
        let mut cmd = Command::new(java_binary());
        cmd.arg("-cp")
            .arg(self.home.join("libs").join("*"))
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                self.dir.join("log4j2.properties").display()
            ))
            .arg(format!("-Dkafka.log.file={}", log_file.display()));
        cmd
    }

    /// Starts node `id`'s JVM under its watchdog.
    fn spawn(&self, id: i32) -> io::Result<()> {
        let mut nodes = self.lock();
        let node = &mut nodes[id as usize - 1];
        if node.watchdog.is_some() {
            return Ok(());
        }
        let console = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.join("console.log"))?;
        let java = self.java(&node.dir.join("server.log"));
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(WATCHDOG)
            .arg("kafka-testkit-watchdog")
            .arg(java.get_program())
            // The serial collector: fewer threads and less memory than G1
            // for a heap this small, on a machine of few cores.
            .args(["-Xms128m", "-Xmx512m", "-XX:+UseSerialGC"])
            .args(java.get_args())
            .arg("kafka.Kafka")
            .arg(node.dir.join("server.properties"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(console);
        let mut child = cmd.spawn()?;
        let stdin = child.stdin.take().expect("piped stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line)?;
        let pid = line.trim().parse::<u32>().map_err(|_| {
            io::Error::other(format!("the watchdog printed {line:?} instead of a pid"))
        })?;
        node.watchdog = Some((child, stdin));
        node.jvm_pid = Some(pid);
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Node>> {
        // A test that panicked while holding the lock left the nodes in a
        // consistent state: every change is a single assignment.
        self.nodes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The node ids, `1..=n`.
    pub fn node_ids(&self) -> Vec<i32> {
        (1..=self.ports.len() as i32).collect()
    }

    /// The PLAINTEXT bootstrap list: `127.0.0.1:P1,127.0.0.1:P2,...`.
    pub fn bootstrap(&self) -> String {
        self.bootstrap_for(Listener::Plaintext)
    }

    /// The bootstrap list of a listener.
    pub fn bootstrap_for(&self, listener: Listener) -> String {
        self.node_ids()
            .into_iter()
            .map(|id| self.addr(id, listener).to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The address of one node's listener.
    pub fn addr(&self, node: i32, listener: Listener) -> SocketAddr {
        let ports = &self.ports[node_index(node, self.ports.len())];
        SocketAddr::from(([127, 0, 0, 1], ports.listeners[listener.index()]))
    }

    /// The certificates: `ca.pem` (the CA the brokers' certificate chains
    /// to), `client.pem` and `client.key` (for [`Listener::Mtls`]).
    pub fn pki(&self) -> &TestPki {
        &self.pki
    }

    /// The CA certificate in PEM, to verify the TLS listeners.
    pub fn ca_pem(&self) -> PathBuf {
        self.pki.path("ca.pem")
    }

    /// The cluster's directory: `node-N/` holds each node's properties,
    /// data and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether node `node`'s JVM is alive (a paused one counts).
    pub fn is_running(&self, node: i32) -> bool {
        let mut nodes = self.lock();
        let n = &mut nodes[node_index(node, self.ports.len())];
        match &mut n.watchdog {
            None => false,
            Some((child, _)) => match child.try_wait() {
                Ok(None) => true,
                _ => {
                    n.watchdog = None;
                    n.jvm_pid = None;
                    false
                }
            },
        }
    }

    /// The process id of node `node`'s JVM while it runs.
    pub fn pid(&self, node: i32) -> Option<u32> {
        if self.is_running(node) {
            self.lock()[node_index(node, self.ports.len())].jvm_pid
        } else {
            None
        }
    }

    /// Kills node `node` with SIGKILL and waits for it to be gone.
    pub fn kill(&self, node: i32) {
        self.signal_and_reap(node, "KILL", Duration::from_secs(10));
    }

    /// Stops node `node` cleanly (SIGTERM: controlled shutdown, leaders
    /// moved away) and waits for the JVM to exit; kills it after 30 s.
    pub fn stop(&self, node: i32) {
        if !self.signal_and_reap(node, "TERM", STOP_TIMEOUT) {
            eprintln!(
                "kafka-testkit: node {node} ignored SIGTERM for {STOP_TIMEOUT:?}; killing it"
            );
            self.kill(node);
        }
    }

    /// Starts a stopped or killed node again on the same ports and data,
    /// and waits until Metadata lists it.
    ///
    /// # Panics
    ///
    /// When the node does not rejoin in the start timeout.
    pub fn restart(&self, node: i32) {
        if self.is_running(node) {
            self.stop(node);
        }
        self.spawn(node).expect("the node's JVM starts");
        let n = self.ports.len();
        // Every running node, the restarted one included (it answers only
        // once it is up), must list all of them: a test may ask any.
        if let Err(e) = self.wait_for_brokers(n, self.start_timeout) {
            panic!(
                "node {node} did not rejoin: {e}\n{}",
                self.log_tail(node, 40)
            );
        }
    }

    /// Starts a stopped or killed node again on the same ports and data,
    /// and waits only until it answers Metadata listing itself, not until
    /// the cluster is whole: for a test that brings nodes back one at a
    /// time while others stay down. A running node is left alone.
    ///
    /// # Panics
    ///
    /// When the node does not answer in the start timeout.
    pub fn start(&self, node: i32) {
        if self.is_running(node) {
            return;
        }
        self.spawn(node).expect("the node's JVM starts");
        let deadline = Instant::now() + self.start_timeout;
        loop {
            let answer = request_once(
                self.addr(node, Listener::Plaintext),
                MetadataRequest::default()
                    .with_topics(Some(Vec::new()))
                    .into(),
                METADATA_VERSION,
            );
            let last = match answer {
                Ok(ResponseBody::Metadata(m)) if m.brokers.iter().any(|b| b.node_id == node) => {
                    return
                }
                Ok(ResponseBody::Metadata(m)) => {
                    let ids: Vec<i32> = m.brokers.iter().map(|b| b.node_id).collect();
                    format!("it lists brokers {ids:?}")
                }
                Ok(other) => unexpected(&other).to_string(),
                Err(e) => e.to_string(),
            };
            if !self.is_running(node) {
                panic!(
                    "node {node} exited during start\n{}",
                    self.log_tail(node, 40)
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "node {node} did not start in {:?} ({last})\n{}",
                    self.start_timeout,
                    self.log_tail(node, 40)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Freezes node `node` (SIGSTOP): its sockets stay open but nothing
    /// answers, as a hung broker.
    pub fn pause(&self, node: i32) {
        self.signal(node, "STOP");
    }

    /// Lets a paused node run again (SIGCONT).
    pub fn resume(&self, node: i32) {
        self.signal(node, "CONT");
    }

    fn signal(&self, node: i32, signal: &str) -> bool {
        let pid = self.lock()[node_index(node, self.ports.len())].jvm_pid;
        let Some(pid) = pid else { return false };
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Sends `signal` and waits up to `timeout` for the node to exit;
    /// `false` if it is still running then.
    fn signal_and_reap(&self, node: i32, signal: &str, timeout: Duration) -> bool {
        if !self.is_running(node) {
            return true;
        }
        // A stopped JVM would not act on SIGTERM until continued.
        self.signal(node, "CONT");
        self.signal(node, signal);
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if !self.is_running(node) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// The last `lines` lines of node `node`'s broker log (and of its
    /// console output, where the JVM reports what happens before logging
    /// starts), for failure messages.
    pub fn log_tail(&self, node: i32, lines: usize) -> String {
        let dir = self.dir.join(format!("node-{node}"));
        let mut out = String::new();
        for file in ["console.log", "server.log"] {
            let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
            if text.trim().is_empty() {
                continue;
            }
            let all: Vec<&str> = text.lines().collect();
            let start = all.len().saturating_sub(lines);
            out.push_str(&format!(
                "--- node {node} {file} (last {} lines)\n",
                all.len() - start
            ));
            for line in &all[start..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    fn print_log_tails(&self) {
        for id in self.node_ids() {
            eprintln!("{}", self.log_tail(id, 60));
        }
    }

    /// Metadata from the first running node that answers; `topics: None`
    /// asks for every topic.
    pub fn metadata(&self, topics: Option<&[&str]>) -> io::Result<MetadataResponse> {
        let request = MetadataRequest::default().with_topics(topics.map(|t| {
            t.iter()
                .map(|name| MetadataRequestTopic::default().with_name(Some(name.to_string())))
                .collect()
        }));
        let mut last = io::Error::other("no node is running");
        for id in self.node_ids() {
            if !self.is_running(id) {
                continue;
            }
            match request_once(
                self.addr(id, Listener::Plaintext),
                request.clone().into(),
                METADATA_VERSION,
            ) {
                Ok(ResponseBody::Metadata(m)) => return Ok(m),
                Ok(other) => last = unexpected(&other),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The broker ids Metadata lists (registered and not fenced), sorted.
    pub fn live_brokers(&self) -> io::Result<Vec<i32>> {
        let mut ids: Vec<i32> = self
            .metadata(Some(&[]))?
            .brokers
            .iter()
            .map(|b| b.node_id)
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// Waits until every running node's Metadata lists `n` brokers.
    fn wait_for_brokers(&self, n: usize, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            // Every node answers for itself: one listed by the controller
            // may not answer yet, and one just resumed or restarted may
            // still serve a stale list while the others are current.
            let asked: Vec<i32> = self
                .node_ids()
                .into_iter()
                .filter(|&id| self.is_running(id))
                .collect();
            let last = asked.iter().find_map(|&id| {
                match request_once(
                    self.addr(id, Listener::Plaintext),
                    MetadataRequest::default()
                        .with_topics(Some(Vec::new()))
                        .into(),
                    METADATA_VERSION,
                ) {
                    Ok(ResponseBody::Metadata(m)) if m.brokers.len() >= n => None,
                    Ok(ResponseBody::Metadata(m)) => {
                        let ids: Vec<i32> = m.brokers.iter().map(|b| b.node_id).collect();
                        Some(format!("node {id} lists brokers {ids:?}"))
                    }
                    Ok(other) => Some(unexpected(&other).to_string()),
                    Err(e) => Some(format!("node {id}: {e}")),
                }
            });
            let Some(last) = last else {
                return Ok(());
            };
            for id in self.node_ids() {
                let expected = self.lock()[id as usize - 1].jvm_pid.is_some();
                if expected && !self.is_running(id) {
                    return Err(io::Error::other(format!(
                        "node {id} exited during start\n{}",
                        self.log_tail(id, 40)
                    )));
                }
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("Metadata did not list {n} brokers in {timeout:?} ({last})"),
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits (bounded by `timeout`) until every running node's Metadata
    /// lists every node.
    pub fn wait_for_all_brokers(&self, timeout: Duration) -> io::Result<()> {
        self.wait_for_brokers(self.ports.len(), timeout)
    }

    /// The leader of a partition per Metadata, if it has one.
    pub fn node_of_leader(&self, topic: &str, partition: i32) -> io::Result<Option<i32>> {
        let m = self.metadata(Some(&[topic]))?;
        Ok(m.topics
            .iter()
            .filter(|t| t.name.as_deref() == Some(topic))
            .flat_map(|t| &t.partitions)
            .find(|p| p.partition_index == partition)
            .map(|p| p.leader_id)
            .filter(|&id| id >= 0))
    }

    /// A command running one of Kafka's own tools (`main_class`, e.g.
    /// `org.apache.kafka.tools.TopicCommand`) with the cluster's classpath
    /// and logging; add the arguments and run it.
    pub fn tool(&self, main_class: &str) -> Command {
        let mut cmd = self.java(&self.dir.join("tools.log"));
        cmd.arg(main_class);
        cmd
    }

    /// Runs one of Kafka's tools against the cluster's plaintext
    /// listener; its output in the error when it exits non-zero.
    fn run_tool(&self, main_class: &str, args: &[&str]) -> io::Result<String> {
        let out = self
            .tool(main_class)
            .arg("--bootstrap-server")
            .arg(self.bootstrap())
            .args(args)
            .stdin(Stdio::null())
            .output()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            Ok(text)
        } else {
            Err(io::Error::other(format!(
                "{main_class} {args:?} failed ({}): {text}",
                out.status
            )))
        }
    }

    /// Moves `topic`/`partition` onto `replicas` (the first becomes its
    /// preferred leader) with Kafka's reassignment tool, and waits up to
    /// `timeout` for the move to complete. Leadership follows only after
    /// [`KafkaCluster::elect_preferred_leader`] (or Kafka's automatic
    /// rebalance, which tests should not wait for).
    pub fn reassign(
        &self,
        topic: &str,
        partition: i32,
        replicas: &[i32],
        timeout: Duration,
    ) -> io::Result<()> {
        const TOOL: &str = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand";
        let list = replicas
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let plan = format!(
            r#"{{"version":1,"partitions":[{{"topic":"{topic}","partition":{partition},"replicas":[{list}]}}]}}"#
        );
        let file = self
            .dir
            .join(format!("reassign-{topic}-{partition}-{}.json", unique()));
        std::fs::write(&file, plan)?;
        let file = file.to_string_lossy().into_owned();
        self.run_tool(TOOL, &["--reassignment-json-file", &file, "--execute"])?;
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.run_tool(TOOL, &["--reassignment-json-file", &file, "--verify"])?;
            if status.contains("is completed") && !status.contains("is still in progress") {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("reassignment of {topic}/{partition} not done: {status}"),
                ));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Makes the preferred replica (the first of its replica list) the
    /// leader of `topic`/`partition`, with Kafka's leader-election tool.
    /// Succeeds as well when it already leads.
    pub fn elect_preferred_leader(&self, topic: &str, partition: i32) -> io::Result<()> {
        let partition = partition.to_string();
        let result = self.run_tool(
            "org.apache.kafka.tools.LeaderElectionCommand",
            &[
                "--election-type",
                "PREFERRED",
                "--topic",
                topic,
                "--partition",
                &partition,
            ],
        );
        match result {
            Ok(_) => Ok(()),
            // The tool exits non-zero when there was nothing to do.
            Err(e) if e.to_string().contains("ElectionNotNeeded") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A number no other call in this process returns, for file names.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Drop for KafkaCluster {
    fn drop(&mut self) {
        let nodes = std::mem::take(&mut *self.lock());
        for mut node in nodes {
            if let Some(pid) = node.jvm_pid {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
            if let Some((mut child, stdin)) = node.watchdog.take() {
                drop(stdin);
                let _ = child.wait();
            }
        }
        if std::thread::panicking() {
            eprintln!(
                "kafka-testkit: keeping the cluster's logs in {} after a panic",
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `$JAVA_HOME/bin/java` when `JAVA_HOME` is set (as Kafka's own scripts
/// choose), else `java` from `PATH`.
fn java_binary() -> PathBuf {
    match std::env::var_os("JAVA_HOME") {
        Some(home) if !home.is_empty() => Path::new(&home).join("bin").join("java"),
        _ => PathBuf::from("java"),
    }
}

/// Removes the directories that clusters and certificate sets of test
/// processes no longer running left behind: a cluster in a `static` is
/// never dropped. Their names carry the owning process id.
fn sweep_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| {
            n.strip_prefix("kafka-testkit-cluster-")
                .or_else(|| n.strip_prefix("kafka-testkit-pki-"))
        }) else {
            continue;
        };
        let Some(Ok(pid)) = rest.split('-').next().map(str::parse::<u32>) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn node_index(node: i32, n: usize) -> usize {
    assert!(
        node >= 1 && node as usize <= n,
        "no node {node}: nodes are 1..={n}"
    );
    node as usize - 1
}

/// One node's `server.properties`.
fn node_properties(
    opts: &KafkaClusterBuilder,
    id: i32,
    ports: &[NodePorts],
    dir: &Path,
    keystore: &Path,
    pki: &TestPki,
) -> String {
    let n = ports.len();
    let mine = &ports[id as usize - 1];
    let voters = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}@127.0.0.1:{}", i + 1, p.controller))
        .collect::<Vec<_>>()
        .join(",");
    let listeners = Listener::ALL
        .iter()
        .map(|l| format!("{}://127.0.0.1:{}", l.name(), mine.listeners[l.index()]))
        .collect::<Vec<_>>()
        .join(",");
    let protocols = Listener::ALL
        .iter()
        .map(|l| format!("{}:{}", l.name(), l.protocol()))
        .collect::<Vec<_>>()
        .join(",");
    // Internal topics are replicated like the topics under test, but a
    // single node cannot hold more than one replica.
    let rf = n.min(3);
    let min_isr = rf.min(2);
    let mut p: Vec<(String, String)> = vec![
        ("process.roles".into(), "broker,controller".into()),
        ("node.id".into(), id.to_string()),
        ("controller.quorum.voters".into(), voters),
        ("controller.listener.names".into(), "CONTROLLER".into()),
        (
            "listeners".into(),
            format!("{listeners},CONTROLLER://127.0.0.1:{}", mine.controller),
        ),
        ("advertised.listeners".into(), listeners),
        (
            "listener.security.protocol.map".into(),
            format!("{protocols},CONTROLLER:PLAINTEXT"),
        ),
        ("inter.broker.listener.name".into(), "PLAINTEXT".into()),
        ("log.dirs".into(), dir.join("data").display().to_string()),
        ("num.network.threads".into(), "2".into()),
        ("num.io.threads".into(), "2".into()),
        ("num.partitions".into(), "1".into()),
        ("default.replication.factor".into(), rf.to_string()),
        ("offsets.topic.replication.factor".into(), rf.to_string()),
        ("offsets.topic.num.partitions".into(), "5".into()),
        (
            "transaction.state.log.replication.factor".into(),
            rf.to_string(),
        ),
        ("transaction.state.log.min.isr".into(), min_isr.to_string()),
        ("transaction.state.log.num.partitions".into(), "5".into()),
        (
            "share.coordinator.state.topic.replication.factor".into(),
            rf.to_string(),
        ),
        (
            "share.coordinator.state.topic.min.isr".into(),
            min_isr.to_string(),
        ),
        (
            "share.coordinator.state.topic.num.partitions".into(),
            "3".into(),
        ),
        ("group.initial.rebalance.delay.ms".into(), "0".into()),
        // KIP-848 consumer groups: see CONSUMER_GROUP_SESSION_TIMEOUT_MS.
        (
            "group.consumer.min.session.timeout.ms".into(),
            "6000".into(),
        ),
        (
            "group.consumer.session.timeout.ms".into(),
            CONSUMER_GROUP_SESSION_TIMEOUT_MS.to_string(),
        ),
        (
            "group.consumer.min.heartbeat.interval.ms".into(),
            "500".into(),
        ),
        (
            "group.consumer.heartbeat.interval.ms".into(),
            CONSUMER_GROUP_HEARTBEAT_INTERVAL_MS.to_string(),
        ),
        // SASL: PLAIN users live in the JAAS line, SCRAM users in the
        // cluster metadata (created by the format).
        (
            "sasl.enabled.mechanisms".into(),
            "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512".into(),
        ),
        // TLS: one certificate for 127.0.0.1 and localhost, in PEM.
        ("ssl.keystore.type".into(), "PEM".into()),
        (
            "ssl.keystore.location".into(),
            keystore.display().to_string(),
        ),
        ("ssl.truststore.type".into(), "PEM".into()),
        (
            "ssl.truststore.location".into(),
            pki.path("ca.pem").display().to_string(),
        ),
        ("ssl.client.auth".into(), "none".into()),
        (
            "listener.name.mtls.ssl.client.auth".into(),
            "required".into(),
        ),
    ];
    let plain_jaas = {
        let users: String = with_default_user(&opts.plain_users)
            .iter()
            .map(|(u, pw)| format!(" user_{u}=\"{pw}\""))
            .collect();
        format!("org.apache.kafka.common.security.plain.PlainLoginModule required{users};")
    };
    let scram_jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required;";
    for listener in ["sasl_plaintext", "sasl_ssl"] {
        p.push((
            format!("listener.name.{listener}.plain.sasl.jaas.config"),
            plain_jaas.clone(),
        ));
        for mechanism in ["scram-sha-256", "scram-sha-512"] {
            p.push((
                format!("listener.name.{listener}.{mechanism}.sasl.jaas.config"),
                scram_jaas.into(),
            ));
        }
    }
    if let Some(supers) = &opts.super_users {
        p.push((
            "authorizer.class.name".into(),
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer".into(),
        ));
        let all: Vec<String> = std::iter::once("User:ANONYMOUS".to_string())
            .chain(supers.iter().cloned())
            .collect();
        p.push(("super.users".into(), all.join(";")));
    }
    for (k, v) in &opts.properties {
        p.retain(|(key, _)| key != k);
        p.push((k.clone(), v.clone()));
    }
    let mut text = String::from("# Written by kafka-testkit for one test cluster.\n");
    for (k, v) in p {
        text.push_str(&format!("{k}={}\n", escape_property(&v)));
    }
    text
}

/// [`DEFAULT_USER`] followed by `users`.
fn with_default_user(users: &[(String, String)]) -> Vec<(String, String)> {
    let mut all = vec![(DEFAULT_USER.0.to_string(), DEFAULT_USER.1.to_string())];
    all.extend(users.iter().cloned());
    all
}

/// Escapes a value for a Java properties file: backslashes start escapes
/// there, and Windows-style paths or JAAS strings may hold them.
fn escape_property(value: &str) -> String {
    value.replace('\\', "\\\\")
}

/// A fresh Kafka `Uuid` as its tools print it: 16 random bytes in unpadded
/// URL-safe base64. Kafka rejects ids that start with `-` in some tools,
/// so those are drawn again.
pub fn kafka_uuid() -> io::Result<String> {
    let mut f = std::fs::File::open("/dev/urandom")?;
    loop {
        let mut bytes = [0u8; 16];
        f.read_exact(&mut bytes)?;
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        if !id.starts_with('-') && bytes != [0; 16] {
            return Ok(id);
        }
    }
}

/// Sends one request on a fresh connection and returns the response body.
pub fn request_once(addr: SocketAddr, body: RequestBody, version: i16) -> io::Result<ResponseBody> {
    TestClient::connect(addr)?.request(body, version)
}

/// A minimal blocking Kafka client over any byte stream, one request at a
/// time: for the harness and for tests that check what a broker answers,
/// not for production use. Every read and write on a [`TcpStream`] is
/// bounded by a 5 s timeout.
#[derive(Debug)]
pub struct TestClient<S> {
    stream: S,
    correlation_id: i32,
    buf: BytesMut,
}

impl TestClient<TcpStream> {
    /// Connects over TCP.
    pub fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT)?;
        stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
        stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
        Ok(Self::new(stream))
    }
}

impl<S: Read + Write> TestClient<S> {
    /// Speaks Kafka over `stream`, such as a TLS tunnel.
    pub fn new(stream: S) -> Self {
        Self {
            stream,
            correlation_id: 0,
            buf: BytesMut::new(),
        }
    }

    /// Sends `body` in `version` and reads its response.
    pub fn request(
        &mut self,
        body: impl Into<RequestBody>,
        version: i16,
    ) -> io::Result<ResponseBody> {
        let body = body.into();
        let api_key = body.api_key();
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(api_key.id())
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some("kafka-testkit".into()));
        let mut out = BytesMut::new();
        encode_request_frame(&header, &body, &mut out).map_err(io::Error::other)?;
        self.stream.write_all(&out)?;
        self.stream.flush()?;
        let frame = loop {
            if let Some(frame) = split_frame(&mut self.buf, 64 << 20).map_err(io::Error::other)? {
                break frame;
            }
            let mut chunk = [0u8; 8192];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the broker closed the connection before answering {api_key:?}"),
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        };
        let (header, body) =
            decode_response_frame(frame, api_key, version).map_err(io::Error::other)?;
        if header.correlation_id != self.correlation_id {
            return Err(io::Error::other(format!(
                "correlation id {} answers request {}",
                header.correlation_id, self.correlation_id
            )));
        }
        Ok(body)
    }

    /// Authenticates with SASL/PLAIN (SaslHandshake v1, then
    /// SaslAuthenticate v2) and returns the broker's error code: 0 on
    /// success.
    pub fn sasl_plain(&mut self, user: &str, password: &str) -> io::Result<i16> {
        match self.request(
            SaslHandshakeRequest::default().with_mechanism("PLAIN".into()),
            1,
        )? {
            ResponseBody::SaslHandshake(r) if r.error_code == 0 => {}
            ResponseBody::SaslHandshake(r) => return Ok(r.error_code),
            other => return Err(unexpected(&other)),
        }
        let token = format!("\0{user}\0{password}");
        match self.request(
            SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)),
            2,
        )? {
            ResponseBody::SaslAuthenticate(r) => Ok(r.error_code),
            other => Err(unexpected(&other)),
        }
    }

    /// The stream, e.g. to close it.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

fn unexpected(body: &ResponseBody) -> io::Error {
    io::Error::other(format!("unexpected response {:?}", body.api_key()))
}

/// The Kafka install the harness uses: `$KAFKA_HOME`, else the
/// workspace's `target/kafka`, if it holds `libs/`. Otherwise `None` after
/// printing why, or a panic when `KAFKA_REQUIRE_KAFKA=1`.
pub fn kafka_home() -> Option<PathBuf> {
    let home = match std::env::var_os("KAFKA_HOME") {
        Some(h) => PathBuf::from(h),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(|ws| ws.join("target").join("kafka"))?,
    };
    if home.join("libs").is_dir() {
        return Some(home);
    }
    let why = format!(
        "no Kafka install at {} (run scripts/install-kafka.sh, or set KAFKA_HOME to a directory with libs/)",
        home.display()
    );
    if std::env::var("KAFKA_REQUIRE_KAFKA").as_deref() == Ok("1") {
        panic!("KAFKA_REQUIRE_KAFKA=1 but {why}");
    }
    eprintln!("skipping: {why}");
    None
}
