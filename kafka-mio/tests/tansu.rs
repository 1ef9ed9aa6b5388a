//! The mio client against a real broker (Tansu).

mod common;

use common::Harness;
use kafka_mio::{AdminOutcome, Error, Tokens};
use kafka_proto::ErrorCode;
use kafka_testkit::Tansu;

#[test]
fn sixteen_partitions_on_tansu() {
    let Some(broker) = Tansu::start() else { return };
    let mut h = Harness::new();
    let c = h.client(&broker.bootstrap(), Tokens::range(100..116));

    let id = h.clients[c]
        .create_topic(kafka_mio::NewTopic::new("many", 16, 1))
        .unwrap();
    let AdminOutcome::CreateTopics(created) = h.outcome(c, id) else {
        panic!("not a create outcome");
    };
    Error::check_topics(&created).unwrap();

    let id = h.clients[c].metadata(["many"]).unwrap();
    let AdminOutcome::Metadata(md) = h.outcome(c, id) else {
        panic!("not metadata");
    };
    let topic = md.topic("many").expect("topic listed");
    assert_eq!(topic.partitions.len(), 16);
    assert!(topic.partitions.iter().all(|p| p.leader.is_some()));

    let id = h.clients[c]
        .create_topic(kafka_mio::NewTopic::new("many", 1, 1))
        .unwrap();
    let AdminOutcome::CreateTopics(again) = h.outcome(c, id) else {
        panic!("not a create outcome");
    };
    assert_eq!(
        Error::check_topics(&again).unwrap_err().code(),
        Some(ErrorCode::TopicAlreadyExists)
    );

    let id = h.clients[c].delete_topic("many").unwrap();
    let AdminOutcome::DeleteTopics(deleted) = h.outcome(c, id) else {
        panic!("not a delete outcome");
    };
    Error::check_topics(&deleted).unwrap();
    h.clients[c].close();
}

#[test]
fn produce_and_consume_on_tansu() {
    use kafka_mio::{Event, ProducerRecord, SeekTo, TopicPartition};
    let Some(broker) = Tansu::start() else { return };
    let mut h = Harness::new();
    let c = h.client(&broker.bootstrap(), Tokens::range(200..216));
    let id = h.clients[c]
        .create_topic(kafka_mio::NewTopic::new("pc", 2, 1))
        .unwrap();
    let AdminOutcome::CreateTopics(created) = h.outcome(c, id) else {
        panic!("not a create outcome");
    };
    Error::check_topics(&created).unwrap();
    for i in 0..100 {
        h.clients[c]
            .send(
                ProducerRecord::new("pc")
                    .with_partition(i % 2)
                    .with_value(format!("{i}")),
            )
            .unwrap();
    }
    h.clients[c].flush().unwrap();
    h.until(|h| h.seen[c].contains(&Event::FlushComplete));
    let delivered = h.seen[c]
        .iter()
        .filter(|e| matches!(e, Event::Delivery { result: Ok(_), .. }))
        .count();
    assert_eq!(delivered, 100);

    let tps = [TopicPartition::new("pc", 0), TopicPartition::new("pc", 1)];
    h.clients[c].assign(tps.clone()).unwrap();
    for tp in &tps {
        h.clients[c].seek(tp, SeekTo::Earliest).unwrap();
    }
    let mut next = [0i64; 2];
    let deadline = std::time::Instant::now() + common::LIMIT;
    while next.iter().sum::<i64>() < 100 {
        assert!(std::time::Instant::now() < deadline, "only {next:?}");
        h.turn(std::time::Duration::from_millis(50));
        while let Some(fetched) = h.clients[c].poll_records() {
            for r in fetched {
                let r = r.unwrap();
                let p = r.partition as usize;
                assert_eq!(r.offset, next[p]);
                next[p] += 1;
                let v: i64 = std::str::from_utf8(r.value.as_ref().unwrap())
                    .unwrap()
                    .parse()
                    .unwrap();
                assert_eq!(v, 2 * r.offset + r.partition as i64);
            }
        }
    }
}

/// Sends `records` and waits until each has its report; returns them in
/// send order.
fn deliver(
    h: &mut Harness,
    c: usize,
    records: Vec<kafka_mio::ProducerRecord>,
) -> Vec<kafka_mio::DeliveryReport> {
    use kafka_mio::Event;
    let ids: Vec<_> = records
        .into_iter()
        .map(|r| h.clients[c].send(r).unwrap())
        .collect();
    h.clients[c].flush().unwrap();
    let find = |h: &Harness, id| {
        h.seen[c].iter().find_map(|e| match e {
            Event::Delivery { id: got, result } if *got == id => Some(result.clone()),
            _ => None,
        })
    };
    h.until(|h| ids.iter().all(|id| find(h, *id).is_some()));
    ids.iter()
        .map(|id| find(h, *id).unwrap().expect("delivered"))
        .collect()
}

#[test]
fn every_codec_with_keys_headers_and_nulls_on_tansu() {
    use bytes::Bytes;
    use kafka_mio::{
        BrokerAddr, Client, Compression, Config, ProducerRecord, SeekTo, TopicPartition,
    };
    let Some(broker) = Tansu::start() else { return };
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    for (i, codec) in codecs.into_iter().enumerate() {
        let mut h = Harness::new();
        let mut config = Config::new(BrokerAddr::parse_list(&broker.bootstrap()).unwrap());
        config.producer.compression = codec;
        let client = Client::new(config, h.poll.registry(), Tokens::range(300..316)).unwrap();
        let c = h.add(client);
        let topic = format!("mio-codec-{i}");
        let id = h.clients[c]
            .create_topic(kafka_mio::NewTopic::new(&topic, 1, 1))
            .unwrap();
        let AdminOutcome::CreateTopics(created) = h.outcome(c, id) else {
            panic!("not a create outcome");
        };
        Error::check_topics(&created).unwrap();
        let records: Vec<ProducerRecord> = (0..50)
            .map(|n| {
                let mut r = ProducerRecord::new(&topic)
                    .with_key(format!("k{n}"))
                    .with_header("n", Some(Bytes::from(n.to_string())))
                    .with_header("n", None);
                if n % 5 != 0 {
                    r = r.with_value(format!("v{n}"));
                }
                r
            })
            .collect();
        let reports = deliver(&mut h, c, records);
        assert!(reports
            .iter()
            .enumerate()
            .all(|(n, r)| r.offset == n as i64));

        let tp = TopicPartition::new(&topic, 0);
        h.clients[c].assign([tp.clone()]).unwrap();
        h.clients[c].seek(&tp, SeekTo::Earliest).unwrap();
        let mut next = 0i64;
        let deadline = std::time::Instant::now() + common::LIMIT;
        while next < 50 {
            assert!(
                std::time::Instant::now() < deadline,
                "{codec:?}: only {next}"
            );
            h.turn(std::time::Duration::from_millis(50));
            while let Some(fetched) = h.clients[c].poll_records() {
                for r in fetched {
                    let r = r.unwrap();
                    assert_eq!(r.offset, next);
                    assert_eq!(r.key.as_deref(), Some(format!("k{next}").as_bytes()));
                    let value = (next % 5 != 0).then(|| format!("v{next}"));
                    assert_eq!(r.value.as_deref(), value.as_deref().map(str::as_bytes));
                    let headers: Vec<_> = r.headers.iter().collect();
                    assert_eq!(headers[0], ("n", Some(Bytes::from(next.to_string()))));
                    assert_eq!(headers[1], ("n", None));
                    next += 1;
                }
            }
        }
    }
}

#[test]
fn reconnects_after_the_broker_restarts_on_tansu() {
    use kafka_mio::{BrokerAddr, Client, Config, ProducerRecord};
    let Some(mut broker) = Tansu::start() else {
        return;
    };
    let mut h = Harness::new();
    let mut config = Config::new(BrokerAddr::parse_list(&broker.bootstrap()).unwrap());
    config.reconnect_backoff_max = std::time::Duration::from_millis(200);
    let client = Client::new(config, h.poll.registry(), Tokens::range(400..416)).unwrap();
    let c = h.add(client);
    let id = h.clients[c]
        .create_topic(kafka_mio::NewTopic::new("before", 1, 1))
        .unwrap();
    h.outcome(c, id);
    broker.restart().unwrap();
    // The restarted broker is empty (memory storage): retry until the
    // client has reconnected and the create succeeds.
    let deadline = std::time::Instant::now() + common::LIMIT;
    loop {
        assert!(std::time::Instant::now() < deadline, "never reconnected");
        let id = h.clients[c]
            .create_topic(kafka_mio::NewTopic::new("after", 1, 1))
            .unwrap();
        if let Ok(AdminOutcome::CreateTopics(out)) = h.result(c, id) {
            if Error::check_topics(&out).is_ok() {
                break;
            }
        }
        h.turn(std::time::Duration::from_millis(100));
    }
    let reports = deliver(
        &mut h,
        c,
        vec![ProducerRecord::new("after").with_value("x")],
    );
    assert_eq!(reports[0].offset, 0);
}

#[test]
fn a_five_megabyte_record_offsets_and_lag_on_tansu() {
    use kafka_mio::{
        BrokerAddr, Client, Config, Event, OffsetSpec, ProducerRecord, SeekTo, TopicPartition,
    };
    let Some(broker) = Tansu::start() else { return };
    let mut h = Harness::new();
    let mut config = Config::new(BrokerAddr::parse_list(&broker.bootstrap()).unwrap());
    config.producer.max_request_size = 8 << 20;
    let client = Client::new(config, h.poll.registry(), Tokens::range(500..516)).unwrap();
    let c = h.add(client);
    let id = h.clients[c]
        .create_topic(kafka_mio::NewTopic::new("big", 1, 1))
        .unwrap();
    h.outcome(c, id);
    let big: Vec<u8> = (0..5 << 20).map(|i| (i % 251) as u8).collect();
    let reports = deliver(
        &mut h,
        c,
        vec![
            ProducerRecord::new("big").with_value(big.clone()),
            ProducerRecord::new("big").with_value("small"),
        ],
    );
    assert_eq!((reports[0].offset, reports[1].offset), (0, 1));

    let tp = TopicPartition::new("big", 0);
    let id = h.clients[c]
        .core_mut()
        .consumer()
        .offsets_for(
            std::time::Instant::now(),
            [tp.clone()],
            OffsetSpec::Earliest,
        )
        .unwrap();
    let listed = |h: &Harness| {
        h.seen[c].iter().find_map(|e| match e {
            Event::Consumer(kafka_state::ConsumerEvent::OffsetsListed { id: got, offsets })
                if *got == id =>
            {
                Some(offsets.clone())
            }
            _ => None,
        })
    };
    h.until(|h| listed(h).is_some());
    assert_eq!(listed(&h).unwrap()[&tp].as_ref().unwrap().offset, Some(0));

    h.clients[c].assign([tp.clone()]).unwrap();
    h.clients[c].seek(&tp, SeekTo::Earliest).unwrap();
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + common::LIMIT;
    while got.len() < 2 {
        assert!(std::time::Instant::now() < deadline);
        h.turn(std::time::Duration::from_millis(50));
        while let Some(fetched) = h.clients[c].poll_records() {
            got.extend(fetched.into_iter().map(Result::unwrap));
        }
    }
    assert_eq!(got[0].value.as_deref(), Some(&big[..]));
    assert_eq!(got[1].value.as_deref(), Some(&b"small"[..]));
    assert_eq!(h.clients[c].core_mut().consumer().lag(&tp), Some(0));
}
