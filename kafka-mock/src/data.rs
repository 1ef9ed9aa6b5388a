//! Produce, Fetch, ListOffsets, DeleteRecords, OffsetForLeaderEpoch.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_proto::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_proto::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, LeaderIdAndEpoch as FetchLeader, PartitionData,
};
use kafka_proto::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_proto::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_proto::messages::produce_response::{
    BatchIndexAndErrorMessage, LeaderIdAndEpoch as ProduceLeader,
    NodeEndpoint as ProduceNodeEndpoint, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_proto::messages::{
    DeleteRecordsRequest, DeleteRecordsResponse, FetchRequest, FetchResponse, ListOffsetsRequest,
    ListOffsetsResponse, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, ProduceRequest,
    ProduceResponse,
};
use kafka_proto::record::{BatchHeaderMut, Batches, DecodeOptions, TimestampType};
use kafka_proto::{ApiKey, ErrorCode, ResponseBody, Uuid};

use crate::cluster::{Cluster, Park, Reply};
use crate::log::StoredBatch;
use crate::Ctx;

/// What the idempotence/transaction layer decided about a produced batch.
pub(crate) enum ProduceCheck {
    /// Append it.
    Append,
    /// A retry of a batch already written: answer with where it was
    /// written, append nothing.
    Duplicate {
        base_offset: i64,
        max_timestamp: i64,
    },
}

/// Why the idempotence/transaction layer refused a batch; Kafka's answer
/// names the log start offset only when its log refused it.
pub(crate) enum Refused {
    /// Before the log: the request's own checks and the coordinator's
    /// verification of a transactional producer.
    Early(ErrorCode),
    /// By the partition's producer state (sequence, epoch, transaction).
    Log(ErrorCode),
}

/// Where a partition's leader is, for NOT_LEADER responses.
pub(crate) struct LeaderInfo {
    leader: i32,
    epoch: i32,
}

impl Cluster {
    pub(crate) fn topic_name_by_id(&self, id: Uuid) -> Option<String> {
        self.topics
            .iter()
            .find(|(_, t)| t.id == id)
            .map(|(n, _)| n.clone())
    }

    /// Checks that `broker` leads the partition; the error to return if not.
    pub(crate) fn leader_check(
        &self,
        broker: i32,
        topic: &str,
        partition: i32,
    ) -> Result<(), (ErrorCode, Option<LeaderInfo>)> {
        let Some(t) = self.topics.get(topic) else {
            return Err((ErrorCode::UnknownTopicOrPartition, None));
        };
        let Some(p) = usize::try_from(partition)
            .ok()
            .and_then(|i| t.partitions.get(i))
        else {
            return Err((ErrorCode::UnknownTopicOrPartition, None));
        };
        if p.leader != broker || !self.brokers.get(&broker).is_some_and(|b| b.up) {
            return Err((
                ErrorCode::NotLeaderOrFollower,
                Some(LeaderInfo {
                    leader: p.leader,
                    epoch: p.leader_epoch,
                }),
            ));
        }
        Ok(())
    }

    pub(crate) fn produce(&mut self, ctx: &Ctx, req: ProduceRequest) -> Reply {
        let mut resp = ProduceResponse::default().with_throttle_time_ms(self.faults.throttle_ms);
        for td in req.topic_data {
            let mut tr = TopicProduceResponse::default()
                .with_name(td.name.clone())
                .with_topic_id(td.topic_id);
            let name = if ctx.version >= 13 {
                match self.topic_name_by_id(td.topic_id) {
                    Some(name) => name,
                    None => {
                        tr.partition_responses = td
                            .partition_data
                            .iter()
                            .map(|pd| {
                                PartitionProduceResponse::default()
                                    .with_index(pd.index)
                                    .with_error_code(ErrorCode::UnknownTopicId.code())
                                    .with_base_offset(-1)
                            })
                            .collect();
                        resp.responses.push(tr);
                        continue;
                    }
                }
            } else {
                td.name.clone()
            };
            for pd in td.partition_data {
                let pr = self.produce_partition(
                    ctx,
                    &name,
                    pd.index,
                    pd.records,
                    req.transactional_id.as_deref(),
                    req.acks,
                );
                if pr.error_code != 0 {
                    tracing::debug!(target: "kafka_mock::produce", topic = %name, partition = pd.index, error = pr.error_code, "produce rejected");
                }
                tr.partition_responses.push(pr);
            }
            resp.responses.push(tr);
        }
        // From v10 a NOT_LEADER_OR_FOLLOWER names the leader, and the
        // response carries its endpoint (KIP-951), as Kafka does.
        if ctx.version >= 10 {
            let mut leaders: Vec<i32> = resp
                .responses
                .iter()
                .flat_map(|t| &t.partition_responses)
                .map(|p| p.current_leader.leader_id)
                .filter(|&id| id >= 0)
                .collect();
            leaders.sort_unstable();
            leaders.dedup();
            resp.node_endpoints = leaders
                .into_iter()
                .filter_map(|id| self.brokers.get(&id))
                .map(|b| {
                    ProduceNodeEndpoint::default()
                        .with_node_id(b.id)
                        .with_host(self.config.host.clone())
                        .with_port(i32::from(b.port))
                        .with_rack(b.rack.clone())
                })
                .collect();
        }
        if req.acks == 0 && !self.faults.answer_acks_zero {
            Reply::Nothing
        } else {
            Reply::Respond(ResponseBody::Produce(resp))
        }
    }

    fn produce_partition(
        &mut self,
        ctx: &Ctx,
        topic: &str,
        partition: i32,
        records: Option<Bytes>,
        transactional_id: Option<&str>,
        acks: i16,
    ) -> PartitionProduceResponse {
        let mut pr = PartitionProduceResponse::default()
            .with_index(partition)
            .with_base_offset(-1);
        let fail = |mut pr: PartitionProduceResponse, code: ErrorCode, msg: Option<String>| {
            pr.error_code = code.code();
            pr.error_message = msg;
            pr
        };
        if let Some(code) =
            self.faults
                .take(ApiKey::Produce, ctx.broker, Some(topic), Some(partition))
        {
            return fail(pr, code, None);
        }
        if !matches!(acks, -1..=1) {
            return fail(pr, ErrorCode::InvalidRequiredAcks, None);
        }
        if let Err((code, leader)) = self.leader_check(ctx.broker, topic, partition) {
            if let Some(l) = leader.filter(|_| ctx.version >= 10) {
                pr.current_leader = ProduceLeader::default()
                    .with_leader_id(l.leader)
                    .with_leader_epoch(l.epoch);
            }
            return fail(pr, code, None);
        }
        let Some(records) = records.filter(|r| !r.is_empty()) else {
            return fail(pr, ErrorCode::CorruptMessage, Some("no records".into()));
        };
        if records.len() > self.config.max_message_bytes {
            return fail(pr, ErrorCode::MessageTooLarge, None);
        }
        // Exactly one complete, valid v2 batch, as Kafka requires since Produce v3.
        let mut batches = Batches::with_options(records.clone(), DecodeOptions::default());
        // Kafka answers a batch that fails its CRC, and a request with more
        // than one batch, with an error code and no message.
        let batch = match batches.next() {
            Some(Ok(b)) => b,
            Some(Err(_)) => return fail(pr, ErrorCode::CorruptMessage, None),
            None => {
                return fail(
                    pr,
                    ErrorCode::CorruptMessage,
                    Some("truncated batch".into()),
                )
            }
        };
        if batches.next().is_some() || batches.is_truncated() {
            return fail(pr, ErrorCode::InvalidRecord, None);
        }
        let header = *batch.header();
        if header.magic != 2 {
            return fail(pr, ErrorCode::UnsupportedForMessageFormat, None);
        }
        match batch.records() {
            Ok(mut it) => {
                if let Some(Err(e)) = it.find(|r| r.is_err()) {
                    return fail(pr, ErrorCode::CorruptMessage, Some(e.to_string()));
                }
            }
            Err(e) => return fail(pr, ErrorCode::CorruptMessage, Some(e.to_string())),
        }
        if header.is_control() {
            return fail(
                pr,
                ErrorCode::InvalidRecord,
                Some("clients may not write control batches".into()),
            );
        }
        let log_append = self.config.log_append_time
            || self
                .topics
                .get(topic)
                .and_then(|t| t.configs.get("message.timestamp.type"))
                .is_some_and(|v| v == "LogAppendTime");
        let now_ms = self.wall_ms(ctx.now);
        if self.config.check_timestamps && !log_append {
            let bad = self.out_of_range_timestamps(topic, &batch, now_ms);
            if !bad.is_empty() {
                // Kafka names each offending record by its index in the batch.
                pr.record_errors = bad
                    .into_iter()
                    .map(|(index, ts)| {
                        BatchIndexAndErrorMessage::default()
                            .with_batch_index(index)
                            .with_batch_index_error_message(Some(format!(
                                "timestamp {ts} is too far from the broker's clock ({now_ms})"
                            )))
                    })
                    .collect();
                // The batch reached the log, which reports its start.
                pr.log_start_offset = self.partition_log_start(topic, partition);
                return fail(
                    pr,
                    ErrorCode::InvalidTimestamp,
                    Some("records rejected for their timestamps".into()),
                );
            }
        }
        let check = self.txn_check_produce(ctx, transactional_id, topic, partition, &header);
        match check {
            Err(Refused::Early(code)) => return fail(pr, code, None),
            Err(Refused::Log(code)) => {
                pr.log_start_offset = self.partition_log_start(topic, partition);
                return fail(pr, code, None);
            }
            Ok(ProduceCheck::Duplicate {
                base_offset,
                max_timestamp,
            }) => {
                // Kafka puts the timestamp its producer state kept for the
                // batch (the create time, or the append time on
                // LogAppendTime topics) in the append time field.
                pr.base_offset = base_offset;
                pr.log_append_time_ms = max_timestamp;
                pr.log_start_offset = self.partition_log_start(topic, partition);
                return pr;
            }
            Ok(ProduceCheck::Append) => {}
        }
        let base = self.append_batch(topic, partition, &records, log_append.then_some(now_ms));
        let Some(base) = base else {
            return fail(pr, ErrorCode::CorruptMessage, None);
        };
        let max_timestamp = if log_append {
            now_ms
        } else {
            header.max_timestamp
        };
        self.txn_after_append(topic, partition, &header, base, max_timestamp);
        pr.base_offset = base;
        pr.log_append_time_ms = if log_append { now_ms } else { -1 };
        pr.log_start_offset = self.partition_log_start(topic, partition);
        pr
    }

    /// The records (index in the batch, timestamp) whose create time lies
    /// outside the topic's accepted window around `now_ms`.
    fn out_of_range_timestamps(
        &self,
        topic: &str,
        batch: &kafka_proto::record::RecordBatch,
        now_ms: i64,
    ) -> Vec<(i32, i64)> {
        let after = self
            .topic_config_i64(topic, "message.timestamp.after.max.ms")
            .unwrap_or(i64::MAX);
        let before = self
            .topic_config_i64(topic, "message.timestamp.before.max.ms")
            .unwrap_or(i64::MAX);
        let Ok(records) = batch.records() else {
            return Vec::new();
        };
        records
            .flatten()
            .enumerate()
            .filter(|(_, r)| {
                r.timestamp >= 0
                    && (r.timestamp.saturating_sub(now_ms) > after
                        || now_ms.saturating_sub(r.timestamp) > before)
            })
            .map(|(i, r)| (i as i32, r.timestamp))
            .collect()
    }

    fn partition_log_start(&self, topic: &str, partition: i32) -> i64 {
        self.topics
            .get(topic)
            .and_then(|t| t.partitions.get(partition as usize))
            .map_or(-1, |p| p.log.log_start)
    }

    /// Stamps offsets (and the append time) on one v2 batch and appends it.
    /// Returns the base offset. Also used for transaction markers.
    pub(crate) fn append_batch(
        &mut self,
        topic: &str,
        partition: i32,
        batch: &Bytes,
        log_append_time: Option<i64>,
    ) -> Option<i64> {
        let retention = self.config.retention_bytes;
        let p = self
            .topics
            .get_mut(topic)?
            .partitions
            .get_mut(partition as usize)?;
        let base = p.log.next_offset;
        let mut buf = BytesMut::from(&batch[..]);
        let mut h = BatchHeaderMut::new(&mut buf).ok()?;
        h.set_base_offset(base);
        h.set_partition_leader_epoch(p.leader_epoch);
        if let Some(ts) = log_append_time {
            h.set_log_append_time(ts);
        }
        let last_delta = h.last_offset_delta();
        let bytes = buf.freeze();
        let decoded = Batches::new(bytes.clone()).next()?.ok()?;
        let header = *decoded.header();
        let max_timestamp = if header.timestamp_type() == TimestampType::LogAppendTime {
            header.max_timestamp
        } else {
            header.max_timestamp.max(header.base_timestamp)
        };
        p.log.append(
            StoredBatch {
                base_offset: base,
                last_offset: base + i64::from(last_delta),
                max_timestamp,
                leader_epoch: p.leader_epoch,
                control: header.is_control(),
                bytes,
            },
            retention,
        );
        Some(base)
    }

    pub(crate) fn fetch(&mut self, ctx: &Ctx, req: FetchRequest) -> Reply {
        let broker = ctx.broker;
        let version = ctx.version;
        let min_bytes = req.min_bytes.max(0) as usize;
        let deadline = ctx.now + Duration::from_millis(req.max_wait_ms.max(0) as u64);
        let first = self.build_fetch(broker, version, &req);
        if first.1 >= min_bytes || first.2 || req.max_wait_ms <= 0 {
            return Reply::Respond(ResponseBody::Fetch(first.0));
        }
        Reply::Park(Park {
            deadline,
            check: Box::new(move |cluster, _now, expired| {
                let (resp, bytes, errors) = cluster.build_fetch(broker, version, &req);
                (expired || errors || bytes >= min_bytes).then_some(ResponseBody::Fetch(resp))
            }),
        })
    }

    /// Builds a Fetch response; returns it, the record bytes it carries,
    /// and whether any partition has an error (which answers at once).
    fn build_fetch(
        &mut self,
        broker: i32,
        version: i16,
        req: &FetchRequest,
    ) -> (FetchResponse, usize, bool) {
        let mut resp = FetchResponse::default().with_throttle_time_ms(self.faults.throttle_ms);
        let mut total = 0usize;
        let mut errors = false;
        let max_bytes = if req.max_bytes <= 0 {
            usize::MAX
        } else {
            req.max_bytes as usize
        };
        let read_committed = req.isolation_level == 1;
        for ft in &req.topics {
            let name = if version >= 13 {
                self.topic_name_by_id(ft.topic_id)
            } else {
                Some(ft.topic.clone())
            };
            let mut tr = FetchableTopicResponse::default()
                .with_topic(ft.topic.clone())
                .with_topic_id(ft.topic_id);
            for fp in &ft.partitions {
                let mut pd = PartitionData::default()
                    .with_partition_index(fp.partition)
                    .with_high_watermark(-1)
                    .with_last_stable_offset(-1)
                    .with_log_start_offset(-1)
                    .with_records(Some(Bytes::new()));
                let Some(name) = name.as_deref() else {
                    pd.error_code = ErrorCode::UnknownTopicId.code();
                    errors = true;
                    tr.partitions.push(pd);
                    continue;
                };
                if let Some(code) =
                    self.faults
                        .take(ApiKey::Fetch, broker, Some(name), Some(fp.partition))
                {
                    pd.error_code = code.code();
                    errors = true;
                    tr.partitions.push(pd);
                    continue;
                }
                if let Err((code, leader)) = self.leader_check(broker, name, fp.partition) {
                    pd.error_code = code.code();
                    // Kafka's log layer answers NOT_LEADER_OR_FOLLOWER with
                    // a null aborted list (an unknown partition gets an
                    // empty one).
                    if code == ErrorCode::NotLeaderOrFollower {
                        pd.aborted_transactions = None;
                    }
                    if let Some(l) = leader.filter(|_| version >= 12) {
                        pd.current_leader = FetchLeader::default()
                            .with_leader_id(l.leader)
                            .with_leader_epoch(l.epoch);
                    }
                    errors = true;
                    tr.partitions.push(pd);
                    continue;
                }
                let p = &self.topics[name].partitions[fp.partition as usize];
                if fp.current_leader_epoch >= 0 && fp.current_leader_epoch != p.leader_epoch {
                    pd.error_code = if fp.current_leader_epoch > p.leader_epoch {
                        ErrorCode::UnknownLeaderEpoch
                    } else {
                        ErrorCode::FencedLeaderEpoch
                    }
                    .code();
                    pd.aborted_transactions = None;
                    errors = true;
                    tr.partitions.push(pd);
                    continue;
                }
                let log = &p.log;
                if fp.fetch_offset < log.log_start || fp.fetch_offset > log.high_watermark() {
                    // Kafka reports no offsets (-1) and a null aborted list
                    // with OFFSET_OUT_OF_RANGE; the client asks ListOffsets.
                    pd.error_code = ErrorCode::OffsetOutOfRange.code();
                    pd.aborted_transactions = None;
                    errors = true;
                    tr.partitions.push(pd);
                    continue;
                }
                pd.high_watermark = log.high_watermark();
                pd.last_stable_offset = log.last_stable_offset();
                pd.log_start_offset = log.log_start;
                let upper = if read_committed {
                    log.last_stable_offset()
                } else {
                    log.high_watermark()
                };
                let part_max = fp.partition_max_bytes.max(0) as usize;
                let mut out = BytesMut::new();
                let mut last_included = fp.fetch_offset;
                for b in &log.batches[log.batch_index_from(fp.fetch_offset)..] {
                    if b.last_offset >= upper {
                        break;
                    }
                    // The first batch always goes out, even if over the limits,
                    // so a large record cannot block a consumer (KIP-74).
                    let first = out.is_empty() && total == 0;
                    if !first
                        && (out.len() + b.bytes.len() > part_max
                            || total + out.len() + b.bytes.len() > max_bytes)
                    {
                        break;
                    }
                    out.extend_from_slice(&b.bytes);
                    last_included = b.last_offset;
                }
                if read_committed && version >= 4 {
                    let mut aborted: Vec<AbortedTransaction> = log
                        .aborted
                        .iter()
                        .filter(|a| {
                            a.last_offset >= fp.fetch_offset && a.first_offset <= last_included
                        })
                        .map(|a| {
                            AbortedTransaction::default()
                                .with_producer_id(a.producer_id)
                                .with_first_offset(a.first_offset)
                        })
                        .collect();
                    if self.faults.reverse_aborted {
                        aborted.reverse();
                    }
                    pd.aborted_transactions = Some(aborted);
                } else {
                    pd.aborted_transactions = None;
                }
                total += out.len();
                pd.records = Some(out.freeze());
                tr.partitions.push(pd);
            }
            resp.responses.push(tr);
        }
        (resp, total, errors)
    }

    pub(crate) fn list_offsets(&mut self, ctx: &Ctx, req: ListOffsetsRequest) -> Reply {
        let mut resp =
            ListOffsetsResponse::default().with_throttle_time_ms(self.faults.throttle_ms);
        let read_committed = req.isolation_level == 1;
        for t in req.topics {
            let mut tr = ListOffsetsTopicResponse::default().with_name(t.name.clone());
            for p in t.partitions {
                let mut pr = ListOffsetsPartitionResponse::default()
                    .with_partition_index(p.partition_index)
                    .with_timestamp(-1)
                    .with_offset(-1);
                if let Some(code) = self.faults.take(
                    ApiKey::ListOffsets,
                    ctx.broker,
                    Some(&t.name),
                    Some(p.partition_index),
                ) {
                    pr.error_code = code.code();
                    tr.partitions.push(pr);
                    continue;
                }
                if let Err((code, _)) = self.leader_check(ctx.broker, &t.name, p.partition_index) {
                    pr.error_code = code.code();
                    tr.partitions.push(pr);
                    continue;
                }
                let part = &self.topics[&t.name].partitions[p.partition_index as usize];
                // A leader epoch the client knows and the partition does
                // not have is refused, as Fetch does.
                if p.current_leader_epoch >= 0 && p.current_leader_epoch != part.leader_epoch {
                    pr.error_code = if p.current_leader_epoch > part.leader_epoch {
                        ErrorCode::UnknownLeaderEpoch
                    } else {
                        ErrorCode::FencedLeaderEpoch
                    }
                    .code();
                    tr.partitions.push(pr);
                    continue;
                }
                let log = &part.log;
                // The field exists from v4; setting it for older versions
                // made the response fail to encode (and the connection close).
                if ctx.version >= 4 {
                    pr.leader_epoch = part.leader_epoch;
                }
                let latest = if read_committed {
                    log.last_stable_offset()
                } else {
                    log.high_watermark()
                };
                let found = match p.timestamp {
                    -2 => Some((log.log_start, -1)),
                    -1 => Some((latest, -1)),
                    // Max timestamp (KIP-734).
                    -3 => log.max_timestamp(),
                    // Earliest local (KIP-405): without tiering, the log start.
                    -4 => Some((log.log_start, -1)),
                    // Earliest pending upload (KIP-1023): nothing is
                    // pending without tiering, and Kafka finds no offset.
                    -5 => None,
                    ts if ts >= 0 => log.offset_for_timestamp(ts),
                    // Kafka answers an unknown special timestamp this way.
                    _ => {
                        pr.error_code = ErrorCode::UnsupportedVersion.code();
                        pr.leader_epoch = -1;
                        tr.partitions.push(pr);
                        continue;
                    }
                };
                match found {
                    Some((offset, ts)) => {
                        pr.offset = offset;
                        pr.timestamp = ts;
                        if ctx.version == 0 {
                            pr.old_style_offsets = vec![offset];
                        }
                    }
                    // No offset found: Kafka's answer carries no epoch either.
                    None => pr.leader_epoch = -1,
                }
                tr.partitions.push(pr);
            }
            resp.topics.push(tr);
        }
        Reply::Respond(ResponseBody::ListOffsets(resp))
    }

    pub(crate) fn delete_records(&mut self, ctx: &Ctx, req: DeleteRecordsRequest) -> Reply {
        let mut resp =
            DeleteRecordsResponse::default().with_throttle_time_ms(self.faults.throttle_ms);
        for t in req.topics {
            let mut tr = DeleteRecordsTopicResult::default().with_name(t.name.clone());
            for p in t.partitions {
                let mut pr = DeleteRecordsPartitionResult::default()
                    .with_partition_index(p.partition_index)
                    .with_low_watermark(-1);
                if let Some(code) = self.faults.take(
                    ApiKey::DeleteRecords,
                    ctx.broker,
                    Some(&t.name),
                    Some(p.partition_index),
                ) {
                    pr.error_code = code.code();
                } else if let Err((code, _)) =
                    self.leader_check(ctx.broker, &t.name, p.partition_index)
                {
                    pr.error_code = code.code();
                } else {
                    let log = &mut self.topics.get_mut(&t.name).expect("checked").partitions
                        [p.partition_index as usize]
                        .log;
                    let target = if p.offset == -1 {
                        log.high_watermark()
                    } else {
                        p.offset
                    };
                    if target < 0 || target > log.high_watermark() {
                        pr.error_code = ErrorCode::OffsetOutOfRange.code();
                    } else {
                        log.truncate_before(target);
                        pr.low_watermark = log.log_start;
                    }
                }
                tr.partitions.push(pr);
            }
            resp.topics.push(tr);
        }
        Reply::Respond(ResponseBody::DeleteRecords(resp))
    }

    pub(crate) fn offset_for_leader_epoch(
        &mut self,
        ctx: &Ctx,
        req: OffsetForLeaderEpochRequest,
    ) -> Reply {
        let mut resp =
            OffsetForLeaderEpochResponse::default().with_throttle_time_ms(self.faults.throttle_ms);
        for t in req.topics {
            let mut tr = OffsetForLeaderTopicResult::default().with_topic(t.topic.clone());
            for p in t.partitions {
                let mut pr = EpochEndOffset::default()
                    .with_partition(p.partition)
                    .with_leader_epoch(-1)
                    .with_end_offset(-1);
                if let Err((code, _)) = self.leader_check(ctx.broker, &t.topic, p.partition) {
                    pr.error_code = code.code();
                    tr.partitions.push(pr);
                    continue;
                }
                let part = &self.topics[&t.topic].partitions[p.partition as usize];
                if p.current_leader_epoch >= 0 && p.current_leader_epoch != part.leader_epoch {
                    pr.error_code = if p.current_leader_epoch > part.leader_epoch {
                        ErrorCode::UnknownLeaderEpoch
                    } else {
                        ErrorCode::FencedLeaderEpoch
                    }
                    .code();
                    tr.partitions.push(pr);
                    continue;
                }
                let log = &part.log;
                if p.leader_epoch >= part.leader_epoch {
                    // The field exists from v4; setting it for older versions
                    // made the response fail to encode (and the connection close).
                    if ctx.version >= 4 {
                        pr.leader_epoch = part.leader_epoch;
                    }
                    pr.end_offset = log.high_watermark();
                } else {
                    // The end of epoch E is where the first batch of a later epoch starts.
                    let next = log.batches.iter().find(|b| b.leader_epoch > p.leader_epoch);
                    let epoch = log
                        .batches
                        .iter()
                        .filter(|b| b.leader_epoch <= p.leader_epoch)
                        .map(|b| b.leader_epoch)
                        .max();
                    match (epoch, next) {
                        (Some(e), Some(n)) => {
                            pr.leader_epoch = e;
                            pr.end_offset = n.base_offset;
                        }
                        (Some(e), None) => {
                            pr.leader_epoch = e;
                            pr.end_offset = log.high_watermark();
                        }
                        (None, _) => {}
                    }
                }
                tr.partitions.push(pr);
            }
            resp.topics.push(tr);
        }
        Reply::Respond(ResponseBody::OffsetForLeaderEpoch(resp))
    }
}
