//! The single writer: create, open for append (with recovery), append, claim, sync, close.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use zerocopy::IntoBytes;

pub use crate::clock::now_ns;
use crate::error::{Error, Result};
use crate::format::{
    check_header, encode_entry, entry_len, StreamHeader, ENTRY_HEADER_LEN, HEADER_LEN, MAX_PAYLOAD,
    MAX_WRITE_OFFSET,
};
use crate::index::{Intervals, Position, SharedUpkeep, Upkeep};
use crate::pretouch::{self, Pretoucher};
use crate::recovery::{scan_from, Recovered, RecoveryMode};
use crate::syncer::Syncer;
use crate::sys::{self, create_exclusive, open_rw, AheadPlan, WriteMap, WriterLock};
use crate::wake::{wake_path, Waker};

/// When the writer flushes appended events to stable storage with `msync(MS_SYNC)` (FORMAT.md 9).
///
/// Whatever the policy, every published event survives a crash of the writer's process; the policy
/// decides what survives a power cut or a kernel crash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncPolicy {
    /// Never sync on append (the page cache writes back when the kernel chooses). A power cut may
    /// lose any suffix of the events. The default; call [`Writer::sync`] at checkpoints.
    #[default]
    Never,
    /// Sync after every N-th event: a power cut loses fewer than N events.
    EveryEvents(u64),
    /// Sync once N bytes were appended since the previous sync.
    EveryBytes(u64),
    /// Sync on the first append after the interval elapsed (or on [`Writer::sync_if_due`]).
    Interval(Duration),
    /// Sync before every append returns: an event whose append returned `Ok` is durable.
    EveryAppend,
}

/// Options for opening a [`Writer`], as a builder: start from [`WriterOptions::new`] (the fields are
/// private, so there is no literal syntax), set what differs, then [`create`](Self::create),
/// [`open`](Self::open) or [`open_or_create`](Self::open_or_create), which check the options and
/// refuse impossible ones with [`Error::InvalidArgument`].
///
/// The defaults, one per setter:
/// - [`chunk_size`](Self::chunk_size): 16 MiB growth chunks;
/// - [`max_size`](Self::max_size): 1 TiB, the largest the journal may grow to. It costs no address
///   space up front: the writer reserves `min(max_size, max(64 chunks, twice the file))` of address
///   space (1 GiB with the defaults) and doubles the reservation, on the cold path that grows the
///   file, when the file outgrows it;
/// - [`sync_policy`](Self::sync_policy): [`SyncPolicy::Never`];
/// - [`prefault`](Self::prefault): on (new chunks are pre-faulted);
/// - [`lock_memory`](Self::lock_memory): off (no `mlock`);
/// - [`huge_pages`](Self::huge_pages): off (no huge-page advice);
/// - [`recovery`](Self::recovery): [`RecoveryMode::Truncate`] (torn tails cut back on open);
/// - [`start_timestamp`](Self::start_timestamp): the time of creation;
/// - [`index`](Self::index): on, with the default [`Intervals`] (the writer keeps `NAME.idx`,
///   spec/INDEX.md 9.3);
/// - [`pretouch_thread`](Self::pretouch_thread): off (growth runs on the appending thread, or on a
///   [`Pretoucher`] the caller runs);
/// - [`wake_file`](Self::wake_file): on (the writer keeps `NAME.wake` and wakes the tailers that
///   sleep on it, FORMAT.md 15).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WriterOptions {
    chunk_size: u64,
    max_size: u64,
    sync: SyncPolicy,
    prefault: bool,
    lock_memory: bool,
    huge_pages: bool,
    recovery: RecoveryMode,
    start_timestamp: Option<i64>,
    /// Whether the index is kept (with `intervals`).
    index: bool,
    pretouch_thread: bool,
    /// Growth ahead of the writer (pretouch, a pretoucher, the chunk allocated past the one being
    /// pre-faulted) stops here: a set segment's roll size rounded up to the page, past which its
    /// appends never go (SET.md 5.1) but for an oversize event, which grows the file itself.
    /// `u64::MAX` (no cap) for a single journal.
    growth_cap: u64,
    /// The intervals the index is kept with when it is on.
    intervals: Intervals,
    /// Whether the writer keeps the wake-up file `NAME.wake` (FORMAT.md 15).
    wake_file: bool,
    /// A set's wake-up file, which the writers of its segments wake through instead of keeping
    /// one of their own (SET.md 6.5.1); `None` for a single journal.
    shared_wake: Option<Arc<Waker>>,
}

/// The part of the first chunk a new journal pre-faults at creation (rounded up to a page, at most
/// a chunk): enough for the first appends, small enough that creation stays cheap. The rest is
/// pre-faulted, as growth is, by the first append past it or by [`Writer::pretouch`].
const FIRST_WINDOW: u64 = 64 << 10;

/// Under [`SyncPolicy::Never`], the writer syncs and moves the index's checkpoint once this many
/// bytes were appended past it (INDEX.md 9.3), on the cold path that grows the file.
pub(crate) const INDEX_NEVER_STEP: u64 = 64 << 20;

/// How long a writer that overtook its pretoucher waits for it (spinning, while it pre-faults)
/// before it prepares the growth itself: a few 2 MiB pre-fault steps.
const PRETOUCH_WAIT: std::time::Duration = std::time::Duration::from_millis(5);

/// After a completed sync, the index's checkpoint moves once at least this many bytes (or 64 byte
/// intervals of the index, if less) were appended past it, so that a policy that syncs often does
/// not pay for the index at every sync.
pub(crate) const INDEX_SYNC_STEP: u64 = 1 << 20;

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            chunk_size: 16 << 20,
            max_size: 1 << 40,
            sync: SyncPolicy::Never,
            prefault: true,
            lock_memory: false,
            huge_pages: false,
            recovery: RecoveryMode::Truncate,
            start_timestamp: None,
            index: true,
            pretouch_thread: false,
            growth_cap: u64::MAX,
            intervals: Intervals::default(),
            wake_file: true,
            shared_wake: None,
        }
    }
}

impl WriterOptions {
    /// The default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes the file grows by at a time (rounded up to a page, capped at the maximum size). By
    /// default 16 MiB. A size that overflows when rounded up to the page is refused at open.
    pub fn chunk_size(&mut self, bytes: u64) -> &mut Self {
        self.chunk_size = bytes.max(1);
        self
    }

    /// The largest size the journal may reach, between the 24-byte header and `2^48` bytes
    /// (FORMAT.md 11); anything else is refused at open. By default 1 TiB. Address space is
    /// reserved as the file grows, not up front (see [`WriterOptions`]).
    pub fn max_size(&mut self, bytes: u64) -> &mut Self {
        self.max_size = bytes;
        self
    }

    /// When to `msync`. By default [`SyncPolicy::Never`].
    pub fn sync_policy(&mut self, policy: SyncPolicy) -> &mut Self {
        self.sync = policy;
        self
    }

    /// Whether to pre-fault each new chunk (`MADV_POPULATE_WRITE`) so appends take no page fault.
    /// By default on.
    pub fn prefault(&mut self, on: bool) -> &mut Self {
        self.prefault = on;
        self
    }

    /// Whether to `mlock` each chunk as it is allocated. By default off.
    pub fn lock_memory(&mut self, on: bool) -> &mut Self {
        self.lock_memory = on;
        self
    }

    /// Whether to advise huge pages (`MADV_HUGEPAGE`) on each chunk. By default off.
    pub fn huge_pages(&mut self, on: bool) -> &mut Self {
        self.huge_pages = on;
        self
    }

    /// What to do with a damaged tail on open. By default [`RecoveryMode::Truncate`].
    pub fn recovery(&mut self, mode: RecoveryMode) -> &mut Self {
        self.recovery = mode;
        self
    }

    /// The header's `start_timestamp` for a new journal. By default the time of creation.
    pub fn start_timestamp(&mut self, ns: i64) -> &mut Self {
        self.start_timestamp = Some(ns);
        self
    }

    /// Whether the writer keeps the journal's sparse index `NAME.idx` up to date (spec/INDEX.md
    /// 9.3), and trusts its checkpoint when it opens the journal (an O(1) open after a clean
    /// close). On by default, with the default intervals. Off wins over
    /// [`WriterOptions::index_intervals`], in whichever order the two are called.
    pub fn index(&mut self, on: bool) -> &mut Self {
        self.index = on;
        self
    }

    /// Keeps the index with these intervals (INDEX.md 5) when it is kept (it is by default; not
    /// after `index(false)`, whichever call comes first); an index built with other intervals is
    /// still used and extended with its own.
    pub fn index_intervals(&mut self, intervals: Intervals) -> &mut Self {
        self.intervals = intervals;
        self
    }

    /// Whether the writer keeps the wake-up file `NAME.wake` beside the journal (FORMAT.md 15), on
    /// which tailers with [`WaitStrategy::Block`](crate::WaitStrategy::Block) in other processes
    /// sleep until this writer wakes them. An append then pays one load of a word nobody writes
    /// while no tailer sleeps, and one `futex` wake-up call when one does. Best effort: if the file
    /// cannot be made, the writer works without it and such tailers back off instead. By default,
    /// on.
    ///
    /// In a journal set's segment options ([`SetWriterOptions::segment_options`](
    /// crate::SetWriterOptions::segment_options)) it decides whether the set writer keeps the set's
    /// one wake-up file `journal-set.wake`, through which the writers of all its segments wake the
    /// set's blocking tailers (spec/SET.md 6.5.1); segments never get a `NAME.wake` of their own.
    pub fn wake_file(&mut self, on: bool) -> &mut Self {
        self.wake_file = on;
        self
    }

    /// For a set's segments (SET.md 6.5.1): if [`wake_file`](Self::wake_file) is on, creates or
    /// opens the set's wake-up file at `path` (best effort, as a journal's), and every writer
    /// opened with these options wakes through it; none keeps a `NAME.wake` of its own either way.
    pub(crate) fn share_wake_file(&mut self, path: &Path) -> &mut Self {
        self.shared_wake = if self.wake_file {
            Waker::open(path).ok().map(Arc::new)
        } else {
            None
        };
        self.wake_file = false;
        self
    }

    /// The set's wake-up file given by [`share_wake_file`](Self::share_wake_file), taken out of
    /// these options for the set's close (FORMAT.md 15.2).
    pub(crate) fn take_shared_wake(&mut self) -> Option<Arc<Waker>> {
        self.shared_wake.take()
    }

    /// The sync policy these options give (the journal set's roll syncs by it, SET.md 5.4).
    pub(crate) fn sync(&self) -> SyncPolicy {
        self.sync
    }

    /// Whether the writer runs its own pretoucher thread (a set then also finishes its rolls on a
    /// thread of its own, SET.md 5.4 R7).
    pub(crate) fn has_pretouch_thread(&self) -> bool {
        self.pretouch_thread
    }

    /// Caps the growth ahead of the writer at `bytes` rounded up to the page (a set segment's roll
    /// size): what lies past it would only be pre-faulted, then cut back at the segment's close.
    pub(crate) fn growth_cap(&mut self, bytes: u64) -> &mut Self {
        let page = sys::page_size();
        self.growth_cap = bytes.checked_next_multiple_of(page).unwrap_or(u64::MAX);
        self
    }

    /// Whether the writer runs its own [`Pretoucher`] on a thread it owns (named
    /// `journal-pretouch`, a pass when the writer, at the rate it appends or at 2 GB/s if that is
    /// higher, is due to have used half of what is ready (every 1 to 20 ms), stopped and joined
    /// when the writer closes or drops): the file's growth and pre-faulting, and under
    /// [`SyncPolicy::Never`] the periodic sync of the index checkpoint and the move of that
    /// checkpoint (the walk of the new entries and the index's writes; on a second thread,
    /// `journal-sync`, so that the growth never waits for the disk), then run off the appending
    /// thread (FORMAT.md 7.3). By default off; [`Writer::pretoucher`] gives a handle to run on a
    /// thread of the caller's choosing.
    pub fn pretouch_thread(&mut self, on: bool) -> &mut Self {
        self.pretouch_thread = on;
        self
    }

    /// Creates a new journal; fails with [`Error::AlreadyExists`] if the path exists (a symlink
    /// planted at the path is not followed).
    ///
    /// The new file is made durable as the sync policy says (FORMAT.md 9): under
    /// [`SyncPolicy::Never`] nothing is synced (no `fsync` of the file, its index or the
    /// directory), so that creating costs no disk flush; under every other policy the file, its
    /// index and the directory entry are synced before this returns.
    pub fn create(&self, path: impl AsRef<Path>) -> Result<Writer> {
        let path = path.as_ref();
        self.limits()?;
        let file = create_exclusive(path, 0o644)?;
        let lock = lock(&file, path)?;
        let w = self.initialize(file, lock, path)?;
        // Make the new directory entry durable too.
        if let Some(dir) = path.parent().filter(|_| self.sync != SyncPolicy::Never) {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            sys::sync_dir(dir)?;
        }
        Ok(w)
    }

    /// Opens an existing journal for append, recovering a torn tail first (FORMAT.md 8). With the
    /// index on (the default) and usable, only the content past its checkpoint is walked: O(1)
    /// after a clean close. Damage below the checkpoint is then not seen (spec/INDEX.md 10; use
    /// [`Reader::verify`](crate::Reader::verify), or [`RecoveryMode::Strict`], which walks
    /// everything).
    pub fn open(&self, path: impl AsRef<Path>) -> Result<Writer> {
        let path = path.as_ref();
        self.limits()?;
        let file = open_rw(path)?;
        let lock = lock(&file, path)?;
        self.recover(file, lock, path)
    }

    /// Opens the journal at `path` for append, creating it if it does not exist. An existing
    /// empty (0-byte) file, or one whose 24 header bytes are all zero (a creation whose header
    /// never reached the disk, FORMAT.md 9), is initialized as a new journal.
    pub fn open_or_create(&self, path: impl AsRef<Path>) -> Result<Writer> {
        let path = path.as_ref();
        self.limits()?;
        match open_rw(path) {
            Ok(file) => {
                let lock = lock(&file, path)?;
                let len = file
                    .metadata()
                    .map_err(|e| Error::io(path, "stat", e))?
                    .len();
                if len == 0 {
                    self.initialize(file, lock, path)
                } else if never_initialized(&file, len, path)? {
                    // FORMAT.md 9: cut to nothing, durably, before the header is written, so that
                    // no byte of the old file can reappear past the new write_offset (7.5).
                    file.set_len(0)
                        .and_then(|()| file.sync_all())
                        .map_err(|e| Error::io(path, "truncate", e))?;
                    self.initialize(file, lock, path)
                } else {
                    self.recover(file, lock, path)
                }
            }
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                match self.create(path) {
                    Err(Error::AlreadyExists { .. }) => self.open(path),
                    other => other,
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Checks the options (when a writer opens, before anything is touched) and returns the growth
    /// chunk: the chunk size rounded up to the page, capped at the maximum size.
    fn limits(&self) -> Result<u64> {
        if self.max_size < HEADER_LEN {
            return Err(Error::InvalidArgument(format!(
                "max size {} is smaller than the {HEADER_LEN}-byte header",
                self.max_size
            )));
        }
        if self.max_size > MAX_WRITE_OFFSET {
            return Err(Error::InvalidArgument(format!(
                "max size {} is above the format's limit of {MAX_WRITE_OFFSET} bytes (FORMAT.md 11)",
                self.max_size
            )));
        }
        let page = sys::page_size();
        let chunk = self
            .chunk_size
            .max(1)
            .checked_next_multiple_of(page)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "chunk size {} overflows when rounded up to the {page}-byte page",
                    self.chunk_size
                ))
            })?;
        Ok(chunk.min(self.max_size))
    }

    /// The address space a writer reserves at open for a file of `len` bytes: room to grow without
    /// moving the mapping for a while (64 chunks, or as much again as the file holds), never more
    /// than the maximum size. [`Writer::make_room`] doubles it when the file outgrows it.
    fn initial_reservation(&self, chunk: u64, len: u64) -> u64 {
        let page = sys::page_size();
        let len = len.div_ceil(page) * page;
        (64 * chunk).max(2 * len).min(self.max_size).max(len)
    }

    /// Writes the header of a new journal into a locked, empty file and maps it. Only a small
    /// first window is pre-faulted here (the rest of the first chunk is, as growth does, on the
    /// first append past it), and nothing is synced under [`SyncPolicy::Never`] (FORMAT.md 9).
    fn initialize(&self, file: File, lock: WriterLock, path: &Path) -> Result<Writer> {
        let chunk = self.limits()?;
        let start = self.start_timestamp.unwrap_or_else(now_ns);
        let header = StreamHeader {
            write_offset: HEADER_LEN.into(),
            event_count: 0.into(),
            start_timestamp: start.into(),
        };
        // The header goes first, with pwrite, and only then is space allocated: a process crash at
        // any point leaves an empty file or a valid empty journal. (A power cut before the first
        // sync may also leave the allocated length with a zero header: `open_or_create`
        // initializes both, FORMAT.md 9.)
        file.write_all_at(header.as_bytes(), 0)
            .map_err(|e| Error::io(path, "write header", e))?;
        let reserve = self.initial_reservation(chunk, 2 * chunk);
        let map = WriteMap::new(file, HEADER_LEN, HEADER_LEN, reserve)
            .map_err(|e| Error::io(path, "mmap", e))?;
        let mut w = Writer::new(map, lock, path, self.clone(), chunk, HEADER_LEN, 0);
        let page = sys::page_size();
        let first = FIRST_WINDOW
            .max(page)
            .min(chunk)
            .min(self.max_size)
            .min(self.growth_cap);
        // Without read-ahead: the first fault of a new file would otherwise zero-fill a whole
        // read-ahead window (megabytes on some devices), which costs creation milliseconds.
        // Advice only: without it the window is merely slower to pre-fault.
        let random = w.map.advise_random(true).is_ok();
        w.prepare(first, true)?;
        if random {
            let _ = w.map.advise_random(false);
        }
        let durable = self.sync != SyncPolicy::Never;
        if durable {
            w.map
                .file()
                .sync_all()
                .map_err(|e| Error::io(path, "fsync", e))?;
        }
        w.rebuild_index(start, durable);
        w.start_pretouch_thread()?;
        Ok(w)
    }

    /// FORMAT.md 8: validate, walk the content, cut back a damaged tail, cut the file back to the
    /// content, allocate one chunk past it, fsync.
    fn recover(&self, file: File, lock: WriterLock, path: &Path) -> Result<Writer> {
        let chunk = self.limits()?;
        let meta = file.metadata().map_err(|e| Error::io(path, "stat", e))?;
        if !meta.is_file() {
            return Err(Error::not_a_journal(path, "not a regular file".into()));
        }
        let len = meta.len();
        let mut head = [0u8; HEADER_LEN as usize];
        if len >= HEADER_LEN {
            file.read_exact_at(&mut head, 0)
                .map_err(|e| Error::io(path, "read header", e))?;
        }
        let stored = StreamHeader::decode(&head).expect("24 bytes");
        let (wo, count) = (stored.write_offset(), stored.event_count());
        check_header(wo, len).map_err(|f| Error::not_a_journal(path, f.to_string()))?;
        // Only `[0, min(write_offset, L))` can hold content: whatever the file holds past it (a
        // preallocated chunk, or a sparse tail of any length) is cut off below, never mapped,
        // counted against the maximum size, or zeroed.
        let candidate = wo.min(len);
        if candidate > self.max_size {
            return Err(Error::Full {
                path: path.to_path_buf(),
                needed: candidate,
                max: self.max_size,
            });
        }
        let reserve = self.initial_reservation(chunk, candidate);
        let mut map = WriteMap::new(file, candidate, candidate, reserve)
            .map_err(|e| Error::io(path, "mmap", e))?;
        // INDEX.md 9.3: an index that passes the O(1) checks of INDEX.md 6.1 vouches for the
        // content below its checkpoint, and only what lies past it is walked (FORMAT.md 8 step 2).
        let start = stored.start_timestamp();
        // Strict mode walks everything: it is the mode that refuses damage, wherever it lies.
        let trust = self.index && self.recovery != RecoveryMode::Strict;
        let upkeep = trust
            .then(|| Upkeep::open(path, map.body(candidate), start, wo, len).ok())
            .flatten()
            .map(Box::new);
        let from = upkeep
            .as_ref()
            .map_or(crate::index::START, |u| u.checkpoint());
        let content = scan_from(map.body(candidate), from.offset, from.index, wo, len, true);
        if let (Some(d), RecoveryMode::Strict) = (content.damage, self.recovery) {
            return Err(Error::Damaged {
                path: path.to_path_buf(),
                offset: d.offset,
                reason: d.reason,
            });
        }
        let header_wrong = content.end != wo || content.events != count;
        let recovered = header_wrong.then_some(Recovered {
            previous_write_offset: wo,
            previous_event_count: count,
            write_offset: content.end,
            events: content.events,
            dropped_bytes: candidate - content.end,
            damage: content.damage,
        });
        if header_wrong {
            map.cut_back(content.end, content.events);
        }
        // A journal closed cleanly (exact header, file ending at it) needs no repair and opens
        // without writing anything or an fsync (FORMAT.md 8).
        let repair = header_wrong || content.end < len;
        if repair {
            // FORMAT.md 8 step 5: cut the file back to the end of the content. What lay past it is
            // gone (stale bytes included) without being allocated or written.
            map.truncate(content.end)
                .map_err(|e| Error::io(path, "truncate", e))?;
        }
        let mut w = Writer::new(
            map,
            lock,
            path,
            self.clone(),
            chunk,
            content.end,
            content.events,
        );
        w.recovered = recovered;
        w.index = upkeep;
        if repair {
            // Step 6: one chunk past the content, allocated as growth does (FORMAT.md 7.3), then
            // the cut and the allocation made durable before anything new is written.
            let want = (content.end / chunk + 1) * chunk;
            w.prepare(want.min(self.max_size), false)?;
            w.map
                .file()
                .sync_all()
                .map_err(|e| Error::io(path, "fsync", e))?;
        }
        if self.index {
            let behind = w.index.as_ref().map(|u| u.checkpoint().offset);
            if behind != Some(content.end) {
                // The index describes only content made durable (INDEX.md 9.2).
                let synced = repair || w.map.file().sync_all().is_ok();
                match (synced, behind) {
                    (false, _) => w.disable_index("fsync of the journal failed".into()),
                    (true, None) => w.rebuild_index(start, true),
                    (true, Some(_)) => w.advance_index(content.end, true),
                }
            }
        }
        w.start_pretouch_thread()?;
        Ok(w)
    }
}

/// Whether a non-empty file's 24 header bytes are all zero: `write_offset` 0, which no journal ever
/// had, so its creation never reached the disk (FORMAT.md 9).
fn never_initialized(file: &File, len: u64, path: &Path) -> Result<bool> {
    if len < HEADER_LEN {
        return Ok(false);
    }
    let mut head = [0u8; HEADER_LEN as usize];
    file.read_exact_at(&mut head, 0)
        .map_err(|e| Error::io(path, "read header", e))?;
    Ok(head.iter().all(|&b| b == 0))
}

fn lock(file: &File, path: &Path) -> Result<WriterLock> {
    match WriterLock::try_lock(file) {
        Ok(Some(lock)) => Ok(lock),
        Ok(None) => Err(Error::Locked {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(Error::io(path, "lock", e)),
    }
}

/// The one writer of a journal (FORMAT.md 7, 10).
///
/// Appends are stores into a shared mapping followed by a release store of `write_offset`: no system
/// call and, once the chunk is pre-faulted, no page fault. The file grows by whole chunks, allocated
/// one chunk ahead of the one being pre-faulted (FORMAT.md 7.3); to keep that growth off the
/// appending thread, run a [`Pretoucher`] ([`Writer::pretoucher`], or
/// [`WriterOptions::pretouch_thread`]), or call [`Writer::pretouch`] between bursts.
///
/// Dropping the writer closes it cleanly (as [`Writer::close`], ignoring errors).
pub struct Writer {
    map: WriteMap,
    /// Dropped after `map` (fields drop in order), so the lock outlives every store.
    _lock: WriterLock,
    path: PathBuf,
    opts: WriterOptions,
    chunk: u64,
    write_offset: u64,
    events: u64,
    synced_offset: u64,
    synced_events: u64,
    last_sync: Instant,
    /// Appends that end at or below this offset need no growth: `[write_offset, ready)` is
    /// allocated and (with pre-faulting on) pre-faulted. At most `map.allocated()`.
    ready: u64,
    prefaulted: u64,
    /// `opts.sync == SyncPolicy::Never`: the publish path tests this flag only.
    sync_never: bool,
    /// Whether `poisoned` is set: the append path tests this flag only.
    is_poisoned: bool,
    poisoned: Option<String>,
    fail_next_sync: bool,
    recovered: Option<Recovered>,
    closed: bool,
    /// The index kept up to date (INDEX.md 9.3); `None` when off or disabled by an error. Boxed:
    /// the writer's own fields stay small, the index is cold.
    index: Option<Box<Upkeep>>,
    /// While a pretoucher syncs for the index (under `Never`), the upkeep is lent to it: `index` is
    /// then `None` and the pretoucher's thread moves the checkpoint (INDEX.md 9.3).
    index_loan: Option<Arc<SharedUpkeep>>,
    index_error: Option<String>,
    /// The message of an error the index met on the pretoucher's side, made at the first
    /// [`Writer::index_error`] after it (and after each rename).
    loan_error: OnceLock<String>,
    /// The writer's own pretoucher thread ([`WriterOptions::pretouch_thread`]).
    pretouch_thread: Option<std::thread::JoinHandle<()>>,
    /// Set when the writer closes or drops ([`Syncer::writer_closed`]).
    closed_flag: Arc<AtomicBool>,
    /// The wake-up file's writer side (FORMAT.md 15.3): the journal's own, or its set's (SET.md
    /// 6.5.1); `None` when off or it could not be made.
    waker: Option<Arc<Waker>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("path", &self.path)
            .field("write_offset", &self.write_offset)
            .field("events", &self.events)
            .field("durable_events", &self.synced_events)
            .finish()
    }
}

impl Writer {
    /// Creates a new journal with default [`WriterOptions`].
    pub fn create(path: impl AsRef<Path>) -> Result<Writer> {
        WriterOptions::new().create(path)
    }

    /// Opens an existing journal for append with default [`WriterOptions`].
    pub fn open(path: impl AsRef<Path>) -> Result<Writer> {
        WriterOptions::new().open(path)
    }

    /// A builder for non-default options.
    pub fn options() -> WriterOptions {
        WriterOptions::new()
    }

    fn new(
        map: WriteMap,
        lock: WriterLock,
        path: &Path,
        opts: WriterOptions,
        chunk: u64,
        wo: u64,
        events: u64,
    ) -> Self {
        let sync_never = opts.sync == SyncPolicy::Never;
        let waker = match &opts.shared_wake {
            Some(shared) => Some(Arc::clone(shared)),
            None if opts.wake_file => Waker::open(&wake_path(path)).ok().map(Arc::new),
            None => None,
        };
        Writer {
            _lock: lock,
            ready: wo,
            prefaulted: wo,
            map,
            path: path.to_path_buf(),
            opts,
            chunk,
            write_offset: wo,
            events,
            synced_offset: wo,
            synced_events: events,
            last_sync: Instant::now(),
            sync_never,
            is_poisoned: false,
            poisoned: None,
            fail_next_sync: false,
            recovered: None,
            closed: false,
            index: None,
            index_loan: None,
            index_error: None,
            loan_error: OnceLock::new(),
            pretouch_thread: None,
            closed_flag: Arc::new(AtomicBool::new(false)),
            waker,
        }
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records that the journal's file was renamed to `path` (a set's roll, SET.md 5.4 R4).
    pub(crate) fn set_path(&mut self, path: PathBuf) {
        self.path = path;
        // Named afresh from the new path at the next `index_error`.
        self.loan_error = OnceLock::new();
    }

    /// The payload area of an open claim of `capacity` bytes (made by [`Writer::claim`], which
    /// made room for it): a set's claim reaches it through this (SET.md 5.2).
    pub(crate) fn claimed_mut(&mut self, capacity: usize) -> &mut [u8] {
        let at = self.write_offset + ENTRY_HEADER_LEN;
        self.map.unpublished_mut(at, capacity as u64)
    }

    /// [`Writer::close`] through a borrow (a set closes its segments in place, SET.md 5.4 R7).
    pub(crate) fn close_in_place(&mut self) -> Result<()> {
        self.close_inner()
    }

    /// [`Writer::abandon`] through a borrow: the writer is left as a killed process leaves it.
    #[cfg(feature = "test-hooks")]
    pub(crate) fn abandon_in_place(&mut self) {
        self.closed = true;
    }

    /// Offset where the next entry will start (the published `write_offset`).
    pub fn write_offset(&self) -> u64 {
        self.write_offset
    }

    /// Number of published events.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// What recovery changed when this writer opened the journal: `None` when the header was exact
    /// (a clean close, or a new journal).
    pub fn recovered(&self) -> Option<&Recovered> {
        self.recovered.as_ref()
    }

    /// The checkpoint of the index the writer keeps (INDEX.md 9.3): the content up to it is
    /// described by `NAME.idx`. `None` when the index is off or was disabled by an error. While a
    /// pretoucher moves the checkpoint on its thread ([`Writer::pretoucher`]), this waits for it.
    pub fn index_checkpoint(&self) -> Option<Position> {
        match &self.index_loan {
            Some(l) if self.index.is_none() => l.checkpoint(),
            _ => self.index.as_ref().map(|u| u.checkpoint()),
        }
    }

    /// Why the writer stopped keeping the index, if it did: an index file that could not be
    /// written. Appends are never failed by the index (INDEX.md 9.3); readers then use the index up
    /// to its last checkpoint, or the journal alone.
    pub fn index_error(&self) -> Option<&str> {
        self.index_error.as_deref().or_else(|| {
            let why = self.index_loan.as_ref()?.error()?;
            Some(self.loan_error.get_or_init(|| self.index_failure(why)))
        })
    }

    /// An index error's message: the index file's name, then `why`.
    fn index_failure(&self, why: impl std::fmt::Display) -> String {
        format!("{}: {why}", crate::index::index_path(&self.path).display())
    }

    /// Number of events made durable by a completed sync (FORMAT.md 9).
    pub fn durable_events(&self) -> u64 {
        self.synced_events
    }

    #[inline(always)]
    fn check_poison(&self) -> Result<()> {
        if self.is_poisoned {
            return Err(self.poisoned_error());
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn poisoned_error(&self) -> Error {
        Error::Poisoned {
            path: self.path.clone(),
            cause: self.poisoned.clone().unwrap_or_default(),
        }
    }

    /// Poisons the writer (cold): every later call fails with [`Error::Poisoned`].
    #[cold]
    fn poison(&mut self, cause: String) {
        self.poisoned = Some(cause);
        self.is_poisoned = true;
    }

    /// Appends one event and publishes it; returns its index. Copies `payload` into the map and
    /// computes the entry's CRC in one pass over its header fields and `payload`.
    #[inline]
    pub fn append(&mut self, timestamp: i64, payload: &[u8]) -> Result<u64> {
        self.check_poison()?;
        let size = payload_size(payload.len())?;
        let len = entry_len(size);
        let at = self.write_offset;
        if at + len > self.ready {
            self.make_room(at + len)?;
        }
        // The CRC is taken over the caller's bytes (the header's 12 from registers), not over the
        // copy just made in the mapping, which would wait on its stores.
        encode_entry(self.map.unpublished_mut(at, len), timestamp, payload);
        self.publish(at + len)
    }

    /// Appends many events and publishes them together: one release store of `write_offset` (and
    /// one of `event_count`) for the whole batch (FORMAT.md 7.1), so a reader sees all of the
    /// batch or none of it, and the sync policy is applied once, after the batch (under
    /// [`SyncPolicy::EveryAppend`], the whole batch is durable when this returns). Returns the
    /// index of the batch's first event; an empty batch publishes nothing and returns the index
    /// the next event will get ([`Writer::events`]).
    ///
    /// The file grows as the batch needs, as for [`Writer::append`]. If an event is refused (a
    /// payload above [`MAX_PAYLOAD`](crate::format::MAX_PAYLOAD), or a batch that does not fit in
    /// the maximum size), nothing of the batch is published and the bytes written for it are
    /// zeroed. Allocates nothing.
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("journal-doc-batch-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let path = dir.join("events.journal");
    /// # let _ = std::fs::remove_file(&path);
    /// use journal::Writer;
    ///
    /// let mut w = Writer::create(&path)?;
    /// w.append(1, b"first")?;
    /// let events: [(i64, &[u8]); 3] = [(2, b"a"), (3, b"bc"), (4, b"def")];
    /// let first = w.append_batch(events)?;
    /// assert_eq!((first, w.events()), (1, 4));
    /// // Anything that yields (timestamp, bytes) pairs will do.
    /// let owned = vec![(5, vec![0u8; 64]), (6, vec![1u8; 64])];
    /// assert_eq!(w.append_batch(owned.iter().map(|(t, p)| (*t, p)))?, 4);
    /// w.close()?;
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), journal::Error>(())
    /// ```
    pub fn append_batch<I, P>(&mut self, events: I) -> Result<u64>
    where
        I: IntoIterator<Item = (i64, P)>,
        P: AsRef<[u8]>,
    {
        self.check_poison()?;
        let mut end = self.write_offset;
        let mut count = 0u64;
        for (timestamp, payload) in events {
            match self.stage(end, timestamp, payload.as_ref()) {
                Ok(next) => end = next,
                Err(e) => {
                    self.discard_staged(end);
                    return Err(e);
                }
            }
            count += 1;
        }
        self.publish_staged(end, count)
    }

    /// Writes one entry at `at` (at or past `write_offset`, in unpublished space) without
    /// publishing it, growing the file if needed; returns where the entry ends. A batch stages its
    /// entries one after the other, then [`Writer::publish_staged`] publishes them all, or
    /// [`Writer::discard_staged`] zeroes them.
    #[inline]
    pub(crate) fn stage(&mut self, at: u64, timestamp: i64, payload: &[u8]) -> Result<u64> {
        let size = payload_size(payload.len())?;
        let end = at + entry_len(size);
        if end > self.ready {
            self.make_room(end)?;
        }
        encode_entry(self.map.unpublished_mut(at, end - at), timestamp, payload);
        Ok(end)
    }

    /// Publishes the `count` entries staged in `[write_offset, end)`; returns the index of the
    /// first. Nothing staged (`count == 0`) publishes nothing.
    pub(crate) fn publish_staged(&mut self, end: u64, count: u64) -> Result<u64> {
        if count == 0 {
            return Ok(self.events);
        }
        self.publish_n(end, count)
    }

    /// Zeroes the unpublished entries staged in `[write_offset, end)` (cold): bytes that were
    /// never published must not pass for entries later (FORMAT.md 7.5, stale bytes).
    #[cold]
    pub(crate) fn discard_staged(&mut self, end: u64) {
        let at = self.write_offset;
        if end > at {
            self.map.unpublished_mut(at, end - at).fill(0);
        }
    }

    /// Appends one event stamped with [`now_ns`].
    #[inline]
    pub fn append_now(&mut self, payload: &[u8]) -> Result<u64> {
        self.append(now_ns(), payload)
    }

    /// Reserves room for a payload of up to `capacity` bytes inside the map, for the caller to
    /// fill in place (zero-copy). Nothing is visible to readers until [`Claim::commit`]; a claim
    /// dropped without commit leaves no trace.
    pub fn claim(&mut self, capacity: usize) -> Result<Claim<'_>> {
        self.check_poison()?;
        let size = payload_size(capacity)?;
        let end = self.write_offset + entry_len(size);
        if end > self.ready {
            self.make_room(end)?;
        }
        Ok(Claim {
            writer: self,
            capacity: size,
        })
    }

    #[inline]
    fn publish(&mut self, new_offset: u64) -> Result<u64> {
        self.publish_n(new_offset, 1)
    }

    /// Publishes the `n` entries that end at `new_offset` (FORMAT.md 7.1 steps 2-3), then syncs if
    /// the policy says so; returns the index of the first.
    #[inline(always)]
    fn publish_n(&mut self, new_offset: u64, n: u64) -> Result<u64> {
        if self.map.shrunk() {
            return Err(self.file_shrunk());
        }
        let index = self.events;
        self.events += n;
        self.write_offset = new_offset;
        self.map.publish(new_offset, self.events);
        if let Some(w) = &self.waker {
            w.after_publish();
        }
        if !self.sync_never {
            self.sync_by_policy()?;
        }
        Ok(index)
    }

    /// After a publish: syncs if the policy (other than [`SyncPolicy::Never`]) says so.
    #[inline(never)]
    fn sync_by_policy(&mut self) -> Result<()> {
        match self.opts.sync {
            SyncPolicy::Never => {}
            SyncPolicy::EveryAppend => self.sync()?,
            SyncPolicy::EveryEvents(n) => {
                if self.events - self.synced_events >= n {
                    self.sync()?
                }
            }
            SyncPolicy::EveryBytes(n) => {
                if self.write_offset - self.synced_offset >= n {
                    self.sync()?
                }
            }
            SyncPolicy::Interval(d) => {
                if self.last_sync.elapsed() >= d {
                    self.sync()?
                }
            }
        }
        Ok(())
    }

    /// The file was truncated under the mapping by someone else: the bytes just written went to a
    /// private zero page, not the file. Poisons the writer.
    #[cold]
    fn file_shrunk(&mut self) -> Error {
        let file_len = self.map.file().metadata().map_or(0, |m| m.len());
        self.poison(format!(
            "file truncated under the writer to {file_len} bytes"
        ));
        Error::FileShrunk {
            path: self.path.clone(),
            write_offset: self.write_offset,
            file_len,
        }
    }

    /// Grows the file so that `end` fits (cold path: one `fallocate` and one pre-fault per chunk,
    /// FORMAT.md 7.3). When the file outgrows the address space reserved for it, the reservation
    /// doubles first (the mapping may move: no borrow into it can be live, this takes `&mut self`).
    #[cold]
    fn make_room(&mut self, end: u64) -> Result<()> {
        let max = self.opts.max_size;
        if end > max {
            return Err(Error::Full {
                path: self.path.clone(),
                needed: end,
                max,
            });
        }
        let chunk_end = (end.div_ceil(self.chunk) * self.chunk)
            .min(max)
            .min(self.opts.growth_cap.max(end));
        let step = sys::PREFAULT_STEP;
        let mut ready = self.map.ahead_ready();
        if matches!(ready, Some(r) if r < end) {
            ready = if sys::populate_by_advice()
                && !self.opts.lock_memory
                && self.map.allocated() >= end
            {
                // The pretoucher is behind, and provisioning pages (zero-filling them) is what
                // holds it up. The appends go on into the file it already allocated, up to the
                // end of this pre-fault step, and take their own page faults there while it
                // pre-faults the pages after them: both cores provision pages, where waiting for
                // it, or pre-faulting the same pages under its lock, would leave one idle. Its
                // pre-faulting writes no byte, so the two race with no store (Ahead INVARIANTS).
                // Huge-page advice first, as the pretoucher gives it before it pre-faults.
                let r = (end.div_ceil(step) * step).min(self.map.allocated());
                if self.opts.huge_pages {
                    self.map
                        .advise_huge(self.write_offset, r - self.write_offset);
                }
                Some(r)
            } else {
                // While it is pre-faulting, waiting for it costs the appending thread no system
                // call and no page fault, and does not compete with it for the same pages.
                self.map.ahead_wait(end, PRETOUCH_WAIT)
            };
        }
        match ready {
            // A pretoucher prepared it (or allocated it, above): adopt it, no system call.
            Some(r) if r >= end => {
                self.ready = self.ready.max(r);
                self.prefaulted = self.prefaulted.max(r);
            }
            // The writer overtook its pretoucher: it prepares only the pre-fault step it needs
            // (what the pretoucher already pre-faulted is skipped), and leaves the rest of the
            // chunk to the pretoucher, which is working on it.
            Some(_) => self.prepare((end.div_ceil(step) * step).min(chunk_end), true)?,
            None => self.prepare(chunk_end, true)?,
        }
        if self.opts.sync == SyncPolicy::Never {
            if let Some(cp) = self.index.as_ref().map(|u| u.checkpoint().offset) {
                match self.map.ahead_synced() {
                    // A pretoucher syncs the content (AheadPlan::sync_step), and the index's
                    // upkeep is lent to it: it moves the checkpoint on its own thread.
                    Some(_) => {}
                    None => {
                        if self.write_offset - cp >= INDEX_NEVER_STEP {
                            // INDEX.md 9.3: the checkpoint covers only synced content, so the
                            // writer syncs here, on the cold path, every 64 MiB (sync moves the
                            // checkpoint).
                            self.sync()?;
                        } else {
                            // That sync writes what was appended since the last one: its
                            // write-back starts now, without waiting, so the disk works while the
                            // appends go on. Advice only: the sync writes whatever is left.
                            let _ = self.map.start_writeback(self.write_offset);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Makes `[write_offset, window)` ready for appends: allocated (reserving more address space
    /// first if needed) and, with pre-faulting on, pre-faulted.
    /// With `ahead` (growth), the file is allocated one chunk past `window` (capped at the maximum
    /// size), so that pre-faulting never touches the file's last chunk, where it costs more
    /// (FORMAT.md 7.3); recovery allocates exactly to `window` (FORMAT.md 8 step 6).
    fn prepare(&mut self, window: u64, ahead: bool) -> Result<()> {
        let max = self.opts.max_size;
        let alloc = if ahead {
            // One whole chunk past the chunk that holds `window` (which is a chunk boundary except
            // for the step a writer that overtook its pretoucher prepares).
            (window.div_ceil(self.chunk) * self.chunk + self.chunk)
                .min(max)
                .min(self.opts.growth_cap)
                .max(window)
        } else {
            window
        };
        if alloc > self.map.reserved() {
            let reserve = (2 * self.map.reserved()).max(alloc).min(max);
            let kept = self
                .map
                .reserve(reserve)
                .map_err(|e| Error::io(&self.path, "mremap", e))?;
            if !kept {
                // A fresh mapping: fault in again the header page and everything ahead of
                // `write_offset` (below), which the next appends write.
                self.prefaulted = self.write_offset;
                if self.opts.prefault || self.opts.lock_memory {
                    self.map
                        .prefault(0, HEADER_LEN, self.opts.lock_memory, false)
                        .map_err(|e| Error::io(&self.path, "prefault", e))?;
                }
            }
        }
        self.map
            .grow(alloc)
            .map_err(|e| Error::io(&self.path, "fallocate", e))?;
        if self.opts.prefault || self.opts.lock_memory {
            let from = self.prefaulted.max(self.write_offset);
            if from < window {
                self.map
                    .prefault(
                        from,
                        window - from,
                        self.opts.lock_memory,
                        self.opts.huge_pages,
                    )
                    .map_err(|e| Error::io(&self.path, "prefault", e))?;
            }
            self.prefaulted = self.prefaulted.max(window);
        }
        self.ready = self.ready.max(window);
        debug_assert!(self.ready <= self.map.allocated());
        Ok(())
    }

    /// Keeps at least one chunk allocated and pre-faulted ahead of the writer. Call it off the
    /// critical path (between bursts, from the same thread) so that appends never grow the file
    /// themselves, as Chronicle Queue's pretoucher does.
    pub fn pretouch(&mut self) -> Result<()> {
        self.check_poison()?;
        let want = (self.write_offset + self.chunk)
            .min(self.opts.max_size)
            .min(self.opts.growth_cap.max(self.write_offset));
        if want > self.ready {
            self.make_room(want)?;
        }
        Ok(())
    }

    /// A handle that prepares this writer's growth from another thread (the [`Pretoucher`]): run
    /// [`Pretoucher::pretouch`] there, as often as appends need (every millisecond is plenty for
    /// gigabytes a second). The appending thread then adopts what it prepared without a system
    /// call or a page fault. Every call returns a handle to the same shared state. Under
    /// [`SyncPolicy::Never`] with the index on, the thread that runs the handle also syncs every
    /// 64 MiB and moves the index's checkpoint (spec/INDEX.md 9.3): the upkeep is lent to the
    /// handles until the writer closes (or syncs itself, which takes it back meanwhile).
    pub fn pretoucher(&mut self) -> Result<Pretoucher> {
        self.check_poison()?;
        let ahead = self
            .map
            .attach_ahead(self.ready, self.prefaulted)
            .map_err(|e| Error::io(&self.path, "dup", e))?;
        let sync_step =
            (self.opts.sync == SyncPolicy::Never && self.opts.index).then_some(INDEX_NEVER_STEP);
        // INDEX.md 9.3: the pretoucher that syncs for the index also moves its checkpoint, on the
        // thread that synced; the upkeep is lent to it until the writer takes it back.
        if sync_step.is_some() && self.index.is_some() && self.index_loan.is_none() {
            self.index_loan = Some(Arc::new(SharedUpkeep::new()));
            self.lend_index();
        }
        let plan = AheadPlan {
            chunk: self.chunk,
            ahead: pretouch::AHEAD_CHUNKS * self.chunk,
            max: self.opts.max_size.min(self.opts.growth_cap),
            prefault: self.opts.prefault,
            lock: self.opts.lock_memory,
            huge: self.opts.huge_pages,
            sync_step,
        };
        Ok(Pretoucher::new(
            ahead,
            plan,
            self.path.clone(),
            self.index_loan.clone(),
        ))
    }

    /// A handle that syncs this writer's published events from another thread (the [`Syncer`]):
    /// [`Syncer::sync`] there makes every event published before it durable, with one
    /// `msync(MS_SYNC)` of `[0, write_offset)` (FORMAT.md 9), while this writer keeps appending.
    /// Unlike an `fsync` of the file, it leaves the pages a [`Pretoucher`] pre-faulted past
    /// `write_offset` alone. Each call makes a new mapping of the file (keep the handle, or clone
    /// it).
    pub fn syncer(&self) -> Result<Syncer> {
        self.check_poison()?;
        let file = self
            .map
            .file()
            .try_clone()
            .map_err(|e| Error::io(&self.path, "dup", e))?;
        let map = sys::SyncMap::new(file, self.map.reserved().max(self.write_offset))
            .map_err(|e| Error::io(&self.path, "mmap", e))?;
        Ok(Syncer::new(
            map,
            Arc::clone(&self.closed_flag),
            self.path.clone(),
        ))
    }

    fn start_pretouch_thread(&mut self) -> Result<()> {
        if self.opts.pretouch_thread && self.pretouch_thread.is_none() {
            let p = self.pretoucher()?;
            let t = pretouch::spawn(p).map_err(|e| Error::io(&self.path, "spawn pretoucher", e))?;
            self.pretouch_thread = Some(t);
        }
        Ok(())
    }

    /// Stops any pretoucher (it touches nothing of this writer afterwards), joins the writer's
    /// own pretoucher thread, and takes the index's upkeep back from it.
    fn stop_pretoucher(&mut self) {
        self.map.detach_ahead();
        if let Some(t) = self.pretouch_thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        self.reclaim_index();
        self.index_loan = None;
    }

    /// Takes the index's upkeep back from the pretoucher it was lent to, waiting for a move of the
    /// checkpoint it has in flight; an error it met there disables the index.
    fn reclaim_index(&mut self) {
        let Some(loan) = self.index_loan.clone() else {
            return;
        };
        match loan.take() {
            Some(u) => self.index = Some(u),
            None => {
                if let Some(why) = loan.error() {
                    self.disable_index(self.index_failure(why));
                }
            }
        }
    }

    /// Lends the index's upkeep (back) to the pretoucher that syncs for it, if there is one.
    fn lend_index(&mut self) {
        if let Some(loan) = &self.index_loan {
            if let Some(u) = self.index.take() {
                loan.put(u);
            }
        }
    }

    /// Flushes every published event to stable storage: one `msync(MS_SYNC)` from the start of the
    /// file to `write_offset`, which writes only the dirty pages (the header and what was appended
    /// since the last sync) and flushes the device once. On failure the writer is poisoned
    /// (FORMAT.md 9).
    pub fn sync(&mut self) -> Result<()> {
        self.check_poison()?;
        let to = self.write_offset;
        let result = if std::mem::take(&mut self.fail_next_sync) {
            Err(io::Error::from_raw_os_error(libc::EIO))
        } else {
            self.map.sync_range(0, to)
        };
        if let Err(e) = result {
            self.poison(e.to_string());
            return Err(Error::io(&self.path, "msync", e));
        }
        self.synced_offset = to;
        self.synced_events = self.events;
        self.last_sync = Instant::now();
        // An explicit sync moves the checkpoint here, with the upkeep taken back meanwhile.
        self.reclaim_index();
        if let Some((cp, step)) = self
            .index
            .as_ref()
            .map(|u| (u.checkpoint().offset, u.step()))
        {
            if to - cp >= step {
                self.advance_index(to, self.opts.sync != SyncPolicy::Never);
            }
        }
        self.lend_index();
        Ok(())
    }

    /// Moves the index's checkpoint to `to`, content the writer synced (INDEX.md 9.3). An error
    /// disables the index; it never fails the journal.
    #[cold]
    #[inline(never)]
    fn advance_index(&mut self, to: u64, durable: bool) {
        let Some(mut u) = self.index.take() else {
            return;
        };
        match u.advance(self.map.body(to), to, durable) {
            Ok(()) => self.index = Some(u),
            Err(e) => self.disable_index(self.index_failure(e)),
        }
    }

    /// Builds the index of the content from scratch (INDEX.md 9.1), synced when `durable`. An
    /// error disables the index.
    #[cold]
    fn rebuild_index(&mut self, start: i64, durable: bool) {
        if !self.opts.index {
            return;
        }
        let intervals = self.opts.intervals;
        let to = self.write_offset;
        match Upkeep::rebuild(&self.path, intervals, start, self.map.body(to), to, durable) {
            Ok(u) => self.index = Some(Box::new(u)),
            Err(e) => self.disable_index(e.to_string()),
        }
    }

    #[cold]
    fn disable_index(&mut self, why: String) {
        self.index = None;
        self.index_error = Some(why);
    }

    /// Syncs if the [`SyncPolicy::Interval`] has elapsed (or events are pending under any policy
    /// other than `Never`). For an idle loop, so an interval policy holds without appends.
    pub fn sync_if_due(&mut self) -> Result<()> {
        self.check_poison()?;
        let due = match self.opts.sync {
            SyncPolicy::Never => false,
            SyncPolicy::Interval(d) => self.last_sync.elapsed() >= d,
            _ => true,
        };
        if due && self.synced_offset < self.write_offset {
            self.sync()?;
        }
        Ok(())
    }

    /// Closes the journal cleanly (FORMAT.md 7.4): syncs unless the policy is `Never`, and cuts the
    /// file back to `write_offset`.
    pub fn close(mut self) -> Result<()> {
        self.close_inner()
    }

    fn close_inner(&mut self) -> Result<()> {
        self.stop_pretoucher();
        self.closed_flag.store(true, Ordering::Release);
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        if let Some(w) = self.waker.take() {
            // The journal's own file; a set's (`opts.shared_wake`) is closed by its set writer.
            if self.opts.shared_wake.is_none() {
                w.close();
            }
        }
        self.check_poison()?;
        if self.opts.sync != SyncPolicy::Never {
            self.sync()?;
        }
        self.map
            .truncate(self.write_offset)
            .map_err(|e| Error::io(&self.path, "truncate", e))?;
        if self.opts.sync != SyncPolicy::Never {
            self.map
                .file()
                .sync_all()
                .map_err(|e| Error::io(&self.path, "fsync", e))?;
        }
        // INDEX.md 9.3: the checkpoint moves to the end at close, over synced content only; under
        // `Never` the close syncs the journal for it (an open after a clean close is then O(1)).
        let wo = self.write_offset;
        if self
            .index
            .as_ref()
            .is_some_and(|u| u.checkpoint().offset < wo)
        {
            let durable = self.opts.sync != SyncPolicy::Never;
            if durable || self.map.file().sync_all().is_ok() {
                self.advance_index(wo, durable);
            }
        }
        Ok(())
    }

    /// Test hook (feature `test-hooks`): drops the writer as a killed process would (no sync, no
    /// cut-back of the file, header as it stands); the lock is released and the mapping unmapped.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn abandon(mut self) {
        self.closed = true;
    }

    /// Test hook (feature `test-hooks`): the wake-up system calls made through this journal's
    /// wake-up file (its `wakes` counter, FORMAT.md 15.1), `None` without one.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn wake_calls(&self) -> Option<u64> {
        self.waker.as_deref().map(Waker::wakes)
    }

    /// Test hook (feature `test-hooks`): makes the next write of the index fail as if with `EIO`,
    /// on whichever thread makes it (the writer's, or a pretoucher's the upkeep is lent to).
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn inject_index_failure(&mut self) {
        match (&mut self.index, &self.index_loan) {
            (Some(u), _) => u.fail_next_write(),
            (None, Some(loan)) => loan.with(Upkeep::fail_next_write),
            (None, None) => {}
        }
    }

    /// Test hook (feature `test-hooks`): makes the next sync fail as if `msync` had returned `EIO`.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn inject_sync_failure(&mut self) {
        self.fail_next_sync = true;
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.close_inner();
    }
}

fn payload_size(len: usize) -> Result<u32> {
    if len as u64 > MAX_PAYLOAD as u64 {
        return Err(Error::PayloadTooLarge {
            len: len as u64,
            max: MAX_PAYLOAD as u64,
        });
    }
    Ok(len as u32)
}

/// Room for one event's payload inside the journal's mapping, from [`Writer::claim`].
///
/// Fill [`Claim::as_mut_slice`], then [`Claim::commit`] (or [`Claim::commit_len`] for fewer bytes).
/// Dropping it uncommitted publishes nothing and zeroes what was written.
pub struct Claim<'w> {
    writer: &'w mut Writer,
    capacity: u32,
}

impl Claim<'_> {
    /// The payload area, `capacity` bytes. Its initial contents are unspecified (usually zeros).
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let at = self.writer.write_offset + ENTRY_HEADER_LEN;
        self.writer.map.unpublished_mut(at, self.capacity as u64)
    }

    /// The claimed capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// Publishes the whole claimed area as one event; returns its index.
    #[inline]
    pub fn commit(self, timestamp: i64) -> Result<u64> {
        let n = self.capacity as usize;
        self.commit_len(timestamp, n)
    }

    /// Publishes the first `len` bytes of the area as one event; returns its index.
    pub fn commit_len(self, timestamp: i64, len: usize) -> Result<u64> {
        if len > self.capacity as usize {
            return Err(Error::InvalidArgument(format!(
                "commit of {len} bytes exceeds the claim of {} bytes",
                self.capacity
            )));
        }
        let capacity = self.capacity as u64;
        let mut this = std::mem::ManuallyDrop::new(self);
        let w = &mut *this.writer;
        let at = w.write_offset;
        let elen = entry_len(len as u32);
        // The unused part of the claim is zeroed, as an abandoned claim is, so that bytes the caller
        // wrote there can never pass for an entry after the new write_offset (FORMAT.md 7.5).
        let claim_end = at + ENTRY_HEADER_LEN + capacity;
        if claim_end > at + elen {
            w.map
                .unpublished_mut(at + elen, claim_end - at - elen)
                .fill(0);
        }
        let entry = w.map.unpublished_mut(at, elen);
        entry[ENTRY_HEADER_LEN as usize + len..].fill(0);
        crate::format::seal_entry(entry, timestamp, len as u32);
        w.publish(at + elen)
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        // Abandoned: publish nothing, and leave no payload bytes that could later be mistaken for
        // an entry (FORMAT.md 7.5, stale bytes).
        self.as_mut_slice().fill(0);
    }
}
