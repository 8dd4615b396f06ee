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
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

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
        })
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
        allocate(&self.file, self.allocated, new_len - self.allocated)?;
        self.allocated = new_len;
        Ok(())
    }

    /// Faults in (and optionally locks) `[off, off + len)`, which must be allocated, so that later
    /// stores there take no page fault.
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
        let (o, l) = (off as usize, (end - off) as usize);
        if huge {
            // Advisory only: file-backed mappings may not get huge pages.
            let _ = self.raw.advise_range(Advice::HugePage, o, l);
        }
        if self.raw.advise_range(Advice::PopulateWrite, o, l).is_err() {
            // Kernels before 5.14: touch every page with a no-op atomic write.
            let page = page_size() as usize;
            let mut p = o - o % page;
            while p < o + l {
                if p as u64 >= self.published {
                    // SAFETY: the byte is mapped and backed (p < allocated) and owned by this
                    // writer (p >= published); the atomic RMW adds 0, so its value is unchanged.
                    unsafe { AtomicU8::from_ptr(self.raw.as_mut_ptr().add(p)) }
                        .fetch_add(0, Ordering::Relaxed);
                }
                p += page;
            }
        }
        if lock {
            // SAFETY: the range lies inside this live mapping; mlock does not access memory.
            let rc = unsafe { libc::mlock(self.raw.as_ptr().add(o).cast(), l) };
            cvt(rc)?;
        }
        Ok(())
    }

    /// `msync(MS_SYNC)` of `[off, off + len)` (page-aligned by memmap2).
    pub(crate) fn sync_range(&self, off: u64, len: u64) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        self.raw.flush_range(off as usize, len as usize)
    }

    /// Cuts the file to `len` bytes (clean close). `len >= published`.
    pub(crate) fn truncate(&mut self, len: u64) -> io::Result<()> {
        assert!(len >= self.published);
        self.file.set_len(len)?;
        self.allocated = len;
        Ok(())
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

    /// A reader's view whose mapping cannot grow in place (the next page is taken) moves to a new,
    /// longer mapping and keeps the old one: a slice borrowed before the move still reads the same
    /// published bytes, and the view reads everything appended since.
    #[test]
    fn a_view_that_cannot_grow_in_place_keeps_its_old_mapping() {
        let dir = std::env::temp_dir().join(format!("journal-map-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("j");
        let _ = std::fs::remove_file(&path);
        let mut w = crate::WriterOptions::new()
            .chunk_size(4096)
            .create(&path)
            .unwrap();
        w.append(1, &[1u8; 100]).unwrap();
        let page = page_size() as usize;
        let file = File::open(&path).unwrap();
        let len = file.metadata().unwrap().len();
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
