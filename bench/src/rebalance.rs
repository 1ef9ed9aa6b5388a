//! The rebalance scenario: a stable group of N members sharing a topic
//! that a feeder keeps writing to, then one more member joins. Measured:
//! the time from the newcomer's subscribe until every member again holds
//! a share of a complete, disjoint assignment and has read a record of it
//! since its assignment last changed.
//!
//! Every member runs on its own thread (ours on a current-thread runtime
//! for kafka-tokio), so the clients differ only in their group member.
//! Both sides use the same heartbeat interval and session timeout, the
//! Java client's defaults, which bound how soon a member hears of a
//! rebalance under the classic protocol.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};

use crate::child::{Job, Measured};
use crate::scenario::{GroupProtocol, Kind};
use crate::Error;

/// Longest a group may take to settle, before and after the join.
const SETTLE_LIMIT: Duration = Duration::from_secs(100);

/// Records per partition per second from the feeder: a member hears
/// from each of its partitions about every 10 ms.
const FEED_PER_PARTITION: u64 = 100;

const HEARTBEAT: Duration = Duration::from_secs(3);
const SESSION: Duration = Duration::from_secs(45);

/// What a member's thread reports.
#[derive(Debug, Clone)]
struct View {
    assignment: BTreeSet<i32>,
    changed: Instant,
    /// The last record read, and when.
    last_record: Option<Instant>,
}

struct Shared {
    views: Mutex<Vec<View>>,
    stop: AtomicBool,
    failure: Mutex<Option<String>>,
}

impl Shared {
    fn record(&self, me: usize, got_record: bool, assignment: BTreeSet<i32>) {
        let now = Instant::now();
        let mut views = self.views.lock().expect("no panics under the lock");
        let v = &mut views[me];
        if v.assignment != assignment {
            v.assignment = assignment;
            v.changed = now;
        } else if got_record {
            v.last_record = Some(now);
        }
    }

    fn fail(&self, e: impl std::fmt::Display) {
        let mut f = self.failure.lock().expect("no panics under the lock");
        f.get_or_insert_with(|| e.to_string());
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Whether `n` members share all `partitions`, each with some, and
    /// each has read since its last change.
    fn settled(&self, n: usize, partitions: i32) -> bool {
        let views = self.views.lock().expect("no panics under the lock");
        if views.len() != n {
            return false;
        }
        let mut all = BTreeSet::new();
        for v in views.iter() {
            if v.assignment.is_empty() || v.last_record.is_none_or(|t| t <= v.changed) {
                return false;
            }
            for p in &v.assignment {
                if !all.insert(*p) {
                    return false;
                }
            }
        }
        all.len() == partitions as usize
    }
}

pub fn run(job: &Job<'_>, client: &str) -> Result<Measured, Error> {
    let Kind::Rebalance {
        members,
        partitions,
        protocol,
    } = job.s.kind
    else {
        return Err("not a rebalance scenario".into());
    };
    let group = format!("rebalance-{client}-{}-{}", job.topic, std::process::id());
    let shared = Arc::new(Shared {
        views: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
        failure: Mutex::new(None),
    });
    let mut threads = vec![feeder(job, partitions, shared.clone())?];
    let start_member = |threads: &mut Vec<JoinHandle<()>>| -> Result<(), Error> {
        let me = {
            let mut views = shared.views.lock().expect("no panics under the lock");
            views.push(View {
                assignment: BTreeSet::new(),
                changed: Instant::now(),
                last_record: None,
            });
            views.len() - 1
        };
        let (bootstrap, topic, group) = (
            job.bootstrap.to_string(),
            job.topic.to_string(),
            group.clone(),
        );
        let sh = shared.clone();
        let client = client.to_string();
        threads.push(std::thread::spawn(move || {
            let result = match client.as_str() {
                "kafka-tokio" => ours_tokio(&bootstrap, &topic, &group, protocol, me, &sh),
                "kafka-blocking" => ours_blocking(&bootstrap, &topic, &group, protocol, me, &sh),
                "rdkafka" => rdkafka_member(&bootstrap, &topic, &group, protocol, me, &sh),
                other => Err(format!("unknown client {other}").into()),
            };
            if let Err(e) = result {
                sh.fail(format!("member {me}: {e}"));
            }
        }));
        Ok(())
    };
    let wait = |n: usize, what: &str| -> Result<(), Error> {
        let limit = Instant::now() + SETTLE_LIMIT;
        loop {
            if let Some(e) = shared.failure.lock().expect("no panics").clone() {
                return Err(e.into());
            }
            if shared.settled(n, partitions) {
                return Ok(());
            }
            if Instant::now() > limit {
                let views = shared.views.lock().expect("no panics").clone();
                return Err(format!("{what}: not settled in {SETTLE_LIMIT:?}: {views:?}").into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let outcome = (|| {
        for _ in 0..members {
            start_member(&mut threads)?;
        }
        wait(members, "the first members")?;
        let t0 = Instant::now();
        start_member(&mut threads)?;
        wait(members + 1, "after the join")?;
        Ok::<_, Error>(t0.elapsed())
    })();
    shared.stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let took = outcome?;
    Ok(Measured {
        records: 1,
        secs: took.as_secs_f64(),
        ..Measured::default()
    })
}

/// Writes `FEED_PER_PARTITION` records a second to every partition until
/// stopped.
fn feeder(job: &Job<'_>, partitions: i32, shared: Arc<Shared>) -> Result<JoinHandle<()>, Error> {
    use kafka_blocking::{Acks, BrokerAddr, Client, Config, ProducerRecord};
    let mut config = Config::default();
    config.bootstrap = BrokerAddr::parse_list(job.bootstrap)?;
    config.producer.acks = Acks::Leader;
    config.producer.enable_idempotence = false;
    let client = Client::connect(config)?;
    let topic = job.topic.to_string();
    Ok(std::thread::spawn(move || {
        let producer = client.producer();
        let tick = Duration::from_millis(1000 / FEED_PER_PARTITION);
        let mut next = Instant::now();
        while !shared.stop.load(Ordering::Relaxed) {
            for p in 0..partitions {
                let r = ProducerRecord::new(topic.as_str())
                    .with_partition(p)
                    .with_value("x");
                if let Err(e) = producer.send(r) {
                    shared.fail(format!("feeder: {e}"));
                    return;
                }
            }
            next += tick;
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        client.close();
    }))
}

fn our_config(
    bootstrap: &str,
    group: &str,
    protocol: GroupProtocol,
) -> Result<kafka_blocking::Config, Error> {
    use kafka_blocking::{
        AutoOffsetReset, BrokerAddr, Config, CooperativeStickyAssignor, GroupConfig,
    };
    let mut config = Config::default();
    config.bootstrap = BrokerAddr::parse_list(bootstrap)?;
    config.consumer.auto_offset_reset = AutoOffsetReset::Latest;
    let mut g = GroupConfig::new(group);
    g.heartbeat_interval = HEARTBEAT;
    g.session_timeout = SESSION;
    g.enable_auto_commit = false;
    match protocol {
        GroupProtocol::CooperativeSticky => {
            g = g.only_assignor(CooperativeStickyAssignor::default);
        }
        GroupProtocol::Consumer => {
            // The coordinator sets the heartbeat interval and session.
            g.group_protocol = kafka_blocking::GroupProtocol::Consumer;
            g.remote_assignor = Some("uniform".into());
        }
    }
    config.group = Some(g);
    Ok(config)
}

fn tps_of(assignment: Vec<kafka_blocking::TopicPartition>) -> BTreeSet<i32> {
    assignment.into_iter().map(|tp| tp.partition).collect()
}

fn ours_tokio(
    bootstrap: &str,
    topic: &str,
    group: &str,
    protocol: GroupProtocol,
    me: usize,
    shared: &Shared,
) -> Result<(), Error> {
    let config = our_config(bootstrap, group, protocol)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let client = kafka_tokio::Client::connect(config).await?;
        let mut consumer = client.consumer()?;
        consumer.subscribe([topic]).await?;
        while !shared.stop.load(Ordering::Relaxed) {
            let next = std::future::poll_fn(|cx| {
                futures_core::Stream::poll_next(std::pin::Pin::new(&mut consumer), cx)
            });
            let got = match tokio::time::timeout(Duration::from_millis(100), next).await {
                Ok(Some(r)) => {
                    r?;
                    true
                }
                Ok(None) => return Err::<(), Error>("the consumer stream ended".into()),
                Err(_) => false,
            };
            shared.record(me, got, tps_of(consumer.assignment()?));
        }
        drop(consumer);
        client.close().await;
        Ok(())
    })
}

fn ours_blocking(
    bootstrap: &str,
    topic: &str,
    group: &str,
    protocol: GroupProtocol,
    me: usize,
    shared: &Shared,
) -> Result<(), Error> {
    let client = kafka_blocking::Client::connect(our_config(bootstrap, group, protocol)?)?;
    let mut consumer = client.consumer()?;
    consumer.subscribe([topic])?;
    while !shared.stop.load(Ordering::Relaxed) {
        let got = !consumer.poll(Duration::from_millis(100))?.is_empty();
        shared.record(me, got, tps_of(consumer.assignment()?));
    }
    drop(consumer);
    client.close();
    Ok(())
}

fn rdkafka_member(
    bootstrap: &str,
    topic: &str,
    group: &str,
    protocol: GroupProtocol,
    me: usize,
    shared: &Shared,
) -> Result<(), Error> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "latest");
    match protocol {
        GroupProtocol::CooperativeSticky => {
            c.set("partition.assignment.strategy", "cooperative-sticky")
                .set("heartbeat.interval.ms", HEARTBEAT.as_millis().to_string())
                .set("session.timeout.ms", SESSION.as_millis().to_string());
        }
        GroupProtocol::Consumer => {
            // The coordinator sets the heartbeat interval and session.
            c.set("group.protocol", "consumer")
                .set("group.remote.assignor", "uniform");
        }
    }
    let consumer: BaseConsumer = c.create()?;
    consumer.subscribe(&[topic])?;
    while !shared.stop.load(Ordering::Relaxed) {
        let got = match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(_)) => true,
            Some(Err(e)) => return Err(format!("poll: {e}").into()),
            None => false,
        };
        let assignment = consumer
            .assignment()?
            .elements()
            .iter()
            .map(|e| e.partition())
            .collect();
        shared.record(me, got, assignment);
    }
    Ok(())
}
