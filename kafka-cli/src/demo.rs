//! `kfk demo`: the whole client against the embedded mock cluster —
//! produce N records, consume them back, then time sequential round trips.

use std::time::{Duration, Instant};

use kafka_tokio::{Client, Config, NewTopic, ProducerRecord, SeekTo, TopicPartition};

const TOPIC: &str = "kfk-demo";
const PARTITIONS: i32 = 3;
const VALUE_SIZE: usize = 100;
/// Sequential send-and-wait round trips timed for the latency figures.
const ROUND_TRIPS: usize = 1_000;

/// Runs the demo and prints what it measured: as text, or with `json`
/// one object (`bootstrap`, `produced` and `consumed` as `{records,
/// seconds, records_per_sec, mb_per_sec}`, `round_trip` as `{count,
/// p50_us, p99_us}`).
pub async fn run(messages: u64, json: bool) -> Result<(), String> {
    let mock = kafka_mock::MockCluster::builder()
        .brokers(3)
        .port(0)
        .build()
        .map_err(|e| format!("cannot start the mock cluster: {e}"))?;
    if !json {
        println!("mock cluster: 3 brokers at {}", mock.bootstrap());
    }
    let mut config = Config::new(
        kafka_tokio::BrokerAddr::parse_list(&mock.bootstrap()).map_err(|e| e.to_string())?,
    );
    config.api_timeout = Duration::from_secs(30);
    let client = Client::connect(config).await.map_err(crate::error_line)?;
    client
        .create_topic(NewTopic::new(TOPIC, PARTITIONS, 1))
        .await
        .map_err(crate::error_line)?;

    // Produce: pipelined sends, then every report.
    let value = bytes::Bytes::from(vec![b'x'; VALUE_SIZE]);
    let producer = client.producer();
    let started = Instant::now();
    let mut pending = std::collections::VecDeque::new();
    for i in 0..messages {
        let record = ProducerRecord::new(TOPIC)
            .with_key(i.to_string())
            .with_value(value.clone());
        pending.push_back(producer.send(record).await.map_err(crate::error_line)?);
        if pending.len() >= 50_000 {
            if let Some(d) = pending.pop_front() {
                d.await.map_err(crate::error_line)?;
            }
        }
    }
    for d in pending {
        d.await.map_err(crate::error_line)?;
    }
    let produced = report("produced", messages, started.elapsed(), json);

    // Consume everything back from the beginning.
    let mut consumer = client.consumer().map_err(crate::error_line)?;
    let tps: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(TOPIC, p))
        .collect();
    consumer
        .assign(tps.clone())
        .await
        .map_err(crate::error_line)?;
    for tp in tps {
        consumer
            .seek(tp, SeekTo::Earliest)
            .await
            .map_err(crate::error_line)?;
    }
    let started = Instant::now();
    let mut got = 0u64;
    while got < messages {
        let next = tokio::time::timeout(Duration::from_secs(30), next_record(&mut consumer))
            .await
            .map_err(|_| format!("no record for 30 s after {got} of {messages}"))?;
        match next {
            Some(Ok(_)) => got += 1,
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("the consumer stopped".into()),
        }
    }
    let consumed = report("consumed", got, started.elapsed(), json);

    // Round trips: one record at a time, each waiting for its ack, on a
    // client that does not linger (waiting for more records is pointless
    // when the caller sends one and waits).
    client.close().await;
    let mut config = Config::new(
        kafka_tokio::BrokerAddr::parse_list(&mock.bootstrap()).map_err(|e| e.to_string())?,
    );
    config.producer.linger = Duration::ZERO;
    let client = Client::connect(config).await.map_err(crate::error_line)?;
    let producer = client.producer();
    let mut times = Vec::with_capacity(ROUND_TRIPS);
    for _ in 0..ROUND_TRIPS {
        let t = Instant::now();
        producer
            .send(
                ProducerRecord::new(TOPIC)
                    .with_partition(0)
                    .with_value(value.clone()),
            )
            .await
            .map_err(crate::error_line)?
            .await
            .map_err(crate::error_line)?;
        times.push(t.elapsed());
    }
    times.sort();
    let pct = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    if json {
        println!(
            "{}",
            serde_json::json!({
                "bootstrap": mock.bootstrap(),
                "produced": produced,
                "consumed": consumed,
                "round_trip": {
                    "count": ROUND_TRIPS,
                    "p50_us": pct(50).as_micros() as u64,
                    "p99_us": pct(99).as_micros() as u64,
                },
            })
        );
    } else {
        println!(
            "round trip (send, wait for ack; linger 0), {ROUND_TRIPS} times: p50 {:?}, p99 {:?}",
            pct(50),
            pct(99)
        );
    }
    client.close().await;
    Ok(())
}

/// Prints one phase's figures (unless `json`) and returns them as JSON.
fn report(what: &str, n: u64, took: Duration, json: bool) -> serde_json::Value {
    let secs = took.as_secs_f64().max(1e-9);
    let rate = n as f64 / secs;
    let mb = (n as f64 * VALUE_SIZE as f64) / secs / 1e6;
    if !json {
        println!(
            "{what} {n} records of {VALUE_SIZE} bytes in {secs:.2} s: {rate:.0} msgs/s, {mb:.1} MB/s"
        );
    }
    serde_json::json!({
        "records": n,
        "seconds": secs,
        "records_per_sec": rate,
        "mb_per_sec": mb,
    })
}

async fn next_record(
    consumer: &mut kafka_tokio::Consumer,
) -> Option<Result<kafka_tokio::ConsumerRecord, kafka_tokio::Error>> {
    use futures_core::Stream;
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *consumer).poll_next(cx)).await
}
