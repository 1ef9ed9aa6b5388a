//! The consumer: manual assignment, `poll(timeout)`, and one-shot
//! `fetch` / `offsets` for simple programs.

use std::collections::VecDeque;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_state::calls::{Offsets, Stale};
use kafka_state::consumer::{OffsetSpec, SeekTo};
use kafka_state::{ConsumerRecord, FetchedRecords, TopicPartition};

use crate::core::{reply, Core};
use crate::driver::Input;
use crate::{Client, Error};

/// Partitions' worth of fetched data taken per pull. Records are taken
/// from the core (which moves positions) only when `poll` asks.
const PULL_BATCHES: usize = 16;

/// One record, owning its parts (key, value and header values are
/// zero-copy slices of the fetch response).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The record's offset.
    pub offset: i64,
    /// The offset to read next after this record.
    pub next_offset: i64,
    /// Milliseconds since the Unix epoch (create or log-append time).
    pub timestamp: i64,
    /// The key, `None` for a null key.
    pub key: Option<Bytes>,
    /// The value, `None` for a null value.
    pub value: Option<Bytes>,
    /// Headers in order; keys may repeat.
    pub headers: Vec<(String, Option<Bytes>)>,
}

impl From<ConsumerRecord> for Message {
    fn from(r: ConsumerRecord) -> Self {
        Self {
            topic: r.topic.to_string(),
            partition: r.partition,
            offset: r.offset,
            next_offset: r.offset + 1,
            timestamp: r.timestamp,
            headers: r.headers.iter().map(|(k, v)| (k.to_string(), v)).collect(),
            key: r.key,
            value: r.value,
        }
    }
}

/// Where [`Consumer::offsets`] looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// The log start.
    Earliest,
    /// The log end (the next offset to be written).
    Latest,
    /// The first record at or after this time (ms since the epoch).
    Timestamp(i64),
}

/// The client's consumer. Get it with [`Client::consumer`]; settings
/// live in `config.consumer`.
///
/// Commands that move positions ([`Consumer::assign`],
/// [`Consumer::seek`], [`Consumer::unassign`]) also drop records of those
/// partitions taken but not yet returned, so the next record of a sought
/// partition is the one sought.
#[derive(Debug)]
pub struct Consumer {
    client: Client,
    /// A pull still on its way (a `poll` timed out before it came).
    pending: Option<mpsc::Receiver<Result<Vec<FetchedRecords>, Error>>>,
    stale: Stale,
    ready: VecDeque<FetchedRecords>,
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
        }
    }
}

impl Consumer {
    /// Replaces the assignment. New partitions start from
    /// `auto_offset_reset` unless sought.
    pub fn assign(
        &self,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<(), Error> {
        let tps: Vec<TopicPartition> = partitions.into_iter().collect();
        self.command(move |core, now| {
            core.calls.cancel_pull();
            core.client.consumer().assign(now, tps)
        })
    }

    /// Stops consuming everything.
    pub fn unassign(&mut self) -> Result<(), Error> {
        self.forget(None);
        self.command(|core, now| {
            core.calls.cancel_pull();
            core.client.consumer().unassign(now)
        })
    }

    /// Moves an assigned partition's position.
    pub fn seek(&mut self, partition: TopicPartition, to: SeekTo) -> Result<(), Error> {
        self.forget(Some(std::slice::from_ref(&partition)));
        self.command(move |core, now| {
            core.calls.cancel_pull();
            core.client.consumer().seek(now, &partition, to)
        })
    }

    /// Stops fetching these partitions until [`Consumer::resume`].
    pub fn pause(&self, partitions: impl IntoIterator<Item = TopicPartition>) -> Result<(), Error> {
        let tps: Vec<TopicPartition> = partitions.into_iter().collect();
        self.command(move |core, now| core.client.consumer().pause(now, tps))
    }

    /// Undoes [`Consumer::pause`].
    pub fn resume(
        &self,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<(), Error> {
        let tps: Vec<TopicPartition> = partitions.into_iter().collect();
        self.command(move |core, now| core.client.consumer().resume(now, tps))
    }

    /// Offsets of any partitions, per partition.
    pub fn offsets_for(
        &self,
        partitions: impl IntoIterator<Item = TopicPartition>,
        spec: OffsetSpec,
    ) -> Result<Offsets, Error> {
        let tps: Vec<TopicPartition> = partitions.into_iter().collect();
        self.client.call(
            move |core, now, reply| {
                let Core { client, calls, .. } = core;
                calls.offsets_for(client, now, tps, spec, reply);
            },
            self.client.handle.timeout,
        )
    }

    /// One partition's earliest or latest offset, or the first offset at
    /// or after a timestamp (`None`: no record that late).
    pub fn offsets(&self, topic: &str, partition: i32, at: Position) -> Result<Option<i64>, Error> {
        let spec = match at {
            Position::Earliest => OffsetSpec::Earliest,
            Position::Latest => OffsetSpec::Latest,
            Position::Timestamp(ts) => OffsetSpec::Timestamp(ts),
        };
        let tp = TopicPartition::new(topic, partition);
        let mut all = self.offsets_for([tp.clone()], spec)?;
        match all.remove(&tp) {
            Some(Ok(listed)) => Ok(listed.offset),
            Some(Err(e)) => Err(Error::Kafka {
                code: match e {
                    kafka_state::consumer::LookupError::Broker(code) => code,
                    _ => kafka_proto::ErrorCode::RequestTimedOut,
                },
                message: Some(format!("{tp}: {e}")),
            }),
            None => Err(Error::Closed),
        }
    }

    /// The next offset to be handed out for an assigned partition.
    pub fn position(&self, partition: TopicPartition) -> Result<Option<i64>, Error> {
        self.query(move |core| core.client.consumer().position(&partition))
    }

    /// Records between the position and the high watermark, as of the
    /// last fetch of the partition.
    pub fn lag(&self, partition: TopicPartition) -> Result<Option<i64>, Error> {
        self.query(move |core| core.client.consumer().lag(&partition))
    }

    /// Waits at most `timeout` for records of the assigned partitions and
    /// returns what has arrived (empty when nothing did). A partition that
    /// cannot be fetched is reported once as an error and waits for a seek.
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<Message>, Error> {
        if self.ready.is_empty() {
            let rx = match &self.pending {
                Some(rx) => rx,
                None => {
                    let (tx, rx) = mpsc::sync_channel(1);
                    let job = Box::new(move |core: &mut Core, now: Instant| {
                        let Core { client, calls, .. } = core;
                        calls.pull_records(client, now, PULL_BATCHES, reply(tx));
                    });
                    self.client
                        .handle
                        .inputs
                        .send(Input::Job(job))
                        .map_err(|_| Error::Closed)?;
                    self.pending.insert(rx)
                }
            };
            let answer = match rx.recv_timeout(timeout) {
                Ok(answer) => answer,
                // The pull stays on its way; the next poll picks it up.
                Err(mpsc::RecvTimeoutError::Timeout) => return Ok(Vec::new()),
                Err(mpsc::RecvTimeoutError::Disconnected) => Err(Error::Closed),
            };
            self.pending = None;
            let stale = std::mem::take(&mut self.stale);
            self.ready.extend(
                answer?
                    .into_iter()
                    .filter(|f| !stale.contains(f.partition())),
            );
        }
        let mut out = Vec::new();
        let mut damaged = false;
        while let Some(fetched) = self.ready.pop_front() {
            let mut records = fetched.into_iter();
            for r in records.by_ref() {
                match r {
                    Ok(r) => out.push(Message::from(r)),
                    Err(error) => {
                        self.report_corrupt(&records, error)?;
                        damaged = true;
                        break;
                    }
                }
            }
        }
        if out.is_empty() && damaged {
            // Nothing good to return: the next pull brings the error the
            // core reports for the damage.
            return self.poll(timeout);
        }
        Ok(out)
    }

    /// A record of `records` failed to decode while this consumer handed
    /// them out. Taking them had moved the core's position past all of
    /// them; the core puts it back at the bad record, stops the partition
    /// and reports it (partition and offset) on the next pull. The good
    /// records before it are kept: the caller returns them first.
    fn report_corrupt(
        &mut self,
        records: &kafka_state::consumer::IntoRecords,
        error: kafka_proto::DecodeError,
    ) -> Result<(), Error> {
        let fetched = records.fetched().clone();
        let offset = records.resume_offset();
        // Whatever else was taken of the partition lies past the bad record.
        self.ready.retain(|f| f.partition() != fetched.partition());
        let job = Box::new(move |core: &mut Core, now: Instant| {
            // Refused only for an offset outside the records; the
            // iterator's own never is.
            let _ = core
                .client
                .consumer()
                .report_corrupt(now, &fetched, offset, error);
        });
        self.client
            .handle
            .inputs
            .send(Input::Job(job))
            .map_err(|_| Error::Closed)
    }

    /// Drops records taken but not returned for `partitions` (all when
    /// `None`), including those of a pull still on its way.
    fn forget(&mut self, partitions: Option<&[TopicPartition]>) {
        let hit = |tp: &TopicPartition| partitions.is_none_or(|p| p.contains(tp));
        self.ready.retain(|f| !hit(f.partition()));
        if self.pending.is_some() {
            match partitions {
                None => self.stale = Stale::All,
                Some(tps) => self.stale.add(tps),
            }
        }
    }

    /// Reads records of one partition from `offset`: assigns only that
    /// partition (replacing the assignment), seeks, and returns the first
    /// records that arrive, about `max_bytes` of keys and values (at least
    /// one record). Empty if none arrived within the API timeout.
    pub fn fetch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
    ) -> Result<Vec<Message>, Error> {
        let tp = TopicPartition::new(topic, partition);
        self.assign([tp.clone()])?;
        self.seek(tp, SeekTo::Offset(offset))?;
        let deadline = Instant::now() + self.client.handle.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let got = self.poll(left.min(Duration::from_millis(100)))?;
            let mut out = Vec::new();
            let mut size = 0usize;
            for m in got.into_iter().filter(|m| m.offset >= offset) {
                size +=
                    m.key.as_ref().map_or(0, Bytes::len) + m.value.as_ref().map_or(0, Bytes::len);
                if !out.is_empty() && size > max_bytes {
                    break;
                }
                out.push(m);
            }
            if !out.is_empty() || left.is_zero() {
                return Ok(out);
            }
        }
    }

    fn command(
        &self,
        f: impl FnOnce(&mut Core, Instant) -> Result<(), kafka_state::Misuse> + Send + 'static,
    ) -> Result<(), Error> {
        self.client.call(
            move |core, now, reply| reply(f(core, now).map_err(Error::from)),
            self.client.handle.timeout,
        )
    }

    fn query<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Core) -> T + Send + 'static,
    ) -> Result<T, Error> {
        self.client.call(
            move |core, _, reply| reply(Ok(f(core))),
            self.client.handle.timeout,
        )
    }
}
