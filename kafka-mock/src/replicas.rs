//! Replica administration: partition reassignments (which complete at
//! once: the mock copies no data), leader elections, and log directories
//! (one per broker, holding the replicas the broker is assigned). Any
//! broker answers, as a Kafka broker forwards these to the controller.

use kafka_proto::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_proto::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_proto::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_proto::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
    DescribeLogDirsRequest, DescribeLogDirsResponse, ElectLeadersRequest, ElectLeadersResponse,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, RequestBody,
    ResponseBody,
};
use kafka_proto::{ApiKey, ErrorCode};

use crate::cluster::{Cluster, Reply};
use crate::Ctx;

/// Serves the replica APIs; hands any other request back.
#[allow(clippy::result_large_err)]
pub(crate) fn dispatch(
    cluster: &mut Cluster,
    ctx: &Ctx,
    body: RequestBody,
) -> Result<Reply, RequestBody> {
    let resp = match body {
        RequestBody::ListPartitionReassignments(r) => {
            ResponseBody::ListPartitionReassignments(cluster.list_reassignments(ctx, r))
        }
        RequestBody::AlterPartitionReassignments(r) => {
            ResponseBody::AlterPartitionReassignments(cluster.alter_reassignments(ctx, r))
        }
        RequestBody::ElectLeaders(r) => ResponseBody::ElectLeaders(cluster.elect_leaders(ctx, r)),
        RequestBody::DescribeLogDirs(r) => {
            ResponseBody::DescribeLogDirs(cluster.describe_log_dirs(ctx, r))
        }
        other => return Err(other),
    };
    Ok(Reply::Respond(resp))
}

impl Cluster {
    /// Nothing is ever in progress: moves complete when asked.
    fn list_reassignments(
        &mut self,
        ctx: &Ctx,
        _req: ListPartitionReassignmentsRequest,
    ) -> ListPartitionReassignmentsResponse {
        let mut resp = ListPartitionReassignmentsResponse::default()
            .with_throttle_time_ms(self.faults.throttle_ms);
        if let Some(code) =
            self.faults
                .take(ApiKey::ListPartitionReassignments, ctx.broker, None, None)
        {
            resp.error_code = code.code();
        }
        resp
    }

    /// Moves each partition to its new replicas at once; the leader stays
    /// if it is one of them, else the first becomes leader (a new epoch).
    fn alter_reassignments(
        &mut self,
        ctx: &Ctx,
        req: AlterPartitionReassignmentsRequest,
    ) -> AlterPartitionReassignmentsResponse {
        let mut resp = AlterPartitionReassignmentsResponse::default()
            .with_throttle_time_ms(self.faults.throttle_ms);
        if let Some(code) =
            self.faults
                .take(ApiKey::AlterPartitionReassignments, ctx.broker, None, None)
        {
            resp.error_code = code.code();
            return resp;
        }
        for t in req.topics {
            let mut tr = ReassignableTopicResponse::default().with_name(t.name.clone());
            for p in t.partitions {
                let (code, message) = self.reassign(&t.name, p.partition_index, p.replicas);
                tr.partitions.push(
                    ReassignablePartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code.code())
                        .with_error_message(message),
                );
            }
            resp.responses.push(tr);
        }
        resp
    }

    fn reassign(
        &mut self,
        topic: &str,
        partition: i32,
        replicas: Option<Vec<i32>>,
    ) -> (ErrorCode, Option<String>) {
        let brokers: Vec<i32> = self.brokers.keys().copied().collect();
        let Some(p) = self
            .topics
            .get_mut(topic)
            .and_then(|t| t.partitions.get_mut(usize::try_from(partition).ok()?))
        else {
            return (ErrorCode::UnknownTopicOrPartition, None);
        };
        let Some(replicas) = replicas else {
            return (ErrorCode::NoReassignmentInProgress, None);
        };
        let mut seen = std::collections::BTreeSet::new();
        if replicas.is_empty()
            || !replicas.iter().all(|b| seen.insert(*b))
            || replicas.iter().any(|b| !brokers.contains(b))
        {
            return (
                ErrorCode::InvalidReplicaAssignment,
                Some(format!(
                    "replicas {replicas:?} are not distinct live brokers"
                )),
            );
        }
        if !replicas.contains(&p.leader) {
            p.leader = replicas[0];
            p.leader_epoch += 1;
        }
        p.replicas = replicas;
        (ErrorCode::None, None)
    }

    /// A preferred election makes the first replica leader; an unclean one
    /// is never needed (every partition has a leader).
    fn elect_leaders(&mut self, ctx: &Ctx, req: ElectLeadersRequest) -> ElectLeadersResponse {
        let mut resp =
            ElectLeadersResponse::default().with_throttle_time_ms(self.faults.throttle_ms);
        if let Some(code) = self
            .faults
            .take(ApiKey::ElectLeaders, ctx.broker, None, None)
        {
            resp.error_code = code.code();
            return resp;
        }
        let asked: Vec<(String, Vec<i32>)> = match req.topic_partitions {
            Some(t) => t.into_iter().map(|t| (t.topic, t.partitions)).collect(),
            None => self
                .topics
                .iter()
                .filter(|(_, t)| !t.internal)
                .map(|(name, t)| (name.clone(), t.partitions.iter().map(|p| p.index).collect()))
                .collect(),
        };
        let unclean = req.election_type == 1;
        for (topic, partitions) in asked {
            let mut tr = ReplicaElectionResult::default().with_topic(topic.clone());
            for index in partitions {
                let p = self
                    .topics
                    .get_mut(&topic)
                    .and_then(|t| t.partitions.get_mut(usize::try_from(index).ok()?));
                let code = match p {
                    None => ErrorCode::UnknownTopicOrPartition,
                    Some(_) if unclean => ErrorCode::ElectionNotNeeded,
                    Some(p) if p.replicas.first() == Some(&p.leader) => {
                        ErrorCode::ElectionNotNeeded
                    }
                    Some(p) => {
                        p.leader = p.replicas[0];
                        p.leader_epoch += 1;
                        ErrorCode::None
                    }
                };
                tr.partition_result.push(
                    PartitionResult::default()
                        .with_partition_id(index)
                        .with_error_code(code.code()),
                );
            }
            resp.replica_election_results.push(tr);
        }
        resp
    }

    /// One directory per broker, `/mock/broker-N`, with every replica the
    /// broker is assigned (of the topics asked, or all).
    fn describe_log_dirs(
        &mut self,
        ctx: &Ctx,
        req: DescribeLogDirsRequest,
    ) -> DescribeLogDirsResponse {
        let mut resp =
            DescribeLogDirsResponse::default().with_throttle_time_ms(self.faults.throttle_ms);
        if let Some(code) = self
            .faults
            .take(ApiKey::DescribeLogDirs, ctx.broker, None, None)
        {
            resp.error_code = code.code();
            return resp;
        }
        let wanted = |topic: &str, p: i32| match &req.topics {
            None => true,
            Some(ts) => ts
                .iter()
                .any(|t| t.topic == topic && t.partitions.contains(&p)),
        };
        let mut topics = Vec::new();
        for (name, t) in &self.topics {
            let partitions: Vec<DescribeLogDirsPartition> = t
                .partitions
                .iter()
                .filter(|p| p.replicas.contains(&ctx.broker) && wanted(name, p.index))
                .map(|p| {
                    DescribeLogDirsPartition::default()
                        .with_partition_index(p.index)
                        .with_partition_size(p.log.bytes as i64)
                })
                .collect();
            if !partitions.is_empty() {
                topics.push(
                    DescribeLogDirsTopic::default()
                        .with_name(name.clone())
                        .with_partitions(partitions),
                );
            }
        }
        resp.results.push(
            DescribeLogDirsResult::default()
                .with_log_dir(format!("/mock/broker-{}", ctx.broker))
                .with_topics(topics)
                .with_total_bytes(1 << 40)
                .with_usable_bytes(1 << 39),
        );
        resp
    }
}
