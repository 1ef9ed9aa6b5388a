//! DescribeConfigs and IncrementalAlterConfigs driven through the sans-IO
//! `Cluster` on a fake clock: defaults and explicit configs, filtering,
//! synonyms, documentation, broker resources, every alter operation,
//! validation, faults, and `message.timestamp.type` reaching Produce.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_mock::{Cluster, ClusterConfig, ConnId, ErrorInjection, Output};
use kafka_proto::frame::decode_response_frame;
use kafka_proto::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_proto::messages::describe_configs_request::DescribeConfigsResource;
use kafka_proto::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_proto::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_proto::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_proto::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_proto::messages::*;
use kafka_proto::record::{encode, BatchOptions, Record};
use kafka_proto::{ApiKey, ErrorCode, RequestBody, ResponseBody};

const CONN: ConnId = ConnId(7);
const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// One alteration: config name, operation, value.
type Op<'a> = (&'a str, i8, Option<&'a str>);

struct Harness {
    cluster: Cluster,
    start: Instant,
    now: Instant,
    correlation: i32,
}

impl Harness {
    fn new() -> Self {
        let now = Instant::now();
        let mut config = ClusterConfig::default();
        config.max_message_bytes = 2_000_000;
        let mut cluster = Cluster::new(config, now);
        cluster.handle_connected(now, CONN, 0);
        cluster.create_topic("t", 1, 1).unwrap();
        Self {
            cluster,
            start: now,
            now,
            correlation: 0,
        }
    }

    fn call(&mut self, version: i16, body: impl Into<RequestBody>) -> ResponseBody {
        let body = body.into();
        let key = body.api_key();
        self.correlation += 1;
        let frame = support::request_frame(self.correlation, version, &body, "configs-test");
        self.cluster.handle_frame(self.now, CONN, frame.clone());
        match self.cluster.poll_output() {
            Some(Output::Send { bytes, .. }) => {
                assert!(self.cluster.poll_output().is_none());
                decode_response_frame(bytes.slice(4..), key, version)
                    .unwrap()
                    .1
            }
            other => panic!("expected a response, got {other:?}"),
        }
    }

    fn describe(
        &mut self,
        version: i16,
        resources: Vec<DescribeConfigsResource>,
        synonyms: bool,
        docs: bool,
    ) -> DescribeConfigsResponse {
        let req = DescribeConfigsRequest::default()
            .with_resources(resources)
            .with_include_synonyms(synonyms)
            .with_include_documentation(docs);
        let ResponseBody::DescribeConfigs(r) = self.call(version, req) else {
            panic!()
        };
        r
    }

    fn describe_topic(&mut self, name: &str) -> DescribeConfigsResult {
        let mut r = self.describe(4, vec![topic(name, None)], false, false);
        r.results.remove(0)
    }

    fn alter(
        &mut self,
        validate_only: bool,
        resources: Vec<AlterConfigsResource>,
    ) -> Vec<AlterConfigsResourceResponse> {
        let req = IncrementalAlterConfigsRequest::default()
            .with_resources(resources)
            .with_validate_only(validate_only);
        let ResponseBody::IncrementalAlterConfigs(r) = self.call(1, req) else {
            panic!()
        };
        r.responses
    }

    fn alter_topic(&mut self, name: &str, ops: &[Op]) -> (i16, Option<String>) {
        let r = self.alter(false, vec![alter_resource(TOPIC, name, ops)]);
        (r[0].error_code, r[0].error_message.clone())
    }
}

fn topic(name: &str, keys: Option<&[&str]>) -> DescribeConfigsResource {
    DescribeConfigsResource::default()
        .with_resource_type(TOPIC)
        .with_resource_name(name.into())
        .with_configuration_keys(keys.map(|k| k.iter().map(|s| s.to_string()).collect()))
}

fn alter_resource(kind: i8, name: &str, ops: &[Op]) -> AlterConfigsResource {
    AlterConfigsResource::default()
        .with_resource_type(kind)
        .with_resource_name(name.into())
        .with_configs(
            ops.iter()
                .map(|(n, op, v)| {
                    AlterableConfig::default()
                        .with_name(n.to_string())
                        .with_config_operation(*op)
                        .with_value(v.map(str::to_string))
                })
                .collect(),
        )
}

fn entry<'a>(r: &'a DescribeConfigsResult, name: &str) -> &'a DescribeConfigsResourceResult {
    r.configs
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", r.configs))
}

fn value(r: &DescribeConfigsResult, name: &str) -> String {
    entry(r, name).value.clone().unwrap()
}

#[test]
fn topic_defaults_and_explicit_configs() {
    let mut t = Harness::new();
    let req = CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
        .with_name("c".into())
        .with_num_partitions(1)
        .with_replication_factor(1)
        .with_configs(vec![CreatableTopicConfig::default()
            .with_name("retention.ms".into())
            .with_value(Some("1000".into()))])]);
    let ResponseBody::CreateTopics(r) = t.call(7, req) else {
        panic!()
    };
    assert_eq!(r.topics[0].error_code, 0);

    let r = t.describe_topic("c");
    assert_eq!(r.error_code, 0);
    let retention = entry(&r, "retention.ms");
    assert_eq!(retention.value.as_deref(), Some("1000"));
    assert_eq!(retention.config_source, 1, "dynamic topic config");
    assert_eq!(retention.config_type, 5, "LONG");
    assert!(!retention.read_only);
    let cleanup = entry(&r, "cleanup.policy");
    assert_eq!(cleanup.value.as_deref(), Some("delete"));
    assert_eq!(cleanup.config_source, 5, "default config");
    assert_eq!(cleanup.config_type, 7, "LIST");
    assert!(cleanup.synonyms.is_empty(), "not asked for");
    assert!(cleanup.documentation.is_none(), "not asked for");
    assert_eq!(value(&r, "min.insync.replicas"), "1");
    assert_eq!(value(&r, "compression.type"), "producer");
    assert_eq!(value(&r, "message.timestamp.type"), "CreateTime");
    assert_eq!(value(&r, "segment.bytes"), "1073741824");
    let max = entry(&r, "max.message.bytes");
    assert_eq!(max.value.as_deref(), Some("2000000"), "the cluster's limit");
    assert_eq!(max.config_source, 4, "static broker config");
    let names: Vec<&str> = r.configs.iter().map(|c| c.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);

    // v0 carries is_default instead of the source.
    let r = t.describe(0, vec![topic("c", None)], false, false);
    assert!(entry(&r.results[0], "cleanup.policy").is_default);
    assert!(!entry(&r.results[0], "retention.ms").is_default);
}

#[test]
fn keys_filter_synonyms_and_documentation() {
    let mut t = Harness::new();
    t.alter_topic("t", &[("retention.ms", SET, Some("5000"))]);
    let r = t.describe(
        4,
        vec![topic(
            "t",
            Some(&["retention.ms", "cleanup.policy", "no.such.config"]),
        )],
        true,
        true,
    );
    let r = &r.results[0];
    let names: Vec<&str> = r.configs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["cleanup.policy", "retention.ms"]);
    let retention = entry(r, "retention.ms");
    let synonyms: Vec<(&str, Option<&str>, i8)> = retention
        .synonyms
        .iter()
        .map(|s| (s.name.as_str(), s.value.as_deref(), s.source))
        .collect();
    assert_eq!(
        synonyms,
        [
            ("retention.ms", Some("5000"), 1),
            ("log.retention.ms", Some("604800000"), 5)
        ]
    );
    assert!(retention
        .documentation
        .as_deref()
        .is_some_and(|d| !d.is_empty()));

    // An empty key list means every config, as a null one does.
    let all = t.describe_topic("t").configs.len();
    let r = t.describe(4, vec![topic("t", Some(&[]))], false, false);
    assert_eq!(r.results[0].configs.len(), all);
    assert!(all >= 20);
}

#[test]
fn unknown_topic_is_a_per_resource_error() {
    let mut t = Harness::new();
    let r = t.describe(
        4,
        vec![topic("missing", None), topic("t", None)],
        false,
        false,
    );
    assert_eq!(
        r.results[0].error_code,
        ErrorCode::UnknownTopicOrPartition.code()
    );
    assert_eq!(r.results[0].resource_name, "missing");
    assert!(r.results[0].configs.is_empty());
    assert_eq!(r.results[1].error_code, 0);
    assert!(!r.results[1].configs.is_empty());

    let r = t.describe(4, vec![topic("bad name!", None)], false, false);
    assert_eq!(
        r.results[0].error_code,
        ErrorCode::InvalidTopicException.code()
    );
}

#[test]
fn broker_resources() {
    let mut t = Harness::new();
    let broker = |name: &str| {
        DescribeConfigsResource::default()
            .with_resource_type(BROKER)
            .with_resource_name(name.into())
    };
    let r = t.describe(4, vec![broker("0"), broker("3"), broker("")], true, false);
    let own = &r.results[0];
    assert_eq!(own.error_code, 0);
    assert_eq!(value(own, "broker.id"), "0");
    assert_eq!(value(own, "message.max.bytes"), "2000000");
    assert_eq!(value(own, "log.retention.ms"), "604800000");
    assert_eq!(entry(own, "log.cleanup.policy").config_source, 5);
    assert!(entry(own, "broker.id").read_only);
    assert_eq!(r.results[1].error_code, ErrorCode::InvalidRequest.code());
    assert_eq!(r.results[2].error_code, 0);
    assert!(
        r.results[2].configs.is_empty(),
        "no dynamic cluster defaults"
    );

    let r = t.describe(
        4,
        vec![DescribeConfigsResource::default()
            .with_resource_type(8)
            .with_resource_name("x".into())],
        false,
        false,
    );
    assert_eq!(r.results[0].error_code, ErrorCode::InvalidRequest.code());
}

#[test]
fn set_delete_append_subtract() {
    let mut t = Harness::new();
    assert_eq!(
        t.alter_topic(
            "t",
            &[
                ("retention.ms", SET, Some("1234")),
                ("cleanup.policy", APPEND, Some("compact")),
            ]
        ),
        (0, None)
    );
    let r = t.describe_topic("t");
    assert_eq!(value(&r, "retention.ms"), "1234");
    assert_eq!(entry(&r, "retention.ms").config_source, 1);
    assert_eq!(
        value(&r, "cleanup.policy"),
        "delete,compact",
        "appended to the default"
    );

    // Appending what is there already changes nothing.
    t.alter_topic("t", &[("cleanup.policy", APPEND, Some("delete"))]);
    assert_eq!(
        value(&t.describe_topic("t"), "cleanup.policy"),
        "delete,compact"
    );

    t.alter_topic(
        "t",
        &[
            ("cleanup.policy", SUBTRACT, Some("delete")),
            ("retention.ms", DELETE, None),
        ],
    );
    let r = t.describe_topic("t");
    assert_eq!(value(&r, "cleanup.policy"), "compact");
    assert_eq!(value(&r, "retention.ms"), "604800000");
    assert_eq!(
        entry(&r, "retention.ms").config_source,
        5,
        "back to the default"
    );

    // Throttled-replica lists take any items.
    t.alter_topic(
        "t",
        &[(
            "leader.replication.throttled.replicas",
            APPEND,
            Some("0:1,0:2"),
        )],
    );
    t.alter_topic(
        "t",
        &[(
            "leader.replication.throttled.replicas",
            SUBTRACT,
            Some("0:1"),
        )],
    );
    assert_eq!(
        value(
            &t.describe_topic("t"),
            "leader.replication.throttled.replicas"
        ),
        "0:2"
    );
}

#[test]
fn validate_only_and_errors_change_nothing() {
    let mut t = Harness::new();
    let r = t.alter(
        true,
        vec![alter_resource(
            TOPIC,
            "t",
            &[("retention.ms", SET, Some("99"))],
        )],
    );
    assert_eq!(r[0].error_code, 0);
    assert_eq!(value(&t.describe_topic("t"), "retention.ms"), "604800000");

    let cases: &[(&[Op], ErrorCode)] = &[
        (
            &[("no.such.config", SET, Some("1"))],
            ErrorCode::InvalidConfig,
        ),
        (
            &[("retention.ms", SET, Some("soon"))],
            ErrorCode::InvalidConfig,
        ),
        (
            &[("retention.ms", SET, Some("-5"))],
            ErrorCode::InvalidConfig,
        ),
        (
            &[("min.insync.replicas", SET, Some("99999999999"))],
            ErrorCode::InvalidConfig,
        ),
        (
            &[("message.timestamp.type", SET, Some("Whenever"))],
            ErrorCode::InvalidConfig,
        ),
        (
            &[("cleanup.policy", APPEND, Some("shred"))],
            ErrorCode::InvalidConfig,
        ),
        (
            &[("retention.ms", APPEND, Some("1"))],
            ErrorCode::InvalidConfig,
        ),
        (
            &[("preallocate", SET, Some("maybe"))],
            ErrorCode::InvalidConfig,
        ),
        (&[("retention.ms", SET, None)], ErrorCode::InvalidRequest),
        (&[("retention.ms", 9, Some("1"))], ErrorCode::InvalidRequest),
        (
            &[
                ("retention.ms", SET, Some("1")),
                ("retention.ms", SET, Some("2")),
            ],
            ErrorCode::InvalidRequest,
        ),
        // All or nothing: the valid first op is not applied either.
        (
            &[
                ("retention.ms", SET, Some("1")),
                ("segment.ms", SET, Some("x")),
            ],
            ErrorCode::InvalidConfig,
        ),
    ];
    for (ops, code) in cases {
        let (got, message) = t.alter_topic("t", ops);
        assert_eq!(got, code.code(), "{ops:?}");
        assert!(message.is_some(), "{ops:?}");
    }
    assert_eq!(value(&t.describe_topic("t"), "retention.ms"), "604800000");

    let r = t.alter(
        false,
        vec![
            alter_resource(TOPIC, "missing", &[("retention.ms", SET, Some("1"))]),
            alter_resource(BROKER, "0", &[("log.retention.ms", SET, Some("1"))]),
            alter_resource(TOPIC, "t", &[("retention.ms", SET, Some("7"))]),
        ],
    );
    assert_eq!(r[0].error_code, ErrorCode::UnknownTopicOrPartition.code());
    assert_eq!(r[0].resource_name, "missing");
    assert_eq!(r[1].error_code, ErrorCode::InvalidRequest.code());
    assert_eq!(r[2].error_code, 0);
    assert_eq!(value(&t.describe_topic("t"), "retention.ms"), "7");
}

#[test]
fn faults_and_throttle() {
    let mut t = Harness::new();
    t.cluster.set_throttle_ms(250);
    t.cluster.inject_error(ErrorInjection::new(
        ApiKey::DescribeConfigs,
        ErrorCode::ThrottlingQuotaExceeded,
        1,
    ));
    let r = t.describe(4, vec![topic("t", None), topic("t", None)], false, false);
    assert_eq!(r.throttle_time_ms, 250);
    assert_eq!(
        r.results[0].error_code,
        ErrorCode::ThrottlingQuotaExceeded.code()
    );
    assert_eq!(r.results[1].error_code, 0, "one injection, one resource");

    t.cluster.inject_error(
        ErrorInjection::new(
            ApiKey::IncrementalAlterConfigs,
            ErrorCode::PolicyViolation,
            1,
        )
        .on_partition("t", 0),
    );
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![alter_resource(
        TOPIC,
        "t",
        &[("retention.ms", SET, Some("1"))],
    )]);
    let ResponseBody::IncrementalAlterConfigs(r) = t.call(1, req) else {
        panic!()
    };
    assert_eq!(r.throttle_time_ms, 250);
    // Configs are not partition-level: an injection tied to a partition
    // does not match; one tied to the topic only would.
    assert_eq!(r.responses[0].error_code, 0);
    let mut injection = ErrorInjection::new(
        ApiKey::IncrementalAlterConfigs,
        ErrorCode::PolicyViolation,
        1,
    );
    injection.topic = Some("t".into());
    t.cluster.inject_error(injection);
    let (code, _) = t.alter_topic("t", &[("retention.ms", SET, Some("2"))]);
    assert_eq!(code, ErrorCode::PolicyViolation.code());
    assert_eq!(value(&t.describe_topic("t"), "retention.ms"), "1");
}

fn produce(t: &mut Harness) -> ProduceResponse {
    let record = Record {
        offset: 0,
        timestamp: 1_000,
        value: Some(Bytes::from_static(b"v")),
        ..Record::default()
    };
    let batch = encode([record].iter(), &BatchOptions::default()).unwrap();
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name("t".into())
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch))])]);
    let ResponseBody::Produce(r) = t.call(9, req) else {
        panic!()
    };
    r
}

#[test]
fn log_append_time_set_by_alter_reaches_produce() {
    let mut t = Harness::new();
    let p = produce(&mut t);
    assert_eq!(p.responses[0].partition_responses[0].log_append_time_ms, -1);

    let (code, _) = t.alter_topic(
        "t",
        &[("message.timestamp.type", SET, Some("LogAppendTime"))],
    );
    assert_eq!(code, 0);
    t.now += Duration::from_millis(1500);
    let p = produce(&mut t);
    let part = &p.responses[0].partition_responses[0];
    assert_eq!(part.error_code, 0);
    let expected =
        ClusterConfig::default().epoch_millis + t.now.duration_since(t.start).as_millis() as i64;
    assert_eq!(part.log_append_time_ms, expected);

    t.alter_topic("t", &[("message.timestamp.type", DELETE, None)]);
    let p = produce(&mut t);
    assert_eq!(p.responses[0].partition_responses[0].log_append_time_ms, -1);
}
