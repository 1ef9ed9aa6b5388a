//! The operator's admin commands on a 3-broker Apache Kafka cluster:
//! a partition moved to another broker set (listed while and after the
//! move, the preferred leader elected after it), log directories of
//! every broker, committed offsets deleted, the producers a leader keeps
//! after an idempotent produce, transactions listed and described while
//! one is open and after its commit, feature updates checked with
//! validate_only, group listings filtered by type, share groups
//! described, the max-timestamp and earliest-local offset specs, and
//! topic administration (explicit replica assignment, validate-only
//! creation, deletion by id, authorized operations, and offline replicas
//! of a stopped broker, last). One cluster serves them all, so they run
//! in one test, bounded in time.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kafka_state::Misuse;
use kafka_testkit::KafkaCluster;
use kafka_tokio::{
    AclOperation, BrokerAddr, Client, Config, ElectionType, Error, ErrorCode, FeatureUpdate,
    FeatureUpgrade, NewTopic, OffsetSpec, ProducerRecord, TopicPartition, TransactionFilter,
};

async fn connect(cluster: &KafkaCluster, setup: impl FnOnce(&mut Config)) -> Client {
    let mut config = Config::new(BrokerAddr::parse_list(&cluster.bootstrap()).unwrap());
    config.api_timeout = Duration::from_secs(30);
    setup(&mut config);
    tokio::time::timeout(Duration::from_secs(30), Client::connect(config))
        .await
        .expect("connects in time")
        .unwrap()
}

/// Asks `check` again every 200 ms until it gives a value, for up to 30 s.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < until, "{what}: not in 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The replicas and leader of a partition, from fresh metadata (none
/// while the broker asked has not learned a new topic yet).
async fn placement(client: &Client, topic: &str, partition: i32) -> (Vec<i32>, Option<i32>) {
    let md = client.metadata([topic]).await.unwrap();
    md.partition(topic, partition)
        .map_or((Vec::new(), None), |p| (p.replicas.clone(), p.leader))
}

fn misuse(e: Result<impl std::fmt::Debug, Error>) -> Misuse {
    match e {
        Err(Error::Misuse(m)) => m,
        other => panic!("expected a refusal before sending, got {other:?}"),
    }
}

#[tokio::test]
async fn operator_admin_commands_on_kafka() {
    let Some(cluster) = KafkaCluster::builder().brokers(3).start() else {
        return;
    };
    tokio::time::timeout(Duration::from_secs(240), body(&cluster))
        .await
        .expect("the admin commands finish in 4 minutes");
}

async fn body(cluster: &KafkaCluster) {
    let client = connect(cluster, |_| {}).await;
    let topic = "moved";
    client
        .create_topic(NewTopic::new(topic, 1, 2))
        .await
        .unwrap();
    let (replicas, _) = eventually("the new topic's replicas", || async {
        let (r, l) = placement(&client, topic, 0).await;
        (r.len() == 2 && l.is_some()).then_some((r, l))
    })
    .await;
    let tp = TopicPartition::new(topic, 0);

    // Mistakes are refused before anything is sent, naming the item.
    let bad = |replicas: Option<Vec<i32>>, tp: TopicPartition| BTreeMap::from([(tp, replicas)]);
    assert!(matches!(
        misuse(client.alter_partition_reassignments(bad(Some(vec![1, -2]), tp.clone())).await),
        Misuse::InvalidReassignment { partition, .. } if partition == tp
    ));
    assert!(matches!(
        misuse(
            client
                .alter_partition_reassignments(bad(Some(vec![1, 1]), tp.clone()))
                .await
        ),
        Misuse::InvalidReassignment { .. }
    ));
    assert!(matches!(
        misuse(
            client
                .alter_partition_reassignments(bad(Some(vec![1]), TopicPartition::new("a b", 0)))
                .await
        ),
        Misuse::InvalidTopicName { name, .. } if name == "a b"
    ));
    assert!(matches!(
        misuse(
            client
                .alter_partition_reassignments(bad(Some(vec![1]), TopicPartition::new(topic, -1)))
                .await
        ),
        Misuse::InvalidPartition(p) if p.partition == -1
    ));
    assert!(matches!(
        misuse(
            client
                .describe_producers([TopicPartition::new(topic, -3)])
                .await
        ),
        Misuse::InvalidPartition(_)
    ));
    // A broker that does not exist is the controller's refusal, for that
    // partition.
    let refused = client
        .alter_partition_reassignments(bad(Some(vec![replicas[0], 99]), tp.clone()))
        .await
        .unwrap();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].partition, tp);
    assert!(refused[0].error.is_error(), "{refused:?}");
    // Cancelling when nothing moves is the controller's answer too.
    let cancel = client
        .alter_partition_reassignments(bad(None, tp.clone()))
        .await
        .unwrap();
    assert_eq!(cancel[0].error, ErrorCode::NoReassignmentInProgress);

    // Move the partition onto the broker it lacks, which comes first
    // (the preferred leader), dropping one of the two it has.
    let all = cluster.node_ids();
    let newcomer = *all.iter().find(|n| !replicas.contains(n)).unwrap();
    let target = vec![newcomer, replicas[0]];
    let moved = client
        .alter_partition_reassignments(bad(Some(target.clone()), tp.clone()))
        .await
        .unwrap();
    assert_eq!(moved[0].error, ErrorCode::None, "{moved:?}");
    // While it moves the controller lists it (with the newcomer being
    // added); a partition this small may already be done.
    let listed = client.list_partition_reassignments(None).await.unwrap();
    if let Some(r) = listed.get(&tp) {
        assert!(r.replicas.contains(&newcomer), "{r:?}");
    }
    let only = client
        .list_partition_reassignments(Some(vec![tp.clone()]))
        .await
        .unwrap();
    assert!(only.keys().all(|k| *k == tp), "{only:?}");
    eventually("the move to end", || async {
        let listed = client.list_partition_reassignments(None).await.unwrap();
        let (r, _) = placement(&client, topic, 0).await;
        (!listed.contains_key(&tp) && r == target).then_some(())
    })
    .await;

    // The preferred leader is the newcomer: elect it.
    let elected = client
        .elect_leaders(ElectionType::Preferred, Some(vec![tp.clone()]))
        .await
        .unwrap();
    assert_eq!(elected.len(), 1);
    assert!(
        matches!(
            elected[0].error,
            ErrorCode::None | ErrorCode::ElectionNotNeeded
        ),
        "{elected:?}"
    );
    eventually("the preferred leader to lead", || async {
        (placement(&client, topic, 0).await.1 == Some(newcomer)).then_some(())
    })
    .await;
    let again = client
        .elect_leaders(ElectionType::Preferred, Some(vec![tp.clone()]))
        .await
        .unwrap();
    assert_eq!(again[0].error, ErrorCode::ElectionNotNeeded);
    let missing = client
        .elect_leaders(
            ElectionType::Preferred,
            Some(vec![TopicPartition::new("no-such-topic", 0)]),
        )
        .await
        .unwrap();
    assert_eq!(missing[0].error, ErrorCode::UnknownTopicOrPartition);

    // Log directories: every broker answers; those with a replica list it.
    let dirs = client
        .describe_log_dirs(Some(vec![topic.to_string()]))
        .await
        .unwrap();
    assert_eq!(dirs.iter().map(|b| b.node).collect::<Vec<_>>(), all);
    for b in &dirs {
        assert_eq!(b.error, ErrorCode::None);
        assert!(!b.dirs.is_empty());
        let holds = b
            .dirs
            .iter()
            .flat_map(|d| &d.replicas)
            .any(|r| r.partition == tp);
        assert_eq!(holds, target.contains(&b.node), "broker {}: {b:?}", b.node);
    }
    let everything = client.describe_log_dirs(None).await.unwrap();
    assert!(everything.iter().all(|b| b.dirs[0].total_bytes.is_some()));

    // An idempotent produce: the leader keeps our producer's state.
    let idem = connect(cluster, |c| c.producer.enable_idempotence = true).await;
    let now_ms = 1_700_000_000_000;
    for (i, ts) in [now_ms, now_ms + 50, now_ms + 10].into_iter().enumerate() {
        idem.producer()
            .send(
                ProducerRecord::new(topic)
                    .with_partition(0)
                    .with_value(format!("v{i}"))
                    .with_timestamp(ts),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let producers = client.describe_producers([tp.clone()]).await.unwrap();
    let states = producers[&tp].as_ref().unwrap();
    assert_eq!(states.len(), 1, "{states:?}");
    assert!(states[0].producer_id >= 0);
    assert_eq!(states[0].last_sequence, 2);
    assert_eq!(states[0].current_txn_start_offset, None);
    let unknown = client
        .describe_producers([TopicPartition::new(topic, 7)])
        .await
        .unwrap();
    assert!(unknown.values().all(Result::is_err), "{unknown:?}");

    // Offset specs: the record with the largest timestamp is the second.
    let max = client
        .offsets([tp.clone()], OffsetSpec::MaxTimestamp)
        .await
        .unwrap();
    let max = max[&tp].as_ref().unwrap();
    assert_eq!((max.offset, max.timestamp), (Some(1), Some(now_ms + 50)));
    let local = client
        .offsets([tp.clone()], OffsetSpec::EarliestLocal)
        .await
        .unwrap();
    assert_eq!(local[&tp].as_ref().unwrap().offset, Some(0));

    // Committed offsets, deleted.
    let group = "ops-group";
    let set = client
        .alter_group_offsets(group, BTreeMap::from([(tp.clone(), 2)]))
        .await
        .unwrap();
    assert_eq!(set[&tp], ErrorCode::None);
    assert!(client
        .group_offsets(group)
        .await
        .unwrap()
        .offsets
        .contains_key(&tp));
    let deleted = client
        .delete_group_offsets(group, [tp.clone()])
        .await
        .unwrap();
    assert_eq!(deleted[&tp], ErrorCode::None, "{deleted:?}");
    assert!(client
        .group_offsets(group)
        .await
        .unwrap()
        .offsets
        .is_empty());
    let no_group = client
        .delete_group_offsets("never-was", [tp.clone()])
        .await
        .unwrap();
    assert_eq!(no_group[&tp], ErrorCode::GroupIdNotFound);
    // A group that consumes the topic keeps its offsets.
    let live = connect(cluster, |c| {
        c.group = Some(kafka_tokio::GroupConfig::new("ops-live"));
        c.consumer.auto_offset_reset = kafka_tokio::AutoOffsetReset::Earliest;
    })
    .await;
    let mut consumer = live.consumer().unwrap();
    consumer.subscribe([topic]).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(30), async {
        use futures_core::Stream;
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut consumer).poll_next(cx)).await
    })
    .await
    .expect("a record in time");
    assert!(matches!(first, Some(Ok(_))), "{first:?}");
    let kept = client
        .delete_group_offsets("ops-live", [tp.clone()])
        .await
        .unwrap();
    assert_eq!(kept[&tp], ErrorCode::GroupSubscribedToTopic, "{kept:?}");
    drop(consumer);
    live.close().await;
    let classic = client
        .list_groups_matching(Vec::<String>::new(), ["classic"])
        .await
        .unwrap();
    assert!(
        classic.groups.iter().any(|g| g.group_id == group),
        "{classic:?}"
    );
    let share = client
        .list_groups_matching(Vec::<String>::new(), ["share"])
        .await
        .unwrap();
    assert!(
        share.groups.iter().all(|g| g.group_id != group),
        "{share:?}"
    );
    let described = client.describe_share_groups([group]).await.unwrap();
    assert!(described[0].error.is_error(), "{described:?}");

    // A transaction left open, then committed.
    let txn_id = "ops-txn";
    let txn = connect(cluster, |c| {
        c.producer.transactional_id = Some(txn_id.into());
    })
    .await;
    let producer = txn.producer();
    producer.init_transactions().await.unwrap();
    producer.begin_transaction().await.unwrap();
    producer
        .send(ProducerRecord::new(topic).with_partition(0).with_value("t"))
        .await
        .unwrap()
        .await
        .unwrap();
    let ongoing = client
        .list_transactions(TransactionFilter::any().with_state("Ongoing"))
        .await
        .unwrap();
    assert!(ongoing.errors.is_empty(), "{ongoing:?}");
    let ours = ongoing
        .transactions
        .iter()
        .find(|t| t.transactional_id == txn_id)
        .unwrap_or_else(|| panic!("{txn_id} listed: {ongoing:?}"));
    assert_eq!(ours.state, "Ongoing");
    let by_pid = client
        .list_transactions(TransactionFilter::any().with_producer_id(ours.producer_id))
        .await
        .unwrap();
    assert_eq!(by_pid.transactions.len(), 1, "{by_pid:?}");
    let by_pattern = client
        .list_transactions(TransactionFilter::any().with_id_pattern("^ops-t.*"))
        .await
        .unwrap();
    assert_eq!(
        by_pattern
            .transactions
            .iter()
            .map(|t| t.transactional_id.as_str())
            .collect::<Vec<_>>(),
        [txn_id]
    );
    let long_open = client
        .list_transactions(TransactionFilter::any().with_min_duration_ms(3_600_000))
        .await
        .unwrap();
    assert!(long_open.transactions.is_empty(), "{long_open:?}");
    let open = client.describe_transactions([txn_id]).await.unwrap();
    assert_eq!(open[0].error, ErrorCode::None);
    assert_eq!(open[0].state, "Ongoing");
    assert_eq!(open[0].producer_id, ours.producer_id);
    assert_eq!(open[0].partitions, vec![tp.clone()]);
    let producers = client.describe_producers([tp.clone()]).await.unwrap();
    let txn_state = producers[&tp]
        .as_ref()
        .unwrap()
        .iter()
        .find(|p| p.producer_id == ours.producer_id)
        .expect("the transactional producer at the leader");
    assert!(txn_state.current_txn_start_offset.is_some());
    producer.commit_transaction().await.unwrap();
    let done = eventually("the commit to complete", || async {
        let d = client.describe_transactions([txn_id]).await.unwrap();
        (d[0].state == "CompleteCommit").then_some(d)
    })
    .await;
    assert!(done[0].partitions.is_empty());
    let unknown = client.describe_transactions(["no-such-txn"]).await.unwrap();
    assert_eq!(unknown[0].error, ErrorCode::TransactionalIdNotFound);

    // Features: a validate-only update is checked, not applied.
    let features = client.describe_features(None).await.unwrap();
    let level = features
        .finalized
        .iter()
        .find(|f| f.name == "transaction.version")
        .map(|f| f.max_version_level)
        .expect("transaction.version is finalized");
    let checked = client
        .update_features(
            [FeatureUpdate::new(
                "transaction.version",
                level - 1,
                FeatureUpgrade::SafeDowngrade,
            )],
            true,
        )
        .await
        .unwrap();
    // Kafka 4.4 takes a safe downgrade of transaction.version.
    assert_eq!(checked[0].error, ErrorCode::None, "{checked:?}");
    let same = client
        .update_features([FeatureUpdate::upgrade("transaction.version", level)], true)
        .await
        .unwrap();
    assert_eq!(same[0].error, ErrorCode::None, "{same:?}");
    let unknown = client
        .update_features([FeatureUpdate::upgrade("no.such.feature", 1)], true)
        .await
        .unwrap();
    assert!(unknown[0].error.is_error(), "{unknown:?}");
    let after = client.describe_features(None).await.unwrap();
    assert_eq!(after.finalized, features.finalized);
    assert!(matches!(
        misuse(
            client
                .update_features([FeatureUpdate::upgrade("x", -1)], true)
                .await
        ),
        Misuse::InvalidFeatureUpdate { feature, .. } if feature == "x"
    ));

    share_group(cluster, &client, topic).await;
    throttled_move_listed_then_cancelled(cluster, &client).await;
    topic_admin(cluster, &client).await;

    for c in [txn, idem, client] {
        c.close().await;
    }
}

/// A share group (KIP-932) joined with one raw ShareGroupHeartbeat at its
/// coordinator (this client has no share consumer), then listed by type
/// and described.
async fn share_group(cluster: &KafkaCluster, client: &Client, topic: &str) {
    use kafka_proto::messages::{FindCoordinatorRequest, ShareGroupHeartbeatRequest};
    use kafka_proto::ResponseBody;
    use kafka_testkit::kafka::{request_once, Listener};
    let group = "ops-share";
    let any = cluster.addr(cluster.node_ids()[0], Listener::Plaintext);
    let find = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(vec![group.to_string()]);
    let found = tokio::task::spawn_blocking(move || request_once(any, find.into(), 6))
        .await
        .unwrap()
        .unwrap();
    let ResponseBody::FindCoordinator(found) = found else {
        panic!("{found:?}")
    };
    let node = found.coordinators[0].node_id;
    let at = cluster.addr(node, Listener::Plaintext);
    let join = ShareGroupHeartbeatRequest::default()
        .with_group_id(group.into())
        .with_member_id("c2hhcmUtbWVtYmVyLTAwMQ".into())
        .with_member_epoch(0)
        .with_subscribed_topic_names(Some(vec![topic.to_string()]));
    let joined = tokio::task::spawn_blocking(move || request_once(at, join.into(), 1))
        .await
        .unwrap()
        .unwrap();
    let ResponseBody::ShareGroupHeartbeat(joined) = joined else {
        panic!("{joined:?}")
    };
    assert_eq!(joined.error_code, 0, "{joined:?}");
    let listed = client
        .list_groups_matching(Vec::<String>::new(), ["share"])
        .await
        .unwrap();
    assert!(
        listed.groups.iter().any(|g| g.group_id == group),
        "{listed:?}"
    );
    let described = client.describe_share_groups([group]).await.unwrap();
    let d = &described[0];
    assert_eq!(d.error, ErrorCode::None, "{d:?}");
    assert_eq!(d.group_type, "share");
    assert_eq!(d.members.len(), 1, "{d:?}");
    assert_eq!(d.members[0].member_id, "c2hhcmUtbWVtYmVyLTAwMQ");
}

/// A move held back by a replication throttle is listed while it runs
/// (the new replica as adding), then cancelled: the partition keeps its
/// old replica alone.
async fn throttled_move_listed_then_cancelled(cluster: &KafkaCluster, client: &Client) {
    use kafka_tokio::{AlterConfigOp, ConfigResource};
    let topic = "slow";
    client
        .create_topic(NewTopic::new(topic, 1, 1))
        .await
        .unwrap();
    let (replicas, _) = eventually("the slow topic's leader", || async {
        let (r, l) = placement(client, topic, 0).await;
        l.is_some().then_some((r, l))
    })
    .await;
    let value = vec![b'x'; 10_000];
    let mut deliveries = Vec::new();
    for _ in 0..100 {
        deliveries.push(
            client
                .producer()
                .send(
                    ProducerRecord::new(topic)
                        .with_partition(0)
                        .with_value(value.clone()),
                )
                .await
                .unwrap(),
        );
    }
    for d in deliveries {
        d.await.unwrap();
    }
    let set = |k: &str, v: &str| AlterConfigOp::Set(k.into(), v.into());
    let mut throttles: Vec<(ConfigResource, Vec<AlterConfigOp>)> = cluster
        .node_ids()
        .into_iter()
        .map(|n| {
            (
                ConfigResource::Broker(n),
                vec![
                    set("leader.replication.throttled.rate", "1024"),
                    set("follower.replication.throttled.rate", "1024"),
                ],
            )
        })
        .collect();
    throttles.push((
        ConfigResource::Topic(topic.into()),
        vec![
            set("leader.replication.throttled.replicas", "*"),
            set("follower.replication.throttled.replicas", "*"),
        ],
    ));
    let altered = client.alter_configs(throttles, false).await.unwrap();
    assert!(
        altered.iter().all(|r| r.error == ErrorCode::None),
        "{altered:?}"
    );
    let tp = TopicPartition::new(topic, 0);
    let other = *cluster
        .node_ids()
        .iter()
        .find(|n| !replicas.contains(n))
        .unwrap();
    let started = client
        .alter_partition_reassignments(BTreeMap::from([(
            tp.clone(),
            Some(vec![replicas[0], other]),
        )]))
        .await
        .unwrap();
    assert_eq!(started[0].error, ErrorCode::None, "{started:?}");
    let listed = client
        .list_partition_reassignments(Some(vec![tp.clone()]))
        .await
        .unwrap();
    let r = listed
        .get(&tp)
        .unwrap_or_else(|| panic!("in progress: {listed:?}"));
    assert_eq!(r.adding, vec![other], "{r:?}");
    assert!(r.removing.is_empty(), "{r:?}");
    let cancelled = client
        .alter_partition_reassignments(BTreeMap::from([(tp.clone(), None)]))
        .await
        .unwrap();
    assert_eq!(cancelled[0].error, ErrorCode::None, "{cancelled:?}");
    eventually("the cancel to take", || async {
        let listed = client.list_partition_reassignments(None).await.unwrap();
        let (r, _) = placement(client, topic, 0).await;
        (!listed.contains_key(&tp) && r == replicas).then_some(())
    })
    .await;
}

/// Topic administration: an explicit replica assignment described as
/// given (the first replica leading), validate-only creation (nothing
/// created; the broker's own refusal of an impossible topic), deletion
/// by topic id, a topic's authorized operations without an authorizer,
/// and, last since it stops broker 3, that broker's replicas listed
/// offline.
async fn topic_admin(cluster: &KafkaCluster, client: &Client) {
    // Explicit assignment: described as given, the first replica leads.
    let assignment = vec![vec![3, 1], vec![1, 2], vec![2, 3]];
    let done = client
        .create_topics([NewTopic::assigned("assigned", assignment.clone())])
        .await
        .unwrap();
    assert_eq!(done[0].error, ErrorCode::None, "{done:?}");
    assert_eq!(done[0].partitions, Some(3), "{done:?}");
    assert_eq!(done[0].replication_factor, Some(2), "{done:?}");
    let created_id = done[0].id.expect("CreateTopics v7 gives the id");
    let md = eventually("the assigned topic's leaders", || async {
        let md = client.metadata(["assigned"]).await.ok()?;
        let t = md.topic("assigned")?;
        (t.partitions.len() == 3 && t.partitions.iter().all(|p| p.leader.is_some())).then_some(md)
    })
    .await;
    let t = md.topic("assigned").unwrap();
    assert_eq!(t.id, created_id);
    for (p, replicas) in t.partitions.iter().zip(&assignment) {
        assert_eq!(&p.replicas, replicas, "partition {}", p.partition);
        assert_eq!(p.leader, Some(replicas[0]), "partition {}", p.partition);
        assert!(p.offline_replicas.is_empty(), "{p:?}");
    }
    // Plain metadata does not ask for operations.
    assert_eq!(t.authorized_operations, None);

    // Validate only: a valid topic is reported with its would-be shape
    // and not created; impossible ones get the broker's error, each on
    // its own.
    let done = client
        .create_topics_validate(
            [
                NewTopic::new("checked", 4, 3),
                NewTopic::new("too-replicated", 1, 4),
                NewTopic::assigned("on-99", vec![vec![1, 99]]),
            ],
            true,
        )
        .await
        .unwrap();
    assert_eq!(done.len(), 3, "{done:?}");
    let by = |n: &str| done.iter().find(|o| o.name == n).unwrap().clone();
    let ok = by("checked");
    assert_eq!(ok.error, ErrorCode::None, "{ok:?}");
    assert_eq!(
        (ok.partitions, ok.replication_factor),
        (Some(4), Some(3)),
        "{ok:?}"
    );
    assert_eq!(
        by("too-replicated").error,
        ErrorCode::InvalidReplicationFactor
    );
    assert_eq!(by("on-99").error, ErrorCode::InvalidReplicaAssignment);
    let md = client
        .metadata(["checked", "too-replicated", "on-99"])
        .await
        .unwrap();
    for name in ["checked", "too-replicated", "on-99"] {
        assert_eq!(
            md.topic(name).map(|t| t.error),
            Some(ErrorCode::UnknownTopicOrPartition),
            "{name} was created"
        );
    }

    // Authorized operations without an authorizer: Kafka answers every
    // operation that applies to a topic.
    let md = client.describe_topics(["assigned"], true).await.unwrap();
    let ops = md
        .topic("assigned")
        .unwrap()
        .authorized_operations
        .clone()
        .expect("asked for");
    eprintln!("authorized operations without an authorizer: {ops:?}");
    for op in [
        AclOperation::Read,
        AclOperation::Write,
        AclOperation::Describe,
        AclOperation::Create,
        AclOperation::Delete,
        AclOperation::Alter,
        AclOperation::DescribeConfigs,
        AclOperation::AlterConfigs,
    ] {
        assert!(ops.contains(&op), "{op:?} missing from {ops:?}");
    }
    assert!(!ops.contains(&AclOperation::ClusterAction), "{ops:?}");

    // Delete by id: the answer names the topic; an unknown id is
    // UNKNOWN_TOPIC_ID on its own.
    let stranger = kafka_tokio::Uuid::from_u64_pair(7, 7);
    let victim = client
        .create_topics([NewTopic::new("by-id", 1, 1)])
        .await
        .unwrap()[0]
        .id
        .unwrap();
    let done = client
        .delete_topics_by_id([victim, stranger])
        .await
        .unwrap();
    assert_eq!(done[0].id, victim);
    assert_eq!(done[0].error, ErrorCode::None, "{done:?}");
    assert_eq!(done[0].name.as_deref(), Some("by-id"));
    assert_eq!(done[1].id, stranger);
    assert_eq!(done[1].error, ErrorCode::UnknownTopicId, "{done:?}");
    eventually("the deleted topic gone", || async {
        let md = client.metadata(["by-id"]).await.ok()?;
        (md.topic("by-id")?.error == ErrorCode::UnknownTopicOrPartition).then_some(())
    })
    .await;

    // A stopped broker: KRaft fences it, and Metadata lists its replicas
    // as offline (and out of the ISR).
    cluster.stop(3);
    let offline = eventually("broker 3's replicas offline", || async {
        let md = client.metadata(["assigned"]).await.ok()?;
        let t = md.topic("assigned")?;
        let p = t.partitions.iter().find(|p| p.partition == 2)?;
        (!p.offline_replicas.is_empty()).then(|| p.clone())
    })
    .await;
    eprintln!("with broker 3 stopped: {offline:?}");
    assert_eq!(offline.offline_replicas, vec![3]);
    assert_eq!(offline.replicas, vec![2, 3]);
    assert!(!offline.isr.contains(&3), "{offline:?}");
}
