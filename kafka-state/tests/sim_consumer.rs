//! The consumer against the mock cluster in the deterministic simulation:
//! data written straight into the cluster (raw Produce and transaction
//! requests on side connections), then consumed under faults.

mod sim;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kafka_mock::ErrorInjection;
use kafka_proto::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_proto::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use kafka_proto::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_proto::messages::{
    AddPartitionsToTxnRequest, DeleteRecordsRequest, EndTxnRequest, InitProducerIdRequest,
    ProduceRequest,
};
use kafka_proto::record::{encode, BatchOptions, Compression, Record};
use kafka_proto::{ApiKey, ErrorCode, ResponseBody};
use kafka_state::consumer::{
    AutoOffsetReset, ConsumerEvent, IsolationLevel, ListedOffset, OffsetSpec, SeekTo,
};
use kafka_state::producer::ProducerRecord;
use kafka_state::{Config, Event, Misuse, TopicPartition};
use sim::{for_each_seed, Sim};

const SECS: fn(u64) -> Duration = Duration::from_secs;
const MS: fn(u64) -> Duration = Duration::from_millis;
const TOPIC: &str = "t";

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new(TOPIC, p)
}

/// A producer identity for transactional writes.
#[derive(Clone, Copy)]
struct Txn {
    id: &'static str,
    pid: i64,
    epoch: i16,
    seq: i32,
}

/// Writes one batch of `values` (timestamps `ts0`, `ts0+1`, ...) to the
/// partition's leader; returns its base offset.
fn produce(
    sim: &mut Sim,
    partition: i32,
    values: &[Bytes],
    ts0: i64,
    compression: Compression,
    txn: Option<&mut Txn>,
) -> i64 {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            offset: i as i64,
            timestamp: ts0 + i as i64,
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(v.clone()),
            ..Record::default()
        })
        .collect();
    let mut options = BatchOptions {
        compression,
        ..BatchOptions::default()
    };
    let mut txn_id = None;
    if let Some(t) = txn {
        options.producer_id = t.pid;
        options.producer_epoch = t.epoch;
        options.base_sequence = t.seq;
        options.transactional = true;
        t.seq += values.len() as i32;
        txn_id = Some(t.id.to_string());
    }
    let batch = encode(records.iter(), &options).unwrap();
    let req = ProduceRequest::default()
        .with_transactional_id(txn_id)
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TOPIC.into())
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch))])]);
    let leader = sim.cluster.partition_leader(TOPIC, partition).unwrap();
    let ResponseBody::Produce(resp) = sim.side_call(leader, 9, req.into()) else {
        panic!("wrong response type")
    };
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0, "seed {}: produce failed", sim.seed);
    p.base_offset
}

fn begin_txn(sim: &mut Sim, id: &'static str) -> Txn {
    sim.cluster.move_coordinator(1, id, 0).unwrap();
    let req = InitProducerIdRequest::default()
        .with_transactional_id(Some(id.into()))
        .with_transaction_timeout_ms(600_000)
        .with_producer_id(-1)
        .with_producer_epoch(-1);
    let ResponseBody::InitProducerId(r) = sim.side_call(0, 4, req.into()) else {
        panic!("wrong response type")
    };
    assert_eq!(r.error_code, 0);
    Txn {
        id,
        pid: r.producer_id,
        epoch: r.producer_epoch,
        seq: 0,
    }
}

fn add_partition(sim: &mut Sim, t: &Txn, partition: i32) {
    let req = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(t.id.into())
        .with_v3_and_below_producer_id(t.pid)
        .with_v3_and_below_producer_epoch(t.epoch)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(TOPIC.into())
            .with_partitions(vec![partition])]);
    let ResponseBody::AddPartitionsToTxn(r) = sim.side_call(0, 3, req.into()) else {
        panic!("wrong response type")
    };
    let code = r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code;
    assert_eq!(code, 0);
}

fn end_txn(sim: &mut Sim, t: &Txn, commit: bool) {
    let req = EndTxnRequest::default()
        .with_transactional_id(t.id.into())
        .with_producer_id(t.pid)
        .with_producer_epoch(t.epoch)
        .with_committed(commit);
    let ResponseBody::EndTxn(r) = sim.side_call(0, 3, req.into()) else {
        panic!("wrong response type")
    };
    assert_eq!(r.error_code, 0);
}

fn values(prefix: &str, from: usize, n: usize) -> Vec<Bytes> {
    (from..from + n)
        .map(|i| Bytes::from(format!("{prefix}-{i}")))
        .collect()
}

/// Takes every record handed out now: (partition, offset, value, timestamp).
fn take_all(sim: &mut Sim) -> Vec<(i32, i64, Bytes, i64)> {
    let now = sim.now;
    let mut out = Vec::new();
    while let Some(fetched) = sim.client.consumer().poll_records(now) {
        let p = fetched.partition().partition;
        assert!(fetched.next_offset() > fetched.start_offset());
        for r in fetched {
            let r = r.expect("records decode");
            assert_eq!(r.partition, p);
            assert_eq!(&*r.topic, TOPIC);
            out.push((p, r.offset, r.value.unwrap_or_default(), r.timestamp));
        }
    }
    sim.flush();
    out
}

fn consumer_events(sim: &Sim) -> Vec<ConsumerEvent> {
    sim.events
        .iter()
        .filter_map(|e| match e {
            Event::Consumer(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

fn new_sim(seed: u64, brokers: i32, partitions: i32, tweak: impl FnOnce(&mut Config)) -> Sim {
    let mut sim = Sim::with_config(seed, brokers, |c| {
        c.consumer.auto_offset_reset = AutoOffsetReset::Earliest;
        c.consumer.fetch_max_wait = MS(100);
        tweak(c);
    });
    let replication = brokers.min(3) as i16;
    sim.cluster
        .create_topic(TOPIC, partitions, replication)
        .unwrap();
    sim
}

fn assign(sim: &mut Sim, partitions: impl IntoIterator<Item = i32>) {
    let now = sim.now;
    sim.client
        .consumer()
        .assign(now, partitions.into_iter().map(tp))
        .unwrap();
}

#[test]
fn sim_every_record_once_and_in_order_under_faults() {
    for_each_seed(|seed| {
        let partitions = 4;
        // Odd seeds read committed, even seeds uncommitted; both see
        // aborted transactions in the logs.
        let level = if seed % 2 == 1 {
            IsolationLevel::ReadCommitted
        } else {
            IsolationLevel::ReadUncommitted
        };
        let mut sim = new_sim(seed, 3, partitions, |c| {
            // Small fetches: many rounds, and batches over the partition limit.
            c.consumer.max_partition_fetch_bytes = 100 + (seed as usize % 4) * 300;
            c.consumer.fetch_max_bytes = 3_000;
            c.consumer.isolation_level = level;
            c.request_timeout = SECS(5);
        });
        let codecs = [Compression::None, Compression::Lz4, Compression::Zstd];
        // Per partition, what the consumer must see: (offset, value).
        let mut produced: Vec<Vec<(i64, Bytes)>> = vec![Vec::new(); partitions as usize];
        let mut count = 0usize;
        let mut write = |sim: &mut Sim,
                         produced: &mut Vec<Vec<(i64, Bytes)>>,
                         p: i32,
                         n: usize,
                         txn: Option<&mut Txn>| {
            let vs = values(&format!("p{p}"), count, n);
            count += n;
            let codec = codecs[(sim.rng.next_u64() % 3) as usize];
            let aborted = txn.is_some();
            let base = produce(sim, p, &vs, 1_000, codec, txn);
            if !aborted || level == IsolationLevel::ReadUncommitted {
                let records = vs.into_iter().enumerate();
                produced[p as usize].extend(records.map(|(i, v)| (base + i as i64, v)));
            }
        };
        let mut txn = begin_txn(&mut sim, "aborted");
        for p in 0..partitions {
            add_partition(&mut sim, &txn, p);
        }
        for p in 0..partitions {
            for _ in 0..3 + sim.rng.next_u64() % 6 {
                let n = 1 + (sim.rng.next_u64() % 12) as usize;
                let in_txn = sim.rng.next_u64() % 4 == 0;
                write(&mut sim, &mut produced, p, n, in_txn.then_some(&mut txn));
            }
        }
        end_txn(&mut sim, &txn, false);
        assign(&mut sim, 0..partitions);
        let mut seen: Vec<Vec<(i64, Bytes)>> = vec![Vec::new(); partitions as usize];
        let faults_until = sim.now + SECS(20);
        let mut next_fault = sim.now + MS(50);
        let mut restart: Option<(i32, std::time::Instant)> = None;
        let done_by = sim.now + SECS(120);
        loop {
            sim.step();
            for (p, offset, value, _) in take_all(&mut sim) {
                let seen = &mut seen[p as usize];
                let want = produced[p as usize].get(seen.len());
                assert_eq!(Some(&(offset, value.clone())), want, "seed {seed}: p{p}");
                seen.push((offset, value));
            }
            if let Some((b, at)) = restart {
                if sim.now >= at {
                    sim.set_broker_up(b, true);
                    restart = None;
                }
            }
            if sim.now < faults_until && sim.now >= next_fault {
                next_fault = sim.now + MS(50 + sim.rng.next_u64() % 400);
                let p = (sim.rng.next_u64() % partitions as u64) as i32;
                match sim.rng.next_u64() % 6 {
                    0 => {
                        let conns = sim.open_conns();
                        if !conns.is_empty() {
                            let c = conns[(sim.rng.next_u64() % conns.len() as u64) as usize];
                            sim.drop_connection(c);
                        }
                    }
                    1 => {
                        let errors = [
                            ErrorCode::NotLeaderOrFollower,
                            ErrorCode::FencedLeaderEpoch,
                            ErrorCode::UnknownTopicOrPartition,
                            ErrorCode::LeaderNotAvailable,
                            ErrorCode::UnknownTopicId,
                            ErrorCode::NetworkException,
                        ];
                        let e = errors[(sim.rng.next_u64() % errors.len() as u64) as usize];
                        let n = 1 + (sim.rng.next_u64() % 3) as u32;
                        sim.cluster.inject_error(
                            ErrorInjection::new(ApiKey::Fetch, e, n).on_partition(TOPIC, p),
                        );
                    }
                    2 if restart.is_none() => {
                        let b = (sim.rng.next_u64() % 3) as i32;
                        sim.cluster.move_leader(TOPIC, p, b).unwrap();
                    }
                    3 if restart.is_none() => {
                        let b = (sim.rng.next_u64() % 3) as i32;
                        sim.set_broker_up(b, false);
                        restart = Some((b, sim.now + MS(300 + sim.rng.next_u64() % 1500)));
                    }
                    _ => {
                        let n = 1 + (sim.rng.next_u64() % 8) as usize;
                        write(&mut sim, &mut produced, p, n, None);
                    }
                }
            }
            let caught_up = seen.iter().zip(&produced).all(|(s, p)| s.len() == p.len());
            if caught_up && sim.now >= faults_until && restart.is_none() {
                break;
            }
            assert!(
                sim.now < done_by,
                "seed {seed}: stuck; seen {:?} of {:?}; events {:?}",
                seen.iter().map(Vec::len).collect::<Vec<_>>(),
                produced.iter().map(Vec::len).collect::<Vec<_>>(),
                sim.events.iter().rev().take(6).collect::<Vec<_>>()
            );
        }
        assert_eq!(seen, produced);
        for p in 0..partitions {
            let (_, end) = sim.cluster.partition_offsets(TOPIC, p).unwrap();
            sim.run_until(SECS(5), |s| {
                s.client.consumer().position(&tp(p)) == Some(end)
            });
        }
        // Once the next fetches come back empty, lag is zero everywhere.
        sim.run_for(SECS(1));
        for p in 0..partitions {
            assert_eq!(sim.client.consumer().lag(&tp(p)), Some(0), "seed {seed}");
        }
        assert!(consumer_events(&sim)
            .iter()
            .all(|e| !matches!(e, ConsumerEvent::PartitionFailed { .. })));
    });
}

#[test]
fn sim_read_committed_hides_aborted_transactions() {
    for_each_seed(|seed| {
        for level in [
            IsolationLevel::ReadCommitted,
            IsolationLevel::ReadUncommitted,
        ] {
            let mut sim = new_sim(seed, 1, 1, |c| {
                c.consumer.isolation_level = level;
                c.consumer.max_partition_fetch_bytes = 200 + (seed as usize % 3) * 400;
            });
            let mut a = begin_txn(&mut sim, "a");
            let mut b = begin_txn(&mut sim, "b");
            let mut visible: Vec<Bytes> = Vec::new();
            let mut all: Vec<Bytes> = Vec::new();
            let plain = values("plain", 0, 3);
            produce(&mut sim, 0, &plain, 0, Compression::None, None);
            visible.extend(plain.clone());
            all.extend(plain);
            add_partition(&mut sim, &a, 0);
            add_partition(&mut sim, &b, 0);
            // Interleaved: a commits, b aborts.
            for round in 0..3 {
                let va = values("a", round * 2, 2);
                produce(&mut sim, 0, &va, 0, Compression::None, Some(&mut a));
                visible.extend(va.clone());
                all.extend(va);
                let vb = values("b", round * 2, 2);
                produce(&mut sim, 0, &vb, 0, Compression::Lz4, Some(&mut b));
                all.extend(vb);
            }
            end_txn(&mut sim, &b, false);
            end_txn(&mut sim, &a, true);
            let tail = values("tail", 0, 2);
            produce(&mut sim, 0, &tail, 0, Compression::None, None);
            visible.extend(tail.clone());
            all.extend(tail);
            // An aborted transaction alone at the end: only a position move.
            b.epoch = begin_txn(&mut sim, "b").epoch;
            b.seq = 0;
            add_partition(&mut sim, &b, 0);
            produce(
                &mut sim,
                0,
                &values("late", 0, 2),
                0,
                Compression::None,
                Some(&mut b),
            );
            all.extend(values("late", 0, 2));
            end_txn(&mut sim, &b, false);
            let (_, end) = sim.cluster.partition_offsets(TOPIC, 0).unwrap();

            assign(&mut sim, [0]);
            let expected = match level {
                IsolationLevel::ReadCommitted => visible,
                _ => all,
            };
            let mut got: Vec<Bytes> = Vec::new();
            let mut last = -1;
            sim.run_until(SECS(30), |s| {
                for (_, offset, v, _) in take_all(s) {
                    assert!(offset > last);
                    last = offset;
                    got.push(v);
                }
                s.client.consumer().position(&tp(0)) == Some(end)
            });
            assert_eq!(got, expected, "seed {seed} {level:?}");
            sim.run_for(SECS(1));
            assert_eq!(sim.client.consumer().lag(&tp(0)), Some(0));
        }
    });
}

#[test]
fn sim_open_transaction_holds_read_committed_back() {
    for_each_seed(|seed| {
        let mut sim = new_sim(seed, 1, 1, |c| {
            c.consumer.isolation_level = IsolationLevel::ReadCommitted;
        });
        produce(&mut sim, 0, &values("v", 0, 2), 0, Compression::None, None);
        let mut a = begin_txn(&mut sim, "a");
        add_partition(&mut sim, &a, 0);
        produce(
            &mut sim,
            0,
            &values("a", 0, 3),
            0,
            Compression::None,
            Some(&mut a),
        );
        produce(&mut sim, 0, &values("v", 2, 1), 0, Compression::None, None);
        assign(&mut sim, [0]);
        let mut got = Vec::new();
        sim.run_until(SECS(10), |s| {
            got.extend(take_all(s).into_iter().map(|r| r.2));
            got.len() == 2
        });
        // Nothing past the open transaction while it is open.
        sim.run_for(SECS(2));
        got.extend(take_all(&mut sim).into_iter().map(|r| r.2));
        assert_eq!(got, values("v", 0, 2), "seed {seed}");
        assert_eq!(sim.client.consumer().position(&tp(0)), Some(2));
        assert_eq!(sim.client.consumer().lag(&tp(0)), Some(0));
        end_txn(&mut sim, &a, true);
        sim.run_until(SECS(10), |s| {
            got.extend(take_all(s).into_iter().map(|r| r.2));
            got.len() == 6
        });
        let mut want = values("v", 0, 2);
        want.extend(values("a", 0, 3));
        want.extend(values("v", 2, 1));
        assert_eq!(got, want);
    });
}

fn listed(sim: &mut Sim, id: kafka_state::RequestId) -> BTreeMap<TopicPartition, ListedOffset> {
    let offsets = sim.wait_for(SECS(60), |e| match e {
        Event::Consumer(ConsumerEvent::OffsetsListed { id: got, offsets }) if *got == id => {
            Some(offsets.clone())
        }
        _ => None,
    });
    offsets
        .into_iter()
        .map(|(tp, r)| (tp, r.expect("lookup succeeds")))
        .collect()
}

#[test]
fn sim_offsets_for_seek_by_timestamp_and_lag() {
    for_each_seed(|seed| {
        let mut sim = new_sim(seed, 3, 2, |_| {});
        // Partition 0: 20 records, timestamps 1000, 1010, ... in batches of 5.
        for b in 0..4 {
            for i in 0..5 {
                let n = b * 5 + i;
                produce(
                    &mut sim,
                    0,
                    &values("p0", n, 1),
                    1_000 + 10 * n as i64,
                    Compression::None,
                    None,
                );
            }
        }
        produce(
            &mut sim,
            1,
            &values("p1", 0, 7),
            5_000,
            Compression::None,
            None,
        );
        // A lookup answers for partitions not assigned too, and retries
        // through an injected retriable error.
        sim.cluster.inject_error(
            ErrorInjection::new(ApiKey::ListOffsets, ErrorCode::NotLeaderOrFollower, 1)
                .on_partition(TOPIC, 1),
        );
        let now = sim.now;
        let id = sim
            .client
            .consumer()
            .offsets_for(now, [tp(0), tp(1)], OffsetSpec::Latest)
            .unwrap();
        let latest = listed(&mut sim, id);
        assert_eq!(latest[&tp(0)].offset, Some(20));
        assert_eq!(latest[&tp(1)].offset, Some(7));
        let now = sim.now;
        let id = sim
            .client
            .consumer()
            .offsets_for(now, [tp(0)], OffsetSpec::Timestamp(1_055))
            .unwrap();
        let at = listed(&mut sim, id);
        assert_eq!(at[&tp(0)].offset, Some(6));
        assert_eq!(at[&tp(0)].timestamp, Some(1_060));
        let now = sim.now;
        let id = sim
            .client
            .consumer()
            .offsets_for(now, [tp(0)], OffsetSpec::Timestamp(99_999))
            .unwrap();
        assert_eq!(listed(&mut sim, id)[&tp(0)].offset, None);
        let now = sim.now;
        let id = sim
            .client
            .consumer()
            .offsets_for(now, [tp(1)], OffsetSpec::Earliest)
            .unwrap();
        assert_eq!(listed(&mut sim, id)[&tp(1)].offset, Some(0));

        // Seek by timestamp: the first record at or after it.
        assign(&mut sim, [0]);
        let now = sim.now;
        sim.client
            .consumer()
            .seek(now, &tp(0), SeekTo::Timestamp(1_055))
            .unwrap();
        assert_eq!(sim.client.consumer().position(&tp(0)), None);
        sim.run_until(SECS(10), |s| s.client.consumer().has_records());
        // Fetched but not taken: the position is still 6 and lag counts it.
        assert_eq!(sim.client.consumer().position(&tp(0)), Some(6));
        assert_eq!(sim.client.consumer().lag(&tp(0)), Some(14));
        let got = take_all(&mut sim);
        assert_eq!(got[0].1, 6, "seed {seed}");
        assert_eq!(got[0].3, 1_060);
        let pos = sim.client.consumer().position(&tp(0)).unwrap();
        assert_eq!(sim.client.consumer().lag(&tp(0)), Some(20 - pos));
        // Past every timestamp: the end of the log.
        let now = sim.now;
        sim.client
            .consumer()
            .seek(now, &tp(0), SeekTo::Timestamp(99_999))
            .unwrap();
        sim.run_until(SECS(10), |s| {
            s.client.consumer().position(&tp(0)) == Some(20)
        });
        let now = sim.now;
        sim.client
            .consumer()
            .seek(now, &tp(0), SeekTo::Earliest)
            .unwrap();
        sim.run_until(SECS(10), |s| {
            s.client.consumer().position(&tp(0)) == Some(0)
        });
        assert!(
            consumer_events(&sim).contains(&ConsumerEvent::PositionReset {
                partition: tp(0),
                offset: 0
            })
        );
    });
}

#[test]
fn sim_pause_withholds_and_resume_releases() {
    for_each_seed(|seed| {
        let mut sim = new_sim(seed, 2, 2, |_| {});
        produce(&mut sim, 0, &values("p0", 0, 5), 0, Compression::None, None);
        produce(&mut sim, 1, &values("p1", 0, 5), 0, Compression::None, None);
        assign(&mut sim, [0, 1]);
        // Paused after the first fetch may already be buffered: withheld.
        sim.run_until(SECS(10), |s| s.client.consumer().has_records());
        let now = sim.now;
        sim.client.consumer().pause(now, [tp(0)]).unwrap();
        assert_eq!(sim.client.consumer().paused(), vec![tp(0)]);
        let mut got: Vec<i32> = Vec::new();
        sim.run_until(SECS(10), |s| {
            got.extend(take_all(s).into_iter().map(|r| r.0));
            got.len() == 5
        });
        produce(&mut sim, 0, &values("p0", 5, 5), 0, Compression::None, None);
        sim.run_for(SECS(3));
        got.extend(take_all(&mut sim).into_iter().map(|r| r.0));
        assert!(
            got.iter().all(|p| *p == 1),
            "seed {seed}: paused records leaked"
        );
        let p0 = sim.client.consumer().position(&tp(0));
        assert!(p0 == Some(0), "seed {seed}: {p0:?}");
        let now = sim.now;
        sim.client.consumer().resume(now, [tp(0)]).unwrap();
        let mut p0_offsets = Vec::new();
        sim.run_until(SECS(10), |s| {
            p0_offsets.extend(take_all(s).into_iter().map(|r| r.1));
            p0_offsets.len() == 10
        });
        assert_eq!(p0_offsets, (0..10).collect::<Vec<i64>>());
    });
}

#[test]
fn sim_offset_out_of_range_follows_the_reset_policy() {
    for_each_seed(|seed| {
        for policy in [
            AutoOffsetReset::Earliest,
            AutoOffsetReset::Latest,
            AutoOffsetReset::None,
        ] {
            let mut sim = new_sim(seed, 1, 1, |c| c.consumer.auto_offset_reset = policy);
            produce(&mut sim, 0, &values("v", 0, 8), 0, Compression::None, None);
            assign(&mut sim, [0]);
            let now = sim.now;
            sim.client
                .consumer()
                .seek(now, &tp(0), SeekTo::Offset(1_000))
                .unwrap();
            match policy {
                AutoOffsetReset::Earliest => {
                    sim.run_until(SECS(10), |s| !take_all(s).is_empty());
                    let got_from = consumer_events(&sim);
                    assert!(got_from.contains(&ConsumerEvent::PositionReset {
                        partition: tp(0),
                        offset: 0
                    }));
                }
                AutoOffsetReset::Latest => {
                    sim.run_until(SECS(10), |s| {
                        consumer_events(s).contains(&ConsumerEvent::PositionReset {
                            partition: tp(0),
                            offset: 8,
                        })
                    });
                    produce(&mut sim, 0, &values("v", 8, 1), 0, Compression::None, None);
                    let mut got = Vec::new();
                    sim.run_until(SECS(10), |s| {
                        got.extend(take_all(s));
                        !got.is_empty()
                    });
                    assert_eq!(got[0].1, 8, "seed {seed}");
                }
                _ => {
                    // A new partition without a position is reported at once.
                    sim.flush();
                    assert!(
                        consumer_events(&sim).contains(&ConsumerEvent::NeedsPosition {
                            partition: tp(0),
                            out_of_range: None
                        })
                    );
                    let event = sim.wait_for(SECS(10), |e| match e {
                        Event::Consumer(ConsumerEvent::NeedsPosition {
                            out_of_range: Some(o),
                            ..
                        }) => Some(*o),
                        _ => None,
                    });
                    assert_eq!(event, 1_000);
                    sim.run_for(SECS(2));
                    assert!(take_all(&mut sim).is_empty());
                    let fetches = sim.sent.iter().filter(|s| s.2 == ApiKey::Fetch).count();
                    sim.run_for(SECS(2));
                    let after = sim.sent.iter().filter(|s| s.2 == ApiKey::Fetch).count();
                    assert_eq!(fetches, after, "a stopped partition is not fetched");
                    let now = sim.now;
                    sim.client
                        .consumer()
                        .seek(now, &tp(0), SeekTo::Offset(3))
                        .unwrap();
                    let mut got = Vec::new();
                    sim.run_until(SECS(10), |s| {
                        got.extend(take_all(s));
                        got.len() == 5
                    });
                    assert_eq!(got[0].1, 3);
                }
            }
        }
    });
}

#[test]
fn sim_log_truncation_resets_to_the_new_log_start() {
    for_each_seed(|seed| {
        let mut sim = new_sim(seed, 2, 1, |_| {});
        produce(&mut sim, 0, &values("v", 0, 10), 0, Compression::None, None);
        // Records before offset 6 are deleted (retention, DeleteRecords).
        let req = DeleteRecordsRequest::default()
            .with_timeout_ms(1000)
            .with_topics(vec![DeleteRecordsTopic::default()
                .with_name(TOPIC.into())
                .with_partitions(vec![DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(6)])]);
        let leader = sim.cluster.partition_leader(TOPIC, 0).unwrap();
        let ResponseBody::DeleteRecords(r) = sim.side_call(leader, 2, req.into()) else {
            panic!("wrong response type")
        };
        assert_eq!(r.topics[0].partitions[0].low_watermark, 6);
        assign(&mut sim, [0]);
        let now = sim.now;
        sim.client
            .consumer()
            .seek(now, &tp(0), SeekTo::Offset(2))
            .unwrap();
        let mut got = Vec::new();
        sim.run_until(SECS(10), |s| {
            got.extend(take_all(s).into_iter().map(|r| r.1));
            got.len() == 4
        });
        assert_eq!(got, [6, 7, 8, 9], "seed {seed}");
    });
}

#[test]
fn sim_throttle_and_backoff_delay_fetches_exactly() {
    for_each_seed(|seed| {
        let mut sim = new_sim(seed, 1, 1, |c| {
            c.retry_backoff = MS(250);
            c.consumer.fetch_max_wait = MS(100);
        });
        produce(&mut sim, 0, &values("v", 0, 3), 0, Compression::None, None);
        assign(&mut sim, [0]);
        sim.run_until(SECS(10), |s| take_all(s).len() == 3);
        // Idle: each fetch waits max_wait at the broker, nothing spins.
        let start = sim.sent.len();
        sim.run_for(SECS(5));
        let fetches: Vec<_> = sim.sent[start..]
            .iter()
            .filter(|s| s.2 == ApiKey::Fetch)
            .map(|s| s.0)
            .collect();
        assert!(
            (30..=55).contains(&fetches.len()),
            "seed {seed}: {} fetches in 5 s of long polls",
            fetches.len()
        );
        // Throttled: the next fetch waits the throttle time after the answer.
        sim.cluster.set_throttle_ms(700);
        let start = sim.sent.len();
        sim.run_for(SECS(5));
        sim.cluster.set_throttle_ms(0);
        let times: Vec<_> = sim.sent[start..]
            .iter()
            .filter(|s| s.2 == ApiKey::Fetch)
            .map(|s| s.0)
            .collect();
        let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            times.len() >= 4 && times.len() <= 8,
            "seed {seed}: {gaps:?}"
        );
        // Throttle, then the broker's max_wait hold, then two network
        // trips: the next fetch goes out when due, not before, not later.
        for g in gaps.iter().skip(1) {
            assert!(*g >= MS(800) && *g <= MS(830), "seed {seed}: {gaps:?}");
        }
        sim.run_for(SECS(2));
        // A retriable error: the partition is retried after retry_backoff.
        // (The fetch parked at the broker when the error is armed may be
        // the one that takes it, so count from the last fetch sent.)
        sim.cluster.inject_error(
            ErrorInjection::new(ApiKey::Fetch, ErrorCode::NetworkException, 1)
                .on_partition(TOPIC, 0),
        );
        let start = sim.sent.iter().rposition(|s| s.2 == ApiKey::Fetch).unwrap();
        sim.run_for(SECS(2));
        let times: Vec<_> = sim.sent[start..]
            .iter()
            .filter(|s| s.2 == ApiKey::Fetch)
            .map(|s| s.0)
            .collect();
        let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
        // Long polls are max_wait plus a round trip; the failed one (which
        // the broker may have held up to max_wait before failing it) adds
        // the backoff, exactly once.
        let backed_off = gaps
            .iter()
            .filter(|g| **g >= MS(250) && **g <= MS(100 + 250 + 20))
            .count();
        assert_eq!(backed_off, 1, "seed {seed}: {gaps:?}");
        let polls = gaps.iter().filter(|g| **g >= MS(100) && **g <= MS(120));
        assert_eq!(polls.count(), gaps.len() - 1, "seed {seed}: {gaps:?}");
    });
}

#[test]
fn sim_big_first_batch_still_progresses() {
    for_each_seed(|seed| {
        let mut sim = new_sim(seed, 1, 1, |c| {
            c.consumer.max_partition_fetch_bytes = 64;
        });
        let big: Vec<Bytes> = (0..5)
            .map(|i| Bytes::from(vec![b'a' + i as u8; 500 + i * 100]))
            .collect();
        for v in &big {
            produce(
                &mut sim,
                0,
                std::slice::from_ref(v),
                0,
                Compression::None,
                None,
            );
        }
        assign(&mut sim, [0]);
        let mut got = Vec::new();
        sim.run_until(SECS(20), |s| {
            got.extend(take_all(s).into_iter().map(|r| r.2));
            got.len() == 5
        });
        assert_eq!(got, big, "seed {seed}");
    });
}

#[test]
fn sim_consumer_commands_validate_their_arguments() {
    let mut sim = new_sim(1, 1, 2, |_| {});
    let now = sim.now;
    let mut c = sim.client.consumer();
    assert!(matches!(
        c.assign(now, [TopicPartition::new("bad topic", 0)]),
        Err(Misuse::InvalidTopicName { .. })
    ));
    assert_eq!(
        c.assign(now, [tp(-1)]),
        Err(Misuse::InvalidPartition(tp(-1)))
    );
    assert!(c.assignment().is_empty());
    assert_eq!(
        c.seek(now, &tp(0), SeekTo::Offset(0)),
        Err(Misuse::NotAssigned(tp(0)))
    );
    assert_eq!(c.pause(now, [tp(0)]), Err(Misuse::NotAssigned(tp(0))));
    c.assign(now, [tp(0), tp(1)]).unwrap();
    assert_eq!(
        c.seek(now, &tp(0), SeekTo::Offset(-5)),
        Err(Misuse::InvalidOffset(-5))
    );
    assert_eq!(
        c.seek(now, &tp(0), SeekTo::Timestamp(-1)),
        Err(Misuse::InvalidOffset(-1))
    );
    assert_eq!(
        c.offsets_for(now, Vec::<TopicPartition>::new(), OffsetSpec::Latest),
        Err(Misuse::NoTopics)
    );
    assert_eq!(c.assignment(), vec![tp(0), tp(1)]);
    // Replacing the assignment keeps what stays.
    c.seek(now, &tp(1), SeekTo::Offset(4)).unwrap();
    c.assign(now, [tp(1)]).unwrap();
    assert_eq!(c.assignment(), vec![tp(1)]);
    assert_eq!(c.position(&tp(1)), Some(4));
    assert_eq!(c.position(&tp(0)), None);
    c.unassign(now).unwrap();
    assert!(c.assignment().is_empty());
    sim.client.close(now);
    assert_eq!(
        sim.client.consumer().assign(now, [tp(0)]),
        Err(Misuse::Closed)
    );
}

/// Partitions revoked and assigned again under faults, resuming each time
/// from the consumed offset its revoke reported (what a group member
/// commits on revoke and the next owner fetches): every record reaches
/// the application exactly once and in order, and none of a partition
/// while it is not assigned.
#[test]
fn sim_revoke_and_reassign_resumes_from_consumed_offsets() {
    for_each_seed(|seed| {
        let partitions = 4;
        let mut sim = new_sim(seed, 3, partitions, |c| {
            c.consumer.max_partition_fetch_bytes = 200 + (seed as usize % 3) * 300;
            c.request_timeout = SECS(5);
        });
        let codecs = [Compression::None, Compression::Lz4];
        let mut produced: Vec<Vec<(i64, Bytes)>> = vec![Vec::new(); partitions as usize];
        let mut count = 0usize;
        let mut write = |sim: &mut Sim, produced: &mut Vec<Vec<(i64, Bytes)>>, p: i32| {
            let n = 1 + (sim.rng.next_u64() % 10) as usize;
            let vs = values(&format!("p{p}"), count, n);
            count += n;
            let codec = codecs[(sim.rng.next_u64() % 2) as usize];
            let base = produce(sim, p, &vs, 1_000, codec, None);
            let records = vs.into_iter().enumerate();
            produced[p as usize].extend(records.map(|(i, v)| (base + i as i64, v)));
        };
        for p in 0..partitions {
            for _ in 0..2 + sim.rng.next_u64() % 4 {
                write(&mut sim, &mut produced, p);
            }
        }
        assign(&mut sim, 0..partitions);
        let mut owned: Vec<bool> = vec![true; partitions as usize];
        let mut seen: Vec<Vec<(i64, Bytes)>> = vec![Vec::new(); partitions as usize];
        let faults_until = sim.now + SECS(20);
        let mut next_fault = sim.now + MS(50);
        let done_by = sim.now + SECS(120);
        // Per partition, the last record stored in the current ownership.
        let mut stored: Vec<Option<i64>> = vec![None; partitions as usize];
        let mut revokes = 0;
        loop {
            sim.step();
            let now = sim.now;
            while let Some(fetched) = sim.client.consumer().poll_records(now) {
                let p = fetched.partition().partition;
                assert!(owned[p as usize], "seed {seed}: records of revoked p{p}");
                for r in &fetched {
                    let r = r.expect("records decode");
                    let seen = &mut seen[p as usize];
                    let want = produced[p as usize].get(seen.len());
                    let value = r.value.clone().unwrap_or_default();
                    assert_eq!(Some(&(r.offset, value.clone())), want, "seed {seed}: p{p}");
                    seen.push((r.offset, value));
                    sim.client.consumer().store_record(&r).unwrap();
                    stored[p as usize] = Some(r.offset + 1);
                }
            }
            sim.flush();
            if sim.now < faults_until && sim.now >= next_fault {
                next_fault = sim.now + MS(50 + sim.rng.next_u64() % 400);
                let p = (sim.rng.next_u64() % partitions as u64) as i32;
                match sim.rng.next_u64() % 4 {
                    // One partition always stays, so fetches keep the
                    // simulated time moving in small steps.
                    0 if owned[p as usize] && owned.iter().filter(|o| **o).count() > 1 => {
                        owned[p as usize] = false;
                        let keep: Vec<i32> =
                            (0..partitions).filter(|q| owned[*q as usize]).collect();
                        sim.events.clear();
                        assign(&mut sim, keep);
                        sim.flush();
                        // The revoke reports exactly what was consumed.
                        let consumed = consumer_events(&sim).into_iter().find_map(|e| match e {
                            ConsumerEvent::PartitionsRevoked {
                                partitions,
                                consumed,
                            } => {
                                assert_eq!(partitions, [tp(p)], "seed {seed}");
                                Some(consumed)
                            }
                            _ => None,
                        });
                        let consumed = consumed.expect("a revoke event");
                        let want = stored[p as usize].take();
                        assert_eq!(consumed.get(&tp(p)).map(|c| c.offset), want, "seed {seed}");
                        revokes += 1;
                    }
                    0 if !owned[p as usize] => {
                        // Back, from where the application stopped.
                        owned[p as usize] = true;
                        let all: Vec<i32> =
                            (0..partitions).filter(|q| owned[*q as usize]).collect();
                        assign(&mut sim, all);
                        let resume = seen[p as usize].last().map(|(o, _)| o + 1);
                        if let Some(offset) = resume {
                            sim.client
                                .consumer()
                                .seek(now, &tp(p), SeekTo::Offset(offset))
                                .unwrap();
                        }
                    }
                    1 => {
                        let conns = sim.open_conns();
                        if !conns.is_empty() {
                            let c = conns[(sim.rng.next_u64() % conns.len() as u64) as usize];
                            sim.drop_connection(c);
                        }
                    }
                    2 => {
                        let b = (sim.rng.next_u64() % 3) as i32;
                        sim.cluster.move_leader(TOPIC, p, b).unwrap();
                    }
                    _ => write(&mut sim, &mut produced, p),
                }
            }
            if sim.now >= faults_until && owned.iter().any(|o| !o) {
                let all: Vec<i32> = (0..partitions).collect();
                let back: Vec<i32> = (0..partitions).filter(|q| !owned[*q as usize]).collect();
                assign(&mut sim, all);
                for p in back {
                    owned[p as usize] = true;
                    if let Some((o, _)) = seen[p as usize].last() {
                        let now = sim.now;
                        sim.client
                            .consumer()
                            .seek(now, &tp(p), SeekTo::Offset(o + 1))
                            .unwrap();
                    }
                }
            }
            let caught_up = seen.iter().zip(&produced).all(|(s, p)| s.len() == p.len());
            if caught_up && sim.now >= faults_until && owned.iter().all(|o| *o) {
                break;
            }
            assert!(
                sim.now < done_by,
                "seed {seed}: stuck; seen {:?} of {:?}; positions {:?}",
                seen.iter().map(Vec::len).collect::<Vec<_>>(),
                produced.iter().map(Vec::len).collect::<Vec<_>>(),
                (0..partitions)
                    .map(|p| sim.client.consumer().position(&tp(p)))
                    .collect::<Vec<_>>(),
            );
        }
        assert_eq!(seen, produced);
        // The consumed offsets are one past the last record stored since
        // each partition was last assigned.
        let consumed = sim.client.consumer().consumed_offsets();
        for p in 0..partitions {
            let want = stored[p as usize];
            assert_eq!(consumed.get(&tp(p)).map(|c| c.offset), want, "seed {seed}");
        }
        assert!(revokes > 0, "seed {seed}: no partition was ever revoked");
    });
}

/// Kafka promises no order for the aborted transactions of a Fetch
/// answer; the mock lists them newest first here. One producer aborts,
/// commits and aborts again: taken in the order given, its first aborted
/// transaction would be visible.
#[test]
fn sim_read_committed_sorts_the_aborted_transactions_it_is_given() {
    for_each_seed(|seed| {
        let mut sim = new_sim(seed, 1, 1, |c| {
            c.consumer.isolation_level = IsolationLevel::ReadCommitted;
            c.consumer.max_partition_fetch_bytes = 200 + (seed as usize % 3) * 600;
        });
        sim.cluster.set_reverse_aborted_transactions(true);
        let mut a = begin_txn(&mut sim, "a");
        let mut b = begin_txn(&mut sim, "b");
        let plain = values("plain", 0, 2);
        produce(&mut sim, 0, &plain, 0, Compression::None, None);
        add_partition(&mut sim, &a, 0);
        produce(
            &mut sim,
            0,
            &values("a", 0, 2),
            0,
            Compression::None,
            Some(&mut a),
        );
        add_partition(&mut sim, &b, 0);
        produce(
            &mut sim,
            0,
            &values("b", 0, 2),
            0,
            Compression::None,
            Some(&mut b),
        );
        end_txn(&mut sim, &a, false);
        add_partition(&mut sim, &a, 0);
        produce(
            &mut sim,
            0,
            &values("a", 2, 2),
            0,
            Compression::None,
            Some(&mut a),
        );
        end_txn(&mut sim, &a, true);
        end_txn(&mut sim, &b, true);
        add_partition(&mut sim, &a, 0);
        produce(
            &mut sim,
            0,
            &values("a", 4, 2),
            0,
            Compression::None,
            Some(&mut a),
        );
        end_txn(&mut sim, &a, false);
        let tail = values("tail", 0, 2);
        produce(&mut sim, 0, &tail, 0, Compression::None, None);
        let (_, end) = sim.cluster.partition_offsets(TOPIC, 0).unwrap();

        assign(&mut sim, [0]);
        let mut got: Vec<Bytes> = Vec::new();
        sim.run_until(SECS(30), |s| {
            got.extend(take_all(s).into_iter().map(|(_, _, v, _)| v));
            s.client.consumer().position(&tp(0)) == Some(end)
        });
        let mut want = plain;
        want.extend(values("b", 0, 2));
        want.extend(values("a", 2, 2));
        want.extend(tail);
        assert_eq!(got, want, "seed {seed}");
    });
}

/// A group member's new partition waits for its committed offset; a seek
/// the application makes meanwhile wins, even when its own lookup is
/// answered after the committed offset (which must then not move the
/// partition back to it).
#[test]
fn sim_a_seek_while_the_committed_offset_loads_wins() {
    use kafka_proto::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use kafka_proto::messages::OffsetCommitRequest;
    use kafka_state::group::GroupConfig;

    for to in [SeekTo::Earliest, SeekTo::Offset(2)] {
        let mut sim = new_sim(31, 1, 1, |c| {
            let mut g = GroupConfig::new("g");
            g.enable_auto_commit = false;
            c.group = Some(g);
        });
        produce(&mut sim, 0, &values("v", 0, 10), 0, Compression::None, None);
        let commit = OffsetCommitRequest::default()
            .with_group_id("g".into())
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(String::new())
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TOPIC.into())
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(7)])]);
        let ResponseBody::OffsetCommit(r) = sim.side_call(0, 8, commit.into()) else {
            panic!("wrong response type")
        };
        assert_eq!(r.topics[0].partitions[0].error_code, 0);
        // The committed offset comes back after a second; the seek's own
        // lookup after three.
        sim.cluster.set_api_latency(ApiKey::OffsetFetch, SECS(1));
        sim.cluster.set_api_latency(ApiKey::ListOffsets, SECS(3));
        let now = sim.now;
        sim.client.consumer().subscribe(now, [TOPIC]).unwrap();
        sim.flush();
        sim.run_until(SECS(30), |s| {
            consumer_events(s)
                .iter()
                .any(|e| matches!(e, ConsumerEvent::PartitionsAssigned { .. }))
        });
        let now = sim.now;
        sim.client.consumer().seek(now, &tp(0), to).unwrap();
        sim.flush();
        let mut got = Vec::new();
        sim.run_until(SECS(30), |s| {
            got.extend(take_all(s).into_iter().map(|(_, o, _, _)| o));
            s.client.consumer().position(&tp(0)) == Some(10)
        });
        let first = match to {
            SeekTo::Offset(o) => o,
            _ => 0,
        };
        assert_eq!(got, (first..10).collect::<Vec<_>>(), "{to:?}");
    }
}

/// A member that joins before its metadata knows the topic asks for its
/// committed offsets without the topic's id: the answer cannot name the
/// partition, which must not be taken for "nothing committed" (the
/// member would start over from the reset policy and read everything
/// again); it asks again once it knows the topic.
#[test]
fn sim_a_committed_offset_is_not_lost_to_an_unknown_topic_id() {
    use kafka_proto::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use kafka_proto::messages::OffsetCommitRequest;
    use kafka_state::group::{GroupConfig, RangeAssignor};

    let group = |c: &mut Config| {
        let mut g = GroupConfig::new("g").only_assignor(|| RangeAssignor);
        g.enable_auto_commit = false;
        c.group = Some(g);
        c.consumer.auto_offset_reset = AutoOffsetReset::Earliest;
        c.consumer.fetch_max_wait = MS(100);
    };
    let mut sim = new_sim(43, 1, 2, group);
    for p in 0..2 {
        produce(&mut sim, p, &values("v", 0, 10), 0, Compression::None, None);
    }
    let commit = OffsetCommitRequest::default()
        .with_group_id("g".into())
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(String::new())
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TOPIC.into())
            .with_partitions(
                (0..2)
                    .map(|p| {
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(p)
                            .with_committed_offset(7)
                    })
                    .collect(),
            )]);
    let ResponseBody::OffsetCommit(r) = sim.side_call(0, 8, commit.into()) else {
        panic!("wrong response type")
    };
    assert!(r.topics[0].partitions.iter().all(|p| p.error_code == 0));
    // Client 0 joins alone and leads; it takes no records.
    let now = sim.now;
    sim.client.consumer().subscribe(now, [TOPIC]).unwrap();
    sim.flush();
    sim.run_until(SECS(30), |s| s.client.consumer().assignment().len() == 2);
    // The newcomer's metadata answers come late: it is assigned its
    // partition before it knows the topic.
    sim.cluster.set_api_latency(ApiKey::Metadata, SECS(4));
    let peer = sim.add_client(group);
    let now = sim.now;
    sim.client_of(peer)
        .consumer()
        .subscribe(now, [TOPIC])
        .unwrap();
    sim.flush();
    let mut first: Option<i64> = None;
    sim.run_until(SECS(60), |s| {
        let now = s.now;
        let c = s.client_of(peer);
        while let Some(fetched) = c.consumer().poll_records(now) {
            for r in fetched {
                let r = r.expect("records decode");
                first.get_or_insert(r.offset);
            }
        }
        first.is_some()
    });
    assert_eq!(
        first,
        Some(7),
        "the newcomer starts at the committed offset"
    );
}

/// A seek made while an offset lookup (the reset of a new partition, or
/// an earlier seek to the end) is unanswered wins over its late answer.
#[test]
fn sim_a_seek_wins_over_a_late_offset_lookup() {
    for earlier in [None, Some(SeekTo::Latest)] {
        let mut sim = new_sim(47, 1, 1, |_| {});
        produce(&mut sim, 0, &values("v", 0, 10), 0, Compression::None, None);
        sim.cluster.set_api_latency(ApiKey::ListOffsets, SECS(2));
        assign(&mut sim, [0]);
        sim.flush();
        if let Some(to) = earlier {
            let now = sim.now;
            sim.client.consumer().seek(now, &tp(0), to).unwrap();
            sim.flush();
        }
        // The lookup is on its way; the application seeks.
        sim.run_exactly(MS(500));
        let now = sim.now;
        sim.client
            .consumer()
            .seek(now, &tp(0), SeekTo::Offset(4))
            .unwrap();
        sim.flush();
        let mut got = Vec::new();
        sim.run_until(SECS(30), |s| {
            got.extend(take_all(s).into_iter().map(|(_, o, _, _)| o));
            s.client.consumer().position(&tp(0)) == Some(10)
        });
        // The late answer moves nothing afterwards.
        sim.run_for(SECS(5));
        got.extend(take_all(&mut sim).into_iter().map(|(_, o, _, _)| o));
        assert_eq!(got, (4..10).collect::<Vec<_>>(), "{earlier:?}");
        assert_eq!(sim.client.consumer().position(&tp(0)), Some(10));
    }
}

/// A client that consumes and produces on the same broker: its fetch,
/// caught up, is held by the broker for `fetch_max_wait` (here 5 s), and a
/// broker answers one connection's requests in order, so the producer's
/// batches go on a connection of their own and are acknowledged long
/// before the fetch returns.
#[test]
fn sim_acks_do_not_wait_behind_a_held_fetch() {
    for_each_seed(|seed| {
        let mut sim = new_sim(seed, 1, 1, |c| {
            c.consumer.fetch_max_wait = SECS(5);
            c.producer.linger = Duration::ZERO;
        });
        assign(&mut sim, [0]);
        // Caught up on the empty partition: the next fetch is held.
        sim.run_for(SECS(1));
        let now = sim.now;
        let id = sim
            .client
            .producer()
            .send(now, ProducerRecord::new(TOPIC).with_value("v"))
            .unwrap();
        let sent = sim.now;
        sim.wait_for(SECS(10), |e| {
            let (_, result) = e.outcomes().find(|(got, _)| *got == id)?;
            assert!(result.is_ok(), "{result:?}");
            Some(())
        });
        let took = sim.now - sent;
        assert!(took < SECS(1), "seed {seed}: acked after {took:?}");
    });
}
