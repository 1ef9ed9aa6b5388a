//! `kfk produce`: one record per stdin line.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use kafka_tokio::{Client, DeliveryFuture, DeliveryReport, Error, ErrorCode, ProducerRecord};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::progress::Progress;

/// Reports awaited at most at once; past this the tool waits for the
/// oldest before reading more input, so memory stays bounded.
const MAX_OUTSTANDING: usize = 100_000;

/// What to produce.
pub struct Options {
    pub topic: String,
    pub partition: Option<i32>,
    pub key_delimiter: Option<String>,
    pub headers: Vec<(String, Bytes)>,
    /// An empty key or value is sent as null (a tombstone for the value).
    pub null_empty: bool,
}

/// What a run wrote: per partition, and the first failure.
#[derive(Debug, Default)]
pub struct Summary {
    pub topic: String,
    /// Records acknowledged.
    pub records: u64,
    /// Key and value bytes of the records acknowledged.
    pub bytes: u64,
    /// Per partition: records acknowledged, first and last offset (-1
    /// with acks 0).
    pub partitions: BTreeMap<i32, Written>,
    /// The failure that stopped the run: the input line, the Kafka
    /// error's name where a broker gave one, and the one line.
    pub error: Option<Stopped>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub records: u64,
    pub first_offset: i64,
    pub last_offset: i64,
}

#[derive(Debug)]
pub struct Stopped {
    pub line: Option<u64>,
    pub code: Option<ErrorCode>,
    pub message: String,
}

impl Summary {
    fn acked(&mut self, size: u64, report: &DeliveryReport) {
        self.records += 1;
        self.bytes += size;
        let w = self.partitions.entry(report.partition).or_insert(Written {
            records: 0,
            first_offset: report.offset,
            last_offset: report.offset,
        });
        w.records += 1;
        w.first_offset = w.first_offset.min(report.offset);
        w.last_offset = w.last_offset.max(report.offset);
    }

    fn stop(&mut self, line: Option<u64>, e: &Error) {
        self.error = Some(Stopped {
            line,
            code: code_of(e),
            message: describe(e),
        });
    }

    /// The JSON of `--json`: totals, the partitions, and `errors` (empty,
    /// or the failure that stopped the run).
    pub fn to_json(&self) -> Value {
        json!({
            "topic": self.topic,
            "records": self.records,
            "bytes": self.bytes,
            "partitions": self.partitions.iter().map(|(p, w)| json!({
                "partition": p,
                "records": w.records,
                "first_offset": w.first_offset,
                "last_offset": w.last_offset,
            })).collect::<Vec<_>>(),
            "errors": self.error.iter().map(|e| json!({
                "line": e.line,
                "error": e.code.map(|c| c.name()),
                "message": e.message,
            })).collect::<Vec<_>>(),
        })
    }
}

/// The Kafka error code behind a produce failure, if a broker gave one.
fn code_of(e: &Error) -> Option<ErrorCode> {
    match e {
        Error::Kafka { code, .. } => Some(*code),
        Error::Produce(p) => p.code(),
        _ => None,
    }
}

/// Produces stdin until its end or the first failure; the summary says
/// which.
pub async fn run(client: &Client, opts: Options) -> Result<Summary, String> {
    let producer = client.producer();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    // Each awaited report with its input line and its size.
    let mut outstanding: VecDeque<(u64, u64, DeliveryFuture)> = VecDeque::new();
    let mut summary = Summary {
        topic: opts.topic.clone(),
        ..Summary::default()
    };
    let mut line_no = 0u64;
    let progress = Progress::new("produced");
    'input: while let Some(line) = lines
        .next_line()
        .await
        .map_err(|e| format!("reading stdin: {e}"))?
    {
        line_no += 1;
        let (key, value) = match &opts.key_delimiter {
            Some(d) => match line.split_once(d.as_str()) {
                Some((k, v)) => (Some(k.to_string()), v.to_string()),
                None => return Err(format!("line {line_no}: no key delimiter {d:?}")),
            },
            None => (None, line),
        };
        let size = (key.as_ref().map_or(0, String::len) + value.len()) as u64;
        let mut record = ProducerRecord::new(&opts.topic);
        if !(opts.null_empty && value.is_empty()) {
            record = record.with_value(value);
        }
        record.partition = opts.partition;
        if let Some(k) = key.filter(|k| !(opts.null_empty && k.is_empty())) {
            record = record.with_key(k);
        }
        for (k, v) in &opts.headers {
            record = record.with_header(k, Some(v.clone()));
        }
        match producer.send(record).await {
            Ok(delivery) => outstanding.push_back((line_no, size, delivery)),
            Err(e) => {
                summary.stop(Some(line_no), &e);
                break;
            }
        }
        while outstanding.len() >= MAX_OUTSTANDING {
            if let Some((line, size, d)) = outstanding.pop_front() {
                match d.await {
                    Ok(report) => summary.acked(size, &report),
                    Err(e) => {
                        summary.stop(Some(line), &e);
                        break 'input;
                    }
                }
                progress.set(summary.records);
            }
        }
    }
    if summary.error.is_none() {
        if let Err(e) = producer.flush().await {
            summary.stop(None, &e);
        }
    }
    for (line, size, d) in outstanding {
        match d.await {
            Ok(report) => summary.acked(size, &report),
            Err(e) if summary.error.is_none() => summary.stop(Some(line), &e),
            Err(_) => {}
        }
        progress.set(summary.records);
    }
    progress.finish(summary.records);
    Ok(summary)
}

fn describe(e: &Error) -> String {
    format!("produce failed: {e}")
}
