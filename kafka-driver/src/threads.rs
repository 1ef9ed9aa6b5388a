//! What a thread-based adapter needs beyond the core: delivery reports
//! a sender can block on, and a count of threads it can wait out.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use kafka_state::producer::DeliveryReport;

use crate::batch::BatchReports;
use crate::{BatchSlot, Error};

/// A record on its way: [`Delivery::wait`] returns its report.
#[derive(Debug)]
#[must_use = "a delivery is only known once waited for"]
pub struct Delivery {
    slot: Arc<Slot>,
    timeout: Duration,
}

impl Delivery {
    /// Blocks until the record is acknowledged or failed. Never longer
    /// than the producer's delivery timeout (plus a second).
    pub fn wait(self) -> Result<DeliveryReport, Error> {
        let timeout = self.timeout;
        self.wait_timeout(timeout)
    }

    /// Blocks at most `timeout`; [`Error::Timeout`] if the report has not
    /// come by then (the record may still be delivered).
    pub fn wait_timeout(self, timeout: Duration) -> Result<DeliveryReport, Error> {
        self.slot.wait(timeout)
    }

    /// The report if it has come, without blocking (a later
    /// [`Delivery::wait`] returns it again).
    pub fn try_get(&self) -> Option<Result<DeliveryReport, Error>> {
        self.slot.peek()
    }
}

/// Where one delivery report lands: a lighter one-shot than a channel
/// (one allocation, and no system call unless someone is blocked on it).
#[derive(Debug, Default)]
struct Slot {
    state: Mutex<SlotState>,
    ready: Condvar,
}

#[derive(Debug, Default)]
struct SlotState {
    /// `Some(None)`: the driver dropped the record without a report
    /// (the client is gone).
    /// The error is boxed: [`Error`] is several times the size of a
    /// report, and a slot is held per record in flight.
    result: Option<Option<Result<DeliveryReport, Box<Error>>>>,
    waiting: bool,
}

impl Slot {
    fn put(&self, result: Option<Result<DeliveryReport, Error>>) {
        let waiting = match self.state.lock() {
            Ok(mut s) => {
                s.result.get_or_insert(result.map(|r| r.map_err(Box::new)));
                s.waiting
            }
            Err(_) => return,
        };
        if waiting {
            self.ready.notify_all();
        }
    }

    fn peek(&self) -> Option<Result<DeliveryReport, Error>> {
        let s = self.state.lock().ok()?;
        s.result.as_ref().map(|r| unbox(r.clone()))
    }

    fn wait(&self, timeout: Duration) -> Result<DeliveryReport, Error> {
        let mut s = self.state.lock().map_err(|_| Error::Closed)?;
        let mut deadline = None;
        loop {
            if let Some(r) = s.result.take() {
                return unbox(r);
            }
            let now = Instant::now();
            let deadline = *deadline.get_or_insert(now + timeout);
            let left = deadline.saturating_duration_since(now);
            if left.is_zero() {
                return Err(Error::Timeout);
            }
            s.waiting = true;
            s = self
                .ready
                .wait_timeout(s, left)
                .map_err(|_| Error::Closed)?
                .0;
        }
    }
}

/// A slot's report as the caller sees it.
fn unbox(r: Option<Result<DeliveryReport, Box<Error>>>) -> Result<DeliveryReport, Error> {
    match r {
        Some(report) => report.map_err(|e| *e),
        None => Err(Error::Closed),
    }
}

/// What the driver holds for a record sent on its own: where its report
/// goes. Not a boxed closure: one allocation less per record.
pub struct Delivered(Reporter);

impl crate::Deliver for Delivered {
    fn deliver(self, result: Result<DeliveryReport, Error>) {
        self.0.report(result);
    }
}

/// Records sent together with one call: [`BatchDelivery::wait`] returns
/// their reports in send order once all are in.
#[derive(Debug)]
#[must_use = "a delivery is only known once waited for"]
pub struct BatchDelivery {
    slot: Arc<BatchSlot>,
    timeout: Duration,
}

impl BatchDelivery {
    /// The handle of `slot`; [`BatchDelivery::wait`] waits at most
    /// `timeout`.
    pub fn new(slot: Arc<BatchSlot>, timeout: Duration) -> Self {
        Self { slot, timeout }
    }

    /// Blocks until every record is acknowledged or failed, never longer
    /// than the producer's delivery timeout (plus a second), and returns
    /// each record's report in send order.
    pub fn wait(self) -> Result<BatchReports, Error> {
        let timeout = self.timeout;
        self.wait_timeout(timeout)
    }

    /// Blocks at most `timeout`; [`Error::Timeout`] if some report has
    /// not come by then (the records may still be delivered).
    pub fn wait_timeout(self, timeout: Duration) -> Result<BatchReports, Error> {
        self.slot.wait_timeout(timeout)
    }

    /// Records in the batch.
    pub fn len(&self) -> usize {
        self.slot.len()
    }

    /// Whether the batch has no records.
    pub fn is_empty(&self) -> bool {
        self.slot.is_empty()
    }

    /// Records whose report is in.
    pub fn done(&self) -> usize {
        self.slot.done()
    }
}

/// The driver's end of a [`Slot`]; dropped without a report (the core
/// went away with the record), it tells the waiter the client closed.
struct Reporter(Option<Arc<Slot>>);

impl Reporter {
    fn report(mut self, result: Result<DeliveryReport, Error>) {
        if let Some(slot) = self.0.take() {
            slot.put(Some(result));
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            slot.put(None);
        }
    }
}

/// A delivery slot: the driver's end and the sender's, which waits at
/// most `timeout`.
pub fn delivery_channel(timeout: Duration) -> (Delivered, Delivery) {
    let slot = Arc::new(Slot::default());
    let delivered = Delivered(Reporter(Some(Arc::clone(&slot))));
    (delivered, Delivery { slot, timeout })
}

/// Threads still running of one kind; the driver waits for them to end
/// at shutdown on a condition, not by polling.
#[derive(Debug, Default)]
pub struct Tasks {
    running: Mutex<usize>,
    ended: Condvar,
}

/// Counts a thread out when it ends, however it ends.
pub struct Task(Arc<Tasks>);

impl Tasks {
    /// Counts a thread in; it is counted out when the guard drops.
    pub fn start(self: &Arc<Self>) -> Task {
        *self.running.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        Task(Arc::clone(self))
    }

    /// How many run now.
    pub fn running(&self) -> usize {
        *self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until none runs, at most until `until`.
    pub fn wait(&self, until: Instant) {
        let mut n = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        while *n > 0 {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            n = self
                .ended
                .wait_timeout(n, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        *self
            .0
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner) -= 1;
        self.0.ended.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reports are built by the core only; a distinguishable error
    // stands in for one here.
    fn report(n: i64) -> Result<DeliveryReport, Error> {
        Err(Error::Io(n.to_string()))
    }

    fn number(r: Result<DeliveryReport, Error>) -> String {
        match r {
            Err(Error::Io(n)) => n,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn delivery() -> (Delivery, Reporter) {
        let slot = Arc::new(Slot::default());
        let reporter = Reporter(Some(Arc::clone(&slot)));
        let d = Delivery {
            slot,
            timeout: Duration::from_secs(5),
        };
        (d, reporter)
    }

    #[test]
    fn a_report_from_another_thread_wakes_the_waiter_and_can_be_peeked_first() {
        let (d, reporter) = delivery();
        assert!(d.try_get().is_none());
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            reporter.report(report(7));
        });
        assert_eq!(number(d.slot.wait(Duration::from_secs(5))), "7");
        t.join().unwrap();

        let (d, reporter) = delivery();
        reporter.report(report(8));
        assert_eq!(number(d.try_get().unwrap()), "8");
        assert_eq!(number(d.wait()), "8", "peeking leaves it for wait");
    }

    #[test]
    fn a_dropped_reporter_means_closed_and_silence_means_timeout() {
        let (d, reporter) = delivery();
        drop(reporter);
        assert!(matches!(d.try_get(), Some(Err(Error::Closed))));
        assert!(matches!(d.wait(), Err(Error::Closed)));

        let (d, _reporter) = delivery();
        let started = Instant::now();
        assert!(matches!(
            d.wait_timeout(Duration::from_millis(30)),
            Err(Error::Timeout)
        ));
        assert!(started.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn waiting_for_threads_ends_when_the_last_one_does_or_at_the_deadline() {
        let tasks = Arc::new(Tasks::default());
        let handles: Vec<_> = (0..3u64)
            .map(|i| {
                let task = tasks.start();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(20 * i));
                    drop(task);
                })
            })
            .collect();
        assert!(tasks.running() > 0);
        tasks.wait(Instant::now() + Duration::from_secs(10));
        assert_eq!(tasks.running(), 0);
        for h in handles {
            h.join().unwrap();
        }
        let _stuck = tasks.start();
        let started = Instant::now();
        tasks.wait(started + Duration::from_millis(30));
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert_eq!(tasks.running(), 1);
    }
}
