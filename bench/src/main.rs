//! Our Kafka clients (kafka-tokio, kafka-blocking) against librdkafka
//! (through the `rdkafka` crate) on a real broker: Tansu, or a one-node
//! Apache Kafka for the rebalance and transaction scenarios. franz-go
//! (`bench/franz`) and the Java client (`bench/java`) join as peers when
//! `KAFKA_BENCH_FRANZ` / `KAFKA_BENCH_JAVA_CP` point at them (see
//! `peer_command`); they run as commands of their own and print the same
//! `result` line as `__child`.
//!
//! Every scenario gets a fresh broker. Each client's measurement runs in a
//! child process (this binary re-executed with the hidden `__child`
//! subcommand), started through a small launcher (`__launch`) whose
//! `wait4` hands back exactly that client's CPU time and peak RSS. The
//! clients take turns against the same broker.
//!
//! ```text
//! cargo run --release --manifest-path bench/Cargo.toml -- [--quick] [--rounds N] [--only NAME]
//! ```

mod child;
#[cfg(feature = "heap-peak")]
mod heap;
mod rebalance;
mod report;
mod rusage;
mod scenario;

use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use kafka_blocking::{Client, NewTopic};
use kafka_testkit::{KafkaCluster, Tansu};

use crate::report::{Row, Sample};
use crate::scenario::{Kind, Scenario, CLIENTS, FRANZ, JAVA};

/// Anything that ends a run, with a message for a person.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("__child") => child::main(&args[1..]),
        Some("__launch") => rusage::launch(&args[1..]),
        _ => run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kafka-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Options {
    quick: bool,
    rounds: usize,
    only: Vec<String>,
    /// `--kafka RF`: every scenario on a three-node Apache Kafka cluster,
    /// its topics at this replication factor.
    kafka_rf: Option<i16>,
}

fn parse(args: &[String]) -> Result<Options, Error> {
    let mut o = Options {
        quick: false,
        rounds: 1,
        only: Vec::new(),
        kafka_rf: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => o.quick = true,
            "--rounds" => {
                o.rounds = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n >= 1)
                    .ok_or("--rounds needs a positive number")?;
            }
            "--only" => o
                .only
                .push(it.next().ok_or("--only needs a scenario name")?.clone()),
            "--kafka" => {
                o.kafka_rf = Some(
                    it.next()
                        .and_then(|n| n.parse().ok())
                        .filter(|n| (1..=KAFKA_NODES as i16).contains(n))
                        .ok_or("--kafka needs a replication factor of 1 to 3")?,
                );
            }
            "-h" | "--help" => {
                println!(
                    "usage: kafka-bench [--quick] [--rounds N] [--kafka RF] [--only SCENARIO]...\n\
                     --kafka RF: run every scenario on a {KAFKA_NODES}-node Apache Kafka cluster \
                     (a fresh one per scenario) with topics of replication factor RF, \
                     instead of Tansu\n\
                     scenarios: {}",
                    scenario::all(false)
                        .iter()
                        .map(|s| s.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)").into()),
        }
    }
    Ok(o)
}

fn run(args: &[String]) -> Result<(), Error> {
    let opts = parse(args)?;
    let started = Instant::now();
    let scenarios: Vec<Scenario> = scenario::all(opts.quick)
        .into_iter()
        .filter(|s| opts.only.is_empty() || opts.only.iter().any(|o| o == s.name))
        .map(|mut s| {
            s.kafka_rf = opts.kafka_rf;
            s
        })
        .collect();
    if scenarios.is_empty() {
        return Err("no scenario selected (try --help)".into());
    }
    for peer in [FRANZ, JAVA] {
        if peer_command(peer).is_none() {
            eprintln!("peer {peer}: not set up (see scripts/bench.sh), left out");
        }
    }
    let mut rows = Vec::new();
    for s in &scenarios {
        eprintln!("== {} ({} records)", s.name, s.records);
        let t = Instant::now();
        rows.push(run_scenario(s, opts.rounds)?);
        eprintln!("   took {:.1} s", t.elapsed().as_secs_f64());
    }
    let mode = if opts.quick { "--quick" } else { "full" };
    let broker = match opts.kafka_rf {
        Some(rf) => format!(
            "Apache Kafka, {KAFKA_NODES} nodes, replication factor {rf} (a fresh cluster per scenario)"
        ),
        None => "Tansu, in memory (Apache Kafka, one node, for rebalance and \
                 transactions)"
            .to_string(),
    };
    println!(
        "{}",
        report::markdown(&rows, mode, &broker, opts.rounds, started.elapsed())
    );
    println!("Goals (#18), each our best adapter ÷ the best peer, or ÷ the raw TCP floor:\n");
    println!("{}", report::goals_markdown(&rows));
    println!(
        "Peak RSS of the bench's own process: {:.1} MB. Clients start through a \
         small launcher process, so theirs is their own (a child cannot read \
         lower than the launcher's, about 3.5 MB).\n",
        rusage::own_max_rss_kib() as f64 / 1024.0
    );
    for line in report::ratio_lines(&rows) {
        println!("{line}");
    }
    let failed = rows.iter().map(|r| r.failures().len()).sum::<usize>();
    if failed > 0 {
        return Err(format!("{failed} client run(s) failed (listed under the table)").into());
    }
    Ok(())
}

/// The nodes of the cluster `--kafka` runs on.
const KAFKA_NODES: usize = 3;

/// The bootstrap address and admin client of one scenario's broker.
struct Broker {
    bootstrap: String,
    admin: Client,
    /// Kept so the broker lives as long as the scenario.
    running: Running,
}

enum Running {
    Tansu(Tansu),
    Kafka(KafkaCluster),
}

impl Broker {
    /// Tansu for the client-bound scenarios; Apache Kafka for those of
    /// [`Scenario::on_kafka`]: one node, or [`KAFKA_NODES`] under `--kafka`
    /// (with `BENCH_TXN_V1` set, formatted at `transaction.version` 0).
    fn start(s: &Scenario) -> Result<Self, Error> {
        let (bootstrap, running) = if s.on_kafka() {
            let nodes = if s.kafka_rf.is_some() { KAFKA_NODES } else { 1 };
            let mut builder = KafkaCluster::builder()
                .brokers(nodes)
                // Both protocols' groups start as soon as members ask.
                .property("group.initial.rebalance.delay.ms", "0")
                // Kafka's own KIP-848 heartbeat interval and session
                // timeout (5 s, 45 s), which the test harness shortens.
                .property("group.consumer.heartbeat.interval.ms", "5000")
                .property("group.consumer.session.timeout.ms", "45000");
            // Our producers speak transaction protocol 2 (KIP-890) when the
            // cluster finalizes it, librdkafka only the first: this puts
            // both on the first.
            if std::env::var_os("BENCH_TXN_V1").is_some() {
                builder = builder.feature("transaction.version", 0);
            }
            let kafka = builder.start().ok_or(
                "no Apache Kafka: run scripts/install-kafka.sh (needs Java 17+) before \
                     benchmarking rebalances or transactions",
            )?;
            (kafka.bootstrap(), Running::Kafka(kafka))
        } else {
            let tansu = Tansu::start().ok_or(
                "no tansu binary: run scripts/install-tansu.sh (or set TANSU_BIN) before benchmarking",
            )?;
            (tansu.bootstrap(), Running::Tansu(tansu))
        };
        let admin = Client::bootstrap(&bootstrap)?;
        Ok(Self {
            bootstrap,
            admin,
            running,
        })
    }

    /// The broker processes, whose CPU time a client's run is charged
    /// against: whether a client or the broker set the pace.
    fn pids(&self) -> Vec<u32> {
        match &self.running {
            Running::Tansu(t) => t.pid().into_iter().collect(),
            Running::Kafka(k) => k.node_ids().into_iter().filter_map(|n| k.pid(n)).collect(),
        }
    }
}

fn run_scenario(s: &Scenario, rounds: usize) -> Result<Row, Error> {
    let broker = Broker::start(s)?;
    // Consumers all read one topic, filled once; producers each get their own.
    let shared = match s.kind {
        Kind::Consume { partitions, .. }
        | Kind::Metadata { partitions }
        | Kind::Rebalance { partitions, .. } => {
            let topic = format!("{}-data", s.name);
            broker
                .admin
                .create_topic(NewTopic::new(&topic, partitions, s.replication_factor()))?;
            if matches!(s.kind, Kind::Consume { .. }) {
                // In a child too: the parent's peak RSS must stay small,
                // since a child starts out with it as its own peak.
                let t = Instant::now();
                measure(s, child::PRELOAD, &broker, &topic)?;
                eprintln!(
                    "   preloaded {} records in {:.1} s",
                    s.records,
                    t.elapsed().as_secs_f64()
                );
            }
            Some(topic)
        }
        _ => None,
    };
    if s.on_kafka() && !matches!(s.kind, Kind::Rebalance { .. }) {
        // A fresh Kafka cluster runs its first requests interpreted, not
        // yet compiled by its JIT: whichever client went first paid for
        // that (produce-1p at a third of its warm rate in one run under
        // `--kafka`; kafka-tokio's first transactional round at a quarter
        // of its second on the one-node cluster). One untimed run of the
        // scenario warms the brokers up for all.
        let topic = shared
            .clone()
            .unwrap_or_else(|| format!("{}-warm-up", s.name));
        if shared.is_none() {
            broker.admin.create_topic(NewTopic::new(
                &topic,
                s.partitions(),
                s.replication_factor(),
            ))?;
        }
        let t = Instant::now();
        measure(s, CLIENTS[1], &broker, &topic)?;
        eprintln!("   warmed up in {:.1} s", t.elapsed().as_secs_f64());
        if shared.is_none() {
            let _ = broker.admin.delete_topic(&topic);
        }
    }
    let mut row = Row::new(s);
    let peers: Vec<&'static str> = [FRANZ, JAVA]
        .into_iter()
        .filter(|p| peer_command(p).is_some() && s.peer_supports(p))
        .collect();
    for round in 0..rounds {
        for &client in CLIENTS.iter().chain(s.extra_clients()).chain(&peers) {
            let topic = match &shared {
                Some(t) => t.clone(),
                None => {
                    let t = format!("{}-{client}-{round}", s.name);
                    let partitions = s.partitions();
                    broker.admin.create_topic(NewTopic::new(
                        &t,
                        partitions,
                        s.replication_factor(),
                    ))?;
                    t
                }
            };
            // One client failing costs its cell, not the run: it is
            // listed under the table and the run ends failed.
            let measured = measure(s, client, &broker, &topic).and_then(|sample| {
                eprintln!("   {client:<15} {}", sample.summary(s));
                if matches!(s.kind, Kind::Produce { .. }) {
                    // In a child, like the preload, for the parent's RSS.
                    measure(s, child::VERIFY, &broker, &topic)
                        .map_err(|e| format!("read-back: {e}"))?;
                }
                Ok(sample)
            });
            match measured {
                Ok(sample) => row.add(client, sample),
                Err(e) => {
                    eprintln!("   {client:<15} FAILED: {e}");
                    row.fail(client, round, e.to_string());
                }
            }
            if shared.is_none() {
                // Tansu keeps every record in memory: drop what we wrote.
                let _ = broker.admin.delete_topic(&topic);
            }
        }
    }
    Ok(row)
}

/// Runs one client's measurement in a child process and returns what it
/// reported plus its CPU time and peak RSS.
fn measure(s: &Scenario, client: &str, broker: &Broker, topic: &str) -> Result<Sample, Error> {
    let bootstrap = broker.bootstrap.as_str();
    let exe = std::env::current_exe()?;
    // Profiling aid: KAFKA_BENCH_PERF=DIR records each child with perf
    // into DIR/<scenario>-<client>.data (its CPU and RSS then include perf's).
    let mut cmd = match std::env::var_os("KAFKA_BENCH_PERF") {
        _ if client == FRANZ || client == JAVA => {
            let mut c = peer_command(client).ok_or("peer not configured")?;
            let spec = s.peer_spec().into_iter().chain([
                ("bootstrap", bootstrap.to_string()),
                ("topic", topic.to_string()),
            ]);
            for (k, v) in spec {
                // Go's flag package wants `-k=v`, JavaBench plain `k=v`.
                c.arg(if client == FRANZ {
                    format!("-{k}={v}")
                } else {
                    format!("{k}={v}")
                });
            }
            c
        }
        Some(dir) => {
            let out = std::path::Path::new(&dir).join(format!("{}-{client}.data", s.name));
            let mut c = Command::new("perf");
            c.args(["record", "-q", "-F", "2000", "-g", "-o"])
                .arg(out)
                .arg("--")
                .arg(exe);
            c
        }
        None => Command::new(exe),
    };
    if client != FRANZ && client != JAVA {
        cmd.args([
            "__child",
            s.name,
            client,
            bootstrap,
            topic,
            &s.records.to_string(),
        ]);
    }
    // Through a launcher, so the child's peak RSS is its own (see
    // `rusage`).
    let mut launcher = Command::new(std::env::current_exe()?);
    launcher
        .arg("__launch")
        .arg(
            (child::TIME_LIMIT + Duration::from_secs(15))
                .as_secs()
                .to_string(),
        )
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let pids = broker.pids();
    let broker_before = rusage::cpu_of(&pids);
    let started = Instant::now();
    let launched = launcher.spawn()?;
    let limit = child::TIME_LIMIT + Duration::from_secs(30);
    let (status, _, out) = rusage::wait_with_usage(launched, limit)?;
    let wall = started.elapsed();
    let broker_cpu = broker_before
        .zip(rusage::cpu_of(&pids))
        .map(|(before, after)| after.saturating_sub(before));
    if !status.success() {
        return Err(format!("{} / {client}: launcher failed ({status})", s.name).into());
    }
    let (stdout, code, usage) = rusage::launched(&out)
        .ok_or_else(|| format!("{} / {client}: unreadable launcher output {out:?}", s.name))?;
    if code != 0 {
        return Err(format!("{} / {client}: child failed (exit code {code})", s.name).into());
    }
    let mut sample = Sample::parse(stdout)
        .ok_or_else(|| format!("{} / {client}: unreadable child output {stdout:?}", s.name))?;
    // The Java peer reports the CPU time of its timed part (JVM start-up
    // and JIT warm-up left out); every other child is charged its whole.
    sample.cpu = sample.own_cpu.unwrap_or(usage.cpu);
    sample.max_rss_kib = usage.max_rss_kib;
    // Over the client's whole run (start-up included), in % of one core.
    sample.broker_cpu_pct = broker_cpu
        .filter(|_| !wall.is_zero())
        .map(|cpu| cpu.as_secs_f64() / wall.as_secs_f64() * 100.0);
    Ok(sample)
}

/// The command that runs a peer of another language, if it is set up:
/// `KAFKA_BENCH_FRANZ` = the franz-go program's binary,
/// `KAFKA_BENCH_JAVA_CP` = the class path of `JavaBench` and kafka-clients
/// (run with `$JAVA_HOME/bin/java`, or `java` on the PATH). scripts/bench.sh
/// builds both and sets these.
fn peer_command(peer: &str) -> Option<Command> {
    let nonempty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    match peer {
        FRANZ => nonempty("KAFKA_BENCH_FRANZ").map(Command::new),
        JAVA => {
            let cp = nonempty("KAFKA_BENCH_JAVA_CP")?;
            let java = match nonempty("JAVA_HOME") {
                Some(home) => std::path::Path::new(&home).join("bin/java"),
                None => "java".into(),
            };
            let mut c = Command::new(java);
            c.arg("-cp").arg(cp).arg("JavaBench");
            Some(c)
        }
        _ => None,
    }
}
