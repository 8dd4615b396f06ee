//! A sync of a journal from another thread (FORMAT.md 9): a [`Syncer`] makes every event the
//! writer published before the call durable, without the writer's `&mut` and without waiting on
//! the appending thread.
//!
//! It syncs `[0, write_offset)` only (`msync(MS_SYNC)` of that range, the header page included),
//! as [`Writer::sync`](crate::Writer::sync) does: pages pre-faulted ahead of `write_offset` (by a
//! [`Pretoucher`](crate::Pretoucher)) are not written back, so the appending thread does not fault
//! on them again, which an `fdatasync` of the whole file would cause.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::sys::SyncMap;

/// A handle that syncs a [`Writer`](crate::Writer)'s published events from another thread
/// ([`Writer::syncer`](crate::Writer::syncer)). It is `Send`, `Sync` and cheap to clone (clones
/// share one mapping); it holds its own mapping of the file and its own descriptor, so it outlives
/// the writer safely: it syncs the file as the writer left it (closed, dropped, or still
/// appending meanwhile), and a sync that races with the writer's close covers every event the
/// close kept.
///
/// The writer's own durability bookkeeping ([`Writer::durable_events`](crate::Writer::durable_events),
/// its sync policy, its index checkpoint) does not see these syncs. A failed sync is sticky, as a
/// writer's is (FORMAT.md 9): every later call on the handle, or on its clones, returns the error.
#[derive(Clone)]
pub struct Syncer {
    inner: Arc<Inner>,
}

struct Inner {
    map: SyncMap,
    closed: Arc<AtomicBool>,
    path: PathBuf,
    failed: Mutex<Option<String>>,
}

impl std::fmt::Debug for Syncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syncer")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl Syncer {
    pub(crate) fn new(map: SyncMap, closed: Arc<AtomicBool>, path: PathBuf) -> Self {
        Syncer {
            inner: Arc::new(Inner {
                map,
                closed,
                path,
                failed: Mutex::new(None),
            }),
        }
    }

    /// The journal's path when the handle was made.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Makes every event published before the call durable: loads the published `write_offset`
    /// and syncs the file from offset 0 up to it (FORMAT.md 9). Returns that `write_offset`: every
    /// event below it is now durable. Blocks until the disk has the bytes; the writer keeps
    /// appending meanwhile. After the writer is gone it still syncs what it published.
    pub fn sync(&self) -> Result<u64> {
        let mut failed = self.inner.failed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = failed.as_ref() {
            return Err(Error::io(
                &self.inner.path,
                "msync",
                std::io::Error::other(e.clone()),
            ));
        }
        match self.inner.map.sync_published() {
            Ok(wo) => Ok(wo),
            Err(e) => {
                *failed = Some(e.to_string());
                Err(Error::io(&self.inner.path, "msync", e))
            }
        }
    }

    /// Whether the writer is gone (closed or dropped).
    pub fn writer_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }
}
