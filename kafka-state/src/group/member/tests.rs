//! The member's steps against hand-made answers: what it sends, what it
//! asks of the consumer, and that bad input is an error, never a panic.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_proto::messages::join_group_response::JoinGroupResponseMember;
use kafka_proto::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_proto::messages::{
    FindCoordinatorResponse, HeartbeatResponse, JoinGroupResponse, OffsetCommitResponse,
    SyncGroupResponse,
};
use kafka_proto::{ErrorCode, RequestBody, ResponseBody};

use super::commit::CommitBook;
use super::*;
use crate::group::{AssignError, Assignment, PartitionInfo, TopicInfo};
use crate::metadata::ClusterMetadata;
use crate::BrokerAddr;

#[allow(clippy::disallowed_methods)] // a test needs some Instant to start from
pub(super) fn t0() -> Instant {
    Instant::now()
}

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new("t", p)
}

/// Gives each member the partitions listed for it, whatever they own.
#[derive(Debug)]
struct Fixed {
    plan: BTreeMap<String, Vec<TopicPartition>>,
    cooperative: bool,
}

impl Assignor for Fixed {
    fn name(&self) -> &str {
        "fixed"
    }
    fn protocol(&self) -> RebalanceProtocol {
        if self.cooperative {
            RebalanceProtocol::Cooperative
        } else {
            RebalanceProtocol::Eager
        }
    }
    fn assign(
        &self,
        _topics: &BTreeMap<String, TopicInfo>,
        members: &[MemberSubscription],
    ) -> Result<BTreeMap<String, Assignment>, AssignError> {
        Ok(members
            .iter()
            .map(|m| {
                let partitions = self.plan.get(&m.member_id).cloned().unwrap_or_default();
                (
                    m.member_id.clone(),
                    Assignment {
                        partitions,
                        user_data: None,
                    },
                )
            })
            .collect())
    }
}

fn member_sub(id: &str, owned: &[i32], generation: i32) -> MemberSubscription {
    MemberSubscription {
        member_id: id.into(),
        instance_id: None,
        subscription: Subscription {
            topics: vec!["t".into()],
            owned_partitions: owned.iter().map(|p| tp(*p)).collect(),
            generation_id: generation,
            ..Subscription::default()
        },
    }
}

fn topics(n: i32) -> BTreeMap<String, TopicInfo> {
    let partitions = (0..n)
        .map(|p| PartitionInfo {
            partition: p,
            racks: Vec::new(),
        })
        .collect();
    BTreeMap::from([("t".to_string(), TopicInfo { partitions })])
}

fn decoded(map: &BTreeMap<String, Bytes>, id: &str) -> Vec<TopicPartition> {
    protocol::decode_assignment(&map[id]).unwrap().partitions
}

#[test]
fn the_leader_holds_back_what_another_member_still_owns() {
    let plan = BTreeMap::from([
        // p0 moves from a to b, p9 does not exist, p1 is handed out twice.
        ("a".to_string(), vec![tp(1), tp(2), tp(9)]),
        (
            "b".to_string(),
            vec![tp(0), tp(1), TopicPartition::new("x", 0)],
        ),
        ("c".to_string(), vec![tp(3)]),
    ]);
    let members = [
        member_sub("a", &[0, 1], 5),
        member_sub("b", &[], 5),
        // A stale claim (older generation) does not hold p3 back.
        member_sub("c", &[], 5),
        member_sub("d", &[3], 4),
    ];
    for cooperative in [true, false] {
        let assignor = Fixed {
            plan: plan.clone(),
            cooperative,
        };
        let protocol = assignor.protocol();
        let out = leader::assign(&assignor, protocol, &members, &topics(4)).unwrap();
        assert_eq!(out.len(), 4, "every member gets an answer");
        assert_eq!(decoded(&out, "a"), vec![tp(1), tp(2)]);
        let b = decoded(&out, "b");
        if cooperative {
            // a revokes p0 first; b gets it in the next rebalance.
            assert!(b.is_empty(), "{b:?}");
        } else {
            assert_eq!(b, vec![tp(0)]);
        }
        assert_eq!(decoded(&out, "c"), vec![tp(3)]);
        assert!(decoded(&out, "d").is_empty());
    }
}

#[test]
fn overlapping_commits_never_take_the_acknowledged_offset_back() {
    let now = t0();
    let cache = ClusterMetadata::default();
    let mut book = CommitBook::default();
    let mut events = VecDeque::new();
    let (first, second) = (RequestId(1), RequestId(2));
    let at = |o| BTreeMap::from([(tp(0), OffsetAndMetadata::new(o, None))]);
    // Both in flight at once.
    book.add(
        first,
        true,
        3,
        "m",
        None,
        at(10),
        now,
        Duration::from_secs(5),
    );
    let mut reqs = book.poll(now, "g", &cache, || RequestId(101), &mut events);
    book.add(
        second,
        false,
        3,
        "m",
        None,
        at(15),
        now,
        Duration::from_secs(5),
    );
    reqs.extend(book.poll(now, "g", &cache, || RequestId(102), &mut events));
    assert_eq!(reqs.len(), 2);
    let answer = |code: ErrorCode| {
        OffsetCommitResponse::default().with_topics(vec![OffsetCommitResponseTopic::default()
            .with_name("t".into())
            .with_partitions(vec![OffsetCommitResponsePartition::default()
                .with_partition_index(0)
                .with_error_code(code.code())])])
    };
    // The newer commit is answered first, then the older one.
    let ok = answer(ErrorCode::None);
    book.handle(
        now,
        reqs[1].0,
        Some(&ok),
        &cache,
        Duration::ZERO,
        &mut events,
    );
    book.handle(
        now,
        reqs[0].0,
        Some(&ok),
        &cache,
        Duration::ZERO,
        &mut events,
    );
    assert_eq!(book.acknowledged()[&tp(0)].offset, 15);
    assert_eq!(events.len(), 2);

    // An older commit that must be retried is superseded by a newer one.
    let (third, fourth) = (RequestId(3), RequestId(4));
    book.add(
        third,
        true,
        3,
        "m",
        None,
        at(20),
        now,
        Duration::from_secs(5),
    );
    let reqs = book.poll(now, "g", &cache, || RequestId(200), &mut events);
    let moved = answer(ErrorCode::NotCoordinator);
    let verdict = book.handle(
        now,
        reqs[0].0,
        Some(&moved),
        &cache,
        Duration::ZERO,
        &mut events,
    );
    assert_eq!(verdict, commit::CommitVerdict::FindCoordinator);
    book.add(
        fourth,
        false,
        3,
        "m",
        None,
        at(25),
        now,
        Duration::from_secs(5),
    );
    events.clear();
    let reqs = book.poll(now, "g", &cache, || RequestId(300), &mut events);
    assert_eq!(reqs.len(), 1, "only the newest commit goes");
    assert!(matches!(
        events.pop_front(),
        Some(Event::Group(GroupEvent::Committed { id, offsets, .. }))
            if id == third && offsets[&tp(0)] == Err(CommitError::Superseded)
    ));
    // A generation that ended is a rebalance error, not retried.
    let fenced = answer(ErrorCode::IllegalGeneration);
    let verdict = book.handle(
        now,
        reqs[0].0,
        Some(&fenced),
        &cache,
        Duration::ZERO,
        &mut events,
    );
    assert_eq!(
        verdict,
        commit::CommitVerdict::GenerationOver(ErrorCode::IllegalGeneration)
    );
    assert_eq!(book.acknowledged()[&tp(0)].offset, 15);
    assert_eq!(
        book.latest(&tp(0)),
        None,
        "a failed commit is tried again later"
    );

    // Commits of partitions lost before they went are dropped.
    book.add(
        RequestId(5),
        true,
        3,
        "m",
        None,
        at(30),
        now,
        Duration::from_secs(5),
    );
    events.clear();
    book.drop_lost(&BTreeSet::from([tp(0)]), &mut events);
    assert!(matches!(
        events.pop_front(),
        Some(Event::Group(GroupEvent::Committed { offsets, .. }))
            if offsets[&tp(0)] == Err(CommitError::NotOwned)
    ));
    assert!(!book.has_unsent());
}

/// A member with the client's surroundings, driven by hand.
pub(super) struct Rig {
    pub(super) member: GroupMember,
    pub(super) consumer: ConsumerState,
    pub(super) metadata: MetadataState,
    pub(super) requests: RequestQueue,
    pub(super) events: VecDeque<Event>,
    pub(super) now: Instant,
}

impl Rig {
    fn new(cooperative: bool) -> Self {
        let mut config = Config::new([BrokerAddr::new("b", 9092)]);
        config.group = Some(GroupConfig::new("g").only_assignor(move || Fixed {
            plan: BTreeMap::from([("m1".to_string(), vec![tp(0), tp(1)])]),
            cooperative,
        }));
        let mut rig = Self::with_config(&config);
        rig.member.subscribe(
            rig.now,
            BTreeSet::from(["t".to_string()]),
            &mut rig.metadata,
        );
        rig
    }

    /// A member of `config`'s group, not subscribed yet.
    pub(super) fn with_config(config: &Config) -> Self {
        let now = t0();
        Self {
            member: GroupMember::new(config, now),
            consumer: ConsumerState::new(config),
            metadata: MetadataState::new(now, Duration::from_secs(300), Duration::ZERO),
            requests: RequestQueue::default(),
            events: VecDeque::new(),
            now,
        }
    }

    /// One pump round: the step with the consumer, then the requests.
    /// Returns what the member queued.
    pub(super) fn round(&mut self) -> Vec<(RequestId, RequestBody)> {
        self.member.cooperate(Cooperate {
            now: self.now,
            api_timeout: Duration::from_secs(60),
            consumer: &mut self.consumer,
            metadata: &mut self.metadata,
            requests: &mut self.requests,
            events: &mut self.events,
        });
        let ready = |_: i32| true;
        let mut wanted = BTreeSet::new();
        let mut ctx = Ctx::new(
            self.now,
            Duration::from_secs(60),
            &mut self.metadata,
            &mut self.requests,
            &mut self.events,
            &ready,
            &mut wanted,
        );
        self.member.poll_requests(&mut ctx);
        self.requests
            .queue
            .drain(..)
            .map(|o| (o.id, o.body))
            .collect()
    }

    pub(super) fn answer(&mut self, id: RequestId, body: ResponseBody) {
        let ready = |_: i32| true;
        let mut wanted = BTreeSet::new();
        let mut ctx = Ctx::new(
            self.now,
            Duration::from_secs(60),
            &mut self.metadata,
            &mut self.requests,
            &mut self.events,
            &ready,
            &mut wanted,
        );
        self.member.handle_response(
            &mut ctx,
            Inbound {
                id,
                result: Ok(body),
            },
        );
    }

    pub(super) fn only(&mut self) -> (RequestId, RequestBody) {
        let mut reqs = self.round();
        assert_eq!(reqs.len(), 1, "{reqs:?}");
        reqs.remove(0)
    }

    /// Finds the coordinator and joins as leader "m1" in generation 1 with
    /// members whose metadata is `others`.
    fn join(&mut self, others: Vec<JoinGroupResponseMember>) {
        let (id, body) = self.only();
        assert!(matches!(body, RequestBody::FindCoordinator(_)));
        self.answer(
            id,
            ResponseBody::FindCoordinator(FindCoordinatorResponse::default().with_node_id(1)),
        );
        let (id, body) = self.only();
        let RequestBody::JoinGroup(join) = body else {
            panic!("{body:?}")
        };
        assert_eq!(join.member_id, "");
        self.answer(
            id,
            ResponseBody::JoinGroup(
                JoinGroupResponse::default()
                    .with_error_code(ErrorCode::MemberIdRequired.code())
                    .with_member_id("m1".into()),
            ),
        );
        let (id, body) = self.only();
        let RequestBody::JoinGroup(join) = body else {
            panic!("{body:?}")
        };
        assert_eq!(join.member_id, "m1", "the second join carries the given id");
        let mut members = vec![JoinGroupResponseMember::default()
            .with_member_id("m1".into())
            .with_metadata(join.protocols[0].metadata.clone())];
        members.extend(others);
        self.answer(
            id,
            ResponseBody::JoinGroup(
                JoinGroupResponse::default()
                    .with_generation_id(1)
                    .with_protocol_name(Some("fixed".into()))
                    .with_leader("m1".into())
                    .with_member_id("m1".into())
                    .with_members(members),
            ),
        );
    }

    fn sync(&mut self, assignment: Bytes) {
        // The leader waits for metadata of "t" at most METADATA_WAIT.
        self.now += METADATA_WAIT;
        let (id, body) = self.only();
        let RequestBody::SyncGroup(sync) = body else {
            panic!("{body:?}")
        };
        assert_eq!(sync.generation_id, 1);
        self.answer(
            id,
            ResponseBody::SyncGroup(SyncGroupResponse::default().with_assignment(assignment)),
        );
    }

    pub(super) fn consumer_events(&mut self) -> Vec<ConsumerEvent> {
        self.events
            .drain(..)
            .filter_map(|e| match e {
                Event::Consumer(c) => Some(c),
                _ => None,
            })
            .collect()
    }
}

use crate::consumer::ConsumerEvent;

#[test]
fn a_stale_heartbeat_answer_is_ignored_and_a_current_one_loses_partitions() {
    let mut rig = Rig::new(false);
    // A member whose metadata is garbage subscribes to nothing; no panic.
    rig.join(vec![JoinGroupResponseMember::default()
        .with_member_id("junk".into())
        .with_metadata(Bytes::from_static(b"\x00\x01\xff"))]);
    let mine = protocol::encode_assignment(
        &Assignment {
            partitions: vec![tp(0), tp(1)],
            user_data: None,
        },
        protocol::ASSIGNMENT_VERSION,
    )
    .unwrap();
    rig.sync(mine);
    rig.round(); // the consumer takes the partitions; offsets are fetched
    assert_eq!(rig.consumer.assignment().count(), 2);
    assert!(matches!(
        rig.consumer_events().first(),
        Some(ConsumerEvent::PartitionsAssigned { partitions }) if partitions.len() == 2
    ));
    // Heartbeats go every interval.
    rig.now += Duration::from_secs(3);
    let reqs = rig.round();
    let (hb, _) = reqs
        .iter()
        .find(|(_, b)| matches!(b, RequestBody::Heartbeat(_)))
        .cloned()
        .expect("a heartbeat");
    // An answer to a heartbeat the member no longer waits for: ignored.
    rig.answer(
        RequestId(9999),
        ResponseBody::Heartbeat(
            HeartbeatResponse::default().with_error_code(ErrorCode::IllegalGeneration.code()),
        ),
    );
    assert_eq!(rig.member.owned().len(), 2);
    // The current one: the generation is over, partitions lost.
    rig.answer(
        hb,
        ResponseBody::Heartbeat(
            HeartbeatResponse::default().with_error_code(ErrorCode::UnknownMemberId.code()),
        ),
    );
    let reqs = rig.round();
    let events = rig.consumer_events();
    assert!(
        matches!(&events[..], [ConsumerEvent::PartitionsLost { partitions }] if partitions.len() == 2),
        "{events:?}"
    );
    assert_eq!(rig.consumer.assignment().count(), 0);
    let join = reqs
        .iter()
        .find_map(|(_, b)| match b {
            RequestBody::JoinGroup(j) => Some(j.clone()),
            _ => None,
        })
        .expect("rejoins at once");
    assert_eq!(join.member_id, "", "UNKNOWN_MEMBER_ID forgets the id");
    assert_eq!(rig.member.metadata().unwrap().generation_id, -1);
}

#[test]
fn an_undecodable_assignment_rejoins_instead_of_panicking() {
    let mut rig = Rig::new(true);
    rig.join(Vec::new());
    rig.sync(Bytes::from_static(b"\x00\x03\xff\xff\xff"));
    assert_eq!(rig.member.owned().len(), 0);
    // Back to joining after the retry backoff.
    rig.now += Duration::from_secs(1);
    let reqs = rig.round();
    assert!(
        reqs.iter()
            .any(|(_, b)| matches!(b, RequestBody::JoinGroup(_))),
        "{reqs:?}"
    );
}

#[test]
fn cooperative_members_revoke_only_what_moves_and_rejoin() {
    let mut rig = Rig::new(true);
    rig.join(Vec::new());
    let assignment = |ps: &[i32]| {
        protocol::encode_assignment(
            &Assignment {
                partitions: ps.iter().map(|p| tp(*p)).collect(),
                user_data: None,
            },
            protocol::ASSIGNMENT_VERSION,
        )
        .unwrap()
    };
    rig.sync(assignment(&[0, 1]));
    rig.round();
    rig.consumer_events();
    assert!(rig.consumer.store(&tp(1), ConsumedOffset::new(7, Some(2))));
    // A rebalance: the member keeps its partitions through the join.
    rig.member.rejoin_needed = true;
    let reqs = rig.round();
    assert!(
        rig.consumer_events().is_empty(),
        "nothing revoked before the join"
    );
    let (id, join) = reqs
        .into_iter()
        .find(|(_, b)| matches!(b, RequestBody::JoinGroup(_)))
        .expect("rejoins");
    let RequestBody::JoinGroup(join) = join else {
        unreachable!()
    };
    let sub = protocol::decode_subscription(&join.protocols[0].metadata).unwrap();
    assert_eq!(sub.owned_partitions, vec![tp(0), tp(1)]);
    assert_eq!(sub.generation_id, 1);
    rig.answer(
        id,
        ResponseBody::JoinGroup(
            JoinGroupResponse::default()
                .with_generation_id(2)
                .with_protocol_name(Some("fixed".into()))
                .with_leader("other".into())
                .with_member_id("m1".into()),
        ),
    );
    let (id, _) = rig.only();
    rig.answer(
        id,
        ResponseBody::SyncGroup(SyncGroupResponse::default().with_assignment(assignment(&[0]))),
    );
    // p1 moves: its consumed offset is committed, then it is revoked, and
    // the member rejoins so that it can be handed over.
    let reqs = rig.round();
    let events = rig.consumer_events();
    assert!(
        matches!(&events[..], [ConsumerEvent::PartitionsRevoked { partitions, .. }] if *partitions == [tp(1)]),
        "{events:?}"
    );
    let commit = reqs
        .iter()
        .position(|(_, b)| matches!(b, RequestBody::OffsetCommit(c) if c.generation_id_or_member_epoch == 2 && c.topics[0].partitions[0].committed_offset == 7))
        .expect("the revoked partition is committed");
    let join = reqs
        .iter()
        .position(|(_, b)| matches!(b, RequestBody::JoinGroup(_)))
        .expect("rejoins");
    assert!(commit < join, "the commit goes before the rejoin");
    assert_eq!(
        rig.consumer.assignment().cloned().collect::<Vec<_>>(),
        vec![tp(0)]
    );
}

use crate::consumer::ConsumedOffset;
