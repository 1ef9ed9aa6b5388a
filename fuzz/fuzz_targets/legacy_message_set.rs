//! Legacy (magic 0/1) message sets, plain or compressed: decoding never
//! panics, and what decodes re-encodes to a set that decodes identically.
#![no_main]

use bytes::Bytes;
use kafka_proto::record::{encode_legacy, Batches, Compression, DecodeOptions, LegacyOptions, Record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    // Put the input behind a legacy header so most cases reach the legacy
    // decoder: offset, size, crc, then the fuzzer's magic byte and the rest.
    let mut set = Vec::with_capacity(rest.len() + 16);
    set.extend_from_slice(&0i64.to_be_bytes());
    set.extend_from_slice(&(rest.len() as i32 + 4).to_be_bytes());
    set.extend_from_slice(&crc32fast::hash(rest).to_be_bytes());
    set.extend_from_slice(rest);
    let input = if flags & 2 == 0 { Bytes::from(set) } else { Bytes::copy_from_slice(rest) };
    let options = DecodeOptions {
        max_decompressed_size: 1 << 20,
        verify_crc: flags & 1 == 0,
    };
    for batch in Batches::with_options(input, options) {
        let Ok(batch) = batch else { break };
        let magic = batch.header().magic;
        if magic > 1 {
            continue;
        }
        let Ok(records) = batch.records() else { continue };
        let Ok(records) = records.collect::<Result<Vec<Record>, _>>() else {
            continue;
        };
        let opts = LegacyOptions {
            magic,
            compression: Compression::None,
            compression_level: None,
            timestamp_type: batch.header().timestamp_type(),
        };
        let Ok(again) = encode_legacy(records.iter(), &opts) else {
            continue;
        };
        let back: Vec<Record> = Batches::new(again)
            .flat_map(|b| b.expect("re-encoded entry decodes").records().expect("records"))
            .collect::<Result<_, _>>()
            .expect("re-encoded records decode");
        assert_eq!(back, records);
    }
});
