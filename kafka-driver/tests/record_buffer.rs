//! The consumer handle's buffer against a simulated cluster: what the
//! core takes away stops reaching the application at once.

#[path = "../../kafka-state/tests/sim/mod.rs"]
mod sim;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_driver::{Calls, Error, Rebalance, RecordBuffer};
use kafka_state::consumer::AutoOffsetReset;
use kafka_state::{Event, FetchedRecords, ProducerRecord, TopicPartition};
use sim::Sim;

type Pulled = Arc<Mutex<Option<Result<Vec<FetchedRecords>, Error>>>>;

/// Hands the events the sim collected since `seen` to `calls`.
fn feed(sim: &mut Sim, calls: &mut Calls, seen: &mut usize) {
    for e in sim.events[*seen..].iter().cloned() {
        calls.handle_event(&mut sim.client, e);
    }
    *seen = sim.events.len();
}

#[test]
fn records_of_partitions_the_core_takes_away_are_dropped_before_the_next_pull() {
    let mut sim = Sim::with_config(7, 1, |c| {
        c.consumer.auto_offset_reset = AutoOffsetReset::Earliest;
        c.consumer.fetch_max_wait = Duration::from_millis(50);
    });
    sim.cluster.create_topic("t", 2, 1).unwrap();
    let now = sim.now;
    for p in 0..2 {
        for i in 0..10 {
            let r = ProducerRecord::new("t")
                .with_partition(p)
                .with_value(format!("{p}-{i}"))
                .with_timestamp(1);
            sim.client.producer().send(now, r).unwrap();
        }
    }
    sim.run_until(Duration::from_secs(30), |s| {
        let delivered = s
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Delivered(batch) => Some(batch.len()),
                _ => None,
            })
            .sum::<usize>();
        delivered == 20
    });

    let mut calls: Calls = Calls::default();
    let mut seen = sim.events.len();
    let mut buffer = RecordBuffer::new(&sim.client, &mut calls);
    let (p0, p1) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
    let now = sim.now;
    sim.client
        .consumer()
        .assign(now, [p0.clone(), p1.clone()])
        .unwrap();
    // Pull until the buffer holds both partitions' records.
    let mut have = std::collections::BTreeSet::new();
    while have.len() < 2 {
        let pulled: Pulled = Arc::default();
        let into = Arc::clone(&pulled);
        let now = sim.now;
        calls.pull_records(
            &mut sim.client,
            now,
            16,
            Box::new(move |r| *into.lock().unwrap() = Some(r)),
        );
        buffer.pull_started();
        sim.run_until(Duration::from_secs(30), |s| {
            let now = s.now;
            calls.serve_pull(&mut s.client, now);
            pulled.lock().unwrap().is_some()
        });
        let answer = pulled.lock().unwrap().take().unwrap();
        for f in answer.as_ref().unwrap() {
            have.insert(f.partition().clone());
        }
        buffer.pulled(answer).unwrap();
    }
    feed(&mut sim, &mut calls, &mut seen);
    // The assignment reached the handle too: it syncs (as the lease does
    // before its next record) and has the change for the listener.
    assert!(buffer.must_sync());
    buffer.sync(&mut sim.client, &mut calls);
    assert_eq!(
        Vec::from(buffer.take_changes()),
        [Rebalance::Assigned(vec![p0.clone(), p1.clone()])]
    );

    // The application takes a record; nothing counts as consumed in the
    // core until the buffer syncs.
    let first = buffer.next_record().unwrap().unwrap();
    assert!(!buffer.must_sync());

    // The core moves that record's partition away with no call through
    // the handle (as a group rebalance does): the buffer stops at once.
    let gone = TopicPartition::new("t", first.partition);
    let kept = if gone == p0 { p1.clone() } else { p0.clone() };
    let now = sim.now;
    sim.client.consumer().assign(now, [kept.clone()]).unwrap();
    sim.run_for(Duration::from_millis(1));
    feed(&mut sim, &mut calls, &mut seen);
    assert!(buffer.must_sync(), "the revoke reached the handle");
    assert!(buffer.next_record().is_none(), "nothing until it syncs");
    buffer.sync(&mut sim.client, &mut calls);
    assert_eq!(
        Vec::from(buffer.take_changes()),
        [Rebalance::Revoked(vec![gone.clone()])]
    );
    let mut rest = Vec::new();
    while let Some(r) = buffer.next_record() {
        rest.push(r.unwrap());
    }
    assert!(!rest.is_empty());
    assert!(
        rest.iter().all(|r| r.partition == kept.partition),
        "no record of the partition taken away"
    );
    // What was yielded of the kept partition is stored as consumed.
    buffer.sync(&mut sim.client, &mut calls);
    let last = rest.last().unwrap();
    let consumed = sim.client.consumer().consumed(&kept).unwrap();
    assert_eq!(consumed.offset, last.offset + 1);
    assert!(sim.client.consumer().consumed(&gone).is_none());
}
