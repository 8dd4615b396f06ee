//! The pretoucher (FORMAT.md 7.3): growth of a journal off the appending thread, as Chronicle
//! Queue's pretoucher does it.
//!
//! A [`Pretoucher`] keeps the file allocated and the writer's own mapping pre-faulted a few chunks
//! past the published `write_offset`, from another thread; the writer adopts what it prepared when
//! an append reaches the end of what it had, with a load and no system call. So on a fresh, growing
//! file the appending thread takes no page fault and makes no system call for growth, as long as
//! the pretoucher keeps ahead; when it falls behind, the writer appends on into what the
//! pretoucher allocated, taking its own page faults beside the pretoucher's (so both cores
//! provision pages), and past that grows the file itself, as without one. Under
//! [`SyncPolicy::Never`](crate::SyncPolicy::Never) with the index on, the pretoucher also does the
//! writer's periodic sync (every 64 MiB, spec/INDEX.md 9.3), and then moves the index's
//! checkpoint over what it synced, on the thread that synced: it walks the new entries through the
//! sync's own mapping and writes the index records and header there, so that neither the walk nor
//! the index's system calls land on the appending thread. The writer's own pretoucher runs the
//! sync and that upkeep on a second thread, so that the growth never waits for the disk.
//!
//! Either the writer owns a thread that runs it ([`WriterOptions::pretouch_thread`]), or the caller
//! takes a handle ([`Writer::pretoucher`]) and runs [`Pretoucher::pretouch`] on a thread of its
//! choice (a housekeeping core), as often as it likes.
//!
//! [`WriterOptions::pretouch_thread`]: crate::WriterOptions::pretouch_thread
//! [`Writer::pretoucher`]: crate::Writer::pretoucher

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::index::SharedUpkeep;
use crate::sys::{writeback_room, Ahead, AheadPlan};

/// The shortest wait of the writer's own pretouch and sync threads between passes: the wait while
/// the writer runs fast.
const MIN_WAIT: Duration = Duration::from_millis(1);

/// The longest wait of the writer's own pretouch and sync threads between passes: the wait while
/// the writer is idle or slow (when the room ahead allows it: [`BURST_RATE`]).
const MAX_WAIT: Duration = Duration::from_millis(20);

/// The rate, in bytes per second, that the pretouch thread assumes the writer may reach at any
/// moment: it waits no longer than a writer appending this fast takes to use half of what is
/// ready, so that a burst after an idle spell (a market's open) finds it awake before the burst
/// runs out of what is ready. 2 GB/s is about the fastest a writer was measured appending into
/// prepared pages (1 KiB events at 0.55 µs, BENCHMARKS.md); with the default 16 MiB chunks (32 to
/// 48 MiB ready) an idle writer's pretouch thread then waits 8 to 13 ms.
const BURST_RATE: f64 = 2e9;

/// Paces a thread that works ahead of the writer: it waits until the writer, at the rate it
/// appended at since the last pass (or at an assumed rate, if that is higher), is due to have used
/// a share of the room the pass left it, so that a thread with nothing to do does not wake (each
/// wake-up takes a core from the writer and the process's other threads), yet one that is needed
/// wakes in time. The rate estimate follows a speed-up at once and a slow-down by halves, one pass
/// at a time.
#[derive(Debug)]
struct Pace {
    /// When the last pass ended, and the `write_offset` it saw.
    last: Option<(Instant, u64)>,
    /// The writer's estimated append rate, in bytes per second.
    rate: f64,
    /// The rate assumed whatever the estimate (0 for none).
    assumed: f64,
}

impl Pace {
    fn new(assumed: f64) -> Pace {
        Pace {
            last: None,
            rate: 0.0,
            assumed,
        }
    }

    /// The wait after a pass that ended at `now` with the writer at `write_offset`, `room` bytes
    /// before the point where the next pass has work, to wake when the writer has used `share`
    /// of them: between [`MIN_WAIT`] and [`MAX_WAIT`].
    fn wait(&mut self, now: Instant, write_offset: u64, room: u64, share: f64) -> Duration {
        if let Some((then, seen)) = self.last {
            let secs = now.saturating_duration_since(then).as_secs_f64();
            if secs > 0.0 {
                let observed = write_offset.saturating_sub(seen) as f64 / secs;
                self.rate = observed.max(self.rate / 2.0);
            }
        }
        self.last = Some((now, write_offset));
        let due = room as f64 * share / self.rate.max(self.assumed);
        // NaN (no room, no rate) counts as the longest wait.
        if due.is_nan() || due >= MAX_WAIT.as_secs_f64() {
            MAX_WAIT
        } else {
            Duration::from_secs_f64(due).max(MIN_WAIT)
        }
    }
}

/// Chunks a pretoucher keeps ready past the chunk that holds `write_offset`.
pub(crate) const AHEAD_CHUNKS: u64 = 2;

/// A handle that prepares a [`Writer`](crate::Writer)'s growth from another thread (see the module
/// documentation). It is `Send` and `Sync`; it outlives the writer harmlessly: once the writer is
/// closed or dropped, [`Pretoucher::pretouch`] does nothing and returns `Ok(false)`.
pub struct Pretoucher {
    ahead: Arc<Ahead>,
    plan: AheadPlan,
    path: PathBuf,
    /// The index's upkeep, lent by the writer while this pretoucher syncs for it (INDEX.md 9.3).
    index: Option<Arc<SharedUpkeep>>,
}

impl std::fmt::Debug for Pretoucher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pretoucher")
            .field("path", &self.path)
            .finish()
    }
}

impl Pretoucher {
    pub(crate) fn new(
        ahead: Arc<Ahead>,
        plan: AheadPlan,
        path: PathBuf,
        index: Option<Arc<SharedUpkeep>>,
    ) -> Self {
        Pretoucher {
            ahead,
            plan,
            path,
            index,
        }
    }

    /// One pass: allocates and pre-faults the writer's next chunks (two past the chunk it appends
    /// into, the file allocated one chunk further), and syncs when the writer's periodic sync is
    /// due. After such a sync (under [`SyncPolicy::Never`](crate::SyncPolicy::Never) with the
    /// index on) the pass also moves the index's checkpoint over what it synced, on the calling
    /// thread: it walks the entries appended since the last checkpoint (up to 64 MiB) and writes
    /// the index (spec/INDEX.md 9.3), so the appending thread does neither. An error writing the
    /// index disables the index ([`Writer::index_error`](crate::Writer::index_error)) and is not
    /// returned: the index never fails the journal.
    ///
    /// Returns `Ok(true)` while the writer lives, `Ok(false)` once it is closed or dropped. An
    /// error (a full disk) changes nothing for the writer, which then grows the file itself and
    /// reports the error on the append that needs the space.
    pub fn pretouch(&self) -> Result<bool> {
        let live = self
            .ahead
            .run(&self.plan)
            .map_err(|e| Error::io(&self.path, "pretouch", e))?;
        if live {
            advance_index(&self.ahead, self.index.as_deref(), self.plan.sync_step);
        }
        Ok(live)
    }

    /// Whether the writer is gone (closed or dropped).
    pub fn writer_closed(&self) -> bool {
        self.ahead.closed()
    }
}

/// Starts the writer's own pretoucher thread: passes until the writer is gone, paced by the
/// writer's rate ([`Pace`]): the next pass when the writer, at its rate or at [`BURST_RATE`] if
/// that is higher, is due to have used half of what is ready past its `write_offset`.
///
/// When the pretoucher also runs the writer's periodic sync, the sync gets a thread of its own
/// (`journal-sync`, started and joined by the pretoucher thread): a sync waits for the disk, tens of
/// milliseconds for 64 MiB, and the growth must not stop meanwhile, or the writer overtakes it
/// and grows the file itself. That thread also moves the index's checkpoint after each sync; it is
/// paced to pass when the writer is due to cross the next 2 MiB boundary, where the write-back it
/// starts ahead moves on (see [`Ahead::sync`]).
pub(crate) fn spawn(p: Pretoucher) -> std::io::Result<JoinHandle<()>> {
    let syncer = match p.plan.sync_step {
        Some(step) => {
            let ahead = Arc::clone(&p.ahead);
            let index = p.index.clone();
            Some(
                std::thread::Builder::new()
                    .name("journal-sync".into())
                    .spawn(move || {
                        let mut pace = Pace::new(0.0);
                        while let Some((wo, _)) = ahead.progress() {
                            // Errors are retried on the next pass (meanwhile the index's
                            // checkpoint does not move: INDEX.md 9.3).
                            if ahead.sync(step).is_ok() {
                                advance_index(&ahead, index.as_deref(), Some(step));
                            }
                            let room = writeback_room(wo);
                            std::thread::park_timeout(pace.wait(Instant::now(), wo, room, 1.0));
                        }
                    })?,
            )
        }
        None => None,
    };
    std::thread::Builder::new()
        .name("journal-pretouch".into())
        .spawn(move || {
            let mut pace = Pace::new(BURST_RATE);
            loop {
                // Errors are retried on the next pass (the writer reports its own).
                let live = if syncer.is_some() {
                    p.ahead.prepare(&p.plan)
                } else {
                    p.ahead.run(&p.plan)
                };
                if let Ok(false) = live {
                    break;
                }
                let Some((wo, ready)) = p.ahead.progress() else {
                    break;
                };
                let room = ready.saturating_sub(wo);
                std::thread::park_timeout(pace.wait(Instant::now(), wo, room, 0.5));
            }
            if let Some(t) = syncer {
                t.thread().unpark();
                let _ = t.join();
            }
        })
}

/// After the pretoucher's sync: moves the index's checkpoint over what the sync covered, once that
/// is `step` (64 MiB) past it (INDEX.md 9.3), reading the journal through the sync's own mapping.
/// Runs on the thread that synced; the writer waits for it when it stops the pretoucher.
fn advance_index(ahead: &Ahead, index: Option<&SharedUpkeep>, step: Option<u64>) {
    let (Some(index), Some(step)) = (index, step) else {
        return;
    };
    if let Err(e) = ahead.with_synced(|synced, body| index.advance(body, synced, step)) {
        index.disable(&e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn an_idle_writer_is_visited_at_the_longest_wait() {
        let mut pace = Pace::new(0.0);
        let t0 = Instant::now();
        // The first pass knows no rate yet.
        assert_eq!(pace.wait(t0, 4096, 8 * MIB, 0.5), MAX_WAIT);
        // Nothing appended since.
        let t1 = t0 + Duration::from_millis(20);
        assert_eq!(pace.wait(t1, 4096, 8 * MIB, 0.5), MAX_WAIT);
        // No room either.
        assert_eq!(pace.wait(t1, 4096, 0, 0.5), MAX_WAIT);
    }

    #[test]
    fn a_writer_is_visited_when_it_is_due_to_have_used_the_share() {
        let mut pace = Pace::new(0.0);
        let t0 = Instant::now();
        pace.wait(t0, 0, 8 * MIB, 0.5);
        // 100 MB/s: half of 8 MiB in about 42 ms, more than the longest wait.
        let t1 = t0 + Duration::from_millis(10);
        assert_eq!(pace.wait(t1, 1_000_000, 8 * MIB, 0.5), MAX_WAIT);
        // 1 GB/s: half of 8 MiB in about 4.2 ms.
        let t2 = t1 + Duration::from_millis(10);
        let wait = pace.wait(t2, 11_000_000, 8 * MIB, 0.5);
        assert_eq!(wait.as_micros(), 4194, "{wait:?}");
        // 10 GB/s: due sooner than the shortest wait.
        let t3 = t2 + Duration::from_millis(10);
        assert_eq!(pace.wait(t3, 111_000_000, 8 * MIB, 0.5), MIN_WAIT);
        // A writer overtook the pass (no room): the shortest wait.
        assert_eq!(pace.wait(t3, 111_000_000, 0, 0.5), MIN_WAIT);
    }

    #[test]
    fn the_rate_follows_a_slow_down_by_halves() {
        let mut pace = Pace::new(0.0);
        let t0 = Instant::now();
        pace.wait(t0, 0, 2 * MIB, 1.0);
        let t1 = t0 + Duration::from_millis(10);
        // 1 GB/s, then the writer stops: the estimate halves at each pass.
        pace.wait(t1, 10_000_000, 2 * MIB, 1.0);
        let mut waits = Vec::new();
        for i in 2..5 {
            let t = t0 + Duration::from_millis(10 * i);
            waits.push(pace.wait(t, 10_000_000, 2 * MIB, 1.0).as_micros());
        }
        assert_eq!(waits, [4194, 8388, 16777]);
    }

    #[test]
    fn an_assumed_burst_rate_bounds_the_wait_of_an_idle_writer() {
        let mut pace = Pace::new(BURST_RATE);
        let t0 = Instant::now();
        // Idle, 32 MiB ready: a burst at 2 GB/s would use half of it in about 8.4 ms.
        assert_eq!(pace.wait(t0, 0, 32 * MIB, 0.5).as_micros(), 8388);
        let t1 = t0 + Duration::from_millis(20);
        assert_eq!(pace.wait(t1, 0, 32 * MIB, 0.5).as_micros(), 8388);
        // 128 MiB ready: the longest wait.
        assert_eq!(pace.wait(t1, 0, 128 * MIB, 0.5), MAX_WAIT);
        // A writer faster than the burst rate is followed: 4 GB/s.
        let t2 = t1 + Duration::from_millis(10);
        let wait = pace.wait(t2, 40_000_000, 32 * MIB, 0.5);
        assert_eq!(wait.as_micros(), 4194, "{wait:?}");
    }

    #[test]
    fn passes_at_one_instant_keep_the_estimate() {
        let mut pace = Pace::new(0.0);
        let t0 = Instant::now();
        pace.wait(t0, 0, 2 * MIB, 1.0);
        let t1 = t0 + Duration::from_millis(10);
        let before = pace.wait(t1, 10_000_000, 2 * MIB, 1.0);
        assert_eq!(pace.wait(t1, 10_000_000, 2 * MIB, 1.0), before);
    }
}
