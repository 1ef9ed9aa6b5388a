//! The sans-IO core of a Kafka client: connections, API version
//! negotiation, metadata and request routing, with no sockets, no clock
//! and no threads.
//!
//! # The contract
//!
//! A [`Client`] changes only when the adapter calls it:
//!
//! - **inputs** (`handle_connected`, `handle_connect_failed`,
//!   `handle_closed`, `handle_recv`, `handle_timeout`) take `now` first;
//! - **commands** ([`Client::admin`], [`Client::producer`],
//!   [`Client::consumer`], [`Client::track_topic`], ...) take `now` too
//!   and return a typed error for caller mistakes only ([`Misuse`], or
//!   [`SendError`] which hands the record back).
//!
//! **After any input or command, drain transmit → conn → timeout → event**:
//! write every [`Client::poll_transmit`] to its connection, open or close
//! sockets as [`Client::poll_conn`] asks, arm one timer at
//! [`Client::poll_timeout`], handle every [`Client::poll_event`], then
//! wait for the next socket event or the timer.
//!
//! A consumer's records are not events: take them after the events with
//! [`Consumer::poll_records`], then drain again (see [`consumer`]).
//!
//! Time only moves forward: a `now` earlier than one seen before is
//! treated as that one. Calling `handle_timeout` early is harmless.
//! Randomness (reconnect jitter, broker choice, the default client id)
//! comes from [`Config::seed`], so equal seeds and inputs give equal
//! outputs. Anything a broker or the network does is an [`Event`]; a
//! broker can close a connection but never make the client panic.
//!
//! # A drive loop
//!
//! An adapter is a loop with no protocol logic. Here the "network" is an
//! in-process `kafka_mock::Cluster` (the workspace's fake cluster) instead of sockets:
//!
//! ```
//! use std::collections::HashMap;
//! use std::time::Instant;
//!
//! use bytes::BytesMut;
//! use kafka_mock::{Cluster, ClusterConfig, Output};
//! use kafka_proto::frame::split_frame;
//! use kafka_state::{BrokerAddr, Client, Config, ConnId, ConnRequest, Event};
//!
//! let mut now = Instant::now(); // adapters read the clock; the core never does
//! let mut cluster = Cluster::new(ClusterConfig::default(), now);
//! cluster.set_broker_port(0, 9092);
//! let mut client = Client::new(Config::new([BrokerAddr::new("127.0.0.1", 9092)]), now)?;
//! let mut read_bufs: HashMap<ConnId, BytesMut> = HashMap::new();
//! let mock = |c: ConnId| kafka_mock::ConnId(c.0);
//!
//! 'drive: loop {
//!     // 1. transmit: "write" each request to the broker.
//!     while let Some(t) = client.poll_transmit() {
//!         let mut wire = BytesMut::from(&t.bytes[..]);
//!         while let Some(frame) = split_frame(&mut wire, usize::MAX)? {
//!             cluster.handle_frame(now, mock(t.conn), frame);
//!         }
//!     }
//!     // 2. conn: open and close "sockets".
//!     let mut opened = Vec::new();
//!     while let Some(req) = client.poll_conn() {
//!         match req {
//!             ConnRequest::Open { conn, .. } => opened.push(conn),
//!             ConnRequest::Close { conn } => {
//!                 read_bufs.remove(&conn);
//!                 cluster.handle_closed(now, mock(conn));
//!             }
//!             _ => {}
//!         }
//!     }
//!     // 3. timeout: a real adapter arms a timer; here time jumps to it.
//!     let wake = client.poll_timeout();
//!     // 4. event.
//!     while let Some(event) = client.poll_event() {
//!         if event == Event::MetadataUpdated {
//!             break 'drive;
//!         }
//!     }
//!     // Wait: socket events first, else the timer.
//!     for conn in opened {
//!         cluster.handle_connected(now, mock(conn), 0);
//!         client.handle_connected(now, conn);
//!     }
//!     let mut got_bytes = false;
//!     while let Some(out) = cluster.poll_output() {
//!         if let Output::Send { conn, bytes } = out {
//!             let buf = read_bufs.entry(ConnId(conn.0)).or_default();
//!             buf.extend_from_slice(&bytes);
//!             client.handle_recv(now, ConnId(conn.0), buf);
//!             got_bytes = true;
//!         }
//!     }
//!     if !got_bytes {
//!         if let Some(t) = wake {
//!             now = now.max(t);
//!             client.handle_timeout(now);
//!         }
//!     }
//! }
//! assert_eq!(client.cluster().brokers().count(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout
//!
//! - [`client`]: the [`Client`], its router, connections per broker and
//!   reconnect backoff, and the registry of sub-machines;
//! - `machine`: the one contract every sub-machine speaks (`SubMachine`:
//!   poll requests, take responses routed back by request id, report and
//!   handle timeouts) and the context (`Ctx`: time, metadata, request and
//!   event queues, connection readiness) the client hands it;
//! - `conn`: one connection's state machine (framing, correlation ids,
//!   in-flight FIFO, ApiVersions);
//! - [`metadata`]: the metadata cache and the sub-machine that refreshes it;
//! - [`admin`]: topics, partitions, configs, records, the cluster and
//!   its features, consumer groups;
//! - [`producer`]: behind [`Client::producer`], split by stage: the record
//!   accumulator and partitioners, the sender (batches into Produce
//!   requests), outcomes (delivery reports, retries, sequence repairs) and
//!   the idempotent producer id;
//! - `txn`: the transaction manager of a producer with a
//!   `transactional_id`, a sub-machine beside the producer that meets it
//!   through a small link (producer id, which partitions may send, what
//!   failed, what is pending), behind [`Client::transactions`];
//! - [`sasl`]: SASL authentication of each connection (PLAIN, SCRAM,
//!   OAUTHBEARER with an application-supplied token);
//! - `tls` (feature `tls`, off by default): TLS as a sans-IO layer between
//!   socket bytes and frames, the same for every adapter;
//! - [`consumer`]: manual assignment, fetching, positions and offset
//!   lookups;
//! - [`group`]: the consumer-group member behind [`Consumer::subscribe`]
//!   (classic and KIP-848 protocols: coordinator, join and sync or
//!   heartbeats, eager and cooperative rebalances, committed offsets and
//!   commits), a sub-machine beside the consumer, and the assignor
//!   contract;
//! - `router`: the plain messages sub-machines use to reach brokers;
//! - `timer`: timer tables indexed by an enum and sized by it.
//!
//! Logs go through `tracing` under the targets `kafka_state::client`,
//! `kafka_state::conn`, `kafka_state::metadata`, `kafka_state::producer`,
//! `kafka_state::consumer`, `kafka_state::group`, `kafka_state::txn` and
//! `kafka_state::sasl`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod client;
mod config;
mod conn;
pub mod consumer;
mod error;
mod event;
pub mod group;
mod machine;
pub mod metadata;
pub mod producer;
mod rng;
mod router;
pub mod sasl;
pub mod stats;
mod timer;
#[cfg(feature = "tls")]
pub mod tls;
mod topic_partition;
mod transmit;
mod txn;
mod versions;

pub use admin::{Admin, AdminOutcome, AdminResult, NewTopic, TopicIdOutcome, TopicOutcome};
pub use client::Client;
pub use config::{BrokerAddr, Config};
pub use consumer::{Consumer, ConsumerConfig, ConsumerEvent, ConsumerRecord, FetchedRecords};
pub use error::{
    DisconnectReason, FatalError, Misuse, NoCommonVersion, ProtocolError, RequestError,
};
pub use event::{Event, Outcomes};
pub use metadata::{ClusterMetadata, PartitionMetadata, TopicMetadata};
pub use producer::{
    Acks, Delivered, DeliveryId, DeliveryReport, ProduceError, Producer, ProducerConfig,
    ProducerRecord, SendError, TopicName, Transactions, TxnCause, TxnError, TxnEvent, TxnOp,
    TxnState,
};
pub use router::RequestId;
pub use sasl::{AuthError, SaslConfig, SaslMechanism};
pub use stats::ClientStats;
#[cfg(feature = "tls")]
pub use tls::TlsConfig;
pub use topic_partition::TopicPartition;
pub use transmit::{Broker, ConnId, ConnRequest, Transmit, WRITE_BACKLOG_LIMIT};
