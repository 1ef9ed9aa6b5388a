//! The consumer: a stream of records with manual assignment.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use kafka_driver::ConsumerLease;
use kafka_state::consumer::{ConsumedOffset, OffsetSpec, SeekTo};
use kafka_state::{ConsumerRecord, FetchedRecords, TopicPartition};
use tokio::sync::oneshot;

use crate::driver::{Ext, Tokio};
use crate::{Client, Error, Offsets};

/// The client's consumer: a [`Stream`] of records from the assigned
/// partitions, plus the commands that steer it. Get it with
/// [`Client::consumer`]; settings live in `config.consumer`.
///
/// Records come in offset order per partition. Keys and values are
/// slices of the fetch response (no copy). A partition that cannot be
/// fetched yields one `Err` item and waits for a [`Consumer::seek`].
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

impl Stream for Consumer {
    type Item = Result<ConsumerRecord, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Consumer { lease, pending, .. } = &mut *self;
        loop {
            match lease.next_record() {
                Ok(Some(record)) => return Poll::Ready(Some(Ok(record))),
                Ok(None) => {}
                Err(_) => return Poll::Ready(None),
            }
            let rx = match pending {
                Some(rx) => rx,
                None => {
                    let (tx, rx) = oneshot::channel();
                    if lease.pull(Box::new(move |r| drop(tx.send(r)))).is_err() {
                        return Poll::Ready(None);
                    }
                    pending.insert(rx)
                }
            };
            let answer = match Pin::new(rx).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(answer)) => answer,
                Poll::Ready(Err(_)) => return Poll::Ready(None),
            };
            *pending = None;
            if let Err(e) = lease.pulled(answer) {
                return Poll::Ready(Some(Err(e)));
            }
        }
    }
}
