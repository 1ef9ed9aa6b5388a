//! With the `heap-peak` feature: a counting allocator that reports, at the
//! end of a child run, the peak of live heap bytes and which allocation
//! sizes made it up. Off by default: the counting costs a few atomics per
//! allocation, which would tilt the CPU columns against our clients
//! (librdkafka allocates with C's malloc, which is not counted).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

const BUCKETS: usize = 40;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Live bytes per power-of-two size class.
static BY_SIZE: [AtomicUsize; BUCKETS] = [const { AtomicUsize::new(0) }; BUCKETS];
/// The per-class bytes when the peak last grew by a megabyte or more.
static AT_PEAK: Mutex<[usize; BUCKETS]> = Mutex::new([0; BUCKETS]);
static SNAPSHOT: AtomicUsize = AtomicUsize::new(0);

fn bucket(size: usize) -> usize {
    (usize::BITS - size.leading_zeros()).min(BUCKETS as u32 - 1) as usize
}

thread_local! {
    static IN_TRACE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}
static TRACED: AtomicUsize = AtomicUsize::new(0);
static TRACE_FROM: AtomicUsize = AtomicUsize::new(usize::MAX);

/// `HEAP_TRACE=BYTES`: print a backtrace for the first 40 allocations of
/// at least that size.
pub fn init() {
    if let Some(n) = std::env::var("HEAP_TRACE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        TRACE_FROM.store(n, Relaxed);
    }
}

fn grew(size: usize) {
    if size >= TRACE_FROM.load(Relaxed) && TRACED.fetch_add(1, Relaxed) < 40 {
        IN_TRACE.with(|t| {
            if !t.replace(true) {
                eprintln!(
                    "ALLOC {size}\n{}",
                    std::backtrace::Backtrace::force_capture()
                );
                t.set(false);
            }
        });
    }
    BY_SIZE[bucket(size)].fetch_add(size, Relaxed);
    let live = LIVE.fetch_add(size, Relaxed) + size;
    if live > PEAK.fetch_max(live, Relaxed) && live > SNAPSHOT.load(Relaxed) + (1 << 20) {
        if let Ok(mut snap) = AT_PEAK.try_lock() {
            SNAPSHOT.store(live, Relaxed);
            for (s, b) in snap.iter_mut().zip(&BY_SIZE) {
                *s = b.load(Relaxed);
            }
        }
    }
}

fn shrank(size: usize) {
    BY_SIZE[bucket(size)].fetch_sub(size, Relaxed);
    LIVE.fetch_sub(size, Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Prints the peak of live heap bytes and its make-up by size class to
/// stderr.
pub fn report() {
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    eprintln!(
        "heap peak {:.1} MiB (snapshot at {:.1} MiB), now {:.1} MiB",
        mib(PEAK.load(Relaxed)),
        mib(SNAPSHOT.load(Relaxed)),
        mib(LIVE.load(Relaxed))
    );
    let snap = *AT_PEAK.lock().expect("not poisoned");
    for (i, b) in snap.iter().enumerate() {
        if *b >= 1 << 18 {
            eprintln!(
                "  sizes {}..{} B: {:.1} MiB",
                if i == 0 { 0 } else { 1usize << (i - 1) },
                1usize << i,
                mib(*b)
            );
        }
    }
}
