//! `kfk producers describe` and `kfk txn list|describe`: the producers a
//! partition's leader tracks, and the transactions coordinators hold.

use kafka_tokio::{DescribedProducers, ErrorCode, TransactionDescription, TransactionListings};
use serde_json::{json, Value};

use crate::table;

fn opt(v: Option<i64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

pub fn producers_text(p: &DescribedProducers) -> String {
    let mut rows = Vec::new();
    for (tp, states) in p {
        match states {
            Err(code) => rows.push(vec![
                tp.partition.to_string(),
                format!("error: {}", code.name()),
                String::new(),
                String::new(),
                String::new(),
            ]),
            Ok(states) => {
                for s in states {
                    rows.push(vec![
                        tp.partition.to_string(),
                        s.producer_id.to_string(),
                        s.producer_epoch.to_string(),
                        s.last_sequence.to_string(),
                        opt(s.current_txn_start_offset),
                    ]);
                }
            }
        }
    }
    table::render(
        &["PARTITION", "PRODUCER-ID", "EPOCH", "LAST-SEQ", "TXN-START"],
        &rows,
    )
}

pub fn producers_json(p: &DescribedProducers) -> Value {
    Value::Array(
        p.iter()
            .map(|(tp, states)| match states {
                Err(code) => json!({
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "error": code.name(),
                }),
                Ok(states) => json!({
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "producers": states.iter().map(|s| json!({
                        "producer_id": s.producer_id,
                        "producer_epoch": s.producer_epoch,
                        "last_sequence": s.last_sequence,
                        "last_timestamp": s.last_timestamp,
                        "coordinator_epoch": s.coordinator_epoch,
                        "current_txn_start_offset": s.current_txn_start_offset,
                    })).collect::<Vec<_>>(),
                }),
            })
            .collect(),
    )
}

pub fn list_text(l: &TransactionListings) -> String {
    let rows: Vec<Vec<String>> = l
        .transactions
        .iter()
        .map(|t| {
            vec![
                t.transactional_id.clone(),
                t.producer_id.to_string(),
                t.state.clone(),
                t.coordinator.to_string(),
            ]
        })
        .collect();
    table::render(
        &["TRANSACTIONAL-ID", "PRODUCER-ID", "STATE", "COORDINATOR"],
        &rows,
    )
}

pub fn list_json(l: &TransactionListings) -> Value {
    json!({
        "transactions": l.transactions.iter().map(|t| json!({
            "transactional_id": t.transactional_id,
            "producer_id": t.producer_id,
            "state": t.state,
            "coordinator": t.coordinator,
        })).collect::<Vec<_>>(),
        "errors": l.errors.iter().map(|(n, c)| json!({
            "broker": n, "error": c.name(),
        })).collect::<Vec<_>>(),
        "unknown_states": l.unknown_states,
    })
}

/// The one-line error for a transaction that could not be described.
pub fn describe_error(t: &TransactionDescription) -> Option<String> {
    (t.error != ErrorCode::None)
        .then(|| format!("transaction {}: {}", t.transactional_id, t.error.name()))
}

pub fn describe_text(t: &TransactionDescription) -> String {
    let start = if t.start_time_ms >= 0 {
        t.start_time_ms.to_string()
    } else {
        "-".into()
    };
    let mut out = table::render(
        &["FIELD", "VALUE"],
        &[
            vec!["transactional id".into(), t.transactional_id.clone()],
            vec!["state".into(), t.state.clone()],
            vec!["producer id".into(), t.producer_id.to_string()],
            vec!["producer epoch".into(), t.producer_epoch.to_string()],
            vec!["timeout ms".into(), t.timeout_ms.to_string()],
            vec!["start time ms".into(), start],
        ],
    );
    if !t.partitions.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = t
            .partitions
            .iter()
            .map(|tp| vec![tp.topic.clone(), tp.partition.to_string()])
            .collect();
        out.push_str(&table::render(&["TOPIC", "PARTITION"], &rows));
    }
    out
}

pub fn describe_json(t: &TransactionDescription) -> Value {
    json!({
        "transactional_id": t.transactional_id,
        "state": t.state,
        "producer_id": t.producer_id,
        "producer_epoch": t.producer_epoch,
        "timeout_ms": t.timeout_ms,
        "start_time_ms": (t.start_time_ms >= 0).then_some(t.start_time_ms),
        "partitions": t.partitions.iter().map(|tp| json!({
            "topic": tp.topic, "partition": tp.partition,
        })).collect::<Vec<_>>(),
    })
}
