//! Cluster metadata: brokers, topics, partition leaders and leader epochs,
//! and the sub-machine that keeps them fresh.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kafka_proto::messages::metadata_request::MetadataRequestTopic;
use kafka_proto::messages::{MetadataRequest, MetadataResponse};
use kafka_proto::{ErrorCode, ResponseBody, Uuid};
use tracing::{debug, warn};

use crate::error::FatalError;
use crate::machine::{Ctx, SubMachine};
use crate::router::{Inbound, Outbound, RequestId, RequestQueue, Target};
use crate::BrokerAddr;

const LOG: &str = "kafka_state::metadata";

/// What the client knows about the cluster. Read it with
/// [`Client::cluster`](crate::Client::cluster).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterMetadata {
    cluster_id: Option<String>,
    controller: Option<i32>,
    brokers: BTreeMap<i32, BrokerAddr>,
    topics: BTreeMap<String, TopicMetadata>,
    /// How many answers changed anything, so a reader can tell cheaply
    /// whether to look again.
    changes: u64,
    /// The finalized `transaction.version` feature level the newest
    /// connection reported.
    transaction_version: Option<i16>,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicMetadata {
    /// The topic id (zero from brokers older than Metadata v10).
    pub id: Uuid,
    /// The topic-level error of the last answer, [`ErrorCode::None`] if fine.
    pub error: ErrorCode,
    /// An internal topic such as `__consumer_offsets`.
    pub internal: bool,
    /// Partitions in index order.
    pub partitions: Vec<PartitionMetadata>,
    /// What this client may do to the topic, when asked for
    /// ([`Admin::describe_topics`](crate::admin::Admin::describe_topics)
    /// with `authorized_operations`, Metadata v8 and later); `None`
    /// otherwise, and always in the client's cache.
    pub authorized_operations: Option<Vec<crate::admin::AclOperation>>,
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionMetadata {
    /// The partition index.
    pub partition: i32,
    /// The leader's node id; `None` while no leader is available.
    pub leader: Option<i32>,
    /// The leader epoch (-1 if the broker does not report it).
    pub leader_epoch: i32,
    /// Replica node ids.
    pub replicas: Vec<i32>,
    /// In-sync replica node ids.
    pub isr: Vec<i32>,
    /// Replicas the broker reports offline (their log directory failed
    /// or their broker is gone; Metadata v5 and later, empty before).
    pub offline_replicas: Vec<i32>,
    /// The partition-level error of the last answer.
    pub error: ErrorCode,
}

impl TopicMetadata {
    /// The partition of index `index`, if the topic has it (found in
    /// `partitions`, which the client keeps in index order).
    pub fn partition(&self, index: i32) -> Option<&PartitionMetadata> {
        // Kept sorted and almost always exactly 0..n: a partition is
        // usually at its own index. A producer looks partitions up for
        // every batch, so this is a hot path with many partitions.
        let at = usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get(i));
        if let Some(p) = at.filter(|p| p.partition == index) {
            return Some(p);
        }
        self.partitions
            .binary_search_by_key(&index, |p| p.partition)
            .ok()
            .and_then(|i| self.partitions.get(i))
    }
}

impl ClusterMetadata {
    /// Builds metadata from one response alone.
    pub(crate) fn from_response(resp: &MetadataResponse) -> Self {
        let mut m = Self::default();
        // A fresh value has no cluster id to mismatch.
        let _ = m.apply(resp, true);
        for t in &resp.topics {
            let Some(name) = &t.name else { continue };
            if let Some(topic) = m.topics.get_mut(name) {
                topic.authorized_operations =
                    crate::admin::AclOperation::from_bits(t.topic_authorized_operations);
            }
        }
        m
    }

    /// The cluster's finalized `transaction.version` feature level, as
    /// the newest connection reported it (ApiVersions); `None` before any
    /// connection is set up. Level 2 enables transaction v2 (KIP-890).
    pub fn transaction_version(&self) -> Option<i16> {
        self.transaction_version
    }

    pub(crate) fn set_transaction_version(&mut self, level: i16) {
        self.transaction_version = Some(level);
    }

    /// The cluster id, once a broker has reported it.
    pub fn cluster_id(&self) -> Option<&str> {
        self.cluster_id.as_deref()
    }

    /// The controller's node id, if reported.
    pub fn controller(&self) -> Option<i32> {
        self.controller
    }

    /// Live brokers by node id.
    pub fn brokers(&self) -> impl Iterator<Item = (i32, &BrokerAddr)> {
        self.brokers.iter().map(|(id, a)| (*id, a))
    }

    /// A broker's address.
    pub fn broker(&self, node: i32) -> Option<&BrokerAddr> {
        self.brokers.get(&node)
    }

    /// Counts the merges that changed anything: equal counts, equal
    /// metadata.
    pub(crate) fn changes(&self) -> u64 {
        self.changes
    }

    /// Known topics by name.
    pub fn topics(&self) -> impl Iterator<Item = (&str, &TopicMetadata)> {
        self.topics.iter().map(|(n, t)| (n.as_str(), t))
    }

    /// One topic.
    pub fn topic(&self, name: &str) -> Option<&TopicMetadata> {
        self.topics.get(name)
    }

    /// Every partition of `topic`, in order; the topic's error code if
    /// the metadata lists it with one, `UNKNOWN_TOPIC_OR_PARTITION` if it
    /// does not list it.
    pub fn partitions_of(&self, topic: &str) -> Result<Vec<crate::TopicPartition>, ErrorCode> {
        let t = self
            .topic(topic)
            .ok_or(ErrorCode::UnknownTopicOrPartition)?;
        if t.error.is_error() {
            return Err(t.error);
        }
        let mut tps: Vec<_> = t
            .partitions
            .iter()
            .map(|p| crate::TopicPartition::new(topic, p.partition))
            .collect();
        tps.sort();
        Ok(tps)
    }

    /// One partition.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionMetadata> {
        self.topics.get(topic)?.partition(partition)
    }

    /// The node id leading `topic`/`partition`, if known and available.
    pub fn leader_for(&self, topic: &str, partition: i32) -> Option<i32> {
        self.partition(topic, partition)?.leader
    }

    /// Merges a response. `all_topics` says the request asked for every
    /// topic, so topics missing from the answer are gone. A partition whose
    /// leader epoch went backwards keeps what it had: the answering broker
    /// is behind. Returns whether anything changed.
    pub(crate) fn apply(
        &mut self,
        resp: &MetadataResponse,
        all_topics: bool,
    ) -> Result<bool, FatalError> {
        let before = self.clone();
        if let (Some(expected), Some(found)) = (&self.cluster_id, &resp.cluster_id) {
            if expected != found {
                return Err(FatalError::ClusterIdMismatch {
                    expected: expected.clone(),
                    found: found.clone(),
                });
            }
        }
        if resp.cluster_id.is_some() {
            self.cluster_id.clone_from(&resp.cluster_id);
        }
        self.controller = (resp.controller_id >= 0).then_some(resp.controller_id);
        self.brokers = resp
            .brokers
            .iter()
            .filter_map(|b| {
                let port = u16::try_from(b.port).ok().filter(|p| *p != 0)?;
                Some((b.node_id, BrokerAddr::new(b.host.clone(), port)))
            })
            .collect();
        let mut seen = BTreeSet::new();
        for t in &resp.topics {
            let Some(name) = &t.name else { continue };
            seen.insert(name.clone());
            let error = ErrorCode::from_code(t.error_code);
            if error == ErrorCode::UnknownTopicOrPartition
                || error == ErrorCode::InvalidTopicException
            {
                self.topics.insert(
                    name.clone(),
                    TopicMetadata {
                        id: t.topic_id,
                        error,
                        internal: t.is_internal,
                        partitions: Vec::new(),
                        authorized_operations: None,
                    },
                );
                continue;
            }
            let old = self.topics.remove(name);
            let mut partitions: Vec<PartitionMetadata> = t
                .partitions
                .iter()
                .map(|p| {
                    let fresh = PartitionMetadata {
                        partition: p.partition_index,
                        leader: (p.leader_id >= 0).then_some(p.leader_id),
                        leader_epoch: p.leader_epoch,
                        replicas: p.replica_nodes.clone(),
                        isr: p.isr_nodes.clone(),
                        offline_replicas: p.offline_replicas.clone(),
                        error: ErrorCode::from_code(p.error_code),
                    };
                    let stale = old.as_ref().and_then(|o| {
                        o.partition(p.partition_index).filter(|q| {
                                q.leader_epoch >= 0
                                    && p.leader_epoch >= 0
                                    && p.leader_epoch < q.leader_epoch
                            })
                    });
                    match stale {
                        Some(kept) => {
                            debug!(target: LOG, topic = %name, partition = p.partition_index,
                                old = kept.leader_epoch, new = p.leader_epoch, "ignoring older leader epoch");
                            kept.clone()
                        }
                        None => fresh,
                    }
                })
                .collect();
            // Sorted and unique, so a partition is found by its index (the
            // first answer wins if a broker lists one twice).
            partitions.sort_by_key(|p| p.partition);
            partitions.dedup_by_key(|p| p.partition);
            // A topic's partitions are only ever added, so an answer with
            // fewer for the same topic id comes from a broker that has not
            // learned of the new ones yet (just after CreatePartitions):
            // keep them rather than go back.
            if let Some(old) = old
                .as_ref()
                .filter(|o| o.id == t.topic_id && !o.id.is_zero())
            {
                let lagging: Vec<PartitionMetadata> = old
                    .partitions
                    .iter()
                    .filter(|q| {
                        partitions
                            .binary_search_by_key(&q.partition, |p| p.partition)
                            .is_err()
                    })
                    .cloned()
                    .collect();
                if !lagging.is_empty() {
                    debug!(target: LOG, topic = %name, kept = lagging.len(), "an answer lacks partitions already known; keeping them");
                    partitions.extend(lagging);
                }
            }
            partitions.sort_by_key(|p| p.partition);
            self.topics.insert(
                name.clone(),
                TopicMetadata {
                    id: t.topic_id,
                    error,
                    internal: t.is_internal,
                    partitions,
                    authorized_operations: None,
                },
            );
        }
        if all_topics {
            self.topics.retain(|name, _| seen.contains(name));
        }
        let changed = *self != before;
        if changed {
            self.changes += 1;
        }
        Ok(changed)
    }
}

/// Keeps [`ClusterMetadata`] fresh: on start, every `metadata_max_age`, and
/// on demand (a topic becomes tracked, a leader is unknown, a machine asks).
#[derive(Debug)]
pub(crate) struct MetadataState {
    pub(crate) cache: ClusterMetadata,
    /// Topics fetched on every refresh.
    tracked: BTreeSet<String>,
    /// Every topic is fetched: a group member has topic ids to resolve
    /// that no tracked name covers (a KIP-848 assignment).
    all_topics: bool,
    in_flight: Option<RequestId>,
    /// The request in flight asked for every topic.
    in_flight_all: bool,
    /// A refresh is wanted as soon as `not_before` allows.
    update_requested: bool,
    /// No fetch before this (rate limit and retry backoff).
    not_before: Instant,
    /// The periodic refresh.
    next_refresh: Instant,
    max_age: Duration,
    retry_backoff: Duration,
}

impl MetadataState {
    pub(crate) fn new(now: Instant, max_age: Duration, retry_backoff: Duration) -> Self {
        Self {
            cache: ClusterMetadata::default(),
            tracked: BTreeSet::new(),
            all_topics: false,
            in_flight: None,
            in_flight_all: false,
            update_requested: true,
            not_before: now,
            next_refresh: now + max_age,
            max_age,
            retry_backoff,
        }
    }

    /// Asks for a refresh as soon as the rate limit allows.
    pub(crate) fn request_update(&mut self) {
        self.update_requested = true;
    }

    /// Adds a topic to every refresh; a new topic asks for one.
    pub(crate) fn track(&mut self, topic: &str) {
        // Looked up first: this runs for every record produced, and the
        // name is only copied the first time.
        if !self.tracked.contains(topic) {
            self.tracked.insert(topic.to_string());
            self.request_update();
        }
    }

    /// Fetches every topic (on) or only the tracked ones (off) from the
    /// next refresh on; turning it on asks for a refresh.
    pub(crate) fn want_all_topics(&mut self, on: bool) {
        if on && !self.all_topics {
            self.request_update();
        }
        self.all_topics = on;
    }

    /// The refresh request to send now, if one is due.
    pub(crate) fn poll_request(
        &mut self,
        now: Instant,
        queue: &mut RequestQueue,
        api_timeout: Duration,
    ) -> Option<Outbound> {
        if self.in_flight.is_some()
            || now < self.not_before
            || !(self.update_requested || now >= self.next_refresh)
        {
            return None;
        }
        let id = queue.next_id();
        self.in_flight = Some(id);
        self.update_requested = false;
        self.in_flight_all = self.all_topics;
        let topics = (!self.all_topics).then(|| {
            self.tracked
                .iter()
                .map(|t| MetadataRequestTopic::default().with_name(Some(t.clone())))
                .collect()
        });
        debug!(target: LOG, %id, topics = self.tracked.len(), all = self.all_topics, "fetching metadata");
        Some(Outbound {
            id,
            target: Target::Any,
            body: MetadataRequest::default()
                .with_topics(topics)
                .with_allow_auto_topic_creation(false)
                .into(),
            expires: now + api_timeout,
        })
    }

    /// When the next fetch is due, unless one is in flight.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        if self.in_flight.is_some() {
            None
        } else if self.update_requested {
            Some(self.not_before)
        } else {
            Some(self.next_refresh.max(self.not_before))
        }
    }

    /// Takes the answer to a refresh. Returns whether the cache changed.
    pub(crate) fn handle_response(
        &mut self,
        now: Instant,
        inbound: Inbound,
    ) -> Result<bool, FatalError> {
        if self.in_flight != Some(inbound.id) {
            return Ok(false);
        }
        self.in_flight = None;
        self.not_before = now + self.retry_backoff;
        let resp = match inbound.result {
            Ok(ResponseBody::Metadata(resp)) => resp,
            Ok(other) => {
                warn!(target: LOG, api = %other.api_key(), "unexpected response to Metadata");
                self.update_requested = true;
                return Ok(false);
            }
            Err(e) => {
                debug!(target: LOG, error = %e, "metadata fetch failed, retrying");
                self.update_requested = true;
                return Ok(false);
            }
        };
        if let Err(code) = ErrorCode::check(resp.error_code) {
            warn!(target: LOG, ?code, "metadata fetch failed, retrying");
            self.update_requested = true;
            return Ok(false);
        }
        self.next_refresh = now + self.max_age;
        let changed = self.cache.apply(&resp, self.in_flight_all)?;
        // Retry soon while a tracked topic has no usable leaders yet.
        let incomplete = self.tracked.iter().any(|t| {
            self.cache.topic(t).is_none_or(|m| {
                m.error.is_retriable() || m.partitions.iter().any(|p| p.leader.is_none())
            })
        });
        if incomplete {
            self.update_requested = true;
        }
        Ok(changed)
    }
}

/// The sub-machine that keeps the shared [`MetadataState`] (handed to
/// every machine in its [`Ctx`]) fresh: it holds no state of its own.
#[derive(Debug, Default)]
pub(crate) struct MetadataRefresh;

impl SubMachine for MetadataRefresh {
    fn poll_requests(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(req) = ctx
            .metadata
            .poll_request(ctx.now, ctx.requests, ctx.api_timeout)
        {
            ctx.requests.push(req);
        }
    }

    fn handle_response(&mut self, ctx: &mut Ctx<'_>, inbound: Inbound) {
        match ctx.metadata.handle_response(ctx.now, inbound) {
            Ok(true) => ctx.metadata_changed(),
            Ok(false) => {}
            Err(fatal) => ctx.fail(fatal),
        }
    }

    fn poll_timeout(&self, _now: Instant, metadata: &MetadataState) -> Option<Instant> {
        metadata.poll_timeout()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_proto::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };

    fn resp(leader: i32, epoch: i32) -> MetadataResponse {
        MetadataResponse::default()
            .with_cluster_id(Some("c".into()))
            .with_brokers(vec![MetadataResponseBroker::default()
                .with_node_id(leader)
                .with_host("h".into())
                .with_port(9092)])
            .with_topics(vec![MetadataResponseTopic::default()
                .with_name(Some("t".into()))
                .with_partitions(vec![MetadataResponsePartition::default()
                    .with_partition_index(0)
                    .with_leader_id(leader)
                    .with_leader_epoch(epoch)])])
    }

    #[test]
    fn older_leader_epochs_are_ignored() {
        let mut m = ClusterMetadata::default();
        assert!(m.apply(&resp(1, 5), false).unwrap());
        assert_eq!(m.leader_for("t", 0), Some(1));
        // A lagging broker reports an older epoch: keep what we know.
        assert!(!m.apply(&resp(2, 4), false).unwrap() || m.leader_for("t", 0) == Some(1));
        assert_eq!(m.leader_for("t", 0), Some(1));
        // A newer epoch moves the leader.
        m.apply(&resp(2, 6), false).unwrap();
        assert_eq!(m.leader_for("t", 0), Some(2));
        assert_eq!(m.partition("t", 0).unwrap().leader_epoch, 6);
        assert_eq!(m.broker(2), Some(&BrokerAddr::new("h", 9092)));
    }

    fn partitions(id: Uuid, count: i32) -> MetadataResponse {
        MetadataResponse::default().with_topics(vec![MetadataResponseTopic::default()
            .with_name(Some("t".into()))
            .with_topic_id(id)
            .with_partitions(
                (0..count)
                    .map(|p| {
                        MetadataResponsePartition::default()
                            .with_partition_index(p)
                            .with_leader_id(1)
                    })
                    .collect(),
            )])
    }

    #[test]
    fn partitions_are_found_by_index_in_any_order_gaps_and_repeats() {
        // A broker may list partitions out of order; a malformed answer may
        // skip or repeat one. Lookups find the first listing of each.
        let listed = [(3, 30), (0, 0), (5, 50), (3, 31), (1, 10)];
        let r = MetadataResponse::default().with_topics(vec![MetadataResponseTopic::default()
            .with_name(Some("t".into()))
            .with_partitions(
                listed
                    .iter()
                    .map(|(p, leader)| {
                        MetadataResponsePartition::default()
                            .with_partition_index(*p)
                            .with_leader_id(*leader)
                    })
                    .collect(),
            )]);
        let mut m = ClusterMetadata::default();
        m.apply(&r, false).unwrap();
        let t = m.topic("t").unwrap();
        let indexes: Vec<i32> = t.partitions.iter().map(|p| p.partition).collect();
        assert_eq!(indexes, [0, 1, 3, 5]);
        for (p, leader) in [(0, Some(0)), (1, Some(10)), (3, Some(30)), (5, Some(50))] {
            assert_eq!(m.leader_for("t", p), leader, "partition {p}");
            assert_eq!(t.partition(p).map(|q| q.partition), Some(p));
        }
        for missing in [-1, 2, 4, 6, i32::MAX, i32::MIN] {
            assert!(t.partition(missing).is_none(), "partition {missing}");
        }
    }

    #[test]
    fn partitions_already_known_are_kept_from_a_lagging_answer() {
        let id = Uuid([7; 16]);
        let mut m = ClusterMetadata::default();
        m.apply(&partitions(id, 3), false).unwrap();
        // A broker that has not learned of partitions 1 and 2 yet.
        m.apply(&partitions(id, 1), false).unwrap();
        assert_eq!(m.topic("t").unwrap().partitions.len(), 3);
        // A topic deleted and created again (a new id) starts over.
        m.apply(&partitions(Uuid([8; 16]), 1), false).unwrap();
        assert_eq!(m.topic("t").unwrap().partitions.len(), 1);
    }

    #[test]
    fn a_different_cluster_id_is_fatal() {
        let mut m = ClusterMetadata::default();
        m.apply(&resp(1, 0), false).unwrap();
        let other = resp(1, 0).with_cluster_id(Some("other".into()));
        assert!(matches!(
            m.apply(&other, false),
            Err(FatalError::ClusterIdMismatch { .. })
        ));
    }
}
