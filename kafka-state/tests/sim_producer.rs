//! The producer against the mock cluster in the deterministic simulation:
//! exactly one delivery report per record, every acknowledged record in
//! the log exactly once and in send order per partition, under dropped
//! connections, injected errors, leader moves and broker restarts.

mod sim;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use kafka_mock::ErrorInjection;
use kafka_proto::record::Batches;
use kafka_proto::{ApiKey, ErrorCode};
use kafka_state::producer::partition_for_key;
use kafka_state::{
    Acks, DeliveryId, DeliveryReport, Event, ProduceError, ProducerRecord, SendError,
};
use sim::{for_each_seed, Sim};

const MS: fn(u64) -> Duration = Duration::from_millis;
const SECS: fn(u64) -> Duration = Duration::from_secs;
const TOPIC: &str = "events";

type Report = Result<DeliveryReport, ProduceError>;

/// Every delivery report so far, by id, in arrival order.
fn reports(sim: &Sim) -> BTreeMap<DeliveryId, Vec<Report>> {
    let mut out: BTreeMap<DeliveryId, Vec<Report>> = BTreeMap::new();
    for e in &sim.events {
        for (id, result) in e.outcomes() {
            out.entry(id).or_default().push(result);
        }
    }
    out
}

/// The records of a partition's log as (offset, value, producer id).
fn log(sim: &Sim, topic: &str, partition: i32) -> Vec<(i64, Bytes, i64)> {
    let mut out = Vec::new();
    for bytes in sim.cluster.partition_batches(topic, partition).unwrap() {
        for batch in Batches::new(bytes) {
            let batch = batch.unwrap();
            let pid = batch.header().producer_id;
            for r in batch.records().unwrap() {
                let r = r.unwrap();
                out.push((r.offset, r.value.unwrap_or_default(), pid));
            }
        }
    }
    out
}

fn send(sim: &mut Sim, record: ProducerRecord) -> DeliveryId {
    let now = sim.now;
    let id = sim
        .client
        .producer()
        .send(now, record)
        .unwrap_or_else(|e| panic!("seed {}: send failed: {e}", sim.seed));
    sim.flush();
    id
}

fn wait_idle(sim: &mut Sim, limit: Duration) {
    sim.run_until(limit, |s| s.client.producer().is_idle());
}

/// What the test sent: the record's index, its value, and the partition
/// it must land on if the test can tell.
struct Sent {
    index: usize,
    value: Bytes,
    partition: Option<i32>,
}

/// Checks exactly-once delivery reports, the log against the reports
/// (present once at the reported offset), no duplicates, and per
/// partition order. Returns the number of successful records.
fn check_delivery(
    sim: &Sim,
    topic: &str,
    partitions: i32,
    sent: &BTreeMap<DeliveryId, Sent>,
) -> usize {
    let seed = sim.seed;
    let reports = reports(sim);
    assert_eq!(
        reports.keys().collect::<BTreeSet<_>>(),
        sent.keys().collect::<BTreeSet<_>>(),
        "seed {seed}: reports for exactly the records sent"
    );
    let mut logs = BTreeMap::new();
    let mut seen_values = BTreeSet::new();
    for p in 0..partitions {
        let l = log(sim, topic, p);
        for (_, value, _) in &l {
            assert!(
                seen_values.insert(value.clone()),
                "seed {seed}: {value:?} written twice"
            );
        }
        logs.insert(p, l);
    }
    let mut ok = 0;
    let mut last_offset: BTreeMap<i32, (usize, i64)> = BTreeMap::new();
    for (id, s) in sent {
        let r = &reports[id];
        assert_eq!(
            r.len(),
            1,
            "seed {seed}: {id} reported {} times: {r:?}",
            r.len()
        );
        let Ok(report) = &r[0] else {
            eprintln!("seed {seed}: {id} (record {}) failed: {:?}", s.index, r[0]);
            continue;
        };
        ok += 1;
        assert_eq!(&*report.topic, topic);
        if let Some(p) = s.partition {
            assert_eq!(
                report.partition, p,
                "seed {seed}: {id} on the wrong partition"
            );
        }
        let l = &logs[&report.partition];
        let found = l.iter().find(|(o, _, _)| *o == report.offset);
        assert_eq!(
            found.map(|(_, v, _)| v),
            Some(&s.value),
            "seed {seed}: {id} not in the log at its reported offset {}",
            report.offset
        );
        if let Some((prev_index, prev_offset)) = last_offset.get(&report.partition) {
            assert!(
                report.offset > *prev_offset,
                "seed {seed}: record {} (offset {}) written before record {prev_index} (offset {prev_offset})",
                s.index,
                report.offset
            );
        }
        last_offset.insert(report.partition, (s.index, report.offset));
    }
    ok
}

/// A pseudo-random number from the simulation's network RNG.
fn roll(sim: &mut Sim, n: u64) -> u64 {
    sim.rng.next_u64() % n
}

/// Sends `n` records (explicit partitions, keys, no keys) in bursts to
/// `TOPIC` while the network and cluster misbehave: dropped connections,
/// injected retriable errors, leader moves, a broker down for a while, a
/// broker that stops answering, and (if `lost_sequences`) lost producer
/// state. Ends flushed, with every record reported.
fn produce_with_faults(
    sim: &mut Sim,
    partitions: i32,
    n: usize,
    lost_sequences: bool,
) -> BTreeMap<DeliveryId, Sent> {
    let mut sent = BTreeMap::new();
    let mut down: Option<(i32, std::time::Instant)> = None;
    let mut silent: Option<(i32, std::time::Instant)> = None;
    let mut i = 0;
    while i < n {
        for _ in 0..1 + roll(sim, 12) {
            if i == n {
                break;
            }
            if roll(sim, 24) == 0 {
                // A flush amid a burst makes every open batch sendable,
                // more of them than a small request holds, while more
                // records arrive.
                let now = sim.now;
                sim.client.producer().flush(now).unwrap();
            }
            let value = Bytes::from(format!("value-{i}"));
            let mut r = ProducerRecord::new(TOPIC)
                .with_value(value.clone())
                .with_timestamp(1_700_000_000_000 + i as i64);
            let mut partition = None;
            if i % 5 == 0 {
                r = r.with_partition(i as i32 % partitions);
                partition = Some(i as i32 % partitions);
            } else if i % 3 == 0 {
                let key = format!("key-{}", i % 7);
                partition = Some(partition_for_key(key.as_bytes(), partitions));
                r = r.with_key(key);
            }
            let id = send(sim, r);
            sent.insert(
                id,
                Sent {
                    index: i,
                    value,
                    partition,
                },
            );
            i += 1;
        }
        match roll(sim, 16) {
            0 => {
                let conns = sim.open_conns();
                if !conns.is_empty() {
                    let c = conns[roll(sim, conns.len() as u64) as usize];
                    sim.drop_connection(c);
                }
            }
            1 | 2 => {
                let p = roll(sim, partitions as u64) as i32;
                let count = 1 + roll(sim, 3) as u32;
                let code = [
                    ErrorCode::NotLeaderOrFollower,
                    ErrorCode::NotEnoughReplicas,
                    ErrorCode::RequestTimedOut,
                    ErrorCode::LeaderNotAvailable,
                ][roll(sim, 4) as usize];
                sim.cluster.inject_error(
                    ErrorInjection::new(ApiKey::Produce, code, count).on_partition(TOPIC, p),
                );
            }
            3 => {
                let p = roll(sim, partitions as u64) as i32;
                let live: Vec<i32> = (0..3).filter(|b| down.map(|d| d.0) != Some(*b)).collect();
                let b = live[roll(sim, live.len() as u64) as usize];
                sim.cluster.move_leader(TOPIC, p, b).unwrap();
            }
            5 if lost_sequences => {
                // The broker lost our state (or saw a gap): the epoch is bumped.
                let p = roll(sim, partitions as u64) as i32;
                let code = [
                    ErrorCode::OutOfOrderSequenceNumber,
                    ErrorCode::UnknownProducerId,
                ][roll(sim, 2) as usize];
                sim.cluster.inject_error(
                    ErrorInjection::new(ApiKey::Produce, code, 1).on_partition(TOPIC, p),
                );
            }
            6 if silent.is_none() => {
                // A broker stops answering for a while: requests time out.
                let b = roll(sim, 3) as i32;
                sim.cluster.set_broker_silent(b, true).unwrap();
                silent = Some((b, sim.now + MS(100 + roll(sim, 3000))));
            }
            4 if down.is_none() => {
                let b = roll(sim, 3) as i32;
                sim.set_broker_up(b, false);
                down = Some((b, sim.now + MS(200 + roll(sim, 2000))));
            }
            _ => {}
        }
        let pause = MS(roll(sim, 40));
        sim.run_exactly(pause);
        if let Some((b, until)) = down {
            if sim.now >= until {
                sim.set_broker_up(b, true);
                down = None;
            }
        }
        if let Some((b, until)) = silent {
            if sim.now >= until {
                sim.cluster.set_broker_silent(b, false).unwrap();
                silent = None;
            }
        }
    }
    if let Some((b, _)) = down {
        sim.set_broker_up(b, true);
    }
    if let Some((b, _)) = silent {
        sim.cluster.set_broker_silent(b, false).unwrap();
    }
    let now = sim.now;
    sim.client.producer().flush(now).unwrap();
    wait_idle(sim, SECS(300));
    sim.flush();
    sent
}

#[test]
fn sim_idempotent_produce_survives_faults_exactly_once_in_order() {
    for_each_seed(|seed| {
        let mut sim = Sim::with_config(seed, 3, |c| {
            c.producer.linger = MS(1 + seed % 10);
            c.producer.batch_size = 512 + (seed as usize % 4) * 1024;
            // Some seeds allow small requests, which one or two batches of
            // a few records fill, one at a time per connection: a batch
            // left out of a full request waits for the next one.
            if seed % 3 == 0 {
                c.producer.max_request_size = 256 + (seed as usize % 2) * 128;
                c.max_in_flight = 1;
            }
        });
        let partitions = 4;
        sim.cluster.create_topic(TOPIC, partitions, 3).unwrap();
        let n = 240;
        let sent = produce_with_faults(&mut sim, partitions, n, true);
        let ok = check_delivery(&sim, TOPIC, partitions, &sent);
        // Only a lost sequence on a batch that may already be in the log
        // fails records (rewriting it could duplicate it); the rest of the
        // faults are transient.
        let lost_sequence = reports(&sim)
            .values()
            .filter(|r| {
                matches!(
                    r[0],
                    Err(ProduceError::Broker {
                        code: ErrorCode::OutOfOrderSequenceNumber | ErrorCode::UnknownProducerId,
                        ..
                    })
                )
            })
            .count();
        assert_eq!(
            ok + lost_sequence,
            n,
            "seed {seed}: transient faults must not fail records"
        );
        assert!(sim.events.contains(&Event::FlushComplete));
        // Idempotence was on: every stored batch carries a producer id.
        for p in 0..partitions {
            assert!(log(&sim, TOPIC, p).iter().all(|(_, _, pid)| *pid >= 0));
        }
    });
}

#[test]
fn sim_broken_sequence_bumps_the_epoch_and_still_writes_once() {
    for_each_seed(|seed| {
        let mut sim = Sim::new(seed, 3);
        sim.cluster.create_topic(TOPIC, 2, 3).unwrap();
        let mut sent = BTreeMap::new();
        for i in 0..10 {
            let value = Bytes::from(format!("a-{i}"));
            let id = send(
                &mut sim,
                ProducerRecord::new(TOPIC)
                    .with_partition(i % 2)
                    .with_value(value.clone()),
            );
            sent.insert(
                id,
                Sent {
                    index: i as usize,
                    value,
                    partition: Some(i % 2),
                },
            );
        }
        wait_idle(&mut sim, SECS(60));
        let (pid, epoch) = sim.client.producer().producer_id().unwrap();
        assert_eq!(epoch, 0);
        let code = if seed % 2 == 0 {
            ErrorCode::OutOfOrderSequenceNumber
        } else {
            ErrorCode::UnknownProducerId
        };
        sim.cluster
            .inject_error(ErrorInjection::new(ApiKey::Produce, code, 1).on_partition(TOPIC, 0));
        for i in 10..30 {
            let value = Bytes::from(format!("a-{i}"));
            let id = send(
                &mut sim,
                ProducerRecord::new(TOPIC)
                    .with_partition(i % 2)
                    .with_value(value.clone()),
            );
            sent.insert(
                id,
                Sent {
                    index: i as usize,
                    value,
                    partition: Some(i % 2),
                },
            );
            sim.run_for(MS(seed % 7));
        }
        wait_idle(&mut sim, SECS(60));
        assert_eq!(check_delivery(&sim, TOPIC, 2, &sent), 30, "seed {seed}");
        assert_eq!(
            sim.client.producer().producer_id(),
            Some((pid, 1)),
            "seed {seed}: epoch bumped once"
        );
    });
}

#[test]
fn sim_oversized_batches_are_split() {
    for_each_seed(|seed| {
        let mut sim = Sim::with_config(seed, 1, |c| {
            c.producer.linger = MS(50);
            c.producer.batch_size = 64 * 1024;
        });
        sim.cluster.create_topic(TOPIC, 1, 1).unwrap();
        // Room for a few records per batch, not for a full one.
        sim.cluster.set_max_message_bytes(700);
        let mut sent = BTreeMap::new();
        for i in 0..40 {
            let value = Bytes::from(format!("{i:0>100}"));
            let id = send(
                &mut sim,
                ProducerRecord::new(TOPIC).with_value(value.clone()),
            );
            sent.insert(
                id,
                Sent {
                    index: i,
                    value,
                    partition: Some(0),
                },
            );
        }
        // One record alone above the limit fails with MESSAGE_TOO_LARGE.
        let big = send(
            &mut sim,
            ProducerRecord::new(TOPIC).with_value(vec![b'x'; 800]),
        );
        wait_idle(&mut sim, SECS(60));
        let r = reports(&sim);
        assert!(
            matches!(
                &r[&big][..],
                [Err(ProduceError::Broker {
                    code: ErrorCode::MessageTooLarge,
                    ..
                })]
            ),
            "seed {seed}: {:?}",
            r[&big]
        );
        let mut sent_all = sent;
        sent_all.insert(
            big,
            Sent {
                index: 40,
                value: Bytes::from(vec![b'x'; 800]),
                partition: Some(0),
            },
        );
        assert_eq!(check_delivery(&sim, TOPIC, 1, &sent_all), 40, "seed {seed}");
    });
}

#[test]
fn sim_acks_zero_reports_offset_minus_one_without_responses() {
    for_each_seed(|seed| {
        let mut sim = Sim::with_config(seed, 3, |c| {
            c.producer.acks = Acks::None;
            c.producer.enable_idempotence = false;
        });
        sim.cluster.create_topic(TOPIC, 3, 3).unwrap();
        let mut values = BTreeSet::new();
        for i in 0..50 {
            let value = Bytes::from(format!("z-{i}"));
            values.insert(value.clone());
            send(
                &mut sim,
                ProducerRecord::new(TOPIC)
                    .with_key(format!("k{i}"))
                    .with_value(value),
            );
        }
        wait_idle(&mut sim, SECS(30));
        let r = reports(&sim);
        assert_eq!(r.len(), 50);
        for reports in r.values() {
            assert!(
                matches!(&reports[..], [Ok(DeliveryReport { offset: -1, .. })]),
                "{reports:?}"
            );
        }
        // The cluster still got everything (the network here loses nothing).
        sim.run_for(SECS(1));
        let written: BTreeSet<Bytes> = (0..3)
            .flat_map(|p| log(&sim, TOPIC, p))
            .map(|(_, v, _)| v)
            .collect();
        assert_eq!(written, values, "seed {seed}");
        // Nothing waits for an answer: connections carry no stuck requests.
        assert!(sim.client.poll_timeout().is_none_or(|t| t > sim.now));
    });
}

#[test]
fn sim_delivery_timeout_fires_when_and_only_when_due() {
    for_each_seed(|seed| {
        let timeout = SECS(40);
        let mut sim = Sim::with_config(seed, 1, |c| {
            c.producer.delivery_timeout = timeout;
        });
        sim.cluster.create_topic(TOPIC, 1, 1).unwrap();
        sim.wait_metadata(SECS(5), |_| true);
        let a_at = sim.now;
        let a = send(&mut sim, ProducerRecord::new(TOPIC).with_value("a"));
        wait_idle(&mut sim, SECS(5));
        // The only broker goes away: records wait for it.
        sim.set_broker_up(0, false);
        let b_at = sim.now;
        let b = send(&mut sim, ProducerRecord::new(TOPIC).with_value("b"));
        sim.run_for(SECS(20));
        let c_at = sim.now;
        let c = send(&mut sim, ProducerRecord::new(TOPIC).with_value("c"));
        // Nothing about b before its deadline.
        let mut b_done = None;
        sim.run_until(SECS(60), |s| {
            if reports(s).contains_key(&b) {
                b_done = Some(s.now);
                true
            } else {
                false
            }
        });
        let b_done = b_done.unwrap();
        assert!(
            b_done >= b_at + timeout,
            "seed {seed}: expired {:?} early",
            b_at + timeout - b_done
        );
        assert!(
            b_done <= b_at + timeout + MS(10),
            "seed {seed}: expired {:?} late",
            b_done - (b_at + timeout)
        );
        assert_eq!(reports(&sim)[&b], vec![Err(ProduceError::Timeout)]);
        assert!(
            !reports(&sim).contains_key(&c),
            "seed {seed}: c is not due yet"
        );
        // The broker is back before c's deadline: c is written.
        sim.set_broker_up(0, true);
        wait_idle(&mut sim, SECS(30));
        assert!(sim.now < c_at + timeout);
        let r = reports(&sim);
        assert!(
            matches!(&r[&a][..], [Ok(DeliveryReport { offset: 0, .. })]),
            "{r:?}"
        );
        assert!(
            matches!(&r[&c][..], [Ok(DeliveryReport { offset: 1, .. })]),
            "seed {seed}: {r:?}"
        );
        let _ = a_at;
    });
}

#[test]
fn sim_unknown_topic_fails_at_the_delivery_timeout() {
    for_each_seed(|seed| {
        let timeout = SECS(35);
        let mut sim = Sim::with_config(seed, 1, |c| c.producer.delivery_timeout = timeout);
        let at = sim.now;
        let id = send(&mut sim, ProducerRecord::new("missing").with_value("v"));
        let mut done = None;
        sim.run_until(SECS(60), |s| {
            let found = reports(s).contains_key(&id);
            if found {
                done = Some(s.now);
            }
            found
        });
        let done = done.unwrap();
        assert!(
            done >= at + timeout && done <= at + timeout + MS(10),
            "seed {seed}"
        );
        assert_eq!(
            reports(&sim)[&id],
            vec![Err(ProduceError::Broker {
                code: ErrorCode::UnknownTopicOrPartition,
                message: None
            })]
        );
    });
}

#[test]
fn sim_throttle_delays_the_next_produce() {
    for_each_seed(|seed| {
        let mut sim = Sim::new(seed, 1);
        sim.cluster.create_topic(TOPIC, 1, 1).unwrap();
        let first = send(&mut sim, ProducerRecord::new(TOPIC).with_value("1"));
        wait_idle(&mut sim, SECS(10));
        sim.cluster.set_throttle_ms(500);
        send(&mut sim, ProducerRecord::new(TOPIC).with_value("2"));
        wait_idle(&mut sim, SECS(10));
        let throttled_at = sim.now;
        sim.cluster.set_throttle_ms(0);
        send(&mut sim, ProducerRecord::new(TOPIC).with_value("3"));
        wait_idle(&mut sim, SECS(10));
        assert!(
            sim.now >= throttled_at + MS(500),
            "seed {seed}: throttle ignored"
        );
        assert!(
            sim.now <= throttled_at + MS(600),
            "seed {seed}: waited too long"
        );
        assert!(reports(&sim)[&first][0].is_ok());
    });
}

#[test]
fn sim_buffer_full_gives_the_record_back_and_signals_room() {
    for_each_seed(|seed| {
        let mut sim = Sim::with_config(seed, 1, |c| {
            c.producer.buffer_memory = 4096;
            c.producer.batch_size = 1024;
            c.producer.max_request_size = 2048;
        });
        sim.cluster.create_topic(TOPIC, 1, 1).unwrap();
        let mut accepted = Vec::new();
        let rejected = loop {
            let now = sim.now;
            let r = ProducerRecord::new(TOPIC).with_value(vec![b'v'; 300]);
            match sim.client.producer().send(now, r.clone()) {
                Ok(id) => accepted.push(id),
                Err(SendError::BufferFull(back)) => {
                    assert_eq!(*back, r, "the record comes back intact");
                    break *back;
                }
                Err(e) => panic!("{e}"),
            }
        };
        // Each costs its ~340 encoded bytes and the per-record charge.
        let fits = 4096 / (300 + 64 + kafka_state::producer::RECORD_OVERHEAD);
        assert!(accepted.len() >= fits, "{} of {fits}", accepted.len());
        sim.flush();
        sim.wait_for(SECS(10), |e| (*e == Event::BufferAvailable).then_some(()));
        let now = sim.now;
        let id = sim.client.producer().send(now, rejected).unwrap();
        wait_idle(&mut sim, SECS(10));
        let r = reports(&sim);
        assert!(
            accepted
                .iter()
                .chain([&id])
                .all(|id| r[id].len() == 1 && r[id][0].is_ok()),
            "seed {seed}"
        );
    });
}

#[test]
fn sim_at_least_once_without_idempotence_under_faults() {
    for_each_seed(|seed| {
        let mut sim = Sim::with_config(seed, 3, |c| {
            c.producer.enable_idempotence = false;
            c.producer.acks = if seed % 2 == 0 {
                Acks::All
            } else {
                Acks::Leader
            };
            c.producer.linger = MS(seed % 5);
        });
        let partitions = 3;
        sim.cluster.create_topic(TOPIC, partitions, 3).unwrap();
        let sent = produce_with_faults(&mut sim, partitions, 150, false);
        let reports = reports(&sim);
        assert_eq!(reports.len(), sent.len(), "seed {seed}");
        for (id, s) in &sent {
            let r = &reports[id];
            assert_eq!(r.len(), 1, "seed {seed}: {id} reported {r:?}");
            let report = r[0]
                .as_ref()
                .unwrap_or_else(|e| panic!("seed {seed}: {id} failed: {e}"));
            if let Some(p) = s.partition {
                assert_eq!(report.partition, p);
            }
            // Retries may write twice without idempotence, never lose.
            let log = log(&sim, TOPIC, report.partition);
            assert!(
                log.iter()
                    .any(|(o, v, pid)| *o == report.offset && *v == s.value && *pid == -1),
                "seed {seed}: {id} not at offset {}",
                report.offset
            );
        }
    });
}

#[test]
fn sim_leader_move_refreshes_metadata_and_reroutes() {
    for_each_seed(|seed| {
        let mut sim = Sim::new(seed, 3);
        sim.cluster.create_topic(TOPIC, 1, 3).unwrap();
        let first = send(&mut sim, ProducerRecord::new(TOPIC).with_value("before"));
        wait_idle(&mut sim, SECS(10));
        let old = sim.cluster.partition_leader(TOPIC, 0).unwrap();
        let new = (old + 1 + (seed % 2) as i32) % 3;
        sim.cluster.move_leader(TOPIC, 0, new).unwrap();
        let updates_before = sim
            .events
            .iter()
            .filter(|e| **e == Event::MetadataUpdated)
            .count();
        let second = send(&mut sim, ProducerRecord::new(TOPIC).with_value("after"));
        wait_idle(&mut sim, SECS(10));
        // The old leader refused it; only the new one could write it.
        let r = reports(&sim);
        assert!(matches!(
            &r[&first][..],
            [Ok(DeliveryReport { offset: 0, .. })]
        ));
        assert!(
            matches!(&r[&second][..], [Ok(DeliveryReport { offset: 1, .. })]),
            "seed {seed}: {r:?}"
        );
        assert_eq!(sim.client.cluster().leader_for(TOPIC, 0), Some(new));
        assert!(
            sim.events
                .iter()
                .filter(|e| **e == Event::MetadataUpdated)
                .count()
                > updates_before
        );
        assert!(
            sim.elapsed() < SECS(5),
            "seed {seed}: no waiting for the periodic refresh"
        );
    });
}

#[test]
fn sim_compressed_batches_reach_the_log_intact() {
    use kafka_proto::record::Compression;
    for_each_seed(|seed| {
        let codec = [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ][seed as usize % 4];
        let mut sim = Sim::with_config(seed, 3, |c| {
            c.producer.compression = codec;
            c.producer.linger = MS(20);
        });
        sim.cluster.create_topic(TOPIC, 2, 3).unwrap();
        let mut sent = BTreeMap::new();
        for i in 0..60 {
            // Repetitive values, so compression has something to do.
            let value = Bytes::from(format!("{i}-{}", "abc".repeat(50)));
            let id = send(
                &mut sim,
                ProducerRecord::new(TOPIC)
                    .with_partition(i % 2)
                    .with_value(value.clone()),
            );
            sent.insert(
                id,
                Sent {
                    index: i as usize,
                    value,
                    partition: Some(i % 2),
                },
            );
        }
        wait_idle(&mut sim, SECS(30));
        assert_eq!(check_delivery(&sim, TOPIC, 2, &sent), 60, "seed {seed}");
        for p in 0..2 {
            for bytes in sim.cluster.partition_batches(TOPIC, p).unwrap() {
                let b = Batches::new(bytes).next().unwrap().unwrap();
                assert_eq!(b.header().compression(), Some(codec));
            }
        }
    });
}
