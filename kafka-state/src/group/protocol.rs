//! The consumer protocol's encoding of subscriptions and assignments.
//!
//! JoinGroup carries each member's [`Subscription`] and SyncGroup each
//! member's [`Assignment`] as opaque bytes whose layout is the Java
//! client's `ConsumerProtocol`: a big-endian `int16` version followed by
//! the `ConsumerProtocolSubscription` or `ConsumerProtocolAssignment`
//! schema in that version. Like Java:
//!
//! - encoding a version newer than the newest known layout writes (and
//!   labels) the newest known one; a negative version is refused;
//! - decoding a newer version reads it with the newest known layout and
//!   ignores what follows (newer versions only append fields);
//! - subscribed topics are written sorted, owned partitions sorted by
//!   topic and partition, and every partition list is grouped by topic;
//! - an empty rack id reads as no rack.
//!
//! One deliberate difference: a zero-length assignment decodes as "no
//! partitions" (what the coordinator hands a member the leader left out),
//! where Java's consumer rejects fewer than two bytes.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_proto::messages::consumer_protocol_assignment::{
    self as wire_assignment, ConsumerProtocolAssignment,
};
use kafka_proto::messages::consumer_protocol_subscription::{
    self as wire_subscription, ConsumerProtocolSubscription,
};
use kafka_proto::{DecodeError, EncodeError, Message};

use super::assignor::{Assignment, Subscription};
use super::java::cmp_str;
use crate::TopicPartition;

/// The newest `ConsumerProtocolSubscription` version this library knows.
pub const SUBSCRIPTION_VERSION: i16 = 3;
/// The newest `ConsumerProtocolAssignment` version this library knows.
pub const ASSIGNMENT_VERSION: i16 = 3;

/// Why a consumer-protocol payload could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The version is negative (no such layout exists).
    #[error("unsupported consumer protocol version {0}")]
    UnsupportedVersion(i16),
    /// The payload is shorter than its two-byte version header.
    #[error("consumer protocol payload of {0} byte(s) has no version header")]
    MissingVersion(usize),
    /// The bytes after the header do not decode.
    #[error("malformed consumer protocol payload: {0}")]
    Decode(#[from] DecodeError),
    /// A value does not fit the wire format (a string over 32767 bytes, ...).
    #[error("cannot encode consumer protocol payload: {0}")]
    Encode(#[from] EncodeError),
}

/// The layout a version is written or read with: Java's clamp.
fn layout_version(version: i16, newest: i16) -> Result<i16, ProtocolError> {
    if version < 0 {
        Err(ProtocolError::UnsupportedVersion(version))
    } else {
        Ok(version.min(newest))
    }
}

/// Groups partitions by topic, topics in order of first appearance.
fn group_by_topic<'a>(
    partitions: impl IntoIterator<Item = &'a TopicPartition>,
) -> Vec<(String, Vec<i32>)> {
    let mut groups: Vec<(String, Vec<i32>)> = Vec::new();
    for tp in partitions {
        match groups.iter_mut().find(|(t, _)| *t == tp.topic) {
            Some((_, ps)) => ps.push(tp.partition),
            None => groups.push((tp.topic.clone(), vec![tp.partition])),
        }
    }
    groups
}

fn with_header(
    version: i16,
    body: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
) -> Result<Bytes, ProtocolError> {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i16(version);
    body(&mut buf)?;
    Ok(buf.freeze())
}

/// Encodes a subscription as JoinGroup member metadata in `version`
/// (0 to 3; higher versions are written as 3, like Java).
pub fn encode_subscription(sub: &Subscription, version: i16) -> Result<Bytes, ProtocolError> {
    let version = layout_version(version, SUBSCRIPTION_VERSION)?;
    let mut topics = sub.topics.clone();
    topics.sort_by(|a, b| cmp_str(a, b));
    let mut owned = sub.owned_partitions.clone();
    owned.sort_by(|a, b| cmp_str(&a.topic, &b.topic).then(a.partition.cmp(&b.partition)));
    let owned_partitions = group_by_topic(&owned)
        .into_iter()
        .map(|(topic, partitions)| {
            wire_subscription::TopicPartition::default()
                .with_topic(topic)
                .with_partitions(partitions)
        })
        .collect();
    let data = ConsumerProtocolSubscription::default()
        .with_topics(topics)
        .with_user_data(sub.user_data.clone())
        .with_owned_partitions(owned_partitions)
        .with_generation_id(sub.generation_id)
        .with_rack_id(sub.rack_id.clone());
    with_header(version, |buf| data.encode(buf, version))
}

/// Decodes JoinGroup member metadata. A version newer than 3 is read with
/// the version 3 layout; trailing bytes are ignored.
pub fn decode_subscription(bytes: &[u8]) -> Result<Subscription, ProtocolError> {
    let (version, mut body) = split_header(bytes)?;
    let version = layout_version(version, SUBSCRIPTION_VERSION)?;
    let data = ConsumerProtocolSubscription::decode(&mut body, version)?;
    let owned_partitions = data
        .owned_partitions
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|&p| TopicPartition::new(t.topic.clone(), p))
        })
        .collect();
    Ok(Subscription {
        topics: data.topics,
        user_data: data.user_data,
        owned_partitions,
        generation_id: data.generation_id,
        rack_id: data.rack_id.filter(|r| !r.is_empty()),
    })
}

/// Encodes an assignment as SyncGroup member state in `version` (0 to 3;
/// higher versions are written as 3). Partitions keep their order,
/// grouped by topic in order of each topic's first appearance.
pub fn encode_assignment(assignment: &Assignment, version: i16) -> Result<Bytes, ProtocolError> {
    let version = layout_version(version, ASSIGNMENT_VERSION)?;
    let assigned_partitions = group_by_topic(&assignment.partitions)
        .into_iter()
        .map(|(topic, partitions)| {
            wire_assignment::TopicPartition::default()
                .with_topic(topic)
                .with_partitions(partitions)
        })
        .collect();
    let data = ConsumerProtocolAssignment::default()
        .with_assigned_partitions(assigned_partitions)
        .with_user_data(assignment.user_data.clone());
    with_header(version, |buf| data.encode(buf, version))
}

/// Decodes SyncGroup member state. Empty input is an empty assignment.
pub fn decode_assignment(bytes: &[u8]) -> Result<Assignment, ProtocolError> {
    if bytes.is_empty() {
        return Ok(Assignment::default());
    }
    let (version, mut body) = split_header(bytes)?;
    let version = layout_version(version, ASSIGNMENT_VERSION)?;
    let data = ConsumerProtocolAssignment::decode(&mut body, version)?;
    let partitions = data
        .assigned_partitions
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|&p| TopicPartition::new(t.topic.clone(), p))
        })
        .collect();
    Ok(Assignment {
        partitions,
        user_data: data.user_data,
    })
}

/// The version header and the rest. The body is copied once so the
/// decoder can hand out zero-copy slices (user data) of it.
fn split_header(bytes: &[u8]) -> Result<(i16, Bytes), ProtocolError> {
    match bytes {
        [hi, lo, rest @ ..] => Ok((i16::from_be_bytes([*hi, *lo]), Bytes::copy_from_slice(rest))),
        _ => Err(ProtocolError::MissingVersion(bytes.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tp(t: &str, p: i32) -> TopicPartition {
        TopicPartition::new(t, p)
    }

    #[test]
    fn subscription_v0_layout_is_exact() {
        let sub = Subscription {
            topics: vec!["b".into(), "a".into()],
            user_data: None,
            ..Subscription::default()
        };
        let bytes = encode_subscription(&sub, 0).unwrap();
        // version 0, two topics sorted, null user data.
        let want: &[u8] = &[
            0, 0, 0, 0, 0, 2, 0, 1, b'a', 0, 1, b'b', 0xff, 0xff, 0xff, 0xff,
        ];
        assert_eq!(&bytes[..], want);
    }

    #[test]
    fn subscription_v3_round_trips_and_groups_owned() {
        let sub = Subscription {
            topics: vec!["t".into(), "s".into()],
            user_data: Some(Bytes::from_static(b"xy")),
            owned_partitions: vec![tp("t", 2), tp("s", 1), tp("t", 0)],
            generation_id: 7,
            rack_id: Some("r1".into()),
        };
        let bytes = encode_subscription(&sub, 3).unwrap();
        let back = decode_subscription(&bytes).unwrap();
        assert_eq!(back.topics, vec!["s", "t"]);
        assert_eq!(
            back.owned_partitions,
            vec![tp("s", 1), tp("t", 0), tp("t", 2)]
        );
        assert_eq!(back.generation_id, 7);
        assert_eq!(back.rack_id.as_deref(), Some("r1"));
        assert_eq!(back.user_data.as_deref(), Some(&b"xy"[..]));
    }

    #[test]
    fn older_versions_drop_newer_fields() {
        let sub = Subscription {
            topics: vec!["t".into()],
            owned_partitions: vec![tp("t", 0)],
            generation_id: 3,
            rack_id: Some("r".into()),
            ..Subscription::default()
        };
        let v1 = decode_subscription(&encode_subscription(&sub, 1).unwrap()).unwrap();
        assert_eq!(v1.owned_partitions, vec![tp("t", 0)]);
        assert_eq!((v1.generation_id, v1.rack_id), (-1, None));
        let v2 = decode_subscription(&encode_subscription(&sub, 2).unwrap()).unwrap();
        assert_eq!((v2.generation_id, v2.rack_id), (3, None));
    }

    #[test]
    fn newer_versions_clamp_and_read_with_known_layout() {
        let sub = Subscription {
            topics: vec!["t".into()],
            generation_id: 1,
            ..Subscription::default()
        };
        let bytes = encode_subscription(&sub, 9).unwrap();
        assert_eq!(&bytes[..2], &[0, 3]);
        // A version 9 payload with an extra trailing field still decodes.
        let mut v9 = BytesMut::from(&bytes[..]);
        v9[1] = 9;
        v9.extend_from_slice(&[1, 2, 3, 4]);
        assert_eq!(decode_subscription(&v9).unwrap(), sub);
        assert_eq!(
            encode_subscription(&sub, -1),
            Err(ProtocolError::UnsupportedVersion(-1))
        );
        assert!(matches!(
            decode_subscription(&[0xff, 0xff]),
            Err(ProtocolError::UnsupportedVersion(-1))
        ));
    }

    #[test]
    fn empty_rack_reads_as_none() {
        let sub = Subscription {
            rack_id: Some(String::new()),
            ..Subscription::default()
        };
        let back = decode_subscription(&encode_subscription(&sub, 3).unwrap()).unwrap();
        assert_eq!(back.rack_id, None);
    }

    #[test]
    fn assignment_groups_by_first_appearance() {
        let a = Assignment {
            partitions: vec![tp("b", 1), tp("a", 0), tp("b", 0)],
            user_data: None,
        };
        let bytes = encode_assignment(&a, 0).unwrap();
        let back = decode_assignment(&bytes).unwrap();
        assert_eq!(back.partitions, vec![tp("b", 1), tp("b", 0), tp("a", 0)]);
        assert_eq!(decode_assignment(&[]).unwrap(), Assignment::default());
        assert!(matches!(
            decode_assignment(&[0]),
            Err(ProtocolError::MissingVersion(1))
        ));
    }

    #[test]
    fn truncations_are_errors() {
        let a = Assignment {
            partitions: vec![tp("topic", 1), tp("topic", 2)],
            user_data: Some(Bytes::from_static(b"u")),
        };
        let bytes = encode_assignment(&a, 3).unwrap();
        for cut in 1..bytes.len() {
            assert!(decode_assignment(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    fn arb_tp() -> impl Strategy<Value = TopicPartition> {
        ("[a-c]{1,3}", 0..8i32).prop_map(|(t, p)| TopicPartition::new(t, p))
    }

    fn arb_subscription() -> impl Strategy<Value = Subscription> {
        (
            proptest::collection::btree_set("[a-z\u{e9}\u{1F600}]{0,4}", 0..4),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
            proptest::collection::btree_set(arb_tp(), 0..6),
            -1..100i32,
            proptest::option::of("[a-z]{1,3}"),
        )
            .prop_map(|(topics, ud, owned, generation_id, rack_id)| Subscription {
                topics: topics.into_iter().collect(),
                user_data: ud.map(Bytes::from),
                owned_partitions: owned.into_iter().collect(),
                generation_id,
                rack_id,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, max_shrink_iters: 512, ..ProptestConfig::default() })]

        #[test]
        fn subscription_round_trips_at_v3(sub in arb_subscription()) {
            let back = decode_subscription(&encode_subscription(&sub, 3).unwrap()).unwrap();
            let mut want = sub.clone();
            want.topics.sort_by(|a, b| cmp_str(a, b));
            want.owned_partitions.sort_by(|a, b| cmp_str(&a.topic, &b.topic).then(a.partition.cmp(&b.partition)));
            prop_assert_eq!(back, want);
        }

        #[test]
        fn assignment_round_trips(parts in proptest::collection::btree_set(arb_tp(), 0..8), version in 0..5i16) {
            let mut partitions: Vec<_> = parts.into_iter().collect();
            partitions.sort_by(|a, b| cmp_str(&a.topic, &b.topic).then(a.partition.cmp(&b.partition)));
            let a = Assignment { partitions, user_data: Some(Bytes::from_static(b"d")) };
            prop_assert_eq!(decode_assignment(&encode_assignment(&a, version).unwrap()).unwrap(), a);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_subscription(&bytes);
            let _ = decode_assignment(&bytes);
        }

        #[test]
        fn huge_declared_lengths_are_refused(count in 1_000_000i32..i32::MAX, version in 0..4i16) {
            let mut bytes = version.to_be_bytes().to_vec();
            bytes.extend_from_slice(&count.to_be_bytes());
            prop_assert!(decode_subscription(&bytes).is_err());
            prop_assert!(decode_assignment(&bytes).is_err());
        }
    }
}
