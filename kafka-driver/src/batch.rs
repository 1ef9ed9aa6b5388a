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

/// A report as it waits in the slot; the error is boxed because
/// [`Error`] is several times the size of a report.
type Report = Result<DeliveryReport, Box<Error>>;

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
    results: Vec<Option<Report>>,
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
                results: (0..len).map(|_| None).collect(),
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
        let (done, waiting, waker) = {
            let mut s = self.state();
            for (index, result) in results {
                if let Some(place @ None) = s.results.get_mut(index) {
                    *place = Some(result.map_err(Box::new));
                    s.left -= 1;
                }
            }
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

    fn take(s: &mut BatchState) -> Vec<Result<DeliveryReport, Error>> {
        std::mem::take(&mut s.results)
            .into_iter()
            .map(|r| match r {
                Some(report) => report.map_err(|e| *e),
                None => Err(Error::Closed),
            })
            .collect()
    }

    /// Blocks until every record of the batch has its report, at most
    /// `timeout` ([`Error::Timeout`] then; the reports keep coming and a
    /// later call can still take them). The reports come in send order,
    /// once: a second call after success returns an empty list.
    pub fn wait_timeout(
        &self,
        timeout: Duration,
    ) -> Result<Vec<Result<DeliveryReport, Error>>, Error> {
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
    pub fn poll(&self, cx: &mut Context<'_>) -> Poll<Vec<Result<DeliveryReport, Error>>> {
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
        self.state().results.len()
    }

    /// Whether the batch has no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records with their report in.
    pub fn done(&self) -> usize {
        let s = self.state();
        s.results.len() - s.left
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
#[derive(Debug, Default)]
pub(crate) struct Runs {
    runs: VecDeque<Run>,
    live: usize,
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
        });
    }

    /// Where `id`'s report goes, if it has a place, forgetting it. `hint`
    /// is the position of the run found last: the ids of a written batch
    /// mostly fall in one run, which then needs no search.
    pub(crate) fn take(
        &mut self,
        id: DeliveryId,
        hint: &mut usize,
    ) -> Option<(&Arc<BatchSlot>, usize)> {
        let at = if self.runs.get(*hint).is_some_and(|r| r.holds(id)) {
            *hint
        } else {
            // Runs are in id order: later offers got later ids.
            let at = self
                .runs
                .partition_point(|r| r.first.saturating_add(r.len) <= id.0);
            if !self.runs.get(at).is_some_and(|r| r.holds(id)) {
                return None;
            }
            at
        };
        *hint = at;
        let r = &mut self.runs[at];
        let index = r.index + usize::try_from(id.0 - r.first).ok()?;
        r.left = r.left.saturating_sub(1);
        self.live = self.live.saturating_sub(1);
        Some((&r.slot, index))
    }

    /// Drops the runs every id of which has its report.
    pub(crate) fn trim(&mut self) {
        self.runs.retain(|r| r.left > 0);
    }

    /// Records still waiting for a report.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Gives every place still waiting the error `error` makes.
    pub(crate) fn fail_all(&mut self, error: impl Fn() -> Error) {
        self.live = 0;
        for r in self.runs.drain(..) {
            let len = usize::try_from(r.len).unwrap_or(usize::MAX);
            // Places already answered keep their report.
            r.slot
                .put_many((r.index..r.index.saturating_add(len)).map(|i| (i, Err(error()))));
        }
    }
}

/// Reports gathered while the driver walks a written batch, put into
/// their slot under one hold of its lock per run of records that share
/// the slot, instead of one each.
#[derive(Debug, Default)]
pub(crate) struct Gather {
    slot: Option<Arc<BatchSlot>>,
    /// Only reports: a written batch has no errors, and an error would
    /// make each element several times larger.
    reports: Vec<(usize, DeliveryReport)>,
}

impl Gather {
    /// Room for `len` reports up front (a written batch's record count):
    /// the buffer does not regrow while a batch is walked.
    pub(crate) fn with_capacity(len: usize) -> Self {
        Self {
            slot: None,
            reports: Vec::with_capacity(len),
        }
    }

    /// Adds the report for place `index` of `slot`; another slot's report
    /// puts what was gathered for the last one first.
    pub(crate) fn push(&mut self, slot: &Arc<BatchSlot>, index: usize, report: DeliveryReport) {
        if !self.slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, slot)) {
            self.finish();
            self.slot = Some(Arc::clone(slot));
        }
        self.reports.push((index, report));
    }

    /// Puts what was gathered.
    pub(crate) fn finish(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.put_many(self.reports.drain(..).map(|(i, report)| (i, Ok(report))));
        }
    }
}

impl Drop for Gather {
    fn drop(&mut self) {
        self.finish();
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

    /// A report whose offset is `n`.
    fn report(n: u64) -> DeliveryReport {
        DeliveryReport::new("t", 0, n as i64, -1)
    }

    fn numbers(rs: Vec<Result<DeliveryReport, Error>>) -> Vec<String> {
        rs.into_iter()
            .map(|r| match r {
                Ok(report) => report.offset.to_string(),
                Err(Error::Io(n)) => n,
                Err(Error::Closed) => "closed".into(),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
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
        let mut gather = Gather::default();
        for id in [12, 10, 13] {
            let (slot, index) = runs.take(DeliveryId(id), &mut hint).unwrap();
            gather.push(slot, index, report(id));
        }
        assert_eq!(a.done(), 2, "a's run put when b's report came");
        assert_eq!(b.done(), 0);
        gather.finish();
        assert_eq!(numbers(b.wait_timeout(Duration::ZERO).unwrap()), ["13"]);
        assert!(
            runs.take(DeliveryId(15), &mut hint).is_none(),
            "never offered"
        );
        assert!(runs.take(DeliveryId(9), &mut hint).is_none());
        runs.trim();
        assert_eq!(runs.runs.len(), 3, "b's run is done");
        assert_eq!(runs.len(), 3);

        // Closing answers the places still waiting and keeps the others.
        runs.fail_all(|| Error::Closed);
        assert_eq!(runs.len(), 0);
        assert_eq!(
            numbers(a.wait_timeout(Duration::ZERO).unwrap()),
            ["10", "closed", "12", "closed"]
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
