//! Wall-clock time and seeds: what the sans-IO core leaves to the adapter.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Record create times for an adapter, at one clock read per send
/// instead of two: the wall clock is read at most once a second and
/// carried forward from the monotonic `now` the send already has. Between
/// readings the result strays from the wall clock only as fast as the
/// system slews it (NTP: at most 0.5 ms a second); a step of the clock
/// shows at the next reading.
///
/// ```
/// use std::time::{Duration, Instant};
/// let mut clock = kafka_driver::WallClock::default();
/// let start = Instant::now();
/// assert_eq!(clock.millis(start, || 1_000), 1_000);
/// // Within the second, the reader is not called.
/// let later = start + Duration::from_millis(250);
/// assert_eq!(clock.millis(later, || unreachable!()), 1_250);
/// ```
#[derive(Debug, Default, Clone)]
pub struct WallClock {
    anchor: Option<(Instant, i64)>,
}

impl WallClock {
    /// How long a wall-clock reading is carried forward.
    pub const RESYNC: Duration = Duration::from_secs(1);

    /// Milliseconds since the Unix epoch at `now`; `read` reads the wall
    /// clock, when needed.
    pub fn millis(&mut self, now: Instant, read: impl FnOnce() -> i64) -> i64 {
        if let Some((at, ms)) = self.anchor {
            if let Some(since) = now.checked_duration_since(at) {
                if since < Self::RESYNC {
                    return ms.saturating_add(since.as_millis() as i64);
                }
            }
        }
        let ms = read();
        self.anchor = Some((now, ms));
        ms
    }
}

/// Milliseconds since the Unix epoch, for record create times.
pub fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A seed from the standard library's per-process random keys, for a
/// `Config::seed` left at 0: SCRAM nonces and jitter must not be
/// predictable in production. Never 0.
pub fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.finish() | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_clock_reads_again_after_a_second_or_when_now_goes_back() {
        let mut clock = WallClock::default();
        let t0 = Instant::now();
        let mut reads = 0;
        let mut read = |v: i64| {
            reads += 1;
            v
        };
        assert_eq!(clock.millis(t0, || read(5_000)), 5_000);
        let ms = |d: u64| Duration::from_millis(d);
        assert_eq!(clock.millis(t0 + ms(999), || read(0)), 5_999);
        // A second on: the wall clock is read again, and a step shows.
        assert_eq!(clock.millis(t0 + ms(1_000), || read(9_000)), 9_000);
        assert_eq!(clock.millis(t0 + ms(1_010), || read(0)), 9_010);
        // An earlier `now` than the last reading (another thread's) reads.
        assert_eq!(clock.millis(t0 + ms(500), || read(8_500)), 8_500);
        assert_eq!(reads, 3);
    }

    #[test]
    fn seeds_are_never_zero() {
        assert_ne!(random_seed(), 0);
        assert!(wall_clock_ms() > 1_600_000_000_000);
    }
}
