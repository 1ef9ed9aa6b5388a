//! Writes the seed corpus of the record targets: `cargo run --example record_seeds`.
//!
//! `record_batch`: one flag byte (0: CRC checked) then a v2 batch in each
//! codec, with keys, null values and duplicate headers. `legacy_message_set`:
//! flag byte 2 (input used as is) then magic 0 and 1 sets, plain and
//! compressed.

use std::fs;
use std::path::PathBuf;

use bytes::Bytes;
use kafka_proto::record::{
    encode, encode_legacy, BatchOptions, Compression, Headers, LegacyOptions, Record,
};

fn records(with_headers: bool) -> Vec<Record> {
    (0..5)
        .map(|i| Record {
            offset: i,
            timestamp: 1_700_000_000_000 + i,
            key: (i % 2 == 0).then(|| Bytes::from(format!("key-{i}"))),
            value: (i != 3).then(|| Bytes::from(vec![b'a' + i as u8; 20])),
            headers: if with_headers {
                Headers::from_pairs([("h", Some(&b"1"[..])), ("h", None)]).expect("headers")
            } else {
                Headers::new()
            },
        })
        .collect()
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let batch_dir = root.join("record_batch");
    let legacy_dir = root.join("legacy_message_set");
    fs::create_dir_all(&batch_dir).expect("create corpus dir");
    fs::create_dir_all(&legacy_dir).expect("create corpus dir");
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    for codec in codecs {
        let opts = BatchOptions {
            compression: codec,
            producer_id: 7,
            producer_epoch: 1,
            base_sequence: 0,
            ..BatchOptions::default()
        };
        let batch = encode(records(true).iter(), &opts).expect("encode seed batch");
        let mut seed = vec![0u8];
        seed.extend_from_slice(&batch);
        fs::write(batch_dir.join(format!("v2-{}", codec.name())), seed).expect("write seed");
    }
    for magic in [0i8, 1] {
        for codec in [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4] {
            let opts = LegacyOptions {
                magic,
                compression: codec,
                ..LegacyOptions::default()
            };
            let set = encode_legacy(records(false).iter(), &opts).expect("encode seed set");
            let mut seed = vec![2u8];
            seed.extend_from_slice(&set);
            fs::write(legacy_dir.join(format!("magic{magic}-{}", codec.name())), seed)
                .expect("write seed");
        }
    }
}
