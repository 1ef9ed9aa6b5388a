//! The producer handle.

use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::core::{wall_clock_ms, Core};
use crate::driver::Input;
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

    /// Hands `record` to the producer and returns at once, unless the
    /// buffer is full (`buffer_memory`): then it blocks until there is
    /// room, at most the delivery timeout. Records sent one after another
    /// are batched and pipelined. A record that can never be sent (bad
    /// topic name, negative partition, too large) is refused here with
    /// [`Error::InvalidRecord`]. A record without a timestamp gets the
    /// current time.
    pub fn send_async(&self, mut record: ProducerRecord) -> Result<Delivery, Error> {
        let handle = &self.client.handle;
        handle
            .producer_config
            .check_record(&record)
            .map_err(Error::InvalidRecord)?;
        if record.timestamp.is_none() {
            record.timestamp = Some(wall_clock_ms());
        }
        let size = Room::size_of(&record);
        let timeout = handle.delivery_timeout;
        let size = handle.room.take(size, timeout)?;
        let (tx, rx) = mpsc::sync_channel(1);
        let room = handle.room.clone();
        let delivered: kafka_state::calls::Reply<DeliveryReport> = Box::new(move |r| {
            // The record has left the buffer: give its room back.
            room.give(size);
            let _ = tx.send(r);
        });
        let job = Box::new(move |core: &mut Core, now| {
            let Core { client, calls, .. } = core;
            calls.send(client, now, record, None, delivered);
        });
        if handle.inputs.send(Input::Job(job)).is_err() {
            handle.room.give(size);
            return Err(Error::Closed);
        }
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

/// Room in the producer's buffer, counted in bytes, shared by every handle
/// of a client: `send_async` waits here instead of asking the driver.
#[derive(Clone, Debug)]
pub(crate) struct Room {
    inner: Arc<(Mutex<usize>, Condvar)>,
    capacity: usize,
}

impl Room {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new((Mutex::new(capacity), Condvar::new())),
            capacity: capacity.max(1),
        }
    }

    /// What a record occupies, close to the core's estimate.
    fn size_of(r: &ProducerRecord) -> usize {
        let len = |b: &Option<Bytes>| b.as_ref().map_or(0, Bytes::len);
        let headers: usize = r.headers.iter().map(|(k, v)| 10 + k.len() + len(v)).sum();
        36 + len(&r.key) + len(&r.value) + headers
    }

    /// Takes `size` bytes (at most the whole buffer), waiting at most
    /// `timeout`; returns what was taken.
    fn take(&self, size: usize, timeout: Duration) -> Result<usize, Error> {
        let size = size.clamp(1, self.capacity);
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.inner;
        let mut free = lock.lock().map_err(|_| Error::Closed)?;
        while *free < size {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout);
            }
            free = cv.wait_timeout(free, left).map_err(|_| Error::Closed)?.0;
        }
        *free -= size;
        Ok(size)
    }

    fn give(&self, size: usize) {
        let (lock, cv) = &*self.inner;
        if let Ok(mut free) = lock.lock() {
            *free += size;
            cv.notify_all();
        }
    }
}
