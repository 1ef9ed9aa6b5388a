//! `kfk config`, `kfk topic add-partitions`, `kfk delete-records` and
//! `kfk cluster`: configs, partitions, records and the cluster.

use std::fmt::Write as _;

use kafka_tokio::{
    AlterConfigOp, Client, ClusterDescription, ConfigEntry, ConfigResource, ErrorCode,
    FeatureDescription, FeatureOutcome, FeatureUpdate, FeatureUpgrade, NewPartitions, OffsetSpec,
    ResourceConfigs, TopicPartition,
};

use crate::outcome::Failure;
use crate::table;
use serde_json::{json, Value};

/// The resource named by `--topic`, `--broker`, `--group` or
/// `--broker-defaults`, or by `KIND NAME` (`topic orders`, `broker 1`,
/// `group billing`, `broker-logger 1`, `broker-defaults`): exactly one.
pub fn resource(
    topic: &Option<String>,
    broker: Option<i32>,
    group: &Option<String>,
    defaults: bool,
    positional: &[String],
) -> Result<ConfigResource, String> {
    let flags = usize::from(topic.is_some())
        + usize::from(broker.is_some())
        + usize::from(group.is_some())
        + usize::from(defaults);
    let broker_id = |flag: &str, v: &str| -> Result<i32, String> {
        match v.parse::<i32>() {
            Ok(n) if n >= 0 => Ok(n),
            Ok(n) => Err(format!("{flag}: negative broker id {n}")),
            Err(_) => Err(format!("{flag}: not a broker id: {v}")),
        }
    };
    let usage = "give one of topic NAME, broker ID, group NAME, broker-logger ID, \
                 broker-defaults (or --topic, --broker, --group, --broker-defaults)";
    match (flags, positional) {
        (1, []) => match (topic, broker, group) {
            (Some(t), _, _) => Ok(ConfigResource::Topic(t.clone())),
            (_, Some(n), _) if n >= 0 => Ok(ConfigResource::Broker(n)),
            (_, Some(n), _) => Err(format!("--broker: negative broker id {n}")),
            (_, _, Some(g)) => Ok(ConfigResource::Group(g.clone())),
            _ => Ok(ConfigResource::BrokerDefaults),
        },
        (0, [kind, name]) => match kind.as_str() {
            "topic" => Ok(ConfigResource::Topic(name.clone())),
            "group" => Ok(ConfigResource::Group(name.clone())),
            "broker" => Ok(ConfigResource::Broker(broker_id("broker", name)?)),
            "broker-logger" => Ok(ConfigResource::BrokerLogger(broker_id(
                "broker-logger",
                name,
            )?)),
            other => Err(format!("unknown config resource {other}: {usage}")),
        },
        (0, [kind]) if kind == "broker-defaults" => Ok(ConfigResource::BrokerDefaults),
        _ => Err(usage.into()),
    }
}

fn broker_error(what: &ConfigResource, code: ErrorCode, message: &Option<String>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!("{what}: {code}: {m}"),
        _ => format!("{what}: {code}"),
    }
}

/// A resource's configs, or its error as one line.
pub async fn describe(
    client: &Client,
    resource: ConfigResource,
    synonyms: bool,
) -> Result<ResourceConfigs, String> {
    let mut described = client
        .describe_configs([resource.clone()], synonyms)
        .await
        .map_err(crate::error_line)?;
    let configs = described
        .pop()
        .ok_or_else(|| format!("{resource}: no answer"))?;
    if configs.error.is_error() {
        return Err(broker_error(&resource, configs.error, &configs.message));
    }
    Ok(configs)
}

/// A config source as the text shows it: Kafka's name without its
/// `_CONFIG` suffix (`DYNAMIC_TOPIC`, `DEFAULT`), to keep rows short.
fn source(name: &str) -> String {
    name.strip_suffix("_CONFIG").unwrap_or(name).to_string()
}

fn flags(e: &ConfigEntry) -> String {
    let mut f = Vec::new();
    if e.is_default {
        f.push("default");
    }
    if e.read_only {
        f.push("read-only");
    }
    if e.sensitive {
        f.push("sensitive");
    }
    if f.is_empty() {
        "-".into()
    } else {
        f.join(",")
    }
}

/// A sensitive value is never printed (the broker does not send it).
fn shown(e: &ConfigEntry) -> &str {
    match &e.value {
        _ if e.sensitive => "(hidden)",
        Some(v) => v,
        None => "(null)",
    }
}

/// One config per line: name, source, flags, value (last, so a long
/// value makes only its own line long); synonyms indented under their
/// config.
pub fn to_text(configs: &ResourceConfigs) -> String {
    let mut rows = Vec::new();
    for e in &configs.entries {
        rows.push(vec![
            e.name.clone(),
            source(e.source.name()),
            flags(e),
            shown(e).to_string(),
        ]);
        for s in &e.synonyms {
            let value = if e.sensitive {
                "(hidden)"
            } else {
                s.value.as_deref().unwrap_or("(null)")
            };
            rows.push(vec![
                format!("  {}", s.name),
                source(s.source.name()),
                String::new(),
                value.to_string(),
            ]);
        }
    }
    table::render(&["NAME", "SOURCE", "FLAGS", "VALUE"], &rows)
}

/// An object of config name → `{value, source, sensitive, read_only,
/// default, synonyms}` (a sensitive value is `null`).
pub fn to_json(configs: &ResourceConfigs) -> Value {
    let entries: serde_json::Map<String, Value> = configs
        .entries
        .iter()
        .map(|e| {
            let entry = json!({
                "value": if e.sensitive { None } else { e.value.clone() },
                "source": e.source.name(),
                "default": e.is_default,
                "read_only": e.read_only,
                "sensitive": e.sensitive,
                "synonyms": e.synonyms.iter().map(|s| json!({
                    "name": s.name,
                    "value": if e.sensitive { None } else { s.value.clone() },
                    "source": s.source.name(),
                })).collect::<Vec<_>>(),
            });
            (e.name.clone(), entry)
        })
        .collect();
    Value::Object(entries)
}

/// The changes of `kfk config alter`, checked before anything is sent.
pub fn changes(
    set: &[String],
    delete: &[String],
    append: &[String],
    subtract: &[String],
) -> Result<Vec<AlterConfigOp>, String> {
    let pair = |flag: &str, s: &String| {
        s.split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .ok_or_else(|| format!("--{flag} {s}: expected KEY=VALUE"))
    };
    let mut ops = Vec::new();
    for s in set {
        let (k, v) = pair("set", s)?;
        ops.push(AlterConfigOp::Set(k, v));
    }
    for s in append {
        let (k, v) = pair("append", s)?;
        ops.push(AlterConfigOp::Append(k, v));
    }
    for s in subtract {
        let (k, v) = pair("subtract", s)?;
        ops.push(AlterConfigOp::Subtract(k, v));
    }
    for k in delete {
        if k.is_empty() || k.contains('=') {
            return Err(format!("--delete {k}: expected a config name"));
        }
        ops.push(AlterConfigOp::Delete(k.clone()));
    }
    if ops.is_empty() {
        return Err("nothing to change: give --set, --delete, --append or --subtract".into());
    }
    Ok(ops)
}

/// Applies (or with `validate_only` checks) the changes; a refusal is
/// one line.
pub async fn alter(
    client: &Client,
    resource: ConfigResource,
    ops: Vec<AlterConfigOp>,
    validate_only: bool,
) -> Result<(), Failure> {
    let mut outcome = client
        .alter_configs([(resource.clone(), ops)], validate_only)
        .await
        .map_err(crate::error_line)?;
    let o = outcome
        .pop()
        .ok_or_else(|| format!("{resource}: no answer"))?;
    if o.error.is_error() {
        return Err(Failure::refused(&resource, o.error, &o.message));
    }
    Ok(())
}

/// Grows `topic` to `count` partitions.
pub async fn add_partitions(
    client: &Client,
    topic: &str,
    count: i32,
    validate_only: bool,
) -> Result<(), Failure> {
    let mut outcome = client
        .create_partitions([NewPartitions::new(topic, count)], validate_only)
        .await
        .map_err(crate::error_line)?;
    let o = outcome
        .pop()
        .ok_or_else(|| format!("topic {topic}: no answer"))?;
    if o.error.is_error() {
        let what = ConfigResource::Topic(topic.to_string());
        return Err(Failure::refused(&what, o.error, &o.message));
    }
    Ok(())
}

/// `--before`: an offset, or `end` for the high watermark.
pub fn before_offset(s: &str) -> Result<i64, String> {
    match s {
        "end" => Ok(-1),
        _ => match s.parse::<i64>() {
            Ok(o) if o >= 0 => Ok(o),
            _ => Err(format!(
                "--before {s}: expected an offset (0 or more) or end"
            )),
        },
    }
}

/// Deletes the records of `topic`/`partition` before `before`; the new
/// low watermark.
pub async fn delete_records(
    client: &Client,
    topic: &str,
    partition: i32,
    before: i64,
) -> Result<i64, Failure> {
    let tp = TopicPartition::new(topic, partition);
    let done = client
        .delete_records([(tp.clone(), before)].into_iter().collect())
        .await
        .map_err(crate::error_line)?;
    match done.get(&tp) {
        Some(Ok(low)) => Ok(*low),
        Some(Err(code)) => Err(Failure::refused(&tp, *code, &None)),
        None => Err(format!("{tp}: no answer").into()),
    }
}

/// The cluster and the features of the broker that answered.
pub struct Cluster {
    pub cluster: ClusterDescription,
    pub features: FeatureDescription,
}

pub async fn cluster(client: &Client) -> Result<Cluster, String> {
    let cluster = client
        .describe_cluster(false)
        .await
        .map_err(crate::error_line)?;
    let features = client
        .describe_features(cluster.controller)
        .await
        .map_err(crate::error_line)?;
    Ok(Cluster { cluster, features })
}

pub fn cluster_text(c: &Cluster) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "cluster id: {}", c.cluster.cluster_id);
    let _ = writeln!(
        out,
        "controller: {}",
        c.cluster
            .controller
            .map_or("-".to_string(), |n| n.to_string())
    );
    let _ = writeln!(out, "brokers:");
    let brokers: Vec<Vec<String>> = c
        .cluster
        .brokers
        .iter()
        .map(|b| {
            vec![
                format!("  {}", b.node),
                format!("{}:{}", b.host, b.port),
                b.rack.clone().unwrap_or_else(|| "-".into()),
                if b.fenced { "fenced" } else { "" }.to_string(),
            ]
        })
        .collect();
    out.push_str(&table::render(&["  ID", "ADDRESS", "RACK", ""], &brokers));
    let _ = writeln!(out, "features:");
    let features: Vec<Vec<String>> = c
        .features
        .supported
        .iter()
        .map(|f| {
            let finalized = c
                .features
                .finalized
                .iter()
                .find(|x| x.name == f.name)
                .map_or("-".to_string(), |x| x.max_version_level.to_string());
            vec![
                format!("  {}", f.name),
                format!("{}..={}", f.min_version, f.max_version),
                finalized,
            ]
        })
        .collect();
    out.push_str(&table::render(
        &["  NAME", "SUPPORTED", "FINALIZED"],
        &features,
    ));
    out
}

pub fn cluster_json(c: &Cluster) -> Value {
    json!({
        "cluster_id": c.cluster.cluster_id,
        "controller": c.cluster.controller,
        "brokers": c.cluster.brokers.iter().map(|b| json!({
            "id": b.node,
            "host": b.host,
            "port": b.port,
            "rack": b.rack,
            "fenced": b.fenced,
        })).collect::<Vec<_>>(),
        "features": {
            "supported": c.features.supported.iter().map(|f| json!({
                "name": f.name, "min": f.min_version, "max": f.max_version,
            })).collect::<Vec<_>>(),
            "finalized": c.features.finalized.iter().map(|f| json!({
                "name": f.name, "min": f.min_version_level, "max": f.max_version_level,
            })).collect::<Vec<_>>(),
            "finalized_epoch": c.features.finalized_epoch,
        },
    })
}

/// The updates `kfk cluster features` asks for (none: only show).
pub fn feature_updates(
    upgrade: &[String],
    downgrade: &[String],
    unsafe_downgrade: bool,
) -> Result<Vec<FeatureUpdate>, String> {
    let parse = |flag: &str, s: &String| -> Result<(String, i16), String> {
        let (name, level) = s
            .split_once('=')
            .filter(|(n, _)| !n.is_empty())
            .ok_or_else(|| format!("--{flag} {s}: expected NAME=LEVEL"))?;
        let level: i16 = level
            .parse()
            .map_err(|_| format!("--{flag} {s}: {level} is not a level"))?;
        if level < 0 {
            return Err(format!("--{flag} {s}: negative level {level}"));
        }
        Ok((name.to_string(), level))
    };
    let mut out = Vec::new();
    for s in upgrade {
        let (name, level) = parse("upgrade", s)?;
        out.push(FeatureUpdate::new(name, level, FeatureUpgrade::Upgrade));
    }
    let kind = if unsafe_downgrade {
        FeatureUpgrade::UnsafeDowngrade
    } else {
        FeatureUpgrade::SafeDowngrade
    };
    for s in downgrade {
        let (name, level) = parse("downgrade", s)?;
        out.push(FeatureUpdate::new(name, level, kind));
    }
    Ok(out)
}

/// One row per feature: supported range and finalized level.
pub fn features_text(f: &FeatureDescription) -> String {
    let rows: Vec<Vec<String>> = f
        .supported
        .iter()
        .map(|s| {
            let finalized = f
                .finalized
                .iter()
                .find(|x| x.name == s.name)
                .map_or("-".to_string(), |x| x.max_version_level.to_string());
            vec![
                s.name.clone(),
                format!("{}..={}", s.min_version, s.max_version),
                finalized,
            ]
        })
        .collect();
    table::render(&["FEATURE", "SUPPORTED", "FINALIZED"], &rows)
}

pub fn features_json(f: &FeatureDescription) -> Value {
    json!({
        "supported": f.supported.iter().map(|s| json!({
            "name": s.name, "min": s.min_version, "max": s.max_version,
        })).collect::<Vec<_>>(),
        "finalized": f.finalized.iter().map(|x| json!({
            "name": x.name, "min": x.min_version_level, "max": x.max_version_level,
        })).collect::<Vec<_>>(),
        "finalized_epoch": f.finalized_epoch,
    })
}

pub fn feature_outcomes_json(done: &[FeatureOutcome]) -> Value {
    Value::Array(
        done.iter()
            .map(|o| {
                json!({
                    "feature": o.name,
                    "error": o.error.is_error().then(|| o.error.name()),
                    "message": o.message,
                })
            })
            .collect(),
    )
}

/// `--spec` of `kfk offsets`.
pub fn offset_spec(s: &str) -> Result<OffsetSpec, String> {
    Ok(match s {
        "earliest" => OffsetSpec::Earliest,
        "latest" => OffsetSpec::Latest,
        "max-timestamp" => OffsetSpec::MaxTimestamp,
        "earliest-local" => OffsetSpec::EarliestLocal,
        _ => match s.strip_prefix('@').map(str::parse::<i64>) {
            Some(Ok(ts)) if ts >= 0 => OffsetSpec::Timestamp(ts),
            _ => {
                return Err(format!(
                    "--spec {s}: expected earliest, latest, max-timestamp, earliest-local or @TIMESTAMP_MS"
                ))
            }
        },
    })
}

type Listed = kafka_tokio::Offsets;

pub fn offsets_text(found: &Listed) -> String {
    let show = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
    let rows: Vec<Vec<String>> = found
        .iter()
        .map(|(tp, r)| match r {
            Ok(l) => vec![tp.partition.to_string(), show(l.offset), show(l.timestamp)],
            Err(e) => vec![
                tp.partition.to_string(),
                format!("error: {e}"),
                String::new(),
            ],
        })
        .collect();
    table::render(&["PARTITION", "OFFSET", "TIMESTAMP"], &rows)
}

pub fn offsets_json(found: &Listed) -> Value {
    Value::Array(
        found
            .iter()
            .map(|(tp, r)| match r {
                Ok(l) => json!({
                    "partition": tp.partition,
                    "offset": l.offset,
                    "timestamp": l.timestamp,
                }),
                Err(e) => json!({"partition": tp.partition, "error": e.to_string()}),
            })
            .collect(),
    )
}
