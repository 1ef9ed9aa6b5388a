//! DescribeConfigs and IncrementalAlterConfigs for topic configs, and a
//! read-only view of broker configs.
//!
//! A topic's configs are its explicit ones (set by CreateTopics or
//! IncrementalAlterConfigs, reported as dynamic topic configs) over a table
//! of Kafka's topic configs and their defaults. Defaults the cluster
//! changes (`max.message.bytes`, `message.timestamp.type`,
//! `retention.bytes`) are reported as static broker configs. Broker
//! configs are the broker-level names of that table plus a few of the
//! cluster's settings; they cannot be altered.

use std::collections::{BTreeMap, HashSet};

use kafka_proto::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_proto::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_proto::messages::{
    DescribeConfigsRequest, DescribeConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use kafka_proto::{ApiKey, ErrorCode, ResponseBody};

use crate::cluster::{Cluster, Reply};
use crate::Ctx;

/// `ResourceType` of a topic.
const RESOURCE_TOPIC: i8 = 2;
/// `ResourceType` of a broker.
const RESOURCE_BROKER: i8 = 4;

/// `ConfigSource` values (DescribeConfigs v1+).
const SOURCE_TOPIC: i8 = 1;
const SOURCE_STATIC_BROKER: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;

/// `ConfigOperation` values of IncrementalAlterConfigs.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

/// `ConfigType` values (DescribeConfigs v3+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Unknown = 0,
    Boolean = 1,
    String = 2,
    Int = 3,
    Long = 5,
    Double = 6,
    List = 7,
}

/// One topic config Kafka knows.
struct Def {
    name: &'static str,
    ty: Type,
    default: &'static str,
    /// The broker config supplying the default, if any.
    broker: Option<&'static str>,
    /// Smallest accepted value of a number.
    min: i64,
    /// Accepted values (each element, for lists); empty accepts any.
    valid: &'static [&'static str],
    doc: &'static str,
}

const fn def(
    name: &'static str,
    ty: Type,
    default: &'static str,
    broker: Option<&'static str>,
    doc: &'static str,
) -> Def {
    Def {
        name,
        ty,
        default,
        broker,
        min: i64::MIN,
        valid: &[],
        doc,
    }
}

const fn min(mut d: Def, min: i64) -> Def {
    d.min = min;
    d
}

const fn one_of(mut d: Def, valid: &'static [&'static str]) -> Def {
    d.valid = valid;
    d
}

const LONG_MAX: &str = "9223372036854775807";

/// Kafka's topic configs, sorted by name, with their defaults.
const TOPIC_CONFIGS: &[Def] = &[
    one_of(
        def(
            "cleanup.policy",
            Type::List,
            "delete",
            Some("log.cleanup.policy"),
            "Whether old segments are deleted, compacted, or both.",
        ),
        &["delete", "compact"],
    ),
    min(
        def(
            "compression.gzip.level",
            Type::Int,
            "-1",
            Some("compression.gzip.level"),
            "Level when the broker recompresses with gzip; -1 for the codec's default.",
        ),
        -1,
    ),
    min(
        def(
            "compression.lz4.level",
            Type::Int,
            "9",
            Some("compression.lz4.level"),
            "Level when the broker recompresses with lz4.",
        ),
        1,
    ),
    one_of(
        def(
            "compression.type",
            Type::String,
            "producer",
            Some("compression.type"),
            "Codec of stored batches; `producer` keeps the producer's.",
        ),
        &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"],
    ),
    min(
        def(
            "compression.zstd.level",
            Type::Int,
            "3",
            Some("compression.zstd.level"),
            "Level when the broker recompresses with zstd.",
        ),
        -131_072,
    ),
    min(
        def(
            "delete.retention.ms",
            Type::Long,
            "86400000",
            Some("log.cleaner.delete.retention.ms"),
            "How long tombstones are kept in compacted topics.",
        ),
        0,
    ),
    def(
        "errors.deadletterqueue.group.enable",
        Type::Boolean,
        "false",
        None,
        "Whether groups may use this topic as a dead-letter queue.",
    ),
    min(
        def(
            "file.delete.delay.ms",
            Type::Long,
            "60000",
            Some("log.segment.delete.delay.ms"),
            "Wait before a deleted segment's file is removed.",
        ),
        0,
    ),
    min(
        def(
            "flush.messages",
            Type::Long,
            LONG_MAX,
            Some("log.flush.interval.messages"),
            "Messages between forced flushes to disk.",
        ),
        1,
    ),
    min(
        def(
            "flush.ms",
            Type::Long,
            LONG_MAX,
            Some("log.flush.interval.ms"),
            "Milliseconds between forced flushes to disk.",
        ),
        0,
    ),
    def(
        "follower.replication.throttled.replicas",
        Type::List,
        "",
        None,
        "Replicas throttled on the follower side.",
    ),
    min(
        def(
            "index.interval.bytes",
            Type::Int,
            "4096",
            Some("log.index.interval.bytes"),
            "Bytes between offset index entries.",
        ),
        0,
    ),
    def(
        "leader.replication.throttled.replicas",
        Type::List,
        "",
        None,
        "Replicas throttled on the leader side.",
    ),
    min(
        def(
            "local.retention.bytes",
            Type::Long,
            "-2",
            Some("log.local.retention.bytes"),
            "Bytes kept locally when tiered storage is on.",
        ),
        -2,
    ),
    min(
        def(
            "local.retention.ms",
            Type::Long,
            "-2",
            Some("log.local.retention.ms"),
            "Time kept locally when tiered storage is on.",
        ),
        -2,
    ),
    min(
        def(
            "max.compaction.lag.ms",
            Type::Long,
            LONG_MAX,
            Some("log.cleaner.max.compaction.lag.ms"),
            "Longest a message stays uncompacted.",
        ),
        1,
    ),
    min(
        def(
            "max.decompressed.message.bytes",
            Type::Int,
            "2147483639",
            None,
            "Largest size a compressed batch may inflate to.",
        ),
        0,
    ),
    min(
        def(
            "max.message.bytes",
            Type::Int,
            "1048588",
            Some("message.max.bytes"),
            "Largest record batch the topic accepts.",
        ),
        0,
    ),
    min(
        def(
            "message.timestamp.after.max.ms",
            Type::Long,
            "3600000",
            Some("log.message.timestamp.after.max.ms"),
            "How far ahead of the broker's clock a timestamp may be.",
        ),
        0,
    ),
    min(
        def(
            "message.timestamp.before.max.ms",
            Type::Long,
            LONG_MAX,
            Some("log.message.timestamp.before.max.ms"),
            "How far behind the broker's clock a timestamp may be.",
        ),
        0,
    ),
    one_of(
        def(
            "message.timestamp.type",
            Type::String,
            "CreateTime",
            Some("log.message.timestamp.type"),
            "Keep the producer's timestamp or stamp the append time.",
        ),
        &["CreateTime", "LogAppendTime"],
    ),
    def(
        "min.cleanable.dirty.ratio",
        Type::Double,
        "0.5",
        Some("log.cleaner.min.cleanable.ratio"),
        "Dirty share of the log that triggers compaction.",
    ),
    min(
        def(
            "min.compaction.lag.ms",
            Type::Long,
            "0",
            Some("log.cleaner.min.compaction.lag.ms"),
            "Shortest a message stays uncompacted.",
        ),
        0,
    ),
    min(
        def(
            "min.insync.replicas",
            Type::Int,
            "1",
            Some("min.insync.replicas"),
            "In-sync replicas an acks=all write needs.",
        ),
        1,
    ),
    def(
        "preallocate",
        Type::Boolean,
        "false",
        Some("log.preallocate"),
        "Preallocate segment files.",
    ),
    min(
        def(
            "remote.copy.lag.bytes",
            Type::Long,
            "-1",
            None,
            "Bytes a tiered partition may lag behind before copying is forced.",
        ),
        -1,
    ),
    min(
        def(
            "remote.copy.lag.ms",
            Type::Long,
            "0",
            None,
            "Time a tiered partition may lag behind before copying is forced.",
        ),
        0,
    ),
    def(
        "remote.log.copy.disable",
        Type::Boolean,
        "false",
        None,
        "Stop copying segments to tiered storage.",
    ),
    def(
        "remote.log.delete.on.disable",
        Type::Boolean,
        "false",
        None,
        "Delete tiered data when tiering is turned off.",
    ),
    def(
        "remote.storage.enable",
        Type::Boolean,
        "false",
        None,
        "Tiered storage for the topic.",
    ),
    min(
        def(
            "retention.bytes",
            Type::Long,
            "-1",
            Some("log.retention.bytes"),
            "Bytes kept per partition; -1 for no limit.",
        ),
        -1,
    ),
    min(
        def(
            "retention.ms",
            Type::Long,
            "604800000",
            Some("log.retention.ms"),
            "How long messages are kept; -1 for ever.",
        ),
        -1,
    ),
    min(
        def(
            "segment.bytes",
            Type::Int,
            "1073741824",
            Some("log.segment.bytes"),
            "Size of a log segment file.",
        ),
        14,
    ),
    min(
        def(
            "segment.index.bytes",
            Type::Int,
            "10485760",
            Some("log.index.size.max.bytes"),
            "Size of a segment's offset index.",
        ),
        4,
    ),
    min(
        def(
            "segment.jitter.ms",
            Type::Long,
            "0",
            Some("log.roll.jitter.ms"),
            "Random jitter subtracted from segment.ms.",
        ),
        0,
    ),
    min(
        def(
            "segment.ms",
            Type::Long,
            "604800000",
            Some("log.roll.ms"),
            "Time after which a segment is rolled.",
        ),
        1,
    ),
    def(
        "unclean.leader.election.enable",
        Type::Boolean,
        "false",
        Some("unclean.leader.election.enable"),
        "Allow an out-of-sync replica to become leader.",
    ),
];

fn topic_def(name: &str) -> Option<&'static Def> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Whether `value` is acceptable for `d`; the reason if not.
fn validate(d: &Def, value: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "Invalid value {value} for configuration {}: {why}",
            d.name
        ))
    };
    let number = |v: &str| -> Result<(), String> {
        match v.trim().parse::<i64>() {
            Ok(n) if n < d.min => bad(&format!("value must be at least {}", d.min)),
            Ok(n) if d.ty == Type::Int && i32::try_from(n).is_err() => bad("not a 32-bit integer"),
            Ok(_) => Ok(()),
            Err(_) => bad("not a number"),
        }
    };
    match d.ty {
        Type::Boolean => match value.trim().to_ascii_lowercase().as_str() {
            "true" | "false" => Ok(()),
            _ => bad("expected true or false"),
        },
        Type::Int | Type::Long => number(value),
        Type::Double => match value.trim().parse::<f64>() {
            Ok(x) if (0.0..=1.0).contains(&x) => Ok(()),
            _ => bad("expected a number between 0 and 1"),
        },
        Type::List => {
            for item in split_list(value) {
                if !d.valid.is_empty() && !d.valid.contains(&item) {
                    return bad(&format!("expected a list of {}", d.valid.join(", ")));
                }
            }
            Ok(())
        }
        Type::String | Type::Unknown => {
            if d.valid.is_empty() || d.valid.contains(&value) {
                Ok(())
            } else {
                bad(&format!("expected one of {}", d.valid.join(", ")))
            }
        }
    }
}

fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// A config's value as the cluster would report it, with its source.
struct Entry {
    name: String,
    value: Option<String>,
    source: i8,
    ty: Type,
    read_only: bool,
    synonyms: Vec<(String, Option<String>, i8)>,
    doc: Option<&'static str>,
}

impl Cluster {
    /// The default of a topic config on this cluster, and whether it comes
    /// from the cluster's settings (a static broker config) rather than Kafka's.
    fn topic_default(&self, d: &Def) -> (String, bool) {
        let cfg = &self.config;
        match d.name {
            "max.message.bytes" => {
                let v = cfg.max_message_bytes.to_string();
                let changed = v != d.default;
                (v, changed)
            }
            "message.timestamp.type" if cfg.log_append_time => ("LogAppendTime".into(), true),
            "retention.bytes" => (cfg.retention_bytes.to_string(), true),
            _ => (d.default.to_string(), false),
        }
    }

    fn topic_entries(&self, explicit: &BTreeMap<String, String>) -> Vec<Entry> {
        let mut out: Vec<Entry> = TOPIC_CONFIGS
            .iter()
            .map(|d| {
                let (default, from_broker) = self.topic_default(d);
                let mut synonyms = Vec::new();
                let set = explicit.get(d.name);
                if let Some(v) = set {
                    synonyms.push((d.name.to_string(), Some(v.clone()), SOURCE_TOPIC));
                }
                if let Some(b) = d.broker {
                    if from_broker {
                        synonyms.push((b.to_string(), Some(default.clone()), SOURCE_STATIC_BROKER));
                    }
                    synonyms.push((b.to_string(), Some(d.default.to_string()), SOURCE_DEFAULT));
                }
                let (value, source) = match set {
                    Some(v) => (v.clone(), SOURCE_TOPIC),
                    None if from_broker => (default, SOURCE_STATIC_BROKER),
                    None => (default, SOURCE_DEFAULT),
                };
                Entry {
                    name: d.name.to_string(),
                    value: Some(value),
                    source,
                    ty: d.ty,
                    read_only: false,
                    synonyms,
                    doc: Some(d.doc),
                }
            })
            .collect();
        // Explicit configs the table does not know (CreateTopics does not
        // validate names): reported as they are.
        for (name, value) in explicit {
            if topic_def(name).is_none() {
                out.push(Entry {
                    name: name.clone(),
                    value: Some(value.clone()),
                    source: SOURCE_TOPIC,
                    ty: Type::Unknown,
                    read_only: false,
                    synonyms: vec![(name.clone(), Some(value.clone()), SOURCE_TOPIC)],
                    doc: None,
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    fn broker_entries(&self, broker: i32) -> Vec<Entry> {
        let cfg = &self.config;
        let fixed = |name: &str, value: String, ty: Type, doc: &'static str| Entry {
            name: name.to_string(),
            value: Some(value.clone()),
            source: SOURCE_STATIC_BROKER,
            ty,
            read_only: true,
            synonyms: vec![(name.to_string(), Some(value), SOURCE_STATIC_BROKER)],
            doc: Some(doc),
        };
        let mut out = vec![
            fixed(
                "broker.id",
                broker.to_string(),
                Type::Int,
                "This broker's node id.",
            ),
            fixed(
                "num.partitions",
                cfg.default_partitions.to_string(),
                Type::Int,
                "Partitions of an automatically created topic.",
            ),
            fixed(
                "default.replication.factor",
                cfg.default_replication.to_string(),
                Type::Int,
                "Replication factor of an automatically created topic.",
            ),
            fixed(
                "auto.create.topics.enable",
                cfg.auto_create_topics.to_string(),
                Type::Boolean,
                "Create unknown topics on Metadata and Produce.",
            ),
        ];
        let mut seen: HashSet<&str> = out.iter().map(|e| e.name.as_str()).collect();
        let mut more = Vec::new();
        for d in TOPIC_CONFIGS {
            let Some(b) = d.broker else { continue };
            if !seen.insert(b) {
                continue;
            }
            let (value, from_broker) = self.topic_default(d);
            let mut synonyms = Vec::new();
            if from_broker {
                synonyms.push((b.to_string(), Some(value.clone()), SOURCE_STATIC_BROKER));
            }
            synonyms.push((b.to_string(), Some(d.default.to_string()), SOURCE_DEFAULT));
            more.push(Entry {
                name: b.to_string(),
                value: Some(value),
                source: if from_broker {
                    SOURCE_STATIC_BROKER
                } else {
                    SOURCE_DEFAULT
                },
                ty: d.ty,
                read_only: true,
                synonyms,
                doc: Some(d.doc),
            });
        }
        out.extend(more);
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    pub(crate) fn describe_configs(&mut self, ctx: &Ctx, req: DescribeConfigsRequest) -> Reply {
        let mut resp =
            DescribeConfigsResponse::default().with_throttle_time_ms(self.faults.throttle_ms);
        for r in req.resources {
            let mut result = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
                .with_error_message(None);
            let topic = (r.resource_type == RESOURCE_TOPIC).then_some(r.resource_name.as_str());
            let entries = if let Some(code) =
                self.faults
                    .take(ApiKey::DescribeConfigs, ctx.broker, topic, None)
            {
                Err((code, code.description().to_string()))
            } else {
                self.describe_resource(ctx, r.resource_type, &r.resource_name)
            };
            match entries {
                Err((code, message)) => {
                    result.error_code = code.code();
                    result.error_message = Some(message);
                }
                Ok(entries) => {
                    let keys = r.configuration_keys.filter(|k| !k.is_empty());
                    result.configs = entries
                        .into_iter()
                        .filter(|e| keys.as_ref().is_none_or(|k| k.contains(&e.name)))
                        .map(|e| {
                            let synonyms = if req.include_synonyms {
                                e.synonyms
                                    .into_iter()
                                    .map(|(name, value, source)| {
                                        DescribeConfigsSynonym::default()
                                            .with_name(name)
                                            .with_value(value)
                                            .with_source(source)
                                    })
                                    .collect()
                            } else {
                                Vec::new()
                            };
                            DescribeConfigsResourceResult::default()
                                .with_name(e.name)
                                .with_value(e.value)
                                .with_read_only(e.read_only)
                                // Only v0 has `is_default`; later versions carry the source.
                                .with_is_default(ctx.version == 0 && e.source == SOURCE_DEFAULT)
                                .with_config_source(e.source)
                                .with_is_sensitive(false)
                                .with_synonyms(synonyms)
                                .with_config_type(e.ty as i8)
                                .with_documentation(
                                    e.doc
                                        .filter(|_| req.include_documentation)
                                        .map(str::to_string),
                                )
                        })
                        .collect();
                }
            }
            resp.results.push(result);
        }
        Reply::Respond(ResponseBody::DescribeConfigs(resp))
    }

    fn describe_resource(
        &self,
        ctx: &Ctx,
        resource_type: i8,
        name: &str,
    ) -> Result<Vec<Entry>, (ErrorCode, String)> {
        match resource_type {
            RESOURCE_TOPIC => {
                if !crate::admin::valid_topic_name(name) {
                    return Err((
                        ErrorCode::InvalidTopicException,
                        format!("invalid topic name {name:?}"),
                    ));
                }
                match self.topics.get(name) {
                    Some(t) => Ok(self.topic_entries(&t.configs)),
                    None => Err((
                        ErrorCode::UnknownTopicOrPartition,
                        format!("Topic {name} does not exist"),
                    )),
                }
            }
            RESOURCE_BROKER if name.is_empty() => {
                // Cluster-wide dynamic defaults: the mock has none.
                Ok(Vec::new())
            }
            RESOURCE_BROKER if name.parse::<i32>().ok() == Some(ctx.broker) => {
                Ok(self.broker_entries(ctx.broker))
            }
            RESOURCE_BROKER => Err((
                ErrorCode::InvalidRequest,
                format!(
                    "Unexpected broker id, expected {} or empty string, but received {name}",
                    ctx.broker
                ),
            )),
            other => Err((
                ErrorCode::InvalidRequest,
                format!("Unsupported resource type {other}"),
            )),
        }
    }

    pub(crate) fn incremental_alter_configs(
        &mut self,
        ctx: &Ctx,
        req: IncrementalAlterConfigsRequest,
    ) -> Reply {
        let mut resp = IncrementalAlterConfigsResponse::default()
            .with_throttle_time_ms(self.faults.throttle_ms);
        for r in req.resources {
            let mut result = AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
                .with_error_message(None);
            let topic = (r.resource_type == RESOURCE_TOPIC).then_some(r.resource_name.as_str());
            let outcome = if let Some(code) =
                self.faults
                    .take(ApiKey::IncrementalAlterConfigs, ctx.broker, topic, None)
            {
                Err((code, code.description().to_string()))
            } else {
                match r.resource_type {
                    RESOURCE_TOPIC => {
                        self.alter_topic(&r.resource_name, &r.configs, req.validate_only)
                    }
                    RESOURCE_BROKER => Err((
                        ErrorCode::InvalidRequest,
                        "this mock does not alter broker configs".to_string(),
                    )),
                    other => Err((
                        ErrorCode::InvalidRequest,
                        format!("Unsupported resource type {other}"),
                    )),
                }
            };
            if let Err((code, message)) = outcome {
                result.error_code = code.code();
                result.error_message = Some(message);
            }
            resp.responses.push(result);
        }
        Reply::Respond(ResponseBody::IncrementalAlterConfigs(resp))
    }

    /// Applies every operation to a copy of the topic's configs; stores it
    /// only if all succeed and `validate_only` is false.
    fn alter_topic(
        &mut self,
        name: &str,
        ops: &[kafka_proto::messages::incremental_alter_configs_request::AlterableConfig],
        validate_only: bool,
    ) -> Result<(), (ErrorCode, String)> {
        let Some(topic) = self.topics.get(name) else {
            return Err((
                ErrorCode::UnknownTopicOrPartition,
                format!("Topic {name} does not exist"),
            ));
        };
        let mut seen = HashSet::new();
        if let Some(dup) = ops.iter().find(|op| !seen.insert(op.name.as_str())) {
            return Err((
                ErrorCode::InvalidRequest,
                format!("Error due to duplicate config keys: {}", dup.name),
            ));
        }
        let mut configs = topic.configs.clone();
        for op in ops {
            let Some(d) = topic_def(&op.name) else {
                return Err((
                    ErrorCode::InvalidConfig,
                    format!("Unknown topic config name: {}", op.name),
                ));
            };
            let value = || {
                op.value.clone().ok_or_else(|| {
                    (
                        ErrorCode::InvalidRequest,
                        format!("Null value not supported for : {}", op.name),
                    )
                })
            };
            let invalid = |m: String| (ErrorCode::InvalidConfig, m);
            match op.config_operation {
                OP_SET => {
                    let v = value()?;
                    validate(d, &v).map_err(invalid)?;
                    configs.insert(op.name.clone(), v);
                }
                OP_DELETE => {
                    configs.remove(&op.name);
                }
                OP_APPEND | OP_SUBTRACT => {
                    if d.ty != Type::List {
                        let verb = if op.config_operation == OP_APPEND {
                            "append"
                        } else {
                            "subtract"
                        };
                        return Err(invalid(format!(
                            "Config value {verb} is not allowed for config key: {}",
                            op.name
                        )));
                    }
                    let v = value()?;
                    let current = match configs.get(&op.name) {
                        Some(c) => c.clone(),
                        None => self.topic_default(d).0,
                    };
                    let old: Vec<&str> = split_list(&current).collect();
                    let given: Vec<&str> = split_list(&v).collect();
                    let new: Vec<&str> = if op.config_operation == OP_APPEND {
                        let mut list = old.clone();
                        for g in given {
                            if !list.contains(&g) {
                                list.push(g);
                            }
                        }
                        list
                    } else {
                        old.into_iter().filter(|o| !given.contains(o)).collect()
                    };
                    let joined = new.join(",");
                    validate(d, &joined).map_err(invalid)?;
                    configs.insert(op.name.clone(), joined);
                }
                other => {
                    return Err((
                        ErrorCode::InvalidRequest,
                        format!("Unknown config operation {other} for {}", op.name),
                    ));
                }
            }
        }
        if !validate_only {
            if let Some(topic) = self.topics.get_mut(name) {
                tracing::debug!(target: "kafka_mock::configs", topic = name, ?configs, "altered topic configs");
                topic.configs = configs;
            }
        }
        Ok(())
    }
}

impl Cluster {
    /// A topic config as a number: its explicit value, else the default.
    pub(crate) fn topic_config_i64(&self, topic: &str, name: &str) -> Option<i64> {
        let explicit = self.topics.get(topic).and_then(|t| t.configs.get(name));
        explicit
            .map(String::as_str)
            .or_else(|| topic_def(name).map(|d| d.default))
            .and_then(|v| v.parse().ok())
    }

    /// A topic's configs as CreateTopics (v5 and later) reports them: every
    /// config with its value and source, as Kafka does.
    pub(crate) fn created_topic_configs(
        &self,
        explicit: &BTreeMap<String, String>,
    ) -> Vec<kafka_proto::messages::create_topics_response::CreatableTopicConfigs> {
        self.topic_entries(explicit)
            .into_iter()
            .map(|e| {
                kafka_proto::messages::create_topics_response::CreatableTopicConfigs::default()
                    .with_name(e.name)
                    .with_value(e.value)
                    .with_read_only(e.read_only)
                    .with_config_source(e.source)
                    .with_is_sensitive(false)
            })
            .collect()
    }
}
