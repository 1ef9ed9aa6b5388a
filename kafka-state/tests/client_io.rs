//! The client driven by hand, byte by byte and millisecond by millisecond:
//! timeouts, backoff, framing, hostile input, and a property test over
//! arbitrary input sequences.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_proto::frame::{decode_request_frame, encode_response_frame};
use kafka_proto::messages::api_versions_response::ApiVersion;
use kafka_proto::messages::metadata_response::MetadataResponseBroker;
use kafka_proto::messages::{ApiVersionsResponse, MetadataResponse, RequestHeader};
use kafka_proto::{ApiKey, RequestBody, ResponseBody};
use kafka_state::{
    BrokerAddr, Client, Config, ConnId, ConnRequest, DisconnectReason, Event, ProtocolError,
};
use proptest::prelude::*;

#[allow(clippy::disallowed_methods)] // tests need some Instant to start from
fn t0() -> Instant {
    Instant::now()
}

const MS: fn(u64) -> Duration = Duration::from_millis;

fn config(seed: u64, brokers: u16) -> Config {
    let mut c = Config::new((0..brokers).map(|b| BrokerAddr::new("b", 9092 + b)));
    c.seed = seed;
    c
}

struct Drained {
    transmits: Vec<(ConnId, Bytes)>,
    conns: Vec<ConnRequest>,
    events: Vec<Event>,
}

fn drain(c: &mut Client) -> Drained {
    let mut d = Drained {
        transmits: Vec::new(),
        conns: Vec::new(),
        events: Vec::new(),
    };
    while let Some(t) = c.poll_transmit() {
        d.transmits.push((t.conn, t.bytes));
    }
    while let Some(r) = c.poll_conn() {
        d.conns.push(r);
    }
    while let Some(e) = c.poll_event() {
        d.events.push(e);
    }
    d
}

fn request(bytes: &Bytes) -> (RequestHeader, RequestBody) {
    decode_request_frame(bytes.slice(4..)).expect("client sends valid frames")
}

fn full_api_list() -> Vec<ApiVersion> {
    ApiKey::ALL
        .iter()
        .map(|k| {
            ApiVersion::default()
                .with_api_key(k.id())
                .with_min_version(*k.versions().start())
                .with_max_version(*k.versions().end())
        })
        .collect()
}

/// A response frame answering `req`, for the APIs the client sends alone.
fn answer(req: &Bytes) -> Option<BytesMut> {
    let (h, body) = request(req);
    let resp: ResponseBody = match body {
        RequestBody::ApiVersions(_) => ApiVersionsResponse::default()
            .with_api_keys(full_api_list())
            .into(),
        RequestBody::Metadata(_) => MetadataResponse::default()
            .with_cluster_id(Some("c".into()))
            .with_brokers(
                (0..3)
                    .map(|b| {
                        MetadataResponseBroker::default()
                            .with_node_id(b)
                            .with_host("b".into())
                            .with_port(9092 + b)
                    })
                    .collect(),
            )
            .into(),
        _ => return None,
    };
    let mut buf = BytesMut::new();
    encode_response_frame(h.correlation_id, h.request_api_version, &resp, &mut buf).unwrap();
    Some(buf)
}

/// Opens the first connection and completes ApiVersions; returns it and
/// what the client sent next.
fn ready(c: &mut Client, now: Instant) -> (ConnId, Drained) {
    let d = drain(c);
    let Some(ConnRequest::Open { conn, .. }) = d.conns.first().cloned() else {
        panic!("expected an open request, got {:?}", d.conns)
    };
    c.handle_connected(now, conn);
    let d = drain(c);
    let (_, api_versions) = &d.transmits[0];
    let mut resp = answer(api_versions).unwrap();
    c.handle_recv(now, conn, &mut resp);
    assert!(resp.is_empty());
    let d = drain(c);
    assert!(d.events.contains(&Event::BrokerReady {
        broker: kafka_state::Broker::Bootstrap(0)
    }));
    (conn, d)
}

#[test]
fn request_timeout_fires_exactly_when_due() {
    let start = t0();
    let mut cfg = config(1, 1);
    cfg.request_timeout = Duration::from_secs(30);
    let mut c = Client::new(cfg, start).unwrap();
    let (conn, d) = ready(&mut c, start);
    // Metadata goes out as soon as the connection is ready.
    let (_, body) = request(&d.transmits[0].1);
    assert_eq!(body.api_key(), ApiKey::Metadata);
    let due = start + Duration::from_secs(30);
    assert_eq!(c.poll_timeout(), Some(due));

    c.handle_timeout(due - MS(1));
    let d = drain(&mut c);
    assert!(d.conns.is_empty() && d.events.is_empty(), "{:?}", d.events);
    assert_eq!(c.poll_timeout(), Some(due));

    c.handle_timeout(due);
    let d = drain(&mut c);
    assert_eq!(d.conns, vec![ConnRequest::Close { conn }]);
    assert!(d.events.contains(&Event::ConnectionLost {
        broker: kafka_state::Broker::Bootstrap(0),
        reason: DisconnectReason::RequestTimeout {
            api: ApiKey::Metadata
        },
    }));
}

#[test]
fn setup_timeout_fires_exactly_when_due() {
    let start = t0();
    let mut cfg = config(1, 1);
    cfg.connection_setup_timeout = Duration::from_secs(10);
    let mut c = Client::new(cfg, start).unwrap();
    let d = drain(&mut c);
    let Some(ConnRequest::Open { conn, .. }) = d.conns.first().cloned() else {
        panic!()
    };
    // Connected, but the broker never answers ApiVersions.
    c.handle_connected(start + MS(5), conn);
    let _ = drain(&mut c);
    let due = start + Duration::from_secs(10);
    assert_eq!(c.poll_timeout(), Some(due));
    c.handle_timeout(due - MS(1));
    assert!(drain(&mut c).events.is_empty());
    c.handle_timeout(due);
    let d = drain(&mut c);
    assert_eq!(d.conns, vec![ConnRequest::Close { conn }]);
    assert!(matches!(
        d.events[..],
        [Event::ConnectionLost {
            reason: DisconnectReason::SetupTimeout,
            ..
        }]
    ));
}

/// Delays between reconnect attempts to an unreachable single broker.
fn reconnect_delays(seed: u64, attempts: usize) -> Vec<Duration> {
    let start = t0();
    let mut cfg = config(seed, 1);
    cfg.api_timeout = Duration::from_secs(3600);
    let mut c = Client::new(cfg, start).unwrap();
    let mut now = start;
    let mut delays = Vec::new();
    while delays.len() < attempts {
        let d = drain(&mut c);
        let Some(ConnRequest::Open { conn, .. }) = d.conns.first().cloned() else {
            panic!("expected a reconnect, got {:?}", d.conns)
        };
        c.handle_connect_failed(now, conn, "refused");
        let _ = drain(&mut c);
        let next = c.poll_timeout().expect("a reconnect is scheduled");
        // Nothing happens before the backoff ends.
        c.handle_timeout(next - MS(1));
        assert!(drain(&mut c).conns.is_empty());
        delays.push(next - now);
        now = next;
        c.handle_timeout(now);
    }
    delays
}

#[test]
fn reconnect_backoff_grows_with_deterministic_jitter() {
    let delays = reconnect_delays(7, 8);
    // 50ms doubling up to the 1s cap, each within ±20%.
    let bases = [50u64, 100, 200, 400, 800, 1000, 1000, 1000];
    for (d, base) in delays.iter().zip(bases) {
        let (lo, hi) = (MS(base * 8 / 10), MS(base * 12 / 10));
        assert!(*d >= lo && *d <= hi, "{d:?} not within ±20% of {base}ms");
    }
    assert!(delays[0] < delays[2] && delays[2] < delays[4]);
    // Same seed, same schedule; another seed, another jitter.
    assert_eq!(delays, reconnect_delays(7, 8));
    assert_ne!(delays, reconnect_delays(8, 8));
}

#[test]
fn bootstrap_fails_over_to_the_next_broker() {
    let start = t0();
    let mut c = Client::new(config(3, 3), start).unwrap();
    let mut tried = Vec::new();
    let mut now = start;
    for _ in 0..3 {
        let d = drain(&mut c);
        let Some(ConnRequest::Open { conn, port, .. }) = d.conns.first().cloned() else {
            panic!("{:?}", d.conns)
        };
        tried.push(port);
        c.handle_connect_failed(now, conn, "refused");
        now = now.max(c.poll_timeout().unwrap_or(now));
        c.handle_timeout(now);
    }
    tried.sort_unstable();
    assert_eq!(
        tried,
        vec![9092, 9093, 9094],
        "each bootstrap broker is tried once"
    );
}

#[test]
fn a_frame_split_at_every_byte_boundary_is_reassembled() {
    let start = t0();
    let reference = {
        let mut c = Client::new(config(5, 1), start).unwrap();
        let d = drain(&mut c);
        let Some(ConnRequest::Open { conn, .. }) = d.conns.first().cloned() else {
            panic!()
        };
        c.handle_connected(start, conn);
        answer(&drain(&mut c).transmits[0].1).unwrap()
    };
    for cut in 0..=reference.len() {
        let mut c = Client::new(config(5, 1), start).unwrap();
        let conn = match drain(&mut c).conns.first() {
            Some(ConnRequest::Open { conn, .. }) => *conn,
            other => panic!("{other:?}"),
        };
        c.handle_connected(start, conn);
        let _ = drain(&mut c);
        let mut buf = BytesMut::from(&reference[..cut]);
        c.handle_recv(start, conn, &mut buf);
        let first = drain(&mut c);
        if cut < reference.len() {
            assert_eq!(buf.len(), cut, "a partial frame stays in the buffer");
            assert!(first.events.is_empty() && first.transmits.is_empty());
        }
        buf.extend_from_slice(&reference[cut..]);
        c.handle_recv(start, conn, &mut buf);
        assert!(buf.is_empty());
        let mut d = drain(&mut c);
        d.events.extend(first.events);
        d.transmits.extend(first.transmits);
        let ready = d
            .events
            .iter()
            .filter(|e| matches!(e, Event::BrokerReady { .. }))
            .count();
        assert_eq!(ready, 1, "cut at {cut}");
        assert_eq!(d.transmits.len(), 1, "metadata follows at cut {cut}");
    }

    // One byte at a time.
    let mut c = Client::new(config(5, 1), start).unwrap();
    let (conn, d) = ready(&mut c, start);
    let resp = answer(&d.transmits[0].1).unwrap();
    let mut buf = BytesMut::new();
    for b in resp.iter() {
        buf.extend_from_slice(&[*b]);
        c.handle_recv(start, conn, &mut buf);
    }
    assert!(buf.is_empty());
    assert!(drain(&mut c).events.contains(&Event::MetadataUpdated));
    assert_eq!(c.cluster().brokers().count(), 3);
}

#[test]
fn garbage_from_a_broker_closes_only_that_connection() {
    let start = t0();
    let cases: Vec<Vec<u8>> = vec![
        // Oversized length prefix: rejected before allocating.
        vec![0x7f, 0xff, 0xff, 0xff],
        // Negative length.
        vec![0xff, 0xff, 0xff, 0xff, 0],
        // A whole frame of junk: wrong correlation id.
        vec![0, 0, 0, 6, 9, 9, 9, 9, 1, 2],
        // Right correlation id (the metadata request is the second, id 1), junk body.
        vec![0, 0, 0, 7, 0, 0, 0, 1, 0xff, 0xff, 0xff],
    ];
    for garbage in cases {
        let mut cfg = config(9, 1);
        cfg.max_frame_size = 1 << 20;
        let mut c = Client::new(cfg, start).unwrap();
        let (conn, _) = ready(&mut c, start);
        let mut buf = BytesMut::from(&garbage[..]);
        c.handle_recv(start, conn, &mut buf);
        let d = drain(&mut c);
        assert_eq!(d.conns, vec![ConnRequest::Close { conn }], "{garbage:?}");
        assert!(
            d.events.iter().any(|e| matches!(
                e,
                Event::ConnectionLost {
                    reason: DisconnectReason::Protocol(_),
                    ..
                }
            )),
            "{garbage:?}: {:?}",
            d.events
        );
        // The client reconnects after the backoff.
        let next = c
            .poll_timeout()
            .unwrap_or_else(|| panic!("{garbage:?}: {c:?}"));
        c.handle_timeout(next);
        assert!(matches!(
            drain(&mut c).conns[..],
            [ConnRequest::Open { .. }]
        ));
    }
    // Oversized frames name the problem.
    let mut c = Client::new(config(9, 1), start).unwrap();
    let (conn, _) = ready(&mut c, start);
    let mut buf = BytesMut::from(&[0x7f, 0xff, 0xff, 0xff][..]);
    c.handle_recv(start, conn, &mut buf);
    assert!(drain(&mut c).events.iter().any(|e| matches!(
        e,
        Event::ConnectionLost {
            reason: DisconnectReason::Protocol(ProtocolError::Frame(_)),
            ..
        }
    )));
}

#[test]
fn time_going_backwards_is_clamped() {
    let start = t0() + Duration::from_secs(100);
    let mut cfg = config(1, 1);
    cfg.request_timeout = Duration::from_secs(30);
    let mut c = Client::new(cfg, start).unwrap();
    let (_, _) = ready(&mut c, start);
    let due = c.poll_timeout().unwrap();
    // A clock from the past neither fires nor moves the deadline.
    c.handle_timeout(start - Duration::from_secs(50));
    assert!(drain(&mut c).events.is_empty());
    assert_eq!(c.poll_timeout(), Some(due));
}

#[derive(Debug, Clone)]
enum Op {
    Connected(usize),
    ConnectFailed(usize),
    Closed(usize),
    /// Random bytes on a connection.
    Recv(usize, Vec<u8>),
    /// Random bytes framed with a correct length prefix.
    Frame(usize, Vec<u8>),
    /// A well-formed answer to the oldest unanswered request, split.
    Answer(usize, usize),
    /// Time moves by this many milliseconds (negative: a clock from the past).
    Time(i64),
    Admin,
    Refresh,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..4usize).prop_map(Op::Connected),
        (0..4usize).prop_map(Op::ConnectFailed),
        (0..4usize).prop_map(Op::Closed),
        ((0..4usize), proptest::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(c, b)| Op::Recv(c, b)),
        ((0..4usize), proptest::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(c, b)| Op::Frame(c, b)),
        ((0..4usize), (0..64usize)).prop_map(|(c, s)| Op::Answer(c, s)),
        (-2_000i64..120_000).prop_map(Op::Time),
        Just(Op::Admin),
        Just(Op::Refresh),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn arbitrary_inputs_never_panic(seed in any::<u64>(), ops in proptest::collection::vec(op(), 1..60)) {
        let start = t0() + Duration::from_secs(10);
        let mut cfg = config(seed, 3);
        cfg.max_in_flight = 2;
        let mut c = Client::new(cfg, start).unwrap();
        let mut now = start;
        let mut conns: Vec<ConnId> = Vec::new();
        let mut sent: BTreeMap<ConnId, Vec<Bytes>> = BTreeMap::new();
        let mut bufs: BTreeMap<ConnId, BytesMut> = BTreeMap::new();
        let pick = |conns: &[ConnId], i: usize| conns.get(i % conns.len().max(1)).copied().unwrap_or(ConnId(i as u64));
        for op in ops {
            match op {
                Op::Connected(i) => c.handle_connected(now, pick(&conns, i)),
                Op::ConnectFailed(i) => c.handle_connect_failed(now, pick(&conns, i), "x"),
                Op::Closed(i) => c.handle_closed(now, pick(&conns, i)),
                Op::Recv(i, bytes) => {
                    let conn = pick(&conns, i);
                    let buf = bufs.entry(conn).or_default();
                    buf.extend_from_slice(&bytes);
                    c.handle_recv(now, conn, buf);
                }
                Op::Frame(i, body) => {
                    let conn = pick(&conns, i);
                    let buf = bufs.entry(conn).or_default();
                    buf.extend_from_slice(&(body.len() as i32).to_be_bytes());
                    buf.extend_from_slice(&body);
                    c.handle_recv(now, conn, buf);
                }
                Op::Answer(i, split) => {
                    let conn = pick(&conns, i);
                    let pending = sent.entry(conn).or_default();
                    if !pending.is_empty() {
                        let req = pending.remove(0);
                        if let Some(resp) = answer(&req) {
                            let cut = split.min(resp.len());
                            let buf = bufs.entry(conn).or_default();
                            buf.extend_from_slice(&resp[..cut]);
                            c.handle_recv(now, conn, buf);
                            let buf = bufs.entry(conn).or_default();
                            buf.extend_from_slice(&resp[cut..]);
                            c.handle_recv(now, conn, buf);
                        }
                    }
                }
                Op::Time(ms) => {
                    if ms >= 0 {
                        now += MS(ms as u64);
                        c.handle_timeout(now);
                    } else {
                        c.handle_timeout(now - MS(ms.unsigned_abs()));
                    }
                }
                Op::Admin => { let _ = c.admin().metadata_all(now); }
                Op::Refresh => { let _ = c.refresh_metadata(now); }
            }
            let d = drain(&mut c);
            for (conn, bytes) in d.transmits {
                sent.entry(conn).or_default().push(bytes);
            }
            for r in d.conns {
                match r {
                    ConnRequest::Open { conn, .. } => conns.push(conn),
                    ConnRequest::Close { conn } => {
                        conns.retain(|c| *c != conn);
                        sent.remove(&conn);
                        bufs.remove(&conn);
                    }
                    _ => {}
                }
            }
            // The cap holds: never more unanswered requests than allowed
            // (+1 for ApiVersions, which precedes readiness).
            for reqs in sent.values() {
                prop_assert!(reqs.len() <= 3, "{} outstanding", reqs.len());
            }
            // Liveness: something is always scheduled (a metadata refresh at
            // least), so no request can be stranded waiting on nothing.
            prop_assert!(c.poll_timeout().is_some(), "nothing scheduled: {:?}", c);
        }
    }
}

#[test]
fn an_api_the_broker_lacks_fails_with_a_typed_error() {
    let start = t0();
    let mut c = Client::new(config(2, 1), start).unwrap();
    let d = drain(&mut c);
    let Some(ConnRequest::Open { conn, .. }) = d.conns.first().cloned() else {
        panic!()
    };
    c.handle_connected(start, conn);
    let (h, _) = request(&drain(&mut c).transmits[0].1);
    // A broker without CreateTopics (and with Produce only below v3).
    let list: Vec<ApiVersion> = full_api_list()
        .into_iter()
        .filter(|v| v.api_key != ApiKey::CreateTopics.id())
        .map(|v| {
            if v.api_key == ApiKey::Produce.id() {
                v.with_max_version(2)
            } else {
                v
            }
        })
        .collect();
    let mut buf = BytesMut::new();
    let resp = ApiVersionsResponse::default().with_api_keys(list);
    encode_response_frame(
        h.correlation_id,
        h.request_api_version,
        &resp.into(),
        &mut buf,
    )
    .unwrap();
    c.handle_recv(start, conn, &mut buf);
    let _ = drain(&mut c);
    let broker = kafka_state::Broker::Bootstrap(0);
    assert_eq!(c.negotiated_version(broker, ApiKey::CreateTopics), None);
    assert_eq!(c.negotiated_version(broker, ApiKey::Produce), None);
    assert!(c.negotiated_version(broker, ApiKey::Metadata).is_some());

    let id = c
        .admin()
        .create_topics(start, [kafka_state::NewTopic::new("t", 1, 1)])
        .unwrap();
    let d = drain(&mut c);
    assert!(d.events.contains(&Event::AdminResult {
        id,
        result: Err(kafka_state::RequestError::Unsupported(
            kafka_state::NoCommonVersion {
                broker,
                api: ApiKey::CreateTopics
            }
        )),
    }));
    // The connection stays up for what it does support.
    assert!(d.conns.is_empty());
}
