//! The tokio client against the in-process mock cluster over real TCP.

mod common;

use std::time::Duration;

use kafka_mock::MockCluster;
use kafka_proto::ErrorCode;
use kafka_tokio::{BrokerAddr, Client, Config, Error, NewTopic};

fn mock(brokers: i32) -> MockCluster {
    MockCluster::builder()
        .brokers(brokers)
        .build()
        .expect("mock starts")
}

/// A one-broker mock reached through a proxy that can stop reading from
/// the client; the mock advertises the proxy's port.
fn mock_behind_proxy() -> (MockCluster, kafka_testkit::PausableProxy, u16) {
    let mock = mock(1);
    let proxy = kafka_testkit::PausableProxy::start(mock.brokers()[0].1).unwrap();
    let port = proxy.addr().port();
    mock.with(move |c| c.set_broker_port(0, port)).unwrap();
    (mock, proxy, port)
}

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("finished within 30 s")
}

#[tokio::test(flavor = "current_thread")]
async fn admin_round_trip_on_current_thread_runtime() {
    let mock = mock(3);
    within(async {
        let client = Client::bootstrap(&mock.bootstrap()).await.unwrap();
        client
            .create_topic(NewTopic::new("t1", 4, 1))
            .await
            .unwrap();
        let err = client
            .create_topic(NewTopic::new("t1", 4, 1))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::TopicAlreadyExists), "{err}");
        let md = client.metadata(["t1", "missing"]).await.unwrap();
        assert_eq!(md.topic("t1").unwrap().partitions.len(), 4);
        assert_eq!(
            md.topic("missing").unwrap().error,
            ErrorCode::UnknownTopicOrPartition
        );
        assert_eq!(md.brokers().count(), 3);
        client.delete_topic("t1").await.unwrap();
        let all = client.metadata_all().await.unwrap();
        assert!(all.topic("t1").is_none());
        client.close().await;
        assert_eq!(client.metadata_all().await.unwrap_err(), Error::Closed);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_share_one_driver_on_multi_thread_runtime() {
    let mock = mock(1);
    within(async {
        let client = Client::bootstrap(&mock.bootstrap()).await.unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let c = client.clone();
                tokio::spawn(
                    async move { c.create_topic(NewTopic::new(format!("m{i}"), 1, 1)).await },
                )
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(client.metadata_all().await.unwrap().topics().count(), 8);
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn unreachable_bootstrap_fails_within_the_api_timeout() {
    // A port nobody listens on: bind, learn the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = Config::new([BrokerAddr::new("127.0.0.1", port)]);
    config.api_timeout = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let err = within(Client::connect(config)).await.unwrap_err();
    assert_eq!(err, Error::Request(kafka_state::RequestError::Timeout));
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test(flavor = "current_thread")]
async fn invalid_arguments_are_typed_errors() {
    let mock = mock(1);
    within(async {
        let client = Client::bootstrap(&mock.bootstrap()).await.unwrap();
        let err = client
            .create_topic(NewTopic::new("", 1, 1))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Misuse(_)), "{err}");
        let err = client
            .create_topic(NewTopic::new("ok", 0, 1))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Misuse(_)), "{err}");
        assert!(matches!(
            Client::bootstrap("no-port").await.unwrap_err(),
            Error::Misuse(_)
        ));
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn produce_many_records_with_keys_in_order() {
    let mock = mock(3);
    within(async {
        let client = Client::bootstrap(&mock.bootstrap()).await.unwrap();
        client.create_topic(NewTopic::new("p", 4, 1)).await.unwrap();
        let producer = client.producer();
        let mut futures = Vec::new();
        for i in 0..5_000u32 {
            let record = kafka_tokio::ProducerRecord::new("p")
                .with_key(format!("key-{}", i % 17))
                .with_value(format!("value-{i}"));
            futures.push(producer.send(record).await.unwrap());
        }
        let mut last: std::collections::HashMap<i32, i64> = Default::default();
        let mut per_key: std::collections::HashMap<u32, i32> = Default::default();
        for (i, f) in futures.into_iter().enumerate() {
            let report = f.await.unwrap();
            // Offsets grow per partition in send order.
            let prev = last.insert(report.partition, report.offset);
            assert!(prev.is_none_or(|p| p < report.offset), "{report:?}");
            // A key always lands on the same partition.
            let key = i as u32 % 17;
            assert_eq!(
                *per_key.entry(key).or_insert(report.partition),
                report.partition
            );
            assert!(report.timestamp > 0);
        }
        let total: i64 = (0..4)
            .map(|p| mock.partition_offsets("p", p).unwrap().1)
            .sum();
        assert_eq!(total, 5_000);
        client.close().await;
    })
    .await;
}

/// Senders waiting for room in parallel all get through, each in its own
/// order; after a close, a send is refused.
#[tokio::test(flavor = "current_thread")]
async fn senders_waiting_for_room_all_get_through() {
    let mock = mock(1);
    within(async {
        let mut config =
            Config::new(kafka_tokio::BrokerAddr::parse_list(&mock.bootstrap()).unwrap());
        config.producer.buffer_memory = 16 * 1024;
        config.producer.batch_size = 4 * 1024;
        let client = Client::connect(config).await.unwrap();
        client
            .create_topic(NewTopic::new("room", 1, 1))
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for t in 0..4u8 {
            let producer = client.producer();
            tasks.push(tokio::spawn(async move {
                // 100 KB each, not waiting for reports: the 16 KiB buffer
                // makes every sender wait for room again and again.
                let mut futures = Vec::new();
                for _ in 0..200 {
                    let r = kafka_tokio::ProducerRecord::new("room").with_value(vec![t; 500]);
                    futures.push(producer.send(r).await.unwrap());
                }
                let mut last = -1;
                for f in futures {
                    let d = f.await.unwrap();
                    assert!(d.offset > last, "one sender's records stay in order");
                    last = d.offset;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(mock.partition_offsets("room", 0).unwrap().1, 800);

        client.close().await;
        let late = client
            .producer()
            .send(kafka_tokio::ProducerRecord::new("room").with_value(vec![0; 500]))
            .await;
        assert!(matches!(late, Err(Error::Closed)), "{late:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_makes_send_wait_not_fail() {
    let mock = mock(1);
    within(async {
        let mut config =
            Config::new(kafka_tokio::BrokerAddr::parse_list(&mock.bootstrap()).unwrap());
        config.producer.buffer_memory = 64 * 1024;
        config.producer.batch_size = 16 * 1024;
        let client = Client::connect(config).await.unwrap();
        client
            .create_topic(NewTopic::new("bp", 1, 1))
            .await
            .unwrap();
        let producer = client.producer();
        let value = vec![7u8; 1000];
        // 2 MB through a 64 KiB buffer.
        let reports = producer
            .send_batch(
                (0..2_000)
                    .map(|_| kafka_tokio::ProducerRecord::new("bp").with_value(value.clone())),
            )
            .await;
        for (i, r) in reports.into_iter().enumerate() {
            assert_eq!(r.unwrap().offset, i as i64);
        }
        producer.flush().await.unwrap();
        assert_eq!(mock.partition_offsets("bp", 0).unwrap().1, 2_000);
    })
    .await;
}

/// Two `send_many` batches in flight at once on a current-thread runtime,
/// through a buffer smaller than either: each resolves to its reports in
/// send order, a bad record among them gets its own error, and a batch
/// sent after the close says so for every record.
#[tokio::test(flavor = "current_thread")]
async fn send_many_batches_pipeline_through_a_small_buffer() {
    let mock = mock(1);
    within(async {
        let mut config =
            Config::new(kafka_tokio::BrokerAddr::parse_list(&mock.bootstrap()).unwrap());
        config.producer.buffer_memory = 32 * 1024;
        let client = Client::connect(config).await.unwrap();
        client
            .create_topic(NewTopic::new("many", 1, 1))
            .await
            .unwrap();
        let producer = client.producer();
        let value = bytes::Bytes::from(vec![3u8; 300]);
        let record = |i: usize| {
            let r = kafka_tokio::ProducerRecord::new("many").with_value(value.clone());
            if i == 700 {
                r.with_partition(-1)
            } else {
                r
            }
        };
        let first = producer.send_many((0..1_500).map(record)).await;
        let second = producer.send_many((0..1_500).map(|_| record(0))).await;
        assert_eq!((first.len(), second.len()), (1_500, 1_500));
        let (first, second) = (first.await, second.await);
        let mut offset = 0;
        for (i, r) in first.into_iter().enumerate() {
            if i == 700 {
                assert!(matches!(r, Err(Error::InvalidRecord(_))), "{r:?}");
            } else {
                assert_eq!(r.unwrap().offset, offset);
                offset += 1;
            }
        }
        for r in second {
            assert_eq!(r.unwrap().offset, offset);
            offset += 1;
        }
        assert_eq!(mock.partition_offsets("many", 0).unwrap().1, 2_999);
        client.close().await;
        let late = producer
            .send_many((0..3).map(|_| kafka_tokio::ProducerRecord::new("many")))
            .await
            .await;
        assert!(
            late.iter().all(|r| matches!(r, Err(Error::Closed))),
            "{late:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn bad_records_are_refused_with_typed_errors() {
    let mock = mock(1);
    within(async {
        let client = Client::bootstrap(&mock.bootstrap()).await.unwrap();
        let producer = client.producer();
        let err = producer
            .send(kafka_tokio::ProducerRecord::new(""))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidRecord(_)), "{err}");
        let err = producer
            .send(kafka_tokio::ProducerRecord::new("t").with_partition(-1))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidRecord(_)), "{err}");
        let err = producer
            .send(kafka_tokio::ProducerRecord::new("t").with_value(vec![0u8; 2 << 20]))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidRecord(_)), "{err}");
        // Flushing with nothing pending returns at once.
        producer.flush().await.unwrap();
    })
    .await;
}

async fn next_record(
    consumer: &mut kafka_tokio::Consumer,
) -> Option<Result<kafka_tokio::ConsumerRecord, Error>> {
    use futures_core::Stream;
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *consumer).poll_next(cx)).await
}

#[tokio::test(flavor = "current_thread")]
async fn consume_what_was_produced_exactly_once_in_order() {
    use kafka_tokio::{OffsetSpec, SeekTo, TopicPartition};
    let mock = mock(3);
    within(async {
        let client = Client::bootstrap(&mock.bootstrap()).await.unwrap();
        client.create_topic(NewTopic::new("c", 3, 1)).await.unwrap();
        let sent = client
            .producer()
            .send_batch((0..3_000).map(|i| {
                kafka_tokio::ProducerRecord::new("c")
                    .with_key(format!("k{}", i % 13))
                    .with_value(format!("v{i}"))
                    .with_header("i", Some(i.to_string().into()))
            }))
            .await;
        assert!(sent.failed() == 0);

        let mut consumer = client.consumer().unwrap();
        let tps = consumer.assign_topic("c").await.unwrap();
        for tp in &tps {
            consumer.seek(tp.clone(), SeekTo::Earliest).await.unwrap();
        }
        let mut seen = std::collections::HashMap::<i32, i64>::new();
        let mut values = std::collections::HashSet::new();
        while values.len() < 3_000 {
            let r = next_record(&mut consumer).await.unwrap().unwrap();
            let next = seen.entry(r.partition).or_insert(0);
            assert_eq!(r.offset, *next, "in order, no gaps, no repeats");
            *next += 1;
            let v = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
            let i: u32 = v[1..].parse().unwrap();
            assert_eq!(r.headers.last("i"), Some(Some(i.to_string().into())));
            assert!(values.insert(v));
        }
        let latest = consumer
            .offsets(tps.clone(), OffsetSpec::Latest)
            .await
            .unwrap();
        let total: i64 = latest
            .values()
            .map(|o| o.as_ref().unwrap().offset.unwrap())
            .sum();
        assert_eq!(total, 3_000);
        for tp in &tps {
            assert_eq!(consumer.lag(tp.clone()).await.unwrap(), Some(0));
            assert_eq!(
                consumer.position(tp.clone()).await.unwrap(),
                Some(seen[&tp.partition])
            );
        }
        // Unknown topics and unassigned partitions are typed errors.
        assert!(consumer.assign_topic("nope").await.is_err());
        assert!(consumer
            .seek(TopicPartition::new("other", 0), SeekTo::Offset(0))
            .await
            .is_err());
        client.close().await;
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_seek_mid_stream_takes_effect_at_the_next_record() {
    use kafka_tokio::{SeekTo, TopicPartition};
    let mock = mock(1);
    within(async {
        let client = Client::bootstrap(&mock.bootstrap()).await.unwrap();
        client.create_topic(NewTopic::new("s", 1, 1)).await.unwrap();
        let sent = client
            .producer()
            .send_batch(
                (0..1_000)
                    .map(|i| kafka_tokio::ProducerRecord::new("s").with_value(format!("{i}"))),
            )
            .await;
        assert!(sent.failed() == 0);
        let tp = TopicPartition::new("s", 0);
        let mut consumer = client.consumer().unwrap();
        consumer.assign([tp.clone()]).await.unwrap();
        consumer.seek(tp.clone(), SeekTo::Offset(0)).await.unwrap();
        for expect in 0..10 {
            assert_eq!(
                next_record(&mut consumer).await.unwrap().unwrap().offset,
                expect
            );
        }
        // The stream holds later records already; a seek drops them.
        consumer
            .seek(tp.clone(), SeekTo::Offset(500))
            .await
            .unwrap();
        assert_eq!(
            next_record(&mut consumer).await.unwrap().unwrap().offset,
            500
        );
        consumer.seek(tp.clone(), SeekTo::Offset(3)).await.unwrap();
        assert_eq!(next_record(&mut consumer).await.unwrap().unwrap().offset, 3);
        assert_eq!(next_record(&mut consumer).await.unwrap().unwrap().offset, 4);
    })
    .await;
}

/// With acks=0 and a broker that stops reading, senders are held back by
/// `buffer_memory` instead of piling requests up in the client; once the
/// broker reads again, every accepted record arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_zero_senders_are_held_back_by_a_backed_up_socket() {
    let (mock, proxy, proxy_port) = mock_behind_proxy();
    within(async {
        let mut config = Config::new([BrokerAddr::new("127.0.0.1", proxy_port)]);
        config.producer.acks = kafka_tokio::Acks::None;
        config.producer.enable_idempotence = false;
        config.producer.buffer_memory = 1 << 20;
        let client = Client::connect(config).await.unwrap();
        client.create_topic(NewTopic::new("z", 1, 1)).await.unwrap();
        let producer = client.producer();
        proxy.pause(true);
        // 10 KB records until a send has waited 500 ms for room.
        let value = bytes::Bytes::from(vec![7u8; 10_000]);
        let mut accepted = 0u64;
        loop {
            let send =
                producer.send(kafka_tokio::ProducerRecord::new("z").with_value(value.clone()));
            match tokio::time::timeout(Duration::from_millis(500), send).await {
                Ok(f) => {
                    drop(f.unwrap());
                    accepted += 1;
                    assert!(
                        accepted < 5_000,
                        "50 MB accepted while the broker reads nothing"
                    );
                }
                Err(_) => break,
            }
        }
        // The 1 MiB buffer, the driver's 2 MiB backlog limit and the
        // kernel's socket buffers: a few thousand at most.
        assert!(accepted > 50, "{accepted}");
        proxy.pause(false);
        producer.flush().await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while mock.partition_offsets("z", 0).unwrap().1 < accepted as i64 {
            assert!(tokio::time::Instant::now() < deadline, "records arrive");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(mock.partition_offsets("z", 0).unwrap().1, accepted as i64);
    })
    .await;
}

/// A response handled by a socket's reader that schedules something
/// sooner than the driver's timer (here a produce retry after its
/// backoff) wakes the driver: the retry goes after the backoff, not at the
/// next unrelated timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_scheduled_by_a_response_goes_after_its_backoff() {
    let mock = mock(1);
    within(async {
        let mut config = Config::new(BrokerAddr::parse_list(&mock.bootstrap()).unwrap());
        config.producer.retry_backoff = Duration::from_millis(50);
        let client = Client::connect(config).await.unwrap();
        client.create_topic(NewTopic::new("r", 1, 1)).await.unwrap();
        let producer = client.producer();
        let record = || kafka_tokio::ProducerRecord::new("r").with_value(b"v".to_vec());
        producer.send(record()).await.unwrap().await.unwrap();
        mock.inject_error(
            kafka_proto::ApiKey::Produce,
            ErrorCode::NotEnoughReplicas,
            1,
        );
        let started = std::time::Instant::now();
        let report = producer.send(record()).await.unwrap().await.unwrap();
        assert_eq!(report.offset, 1);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "the retry waited {took:?}");
        client.close().await;
    })
    .await;
}

/// Against a broker that answers acks=0 produce requests (Tansu does;
/// Kafka never does), the answers are skipped: the stream stays on one
/// connection and every record arrives. Failing the connection instead
/// dropped whatever was still queued behind the answered request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_to_acks_zero_produce_requests_are_skipped() {
    let mock = MockCluster::builder()
        .brokers(1)
        .record_requests(true)
        .build()
        .unwrap();
    mock.set_answer_acks_zero(true);
    within(async {
        let mut config = Config::new(BrokerAddr::parse_list(&mock.bootstrap()).unwrap());
        config.producer.acks = kafka_tokio::Acks::None;
        config.producer.enable_idempotence = false;
        config.producer.batch_size = 16 * 1024;
        let client = Client::connect(config).await.unwrap();
        client
            .create_topic(NewTopic::new("z0", 1, 1))
            .await
            .unwrap();
        let producer = client.producer();
        // In rounds, with a pause for the broker's answers to come back
        // before the next round is sent.
        for round in 0..5 {
            let mut pending = Vec::new();
            for i in 0..1_000 {
                let v = format!("{round}-{i:0100}");
                let r = kafka_tokio::ProducerRecord::new("z0").with_value(v);
                pending.push(producer.send(r).await.unwrap());
            }
            producer.flush().await.unwrap();
            for p in pending {
                p.await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while mock.partition_offsets("z0", 0).unwrap().1 < 5_000 {
            assert!(std::time::Instant::now() < deadline, "records arrive");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let produce: Vec<_> = mock
            .recorded_requests()
            .into_iter()
            .filter(|r| r.header.request_api_key == kafka_proto::ApiKey::Produce.id())
            .collect();
        assert!(produce.len() > 10, "{} requests", produce.len());
        let conns: std::collections::HashSet<_> = produce.iter().map(|r| r.conn).collect();
        assert_eq!(conns.len(), 1, "one connection for the whole stream");
        client.close().await;
    })
    .await;
}

/// acks=0 records count as sent once the client took their bytes, so
/// `flush` can return while they still wait for a backed-up socket;
/// `close` writes them out before closing (it used to drop them), even
/// with the broker's unwanted answers to read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_writes_out_acks_zero_records_a_slow_socket_still_holds() {
    let (mock, proxy, proxy_port) = mock_behind_proxy();
    mock.set_answer_acks_zero(true);
    within(async {
        let mut config = Config::new([BrokerAddr::new("127.0.0.1", proxy_port)]);
        config.producer.acks = kafka_tokio::Acks::None;
        config.producer.enable_idempotence = false;
        let client = Client::connect(config).await.unwrap();
        client.create_topic(NewTopic::new("c", 1, 1)).await.unwrap();
        let producer = client.producer();
        // The topic's metadata first: asked for while the proxy is paused,
        // it would hold every record back.
        let first = kafka_tokio::ProducerRecord::new("c").with_value(b"first".to_vec());
        producer.send(first).await.unwrap().await.unwrap();
        proxy.pause(true);
        // 4 MB: more than the socket buffers take, less than the limits
        // that would hold the sender back.
        const TOTAL: i64 = 4_000;
        let value = bytes::Bytes::from(vec![3u8; 1_000]);
        let mut pending = Vec::new();
        for _ in 0..TOTAL {
            let r = kafka_tokio::ProducerRecord::new("c").with_value(value.clone());
            pending.push(producer.send(r).await.unwrap());
        }
        producer.flush().await.unwrap();
        for p in pending {
            p.await.unwrap();
        }
        let closing = tokio::spawn({
            let client = client.clone();
            async move { client.close().await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!closing.is_finished(), "close waits for the socket");
        proxy.pause(false);
        closing.await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while mock.partition_offsets("c", 0).unwrap().1 < TOTAL + 1 {
            assert!(std::time::Instant::now() < deadline, "records arrive");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// A batch that passes its CRC but fails to decode while the stream hands
/// out records (it inflates past the decompression bound): the records
/// before it are yielded, then one error naming the partition and the bad
/// record's offset; a seek past the batch carries on.
#[tokio::test(flavor = "current_thread")]
async fn the_stream_yields_the_records_before_a_batch_that_fails_to_decode() {
    use kafka_tokio::{Compression, ProducerRecord, SeekTo, TopicPartition};
    let mock = mock(1);
    within(async {
        let config = |tune: &dyn Fn(&mut Config)| {
            let mut c = Config::new(BrokerAddr::parse_list(&mock.bootstrap()).unwrap());
            tune(&mut c);
            c
        };
        let plain = Client::connect(config(&|_| {})).await.unwrap();
        plain
            .create_topic(NewTopic::new("dmg", 1, 1))
            .await
            .unwrap();
        let packed = Client::connect(config(&|c| {
            c.producer.compression = Compression::Lz4;
            c.producer.linger = Duration::from_millis(200);
        }))
        .await
        .unwrap();
        async fn send_all(client: &Client, values: Vec<Vec<u8>>) {
            let producer = client.producer();
            let mut acks = Vec::new();
            for v in values {
                let record = ProducerRecord::new("dmg").with_partition(0).with_value(v);
                acks.push(producer.send(record).await.unwrap());
            }
            producer.flush().await.unwrap();
            for ack in acks {
                ack.await.unwrap();
            }
        }
        // Offsets 0-1 plain, 2-51 one lz4 batch inflating to 50 KB, 52 plain.
        send_all(&plain, vec![b"a".to_vec(), b"b".to_vec()]).await;
        send_all(&packed, vec![vec![b'z'; 1000]; 50]).await;
        send_all(&plain, vec![b"c".to_vec()]).await;

        let reader = Client::connect(config(&|c| c.consumer.max_decompressed_size = 4096))
            .await
            .unwrap();
        let mut consumer = reader.consumer().unwrap();
        let tp = TopicPartition::new("dmg", 0);
        consumer.assign([tp.clone()]).await.unwrap();
        consumer.seek(tp.clone(), SeekTo::Earliest).await.unwrap();
        for want in [0, 1] {
            let r = next_record(&mut consumer).await.unwrap().unwrap();
            assert_eq!(r.offset, want);
        }
        match next_record(&mut consumer).await.unwrap() {
            Err(Error::Fetch {
                partition, offset, ..
            }) => {
                assert_eq!(partition, tp);
                assert_eq!(offset, 2, "the bad batch's first record");
            }
            other => panic!("expected a fetch error, got {other:?}"),
        }
        consumer.seek(tp, SeekTo::Offset(52)).await.unwrap();
        let r = next_record(&mut consumer).await.unwrap().unwrap();
        assert_eq!((r.offset, r.value.as_deref()), (52, Some(&b"c"[..])));
    })
    .await;
}

/// A client hands out one consumer at a time, and a record the stream
/// yields counts as consumed (what a commit would cover) without a call;
/// with automatic storing off, only what the application stores counts.
#[tokio::test(flavor = "current_thread")]
async fn one_consumer_at_a_time_and_yielded_records_count_as_consumed() {
    use kafka_tokio::{SeekTo, TopicPartition};
    let mock = mock(1);
    within(async {
        let client = Client::bootstrap(&mock.bootstrap()).await.unwrap();
        client.create_topic(NewTopic::new("s", 1, 1)).await.unwrap();
        let sent = client
            .producer()
            .send_batch(
                (0..20).map(|i| kafka_tokio::ProducerRecord::new("s").with_value(format!("{i}"))),
            )
            .await;
        assert!(sent.failed() == 0);
        let tp = TopicPartition::new("s", 0);

        let mut consumer = client.consumer().unwrap();
        assert_eq!(client.consumer().unwrap_err(), Error::ConsumerInUse);
        consumer.assign([tp.clone()]).await.unwrap();
        consumer.seek(tp.clone(), SeekTo::Earliest).await.unwrap();
        assert_eq!(consumer.consumed(&tp).await.unwrap(), None);
        for want in 0..7 {
            let r = next_record(&mut consumer).await.unwrap().unwrap();
            assert_eq!(r.offset, want);
        }
        // The stream took a whole batch from the core; only what it
        // yielded counts.
        let consumed = consumer.consumed(&tp).await.unwrap().unwrap();
        assert_eq!(consumed.offset, 7);
        assert_eq!(consumer.position(tp.clone()).await.unwrap(), Some(20));
        drop(consumer);

        // Another consumer may come once the first is gone.
        let mut again = client.consumer().unwrap();
        drop(again.assign([]).await);
        drop(again);

        let mut config = Config::new(BrokerAddr::parse_list(&mock.bootstrap()).unwrap());
        config.consumer.enable_auto_offset_store = false;
        let manual = Client::connect(config).await.unwrap();
        let mut consumer = manual.consumer().unwrap();
        consumer.assign([tp.clone()]).await.unwrap();
        consumer.seek(tp.clone(), SeekTo::Earliest).await.unwrap();
        let mut kept = None;
        for want in 0..5 {
            let r = next_record(&mut consumer).await.unwrap().unwrap();
            assert_eq!(r.offset, want);
            if want == 2 {
                kept = Some(r);
            }
        }
        assert_eq!(consumer.consumed(&tp).await.unwrap(), None);
        consumer.store_offset(&kept.unwrap()).unwrap();
        assert_eq!(consumer.consumed(&tp).await.unwrap().unwrap().offset, 3);
    })
    .await;
}

#[tokio::test]
async fn consumer_group_shares_and_hands_over_on_the_mock() {
    let mock = mock(3);
    let broker = common::Broker {
        bootstrap: mock.bootstrap(),
        replication: 1,
        exact_latest: true,
        prefix: String::new(),
    };
    common::consumer_group_shares_and_hands_over(&broker).await;
}

#[tokio::test]
async fn consume_transform_produce_exactly_once_on_the_mock() {
    let mock = mock(3);
    let broker = common::Broker {
        bootstrap: mock.bootstrap(),
        replication: 1,
        exact_latest: true,
        prefix: String::new(),
    };
    common::consume_transform_produce(&broker).await;
}

/// With auto-commit off and `await_revoke`, member A's stream yields
/// `Error::Revoking` when B joins; A commits what it read and lets the
/// revoke go on. B starts every partition it gets exactly at A's commit,
/// and no record is read twice.
#[tokio::test]
async fn a_member_commits_in_its_revoke_window_and_the_next_owner_starts_there() {
    use kafka_tokio::{AutoOffsetReset, ProducerRecord, Rebalance, TopicPartition};
    use std::collections::{BTreeMap, HashMap, HashSet};
    use std::sync::{Arc, Mutex};

    const N: usize = 400;
    let mock = mock(3);
    let bootstrap = mock.bootstrap();
    let topic = "revoke-window";
    let admin = Client::connect(Config::bootstrap(&bootstrap).unwrap())
        .await
        .unwrap();
    admin
        .create_topic(NewTopic::new(topic, 4, 1))
        .await
        .unwrap();
    let produce = |from: usize, to: usize| {
        let producer = admin.producer();
        async move {
            let reports = producer
                .send_batch((from..to).map(|i| {
                    ProducerRecord::new(topic)
                        .with_partition((i % 4) as i32)
                        .with_value(i.to_string())
                }))
                .await;
            assert!(reports.failed() == 0);
        }
    };
    produce(0, N / 2).await;
    let member = || async {
        let mut config = Config::bootstrap(&bootstrap).unwrap();
        let mut group = common::group_config("revoke-window-g");
        group.await_revoke = true;
        config.group = Some(group);
        config.consumer.auto_offset_reset = AutoOffsetReset::Earliest;
        Client::connect(config).await.unwrap()
    };

    // A alone reads the first half and commits nothing.
    let a_client = member().await;
    let mut a = a_client.consumer().unwrap();
    let a_log = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&a_log);
    a.on_rebalance(move |r| log.lock().unwrap().push(r));
    a.subscribe([topic]).await.unwrap();
    let mut read: Vec<(i32, i64)> = Vec::new();
    while read.len() < N / 2 {
        let r = common::next_in_time(&mut a).await;
        read.push((r.partition, r.offset));
    }

    // B joins; A commits in its revoke window.
    let b_client = member().await;
    let mut b = b_client.consumer().unwrap();
    b.subscribe([topic]).await.unwrap();
    let mut produced = false;
    let mut window: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    let mut windows = 0;
    let mut b_first: HashMap<i32, i64> = HashMap::new();
    tokio::time::timeout(Duration::from_secs(90), async {
        loop {
            tokio::select! {
                r = common::next_record(&mut a) => match r.expect("A's stream goes on") {
                    Ok(r) => read.push((r.partition, r.offset)),
                    Err(Error::Revoking(partitions)) => {
                        assert!(!partitions.is_empty());
                        let committed = a.commit().await.expect("the commit in the window goes through");
                        window.extend(committed.into_iter().map(|(tp, o)| (tp, o.offset)));
                        windows += 1;
                        a.revoke_done().unwrap();
                    }
                    Err(e) => panic!("A: {e}"),
                },
                r = common::next_record(&mut b) => {
                    let r = r.expect("B's stream goes on").unwrap();
                    b_first.entry(r.partition).or_insert(r.offset);
                    read.push((r.partition, r.offset));
                }
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            let shared = !a.assignment().unwrap().is_empty() && !b.assignment().unwrap().is_empty();
            // The second half once the two share: B reads its part of it.
            if shared && !produced {
                produce(N / 2, N).await;
                produced = true;
            }
            if produced && read.len() >= N {
                break;
            }
        }
    })
    .await
    .expect("A and B share the topic and read every record");
    let distinct: HashSet<(i32, i64)> = read.iter().copied().collect();
    assert_eq!(distinct.len(), read.len(), "a record was read twice");
    assert_eq!(distinct.len(), N);
    assert!(windows >= 1, "A never saw its revoke window");
    let log = a_log.lock().unwrap().clone();
    let revoking = log.iter().position(|r| matches!(r, Rebalance::Revoking(_)));
    let revoked = log.iter().position(|r| matches!(r, Rebalance::Revoked(_)));
    assert!(revoking.is_some() && revoking < revoked, "{log:?}");
    assert!(!b_first.is_empty());
    for (p, first) in &b_first {
        let tp = TopicPartition::new(topic, *p);
        assert_eq!(
            Some(first),
            window.get(&tp),
            "B's first record of {tp}; A committed {window:?}"
        );
    }
    drop(a);
    a_client.close().await;
    drop(b);
    b_client.close().await;
    admin.close().await;
}

fn mock_broker(mock: &MockCluster) -> common::Broker {
    common::Broker {
        bootstrap: mock.bootstrap(),
        replication: 1,
        exact_latest: true,
        prefix: String::new(),
    }
}

#[tokio::test]
async fn configs_on_the_mock() {
    let mock = mock(3);
    within(common::configs(&mock_broker(&mock))).await;
}

#[tokio::test]
async fn partitions_on_the_mock() {
    let mock = mock(3);
    within(common::partitions(&mock_broker(&mock))).await;
}

#[tokio::test]
async fn delete_records_on_the_mock() {
    let mock = mock(3);
    within(common::delete_records(&mock_broker(&mock))).await;
}

#[tokio::test]
async fn cluster_on_the_mock() {
    let mock = mock(3);
    within(common::cluster(&mock_broker(&mock))).await;
}

/// Retriable answers are asked again: a leader that moved (the records
/// follow it after fresh metadata), a controller not ready, a broker
/// resource busy; a final error stays with its own item.
#[tokio::test]
async fn admin_retries_retriable_errors_per_item_on_the_mock() {
    use kafka_mock::ErrorInjection;
    use kafka_proto::ApiKey;
    use kafka_tokio::{ConfigResource, NewPartitions, TopicPartition};
    let mock = mock(3);
    within(async {
        let mut config = Config::new(BrokerAddr::parse_list(&mock.bootstrap()).unwrap());
        config.retry_backoff = Duration::from_millis(20);
        let client = Client::connect(config).await.unwrap();
        client.create_topic(NewTopic::new("r", 3, 1)).await.unwrap();
        let reports = client
            .producer()
            .send_batch((0..30).map(|i| {
                kafka_tokio::ProducerRecord::new("r")
                    .with_partition(i % 3)
                    .with_value(b"v".to_vec())
            }))
            .await;
        assert!(reports.failed() == 0);
        // The client's metadata says partition 0 is on its old leader.
        let md = client.metadata(["r"]).await.unwrap();
        let old = md.leader_for("r", 0).unwrap();
        mock.move_leader("r", 0, (old + 1) % 3).unwrap();
        mock.inject(
            ErrorInjection::new(ApiKey::DeleteRecords, ErrorCode::NotLeaderOrFollower, 2)
                .on_partition("r", 1),
        );
        mock.inject(
            ErrorInjection::new(ApiKey::DeleteRecords, ErrorCode::PolicyViolation, 1)
                .on_partition("r", 2),
        );
        let tp = |p| TopicPartition::new("r", p);
        let done = client
            .delete_records([(tp(0), 5), (tp(1), 6), (tp(2), 7)].into_iter().collect())
            .await
            .unwrap();
        assert_eq!(done[&tp(0)], Ok(5));
        assert_eq!(done[&tp(1)], Ok(6));
        assert_eq!(done[&tp(2)], Err(ErrorCode::PolicyViolation));

        mock.inject_error(ApiKey::CreatePartitions, ErrorCode::NotController, 1);
        let o = client
            .create_partitions([NewPartitions::new("r", 5)], false)
            .await
            .unwrap();
        assert_eq!(o[0].error, ErrorCode::None, "{o:?}");

        mock.inject(
            ErrorInjection::new(ApiKey::DescribeConfigs, ErrorCode::RequestTimedOut, 1)
                .on_broker(1),
        );
        let d = client
            .describe_configs(
                [
                    ConfigResource::Broker(1),
                    ConfigResource::Broker(2),
                    ConfigResource::Broker(7),
                ],
                false,
            )
            .await
            .unwrap();
        assert_eq!(d[0].error, ErrorCode::None, "{:?}", d[0]);
        assert!(d[0]
            .entries
            .iter()
            .any(|e| e.name == "broker.id" && e.value.as_deref() == Some("1")));
        assert!(d[1]
            .entries
            .iter()
            .any(|e| e.name == "broker.id" && e.value.as_deref() == Some("2")));
        assert_eq!(d[2].error, ErrorCode::BrokerNotAvailable);

        // Refused as a whole: the code comes back as an error.
        mock.inject_error(
            ApiKey::DescribeCluster,
            ErrorCode::ClusterAuthorizationFailed,
            1,
        );
        let err = client.describe_cluster(false).await.unwrap_err();
        assert_eq!(
            err.code(),
            Some(ErrorCode::ClusterAuthorizationFailed),
            "{err}"
        );
        client.close().await;
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn stats_count_what_was_sent_and_arrive_every_interval() {
    let mock = mock(1);
    within(async {
        let mut config = Config::bootstrap(&mock.bootstrap()).unwrap();
        config.stats_interval = Some(Duration::from_millis(100));
        let client = Client::connect(config).await.unwrap();
        let mut events = client.stats_events().unwrap();
        client
            .create_topic(NewTopic::new("stats", 2, 1))
            .await
            .unwrap();
        let producer = client.producer();
        let mut reports = Vec::new();
        for i in 0..50 {
            let record = kafka_tokio::ProducerRecord::new("stats")
                .with_partition(i % 2)
                .with_value(vec![b'x'; 200]);
            reports.push(producer.send(record).await.unwrap());
        }
        for r in reports {
            r.await.unwrap();
        }
        let s = client.stats().unwrap();
        assert_eq!(s.totals.records_delivered, 50);
        assert_eq!(s.totals.records_failed, 0);
        assert_eq!(s.totals.producer_records, 0);
        assert!(s.totals.bytes_sent > 50 * 200, "{s:?}");
        assert!(s.totals.responses_received >= 3, "{s:?}");
        let produce = s
            .brokers
            .iter()
            .find(|b| b.role == kafka_tokio::ConnRole::Producer)
            .expect("the producer's connection");
        assert_eq!(produce.state, kafka_tokio::ConnState::Ready);
        assert!(produce.rtt.is_some_and(|r| r.samples >= 1));
        // Snapshots are due every 100 ms from the client's start, and
        // each is taken when the driver wakes for it.
        let a = events.recv().await.unwrap();
        let b = events.recv().await.unwrap();
        assert!(b.age_us > a.age_us, "{} then {}", a.age_us, b.age_us);
        assert!(b.age_us >= 200_000, "{} then {}", a.age_us, b.age_us);
        client.close().await;
        // The stream ends with the client.
        while events.recv().await.is_some() {}
        assert_eq!(client.stats_events().unwrap_err(), Error::Closed);
    })
    .await;
}

/// Lending hands out what the stream would, in order, without a copy or
/// a count per record: every record once, breaking leaves the rest for
/// the next call (or the stream), lent records count as consumed, and a
/// record that fails to decode ends up as the stream's fetch error.
#[tokio::test(flavor = "current_thread")]
async fn lent_records_are_the_streams_records_and_count_as_consumed() {
    use kafka_tokio::{Compression, ProducerRecord, SeekTo, TopicPartition};
    use std::ops::ControlFlow;
    let mock = mock(1);
    within(async {
        let bootstrap = BrokerAddr::parse_list(&mock.bootstrap()).unwrap();
        let client = Client::bootstrap(&mock.bootstrap()).await.unwrap();
        client.create_topic(NewTopic::new("l", 1, 1)).await.unwrap();
        let sent = client
            .producer()
            .send_batch((0..500).map(|i| {
                ProducerRecord::new("l")
                    .with_key(format!("k{i}"))
                    .with_value(format!("v{i}"))
                    .with_header("i", Some(i.to_string().into()))
            }))
            .await;
        assert!(sent.failed() == 0);
        let tp = TopicPartition::new("l", 0);
        let mut consumer = client.consumer().unwrap();
        consumer.assign([tp.clone()]).await.unwrap();
        consumer.seek(tp.clone(), SeekTo::Earliest).await.unwrap();

        // Stop after 10, then take one from the stream, then lend the rest.
        let mut got = Vec::new();
        let lent = consumer
            .lend(|r| {
                got.push(r.to_record());
                if got.len() == 10 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .await
            .unwrap();
        assert_eq!(lent, 10);
        assert_eq!(consumer.consumed(&tp).await.unwrap().unwrap().offset, 10);
        got.push(next_record(&mut consumer).await.unwrap().unwrap());
        while got.len() < 500 {
            let before = got.len();
            let lent = consumer
                .lend(|r| {
                    assert_eq!((r.topic, r.partition), ("l", 0));
                    let i = r.offset.to_string();
                    assert_eq!(r.key, Some(format!("k{i}").as_bytes()));
                    assert_eq!(r.headers.last("i"), Some(Some(i.as_bytes())));
                    got.push(r.to_record());
                    ControlFlow::Continue(())
                })
                .await
                .unwrap();
            assert_eq!(lent, got.len() - before);
        }
        let offsets: Vec<i64> = got.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, (0..500).collect::<Vec<_>>());
        assert_eq!(
            got[499].value.as_deref(),
            Some(&b"v499"[..]),
            "the owned copy keeps the value"
        );
        assert_eq!(consumer.consumed(&tp).await.unwrap().unwrap().offset, 500);
        drop(consumer);

        // Damaged data: the records before it are lent, then the fetch
        // error names the bad record.
        let mut packed = Config::new(bootstrap.clone());
        packed.producer.compression = Compression::Lz4;
        packed.producer.linger = Duration::from_millis(200);
        let packed = Client::connect(packed).await.unwrap();
        let producer = packed.producer();
        let mut acks = Vec::new();
        for _ in 0..50 {
            let record = ProducerRecord::new("l").with_value(vec![b'z'; 1000]);
            acks.push(producer.send(record).await.unwrap());
        }
        producer.flush().await.unwrap();
        for ack in acks {
            ack.await.unwrap();
        }
        let mut small = Config::new(bootstrap);
        small.consumer.max_decompressed_size = 4096;
        let reader = Client::connect(small).await.unwrap();
        let mut consumer = reader.consumer().unwrap();
        consumer.assign([tp.clone()]).await.unwrap();
        consumer
            .seek(tp.clone(), SeekTo::Offset(495))
            .await
            .unwrap();
        let mut offsets = Vec::new();
        let err = loop {
            match consumer
                .lend(|r| {
                    offsets.push(r.offset);
                    ControlFlow::Continue(())
                })
                .await
            {
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        assert_eq!(offsets, [495, 496, 497, 498, 499]);
        match err {
            Error::Fetch {
                partition, offset, ..
            } => assert_eq!((partition, offset), (tp, 500)),
            other => panic!("expected a fetch error, got {other:?}"),
        }
    })
    .await;
}

/// Topic administration through this adapter on the mock: an explicit
/// assignment described as given, validate-only creating nothing, a bad
/// assignment refused by the broker for its topic only, deletion by id,
/// a stopped broker's replicas offline, and authorized operations when
/// asked.
#[tokio::test]
async fn topic_admin_on_the_mock() {
    use kafka_tokio::{AclOperation, Uuid};
    let mock = mock(3);
    within(async {
        let client = Client::bootstrap(&mock.bootstrap()).await.unwrap();
        let done = client
            .create_topics([
                NewTopic::assigned("placed", vec![vec![2, 1], vec![1, 0]]),
                NewTopic::assigned("nowhere", vec![vec![7]]),
            ])
            .await
            .unwrap();
        assert_eq!(done[0].error, ErrorCode::None, "{done:?}");
        assert_eq!(done[1].error, ErrorCode::InvalidReplicaAssignment);
        let checked = client
            .create_topics_validate([NewTopic::new("maybe", 2, 3)], true)
            .await
            .unwrap();
        assert_eq!(checked[0].error, ErrorCode::None, "{checked:?}");
        assert_eq!(checked[0].partitions, Some(2));
        let md = client
            .describe_topics(["placed", "maybe"], true)
            .await
            .unwrap();
        let placed = md.topic("placed").unwrap();
        assert_eq!(placed.partitions[0].replicas, vec![2, 1]);
        assert_eq!(placed.partitions[0].leader, Some(2));
        assert_eq!(placed.partitions[1].replicas, vec![1, 0]);
        let ops = placed.authorized_operations.clone().unwrap();
        assert!(ops.contains(&AclOperation::Read) && ops.contains(&AclOperation::Write));
        assert_eq!(
            md.topic("maybe").unwrap().error,
            ErrorCode::UnknownTopicOrPartition
        );
        mock.set_broker_up(1, false).unwrap();
        let md = client.metadata(["placed"]).await.unwrap();
        assert_eq!(md.partition("placed", 1).unwrap().offline_replicas, vec![1]);
        assert_eq!(md.topic("placed").unwrap().authorized_operations, None);
        let id = md.topic("placed").unwrap().id;
        let stranger = Uuid::from_u64_pair(9, 9);
        let gone = client.delete_topics_by_id([id, stranger]).await.unwrap();
        assert_eq!(gone[0].name.as_deref(), Some("placed"));
        assert_eq!(gone[0].error, ErrorCode::None);
        assert_eq!(gone[1].error, ErrorCode::UnknownTopicId);
        client.close().await;
    })
    .await;
}
