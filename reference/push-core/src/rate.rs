//! The per-device push rate (PROV-12) as a token bucket over the caller's clock.

use mailpush_push_proto::Timestamp;

/// A token bucket for the per-device push rate.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    tokens: f64,
    updated: Timestamp,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens at `now`.
    pub fn full(burst: u32, now: Timestamp) -> Self {
        Self {
            tokens: f64::from(burst),
            updated: now,
        }
    }

    /// Takes one token, refilled at `rate` per second up to `burst`; on refusal returns the
    /// seconds until one is available.
    pub fn take(&mut self, rate: u32, burst: u32, now: Timestamp) -> Result<(), u64> {
        let elapsed = now.0.saturating_sub(self.updated.0) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * f64::from(rate)).min(f64::from(burst));
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let rate = f64::from(rate.max(1));
            // At most 1 / rate seconds, and a float-to-integer `as` saturates anyway.
            Err(((1.0 - self.tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let mut bucket = TokenBucket::full(2, Timestamp(0));
        assert_eq!(bucket.take(1, 2, Timestamp(0)), Ok(()));
        assert_eq!(bucket.take(1, 2, Timestamp(0)), Ok(()));
        assert_eq!(bucket.take(1, 2, Timestamp(0)), Err(1));
        assert_eq!(bucket.take(1, 2, Timestamp(1000)), Ok(()));
    }
}
