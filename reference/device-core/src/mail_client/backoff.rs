//! Jittered exponential backoff, deterministic from a seed.
//!
//! The core draws no randomness of its own: the driver passes a seed (from the operating
//! system's generator at every start; tests pass fixed ones) and everything random (token
//! prefixes, retry jitter) comes from [`Rng`].

/// SplitMix64: small, fast, and good enough for jitter and for the unguessable part of tokens
/// (uniqueness does not rest on it, see `tokens`).
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The delays of a backoff: the first retry waits about `initial_ms`, each further one twice as
/// long, never more than `max_ms`. Each delay is drawn uniformly from the upper half of its
/// step (`[d/2, d]`), so that devices that failed together do not retry together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffConfig {
    /// The first delay, milliseconds (at least 1).
    pub initial_ms: u64,
    /// The largest delay, milliseconds (at least `initial_ms`).
    pub max_ms: u64,
}

/// Failures counted since the last success.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    config: BackoffConfig,
    failures: u32,
}

impl Backoff {
    pub(crate) fn new(config: BackoffConfig) -> Self {
        Self {
            config,
            failures: 0,
        }
    }

    /// The delay before the next attempt; counts one more failure.
    pub(crate) fn next_delay(&mut self, rng: &mut Rng) -> u64 {
        let initial = self.config.initial_ms.max(1);
        let max = self.config.max_ms.max(initial);
        let mut step = initial;
        for _ in 0..self.failures {
            if step >= max {
                break;
            }
            step = step.saturating_mul(2);
        }
        let step = step.min(max);
        self.failures = self.failures.saturating_add(1);
        let half = step / 2;
        half + rng.next_u64() % (step - half + 1)
    }

    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_jitter_and_stop_at_the_cap() {
        let mut rng = Rng::new(7);
        let mut backoff = Backoff::new(BackoffConfig {
            initial_ms: 1000,
            max_ms: 8000,
        });
        let bounds = [1000, 2000, 4000, 8000, 8000, 8000];
        for step in bounds {
            let d = backoff.next_delay(&mut rng);
            assert!(
                (step / 2..=step).contains(&d),
                "{d} outside [{}, {step}]",
                step / 2
            );
        }
        backoff.reset();
        assert!(backoff.next_delay(&mut rng) <= 1000);
        for _ in 0..200 {
            assert!(backoff.next_delay(&mut rng) <= 8000);
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_delays() {
        let config = BackoffConfig {
            initial_ms: 500,
            max_ms: 60_000,
        };
        let run = |seed| {
            let mut rng = Rng::new(seed);
            let mut backoff = Backoff::new(config);
            (0..10)
                .map(|_| backoff.next_delay(&mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }
}
