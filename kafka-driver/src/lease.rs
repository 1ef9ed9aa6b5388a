//! A consumer handle's hold on the client's one consumer.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use kafka_state::consumer::{ConsumedOffset, RecordView, SeekTo};
use kafka_state::group::{GroupMetadata, OffsetAndMetadata};
use kafka_state::{ConsumerRecord, FetchedRecords, TopicPartition};

use crate::calls::{Committed, Rebalance};
use crate::core::{Runtime, Shared, Wake};
use crate::{Error, Lending, RecordBuffer, Reply};

/// The application's rebalance listener: called on the consumer's own
/// task or thread, from inside its next poll, once per assignment change,
/// outside the core's lock. A [`Rebalance::Revoking`] is also kept for
/// the adapter ([`ConsumerLease::take_revoking`]), which lets the
/// application commit before it calls [`ConsumerLease::revoke_done`].
pub type RebalanceListener = Box<dyn FnMut(Rebalance) + Send>;

/// What every adapter's consumer is underneath: the client's one
/// consumer slot, its [`RecordBuffer`], and the commands on them, each
/// run under the core's lock from the caller. The adapter adds only how
/// it waits for a pull. Dropping the lease stores what was handed out
/// and frees the slot.
pub struct ConsumerLease<R: Runtime, W: Wake> {
    shared: Arc<Shared<R, W>>,
    buffer: RecordBuffer,
    listener: Option<RebalanceListener>,
    /// Partitions announced as revoking that the adapter has not handed
    /// the application yet.
    revoking: Vec<TopicPartition>,
}

impl<R: Runtime, W: Wake> std::fmt::Debug for ConsumerLease<R, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerLease")
            .field("buffer", &self.buffer)
            .field("listener", &self.listener.is_some())
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
            listener: None,
            revoking: Vec::new(),
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

    /// Joins the configured consumer group consuming `topics` (replacing
    /// an earlier subscription).
    pub fn subscribe(&mut self, topics: Vec<String>) -> Result<(), Error> {
        Ok(self
            .shared
            .command(|core, now| core.client.consumer().subscribe(now, topics))??)
    }

    /// Joins the configured consumer group consuming the topics whose
    /// names match `pattern`, matched by the broker (needs
    /// `GroupProtocol::Consumer`; replaces an earlier subscription).
    pub fn subscribe_regex(&mut self, pattern: String) -> Result<(), Error> {
        Ok(self
            .shared
            .command(|core, now| core.client.consumer().subscribe_regex(now, pattern))??)
    }

    /// Leaves the group. What was yielded is stored first, so the
    /// automatic commit on leaving covers it.
    pub fn unsubscribe(&mut self) -> Result<(), Error> {
        let buffer = &mut self.buffer;
        self.shared.command(|core, now| {
            core.sync_consumer(buffer);
            core.client.consumer().unsubscribe(now)
        })??;
        Ok(())
    }

    /// Commits `offsets` (all yielded or stored records of owned
    /// partitions when `None`) to the group; `reply` gets the outcome.
    pub fn commit(
        &mut self,
        offsets: Option<Committed>,
        reply: Reply<Committed>,
    ) -> Result<(), Error> {
        let buffer = &mut self.buffer;
        self.shared.command(|core, now| {
            core.sync_consumer(buffer);
            core.calls.commit(&mut core.client, now, offsets, reply);
        })
    }

    /// Offsets the coordinator acknowledged for this member's commits.
    pub fn committed(&self) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>, Error> {
        self.shared
            .command(|core, _| core.client.consumer().committed())
    }

    /// The member's group, generation and ids; `None` without a group.
    pub fn group_metadata(&self) -> Result<Option<GroupMetadata>, Error> {
        self.shared
            .command(|core, _| core.client.consumer().group_metadata())
    }

    /// The partitions assigned now (by hand or by the group).
    pub fn assignment(&self) -> Result<Vec<TopicPartition>, Error> {
        self.shared
            .command(|core, _| core.client.consumer().assignment())
    }

    /// The subscribed topics; empty when not subscribed.
    pub fn subscription(&self) -> Result<Vec<String>, Error> {
        self.shared
            .command(|core, _| core.client.consumer().subscription())
    }

    /// Sets the listener told of every assignment change from now on
    /// (replacing an earlier one).
    pub fn set_listener(&mut self, listener: Option<RebalanceListener>) {
        self.listener = listener;
    }

    /// Hands the changes seen at syncs to the listener, outside the
    /// core's lock (the listener may call into the client).
    fn notify(&mut self) {
        let changes = self.buffer.take_changes();
        for change in &changes {
            if let Rebalance::Revoking(tps) = change {
                self.revoking.extend_from_slice(tps);
            }
        }
        if let Some(listener) = &mut self.listener {
            for change in changes {
                listener(change);
            }
        }
    }

    /// Whether partitions were announced as revoking that the adapter has
    /// not handed the application yet ([`ConsumerLease::take_revoking`]).
    pub fn revoke_pending(&self) -> bool {
        !self.revoking.is_empty()
    }

    /// The partitions announced as revoking since the last call, those of
    /// them the member still waits with (the wait may have run out, or
    /// the partitions been lost, meanwhile); `None` when there are none.
    /// The adapter hands them to the application, which commits and then
    /// calls [`ConsumerLease::revoke_done`].
    pub fn take_revoking(&mut self) -> Result<Option<Vec<TopicPartition>>, Error> {
        if self.revoking.is_empty() {
            return Ok(None);
        }
        let mut announced = std::mem::take(&mut self.revoking);
        let waiting = self
            .shared
            .command(|core, _| core.client.consumer().revoking())?;
        announced.retain(|tp| waiting.contains(tp));
        announced.sort();
        announced.dedup();
        Ok((!announced.is_empty()).then_some(announced))
    }

    /// The application is done with the partitions announced as
    /// revoking: the member revokes them and rejoins or leaves. What was
    /// yielded is stored first. Nothing happens when no revoke waits.
    pub fn revoke_done(&mut self) -> Result<(), Error> {
        self.revoking.clear();
        let buffer = &mut self.buffer;
        self.shared.command(|core, now| {
            core.sync_consumer(buffer);
            core.client.consumer().revoke_done(now)
        })??;
        Ok(())
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
                    self.notify();
                }
                None => {
                    // Changes a pull's or a command's sync picked up.
                    self.notify();
                    return Ok(None);
                }
            }
        }
    }

    /// Lends buffered records to `f` until none is left, `f` breaks, or
    /// a revoke must go to the application first; returns how many were
    /// lent (none: pull). Records of partitions the core took away are
    /// dropped first, and corrupt data is handed back to the core, as
    /// [`next_record`](Self::next_record) does.
    pub fn lend_records<F>(&mut self, f: &mut F) -> Result<usize, Error>
    where
        F: FnMut(RecordView<'_>) -> ControlFlow<()>,
    {
        let mut lent = 0;
        loop {
            match self.buffer.lend(f, &mut lent) {
                Lending::Stopped => return Ok(lent),
                Lending::Corrupt(corrupt) => {
                    self.shared
                        .command(|core, now| corrupt.report(&mut core.client, now))?;
                }
                Lending::Empty if self.buffer.must_sync() => {
                    let buffer = &mut self.buffer;
                    self.shared.command(|core, _| core.sync_consumer(buffer))?;
                    self.notify();
                    if self.revoke_pending() {
                        return Ok(lent);
                    }
                }
                Lending::Empty => {
                    self.notify();
                    return Ok(lent);
                }
            }
        }
    }

    /// Asks the core for records; `reply` gets them.
    pub fn pull(&mut self, reply: Reply<Vec<FetchedRecords>>) -> Result<(), Error> {
        let buffer = &mut self.buffer;
        self.shared
            .command(|core, now| core.pull(buffer, now, reply))?;
        self.notify();
        Ok(())
    }

    /// What a pull brought.
    pub fn pulled(&mut self, answer: Result<Vec<FetchedRecords>, Error>) -> Result<(), Error> {
        self.buffer.pulled(answer)
    }
}
