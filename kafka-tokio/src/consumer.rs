//! The consumer: a stream of records with manual assignment.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_core::Stream;
use kafka_state::calls::{Offsets, Stale};
use kafka_state::consumer::{IntoRecords, OffsetSpec, SeekTo};
use kafka_state::{ConsumerRecord, FetchedRecords, TopicPartition};
use tokio::sync::oneshot;

use crate::core::{reply, Core};
use crate::{Client, Error};

/// Partitions' worth of fetched data taken per pull. Records are taken
/// from the core (which moves positions) only when the stream asks.
const PULL_BATCHES: usize = 16;

/// The client's consumer: a [`Stream`] of records from the assigned
/// partitions, plus the commands that steer it. Get it with
/// [`Client::consumer`]; settings live in `config.consumer`.
///
/// Records come in offset order per partition. Keys and values are
/// slices of the fetch response (no copy). A partition that cannot be
/// fetched yields one `Err` item and waits for a [`Consumer::seek`].
///
/// Commands that move positions ([`Consumer::assign`],
/// [`Consumer::seek`], [`Consumer::unassign`]) also drop records of those
/// partitions that the stream took but has not yielded yet, so the next
/// record of a sought partition is the one sought.
#[derive(Debug)]
pub struct Consumer {
    client: Client,
    pending: Option<oneshot::Receiver<Result<Vec<FetchedRecords>, Error>>>,
    stale: Stale,
    ready: VecDeque<FetchedRecords>,
    current: Option<IntoRecords>,
}

impl Client {
    /// The consumer of this client. The core has one assignment per
    /// client, shared by every consumer made from it: use one.
    pub fn consumer(&self) -> Consumer {
        Consumer {
            client: self.clone(),
            pending: None,
            stale: Stale::Nothing,
            ready: VecDeque::new(),
            current: None,
        }
    }
}

impl Consumer {
    /// Replaces the assignment. New partitions start from
    /// `auto_offset_reset` unless sought.
    pub async fn assign(
        &mut self,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<(), Error> {
        let tps: Vec<TopicPartition> = partitions.into_iter().collect();
        self.forget(None);
        self.command(move |core, now| {
            core.calls.cancel_pull();
            core.client.consumer().assign(now, tps)
        })
        .await
    }

    /// Assigns every partition of `topic` (read from metadata).
    pub async fn assign_topic(&mut self, topic: &str) -> Result<Vec<TopicPartition>, Error> {
        let md = self.client.metadata([topic]).await?;
        let t = md
            .topic(topic)
            .filter(|t| !t.error.is_error())
            .ok_or_else(|| Error::Kafka {
                code: md
                    .topic(topic)
                    .map_or(kafka_proto::ErrorCode::UnknownTopicOrPartition, |t| t.error),
                message: Some(topic.to_string()),
            })?;
        let tps: Vec<TopicPartition> = t
            .partitions
            .iter()
            .map(|p| TopicPartition::new(topic, p.partition))
            .collect();
        self.assign(tps.clone()).await?;
        Ok(tps)
    }

    /// Stops consuming everything.
    pub async fn unassign(&mut self) -> Result<(), Error> {
        self.forget(None);
        self.command(|core, now| {
            core.calls.cancel_pull();
            core.client.consumer().unassign(now)
        })
        .await
    }

    /// Moves an assigned partition's position: to an offset, the log's
    /// start or end, or the first record at or after a timestamp.
    pub async fn seek(&mut self, partition: TopicPartition, to: SeekTo) -> Result<(), Error> {
        self.forget(Some(std::slice::from_ref(&partition)));
        self.command(move |core, now| {
            core.calls.cancel_pull();
            core.client.consumer().seek(now, &partition, to)
        })
        .await
    }

    /// Stops fetching these partitions and withholds the records the core
    /// buffered for them until [`Consumer::resume`]. Records the stream
    /// already took are still yielded.
    pub async fn pause(
        &self,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<(), Error> {
        let tps: Vec<TopicPartition> = partitions.into_iter().collect();
        self.command(move |core, now| core.client.consumer().pause(now, tps))
            .await
    }

    /// Undoes [`Consumer::pause`].
    pub async fn resume(
        &self,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<(), Error> {
        let tps: Vec<TopicPartition> = partitions.into_iter().collect();
        self.command(move |core, now| core.client.consumer().resume(now, tps))
            .await
    }

    /// Earliest, latest or by-timestamp offsets of any partitions.
    pub async fn offsets(
        &self,
        partitions: impl IntoIterator<Item = TopicPartition>,
        spec: OffsetSpec,
    ) -> Result<Offsets, Error> {
        let tps: Vec<TopicPartition> = partitions.into_iter().collect();
        self.client
            .call(move |core, now, reply| {
                let Core { client, calls, .. } = core;
                calls.offsets_for(client, now, tps, spec, reply);
            })
            .await
    }

    /// The next offset to be handed out for an assigned partition.
    pub async fn position(&self, partition: TopicPartition) -> Result<Option<i64>, Error> {
        self.client
            .call(move |core, _, reply| reply(Ok(core.client.consumer().position(&partition))))
            .await
    }

    /// Records between the position and the high watermark, as of the
    /// last fetch of the partition.
    pub async fn lag(&self, partition: TopicPartition) -> Result<Option<i64>, Error> {
        self.client
            .call(move |core, _, reply| reply(Ok(core.client.consumer().lag(&partition))))
            .await
    }

    /// Drops records taken but not yielded for `partitions` (all when
    /// `None`), including those of a pull still on its way.
    fn forget(&mut self, partitions: Option<&[TopicPartition]>) {
        let hit = |tp: &TopicPartition| partitions.is_none_or(|p| p.contains(tp));
        if self
            .current
            .as_ref()
            .is_some_and(|c| hit(c.fetched().partition()))
        {
            self.current = None;
        }
        self.ready.retain(|f| !hit(f.partition()));
        if self.pending.is_some() {
            match partitions {
                None => self.stale = Stale::All,
                Some(tps) => self.stale.add(tps),
            }
        }
    }

    async fn command(
        &self,
        f: impl FnOnce(&mut Core, Instant) -> Result<(), kafka_state::Misuse> + Send + 'static,
    ) -> Result<(), Error> {
        self.client
            .call(move |core, now, reply| reply(f(core, now).map_err(Error::from)))
            .await
    }
}

impl Stream for Consumer {
    type Item = Result<ConsumerRecord, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(records) = &mut this.current {
                match records.next() {
                    Some(Ok(r)) => return Poll::Ready(Some(Ok(r))),
                    Some(Err(error)) => {
                        // Taking the records moved the core's position past
                        // all of them. Hand the damage back: the core puts
                        // the position at the bad record, stops the
                        // partition and reports it (partition and offset)
                        // on the next pull, after the records before it.
                        let fetched = records.fetched().clone();
                        let offset = records.resume_offset();
                        this.current = None;
                        // Whatever else was taken of the partition lies
                        // past the bad record.
                        this.ready.retain(|f| f.partition() != fetched.partition());
                        let job = Box::new(move |core: &mut Core, now: Instant| {
                            // Refused only for an offset outside the
                            // records; the iterator's own never is.
                            let _ = core
                                .client
                                .consumer()
                                .report_corrupt(now, &fetched, offset, error);
                        });
                        if this.client.jobs.send(job).is_err() {
                            return Poll::Ready(None);
                        }
                        continue;
                    }
                    None => this.current = None,
                }
            }
            if let Some(next) = this.ready.pop_front() {
                this.current = Some(next.into_iter());
                continue;
            }
            let rx = match &mut this.pending {
                Some(rx) => rx,
                None => {
                    let (tx, rx) = oneshot::channel();
                    let job = Box::new(move |core: &mut Core, now: Instant| {
                        let Core { client, calls, .. } = core;
                        calls.pull_records(client, now, PULL_BATCHES, reply(tx));
                    });
                    if this.client.jobs.send(job).is_err() {
                        return Poll::Ready(None);
                    }
                    this.pending.insert(rx)
                }
            };
            match Pin::new(rx).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(answer) => {
                    this.pending = None;
                    let stale = std::mem::take(&mut this.stale);
                    match answer {
                        Ok(Ok(batches)) => this.ready.extend(
                            batches
                                .into_iter()
                                .filter(|f| !stale.contains(f.partition())),
                        ),
                        Ok(Err(e)) => return Poll::Ready(Some(Err(e))),
                        Err(_) => return Poll::Ready(None),
                    }
                }
            }
        }
    }
}
