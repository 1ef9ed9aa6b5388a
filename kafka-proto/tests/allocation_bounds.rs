//! Hostile length prefixes must fail before allocating: a few bytes that
//! claim 2^31 elements may not make any decoder reserve more than a few KB.
//!
//! A counting global allocator measures the peak heap growth during each
//! decode. This file holds a single test so no other test allocates
//! concurrently in the same process.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use kafka_proto::record::{Batches, DecodeOptions};
use kafka_proto::{ApiKey, RequestBody, ResponseBody};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static CALLS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the
// wrapper only keeps byte counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        CALLS.fetch_add(1, Ordering::Relaxed);
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        CALLS.fetch_add(1, Ordering::Relaxed);
        if !p.is_null() {
            if new_size >= layout.size() {
                let grow = new_size - layout.size();
                let now = CURRENT.fetch_add(grow, Ordering::Relaxed) + grow;
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak bytes allocated above the starting level while `f` runs.
fn peak_growth(f: impl FnOnce()) -> usize {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    f();
    PEAK.load(Ordering::Relaxed).saturating_sub(base)
}

/// Allocation calls made while `f` runs.
fn calls(f: impl FnOnce()) -> usize {
    let before = CALLS.load(Ordering::Relaxed);
    f();
    CALLS.load(Ordering::Relaxed) - before
}

const LIMIT: usize = 16 * 1024;

#[test]
fn allocation_bounds() {
    ten_byte_inputs_claiming_huge_collections_allocate_almost_nothing();
    iterating_an_uncompressed_batch_allocates_nothing_per_record();
}

fn ten_byte_inputs_claiming_huge_collections_allocate_almost_nothing() {
    // Each prefix claims 2^31-1 (classic int32) or 2^32-2 (compact varint)
    // elements, strings or bytes, followed by a little filler, 10 bytes total.
    let inputs: Vec<Bytes> = vec![
        Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6]),
        Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3, 4, 5]),
        Bytes::from_static(&[0, 0, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3, 4]),
        Bytes::from_static(&[0, 0x7f, 0xff, 0xff, 0xff, 0x07, 1, 2, 3, 4]),
        Bytes::from_static(&[0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 1, 2]),
        Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x0f]),
    ];
    // The counter must see a real allocation, or the bounds below prove nothing.
    let seen = peak_growth(|| {
        std::hint::black_box(vec![0u8; 100_000]);
    });
    assert!(seen >= 100_000, "allocator hook saw only {seen} bytes");

    let mut worst = (0, String::new());
    let mut decodes = 0;
    for &key in ApiKey::ALL {
        for version in key.versions() {
            for input in &inputs {
                let grew = peak_growth(|| {
                    let _ = RequestBody::decode(key, version, &mut input.clone());
                    let _ = ResponseBody::decode(key, version, &mut input.clone());
                });
                decodes += 2;
                if grew > worst.0 {
                    worst = (grew, format!("{key} v{version} on {:02x?}", &input[..]));
                }
            }
        }
    }
    assert_eq!(decodes, 368 * 2 * inputs.len());
    assert!(
        worst.0 <= LIMIT,
        "{} bytes allocated for {}",
        worst.0,
        worst.1
    );

    // A record batch header claiming 2^31-1 records in a batch of a few bytes.
    let mut batch = vec![0u8; 61];
    batch[8..12].copy_from_slice(&49i32.to_be_bytes()); // batch length: header only
    batch[16] = 2; // magic
    batch[57..61].copy_from_slice(&i32::MAX.to_be_bytes()); // record count
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    let set = Bytes::from(batch);
    let grew = peak_growth(|| {
        for batch in Batches::with_options(set.clone(), DecodeOptions::default()).flatten() {
            if let Ok(records) = batch.records() {
                records.for_each(drop);
            }
        }
    });
    assert!(grew <= LIMIT, "record batch decode allocated {grew} bytes");
}

fn iterating_an_uncompressed_batch_allocates_nothing_per_record() {
    use kafka_proto::record::{encode, BatchOptions, Headers, Record};
    let records: Vec<Record> = (0..1000)
        .map(|i| Record {
            offset: i,
            timestamp: 1_700_000_000_000 + i,
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(vec![b'v'; 100])),
            headers: Headers::from_pairs([("h", Some(&b"1"[..])), ("h", None)]).unwrap(),
        })
        .collect();
    let set = encode(records.iter(), &BatchOptions::default()).unwrap();
    let mut seen = 0usize;
    let n = calls(|| {
        for batch in Batches::new(set.clone()) {
            for record in batch.unwrap().records().unwrap() {
                let record = record.unwrap();
                seen += record.value.map_or(0, |v| v.len());
                seen += record.headers.iter().count();
            }
        }
    });
    assert_eq!(seen, 1000 * 102);
    assert!(n < 10, "{n} allocations while iterating 1,000 records");
}
