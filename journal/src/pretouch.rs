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
use std::time::Duration;

use crate::error::{Error, Result};
use crate::index::SharedUpkeep;
use crate::sys::{Ahead, AheadPlan};

/// How long the writer's own pretoucher thread waits between passes.
pub(crate) const INTERVAL: Duration = Duration::from_millis(1);

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

/// Starts the writer's own pretoucher thread: a pass every [`INTERVAL`] until the writer is gone.
///
/// When the pretoucher also runs the writer's periodic sync, the sync gets a thread of its own
/// (`journal-sync`, started and joined by the pretoucher thread): a sync waits for the disk, tens of
/// milliseconds for 64 MiB, and the growth must not stop meanwhile, or the writer overtakes it
/// and grows the file itself. That thread also moves the index's checkpoint after each sync.
pub(crate) fn spawn(p: Pretoucher) -> std::io::Result<JoinHandle<()>> {
    let syncer = match p.plan.sync_step {
        Some(step) => {
            let ahead = Arc::clone(&p.ahead);
            let index = p.index.clone();
            Some(
                std::thread::Builder::new()
                    .name("journal-sync".into())
                    .spawn(move || {
                        while !ahead.closed() {
                            // Errors are retried on the next pass (meanwhile the index's
                            // checkpoint does not move: INDEX.md 9.3).
                            if ahead.sync(step).is_ok() {
                                advance_index(&ahead, index.as_deref(), Some(step));
                            }
                            std::thread::park_timeout(INTERVAL);
                        }
                    })?,
            )
        }
        None => None,
    };
    std::thread::Builder::new()
        .name("journal-pretouch".into())
        .spawn(move || {
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
                std::thread::park_timeout(INTERVAL);
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
