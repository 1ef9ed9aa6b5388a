//! `kfk partitions reassign|reassignments|elect` and `kfk logdirs
//! describe`: where replicas live and who leads.

use std::collections::BTreeMap;

use kafka_tokio::{
    BrokerLogDirs, Client, ElectionType, ErrorCode, PartitionOutcome, PartitionReassignment,
    TopicPartition,
};
use serde_json::{json, Value};

use crate::table;

/// Parses `TOPIC` or `TOPIC:PARTITION`.
pub fn parse_spec(spec: &str) -> Result<(String, Option<i32>), String> {
    match spec.rsplit_once(':') {
        Some((topic, p)) => {
            let p: i32 = p
                .parse()
                .map_err(|_| format!("{spec}: {p} is not a partition number"))?;
            if p < 0 {
                return Err(format!("{spec}: negative partition {p}"));
            }
            Ok((topic.to_string(), Some(p)))
        }
        None => Ok((spec.to_string(), None)),
    }
}

/// The partitions `TOPIC[:P]` specs name; a bare topic means each of its
/// partitions (from the metadata).
pub async fn resolve(client: &Client, specs: &[String]) -> Result<Vec<TopicPartition>, String> {
    if specs.is_empty() {
        return Err("name at least one TOPIC[:PARTITION]".into());
    }
    let mut out = Vec::new();
    for spec in specs {
        let (topic, partition) = parse_spec(spec)?;
        match partition {
            Some(p) => out.push(TopicPartition::new(topic, p)),
            None => {
                crate::check_topic(client, &topic).await?;
                let md = client
                    .metadata([topic.as_str()])
                    .await
                    .map_err(crate::error_line)?;
                let t = md
                    .topic(&topic)
                    .ok_or_else(|| format!("topic {topic}: not in the cluster's metadata"))?;
                out.extend(
                    t.partitions
                        .iter()
                        .map(|p| TopicPartition::new(topic.clone(), p.partition)),
                );
            }
        }
    }
    Ok(out)
}

/// Parses `--replicas 1,2,3`.
pub fn parse_replicas(list: &str) -> Result<Vec<i32>, String> {
    list.split(',')
        .map(|s| {
            s.trim()
                .parse::<i32>()
                .map_err(|_| format!("--replicas {list}: {s:?} is not a broker id"))
        })
        .collect()
}

/// One line for a failed item: `topic-0: NAME: message`.
pub fn failure(item: &dyn std::fmt::Display, code: ErrorCode, message: &Option<String>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!("{item}: {}: {m}", code.name()),
        _ => format!("{item}: {}", code.name()),
    }
}

/// Starts (or with `None`, cancels) one partition's reassignment.
pub async fn reassign(
    client: &Client,
    tp: TopicPartition,
    replicas: Option<Vec<i32>>,
) -> Result<(), String> {
    let done = client
        .alter_partition_reassignments(BTreeMap::from([(tp.clone(), replicas)]))
        .await
        .map_err(crate::error_line)?;
    match done.first() {
        Some(o) if o.error.is_error() => Err(failure(&tp, o.error, &o.message)),
        Some(_) => Ok(()),
        None => Err(format!("{tp}: no answer")),
    }
}

pub fn reassignments_text(r: &BTreeMap<TopicPartition, PartitionReassignment>) -> String {
    let rows: Vec<Vec<String>> = r
        .iter()
        .map(|(tp, r)| {
            vec![
                tp.topic.clone(),
                tp.partition.to_string(),
                table::ids(&r.replicas),
                table::ids(&r.adding),
                table::ids(&r.removing),
            ]
        })
        .collect();
    table::render(
        &["TOPIC", "PARTITION", "REPLICAS", "ADDING", "REMOVING"],
        &rows,
    )
}

pub fn reassignments_json(r: &BTreeMap<TopicPartition, PartitionReassignment>) -> Value {
    Value::Array(
        r.iter()
            .map(|(tp, r)| {
                json!({
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "replicas": r.replicas,
                    "adding": r.adding,
                    "removing": r.removing,
                })
            })
            .collect(),
    )
}

/// Elects leaders; `ELECTION_NOT_NEEDED` counts as done.
pub async fn elect(
    client: &Client,
    unclean: bool,
    partitions: Vec<TopicPartition>,
) -> Result<Vec<PartitionOutcome>, String> {
    let election = if unclean {
        ElectionType::Unclean
    } else {
        ElectionType::Preferred
    };
    client
        .elect_leaders(election, Some(partitions))
        .await
        .map_err(crate::error_line)
}

/// Whether an election outcome is a failure.
pub fn elect_failed(o: &PartitionOutcome) -> bool {
    !matches!(o.error, ErrorCode::None | ErrorCode::ElectionNotNeeded)
}

/// Per-partition outcomes: `OK`, or the error's name and message.
pub fn outcomes_text(outcomes: &[PartitionOutcome]) -> String {
    let rows: Vec<Vec<String>> = outcomes
        .iter()
        .map(|o| {
            vec![
                o.partition.topic.clone(),
                o.partition.partition.to_string(),
                match o.error {
                    ErrorCode::None => "OK".into(),
                    e => e.name().to_string(),
                },
                o.message.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table::render(&["TOPIC", "PARTITION", "RESULT", "MESSAGE"], &rows)
}

pub fn outcomes_json(outcomes: &[PartitionOutcome]) -> Value {
    Value::Array(
        outcomes
            .iter()
            .map(|o| {
                json!({
                    "topic": o.partition.topic,
                    "partition": o.partition.partition,
                    "error": (o.error != ErrorCode::None).then(|| o.error.name()),
                    "message": o.message,
                })
            })
            .collect(),
    )
}

/// One row per replica (and one per empty directory); the directory's
/// path comes last, so only a long path makes a line long.
pub fn logdirs_text(brokers: &[BrokerLogDirs]) -> String {
    let mut rows = Vec::new();
    for b in brokers {
        if b.error.is_error() {
            rows.push(vec![
                b.node.to_string(),
                format!("error: {}", b.error.name()),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
        for d in &b.dirs {
            let path = match d.error {
                ErrorCode::None => d.path.clone(),
                e => format!("{} ({})", d.path, e.name()),
            };
            if d.replicas.is_empty() {
                rows.push(vec![
                    b.node.to_string(),
                    "-".into(),
                    String::new(),
                    String::new(),
                    path.clone(),
                ]);
            }
            for r in &d.replicas {
                rows.push(vec![
                    b.node.to_string(),
                    format!(
                        "{}{}",
                        r.partition,
                        if r.is_future { " (future)" } else { "" }
                    ),
                    table::bytes(r.size),
                    r.offset_lag.to_string(),
                    path.clone(),
                ]);
            }
        }
    }
    table::render(&["BROKER", "PARTITION", "SIZE", "LAG", "DIR"], &rows)
}

pub fn logdirs_json(brokers: &[BrokerLogDirs]) -> Value {
    Value::Array(
        brokers
            .iter()
            .map(|b| {
                json!({
                    "broker": b.node,
                    "error": b.error.is_error().then(|| b.error.name()),
                    "dirs": b.dirs.iter().map(|d| json!({
                        "path": d.path,
                        "error": d.error.is_error().then(|| d.error.name()),
                        "total_bytes": d.total_bytes,
                        "usable_bytes": d.usable_bytes,
                        "replicas": d.replicas.iter().map(|r| json!({
                            "topic": r.partition.topic,
                            "partition": r.partition.partition,
                            "size": r.size,
                            "offset_lag": r.offset_lag,
                            "future": r.is_future,
                        })).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_and_replica_lists_parse_or_say_why_not() {
        assert_eq!(parse_spec("t").unwrap(), ("t".into(), None));
        assert_eq!(parse_spec("a.b:3").unwrap(), ("a.b".into(), Some(3)));
        assert!(parse_spec("t:-1").unwrap_err().contains("negative"));
        assert!(parse_spec("t:x").unwrap_err().contains("not a partition"));
        assert_eq!(parse_replicas("1, 2,3").unwrap(), vec![1, 2, 3]);
        assert!(parse_replicas("1,,2").is_err());
    }
}
