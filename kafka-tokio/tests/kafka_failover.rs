//! Failover on a real 3-node Apache Kafka cluster: an idempotent,
//! acks=all producer and a consumer keep working while partition leaders
//! are killed (SIGKILL), stopped cleanly (SIGTERM), hung (SIGSTOP) or
//! moved by reassignment and preferred-leader election, and afterwards the
//! log holds every acknowledged record exactly once, in send order per
//! partition, and no record reported failed.
//!
//! The tests take nodes down or move leaders, so they take turns on the
//! cluster of this binary (the other test binaries start their own).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kafka_testkit::KafkaCluster;
use kafka_tokio::{
    BrokerAddr, Client, Config, DeliveryReport, Error, NewTopic, OffsetSpec, ProducerRecord,
    SeekTo, TopicPartition,
};
use tokio::sync::{mpsc, watch};

const PARTITIONS: i32 = 3;
/// Records sent at most per second: slow enough that the faults land while
/// records are in flight, fast enough to finish well within a minute.
const RATE_PER_SEC: u64 = 20_000;
/// The bound on any single wait of the fault script.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// One cluster for this binary; the tests take turns on it.
fn cluster() -> Option<(&'static KafkaCluster, MutexGuard<'static, ()>)> {
    static TURN: Mutex<()> = Mutex::new(());
    let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let cluster = KafkaCluster::shared()?;
    Some((cluster, turn))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Timeouts short enough for a test, long enough for a leader election:
/// a hung broker costs a request timeout, metadata is refreshed every few
/// seconds, and a record may wait long enough for a killed node's
/// partitions to move (the controller notices a dead broker within its
/// 9 s session timeout).
fn config(cluster: &KafkaCluster) -> Config {
    let mut c = Config::new(BrokerAddr::parse_list(&cluster.bootstrap()).unwrap());
    c.request_timeout = Duration::from_secs(4);
    c.connection_setup_timeout = Duration::from_secs(3);
    c.api_timeout = Duration::from_secs(30);
    c.metadata_max_age = Duration::from_secs(3);
    c.reconnect_backoff_max = Duration::from_millis(500);
    c.producer.delivery_timeout = Duration::from_secs(60);
    c.producer.enable_idempotence = true;
    c.producer.acks = kafka_tokio::Acks::All;
    c
}

async fn connect(config: Config) -> Client {
    tokio::time::timeout(Duration::from_secs(30), Client::connect(config))
        .await
        .expect("connects in time")
        .unwrap()
}

fn topic_name(prefix: &str) -> String {
    format!("{prefix}-{}", std::process::id())
}

async fn create_topic(client: &Client, topic: &str) {
    client
        .create_topic(NewTopic::new(topic, PARTITIONS, 3).with_config("min.insync.replicas", "2"))
        .await
        .unwrap();
}

/// Waits until every partition of `topic` has a leader and all three
/// replicas in sync, so the next fault starts from a healthy topic.
fn wait_for_full_isr(cluster: &KafkaCluster, topic: &str) {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let healthy = cluster.metadata(Some(&[topic])).is_ok_and(|m| {
            m.topics.iter().all(|t| {
                t.partitions.len() == PARTITIONS as usize
                    && t.partitions
                        .iter()
                        .all(|p| p.leader_id >= 0 && p.isr_nodes.len() == 3)
            })
        });
        if healthy {
            return;
        }
        assert!(Instant::now() < deadline, "{topic}: ISR did not recover");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The record with global sequence number `seq`: partition `seq % 3`, the
/// sequence number as its value, so per partition the values increase in
/// send order.
fn record(topic: &str, seq: u64) -> ProducerRecord {
    ProducerRecord::new(topic)
        .with_partition((seq % PARTITIONS as u64) as i32)
        .with_value(seq.to_be_bytes().to_vec())
}

fn seq_of(value: Option<&[u8]>) -> u64 {
    u64::from_be_bytes(value.expect("a value").try_into().expect("8 bytes"))
}

/// What the producer saw: every record's report, by sequence number.
struct Produced {
    reports: Vec<Result<DeliveryReport, Error>>,
}

impl Produced {
    fn failed(&self) -> usize {
        self.reports.iter().filter(|r| r.is_err()).count()
    }
}

/// Sends `total` records at `RATE_PER_SEC`; before record `i` it waits
/// until the fault script has reached the stage `gate(i)` asks for, so the
/// faults happen while records are being sent, however fast either side
/// is. `acked` counts reports as they arrive (in send order).
async fn produce(
    client: Client,
    topic: String,
    total: u64,
    gate: impl Fn(u64) -> u32,
    mut stage: watch::Receiver<u32>,
    acked: Arc<AtomicU64>,
) -> Produced {
    let producer = client.producer();
    let (tx, mut rx) = mpsc::unbounded_channel::<kafka_tokio::DeliveryFuture>();
    let collector = tokio::spawn(async move {
        let mut reports = Vec::new();
        while let Some(f) = rx.recv().await {
            reports.push(f.await);
            acked.fetch_add(1, Ordering::Relaxed);
        }
        reports
    });
    let started = tokio::time::Instant::now();
    for seq in 0..total {
        let need = gate(seq);
        if *stage.borrow() < need {
            tokio::time::timeout(STEP_TIMEOUT, stage.wait_for(|s| *s >= need))
                .await
                .expect("the fault script moves on")
                .unwrap();
        }
        if seq % 1000 == 0 {
            tokio::time::sleep_until(started + Duration::from_millis(seq * 1000 / RATE_PER_SEC))
                .await;
        }
        let f = tokio::time::timeout(STEP_TIMEOUT, producer.send(record(&topic, seq)))
            .await
            .expect("buffer room in time")
            .expect("the record is accepted");
        tx.send(f).unwrap();
    }
    drop(tx);
    tokio::time::timeout(Duration::from_secs(90), producer.flush())
        .await
        .expect("flushes in time")
        .unwrap();
    Produced {
        reports: collector.await.unwrap(),
    }
}

async fn next_record(
    consumer: &mut kafka_tokio::Consumer,
) -> Option<Result<kafka_tokio::ConsumerRecord, Error>> {
    use futures_core::Stream;
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *consumer).poll_next(cx)).await
}

/// Reads every partition of `topic` from the start until its position
/// reaches the end offset `ends` will hold (set once the producer is done),
/// and returns (partition, offset, sequence number) in the order read.
/// Errors from partitions whose leader is down are tolerated: the consumer
/// must carry on by itself once the partition has a leader again.
async fn consume(
    client: Client,
    topic: String,
    ends: watch::Receiver<Option<HashMap<i32, i64>>>,
) -> Vec<(i32, i64, u64)> {
    let mut consumer = client.consumer().unwrap();
    let tps: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(topic.as_str(), p))
        .collect();
    consumer.assign(tps.clone()).await.unwrap();
    for tp in &tps {
        consumer.seek(tp.clone(), SeekTo::Earliest).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut next: HashMap<i32, i64> = HashMap::new();
    let mut errors = 0;
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        if let Some(ends) = ends.borrow().as_ref() {
            if ends
                .iter()
                .all(|(p, end)| next.get(p).copied().unwrap_or(0) >= *end)
            {
                return seen;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the consumer stalled at {next:?} ({errors} errors)"
        );
        match tokio::time::timeout(Duration::from_millis(500), next_record(&mut consumer)).await {
            Err(_) => {}
            Ok(Some(Ok(r))) => {
                next.insert(r.partition, r.offset + 1);
                seen.push((r.partition, r.offset, seq_of(r.value.as_deref())));
            }
            Ok(Some(Err(e))) => {
                // A partition that failed waits for a seek: seek it to
                // where it was, as an application would.
                errors += 1;
                assert!(errors < 1000, "endless consumer errors, last {e}");
                if let Error::Fetch { partition, .. } = &e {
                    let at = next.get(&partition.partition).copied().unwrap_or(0);
                    consumer
                        .seek(partition.clone(), SeekTo::Offset(at))
                        .await
                        .unwrap();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(None) => panic!("the consumer stream ended"),
        }
    }
}

/// Reads the whole log of `topic` with a fresh client: per partition, the
/// sequence numbers at offsets 0.. in order.
async fn read_log(cluster: &KafkaCluster, topic: &str) -> HashMap<i32, Vec<u64>> {
    let client = connect(config(cluster)).await;
    let mut consumer = client.consumer().unwrap();
    let tps: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(topic, p))
        .collect();
    let latest = consumer
        .offsets(tps.clone(), OffsetSpec::Latest)
        .await
        .unwrap();
    consumer.assign(tps.clone()).await.unwrap();
    let mut log: HashMap<i32, Vec<u64>> = HashMap::new();
    let mut remaining = 0;
    for tp in &tps {
        consumer.seek(tp.clone(), SeekTo::Earliest).await.unwrap();
        let end = latest[tp].as_ref().unwrap().offset.unwrap();
        log.insert(tp.partition, Vec::with_capacity(end as usize));
        remaining += end;
    }
    while remaining > 0 {
        let r = tokio::time::timeout(Duration::from_secs(20), next_record(&mut consumer))
            .await
            .expect("the log is readable")
            .unwrap()
            .unwrap();
        let records = log.get_mut(&r.partition).unwrap();
        assert_eq!(r.offset, records.len() as i64, "partition {}", r.partition);
        records.push(seq_of(r.value.as_deref()));
        remaining -= 1;
    }
    client.close().await;
    log
}

/// The checks every scenario ends with; returns how many records were
/// reported failed.
fn check_log(
    topic: &str,
    produced: &Produced,
    log: &HashMap<i32, Vec<u64>>,
    consumed: &[(i32, i64, u64)],
) -> usize {
    let mut offset_of: HashMap<u64, (i32, i64)> = HashMap::new();
    for (&p, seqs) in log {
        for (offset, &seq) in seqs.iter().enumerate() {
            assert_eq!(seq % PARTITIONS as u64, p as u64, "{topic}: {seq} in {p}");
            let dup = offset_of.insert(seq, (p, offset as i64));
            assert!(dup.is_none(), "{topic}: record {seq} is in the log twice");
        }
        // Send order per partition: the sequence numbers only increase.
        for w in seqs.windows(2) {
            assert!(
                w[0] < w[1],
                "{topic} partition {p}: {} before {}",
                w[0],
                w[1]
            );
        }
    }
    for (seq, report) in produced.reports.iter().enumerate() {
        let seq = seq as u64;
        match report {
            Ok(r) => assert_eq!(
                offset_of.get(&seq),
                Some(&(r.partition, r.offset)),
                "{topic}: acknowledged record {seq} is not in the log where its report said"
            ),
            Err(e) => assert!(
                !offset_of.contains_key(&seq),
                "{topic}: record {seq} was reported failed ({e}) but is in the log"
            ),
        }
    }
    // Nothing in the log that was never sent.
    assert!(offset_of
        .keys()
        .all(|&s| (s as usize) < produced.reports.len()));
    // The consumer that read through the faults saw the same log: every
    // offset once, in order, with the same record at each.
    let mut next: HashMap<i32, i64> = HashMap::new();
    for &(p, offset, seq) in consumed {
        let n = next.entry(p).or_default();
        assert_eq!(
            offset, *n,
            "{topic}: the consumer skipped or repeated in {p}"
        );
        assert_eq!(log[&p][offset as usize], seq, "{topic} {p}@{offset}");
        *n += 1;
    }
    for (p, seqs) in log {
        assert_eq!(
            next.get(p).copied().unwrap_or(0),
            seqs.len() as i64,
            "{topic}: the consumer missed the end of partition {p}"
        );
    }
    produced.failed()
}

/// Runs a scenario: a producer of `total` records gated by `gate`, a
/// consumer reading along, and `faults` (a blocking script given the
/// stage sender and the acknowledged count); then checks the log.
async fn scenario(
    cluster: &'static KafkaCluster,
    topic: &str,
    total: u64,
    gate: impl Fn(u64) -> u32 + Send + 'static,
    faults: impl FnOnce(&watch::Sender<u32>, &AtomicU64) + Send + 'static,
) -> usize {
    let started = Instant::now();
    let admin = connect(config(cluster)).await;
    create_topic(&admin, topic).await;
    wait_for_full_isr(cluster, topic);

    let (stage_tx, stage_rx) = watch::channel(0u32);
    let (ends_tx, ends_rx) = watch::channel(None);
    let acked = Arc::new(AtomicU64::new(0));
    let consumer = tokio::spawn(consume(
        connect(config(cluster)).await,
        topic.to_string(),
        ends_rx,
    ));
    let producer_client = connect(config(cluster)).await;
    let producer = tokio::spawn(produce(
        producer_client.clone(),
        topic.to_string(),
        total,
        gate,
        stage_rx,
        acked.clone(),
    ));
    let script = {
        let acked = acked.clone();
        tokio::task::spawn_blocking(move || faults(&stage_tx, &acked))
    };
    script.await.unwrap();
    let produced = producer.await.unwrap();
    producer_client.close().await;
    let log = read_log(cluster, topic).await;
    ends_tx
        .send(Some(
            log.iter().map(|(p, s)| (*p, s.len() as i64)).collect(),
        ))
        .unwrap();
    let consumed = tokio::time::timeout(Duration::from_secs(60), consumer)
        .await
        .expect("the consumer catches up")
        .unwrap();
    let failed = check_log(topic, &produced, &log, &consumed);
    eprintln!(
        "{topic}: {total} records, {} acknowledged, {failed} reported failed, \
         {} consumed during the faults, {:.1} s",
        total as usize - failed,
        consumed.len(),
        started.elapsed().as_secs_f64()
    );
    admin.close().await;
    failed
}

/// Waits (bounded) until at least `n` records have their reports.
fn wait_acked(acked: &AtomicU64, n: u64) {
    let deadline = Instant::now() + STEP_TIMEOUT;
    while acked.load(Ordering::Relaxed) < n {
        assert!(Instant::now() < deadline, "only {acked:?} of {n} reports");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn leader(cluster: &KafkaCluster, topic: &str, partition: i32) -> i32 {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        if let Ok(Some(node)) = cluster.node_of_leader(topic, partition) {
            return node;
        }
        assert!(
            Instant::now() < deadline,
            "{topic}/{partition} has no leader"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// 200K records while the leader of partition 0 is killed and restarted,
/// then the leader of partition 1 (another node where possible) is stopped
/// cleanly and restarted.
#[test]
fn killed_and_stopped_leaders_lose_and_duplicate_nothing() {
    let Some((cluster, _turn)) = cluster() else {
        return;
    };
    let topic = topic_name("failover-kill");
    let t = topic.clone();
    let failed = runtime().block_on(scenario(
        cluster,
        &topic,
        200_000,
        // Stage 2: the first leader is back; 4: the second is back too.
        // Records 20K..60K go out while the first is dead, 120K..190K
        // while the second shuts down.
        |seq| match seq {
            0..60_000 => 0,
            60_000..190_000 => 2,
            _ => 4,
        },
        move |stage, acked| {
            wait_acked(acked, 20_000);
            let first = leader(cluster, &t, 0);
            cluster.kill(first);
            stage.send_replace(1);
            // Records keep flowing to the partitions that moved.
            std::thread::sleep(Duration::from_secs(3));
            cluster.restart(first);
            wait_for_full_isr(cluster, &t);
            stage.send_replace(2);
            wait_acked(acked, 120_000);
            let second = (0..PARTITIONS)
                .map(|p| leader(cluster, &t, p))
                .find(|&n| n != first)
                .unwrap_or(first);
            cluster.stop(second);
            stage.send_replace(3);
            std::thread::sleep(Duration::from_secs(2));
            cluster.restart(second);
            wait_for_full_isr(cluster, &t);
            stage.send_replace(4);
        },
    ));
    // With a 60 s delivery timeout and leaders back within seconds no
    // record should run out of time.
    assert_eq!(failed, 0, "{failed} records reported failed");
}

/// A hung leader (SIGSTOP): its requests time out, the controller moves
/// its partitions, the client follows the new metadata; nothing is lost or
/// duplicated. The node is resumed at the end.
#[test]
fn a_hung_leader_loses_and_duplicates_nothing() {
    let Some((cluster, _turn)) = cluster() else {
        return;
    };
    let topic = topic_name("failover-pause");
    let t = topic.clone();
    let failed = runtime().block_on(scenario(
        cluster,
        &topic,
        100_000,
        |seq| match seq {
            0..20_000 => 0,
            20_000..80_000 => 1,
            _ => 2,
        },
        move |stage, acked| {
            wait_acked(acked, 10_000);
            let hung = leader(cluster, &t, 0);
            cluster.pause(hung);
            // Resume the node whatever happens below, or the other tests
            // of this binary would find a hung node.
            struct Resume<'a>(&'a KafkaCluster, i32);
            impl Drop for Resume<'_> {
                fn drop(&mut self) {
                    self.0.resume(self.1);
                }
            }
            let resume = Resume(cluster, hung);
            stage.send_replace(1);
            // The controller fences the silent broker and elects new
            // leaders; the producer must find them by itself.
            let deadline = Instant::now() + STEP_TIMEOUT;
            while cluster.node_of_leader(&t, 0).ok().flatten() == Some(hung) {
                assert!(Instant::now() < deadline, "the leader never moved");
                std::thread::sleep(Duration::from_millis(200));
            }
            // Records flow again (up to the gate of stage 2).
            let now = acked.load(Ordering::Relaxed);
            wait_acked(acked, (now + 10_000).min(80_000));
            drop(resume);
            wait_for_full_isr(cluster, &t);
            stage.send_replace(2);
        },
    ));
    assert_eq!(failed, 0, "{failed} records reported failed");
}

/// Leadership moved by the operator while records flow: each partition's
/// replicas are reordered with Kafka's reassignment tool and the new first
/// replica elected leader. The old leader stays up and answers
/// NOT_LEADER_OR_FOLLOWER; the producer must follow the metadata and
/// resend without duplicating, the consumer must follow too.
#[test]
fn leaders_moved_by_reassignment_and_election_lose_and_duplicate_nothing() {
    let Some((cluster, _turn)) = cluster() else {
        return;
    };
    let topic = topic_name("failover-move");
    let t = topic.clone();
    let failed = runtime().block_on(scenario(
        cluster,
        &topic,
        100_000,
        |seq| match seq {
            0..90_000 => 0,
            _ => 1,
        },
        move |stage, acked| {
            wait_acked(acked, 10_000);
            for partition in 0..PARTITIONS {
                let old = leader(cluster, &t, partition);
                // The other two nodes, the next one first: a move every
                // time, whichever node led before.
                let mut replicas: Vec<i32> = cluster.node_ids();
                let at = replicas.iter().position(|&n| n == old).unwrap();
                replicas.rotate_left(at + 1);
                let new = replicas[0];
                cluster
                    .reassign(&t, partition, &replicas, STEP_TIMEOUT)
                    .unwrap();
                cluster.elect_preferred_leader(&t, partition).unwrap();
                let deadline = Instant::now() + STEP_TIMEOUT;
                while cluster.node_of_leader(&t, partition).ok().flatten() != Some(new) {
                    assert!(Instant::now() < deadline, "{t}/{partition} never moved");
                    std::thread::sleep(Duration::from_millis(100));
                }
                // Records flow to the new leader before the next move.
                let now = acked.load(Ordering::Relaxed);
                wait_acked(acked, (now + 5_000).min(90_000));
            }
            stage.send_replace(1);
        },
    ));
    assert_eq!(failed, 0, "{failed} records reported failed");
}

/// The node that coordinates `group` now.
fn coordinator_of(cluster: &KafkaCluster, group: &str) -> i32 {
    use kafka_proto::messages::FindCoordinatorRequest;
    use kafka_proto::ResponseBody;
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        for node in cluster.node_ids() {
            if !cluster.is_running(node) {
                continue;
            }
            let asked = kafka_testkit::kafka::request_once(
                cluster.addr(node, kafka_testkit::Listener::Plaintext),
                FindCoordinatorRequest::default()
                    .with_key(group.to_string())
                    .with_key_type(0)
                    .into(),
                3,
            );
            if let Ok(ResponseBody::FindCoordinator(r)) = asked {
                if r.error_code == 0 && r.node_id >= 0 {
                    return r.node_id;
                }
            }
        }
        assert!(Instant::now() < deadline, "no coordinator for {group}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A group member consuming into `seen` (sequence number → times read)
/// until `stop` says so; auto-commit every second.
async fn member(
    client: Client,
    topic: String,
    seen: Arc<Mutex<HashMap<u64, u32>>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut consumer = client.consumer().unwrap();
    consumer.subscribe([topic.as_str()]).await.unwrap();
    loop {
        tokio::select! {
            r = next_record(&mut consumer) => match r {
                Some(Ok(r)) => *seen.lock().unwrap().entry(seq_of(r.value.as_deref())).or_default() += 1,
                // A partition whose leader is gone for longer than the
                // retries cover reports once; the group resumes it from
                // the committed offset at the next rebalance at worst.
                Some(Err(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
                None => panic!("the group consumer's stream ended"),
            },
            _ = stop.changed() => break,
        }
    }
    // What was read is committed (auto-commit on leaving) and the member
    // leaves at close.
    drop(consumer);
    client.close().await;
}

fn group_member_config(cluster: &KafkaCluster, group: &str) -> Config {
    let mut c = config(cluster);
    let mut g = kafka_tokio::GroupConfig::new(group);
    g.session_timeout = Duration::from_secs(10);
    g.heartbeat_interval = Duration::from_secs(1);
    g.rebalance_timeout = Some(Duration::from_secs(20));
    g.auto_commit_interval = Duration::from_secs(1);
    c.group = Some(g);
    c.consumer.auto_offset_reset = kafka_tokio::AutoOffsetReset::Earliest;
    c
}

/// Two group members read while the group coordinator's node is killed
/// (SIGKILL) and brought back, and then one member crashes (its runtime
/// dropped: no LeaveGroup, no last commit): the other takes its
/// partitions over after the session timeout, every record is read at
/// least once, and the group's committed offsets end at the log's end.
#[test]
fn a_group_survives_its_coordinator_killed_and_a_member_crashed() {
    let Some((cluster, _turn)) = cluster() else {
        return;
    };
    let topic = topic_name("group-failover");
    let group = topic_name("group-failover-g");
    let rt = runtime();
    let admin = rt.block_on(async {
        let admin = connect(config(cluster)).await;
        create_topic(&admin, &topic).await;
        admin
    });
    wait_for_full_isr(cluster, &topic);
    let send = |from: u64, to: u64| {
        rt.block_on(async {
            let producer = admin.producer();
            let reports = producer
                .send_batch((from..to).map(|seq| record(&topic, seq)))
                .await;
            assert!(reports.failed() == 0, "every record written");
        })
    };
    let read_all = |seen: &Arc<Mutex<HashMap<u64, u32>>>, to: u64, what: &str| {
        let deadline = Instant::now() + Duration::from_secs(90);
        while (0..to).any(|s| !seen.lock().unwrap().contains_key(&s)) {
            assert!(Instant::now() < deadline, "not every record read {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let seen: Arc<Mutex<HashMap<u64, u32>>> = Arc::default();
    let (stop_a, stop_a_rx) = watch::channel(false);
    let a_client = rt.block_on(connect(group_member_config(cluster, &group)));
    let a = rt.spawn(member(
        a_client,
        topic.clone(),
        Arc::clone(&seen),
        stop_a_rx,
    ));
    // B runs on a runtime of its own, so dropping that runtime is a crash.
    let rt_b = runtime();
    let (_stop_b, stop_b_rx) = watch::channel(false);
    let b_client = rt_b.block_on(connect(group_member_config(cluster, &group)));
    rt_b.spawn(member(
        b_client,
        topic.clone(),
        Arc::clone(&seen),
        stop_b_rx,
    ));

    send(0, 3_000);
    read_all(&seen, 3_000, "before the faults");

    let coordinator = coordinator_of(cluster, &group);
    cluster.kill(coordinator);
    send(3_000, 6_000);
    read_all(&seen, 6_000, "with the coordinator's node dead");
    cluster.restart(coordinator);
    wait_for_full_isr(cluster, &topic);

    // B crashes; A is alone and reads everything written after.
    rt_b.shutdown_background();
    let crashed = Instant::now();
    send(6_000, 9_000);
    read_all(&seen, 9_000, "after a member crashed");
    eprintln!(
        "the records after the crash were read within {:?} of it",
        crashed.elapsed()
    );
    stop_a.send_replace(true);
    rt.block_on(async { tokio::time::timeout(STEP_TIMEOUT, a).await })
        .expect("member A leaves in time")
        .unwrap();

    let duplicates: u32 = seen.lock().unwrap().values().map(|n| n - 1).sum();
    eprintln!("{duplicates} records were read twice (at least once is the promise)");
    // A committed what it read when it left: the group's offsets are the
    // log's end on every partition.
    rt.block_on(async {
        let offsets = admin.group_offsets(&group).await.unwrap();
        let ends = admin
            .offsets(
                (0..PARTITIONS).map(|p| TopicPartition::new(topic.as_str(), p)),
                OffsetSpec::Latest,
            )
            .await
            .unwrap();
        for (tp, end) in ends {
            let end = end.unwrap().offset.unwrap();
            let committed = offsets
                .offsets
                .get(&tp)
                .and_then(|o| o.as_ref().ok())
                .map(|o| o.offset);
            assert_eq!(committed, Some(end), "{tp} committed at the end");
        }
        admin.close().await;
    });
}
