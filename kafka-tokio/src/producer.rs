//! The producer handle.

use kafka_driver::{wall_clock_ms, Committed, Offer, TxnCall};

use crate::delivery::{self, DeliveryFuture};
use crate::driver::Core;
use crate::{Client, DeliveryReport, Error, GroupMetadata, ProducerRecord};

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
