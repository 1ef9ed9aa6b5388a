//! The transaction manager of a producer with a `transactional_id`: a
//! sub-machine of its own, beside the producer.
//!
//! The two meet only through a [`TxnLink`] the producer holds, which the
//! client hands to the manager once per round of requests
//! (`Client::txn_cooperate`, as the group member cooperates with the
//! consumer). Through it the producer learns the producer id and epoch,
//! whether a partition's batches may leave (under the first protocol
//! only once AddPartitionsToTxn has put the partition in the
//! transaction), and that an abort drops what it has not sent; the
//! manager learns which partitions wait to be added, that a batch left,
//! which records failed (it classifies them: abortable or fatal), and
//! how many records are pending and batches in flight (a commit waits
//! for every batch; an abort for those sent).
//!
//! Requests go to the transaction coordinator one at a time, in the order
//! the protocol needs them (partitions added before their batches leave,
//! offsets added before they are committed, EndTxn last). The protocol of
//! a transaction is fixed when it begins: transaction v2 (KIP-890) when
//! the cluster has `transaction.version` 2 finalized, which also caps the
//! Produce, TxnOffsetCommit and EndTxn versions below it on every
//! connection (see `versions`). Under v2, Produce and TxnOffsetCommit add
//! their partitions implicitly and every EndTxn hands back the next epoch.
//!
//! Errors fall in three classes. Retriable ones (a moved or loading
//! coordinator, CONCURRENT_TRANSACTIONS, a lost connection) are retried
//! here. Abortable ones (a record failed, a group rebalanced under
//! `send_offsets`, TRANSACTION_ABORTABLE, and under v2 a transaction the
//! coordinator aborted past its timeout, which Kafka then lets the
//! producer's own abort close) leave the transaction able only to abort.
//! Fatal ones (fenced by a newer instance, or under the first protocol by
//! the coordinator aborting a transaction past its timeout; not
//! authorized; an answer that leaves the outcome unknown) stop the
//! producer for good: every later call returns the same error.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use kafka_proto::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_proto::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_proto::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, FindCoordinatorRequest,
    InitProducerIdRequest, TxnOffsetCommitRequest,
};
use kafka_proto::{ApiKey, ErrorCode, RequestBody, ResponseBody};
use tracing::{debug, info, warn};

use crate::error::RequestError;
use crate::group::{GroupMetadata, OffsetAndMetadata};
use crate::machine::{Ctx, SubMachine};
use crate::metadata::MetadataState;
use crate::producer::ProduceError;
use crate::router::{Inbound, Outbound, RequestId, Target};
use crate::timer::{timer_kinds, TimerTable};
use crate::{Event, TopicPartition};

const LOG: &str = "kafka_state::txn";

/// Where a transactional producer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TxnState {
    /// [`Transactions::init`] has not been called.
    Uninitialized,
    /// Getting the producer id and epoch (after `init`, and after an
    /// abort under the first protocol, which takes a new epoch).
    Initializing,
    /// No transaction is open: [`Transactions::begin`] may be called.
    Ready,
    /// A transaction is open: records may be sent.
    InTransaction,
    /// [`Transactions::commit`] is under way.
    Committing,
    /// [`Transactions::abort`] is under way.
    Aborting,
    /// The open transaction failed; only an abort is possible.
    AbortableError,
    /// The producer cannot go on; drop it.
    FatalError,
}

/// What went wrong in a transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxnCause {
    /// A broker answered with this error.
    #[error("broker error {}: {}", .0.name(), .0.description())]
    Broker(ErrorCode),
    /// A record of the transaction was not written.
    #[error("a record of the transaction failed: {0}")]
    Record(ProduceError),
    /// The offsets of a group were refused.
    #[error("offsets of group {group:?} refused: {}", .code.name())]
    Offsets {
        /// The group.
        group: String,
        /// The broker's error.
        code: ErrorCode,
    },
    /// A broker supports no version of an API the transaction needs.
    #[error("the broker supports no usable version of {0}")]
    Unsupported(ApiKey),
    /// The application aborted the transaction before the command ended
    /// (offsets still waiting to be sent are dropped with it).
    #[error("the transaction was aborted first")]
    Aborted,
}

/// A transactional producer's error, classified as applications need it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxnError {
    /// The transaction cannot commit: abort it, then retry it.
    #[error("the transaction must be aborted: {0}")]
    Abortable(TxnCause),
    /// The producer cannot continue (fenced by a newer instance with the
    /// same transactional id, not authorized, or an outcome it cannot
    /// know): drop it. Every later call returns this error.
    #[error("the transactional producer failed for good: {0}")]
    Fatal(TxnCause),
    /// The call does not fit the producer's state (begin twice, commit
    /// without begin, send outside a transaction).
    #[error("{op} is not possible while the producer is {state:?}")]
    InvalidState {
        /// The call.
        op: &'static str,
        /// The state it met.
        state: TxnState,
    },
    /// The producer has no `transactional_id`.
    #[error("no transactional_id is configured")]
    NotTransactional,
    /// An argument is unusable (an empty group id, a negative offset).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The client is closed or failed.
    #[error(transparent)]
    Unusable(crate::error::Misuse),
}

impl TxnError {
    /// Whether the producer must be dropped.
    pub fn is_fatal(&self) -> bool {
        matches!(self, TxnError::Fatal(_))
    }

    /// Whether aborting the transaction makes the producer usable again.
    pub fn is_abortable(&self) -> bool {
        matches!(self, TxnError::Abortable(_))
    }
}

/// A transaction command that ends with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TxnOp {
    /// [`Transactions::init`].
    Init,
    /// [`Transactions::send_offsets`] (answered in call order).
    SendOffsets,
    /// [`Transactions::commit`].
    Commit,
    /// [`Transactions::abort`].
    Abort,
}

/// The outcome of a transaction command, as
/// [`Event::Transaction`](crate::Event::Transaction). Every command in
/// [`TxnOp`] gets exactly one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TxnEvent {
    /// [`Transactions::init`] finished: transactions may begin. Also any
    /// earlier transaction of the same id left open by a previous
    /// instance is now aborted, and that instance fenced.
    Initialized {
        /// The producer id.
        producer_id: i64,
        /// Its epoch.
        epoch: i16,
    },
    /// [`Transactions::send_offsets`] finished: the offsets commit with
    /// the transaction.
    OffsetsSent {
        /// The group.
        group: String,
    },
    /// The transaction committed: its records and offsets are visible.
    Committed,
    /// The transaction aborted: read_committed consumers never see it.
    Aborted,
    /// A command failed; for [`TxnError::Abortable`] abort next.
    Failed {
        /// The command, or `None` for a fatal error met while no command
        /// waited (reported once, so the application learns of it).
        op: Option<TxnOp>,
        /// Why.
        error: TxnError,
    },
}

timer_kinds! {
    /// Timers of a coordinator lookup.
    enum LookupTimer {
        /// A failed lookup may be tried again.
        Find,
        /// The known coordinator has lacked a ready connection for too
        /// long: look it up again (a dead broker's successor is found so).
        Patience,
    }
}

timer_kinds! {
    /// Timers of the transaction manager (its lookups keep their own).
    enum TxnTimer {
        /// A refused or unanswered transaction request may go again.
        Retry,
    }
}

/// Finds a coordinator (transaction or group) and keeps it.
#[derive(Debug)]
struct Lookup {
    key: String,
    /// 0 for a group, 1 for a transactional id.
    key_type: i8,
    node: Option<i32>,
    find: Option<RequestId>,
    timers: TimerTable<LookupTimer>,
}

/// The retry delay of a transaction's first AddPartitionsToTxn refused
/// with CONCURRENT_TRANSACTIONS (as the Java client waits).
const FIRST_ADD_RETRY: Duration = Duration::from_millis(20);

/// How long a known coordinator may lack a connection before it is
/// looked up again.
const COORDINATOR_PATIENCE: Duration = Duration::from_secs(2);

impl Lookup {
    fn new(key: String, key_type: i8) -> Self {
        Self {
            key,
            key_type,
            node: None,
            find: None,
            timers: TimerTable::default(),
        }
    }

    /// The coordinator if it is known and ready; else queues a lookup
    /// (or waits for one).
    fn ready(&mut self, ctx: &mut Ctx<'_>) -> Option<i32> {
        if let Some(node) = self.node {
            if ctx.producer_ready(node) {
                self.timers.stop(LookupTimer::Patience);
                return Some(node);
            }
            if self.timers.get(LookupTimer::Patience).is_none() {
                self.timers
                    .set(LookupTimer::Patience, ctx.now + COORDINATOR_PATIENCE);
            }
            if !self.timers.is_due(LookupTimer::Patience, ctx.now) {
                return None;
            }
            self.lost();
        }
        let waiting = self
            .timers
            .get(LookupTimer::Find)
            .is_some_and(|t| t > ctx.now);
        if self.find.is_none() && !waiting {
            self.timers.stop(LookupTimer::Find);
            let id = ctx.requests.next_id();
            debug!(target: LOG, %id, key = %self.key, key_type = self.key_type, "finding the coordinator");
            self.find = Some(id);
            ctx.requests.push(Outbound {
                id,
                target: Target::Any,
                body: FindCoordinatorRequest::default()
                    .with_key(self.key.clone())
                    .with_key_type(self.key_type)
                    .into(),
                expires: ctx.now + ctx.api_timeout,
            });
        }
        None
    }

    fn lost(&mut self) {
        if let Some(node) = self.node.take() {
            info!(target: LOG, node, key = %self.key, "coordinator lost, finding it again");
        }
        self.timers = TimerTable::default();
    }

    /// Acts on deadlines that passed: what a passed `Find` allows happens
    /// whenever the coordinator is next needed, so it is cleared here and
    /// not reported as pending.
    fn handle_timeout(&mut self, now: Instant) {
        if self.timers.is_due(LookupTimer::Find, now) {
            self.timers.stop(LookupTimer::Find);
        }
        if self.timers.is_due(LookupTimer::Patience, now) {
            self.lost();
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match (self.node, self.find) {
            (Some(_), _) => self.timers.get(LookupTimer::Patience),
            (None, None) => self.timers.get(LookupTimer::Find),
            (None, Some(_)) => None,
        }
    }

    /// Takes a FindCoordinator answer; an error that is not retriable.
    fn handle(
        &mut self,
        ctx: &mut Ctx<'_>,
        result: Result<ResponseBody, RequestError>,
        backoff: Duration,
    ) -> Result<(), ErrorCode> {
        self.find = None;
        let r = match result {
            Ok(ResponseBody::FindCoordinator(r)) => r,
            _ => {
                self.timers.set(LookupTimer::Find, ctx.now + backoff);
                return Ok(());
            }
        };
        let (code, node) = match r.coordinators.iter().find(|c| c.key == self.key) {
            Some(c) => (ErrorCode::from_code(c.error_code), c.node_id),
            None => (ErrorCode::from_code(r.error_code), r.node_id),
        };
        match code {
            ErrorCode::None if node >= 0 => {
                debug!(target: LOG, node, key = %self.key, "found the coordinator");
                self.node = Some(node);
                self.timers.stop(LookupTimer::Patience);
                if ctx.metadata.cache.broker(node).is_none() {
                    ctx.metadata.request_update();
                }
                Ok(())
            }
            ErrorCode::TransactionalIdAuthorizationFailed
            | ErrorCode::GroupAuthorizationFailed
            | ErrorCode::InvalidGroupId
            | ErrorCode::ClusterAuthorizationFailed => Err(code),
            _ => {
                self.timers.set(LookupTimer::Find, ctx.now + backoff);
                Ok(())
            }
        }
    }
}

/// One `send_offsets` waiting its turn.
#[derive(Debug)]
struct OffsetsJob {
    group: GroupMetadata,
    offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
    /// AddOffsetsToTxn answered (or not needed, under v2).
    added: bool,
}

/// What a request in flight was.
#[derive(Debug)]
enum Req {
    FindTxn,
    FindGroup(String),
    Init,
    AddPartitions(BTreeMap<String, BTreeSet<i32>>),
    AddOffsets,
    CommitOffsets,
    End { commit: bool },
}

/// What the application waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    Init,
    /// The epoch bump that ends an abort under the first protocol.
    AbortBump,
}

/// The transaction manager (see the module docs).
#[derive(Debug)]
pub(crate) struct TxnManager {
    id: String,
    timeout_ms: i32,
    backoff: Duration,
    state: TxnState,
    /// The error of `AbortableError` or `FatalError`.
    error: Option<TxnError>,
    coordinator: Lookup,
    groups: BTreeMap<String, Lookup>,
    pid: Option<(i64, i16)>,
    /// The open transaction uses transaction v2.
    v2: bool,
    /// Partitions in the open transaction, by topic.
    added: BTreeMap<String, BTreeSet<i32>>,
    /// Partitions with batches waiting to be added.
    to_add: BTreeMap<String, BTreeSet<i32>>,
    /// Partitions of the AddPartitionsToTxn in flight.
    adding: BTreeMap<String, BTreeSet<i32>>,
    /// Something (a partition, offsets, a v2 batch) joined the
    /// transaction on the broker, so ending it needs EndTxn.
    started: bool,
    /// An add (AddPartitionsToTxn, AddOffsetsToTxn, a v2 TxnOffsetCommit)
    /// went unanswered: the coordinator may have the transaction open, so
    /// an abort still sends EndTxn (left to the coordinator's timeout, the
    /// transaction would fence the producer). INVALID_TXN_STATE to that
    /// abort then means nothing was open.
    maybe_started: bool,
    offsets: VecDeque<OffsetsJob>,
    in_flight: BTreeMap<RequestId, Req>,
    timers: TimerTable<TxnTimer>,
    failures: u32,
    waiting: Option<Waiting>,
    /// The producer's records not yet answered, as of the last
    /// cooperation (only ever more than the truth: no record is sent
    /// while a commit waits for this to reach zero).
    pending: usize,
    /// The producer's batches sent and not answered, likewise (counted
    /// only while aborting, the one state that reads it).
    batches_in_flight: usize,
    /// `added` changed since the link last got it.
    added_changed: bool,
}

/// What the producer and its transaction manager share; the producer
/// holds it, the manager reads and writes it in `TxnManager::cooperate`.
#[derive(Debug)]
pub(crate) struct TxnLink {
    /// Stamped on every Produce request.
    pub(crate) transactional_id: String,
    /// The id and epoch batches are stamped with.
    pub(crate) pid: Option<(i64, i16)>,
    /// A transaction is open (or committing): its batches may leave.
    open: bool,
    /// The open transaction uses transaction v2: every partition may
    /// take batches (Produce adds it).
    v2: bool,
    /// Partitions in the open transaction (first protocol).
    added: BTreeMap<String, BTreeSet<i32>>,
    /// Partitions with a batch held until they are added.
    wanted: BTreeMap<String, BTreeSet<i32>>,
    /// A batch left since the manager last looked.
    sent: bool,
    /// Records that failed since the manager last looked.
    failed: Vec<ProduceError>,
    /// The transaction aborts: the producer drops every batch it has not
    /// sent.
    pub(crate) aborting: bool,
}

impl TxnLink {
    pub(crate) fn new(transactional_id: String) -> Self {
        Self {
            transactional_id,
            pid: None,
            open: false,
            v2: false,
            added: BTreeMap::new(),
            wanted: BTreeMap::new(),
            sent: false,
            failed: Vec::new(),
            aborting: false,
        }
    }

    /// Whether a batch of this partition may leave now.
    pub(crate) fn may_send(&self, topic: &str, partition: i32) -> bool {
        self.open
            && (self.v2
                || self
                    .added
                    .get(topic)
                    .is_some_and(|p| p.contains(&partition)))
    }

    /// A partition has a batch it may not send yet: have it added.
    pub(crate) fn want(&mut self, topic: &str, partition: i32) {
        if !self.open || self.v2 {
            return;
        }
        match self.wanted.get_mut(topic) {
            Some(p) => {
                p.insert(partition);
            }
            None => {
                self.wanted
                    .insert(topic.to_string(), BTreeSet::from([partition]));
            }
        }
    }

    /// A batch of the transaction left.
    pub(crate) fn batch_sent(&mut self) {
        self.sent = true;
    }

    /// A record of the transaction failed: the manager classifies it.
    pub(crate) fn record_failed(&mut self, error: &ProduceError) {
        if !matches!(error, ProduceError::TransactionAborted) {
            self.failed.push(error.clone());
        }
    }
}

/// Errors after which the producer cannot continue.
fn fatal_code(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::ProducerFenced
            | ErrorCode::InvalidProducerEpoch
            | ErrorCode::TransactionalIdAuthorizationFailed
            | ErrorCode::ClusterAuthorizationFailed
            | ErrorCode::InvalidProducerIdMapping
            | ErrorCode::InvalidTransactionTimeout
            | ErrorCode::UnsupportedVersion
            | ErrorCode::UnsupportedForMessageFormat
            | ErrorCode::InvalidTxnState
    )
}

/// Errors that mean the coordinator moved.
fn coordinator_moved(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable
    )
}

/// Errors worth a plain retry after a short backoff.
fn retry_code(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::CoordinatorLoadInProgress
            | ErrorCode::ConcurrentTransactions
            | ErrorCode::UnknownTopicOrPartition
            | ErrorCode::OperationNotAttempted
            | ErrorCode::RequestTimedOut
            | ErrorCode::NetworkException
    )
}

impl TxnManager {
    pub(crate) fn new(id: String, timeout: Duration, backoff: Duration) -> Self {
        let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        Self {
            coordinator: Lookup::new(id.clone(), 1),
            id,
            timeout_ms,
            backoff,
            state: TxnState::Uninitialized,
            error: None,
            groups: BTreeMap::new(),
            pid: None,
            v2: false,
            added: BTreeMap::new(),
            to_add: BTreeMap::new(),
            adding: BTreeMap::new(),
            started: false,
            maybe_started: false,
            offsets: VecDeque::new(),
            in_flight: BTreeMap::new(),
            timers: TimerTable::default(),
            failures: 0,
            waiting: None,
            pending: 0,
            batches_in_flight: 0,
            added_changed: false,
        }
    }

    pub(crate) fn state(&self) -> TxnState {
        self.state
    }

    /// One step with the producer (see the module docs); whether it
    /// changed anything either side acts on.
    pub(crate) fn cooperate(
        &mut self,
        link: &mut TxnLink,
        pending: usize,
        batches_in_flight: usize,
        events: &mut VecDeque<Event>,
    ) -> bool {
        self.pending = pending;
        self.batches_in_flight = batches_in_flight;
        let mut changed = false;
        for error in std::mem::take(&mut link.failed) {
            self.record_failed(&error, events);
            changed = true;
        }
        if std::mem::take(&mut link.sent) {
            self.started = true;
        }
        let open = matches!(self.state, TxnState::InTransaction | TxnState::Committing);
        for (topic, partitions) in std::mem::take(&mut link.wanted) {
            for p in partitions {
                changed |= open && !self.v2 && self.want(&topic, p);
            }
        }
        if self.added_changed {
            self.added_changed = false;
            link.added.clone_from(&self.added);
            changed = true;
        }
        let aborting = self.state == TxnState::Aborting;
        let (before_open, before_aborting, before_pid) = (link.open, link.aborting, link.pid);
        link.open = open;
        link.v2 = self.v2;
        link.aborting = aborting;
        link.pid = self.pid;
        changed || before_open != open || before_aborting != aborting || before_pid != self.pid
    }

    /// Puts a partition in the next AddPartitionsToTxn unless it is in
    /// (or being added); whether it was new.
    fn want(&mut self, topic: &str, partition: i32) -> bool {
        let has = |m: &BTreeMap<String, BTreeSet<i32>>| {
            m.get(topic).is_some_and(|p| p.contains(&partition))
        };
        if has(&self.added) || has(&self.adding) {
            return false;
        }
        self.to_add
            .entry(topic.to_string())
            .or_default()
            .insert(partition)
    }

    pub(crate) fn sticky_error(&self) -> Option<&TxnError> {
        self.error.as_ref().filter(|e| e.is_fatal())
    }

    /// The commands waiting for an event, in the order they are answered.
    fn waiting_ops(&self) -> Vec<TxnOp> {
        let mut ops = vec![TxnOp::SendOffsets; self.offsets.len()];
        match (self.state, self.waiting) {
            (TxnState::Initializing, Some(Waiting::Init)) => ops.push(TxnOp::Init),
            (TxnState::Initializing, Some(_)) | (TxnState::Aborting, _) => ops.push(TxnOp::Abort),
            (TxnState::Committing, _) => ops.push(TxnOp::Commit),
            _ => {}
        }
        ops
    }

    fn fail_fatal(&mut self, cause: TxnCause, events: &mut VecDeque<Event>) {
        if self.state == TxnState::FatalError {
            return;
        }
        let error = TxnError::Fatal(cause);
        warn!(target: LOG, %error, "transactional producer failed");
        let ops = self.waiting_ops();
        if ops.is_empty() {
            events.push_back(Event::Transaction(TxnEvent::Failed {
                op: None,
                error: error.clone(),
            }));
        }
        for op in ops {
            events.push_back(Event::Transaction(TxnEvent::Failed {
                op: Some(op),
                error: error.clone(),
            }));
        }
        self.state = TxnState::FatalError;
        self.error = Some(error);
        self.in_flight.clear();
        self.offsets.clear();
        self.waiting = None;
    }

    /// The open transaction can only abort now. Reported at once to the
    /// commands waiting (a commit, offsets); otherwise at the next call.
    fn fail_abortable(&mut self, cause: TxnCause, events: &mut VecDeque<Event>) {
        match self.state {
            TxnState::InTransaction | TxnState::Committing => {}
            _ => return,
        }
        let error = TxnError::Abortable(cause);
        debug!(target: LOG, %error, "transaction must abort");
        for op in self.waiting_ops() {
            events.push_back(Event::Transaction(TxnEvent::Failed {
                op: Some(op),
                error: error.clone(),
            }));
        }
        self.state = TxnState::AbortableError;
        self.error = Some(error);
        self.offsets.clear();
        self.to_add.clear();
    }

    /// A record of the transaction failed.
    fn record_failed(&mut self, error: &ProduceError, events: &mut VecDeque<Event>) {
        match error.code() {
            Some(
                code @ (ErrorCode::ProducerFenced
                | ErrorCode::TransactionalIdAuthorizationFailed
                | ErrorCode::ClusterAuthorizationFailed),
            ) => self.fail_fatal(TxnCause::Broker(code), events),
            _ => self.fail_abortable(TxnCause::Record(error.clone()), events),
        }
    }

    // ---- commands ------------------------------------------------------

    pub(crate) fn init(&mut self) -> Result<(), TxnError> {
        self.check_fatal()?;
        if self.state == TxnState::Initializing && self.waiting == Some(Waiting::Init) {
            // Called again after the caller gave up waiting: same outcome.
            return Ok(());
        }
        if self.state != TxnState::Uninitialized {
            return Err(self.invalid("init"));
        }
        self.state = TxnState::Initializing;
        self.waiting = Some(Waiting::Init);
        Ok(())
    }

    pub(crate) fn begin(&mut self, transaction_version: Option<i16>) -> Result<(), TxnError> {
        self.check_fatal()?;
        if self.state != TxnState::Ready {
            return Err(self.invalid("begin"));
        }
        self.v2 = transaction_version.unwrap_or(0) >= 2;
        debug!(target: LOG, v2 = self.v2, "transaction begins");
        self.state = TxnState::InTransaction;
        self.started = false;
        self.maybe_started = false;
        self.added.clear();
        self.added_changed = true;
        self.to_add.clear();
        Ok(())
    }

    pub(crate) fn check_send(&self) -> Result<(), TxnError> {
        self.check_fatal()?;
        match self.state {
            TxnState::InTransaction => Ok(()),
            TxnState::AbortableError => Err(self.error.clone().unwrap_or(self.invalid("send"))),
            _ => Err(self.invalid("send")),
        }
    }

    pub(crate) fn send_offsets(
        &mut self,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
        group: GroupMetadata,
    ) -> Result<(), TxnError> {
        self.check_send()?;
        if group.group_id.is_empty() {
            return Err(TxnError::InvalidArgument("empty group id".into()));
        }
        if let Some((tp, o)) = offsets.iter().find(|(_, o)| o.offset < 0) {
            return Err(TxnError::InvalidArgument(format!(
                "negative offset {} for {tp}",
                o.offset
            )));
        }
        self.groups
            .entry(group.group_id.clone())
            .or_insert_with(|| Lookup::new(group.group_id.clone(), 0));
        self.offsets.push_back(OffsetsJob {
            group,
            offsets,
            added: self.v2,
        });
        Ok(())
    }

    pub(crate) fn commit(&mut self) -> Result<(), TxnError> {
        self.check_fatal()?;
        match self.state {
            TxnState::InTransaction => {
                self.state = TxnState::Committing;
                Ok(())
            }
            // Called again after the caller gave up waiting: same outcome.
            TxnState::Committing => Ok(()),
            TxnState::AbortableError => Err(self.error.clone().unwrap_or(self.invalid("commit"))),
            _ => Err(self.invalid("commit")),
        }
    }

    /// Starts an abort; the producer drops what it has not sent, and
    /// answers the `send_offsets` still waiting.
    pub(crate) fn abort(&mut self, events: &mut VecDeque<Event>) -> Result<(), TxnError> {
        self.check_fatal()?;
        match self.state {
            TxnState::InTransaction | TxnState::AbortableError => {
                self.state = TxnState::Aborting;
                self.error = None;
                self.to_add.clear();
                for _ in self.offsets.drain(..) {
                    events.push_back(Event::Transaction(TxnEvent::Failed {
                        op: Some(TxnOp::SendOffsets),
                        error: TxnError::Abortable(TxnCause::Aborted),
                    }));
                }
                Ok(())
            }
            TxnState::Aborting => Ok(()),
            TxnState::Initializing if self.waiting == Some(Waiting::AbortBump) => Ok(()),
            _ => Err(self.invalid("abort")),
        }
    }

    fn check_fatal(&self) -> Result<(), TxnError> {
        match self.sticky_error() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn invalid(&self, op: &'static str) -> TxnError {
        TxnError::InvalidState {
            op,
            state: self.state,
        }
    }

    // ---- time ------------------------------------------------------------

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let idle = matches!(
            self.state,
            TxnState::Uninitialized | TxnState::Ready | TxnState::FatalError
        ) && self.in_flight.is_empty();
        if idle {
            return None;
        }
        let mut next = self.timers.next();
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        consider(self.coordinator.poll_timeout());
        for g in self.groups.values() {
            consider(g.poll_timeout());
        }
        next
    }

    fn retry_later(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        let exp = self.failures.saturating_sub(1).min(4);
        self.timers
            .set(TxnTimer::Retry, now + self.backoff.saturating_mul(1 << exp));
    }

    fn push(&mut self, ctx: &mut Ctx<'_>, node: i32, req: Req, body: RequestBody) {
        let id = ctx.requests.next_id();
        debug!(target: LOG, %id, node, api = %body.api_key(), "transaction request");
        self.in_flight.insert(id, req);
        ctx.requests.push(Outbound {
            id,
            target: Target::Producer(node),
            body,
            expires: ctx.now + ctx.api_timeout,
        });
    }

    fn lookups_in_flight(&mut self) {
        // A lookup queued by `Lookup::ready` is tracked here so its answer
        // finds the right lookup.
        if let Some(id) = self.coordinator.find {
            self.in_flight.entry(id).or_insert(Req::FindTxn);
        }
        for (group, l) in &self.groups {
            if let Some(id) = l.find {
                self.in_flight
                    .entry(id)
                    .or_insert_with(|| Req::FindGroup(group.clone()));
            }
        }
    }

    /// Whether a request other than a lookup is in flight.
    fn busy(&self) -> bool {
        self.in_flight
            .values()
            .any(|r| !matches!(r, Req::FindTxn | Req::FindGroup(_)))
    }
}

impl TxnManager {
    /// Queues the one transaction request that is due.
    fn poll_requests(&mut self, ctx: &mut Ctx<'_>) {
        let (in_flight_batches, pending) = (self.batches_in_flight, self.pending);
        let txn = self;
        let now = ctx.now;
        txn.handle_timeout(now);
        if txn.busy() || txn.timers.get(TxnTimer::Retry).is_some() {
            return;
        }
        let needs_coordinator = match txn.state {
            TxnState::Initializing => true,
            TxnState::InTransaction | TxnState::Committing => {
                !txn.to_add.is_empty()
                    || !txn.offsets.is_empty()
                    || txn.state == TxnState::Committing
            }
            TxnState::Aborting => true,
            _ => false,
        };
        if !needs_coordinator {
            return;
        }
        let offsets_node = match txn.offsets.front() {
            Some(job) if job.added => {
                let group = job.group.group_id.clone();
                let node = txn.groups.get_mut(&group).and_then(|l| l.ready(ctx));
                txn.lookups_in_flight();
                Some(node)
            }
            _ => None,
        };
        // Offsets waiting for their group's coordinator do not hold up the
        // partitions, which need the transaction coordinator.
        let node = txn.coordinator.ready(ctx);
        txn.lookups_in_flight();
        let (id, timeout_ms) = (txn.id.clone(), txn.timeout_ms);
        match txn.state {
            TxnState::Initializing => {
                let Some(node) = node else { return };
                let (pid, epoch) = match txn.waiting {
                    // KIP-360: naming the current id and epoch bumps it
                    // without fencing ourselves.
                    Some(Waiting::AbortBump) => txn.pid.unwrap_or((-1, -1)),
                    _ => (-1, -1),
                };
                let body = InitProducerIdRequest::default()
                    .with_transactional_id(Some(id))
                    .with_transaction_timeout_ms(timeout_ms)
                    .with_producer_id(pid)
                    .with_producer_epoch(epoch);
                txn.push(ctx, node, Req::Init, body.into());
            }
            TxnState::InTransaction | TxnState::Committing => {
                let Some((pid, epoch)) = txn.pid else { return };
                if !txn.to_add.is_empty() {
                    let Some(node) = node else { return };
                    let partitions = std::mem::take(&mut txn.to_add);
                    txn.adding = partitions.clone();
                    let topics = partitions
                        .iter()
                        .map(|(t, ps)| {
                            AddPartitionsToTxnTopic::default()
                                .with_name(t.clone())
                                .with_partitions(ps.iter().copied().collect())
                        })
                        .collect();
                    let body = AddPartitionsToTxnRequest::default()
                        .with_v3_and_below_transactional_id(id)
                        .with_v3_and_below_producer_id(pid)
                        .with_v3_and_below_producer_epoch(epoch)
                        .with_v3_and_below_topics(topics);
                    txn.push(ctx, node, Req::AddPartitions(partitions), body.into());
                    return;
                }
                if let Some(job) = txn.offsets.front() {
                    if !job.added {
                        let Some(node) = node else { return };
                        let body = AddOffsetsToTxnRequest::default()
                            .with_transactional_id(id)
                            .with_producer_id(pid)
                            .with_producer_epoch(epoch)
                            .with_group_id(job.group.group_id.clone());
                        txn.push(ctx, node, Req::AddOffsets, body.into());
                        return;
                    }
                    let Some(Some(group_node)) = offsets_node else {
                        return;
                    };
                    let body = txn_offset_commit(&id, pid, epoch, job, &ctx.metadata.cache);
                    txn.push(ctx, group_node, Req::CommitOffsets, body.into());
                    return;
                }
                if txn.state == TxnState::Committing && pending == 0 {
                    if !txn.started {
                        txn.finish(true, ctx.events);
                        return;
                    }
                    let Some(node) = node else { return };
                    let body = end_txn(&id, pid, epoch, true);
                    txn.push(ctx, node, Req::End { commit: true }, body.into());
                }
            }
            TxnState::Aborting => {
                // Batches already sent must be answered first: one landing
                // after the abort marker would reopen the transaction.
                if in_flight_batches > 0 {
                    return;
                }
                if !txn.started && !txn.maybe_started {
                    txn.finish(false, ctx.events);
                    return;
                }
                let Some((pid, epoch)) = txn.pid else { return };
                let Some(node) = node else { return };
                let body = end_txn(&id, pid, epoch, false);
                txn.push(ctx, node, Req::End { commit: false }, body.into());
            }
            _ => {}
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.timers.is_due(TxnTimer::Retry, now) {
            self.timers.stop(TxnTimer::Retry);
        }
        self.coordinator.handle_timeout(now);
        for l in self.groups.values_mut() {
            l.handle_timeout(now);
        }
    }
}

/// A client without a `transactional_id` has no manager: `None` does
/// nothing.
impl SubMachine for Option<TxnManager> {
    fn poll_requests(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(m) = self {
            m.poll_requests(ctx);
        }
    }

    fn handle_response(&mut self, ctx: &mut Ctx<'_>, inbound: Inbound) {
        let Some(m) = self else { return };
        if let Some(req) = m.in_flight.remove(&inbound.id) {
            m.handle(ctx, req, inbound.result);
        }
    }

    fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(m) = self {
            m.handle_timeout(ctx.now);
        }
    }

    fn poll_timeout(&self, _now: Instant, _metadata: &MetadataState) -> Option<Instant> {
        self.as_ref().and_then(TxnManager::poll_timeout)
    }
}

fn end_txn(id: &str, pid: i64, epoch: i16, commit: bool) -> EndTxnRequest {
    EndTxnRequest::default()
        .with_transactional_id(id.to_string())
        .with_producer_id(pid)
        .with_producer_epoch(epoch)
        .with_committed(commit)
}

fn txn_offset_commit(
    id: &str,
    pid: i64,
    epoch: i16,
    job: &OffsetsJob,
    cache: &crate::metadata::ClusterMetadata,
) -> TxnOffsetCommitRequest {
    let mut topics: Vec<TxnOffsetCommitRequestTopic> = Vec::new();
    for (tp, o) in &job.offsets {
        let p = TxnOffsetCommitRequestPartition::default()
            .with_partition_index(tp.partition)
            .with_committed_offset(o.offset)
            .with_committed_leader_epoch(o.leader_epoch.unwrap_or(-1))
            .with_committed_metadata(o.metadata.clone());
        match topics.last_mut() {
            Some(t) if t.name == tp.topic => t.partitions.push(p),
            _ => topics.push(
                TxnOffsetCommitRequestTopic::default()
                    .with_name(tp.topic.clone())
                    .with_topic_id(cache.topic(&tp.topic).map(|m| m.id).unwrap_or_default())
                    .with_partitions(vec![p]),
            ),
        }
    }
    let g = &job.group;
    TxnOffsetCommitRequest::default()
        .with_transactional_id(id.to_string())
        .with_group_id(g.group_id.clone())
        .with_producer_id(pid)
        .with_producer_epoch(epoch)
        .with_generation_id_or_member_epoch(g.generation_id)
        .with_member_id(g.member_id.clone())
        .with_group_instance_id(g.group_instance_id.clone())
        .with_topics(topics)
}

impl TxnManager {
    /// The end of a commit or an abort.
    fn finish(&mut self, commit: bool, events: &mut VecDeque<Event>) {
        self.added.clear();
        self.added_changed = true;
        self.to_add.clear();
        self.offsets.clear();
        self.failures = 0;
        self.maybe_started = false;
        if !commit && self.started && !self.v2 {
            // Batches of an aborted transaction may have left gaps in the
            // sequences: the next transaction starts them over under a
            // new epoch (KIP-360), which a first-protocol EndTxn does not
            // give.
            self.state = TxnState::Initializing;
            self.waiting = Some(Waiting::AbortBump);
            return;
        }
        self.started = false;
        self.state = TxnState::Ready;
        let event = if commit {
            TxnEvent::Committed
        } else {
            TxnEvent::Aborted
        };
        info!(target: LOG, ?event, "transaction ended");
        events.push_back(Event::Transaction(event));
    }

    fn handle(&mut self, ctx: &mut Ctx<'_>, req: Req, result: Result<ResponseBody, RequestError>) {
        let now = ctx.now;
        if self.state == TxnState::FatalError {
            return;
        }
        if let Err(RequestError::Closed) = result {
            return;
        }
        if let Err(RequestError::Unsupported(e)) = &result {
            let api = e.api;
            self.fail_fatal(TxnCause::Unsupported(api), ctx.events);
            return;
        }
        match req {
            Req::FindTxn => {
                if let Err(code) = self.coordinator.handle(ctx, result, self.backoff) {
                    self.fail_fatal(TxnCause::Broker(code), ctx.events);
                }
            }
            Req::FindGroup(group) => {
                let backoff = self.backoff;
                let outcome = match self.groups.get_mut(&group) {
                    Some(l) => l.handle(ctx, result, backoff),
                    None => Ok(()),
                };
                if let Err(code) = outcome {
                    self.fail_abortable(TxnCause::Offsets { group, code }, ctx.events);
                }
            }
            Req::Init => self.handle_init(ctx, result),
            Req::AddPartitions(partitions) => self.handle_add_partitions(ctx, partitions, result),
            Req::AddOffsets => {
                let code = match result {
                    Ok(ResponseBody::AddOffsetsToTxn(r)) => ErrorCode::from_code(r.error_code),
                    _ => {
                        self.maybe_started = true;
                        ErrorCode::NetworkException
                    }
                };
                match code {
                    ErrorCode::None => {
                        self.failures = 0;
                        if let Some(job) = self.offsets.front_mut() {
                            job.added = true;
                        }
                        self.started = true;
                    }
                    c if coordinator_moved(c) => {
                        self.coordinator.lost();
                    }
                    c if retry_code(c) => self.retry_later(now),
                    c if fatal_code(c) => self.fail_fatal(TxnCause::Broker(c), ctx.events),
                    c => {
                        let group = self
                            .offsets
                            .front()
                            .map(|j| j.group.group_id.clone())
                            .unwrap_or_default();
                        self.fail_abortable(TxnCause::Offsets { group, code: c }, ctx.events);
                    }
                }
            }
            Req::CommitOffsets => self.handle_commit_offsets(ctx, result),
            Req::End { commit } => self.handle_end(ctx, commit, result),
        }
    }

    fn handle_init(&mut self, ctx: &mut Ctx<'_>, result: Result<ResponseBody, RequestError>) {
        let now = ctx.now;
        let (code, pid, epoch) = match result {
            Ok(ResponseBody::InitProducerId(r)) => (
                ErrorCode::from_code(r.error_code),
                r.producer_id,
                r.producer_epoch,
            ),
            Ok(_) => (ErrorCode::UnknownServerError, -1, -1),
            Err(RequestError::Disconnected { .. }) => {
                self.coordinator.lost();
                return;
            }
            Err(_) => (ErrorCode::RequestTimedOut, -1, -1),
        };
        match code {
            ErrorCode::None => {
                self.failures = 0;
                self.pid = Some((pid, epoch));
                self.state = TxnState::Ready;
                self.started = false;
                let event = match self.waiting.take() {
                    Some(Waiting::Init) | None => TxnEvent::Initialized {
                        producer_id: pid,
                        epoch,
                    },
                    Some(Waiting::AbortBump) => TxnEvent::Aborted,
                };
                info!(target: LOG, producer_id = pid, epoch, "producer id for transactions");
                ctx.events.push_back(Event::Transaction(event));
            }
            c if coordinator_moved(c) => self.coordinator.lost(),
            c if retry_code(c) => self.retry_later(now),
            c => self.fail_fatal(TxnCause::Broker(c), ctx.events),
        }
    }

    fn handle_add_partitions(
        &mut self,
        ctx: &mut Ctx<'_>,
        partitions: BTreeMap<String, BTreeSet<i32>>,
        result: Result<ResponseBody, RequestError>,
    ) {
        let now = ctx.now;
        self.adding.clear();
        let requeue = |this: &mut Self, partitions: BTreeMap<String, BTreeSet<i32>>| {
            for (t, ps) in partitions {
                this.to_add.entry(t).or_default().extend(ps);
            }
        };
        let r = match result {
            Ok(ResponseBody::AddPartitionsToTxn(r)) => r,
            Ok(_) | Err(_) => {
                self.maybe_started = true;
                if let Err(RequestError::Disconnected { .. }) = result {
                    self.coordinator.lost();
                } else {
                    self.retry_later(now);
                }
                requeue(self, partitions);
                return;
            }
        };
        let mut worst = ErrorCode::None;
        let mut again: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
        let top = ErrorCode::from_code(r.error_code);
        for (topic, ps) in partitions {
            for p in ps {
                let code = if top != ErrorCode::None {
                    top
                } else {
                    r.results_by_topic_v3_and_below
                        .iter()
                        .find(|t| t.name == topic)
                        .and_then(|t| {
                            t.results_by_partition
                                .iter()
                                .find(|x| x.partition_index == p)
                        })
                        .map_or(ErrorCode::UnknownServerError, |x| {
                            ErrorCode::from_code(x.partition_error_code)
                        })
                };
                if code == ErrorCode::None {
                    self.added.entry(topic.clone()).or_default().insert(p);
                    self.added_changed = true;
                    self.started = true;
                    continue;
                }
                again.entry(topic.clone()).or_default().insert(p);
                // The most serious error decides.
                let rank = |c: ErrorCode| {
                    if fatal_code(c) {
                        3
                    } else if !(coordinator_moved(c) || retry_code(c)) {
                        2
                    } else if coordinator_moved(c) {
                        1
                    } else {
                        0
                    }
                };
                if worst == ErrorCode::None || rank(code) > rank(worst) {
                    worst = code;
                }
            }
        }
        match worst {
            ErrorCode::None => self.failures = 0,
            c if fatal_code(c) => self.fail_fatal(TxnCause::Broker(c), ctx.events),
            c if coordinator_moved(c) => {
                self.coordinator.lost();
                requeue(self, again);
            }
            // The previous transaction's markers are still being written:
            // it ends within milliseconds, so the first add of the next
            // transaction retries soon rather than after the full backoff
            // (which would cost every transaction of a busy producer that
            // much, as it does librdkafka).
            ErrorCode::ConcurrentTransactions if self.added.is_empty() => {
                self.timers
                    .set(TxnTimer::Retry, now + self.backoff.min(FIRST_ADD_RETRY));
                requeue(self, again);
            }
            c if retry_code(c) => {
                self.retry_later(now);
                requeue(self, again);
            }
            c => self.fail_abortable(TxnCause::Broker(c), ctx.events),
        }
    }

    fn handle_commit_offsets(
        &mut self,
        ctx: &mut Ctx<'_>,
        result: Result<ResponseBody, RequestError>,
    ) {
        let now = ctx.now;
        let Some(group) = self.offsets.front().map(|j| j.group.group_id.clone()) else {
            // Aborted meanwhile. Under v2 the request may have opened the
            // transaction on the coordinator: the abort must end it there.
            if self.v2 {
                self.maybe_started = true;
            }
            return;
        };
        let r = match result {
            Ok(ResponseBody::TxnOffsetCommit(r)) => r,
            Ok(_) | Err(_) => {
                // Under v2 it may have added the group to the transaction.
                self.maybe_started |= self.v2;
                if let Some(l) = self.groups.get_mut(&group) {
                    l.lost();
                }
                self.retry_later(now);
                return;
            }
        };
        let worst = r
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| ErrorCode::from_code(p.error_code))
            .find(|c| *c != ErrorCode::None)
            .unwrap_or(ErrorCode::None);
        match worst {
            ErrorCode::None => {
                self.failures = 0;
                self.started = true;
                self.offsets.pop_front();
                ctx.events
                    .push_back(Event::Transaction(TxnEvent::OffsetsSent { group }));
            }
            c if coordinator_moved(c) => {
                if let Some(l) = self.groups.get_mut(&group) {
                    l.lost();
                }
            }
            c if retry_code(c) => self.retry_later(now),
            // Under v2 the coordinator moved past our epoch: it aborted the
            // transaction on its timeout (the abort that follows is then
            // answered as a retry of that one, with the new epoch, and the
            // producer goes on), or a newer instance took the id (the abort
            // is fenced, which is fatal then).
            ErrorCode::InvalidProducerEpoch if self.v2 => self.fail_abortable(
                TxnCause::Broker(ErrorCode::InvalidProducerEpoch),
                ctx.events,
            ),
            c @ (ErrorCode::ProducerFenced
            | ErrorCode::InvalidProducerEpoch
            | ErrorCode::TransactionalIdAuthorizationFailed) => {
                self.fail_fatal(TxnCause::Broker(c), ctx.events)
            }
            // A rebalance or fencing of the group member (UNKNOWN_MEMBER_ID,
            // ILLEGAL_GENERATION, FENCED_INSTANCE_ID): those partitions may
            // be another member's now, so this transaction must not commit.
            c => self.fail_abortable(TxnCause::Offsets { group, code: c }, ctx.events),
        }
    }

    fn handle_end(
        &mut self,
        ctx: &mut Ctx<'_>,
        commit: bool,
        result: Result<ResponseBody, RequestError>,
    ) {
        let now = ctx.now;
        let r = match result {
            Ok(ResponseBody::EndTxn(r)) => r,
            Ok(_) => {
                self.fail_fatal(TxnCause::Broker(ErrorCode::UnknownServerError), ctx.events);
                return;
            }
            // Unanswered: the same EndTxn again is safe (the coordinator
            // recognises the retry).
            Err(RequestError::Disconnected { .. }) => {
                self.coordinator.lost();
                return;
            }
            Err(_) => {
                self.retry_later(now);
                return;
            }
        };
        match ErrorCode::from_code(r.error_code) {
            ErrorCode::None => {
                if self.v2 && r.producer_id >= 0 && r.producer_epoch >= 0 {
                    self.pid = Some((r.producer_id, r.producer_epoch));
                }
                self.finish(commit, ctx.events);
            }
            c if coordinator_moved(c) => self.coordinator.lost(),
            c if retry_code(c) => self.retry_later(now),
            // PRODUCER_FENCED (or INVALID_PRODUCER_EPOCH) falls through to
            // fatal, on an abort too: a newer instance took the id, or,
            // under the first protocol, the coordinator aborted the
            // transaction on its timeout and bumped the epoch, which
            // Kafka's coordinator lets no producer recover from (KIP-588's
            // InitProducerId naming the old epoch is fenced as well:
            // kafka-tokio/tests/kafka_txn_timeout.rs). Asking for the next
            // epoch under the old one would only abort a newer instance's
            // open transaction. Under v2 the timed-out case never gets here:
            // the abort is answered as a retry of the coordinator's.
            // Only unanswered adds, none applied: nothing was open.
            ErrorCode::InvalidTxnState if !commit && !self.started && self.maybe_started => {
                self.finish(false, ctx.events);
            }
            // Under v2 a commit refused so found the transaction aborted
            // (by the coordinator on its timeout): nothing committed, and
            // the abort that follows is answered as a retry of that abort,
            // with the new epoch. (A fenced producer gets PRODUCER_FENCED
            // instead, and a committed transaction takes the retry.)
            ErrorCode::InvalidTxnState if commit && self.v2 => {
                self.fail_abortable(TxnCause::Broker(ErrorCode::InvalidTxnState), ctx.events);
            }
            // TRANSACTION_ABORTABLE on a commit: the application aborts.
            ErrorCode::TransactionAbortable if commit => {
                self.fail_abortable(
                    TxnCause::Broker(ErrorCode::TransactionAbortable),
                    ctx.events,
                );
            }
            // Anything else leaves the outcome unknown: it must not be
            // reported as committed, and nothing after it is safe.
            c => self.fail_fatal(TxnCause::Broker(c), ctx.events),
        }
    }
}

/// Borrowed handle for transactions; see
/// [`Client::transactions`](crate::Client::transactions).
///
/// The order is `init` once, then per transaction `begin`, records sent
/// with [`Producer::send`](crate::producer::Producer::send), optionally
/// `send_offsets`, and `commit` or `abort`. Each command that talks to the
/// coordinator ends with an [`Event::Transaction`]; a command that does
/// not fit the state is refused at once.
///
/// ```
/// use std::time::Instant;
/// use kafka_state::{BrokerAddr, Client, Config};
///
/// let now = Instant::now();
/// let mut config = Config::new([BrokerAddr::new("localhost", 9092)]);
/// config.producer.transactional_id = Some("orders-copier".into());
/// let mut client = Client::new(config, now)?;
/// client.transactions().init(now)?;
/// // ... drive the client until `Event::Transaction(TxnEvent::Initialized { .. })`,
/// // then `begin`, send, and `commit`.
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Transactions<'a> {
    pub(crate) client: &'a mut crate::Client,
}

impl Transactions<'_> {
    fn manager(&mut self, now: Instant) -> Result<&mut TxnManager, TxnError> {
        let client = &mut *self.client;
        client.check_usable().map_err(TxnError::Unusable)?;
        client.tick(now);
        client.txn.as_mut().ok_or(TxnError::NotTransactional)
    }

    /// Gets the producer id for the transactional id, fencing any earlier
    /// instance and aborting a transaction it left open. Ends with
    /// [`TxnEvent::Initialized`] (or [`TxnEvent::Failed`]).
    pub fn init(&mut self, now: Instant) -> Result<(), TxnError> {
        self.manager(now)?.init()?;
        self.client.pump();
        Ok(())
    }

    /// Opens a transaction. Takes effect at once; no event follows.
    pub fn begin(&mut self, now: Instant) -> Result<(), TxnError> {
        let level = self.client.metadata.cache.transaction_version();
        self.manager(now)?.begin(level)
    }

    /// Commits `offsets` of the consumer group described by `group` (from
    /// the consumer's `group_metadata`) with the open transaction, so
    /// that records read and records written commit together. The
    /// coordinator refuses them if the member is no longer in that
    /// generation. Ends with [`TxnEvent::OffsetsSent`] (or
    /// [`TxnEvent::Failed`]); a commit waits for it.
    pub fn send_offsets(
        &mut self,
        now: Instant,
        offsets: impl IntoIterator<Item = (TopicPartition, OffsetAndMetadata)>,
        group: &GroupMetadata,
    ) -> Result<(), TxnError> {
        let offsets: BTreeMap<_, _> = offsets.into_iter().collect();
        if let Some((tp, _)) = offsets.iter().find(|(tp, _)| tp.partition < 0) {
            return Err(TxnError::InvalidArgument(format!(
                "negative partition in {tp}"
            )));
        }
        self.manager(now)?.send_offsets(offsets, group.clone())?;
        self.client.pump();
        Ok(())
    }

    /// Sends every record of the transaction, waits for all of them, then
    /// commits. Ends with [`TxnEvent::Committed`], or [`TxnEvent::Failed`]
    /// with an abortable error (abort next) or a fatal one.
    pub fn commit(&mut self, now: Instant) -> Result<(), TxnError> {
        self.manager(now)?.commit()?;
        self.client.producer.send_all_now();
        self.client.pump();
        Ok(())
    }

    /// Aborts the open transaction: records not sent yet fail with
    /// [`ProduceError::TransactionAborted`], records sent are answered
    /// first, then the coordinator aborts. Ends with [`TxnEvent::Aborted`];
    /// `send_offsets` calls still waiting are answered first, with
    /// [`TxnEvent::Failed`] and [`TxnCause::Aborted`].
    pub fn abort(&mut self, now: Instant) -> Result<(), TxnError> {
        let manager = self.manager(now)?;
        let mut events = VecDeque::new();
        let outcome = manager.abort(&mut events);
        self.client.events.extend(events);
        outcome?;
        self.client.pump();
        Ok(())
    }

    /// Where the producer stands; `None` without a `transactional_id`.
    pub fn state(&self) -> Option<TxnState> {
        self.client.txn.as_ref().map(TxnManager::state)
    }
}
