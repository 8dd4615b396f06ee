//! The only module with `unsafe`: shared mappings, header atomics, and the file system calls the
//! writer needs (fallocate, locks, msync, mlock); the socket calls of capture are in [`net`].
//!
//! Memory that another process may write is reached only through atomics (the stream header) or, for
//! the writer, through `&mut` slices of bytes above the published `write_offset`, which no other
//! process reads or writes (FORMAT.md 7, 10). Shared slices are handed out only for bytes below a
//! `write_offset` observed with acquire ordering and within the file's observed length: those bytes
//! are immutable (FORMAT.md 7.2).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use memmap2::{Advice, MmapOptions, MmapRaw};

use crate::format::HEADER_LEN;

pub(crate) mod net;
pub(crate) mod ringlock;

/// The system page size.
pub(crate) fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions; _SC_PAGESIZE is a valid name.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as u64
    } else {
        4096
    }
}

fn cvt(rc: libc::c_int) -> io::Result<()> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `fallocate(fd, mode, off, len)`, falling back to `posix_fallocate` when the file system does not
/// support `fallocate` (FORMAT.md 7.3).
pub(crate) fn allocate(file: &File, off: u64, len: u64) -> io::Result<()> {
    // SAFETY: plain system call on an open descriptor; no memory is passed.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, off as i64, len as i64) };
    match cvt(rc) {
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
            // SAFETY: as above. posix_fallocate returns the error number instead of setting errno.
            let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), off as i64, len as i64) };
            if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::from_raw_os_error(rc))
            }
        }
        other => other,
    }
}

/// Makes `[off, off + len)` read as zeros while keeping its blocks allocated: a hole is punched and
/// then allocated again, so a later store into it cannot fail for lack of space. Returns `false` when
/// the file system supports neither, and the caller must write zeros itself.
pub(crate) fn zero_range(file: &File, off: u64, len: u64) -> io::Result<bool> {
    if len == 0 {
        return Ok(true);
    }
    let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
    // SAFETY: plain system call on an open descriptor; no memory is passed.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), mode, off as i64, len as i64) };
    match cvt(rc) {
        Ok(()) => allocate(file, off, len).map(|()| true),
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(false),
        Err(e) => Err(e),
    }
}

fn ofd_lock(kind: libc::c_short) -> libc::flock {
    // SAFETY: `flock` is a plain C struct for which all-zero bytes are a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = 0;
    fl.l_len = 0; // the whole file, however long it grows
    fl
}

/// Takes the writer's exclusive open-file-description lock (FORMAT.md 10) without waiting.
/// Returns `Ok(false)` when another open file description holds a conflicting lock.
fn try_lock_writer(file: &File) -> io::Result<bool> {
    let mut fl = ofd_lock(libc::F_WRLCK as libc::c_short);
    // SAFETY: `fl` is a valid, exclusively borrowed flock for the duration of the call.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &mut fl) };
    match cvt(rc) {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The writer's lock, held for as long as this guard lives, released explicitly on drop: closing
/// the descriptor is not enough, because a child forked by another thread holds a copy of the open
/// file description (and so the lock) until it execs. The guard holds its own duplicate of the
/// descriptor, so it releases the lock on every path: a writer's close, and an open that fails
/// after locking.
pub(crate) struct WriterLock(File);

impl WriterLock {
    /// Takes the lock on `file` without waiting; `Ok(None)` if another writer holds it.
    pub(crate) fn try_lock(file: &File) -> io::Result<Option<WriterLock>> {
        if !try_lock_writer(file)? {
            return Ok(None);
        }
        let dup = file.try_clone();
        match dup {
            Ok(dup) => Ok(Some(WriterLock(dup))),
            Err(e) => {
                let _ = unlock_writer(file);
                Err(e)
            }
        }
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        let _ = unlock_writer(&self.0);
    }
}

fn unlock_writer(file: &File) -> io::Result<()> {
    let mut fl = ofd_lock(libc::F_UNLCK as libc::c_short);
    // SAFETY: `fl` is a valid, exclusively borrowed flock for the duration of the call.
    cvt(unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &mut fl) })
}

/// Whether some open file description (a writer) holds a lock on the file, without taking one.
pub(crate) fn writer_present(file: &File) -> io::Result<bool> {
    let mut fl = ofd_lock(libc::F_WRLCK as libc::c_short);
    // SAFETY: `fl` is a valid, exclusively borrowed flock for the duration of the call.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) };
    cvt(rc)?;
    Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
}

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

/// A read-only view of a journal file that may be growing under another process's writer.
///
/// INVARIANTS: `raw` maps the file from offset 0 with length `raw.len() >= limit.max(HEADER_LEN)`;
/// `limit` only grows, and every byte below it is below a `write_offset` this map observed with
/// acquire ordering and below a file length it observed with `fstat`, so those bytes are published
/// and immutable (FORMAT.md 7.2).
pub(crate) struct ReadMap {
    guard: guard::Guarded,
    raw: MmapRaw,
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
    /// Maps `reserve` bytes of `file` read-only. The caller has checked `file_len >= HEADER_LEN`.
    pub(crate) fn new(file: File, file_len: u64, reserve: u64) -> io::Result<ReadMap> {
        let reserve = reserve.max(file_len).max(page_size());
        let len = usize::try_from(reserve)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "mapping too large"))?;
        let raw = MmapOptions::new().len(len).map_raw_read_only(&file)?;
        Ok(ReadMap {
            guard: guard::Guarded::new(raw.as_ptr(), raw.len(), false),
            raw,
            file,
            limit: AtomicU64::new(HEADER_LEN),
            file_len: AtomicU64::new(file_len),
        })
    }

    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Whether the file was found truncated under this mapping (see [`guard`]).
    #[inline]
    pub(crate) fn shrunk(&self) -> bool {
        self.guard.shrunk()
    }

    /// The mapping's length: the largest file this view can follow.
    pub(crate) fn reserved(&self) -> u64 {
        self.raw.len() as u64
    }

    /// Loads `write_offset` (acquire) and, only when it passed the file length seen last, re-reads
    /// the file length. Afterwards bytes below `min(write_offset, file_len)` may be borrowed.
    pub(crate) fn observe(&self) -> io::Result<Observed> {
        let wo = u64::from_le(header_word(&self.raw, 0).load(Ordering::Acquire));
        let mut file_len = self.file_len.load(Ordering::Relaxed);
        if wo > file_len {
            file_len = self.file.metadata()?.len();
            self.file_len.store(file_len, Ordering::Relaxed);
        }
        let end = wo.min(file_len).min(self.reserved());
        // A plain load first: an idle tailer polls here continuously, and the limit rarely moves.
        if end > self.limit.load(Ordering::Relaxed) {
            self.limit.fetch_max(end, Ordering::Relaxed);
        }
        Ok(Observed {
            write_offset: wo,
            file_len,
        })
    }

    /// The header's `event_count` hint.
    pub(crate) fn event_count(&self) -> u64 {
        u64::from_le(header_word(&self.raw, 1).load(Ordering::Relaxed))
    }

    /// The header's `start_timestamp`.
    pub(crate) fn start_timestamp(&self) -> i64 {
        u64::from_le(header_word(&self.raw, 2).load(Ordering::Relaxed)) as i64
    }

    /// The published bytes `[HEADER_LEN, end)`. Panics if `end` is past what [`Self::observe`]
    /// proved published.
    pub(crate) fn body(&self, end: u64) -> &[u8] {
        let limit = self.limit.load(Ordering::Relaxed);
        assert!(end <= limit, "body({end}) past the observed limit {limit}");
        let end = end.max(HEADER_LEN);
        // SAFETY: by the invariant, [HEADER_LEN, end) lies inside the mapping, inside the file, and
        // below an acquire-observed write_offset, so the bytes are initialized, backed, and never
        // written again while this borrow (tied to &self, hence to the mapping) lives.
        unsafe {
            std::slice::from_raw_parts(
                self.raw.as_ptr().add(HEADER_LEN as usize),
                (end - HEADER_LEN) as usize,
            )
        }
    }
}

/// The writer's read-write mapping of a journal file it holds the lock for.
///
/// INVARIANTS: `raw` maps the file from offset 0 over `raw.len()` bytes (the reservation; its
/// address never changes); the file is at least `allocated` bytes long and `allocated <= raw.len()`;
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
        assert!(offset % 8 == 0 && (offset as u64) + 8 <= self.header_len);
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

/// Liveness without a clock: a process's state letter and start time (`/proc/PID/stat`
/// fields 3 and 22), or `None` if it does not exist (spec/RING.md 7).
pub(crate) fn process_identity(pid: u32) -> Option<(u8, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = *fields.next()?.as_bytes().first()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Sets this thread's timer slack (how late the kernel may wake a sleeper, 50 µs by default) and
/// returns the previous value, so paced replay can sleep accurately.
pub(crate) fn set_timer_slack_ns(ns: u64) -> u64 {
    // SAFETY: prctl with PR_GET_TIMERSLACK / PR_SET_TIMERSLACK takes plain integers and affects only
    // the calling thread.
    unsafe {
        let old = libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0);
        libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0);
        old.max(1) as u64
    }
}

/// The SIGBUS guard: survives a mapped file being truncated under us (FORMAT.md 10).
///
/// A store or load to a page of a file mapping that lies past the end of the file raises SIGBUS. Our
/// handler checks whether the faulting address lies in one of our mappings (registered here); if so
/// it maps a private zero page over the faulting page and returns, so the access completes (reads
/// see zeros, which no valid entry or ring record is) and the mapping is flagged as shrunk, which its
/// owner reports as an error. A fault anywhere else is handed back to the previous disposition.
pub(crate) mod guard {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Once;

    const SLOTS: usize = 4096;
    static STARTS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
    static ENDS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
    static WRITABLE: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];
    static SHRUNK: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];
    static PAGE: AtomicUsize = AtomicUsize::new(4096);
    static INSTALL: Once = Once::new();
    /// The disposition before ours. INVARIANTS: written once, inside `INSTALL`, before our handler
    /// is installed; only read afterwards.
    static mut PREVIOUS: std::mem::MaybeUninit<libc::sigaction> = std::mem::MaybeUninit::uninit();

    fn install() {
        INSTALL.call_once(|| {
            PAGE.store(super::page_size() as usize, Ordering::Relaxed);
            // SAFETY: sigaction structs are plain C data (all-zero is valid); PREVIOUS is written
            // here, once, before the handler that reads it can run (INVARIANTS above).
            unsafe {
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = handler as *const () as usize;
                act.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER;
                libc::sigemptyset(&mut act.sa_mask);
                let previous = &raw mut PREVIOUS;
                libc::sigaction(libc::SIGBUS, &act, (*previous).as_mut_ptr());
            }
        });
    }

    /// A registered mapping; unregisters on drop. INVARIANTS: `slot` holds this mapping's range.
    pub(crate) struct Guarded {
        slot: Option<usize>,
    }

    impl Guarded {
        /// Registers `[start, start + len)`. Without a free slot, the mapping is simply unguarded.
        pub(crate) fn new(start: *const u8, len: usize, writable: bool) -> Guarded {
            install();
            for i in 0..SLOTS {
                if ENDS[i].load(Ordering::Relaxed) == 0
                    && STARTS[i]
                        .compare_exchange(0, start as usize, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                {
                    WRITABLE[i].store(writable, Ordering::Relaxed);
                    SHRUNK[i].store(false, Ordering::Relaxed);
                    ENDS[i].store(start as usize + len, Ordering::Release);
                    return Guarded { slot: Some(i) };
                }
            }
            Guarded { slot: None }
        }

        /// Whether a page of this mapping was found past the end of its file.
        #[inline]
        pub(crate) fn shrunk(&self) -> bool {
            self.slot.is_some_and(|i| SHRUNK[i].load(Ordering::Relaxed))
        }
    }

    impl Drop for Guarded {
        fn drop(&mut self) {
            if let Some(i) = self.slot {
                ENDS[i].store(0, Ordering::Release);
                STARTS[i].store(0, Ordering::Release);
            }
        }
    }

    extern "C" fn handler(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
        // SAFETY: the kernel passes a valid siginfo_t for a SA_SIGINFO handler of SIGBUS.
        let addr = unsafe { (*info).si_addr() } as usize;
        let page = PAGE.load(Ordering::Relaxed);
        for i in 0..SLOTS {
            let end = ENDS[i].load(Ordering::Acquire);
            let start = STARTS[i].load(Ordering::Acquire);
            if end != 0 && addr >= start && addr < end {
                let prot = if WRITABLE[i].load(Ordering::Relaxed) {
                    libc::PROT_READ | libc::PROT_WRITE
                } else {
                    libc::PROT_READ
                };
                // SAFETY: the faulting page lies inside a live mapping of ours (it is registered,
                // and a mapping is unregistered before it is unmapped); replacing that one page
                // with a private zero page is what this guard is for. mmap is async-signal-safe.
                let r = unsafe {
                    libc::mmap(
                        (addr & !(page - 1)) as *mut libc::c_void,
                        page,
                        prot,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                        -1,
                        0,
                    )
                };
                if r != libc::MAP_FAILED {
                    SHRUNK[i].store(true, Ordering::Relaxed);
                    return;
                }
            }
        }
        // Not ours: restore the previous disposition and return; the faulting access runs again
        // and meets it (the default one ends the process, as it would have without us).
        // SAFETY: PREVIOUS was initialized before this handler was installed (INVARIANTS).
        unsafe {
            let previous = &raw const PREVIOUS;
            libc::sigaction(libc::SIGBUS, (*previous).as_ptr(), std::ptr::null_mut());
        }
    }
}
