//! Copies a topic to another exactly once, surviving being killed: a
//! consumer group member reads `--from` (read_committed), and every batch
//! is written to `--to` in a transaction that also commits the member's
//! offsets. An instance started with the same transactional id fences the
//! one before it and aborts the transaction that one left open, so the
//! copy goes on from the last committed batch.
//!
//! ```text
//! copy_exactly_once --bootstrap B --from TOPIC --to TOPIC --group G
//!                   --transactional-id ID [--batch N]
//! ```
//!
//! (`cargo run -p kafka-blocking --example copy_exactly_once_blocking -- ARGS`).
//!
//! A record keeps its key, value and headers, and its partition when the
//! target has as many partitions as the source (else the key chooses).
//! One JSON line on stdout per committed transaction:
//!
//! ```text
//! {"event":"committed","records":N,"offsets":{"0":N,..}}
//! ```
//!
//! and `{"event":"aborted"}` once a failed transaction is aborted (the
//! error goes to stderr); its records are read again from the group's
//! committed offsets, as are those read before a rebalance.
//!
//! It runs until its stdin closes; a fatal error ends it with status 1.

use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kafka_blocking::{
    AutoOffsetReset, Client, Committed, Config, Consumer, ConsumerRecord, Error, GroupConfig,
    IsolationLevel, OffsetAndMetadata, Producer, ProducerRecord, SeekTo, TopicPartition,
};

/// How long a transactional call may block.
const TIMEOUT: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(why) => {
            eprintln!("copy_exactly_once: {why}\n{USAGE}");
            return ExitCode::from(64);
        }
    };
    match run(&args, &stop_when_stdin_closes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("copy_exactly_once: {e}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: copy_exactly_once --bootstrap B --from TOPIC --to TOPIC --group G \
                     --transactional-id ID [--batch N]";

/// The command line.
pub struct Args {
    bootstrap: String,
    from: String,
    to: String,
    group: String,
    transactional_id: String,
    batch: usize,
}

impl Args {
    /// Reads `--name value` pairs.
    pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut named = BTreeMap::new();
        while let Some(name) = args.next() {
            let value = args.next().ok_or(format!("{name} needs a value"))?;
            named.insert(name, value);
        }
        let mut take = |name: &str| named.remove(name).ok_or(format!("{name} is required"));
        let args = Self {
            bootstrap: take("--bootstrap")?,
            from: take("--from")?,
            to: take("--to")?,
            group: take("--group")?,
            transactional_id: take("--transactional-id")?,
            batch: match named.remove("--batch") {
                Some(n) => n.parse().ok().filter(|&n| n > 0).ok_or("bad --batch")?,
                None => 100,
            },
        };
        match named.into_keys().next() {
            Some(unknown) => Err(format!("unknown argument {unknown}")),
            None => Ok(args),
        }
    }
}

/// A flag raised once stdin reaches its end.
pub fn stop_when_stdin_closes() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        flag.store(true, Ordering::SeqCst);
    });
    stop
}

/// Copies until `stop` is raised; returns only a fatal error.
pub fn run(args: &Args, stop: &AtomicBool) -> Result<(), Error> {
    let mut config = Config::bootstrap(&args.bootstrap)?;
    let mut group = GroupConfig::new(&args.group);
    // Offsets commit with the transactions, never on their own.
    group.enable_auto_commit = false;
    // A killed instance holds its partitions until its session ends: keep
    // that short so that a restart gets them soon.
    group.session_timeout = Duration::from_secs(6);
    group.heartbeat_interval = Duration::from_secs(1);
    config.group = Some(group);
    config.consumer.auto_offset_reset = AutoOffsetReset::Earliest;
    // Records of aborted transactions (of whoever wrote `from`) are skipped.
    config.consumer.isolation_level = IsolationLevel::ReadCommitted;
    // A fetch waiting at a broker holds up the transaction's requests
    // queued behind it on that connection: keep the wait short.
    config.consumer.fetch_max_wait = Duration::from_millis(50);
    config.producer.transactional_id = Some(args.transactional_id.clone());
    let client = Client::connect(config)?;

    // Fences an earlier instance with this id and aborts what it left open.
    let producer = client.producer();
    producer.init_transactions(TIMEOUT)?;

    let md = client.metadata([&args.from, &args.to])?;
    let count = |t: &str| md.topic(t).map(|t| t.partitions.len());
    let keep_partition = count(&args.from) == count(&args.to);
    let to: Arc<str> = args.to.as_str().into();

    let mut consumer = client.consumer()?;
    // After a rebalance, records read before it may be of partitions gone
    // or started again from the group's offsets: drop them and go back.
    let rebalanced = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&rebalanced);
    consumer.on_rebalance(move |_| flag.store(true, Ordering::SeqCst));
    consumer.subscribe([args.from.as_str()])?;
    let mut pending = VecDeque::new();
    while !stop.load(Ordering::SeqCst) {
        let records = consumer.poll(Duration::from_millis(100))?;
        if rebalanced.swap(false, Ordering::SeqCst) {
            pending.clear();
            rewind(&client, &mut consumer, &args.group)?;
            continue;
        }
        pending.extend(records);
        while !pending.is_empty() {
            let n = args.batch.min(pending.len());
            let batch: Vec<ConsumerRecord> = pending.drain(..n).collect();
            match copy(&producer, &consumer, &batch, &to, keep_partition) {
                Ok(offsets) if offsets.is_empty() => {}
                Ok(offsets) => report(&batch, &offsets),
                Err(Error::Transaction(e)) if e.is_abortable() => {
                    eprintln!("copy_exactly_once: aborting a transaction: {e}");
                    producer.abort_transaction(TIMEOUT)?;
                    // Read again what the aborted transaction held.
                    pending.clear();
                    rewind(&client, &mut consumer, &args.group)?;
                    emit(r#"{"event":"aborted"}"#);
                }
                Err(e) => return Err(e),
            }
        }
    }
    drop(consumer);
    client.close();
    Ok(())
}

/// Writes `batch` and the offsets after it in one transaction, leaving
/// out records of partitions no longer owned (the rebalance that took
/// them sends the loop back); returns the offsets.
fn copy(
    producer: &Producer,
    consumer: &Consumer,
    batch: &[ConsumerRecord],
    to: &Arc<str>,
    keep_partition: bool,
) -> Result<Committed, Error> {
    // The generation first: if it changes before the offsets arrive, the
    // coordinator refuses them.
    let group = consumer
        .group_metadata()?
        .ok_or(Error::Unexpected("a consumer without a group"))?;
    let owned = consumer.assignment()?;
    let mut offsets = Committed::new();
    for r in batch {
        let tp = TopicPartition::new(&*r.topic, r.partition);
        if !owned.contains(&tp) {
            continue;
        }
        if offsets.is_empty() {
            producer.begin_transaction()?;
        }
        // The commit waits for every record: no need to keep the delivery.
        drop(producer.send(copy_of(r, to, keep_partition))?);
        offsets.insert(tp, OffsetAndMetadata::new(r.offset + 1, None));
    }
    if !offsets.is_empty() {
        producer.send_offsets_to_transaction(offsets.clone(), &group, TIMEOUT)?;
        producer.commit_transaction(TIMEOUT)?;
    }
    Ok(offsets)
}

/// Moves every assigned partition back to the group's committed offset
/// (or the log's start when the group has none).
fn rewind(client: &Client, consumer: &mut Consumer, group: &str) -> Result<(), Error> {
    let committed = client.group_offsets(group)?;
    for tp in consumer.assignment()? {
        let to = match committed.offsets.get(&tp) {
            Some(Ok(c)) if c.offset >= 0 => SeekTo::Offset(c.offset),
            Some(Err(code)) => {
                let message = Some(format!("the committed offset of {tp}"));
                return Err(Error::Kafka {
                    code: *code,
                    message,
                });
            }
            _ => SeekTo::Earliest,
        };
        consumer.seek(tp, to)?;
    }
    Ok(())
}

/// The record to write for `r`: same key, value and headers.
fn copy_of(r: &ConsumerRecord, to: &Arc<str>, keep_partition: bool) -> ProducerRecord {
    let mut out = ProducerRecord::new(Arc::clone(to));
    out.key = r.key.clone();
    out.value = r.value.clone();
    out.headers = r.headers.iter().map(|(k, v)| (k.to_string(), v)).collect();
    out.partition = keep_partition.then_some(r.partition);
    out
}

fn report(batch: &[ConsumerRecord], offsets: &Committed) {
    // Only records of partitions in `offsets` were copied.
    let records = batch
        .iter()
        .filter(|r| offsets.keys().any(|tp| tp.partition == r.partition))
        .count();
    let offsets: Vec<String> = offsets
        .iter()
        .map(|(tp, o)| format!("\"{}\":{}", tp.partition, o.offset))
        .collect();
    emit(&format!(
        "{{\"event\":\"committed\",\"records\":{records},\"offsets\":{{{}}}}}",
        offsets.join(",")
    ));
}

/// One line on stdout, flushed at once: a reader follows it live.
fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
