//! The consumer: a stream of records with manual assignment.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_core::Stream;
use kafka_state::calls::Offsets;
use kafka_state::consumer::{IntoRecords, OffsetSpec, SeekTo};
use kafka_state::{ConsumerRecord, FetchedRecords, TopicPartition};
use tokio::sync::mpsc;

use crate::core::Core;
use crate::{Client, Error};

/// Fetched data handed to the stream but not yet read, per consumer.
/// Small: each item is one partition's share of a fetch response, and
/// taking one moves that partition's position.
const STREAM_QUEUE: usize = 4;

/// The client's consumer: a [`Stream`] of records from the assigned
/// partitions, plus the commands that steer it. Get it with
/// [`Client::consumer`]; settings live in `config.consumer`.
///
/// Records come in offset order per partition. Keys and values are
/// slices of the fetch response (no copy). A partition that cannot be
/// fetched yields one `Err` item and waits for a [`Consumer::seek`].
#[derive(Debug)]
pub struct Consumer {
    client: Client,
    rx: mpsc::Receiver<Result<FetchedRecords, Error>>,
    current: Option<IntoRecords>,
}

impl Client {
    /// The consumer of this client. The core has one assignment per
    /// client; creating a consumer again replaces the earlier one, whose
    /// stream then ends.
    pub fn consumer(&self) -> Consumer {
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        let _ = self
            .jobs
            .send(Box::new(move |core: &mut Core, now: Instant| {
                core.records = Some(tx);
                core.pump_records(now);
            }));
        Consumer {
            client: self.clone(),
            rx,
            current: None,
        }
    }
}

impl Consumer {
    /// Replaces the assignment. New partitions start from
    /// `auto_offset_reset` unless sought.
    pub async fn assign(
        &self,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<(), Error> {
        let tps: Vec<TopicPartition> = partitions.into_iter().collect();
        self.command(move |core, now| core.client.consumer().assign(now, tps))
            .await
    }

    /// Assigns every partition of `topic` (read from metadata).
    pub async fn assign_topic(&self, topic: &str) -> Result<Vec<TopicPartition>, Error> {
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
    pub async fn unassign(&self) -> Result<(), Error> {
        self.command(|core, now| core.client.consumer().unassign(now))
            .await
    }

    /// Moves an assigned partition's position: to an offset, the log's
    /// start or end, or the first record at or after a timestamp.
    pub async fn seek(&self, partition: TopicPartition, to: SeekTo) -> Result<(), Error> {
        self.command(move |core, now| core.client.consumer().seek(now, &partition, to))
            .await
    }

    /// Stops fetching these partitions and withholds their buffered
    /// records until [`Consumer::resume`].
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
        loop {
            if let Some(records) = &mut self.current {
                match records.next() {
                    Some(r) => return Poll::Ready(Some(r.map_err(Error::Corrupt))),
                    None => self.current = None,
                }
            }
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(Ok(fetched))) => {
                    self.current = Some(fetched.into_iter());
                    // Room in the queue again: let the driver refill it.
                    let _ = self
                        .client
                        .jobs
                        .send(Box::new(|core: &mut Core, now: Instant| {
                            core.pump_records(now);
                        }));
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
