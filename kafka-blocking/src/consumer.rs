//! The consumer: partitions assigned by hand or by a consumer group, and
//! `poll(timeout)`.

use std::ops::ControlFlow;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_driver::{Committed, ConsumerLease, Rebalance};
use kafka_state::consumer::{ConsumedOffset, OffsetSpec, RecordView, SeekTo};
use kafka_state::group::GroupMetadata;
use kafka_state::{ConsumerRecord, FetchedRecords, TopicPartition};

use crate::driver::{Ext, Threads};
use crate::{Client, Error, Offsets};

/// The client's consumer. Get it with [`Client::consumer`]; settings
/// live in `config.consumer`.
///
/// Partitions come either from [`Consumer::assign`] or from the consumer
/// group in `config.group` through [`Consumer::subscribe`]. In a group,
/// [`Consumer::poll`] is what keeps the member in it: a member that does
/// not poll within `max_poll_interval` leaves (its partitions are lost)
/// and rejoins at its next poll. [`Consumer::on_rebalance`] is told of
/// assignment changes from inside `poll`.
///
/// A record's offset is stored as consumed once `poll` returns it
/// (unless `enable_auto_offset_store` is off: then call
/// [`Consumer::store_offset`] once it is processed). Commands that move
/// positions ([`Consumer::assign`], [`Consumer::seek`],
/// [`Consumer::unassign`]) drop records of those partitions taken but not
/// yet returned, so the next record of a sought partition is the one
/// sought; so does the core taking partitions away.
///
/// # Committing before partitions are revoked
///
/// With `GroupConfig::await_revoke`, the group member waits for the
/// application before it hands partitions over. [`Consumer::on_revoke`]
/// runs then, on the thread calling `poll`, outside the client's lock and
/// with the consumer itself, so it may [`Consumer::commit`]; the revoke
/// goes on when it returns. Without a hook, `poll` returns
/// `Err(Error::Revoking(partitions))` once instead, and the application
/// commits and calls [`Consumer::revoke_done`]. Either way the member
/// revokes after `GroupConfig::revoke_wait` at the latest.
#[derive(Debug)]
pub struct Consumer {
    client: Client,
    lease: ConsumerLease<Threads, Ext>,
    /// A pull still on its way (a `poll` timed out before it came).
    pending: Option<mpsc::Receiver<Result<Vec<FetchedRecords>, Error>>>,
    on_revoke: Option<RevokeHook>,
}

/// What [`Consumer::on_revoke`] runs.
type RevokeFn = Box<dyn FnMut(&mut Consumer, &[TopicPartition]) + Send>;

struct RevokeHook(RevokeFn);

impl std::fmt::Debug for RevokeHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RevokeHook")
    }
}

impl Client {
    /// The consumer of this client. A client has one assignment, so it
    /// has one consumer at a time: while one is alive this fails with
    /// [`Error::ConsumerInUse`].
    pub fn consumer(&self) -> Result<Consumer, Error> {
        Ok(Consumer {
            lease: ConsumerLease::take(&self.handle.shared)?,
            client: self.clone(),
            pending: None,
            on_revoke: None,
        })
    }
}

impl Consumer {
    /// Replaces the assignment. New partitions start from
    /// `auto_offset_reset` unless sought.
    pub fn assign(
        &mut self,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<(), Error> {
        self.lease.assign(partitions.into_iter().collect())
    }

    /// Assigns every partition of `topic` (read from metadata).
    pub fn assign_topic(&mut self, topic: &str) -> Result<Vec<TopicPartition>, Error> {
        let md = self.client.metadata([topic])?;
        let tps = md.partitions_of(topic).map_err(|code| Error::Kafka {
            code,
            message: Some(topic.to_string()),
        })?;
        self.lease.assign(tps.clone())?;
        Ok(tps)
    }

    /// Stops consuming everything.
    pub fn unassign(&mut self) -> Result<(), Error> {
        self.lease.unassign()
    }

    /// Moves an assigned partition's position: to an offset, the log's
    /// start or end, or the first record at or after a timestamp.
    pub fn seek(&mut self, partition: TopicPartition, to: SeekTo) -> Result<(), Error> {
        self.lease.seek(partition, to)
    }

    /// Stops fetching these partitions and withholds the records the core
    /// buffered for them until [`Consumer::resume`].
    pub fn pause(&self, partitions: impl IntoIterator<Item = TopicPartition>) -> Result<(), Error> {
        self.lease.pause(partitions.into_iter().collect(), false)
    }

    /// Undoes [`Consumer::pause`].
    pub fn resume(
        &self,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<(), Error> {
        self.lease.pause(partitions.into_iter().collect(), true)
    }

    /// What a commit of `partition` would cover now: the offset after
    /// the last record returned (or stored with
    /// [`Consumer::store_offset`]) and its leader epoch; `None` before
    /// any.
    pub fn consumed(
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
    pub fn offsets(
        &self,
        partitions: impl IntoIterator<Item = TopicPartition>,
        spec: OffsetSpec,
    ) -> Result<Offsets, Error> {
        self.client.offsets(partitions, spec)
    }

    /// Joins the consumer group of `config.group`, consuming `topics`;
    /// calling it again changes the subscription. Each partition the
    /// group assigns starts at the group's committed offset (else per
    /// `auto_offset_reset`). Fails without a group configured or with a
    /// manual assignment in place.
    pub fn subscribe<S: Into<String>>(
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
    pub fn subscribe_regex(&mut self, pattern: impl Into<String>) -> Result<(), Error> {
        self.lease.subscribe_regex(pattern.into())
    }

    /// Leaves the group: with auto-commit, what was consumed is committed
    /// first; every partition is revoked.
    pub fn unsubscribe(&mut self) -> Result<(), Error> {
        self.lease.unsubscribe()
    }

    /// Commits the consumed offset of every owned partition (the records
    /// `poll` returned, or those stored with [`Consumer::store_offset`])
    /// and returns what was committed. [`Error::Commit`] names partitions
    /// that were not; its [`is_retriable`](Error::is_retriable) says
    /// whether to try again after the rebalance that refused it.
    pub fn commit(&mut self) -> Result<Committed, Error> {
        self.commit_inner(None)
    }

    /// Commits the given offsets (each the next record to consume) of
    /// owned partitions.
    pub fn commit_offsets(&mut self, offsets: Committed) -> Result<Committed, Error> {
        self.commit_inner(Some(offsets))
    }

    fn commit_inner(&mut self, offsets: Option<Committed>) -> Result<Committed, Error> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.lease.commit(
            offsets,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        )?;
        // The core fails the commit itself after the API timeout; the
        // handle's timeout is a margin beyond that.
        match rx.recv_timeout(self.client.handle.timeout) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(Error::Timeout),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(Error::Closed),
        }
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

    /// Calls `listener` for every later assignment change, on the thread
    /// calling [`Consumer::poll`], before `poll` returns a record of a
    /// newly assigned partition and after it stopped returning those of a
    /// revoked or lost one. A revoke is reported after the fact: with
    /// auto-commit the member committed the partitions' consumed offsets
    /// before giving them up. To commit before, see
    /// [`Consumer::on_revoke`].
    pub fn on_rebalance(&mut self, listener: impl FnMut(Rebalance) + Send + 'static) {
        self.lease.set_listener(Some(Box::new(listener)));
    }

    /// Runs `hook` with the consumer and the partitions when the group
    /// member is about to revoke them and waits for the application
    /// (`GroupConfig::await_revoke`; see
    /// [committing before partitions are revoked](Consumer#committing-before-partitions-are-revoked)),
    /// from inside [`Consumer::poll`] on its thread. The hook may commit
    /// ([`Consumer::commit`] covers every record `poll` returned); the
    /// revoke goes on once it returns. Replaces an earlier hook.
    ///
    /// ```no_run
    /// # fn run(mut consumer: kafka_blocking::Consumer) {
    /// consumer.on_revoke(|consumer, partitions| {
    ///     if let Err(e) = consumer.commit() {
    ///         eprintln!("last commit of {partitions:?} failed: {e}");
    ///     }
    /// });
    /// # }
    /// ```
    pub fn on_revoke(
        &mut self,
        hook: impl FnMut(&mut Consumer, &[TopicPartition]) + Send + 'static,
    ) {
        self.on_revoke = Some(RevokeHook(Box::new(hook)));
    }

    /// Lets a revoke the group member waits with go on (after `poll`
    /// returned `Err(Error::Revoking(..))`); the hook of
    /// [`Consumer::on_revoke`] needs no call. Does nothing when no revoke
    /// waits.
    pub fn revoke_done(&mut self) -> Result<(), Error> {
        self.lease.revoke_done()
    }

    /// Hands a revoke the member waits with to the hook (then lets it go
    /// on), or to the caller as `Err(Error::Revoking)`.
    fn answer_revoke(&mut self) -> Result<(), Error> {
        let Some(partitions) = self.lease.take_revoking()? else {
            return Ok(());
        };
        let Some(mut hook) = self.on_revoke.take() else {
            return Err(Error::Revoking(partitions));
        };
        (hook.0)(self, &partitions);
        // The hook may have set a new one.
        self.on_revoke.get_or_insert(hook);
        self.lease.revoke_done()
    }

    /// The next offset to be fetched for an assigned partition.
    pub fn position(&self, partition: TopicPartition) -> Result<Option<i64>, Error> {
        self.lease.position(&partition)
    }

    /// Records between the position and the high watermark, as of the
    /// last fetch of the partition.
    pub fn lag(&self, partition: TopicPartition) -> Result<Option<i64>, Error> {
        self.lease.lag(&partition)
    }

    /// Waits at most `timeout` for records of the assigned partitions and
    /// returns what has arrived (empty when nothing did). A partition that
    /// cannot be fetched is reported once as an error and waits for a
    /// seek; records returned before the error are kept.
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            self.answer_revoke()?;
            let out = self.take(usize::MAX)?;
            if !out.is_empty() {
                return Ok(out);
            }
            if self.lease.revoke_pending() {
                continue;
            }
            if !self.wait_pull(deadline)? {
                return Ok(Vec::new());
            }
        }
    }

    /// Waits at most `timeout` for records, then lends each buffered one
    /// to `f` in turn, until none is left or `f` returns
    /// [`ControlFlow::Break`] (the rest stays for the next call); returns
    /// how many were lent, 0 when none arrived in time.
    ///
    /// The cheapest way to consume: a [`RecordView`] borrows the fetched
    /// bytes, so nothing is allocated or reference-counted per record. Use
    /// it when each record is handled in the call, and
    /// [`RecordView::to_record`] or [`Consumer::poll`] for records to keep.
    /// Offsets are stored, revokes answered and errors reported as `poll`
    /// does them, and the two may be mixed.
    ///
    /// ```no_run
    /// # fn run(mut consumer: kafka_blocking::Consumer) -> Result<(), kafka_blocking::Error> {
    /// use std::ops::ControlFlow;
    /// use std::time::Duration;
    ///
    /// let mut sum = 0u64;
    /// consumer.lend(Duration::from_secs(1), |record| {
    ///     sum += record.value.map_or(0, |v| v.iter().map(|&b| u64::from(b)).sum());
    ///     ControlFlow::Continue(())
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn lend<F>(&mut self, timeout: Duration, mut f: F) -> Result<usize, Error>
    where
        F: FnMut(RecordView<'_>) -> ControlFlow<()>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            self.answer_revoke()?;
            let lent = self.lease.lend_records(&mut f)?;
            if lent > 0 {
                return Ok(lent);
            }
            if self.lease.revoke_pending() {
                continue;
            }
            if !self.wait_pull(deadline)? {
                return Ok(0);
            }
        }
    }

    /// Records already buffered, up to about `max_bytes` of keys and values
    /// (at least one); the rest stays buffered.
    fn take(&mut self, max_bytes: usize) -> Result<Vec<ConsumerRecord>, Error> {
        let mut out = Vec::new();
        let mut size = 0usize;
        while size < max_bytes && !self.lease.revoke_pending() {
            let Some(r) = self.lease.next_record()? else {
                break;
            };
            size += r.key.as_ref().map_or(0, Bytes::len) + r.value.as_ref().map_or(0, Bytes::len);
            out.push(r);
        }
        Ok(out)
    }

    /// Waits for a pull until `deadline`; false if none came by then (it
    /// stays on its way for the next poll).
    fn wait_pull(&mut self, deadline: Instant) -> Result<bool, Error> {
        let rx = match &self.pending {
            Some(rx) => rx,
            None => {
                let (tx, rx) = mpsc::sync_channel(1);
                self.lease.pull(Box::new(move |r| {
                    let _ = tx.send(r);
                }))?;
                self.pending.insert(rx)
            }
        };
        let answer = match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(answer) => answer,
            Err(mpsc::RecvTimeoutError::Timeout) => return Ok(false),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(Error::Closed),
        };
        self.pending = None;
        self.lease.pulled(answer)?;
        Ok(true)
    }

    /// Reads records of one partition from `offset`: assigns only that
    /// partition (replacing the assignment), seeks, and returns the first
    /// records that arrive, about `max_bytes` of keys and values (at least
    /// one record; the rest stays for the next `poll`). Empty if none
    /// arrived within the API timeout.
    pub fn fetch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
    ) -> Result<Vec<ConsumerRecord>, Error> {
        let tp = TopicPartition::new(topic, partition);
        self.assign([tp.clone()])?;
        self.seek(tp, SeekTo::Offset(offset))?;
        let deadline = Instant::now() + self.client.handle.timeout;
        loop {
            let out = self.take(max_bytes)?;
            if !out.is_empty() || !self.wait_pull(deadline)? {
                return Ok(out);
            }
        }
    }
}
