//! Transactions against the mock cluster in the deterministic simulation,
//! under both transaction protocols: what read_committed readers can see
//! (the log with its markers), fencing, offsets committed with a
//! transaction, and the coordinator's errors.

mod sim;

use std::time::Duration;

use bytes::Bytes;
use kafka_mock::ErrorInjection;
use kafka_proto::messages::OffsetFetchRequest;
use kafka_proto::{ApiKey, ErrorCode, RequestBody, ResponseBody};
use kafka_state::group::{GroupMetadata, OffsetAndMetadata};
use kafka_state::{
    Event, ProduceError, ProducerRecord, SendError, TopicPartition, TxnCause, TxnError, TxnEvent,
    TxnOp, TxnState,
};
use sim::{for_each_seed, Sim};

const SECS: fn(u64) -> Duration = Duration::from_secs;
const MS: fn(u64) -> Duration = Duration::from_millis;
const TOPIC: &str = "out";
const PARTITIONS: i32 = 3;

/// A cluster of `brokers` with `transaction.version` at `tv`, the topic
/// created, and a client with transactional id `id` at peer 0.
fn new_sim(seed: u64, brokers: i32, tv: i16, id: &str) -> Sim {
    let id = id.to_string();
    let mut sim = Sim::with_configs(
        seed,
        brokers,
        |c| c.transaction_version = tv,
        |c| {
            c.producer.transactional_id = Some(id);
            c.request_timeout = SECS(3);
        },
    );
    sim.cluster
        .create_topic(TOPIC, PARTITIONS, brokers.min(3) as i16)
        .unwrap();
    sim
}

/// What a read_committed reader sees per partition, and the values of
/// transactions still open (which would hold every reader back).
fn committed(sim: &Sim) -> (Vec<Vec<Bytes>>, Vec<Bytes>) {
    let mut out = Vec::new();
    let mut open_left = Vec::new();
    for p in 0..PARTITIONS {
        let (seen, open, _) = sim::committed_records(&sim.cluster, TOPIC, p);
        out.push(seen.into_iter().map(|(_, v)| v).collect());
        open_left.extend(open.into_iter().map(|(_, v)| v));
    }
    (out, open_left)
}

fn txn_events(sim: &Sim) -> Vec<TxnEvent> {
    sim.events
        .iter()
        .filter_map(|e| match e {
            Event::Transaction(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

/// Runs until a transaction event arrives after the first `seen`.
fn next_txn_event(sim: &mut Sim, seen: &mut usize, limit: Duration) -> TxnEvent {
    let start = *seen;
    sim.run_until(limit, |s| txn_events(s).len() > start);
    let events = txn_events(sim);
    let e = events
        .get(start)
        .cloned()
        .unwrap_or_else(|| panic!("seed {}: no transaction event after {start}", sim.seed));
    *seen = start + 1;
    e
}

fn init(sim: &mut Sim, seen: &mut usize) {
    let now = sim.now;
    sim.client.transactions().init(now).unwrap();
    sim.flush();
    let e = next_txn_event(sim, seen, SECS(30));
    assert!(
        matches!(e, TxnEvent::Initialized { .. }),
        "seed {}: {e:?}",
        sim.seed
    );
}

fn send(sim: &mut Sim, partition: i32, value: &str) {
    let now = sim.now;
    let record = ProducerRecord::new(TOPIC)
        .with_partition(partition)
        .with_value(value.to_string());
    sim.client.producer().send(now, record).unwrap();
    sim.flush();
}

fn values(v: &[&str]) -> Vec<Bytes> {
    v.iter().map(|s| Bytes::from(s.to_string())).collect()
}

#[test]
fn sim_committed_transactions_are_visible_and_aborted_ones_are_not() {
    for_each_seed(|seed| {
        for tv in [0, 2] {
            let mut sim = new_sim(seed, 3, tv, "copier");
            let mut seen = 0;
            init(&mut sim, &mut seen);
            let mut want: Vec<Vec<Bytes>> = vec![Vec::new(); PARTITIONS as usize];
            for t in 0..6 {
                let now = sim.now;
                sim.client.transactions().begin(now).unwrap();
                let n = 1 + (sim.rng.next_u64() % 12) as usize;
                let commit = t % 3 != 1;
                let mut sent = Vec::new();
                for i in 0..n {
                    let p = (sim.rng.next_u64() % PARTITIONS as u64) as i32;
                    let v = format!("t{t}-{i}");
                    send(&mut sim, p, &v);
                    sent.push((p, v));
                    if sim.rng.next_u64() % 3 == 0 {
                        let pause = MS(sim.rng.next_u64() % 20);
                        sim.run_exactly(pause);
                    }
                }
                let now = sim.now;
                if commit {
                    sim.client.transactions().commit(now).unwrap();
                    for (p, v) in sent {
                        want[p as usize].push(Bytes::from(v));
                    }
                } else {
                    sim.client.transactions().abort(now).unwrap();
                }
                sim.flush();
                let e = next_txn_event(&mut sim, &mut seen, SECS(30));
                let expected = if commit {
                    TxnEvent::Committed
                } else {
                    TxnEvent::Aborted
                };
                assert_eq!(e, expected, "seed {seed} tv {tv}: transaction {t}");
                assert_eq!(
                    sim.client.transactions().state(),
                    Some(TxnState::Ready),
                    "seed {seed} tv {tv}"
                );
            }
            sim.run_until(SECS(10), |s| s.client.producer().is_idle());
            let (got, open) = committed(&sim);
            assert_eq!(got, want, "seed {seed} tv {tv}: what read_committed sees");
            assert!(open.is_empty(), "seed {seed} tv {tv}: left open: {open:?}");
            // Every record has one report; an aborted one either never
            // left or was written and then aborted.
            let failures: Vec<_> = sim
                .events
                .iter()
                .filter_map(|e| match e {
                    Event::DeliveryFailed { error, .. } => Some(error.clone()),
                    _ => None,
                })
                .collect();
            assert!(
                failures
                    .iter()
                    .all(|e| *e == ProduceError::TransactionAborted),
                "seed {seed} tv {tv}: {failures:?}"
            );
        }
    });
}

#[test]
fn sim_commands_out_of_order_are_refused_and_change_nothing() {
    let mut sim = new_sim(1, 1, 2, "order");
    let now = sim.now;
    let refused = |r: Result<(), TxnError>| matches!(r, Err(TxnError::InvalidState { .. }));
    assert!(refused(sim.client.transactions().begin(now)));
    assert!(refused(sim.client.transactions().commit(now)));
    let record = ProducerRecord::new(TOPIC).with_value("early");
    match sim.client.producer().send(now, record) {
        Err(SendError::Transaction { record, error }) => {
            assert_eq!(record.value.as_deref(), Some(&b"early"[..]));
            assert!(matches!(
                error,
                TxnError::InvalidState {
                    state: TxnState::Uninitialized,
                    ..
                }
            ));
        }
        other => panic!("{other:?}"),
    }
    let mut seen = 0;
    init(&mut sim, &mut seen);
    assert!(refused(sim.client.transactions().init(now)));
    assert!(refused(sim.client.transactions().abort(now)));
    let now = sim.now;
    sim.client.transactions().begin(now).unwrap();
    assert!(refused(sim.client.transactions().begin(now)));
    let g = GroupMetadata::new("");
    assert!(matches!(
        sim.client.transactions().send_offsets(now, [], &g),
        Err(TxnError::InvalidArgument(_))
    ));
    // Without a transactional id there are no transactions.
    let mut plain = Sim::new(1, 1);
    let now = plain.now;
    assert_eq!(
        plain.client.transactions().init(now),
        Err(TxnError::NotTransactional)
    );
    assert_eq!(plain.client.transactions().state(), None);
}

#[test]
fn sim_a_new_instance_fences_the_old_one_and_aborts_its_transaction() {
    for_each_seed(|seed| {
        for tv in [0, 2] {
            let mut sim = new_sim(seed, 3, tv, "zombie");
            let mut seen = 0;
            init(&mut sim, &mut seen);
            let now = sim.now;
            sim.client.transactions().begin(now).unwrap();
            send(&mut sim, 0, "old-1");
            send(&mut sim, 1, "old-2");
            sim.run_until(SECS(10), |s| s.client.producer().is_idle());

            // The replacement, same transactional id.
            let new = sim.add_client(|c| {
                c.producer.transactional_id = Some("zombie".into());
                c.request_timeout = SECS(3);
            });
            let now = sim.now;
            sim.client_of(new).transactions().init(now).unwrap();
            sim.flush();
            sim.run_until(SECS(30), |s| {
                s.events_of(new)
                    .iter()
                    .any(|e| matches!(e, Event::Transaction(TxnEvent::Initialized { .. })))
            });
            let now = sim.now;
            sim.client_of(new).transactions().begin(now).unwrap();
            let record = ProducerRecord::new(TOPIC)
                .with_partition(2)
                .with_value("new-1");
            sim.client_of(new).producer().send(now, record).unwrap();
            sim.client_of(new).transactions().commit(now).unwrap();
            sim.flush();
            sim.run_until(SECS(30), |s| {
                s.events_of(new)
                    .iter()
                    .any(|e| matches!(e, Event::Transaction(TxnEvent::Committed)))
            });

            // The old instance learns it was fenced when it commits.
            let now = sim.now;
            sim.client.transactions().commit(now).unwrap();
            sim.flush();
            let e = next_txn_event(&mut sim, &mut seen, SECS(30));
            let TxnEvent::Failed {
                op: Some(TxnOp::Commit),
                error,
            } = e
            else {
                panic!("seed {seed} tv {tv}: the zombie's commit: {e:?}");
            };
            assert!(error.is_fatal(), "seed {seed} tv {tv}: {error}");
            assert_eq!(
                sim.client.transactions().state(),
                Some(TxnState::FatalError)
            );
            // Sticky: every later call reports the same error.
            let now = sim.now;
            assert_eq!(sim.client.transactions().abort(now), Err(error.clone()));
            assert_eq!(sim.client.transactions().begin(now), Err(error));

            let (got, open) = committed(&sim);
            assert_eq!(
                got,
                vec![vec![], vec![], values(&["new-1"])],
                "seed {seed} tv {tv}"
            );
            assert!(open.is_empty(), "seed {seed} tv {tv}: {open:?}");
        }
    });
}

/// The committed offset of `group` for a partition of [`TOPIC`], asked
/// of the group's coordinator (broker 0 of a one-broker cluster).
fn committed_offset(sim: &mut Sim, group: &str, partition: i32) -> i64 {
    use kafka_proto::messages::offset_fetch_request::OffsetFetchRequestTopic;
    let body = OffsetFetchRequest::default()
        .with_group_id(group.into())
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(TOPIC.into())
            .with_partition_indexes(vec![partition])]));
    let ResponseBody::OffsetFetch(r) = sim.side_call(0, 7, RequestBody::OffsetFetch(body)) else {
        panic!("not an OffsetFetch answer");
    };
    r.topics[0].partitions[0].committed_offset
}

#[test]
fn sim_offsets_sent_to_a_transaction_commit_with_it_and_only_then() {
    for_each_seed(|seed| {
        for tv in [0, 2] {
            let mut sim = new_sim(seed, 1, tv, "offsets");
            let mut seen = 0;
            init(&mut sim, &mut seen);
            let group = GroupMetadata::new("readers");
            let tp = |p| TopicPartition::new(TOPIC, p);
            for (t, commit) in [(0, false), (1, true)] {
                let now = sim.now;
                sim.client.transactions().begin(now).unwrap();
                send(&mut sim, 0, &format!("t{t}"));
                let offsets = [
                    (tp(0), OffsetAndMetadata::new(10 + t, None)),
                    (tp(2), OffsetAndMetadata::new(20 + t, Some(0))),
                ];
                sim.client
                    .transactions()
                    .send_offsets(now, offsets, &group)
                    .unwrap();
                sim.flush();
                let e = next_txn_event(&mut sim, &mut seen, SECS(30));
                assert_eq!(
                    e,
                    TxnEvent::OffsetsSent {
                        group: "readers".into()
                    },
                    "seed {seed} tv {tv}"
                );
                // Pending in the transaction: not visible yet.
                assert_eq!(
                    committed_offset(&mut sim, "readers", 0),
                    -1,
                    "seed {seed} tv {tv}"
                );
                let now = sim.now;
                if commit {
                    sim.client.transactions().commit(now).unwrap();
                } else {
                    sim.client.transactions().abort(now).unwrap();
                }
                sim.flush();
                let e = next_txn_event(&mut sim, &mut seen, SECS(30));
                assert!(
                    matches!(e, TxnEvent::Committed | TxnEvent::Aborted),
                    "seed {seed} tv {tv}: {e:?}"
                );
            }
            assert_eq!(
                committed_offset(&mut sim, "readers", 0),
                11,
                "seed {seed} tv {tv}"
            );
            assert_eq!(
                committed_offset(&mut sim, "readers", 2),
                21,
                "seed {seed} tv {tv}"
            );
            assert_eq!(
                committed_offset(&mut sim, "readers", 1),
                -1,
                "seed {seed} tv {tv}"
            );
        }
    });
}

#[test]
fn sim_a_failed_record_makes_the_transaction_abortable_and_the_abort_still_ends_it() {
    for tv in [0, 2] {
        let mut sim = new_sim(7, 1, tv, "failing");
        let mut seen = 0;
        init(&mut sim, &mut seen);
        let now = sim.now;
        sim.client.transactions().begin(now).unwrap();
        // Every produce of this transaction fails.
        sim.cluster.inject_error(ErrorInjection::new(
            ApiKey::Produce,
            ErrorCode::InvalidRecord,
            1,
        ));
        send(&mut sim, 0, "lost-1");
        send(&mut sim, 0, "lost-2");
        sim.run_until(SECS(10), |s| s.client.producer().is_idle());
        let now = sim.now;
        let refused = sim.client.transactions().commit(now);
        assert!(
            matches!(&refused, Err(e) if e.is_abortable()),
            "tv {tv}: {refused:?}"
        );
        assert!(matches!(
            refused,
            Err(TxnError::Abortable(TxnCause::Record(
                ProduceError::Broker {
                    code: ErrorCode::InvalidRecord,
                    ..
                }
            )))
        ));
        let record = ProducerRecord::new(TOPIC).with_value("after");
        assert!(matches!(
            sim.client.producer().send(now, record),
            Err(SendError::Transaction {
                error: TxnError::Abortable(_),
                ..
            })
        ));
        sim.cluster.clear_recorded_requests();
        sim.client.transactions().abort(now).unwrap();
        sim.flush();
        let e = next_txn_event(&mut sim, &mut seen, SECS(30));
        assert_eq!(e, TxnEvent::Aborted, "tv {tv}");
        // The next transaction commits.
        let now = sim.now;
        sim.client.transactions().begin(now).unwrap();
        send(&mut sim, 0, "kept");
        let now = sim.now;
        sim.client.transactions().commit(now).unwrap();
        sim.flush();
        assert_eq!(
            next_txn_event(&mut sim, &mut seen, SECS(30)),
            TxnEvent::Committed,
            "tv {tv}"
        );
        let (got, open) = committed(&sim);
        assert_eq!(got[0], values(&["kept"]), "tv {tv}");
        assert!(open.is_empty(), "tv {tv}: {open:?}");
    }
}

#[test]
fn sim_retriable_coordinator_errors_are_retried() {
    for tv in [0, 2] {
        let mut sim = new_sim(3, 1, tv, "retrying");
        for (api, code) in [
            (ApiKey::InitProducerId, ErrorCode::ConcurrentTransactions),
            (ApiKey::InitProducerId, ErrorCode::CoordinatorLoadInProgress),
            (ApiKey::AddOffsetsToTxn, ErrorCode::ConcurrentTransactions),
            (
                ApiKey::AddPartitionsToTxn,
                ErrorCode::ConcurrentTransactions,
            ),
            (
                ApiKey::TxnOffsetCommit,
                ErrorCode::CoordinatorLoadInProgress,
            ),
            (ApiKey::EndTxn, ErrorCode::NotCoordinator),
            (ApiKey::EndTxn, ErrorCode::ConcurrentTransactions),
        ] {
            sim.cluster.inject_error(ErrorInjection::new(api, code, 1));
        }
        let mut seen = 0;
        init(&mut sim, &mut seen);
        let now = sim.now;
        sim.client.transactions().begin(now).unwrap();
        send(&mut sim, 1, "v");
        let offsets = [(
            TopicPartition::new(TOPIC, 0),
            OffsetAndMetadata::new(5, None),
        )];
        sim.client
            .transactions()
            .send_offsets(now, offsets, &GroupMetadata::new("g"))
            .unwrap();
        sim.client.transactions().commit(now).unwrap();
        sim.flush();
        assert!(matches!(
            next_txn_event(&mut sim, &mut seen, SECS(30)),
            TxnEvent::OffsetsSent { .. }
        ));
        assert_eq!(
            next_txn_event(&mut sim, &mut seen, SECS(30)),
            TxnEvent::Committed,
            "tv {tv}"
        );
        assert_eq!(committed(&sim).0[1], values(&["v"]), "tv {tv}");
    }
}

#[test]
fn sim_an_unknown_end_txn_error_is_never_reported_as_committed() {
    for tv in [0, 2] {
        let mut sim = new_sim(5, 1, tv, "unknown");
        let mut seen = 0;
        init(&mut sim, &mut seen);
        let now = sim.now;
        sim.client.transactions().begin(now).unwrap();
        send(&mut sim, 0, "v");
        sim.cluster.inject_error(ErrorInjection::new(
            ApiKey::EndTxn,
            ErrorCode::UnknownServerError,
            1,
        ));
        let now = sim.now;
        sim.client.transactions().commit(now).unwrap();
        sim.flush();
        let e = next_txn_event(&mut sim, &mut seen, SECS(30));
        assert!(
            matches!(&e, TxnEvent::Failed { op: Some(TxnOp::Commit), error } if error.is_fatal()),
            "tv {tv}: {e:?}"
        );
        assert!(!txn_events(&sim).contains(&TxnEvent::Committed), "tv {tv}");
    }
}

#[test]
fn sim_an_end_txn_that_times_out_is_sent_again_and_commits_once() {
    for tv in [0, 2] {
        let mut sim = new_sim(9, 1, tv, "slow-end");
        let mut seen = 0;
        init(&mut sim, &mut seen);
        let now = sim.now;
        sim.client.transactions().begin(now).unwrap();
        send(&mut sim, 2, "once");
        sim.run_until(SECS(10), |s| s.client.producer().is_idle());
        // The coordinator answers EndTxn after the request timeout (3 s):
        // the client gives up on the connection and sends it again.
        sim.cluster.set_api_latency(ApiKey::EndTxn, SECS(4));
        let now = sim.now;
        sim.client.transactions().commit(now).unwrap();
        sim.flush();
        sim.run_for(SECS(5));
        sim.cluster.set_api_latency(ApiKey::EndTxn, Duration::ZERO);
        let e = next_txn_event(&mut sim, &mut seen, SECS(30));
        assert_eq!(e, TxnEvent::Committed, "tv {tv}");
        let (got, open) = committed(&sim);
        assert_eq!(got[2], values(&["once"]), "tv {tv}");
        assert!(open.is_empty(), "tv {tv}");
        // The next transaction works under the epoch the retry left.
        let now = sim.now;
        sim.client.transactions().begin(now).unwrap();
        send(&mut sim, 2, "twice");
        let now = sim.now;
        sim.client.transactions().commit(now).unwrap();
        sim.flush();
        assert_eq!(
            next_txn_event(&mut sim, &mut seen, SECS(30)),
            TxnEvent::Committed,
            "tv {tv}"
        );
        assert_eq!(committed(&sim).0[2], values(&["once", "twice"]), "tv {tv}");
    }
}

#[test]
fn sim_transactions_survive_coordinator_moves_and_broker_restarts() {
    for_each_seed(|seed| {
        for tv in [0, 2] {
            let mut sim = new_sim(seed, 3, tv, "moving");
            let mut seen = 0;
            init(&mut sim, &mut seen);
            let mut want: Vec<Vec<Bytes>> = vec![Vec::new(); PARTITIONS as usize];
            for t in 0..8 {
                let now = sim.now;
                sim.client.transactions().begin(now).unwrap();
                let mut sent = Vec::new();
                for i in 0..4 {
                    let p = (sim.rng.next_u64() % PARTITIONS as u64) as i32;
                    let v = format!("t{t}-{i}");
                    send(&mut sim, p, &v);
                    sent.push((p, Bytes::from(v)));
                }
                // A broker restarts mid-transaction (it may be the
                // transaction coordinator or a leader of the batches).
                if sim.rng.next_u64() % 2 == 0 {
                    let b = (sim.rng.next_u64() % 3) as i32;
                    sim.set_broker_up(b, false);
                    let pause = MS(200 + sim.rng.next_u64() % 3_000);
                    sim.run_exactly(pause);
                    sim.set_broker_up(b, true);
                }
                let pause = MS(sim.rng.next_u64() % 500);
                sim.run_exactly(pause);
                let commit = sim.rng.next_u64() % 4 != 0;
                let now = sim.now;
                let outcome = if commit {
                    sim.client.transactions().commit(now)
                } else {
                    sim.client.transactions().abort(now)
                };
                sim.flush();
                let e = match outcome {
                    Ok(()) => next_txn_event(&mut sim, &mut seen, SECS(60)),
                    Err(error) => TxnEvent::Failed { op: None, error },
                };
                match e {
                    TxnEvent::Committed => {
                        for (p, v) in sent {
                            want[p as usize].push(v);
                        }
                    }
                    TxnEvent::Aborted => {}
                    TxnEvent::Failed { error, .. } if error.is_abortable() => {
                        // A record ran out of retries with its leader down.
                        let now = sim.now;
                        sim.client.transactions().abort(now).unwrap();
                        sim.flush();
                        let e = next_txn_event(&mut sim, &mut seen, SECS(60));
                        assert_eq!(e, TxnEvent::Aborted, "seed {seed} tv {tv}");
                    }
                    other => panic!("seed {seed} tv {tv}: transaction {t}: {other:?}"),
                }
            }
            sim.run_until(SECS(10), |s| s.client.producer().is_idle());
            let (got, open) = committed(&sim);
            assert_eq!(got, want, "seed {seed} tv {tv}");
            assert!(open.is_empty(), "seed {seed} tv {tv}: {open:?}");
        }
    });
}

/// Runs until client `peer` reports a transaction event after its first
/// `seen`, and returns it.
fn next_txn_event_of(sim: &mut Sim, peer: usize, seen: &mut usize, limit: Duration) -> TxnEvent {
    let start = *seen;
    let count = |s: &Sim| {
        s.events_of(peer)
            .iter()
            .filter(|e| matches!(e, Event::Transaction(_)))
            .count()
    };
    sim.run_until(limit, |s| count(s) > start);
    let e = sim
        .events_of(peer)
        .iter()
        .filter_map(|e| match e {
            Event::Transaction(t) => Some(t.clone()),
            _ => None,
        })
        .nth(start)
        .unwrap_or_else(|| panic!("seed {}: no transaction event", sim.seed));
    *seen = start + 1;
    e
}

#[test]
fn sim_producer_fenced_on_txn_offset_commit_is_fatal() {
    for tv in [0, 2] {
        let mut sim = new_sim(11, 1, tv, "fenced-offsets");
        let mut seen = 0;
        init(&mut sim, &mut seen);
        let now = sim.now;
        sim.client.transactions().begin(now).unwrap();
        send(&mut sim, 0, "v");
        sim.cluster.inject_error(ErrorInjection::new(
            ApiKey::TxnOffsetCommit,
            ErrorCode::ProducerFenced,
            1,
        ));
        let offsets = [(
            TopicPartition::new(TOPIC, 0),
            OffsetAndMetadata::new(3, None),
        )];
        let now = sim.now;
        sim.client
            .transactions()
            .send_offsets(now, offsets, &GroupMetadata::new("g"))
            .unwrap();
        sim.client.transactions().commit(now).unwrap();
        sim.flush();
        // Both waiting commands are answered, each with the fatal error.
        for op in [TxnOp::SendOffsets, TxnOp::Commit] {
            let e = next_txn_event(&mut sim, &mut seen, SECS(30));
            let TxnEvent::Failed {
                op: Some(got),
                error,
            } = e
            else {
                panic!("tv {tv}: {e:?}");
            };
            assert_eq!(got, op, "tv {tv}");
            assert!(error.is_fatal(), "tv {tv}: {error}");
        }
        assert_eq!(
            sim.client.transactions().state(),
            Some(TxnState::FatalError)
        );
        sim.run_for(SECS(5));
        assert!(committed(&sim).0[0].is_empty(), "tv {tv}");
        assert_eq!(
            txn_events(&sim).len(),
            seen,
            "tv {tv}: one event per command"
        );
    }
}

/// The coordinator aborts a transaction that outlives its timeout and
/// bumps the epoch, as Kafka's does. Under the first protocol the
/// producer is fenced: Kafka's coordinator lets no producer recover from
/// that (the epoch it would name is neither the current one nor the
/// last), so the abort or commit that follows ends with PRODUCER_FENCED,
/// fatal. Under v2 the producer's abort is answered as a retry of the
/// coordinator's, with the new epoch, and the producer goes on; a commit
/// first is refused as abortable. (Both as Kafka 4.4 answers:
/// kafka-tokio/tests/kafka_txn_timeout.rs.)
#[test]
fn sim_a_transaction_the_coordinator_timed_out_ends_fenced_or_aborted() {
    for tv in [0, 2] {
        for commit in [false, true] {
            let id = "timed-out";
            let mut sim = Sim::with_configs(
                13,
                1,
                |c| c.transaction_version = tv,
                |c| {
                    c.producer.transactional_id = Some(id.into());
                    c.producer.transaction_timeout = SECS(2);
                    c.request_timeout = SECS(3);
                },
            );
            sim.cluster.create_topic(TOPIC, PARTITIONS, 1).unwrap();
            let mut seen = 0;
            init(&mut sim, &mut seen);
            let now = sim.now;
            sim.client.transactions().begin(now).unwrap();
            send(&mut sim, 0, "late");
            sim.run_until(SECS(10), |s| s.client.producer().is_idle());
            // Past the timeout: the coordinator aborts it.
            sim.run_exactly(SECS(5));
            let (got, open) = committed(&sim);
            assert!(got[0].is_empty() && open.is_empty(), "tv {tv}: not aborted");
            let now = sim.now;
            if commit {
                sim.client.transactions().commit(now).unwrap();
            } else {
                sim.client.transactions().abort(now).unwrap();
            }
            sim.flush();
            let e = next_txn_event(&mut sim, &mut seen, SECS(30));
            let op = if commit { TxnOp::Commit } else { TxnOp::Abort };
            if tv == 0 {
                assert_eq!(
                    e,
                    TxnEvent::Failed {
                        op: Some(op),
                        error: TxnError::Fatal(TxnCause::Broker(ErrorCode::ProducerFenced)),
                    },
                    "tv {tv} commit {commit}"
                );
            } else {
                if commit {
                    assert_eq!(
                        e,
                        TxnEvent::Failed {
                            op: Some(op),
                            error: TxnError::Abortable(TxnCause::Broker(
                                ErrorCode::InvalidTxnState
                            )),
                        },
                        "tv {tv} commit {commit}"
                    );
                    let now = sim.now;
                    sim.client.transactions().abort(now).unwrap();
                    sim.flush();
                    let e = next_txn_event(&mut sim, &mut seen, SECS(30));
                    assert_eq!(e, TxnEvent::Aborted, "tv {tv} commit {commit}");
                } else {
                    assert_eq!(e, TxnEvent::Aborted, "tv {tv} commit {commit}");
                }
                // The producer goes on under the new epoch.
                let now = sim.now;
                sim.client.transactions().begin(now).unwrap();
                send(&mut sim, 1, "next");
                let now = sim.now;
                sim.client.transactions().commit(now).unwrap();
                sim.flush();
                let e = next_txn_event(&mut sim, &mut seen, SECS(30));
                assert_eq!(e, TxnEvent::Committed, "tv {tv} commit {commit}");
                assert_eq!(committed(&sim).0[1], values(&["next"]), "tv {tv}");
            }
            sim.run_for(SECS(5));
            assert_eq!(
                txn_events(&sim).len(),
                seen,
                "tv {tv}: one event per command"
            );
            assert!(committed(&sim).0[0].is_empty(), "tv {tv}");
        }
    }
}

/// An old instance, fenced by a new one, aborts: that fails for good and
/// must leave the new instance's open transaction alone (asking the
/// coordinator for the next epoch under the old one would abort it).
#[test]
fn sim_a_fenced_instance_aborting_leaves_the_new_instance_alone() {
    for tv in [0, 2] {
        let mut sim = new_sim(17, 1, tv, "twins");
        let mut seen = 0;
        init(&mut sim, &mut seen);
        let now = sim.now;
        sim.client.transactions().begin(now).unwrap();
        send(&mut sim, 0, "old");
        sim.run_until(SECS(10), |s| s.client.producer().is_idle());

        let new = sim.add_client(|c| {
            c.producer.transactional_id = Some("twins".into());
            c.request_timeout = SECS(3);
        });
        let mut new_seen = 0;
        let now = sim.now;
        sim.client_of(new).transactions().init(now).unwrap();
        sim.flush();
        let e = next_txn_event_of(&mut sim, new, &mut new_seen, SECS(30));
        assert!(matches!(e, TxnEvent::Initialized { .. }), "tv {tv}: {e:?}");
        let now = sim.now;
        sim.client_of(new).transactions().begin(now).unwrap();
        let record = ProducerRecord::new(TOPIC)
            .with_partition(1)
            .with_value("new");
        sim.client_of(new).producer().send(now, record).unwrap();
        sim.flush();
        sim.run_until(SECS(10), |s| s.client_of(new).producer().is_idle());

        // The old instance aborts while the new transaction is open.
        let now = sim.now;
        sim.client.transactions().abort(now).unwrap();
        sim.flush();
        let e = next_txn_event(&mut sim, &mut seen, SECS(30));
        assert!(
            matches!(&e, TxnEvent::Failed { op: Some(TxnOp::Abort), error } if error.is_fatal()),
            "tv {tv}: {e:?}"
        );

        let now = sim.now;
        sim.client_of(new).transactions().commit(now).unwrap();
        sim.flush();
        let e = next_txn_event_of(&mut sim, new, &mut new_seen, SECS(30));
        assert_eq!(e, TxnEvent::Committed, "tv {tv}");
        assert_eq!(committed(&sim).0[1], values(&["new"]), "tv {tv}");
    }
}

/// An abort while AddPartitionsToTxn is unanswered: the coordinator may
/// have added the partition (here it did, its answer comes after the
/// request timeout), so the transaction is open there and only EndTxn
/// closes it. Finishing the abort locally would leave it to the
/// coordinator's timeout, which fences the producer: with one producer
/// only, the next transaction must commit. (First protocol: under v2 no
/// partition is added apart from a Produce.)
#[test]
fn sim_an_abort_with_an_unanswered_add_partitions_still_ends_the_transaction() {
    let id = "unsure";
    let mut sim = Sim::with_configs(
        19,
        1,
        |c| {
            c.transaction_version = 0;
            c.record_requests = true;
        },
        |c| {
            c.producer.transactional_id = Some(id.into());
            c.producer.transaction_timeout = SECS(5);
            c.request_timeout = SECS(3);
        },
    );
    sim.cluster.create_topic(TOPIC, PARTITIONS, 1).unwrap();
    let mut seen = 0;
    init(&mut sim, &mut seen);
    sim.cluster
        .set_api_latency(ApiKey::AddPartitionsToTxn, SECS(4));
    let now = sim.now;
    sim.client.transactions().begin(now).unwrap();
    send(&mut sim, 0, "dropped");
    sim.run_until(SECS(5), |s| {
        s.cluster
            .recorded_requests()
            .iter()
            .any(|r| r.body.api_key() == ApiKey::AddPartitionsToTxn)
    });
    let now = sim.now;
    sim.client.transactions().abort(now).unwrap();
    sim.flush();
    let e = next_txn_event(&mut sim, &mut seen, SECS(30));
    assert_eq!(e, TxnEvent::Aborted);
    sim.cluster
        .set_api_latency(ApiKey::AddPartitionsToTxn, Duration::ZERO);
    // Longer than the transaction timeout.
    sim.run_exactly(SECS(8));
    let now = sim.now;
    sim.client.transactions().begin(now).unwrap();
    send(&mut sim, 0, "kept");
    let now = sim.now;
    sim.client.transactions().commit(now).unwrap();
    sim.flush();
    let e = next_txn_event(&mut sim, &mut seen, SECS(30));
    assert_eq!(e, TxnEvent::Committed);
    assert_eq!(committed(&sim).0[0], values(&["kept"]));
}

/// The other side of the unanswered add: the connection dropped before
/// AddPartitionsToTxn arrived, so nothing is open and the abort's EndTxn
/// meets INVALID_TXN_STATE, which then only means that: the abort ends
/// cleanly and the next transaction commits.
#[test]
fn sim_an_abort_after_an_add_partitions_that_never_arrived_ends_cleanly() {
    let mut sim = Sim::with_configs(
        23,
        1,
        |c| {
            c.transaction_version = 0;
            c.record_requests = true;
        },
        |c| {
            c.producer.transactional_id = Some("lost-add".into());
            c.request_timeout = SECS(3);
        },
    );
    sim.cluster.create_topic(TOPIC, PARTITIONS, 1).unwrap();
    let mut seen = 0;
    init(&mut sim, &mut seen);
    let sent_before = sim.sent.len();
    let now = sim.now;
    sim.client.transactions().begin(now).unwrap();
    send(&mut sim, 0, "dropped");
    // The request is on the wire: the connection drops under it.
    let is_add = |s: &Sim| {
        s.sent[sent_before..]
            .iter()
            .any(|(_, _, api)| *api == ApiKey::AddPartitionsToTxn)
    };
    sim.run_until(SECS(5), |s| is_add(s));
    let (_, conn, api) = sim.sent[sent_before..]
        .iter()
        .copied()
        .find(|(_, _, api)| *api == ApiKey::AddPartitionsToTxn)
        .expect("AddPartitionsToTxn sent");
    assert_eq!(api, ApiKey::AddPartitionsToTxn);
    sim.drop_connection(conn);
    let now = sim.now;
    sim.client.transactions().abort(now).unwrap();
    sim.flush();
    let e = next_txn_event(&mut sim, &mut seen, SECS(30));
    assert_eq!(e, TxnEvent::Aborted);
    assert!(!sim
        .cluster
        .recorded_requests()
        .iter()
        .any(|r| r.body.api_key() == ApiKey::AddPartitionsToTxn));
    let now = sim.now;
    sim.client.transactions().begin(now).unwrap();
    send(&mut sim, 0, "kept");
    let now = sim.now;
    sim.client.transactions().commit(now).unwrap();
    sim.flush();
    assert_eq!(
        next_txn_event(&mut sim, &mut seen, SECS(30)),
        TxnEvent::Committed
    );
    assert_eq!(committed(&sim).0[0], values(&["kept"]));
}

/// Every record of the transaction failed on the broker: the abort still
/// sends EndTxn(abort), since the batches went out (v2) or their
/// partitions were added (first protocol) and the coordinator holds the
/// transaction open until told.
#[test]
fn sim_an_abort_after_every_produce_failed_still_sends_end_txn() {
    for tv in [0, 2] {
        let mut sim = Sim::with_configs(
            29,
            1,
            |c| {
                c.transaction_version = tv;
                c.record_requests = true;
            },
            |c| {
                c.producer.transactional_id = Some("all-failed".into());
                c.request_timeout = SECS(3);
            },
        );
        sim.cluster.create_topic(TOPIC, PARTITIONS, 1).unwrap();
        let mut seen = 0;
        init(&mut sim, &mut seen);
        let now = sim.now;
        sim.client.transactions().begin(now).unwrap();
        sim.cluster.inject_error(ErrorInjection::new(
            ApiKey::Produce,
            ErrorCode::InvalidRecord,
            100,
        ));
        for (p, v) in [(0, "a"), (1, "b"), (2, "c")] {
            send(&mut sim, p, v);
        }
        sim.run_until(SECS(10), |s| s.client.producer().is_idle());
        let failed = sim
            .events
            .iter()
            .filter(|e| matches!(e, Event::DeliveryFailed { .. }))
            .count();
        assert_eq!(failed, 3, "tv {tv}");
        sim.cluster.clear_recorded_requests();
        let now = sim.now;
        sim.client.transactions().abort(now).unwrap();
        sim.flush();
        assert_eq!(
            next_txn_event(&mut sim, &mut seen, SECS(30)),
            TxnEvent::Aborted,
            "tv {tv}"
        );
        let ends: Vec<bool> = sim
            .cluster
            .recorded_requests()
            .iter()
            .filter_map(|r| match &r.body {
                RequestBody::EndTxn(e) => Some(e.committed),
                _ => None,
            })
            .collect();
        assert_eq!(ends, vec![false], "tv {tv}: one EndTxn(abort)");
        let (got, open) = committed(&sim);
        assert!(got.iter().all(Vec::is_empty), "tv {tv}");
        assert!(open.is_empty(), "tv {tv}: {open:?}");
    }
}

/// Records and offsets sent into a transaction the coordinator already
/// timed out: whatever fails first, under the first protocol the producer
/// ends fenced (fatal); under v2 they fail as abortable and the abort
/// lets the producer go on. Nothing reports INVALID_TXN_STATE.
#[test]
fn sim_sending_into_a_timed_out_transaction_ends_fenced_or_aborted() {
    for tv in [0, 2] {
        let mut sim = Sim::with_configs(
            37,
            1,
            |c| c.transaction_version = tv,
            |c| {
                c.producer.transactional_id = Some("late-sender".into());
                c.producer.transaction_timeout = SECS(2);
                c.request_timeout = SECS(3);
            },
        );
        sim.cluster.create_topic(TOPIC, PARTITIONS, 1).unwrap();
        let mut seen = 0;
        init(&mut sim, &mut seen);
        let now = sim.now;
        sim.client.transactions().begin(now).unwrap();
        send(&mut sim, 0, "early");
        sim.run_until(SECS(10), |s| s.client.producer().is_idle());
        sim.run_exactly(SECS(5));
        // The same partition, a new one, and offsets.
        send(&mut sim, 0, "late-0");
        send(&mut sim, 1, "late-1");
        let now = sim.now;
        let offsets = [(
            TopicPartition::new(TOPIC, 2),
            OffsetAndMetadata::new(1, None),
        )];
        let _ = sim
            .client
            .transactions()
            .send_offsets(now, offsets, &GroupMetadata::new("g"));
        sim.flush();
        sim.run_for(SECS(10));
        let now = sim.now;
        match sim.client.transactions().abort(now) {
            Ok(()) => {
                sim.flush();
                sim.run_for(SECS(10));
            }
            Err(e) => assert!(e.is_fatal(), "tv {tv}: {e}"),
        }
        if tv == 0 {
            assert_eq!(
                sim.client.transactions().state(),
                Some(TxnState::FatalError),
                "tv {tv}"
            );
            let fenced = TxnError::Fatal(TxnCause::Broker(ErrorCode::ProducerFenced));
            let now = sim.now;
            assert_eq!(sim.client.transactions().begin(now), Err(fenced), "tv {tv}");
        } else {
            assert_eq!(
                sim.client.transactions().state(),
                Some(TxnState::Ready),
                "tv {tv}"
            );
            let aborted = sim
                .events
                .iter()
                .any(|e| matches!(e, Event::Transaction(TxnEvent::Aborted)));
            assert!(aborted, "tv {tv}");
        }
        // Neither a transaction event nor a record's report.
        let states: Vec<_> = sim
            .events
            .iter()
            .filter(|e| format!("{e:?}").contains("InvalidTxnState"))
            .collect();
        assert!(states.is_empty(), "tv {tv}: {states:?}");
        assert!(committed(&sim).0.iter().all(Vec::is_empty), "tv {tv}");
    }
}

/// A transaction whose offsets are on their way (the first request that
/// opens it on the coordinator: AddOffsetsToTxn, or TxnOffsetCommit under
/// v2, answered after a second), aborted before their answer.
fn abort_with_offsets_in_flight(tv: i16, seen: &mut usize) -> Sim {
    let mut sim = Sim::with_configs(
        41,
        1,
        |c| c.transaction_version = tv,
        |c| {
            c.producer.transactional_id = Some("offsets-in-flight".into());
            c.producer.transaction_timeout = SECS(5);
            c.request_timeout = SECS(3);
        },
    );
    sim.cluster.create_topic(TOPIC, PARTITIONS, 1).unwrap();
    init(&mut sim, seen);
    let api = if tv >= 2 {
        ApiKey::TxnOffsetCommit
    } else {
        ApiKey::AddOffsetsToTxn
    };
    sim.cluster.set_api_latency(api, SECS(1));
    let now = sim.now;
    sim.client.transactions().begin(now).unwrap();
    let offsets = [(
        TopicPartition::new(TOPIC, 0),
        OffsetAndMetadata::new(4, None),
    )];
    let sent_before = sim.sent.len();
    sim.client
        .transactions()
        .send_offsets(now, offsets, &GroupMetadata::new("g"))
        .unwrap();
    sim.flush();
    sim.run_until(SECS(5), |s| {
        s.sent[sent_before..].iter().any(|(_, _, a)| *a == api)
    });
    let now = sim.now;
    sim.client.transactions().abort(now).unwrap();
    sim.flush();
    sim.run_for(SECS(3));
    sim.cluster.set_api_latency(api, Duration::ZERO);
    sim
}

/// The abort answers the `send_offsets` it drops, then itself: one event
/// per command.
#[test]
fn sim_an_abort_answers_the_offsets_it_drops() {
    for tv in [0, 2] {
        let mut seen = 0;
        let mut sim = abort_with_offsets_in_flight(tv, &mut seen);
        assert_eq!(
            next_txn_event(&mut sim, &mut seen, SECS(30)),
            TxnEvent::Failed {
                op: Some(TxnOp::SendOffsets),
                error: TxnError::Abortable(TxnCause::Aborted),
            },
            "tv {tv}"
        );
        assert_eq!(
            next_txn_event(&mut sim, &mut seen, SECS(30)),
            TxnEvent::Aborted,
            "tv {tv}"
        );
        sim.run_for(SECS(2));
        assert_eq!(
            txn_events(&sim).len(),
            seen,
            "tv {tv}: one event per command"
        );
    }
}

/// The transaction the offsets opened is ended by EndTxn, not left to the
/// coordinator's timeout (which would fence the producer): after longer
/// than the timeout the next transaction commits.
#[test]
fn sim_an_abort_while_offsets_are_in_flight_still_ends_the_transaction() {
    for tv in [0, 2] {
        let mut seen = 0;
        let mut sim = abort_with_offsets_in_flight(tv, &mut seen);
        sim.run_until(SECS(30), |s| txn_events(s).contains(&TxnEvent::Aborted));
        seen = txn_events(&sim).len();
        sim.run_exactly(SECS(8));
        let now = sim.now;
        sim.client.transactions().begin(now).unwrap();
        send(&mut sim, 0, "kept");
        let now = sim.now;
        sim.client.transactions().commit(now).unwrap();
        sim.flush();
        assert_eq!(
            next_txn_event(&mut sim, &mut seen, SECS(30)),
            TxnEvent::Committed,
            "tv {tv}"
        );
        assert_eq!(committed(&sim).0[0], values(&["kept"]), "tv {tv}");
    }
}

/// Kafka answers the first AddPartitionsToTxn of a transaction with
/// CONCURRENT_TRANSACTIONS while the previous one's markers are still
/// being written; that takes milliseconds, so the retry must not wait the
/// whole retry backoff (100 ms here), or every transaction pays it.
#[test]
fn sim_a_first_add_refused_while_the_last_transaction_ends_is_retried_soon() {
    let mut sim = new_sim(11, 1, 0, "busy");
    let mut seen = 0;
    init(&mut sim, &mut seen);
    // The first transaction also waits for the topic's metadata.
    for round in 0..4 {
        if round == 0 {
            let now = sim.now;
            sim.client.transactions().begin(now).unwrap();
            send(&mut sim, 0, "warm-up");
            let now = sim.now;
            sim.client.transactions().commit(now).unwrap();
            sim.flush();
            assert_eq!(
                next_txn_event(&mut sim, &mut seen, SECS(30)),
                TxnEvent::Committed
            );
            continue;
        }
        sim.cluster.inject_error(ErrorInjection::new(
            ApiKey::AddPartitionsToTxn,
            ErrorCode::ConcurrentTransactions,
            1,
        ));
        let started = sim.now;
        sim.client.transactions().begin(started).unwrap();
        send(&mut sim, 0, &format!("v{round}"));
        let now = sim.now;
        sim.client.transactions().commit(now).unwrap();
        sim.flush();
        assert_eq!(
            next_txn_event(&mut sim, &mut seen, SECS(30)),
            TxnEvent::Committed
        );
        let took = sim.now - started;
        assert!(
            took < MS(80),
            "round {round}: the transaction took {took:?}"
        );
    }
}
