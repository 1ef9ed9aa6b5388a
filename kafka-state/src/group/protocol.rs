//! The bytes members and the leader exchange in JoinGroup (a member's
//! [`Subscription`]) and SyncGroup (its [`Assignment`]): Kafka's
//! `ConsumerProtocolSubscription` and `ConsumerProtocolAssignment`, each
//! behind a big-endian `i16` version, as the Java client writes them.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_proto::messages::consumer_protocol_assignment::{
    ConsumerProtocolAssignment, TopicPartition as AssignedTopic,
};
use kafka_proto::messages::consumer_protocol_subscription::{
    ConsumerProtocolSubscription, TopicPartition as OwnedTopic,
};
use kafka_proto::{DecodeError, DecodeErrorKind, Message};

use super::{Assignment, Subscription};
use crate::TopicPartition;

/// The newest subscription layout this client writes and reads.
pub const SUBSCRIPTION_VERSION: i16 = 3;
/// The newest assignment layout this client writes and reads.
pub const ASSIGNMENT_VERSION: i16 = 3;

/// Partitions grouped by topic, topics in order of first appearance and
/// partitions in the order given (the grouping the Java client writes).
fn by_topic(partitions: &[TopicPartition]) -> Vec<(String, Vec<i32>)> {
    let mut out: Vec<(String, Vec<i32>)> = Vec::new();
    for tp in partitions {
        match out.iter_mut().find(|(t, _)| *t == tp.topic) {
            Some((_, ps)) => ps.push(tp.partition),
            None => out.push((tp.topic.clone(), vec![tp.partition])),
        }
    }
    out
}

fn flatten(topics: impl IntoIterator<Item = (String, Vec<i32>)>) -> Vec<TopicPartition> {
    topics
        .into_iter()
        .flat_map(|(t, ps)| {
            ps.into_iter()
                .map(move |p| TopicPartition::new(t.clone(), p))
        })
        .collect()
}

fn with_version(version: i16, encode: impl FnOnce(&mut BytesMut)) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(version);
    encode(&mut buf);
    buf.freeze()
}

/// The version a reader uses for `declared`: a newer layout begins with
/// the fields of the newest one known, so it is read as that.
fn readable(declared: i16, newest: i16, what: &'static str) -> Result<i16, DecodeError> {
    if declared < 0 {
        return Err(DecodeError::new(
            what,
            DecodeErrorKind::Invalid(format!("negative version {declared}")),
        ));
    }
    Ok(declared.min(newest))
}

fn split_version(data: &[u8], what: &'static str) -> Result<(i16, Bytes), DecodeError> {
    if data.len() < 2 {
        return Err(DecodeError::new(
            what,
            DecodeErrorKind::Truncated {
                needed: 2 - data.len(),
            },
        ));
    }
    let version = i16::from_be_bytes([data[0], data[1]]);
    Ok((version, Bytes::copy_from_slice(&data[2..])))
}

/// Encodes `sub` in `version` (clamped to 0..=[`SUBSCRIPTION_VERSION`]);
/// fields a version lacks are left out. Topics and owned partitions are
/// written sorted, as the Java client writes them, so equal subscriptions
/// are equal bytes (the coordinator compares them to decide whether a
/// member's rejoin changes anything).
pub fn encode_subscription(sub: &Subscription, version: i16) -> Bytes {
    let version = version.clamp(0, SUBSCRIPTION_VERSION);
    let mut topics = sub.topics.clone();
    topics.sort();
    let mut msg = ConsumerProtocolSubscription::default().with_topics(topics);
    msg.user_data = sub.user_data.clone();
    if version >= 1 {
        let mut owned = sub.owned_partitions.clone();
        owned.sort();
        msg.owned_partitions = by_topic(&owned)
            .into_iter()
            .map(|(topic, partitions)| {
                OwnedTopic::default()
                    .with_topic(topic)
                    .with_partitions(partitions)
            })
            .collect();
    }
    if version >= 2 {
        msg.generation_id = sub.generation_id;
    }
    if version >= 3 {
        msg.rack_id = sub.rack_id.clone();
    }
    // Every field was set only where the version has it.
    with_version(version, |buf| {
        let _ = msg.encode(buf, version);
    })
}

/// Decodes a subscription a member sent in JoinGroup.
pub fn decode_subscription(data: &[u8]) -> Result<Subscription, DecodeError> {
    const WHAT: &str = "ConsumerProtocolSubscription";
    let (declared, mut body) = split_version(data, WHAT)?;
    let version = readable(declared, SUBSCRIPTION_VERSION, WHAT)?;
    let msg = ConsumerProtocolSubscription::decode(&mut body, version)?;
    Ok(Subscription {
        topics: msg.topics,
        user_data: msg.user_data,
        owned_partitions: flatten(
            msg.owned_partitions
                .into_iter()
                .map(|t| (t.topic, t.partitions)),
        ),
        generation_id: if version >= 2 { msg.generation_id } else { -1 },
        rack_id: msg.rack_id,
    })
}

/// Encodes `assignment` in `version` (clamped to
/// 0..=[`ASSIGNMENT_VERSION`]).
pub fn encode_assignment(assignment: &Assignment, version: i16) -> Bytes {
    let version = version.clamp(0, ASSIGNMENT_VERSION);
    let msg = ConsumerProtocolAssignment::default()
        .with_assigned_partitions(
            by_topic(&assignment.partitions)
                .into_iter()
                .map(|(topic, partitions)| {
                    AssignedTopic::default()
                        .with_topic(topic)
                        .with_partitions(partitions)
                })
                .collect(),
        )
        .with_user_data(assignment.user_data.clone());
    with_version(version, |buf| {
        let _ = msg.encode(buf, version);
    })
}

/// Decodes the assignment the leader sent in SyncGroup. Empty bytes are
/// an empty assignment (what a coordinator sends a member the leader
/// gave nothing, and what a group without a leader's answer holds).
pub fn decode_assignment(data: &[u8]) -> Result<Assignment, DecodeError> {
    const WHAT: &str = "ConsumerProtocolAssignment";
    if data.is_empty() {
        return Ok(Assignment::default());
    }
    let (declared, mut body) = split_version(data, WHAT)?;
    let version = readable(declared, ASSIGNMENT_VERSION, WHAT)?;
    let msg = ConsumerProtocolAssignment::decode(&mut body, version)?;
    Ok(Assignment {
        partitions: flatten(
            msg.assigned_partitions
                .into_iter()
                .map(|t| (t.topic, t.partitions)),
        ),
        user_data: msg.user_data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tp(t: &str, p: i32) -> TopicPartition {
        TopicPartition::new(t, p)
    }

    #[test]
    fn every_version_round_trips_what_it_carries() {
        let sub = Subscription {
            topics: vec!["b".into(), "a".into()],
            user_data: Some(Bytes::from_static(b"\x01\x02")),
            owned_partitions: vec![tp("a", 2), tp("b", 0), tp("a", 1)],
            generation_id: 7,
            rack_id: Some("r1".into()),
        };
        for v in 0..=SUBSCRIPTION_VERSION {
            let back = decode_subscription(&encode_subscription(&sub, v)).unwrap();
            assert_eq!(back.topics, ["a", "b"], "written sorted");
            assert_eq!(back.user_data, sub.user_data);
            let owned = if v >= 1 {
                vec![tp("a", 1), tp("a", 2), tp("b", 0)]
            } else {
                vec![]
            };
            assert_eq!(back.owned_partitions, owned, "v{v}");
            assert_eq!(back.generation_id, if v >= 2 { 7 } else { -1 });
            assert_eq!(back.rack_id.as_deref(), (v >= 3).then_some("r1"));
        }
        let a = Assignment {
            partitions: vec![tp("x", 0), tp("y", 3), tp("x", 4)],
            user_data: None,
        };
        for v in 0..=ASSIGNMENT_VERSION {
            let back = decode_assignment(&encode_assignment(&a, v)).unwrap();
            assert_eq!(back.partitions, [tp("x", 0), tp("x", 4), tp("y", 3)]);
        }
    }

    #[test]
    fn newer_versions_read_as_the_newest_known_and_bad_input_is_an_error() {
        let mut newer = encode_assignment(
            &Assignment {
                partitions: vec![tp("t", 1)],
                user_data: None,
            },
            ASSIGNMENT_VERSION,
        )
        .to_vec();
        newer[1] = 9;
        newer.extend_from_slice(b"fields a later version added");
        assert_eq!(decode_assignment(&newer).unwrap().partitions, [tp("t", 1)]);
        assert!(decode_assignment(&[]).unwrap().partitions.is_empty());
        assert!(decode_assignment(&[0]).is_err());
        assert!(decode_subscription(&[0xff, 0xff, 0, 0]).is_err());
        assert!(decode_subscription(&[0, 0, 0, 0, 0, 9]).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_subscription(&data);
            let _ = decode_assignment(&data);
        }
    }
}
