//! The seam between sub-machines and connections: plain messages.
//!
//! A sub-machine (see `machine`) never sees a socket. It builds an
//! [`Outbound`] naming a [`Target`], the client queues it, picks a
//! connection once one is usable, and hands the outcome back as an
//! [`Inbound`] carrying the same [`RequestId`] to the machine that queued
//! it.

use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

use kafka_proto::messages::delete_topics_request::DeleteTopicState;
use kafka_proto::{RequestBody, ResponseBody};

use crate::error::RequestError;

/// Identifies a request or command; unique within one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(crate) u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "req#{}", self.0)
    }
}

/// Where a request must go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A broker by node id (a coordinator, a fetch session's broker).
    Node(i32),
    /// Whichever broker is least loaded (metadata, admin).
    Any,
}

/// A request a sub-machine wants sent.
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    pub(crate) id: RequestId,
    pub(crate) target: Target,
    /// Built without knowing the version; [`fit_version`] adapts fields
    /// that moved between versions once the connection is chosen.
    pub(crate) body: RequestBody,
    /// Fails with [`RequestError::Timeout`] if still queued then.
    pub(crate) expires: Instant,
}

/// The outcome of an [`Outbound`], for the machine that queued it.
#[derive(Debug, Clone)]
pub(crate) struct Inbound {
    pub(crate) id: RequestId,
    pub(crate) result: Result<ResponseBody, RequestError>,
}

/// Requests waiting for a usable connection, oldest first.
#[derive(Debug, Default)]
pub(crate) struct RequestQueue {
    pub(crate) queue: VecDeque<Outbound>,
    next_id: u64,
}

impl RequestQueue {
    pub(crate) fn next_id(&mut self) -> RequestId {
        self.next_id += 1;
        RequestId(self.next_id)
    }

    pub(crate) fn push(&mut self, req: Outbound) {
        self.queue.push_back(req);
    }

    /// The earliest expiry of a queued request.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.queue.iter().map(|r| r.expires).min()
    }
}

/// Moves data between fields that changed shape across versions of an
/// API, so machines can build one body for every version.
pub(crate) fn fit_version(body: &mut RequestBody, version: i16) {
    match body {
        RequestBody::DeleteTopics(req) if version >= 6 && req.topics.is_empty() => {
            req.topics = std::mem::take(&mut req.topic_names)
                .into_iter()
                .map(|name| DeleteTopicState::default().with_name(Some(name)))
                .collect();
        }
        RequestBody::FindCoordinator(req) if version >= 4 && req.coordinator_keys.is_empty() => {
            req.coordinator_keys = vec![std::mem::take(&mut req.key)];
        }
        RequestBody::OffsetFetch(req) if version < 8 && req.groups.len() == 1 => {
            let group = req.groups.remove(0);
            req.group_id = group.group_id;
            // Before v2 there is no "every partition"; the list is empty.
            req.topics = match version {
                0 | 1 => Some(Vec::new()),
                _ => None,
            };
        }
        RequestBody::Metadata(req) => {
            // Metadata v0 has no null topic list: an empty one means all topics.
            if version == 0 && req.topics.is_none() {
                req.topics = Some(Vec::new());
            }
            // Before v4 the broker's setting decides auto-creation.
            if version < 4 {
                req.allow_auto_topic_creation = true;
            }
        }
        _ => {}
    }
}
