//! Encode→decode round trips for v2 batches (every codec), legacy message
//! sets, control records, and header re-stamping.

use bytes::{Bytes, BytesMut};
use kafka_proto::record::{
    assign_offsets, encode, encode_control_batch, encode_legacy, BatchHeaderMut, BatchOptions,
    Batches, Compression, ControlRecord, ControlRecordType, DecodeOptions, EndTxnMarker, Headers,
    LegacyOptions, Record, RecordBatch, RecordBatchBuilder, RecordRef, TimestampType, NO_TIMESTAMP,
};
use kafka_proto::{DecodeErrorKind, EncodeError};
use proptest::prelude::*;

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn enabled_codecs() -> impl Iterator<Item = Compression> {
    CODECS.into_iter().filter(|c| c.is_enabled())
}

fn arb_opt_bytes() -> impl Strategy<Value = Option<Bytes>> {
    prop_oneof![
        Just(None),
        Just(Some(Bytes::new())),
        proptest::collection::vec(any::<u8>(), 1..48).prop_map(|v| Some(Bytes::from(v))),
    ]
}

fn arb_headers() -> impl Strategy<Value = Headers> {
    // A small key alphabet makes duplicate keys common.
    let key = prop_oneof![Just(String::new()), "[ab]", "\\PC{0,6}"];
    proptest::collection::vec((key, arb_opt_bytes()), 0..4)
        .prop_map(|pairs| Headers::from_pairs(pairs).unwrap())
}

/// Records at increasing offsets from `base_offset`, with timestamps
/// around a base (deltas may be negative).
fn arb_records(base_offset: i64) -> impl Strategy<Value = Vec<Record>> {
    let record = (
        arb_opt_bytes(),
        arb_opt_bytes(),
        arb_headers(),
        -100_000i64..100_000,
        1i64..300,
    );
    (
        0i64..1 << 42,
        0i64..3,
        proptest::collection::vec(record, 0..16),
    )
        .prop_map(move |(base_ts, first_gap, records)| {
            let mut offset = base_offset + first_gap;
            records
                .into_iter()
                .enumerate()
                .map(|(i, (key, value, headers, ts, gap))| {
                    if i > 0 {
                        offset += gap;
                    }
                    Record {
                        offset,
                        timestamp: base_ts + ts,
                        key,
                        value,
                        headers,
                    }
                })
                .collect()
        })
}

fn arb_options() -> impl Strategy<Value = BatchOptions> {
    (
        0i64..1 << 50,
        any::<i32>(),
        any::<i64>(),
        any::<i16>(),
        any::<i32>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(base_offset, ple, pid, epoch, seq, txn, control, log_append)| BatchOptions {
                base_offset,
                partition_leader_epoch: ple,
                producer_id: pid,
                producer_epoch: epoch,
                base_sequence: seq,
                transactional: txn,
                control,
                timestamp_type: if log_append {
                    TimestampType::LogAppendTime
                } else {
                    TimestampType::CreateTime
                },
                ..BatchOptions::default()
            },
        )
}

fn decode_all(set: Bytes) -> Vec<(RecordBatch, Vec<Record>)> {
    let mut batches = Batches::new(set);
    let out = batches
        .by_ref()
        .map(|b| {
            let b = b.unwrap();
            let records = b.records().unwrap().collect::<Result<Vec<_>, _>>().unwrap();
            // The borrowed iterator agrees record for record.
            let data = b.records_ref().unwrap();
            let borrowed: Vec<RecordRef<'_>> = data.iter().collect::<Result<_, _>>().unwrap();
            assert_eq!(borrowed.len(), records.len());
            for (r, o) in borrowed.iter().zip(&records) {
                assert_eq!(r, o);
                assert_eq!(&r.to_record(), o);
                assert_eq!(&data.keep(r), o);
                assert_eq!(r.headers.len(), o.headers.len());
                let rh: Vec<(&str, Option<&[u8]>)> = r.headers.iter().collect();
                let oh: Vec<(&str, Option<Bytes>)> = o.headers.iter().collect();
                assert!(rh
                    .iter()
                    .map(|(k, v)| (*k, v.map(Bytes::copy_from_slice)))
                    .eq(oh));
                for (k, _) in &rh {
                    assert_eq!(
                        r.headers.last(k).map(|v| v.map(Bytes::copy_from_slice)),
                        o.headers.last(k)
                    );
                }
            }
            (b, records)
        })
        .collect();
    assert!(!batches.is_truncated());
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn v2_round_trip_every_codec(
        (options, records) in arb_options().prop_flat_map(|o| (Just(o), arb_records(o.base_offset)))
    ) {
        let max_ts = records.iter().map(|r| r.timestamp).max();
        let expected: Vec<Record> = records
            .iter()
            .cloned()
            .map(|mut r| {
                if options.timestamp_type == TimestampType::LogAppendTime {
                    r.timestamp = max_ts.unwrap();
                }
                r
            })
            .collect();
        for codec in enabled_codecs() {
            let options = BatchOptions { compression: codec, ..options };
            let bytes = encode(&records, &options).unwrap();
            let decoded = decode_all(bytes);
            prop_assert_eq!(decoded.len(), 1);
            let (batch, got) = &decoded[0];
            let h = batch.header();
            prop_assert_eq!(got, &expected, "codec {:?}", codec);
            prop_assert_eq!(h.magic, 2);
            prop_assert_eq!(h.compression(), Some(codec));
            prop_assert_eq!(h.base_offset, options.base_offset);
            prop_assert_eq!(h.partition_leader_epoch, options.partition_leader_epoch);
            prop_assert_eq!(h.producer_id, options.producer_id);
            prop_assert_eq!(h.producer_epoch, options.producer_epoch);
            prop_assert_eq!(h.base_sequence, options.base_sequence);
            prop_assert_eq!(h.is_transactional(), options.transactional);
            prop_assert_eq!(h.is_control(), options.control);
            prop_assert_eq!(h.timestamp_type(), options.timestamp_type);
            prop_assert_eq!(h.record_count as usize, records.len());
            if let Some(last) = records.last() {
                prop_assert_eq!(h.last_offset(), last.offset);
                prop_assert_eq!(h.base_timestamp, records[0].timestamp);
                prop_assert_eq!(h.max_timestamp, max_ts.unwrap());
            }
            // Duplicate header keys come back in order.
            for (g, r) in got.iter().zip(&records) {
                let a: Vec<_> = g.headers.iter().collect();
                let b: Vec<_> = r.headers.iter().collect();
                prop_assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn builder_append_matches_encode(
        (options, records) in arb_options().prop_flat_map(|o| (Just(o), arb_records(o.base_offset)))
    ) {
        // Consecutive offsets through append_with_headers.
        let mut b = RecordBatchBuilder::new(options);
        for r in &records {
            let owned: Vec<(String, Option<Bytes>)> =
                r.headers.iter().map(|(k, v)| (k.to_owned(), v)).collect();
            let pairs = owned.iter().map(|(k, v)| (k.as_str(), v.as_deref()));
            b.append_with_headers(r.timestamp, r.key.as_deref(), r.value.as_deref(), pairs).unwrap();
        }
        let decoded = decode_all(b.finish().unwrap());
        let got = &decoded[0].1;
        prop_assert_eq!(got.len(), records.len());
        for (i, (g, r)) in got.iter().zip(&records).enumerate() {
            prop_assert_eq!(g.offset, options.base_offset + i as i64);
            prop_assert_eq!(&g.key, &r.key);
            prop_assert_eq!(&g.value, &r.value);
            prop_assert_eq!(&g.headers, &r.headers);
        }
    }

    #[test]
    fn legacy_round_trip(
        magic in 0i8..=1,
        codec in prop_oneof![Just(Compression::None), Just(Compression::Gzip), Just(Compression::Snappy), Just(Compression::Lz4)],
        log_append in any::<bool>(),
        base in 0i64..1 << 40,
        records in arb_records(0),
    ) {
        prop_assume!(codec.is_enabled());
        let log_append = log_append && magic == 1;
        let records: Vec<Record> = records
            .into_iter()
            .map(|r| Record { offset: r.offset + base, headers: Headers::new(), ..r })
            .collect();
        let options = LegacyOptions {
            magic,
            compression: codec,
            timestamp_type: if log_append { TimestampType::LogAppendTime } else { TimestampType::CreateTime },
            ..LegacyOptions::default()
        };
        let set = encode_legacy(&records, &options).unwrap();
        let max_ts = records.iter().map(|r| r.timestamp).max().unwrap_or(NO_TIMESTAMP);
        let expected: Vec<Record> = records
            .iter()
            .cloned()
            .map(|mut r| {
                if magic == 0 {
                    r.timestamp = NO_TIMESTAMP;
                } else if log_append && codec != Compression::None {
                    r.timestamp = max_ts;
                }
                r
            })
            .collect();
        let decoded = decode_all(set);
        let expected_batches = if codec == Compression::None { records.len() } else { usize::from(!records.is_empty()) };
        prop_assert_eq!(decoded.len(), expected_batches);
        let got: Vec<Record> = decoded.iter().flat_map(|(_, r)| r.clone()).collect();
        prop_assert_eq!(got, expected);
        for (b, rs) in &decoded {
            prop_assert_eq!(b.header().magic, magic);
            prop_assert_eq!(b.header().compression(), Some(codec));
            prop_assert_eq!(b.header().base_offset, rs[0].offset);
            prop_assert_eq!(b.header().last_offset(), rs.last().unwrap().offset);
            prop_assert_eq!(b.header().record_count as usize, rs.len());
        }
    }
}

/// Every key length from 0 to past the encoder's short-key fast path
/// (32 bytes), each key followed by a value, so a copy that wrote too far
/// or too little shows up.
#[test]
fn keys_of_every_short_length_round_trip() {
    let records: Vec<Record> = (0..=40u8)
        .map(|len| Record {
            offset: i64::from(len),
            timestamp: 1000,
            key: Some((1..=len).collect::<Vec<u8>>().into()),
            value: Some(Bytes::from(vec![0xee; usize::from(len) % 5])),
            headers: Headers::new(),
        })
        .collect();
    let wire = encode(&records, &BatchOptions::default()).unwrap();
    let batch = RecordBatch::decode(&mut wire.clone(), &DecodeOptions::default()).unwrap();
    let back: Vec<Record> = batch.records().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(back, records);
}

#[test]
fn mixed_magic_record_set() {
    let r = |offset: i64| Record {
        offset,
        timestamp: 1000 + offset,
        key: Some(Bytes::from(format!("k{offset}"))),
        value: Some(Bytes::from_static(b"v")),
        headers: Headers::new(),
    };
    let mut set = BytesMut::new();
    set.extend_from_slice(
        &encode_legacy(
            [&r(0), &r(1)],
            &LegacyOptions {
                magic: 0,
                ..LegacyOptions::default()
            },
        )
        .unwrap(),
    );
    let codec = enabled_codecs().last().unwrap_or(Compression::None);
    let legacy_codec = if codec == Compression::Zstd {
        Compression::None
    } else {
        codec
    };
    set.extend_from_slice(
        &encode_legacy(
            [&r(2), &r(3)],
            &LegacyOptions {
                magic: 1,
                compression: legacy_codec,
                ..LegacyOptions::default()
            },
        )
        .unwrap(),
    );
    set.extend_from_slice(
        &encode(
            [&r(4), &r(5)],
            &BatchOptions {
                base_offset: 4,
                compression: codec,
                ..BatchOptions::default()
            },
        )
        .unwrap(),
    );
    let decoded = decode_all(set.freeze());
    let magics: Vec<i8> = decoded.iter().map(|(b, _)| b.header().magic).collect();
    let expected_magics: &[i8] = if legacy_codec == Compression::None {
        &[0, 0, 1, 1, 2]
    } else {
        &[0, 0, 1, 2]
    };
    assert_eq!(magics, expected_magics);
    let records: Vec<Record> = decoded.into_iter().flat_map(|(_, r)| r).collect();
    let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [0, 1, 2, 3, 4, 5]);
    assert_eq!(records[0].timestamp, NO_TIMESTAMP);
    assert_eq!(records[3].timestamp, 1003);
    assert_eq!(records[5].key.as_deref(), Some(&b"k5"[..]));
}

#[test]
fn control_records_round_trip() {
    for marker in [
        ControlRecord::Abort(EndTxnMarker::new(7)),
        ControlRecord::Commit(EndTxnMarker::new(-1)),
    ] {
        let options = BatchOptions {
            base_offset: 10,
            producer_id: 99,
            producer_epoch: 3,
            ..BatchOptions::default()
        };
        let set = encode_control_batch(&options, 1234, &marker).unwrap();
        let decoded = decode_all(set);
        let (batch, records) = &decoded[0];
        assert!(batch.header().is_control());
        assert!(batch.header().is_transactional());
        assert_eq!(batch.header().producer_id, 99);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].offset, 10);
        assert_eq!(records[0].timestamp, 1234);
        assert_eq!(ControlRecord::from_record(&records[0]).unwrap(), marker);
        // Key and value wire forms are the Kafka ones.
        let id = if matches!(marker, ControlRecord::Abort(_)) {
            0
        } else {
            1
        };
        assert_eq!(records[0].key.as_deref(), Some(&[0, 0, 0, id][..]));
        assert_eq!(records[0].value.as_ref().map(|v| v.len()), Some(6));
    }
    // Other types keep their id; newer versions with trailing fields parse.
    let other = ControlRecord::from_key_value(Some(&[0, 1, 0, 2, 9, 9]), None).unwrap();
    assert_eq!(
        other,
        ControlRecord::Other {
            kind: ControlRecordType::LeaderChange,
            version: 1
        }
    );
    let m =
        ControlRecord::from_key_value(Some(&[0, 1, 0, 0]), Some(&[0, 1, 0, 0, 0, 4, 7])).unwrap();
    assert_eq!(
        m,
        ControlRecord::Abort(EndTxnMarker {
            version: 1,
            coordinator_epoch: 4
        })
    );
    // Malformed keys and values are errors.
    assert!(ControlRecord::from_key_value(None, None).is_err());
    assert!(ControlRecord::from_key_value(Some(&[0, 0, 0]), None).is_err());
    assert!(ControlRecord::from_key_value(Some(&[0xff, 0xff, 0, 0]), Some(&[0; 6])).is_err());
    assert!(ControlRecord::from_key_value(Some(&[0, 0, 0, 1]), None).is_err());
    assert!(ControlRecord::from_key_value(Some(&[0, 0, 0, 1]), Some(&[0, 0, 0])).is_err());
}

#[test]
fn restamp_offsets_epoch_producer_and_append_time() {
    let records: Vec<Record> = (0..3)
        .map(|i| Record {
            offset: i,
            timestamp: 100 + i,
            value: Some(Bytes::from_static(b"x")),
            ..Record::default()
        })
        .collect();
    let one = encode(&records, &BatchOptions::default()).unwrap();
    let mut set = BytesMut::new();
    set.extend_from_slice(&one);
    set.extend_from_slice(&one);
    assert_eq!(assign_offsets(&mut set, 1000).unwrap(), 1006);

    let (first, _) = set.split_at_mut(one.len());
    let mut h = BatchHeaderMut::new(first).unwrap();
    h.set_partition_leader_epoch(12);
    h.set_producer(77, 5, 40);
    h.set_log_append_time(9999);

    let decoded = decode_all(set.freeze());
    let offsets: Vec<i64> = decoded
        .iter()
        .flat_map(|(_, r)| r.iter().map(|r| r.offset))
        .collect();
    assert_eq!(offsets, [1000, 1001, 1002, 1003, 1004, 1005]);
    let h = decoded[0].0.header();
    assert_eq!(
        (
            h.partition_leader_epoch,
            h.producer_id,
            h.producer_epoch,
            h.base_sequence
        ),
        (12, 77, 5, 40)
    );
    assert_eq!(h.timestamp_type(), TimestampType::LogAppendTime);
    assert!(decoded[0].1.iter().all(|r| r.timestamp == 9999));
    assert_eq!(decoded[1].1[2].timestamp, 102);

    // Wrong inputs are refused rather than corrupted.
    let mut short = BytesMut::from(&one[..30]);
    assert!(BatchHeaderMut::new(&mut short).is_err());
    let mut legacy =
        BytesMut::from(&encode_legacy(&records, &LegacyOptions::default()).unwrap()[..]);
    assert!(assign_offsets(&mut legacy, 0).is_err());
}

#[test]
fn builder_validates_arguments() {
    let mut b = RecordBatchBuilder::new(BatchOptions::default());
    b.append(i64::MIN, None, None).unwrap();
    let e = b.append(i64::MAX, None, None).unwrap_err();
    assert!(
        matches!(
            e,
            EncodeError::Invalid {
                what: "Record.Timestamp",
                ..
            }
        ),
        "{e}"
    );

    let base = BatchOptions {
        base_offset: 10,
        ..BatchOptions::default()
    };
    let at = |offset| Record {
        offset,
        ..Record::default()
    };
    // Offset delta beyond i32, below the base, or not increasing.
    assert!(encode([&at(10 + (1 << 31))], &base).is_err());
    assert!(encode([&at(9)], &base).is_err());
    assert!(encode([&at(11), &at(11)], &base).is_err());
    // The next implicit offset delta would overflow.
    let mut b = RecordBatchBuilder::new(base);
    b.append_record(&at(10 + i64::from(i32::MAX))).unwrap();
    assert!(b.append(0, None, None).is_err());

    // Legacy options are checked.
    let r = at(0);
    for bad in [
        LegacyOptions {
            magic: 2,
            ..LegacyOptions::default()
        },
        LegacyOptions {
            magic: 0,
            timestamp_type: TimestampType::LogAppendTime,
            ..LegacyOptions::default()
        },
        LegacyOptions {
            compression: Compression::Zstd,
            ..LegacyOptions::default()
        },
    ] {
        assert!(encode_legacy([&r], &bad).is_err(), "{bad:?}");
    }
    let with_headers = Record {
        headers: Headers::from_pairs([("a", None::<&[u8]>)]).unwrap(),
        ..r
    };
    assert!(encode_legacy([&with_headers], &LegacyOptions::default()).is_err());
}

#[test]
fn empty_batch_round_trips() {
    let bytes = RecordBatchBuilder::new(BatchOptions::default())
        .finish()
        .unwrap();
    assert_eq!(bytes.len(), 61);
    let decoded = decode_all(bytes);
    assert_eq!(decoded[0].0.header().record_count, 0);
    assert!(decoded[0].1.is_empty());
}

#[test]
fn disabled_codecs_are_clear_errors() {
    for codec in CODECS.into_iter().filter(|c| !c.is_enabled()) {
        let options = BatchOptions {
            compression: codec,
            ..BatchOptions::default()
        };
        let e = encode([&Record::default()], &options).unwrap_err();
        assert_eq!(e, EncodeError::UnsupportedCompression(codec.name()));
    }
    // A batch whose codec is unavailable decodes its header but not its records.
    #[cfg(not(feature = "gzip"))]
    {
        let mut raw =
            BytesMut::from(&encode([&Record::default()], &BatchOptions::default()).unwrap()[..]);
        raw[22] |= 1; // gzip
        let crc = crc32c::crc32c(&raw[21..]);
        raw[17..21].copy_from_slice(&crc.to_be_bytes());
        let batch = RecordBatch::decode(&mut raw.freeze(), &DecodeOptions::default()).unwrap();
        let e = batch.records().unwrap_err();
        assert_eq!(e.kind(), &DecodeErrorKind::UnsupportedCompression(1));
    }
    let _ = (DecodeOptions::default(), DecodeErrorKind::TrailingBytes(0));
}
