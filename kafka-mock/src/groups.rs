//! Classic consumer groups and committed offsets.

use std::time::Instant;

use kafka_proto::RequestBody;

use crate::cluster::{Cluster, Reply};
use crate::Ctx;

/// State of every consumer group.
#[derive(Debug, Default)]
pub(crate) struct GroupCoordinator {}

/// Serves the group APIs; hands any other request back.
pub(crate) fn dispatch(
    _cluster: &mut Cluster,
    _ctx: &Ctx,
    body: RequestBody,
) -> Result<Reply, RequestBody> {
    Err(body)
}

impl Cluster {
    pub(crate) fn groups_timeout(&mut self, _now: Instant) {}

    pub(crate) fn groups_next_deadline(&self) -> Option<Instant> {
        None
    }

    pub(crate) fn groups_topic_deleted(&mut self, _topic: &str) {}
}
