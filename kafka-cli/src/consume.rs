//! `kfk consume`: records to stdout as text or JSON lines.

use std::io::Write;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use kafka_tokio::{Client, ConsumerRecord, SeekTo, TopicPartition};
use serde_json::{json, Value};

use crate::progress::Progress;

/// Where to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Beginning,
    End,
    Offset(i64),
    Timestamp(i64),
}

impl Start {
    /// Parses `beginning`, `end`, an offset, or `@TIMESTAMP_MS`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "beginning" => Ok(Start::Beginning),
            "end" => Ok(Start::End),
            _ => {
                let bad = || format!("-o {s}: expected beginning, end, OFFSET or @TIMESTAMP_MS");
                if let Some(ts) = s.strip_prefix('@') {
                    let ts: i64 = ts.parse().map_err(|_| bad())?;
                    if ts < 0 {
                        return Err(bad());
                    }
                    Ok(Start::Timestamp(ts))
                } else {
                    let o: i64 = s.parse().map_err(|_| bad())?;
                    if o < 0 {
                        return Err(bad());
                    }
                    Ok(Start::Offset(o))
                }
            }
        }
    }

    fn seek(self) -> SeekTo {
        match self {
            Start::Beginning => SeekTo::Earliest,
            Start::End => SeekTo::Latest,
            Start::Offset(o) => SeekTo::Offset(o),
            Start::Timestamp(ts) => SeekTo::Timestamp(ts),
        }
    }
}

/// What to consume and how to print it.
pub struct Options {
    pub topic: String,
    pub partition: Option<i32>,
    pub start: Start,
    pub count: Option<u64>,
    pub exit_at_end: bool,
    pub json: bool,
    /// Subscribe as a member of `config.group` instead of assigning.
    pub group: bool,
    /// With `group`: `topic` is a regular expression the broker matches.
    pub regex: bool,
    /// With `group`: commit what was printed at exit.
    pub commit: bool,
}

/// Consumes until the count, the end (with `-e`) or Ctrl-C; returns how
/// many records were printed.
pub async fn run(client: &Client, opts: Options) -> Result<u64, String> {
    if opts.regex {
        let mut consumer = client.consumer().map_err(crate::error_line)?;
        consumer.on_rebalance(|change| eprintln!("{}", describe_rebalance(&change)));
        consumer
            .subscribe_regex(opts.topic.clone())
            .await
            .map_err(crate::error_line)?;
        return print_records(consumer, &opts, Vec::new()).await;
    }
    // A group member may subscribe to several topics, comma-separated.
    let topics: Vec<&str> = match opts.group {
        true => opts
            .topic
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect(),
        false => vec![opts.topic.as_str()],
    };
    let mut topics = topics;
    topics.sort_unstable();
    topics.dedup();
    if topics.is_empty() {
        return Err("-t: no topic named".into());
    }
    let md = crate::settled_metadata(client, &topics).await?;
    let mut partitions: Vec<TopicPartition> = Vec::new();
    for name in &topics {
        let topic = match md.topic(name) {
            Some(t) if !t.error.is_error() => t,
            Some(t) => return Err(format!("topic {name}: {}", t.error)),
            None => return Err(format!("topic {name}: not in the cluster's metadata")),
        };
        match opts.partition {
            Some(p) if topic.partitions.iter().any(|m| m.partition == p) => {
                partitions.push(TopicPartition::new(*name, p));
            }
            Some(p) => {
                return Err(format!(
                    "topic {name} has no partition {p} (it has {})",
                    topic.partitions.len()
                ))
            }
            None => partitions.extend(
                topic
                    .partitions
                    .iter()
                    .map(|m| TopicPartition::new(*name, m.partition)),
            ),
        }
    }
    let mut consumer = client.consumer().map_err(crate::error_line)?;
    if opts.group {
        consumer.on_rebalance(|change| eprintln!("{}", describe_rebalance(&change)));
        consumer
            .subscribe(topics.iter().copied())
            .await
            .map_err(crate::error_line)?;
    } else {
        consumer
            .assign(partitions.clone())
            .await
            .map_err(crate::error_line)?;
        for tp in &partitions {
            consumer
                .seek(tp.clone(), opts.start.seek())
                .await
                .map_err(crate::error_line)?;
        }
    }
    print_records(consumer, &opts, partitions).await
}

/// Prints records until the count, the end (with `-e`) or a signal; a
/// group member commits what was printed.
async fn print_records(
    mut consumer: kafka_tokio::Consumer,
    opts: &Options,
    partitions: Vec<TopicPartition>,
) -> Result<u64, String> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let progress = Progress::new("consumed");
    let mut printed = 0u64;
    let at_end = |n: u64| opts.count.is_some_and(|c| n >= c);
    if at_end(0) {
        return Ok(0);
    }
    // Made once: a listener per record would cost a registration each.
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        let next = if opts.exit_at_end {
            // Wake up now and then to check whether every partition is
            // caught up with its high watermark.
            match tokio::time::timeout(
                std::time::Duration::from_millis(200),
                next_record(&mut consumer),
            )
            .await
            {
                Ok(r) => r,
                Err(_) => {
                    out.flush().map_err(|e| e.to_string())?;
                    // A member checks what the group gave it; before its
                    // first assignment it is not at any end.
                    let mine = match opts.group {
                        true => consumer.assignment().map_err(crate::error_line)?,
                        false => partitions.clone(),
                    };
                    if !mine.is_empty() && caught_up(&consumer, &mine).await? {
                        break;
                    }
                    continue;
                }
            }
        } else {
            tokio::select! {
                r = next_record(&mut consumer) => r,
                _ = &mut stop => break,
            }
        };
        let Some(record) = next else { break };
        let record = record.map_err(crate::error_line)?;
        let line = if opts.json {
            to_json(&record).to_string()
        } else {
            text(record.value.as_ref())
        };
        writeln!(out, "{line}").map_err(|e| format!("writing stdout: {e}"))?;
        printed += 1;
        progress.set(printed);
        if at_end(printed) {
            break;
        }
    }
    out.flush().map_err(|e| format!("writing stdout: {e}"))?;
    progress.finish(printed);
    if opts.group && opts.commit && printed > 0 {
        // What was printed is committed before the member leaves.
        let committed = consumer
            .commit()
            .await
            .map_err(|e| format!("commit: {e}"))?;
        eprintln!("committed {}", describe_offsets(&committed));
    }
    Ok(printed)
}

fn describe_rebalance(change: &kafka_tokio::Rebalance) -> String {
    let list = |tps: &[TopicPartition]| {
        tps.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    match change {
        kafka_tokio::Rebalance::Assigned(tps) => format!("assigned: {}", list(tps)),
        kafka_tokio::Rebalance::Revoked(tps) => format!("revoked: {}", list(tps)),
        kafka_tokio::Rebalance::Lost(tps) => format!("lost: {}", list(tps)),
        other => format!("{other:?}"),
    }
}

fn describe_offsets(offsets: &kafka_tokio::Committed) -> String {
    offsets
        .iter()
        .map(|(tp, o)| format!("{tp}@{}", o.offset))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Ctrl-C, or SIGTERM where there is one: either ends the run cleanly
/// (a group member commits and leaves).
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub async fn next_record(
    consumer: &mut kafka_tokio::Consumer,
) -> Option<Result<ConsumerRecord, kafka_tokio::Error>> {
    use futures_core::Stream;
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *consumer).poll_next(cx)).await
}

/// Whether every partition's position reached its high watermark.
pub async fn caught_up(
    consumer: &kafka_tokio::Consumer,
    partitions: &[TopicPartition],
) -> Result<bool, String> {
    for tp in partitions {
        match consumer.lag(tp.clone()).await.map_err(crate::error_line)? {
            Some(0) => {}
            _ => return Ok(false),
        }
    }
    Ok(true)
}

fn text(value: Option<&Bytes>) -> String {
    value.map_or_else(String::new, |v| String::from_utf8_lossy(v).into_owned())
}

/// A string for UTF-8, `{"base64": ...}` otherwise, null for null.
fn bytes_json(b: Option<&Bytes>) -> Value {
    match b {
        None => Value::Null,
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => Value::String(s.to_string()),
            Err(_) => json!({ "base64": BASE64.encode(b) }),
        },
    }
}

/// One record as a JSON object.
pub fn to_json(r: &ConsumerRecord) -> Value {
    json!({
        "topic": &*r.topic,
        "partition": r.partition,
        "offset": r.offset,
        "timestamp": r.timestamp,
        "key": bytes_json(r.key.as_ref()),
        "value": bytes_json(r.value.as_ref()),
        "headers": r.headers.iter().map(|(k, v)| json!([k, bytes_json(v.as_ref())])).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_start_positions() {
        assert_eq!(Start::parse("beginning"), Ok(Start::Beginning));
        assert_eq!(Start::parse("end"), Ok(Start::End));
        assert_eq!(Start::parse("42"), Ok(Start::Offset(42)));
        assert_eq!(
            Start::parse("@1700000000000"),
            Ok(Start::Timestamp(1_700_000_000_000))
        );
        for bad in ["", "-1", "@", "@x", "@-5", "start"] {
            assert!(Start::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_bytes_are_strings_base64_or_null() {
        assert_eq!(bytes_json(None), Value::Null);
        assert_eq!(bytes_json(Some(&Bytes::from_static(b"hi"))), json!("hi"));
        assert_eq!(
            bytes_json(Some(&Bytes::from_static(&[0xff, 0x00]))),
            json!({"base64": "/wA="})
        );
    }
}
