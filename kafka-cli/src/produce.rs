//! `kfk produce`: one record per stdin line.

use std::collections::VecDeque;

use bytes::Bytes;
use kafka_tokio::{Client, DeliveryFuture, Error, ProducerRecord};
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

/// Produces stdin; returns how many records were acknowledged.
pub async fn run(client: &Client, opts: Options) -> Result<u64, String> {
    let producer = client.producer();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut outstanding: VecDeque<DeliveryFuture> = VecDeque::new();
    let mut acked = 0u64;
    let mut line_no = 0u64;
    let progress = Progress::new("produced");
    while let Some(line) = lines
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
        let delivery = producer.send(record).await.map_err(|e| describe(&e))?;
        outstanding.push_back(delivery);
        while outstanding.len() >= MAX_OUTSTANDING {
            if let Some(d) = outstanding.pop_front() {
                d.await.map_err(|e| describe(&e))?;
                acked += 1;
                progress.set(acked);
            }
        }
    }
    producer.flush().await.map_err(|e| describe(&e))?;
    for d in outstanding {
        d.await.map_err(|e| describe(&e))?;
        acked += 1;
        progress.set(acked);
    }
    progress.finish(acked);
    Ok(acked)
}

fn describe(e: &Error) -> String {
    format!("produce failed: {e}")
}
