//! The consumer-protocol member (KIP-848) against scripted coordinator
//! answers: what each heartbeat carries, the order of revokes, commits and
//! adds, and the error paths.

use std::collections::BTreeSet;
use std::time::Duration;

use kafka_proto::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_proto::messages::metadata_response::{MetadataResponsePartition, MetadataResponseTopic};
use kafka_proto::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_proto::messages::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, FindCoordinatorResponse,
    MetadataResponse, OffsetCommitResponse,
};
use kafka_proto::{ErrorCode, RequestBody, ResponseBody, Uuid};

use super::tests::Rig;
use super::*;
use crate::consumer::{ConsumedOffset, ConsumerEvent};
use crate::BrokerAddr;

const T: Uuid = Uuid::from_u64_pair(1, 1);
const U: Uuid = Uuid::from_u64_pair(2, 2);

fn tp(topic: &str, p: i32) -> TopicPartition {
    TopicPartition::new(topic, p)
}

fn config(instance: Option<&str>) -> Config {
    let mut config = Config::new([BrokerAddr::new("b", 9092)]);
    let mut group = GroupConfig::new("g");
    group.group_protocol = GroupProtocol::Consumer;
    group.remote_assignor = Some("uniform".into());
    group.group_instance_id = instance.map(Into::into);
    config.group = Some(group);
    config.seed = 42;
    config
}

/// Puts topics (name, id, partitions) into the rig's metadata cache.
fn learn(rig: &mut Rig, topics: &[(&str, Uuid, i32)]) {
    let resp = MetadataResponse::default().with_topics(
        topics
            .iter()
            .map(|(name, id, n)| {
                MetadataResponseTopic::default()
                    .with_name(Some(name.to_string()))
                    .with_topic_id(*id)
                    .with_partitions(
                        (0..*n)
                            .map(|p| {
                                MetadataResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_leader_id(1)
                            })
                            .collect(),
                    )
            })
            .collect(),
    );
    rig.metadata.cache.apply(&resp, false).unwrap();
}

fn assignment(parts: &[(Uuid, &[i32])]) -> Option<Assignment> {
    Some(
        Assignment::default().with_topic_partitions(
            parts
                .iter()
                .map(|(id, ps)| {
                    TopicPartitions::default()
                        .with_topic_id(*id)
                        .with_partitions(ps.to_vec())
                })
                .collect(),
        ),
    )
}

fn beat(epoch: i32, assigned: Option<Assignment>) -> ResponseBody {
    ResponseBody::ConsumerGroupHeartbeat(
        ConsumerGroupHeartbeatResponse::default()
            .with_member_epoch(epoch)
            .with_heartbeat_interval_ms(2000)
            .with_assignment(assigned),
    )
}

fn refused(code: ErrorCode) -> ResponseBody {
    ResponseBody::ConsumerGroupHeartbeat(
        ConsumerGroupHeartbeatResponse::default()
            .with_error_code(code.code())
            .with_error_message(Some(format!("scripted {}", code.name()))),
    )
}

/// The heartbeats among `reqs`.
fn heartbeats(
    reqs: &[(RequestId, RequestBody)],
) -> Vec<(RequestId, ConsumerGroupHeartbeatRequest)> {
    reqs.iter()
        .filter_map(|(id, b)| match b {
            RequestBody::ConsumerGroupHeartbeat(h) => Some((*id, h.clone())),
            _ => None,
        })
        .collect()
}

fn one_heartbeat(reqs: &[(RequestId, RequestBody)]) -> (RequestId, ConsumerGroupHeartbeatRequest) {
    let mut hbs = heartbeats(reqs);
    assert_eq!(hbs.len(), 1, "{reqs:?}");
    hbs.remove(0)
}

fn owned_in(h: &ConsumerGroupHeartbeatRequest) -> Option<Vec<(Uuid, Vec<i32>)>> {
    h.topic_partitions.as_ref().map(|tps| {
        tps.iter()
            .map(|t| (t.topic_id, t.partitions.clone()))
            .collect()
    })
}

/// Subscribes to "t", finds the coordinator and sends the joining
/// heartbeat; returns it.
fn start(rig: &mut Rig) -> (RequestId, ConsumerGroupHeartbeatRequest) {
    learn(rig, &[("t", T, 3)]);
    rig.member.subscribe(
        rig.now,
        BTreeSet::from(["t".to_string()]),
        &mut rig.metadata,
    );
    let (id, body) = rig.only();
    assert!(matches!(body, RequestBody::FindCoordinator(_)), "{body:?}");
    rig.answer(
        id,
        ResponseBody::FindCoordinator(FindCoordinatorResponse::default().with_node_id(1)),
    );
    let reqs = rig.round();
    one_heartbeat(&reqs)
}

/// Joins with partitions `parts` of "t" at epoch 1 and acknowledges them.
fn joined(rig: &mut Rig, parts: &[i32]) -> String {
    let (id, join) = start(rig);
    rig.answer(id, beat(1, assignment(&[(T, parts)])));
    let reqs = rig.round();
    let (id, ack) = one_heartbeat(&reqs);
    assert_eq!(owned_in(&ack), Some(vec![(T, parts.to_vec())]));
    rig.answer(id, beat(1, None));
    rig.round();
    rig.consumer_events();
    rig.events.clear();
    join.member_id
}

#[test]
fn joins_at_epoch_0_with_its_full_state_then_sends_only_changes() {
    let mut rig = Rig::with_config(&config(None));
    let (id, join) = start(&mut rig);
    assert_eq!(join.member_epoch, 0);
    assert_eq!(join.group_id, "g");
    // A client-made id, written as Kafka writes a UUID (22 characters).
    assert_eq!(join.member_id.len(), 22, "{:?}", join.member_id);
    assert_eq!(join.subscribed_topic_names, Some(vec!["t".to_string()]));
    assert_eq!(join.subscribed_topic_regex, None);
    assert_eq!(join.server_assignor.as_deref(), Some("uniform"));
    assert_eq!(join.rebalance_timeout_ms, 300_000);
    assert_eq!(owned_in(&join), Some(Vec::new()), "joins owning nothing");
    // The same seed makes the same id (no clock, no global randomness).
    let mut again = Rig::with_config(&config(None));
    assert_eq!(start(&mut again).1.member_id, join.member_id);

    rig.answer(id, beat(1, assignment(&[(T, &[0, 1])])));
    assert!(rig.events.iter().any(|e| matches!(
        e,
        Event::Group(GroupEvent::Joined {
            generation_id: 1,
            ..
        })
    )));
    let reqs = rig.round();
    let events = rig.consumer_events();
    assert!(
        matches!(&events[..], [ConsumerEvent::PartitionsAssigned { partitions }] if partitions.len() == 2),
        "{events:?}"
    );
    // The new owned set goes at once; nothing else is repeated.
    let (hb, ack) = one_heartbeat(&reqs);
    assert_eq!(ack.member_epoch, 1);
    assert_eq!(ack.member_id, join.member_id);
    assert_eq!(owned_in(&ack), Some(vec![(T, vec![0, 1])]));
    assert_eq!(ack.subscribed_topic_names, None);
    assert_eq!(ack.server_assignor, None);
    assert_eq!(ack.rebalance_timeout_ms, -1);
    // Committed offsets are fetched with require_stable.
    let fetch = reqs
        .iter()
        .find_map(|(_, b)| match b {
            RequestBody::OffsetFetch(f) => Some(f.clone()),
            _ => None,
        })
        .expect("offsets fetched");
    assert!(fetch.require_stable);
    rig.answer(hb, beat(1, None));
    // The next heartbeat waits for the interval the coordinator gave.
    rig.now += Duration::from_millis(1999);
    assert!(heartbeats(&rig.round()).is_empty());
    rig.now += Duration::from_millis(1);
    let (_, plain) = one_heartbeat(&rig.round());
    assert_eq!(plain.topic_partitions, None, "unchanged: not sent");
    assert_eq!(plain.subscribed_topic_names, None);
}

#[test]
fn revokes_with_a_commit_before_the_ack_and_assigns_only_after() {
    let mut rig = Rig::with_config(&config(None));
    joined(&mut rig, &[0, 1]);
    assert!(rig
        .consumer
        .store(&tp("t", 1), ConsumedOffset::new(7, Some(3))));
    // The interval passes; the answer moves p1 away and brings p2.
    rig.now += Duration::from_secs(2);
    let (id, _) = one_heartbeat(&rig.round());
    rig.answer(id, beat(2, assignment(&[(T, &[0, 2])])));
    let reqs = rig.round();
    let events = rig.consumer_events();
    assert!(
        matches!(&events[..], [ConsumerEvent::PartitionsRevoked { partitions, .. }] if *partitions == [tp("t", 1)]),
        "only the revoke so far: {events:?}"
    );
    let commit = reqs
        .iter()
        .position(|(_, b)| matches!(b, RequestBody::OffsetCommit(c)
            if c.generation_id_or_member_epoch == 2 && c.topics[0].partitions[0].committed_offset == 7))
        .expect("the revoked partition's offset is committed with the member epoch");
    let ack = reqs
        .iter()
        .position(|(_, b)| matches!(b, RequestBody::ConsumerGroupHeartbeat(_)))
        .expect("the revoke is acknowledged at once");
    assert!(commit < ack, "the commit goes before the ack");
    let (hb, ack) = one_heartbeat(&reqs);
    assert_eq!(owned_in(&ack), Some(vec![(T, vec![0])]));
    assert_eq!(
        rig.consumer.assignment().cloned().collect::<Vec<_>>(),
        [tp("t", 0)],
        "p2 waits for the revoke's ack"
    );
    rig.answer(hb, beat(2, None));
    let reqs = rig.round();
    let events = rig.consumer_events();
    assert!(
        matches!(&events[..], [ConsumerEvent::PartitionsAssigned { partitions }] if *partitions == [tp("t", 2)]),
        "{events:?}"
    );
    let (_, ack) = one_heartbeat(&reqs);
    assert_eq!(owned_in(&ack), Some(vec![(T, vec![0, 2])]));
}

#[test]
fn an_unknown_topic_id_waits_for_metadata_and_is_not_dropped() {
    let mut rig = Rig::with_config(&config(None));
    let (id, _) = start(&mut rig);
    rig.answer(id, beat(1, assignment(&[(T, &[0]), (U, &[0, 1])])));
    rig.round();
    assert_eq!(
        rig.consumer.assignment().cloned().collect::<Vec<_>>(),
        [tp("t", 0)]
    );
    assert_eq!(rig.member.consumer_protocol.target_len(), Some(3), "kept");
    // Metadata now asks for every topic.
    let mut queue = RequestQueue::default();
    let req = rig
        .metadata
        .poll_request(rig.now, &mut queue, Duration::from_secs(5))
        .expect("a metadata refresh");
    let RequestBody::Metadata(m) = req.body else {
        panic!("{:?}", req.body)
    };
    assert_eq!(m.topics, None, "every topic");
    // The id resolves: its partitions come.
    learn(&mut rig, &[("t", T, 3), ("u", U, 2)]);
    rig.round();
    let mut owned: Vec<_> = rig.consumer.assignment().cloned().collect();
    owned.sort();
    assert_eq!(owned, [tp("t", 0), tp("u", 0), tp("u", 1)]);
    assert_eq!(
        rig.member.consumer_protocol.target_len(),
        None,
        "reconciled"
    );
}

#[test]
fn a_fenced_epoch_loses_and_rejoins_with_the_same_id_an_unknown_member_with_a_new_one() {
    for (code, same_id) in [
        (ErrorCode::FencedMemberEpoch, true),
        (ErrorCode::UnknownMemberId, false),
    ] {
        let mut rig = Rig::with_config(&config(None));
        let first = joined(&mut rig, &[0, 1]);
        assert!(rig
            .consumer
            .store(&tp("t", 0), ConsumedOffset::new(5, None)));
        rig.now += Duration::from_secs(2);
        let (id, _) = one_heartbeat(&rig.round());
        rig.answer(id, refused(code));
        let reqs = rig.round();
        let events = rig.consumer_events();
        assert!(
            matches!(&events[..], [ConsumerEvent::PartitionsLost { partitions }] if partitions.len() == 2),
            "{code:?}: {events:?}"
        );
        assert!(
            !reqs
                .iter()
                .any(|(_, b)| matches!(b, RequestBody::OffsetCommit(_))),
            "{code:?}: lost partitions are not committed"
        );
        let (_, rejoin) = one_heartbeat(&reqs);
        assert_eq!(rejoin.member_epoch, 0, "{code:?}");
        assert_eq!(rejoin.member_id == first, same_id, "{code:?}");
        assert!(!rejoin.member_id.is_empty());
        assert_eq!(rejoin.subscribed_topic_names, Some(vec!["t".to_string()]));
        assert_eq!(owned_in(&rejoin), Some(Vec::new()));
    }
}

#[test]
fn leaves_with_epoch_minus_1_and_a_static_member_with_minus_2() {
    for (instance, epoch) in [(None, -1), (Some("i-1"), -2)] {
        let mut rig = Rig::with_config(&config(instance));
        let id = joined(&mut rig, &[0]);
        assert!(rig
            .consumer
            .store(&tp("t", 0), ConsumedOffset::new(9, None)));
        rig.member.unsubscribe(false, &mut rig.events);
        let reqs = rig.round();
        let commit = reqs
            .iter()
            .position(|(_, b)| matches!(b, RequestBody::OffsetCommit(_)))
            .expect("committed before leaving");
        let (leave_id, leave) = one_heartbeat(&reqs);
        let at = reqs.iter().position(|(i, _)| *i == leave_id).unwrap();
        assert!(commit < at);
        assert_eq!(leave.member_epoch, epoch);
        assert_eq!(leave.member_id, id);
        assert_eq!(leave.instance_id.as_deref(), instance);
        // A leave the coordinator did not get is sent again.
        rig.answer(leave_id, refused(ErrorCode::CoordinatorLoadInProgress));
        let (_, again) = one_heartbeat(&rig.round());
        assert_eq!(again.member_epoch, epoch);
    }
}

#[test]
fn a_stale_member_epoch_commit_is_retried_with_the_new_epoch() {
    let mut rig = Rig::with_config(&config(None));
    joined(&mut rig, &[0]);
    let done = RequestId(777);
    let offsets = BTreeMap::from([(tp("t", 0), OffsetAndMetadata::new(3, None))]);
    rig.member.commit(
        rig.now,
        done,
        offsets,
        Duration::from_secs(60),
        &mut rig.events,
    );
    let reqs = rig.round();
    let (cid, first) = reqs
        .iter()
        .find_map(|(i, b)| match b {
            RequestBody::OffsetCommit(c) => Some((*i, c.clone())),
            _ => None,
        })
        .expect("a commit");
    assert_eq!(first.generation_id_or_member_epoch, 1);
    let answer = |code: ErrorCode| {
        ResponseBody::OffsetCommit(OffsetCommitResponse::default().with_topics(vec![
            OffsetCommitResponseTopic::default()
                .with_name("t".into())
                .with_partitions(vec![OffsetCommitResponsePartition::default()
                    .with_partition_index(0)
                    .with_error_code(code.code())]),
        ]))
    };
    // The coordinator bumped the epoch; the heartbeat telling it crosses
    // the commit.
    rig.now += Duration::from_secs(2);
    let (hb, _) = one_heartbeat(&rig.round());
    rig.answer(hb, beat(2, None));
    rig.answer(cid, answer(ErrorCode::StaleMemberEpoch));
    assert!(
        !rig.events
            .iter()
            .any(|e| matches!(e, Event::Group(GroupEvent::Committed { .. }))),
        "retriable: not reported yet"
    );
    // After the retry backoff the commit goes again, at epoch 2.
    rig.now += Duration::from_secs(1);
    let reqs = rig.round();
    let (cid, retry) = reqs
        .iter()
        .find_map(|(i, b)| match b {
            RequestBody::OffsetCommit(c) => Some((*i, c.clone())),
            _ => None,
        })
        .expect("retried");
    assert_eq!(retry.generation_id_or_member_epoch, 2);
    rig.answer(cid, answer(ErrorCode::None));
    assert!(rig.events.iter().any(|e| matches!(e,
        Event::Group(GroupEvent::Committed { id, offsets, .. })
            if *id == done && offsets[&tp("t", 0)].is_ok())));
}

#[test]
fn a_regex_subscription_goes_to_the_broker_and_a_bad_one_fails_clearly() {
    let mut rig = Rig::with_config(&config(None));
    rig.member
        .subscribe_regex(rig.now, "orders-.*".into(), &mut rig.metadata)
        .unwrap();
    let (id, _) = rig.only();
    rig.answer(
        id,
        ResponseBody::FindCoordinator(FindCoordinatorResponse::default().with_node_id(1)),
    );
    let (id, join) = one_heartbeat(&rig.round());
    assert_eq!(join.subscribed_topic_regex.as_deref(), Some("orders-.*"));
    assert_eq!(join.subscribed_topic_names, None);
    rig.answer(id, refused(ErrorCode::InvalidRegularExpression));
    let failed = rig.events.iter().find_map(|e| match e {
        Event::Group(GroupEvent::Failed(f)) => Some(f.clone()),
        _ => None,
    });
    assert_eq!(
        failed,
        Some(GroupError::InvalidRegularExpression(
            "scripted INVALID_REGULAR_EXPRESSION".into()
        ))
    );
    assert!(matches!(rig.member.check(), Err(Misuse::GroupFailed(_))));
}

#[test]
fn fatal_and_coordinator_errors_of_a_heartbeat() {
    for code in [
        ErrorCode::GroupMaxSizeReached,
        ErrorCode::UnreleasedInstanceId,
        ErrorCode::UnsupportedAssignor,
    ] {
        let mut rig = Rig::with_config(&config(None));
        let (id, _) = start(&mut rig);
        rig.answer(id, refused(code));
        assert!(
            rig.events
                .iter()
                .any(|e| matches!(e, Event::Group(GroupEvent::Failed(GroupError::Broker(c))) if *c == code)),
            "{code:?} is fatal"
        );
    }
    // A coordinator that moved: found again, then the full state goes.
    let mut rig = Rig::with_config(&config(None));
    joined(&mut rig, &[0]);
    rig.now += Duration::from_secs(2);
    let (id, _) = one_heartbeat(&rig.round());
    rig.answer(id, refused(ErrorCode::NotCoordinator));
    let (id, body) = rig.only();
    assert!(matches!(body, RequestBody::FindCoordinator(_)), "{body:?}");
    rig.answer(
        id,
        ResponseBody::FindCoordinator(FindCoordinatorResponse::default().with_node_id(2)),
    );
    let (_, full) = one_heartbeat(&rig.round());
    assert_eq!(full.member_epoch, 1, "keeps its epoch");
    assert_eq!(full.subscribed_topic_names, Some(vec!["t".to_string()]));
    assert_eq!(owned_in(&full), Some(vec![(T, vec![0])]));
    assert_eq!(full.rebalance_timeout_ms, 300_000);
}

#[test]
fn missing_the_max_poll_interval_leaves_with_minus_1_and_the_next_poll_rejoins() {
    // Even a static member leaves for good (-1), as the Java client does.
    let mut rig = Rig::with_config(&config(Some("i-1")));
    let id = joined(&mut rig, &[0, 1]);
    assert!(rig
        .consumer
        .store(&tp("t", 0), ConsumedOffset::new(4, None)));
    rig.now += Duration::from_secs(301);
    let reqs = rig.round();
    let events = rig.consumer_events();
    assert!(
        matches!(&events[..], [ConsumerEvent::PartitionsLost { partitions }] if partitions.len() == 2),
        "{events:?}"
    );
    assert!(
        !reqs
            .iter()
            .any(|(_, b)| matches!(b, RequestBody::OffsetCommit(_))),
        "lost: nothing committed"
    );
    let (_, leave) = one_heartbeat(&reqs);
    assert_eq!(leave.member_epoch, -1);
    assert_eq!(leave.member_id, id);
    // Nothing more until the application polls; then a join at epoch 0
    // with the same member id.
    rig.now += Duration::from_secs(10);
    assert!(heartbeats(&rig.round()).is_empty());
    rig.member.record_poll(rig.now);
    let (_, join) = one_heartbeat(&rig.round());
    assert_eq!(join.member_epoch, 0);
    assert_eq!(join.member_id, id);
    assert_eq!(join.instance_id.as_deref(), Some("i-1"));
}

#[test]
fn a_member_fenced_while_a_topic_id_is_unresolved_forgets_that_target() {
    let mut rig = Rig::with_config(&config(None));
    joined(&mut rig, &[0]);
    // The next answer adds partitions of a topic the metadata does not
    // name yet; they wait.
    rig.now += Duration::from_secs(2);
    let (id, _) = one_heartbeat(&rig.round());
    rig.answer(id, beat(2, assignment(&[(T, &[0]), (U, &[0, 1])])));
    rig.round();
    assert_eq!(rig.member.consumer_protocol.target_len(), Some(3));
    // Fenced before the id resolves: what it owned is lost, and the
    // target it could not reach goes with the epoch.
    rig.now += Duration::from_secs(2);
    let (id, _) = one_heartbeat(&rig.round());
    rig.answer(id, refused(ErrorCode::FencedMemberEpoch));
    let reqs = rig.round();
    let events = rig.consumer_events();
    assert!(
        matches!(&events[..], [ConsumerEvent::PartitionsLost { partitions }] if *partitions == [tp("t", 0)]),
        "only what it owned is lost: {events:?}"
    );
    assert_eq!(rig.member.consumer_protocol.target_len(), None);
    let (id, rejoin) = one_heartbeat(&reqs);
    assert_eq!(rejoin.member_epoch, 0);
    assert_eq!(owned_in(&rejoin), Some(Vec::new()));
    // The id resolving later brings nothing of the old target.
    learn(&mut rig, &[("t", T, 3), ("u", U, 2)]);
    rig.round();
    assert!(rig.consumer_events().is_empty());
    assert_eq!(rig.consumer.assignment().count(), 0);
    // The new epoch's assignment is what it gets.
    rig.answer(id, beat(4, assignment(&[(U, &[1])])));
    rig.round();
    let events = rig.consumer_events();
    assert!(
        matches!(&events[..], [ConsumerEvent::PartitionsAssigned { partitions }] if *partitions == [tp("u", 1)]),
        "{events:?}"
    );
}

#[test]
fn the_next_heartbeat_is_due_an_interval_after_the_last_one_went() {
    let mut rig = Rig::with_config(&config(None));
    joined(&mut rig, &[0]);
    rig.now += Duration::from_secs(2);
    let (id, _) = one_heartbeat(&rig.round());
    // Answered 1.5 s later: the next one goes 0.5 s after the answer.
    rig.now += Duration::from_millis(1500);
    rig.answer(id, beat(1, None));
    assert!(heartbeats(&rig.round()).is_empty());
    rig.now += Duration::from_millis(500);
    let (id, _) = one_heartbeat(&rig.round());
    // Answered after more than the interval (2 s, as the coordinator
    // says): the coordinator has not heard from the member since it
    // went, so the next one goes at once.
    rig.now += Duration::from_millis(2500);
    rig.answer(id, beat(1, None));
    assert_eq!(heartbeats(&rig.round()).len(), 1);
}
