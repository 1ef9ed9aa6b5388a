//! Idempotent produce and transactions, driving the sans-IO `Cluster`
//! directly with kafka-proto frames and a fake clock.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_mock::{Cluster, ClusterConfig, ConnId, Output};
use kafka_proto::frame::decode_response_frame;
use kafka_proto::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_proto::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_proto::messages::fetch_response::PartitionData;
use kafka_proto::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_proto::messages::*;
use kafka_proto::record::{encode, BatchOptions, Batches, ControlRecord, Record};
use kafka_proto::{ErrorCode, RequestBody, ResponseBody};

const TOPIC: &str = "t";

struct Sim {
    cluster: Cluster,
    now: Instant,
    conns: HashMap<i32, ConnId>,
    correlation: i32,
}

impl Sim {
    fn new(brokers: i32) -> Self {
        let now = Instant::now();
        let mut config = ClusterConfig::default();
        config.brokers = brokers;
        let mut cluster = Cluster::new(config, now);
        cluster.create_topic(TOPIC, 2, 1).unwrap();
        Self {
            cluster,
            now,
            conns: HashMap::new(),
            correlation: 0,
        }
    }

    fn conn(&mut self, broker: i32) -> ConnId {
        if let Some(&c) = self.conns.get(&broker) {
            return c;
        }
        let c = ConnId(broker as u64 + 1);
        self.cluster.handle_connected(self.now, c, broker);
        self.conns.insert(broker, c);
        c
    }

    fn call(&mut self, broker: i32, version: i16, body: impl Into<RequestBody>) -> ResponseBody {
        let body = body.into();
        let key = body.api_key();
        self.correlation += 1;
        let frame = support::request_frame(self.correlation, version, &body, "txn-test");
        let conn = self.conn(broker);
        self.cluster.handle_frame(self.now, conn, frame);
        loop {
            match self.cluster.poll_output() {
                Some(Output::Send { conn: c, bytes }) if c == conn => {
                    let (h, body) = decode_response_frame(bytes.slice(4..), key, version).unwrap();
                    assert_eq!(h.correlation_id, self.correlation);
                    return body;
                }
                Some(Output::Close { reason, .. }) => panic!("connection closed: {reason}"),
                Some(_) => continue,
                None => panic!("no response to {key} v{version}"),
            }
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.cluster.handle_timeout(self.now);
    }

    fn leader(&self, partition: i32) -> i32 {
        self.cluster.partition_leader(TOPIC, partition).unwrap()
    }

    fn end_offset(&self, partition: i32) -> i64 {
        self.cluster.partition_offsets(TOPIC, partition).unwrap().1
    }

    fn init_producer_id(
        &mut self,
        broker: i32,
        version: i16,
        txn: Option<&str>,
    ) -> (i16, i64, i16) {
        let req = InitProducerIdRequest::default()
            .with_transactional_id(txn.map(Into::into))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(-1)
            .with_producer_epoch(-1);
        self.init_with(broker, version, req)
    }

    fn init_with(
        &mut self,
        broker: i32,
        version: i16,
        req: InitProducerIdRequest,
    ) -> (i16, i64, i16) {
        let ResponseBody::InitProducerId(r) = self.call(broker, version, req) else {
            panic!("wrong response type")
        };
        (r.error_code, r.producer_id, r.producer_epoch)
    }

    /// Produces a batch of `n` records; returns (error, base offset).
    #[allow(clippy::too_many_arguments)]
    fn produce(
        &mut self,
        version: i16,
        txn: Option<&str>,
        partition: i32,
        producer: (i64, i16),
        seq: i32,
        n: usize,
        transactional: bool,
    ) -> (i16, i64) {
        let batch = batch(producer, seq, n, transactional);
        let req = ProduceRequest::default()
            .with_transactional_id(txn.map(Into::into))
            .with_acks(-1)
            .with_timeout_ms(1000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TOPIC.into())
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(batch))])]);
        let leader = self.leader(partition);
        let ResponseBody::Produce(resp) = self.call(leader, version, req) else {
            panic!("wrong response type")
        };
        let p = &resp.responses[0].partition_responses[0];
        (p.error_code, p.base_offset)
    }

    fn add_partitions(
        &mut self,
        broker: i32,
        version: i16,
        txn: &str,
        producer: (i64, i16),
        partitions: &[i32],
    ) -> Vec<i16> {
        let req = AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(txn.into())
            .with_v3_and_below_producer_id(producer.0)
            .with_v3_and_below_producer_epoch(producer.1)
            .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                .with_name(TOPIC.into())
                .with_partitions(partitions.to_vec())]);
        let ResponseBody::AddPartitionsToTxn(r) = self.call(broker, version, req) else {
            panic!("wrong response type")
        };
        r.results_by_topic_v3_and_below[0]
            .results_by_partition
            .iter()
            .map(|p| p.partition_error_code)
            .collect()
    }

    fn end_txn(
        &mut self,
        broker: i32,
        version: i16,
        txn: &str,
        producer: (i64, i16),
        commit: bool,
    ) -> EndTxnResponse {
        let req = EndTxnRequest::default()
            .with_transactional_id(txn.into())
            .with_producer_id(producer.0)
            .with_producer_epoch(producer.1)
            .with_committed(commit);
        let ResponseBody::EndTxn(r) = self.call(broker, version, req) else {
            panic!("wrong response type")
        };
        r
    }

    fn fetch(&mut self, partition: i32, offset: i64, read_committed: bool) -> PartitionData {
        let req = FetchRequest::default()
            .with_max_wait_ms(0)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_isolation_level(i8::from(read_committed))
            .with_topics(vec![FetchTopic::default()
                .with_topic(TOPIC.into())
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(1 << 20)])]);
        let leader = self.leader(partition);
        let ResponseBody::Fetch(resp) = self.call(leader, 12, req) else {
            panic!("wrong response type")
        };
        resp.responses[0].partitions[0].clone()
    }
}

fn batch(producer: (i64, i16), seq: i32, n: usize, transactional: bool) -> Bytes {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            offset: i as i64,
            timestamp: 1_700_000_000_000,
            value: Some(Bytes::from(format!("v{i}"))),
            ..Record::default()
        })
        .collect();
    let options = BatchOptions {
        producer_id: producer.0,
        producer_epoch: producer.1,
        base_sequence: seq,
        transactional,
        ..BatchOptions::default()
    };
    encode(records.iter(), &options).unwrap()
}

/// (is control, control record or data values) of every batch in a fetch.
fn batches_of(pd: &PartitionData) -> Vec<(bool, Option<ControlRecord>, usize)> {
    Batches::new(pd.records.clone().unwrap_or_default())
        .map(|b| {
            let b = b.unwrap();
            let records: Vec<Record> = b.records().unwrap().map(|r| r.unwrap()).collect();
            let control = b
                .header()
                .is_control()
                .then(|| ControlRecord::from_record(&records[0]).unwrap());
            (b.header().is_control(), control, records.len())
        })
        .collect()
}

const NONE: i16 = 0;

fn code(e: ErrorCode) -> i16 {
    e.code()
}

/// A transactional producer with its coordinator pinned to broker 0.
fn txn_producer(sim: &mut Sim, id: &str) -> (i64, i16) {
    sim.cluster.move_coordinator(1, id, 0).unwrap();
    let (err, pid, epoch) = sim.init_producer_id(0, 4, Some(id));
    assert_eq!(err, NONE);
    (pid, epoch)
}

#[test]
fn idempotent_retry_returns_original_offset_and_writes_nothing() {
    let mut sim = Sim::new(1);
    let (err, pid, epoch) = sim.init_producer_id(0, 4, None);
    assert_eq!((err, epoch), (NONE, 0));
    let p = (pid, epoch);
    assert_eq!(sim.produce(9, None, 0, p, 0, 3, false), (NONE, 0));
    assert_eq!(sim.produce(9, None, 0, p, 3, 2, false), (NONE, 3));
    assert_eq!(sim.end_offset(0), 5);
    // Retries of either batch answer the original offsets and append nothing.
    assert_eq!(sim.produce(9, None, 0, p, 0, 3, false), (NONE, 0));
    assert_eq!(sim.produce(9, None, 0, p, 3, 2, false), (NONE, 3));
    assert_eq!(sim.end_offset(0), 5);
    // Only the last five batches are remembered.
    for i in 0..5 {
        assert_eq!(sim.produce(9, None, 0, p, 5 + i, 1, false).0, NONE);
    }
    assert_eq!(
        sim.produce(9, None, 0, p, 0, 3, false).0,
        code(ErrorCode::OutOfOrderSequenceNumber)
    );
    assert_eq!(sim.end_offset(0), 10);
}

#[test]
fn sequence_gaps_epochs_and_wrapping() {
    let mut sim = Sim::new(1);
    let p = (7, 0);
    assert_eq!(sim.produce(9, None, 0, p, 0, 3, false), (NONE, 0));
    // A gap is refused, the expected sequence is accepted.
    assert_eq!(
        sim.produce(9, None, 0, p, 5, 1, false).0,
        code(ErrorCode::OutOfOrderSequenceNumber)
    );
    assert_eq!(sim.produce(9, None, 0, p, 3, 1, false), (NONE, 3));
    // A new epoch must start at sequence 0.
    assert_eq!(
        sim.produce(9, None, 0, (7, 1), 4, 1, false).0,
        code(ErrorCode::OutOfOrderSequenceNumber)
    );
    assert_eq!(sim.produce(9, None, 0, (7, 1), 0, 1, false), (NONE, 4));
    // The old epoch is fenced.
    assert_eq!(
        sim.produce(9, None, 0, (7, 0), 4, 1, false).0,
        code(ErrorCode::InvalidProducerEpoch)
    );
    // An unknown producer may start anywhere (Kafka 2.5+); sequences wrap.
    assert_eq!(
        sim.produce(9, None, 0, (8, 0), i32::MAX - 1, 2, false),
        (NONE, 5)
    );
    assert_eq!(sim.produce(9, None, 0, (8, 0), 0, 1, false), (NONE, 7));
    // A producer id with no sequence is invalid.
    assert_eq!(
        sim.produce(9, None, 0, (8, 0), -1, 1, false).0,
        code(ErrorCode::InvalidRecord)
    );
    assert_eq!(sim.end_offset(0), 8);
}

#[test]
fn init_producer_id_bumps_epoch_and_fences_the_old_producer() {
    let mut sim = Sim::new(3);
    let old = txn_producer(&mut sim, "tx");
    assert_eq!(old.1, 0);
    let (err, pid, epoch) = sim.init_producer_id(0, 4, Some("tx"));
    assert_eq!((err, pid, epoch), (NONE, old.0, 1));
    // The old epoch is fenced: PRODUCER_FENCED for new clients,
    // INVALID_PRODUCER_EPOCH for those predating KIP-588.
    assert_eq!(
        sim.add_partitions(0, 3, "tx", old, &[0]),
        vec![code(ErrorCode::ProducerFenced)]
    );
    assert_eq!(
        sim.add_partitions(0, 1, "tx", old, &[0]),
        vec![code(ErrorCode::InvalidProducerEpoch)]
    );
    assert_eq!(
        sim.end_txn(0, 3, "tx", old, true).error_code,
        code(ErrorCode::ProducerFenced)
    );
    assert_eq!(
        sim.end_txn(0, 1, "tx", old, true).error_code,
        code(ErrorCode::InvalidProducerEpoch)
    );
    // A transactional produce of the fenced producer is refused, with the
    // error a write gets (the coordinator's PRODUCER_FENCED is turned into
    // INVALID_PRODUCER_EPOCH on the produce path).
    let new = (pid, epoch);
    assert_eq!(sim.add_partitions(0, 3, "tx", new, &[0]), vec![NONE]);
    assert_eq!(sim.produce(9, Some("tx"), 0, new, 0, 2, true), (NONE, 0));
    assert_eq!(
        sim.produce(9, Some("tx"), 0, old, 0, 1, true).0,
        code(ErrorCode::InvalidProducerEpoch)
    );
    // A new producer instance while the transaction is open: the
    // coordinator fences the epoch, aborts, and asks for a retry.
    assert_eq!(
        sim.init_producer_id(0, 4, Some("tx")).0,
        code(ErrorCode::ConcurrentTransactions)
    );
    let pd = sim.fetch(0, 0, true);
    assert_eq!(pd.last_stable_offset, 3);
    let batches = batches_of(&pd);
    assert!(matches!(batches[1].1, Some(ControlRecord::Abort(_))));
    assert_eq!(
        sim.init_producer_id(0, 4, Some("tx")),
        (NONE, pid, epoch + 2)
    );
    // And the writer of the aborted transaction is fenced in the partition.
    assert_eq!(
        sim.produce(9, None, 0, new, 2, 1, false).0,
        code(ErrorCode::InvalidProducerEpoch)
    );
}

#[test]
fn kip_360_epoch_bump_with_known_producer() {
    let mut sim = Sim::new(1);
    let (pid, epoch) = txn_producer(&mut sim, "tx");
    let bump = |pid, epoch| {
        InitProducerIdRequest::default()
            .with_transactional_id(Some("tx".into()))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(pid)
            .with_producer_epoch(epoch)
    };
    assert_eq!(sim.init_with(0, 4, bump(pid, epoch)), (NONE, pid, 1));
    // A retry of the same bump gets the same answer.
    assert_eq!(sim.init_with(0, 4, bump(pid, epoch)), (NONE, pid, 1));
    // A stale epoch or another producer id is fenced.
    assert_eq!(
        sim.init_with(0, 4, bump(pid + 100, 1)).0,
        code(ErrorCode::ProducerFenced)
    );
    assert_eq!(
        sim.init_with(0, 3, bump(pid + 100, 1)).0,
        code(ErrorCode::InvalidProducerEpoch)
    );
    // Only one of producer id and epoch given is invalid.
    assert_eq!(
        sim.init_with(0, 4, bump(pid, -1)).0,
        code(ErrorCode::InvalidRequest)
    );
    // Idempotent producers always get a fresh id.
    let (err, other, e) = sim.init_with(0, 4, bump(pid, 1).with_transactional_id(None));
    assert_eq!((err, e), (NONE, 0));
    assert_ne!(other, pid);
}

#[test]
fn committed_transaction_becomes_visible_to_read_committed() {
    let mut sim = Sim::new(1);
    let p = txn_producer(&mut sim, "tx");
    assert_eq!(sim.add_partitions(0, 3, "tx", p, &[0, 1]), vec![NONE, NONE]);
    assert_eq!(sim.produce(9, Some("tx"), 0, p, 0, 3, true), (NONE, 0));
    assert_eq!(sim.produce(9, Some("tx"), 0, p, 3, 1, true), (NONE, 3));
    // Open: read_committed sees nothing, read_uncommitted everything.
    let pd = sim.fetch(0, 0, true);
    assert_eq!((pd.high_watermark, pd.last_stable_offset), (4, 0));
    assert!(batches_of(&pd).is_empty());
    assert_eq!(batches_of(&sim.fetch(0, 0, false)).len(), 2);
    // A plain write from the producer inside its transaction is refused.
    assert_eq!(
        sim.produce(9, Some("tx"), 0, p, 4, 1, false).0,
        code(ErrorCode::InvalidTxnState)
    );

    let r = sim.end_txn(0, 3, "tx", p, true);
    assert_eq!(r.error_code, NONE);
    let pd = sim.fetch(0, 0, true);
    assert_eq!((pd.high_watermark, pd.last_stable_offset), (5, 5));
    assert_eq!(pd.aborted_transactions, Some(vec![]));
    let batches = batches_of(&pd);
    assert_eq!(batches.len(), 3);
    assert_eq!((batches[0].2, batches[1].2), (3, 1));
    assert!(matches!(batches[2].1, Some(ControlRecord::Commit(_))));
    // Partition 1 was added but not written: it still gets a marker.
    let pd1 = sim.fetch(1, 0, true);
    assert!(matches!(
        batches_of(&pd1)[0].1,
        Some(ControlRecord::Commit(_))
    ));
    // A retried commit succeeds; an abort after it is an invalid transition.
    assert_eq!(sim.end_txn(0, 3, "tx", p, true).error_code, NONE);
    assert_eq!(
        sim.end_txn(0, 3, "tx", p, false).error_code,
        code(ErrorCode::InvalidTxnState)
    );
    assert_eq!(sim.end_offset(0), 5);
}

#[test]
fn aborted_transaction_is_listed_and_lso_moves_past_it() {
    let mut sim = Sim::new(1);
    let p = txn_producer(&mut sim, "tx");
    // A committed record first, so the aborted span does not start at 0.
    assert_eq!(sim.produce(9, None, 0, (900, 0), 0, 1, false), (NONE, 0));
    assert_eq!(sim.add_partitions(0, 3, "tx", p, &[0]), vec![NONE]);
    assert_eq!(sim.produce(9, Some("tx"), 0, p, 0, 2, true), (NONE, 1));
    assert_eq!(sim.fetch(0, 0, true).last_stable_offset, 1);
    assert_eq!(sim.end_txn(0, 3, "tx", p, false).error_code, NONE);
    let pd = sim.fetch(0, 0, true);
    assert_eq!((pd.high_watermark, pd.last_stable_offset), (4, 4));
    let aborted = pd.aborted_transactions.clone().unwrap();
    assert_eq!(aborted.len(), 1);
    assert_eq!((aborted[0].producer_id, aborted[0].first_offset), (p.0, 1));
    let batches = batches_of(&pd);
    assert!(matches!(
        batches.last().unwrap().1,
        Some(ControlRecord::Abort(_))
    ));
    // Fetching after the aborted span does not list it.
    assert_eq!(sim.fetch(0, 4, true).aborted_transactions, Some(vec![]));
    // EndTxn without a transaction is an invalid state (transaction v1).
    assert_eq!(
        sim.end_txn(0, 3, "tx", p, true).error_code,
        code(ErrorCode::InvalidTxnState)
    );
    // The producer carries on with the next transaction.
    assert_eq!(sim.add_partitions(0, 3, "tx", p, &[0]), vec![NONE]);
    assert_eq!(sim.produce(9, Some("tx"), 0, p, 2, 1, true), (NONE, 4));
    assert_eq!(sim.fetch(0, 0, true).last_stable_offset, 4);
}

#[test]
fn transaction_timeout_aborts_and_fences() {
    let mut sim = Sim::new(1);
    sim.cluster.move_coordinator(1, "tx", 0).unwrap();
    let req = InitProducerIdRequest::default()
        .with_transactional_id(Some("tx".into()))
        .with_transaction_timeout_ms(1000);
    let (err, pid, epoch) = sim.init_with(0, 4, req.clone());
    assert_eq!(err, NONE);
    let p = (pid, epoch);
    // Timeouts are validated.
    assert_eq!(
        sim.init_with(0, 4, req.clone().with_transaction_timeout_ms(900_001))
            .0,
        code(ErrorCode::InvalidTransactionTimeout)
    );
    assert_eq!(
        sim.init_with(0, 4, req.with_transaction_timeout_ms(0)).0,
        code(ErrorCode::InvalidTransactionTimeout)
    );
    assert_eq!(sim.cluster.poll_timeout(), None);
    assert_eq!(sim.add_partitions(0, 3, "tx", p, &[0]), vec![NONE]);
    assert_eq!(sim.produce(9, Some("tx"), 0, p, 0, 2, true), (NONE, 0));
    assert_eq!(
        sim.cluster.poll_timeout(),
        Some(sim.now + Duration::from_millis(1000))
    );
    sim.advance(Duration::from_millis(999));
    assert_eq!(sim.fetch(0, 0, true).last_stable_offset, 0);
    sim.advance(Duration::from_millis(1));
    assert_eq!(sim.cluster.poll_timeout(), None);
    let pd = sim.fetch(0, 0, true);
    assert_eq!(pd.last_stable_offset, 3);
    assert_eq!(pd.aborted_transactions.as_ref().map(Vec::len), Some(1));
    // The producer was fenced by the abort.
    assert_eq!(
        sim.end_txn(0, 3, "tx", p, true).error_code,
        code(ErrorCode::ProducerFenced)
    );
}

#[test]
fn coordinator_placement_and_partition_checks() {
    let mut sim = Sim::new(3);
    sim.cluster.move_coordinator(1, "tx", 1).unwrap();
    assert_eq!(
        sim.init_producer_id(0, 4, Some("tx")).0,
        code(ErrorCode::NotCoordinator)
    );
    assert_eq!(
        sim.init_producer_id(2, 4, Some("tx")).0,
        code(ErrorCode::NotCoordinator)
    );
    let (err, pid, epoch) = sim.init_producer_id(1, 4, Some("tx"));
    assert_eq!(err, NONE);
    let p = (pid, epoch);
    assert_eq!(
        sim.add_partitions(0, 3, "tx", p, &[0]),
        vec![code(ErrorCode::NotCoordinator)]
    );
    assert_eq!(
        sim.end_txn(2, 3, "tx", p, true).error_code,
        code(ErrorCode::NotCoordinator)
    );
    // An unknown partition fails the whole request.
    assert_eq!(
        sim.add_partitions(1, 3, "tx", p, &[0, 9]),
        vec![
            code(ErrorCode::OperationNotAttempted),
            code(ErrorCode::UnknownTopicOrPartition)
        ]
    );
    // A wrong producer id is an invalid mapping.
    assert_eq!(
        sim.add_partitions(1, 3, "tx", (pid + 1, epoch), &[0]),
        vec![code(ErrorCode::InvalidProducerIdMapping)]
    );
    // Idempotent producers are served by any broker.
    assert_eq!(sim.init_producer_id(2, 4, None).0, NONE);
}

#[test]
fn transactional_produce_needs_the_partition_in_the_transaction() {
    let mut sim = Sim::new(1);
    let p = txn_producer(&mut sim, "tx");
    assert_eq!(
        sim.produce(9, Some("tx"), 0, p, 0, 1, true).0,
        code(ErrorCode::InvalidTxnState)
    );
    assert_eq!(
        sim.produce(11, Some("tx"), 0, p, 0, 1, true).0,
        code(ErrorCode::TransactionAbortable)
    );
    assert_eq!(
        sim.produce(9, None, 0, p, 0, 1, true).0,
        code(ErrorCode::TransactionalIdAuthorizationFailed)
    );
    assert_eq!(
        sim.produce(9, Some("other"), 0, p, 0, 1, true).0,
        code(ErrorCode::InvalidProducerIdMapping)
    );
    assert_eq!(sim.end_offset(0), 0);
    // Produce v12 (transaction v2) adds the partition itself.
    assert_eq!(sim.produce(12, Some("tx"), 0, p, 0, 1, true), (NONE, 0));
    assert_eq!(sim.fetch(0, 0, true).last_stable_offset, 0);
    // EndTxn v5 bumps the epoch and returns it; the markers carry it.
    let r = sim.end_txn(0, 5, "tx", p, true);
    assert_eq!(
        (r.error_code, r.producer_id, r.producer_epoch),
        (NONE, p.0, p.1 + 1)
    );
    let batches = batches_of(&sim.fetch(0, 0, true));
    assert!(matches!(batches[1].1, Some(ControlRecord::Commit(_))));
    // A retry with the old epoch succeeds with the same answer.
    let r = sim.end_txn(0, 5, "tx", p, true);
    assert_eq!((r.error_code, r.producer_epoch), (NONE, p.1 + 1));
    // The next transaction runs on the bumped epoch from sequence 0.
    let next = (p.0, p.1 + 1);
    assert_eq!(
        sim.produce(12, Some("tx"), 0, next, 1, 1, true).0,
        code(ErrorCode::OutOfOrderSequenceNumber)
    );
    assert_eq!(sim.produce(12, Some("tx"), 0, next, 0, 1, true), (NONE, 2));
    // Aborting with the current epoch bumps again; the old one is fenced.
    let r = sim.end_txn(0, 5, "tx", next, false);
    assert_eq!((r.error_code, r.producer_epoch), (NONE, p.1 + 2));
    assert_eq!(
        sim.end_txn(0, 5, "tx", (p.0, p.1), true).error_code,
        code(ErrorCode::ProducerFenced)
    );
}

#[test]
fn add_partitions_v4_verify_only_and_offsets_to_txn() {
    let mut sim = Sim::new(1);
    let p = txn_producer(&mut sim, "tx");
    assert_eq!(sim.add_partitions(0, 3, "tx", p, &[0]), vec![NONE]);
    let req = AddPartitionsToTxnRequest::default().with_transactions(vec![
        AddPartitionsToTxnTransaction::default()
            .with_transactional_id("tx".into())
            .with_producer_id(p.0)
            .with_producer_epoch(p.1)
            .with_verify_only(true)
            .with_topics(vec![AddPartitionsToTxnTopic::default()
                .with_name(TOPIC.into())
                .with_partitions(vec![0, 1])]),
    ]);
    let ResponseBody::AddPartitionsToTxn(r) = sim.call(0, 5, req) else {
        panic!()
    };
    let codes: Vec<i16> = r.results_by_transaction[0].topic_results[0]
        .results_by_partition
        .iter()
        .map(|p| p.partition_error_code)
        .collect();
    assert_eq!(codes, vec![NONE, code(ErrorCode::TransactionAbortable)]);

    let add_offsets = |epoch| {
        AddOffsetsToTxnRequest::default()
            .with_transactional_id("tx".into())
            .with_producer_id(p.0)
            .with_producer_epoch(epoch)
            .with_group_id("g".into())
    };
    let ResponseBody::AddOffsetsToTxn(r) = sim.call(0, 3, add_offsets(p.1)) else {
        panic!()
    };
    assert_eq!(r.error_code, NONE);
    let ResponseBody::AddOffsetsToTxn(r) = sim.call(0, 1, add_offsets(p.1 + 1)) else {
        panic!()
    };
    assert_eq!(r.error_code, code(ErrorCode::InvalidProducerEpoch));
}

#[test]
fn injected_errors_and_throttle() {
    let mut sim = Sim::new(1);
    sim.cluster.set_throttle_ms(25);
    sim.cluster.inject_error(kafka_mock::ErrorInjection::new(
        kafka_proto::ApiKey::InitProducerId,
        ErrorCode::CoordinatorLoadInProgress,
        1,
    ));
    let ResponseBody::InitProducerId(r) = sim.call(0, 4, InitProducerIdRequest::default()) else {
        panic!()
    };
    assert_eq!(
        (r.error_code, r.throttle_time_ms),
        (code(ErrorCode::CoordinatorLoadInProgress), 25)
    );
    assert_eq!(sim.init_producer_id(0, 4, None).0, NONE);
}

/// Offsets of group `g` for partitions 0 and 1 of the topic, as an
/// OffsetFetch v8 with `require_stable` reads them: (offset, error).
fn stable_offsets(sim: &mut Sim, require_stable: bool) -> Vec<(i64, i16)> {
    use kafka_proto::messages::offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopics,
    };
    let req = OffsetFetchRequest::default()
        .with_require_stable(require_stable)
        .with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id("g".into())
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(TOPIC.into())
                .with_partition_indexes(vec![0, 1])]))]);
    let ResponseBody::OffsetFetch(r) = sim.call(0, 8, req) else {
        panic!("wrong response type")
    };
    assert_eq!(r.groups[0].error_code, NONE);
    r.groups[0].topics[0]
        .partitions
        .iter()
        .map(|p| (p.committed_offset, p.error_code))
        .collect()
}

/// While a transaction holds offsets of a partition, an OffsetFetch with
/// `require_stable` gets UNSTABLE_OFFSET_COMMIT for it (KIP-447), so that
/// a new owner does not start from the offset the transaction replaces;
/// one without `require_stable` reads the last committed offset. Once the
/// transaction commits, both read its offset.
#[test]
fn offsets_in_an_open_transaction_are_unstable_for_require_stable_fetches() {
    use kafka_proto::messages::txn_offset_commit_request::{
        TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
    };
    let mut sim = Sim::new(1);
    let p = txn_producer(&mut sim, "tx");
    let add = AddOffsetsToTxnRequest::default()
        .with_transactional_id("tx".into())
        .with_producer_id(p.0)
        .with_producer_epoch(p.1)
        .with_group_id("g".into());
    let ResponseBody::AddOffsetsToTxn(r) = sim.call(0, 3, add) else {
        panic!("wrong response type")
    };
    assert_eq!(r.error_code, NONE);
    let commit = TxnOffsetCommitRequest::default()
        .with_transactional_id("tx".into())
        .with_group_id("g".into())
        .with_producer_id(p.0)
        .with_producer_epoch(p.1)
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![TxnOffsetCommitRequestTopic::default()
            .with_name(TOPIC.into())
            .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(5)])]);
    let ResponseBody::TxnOffsetCommit(r) = sim.call(0, 3, commit) else {
        panic!("wrong response type")
    };
    assert_eq!(r.topics[0].partitions[0].error_code, NONE);

    let unstable = code(ErrorCode::UnstableOffsetCommit);
    assert_eq!(stable_offsets(&mut sim, true), [(-1, unstable), (-1, NONE)]);
    assert_eq!(stable_offsets(&mut sim, false), [(-1, NONE), (-1, NONE)]);
    assert_eq!(sim.end_txn(0, 3, "tx", p, true).error_code, NONE);
    assert_eq!(stable_offsets(&mut sim, true), [(5, NONE), (-1, NONE)]);
}
