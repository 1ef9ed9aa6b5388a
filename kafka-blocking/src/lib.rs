//! A Kafka client on blocking std sockets, with no async runtime.
//!
//! The sans-IO [`kafka_state::Client`] sits behind a lock shared by a
//! driver thread (outputs, timers, connections), each socket's reader
//! thread (which feeds it what arrives) and the callers (a send runs in
//! the sending thread); each socket also has a writer thread. Every call
//! blocks until its answer or its timeout, whichever comes first.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mock = kafka_mock::MockCluster::builder().build()?;
//! # let bootstrap = mock.bootstrap();
//! use kafka_blocking::{Client, Config, NewTopic};
//!
//! let client = Client::connect(&bootstrap, Config::default())?;
//! client.create_topic(NewTopic::new("greetings", 3, 1))?;
//! let metadata = client.metadata(["greetings"])?;
//! assert_eq!(metadata.topic("greetings").unwrap().partitions.len(), 3);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod consumer;
mod core;
mod driver;
mod producer;

use std::fmt;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

pub use consumer::{Consumer, Message, Position};
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
pub use kafka_state::{ConsumerConfig, TopicPartition};
pub use producer::{Delivery, Producer};

use crate::core::Core;
use crate::driver::{Input, Job};

/// Extra time a call waits beyond the core's own timeout, so the core's
/// typed error (not [`Error::Timeout`]) is what the caller sees.
const GRACE: Duration = Duration::from_secs(1);

/// Stops the driver when the last handle goes.
pub(crate) struct Handle {
    pub(crate) inputs: mpsc::SyncSender<Input>,
    /// The core, for commands a handle runs itself.
    pub(crate) shared: Arc<core::Shared>,
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
    /// Connects to the brokers in `bootstrap` (`host:port[,..]`; if empty,
    /// `config.bootstrap` is used) and waits until one answered a metadata
    /// request, at most `config.api_timeout`. A `config.seed` of 0 is
    /// replaced by a random one.
    pub fn connect(bootstrap: &str, config: Config) -> Result<Self, Error> {
        Self::start(bootstrap, config, None)
    }

    /// [`Client::connect`] for SASL OAUTHBEARER (`config.sasl` set to
    /// `SaslConfig::oauthbearer()`): `provider` is called, on a thread of
    /// its own, for a token whenever a connection needs one.
    pub fn connect_with_token_provider(
        bootstrap: &str,
        config: Config,
        provider: impl TokenProvider,
    ) -> Result<Self, Error> {
        Self::start(bootstrap, config, Some(Arc::new(provider)))
    }

    fn start(
        bootstrap: &str,
        mut config: Config,
        provider: Option<Arc<dyn TokenProvider>>,
    ) -> Result<Self, Error> {
        if !bootstrap.trim().is_empty() {
            config.bootstrap = BrokerAddr::parse_list(bootstrap)?;
        }
        if config.seed == 0 {
            config.seed = random_seed();
        }
        let timeout = config.api_timeout + GRACE;
        let delivery_timeout = config.producer.delivery_timeout + GRACE;
        let core = kafka_state::Client::new(config, Instant::now())?;
        let mut core = Core::new(core);
        core.oauth = provider;
        let (shared, inputs) = driver::spawn(core).map_err(|e| Error::Io(e.to_string()))?;
        let client = Self {
            handle: Arc::new(Handle {
                inputs,
                shared,
                timeout,
                delivery_timeout,
            }),
        };
        client.admin(|client, now| client.admin().brokers(now))?;
        Ok(client)
    }

    /// Metadata of `topics` (never creating them). Topics that do not
    /// exist are listed with `UNKNOWN_TOPIC_OR_PARTITION`.
    pub fn metadata<S: Into<String>>(
        &self,
        topics: impl IntoIterator<Item = S>,
    ) -> Result<ClusterMetadata, Error> {
        let topics: Vec<String> = topics.into_iter().map(Into::into).collect();
        match self.admin(move |client, now| client.admin().metadata(now, topics))? {
            AdminOutcome::Metadata(m) => Ok(m),
            _ => Err(Error::Closed),
        }
    }

    /// Metadata of every topic in the cluster.
    pub fn metadata_all(&self) -> Result<ClusterMetadata, Error> {
        match self.admin(|client, now| client.admin().metadata_all(now))? {
            AdminOutcome::Metadata(m) => Ok(m),
            _ => Err(Error::Closed),
        }
    }

    /// Creates topics and returns each topic's outcome.
    pub fn create_topics(
        &self,
        topics: impl IntoIterator<Item = NewTopic>,
    ) -> Result<Vec<TopicOutcome>, Error> {
        let topics: Vec<NewTopic> = topics.into_iter().collect();
        match self.admin(move |client, now| client.admin().create_topics(now, topics))? {
            AdminOutcome::CreateTopics(v) => Ok(v),
            _ => Err(Error::Closed),
        }
    }

    /// Creates one topic; a broker error becomes [`Error::Kafka`].
    pub fn create_topic(&self, topic: NewTopic) -> Result<(), Error> {
        Error::check_topics(&self.create_topics([topic])?)
    }

    /// Deletes topics and returns each topic's outcome.
    pub fn delete_topics<S: Into<String>>(
        &self,
        names: impl IntoIterator<Item = S>,
    ) -> Result<Vec<TopicOutcome>, Error> {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        match self.admin(move |client, now| client.admin().delete_topics(now, names))? {
            AdminOutcome::DeleteTopics(v) => Ok(v),
            _ => Err(Error::Closed),
        }
    }

    /// Deletes one topic; a broker error becomes [`Error::Kafka`].
    pub fn delete_topic(&self, name: &str) -> Result<(), Error> {
        Error::check_topics(&self.delete_topics([name])?)
    }

    /// Flushes the producer, then closes every connection and stops the
    /// driver; calls still pending fail with [`Error::Closed`]. Waits at
    /// most the API timeout for each step.
    pub fn close(&self) {
        let _ = self.producer().flush(self.handle.timeout);
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |core, now| {
            core.closing.push(tx);
            core.close(now);
        });
        if self.handle.inputs.send(Input::Job(job)).is_ok() {
            let _ = rx.recv_timeout(self.handle.timeout);
        }
    }

    fn admin(
        &self,
        start: impl FnOnce(
                &mut kafka_state::Client,
                Instant,
            ) -> Result<kafka_state::RequestId, kafka_state::Misuse>
            + Send
            + 'static,
    ) -> Result<AdminOutcome, Error> {
        self.call(
            move |core, now, reply| {
                let Core { client, calls, .. } = core;
                calls.admin(client, now, start, reply);
            },
            self.handle.timeout,
        )
    }

    /// A producer on this client.
    pub fn producer(&self) -> Producer {
        Producer {
            client: self.clone(),
        }
    }

    /// Runs `job` on the driver with a reply channel and waits for the
    /// reply, at most the API timeout.
    pub(crate) fn call<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Core, Instant, kafka_state::calls::Reply<T>) + Send + 'static,
        timeout: Duration,
    ) -> Result<T, Error> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.handle
            .inputs
            .send(Input::Job(Box::new(move |core, now| {
                job(core, now, core::reply(tx))
            })))
            .map_err(|_| Error::Closed)?;
        match rx.recv_timeout(timeout) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(Error::Timeout),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(Error::Closed),
        }
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
