//! How long to wait between reconnection attempts.
#![forbid(unsafe_code)]

use crate::io::Random;

/// Exponential backoff with jitter, capped, reset on success.
///
/// The n-th delay (counting from 0) is drawn uniformly from `[ceiling / 2, ceiling]`, where
/// `ceiling = min(cap_ms, base_ms * 2^n)` ("equal jitter"). The lower half keeps a failing
/// device from hammering the service; the random upper half spreads a fleet that lost the
/// broker at the same moment, so it does not come back in lockstep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    base_ms: u32,
    cap_ms: u32,
    attempt_limit: Option<u32>,
    attempts: u32,
}

impl Backoff {
    /// Delays from about `base_ms`, doubling up to `cap_ms`, without an attempt limit.
    pub const fn new(base_ms: u32, cap_ms: u32) -> Self {
        Self {
            base_ms,
            cap_ms,
            attempt_limit: None,
            attempts: 0,
        }
    }

    /// The same backoff, giving up after `limit` delays.
    pub const fn with_attempt_limit(self, limit: u32) -> Self {
        Self {
            attempt_limit: Some(limit),
            ..self
        }
    }

    /// The wait before the next attempt, or `None` once the attempt limit is reached.
    pub fn next_delay_ms(&mut self, random: &mut dyn Random) -> Option<u32> {
        if self
            .attempt_limit
            .is_some_and(|limit| self.attempts >= limit)
        {
            return None;
        }
        // In u64 a u32 shifted by up to 32 bits cannot overflow.
        let grown = u64::from(self.base_ms) << self.attempts.min(32);
        let ceiling = grown.min(u64::from(self.cap_ms));
        let floor = ceiling / 2;
        let jitter = u64::from(random.next_u32()) % (ceiling - floor + 1);
        self.attempts = self.attempts.saturating_add(1);
        // floor + jitter <= ceiling <= cap_ms, which is a u32.
        Some(u32::try_from(floor + jitter).unwrap_or(self.cap_ms))
    }

    /// Starts again from the base delay, after a successful connection.
    pub fn reset(&mut self) {
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A xorshift generator: deterministic, and covering the whole u32 range.
    fn xorshift(mut state: u32) -> impl FnMut() -> u32 {
        move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        }
    }

    #[test]
    fn grows_exponentially_until_the_cap() {
        let mut backoff = Backoff::new(100, 1000);
        let delays: Vec<_> = (0..6)
            .map(|_| backoff.next_delay_ms(&mut || 0u32).unwrap())
            .collect();
        // Zero jitter gives the floors: half of 100, 200, 400, 800, then of the 1000 cap.
        assert_eq!(delays, [50, 100, 200, 400, 500, 500]);
    }

    #[test]
    fn jitter_stays_within_half_to_full_ceiling() {
        let mut random = xorshift(0x1234_5678);
        let mut backoff = Backoff::new(100, 1000);
        for ceiling in [100, 200, 400, 800, 1000, 1000] {
            let mut seen = Vec::new();
            for _ in 0..500 {
                let mut probe = backoff;
                seen.push(probe.next_delay_ms(&mut random).unwrap());
            }
            let (low, high) = (*seen.iter().min().unwrap(), *seen.iter().max().unwrap());
            assert!(
                low >= ceiling / 2 && high <= ceiling,
                "{ceiling}: {low}..{high}"
            );
            // 500 draws spread over the whole interval, not a constant.
            assert!(high - low > ceiling / 4, "{ceiling}: {low}..{high}");
            backoff.next_delay_ms(&mut random);
        }
        let mut top = backoff;
        assert_eq!(top.next_delay_ms(&mut || 500u32), Some(1000));
    }

    #[test]
    fn reset_starts_again_from_the_base() {
        let mut backoff = Backoff::new(100, 10_000);
        for _ in 0..5 {
            backoff.next_delay_ms(&mut || 0u32);
        }
        assert_eq!(backoff.next_delay_ms(&mut || 0u32), Some(1600));
        backoff.reset();
        assert_eq!(backoff.next_delay_ms(&mut || 0u32), Some(50));
    }

    #[test]
    fn attempt_limit_ends_the_retries() {
        let mut backoff = Backoff::new(10, 100).with_attempt_limit(2);
        assert!(backoff.next_delay_ms(&mut || 0u32).is_some());
        assert!(backoff.next_delay_ms(&mut || 0u32).is_some());
        assert_eq!(backoff.next_delay_ms(&mut || 0u32), None);
        backoff.reset();
        assert!(backoff.next_delay_ms(&mut || 0u32).is_some());
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let mut backoff = Backoff::new(u32::MAX, u32::MAX);
        for _ in 0..40 {
            let delay = backoff.next_delay_ms(&mut || u32::MAX).unwrap();
            assert!(delay >= u32::MAX / 2);
        }
        assert_eq!(Backoff::new(0, 0).next_delay_ms(&mut || 7u32), Some(0));
    }
}
