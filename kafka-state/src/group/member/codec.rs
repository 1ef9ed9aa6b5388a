//! The consumer protocol's byte formats as the member needs them: an
//! `i16` big-endian version, then `ConsumerProtocolSubscription` or
//! `ConsumerProtocolAssignment` in that version.
//!
//! A stand-in kept private to the member: the shared encoding lives in
//! `group::protocol` once that lands, and these four functions are the
//! only ones the member calls, so the swap is local.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_proto::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_proto::messages::consumer_protocol_subscription::TopicPartition as OwnedTopic;
use kafka_proto::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription};
use kafka_proto::{DecodeError, DecodeErrorKind, Message};

use crate::group::{Assignment, Subscription};
use crate::TopicPartition;

/// The version written: the newest this crate knows (rack ids, v3).
const SUBSCRIPTION_VERSION: i16 = 3;
const ASSIGNMENT_VERSION: i16 = 3;

/// Groups partitions by topic, topics and partitions in order.
fn by_topic(partitions: &[TopicPartition]) -> BTreeMap<&str, Vec<i32>> {
    let mut out: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        out.entry(tp.topic.as_str()).or_default().push(tp.partition);
    }
    for parts in out.values_mut() {
        parts.sort_unstable();
        parts.dedup();
    }
    out
}

fn flatten(topic: String, partitions: Vec<i32>) -> impl Iterator<Item = TopicPartition> {
    partitions
        .into_iter()
        .map(move |p| TopicPartition::new(topic.clone(), p))
}

/// Splits the version header off; a version newer than this crate knows
/// is read as the newest known one (newer versions only append fields).
fn split_version(bytes: &Bytes, newest: i16) -> Result<(i16, Bytes), DecodeError> {
    if bytes.len() < 2 {
        return Err(DecodeError::new(
            "consumer protocol version",
            DecodeErrorKind::Truncated {
                needed: 2 - bytes.len(),
            },
        ));
    }
    let version = i16::from_be_bytes([bytes[0], bytes[1]]);
    if version < 0 {
        return Err(DecodeError::new(
            "consumer protocol version",
            DecodeErrorKind::Invalid(format!("negative version {version}")),
        ));
    }
    Ok((version.min(newest), bytes.slice(2..)))
}

pub(crate) fn encode_subscription(s: &Subscription) -> Bytes {
    let owned = by_topic(&s.owned_partitions)
        .into_iter()
        .map(|(t, parts)| {
            OwnedTopic::default()
                .with_topic(t.to_string())
                .with_partitions(parts)
        })
        .collect();
    let msg = ConsumerProtocolSubscription::default()
        .with_topics(s.topics.clone())
        .with_user_data(s.user_data.clone())
        .with_owned_partitions(owned)
        .with_generation_id(s.generation_id)
        .with_rack_id(s.rack_id.clone());
    let mut buf = BytesMut::new();
    buf.put_i16(SUBSCRIPTION_VERSION);
    // Every field exists in the version written: encoding cannot fail but
    // for lengths past i32, which no subscription reaches.
    if msg.encode(&mut buf, SUBSCRIPTION_VERSION).is_err() {
        buf.truncate(2);
    }
    buf.freeze()
}

pub(crate) fn decode_subscription(bytes: &Bytes) -> Result<Subscription, DecodeError> {
    let newest = *ConsumerProtocolSubscription::VERSIONS.end();
    let (version, mut body) = split_version(bytes, newest)?;
    let msg = ConsumerProtocolSubscription::decode(&mut body, version)?;
    Ok(Subscription {
        topics: msg.topics,
        user_data: msg.user_data,
        owned_partitions: msg
            .owned_partitions
            .into_iter()
            .flat_map(|t| flatten(t.topic, t.partitions))
            .collect(),
        generation_id: msg.generation_id,
        rack_id: msg.rack_id,
    })
}

pub(crate) fn encode_assignment(a: &Assignment) -> Bytes {
    let assigned = by_topic(&a.partitions)
        .into_iter()
        .map(|(t, parts)| {
            AssignedTopic::default()
                .with_topic(t.to_string())
                .with_partitions(parts)
        })
        .collect();
    let msg = ConsumerProtocolAssignment::default()
        .with_assigned_partitions(assigned)
        .with_user_data(a.user_data.clone());
    let mut buf = BytesMut::new();
    buf.put_i16(ASSIGNMENT_VERSION);
    if msg.encode(&mut buf, ASSIGNMENT_VERSION).is_err() {
        buf.truncate(2);
    }
    buf.freeze()
}

/// An empty buffer is an empty assignment (what a coordinator hands a
/// member the leader gave nothing).
pub(crate) fn decode_assignment(bytes: &Bytes) -> Result<Assignment, DecodeError> {
    if bytes.is_empty() {
        return Ok(Assignment::default());
    }
    let newest = *ConsumerProtocolAssignment::VERSIONS.end();
    let (version, mut body) = split_version(bytes, newest)?;
    let msg = ConsumerProtocolAssignment::decode(&mut body, version)?;
    Ok(Assignment {
        partitions: msg
            .assigned_partitions
            .into_iter()
            .flat_map(|t| flatten(t.topic, t.partitions))
            .collect(),
        user_data: msg.user_data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_and_assignments_survive_a_round_trip() {
        let s = Subscription {
            topics: vec!["a".into(), "b".into()],
            user_data: Some(Bytes::from_static(b"u")),
            owned_partitions: vec![TopicPartition::new("a", 0), TopicPartition::new("b", 3)],
            generation_id: 7,
            rack_id: Some("r1".into()),
        };
        assert_eq!(decode_subscription(&encode_subscription(&s)).unwrap(), s);
        let a = Assignment {
            partitions: vec![TopicPartition::new("a", 1), TopicPartition::new("a", 2)],
            user_data: None,
        };
        let bytes = encode_assignment(&a);
        assert_eq!(&bytes[..2], &[0, 3]);
        assert_eq!(decode_assignment(&bytes).unwrap(), a);
        assert_eq!(
            decode_assignment(&Bytes::new()).unwrap(),
            Assignment::default()
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &b""[..],
            b"\x00",
            b"\xff\xff",
            b"\x00\x01\x00\x00\x00\x05ab",
        ] {
            assert!(decode_subscription(&Bytes::copy_from_slice(bad)).is_err());
        }
        assert!(decode_assignment(&Bytes::from_static(b"\x00")).is_err());
        // A newer version than known is read as the newest known.
        let mut future = BytesMut::new();
        future.put_i16(9);
        let known = encode_subscription(&Subscription {
            topics: vec!["t".into()],
            generation_id: -1,
            ..Subscription::default()
        });
        future.extend_from_slice(&known[2..]);
        assert_eq!(
            decode_subscription(&future.freeze()).unwrap().topics,
            vec!["t".to_string()]
        );
    }
}
