//! The daemon's clock: monotonic, counting the time the machine was suspended, and moved by
//! tokio's paused time in tests.
//!
//! The mail client's timers are days apart (push registrations are renewed daily and expire
//! after 30 days, LOCAL-20), so a clock that stops while the machine sleeps would renew late.
//! On Linux the clock reads `CLOCK_BOOTTIME`, which counts suspended time; elsewhere it falls
//! back to tokio's monotonic clock (which may not). `now` is the greater of the two elapsed
//! times since start, so it is monotonic, counts suspension where the kernel does, and follows
//! tokio's clock when a test pauses and advances it.
//!
//! Sleeps are tokio sleeps, which run on the monotonic clock; a sleep is therefore never longer
//! than [`MAX_SLEEP`], so that after a resume the daemon notices due timers within that bound.

use std::time::Duration;

use mailpush_push_proto::Timestamp;

/// The longest single sleep (see the module documentation).
pub const MAX_SLEEP: Duration = Duration::from_secs(30);

/// See the module documentation.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base_ms: u64,
    base: tokio::time::Instant,
    base_boot: Option<Duration>,
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn boottime() -> Option<Duration> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    let secs = u64::try_from(t.tv_sec).ok()?;
    let nanos = u32::try_from(t.tv_nsec).ok()?;
    Some(Duration::new(secs, nanos))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn boottime() -> Option<Duration> {
    None
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Clock {
    /// A clock that starts at the current wall time (so that timestamps in logs read as dates).
    pub fn new() -> Self {
        let base_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(millis)
            .unwrap_or(0);
        let base = tokio::time::Instant::now();
        Self {
            base_ms,
            base,
            base_boot: boottime(),
        }
    }

    fn elapsed(&self) -> Duration {
        let tokio_elapsed = self.base.elapsed();
        let boot_elapsed = match (self.base_boot, boottime()) {
            (Some(start), Some(now)) => now.saturating_sub(start),
            _ => Duration::ZERO,
        };
        tokio_elapsed.max(boot_elapsed)
    }

    /// Now, in milliseconds.
    pub fn now(&self) -> Timestamp {
        Timestamp(self.base_ms.saturating_add(millis(self.elapsed())))
    }

    /// The tokio deadline to sleep until for a timer due at `at`: at most [`MAX_SLEEP`] away.
    pub fn deadline(&self, at: Option<Timestamp>) -> tokio::time::Instant {
        let now = self.now();
        let wait = at.map_or(MAX_SLEEP, |at| {
            Duration::from_millis(at.0.saturating_sub(now.0)).min(MAX_SLEEP)
        });
        tokio::time::Instant::now() + wait
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paused_time_moves_the_clock_and_sleeps_are_bounded() {
        let clock = Clock::new();
        let start = clock.now();
        tokio::time::advance(Duration::from_secs(3600)).await;
        let later = clock.now();
        assert!(later.0 >= start.0 + 3_600_000, "{start:?} {later:?}");
        assert!(
            clock.deadline(Some(later.plus_ms(3_600_000)))
                <= tokio::time::Instant::now() + MAX_SLEEP
        );
    }
}
