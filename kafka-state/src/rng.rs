//! A tiny deterministic random number generator (SplitMix64).
//!
//! Jitter and broker choice only need to be spread out and reproducible
//! from [`Config::seed`](crate::Config::seed), not unpredictable.

use std::time::Duration;

/// SplitMix64: one `u64` of state, full period, good enough mixing.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`; 0 when `n` is 0.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        // The modulo bias is irrelevant for jitter and load spreading.
        (self.next_u64() % n as u64) as usize
    }

    /// `d` scaled by a uniform factor in `[1 - frac, 1 + frac]`.
    pub(crate) fn jitter(&mut self, d: Duration, frac: f64) -> Duration {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
        let factor = 1.0 - frac + 2.0 * frac * unit;
        d.mul_f64(factor.max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_jitter_stays_in_bounds() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let base = Duration::from_millis(1000);
        for _ in 0..1000 {
            let j = a.jitter(base, 0.2);
            assert!(j >= Duration::from_millis(800) && j <= Duration::from_millis(1200));
            assert!(a.below(3) < 3);
        }
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }
}
