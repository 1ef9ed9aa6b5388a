//! Metadata as text (kcat's `-L` layout) or JSON.

use std::fmt::Write as _;

use kafka_state::{ClusterMetadata, PartitionMetadata, TopicMetadata, TopicOutcome};
use serde_json::{json, Value};

/// kcat-like text.
pub fn to_text(md: &ClusterMetadata) -> String {
    let mut out = String::new();
    let brokers: Vec<_> = md.brokers().collect();
    let _ = writeln!(
        out,
        "Metadata (cluster {}):",
        md.cluster_id().unwrap_or("unknown")
    );
    let _ = writeln!(out, " {} brokers:", brokers.len());
    for (id, addr) in &brokers {
        let controller = if md.controller() == Some(*id) {
            " (controller)"
        } else {
            ""
        };
        let _ = writeln!(out, "  broker {id} at {addr}{controller}");
    }
    let topics: Vec<_> = md.topics().collect();
    let _ = writeln!(out, " {} topics:", topics.len());
    for (name, t) in topics {
        let error = if t.error.is_error() {
            format!(": {}", t.error.name())
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  topic \"{name}\" with {} partitions{error}:",
            t.partitions.len()
        );
        for p in &t.partitions {
            let list = |v: &[i32]| v.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
            let leader = p.leader.map_or("none".to_string(), |l| l.to_string());
            let _ = write!(
                out,
                "    partition {}, leader {leader}, replicas: {}, isrs: {}",
                p.partition,
                list(&p.replicas),
                list(&p.isr)
            );
            if p.error.is_error() {
                let _ = write!(out, ", error {}", p.error.name());
            }
            out.push('\n');
        }
    }
    out
}

/// One topic of `md`: its partitions in aligned columns, and with
/// `operations` what this client may do to it.
pub fn topic_text(name: &str, t: &TopicMetadata, operations: bool) -> String {
    let list = |v: &[i32]| crate::table::ids(v);
    let rows: Vec<Vec<String>> = t
        .partitions
        .iter()
        .map(|p| {
            vec![
                p.partition.to_string(),
                p.leader.map_or("-".to_string(), |l| l.to_string()),
                p.leader_epoch.to_string(),
                list(&p.replicas),
                list(&p.isr),
                list(&p.offline_replicas),
                if p.error.is_error() {
                    p.error.name().to_string()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    let mut out = format!(
        "topic {name} (id {}), {} partitions\n",
        t.id,
        t.partitions.len()
    );
    if operations {
        let names = t
            .authorized_operations
            .as_deref()
            .map_or("(not reported)".to_string(), operation_names);
        // Wrapped at commas to stay within 80 columns.
        let mut line = "authorized operations:".to_string();
        for (i, name) in names.split(',').enumerate() {
            let piece = if i == 0 {
                format!(" {name}")
            } else {
                format!(",{name}")
            };
            if line.len() + piece.len() > 80 {
                out.push_str(&line);
                out.push('\n');
                line = format!("  {}", piece.trim_start_matches([',', ' ']));
            } else {
                line.push_str(&piece);
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&crate::table::render(
        &[
            "PARTITION",
            "LEADER",
            "EPOCH",
            "REPLICAS",
            "ISR",
            "OFFLINE",
            "ERROR",
        ],
        &rows,
    ));
    out
}

fn operation_names(ops: &[kafka_tokio::AclOperation]) -> String {
    if ops.is_empty() {
        return "none".into();
    }
    ops.iter().map(|o| o.name()).collect::<Vec<_>>().join(",")
}

/// One topic as the JSON `metadata --json` gives for each, with its
/// authorized operations (`null` where not asked or not reported).
pub fn topic_json(name: &str, t: &TopicMetadata) -> Value {
    json!({
        "name": name,
        "id": t.id.to_string(),
        "internal": t.internal,
        "authorized_operations": t.authorized_operations.as_ref().map(|ops| {
            ops.iter().map(|o| o.name()).collect::<Vec<_>>()
        }),
        "partitions": t.partitions.iter().map(partition_json).collect::<Vec<_>>(),
    })
}

/// One partition as both JSON forms give it.
fn partition_json(p: &PartitionMetadata) -> Value {
    json!({
        "partition": p.partition,
        "leader": p.leader,
        "leader_epoch": p.leader_epoch,
        "replicas": p.replicas,
        "isr": p.isr,
        "offline_replicas": p.offline_replicas,
        "error": p.error.is_error().then(|| p.error.name()),
    })
}

/// Parses `--replica-assignment`: partitions separated by commas,
/// replicas by colons (`1:2,2:3,3:1`), as Kafka's TopicCommand takes it.
pub fn parse_assignment(s: &str) -> Result<Vec<Vec<i32>>, String> {
    s.split(',')
        .enumerate()
        .map(|(p, part)| {
            part.split(':')
                .map(|b| {
                    b.trim()
                        .parse::<i32>()
                        .ok()
                        .filter(|b| *b >= 0)
                        .ok_or_else(|| {
                            format!(
                                "--replica-assignment {s}: partition {p}: {b:?} is not a broker id"
                            )
                        })
                })
                .collect()
        })
        .collect()
}

/// A failed create or delete, on one line with the Kafka error's name.
pub fn outcome_error(what: &str, o: &TopicOutcome) -> String {
    format!(
        "cannot {what} {}: {}{}",
        o.name,
        o.error.name(),
        o.message
            .as_deref()
            .map(|m| format!(" [{m}]"))
            .unwrap_or_default()
    )
}

/// A created (or creatable) topic, in words.
pub fn create_text(o: &TopicOutcome) -> String {
    let mut s = o.name.clone();
    if let Some(n) = o.partitions {
        s.push_str(&format!(" with {n} partitions"));
    }
    if let Some(rf) = o.replication_factor {
        s.push_str(&format!(", replication factor {rf}"));
    }
    s
}

/// A create's outcome as the item of its `--json` array (the error and
/// message are added by [`crate::outcome`]).
pub fn create_json(o: &TopicOutcome, validate_only: bool) -> Value {
    json!({
        "name": o.name,
        "validate_only": validate_only,
        // A validate-only answer's id names no topic.
        "id": o.id.filter(|_| !validate_only).map(|i| i.to_string()),
        "partitions": o.partitions,
        "replication_factor": o.replication_factor,
    })
}

/// One JSON object.
pub fn to_json(md: &ClusterMetadata) -> Value {
    json!({
        "cluster_id": md.cluster_id(),
        "controller": md.controller(),
        "brokers": md.brokers().map(|(id, a)| json!({"id": id, "host": a.host, "port": a.port})).collect::<Vec<_>>(),
        "topics": md.topics().map(|(name, t)| json!({
            "name": name,
            "id": t.id.to_string(),
            "error": t.error.is_error().then(|| t.error.name()),
            "partitions": t.partitions.iter().map(partition_json).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}
