//! Statistics in the deterministic simulation: what `Client::stats`
//! reports is checked against what the simulated network and cluster
//! saw (requests written, records delivered, latency injected,
//! throttling, reconnects, fetch positions, group membership), and the
//! periodic snapshots come at the configured interval.

mod sim;

use std::time::Duration;

use bytes::Bytes;
use kafka_proto::ApiKey;
use kafka_state::consumer::AutoOffsetReset;
use kafka_state::group::{GroupConfig, GroupEvent};
use kafka_state::producer::ProducerRecord;
use kafka_state::stats::{ConnRole, ConnState, GroupState};
use kafka_state::{ClientStats, Event, TopicPartition};
use sim::{for_each_seed, Sim};

const MS: fn(u64) -> Duration = Duration::from_millis;
const SECS: fn(u64) -> Duration = Duration::from_secs;
const TOPIC: &str = "s";

fn delivered(sim: &Sim) -> usize {
    sim.events
        .iter()
        .filter_map(|e| match e {
            Event::Delivered(batch) => Some(batch.len()),
            _ => None,
        })
        .sum()
}

/// Has the client track the topic and waits until its leaders are known.
fn know_topic(sim: &mut Sim) {
    let now = sim.now;
    sim.client.track_topic(now, TOPIC).unwrap();
    sim.wait_metadata(SECS(10), |m| {
        m.topic(TOPIC)
            .is_some_and(|t| t.partitions.iter().all(|p| p.leader.is_some()))
    });
}

fn send_n(sim: &mut Sim, n: usize, partitions: i32) {
    for i in 0..n {
        let now = sim.now;
        let record = ProducerRecord::new(TOPIC)
            .with_value(Bytes::from(vec![b'v'; 100]))
            .with_partition(i as i32 % partitions);
        sim.client.producer().send(now, record).unwrap();
    }
}

/// The per-broker sums equal the totals, and no answered request is
/// counted in flight.
fn check_sums(s: &ClientStats) {
    let sum = |f: fn(&kafka_state::stats::BrokerStats) -> u64| s.brokers.iter().map(f).sum::<u64>();
    assert_eq!(s.totals.requests_sent, sum(|b| b.requests_sent));
    assert_eq!(s.totals.bytes_sent, sum(|b| b.bytes_sent));
    assert_eq!(s.totals.responses_received, sum(|b| b.responses_received));
    assert_eq!(s.totals.bytes_received, sum(|b| b.bytes_received));
    assert_eq!(s.totals.in_flight, sum(|b| b.in_flight));
    for b in &s.brokers {
        assert!(b.responses_received <= b.requests_sent, "{b:?}");
    }
}

#[test]
fn sim_stats_match_what_the_network_and_cluster_saw() {
    for_each_seed(|seed| {
        let mut sim = Sim::with_config(seed, 3, |c| {
            c.producer.linger = MS(50);
        });
        sim.jitter = Duration::ZERO;
        sim.latency = MS(2);
        for b in 0..3 {
            sim.cluster.set_broker_latency(b, MS(20));
        }
        sim.cluster.create_topic(TOPIC, 3, 3).unwrap();
        know_topic(&mut sim);

        let before = sim.client.stats();
        assert_eq!(before.totals.records_delivered, 0);
        assert!(before.partitions.is_empty(), "seed {seed}: {before:?}");

        // Lingering: the records wait in open batches, counted per partition.
        send_n(&mut sim, 30, 3);
        let queued = sim.client.stats();
        assert_eq!(queued.totals.producer_records, 30, "seed {seed}");
        assert!(queued.totals.producer_bytes >= 30 * 100);
        let per_partition: Vec<u64> = queued
            .partitions
            .iter()
            .map(|p| {
                let pp = p.producer.expect("producer part");
                pp.queued_records + pp.in_flight_records
            })
            .collect();
        assert_eq!(per_partition, vec![10, 10, 10], "seed {seed}");
        assert!(queued.partitions.iter().all(|p| p.leader.is_some()));

        sim.run_until(SECS(30), |s| delivered(s) == 30);
        sim.run_exactly(MS(200));
        let s = sim.client.stats();
        assert_eq!(s.totals.records_delivered, 30, "seed {seed}");
        assert_eq!(s.totals.records_failed, 0);
        assert_eq!(s.totals.producer_records, 0);
        check_sums(&s);
        // Every request the simulated network carried, and no other.
        assert_eq!(
            s.totals.requests_sent,
            sim.sent.len() as u64,
            "seed {seed}: {s:#?}"
        );
        assert_eq!(s.totals.in_flight, 0, "seed {seed}: {s:#?}");
        assert_eq!(s.totals.responses_received, s.totals.requests_sent);
        assert!(s.totals.bytes_sent > 30 * 100);
        // Produce went on the producer's own connections only.
        let produce_conns: std::collections::BTreeSet<_> = sim
            .sent
            .iter()
            .filter(|(_, _, api)| *api == ApiKey::Produce)
            .map(|(_, c, _)| *c)
            .collect();
        let producer_slots: Vec<_> = s
            .brokers
            .iter()
            .filter(|b| b.role == ConnRole::Producer)
            .collect();
        assert_eq!(producer_slots.len(), produce_conns.len(), "seed {seed}");
        for b in producer_slots {
            assert_eq!(b.state, ConnState::Ready);
            assert_eq!((b.connects, b.disconnects), (1, 0));
            // 2 ms each way plus 20 ms at the broker.
            let rtt = b.rtt.expect("answered requests");
            assert!(rtt.samples >= 1);
            assert!(rtt.p50_us >= 24_000, "seed {seed}: {rtt:?}");
            assert!(rtt.p99_us >= rtt.p50_us && rtt.max_us >= rtt.p99_us);
            assert!(rtt.max_us < 40_000, "seed {seed}: {rtt:?}");
        }
        // The client's clock is the last `now` it was given.
        assert!(s.age_us > 0 && s.age_us <= sim.elapsed().as_micros() as u64);
    });
}

#[test]
fn sim_stats_count_throttling_and_reconnects() {
    for_each_seed(|seed| {
        let mut sim = Sim::new(seed, 1);
        sim.cluster.create_topic(TOPIC, 1, 1).unwrap();
        know_topic(&mut sim);
        sim.cluster.set_throttle_ms(30);
        send_n(&mut sim, 5, 1);
        sim.run_until(SECS(30), |s| delivered(s) == 5);
        let s = sim.client.stats();
        let producer = s
            .brokers
            .iter()
            .find(|b| b.role == ConnRole::Producer)
            .expect("a producer connection");
        assert!(
            producer.throttled_responses >= 1,
            "seed {seed}: {producer:?}"
        );
        assert_eq!(producer.last_throttle_ms, 30);
        assert_eq!(producer.throttle_time_ms, 30 * producer.throttled_responses);
        let sent_before = producer.requests_sent;

        // A lost connection: counted, and the counts carry over to the next.
        sim.cluster.set_throttle_ms(0);
        let conn = sim
            .sent
            .iter()
            .rev()
            .find(|(_, _, api)| *api == ApiKey::Produce)
            .map(|(_, c, _)| *c)
            .unwrap();
        sim.drop_connection(conn);
        sim.run_exactly(MS(10));
        let down = sim.client.stats();
        let slot = down
            .brokers
            .iter()
            .find(|b| b.role == ConnRole::Producer)
            .unwrap();
        assert_eq!(slot.disconnects, 1, "seed {seed}: {slot:?}");
        assert!(matches!(slot.state, ConnState::Backoff | ConnState::Down));
        assert_eq!(slot.requests_sent, sent_before);
        send_n(&mut sim, 5, 1);
        sim.run_until(SECS(30), |s| delivered(s) == 10);
        let s = sim.client.stats();
        let slot = s
            .brokers
            .iter()
            .find(|b| b.role == ConnRole::Producer)
            .unwrap();
        assert_eq!((slot.connects, slot.disconnects), (2, 1), "seed {seed}");
        assert!(slot.requests_sent > sent_before);
        assert_eq!(slot.state, ConnState::Ready);
        check_sums(&s);
    });
}

#[test]
fn sim_stats_show_consumer_positions_lag_and_the_group() {
    for_each_seed(|seed| {
        let mut sim = Sim::with_config(seed, 3, |c| {
            c.consumer.auto_offset_reset = AutoOffsetReset::Earliest;
            c.consumer.fetch_max_wait = MS(100);
            c.group = Some(GroupConfig::new("stats-group"));
        });
        sim.cluster.create_topic(TOPIC, 2, 3).unwrap();
        know_topic(&mut sim);
        send_n(&mut sim, 20, 2);
        sim.run_until(SECS(30), |s| delivered(s) == 20);

        let now = sim.now;
        sim.client.consumer().subscribe(now, [TOPIC]).unwrap();
        let g = sim.client.stats().group.expect("a group is configured");
        assert_eq!(g.group_id, "stats-group");
        assert_eq!(g.protocol, "classic");
        assert_ne!(g.state, GroupState::Stable);
        sim.wait_for(SECS(30), |e| {
            matches!(e, Event::Group(GroupEvent::Joined { .. })).then_some(())
        });
        sim.run_until(SECS(30), |s| {
            let st = s.client.stats();
            st.partitions
                .iter()
                .filter_map(|p| p.consumer)
                .filter(|c| c.high_watermark == Some(10))
                .count()
                == 2
        });
        let s = sim.client.stats();
        let g = s.group.clone().unwrap();
        assert_eq!(g.state, GroupState::Stable, "seed {seed}: {g:?}");
        assert!(g.generation >= 1);
        assert!(!g.member_id.is_empty());
        assert_eq!(g.assigned_partitions, 2);
        assert!(g.rebalances >= 1);
        assert!(g.coordinator.is_some());

        // Take the records of partition 0 only and mark them consumed.
        let now = sim.now;
        let mut taken = 0;
        while let Some(fetched) = sim.client.consumer().poll_records(now) {
            if fetched.partition().partition != 0 {
                continue;
            }
            let next = fetched.next_offset();
            taken += fetched.into_iter().count();
            sim.client
                .consumer()
                .store_offset(&TopicPartition::new(TOPIC, 0), next, None)
                .unwrap();
        }
        assert_eq!(taken, 10, "seed {seed}");
        let s = sim.client.stats();
        let c0 = s.partitions[0].consumer.unwrap();
        assert_eq!(c0.position, Some(10), "seed {seed}: {c0:?}");
        assert_eq!(c0.consumed_offset, Some(10));
        assert_eq!(c0.lag, Some(0));
        let c1 = s.partitions[1].consumer.unwrap();
        // Fetched (the position moved) but never marked consumed.
        assert_eq!(c1.consumed_offset, None, "seed {seed}: {c1:?}");
        assert_eq!(s.totals.consumer_lag, c1.lag.unwrap_or(0) as u64);
        let coordinator = s
            .brokers
            .iter()
            .find(|b| b.role == ConnRole::Coordinator)
            .expect("a coordinator connection");
        assert_eq!(coordinator.node, g.coordinator);
        assert!(coordinator.requests_sent >= 3, "join, sync, offsets");
    });
}

#[test]
fn sim_stats_events_come_every_interval() {
    for_each_seed(|seed| {
        let mut sim = Sim::with_config(seed, 1, |c| {
            c.stats_interval = Some(SECS(1));
        });
        sim.run_exactly(MS(5_500));
        let whole_secs = sim.elapsed().as_secs();
        assert_eq!(whole_secs, 5);
        let ages: Vec<u64> = sim
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Stats(s) => Some(s.age_us),
                _ => None,
            })
            .collect();
        assert_eq!(ages.len() as u64, whole_secs, "seed {seed}: {ages:?}");
        for (i, age) in ages.iter().enumerate() {
            let due = (i as u64 + 1) * 1_000_000;
            // At the deadline, or within the step that passed it.
            assert!((due..due + 10_000).contains(age), "seed {seed}: {ages:?}");
        }
    });
}

#[test]
fn a_stats_interval_under_a_millisecond_is_refused() {
    let mut c = kafka_state::Config::bootstrap("localhost:9092").unwrap();
    c.stats_interval = Some(Duration::from_micros(10));
    assert!(c.validate().is_err());
    c.stats_interval = Some(MS(1));
    assert!(c.validate().is_ok());
}
