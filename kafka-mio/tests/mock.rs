//! The mio client against the in-process mock cluster over loopback TCP.

mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::Harness;
use kafka_mio::{AdminOutcome, BrokerAddr, Client, Config, Error, Event, NewTopic, Tokens};
use kafka_mock::MockCluster;
use kafka_proto::{ApiKey, ErrorCode};
use kafka_state::{Broker, DisconnectReason, RequestError};
use mio::net::TcpListener;
use mio::{Interest, Token};

fn mock(brokers: i32) -> MockCluster {
    MockCluster::builder()
        .brokers(brokers)
        .build()
        .expect("mock starts")
}

fn metadata(outcome: AdminOutcome) -> kafka_mio::ClusterMetadata {
    match outcome {
        AdminOutcome::Metadata(m) => m,
        other => panic!("expected metadata, got {other:?}"),
    }
}

fn topics(outcome: AdminOutcome) -> Vec<kafka_mio::TopicOutcome> {
    match outcome {
        AdminOutcome::CreateTopics(v) | AdminOutcome::DeleteTopics(v) => v,
        other => panic!("expected topic outcomes, got {other:?}"),
    }
}

#[test]
fn connects_and_fetches_metadata() {
    let mock = mock(1);
    let mut h = Harness::new();
    let c = h.client(&mock.bootstrap(), Tokens::range(100..110));
    let id = h.clients[c].brokers().unwrap();
    let md = metadata(h.outcome(c, id));
    assert_eq!(md.brokers().count(), 1);
    assert!(h.seen[c]
        .iter()
        .any(|e| matches!(e, Event::BrokerReady { .. })));
    assert_eq!(h.clients[c].connection_count(), 1);

    let id = h.clients[c].metadata(["missing"]).unwrap();
    let md = metadata(h.outcome(c, id));
    assert_eq!(
        md.topic("missing").unwrap().error,
        ErrorCode::UnknownTopicOrPartition
    );
    // Both requests shared the one connection.
    assert_eq!(mock.with(|c| c.connection_count()).unwrap(), 1);
}

#[test]
fn creates_and_deletes_topics() {
    let mock = mock(1);
    let mut h = Harness::new();
    let c = h.client(&mock.bootstrap(), Tokens::range(100..110));

    let id = h.clients[c]
        .create_topic(NewTopic::new("t1", 4, 1))
        .unwrap();
    Error::check_topics(&topics(h.outcome(c, id))).unwrap();
    let id = h.clients[c]
        .create_topic(NewTopic::new("t1", 4, 1))
        .unwrap();
    let err = Error::check_topics(&topics(h.outcome(c, id))).unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::TopicAlreadyExists), "{err}");

    let id = h.clients[c]
        .create_topics([NewTopic::new("t2", 1, 1), NewTopic::new("t3", 2, 1)])
        .unwrap();
    assert_eq!(topics(h.outcome(c, id)).len(), 2);
    let id = h.clients[c].metadata(["t1", "t3"]).unwrap();
    let md = metadata(h.outcome(c, id));
    assert_eq!(md.topic("t1").unwrap().partitions.len(), 4);
    assert_eq!(md.topic("t3").unwrap().partitions.len(), 2);

    let id = h.clients[c].delete_topic("t1").unwrap();
    Error::check_topics(&topics(h.outcome(c, id))).unwrap();
    let id = h.clients[c].delete_topics(["t2", "t3"]).unwrap();
    Error::check_topics(&topics(h.outcome(c, id))).unwrap();
    let id = h.clients[c].metadata_all().unwrap();
    assert_eq!(metadata(h.outcome(c, id)).topics().count(), 0);

    // Caller mistakes are returned at once; nothing is sent.
    let client = &mut h.clients[c];
    assert!(matches!(
        client.create_topic(NewTopic::new("", 1, 1)),
        Err(Error::Misuse(_))
    ));
    assert!(matches!(
        client.create_topic(NewTopic::new("ok", 0, 1)),
        Err(Error::Misuse(_))
    ));

    // Closing fails what is pending and closes the sockets.
    let pending = client.metadata_all().unwrap();
    client.close();
    assert_eq!(client.connection_count(), 0);
    assert_eq!(
        h.result(c, pending),
        Err(RequestError::Closed),
        "pending command fails on close"
    );
    assert!(matches!(h.clients[c].metadata_all(), Err(Error::Closed)));
    let deadline = Instant::now() + common::LIMIT;
    while mock.with(|c| c.connection_count()).unwrap() > 0 {
        assert!(
            Instant::now() < deadline,
            "the mock still sees a connection"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn three_brokers_each_with_a_connection_on_one_poll() {
    let mock = mock(3);
    let mut h = Harness::new();
    // One client per broker, each bootstrapped from a different one, with
    // interleaved token sets on the same Poll.
    let addrs: Vec<_> = mock.brokers().to_vec();
    for (i, (_, addr)) in addrs.iter().enumerate() {
        h.client(&addr.to_string(), Tokens::strided(Token(1000 + i), 3, 4));
    }
    let ids: Vec<_> = (0..3)
        .map(|i| {
            h.clients[i]
                .create_topic(NewTopic::new(format!("t{i}"), 2, 1))
                .unwrap()
        })
        .collect();
    for (i, id) in ids.into_iter().enumerate() {
        Error::check_topics(&topics(h.outcome(i, id))).unwrap();
    }
    for (i, (node, _)) in addrs.iter().enumerate() {
        // Each client holds one ready connection, to the broker it
        // bootstrapped from (known by node id once metadata named it).
        let ready = Event::BrokerReady {
            broker: Broker::Bootstrap(0),
        };
        assert!(h.seen[i].contains(&ready), "{:?}", h.seen[i]);
        assert_eq!(h.clients[i].cluster().brokers().count(), 3);
        let core = h.clients[i].core();
        assert!(core
            .negotiated_version(Broker::Node(*node), ApiKey::Metadata)
            .is_some());
        assert_eq!(h.clients[i].connection_count(), 1);
    }
    assert_eq!(mock.with(|c| c.connection_count()).unwrap(), 3);
    let id = h.clients[0].metadata_all().unwrap();
    assert_eq!(metadata(h.outcome(0, id)).topics().count(), 3);
}

#[test]
fn application_tokens_are_left_to_the_application() {
    let mock = mock(1);
    let mut h = Harness::new();
    let mut listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let mine = Token(7);
    h.poll
        .registry()
        .register(&mut listener, mine, Interest::READABLE)
        .unwrap();
    let c = h.client(&mock.bootstrap(), Tokens::range(100..200));
    assert!(!h.clients[c].owns(mine));

    let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let id = h.clients[c].brokers().unwrap();
    h.outcome(c, id);
    h.until(|h| h.foreign.contains(&mine));
    assert!(h.foreign.iter().all(|t| *t == mine), "{:?}", h.foreign);
    // The application's socket still works: its connection is there.
    let (accepted, from) = listener.accept().unwrap();
    assert_eq!(from, peer.local_addr().unwrap());
    drop(accepted);
    assert!(matches!(listener.accept(), Err(e) if e.kind() == ErrorKind::WouldBlock));
}

#[test]
fn reconnects_when_the_broker_drops_connections() {
    let mock = mock(3);
    let mut h = Harness::new();
    let c = h.client(&mock.bootstrap(), Tokens::range(10..14));
    let id = h.clients[c].brokers().unwrap();
    h.outcome(c, id);
    let mut visited = Vec::new();
    for round in 0..3 {
        // Which broker serves us now (named by node id once adopted).
        let id = h.clients[c].metadata_all().unwrap();
        h.outcome(c, id);
        let before = h.seen[c].len();
        assert_eq!(h.clients[c].connection_count(), 1, "round {round}");
        for (node, _) in mock.brokers().to_vec() {
            mock.drop_connections(node);
        }
        h.until(|h| {
            h.seen[c][before..]
                .iter()
                .any(|e| matches!(e, Event::ConnectionLost { .. }))
        });
        let lost = h.seen[c][before..]
            .iter()
            .find_map(|e| match e {
                Event::ConnectionLost { broker, reason } => Some((*broker, reason.clone())),
                _ => None,
            })
            .unwrap();
        assert_eq!(lost.1, DisconnectReason::Closed);
        visited.push(lost.0);
        // The next command reconnects, to a broker that has not failed.
        let id = h.clients[c]
            .create_topic(NewTopic::new(format!("r{round}"), 1, 1))
            .unwrap();
        Error::check_topics(&topics(h.outcome(c, id))).unwrap();
    }
    visited.sort();
    visited.dedup();
    assert_eq!(
        visited.len(),
        3,
        "served by every broker in turn: {visited:?}"
    );
    assert!(h.clients[c].connection_count() <= 1);
}

#[test]
fn unreachable_bootstrap_fails_within_the_api_timeout() {
    // A port nobody listens on: bind, learn the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = Config::new([BrokerAddr::new("127.0.0.1", port)]);
    config.api_timeout = Duration::from_millis(300);
    let mut h = Harness::new();
    let started = Instant::now();
    let client = Client::connect(config, h.poll.registry(), Tokens::range(1..3)).unwrap();
    let c = h.add(client);
    let id = h.clients[c].brokers().unwrap();
    let err = Error::from(h.result(c, id).unwrap_err());
    let took = started.elapsed();
    assert!(
        matches!(err, Error::Request(RequestError::Timeout)),
        "{err}"
    );
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(10),
        "{took:?}"
    );
    // The refusals were reported on the way, and the two tokens sufficed.
    assert!(h.seen[c].iter().any(|e| matches!(
        e,
        Event::ConnectionLost {
            reason: DisconnectReason::ConnectFailed(_),
            ..
        }
    )));
}

#[test]
fn a_one_byte_read_budget_still_reads_everything() {
    // Every response arrives in many events' worth of budget: the client
    // must come back to sockets mio will not report again.
    let mock = mock(1);
    let mut h = Harness::new();
    let mut client =
        Client::bootstrap(&mock.bootstrap(), h.poll.registry(), Tokens::range(5..6)).unwrap();
    client.set_read_budget(1);
    let c = h.add(client);
    let id = h.clients[c]
        .create_topic(NewTopic::new("wide", 64, 1))
        .unwrap();
    Error::check_topics(&topics(h.outcome(c, id))).unwrap();
    let id = h.clients[c].metadata(["wide"]).unwrap();
    let md = metadata(h.outcome(c, id));
    assert_eq!(md.topic("wide").unwrap().partitions.len(), 64);
}

#[test]
fn invalid_settings_are_typed_errors() {
    let poll = mio::Poll::new().unwrap();
    let r = poll.registry();
    assert!(matches!(
        Client::bootstrap("no-port", r, Tokens::range(1..2)),
        Err(Error::Misuse(_))
    ));
    assert!(matches!(
        Client::bootstrap("", r, Tokens::range(1..2)),
        Err(Error::Misuse(_))
    ));
    assert!(matches!(
        Client::bootstrap("127.0.0.1:9", r, Tokens::range(3..3)),
        Err(Error::Misuse(_))
    ));
}

#[test]
fn a_core_command_through_the_escape_hatch_is_sent() {
    let mock = mock(1);
    mock.create_topic("tracked", 3, 1).unwrap();
    let mut h = Harness::new();
    let c = h.client(&mock.bootstrap(), Tokens::range(100..110));
    h.clients[c]
        .core_mut()
        .track_topic(Instant::now(), "tracked")
        .unwrap();
    h.until(|h| h.clients[c].cluster().topic("tracked").is_some());
    assert_eq!(
        h.clients[c]
            .cluster()
            .topic("tracked")
            .unwrap()
            .partitions
            .len(),
        3
    );
}

#[test]
fn a_request_larger_than_the_socket_buffers_goes_out_whole() {
    // A 16 MiB CreateTopics request cannot be written in one go: the rest
    // waits in the connection's queue for writability.
    let mock = mock(1);
    let mut h = Harness::new();
    let c = h.client(&mock.bootstrap(), Tokens::range(100..110));
    let big = "x".repeat(16 << 20);
    let id = h.clients[c]
        .create_topic(NewTopic::new("big", 1, 1).with_config("x.custom", big))
        .unwrap();
    // The mock answers per topic (whatever it thinks of the config), which
    // it can only do after decoding the whole frame.
    let outcome = topics(h.outcome(c, id));
    assert_eq!(outcome.len(), 1);
    assert_eq!(outcome[0].name, "big");
    let id = h.clients[c].brokers().unwrap();
    h.outcome(c, id);
}

#[test]
fn a_host_name_is_resolved() {
    // `localhost` may also resolve to ::1, where nothing listens: the
    // client then moves on to the next address.
    let mock = mock(1);
    let port = mock.brokers()[0].1.port();
    let mut h = Harness::new();
    let c = h.client(&format!("localhost:{port}"), Tokens::range(100..110));
    let id = h.clients[c].brokers().unwrap();
    assert_eq!(metadata(h.outcome(c, id)).brokers().count(), 1);
}

#[test]
fn an_unresolvable_host_is_a_connect_failure() {
    let mut config = Config::new([BrokerAddr::new("no-such-host.invalid", 9092)]);
    config.api_timeout = Duration::from_millis(200);
    let mut h = Harness::new();
    let client = Client::connect(config, h.poll.registry(), Tokens::range(1..3)).unwrap();
    let c = h.add(client);
    let id = h.clients[c].brokers().unwrap();
    assert_eq!(h.result(c, id), Err(RequestError::Timeout));
    assert!(h.seen[c].iter().any(|e| matches!(
        e,
        Event::ConnectionLost { reason: DisconnectReason::ConnectFailed(m), .. }
            if m.contains("no-such-host.invalid")
    )));
    assert_eq!(h.clients[c].connection_count(), 0);
}

#[test]
fn the_client_can_move_to_the_loop_thread() {
    fn send<T: Send>() {}
    send::<Client>();
}

#[test]
fn a_silent_broker_is_given_up_by_the_core_timer() {
    // The broker takes the connection but never answers ApiVersions: the
    // core's setup timer asks the driver to close the socket.
    let mock = mock(1);
    mock.set_broker_silent(0, true).unwrap();
    let mut config = Config::new(BrokerAddr::parse_list(&mock.bootstrap()).unwrap());
    config.connection_setup_timeout = Duration::from_millis(200);
    let mut h = Harness::new();
    let client = Client::connect(config, h.poll.registry(), Tokens::range(1..3)).unwrap();
    let c = h.add(client);
    h.until(|h| {
        h.seen[c].iter().any(|e| {
            matches!(
                e,
                Event::ConnectionLost {
                    reason: DisconnectReason::SetupTimeout,
                    ..
                }
            )
        })
    });
    // Loud again: the client reconnects on its own and is served.
    mock.set_broker_silent(0, false).unwrap();
    let id = h.clients[c].brokers().unwrap();
    assert_eq!(metadata(h.outcome(c, id)).brokers().count(), 1);
}

#[test]
fn garbage_from_a_broker_closes_only_that_connection() {
    use std::io::{Read, Write};

    // A "broker" answering the first request with a negative frame length.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(common::LIMIT)).unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        s.write_all(&[0xff, 0xff, 0xff, 0xfe, 1, 2, 3]).unwrap();
        // Held open until the client closes it.
        let _ = s.read(&mut buf);
    });
    let mut h = Harness::new();
    let c = h.client(&addr.to_string(), Tokens::range(1..3));
    h.until(|h| {
        h.seen[c].iter().any(|e| {
            matches!(
                e,
                Event::ConnectionLost {
                    reason: DisconnectReason::Protocol(_),
                    ..
                }
            )
        })
    });
    // The client closed the socket (the fake saw EOF) and keeps running.
    fake.join().unwrap();
    assert!(h.clients[c].next_timeout().is_some());
}

/// With acks=0 and a broker that stops reading, the producer's buffer
/// fills (sends are refused with `BufferFull`) instead of requests piling
/// up in the client; once the broker reads again, everything arrives.
#[test]
fn acks_zero_sends_are_held_back_by_a_backed_up_socket() {
    let mock = mock(1);
    let proxy = kafka_testkit::PausableProxy::start(mock.brokers()[0].1).unwrap();
    let proxy_port = proxy.addr().port();
    mock.with(move |c| c.set_broker_port(0, proxy_port))
        .unwrap();
    let mut h = Harness::new();
    let mut config = Config::new([BrokerAddr::new("127.0.0.1", proxy_port)]);
    config.producer.acks = kafka_mio::Acks::None;
    config.producer.enable_idempotence = false;
    config.producer.buffer_memory = 1 << 20;
    let client = Client::connect(config, h.poll.registry(), Tokens::range(100..110)).unwrap();
    let c = h.add(client);
    let id = h.clients[c].create_topic(NewTopic::new("z", 1, 1)).unwrap();
    let _ = h.outcome(c, id);
    proxy.pause(true);
    let value = bytes::Bytes::from(vec![7u8; 10_000]);
    let record = || kafka_mio::ProducerRecord::new("z").with_value(value.clone());
    // Send while the loop turns, until the buffer has stayed full for
    // half a second.
    let mut accepted = 0i64;
    let mut full_since: Option<Instant> = None;
    while full_since.is_none_or(|t| t.elapsed() < Duration::from_millis(500)) {
        match h.clients[c].send(record()) {
            Ok(_) => {
                accepted += 1;
                full_since = None;
                assert!(
                    accepted < 5_000,
                    "50 MB accepted while the broker reads nothing"
                );
            }
            Err(kafka_mio::SendError::BufferFull(_)) => {
                full_since.get_or_insert_with(Instant::now);
                h.turn(Duration::from_millis(10));
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(accepted > 50, "{accepted}");
    proxy.pause(false);
    h.clients[c].flush().unwrap();
    h.until(|h| h.seen[c].contains(&Event::FlushComplete));
    let deadline = Instant::now() + Duration::from_secs(10);
    while mock.partition_offsets("z", 0).unwrap().1 < accepted {
        assert!(Instant::now() < deadline, "records arrive");
        h.turn(Duration::from_millis(20));
    }
    assert_eq!(mock.partition_offsets("z", 0).unwrap().1, accepted);
}

/// With auto-commit off and `await_revoke`, member A hears of the revoke
/// as `PartitionsRevoking` when B joins, commits what it read, waits for
/// the answer and calls `revoke_done`; B starts every partition it gets
/// exactly at that commit, and no record is read twice.
#[test]
fn a_member_commits_on_partitions_revoking_and_the_successor_starts_there() {
    use kafka_mio::{ProducerRecord, TopicPartition};
    use kafka_state::group::{GroupConfig, GroupEvent};
    use kafka_state::ConsumerEvent;
    use std::collections::{BTreeMap, HashMap, HashSet};

    let mock = mock(1);
    let topic = "mio-revoke";
    let mut h = Harness::new();
    let admin = h.client(&mock.bootstrap(), Tokens::range(100..110));
    let id = h.clients[admin]
        .create_topic(NewTopic::new(topic, 2, 1))
        .unwrap();
    h.outcome(admin, id);
    let produce = |h: &mut Harness, from: usize, to: usize| {
        for i in from..to {
            let record = ProducerRecord::new(topic)
                .with_partition((i % 2) as i32)
                .with_value(i.to_string());
            h.clients[admin].send(record).unwrap();
        }
        h.clients[admin].flush().unwrap();
        let want = to;
        h.until(|h| {
            h.seen[admin]
                .iter()
                .filter(|e| matches!(e, Event::Delivery { result: Ok(_), .. }))
                .count()
                == want
        });
    };
    produce(&mut h, 0, 20);
    let member = |h: &mut Harness, tokens: Tokens| {
        let mut config = Config::bootstrap(&mock.bootstrap()).unwrap();
        let mut group = GroupConfig::new("mio-revoke-g");
        group.enable_auto_commit = false;
        group.await_revoke = true;
        group.session_timeout = Duration::from_secs(6);
        group.heartbeat_interval = Duration::from_secs(1);
        group.rebalance_timeout = Some(Duration::from_secs(10));
        config.group = Some(group);
        config.consumer.auto_offset_reset = kafka_state::consumer::AutoOffsetReset::Earliest;
        let client = Client::connect(config, h.poll.registry(), tokens).unwrap();
        h.add(client)
    };
    // Takes and stores what client `i` has: (client, partition, offset).
    let take = |h: &mut Harness, i: usize, read: &mut Vec<(usize, i32, i64)>| {
        while let Some(fetched) = h.clients[i].poll_records() {
            for r in fetched {
                let r = r.unwrap();
                h.clients[i].core_mut().consumer().store_record(&r).unwrap();
                read.push((i, r.partition, r.offset));
            }
        }
    };
    let assigned =
        |h: &mut Harness, i: usize| !h.clients[i].core_mut().consumer().assignment().is_empty();

    let a = member(&mut h, Tokens::range(200..210));
    h.clients[a].subscribe([topic]).unwrap();
    let mut read = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while read.len() < 20 {
        assert!(Instant::now() < deadline, "A reads the first 20 in time");
        h.turn(Duration::from_millis(100));
        take(&mut h, a, &mut read);
    }

    let b = member(&mut h, Tokens::range(300..310));
    h.clients[b].subscribe([topic]).unwrap();
    let mut answered = 0;
    let mut commits = Vec::new();
    let mut produced = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "A and B share and read all");
        h.turn(Duration::from_millis(100));
        take(&mut h, a, &mut read);
        take(&mut h, b, &mut read);
        // A's application: a commit per announcement, then done once it
        // is answered.
        let announced = h.seen[a]
            .iter()
            .filter(|e| matches!(e, Event::Consumer(ConsumerEvent::PartitionsRevoking { .. })))
            .count();
        if commits.len() < announced {
            commits.push(h.clients[a].commit(None).unwrap());
        }
        if answered < commits.len() {
            let id = commits[answered];
            let done = h.seen[a].iter().any(
                |e| matches!(e, Event::Group(GroupEvent::Committed { id: got, .. }) if *got == id),
            );
            if done {
                h.clients[a].revoke_done().unwrap();
                answered += 1;
            }
        }
        if !produced && assigned(&mut h, a) && assigned(&mut h, b) {
            produce(&mut h, 20, 30);
            produced = true;
        }
        if produced && read.len() >= 30 {
            break;
        }
    }
    let distinct: HashSet<(i32, i64)> = read.iter().map(|(_, p, o)| (*p, *o)).collect();
    assert_eq!(distinct.len(), read.len(), "a record was read twice");
    assert_eq!(distinct.len(), 30);
    assert!(!commits.is_empty(), "A never heard of a revoke");
    let mut committed: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    for id in &commits {
        let answer = h.seen[a].iter().find_map(|e| match e {
            Event::Group(GroupEvent::Committed {
                id: got,
                offsets,
                refused,
                ..
            }) if got == id => Some((offsets.clone(), refused.clone())),
            _ => None,
        });
        let (offsets, refused) = answer.expect("answered");
        assert_eq!(refused, None);
        for (tp, result) in offsets {
            committed.insert(tp, result.expect("committed").offset);
        }
    }
    let mut b_first: HashMap<i32, i64> = HashMap::new();
    for (c, p, o) in &read {
        if *c == b {
            b_first.entry(*p).or_insert(*o);
        }
    }
    assert!(!b_first.is_empty());
    for (p, first) in &b_first {
        let tp = TopicPartition::new(topic, *p);
        assert_eq!(Some(first), committed.get(&tp), "B's first record of {tp}");
    }
    let revoked_after = h.seen[a]
        .iter()
        .position(|e| matches!(e, Event::Consumer(ConsumerEvent::PartitionsRevoked { .. })));
    assert!(revoked_after.is_some());
}

#[test]
fn configs_partitions_records_cluster_on_the_mock() {
    let mock = mock(3);
    common::suite::configs_partitions_records_cluster(&common::suite::Broker {
        bootstrap: mock.bootstrap(),
        replication: 1,
        prefix: String::new(),
    });
}
