//! `kfk`: a kcat-like command-line tool over `kafka-tokio`.
//!
//! Every failure (bad arguments, unreachable brokers, unknown topics,
//! broker errors) ends with one line on stderr and a non-zero exit.
#![forbid(unsafe_code)]

mod acl;
mod admin;
mod consume;
mod copy;
mod demo;
mod group;
mod metadata;
mod outcome;
mod partitions;
mod produce;
mod progress;
mod quota;
mod settings;
mod stats;
mod table;
mod txn;
mod user;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use kafka_state::{BrokerAddr, Config};
use kafka_tokio::{Acks, Client, Compression, NewTopic};

/// How long the tool waits for a broker by default; shorter than the
/// library's minute so a wrong address fails fast.
const CLI_API_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Parser)]
#[command(
    name = "kfk",
    version,
    about = "A kcat-like Kafka tool",
    propagate_version = true
)]
struct Cli {
    /// Bootstrap brokers, HOST:PORT[,HOST:PORT..].
    #[arg(
        short = 'b',
        long = "bootstrap",
        global = true,
        env = "KFK_BOOTSTRAP",
        default_value = "127.0.0.1:9092"
    )]
    bootstrap: String,
    /// Connect with TLS (verified against the system's public roots unless
    /// --ca is given).
    #[arg(long, global = true)]
    tls: bool,
    /// A PEM file of CA certificates to trust for TLS (implies --tls).
    #[arg(long, global = true, value_name = "FILE")]
    ca: Option<std::path::PathBuf>,
    /// SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    #[arg(long = "sasl-mechanism", global = true, value_parser = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])]
    sasl_mechanism: Option<String>,
    /// SASL user name.
    #[arg(long = "sasl-username", global = true)]
    sasl_username: Option<String>,
    /// SASL password (or set KFK_SASL_PASSWORD to keep it out of the
    /// process list).
    #[arg(
        long = "sasl-password",
        global = true,
        env = "KFK_SASL_PASSWORD",
        hide_env_values = true
    )]
    sasl_password: Option<String>,
    /// A client setting, KEY=VALUE (Java client names); repeatable.
    #[arg(short = 'X', value_name = "KEY=VALUE", global = true)]
    settings: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show brokers, topics and partitions.
    Metadata {
        /// Only this topic.
        #[arg(short = 't', long = "topic")]
        topic: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List, create or delete topics.
    Topic {
        #[command(subcommand)]
        op: TopicOp,
    },
    /// Produce one record per stdin line.
    Produce {
        /// The topic.
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// The partition; by default the partitioner picks (by key).
        #[arg(short = 'p', long = "partition")]
        partition: Option<i32>,
        /// Split each line into key and value at the first DELIM.
        #[arg(short = 'K', value_name = "DELIM")]
        key_delimiter: Option<String>,
        /// Send an empty value as null (a tombstone) and, with -K, an
        /// empty key as null.
        #[arg(short = 'Z', long = "null-empty")]
        null_empty: bool,
        /// A header KEY=VALUE added to every record; repeatable.
        #[arg(short = 'H', value_name = "KEY=VALUE")]
        headers: Vec<String>,
        /// Batch compression.
        #[arg(long, default_value = "none", value_parser = ["none", "gzip", "snappy", "lz4", "zstd"])]
        compression: String,
        /// Acknowledgements: 0, 1 or all.
        #[arg(long, default_value = "all", value_parser = ["0", "1", "all", "-1"])]
        acks: String,
        /// Idempotent writes (needs --acks all).
        #[arg(long)]
        idempotent: bool,
        /// Print a JSON statistics snapshot (brokers, partitions, group,
        /// totals) to stderr every MS milliseconds; the same as -X
        /// statistics.interval.ms.
        #[arg(long = "stats-interval", value_name = "MS")]
        stats_interval: Option<u64>,
        /// At the end, print a JSON summary on stdout: records, bytes,
        /// each partition's count and first and last offset, and the
        /// error that stopped the run (if one did).
        #[arg(long)]
        json: bool,
    },
    /// Print records, one per line.
    Consume {
        /// The topic.
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// Only this partition (default: all).
        #[arg(short = 'p', long = "partition")]
        partition: Option<i32>,
        /// Where to start: beginning, end, OFFSET or @TIMESTAMP_MS.
        #[arg(short = 'o', long = "offset", default_value = "beginning")]
        offset: String,
        /// Stop after COUNT records.
        #[arg(short = 'c', long = "count")]
        count: Option<u64>,
        /// Stop at the end of every partition instead of waiting for more.
        #[arg(short = 'e')]
        exit_at_end: bool,
        /// Output: the value as text, or one JSON object per record.
        #[arg(short = 'f', long = "format", default_value = "text", value_parser = ["text", "json"])]
        format: String,
        /// One JSON object per record (the same as -f json).
        #[arg(long)]
        json: bool,
        /// Consume as a member of this consumer group: the group assigns
        /// the partitions, each starts at the group's committed offset (-o
        /// beginning or end where there is none), and what was printed is
        /// committed. Not with -p.
        #[arg(short = 'G', long = "group", value_name = "GROUP")]
        group: Option<String>,
        /// With -G: the assignor(s) to offer, in preference order: range,
        /// roundrobin, sticky, cooperative-sticky (repeatable; the same as
        /// -X partition.assignment.strategy). Default: range, then
        /// cooperative-sticky, as the Java client.
        #[arg(long = "assignor", value_name = "NAME", requires = "group")]
        assignors: Vec<String>,
        /// With -G: a static member id (KIP-345): a restart within the
        /// session timeout takes the old place back without a rebalance.
        #[arg(long = "instance-id", value_name = "ID", requires = "group")]
        instance_id: Option<String>,
        /// With -G: commit nothing (neither automatically nor at exit).
        #[arg(long = "no-commit", requires = "group")]
        no_commit: bool,
        /// With -G: the group protocol: classic (JoinGroup/SyncGroup, the
        /// default) or consumer (KIP-848, Kafka 4.0 and later: the broker
        /// assigns; --assignor does not apply, -X group.remote.assignor
        /// names the broker's assignor). The same as -X group.protocol.
        #[arg(long = "group-protocol", value_parser = ["classic", "consumer"], requires = "group")]
        group_protocol: Option<String>,
        /// With -G: -t is a regular expression matched against whole topic
        /// names, now and as topics are created: by the broker under the
        /// consumer group protocol (RE2/J syntax), by kfk at each metadata
        /// refresh under the classic one.
        #[arg(long = "regex", requires = "group")]
        regex: bool,
        /// Which records to read: read_uncommitted (everything, the default)
        /// or read_committed (no open or aborted transactions); the same as
        /// -X isolation.level=..., which it overrides.
        #[arg(long, value_parser = ["read_committed", "read_uncommitted"])]
        isolation: Option<String>,
        /// Print a JSON statistics snapshot (brokers, partitions, group,
        /// totals) to stderr every MS milliseconds; the same as -X
        /// statistics.interval.ms.
        #[arg(long = "stats-interval", value_name = "MS")]
        stats_interval: Option<u64>,
    },
    /// Copy a topic's records into another exactly once: a member of
    /// GROUP reads FROM (read_committed) and each transaction writes a
    /// batch to TO with the group offsets after it. Killed and started
    /// again with the same group and transactional id, it neither loses
    /// nor repeats a record; the new process fences the old one.
    Copy {
        /// The source topic.
        #[arg(
            short = 't',
            long = "from",
            visible_alias = "topic",
            value_name = "SOURCE"
        )]
        from: String,
        /// The target topic: each record goes to its source partition's
        /// number, so it needs at least as many partitions as the source.
        #[arg(long, value_name = "DEST")]
        to: String,
        /// The consumer group whose committed offsets say how far the
        /// copy got.
        #[arg(short = 'G', long = "group", value_name = "GROUP")]
        group: String,
        /// The transactional id (default: kfk-copy-GROUP); one per copy,
        /// the same across its restarts.
        #[arg(long = "transactional-id", value_name = "ID")]
        transactional_id: Option<String>,
        /// Records per transaction at most.
        #[arg(long = "commit-every", visible_alias = "batch", value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        batch: u64,
        /// How long a transaction waits for more records before it
        /// commits, in milliseconds.
        #[arg(long = "commit-interval-ms", value_name = "MS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
        commit_interval_ms: u64,
        /// Stop after COUNT records.
        #[arg(short = 'c', long = "count")]
        count: Option<u64>,
        /// Stop once every partition of the source is copied to its end
        /// (by this copier or, per the group's offsets, another).
        #[arg(short = 'e')]
        exit_at_end: bool,
        /// At the end, print a JSON summary on stdout: from, to, group,
        /// records.
        #[arg(long)]
        json: bool,
    },
    /// List, describe or delete consumer groups, or reset their offsets.
    Group {
        #[command(subcommand)]
        op: GroupOp,
    },
    /// Describe or change the configs of a topic or a broker.
    Config {
        #[command(subcommand)]
        op: ConfigOp,
    },
    /// Delete a partition's records before an offset (its new start).
    DeleteRecords {
        /// The topic.
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// The partition.
        #[arg(short = 'p', long = "partition")]
        partition: i32,
        /// Delete every record before this offset, or `end` for all.
        #[arg(long, value_name = "OFFSET")]
        before: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Delete records: `records delete TOPIC -p N --before OFFSET|end`
    /// (the same as `delete-records`).
    Records {
        #[command(subcommand)]
        op: RecordsOp,
    },
    /// List, add or remove ACLs (the cluster needs an authorizer).
    Acl {
        #[command(subcommand)]
        op: AclOp,
    },
    /// List, set or delete users' SCRAM credentials.
    User {
        #[command(subcommand)]
        op: UserOp,
    },
    /// List or set client quotas.
    Quota {
        #[command(subcommand)]
        op: QuotaOp,
    },
    /// Show the cluster id, the controller, the brokers and the features;
    /// `cluster features` shows or changes the feature levels.
    Cluster {
        #[command(subcommand)]
        op: Option<ClusterOp>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Move partitions' replicas, list the moves, elect leaders.
    Partitions {
        #[command(subcommand)]
        op: PartitionsOp,
    },
    /// Show the brokers' log directories and the replicas in them.
    Logdirs {
        #[command(subcommand)]
        op: LogdirsOp,
    },
    /// Show the producers a partition's leader keeps state for.
    Producers {
        #[command(subcommand)]
        op: ProducersOp,
    },
    /// List or describe transactions.
    Txn {
        #[command(subcommand)]
        op: TxnOp,
    },
    /// Print each partition's earliest and latest offsets (or, with
    /// --spec, one lookup's offset and timestamp).
    Offsets {
        /// The topic.
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// earliest, latest, max-timestamp (the record with the largest
        /// timestamp), earliest-local (the first offset on the leader's
        /// disk, past the start under tiered storage) or @TIMESTAMP_MS.
        #[arg(long, value_name = "SPEC")]
        spec: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Start the embedded mock cluster, produce and consume N records, and
    /// print throughput and latency.
    Demo {
        /// How many records.
        #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        messages: u64,
        /// Print one JSON object of the figures instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Serve the in-process mock cluster on 127.0.0.1 until interrupted.
    Mock {
        /// Number of brokers.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=64))]
        brokers: i32,
        /// First port (broker i listens on PORT+i); 0 picks free ports.
        #[arg(long, default_value_t = 9092)]
        port: u16,
        /// Print {"bootstrap": ...} instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum RecordsOp {
    /// Delete a partition's records before an offset (its new start).
    Delete {
        /// The topic.
        topic: String,
        /// The partition.
        #[arg(short = 'p', long = "partition", allow_hyphen_values = true)]
        partition: i32,
        /// Delete every record before this offset, or `end` for all.
        #[arg(long, value_name = "OFFSET")]
        before: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ClusterOp {
    /// Print the cluster id, the controller and the brokers (what `kfk
    /// cluster` alone prints).
    Describe {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print each feature's supported and finalized levels, or change
    /// levels with --upgrade / --downgrade.
    Features {
        /// Raise a feature to a level, NAME=LEVEL; repeatable.
        #[arg(long = "upgrade", value_name = "NAME=LEVEL")]
        upgrade: Vec<String>,
        /// Lower a feature to a level (0 removes it), NAME=LEVEL;
        /// repeatable. Refused where metadata would be lost, unless
        /// --unsafe.
        #[arg(long = "downgrade", value_name = "NAME=LEVEL")]
        downgrade: Vec<String>,
        /// Allow downgrades that lose metadata.
        #[arg(long = "unsafe", requires = "downgrade")]
        unsafe_downgrade: bool,
        /// Have the controller check the changes without applying them.
        #[arg(long = "validate-only")]
        validate_only: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum PartitionsOp {
    /// Grow a topic to a new total number of partitions (the same as
    /// `topic add-partitions`).
    Add {
        /// The topic.
        topic: String,
        /// The new total.
        #[arg(long, allow_hyphen_values = true)]
        total: i32,
        /// Have the controller check the change without applying it.
        #[arg(long = "validate-only")]
        validate_only: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Move a partition to new replicas (the first one is the preferred
    /// leader), or cancel its move with --cancel.
    Reassign {
        /// The topic.
        topic: String,
        /// The partition.
        #[arg(short = 'p', long = "partition", allow_hyphen_values = true)]
        partition: i32,
        /// The new replicas, broker ids: 1,2,3.
        #[arg(
            long,
            value_name = "IDS",
            allow_hyphen_values = true,
            required_unless_present = "cancel",
            conflicts_with = "cancel"
        )]
        replicas: Option<String>,
        /// Cancel the partition's reassignment in progress.
        #[arg(long)]
        cancel: bool,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the reassignments in progress.
    Reassignments {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Elect leaders: the preferred replica (or, with --unclean, any live
    /// one for partitions without a leader).
    Elect {
        /// TOPIC (every partition) or TOPIC:PARTITION; repeatable.
        #[arg(required = true, value_name = "TOPIC[:P]")]
        partitions: Vec<String>,
        /// Unclean election: an out-of-sync replica may lead (records may
        /// be lost).
        #[arg(long)]
        unclean: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum LogdirsOp {
    /// Print every broker's log directories and their replicas.
    Describe {
        /// Only this topic's replicas; repeatable.
        #[arg(short = 't', long = "topic")]
        topics: Vec<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ProducersOp {
    /// Print the producers of a topic's partitions (ids, epochs, last
    /// sequences, open transactions), asked of each leader.
    Describe {
        /// The topic.
        topic: String,
        /// Only this partition.
        #[arg(short = 'p', long = "partition", allow_hyphen_values = true)]
        partition: Option<i32>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TxnOp {
    /// Print the transactions of every coordinator.
    List {
        /// Only this state (Ongoing, CompleteCommit, Empty, ...);
        /// repeatable.
        #[arg(long = "state")]
        states: Vec<String>,
        /// Only this producer id; repeatable.
        #[arg(long = "producer-id", allow_hyphen_values = true)]
        producer_ids: Vec<i64>,
        /// Only transactions open at least this long (Kafka 3.8+).
        #[arg(
            long = "min-duration-ms",
            value_name = "MS",
            allow_hyphen_values = true
        )]
        min_duration_ms: Option<i64>,
        /// Only transactional ids matching this regular expression (Kafka
        /// 4.1+).
        #[arg(long = "id-pattern", value_name = "REGEX")]
        id_pattern: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Describe a transaction: state, producer, timeout, partitions.
    Describe {
        /// The transactional id.
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum UserOp {
    /// Print each user's SCRAM mechanisms and iterations (every user's,
    /// or those named with --user).
    List {
        /// A user; repeatable.
        #[arg(long = "user")]
        users: Vec<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Set a user's SCRAM credential for a mechanism (the password is
    /// salted here; only the salted form is sent).
    SetScram {
        /// The user.
        #[arg(long)]
        user: String,
        /// SCRAM-SHA-256 or SCRAM-SHA-512.
        #[arg(long, default_value = "SCRAM-SHA-256")]
        mechanism: String,
        /// Iterations, 4096 to 16384.
        #[arg(long, default_value_t = 8192)]
        iterations: u32,
        /// The password (or set KFK_SCRAM_PASSWORD to keep it out of the
        /// process list).
        #[arg(long, env = "KFK_SCRAM_PASSWORD", hide_env_values = true)]
        password: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Delete a user's SCRAM credential for a mechanism.
    DeleteScram {
        /// The user.
        #[arg(long)]
        user: String,
        /// SCRAM-SHA-256 or SCRAM-SHA-512.
        #[arg(long)]
        mechanism: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum QuotaOp {
    /// Print the quotas of the entities the flags match (all with none).
    List {
        #[command(flatten)]
        entity: quota::EntityArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Set or remove an entity's quotas.
    Set {
        #[command(flatten)]
        entity: quota::EntityArgs,
        /// A quota, KEY=VALUE (producer_byte_rate=1048576); repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// A quota to remove; repeatable.
        #[arg(long = "remove", value_name = "KEY")]
        remove: Vec<String>,
        /// Have the broker check the changes without applying them.
        #[arg(long = "validate-only")]
        validate_only: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AclOp {
    /// Print the ACLs the flags match (all of them with no flags).
    List {
        #[command(flatten)]
        acl: acl::AclArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Add one ACL.
    Add {
        #[command(flatten)]
        acl: acl::AclArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Remove every ACL the flags match; prints those removed.
    Remove {
        #[command(flatten)]
        acl: acl::AclArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum GroupOp {
    /// Print every group: id, state and type.
    List {
        /// Only groups in this state (Stable, Empty, ...); repeatable.
        #[arg(long = "state")]
        states: Vec<String>,
        /// Only groups of this type (classic, consumer, share);
        /// repeatable.
        #[arg(long = "type")]
        types: Vec<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show a group's state, members, committed offsets and lag.
    Describe {
        /// The group.
        group: String,
        /// Describe it as a share group (KIP-932).
        #[arg(long)]
        share: bool,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Delete a group's committed offsets of partitions (not of topics
    /// the group is subscribed to).
    DeleteOffsets {
        /// The group.
        group: String,
        /// TOPIC (every partition) or TOPIC:PARTITION; repeatable.
        #[arg(required = true, value_name = "TOPIC[:P]")]
        partitions: Vec<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Delete a group (it must have no active members).
    Delete {
        /// The group.
        group: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Move a group's committed offsets for a topic (the group must have
    /// no active members); prints the plan, and sets it with --execute.
    ResetOffsets {
        /// The group.
        group: String,
        /// The topic.
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// earliest, latest, OFFSET or @TIMESTAMP_MS.
        #[arg(long)]
        to: String,
        /// Set the offsets (without it, only print them).
        #[arg(long)]
        execute: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// A config resource: `KIND NAME` (topic NAME, broker ID, group NAME,
/// broker-logger ID, broker-defaults) or one of `--topic T`, `--broker
/// N`, `--group G`, `--broker-defaults`.
#[derive(Debug, clap::Args)]
struct ResourceArgs {
    /// topic NAME, broker ID, group NAME, broker-logger ID or
    /// broker-defaults.
    #[arg(value_name = "KIND NAME", num_args = 0..=2)]
    resource: Vec<String>,
    /// A topic.
    #[arg(short = 't', long = "topic")]
    topic: Option<String>,
    /// A consumer group (its KIP-848 group configs).
    #[arg(long = "group")]
    group: Option<String>,
    /// A broker, by node id.
    #[arg(long = "broker", value_name = "ID", allow_hyphen_values = true)]
    broker: Option<i32>,
    /// The dynamic defaults every broker shares.
    #[arg(long = "broker-defaults")]
    broker_defaults: bool,
}

#[derive(Debug, Subcommand)]
enum ConfigOp {
    /// Print every config: name, value (sensitive ones hidden), source
    /// and flags (default, read-only, sensitive).
    Describe {
        #[command(flatten)]
        resource: ResourceArgs,
        /// Also print each config's value at every source.
        #[arg(long)]
        synonyms: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Change configs incrementally.
    Alter {
        #[command(flatten)]
        resource: ResourceArgs,
        /// Set a config, KEY=VALUE; repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Remove a config (back to its default); repeatable.
        #[arg(long = "delete", value_name = "KEY")]
        delete: Vec<String>,
        /// Add a value to a list config, KEY=VALUE; repeatable.
        #[arg(long = "append", value_name = "KEY=VALUE")]
        append: Vec<String>,
        /// Remove a value from a list config, KEY=VALUE; repeatable.
        #[arg(long = "subtract", value_name = "KEY=VALUE")]
        subtract: Vec<String>,
        /// Only check the changes.
        #[arg(long = "validate-only")]
        validate_only: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TopicOp {
    /// Print every topic name.
    List {
        /// Print a JSON array of names.
        #[arg(long)]
        json: bool,
    },
    /// Print a topic's id and partitions: leader, leader epoch, replicas,
    /// in-sync and offline replicas.
    Describe {
        /// The topic.
        name: String,
        /// Also print what this client may do to the topic (always in
        /// JSON).
        #[arg(long = "authorized-operations")]
        authorized_operations: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Create a topic.
    Create {
        /// The topic.
        name: String,
        /// Number of partitions (default 1; not with --replica-assignment).
        #[arg(long, allow_hyphen_values = true)]
        partitions: Option<i32>,
        /// Replication factor (default -1: the broker's default; not with
        /// --replica-assignment).
        #[arg(long = "replication-factor", allow_hyphen_values = true)]
        replication_factor: Option<i16>,
        /// Each partition's replicas as broker ids, partitions separated by
        /// commas and replicas by colons: `1:2,2:3,3:1` puts partition 0 on
        /// brokers 1 and 2 (1 the preferred leader), and so on.
        #[arg(long = "replica-assignment", value_name = "B:B,B:B,...")]
        replica_assignment: Option<String>,
        /// A topic config, KEY=VALUE; repeatable.
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
        /// Only check that the topic could be created.
        #[arg(long = "validate-only")]
        validate_only: bool,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a topic, by name or by id.
    Delete {
        /// The topic.
        #[arg(required_unless_present = "id", conflicts_with = "id")]
        name: Option<String>,
        /// The topic id (as `topic describe` prints it) instead of a name.
        #[arg(long)]
        id: Option<String>,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Grow a topic to a new total number of partitions.
    AddPartitions {
        /// The topic.
        name: String,
        /// The new total number of partitions.
        #[arg(long, allow_hyphen_values = true)]
        partitions: i32,
        /// Only check the change.
        #[arg(long = "validate-only")]
        validate_only: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// `--help` and `--version` print as usual; a bad command line becomes
/// one line (what is wrong, folded onto the line) and exit code 2.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let text = e.to_string();
    let line = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information")
        })
        .collect::<Vec<_>>()
        .join(" ");
    let line = line.strip_prefix("error: ").unwrap_or(&line);
    eprintln!("kfk: {line} (see kfk --help)");
    ExitCode::from(2)
}

/// A client error as one line, led by the Kafka error's name where the
/// error's own text does not carry one: an API the broker does not serve
/// is `UNSUPPORTED_VERSION`.
pub(crate) fn error_line(e: kafka_tokio::Error) -> String {
    match &e {
        kafka_tokio::Error::Request(kafka_state::RequestError::Unsupported(_)) => {
            format!("{}: {e}", kafka_tokio::ErrorCode::UnsupportedVersion.name())
        }
        _ => e.to_string(),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("kfk: {message}");
    ExitCode::FAILURE
}

/// The client configuration from `-b` and `-X`.
fn config(cli: &Cli) -> Result<Config, String> {
    let mut config = Config::default();
    config.bootstrap = BrokerAddr::parse_list(&cli.bootstrap).map_err(|e| format!("-b: {e}"))?;
    config.api_timeout = CLI_API_TIMEOUT;
    for s in &cli.settings {
        settings::apply(&mut config, s)?;
    }
    if let Command::Consume {
        group: Some(group),
        assignors,
        instance_id,
        no_commit,
        group_protocol,
        ..
    } = &cli.command
    {
        let g = config
            .group
            .get_or_insert_with(|| kafka_tokio::GroupConfig::new(""));
        g.group_id = group.clone();
        if let Some(p) = group_protocol {
            g.group_protocol = settings::group_protocol(p).map_err(|e| format!("--{e}"))?;
        }
        if !assignors.is_empty() && g.group_protocol == kafka_tokio::GroupProtocol::Consumer {
            return Err(
                "--assignor names client-side assignors, which the consumer group protocol does not use; use -X group.remote.assignor".into(),
            );
        }
        if !assignors.is_empty() {
            settings::apply_group_assignors(g, &assignors.join(","))?;
        }
        if let Some(id) = instance_id {
            g.group_instance_id = Some(id.clone());
        }
        if *no_commit {
            g.enable_auto_commit = false;
        }
    }
    if let Command::Copy { group, .. } = &cli.command {
        let g = config
            .group
            .get_or_insert_with(|| kafka_tokio::GroupConfig::new(""));
        g.group_id = group.clone();
        // Offsets commit with the transactions, never on their own.
        g.enable_auto_commit = false;
    }
    if config.group.as_ref().is_some_and(|g| g.group_id.is_empty()) {
        return Err("group settings (-X) need a group: -G GROUP or -X group.id=GROUP".into());
    }
    if cli.tls || cli.ca.is_some() {
        let mut tls = kafka_tokio::TlsConfig::new();
        if let Some(path) = &cli.ca {
            let pem = std::fs::read(path).map_err(|e| format!("--ca {}: {e}", path.display()))?;
            tls = tls.with_ca_pem(pem);
        }
        config.tls = Some(tls);
    }
    match (&cli.sasl_mechanism, &cli.sasl_username, &cli.sasl_password) {
        (None, None, None) => {}
        (Some(m), Some(user), Some(pass)) => {
            config.sasl = Some(match m.as_str() {
                "PLAIN" => kafka_tokio::SaslConfig::plain(user, pass),
                "SCRAM-SHA-256" => kafka_tokio::SaslConfig::scram_sha256(user, pass),
                _ => kafka_tokio::SaslConfig::scram_sha512(user, pass),
            });
        }
        _ => {
            return Err(
                "SASL needs --sasl-mechanism, --sasl-username and --sasl-password together".into(),
            )
        }
    }
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

/// Prints `json()` as one JSON line, or `text()` as it is (tables end
/// in a newline).
fn show<J: std::fmt::Display, T: std::fmt::Display>(
    json: bool,
    as_json: impl FnOnce() -> J,
    as_text: impl FnOnce() -> T,
) {
    if json {
        println!("{}", as_json());
    } else {
        print!("{}", as_text());
    }
}

/// Grows `topic` to `total` partitions and waits until metadata shows
/// them; `flag` names the argument in errors. With `json`, prints
/// `[{"topic", "partitions", "validate_only", "error", "message"}]`.
async fn grow(
    client: &Client,
    topic: &str,
    total: i32,
    flag: &str,
    validate_only: bool,
    json: bool,
) -> Result<(), String> {
    if total < 1 {
        return Err(format!("{flag} {total}: must be at least 1"));
    }
    let done = admin::add_partitions(client, topic, total, validate_only).await;
    if done.is_ok() && !validate_only {
        wait_for_topic(client, topic, total).await?;
    }
    outcome::report(
        json,
        serde_json::json!({
            "topic": topic,
            "partitions": total,
            "validate_only": validate_only,
        }),
        done,
    )?;
    if validate_only {
        eprintln!("valid: {topic} can grow to {total} partitions");
    } else {
        eprintln!("{topic} has {total} partitions");
    }
    Ok(())
}

async fn connect(cli: &Cli) -> Result<Client, String> {
    let config = config(cli)?;
    Client::connect(config)
        .await
        .map_err(|e| format!("cannot reach {}: {e}", cli.bootstrap))
}

async fn run(cli: Cli) -> Result<(), String> {
    match &cli.command {
        Command::Metadata { topic, json } => {
            let client = connect(&cli).await?;
            let md = match topic {
                Some(t) => {
                    let md = client
                        .metadata([t.as_str()])
                        .await
                        .map_err(crate::error_line)?;
                    if let Some(tm) = md.topic(t) {
                        if tm.error.is_error() {
                            return Err(format!("topic {t}: {}", tm.error));
                        }
                    }
                    md
                }
                None => client.metadata_all().await.map_err(crate::error_line)?,
            };
            show(*json, || metadata::to_json(&md), || metadata::to_text(&md));
            client.close().await;
        }
        Command::Topic { op } => {
            let client = connect(&cli).await?;
            match op {
                TopicOp::List { json } => {
                    let md = client.metadata_all().await.map_err(crate::error_line)?;
                    if *json {
                        let names: Vec<&str> = md.topics().map(|(n, _)| n).collect();
                        println!("{}", serde_json::json!(names));
                    } else {
                        for (name, _) in md.topics() {
                            println!("{name}");
                        }
                    }
                }
                TopicOp::Describe {
                    name,
                    authorized_operations,
                    json,
                } => {
                    let md = client
                        .describe_topics([name.as_str()], *authorized_operations || *json)
                        .await
                        .map_err(crate::error_line)?;
                    let t = md
                        .topic(name)
                        .ok_or_else(|| format!("{name}: UNKNOWN_TOPIC_OR_PARTITION"))?;
                    if t.error.is_error() {
                        return Err(format!("{name}: {}", t.error.name()));
                    }
                    show(
                        *json,
                        || metadata::topic_json(name, t),
                        || metadata::topic_text(name, t, *authorized_operations),
                    );
                }
                TopicOp::Create {
                    name,
                    partitions,
                    replication_factor,
                    replica_assignment,
                    configs,
                    validate_only,
                    json,
                } => {
                    let mut topic = match replica_assignment {
                        Some(a) => {
                            if partitions.is_some() || replication_factor.is_some() {
                                return Err("--replica-assignment: not with --partitions or --replication-factor".into());
                            }
                            NewTopic::assigned(name.clone(), metadata::parse_assignment(a)?)
                        }
                        None => NewTopic::new(
                            name.clone(),
                            partitions.unwrap_or(1),
                            replication_factor.unwrap_or(-1),
                        ),
                    };
                    for c in configs {
                        let (k, v) = c
                            .split_once('=')
                            .ok_or_else(|| format!("--config {c}: expected KEY=VALUE"))?;
                        topic = topic.with_config(k, v);
                    }
                    let expected = topic
                        .assignment
                        .as_ref()
                        .map_or(topic.partitions, |a| a.len() as i32);
                    let done = client
                        .create_topics_validate([topic], *validate_only)
                        .await
                        .map_err(|e| format!("cannot create {name}: {e}"))?;
                    let o = done
                        .first()
                        .ok_or_else(|| format!("cannot create {name}: no answer for it"))?;
                    let item = || metadata::create_json(o, *validate_only);
                    if o.error.is_error() {
                        if *json {
                            outcome::print_items([outcome::with_error(
                                item(),
                                o.error,
                                &o.message,
                            )]);
                        }
                        return Err(metadata::outcome_error("create", o));
                    }
                    if !*validate_only {
                        // The broker's count, where it says (a default).
                        let expected = o.partitions.unwrap_or(expected);
                        wait_for_topic(&client, name, expected).await?;
                    }
                    if *json {
                        outcome::print_items([outcome::with_error(item(), o.error, &None)]);
                    } else if *validate_only {
                        eprintln!("valid: {}", metadata::create_text(o));
                    } else {
                        eprintln!("created topic {}", metadata::create_text(o));
                    }
                }
                TopicOp::Delete { name, id, json } => match (name, id) {
                    (_, Some(id)) => {
                        let uuid: kafka_tokio::Uuid = id
                            .parse()
                            .map_err(|_| format!("--id {id}: not a topic id"))?;
                        let done = client
                            .delete_topics_by_id([uuid])
                            .await
                            .map_err(|e| format!("cannot delete topic id {id}: {e}"))?;
                        let o = done
                            .first()
                            .ok_or_else(|| format!("cannot delete topic id {id}: no answer"))?;
                        if *json {
                            let item = serde_json::json!({"id": id, "name": o.name});
                            outcome::print_items([outcome::with_error(item, o.error, &o.message)]);
                        }
                        if o.error.is_error() {
                            return Err(format!(
                                "cannot delete topic id {id}: {}{}",
                                o.error.name(),
                                o.message
                                    .as_deref()
                                    .map(|m| format!(" [{m}]"))
                                    .unwrap_or_default()
                            ));
                        }
                        if !*json {
                            let name = o.name.as_deref().unwrap_or("");
                            eprintln!("deleted topic {name} (id {id})");
                        }
                    }
                    (Some(name), None) => {
                        let done = client
                            .delete_topics([name.as_str()])
                            .await
                            .map_err(|e| format!("cannot delete {name}: {e}"))?;
                        let o = done
                            .first()
                            .ok_or_else(|| format!("cannot delete {name}: no answer for it"))?;
                        if *json {
                            let item = serde_json::json!({"name": name});
                            outcome::print_items([outcome::with_error(item, o.error, &o.message)]);
                        }
                        if o.error.is_error() {
                            return Err(metadata::outcome_error("delete", o));
                        }
                        if !*json {
                            eprintln!("deleted topic {name}");
                        }
                    }
                    (None, None) => return Err("topic delete: give a NAME or --id".into()),
                },
                TopicOp::AddPartitions {
                    name,
                    partitions,
                    validate_only,
                    json,
                } => {
                    grow(
                        &client,
                        name,
                        *partitions,
                        "--partitions",
                        *validate_only,
                        *json,
                    )
                    .await?;
                }
            }
            client.close().await;
        }
        Command::Produce {
            topic,
            partition,
            key_delimiter,
            null_empty,
            headers,
            compression,
            acks,
            idempotent,
            stats_interval,
            json,
        } => {
            if partition.is_some_and(|p| p < 0) {
                return Err(format!("-p: negative partition {}", partition.unwrap_or(0)));
            }
            let headers = headers
                .iter()
                .map(|h| {
                    h.split_once('=')
                        .map(|(k, v)| (k.to_string(), bytes::Bytes::from(v.to_string())))
                        .ok_or_else(|| format!("-H {h}: expected KEY=VALUE"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut config = config(&cli)?;
            config.producer.compression = match compression.as_str() {
                "gzip" => Compression::Gzip,
                "snappy" => Compression::Snappy,
                "lz4" => Compression::Lz4,
                "zstd" => Compression::Zstd,
                _ => Compression::None,
            };
            config.producer.acks = match acks.as_str() {
                "0" => Acks::None,
                "1" => Acks::Leader,
                _ => Acks::All,
            };
            if *idempotent && config.producer.acks != Acks::All {
                return Err("--idempotent needs --acks all".into());
            }
            config.producer.enable_idempotence = *idempotent;
            let stats_wanted = stats::configure(&mut config, *stats_interval)?;
            let client = Client::connect(config)
                .await
                .map_err(|e| format!("cannot reach {}: {e}", cli.bootstrap))?;
            let printer = stats::print(&client, stats_wanted)?;
            check_topic(&client, topic).await?;
            let summary = produce::run(
                &client,
                produce::Options {
                    topic: topic.clone(),
                    partition: *partition,
                    key_delimiter: key_delimiter.clone(),
                    headers,
                    null_empty: *null_empty,
                },
            )
            .await?;
            if *json {
                println!("{}", summary.to_json());
            }
            client.close().await;
            stats::finish(&client, printer).await;
            if let Some(e) = summary.error {
                return Err(e.message);
            }
            eprintln!("produced {} records to {topic}", summary.records);
        }
        Command::Consume {
            topic,
            partition,
            offset,
            count,
            exit_at_end,
            format,
            json,
            group,
            no_commit,
            isolation,
            regex,
            stats_interval,
            ..
        } => {
            let start = consume::Start::parse(offset)?;
            if partition.is_some_and(|p| p < 0) {
                return Err(format!("-p: negative partition {}", partition.unwrap_or(0)));
            }
            let mut config = config(&cli)?;
            if group.is_some() {
                if partition.is_some() {
                    return Err("-G and -p exclude each other: the group assigns partitions".into());
                }
                config.consumer.auto_offset_reset =
                    match start {
                        consume::Start::Beginning => kafka_tokio::AutoOffsetReset::Earliest,
                        consume::Start::End => kafka_tokio::AutoOffsetReset::Latest,
                        _ => return Err(
                            "-G starts at the committed offsets: -o may only be beginning or end"
                                .into(),
                        ),
                    };
            }
            if let Some(level) = isolation {
                config.consumer.isolation_level =
                    settings::isolation(level).map_err(|e| format!("--{e}"))?;
            }
            let stats_wanted = stats::configure(&mut config, *stats_interval)?;
            let client = Client::connect(config)
                .await
                .map_err(|e| format!("cannot reach {}: {e}", cli.bootstrap))?;
            let printer = stats::print(&client, stats_wanted)?;
            let n = consume::run(
                &client,
                consume::Options {
                    topic: topic.clone(),
                    partition: *partition,
                    start,
                    count: *count,
                    exit_at_end: *exit_at_end,
                    json: *json || format == "json",
                    group: group.is_some(),
                    regex: *regex,
                    commit: !*no_commit,
                },
            )
            .await?;
            eprintln!("consumed {n} records from {topic}");
            client.close().await;
            stats::finish(&client, printer).await;
        }
        Command::Copy {
            from,
            to,
            group,
            transactional_id,
            batch,
            commit_interval_ms,
            count,
            exit_at_end,
            json,
        } => {
            let mut config = config(&cli)?;
            config.consumer.isolation_level = kafka_tokio::IsolationLevel::ReadCommitted;
            config.consumer.auto_offset_reset = kafka_tokio::AutoOffsetReset::Earliest;
            config.producer.transactional_id = Some(
                transactional_id
                    .clone()
                    .unwrap_or_else(|| format!("kfk-copy-{group}")),
            );
            config.producer.enable_idempotence = true;
            config.producer.acks = Acks::All;
            config.validate().map_err(|e| e.to_string())?;
            let client = Client::connect(config)
                .await
                .map_err(|e| format!("cannot reach {}: {e}", cli.bootstrap))?;
            let n = copy::run(
                &client,
                copy::Options {
                    from: from.clone(),
                    to: to.clone(),
                    batch: *batch as usize,
                    linger: Duration::from_millis(*commit_interval_ms),
                    count: *count,
                    exit_at_end: *exit_at_end,
                    group: group.clone(),
                },
            )
            .await?;
            if *json {
                println!(
                    "{}",
                    serde_json::json!({"from": from, "to": to, "group": group, "records": n})
                );
            }
            eprintln!("copied {n} records from {from} to {to}");
            client.close().await;
        }
        Command::Group { op } => {
            let client = connect(&cli).await?;
            match op {
                GroupOp::List {
                    states,
                    types,
                    json,
                } => group::list(&client, states, types, *json).await?,
                GroupOp::Describe {
                    group: id,
                    share: true,
                    json,
                } => {
                    let described = group::describe_share(&client, id).await?;
                    show(
                        *json,
                        || group::to_json(&described),
                        || group::to_text(&described),
                    );
                }
                GroupOp::DeleteOffsets {
                    group: id,
                    partitions,
                    json,
                } => {
                    let tps = partitions::resolve(&client, partitions).await?;
                    let deleted = client
                        .delete_group_offsets(id, tps)
                        .await
                        .map_err(crate::error_line)?;
                    let outcomes: Vec<kafka_tokio::PartitionOutcome> = deleted
                        .iter()
                        .map(|(tp, code)| group::outcome(tp.clone(), *code))
                        .collect();
                    show(
                        *json,
                        || partitions::outcomes_json(&outcomes),
                        || partitions::outcomes_text(&outcomes),
                    );
                    if let Some(o) = outcomes.iter().find(|o| o.error.is_error()) {
                        return Err(partitions::failure(&o.partition, o.error, &o.message));
                    }
                }
                GroupOp::Describe {
                    group: id, json, ..
                } => {
                    let described = group::describe(&client, id).await?;
                    show(
                        *json,
                        || group::to_json(&described),
                        || group::to_text(&described),
                    );
                }
                GroupOp::Delete { group: id, json } => {
                    let done = group::delete(&client, id).await;
                    outcome::report(*json, serde_json::json!({ "group": id }), done)?;
                    eprintln!("deleted group {id}");
                }
                GroupOp::ResetOffsets {
                    group: id,
                    topic,
                    to,
                    execute,
                    json,
                } => {
                    let to = group::ResetTo::parse(to)?;
                    let plan = group::reset_offsets(&client, id, topic, to, *execute).await?;
                    show(
                        *json,
                        || group::resets_json(id, &plan, *execute),
                        || group::resets_text(&plan, *execute),
                    );
                    if let Some(r) = plan.iter().find(|r| r.error.is_error()) {
                        return Err(partitions::failure(
                            &format!("group {id}: {}", r.partition),
                            r.error,
                            &None,
                        ));
                    }
                    if !*execute {
                        eprintln!("not set: add --execute to set these offsets");
                    }
                }
            }
            client.close().await;
        }
        Command::Config { op } => match op {
            ConfigOp::Describe {
                resource,
                synonyms,
                json,
            } => {
                let resource = admin::resource(
                    &resource.topic,
                    resource.broker,
                    &resource.group,
                    resource.broker_defaults,
                    &resource.resource,
                )?;
                let client = connect(&cli).await?;
                let configs = admin::describe(&client, resource, *synonyms).await?;
                show(
                    *json,
                    || admin::to_json(&configs),
                    || admin::to_text(&configs),
                );
                client.close().await;
            }
            ConfigOp::Alter {
                resource,
                set,
                delete,
                append,
                subtract,
                validate_only,
                json,
            } => {
                let resource = admin::resource(
                    &resource.topic,
                    resource.broker,
                    &resource.group,
                    resource.broker_defaults,
                    &resource.resource,
                )?;
                let ops = admin::changes(set, delete, append, subtract)?;
                let client = connect(&cli).await?;
                let done = admin::alter(&client, resource.clone(), ops, *validate_only).await;
                outcome::report(
                    *json,
                    serde_json::json!({
                        "resource": resource.to_string(),
                        "validate_only": validate_only,
                    }),
                    done,
                )?;
                if *validate_only {
                    eprintln!("valid: the changes to {resource} were checked, not applied");
                } else {
                    eprintln!("altered {resource}");
                }
                client.close().await;
            }
        },
        Command::DeleteRecords {
            topic,
            partition,
            before,
            json,
        }
        | Command::Records {
            op:
                RecordsOp::Delete {
                    topic,
                    partition,
                    before,
                    json,
                },
        } => {
            if *partition < 0 {
                return Err(format!("-p: negative partition {partition}"));
            }
            let before = admin::before_offset(before)?;
            let client = connect(&cli).await?;
            let done = admin::delete_records(&client, topic, *partition, before).await;
            let low = outcome::report(
                *json,
                serde_json::json!({
                    "topic": topic,
                    "partition": partition,
                    "before": before,
                    "low_watermark": done.as_ref().ok(),
                }),
                done,
            )?;
            if !*json {
                print!(
                    "{}",
                    table::render(
                        &["TOPIC", "PARTITION", "LOW-WATERMARK"],
                        &[vec![topic.clone(), partition.to_string(), low.to_string()]],
                    )
                );
            }
            eprintln!("{topic}-{partition} now starts at offset {low}");
            client.close().await;
        }
        Command::Acl { op } => match op {
            AclOp::List { acl, json } => {
                let filter = acl.filter()?;
                let client = connect(&cli).await?;
                let bindings = client
                    .describe_acls(filter)
                    .await
                    .map_err(crate::error_line)?;
                show(
                    *json,
                    || acl::to_json(&bindings),
                    || acl::to_text(&bindings),
                );
                client.close().await;
            }
            AclOp::Add { acl, json } => {
                let binding = acl.binding()?;
                let client = connect(&cli).await?;
                let done = acl::add(&client, binding.clone()).await;
                outcome::report(*json, acl::binding_json(&binding), done)?;
                eprintln!("added {binding}");
                client.close().await;
            }
            AclOp::Remove { acl, json } => {
                let filter = acl.filter()?;
                let client = connect(&cli).await?;
                let removed = acl::remove(&client, filter).await?;
                show(*json, || acl::to_json(&removed), || acl::to_text(&removed));
                eprintln!("removed {} ACLs", removed.len());
                client.close().await;
            }
        },
        Command::User { op } => match op {
            UserOp::List { users, json } => {
                let client = connect(&cli).await?;
                let listed = user::list(&client, users).await?;
                show(*json, || user::to_json(&listed), || user::to_text(&listed));
                client.close().await;
            }
            UserOp::SetScram {
                user: name,
                mechanism,
                iterations,
                password,
                json,
            } => {
                let m = user::mechanism(mechanism)?;
                let change = kafka_tokio::ScramChange::upsert(name, m, *iterations, password);
                let client = connect(&cli).await?;
                let done = user::alter(&client, change).await;
                outcome::report(
                    *json,
                    serde_json::json!({
                        "user": name,
                        "mechanism": m.name(),
                        "iterations": iterations,
                        "change": "set",
                    }),
                    done,
                )?;
                eprintln!("set {} for user {name}", m.name());
                client.close().await;
            }
            UserOp::DeleteScram {
                user: name,
                mechanism,
                json,
            } => {
                let m = user::mechanism(mechanism)?;
                let client = connect(&cli).await?;
                let done = user::alter(&client, kafka_tokio::ScramChange::delete(name, m)).await;
                outcome::report(
                    *json,
                    serde_json::json!({
                        "user": name,
                        "mechanism": m.name(),
                        "change": "delete",
                    }),
                    done,
                )?;
                eprintln!("deleted {} for user {name}", m.name());
                client.close().await;
            }
        },
        Command::Quota { op } => match op {
            QuotaOp::List { entity, json } => {
                let client = connect(&cli).await?;
                let entries = client
                    .describe_client_quotas(entity.filter())
                    .await
                    .map_err(crate::error_line)?;
                show(
                    *json,
                    || quota::to_json(&entries),
                    || quota::to_text(&entries),
                );
                client.close().await;
            }
            QuotaOp::Set {
                entity,
                set,
                remove,
                validate_only,
                json,
            } => {
                let target = entity.entity()?;
                let ops = quota::ops(set, remove)?;
                let client = connect(&cli).await?;
                let done = quota::set(&client, target.clone(), ops, *validate_only).await;
                outcome::report(
                    *json,
                    serde_json::json!({
                        "entity": target.components,
                        "validate_only": validate_only,
                    }),
                    done,
                )?;
                if *validate_only {
                    eprintln!("valid: the quotas of {target} were checked, not set");
                } else {
                    eprintln!("set the quotas of {target}");
                }
                client.close().await;
            }
        },
        Command::Cluster {
            op:
                Some(ClusterOp::Features {
                    upgrade,
                    downgrade,
                    unsafe_downgrade,
                    validate_only,
                    json,
                }),
            ..
        } => {
            let updates = admin::feature_updates(upgrade, downgrade, *unsafe_downgrade)?;
            let client = connect(&cli).await?;
            if updates.is_empty() {
                let f = client
                    .describe_features(None)
                    .await
                    .map_err(crate::error_line)?;
                show(
                    *json,
                    || admin::features_json(&f),
                    || admin::features_text(&f),
                );
            } else {
                let done = client
                    .update_features(updates, *validate_only)
                    .await
                    .map_err(crate::error_line)?;
                if *json {
                    println!("{}", admin::feature_outcomes_json(&done));
                }
                if let Some(o) = done.iter().find(|o| o.error.is_error()) {
                    return Err(partitions::failure(
                        &format!("feature {}", o.name),
                        o.error,
                        &o.message,
                    ));
                }
                for o in &done {
                    if *validate_only {
                        eprintln!("valid: the update of {} was checked, not applied", o.name);
                    } else {
                        eprintln!("updated feature {}", o.name);
                    }
                }
            }
            client.close().await;
        }
        Command::Partitions { op } => {
            let client = connect(&cli).await?;
            match op {
                PartitionsOp::Add {
                    topic,
                    total,
                    validate_only,
                    json,
                } => {
                    grow(&client, topic, *total, "--total", *validate_only, *json).await?;
                }
                PartitionsOp::Reassign {
                    topic,
                    partition,
                    replicas,
                    cancel,
                    json,
                } => {
                    if *partition < 0 {
                        return Err(format!("-p: negative partition {partition}"));
                    }
                    let tp = kafka_tokio::TopicPartition::new(topic, *partition);
                    let target = match (replicas, cancel) {
                        (Some(r), false) => Some(partitions::parse_replicas(r)?),
                        _ => None,
                    };
                    let what = target.as_ref().map(|r| table::ids(r));
                    partitions::reassign(&client, tp.clone(), target).await?;
                    if *json {
                        let done = kafka_tokio::PartitionOutcome::new(
                            tp.clone(),
                            kafka_tokio::ErrorCode::None,
                            None,
                        );
                        println!("{}", partitions::outcomes_json(&[done]));
                    }
                    match what {
                        Some(ids) => eprintln!("moving {tp} to replicas {ids}"),
                        None => eprintln!("cancelled the reassignment of {tp}"),
                    }
                }
                PartitionsOp::Reassignments { json } => {
                    let r = client
                        .list_partition_reassignments(None)
                        .await
                        .map_err(crate::error_line)?;
                    show(
                        *json,
                        || partitions::reassignments_json(&r),
                        || partitions::reassignments_text(&r),
                    );
                }
                PartitionsOp::Elect {
                    partitions: specs,
                    unclean,
                    json,
                } => {
                    let tps = partitions::resolve(&client, specs).await?;
                    let done = partitions::elect(&client, *unclean, tps).await?;
                    show(
                        *json,
                        || partitions::outcomes_json(&done),
                        || partitions::outcomes_text(&done),
                    );
                    if let Some(o) = done.iter().find(|o| partitions::elect_failed(o)) {
                        return Err(partitions::failure(&o.partition, o.error, &o.message));
                    }
                }
            }
            client.close().await;
        }
        Command::Logdirs {
            op: LogdirsOp::Describe { topics, json },
        } => {
            let client = connect(&cli).await?;
            let topics = (!topics.is_empty()).then(|| topics.clone());
            let dirs = client
                .describe_log_dirs(topics)
                .await
                .map_err(crate::error_line)?;
            show(
                *json,
                || partitions::logdirs_json(&dirs),
                || partitions::logdirs_text(&dirs),
            );
            client.close().await;
        }
        Command::Producers {
            op:
                ProducersOp::Describe {
                    topic,
                    partition,
                    json,
                },
        } => {
            let client = connect(&cli).await?;
            let spec = match partition {
                Some(p) if *p < 0 => return Err(format!("-p: negative partition {p}")),
                Some(p) => format!("{topic}:{p}"),
                None => topic.clone(),
            };
            let tps = partitions::resolve(&client, &[spec]).await?;
            let described = client
                .describe_producers(tps)
                .await
                .map_err(crate::error_line)?;
            show(
                *json,
                || txn::producers_json(&described),
                || txn::producers_text(&described),
            );
            if let Some((tp, Err(code))) = described.iter().find(|(_, r)| r.is_err()) {
                return Err(partitions::failure(tp, *code, &None));
            }
            client.close().await;
        }
        Command::Txn { op } => {
            let client = connect(&cli).await?;
            match op {
                TxnOp::List {
                    states,
                    producer_ids,
                    min_duration_ms,
                    id_pattern,
                    json,
                } => {
                    let mut filter = kafka_tokio::TransactionFilter::any();
                    if let Some(ms) = min_duration_ms {
                        filter = filter.with_min_duration_ms(*ms);
                    }
                    if let Some(p) = id_pattern {
                        filter = filter.with_id_pattern(p);
                    }
                    for s in states {
                        filter = filter.with_state(s);
                    }
                    for p in producer_ids {
                        filter = filter.with_producer_id(*p);
                    }
                    let listed = client
                        .list_transactions(filter)
                        .await
                        .map_err(crate::error_line)?;
                    for (node, code) in &listed.errors {
                        eprintln!(
                            "kfk: broker {node} could not list its transactions: {}",
                            code.name()
                        );
                    }
                    for s in &listed.unknown_states {
                        eprintln!("kfk: the brokers know no transaction state {s:?}");
                    }
                    show(
                        *json,
                        || txn::list_json(&listed),
                        || txn::list_text(&listed),
                    );
                }
                TxnOp::Describe { id, json } => {
                    let mut described = client
                        .describe_transactions([id.as_str()])
                        .await
                        .map_err(crate::error_line)?;
                    let t = described
                        .pop()
                        .ok_or_else(|| format!("transaction {id}: no answer"))?;
                    if let Some(e) = txn::describe_error(&t) {
                        return Err(e);
                    }
                    show(*json, || txn::describe_json(&t), || txn::describe_text(&t));
                }
            }
            client.close().await;
        }
        Command::Cluster {
            op: Some(ClusterOp::Describe { json }),
            ..
        }
        | Command::Cluster { json, op: None } => {
            let client = connect(&cli).await?;
            let c = admin::cluster(&client).await?;
            show(
                *json,
                || admin::cluster_json(&c),
                || admin::cluster_text(&c),
            );
            client.close().await;
        }
        Command::Offsets {
            topic,
            spec: Some(spec),
            json,
        } => {
            let spec = admin::offset_spec(spec)?;
            let client = connect(&cli).await?;
            check_topic(&client, topic).await?;
            let tps = partitions::resolve(&client, std::slice::from_ref(topic)).await?;
            let found = client.offsets(tps, spec).await.map_err(crate::error_line)?;
            show(
                *json,
                || admin::offsets_json(&found),
                || admin::offsets_text(&found),
            );
            client.close().await;
        }
        Command::Offsets { topic, json, .. } => {
            let client = connect(&cli).await?;
            check_topic(&client, topic).await?;
            let md = client
                .metadata([topic.as_str()])
                .await
                .map_err(crate::error_line)?;
            let tps: Vec<kafka_tokio::TopicPartition> = md
                .topic(topic)
                .map(|t| {
                    t.partitions
                        .iter()
                        .map(|p| kafka_tokio::TopicPartition::new(topic, p.partition))
                        .collect()
                })
                .unwrap_or_default();
            let earliest = client
                .offsets(tps.clone(), kafka_tokio::OffsetSpec::Earliest)
                .await
                .map_err(crate::error_line)?;
            let latest = client
                .offsets(tps.clone(), kafka_tokio::OffsetSpec::Latest)
                .await
                .map_err(crate::error_line)?;
            let show = |o: Option<&Result<kafka_tokio::ListedOffset, _>>| match o {
                Some(Ok(l)) => l.offset.map_or("-".to_string(), |o| o.to_string()),
                Some(Err(e)) => format!("error: {e}"),
                None => "-".to_string(),
            };
            if *json {
                let rows: Vec<serde_json::Value> = tps
                    .iter()
                    .map(|tp| {
                        let at = |o: Option<&Result<kafka_tokio::ListedOffset, _>>| match o {
                            Some(Ok(l)) => serde_json::json!(l.offset),
                            _ => serde_json::Value::Null,
                        };
                        serde_json::json!({
                            "partition": tp.partition,
                            "earliest": at(earliest.get(tp)),
                            "latest": at(latest.get(tp)),
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                let rows: Vec<Vec<String>> = tps
                    .iter()
                    .map(|tp| {
                        vec![
                            tp.partition.to_string(),
                            show(earliest.get(tp)),
                            show(latest.get(tp)),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table::render(&["PARTITION", "EARLIEST", "LATEST"], &rows)
                );
            }
            client.close().await;
        }
        Command::Demo { messages, json } => demo::run(*messages, *json).await?,
        Command::Mock {
            brokers,
            port,
            json,
        } => {
            let mock = kafka_mock::MockCluster::builder()
                .brokers(*brokers)
                .port(*port)
                .build()
                .map_err(|e| format!("cannot start the mock cluster: {e}"))?;
            show(
                *json,
                || serde_json::json!({ "bootstrap": mock.bootstrap() }),
                || format!("bootstrap: {}\n", mock.bootstrap()),
            );
            tokio::signal::ctrl_c()
                .await
                .map_err(|e| format!("waiting for Ctrl-C: {e}"))?;
        }
    }
    Ok(())
}

/// Fails with one line unless `topic` exists.
/// Waits until Metadata lists a topic just created with all its
/// partitions. Kafka creates topics asynchronously: the controller has
/// the topic when CreateTopics answers, but the brokers learn it a moment
/// later, and a `kfk produce` run straight after `kfk topic create` would
/// otherwise be told the topic does not exist.
async fn wait_for_topic(client: &Client, topic: &str, partitions: i32) -> Result<(), String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let md = client
            .metadata([topic])
            .await
            .map_err(|e| format!("metadata for {topic}: {e}"))?;
        let listed = md.topic(topic).is_some_and(|t| {
            !t.error.is_error() && (partitions < 1 || t.partitions.len() == partitions as usize)
        });
        if listed {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!(
                "created {topic}, but the cluster's metadata does not list it yet"
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Metadata of `topics`, asked again for a few seconds while a broker
/// does not know one of them yet: Kafka creates a topic on the controller
/// and the brokers learn it a moment later, so a topic another process
/// just created may be unknown to the broker this one asks (as the Java
/// producer waits for a topic's metadata before it gives up).
pub(crate) async fn settled_metadata(
    client: &Client,
    topics: &[&str],
) -> Result<kafka_tokio::ClusterMetadata, String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let md = client
            .metadata(topics.iter().copied())
            .await
            .map_err(|e| format!("metadata for {}: {e}", topics.join(",")))?;
        let unsettled = topics.iter().any(|t| {
            md.topic(t).is_none_or(|m| {
                matches!(
                    m.error,
                    kafka_tokio::ErrorCode::UnknownTopicOrPartition
                        | kafka_tokio::ErrorCode::LeaderNotAvailable
                )
            })
        });
        if !unsettled || std::time::Instant::now() > deadline {
            return Ok(md);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn check_topic(client: &Client, topic: &str) -> Result<(), String> {
    let md = settled_metadata(client, &[topic]).await?;
    match md.topic(topic) {
        Some(t) if !t.error.is_error() => Ok(()),
        Some(t) => Err(format!("topic {topic}: {}", t.error)),
        None => Err(format!("topic {topic}: not in the cluster's metadata")),
    }
}
