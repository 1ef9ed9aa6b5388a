//! The seam between sub-machines and connections: plain messages.
//!
//! A sub-machine (see `machine`) never sees a socket. It builds an
//! [`Outbound`] naming a [`Target`], the client queues it, picks a
//! connection once one is usable, and hands the outcome back as an
//! [`Inbound`] carrying the same [`RequestId`] to the machine that queued
//! it.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use kafka_proto::messages::delete_topics_request::DeleteTopicState;
use kafka_proto::messages::offset_fetch_request::OffsetFetchRequestTopic;
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
    /// The group coordinator's own connection to a broker by node id
    /// ([`Broker::Coordinator`](crate::Broker::Coordinator)).
    Coordinator(i32),
    /// The producer's own connection to a broker by node id (batches and
    /// transaction requests; [`Broker::Producer`](crate::Broker::Producer)).
    Producer(i32),
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
    /// Requests the broker may hold longer than `request_timeout` (a
    /// JoinGroup waits for the whole group), with how long they may take.
    pub(crate) patient: BTreeMap<RequestId, Duration>,
}

impl RequestQueue {
    pub(crate) fn next_id(&mut self) -> RequestId {
        self.next_id += 1;
        RequestId(self.next_id)
    }

    pub(crate) fn push(&mut self, req: Outbound) {
        self.queue.push_back(req);
    }

    /// Queues a request whose answer may take up to `timeout` once sent,
    /// if that is longer than the connection's `request_timeout`.
    pub(crate) fn push_patient(&mut self, req: Outbound, timeout: Duration) {
        self.patient.insert(req.id, timeout);
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
        // Built with both ways to allow a downgrade; v0 has only the
        // flag, later versions only the upgrade type.
        // (A validate-only request stays unencodable for v0, which cannot
        // say it: better refused than applied.)
        RequestBody::UpdateFeatures(req) => {
            for u in &mut req.feature_updates {
                if version >= 1 {
                    u.allow_downgrade = false;
                } else {
                    u.upgrade_type = 1;
                }
            }
        }
        // Built with one key; v4 and later carry a list of keys.
        RequestBody::FindCoordinator(req) if version >= 4 && req.coordinator_keys.is_empty() => {
            req.coordinator_keys = vec![std::mem::take(&mut req.key)];
        }
        // Built with a list of members; before v3 one member id.
        RequestBody::LeaveGroup(req) if version < 3 && req.member_id.is_empty() => {
            if let Some(m) = req.members.pop() {
                req.member_id = m.member_id;
            }
            req.members.clear();
        }
        // Built in the v8+ shape (groups); older versions name one group.
        RequestBody::OffsetFetch(req) => {
            if version < 7 {
                req.require_stable = false;
            }
            if version < 8 && req.groups.len() == 1 {
                let group = req.groups.remove(0);
                req.group_id = group.group_id;
                req.topics = match group.topics {
                    Some(topics) => Some(
                        topics
                            .into_iter()
                            .map(|t| {
                                OffsetFetchRequestTopic::default()
                                    .with_name(t.name)
                                    .with_partition_indexes(t.partition_indexes)
                            })
                            .collect(),
                    ),
                    // Before v2 there is no "every partition"; the list
                    // is empty.
                    None if version < 2 => Some(Vec::new()),
                    None => None,
                };
            }
        }
        // v0 (Kafka 3.7 to 3.9): the coordinator makes the member id and
        // wants an empty one to join; from v1 the client makes it.
        RequestBody::ConsumerGroupHeartbeat(req) if version == 0 && req.member_epoch == 0 => {
            req.member_id.clear();
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
            // Before v8 a client cannot ask what it may do to a topic;
            // the answer then says "not known".
            if version < 8 {
                req.include_topic_authorized_operations = false;
            }
        }
        _ => {}
    }
}

/// The oldest version that can carry `body` as built, where older ones
/// cannot say it at all: such a request is refused as unsupported
/// rather than sent half.
pub(crate) fn min_version(body: &RequestBody) -> i16 {
    match body {
        // Topics named by id only.
        RequestBody::DeleteTopics(req) if req.topic_names.is_empty() && !req.topics.is_empty() => 6,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_proto::frame::encode_request_frame;
    use kafka_proto::messages::leave_group_request::MemberIdentity;
    use kafka_proto::messages::offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopics,
    };
    use kafka_proto::messages::{
        FindCoordinatorRequest, LeaveGroupRequest, OffsetFetchRequest, RequestHeader,
    };
    use kafka_proto::Uuid;

    /// The group requests as the member builds them encode in every
    /// version once fitted, and keep what they say.
    #[test]
    fn group_requests_fit_every_version() {
        let find: RequestBody = FindCoordinatorRequest::default()
            .with_key("g".into())
            .into();
        let leave: RequestBody = LeaveGroupRequest::default()
            .with_group_id("g".into())
            .with_members(vec![MemberIdentity::default()
                .with_member_id("m".into())
                .with_reason(Some("bye".into()))])
            .into();
        let fetch: RequestBody = OffsetFetchRequest::default()
            .with_require_stable(true)
            .with_groups(vec![OffsetFetchRequestGroup::default()
                .with_group_id("g".into())
                .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                    .with_name("t".into())
                    .with_topic_id(Uuid::from_u64_pair(7, 7))
                    .with_partition_indexes(vec![0, 2])]))])
            .into();
        for body in [find, leave, fetch] {
            let api = body.api_key();
            for version in api.versions() {
                let mut fitted = body.clone();
                fit_version(&mut fitted, version);
                let header = RequestHeader::default()
                    .with_request_api_key(api.id())
                    .with_request_api_version(version)
                    .with_client_id(Some("c".into()));
                let mut buf = BytesMut::new();
                encode_request_frame(&header, &fitted, &mut buf)
                    .unwrap_or_else(|e| panic!("{api} v{version}: {e}"));
                match &fitted {
                    RequestBody::FindCoordinator(r) if version >= 4 => {
                        assert_eq!(r.coordinator_keys, vec!["g".to_string()])
                    }
                    RequestBody::FindCoordinator(r) => assert_eq!(r.key, "g"),
                    RequestBody::LeaveGroup(r) if version < 3 => assert_eq!(r.member_id, "m"),
                    RequestBody::LeaveGroup(r) => assert_eq!(r.members.len(), 1),
                    RequestBody::OffsetFetch(r) if version < 8 => {
                        assert_eq!(r.group_id, "g");
                        let topics = r.topics.as_ref().expect("topics");
                        assert_eq!(topics[0].partition_indexes, vec![0, 2]);
                        assert_eq!(r.require_stable, version >= 7);
                    }
                    RequestBody::OffsetFetch(r) => assert_eq!(r.groups.len(), 1),
                    other => panic!("{other:?}"),
                }
            }
        }
    }

    /// A downgrade is built with both of its forms; each version keeps
    /// only its own and encodes.
    #[test]
    fn feature_updates_fit_every_version() {
        use kafka_proto::messages::update_features_request::FeatureUpdateKey;
        use kafka_proto::messages::UpdateFeaturesRequest;
        let body: RequestBody = UpdateFeaturesRequest::default()
            .with_feature_updates(vec![FeatureUpdateKey::default()
                .with_feature("f".into())
                .with_max_version_level(1)
                .with_upgrade_type(2)
                .with_allow_downgrade(true)])
            .into();
        for version in body.api_key().versions() {
            let mut fitted = body.clone();
            fit_version(&mut fitted, version);
            let header = RequestHeader::default()
                .with_request_api_key(body.api_key().id())
                .with_request_api_version(version);
            let mut buf = BytesMut::new();
            encode_request_frame(&header, &fitted, &mut buf)
                .unwrap_or_else(|e| panic!("v{version}: {e}"));
            let RequestBody::UpdateFeatures(r) = fitted else {
                panic!("not UpdateFeatures")
            };
            assert_eq!(r.feature_updates[0].allow_downgrade, version == 0);
        }
    }
}
