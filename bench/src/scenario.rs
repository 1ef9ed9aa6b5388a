//! What is measured: the scenarios and their sizes.

use bytes::Bytes;
use kafka_blocking::{Acks, Compression};

/// The clients compared in every scenario, in the order they take turns.
pub const CLIENTS: [&str; 3] = ["kafka-tokio", "kafka-blocking", "rdkafka"];

/// kafka-tokio on a current-thread runtime: measured too, shown in its own
/// column, since the driver hand-off costs differ so much between runtimes.
pub const TOKIO_CT: &str = "kafka-tokio-ct";

/// Our adapters consuming through the lending API (`Consumer::lend`:
/// records borrowed in place, nothing counted per record) instead of
/// owned records; consume scenarios only.
pub const TOKIO_LEND: &str = "kafka-tokio-lend";
pub const BLOCKING_LEND: &str = "kafka-blocking-lend";

/// Our adapters producing through `Producer::send_many` (records handed
/// over in runs of 1,000, one report slot per run) instead of one `send`
/// per record; non-transactional produce scenarios only.
pub const TOKIO_MANY: &str = "kafka-tokio-many";
pub const BLOCKING_MANY: &str = "kafka-blocking-many";

/// The raw request/response floor of the round-trip scenario.
pub const RAW: &str = "raw-tcp";

/// franz-go (Go, `kgo`): the program in `bench/franz/`, run when
/// `KAFKA_BENCH_FRANZ` names its binary.
pub const FRANZ: &str = "franz-go";

/// The Apache Kafka Java client: `bench/java/JavaBench.java`, run when
/// `KAFKA_BENCH_JAVA_CP` holds its class path.
pub const JAVA: &str = "java";

/// Our adapters, each compared with the peers.
pub const OURS: [&str; 7] = [
    CLIENTS[0],
    TOKIO_CT,
    CLIENTS[1],
    TOKIO_LEND,
    BLOCKING_LEND,
    TOKIO_MANY,
    BLOCKING_MANY,
];

/// The other clients: librdkafka (in this binary) and the programs of
/// other languages, run as commands of their own.
pub const PEERS: [&str; 3] = [CLIENTS[2], FRANZ, JAVA];

/// How the rebalance scenario's group rebalances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupProtocol {
    /// The classic protocol with the cooperative-sticky assignor (KIP-429).
    CooperativeSticky,
    /// KIP-848's consumer protocol, the broker's `uniform` assignor.
    Consumer,
}

/// One benchmark.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub kind: Kind,
    /// Records produced or consumed; requests for round trip and metadata.
    pub records: u64,
    pub value_size: usize,
    /// Records keyed `key-0` .. `key-{keys-1}` in turn (the default
    /// partitioner hashes them over the partitions); 0: no keys.
    pub keys: u64,
    /// Set by `--kafka RF`: on a three-node Apache Kafka cluster, topics
    /// at this replication factor.
    pub kafka_rf: Option<i16>,
}

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Produce as fast as the client takes records, linger 5 ms.
    Produce {
        partitions: i32,
        acks: Acks,
        compression: Compression,
        /// Transactional: `Some(n)` sends transactions of `n` records
        /// (begin, send them, commit, which waits for their acks).
        transaction: Option<u64>,
    },
    /// Read a preloaded topic from the beginning: by manual assignment, or
    /// (`group`) as the only member of a fresh consumer group.
    Consume { partitions: i32, group: bool },
    /// `members` consumers of one group share a topic of `partitions`
    /// partitions that is fed all along; one more member joins. Measured:
    /// the time from its subscribe until every member consumes again.
    /// Runs on Apache Kafka (one node), not Tansu.
    Rebalance {
        members: usize,
        partitions: i32,
        protocol: GroupProtocol,
    },
    /// Send one record, wait for its ack, repeat (linger 0, acks=1).
    RoundTrip,
    /// Metadata requests for one topic, one after the other.
    Metadata { partitions: i32 },
}

impl Scenario {
    pub fn partitions(&self) -> i32 {
        match self.kind {
            Kind::Produce { partitions, .. }
            | Kind::Consume { partitions, .. }
            | Kind::Rebalance { partitions, .. }
            | Kind::Metadata { partitions } => partitions,
            Kind::RoundTrip => 1,
        }
    }

    /// Clients measured besides [`CLIENTS`].
    pub fn extra_clients(&self) -> &'static [&'static str] {
        match self.kind {
            Kind::RoundTrip => &[TOKIO_CT, RAW],
            // Nine clients in one process: the runtime flavour is not
            // what is measured.
            Kind::Rebalance { .. } => &[],
            Kind::Consume { .. } => &[TOKIO_CT, TOKIO_LEND, BLOCKING_LEND],
            // Transactional too: a transaction's records in one call.
            Kind::Produce { .. } => &[TOKIO_CT, TOKIO_MANY, BLOCKING_MANY],
            _ => &[TOKIO_CT],
        }
    }

    /// Runs on Apache Kafka (one node) rather than Tansu: the rebalance
    /// scenarios, whose group coordinator is what they measure, and the
    /// transactional one, which needs a transaction coordinator and a
    /// last stable offset that read_committed can trust.
    pub fn on_kafka(&self) -> bool {
        self.kafka_rf.is_some()
            || matches!(
                self.kind,
                Kind::Rebalance { .. }
                    | Kind::Produce {
                        transaction: Some(_),
                        ..
                    }
            )
    }

    /// The replication factor of the scenario's topics.
    pub fn replication_factor(&self) -> i16 {
        self.kafka_rf.unwrap_or(1)
    }

    /// Records per transaction of a transactional produce scenario.
    pub fn transaction(&self) -> Option<u64> {
        match self.kind {
            Kind::Produce { transaction, .. } => transaction,
            _ => None,
        }
    }

    /// Whether `peer` (one of [`PEERS`]) runs this scenario: the rebalance
    /// ones are ours and librdkafka's only (nine members in one process),
    /// and the Java client has no call that sends a Metadata request on
    /// demand (its `partitionsFor` answers from a cache). Nor does the
    /// Java client run acks=0 on Tansu: Tansu 0.6 answers acks=0 Produce
    /// requests, which the protocol says get no answer, and the Java
    /// client's I/O thread fails on each such answer ("There are no
    /// in-flight requests"), so its batches expire unsent; on Apache
    /// Kafka it does.
    pub fn peer_supports(&self, peer: &str) -> bool {
        match self.kind {
            Kind::Rebalance { .. } => peer == CLIENTS[2],
            Kind::Metadata { .. } => peer != JAVA,
            Kind::Produce {
                acks: Acks::None, ..
            } => peer != JAVA || self.on_kafka(),
            _ => true,
        }
    }

    /// The scenario as `key=value` pairs, for the peers of other
    /// languages, which know no scenario names.
    pub fn peer_spec(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("records", self.records.to_string()),
            ("value-size", self.value_size.to_string()),
            ("partitions", self.partitions().to_string()),
            ("keys", self.keys.to_string()),
        ];
        match self.kind {
            Kind::Produce {
                acks,
                compression,
                transaction,
                ..
            } => {
                v.push(("mode", "produce".into()));
                v.push((
                    "acks",
                    match acks {
                        Acks::None => "0",
                        Acks::Leader => "1",
                        _ => "all",
                    }
                    .into(),
                ));
                v.push((
                    "compression",
                    match compression {
                        Compression::Lz4 => "lz4",
                        Compression::Zstd => "zstd",
                        Compression::Gzip => "gzip",
                        Compression::Snappy => "snappy",
                        _ => "none",
                    }
                    .into(),
                ));
                v.push(("txn", transaction.unwrap_or(0).to_string()));
            }
            Kind::Consume { group, .. } => {
                v.push(("mode", "consume".into()));
                v.push(("group", group.to_string()));
            }
            Kind::RoundTrip => v.push(("mode", "roundtrip".into())),
            Kind::Metadata { .. } => v.push(("mode", "metadata".into())),
            Kind::Rebalance { .. } => v.push(("mode", "rebalance".into())),
        }
        v
    }

    pub fn find(name: &str, quick: bool) -> Option<Self> {
        all(quick).into_iter().find(|s| s.name == name)
    }
}

/// Every scenario; `quick` shrinks the counts so the whole run takes a
/// few minutes.
pub fn all(quick: bool) -> Vec<Scenario> {
    let n = |full: u64, quick_n: u64| if quick { quick_n } else { full };
    let produce = |name, partitions, acks, compression, records, value_size| Scenario {
        name,
        kind: Kind::Produce {
            partitions,
            acks,
            compression,
            transaction: None,
        },
        records,
        value_size,
        keys: 0,
        kafka_rf: None,
    };
    // Transactions of 1,000 records; transactions need idempotence, and
    // so acks=all, in every client.
    let txn = |name, partitions| Scenario {
        name,
        kind: Kind::Produce {
            partitions,
            acks: Acks::All,
            compression: Compression::None,
            transaction: Some(1_000),
        },
        records: n(1_000_000, 50_000),
        value_size: 100,
        keys: 0,
        kafka_rf: None,
    };
    use Acks::{All, Leader, None as NoAck};
    use Compression::{Lz4, None as Plain, Zstd};
    vec![
        produce("produce-1p", 1, Leader, Plain, n(1_000_000, 50_000), 100),
        produce("produce-8p", 8, Leader, Plain, n(1_000_000, 50_000), 100),
        produce("produce-acks-all", 1, All, Plain, n(1_000_000, 50_000), 100),
        produce("produce-acks-0", 1, NoAck, Plain, n(1_000_000, 50_000), 100),
        produce("produce-lz4", 1, Leader, Lz4, n(1_000_000, 50_000), 100),
        produce("produce-zstd", 1, Leader, Zstd, n(1_000_000, 50_000), 100),
        // Tansu holds everything in memory: fewer records for big values.
        produce("produce-1kb", 1, Leader, Plain, n(200_000, 20_000), 1_000),
        produce("produce-10kb", 1, Leader, Plain, n(20_000, 5_000), 10_000),
        // Keyed records spread over many partitions: a batch per partition
        // and linger, and a request carrying hundreds of them.
        Scenario {
            keys: 10_007,
            ..produce(
                "produce-keyed-1000p",
                1_000,
                Leader,
                Plain,
                n(1_000_000, 50_000),
                100,
            )
        },
        txn("produce-txn", 1),
        txn("produce-txn-8p", 8),
        Scenario {
            name: "consume-1p",
            kind: Kind::Consume {
                partitions: 1,
                group: false,
            },
            records: n(1_000_000, 50_000),
            value_size: 100,
            keys: 0,
            kafka_rf: None,
        },
        // Eight million records: read at 3-5M/s, a million took a quarter
        // of a second, too short to tell a group member from manual
        // assignment to within 5 %.
        Scenario {
            name: "consume-8p",
            kind: Kind::Consume {
                partitions: 8,
                group: false,
            },
            records: n(8_000_000, 50_000),
            value_size: 100,
            keys: 0,
            kafka_rf: None,
        },
        Scenario {
            name: "consume-group-8p",
            kind: Kind::Consume {
                partitions: 8,
                group: true,
            },
            records: n(8_000_000, 50_000),
            value_size: 100,
            keys: 0,
            kafka_rf: None,
        },
        Scenario {
            name: "roundtrip",
            kind: Kind::RoundTrip,
            records: n(10_000, 2_000),
            value_size: 100,
            keys: 0,
            kafka_rf: None,
        },
        Scenario {
            name: "rebalance-coop",
            kind: Kind::Rebalance {
                members: 8,
                partitions: 64,
                protocol: GroupProtocol::CooperativeSticky,
            },
            records: 1,
            value_size: 100,
            keys: 0,
            kafka_rf: None,
        },
        Scenario {
            name: "rebalance-kip848",
            kind: Kind::Rebalance {
                members: 8,
                partitions: 64,
                protocol: GroupProtocol::Consumer,
            },
            records: 1,
            value_size: 100,
            keys: 0,
            kafka_rf: None,
        },
        Scenario {
            name: "metadata",
            kind: Kind::Metadata { partitions: 1 },
            records: n(20_000, 3_000),
            value_size: 0,
            keys: 0,
            kafka_rf: None,
        },
    ]
}

/// Distinct values cycled through by every client: random letters from a
/// 16-symbol alphabet, so codecs find about as much to squeeze as in text
/// and identical neighbours don't flatter them.
/// The keys of a keyed scenario, `key-0` .. `key-{n-1}`; none for 0.
pub fn keys(n: u64) -> Vec<Bytes> {
    (0..n).map(|k| Bytes::from(format!("key-{k}"))).collect()
}

/// The key of record `i`, if the scenario keys its records.
pub fn key_of(keys: &[Bytes], i: u64) -> Option<&Bytes> {
    if keys.is_empty() {
        None
    } else {
        keys.get((i % keys.len() as u64) as usize)
    }
}

pub fn values(size: usize) -> Vec<Bytes> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let count = (8 << 20) / size.max(1);
    (0..count.clamp(16, 1024))
        .map(|_| {
            (0..size)
                .map(|_| b"abcdefghijklmnop"[(next() % 16) as usize])
                .collect::<Vec<u8>>()
                .into()
        })
        .collect()
}
