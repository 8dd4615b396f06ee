//! Waiting strategies for the blocking calls: spin, yield, or back off to sleeps.

use std::time::Duration;

/// How [`Tailer::wait`](crate::Tailer::wait) (and the ring's blocking calls) wait for the next
/// event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitStrategy {
    /// Spin on the header (lowest latency; burns a core).
    BusySpin,
    /// Spin, yielding the CPU between polls.
    Yield,
    /// Spin `spins` times, then yield `yields` times, then sleep from 1 µs doubling up to
    /// `max_sleep` (low CPU when idle, as Agrona's backoff idle strategy).
    Backoff {
        /// Polls with a spin hint before yielding.
        spins: u32,
        /// Polls with a yield before sleeping.
        yields: u32,
        /// Longest sleep between polls.
        max_sleep: Duration,
    },
}

impl WaitStrategy {
    /// One round of waiting: the `round`-th since the wait began.
    pub(crate) fn idle(self, round: u32) {
        match self {
            WaitStrategy::BusySpin => std::hint::spin_loop(),
            WaitStrategy::Yield => std::thread::yield_now(),
            WaitStrategy::Backoff {
                spins,
                yields,
                max_sleep,
            } => {
                if round < spins {
                    std::hint::spin_loop();
                } else if round < spins.saturating_add(yields) {
                    std::thread::yield_now();
                } else {
                    // 1 µs, doubling each round, up to max_sleep.
                    let n = (round - spins - yields).min(20);
                    std::thread::sleep(Duration::from_micros(1u64 << n).min(max_sleep));
                }
            }
        }
    }
}

impl Default for WaitStrategy {
    /// Backoff: 100 spins, 10 yields, sleeps up to 1 ms.
    fn default() -> Self {
        WaitStrategy::Backoff {
            spins: 100,
            yields: 10,
            max_sleep: Duration::from_millis(1),
        }
    }
}
