//! kafka-proto against the `kafka-protocol` crate, side by side in one run,
//! plus a floor (CRC32C and a copy of the same bytes).
//!
//! Run: `cargo bench -p kafka-proto --bench codec`. Ratios are computed
//! from criterion's estimates by `scripts/bench-ratios.py`.

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kafka_proto::messages::MetadataResponse;
use kafka_proto::Message;

mod common;

use common::{metadata_ours, metadata_theirs, their_lz4_level0};

const METADATA_VERSION: i16 = 12;

fn metadata(c: &mut Criterion) {
    use kafka_protocol::protocol::{Decodable, Encodable};
    let ours = metadata_ours();
    let theirs = metadata_theirs();
    let mut buf = BytesMut::new();
    ours.encode(&mut buf, METADATA_VERSION).unwrap();
    let wire = buf.freeze();
    let mut check = BytesMut::new();
    theirs.encode(&mut check, METADATA_VERSION).unwrap();
    assert_eq!(
        wire,
        check.freeze(),
        "both crates must produce the same bytes"
    );

    let mut g = c.benchmark_group("metadata_1000_partitions");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("encode/ours", |b| {
        let mut out = BytesMut::with_capacity(wire.len());
        b.iter(|| {
            out.clear();
            ours.encode(&mut out, METADATA_VERSION).unwrap();
            black_box(out.len())
        })
    });
    g.bench_function("encode/kafka-protocol", |b| {
        let mut out = BytesMut::with_capacity(wire.len());
        b.iter(|| {
            out.clear();
            theirs.encode(&mut out, METADATA_VERSION).unwrap();
            black_box(out.len())
        })
    });
    g.bench_function("decode/ours", |b| {
        b.iter_batched(
            || wire.clone(),
            |mut w| MetadataResponse::decode(&mut w, METADATA_VERSION).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("decode/kafka-protocol", |b| {
        b.iter_batched(
            || wire.clone(),
            |mut w| {
                kafka_protocol::messages::MetadataResponse::decode(&mut w, METADATA_VERSION)
                    .unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    // What a client does with a response: decode it, use it, drop it. The
    // two above keep each output until criterion's batch ends, which
    // leaves the allocator's free lists empty and drops out of the timing.
    g.bench_function("decode-and-drop/ours", |b| {
        b.iter(|| {
            let m = MetadataResponse::decode(&mut wire.clone(), METADATA_VERSION).unwrap();
            black_box(m.topics.len())
        })
    });
    g.bench_function("decode-and-drop/kafka-protocol", |b| {
        b.iter(|| {
            let m = kafka_protocol::messages::MetadataResponse::decode(
                &mut wire.clone(),
                METADATA_VERSION,
            )
            .unwrap();
            black_box(m.topics.len())
        })
    });
    g.finish();
}

/// The floor for record work: checksum the bytes and copy them once.
fn bench_floor(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    data: &Bytes,
) {
    g.bench_function("floor/crc32c+memcpy", |b| {
        let mut out = vec![0u8; data.len()];
        b.iter(|| {
            out.copy_from_slice(data);
            black_box(crc32c::crc32c(&out))
        })
    });
}

fn floor(c: &mut Criterion, name: &str, data: &Bytes) {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(data.len() as u64));
    bench_floor(&mut g, data);
    g.finish();
}

fn floors(c: &mut Criterion) {
    floor(c, "floor_100k", &Bytes::from(vec![7u8; 100_000]));
}

// ---------------------------------------------------------------------------
// Record batches: 1,000 records, 8-byte keys, 100-byte values, no headers.

const RECORDS: usize = 1000;
const BASE_TIMESTAMP: i64 = 1_700_000_000_000;
const PRODUCER_ID: i64 = 4242;
const PRODUCER_EPOCH: i16 = 3;

/// A 100-byte value that looks like a small JSON event, so lz4 has the
/// kind of redundancy real payloads have.
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
    assert_eq!(v.len(), 100);
    Bytes::from(v)
}

fn records_ours(base_offset: i64) -> Vec<kafka_proto::record::Record> {
    (0..RECORDS)
        .map(|i| kafka_proto::record::Record {
            offset: base_offset + i as i64,
            timestamp: BASE_TIMESTAMP + i as i64,
            key: Some(Bytes::from(format!("key{:05}", i % 100_000))),
            value: Some(value(i)),
            headers: Default::default(),
        })
        .collect()
}

fn records_theirs(ours: &[kafka_proto::record::Record]) -> Vec<kafka_protocol::records::Record> {
    use kafka_protocol::records as kp;
    ours.iter()
        .enumerate()
        .map(|(i, r)| kp::Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: PRODUCER_ID,
            producer_epoch: PRODUCER_EPOCH,
            timestamp_type: kp::TimestampType::Creation,
            offset: r.offset,
            // base sequence + index, or kafka-protocol splits the batch.
            sequence: i as i32,
            timestamp: r.timestamp,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: Default::default(),
        })
        .collect()
}

fn options_ours(
    base_offset: i64,
    compression: kafka_proto::record::Compression,
) -> kafka_proto::record::BatchOptions {
    kafka_proto::record::BatchOptions {
        base_offset,
        producer_id: PRODUCER_ID,
        producer_epoch: PRODUCER_EPOCH,
        base_sequence: 0,
        compression,
        ..Default::default()
    }
}

fn encode_ours(
    records: &[kafka_proto::record::Record],
    options: kafka_proto::record::BatchOptions,
    buf: BytesMut,
) -> Bytes {
    let mut b = kafka_proto::record::RecordBatchBuilder::with_buffer(buf, options);
    for r in records {
        b.append_record(r).unwrap();
    }
    b.finish().unwrap()
}

fn encode_theirs(records: &[kafka_protocol::records::Record], lz4: bool, out: &mut BytesMut) {
    use kafka_protocol::records as kp;
    let options = kp::RecordEncodeOptions {
        version: 2,
        compression: if lz4 {
            kp::Compression::Lz4
        } else {
            kp::Compression::None
        },
    };
    if lz4 {
        kp::RecordBatchEncoder::encode_with_custom_compression(
            out,
            records,
            &options,
            Some(their_lz4_level0),
        )
        .unwrap();
    } else {
        kp::RecordBatchEncoder::encode(out, records, &options).unwrap();
    }
}

/// Sums key and value lengths of every record: what a consumer touches.
fn consume_owned(batch: &kafka_proto::record::RecordBatch) -> usize {
    let mut n = 0;
    for r in batch.records().unwrap() {
        let r = r.unwrap();
        n += r.key.map_or(0, |k| k.len()) + r.value.map_or(0, |v| v.len());
    }
    n
}

/// The owned records of [`RecordBatch::records_shared`]: each one is kept
/// alive independently of the batch (one reference each); key and value
/// are read through the slices it lends.
fn consume_shared(batch: &kafka_proto::record::RecordBatch) -> usize {
    let mut n = 0;
    for r in batch.records_shared().unwrap() {
        let r = r.unwrap();
        n += r.key().map_or(0, <[u8]>::len) + r.value().map_or(0, <[u8]>::len);
    }
    n
}

fn consume_borrowed(batch: &kafka_proto::record::RecordBatch) -> usize {
    let data = batch.records_ref().unwrap();
    let mut n = 0;
    for r in &data {
        let r = r.unwrap();
        n += r.key.map_or(0, <[u8]>::len) + r.value.map_or(0, <[u8]>::len);
    }
    n
}

fn consume_theirs(set: &kafka_protocol::records::RecordSet) -> usize {
    set.records
        .iter()
        .map(|r| r.key.as_ref().map_or(0, |k| k.len()) + r.value.as_ref().map_or(0, |v| v.len()))
        .sum()
}

fn record_batch(c: &mut Criterion, lz4: bool) {
    use kafka_proto::record::{Compression, DecodeOptions, RecordBatch};
    let name = if lz4 {
        "record_batch_1000x100_lz4"
    } else {
        "record_batch_1000x100"
    };
    let codec = if lz4 {
        Compression::Lz4
    } else {
        Compression::None
    };
    let ours = records_ours(0);
    let theirs = records_theirs(&ours);
    let options = options_ours(0, codec);
    let wire = encode_ours(&ours, options, BytesMut::new());
    let mut their_wire = BytesMut::new();
    encode_theirs(&theirs, lz4, &mut their_wire);
    let their_wire = their_wire.freeze();
    if !lz4 {
        assert_eq!(wire, their_wire, "both crates must produce the same batch");
    }
    // Each decodes what the other wrote, to the same records.
    let expected = RECORDS * (8 + 100);
    for w in [&wire, &their_wire] {
        let batch = RecordBatch::decode(&mut w.clone(), &DecodeOptions::default()).unwrap();
        assert_eq!(consume_owned(&batch), expected);
        assert_eq!(consume_shared(&batch), expected);
        assert_eq!(consume_borrowed(&batch), expected);
        let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut w.clone()).unwrap();
        assert_eq!(set.records.len(), RECORDS);
        assert_eq!(consume_theirs(&set), expected);
    }

    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("encode/ours", |b| {
        let mut buf = Some(BytesMut::with_capacity(wire.len() + 64));
        b.iter(|| {
            let out = encode_ours(&ours, options, buf.take().unwrap());
            let n = black_box(out.len());
            // Hand the allocation back for the next iteration.
            buf = Some(
                out.try_into_mut()
                    .unwrap_or_else(|b| BytesMut::with_capacity(b.len())),
            );
            n
        })
    });
    g.bench_function("encode/kafka-protocol", |b| {
        let mut out = BytesMut::with_capacity(their_wire.len() + 64);
        b.iter(|| {
            out.clear();
            encode_theirs(&theirs, lz4, &mut out);
            black_box(out.len())
        })
    });
    g.bench_function("decode/ours-owned", |b| {
        b.iter(|| {
            let batch = RecordBatch::decode(&mut wire.clone(), &DecodeOptions::default()).unwrap();
            black_box(consume_owned(&batch))
        })
    });
    g.bench_function("decode/ours-shared", |b| {
        b.iter(|| {
            let batch = RecordBatch::decode(&mut wire.clone(), &DecodeOptions::default()).unwrap();
            black_box(consume_shared(&batch))
        })
    });
    g.bench_function("decode/ours-borrowed", |b| {
        b.iter(|| {
            let batch = RecordBatch::decode(&mut wire.clone(), &DecodeOptions::default()).unwrap();
            black_box(consume_borrowed(&batch))
        })
    });
    g.bench_function("decode/kafka-protocol", |b| {
        b.iter(|| {
            let set =
                kafka_protocol::records::RecordBatchDecoder::decode(&mut wire.clone()).unwrap();
            black_box(consume_theirs(&set))
        })
    });
    bench_floor(&mut g, &wire);
    g.finish();
}

fn record_batches(c: &mut Criterion) {
    record_batch(c, false);
    record_batch(c, true);
}

// ---------------------------------------------------------------------------
// A ~1 MiB FetchResponse: one partition holding 9 uncompressed batches.

const FETCH_VERSION: i16 = 12;
const FETCH_BATCHES: usize = 9;

fn fetch_response(c: &mut Criterion) {
    use kafka_proto::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_proto::messages::FetchResponse;
    use kafka_proto::record::{Batches, Compression};
    use kafka_protocol::protocol::Decodable;

    let mut set = BytesMut::new();
    for b in 0..FETCH_BATCHES {
        let base = (b * RECORDS) as i64;
        set.extend_from_slice(&encode_ours(
            &records_ours(base),
            options_ours(base, Compression::None),
            BytesMut::new(),
        ));
    }
    let set = set.freeze();
    let response = FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
        .with_topic("bench-topic".into())
        .with_partitions(vec![PartitionData::default()
            .with_partition_index(0)
            .with_high_watermark((FETCH_BATCHES * RECORDS) as i64)
            .with_last_stable_offset((FETCH_BATCHES * RECORDS) as i64)
            .with_log_start_offset(0)
            .with_records(Some(set.clone()))])]);
    let mut buf = BytesMut::new();
    response.encode(&mut buf, FETCH_VERSION).unwrap();
    let wire = buf.freeze();
    let expected = FETCH_BATCHES * RECORDS * 108;

    let ours_owned = |w: &Bytes| {
        let resp = FetchResponse::decode(&mut w.clone(), FETCH_VERSION).unwrap();
        let mut n = 0;
        for t in &resp.responses {
            for p in &t.partitions {
                for batch in Batches::new(p.records.clone().unwrap_or_default()) {
                    n += consume_owned(&batch.unwrap());
                }
            }
        }
        n
    };
    let ours_shared = |w: &Bytes| {
        let resp = FetchResponse::decode(&mut w.clone(), FETCH_VERSION).unwrap();
        let mut n = 0;
        for t in &resp.responses {
            for p in &t.partitions {
                for batch in Batches::new(p.records.clone().unwrap_or_default()) {
                    n += consume_shared(&batch.unwrap());
                }
            }
        }
        n
    };
    let ours_borrowed = |w: &Bytes| {
        let resp = FetchResponse::decode(&mut w.clone(), FETCH_VERSION).unwrap();
        let mut n = 0;
        for t in &resp.responses {
            for p in &t.partitions {
                for batch in Batches::new(p.records.clone().unwrap_or_default()) {
                    n += consume_borrowed(&batch.unwrap());
                }
            }
        }
        n
    };
    let theirs = |w: &Bytes| {
        let resp =
            kafka_protocol::messages::FetchResponse::decode(&mut w.clone(), FETCH_VERSION).unwrap();
        let mut n = 0;
        for t in &resp.responses {
            for p in &t.partitions {
                let mut records = p.records.clone().unwrap_or_default();
                for set in
                    kafka_protocol::records::RecordBatchDecoder::decode_all(&mut records).unwrap()
                {
                    n += consume_theirs(&set);
                }
            }
        }
        n
    };
    assert_eq!(ours_owned(&wire), expected);
    assert_eq!(ours_shared(&wire), expected);
    assert_eq!(ours_borrowed(&wire), expected);
    assert_eq!(theirs(&wire), expected);

    let mut g = c.benchmark_group("fetch_1mib");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("decode/ours-owned", |b| {
        b.iter(|| black_box(ours_owned(&wire)))
    });
    g.bench_function("decode/ours-shared", |b| {
        b.iter(|| black_box(ours_shared(&wire)))
    });
    g.bench_function("decode/ours-borrowed", |b| {
        b.iter(|| black_box(ours_borrowed(&wire)))
    });
    g.bench_function("decode/kafka-protocol", |b| {
        b.iter(|| black_box(theirs(&wire)))
    });
    bench_floor(&mut g, &wire);
    g.finish();
}

/// The two LZ4 compressors alone, on the records section of the batch the
/// lz4 group encodes, in the 64 KiB blocks both frames use: how much of the
/// lz4 encode ratio the compressor leaves to the record encoding. Theirs
/// is liblz4 at level 0, the compressor the lz4 group hands kafka-protocol.
fn lz4_compressors(c: &mut Criterion) {
    use kafka_proto::record::Compression;
    // The v2 batch header, up to and including the record count.
    const V2_HEADER_LEN: usize = 61;
    let batch = encode_ours(
        &records_ours(0),
        options_ours(0, Compression::None),
        BytesMut::new(),
    );
    let input = batch.slice(V2_HEADER_LEN..);
    let mut out = vec![0u8; lz4_flex::block::get_maximum_output_size(input.len())];
    let blocks = |compress: &mut dyn FnMut(&[u8], &mut [u8]) -> usize, out: &mut [u8]| {
        input
            .chunks(64 << 10)
            .map(|b| compress(b, out))
            .sum::<usize>()
    };
    let mut flex = |b: &[u8], o: &mut [u8]| lz4_flex::block::compress_into(b, o).unwrap();
    let mut liblz4 = |b: &[u8], o: &mut [u8]| {
        lz4::block::compress_to_buffer(b, Some(lz4::block::CompressionMode::DEFAULT), false, o)
            .unwrap()
    };
    // Same algorithm, same level: the outputs are within a few percent.
    let (a, b) = (blocks(&mut flex, &mut out), blocks(&mut liblz4, &mut out));
    assert!(
        a.abs_diff(b) * 10 < a.max(b),
        "lz4_flex {a} B, liblz4 {b} B"
    );

    let mut g = c.benchmark_group("lz4_compressor_119k");
    g.throughput(Throughput::Bytes(input.len() as u64));
    g.bench_function("compress/ours-lz4_flex", |bch| {
        bch.iter(|| blocks(&mut flex, &mut out))
    });
    g.bench_function("compress/kafka-protocol", |bch| {
        bch.iter(|| blocks(&mut liblz4, &mut out))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = metadata, floors, record_batches, fetch_response, lz4_compressors
}
criterion_main!(benches);
