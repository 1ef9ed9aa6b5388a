//! A consumer handle's hold on the client's one consumer.

use std::sync::Arc;

use kafka_state::consumer::{ConsumedOffset, SeekTo};
use kafka_state::{ConsumerRecord, FetchedRecords, TopicPartition};

use crate::core::{Runtime, Shared, Wake};
use crate::{Error, RecordBuffer, Reply};

/// What every adapter's consumer is underneath: the client's one
/// consumer slot, its [`RecordBuffer`], and the commands on them, each
/// run under the core's lock from the caller. The adapter adds only how
/// it waits for a pull. Dropping the lease stores what was handed out
/// and frees the slot.
pub struct ConsumerLease<R: Runtime, W: Wake> {
    shared: Arc<Shared<R, W>>,
    buffer: RecordBuffer,
}

impl<R: Runtime, W: Wake> std::fmt::Debug for ConsumerLease<R, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerLease")
            .field("buffer", &self.buffer)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime, W: Wake> Drop for ConsumerLease<R, W> {
    fn drop(&mut self) {
        let buffer = &mut self.buffer;
        let _ = self.shared.command(|core, _| core.close_consumer(buffer));
    }
}

impl<R: Runtime, W: Wake> ConsumerLease<R, W> {
    /// Takes the client's consumer; [`Error::ConsumerInUse`] while
    /// another lease is alive.
    pub fn take(shared: &Arc<Shared<R, W>>) -> Result<Self, Error> {
        let buffer = shared.command(|core, _| core.open_consumer())??;
        Ok(Self {
            shared: Arc::clone(shared),
            buffer,
        })
    }

    fn reposition(
        &mut self,
        changed: Option<&[TopicPartition]>,
        f: impl FnOnce(&mut kafka_state::Client, std::time::Instant) -> Result<(), kafka_state::Misuse>,
    ) -> Result<(), Error> {
        let buffer = &mut self.buffer;
        self.shared
            .command(|core, now| core.reposition(buffer, now, changed, f))?
    }

    /// Replaces the assignment.
    pub fn assign(&mut self, partitions: Vec<TopicPartition>) -> Result<(), Error> {
        self.reposition(None, |c, now| c.consumer().assign(now, partitions))
    }

    /// Drops the whole assignment.
    pub fn unassign(&mut self) -> Result<(), Error> {
        self.reposition(None, |c, now| c.consumer().unassign(now))
    }

    /// Moves an assigned partition's position.
    pub fn seek(&mut self, partition: TopicPartition, to: SeekTo) -> Result<(), Error> {
        let tp = partition.clone();
        self.reposition(Some(&[tp]), move |c, now| {
            c.consumer().seek(now, &partition, to)
        })
    }

    /// Stops fetching `partitions` (or, with `resume`, starts again).
    pub fn pause(&self, partitions: Vec<TopicPartition>, resume: bool) -> Result<(), Error> {
        Ok(self.shared.command(|core, now| {
            let mut consumer = core.client.consumer();
            match resume {
                true => consumer.resume(now, partitions),
                false => consumer.pause(now, partitions),
            }
        })??)
    }

    /// Stores `record` as consumed.
    pub fn store_offset(&self, record: &ConsumerRecord) -> Result<(), Error> {
        Ok(self
            .shared
            .command(|core, _| core.client.consumer().store_record(record))??)
    }

    /// What a commit of `partition` would cover now.
    pub fn consumed(
        &mut self,
        partition: &TopicPartition,
    ) -> Result<Option<ConsumedOffset>, Error> {
        let buffer = &mut self.buffer;
        self.shared.command(|core, _| {
            core.sync_consumer(buffer);
            core.client.consumer().consumed(partition)
        })
    }

    /// The next offset to fetch of an assigned partition.
    pub fn position(&self, partition: &TopicPartition) -> Result<Option<i64>, Error> {
        self.shared
            .command(|core, _| core.client.consumer().position(partition))
    }

    /// Records between the position and the high watermark.
    pub fn lag(&self, partition: &TopicPartition) -> Result<Option<i64>, Error> {
        self.shared
            .command(|core, _| core.client.consumer().lag(partition))
    }

    /// The next buffered record, `None` when the buffer is empty (pull).
    /// Records of partitions the core took away are dropped first;
    /// corrupt data is handed back to the core, which reports it after
    /// the good records before it.
    pub fn next_record(&mut self) -> Result<Option<ConsumerRecord>, Error> {
        loop {
            match self.buffer.next_record() {
                Some(Ok(record)) => return Ok(Some(record)),
                Some(Err(corrupt)) => {
                    self.shared
                        .command(|core, now| corrupt.report(&mut core.client, now))?;
                }
                None if self.buffer.must_sync() => {
                    let buffer = &mut self.buffer;
                    self.shared.command(|core, _| core.sync_consumer(buffer))?;
                }
                None => return Ok(None),
            }
        }
    }

    /// Asks the core for records; `reply` gets them.
    pub fn pull(&mut self, reply: Reply<Vec<FetchedRecords>>) -> Result<(), Error> {
        let buffer = &mut self.buffer;
        self.shared
            .command(|core, now| core.pull(buffer, now, reply))
    }

    /// What a pull brought.
    pub fn pulled(&mut self, answer: Result<Vec<FetchedRecords>, Error>) -> Result<(), Error> {
        self.buffer.pulled(answer)
    }
}
