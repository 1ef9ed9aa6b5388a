//! Metadata as text (kcat's `-L` layout) or JSON.

use std::fmt::Write as _;

use kafka_state::{ClusterMetadata, TopicMetadata};
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

/// One topic of `md`: its partitions in aligned columns.
pub fn topic_text(name: &str, t: &TopicMetadata) -> String {
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
    out.push_str(&crate::table::render(
        &["PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "ERROR"],
        &rows,
    ));
    out
}

/// One topic as the JSON `metadata --json` gives for each.
pub fn topic_json(name: &str, t: &TopicMetadata) -> Value {
    json!({
        "name": name,
        "id": t.id.to_string(),
        "internal": t.internal,
        "partitions": t.partitions.iter().map(|p| json!({
            "partition": p.partition,
            "leader": p.leader,
            "leader_epoch": p.leader_epoch,
            "replicas": p.replicas,
            "isr": p.isr,
            "error": p.error.is_error().then(|| p.error.name()),
        })).collect::<Vec<_>>(),
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
            "partitions": t.partitions.iter().map(|p| json!({
                "partition": p.partition,
                "leader": p.leader,
                "leader_epoch": p.leader_epoch,
                "replicas": p.replicas,
                "isr": p.isr,
                "error": p.error.is_error().then(|| p.error.name()),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}
