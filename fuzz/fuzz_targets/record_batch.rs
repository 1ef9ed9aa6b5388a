//! A record set with decompression: decoding never panics, respects the
//! inflation limit, the owned, shared and lent record views (lent whole or
//! resumed after every few records) yield the same records and fail at the
//! same place, and every v2 batch that decodes
//! re-encodes (without compression) to a batch whose records decode
//! identically.
#![no_main]

use bytes::Bytes;
use kafka_proto::record::{
    encode, BatchOptions, Batches, Compression, DecodeOptions, Record, RecordBatch, TimestampType,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let options = DecodeOptions {
        max_decompressed_size: 1 << 20,
        // Skipping the CRC check lets mutated batches reach the record parsers.
        verify_crc: flags & 1 == 0,
    };
    for batch in Batches::with_options(Bytes::copy_from_slice(rest), options) {
        let Ok(batch) = batch else { break };
        let header = *batch.header();
        same_views(&batch, usize::from(flags >> 1) % 7 + 1);
        let Ok(records) = batch.records() else {
            continue;
        };
        let records: Result<Vec<Record>, _> = records.collect();
        let Ok(records) = records else { continue };
        if header.magic != 2 || records.is_empty() {
            continue;
        }
        let opts = BatchOptions {
            base_offset: records[0].offset,
            partition_leader_epoch: header.partition_leader_epoch,
            producer_id: header.producer_id,
            producer_epoch: header.producer_epoch,
            base_sequence: header.base_sequence,
            transactional: header.is_transactional(),
            control: header.is_control(),
            delete_horizon: false,
            timestamp_type: TimestampType::CreateTime,
            compression: Compression::None,
            compression_level: None,
        };
        // Offsets or timestamps a hostile batch declares may not be
        // encodable (not increasing, deltas overflowing): that is an error,
        // not a bug. What does encode must decode to the same records.
        let Ok(again) = encode(records.iter(), &opts) else {
            continue;
        };
        let mut batches = Batches::new(again);
        let back = batches
            .next()
            .expect("one batch")
            .expect("re-encoded batch decodes");
        let back: Vec<Record> = back
            .records()
            .expect("records")
            .collect::<Result<_, _>>()
            .expect("re-encoded records decode");
        assert_eq!(back, records);
    }
});

/// Each view of the batch as a list of records, or errors as text.
fn same_views(batch: &RecordBatch, step: usize) {
    type View = Result<Vec<Result<Record, String>>, String>;
    let err = |e: kafka_proto::DecodeError| e.to_string();
    let owned: View = batch
        .records()
        .map(|r| r.map(|r| r.map_err(err)).collect())
        .map_err(err);
    let shared: View = batch
        .records_shared()
        .map(|r| r.map(|r| r.map(Record::from).map_err(err)).collect())
        .map_err(err);
    let lent: View = batch
        .records_ref()
        .map(|data| {
            data.iter()
                .map(|r| r.map(|r| data.keep(&r)).map_err(err))
                .collect()
        })
        .map_err(err);
    // Lent again, stopping every `step` records and resuming from the
    // position: the same records and the same failure.
    let resumed: View = batch
        .records_ref()
        .map(|data| {
            let mut out = Vec::new();
            let mut at = data.iter().position();
            loop {
                let mut refs = data.iter_at(at);
                let before = out.len();
                out.extend(
                    refs.by_ref()
                        .take(step)
                        .map(|r| r.map(|r| data.keep(&r)).map_err(err)),
                );
                if out.len() == before {
                    return out;
                }
                at = refs.position();
            }
        })
        .map_err(err);
    assert_eq!(owned, shared);
    assert_eq!(owned, lent);
    assert_eq!(owned, resumed);
}
