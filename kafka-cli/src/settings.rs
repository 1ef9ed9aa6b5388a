//! `-X key=value` client settings, named as in the Java client and kcat.

use std::time::Duration;

use kafka_state::consumer::IsolationLevel;
use kafka_state::Config;

/// The `-X` keys this tool understands, for the error message.
const KNOWN: &[&str] = &[
    "client.id",
    "request.timeout.ms",
    "socket.connection.setup.timeout.ms",
    "default.api.timeout.ms",
    "reconnect.backoff.ms",
    "reconnect.backoff.max.ms",
    "retry.backoff.ms",
    "metadata.max.age.ms",
    "max.in.flight.requests.per.connection",
    "isolation.level",
    "auto.offset.reset",
    "group.id",
    "group.instance.id",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "rebalance.timeout.ms",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "partition.assignment.strategy",
    "client.rack",
    "group.protocol",
    "group.remote.assignor",
    "statistics.interval.ms",
];

/// The assignors `partition.assignment.strategy` names, as the short
/// names the protocol uses or the Java client's class names.
fn assignor(name: &str) -> Result<kafka_state::group::MakeAssignor, String> {
    use kafka_state::group::{
        Assignor, CooperativeStickyAssignor, RangeAssignor, RoundRobinAssignor, StickyAssignor,
    };
    let short = name.rsplit('.').next().unwrap_or(name);
    let make: kafka_state::group::MakeAssignor = match short {
        "range" | "RangeAssignor" => {
            std::sync::Arc::new(|| Box::new(RangeAssignor) as Box<dyn Assignor>)
        }
        "roundrobin" | "RoundRobinAssignor" => {
            std::sync::Arc::new(|| Box::new(RoundRobinAssignor) as Box<dyn Assignor>)
        }
        "sticky" | "StickyAssignor" => {
            std::sync::Arc::new(|| Box::new(StickyAssignor::default()) as Box<dyn Assignor>)
        }
        "cooperative-sticky" | "CooperativeStickyAssignor" => std::sync::Arc::new(|| {
            Box::new(CooperativeStickyAssignor::default()) as Box<dyn Assignor>
        }),
        _ => {
            return Err(format!(
            "-X partition.assignment.strategy: unknown assignor {name} (known: range, roundrobin, sticky, cooperative-sticky)"
        ))
        }
    };
    Ok(make)
}

/// `classic` or `consumer` (KIP-848), as `group.protocol` in the Java
/// client (case-insensitive, as there).
pub fn group_protocol(value: &str) -> Result<kafka_state::group::GroupProtocol, String> {
    use kafka_state::group::GroupProtocol;
    match value.to_ascii_lowercase().as_str() {
        "classic" => Ok(GroupProtocol::Classic),
        "consumer" => Ok(GroupProtocol::Consumer),
        _ => Err(format!(
            "group.protocol {value}: expected classic or consumer"
        )),
    }
}

/// `read_committed` or `read_uncommitted`, as in the Java client.
pub fn isolation(value: &str) -> Result<IsolationLevel, String> {
    match value {
        "read_committed" => Ok(IsolationLevel::ReadCommitted),
        "read_uncommitted" => Ok(IsolationLevel::ReadUncommitted),
        _ => Err(format!(
            "isolation level {value}: expected read_committed or read_uncommitted"
        )),
    }
}

/// Sets the group's assignors from a comma-separated list of names.
pub fn apply_group_assignors(
    group: &mut kafka_state::group::GroupConfig,
    names: &str,
) -> Result<(), String> {
    let assignors: Vec<_> = names
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(assignor)
        .collect::<Result<_, _>>()?;
    if assignors.is_empty() {
        return Err("no assignor named".into());
    }
    group.assignors = assignors;
    Ok(())
}

/// Applies one `key=value` to `config`.
pub fn apply(config: &mut Config, setting: &str) -> Result<(), String> {
    let (key, value) = setting
        .split_once('=')
        .ok_or_else(|| format!("-X {setting}: expected KEY=VALUE"))?;
    let (key, value) = (key.trim(), value.trim());
    let ms = || -> Result<Duration, String> {
        value
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| format!("-X {key}: not a number of milliseconds: {value}"))
    };
    match key {
        "client.id" => config.client_id = Some(value.to_string()),
        "request.timeout.ms" => config.request_timeout = ms()?,
        "socket.connection.setup.timeout.ms" => config.connection_setup_timeout = ms()?,
        "default.api.timeout.ms" => config.api_timeout = ms()?,
        "reconnect.backoff.ms" => config.reconnect_backoff = ms()?,
        "reconnect.backoff.max.ms" => config.reconnect_backoff_max = ms()?,
        "retry.backoff.ms" => config.retry_backoff = ms()?,
        "metadata.max.age.ms" => config.metadata_max_age = ms()?,
        // 0 turns them off, as in librdkafka.
        "statistics.interval.ms" => {
            config.stats_interval = Some(ms()?).filter(|d| !d.is_zero());
        }
        "max.in.flight.requests.per.connection" => {
            config.max_in_flight = value
                .parse()
                .map_err(|_| format!("-X {key}: not a count: {value}"))?;
        }
        "isolation.level" => {
            config.consumer.isolation_level = isolation(value).map_err(|e| format!("-X {e}"))?;
        }
        "auto.offset.reset" => {
            use kafka_state::consumer::AutoOffsetReset;
            config.consumer.auto_offset_reset = match value {
                "earliest" => AutoOffsetReset::Earliest,
                "latest" => AutoOffsetReset::Latest,
                "none" => AutoOffsetReset::None,
                _ => {
                    return Err(format!(
                        "-X {key}: expected earliest, latest or none: {value}"
                    ))
                }
            };
        }
        "group.id"
        | "group.instance.id"
        | "session.timeout.ms"
        | "heartbeat.interval.ms"
        | "max.poll.interval.ms"
        | "rebalance.timeout.ms"
        | "enable.auto.commit"
        | "auto.commit.interval.ms"
        | "partition.assignment.strategy"
        | "client.rack"
        | "group.protocol"
        | "group.remote.assignor" => {
            // The group id may come later (-G); `config` checks it is set.
            let group = config
                .group
                .get_or_insert_with(|| kafka_state::group::GroupConfig::new(""));
            match key {
                "group.id" => group.group_id = value.to_string(),
                "group.instance.id" => group.group_instance_id = Some(value.to_string()),
                "session.timeout.ms" => group.session_timeout = ms()?,
                "heartbeat.interval.ms" => group.heartbeat_interval = ms()?,
                "max.poll.interval.ms" => group.max_poll_interval = ms()?,
                "rebalance.timeout.ms" => group.rebalance_timeout = Some(ms()?),
                "auto.commit.interval.ms" => group.auto_commit_interval = ms()?,
                "client.rack" => group.client_rack = Some(value.to_string()),
                "group.protocol" => group.group_protocol = group_protocol(value)?,
                "group.remote.assignor" => group.remote_assignor = Some(value.to_string()),
                "enable.auto.commit" => {
                    group.enable_auto_commit = match value {
                        "true" => true,
                        "false" => false,
                        _ => return Err(format!("-X {key}: expected true or false: {value}")),
                    }
                }
                _ => apply_group_assignors(group, value)?,
            }
        }
        _ => {
            return Err(format!(
                "-X {key}: unknown setting (known: {})",
                KNOWN.join(", ")
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_protocol_and_remote_assignor() {
        use kafka_state::group::GroupProtocol;
        let mut c = Config::default();
        apply(&mut c, "group.protocol=consumer").unwrap();
        apply(&mut c, "group.remote.assignor=uniform").unwrap();
        let g = c.group.as_ref().unwrap();
        assert_eq!(g.group_protocol, GroupProtocol::Consumer);
        assert_eq!(g.remote_assignor.as_deref(), Some("uniform"));
        apply(&mut c, "group.protocol=CLASSIC").unwrap();
        assert_eq!(c.group.unwrap().group_protocol, GroupProtocol::Classic);
        let mut c = Config::default();
        assert!(apply(&mut c, "group.protocol=modern").is_err());
    }

    #[test]
    fn applies_known_keys_and_rejects_the_rest() {
        let mut c = Config::default();
        apply(&mut c, "request.timeout.ms=1500").unwrap();
        assert_eq!(c.request_timeout, Duration::from_millis(1500));
        apply(&mut c, "client.id = kfk-test").unwrap();
        assert_eq!(c.client_id.as_deref(), Some("kfk-test"));
        assert!(apply(&mut c, "request.timeout.ms=soon").is_err());
        assert!(apply(&mut c, "no.such.key=1")
            .unwrap_err()
            .contains("unknown"));
        assert!(apply(&mut c, "missing-equals").is_err());
        assert_eq!(c.consumer.isolation_level, IsolationLevel::ReadUncommitted);
        apply(&mut c, "isolation.level=read_committed").unwrap();
        assert_eq!(c.consumer.isolation_level, IsolationLevel::ReadCommitted);
        apply(&mut c, "isolation.level=read_uncommitted").unwrap();
        assert_eq!(c.consumer.isolation_level, IsolationLevel::ReadUncommitted);
        assert!(apply(&mut c, "isolation.level=committed").is_err());
    }

    #[test]
    fn group_settings_build_the_group_config() {
        let mut c = Config::default();
        assert!(c.group.is_none());
        apply(&mut c, "session.timeout.ms=12000").unwrap();
        apply(&mut c, "enable.auto.commit=false").unwrap();
        apply(
            &mut c,
            "partition.assignment.strategy=roundrobin, org.apache.kafka.clients.consumer.RangeAssignor, cooperative-sticky",
        )
        .unwrap();
        apply(&mut c, "group.id=g1").unwrap();
        apply(&mut c, "auto.offset.reset=earliest").unwrap();
        let g = c.group.as_ref().unwrap();
        assert_eq!(g.group_id, "g1");
        assert_eq!(g.session_timeout, Duration::from_secs(12));
        assert!(!g.enable_auto_commit);
        let names: Vec<String> = g.assignors.iter().map(|m| m().name().to_string()).collect();
        assert_eq!(names, ["roundrobin", "range", "cooperative-sticky"]);
        assert!(apply(&mut c, "partition.assignment.strategy=fancy").is_err());
        assert!(apply(&mut c, "enable.auto.commit=yes").is_err());
        assert!(apply(&mut c, "auto.offset.reset=soon").is_err());
        c.group.as_ref().unwrap().validate().unwrap();
    }
}
