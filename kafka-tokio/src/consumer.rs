//! The consumer: a stream of records from partitions assigned by hand or
//! by a consumer group.

use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use kafka_driver::{Committed, ConsumerLease, Rebalance};
use kafka_state::consumer::{ConsumedOffset, OffsetSpec, RecordView, SeekTo};
use kafka_state::group::GroupMetadata;
use kafka_state::{ConsumerRecord, FetchedRecords, TopicPartition};
use tokio::sync::oneshot;

use crate::driver::{Ext, Tokio};
use crate::{Client, Error, Offsets};

/// The client's consumer: a [`Stream`] of records from the assigned
/// partitions, plus the commands that steer it. Get it with
/// [`Client::consumer`]; settings live in `config.consumer`.
///
/// Partitions come either from [`Consumer::assign`] or from the consumer
/// group in `config.group` through [`Consumer::subscribe`]. In a group,
/// polling the stream is what keeps the member in it: a member that does
/// not ask for records within `max_poll_interval` leaves (its partitions
/// are lost) and rejoins at its next poll. [`Consumer::on_rebalance`] is
/// told of assignment changes from inside the stream's poll.
///
/// Records come in offset order per partition. Keys and values are
/// slices of the fetch response (no copy). A partition that cannot be
/// fetched yields one `Err` item and waits for a [`Consumer::seek`].
///
/// # Committing before partitions are revoked
///
/// With `GroupConfig::await_revoke`, the stream yields
/// `Err(Error::Revoking(partitions))` when the group member is about to
/// hand partitions over, and the member waits (in its generation, still
/// heartbeating) until [`Consumer::revoke_done`]. The stream hands control
/// back rather than calling a hook: between two items the application
/// holds the consumer, so it can `await` [`Consumer::commit`] (or its own
/// work) with nothing borrowed, then let the revoke go on. Records of
/// those partitions are not yielded any more; what was yielded counts as
/// consumed. An application that never answers holds the rebalance up for
/// `GroupConfig::revoke_wait` at most.
///
/// ```no_run
/// # async fn run(mut consumer: kafka_tokio::Consumer) -> Result<(), kafka_tokio::Error> {
/// use futures_core::Stream;
/// use kafka_tokio::Error;
///
/// loop {
///     let item = std::future::poll_fn(|cx| std::pin::Pin::new(&mut consumer).poll_next(cx)).await;
///     match item {
///         Some(Ok(record)) => { /* process it */ }
///         Some(Err(Error::Revoking(_partitions))) => {
///             consumer.commit().await?; // everything yielded so far
///             consumer.revoke_done()?;
///         }
///         Some(Err(e)) => return Err(e),
///         None => return Ok(()),
///     }
/// }
/// # }
/// ```
///
/// A record's offset is stored as consumed once the stream yields it
/// (unless `enable_auto_offset_store` is off: then call
/// [`Consumer::store_offset`] once it is processed). Commands that move
/// positions ([`Consumer::assign`], [`Consumer::seek`],
/// [`Consumer::unassign`]) drop records of those partitions that the
/// stream took but has not yielded yet, so the next record of a sought
/// partition is the one sought; so does the core taking partitions away.
#[derive(Debug)]
pub struct Consumer {
    client: Client,
    lease: ConsumerLease<Tokio, Ext>,
    pending: Option<oneshot::Receiver<Result<Vec<FetchedRecords>, Error>>>,
}

impl Client {
    /// The consumer of this client. A client has one assignment, so it
    /// has one consumer at a time: while one is alive this fails with
    /// [`Error::ConsumerInUse`].
    pub fn consumer(&self) -> Result<Consumer, Error> {
        Ok(Consumer {
            lease: ConsumerLease::take(&self.shared)?,
            client: self.clone(),
            pending: None,
        })
    }
}

impl Consumer {
    /// Replaces the assignment. New partitions start from
    /// `auto_offset_reset` unless sought.
    pub async fn assign(
        &mut self,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<(), Error> {
        self.lease.assign(partitions.into_iter().collect())
    }

    /// Assigns every partition of `topic` (read from metadata).
    pub async fn assign_topic(&mut self, topic: &str) -> Result<Vec<TopicPartition>, Error> {
        let md = self.client.metadata([topic]).await?;
        let tps = md.partitions_of(topic).map_err(|code| Error::Kafka {
            code,
            message: Some(topic.to_string()),
        })?;
        self.lease.assign(tps.clone())?;
        Ok(tps)
    }

    /// Stops consuming everything.
    pub async fn unassign(&mut self) -> Result<(), Error> {
        self.lease.unassign()
    }

    /// Moves an assigned partition's position: to an offset, the log's
    /// start or end, or the first record at or after a timestamp.
    pub async fn seek(&mut self, partition: TopicPartition, to: SeekTo) -> Result<(), Error> {
        self.lease.seek(partition, to)
    }

    /// Stops fetching these partitions and withholds the records the core
    /// buffered for them until [`Consumer::resume`]. Records the stream
    /// already took are still yielded.
    pub async fn pause(
        &self,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<(), Error> {
        self.lease.pause(partitions.into_iter().collect(), false)
    }

    /// Undoes [`Consumer::pause`].
    pub async fn resume(
        &self,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<(), Error> {
        self.lease.pause(partitions.into_iter().collect(), true)
    }

    /// What a commit of `partition` would cover now: the offset after
    /// the last record handed out (or stored with
    /// [`Consumer::store_offset`]) and its leader epoch; `None` before
    /// any.
    pub async fn consumed(
        &mut self,
        partition: &TopicPartition,
    ) -> Result<Option<ConsumedOffset>, Error> {
        self.lease.consumed(partition)
    }

    /// Marks `record` as processed: the next commit of its partition
    /// covers it. Needed only with `enable_auto_offset_store` off.
    pub fn store_offset(&self, record: &ConsumerRecord) -> Result<(), Error> {
        self.lease.store_offset(record)
    }

    /// Joins the consumer group of `config.group`, consuming `topics`;
    /// calling it again changes the subscription. Each partition the
    /// group assigns starts at the group's committed offset (else per
    /// `auto_offset_reset`). Fails without a group configured or with a
    /// manual assignment in place.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mock = kafka_mock::MockCluster::builder().build()?;
    /// # let bootstrap = mock.bootstrap();
    /// use futures_core::Stream;
    /// use kafka_tokio::{AutoOffsetReset, Client, Config, GroupConfig, NewTopic, ProducerRecord};
    ///
    /// let mut config = Config::bootstrap(&bootstrap)?;
    /// config.group = Some(GroupConfig::new("billing"));
    /// config.consumer.auto_offset_reset = AutoOffsetReset::Earliest;
    /// let client = Client::connect(config).await?;
    /// client.create_topic(NewTopic::new("invoices", 3, 1)).await?;
    /// client.producer().send(ProducerRecord::new("invoices").with_value("i-1")).await?.await?;
    ///
    /// let mut consumer = client.consumer()?;
    /// consumer.on_rebalance(|change| println!("{change:?}"));
    /// consumer.subscribe(["invoices"]).await?;
    /// let next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut consumer).poll_next(cx));
    /// let record = tokio::time::timeout(std::time::Duration::from_secs(20), next)
    ///     .await?
    ///     .expect("a record")?;
    /// assert_eq!(record.value.as_deref(), Some(&b"i-1"[..]));
    /// consumer.commit().await?; // the offset after i-1
    /// drop(consumer);
    /// client.close().await; // leaves the group
    /// # Ok(()) }
    /// ```
    pub async fn subscribe<S: Into<String>>(
        &mut self,
        topics: impl IntoIterator<Item = S>,
    ) -> Result<(), Error> {
        self.lease
            .subscribe(topics.into_iter().map(Into::into).collect())
    }

    /// Joins the consumer group consuming every topic whose name matches
    /// `pattern`, now and as topics are created: see
    /// [`kafka_state::Consumer::subscribe_regex`] for who matches it under
    /// each group protocol and which syntax it takes. Under the classic
    /// protocol a pattern that does not compile fails with
    /// [`Misuse::InvalidRegex`](kafka_state::Misuse::InvalidRegex); under
    /// the consumer protocol one the broker refuses ends the member with
    /// `GroupError::InvalidRegularExpression`.
    pub async fn subscribe_regex(&mut self, pattern: impl Into<String>) -> Result<(), Error> {
        self.lease.subscribe_regex(pattern.into())
    }

    /// Leaves the group: with auto-commit, what was consumed is committed
    /// first; every partition is revoked.
    pub async fn unsubscribe(&mut self) -> Result<(), Error> {
        self.lease.unsubscribe()
    }

    /// Commits the consumed offset of every owned partition (the records
    /// the stream yielded, or those stored with
    /// [`Consumer::store_offset`]) and returns what was committed.
    /// [`Error::Commit`] names partitions that were not; its
    /// [`is_retriable`](Error::is_retriable) says whether to try again
    /// after the rebalance that refused it.
    pub async fn commit(&mut self) -> Result<Committed, Error> {
        self.commit_offsets_inner(None).await
    }

    /// Commits the given offsets (each the next record to consume) of
    /// owned partitions.
    pub async fn commit_offsets(&mut self, offsets: Committed) -> Result<Committed, Error> {
        self.commit_offsets_inner(Some(offsets)).await
    }

    async fn commit_offsets_inner(
        &mut self,
        offsets: Option<Committed>,
    ) -> Result<Committed, Error> {
        let (tx, rx) = oneshot::channel();
        self.lease
            .commit(offsets, Box::new(move |r| drop(tx.send(r))))?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Lets the revoke announced by `Err(Error::Revoking(..))` go on:
    /// call it once what was processed of the partitions is committed
    /// (see [committing before partitions are revoked](Consumer#committing-before-partitions-are-revoked)).
    /// Does nothing when no revoke waits.
    pub fn revoke_done(&mut self) -> Result<(), Error> {
        self.lease.revoke_done()
    }

    /// The offsets the group acknowledged for this member's commits.
    pub fn committed(&self) -> Result<Committed, Error> {
        self.lease.committed()
    }

    /// The member's group, generation and ids (for
    /// `send_offsets_to_transaction`); `None` without a group.
    pub fn group_metadata(&self) -> Result<Option<GroupMetadata>, Error> {
        self.lease.group_metadata()
    }

    /// The partitions assigned now, by hand or by the group.
    pub fn assignment(&self) -> Result<Vec<TopicPartition>, Error> {
        self.lease.assignment()
    }

    /// The subscribed topics; empty when not subscribed.
    pub fn subscription(&self) -> Result<Vec<String>, Error> {
        self.lease.subscription()
    }

    /// Calls `listener` for every later assignment change, on the task
    /// polling the stream, before the stream yields a record of a newly
    /// assigned partition and after it stopped yielding those of a
    /// revoked or lost one. A revoke is reported after the fact: with
    /// auto-commit the member committed the partitions' consumed offsets
    /// before giving them up. To commit before, see
    /// [committing before partitions are revoked](Consumer#committing-before-partitions-are-revoked);
    /// the listener hears of that as [`Rebalance::Revoking`] too.
    pub fn on_rebalance(&mut self, listener: impl FnMut(Rebalance) + Send + 'static) {
        self.lease.set_listener(Some(Box::new(listener)));
    }

    /// [`Client::offsets`].
    pub async fn offsets(
        &self,
        partitions: impl IntoIterator<Item = TopicPartition>,
        spec: OffsetSpec,
    ) -> Result<Offsets, Error> {
        self.client.offsets(partitions, spec).await
    }

    /// The next offset to be fetched for an assigned partition.
    pub async fn position(&self, partition: TopicPartition) -> Result<Option<i64>, Error> {
        self.lease.position(&partition)
    }

    /// Records between the position and the high watermark, as of the
    /// last fetch of the partition.
    pub async fn lag(&self, partition: TopicPartition) -> Result<Option<i64>, Error> {
        self.lease.lag(&partition)
    }
}

impl Consumer {
    /// Waits for records, then lends each buffered one to `f` in turn,
    /// until none is left or `f` returns [`ControlFlow::Break`] (the rest
    /// stays for the next call); returns how many were lent.
    ///
    /// The cheapest way to consume: a [`RecordView`] borrows the fetched
    /// bytes, so nothing is allocated or reference-counted per record. Use
    /// it when each record is handled in the call (parsed, summed, written
    /// out), and [`RecordView::to_record`] or the [`Stream`] for records
    /// to keep. Offsets are stored as the stream stores them, a revoke is
    /// `Err(Error::Revoking(..))` as it is there, and the two may be mixed.
    ///
    /// ```no_run
    /// # async fn run(mut consumer: kafka_tokio::Consumer) -> Result<(), kafka_tokio::Error> {
    /// use std::ops::ControlFlow;
    ///
    /// let mut bytes = 0;
    /// while bytes < 1 << 20 {
    ///     consumer
    ///         .lend(|record| {
    ///             bytes += record.value.map_or(0, <[u8]>::len);
    ///             ControlFlow::Continue(())
    ///         })
    ///         .await?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn lend<F>(&mut self, mut f: F) -> Result<usize, Error>
    where
        F: FnMut(RecordView<'_>) -> ControlFlow<()>,
    {
        loop {
            if let Some(tps) = self.lease.take_revoking()? {
                return Err(Error::Revoking(tps));
            }
            let lent = self.lease.lend_records(&mut f)?;
            if lent > 0 {
                return Ok(lent);
            }
            if self.lease.revoke_pending() {
                continue;
            }
            std::future::poll_fn(|cx| self.poll_pull(cx))
                .await
                .unwrap_or(Err(Error::Closed))?;
        }
    }

    /// Asks the core for records unless a pull is on its way, and buffers
    /// what it brings: `None` once the client is closed, an error the pull
    /// brought otherwise. The pull stays on its way when the caller stops
    /// waiting.
    fn poll_pull(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<(), Error>>> {
        let rx = match &mut self.pending {
            Some(rx) => rx,
            None => {
                let (tx, rx) = oneshot::channel();
                if self
                    .lease
                    .pull(Box::new(move |r| drop(tx.send(r))))
                    .is_err()
                {
                    return Poll::Ready(None);
                }
                self.pending.insert(rx)
            }
        };
        let answer = match Pin::new(rx).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(answer) => answer,
        };
        self.pending = None;
        Poll::Ready(answer.ok().map(|answer| self.lease.pulled(answer)))
    }
}

impl Stream for Consumer {
    type Item = Result<ConsumerRecord, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            // A revoke waiting for the application comes before records.
            if this.lease.revoke_pending() {
                match this.lease.take_revoking() {
                    Ok(Some(tps)) => return Poll::Ready(Some(Err(Error::Revoking(tps)))),
                    Ok(None) => {}
                    Err(_) => return Poll::Ready(None),
                }
            }
            match this.lease.next_record() {
                Ok(Some(record)) => return Poll::Ready(Some(Ok(record))),
                Ok(None) if this.lease.revoke_pending() => continue,
                Ok(None) => {}
                Err(_) => return Poll::Ready(None),
            }
            match this.poll_pull(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(()))) => {}
            }
        }
    }
}
