//! The producer driven by hand through the client: the requests it sends
//! byte for byte, the answers it gets, and what it reports.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_proto::frame::{decode_request_frame, encode_response_frame};
use kafka_proto::messages::api_versions_response::ApiVersion;
use kafka_proto::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_proto::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_proto::messages::{
    ApiVersionsResponse, InitProducerIdResponse, MetadataResponse, ProduceRequest, ProduceResponse,
    RequestHeader,
};
use kafka_proto::record::Batches;
use kafka_proto::{ApiKey, ErrorCode, RequestBody, ResponseBody};
use kafka_state::{
    Acks, BrokerAddr, Client, Config, ConnId, ConnRequest, DeliveryId, DeliveryReport, Event,
    Misuse, ProduceError, ProducerRecord, SendError,
};

const MS: fn(u64) -> Duration = Duration::from_millis;

#[allow(clippy::disallowed_methods)] // tests need some Instant to start from
fn t0() -> Instant {
    Instant::now()
}

/// One broker, node 0, serving topic `t` (one partition unless
/// [`Broker::with_partitions`]) on every connection the client opens (its
/// general one and the producer's).
struct Broker {
    client: Client,
    partitions: i32,
    now: Instant,
    events: Vec<Event>,
    produces: Vec<(ConnId, RequestHeader, ProduceRequest)>,
    /// Bytes written to each connection that are not a whole frame yet.
    written: std::collections::BTreeMap<ConnId, BytesMut>,
    /// Requests not answered yet per connection, oldest first: a broker
    /// answers a connection's requests in order, so a Produce the test
    /// holds holds everything behind it there.
    queues: std::collections::BTreeMap<
        ConnId,
        std::collections::VecDeque<(RequestHeader, RequestBody)>,
    >,
}

fn api_versions() -> ResponseBody {
    ApiVersionsResponse::default()
        .with_api_keys(
            ApiKey::ALL
                .iter()
                .map(|k| {
                    ApiVersion::default()
                        .with_api_key(k.id())
                        .with_min_version(*k.versions().start())
                        .with_max_version(*k.versions().end())
                })
                .collect(),
        )
        .into()
}

fn metadata(partitions: i32) -> ResponseBody {
    MetadataResponse::default()
        .with_cluster_id(Some("c".into()))
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(0)
            .with_host("b".into())
            .with_port(9092)])
        .with_topics(vec![MetadataResponseTopic::default()
            .with_name(Some("t".into()))
            .with_partitions(
                (0..partitions)
                    .map(|p| {
                        MetadataResponsePartition::default()
                            .with_partition_index(p)
                            .with_leader_id(0)
                    })
                    .collect(),
            )])
        .into()
}

impl Broker {
    fn new(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::with_partitions(1, tweak)
    }

    fn with_partitions(partitions: i32, tweak: impl FnOnce(&mut Config)) -> Self {
        let now = t0();
        let mut config = Config::new([BrokerAddr::new("b", 9092)]);
        tweak(&mut config);
        let client = Client::new(config, now).unwrap();
        let mut b = Self {
            client,
            partitions,
            now,
            events: Vec::new(),
            produces: Vec::new(),
            queues: Default::default(),
            written: Default::default(),
        };
        b.serve();
        b
    }

    fn answer(&mut self, conn: ConnId, h: &RequestHeader, resp: ResponseBody) {
        let mut buf = BytesMut::new();
        encode_response_frame(h.correlation_id, h.request_api_version, &resp, &mut buf).unwrap();
        self.client.handle_recv(self.now, conn, &mut buf);
        assert!(buf.is_empty());
    }

    /// Answers ApiVersions, Metadata and InitProducerId until the client
    /// is quiet; keeps Produce requests for the test.
    fn serve(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(c) = self.client.poll_conn() {
                if let ConnRequest::Open { conn, .. } = c {
                    self.client.handle_connected(self.now, conn);
                    self.queues.entry(conn).or_default();
                    progressed = true;
                }
            }
            while let Some(t) = self.client.poll_transmit() {
                let conn = t.conn;
                let queue = self.queues.get_mut(&conn).expect("an open connection");
                // A Produce request may come in pieces: frames are cut
                // once whole.
                let wire = self.written.entry(conn).or_default();
                wire.extend_from_slice(&t.bytes);
                while let Some(frame) = kafka_proto::frame::split_frame(wire, usize::MAX).unwrap() {
                    let (h, body) = decode_request_frame(frame).unwrap();
                    progressed = true;
                    if let RequestBody::Produce(p) = &body {
                        if p.acks != 0 {
                            self.produces.push((conn, h.clone(), p.clone()));
                        }
                    }
                    queue.push_back((h, body));
                }
            }
            let conns: Vec<ConnId> = self.queues.keys().copied().collect();
            for conn in conns {
                while let Some((h, body)) = self.queues[&conn].front().cloned() {
                    if matches!(&body, RequestBody::Produce(p) if p.acks != 0) {
                        break;
                    }
                    self.queues.get_mut(&conn).unwrap().pop_front();
                    progressed = true;
                    match body {
                        RequestBody::ApiVersions(_) => self.answer(conn, &h, api_versions()),
                        RequestBody::Metadata(_) => {
                            self.answer(conn, &h, metadata(self.partitions));
                        }
                        RequestBody::InitProducerId(_) => self.answer(
                            conn,
                            &h,
                            InitProducerIdResponse::default()
                                .with_producer_id(42)
                                .with_producer_epoch(3)
                                .into(),
                        ),
                        RequestBody::Produce(p) => self.produces.push((conn, h, p)),
                        other => panic!("unexpected {:?}", other.api_key()),
                    }
                }
            }
            while let Some(e) = self.client.poll_event() {
                self.events.push(e);
            }
            if !progressed {
                return;
            }
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.client.handle_timeout(self.now);
        self.serve();
    }

    fn send(&mut self, r: ProducerRecord) -> kafka_state::DeliveryId {
        let id = self.client.producer().send(self.now, r).unwrap();
        self.serve();
        id
    }

    fn reply_produce(&mut self, i: usize, code: ErrorCode, base: i64, throttle_ms: i32) {
        self.reply_produce_at(i, code, base, throttle_ms, -1);
    }

    /// Answers with the broker's append time (-1: the records keep theirs).
    fn reply_produce_at(
        &mut self,
        i: usize,
        code: ErrorCode,
        base: i64,
        throttle_ms: i32,
        append_time: i64,
    ) {
        let (conn, h, _) = self.produces[i].clone();
        let queue = self.queues.get_mut(&conn).expect("its connection");
        let (front, _) = queue.pop_front().expect("a request to answer");
        assert_eq!(
            front.correlation_id, h.correlation_id,
            "answers go in order"
        );
        let resp = ProduceResponse::default()
            .with_throttle_time_ms(throttle_ms)
            .with_responses(vec![TopicProduceResponse::default()
                .with_name("t".into())
                .with_partition_responses(vec![PartitionProduceResponse::default()
                    .with_index(0)
                    .with_error_code(code.code())
                    .with_base_offset(base)
                    .with_log_append_time_ms(append_time)])]);
        self.answer(conn, &h, resp.into());
        self.serve();
    }

    /// Every record's outcome so far, in the order they came.
    fn deliveries(&self) -> Vec<(DeliveryId, Result<DeliveryReport, ProduceError>)> {
        self.events.iter().flat_map(Event::outcomes).collect()
    }
}

fn records_of(p: &ProduceRequest) -> Bytes {
    p.topic_data[0].partition_data[0].records.clone().unwrap()
}

#[test]
fn idempotent_batch_is_stamped_retried_with_the_same_bytes_and_reported() {
    let mut b = Broker::new(|_| {});
    let id = b.send(
        ProducerRecord::new("t")
            .with_key("k")
            .with_value("v")
            .with_header("h", Some(Bytes::from("x")))
            .with_timestamp(1_000),
    );
    assert!(b.produces.is_empty(), "lingering");
    b.advance(MS(5));
    assert_eq!(b.produces.len(), 1);
    let (_, _, req) = &b.produces[0];
    assert_eq!(req.acks, -1);
    assert_eq!(req.timeout_ms, 30_000);
    let first = records_of(req);
    let batch = Batches::new(first.clone()).next().unwrap().unwrap();
    let h = batch.header();
    assert_eq!(
        (h.producer_id, h.producer_epoch, h.base_sequence),
        (42, 3, 0)
    );
    let rec = batch.records().unwrap().next().unwrap().unwrap();
    assert_eq!(rec.key.as_deref(), Some(&b"k"[..]));
    assert_eq!(rec.timestamp, 1_000);
    assert_eq!(rec.headers.last("h"), Some(Some(Bytes::from("x"))));

    // A retriable error: the same bytes again after the backoff.
    b.reply_produce(0, ErrorCode::NotLeaderOrFollower, -1, 0);
    assert!(b.deliveries().is_empty());
    b.advance(MS(50));
    assert_eq!(b.produces.len(), 1, "backoff not over");
    b.advance(MS(100));
    assert_eq!(b.produces.len(), 2);
    assert_eq!(records_of(&b.produces[1].2), first);

    b.reply_produce(1, ErrorCode::None, 7, 0);
    let d = b.deliveries();
    let [(got, Ok(r))] = &d[..] else {
        panic!("{d:?}")
    };
    assert_eq!(*got, id);
    assert_eq!(
        (&*r.topic, r.partition, r.offset, r.timestamp),
        ("t", 0, 7, 1_000)
    );
    assert!(b.client.producer().is_idle());
}

#[test]
fn a_written_batch_is_one_event_with_each_records_offset_and_time() {
    let mut b = Broker::new(|_| {});
    let ids: Vec<_> = (0..3)
        .map(|i| {
            b.send(
                ProducerRecord::new("t")
                    .with_value("v")
                    .with_timestamp(100 + i),
            )
        })
        .collect();
    b.advance(MS(5));
    b.reply_produce(0, ErrorCode::None, 40, 0);
    let batches: Vec<_> = b
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Delivered(d) => Some(d),
            _ => None,
        })
        .collect();
    let [batch] = &batches[..] else {
        panic!("one event for the batch: {batches:?}")
    };
    assert_eq!(
        (&**batch.topic(), batch.partition(), batch.len()),
        ("t", 0, 3)
    );
    assert_eq!(batch.ids().collect::<Vec<_>>(), ids);
    let got: Vec<_> = batch
        .reports()
        .map(|(id, r)| (id, r.offset, r.timestamp))
        .collect();
    assert_eq!(
        got,
        vec![(ids[0], 40, 100), (ids[1], 41, 101), (ids[2], 42, 102)]
    );
    assert!(batch.report(3).is_none());
    assert_eq!(b.events.iter().flat_map(Event::outcomes).count(), 3);
    assert!(b.client.producer().is_idle());

    // With LogAppendTime every record carries the broker's time.
    let late = b.send(ProducerRecord::new("t").with_value("w").with_timestamp(5));
    b.advance(MS(5));
    b.reply_produce_at(1, ErrorCode::None, 43, 0, 9_999);
    let (id, report) = b.deliveries().pop().expect("a report");
    assert_eq!(id, late);
    let report = report.unwrap();
    assert_eq!((report.offset, report.timestamp), (43, 9_999));
}

#[test]
fn next_batch_takes_the_next_sequence_and_errors_carry_their_code() {
    let mut b = Broker::new(|_| {});
    let a = b.send(ProducerRecord::new("t").with_value("a"));
    b.advance(MS(5));
    b.reply_produce(0, ErrorCode::None, 0, 0);
    b.send(ProducerRecord::new("t").with_value("b"));
    let c = b.send(ProducerRecord::new("t").with_value("c"));
    b.advance(MS(5));
    let batch = Batches::new(records_of(&b.produces[1].2))
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(batch.header().base_sequence, 1);
    assert_eq!(batch.header().record_count, 2);
    b.reply_produce(1, ErrorCode::InvalidRecord, -1, 0);
    let d = b.deliveries();
    assert_eq!(d.len(), 3);
    assert!(matches!(d[0], (id, Ok(_)) if id == a));
    let (id, Err(e)) = &d[2] else {
        panic!("{:?}", d[2])
    };
    assert_eq!(*id, c);
    assert_eq!(e.code(), Some(ErrorCode::InvalidRecord));
    assert!(e.to_string().contains("INVALID_RECORD"), "{e}");
}

#[test]
fn acks_zero_completes_at_send_and_waits_for_nothing() {
    let mut b = Broker::new(|c| {
        c.producer.acks = Acks::None;
        c.producer.enable_idempotence = false;
    });
    let id = b.send(ProducerRecord::new("t").with_value("v"));
    b.advance(MS(5));
    assert_eq!(b.produces.len(), 1);
    assert_eq!(b.produces[0].2.acks, 0);
    let batch = Batches::new(records_of(&b.produces[0].2))
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(batch.header().producer_id, -1, "no idempotence");
    assert!(matches!(
        b.deliveries()[..],
        [(got, Ok(DeliveryReport { offset: -1, .. }))] if got == id
    ));
    // No request waits on the connection: no request timeout is armed
    // (once the metadata refresh for the new topic is done).
    b.advance(MS(100));
    let wake = b.client.poll_timeout().unwrap();
    assert!(
        wake >= b.now + Duration::from_secs(60),
        "{:?}",
        wake - b.now
    );
    // And the next response on the connection is not taken for it.
    b.send(ProducerRecord::new("t").with_value("w"));
    b.advance(MS(5));
    assert_eq!(b.produces.len(), 2);
    assert_eq!(b.deliveries().len(), 2);
}

#[test]
fn throttle_time_holds_the_next_produce_back() {
    let mut b = Broker::new(|_| {});
    b.send(ProducerRecord::new("t").with_value("a"));
    b.advance(MS(5));
    b.reply_produce(0, ErrorCode::None, 0, 300);
    b.send(ProducerRecord::new("t").with_value("b"));
    b.advance(MS(5));
    assert_eq!(b.produces.len(), 1, "throttled");
    b.advance(MS(290));
    assert_eq!(b.produces.len(), 1, "throttled");
    b.advance(MS(5));
    assert_eq!(b.produces.len(), 2);
}

#[test]
fn close_fails_what_is_pending_and_later_sends_give_the_record_back() {
    let mut b = Broker::new(|_| {});
    let in_flight = b.send(ProducerRecord::new("t").with_value("a"));
    b.advance(MS(5));
    let queued = b.send(ProducerRecord::new("t").with_value("b"));
    b.client.close(b.now);
    b.serve();
    let d = b.deliveries();
    assert_eq!(d.len(), 2);
    for (e, id) in d.iter().zip([in_flight, queued]) {
        assert_eq!(*e, (id, Err(ProduceError::Closed)));
    }
    let r = ProducerRecord::new("t").with_value("c");
    match b.client.producer().send(b.now, r.clone()) {
        Err(SendError::Unusable {
            record,
            error: Misuse::Closed,
        }) => assert_eq!(*record, r),
        other => panic!("{other:?}"),
    }
    assert_eq!(b.client.producer().flush(b.now), Err(Misuse::Closed));
}

#[test]
fn flush_sends_at_once_and_completes_when_all_is_delivered() {
    let mut b = Broker::new(|c| c.producer.linger = Duration::from_secs(1));
    b.send(ProducerRecord::new("t").with_value("a"));
    assert!(b.produces.is_empty());
    let now = b.now;
    b.client.producer().flush(now).unwrap();
    b.serve();
    assert_eq!(b.produces.len(), 1, "flush does not wait for linger");
    assert!(!b.events.contains(&Event::FlushComplete));
    assert_eq!(b.client.producer().in_flight_count(), 1);
    b.reply_produce(0, ErrorCode::None, 0, 0);
    assert!(b.events.contains(&Event::FlushComplete));
    // Flushing with nothing pending completes at once.
    b.events.clear();
    b.client.producer().flush(now).unwrap();
    b.serve();
    assert_eq!(b.events, vec![Event::FlushComplete]);
}

#[test]
fn producer_settings_are_validated_with_the_client() {
    let mut config = Config::new([BrokerAddr::new("b", 9092)]);
    config.producer.acks = Acks::Leader;
    assert!(matches!(
        Client::new(config.clone(), t0()),
        Err(Misuse::InvalidConfig(_))
    ));
    config.producer.enable_idempotence = false;
    assert!(Client::new(config.clone(), t0()).is_ok());
    // A small buffer is fine with the default (large) batch size: batches
    // are cut at the buffer's size.
    let mut small = config.clone();
    small.producer.buffer_memory = 32 * 1024;
    assert!(Client::new(small.clone(), t0()).is_ok());
    small.producer.buffer_memory = 100;
    assert!(Client::new(small, t0()).is_err());
    config.producer.delivery_timeout = config.request_timeout / 2;
    assert!(Client::new(config, t0()).is_err());
}

#[test]
fn the_client_stays_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Client>();
    assert_send::<ProducerRecord>();
    assert_send::<SendError>();
}

/// Records joining an open batch leave the client nothing to do, so a
/// driver sharing it with sending threads is woken once per batch; a
/// send that finds the linger passed still sends the batch at once.
#[test]
fn only_sends_that_change_the_plan_ask_for_a_wakeup() {
    let mut b = Broker::new(|c| {
        c.producer.enable_idempotence = false;
        c.producer.acks = Acks::Leader;
        c.producer.linger = MS(50);
    });
    let _ = b.client.take_wakeup();
    let rec = || ProducerRecord::new("t").with_value(Bytes::from_static(b"v"));
    let now = b.now;
    b.client.producer().send(now, rec()).unwrap();
    assert!(b.client.take_wakeup(), "a new batch moves the linger timer");
    assert!(!b.client.take_wakeup(), "the flag is cleared");
    let timeout = b.client.poll_timeout();
    for _ in 0..10 {
        b.client.producer().send(now + MS(10), rec()).unwrap();
        assert!(!b.client.take_wakeup(), "joining the open batch");
        assert!(b.client.poll_transmit().is_none());
    }
    assert_eq!(b.client.poll_timeout(), timeout);
    // The linger ran out and no timer was handled: the next send notices.
    b.client.producer().send(now + MS(60), rec()).unwrap();
    assert!(b.client.take_wakeup());
    assert!(b.produces.is_empty());
    b.now = now + MS(60);
    b.serve();
    assert_eq!(b.produces.len(), 1, "the lingered batch went out");
    let batch = Batches::new(records_of(&b.produces[0].2))
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(batch.header().record_count, 12);
}

/// Keyed records spread over many partitions open a batch with nearly
/// every record. Such a send pumps only if its batch is due before the
/// pump already planned; otherwise that pump takes it into account. (A
/// pump per opened batch walked every partition each time, and a
/// thousand partitions brought a producer down to a few thousand
/// records a second.)
#[test]
fn a_batch_opened_behind_an_earlier_one_waits_for_the_pump_already_planned() {
    let mut b = Broker::with_partitions(3, |c| {
        c.producer.enable_idempotence = false;
        c.producer.acks = Acks::Leader;
        c.producer.linger = MS(50);
    });
    let _ = b.client.take_wakeup();
    let to = |p: i32| {
        ProducerRecord::new("t")
            .with_partition(p)
            .with_value(Bytes::from_static(b"v"))
    };
    let start = b.now;
    b.client.producer().send(start, to(0)).unwrap();
    assert!(b.client.take_wakeup(), "the first batch sets the timer");
    assert_eq!(b.client.poll_timeout(), Some(start + MS(50)));
    for (p, at) in [(1, 10), (2, 20)] {
        b.client.producer().send(start + MS(at), to(p)).unwrap();
        assert!(
            !b.client.take_wakeup(),
            "partition {p}: a pump is due sooner"
        );
        assert!(b.client.poll_transmit().is_none());
        assert_eq!(b.client.poll_timeout(), Some(start + MS(50)));
    }
    // Each batch leaves once it has lingered, and no sooner.
    for (p, at) in [(0, 50), (1, 60), (2, 70)] {
        b.now = start + MS(at - 1);
        b.client.handle_timeout(b.now);
        b.serve();
        assert_eq!(b.produces.len(), p as usize, "partition {p} lingers");
        b.now = start + MS(at);
        b.client.handle_timeout(b.now);
        b.serve();
        assert_eq!(b.produces.len(), p as usize + 1, "partition {p} went");
        let partitions: Vec<i32> = b.produces[p as usize].2.topic_data[0]
            .partition_data
            .iter()
            .map(|d| d.index)
            .collect();
        assert_eq!(partitions, [p]);
        if p < 2 {
            assert_eq!(b.client.poll_timeout(), Some(start + MS(at + 10)));
        }
    }
    // A batch due before everything planned still wakes the driver.
    b.now = start + MS(200);
    b.client.handle_timeout(b.now);
    b.serve();
    let _ = b.client.take_wakeup();
    let later = b.client.poll_timeout();
    assert!(later.is_none_or(|t| t > b.now + MS(50)), "{later:?}");
    b.client.producer().send(b.now, to(0)).unwrap();
    assert!(b.client.take_wakeup(), "nothing was due sooner");
    assert_eq!(b.client.poll_timeout(), Some(b.now + MS(50)));
}

/// A topic met before skips its name check, never the record's own.
#[test]
fn records_of_a_known_topic_are_still_checked() {
    let mut b = Broker::new(|c| {
        c.producer.enable_idempotence = false;
        c.producer.acks = Acks::Leader;
    });
    let now = b.now;
    b.client
        .producer()
        .send(
            now,
            ProducerRecord::new("t").with_value(Bytes::from_static(b"v")),
        )
        .unwrap();
    for bad in [
        ProducerRecord::new("t").with_partition(-1),
        ProducerRecord::new("t").with_value(vec![0u8; 2 << 20]),
        ProducerRecord::new("t/2"),
        ProducerRecord::new(""),
    ] {
        let err = b.client.producer().send(now, bad).unwrap_err();
        assert!(matches!(err, SendError::Invalid { .. }), "{err:?}");
    }
}

/// An acks=0 request is done when the adapter takes its bytes, not when it
/// is built: an adapter that stops taking bytes keeps the records counted
/// against `buffer_memory`, so a backed-up socket pushes back on senders.
#[test]
fn acks_zero_records_are_reported_once_their_bytes_are_taken() {
    let mut b = Broker::new(|c| {
        c.producer.acks = Acks::None;
        c.producer.enable_idempotence = false;
        c.producer.linger = Duration::ZERO;
        c.producer.buffer_memory = 4096;
    });
    let now = b.now;
    let big = || ProducerRecord::new("t").with_value(vec![0u8; 1500]);
    // Nobody takes bytes: the buffer fills and stays full.
    let mut accepted = 0;
    let refused = (0..100)
        .find_map(|_| match b.client.producer().send(now, big()) {
            Ok(_) => {
                accepted += 1;
                None
            }
            Err(e) => Some(e),
        })
        .expect("the buffer fills while no bytes are taken");
    assert!(matches!(refused, SendError::BufferFull(_)), "{refused:?}");
    assert!((1..=3).contains(&accepted), "{accepted}");
    while let Some(e) = b.client.poll_event() {
        assert!(e.outcomes().len() == 0, "nothing taken yet: {e:?}");
    }
    // Taking the bytes completes the requests and frees the buffer.
    b.serve();
    assert_eq!(b.deliveries().len(), accepted);
    assert!(b.events.contains(&Event::BufferAvailable));
    assert!(b.client.producer().send(now, big()).is_ok());
}

/// A batch of 32 KiB or more is not copied into its request's frame: the
/// frame comes as pieces, the batch one of them, and an acks=0 request is
/// done once its last piece is taken.
#[test]
fn a_large_batch_goes_out_as_a_piece_of_its_frame() {
    let mut b = Broker::new(|c| {
        c.producer.acks = Acks::None;
        c.producer.enable_idempotence = false;
        c.producer.linger = Duration::ZERO;
    });
    let now = b.now;
    // A small record first opens and sets up the producer's connection.
    b.client
        .producer()
        .send(now, ProducerRecord::new("t").with_value("small"))
        .unwrap();
    b.serve();
    assert_eq!(b.deliveries().len(), 1);
    while b.client.poll_event().is_some() {}
    let value = vec![7u8; 40_000];
    b.client
        .producer()
        .send(now, ProducerRecord::new("t").with_value(value))
        .unwrap();
    let mut pieces = Vec::new();
    // How many pieces had been taken when the record was reported.
    let mut done_after = None;
    while let Some(t) = b.client.poll_transmit() {
        pieces.push(t.bytes);
        while let Some(e) = b.client.poll_event() {
            if e.outcomes().any(|(_, r)| r.is_ok()) {
                done_after.get_or_insert(pieces.len());
            }
        }
    }
    assert_eq!(
        done_after,
        Some(pieces.len()),
        "done once its last piece was taken"
    );
    assert!(pieces.len() >= 2, "{} pieces", pieces.len());
    let batch = pieces
        .iter()
        .find(|p| p.len() > 40_000)
        .expect("the batch is a piece of its own");
    let mut wire = BytesMut::from(&pieces.concat()[..]);
    let frame = kafka_proto::frame::split_frame(&mut wire, usize::MAX)
        .unwrap()
        .expect("the pieces make one whole frame");
    assert!(wire.is_empty());
    let (_, body) = decode_request_frame(frame).unwrap();
    let RequestBody::Produce(p) = body else {
        panic!("not a produce request")
    };
    assert_eq!(&records_of(&p), batch);
}
