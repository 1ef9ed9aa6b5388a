//! The producer handle.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use crate::core::{reply, wall_clock_ms, Core};
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
    rx: oneshot::Receiver<Result<DeliveryReport, Error>>,
}

impl Future for DeliveryFuture {
    type Output = Result<DeliveryReport, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(Error::Closed)))
    }
}

impl Producer {
    /// Hands `record` to the producer and returns once it is buffered,
    /// which waits only while the buffer is full (`buffer_memory`). The
    /// returned future resolves to the delivery report; records sent one
    /// after another are batched and pipelined, so don't await each report
    /// before sending the next record unless you want one round trip per
    /// record. A record without a timestamp gets the current time.
    pub async fn send(&self, mut record: ProducerRecord) -> Result<DeliveryFuture, Error> {
        if record.timestamp.is_none() {
            record.timestamp = Some(wall_clock_ms());
        }
        let (delivered, rx) = oneshot::channel();
        self.client
            .call(move |core, now, accepted| {
                let Core { client, calls, .. } = core;
                calls.send(client, now, record, accepted, reply(delivered));
            })
            .await?;
        Ok(DeliveryFuture { rx })
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
