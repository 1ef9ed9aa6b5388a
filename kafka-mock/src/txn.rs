//! Idempotent producers and transactions.
//!
//! Two halves, as in a Kafka broker:
//! - the partition side (Kafka's `ProducerStateManager`): for every
//!   (partition, producer id) the producer epoch and the sequence ranges of
//!   the last five batches, used to drop retried batches and reject gaps;
//!   open transactions are tracked in [`PartitionLog::open_txns`] so the
//!   last stable offset holds read_committed consumers back;
//! - the coordinator side (Kafka's `TransactionCoordinator`): one state per
//!   transactional id with its producer id, epoch, partitions, groups and
//!   pending offsets. Markers are written synchronously, so the coordinator
//!   never sits in `PrepareCommit`/`PrepareAbort`.
//!
//! [`PartitionLog::open_txns`]: crate::log::PartitionLog

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use kafka_proto::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_proto::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_proto::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_proto::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, EndTxnRequest, EndTxnResponse, InitProducerIdRequest,
    InitProducerIdResponse, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use kafka_proto::record::{
    encode_control_batch, BatchHeader, BatchOptions, ControlRecord, EndTxnMarker,
};
use kafka_proto::{ApiKey, ErrorCode, RequestBody, ResponseBody, Uuid};

use crate::cluster::{Cluster, Reply};
use crate::data::{ProduceCheck, Refused};
use crate::groups::{CommittedOffset, KEY_GROUP, KEY_TRANSACTION};
use crate::log::{AbortedTxn, PartitionLog};
use crate::Ctx;

/// `transaction.max.timeout.ms`: the largest transaction timeout accepted.
const MAX_TXN_TIMEOUT_MS: i32 = 900_000;
/// Batches per producer and partition kept for duplicate detection.
const BATCHES_TO_RETAIN: usize = 5;
/// `offset.metadata.max.bytes`.
const MAX_OFFSET_METADATA: usize = 4096;
const NO_PRODUCER_ID: i64 = -1;
const NO_EPOCH: i16 = -1;

/// An epoch this high cannot be bumped again: the next bump moves to a new
/// producer id.
fn epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

/// The sequence of a batch's last record: sequences wrap at `i32::MAX`.
fn last_sequence(header: &BatchHeader) -> i32 {
    let next = i64::from(header.base_sequence) + i64::from(header.last_offset_delta.max(0));
    if next > i64::from(i32::MAX) {
        (next - i64::from(i32::MAX) - 1) as i32
    } else {
        next as i32
    }
}

/// Whether `next` may follow `last` (Kafka's `inSequence`).
fn in_sequence(last: i32, next: i32) -> bool {
    i64::from(next) == i64::from(last) + 1 || (next == 0 && last == i32::MAX)
}

/// Clients older than KIP-588 do not know PRODUCER_FENCED: Kafka answers
/// them INVALID_PRODUCER_EPOCH instead, below `first_fenced_version`.
fn fenced_compat(code: ErrorCode, version: i16, first_fenced_version: i16) -> ErrorCode {
    if code == ErrorCode::ProducerFenced && version < first_fenced_version {
        ErrorCode::InvalidProducerEpoch
    } else {
        code
    }
}

/// Brokers check a transactional producer on the produce path and for
/// TxnOffsetCommit through their verification client, which hands a fenced
/// epoch back as INVALID_PRODUCER_EPOCH: the error producers expect from a
/// write (Kafka's AddPartitionsToTxnManager), unlike the coordinator's own
/// answers.
fn verification_error(code: ErrorCode) -> ErrorCode {
    if code == ErrorCode::ProducerFenced {
        ErrorCode::InvalidProducerEpoch
    } else {
        code
    }
}

/// Coordinator states of a transactional id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxnState {
    Empty,
    Ongoing,
    CompleteCommit,
    CompleteAbort,
}

/// What the coordinator knows about one transactional id.
#[derive(Debug)]
struct TxnMeta {
    producer_id: i64,
    /// The producer id before the last rotation (epoch exhaustion).
    last_producer_id: i64,
    epoch: i16,
    /// The epoch before the last bump, to recognise retries.
    last_epoch: i16,
    timeout_ms: i32,
    state: TxnState,
    /// When the ongoing transaction started.
    started: Instant,
    /// The ongoing transaction was started by a transaction-v2 client
    /// (KIP-890): ending it bumps the epoch once more.
    tv2: bool,
    partitions: BTreeSet<(String, i32)>,
    groups: BTreeSet<String>,
    /// TxnOffsetCommit offsets waiting for the commit: group -> partition -> offset.
    pending_offsets: BTreeMap<String, BTreeMap<(String, i32), CommittedOffset>>,
}

impl TxnMeta {
    fn deadline(&self) -> Option<Instant> {
        (self.state == TxnState::Ongoing).then(|| {
            self.started + Duration::from_millis(u64::try_from(self.timeout_ms).unwrap_or(0))
        })
    }
}

/// One batch's sequence range and where it was written.
#[derive(Debug, Clone, Copy)]
struct SeqBatch {
    first_seq: i32,
    last_seq: i32,
    base_offset: i64,
    /// Kafka answers a retried batch with this as its log append time.
    max_timestamp: i64,
}

/// A producer's state in one partition (Kafka's `ProducerStateEntry`).
#[derive(Debug)]
struct PartitionProducer {
    epoch: i16,
    batches: VecDeque<SeqBatch>,
}

impl PartitionProducer {
    /// Moves to `epoch`; a new epoch forgets the old sequence window.
    fn set_epoch(&mut self, epoch: i16) {
        if self.epoch != epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
    }
}

/// Producer ids, sequence state and transactions.
#[derive(Debug, Default)]
pub(crate) struct ProducerState {
    next_producer_id: i64,
    txns: BTreeMap<String, TxnMeta>,
    /// Keyed by topic id, so a topic deleted and created again starts clean.
    partitions: HashMap<(Uuid, i32, i64), PartitionProducer>,
    /// Every `commit_group_offsets` call made by a committing transaction.
    #[cfg(test)]
    offset_commits: Vec<(String, Vec<CommittedOffset>)>,
}

impl ProducerState {
    fn alloc_producer_id(&mut self) -> i64 {
        let id = self.next_producer_id;
        self.next_producer_id += 1;
        id
    }
}

/// Serves the producer-id and transaction APIs; hands any other request back.
#[allow(clippy::result_large_err)]
pub(crate) fn dispatch(
    cluster: &mut Cluster,
    ctx: &Ctx,
    body: RequestBody,
) -> Result<Reply, RequestBody> {
    let resp = match body {
        RequestBody::InitProducerId(r) => {
            ResponseBody::InitProducerId(cluster.init_producer_id(ctx, &r))
        }
        RequestBody::AddPartitionsToTxn(r) => {
            ResponseBody::AddPartitionsToTxn(cluster.add_partitions_to_txn(ctx, &r))
        }
        RequestBody::AddOffsetsToTxn(r) => {
            ResponseBody::AddOffsetsToTxn(cluster.add_offsets_to_txn(ctx, &r))
        }
        RequestBody::TxnOffsetCommit(r) => {
            ResponseBody::TxnOffsetCommit(cluster.txn_offset_commit(ctx, &r))
        }
        RequestBody::EndTxn(r) => ResponseBody::EndTxn(cluster.end_txn(ctx, &r)),
        RequestBody::ListTransactions(r) => {
            ResponseBody::ListTransactions(cluster.list_transactions(ctx, &r))
        }
        RequestBody::DescribeTransactions(r) => {
            ResponseBody::DescribeTransactions(cluster.describe_transactions(ctx, &r))
        }
        RequestBody::DescribeProducers(r) => {
            ResponseBody::DescribeProducers(cluster.describe_producers(ctx, &r))
        }
        other => return Err(other),
    };
    Ok(Reply::Respond(resp))
}

impl TxnState {
    fn name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::Ongoing => "Ongoing",
            Self::CompleteCommit => "CompleteCommit",
            Self::CompleteAbort => "CompleteAbort",
        }
    }
}

impl Cluster {
    /// The transactions this broker coordinates that the filters match.
    fn list_transactions(
        &mut self,
        ctx: &Ctx,
        req: &kafka_proto::messages::ListTransactionsRequest,
    ) -> kafka_proto::messages::ListTransactionsResponse {
        use kafka_proto::messages::list_transactions_response::TransactionState;
        let mut resp = kafka_proto::messages::ListTransactionsResponse::default()
            .with_throttle_time_ms(self.faults.throttle_ms);
        if let Some(code) = self
            .faults
            .take(ApiKey::ListTransactions, ctx.broker, None, None)
        {
            resp.error_code = code.code();
            return resp;
        }
        const STATES: [&str; 4] = ["Empty", "Ongoing", "CompleteCommit", "CompleteAbort"];
        resp.unknown_state_filters = req
            .state_filters
            .iter()
            .filter(|s| !STATES.contains(&s.as_str()))
            .cloned()
            .collect();
        for (id, m) in &self.txn.txns {
            if self.coordinator_for(KEY_TRANSACTION, id) != ctx.broker {
                continue;
            }
            let state = m.state.name();
            if (!req.state_filters.is_empty() && !req.state_filters.iter().any(|s| s == state))
                || (!req.producer_id_filters.is_empty()
                    && !req.producer_id_filters.contains(&m.producer_id))
            {
                continue;
            }
            resp.transaction_states.push(
                TransactionState::default()
                    .with_transactional_id(id.clone())
                    .with_producer_id(m.producer_id)
                    .with_transaction_state(state.to_string()),
            );
        }
        resp
    }

    /// Each transactional id's state, if this broker coordinates it.
    fn describe_transactions(
        &mut self,
        ctx: &Ctx,
        req: &kafka_proto::messages::DescribeTransactionsRequest,
    ) -> kafka_proto::messages::DescribeTransactionsResponse {
        use kafka_proto::messages::describe_transactions_response::{TopicData, TransactionState};
        let mut resp = kafka_proto::messages::DescribeTransactionsResponse::default()
            .with_throttle_time_ms(self.faults.throttle_ms);
        for id in &req.transactional_ids {
            let mut t = TransactionState::default()
                .with_transactional_id(id.clone())
                .with_producer_id(-1)
                .with_producer_epoch(-1)
                .with_transaction_start_time_ms(-1);
            if let Some(code) =
                self.faults
                    .take(ApiKey::DescribeTransactions, ctx.broker, None, None)
            {
                t.error_code = code.code();
            } else if self.coordinator_for(KEY_TRANSACTION, id) != ctx.broker {
                t.error_code = ErrorCode::NotCoordinator.code();
            } else if let Some(m) = self.txn.txns.get(id) {
                let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
                for (topic, p) in &m.partitions {
                    topics.entry(topic).or_default().push(*p);
                }
                t = t
                    .with_transaction_state(m.state.name().to_string())
                    .with_transaction_timeout_ms(m.timeout_ms)
                    .with_producer_id(m.producer_id)
                    .with_producer_epoch(m.epoch)
                    .with_transaction_start_time_ms(if m.state == TxnState::Ongoing {
                        self.wall_ms(m.started)
                    } else {
                        -1
                    })
                    .with_topics(
                        topics
                            .into_iter()
                            .map(|(topic, partitions)| {
                                TopicData::default()
                                    .with_topic(topic.to_string())
                                    .with_partitions(partitions)
                            })
                            .collect(),
                    );
            } else {
                t.error_code = ErrorCode::TransactionalIdNotFound.code();
            }
            resp.transaction_states.push(t);
        }
        resp
    }

    /// The producers a partition's leader keeps sequence state for.
    fn describe_producers(
        &mut self,
        ctx: &Ctx,
        req: &kafka_proto::messages::DescribeProducersRequest,
    ) -> kafka_proto::messages::DescribeProducersResponse {
        use kafka_proto::messages::describe_producers_response::{
            PartitionResponse, ProducerState, TopicResponse,
        };
        let mut resp = kafka_proto::messages::DescribeProducersResponse::default()
            .with_throttle_time_ms(self.faults.throttle_ms);
        for t in &req.topics {
            let mut tr = TopicResponse::default().with_name(t.name.clone());
            for &index in &t.partition_indexes {
                let mut pr = PartitionResponse::default().with_partition_index(index);
                if let Some(code) = self.faults.take(
                    ApiKey::DescribeProducers,
                    ctx.broker,
                    Some(&t.name),
                    Some(index),
                ) {
                    pr.error_code = code.code();
                } else if let Err((code, _)) = self.leader_check(ctx.broker, &t.name, index) {
                    pr.error_code = code.code();
                } else {
                    let topic = &self.topics[&t.name];
                    let open = &topic.partitions[index as usize].log.open_txns;
                    let mut states: Vec<ProducerState> = self
                        .txn
                        .partitions
                        .iter()
                        .filter(|((id, p, _), _)| *id == topic.id && *p == index)
                        .map(|((_, _, pid), e)| {
                            let last = e.batches.back();
                            ProducerState::default()
                                .with_producer_id(*pid)
                                .with_producer_epoch(i32::from(e.epoch))
                                .with_last_sequence(last.map_or(-1, |b| b.last_seq))
                                .with_last_timestamp(last.map_or(-1, |b| b.max_timestamp))
                                .with_coordinator_epoch(-1)
                                .with_current_txn_start_offset(
                                    open.iter()
                                        .find(|(p, _)| p == pid)
                                        .map_or(-1, |(_, first)| *first),
                                )
                        })
                        .collect();
                    states.sort_by_key(|s| s.producer_id);
                    pr.active_producers = states;
                }
                tr.partitions.push(pr);
            }
            resp.topics.push(tr);
        }
        resp
    }

    /// Aborts every transaction whose timeout has passed, as Kafka's
    /// coordinator does. A first-protocol transaction's producer is fenced
    /// first (it cannot recover). A v2 transaction ends as if its producer
    /// had aborted it, with one epoch bump: the producer's own abort, at
    /// the epoch before, is then answered as a retry, with the new epoch,
    /// and it goes on (measured on Kafka 4.4; a commit meets
    /// INVALID_TXN_STATE, a Produce or TxnOffsetCommit at the old epoch
    /// INVALID_PRODUCER_EPOCH).
    pub(crate) fn txn_timeout(&mut self, now: Instant) {
        let due: Vec<String> = self
            .txn
            .txns
            .iter()
            .filter(|(_, m)| m.deadline().is_some_and(|d| d <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            tracing::info!(target: "kafka_mock::txn", transactional_id = %id, "transaction timed out, aborting");
            if self.txn.txns.get(&id).is_some_and(|m| m.tv2) {
                self.complete_txn(&id, false, now, true);
            } else {
                self.fence_and_abort(&id, now);
            }
        }
    }

    /// Whether an ongoing transaction holds an offset of `group` for the
    /// partition that is not committed yet.
    pub(crate) fn txn_offset_pending(&self, group: &str, topic: &str, partition: i32) -> bool {
        let key = (topic.to_string(), partition);
        self.txn.txns.values().any(|m| {
            m.state == TxnState::Ongoing
                && m.pending_offsets
                    .get(group)
                    .is_some_and(|o| o.contains_key(&key))
        })
    }

    /// When the earliest ongoing transaction times out.
    pub(crate) fn txn_next_deadline(&self) -> Option<Instant> {
        self.txn.txns.values().filter_map(TxnMeta::deadline).min()
    }

    fn partition_log_mut(&mut self, topic: &str, partition: i32) -> Option<&mut PartitionLog> {
        let i = usize::try_from(partition).ok()?;
        Some(&mut self.topics.get_mut(topic)?.partitions.get_mut(i)?.log)
    }

    /// Sequence and epoch checks for a produced batch.
    ///
    /// Transactional batches are first checked against the coordinator (as
    /// Kafka's produce-path verification does) unless the partition already
    /// has this producer's transaction open; then come the log's checks:
    /// duplicates, epoch, sequence, and no plain writes inside a transaction.
    pub(crate) fn txn_check_produce(
        &mut self,
        ctx: &Ctx,
        transactional_id: Option<&str>,
        topic: &str,
        partition: i32,
        header: &BatchHeader,
    ) -> Result<ProduceCheck, Refused> {
        let pid = header.producer_id;
        let transactional = header.is_transactional();
        if pid < 0 {
            return if transactional {
                Err(Refused::Early(ErrorCode::InvalidRecord))
            } else {
                Ok(ProduceCheck::Append)
            };
        }
        if header.base_sequence < 0 {
            return Err(Refused::Early(ErrorCode::InvalidRecord));
        }
        let Some(topic_id) = self.topics.get(topic).map(|t| t.id) else {
            return Ok(ProduceCheck::Append);
        };
        let key = (topic_id, partition, pid);
        let epoch = header.producer_epoch;
        let open_txn = self
            .partition_log_mut(topic, partition)
            .and_then(|log| log.open_txns.iter().find(|&&(p, _)| p == pid).copied());
        let entry_epoch = self.txn.partitions.get(&key).map(|e| e.epoch);
        if transactional {
            let Some(id) = transactional_id else {
                return Err(Refused::Early(
                    ErrorCode::TransactionalIdAuthorizationFailed,
                ));
            };
            let ongoing_here = open_txn.is_some() && entry_epoch == Some(epoch);
            if !ongoing_here {
                self.verify_produce(ctx, id, pid, epoch, topic, partition)
                    .map_err(|code| Refused::Early(verification_error(code)))?;
            }
        }
        self.txn_check_in_log(ctx, header, key, open_txn.is_some())
            .map_err(Refused::Log)
    }

    /// The checks of the partition's producer state, which Kafka's log makes
    /// while appending.
    fn txn_check_in_log(
        &self,
        ctx: &Ctx,
        header: &BatchHeader,
        key: (Uuid, i32, i64),
        open_txn: bool,
    ) -> Result<ProduceCheck, ErrorCode> {
        let transactional = header.is_transactional();
        let epoch = header.producer_epoch;
        let seq = header.base_sequence;
        match self.txn.partitions.get(&key) {
            Some(e) => {
                let last = last_sequence(header);
                if e.epoch == epoch {
                    if let Some(b) = e
                        .batches
                        .iter()
                        .find(|b| b.first_seq == seq && b.last_seq == last)
                    {
                        return Ok(ProduceCheck::Duplicate {
                            base_offset: b.base_offset,
                            max_timestamp: b.max_timestamp,
                        });
                    }
                }
                if epoch < e.epoch {
                    return Err(ErrorCode::InvalidProducerEpoch);
                }
                if epoch != e.epoch {
                    if seq != 0 && e.epoch != NO_EPOCH {
                        return Err(ErrorCode::OutOfOrderSequenceNumber);
                    }
                } else {
                    let last_seq = e.batches.back().map_or(-1, |b| b.last_seq);
                    if e.epoch != NO_EPOCH && !in_sequence(last_seq, seq) {
                        return Err(ErrorCode::OutOfOrderSequenceNumber);
                    }
                }
            }
            // No state: Kafka (since 2.5) accepts any sequence, except that a
            // transaction-v2 producer must start at 0.
            None if transactional && ctx.version >= 12 && seq != 0 => {
                return Err(ErrorCode::OutOfOrderSequenceNumber);
            }
            None => {}
        }
        if !transactional && open_txn {
            return Err(ErrorCode::InvalidTxnState);
        }
        Ok(ProduceCheck::Append)
    }

    /// Kafka's produce-path transaction verification: the partition must be
    /// part of the producer's ongoing transaction. Produce v12+ (transaction
    /// v2) adds it instead; v11 answers TRANSACTION_ABORTABLE, older
    /// versions INVALID_TXN_STATE.
    fn verify_produce(
        &mut self,
        ctx: &Ctx,
        id: &str,
        pid: i64,
        epoch: i16,
        topic: &str,
        partition: i32,
    ) -> Result<(), ErrorCode> {
        let meta = self
            .txn
            .txns
            .get(id)
            .ok_or(ErrorCode::InvalidProducerIdMapping)?;
        if meta.producer_id != pid {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        if meta.epoch != epoch {
            return Err(ErrorCode::ProducerFenced);
        }
        let tp = (topic.to_string(), partition);
        if meta.state == TxnState::Ongoing && meta.partitions.contains(&tp) {
            return Ok(());
        }
        match ctx.version {
            v if v >= 12 => self.txn_add(ctx.now, id, pid, epoch, vec![tp], None, true),
            11 => Err(ErrorCode::TransactionAbortable),
            _ => Err(ErrorCode::InvalidTxnState),
        }
    }

    /// Records what an appended batch means for producer and transaction state.
    pub(crate) fn txn_after_append(
        &mut self,
        topic: &str,
        partition: i32,
        header: &BatchHeader,
        base: i64,
        max_timestamp: i64,
    ) {
        let pid = header.producer_id;
        if pid < 0 {
            return;
        }
        let Some(topic_id) = self.topics.get(topic).map(|t| t.id) else {
            return;
        };
        let entry = self
            .txn
            .partitions
            .entry((topic_id, partition, pid))
            .or_insert_with(|| PartitionProducer {
                epoch: header.producer_epoch,
                batches: VecDeque::new(),
            });
        entry.set_epoch(header.producer_epoch);
        entry.batches.push_back(SeqBatch {
            first_seq: header.base_sequence,
            last_seq: last_sequence(header),
            base_offset: base,
            max_timestamp,
        });
        while entry.batches.len() > BATCHES_TO_RETAIN {
            entry.batches.pop_front();
        }
        if header.is_transactional() {
            if let Some(log) = self.partition_log_mut(topic, partition) {
                if !log.open_txns.iter().any(|&(p, _)| p == pid) {
                    log.open_txns.push((pid, base));
                }
            }
        }
    }

    // ---- InitProducerId ----

    fn init_producer_id(
        &mut self,
        ctx: &Ctx,
        req: &InitProducerIdRequest,
    ) -> InitProducerIdResponse {
        let mut resp = InitProducerIdResponse::default()
            .with_throttle_time_ms(self.faults.throttle_ms)
            .with_producer_id(NO_PRODUCER_ID)
            .with_producer_epoch(NO_EPOCH);
        match self.init_producer_id_inner(ctx, req) {
            Ok((pid, epoch)) => {
                resp.producer_id = pid;
                resp.producer_epoch = epoch;
            }
            Err(code) => resp.error_code = fenced_compat(code, ctx.version, 4).code(),
        }
        resp
    }

    fn init_producer_id_inner(
        &mut self,
        ctx: &Ctx,
        req: &InitProducerIdRequest,
    ) -> Result<(i64, i16), ErrorCode> {
        if let Some(code) = self
            .faults
            .take(ApiKey::InitProducerId, ctx.broker, None, None)
        {
            return Err(code);
        }
        let expected = match (req.producer_id, req.producer_epoch) {
            (NO_PRODUCER_ID, NO_EPOCH) => None,
            (NO_PRODUCER_ID, _) | (_, NO_EPOCH) => return Err(ErrorCode::InvalidRequest),
            (pid, epoch) => Some((pid, epoch)),
        };
        // Idempotent producers get a fresh id from any broker; they bump
        // their epoch themselves (KIP-360).
        let Some(id) = req.transactional_id.as_deref() else {
            return Ok((self.txn.alloc_producer_id(), 0));
        };
        if id.is_empty() {
            return Err(ErrorCode::InvalidRequest);
        }
        if !(1..=MAX_TXN_TIMEOUT_MS).contains(&req.transaction_timeout_ms) {
            return Err(ErrorCode::InvalidTransactionTimeout);
        }
        if self.coordinator_for(KEY_TRANSACTION, id) != ctx.broker {
            return Err(ErrorCode::NotCoordinator);
        }
        if !self.txn.txns.contains_key(id) {
            let pid = self.txn.alloc_producer_id();
            self.txn.txns.insert(
                id.to_string(),
                TxnMeta {
                    producer_id: pid,
                    last_producer_id: NO_PRODUCER_ID,
                    epoch: NO_EPOCH,
                    last_epoch: NO_EPOCH,
                    timeout_ms: req.transaction_timeout_ms,
                    state: TxnState::Empty,
                    started: ctx.now,
                    tv2: false,
                    partitions: BTreeSet::new(),
                    groups: BTreeSet::new(),
                    pending_offsets: BTreeMap::new(),
                },
            );
        }
        let (state, cur_pid, cur_epoch, last_pid, last_epoch) = {
            let m = self.txn.txns.get(id).ok_or(ErrorCode::UnknownServerError)?;
            (
                m.state,
                m.producer_id,
                m.epoch,
                m.last_producer_id,
                m.last_epoch,
            )
        };
        if let Some((pid, epoch)) = expected {
            // A recovering producer (KIP-360) must name this id, or the
            // previous one with an exhausted epoch (a retried rotation).
            let valid = cur_epoch == NO_EPOCH
                || pid == cur_pid
                || (pid == last_pid && epoch_exhausted(epoch));
            if !valid {
                return Err(ErrorCode::ProducerFenced);
            }
        }
        if state == TxnState::Ongoing {
            // Fence the current producer and abort its transaction; the
            // client retries and then gets the epoch after the fence.
            self.fence_and_abort(id, ctx.now);
            return Err(ErrorCode::ConcurrentTransactions);
        }
        let rotate =
            epoch_exhausted(cur_epoch) && !matches!(expected, Some((_, e)) if e != cur_epoch);
        let new_pid = rotate.then(|| self.txn.alloc_producer_id());
        let Some(meta) = self.txn.txns.get_mut(id) else {
            return Err(ErrorCode::UnknownServerError);
        };
        if let Some(new_pid) = new_pid {
            meta.last_producer_id = meta.producer_id;
            meta.last_epoch = if expected.is_some() {
                meta.epoch
            } else {
                NO_EPOCH
            };
            meta.producer_id = new_pid;
            meta.epoch = 0;
        } else {
            match expected {
                Some((_, e)) if cur_epoch != NO_EPOCH && e != cur_epoch => {
                    // A retry of the bump that produced the current epoch.
                    if e != last_epoch {
                        return Err(ErrorCode::ProducerFenced);
                    }
                }
                _ => {
                    meta.last_epoch = if expected.is_some() {
                        cur_epoch
                    } else {
                        NO_EPOCH
                    };
                    meta.epoch = cur_epoch.saturating_add(1);
                }
            }
        }
        meta.timeout_ms = req.transaction_timeout_ms;
        meta.state = TxnState::Empty;
        meta.tv2 = false;
        meta.partitions.clear();
        meta.groups.clear();
        meta.pending_offsets.clear();
        tracing::debug!(target: "kafka_mock::txn", transactional_id = %id, producer_id = meta.producer_id, epoch = meta.epoch, "producer initialised");
        Ok((meta.producer_id, meta.epoch))
    }

    // ---- AddPartitionsToTxn / AddOffsetsToTxn ----

    /// Kafka's `handleAddPartitionsToTransaction`: checks the producer and
    /// adds partitions (and a group) to its transaction, starting one if
    /// none is ongoing. The caller has checked coordinator placement.
    #[allow(clippy::too_many_arguments)]
    fn txn_add(
        &mut self,
        now: Instant,
        id: &str,
        pid: i64,
        epoch: i16,
        partitions: Vec<(String, i32)>,
        group: Option<&str>,
        tv2: bool,
    ) -> Result<(), ErrorCode> {
        if id.is_empty() {
            return Err(ErrorCode::InvalidRequest);
        }
        let meta = self
            .txn
            .txns
            .get_mut(id)
            .ok_or(ErrorCode::InvalidProducerIdMapping)?;
        if meta.producer_id != pid {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        if meta.epoch != epoch {
            return Err(ErrorCode::ProducerFenced);
        }
        if meta.state != TxnState::Ongoing {
            meta.state = TxnState::Ongoing;
            meta.started = now;
            meta.tv2 = false;
            meta.partitions.clear();
            meta.groups.clear();
            meta.pending_offsets.clear();
        }
        meta.tv2 |= tv2;
        meta.partitions.extend(partitions);
        if let Some(g) = group {
            meta.groups.insert(g.to_string());
        }
        Ok(())
    }

    /// Per-partition answer for one transaction's AddPartitionsToTxn.
    fn add_partitions_for(
        &mut self,
        ctx: &Ctx,
        id: &str,
        pid: i64,
        epoch: i16,
        topics: &[AddPartitionsToTxnTopic],
        verify_only: bool,
    ) -> Vec<AddPartitionsToTxnTopicResult> {
        let unknown: BTreeSet<(String, i32)> = topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(move |&p| (t.name.clone(), p)))
            .filter(|(t, p)| !self.partition_exists(t, *p))
            .collect();
        let mut per_partition: Option<BTreeMap<(String, i32), ErrorCode>> = None;
        let uniform: ErrorCode = if !unknown.is_empty() {
            ErrorCode::OperationNotAttempted
        } else if self.coordinator_for(KEY_TRANSACTION, id) != ctx.broker {
            ErrorCode::NotCoordinator
        } else if verify_only {
            match self.verify_partitions(id, pid, epoch) {
                Ok(in_txn) => {
                    let missing = if ctx.version >= 5 {
                        ErrorCode::TransactionAbortable
                    } else {
                        ErrorCode::InvalidTxnState
                    };
                    per_partition = Some(
                        topics
                            .iter()
                            .flat_map(|t| t.partitions.iter().map(move |&p| (t.name.clone(), p)))
                            .map(|tp| {
                                let code = if in_txn.contains(&tp) {
                                    ErrorCode::None
                                } else {
                                    missing
                                };
                                (tp, code)
                            })
                            .collect(),
                    );
                    ErrorCode::None
                }
                Err(code) => code,
            }
        } else {
            let parts: Vec<(String, i32)> = topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(move |&p| (t.name.clone(), p)))
                .collect();
            match self.txn_add(ctx.now, id, pid, epoch, parts, None, false) {
                Ok(()) => ErrorCode::None,
                Err(code) => code,
            }
        };
        let uniform = fenced_compat(uniform, ctx.version, 2);
        topics
            .iter()
            .map(|t| {
                let results = t
                    .partitions
                    .iter()
                    .map(|&p| {
                        let tp = (t.name.clone(), p);
                        let code = if unknown.contains(&tp) {
                            ErrorCode::UnknownTopicOrPartition
                        } else {
                            per_partition
                                .as_ref()
                                .and_then(|m| m.get(&tp).copied())
                                .unwrap_or(uniform)
                        };
                        AddPartitionsToTxnPartitionResult::default()
                            .with_partition_index(p)
                            .with_partition_error_code(code.code())
                    })
                    .collect();
                AddPartitionsToTxnTopicResult::default()
                    .with_name(t.name.clone())
                    .with_results_by_partition(results)
            })
            .collect()
    }

    /// Kafka's `handleVerifyPartitionsInTransaction`: the partitions of the
    /// producer's ongoing transaction, or why it cannot be verified.
    fn verify_partitions(
        &self,
        id: &str,
        pid: i64,
        epoch: i16,
    ) -> Result<BTreeSet<(String, i32)>, ErrorCode> {
        if id.is_empty() {
            return Err(ErrorCode::InvalidRequest);
        }
        let meta = self
            .txn
            .txns
            .get(id)
            .ok_or(ErrorCode::InvalidProducerIdMapping)?;
        if meta.producer_id != pid {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        if meta.epoch != epoch {
            return Err(ErrorCode::ProducerFenced);
        }
        Ok(if meta.state == TxnState::Ongoing {
            meta.partitions.clone()
        } else {
            BTreeSet::new()
        })
    }

    fn add_partitions_to_txn(
        &mut self,
        ctx: &Ctx,
        req: &AddPartitionsToTxnRequest,
    ) -> AddPartitionsToTxnResponse {
        let mut resp =
            AddPartitionsToTxnResponse::default().with_throttle_time_ms(self.faults.throttle_ms);
        let injected = self
            .faults
            .take(ApiKey::AddPartitionsToTxn, ctx.broker, None, None);
        if ctx.version <= 3 {
            let topics = &req.v3_and_below_topics;
            resp.results_by_topic_v3_and_below = match injected {
                Some(code) => uniform_add_results(topics, code),
                None => self.add_partitions_for(
                    ctx,
                    &req.v3_and_below_transactional_id,
                    req.v3_and_below_producer_id,
                    req.v3_and_below_producer_epoch,
                    topics,
                    false,
                ),
            };
            return resp;
        }
        // v4+: batched, sent by brokers (verify-only) or admin tools.
        if let Some(code) = injected {
            resp.error_code = code.code();
            return resp;
        }
        for tx in &req.transactions {
            let topic_results = self.add_partitions_for(
                ctx,
                &tx.transactional_id,
                tx.producer_id,
                tx.producer_epoch,
                &tx.topics,
                tx.verify_only,
            );
            resp.results_by_transaction.push(
                AddPartitionsToTxnResult::default()
                    .with_transactional_id(tx.transactional_id.clone())
                    .with_topic_results(topic_results),
            );
        }
        resp
    }

    fn add_offsets_to_txn(
        &mut self,
        ctx: &Ctx,
        req: &AddOffsetsToTxnRequest,
    ) -> AddOffsetsToTxnResponse {
        let code = if let Some(code) =
            self.faults
                .take(ApiKey::AddOffsetsToTxn, ctx.broker, None, None)
        {
            code
        } else if req.transactional_id.is_empty() {
            ErrorCode::InvalidRequest
        } else if self.coordinator_for(KEY_TRANSACTION, &req.transactional_id) != ctx.broker {
            ErrorCode::NotCoordinator
        } else {
            // An empty group id is taken, as by Kafka's coordinator (it only
            // adds the group's offsets partition); TxnOffsetCommit refuses it.
            match self.txn_add(
                ctx.now,
                &req.transactional_id,
                req.producer_id,
                req.producer_epoch,
                Vec::new(),
                Some(&req.group_id),
                false,
            ) {
                Ok(()) => ErrorCode::None,
                Err(code) => code,
            }
        };
        AddOffsetsToTxnResponse::default()
            .with_throttle_time_ms(self.faults.throttle_ms)
            .with_error_code(fenced_compat(code, ctx.version, 2).code())
    }

    // ---- TxnOffsetCommit ----

    /// Checks a TxnOffsetCommit against the group coordinator placement and
    /// the producer's transaction; v5+ (transaction v2) adds the group to
    /// the transaction itself.
    fn txn_offset_commit_check(
        &mut self,
        ctx: &Ctx,
        req: &TxnOffsetCommitRequest,
    ) -> Result<(), ErrorCode> {
        if let Some(code) = self
            .faults
            .take(ApiKey::TxnOffsetCommit, ctx.broker, None, None)
        {
            return Err(code);
        }
        if req.group_id.is_empty() {
            return Err(ErrorCode::InvalidGroupId);
        }
        if self.coordinator_for(KEY_GROUP, &req.group_id) != ctx.broker {
            return Err(ErrorCode::NotCoordinator);
        }
        if ctx.version >= 3 {
            // v3 carries the member's identity (KIP-447): a zombie from an
            // older generation must not commit offsets.
            self.validate_txn_offset_commit(
                &req.group_id,
                &req.member_id,
                req.group_instance_id.as_deref(),
                req.generation_id_or_member_epoch,
            )?;
        }
        let id = &req.transactional_id;
        let in_txn = self
            .verify_partitions(id, req.producer_id, req.producer_epoch)
            .map(|_| {
                self.txn.txns.get(id).is_some_and(|m| {
                    m.state == TxnState::Ongoing && m.groups.contains(&req.group_id)
                })
            })
            .map_err(verification_error)?;
        if in_txn {
            Ok(())
        } else if ctx.version >= 5 {
            self.txn_add(
                ctx.now,
                id,
                req.producer_id,
                req.producer_epoch,
                Vec::new(),
                Some(&req.group_id),
                true,
            )
            .map_err(verification_error)
        } else if ctx.version >= 4 {
            Err(ErrorCode::TransactionAbortable)
        } else {
            Err(ErrorCode::InvalidTxnState)
        }
    }

    fn txn_offset_commit(
        &mut self,
        ctx: &Ctx,
        req: &TxnOffsetCommitRequest,
    ) -> TxnOffsetCommitResponse {
        let any_known = req.topics.iter().any(|t| {
            t.partitions
                .iter()
                .any(|p| self.partition_exists(&t.name, p.partition_index))
        });
        let top = if any_known {
            self.txn_offset_commit_check(ctx, req)
                .map_err(|code| fenced_compat(code, ctx.version, 2))
        } else {
            Ok(())
        };
        let mut resp =
            TxnOffsetCommitResponse::default().with_throttle_time_ms(self.faults.throttle_ms);
        let mut accepted = Vec::new();
        for t in &req.topics {
            let mut tr = TxnOffsetCommitResponseTopic::default().with_name(t.name.clone());
            for p in &t.partitions {
                let code = if !self.partition_exists(&t.name, p.partition_index) {
                    ErrorCode::UnknownTopicOrPartition
                } else if let Err(code) = top {
                    code
                } else if p
                    .committed_metadata
                    .as_ref()
                    .is_some_and(|m| m.len() > MAX_OFFSET_METADATA)
                {
                    ErrorCode::OffsetMetadataTooLarge
                } else {
                    accepted.push(CommittedOffset {
                        topic: t.name.clone(),
                        partition: p.partition_index,
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: p.committed_metadata.clone(),
                    });
                    ErrorCode::None
                };
                tr.partitions.push(
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code.code()),
                );
            }
            resp.topics.push(tr);
        }
        if !accepted.is_empty() {
            if let Some(meta) = self.txn.txns.get_mut(&req.transactional_id) {
                let pending = meta
                    .pending_offsets
                    .entry(req.group_id.clone())
                    .or_default();
                for o in accepted {
                    pending.insert((o.topic.clone(), o.partition), o);
                }
            }
        }
        resp
    }

    // ---- EndTxn ----

    fn end_txn(&mut self, ctx: &Ctx, req: &EndTxnRequest) -> EndTxnResponse {
        let mut resp = EndTxnResponse::default()
            .with_throttle_time_ms(self.faults.throttle_ms)
            .with_producer_id(NO_PRODUCER_ID)
            .with_producer_epoch(NO_EPOCH);
        match self.end_txn_inner(ctx, req) {
            Ok((pid, epoch)) => {
                if ctx.version >= 5 {
                    resp.producer_id = pid;
                    resp.producer_epoch = epoch;
                }
            }
            Err(code) => resp.error_code = fenced_compat(code, ctx.version, 2).code(),
        }
        resp
    }

    fn end_txn_inner(&mut self, ctx: &Ctx, req: &EndTxnRequest) -> Result<(i64, i16), ErrorCode> {
        if let Some(code) = self.faults.take(ApiKey::EndTxn, ctx.broker, None, None) {
            return Err(code);
        }
        let id = req.transactional_id.as_str();
        if id.is_empty() {
            return Err(ErrorCode::InvalidRequest);
        }
        if self.coordinator_for(KEY_TRANSACTION, id) != ctx.broker {
            return Err(ErrorCode::NotCoordinator);
        }
        let meta = self
            .txn
            .txns
            .get(id)
            .ok_or(ErrorCode::InvalidProducerIdMapping)?;
        let current = (meta.producer_id, meta.epoch);
        let commit = req.committed;
        use TxnState::*;
        if ctx.version < 5 {
            // Transaction v1: exact producer, no epoch bump.
            if meta.producer_id != req.producer_id {
                return Err(ErrorCode::InvalidProducerIdMapping);
            }
            if meta.epoch != req.producer_epoch {
                return Err(ErrorCode::ProducerFenced);
            }
            return match (meta.state, commit) {
                (Ongoing, _) => {
                    self.complete_txn(id, commit, ctx.now, false);
                    Ok(current)
                }
                (CompleteCommit, true) | (CompleteAbort, false) => Ok(current),
                _ => Err(ErrorCode::InvalidTxnState),
            };
        }
        // Transaction v2 (KIP-890): every completion bumps the epoch, and a
        // retry is recognised by the epoch just below the current one.
        let retry_on_overflow = meta.last_producer_id == req.producer_id
            && req.producer_epoch == i16::MAX - 1
            && meta.epoch == 0;
        let retry_on_bump = i32::from(meta.epoch) == i32::from(req.producer_epoch) + 1;
        let valid_epoch = match meta.state {
            Ongoing | Empty => req.producer_epoch == meta.epoch,
            CompleteCommit | CompleteAbort => {
                retry_on_bump || retry_on_overflow || req.producer_epoch == meta.epoch
            }
        };
        let retry = retry_on_bump || retry_on_overflow;
        if meta.producer_id != req.producer_id && !retry_on_overflow {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        if !valid_epoch {
            return Err(ErrorCode::ProducerFenced);
        }
        let complete = match (meta.state, commit) {
            (Ongoing, _) => Some(commit),
            (CompleteCommit, true) | (CompleteAbort, false) if retry => None,
            (CompleteCommit, false) if !retry => Some(false),
            (CompleteAbort, false) | (Empty, false) => Some(false),
            _ => return Err(ErrorCode::InvalidTxnState),
        };
        if let Some(commit) = complete {
            self.complete_txn(id, commit, ctx.now, true);
        }
        let meta = self.txn.txns.get(id).ok_or(ErrorCode::UnknownServerError)?;
        Ok((meta.producer_id, meta.epoch))
    }

    /// Fences the producer of an ongoing transaction (epoch + 1) and aborts
    /// the transaction: what Kafka does on InitProducerId during a
    /// transaction and on transaction timeout.
    fn fence_and_abort(&mut self, id: &str, now: Instant) {
        let Some(meta) = self.txn.txns.get_mut(id) else {
            return;
        };
        if meta.state != TxnState::Ongoing {
            return;
        }
        meta.epoch = meta.epoch.saturating_add(1);
        meta.last_epoch = NO_EPOCH;
        let tv2 = meta.tv2;
        self.complete_txn(id, false, now, tv2);
    }

    /// Ends the transaction of `id`: writes a COMMIT or ABORT marker to each
    /// of its partitions and, on commit, hands its offsets to the groups.
    /// With `bump` (transaction v2) the markers carry the next epoch, which
    /// the producer then uses; an exhausted epoch moves to a new producer id.
    fn complete_txn(&mut self, id: &str, commit: bool, now: Instant, bump: bool) {
        let Some(meta) = self.txn.txns.get(id) else {
            return;
        };
        let rotate = bump && epoch_exhausted(meta.epoch);
        let new_pid = rotate.then(|| self.txn.alloc_producer_id());
        let Some(meta) = self.txn.txns.get_mut(id) else {
            return;
        };
        if bump {
            meta.last_epoch = meta.epoch;
            meta.epoch = meta.epoch.saturating_add(1);
        }
        let (pid, epoch) = (meta.producer_id, meta.epoch);
        let partitions = std::mem::take(&mut meta.partitions);
        let pending = std::mem::take(&mut meta.pending_offsets);
        meta.groups.clear();
        meta.tv2 = false;
        meta.state = if commit {
            TxnState::CompleteCommit
        } else {
            TxnState::CompleteAbort
        };
        if let Some(new_pid) = new_pid {
            meta.last_producer_id = pid;
            meta.producer_id = new_pid;
            meta.epoch = 0;
        }
        tracing::debug!(target: "kafka_mock::txn", transactional_id = %id, commit, producer_id = pid, epoch, partitions = partitions.len(), "transaction completed");
        for (topic, partition) in partitions {
            self.write_marker(&topic, partition, pid, epoch, commit, now);
        }
        if commit {
            for (group, offsets) in pending {
                let offsets: Vec<CommittedOffset> = offsets.into_values().collect();
                #[cfg(test)]
                self.txn
                    .offset_commits
                    .push((group.clone(), offsets.clone()));
                if let Err(code) = self.commit_group_offsets(now, &group, offsets) {
                    tracing::warn!(target: "kafka_mock::txn", %group, ?code, "transactional offsets not stored");
                }
            }
        }
    }

    /// Appends one transaction marker and closes the producer's transaction
    /// in that partition; an abort is recorded for read_committed fetches.
    fn write_marker(
        &mut self,
        topic: &str,
        partition: i32,
        pid: i64,
        epoch: i16,
        commit: bool,
        now: Instant,
    ) {
        let Some(topic_id) = self.topics.get(topic).map(|t| t.id) else {
            return;
        };
        let marker = EndTxnMarker::new(0);
        let record = if commit {
            ControlRecord::Commit(marker)
        } else {
            ControlRecord::Abort(marker)
        };
        let options = BatchOptions {
            producer_id: pid,
            producer_epoch: epoch,
            ..BatchOptions::default()
        };
        let bytes = match encode_control_batch(&options, self.wall_ms(now), &record) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(target: "kafka_mock::txn", error = %e, "transaction marker does not encode");
                return;
            }
        };
        let Some(offset) = self.append_batch(topic, partition, &bytes, None) else {
            return;
        };
        if let Some(log) = self.partition_log_mut(topic, partition) {
            if let Some(i) = log.open_txns.iter().position(|&(p, _)| p == pid) {
                let (_, first_offset) = log.open_txns.remove(i);
                if !commit {
                    log.aborted.push(AbortedTxn {
                        producer_id: pid,
                        first_offset,
                        last_offset: offset,
                    });
                }
            }
        }
        // The marker's epoch becomes the producer's epoch in the partition.
        self.txn
            .partitions
            .entry((topic_id, partition, pid))
            .or_insert_with(|| PartitionProducer {
                epoch,
                batches: VecDeque::new(),
            })
            .set_epoch(epoch);
    }
}

fn uniform_add_results(
    topics: &[AddPartitionsToTxnTopic],
    code: ErrorCode,
) -> Vec<AddPartitionsToTxnTopicResult> {
    topics
        .iter()
        .map(|t| {
            AddPartitionsToTxnTopicResult::default()
                .with_name(t.name.clone())
                .with_results_by_partition(
                    t.partitions
                        .iter()
                        .map(|&p| {
                            AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(p)
                                .with_partition_error_code(code.code())
                        })
                        .collect(),
                )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use kafka_proto::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
    use kafka_proto::messages::txn_offset_commit_request::{
        TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
    };

    use super::*;
    use crate::cluster::{ClusterConfig, ConnId};

    fn ctx(now: Instant, version: i16) -> Ctx {
        Ctx {
            now,
            conn: ConnId(1),
            broker: 0,
            version,
            client_id: None,
        }
    }

    fn respond(cluster: &mut Cluster, ctx: &Ctx, body: RequestBody) -> ResponseBody {
        match dispatch(cluster, ctx, body) {
            Ok(Reply::Respond(r)) => r,
            _ => panic!("no response"),
        }
    }

    fn offset_commit(pid: i64, epoch: i16, offset: i64) -> RequestBody {
        RequestBody::TxnOffsetCommit(
            TxnOffsetCommitRequest::default()
                .with_transactional_id("tx".into())
                .with_group_id("g".into())
                .with_producer_id(pid)
                .with_producer_epoch(epoch)
                .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                    .with_name("t".into())
                    .with_partitions(vec![
                        TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(offset)
                            .with_committed_leader_epoch(3)
                            .with_committed_metadata(Some("m".into())),
                        TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(7)
                            .with_committed_offset(1),
                    ])]),
        )
    }

    fn codes(r: &ResponseBody) -> Vec<i16> {
        let ResponseBody::TxnOffsetCommit(r) = r else {
            panic!("wrong response")
        };
        r.topics[0]
            .partitions
            .iter()
            .map(|p| p.error_code)
            .collect()
    }

    fn end(cluster: &mut Cluster, now: Instant, pid: i64, epoch: i16, commit: bool) -> i16 {
        let body = RequestBody::EndTxn(
            EndTxnRequest::default()
                .with_transactional_id("tx".into())
                .with_producer_id(pid)
                .with_producer_epoch(epoch)
                .with_committed(commit),
        );
        match respond(cluster, &ctx(now, 3), body) {
            ResponseBody::EndTxn(r) => r.error_code,
            _ => panic!("wrong response"),
        }
    }

    #[test]
    fn txn_offsets_are_committed_with_the_transaction_and_dropped_on_abort() {
        let now = Instant::now();
        let mut cluster = Cluster::new(ClusterConfig::default(), now);
        cluster.create_topic("t", 1, 1).unwrap();
        let c = ctx(now, 3);
        let init = InitProducerIdRequest::default()
            .with_transactional_id(Some("tx".into()))
            .with_transaction_timeout_ms(10_000);
        let ResponseBody::InitProducerId(r) = respond(
            &mut cluster,
            &ctx(now, 4),
            RequestBody::InitProducerId(init),
        ) else {
            panic!("wrong response")
        };
        let (pid, epoch) = (r.producer_id, r.producer_epoch);

        // Without AddOffsetsToTxn the group is not in the transaction.
        let r = respond(&mut cluster, &c, offset_commit(pid, epoch, 5));
        assert_eq!(
            codes(&r),
            vec![
                ErrorCode::InvalidTxnState.code(),
                ErrorCode::UnknownTopicOrPartition.code()
            ]
        );
        let add = RequestBody::AddOffsetsToTxn(
            AddOffsetsToTxnRequest::default()
                .with_transactional_id("tx".into())
                .with_producer_id(pid)
                .with_producer_epoch(epoch)
                .with_group_id("g".into()),
        );
        respond(&mut cluster, &c, add.clone());
        // Another epoch is refused (as the broker's transaction check
        // words it, like Kafka 4.4: not PRODUCER_FENCED).
        let r = respond(&mut cluster, &c, offset_commit(pid, epoch + 1, 5));
        assert_eq!(codes(&r)[0], ErrorCode::InvalidProducerEpoch.code());
        let r = respond(&mut cluster, &c, offset_commit(pid, epoch, 5));
        assert_eq!(codes(&r)[0], 0);
        let r = respond(&mut cluster, &c, offset_commit(pid, epoch, 6));
        assert_eq!(codes(&r)[0], 0);
        assert!(cluster.txn.offset_commits.is_empty());

        // Commit: the group gets the last offset per partition.
        assert_eq!(end(&mut cluster, now, pid, epoch, true), 0);
        let expected = CommittedOffset {
            topic: "t".into(),
            partition: 0,
            offset: 6,
            leader_epoch: 3,
            metadata: Some("m".into()),
        };
        assert_eq!(
            cluster.txn.offset_commits,
            vec![("g".to_string(), vec![expected])]
        );

        // Abort: pending offsets are dropped.
        respond(&mut cluster, &c, add);
        let r = respond(&mut cluster, &c, offset_commit(pid, epoch, 9));
        assert_eq!(codes(&r)[0], 0);
        assert_eq!(end(&mut cluster, now, pid, epoch, false), 0);
        assert_eq!(cluster.txn.offset_commits.len(), 1);
        assert!(cluster.txn.txns["tx"].pending_offsets.is_empty());

        // KIP-447: a reader asking for stable offsets waits while a
        // transaction holds one; others read the last committed offset.
        let add = RequestBody::AddOffsetsToTxn(
            AddOffsetsToTxnRequest::default()
                .with_transactional_id("tx".into())
                .with_producer_id(pid)
                .with_producer_epoch(epoch)
                .with_group_id("g".into()),
        );
        respond(&mut cluster, &c, add);
        let r = respond(&mut cluster, &c, offset_commit(pid, epoch, 10));
        assert_eq!(codes(&r)[0], 0);
        let fetch = |cluster: &mut Cluster, stable: bool| {
            use kafka_proto::messages::offset_fetch_request::OffsetFetchRequestTopic;
            let body = RequestBody::OffsetFetch(
                kafka_proto::messages::OffsetFetchRequest::default()
                    .with_group_id("g".into())
                    .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                        .with_name("t".into())
                        .with_partition_indexes(vec![0])]))
                    .with_require_stable(stable),
            );
            match crate::groups::dispatch(cluster, &ctx(now, 7), body) {
                Ok(Reply::Respond(ResponseBody::OffsetFetch(r))) => {
                    let p = &r.topics[0].partitions[0];
                    (p.error_code, p.committed_offset)
                }
                _ => panic!("no OffsetFetch answer"),
            }
        };
        assert_eq!(
            fetch(&mut cluster, true),
            (ErrorCode::UnstableOffsetCommit.code(), -1)
        );
        assert_eq!(fetch(&mut cluster, false), (0, 6));
        assert_eq!(end(&mut cluster, now, pid, epoch, true), 0);
        assert_eq!(fetch(&mut cluster, true), (0, 10));

        // TxnOffsetCommit v5 (transaction v2) adds the group by itself.
        let r = respond(&mut cluster, &ctx(now, 5), offset_commit(pid, epoch, 11));
        assert_eq!(codes(&r)[0], 0);
        assert!(cluster.txn.txns["tx"].groups.contains("g"));
        // Partitions added through v0-3 are in the transaction too.
        let add = RequestBody::AddPartitionsToTxn(
            AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id("tx".into())
                .with_v3_and_below_producer_id(pid)
                .with_v3_and_below_producer_epoch(epoch)
                .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                    .with_name("t".into())
                    .with_partitions(vec![0])]),
        );
        respond(&mut cluster, &c, add);
        assert!(cluster.txn.txns["tx"]
            .partitions
            .contains(&("t".to_string(), 0)));
    }
}
