//! Unit tests of the producer's state machine, driven through a context
//! the way the client drives it.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_proto::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_proto::messages::produce_response::PartitionProduceResponse;
use kafka_proto::messages::produce_response::TopicProduceResponse;
use kafka_proto::messages::{MetadataResponse, ProduceResponse};
use kafka_proto::{ErrorCode, ResponseBody};

use super::accumulator::{Held, Rec, Recs, Spare};
use super::config::{Acks, PartitionerChoice, ProducerConfig};
use super::partitioner::partition_for_key;
use super::sender::next_sequence;
use super::state::ProducerState;
use super::{DeliveryId, Partitioner, ProduceError, ProducerRecord, SendError, RECORD_OVERHEAD};
use crate::error::RequestError;
use crate::machine::Ctx;
use crate::metadata::{ClusterMetadata, MetadataState};
use crate::router::{Inbound, Outbound, RequestQueue, Target};
use crate::Event;

const MS: fn(u64) -> Duration = Duration::from_millis;

#[allow(clippy::disallowed_methods)] // a test needs some Instant to start from
fn t0() -> Instant {
    Instant::now()
}

/// Metadata with topic `t` of `n` partitions, partition `p` led by node `p % 2`.
fn metadata(now: Instant, n: i32) -> MetadataState {
    let mut m = MetadataState::new(now, Duration::from_secs(300), MS(100));
    m.cache = ClusterMetadata::from_response(&metadata_response(n));
    m
}

/// The answer `metadata` is built from.
fn metadata_response(n: i32) -> MetadataResponse {
    MetadataResponse::default()
        .with_brokers(
            (0..2)
                .map(|b| {
                    MetadataResponseBroker::default()
                        .with_node_id(b)
                        .with_host("h".into())
                        .with_port(9092 + b)
                })
                .collect(),
        )
        .with_topics(vec![MetadataResponseTopic::default()
            .with_name(Some("t".into()))
            .with_partitions(
                (0..n)
                    .map(|p| {
                        MetadataResponsePartition::default()
                            .with_partition_index(p)
                            .with_leader_id(p % 2)
                    })
                    .collect(),
            )])
}

fn config(f: impl FnOnce(&mut ProducerConfig)) -> ProducerConfig {
    let mut c = ProducerConfig {
        enable_idempotence: false,
        ..ProducerConfig::default()
    };
    f(&mut c);
    c.validate(Duration::from_secs(30)).unwrap();
    c
}

/// A context over a fixture's fields, borrowed apart from its producer.
macro_rules! ctx {
    ($f:ident) => {
        Ctx::new(
            $f.now,
            MS(60_000),
            &mut $f.m,
            &mut $f.q,
            &mut $f.events,
            &$f.ready,
            &mut $f.wanted,
        )
    };
}

struct Fixture {
    p: ProducerState,
    m: MetadataState,
    q: RequestQueue,
    events: VecDeque<Event>,
    now: Instant,
    /// Both brokers of `metadata` have a ready connection.
    ready: fn(i32) -> bool,
    wanted: BTreeSet<i32>,
}

impl Fixture {
    fn new(partitions: i32, f: impl FnOnce(&mut ProducerConfig)) -> Self {
        let now = t0();
        Self {
            p: ProducerState::new(config(f), Duration::from_secs(30), 7),
            m: metadata(now, partitions),
            q: RequestQueue::default(),
            events: VecDeque::new(),
            now,
            ready: |node| node == 0 || node == 1,
            wanted: BTreeSet::new(),
        }
    }

    fn send(&mut self, r: ProducerRecord) -> Result<DeliveryId, SendError> {
        self.p
            .send(self.now, r, &mut self.m, &mut self.events)
            .map(|(id, _)| id)
    }

    fn value(&mut self, len: usize) -> DeliveryId {
        self.send(
            ProducerRecord::new("t")
                .with_partition(0)
                .with_value(vec![0u8; len]),
        )
        .unwrap()
    }

    /// Leaders with something to send now.
    fn wanted(&mut self) -> BTreeSet<i32> {
        self.p.prepare(&mut ctx!(self))
    }

    /// Drains to every wanted leader; returns the requests built.
    fn drain(&mut self) -> Vec<Outbound> {
        let ready = self.wanted();
        self.p.drain(&mut ctx!(self), &ready);
        self.q.queue.drain(..).collect()
    }

    fn partitions_with_batches(&self) -> Vec<i32> {
        self.p.topics["t"]
            .partitions
            .iter()
            .filter(|(_, ps)| !ps.batches.is_empty())
            .map(|(p, _)| p)
            .collect()
    }

    /// Answers a Produce request: every partition written at `base`.
    fn answer(&mut self, req: &Outbound, base: i64) {
        self.reply(req, |p| {
            p.with_base_offset(base).with_log_append_time_ms(-1)
        });
    }

    /// Answers every partition of a Produce request with `code`.
    fn refuse(&mut self, req: &Outbound, code: ErrorCode) {
        self.reply(req, |p| p.with_error_code(code.code()).with_base_offset(-1));
    }

    /// Answers every partition of a Produce request as `fill` says.
    fn reply(
        &mut self,
        req: &Outbound,
        fill: impl Fn(PartitionProduceResponse) -> PartitionProduceResponse,
    ) {
        let RequestBody::Produce(body) = &req.body else {
            panic!("not a produce request")
        };
        let resp = ProduceResponse::default().with_responses(
            body.topic_data
                .iter()
                .map(|t| {
                    TopicProduceResponse::default()
                        .with_name(t.name.clone())
                        .with_partition_responses(
                            t.partition_data
                                .iter()
                                .map(|p| {
                                    fill(PartitionProduceResponse::default().with_index(p.index))
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
        let inbound = Inbound {
            id: req.id,
            result: Ok(ResponseBody::Produce(resp)),
        };
        self.p.handle_response(&mut ctx!(self), inbound);
    }
}

use kafka_proto::RequestBody;

#[test]
fn a_batch_waits_for_linger_and_the_timer_says_when() {
    let mut f = Fixture::new(1, |c| c.linger = MS(20));
    f.value(10);
    assert!(f.wanted().is_empty(), "not lingered yet");
    assert_eq!(f.p.poll_timeout(), Some(f.now + MS(20)));
    f.now += MS(19);
    assert!(f.wanted().is_empty());
    f.now += MS(1);
    assert_eq!(f.wanted(), BTreeSet::from([0]));
    let reqs = f.drain();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].target, Target::Producer(0));
}

#[test]
fn a_passed_deadline_is_still_reported_until_acted_on() {
    let mut f = Fixture::new(1, |c| c.linger = MS(20));
    let start = f.now;
    f.value(10);
    assert!(f.wanted().is_empty(), "not lingered yet");
    // Time runs past the linger with no pump: the deadline stays
    // reported, so a driver wakes at once instead of never.
    f.now += MS(500);
    assert_eq!(f.p.poll_timeout(), Some(start + MS(20)));
    assert_eq!(f.drain().len(), 1);
    // Sent: the linger deadline is gone; what remains is the delivery
    // timeout of the batch in flight, which is not reported.
    assert!(f.p.poll_timeout().is_none_or(|t| t > f.now));
}

#[test]
fn a_retry_backoff_that_ended_is_not_reported_forever() {
    let mut f = Fixture::new(1, |c| c.linger = Duration::ZERO);
    f.value(10);
    let reqs = f.drain();
    assert_eq!(reqs.len(), 1);
    let inbound = Inbound {
        id: reqs[0].id,
        result: Err(RequestError::Timeout),
    };
    f.p.handle_response(&mut ctx!(f), inbound);
    let retry = f.p.poll_timeout().expect("a retry is scheduled");
    f.now = retry;
    assert_eq!(f.drain().len(), 1, "resent once the backoff ended");
    assert!(
        f.p.poll_timeout().is_none_or(|t| t > f.now),
        "the ended backoff is no longer a deadline"
    );
}

#[test]
fn a_full_batch_goes_without_waiting_for_linger() {
    let mut f = Fixture::new(1, |c| {
        c.linger = Duration::from_secs(10);
        c.batch_size = 1024;
    });
    for _ in 0..3 {
        f.value(250);
    }
    assert!(f.wanted().is_empty(), "three records fit one batch");
    f.value(250);
    // The fourth did not fit: the first batch is closed and ready.
    let ps = &f.p.topics["t"].partitions.get(0).unwrap();
    assert_eq!(ps.batches.len(), 2);
    assert_eq!(ps.batches[0].records.len(), 3);
    let reqs = f.drain();
    assert_eq!(reqs.len(), 1);
    let RequestBody::Produce(body) = &reqs[0].body else {
        panic!()
    };
    let bytes = body.topic_data[0].partition_data[0]
        .records
        .clone()
        .unwrap();
    let batch = kafka_proto::record::Batches::new(bytes)
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(batch.header().record_count, 3);
    // The open batch still lingers.
    assert!(f.drain().is_empty());
}

#[test]
fn buffer_memory_bounds_what_is_held_and_gives_records_back() {
    let mut f = Fixture::new(1, |c| {
        c.buffer_memory = 2048;
        c.batch_size = 1024;
        c.max_request_size = 1024;
    });
    let mut ids = Vec::new();
    let rejected = loop {
        let r = ProducerRecord::new("t").with_value(vec![1u8; 400]);
        match f.send(r.clone()) {
            Ok(id) => ids.push(id),
            Err(SendError::BufferFull(back)) => {
                assert_eq!(*back, r);
                break *back;
            }
            Err(e) => panic!("{e}"),
        }
    };
    // Each 400-byte value costs its encoded size and the bookkeeping.
    assert_eq!(
        ids.len(),
        2048 / (rejected.estimated_size() + RECORD_OVERHEAD)
    );
    assert!(f.p.buffered_bytes() <= 2048);
    f.now += MS(10);
    let reqs = f.drain();
    assert!(!reqs.is_empty());
    assert!(!f.events.contains(&Event::BufferAvailable));
    f.answer(&reqs[0], 0);
    assert!(f.events.contains(&Event::BufferAvailable));
    assert!(f.send(rejected).is_ok());
}

#[test]
fn invalid_records_are_refused_and_given_back() {
    let mut f = Fixture::new(1, |c| c.max_request_size = 1024);
    let cases = [
        ProducerRecord::new(""),
        ProducerRecord::new("a b"),
        ProducerRecord::new("t").with_partition(-1),
        ProducerRecord::new("t").with_value(vec![0u8; 2000]),
        ProducerRecord::new("t").with_header("h", Some(vec![0u8; 2000].into())),
    ];
    for r in cases {
        match f.send(r.clone()) {
            Err(e @ SendError::Invalid { .. }) => assert_eq!(e.into_record(), r),
            other => panic!("{r:?}: {other:?}"),
        }
    }
    assert_eq!(f.p.pending_records(), 0);
    assert_eq!(f.p.buffered_bytes(), 0);
}

#[test]
fn a_partition_the_topic_lacks_fails_the_record() {
    let mut f = Fixture::new(2, |_| {});
    let id = f.send(ProducerRecord::new("t").with_partition(5)).unwrap();
    assert_eq!(
        f.events.pop_front(),
        Some(Event::DeliveryFailed {
            id,
            error: ProduceError::InvalidPartition {
                partition: 5,
                partitions: 2
            }
        })
    );
    assert_eq!(f.p.pending_records(), 0);
}

#[test]
fn a_record_after_a_metadata_change_sees_the_topic_as_it_is_now() {
    let mut f = Fixture::new(2, |_| {});
    f.send(ProducerRecord::new("t").with_partition(1)).unwrap();
    assert!(f.events.is_empty());
    // The topic grows to four partitions (CreatePartitions): a record
    // for a new one is placed, not failed on the count seen before.
    assert!(f.m.cache.apply(&metadata_response(4), false).unwrap());
    f.send(ProducerRecord::new("t").with_partition(3)).unwrap();
    assert!(f.events.is_empty(), "{:?}", f.events);
    assert!(f.p.topics["t"].partitions.get(3).is_some());
    // The topic becomes unknown: records wait instead of going to the
    // partitions last seen.
    let gone = MetadataResponse::default().with_topics(vec![MetadataResponseTopic::default()
        .with_name(Some("t".into()))
        .with_error_code(ErrorCode::UnknownTopicOrPartition.code())]);
    assert!(f.m.cache.apply(&gone, false).unwrap());
    f.send(ProducerRecord::new("t").with_partition(0)).unwrap();
    assert_eq!(f.p.topics["t"].waiting.len(), 1);
    assert!(f.p.topics["t"].partitions.get(0).is_none());
}

#[test]
fn keyed_records_follow_murmur2() {
    let mut f = Fixture::new(6, |_| {});
    for k in 0..30 {
        let key = format!("key-{k}");
        f.send(ProducerRecord::new("t").with_key(key.clone()))
            .unwrap();
        let want = partition_for_key(key.as_bytes(), 6);
        let ps = &f.p.topics["t"].partitions.get(want).unwrap();
        let Held::Records(r) = &ps.batches.back().unwrap().records else {
            panic!("the batch is not encoded yet");
        };
        let last = r.iter().last().unwrap();
        assert_eq!(last.key.as_deref(), Some(key.as_bytes()));
    }
}

#[test]
fn sticky_partitioner_stays_until_the_batch_leaves_then_moves() {
    let mut f = Fixture::new(4, |c| c.linger = MS(5));
    for _ in 0..10 {
        f.send(ProducerRecord::new("t").with_value("v")).unwrap();
    }
    let first = f.partitions_with_batches();
    assert_eq!(first.len(), 1, "unkeyed records stick to one partition");
    f.now += MS(5);
    assert!(!f.drain().is_empty());
    // The batch left: the next record moves to another partition.
    f.send(ProducerRecord::new("t").with_value("v")).unwrap();
    let sticky = f.p.topics["t"].sticky.unwrap();
    assert_ne!(sticky, first[0]);
    for _ in 0..5 {
        f.send(ProducerRecord::new("t").with_value("v")).unwrap();
    }
    assert_eq!(
        f.p.topics["t"]
            .partitions
            .get(sticky)
            .unwrap()
            .batches
            .len(),
        1
    );
    assert_eq!(
        f.p.topics["t"].partitions.get(sticky).unwrap().batches[0]
            .records
            .len(),
        6
    );
}

#[test]
fn sticky_partitioner_skips_partitions_without_a_leader() {
    let mut f = Fixture::new(4, |c| c.linger = MS(1));
    // Partitions 1 and 3 lose their leader.
    let resp = MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(0)
            .with_host("h".into())
            .with_port(9092)])
        .with_topics(vec![MetadataResponseTopic::default()
            .with_name(Some("t".into()))
            .with_partitions(
                (0..4)
                    .map(|p| {
                        MetadataResponsePartition::default()
                            .with_partition_index(p)
                            .with_leader_id(if p % 2 == 0 { 0 } else { -1 })
                    })
                    .collect(),
            )]);
    f.m.cache = ClusterMetadata::from_response(&resp);
    let mut chosen = BTreeSet::new();
    for _ in 0..40 {
        f.send(ProducerRecord::new("t").with_value("v")).unwrap();
        chosen.insert(f.p.topics["t"].sticky.unwrap());
        f.now += MS(1);
        f.drain();
    }
    assert_eq!(
        chosen,
        BTreeSet::from([0, 2]),
        "only partitions with a leader"
    );
}

struct Last;

impl Partitioner for Last {
    fn partition(&self, _: &str, _: Option<&[u8]>, _: Option<&[u8]>, n: i32, _: &[i32]) -> i32 {
        n - 1
    }
}

#[test]
fn a_custom_partitioner_decides() {
    let mut f = Fixture::new(3, |c| {
        c.partitioner = PartitionerChoice::Custom(Arc::new(Last))
    });
    f.send(ProducerRecord::new("t").with_key("k")).unwrap();
    f.send(ProducerRecord::new("t")).unwrap();
    assert_eq!(f.partitions_with_batches(), vec![2]);
}

/// A full buffer will not empty by waiting: the batches holding it go
/// at once instead of lingering.
#[test]
fn a_full_buffer_sends_its_batches_without_lingering() {
    let mut f = Fixture::new(1, |c| {
        c.buffer_memory = 4096;
        c.linger = Duration::from_secs(60);
    });
    loop {
        match f.send(ProducerRecord::new("t").with_value(vec![1u8; 100])) {
            Ok(_) => assert!(f.drain().is_empty(), "lingers while there is room"),
            Err(SendError::BufferFull(_)) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(f.p.poll_timeout().is_some_and(|t| t <= f.now));
    let reqs = f.drain();
    assert_eq!(reqs.len(), 1, "the open batch goes now");
    f.answer(&reqs[0], 0);
    assert!(f.events.contains(&Event::BufferAvailable));
    // With room again, records linger as before.
    f.send(ProducerRecord::new("t").with_value(vec![1u8; 100]))
        .unwrap();
    assert!(f.drain().is_empty());
}

/// Thousands of records sent before the topic's metadata wait in order,
/// and the queue they waited in is given back once they are placed.
#[test]
fn a_long_wait_for_metadata_keeps_order_and_frees_its_queue() {
    let mut f = Fixture::new(1, |_| {});
    f.m.cache = ClusterMetadata::default();
    let ids: Vec<DeliveryId> = (0..3000)
        .map(|_| f.send(ProducerRecord::new("t").with_partition(0)).unwrap())
        .collect();
    assert_eq!(f.p.topics["t"].waiting.len(), 3000);
    assert!(f.p.topics["t"].waiting.chunks() >= 3000 / 256);
    f.m = metadata(f.now, 1);
    f.wanted();
    let t = &f.p.topics["t"];
    assert_eq!((t.waiting.len(), t.waiting.chunks()), (0, 0));
    let placed: Vec<DeliveryId> = t
        .partitions
        .get(0)
        .unwrap()
        .batches
        .iter()
        .flat_map(|b| b.records.ids())
        .collect();
    assert_eq!(placed, ids);
}

#[test]
fn records_wait_for_metadata_in_send_order() {
    let mut f = Fixture::new(1, |_| {});
    f.m.cache = ClusterMetadata::default();
    let a = f.send(ProducerRecord::new("t").with_partition(0)).unwrap();
    let b = f.send(ProducerRecord::new("t").with_partition(0)).unwrap();
    assert_eq!(f.p.topics["t"].waiting.len(), 2);
    f.m = metadata(f.now, 1);
    f.wanted();
    let ps = &f.p.topics["t"].partitions.get(0).unwrap();
    let ids: Vec<DeliveryId> = ps.batches[0].records.ids().collect();
    assert_eq!(ids, vec![a, b]);
}

#[test]
fn config_validation() {
    let t = Duration::from_secs(30);
    let ok = ProducerConfig::default();
    assert!(ok.validate(t).is_ok());
    let bad = [
        ProducerConfig {
            acks: Acks::Leader,
            ..ProducerConfig::default()
        },
        ProducerConfig {
            max_in_flight: 6,
            ..ProducerConfig::default()
        },
        ProducerConfig {
            max_in_flight: 0,
            enable_idempotence: false,
            ..ProducerConfig::default()
        },
        ProducerConfig {
            delivery_timeout: Duration::from_secs(10),
            ..ProducerConfig::default()
        },
        ProducerConfig {
            batch_size: 0,
            ..ProducerConfig::default()
        },
    ];
    for c in bad {
        assert!(c.validate(t).is_err(), "{c:?}");
    }
    let acks1 = ProducerConfig {
        acks: Acks::Leader,
        enable_idempotence: false,
        max_in_flight: 10,
        ..ProducerConfig::default()
    };
    assert!(acks1.validate(t).is_ok());
}

#[test]
fn sequences_wrap() {
    assert_eq!(next_sequence(0, 5), 5);
    assert_eq!(next_sequence(i32::MAX, 1), 0);
    assert_eq!(next_sequence(i32::MAX - 1, 3), 1);
}

#[test]
fn batch_records_keep_their_order_across_chunks() {
    let rec = |n: u64| Rec {
        id: DeliveryId(n),
        key: None,
        value: None,
        headers: Vec::new(),
        timestamp: 0,
        size: 1,
    };
    let mut r = Recs::default();
    let mut spare = Spare::default();
    for n in 0..1000 {
        r.push(rec(n), &mut spare);
    }
    assert_eq!(r.len(), 1000);
    assert!(r.chunks.len() > 1 && r.chunks.iter().all(|c| c.len() <= Recs::CHUNK));
    // Chunks double up to full size: a batch of a few records holds room
    // for a few, not for a full chunk.
    let capacities: Vec<usize> = r.chunks.iter().map(Vec::capacity).collect();
    assert_eq!(capacities[..5], [16, 32, 64, 128, Recs::CHUNK]);
    assert!(capacities[5..].iter().all(|c| *c == Recs::CHUNK));
    assert!(r.iter().map(|x| x.id.0).eq(0..1000));
    let v = r.into_vec();
    assert!(v.iter().map(|x| x.id.0).eq(0..1000));
    let r = Recs::from_vec(v);
    assert_eq!(r.len(), 1000);
    assert!(r.into_iter().map(|x| x.id.0).eq(0..1000));
}

/// Counts the records of every batch in a Produce request, by partition.
fn records_per_partition(req: &Outbound) -> Vec<(i32, usize)> {
    let RequestBody::Produce(body) = &req.body else {
        panic!("not a produce request")
    };
    let mut out = Vec::new();
    for t in &body.topic_data {
        for p in &t.partition_data {
            let mut bytes = p.records.clone().unwrap();
            let mut n = 0;
            while !bytes.is_empty() {
                let options = kafka_proto::record::DecodeOptions::default();
                let batch = kafka_proto::record::RecordBatch::decode(&mut bytes, &options).unwrap();
                n += batch.records().unwrap().count();
            }
            out.push((p.index, n));
        }
    }
    out
}

/// A batch encoded for a request it did not fit in takes no more records:
/// the bytes kept for it must be the records it reports as written.
#[test]
fn a_batch_encoded_but_left_out_of_a_full_request_takes_no_more_records() {
    // Partitions 0 and 2 are led by node 0; one batch of ~600 bytes fits
    // a request, two do not.
    let mut f = Fixture::new(4, |c| {
        c.max_request_size = 1000;
        c.batch_size = 1000;
        c.linger = Duration::from_secs(60);
    });
    for p in [0, 2] {
        f.send(
            ProducerRecord::new("t")
                .with_partition(p)
                .with_value(vec![p as u8; 500]),
        )
        .unwrap();
    }
    f.p.flushing = true;
    let first = f.drain();
    assert_eq!(first.len(), 1);
    assert_eq!(records_per_partition(&first[0]).len(), 1, "one batch fits");
    let left = if records_per_partition(&first[0])[0].0 == 0 {
        2
    } else {
        0
    };
    // A record for the partition whose batch was left out.
    f.send(
        ProducerRecord::new("t")
            .with_partition(left)
            .with_value(vec![9u8; 10]),
    )
    .unwrap();
    f.answer(&first[0], 0);
    f.events.clear();
    let mut written = 0;
    for _ in 0..3 {
        for req in f.drain() {
            written += records_per_partition(&req)
                .iter()
                .map(|(_, n)| n)
                .sum::<usize>();
            f.answer(&req, 0);
        }
    }
    let reported = f.events.iter().flat_map(Event::outcomes).count();
    assert_eq!(reported, 2, "both records of partition {left} are answered");
    assert_eq!(written, reported, "every record reported was in a request");
}

/// A written batch's record chunks and encode buffer serve the next
/// batches instead of being freed and allocated again.
#[test]
fn a_written_batchs_memory_serves_the_next_batch() {
    let mut f = Fixture::new(1, |c| c.linger = Duration::from_secs(60));
    let chunks = 3;
    let n = 16 + chunks * Recs::CHUNK;
    for _ in 0..n {
        f.value(10);
    }
    f.p.flushing = true;
    let reqs = f.drain();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        f.p.spare.held(),
        (chunks, 0),
        "encoding let the records go and kept their full-size chunks"
    );
    // The client drops a request's body once it is encoded into a frame;
    // only the batch then holds its bytes.
    let mut req = reqs.into_iter().next().unwrap();
    if let RequestBody::Produce(body) = &mut req.body {
        for p in body
            .topic_data
            .iter_mut()
            .flat_map(|t| &mut t.partition_data)
        {
            p.records = None;
        }
    }
    f.answer(&req, 0);
    assert_eq!(f.events.iter().flat_map(Event::outcomes).count(), n);
    assert_eq!(
        f.p.spare.held(),
        (chunks, 1),
        "the full-size chunks and the sent batch's buffer are kept"
    );
    // The next batch takes them back: one chunk per 256 records past the
    // first 16, and the buffer when it is encoded.
    for _ in 0..16 + Recs::CHUNK {
        f.value(10);
    }
    assert_eq!(f.p.spare.held(), (chunks - 1, 1));
    f.p.flushing = true;
    let reqs = f.drain();
    // Encoding took the buffer and gave the chunk back.
    assert_eq!(f.p.spare.held(), (chunks, 0));
    assert_eq!(records_per_partition(&reqs[0]), vec![(0, 16 + Recs::CHUNK)]);
}

/// A batch that has lingered but cannot go yet (its partition has as many
/// batches in flight as allowed) keeps taking records, and its deadline is
/// not reported again (the driver would spin on it): the answer that frees
/// the partition sends it, with everything that came meanwhile. Closing
/// it at linger left those records to one small batch after another, and
/// a request carries one batch per partition.
#[test]
fn a_lingered_batch_waiting_for_room_keeps_taking_records() {
    let mut f = Fixture::new(1, |c| {
        c.linger = MS(5);
        c.max_in_flight = 1;
    });
    f.value(10);
    f.now += MS(5);
    let first = f.drain();
    assert_eq!(first.len(), 1);
    // The next batch opens, lingers, and has no room to go.
    f.value(10);
    f.now += MS(5);
    assert!(f.drain().is_empty(), "one batch in flight per partition");
    let deadline = f.p.poll_timeout().unwrap();
    assert!(
        deadline > f.now + MS(1_000),
        "the lingered batch is not due again"
    );
    for _ in 0..3 {
        f.now += MS(10);
        f.value(10);
        assert_eq!(f.partitions_with_batches(), [0]);
    }
    assert_eq!(f.p.topics["t"].partitions.get(0).unwrap().batches.len(), 2);
    f.answer(&first[0], 0);
    let second = f.drain();
    assert_eq!(second.len(), 1);
    assert_eq!(
        records_per_partition(&second[0]),
        [(0, 4)],
        "one batch of four"
    );
}

/// A batch times out with its first record, so it takes records for a
/// bounded time only: none is reported timed out more than a hundredth of
/// the delivery timeout (or the linger, if longer) before its deadline.
#[test]
fn a_batch_takes_records_for_a_bounded_time_only() {
    let mut f = Fixture::new(1, |c| {
        c.linger = MS(5);
        c.max_in_flight = 1;
        c.delivery_timeout = Duration::from_secs(60);
    });
    f.value(10);
    f.now += MS(5);
    let first = f.drain();
    assert_eq!(first.len(), 1);
    let opened = f.now;
    f.value(10);
    f.now = opened + MS(600);
    f.value(10);
    assert_eq!(
        f.p.topics["t"].partitions.get(0).unwrap().batches.len(),
        2,
        "joined at 600 ms"
    );
    f.now = opened + MS(601);
    f.value(10);
    let ps = &f.p.topics["t"].partitions.get(0).unwrap();
    assert_eq!(ps.batches.len(), 3, "a new batch after 600 ms");
    assert_eq!(ps.batches[1].records.len(), 2);
    assert!(!ps.batches[1].open);
    // The closed batch goes as soon as there is room; the new one waits
    // for its own linger.
    f.answer(&first[0], 0);
    let next = f.drain();
    assert_eq!(records_per_partition(&next[0]), [(0, 2)]);
}

#[test]
fn answers_are_matched_to_batches_in_any_order() {
    let mut f = Fixture::new(6, |c| c.linger = Duration::ZERO);
    // Partitions 0, 2 and 4 are led by node 0: one request carries all.
    for p in [0, 2, 4] {
        f.send(ProducerRecord::new("t").with_partition(p).with_value("v"))
            .unwrap();
    }
    let reqs = f.drain();
    assert_eq!(reqs.len(), 1);
    let RequestBody::Produce(body) = &reqs[0].body else {
        panic!("not a produce request")
    };
    let asked: Vec<i32> = body.topic_data[0]
        .partition_data
        .iter()
        .map(|p| p.index)
        .collect();
    assert_eq!(asked, [0, 2, 4]);
    // The broker answers 4 and 0, in reverse, and leaves 2 out.
    let resp = ProduceResponse::default().with_responses(vec![TopicProduceResponse::default()
        .with_name("t".into())
        .with_partition_responses(
            [4, 0]
                .into_iter()
                .map(|p| {
                    PartitionProduceResponse::default()
                        .with_index(p)
                        .with_base_offset(100 * i64::from(p) + 7)
                        .with_log_append_time_ms(-1)
                })
                .collect(),
        )]);
    let inbound = Inbound {
        id: reqs[0].id,
        result: Ok(ResponseBody::Produce(resp)),
    };
    f.p.handle_response(&mut ctx!(f), inbound);
    let mut written: Vec<(i32, i64)> = f
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Delivered(d) => Some((d.partition(), d.outcome(0)?.1)),
            _ => None,
        })
        .collect();
    written.sort_unstable();
    assert_eq!(written, [(0, 7), (4, 407)]);
    // The partition left out has no answer: its batch waits to go again.
    let ps = f.p.topics["t"].partitions.get(2).unwrap();
    assert_eq!(ps.batches.len(), 1);
    assert_eq!(ps.in_flight, 0);
}

#[test]
fn partition_states_are_kept_by_number() {
    let mut m = super::accumulator::PartitionMap::default();
    assert!(m.get(3).is_none());
    assert!(m.get(-1).is_none());
    m.entry(3).next_seq = 30;
    m.entry(0).next_seq = 1;
    m.entry(3).next_seq += 1;
    assert_eq!(m.get(3).map(|p| p.next_seq), Some(31));
    assert!(m.get(1).is_none(), "a gap has no state");
    assert!(m.get_mut(9).is_none());
    let listed: Vec<(i32, i32)> = m.iter().map(|(p, s)| (p, s.next_seq)).collect();
    assert_eq!(listed, [(0, 1), (3, 31)]);
    assert_eq!(m.values().count(), 2);
}

/// An encoded batch keeps only what its reports need; split, it reads its
/// records back from its bytes, whatever the codec, and nothing of a
/// record or of the buffer's accounting is lost on the way.
#[test]
fn an_encoded_batch_lets_its_records_go_and_reads_them_back_to_split() {
    use kafka_proto::record::Compression;
    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let mut f = Fixture::new(1, |c| {
            c.linger = Duration::from_secs(60);
            c.compression = codec;
        });
        let mut sent = Vec::new();
        for i in 0..7i64 {
            let mut r = ProducerRecord::new("t")
                .with_partition(0)
                .with_key(format!("key-{i}"))
                .with_timestamp(1_700_000_000_000 + i * 3)
                .with_header("h", Some(bytes::Bytes::from(format!("hv-{i}"))))
                .with_header("empty", None);
            if i != 3 {
                r = r.with_value(format!("value-{i}-").repeat(i as usize + 1));
            }
            let size = r.estimated_size();
            let fields = (
                r.key.clone(),
                r.value.clone(),
                r.headers.clone(),
                r.timestamp,
            );
            let id = f.send(r).unwrap();
            sent.push((id, size, fields));
        }
        let held = (f.p.buffered, f.p.pending);
        f.p.flushing = true;
        let reqs = f.drain();
        assert_eq!(reqs.len(), 1);
        let ps = f.p.topics["t"].partitions.get(0).unwrap();
        let Held::Encoded(reports) = &ps.batches[0].records else {
            panic!("{codec:?}: a sent batch still holds its records");
        };
        let want: Vec<(DeliveryId, i64)> = sent
            .iter()
            .map(|(id, _, (_, _, _, ts))| (*id, ts.unwrap()))
            .collect();
        assert_eq!(reports, &want, "{codec:?}");

        f.refuse(&reqs[0], ErrorCode::MessageTooLarge);
        assert!(f.events.is_empty(), "{codec:?}: {:?}", f.events);
        assert_eq!((f.p.buffered, f.p.pending), held, "{codec:?}");
        let ps = f.p.topics["t"].partitions.get(0).unwrap();
        assert_eq!(ps.batches.len(), 2, "{codec:?}");
        let mut back = Vec::new();
        for b in &ps.batches {
            let Held::Records(r) = &b.records else {
                panic!("{codec:?}: a half is encoded before it is sent");
            };
            assert_eq!(
                b.size,
                super::accumulator::BATCH_OVERHEAD + r.iter().map(|r| r.size).sum::<usize>()
            );
            back.extend(r.iter().map(|r| {
                (
                    r.id,
                    r.size,
                    (
                        r.key.clone(),
                        r.value.clone(),
                        r.headers.clone(),
                        Some(r.timestamp),
                    ),
                )
            }));
        }
        assert_eq!(back, sent, "{codec:?}");

        // Both halves go and are written: every record is reported once,
        // and the buffer is empty again.
        for _ in 0..2 {
            for req in f.drain() {
                f.answer(&req, 10);
            }
        }
        let mut reported: Vec<DeliveryId> = f
            .events
            .iter()
            .flat_map(Event::outcomes)
            .map(|(id, outcome)| {
                assert!(outcome.is_ok(), "{codec:?}: {outcome:?}");
                id
            })
            .collect();
        reported.sort_unstable();
        let ids: Vec<DeliveryId> = sent.iter().map(|(id, ..)| *id).collect();
        assert_eq!(reported, ids, "{codec:?}");
        assert_eq!((f.p.buffered, f.p.pending), (0, 0), "{codec:?}");
    }
}

/// Failing an encoded batch gives back all the buffer its records took.
#[test]
fn a_failed_encoded_batch_gives_its_buffer_back() {
    let mut f = Fixture::new(1, |c| c.linger = Duration::ZERO);
    let ids: Vec<DeliveryId> = (0..5).map(|i| f.value(10 + i)).collect();
    let reqs = f.drain();
    assert_eq!(reqs.len(), 1);
    assert!(f.p.buffered > 0);
    f.refuse(&reqs[0], ErrorCode::InvalidRecord);
    let failed: Vec<DeliveryId> = f
        .events
        .iter()
        .filter_map(|e| match e {
            Event::DeliveryFailed { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(failed, ids);
    assert_eq!((f.p.buffered, f.p.pending), (0, 0));
}

/// A batch whose bytes cannot be read back is not split: its records fail
/// with the reason, and the buffer they took is given back.
#[test]
fn a_batch_that_cannot_be_read_back_fails_instead_of_splitting() {
    let mut f = Fixture::new(1, |c| c.linger = Duration::ZERO);
    let ids: Vec<DeliveryId> = (0..4).map(|i| f.value(10 + i)).collect();
    let reqs = f.drain();
    assert_eq!(reqs.len(), 1);
    let b = &mut f
        .p
        .topics
        .get_mut("t")
        .unwrap()
        .partitions
        .get_mut(0)
        .unwrap()
        .batches[0];
    let (bytes, _) = b.encoded.as_mut().unwrap();
    *bytes = bytes.slice(..bytes.len() - 3);
    f.refuse(&reqs[0], ErrorCode::MessageTooLarge);
    let failed: Vec<DeliveryId> = f
        .events
        .iter()
        .filter_map(|e| match e {
            Event::DeliveryFailed {
                id,
                error: ProduceError::Encode(_),
            } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(failed, ids, "{:?}", f.events);
    assert_eq!((f.p.buffered, f.p.pending), (0, 0));
    assert!(f.p.topics["t"]
        .partitions
        .get(0)
        .unwrap()
        .batches
        .is_empty());
}
