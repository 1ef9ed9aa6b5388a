//! Differential tests against the `kafka-protocol` crate: batches it encodes
//! decode to the same records in ours, and batches we encode decode to the
//! same records in its decoder. Decoded records are compared, never bytes.

use bytes::{Bytes, BytesMut};
use kafka_proto::record::{
    encode, BatchOptions, Batches, Compression, Headers, Record, TimestampType,
};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records as kp;
use proptest::prelude::*;

const PAIRS: [(Compression, kp::Compression); 5] = [
    (Compression::None, kp::Compression::None),
    (Compression::Gzip, kp::Compression::Gzip),
    (Compression::Snappy, kp::Compression::Snappy),
    (Compression::Lz4, kp::Compression::Lz4),
    (Compression::Zstd, kp::Compression::Zstd),
];

#[derive(Debug, Clone)]
struct Case {
    base_offset: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    partition_leader_epoch: i32,
    records: Vec<Record>,
}

fn arb_opt_bytes() -> impl Strategy<Value = Option<Bytes>> {
    prop_oneof![
        Just(None),
        Just(Some(Bytes::new())),
        proptest::collection::vec(any::<u8>(), 1..64).prop_map(|v| Some(Bytes::from(v))),
    ]
}

fn arb_case() -> impl Strategy<Value = Case> {
    // kafka-protocol keeps headers in a map, so keys are unique here.
    let headers = proptest::collection::btree_map("[a-z]{1,6}", arb_opt_bytes(), 0..4)
        .prop_map(|m| Headers::from_pairs(m).unwrap());
    let record = (
        arb_opt_bytes(),
        arb_opt_bytes(),
        headers,
        -50_000i64..50_000,
        1i64..50,
    );
    (
        0i64..1 << 40,
        any::<i64>(),
        any::<i16>(),
        0i32..1 << 30,
        any::<bool>(),
        any::<i32>(),
        0i64..1 << 41,
        proptest::collection::vec(record, 1..12),
    )
        .prop_map(|(base_offset, pid, epoch, seq, txn, ple, base_ts, rs)| {
            let mut offset = base_offset;
            let records = rs
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
                .collect();
            Case {
                base_offset,
                producer_id: pid,
                producer_epoch: epoch,
                base_sequence: seq,
                transactional: txn,
                partition_leader_epoch: ple,
                records,
            }
        })
}

fn to_theirs(case: &Case) -> Vec<kp::Record> {
    case.records
        .iter()
        .map(|r| kp::Record {
            transactional: case.transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: case.partition_leader_epoch,
            producer_id: case.producer_id,
            producer_epoch: case.producer_epoch,
            timestamp_type: kp::TimestampType::Creation,
            offset: r.offset,
            // Consistent sequences keep the records in one batch.
            sequence: case
                .base_sequence
                .wrapping_add((r.offset - case.base_offset) as i32),
            timestamp: r.timestamp,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (StrBytes::from_string(k.to_owned()), v))
                .collect::<IndexMap<_, _>>(),
        })
        .collect()
}

fn assert_same(theirs: &[kp::Record], ours: &[Record], case: &Case) {
    assert_eq!(theirs.len(), ours.len());
    for (t, o) in theirs.iter().zip(ours) {
        assert_eq!(t.offset, o.offset);
        assert_eq!(t.timestamp, o.timestamp);
        assert_eq!(t.key, o.key);
        assert_eq!(t.value, o.value);
        let th: Vec<(&str, Option<Bytes>)> = t
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let oh: Vec<(&str, Option<Bytes>)> = o.headers.iter().collect();
        assert_eq!(th, oh);
        assert_eq!(t.producer_id, case.producer_id);
        assert_eq!(t.producer_epoch, case.producer_epoch);
        assert_eq!(t.transactional, case.transactional);
        assert_eq!(t.partition_leader_epoch, case.partition_leader_epoch);
        assert_eq!(
            t.sequence,
            case.base_sequence
                .wrapping_add((o.offset - case.base_offset) as i32)
        );
        assert_eq!(t.timestamp_type, kp::TimestampType::Creation);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn theirs_encoded_decodes_identically_in_ours(case in arb_case()) {
        let records = to_theirs(&case);
        for (ours_codec, their_codec) in PAIRS {
            if !ours_codec.is_enabled() {
                continue;
            }
            let mut buf = BytesMut::new();
            kp::RecordBatchEncoder::encode(
                &mut buf,
                &records,
                &kp::RecordEncodeOptions { version: 2, compression: their_codec },
            )
            .unwrap();
            let mut batches = Batches::new(buf.freeze());
            let batch = batches.next().unwrap().unwrap();
            prop_assert!(batches.next().is_none() && !batches.is_truncated(), "one batch expected");
            let h = batch.header();
            prop_assert_eq!(h.compression(), Some(ours_codec));
            prop_assert_eq!(h.producer_id, case.producer_id);
            prop_assert_eq!(h.producer_epoch, case.producer_epoch);
            prop_assert_eq!(h.base_sequence, case.base_sequence);
            prop_assert_eq!(h.partition_leader_epoch, case.partition_leader_epoch);
            prop_assert_eq!(h.is_transactional(), case.transactional);
            prop_assert_eq!(h.timestamp_type(), TimestampType::CreateTime);
            prop_assert_eq!(h.last_offset(), case.records.last().unwrap().offset);
            let ours: Vec<Record> = batch.records().unwrap().collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(&ours, &case.records);
            assert_same(&records, &ours, &case);
        }
    }

    #[test]
    fn ours_encoded_decodes_identically_in_theirs(case in arb_case()) {
        for (ours_codec, their_codec) in PAIRS {
            if !ours_codec.is_enabled() {
                continue;
            }
            let options = BatchOptions {
                base_offset: case.base_offset,
                partition_leader_epoch: case.partition_leader_epoch,
                producer_id: case.producer_id,
                producer_epoch: case.producer_epoch,
                base_sequence: case.base_sequence,
                transactional: case.transactional,
                compression: ours_codec,
                ..BatchOptions::default()
            };
            let mut bytes = encode(&case.records, &options).unwrap();
            let set = kp::RecordBatchDecoder::decode(&mut bytes).unwrap();
            prop_assert!(bytes.is_empty());
            prop_assert_eq!(set.version, 2);
            prop_assert_eq!(set.compression, their_codec);
            assert_same(&set.records, &case.records, &case);
        }
    }
}
