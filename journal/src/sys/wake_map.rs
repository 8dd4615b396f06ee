//! The shared mapping of a journal's wake-up file `NAME.wake` (FORMAT.md 15): the writer and the
//! sleeping tailers map it read-write and reach its three words only through atomics.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64};

use memmap2::{MmapOptions, MmapRaw};

use super::guard;

/// Offsets of the words of FORMAT.md 15.1.
const SEQ: usize = 16;
const SLEEPING: usize = 20;
const WAKES: usize = 24;
/// Bytes mapped: the whole layout of FORMAT.md 15.1.
const LEN: usize = 32;

/// A read-write mapping of the first 32 bytes of a wake-up file and its SIGBUS registration (the
/// first field, so it is dropped, unregistered, before the mapping is unmapped).
///
/// INVARIANTS: `raw` maps the file from offset 0, read-write and shared, over at least 32 bytes
/// (one page), page aligned, and is never remapped. The words at 16 (`seq`), 20 (`sleeping`) and
/// 24 (`wakes`) are accessed only atomically and always with the same size, by every party
/// (FORMAT.md 15.3).
pub(crate) struct WakeMap {
    _guard: guard::Guarded,
    raw: MmapRaw,
}

impl WakeMap {
    /// Maps `file` (open read-write; the caller checked it is at least 32 bytes long). A file cut
    /// shorter later is caught by the SIGBUS guard: the accesses then see zeros.
    pub(crate) fn new(file: &File) -> io::Result<WakeMap> {
        let raw = MmapOptions::new().len(LEN).map_raw(file)?;
        Ok(WakeMap {
            _guard: guard::Guarded::new(raw.as_ptr(), raw.len(), true),
            raw,
        })
    }

    /// The futex word `seq`.
    #[inline]
    pub(crate) fn seq(&self) -> &AtomicU32 {
        // SAFETY: offset 16 is inside the mapping (at least 32 bytes, INVARIANTS) and 4-byte
        // aligned (the mapping is page aligned); the mapping lives as long as `self`, which the
        // borrow cannot outlive. Every party accesses the word only as an atomic u32.
        unsafe { AtomicU32::from_ptr(self.raw.as_mut_ptr().add(SEQ).cast::<u32>()) }
    }

    /// The flag `sleeping`.
    #[inline]
    pub(crate) fn sleeping(&self) -> &AtomicU32 {
        // SAFETY: as in `seq`, for offset 20.
        unsafe { AtomicU32::from_ptr(self.raw.as_mut_ptr().add(SLEEPING).cast::<u32>()) }
    }

    /// The counter `wakes`.
    #[inline]
    pub(crate) fn wakes(&self) -> &AtomicU64 {
        // SAFETY: as in `seq`, for offset 24, which is 8-byte aligned; the word is accessed only
        // as an atomic u64.
        unsafe { AtomicU64::from_ptr(self.raw.as_mut_ptr().add(WAKES).cast::<u64>()) }
    }
}
