//! Delivery reports of records sent together: one shared slot for the
//! whole batch instead of a channel per record. Each record's report
//! lands in its place, in send order, and the waiter (a thread or a task)
//! is woken once, when the last one is in.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use kafka_state::producer::{DeliveryReport, ProducerRecord};

use crate::{Deliver, Error};

/// Records an adapter offers to the core under one hold of its lock
/// before letting the driver in: a long batch must not keep the reports
/// of earlier records (or the writing of their requests) waiting.
pub const BATCH_RUN: usize = 1024;

/// A report as it waits in the slot; the error is boxed because
/// [`Error`] is several times the size of a report.
type Report = Result<DeliveryReport, Box<Error>>;

/// Where the reports of one batch land. Adapters create it with
/// [`BatchSlot::new`], hand one [`BatchPart`] per accepted record to the
/// core, [`put`](BatchSlot::put) the outcome of records refused on the
/// spot, and wait with [`wait_timeout`](BatchSlot::wait_timeout) or
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

    /// The driver's end for the record at `index`.
    pub fn part(self: &Arc<Self>, index: usize) -> BatchPart {
        BatchPart {
            slot: Some(Arc::clone(self)),
            index,
        }
    }

    /// Puts the outcome of the record at `index`; the first one put
    /// stays. An index past the batch is ignored.
    pub fn put(&self, index: usize, result: Result<DeliveryReport, Error>) {
        let (done, waiting, waker) = {
            let mut s = self.state();
            let Some(place) = s.results.get_mut(index) else {
                return;
            };
            if place.is_some() {
                return;
            }
            *place = Some(result.map_err(Box::new));
            s.left -= 1;
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

    /// Puts the outcomes of several records under one hold of the lock,
    /// as [`put`](Self::put) does each.
    fn put_many(&self, results: impl Iterator<Item = (usize, Result<DeliveryReport, Error>)>) {
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
    /// offered to the core: `carried` (the one the buffer had no room for,
    /// whose reply is answered) and `rest`.
    pub fn refuse_rest<D: Deliver>(
        &self,
        carried: Option<(usize, ProducerRecord, D)>,
        rest: impl Iterator<Item = (usize, ProducerRecord)>,
        error: impl Fn() -> Error,
    ) {
        if let Some((_, _, reply)) = carried {
            reply.deliver(Err(error()));
        }
        for (i, _) in rest {
            self.put(i, Err(error()));
        }
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

/// The driver's end of one record's place in a [`BatchSlot`]; dropped
/// without a report (the core went away with the record), it reports
/// [`Error::Closed`].
#[derive(Debug)]
pub struct BatchPart {
    slot: Option<Arc<BatchSlot>>,
    index: usize,
}

impl BatchPart {
    /// Hands over the record's report.
    pub fn report(mut self, result: Result<DeliveryReport, Error>) {
        if let Some(slot) = self.slot.take() {
            slot.put(self.index, result);
        }
    }
}

/// Reports for places of one [`BatchSlot`] gathered while the driver
/// walks a written batch, so that a run of records sent together costs
/// one hold of their slot's lock instead of one each.
#[derive(Debug, Default)]
pub(crate) struct PartRun {
    slot: Option<Arc<BatchSlot>>,
    results: Vec<(usize, Result<DeliveryReport, Error>)>,
}

impl PartRun {
    /// Adds a record's report; a part of another slot puts the run
    /// gathered so far first.
    pub(crate) fn push(&mut self, mut part: BatchPart, result: Result<DeliveryReport, Error>) {
        let Some(slot) = part.slot.take() else { return };
        match &self.slot {
            Some(current) if Arc::ptr_eq(current, &slot) => {}
            _ => {
                self.finish();
                self.slot = Some(slot);
            }
        }
        self.results.push((part.index, result));
    }

    /// Puts what was gathered.
    pub(crate) fn finish(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.put_many(self.results.drain(..));
        }
    }
}

impl Drop for PartRun {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Drop for BatchPart {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.put(self.index, Err(Error::Closed));
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

    fn numbers(rs: Vec<Result<DeliveryReport, Error>>) -> Vec<String> {
        rs.into_iter()
            .map(|r| match r {
                Err(Error::Io(n)) => n,
                Err(Error::Closed) => "closed".into(),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn reports_out_of_order_come_back_in_send_order_once_all_are_in() {
        let slot = BatchSlot::new(3);
        let parts: Vec<BatchPart> = (0..3).map(|i| slot.part(i)).collect();
        let mut parts = parts.into_iter();
        let (a, b, c) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        c.report(numbered(2));
        a.report(numbered(0));
        assert_eq!(slot.done(), 2);
        assert!(matches!(
            slot.wait_timeout(Duration::from_millis(20)),
            Err(Error::Timeout)
        ));
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            b.report(numbered(1));
        });
        let got = slot.wait_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(numbers(got), ["0", "1", "2"]);
        t.join().unwrap();
    }

    #[test]
    fn a_dropped_part_reports_closed_and_a_second_report_is_ignored() {
        let slot = BatchSlot::new(2);
        drop(slot.part(0));
        slot.put(1, numbered(1));
        slot.put(1, numbered(9));
        slot.put(7, numbered(7));
        assert_eq!(
            numbers(slot.wait_timeout(Duration::ZERO).unwrap()),
            ["closed", "1"]
        );
        assert!(BatchSlot::new(0)
            .wait_timeout(Duration::ZERO)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_run_puts_each_slots_places_under_one_lock_when_the_slot_changes() {
        let a = BatchSlot::new(2);
        let b = BatchSlot::new(1);
        let mut run = PartRun::default();
        run.push(a.part(1), numbered(1));
        run.push(a.part(0), numbered(0));
        assert_eq!(a.done(), 0, "gathered, not yet put");
        run.push(b.part(0), numbered(5));
        assert_eq!(a.done(), 2, "put once another slot's part came");
        assert_eq!(b.done(), 0);
        run.finish();
        assert_eq!(numbers(a.wait_timeout(Duration::ZERO).unwrap()), ["0", "1"]);
        assert_eq!(numbers(b.wait_timeout(Duration::ZERO).unwrap()), ["5"]);
        // A run dropped unfinished still puts what it gathered.
        let c = BatchSlot::new(1);
        let mut run = PartRun::default();
        run.push(c.part(0), numbered(7));
        drop(run);
        assert_eq!(numbers(c.wait_timeout(Duration::ZERO).unwrap()), ["7"]);
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
        slot.part(0).report(numbered(0));
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            0,
            "not woken for one of two"
        );
        slot.part(1).report(numbered(1));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        match slot.poll(&mut cx) {
            Poll::Ready(rs) => assert_eq!(numbers(rs), ["0", "1"]),
            Poll::Pending => panic!("all reports are in"),
        }
    }
}
