//! The producer handle.

use std::sync::Arc;

use kafka_driver::{wall_clock_ms, BatchSlot, Committed, Offer, PartOffer, TxnCall, BATCH_RUN};

use crate::delivery::{self, BatchFuture, DeliveryFuture};
use crate::driver::Core;
use crate::{BatchReports, Client, Error, GroupMetadata, ProducerRecord};

/// Sends records through the client's driver. Cheap to clone; get one
/// with [`Client::producer`]. Settings live in `config.producer`
/// ([`ProducerConfig`](crate::ProducerConfig)).
#[derive(Clone, Debug)]
pub struct Producer {
    pub(crate) client: Client,
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
        let (delivered, future) = delivery::channel();
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
        let mut result = offer(record, delivered)?;
        loop {
            match result {
                Offer::Accepted => return Ok(future),
                Offer::Refused(e, _) => return Err(e),
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
    /// back in the order of `records`: [`Producer::send_many`], awaited.
    pub async fn send_batch(
        &self,
        records: impl IntoIterator<Item = ProducerRecord>,
    ) -> BatchReports {
        self.send_many(records).await.await
    }

    /// Hands every record of `records` to the producer and returns once
    /// all are queued; the returned future resolves to their delivery
    /// reports in the order of `records` ([`BatchReports`]). The cheaper way to send many
    /// records at once: the client's lock is taken and the clock read
    /// once per 1,024 records, and the reports share one slot instead of
    /// a channel per record. A full buffer is waited out as with
    /// [`Producer::send`]; a record refused on the spot (invalid, client
    /// closed) gets its error in its place, and the others still go.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mock = kafka_mock::MockCluster::builder().build()?;
    /// use kafka_tokio::{Client, NewTopic, ProducerRecord};
    ///
    /// let client = Client::bootstrap(&mock.bootstrap()).await?;
    /// client.create_topic(NewTopic::new("lines", 1, 1)).await?;
    /// let producer = client.producer();
    /// let records = |from: usize| {
    ///     (from..from + 500).map(|i| ProducerRecord::new("lines").with_value(format!("line {i}")))
    /// };
    /// // Two batches in flight at once; each resolves to its own reports.
    /// let first = producer.send_many(records(0)).await;
    /// let second = producer.send_many(records(500)).await;
    /// let (first, second) = (first.await, second.await);
    /// assert_eq!(second.get(0).and_then(Result::ok).map(|r| r.offset()), Some(500));
    /// assert_eq!(first.failed() + second.failed(), 0);
    /// # Ok(()) }
    /// ```
    pub async fn send_many(
        &self,
        records: impl IntoIterator<Item = ProducerRecord>,
    ) -> BatchFuture {
        let records: Vec<ProducerRecord> = records.into_iter().collect();
        let slot = BatchSlot::new(records.len());
        let batch = BatchFuture {
            slot: Arc::clone(&slot),
        };
        let mut records = records.into_iter().enumerate();
        let shared = &self.client.shared;
        // The record the buffer had no room for, to offer again.
        let mut carried: Option<(usize, ProducerRecord)> = None;
        let mut offer_run = |carried: &mut Option<(usize, ProducerRecord)>| {
            shared.command(|core, now| {
                let Core {
                    client,
                    calls,
                    wall,
                    ..
                } = core;
                let stamp = wall.millis(now, wall_clock_ms);
                for _ in 0..BATCH_RUN {
                    let Some((i, mut record)) = carried.take().or_else(|| records.next()) else {
                        return Run::Done;
                    };
                    record.timestamp.get_or_insert(stamp);
                    match calls.offer_part(client, now, record, &slot, i) {
                        PartOffer::Accepted => {}
                        PartOffer::Refused(e) => slot.put(i, Err(e)),
                        PartOffer::Full(r) => {
                            *carried = Some((i, *r));
                            return Run::Full;
                        }
                    }
                }
                Run::More
            })
        };
        loop {
            // As in `send`: a long batch on a current-thread runtime must
            // let the driver write what is ready.
            tokio::task::coop::consume_budget().await;
            if self.client.jobs.is_closed() {
                break;
            }
            match offer_run(&mut carried) {
                Ok(Run::Done) => return batch,
                Ok(Run::More) => {}
                Ok(Run::Full) => {
                    // Listen for room before offering again, so room freed
                    // in between is not missed (see `send`).
                    let room = shared.ext.room.notified();
                    tokio::pin!(room);
                    room.as_mut().enable();
                    match offer_run(&mut carried) {
                        Ok(Run::Full) => room.await,
                        Ok(Run::Done) => return batch,
                        Ok(Run::More) => {}
                        Err(_) => break,
                    }
                }
                Err(_) => break,
            }
        }
        // The client closed: nothing more goes.
        slot.refuse_rest(carried, records, || Error::Closed);
        batch
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

    /// Gets the producer id of `ProducerConfig::transactional_id`,
    /// fencing any earlier instance with that id and aborting a
    /// transaction it left open. Call once, before the first transaction.
    /// Called again after it was abandoned (dropped), it waits for the
    /// same outcome.
    pub async fn init_transactions(&self) -> Result<(), Error> {
        self.transaction(TxnCall::Init).await
    }

    /// Opens a transaction: the records sent until the commit or abort
    /// belong to it.
    pub async fn begin_transaction(&self) -> Result<(), Error> {
        self.transaction(TxnCall::Begin).await
    }

    /// Commits `offsets` of the consumer group `group` (the consumer's
    /// [`group_metadata`](crate::Consumer::group_metadata), or
    /// [`GroupMetadata::new`] for a reader outside any group) with the
    /// open transaction: read and written records commit together. The
    /// coordinator refuses them if that member has been rebalanced out,
    /// which makes the transaction abortable.
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: Committed,
        group: &GroupMetadata,
    ) -> Result<(), Error> {
        self.transaction(TxnCall::SendOffsets(offsets, group.clone()))
            .await
    }

    /// Sends every record of the transaction, waits for all of them, and
    /// commits. On [`Error::Transaction`] with an abortable error, call
    /// [`Producer::abort_transaction`]; with a fatal one, drop the client.
    ///
    /// Like every transaction call it has no deadline of its own (the
    /// core retries within the cluster's rules): bound it with
    /// `tokio::time::timeout`. A commit (or abort, or init) dropped that
    /// way keeps running; calling it again waits for the same outcome.
    pub async fn commit_transaction(&self) -> Result<(), Error> {
        self.transaction(TxnCall::Commit).await
    }

    /// Aborts the open transaction: records not sent fail with
    /// `TransactionAborted`, those sent are answered first, and
    /// read_committed consumers never see any of them.
    pub async fn abort_transaction(&self) -> Result<(), Error> {
        self.transaction(TxnCall::Abort).await
    }

    async fn transaction(&self, call: TxnCall) -> Result<(), Error> {
        self.client
            .call(move |core, now, reply| {
                let Core { client, calls, .. } = core;
                calls.transaction(client, now, call, reply);
            })
            .await
    }
}

/// How one run of [`Producer::send_many`] under the lock ended.
enum Run {
    /// Every record is offered.
    Done,
    /// The run's share is offered; more records wait.
    More,
    /// The buffer is full; the record it refused is carried.
    Full,
}
