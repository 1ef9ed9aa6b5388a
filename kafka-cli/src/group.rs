//! `kfk group`: list, describe and delete consumer groups, and reset
//! their committed offsets.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use kafka_tokio::{
    Client, ErrorCode, GroupDescription, OffsetSpec, PartitionOutcome, TopicPartition,
};
use serde_json::{json, Value};

use crate::outcome::Failure;

/// One partition of a group's offsets: committed, log end and lag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub partition: TopicPartition,
    pub committed: Option<i64>,
    pub end: Option<i64>,
}

impl PartitionLag {
    fn lag(&self) -> Option<i64> {
        Some((self.end? - self.committed?).max(0))
    }
}

/// What `describe` prints.
#[derive(Debug)]
pub struct Described {
    pub group: GroupDescription,
    pub offsets: Vec<PartitionLag>,
}

/// Prints every group, one per line (or one JSON array).
pub async fn list(
    client: &Client,
    states: &[String],
    types: &[String],
    json_out: bool,
) -> Result<(), String> {
    let listed = client
        .list_groups_matching(states, types)
        .await
        .map_err(crate::error_line)?;
    for (node, code) in &listed.errors {
        eprintln!("kfk: broker {node} could not list its groups: {code}");
    }
    if json_out {
        let groups: Vec<Value> = listed
            .groups
            .iter()
            .map(|g| {
                json!({
                    "group": g.group_id,
                    "state": g.state,
                    "type": g.group_type,
                    "protocol_type": g.protocol_type,
                })
            })
            .collect();
        println!("{}", Value::Array(groups));
    } else {
        let rows: Vec<Vec<String>> = listed
            .groups
            .iter()
            .map(|g| {
                vec![
                    g.group_id.clone(),
                    g.state.clone().unwrap_or_else(|| "-".into()),
                    g.group_type.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        print!(
            "{}",
            crate::table::render(&["GROUP", "STATE", "TYPE"], &rows)
        );
    }
    Ok(())
}

/// A share group's description (a share group commits no offsets).
pub async fn describe_share(client: &Client, group: &str) -> Result<Described, String> {
    let mut described = client
        .describe_share_groups([group])
        .await
        .map_err(crate::error_line)?;
    let description = described
        .pop()
        .ok_or_else(|| format!("group {group}: no answer"))?;
    if description.error.is_error() {
        return Err(format!("share group {group}: {}", description.error.name()));
    }
    Ok(Described {
        group: description,
        offsets: Vec::new(),
    })
}

/// Whether the brokers list `group` as a share group (false where they
/// cannot filter groups by type).
async fn is_share_group(client: &Client, group: &str) -> bool {
    client
        .list_groups_matching(Vec::<String>::new(), ["share"])
        .await
        .is_ok_and(|l| l.groups.iter().any(|g| g.group_id == group))
}

/// A partition's outcome from its error code.
pub fn outcome(partition: TopicPartition, error: ErrorCode) -> PartitionOutcome {
    PartitionOutcome::new(partition, error, None)
}

/// The group's description, its committed offsets and the log end of
/// every partition it committed or is assigned.
pub async fn describe(client: &Client, group: &str) -> Result<Described, String> {
    let mut described = client
        .describe_groups([group])
        .await
        .map_err(crate::error_line)?;
    let description = described
        .pop()
        .ok_or_else(|| format!("group {group}: no answer"))?;
    // DescribeGroups knows no share group (Kafka calls it dead, or
    // refuses): where the brokers list it as a share group, describe it
    // as one.
    if (description.error.is_error() || description.state == "Dead")
        && is_share_group(client, group).await
    {
        return describe_share(client, group).await;
    }
    if description.error.is_error() && description.state != "Dead" {
        return Err(format!("group {group}: {}", description.error));
    }
    let committed = client
        .group_offsets(group)
        .await
        .map_err(crate::error_line)?;
    if committed.error.is_error() {
        return Err(format!("group {group} offsets: {}", committed.error));
    }
    let mut partitions: BTreeSet<TopicPartition> = committed.offsets.keys().cloned().collect();
    for m in &description.members {
        partitions.extend(m.assignment.iter().cloned());
    }
    let ends = if partitions.is_empty() {
        BTreeMap::new()
    } else {
        client
            .offsets(partitions.iter().cloned(), OffsetSpec::Latest)
            .await
            .map_err(crate::error_line)?
    };
    let offsets = partitions
        .into_iter()
        .map(|tp| PartitionLag {
            committed: committed
                .offsets
                .get(&tp)
                .and_then(|c| c.as_ref().ok())
                .map(|c| c.offset),
            end: ends
                .get(&tp)
                .and_then(|e| e.as_ref().ok())
                .and_then(|l| l.offset),
            partition: tp,
        })
        .collect();
    Ok(Described {
        group: description,
        offsets,
    })
}

/// The JSON form of a description: one object.
pub fn to_json(d: &Described) -> Value {
    let g = &d.group;
    let members: Vec<Value> = g
        .members
        .iter()
        .map(|m| {
            json!({
                "member_id": m.member_id,
                "instance_id": m.instance_id,
                "client_id": m.client_id,
                "host": m.host,
                "assignment": m.assignment.iter().map(|tp| json!({
                    "topic": tp.topic,
                    "partition": tp.partition,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let offsets: Vec<Value> = d
        .offsets
        .iter()
        .map(|o| {
            json!({
                "topic": o.partition.topic,
                "partition": o.partition.partition,
                "committed": o.committed,
                "end": o.end,
                "lag": o.lag(),
            })
        })
        .collect();
    json!({
        "group": g.group_id,
        "state": g.state,
        "protocol": g.group_type,
        "assignor": g.assignor,
        "members": members,
        "offsets": offsets,
    })
}

/// The text form: the group's state, then one line per partition with
/// its owner, as Kafka's own group tool lays it out.
pub fn to_text(d: &Described) -> String {
    let g = &d.group;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "group {} is {} ({} members, assignor {})",
        g.group_id,
        g.state,
        g.members.len(),
        if g.assignor.is_empty() {
            "-"
        } else {
            &g.assignor
        }
    );
    let owner: BTreeMap<&TopicPartition, &kafka_tokio::MemberDescription> = g
        .members
        .iter()
        .flat_map(|m| m.assignment.iter().map(move |tp| (tp, m)))
        .collect();
    let show = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
    let offsets: Vec<Vec<String>> = d
        .offsets
        .iter()
        .map(|o| {
            let m = owner.get(&o.partition);
            vec![
                o.partition.topic.clone(),
                o.partition.partition.to_string(),
                show(o.committed),
                show(o.end),
                show(o.lag()),
                m.map_or("-", |m| m.client_id.as_str()).to_string(),
            ]
        })
        .collect();
    let members: Vec<Vec<String>> = g.members.iter().map(member_row).collect();
    out.push_str(&tables_text(&offsets, &members));
    out
}

/// The offsets table (unless there are none but members: a share group
/// commits no offsets), then the members table (when there are members),
/// a blank line between.
fn tables_text(offsets: &[Vec<String>], members: &[Vec<String>]) -> String {
    let mut out = String::new();
    if !offsets.is_empty() || members.is_empty() {
        out.push_str(&crate::table::render(
            &[
                "TOPIC",
                "PARTITION",
                "COMMITTED",
                "LOG-END",
                "LAG",
                "CLIENT-ID",
            ],
            offsets,
        ));
    }
    if !members.is_empty() {
        if !offsets.is_empty() {
            out.push('\n');
        }
        out.push_str(&crate::table::render(
            &["CLIENT-ID", "HOST", "ASSIGNMENT", "MEMBER-ID"],
            members,
        ));
    }
    out
}

/// A member's row: client id, host, its assignment as `topic:0,1`, and
/// its id last (the long one, so only it makes a line long).
fn member_row(m: &kafka_tokio::MemberDescription) -> Vec<String> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in &m.assignment {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    let assignment = by_topic
        .iter()
        .map(|(t, ps)| format!("{t}:{}", crate::table::ids(ps)))
        .collect::<Vec<_>>()
        .join(" ");
    let or_dash = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    vec![
        or_dash(&m.client_id),
        or_dash(&m.host),
        or_dash(&assignment),
        m.member_id.clone(),
    ]
}

/// Deletes a group.
pub async fn delete(client: &Client, group: &str) -> Result<(), Failure> {
    let results = client
        .delete_groups([group])
        .await
        .map_err(crate::error_line)?;
    match results.iter().find(|(g, _)| g == group) {
        Some((_, code)) if code.is_error() => Err(Failure::refused(
            &format!("cannot delete group {group}"),
            *code,
            &None,
        )),
        Some(_) => Ok(()),
        None => Err(format!("group {group}: no answer").into()),
    }
}

/// Where `reset-offsets` moves a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTo {
    Earliest,
    Latest,
    Offset(i64),
    Timestamp(i64),
}

impl ResetTo {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "earliest" => Ok(ResetTo::Earliest),
            "latest" => Ok(ResetTo::Latest),
            _ => {
                if let Some(ts) = s.strip_prefix('@') {
                    return ts
                        .parse()
                        .map(ResetTo::Timestamp)
                        .map_err(|_| format!("--to {s}: expected @TIMESTAMP_MS"));
                }
                match s.parse::<i64>() {
                    Ok(o) if o >= 0 => Ok(ResetTo::Offset(o)),
                    _ => Err(format!(
                        "--to {s}: expected earliest, latest, an offset or @TIMESTAMP_MS"
                    )),
                }
            }
        }
    }
}

/// One partition of a reset: the new offset and, once set, the
/// broker's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reset {
    pub partition: TopicPartition,
    pub offset: i64,
    pub error: ErrorCode,
}

/// Computes (and with `execute`, sets) the group's offsets for every
/// partition of `topic`; returns the plan, each partition with the
/// broker's answer (`NONE` when not executed).
pub async fn reset_offsets(
    client: &Client,
    group: &str,
    topic: &str,
    to: ResetTo,
    execute: bool,
) -> Result<Vec<Reset>, String> {
    let md = client
        .metadata([topic])
        .await
        .map_err(|e| format!("metadata for {topic}: {e}"))?;
    let tps = md
        .partitions_of(topic)
        .map_err(|code| format!("topic {topic}: {code}"))?;
    let plan: BTreeMap<TopicPartition, i64> = match to {
        ResetTo::Offset(o) => tps.into_iter().map(|tp| (tp, o)).collect(),
        ResetTo::Earliest | ResetTo::Latest | ResetTo::Timestamp(_) => {
            let spec = match to {
                ResetTo::Earliest => OffsetSpec::Earliest,
                ResetTo::Timestamp(ts) => OffsetSpec::Timestamp(ts),
                _ => OffsetSpec::Latest,
            };
            let listed = client
                .offsets(tps.clone(), spec)
                .await
                .map_err(crate::error_line)?;
            // A timestamp past every record resets to the end, as Kafka's
            // own tool does.
            let ends = match to {
                ResetTo::Timestamp(_) => client
                    .offsets(tps.clone(), OffsetSpec::Latest)
                    .await
                    .map_err(crate::error_line)?,
                _ => BTreeMap::new(),
            };
            let mut plan = BTreeMap::new();
            for tp in tps {
                let found = listed
                    .get(&tp)
                    .and_then(|r| r.as_ref().ok())
                    .and_then(|l| l.offset)
                    .or_else(|| {
                        ends.get(&tp)
                            .and_then(|r| r.as_ref().ok())
                            .and_then(|l| l.offset)
                    })
                    .ok_or_else(|| format!("no offset for {tp}"))?;
                plan.insert(tp, found);
            }
            plan
        }
    };
    let results = if execute {
        client
            .alter_group_offsets(group, plan.clone())
            .await
            .map_err(crate::error_line)?
    } else {
        BTreeMap::new()
    };
    Ok(plan
        .into_iter()
        .map(|(tp, offset)| Reset {
            error: results.get(&tp).copied().unwrap_or(ErrorCode::None),
            partition: tp,
            offset,
        })
        .collect())
}

/// The plan as a table: with `executed`, each partition's result too.
pub fn resets_text(resets: &[Reset], executed: bool) -> String {
    let rows: Vec<Vec<String>> = resets
        .iter()
        .map(|r| {
            let mut row = vec![
                r.partition.topic.clone(),
                r.partition.partition.to_string(),
                r.offset.to_string(),
            ];
            if executed {
                row.push(match r.error {
                    ErrorCode::None => "OK".into(),
                    e => e.name().to_string(),
                });
            }
            row
        })
        .collect();
    let header: &[&str] = if executed {
        &["TOPIC", "PARTITION", "NEW-OFFSET", "RESULT"]
    } else {
        &["TOPIC", "PARTITION", "NEW-OFFSET"]
    };
    crate::table::render(header, &rows)
}

/// The plan as JSON: whether it was set, and each partition's new
/// offset and error (null when set, or when not executed).
pub fn resets_json(group: &str, resets: &[Reset], executed: bool) -> Value {
    json!({
        "group": group,
        "executed": executed,
        "partitions": resets.iter().map(|r| json!({
            "topic": r.partition.topic,
            "partition": r.partition.partition,
            "offset": r.offset,
            "error": r.error.is_error().then(|| r.error.name()),
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_targets_parse() {
        assert_eq!(ResetTo::parse("earliest"), Ok(ResetTo::Earliest));
        assert_eq!(ResetTo::parse("latest"), Ok(ResetTo::Latest));
        assert_eq!(ResetTo::parse("42"), Ok(ResetTo::Offset(42)));
        assert_eq!(
            ResetTo::parse("@1700000000000"),
            Ok(ResetTo::Timestamp(1_700_000_000_000))
        );
        assert!(ResetTo::parse("-1").is_err());
        assert!(ResetTo::parse("@soon").is_err());
        assert!(ResetTo::parse("middle").is_err());
    }

    #[test]
    fn a_described_group_fits_80_columns_with_members_below_offsets() {
        let cells = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let offsets = [cells(&[
            "orders.v2",
            "0",
            "1234567890",
            "1234567990",
            "100",
            "rdkafka",
        ])];
        let members = [cells(&[
            "rdkafka",
            "/192.168.100.200",
            "orders.v2:0,1",
            // A KIP-848 member id; a classic one (client id and a UUID)
            // is longer, and as the last column only it runs past 80.
            "Xq3vS8uHQ2uYbQ6lUu0hOA",
        ])];
        let text = tables_text(&offsets, &members);
        assert!(text.lines().all(|l| l.len() <= 80), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("TOPIC"), "{text}");
        assert_eq!(lines[2], "");
        assert!(lines[3].starts_with("CLIENT-ID"), "{text}");
        assert!(lines[4].ends_with(" Xq3vS8uHQ2uYbQ6lUu0hOA"), "{text}");
        // A share group (no offsets) shows its members only; a group with
        // neither, the empty offsets table.
        let text = tables_text(&[], &members);
        assert!(text.starts_with("CLIENT-ID"), "{text}");
        assert_eq!(text.lines().count(), 2);
        assert!(tables_text(&[], &[]).starts_with("TOPIC"));
    }

    #[test]
    fn lag_needs_both_ends_and_never_goes_negative() {
        let tp = TopicPartition::new("t", 0);
        let lag = |committed, end| {
            PartitionLag {
                partition: tp.clone(),
                committed,
                end,
            }
            .lag()
        };
        assert_eq!(lag(Some(3), Some(10)), Some(7));
        assert_eq!(lag(None, Some(10)), None);
        assert_eq!(lag(Some(12), Some(10)), Some(0));
    }
}
