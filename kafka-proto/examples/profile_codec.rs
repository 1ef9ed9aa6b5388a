//! Runs one codec workload N times, for instruction-count profiling:
//!
//! ```text
//! cargo build --release -p kafka-proto --example profile_codec
//! valgrind --tool=callgrind --dump-instr=no \
//!     target/release/examples/profile_codec encode 200
//! callgrind_annotate --auto=no callgrind.out.<pid>
//! ```
//!
//! Workloads (the same data as `benches/codec.rs`): `encode`,
//! `decode-owned` (`records()`, `Record`), `decode-shared`
//! (`records_shared()`, `SharedRecord`), `decode-borrowed` (`records_ref()`)
//! (one v2 batch of 1,000 records, 8-byte keys, 100-byte values),
//! `encode-lz4` and `encode-lz4-theirs` (the same batch lz4-compressed, by
//! us and by kafka-protocol with its `lz4` crate at level 0, as in the
//! bench), `lz4-compress-ours` / `lz4-compress-theirs` (the two lz4 frame
//! encoders alone on the batch's record bytes), `metadata-decode`,
//! `metadata-decode-theirs`, `metadata-encode` (a MetadataResponse v12 with 1,000 partitions).

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use kafka_proto::messages::MetadataResponse;
use kafka_proto::record::{
    BatchOptions, Compression, DecodeOptions, Record, RecordBatch, RecordBatchBuilder,
};
use kafka_proto::Message;

#[path = "../benches/common/mod.rs"]
mod common;

use common::{metadata_ours as metadata, their_lz4_level0};

const METADATA_VERSION: i16 = 12;
const RECORDS: usize = 1000;

fn value(i: usize) -> Bytes {
    let mut v = format!(
        "{{\"id\":{i:08},\"user\":\"user-{:04}\",\"event\":\"click\",\"score\":{:05},\"pad\":\"",
        (i * 7919) % 10_000,
        (i * 104_729) % 100_000
    )
    .into_bytes();
    while v.len() < 98 {
        v.push(b'a' + (v.len() as u8).wrapping_mul(13).wrapping_add(i as u8) % 26);
    }
    v.extend_from_slice(b"\"}");
    Bytes::from(v)
}

fn records() -> Vec<Record> {
    (0..RECORDS)
        .map(|i| Record {
            offset: i as i64,
            timestamp: 1_700_000_000_000 + i as i64,
            key: Some(Bytes::from(format!("key{:05}", i % 100_000))),
            value: Some(value(i)),
            headers: Default::default(),
        })
        .collect()
}

fn options() -> BatchOptions {
    BatchOptions {
        base_offset: 0,
        producer_id: 4242,
        producer_epoch: 3,
        base_sequence: 0,
        compression: Compression::None,
        ..Default::default()
    }
}

fn encode(records: &[Record], buf: BytesMut) -> Bytes {
    let mut b = RecordBatchBuilder::with_buffer(buf, options());
    for r in records {
        b.append_record(r).unwrap();
    }
    b.finish().unwrap()
}

fn records_theirs(ours: &[Record]) -> Vec<kafka_protocol::records::Record> {
    use kafka_protocol::records as kp;
    ours.iter()
        .enumerate()
        .map(|(i, r)| kp::Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: 4242,
            producer_epoch: 3,
            timestamp_type: kp::TimestampType::Creation,
            offset: r.offset,
            sequence: i as i32,
            timestamp: r.timestamp,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: Default::default(),
        })
        .collect()
}

fn encode_theirs_lz4(records: &[kafka_protocol::records::Record], out: &mut BytesMut) {
    use kafka_protocol::records as kp;
    let options = kp::RecordEncodeOptions {
        version: 2,
        compression: kp::Compression::Lz4,
    };
    kp::RecordBatchEncoder::encode_with_custom_compression(
        out,
        records,
        &options,
        Some(their_lz4_level0),
    )
    .unwrap();
}

/// Runs one workload in its own (never inlined) function, so that each
/// workload's code is optimised on its own and adding a workload does not
/// change another's inlining (and instruction count).
#[inline(never)]
fn run(mut f: impl FnMut()) {
    f()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let workload = args.next().unwrap_or_else(|| "encode".into());
    let n: usize = args.next().map_or(200, |s| s.parse().expect("iterations"));
    let records = records();
    let wire = encode(&records, BytesMut::new());
    let meta = metadata();
    let mut meta_wire = BytesMut::new();
    meta.encode(&mut meta_wire, METADATA_VERSION).unwrap();
    let meta_wire = meta_wire.freeze();

    let mut total = 0usize;
    match workload.as_str() {
        "encode" => run(|| {
            let mut buf = Some(BytesMut::with_capacity(wire.len() + 64));
            for _ in 0..n {
                let out = encode(black_box(&records), buf.take().unwrap());
                total += out.len();
                buf = Some(
                    out.try_into_mut()
                        .unwrap_or_else(|b| BytesMut::with_capacity(b.len())),
                );
            }
        }),
        "decode-owned" => run(|| {
            for _ in 0..n {
                let batch =
                    RecordBatch::decode(&mut black_box(&wire).clone(), &DecodeOptions::default())
                        .unwrap();
                for r in batch.records().unwrap() {
                    let r = r.unwrap();
                    total += r.key.map_or(0, |k| k.len()) + r.value.map_or(0, |v| v.len());
                }
            }
        }),
        "decode-shared" => run(|| {
            for _ in 0..n {
                let batch =
                    RecordBatch::decode(&mut black_box(&wire).clone(), &DecodeOptions::default())
                        .unwrap();
                for r in batch.records_shared().unwrap() {
                    let r = r.unwrap();
                    total += r.key().map_or(0, <[u8]>::len) + r.value().map_or(0, <[u8]>::len);
                }
            }
        }),
        "decode-borrowed-refcount" => run(|| {
            // decode-borrowed plus one Bytes clone and drop per record: the
            // cost of one reference per record in isolation.
            for _ in 0..n {
                let batch =
                    RecordBatch::decode(&mut black_box(&wire).clone(), &DecodeOptions::default())
                        .unwrap();
                let data = batch.records_ref().unwrap();
                for r in &data {
                    let r = r.unwrap();
                    let keep = black_box(batch.raw().clone());
                    total += r.key.map_or(0, <[u8]>::len) + r.value.map_or(0, <[u8]>::len);
                    drop(keep);
                }
            }
        }),
        "encode-lz4" => run(|| {
            let options = BatchOptions {
                compression: Compression::Lz4,
                ..options()
            };
            let mut buf = Some(BytesMut::with_capacity(wire.len() + 64));
            for _ in 0..n {
                let mut b = RecordBatchBuilder::with_buffer(buf.take().unwrap(), options);
                for r in black_box(&records) {
                    b.append_record(r).unwrap();
                }
                let out = b.finish().unwrap();
                total += out.len();
                buf = Some(
                    out.try_into_mut()
                        .unwrap_or_else(|b| BytesMut::with_capacity(b.len())),
                );
            }
        }),
        "encode-lz4-theirs" => run(|| {
            let theirs = records_theirs(&records);
            let mut out = BytesMut::with_capacity(wire.len() + 64);
            for _ in 0..n {
                out.clear();
                encode_theirs_lz4(black_box(&theirs), &mut out);
                total += out.len();
            }
        }),
        "lz4-compress-ours" => run(|| {
            // The codec alone, on the batch's record bytes.
            let body = &wire[61..];
            for _ in 0..n {
                let mut out = BytesMut::new();
                let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(
                    lz4_flex::frame::FrameInfo::new()
                        .block_size(lz4_flex::frame::BlockSize::Max64KB)
                        .block_mode(lz4_flex::frame::BlockMode::Independent),
                    bytes::BufMut::writer(&mut out),
                );
                std::io::Write::write_all(&mut enc, black_box(body)).unwrap();
                enc.finish().unwrap();
                total += out.len();
            }
        }),
        "lz4-compress-theirs" => run(|| {
            let body = &wire[61..];
            for _ in 0..n {
                let mut records = BytesMut::from(black_box(body));
                let mut out = BytesMut::new();
                their_lz4_level0(
                    &mut records,
                    &mut out,
                    kafka_protocol::records::Compression::Lz4,
                )
                .unwrap();
                total += out.len();
            }
        }),
        "decode-borrowed" => run(|| {
            for _ in 0..n {
                let batch =
                    RecordBatch::decode(&mut black_box(&wire).clone(), &DecodeOptions::default())
                        .unwrap();
                let data = batch.records_ref().unwrap();
                for r in &data {
                    let r = r.unwrap();
                    total += r.key.map_or(0, <[u8]>::len) + r.value.map_or(0, <[u8]>::len);
                }
            }
        }),
        "metadata-decode" => run(|| {
            for _ in 0..n {
                let m =
                    MetadataResponse::decode(&mut black_box(&meta_wire).clone(), METADATA_VERSION)
                        .unwrap();
                total += m.topics.len();
            }
        }),
        "metadata-decode-theirs" => run(|| {
            use kafka_protocol::protocol::Decodable;
            for _ in 0..n {
                let m = kafka_protocol::messages::MetadataResponse::decode(
                    &mut black_box(&meta_wire).clone(),
                    METADATA_VERSION,
                )
                .unwrap();
                total += m.topics.len();
            }
        }),
        "metadata-encode" => run(|| {
            let mut out = BytesMut::with_capacity(meta_wire.len());
            for _ in 0..n {
                out.clear();
                black_box(&meta).encode(&mut out, METADATA_VERSION).unwrap();
                total += out.len();
            }
        }),
        other => panic!("unknown workload {other}"),
    }
    println!("{workload} x{n}: {total}");
}
