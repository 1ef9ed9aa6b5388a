//! Delivery reports of records sent together: one shared slot for the
//! whole batch instead of a channel per record. Each record's report
//! lands in its place, in send order, and the waiter (a thread or a task)
//! is woken once, when the last one is in. The driver remembers where the
//! reports go as runs of consecutive delivery ids, not an entry per
//! record.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use kafka_state::producer::{DeliveryId, DeliveryReport, ProducerRecord};

use crate::Error;

/// Records an adapter offers to the core under one hold of its lock
/// before letting the driver in: a long batch must not keep the reports
/// of earlier records (or the writing of their requests) waiting.
pub const BATCH_RUN: usize = 1024;

/// Where the reports of one batch land. Adapters create it with
/// [`BatchSlot::new`], offer each record with its place through
/// [`Calls::offer_part`](crate::Calls::offer_part),
/// [`put`](BatchSlot::put) the outcome of records refused on the spot,
/// and wait with [`wait_timeout`](BatchSlot::wait_timeout) or
/// [`poll`](BatchSlot::poll).
#[derive(Debug)]
pub struct BatchSlot {
    state: Mutex<BatchState>,
    ready: Condvar,
}

#[derive(Debug)]
struct BatchState {
    reports: BatchReports,
    /// Places still without a report.
    left: usize,
    /// A thread blocks in `wait_timeout`.
    waiting: bool,
    /// A task waits in `poll`.
    waker: Option<Waker>,
}

impl BatchSlot {
    /// A slot for `len` records.
    pub fn new(len: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(BatchState {
                reports: BatchReports {
                    topics: Vec::new(),
                    entries: vec![Entry::WAITING; len],
                    errors: Vec::new(),
                },
                left: len,
                waiting: false,
                waker: None,
            }),
            ready: Condvar::new(),
        })
    }

    fn state(&self) -> MutexGuard<'_, BatchState> {
        // Nothing panics while holding it; a poisoned slot is still sound.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts the outcome of the record at `index`; the first one put
    /// stays. An index past the batch is ignored.
    pub fn put(&self, index: usize, result: Result<DeliveryReport, Error>) {
        self.put_many(std::iter::once((index, result)));
    }

    /// Puts the outcomes of several records under one hold of the lock,
    /// as [`put`](Self::put) does each.
    pub(crate) fn put_many(
        &self,
        results: impl Iterator<Item = (usize, Result<DeliveryReport, Error>)>,
    ) {
        self.update(|s| {
            for (index, result) in results {
                if !s.reports.entries.get(index).is_some_and(Entry::waiting) {
                    continue;
                }
                let entry = match result {
                    Ok(r) => Entry {
                        topic: s.reports.topic_index(&r.topic),
                        partition: r.partition,
                        offset: r.offset,
                        timestamp: r.timestamp,
                    },
                    Err(e) => s.reports.push_error(e),
                };
                s.reports.entries[index] = entry;
                s.left -= 1;
            }
        });
    }

    /// Puts reports of written records held by [`Runs`] (their topics
    /// are indexes into `topics`) under one hold of the lock.
    fn put_held(&self, topics: &[Arc<str>], held: impl Iterator<Item = Held>) {
        self.update(|s| {
            // The held topic last seen and its index among the slot's.
            let mut last: Option<(u32, u32)> = None;
            for h in held {
                let topic = match last {
                    Some((from, to)) if from == h.topic => to,
                    _ => {
                        let Some(name) = usize::try_from(h.topic).ok().and_then(|i| topics.get(i))
                        else {
                            continue;
                        };
                        let to = s.reports.topic_index(name);
                        last = Some((h.topic, to));
                        to
                    }
                };
                if let Some(place) = s.reports.entries.get_mut(h.place).filter(|e| e.waiting()) {
                    *place = Entry {
                        topic,
                        partition: h.partition,
                        offset: h.offset,
                        timestamp: h.timestamp,
                    };
                    s.left -= 1;
                }
            }
        });
    }

    /// Runs `f` under the lock, then wakes the waiter if every report is
    /// in.
    fn update(&self, f: impl FnOnce(&mut BatchState)) {
        let (done, waiting, waker) = {
            let mut s = self.state();
            f(&mut s);
            let done = s.left == 0;
            (done, s.waiting, if done { s.waker.take() } else { None })
        };
        if done && waiting {
            self.ready.notify_all();
        }
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Takes the reports once all are in (`left` is 0, so no place is
    /// waiting; one that were would read as [`Error::Closed`]).
    fn take(s: &mut BatchState) -> BatchReports {
        std::mem::take(&mut s.reports)
    }

    /// Blocks until every record of the batch has its report, at most
    /// `timeout` ([`Error::Timeout`] then; the reports keep coming and a
    /// later call can still take them). The reports come in send order,
    /// once: a second call after success returns an empty list.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<BatchReports, Error> {
        let mut s = self.state();
        let mut deadline = None;
        loop {
            if s.left == 0 {
                s.waiting = false;
                return Ok(Self::take(&mut s));
            }
            let now = Instant::now();
            let deadline = *deadline.get_or_insert(now + timeout);
            let left = deadline.saturating_duration_since(now);
            if left.is_zero() {
                s.waiting = false;
                return Err(Error::Timeout);
            }
            s.waiting = true;
            s = self
                .ready
                .wait_timeout(s, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Ready with every report, in send order, once the last one is in.
    pub fn poll(&self, cx: &mut Context<'_>) -> Poll<BatchReports> {
        let mut s = self.state();
        if s.left == 0 {
            return Poll::Ready(Self::take(&mut s));
        }
        match &mut s.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            w => *w = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Gives the error `error` makes to every record of the batch not
    /// offered to the core: `carried` (the one the buffer had no room
    /// for) and `rest`.
    pub fn refuse_rest(
        &self,
        carried: Option<(usize, ProducerRecord)>,
        rest: impl Iterator<Item = (usize, ProducerRecord)>,
        error: impl Fn() -> Error,
    ) {
        let places = carried.into_iter().chain(rest);
        self.put_many(places.map(|(i, _)| (i, Err(error()))));
    }

    /// Records of the batch.
    pub fn len(&self) -> usize {
        self.state().reports.len()
    }

    /// Whether the batch has no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records with their report in.
    pub fn done(&self) -> usize {
        let s = self.state();
        s.reports.len() - s.left
    }
}

/// One record's report in a [`BatchReports`]: 24 bytes, no reference
/// count, whatever the topic.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Index into `topics`, or [`Entry::FAILED`] (then `offset` is the
    /// index into `errors`) or [`Entry::NONE`].
    topic: u32,
    partition: i32,
    offset: i64,
    timestamp: i64,
}

impl Entry {
    const NONE: u32 = u32::MAX;
    const FAILED: u32 = u32::MAX - 1;
    const WAITING: Entry = Entry {
        topic: Self::NONE,
        partition: -1,
        offset: -1,
        timestamp: -1,
    };

    fn waiting(&self) -> bool {
        self.topic == Self::NONE
    }
}

/// The reports of records sent together with `send_many`, in send order:
/// for each record its [`ReportRef`] or the [`Error`] that kept it from
/// being written.
///
/// Kept compact (each topic's name once, no reference count per record)
/// because a batch of small records would otherwise spend a good part of
/// its CPU building and dropping reports. [`BatchReports::iter`] and
/// [`BatchReports::get`] borrow; iterating by value, or
/// [`BatchReports::into_vec`], gives owned [`DeliveryReport`]s.
#[derive(Clone, Default)]
pub struct BatchReports {
    topics: Vec<Arc<str>>,
    entries: Vec<Entry>,
    errors: Vec<Error>,
}

impl BatchReports {
    /// Records in the batch.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the batch had no records.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many records failed.
    pub fn failed(&self) -> usize {
        self.errors.len()
    }

    /// The first failed record in send order, with its place.
    pub fn first_error(&self) -> Option<(usize, &Error)> {
        if self.errors.is_empty() {
            return None;
        }
        self.iter()
            .enumerate()
            .find_map(|(i, r)| r.err().map(|e| (i, e)))
    }

    /// The report of the record at `index`, if the batch has one there.
    pub fn get(&self, index: usize) -> Option<Result<ReportRef<'_>, &Error>> {
        self.entries.get(index).map(|e| self.view(e))
    }

    /// Every record's report, in send order.
    pub fn iter(&self) -> Reports<'_> {
        Reports {
            of: self,
            entries: self.entries.iter(),
        }
    }

    /// Owned reports, in send order.
    pub fn into_vec(self) -> Vec<Result<DeliveryReport, Error>> {
        self.into_iter().collect()
    }

    fn view(&self, e: &Entry) -> Result<ReportRef<'_>, &Error> {
        match self.topics.get(e.topic as usize) {
            Some(topic) => Ok(ReportRef {
                topic,
                partition: e.partition,
                offset: e.offset,
                timestamp: e.timestamp,
            }),
            None => Err(self.error_of(e)),
        }
    }

    fn error_of(&self, e: &Entry) -> &Error {
        usize::try_from(e.offset)
            .ok()
            .and_then(|i| self.errors.get(i))
            .unwrap_or(&Error::Closed)
    }

    /// The index of `topic` in `topics`: a batch names few topics, mostly
    /// one, so a scan beats a map.
    fn topic_index(&mut self, topic: &Arc<str>) -> u32 {
        let found = self
            .topics
            .iter()
            .position(|t| Arc::ptr_eq(t, topic) || **t == **topic);
        let i = found.unwrap_or_else(|| {
            self.topics.push(Arc::clone(topic));
            self.topics.len() - 1
        });
        // Fewer topics than records, and records fit a u32 well before.
        u32::try_from(i).unwrap_or(Entry::NONE)
    }

    fn push_error(&mut self, error: Error) -> Entry {
        self.errors.push(error);
        Entry {
            topic: Entry::FAILED,
            partition: -1,
            offset: (self.errors.len() - 1) as i64,
            timestamp: -1,
        }
    }
}

impl std::fmt::Debug for BatchReports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl IntoIterator for BatchReports {
    type Item = Result<DeliveryReport, Error>;
    type IntoIter = IntoReports;

    fn into_iter(self) -> IntoReports {
        IntoReports {
            topics: self.topics,
            entries: self.entries.into_iter(),
            errors: self.errors.into_iter().map(Some).collect(),
        }
    }
}

impl<'a> IntoIterator for &'a BatchReports {
    type Item = Result<ReportRef<'a>, &'a Error>;
    type IntoIter = Reports<'a>;

    fn into_iter(self) -> Reports<'a> {
        self.iter()
    }
}

/// The borrowed reports of a [`BatchReports`], in send order.
#[derive(Debug, Clone)]
pub struct Reports<'a> {
    of: &'a BatchReports,
    entries: std::slice::Iter<'a, Entry>,
}

impl<'a> Iterator for Reports<'a> {
    type Item = Result<ReportRef<'a>, &'a Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.entries.next().map(|e| self.of.view(e))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl ExactSizeIterator for Reports<'_> {}

/// The owned reports of a [`BatchReports`], in send order.
#[derive(Debug)]
pub struct IntoReports {
    topics: Vec<Arc<str>>,
    entries: std::vec::IntoIter<Entry>,
    errors: Vec<Option<Error>>,
}

impl Iterator for IntoReports {
    type Item = Result<DeliveryReport, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let e = self.entries.next()?;
        Some(match self.topics.get(e.topic as usize) {
            Some(topic) => Ok(DeliveryReport::new(
                Arc::clone(topic),
                e.partition,
                e.offset,
                e.timestamp,
            )),
            None => Err(usize::try_from(e.offset)
                .ok()
                .and_then(|i| self.errors.get_mut(i))
                .and_then(Option::take)
                .unwrap_or(Error::Closed)),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl ExactSizeIterator for IntoReports {}

/// A record's report, borrowed from its [`BatchReports`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportRef<'a> {
    topic: &'a Arc<str>,
    partition: i32,
    offset: i64,
    timestamp: i64,
}

impl ReportRef<'_> {
    /// The topic.
    pub fn topic(&self) -> &str {
        self.topic
    }

    /// The partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The record's offset; -1 with `acks=0`.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The broker's append time if the topic uses `LogAppendTime`, else
    /// the record's create time.
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// The report as an owned [`DeliveryReport`].
    pub fn to_report(&self) -> DeliveryReport {
        DeliveryReport::new(
            Arc::clone(self.topic),
            self.partition,
            self.offset,
            self.timestamp,
        )
    }
}

/// What became of a record offered with its place in a batch
/// ([`Calls::offer_part`](crate::Calls::offer_part)).
#[derive(Debug)]
pub enum PartOffer {
    /// Buffered; its report will land in its place.
    Accepted,
    /// No room yet: the record, to offer again once the producer reports
    /// room.
    Full(Box<ProducerRecord>),
    /// Never sendable (invalid record, closed client).
    Refused(Error),
}

/// Consecutive delivery ids whose reports go to consecutive places of
/// one slot.
#[derive(Debug)]
struct Run {
    first: u64,
    len: u64,
    /// The place of `first`.
    index: usize,
    /// Ids of the run still without a report.
    left: u64,
    slot: Arc<BatchSlot>,
    /// Reports taken for the run's places and not put into its slot yet.
    held: Vec<Held>,
}

/// A written record's report, held until [`Runs::settle`] puts it.
#[derive(Debug, Clone, Copy)]
struct Held {
    /// Its place in the run's slot.
    place: usize,
    /// Index into [`Runs::topics`].
    topic: u32,
    partition: i32,
    offset: i64,
    timestamp: i64,
}

impl Run {
    fn holds(&self, id: DeliveryId) -> bool {
        id.0.checked_sub(self.first).is_some_and(|k| k < self.len)
    }
}

/// Where the reports of records offered with a place go. A batch sent
/// with one call gets consecutive ids from the core (it offers them under
/// one hold of the core's lock), so a run of a thousand records is one
/// entry: no allocation, reference count or map entry per record.
///
/// Reports of written records are held per run over a pass of the core's
/// events and put at its end ([`settle`](Self::settle)), one hold of each
/// slot's lock per pass. Put as each written batch came, keyed records
/// over many partitions took a slot's lock for nearly every record: a
/// batch of one partition holds records of many `send_many` calls.
#[derive(Debug, Default)]
pub(crate) struct Runs {
    runs: VecDeque<Run>,
    live: usize,
    /// The topics of held reports, each once; emptied by `settle`.
    topics: Vec<Arc<str>>,
}

impl Runs {
    /// Remembers that `id`'s report goes to place `index` of `slot`.
    pub(crate) fn insert(&mut self, id: DeliveryId, slot: &Arc<BatchSlot>, index: usize) {
        self.live += 1;
        if let Some(r) = self.runs.back_mut() {
            let extends = r.first.checked_add(r.len) == Some(id.0)
                && usize::try_from(r.len)
                    .ok()
                    .and_then(|len| r.index.checked_add(len))
                    == Some(index)
                && Arc::ptr_eq(&r.slot, slot);
            if extends {
                r.len += 1;
                r.left += 1;
                return;
            }
        }
        self.runs.push_back(Run {
            first: id.0,
            len: 1,
            index,
            left: 1,
            slot: Arc::clone(slot),
            held: Vec::new(),
        });
    }

    /// The position of the run holding `id` if one does, else of the
    /// first run past it (callers check with `holds`). The run at
    /// `hint` and the one after it are tried first: the ids of a written
    /// batch rise, and fall in one run (records sent together) or, with
    /// keyed records over many partitions, mostly in the runs that follow.
    fn locate(&self, id: DeliveryId, hint: usize) -> usize {
        for at in [hint, hint.saturating_add(1)] {
            if self.runs.get(at).is_some_and(|r| r.holds(id)) {
                return at;
            }
        }
        // Runs are in id order: later offers got later ids.
        self.runs
            .partition_point(|r| r.first.saturating_add(r.len) <= id.0)
    }

    /// Where `id`'s report goes, if it has a place, forgetting it. `hint`
    /// is the position of the run found last: the ids of a written batch
    /// mostly fall in one run, which then needs no search.
    pub(crate) fn take(
        &mut self,
        id: DeliveryId,
        hint: &mut usize,
    ) -> Option<(&Arc<BatchSlot>, usize)> {
        let at = self.locate(id, *hint);
        if !self.runs.get(at).is_some_and(|r| r.holds(id)) {
            return None;
        }
        *hint = at;
        let r = &mut self.runs[at];
        let index = r.index + usize::try_from(id.0 - r.first).ok()?;
        r.left = r.left.saturating_sub(1);
        self.live = self.live.saturating_sub(1);
        Some((&r.slot, index))
    }

    /// How many ids from `id` on the run holding `id` covers (0 if no
    /// run does). `hint` as for [`take`](Self::take).
    pub(crate) fn span(&self, id: DeliveryId, hint: &mut usize) -> u64 {
        let at = self.locate(id, *hint);
        match self.runs.get(at).filter(|r| r.holds(id)) {
            Some(r) => {
                *hint = at;
                r.first + r.len - id.0
            }
            None => 0,
        }
    }

    /// Holds the reports (offset and timestamp each) of `len` consecutive
    /// ids from `first`, written to `partition` of `topic`, if one run
    /// holds them all (their places are then consecutive places of one
    /// slot), forgetting the ids: records sent together and written
    /// together cost one lookup, not one each. Returns whether it held
    /// them; they reach their slot at the next [`settle`](Self::settle).
    /// `hint` as for [`take`](Self::take).
    pub(crate) fn hold_range(
        &mut self,
        first: DeliveryId,
        len: u64,
        hint: &mut usize,
        topic: &Arc<str>,
        partition: i32,
        reports: impl Iterator<Item = (i64, i64)>,
    ) -> bool {
        if len == 0 || self.span(first, hint) < len {
            return false;
        }
        let topic = self.topic_index(topic);
        let Some(r) = self.runs.get_mut(*hint) else {
            return false;
        };
        let Some(index) = usize::try_from(first.0 - r.first)
            .ok()
            .and_then(|k| r.index.checked_add(k))
        else {
            return false;
        };
        r.left = r.left.saturating_sub(len);
        self.live = self
            .live
            .saturating_sub(usize::try_from(len).unwrap_or(usize::MAX));
        let places = (index..).zip(reports);
        r.held
            .extend(places.map(|(place, (offset, timestamp))| Held {
                place,
                topic,
                partition,
                offset,
                timestamp,
            }));
        true
    }

    fn topic_index(&mut self, topic: &Arc<str>) -> u32 {
        let at = match self
            .topics
            .iter()
            .rposition(|t| Arc::ptr_eq(t, topic) || **t == **topic)
        {
            Some(at) => at,
            None => {
                self.topics.push(Arc::clone(topic));
                self.topics.len() - 1
            }
        };
        u32::try_from(at).unwrap_or(u32::MAX)
    }

    /// Puts every held report into its slot, under one hold of the slot's
    /// lock per run, and drops the runs every id of which has its report.
    pub(crate) fn settle(&mut self) {
        if !self.topics.is_empty() {
            for r in &mut self.runs {
                if !r.held.is_empty() {
                    // Not kept: a run waits for its reports over many
                    // passes, and its room would stay allocated meanwhile.
                    let held = std::mem::take(&mut r.held);
                    r.slot.put_held(&self.topics, held.into_iter());
                }
            }
            self.topics.clear();
        }
        self.runs.retain(|r| r.left > 0);
    }

    /// Records still waiting for a report.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Gives every place still waiting the error `error` makes.
    pub(crate) fn fail_all(&mut self, error: impl Fn() -> Error) {
        self.settle();
        self.live = 0;
        for r in self.runs.drain(..) {
            let len = usize::try_from(r.len).unwrap_or(usize::MAX);
            // Places already answered keep their report.
            r.slot
                .put_many((r.index..r.index.saturating_add(len)).map(|i| (i, Err(error()))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    fn numbered(n: usize) -> Result<DeliveryReport, Error> {
        Err(Error::Io(n.to_string()))
    }

    /// Each record's offset or error text, read both through the
    /// borrowed view and by value (which must agree).
    fn numbers(rs: BatchReports) -> Vec<String> {
        let borrowed: Vec<String> = rs
            .iter()
            .map(|r| match r {
                Ok(report) => report.offset().to_string(),
                Err(Error::Io(n)) => n.clone(),
                Err(Error::Closed) => "closed".into(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        let owned: Vec<String> = rs
            .into_iter()
            .map(|r| match r {
                Ok(report) => report.offset.to_string(),
                Err(Error::Io(n)) => n,
                Err(Error::Closed) => "closed".into(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(borrowed, owned);
        owned
    }

    #[test]
    fn reports_out_of_order_come_back_in_send_order_once_all_are_in() {
        let slot = BatchSlot::new(3);
        slot.put(2, numbered(2));
        slot.put(0, numbered(0));
        assert_eq!(slot.done(), 2);
        assert!(matches!(
            slot.wait_timeout(Duration::from_millis(20)),
            Err(Error::Timeout)
        ));
        let other = Arc::clone(&slot);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            other.put(1, numbered(1));
        });
        let got = slot.wait_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(numbers(got), ["0", "1", "2"]);
        t.join().unwrap();
    }

    #[test]
    fn a_second_report_and_a_place_past_the_batch_are_ignored() {
        let slot = BatchSlot::new(2);
        slot.put(1, numbered(1));
        slot.put(1, numbered(9));
        slot.put(7, numbered(7));
        slot.put_many([(0, numbered(0)), (0, numbered(8))].into_iter());
        assert_eq!(
            numbers(slot.wait_timeout(Duration::ZERO).unwrap()),
            ["0", "1"]
        );
        assert!(BatchSlot::new(0)
            .wait_timeout(Duration::ZERO)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn runs_map_consecutive_ids_to_places_and_fail_what_is_left() {
        let a = BatchSlot::new(4);
        let b = BatchSlot::new(1);
        let mut runs = Runs::default();
        for (id, index) in [(10, 0), (11, 1), (12, 2)] {
            runs.insert(DeliveryId(id), &a, index);
        }
        runs.insert(DeliveryId(13), &b, 0);
        // The id follows but the place does not: a run of its own.
        runs.insert(DeliveryId(14), &a, 0);
        runs.insert(DeliveryId(16), &a, 3);
        assert_eq!(runs.runs.len(), 4);
        assert_eq!(runs.len(), 6);

        let mut hint = 0;
        let topic: Arc<str> = Arc::from("t");
        let one = |id: u64| std::iter::once((id as i64, -1));
        for id in [12, 10, 13] {
            assert!(runs.hold_range(DeliveryId(id), 1, &mut hint, &topic, 0, one(id)));
        }
        assert_eq!((a.done(), b.done()), (0, 0), "held until settled");
        runs.settle();
        assert_eq!((a.done(), b.done()), (2, 1));
        assert_eq!(numbers(b.wait_timeout(Duration::ZERO).unwrap()), ["13"]);
        assert!(
            runs.take(DeliveryId(15), &mut hint).is_none(),
            "never offered"
        );
        assert!(runs.take(DeliveryId(9), &mut hint).is_none());
        assert_eq!(runs.runs.len(), 3, "b's run is done");
        assert_eq!(runs.len(), 3);

        // Closing puts what is held first, then fails the places still
        // waiting and keeps the others.
        assert!(runs.hold_range(DeliveryId(16), 1, &mut hint, &topic, 0, one(16)));
        runs.fail_all(|| Error::Closed);
        assert_eq!(runs.len(), 0);
        assert_eq!(
            numbers(a.wait_timeout(Duration::ZERO).unwrap()),
            ["10", "closed", "12", "16"]
        );
    }

    /// A range of ids is found in one step only when one run holds all of
    /// it; a range that crosses into another run is left for the lookups
    /// one by one, and nothing of it is forgotten.
    #[test]
    fn a_range_of_ids_resolves_only_within_one_run() {
        let a = BatchSlot::new(6);
        let b = BatchSlot::new(1);
        let mut runs = Runs::default();
        for i in 0..4 {
            runs.insert(DeliveryId(10 + i), &a, i as usize);
        }
        runs.insert(DeliveryId(14), &b, 0);
        runs.insert(DeliveryId(15), &a, 4);
        let mut hint = 0;
        let t: Arc<str> = Arc::from("t");
        let reports = |n: u64, first: i64| (0..n as i64).map(move |k| (first + k, -1));
        assert!(
            !runs.hold_range(DeliveryId(12), 3, &mut hint, &t, 0, reports(3, 12)),
            "crosses into b"
        );
        assert!(
            !runs.hold_range(DeliveryId(9), 2, &mut hint, &t, 0, reports(2, 9)),
            "starts before"
        );
        assert!(!runs.hold_range(DeliveryId(10), 0, &mut hint, &t, 0, reports(0, 10)));
        assert_eq!(runs.span(DeliveryId(12), &mut hint), 2);
        assert_eq!(runs.span(DeliveryId(16), &mut hint), 0);
        assert_eq!(runs.len(), 6, "a failed range forgets nothing");
        assert!(runs.hold_range(DeliveryId(11), 3, &mut hint, &t, 0, reports(3, 11)));
        assert_eq!(runs.len(), 3);
        runs.settle();
        assert_eq!(a.done(), 3, "places 1 to 3 of a");
        assert_eq!(runs.runs.len(), 3, "id 10 still waits in a's first run");
        let (slot, index) = runs.take(DeliveryId(10), &mut hint).unwrap();
        assert_eq!((Arc::ptr_eq(slot, &a), index), (true, 0));
        assert!(runs.hold_range(DeliveryId(15), 1, &mut hint, &t, 0, reports(1, 15)));
        runs.settle();
        assert_eq!(a.done(), 4, "place 4 of a");
        assert_eq!((runs.runs.len(), runs.len()), (1, 1));
    }

    /// Whatever run the hint names (the right one, its neighbour, one far
    /// off, or none), an id is found in the run that holds it.
    #[test]
    fn an_id_is_found_whatever_the_hint() {
        let slots: Vec<Arc<BatchSlot>> = (0..4).map(|_| BatchSlot::new(3)).collect();
        let mut runs = Runs::default();
        for (k, slot) in slots.iter().enumerate() {
            for i in 0..3 {
                // A gap of one id between runs.
                runs.insert(DeliveryId(10 + 4 * k as u64 + i), slot, i as usize);
            }
        }
        assert_eq!(runs.runs.len(), 4);
        for id in 8..28u64 {
            let held = (10..26).contains(&id) && (id - 10) % 4 < 3;
            for start in 0..7 {
                let mut hint = start;
                let span = runs.span(DeliveryId(id), &mut hint);
                if held {
                    assert_eq!(span, 3 - (id - 10) % 4, "id {id} from hint {start}");
                    assert_eq!(hint, ((id - 10) / 4) as usize);
                } else {
                    assert_eq!(span, 0, "id {id} is in no run");
                    assert_eq!(hint, start, "a miss leaves the hint");
                }
            }
        }
    }

    /// Reports of several topics and errors keep their places, whether
    /// read by reference, by place or by value; each topic's name is kept
    /// once.
    #[test]
    fn batch_reports_keep_topics_errors_and_places() {
        let slot = BatchSlot::new(5);
        let orders: Arc<str> = Arc::from("orders");
        let held = |topic: u32, partition: i32, places: &[(usize, i64, i64)]| {
            places
                .iter()
                .map(move |&(place, offset, timestamp)| Held {
                    place,
                    topic,
                    partition,
                    offset,
                    timestamp,
                })
                .collect::<Vec<_>>()
        };
        let topics = [Arc::clone(&orders), Arc::from("orders")];
        slot.put_held(&topics, held(0, 2, &[(0, 40, 7), (3, 41, 8)]).into_iter());
        slot.put(1, Ok(DeliveryReport::new("audit", 0, 9, 5)));
        slot.put(4, Err(Error::Io("bad".into())));
        // A second report for a place is ignored, as is a place past the
        // end; the same name as another Arc is the same topic.
        slot.put(0, Err(Error::Closed));
        slot.put_held(&topics, held(1, 1, &[(2, 1, 1), (9, 0, 0)]).into_iter());
        assert_eq!(slot.done(), 5);
        let reports = slot.wait_timeout(Duration::ZERO).unwrap();
        assert_eq!(reports.topics.len(), 2);
        assert_eq!((reports.len(), reports.failed()), (5, 1));
        assert!(matches!(reports.first_error(), Some((4, Error::Io(m))) if m == "bad"));
        let first = reports.get(0).unwrap().unwrap();
        assert_eq!(
            (
                first.topic(),
                first.partition(),
                first.offset(),
                first.timestamp()
            ),
            ("orders", 2, 40, 7)
        );
        assert_eq!(first.to_report(), DeliveryReport::new("orders", 2, 40, 7));
        assert_eq!(reports.get(1).unwrap().unwrap().topic(), "audit");
        assert_eq!(reports.get(2).unwrap().unwrap().partition(), 1);
        assert!(reports.get(5).is_none());
        let owned = reports.into_vec();
        assert_eq!(
            owned[3].as_ref().unwrap(),
            &DeliveryReport::new("orders", 2, 41, 8)
        );
        assert!(matches!(&owned[4], Err(Error::Io(m)) if m == "bad"));
        assert!(
            slot.wait_timeout(Duration::ZERO).unwrap().is_empty(),
            "taken once"
        );
    }

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_task_is_woken_once_by_the_last_report() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        let slot = BatchSlot::new(2);
        assert!(slot.poll(&mut cx).is_pending());
        slot.put(0, numbered(0));
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            0,
            "not woken for one of two"
        );
        slot.put(1, numbered(1));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        match slot.poll(&mut cx) {
            Poll::Ready(rs) => assert_eq!(numbers(rs), ["0", "1"]),
            Poll::Pending => panic!("all reports are in"),
        }
    }
}
