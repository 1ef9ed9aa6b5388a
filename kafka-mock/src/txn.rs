//! Idempotent producers and transactions.

use std::time::Instant;

use kafka_proto::record::BatchHeader;
use kafka_proto::{ErrorCode, RequestBody};

use crate::cluster::{Cluster, Reply};
use crate::data::ProduceCheck;
use crate::Ctx;

/// Producer ids, sequence state and transactions.
#[derive(Debug, Default)]
pub(crate) struct ProducerState {}

/// Serves the producer-id and transaction APIs; hands any other request back.
pub(crate) fn dispatch(
    _cluster: &mut Cluster,
    _ctx: &Ctx,
    body: RequestBody,
) -> Result<Reply, RequestBody> {
    Err(body)
}

impl Cluster {
    pub(crate) fn txn_timeout(&mut self, _now: Instant) {}

    pub(crate) fn txn_next_deadline(&self) -> Option<Instant> {
        None
    }

    /// Sequence and epoch checks for a produced batch.
    pub(crate) fn txn_check_produce(
        &mut self,
        _ctx: &Ctx,
        _transactional_id: Option<&str>,
        _topic: &str,
        _partition: i32,
        _header: &BatchHeader,
    ) -> Result<ProduceCheck, ErrorCode> {
        Ok(ProduceCheck::Append)
    }

    /// Records what an appended batch means for producer and transaction state.
    pub(crate) fn txn_after_append(
        &mut self,
        _topic: &str,
        _partition: i32,
        _header: &BatchHeader,
        _base: i64,
    ) {
    }
}
