//! Hostile and damaged input: never a panic, always the right error.
//! Also golden bytes, zero-copy, bounded decompression and xerial snappy.

use bytes::{Bytes, BytesMut};
use kafka_proto::record::{
    encode, encode_legacy, BatchOptions, Batches, Compression, ControlRecord, DecodeOptions,
    Headers, LegacyOptions, Record, RecordBatch, TimestampType,
};
use kafka_proto::{DecodeError, DecodeErrorKind};
use proptest::prelude::*;

fn sample_records() -> Vec<Record> {
    (0..4)
        .map(|i| Record {
            offset: i,
            timestamp: 1_000 + i * 7,
            key: (i % 2 == 0).then(|| Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(vec![i as u8; 20 + i as usize])),
            headers: Headers::from_pairs([
                ("h", Some(&b"1"[..])),
                ("h", None),
                ("z", Some(&b""[..])),
            ])
            .unwrap(),
        })
        .collect()
}

fn sample_batch(compression: Compression) -> Bytes {
    let options = BatchOptions {
        compression,
        producer_id: 5,
        producer_epoch: 1,
        base_sequence: 0,
        ..BatchOptions::default()
    };
    encode(&sample_records(), &options).unwrap()
}

/// The borrowed iterator yields the same records, and fails at the same
/// record with the same error, as the owned one.
fn same_owned_and_borrowed(batch: &RecordBatch) {
    let owned = batch.records();
    let data = batch.records_ref();
    match (owned, data) {
        (Ok(owned), Ok(data)) => {
            let owned: Vec<Result<Record, DecodeError>> = owned.collect();
            let borrowed: Vec<Result<Record, DecodeError>> = data
                .iter()
                .map(|r| {
                    r.map(|r| {
                        // Headers walk without panicking, as the owned ones do.
                        for (k, v) in r.headers {
                            let _ = (k.len(), v.map(<[u8]>::len));
                        }
                        r.to_record()
                    })
                })
                .collect();
            assert_eq!(owned, borrowed);
            // Iterating twice gives the same result.
            assert_eq!(data.iter().count(), borrowed.len());
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("owned {:?} but borrowed {:?}", a.map(|_| ()), b.map(|_| ())),
    }
}

/// Walks everything a consumer would touch, returning how many records
/// decoded; errors are fine, panics are not.
fn consume(set: Bytes, options: DecodeOptions) -> usize {
    let mut n = 0;
    let mut batches = Batches::with_options(set, options);
    for batch in batches.by_ref() {
        let Ok(batch) = batch else { break };
        let _ = batch.header().last_offset();
        same_owned_and_borrowed(&batch);
        let Ok(records) = batch.records() else {
            continue;
        };
        for record in records {
            let Ok(record) = record else { break };
            n += 1;
            for (k, v) in &record.headers {
                let _ = (k.len(), v.map(|v| v.len()));
            }
            let _ = ControlRecord::from_record(&record);
        }
    }
    let _ = batches.is_truncated();
    n
}

/// Rewrites the batch length and CRC of a (single) v2 batch after surgery.
fn fix_v2(mut b: BytesMut) -> Bytes {
    let len = (b.len() - 12) as i32;
    b[8..12].copy_from_slice(&len.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b.freeze()
}

fn records_err(set: Bytes) -> DecodeError {
    let batch = Batches::new(set).next().unwrap().unwrap();
    match batch.records() {
        Err(e) => e,
        Ok(records) => records
            .filter_map(Result::err)
            .next()
            .expect("expected a record error"),
    }
}

fn codecs() -> Vec<Compression> {
    [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ]
    .into_iter()
    .filter(|c| c.is_enabled())
    .collect()
}

const NO_CRC: DecodeOptions = DecodeOptions {
    max_decompressed_size: 1 << 20,
    verify_crc: false,
};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400), check in any::<bool>()) {
        let options = DecodeOptions { verify_crc: check, ..NO_CRC };
        consume(Bytes::from(data.clone()), options);
        // Also behind a plausible v2 or legacy prefix, so the body parsers run.
        for magic in [0u8, 1, 2] {
            let mut framed = vec![0u8; 8];
            framed.extend_from_slice(&((data.len() + 5) as i32).to_be_bytes());
            framed.extend_from_slice(&[0, 0, 0, 0, magic]);
            framed.extend_from_slice(&data);
            consume(Bytes::from(framed), DecodeOptions { verify_crc: false, ..NO_CRC });
        }
    }

    #[test]
    fn mutated_batches_never_panic(
        which in 0usize..8,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..5),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
        check in any::<bool>(),
    ) {
        let codecs = codecs();
        let set = if which < 5 {
            sample_batch(codecs[which % codecs.len()])
        } else {
            let recs: Vec<Record> = sample_records().into_iter().map(|r| Record { headers: Headers::new(), ..r }).collect();
            let compression = if which == 7 { *codecs.iter().find(|c| **c != Compression::Zstd).unwrap() } else { Compression::None };
            encode_legacy(&recs, &LegacyOptions { magic: (which % 2) as i8, compression, ..LegacyOptions::default() }).unwrap()
        };
        let mut data = set.to_vec();
        for (i, bit) in flips {
            let i = i.index(data.len());
            data[i] ^= 1 << bit;
        }
        if truncate {
            data.truncate(cut.index(data.len() + 1));
        }
        let options = DecodeOptions { verify_crc: check, ..NO_CRC };
        consume(Bytes::from(data), options);
    }
}

#[test]
fn crc_mismatch_names_both_values() {
    let good = sample_batch(Compression::None);
    let stored = u32::from_be_bytes(good[17..21].try_into().unwrap());
    let mut bad = good.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0x40;
    let computed = crc32c::crc32c(&bad[21..]);
    assert_ne!(stored, computed);
    let e = Batches::new(Bytes::from(bad)).next().unwrap().unwrap_err();
    assert_eq!(e.kind(), &DecodeErrorKind::CrcMismatch { stored, computed });
    let text = e.to_string();
    assert!(text.contains(&format!("{stored:#010x}")), "{text}");
    assert!(text.contains(&format!("{computed:#010x}")), "{text}");
    assert_eq!(e.offset(), Some(0));

    // Legacy CRC32 likewise.
    let legacy = encode_legacy(&[Record::default()], &LegacyOptions::default()).unwrap();
    let mut bad = legacy.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let e = Batches::new(Bytes::from(bad)).next().unwrap().unwrap_err();
    assert!(
        matches!(e.kind(), DecodeErrorKind::CrcMismatch { .. }),
        "{e}"
    );
}

#[test]
fn truncation_at_every_byte_is_partial_never_a_panic() {
    let mut sets = vec![];
    for codec in codecs() {
        sets.push(sample_batch(codec));
    }
    // Each uncompressed legacy message is its own entry: use one.
    sets.push(encode_legacy(&[Record::default()], &LegacyOptions::default()).unwrap());
    for full in sets {
        // A complete batch followed by a cut copy: one batch, then "truncated".
        for cut in 0..full.len() {
            let mut set = full.to_vec();
            set.extend_from_slice(&full[..cut]);
            let mut batches = Batches::new(Bytes::from(set));
            let first = batches.next().unwrap().unwrap();
            assert!(first.records().unwrap().all(|r| r.is_ok()));
            assert!(batches.next().is_none(), "cut {cut}");
            assert_eq!(batches.is_truncated(), cut > 0, "cut {cut}");
            assert_eq!(batches.remaining().len(), cut);

            // Decoding the cut entry directly is a Truncated error.
            let e =
                RecordBatch::decode(&mut full.slice(..cut), &DecodeOptions::default()).unwrap_err();
            assert!(
                matches!(e.kind(), DecodeErrorKind::Truncated { .. }),
                "cut {cut}: {e}"
            );
        }
    }
}

#[test]
fn huge_record_count_fails_without_allocating() {
    let mut b = BytesMut::from(&sample_batch(Compression::None)[..]);
    b[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
    let e = Batches::new(fix_v2(b)).next().unwrap().unwrap_err();
    assert!(
        matches!(
            e.kind(),
            DecodeErrorKind::LengthTooLarge {
                declared: 2147483647,
                ..
            }
        ),
        "{e}"
    );

    // Compressed: caught once the inflated size is known.
    if let Some(&codec) = codecs().iter().find(|c| **c != Compression::None) {
        let mut b = BytesMut::from(&sample_batch(codec)[..]);
        b[57..61].copy_from_slice(&(1i32 << 30).to_be_bytes());
        let e = records_err(fix_v2(b));
        assert!(
            matches!(e.kind(), DecodeErrorKind::LengthTooLarge { .. }),
            "{e}"
        );
    }

    // A negative count and a short count.
    let mut b = BytesMut::from(&sample_batch(Compression::None)[..]);
    b[57..61].copy_from_slice(&(-1i32).to_be_bytes());
    assert!(Batches::new(fix_v2(b)).next().unwrap().is_err());
    let mut b = BytesMut::from(&sample_batch(Compression::None)[..]);
    b[57..61].copy_from_slice(&3i32.to_be_bytes());
    let e = records_err(fix_v2(b));
    assert_eq!(e.kind(), &DecodeErrorKind::TrailingBytes(e_trailing_len()));
}

/// Bytes of the fourth sample record, left over when the count says three.
fn e_trailing_len() -> usize {
    let one = encode(&sample_records()[..3], &BatchOptions::default()).unwrap();
    sample_batch(Compression::None).len() - one.len()
}

#[test]
fn malformed_headers_and_lengths() {
    let base = sample_batch(Compression::None);
    // Negative / too-small batch lengths are corrupt, not partial.
    for len in [-1i32, 0, 13] {
        let mut b = base.to_vec();
        b[8..12].copy_from_slice(&len.to_be_bytes());
        let e = Batches::new(Bytes::from(b)).next().unwrap().unwrap_err();
        assert!(
            matches!(e.kind(), DecodeErrorKind::Invalid(_)),
            "{len}: {e}"
        );
    }
    // A v2 batch shorter than its header.
    let mut b = base.to_vec();
    b.truncate(40);
    b[8..12].copy_from_slice(&28i32.to_be_bytes());
    assert!(Batches::new(Bytes::from(b)).next().unwrap().is_err());
    // Unknown magic and unknown codec ids.
    let mut b = base.to_vec();
    b[16] = 3;
    let e = Batches::new(Bytes::from(b)).next().unwrap().unwrap_err();
    assert_eq!(e.kind(), &DecodeErrorKind::UnsupportedVersion(3));
    for codec in 5..=7 {
        let mut b = BytesMut::from(&base[..]);
        b[22] |= codec;
        let e = Batches::new(fix_v2(b)).next().unwrap().unwrap_err();
        assert_eq!(
            e.kind(),
            &DecodeErrorKind::UnsupportedCompression(codec as i8)
        );
    }

    // One hand-built record inside a valid header, per malformation.
    let header = &encode(&[], &BatchOptions::default()).unwrap()[..61];
    let with_record = |record: &[u8]| {
        let mut b = BytesMut::from(header);
        b[57..61].copy_from_slice(&1i32.to_be_bytes());
        b.extend_from_slice(record);
        fix_v2(b)
    };
    // len=8: attrs, ts, offset, key null, value null, 1 header: null key, null value.
    let null_key = with_record(&[16, 0, 0, 0, 1, 1, 2, 1, 1]);
    let e = records_err(null_key);
    assert!(matches!(e.kind(), DecodeErrorKind::Invalid(_)), "{e}");
    // Header key that is not UTF-8.
    let bad_utf8 = with_record(&[18, 0, 0, 0, 1, 1, 2, 2, 0xff, 1]);
    assert!(matches!(
        records_err(bad_utf8).kind(),
        DecodeErrorKind::Invalid(_)
    ));
    // Header count larger than the bytes could hold.
    let many = with_record(&[20, 0, 0, 0, 1, 1, 0xfe, 0xff, 0xff, 0xff, 0x0f]);
    let e = records_err(many);
    assert!(
        matches!(
            e.kind(),
            DecodeErrorKind::LengthTooLarge {
                declared: 2147483647,
                ..
            }
        ),
        "{e}"
    );
    // Value overruns the record.
    let overrun = with_record(&[12, 0, 0, 0, 1, 40, 0, 0, 0, 0, 0, 0, 0]);
    assert!(matches!(
        records_err(overrun).kind(),
        DecodeErrorKind::LengthTooLarge { .. }
    ));
    // Record length overruns the batch.
    let long = with_record(&[100, 0, 0, 0, 1, 1, 0]);
    assert!(matches!(
        records_err(long).kind(),
        DecodeErrorKind::LengthTooLarge { .. }
    ));
    // Bytes left inside a record after its headers.
    let slack = with_record(&[16, 0, 0, 0, 1, 1, 0, 9, 9]);
    assert_eq!(
        records_err(slack).kind(),
        &DecodeErrorKind::TrailingBytes(2)
    );
    // Garbage after the last record.
    let mut b = BytesMut::from(&base[..]);
    b.extend_from_slice(&[0, 0, 0]);
    assert_eq!(
        records_err(fix_v2(b)).kind(),
        &DecodeErrorKind::TrailingBytes(3)
    );
    // Overlong varint.
    let varint = with_record(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0]);
    assert!(records_err(varint).kind() != &DecodeErrorKind::TrailingBytes(0));
}

#[test]
fn corrupt_batch_after_a_good_one_is_an_error() {
    let good = sample_batch(Compression::None);
    let mut set = good.to_vec();
    let mut bad = good.to_vec();
    bad[30] ^= 1;
    set.extend_from_slice(&bad);
    let mut batches = Batches::new(Bytes::from(set));
    assert!(batches.next().unwrap().is_ok());
    let e = batches.next().unwrap().unwrap_err();
    assert_eq!(e.offset(), Some(good.len()));
    assert!(batches.next().is_none());
    assert!(!batches.is_truncated());
}

#[test]
fn legacy_structure_errors() {
    let r = Record {
        value: Some(Bytes::from_static(b"v")),
        ..Record::default()
    };
    // Nested compression: a compressed wrapper inside a compressed wrapper.
    if let Some(&codec) = codecs()
        .iter()
        .find(|c| !matches!(c, Compression::None | Compression::Zstd))
    {
        let inner = encode_legacy(
            [&r],
            &LegacyOptions {
                compression: codec,
                ..LegacyOptions::default()
            },
        )
        .unwrap();
        // Build a wrapper whose value is `inner` compressed again.
        let wrapped = compress_as_wrapper(&inner, codec);
        let e = Batches::new(wrapped).next().unwrap().unwrap_err();
        assert!(e.to_string().contains("nested"), "{e}");

        // A wrapper with no inner messages.
        let empty = compress_as_wrapper(&[], codec);
        assert!(Batches::new(empty).next().unwrap().is_err());
    }
    // Trailing bytes inside a message.
    let mut m = encode_legacy([&r], &LegacyOptions::default())
        .unwrap()
        .to_vec();
    m.push(0);
    let len = (m.len() - 12) as i32;
    m[8..12].copy_from_slice(&len.to_be_bytes());
    let crc = crc32fast::hash(&m[16..]);
    m[12..16].copy_from_slice(&crc.to_be_bytes());
    let e = Batches::new(Bytes::from(m)).next().unwrap().unwrap_err();
    assert_eq!(e.kind(), &DecodeErrorKind::TrailingBytes(1));
}

/// A hand-built magic 1 wrapper message whose value is `inner` compressed with `codec`.
fn compress_as_wrapper(inner: &[u8], codec: Compression) -> Bytes {
    let compressed = raw_compress(inner, codec);
    let mut m = Vec::new();
    m.extend_from_slice(&0i64.to_be_bytes());
    m.extend_from_slice(&0i32.to_be_bytes());
    m.extend_from_slice(&0u32.to_be_bytes());
    m.push(1);
    m.push(codec.id() as u8);
    m.extend_from_slice(&0i64.to_be_bytes());
    m.extend_from_slice(&(-1i32).to_be_bytes());
    m.extend_from_slice(&(compressed.len() as i32).to_be_bytes());
    m.extend_from_slice(&compressed);
    let len = (m.len() - 12) as i32;
    m[8..12].copy_from_slice(&len.to_be_bytes());
    let crc = crc32fast::hash(&m[16..]);
    m[12..16].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(m)
}

/// Compresses with the codec libraries directly (independently of our encoder).
fn raw_compress(data: &[u8], codec: Compression) -> Vec<u8> {
    match codec {
        #[cfg(feature = "gzip")]
        Compression::Gzip => {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        #[cfg(feature = "snappy")]
        Compression::Snappy => snap::raw::Encoder::new().compress_vec(data).unwrap(),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => {
            use std::io::Write;
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        #[cfg(feature = "zstd")]
        Compression::Zstd => zstd::bulk::compress(data, 3).unwrap(),
        _ => unreachable!("codec {codec:?} not enabled ({} bytes)", data.len()),
    }
}

#[test]
fn decompression_bombs_hit_the_limit() {
    let limit = 1 << 20;
    let options = DecodeOptions {
        max_decompressed_size: limit,
        verify_crc: true,
    };
    let zeros = Bytes::from(vec![0u8; 10 << 20]);
    let record = Record {
        value: Some(zeros),
        ..Record::default()
    };
    for codec in codecs().into_iter().filter(|c| *c != Compression::None) {
        let set = encode(
            [&record],
            &BatchOptions {
                compression: codec,
                ..BatchOptions::default()
            },
        )
        .unwrap();
        assert!(set.len() < 1 << 20, "{codec:?} should compress zeros");
        let batch = Batches::with_options(set.clone(), options)
            .next()
            .unwrap()
            .unwrap();
        let e = batch.records().unwrap_err();
        assert_eq!(
            e.kind(),
            &DecodeErrorKind::DecompressionLimit { limit },
            "{codec:?}"
        );
        // The default limit lets it through.
        let batch = Batches::new(set).next().unwrap().unwrap();
        assert_eq!(
            batch
                .records()
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .value
                .unwrap()
                .len(),
            10 << 20
        );
    }
    // Legacy wrappers are bounded too.
    if let Some(&codec) = codecs()
        .iter()
        .find(|c| !matches!(c, Compression::None | Compression::Zstd))
    {
        let set = encode_legacy(
            [&record],
            &LegacyOptions {
                compression: codec,
                ..LegacyOptions::default()
            },
        )
        .unwrap();
        let e = Batches::with_options(set, options)
            .next()
            .unwrap()
            .unwrap_err();
        assert_eq!(e.kind(), &DecodeErrorKind::DecompressionLimit { limit });
    }
}

#[cfg(feature = "snappy")]
#[test]
fn xerial_snappy_is_decoded_and_bounded() {
    let records = sample_records();
    let plain = encode(&records, &BatchOptions::default()).unwrap();
    let body = &plain[61..];
    // Java's framing: magic, version 1, compatible version 1, then blocks.
    let mut xerial = b"\x82SNAPPY\x00".to_vec();
    xerial.extend_from_slice(&1i32.to_be_bytes());
    xerial.extend_from_slice(&1i32.to_be_bytes());
    for chunk in body.chunks(50) {
        let block = snap::raw::Encoder::new().compress_vec(chunk).unwrap();
        xerial.extend_from_slice(&(block.len() as i32).to_be_bytes());
        xerial.extend_from_slice(&block);
    }
    let mut b = BytesMut::from(&plain[..61]);
    b[22] |= Compression::Snappy.id() as u8;
    b.extend_from_slice(&xerial);
    let set = fix_v2(b);
    let batch = Batches::new(set.clone()).next().unwrap().unwrap();
    let got: Vec<Record> = batch.records().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(got, records);

    let tiny = DecodeOptions {
        max_decompressed_size: 100,
        verify_crc: true,
    };
    let batch = Batches::with_options(set, tiny).next().unwrap().unwrap();
    assert_eq!(
        batch.records().unwrap_err().kind(),
        &DecodeErrorKind::DecompressionLimit { limit: 100 }
    );

    // A truncated xerial block is a codec error, not a panic.
    let mut b = BytesMut::from(&plain[..61]);
    b[22] |= Compression::Snappy.id() as u8;
    b.extend_from_slice(&xerial[..xerial.len() - 3]);
    let e = records_err(fix_v2(b));
    assert!(
        matches!(
            e.kind(),
            DecodeErrorKind::Compression {
                codec: "snappy",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn uncompressed_decoding_is_zero_copy() {
    let set = sample_batch(Compression::None);
    let range = set.as_ptr() as usize..set.as_ptr() as usize + set.len();
    let batch = Batches::new(set.clone()).next().unwrap().unwrap();
    let mut seen = 0;
    for record in batch.records().unwrap() {
        let record = record.unwrap();
        for b in [record.key.as_ref(), record.value.as_ref()]
            .into_iter()
            .flatten()
            .filter(|b| !b.is_empty())
        {
            assert!(range.contains(&(b.as_ptr() as usize)));
            assert!(range.contains(&(b.as_ptr() as usize + b.len() - 1)));
            seen += 1;
        }
        for (k, v) in &record.headers {
            assert!(range.contains(&(k.as_ptr() as usize)));
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                assert!(range.contains(&(v.as_ptr() as usize)));
            }
        }
        assert!(range.contains(&(record.headers.as_wire_bytes().as_ptr() as usize)));
    }
    assert_eq!(seen, 6);
}

#[test]
fn golden_v2_batch() {
    let expected: &[u8] = &[
        0, 0, 0, 0, 0, 0, 0, 0, // base offset 0
        0, 0, 0, 62, // batch length: 49 header bytes after this field + 13 record bytes
        0xff, 0xff, 0xff, 0xff, // partition leader epoch -1
        2,    // magic
        0x85, 0xd4, 0x93, 0x6f, // CRC32C of everything from the attributes on
        0, 0, // attributes: no codec, create time, not transactional, not control
        0, 0, 0, 0, // last offset delta 0
        0, 0, 0, 0, 0, 0, 0x03, 0xe8, // base timestamp 1000
        0, 0, 0, 0, 0, 0, 0x03, 0xe8, // max timestamp 1000
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // producer id -1
        0xff, 0xff, // producer epoch -1
        0xff, 0xff, 0xff, 0xff, // base sequence -1
        0, 0, 0, 1,    // record count 1
        0x18, // record length 12 (zigzag varint)
        0,    // record attributes
        0,    // timestamp delta 0
        0,    // offset delta 0
        0x02, b'k', // key length 1, "k"
        0x02, b'v', // value length 1, "v"
        0x02, // one header
        0x02, b'h', // header key length 1, "h"
        0x02, b'x', // header value length 1, "x"
    ];
    assert_eq!(crc32c::crc32c(&expected[21..]), 0x85d4936f);
    let record = Record {
        offset: 0,
        timestamp: 1000,
        key: Some(Bytes::from_static(b"k")),
        value: Some(Bytes::from_static(b"v")),
        headers: Headers::from_pairs([("h", Some(b"x"))]).unwrap(),
    };
    let encoded = encode([&record], &BatchOptions::default()).unwrap();
    assert_eq!(&encoded[..], expected);
    let batch = Batches::new(Bytes::from_static(expected))
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(batch.header().crc, 0x85d4936f);
    assert_eq!(batch.records().unwrap().next().unwrap().unwrap(), record);
}

#[test]
fn golden_magic1_message() {
    let expected: &[u8] = &[
        0, 0, 0, 0, 0, 0, 0, 5, // offset 5
        0, 0, 0, 24, // message size
        0xe4, 0xe3, 0x21, 0xbc, // CRC32 (IEEE) of magic..end
        1,    // magic
        0,    // attributes: no codec, create time
        0, 0, 0, 0, 0, 0, 0x03, 0xe8, // timestamp 1000
        0, 0, 0, 1, b'k', // key
        0, 0, 0, 1, b'v', // value
    ];
    let record = Record {
        offset: 5,
        timestamp: 1000,
        key: Some(Bytes::from_static(b"k")),
        value: Some(Bytes::from_static(b"v")),
        headers: Headers::new(),
    };
    let encoded = encode_legacy([&record], &LegacyOptions::default()).unwrap();
    assert_eq!(&encoded[..], expected);
    let batch = Batches::new(Bytes::from_static(expected))
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(batch.header().magic, 1);
    assert_eq!(batch.header().timestamp_type(), TimestampType::CreateTime);
    assert_eq!(batch.records().unwrap().next().unwrap().unwrap(), record);
}
