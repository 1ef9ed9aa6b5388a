//! The producer handle.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use kafka_driver::{wall_clock_ms, Offer};

use crate::driver::Core;
use crate::{Client, DeliveryReport, Error, ProducerRecord};

/// Sends records through the client's driver. Cheap to clone; get one
/// with [`Client::producer`]. Settings live in `config.producer`
/// ([`ProducerConfig`](crate::ProducerConfig)).
#[derive(Clone, Debug)]
pub struct Producer {
    pub(crate) client: Client,
}

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

/// Where the driver puts a record's delivery report: the sending half of
/// its [`DeliveryFuture`] (no boxed closure per record).
pub(crate) struct Delivered(oneshot::Sender<Report>);

impl kafka_driver::Deliver for Delivered {
    fn deliver(self, result: Result<DeliveryReport, Error>) {
        // The future may have been dropped: nobody to tell.
        let _ = self.0.send(result.map_err(Box::new));
    }
}

impl Producer {
    /// Hands `record` to the producer and returns once it is queued,
    /// which waits only while the buffer is full (`buffer_memory`). The
    /// returned future resolves to the delivery report; records sent one
    /// after another are batched and pipelined, so don't await each report
    /// before sending the next record unless you want one round trip per
    /// record. A record that can never be sent (bad topic name, negative
    /// partition, too large) is refused here with
    /// [`Error::InvalidRecord`]. A record without a timestamp gets the
    /// current time.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture, Error> {
        // A send seldom waits, so a task sending in a loop would never
        // yield: on a current-thread runtime the driver would not write a
        // batch until the sender ran out of room. Counting each send
        // against tokio's cooperative budget makes such a task yield every
        // so often (128 sends by default), and sending overlaps writing.
        tokio::task::coop::consume_budget().await;
        // No driver means no deliveries: refuse rather than hold the record.
        if self.client.jobs.is_closed() {
            return Err(Error::Closed);
        }
        let (tx, rx) = oneshot::channel();
        let shared = &self.client.shared;
        // Run here, not queued for the driver: most sends only add the
        // record to an open batch and need no wake-up. The core keeps the
        // buffer's account (and refuses a record that can never go before
        // it looks at room), so nothing is reserved here.
        let offer = |mut record: ProducerRecord, delivered| {
            shared.command(|core, now| {
                let Core {
                    client,
                    calls,
                    wall,
                    ..
                } = core;
                if record.timestamp.is_none() {
                    record.timestamp = Some(wall.millis(now, wall_clock_ms));
                }
                calls.offer(client, now, record, delivered)
            })
        };
        let mut result = offer(record, Delivered(tx))?;
        loop {
            match result {
                Offer::Accepted => return Ok(DeliveryFuture { rx }),
                Offer::Refused(e) => return Err(e),
                Offer::Full(record, delivered) => {
                    // Listening for room costs a lock in `Notify`, so only
                    // once the buffer was full, and before offering again:
                    // room freed in between is not missed.
                    let room = shared.ext.room.notified();
                    tokio::pin!(room);
                    room.as_mut().enable();
                    result = match offer(*record, delivered)? {
                        Offer::Full(record, delivered) => {
                            room.await;
                            offer(*record, delivered)?
                        }
                        other => other,
                    };
                }
            }
        }
    }

    /// Sends every record, then waits for all their reports, which come
    /// back in the order of `records`.
    pub async fn send_batch(
        &self,
        records: impl IntoIterator<Item = ProducerRecord>,
    ) -> Vec<Result<DeliveryReport, Error>> {
        let mut futures = Vec::new();
        let mut results = Vec::new();
        for record in records {
            match self.send(record).await {
                Ok(f) => futures.push(Ok(f)),
                Err(e) => futures.push(Err(e)),
            }
        }
        for f in futures {
            results.push(match f {
                Ok(f) => f.await,
                Err(e) => Err(e),
            });
        }
        results
    }

    /// Sends what is lingering now and waits until every record sent so
    /// far has its delivery report.
    pub async fn flush(&self) -> Result<(), Error> {
        self.client
            .call(|core, now, reply| {
                let Core { client, calls, .. } = core;
                calls.flush(client, now, reply);
            })
            .await
    }
}
