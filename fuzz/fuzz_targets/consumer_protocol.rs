//! The consumer-protocol payloads a group member reads from other
//! members (JoinGroup metadata: a subscription) and from the leader
//! (SyncGroup: an assignment), as any client in the group may write them.
//!
//! Input layout: byte 0 picks the payload (even: subscription, odd:
//! assignment); the rest is the payload.
//!
//! Checks: decoding never panics; what decodes encodes again, and the
//! encoding is a fixed point (decoding it and encoding again gives the
//! same bytes), and it keeps every topic, partition and byte of user data
//! (partitions as a multiset: the encoding groups a topic's partitions
//! together), so nothing read is lost or invented on the way back out.
#![no_main]

use kafka_state::group::{
    decode_assignment, decode_subscription, encode_assignment, encode_subscription,
    ASSIGNMENT_VERSION, SUBSCRIPTION_VERSION,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, payload)) = data.split_first() else {
        return;
    };
    if pick % 2 == 0 {
        let Ok(sub) = decode_subscription(payload) else {
            return;
        };
        // A decoded value fits the wire format it came from.
        let once = encode_subscription(&sub, SUBSCRIPTION_VERSION).expect("re-encodes");
        let again = decode_subscription(&once).expect("own encoding decodes");
        let twice = encode_subscription(&again, SUBSCRIPTION_VERSION).expect("re-encodes");
        assert_eq!(once, twice, "subscription encoding is not a fixed point");
        assert_eq!(sub.topics.len(), again.topics.len());
        let sorted = |mut v: Vec<kafka_state::TopicPartition>| {
            v.sort();
            v
        };
        assert_eq!(sorted(sub.owned_partitions), sorted(again.owned_partitions));
        assert_eq!(sub.user_data, again.user_data);
    } else {
        let Ok(assignment) = decode_assignment(payload) else {
            return;
        };
        let once = encode_assignment(&assignment, ASSIGNMENT_VERSION).expect("re-encodes");
        let again = decode_assignment(&once).expect("own encoding decodes");
        let twice = encode_assignment(&again, ASSIGNMENT_VERSION).expect("re-encodes");
        assert_eq!(once, twice, "assignment encoding is not a fixed point");
        // The encoding groups a topic's partitions together (a topic
        // listed twice comes back once), so compare them as a multiset.
        let sorted = |mut v: Vec<kafka_state::TopicPartition>| {
            v.sort();
            v
        };
        assert_eq!(sorted(assignment.partitions), sorted(again.partitions));
        assert_eq!(assignment.user_data, again.user_data);
    }
});
