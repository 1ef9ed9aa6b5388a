//! The leader's part of a rebalance: read every member's subscription,
//! describe the subscribed topics from the client's metadata, run the
//! chosen assignor, and encode one assignment per member.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use kafka_proto::messages::join_group_response::JoinGroupResponseMember;
use tracing::warn;

use crate::group::protocol;
use crate::group::{
    AssignError, Assignment, Assignor, MemberSubscription, PartitionInfo, RebalanceProtocol,
    Subscription, TopicInfo,
};
use crate::metadata::ClusterMetadata;
use crate::TopicPartition;

const LOG: &str = "kafka_state::group";

/// Decodes the members' subscriptions. A member whose metadata does not
/// decode subscribes to nothing (and is told so by an empty assignment)
/// rather than failing the whole group.
pub(super) fn subscriptions(members: &[JoinGroupResponseMember]) -> Vec<MemberSubscription> {
    members
        .iter()
        .map(|m| {
            let subscription = protocol::decode_subscription(&m.metadata).unwrap_or_else(|error| {
                warn!(target: LOG, member = %m.member_id, %error, "undecodable subscription");
                Subscription {
                    generation_id: -1,
                    ..Subscription::default()
                }
            });
            MemberSubscription {
                member_id: m.member_id.clone(),
                instance_id: m.group_instance_id.clone(),
                subscription,
            }
        })
        .collect()
}

/// Every topic some member subscribes to.
pub(super) fn subscribed_topics(members: &[MemberSubscription]) -> BTreeSet<String> {
    members
        .iter()
        .flat_map(|m| m.subscription.topics.iter().cloned())
        .collect()
}

/// Whether the cache can describe `topic` (it exists, or is known not to).
pub(super) fn topic_known(cache: &ClusterMetadata, topic: &str) -> bool {
    cache
        .topic(topic)
        .is_some_and(|t| !t.error.is_retriable() || !t.partitions.is_empty())
}

/// The subscribed topics the cache knows, with their partitions.
pub(super) fn topic_infos(
    cache: &ClusterMetadata,
    topics: &BTreeSet<String>,
) -> BTreeMap<String, TopicInfo> {
    topics
        .iter()
        .filter_map(|t| {
            let meta = cache.topic(t)?;
            if meta.partitions.is_empty() {
                return None;
            }
            let mut partitions: Vec<PartitionInfo> = meta
                .partitions
                .iter()
                .map(|p| PartitionInfo {
                    partition: p.partition,
                    racks: Vec::new(),
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            Some((t.clone(), TopicInfo { partitions }))
        })
        .collect()
}

/// Runs `assignor` and returns each member's encoded assignment.
///
/// Whatever the assignor returns, a member only gets partitions of topics
/// it subscribes to that exist, each partition goes to one member, and
/// under the cooperative protocol a partition another member still owns
/// (as of the newest generation any member reports) is held back: its
/// owner revokes it first and it is handed over in the next rebalance
/// (KIP-429). So no partition is ever owned by two members at once.
pub(super) fn assign(
    assignor: &dyn Assignor,
    protocol: RebalanceProtocol,
    members: &[MemberSubscription],
    topics: &BTreeMap<String, TopicInfo>,
) -> Result<BTreeMap<String, Bytes>, AssignError> {
    let mut result = assignor.assign(topics, members)?;
    let newest = members
        .iter()
        .map(|m| m.subscription.generation_id)
        .max()
        .unwrap_or(-1);
    let mut owner: BTreeMap<&TopicPartition, &str> = BTreeMap::new();
    for m in members {
        if protocol == RebalanceProtocol::Cooperative && m.subscription.generation_id == newest {
            for tp in &m.subscription.owned_partitions {
                owner.insert(tp, m.member_id.as_str());
            }
        }
    }
    let exists = |tp: &TopicPartition| {
        topics
            .get(&tp.topic)
            .is_some_and(|t| t.partitions.iter().any(|p| p.partition == tp.partition))
    };
    let mut given: BTreeSet<TopicPartition> = BTreeSet::new();
    let mut out = BTreeMap::new();
    for m in members {
        let mut a = result.remove(&m.member_id).unwrap_or_default();
        a.partitions.retain(|tp| {
            let subscribed = m.subscription.topics.contains(&tp.topic);
            let held = owner.get(tp).is_some_and(|o| *o != m.member_id);
            subscribed && exists(tp) && !held && given.insert(tp.clone())
        });
        a.partitions.sort();
        let bytes = protocol::encode_assignment(&a, protocol::ASSIGNMENT_VERSION).map_err(|e| {
            AssignError::Other(format!("assignment of member {}: {e}", m.member_id))
        })?;
        out.insert(m.member_id.clone(), bytes);
    }
    Ok(out)
}

/// Assignment bytes decoded, or an empty assignment with a warning.
pub(super) fn decode_own(bytes: &Bytes) -> Option<Assignment> {
    match protocol::decode_assignment(bytes) {
        Ok(a) => Some(a),
        Err(error) => {
            warn!(target: LOG, %error, "undecodable assignment");
            None
        }
    }
}
