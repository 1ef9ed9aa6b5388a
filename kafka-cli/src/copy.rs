//! `kfk copy`: the records of one topic into another, exactly once.
//!
//! A group member reads the source (read_committed, no auto-commit) and a
//! transactional producer writes the target: each transaction carries a
//! batch of copied records and the group offsets after them, so a copy
//! killed at any point and started again (same group, same transactional
//! id) neither loses nor repeats a record. Starting it again fences the
//! old process (InitProducerId) and aborts what it left open; a partition
//! handed to another member is read from the offsets the last committed
//! transaction stored (the group waits for open ones, `require_stable`).

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_tokio::{
    Client, Committed, ConsumerRecord, Error, OffsetAndMetadata, ProducerRecord, SeekTo,
    TopicPartition,
};

use crate::progress::Progress;

/// How long a commit (or the first init) may take before the copy gives
/// up: longer than a coordinator failover.
const TXN_TIMEOUT: Duration = Duration::from_secs(120);

/// What to copy.
pub struct Options {
    pub from: String,
    pub to: String,
    /// Records per transaction at most.
    pub batch: usize,
    /// How long a transaction waits for more records before it commits.
    pub linger: Duration,
    pub count: Option<u64>,
    pub exit_at_end: bool,
    /// The group, whose committed offsets say how far the partitions
    /// other copiers own have come.
    pub group: String,
}

/// Whether every source partition is copied to its end: those assigned
/// here by the consumer's position, the others (owned by another copier,
/// or by a killed one until its session expires) by the group's committed
/// offsets.
async fn at_end(
    client: &Client,
    consumer: &kafka_tokio::Consumer,
    opts: &Options,
) -> Result<bool, String> {
    let mine = consumer.assignment().map_err(crate::error_line)?;
    if mine.is_empty() || !crate::consume::caught_up(consumer, &mine).await? {
        return Ok(false);
    }
    let md = client
        .metadata([opts.from.as_str()])
        .await
        .map_err(crate::error_line)?;
    let others: Vec<TopicPartition> = md
        .topic(&opts.from)
        .map(|t| {
            t.partitions
                .iter()
                .map(|p| TopicPartition::new(opts.from.as_str(), p.partition))
                .filter(|tp| !mine.contains(tp))
                .collect()
        })
        .unwrap_or_default();
    if others.is_empty() {
        return Ok(true);
    }
    let committed = client
        .group_offsets(&opts.group)
        .await
        .map_err(crate::error_line)?;
    let ends = client
        .offsets(others.clone(), kafka_tokio::OffsetSpec::Latest)
        .await
        .map_err(crate::error_line)?;
    Ok(others.iter().all(|tp| {
        let done = committed
            .offsets
            .get(tp)
            .and_then(|c| c.as_ref().ok())
            .map(|c| c.offset);
        let end = ends
            .get(tp)
            .and_then(|e| e.as_ref().ok())
            .and_then(|l| l.offset);
        matches!((done, end), (Some(d), Some(e)) if d >= e) || end == Some(0)
    }))
}

/// One transaction being filled.
struct Batch {
    /// Per partition, the offset of the first record taken: an abort
    /// rewinds there.
    start: BTreeMap<TopicPartition, i64>,
    /// Per partition, the offset after the last record taken.
    next: Committed,
    records: u64,
}

/// Copies until the count, the end of every assigned partition (`-e`),
/// or Ctrl-C/SIGTERM (after the open transaction commits). Returns how
/// many records were committed.
pub async fn run(client: &Client, opts: Options) -> Result<u64, String> {
    let md = crate::settled_metadata(client, &[opts.from.as_str(), opts.to.as_str()]).await?;
    let count = |name: &str| match md.topic(name) {
        Some(t) if !t.error.is_error() => Ok(t.partitions.len()),
        Some(t) => Err(format!("topic {name}: {}", t.error)),
        None => Err(format!("topic {name}: not in the cluster's metadata")),
    };
    // A record keeps its partition number, so the target keeps the
    // source's order per partition.
    let (sources, targets) = (count(&opts.from)?, count(&opts.to)?);
    if targets < sources {
        return Err(format!(
            "topic {} has {targets} partitions, fewer than {}'s {sources}: each record keeps its partition number",
            opts.to, opts.from
        ));
    }
    let producer = client.producer();
    tokio::time::timeout(TXN_TIMEOUT, producer.init_transactions())
        .await
        .map_err(|_| "init_transactions timed out".to_string())?
        .map_err(|e| format!("init_transactions: {e}"))?;
    let mut consumer = client.consumer().map_err(crate::error_line)?;
    consumer
        .subscribe([opts.from.as_str()])
        .await
        .map_err(crate::error_line)?;
    let progress = Progress::new("copied");
    let mut copied = 0u64;
    let stop = crate::consume::stop_signal();
    tokio::pin!(stop);
    let mut stopping = false;
    while !stopping && opts.count.is_none_or(|c| copied < c) {
        // The first record of a transaction: wait, checking the end and
        // the signal now and then.
        let first = tokio::select! {
            r = tokio::time::timeout(Duration::from_millis(200), crate::consume::next_record(&mut consumer)) => r,
            _ = &mut stop => break,
        };
        let first = match first {
            Ok(Some(r)) => r.map_err(crate::error_line)?,
            Ok(None) => break,
            Err(_) => {
                if opts.exit_at_end && at_end(client, &consumer, &opts).await? {
                    break;
                }
                continue;
            }
        };
        let limit = opts
            .count
            .map_or(opts.batch, |c| opts.batch.min((c - copied) as usize));
        let outcome = copy_batch(
            &producer,
            &mut consumer,
            first,
            limit,
            &opts.to,
            opts.linger,
            &mut stop,
            &mut stopping,
        )
        .await;
        match outcome {
            Ok(n) => {
                copied += n;
                progress.set(copied);
            }
            Err((Error::Transaction(e), Some(batch))) if e.is_abortable() => {
                eprintln!("kfk: transaction aborted ({e}); copying its records again");
                tokio::time::timeout(TXN_TIMEOUT, producer.abort_transaction())
                    .await
                    .map_err(|_| "abort timed out".to_string())?
                    .map_err(|e| format!("abort: {e}"))?;
                rewind(&mut consumer, &batch).await?;
            }
            Err((e, _)) => return Err(format!("copy: {e}")),
        }
    }
    progress.finish(copied);
    Ok(copied)
}

/// Fills one transaction starting with `first` and commits it; on an
/// error, gives back what the transaction held so it can be rewound.
#[allow(clippy::too_many_arguments)]
async fn copy_batch(
    producer: &kafka_tokio::Producer,
    consumer: &mut kafka_tokio::Consumer,
    first: ConsumerRecord,
    limit: usize,
    to: &str,
    linger: Duration,
    stop: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
    stopping: &mut bool,
) -> Result<u64, (Error, Option<Batch>)> {
    producer.begin_transaction().await.map_err(|e| (e, None))?;
    let mut batch = Batch {
        start: BTreeMap::new(),
        next: BTreeMap::new(),
        records: 0,
    };
    let mut deliveries = Vec::new();
    let mut record = Some(first);
    while let Some(r) = record.take() {
        let tp = TopicPartition::new(&*r.topic, r.partition);
        batch.start.entry(tp.clone()).or_insert(r.offset);
        batch
            .next
            .insert(tp, OffsetAndMetadata::new(r.offset + 1, r.leader_epoch));
        batch.records += 1;
        let out = copy_of(r, to);
        match producer.send(out).await {
            Ok(d) => deliveries.push(d),
            Err(e) => return Err((e, Some(batch))),
        }
        if batch.records as usize >= limit {
            break;
        }
        tokio::select! {
            next = tokio::time::timeout(linger, crate::consume::next_record(consumer)) => {
                if let Ok(Some(next)) = next {
                    match next {
                        Ok(r) => record = Some(r),
                        Err(e) => return Err((e, Some(batch))),
                    }
                }
            }
            _ = stop.as_mut() => *stopping = true,
        }
    }
    let group = match consumer.group_metadata() {
        Ok(Some(g)) => g,
        Ok(None) => return Err((Error::Closed, Some(batch))),
        Err(e) => return Err((e, Some(batch))),
    };
    if let Err(e) = producer
        .send_offsets_to_transaction(batch.next.clone(), &group)
        .await
    {
        return Err((e, Some(batch)));
    }
    match tokio::time::timeout(TXN_TIMEOUT, producer.commit_transaction()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err((e, Some(batch))),
        Err(_) => return Err((Error::Timeout, Some(batch))),
    }
    // Committed: every record is written (the commit waited for them).
    for d in deliveries {
        d.await.map_err(|e| (e, None))?;
    }
    Ok(batch.records)
}

/// The record to write for `r`: its key, value, headers and timestamp,
/// in the partition of the same number.
fn copy_of(r: ConsumerRecord, to: &str) -> ProducerRecord {
    let mut out = ProducerRecord::new(to).with_partition(r.partition);
    if let Some(k) = r.key {
        out = out.with_key(k);
    }
    if let Some(v) = r.value {
        out = out.with_value(v);
    }
    for (k, v) in r.headers.iter() {
        out = out.with_header(k, v);
    }
    if r.timestamp >= 0 {
        out = out.with_timestamp(r.timestamp);
    }
    out
}

/// After an abort: the partitions still assigned read again from the
/// first record the aborted transaction took.
async fn rewind(consumer: &mut kafka_tokio::Consumer, batch: &Batch) -> Result<(), String> {
    let mine = consumer.assignment().map_err(crate::error_line)?;
    for (tp, offset) in &batch.start {
        if mine.contains(tp) {
            consumer
                .seek(tp.clone(), SeekTo::Offset(*offset))
                .await
                .map_err(|e| format!("rewinding {tp}: {e}"))?;
        }
    }
    Ok(())
}
