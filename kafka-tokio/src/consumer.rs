//! The consumer: a stream of records with manual assignment.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use kafka_driver::RecordBuffer;
use kafka_state::consumer::{ConsumedOffset, OffsetSpec, SeekTo};
use kafka_state::{ConsumerRecord, FetchedRecords, Misuse, TopicPartition};
use tokio::sync::oneshot;

use crate::{Client, Error, Offsets};
use std::time::Instant;

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
    buffer: RecordBuffer,
    pending: Option<oneshot::Receiver<Result<Vec<FetchedRecords>, Error>>>,
}

impl Client {
    /// The consumer of this client. A client has one assignment, so it
    /// has one consumer at a time: while one is alive this fails with
    /// [`Error::ConsumerInUse`].
    pub fn consumer(&self) -> Result<Consumer, Error> {
        let buffer = self.shared.command(|core, _| core.open_consumer())??;
        Ok(Consumer {
            client: self.clone(),
            buffer,
            pending: None,
        })
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let buffer = &mut self.buffer;
        let _ = self
            .client
            .shared
            .command(|core, _| core.close_consumer(buffer));
    }
}

impl Consumer {
    /// Runs a command that moves positions of `changed` partitions.
    fn reposition(
        &mut self,
        changed: Option<&[TopicPartition]>,
        f: impl FnOnce(&mut kafka_state::Client, Instant) -> Result<(), Misuse>,
    ) -> Result<(), Error> {
        let buffer = &mut self.buffer;
        self.client
            .shared
            .command(|core, now| core.reposition(buffer, now, changed, f))?
    }

    /// Replaces the assignment. New partitions start from
    /// `auto_offset_reset` unless sought.
    pub async fn assign(
        &mut self,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<(), Error> {
        let tps: Vec<TopicPartition> = partitions.into_iter().collect();
        self.reposition(None, |c, now| c.consumer().assign(now, tps))
    }

    /// Assigns every partition of `topic` (read from metadata).
    pub async fn assign_topic(&mut self, topic: &str) -> Result<Vec<TopicPartition>, Error> {
        let md = self.client.metadata([topic]).await?;
        let tps = md.partitions_of(topic).map_err(|code| Error::Kafka {
            code,
            message: Some(topic.to_string()),
        })?;
        self.assign(tps.clone()).await?;
        Ok(tps)
    }

    /// Stops consuming everything.
    pub async fn unassign(&mut self) -> Result<(), Error> {
        self.reposition(None, |c, now| c.consumer().unassign(now))
    }

    /// Moves an assigned partition's position: to an offset, the log's
    /// start or end, or the first record at or after a timestamp.
    pub async fn seek(&mut self, partition: TopicPartition, to: SeekTo) -> Result<(), Error> {
        let tp = partition.clone();
        self.reposition(Some(&[tp]), move |c, now| {
            c.consumer().seek(now, &partition, to)
        })
    }

    /// Stops fetching these partitions and withholds the records the core
    /// buffered for them until [`Consumer::resume`]. Records the stream
    /// already took are still yielded.
    pub async fn pause(
        &self,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<(), Error> {
        let tps: Vec<TopicPartition> = partitions.into_iter().collect();
        Ok(self
            .client
            .shared
            .command(|core, now| core.client.consumer().pause(now, tps))??)
    }

    /// Undoes [`Consumer::pause`].
    pub async fn resume(
        &self,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<(), Error> {
        let tps: Vec<TopicPartition> = partitions.into_iter().collect();
        Ok(self
            .client
            .shared
            .command(|core, now| core.client.consumer().resume(now, tps))??)
    }

    /// What a commit of `partition` would cover now: the offset after
    /// the last record handed out (or stored with
    /// [`Consumer::store_offset`]) and its leader epoch; `None` before
    /// any.
    pub async fn consumed(
        &mut self,
        partition: &TopicPartition,
    ) -> Result<Option<ConsumedOffset>, Error> {
        let buffer = &mut self.buffer;
        self.client.shared.command(|core, _| {
            core.sync_consumer(buffer);
            core.client.consumer().consumed(partition)
        })
    }

    /// Marks `record` as processed: the next commit of its partition
    /// covers it. Needed only with `enable_auto_offset_store` off.
    pub fn store_offset(&self, record: &ConsumerRecord) -> Result<(), Error> {
        Ok(self
            .client
            .shared
            .command(|core, _| core.client.consumer().store_record(record))??)
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
        self.client
            .shared
            .command(|core, _| core.client.consumer().position(&partition))
    }

    /// Records between the position and the high watermark, as of the
    /// last fetch of the partition.
    pub async fn lag(&self, partition: TopicPartition) -> Result<Option<i64>, Error> {
        self.client
            .shared
            .command(|core, _| core.client.consumer().lag(&partition))
    }
}

impl Stream for Consumer {
    type Item = Result<ConsumerRecord, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Consumer {
            client,
            buffer,
            pending,
        } = &mut *self;
        loop {
            match buffer.next_record() {
                Some(Ok(record)) => return Poll::Ready(Some(Ok(record))),
                Some(Err(corrupt)) => {
                    if client
                        .shared
                        .command(|core, now| corrupt.report(&mut core.client, now))
                        .is_err()
                    {
                        return Poll::Ready(None);
                    }
                    continue;
                }
                None => {}
            }
            if buffer.must_sync() {
                // Partitions went: drop their records, then go on.
                if client
                    .shared
                    .command(|core, _| core.sync_consumer(buffer))
                    .is_err()
                {
                    return Poll::Ready(None);
                }
                continue;
            }
            let rx = match pending {
                Some(rx) => rx,
                None => {
                    let (tx, rx) = oneshot::channel();
                    let reply = Box::new(move |r| drop(tx.send(r)));
                    let asked = client
                        .shared
                        .command(|core, now| core.pull(buffer, now, reply));
                    if asked.is_err() {
                        return Poll::Ready(None);
                    }
                    pending.insert(rx)
                }
            };
            match Pin::new(rx).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(answer) => {
                    *pending = None;
                    match answer {
                        Ok(answer) => {
                            if let Err(e) = buffer.pulled(answer) {
                                return Poll::Ready(Some(Err(e)));
                            }
                        }
                        Err(_) => return Poll::Ready(None),
                    }
                }
            }
        }
    }
}
