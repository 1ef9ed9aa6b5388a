//! The producer handle.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use kafka_driver::{wall_clock_ms, Offer, Wake};

use crate::driver::Core;
use crate::{Client, Error, ProducerRecord};
use kafka_driver::threads::{delivery_channel, Delivery};

/// Sends records through the client's driver thread. Cheap to clone; get
/// one with [`Client::producer`]. Settings live in `config.producer`
/// ([`ProducerConfig`](crate::ProducerConfig)).
#[derive(Clone, Debug)]
pub struct Producer {
    pub(crate) client: Client,
}

impl Producer {
    /// Hands `record` to the producer and returns at once, unless the
    /// buffer is full (`buffer_memory`): then it blocks until there is
    /// room, at most the delivery timeout ([`Error::BufferFull`] after
    /// that). [`Delivery::wait`] on the result gives the delivery report;
    /// records sent one after another are batched and pipelined, so wait
    /// on a record's delivery before sending the next one only if you
    /// want one round trip per record. A record that can never be sent (bad
    /// topic name, negative partition, too large) is refused here with
    /// [`Error::InvalidRecord`]. A record without a timestamp gets the
    /// current time.
    pub fn send(&self, mut record: ProducerRecord) -> Result<Delivery, Error> {
        let handle = &self.client.handle;
        let shared = &handle.shared;
        let timeout = handle.delivery_timeout;
        let (mut delivered, delivery) = delivery_channel(timeout);
        let mut deadline = None;
        // Run here, not queued for the driver: most sends only add the
        // record to an open batch and need no wake-up. The core keeps the
        // buffer's account (and refuses a record that can never go before
        // it looks at room); a full buffer is waited out on the core's own
        // lock, which the driver signals when room comes back.
        let mut core = shared.lock()?;
        loop {
            if !shared.ext.running.load(Ordering::Acquire) {
                return Err(Error::Closed);
            }
            let now = Instant::now();
            let Core {
                client,
                calls,
                wall,
                ..
            } = &mut *core;
            if record.timestamp.is_none() {
                record.timestamp = Some(wall.millis(now, wall_clock_ms));
            }
            let offer = calls.offer(client, now, record, delivered);
            if core.after_command() {
                shared.ext.wake();
            }
            match offer {
                Offer::Accepted => return Ok(delivery),
                Offer::Refused(e) => return Err(e),
                Offer::Full(r, d) => {
                    (record, delivered) = (*r, d);
                    let left = deadline
                        .get_or_insert(now + timeout)
                        .saturating_duration_since(now);
                    if left.is_zero() {
                        return Err(Error::BufferFull);
                    }
                    core = shared
                        .ext
                        .room
                        .wait_timeout(core, left)
                        .map_err(|_| Error::Closed)?
                        .0;
                }
            }
        }
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
