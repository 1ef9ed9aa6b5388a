//! Consumer settings: [`ConsumerConfig`], a field of [`Config`](crate::Config).

use std::time::Duration;

use crate::error::Misuse;

/// Where a partition without a valid position starts
/// (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AutoOffsetReset {
    /// The oldest record still in the log.
    Earliest,
    /// The end of the log: only records written from now on.
    #[default]
    Latest,
    /// Nothing: report [`ConsumerEvent::NeedsPosition`](crate::consumer::ConsumerEvent::NeedsPosition)
    /// and wait for a seek.
    None,
}

/// Which records a fetch may return (`isolation.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IsolationLevel {
    /// Everything up to the high watermark, open and aborted transactions
    /// included.
    #[default]
    ReadUncommitted,
    /// Only committed data: up to the last stable offset, aborted
    /// transactions filtered out.
    ReadCommitted,
}

impl IsolationLevel {
    pub(crate) fn wire(self) -> i8 {
        match self {
            Self::ReadUncommitted => 0,
            Self::ReadCommitted => 1,
        }
    }
}

/// Settings of the consumer, named after the Java client's.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerConfig {
    /// Bytes a broker should gather before answering a fetch
    /// (`fetch.min.bytes`).
    pub fetch_min_bytes: usize,
    /// Most bytes one fetch response should carry (`fetch.max.bytes`).
    pub fetch_max_bytes: usize,
    /// Most bytes per partition in one fetch response
    /// (`max.partition.fetch.bytes`). A first batch larger than this still
    /// comes back whole.
    pub max_partition_fetch_bytes: usize,
    /// How long a broker may hold a fetch waiting for `fetch_min_bytes`
    /// (`fetch.max.wait.ms`).
    pub fetch_max_wait: Duration,
    /// Where to start without a valid position.
    pub auto_offset_reset: AutoOffsetReset,
    /// Read uncommitted or only committed records.
    pub isolation_level: IsolationLevel,
    /// Check every batch's CRC when it arrives (`check.crcs`).
    pub check_crcs: bool,
    /// Largest size one compressed batch may inflate to.
    pub max_decompressed_size: usize,
    /// Whether the adapters store a record's offset as consumed
    /// ([`Consumer::store_offset`](crate::Consumer::store_offset)) once
    /// they hand the record to the application
    /// (`enable.auto.offset.store`). Turn it off to store offsets yourself
    /// once records are processed, so a commit never covers a record that
    /// was taken but not processed.
    pub enable_auto_offset_store: bool,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            fetch_min_bytes: 1,
            fetch_max_bytes: 50 << 20,
            max_partition_fetch_bytes: 1 << 20,
            fetch_max_wait: Duration::from_millis(500),
            auto_offset_reset: AutoOffsetReset::Latest,
            isolation_level: IsolationLevel::ReadUncommitted,
            check_crcs: true,
            max_decompressed_size: kafka_proto::record::DEFAULT_MAX_DECOMPRESSED_SIZE,
            enable_auto_offset_store: true,
        }
    }
}

impl ConsumerConfig {
    /// Checks the settings; [`Config::validate`](crate::Config::validate) calls it.
    pub fn validate(&self) -> Result<(), Misuse> {
        let max = i32::MAX as usize;
        if self.fetch_min_bytes > max {
            return Err(Misuse::InvalidConfig("fetch_min_bytes is too large"));
        }
        if self.fetch_max_bytes == 0 || self.fetch_max_bytes > max {
            return Err(Misuse::InvalidConfig(
                "fetch_max_bytes must be between 1 and i32::MAX",
            ));
        }
        if self.max_partition_fetch_bytes == 0 || self.max_partition_fetch_bytes > max {
            return Err(Misuse::InvalidConfig(
                "max_partition_fetch_bytes must be between 1 and i32::MAX",
            ));
        }
        if self.fetch_max_wait.as_millis() > i32::MAX as u128 {
            return Err(Misuse::InvalidConfig("fetch_max_wait is too long"));
        }
        if self.max_decompressed_size == 0 {
            return Err(Misuse::InvalidConfig(
                "max_decompressed_size must be positive",
            ));
        }
        Ok(())
    }

    pub(crate) fn max_wait_ms(&self) -> i32 {
        i32::try_from(self.fetch_max_wait.as_millis()).unwrap_or(i32::MAX)
    }
}

pub(crate) fn clamp_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_java_client_and_bad_values_are_refused() {
        let c = ConsumerConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(
            (
                c.fetch_min_bytes,
                c.fetch_max_bytes,
                c.max_partition_fetch_bytes
            ),
            (1, 50 << 20, 1 << 20)
        );
        assert_eq!(c.fetch_max_wait, Duration::from_millis(500));
        assert_eq!(c.auto_offset_reset, AutoOffsetReset::Latest);
        assert_eq!(c.isolation_level, IsolationLevel::ReadUncommitted);
        assert!(c.check_crcs);
        let bad = [
            ConsumerConfig {
                fetch_max_bytes: 0,
                ..c.clone()
            },
            ConsumerConfig {
                max_partition_fetch_bytes: 0,
                ..c.clone()
            },
            ConsumerConfig {
                fetch_min_bytes: usize::MAX,
                ..c.clone()
            },
            ConsumerConfig {
                fetch_max_wait: Duration::from_secs(1 << 40),
                ..c.clone()
            },
            ConsumerConfig {
                max_decompressed_size: 0,
                ..c.clone()
            },
        ];
        for b in bad {
            assert!(
                matches!(b.validate(), Err(Misuse::InvalidConfig(_))),
                "{b:?}"
            );
        }
        let mut config = crate::Config::new([crate::BrokerAddr::new("h", 1)]);
        config.consumer.fetch_max_bytes = 0;
        assert!(config.validate().is_err());
    }
}
