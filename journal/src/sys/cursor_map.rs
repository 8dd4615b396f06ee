//! The shared mapping of a named cursor file (spec/CURSOR.md 4, 8, 9): the owner maps it read-write
//! and commits with one atomic store; any other process maps it read-only and loads the position
//! with one atomic load. The position word is reached only through an atomic, by every party.

use std::fs::File;
use std::io;
use std::sync::atomic::AtomicU64;

use memmap2::{MmapOptions, MmapRaw};

use super::guard;

/// A mapping of the first bytes of a cursor file and its SIGBUS registration. The registration is
/// the first field, so it is dropped (unregistered) before the mapping is unmapped.
///
/// INVARIANTS: `raw` maps the file from offset 0 over `raw.len()` bytes, page aligned, and is
/// never remapped; it is read-write only if `writable`.
pub(crate) struct CursorMap {
    guard: guard::Guarded,
    raw: MmapRaw,
}

impl CursorMap {
    /// Maps the first `len` bytes of `file`, read-write if `writable` (the file must then be open
    /// for writing). A file shorter than `len` (truncated meanwhile) is caught by the SIGBUS guard:
    /// the access sees zeros and [`Self::shrunk`] becomes true.
    pub(crate) fn new(file: &File, len: usize, writable: bool) -> io::Result<CursorMap> {
        let opts = {
            let mut o = MmapOptions::new();
            o.len(len);
            o
        };
        let raw = if writable {
            opts.map_raw(file)?
        } else {
            opts.map_raw_read_only(file)?
        };
        Ok(CursorMap {
            guard: guard::Guarded::new(raw.as_ptr(), raw.len(), writable),
            raw,
        })
    }

    /// The 8-byte word at `offset` as an atomic. Panics unless `offset` is a multiple of 8 inside
    /// the mapping.
    #[inline]
    pub(crate) fn word(&self, offset: usize) -> &AtomicU64 {
        assert!(offset.is_multiple_of(8) && offset + 8 <= self.raw.len());
        // SAFETY: the mapping is page aligned and at least `offset + 8` bytes long (checked above),
        // so the pointer is valid and 8-byte aligned for the mapping's lifetime, which the borrow
        // of `self` cannot outlive (it is never remapped, INVARIANTS). The word is accessed only
        // atomically, by every party (CURSOR.md 8, 9). On a read-only mapping only loads are made
        // (the callers' contract: `NamedCursor` stores only through a writable map), and 8-byte
        // atomic loads are lock-free, so they never write the memory. A page past the file's end
        // faults into the SIGBUS guard, which maps a zero page there.
        unsafe { AtomicU64::from_ptr(self.raw.as_mut_ptr().add(offset).cast::<u64>()) }
    }

    /// Whether the file was found truncated under the mapping (see [`guard`]).
    #[inline]
    pub(crate) fn shrunk(&self) -> bool {
        self.guard.shrunk()
    }

    /// `msync(MS_SYNC)` of the whole mapping (CURSOR.md 8).
    pub(crate) fn sync(&self) -> io::Result<()> {
        self.raw.flush()
    }
}
