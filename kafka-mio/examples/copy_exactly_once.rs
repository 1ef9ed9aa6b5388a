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
//! (`cargo run -p kafka-mio --example copy_exactly_once_mio -- ARGS`).
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
//! This is the mio version: one hand-written loop whose state says which
//! outcome it waits for, the transaction's or the rewind's.

use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_mio::{
    AdminOutcome, AutoOffsetReset, Client, Config, ConsumerEvent, ConsumerRecord, Error, Event,
    GroupConfig, GroupEvent, OffsetAndMetadata, ProducerRecord, RequestId, SeekTo, Tokens,
    TopicPartition, TxnEvent,
};
use kafka_state::consumer::IsolationLevel;
use mio::{Events, Poll};

/// The offsets a transaction commits.
type Committed = BTreeMap<TopicPartition, OffsetAndMetadata>;

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

/// What the loop waits for.
enum Step {
    /// The producer id (fencing earlier instances) and the topics'
    /// partition counts.
    Starting {
        initialized: bool,
        /// `None` once answered.
        metadata: Option<RequestId>,
    },
    /// Records to copy.
    Reading,
    /// The open transaction's commit.
    Committing { records: usize, offsets: Committed },
    /// The abort of a failed transaction.
    Aborting,
    /// The group's committed offsets, to seek back to.
    Rewinding(RequestId),
}

/// Copies until `stop` is raised; returns only a fatal error.
pub fn run(args: &Args, stop: &AtomicBool) -> Result<(), Box<dyn std::error::Error>> {
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

    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(128);
    let mut client = Client::connect(config, poll.registry(), Tokens::range(0..1024))?;
    // Fences an earlier instance with this id and aborts what it left open.
    client.init_transactions()?;
    let mut step = Step::Starting {
        initialized: false,
        metadata: Some(client.metadata([&args.from, &args.to])?),
    };
    let to: Arc<str> = args.to.as_str().into();
    let mut keep_partition = false;
    let mut pending = VecDeque::new();
    // After a rebalance, records read before it may be of partitions gone
    // or started again from the group's offsets: drop them and go back.
    let mut rewind_due = false;

    loop {
        if matches!(step, Step::Reading) && stop.load(Ordering::SeqCst) {
            client.close();
            return Ok(());
        }
        // Wake at least every 100 ms to look at `stop`.
        let timeout = client
            .next_timeout()
            .map_or(Duration::from_millis(100), |t| {
                t.min(Duration::from_millis(100))
            });
        poll.poll(&mut events, Some(timeout))?;
        for event in events.iter() {
            client.handle_event(event);
        }
        client.handle_timeout();

        // Taking records keeps the member in its group; those that come
        // while a failed transaction is undone are read again after it.
        while let Some(fetched) = client.poll_records() {
            for record in fetched {
                let record = record?;
                if matches!(step, Step::Reading | Step::Committing { .. }) {
                    pending.push_back(record);
                }
            }
        }

        while let Some(event) = client.poll_event() {
            step = match (step, event) {
                (
                    Step::Starting { metadata, .. },
                    Event::Transaction(TxnEvent::Initialized { .. }),
                ) => Step::Starting {
                    initialized: true,
                    metadata,
                },
                (
                    Step::Starting {
                        metadata,
                        initialized,
                    },
                    Event::AdminResult { id, result },
                ) if metadata == Some(id) => {
                    let AdminOutcome::Metadata(md) = result? else {
                        return Err("an answer that is not metadata".into());
                    };
                    let count = |t: &str| md.topic(t).map(|t| t.partitions.len());
                    keep_partition = count(&args.from) == count(&args.to);
                    Step::Starting {
                        initialized,
                        metadata: None,
                    }
                }
                (
                    Step::Committing { records, offsets },
                    Event::Transaction(TxnEvent::Committed),
                ) => {
                    report(records, &offsets);
                    Step::Reading
                }
                (Step::Aborting, Event::Transaction(TxnEvent::Aborted)) => {
                    emit(r#"{"event":"aborted"}"#);
                    let now = Instant::now();
                    let id = client.core_mut().admin().group_offsets(now, &args.group)?;
                    Step::Rewinding(id)
                }
                (Step::Rewinding(id), Event::AdminResult { id: done, result }) if id == done => {
                    let AdminOutcome::GroupOffsets(committed) = result? else {
                        return Err("an answer that is not group offsets".into());
                    };
                    let assigned = client.core_mut().consumer().assignment();
                    for tp in assigned {
                        let to = match committed.offsets.get(&tp) {
                            Some(Ok(c)) if c.offset >= 0 => SeekTo::Offset(c.offset),
                            Some(Err(code)) => {
                                let message = Some(format!("the committed offset of {tp}"));
                                return Err(Error::Kafka {
                                    code: *code,
                                    message,
                                }
                                .into());
                            }
                            _ => SeekTo::Earliest,
                        };
                        client.seek(&tp, to)?;
                    }
                    Step::Reading
                }
                (step, Event::Transaction(TxnEvent::Failed { error, .. })) => {
                    if !error.is_abortable() {
                        return Err(Error::Transaction(error).into());
                    }
                    if !matches!(step, Step::Aborting) {
                        // Every waiting command hears of it; abort once.
                        eprintln!("copy_exactly_once: aborting a transaction: {error}");
                        client.abort_transaction()?;
                        pending.clear();
                    }
                    Step::Aborting
                }
                (
                    step,
                    Event::Consumer(
                        ConsumerEvent::PartitionsAssigned { .. }
                        | ConsumerEvent::PartitionsRevoked { .. }
                        | ConsumerEvent::PartitionsLost { .. },
                    ),
                ) => {
                    rewind_due = true;
                    step
                }
                (_, Event::Group(GroupEvent::Failed(e))) => return Err(e.into()),
                (_, Event::Fatal(e)) => return Err(e.into()),
                (step, _) => step, // deliveries, connections, group news
            };
        }

        if let Step::Starting {
            initialized: true,
            metadata: None,
        } = step
        {
            client.subscribe([args.from.as_str()])?;
            step = Step::Reading;
        }
        if matches!(step, Step::Reading) && rewind_due {
            rewind_due = false;
            pending.clear();
            let now = Instant::now();
            step = Step::Rewinding(client.core_mut().admin().group_offsets(now, &args.group)?);
        }
        if matches!(step, Step::Reading) && !pending.is_empty() {
            let n = args.batch.min(pending.len());
            let batch: Vec<ConsumerRecord> = pending.drain(..n).collect();
            step = match begin(&mut client, &batch, &to, keep_partition) {
                Ok((0, _)) => Step::Reading,
                Ok((records, offsets)) => Step::Committing { records, offsets },
                Err(Error::Transaction(e)) if e.is_abortable() => {
                    eprintln!("copy_exactly_once: aborting a transaction: {e}");
                    client.abort_transaction()?;
                    pending.clear();
                    Step::Aborting
                }
                Err(e) => return Err(e.into()),
            };
        }
    }
}

/// Opens a transaction with `batch` and the offsets after it, and asks
/// for its commit (the outcome comes as an event), leaving out records of
/// partitions no longer owned (the rebalance that took them sends the
/// loop back); returns how many records it sent, and the offsets.
fn begin(
    client: &mut Client,
    batch: &[ConsumerRecord],
    to: &Arc<str>,
    keep_partition: bool,
) -> Result<(usize, Committed), Error> {
    let mut core = client.core_mut();
    let group = core
        .consumer()
        .group_metadata()
        .ok_or(Error::Unexpected("a consumer without a group"))?;
    let owned = core.consumer().assignment();
    drop(core);
    let mut offsets = Committed::new();
    let mut records = 0;
    for r in batch {
        let tp = TopicPartition::new(&*r.topic, r.partition);
        if !owned.contains(&tp) {
            continue;
        }
        if records == 0 {
            client.begin_transaction()?;
        }
        client.send(copy_of(r, to, keep_partition))?;
        offsets.insert(tp, OffsetAndMetadata::new(r.offset + 1, None));
        records += 1;
    }
    if records > 0 {
        client.send_offsets_to_transaction(offsets.clone(), &group)?;
        // The commit waits for the records and the offsets.
        client.commit_transaction()?;
    }
    Ok((records, offsets))
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

fn report(records: usize, offsets: &Committed) {
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
