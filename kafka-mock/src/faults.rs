//! Faults a test can script: injected error codes, latency, silence.

use std::collections::HashMap;
use std::time::Duration;

use kafka_proto::{ApiKey, ErrorCode};

/// Makes the next `count` matching requests fail with `error`.
///
/// Partition-level APIs (Produce, Fetch, ListOffsets, ...) apply the error
/// to matching partitions; others to the whole response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorInjection {
    /// The API whose requests fail.
    pub api: ApiKey,
    /// The error code returned.
    pub error: ErrorCode,
    /// How many requests (or partitions, for partition-level APIs) fail.
    pub count: u32,
    /// Only requests sent to this broker.
    pub broker: Option<i32>,
    /// Only this topic.
    pub topic: Option<String>,
    /// Only this partition (with `topic`).
    pub partition: Option<i32>,
}

impl ErrorInjection {
    /// Fails the next `count` requests of `api`, on any broker, with `error`.
    pub fn new(api: ApiKey, error: ErrorCode, count: u32) -> Self {
        Self {
            api,
            error,
            count,
            broker: None,
            topic: None,
            partition: None,
        }
    }

    /// Restricts the injection to one broker.
    pub fn on_broker(mut self, broker: i32) -> Self {
        self.broker = Some(broker);
        self
    }

    /// Restricts the injection to one topic partition.
    pub fn on_partition(mut self, topic: impl Into<String>, partition: i32) -> Self {
        self.topic = Some(topic.into());
        self.partition = Some(partition);
        self
    }
}

/// Fault state of a cluster.
#[derive(Debug, Default)]
pub struct Faults {
    pub(crate) errors: Vec<ErrorInjection>,
    pub(crate) broker_latency: HashMap<i32, Duration>,
    pub(crate) api_latency: HashMap<ApiKey, Duration>,
    pub(crate) throttle_ms: i32,
    /// Answer acks=0 produce requests, which Kafka never does (Tansu 0.6
    /// does): for testing clients against such brokers.
    pub(crate) answer_acks_zero: bool,
    /// Newest version served per API, below what the mock knows: an older
    /// broker.
    pub(crate) max_versions: HashMap<ApiKey, i16>,
    /// List a read_committed Fetch's aborted transactions newest first.
    pub(crate) reverse_aborted: bool,
}

impl Faults {
    /// Latency added to a response of `api` from `broker`.
    pub(crate) fn latency(&self, broker: i32, api: ApiKey) -> Duration {
        self.broker_latency
            .get(&broker)
            .copied()
            .unwrap_or_default()
            + self.api_latency.get(&api).copied().unwrap_or_default()
    }

    /// Takes one matching injected error, if any is armed.
    pub(crate) fn take(
        &mut self,
        api: ApiKey,
        broker: i32,
        topic: Option<&str>,
        partition: Option<i32>,
    ) -> Option<ErrorCode> {
        let i = self.errors.iter().position(|e| {
            e.api == api
                && e.count > 0
                && e.broker.is_none_or(|b| b == broker)
                && e.topic.as_deref().is_none_or(|t| Some(t) == topic)
                && e.partition.is_none_or(|p| Some(p) == partition)
        })?;
        let e = &mut self.errors[i];
        e.count -= 1;
        let code = e.error;
        if e.count == 0 {
            self.errors.remove(i);
        }
        Some(code)
    }
}

impl crate::Cluster {
    /// Arms an error injection.
    pub fn inject_error(&mut self, injection: ErrorInjection) {
        self.faults.errors.push(injection);
    }

    /// Adds latency to every response from `broker` (zero removes it).
    pub fn set_broker_latency(&mut self, broker: i32, latency: Duration) {
        self.faults.broker_latency.insert(broker, latency);
    }

    /// Lists the aborted transactions of a read_committed Fetch answer
    /// newest first: Kafka promises no order, so a reader must sort them.
    pub fn set_reverse_aborted_transactions(&mut self, on: bool) {
        self.faults.reverse_aborted = on;
    }

    /// Answers acks=0 produce requests like acks=1 ones, as some brokers
    /// wrongly do (Tansu 0.6); Kafka sends nothing back for them.
    pub fn set_answer_acks_zero(&mut self, on: bool) {
        self.faults.answer_acks_zero = on;
    }

    /// Serves `api` up to version `max` only, as an older broker would:
    /// ApiVersions advertises the cap and newer requests close the
    /// connection. Applies to connections set up afterwards.
    pub fn set_max_version(&mut self, api: ApiKey, max: i16) {
        self.faults.max_versions.insert(api, max);
    }

    /// Adds latency to every response of `api` (zero removes it).
    pub fn set_api_latency(&mut self, api: ApiKey, latency: Duration) {
        self.faults.api_latency.insert(api, latency);
    }

    /// Reports `ms` of throttling in every response that has the field.
    pub fn set_throttle_ms(&mut self, ms: i32) {
        self.faults.throttle_ms = ms.max(0);
    }

    /// Caps the size of a produced batch.
    pub fn set_max_message_bytes(&mut self, bytes: usize) {
        self.config.max_message_bytes = bytes;
    }

    /// Closes every open connection to `broker`.
    pub fn drop_connections(&mut self, broker: i32) {
        self.close_broker_connections(broker, "connection dropped by fault injection");
    }

    /// Makes `broker` read requests without ever answering, or answer again.
    pub fn set_broker_silent(&mut self, broker: i32, silent: bool) -> Result<(), crate::MockError> {
        self.brokers
            .get_mut(&broker)
            .ok_or(crate::MockError::UnknownBroker(broker))?
            .silent = silent;
        Ok(())
    }

    /// Takes a broker down or brings it back.
    ///
    /// Down: its connections close, new ones are closed on accept, and each
    /// partition it led moves to the next live replica with a new leader
    /// epoch (or has no leader if none is live). Up: partitions without a
    /// live leader elect it if it is a replica.
    pub fn set_broker_up(&mut self, broker: i32, up: bool) -> Result<(), crate::MockError> {
        let b = self
            .brokers
            .get_mut(&broker)
            .ok_or(crate::MockError::UnknownBroker(broker))?;
        if b.up == up {
            return Ok(());
        }
        b.up = up;
        if !up {
            self.close_broker_connections(broker, "broker down");
        }
        let live: Vec<i32> = self
            .brokers
            .values()
            .filter(|b| b.up)
            .map(|b| b.id)
            .collect();
        if !live.contains(&self.controller) {
            self.controller = live.first().copied().unwrap_or(-1);
        }
        for topic in self.topics.values_mut() {
            for p in &mut topic.partitions {
                let leader_live = live.contains(&p.leader);
                if !leader_live {
                    if let Some(&next) = p.replicas.iter().find(|r| live.contains(r)) {
                        p.leader = next;
                        p.leader_epoch += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// Moves a partition's leadership to `broker` with a new leader epoch.
    pub fn move_leader(
        &mut self,
        topic: &str,
        partition: i32,
        broker: i32,
    ) -> Result<(), crate::MockError> {
        if !self.brokers.contains_key(&broker) {
            return Err(crate::MockError::UnknownBroker(broker));
        }
        let p = self
            .topics
            .get_mut(topic)
            .ok_or_else(|| crate::MockError::UnknownTopic(topic.to_string()))?
            .partitions
            .get_mut(usize::try_from(partition).unwrap_or(usize::MAX))
            .ok_or(crate::MockError::UnknownPartition {
                topic: topic.to_string(),
                partition,
            })?;
        if !p.replicas.contains(&broker) {
            p.replicas.push(broker);
        }
        p.leader = broker;
        p.leader_epoch += 1;
        Ok(())
    }
}
