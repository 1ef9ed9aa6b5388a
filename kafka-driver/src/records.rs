//! What a consumer handle holds between the core and the application:
//! records taken but not yet yielded, the offsets of those yielded, and
//! what to drop when the core moves partitions away.

use std::collections::{HashSet, VecDeque};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use kafka_proto::DecodeError;
use kafka_state::consumer::{ConsumedOffset, IntoRecords, Lent, RecordView};
use kafka_state::{Client, ConsumerRecord, FetchedRecords, TopicPartition};

use crate::calls::{Calls, Deliver, Rebalance};
use crate::Error;

/// Partitions whose position was reset while a pull
/// ([`Calls::pull_records`](crate::Calls::pull_records)) was on its way to the application: what that
/// pull brings for them predates the reset, and adapters drop it.
#[derive(Debug, Default)]
pub enum Stale {
    /// No reset.
    #[default]
    Nothing,
    /// Every partition (the assignment changed).
    All,
    /// These partitions.
    Some(HashSet<TopicPartition>),
}

impl Stale {
    /// Marks `tps`.
    pub fn add(&mut self, tps: &[TopicPartition]) {
        match self {
            Stale::All => {}
            Stale::Nothing => *self = Stale::Some(tps.iter().cloned().collect()),
            Stale::Some(set) => set.extend(tps.iter().cloned()),
        }
    }

    /// Whether records of `tp` are stale.
    pub fn contains(&self, tp: &TopicPartition) -> bool {
        match self {
            Stale::Nothing => false,
            Stale::All => true,
            Stale::Some(set) => set.contains(tp),
        }
    }
}

/// How [`RecordBuffer::lend`] ended.
#[derive(Debug)]
pub enum Lending {
    /// The callback broke.
    Stopped,
    /// Nothing more is buffered, or the buffer must be synced first.
    Empty,
    /// A record failed to decode, after the good ones before it.
    Corrupt(Corrupt),
}

/// A record the application was about to get failed to decode. Taking
/// the records moved the core's position past all of them:
/// [`Corrupt::report`] hands the damage back, and the core puts the
/// position at the bad record, stops the partition and reports it
/// (partition and offset) after the records before it.
#[derive(Debug)]
pub struct Corrupt {
    records: FetchedRecords,
    offset: i64,
    error: DecodeError,
}

impl Corrupt {
    /// Tells the core.
    pub fn report(self, client: &mut Client, now: Instant) {
        // Refused only for an offset outside the records; the iterator's
        // own never is.
        let _ = client
            .consumer()
            .report_corrupt(now, &self.records, self.offset, self.error);
    }
}

/// The records a consumer handle took from the core and has not yielded
/// yet, and the offsets of those it yielded, stored into the core (once
/// per partition per batch, not per record) at the next [`sync`].
///
/// [`sync`]: RecordBuffer::sync
#[derive(Debug)]
pub struct RecordBuffer {
    ready: VecDeque<FetchedRecords>,
    current: Option<IntoRecords>,
    /// The consumed offset after the last record yielded of `current`.
    last: Option<ConsumedOffset>,
    /// Consumed offsets not yet stored in the core.
    yielded: Vec<(TopicPartition, ConsumedOffset)>,
    stale: Stale,
    pulling: bool,
    gone_seq: Arc<AtomicU64>,
    seen: u64,
    /// `enable_auto_offset_store`.
    auto_store: bool,
    /// Assignment changes taken at the last sync, for the listener.
    changes: VecDeque<Rebalance>,
}

impl RecordBuffer {
    /// A buffer for the consumer of `client`; `calls` starts tracking
    /// partitions taken away for it.
    pub fn new<D: Deliver>(client: &Client, calls: &mut Calls<D>) -> Self {
        let auto_store = client.config().consumer.enable_auto_offset_store;
        calls.gone.track(true);
        let gone_seq = Arc::clone(&calls.gone.seq);
        let seen = gone_seq.load(Ordering::Acquire);
        Self {
            ready: VecDeque::new(),
            current: None,
            last: None,
            yielded: Vec::new(),
            stale: Stale::Nothing,
            pulling: false,
            gone_seq,
            seen,
            auto_store,
            changes: VecDeque::new(),
        }
    }

    /// The next record, or `None` when the buffer is empty or must
    /// [`sync`](RecordBuffer::sync) first (partitions were taken away).
    pub fn next_record(&mut self) -> Option<Result<ConsumerRecord, Corrupt>> {
        if self.must_sync() {
            return None;
        }
        loop {
            if let Some(records) = &mut self.current {
                match records.next() {
                    Some(Ok(r)) => {
                        if self.auto_store {
                            self.last = Some(ConsumedOffset::new(
                                r.offset.saturating_add(1),
                                r.leader_epoch,
                            ));
                        }
                        return Some(Ok(r));
                    }
                    Some(Err(error)) => {
                        let (fetched, at) = (records.fetched().clone(), records.resume_offset());
                        return Some(Err(self.corrupt(fetched, at, error)));
                    }
                    None => self.finish_current(),
                }
            }
            let next = self.ready.pop_front()?;
            self.current = Some(next.into_iter());
        }
    }

    /// Lends buffered records to `f` until the buffer is empty (or must
    /// [`sync`](RecordBuffer::sync) first), `f` breaks, or a record fails
    /// to decode; `lent` counts the records lent. Offsets are stored as
    /// [`next_record`](RecordBuffer::next_record) stores them.
    pub fn lend<F>(&mut self, f: &mut F, lent: &mut usize) -> Lending
    where
        F: FnMut(RecordView<'_>) -> ControlFlow<()>,
    {
        if self.must_sync() {
            return Lending::Empty;
        }
        loop {
            if let Some(records) = &mut self.current {
                let mut last = None;
                let end = records.lend(|r| {
                    *lent += 1;
                    last = Some(ConsumedOffset::new(
                        r.offset.saturating_add(1),
                        r.leader_epoch,
                    ));
                    f(r)
                });
                if self.auto_store && last.is_some() {
                    self.last = last;
                }
                match end {
                    Lent::Stopped => return Lending::Stopped,
                    Lent::End => self.finish_current(),
                    Lent::Failed(error) => {
                        let (fetched, at) = (records.fetched().clone(), records.resume_offset());
                        return Lending::Corrupt(self.corrupt(fetched, at, error));
                    }
                }
            }
            let Some(next) = self.ready.pop_front() else {
                return Lending::Empty;
            };
            self.current = Some(next.into_iter());
        }
    }

    /// Ends the current records, `records`, at `offset`, which failed to
    /// decode.
    fn corrupt(&mut self, records: FetchedRecords, offset: i64, error: DecodeError) -> Corrupt {
        self.finish_current();
        // Whatever else was taken of the partition lies past the bad record.
        self.ready.retain(|f| f.partition() != records.partition());
        Corrupt {
            records,
            offset,
            error,
        }
    }

    fn finish_current(&mut self) {
        if let Some(current) = self.current.take() {
            if let Some(last) = self.last.take() {
                let tp = current.fetched().partition().clone();
                self.yielded.push((tp, last));
            }
        }
    }

    /// Partitions were taken away or given since the last sync.
    pub fn must_sync(&self) -> bool {
        self.gone_seq.load(Ordering::Acquire) != self.seen
    }

    /// Whether records are buffered.
    pub fn is_empty(&self) -> bool {
        self.ready.is_empty() && self.current.is_none()
    }

    /// Under the core's lock: stores the consumed offsets of the records
    /// yielded so far and drops buffered records of partitions the core
    /// took away. Adapters run it before each pull and each commit.
    pub fn sync<D: Deliver>(&mut self, client: &mut Client, calls: &mut Calls<D>) {
        self.seen = self.gone_seq.load(Ordering::Acquire);
        let taken = calls.gone.take();
        self.changes.extend(taken.changes);
        if !taken.gone.is_empty() {
            // Their offsets can no longer be stored: the revoke event
            // carried what the core had when they went.
            self.forget(Some(&taken.gone));
        }
        self.store(client);
        if !taken.revoking.is_empty() {
            // Still assigned: what was yielded of them is stored (above),
            // for the application's last commit; the rest is dropped, and
            // their next owner starts where that commit says.
            self.forget(Some(&taken.revoking));
        }
    }

    fn store(&mut self, client: &mut Client) {
        if let Some(current) = &self.current {
            if let Some(last) = self.last.take() {
                self.yielded
                    .push((current.fetched().partition().clone(), last));
            }
        }
        let mut consumer = client.consumer();
        for (tp, at) in self.yielded.drain(..) {
            // Refused only for a partition no longer assigned.
            let _ = consumer.store_offset(&tp, at.offset, at.leader_epoch);
        }
    }

    /// Drops records taken but not yielded for `partitions` (all when
    /// `None`), including those of a pull still on its way. Records of
    /// them yielded so far are forgotten too: they belong to an assignment
    /// or position that no longer holds.
    pub fn forget(&mut self, partitions: Option<&[TopicPartition]>) {
        let hit = |tp: &TopicPartition| partitions.is_none_or(|p| p.contains(tp));
        if self
            .current
            .as_ref()
            .is_some_and(|c| hit(c.fetched().partition()))
        {
            self.current = None;
            self.last = None;
        }
        self.yielded.retain(|(tp, _)| !hit(tp));
        self.ready.retain(|f| !hit(f.partition()));
        if self.pulling {
            match partitions {
                None => self.stale = Stale::All,
                Some(tps) => self.stale.add(tps),
            }
        }
    }

    /// The assignment changes seen at syncs since the last call, oldest
    /// first.
    pub fn take_changes(&mut self) -> VecDeque<Rebalance> {
        std::mem::take(&mut self.changes)
    }

    /// A pull is on its way.
    pub fn pull_started(&mut self) {
        self.pulling = true;
    }

    /// What a pull brought: records are buffered (those of partitions
    /// changed meanwhile are dropped), a problem is handed back.
    pub fn pulled(&mut self, answer: Result<Vec<FetchedRecords>, Error>) -> Result<(), Error> {
        self.pulling = false;
        let stale = std::mem::take(&mut self.stale);
        self.ready.extend(
            answer?
                .into_iter()
                .filter(|f| !stale.contains(f.partition())),
        );
        Ok(())
    }
}
