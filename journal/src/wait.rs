//! Waiting strategies for the blocking calls: spin, yield, back off to sleeps, or block on a
//! futex.

use std::sync::atomic::{fence, AtomicU32, Ordering};
use std::time::Duration;

use crate::sys::futex;

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
    /// Spin `spins` times, then sleep in the kernel (a futex on a word of the shared mapping) until
    /// the other side wakes this one: low latency and no CPU while idle. The side that publishes
    /// (the ring's producer for a waiting consumer, its consumer for a producer waiting on a full
    /// ring) makes the wake-up system call only when a waiter announced itself, so it pays one
    /// load otherwise (spec/RING.md 5.1).
    ///
    /// A journal's [`Tailer`](crate::Tailer) and [`OwnedTailer`](crate::OwnedTailer) sleep on the
    /// journal's wake-up file `NAME.wake` (spec/FORMAT.md 15), which the writer keeps
    /// ([`WriterOptions::wake_file`](crate::WriterOptions::wake_file)): the writer pays one relaxed
    /// load per append while no tailer sleeps, and the tailer makes a `membarrier` call each time
    /// it goes to sleep. Each sleep is bounded (100 ms; 1 ms when the kernel lacks `membarrier`), so
    /// a wake-up that cannot be delivered costs at most that. A set's tailers
    /// ([`SetTailer`](crate::SetTailer), [`OwnedSetTailer`](crate::OwnedSetTailer)) sleep the same
    /// way on the set's one wake-up file `journal-set.wake`, and wake for a roll too
    /// (spec/SET.md 6.5.1). Where the tailer cannot use the file (missing, damaged, not writable
    /// by it, a writer that does not keep it), it behaves as
    /// `Backoff { spins, yields: 0, max_sleep: 1 ms }`.
    Block {
        /// Polls with a spin hint before sleeping.
        spins: u32,
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
            WaitStrategy::Block { spins } => WaitStrategy::Backoff {
                spins,
                yields: 0,
                max_sleep: Duration::from_millis(1),
            }
            .idle(round),
        }
    }

    /// Whether the `round`-th round of waiting sleeps on a futex ([`WaitStrategy::Block`] once
    /// its spins are done) rather than [`WaitStrategy::idle`].
    #[inline]
    pub(crate) fn blocks(self, round: u32) -> bool {
        matches!(self, WaitStrategy::Block { spins } if round >= spins)
    }
}

impl WaitStrategy {
    /// [`WaitStrategy::Block`] with 1000 spins (a few microseconds) before it sleeps.
    pub const BLOCK: WaitStrategy = WaitStrategy::Block { spins: 1000 };
}

/// A futex word and the flag of the waiters sleeping on it, both in a shared mapping: the wake-up
/// protocol of spec/RING.md 5.1.
///
/// - The waiter reads `seq`, stores 1 in `sleeping`, issues a full fence, checks its condition
///   again and, if it still does not hold, sleeps on `seq` while it holds the value read first.
/// - The waker publishes with a sequentially consistent store, then loads `sleeping`
///   (sequentially consistent). Only if it is not 0 does it swap it to 0, increment `seq` and wake
///   every sleeper.
///
/// Either the waiter's check sees the publication, or the waker sees the flag; in the second case
/// the waiter read `seq` before the increment, so its sleep returns at once or is woken. The waker
/// clears the flag on each wake and a waiter sets it again each time it sleeps, so a waiter that
/// dies asleep costs the waker one system call, not one per publication.
#[derive(Clone, Copy)]
pub(crate) struct WakeWord<'a> {
    pub(crate) seq: &'a AtomicU32,
    pub(crate) sleeping: &'a AtomicU32,
}

impl WakeWord<'_> {
    /// The waiter's announcement: returns the value of `seq` to sleep on. The caller checks its
    /// condition after this, and calls [`WakeWord::sleep`] only if it still does not hold.
    #[inline]
    pub(crate) fn announce(self) -> u32 {
        let seq = self.seq.load(Ordering::SeqCst);
        self.sleeping.store(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        seq
    }

    /// Sleeps until woken, or `seq` moved past `seen`, or `timeout` (the caller re-checks).
    pub(crate) fn sleep(self, seen: u32, timeout: Duration) {
        futex::wait(self.seq, seen, timeout);
    }

    /// The waker's side, after its publishing store (sequentially consistent): wakes the sleepers
    /// if one announced itself. Returns whether it made the system call.
    #[inline]
    pub(crate) fn wake(self) -> bool {
        if self.sleeping.load(Ordering::SeqCst) == 0 {
            return false;
        }
        self.wake_slow()
    }

    #[cold]
    fn wake_slow(self) -> bool {
        if self.sleeping.swap(0, Ordering::SeqCst) == 0 {
            return false;
        }
        self.seq.fetch_add(1, Ordering::SeqCst);
        futex::wake_all(self.seq);
        true
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
