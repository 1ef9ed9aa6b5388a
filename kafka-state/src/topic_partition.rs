//! The name of one partition.

use std::fmt;

/// A topic name and a partition index: what the producer writes to and
/// the consumer is assigned.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic.
    pub topic: String,
    /// The partition index, from 0.
    pub partition: i32,
}

impl TopicPartition {
    /// A partition from its parts.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_kafka_logs() {
        assert_eq!(TopicPartition::new("orders", 3).to_string(), "orders-3");
    }
}
