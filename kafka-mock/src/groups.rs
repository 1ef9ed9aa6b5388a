//! Classic consumer groups and committed offsets.

use std::collections::HashMap;
use std::time::Instant;

use kafka_proto::{ErrorCode, RequestBody};

use crate::cluster::{Cluster, Reply};
use crate::Ctx;

/// FindCoordinator key types.
pub(crate) const KEY_GROUP: i8 = 0;
pub(crate) const KEY_TRANSACTION: i8 = 1;

/// State of every consumer group.
#[derive(Debug, Default)]
pub(crate) struct GroupCoordinator {
    /// Coordinators moved by fault injection: (key type, key) -> broker.
    pub(crate) overrides: HashMap<(i8, String), i32>,
}

/// One committed offset, as OffsetCommit and TxnOffsetCommit carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommittedOffset {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) leader_epoch: i32,
    pub(crate) metadata: Option<String>,
}

/// Serves the group APIs; hands any other request back.
pub(crate) fn dispatch(
    _cluster: &mut Cluster,
    _ctx: &Ctx,
    body: RequestBody,
) -> Result<Reply, RequestBody> {
    Err(body)
}

impl Cluster {
    /// The broker coordinating `key` (a group id or transactional id): a
    /// stable hash over the live brokers, unless fault injection moved it.
    pub(crate) fn coordinator_for(&self, key_type: i8, key: &str) -> i32 {
        if let Some(&b) = self.groups.overrides.get(&(key_type, key.to_string())) {
            return b;
        }
        let live: Vec<i32> = self
            .brokers
            .values()
            .filter(|b| b.up)
            .map(|b| b.id)
            .collect();
        if live.is_empty() {
            return -1;
        }
        // FNV-1a: stable across runs and platforms.
        let mut h: u32 = 0x811c_9dc5;
        for b in key.bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        live[h as usize % live.len()]
    }

    /// Moves the coordinator of a group (`key_type` 0) or transactional id
    /// (`key_type` 1) to `broker`; requests for it elsewhere then get
    /// NOT_COORDINATOR.
    pub fn move_coordinator(
        &mut self,
        key_type: i8,
        key: &str,
        broker: i32,
    ) -> Result<(), crate::MockError> {
        if !self.brokers.contains_key(&broker) {
            return Err(crate::MockError::UnknownBroker(broker));
        }
        self.groups
            .overrides
            .insert((key_type, key.to_string()), broker);
        Ok(())
    }

    /// Stores committed offsets for `group` (used by TxnOffsetCommit when
    /// a transaction commits). Fails if the group's state forbids it.
    pub(crate) fn commit_group_offsets(
        &mut self,
        _now: Instant,
        _group: &str,
        _offsets: Vec<CommittedOffset>,
    ) -> Result<(), ErrorCode> {
        Err(ErrorCode::UnknownServerError)
    }

    pub(crate) fn groups_timeout(&mut self, _now: Instant) {}

    pub(crate) fn groups_next_deadline(&self) -> Option<Instant> {
        None
    }

    pub(crate) fn groups_topic_deleted(&mut self, _topic: &str) {}
}
