//! A Kafka client on tokio.
//!
//! One driver task owns the sans-IO [`kafka_state::Client`]; the handles
//! here send it work and await the answers. The driver reads and writes
//! sockets, sleeps until the core's next timeout and holds no protocol
//! logic of its own, so the behaviour is the core's, tested there by
//! simulation. It runs on the current-thread and the multi-thread
//! runtimes alike.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mock = kafka_mock::MockCluster::builder().build()?;
//! # let bootstrap = mock.bootstrap();
//! use kafka_tokio::{Client, NewTopic};
//!
//! let client = Client::bootstrap(&bootstrap).await?;
//! client.create_topic(NewTopic::new("greetings", 3, 1)).await?;
//! let metadata = client.metadata(["greetings"]).await?;
//! assert_eq!(metadata.topic("greetings").unwrap().partitions.len(), 3);
//! client.close().await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod consumer;
mod core;
mod driver;
mod producer;

use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

pub use consumer::Consumer;
pub use core::{TokenProvider, TokenResult};
pub use kafka_proto::record::Compression;
/// Why a call failed; shared by every adapter.
pub use kafka_state::calls::CallError as Error;
pub use kafka_state::calls::Offsets;
pub use kafka_state::consumer::{
    AutoOffsetReset, IsolationLevel, ListedOffset, OffsetSpec, SeekTo,
};
pub use kafka_state::producer::{Acks, DeliveryReport, ProducerConfig, ProducerRecord, TopicName};
pub use kafka_state::sasl::{SaslConfig, SaslMechanism};
#[cfg(feature = "tls")]
pub use kafka_state::tls::TlsConfig;
pub use kafka_state::{
    AdminOutcome, BrokerAddr, ClusterMetadata, Config, NewTopic, PartitionMetadata, TopicMetadata,
    TopicOutcome,
};
pub use kafka_state::{ConsumerConfig, ConsumerRecord, TopicPartition};
pub use producer::{DeliveryFuture, Producer};

use crate::core::Core;
use crate::driver::Job;

/// A handle to a running client. Clones share one driver task; the
/// driver closes the connections when the last handle is dropped or
/// [`Client::close`] is called.
#[derive(Clone, Debug)]
pub struct Client {
    /// Calls that wait for the core go to the driver as jobs; the channel
    /// closing (every handle gone) also stops the driver.
    pub(crate) jobs: mpsc::UnboundedSender<Job>,
    /// The core, for commands a handle runs itself.
    pub(crate) shared: std::sync::Arc<core::Shared>,
}

impl Client {
    /// Starts a client and waits until a broker answered a metadata
    /// request (at most `config.api_timeout`). Must be called inside a
    /// tokio runtime with the time and I/O drivers enabled.
    ///
    /// A `config.seed` of 0 is replaced by a random one.
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
        Self::start(config, Some(std::sync::Arc::new(provider))).await
    }

    async fn start(
        mut config: Config,
        provider: Option<std::sync::Arc<dyn TokenProvider>>,
    ) -> Result<Self, Error> {
        if config.seed == 0 {
            config.seed = random_seed();
        }
        let core = kafka_state::Client::new(config, Instant::now())?;
        let (jobs, rx) = mpsc::unbounded_channel();
        let mut core = Core::new(core);
        core.oauth = provider.map(|p| (p, jobs.downgrade()));
        let shared = std::sync::Arc::new(core::Shared::new(core));
        tokio::spawn(driver::run(std::sync::Arc::clone(&shared), rx));
        let client = Self { jobs, shared };
        client
            .admin(|client, now| client.admin().brokers(now))
            .await?;
        Ok(client)
    }

    /// [`Client::connect`] with default settings and a `host:port[,..]`
    /// bootstrap list.
    pub async fn bootstrap(servers: &str) -> Result<Self, Error> {
        Self::connect(Config::new(BrokerAddr::parse_list(servers)?)).await
    }

    /// Metadata of `topics` (never creating them). Topics that do not
    /// exist are listed with `UNKNOWN_TOPIC_OR_PARTITION`.
    pub async fn metadata<S: Into<String>>(
        &self,
        topics: impl IntoIterator<Item = S>,
    ) -> Result<ClusterMetadata, Error> {
        let topics: Vec<String> = topics.into_iter().map(Into::into).collect();
        let outcome = self
            .admin(move |client, now| client.admin().metadata(now, topics))
            .await?;
        match outcome {
            AdminOutcome::Metadata(m) => Ok(m),
            _ => Err(Error::Closed),
        }
    }

    /// Metadata of every topic in the cluster.
    pub async fn metadata_all(&self) -> Result<ClusterMetadata, Error> {
        match self
            .admin(|client, now| client.admin().metadata_all(now))
            .await?
        {
            AdminOutcome::Metadata(m) => Ok(m),
            _ => Err(Error::Closed),
        }
    }

    /// Creates topics and returns each topic's outcome.
    pub async fn create_topics(
        &self,
        topics: impl IntoIterator<Item = NewTopic>,
    ) -> Result<Vec<TopicOutcome>, Error> {
        let topics: Vec<NewTopic> = topics.into_iter().collect();
        match self
            .admin(move |client, now| client.admin().create_topics(now, topics))
            .await?
        {
            AdminOutcome::CreateTopics(v) => Ok(v),
            _ => Err(Error::Closed),
        }
    }

    /// Creates one topic; a broker error becomes [`Error::Kafka`].
    pub async fn create_topic(&self, topic: NewTopic) -> Result<(), Error> {
        Error::check_topics(&self.create_topics([topic]).await?)
    }

    /// Deletes topics and returns each topic's outcome.
    pub async fn delete_topics<S: Into<String>>(
        &self,
        names: impl IntoIterator<Item = S>,
    ) -> Result<Vec<TopicOutcome>, Error> {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        match self
            .admin(move |client, now| client.admin().delete_topics(now, names))
            .await?
        {
            AdminOutcome::DeleteTopics(v) => Ok(v),
            _ => Err(Error::Closed),
        }
    }

    /// Deletes one topic; a broker error becomes [`Error::Kafka`].
    pub async fn delete_topic(&self, name: &str) -> Result<(), Error> {
        Error::check_topics(&self.delete_topics([name]).await?)
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
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |core, now| {
            core.closing.push(tx);
            core.close(now);
        });
        if self.jobs.send(job).is_ok() {
            let _ = rx.await;
        }
    }

    /// Runs `start` on the driver (it issues an admin command) and waits
    /// for that command's result.
    async fn admin(
        &self,
        start: impl FnOnce(
                &mut kafka_state::Client,
                Instant,
            ) -> Result<kafka_state::RequestId, kafka_state::Misuse>
            + Send
            + 'static,
    ) -> Result<AdminOutcome, Error> {
        self.call(move |core, now, reply| {
            let Core { client, calls, .. } = core;
            calls.admin(client, now, start, reply);
        })
        .await
    }

    /// Runs `job` on the driver with a reply channel and awaits the reply.
    pub(crate) async fn call<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Core, Instant, kafka_state::calls::Reply<T>) + Send + 'static,
    ) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move |core, now| job(core, now, core::reply(tx))))
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }
}

/// A seed from the standard library's per-process random keys, for
/// [`Config::seed`] left at 0: SCRAM nonces and jitter must not be
/// predictable in production.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.finish() | 1
}
