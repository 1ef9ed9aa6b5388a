//! The consumer driven by hand against a scripted broker: the exact
//! requests it sends (versions, topic ids, offsets, sizes), fetches per
//! broker, buffering bounds, exact retry timers, and hostile fetch data.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_proto::frame::{decode_request_frame, encode_response_frame};
use kafka_proto::messages::api_versions_response::ApiVersion;
use kafka_proto::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_proto::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_proto::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_proto::messages::{
    ApiVersionsResponse, FetchRequest, FetchResponse, ListOffsetsResponse, MetadataResponse,
    RequestHeader,
};
use kafka_proto::record::{encode, BatchOptions, Record};
use kafka_proto::{ApiKey, ErrorCode, RequestBody, ResponseBody, Uuid};
use kafka_state::consumer::{AutoOffsetReset, ConsumedOffset, ConsumerEvent, FetchError, SeekTo};
use kafka_state::{
    BrokerAddr, Client, Config, ConnId, ConnRequest, ConsumerRecord, Event, Misuse, TopicPartition,
};

#[allow(clippy::disallowed_methods)] // tests need some Instant to start from
fn t0() -> Instant {
    Instant::now()
}

const MS: fn(u64) -> Duration = Duration::from_millis;
const TOPIC_ID: Uuid = Uuid::from_u64_pair(7, 9);

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new("t", p)
}

/// One client and one scripted broker (node 0) leading `t-0` and `t-1`.
struct Rig {
    client: Client,
    conn: ConnId,
    now: Instant,
    /// Requests the client sent and nobody answered yet.
    inbox: Vec<(RequestHeader, RequestBody)>,
    events: Vec<Event>,
    /// Where the last response's bytes lived, to check records point into it.
    last_frame: std::ops::Range<usize>,
}

impl Rig {
    fn new(fetch_max_version: i16, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::with_partitions(fetch_max_version, 2, tweak)
    }

    /// The rig with `t` of `partitions` partitions, all led by node 0.
    fn with_partitions(
        fetch_max_version: i16,
        partitions: i32,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        let now = t0();
        let mut config = Config::new([BrokerAddr::new("b", 9092)]);
        config.consumer.auto_offset_reset = AutoOffsetReset::Earliest;
        tweak(&mut config);
        let mut client = Client::new(config, now).unwrap();
        let Some(ConnRequest::Open { conn, .. }) = client.poll_conn() else {
            panic!("expected an open request")
        };
        client.handle_connected(now, conn);
        let mut rig = Self {
            client,
            conn,
            now,
            inbox: Vec::new(),
            events: Vec::new(),
            last_frame: 0..0,
        };
        rig.drain();
        let (h, _) = rig.take(ApiKey::ApiVersions);
        let apis = ApiKey::ALL
            .iter()
            .map(|k| {
                let max = if *k == ApiKey::Fetch {
                    fetch_max_version
                } else {
                    *k.versions().end()
                };
                ApiVersion::default()
                    .with_api_key(k.id())
                    .with_min_version(*k.versions().start())
                    .with_max_version(max)
            })
            .collect();
        rig.reply(
            &h,
            ApiVersionsResponse::default().with_api_keys(apis).into(),
        );
        let (h, _) = rig.take(ApiKey::Metadata);
        rig.reply(&h, metadata_of(partitions));
        rig
    }

    fn drain(&mut self) {
        while let Some(t) = self.client.poll_transmit() {
            assert_eq!(t.conn, self.conn);
            let mut buf = BytesMut::from(&t.bytes[..]);
            while let Some(f) = kafka_proto::frame::split_frame(&mut buf, usize::MAX).unwrap() {
                self.inbox.push(decode_request_frame(f).unwrap());
            }
        }
        while self.client.poll_conn().is_some() {}
        while let Some(e) = self.client.poll_event() {
            self.events.push(e);
        }
    }

    fn pending(&mut self, api: ApiKey) -> usize {
        self.drain();
        self.inbox
            .iter()
            .filter(|(h, _)| h.request_api_key == api.id())
            .count()
    }

    /// The oldest unanswered request of `api`.
    fn take(&mut self, api: ApiKey) -> (RequestHeader, RequestBody) {
        self.drain();
        let i = self
            .inbox
            .iter()
            .position(|(h, _)| h.request_api_key == api.id())
            .unwrap_or_else(|| panic!("no {api} request; have {:?}", self.inbox));
        self.inbox.remove(i)
    }

    fn take_fetch(&mut self) -> (RequestHeader, FetchRequest) {
        match self.take(ApiKey::Fetch) {
            (h, RequestBody::Fetch(f)) => (h, f),
            _ => unreachable!(),
        }
    }

    fn reply(&mut self, h: &RequestHeader, body: ResponseBody) {
        let mut buf = BytesMut::new();
        encode_response_frame(h.correlation_id, h.request_api_version, &body, &mut buf).unwrap();
        let start = buf.as_ptr() as usize;
        self.last_frame = start..start + buf.len();
        self.client.handle_recv(self.now, self.conn, &mut buf);
        assert!(buf.is_empty());
        self.drain();
        assert!(
            !self
                .events
                .iter()
                .any(|e| matches!(e, Event::ConnectionLost { .. })),
            "the scripted broker broke the protocol: {:?}",
            self.events
        );
    }

    /// Assigns partitions `0..n` and answers the offset lookups with 0.
    fn assign_at_zero(&mut self, n: i32) {
        let now = self.now;
        self.client.consumer().assign(now, (0..n).map(tp)).unwrap();
        let (h, _) = self.take(ApiKey::ListOffsets);
        let parts = (0..n)
            .map(|p| {
                ListOffsetsPartitionResponse::default()
                    .with_partition_index(p)
                    .with_offset(0)
                    .with_timestamp(-1)
            })
            .collect();
        let resp =
            ListOffsetsResponse::default().with_topics(vec![ListOffsetsTopicResponse::default()
                .with_name("t".into())
                .with_partitions(parts)]);
        self.reply(&h, resp.into());
    }

    fn records(&mut self) -> Vec<(i32, i64)> {
        let now = self.now;
        let mut out = Vec::new();
        while let Some(f) = self.client.consumer().poll_records(now) {
            for r in f {
                let r = r.unwrap();
                out.push((r.partition, r.offset));
            }
        }
        self.drain();
        out
    }
}

fn metadata() -> ResponseBody {
    metadata_of(2)
}

fn metadata_of(partitions: i32) -> ResponseBody {
    MetadataResponse::default()
        .with_cluster_id(Some("c".into()))
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(0)
            .with_host("b".into())
            .with_port(9092)])
        .with_topics(vec![MetadataResponseTopic::default()
            .with_name(Some("t".into()))
            .with_topic_id(TOPIC_ID)
            .with_partitions(
                (0..partitions)
                    .map(|p| {
                        MetadataResponsePartition::default()
                            .with_partition_index(p)
                            .with_leader_id(0)
                            .with_leader_epoch(3)
                    })
                    .collect(),
            )])
        .into()
}

fn batch(base: i64, n: usize, value_len: usize) -> Bytes {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            offset: base + i as i64,
            timestamp: 1,
            value: Some(Bytes::from(vec![b'x'; value_len])),
            ..Record::default()
        })
        .collect();
    let options = BatchOptions {
        base_offset: base,
        ..BatchOptions::default()
    };
    encode(records.iter(), &options).unwrap()
}

fn part(p: i32, records: Bytes, hwm: i64) -> PartitionData {
    PartitionData::default()
        .with_partition_index(p)
        .with_high_watermark(hwm)
        .with_last_stable_offset(hwm)
        .with_records(Some(records))
}

fn fetch_response(h: &RequestHeader, parts: Vec<PartitionData>) -> ResponseBody {
    // Name the topic the way the request's version does.
    let topic = FetchableTopicResponse::default().with_partitions(parts);
    let topic = if h.request_api_version >= 13 {
        topic.with_topic_id(TOPIC_ID)
    } else {
        topic.with_topic("t".into())
    };
    FetchResponse::default().with_responses(vec![topic]).into()
}

fn fetched(req: &FetchRequest) -> Vec<(i32, i64, i32)> {
    req.topics
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| (p.partition, p.fetch_offset, p.partition_max_bytes))
        .collect()
}

#[test]
fn fetch_names_topics_by_id_from_v13_and_by_name_before() {
    for (max, by_id) in [(*ApiKey::Fetch.versions().end(), true), (12, false)] {
        let mut rig = Rig::new(max, |_| {});
        rig.assign_at_zero(2);
        let (h, req) = rig.take_fetch();
        assert_eq!(h.request_api_version, max);
        assert_eq!(req.topics.len(), 1);
        if by_id {
            assert_eq!(req.topics[0].topic_id, TOPIC_ID);
        } else {
            assert_eq!(req.topics[0].topic, "t");
        }
        // Both partitions in one request, with the leader epoch.
        assert_eq!(fetched(&req), [(0, 0, 1 << 20), (1, 0, 1 << 20)]);
        assert!(req.topics[0]
            .partitions
            .iter()
            .all(|p| p.current_leader_epoch == 3));
        assert_eq!(req.max_wait_ms, 500);
        assert_eq!(req.min_bytes, 1);
        assert_eq!(req.max_bytes, 50 << 20);
        // The answer maps back whichever way the topic is named.
        rig.reply(&h, fetch_response(&h, vec![part(0, batch(0, 3, 1), 3)]));
        // Zero-copy from socket buffer to the application: the records'
        // bytes and values are slices of the response frame.
        let now = rig.now;
        let fetched = rig.client.consumer().poll_records(now).unwrap();
        let frame = rig.last_frame.clone();
        assert!(frame.contains(&(fetched.raw().as_ptr() as usize)));
        let offsets: Vec<i64> = fetched
            .iter()
            .map(|r| {
                let r = r.unwrap();
                let v = r.value.unwrap();
                assert!(frame.contains(&(v.as_ptr() as usize)), "value was copied");
                r.offset
            })
            .collect();
        assert_eq!(offsets, [0, 1, 2]);
        assert_eq!(rig.client.consumer().position(&tp(0)), Some(3));
    }
}

#[test]
fn one_fetch_per_broker_and_buffered_partitions_wait() {
    let mut rig = Rig::new(*ApiKey::Fetch.versions().end(), |_| {});
    rig.assign_at_zero(2);
    let (h, _) = rig.take_fetch();
    // Nothing else goes out while the fetch is in flight.
    rig.now += MS(100);
    let now = rig.now;
    rig.client.handle_timeout(now);
    assert_eq!(rig.pending(ApiKey::Fetch), 0);
    // p0 gets data (not taken yet); p1 nothing.
    rig.reply(
        &h,
        fetch_response(
            &h,
            vec![part(0, batch(0, 2, 1), 2), part(1, Bytes::new(), 0)],
        ),
    );
    // The refresh that assign asked for went out behind the fetch.
    let (mh, _) = rig.take(ApiKey::Metadata);
    rig.reply(&mh, metadata());
    // Prefetch: the next fetch leaves the buffered p0 out.
    let (h, req) = rig.take_fetch();
    assert_eq!(fetched(&req), [(1, 0, 1 << 20)]);
    assert_eq!(rig.client.consumer().lag(&tp(0)), Some(2));
    assert_eq!(rig.records(), [(0, 0), (0, 1)]);
    assert_eq!(rig.client.consumer().position(&tp(0)), Some(2));
    // p0 joins the next round, from its new position.
    rig.reply(&h, fetch_response(&h, vec![part(1, Bytes::new(), 0)]));
    let (_, req) = rig.take_fetch();
    assert_eq!(fetched(&req), [(0, 2, 1 << 20), (1, 0, 1 << 20)]);
}

#[test]
fn a_second_fetch_to_a_broker_carries_only_partitions_known_to_have_more() {
    let mut rig = Rig::with_partitions(*ApiKey::Fetch.versions().end(), 3, |_| {});
    rig.assign_at_zero(3);
    let (h, req) = rig.take_fetch();
    assert_eq!(fetched_parts(&req), [(0, 0), (1, 0), (2, 0)]);
    // Every partition gets 2 of its 10 records.
    let parts = (0..3).map(|p| part(p, batch(0, 2, 1), 10)).collect();
    rig.reply(&h, fetch_response(&h, parts));
    if rig.pending(ApiKey::Metadata) > 0 {
        let (mh, _) = rig.take(ApiKey::Metadata);
        rig.reply(&mh, metadata_of(3));
    }
    assert_eq!(rig.pending(ApiKey::Fetch), 0, "all three are buffered");
    let take_one = |rig: &mut Rig| {
        let now = rig.now;
        let f = rig.client.consumer().poll_records(now).unwrap();
        let p = f.partition().partition;
        drop(f);
        rig.drain();
        p
    };
    // Taking p0's records sends its next fetch; taking p1's sends a
    // second one while the first is out, since p1 has more at the broker.
    assert_eq!(take_one(&mut rig), 0);
    let (b, req) = rig.take_fetch();
    assert_eq!(fetched_parts(&req), [(0, 2)]);
    assert_eq!(take_one(&mut rig), 1);
    let (c, req) = rig.take_fetch();
    assert_eq!(fetched_parts(&req), [(1, 2)]);
    // Two are out: p2 waits, though it has more too.
    assert_eq!(take_one(&mut rig), 2);
    assert_eq!(rig.pending(ApiKey::Fetch), 0, "a third fetch went out");
    // p0 gets the rest of its records; p2 goes out in its place.
    rig.reply(&b, fetch_response(&b, vec![part(0, batch(2, 8, 1), 10)]));
    let (d, req) = rig.take_fetch();
    assert_eq!(fetched_parts(&req), [(2, 2)]);
    // p1 gets the rest too. Once p0's records are taken it is caught up:
    // the broker would park a fetch of it, so it does not go while p2's
    // fetch is out.
    rig.reply(&c, fetch_response(&c, vec![part(1, batch(2, 8, 1), 10)]));
    assert_eq!(take_one(&mut rig), 0);
    assert_eq!(
        rig.pending(ApiKey::Fetch),
        0,
        "a caught-up partition went second"
    );
    assert_eq!(take_one(&mut rig), 1);
    assert_eq!(
        rig.pending(ApiKey::Fetch),
        0,
        "a caught-up partition went second"
    );
    // With nothing else out, the caught-up partitions go first again.
    rig.reply(&d, fetch_response(&d, vec![part(2, Bytes::new(), 2)]));
    let (_, req) = rig.take_fetch();
    assert_eq!(fetched_parts(&req), [(0, 10), (1, 10), (2, 2)]);
}

#[test]
fn a_fetch_of_caught_up_partitions_waits_for_a_partition_still_draining() {
    let mut rig = Rig::new(*ApiKey::Fetch.versions().end(), |c| {
        c.consumer.fetch_max_wait = MS(500);
    });
    rig.assign_at_zero(2);
    let (h, _) = rig.take_fetch();
    // p0 gets 2 of its 10 records; p1 is at its end.
    rig.reply(
        &h,
        fetch_response(
            &h,
            vec![part(0, batch(0, 2, 1), 10), part(1, Bytes::new(), 0)],
        ),
    );
    // A fetch of p1 alone would be parked at the broker and keep p0's
    // next fetch behind it: it waits for p0's records to be taken.
    assert_eq!(rig.pending(ApiKey::Fetch), 0);
    rig.now += MS(10);
    assert_eq!(rig.records(), [(0, 0), (0, 1)]);
    let (h, req) = rig.take_fetch();
    assert_eq!(fetched(&req), [(0, 2, 1 << 20), (1, 0, 1 << 20)]);
    // Records the application does not take hold the fetch for at most
    // the broker's wait; then p1 goes alone.
    rig.reply(
        &h,
        fetch_response(
            &h,
            vec![part(0, batch(2, 2, 1), 10), part(1, Bytes::new(), 0)],
        ),
    );
    let held_at = rig.now;
    assert_eq!(rig.pending(ApiKey::Fetch), 0);
    assert!(rig
        .client
        .poll_timeout()
        .is_some_and(|t| t <= held_at + MS(500)));
    rig.now = held_at + MS(499);
    let now = rig.now;
    rig.client.handle_timeout(now);
    assert_eq!(rig.pending(ApiKey::Fetch), 0, "sent early");
    rig.now = held_at + MS(500);
    let now = rig.now;
    rig.client.handle_timeout(now);
    let (_, req) = rig.take_fetch();
    assert_eq!(fetched(&req), [(1, 0, 1 << 20)]);
}

#[test]
fn retry_backoff_fires_exactly_when_due() {
    let mut rig = Rig::new(*ApiKey::Fetch.versions().end(), |c| {
        c.retry_backoff = MS(300);
    });
    rig.assign_at_zero(2);
    let (h, _) = rig.take_fetch();
    let err = |p| part(p, Bytes::new(), -1).with_error_code(ErrorCode::NetworkException.code());
    let start = rig.now;
    rig.reply(&h, fetch_response(&h, vec![err(0), err(1)]));
    assert_eq!(rig.client.poll_timeout(), Some(start + MS(300)));
    rig.now = start + MS(299);
    let now = rig.now;
    rig.client.handle_timeout(now);
    assert_eq!(rig.pending(ApiKey::Fetch), 0, "fired early");
    rig.now = start + MS(300);
    let now = rig.now;
    rig.client.handle_timeout(now);
    assert_eq!(rig.pending(ApiKey::Fetch), 1);
    // Throttled answer: the next fetch waits for it.
    let (h, _) = rig.take_fetch();
    let resp = match fetch_response(&h, vec![part(0, Bytes::new(), 0)]) {
        ResponseBody::Fetch(f) => f.with_throttle_time_ms(1_000),
        _ => unreachable!(),
    };
    let at = rig.now;
    rig.reply(&h, resp.into());
    assert_eq!(rig.pending(ApiKey::Fetch), 0);
    assert_eq!(rig.client.poll_timeout(), Some(at + MS(1_000)));
    rig.now = at + MS(1_000);
    let now = rig.now;
    rig.client.handle_timeout(now);
    assert_eq!(rig.pending(ApiKey::Fetch), 1);
}

#[test]
fn corrupt_batch_is_an_event_for_its_partition_only() {
    let mut rig = Rig::new(*ApiKey::Fetch.versions().end(), |_| {});
    rig.assign_at_zero(2);
    let (h, _) = rig.take_fetch();
    let mut bad = batch(2, 2, 4).to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let data: Bytes = [&batch(0, 2, 4)[..], &bad[..]].concat().into();
    rig.reply(
        &h,
        fetch_response(&h, vec![part(0, data, 4), part(1, batch(0, 1, 1), 1)]),
    );
    let failed = |rig: &Rig| {
        rig.events.iter().any(|e| {
            matches!(
                e,
                Event::Consumer(ConsumerEvent::PartitionFailed {
                    partition,
                    offset: 2,
                    error: FetchError::Corrupt(_),
                }) if *partition == tp(0)
            )
        })
    };
    // The good batch before it comes first: an application that seeks
    // past the damage as soon as it hears of it must not lose them.
    assert!(!failed(&rig), "the failure overtook the good records");
    let mut got = rig.records();
    got.sort();
    assert_eq!(got, [(0, 0), (0, 1), (1, 0)]);
    assert!(failed(&rig), "reported once the good records were taken");
    assert_eq!(rig.client.consumer().position(&tp(0)), Some(2));
    let (h, req) = rig.take_fetch();
    assert_eq!(
        fetched(&req),
        [(1, 1, 1 << 20)],
        "a stopped partition is not fetched"
    );
    // A seek past the damage resumes it.
    let now = rig.now;
    rig.client
        .consumer()
        .seek(now, &tp(0), SeekTo::Offset(4))
        .unwrap();
    rig.reply(&h, fetch_response(&h, vec![part(1, Bytes::new(), 1)]));
    let (_, req) = rig.take_fetch();
    assert_eq!(fetched(&req), [(0, 4, 1 << 20), (1, 1, 1 << 20)]);
}

#[test]
fn a_batch_larger_than_the_partition_limit_is_fetched_whole() {
    let mut rig = Rig::new(*ApiKey::Fetch.versions().end(), |c| {
        c.consumer.max_partition_fetch_bytes = 100;
    });
    rig.assign_at_zero(2);
    let big = batch(0, 1, 400);
    // A broker that cuts the first batch (old brokers did).
    let (h, _) = rig.take_fetch();
    rig.reply(&h, fetch_response(&h, vec![part(0, big.slice(..100), 1)]));
    assert!(rig.records().is_empty());
    let (h, req) = rig.take_fetch();
    assert_eq!(fetched(&req)[0], (0, 0, big.len() as i32));
    // A modern broker sends it whole past the limit: taken as is.
    rig.reply(&h, fetch_response(&h, vec![part(0, big.clone(), 1)]));
    let (h, req) = rig.take_fetch();
    assert_eq!(fetched(&req), [(1, 0, 100)], "p0 is buffered");
    assert_eq!(rig.records(), [(0, 0)]);
    rig.reply(&h, fetch_response(&h, vec![part(1, Bytes::new(), 0)]));
    let (_, req) = rig.take_fetch();
    assert_eq!(
        fetched(&req)[0],
        (0, 1, 100),
        "back to the configured limit"
    );
}

#[test]
fn hostile_fetch_data_never_panics() {
    let mut seed = 0x1234_5678_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let good = batch(0, 3, 5);
    for round in 0..300 {
        let mut rig = Rig::new(*ApiKey::Fetch.versions().end(), |_| {});
        rig.assign_at_zero(2);
        let (h, _) = rig.take_fetch();
        let mut data = good.to_vec();
        match round % 3 {
            // Flip bytes anywhere.
            0 => {
                for _ in 0..1 + next() % 4 {
                    let i = (next() % data.len() as u64) as usize;
                    data[i] = next() as u8;
                }
            }
            // Random bytes.
            1 => data = (0..next() % 200).map(|_| next() as u8).collect(),
            // A batch whose length field lies.
            _ => data[8..12].copy_from_slice(&(next() as i32).to_be_bytes()),
        }
        let hwm = (next() % 10) as i64 - 2;
        rig.reply(&h, fetch_response(&h, vec![part(0, data.into(), hwm)]));
        let now = rig.now;
        while let Some(f) = rig.client.consumer().poll_records(now) {
            for r in f {
                if r.is_err() {
                    break;
                }
            }
        }
        let _ = rig.client.consumer().lag(&tp(0));
        rig.drain();
    }
}

#[test]
fn offsets_for_times_out_exactly_at_the_api_timeout() {
    let mut rig = Rig::new(*ApiKey::Fetch.versions().end(), |c| {
        c.api_timeout = Duration::from_secs(2);
    });
    let start = rig.now;
    let id = rig
        .client
        .consumer()
        .offsets_for(
            start,
            [TopicPartition::new("nope", 0)],
            kafka_state::consumer::OffsetSpec::Latest,
        )
        .unwrap();
    let done = |rig: &Rig| {
        rig.events.iter().find_map(|e| match e {
            Event::Consumer(ConsumerEvent::OffsetsListed { id: got, offsets }) if *got == id => {
                Some(offsets.clone())
            }
            _ => None,
        })
    };
    for _ in 0..1_000 {
        // The unknown topic keeps metadata refreshing; answer each.
        while rig.pending(ApiKey::Metadata) > 0 {
            let (h, _) = rig.take(ApiKey::Metadata);
            rig.reply(&h, metadata());
        }
        if done(&rig).is_some() {
            break;
        }
        let next = rig.client.poll_timeout().expect("a deadline is pending");
        assert!(next > rig.now, "a timer in the past would spin");
        rig.now = next;
        let now = rig.now;
        rig.client.handle_timeout(now);
        rig.drain();
    }
    let offsets = done(&rig).expect("answered");
    assert_eq!(rig.now, start + Duration::from_secs(2), "fired when due");
    assert!(matches!(
        offsets[&TopicPartition::new("nope", 0)],
        Err(kafka_state::consumer::LookupError::Timeout(_))
    ));
}

fn batch_in_epoch(base: i64, n: usize, leader_epoch: i32) -> Bytes {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            offset: base + i as i64,
            timestamp: 1,
            value: Some(Bytes::from_static(b"v")),
            ..Record::default()
        })
        .collect();
    let options = BatchOptions {
        base_offset: base,
        partition_leader_epoch: leader_epoch,
        ..BatchOptions::default()
    };
    encode(records.iter(), &options).unwrap()
}

#[test]
fn consumed_offsets_follow_stored_records_not_the_fetch_position() {
    let mut rig = Rig::new(*ApiKey::Fetch.versions().end(), |_| {});
    rig.assign_at_zero(2);
    let (h, _) = rig.take_fetch();
    rig.reply(
        &h,
        fetch_response(&h, vec![part(0, batch_in_epoch(0, 3, 5), 3)]),
    );
    let now = rig.now;
    let fetched = rig.client.consumer().poll_records(now).unwrap();
    // Taking the records moved the position past all three, but the
    // application has processed none of them: nothing to commit yet.
    assert_eq!(rig.client.consumer().position(&tp(0)), Some(3));
    assert_eq!(rig.client.consumer().consumed(&tp(0)), None);
    assert!(rig.client.consumer().consumed_offsets().is_empty());
    let records: Vec<ConsumerRecord> = fetched.iter().map(Result::unwrap).collect();
    // Processing the record at offset 1 means offset 2 is the next one
    // not processed: that, not 1, is what a commit must carry.
    rig.client.consumer().store_record(&records[1]).unwrap();
    assert_eq!(
        rig.client.consumer().consumed(&tp(0)),
        Some(ConsumedOffset::new(2, Some(5)))
    );
    // A manual store takes the already-incremented offset as given, even
    // a lower one (an application that rewinds commits the rewind).
    rig.client
        .consumer()
        .store_offset(&tp(0), 1, Some(4))
        .unwrap();
    assert_eq!(
        rig.client.consumer().consumed_offsets(),
        [(tp(0), ConsumedOffset::new(1, Some(4)))].into()
    );
    // Caller mistakes are refused and change nothing.
    assert_eq!(
        rig.client.consumer().store_offset(&tp(0), -1, None),
        Err(Misuse::InvalidOffset(-1))
    );
    let elsewhere = TopicPartition::new("other", 0);
    assert_eq!(
        rig.client.consumer().store_offset(&elsewhere, 5, None),
        Err(Misuse::NotAssigned(elsewhere))
    );
    assert_eq!(
        rig.client.consumer().consumed(&tp(0)),
        Some(ConsumedOffset::new(1, Some(4)))
    );
    // A seek moves the position only; the consumed offset follows once a
    // record at the new position is stored.
    rig.client
        .consumer()
        .seek(now, &tp(0), SeekTo::Offset(100))
        .unwrap();
    assert_eq!(rig.client.consumer().position(&tp(0)), Some(100));
    assert_eq!(
        rig.client.consumer().consumed(&tp(0)),
        Some(ConsumedOffset::new(1, Some(4)))
    );
    rig.client.consumer().store_record(&records[2]).unwrap();
    assert_eq!(
        rig.client.consumer().consumed(&tp(0)),
        Some(ConsumedOffset::new(3, Some(5)))
    );
    // Leaving the assignment forgets it: a record of a partition no longer
    // owned cannot be stored, and coming back starts with nothing stored.
    rig.client.consumer().assign(now, [tp(1)]).unwrap();
    assert_eq!(
        rig.client.consumer().store_record(&records[0]),
        Err(Misuse::NotAssigned(tp(0)))
    );
    rig.client.consumer().assign(now, [tp(0), tp(1)]).unwrap();
    assert_eq!(rig.client.consumer().consumed(&tp(0)), None);
}

fn assignment_events(rig: &mut Rig) -> Vec<ConsumerEvent> {
    rig.drain();
    rig.events
        .drain(..)
        .filter_map(|e| match e {
            Event::Consumer(
                e @ (ConsumerEvent::PartitionsAssigned { .. }
                | ConsumerEvent::PartitionsRevoked { .. }
                | ConsumerEvent::PartitionsLost { .. }),
            ) => Some(e),
            _ => None,
        })
        .collect()
}

#[test]
fn revoked_partitions_are_reported_and_their_records_never_handed_out() {
    let mut rig = Rig::new(*ApiKey::Fetch.versions().end(), |_| {});
    rig.assign_at_zero(2);
    assert_eq!(
        assignment_events(&mut rig),
        [ConsumerEvent::PartitionsAssigned {
            partitions: vec![tp(0), tp(1)]
        }]
    );
    let (h, _) = rig.take_fetch();
    rig.reply(
        &h,
        fetch_response(
            &h,
            vec![
                part(0, batch_in_epoch(0, 2, 1), 2),
                part(1, batch(0, 2, 1), 2),
            ],
        ),
    );
    // The application takes p0's records and processes the first one.
    let now = rig.now;
    let p0 = rig.client.consumer().poll_records(now).expect("buffered");
    assert_eq!(p0.partition(), &tp(0), "buffered in arrival order");
    let first = p0.iter().next().unwrap().unwrap();
    rig.client.consumer().store_record(&first).unwrap();
    while rig.pending(ApiKey::Metadata) > 0 {
        let (mh, _) = rig.take(ApiKey::Metadata);
        rig.reply(&mh, metadata());
    }
    // More of p0 arrives and waits in the buffer next to p1's records.
    let (h, req) = rig.take_fetch();
    assert_eq!(fetched(&req), [(0, 2, 1 << 20)]);
    rig.reply(&h, fetch_response(&h, vec![part(0, batch(2, 2, 1), 4)]));
    rig.client.consumer().assign(now, [tp(1)]).unwrap();
    assert_eq!(
        assignment_events(&mut rig),
        [ConsumerEvent::PartitionsRevoked {
            partitions: vec![tp(0)],
            consumed: [(tp(0), ConsumedOffset::new(1, Some(1)))].into(),
        }]
    );
    // p0's buffered records are gone with it; p1's are untouched.
    assert_eq!(rig.records(), [(1, 0), (1, 1)]);
    // A fetch of p1 is in flight when p1 is revoked and assigned again:
    // its answer belongs to the old ownership and is dropped.
    let (h, req) = rig.take_fetch();
    assert_eq!(fetched(&req), [(1, 2, 1 << 20)]);
    rig.client.consumer().unassign(now).unwrap();
    assert_eq!(
        assignment_events(&mut rig),
        [ConsumerEvent::PartitionsRevoked {
            partitions: vec![tp(1)],
            consumed: Default::default(),
        }]
    );
    rig.client.consumer().assign(now, [tp(1)]).unwrap();
    assert_eq!(
        assignment_events(&mut rig),
        [ConsumerEvent::PartitionsAssigned {
            partitions: vec![tp(1)]
        }]
    );
    rig.reply(&h, fetch_response(&h, vec![part(1, batch(2, 3, 1), 5)]));
    assert_eq!(rig.records(), [], "a record fetched before the revoke");
    assert_eq!(rig.client.consumer().consumed(&tp(0)), None);
}

#[test]
fn records_that_fail_to_decode_late_are_handed_back_at_the_bad_record() {
    let mut rig = Rig::new(*ApiKey::Fetch.versions().end(), |c| {
        c.consumer.max_decompressed_size = 4096;
    });
    rig.assign_at_zero(2);
    // Only p0 matters here; the fetch naming both is already out.
    let now = rig.now;
    rig.client.consumer().assign(now, [tp(0)]).unwrap();
    let (h, _) = rig.take_fetch();
    // Offsets 0-1 plain, 2-51 compressed past the decompression bound
    // (the CRC is fine: only iterating finds out), 52 plain.
    let big: Vec<Record> = (0..50)
        .map(|i| Record {
            offset: 2 + i,
            value: Some(Bytes::from(vec![b'z'; 1000])),
            ..Record::default()
        })
        .collect();
    let lz4 = BatchOptions {
        base_offset: 2,
        compression: kafka_proto::record::Compression::Lz4,
        ..BatchOptions::default()
    };
    let data: Bytes = [
        batch(0, 2, 1),
        encode(big.iter(), &lz4).unwrap(),
        batch(52, 1, 1),
    ]
    .concat()
    .into();
    rig.reply(&h, fetch_response(&h, vec![part(0, data, 53)]));
    let fetched = rig.client.consumer().poll_records(now).expect("buffered");
    rig.drain();
    // Taking them moved the position past all, and the next fetch left.
    assert_eq!(rig.client.consumer().position(&tp(0)), Some(53));
    let (h, req) = rig.take_fetch();
    assert_eq!(fetched_parts(&req), [(0, 53)]);
    let mut it = fetched.iter();
    let good: Vec<i64> = it
        .by_ref()
        .map_while(Result::ok)
        .map(|r| r.offset)
        .collect();
    assert_eq!(good, [0, 1], "the good records come before the error");
    assert_eq!(it.resume_offset(), 2, "where decoding failed");
    let error = fetched
        .iter()
        .find_map(Result::err)
        .expect("the iteration failed");
    // An offset outside the records is refused.
    assert!(matches!(
        rig.client
            .consumer()
            .report_corrupt(now, &fetched, 60, error.clone()),
        Err(Misuse::OffsetOutsideRecords { offset: 60, .. })
    ));
    rig.client
        .consumer()
        .report_corrupt(now, &fetched, it.resume_offset(), error)
        .unwrap();
    rig.drain();
    // The position is back at the bad record, the failure names it, and
    // the partition waits for a seek.
    assert_eq!(rig.client.consumer().position(&tp(0)), Some(2));
    assert!(rig.events.iter().any(|e| matches!(
        e,
        Event::Consumer(ConsumerEvent::PartitionFailed {
            partition,
            offset: 2,
            error: FetchError::Corrupt(_),
        }) if *partition == tp(0)
    )));
    // What the fetch in flight brings from past the bad record is dropped.
    rig.reply(&h, fetch_response(&h, vec![part(0, batch(53, 2, 1), 55)]));
    assert_eq!(rig.records(), []);
    assert_eq!(
        rig.pending(ApiKey::Fetch),
        0,
        "a stopped partition is not fetched"
    );
    // Seeking past the damage resumes; a late second report about the old
    // records is then ignored.
    rig.client
        .consumer()
        .seek(now, &tp(0), SeekTo::Offset(52))
        .unwrap();
    let stale = fetched.iter().find_map(Result::err).unwrap();
    rig.client
        .consumer()
        .report_corrupt(now, &fetched, 2, stale)
        .unwrap();
    assert_eq!(rig.client.consumer().position(&tp(0)), Some(52));
    let (_, req) = rig.take_fetch();
    assert_eq!(fetched_parts(&req), [(0, 52)]);
}

fn fetched_parts(req: &FetchRequest) -> Vec<(i32, i64)> {
    fetched(req).into_iter().map(|(p, o, _)| (p, o)).collect()
}
