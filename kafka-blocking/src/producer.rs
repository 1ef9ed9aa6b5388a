//! The producer handle.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_driver::{
    wall_clock_ms, BatchSlot, Committed, Offer, PartOffer, TxnCall, Wake, BATCH_RUN,
};

use crate::driver::Core;
use crate::{Client, Error, GroupMetadata, ProducerRecord};
use kafka_driver::threads::{delivery_channel, BatchDelivery, Delivery};

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
                Offer::Refused(e, _) => return Err(e),
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

    /// Hands every record of `records` to the producer and returns once
    /// all are queued; [`BatchDelivery::wait`] then gives their delivery
    /// reports in the order of `records` ([`BatchReports`](crate::BatchReports)). The cheaper way to send many
    /// records at once: the client's lock is taken and the clock read
    /// once per 1,024 records, and the reports share one slot instead of
    /// one per record. A full buffer is waited out as with
    /// [`Producer::send`]; a record refused on the spot (invalid, no room
    /// within the delivery timeout, client closed) gets its error in its
    /// place, and the others still go.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mock = kafka_mock::MockCluster::builder().build()?;
    /// use kafka_blocking::{Client, NewTopic, ProducerRecord};
    ///
    /// let client = Client::bootstrap(&mock.bootstrap())?;
    /// client.create_topic(NewTopic::new("lines", 1, 1))?;
    /// let records = (0..1_000).map(|i| ProducerRecord::new("lines").with_value(format!("line {i}")));
    /// let reports = client.producer().send_many(records).wait()?;
    /// assert_eq!(reports.len(), 1_000);
    /// assert_eq!(reports.failed(), 0);
    /// assert_eq!(reports.get(999).and_then(Result::ok).map(|r| r.offset()), Some(999));
    /// # Ok(()) }
    /// ```
    pub fn send_many(&self, records: impl IntoIterator<Item = ProducerRecord>) -> BatchDelivery {
        let records: Vec<ProducerRecord> = records.into_iter().collect();
        let handle = &self.client.handle;
        let shared = &handle.shared;
        let timeout = handle.delivery_timeout;
        let slot = BatchSlot::new(records.len());
        let batch = BatchDelivery::new(Arc::clone(&slot), timeout);
        let mut records = records.into_iter().enumerate();
        // The record the buffer had no room for, to offer again.
        let mut carried: Option<(usize, ProducerRecord)> = None;
        let mut deadline: Option<Instant> = None;
        let Ok(mut core) = shared.lock() else {
            slot.refuse_rest(None, records, || Error::Closed);
            return batch;
        };
        loop {
            if !shared.ext.running.load(Ordering::Acquire) {
                slot.refuse_rest(carried, records, || Error::Closed);
                return batch;
            }
            let now = Instant::now();
            let Core {
                client,
                calls,
                wall,
                ..
            } = &mut *core;
            let stamp = wall.millis(now, wall_clock_ms);
            let mut full = false;
            for _ in 0..BATCH_RUN {
                let Some((i, mut record)) = carried.take().or_else(|| records.next()) else {
                    break;
                };
                record.timestamp.get_or_insert(stamp);
                match calls.offer_part(client, now, record, &slot, i) {
                    PartOffer::Accepted => deadline = None,
                    PartOffer::Refused(e) => slot.put(i, Err(e)),
                    PartOffer::Full(r) => {
                        carried = Some((i, *r));
                        full = true;
                        break;
                    }
                }
            }
            if core.after_command() {
                shared.ext.wake();
            }
            if full {
                let left = deadline
                    .get_or_insert(now + timeout)
                    .saturating_duration_since(now);
                if left.is_zero() {
                    // No room came within the delivery timeout: what is
                    // left would wait in vain too.
                    slot.refuse_rest(carried, records, || Error::BufferFull);
                    return batch;
                }
                core = match shared.ext.room.wait_timeout(core, left) {
                    Ok((core, _)) => core,
                    Err(_) => {
                        slot.refuse_rest(carried, records, || Error::Closed);
                        return batch;
                    }
                };
            } else if carried.is_none() && records.len() == 0 {
                return batch;
            } else {
                // Let the driver in between runs.
                drop(core);
                core = match shared.lock() {
                    Ok(core) => core,
                    Err(_) => {
                        slot.refuse_rest(carried, records, || Error::Closed);
                        return batch;
                    }
                };
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

    /// Gets the producer id of `ProducerConfig::transactional_id`,
    /// fencing any earlier instance with that id and aborting a
    /// transaction it left open; blocks at most `timeout`. Call once,
    /// before the first transaction. After [`Error::Timeout`] it goes on
    /// in the background: call again to wait for the same outcome.
    pub fn init_transactions(&self, timeout: Duration) -> Result<(), Error> {
        self.transaction(TxnCall::Init, timeout)
    }

    /// Opens a transaction: the records sent until the commit or abort
    /// belong to it.
    pub fn begin_transaction(&self) -> Result<(), Error> {
        self.transaction(TxnCall::Begin, self.client.handle.delivery_timeout)
    }

    /// Commits `offsets` of the consumer group `group` (the consumer's
    /// [`group_metadata`](crate::Consumer::group_metadata), or
    /// [`GroupMetadata::new`] for a reader outside any group) with the
    /// open transaction; blocks at most `timeout`. The coordinator refuses
    /// them if that member has been rebalanced out, which makes the
    /// transaction abortable.
    pub fn send_offsets_to_transaction(
        &self,
        offsets: Committed,
        group: &GroupMetadata,
        timeout: Duration,
    ) -> Result<(), Error> {
        self.transaction(TxnCall::SendOffsets(offsets, group.clone()), timeout)
    }

    /// Sends every record of the transaction, waits for all of them, and
    /// commits; blocks at most `timeout` (after [`Error::Timeout`], call
    /// again to wait for the same outcome). On [`Error::Transaction`]
    /// with an abortable error, call [`Producer::abort_transaction`];
    /// with a fatal one, drop the client.
    pub fn commit_transaction(&self, timeout: Duration) -> Result<(), Error> {
        self.transaction(TxnCall::Commit, timeout)
    }

    /// Aborts the open transaction: records not sent fail with
    /// `TransactionAborted`, those sent are answered first, and
    /// read_committed consumers never see any of them. Blocks at most
    /// `timeout`.
    pub fn abort_transaction(&self, timeout: Duration) -> Result<(), Error> {
        self.transaction(TxnCall::Abort, timeout)
    }

    fn transaction(&self, call: TxnCall, timeout: Duration) -> Result<(), Error> {
        self.client.call(
            move |core, now, reply| {
                let Core { client, calls, .. } = core;
                calls.transaction(client, now, call, reply);
            },
            timeout,
        )
    }
}
