//! The shared mappings: a reader's view of a growing journal ([`ReadMap`]), the writer's map
//! ([`WriteMap`]) and a ring's ([`RingMap`]).
//!
//! Memory that another process may write is reached only through atomics (the stream header) or, for
//! the writer, through `&mut` slices of bytes above the published `write_offset`, which no other
//! process reads or writes (FORMAT.md 7, 10). Shared slices are handed out only for bytes below a
//! `write_offset` observed with acquire ordering and within the file's observed length: those bytes
//! are immutable (FORMAT.md 7.2).

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use memmap2::{Advice, MmapOptions, MmapRaw, RemapOptions};

use super::{allocate, cvt, guard, page_size};
use crate::format::HEADER_LEN;

/// The three header words as atomics (FORMAT.md 3, 7). The mapping is page aligned, so each word is
/// 8-byte aligned.
fn header_word(raw: &MmapRaw, index: usize) -> &AtomicU64 {
    debug_assert!(index < 3);
    // SAFETY: the mapping is at least one page long (>= 24 bytes) and page aligned, so the pointer
    // is valid and aligned for u64 for the mapping's lifetime, which the returned borrow cannot
    // outlive. The header words are accessed only atomically, by every party (FORMAT.md 7), so no
    // non-atomic access races with these. The pages are backed by the file: both maps check
    // `file_len >= HEADER_LEN` before they exist.
    unsafe { AtomicU64::from_ptr(raw.as_mut_ptr().add(index * 8).cast::<u64>()) }
}

/// One mapping of a file and its SIGBUS registration. The registration is the first field, so it is
/// dropped (unregistered) before the mapping is unmapped.
struct Mapping {
    guard: guard::Guarded,
    raw: MmapRaw,
}

/// A read-only view of a journal file that may be growing under another process's writer.
///
/// The view starts with a mapping as long as the caller asks (the content, plus headroom when a
/// writer is live) and grows geometrically when the published content passes it (in
/// [`Self::observe`], the cold path of a reader catching up): first in place (`mremap` without
/// `MREMAP_MAYMOVE`, so the addresses already handed out stay valid), else with a new, larger
/// mapping of the whole file. A superseded mapping is never unmapped while the view lives: slices
/// handed out borrow `&self`, and may point into it. Each mapping is at least twice the previous
/// one, so all of them together take less than twice the address space of the current one.
///
/// INVARIANTS:
/// - `maps` holds every mapping this view made, oldest first; each maps the file from offset 0, and
///   none is unmapped or shrunk before the view drops. `base` and `reserved` are the address and
///   length of the newest (the longest); both only change under the `maps` lock, and `reserved` only
///   grows: a mapping is replaced only by a longer one, and is grown only in place.
/// - `limit` only grows, and is raised only after `reserved >= limit` was stored (release, then the
///   release of `limit` itself), so a thread that loads `limit` with acquire and then `base` sees a
///   mapping at least `limit` bytes long.
/// - Every byte below `limit` is below a `write_offset` this view observed with acquire ordering and
///   below a file length it observed with `fstat`, so those bytes are published and immutable
///   (FORMAT.md 7.2).
pub(crate) struct ReadMap {
    maps: Mutex<Vec<Mapping>>,
    base: AtomicPtr<u8>,
    reserved: AtomicU64,
    shrunk: guard::Flag,
    file: File,
    limit: AtomicU64,
    file_len: AtomicU64,
}

/// What a [`ReadMap::observe`] saw.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Observed {
    pub write_offset: u64,
    pub file_len: u64,
}

impl ReadMap {
    /// Maps `reserve` bytes of `file` read-only (at least one page; `file_len` is the file's length
    /// now, which may be more: the view grows when the content passes it). The caller has checked
    /// `file_len >= HEADER_LEN`.
    pub(crate) fn new(file: File, file_len: u64, reserve: u64) -> io::Result<ReadMap> {
        let page = page_size();
        let reserve = reserve.max(page).div_ceil(page) * page;
        let len = usize::try_from(reserve)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "mapping too large"))?;
        let raw = MmapOptions::new().len(len).map_raw_read_only(&file)?;
        let guard = guard::Guarded::new(raw.as_ptr(), raw.len(), false);
        Ok(ReadMap {
            base: AtomicPtr::new(raw.as_mut_ptr()),
            reserved: AtomicU64::new(raw.len() as u64),
            shrunk: guard.flag(),
            maps: Mutex::new(vec![Mapping { guard, raw }]),
            file,
            limit: AtomicU64::new(HEADER_LEN),
            file_len: AtomicU64::new(file_len),
        })
    }

    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Whether the file was found truncated under one of this view's mappings (see [`guard`]).
    #[inline]
    pub(crate) fn shrunk(&self) -> bool {
        self.shrunk.is_set()
    }

    /// The length of the current mapping: the largest file this view follows without growing.
    pub(crate) fn reserved(&self) -> u64 {
        self.reserved.load(Ordering::Acquire)
    }

    /// Header word `index` (FORMAT.md 3), through the current mapping.
    fn word(&self, index: usize) -> &AtomicU64 {
        debug_assert!(index < 3);
        let base = self.base.load(Ordering::Acquire);
        // SAFETY: `base` is a live mapping of the file (INVARIANTS: never unmapped while `self`
        // lives, which the borrow cannot outlive), at least one page long and page aligned, so the
        // word is in bounds, aligned and backed (the caller of `new` checked file_len >= 24). The
        // header words are accessed only atomically, by every party (FORMAT.md 7).
        unsafe { AtomicU64::from_ptr(base.add(index * 8).cast::<u64>()) }
    }

    /// Loads `write_offset` (acquire) and, only when it passed the file length seen last, re-reads
    /// the file length; grows the mapping if the published bytes passed it. Afterwards bytes below
    /// `min(write_offset, file_len)` may be borrowed. The error names the call that failed.
    pub(crate) fn observe(&self) -> Result<Observed, (&'static str, io::Error)> {
        let wo = u64::from_le(self.word(0).load(Ordering::Acquire));
        let mut file_len = self.file_len.load(Ordering::Relaxed);
        if wo > file_len {
            file_len = self.file.metadata().map_err(|e| ("stat", e))?.len();
            self.file_len.store(file_len, Ordering::Relaxed);
        }
        let end = wo.min(file_len);
        if end > self.reserved() {
            self.grow(end).map_err(|e| ("mmap", e))?;
        }
        // A plain load first: an idle tailer polls here continuously, and the limit rarely moves.
        if end > self.limit.load(Ordering::Relaxed) {
            self.limit.fetch_max(end, Ordering::Release);
        }
        Ok(Observed {
            write_offset: wo,
            file_len,
        })
    }

    /// Makes the current mapping at least `need` bytes long: at least twice as long as it was.
    #[cold]
    fn grow(&self, need: u64) -> io::Result<()> {
        let mut maps = self.maps.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.reserved.load(Ordering::Acquire);
        if need <= current {
            return Ok(()); // another thread grew it meanwhile
        }
        let page = page_size();
        let new_len = need.div_ceil(page).saturating_mul(page).max(2 * current);
        let len = usize::try_from(new_len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "mapping too large"))?;
        let last = maps.last_mut().expect("a view has a mapping");
        // SAFETY: without MREMAP_MAYMOVE, mremap either extends the mapping in place, leaving every
        // address already handed out valid and mapping the same bytes, or fails and changes
        // nothing. Bytes past the file's end are mapped but never accessed (only bytes below an
        // observed file length are, INVARIANTS).
        let in_place = unsafe { last.raw.remap(len, RemapOptions::new()) }.is_ok();
        if in_place {
            last.guard.set_range(last.raw.as_ptr(), len);
        } else {
            let raw = MmapOptions::new().len(len).map_raw_read_only(&self.file)?;
            // Registered to set the first mapping's flag; `Drop` unregisters it before that one.
            let guard = maps[0].guard.also(raw.as_ptr(), len, false);
            self.base.store(raw.as_mut_ptr(), Ordering::Release);
            maps.push(Mapping { guard, raw });
        }
        self.reserved.store(new_len, Ordering::Release);
        Ok(())
    }

    /// The header's `event_count` hint.
    pub(crate) fn event_count(&self) -> u64 {
        u64::from_le(self.word(1).load(Ordering::Relaxed))
    }

    /// The header's `start_timestamp`.
    pub(crate) fn start_timestamp(&self) -> i64 {
        u64::from_le(self.word(2).load(Ordering::Relaxed)) as i64
    }

    /// Faults in this view's pages of `[from, to)` (`MADV_POPULATE_READ`), as far as the file is
    /// long now and the current mapping reaches, so that later reads there take no page fault.
    /// Best effort: does nothing on kernels before 5.14. Returns the end of what it asked for.
    pub(crate) fn populate(&self, from: u64, to: u64) -> io::Result<u64> {
        let file_len = self.file.metadata()?.len();
        let maps = self.maps.lock().unwrap_or_else(|p| p.into_inner());
        let Some(current) = maps.last() else {
            return Ok(from);
        };
        let page = page_size();
        let from = from - from % page;
        let to = to.min(file_len).min(current.raw.len() as u64);
        if to <= from {
            return Ok(from);
        }
        if current
            .raw
            .advise_range(Advice::PopulateRead, from as usize, (to - from) as usize)
            .is_err()
        {
            // Kernels before 5.14: touch every page with an atomic load.
            let base = current.raw.as_ptr();
            let mut p = from;
            while p < to {
                // SAFETY: `p` is inside the current mapping and below the file's length, so the
                // byte is mapped and backed (a truncation since is absorbed by the SIGBUS guard);
                // another process may be writing it, which an atomic load tolerates.
                unsafe { AtomicU8::from_ptr(base.add(p as usize).cast_mut()) }
                    .load(Ordering::Relaxed);
                p += page;
            }
        }
        Ok(to)
    }

    /// Asks the CPU to bring the lines holding bytes `[from, to)` of the file into this core's
    /// cache: a hint, not an access (no byte is read, so it may race with the writer's stores, and
    /// a page past the end of the file does not fault). Lines past the mapping are skipped; off
    /// x86_64 it does nothing.
    #[inline]
    pub(crate) fn prefetch(&self, from: u64, to: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            let to = to.min(self.reserved());
            let base = self.base.load(Ordering::Acquire);
            let mut line = from & !63;
            while line < to {
                // SAFETY: `line` is inside the mapping `base` points to, or inside an older,
                // smaller one if a growth ran between the two loads above (never unmapped while
                // `self` lives; and a prefetch of an address outside any mapping is ignored by the
                // CPU: it cannot fault).
                unsafe {
                    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                    _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(line as usize).cast::<i8>());
                }
                line += 64;
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (from, to);
    }

    /// The published bytes `[HEADER_LEN, end)`. Panics if `end` is past what [`Self::observe`]
    /// proved published.
    pub(crate) fn body(&self, end: u64) -> &[u8] {
        let limit = self.limit.load(Ordering::Acquire);
        assert!(end <= limit, "body({end}) past the observed limit {limit}");
        let end = end.max(HEADER_LEN);
        let base = self.base.load(Ordering::Acquire);
        // SAFETY: by the invariants, `base` maps at least `limit >= end` bytes of the file (loaded
        // after `limit`, with acquire), and [HEADER_LEN, end) lies inside the file and below an
        // acquire-observed write_offset, so the bytes are initialized, backed, and never written
        // again. The mapping is not unmapped while `self` lives, even if a later growth makes
        // another current, so the borrow (tied to &self) stays valid.
        unsafe {
            std::slice::from_raw_parts(base.add(HEADER_LEN as usize), (end - HEADER_LEN) as usize)
        }
    }
}

impl Drop for ReadMap {
    fn drop(&mut self) {
        // Newest first: the registrations added with `also` go before the first one (guard
        // INVARIANTS).
        let maps = self.maps.get_mut().unwrap_or_else(|p| p.into_inner());
        while maps.pop().is_some() {}
    }
}

/// The writer's read-write mapping of a journal file it holds the lock for.
///
/// INVARIANTS: `raw` maps the file from offset 0 over `raw.len()` bytes (the reservation; its
/// address changes only in [`WriteMap::reserve`], under `&mut self`, so no slice handed out can
/// point into the old range); the file is at least `allocated` bytes long and `allocated <= raw.len()`;
/// bytes below `published` are published (immutable); bytes in `[published, allocated)` are written
/// by this writer only (it holds the lock, and readers never read at or past `write_offset`).
pub(crate) struct WriteMap {
    guard: guard::Guarded,
    raw: MmapRaw,
    file: File,
    allocated: u64,
    published: u64,
    /// The published content up to here had its write-back started ([`WriteMap::start_writeback`]).
    writeback_started: u64,
    /// The pretoucher's share of the growth, once one was attached ([`Ahead`]).
    ahead: Option<Arc<Ahead>>,
}

/// What a pretoucher on another thread does ahead of the writer (FORMAT.md 7.3): it allocates the
/// file and pre-faults the writer's own mapping past the published `write_offset`, and publishes
/// how far that is ready; the writer adopts it on its cold path, without a system call.
///
/// INVARIANTS:
/// - While `live` (under the lock), `base` and `len` are the writer's current mapping of the file
///   from offset 0: the [`WriteMap`] replaces them under the lock in the same critical section in
///   which it moves the mapping, and clears `live` under the lock before it unmaps the mapping or
///   cuts the file. So a thread that holds the lock and sees `live` may pass `[base, base + len)`
///   to system calls.
/// - The sync never uses the writer's mapping: it goes through its own descriptor and read-only
///   mapping ([`SyncState`]), held under `syncing` and dropped only by
///   [`WriteMap::detach_ahead`], so it takes no `inner` lock and never holds up a writer that grows
///   the file itself. Lock order: `syncing`, then `inner`.
/// - The file is at least `allocated` bytes long; the atomic `allocated` is stored before `ready`
///   (both release) and `ready <= allocated`; both only grow.
/// - The pretoucher touches (pre-faults) only bytes at or past `prefaulted` and at or past the
///   published `write_offset`; every `ready` the writer may write below was pre-faulted before
///   `prefaulted` passed it (by the pretoucher, or by the writer itself under the lock). So the
///   pretoucher never touches a byte the writer may be writing. `prefaulted` is a frontier: every
///   page of `[write_offset, prefaulted)` of the current mapping was pre-faulted (a mapping made
///   afresh resets it to the published `write_offset`). One exception: where pre-faulting is
///   `MADV_POPULATE_WRITE` ([`populate_by_advice`]), which reads and writes no byte, a writer that
///   overtook its pretoucher may write anywhere below `allocated`, taking its own page faults
///   beside the pretoucher's; the pretoucher's touches then race with no store either.
pub(crate) struct Ahead {
    ready: AtomicU64,
    allocated: AtomicU64,
    synced: AtomicU64,
    /// The sync's own descriptor and mapping, and how far it started the write-back (INVARIANTS).
    syncing: Mutex<SyncState>,
    /// Set while the pretoucher is in its pre-faulting loop: a writer that overtook it may wait
    /// for `ready` instead of pre-faulting the same pages ([`WriteMap::ahead_wait`]).
    busy: AtomicBool,
    inner: Mutex<AheadInner>,
}

struct AheadInner {
    live: bool,
    base: *mut u8,
    len: u64,
    /// A duplicate of the writer's descriptor, for `fallocate` and the sync; dropped when the
    /// writer detaches.
    file: Option<File>,
    allocated: u64,
    prefaulted: u64,
}

// SAFETY: the raw pointer is passed to system calls only under the mutex while `live` (Ahead
// INVARIANTS), whichever thread holds it; nothing else in the struct is thread-bound.
unsafe impl Send for AheadInner {}

/// What the pretoucher's sync works with: a read-only mapping of its own (through a duplicate of
/// the writer's descriptor) for the `msync`, so that the sync never needs the writer's mapping nor
/// the lock that guards it; `None` once the writer detached.
struct SyncState {
    /// The published content up to this offset had its write-back started.
    started: u64,
    map: Option<SyncMap>,
}

/// The write-back the sync starts ahead stops this far below `write_offset` (rounded down to a
/// multiple of it): the page cache may hold the file in folios of up to 2 MiB (ext4 uses large
/// folios), and starting the write-back of a folio write-protects all of it, so the folio the
/// writer is storing to is left alone.
const WRITEBACK_MARGIN: u64 = 2 << 20;

/// Starts (without waiting) the write-back of the dirty pages of `[from, to)` of `fd`
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`). Empty ranges do nothing.
fn start_writeback(fd: std::os::fd::RawFd, from: u64, to: u64) -> io::Result<()> {
    if to <= from {
        return Ok(());
    }
    // SAFETY: sync_file_range on a descriptor the caller holds open touches no memory of this
    // process.
    cvt(unsafe {
        libc::sync_file_range(
            fd,
            from as libc::off64_t,
            (to - from) as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        )
    })
    .map(|_| ())
}

/// Where the write-back started ahead of a sync may end, for a published `write_offset` (see
/// [`WRITEBACK_MARGIN`]), never below the header page, which the writer stores to at every append.
fn writeback_end(write_offset: u64) -> u64 {
    (write_offset / WRITEBACK_MARGIN * WRITEBACK_MARGIN).max(page_size())
}

/// How many bytes the writer appends past `write_offset` before [`writeback_end`] moves on, so
/// that a sync pass (the write-back it starts ahead) has work again.
pub(crate) fn writeback_room(write_offset: u64) -> u64 {
    WRITEBACK_MARGIN - write_offset % WRITEBACK_MARGIN
}

/// The pretoucher pre-faults in steps of this many bytes, taking the lock for one step at a time
/// and publishing `ready` after each: a writer that overtakes it waits at most one step for the
/// lock, and adopts what is ready as soon as it is.
pub(crate) const PREFAULT_STEP: u64 = 2 << 20;

/// How a pretoucher works ahead of its writer: see [`Ahead::run`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct AheadPlan {
    /// The writer's growth chunk.
    pub chunk: u64,
    /// Bytes kept ready past the chunk that holds `write_offset`.
    pub ahead: u64,
    /// The journal's maximum size.
    pub max: u64,
    pub prefault: bool,
    pub lock: bool,
    pub huge: bool,
    /// With `Some(step)`, the pretoucher also syncs the content (the range from 0 to
    /// `write_offset`) once `step` bytes were published past its last sync.
    pub sync_step: Option<u64>,
}

impl Ahead {
    /// One pass of the pretoucher (FORMAT.md 7.3): makes `[write_offset, R)` ready, where `R` is
    /// `plan.ahead` bytes past the end of the chunk holding the published `write_offset` (capped at
    /// the maximum size and at the writer's reservation), allocated one chunk further so that the
    /// pre-faulting never touches the file's last chunk; then syncs if `plan.sync_step` says so.
    /// The pre-faulting goes in [`PREFAULT_STEP`]s, `ready` published after each.
    /// Returns `Ok(false)` once the writer is gone (closed or dropped).
    pub(crate) fn run(&self, plan: &AheadPlan) -> io::Result<bool> {
        if !self.prepare(plan)? {
            return Ok(false);
        }
        if let Some(step) = plan.sync_step {
            self.sync(step)?;
        }
        Ok(true)
    }

    /// The growth part of [`Ahead::run`], without the sync (which another thread may run: see
    /// [`Ahead::sync`]).
    pub(crate) fn prepare(&self, plan: &AheadPlan) -> io::Result<bool> {
        let window = {
            let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if !g.live {
                return Ok(false);
            }
            let wo = g.write_offset();
            let chunk = plan.chunk.max(1);
            let cap = plan.max.min(g.len);
            let window = (wo.div_ceil(chunk) * chunk)
                .saturating_add(plan.ahead)
                .min(cap);
            let alloc = window.saturating_add(chunk).min(cap);
            if alloc > g.allocated {
                let file = g.file.as_ref().expect("a live pretoucher has the file");
                allocate(file, g.allocated, alloc - g.allocated)?;
                g.allocated = alloc;
                self.allocated.store(alloc, Ordering::Release);
            }
            window.min(g.allocated)
        };
        if plan.prefault || plan.lock {
            /// Clears `busy` however the loop ends.
            struct Busy<'a>(&'a AtomicBool);
            impl Drop for Busy<'_> {
                fn drop(&mut self) {
                    self.0.store(false, Ordering::Release);
                }
            }
            self.busy.store(true, Ordering::Release);
            let _busy = Busy(&self.busy);
            loop {
                let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                if !g.live {
                    return Ok(false);
                }
                // The mapping may have moved or the writer grown meanwhile: both read afresh.
                let from = g.prefaulted.max(g.write_offset());
                let to = ((from / PREFAULT_STEP + 1) * PREFAULT_STEP)
                    .min(window)
                    .min(g.len);
                if from >= to {
                    break;
                }
                // SAFETY: live, so [base, base + len) is mapped (INVARIANTS); to <= len and
                // <= window <= allocated, so the range is inside the mapping and the file; every
                // byte at or past `max(prefaulted, write_offset)` is one the writer does not write
                // (INVARIANTS), so the touches of the fallback race with no store.
                unsafe { populate(g.base, from, to, plan.lock, plan.huge, from) }?;
                g.prefaulted = to;
                self.ready.fetch_max(to, Ordering::Release);
            }
        }
        if window > self.ready.load(Ordering::Relaxed) {
            self.ready.fetch_max(window, Ordering::Release);
        }
        Ok(true)
    }

    /// The periodic sync of a pretoucher. On every pass it starts (without waiting) the write-back
    /// of the published content past the header page that it has not started yet, so that the
    /// disk keeps pace and the sync finds little to write; it stops 2 MiB short of `write_offset`
    /// ([`WRITEBACK_MARGIN`]), so that the folio the writer is storing to is not write-protected.
    /// Once `step` bytes were published past the last sync, the content `[0, write_offset)` is
    /// written back and waited for with `sync_file_range`, then made durable with `msync(MS_SYNC)`
    /// of that range through the sync's own mapping, which finds the pages clean and only commits
    /// the file system's journal and flushes the device. None of it takes the lock the growth
    /// takes: a writer that overtakes the pretoucher (or a pretoucher thread that pre-faults while
    /// another syncs, [`crate::pretouch`]) is never held up by the disk. Only the published range is
    /// synced: the pages pre-faulted past it stay dirty and writable, so the writer takes no page
    /// fault there.
    pub(crate) fn sync(&self, step: u64) -> io::Result<()> {
        let mut guard = self.syncing.lock().unwrap_or_else(|p| p.into_inner());
        let SyncState { started, map } = &mut *guard;
        let Some(map) = map.as_ref() else {
            return Ok(());
        };
        let fd = std::os::fd::AsRawFd::as_raw_fd(&map.file);
        let wo = map.write_offset()?;
        let to = writeback_end(wo);
        start_writeback(fd, (*started).max(page_size()), to)?;
        *started = (*started).max(to);
        if wo < self.synced.load(Ordering::Relaxed).saturating_add(step) {
            return Ok(());
        }
        let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE
            | libc::SYNC_FILE_RANGE_WRITE
            | libc::SYNC_FILE_RANGE_WAIT_AFTER;
        // SAFETY: as in `start_writeback`: `fd` stays open while `syncing` is held.
        cvt(unsafe { libc::sync_file_range(fd, 0, wo as libc::off64_t, flags) })?;
        let synced = map.sync_to(wo)?;
        self.synced.fetch_max(synced, Ordering::Release);
        Ok(())
    }

    /// Calls `f` with the offset up to which the periodic sync made the content durable and the
    /// published bytes `[HEADER_LEN, synced)`, read through the sync's own mapping (never the
    /// writer's), under the sync's lock: [`WriteMap::detach_ahead`] waits for `f` to return, so
    /// nothing `f` does outlives the writer's upkeep. `Ok(None)` once the writer detached. An
    /// error if the file was cut under the mapping while `f` read it (`f` then saw zeros).
    pub(crate) fn with_synced<R>(&self, f: impl FnOnce(u64, &[u8]) -> R) -> io::Result<Option<R>> {
        let guard = self.syncing.lock().unwrap_or_else(|p| p.into_inner());
        let Some(map) = guard.map.as_ref() else {
            return Ok(None);
        };
        let synced = self.synced.load(Ordering::Acquire);
        map.with_body(synced, |body| f(synced, body)).map(Some)
    }

    /// The published `write_offset` and how far the file is ready for the writer, or `None`
    /// once the writer is gone: what paces the writer's own pretouch and sync threads.
    pub(crate) fn progress(&self) -> Option<(u64, u64)> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.live
            .then(|| (g.write_offset(), self.ready.load(Ordering::Acquire)))
    }

    /// Whether the writer is gone.
    pub(crate) fn closed(&self) -> bool {
        !self.inner.lock().unwrap_or_else(|p| p.into_inner()).live
    }
}

impl AheadInner {
    /// The published `write_offset`. Call only while `live`.
    fn write_offset(&self) -> u64 {
        debug_assert!(self.live);
        // SAFETY: live, so `base` is the writer's mapping, at least a page long and page aligned
        // (Ahead INVARIANTS); the header words are only accessed atomically, by every party.
        u64::from_le(
            unsafe { AtomicU64::from_ptr(self.base.cast::<u64>()) }.load(Ordering::Acquire),
        )
    }
}

/// How [`populate`] faults pages in on this kernel: not known yet, `MADV_POPULATE_WRITE`, or a
/// touch of every page (kernels before 5.14, which refuse the advice with `EINVAL`).
static POPULATE: AtomicU8 = AtomicU8::new(0);
const POPULATE_ADVICE: u8 = 1;
const POPULATE_TOUCH: u8 = 2;

/// Whether [`populate`] pre-faults with `MADV_POPULATE_WRITE` here (it did at least once), which
/// reads or writes no byte of the mapping: then a writer may store to pages a pretoucher is
/// pre-faulting at the same moment ([`Ahead`] INVARIANTS).
pub(crate) fn populate_by_advice() -> bool {
    POPULATE.load(Ordering::Relaxed) == POPULATE_ADVICE
}

/// Huge-page advice (`MADV_HUGEPAGE`) for `[from, to)` of the mapping at `base`, from the page
/// that holds `from` (madvise takes page-aligned ranges only). Advisory: file-backed mappings may
/// not get huge pages, and errors are ignored.
///
/// # Safety
/// `[base + from, base + to)` lies inside a live mapping.
unsafe fn advise_huge(base: *mut u8, from: u64, to: u64) {
    if to <= from {
        return;
    }
    let aligned = from - from % page_size();
    // SAFETY: inside the mapping (the caller's contract); MADV_HUGEPAGE changes no contents.
    let _ = unsafe {
        libc::madvise(
            base.add(aligned as usize).cast(),
            (to - aligned) as usize,
            libc::MADV_HUGEPAGE,
        )
    };
}

/// Pre-faults (`MADV_POPULATE_WRITE`, and optionally locks) `[from, to)` of the mapping at `base`.
///
/// # Safety
/// `[base + from, base + to)` lies inside a live shared mapping of a file at least `to` bytes long,
/// and no other thread stores to bytes at or past `touch_from` in that range during the call (the
/// fallback for kernels before 5.14 touches each page there with an atomic no-op write).
unsafe fn populate(
    base: *mut u8,
    from: u64,
    to: u64,
    lock: bool,
    huge: bool,
    touch_from: u64,
) -> io::Result<()> {
    let (o, l) = (from as usize, (to - from) as usize);
    // SAFETY: inside the mapping (the caller's contract).
    let start = unsafe { base.add(o) };
    let page = page_size() as usize;
    // madvise takes page-aligned ranges only: from the page that holds `from`.
    let aligned = start as usize - (start as usize) % page;
    if huge {
        // SAFETY: inside the live mapping (the caller's contract).
        unsafe { advise_huge(base, from, to) };
    }
    // SAFETY: as above; MADV_POPULATE_WRITE faults the pages in writable and changes no contents.
    let rc = unsafe {
        libc::madvise(
            aligned as *mut libc::c_void,
            l + (start as usize - aligned),
            libc::MADV_POPULATE_WRITE,
        )
    };
    if rc == 0 {
        POPULATE.store(POPULATE_ADVICE, Ordering::Relaxed);
    } else {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINVAL) || populate_by_advice() {
            // A failure to fault in (no memory, a file cut under the mapping, a signal).
            return Err(e);
        }
        // Kernels before 5.14 do not know the advice: touch every page with a no-op atomic write.
        POPULATE.store(POPULATE_TOUCH, Ordering::Relaxed);
        let mut p = o - o % page;
        while p < o + l {
            if p as u64 >= touch_from {
                // SAFETY: the byte is mapped and backed (p < to), and no other thread stores to it
                // (the caller's contract); the atomic RMW adds 0, so its value is unchanged.
                unsafe { AtomicU8::from_ptr(base.add(p)) }.fetch_add(0, Ordering::Relaxed);
            }
            p += page;
        }
    }
    if lock {
        // SAFETY: the range lies inside the live mapping; mlock does not access memory.
        cvt(unsafe { libc::mlock(start.cast(), l) })?;
    }
    Ok(())
}

impl WriteMap {
    /// Maps `reserve` bytes of `file` read-write. `file_len >= HEADER_LEN`; `published` is the end
    /// of the bytes that exist and that no one will write (at open: `min(write_offset, file_len)`).
    pub(crate) fn new(file: File, file_len: u64, published: u64, reserve: u64) -> io::Result<Self> {
        let len = usize::try_from(reserve.max(file_len))
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "mapping too large"))?;
        let raw = MmapOptions::new().len(len).map_raw(&file)?;
        Ok(WriteMap {
            guard: guard::Guarded::new(raw.as_ptr(), raw.len(), true),
            raw,
            file,
            allocated: file_len,
            published: published.min(file_len).max(HEADER_LEN),
            writeback_started: 0,
            ahead: None,
        })
    }

    /// Shares the growth with a pretoucher ([`Ahead`]): `ready` and `prefaulted` are the writer's
    /// (the end of what appends may write, and of what is pre-faulted). The same [`Ahead`] is
    /// returned to every caller.
    pub(crate) fn attach_ahead(&mut self, ready: u64, prefaulted: u64) -> io::Result<Arc<Ahead>> {
        if let Some(a) = &self.ahead {
            return Ok(Arc::clone(a));
        }
        let file = self.file.try_clone()?;
        let a = Arc::new(Ahead {
            ready: AtomicU64::new(ready),
            allocated: AtomicU64::new(self.allocated),
            synced: AtomicU64::new(self.published),
            syncing: Mutex::new(SyncState {
                started: self.published,
                map: Some(SyncMap::new(self.file.try_clone()?, self.raw.len() as u64)?),
            }),
            busy: AtomicBool::new(false),
            inner: Mutex::new(AheadInner {
                live: true,
                base: self.raw.as_mut_ptr(),
                len: self.raw.len() as u64,
                file: Some(file),
                allocated: self.allocated,
                prefaulted: prefaulted.max(ready),
            }),
        });
        self.ahead = Some(Arc::clone(&a));
        Ok(a)
    }

    /// What the pretoucher made ready, if one is attached: appends may write below the returned
    /// offset without growing (it is allocated, and pre-faulted if the pretoucher pre-faults).
    /// Takes over the allocation too. No system call.
    #[inline]
    pub(crate) fn ahead_ready(&mut self) -> Option<u64> {
        let a = self.ahead.as_ref()?;
        let ready = a.ready.load(Ordering::Acquire);
        // Stored before `ready` (Ahead INVARIANTS): at least `ready`.
        self.allocated = self.allocated.max(a.allocated.load(Ordering::Acquire));
        Some(ready.min(self.allocated).min(self.reserved()))
    }

    /// A writer that overtook its pretoucher while the pretoucher is pre-faulting waits for it,
    /// spinning on `ready` (no system call, no page fault) until `ready >= end`, the pretoucher
    /// leaves its pre-faulting loop, or `budget` passed. Returns what [`Self::ahead_ready`] then
    /// returns. Cold path.
    #[cold]
    pub(crate) fn ahead_wait(&mut self, end: u64, budget: Duration) -> Option<u64> {
        let a = Arc::clone(self.ahead.as_ref()?);
        let start = Instant::now();
        let mut spins = 0u32;
        while a.ready.load(Ordering::Acquire) < end && a.busy.load(Ordering::Acquire) {
            std::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(256) && start.elapsed() >= budget {
                break;
            }
        }
        self.ahead_ready()
    }

    /// The `write_offset` up to which the pretoucher synced the content, if one is attached.
    pub(crate) fn ahead_synced(&self) -> Option<u64> {
        self.ahead
            .as_ref()
            .map(|a| a.synced.load(Ordering::Acquire))
    }

    /// Stops the pretoucher, if any: after this it touches neither the mapping nor the file (a
    /// sync it has in flight is waited for: Ahead INVARIANTS).
    pub(crate) fn detach_ahead(&mut self) {
        if let Some(a) = self.ahead.take() {
            let mut syncing = a.syncing.lock().unwrap_or_else(|p| p.into_inner());
            syncing.map = None;
            let mut g = a.inner.lock().unwrap_or_else(|p| p.into_inner());
            g.live = false;
            g.file = None;
        }
    }

    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    pub(crate) fn allocated(&self) -> u64 {
        self.allocated
    }

    /// Whether the file was found truncated under this mapping (see [`guard`]).
    #[inline]
    pub(crate) fn shrunk(&self) -> bool {
        self.guard.shrunk()
    }

    pub(crate) fn reserved(&self) -> u64 {
        self.raw.len() as u64
    }

    /// Publishes (FORMAT.md 7.1 steps 2-3): `write_offset` with release, then `event_count`.
    #[inline]
    pub(crate) fn publish(&mut self, write_offset: u64, event_count: u64) {
        debug_assert!(write_offset >= self.published && write_offset <= self.allocated);
        self.store_header(write_offset, event_count);
    }

    /// Recovery only (FORMAT.md 8 step 3): lowers `write_offset` to the end of the content.
    pub(crate) fn cut_back(&mut self, write_offset: u64, event_count: u64) {
        debug_assert!(write_offset <= self.published);
        self.store_header(write_offset, event_count);
    }

    #[inline]
    fn store_header(&mut self, write_offset: u64, event_count: u64) {
        header_word(&self.raw, 0).store(write_offset.to_le(), Ordering::Release);
        header_word(&self.raw, 1).store(event_count.to_le(), Ordering::Release);
        self.published = write_offset;
    }

    /// The published bytes `[HEADER_LEN, end)`, `end <= published`.
    pub(crate) fn body(&self, end: u64) -> &[u8] {
        assert!(
            end <= self.published,
            "body({end}) past published {}",
            self.published
        );
        let end = end.max(HEADER_LEN);
        // SAFETY: by the invariant the range is mapped, backed by the file and immutable; the
        // borrow is tied to &self, which the &mut methods that write cannot overlap.
        unsafe {
            std::slice::from_raw_parts(
                self.raw.as_ptr().add(HEADER_LEN as usize),
                (end - HEADER_LEN) as usize,
            )
        }
    }

    /// The unpublished bytes `[off, off + len)`, for this writer to fill. Panics if the range is
    /// not inside `[published, allocated)`.
    #[inline]
    pub(crate) fn unpublished_mut(&mut self, off: u64, len: u64) -> &mut [u8] {
        assert!(
            off >= self.published && off + len <= self.allocated,
            "unpublished_mut({off}, {len}) outside [{}, {})",
            self.published,
            self.allocated
        );
        // SAFETY: by the invariant the range is mapped and backed by the file, and only this
        // writer touches bytes at or past `published`; the `&mut self` borrow makes this the only
        // live reference into the range.
        unsafe {
            std::slice::from_raw_parts_mut(self.raw.as_mut_ptr().add(off as usize), len as usize)
        }
    }

    /// Makes the reservation (the mapping's length) at least `len` bytes, moving the mapping if it
    /// cannot grow in place. Cold path: [`crate::Writer`] calls it only when the file outgrows the
    /// reservation, never on an append that fits. Returns `false` when the pages already faulted in
    /// (and locked) did not come along, and the caller must fault in again what it will write.
    pub(crate) fn reserve(&mut self, len: u64) -> io::Result<bool> {
        if len <= self.reserved() {
            return Ok(true);
        }
        // The pretoucher must not use the old range while (or after) it moves (Ahead INVARIANTS).
        let ahead = self.ahead.clone();
        let mut g = ahead
            .as_ref()
            .map(|a| a.inner.lock().unwrap_or_else(|p| p.into_inner()));
        let kept = self.reserve_locked(len);
        if let Some(g) = g.as_mut() {
            g.base = self.raw.as_mut_ptr();
            g.len = self.raw.len() as u64;
            if let Ok(false) = kept {
                // A fresh mapping: nothing of it is pre-faulted yet (Ahead INVARIANTS).
                g.prefaulted = self.published;
            }
        }
        kept
    }

    fn reserve_locked(&mut self, len: u64) -> io::Result<bool> {
        let len = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "mapping too large"))?;
        // SAFETY: `&mut self` means no borrow into the mapping is live (every slice handed out
        // borrows `self`), so the mapping may move; its pages, populated or locked, move with it.
        // Only bytes below `allocated`, inside the file, are accessed afterwards, as before.
        match unsafe { self.raw.remap(len, RemapOptions::new().may_move(true)) } {
            Ok(()) => {
                self.guard.set_range(self.raw.as_ptr(), self.raw.len());
                Ok(true)
            }
            // Kernels that resize only a single kernel area refuse a mapping that mlock or
            // huge-page advice split into several.
            Err(e) if e.raw_os_error() == Some(libc::EFAULT) => {
                self.map_afresh(len)?;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Replaces the mapping with a new one of `len` bytes (the old one is unmapped: `&mut self`
    /// means nothing points into it).
    fn map_afresh(&mut self, len: usize) -> io::Result<()> {
        let raw = MmapOptions::new().len(len).map_raw(&self.file)?;
        self.guard.set_range(raw.as_ptr(), raw.len());
        // The old mapping is unmapped here, after its range left the guard.
        self.raw = raw;
        Ok(())
    }

    /// Grows the file to `new_len` bytes with `fallocate` (FORMAT.md 7.3).
    pub(crate) fn grow(&mut self, new_len: u64) -> io::Result<()> {
        if new_len <= self.allocated {
            return Ok(());
        }
        assert!(new_len <= self.reserved(), "grow past the reservation");
        let Some(a) = self.ahead.clone() else {
            allocate(&self.file, self.allocated, new_len - self.allocated)?;
            self.allocated = new_len;
            return Ok(());
        };
        let mut g = a.inner.lock().unwrap_or_else(|p| p.into_inner());
        let from = self.allocated.max(g.allocated);
        if new_len > from {
            allocate(&self.file, from, new_len - from)?;
        }
        self.allocated = new_len.max(from);
        g.allocated = self.allocated;
        a.allocated.fetch_max(self.allocated, Ordering::Release);
        Ok(())
    }

    /// Faults in (and optionally locks) `[off, off + len)`, which must be allocated, so that later
    /// stores there take no page fault. With a pretoucher attached, under its lock, and what it
    /// pre-faults afterwards starts past this range (Ahead INVARIANTS).
    pub(crate) fn prefault(
        &mut self,
        off: u64,
        len: u64,
        lock: bool,
        huge: bool,
    ) -> io::Result<()> {
        let end = (off + len).min(self.allocated);
        if end <= off {
            return Ok(());
        }
        let ahead = self.ahead.clone();
        let mut g = ahead
            .as_ref()
            .map(|a| a.inner.lock().unwrap_or_else(|p| p.into_inner()));
        // What the pretoucher already pre-faulted is not pre-faulted again (a frontier, Ahead
        // INVARIANTS).
        let off = match &g {
            Some(g) if off >= self.published => off.max(g.prefaulted),
            _ => off,
        };
        if end <= off {
            return Ok(());
        }
        // SAFETY: [off, end) lies inside the mapping (end <= allocated <= raw.len()) and the file
        // (INVARIANTS); bytes at or past `published` are written only by this writer, which is
        // here (`&mut self`), and the pretoucher, if any, is held off by its lock.
        unsafe { populate(self.raw.as_mut_ptr(), off, end, lock, huge, self.published) }?;
        if let Some(g) = g.as_mut() {
            g.prefaulted = g.prefaulted.max(end);
        }
        Ok(())
    }

    /// Starts (without waiting) the write-back of the published content whose write-back was not
    /// started yet, past the header page and up to 2 MiB short of `write_offset` (the folio the
    /// writer stores to is left writable: [`WRITEBACK_MARGIN`]), so that a later sync finds it
    /// written or under way. No effect on what readers see.
    pub(crate) fn start_writeback(&mut self, write_offset: u64) -> io::Result<()> {
        let to = writeback_end(write_offset.min(self.published));
        let from = self.writeback_started.max(page_size());
        start_writeback(std::os::fd::AsRawFd::as_raw_fd(&self.file), from, to)?;
        self.writeback_started = self.writeback_started.max(to);
        Ok(())
    }

    /// `msync(MS_SYNC)` of `[off, off + len)` (page-aligned by memmap2).
    pub(crate) fn sync_range(&self, off: u64, len: u64) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        self.raw.flush_range(off as usize, len as usize)
    }

    /// Huge-page advice (`MADV_HUGEPAGE`) for `[off, off + len)`, as [`WriteMap::prefault`] gives
    /// it with `huge`, for a range the writer faults in by storing to it. Advice only.
    pub(crate) fn advise_huge(&self, off: u64, len: u64) {
        let end = (off + len).min(self.raw.len() as u64);
        // SAFETY: [off, end) lies inside the live mapping (end <= its length).
        unsafe { advise_huge(self.raw.as_mut_ptr(), off, end) };
    }

    /// Read-ahead advice for the whole mapping (`MADV_RANDOM` or `MADV_NORMAL`; the whole mapping,
    /// so that no kernel area is split). With `random`, a page fault (or a pre-fault) reads, that is
    /// zero-fills, only the folio it needs instead of a read-ahead window, which can be the device's
    /// `read_ahead_kb` (megabytes): creation pre-faults a small first window this way.
    pub(crate) fn advise_random(&self, random: bool) -> io::Result<()> {
        self.raw.advise(if random {
            Advice::Random
        } else {
            Advice::Normal
        })
    }

    /// Cuts the file to `len` bytes (clean close). `len >= published`. Stops the pretoucher first.
    pub(crate) fn truncate(&mut self, len: u64) -> io::Result<()> {
        assert!(len >= self.published);
        self.detach_ahead();
        self.file.set_len(len)?;
        self.allocated = len;
        Ok(())
    }
}

impl Drop for WriteMap {
    fn drop(&mut self) {
        // Before the mapping is unmapped (fields drop after this): Ahead INVARIANTS.
        self.detach_ahead();
    }
}

/// A mapping of a journal file that a writer holds the lock for, made only to sync the file from
/// another thread of the writer's process (FORMAT.md 9): `msync(MS_SYNC)` of `[0, write_offset)`
/// writes the pages of that range only, where an `fdatasync` of the file would also write the
/// pages pre-faulted ahead of `write_offset` (and make the writer fault on them again).
///
/// The mapping is its own, not the writer's: it stays valid whatever the writer does (moves its
/// mapping, cuts the file at close, drops), so a sync can never touch an unmapped range. Its bytes
/// are read only as the header's `write_offset`, atomically, and, for the index upkeep of a
/// pretoucher ([`SyncMap::with_body`]), as published content below it (registered with the SIGBUS
/// guard, in case the file is cut under it by another process).
///
/// INVARIANTS: `map` maps the file from offset 0, read-only, at least one page long; it is
/// replaced (by a longer one) only under the mutex, which every use holds.
pub(crate) struct SyncMap {
    file: File,
    map: Mutex<Mapping>,
}

impl SyncMap {
    /// Maps `reserve` bytes (at least one page) of `file`, a descriptor of the journal opened for
    /// writing (a mapping of a descriptor opened read-only is not shared for `msync`). The caller
    /// checked the file is at least `HEADER_LEN` bytes long.
    pub(crate) fn new(file: File, reserve: u64) -> io::Result<SyncMap> {
        let map = Self::map(&file, reserve)?;
        Ok(SyncMap {
            file,
            map: Mutex::new(map),
        })
    }

    fn map(file: &File, len: u64) -> io::Result<Mapping> {
        let page = page_size();
        let len = usize::try_from(len.max(page).div_ceil(page) * page)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "mapping too large"))?;
        let raw = MmapOptions::new().len(len).map_raw_read_only(file)?;
        Ok(Mapping {
            guard: guard::Guarded::new(raw.as_ptr(), raw.len(), false),
            raw,
        })
    }

    /// Loads the published `write_offset` (acquire) and syncs `[0, write_offset)`: the header page
    /// and the content below it. Returns that `write_offset`: every event below it is durable.
    pub(crate) fn sync_published(&self) -> io::Result<u64> {
        let wo = self.write_offset()?;
        self.sync_to(wo)
    }

    /// The published `write_offset` (acquire), at least `HEADER_LEN`.
    pub(crate) fn write_offset(&self) -> io::Result<u64> {
        let m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let wo = u64::from_le(header_word(&m.raw, 0).load(Ordering::Acquire));
        if m.guard.shrunk() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file was cut below its header",
            ));
        }
        Ok(wo.max(HEADER_LEN))
    }

    /// Calls `f` with the published bytes `[HEADER_LEN, end)`, read through this mapping (grown
    /// first if it is shorter). `end` must not lie past the published `write_offset` (checked:
    /// an error otherwise). An error too if the file was found cut under the mapping afterwards:
    /// `f` may then have read zeros where the content was.
    pub(crate) fn with_body<R>(&self, end: u64, f: impl FnOnce(&[u8]) -> R) -> io::Result<R> {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let wo = u64::from_le(header_word(&m.raw, 0).load(Ordering::Acquire));
        if end > wo {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{end} lies past the published write_offset {wo}"),
            ));
        }
        let end = end.max(HEADER_LEN);
        if end > m.raw.len() as u64 {
            let len = end.max(2 * m.raw.len() as u64);
            *m = Self::map(&self.file, len)?;
        }
        // SAFETY: [HEADER_LEN, end) lies inside the mapping (grown above) and below the
        // `write_offset` just loaded with acquire, hence inside the file (the writer publishes
        // only allocated bytes) and published: the bytes are initialized and never written again
        // (FORMAT.md 7.2). If another process cuts the file meanwhile, the SIGBUS guard maps zeros
        // over the lost pages (a read of them still completes) and flags it, checked below. The
        // mapping is not replaced while the lock is held, and the slice does not outlive `f`.
        let body = unsafe {
            std::slice::from_raw_parts(
                m.raw.as_ptr().add(HEADER_LEN as usize),
                (end - HEADER_LEN) as usize,
            )
        };
        let r = f(body);
        if m.guard.shrunk() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file was cut under the sync's mapping",
            ));
        }
        Ok(r)
    }

    /// Syncs `[0, wo)` (`msync(MS_SYNC)`), growing the mapping first if it is shorter; returns `wo`.
    pub(crate) fn sync_to(&self, wo: u64) -> io::Result<u64> {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if wo > m.raw.len() as u64 {
            // The mapping only needs to cover the range; bytes of it are never read.
            let len = wo.max(2 * m.raw.len() as u64);
            *m = Self::map(&self.file, len)?;
        }
        m.raw.flush_range(0, wo as usize)?;
        Ok(wo)
    }
}

/// A ring file's mapping: the 4096-byte header and the data area (spec/RING.md 1, 2).
///
/// INVARIANTS: `raw` maps the whole file, `header_len + capacity` bytes, and the file is exactly that
/// long and fully allocated; `capacity` is a power of two. The header words are accessed only
/// atomically. In the data area, the producer writes only bytes in `[producer_position,
/// consumer_position + capacity)` and the consumer reads only bytes in `[consumer_position,
/// producer_position)` (positions modulo capacity), so the two never touch the same byte at once
/// (spec/RING.md 6).
pub(crate) struct RingMap {
    guard: guard::Guarded,
    raw: MmapRaw,
    header_len: u64,
    capacity: u64,
}

impl RingMap {
    /// Maps `file`, which is `header_len + capacity` bytes long (checked by the caller).
    pub(crate) fn new(file: &File, header_len: u64, capacity: u64) -> io::Result<RingMap> {
        let len = usize::try_from(header_len + capacity)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "ring too large"))?;
        let raw = MmapOptions::new().len(len).map_raw(file)?;
        // Fault every page in now, so pushes and reads take no page fault (best effort: kernels
        // before 5.14 lack MADV_POPULATE_WRITE, and then the first pass faults as usual).
        let _ = raw.advise(Advice::PopulateWrite);
        Ok(RingMap {
            guard: guard::Guarded::new(raw.as_ptr(), raw.len(), true),
            raw,
            header_len,
            capacity,
        })
    }

    /// Whether the file was found truncated under this mapping (see [`guard`]).
    #[inline]
    pub(crate) fn shrunk(&self) -> bool {
        self.guard.shrunk()
    }

    /// The header word at byte `offset` (8-aligned, inside the header).
    #[inline]
    pub(crate) fn word(&self, offset: usize) -> &AtomicU64 {
        assert!(offset.is_multiple_of(8) && (offset as u64) + 8 <= self.header_len);
        // SAFETY: the offset is 8-aligned inside the page-aligned header, which is mapped and backed
        // for the mapping's lifetime (the borrow's); header words are only accessed atomically.
        unsafe { AtomicU64::from_ptr(self.raw.as_mut_ptr().add(offset).cast::<u64>()) }
    }

    /// The 32-bit header word at byte `offset` (4-aligned, inside the header): a futex word or a
    /// sleeping flag (spec/RING.md 2, 5.1).
    #[inline]
    pub(crate) fn word32(&self, offset: usize) -> &AtomicU32 {
        assert!(offset.is_multiple_of(4) && (offset as u64) + 4 <= self.header_len);
        // SAFETY: the offset is 4-aligned inside the page-aligned header, which is mapped and backed
        // for the mapping's lifetime (the borrow's); header words are only accessed atomically.
        unsafe { AtomicU32::from_ptr(self.raw.as_mut_ptr().add(offset).cast::<u32>()) }
    }

    /// Bytes `[offset, offset + len)` of the data area, for the consumer: the range must lie in
    /// the published, unreleased part of the ring. Panics if it is outside the data area.
    #[inline]
    pub(crate) fn data(&self, offset: u64, len: u64) -> &[u8] {
        assert!(
            offset + len <= self.capacity,
            "ring read outside the data area"
        );
        // SAFETY: in bounds of the mapping (checked above); by the ring protocol the producer does
        // not write these bytes until the consumer releases them, which it does only after the
        // borrows handed out for the batch have ended (`Consumer::read` ties them to the callback).
        unsafe {
            std::slice::from_raw_parts(
                self.raw.as_ptr().add((self.header_len + offset) as usize),
                len as usize,
            )
        }
    }

    /// The 8-byte word at `offset` of the data area (8-aligned): a record's commit word
    /// (spec/RING.md 3), which both sides access only atomically while it is one. Panics if it is
    /// misaligned or outside the data area.
    #[inline]
    pub(crate) fn data_word(&self, offset: u64) -> &AtomicU64 {
        assert!(
            offset.is_multiple_of(8) && offset + 8 <= self.capacity,
            "ring word outside the data area"
        );
        // SAFETY: in bounds (checked above) of a mapping that lives as long as the borrow; the data
        // area starts at `header_len` (4096) from a page-aligned address and `offset` is a multiple
        // of 8, so the pointer is aligned for u64. By the ring protocol (spec/RING.md 3, 6) a word
        // at a record boundary the consumer may poll is written by the producer only atomically;
        // the producer's plain writes to the same bytes (as payload of a later lap) happen only
        // after the consumer released them, which orders them after the consumer's loads.
        unsafe {
            AtomicU64::from_ptr(
                self.raw
                    .as_mut_ptr()
                    .add((self.header_len + offset) as usize)
                    .cast::<u64>(),
            )
        }
    }

    /// Bytes `[offset, offset + len)` of the data area, for the producer to fill: the range must lie
    /// in the free part of the ring. Panics if it is outside the data area.
    #[inline]
    pub(crate) fn data_mut(&mut self, offset: u64, len: u64) -> &mut [u8] {
        assert!(
            offset + len <= self.capacity,
            "ring write outside the data area"
        );
        // SAFETY: in bounds (checked above); by the ring protocol the consumer does not read free
        // bytes, and `&mut self` makes this the only reference the producer holds into them.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.raw
                    .as_mut_ptr()
                    .add((self.header_len + offset) as usize),
                len as usize,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A journal in a fresh directory named after `name`, with 4 KiB chunks and one event of 100
    /// bytes of 1s, and a read-only handle on its file and the file's length.
    fn one_event_journal(name: &str) -> (std::path::PathBuf, crate::Writer, File, u64) {
        let dir = std::env::temp_dir().join(format!("journal-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("j");
        let _ = std::fs::remove_file(&path);
        let mut w = crate::WriterOptions::new()
            .chunk_size(4096)
            .create(&path)
            .unwrap();
        w.append(1, &[1u8; 100]).unwrap();
        let file = File::open(&path).unwrap();
        let len = file.metadata().unwrap().len();
        (dir, w, file, len)
    }

    /// A reader's view whose mapping cannot grow in place (the next page is taken) moves to a new,
    /// longer mapping and keeps the old one: a slice borrowed before the move still reads the same
    /// published bytes, and the view reads everything appended since.
    #[test]
    fn a_view_that_cannot_grow_in_place_keeps_its_old_mapping() {
        let (dir, mut w, file, len) = one_event_journal("map");
        let page = page_size() as usize;
        let view = ReadMap::new(file, len, 1).unwrap();
        let end = view.observe().unwrap().write_offset;
        let before = view.body(end);
        let copy = before.to_vec();
        // Take the page after the view's mapping, so it cannot grow in place.
        let next = view.base.load(Ordering::Acquire) as usize + page;
        // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping; the page is unmapped
        // below.
        let blocker = unsafe {
            libc::mmap(
                next as *mut libc::c_void,
                page,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        for i in 0..100 {
            w.append(i, &[i as u8; 300]).unwrap();
        }
        let obs = view.observe().unwrap();
        assert!(obs.write_offset > 4 * page as u64);
        assert!(
            view.maps.lock().unwrap().len() >= 2,
            "the view did not move"
        );
        assert!(view.reserved() >= obs.write_offset);
        assert_eq!(before, &copy[..]);
        let all = view.body(obs.write_offset);
        assert_eq!(&all[..copy.len()], &copy[..]);
        let scanned = crate::recovery::scan(all, obs.write_offset, obs.file_len, true);
        assert_eq!((scanned.events, scanned.damage), (101, None));
        if blocker != libc::MAP_FAILED {
            // SAFETY: the page mapped above, which nothing references.
            unsafe { libc::munmap(blocker, page) };
        }
        drop(view);
        w.close().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A follower's prefetch may name lines past the end of the file (where the writer's next
    /// entry will go) and past the mapping: neither faults, nor marks the view as shrunk (which a
    /// read of a page past the end would, through the SIGBUS guard), and the view still reads.
    #[test]
    fn a_prefetch_past_the_end_of_the_file_does_not_fault() {
        let (dir, w, file, len) = one_event_journal("prefetch");
        let page = page_size();
        let view = ReadMap::new(file, len, 64 * page).unwrap();
        assert!(
            view.reserved() > len + page,
            "the mapping reaches past the file"
        );
        view.prefetch(0, u64::MAX);
        view.prefetch(len, len + 4096);
        view.prefetch(view.reserved() + 64, u64::MAX);
        view.prefetch(200, 100);
        assert!(!view.shrunk());
        let end = view.observe().unwrap().write_offset;
        assert_eq!(&view.body(end)[16..116], &[1u8; 100][..]);
        drop(view);
        w.close().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The writer's fallback when `mremap` refuses: a fresh mapping reads and writes the same file.
    #[test]
    fn a_write_map_mapped_afresh_reads_and_writes_the_same_file() {
        let dir = std::env::temp_dir().join(format!("journal-wmap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("j");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        let page = page_size();
        file.set_len(2 * page).unwrap();
        let mut map = WriteMap::new(file, 2 * page, HEADER_LEN, 2 * page).unwrap();
        map.unpublished_mut(HEADER_LEN, 8)
            .copy_from_slice(b"12345678");
        map.publish(HEADER_LEN + 8, 1);
        map.map_afresh(8 * page as usize).unwrap();
        assert_eq!(map.reserved(), 8 * page);
        assert_eq!(map.body(HEADER_LEN + 8), b"12345678");
        map.grow(4 * page).unwrap();
        map.unpublished_mut(3 * page, 4).copy_from_slice(b"abcd");
        map.publish(3 * page + 4, 2);
        drop(map);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], &(3 * page + 4).to_le_bytes());
        assert_eq!(&bytes[3 * page as usize..3 * page as usize + 4], b"abcd");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
