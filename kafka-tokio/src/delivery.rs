//! Delivery reports on their way from the driver to the sender.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::sync::Arc;

use kafka_driver::BatchSlot;
use tokio::sync::oneshot;

use crate::{BatchReports, DeliveryReport, Error};

/// The delivery report of one record, once the broker acknowledged it
/// (or the record failed for good).
#[derive(Debug)]
#[must_use = "a delivery is only known once the future completes"]
pub struct DeliveryFuture {
    rx: oneshot::Receiver<Report>,
}

impl Future for DeliveryFuture {
    type Output = Result<DeliveryReport, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx).poll(cx).map(|r| match r {
            Ok(report) => report.map_err(|e| *e),
            Err(_) => Err(Error::Closed),
        })
    }
}

/// A delivery report as it travels to its future. The error is boxed:
/// [`Error`] is several times the size of a report, and a report is held
/// per record in flight.
type Report = Result<DeliveryReport, Box<Error>>;

/// Where the driver puts the delivery report of a record sent on its
/// own: the sending half of its [`DeliveryFuture`] (no boxed closure per
/// record).
pub(crate) struct Delivered(oneshot::Sender<Report>);

impl kafka_driver::Deliver for Delivered {
    fn deliver(self, result: Result<DeliveryReport, Error>) {
        // The future may have been dropped: nobody to tell.
        let _ = self.0.send(result.map_err(Box::new));
    }
}

/// The delivery reports of records sent with
/// [`Producer::send_many`](crate::Producer::send_many), in send order,
/// once all are in.
#[derive(Debug)]
#[must_use = "a delivery is only known once the future completes"]
pub struct BatchFuture {
    pub(crate) slot: Arc<BatchSlot>,
}

impl BatchFuture {
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

impl Future for BatchFuture {
    type Output = BatchReports;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.slot.poll(cx)
    }
}

/// A delivery slot: the driver's end and the sender's.
pub(crate) fn channel() -> (Delivered, DeliveryFuture) {
    let (tx, rx) = oneshot::channel();
    (Delivered(tx), DeliveryFuture { rx })
}
