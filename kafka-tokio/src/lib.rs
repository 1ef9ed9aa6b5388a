//! A Kafka client on tokio.
//!
//! One driver task owns the sans-IO [`kafka_state::Client`]; the handles
//! here send it work and await the answers. The driver reads and writes
//! sockets, sleeps until the core's next timeout and holds no protocol
//! logic of its own, so the behaviour is the core's, tested there by
//! simulation. It runs on the current-thread and the multi-thread
//! runtimes alike. The blocking and mio adapters have the same shape:
//! `Client::connect(Config)`, [`ProducerRecord`] in, [`ConsumerRecord`]
//! out, one [`Error`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mock = kafka_mock::MockCluster::builder().build()?;
//! # let bootstrap = mock.bootstrap();
//! use futures_core::Stream;
//! use kafka_tokio::{Client, Config, NewTopic, ProducerRecord, SeekTo, TopicPartition};
//!
//! let client = Client::connect(Config::bootstrap(&bootstrap)?).await?;
//! client.create_topic(NewTopic::new("greetings", 1, 1)).await?;
//!
//! let report = client
//!     .producer()
//!     .send(ProducerRecord::new("greetings").with_value("hello"))
//!     .await? // queued
//!     .await?; // acknowledged
//! assert_eq!(report.offset, 0);
//!
//! let mut consumer = client.consumer()?;
//! let tp = TopicPartition::new("greetings", 0);
//! consumer.assign([tp.clone()]).await?;
//! consumer.seek(tp, SeekTo::Earliest).await?;
//! let next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut consumer).poll_next(cx));
//! let record = tokio::time::timeout(std::time::Duration::from_secs(20), next)
//!     .await?
//!     .expect("a record")?;
//! assert_eq!(record.value.as_deref(), Some(&b"hello"[..]));
//! client.close().await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod consumer;
mod delivery;
mod driver;
mod producer;

use std::sync::Arc;
use std::time::Instant;

use kafka_driver::{admin, AdminCall};
use tokio::sync::{mpsc, oneshot};

pub use consumer::Consumer;
pub use delivery::{BatchFuture, DeliveryFuture};
pub use driver::TokenProvider;
pub use kafka_driver::api::*;
#[cfg(feature = "tls")]
pub use kafka_state::tls::TlsConfig;
pub use producer::Producer;

use crate::driver::{Core, Job, Shared};

/// How many statistics snapshots wait for a slow reader of
/// [`Client::stats_events`].
pub const STATS_BACKLOG: usize = 16;

/// A handle to a running client. Clones share one driver task; the
/// driver closes the connections when the last handle is dropped or
/// [`Client::close`] is called.
#[derive(Clone, Debug)]
pub struct Client {
    /// Calls that wait for the core go to the driver as jobs; the channel
    /// closing (every handle gone) also stops the driver.
    pub(crate) jobs: mpsc::UnboundedSender<Job>,
    /// The core, for commands a handle runs itself.
    pub(crate) shared: Arc<Shared>,
}

impl Client {
    /// Starts a client and waits until a broker answered a metadata
    /// request (at most `config.api_timeout`). Must be called inside a
    /// tokio runtime with the time and I/O drivers enabled. A
    /// `config.seed` of 0 is replaced by a random one.
    pub async fn connect(config: Config) -> Result<Self, Error> {
        Self::start(config, None).await
    }

    /// [`Client::connect`] for SASL OAUTHBEARER (`config.sasl` set to
    /// `SaslConfig::oauthbearer()`): `provider` is called for a token
    /// whenever a connection needs one, and may await anything.
    pub async fn connect_with_token_provider(
        config: Config,
        provider: impl TokenProvider,
    ) -> Result<Self, Error> {
        Self::start(config, Some(Arc::new(provider))).await
    }

    /// [`Client::connect`] with default settings and a `host:port[,..]`
    /// bootstrap list.
    pub async fn bootstrap(servers: &str) -> Result<Self, Error> {
        Self::connect(Config::bootstrap(servers)?).await
    }

    async fn start(
        mut config: Config,
        provider: Option<Arc<dyn TokenProvider>>,
    ) -> Result<Self, Error> {
        if config.seed == 0 {
            config.seed = kafka_driver::random_seed();
        }
        let core = kafka_state::Client::new(config, Instant::now())?;
        let (shared, jobs) = driver::start(core, provider);
        let client = Self { jobs, shared };
        client.admin(admin::brokers()).await?;
        Ok(client)
    }

    kafka_driver::admin_methods!(async, .await);

    /// Earliest, latest or by-timestamp offsets of any partitions
    /// (assigned or not).
    pub async fn offsets(
        &self,
        partitions: impl IntoIterator<Item = TopicPartition>,
        spec: kafka_state::consumer::OffsetSpec,
    ) -> Result<Offsets, Error> {
        let tps: Vec<TopicPartition> = partitions.into_iter().collect();
        self.call(move |core, now, reply| {
            let Core { client, calls, .. } = core;
            calls.offsets_for(client, now, tps, spec, reply);
        })
        .await
    }

    /// A snapshot of the client's statistics: per broker connection
    /// (state, requests, bytes, round-trip times, throttling), per
    /// partition (producer queue, consumer position and lag), the group
    /// member and totals. Takes the core's lock briefly; does not await.
    pub fn stats(&self) -> Result<ClientStats, Error> {
        self.shared.stats()
    }

    /// Statistics snapshots every
    /// [`Config::stats_interval`](kafka_state::Config::stats_interval)
    /// (none if it is not set). The newest [`STATS_BACKLOG`] wait for a
    /// slow reader; later ones are dropped until it catches up.
    pub fn stats_events(&self) -> Result<mpsc::Receiver<Arc<ClientStats>>, Error> {
        let (tx, rx) = mpsc::channel(STATS_BACKLOG);
        self.shared.on_stats(Box::new(move |s| {
            !matches!(
                tx.try_send(s.clone()),
                Err(mpsc::error::TrySendError::Closed(_))
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
    /// driver; calls still pending fail with [`Error::Closed`].
    pub async fn close(&self) {
        let _ = self.producer().flush().await;
        let (tx, rx) = oneshot::channel::<()>();
        let job: Job = Box::new(move |core, now| {
            core.close(
                now,
                Some(Box::new(move || {
                    let _ = tx.send(());
                })),
            );
        });
        if self.jobs.send(job).is_ok() {
            let _ = rx.await;
        }
    }

    async fn admin<T: Send + 'static>(&self, call: AdminCall<T>) -> Result<T, Error> {
        self.call(move |core, now, reply| {
            let Core { client, calls, .. } = core;
            call.start(client, calls, now, reply);
        })
        .await
    }

    /// Runs `job` on the driver with a reply channel and awaits the reply.
    pub(crate) async fn call<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Core, Instant, kafka_driver::Reply<T>) + Send + 'static,
    ) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move |core, now| {
                job(core, now, Box::new(move |r| drop(tx.send(r))))
            }))
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }
}
