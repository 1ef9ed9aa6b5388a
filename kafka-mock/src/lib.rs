//! An in-process fake Kafka cluster that speaks the real wire protocol.
//!
//! [`Cluster`] is the model: sans-IO, it takes decoded frames and the
//! current time and returns encoded responses, so the same model drives
//! deterministic simulations and the TCP server. [`MockCluster`] serves it
//! on loopback, one listener per broker, for real clients (librdkafka,
//! kafka-python, or this project's client).
//!
//! ```no_run
//! use kafka_mock::MockCluster;
//! use kafka_proto::ApiKey;
//! use kafka_proto::ErrorCode;
//!
//! let cluster = MockCluster::builder().brokers(3).build()?;
//! println!("bootstrap: {}", cluster.bootstrap());
//! cluster.create_topic("orders", 6, 3)?;
//! // The next two Produce requests fail with NOT_LEADER_OR_FOLLOWER.
//! cluster.inject_error(ApiKey::Produce, ErrorCode::NotLeaderOrFollower, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Area dispatchers hand an unserved request back by value in `Err`; boxing
// it would allocate on every request for nothing.
#![allow(clippy::result_large_err)]

mod admin;
pub mod cluster;
mod configs;
mod data;
pub mod faults;
mod groups;
mod log;
mod replicas;
mod sasl;
pub mod server;
mod txn;

use std::time::Instant;

pub use cluster::{Cluster, ClusterConfig, ConnId, Output, RecordedRequest};
pub use faults::ErrorInjection;
pub use sasl::SaslMechanism;
pub use server::{MockCluster, MockClusterBuilder};

/// What every handler knows about the request it serves.
pub(crate) struct Ctx {
    pub(crate) now: Instant,
    pub(crate) conn: ConnId,
    pub(crate) broker: i32,
    pub(crate) version: i16,
    #[allow(dead_code)]
    pub(crate) client_id: Option<String>,
}

/// Errors of the control API (topic management, fault injection).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MockError {
    /// The topic does not exist.
    #[error("unknown topic {0}")]
    UnknownTopic(String),
    /// The topic exists already.
    #[error("topic {0} already exists")]
    TopicExists(String),
    /// A partition index outside the topic.
    #[error("topic {topic} has no partition {partition}")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: i32,
    },
    /// A broker id that is not part of the cluster.
    #[error("no broker {0}")]
    UnknownBroker(i32),
    /// An argument out of range.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// The server thread is gone or a socket operation failed.
    #[error("mock server: {0}")]
    Server(String),
}
