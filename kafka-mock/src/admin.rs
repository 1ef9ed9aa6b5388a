//! ApiVersions, Metadata, topic administration, DescribeCluster.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use bytes::{Bytes, BytesMut};
use kafka_proto::frame::encode_response_frame;
use kafka_proto::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_proto::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_proto::messages::create_topics_response::CreatableTopicResult;
use kafka_proto::messages::delete_topics_response::DeletableTopicResult;
use kafka_proto::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_proto::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_proto::messages::{
    ApiVersionsRequest, ApiVersionsResponse, CreatePartitionsRequest, CreatePartitionsResponse,
    CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    DescribeClusterRequest, DescribeClusterResponse, MetadataRequest, MetadataResponse,
};
use kafka_proto::{ApiKey, ErrorCode, ResponseBody};

use crate::cluster::{Cluster, Partition, Reply, Topic};
use crate::log::PartitionLog;
use crate::{Ctx, MockError};

/// What Kafka without an authorizer answers for a topic's authorized
/// operations: every operation that applies to topics (READ, WRITE,
/// CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS), as
/// bits of their ACL operation codes.
const TOPIC_OPERATIONS: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);

/// The APIs this mock serves and the versions of each; `None` for the rest.
///
/// Produce starts at v3 and Fetch at v4 because the log stores only v2
/// batches (older versions would need down-conversion), as Kafka 4 does.
/// [`served_versions`] with the newest version capped where `caps` says;
/// `None` if the cap is below the oldest served version.
pub(crate) fn capped(
    key: ApiKey,
    caps: &std::collections::HashMap<ApiKey, i16>,
) -> Option<RangeInclusive<i16>> {
    let r = served_versions(key)?;
    let hi = caps.get(&key).map_or(*r.end(), |c| (*c).min(*r.end()));
    (hi >= *r.start()).then(|| *r.start()..=hi)
}

pub(crate) fn served_versions(key: ApiKey) -> Option<RangeInclusive<i16>> {
    use ApiKey::*;
    let all = key.versions();
    let (lo, mut hi) = (*all.start(), *all.end());
    if key.is_unstable(hi) {
        hi -= 1;
    }
    // TxnOffsetCommit v6 (Kafka 4.4) names topics by id only, and the
    // mock's transactional offsets are looked up by name: serving v6 would
    // answer every commit with an unknown topic.
    if key == TxnOffsetCommit {
        hi = hi.min(5);
    }
    let lo = match key {
        Produce => 3,
        Fetch => 4,
        ApiVersions
        | Metadata
        | ListOffsets
        | DeleteRecords
        | OffsetForLeaderEpoch
        | CreateTopics
        | DeleteTopics
        | CreatePartitions
        | DescribeCluster
        | DescribeConfigs
        | IncrementalAlterConfigs
        | SaslHandshake
        | SaslAuthenticate
        | FindCoordinator
        | JoinGroup
        | SyncGroup
        | Heartbeat
        | LeaveGroup
        | OffsetCommit
        | OffsetFetch
        | OffsetDelete
        | ListGroups
        | DescribeGroups
        | DeleteGroups
        | ConsumerGroupHeartbeat
        | ConsumerGroupDescribe
        | InitProducerId
        | AddPartitionsToTxn
        | AddOffsetsToTxn
        | TxnOffsetCommit
        | EndTxn
        | ListPartitionReassignments
        | AlterPartitionReassignments
        | ElectLeaders
        | DescribeLogDirs
        | DescribeProducers
        | ListTransactions
        | DescribeTransactions => lo,
        _ => return None,
    };
    Some(lo..=hi)
}

fn api_version_list() -> Vec<ApiVersion> {
    capped_version_list(&std::collections::HashMap::new())
}

/// [`api_version_list`] with the newest version of some APIs capped
/// (fault injection: an older broker).
fn capped_version_list(caps: &std::collections::HashMap<ApiKey, i16>) -> Vec<ApiVersion> {
    ApiKey::ALL
        .iter()
        .filter_map(|&k| {
            capped(k, caps).map(|r| {
                ApiVersion::default()
                    .with_api_key(k.id())
                    .with_min_version(*r.start())
                    .with_max_version(*r.end())
            })
        })
        .collect()
}

/// The answer to an ApiVersions request in a version we cannot decode:
/// a v0 response with UNSUPPORTED_VERSION and our version list, so the
/// client can retry with one we know (KIP-511).
pub(crate) fn unsupported_api_versions(frame: &Bytes) -> Option<Bytes> {
    if frame.len() < 8 || i16::from_be_bytes([frame[0], frame[1]]) != ApiKey::ApiVersions.id() {
        return None;
    }
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    if ApiKey::ApiVersions.versions().contains(&version) {
        return None;
    }
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let body = ApiVersionsResponse::default()
        .with_error_code(ErrorCode::UnsupportedVersion.code())
        .with_api_keys(api_version_list());
    let mut buf = BytesMut::new();
    encode_response_frame(
        correlation_id,
        0,
        &ResponseBody::ApiVersions(body),
        &mut buf,
    )
    .ok()?;
    Some(buf.freeze())
}

/// The most metadata records Kafka's controller writes for one request
/// (`QuorumController.MAX_RECORDS_PER_USER_OP`).
const MAX_RECORDS_PER_OP: usize = 10_000;

/// Kafka's rule for topic names.
pub(crate) fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Cluster {
    /// Creates a topic, spreading leaders and replicas over the brokers.
    pub(crate) fn create_topic_internal(
        &mut self,
        name: &str,
        partitions: i32,
        replication: i16,
        configs: BTreeMap<String, String>,
    ) -> Result<(), (ErrorCode, String)> {
        let (partitions, replication) = self.check_new_topic(name, partitions, replication)?;
        let brokers: Vec<i32> = self.brokers.keys().copied().collect();
        let offset = self.topics.len();
        let parts = (0..partitions)
            .map(|p| self.new_partition(p, offset, replication, &brokers))
            .collect();
        let id = self.new_uuid();
        self.topics.insert(
            name.to_string(),
            Topic {
                id,
                partitions: parts,
                configs,
                internal: name.starts_with("__"),
            },
        );
        tracing::debug!(target: "kafka_mock::admin", topic = name, partitions, "created topic");
        Ok(())
    }

    /// Checks a topic creation as Kafka does, without creating anything;
    /// returns the partition count and replication factor with the
    /// defaults (-1) resolved.
    /// Kafka's controller's checks of an explicit replica assignment:
    /// partitions 0..n, each with the same number of distinct, registered
    /// brokers; INVALID_REPLICA_ASSIGNMENT otherwise.
    fn check_assignment(
        &self,
        assignments: &[kafka_proto::messages::create_topics_request::CreatableReplicaAssignment],
    ) -> Result<(), (ErrorCode, String)> {
        let bad = |msg: String| Err((ErrorCode::InvalidReplicaAssignment, msg));
        let mut indexes: Vec<i32> = assignments.iter().map(|a| a.partition_index).collect();
        indexes.sort_unstable();
        if indexes.iter().zip(0..).any(|(&i, want)| i != want) {
            return bad("partitions should be a consecutive 0-based integer sequence".into());
        }
        let rf = assignments[0].broker_ids.len();
        for a in assignments {
            let p = a.partition_index;
            if a.broker_ids.is_empty() {
                return bad(format!(
                    "the manual partition assignment of partition {p} is empty"
                ));
            }
            if a.broker_ids.len() != rf {
                return bad(format!(
                    "the manual partition assignment of partition {p} has {} replicas, not {rf} as the first",
                    a.broker_ids.len()
                ));
            }
            let distinct: std::collections::BTreeSet<i32> = a.broker_ids.iter().copied().collect();
            if distinct.len() != a.broker_ids.len() {
                return bad(format!(
                    "the manual partition assignment of partition {p} includes a duplicate broker"
                ));
            }
            if let Some(b) = a.broker_ids.iter().find(|b| !self.brokers.contains_key(b)) {
                return bad(format!(
                    "The manual partition assignment includes broker {b}, but no such broker is registered."
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn check_new_topic(
        &self,
        name: &str,
        partitions: i32,
        replication: i16,
    ) -> Result<(i32, i16), (ErrorCode, String)> {
        if !valid_topic_name(name) {
            return Err((
                ErrorCode::InvalidTopicException,
                format!("invalid topic name {name:?}"),
            ));
        }
        if self.topics.contains_key(name) {
            return Err((
                ErrorCode::TopicAlreadyExists,
                format!("topic {name} already exists"),
            ));
        }
        let partitions = if partitions == -1 {
            self.config.default_partitions
        } else {
            partitions
        };
        let replication = if replication == -1 {
            self.config.default_replication
        } else {
            replication
        };
        if partitions <= 0 {
            return Err((
                ErrorCode::InvalidPartitions,
                format!("{partitions} partitions"),
            ));
        }
        let brokers = self.brokers.len();
        if replication <= 0 || replication as usize > brokers {
            return Err((
                ErrorCode::InvalidReplicationFactor,
                format!("replication factor {replication} with {brokers} brokers"),
            ));
        }
        Ok((partitions, replication))
    }

    fn new_partition(
        &self,
        index: i32,
        offset: usize,
        replication: i16,
        brokers: &[i32],
    ) -> Partition {
        let n = brokers.len();
        let first = (index as usize + offset) % n;
        let replicas: Vec<i32> = (0..replication as usize)
            .map(|r| brokers[(first + r) % n])
            .collect();
        // Lead on the first replica that is up, as a controller would elect.
        let leader = replicas
            .iter()
            .copied()
            .find(|b| self.brokers.get(b).is_some_and(|b| b.up))
            .unwrap_or(-1);
        Partition {
            index,
            leader,
            leader_epoch: 0,
            replicas,
            log: PartitionLog::default(),
        }
    }

    /// Creates a topic from the control API.
    pub fn create_topic(
        &mut self,
        name: &str,
        partitions: i32,
        replication: i16,
    ) -> Result<(), MockError> {
        self.create_topic_internal(name, partitions, replication, BTreeMap::new())
            .map_err(|(code, msg)| match code {
                ErrorCode::TopicAlreadyExists => MockError::TopicExists(name.to_string()),
                _ => MockError::Invalid(msg),
            })
    }

    /// Deletes a topic from the control API.
    pub fn delete_topic(&mut self, name: &str) -> Result<(), MockError> {
        self.topics
            .remove(name)
            .ok_or_else(|| MockError::UnknownTopic(name.to_string()))?;
        self.groups_topic_deleted(name);
        Ok(())
    }

    /// Names of all topics.
    pub fn topic_names(&self) -> Vec<String> {
        self.topics.keys().cloned().collect()
    }

    /// Log start offset and high watermark of a partition.
    pub fn partition_offsets(&self, topic: &str, partition: i32) -> Result<(i64, i64), MockError> {
        let p = self.partition(topic, partition)?;
        Ok((p.log.log_start, p.log.high_watermark()))
    }

    /// The stored batches of a partition, in offset order, as written
    /// (offsets assigned), for tests that check the log itself.
    pub fn partition_batches(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Vec<bytes::Bytes>, MockError> {
        let p = self.partition(topic, partition)?;
        Ok(p.log.batches.iter().map(|b| b.bytes.clone()).collect())
    }

    /// The leader of a partition.
    pub fn partition_leader(&self, topic: &str, partition: i32) -> Result<i32, MockError> {
        Ok(self.partition(topic, partition)?.leader)
    }

    pub(crate) fn partition_exists(&self, topic: &str, partition: i32) -> bool {
        self.partition(topic, partition).is_ok()
    }

    pub(crate) fn partition(&self, topic: &str, partition: i32) -> Result<&Partition, MockError> {
        self.topics
            .get(topic)
            .ok_or_else(|| MockError::UnknownTopic(topic.to_string()))?
            .partitions
            .get(usize::try_from(partition).unwrap_or(usize::MAX))
            .ok_or(MockError::UnknownPartition {
                topic: topic.to_string(),
                partition,
            })
    }

    pub(crate) fn api_versions(&mut self, ctx: &Ctx, _req: ApiVersionsRequest) -> Reply {
        let level = self.config.transaction_version;
        let mut resp = ApiVersionsResponse::default()
            .with_api_keys(capped_version_list(&self.faults.max_versions))
            .with_throttle_time_ms(self.faults.throttle_ms)
            .with_supported_features(vec![SupportedFeatureKey::default()
                .with_name("transaction.version".into())
                .with_min_version(0)
                .with_max_version(2)])
            .with_finalized_features_epoch(1)
            .with_finalized_features(vec![FinalizedFeatureKey::default()
                .with_name("transaction.version".into())
                .with_min_version_level(level)
                .with_max_version_level(level)]);
        if let Some(code) = self
            .faults
            .take(ApiKey::ApiVersions, ctx.broker, None, None)
        {
            resp.error_code = code.code();
        }
        Reply::Respond(ResponseBody::ApiVersions(resp))
    }

    pub(crate) fn live_brokers(&self) -> impl Iterator<Item = &crate::cluster::Broker> {
        self.brokers.values().filter(|b| b.up)
    }

    pub(crate) fn metadata(&mut self, ctx: &Ctx, req: MetadataRequest) -> Reply {
        let include_ops = req.include_topic_authorized_operations;
        let mut resp = MetadataResponse::default()
            .with_throttle_time_ms(self.faults.throttle_ms)
            .with_cluster_id(Some(self.config.cluster_id.clone()))
            .with_controller_id(self.controller);
        if let Some(code) = self.faults.take(ApiKey::Metadata, ctx.broker, None, None) {
            if ctx.version >= 13 {
                resp.error_code = code.code();
                return Reply::Respond(ResponseBody::Metadata(resp));
            }
        }
        resp.brokers = self
            .live_brokers()
            .map(|b| {
                MetadataResponseBroker::default()
                    .with_node_id(b.id)
                    .with_host(self.config.host.clone())
                    .with_port(i32::from(b.port))
                    .with_rack(b.rack.clone())
            })
            .collect();
        // Null (or, in v0, empty) means every topic.
        let wanted: Option<Vec<(Option<String>, kafka_proto::Uuid)>> = match req.topics {
            None => None,
            Some(t) if t.is_empty() && ctx.version == 0 => None,
            Some(t) => Some(t.into_iter().map(|t| (t.name, t.topic_id)).collect()),
        };
        let auto_create =
            self.config.auto_create_topics && (ctx.version < 4 || req.allow_auto_topic_creation);
        let names: Vec<(Option<String>, kafka_proto::Uuid)> = match wanted {
            None => self
                .topics
                .keys()
                .map(|n| (Some(n.clone()), kafka_proto::Uuid::ZERO))
                .collect(),
            Some(w) => w,
        };
        for (name, id) in names {
            // A topic id, when given, decides (Kafka ignores the name then).
            let name = if id != kafka_proto::Uuid::ZERO {
                self.topic_name_by_id(id)
            } else {
                name
            };
            let Some(name) = name else {
                resp.topics.push(
                    MetadataResponseTopic::default()
                        .with_error_code(ErrorCode::UnknownTopicId.code())
                        .with_name(None)
                        .with_topic_id(id),
                );
                continue;
            };
            if !self.topics.contains_key(&name) {
                let code = if !valid_topic_name(&name) {
                    Some(ErrorCode::InvalidTopicException)
                } else if auto_create {
                    let partitions = self.config.default_partitions;
                    let replication = self
                        .config
                        .default_replication
                        .min(self.brokers.len() as i16);
                    self.create_topic_internal(&name, partitions, replication, BTreeMap::new())
                        .err()
                        .map(|(c, _)| c)
                } else {
                    Some(ErrorCode::UnknownTopicOrPartition)
                };
                if let Some(code) = code {
                    resp.topics.push(
                        MetadataResponseTopic::default()
                            .with_error_code(code.code())
                            .with_name(Some(name)),
                    );
                    continue;
                }
            }
            let t = &self.topics[&name];
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let up = |b: &i32| self.brokers.get(b).is_some_and(|b| b.up);
                    let isr: Vec<i32> = p.replicas.iter().copied().filter(up).collect();
                    let offline: Vec<i32> = p.replicas.iter().copied().filter(|b| !up(b)).collect();
                    let leader_up = up(&p.leader);
                    MetadataResponsePartition::default()
                        .with_error_code(if leader_up {
                            0
                        } else {
                            ErrorCode::LeaderNotAvailable.code()
                        })
                        .with_partition_index(p.index)
                        .with_leader_id(if leader_up { p.leader } else { -1 })
                        .with_leader_epoch(p.leader_epoch)
                        .with_replica_nodes(p.replicas.clone())
                        .with_isr_nodes(isr)
                        .with_offline_replicas(offline)
                })
                .collect();
            // No authorizer: like Kafka without one, every operation
            // that applies to a topic.
            let authorized = if ctx.version >= 8 && include_ops {
                TOPIC_OPERATIONS
            } else {
                i32::MIN
            };
            resp.topics.push(
                MetadataResponseTopic::default()
                    .with_name(Some(name.clone()))
                    .with_topic_id(t.id)
                    .with_is_internal(t.internal)
                    .with_partitions(partitions)
                    .with_topic_authorized_operations(authorized),
            );
        }
        Reply::Respond(ResponseBody::Metadata(resp))
    }

    pub(crate) fn create_topics(&mut self, ctx: &Ctx, req: CreateTopicsRequest) -> Reply {
        let mut resp =
            CreateTopicsResponse::default().with_throttle_time_ms(self.faults.throttle_ms);
        // A name given twice fails once, and neither copy is created (Kafka
        // answers a single INVALID_REQUEST for it).
        let mut seen = std::collections::HashMap::new();
        for t in &req.topics {
            *seen.entry(t.name.clone()).or_insert(0) += 1;
        }
        let mut answered = std::collections::HashSet::new();
        // Kafka's controller refuses to write more than MAX_RECORDS_PER_OP
        // metadata records for one request: one per topic, partition and
        // config. A topic that would go past it fails; the count is not
        // charged for it.
        let mut records = 0usize;
        for t in req.topics {
            if !answered.insert(t.name.clone()) {
                continue;
            }
            let needed = 1
                + usize::try_from(t.num_partitions.max(t.assignments.len() as i32)).unwrap_or(0)
                + t.configs.len();
            let mut r = CreatableTopicResult::default()
                .with_name(t.name.clone())
                .with_error_message(None)
                .with_num_partitions(-1)
                .with_replication_factor(-1);
            let configs: BTreeMap<String, String> = t
                .configs
                .iter()
                .filter_map(|c| c.value.clone().map(|v| (c.name.clone(), v)))
                .collect();
            let result = if seen[&t.name] > 1 {
                Err((
                    ErrorCode::InvalidRequest,
                    format!("topic {} is listed more than once", t.name),
                ))
            } else if records + needed > MAX_RECORDS_PER_OP {
                Err((
                    ErrorCode::PolicyViolation,
                    "too many partitions in one request".into(),
                ))
            } else if let Some(code) =
                self.faults
                    .take(ApiKey::CreateTopics, ctx.broker, Some(&t.name), None)
            {
                Err((code, code.description().to_string()))
            } else if !t.assignments.is_empty() {
                // Explicit assignments: partition count and replicas come from them.
                let n = t.assignments.len() as i32;
                let rf = t.assignments[0].broker_ids.len() as i16;
                if t.num_partitions != -1 || t.replication_factor != -1 {
                    Err((
                        ErrorCode::InvalidRequest,
                        "assignments exclude partition count and replication factor".into(),
                    ))
                } else if let Err(e) = self.check_assignment(&t.assignments) {
                    Err(e)
                } else if req.validate_only {
                    self.check_new_topic(&t.name, n, rf).map(|(n, rf)| {
                        r.num_partitions = n;
                        r.replication_factor = rf;
                    })
                } else {
                    self.create_topic_internal(&t.name, n, rf, configs.clone())
                        .map(|()| {
                            let topic = self.topics.get_mut(&t.name).expect("just created");
                            for a in &t.assignments {
                                if let Some(p) =
                                    topic.partitions.get_mut(a.partition_index as usize)
                                {
                                    p.replicas = a.broker_ids.clone();
                                    p.leader = a.broker_ids.first().copied().unwrap_or(-1);
                                }
                            }
                        })
                }
            } else if req.validate_only {
                // Checked like a creation, and answered like one (Kafka
                // even hands out a topic id), but nothing is created.
                self.check_new_topic(&t.name, t.num_partitions, t.replication_factor)
                    .map(|(n, rf)| {
                        r.topic_id = self.new_uuid();
                        r.num_partitions = n;
                        r.replication_factor = rf;
                    })
            } else {
                self.create_topic_internal(
                    &t.name,
                    t.num_partitions,
                    t.replication_factor,
                    configs.clone(),
                )
            };
            match result {
                Ok(()) => {
                    records += needed;
                    if let Some(topic) = self.topics.get(&t.name).filter(|_| !req.validate_only) {
                        r.topic_id = topic.id;
                        r.num_partitions = topic.partitions.len() as i32;
                        r.replication_factor = topic.partitions[0].replicas.len() as i16;
                    }
                    // From v5 Kafka reports every config of the new topic.
                    if ctx.version >= 5 {
                        r.configs = Some(self.created_topic_configs(&configs));
                    }
                }
                Err((code, msg)) => {
                    r.error_code = code.code();
                    r.error_message = Some(msg);
                }
            }
            resp.topics.push(r);
        }
        Reply::Respond(ResponseBody::CreateTopics(resp))
    }

    pub(crate) fn delete_topics(&mut self, ctx: &Ctx, req: DeleteTopicsRequest) -> Reply {
        let mut resp =
            DeleteTopicsResponse::default().with_throttle_time_ms(self.faults.throttle_ms);
        let targets: Vec<(Option<String>, kafka_proto::Uuid)> = if ctx.version >= 6 {
            req.topics
                .into_iter()
                .map(|t| (t.name, t.topic_id))
                .collect()
        } else {
            req.topic_names
                .into_iter()
                .map(|n| (Some(n), kafka_proto::Uuid::ZERO))
                .collect()
        };
        for (name, id) in targets {
            let resolved = name.clone().or_else(|| self.topic_name_by_id(id));
            let mut r = DeletableTopicResult::default()
                .with_name(resolved.clone())
                .with_topic_id(id);
            match resolved {
                Some(n) if self.topics.contains_key(&n) => {
                    if let Some(code) =
                        self.faults
                            .take(ApiKey::DeleteTopics, ctx.broker, Some(&n), None)
                    {
                        r.error_code = code.code();
                    } else {
                        let t = self.topics.remove(&n).expect("checked");
                        r.topic_id = t.id;
                        self.groups_topic_deleted(&n);
                    }
                }
                // Kafka explains these failures in error_message.
                _ if name.is_none() => {
                    r.error_code = ErrorCode::UnknownTopicId.code();
                    r.error_message = Some(ErrorCode::UnknownTopicId.description().into());
                }
                _ => {
                    r.error_code = ErrorCode::UnknownTopicOrPartition.code();
                    r.error_message = Some(ErrorCode::UnknownTopicOrPartition.description().into());
                }
            }
            resp.responses.push(r);
        }
        Reply::Respond(ResponseBody::DeleteTopics(resp))
    }

    pub(crate) fn create_partitions(&mut self, ctx: &Ctx, req: CreatePartitionsRequest) -> Reply {
        let mut resp =
            CreatePartitionsResponse::default().with_throttle_time_ms(self.faults.throttle_ms);
        let brokers: Vec<i32> = self.brokers.keys().copied().collect();
        for t in req.topics {
            let mut r = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            let current = self.topics.get(&t.name).map(|topic| {
                (
                    topic.partitions.len() as i32,
                    topic.partitions[0].replicas.len() as i16,
                )
            });
            match current {
                None => r.error_code = ErrorCode::UnknownTopicOrPartition.code(),
                Some((n, _)) if t.count <= n => {
                    r.error_code = ErrorCode::InvalidPartitions.code();
                    r.error_message =
                        Some(format!("topic has {n} partitions; asked for {}", t.count));
                }
                // The controller's bound on records per request applies
                // here too (and keeps a hostile count from exhausting memory).
                Some((n, _)) if (t.count - n) as usize > MAX_RECORDS_PER_OP => {
                    r.error_code = ErrorCode::PolicyViolation.code();
                    r.error_message = Some("too many partitions in one request".into());
                }
                Some((n, rf)) => {
                    if let Some(code) =
                        self.faults
                            .take(ApiKey::CreatePartitions, ctx.broker, Some(&t.name), None)
                    {
                        r.error_code = code.code();
                    } else if !req.validate_only {
                        let offset = self.topics.len();
                        let new: Vec<Partition> = (n..t.count)
                            .map(|p| self.new_partition(p, offset, rf, &brokers))
                            .collect();
                        let topic = self.topics.get_mut(&t.name).expect("checked");
                        topic.partitions.extend(new);
                    }
                }
            }
            resp.results.push(r);
        }
        Reply::Respond(ResponseBody::CreatePartitions(resp))
    }

    pub(crate) fn describe_cluster(&mut self, ctx: &Ctx, _req: DescribeClusterRequest) -> Reply {
        let mut resp = DescribeClusterResponse::default()
            .with_throttle_time_ms(self.faults.throttle_ms)
            .with_cluster_id(self.config.cluster_id.clone())
            .with_controller_id(self.controller)
            .with_endpoint_type(1);
        if let Some(code) = self
            .faults
            .take(ApiKey::DescribeCluster, ctx.broker, None, None)
        {
            resp.error_code = code.code();
        } else {
            resp.brokers = self
                .live_brokers()
                .map(|b| {
                    DescribeClusterBroker::default()
                        .with_broker_id(b.id)
                        .with_host(self.config.host.clone())
                        .with_port(i32::from(b.port))
                        .with_rack(b.rack.clone())
                })
                .collect();
        }
        Reply::Respond(ResponseBody::DescribeCluster(resp))
    }
}
