//! A Kafka client on blocking std sockets, with no async runtime.
//!
//! The sans-IO [`kafka_state::Client`] sits behind a lock shared by a
//! driver thread (outputs, timers, connections), each socket's reader
//! thread (which feeds it what arrives) and the callers (a send runs in
//! the sending thread); each socket also has a writer thread. Every call
//! blocks until its answer or its timeout, whichever comes first. The
//! tokio and mio adapters have the same shape: `Client::connect(Config)`,
//! [`ProducerRecord`] in, [`ConsumerRecord`] out, one [`Error`].
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mock = kafka_mock::MockCluster::builder().build()?;
//! # let bootstrap = mock.bootstrap();
//! use std::time::Duration;
//! use kafka_blocking::{Client, Config, NewTopic, ProducerRecord, SeekTo, TopicPartition};
//!
//! let client = Client::connect(Config::bootstrap(&bootstrap)?)?;
//! client.create_topic(NewTopic::new("greetings", 1, 1))?;
//!
//! let report = client
//!     .producer()
//!     .send(ProducerRecord::new("greetings").with_value("hello"))? // queued
//!     .wait()?; // acknowledged
//! assert_eq!(report.offset, 0);
//!
//! let mut consumer = client.consumer()?;
//! let tp = TopicPartition::new("greetings", 0);
//! consumer.assign([tp.clone()])?;
//! consumer.seek(tp, SeekTo::Earliest)?;
//! let mut records = Vec::new();
//! for _ in 0..20 {
//!     records = consumer.poll(Duration::from_secs(1))?;
//!     if !records.is_empty() {
//!         break;
//!     }
//! }
//! assert_eq!(records[0].value.as_deref(), Some(&b"hello"[..]));
//! # Ok(()) }
//! ```
//!
//! A consumer group member: the group assigns the partitions,
//! [`Consumer::poll`] keeps the member in the group, and the rebalance
//! listener runs on the polling thread.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mock = kafka_mock::MockCluster::builder().build()?;
//! # let bootstrap = mock.bootstrap();
//! use std::time::Duration;
//! use kafka_blocking::{AutoOffsetReset, Client, Config, GroupConfig, NewTopic, ProducerRecord};
//!
//! let mut config = Config::bootstrap(&bootstrap)?;
//! let mut group = GroupConfig::new("billing");
//! group.enable_auto_commit = false; // commit by hand below
//! config.group = Some(group);
//! config.consumer.auto_offset_reset = AutoOffsetReset::Earliest;
//! let client = Client::connect(config)?;
//! client.create_topic(NewTopic::new("invoices", 3, 1))?;
//! client.producer().send(ProducerRecord::new("invoices").with_value("i-1"))?.wait()?;
//!
//! let mut consumer = client.consumer()?;
//! consumer.on_rebalance(|change| eprintln!("{change:?}"));
//! consumer.subscribe(["invoices"])?;
//! let mut records = Vec::new();
//! for _ in 0..40 {
//!     records = consumer.poll(Duration::from_millis(500))?;
//!     if !records.is_empty() {
//!         break;
//!     }
//! }
//! assert_eq!(records[0].value.as_deref(), Some(&b"i-1"[..]));
//! let committed = consumer.commit()?; // the offset after i-1, per partition
//! assert_eq!(committed.values().map(|o| o.offset).sum::<i64>(), 1);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod consumer;
mod driver;
mod producer;

use std::fmt;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use kafka_driver::{admin, AdminCall};

pub use consumer::Consumer;
pub use driver::TokenProvider;
pub use kafka_driver::api::*;
pub use kafka_driver::threads::{BatchDelivery, Delivery};
#[cfg(feature = "tls")]
pub use kafka_state::tls::TlsConfig;
pub use producer::Producer;

use crate::driver::{Core, Input, Job, Shared};

/// How many statistics snapshots wait for a slow reader of
/// [`Client::stats_events`].
pub const STATS_BACKLOG: usize = 16;

/// Extra time a call waits beyond the core's own timeout, so the core's
/// typed error (not [`Error::Timeout`]) is what the caller sees.
const GRACE: Duration = Duration::from_secs(1);

/// Stops the driver when the last handle goes.
pub(crate) struct Handle {
    pub(crate) inputs: mpsc::SyncSender<Input>,
    /// The core, for commands a handle runs itself.
    pub(crate) shared: Arc<Shared>,
    /// How long an admin call may take.
    pub(crate) timeout: Duration,
    /// How long a record may take from `send` to its report.
    pub(crate) delivery_timeout: Duration,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.inputs.send(Input::Stop);
    }
}

/// A running client. Clones share one driver thread, which closes the
/// connections when the last clone is dropped or [`Client::close`] is
/// called.
#[derive(Clone)]
pub struct Client {
    pub(crate) handle: Arc<Handle>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Client {
    /// Starts a client and waits until a broker answered a metadata
    /// request, at most `config.api_timeout`. A `config.seed` of 0 is
    /// replaced by a random one.
    pub fn connect(config: Config) -> Result<Self, Error> {
        Self::start(config, None)
    }

    /// [`Client::connect`] for SASL OAUTHBEARER (`config.sasl` set to
    /// `SaslConfig::oauthbearer()`): `provider` is called, on a thread of
    /// its own, for a token whenever a connection needs one.
    pub fn connect_with_token_provider(
        config: Config,
        provider: impl TokenProvider,
    ) -> Result<Self, Error> {
        Self::start(config, Some(Arc::new(provider)))
    }

    /// [`Client::connect`] with default settings and a `host:port[,..]`
    /// bootstrap list.
    pub fn bootstrap(servers: &str) -> Result<Self, Error> {
        Self::connect(Config::bootstrap(servers)?)
    }

    fn start(mut config: Config, provider: Option<Arc<dyn TokenProvider>>) -> Result<Self, Error> {
        if config.seed == 0 {
            config.seed = kafka_driver::random_seed();
        }
        let timeout = config.api_timeout + GRACE;
        let delivery_timeout = config.producer.delivery_timeout + GRACE;
        let core = kafka_state::Client::new(config, Instant::now())?;
        let (shared, inputs) =
            driver::spawn(core, provider).map_err(|e| Error::Io(e.to_string()))?;
        let client = Self {
            handle: Arc::new(Handle {
                inputs,
                shared,
                timeout,
                delivery_timeout,
            }),
        };
        client.admin(admin::brokers())?;
        Ok(client)
    }

    kafka_driver::admin_methods!(,);

    /// Earliest, latest or by-timestamp offsets of any partitions
    /// (assigned or not).
    pub fn offsets(
        &self,
        partitions: impl IntoIterator<Item = TopicPartition>,
        spec: OffsetSpec,
    ) -> Result<Offsets, Error> {
        let tps: Vec<TopicPartition> = partitions.into_iter().collect();
        self.call(
            move |core, now, reply| {
                let Core { client, calls, .. } = core;
                calls.offsets_for(client, now, tps, spec, reply);
            },
            self.handle.timeout,
        )
    }

    /// A snapshot of the client's statistics: per broker connection
    /// (state, requests, bytes, round-trip times, throttling), per
    /// partition (producer queue, consumer position and lag), the group
    /// member and totals.
    pub fn stats(&self) -> Result<ClientStats, Error> {
        self.handle.shared.stats()
    }

    /// Statistics snapshots every
    /// [`Config::stats_interval`](kafka_state::Config::stats_interval)
    /// (none if it is not set). The newest [`STATS_BACKLOG`] wait for a
    /// slow reader; later ones are dropped until it catches up.
    pub fn stats_events(&self) -> Result<mpsc::Receiver<Arc<ClientStats>>, Error> {
        let (tx, rx) = mpsc::sync_channel(STATS_BACKLOG);
        self.handle.shared.on_stats(Box::new(move |s| {
            !matches!(
                tx.try_send(s.clone()),
                Err(mpsc::TrySendError::Disconnected(_))
            )
        }))?;
        Ok(rx)
    }

    /// A producer on this client.
    pub fn producer(&self) -> Producer {
        Producer {
            client: self.clone(),
        }
    }

    /// Flushes the producer, then closes every connection and stops the
    /// driver; calls still pending fail with [`Error::Closed`]. Waits at
    /// most the API timeout for each step.
    pub fn close(&self) {
        let _ = self.producer().flush(self.handle.timeout);
        let (tx, rx) = mpsc::sync_channel::<()>(1);
        let job: Job = Box::new(move |core, now| {
            core.close(
                now,
                Some(Box::new(move || {
                    let _ = tx.send(());
                })),
            );
        });
        if self.handle.inputs.send(Input::Job(job)).is_ok() {
            let _ = rx.recv_timeout(self.handle.timeout);
        }
    }

    fn admin<T: Send + 'static>(&self, call: AdminCall<T>) -> Result<T, Error> {
        self.call(
            move |core, now, reply| {
                let Core { client, calls, .. } = core;
                call.start(client, calls, now, reply);
            },
            self.handle.timeout,
        )
    }

    /// Runs `job` on the driver with a reply channel and waits for the
    /// reply, at most `timeout`.
    pub(crate) fn call<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Core, Instant, kafka_driver::Reply<T>) + Send + 'static,
        timeout: Duration,
    ) -> Result<T, Error> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.handle
            .inputs
            .send(Input::Job(Box::new(move |core, now| {
                job(
                    core,
                    now,
                    Box::new(move |r| {
                        let _ = tx.send(r);
                    }),
                )
            })))
            .map_err(|_| Error::Closed)?;
        match rx.recv_timeout(timeout) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(Error::Timeout),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(Error::Closed),
        }
    }
}
