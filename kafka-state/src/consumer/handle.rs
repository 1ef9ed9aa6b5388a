//! The borrowed handle: the consumer's public command surface.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use kafka_proto::DecodeError;

use super::{ConsumedOffset, OffsetSpec, SeekTo};
use crate::admin::check_topic_name;
use crate::error::Misuse;
use crate::group::{GroupMetadata, OffsetAndMetadata};
use crate::router::RequestId;
use crate::{Client, ConsumerRecord, FetchedRecords, TopicPartition};

/// Borrowed handle for the consumer; see [`Client::consumer`].
#[derive(Debug)]
pub struct Consumer<'a> {
    pub(crate) client: &'a mut Client,
}

fn check_partitions(tps: &[TopicPartition]) -> Result<(), Misuse> {
    for tp in tps {
        check_topic_name(&tp.topic)?;
        if tp.partition < 0 {
            return Err(Misuse::InvalidPartition(tp.clone()));
        }
    }
    Ok(())
}

impl Consumer<'_> {
    /// Replaces the assignment. Partitions kept keep their positions;
    /// new ones start where `auto_offset_reset` says. Reports
    /// [`ConsumerEvent::PartitionsRevoked`](super::ConsumerEvent::PartitionsRevoked)
    /// for those dropped, then
    /// [`ConsumerEvent::PartitionsAssigned`](super::ConsumerEvent::PartitionsAssigned)
    /// for the new ones. Fails while subscribed to a group
    /// ([`Misuse::Subscribed`]).
    pub fn assign(
        &mut self,
        now: Instant,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<(), Misuse> {
        let tps: Vec<TopicPartition> = partitions.into_iter().collect();
        check_partitions(&tps)?;
        self.check_not_subscribed()?;
        let c = self.start(now)?;
        c.consumer
            .assign(c.now, tps, &mut c.metadata, &mut c.events);
        c.pump();
        Ok(())
    }

    /// Drops the whole assignment and everything buffered for it, and
    /// reports it as
    /// [`ConsumerEvent::PartitionsRevoked`](super::ConsumerEvent::PartitionsRevoked).
    /// Fails while subscribed to a group ([`Misuse::Subscribed`]).
    pub fn unassign(&mut self, now: Instant) -> Result<(), Misuse> {
        self.check_not_subscribed()?;
        let c = self.start(now)?;
        c.consumer
            .assign(c.now, Vec::new(), &mut c.metadata, &mut c.events);
        c.pump();
        Ok(())
    }

    /// Moves an assigned partition's position. Buffered records of the
    /// partition are dropped; a stopped partition fetches again. The
    /// consumed offset is left as it is, as in the Java client: it follows
    /// once a record at the new position is stored.
    pub fn seek(
        &mut self,
        now: Instant,
        partition: &TopicPartition,
        to: SeekTo,
    ) -> Result<(), Misuse> {
        match to {
            SeekTo::Offset(o) if o < 0 => return Err(Misuse::InvalidOffset(o)),
            SeekTo::Timestamp(ts) if ts < 0 => return Err(Misuse::InvalidOffset(ts)),
            _ => {}
        }
        self.client.check_usable()?;
        self.check_assigned(std::slice::from_ref(partition))?;
        let c = self.start(now)?;
        c.consumer.seek(c.now, partition, to);
        c.pump();
        Ok(())
    }

    /// Stops fetching the partitions and withholds their buffered records.
    pub fn pause(
        &mut self,
        now: Instant,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<(), Misuse> {
        self.set_paused(now, partitions, true)
    }

    /// Undoes [`Consumer::pause`].
    pub fn resume(
        &mut self,
        now: Instant,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<(), Misuse> {
        self.set_paused(now, partitions, false)
    }

    fn set_paused(
        &mut self,
        now: Instant,
        partitions: impl IntoIterator<Item = TopicPartition>,
        paused: bool,
    ) -> Result<(), Misuse> {
        let tps: Vec<TopicPartition> = partitions.into_iter().collect();
        self.client.check_usable()?;
        self.check_assigned(&tps)?;
        let c = self.start(now)?;
        for tp in &tps {
            if let Some(p) = c.consumer.parts.get_mut(tp) {
                p.paused = paused;
            }
        }
        c.pump();
        Ok(())
    }

    /// The offset of the next record the application gets for an assigned
    /// partition; `None` while an offset lookup sets it, or while it has
    /// none and waits for a seek ([`ConsumerEvent::NeedsPosition`](super::ConsumerEvent::NeedsPosition)).
    /// It runs ahead of what the application processed: commit
    /// [`Consumer::consumed`], not this.
    pub fn position(&self, partition: &TopicPartition) -> Option<i64> {
        self.client.consumer.position(partition)
    }

    /// Stores how far the application has consumed an assigned partition:
    /// `next_offset` is the offset of the next record it has **not**
    /// processed (the last processed record's offset plus one), and
    /// `leader_epoch` that record's [`ConsumerRecord::leader_epoch`]. This
    /// is the value a group commits; see
    /// [consumed offsets](super#consumed-offsets-positions-and-commits).
    ///
    /// For applications that process records after taking them; the
    /// adapters store every record they yield with
    /// [`Consumer::store_record`]. The offset replaces the stored one even
    /// if it is lower (an application that rewinds commits the rewind).
    /// Fails if the partition is not assigned or `next_offset` is negative.
    pub fn store_offset(
        &mut self,
        partition: &TopicPartition,
        next_offset: i64,
        leader_epoch: Option<i32>,
    ) -> Result<(), Misuse> {
        if next_offset < 0 {
            return Err(Misuse::InvalidOffset(next_offset));
        }
        let consumed = ConsumedOffset::new(next_offset, leader_epoch);
        if self.client.consumer.store(partition, consumed) {
            Ok(())
        } else {
            Err(Misuse::NotAssigned(partition.clone()))
        }
    }

    /// Stores `record` as handed to the application: the consumed offset
    /// of its partition becomes `record.offset + 1` with the record's
    /// leader epoch. The same as [`Consumer::store_offset`] with those
    /// values, so the `+ 1` is never the caller's to remember.
    pub fn store_record(&mut self, record: &ConsumerRecord) -> Result<(), Misuse> {
        let next = record
            .offset
            .checked_add(1)
            .filter(|n| *n > 0)
            .ok_or(Misuse::InvalidOffset(record.offset))?;
        let consumed = ConsumedOffset::new(next, record.leader_epoch);
        self.client
            .consumer
            .store_record(&record.topic, record.partition, consumed)
    }

    /// The consumed offset of an assigned partition: the next record the
    /// application has not processed, as last stored; `None` until a
    /// record of it is stored.
    pub fn consumed(&self, partition: &TopicPartition) -> Option<ConsumedOffset> {
        self.client.consumer.consumed(partition)
    }

    /// The consumed offsets of every assigned partition that has one, in
    /// order: what a commit of "everything processed so far" sends.
    pub fn consumed_offsets(&self) -> BTreeMap<TopicPartition, ConsumedOffset> {
        self.client.consumer.consumed_offsets()
    }

    /// The assigned partitions, in order.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.client.consumer.assignment().cloned().collect()
    }

    /// The paused partitions, in order.
    pub fn paused(&self) -> Vec<TopicPartition> {
        let parts = &self.client.consumer.parts;
        parts
            .iter()
            .filter(|(_, p)| p.paused)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// How far the position is behind the end of an assigned partition
    /// (the high watermark, or the last stable offset under
    /// read_committed), as of the last fetch.
    pub fn lag(&self, partition: &TopicPartition) -> Option<i64> {
        let consumer = &self.client.consumer;
        consumer.lag_of(consumer.parts.get(partition)?)
    }

    /// Looks up offsets at the partitions' leaders (any partitions, not
    /// only assigned ones). The answer comes as
    /// [`ConsumerEvent::OffsetsListed`](super::ConsumerEvent::OffsetsListed) with the returned id; retriable
    /// errors are retried until the API timeout.
    pub fn offsets_for(
        &mut self,
        now: Instant,
        partitions: impl IntoIterator<Item = TopicPartition>,
        spec: OffsetSpec,
    ) -> Result<RequestId, Misuse> {
        let tps: BTreeSet<TopicPartition> = partitions.into_iter().collect();
        if tps.is_empty() {
            return Err(Misuse::NoTopics);
        }
        let list: Vec<TopicPartition> = tps.into_iter().collect();
        check_partitions(&list)?;
        if let OffsetSpec::Timestamp(ts) = spec {
            if ts < 0 {
                return Err(Misuse::InvalidOffset(ts));
            }
        }
        let c = self.start(now)?;
        let id = c.requests.next_id();
        let deadline = c.now + c.config().api_timeout;
        for tp in &list {
            c.metadata.track(&tp.topic);
        }
        c.consumer.offsets_for(c.now, id, list, spec, deadline);
        c.pump();
        Ok(id)
    }

    /// The next buffered records of a partition that is not paused, in
    /// arrival order. Taking them moves that partition's position past
    /// them, and frees the partition to be fetched again.
    pub fn poll_records(&mut self, now: Instant) -> Option<FetchedRecords> {
        self.client.check_usable().ok()?;
        self.client.tick(now);
        let client = &mut *self.client;
        let records = client.consumer.take_records(&mut client.events);
        if records.is_some() {
            self.client.pump();
        }
        records
    }

    /// Hands back records of `records` that failed to decode while the
    /// application iterated them: `offset` is the iterator's
    /// [`resume_offset`](crate::consumer::RecordIter::resume_offset) after
    /// it yielded `error`. Taking the records had moved the position past
    /// all of them; this puts it back at the bad record, stops the
    /// partition until a seek, drops what was fetched past it, and reports
    /// [`ConsumerEvent::PartitionFailed`](super::ConsumerEvent::PartitionFailed)
    /// with the partition and `offset` (seek past it to skip the damage).
    /// The good records before it were yielded first and stay consumed.
    ///
    /// An adapter also drops the records of that partition it took but has
    /// not yielded yet: they all lie past the bad one. A report about
    /// records taken before a seek, a reset or a new assignment of the
    /// partition is ignored. Fails only if `offset` lies outside the
    /// records.
    pub fn report_corrupt(
        &mut self,
        now: Instant,
        records: &FetchedRecords,
        offset: i64,
        error: DecodeError,
    ) -> Result<(), Misuse> {
        let (start, end) = (records.start_offset(), records.next_offset());
        if !(start..=end).contains(&offset) {
            return Err(Misuse::OffsetOutsideRecords { offset, start, end });
        }
        let c = self.start(now)?;
        c.consumer
            .report_corrupt(records, offset, error, &mut c.events);
        c.pump();
        Ok(())
    }

    /// Whether [`Consumer::poll_records`] would return something.
    pub fn has_records(&self) -> bool {
        self.client.consumer.next_records().is_some()
    }

    // ---- the consumer group --------------------------------------------

    /// Joins [`Config::group`](crate::Config::group) consuming `topics`:
    /// the group assigns the partitions, reported as
    /// [`ConsumerEvent::PartitionsAssigned`](super::ConsumerEvent::PartitionsAssigned)
    /// and friends, with [`GroupEvent`](crate::group::GroupEvent)s about
    /// the membership. Each partition starts at its committed offset, or
    /// where `auto_offset_reset` says. Calling it again changes the
    /// subscription (partitions of dropped topics are revoked and, with
    /// the classic protocol, the member rejoins). Fails without a group configured, with a manual
    /// assignment in place, or after the member failed for good.
    pub fn subscribe<S: Into<String>>(
        &mut self,
        now: Instant,
        topics: impl IntoIterator<Item = S>,
    ) -> Result<(), Misuse> {
        let topics: BTreeSet<String> = topics.into_iter().map(Into::into).collect();
        if topics.is_empty() {
            return Err(Misuse::NoTopics);
        }
        for t in &topics {
            check_topic_name(t)?;
        }
        self.client.check_usable()?;
        self.client.group.check()?;
        if !self.client.group.is_subscribed() && self.client.consumer.assignment().next().is_some()
        {
            return Err(Misuse::ManuallyAssigned);
        }
        let c = self.start(now)?;
        c.group.subscribe(c.now, topics, &mut c.metadata);
        c.pump();
        Ok(())
    }

    /// Joins [`Config::group`](crate::Config::group) consuming every topic
    /// whose whole name matches `pattern`, a regular expression; topics
    /// created later that match are assigned too.
    ///
    /// Under [`GroupProtocol::Consumer`](crate::group::GroupProtocol::Consumer)
    /// (KIP-848) the broker matches it (RE2/J syntax, as the Java client's
    /// `subscribe(SubscriptionPattern)`) and checks it: a bad one ends the
    /// member with
    /// [`GroupError::InvalidRegularExpression`](crate::group::GroupError::InvalidRegularExpression).
    /// Under the classic protocol the member matches it against every
    /// topic the metadata lists, internal ones left out, as the Java
    /// client's `subscribe(Pattern)` does; new topics are seen at the next
    /// metadata refresh ([`Config::metadata_max_age`](crate::Config::metadata_max_age)),
    /// and a change of the matching topics rejoins the group. The syntax
    /// is the `regex` crate's (close to RE2's); a pattern that does not
    /// compile is [`Misuse::InvalidRegex`].
    ///
    /// Replaces a topic subscription, and the reverse. Fails like
    /// [`Consumer::subscribe`] otherwise.
    pub fn subscribe_regex(
        &mut self,
        now: Instant,
        pattern: impl Into<String>,
    ) -> Result<(), Misuse> {
        let pattern = pattern.into();
        if pattern.is_empty() {
            return Err(Misuse::NoTopics);
        }
        self.client.check_usable()?;
        self.client.group.check()?;
        if !self.client.group.is_subscribed() && self.client.consumer.assignment().next().is_some()
        {
            return Err(Misuse::ManuallyAssigned);
        }
        let c = self.start(now)?;
        c.group.subscribe_regex(c.now, pattern, &mut c.metadata)?;
        c.pump();
        Ok(())
    }

    /// The regular expression subscribed to with
    /// [`Consumer::subscribe_regex`], if any.
    pub fn subscription_regex(&self) -> Option<&str> {
        self.client.group.subscription_regex()
    }

    /// Leaves the group: what was consumed is committed (with
    /// auto-commit), every partition is revoked, and a dynamic member
    /// sends LeaveGroup (a static one lets its session expire). With
    /// [`GroupConfig::await_revoke`](crate::group::GroupConfig::await_revoke)
    /// the revoke and the leave wait for [`Consumer::revoke_done`] first
    /// (see [`ConsumerEvent::PartitionsRevoking`](super::ConsumerEvent::PartitionsRevoking));
    /// [`Client::close`] does not wait. A cooperative member unsubscribing
    /// during a rebalance revokes at once but commits in the generation
    /// the rebalance makes, and leaves after that commit; the one it owned
    /// the partitions in is being replaced, and the coordinator would
    /// refuse a commit made in it.
    /// [`GroupEvent::Left`](crate::group::GroupEvent::Left) reports it.
    /// Doing nothing when not subscribed.
    pub fn unsubscribe(&mut self, now: Instant) -> Result<(), Misuse> {
        let c = self.start(now)?;
        c.group.unsubscribe(true, &mut c.events);
        c.pump();
        Ok(())
    }

    /// The subscribed topics, in order; empty when not subscribed.
    pub fn subscription(&self) -> Vec<String> {
        self.client.group.subscription()
    }

    /// The application takes records: call it on every poll of the
    /// application (the adapters do). Without one for `max_poll_interval`
    /// the member leaves the group and its partitions are lost; the next
    /// call rejoins.
    pub fn record_poll(&mut self, now: Instant) -> Result<(), Misuse> {
        self.client.check_usable()?;
        // Adapters call it on every poll: without a group it costs nothing.
        if !self.client.group.is_subscribed() {
            return Ok(());
        }
        let c = self.start(now)?;
        c.group.record_poll(c.now);
        c.pump();
        Ok(())
    }

    /// Commits offsets to the group: `offsets`, or every owned partition's
    /// consumed offset ([`Consumer::consumed_offsets`]) if `None`. The
    /// result comes as
    /// [`GroupEvent::Committed`](crate::group::GroupEvent::Committed) with
    /// the returned id. During a rebalance the commit fails at once with
    /// [`CommitError::RebalanceInProgress`](crate::group::CommitError::RebalanceInProgress).
    /// Fails if not subscribed, or if a partition is not owned or an
    /// offset negative.
    pub fn commit(
        &mut self,
        now: Instant,
        offsets: Option<BTreeMap<TopicPartition, OffsetAndMetadata>>,
    ) -> Result<RequestId, Misuse> {
        self.client.check_usable()?;
        self.client.group.check()?;
        if !self.client.group.may_commit() {
            return Err(Misuse::NotSubscribed);
        }
        let group = &self.client.group;
        let offsets = match offsets {
            Some(given) => {
                for (tp, o) in &given {
                    if !group.commits_for(tp) {
                        return Err(Misuse::NotAssigned(tp.clone()));
                    }
                    if o.offset < 0 {
                        return Err(Misuse::InvalidOffset(o.offset));
                    }
                }
                given
            }
            None => self
                .client
                .consumer
                .consumed_offsets()
                .into_iter()
                .filter(|(tp, _)| group.commits_for(tp))
                .map(|(tp, c)| (tp, c.into()))
                .collect(),
        };
        let c = self.start(now)?;
        let id = c.requests.next_id();
        let api_timeout = c.config().api_timeout;
        c.group
            .commit(c.now, id, offsets, api_timeout, &mut c.events);
        c.pump();
        Ok(id)
    }

    /// Lets an orderly revoke the member waits with go on (see
    /// [`ConsumerEvent::PartitionsRevoking`](super::ConsumerEvent::PartitionsRevoking)):
    /// call it once what was processed of the partitions is committed (a
    /// commit made before this call goes out first). The partitions are
    /// then revoked and the member rejoins or leaves. Does nothing when no
    /// revoke waits: the wait may have run out, or the partitions been
    /// lost, meanwhile.
    pub fn revoke_done(&mut self, now: Instant) -> Result<(), Misuse> {
        self.client.group.check()?;
        let c = self.start(now)?;
        c.group.revoke_done();
        c.pump();
        Ok(())
    }

    /// The partitions an orderly revoke waits with (announced by
    /// [`ConsumerEvent::PartitionsRevoking`](super::ConsumerEvent::PartitionsRevoking),
    /// not yet revoked), in order; empty when none waits.
    pub fn revoking(&self) -> Vec<TopicPartition> {
        self.client.group.revoking()
    }

    /// Offsets the group coordinator acknowledged for this member's
    /// commits, per partition. An answer to an older commit arriving after
    /// a newer one's never takes a partition back.
    pub fn committed(&self) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        self.client.group.committed()
    }

    /// The member's group, generation, member id and instance id (for a
    /// transactional producer's offsets); `None` without a group.
    pub fn group_metadata(&self) -> Option<GroupMetadata> {
        self.client.group.metadata()
    }

    fn check_not_subscribed(&self) -> Result<(), Misuse> {
        if self.client.group.is_subscribed() {
            return Err(Misuse::Subscribed);
        }
        Ok(())
    }

    fn check_assigned(&self, tps: &[TopicPartition]) -> Result<(), Misuse> {
        match tps
            .iter()
            .find(|tp| !self.client.consumer.parts.contains_key(*tp))
        {
            Some(tp) => Err(Misuse::NotAssigned(tp.clone())),
            None => Ok(()),
        }
    }

    fn start(&mut self, now: Instant) -> Result<&mut Client, Misuse> {
        self.client.check_usable()?;
        self.client.tick(now);
        Ok(&mut *self.client)
    }
}
