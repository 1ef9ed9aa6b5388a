//! Where replicas live: partition reassignments (list, start, cancel),
//! leader elections, and the log directories each broker keeps.

use kafka_proto::ErrorCode;

use crate::TopicPartition;

/// A reassignment in progress, as the controller lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionReassignment {
    /// Every replica the partition has now (old and new).
    pub replicas: Vec<i32>,
    /// Replicas being added.
    pub adding: Vec<i32>,
    /// Replicas being removed.
    pub removing: Vec<i32>,
}

/// The outcome of a command for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionOutcome {
    /// The partition.
    pub partition: TopicPartition,
    /// [`ErrorCode::None`] on success.
    pub error: ErrorCode,
    /// The broker's explanation, if it gave one.
    pub message: Option<String>,
}

impl PartitionOutcome {
    /// An outcome, for callers that turn other answers into this form.
    pub fn new(partition: TopicPartition, error: ErrorCode, message: Option<String>) -> Self {
        Self {
            partition,
            error,
            message,
        }
    }
}

/// Which replica an election makes leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ElectionType {
    /// The preferred replica (the first of the assignment), if in sync.
    Preferred,
    /// Any live replica, even one out of sync (records may be lost); only
    /// for partitions without a leader.
    Unclean,
}

impl ElectionType {
    pub(crate) fn code(self) -> i8 {
        match self {
            Self::Preferred => 0,
            Self::Unclean => 1,
        }
    }
}

/// One partition's replica in a log directory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplicaLog {
    /// The partition.
    pub partition: TopicPartition,
    /// Its size on disk, in bytes.
    pub size: i64,
    /// How far it is behind the high watermark (or the current replica,
    /// for a future one).
    pub offset_lag: i64,
    /// Whether it is the future replica of a move between directories.
    pub is_future: bool,
}

/// One log directory of a broker.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogDirDescription {
    /// Its path on the broker.
    pub path: String,
    /// [`ErrorCode::None`], or why it is unusable (`KAFKA_STORAGE_ERROR`).
    pub error: ErrorCode,
    /// The volume's size in bytes, if the broker reports it.
    pub total_bytes: Option<i64>,
    /// The volume's free bytes, if the broker reports it.
    pub usable_bytes: Option<i64>,
    /// The replicas in it, by partition.
    pub replicas: Vec<ReplicaLog>,
}

/// A broker's log directories, or why it could not describe them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokerLogDirs {
    /// The broker's node id.
    pub node: i32,
    /// [`ErrorCode::None`], or the broker's error.
    pub error: ErrorCode,
    /// Its directories, by path.
    pub dirs: Vec<LogDirDescription>,
}

/// Why a reassignment target cannot be sent, if it cannot.
pub(crate) fn replicas_problem(replicas: &[i32]) -> Option<&'static str> {
    if replicas.is_empty() {
        return Some("the replica list is empty");
    }
    if replicas.iter().any(|&b| b < 0) {
        return Some("a broker id is negative");
    }
    let mut seen = std::collections::BTreeSet::new();
    if !replicas.iter().all(|b| seen.insert(b)) {
        return Some("a broker is listed twice");
    }
    None
}

/// A broker's answer as log directories, sorted by path and partition.
pub(crate) fn log_dirs(
    r: kafka_proto::messages::DescribeLogDirsResponse,
) -> Vec<LogDirDescription> {
    let known = |v: i64| (v >= 0).then_some(v);
    let mut dirs: Vec<LogDirDescription> = r
        .results
        .into_iter()
        .map(|d| {
            let mut replicas: Vec<ReplicaLog> = d
                .topics
                .into_iter()
                .flat_map(|t| {
                    t.partitions.into_iter().map(move |p| ReplicaLog {
                        partition: TopicPartition::new(t.name.clone(), p.partition_index),
                        size: p.partition_size,
                        offset_lag: p.offset_lag,
                        is_future: p.is_future_key,
                    })
                })
                .collect();
            replicas.sort_by(|a, b| a.partition.cmp(&b.partition));
            LogDirDescription {
                path: d.log_dir,
                error: ErrorCode::from_code(d.error_code),
                total_bytes: known(d.total_bytes),
                usable_bytes: known(d.usable_bytes),
                replicas,
            }
        })
        .collect();
    dirs.sort_by(|a, b| a.path.cmp(&b.path));
    dirs
}
