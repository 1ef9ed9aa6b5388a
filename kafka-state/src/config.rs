//! Client settings and broker addresses.

use std::fmt;
use std::time::Duration;

use crate::consumer::ConsumerConfig;
use crate::error::Misuse;
use crate::group::GroupConfig;
use crate::producer::ProducerConfig;
use crate::sasl::SaslConfig;

/// A broker's address as the client knows it: a host name (not resolved
/// here; the adapter resolves it) and a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BrokerAddr {
    /// Host name or IP literal.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl BrokerAddr {
    /// An address from its parts.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
        }
    }

    /// Parses `host:port` (an IPv6 literal goes in brackets: `[::1]:9092`).
    pub fn parse(s: &str) -> Result<Self, Misuse> {
        let bad = || Misuse::InvalidBootstrap(s.to_string());
        let s = s.trim();
        let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port: u16 = port.parse().map_err(|_| bad())?;
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        Ok(Self::new(host, port))
    }

    /// Parses a comma-separated list such as `a:9092,b:9092`.
    pub fn parse_list(s: &str) -> Result<Vec<Self>, Misuse> {
        s.split(',')
            .filter(|p| !p.trim().is_empty())
            .map(Self::parse)
            .collect()
    }
}

impl fmt::Display for BrokerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Settings of a [`Client`](crate::Client).
///
/// Start from [`Config::new`] and change the public fields; the names
/// follow the Java client's settings where one exists.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Brokers to bootstrap from (`bootstrap.servers`); tried in turn.
    pub bootstrap: Vec<BrokerAddr>,
    /// `client.id` sent in every request header; `None` picks
    /// `kafka-rs-<suffix>` with a suffix drawn from [`Config::seed`].
    pub client_id: Option<String>,
    /// How long a sent request may wait for its response before the
    /// connection is closed (`request.timeout.ms`).
    pub request_timeout: Duration,
    /// How long a new connection may take to become ready, ApiVersions
    /// included (`socket.connection.setup.timeout.ms`).
    pub connection_setup_timeout: Duration,
    /// How long a request may wait in the queue for a usable connection
    /// before it fails (`default.api.timeout.ms`).
    pub api_timeout: Duration,
    /// First reconnect delay after a failure (`reconnect.backoff.ms`).
    pub reconnect_backoff: Duration,
    /// Cap of the exponential reconnect delay (`reconnect.backoff.max.ms`).
    pub reconnect_backoff_max: Duration,
    /// Delay before retrying a failed metadata fetch (`retry.backoff.ms`).
    pub retry_backoff: Duration,
    /// Metadata older than this is refreshed (`metadata.max.age.ms`).
    pub metadata_max_age: Duration,
    /// Most requests outstanding on one connection
    /// (`max.in.flight.requests.per.connection`); at least 1.
    pub max_in_flight: usize,
    /// Largest response frame accepted; a larger declared size closes the
    /// connection before anything is allocated.
    pub max_frame_size: usize,
    /// Producer settings ([`ProducerConfig`]).
    pub producer: ProducerConfig,
    /// Seed of every random choice: reconnect jitter, broker choice, the
    /// default client id, SCRAM nonces. The same seed and inputs give the
    /// same outputs. The core reads no OS randomness, so a production
    /// adapter should draw this seed at random (SCRAM nonces must not be
    /// predictable); tests and simulations fix it.
    pub seed: u64,
    /// Consumer settings.
    pub consumer: ConsumerConfig,
    /// The consumer group to join with
    /// [`Consumer::subscribe`](crate::Consumer::subscribe); `None` for
    /// manual assignment only.
    pub group: Option<GroupConfig>,
    /// SASL authentication of every connection (`sasl.mechanism` and
    /// `sasl.jaas.config`); `None` for none.
    pub sasl: Option<SaslConfig>,
    /// TLS on every connection (`security.protocol=SSL`/`SASL_SSL`);
    /// `None` for plaintext. Needs the `tls` feature.
    #[cfg(feature = "tls")]
    pub tls: Option<crate::tls::TlsConfig>,
    /// Push a statistics snapshot as [`Event::Stats`](crate::Event::Stats)
    /// this often (`statistics.interval.ms`); `None` (the default) for
    /// none. [`Client::stats`](crate::Client::stats) takes one at any
    /// time either way.
    pub stats_interval: Option<Duration>,
}

impl Default for Config {
    /// Defaults with an empty bootstrap list, for adapters that take the
    /// list separately.
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl Config {
    /// Defaults, with the bootstrap list parsed from `host:port[,..]`
    /// (IPv6 hosts in brackets).
    ///
    /// ```
    /// let config = kafka_state::Config::bootstrap("localhost:9092,[::1]:9093")?;
    /// assert_eq!(config.bootstrap.len(), 2);
    /// assert!(kafka_state::Config::bootstrap("no-port").is_err());
    /// # Ok::<(), kafka_state::Misuse>(())
    /// ```
    pub fn bootstrap(servers: &str) -> Result<Self, Misuse> {
        Ok(Self::new(BrokerAddr::parse_list(servers)?))
    }

    /// Defaults for everything but the bootstrap list.
    pub fn new(bootstrap: impl IntoIterator<Item = BrokerAddr>) -> Self {
        Self {
            bootstrap: bootstrap.into_iter().collect(),
            client_id: None,
            request_timeout: Duration::from_secs(30),
            connection_setup_timeout: Duration::from_secs(10),
            api_timeout: Duration::from_secs(60),
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_secs(1),
            retry_backoff: Duration::from_millis(100),
            metadata_max_age: Duration::from_secs(300),
            max_in_flight: 5,
            max_frame_size: kafka_proto::frame::DEFAULT_MAX_FRAME_SIZE,
            producer: ProducerConfig::default(),
            seed: 0,
            sasl: None,
            #[cfg(feature = "tls")]
            tls: None,
            consumer: ConsumerConfig::default(),
            group: None,
            stats_interval: None,
        }
    }

    /// Checks the settings; [`Client::new`](crate::Client::new) calls it.
    pub fn validate(&self) -> Result<(), Misuse> {
        if self.bootstrap.is_empty() {
            return Err(Misuse::InvalidConfig("bootstrap list is empty"));
        }
        if self
            .stats_interval
            .is_some_and(|d| d < Duration::from_millis(1))
        {
            return Err(Misuse::InvalidConfig(
                "stats_interval must be at least 1 ms",
            ));
        }
        if self.max_in_flight == 0 {
            return Err(Misuse::InvalidConfig("max_in_flight must be at least 1"));
        }
        if self.max_frame_size < 8 {
            return Err(Misuse::InvalidConfig("max_frame_size is too small"));
        }
        if self.reconnect_backoff.is_zero() || self.reconnect_backoff_max < self.reconnect_backoff {
            return Err(Misuse::InvalidConfig(
                "reconnect_backoff must be positive and at most reconnect_backoff_max",
            ));
        }
        if self.request_timeout.is_zero() || self.connection_setup_timeout.is_zero() {
            return Err(Misuse::InvalidConfig("timeouts must be positive"));
        }
        self.producer.validate(self.request_timeout)?;
        if let Some(sasl) = &self.sasl {
            sasl.validate()?;
        }
        if let Some(id) = &self.client_id {
            if id.len() > i16::MAX as usize {
                return Err(Misuse::InvalidConfig("client_id is too long"));
            }
        }
        if let Some(group) = &self.group {
            group.validate()?;
        }
        self.consumer.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses() {
        assert_eq!(
            BrokerAddr::parse("kafka-1:9092").unwrap(),
            BrokerAddr::new("kafka-1", 9092)
        );
        assert_eq!(
            BrokerAddr::parse("[::1]:9093").unwrap(),
            BrokerAddr::new("::1", 9093)
        );
        assert_eq!(BrokerAddr::new("::1", 9093).to_string(), "[::1]:9093");
        assert_eq!(BrokerAddr::parse_list("a:1, b:2").unwrap().len(), 2);
        for bad in ["nohost", ":9092", "h:0", "h:99999", "h:x"] {
            assert!(BrokerAddr::parse(bad).is_err(), "{bad}");
        }
    }
}
