//! A Kafka client for applications that run their own [`mio`] event loop.
//!
//! The [`Client`] registers its sockets on your [`mio::Poll`] under
//! tokens you set aside for it ([`Tokens`]); you keep every other token.
//! It never blocks on the network and owns no thread: your loop hands it
//! readiness events and wakes it when [`Client::next_timeout`] says so.
//! Underneath is the sans-IO [`kafka_state::Client`]; this crate only
//! moves bytes and time in and out of it.
//!
//! # The loop
//!
//! 1. `poll.poll(&mut events, client.next_timeout())` (or the earlier of
//!    that and your own deadlines);
//! 2. [`Client::handle_event`] for each event: it returns `false` for
//!    tokens that are not the client's, which are yours to handle;
//! 3. [`Client::handle_timeout`] once after every `poll`, whether or not
//!    it returned events or timed out (calling it early is harmless);
//! 4. [`Client::poll_event`] until `None`.
//!
//! Commands ([`Client::create_topic`], [`Client::metadata`], ...) return
//! at once with a [`RequestId`]; the outcome comes out of
//! [`Client::poll_event`] as an [`Event::AdminResult`] carrying that id.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mock = kafka_mock::MockCluster::builder().build()?;
//! # let bootstrap = mock.bootstrap();
//! use std::time::{Duration, Instant};
//!
//! use kafka_mio::{AdminOutcome, Client, Event, NewTopic, Tokens};
//! use mio::{Events, Poll};
//!
//! let mut poll = Poll::new()?;
//! let mut events = Events::with_capacity(64);
//! let mut client = Client::bootstrap(&bootstrap, poll.registry(), Tokens::range(100..200))?;
//! let id = client.create_topic(NewTopic::new("greetings", 3, 1))?;
//!
//! let mut created = false;
//! let deadline = Instant::now() + Duration::from_secs(30);
//! 'run: while Instant::now() < deadline {
//!     poll.poll(&mut events, client.next_timeout())?;
//!     for event in events.iter() {
//!         if !client.handle_event(event) {
//!             // One of the application's own tokens.
//!         }
//!     }
//!     client.handle_timeout();
//!     while let Some(event) = client.poll_event() {
//!         if let Event::AdminResult { id: done, result } = event {
//!             if done == id {
//!                 let Ok(AdminOutcome::CreateTopics(topics)) = result else { panic!() };
//!                 kafka_mio::Error::check_topics(&topics)?;
//!                 created = true;
//!                 break 'run;
//!             }
//!         }
//!     }
//! }
//! assert!(created);
//! # Ok(()) }
//! ```
//!
//! # What the driver does for you
//!
//! - **Connecting** is non-blocking: a socket is registered for
//!   writability until the connect completes, and each resolved address
//!   is tried in turn. **Name resolution is blocking**: it goes through
//!   [`std::net::ToSocketAddrs`] inside whichever call made the core ask
//!   for a connection. IP literals (the usual bootstrap list of tests and
//!   containers) resolve without a lookup; with host names, a slow DNS
//!   server stalls your loop for the lookup.
//! - **Writes** go out at once while the socket takes them; what it does
//!   not take waits in a per-connection queue, and only then is the
//!   socket registered for writability.
//! - **Reads** continue until `WouldBlock`, but at most
//!   [`Client::set_read_budget`] bytes per event, so one busy broker
//!   cannot starve your other sockets. Since mio reports readiness once
//!   per edge, a socket cut short is remembered and
//!   [`Client::next_timeout`] returns zero until `handle_timeout` has
//!   read it again.
//! - **Time** is read with [`Instant::now`] here, never in the core.
//!
//! # Reaching the core
//!
//! Commands not wrapped here (yet) are reached through
//! [`Client::core_mut`], which drives the sockets once the borrow ends.
//!
//! Logs go through `tracing` under the target `kafka_mio::driver`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod driver;
mod tokens;

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

pub use kafka_driver::Error;
pub use kafka_proto::record::Compression;
pub use kafka_state::admin::{
    AclBinding, AclBindingFilter, AclFilterOutcome, AclOperation, AclOutcome, AclPatternType,
    AclPermission, AclResourceType, AlterConfigOp, BrokerDescription, BrokerLogDirs,
    ClusterDescription, ConfigEntry, ConfigResource, ConfigSource, ConfigSynonym, ElectionType,
    FeatureDescription, FeatureOutcome, FeatureUpdate, FeatureUpgrade, FinalizedFeature,
    GroupDescription, GroupListings, LogDirDescription, NewPartitions, PartitionOutcome,
    PartitionReassignment, ProducerState, QuotaEntity, QuotaEntry, QuotaFilter, QuotaMatch,
    QuotaOp, QuotaOutcome, ReplicaLog, ResourceConfigs, ResourceOutcome, ScramChange,
    ScramCredentialInfo, ScramMechanism, SupportedFeature, TransactionDescription,
    TransactionFilter, TransactionListing, TransactionListings, UserOutcome, UserScramCredentials,
};
pub use kafka_state::consumer::{AutoOffsetReset, Lent, OffsetSpec, RecordView, SeekTo};
pub use kafka_state::group::{
    CommitError, CooperativeStickyAssignor, GroupConfig, GroupError, GroupEvent, GroupMetadata,
    GroupProtocol, OffsetAndMetadata, RangeAssignor, RoundRobinAssignor, StickyAssignor,
};
pub use kafka_state::producer::{
    Acks, DeliveryId, DeliveryReport, ProduceError, ProducerConfig, ProducerRecord, SendError,
    TopicName, TxnCause, TxnError, TxnEvent, TxnOp, TxnState,
};
pub use kafka_state::sasl::{SaslConfig, SaslMechanism};
pub use kafka_state::stats::{
    BrokerStats, ConnRole, ConnState, ConsumerPartitionStats, GroupState, GroupStats, Latency,
    PartitionStats, ProducerPartitionStats, TotalStats,
};
#[cfg(feature = "tls")]
pub use kafka_state::tls::TlsConfig;
pub use kafka_state::{
    AdminOutcome, AdminResult, BrokerAddr, ClusterMetadata, Config, Event, NewTopic,
    PartitionMetadata, RequestId, TopicMetadata, TopicOutcome,
};
pub use kafka_state::{ClientStats, ConsumerEvent, ConsumerRecord, FetchedRecords, TopicPartition};
pub use tokens::Tokens;

use crate::driver::Driver;

/// A Kafka client living on the application's [`mio::Poll`].
///
/// See the [crate docs](crate) for the loop that drives it. Dropping it
/// deregisters and closes its sockets; [`Client::close`] also fails the
/// commands still pending.
pub struct Client {
    driver: Driver,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("core", &self.driver.core)
            .field("tokens", &self.driver.tokens())
            .field("sockets", &self.driver.socket_count())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client registering its sockets through `registry` (a clone of it
    /// is kept) under `tokens`. It starts connecting to the bootstrap
    /// list at once and returns without waiting: the loop does the rest.
    /// A `config.seed` of 0 is replaced by a random one.
    pub fn connect(
        mut config: Config,
        registry: &mio::Registry,
        tokens: Tokens,
    ) -> Result<Self, Error> {
        if config.seed == 0 {
            config.seed = kafka_driver::random_seed();
        }
        if tokens.is_empty() {
            return Err(Error::Misuse(kafka_state::Misuse::InvalidConfig(
                "the token set is empty",
            )));
        }
        let core = kafka_state::Client::new(config, Instant::now())?;
        let registry = registry.try_clone().map_err(|e| Error::Io(e.to_string()))?;
        Ok(Self {
            driver: Driver::new(core, registry, tokens),
        })
    }

    /// [`Client::connect`] with default settings and a `host:port[,..]`
    /// bootstrap list.
    pub fn bootstrap(
        servers: &str,
        registry: &mio::Registry,
        tokens: Tokens,
    ) -> Result<Self, Error> {
        Self::connect(Config::bootstrap(servers)?, registry, tokens)
    }

    /// Caps the bytes read from one socket per readiness event (256 KiB
    /// by default; at least 1).
    pub fn set_read_budget(&mut self, bytes: usize) {
        self.driver.set_read_budget(bytes);
    }

    // ---- the loop -----------------------------------------------------

    /// The tokens the client registers its sockets under.
    pub fn tokens(&self) -> Tokens {
        self.driver.tokens()
    }

    /// Whether `token` is one of the client's.
    pub fn owns(&self, token: mio::Token) -> bool {
        self.driver.tokens().contains(token)
    }

    /// Handles a readiness event. Returns `false`, doing nothing, when
    /// the event's token is not the client's.
    pub fn handle_event(&mut self, event: &mio::event::Event) -> bool {
        self.driver.handle_event(event)
    }

    /// How long `poll` may wait before [`Client::handle_timeout`] has
    /// work to do; `None` when only a socket event can give it work.
    #[must_use]
    pub fn next_timeout(&self) -> Option<Duration> {
        self.driver.next_timeout()
    }

    /// Continues reads cut short by the read budget and fires the core's
    /// timers when due. Call it after every `poll`.
    pub fn handle_timeout(&mut self) {
        self.driver.handle_timeout();
    }

    /// The next thing that happened: command results, connection changes,
    /// metadata updates, a fatal error. Events pile up until taken.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.driver.poll_event()
    }

    /// Sockets open or being opened.
    pub fn connection_count(&self) -> usize {
        self.driver.socket_count()
    }

    // ---- commands -----------------------------------------------------

    /// Fetches the brokers and controller, no topics: the cheapest round
    /// trip proving a broker answers. Outcome: [`AdminOutcome::Metadata`].
    pub fn brokers(&mut self) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().brokers(now))
    }

    /// Fetches metadata of `topics`, never creating them; a missing topic
    /// is listed with `UNKNOWN_TOPIC_OR_PARTITION`. Outcome:
    /// [`AdminOutcome::Metadata`].
    pub fn metadata<S: Into<String>>(
        &mut self,
        topics: impl IntoIterator<Item = S>,
    ) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().metadata(now, topics))
    }

    /// Fetches metadata of `topics`, with what this client may do to
    /// each if `authorized_operations`. Outcome: [`AdminOutcome::Metadata`].
    pub fn describe_topics<S: Into<String>>(
        &mut self,
        topics: impl IntoIterator<Item = S>,
        authorized_operations: bool,
    ) -> Result<RequestId, Error> {
        self.command(|core, now| {
            core.admin()
                .describe_topics(now, topics, authorized_operations)
        })
    }

    /// Fetches metadata of every topic. Outcome: [`AdminOutcome::Metadata`].
    pub fn metadata_all(&mut self) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().metadata_all(now))
    }

    /// Creates topics. Outcome: [`AdminOutcome::CreateTopics`], one entry
    /// per topic ([`Error::check_topics`] turns a failure into an error).
    pub fn create_topics(
        &mut self,
        topics: impl IntoIterator<Item = NewTopic>,
    ) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().create_topics(now, topics))
    }

    /// Creates topics, or with `validate_only` only checks them. Outcome:
    /// [`AdminOutcome::CreateTopics`], one entry per topic.
    pub fn create_topics_validate(
        &mut self,
        topics: impl IntoIterator<Item = NewTopic>,
        validate_only: bool,
    ) -> Result<RequestId, Error> {
        self.command(|core, now| {
            core.admin()
                .create_topics_validate(now, topics, validate_only)
        })
    }

    /// Creates one topic; see [`Client::create_topics`].
    pub fn create_topic(&mut self, topic: NewTopic) -> Result<RequestId, Error> {
        self.create_topics([topic])
    }

    /// Deletes topics. Outcome: [`AdminOutcome::DeleteTopics`], one entry
    /// per topic.
    pub fn delete_topics<S: Into<String>>(
        &mut self,
        names: impl IntoIterator<Item = S>,
    ) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().delete_topics(now, names))
    }

    /// Deletes topics by id. Outcome: [`AdminOutcome::DeleteTopicsById`],
    /// one entry per id.
    pub fn delete_topics_by_id(
        &mut self,
        ids: impl IntoIterator<Item = kafka_proto::Uuid>,
    ) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().delete_topics_by_id(now, ids))
    }

    /// Deletes one topic; see [`Client::delete_topics`].
    pub fn delete_topic(&mut self, name: &str) -> Result<RequestId, Error> {
        self.delete_topics([name])
    }

    /// Describes the configs of `resources`, each asked of the right
    /// broker; `synonyms` adds every source's value. Outcome:
    /// [`AdminOutcome::DescribeConfigs`], one entry per resource.
    pub fn describe_configs(
        &mut self,
        resources: impl IntoIterator<Item = ConfigResource>,
        synonyms: bool,
    ) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().describe_configs(now, resources, synonyms))
    }

    /// Changes configs incrementally; with `validate_only` the brokers
    /// only check. Outcome: [`AdminOutcome::AlterConfigs`], one entry per
    /// resource.
    pub fn alter_configs(
        &mut self,
        changes: impl IntoIterator<Item = (ConfigResource, Vec<AlterConfigOp>)>,
        validate_only: bool,
    ) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().alter_configs(now, changes, validate_only))
    }

    /// Grows topics to new partition counts. Outcome:
    /// [`AdminOutcome::CreatePartitions`], one entry per topic.
    pub fn create_partitions(
        &mut self,
        topics: impl IntoIterator<Item = NewPartitions>,
        validate_only: bool,
    ) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().create_partitions(now, topics, validate_only))
    }

    /// Deletes each partition's records before its offset, asking each
    /// leader. Outcome: [`AdminOutcome::DeleteRecords`], per partition.
    pub fn delete_records(
        &mut self,
        before: std::collections::BTreeMap<TopicPartition, i64>,
    ) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().delete_records(now, before))
    }

    /// Describes the cluster. Outcome: [`AdminOutcome::DescribeCluster`]
    /// (or [`AdminOutcome::Refused`]).
    pub fn describe_cluster(&mut self, authorized_operations: bool) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().describe_cluster(now, authorized_operations))
    }

    /// A broker's features (any broker if `node` is `None`). Outcome:
    /// [`AdminOutcome::DescribeFeatures`] (or [`AdminOutcome::Refused`]).
    pub fn describe_features(&mut self, node: Option<i32>) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().describe_features(now, node))
    }

    /// Creates ACLs. Outcome: [`AdminOutcome::CreateAcls`], per binding.
    pub fn create_acls(
        &mut self,
        bindings: impl IntoIterator<Item = AclBinding>,
    ) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().create_acls(now, bindings))
    }

    /// The ACLs `filter` matches. Outcome: [`AdminOutcome::DescribeAcls`]
    /// (or [`AdminOutcome::Refused`]).
    pub fn describe_acls(&mut self, filter: AclBindingFilter) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().describe_acls(now, filter))
    }

    /// Deletes the ACLs each filter matches. Outcome:
    /// [`AdminOutcome::DeleteAcls`], per filter.
    pub fn delete_acls(
        &mut self,
        filters: impl IntoIterator<Item = AclBindingFilter>,
    ) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().delete_acls(now, filters))
    }

    /// The SCRAM credentials of `users` (every user if empty). Outcome:
    /// [`AdminOutcome::DescribeUserScramCredentials`] (or
    /// [`AdminOutcome::Refused`]).
    pub fn describe_user_scram_credentials<S: Into<String>>(
        &mut self,
        users: impl IntoIterator<Item = S>,
    ) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().describe_user_scram_credentials(now, users))
    }

    /// Sets or removes SCRAM credentials. Outcome:
    /// [`AdminOutcome::AlterUserScramCredentials`], per user.
    pub fn alter_user_scram_credentials(
        &mut self,
        changes: impl IntoIterator<Item = ScramChange>,
    ) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().alter_user_scram_credentials(now, changes))
    }

    /// The client quotas `filter` matches. Outcome:
    /// [`AdminOutcome::DescribeClientQuotas`] (or [`AdminOutcome::Refused`]).
    pub fn describe_client_quotas(&mut self, filter: QuotaFilter) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().describe_client_quotas(now, filter))
    }

    /// Sets or removes client quotas. Outcome:
    /// [`AdminOutcome::AlterClientQuotas`], per entity.
    pub fn alter_client_quotas(
        &mut self,
        changes: impl IntoIterator<Item = (QuotaEntity, Vec<QuotaOp>)>,
        validate_only: bool,
    ) -> Result<RequestId, Error> {
        self.command(|core, now| {
            core.admin()
                .alter_client_quotas(now, changes, validate_only)
        })
    }

    /// Lists the groups in one of `states` and of one of `types`
    /// (`classic`, `consumer`, `share`; empty: any). Outcome:
    /// [`AdminOutcome::ListGroups`].
    pub fn list_groups_matching(
        &mut self,
        states: Vec<String>,
        types: Vec<String>,
    ) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().list_groups_matching(now, states, types))
    }

    /// Describes share groups. Outcome: [`AdminOutcome::DescribeGroups`],
    /// per group.
    pub fn describe_share_groups<S: Into<String>>(
        &mut self,
        groups: impl IntoIterator<Item = S>,
    ) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().describe_share_groups(now, groups))
    }

    /// Deletes a group's committed offsets of `partitions`. Outcome:
    /// [`AdminOutcome::DeleteGroupOffsets`], per partition.
    pub fn delete_group_offsets(
        &mut self,
        group: &str,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().delete_group_offsets(now, group, partitions))
    }

    /// The reassignments in progress (of `partitions` only, if given).
    /// Outcome: [`AdminOutcome::ListPartitionReassignments`] (or
    /// [`AdminOutcome::Refused`]).
    pub fn list_partition_reassignments(
        &mut self,
        partitions: Option<Vec<TopicPartition>>,
    ) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().list_partition_reassignments(now, partitions))
    }

    /// Moves partitions to new replicas (`None` cancels). Outcome:
    /// [`AdminOutcome::AlterPartitionReassignments`], per partition.
    pub fn alter_partition_reassignments(
        &mut self,
        targets: std::collections::BTreeMap<TopicPartition, Option<Vec<i32>>>,
    ) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().alter_partition_reassignments(now, targets))
    }

    /// Elects leaders (of every partition needing one if `None`).
    /// Outcome: [`AdminOutcome::ElectLeaders`], per partition.
    pub fn elect_leaders(
        &mut self,
        election: ElectionType,
        partitions: Option<Vec<TopicPartition>>,
    ) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().elect_leaders(now, election, partitions))
    }

    /// Every broker's log directories. Outcome:
    /// [`AdminOutcome::DescribeLogDirs`], per broker.
    pub fn describe_log_dirs(&mut self, topics: Option<Vec<String>>) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().describe_log_dirs(now, topics))
    }

    /// The producers of each partition. Outcome:
    /// [`AdminOutcome::DescribeProducers`], per partition.
    pub fn describe_producers(
        &mut self,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().describe_producers(now, partitions))
    }

    /// Every coordinator's transactions `filter` matches. Outcome:
    /// [`AdminOutcome::ListTransactions`].
    pub fn list_transactions(&mut self, filter: TransactionFilter) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().list_transactions(now, filter))
    }

    /// Describes transactions by transactional id. Outcome:
    /// [`AdminOutcome::DescribeTransactions`], per id.
    pub fn describe_transactions<S: Into<String>>(
        &mut self,
        transactional_ids: impl IntoIterator<Item = S>,
    ) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().describe_transactions(now, transactional_ids))
    }

    /// Finalizes features at new levels. Outcome:
    /// [`AdminOutcome::UpdateFeatures`], per feature.
    pub fn update_features(
        &mut self,
        updates: impl IntoIterator<Item = FeatureUpdate>,
        validate_only: bool,
    ) -> Result<RequestId, Error> {
        self.command(|core, now| core.admin().update_features(now, updates, validate_only))
    }

    /// Queues a record for producing; its outcome comes out of
    /// [`Client::poll_event`] with the returned id, in the
    /// [`Event::Delivered`] of its batch or as an [`Event::DeliveryFailed`]
    /// ([`Event::outcomes`] lists them one record at a time). A full buffer gives the record back in
    /// [`SendError::BufferFull`]: retry after [`Event::BufferAvailable`]
    /// or a delivery. A record without a timestamp gets the current time.
    pub fn send(&mut self, mut record: ProducerRecord) -> Result<DeliveryId, SendError> {
        if record.timestamp.is_none() {
            record.timestamp = Some(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64),
            );
        }
        let now = Instant::now();
        let result = self.driver.core.producer().send(now, record);
        self.driver.drain(now);
        result
    }

    /// Queues every record of `records`, with one clock read and one
    /// round of the driver for all of them; each gets its outcome in its
    /// place, as [`Client::send`] would give it. Once the buffer is full,
    /// that record and the rest come back in [`SendError::BufferFull`]:
    /// offer them again after [`Event::BufferAvailable`] or a delivery.
    pub fn send_many(
        &mut self,
        records: impl IntoIterator<Item = ProducerRecord>,
    ) -> Vec<Result<DeliveryId, SendError>> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let now = Instant::now();
        let mut full = false;
        let results = records
            .into_iter()
            .map(|mut record| {
                if full {
                    return Err(SendError::BufferFull(Box::new(record)));
                }
                record.timestamp.get_or_insert(stamp);
                let result = self.driver.core.producer().send(now, record);
                full = matches!(result, Err(SendError::BufferFull(_)));
                result
            })
            .collect();
        self.driver.drain(now);
        results
    }

    /// Sends every lingering batch now; [`Event::FlushComplete`] follows
    /// once every record sent so far has its report.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.command(|core, now| core.producer().flush(now))
    }

    /// Gets the producer id of `ProducerConfig::transactional_id`,
    /// fencing any earlier instance with that id and aborting a
    /// transaction it left open. The outcome comes out of
    /// [`Client::poll_event`] as [`Event::Transaction`]
    /// ([`TxnEvent::Initialized`] or [`TxnEvent::Failed`]).
    pub fn init_transactions(&mut self) -> Result<(), Error> {
        self.transaction(|t, now| t.init(now))
    }

    /// Opens a transaction: records sent until the commit or abort belong
    /// to it. Takes effect at once; no event follows.
    pub fn begin_transaction(&mut self) -> Result<(), Error> {
        self.transaction(|t, now| t.begin(now))
    }

    /// Commits `offsets` of the consumer group `group` with the open
    /// transaction; the outcome comes as [`TxnEvent::OffsetsSent`] or
    /// [`TxnEvent::Failed`].
    pub fn send_offsets_to_transaction(
        &mut self,
        offsets: std::collections::BTreeMap<TopicPartition, OffsetAndMetadata>,
        group: &GroupMetadata,
    ) -> Result<(), Error> {
        self.transaction(|t, now| t.send_offsets(now, offsets, group))
    }

    /// Sends every record of the transaction and commits it once all are
    /// written: [`TxnEvent::Committed`], or [`TxnEvent::Failed`] (abort
    /// next for an abortable error).
    pub fn commit_transaction(&mut self) -> Result<(), Error> {
        self.transaction(|t, now| t.commit(now))
    }

    /// Aborts the open transaction: [`TxnEvent::Aborted`] follows.
    pub fn abort_transaction(&mut self) -> Result<(), Error> {
        self.transaction(|t, now| t.abort(now))
    }

    fn transaction(
        &mut self,
        f: impl FnOnce(&mut kafka_state::Transactions<'_>, Instant) -> Result<(), TxnError>,
    ) -> Result<(), Error> {
        let now = Instant::now();
        let result = f(&mut self.driver.core.transactions(), now);
        self.driver.drain(now);
        result.map_err(Error::from)
    }

    /// Replaces the consumer's assignment; records come from
    /// [`Client::poll_records`].
    pub fn assign(
        &mut self,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<(), Error> {
        self.command(|core, now| core.consumer().assign(now, partitions))
    }

    /// Moves an assigned partition's position.
    pub fn seek(&mut self, partition: &TopicPartition, to: SeekTo) -> Result<(), Error> {
        self.command(|core, now| core.consumer().seek(now, partition, to))
    }

    /// Joins the consumer group of `config.group`, consuming `topics`.
    /// Assignment changes come out of [`Client::poll_event`] as
    /// [`Event::Consumer`] (`PartitionsAssigned`, `PartitionsRevoking`,
    /// `PartitionsRevoked`, `PartitionsLost`), membership news as
    /// [`Event::Group`]. Calling
    /// [`Client::poll_records`] is what keeps the member in its group
    /// (`max_poll_interval`).
    pub fn subscribe<S: Into<String>>(
        &mut self,
        topics: impl IntoIterator<Item = S>,
    ) -> Result<(), Error> {
        self.command(|core, now| core.consumer().subscribe(now, topics))
    }

    /// Joins the consumer group of `config.group` consuming every topic whose name matches
    /// `pattern`, now and as topics are created: see
    /// [`kafka_state::Consumer::subscribe_regex`] for who matches it under
    /// each group protocol and which syntax it takes. Under the classic
    /// protocol a pattern that does not compile fails with
    /// [`Misuse::InvalidRegex`](kafka_state::Misuse::InvalidRegex); under
    /// the consumer protocol one the broker refuses ends the member with
    /// `GroupError::InvalidRegularExpression`.
    pub fn subscribe_regex(&mut self, pattern: impl Into<String>) -> Result<(), Error> {
        let pattern = pattern.into();
        self.command(|core, now| core.consumer().subscribe_regex(now, pattern))
    }

    /// Leaves the group (committing first, with auto-commit).
    pub fn unsubscribe(&mut self) -> Result<(), Error> {
        self.command(|core, now| core.consumer().unsubscribe(now))
    }

    /// Commits `offsets` to the group, or every owned partition's
    /// consumed offset when `None`; the outcome comes as
    /// [`GroupEvent::Committed`]
    /// with the returned id.
    pub fn commit(
        &mut self,
        offsets: Option<
            std::collections::BTreeMap<TopicPartition, kafka_state::group::OffsetAndMetadata>,
        >,
    ) -> Result<RequestId, Error> {
        self.command(|core, now| core.consumer().commit(now, offsets))
    }

    /// Lets a revoke the group member waits with go on. With
    /// `GroupConfig::await_revoke`, an orderly revoke is announced as
    /// [`ConsumerEvent::PartitionsRevoking`]:
    /// commit what was processed of the partitions ([`Client::commit`]
    /// accepts them until the revoke; wait for its
    /// [`GroupEvent::Committed`]
    /// if you like, the member keeps waiting), then call this. The member
    /// revokes anyway after `GroupConfig::revoke_wait`. Does nothing when
    /// no revoke waits.
    pub fn revoke_done(&mut self) -> Result<(), Error> {
        self.command(|core, now| core.consumer().revoke_done(now))
    }

    /// The next fetched records of an assigned partition, if any have
    /// arrived; taking them moves that partition's position past all of
    /// them. Consumer problems come out of [`Client::poll_event`] as
    /// [`Event::Consumer`].
    ///
    /// Records decode as they are iterated. If one fails to decode, hand
    /// the damage back with `core_mut().consumer().report_corrupt(now,
    /// &records, iter.resume_offset(), error)`: the core puts the position
    /// at the bad record, stops the partition and reports it (partition
    /// and offset) as an event, so the application can seek past it.
    /// Without that call the partition goes on after the whole batch.
    /// Offsets of records handed to the application are stored with
    /// `core_mut().consumer().store_record(&record)` (what a group commit
    /// covers). Records handled in place are cheapest lent:
    /// `fetched.into_iter().lend(|record| ..)` ([`IntoRecords::lend`](kafka_state::consumer::IntoRecords::lend))
    /// allocates and counts nothing per record.
    pub fn poll_records(&mut self) -> Option<FetchedRecords> {
        let now = Instant::now();
        let mut consumer = self.driver.core.consumer();
        // The application asks for records: the group member's max poll
        // interval starts again (refused only once closed).
        let _ = consumer.record_poll(now);
        let records = consumer.poll_records(now);
        self.driver.drain(now);
        records
    }

    /// Closes every connection. Pending commands end with
    /// [`kafka_state::RequestError::Closed`] results; later commands
    /// return [`Error::Closed`].
    pub fn close(&mut self) {
        let now = Instant::now();
        self.driver.core.close(now);
        self.driver.drain(now);
    }

    /// The metadata cache: brokers, topics, partitions and leaders.
    pub fn cluster(&self) -> &ClusterMetadata {
        self.driver.core.cluster()
    }

    /// A snapshot of the client's statistics: per broker connection
    /// (state, requests, bytes, round-trip times, throttling), per
    /// partition (producer queue, consumer position and lag), the group
    /// member and totals. With
    /// [`Config::stats_interval`](kafka_state::Config::stats_interval)
    /// set, [`Client::poll_event`] also yields one as [`Event::Stats`]
    /// every interval.
    pub fn stats(&self) -> ClientStats {
        self.driver.core.stats()
    }

    // ---- the core -----------------------------------------------------

    /// The sans-IO core, read-only.
    pub fn core(&self) -> &kafka_state::Client {
        &self.driver.core
    }

    /// The sans-IO core, for commands this crate does not wrap. Commands
    /// take `now`: pass [`Instant::now()`]. When the returned guard is
    /// dropped the client carries out what the core asked for (writes,
    /// connects) and queues its events for [`Client::poll_event`].
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let poll = mio::Poll::new()?;
    /// # let mut client = kafka_mio::Client::bootstrap("127.0.0.1:9", poll.registry(), kafka_mio::Tokens::range(1..9))?;
    /// use std::time::Instant;
    ///
    /// client.core_mut().track_topic(Instant::now(), "greetings")?;
    /// # Ok(()) }
    /// ```
    pub fn core_mut(&mut self) -> CoreMut<'_> {
        CoreMut { client: self }
    }

    fn command<T>(
        &mut self,
        f: impl FnOnce(&mut kafka_state::Client, Instant) -> Result<T, kafka_state::Misuse>,
    ) -> Result<T, Error> {
        let now = Instant::now();
        let result = f(&mut self.driver.core, now);
        self.driver.drain(now);
        result.map_err(Error::from)
    }
}

/// Mutable access to the core from [`Client::core_mut`]; the client
/// acts on the core's requests when it is dropped.
pub struct CoreMut<'a> {
    client: &'a mut Client,
}

impl fmt::Debug for CoreMut<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CoreMut")
            .field(&self.client.driver.core)
            .finish()
    }
}

impl Deref for CoreMut<'_> {
    type Target = kafka_state::Client;

    fn deref(&self) -> &Self::Target {
        &self.client.driver.core
    }
}

impl DerefMut for CoreMut<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.client.driver.core
    }
}

impl Drop for CoreMut<'_> {
    fn drop(&mut self) {
        self.client.driver.drain(Instant::now());
    }
}
