//! The blocking client against the in-process mock cluster over real TCP.

mod common;

use std::time::{Duration, Instant};

use kafka_blocking::{Client, Config, Error, NewTopic, ProducerRecord};
use kafka_mock::MockCluster;
use kafka_proto::ErrorCode;

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

#[test]
fn admin_round_trip() {
    let mock = mock(3);
    let client = Client::bootstrap(&mock.bootstrap()).unwrap();
    client.create_topic(NewTopic::new("t1", 4, 1)).unwrap();
    let err = client.create_topic(NewTopic::new("t1", 4, 1)).unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::TopicAlreadyExists), "{err}");
    assert!(err.to_string().contains("TOPIC_ALREADY_EXISTS"), "{err}");
    let md = client.metadata(["t1", "missing"]).unwrap();
    assert_eq!(md.topic("t1").unwrap().partitions.len(), 4);
    assert_eq!(
        md.topic("missing").unwrap().error,
        ErrorCode::UnknownTopicOrPartition
    );
    assert_eq!(md.brokers().count(), 3);
    client.delete_topic("t1").unwrap();
    assert!(client.metadata_all().unwrap().topic("t1").is_none());
    client.close();
    assert_eq!(client.metadata_all().unwrap_err(), Error::Closed);
}

#[test]
fn clones_work_from_many_threads() {
    let mock = mock(1);
    let client = Client::bootstrap(&mock.bootstrap()).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let c = client.clone();
            std::thread::spawn(move || c.create_topic(NewTopic::new(format!("m{i}"), 1, 1)))
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    assert_eq!(client.metadata_all().unwrap().topics().count(), 8);
}

#[test]
fn unreachable_bootstrap_fails_within_the_api_timeout() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = Config::default();
    config.api_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = Client::connect(at(&format!("127.0.0.1:{port}"), config)).unwrap_err();
    assert_eq!(err, Error::Request(kafka_state::RequestError::Timeout));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(10),
        "{took:?}"
    );
}

#[test]
fn invalid_arguments_are_typed_errors() {
    let mock = mock(1);
    let client = Client::bootstrap(&mock.bootstrap()).unwrap();
    assert!(matches!(
        client.create_topic(NewTopic::new("", 1, 1)).unwrap_err(),
        Error::Misuse(_)
    ));
    assert!(matches!(
        client.create_topic(NewTopic::new("ok", 0, 1)).unwrap_err(),
        Error::Misuse(_)
    ));
    assert!(matches!(
        Client::bootstrap("no-port").unwrap_err(),
        Error::Misuse(_)
    ));
    assert!(matches!(
        Client::bootstrap("").unwrap_err(),
        Error::Misuse(_)
    ));
}

#[test]
fn dropping_the_last_handle_closes_the_connections() {
    let mock = mock(1);
    let client = Client::bootstrap(&mock.bootstrap()).unwrap();
    client.create_topic(NewTopic::new("d", 1, 1)).unwrap();
    let open = || mock.with(|c| c.connection_count()).unwrap();
    assert!(open() >= 1);
    drop(client);
    let deadline = Instant::now() + Duration::from_secs(5);
    while open() > 0 {
        assert!(Instant::now() < deadline, "connections still open");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn send_waits_for_the_ack_and_send_async_pipelines() {
    let mock = mock(2);
    let client = Client::bootstrap(&mock.bootstrap()).unwrap();
    client.create_topic(NewTopic::new("p", 3, 1)).unwrap();
    let producer = client.producer();
    let report = producer
        .send(
            ProducerRecord::new("p")
                .with_partition(2)
                .with_key(b"k".to_vec())
                .with_value(b"v".to_vec())
                .with_header("h", Some(bytes::Bytes::from_static(b"1"))),
        )
        .and_then(|d| d.wait())
        .unwrap();
    assert_eq!((report.partition, report.offset), (2, 0));
    let deliveries: Vec<_> = (0..3_000)
        .map(|i| {
            producer
                .send(
                    kafka_blocking::ProducerRecord::new("p")
                        .with_key(format!("k{}", i % 7))
                        .with_value(format!("v{i}")),
                )
                .unwrap()
        })
        .collect();
    producer.flush(Duration::from_secs(20)).unwrap();
    // After flush every report is already there.
    let mut last = std::collections::HashMap::new();
    for d in deliveries {
        let r = d.try_get().expect("flushed").unwrap();
        assert!(last
            .insert(r.partition, r.offset)
            .is_none_or(|p| p < r.offset));
    }
    let total: i64 = (0..3)
        .map(|p| mock.partition_offsets("p", p).unwrap().1)
        .sum();
    assert_eq!(total, 3_001);
    // Errors are typed and carry the record's problem.
    assert!(matches!(
        producer
            .send(ProducerRecord::new("").with_value(b"v".to_vec()))
            .and_then(|d| d.wait())
            .unwrap_err(),
        Error::InvalidRecord(_)
    ));
}

#[test]
fn a_full_buffer_blocks_send_async_instead_of_failing() {
    let mock = mock(1);
    let mut config = Config::default();
    config.producer.buffer_memory = 32 * 1024;
    let client = Client::connect(at(&mock.bootstrap(), config)).unwrap();
    client.create_topic(NewTopic::new("bp", 1, 1)).unwrap();
    let producer = client.producer();
    let value = vec![1u8; 1000];
    let deliveries: Vec<_> = (0..1_000)
        .map(|_| {
            producer
                .send(kafka_blocking::ProducerRecord::new("bp").with_value(value.clone()))
                .unwrap()
        })
        .collect();
    for (i, d) in deliveries.into_iter().enumerate() {
        assert_eq!(d.wait().unwrap().offset, i as i64);
    }
}

/// Records sent with one `send_many` come back in send order, waiting out
/// a buffer far smaller than the batch; a record refused on the spot
/// gets its error in its place and the rest still go.
#[test]
fn send_many_reports_in_send_order_through_a_small_buffer() {
    let mock = mock(1);
    let mut config = Config::default();
    config.producer.buffer_memory = 32 * 1024;
    let client = Client::connect(at(&mock.bootstrap(), config)).unwrap();
    client.create_topic(NewTopic::new("many", 2, 1)).unwrap();
    let producer = client.producer();
    let value = bytes::Bytes::from(vec![1u8; 500]);
    let records = (0..3_000).map(|i| {
        let r = ProducerRecord::new("many")
            .with_partition(i % 2)
            .with_value(value.clone());
        // One bad record among them.
        if i == 1_234 {
            r.with_partition(-1)
        } else {
            r
        }
    });
    let batch = producer.send_many(records);
    assert_eq!(batch.len(), 3_000);
    let reports = batch.wait().unwrap();
    assert_eq!(reports.len(), 3_000);
    let mut next = [0i64; 2];
    for (i, r) in reports.into_iter().enumerate() {
        if i == 1_234 {
            assert!(matches!(r, Err(Error::InvalidRecord(_))), "{r:?}");
            continue;
        }
        let r = r.unwrap();
        let p = r.partition as usize;
        assert_eq!(p, i % 2);
        assert_eq!(r.offset, next[p], "record {i}");
        next[p] += 1;
    }
    assert_eq!(next[0] + next[1], 2_999);
    assert!(producer.send_many(Vec::new()).wait().unwrap().is_empty());
    // Closed: every record says so, and nothing waits.
    client.close();
    let reports = producer
        .send_many((0..3).map(|_| ProducerRecord::new("many").with_value("v")))
        .wait_timeout(Duration::from_secs(5))
        .unwrap();
    assert!(
        reports.iter().all(|r| matches!(r, Err(Error::Closed))),
        "{reports:?}"
    );
}

/// One written batch holding two `send_many` runs with a lone `send`
/// between them: each run's reports land in their own places and the
/// lone record gets its own, all at the offsets the batch gave them.
#[test]
fn a_written_batch_spanning_two_send_many_runs_and_a_send_reports_each() {
    let mock = mock(1);
    let mut config = Config::default();
    // Long enough that all three calls land in one batch.
    config.producer.linger = Duration::from_millis(300);
    config.producer.batch_size = 1 << 20;
    let client = Client::connect(at(&mock.bootstrap(), config)).unwrap();
    client.create_topic(NewTopic::new("span", 1, 1)).unwrap();
    let producer = client.producer();
    let records = |tag: &'static str| {
        (0..700).map(move |i| ProducerRecord::new("span").with_value(format!("{tag}{i}")))
    };
    let first = producer.send_many(records("a"));
    let lone = producer
        .send(ProducerRecord::new("span").with_value("lone"))
        .unwrap();
    let second = producer.send_many(records("b"));
    let first = first.wait().unwrap();
    let lone = lone.wait().unwrap();
    let second = second.wait().unwrap();
    assert_eq!((first.failed(), second.failed()), (0, 0));
    for (i, r) in first.iter().enumerate() {
        assert_eq!(r.unwrap().offset(), i as i64, "{r:?}");
    }
    assert_eq!(lone.offset, 700);
    for (i, r) in second.iter().enumerate() {
        let r = r.unwrap();
        assert_eq!(
            (r.topic(), r.partition(), r.offset()),
            ("span", 0, 701 + i as i64)
        );
    }
}

/// A broker that reads nothing: `send_many` waits for room with the
/// records it could not place yet; closing the client ends the wait, and
/// every record of the batch, placed or not, is answered.
#[test]
fn send_many_waiting_for_room_is_answered_when_the_client_closes() {
    let (_mock, proxy, proxy_port) = mock_behind_proxy();
    let mut config = Config::default();
    config.producer.buffer_memory = 16 * 1024;
    // Bounds how long the close tries to flush into the paused proxy.
    config.api_timeout = Duration::from_secs(2);
    let client = Client::connect(at(&format!("127.0.0.1:{proxy_port}"), config)).unwrap();
    client.create_topic(NewTopic::new("stuck", 1, 1)).unwrap();
    proxy.pause(true);
    let sender = std::thread::spawn({
        let producer = client.producer();
        move || {
            let value = bytes::Bytes::from(vec![1u8; 1000]);
            let started = Instant::now();
            let batch = producer.send_many(
                (0..200).map(|_| ProducerRecord::new("stuck").with_value(value.clone())),
            );
            (
                started.elapsed(),
                batch.wait_timeout(Duration::from_secs(20)),
            )
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    client.close();
    let (waited, reports) = sender.join().unwrap();
    assert!(
        waited >= Duration::from_millis(400),
        "it waited for room: {waited:?}"
    );
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    let reports = reports.unwrap();
    assert_eq!(reports.len(), 200);
    // The last ones never found room; none was delivered.
    assert!(
        matches!(reports.get(199), Some(Err(Error::Closed))),
        "{:?}",
        reports.get(199)
    );
    assert_eq!(reports.failed(), 200);
}

#[test]
fn poll_fetch_and_offsets_read_back_what_was_produced() {
    use kafka_blocking::{OffsetSpec, SeekTo, TopicPartition};
    let mock = mock(2);
    let client = Client::bootstrap(&mock.bootstrap()).unwrap();
    client.create_topic(NewTopic::new("r", 2, 1)).unwrap();
    let producer = client.producer();
    for i in 0..500 {
        let _ = producer
            .send(
                kafka_blocking::ProducerRecord::new("r")
                    .with_partition(i % 2)
                    .with_key(format!("k{i}"))
                    .with_value(format!("v{i}"))
                    .with_header("h", Some("x".into())),
            )
            .unwrap();
    }
    producer.flush(Duration::from_secs(20)).unwrap();
    let mut consumer = client.consumer().unwrap();
    assert_eq!(offset_at(&consumer, "r", OffsetSpec::Earliest), Some(0));
    assert_eq!(offset_at(&consumer, "r", OffsetSpec::Latest), Some(250));

    // One-shot fetch from an offset, bounded by bytes (at least one record).
    let got = consumer.fetch("r", 1, 10, 40).unwrap();
    assert!(!got.is_empty() && got.len() < 10, "{}", got.len());
    assert_eq!(got[0].offset, 10);
    assert_eq!(got[0].offset + 1, 11);
    assert_eq!(got[0].value.as_deref(), Some(&b"v21"[..]));
    let headers: Vec<_> = got[0].headers.iter().collect();
    assert_eq!(headers, [("h", Some("x".into()))]);

    // poll over the whole assignment from the start.
    let tps = [TopicPartition::new("r", 0), TopicPartition::new("r", 1)];
    consumer.assign(tps.clone()).unwrap();
    for tp in &tps {
        consumer.seek(tp.clone(), SeekTo::Earliest).unwrap();
    }
    let mut next = [0i64; 2];
    let deadline = Instant::now() + Duration::from_secs(20);
    while next.iter().sum::<i64>() < 500 {
        assert!(Instant::now() < deadline, "only {next:?}");
        for m in consumer.poll(Duration::from_millis(200)).unwrap() {
            let p = m.partition as usize;
            assert_eq!(m.offset, next[p]);
            next[p] += 1;
            let i = 2 * m.offset + i64::from(m.partition);
            assert_eq!(m.key.as_deref(), Some(format!("k{i}").as_bytes()));
        }
    }
    assert_eq!(consumer.lag(tps[0].clone()).unwrap(), Some(0));
    // Nothing more: poll returns empty after its timeout.
    assert!(consumer.poll(Duration::from_millis(50)).unwrap().is_empty());

    // The same records lent in place: every one once, in order, with
    // their fields; a break leaves the rest for the next call, and lent
    // records count as consumed.
    for tp in &tps {
        consumer.seek(tp.clone(), SeekTo::Earliest).unwrap();
    }
    let mut next = [0i64; 2];
    let mut calls = 0;
    while next.iter().sum::<i64>() < 500 {
        assert!(
            Instant::now() < deadline + Duration::from_secs(20),
            "only {next:?}"
        );
        calls += 1;
        let mut n = 0;
        let lent = consumer
            .lend(Duration::from_millis(200), |m| {
                let p = m.partition as usize;
                assert_eq!(m.offset, next[p]);
                next[p] += 1;
                let i = 2 * m.offset + i64::from(m.partition);
                assert_eq!(m.key, Some(format!("k{i}").as_bytes()));
                assert_eq!(m.headers.last("h"), Some(Some(&b"x"[..])));
                n += 1;
                if n == 7 {
                    std::ops::ControlFlow::Break(())
                } else {
                    std::ops::ControlFlow::Continue(())
                }
            })
            .unwrap();
        assert_eq!(lent, n);
        assert!(lent <= 7);
    }
    assert!(calls >= 500 / 7);
    for tp in &tps {
        assert_eq!(consumer.consumed(tp).unwrap().unwrap().offset, 250);
    }
    let nothing = consumer
        .lend(Duration::from_millis(50), |_| {
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(nothing, 0);
    assert!(consumer
        .seek(TopicPartition::new("r", 9), SeekTo::Offset(0))
        .is_err());
}

#[test]
fn a_seek_after_a_timed_out_poll_is_respected() {
    use kafka_blocking::{SeekTo, TopicPartition};
    let mock = mock(1);
    let client = Client::bootstrap(&mock.bootstrap()).unwrap();
    client.create_topic(NewTopic::new("s", 1, 1)).unwrap();
    let mut consumer = client.consumer().unwrap();
    let tp = TopicPartition::new("s", 0);
    consumer.assign([tp.clone()]).unwrap();
    consumer.seek(tp.clone(), SeekTo::Offset(0)).unwrap();
    // Nothing to read yet: the poll times out with its pull still out.
    assert!(consumer.poll(Duration::from_millis(50)).unwrap().is_empty());
    let producer = client.producer();
    for i in 0..100 {
        let _ = producer
            .send(kafka_blocking::ProducerRecord::new("s").with_value(format!("{i}")))
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    // The pull may already hold records from offset 0; the seek wins.
    consumer.seek(tp.clone(), SeekTo::Offset(40)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        assert!(Instant::now() < deadline);
        if let Some(m) = consumer
            .poll(Duration::from_millis(100))
            .unwrap()
            .into_iter()
            .next()
        {
            break m;
        }
    };
    assert_eq!(first.offset, 40);
}

#[test]
fn a_pull_waiting_in_the_driver_does_not_swallow_records_after_a_seek() {
    use kafka_blocking::{SeekTo, TopicPartition};
    let mock = mock(1);
    let client = Client::bootstrap(&mock.bootstrap()).unwrap();
    client.create_topic(NewTopic::new("w", 1, 1)).unwrap();
    let producer = client.producer();
    for i in 0..100 {
        let _ = producer
            .send(kafka_blocking::ProducerRecord::new("w").with_value(format!("{i}")))
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    let tp = TopicPartition::new("w", 0);
    let mut consumer = client.consumer().unwrap();
    consumer.assign([tp.clone()]).unwrap();
    // Paused: the pull this poll leaves behind waits in the driver.
    consumer.pause([tp.clone()]).unwrap();
    consumer.seek(tp.clone(), SeekTo::Offset(0)).unwrap();
    assert!(consumer
        .poll(Duration::from_millis(100))
        .unwrap()
        .is_empty());
    // The seek comes while that pull waits; records fetched after it
    // belong to the new position and must reach the application.
    consumer.seek(tp.clone(), SeekTo::Offset(40)).unwrap();
    consumer.resume([tp.clone()]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        assert!(
            Instant::now() < deadline,
            "records after the seek were lost"
        );
        if let Some(m) = consumer
            .poll(Duration::from_millis(100))
            .unwrap()
            .into_iter()
            .next()
        {
            break m;
        }
    };
    assert_eq!(first.offset, 40);
}

/// With acks=0 and a broker that stops reading, senders are held back by
/// `buffer_memory` instead of piling requests up in the client; once the
/// broker reads again, every record arrives.
#[test]
fn acks_zero_senders_are_held_back_by_a_backed_up_socket() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let (mock, proxy, proxy_port) = mock_behind_proxy();
    let mut config = Config::default();
    config.producer.acks = kafka_blocking::Acks::None;
    config.producer.enable_idempotence = false;
    config.producer.buffer_memory = 1 << 20;
    let client = Client::connect(at(&format!("127.0.0.1:{proxy_port}"), config)).unwrap();
    client.create_topic(NewTopic::new("z", 1, 1)).unwrap();
    proxy.pause(true);
    const TOTAL: u64 = 3_000;
    let accepted = Arc::new(AtomicU64::new(0));
    let sender = std::thread::spawn({
        let (producer, accepted) = (client.producer(), accepted.clone());
        move || {
            let value = bytes::Bytes::from(vec![7u8; 10_000]);
            for _ in 0..TOTAL {
                let r = kafka_blocking::ProducerRecord::new("z").with_value(value.clone());
                drop(producer.send(r).unwrap());
                accepted.fetch_add(1, Ordering::Relaxed);
            }
            producer.flush(Duration::from_secs(20)).unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(1000));
    let first = accepted.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(500));
    let second = accepted.load(Ordering::Relaxed);
    // 30 MB offered; the 1 MiB buffer, the driver's 8 MiB backlog limit
    // and the kernel's socket buffers hold a fraction of it.
    assert_eq!(first, second, "the sender is held back");
    assert!(second > 50 && second < TOTAL, "{second}");
    proxy.pause(false);
    sender.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while mock.partition_offsets("z", 0).unwrap().1 < TOTAL as i64 {
        assert!(Instant::now() < deadline, "records arrive");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(mock.partition_offsets("z", 0).unwrap().1, TOTAL as i64);
}

/// A sender blocked on a full buffer is not left waiting out the delivery
/// timeout when the client closes, and a record that can never be sent is
/// refused at once even while the buffer is full.
#[test]
fn a_sender_waiting_for_room_learns_that_the_client_closed() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let (_mock, proxy, proxy_port) = mock_behind_proxy();
    let mut config = Config::default();
    config.producer.buffer_memory = 16 * 1024;
    config.api_timeout = Duration::from_secs(2);
    let client = Client::connect(at(&format!("127.0.0.1:{proxy_port}"), config)).unwrap();
    client.create_topic(NewTopic::new("w", 1, 1)).unwrap();
    proxy.pause(true);
    let blocked = Arc::new(AtomicBool::new(false));
    let sender = std::thread::spawn({
        let (producer, blocked) = (client.producer(), blocked.clone());
        move || {
            let value = bytes::Bytes::from(vec![1u8; 1000]);
            for _ in 0..100 {
                let r = kafka_blocking::ProducerRecord::new("w").with_value(value.clone());
                let started = Instant::now();
                let sent = producer.send(r);
                if started.elapsed() > Duration::from_millis(500) {
                    blocked.store(true, Ordering::Relaxed);
                }
                if let Err(e) = sent {
                    return (e, started.elapsed());
                }
            }
            panic!("100 KB went into a 16 KiB buffer");
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let producer = client.producer();
    let bad = kafka_blocking::ProducerRecord::new("w")
        .with_partition(-1)
        .with_value(b"v".to_vec());
    let started = Instant::now();
    assert!(matches!(producer.send(bad), Err(Error::InvalidRecord(_))));
    assert!(started.elapsed() < Duration::from_millis(500));
    client.close();
    let (error, waited) = sender.join().unwrap();
    assert!(
        blocked.load(Ordering::Relaxed),
        "the sender waited for room"
    );
    assert!(matches!(error, Error::Closed), "{error:?}");
    assert!(waited < Duration::from_secs(10), "{waited:?}");
}

/// A response handled by a socket's reader thread that schedules
/// something sooner than the driver's timer (here a produce retry after
/// its backoff) wakes the driver: the retry goes after the backoff, not
/// at the next unrelated timeout.
#[test]
fn a_retry_scheduled_by_a_response_goes_after_its_backoff() {
    let mock = mock(1);
    let mut config = Config::default();
    config.producer.retry_backoff = Duration::from_millis(50);
    let client = Client::connect(at(&mock.bootstrap(), config)).unwrap();
    client.create_topic(NewTopic::new("r", 1, 1)).unwrap();
    let producer = client.producer();
    producer
        .send(ProducerRecord::new("r").with_value(b"v".to_vec()))
        .and_then(|d| d.wait())
        .unwrap();
    mock.inject_error(
        kafka_proto::ApiKey::Produce,
        ErrorCode::NotEnoughReplicas,
        1,
    );
    let started = Instant::now();
    let d = producer
        .send(kafka_blocking::ProducerRecord::new("r").with_value(b"v".to_vec()))
        .unwrap();
    let report = d.wait_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(report.offset, 1);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "the retry waited {took:?}");
}

/// acks=0 records count as sent once the client took their bytes, so
/// `flush` can return while they still wait for a backed-up socket;
/// `close` writes them out before closing (it used to drop them), even
/// with the broker's unwanted answers to read.
#[test]
fn close_writes_out_acks_zero_records_a_slow_socket_still_holds() {
    use std::sync::Arc;
    let (mock, proxy, proxy_port) = mock_behind_proxy();
    mock.set_answer_acks_zero(true);
    let mut config = Config::default();
    config.producer.acks = kafka_blocking::Acks::None;
    config.producer.enable_idempotence = false;
    let client = Arc::new(Client::connect(at(&format!("127.0.0.1:{proxy_port}"), config)).unwrap());
    client.create_topic(NewTopic::new("c", 1, 1)).unwrap();
    let producer = client.producer();
    // The topic's metadata first: asked for while the proxy is paused, it
    // would hold every record back.
    let first = kafka_blocking::ProducerRecord::new("c").with_value(b"first".to_vec());
    producer.send(first).unwrap().wait().unwrap();
    proxy.pause(true);
    // 4 MB: more than the socket buffers take, less than the limits that
    // would hold the sender back.
    const TOTAL: i64 = 4_000;
    let value = bytes::Bytes::from(vec![3u8; 1_000]);
    let pending: Vec<_> = (0..TOTAL)
        .map(|_| {
            let r = kafka_blocking::ProducerRecord::new("c").with_value(value.clone());
            producer.send(r).unwrap()
        })
        .collect();
    producer.flush(Duration::from_secs(20)).unwrap();
    for p in pending {
        p.wait().unwrap();
    }
    let closing = std::thread::spawn({
        let client = Arc::clone(&client);
        move || client.close()
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!closing.is_finished(), "close waits for the socket");
    proxy.pause(false);
    closing.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while mock.partition_offsets("c", 0).unwrap().1 < TOTAL + 1 {
        assert!(Instant::now() < deadline, "records arrive");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A batch that passes its CRC but fails to decode while `poll` hands out
/// records (it inflates past the consumer's decompression bound): the
/// records before it in the same fetch are returned, not lost; the next
/// poll names the partition and the bad record's offset; seeking past the
/// batch carries on.
#[test]
fn poll_keeps_the_records_before_a_batch_that_fails_to_decode() {
    use kafka_blocking::{Compression, ProducerRecord, SeekTo, TopicPartition};
    let mock = mock(1);
    let plain = Client::bootstrap(&mock.bootstrap()).unwrap();
    plain.create_topic(NewTopic::new("dmg", 1, 1)).unwrap();
    let mut lz4 = Config::default();
    lz4.producer.compression = Compression::Lz4;
    lz4.producer.linger = Duration::from_millis(200);
    let packed = Client::connect(at(&mock.bootstrap(), lz4)).unwrap();
    let send_all = |client: &Client, values: Vec<Vec<u8>>| {
        let producer = client.producer();
        for v in values {
            let _ = producer
                .send(ProducerRecord::new("dmg").with_partition(0).with_value(v))
                .unwrap();
        }
        producer.flush(Duration::from_secs(10)).unwrap();
    };
    // Offsets 0-1 plain, 2-51 one lz4 batch inflating to 50 KB, 52 plain.
    send_all(&plain, vec![b"a".to_vec(), b"b".to_vec()]);
    send_all(&packed, vec![vec![b'z'; 1000]; 50]);
    send_all(&plain, vec![b"c".to_vec()]);

    let mut config = Config::default();
    config.consumer.max_decompressed_size = 4096;
    let reader = Client::connect(at(&mock.bootstrap(), config)).unwrap();
    let mut consumer = reader.consumer().unwrap();
    let tp = TopicPartition::new("dmg", 0);
    consumer.assign([tp.clone()]).unwrap();
    consumer.seek(tp.clone(), SeekTo::Earliest).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut good = Vec::new();
    let error = loop {
        assert!(Instant::now() < deadline, "no error; got {good:?}");
        match consumer.poll(Duration::from_millis(200)) {
            Ok(records) => good.extend(records.iter().map(|m| m.offset)),
            Err(e) => break e,
        }
    };
    assert_eq!(good, [0, 1], "the records before the damage");
    match error {
        Error::Fetch {
            partition, offset, ..
        } => {
            assert_eq!(partition, tp);
            assert_eq!(offset, 2, "the bad batch's first record");
        }
        other => panic!("expected a fetch error, got {other:?}"),
    }
    // The partition waits for a seek; past the batch it goes on.
    assert!(consumer
        .poll(Duration::from_millis(300))
        .unwrap()
        .is_empty());
    consumer.seek(tp, SeekTo::Offset(52)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "nothing after the seek");
        let got = consumer.poll(Duration::from_millis(200)).unwrap();
        if let Some(m) = got.first() {
            assert_eq!(m.offset, 52);
            assert_eq!(m.value.as_deref(), Some(&b"c"[..]));
            break;
        }
    }
}

/// Batches of 32 KiB and more leave as pieces of their request's frame,
/// the batch itself not copied: what is read back is what was sent, on
/// several partitions, plain and compressed.
#[test]
fn large_batches_read_back_as_sent() {
    use kafka_blocking::{Compression, ProducerRecord, SeekTo, TopicPartition};
    let mock = mock(1);
    let client = Client::bootstrap(&mock.bootstrap()).unwrap();
    client.create_topic(NewTopic::new("big", 3, 1)).unwrap();
    let value = |i: usize| {
        let mut v = format!("record {i:06} ").into_bytes();
        v.resize(1_000 + i % 7, b'0' + (i % 10) as u8);
        v
    };
    const N: usize = 600;
    for (round, compression) in [Compression::None, Compression::Lz4]
        .into_iter()
        .enumerate()
    {
        let mut config = Config::default();
        config.producer.compression = compression;
        config.producer.linger = Duration::from_millis(50);
        let writer = Client::connect(at(&mock.bootstrap(), config)).unwrap();
        let records: Vec<_> = (0..N)
            .map(|i| {
                ProducerRecord::new("big")
                    .with_partition((i % 3) as i32)
                    .with_value(value(round * N + i))
            })
            .collect();
        let reports = writer.producer().send_many(records).wait().unwrap();
        assert_eq!(reports.len(), N);
        assert_eq!(reports.failed(), 0, "{reports:?}");
    }
    let reader = Client::bootstrap(&mock.bootstrap()).unwrap();
    let mut consumer = reader.consumer().unwrap();
    let parts: Vec<_> = (0..3).map(|p| TopicPartition::new("big", p)).collect();
    consumer.assign(parts.clone()).unwrap();
    for tp in parts {
        consumer.seek(tp, SeekTo::Earliest).unwrap();
    }
    let mut got = std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.len() < 2 * N {
        assert!(Instant::now() < deadline, "read {} of {}", got.len(), 2 * N);
        for m in consumer.poll(Duration::from_millis(200)).unwrap().iter() {
            let v = m.value.clone().unwrap().to_vec();
            let i: usize = std::str::from_utf8(&v[7..13]).unwrap().parse().unwrap();
            assert_eq!(m.partition % 3, (i % N % 3) as i32);
            assert_eq!(v, value(i), "record {i}");
            got.insert(i, ());
        }
    }
    assert_eq!(got.len(), 2 * N);
}

/// `config` with its bootstrap list set to `servers`.
fn at(servers: &str, mut config: kafka_blocking::Config) -> kafka_blocking::Config {
    config.bootstrap = kafka_blocking::BrokerAddr::parse_list(servers).unwrap();
    config
}

/// Partition 0's offset of `topic` by `spec`.
fn offset_at(
    consumer: &kafka_blocking::Consumer,
    topic: &str,
    spec: kafka_blocking::OffsetSpec,
) -> Option<i64> {
    let tp = kafka_blocking::TopicPartition::new(topic, 0);
    let mut got = consumer.offsets([tp.clone()], spec).unwrap();
    got.remove(&tp).and_then(|r| r.ok()).and_then(|l| l.offset)
}

/// A client hands out one consumer at a time, and the records `poll`
/// returns count as consumed (what a commit would cover) without a call;
/// with automatic storing off, only what the application stores counts.
#[test]
fn one_consumer_at_a_time_and_polled_records_count_as_consumed() {
    use kafka_blocking::{SeekTo, TopicPartition};
    let mock = MockCluster::builder().build().unwrap();
    let client = Client::bootstrap(&mock.bootstrap()).unwrap();
    client.create_topic(NewTopic::new("s", 1, 1)).unwrap();
    let producer = client.producer();
    for i in 0..20 {
        let delivery = producer.send(ProducerRecord::new("s").with_value(format!("{i}")));
        drop(delivery.unwrap());
    }
    producer.flush(Duration::from_secs(20)).unwrap();
    let tp = TopicPartition::new("s", 0);
    let poll_some = |consumer: &mut kafka_blocking::Consumer| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = consumer.poll(Duration::from_millis(200)).unwrap();
            if !got.is_empty() || Instant::now() > deadline {
                return got;
            }
        }
    };

    let mut consumer = client.consumer().unwrap();
    assert_eq!(client.consumer().unwrap_err(), Error::ConsumerInUse);
    consumer.assign([tp.clone()]).unwrap();
    consumer.seek(tp.clone(), SeekTo::Earliest).unwrap();
    assert_eq!(consumer.consumed(&tp).unwrap(), None);
    let got = poll_some(&mut consumer);
    let last = got.last().expect("records").offset;
    assert_eq!(consumer.consumed(&tp).unwrap().unwrap().offset, last + 1);
    drop(consumer);
    drop(client.consumer().unwrap());

    let mut config = Config::bootstrap(&mock.bootstrap()).unwrap();
    config.consumer.enable_auto_offset_store = false;
    let manual = Client::connect(config).unwrap();
    let mut consumer = manual.consumer().unwrap();
    consumer.assign([tp.clone()]).unwrap();
    consumer.seek(tp.clone(), SeekTo::Earliest).unwrap();
    let got = poll_some(&mut consumer);
    assert_eq!(got[0].offset, 0);
    assert_eq!(consumer.consumed(&tp).unwrap(), None);
    consumer.store_offset(&got[0]).unwrap();
    assert_eq!(consumer.consumed(&tp).unwrap().unwrap().offset, 1);
}

/// A blocking group member: subscribe, poll (which keeps it in the
/// group), commit what was read, and a second client of the group
/// resumes from that commit; misuse is refused with a clear error.
#[test]
fn group_member_commits_and_a_successor_resumes() {
    use kafka_blocking::{AutoOffsetReset, GroupConfig, Rebalance, TopicPartition};
    use std::sync::{Arc, Mutex};

    let mock = mock(1);
    let topic = "blocking-group";
    let admin = Client::bootstrap(&mock.bootstrap()).unwrap();
    admin.create_topic(NewTopic::new(topic, 2, 1)).unwrap();
    for i in 0..40 {
        admin
            .producer()
            .send(
                ProducerRecord::new(topic)
                    .with_partition(i % 2)
                    .with_value(i.to_string()),
            )
            .unwrap()
            .wait()
            .unwrap();
    }
    let member = || {
        let mut config = Config::bootstrap(&mock.bootstrap()).unwrap();
        let mut group = GroupConfig::new("blocking-g");
        group.enable_auto_commit = false;
        group.session_timeout = Duration::from_secs(6);
        group.heartbeat_interval = Duration::from_secs(1);
        config.group = Some(group);
        config.consumer.auto_offset_reset = AutoOffsetReset::Earliest;
        Client::connect(config).unwrap()
    };

    // Without a group configured, subscribing is refused.
    let mut plain = admin.consumer().unwrap();
    assert!(matches!(plain.subscribe([topic]), Err(Error::Misuse(_))));
    assert!(matches!(plain.commit(), Err(Error::Misuse(_))));
    drop(plain);

    let first = member();
    let mut consumer = first.consumer().unwrap();
    let changes = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&changes);
    consumer.on_rebalance(move |r| log.lock().unwrap().push(r));
    consumer.subscribe([topic]).unwrap();
    // A manual assignment on top of a subscription is refused.
    assert!(consumer.assign([TopicPartition::new(topic, 0)]).is_err());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut read = 0;
    while read < 30 {
        assert!(Instant::now() < deadline, "30 records in time");
        read += consumer.poll(Duration::from_millis(200)).unwrap().len();
    }
    assert!(matches!(&changes.lock().unwrap()[..], [Rebalance::Assigned(tps)] if tps.len() == 2));
    let committed = consumer.commit().unwrap();
    let total: i64 = committed.values().map(|o| o.offset).sum();
    assert_eq!(total, read as i64);
    drop(consumer);
    first.close();

    // The successor starts at the commit: it reads exactly the rest.
    let second = member();
    let mut consumer = second.consumer().unwrap();
    consumer.subscribe([topic]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut rest = Vec::new();
    while rest.len() < 40 - read {
        assert!(Instant::now() < deadline, "the rest in time");
        rest.extend(consumer.poll(Duration::from_millis(200)).unwrap());
    }
    std::thread::sleep(Duration::from_millis(300));
    rest.extend(consumer.poll(Duration::from_millis(300)).unwrap());
    assert_eq!(rest.len(), 40 - read, "nothing read twice");
    for r in &rest {
        assert!(r.offset >= committed[&TopicPartition::new(topic, r.partition)].offset);
    }
    drop(consumer);
    second.close();
}

/// With auto-commit off and `await_revoke`, member A's revoke hook runs
/// inside its `poll` when B joins and commits what A read; B then starts
/// every partition it gets exactly at that commit, and no record is read
/// twice.
#[test]
fn a_member_commits_in_its_revoke_hook_and_the_successor_starts_there() {
    use kafka_blocking::{AutoOffsetReset, Committed, GroupConfig, TopicPartition};
    use std::collections::{BTreeMap, HashMap, HashSet};
    use std::sync::{Arc, Mutex};

    let mock = mock(1);
    let topic = "blocking-revoke";
    let admin = Client::bootstrap(&mock.bootstrap()).unwrap();
    admin.create_topic(NewTopic::new(topic, 2, 1)).unwrap();
    let produce = |from: usize, to: usize| {
        for i in from..to {
            admin
                .producer()
                .send(
                    ProducerRecord::new(topic)
                        .with_partition((i % 2) as i32)
                        .with_value(i.to_string()),
                )
                .unwrap()
                .wait()
                .unwrap();
        }
    };
    produce(0, 40);
    let member = || {
        let mut config = Config::bootstrap(&mock.bootstrap()).unwrap();
        let mut group = GroupConfig::new("blocking-revoke-g");
        group.enable_auto_commit = false;
        group.await_revoke = true;
        group.session_timeout = Duration::from_secs(6);
        group.heartbeat_interval = Duration::from_secs(1);
        group.rebalance_timeout = Some(Duration::from_secs(10));
        config.group = Some(group);
        config.consumer.auto_offset_reset = AutoOffsetReset::Earliest;
        Client::connect(config).unwrap()
    };

    let first = member();
    let mut a = first.consumer().unwrap();
    type Window = (Vec<TopicPartition>, Result<Committed, Error>);
    let windows: Arc<Mutex<Vec<Window>>> = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&windows);
    a.on_revoke(move |consumer, partitions| {
        let committed = consumer.commit();
        log.lock().unwrap().push((partitions.to_vec(), committed));
    });
    a.subscribe([topic]).unwrap();
    let mut read: Vec<(i32, i64)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while read.len() < 40 {
        assert!(Instant::now() < deadline, "A reads the first 40 in time");
        let records = a.poll(Duration::from_millis(200)).unwrap();
        read.extend(records.iter().map(|r| (r.partition, r.offset)));
    }

    // B joins; both poll on this thread, A's hook runs inside its poll.
    let second = member();
    let mut b = second.consumer().unwrap();
    b.subscribe([topic]).unwrap();
    let mut b_first: HashMap<i32, i64> = HashMap::new();
    let mut produced = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "A and B share and read all");
        let records = a.poll(Duration::from_millis(100)).unwrap();
        read.extend(records.iter().map(|r| (r.partition, r.offset)));
        for r in b.poll(Duration::from_millis(100)).unwrap() {
            b_first.entry(r.partition).or_insert(r.offset);
            read.push((r.partition, r.offset));
        }
        let shared = !a.assignment().unwrap().is_empty() && !b.assignment().unwrap().is_empty();
        if shared && !produced {
            produce(40, 60);
            produced = true;
        }
        if produced && read.len() >= 60 {
            break;
        }
    }
    let distinct: HashSet<(i32, i64)> = read.iter().copied().collect();
    assert_eq!(distinct.len(), read.len(), "a record was read twice");
    assert_eq!(distinct.len(), 60);
    let windows = windows.lock().unwrap();
    assert!(!windows.is_empty(), "A's revoke hook never ran");
    let mut committed: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    for (partitions, result) in windows.iter() {
        assert!(!partitions.is_empty());
        let result = result
            .as_ref()
            .expect("the commit in the hook goes through");
        committed.extend(result.iter().map(|(tp, o)| (tp.clone(), o.offset)));
    }
    assert!(!b_first.is_empty());
    for (p, first) in &b_first {
        let tp = TopicPartition::new(topic, *p);
        assert_eq!(Some(first), committed.get(&tp), "B's first record of {tp}");
    }
    drop(a);
    first.close();
    drop(b);
    second.close();
}

/// A client of `mock` with transactional id `txn_id`, reading
/// read_committed from the earliest offset, in group `group` if given
/// (auto-commit off).
fn transactional(mock: &MockCluster, txn_id: &str, group: Option<&str>) -> Client {
    use kafka_blocking::{AutoOffsetReset, GroupConfig, IsolationLevel};
    let mut config = Config::bootstrap(&mock.bootstrap()).unwrap();
    if let Some(group) = group {
        let mut g = GroupConfig::new(group);
        g.session_timeout = Duration::from_secs(10);
        g.heartbeat_interval = Duration::from_secs(1);
        g.rebalance_timeout = Some(Duration::from_secs(15));
        g.enable_auto_commit = false;
        config.group = Some(g);
    }
    config.consumer.auto_offset_reset = AutoOffsetReset::Earliest;
    config.consumer.isolation_level = IsolationLevel::ReadCommitted;
    config.producer.transactional_id = Some(txn_id.to_string());
    Client::connect(config).unwrap()
}

/// The values a read_committed reader of `topic` sees, once `n` arrived
/// and a second passed with nothing more.
fn read_committed(mock: &MockCluster, topic: &str, n: usize) -> Vec<String> {
    use kafka_blocking::{AutoOffsetReset, IsolationLevel};
    let mut config = Config::bootstrap(&mock.bootstrap()).unwrap();
    config.consumer.isolation_level = IsolationLevel::ReadCommitted;
    config.consumer.auto_offset_reset = AutoOffsetReset::Earliest;
    let reader = Client::connect(config).unwrap();
    let mut consumer = reader.consumer().unwrap();
    consumer.assign_topic(topic).unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < n {
        assert!(Instant::now() < deadline, "{} of {n} records", seen.len());
        for r in consumer.poll(Duration::from_millis(100)).unwrap() {
            seen.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
        }
    }
    let extra = consumer.poll(Duration::from_secs(1)).unwrap();
    assert!(extra.is_empty(), "records after the last: {extra:?}");
    seen
}

/// Consume-transform-produce in transactions, every third one aborted
/// after writing junk: a read_committed reader sees every input record
/// exactly once and none of the junk, and the group's offsets commit
/// with the transactions (the tokio suite's body, on the blocking client).
#[test]
fn consume_transform_produce_exactly_once() {
    use kafka_blocking::{Committed, OffsetAndMetadata, TopicPartition};
    use std::collections::VecDeque;

    const N: usize = 300;
    const TIMEOUT: Duration = Duration::from_secs(60);
    let mock = mock(3);
    let admin = Client::bootstrap(&mock.bootstrap()).unwrap();
    for t in ["ctp-in", "ctp-out"] {
        admin.create_topic(NewTopic::new(t, 3, 1)).unwrap();
    }
    let producer = admin.producer();
    let deliveries: Vec<_> = (0..N)
        .map(|i| {
            let r = ProducerRecord::new("ctp-in")
                .with_partition((i % 3) as i32)
                .with_value(format!("r{i}"));
            producer.send(r).unwrap()
        })
        .collect();
    for d in deliveries {
        d.wait().unwrap();
    }

    let client = transactional(&mock, "ctp-txn", Some("ctp-g"));
    let producer = client.producer();
    // Nothing may be sent before init.
    let early = producer.send(ProducerRecord::new("ctp-out").with_value("early"));
    assert!(matches!(early, Err(Error::Transaction(_))), "{early:?}");
    producer.init_transactions(TIMEOUT).unwrap();
    let mut consumer = client.consumer().unwrap();
    consumer.subscribe(["ctp-in"]).unwrap();
    let mut buffered = VecDeque::new();
    let (mut read, mut round) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(120);
    while read < N {
        round += 1;
        producer.begin_transaction().unwrap();
        if round % 3 == 0 {
            for i in 0..5 {
                let r = ProducerRecord::new("ctp-out").with_value(format!("junk{round}-{i}"));
                drop(producer.send(r).unwrap());
            }
            producer.abort_transaction(TIMEOUT).unwrap();
            continue;
        }
        let want = 40.min(N - read);
        while buffered.len() < want {
            assert!(Instant::now() < deadline, "read {read} of {N}");
            buffered.extend(consumer.poll(Duration::from_millis(100)).unwrap());
        }
        let mut offsets = Committed::new();
        let mut deliveries = Vec::new();
        for r in buffered.drain(..want) {
            let value = std::str::from_utf8(r.value.as_deref().unwrap()).unwrap();
            let out = ProducerRecord::new("ctp-out")
                .with_partition(r.partition)
                .with_value(format!("out-{value}"));
            deliveries.push(producer.send(out).unwrap());
            offsets.insert(
                TopicPartition::new(&*r.topic, r.partition),
                OffsetAndMetadata::new(r.offset + 1, None),
            );
            read += 1;
        }
        let meta = consumer.group_metadata().unwrap().expect("in the group");
        producer
            .send_offsets_to_transaction(offsets, &meta, TIMEOUT)
            .unwrap();
        producer.commit_transaction(TIMEOUT).unwrap();
        for d in deliveries {
            d.wait().expect("a committed record was written");
        }
    }
    assert!(
        buffered.is_empty(),
        "more records than written: {buffered:?}"
    );
    drop(consumer);

    let mut seen = read_committed(&mock, "ctp-out", N);
    seen.sort();
    let mut want: Vec<String> = (0..N).map(|i| format!("out-r{i}")).collect();
    want.sort();
    assert_eq!(seen, want);
    let committed = admin.group_offsets("ctp-g").unwrap();
    let total: i64 = committed
        .offsets
        .values()
        .map(|o| o.as_ref().expect("committed").offset)
        .sum();
    assert_eq!(total, N as i64, "{committed:?}");
}

/// A second producer with the same transactional id fences the first:
/// the first's open transaction is aborted, its commit fails with a fatal
/// `Error::Transaction` and so does every later call; the second commits.
#[test]
fn a_second_producer_with_the_same_transactional_id_fences_the_first() {
    const TIMEOUT: Duration = Duration::from_secs(60);
    let mock = mock(3);
    let admin = Client::bootstrap(&mock.bootstrap()).unwrap();
    admin.create_topic(NewTopic::new("fence", 2, 1)).unwrap();
    let send = |p: &kafka_blocking::Producer, value: &str| {
        drop(
            p.send(ProducerRecord::new("fence").with_value(value.to_string()))
                .unwrap(),
        );
    };

    let first = transactional(&mock, "fence-txn", None);
    let a = first.producer();
    a.init_transactions(TIMEOUT).unwrap();
    a.begin_transaction().unwrap();
    send(&a, "a-committed");
    a.commit_transaction(TIMEOUT).unwrap();
    a.begin_transaction().unwrap();
    send(&a, "a-open");
    // Written, in an open transaction.
    a.flush(TIMEOUT).unwrap();

    let second = transactional(&mock, "fence-txn", None);
    let b = second.producer();
    b.init_transactions(TIMEOUT).unwrap();

    let err = a.commit_transaction(TIMEOUT).unwrap_err();
    assert!(
        matches!(&err, Error::Transaction(e) if e.is_fatal()),
        "the fenced commit: {err:?}"
    );
    let again = a.begin_transaction().unwrap_err();
    assert!(
        matches!(&again, Error::Transaction(e) if e.is_fatal()),
        "the fence is sticky: {again:?}"
    );

    b.begin_transaction().unwrap();
    send(&b, "b-committed");
    b.commit_transaction(TIMEOUT).unwrap();

    let mut seen = read_committed(&mock, "fence", 2);
    seen.sort();
    assert_eq!(seen, ["a-committed", "b-committed"]);
}

/// A transaction on a client whose consumer waits at the same broker for
/// records that do not come is not held up by that wait: the commit
/// takes a few round trips, not a `fetch_max_wait` per request.
///
/// Fails at the time of writing: the core sends every request to a broker
/// on one connection, and a broker answers a connection's requests in
/// order (Kafka mutes a connection until its request is answered), so
/// AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit and EndTxn each
/// wait behind a fetch held for `fetch_max_wait` (the Java client keeps
/// the group coordinator on a connection of its own, and its consumer and
/// producer are separate clients).
#[test]
fn a_transaction_is_not_held_up_by_a_fetch_waiting_at_the_broker() {
    const TIMEOUT: Duration = Duration::from_secs(30);
    let mock = mock(1);
    let admin = Client::bootstrap(&mock.bootstrap()).unwrap();
    admin.create_topic(NewTopic::new("idle", 1, 1)).unwrap();
    admin.create_topic(NewTopic::new("out", 1, 1)).unwrap();

    let mut config = Config::bootstrap(&mock.bootstrap()).unwrap();
    config.consumer.fetch_max_wait = Duration::from_secs(2);
    config.producer.transactional_id = Some("hol-txn".into());
    let client = Client::connect(config).unwrap();
    let producer = client.producer();
    producer.init_transactions(TIMEOUT).unwrap();
    let mut consumer = client.consumer().unwrap();
    consumer.assign_topic("idle").unwrap();
    // Nothing comes: from now on a fetch waits at the broker.
    assert!(consumer
        .poll(Duration::from_millis(300))
        .unwrap()
        .is_empty());

    let started = Instant::now();
    producer.begin_transaction().unwrap();
    drop(
        producer
            .send(ProducerRecord::new("out").with_value("x"))
            .unwrap(),
    );
    producer.commit_transaction(TIMEOUT).unwrap();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "the commit took {took:?}, behind fetches held for 2 s"
    );
}

#[test]
fn configs_partitions_records_cluster_on_the_mock() {
    let mock = mock(3);
    common::configs_partitions_records_cluster(&common::Broker {
        bootstrap: mock.bootstrap(),
        replication: 1,
        prefix: String::new(),
    });
}

/// The mock has no authorizer: ACL, SCRAM and quota calls fail at once
/// as unsupported, and caller mistakes before anything is sent.
#[test]
fn acl_scram_and_quota_calls_are_unsupported_on_the_mock() {
    use kafka_blocking::{
        AclBinding, AclBindingFilter, AclOperation, AclPatternType, AclPermission, AclResourceType,
        QuotaFilter, ScramChange, ScramMechanism,
    };
    let mock = mock(1);
    let client = Client::connect(at(&mock.bootstrap(), Config::default())).unwrap();
    let unsupported = |r: Error| {
        assert!(
            matches!(r, Error::Request(kafka_state::RequestError::Unsupported(_))),
            "{r:?}"
        )
    };
    let started = Instant::now();
    unsupported(client.describe_acls(AclBindingFilter::any()).unwrap_err());
    unsupported(
        client
            .describe_user_scram_credentials(Vec::<String>::new())
            .unwrap_err(),
    );
    unsupported(
        client
            .describe_client_quotas(QuotaFilter::any())
            .unwrap_err(),
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let matching = AclBinding::new(
        AclResourceType::Topic,
        "t",
        "User:a",
        AclOperation::Read,
        AclPermission::Allow,
    )
    .with_pattern_type(AclPatternType::Match);
    assert!(matches!(
        client.create_acls([matching]),
        Err(Error::Misuse(kafka_state::Misuse::InvalidAcl { .. }))
    ));
    assert!(matches!(
        client.alter_user_scram_credentials([ScramChange::upsert(
            "a",
            ScramMechanism::Sha256,
            1,
            "pw"
        )]),
        Err(Error::Misuse(
            kafka_state::Misuse::InvalidScramChange { .. }
        ))
    ));
    client.close();
}

#[test]
fn stats_count_deliveries_and_arrive_every_interval() {
    let mock = mock(1);
    let mut config = Config::bootstrap(&mock.bootstrap()).unwrap();
    config.stats_interval = Some(Duration::from_millis(100));
    let client = Client::connect(config).unwrap();
    let events = client.stats_events().unwrap();
    client.create_topic(NewTopic::new("stats", 1, 1)).unwrap();
    let producer = client.producer();
    let reports: Vec<_> = (0..20)
        .map(|_| {
            producer
                .send(ProducerRecord::new("stats").with_value("v"))
                .unwrap()
        })
        .collect();
    for r in reports {
        r.wait().unwrap();
    }
    let s = client.stats().unwrap();
    assert_eq!(s.totals.records_delivered, 20);
    assert_eq!(s.partitions.len(), 0, "nothing queued: {s:?}");
    assert!(s
        .brokers
        .iter()
        .any(|b| b.role == kafka_blocking::ConnRole::Producer && b.requests_sent >= 1));
    let a = events.recv_timeout(Duration::from_secs(5)).unwrap();
    let b = events.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(b.age_us > a.age_us && b.age_us >= 200_000);
    client.close();
    // The stream ends with the client.
    let deadline = Instant::now() + Duration::from_secs(5);
    while events.recv_timeout(Duration::from_secs(5)).is_ok() {
        assert!(Instant::now() < deadline);
    }
    assert_eq!(client.stats_events().unwrap_err(), Error::Closed);
}

/// Replica, producer and transaction calls through this adapter on the
/// mock: a partition moved and its preferred leader elected, log dirs of
/// each broker, the idempotent producer at the leader; UpdateFeatures
/// (not served) fails at once, a bad reassignment before sending.
#[test]
fn replica_producer_and_feature_calls_on_the_mock() {
    use kafka_blocking::{ElectionType, FeatureUpdate, TopicPartition, TransactionFilter};
    use std::collections::BTreeMap;
    let mock = mock(3);
    let mut config = Config::default();
    config.producer.enable_idempotence = true;
    let client = Client::connect(at(&mock.bootstrap(), config)).unwrap();
    client.create_topic(NewTopic::new("moved", 1, 2)).unwrap();
    let md = client.metadata(["moved"]).unwrap();
    let replicas = md.partition("moved", 0).unwrap().replicas.clone();
    let newcomer = (0..3).find(|n| !replicas.contains(n)).unwrap();
    let tp = TopicPartition::new("moved", 0);
    let moved = client
        .alter_partition_reassignments(BTreeMap::from([(
            tp.clone(),
            Some(vec![newcomer, replicas[0]]),
        )]))
        .unwrap();
    assert_eq!(moved[0].error, ErrorCode::None, "{moved:?}");
    assert!(client
        .list_partition_reassignments(None)
        .unwrap()
        .is_empty());
    let elected = client
        .elect_leaders(ElectionType::Preferred, Some(vec![tp.clone()]))
        .unwrap();
    assert!(
        matches!(
            elected[0].error,
            ErrorCode::None | ErrorCode::ElectionNotNeeded
        ),
        "{elected:?}"
    );
    let md = client.metadata(["moved"]).unwrap();
    assert_eq!(md.partition("moved", 0).unwrap().leader, Some(newcomer));
    let dirs = client
        .describe_log_dirs(Some(vec!["moved".into()]))
        .unwrap();
    let holders: Vec<i32> = dirs
        .iter()
        .filter(|b| b.dirs.iter().any(|d| !d.replicas.is_empty()))
        .map(|b| b.node)
        .collect();
    let mut want = vec![newcomer, replicas[0]];
    want.sort();
    assert_eq!(holders, want, "{dirs:?}");
    client
        .producer()
        .send(
            ProducerRecord::new("moved")
                .with_partition(0)
                .with_value("v"),
        )
        .unwrap()
        .wait()
        .unwrap();
    let producers = client.describe_producers([tp.clone()]).unwrap();
    assert_eq!(producers[&tp].as_ref().unwrap().len(), 1, "{producers:?}");
    let txns = client.list_transactions(TransactionFilter::any()).unwrap();
    assert!(txns.transactions.is_empty() && txns.errors.is_empty());
    let started = Instant::now();
    let refused = client
        .update_features([FeatureUpdate::upgrade("transaction.version", 2)], true)
        .unwrap_err();
    assert!(
        matches!(
            refused,
            Error::Request(kafka_state::RequestError::Unsupported(_))
        ),
        "{refused:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(matches!(
        client.alter_partition_reassignments(BTreeMap::from([(tp, Some(vec![1, 1]))])),
        Err(Error::Misuse(
            kafka_state::Misuse::InvalidReassignment { .. }
        ))
    ));
    client.close();
}

/// Topic administration through this adapter on the mock: an explicit
/// assignment described as given, validate-only creating nothing,
/// deletion by id, a stopped broker's replicas offline, and authorized
/// operations when asked.
#[test]
fn topic_admin_on_the_mock() {
    use kafka_blocking::{AclOperation, Uuid};
    let mock = mock(3);
    let client = Client::bootstrap(&mock.bootstrap()).unwrap();
    let done = client
        .create_topics([
            NewTopic::assigned("placed", vec![vec![2, 1], vec![1, 0]]),
            NewTopic::assigned("nowhere", vec![vec![7]]),
        ])
        .unwrap();
    assert_eq!(done[0].error, ErrorCode::None, "{done:?}");
    assert_eq!(done[1].error, ErrorCode::InvalidReplicaAssignment);
    let checked = client
        .create_topics_validate([NewTopic::new("maybe", 2, 3)], true)
        .unwrap();
    assert_eq!(checked[0].error, ErrorCode::None, "{checked:?}");
    let md = client.describe_topics(["placed", "maybe"], true).unwrap();
    let placed = md.topic("placed").unwrap();
    assert_eq!(placed.partitions[0].replicas, vec![2, 1]);
    assert_eq!(placed.partitions[0].leader, Some(2));
    let ops = placed.authorized_operations.clone().unwrap();
    assert!(ops.contains(&AclOperation::Describe), "{ops:?}");
    assert_eq!(
        md.topic("maybe").unwrap().error,
        ErrorCode::UnknownTopicOrPartition
    );
    mock.set_broker_up(1, false).unwrap();
    let md = client.metadata(["placed"]).unwrap();
    assert_eq!(md.partition("placed", 1).unwrap().offline_replicas, vec![1]);
    let id = md.topic("placed").unwrap().id;
    let gone = client
        .delete_topics_by_id([id, Uuid::from_u64_pair(9, 9)])
        .unwrap();
    assert_eq!(gone[0].name.as_deref(), Some("placed"));
    assert_eq!(gone[1].error, ErrorCode::UnknownTopicId);
    client.close();
}
