//! The measured side: one client, one scenario, in its own process.
//!
//! Invoked as `kafka-bench __child SCENARIO CLIENT BOOTSTRAP TOPIC RECORDS`;
//! prints one `result ...` line on stdout (see [`Measured::line`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_proto::frame::encode_request_frame;
use kafka_proto::messages::{ProduceRequest, RequestHeader};
use kafka_proto::{ApiKey, RequestBody};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message as _;
use rdkafka::producer::{
    BaseRecord, DeliveryResult, Producer as _, ProducerContext, ThreadedProducer,
};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::scenario::{self, Kind, Scenario};
use crate::Error;

/// Most records a producer loop leaves unacknowledged before it waits for
/// the oldest: keeps the pipeline full without holding a million futures.
pub const WINDOW: usize = 100_000;

/// Records per `send_many` call of the `-many` clients.
const MANY_RUN: u64 = 1_000;

/// Fails with the first failed report of a `send_many` run (the
/// adapters share the reports' type).
fn all_delivered(reports: kafka_blocking::BatchReports) -> Result<(), Error> {
    match reports.first_error() {
        Some((_, e)) => Err(e.clone().into()),
        None => Ok(()),
    }
}

/// The pseudo-client that fills a consume scenario's topic.
pub const PRELOAD: &str = "preload";

/// The pseudo-client that reads a produce run's topic back and fails
/// unless every record is there: acks=0 runs report no offsets, and a
/// client losing records must not show up as a fast one.
pub const VERIFY: &str = "verify";

/// Longest one child may run; the parent kills it 30 s later.
pub const TIME_LIMIT: Duration = Duration::from_secs(240);

/// What one run measured (the parent adds CPU and RSS).
#[derive(Debug, Default)]
pub struct Measured {
    pub records: u64,
    pub bytes: u64,
    pub secs: f64,
    pub latencies_us: Vec<f64>,
    /// Consume scenarios: from the start (assign or subscribe) to the
    /// first record, which `secs` leaves out.
    pub first_us: f64,
}

impl Measured {
    fn line(&mut self) -> String {
        self.latencies_us.sort_by(f64::total_cmp);
        let pct = |p: f64| -> f64 {
            if self.latencies_us.is_empty() {
                return -1.0;
            }
            let i = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
            self.latencies_us[i]
        };
        format!(
            "result records={} bytes={} secs={:.6} p50_us={:.2} p99_us={:.2} first_us={:.0}",
            self.records,
            self.bytes,
            self.secs,
            pct(0.50),
            pct(0.99),
            self.first_us
        )
    }
}

pub fn main(args: &[String]) -> Result<(), Error> {
    let [name, client, bootstrap, topic, records] = args else {
        return Err("usage: __child SCENARIO CLIENT BOOTSTRAP TOPIC RECORDS".into());
    };
    #[cfg(feature = "heap-peak")]
    crate::heap::init();
    let records: u64 = records.parse()?;
    let s = Scenario::find(name, false).ok_or_else(|| format!("unknown scenario {name}"))?;
    let s = Scenario { records, ..s };
    let job = Job {
        s: &s,
        bootstrap,
        topic,
        shared_topic: topic.as_str().into(),
        deadline: Instant::now() + TIME_LIMIT,
        lend: client.ends_with("-lend"),
        many: client.ends_with("-many"),
    };
    let mut m = match client.as_str() {
        _ if matches!(s.kind, Kind::Rebalance { .. }) => crate::rebalance::run(&job, client)?,
        "kafka-tokio" | scenario::TOKIO_LEND | scenario::TOKIO_MANY => {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(ours_tokio::run(&job))?
        }
        "kafka-tokio-ct" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(ours_tokio::run(&job))?,
        "kafka-blocking" | scenario::BLOCKING_LEND | scenario::BLOCKING_MANY => {
            ours_blocking::run(&job)?
        }
        "rdkafka" => librdkafka::run(&job)?,
        scenario::RAW => raw_round_trips(&job)?,
        PRELOAD => ours_blocking::preload(&job)?,
        VERIFY => ours_blocking::verify(&job)?,
        other => return Err(format!("unknown client {other}").into()),
    };
    println!("{}", m.line());
    #[cfg(feature = "heap-peak")]
    crate::heap::report();
    Ok(())
}

pub struct Job<'a> {
    pub s: &'a Scenario,
    pub bootstrap: &'a str,
    pub topic: &'a str,
    /// The same name shared, as our producers take it in a hot loop (one
    /// `Arc` clone per record; rdkafka borrows the `&str`).
    shared_topic: std::sync::Arc<str>,
    deadline: Instant,
    /// Consume through the lending API (records borrowed in place) rather
    /// than owned records.
    lend: bool,
    /// Produce through `send_many`, [`MANY_RUN`] records per call, rather
    /// than one `send` per record.
    many: bool,
}

impl Job<'_> {
    fn check_time(&self, done: u64) -> Result<(), Error> {
        if Instant::now() > self.deadline {
            return Err(format!(
                "{}: out of time after {done} of {}",
                self.s.name, self.s.records
            )
            .into());
        }
        Ok(())
    }

    /// Runs `one` for every request of a round-trip or metadata scenario
    /// (after a short warm-up), timing each.
    fn timed_loop(&self, mut one: impl FnMut() -> Result<(), Error>) -> Result<Measured, Error> {
        for _ in 0..(self.s.records / 20).max(10) {
            one()?;
        }
        let mut m = Measured::default();
        let start = Instant::now();
        for i in 0..self.s.records {
            let t = Instant::now();
            one()?;
            m.latencies_us.push(t.elapsed().as_secs_f64() * 1e6);
            if i % 256 == 0 {
                self.check_time(i)?;
            }
        }
        m.secs = start.elapsed().as_secs_f64();
        m.records = self.s.records;
        m.bytes = self.s.records * self.s.value_size as u64;
        Ok(m)
    }
}

/// Our settings for a scenario, shared by both of our adapters.
fn our_config(job: &Job<'_>, config: &mut kafka_blocking::Config) {
    use kafka_blocking::{Acks, Compression};
    let s = job.s;
    let p = &mut config.producer;
    // Like librdkafka's default: no idempotence, so acks=1 and 0 are allowed.
    p.enable_idempotence = false;
    // librdkafka's default batch size (`batch.size`), also ours: set here
    // so both clients keep cutting the same batches if a default moves.
    p.batch_size = 1_000_000;
    match s.kind {
        Kind::Produce {
            acks,
            compression,
            transaction,
            ..
        } => {
            p.acks = acks;
            p.compression = compression;
            if transaction.is_some() {
                // Transactions need idempotence (the scenario asks acks=all).
                p.enable_idempotence = true;
                p.transactional_id = Some(transactional_id(job));
            }
        }
        Kind::RoundTrip => {
            p.acks = Acks::Leader;
            p.linger = Duration::ZERO;
            p.compression = Compression::None;
        }
        _ => {}
    }
}

/// Records read before a consume run's rate starts counting: the first
/// tenth, which takes in joining a group (or an assignment's offset
/// lookups) and the first fetches, so the rate is the steady one and a
/// group member compares with manual assignment on what it reads.
fn warm_up(records: u64) -> u64 {
    records / 10
}

/// Notes when the first record came, and when the steady window opens.
/// The clock is read for those two records only: a read per record
/// costs about 0.02 s per 1M records, which would be charged to the
/// client (every harness, Go and Java too, reads it the same way).
fn mark(first: &mut Option<Instant>, steady: &mut Option<Instant>, got: u64, records: u64) {
    if first.is_none() {
        *first = Some(Instant::now());
    }
    if got == warm_up(records) {
        *steady = Some(Instant::now());
    }
}

/// A consume run's figures: the rate over the records after the warm-up,
/// and the time to the first record apart, as `first_us`.
fn consumed(
    job: &Job<'_>,
    start: Instant,
    first: Option<Instant>,
    steady: Option<Instant>,
    records: u64,
    bytes: u64,
) -> Measured {
    let first = first.unwrap_or(start);
    let steady = steady.unwrap_or(first);
    let counted = records - warm_up(job.s.records).min(records);
    Measured {
        records: counted,
        bytes: bytes * counted / records.max(1),
        secs: steady.elapsed().as_secs_f64().max(1e-6),
        first_us: first.duration_since(start).as_secs_f64() * 1e6,
        ..Measured::default()
    }
}

/// The group of a consume-by-group run: fresh for every run, so nothing
/// is committed yet and the member starts at the earliest offsets.
fn bench_group(job: &Job<'_>) -> kafka_blocking::GroupConfig {
    kafka_blocking::GroupConfig::new(format!(
        "bench-{}-{}-{}",
        job.s.name,
        job.topic,
        std::process::id()
    ))
}

/// A transactional producer's id: one per run, so no run fences another
/// or inherits a transaction left open.
fn transactional_id(job: &Job<'_>) -> String {
    format!("bench-{}-{}", job.topic, std::process::id())
}

/// A measured produce run of the whole scenario's records.
fn produced(job: &Job<'_>, start: Instant) -> Measured {
    Measured {
        records: job.s.records,
        bytes: job.s.records * job.s.value_size as u64,
        secs: start.elapsed().as_secs_f64(),
        ..Measured::default()
    }
}

fn fail(what: &str, e: impl std::fmt::Display) -> Error {
    format!("{what}: {e}").into()
}

mod ours_tokio {
    use super::*;
    use kafka_tokio::{BrokerAddr, Client, Config, ProducerRecord, SeekTo, TopicPartition};

    pub async fn run(job: &Job<'_>) -> Result<Measured, Error> {
        let mut config = Config::new(BrokerAddr::parse_list(job.bootstrap)?);
        our_config(job, &mut config);
        if let Kind::Consume { group: true, .. } = job.s.kind {
            config.group = Some(bench_group(job));
            config.consumer.auto_offset_reset = kafka_tokio::AutoOffsetReset::Earliest;
        }
        let client = Client::connect(config).await?;
        let m = match job.s.kind {
            Kind::Produce {
                transaction: Some(per_txn),
                ..
            } => produce_txn(job, &client, per_txn).await?,
            Kind::Produce { .. } => produce(job, &client).await?,
            Kind::Consume { partitions, group } => consume(job, &client, partitions, group).await?,
            Kind::Rebalance { .. } => return Err("rebalance runs its own clients".into()),
            Kind::RoundTrip => {
                let producer = client.producer();
                let value = scenario::values(job.s.value_size)[0].clone();
                let mut lat = Vec::new();
                let one = async || -> Result<Duration, Error> {
                    let t = Instant::now();
                    let r = ProducerRecord::new(&job.shared_topic).with_value(value.clone());
                    producer.send(r).await?.await?;
                    Ok(t.elapsed())
                };
                for _ in 0..(job.s.records / 20).max(10) {
                    one().await?;
                }
                let start = Instant::now();
                for i in 0..job.s.records {
                    lat.push(one().await?.as_secs_f64() * 1e6);
                    if i % 256 == 0 {
                        job.check_time(i)?;
                    }
                }
                timed(job, start, lat)
            }
            Kind::Metadata { .. } => {
                let mut lat = Vec::new();
                for _ in 0..(job.s.records / 20).max(10) {
                    client.metadata([job.topic]).await?;
                }
                let start = Instant::now();
                for i in 0..job.s.records {
                    let t = Instant::now();
                    client.metadata([job.topic]).await?;
                    lat.push(t.elapsed().as_secs_f64() * 1e6);
                    if i % 256 == 0 {
                        job.check_time(i)?;
                    }
                }
                timed(job, start, lat)
            }
        };
        client.close().await;
        Ok(m)
    }

    fn timed(job: &Job<'_>, start: Instant, lat: Vec<f64>) -> Measured {
        Measured {
            records: job.s.records,
            bytes: job.s.records * job.s.value_size as u64,
            secs: start.elapsed().as_secs_f64(),
            latencies_us: lat,
            ..Measured::default()
        }
    }

    /// As `produce`, in `send_many` runs of [`MANY_RUN`] records, at most
    /// [`WINDOW`] records unanswered.
    async fn produce_many(job: &Job<'_>, client: &Client) -> Result<Measured, Error> {
        let values = scenario::values(job.s.value_size);
        let keys = scenario::keys(job.s.keys);
        let producer = client.producer();
        let mut pending = VecDeque::new();
        let start = Instant::now();
        let mut i = 0;
        while i < job.s.records {
            let end = (i + MANY_RUN).min(job.s.records);
            let run = (i..end).map(|k| {
                let r = ProducerRecord::new(&job.shared_topic)
                    .with_value(values[k as usize % values.len()].clone());
                keyed(r, &keys, k)
            });
            pending.push_back(producer.send_many(run).await);
            if pending.len() as u64 * MANY_RUN >= WINDOW as u64 {
                all_delivered(pending.pop_front().expect("not empty").await)?;
            }
            job.check_time(i)?;
            i = end;
        }
        producer.flush().await?;
        for batch in pending {
            all_delivered(batch.await)?;
        }
        Ok(produced(job, start))
    }

    async fn produce(job: &Job<'_>, client: &Client) -> Result<Measured, Error> {
        if job.many {
            return produce_many(job, client).await;
        }
        let values = scenario::values(job.s.value_size);
        let keys = scenario::keys(job.s.keys);
        let producer = client.producer();
        let mut pending = VecDeque::new();
        let start = Instant::now();
        for i in 0..job.s.records {
            let v: Bytes = values[i as usize % values.len()].clone();
            let r = keyed(
                ProducerRecord::new(&job.shared_topic).with_value(v),
                &keys,
                i,
            );
            pending.push_back(producer.send(r).await?);
            if pending.len() >= WINDOW {
                pending.pop_front().expect("not empty").await?;
            }
            if i % 4096 == 0 {
                job.check_time(i)?;
            }
        }
        producer.flush().await?;
        for f in pending {
            f.await?;
        }
        Ok(Measured {
            records: job.s.records,
            bytes: job.s.records * job.s.value_size as u64,
            secs: start.elapsed().as_secs_f64(),
            ..Measured::default()
        })
    }

    /// Transactions of `per_txn` records: begin, send them, commit (which
    /// sends what lingers and waits for every ack). Getting the producer
    /// id (`init_transactions`) is set-up, left out of the time.
    async fn produce_txn(job: &Job<'_>, client: &Client, per_txn: u64) -> Result<Measured, Error> {
        let values = scenario::values(job.s.value_size);
        let producer = client.producer();
        producer.init_transactions().await?;
        let mut pending = Vec::with_capacity(per_txn as usize);
        let start = Instant::now();
        let mut sent = 0;
        while sent < job.s.records {
            producer.begin_transaction().await?;
            let end = (sent + per_txn).min(job.s.records);
            let record = |i: u64| {
                let v: Bytes = values[i as usize % values.len()].clone();
                ProducerRecord::new(&job.shared_topic).with_value(v)
            };
            if job.many {
                // The whole transaction in one call, one handle.
                let batch = producer.send_many((sent..end).map(record)).await;
                producer.commit_transaction().await?;
                all_delivered(batch.await)?;
            } else {
                for i in sent..end {
                    pending.push(producer.send(record(i)).await?);
                }
                producer.commit_transaction().await?;
                // Answered by now; each must be a success.
                for f in pending.drain(..) {
                    f.await?;
                }
            }
            sent = end;
            job.check_time(sent)?;
        }
        Ok(produced(job, start))
    }

    async fn consume(
        job: &Job<'_>,
        client: &Client,
        partitions: i32,
        group: bool,
    ) -> Result<Measured, Error> {
        let mut consumer = client.consumer()?;
        let start = Instant::now();
        if group {
            consumer.subscribe([job.topic]).await?;
        } else {
            let tps: Vec<_> = (0..partitions)
                .map(|p| TopicPartition::new(job.topic, p))
                .collect();
            consumer.assign(tps.clone()).await?;
            for tp in tps {
                consumer.seek(tp, SeekTo::Earliest).await?;
            }
        }
        let (mut got, mut bytes) = (0u64, 0u64);
        let (mut first, mut steady) = (None, None);
        while job.lend && got < job.s.records {
            let lend = consumer.lend(|r| {
                mark(&mut first, &mut steady, got, job.s.records);
                got += 1;
                bytes += r.value.map_or(0, |v| v.len() as u64);
                std::ops::ControlFlow::Continue(())
            });
            tokio::time::timeout_at(job.deadline.into(), lend)
                .await
                .map_err(|_| fail("consume", format!("out of time after {got} records")))??;
        }
        while got < job.s.records {
            let next = std::future::poll_fn(|cx| {
                futures_core::Stream::poll_next(std::pin::Pin::new(&mut consumer), cx)
            });
            let r = tokio::time::timeout_at(job.deadline.into(), next)
                .await
                .map_err(|_| fail("consume", format!("out of time after {got} records")))?
                .ok_or("the consumer stream ended")??;
            mark(&mut first, &mut steady, got, job.s.records);
            got += 1;
            bytes += r.value.as_ref().map_or(0, |v| v.len() as u64);
        }
        Ok(consumed(job, start, first, steady, got, bytes))
    }
}

mod ours_blocking {
    use super::*;
    use kafka_blocking::{Client, Config, ProducerRecord, SeekTo, TopicPartition};

    /// Fills the topic of a consume scenario, records spread evenly over
    /// its partitions.
    pub fn preload(job: &Job<'_>) -> Result<Measured, Error> {
        let Kind::Consume { partitions, .. } = job.s.kind else {
            return Err("preload is for consume scenarios".into());
        };
        let mut config = Config::default();
        config.producer.acks = kafka_blocking::Acks::Leader;
        config.producer.enable_idempotence = false;
        config.producer.batch_size = 256 * 1024;
        let client = Client::connect(at(job.bootstrap, config))?;
        let producer = client.producer();
        let values = scenario::values(job.s.value_size);
        let mut pending = VecDeque::new();
        let start = Instant::now();
        for i in 0..job.s.records {
            let v = values[i as usize % values.len()].clone();
            let r = ProducerRecord::new(&job.shared_topic)
                .with_partition((i % partitions as u64) as i32)
                .with_value(v);
            pending.push_back(producer.send(r)?);
            if pending.len() >= WINDOW {
                pending.pop_front().expect("not empty").wait()?;
            }
            if i % 4096 == 0 {
                job.check_time(i)?;
            }
        }
        producer.flush(job.deadline.saturating_duration_since(Instant::now()))?;
        for d in pending {
            d.wait()?;
        }
        client.close();
        Ok(Measured {
            records: job.s.records,
            secs: start.elapsed().as_secs_f64(),
            ..Measured::default()
        })
    }

    /// Reads the topic from the start until it has held all of the
    /// scenario's records; fails if it stops short.
    /// A transactional run is read with read_committed, so only
    /// committed records count.
    pub fn verify(job: &Job<'_>) -> Result<Measured, Error> {
        let mut config = Config::default();
        if job.s.transaction().is_some() {
            config.consumer.isolation_level = kafka_blocking::IsolationLevel::ReadCommitted;
        }
        let client = Client::connect(at(job.bootstrap, config))?;
        let mut consumer = client.consumer()?;
        let tps: Vec<_> = (0..job.s.partitions())
            .map(|p| TopicPartition::new(job.topic, p))
            .collect();
        consumer.assign(tps.clone())?;
        for tp in tps {
            consumer.seek(tp, SeekTo::Earliest)?;
        }
        let start = Instant::now();
        let mut got = 0u64;
        let mut last = Instant::now();
        while got < job.s.records {
            let batch = consumer.poll(Duration::from_millis(100))?;
            if batch.is_empty() && last.elapsed() > Duration::from_secs(5) {
                return Err(format!(
                    "only {got} of {} records reached {}",
                    job.s.records, job.topic
                )
                .into());
            }
            if !batch.is_empty() {
                last = Instant::now();
            }
            got += batch.len() as u64;
        }
        client.close();
        Ok(Measured {
            records: got,
            secs: start.elapsed().as_secs_f64(),
            ..Measured::default()
        })
    }

    /// As the tokio one: transactions of `per_txn` records, the commit
    /// waiting for every ack; `init_transactions` left out of the time.
    fn produce_txn(job: &Job<'_>, client: &Client, per_txn: u64) -> Result<Measured, Error> {
        let left = || job.deadline.saturating_duration_since(Instant::now());
        let values = scenario::values(job.s.value_size);
        let producer = client.producer();
        producer.init_transactions(left())?;
        let mut pending = Vec::with_capacity(per_txn as usize);
        let start = Instant::now();
        let mut sent = 0;
        while sent < job.s.records {
            producer.begin_transaction()?;
            let end = (sent + per_txn).min(job.s.records);
            let record = |i: u64| {
                let v = values[i as usize % values.len()].clone();
                ProducerRecord::new(&job.shared_topic).with_value(v)
            };
            if job.many {
                // The whole transaction in one call, one handle.
                let batch = producer.send_many((sent..end).map(record));
                producer.commit_transaction(left())?;
                all_delivered(batch.wait()?)?;
            } else {
                for i in sent..end {
                    pending.push(producer.send(record(i))?);
                }
                producer.commit_transaction(left())?;
                for d in pending.drain(..) {
                    d.wait()?;
                }
            }
            sent = end;
            job.check_time(sent)?;
        }
        Ok(produced(job, start))
    }

    pub fn run(job: &Job<'_>) -> Result<Measured, Error> {
        let mut config = Config::default();
        our_config(job, &mut config);
        if let Kind::Consume { group: true, .. } = job.s.kind {
            config.group = Some(bench_group(job));
            config.consumer.auto_offset_reset = kafka_blocking::AutoOffsetReset::Earliest;
        }
        let client = Client::connect(at(job.bootstrap, config))?;
        let m = match job.s.kind {
            Kind::Produce {
                transaction: Some(per_txn),
                ..
            } => produce_txn(job, &client, per_txn)?,
            Kind::Produce { .. } if job.many => {
                let values = scenario::values(job.s.value_size);
                let keys = scenario::keys(job.s.keys);
                let producer = client.producer();
                let mut pending = VecDeque::new();
                let start = Instant::now();
                let mut i = 0;
                while i < job.s.records {
                    let end = (i + MANY_RUN).min(job.s.records);
                    let run = (i..end).map(|k| {
                        let r = ProducerRecord::new(&job.shared_topic)
                            .with_value(values[k as usize % values.len()].clone());
                        keyed(r, &keys, k)
                    });
                    pending.push_back(producer.send_many(run));
                    if pending.len() as u64 * MANY_RUN >= WINDOW as u64 {
                        all_delivered(pending.pop_front().expect("not empty").wait()?)?;
                    }
                    job.check_time(i)?;
                    i = end;
                }
                producer.flush(job.deadline.saturating_duration_since(Instant::now()))?;
                for batch in pending {
                    all_delivered(batch.wait()?)?;
                }
                produced(job, start)
            }
            Kind::Produce { .. } => {
                let values = scenario::values(job.s.value_size);
                let keys = scenario::keys(job.s.keys);
                let producer = client.producer();
                let mut pending = VecDeque::new();
                let start = Instant::now();
                for i in 0..job.s.records {
                    let v = values[i as usize % values.len()].clone();
                    let r = ProducerRecord::new(&job.shared_topic).with_value(v);
                    pending.push_back(producer.send(keyed(r, &keys, i))?);
                    if pending.len() >= WINDOW {
                        pending.pop_front().expect("not empty").wait()?;
                    }
                    if i % 4096 == 0 {
                        job.check_time(i)?;
                    }
                }
                producer.flush(job.deadline.saturating_duration_since(Instant::now()))?;
                for d in pending {
                    d.wait()?;
                }
                Measured {
                    records: job.s.records,
                    bytes: job.s.records * job.s.value_size as u64,
                    secs: start.elapsed().as_secs_f64(),
                    ..Measured::default()
                }
            }
            Kind::Consume { partitions, group } => {
                let mut consumer = client.consumer()?;
                let start = Instant::now();
                if group {
                    consumer.subscribe([job.topic])?;
                } else {
                    let tps: Vec<_> = (0..partitions)
                        .map(|p| TopicPartition::new(job.topic, p))
                        .collect();
                    consumer.assign(tps.clone())?;
                    for tp in tps {
                        consumer.seek(tp, SeekTo::Earliest)?;
                    }
                }
                let (mut got, mut bytes) = (0u64, 0u64);
                let (mut first, mut steady) = (None, None);
                while job.lend && got < job.s.records {
                    job.check_time(got)?;
                    consumer.lend(Duration::from_millis(100), |r| {
                        mark(&mut first, &mut steady, got, job.s.records);
                        got += 1;
                        bytes += r.value.map_or(0, |v| v.len() as u64);
                        std::ops::ControlFlow::Continue(())
                    })?;
                }
                while got < job.s.records {
                    job.check_time(got)?;
                    for m in consumer.poll(Duration::from_millis(100))? {
                        mark(&mut first, &mut steady, got, job.s.records);
                        got += 1;
                        bytes += m.value.as_ref().map_or(0, |v| v.len() as u64);
                    }
                }
                consumed(job, start, first, steady, got, bytes)
            }
            Kind::Rebalance { .. } => return Err("rebalance runs its own clients".into()),
            Kind::RoundTrip => {
                let producer = client.producer();
                let value = scenario::values(job.s.value_size)[0].clone();
                job.timed_loop(|| {
                    let r = ProducerRecord::new(&job.shared_topic).with_value(value.clone());
                    producer.send(r)?.wait()?;
                    Ok(())
                })?
            }
            Kind::Metadata { .. } => job.timed_loop(|| {
                client.metadata([job.topic])?;
                Ok(())
            })?,
        };
        client.close();
        Ok(m)
    }
}

mod librdkafka {
    use super::*;

    /// Counts delivery reports and forwards each to the round-trip loop.
    struct Reports {
        ok: AtomicU64,
        failed: AtomicU64,
        first_error: std::sync::Mutex<Option<String>>,
        each: std::sync::Mutex<Option<mpsc::Sender<()>>>,
    }

    impl ClientContext for Reports {}

    impl ProducerContext for Reports {
        type DeliveryOpaque = ();

        fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
            match result {
                Ok(_) => self.ok.fetch_add(1, Ordering::Relaxed),
                Err((e, _)) => {
                    self.first_error
                        .lock()
                        .expect("not poisoned")
                        .get_or_insert_with(|| e.to_string());
                    self.failed.fetch_add(1, Ordering::Relaxed)
                }
            };
            if let Some(tx) = &*self.each.lock().expect("not poisoned") {
                let _ = tx.send(());
            }
        }
    }

    fn base(job: &Job<'_>) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", job.bootstrap)
            .set("enable.idempotence", "false");
        c
    }

    fn producer(job: &Job<'_>) -> Result<ThreadedProducer<Reports>, Error> {
        let mut c = base(job);
        match job.s.kind {
            Kind::Produce {
                acks,
                compression,
                transaction,
                ..
            } => {
                use kafka_blocking::{Acks, Compression};
                if transaction.is_some() {
                    // Implied by transactional.id; said outright since
                    // `base` turns it off.
                    c.set("enable.idempotence", "true")
                        .set("transactional.id", transactional_id(job));
                }
                c.set(
                    "acks",
                    match acks {
                        Acks::None => "0",
                        Acks::Leader => "1",
                        _ => "all",
                    },
                )
                .set("linger.ms", "5")
                .set(
                    "compression.type",
                    match compression {
                        Compression::Lz4 => "lz4",
                        Compression::Zstd => "zstd",
                        Compression::None => "none",
                        other => return Err(format!("no codec mapping for {other:?}").into()),
                    },
                );
            }
            Kind::RoundTrip => {
                c.set("acks", "1").set("linger.ms", "0");
            }
            _ => {}
        }
        let ctx = Reports {
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            first_error: std::sync::Mutex::new(None),
            each: std::sync::Mutex::new(None),
        };
        Ok(c.create_with_context(ctx)?)
    }

    pub fn run(job: &Job<'_>) -> Result<Measured, Error> {
        match job.s.kind {
            Kind::Produce {
                transaction: Some(per_txn),
                ..
            } => produce_txn(job, per_txn),
            Kind::Produce { .. } => produce(job),
            Kind::Consume { partitions, group } => consume(job, partitions, group),
            Kind::Rebalance { .. } => Err("rebalance runs its own clients".into()),
            Kind::RoundTrip => {
                let p = producer(job)?;
                let (tx, rx) = mpsc::channel();
                *p.context().each.lock().expect("not poisoned") = Some(tx);
                let value = scenario::values(job.s.value_size)[0].clone();
                let m = job.timed_loop(|| {
                    let r = BaseRecord::<(), [u8]>::to(job.topic).payload(&value[..]);
                    p.send(r).map_err(|(e, _)| fail("send", e))?;
                    rx.recv_timeout(Duration::from_secs(30))
                        .map_err(|e| fail("delivery report", e))?;
                    Ok(())
                })?;
                check_reports(&p, job.s.records + (job.s.records / 20).max(10))?;
                Ok(m)
            }
            Kind::Metadata { .. } => {
                let p = producer(job)?;
                job.timed_loop(|| {
                    p.client()
                        .fetch_metadata(Some(job.topic), Duration::from_secs(10))?;
                    Ok(())
                })
            }
        }
    }

    fn check_reports(p: &ThreadedProducer<Reports>, expected: u64) -> Result<(), Error> {
        let ctx = p.context();
        let failed = ctx.failed.load(Ordering::Relaxed);
        if failed > 0 {
            let first = ctx.first_error.lock().expect("not poisoned").clone();
            return Err(format!("{failed} records failed, first: {first:?}").into());
        }
        let ok = ctx.ok.load(Ordering::Relaxed);
        if ok != expected {
            return Err(format!("{ok} delivery reports for {expected} records").into());
        }
        Ok(())
    }

    fn produce(job: &Job<'_>) -> Result<Measured, Error> {
        let values = scenario::values(job.s.value_size);
        let keys = scenario::keys(job.s.keys);
        let p = producer(job)?;
        let start = Instant::now();
        for i in 0..job.s.records {
            let v = &values[i as usize % values.len()];
            let mut r = BaseRecord::to(job.topic).payload(&v[..]);
            if let Some(k) = scenario::key_of(&keys, i) {
                r = r.key(&k[..]);
            }
            send(job, &p, r, i)?;
            if i % 4096 == 0 {
                job.check_time(i)?;
            }
        }
        p.flush(job.deadline.saturating_duration_since(Instant::now()))?;
        let secs = start.elapsed().as_secs_f64();
        check_reports(&p, job.s.records)?;
        Ok(Measured {
            records: job.s.records,
            bytes: job.s.records * job.s.value_size as u64,
            secs,
            ..Measured::default()
        })
    }

    /// As ours: transactions of `per_txn` records, `commit_transaction`
    /// flushing them and waiting for every ack; `init_transactions` left
    /// out of the time.
    fn produce_txn(job: &Job<'_>, per_txn: u64) -> Result<Measured, Error> {
        let left = || job.deadline.saturating_duration_since(Instant::now());
        let values = scenario::values(job.s.value_size);
        let p = producer(job)?;
        p.init_transactions(left())?;
        let start = Instant::now();
        let mut sent = 0;
        while sent < job.s.records {
            p.begin_transaction()?;
            let end = (sent + per_txn).min(job.s.records);
            for i in sent..end {
                let v = &values[i as usize % values.len()];
                send(job, &p, BaseRecord::to(job.topic).payload(&v[..]), i)?;
            }
            p.commit_transaction(left())?;
            sent = end;
            job.check_time(sent)?;
        }
        let secs = start.elapsed().as_secs_f64();
        // The commit has every ack; this waits for the last reports to be
        // counted by the polling thread.
        p.flush(left())?;
        check_reports(&p, job.s.records)?;
        Ok(Measured {
            secs,
            ..produced(job, start)
        })
    }

    /// Hands one record to librdkafka, waiting while its queue is full.
    fn send<'a>(
        job: &Job<'_>,
        p: &ThreadedProducer<Reports>,
        mut r: BaseRecord<'a, [u8], [u8]>,
        i: u64,
    ) -> Result<(), Error> {
        loop {
            match p.send(r) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    r = back;
                    std::thread::sleep(Duration::from_millis(1));
                    job.check_time(i)?;
                }
                Err((e, _)) => return Err(fail("send", e)),
            }
        }
    }

    fn consume(job: &Job<'_>, partitions: i32, group: bool) -> Result<Measured, Error> {
        let mut config = base(job);
        config
            .set("enable.partition.eof", "false")
            .set("auto.offset.reset", "earliest");
        if group {
            // Java's defaults, as our GroupConfig::new: auto-commit every 5 s.
            config.set("group.id", bench_group(job).group_id);
        } else {
            config
                .set("group.id", "kafka-bench")
                .set("enable.auto.commit", "false");
        }
        let c: BaseConsumer = config.create()?;
        let start = Instant::now();
        if group {
            c.subscribe(&[job.topic])?;
        } else {
            let mut tpl = TopicPartitionList::new();
            for p in 0..partitions {
                tpl.add_partition_offset(job.topic, p, Offset::Beginning)?;
            }
            c.assign(&tpl)?;
        }
        let (mut got, mut bytes) = (0u64, 0u64);
        let (mut first, mut steady) = (None, None);
        while got < job.s.records {
            match c.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    mark(&mut first, &mut steady, got, job.s.records);
                    got += 1;
                    bytes += m.payload().map_or(0, |v| v.len() as u64);
                }
                Some(Err(e)) => return Err(fail("poll", e)),
                None => job.check_time(got)?,
            }
            if got % 4096 == 0 {
                job.check_time(got)?;
            }
        }
        Ok(consumed(job, start, first, steady, got, bytes))
    }
}

/// The floor of a round trip: the same work asked of the broker (one
/// record of the scenario's size, acks=1, to partition 0) as a Produce
/// request encoded once and written on a plain `TcpStream`, its response
/// read back, nothing else. Broker time is in the floor, so the ratio
/// shows what a client adds.
fn raw_round_trips(job: &Job<'_>) -> Result<Measured, Error> {
    use kafka_proto::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_proto::record::{BatchOptions, RecordBatchBuilder};
    use std::io::{Read, Write};
    // What our clients negotiate with Tansu, so both sides ask the same.
    const VERSION: i16 = 11;
    let mut sock = std::net::TcpStream::connect(partition_leader(job.bootstrap, job.topic)?)?;
    sock.set_nodelay(true)?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    let value = scenario::values(job.s.value_size)[0].clone();
    let mut batch = RecordBatchBuilder::new(BatchOptions::default());
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    batch.append(created, None, Some(&value))?;
    let body = RequestBody::from(
        ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(job.topic.to_string())
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch.finish()?))])]),
    );
    let mut correlation = 0;
    let mut frame = bytes::BytesMut::new();
    let mut buf = Vec::new();
    let mut one = |correlation: i32| -> Result<Vec<u8>, Error> {
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::Produce.id())
            .with_request_api_version(VERSION)
            .with_correlation_id(correlation)
            .with_client_id(Some("kafka-bench".into()));
        frame.clear();
        encode_request_frame(&header, &body, &mut frame)?;
        sock.write_all(&frame)?;
        let mut size = [0u8; 4];
        sock.read_exact(&mut size)?;
        let size = usize::try_from(i32::from_be_bytes(size)).map_err(|_| "negative frame size")?;
        buf.resize(size, 0);
        sock.read_exact(&mut buf)?;
        let got = i32::from_be_bytes(buf[..4].try_into()?);
        if got != correlation {
            return Err(format!("correlation id {got}, expected {correlation}").into());
        }
        Ok(buf.clone())
    };
    // The broker must really take it: check the first answer's error code.
    correlation += 1;
    let first = one(correlation)?;
    let (_, resp) = kafka_proto::frame::decode_response_frame(
        bytes::Bytes::from(first),
        ApiKey::Produce,
        VERSION,
    )?;
    let kafka_proto::ResponseBody::Produce(resp) = resp else {
        return Err("raw produce: not a Produce response".into());
    };
    let code = resp
        .responses
        .first()
        .and_then(|t| t.partition_responses.first())
        .map(|p| p.error_code);
    if code != Some(0) {
        return Err(format!("raw produce refused: error code {code:?}").into());
    }
    let m = job.timed_loop(|| {
        correlation += 1;
        one(correlation).map(drop)
    })?;
    Ok(Measured { bytes: 0, ..m })
}

/// The address of partition 0's leader, asked of the first bootstrap
/// broker (the only one on Tansu; any of a Kafka cluster's).
fn partition_leader(bootstrap: &str, topic: &str) -> Result<std::net::SocketAddr, Error> {
    use kafka_proto::messages::metadata_request::MetadataRequestTopic;
    use kafka_proto::messages::MetadataRequest;
    use std::net::ToSocketAddrs;
    let first = bootstrap.split(',').next().unwrap_or(bootstrap);
    let addr = first
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| format!("{first}: no address"))?;
    let request = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(topic.to_string())),
    ]));
    let kafka_proto::ResponseBody::Metadata(m) =
        kafka_testkit::kafka::request_once(addr, RequestBody::from(request), 9)?
    else {
        return Err("raw round trip: not a Metadata response".into());
    };
    let leader = m
        .topics
        .iter()
        .filter(|t| t.name.as_deref() == Some(topic))
        .flat_map(|t| &t.partitions)
        .find(|p| p.partition_index == 0)
        .map(|p| p.leader_id)
        .ok_or_else(|| format!("raw round trip: no partition 0 of {topic} in metadata"))?;
    let broker = m
        .brokers
        .iter()
        .find(|b| b.node_id == leader)
        .ok_or_else(|| format!("raw round trip: leader {leader} not among the brokers"))?;
    let port = u16::try_from(broker.port)?;
    (broker.host.as_str(), port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| format!("{}:{port}: no address", broker.host).into())
}

/// `config` with its bootstrap list set to `servers`.
fn at(servers: &str, mut config: kafka_blocking::Config) -> kafka_blocking::Config {
    if let Ok(list) = kafka_blocking::BrokerAddr::parse_list(servers) {
        config.bootstrap = list;
    }
    config
}

/// `r` with record `i`'s key, if the scenario keys its records.
fn keyed(
    r: kafka_blocking::ProducerRecord,
    keys: &[Bytes],
    i: u64,
) -> kafka_blocking::ProducerRecord {
    match scenario::key_of(keys, i) {
        Some(k) => r.with_key(k.clone()),
        None => r,
    }
}
