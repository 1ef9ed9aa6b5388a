//! The producer handle.

use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;

use crate::core::{reply, wall_clock_ms, Core};
use crate::{Client, DeliveryReport, Error, ProducerRecord};

/// Sends records through the client's driver thread. Cheap to clone; get
/// one with [`Client::producer`]. Settings live in `config.producer`
/// ([`ProducerConfig`](crate::ProducerConfig)).
#[derive(Clone, Debug)]
pub struct Producer {
    pub(crate) client: Client,
}

/// A record on its way: [`Delivery::wait`] returns its report.
#[derive(Debug)]
#[must_use = "a delivery is only known once waited for"]
pub struct Delivery {
    rx: mpsc::Receiver<Result<DeliveryReport, Error>>,
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
        match self.rx.recv_timeout(timeout) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(Error::Timeout),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(Error::Closed),
        }
    }

    /// The report if it has come, without blocking.
    pub fn try_get(&self) -> Option<Result<DeliveryReport, Error>> {
        self.rx.try_recv().ok()
    }
}

impl Producer {
    /// Sends one record and blocks until the broker acknowledged it:
    /// simple, and one round trip per record. For throughput use
    /// [`Producer::send_async`] and [`Producer::flush`].
    pub fn send(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, &[u8])],
    ) -> Result<DeliveryReport, Error> {
        let mut record = ProducerRecord::new(topic);
        record.partition = partition;
        record.key = key.map(Bytes::copy_from_slice);
        record.value = value.map(Bytes::copy_from_slice);
        record.headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), Some(Bytes::copy_from_slice(v))))
            .collect();
        self.send_async(record)?.wait()
    }

    /// Hands `record` to the producer and returns once it is buffered,
    /// which blocks only while the buffer is full (`buffer_memory`), at
    /// most the delivery timeout. Records sent one after another are
    /// batched and pipelined. A record without a timestamp gets the
    /// current time.
    pub fn send_async(&self, mut record: ProducerRecord) -> Result<Delivery, Error> {
        if record.timestamp.is_none() {
            record.timestamp = Some(wall_clock_ms());
        }
        let (delivered, rx) = mpsc::sync_channel(1);
        let timeout = self.client.handle.delivery_timeout;
        self.client.call(
            move |core, now, accepted| {
                let Core { client, calls, .. } = core;
                calls.send(client, now, record, Some(accepted), reply(delivered));
            },
            timeout,
        )?;
        Ok(Delivery { rx, timeout })
    }

    /// Sends what is lingering now and blocks until every record sent so
    /// far has its delivery report, at most `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<(), Error> {
        self.client.call(
            |core, now, reply| {
                let Core { client, calls, .. } = core;
                calls.flush(client, now, reply);
            },
            timeout,
        )
    }
}
