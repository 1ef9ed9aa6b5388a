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
];

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
        "max.in.flight.requests.per.connection" => {
            config.max_in_flight = value
                .parse()
                .map_err(|_| format!("-X {key}: not a count: {value}"))?;
        }
        "isolation.level" => {
            config.consumer.isolation_level = isolation(value).map_err(|e| format!("-X {e}"))?;
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
}
