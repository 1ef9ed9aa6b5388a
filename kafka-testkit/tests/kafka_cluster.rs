//! The Apache Kafka harness against the real broker: start, node faults,
//! every listener, and the JVMs dying with the test process.
//!
//! The listener tests share one 3-node cluster; tests that kill or pause
//! nodes start their own, one at a time, so that at most two clusters run
//! at once on a small machine.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kafka_proto::messages::create_topics_request::CreatableTopic;
use kafka_proto::messages::describe_user_scram_credentials_request::UserName;
use kafka_proto::messages::{
    ApiVersionsRequest, CreateTopicsRequest, DescribeUserScramCredentialsRequest,
    SaslHandshakeRequest,
};
use kafka_proto::ResponseBody;
use kafka_testkit::kafka::{kafka_home, request_once, TestClient, DEFAULT_USER};
use kafka_testkit::{KafkaCluster, Listener};

/// Serialises the tests that start their own cluster.
static OWN_CLUSTER: Mutex<()> = Mutex::new(());

fn own_cluster_slot() -> std::sync::MutexGuard<'static, ()> {
    OWN_CLUSTER.lock().unwrap_or_else(|e| e.into_inner())
}

/// Polls `check` every 200 ms until it holds or `timeout` passes.
fn eventually(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn api_versions(client: &mut TestClient<impl Read + Write>) -> io::Result<ResponseBody> {
    client.request(
        ApiVersionsRequest::default()
            .with_client_software_name("kafka-testkit".into())
            .with_client_software_version("0".into()),
        3,
    )
}

fn create_topic(addr: SocketAddr, name: &str, partitions: i32, rf: i16) -> i16 {
    let request = CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(name.into())
            .with_num_partitions(partitions)
            .with_replication_factor(rf)])
        .with_timeout_ms(30_000);
    match request_once(addr, request.into(), 7).unwrap() {
        ResponseBody::CreateTopics(r) => r.topics[0].error_code,
        other => panic!("unexpected {:?}", other.api_key()),
    }
}

/// A TLS connection through the `openssl s_client` command, verifying the
/// broker's certificate against the test CA and the IP 127.0.0.1. A timer
/// kills it after 20 s, so a broker that never answers ends the read.
struct OpensslTunnel {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

impl OpensslTunnel {
    fn connect(cluster: &KafkaCluster, addr: SocketAddr, client_cert: bool) -> Self {
        let pki = cluster.pki();
        let mut cmd = Command::new("openssl");
        cmd.args([
            "s_client",
            "-quiet",
            "-connect",
            &addr.to_string(),
            "-CAfile",
        ])
        .arg(cluster.ca_pem())
        .args(["-verify_return_error", "-verify_ip", "127.0.0.1"]);
        if client_cert {
            cmd.arg("-cert")
                .arg(pki.path("client.pem"))
                .arg("-key")
                .arg(pki.path("client.key"));
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl runs");
        let pid = child.id().to_string();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(20));
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        });
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        Self {
            child,
            stdin,
            stdout,
        }
    }
}

impl Read for OpensslTunnel {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stdout.read(buf)
    }
}

impl Write for OpensslTunnel {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stdin.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.stdin.flush()
    }
}

impl Drop for OpensslTunnel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn shared_cluster_lists_three_brokers() {
    let Some(cluster) = KafkaCluster::shared() else {
        return;
    };
    assert_eq!(cluster.live_brokers().unwrap(), vec![1, 2, 3]);
    assert_eq!(cluster.bootstrap().split(',').count(), 3);
    let metadata = cluster.metadata(Some(&[])).unwrap();
    assert!(metadata.cluster_id.is_some_and(|id| id.len() == 22));
    for id in cluster.node_ids() {
        assert!(cluster.is_running(id));
        assert!(cluster.pid(id).is_some());
    }
}

#[test]
fn plaintext_and_sasl_listeners_answer_on_every_node() {
    let Some(cluster) = KafkaCluster::shared() else {
        return;
    };
    for id in cluster.node_ids() {
        let mut plain = TestClient::connect(cluster.addr(id, Listener::Plaintext)).unwrap();
        match api_versions(&mut plain).unwrap() {
            ResponseBody::ApiVersions(r) => {
                assert_eq!(r.error_code, 0);
                assert!(r.api_keys.len() > 40, "{} APIs", r.api_keys.len());
            }
            other => panic!("unexpected {:?}", other.api_key()),
        }

        let sasl = cluster.addr(id, Listener::Sasl);
        // An unknown mechanism is refused with the list of enabled ones.
        match request_once(
            sasl,
            SaslHandshakeRequest::default()
                .with_mechanism("NOPE".into())
                .into(),
            1,
        )
        .unwrap()
        {
            ResponseBody::SaslHandshake(r) => {
                assert_eq!(r.error_code, 33, "UNSUPPORTED_SASL_MECHANISM");
                let mut m = r.mechanisms;
                m.sort();
                assert_eq!(m, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]);
            }
            other => panic!("unexpected {:?}", other.api_key()),
        }
        let mut good = TestClient::connect(sasl).unwrap();
        assert_eq!(good.sasl_plain(DEFAULT_USER.0, DEFAULT_USER.1).unwrap(), 0);
        assert!(matches!(
            api_versions(&mut good).unwrap(),
            ResponseBody::ApiVersions(r) if r.error_code == 0
        ));
        let mut bad = TestClient::connect(sasl).unwrap();
        assert_eq!(
            bad.sasl_plain(DEFAULT_USER.0, "wrong").unwrap(),
            58,
            "SASL_AUTHENTICATION_FAILED"
        );
    }
}

#[test]
fn scram_users_are_created_at_format_time() {
    let Some(cluster) = KafkaCluster::shared() else {
        return;
    };
    let request = DescribeUserScramCredentialsRequest::default().with_users(Some(vec![
        UserName::default().with_name(DEFAULT_USER.0.into()),
    ]));
    let ResponseBody::DescribeUserScramCredentials(r) =
        request_once(cluster.addr(1, Listener::Plaintext), request.into(), 0).unwrap()
    else {
        panic!("not a DescribeUserScramCredentials response");
    };
    assert_eq!(r.error_code, 0);
    assert_eq!(r.results.len(), 1);
    let mut mechanisms: Vec<i8> = r.results[0]
        .credential_infos
        .iter()
        .map(|c| c.mechanism)
        .collect();
    mechanisms.sort();
    assert_eq!(mechanisms, [1, 2], "SCRAM-SHA-256 and SCRAM-SHA-512");
}

#[test]
fn tls_listeners_verify_against_the_test_ca() {
    let Some(cluster) = KafkaCluster::shared() else {
        return;
    };
    let ssl = cluster.addr(2, Listener::Ssl);
    let mut client = TestClient::new(OpensslTunnel::connect(cluster, ssl, false));
    assert!(matches!(
        api_versions(&mut client).unwrap(),
        ResponseBody::ApiVersions(r) if r.error_code == 0
    ));

    let sasl_ssl = cluster.addr(3, Listener::SaslSsl);
    let mut client = TestClient::new(OpensslTunnel::connect(cluster, sasl_ssl, false));
    assert_eq!(
        client.sasl_plain(DEFAULT_USER.0, DEFAULT_USER.1).unwrap(),
        0
    );

    // Mutual TLS: without a client certificate the broker ends the
    // connection; with the test CA's client certificate it answers.
    let mtls = cluster.addr(1, Listener::Mtls);
    let mut anonymous = TestClient::new(OpensslTunnel::connect(cluster, mtls, false));
    assert!(api_versions(&mut anonymous).is_err());
    let mut client = TestClient::new(OpensslTunnel::connect(cluster, mtls, true));
    assert!(matches!(
        api_versions(&mut client).unwrap(),
        ResponseBody::ApiVersions(r) if r.error_code == 0
    ));
}

#[test]
fn replicated_topic_has_a_leader_among_the_nodes() {
    let Some(cluster) = KafkaCluster::shared() else {
        return;
    };
    let topic = "testkit-leader";
    assert_eq!(
        create_topic(cluster.addr(1, Listener::Plaintext), topic, 3, 3),
        0
    );
    for partition in 0..3 {
        let mut leader = None;
        eventually(Duration::from_secs(30), "a leader is elected", || {
            leader = cluster.node_of_leader(topic, partition).unwrap();
            leader.is_some()
        });
        assert!(cluster.node_ids().contains(&leader.unwrap()));
    }
    assert_eq!(cluster.node_of_leader(topic, 99).unwrap(), None);
}

/// Reassignment and preferred-leader election through Kafka's own tools:
/// the partition's replicas become the chosen list and its leader the
/// first of them.
#[test]
fn reassignment_and_preferred_election_move_the_leader() {
    let Some(cluster) = KafkaCluster::shared() else {
        return;
    };
    let topic = "testkit-reassign";
    assert_eq!(
        create_topic(cluster.addr(1, Listener::Plaintext), topic, 1, 2),
        0
    );
    let mut leader = None;
    eventually(Duration::from_secs(30), "a leader is elected", || {
        leader = cluster.node_of_leader(topic, 0).unwrap();
        leader.is_some()
    });
    let leader = leader.unwrap();
    // Two replicas out of three nodes: the new list puts a node that is
    // not the leader first and keeps the old leader second.
    let other = *cluster.node_ids().iter().find(|&&n| n != leader).unwrap();
    cluster
        .reassign(topic, 0, &[other, leader], Duration::from_secs(60))
        .unwrap();
    let replicas = || -> Vec<i32> {
        let m = cluster.metadata(Some(&[topic])).unwrap();
        m.topics[0].partitions[0].replica_nodes.clone()
    };
    eventually(
        Duration::from_secs(30),
        "metadata lists the new replicas",
        || {
            let mut r = replicas();
            r.sort_unstable();
            let mut want = vec![other, leader];
            want.sort_unstable();
            r == want
        },
    );
    cluster.elect_preferred_leader(topic, 0).unwrap();
    eventually(
        Duration::from_secs(30),
        "the preferred replica leads",
        || cluster.node_of_leader(topic, 0).unwrap() == Some(other),
    );
    // A second election has nothing to do and still succeeds.
    cluster.elect_preferred_leader(topic, 0).unwrap();
}

#[test]
fn killed_stopped_and_paused_nodes_leave_and_rejoin() {
    let _slot = own_cluster_slot();
    let Some(cluster) = KafkaCluster::builder().brokers(3).start() else {
        return;
    };
    let timeout = Duration::from_secs(60);
    let live = |want: &[i32]| cluster.live_brokers().is_ok_and(|ids| ids == want);

    // SIGKILL the leader of a replicated partition: another replica takes
    // over, and the killed node is fenced.
    let topic = "testkit-failover";
    assert_eq!(
        create_topic(cluster.addr(1, Listener::Plaintext), topic, 1, 3),
        0
    );
    let leader = || cluster.node_of_leader(topic, 0).ok().flatten();
    let mut victim = None;
    eventually(timeout, "a leader is elected", || {
        victim = leader();
        victim.is_some()
    });
    let victim = victim.unwrap();
    cluster.kill(victim);
    assert!(!cluster.is_running(victim));
    let others: Vec<i32> = cluster
        .node_ids()
        .into_iter()
        .filter(|&id| id != victim)
        .collect();
    eventually(timeout, "another replica leads", || {
        leader().is_some_and(|l| l != victim)
    });
    eventually(timeout, "the killed node is fenced", || live(&others));
    let started = Instant::now();
    cluster.restart(victim);
    eprintln!(
        "node {victim} rejoined after a kill in {:?}",
        started.elapsed()
    );
    assert_eq!(cluster.live_brokers().unwrap(), [1, 2, 3]);

    // A clean stop unregisters the broker at once: no session timeout.
    cluster.stop(3);
    assert!(!cluster.is_running(3));
    eventually(timeout, "node 3 leaves after SIGTERM", || live(&[1, 2]));
    cluster.restart(3);
    assert_eq!(cluster.live_brokers().unwrap(), [1, 2, 3]);

    // A paused node keeps its sockets but stops heartbeating; the
    // controller fences it after the broker session timeout.
    cluster.pause(1);
    assert!(cluster.is_running(1));
    assert!(
        request_once(
            cluster.addr(1, Listener::Plaintext),
            ApiVersionsRequest::default().into(),
            0
        )
        .is_err(),
        "a paused node does not answer"
    );
    eventually(timeout, "paused node 1 is fenced", || live(&[2, 3]));
    cluster.resume(1);
    cluster.wait_for_all_brokers(timeout).unwrap();
    assert_eq!(cluster.live_brokers().unwrap(), [1, 2, 3]);
}

#[test]
fn single_node_with_users_features_and_authorizer() {
    let _slot = own_cluster_slot();
    let started = Instant::now();
    let Some(cluster) = KafkaCluster::builder()
        .brokers(1)
        .plain_user("admin", "admin-secret")
        .plain_user("bob", "bob-secret")
        .scram_user("carol", "carol-secret")
        .feature("transaction.version", 0)
        .authorizer(&["User:admin"])
        .property("auto.create.topics.enable", "false")
        .start()
    else {
        return;
    };
    eprintln!("1 node up in {:?}", started.elapsed());
    assert_eq!(cluster.live_brokers().unwrap(), [1]);
    let props = std::fs::read_to_string(cluster.dir().join("node-1/server.properties")).unwrap();
    assert!(props.contains("auto.create.topics.enable=false"));

    let plain = cluster.addr(1, Listener::Plaintext);
    let ResponseBody::ApiVersions(versions) =
        api_versions(&mut TestClient::connect(plain).unwrap()).unwrap()
    else {
        panic!("not an ApiVersions response");
    };
    let level = versions
        .finalized_features
        .iter()
        .find(|f| f.name == "transaction.version")
        .map_or(0, |f| f.max_version_level);
    assert_eq!(level, 0, "{:?}", versions.finalized_features);

    // Only the super user may create topics on the SASL listener.
    let sasl = cluster.addr(1, Listener::Sasl);
    let create = |user: &str, password: &str, topic: &str| {
        let mut client = TestClient::connect(sasl).unwrap();
        assert_eq!(client.sasl_plain(user, password).unwrap(), 0);
        let request = CreateTopicsRequest::default()
            .with_topics(vec![CreatableTopic::default()
                .with_name(topic.into())
                .with_num_partitions(1)
                .with_replication_factor(1)])
            .with_timeout_ms(30_000);
        match client.request(request, 7).unwrap() {
            ResponseBody::CreateTopics(r) => r.topics[0].error_code,
            other => panic!("unexpected {:?}", other.api_key()),
        }
    };
    assert_eq!(
        create("bob", "bob-secret", "by-bob"),
        29,
        "TOPIC_AUTHORIZATION_FAILED"
    );
    assert_eq!(create("admin", "admin-secret", "by-admin"), 0);

    let request = DescribeUserScramCredentialsRequest::default().with_users(None);
    let ResponseBody::DescribeUserScramCredentials(r) =
        request_once(plain, request.into(), 0).unwrap()
    else {
        panic!("not a DescribeUserScramCredentials response");
    };
    let mut users: Vec<&str> = r.results.iter().map(|u| u.user.as_str()).collect();
    users.sort();
    assert_eq!(users, ["alice", "carol"]);
}

/// Run by [`jvms_die_with_an_orphaning_test_process`] in a child process:
/// starts a cluster, prints its JVMs' pids, and exits without dropping it.
#[test]
fn orphan_child() {
    if std::env::var_os("KAFKA_TESTKIT_ORPHAN_CHILD").is_none() {
        return;
    }
    let cluster = KafkaCluster::builder()
        .brokers(1)
        .start()
        .expect("the parent checked that Kafka is installed");
    // On its own line: libtest has already printed "test orphan_child ...".
    println!("\nORPHAN_JVM_PID={}", cluster.pid(1).unwrap());
    io::stdout().flush().unwrap();
    // The parent looks at the JVM, then closes our stdin.
    let _ = io::stdin().read_to_end(&mut Vec::new());
    std::process::exit(0);
}

#[test]
fn jvms_die_with_an_orphaning_test_process() {
    let _slot = own_cluster_slot();
    // Skips (or fails, when required) the same way as a start would.
    if kafka_home().is_none() {
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "orphan_child", "--nocapture", "--test-threads=1"])
        .env("KAFKA_TESTKIT_ORPHAN_CHILD", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded by the child's start timeout: it prints the pid or exits.
    let pid = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("ORPHAN_JVM_PID=").map(str::to_string))
        .expect("the child printed its JVM's pid");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(
        String::from_utf8_lossy(&cmdline).contains("kafka.Kafka"),
        "process {pid} is a running broker"
    );
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(status.success(), "the child test failed: {status}");
    eventually(
        Duration::from_secs(15),
        "the orphaned JVM is killed by its watchdog",
        || !std::path::Path::new(&format!("/proc/{pid}")).exists(),
    );
}

#[test]
fn kafka_tools_run_against_the_cluster() {
    let Some(cluster) = KafkaCluster::shared() else {
        return;
    };
    let topic = "testkit-by-tool";
    let out = cluster
        .tool("org.apache.kafka.tools.TopicCommand")
        .args([
            "--bootstrap-server",
            &cluster.bootstrap(),
            "--create",
            "--topic",
            topic,
        ])
        .args(["--partitions", "2", "--replication-factor", "3"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata = cluster.metadata(Some(&[topic])).unwrap();
    assert_eq!(metadata.topics[0].error_code, 0);
    assert_eq!(metadata.topics[0].partitions.len(), 2);
    assert!(metadata.topics[0]
        .partitions
        .iter()
        .all(|p| p.replica_nodes.len() == 3));
}

#[test]
fn a_broken_config_fails_the_start_with_the_reason() {
    let _slot = own_cluster_slot();
    if kafka_home().is_none() {
        return;
    }
    let started = Instant::now();
    let result = std::panic::catch_unwind(|| {
        KafkaCluster::builder()
            .brokers(1)
            .property("num.network.threads", "many")
            .start()
    });
    let message = match result {
        Ok(_) => panic!("a cluster with num.network.threads=many started"),
        Err(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default(),
    };
    assert!(message.contains("num.network.threads"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(60));
}
