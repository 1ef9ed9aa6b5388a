//! The mio client against the in-process mock cluster over loopback TCP.

mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::Harness;
use kafka_mio::{
    AdminOutcome, BrokerAddr, Client, Config, Error, Event, NewTopic, ProducerRecord, Tokens,
};
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

/// `send_many` queues records in order, each outcome in its place: ids
/// grow with the records, a bad record gets its error, and every good
/// one is delivered at the offset its place says.
#[test]
fn send_many_gives_each_record_its_outcome_in_order() {
    let mock = mock(1);
    let mut h = Harness::new();
    let client = Client::connect(
        Config::new(BrokerAddr::parse_list(&mock.bootstrap()).unwrap()),
        h.poll.registry(),
        Tokens::range(100..110),
    )
    .unwrap();
    let c = h.add(client);
    let id = h.clients[c]
        .create_topic(NewTopic::new("many", 1, 1))
        .unwrap();
    let _ = h.outcome(c, id);
    let results = h.clients[c].send_many((0..1_000).map(|i| {
        let r = ProducerRecord::new("many").with_value(format!("v{i}"));
        if i == 500 {
            r.with_partition(-1)
        } else {
            r
        }
    }));
    assert!(
        matches!(results[500], Err(kafka_mio::SendError::Invalid { .. })),
        "{:?}",
        results[500]
    );
    let ids: Vec<_> = results
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != 500)
        .map(|(_, r)| r.unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    h.clients[c].flush().unwrap();
    h.until(|h| h.seen[c].contains(&Event::FlushComplete));
    let offsets: std::collections::HashMap<_, _> = h.seen[c]
        .iter()
        .flat_map(Event::outcomes)
        .map(|(id, result)| (id, result.unwrap().offset))
        .collect();
    for (n, id) in ids.iter().enumerate() {
        assert_eq!(offsets[id], n as i64);
    }
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
                .flat_map(Event::outcomes)
                .filter(|(_, r)| r.is_ok())
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

/// A client with transactional id `txn_id`, reading read_committed from
/// the earliest offset, in group `group` if given (auto-commit off).
fn transactional(
    h: &mut Harness,
    mock: &MockCluster,
    txn_id: &str,
    group: Option<&str>,
    tokens: Tokens,
) -> usize {
    use kafka_state::consumer::{AutoOffsetReset, IsolationLevel};
    use kafka_state::group::GroupConfig;
    let mut config = Config::bootstrap(&mock.bootstrap()).unwrap();
    if let Some(group) = group {
        let mut g = GroupConfig::new(group);
        g.session_timeout = Duration::from_secs(10);
        g.heartbeat_interval = Duration::from_secs(1);
        g.rebalance_timeout = Some(Duration::from_secs(15));
        g.enable_auto_commit = false;
        config.group = Some(g);
    }
    config.consumer.auto_offset_reset = AutoOffsetReset::Earliest;
    config.consumer.isolation_level = IsolationLevel::ReadCommitted;
    config.producer.transactional_id = Some(txn_id.to_string());
    let client = Client::connect(config, h.poll.registry(), tokens).unwrap();
    h.add(client)
}

/// Client `c`'s next transaction outcome after the `seen` it already
/// took (counted in `taken`).
fn next_txn(h: &mut Harness, c: usize, taken: &mut usize) -> kafka_mio::TxnEvent {
    let n = *taken;
    let nth = |h: &Harness| {
        h.seen[c]
            .iter()
            .filter_map(|e| match e {
                Event::Transaction(t) => Some(t.clone()),
                _ => None,
            })
            .nth(n)
    };
    h.until(|h| nth(h).is_some());
    *taken += 1;
    nth(h).unwrap()
}

/// The values a read_committed reader of `topic` (3 partitions at most)
/// sees, once `n` arrived and a second passed with nothing more.
fn read_committed(h: &mut Harness, mock: &MockCluster, topic: &str, n: usize) -> Vec<String> {
    use kafka_mio::TopicPartition;
    use kafka_state::consumer::{AutoOffsetReset, IsolationLevel};
    let mut config = Config::bootstrap(&mock.bootstrap()).unwrap();
    config.consumer.isolation_level = IsolationLevel::ReadCommitted;
    config.consumer.auto_offset_reset = AutoOffsetReset::Earliest;
    let client = Client::connect(config, h.poll.registry(), Tokens::range(900..1000)).unwrap();
    let r = h.add(client);
    let id = h.clients[r].metadata([topic]).unwrap();
    let partitions = metadata(h.outcome(r, id))
        .topic(topic)
        .unwrap()
        .partitions
        .len();
    h.clients[r]
        .assign((0..partitions as i32).map(|p| TopicPartition::new(topic, p)))
        .unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + common::LIMIT;
    let mut quiet_until = None;
    while quiet_until.is_none_or(|t| Instant::now() < t) {
        assert!(Instant::now() < deadline, "{} of {n} records", seen.len());
        h.turn(Duration::from_millis(100));
        while let Some(fetched) = h.clients[r].poll_records() {
            for record in fetched {
                let record = record.unwrap();
                seen.push(String::from_utf8(record.value.unwrap().to_vec()).unwrap());
            }
        }
        if seen.len() >= n && quiet_until.is_none() {
            quiet_until = Some(Instant::now() + Duration::from_secs(1));
        }
    }
    seen
}

/// Consume-transform-produce in transactions, every third one aborted
/// after writing junk: a read_committed reader sees every input record
/// exactly once and none of the junk, and the group's offsets commit
/// with the transactions (the tokio suite's body, on the mio client,
/// whose transaction outcomes come as events).
#[test]
fn consume_transform_produce_exactly_once() {
    use kafka_mio::{OffsetAndMetadata, ProducerRecord, TopicPartition, TxnEvent};
    use std::collections::{BTreeMap, VecDeque};

    const N: usize = 300;
    let mock = mock(3);
    let mut h = Harness::new();
    let admin = h.client(&mock.bootstrap(), Tokens::range(100..200));
    for t in ["ctp-in", "ctp-out"] {
        let id = h.clients[admin]
            .create_topic(NewTopic::new(t, 3, 1))
            .unwrap();
        Error::check_topics(&topics(h.outcome(admin, id))).unwrap();
    }
    for i in 0..N {
        let r = ProducerRecord::new("ctp-in")
            .with_partition((i % 3) as i32)
            .with_value(format!("r{i}"));
        h.clients[admin].send(r).unwrap();
    }
    h.clients[admin].flush().unwrap();
    let ok = |h: &Harness| {
        h.seen[admin]
            .iter()
            .flat_map(Event::outcomes)
            .filter(|(_, r)| r.is_ok())
            .count()
    };
    h.until(|h| ok(h) == N);

    let c = transactional(
        &mut h,
        &mock,
        "ctp-txn",
        Some("ctp-g"),
        Tokens::range(200..300),
    );
    // Nothing may be sent before init.
    let early = h.clients[c].send(ProducerRecord::new("ctp-out").with_value("early"));
    let early = early.map_err(Error::from);
    assert!(matches!(early, Err(Error::Transaction(_))), "{early:?}");
    let mut taken = 0;
    h.clients[c].init_transactions().unwrap();
    let init = next_txn(&mut h, c, &mut taken);
    assert!(matches!(init, TxnEvent::Initialized { .. }), "{init:?}");
    h.clients[c].subscribe(["ctp-in"]).unwrap();

    let mut buffered = VecDeque::new();
    let (mut read, mut round) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(120);
    while read < N {
        round += 1;
        h.clients[c].begin_transaction().unwrap();
        if round % 3 == 0 {
            for i in 0..5 {
                let r = ProducerRecord::new("ctp-out").with_value(format!("junk{round}-{i}"));
                h.clients[c].send(r).unwrap();
            }
            h.clients[c].abort_transaction().unwrap();
            let aborted = next_txn(&mut h, c, &mut taken);
            assert_eq!(aborted, TxnEvent::Aborted);
            continue;
        }
        let want = 40.min(N - read);
        while buffered.len() < want {
            assert!(Instant::now() < deadline, "read {read} of {N}");
            h.turn(Duration::from_millis(100));
            while let Some(fetched) = h.clients[c].poll_records() {
                buffered.extend(fetched.into_iter().map(Result::unwrap));
            }
        }
        let mut offsets = BTreeMap::new();
        for r in buffered.drain(..want) {
            let value = std::str::from_utf8(r.value.as_deref().unwrap()).unwrap();
            let out = ProducerRecord::new("ctp-out")
                .with_partition(r.partition)
                .with_value(format!("out-{value}"));
            h.clients[c].send(out).unwrap();
            offsets.insert(
                TopicPartition::new(&*r.topic, r.partition),
                OffsetAndMetadata::new(r.offset + 1, None),
            );
            read += 1;
        }
        let meta = h.clients[c]
            .core_mut()
            .consumer()
            .group_metadata()
            .expect("in the group");
        h.clients[c]
            .send_offsets_to_transaction(offsets, &meta)
            .unwrap();
        h.clients[c].commit_transaction().unwrap();
        let sent = next_txn(&mut h, c, &mut taken);
        assert!(matches!(sent, TxnEvent::OffsetsSent { .. }), "{sent:?}");
        let committed = next_txn(&mut h, c, &mut taken);
        assert_eq!(committed, TxnEvent::Committed);
    }
    assert!(buffered.is_empty(), "more records than written");
    // Every record of a committed transaction was written; those of the
    // aborted ones were answered too (sent or dropped).
    let failed: Vec<_> = h.seen[c]
        .iter()
        .filter_map(|e| match e {
            Event::DeliveryFailed { error, .. } => Some(error.clone()),
            _ => None,
        })
        .collect();
    let delivered = h.seen[c]
        .iter()
        .flat_map(Event::outcomes)
        .filter(|(_, r)| r.is_ok())
        .count();
    assert!(delivered >= N, "{delivered} delivered, failed: {failed:?}");

    let mut seen = read_committed(&mut h, &mock, "ctp-out", N);
    seen.sort();
    let mut want: Vec<String> = (0..N).map(|i| format!("out-r{i}")).collect();
    want.sort();
    assert_eq!(seen, want);
    let id = h.clients[admin]
        .core_mut()
        .admin()
        .group_offsets(Instant::now(), "ctp-g")
        .unwrap();
    let AdminOutcome::GroupOffsets(committed) = h.outcome(admin, id) else {
        panic!("not group offsets");
    };
    let total: i64 = committed
        .offsets
        .values()
        .map(|o| o.as_ref().expect("committed").offset)
        .sum();
    assert_eq!(total, N as i64, "{committed:?}");
}

/// A second producer with the same transactional id fences the first:
/// the first's open transaction is aborted, its commit fails with a fatal
/// error and every later call is refused with it; the second commits.
#[test]
fn a_second_producer_with_the_same_transactional_id_fences_the_first() {
    use kafka_mio::{ProducerRecord, TxnEvent, TxnOp};

    let mock = mock(3);
    let mut h = Harness::new();
    let admin = h.client(&mock.bootstrap(), Tokens::range(100..200));
    let id = h.clients[admin]
        .create_topic(NewTopic::new("fence", 2, 1))
        .unwrap();
    Error::check_topics(&topics(h.outcome(admin, id))).unwrap();
    let record = |value: &str| ProducerRecord::new("fence").with_value(value.to_string());

    let a = transactional(&mut h, &mock, "fence-txn", None, Tokens::range(200..300));
    let mut a_taken = 0;
    h.clients[a].init_transactions().unwrap();
    let init = next_txn(&mut h, a, &mut a_taken);
    assert!(matches!(init, TxnEvent::Initialized { .. }), "{init:?}");
    h.clients[a].begin_transaction().unwrap();
    h.clients[a].send(record("a-committed")).unwrap();
    h.clients[a].commit_transaction().unwrap();
    assert_eq!(next_txn(&mut h, a, &mut a_taken), TxnEvent::Committed);
    h.clients[a].begin_transaction().unwrap();
    let open = h.clients[a].send(record("a-open")).unwrap();
    // Written, in an open transaction.
    h.until(|h| {
        h.seen[a]
            .iter()
            .flat_map(Event::outcomes)
            .any(|(id, result)| id == open && result.is_ok())
    });

    let b = transactional(&mut h, &mock, "fence-txn", None, Tokens::range(300..400));
    let mut b_taken = 0;
    h.clients[b].init_transactions().unwrap();
    let init = next_txn(&mut h, b, &mut b_taken);
    assert!(matches!(init, TxnEvent::Initialized { .. }), "{init:?}");

    h.clients[a].commit_transaction().unwrap();
    match next_txn(&mut h, a, &mut a_taken) {
        TxnEvent::Failed {
            op: Some(TxnOp::Commit),
            error,
        } => assert!(error.is_fatal(), "the fenced commit: {error:?}"),
        other => panic!("the fenced commit: {other:?}"),
    }
    let again = h.clients[a].begin_transaction().unwrap_err();
    assert!(
        matches!(&again, Error::Transaction(e) if e.is_fatal()),
        "the fence is sticky: {again:?}"
    );

    h.clients[b].begin_transaction().unwrap();
    h.clients[b].send(record("b-committed")).unwrap();
    h.clients[b].commit_transaction().unwrap();
    assert_eq!(next_txn(&mut h, b, &mut b_taken), TxnEvent::Committed);

    let mut seen = read_committed(&mut h, &mock, "fence", 2);
    seen.sort();
    assert_eq!(seen, ["a-committed", "b-committed"]);
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

/// The mock has no authorizer: ACL, SCRAM and quota commands end at once
/// as unsupported, through this adapter's methods of the same names.
#[test]
fn acl_scram_and_quota_commands_are_unsupported_on_the_mock() {
    use kafka_mio::{
        AclBindingFilter, QuotaEntity, QuotaFilter, QuotaOp, ScramChange, ScramMechanism,
    };
    let mock = mock(1);
    let mut h = Harness::new();
    let c = h.client(&mock.bootstrap(), Tokens::range(100..110));
    let client = &mut h.clients[c];
    let ids = [
        client.describe_acls(AclBindingFilter::any()).unwrap(),
        client.delete_acls([AclBindingFilter::any()]).unwrap(),
        client.describe_user_scram_credentials(["alice"]).unwrap(),
        client
            .alter_user_scram_credentials([ScramChange::delete("alice", ScramMechanism::Sha256)])
            .unwrap(),
        client.describe_client_quotas(QuotaFilter::any()).unwrap(),
        client
            .alter_client_quotas(
                [(
                    QuotaEntity::new().with_user("alice"),
                    vec![QuotaOp::Remove("producer_byte_rate".into())],
                )],
                true,
            )
            .unwrap(),
    ];
    for id in ids {
        let result = h.result(c, id);
        assert!(
            matches!(result, Err(RequestError::Unsupported(_))),
            "{result:?}"
        );
    }
}

#[test]
fn stats_snapshots_on_demand_and_as_events() {
    let mock = mock(1);
    let mut h = Harness::new();
    let mut config = Config::bootstrap(&mock.bootstrap()).unwrap();
    config.stats_interval = Some(Duration::from_millis(50));
    let client = Client::connect(config, h.poll.registry(), Tokens::range(100..110)).unwrap();
    let c = h.add(client);
    let id = h.clients[c]
        .create_topic(NewTopic::new("st", 1, 1))
        .unwrap();
    Error::check_topics(&topics(h.outcome(c, id))).unwrap();
    let s = h.clients[c].stats();
    assert_eq!(s.brokers.len(), 1, "{s:?}");
    assert_eq!(s.brokers[0].state, kafka_mio::ConnState::Ready);
    // Bootstrap (ApiVersions), metadata, create topics, and the refresh.
    assert!(s.totals.requests_sent >= 3, "{s:?}");
    assert_eq!(s.totals.requests_sent, s.totals.responses_received);
    h.until(|h| {
        h.seen[c]
            .iter()
            .filter(|e| matches!(e, Event::Stats(_)))
            .count()
            >= 2
    });
    let ages: Vec<u64> = h.seen[c]
        .iter()
        .filter_map(|e| match e {
            Event::Stats(s) => Some(s.age_us),
            _ => None,
        })
        .collect();
    assert!(ages.windows(2).all(|w| w[1] > w[0]), "{ages:?}");
    assert!(ages[1] >= 100_000, "{ages:?}");
}

/// Replica and transaction commands through this adapter on the mock: a
/// partition moved and elected, log dirs merged per broker, transactions
/// listed; UpdateFeatures (not served) ends at once as unsupported.
#[test]
fn replica_transaction_and_feature_commands_on_the_mock() {
    use kafka_mio::{ElectionType, FeatureUpdate, TopicPartition, TransactionFilter};
    use std::collections::BTreeMap;
    let mock = mock(3);
    mock.create_topic("moved", 1, 3).unwrap();
    let mut h = Harness::new();
    let c = h.client(&mock.bootstrap(), Tokens::range(100..110));
    let tp = TopicPartition::new("moved", 0);
    let id = h.clients[c]
        .alter_partition_reassignments(BTreeMap::from([(tp.clone(), Some(vec![2, 0]))]))
        .unwrap();
    let AdminOutcome::AlterPartitionReassignments(moved) = h.outcome(c, id) else {
        panic!("wrong outcome")
    };
    assert_eq!(moved[0].error, ErrorCode::None, "{moved:?}");
    let id = h.clients[c]
        .elect_leaders(ElectionType::Preferred, None)
        .unwrap();
    let AdminOutcome::ElectLeaders(elected) = h.outcome(c, id) else {
        panic!("wrong outcome")
    };
    assert!(elected.iter().any(|o| o.partition == tp), "{elected:?}");
    let id = h.clients[c].describe_log_dirs(None).unwrap();
    let AdminOutcome::DescribeLogDirs(dirs) = h.outcome(c, id) else {
        panic!("wrong outcome")
    };
    assert_eq!(dirs.iter().map(|b| b.node).collect::<Vec<_>>(), [0, 1, 2]);
    assert!(dirs[1].dirs[0].replicas.is_empty(), "{dirs:?}");
    let id = h.clients[c]
        .list_transactions(TransactionFilter::any())
        .unwrap();
    let AdminOutcome::ListTransactions(listed) = h.outcome(c, id) else {
        panic!("wrong outcome")
    };
    assert!(listed.transactions.is_empty());
    let id = h.clients[c]
        .update_features([FeatureUpdate::upgrade("transaction.version", 2)], false)
        .unwrap();
    let result = h.result(c, id);
    assert!(
        matches!(result, Err(RequestError::Unsupported(_))),
        "{result:?}"
    );
}

/// Topic administration through this adapter on the mock: an explicit
/// assignment and validate-only creation, deletion by id, and
/// authorized operations when asked.
#[test]
fn topic_admin_on_the_mock() {
    let mock = mock(3);
    let mut h = Harness::new();
    let c = h.client(&mock.bootstrap(), Tokens::range(100..110));
    let id = h.clients[c]
        .create_topics([NewTopic::assigned("placed", vec![vec![2, 1]])])
        .unwrap();
    let AdminOutcome::CreateTopics(done) = h.outcome(c, id) else {
        panic!("wrong outcome")
    };
    assert_eq!(done[0].error, ErrorCode::None, "{done:?}");
    let id = h.clients[c]
        .create_topics_validate([NewTopic::new("maybe", 2, 9)], true)
        .unwrap();
    let AdminOutcome::CreateTopics(done) = h.outcome(c, id) else {
        panic!("wrong outcome")
    };
    assert_eq!(done[0].error, ErrorCode::InvalidReplicationFactor);
    let id = h.clients[c].describe_topics(["placed"], true).unwrap();
    let AdminOutcome::Metadata(md) = h.outcome(c, id) else {
        panic!("wrong outcome")
    };
    let placed = md.topic("placed").unwrap();
    assert_eq!(placed.partitions[0].replicas, vec![2, 1]);
    assert!(placed
        .authorized_operations
        .as_ref()
        .is_some_and(|o| !o.is_empty()));
    let id = h.clients[c].delete_topics_by_id([placed.id]).unwrap();
    let AdminOutcome::DeleteTopicsById(gone) = h.outcome(c, id) else {
        panic!("wrong outcome")
    };
    assert_eq!(gone[0].name.as_deref(), Some("placed"));
    assert_eq!(gone[0].error, ErrorCode::None);
}
