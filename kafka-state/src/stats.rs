//! Statistics: a snapshot of what the client already sees, taken on
//! demand with [`Client::stats`](crate::Client::stats) or pushed every
//! [`Config::stats_interval`](crate::Config::stats_interval) as
//! [`Event::Stats`](crate::Event::Stats).
//!
//! The hot paths only bump counters: a connection counts its requests,
//! responses, bytes and throttling, and keeps the round-trip times of its
//! last [`RTT_WINDOW`] answered requests; the producer counts delivery
//! reports. Everything else (queues, positions, lag, group state) is read
//! from the machines when a snapshot is taken.
//!
//! With the `serde` feature every type here implements
//! `serde::Serialize`; durations are whole microseconds or milliseconds,
//! as the field names say.

use std::time::Duration;

use crate::Broker;

/// How many of a connection's latest round trips the latency figures
/// cover.
pub const RTT_WINDOW: usize = 256;

/// A snapshot of one client.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ClientStats {
    /// The client id sent to brokers.
    pub client_id: String,
    /// Microseconds since the client was created, by the client's clock.
    pub age_us: u64,
    /// One entry per broker connection slot (a broker's general,
    /// coordinator and producer connections are apart), counted across
    /// reconnects.
    pub brokers: Vec<BrokerStats>,
    /// Partitions the producer holds records for or the consumer is
    /// assigned, in topic and partition order.
    pub partitions: Vec<PartitionStats>,
    /// The group member, when a group is configured.
    pub group: Option<GroupStats>,
    /// Sums over brokers and partitions, and the producer's counters.
    pub totals: TotalStats,
}

/// What a connection to a broker is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum ConnRole {
    /// A bootstrap address, before metadata named its node.
    Bootstrap,
    /// Metadata, fetches, admin and offset requests.
    #[default]
    General,
    /// The group coordinator's requests.
    Coordinator,
    /// The producer's batches and transaction requests.
    Producer,
}

/// Where a connection slot is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum ConnState {
    /// No connection, and none needed or allowed yet.
    #[default]
    Down,
    /// No connection: the last one failed and the reconnect backoff runs.
    Backoff,
    /// The adapter is opening the socket.
    Connecting,
    /// ApiVersions in flight.
    Negotiating,
    /// SASL in progress.
    Authenticating,
    /// Carries requests.
    Ready,
}

/// Round-trip times of a connection's latest answered requests (at most
/// [`RTT_WINDOW`]), from the request being handed to the adapter to its
/// response being read. Fetches are left out: a broker holds them for
/// up to `fetch_max_wait`, which says nothing about the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Latency {
    /// How many round trips the figures cover.
    pub samples: u32,
    /// Mean, in microseconds.
    pub avg_us: u64,
    /// Median, in microseconds.
    pub p50_us: u64,
    /// 99th percentile, in microseconds.
    pub p99_us: u64,
    /// Slowest, in microseconds.
    pub max_us: u64,
}

/// One broker connection slot.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct BrokerStats {
    /// The broker's node id; `None` for a bootstrap address.
    pub node: Option<i32>,
    /// What the connection is for.
    pub role: ConnRole,
    /// Where the connection is now.
    pub state: ConnState,
    /// Connections opened in this slot.
    pub connects: u64,
    /// Connections lost or closed in this slot.
    pub disconnects: u64,
    /// Requests sent and not yet answered on the current connection.
    pub in_flight: u64,
    /// Requests sent, setup (ApiVersions, SASL) included.
    pub requests_sent: u64,
    /// Bytes handed to the adapter for this slot, TLS records included.
    pub bytes_sent: u64,
    /// Responses read.
    pub responses_received: u64,
    /// Bytes read from the socket.
    pub bytes_received: u64,
    /// Responses that asked the client to hold back (quota throttling).
    pub throttled_responses: u64,
    /// Throttle time of all responses, in milliseconds.
    pub throttle_time_ms: u64,
    /// Throttle time of the last throttled response, in milliseconds.
    pub last_throttle_ms: u64,
    /// Round-trip times on the current connection; `None` before any
    /// answer.
    pub rtt: Option<Latency>,
}

/// The producer's view of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ProducerPartitionStats {
    /// Records waiting in batches not yet sent.
    pub queued_records: u64,
    /// Estimated encoded bytes of those records.
    pub queued_bytes: u64,
    /// Batches sent and not yet acknowledged.
    pub in_flight_batches: u64,
    /// Records in those batches.
    pub in_flight_records: u64,
}

/// The consumer's view of one assigned partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ConsumerPartitionStats {
    /// Where the next fetch continues from; `None` until known.
    pub position: Option<i64>,
    /// The next offset the application has not processed (what a commit
    /// stores); `None` before it processed anything. The adapters store
    /// the offsets of the records they yield at the next pull or commit.
    pub consumed_offset: Option<i64>,
    /// The high watermark as of the last fetch.
    pub high_watermark: Option<i64>,
    /// The last stable offset as of the last fetch.
    pub last_stable_offset: Option<i64>,
    /// How far the position is behind the end (the high watermark, or
    /// the last stable offset under read_committed).
    pub lag: Option<i64>,
    /// Fetching is paused by the application.
    pub paused: bool,
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct PartitionStats {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The leader as metadata last said.
    pub leader: Option<i32>,
    /// Set when the producer holds records for the partition.
    pub producer: Option<ProducerPartitionStats>,
    /// Set when the consumer is assigned the partition.
    pub consumer: Option<ConsumerPartitionStats>,
}

/// Where the group member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum GroupState {
    /// Not subscribed, left, or stopped for good.
    #[default]
    Idle,
    /// Subscribed; joins once the coordinator is reachable.
    Unjoined,
    /// Joining (classic JoinGroup, or the first consumer-protocol
    /// heartbeat).
    Joining,
    /// The assignment is being computed or synced.
    Syncing,
    /// In the group with an assignment.
    Stable,
}

/// The group member.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct GroupStats {
    /// The group.
    pub group_id: String,
    /// `"classic"` or `"consumer"` (KIP-848).
    pub protocol: &'static str,
    /// Where the member is.
    pub state: GroupState,
    /// The generation (member epoch under the consumer protocol); -1
    /// outside any.
    pub generation: i32,
    /// The member id; empty before the coordinator gave one.
    pub member_id: String,
    /// The coordinator's node id, once found.
    pub coordinator: Option<i32>,
    /// Partitions the member owns.
    pub assigned_partitions: u64,
    /// Rebalances (assignments received) since the client started.
    pub rebalances: u64,
}

/// Sums over the whole client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct TotalStats {
    /// Requests sent to every broker.
    pub requests_sent: u64,
    /// Bytes sent to every broker.
    pub bytes_sent: u64,
    /// Responses read from every broker.
    pub responses_received: u64,
    /// Bytes read from every broker.
    pub bytes_received: u64,
    /// Connections opened.
    pub connects: u64,
    /// Connections lost or closed.
    pub disconnects: u64,
    /// Requests sent and not yet answered.
    pub in_flight: u64,
    /// Records the producer holds (queued, waiting for metadata or in
    /// flight).
    pub producer_records: u64,
    /// Bytes the producer holds, against `buffer_memory`.
    pub producer_bytes: u64,
    /// Records reported delivered.
    pub records_delivered: u64,
    /// Records reported failed.
    pub records_failed: u64,
    /// Lag summed over assigned partitions that know theirs.
    pub consumer_lag: u64,
}

/// What one connection counts; closed connections' counts are summed per
/// slot in the client.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnCounters {
    pub(crate) connects: u64,
    pub(crate) disconnects: u64,
    pub(crate) requests_sent: u64,
    pub(crate) bytes_sent: u64,
    pub(crate) responses: u64,
    pub(crate) bytes_received: u64,
    pub(crate) throttled: u64,
    pub(crate) throttle_ms: u64,
    pub(crate) last_throttle_ms: u64,
}

impl ConnCounters {
    pub(crate) fn add(&mut self, o: &ConnCounters) {
        self.connects += o.connects;
        self.disconnects += o.disconnects;
        self.requests_sent += o.requests_sent;
        self.bytes_sent += o.bytes_sent;
        self.responses += o.responses;
        self.bytes_received += o.bytes_received;
        self.throttled += o.throttled;
        self.throttle_ms += o.throttle_ms;
        if o.last_throttle_ms > 0 {
            self.last_throttle_ms = o.last_throttle_ms;
        }
    }

    pub(crate) fn throttle(&mut self, ms: i32) {
        if ms > 0 {
            self.throttled += 1;
            self.throttle_ms += ms as u64;
            self.last_throttle_ms = ms as u64;
        }
    }

    pub(crate) fn fill(&self, b: &mut BrokerStats) {
        b.connects = self.connects;
        b.disconnects = self.disconnects;
        b.requests_sent = self.requests_sent;
        b.bytes_sent = self.bytes_sent;
        b.responses_received = self.responses;
        b.bytes_received = self.bytes_received;
        b.throttled_responses = self.throttled;
        b.throttle_time_ms = self.throttle_ms;
        b.last_throttle_ms = self.last_throttle_ms;
    }
}

/// The latest [`RTT_WINDOW`] round trips of a connection, in
/// microseconds; allocated at the first sample.
#[derive(Debug, Clone, Default)]
pub(crate) struct RttWindow {
    samples: Vec<u32>,
    next: usize,
}

impl RttWindow {
    pub(crate) fn record(&mut self, rtt: Duration) {
        let us = u32::try_from(rtt.as_micros()).unwrap_or(u32::MAX);
        if self.samples.len() < RTT_WINDOW {
            self.samples.push(us);
        } else {
            self.samples[self.next] = us;
        }
        self.next = (self.next + 1) % RTT_WINDOW;
    }

    pub(crate) fn latency(&self) -> Option<Latency> {
        if self.samples.is_empty() {
            return None;
        }
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        let n = sorted.len();
        let rank = |q: usize| sorted[((n * q).div_ceil(100)).clamp(1, n) - 1] as u64;
        let sum: u64 = sorted.iter().map(|s| *s as u64).sum();
        Some(Latency {
            samples: n as u32,
            avg_us: sum / n as u64,
            p50_us: rank(50),
            p99_us: rank(99),
            max_us: sorted[n - 1] as u64,
        })
    }
}

impl Broker {
    pub(crate) fn stats_key(self) -> (Option<i32>, ConnRole) {
        match self {
            Broker::Bootstrap(_) => (None, ConnRole::Bootstrap),
            Broker::Node(n) => (Some(n), ConnRole::General),
            Broker::Coordinator(n) => (Some(n), ConnRole::Coordinator),
            Broker::Producer(n) => (Some(n), ConnRole::Producer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_keeps_the_latest_samples_and_ranks_them() {
        let mut w = RttWindow::default();
        assert_eq!(w.latency(), None);
        for ms in 1..=100u64 {
            w.record(Duration::from_millis(ms));
        }
        let l = w.latency().unwrap();
        assert_eq!(l.samples, 100);
        assert_eq!(l.p50_us, 50_000);
        assert_eq!(l.p99_us, 99_000);
        assert_eq!(l.max_us, 100_000);
        assert_eq!(l.avg_us, 50_500);
        // Past the window the oldest go first: only the slow ones remain.
        for _ in 0..RTT_WINDOW {
            w.record(Duration::from_secs(1));
        }
        let l = w.latency().unwrap();
        assert_eq!(l.samples as usize, RTT_WINDOW);
        assert_eq!((l.p50_us, l.max_us), (1_000_000, 1_000_000));
    }

    #[test]
    fn one_sample_is_every_percentile() {
        let mut w = RttWindow::default();
        w.record(Duration::from_micros(7));
        let l = w.latency().unwrap();
        assert_eq!((l.avg_us, l.p50_us, l.p99_us, l.max_us), (7, 7, 7, 7));
    }

    #[test]
    fn throttle_counts_only_positive_times() {
        let mut c = ConnCounters::default();
        c.throttle(0);
        c.throttle(-1);
        assert_eq!(c.throttled, 0);
        c.throttle(30);
        c.throttle(20);
        assert_eq!(
            (c.throttled, c.throttle_ms, c.last_throttle_ms),
            (2, 50, 20)
        );
    }
}
