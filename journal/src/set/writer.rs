//! The set writer (SET.md 5, 7): one [`Writer`] on the newest segment, a second one prepared ahead
//! under `.next.journal`, and the roll that renames it into place.
//!
//! The append path is the single journal's plus two comparisons (the roll checks of SET.md 5.2
//! against precomputed limits): no allocation, no system call. Everything else (rolls, preparing the
//! next segment, closing a sealed one) is on cold paths.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Mutex};
use std::thread::JoinHandle;

use super::layout::{
    list_segments, parse_segment_name, segment_name, Retention, RollPolicy, SetMeta, LOCK_FILE,
    MAX_UNCLOSED, NEXT_FILE, WAKE_FILE,
};
use super::prune::{self, PrunePolicy};
use crate::clock::now_ns;
use crate::error::{Error, Result};
use crate::format::{ENTRY_HEADER_LEN, HEADER_LEN, MAX_PAYLOAD};
use crate::index::{index_path, Intervals};
use crate::recovery::RecoveryMode;
use crate::sys::WriterLock;
use crate::sys::{sync_dir, sync_path};
use crate::writer::{SyncPolicy, Writer, WriterOptions};

/// The temporary file of an atomic metadata write (SET.md 3).
const META_TMP: &str = ".journal-set.tmp";

/// Options for opening a [`SetWriter`], as a builder: the per-segment [`WriterOptions`] (sync
/// policy, chunk size, index, ...; every segment is written with them), and for a new set its
/// [`RollPolicy`] and [`Retention`] (stored in the set's metadata file; an existing set keeps its
/// stored ones, SET.md 3).
///
/// The defaults are [`WriterOptions`]' and no roll (one segment that grows like a single journal).
#[derive(Clone, Debug, Default)]
pub struct SetWriterOptions {
    segment: WriterOptions,
    meta: SetMeta,
}

impl SetWriterOptions {
    /// The default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// The options every segment is written with (replacing any set before).
    pub fn segment_options(&mut self, opts: WriterOptions) -> &mut Self {
        self.segment = opts;
        self
    }

    /// When a new set rolls (SET.md 5.1). Ignored by [`open`](Self::open): a set keeps its policy.
    pub fn roll(&mut self, policy: RollPolicy) -> &mut Self {
        self.meta.roll = policy;
        self
    }

    /// What the writer of a new set removes at each roll (SET.md 8.2).
    pub fn retention(&mut self, retention: Retention) -> &mut Self {
        self.meta.retention = retention;
        self
    }

    /// Both the roll policy and the retention of a new set.
    pub fn meta(&mut self, meta: SetMeta) -> &mut Self {
        self.meta = meta;
        self
    }

    /// Bytes each segment grows by at a time ([`WriterOptions::chunk_size`]).
    pub fn chunk_size(&mut self, bytes: u64) -> &mut Self {
        self.segment.chunk_size(bytes);
        self
    }

    /// The largest size of one segment ([`WriterOptions::max_size`]).
    pub fn max_size(&mut self, bytes: u64) -> &mut Self {
        self.segment.max_size(bytes);
        self
    }

    /// When to sync ([`WriterOptions::sync_policy`]); it also decides whether a roll syncs the
    /// sealed segment and the directory (SET.md 5.4, 9).
    pub fn sync_policy(&mut self, policy: SyncPolicy) -> &mut Self {
        self.segment.sync_policy(policy);
        self
    }

    /// Whether new chunks are pre-faulted ([`WriterOptions::prefault`]).
    pub fn prefault(&mut self, on: bool) -> &mut Self {
        self.segment.prefault(on);
        self
    }

    /// Whether chunks are `mlock`ed ([`WriterOptions::lock_memory`]).
    pub fn lock_memory(&mut self, on: bool) -> &mut Self {
        self.segment.lock_memory(on);
        self
    }

    /// Whether huge pages are advised ([`WriterOptions::huge_pages`]).
    pub fn huge_pages(&mut self, on: bool) -> &mut Self {
        self.segment.huge_pages(on);
        self
    }

    /// What recovery does with a damaged tail of the newest segment ([`WriterOptions::recovery`]).
    pub fn recovery(&mut self, mode: RecoveryMode) -> &mut Self {
        self.segment.recovery(mode);
        self
    }

    /// Whether each segment keeps its sparse index ([`WriterOptions::index`]).
    pub fn index(&mut self, on: bool) -> &mut Self {
        self.segment.index(on);
        self
    }

    /// The index intervals ([`WriterOptions::index_intervals`]); `index(false)` wins over them, in
    /// whichever order the two are called.
    pub fn index_intervals(&mut self, intervals: Intervals) -> &mut Self {
        self.segment.index_intervals(intervals);
        self
    }

    /// Creates a new set in `dir` (a new path, or an empty directory) with these options' roll
    /// policy and retention (SET.md 7.2). A directory that is already a set gives
    /// [`Error::AlreadyExists`]; any other non-empty directory [`Error::BadSet`].
    pub fn create(&self, dir: impl AsRef<Path>) -> Result<SetWriter> {
        let dir = dir.as_ref();
        let bad = |reason: String| Error::BadSet {
            path: dir.to_path_buf(),
            reason,
        };
        self.meta.roll.validate().map_err(bad)?;
        match fs::symlink_metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(bad("not a directory".into())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(dir).map_err(|e| Error::io(dir, "create directory", e))?;
            }
            Err(e) => return Err(Error::io(dir, "stat", e)),
        }
        if super::is_set(dir) {
            return Err(Error::AlreadyExists {
                path: dir.to_path_buf(),
            });
        }
        check_empty(dir)?;
        let lock = lock_set(dir)?;
        // Checked again under the lock: another creator may have won the race.
        if super::is_set(dir) {
            return Err(Error::AlreadyExists {
                path: dir.to_path_buf(),
            });
        }
        check_empty(dir)?;
        self.meta.write(dir)?;
        self.start(dir, lock, self.meta)
    }

    /// Opens an existing set for append with its stored policy (SET.md 7.3): takes the set lock,
    /// deletes what an interrupted roll left, and opens the newest segment with recovery.
    pub fn open(&self, dir: impl AsRef<Path>) -> Result<SetWriter> {
        let dir = dir.as_ref();
        // SetMeta::read says "not a journal set" for a directory without metadata.
        SetMeta::read(dir)?;
        let lock = lock_set(dir)?;
        let meta = SetMeta::read(dir)?;
        self.start(dir, lock, meta)
    }

    /// Opens the set in `dir`, creating it (with these options' policy) if `dir` is a new path
    /// or an empty directory.
    pub fn open_or_create(&self, dir: impl AsRef<Path>) -> Result<SetWriter> {
        let dir = dir.as_ref();
        if super::is_set(dir) {
            return self.open(dir);
        }
        match self.create(dir) {
            Err(Error::AlreadyExists { .. }) => self.open(dir),
            other => other,
        }
    }

    /// SET.md 7.3 steps 3 to 7, with the set lock held and the metadata read.
    fn start(&self, dir: &Path, lock: WriterLock, meta: SetMeta) -> Result<SetWriter> {
        remove_next(dir)?;
        remove_if_present(&dir.join(META_TMP))?;
        let mut opts = self.segment.clone();
        // One wake-up file for the set, which the writers of all its segments (`.next.journal`'s
        // included) wake through; none per segment (SET.md 6.5.1).
        opts.share_wake_file(&dir.join(WAKE_FILE));
        if meta.roll.max_bytes != 0 {
            // Appends never take a segment past the roll size (SET.md 5.1), so growth ahead of
            // them stops there (an oversize event grows its own segment).
            opts.growth_cap(meta.roll.max_bytes);
        }
        let segments = list_segments(dir)?;
        let (base, current) = match segments.last() {
            None => {
                let path = dir.join(segment_name(0));
                (0, opts.open_or_create(&path)?)
            }
            Some(newest) => (newest.first_index, opts.open_or_create(&newest.path)?),
        };
        remove_orphan_indexes(dir, base)?;
        // SET.md 7.3 step 6: the segments before the newest that may lack their R7 (with the set's
        // threads on, the closes may have been up to MAX_UNCLOSED segments behind the rolls).
        for sealed in segments.iter().rev().skip(1).take(MAX_UNCLOSED) {
            tidy_sealed(&opts, &sealed.path);
        }
        let seg_cycle = if current.events() > 0 {
            meta.roll.cycle_of(first_timestamp(current.path())?)
        } else {
            None
        };
        let rolls = meta.roll.period_ns != 0 || meta.roll.max_bytes != 0;
        let worker = if rolls && opts.has_pretouch_thread() {
            Some(Worker::spawn(dir, &opts, meta)?)
        } else {
            None
        };
        let mut w = SetWriter {
            current,
            next: None,
            retiring: None,
            worker,
            unsynced_sealed: Vec::new(),
            dir: dir.to_path_buf(),
            sync: opts.sync(),
            opts,
            meta,
            base,
            seg_cycle,
            roll_at: i64::MAX,
            size_limit: u64::MAX,
            scratch: Vec::new(),
            #[cfg(feature = "test-hooks")]
            stop_at: None,
            #[cfg(feature = "test-hooks")]
            abandoned: false,
            #[cfg(feature = "test-hooks")]
            fail_next_prepare: false,
            _lock: lock,
        };
        w.set_limits();
        // The next segment is prepared from the start (SET.md 5.3).
        w.dispatch();
        Ok(w)
    }
}

/// A step of the roll (SET.md 5.4), for the `test-hooks` feature's `SetWriter::stop_roll_after`:
/// the roll stops right after it, leaving the files as a crash there would.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RollStep {
    /// R1: `.next.journal` prepared.
    Prepared,
    /// R2: the old segment synced (by the policy).
    Synced,
    /// R3: `.next.journal.idx` renamed to `NAME.idx`.
    IndexRenamed,
    /// R4: `.next.journal` renamed to `NAME` (the commit point).
    Renamed,
    /// R5: the directory synced (by the policy).
    DirSynced,
    /// The writer switched to the new segment, before the event that caused the roll (R6).
    Switched,
}

/// The one writer of a journal set (SET.md 5, 7).
///
/// It appends to the set's newest segment and rolls to a new one by the set's [`RollPolicy`].
/// Every method that returns an event's index returns its **global** index (SET.md 4). The append
/// path is a [`Writer`]'s plus two comparisons: no allocation and no system call unless the event
/// rolls the set. Call [`pretouch`](Self::pretouch) off the critical path: besides keeping a chunk
/// ready in the current segment, it keeps the next segment prepared (SET.md 5.3) and finishes the
/// close of the segment sealed by the last roll, so that a roll costs two renames (and, under a
/// sync policy other than [`SyncPolicy::Never`], a sync of the sealed segment and of the directory).
///
/// With the pretoucher thread on in the segment options ([`WriterOptions::pretouch_thread`]), each
/// segment grows on its own pretoucher thread, and a set that rolls runs two more threads, so
/// that no `pretouch` call is needed and neither of their jobs runs on the appending thread:
/// `journal-set` prepares the next segment when the set is opened and right after each roll, and
/// `journal-close` closes each sealed segment (and applies the retention), in roll order. A roll
/// waits for the prepared segment, which is ready as soon as creating and pre-faulting it takes,
/// since no close runs before it; it does not wait for closes (under [`SyncPolicy::Never`] a close
/// syncs the whole segment, which may take longer than filling the next one) unless
/// [`MAX_UNCLOSED`](crate::set::layout::MAX_UNCLOSED) sealed segments are still waiting for
/// theirs, and then only until the oldest is closed (SET.md 5.4 R7): a writer faster than the disk
/// runs up to that many segments ahead of it, then at the disk's pace. An error of these threads
/// is returned by the next [`pretouch`](Self::pretouch) after it, or by the next roll, or by
/// [`prepare_next`](Self::prepare_next), [`sync`](Self::sync) or [`close`](Self::close), which
/// wait for all of their work.
///
/// Dropping the writer closes it (as [`close`](Self::close), ignoring errors), after the set's
/// thread finished its work.
pub struct SetWriter {
    current: Writer,
    /// `.next.journal`, prepared ahead (SET.md 5.3).
    /// Boxed, as `retiring`: both are cold, and the set writer's hot fields stay together.
    next: Option<Box<Writer>>,
    /// The segment sealed by the last roll, until its clean close (SET.md 5.4 R7, deferred) or,
    /// with the set's threads, until it is handed to the closing one.
    retiring: Option<Box<Writer>>,
    /// With the segments' pretoucher thread on ([`WriterOptions::pretouch_thread`]): the set's
    /// own threads, which prepare the next segment and close the segments each roll seals.
    worker: Option<Worker>,
    /// Under [`SyncPolicy::Never`]: the segments sealed since the last [`SetWriter::sync`], whose
    /// tails and names that sync must make durable (SET.md 9). Empty under the other policies,
    /// whose rolls sync both (R2, R5).
    unsynced_sealed: Vec<PathBuf>,
    dir: PathBuf,
    opts: WriterOptions,
    sync: SyncPolicy,
    meta: SetMeta,
    /// The global index of the current segment's first event (its name).
    base: u64,
    /// The current segment's cycle (SET.md 5.1): `None` while it is empty or without time rolls.
    seg_cycle: Option<i64>,
    /// Events stamped at or after this take the cold path, which decides the time roll exactly:
    /// the start of the cycle after the segment's, `i64::MIN` while the segment is empty (its first
    /// event sets the cycle), `i64::MAX` without time rolls.
    roll_at: i64,
    /// An entry ending past this takes the cold path (the size roll): `max_bytes`, or `u64::MAX`.
    size_limit: u64,
    /// The payload of a claim moved to a new segment by a time roll at commit (SET.md 5.2).
    scratch: Vec<u8>,
    #[cfg(feature = "test-hooks")]
    stop_at: Option<RollStep>,
    #[cfg(feature = "test-hooks")]
    abandoned: bool,
    #[cfg(feature = "test-hooks")]
    fail_next_prepare: bool,
    /// Dropped last: the set lock outlives every segment writer.
    _lock: WriterLock,
}

impl std::fmt::Debug for SetWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetWriter")
            .field("dir", &self.dir)
            .field("segment", &self.current.path())
            .field("first_index", &self.base)
            .field("events", &self.events())
            .finish()
    }
}

impl SetWriter {
    /// Creates a new set in `dir` with `meta` and default segment options
    /// ([`SetWriterOptions::create`]).
    pub fn create(dir: impl AsRef<Path>, meta: SetMeta) -> Result<SetWriter> {
        SetWriterOptions::new().meta(meta).create(dir)
    }

    /// Opens an existing set with default segment options ([`SetWriterOptions::open`]).
    pub fn open(dir: impl AsRef<Path>) -> Result<SetWriter> {
        SetWriterOptions::new().open(dir)
    }

    /// Opens the set in `dir`, creating it with `meta` if needed
    /// ([`SetWriterOptions::open_or_create`]).
    pub fn open_or_create(dir: impl AsRef<Path>, meta: SetMeta) -> Result<SetWriter> {
        SetWriterOptions::new().meta(meta).open_or_create(dir)
    }

    /// A builder for non-default options.
    pub fn options() -> SetWriterOptions {
        SetWriterOptions::new()
    }

    /// The set's directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The path of the segment being written (the newest).
    pub fn segment_path(&self) -> &Path {
        self.current.path()
    }

    /// The global index of the current segment's first event (its name, SET.md 2).
    pub fn segment_first_index(&self) -> u64 {
        self.base
    }

    /// The set's stored policy (SET.md 3).
    pub fn meta(&self) -> SetMeta {
        self.meta
    }

    /// The global index the next event will get: the number of events the set has held, pruned
    /// ones included (SET.md 4).
    pub fn events(&self) -> u64 {
        self.base + self.current.events()
    }

    /// The current segment's writer (read-only: its `write_offset`, recovery report, index state).
    pub fn segment(&self) -> &Writer {
        &self.current
    }

    /// Whether the next segment is prepared (SET.md 5.3).
    pub fn next_prepared(&self) -> bool {
        self.next.is_some()
    }

    /// Recomputes the hot path's limits for the current segment (cold).
    fn set_limits(&mut self) {
        let roll = self.meta.roll;
        self.roll_at = match (roll.period_ns, self.seg_cycle) {
            (0, _) => i64::MAX,
            (_, None) => i64::MIN,
            (_, Some(c)) => roll.cycle_start(c.saturating_add(1)).unwrap_or(i64::MAX),
        };
        self.size_limit = if roll.max_bytes == 0 {
            u64::MAX
        } else {
            roll.max_bytes
        };
    }

    /// Appends one event; returns its global index. Rolls first if the event is in a later cycle
    /// than the segment's, or would take the segment past the roll size (SET.md 5.2).
    #[inline]
    pub fn append(&mut self, timestamp: i64, payload: &[u8]) -> Result<u64> {
        let end = self
            .current
            .write_offset()
            .saturating_add(entry_len_u64(payload.len()));
        if timestamp >= self.roll_at || end > self.size_limit {
            return self.append_cold(timestamp, payload);
        }
        Ok(self.base + self.current.append(timestamp, payload)?)
    }

    /// Appends one event stamped with [`now_ns`].
    #[inline]
    pub fn append_now(&mut self, payload: &[u8]) -> Result<u64> {
        self.append(now_ns(), payload)
    }

    /// Appends many events; returns the global index of the first (for an empty batch, the index
    /// the next event will get, [`SetWriter::events`]). As [`Writer::append_batch`], the events
    /// that go into one segment are published together, with one store of its `write_offset`, and
    /// the sync policy is applied once per publish. Allocates nothing between rolls.
    ///
    /// A batch that crosses a roll is split at it: the events before the roll are published in
    /// the old segment, then the event that rolls the set is appended alone (as
    /// [`append`](Self::append) does), and the rest of the batch follows in the new segment. The
    /// same goes for the first event of an empty segment under a time roll, which sets its cycle
    /// (SET.md 5.1). So a reader of the set may see a split batch, in parts, each at a roll.
    ///
    /// A payload above [`MAX_PAYLOAD`](crate::MAX_PAYLOAD) refuses the rest of the batch: what was
    /// not yet published is zeroed and not published; parts before a roll that the batch crossed
    /// stay published (without a roll, nothing of the batch is published).
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("journal-doc-set-batch-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// use journal::set::{RollPolicy, SetMeta, SetWriter};
    ///
    /// let meta = SetMeta { roll: RollPolicy::by_size(1 << 20), ..SetMeta::default() };
    /// let mut w = SetWriter::create(&dir, meta)?;
    /// let events: [(i64, &[u8]); 2] = [(1, b"a"), (2, b"bc")];
    /// assert_eq!(w.append_batch(events)?, 0);
    /// assert_eq!(w.events(), 2);
    /// w.close()?;
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), journal::Error>(())
    /// ```
    pub fn append_batch<I, P>(&mut self, events: I) -> Result<u64>
    where
        I: IntoIterator<Item = (i64, P)>,
        P: AsRef<[u8]>,
    {
        let first = self.events();
        let mut end = self.current.write_offset();
        let mut staged = 0u64;
        for (timestamp, payload) in events {
            let payload = payload.as_ref();
            if let Err(e) = check_payload(payload.len()) {
                self.current.discard_staged(end);
                return Err(e);
            }
            let len = entry_len_u64(payload.len());
            if timestamp >= self.roll_at || end.saturating_add(len) > self.size_limit {
                // The roll is decided on published state (SET.md 5.2): publish what is staged,
                // then this event alone, on the cold path, which rolls if it must.
                self.current.publish_staged(end, staged)?;
                staged = 0;
                self.append_cold(timestamp, payload)?;
                end = self.current.write_offset();
                continue;
            }
            match self.current.stage(end, timestamp, payload) {
                Ok(next) => end = next,
                Err(e) => {
                    self.current.discard_staged(end);
                    return Err(e);
                }
            }
            staged += 1;
        }
        self.current.publish_staged(end, staged)?;
        Ok(first)
    }

    #[cold]
    #[inline(never)]
    fn append_cold(&mut self, timestamp: i64, payload: &[u8]) -> Result<u64> {
        check_payload(payload.len())?;
        let len = entry_len_u64(payload.len());
        if self.size_roll_due(len) || self.time_roll_due(timestamp) {
            self.roll()?;
        }
        let local = self.current.append(timestamp, payload)?;
        self.after_publish(timestamp);
        Ok(self.base + local)
    }

    /// Whether an entry of `len` bytes rolls by size (SET.md 5.2 rule 2).
    fn size_roll_due(&self, len: u64) -> bool {
        self.current.events() > 0
            && self.current.write_offset().saturating_add(len) > self.size_limit
    }

    /// Whether an event at `timestamp` rolls by time (SET.md 5.2 rule 1).
    fn time_roll_due(&self, timestamp: i64) -> bool {
        self.current.events() > 0
            && matches!(
                (self.meta.roll.cycle_of(timestamp), self.seg_cycle),
                (Some(c), Some(s)) if c > s
            )
    }

    /// After an event was published on the cold path: the first event of a segment sets its
    /// cycle (SET.md 5.1).
    fn after_publish(&mut self, timestamp: i64) {
        if self.seg_cycle.is_none() && self.current.events() == 1 {
            self.seg_cycle = self.meta.roll.cycle_of(timestamp);
            self.set_limits();
        }
    }

    /// Reserves room for a payload of up to `capacity` bytes in the current segment, for the
    /// caller to fill in place (zero-copy). The size roll is decided here, on the capacity; the
    /// time roll at [`SetClaim::commit`], when the timestamp is known (SET.md 5.2, claims).
    pub fn claim(&mut self, capacity: usize) -> Result<SetClaim<'_>> {
        let end = self
            .current
            .write_offset()
            .saturating_add(entry_len_u64(capacity));
        if end > self.size_limit {
            check_payload(capacity)?;
            if self.size_roll_due(entry_len_u64(capacity)) {
                self.roll()?;
            }
        }
        // Makes room (and checks the capacity); the claim is reopened to commit or abandon it.
        drop_open(self.current.claim(capacity)?);
        Ok(SetClaim {
            set: self,
            capacity,
        })
    }

    /// The roll (SET.md 5.4): R1 to R6, with R7 deferred and R8 the retention hook.
    #[cold]
    #[inline(never)]
    fn roll(&mut self) -> Result<()> {
        let n = self.current.events();
        debug_assert!(n > 0, "the writer never rolls away from an empty segment");
        let first = self.base.checked_add(n).ok_or_else(|| {
            Error::InvalidArgument("the set's global event index would overflow a u64".into())
        })?;
        // With the set's threads: the segment prepared for this roll, and room for the segment it
        // seals among those waiting for their close (SET.md 5.4 R7). A close waits for the disk
        // (a sync of the whole segment under `never`), so the roll waits for one only when the
        // closes are MAX_UNCLOSED segments behind.
        self.collect(Wait::Roll)?;
        self.finish_retiring_here()?;
        self.prepare_next_inner()?; // R1
        self.stop(RollStep::Prepared)?;
        if self.sync != SyncPolicy::Never {
            self.current.sync()?; // R2
        }
        self.stop(RollStep::Synced)?;
        let path = self.dir.join(segment_name(first));
        let next_path = self.dir.join(NEXT_FILE);
        let next_idx = index_path(&next_path);
        let idx = index_path(&path);
        let idx_moved = match fs::rename(&next_idx, &idx) {
            Ok(()) => true, // R3
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(Error::io(&next_idx, "rename", e)),
        };
        self.stop(RollStep::IndexRenamed)?;
        if let Err(e) = fs::rename(&next_path, &path) {
            // R4 failed: the roll did not happen. Undo R3 and drop the prepared segment.
            if idx_moved {
                let _ = fs::rename(&idx, &next_idx);
            }
            self.next = None;
            let _ = remove_next(&self.dir);
            return Err(Error::io(&path, "rename", e));
        }
        // The commit point is passed: from here the old segment is sealed.
        self.stop(RollStep::Renamed)?;
        let mut next = self.next.take().expect("prepared above");
        next.set_path(path);
        let old = std::mem::replace(&mut self.current, *next);
        if self.sync == SyncPolicy::Never {
            self.unsynced_sealed.push(old.path().to_path_buf());
        }
        self.retiring = Some(Box::new(old));
        self.base = first;
        self.seg_cycle = None;
        self.set_limits();
        if self.sync != SyncPolicy::Never {
            sync_dir(&self.dir)?; // R5
        }
        self.stop(RollStep::DirSynced)?;
        // R7 and R8 are deferred to finish_retiring, off the append path.
        self.stop(RollStep::Switched)?;
        self.dispatch();
        Ok(())
    }

    /// With the set's threads: hands the segment sealed by the last roll to the closing one (R7,
    /// R8), and the preparation of the next segment (SET.md 5.3) to the preparing one unless it
    /// is prepared or being prepared.
    fn dispatch(&mut self) {
        let Some(worker) = self.worker.as_mut() else {
            return;
        };
        if let Some(old) = self.retiring.take() {
            // If the thread is gone (it panicked), the close stays here, for the calling thread.
            self.retiring = worker.close.send(old);
        }
        if self.next.is_none() && worker.prepare.in_hand == 0 {
            let prepare = Prepare {
                #[cfg(feature = "test-hooks")]
                fail: std::mem::take(&mut self.fail_next_prepare),
            };
            // If the thread is gone, the roll prepares the segment itself (R1).
            let _ = worker.prepare.send(prepare);
        }
    }

    /// Takes what the set's threads finished, waiting for what `wait` says: the prepared segment
    /// is kept, the first error returned.
    fn collect(&mut self, wait: Wait) -> Result<()> {
        let Some(worker) = self.worker.as_mut() else {
            return Ok(());
        };
        let mut result = Ok(());
        while let Some(done) = worker.prepare.receive(wait != Wait::Nothing, &self.dir) {
            match done {
                Ok(next) => self.next = Some(next),
                Err(e) => result = result.and(Err(e)),
            }
        }
        let most = match wait {
            Wait::Nothing => usize::MAX,
            Wait::Roll => MAX_UNCLOSED - 1,
            Wait::All => 0,
        };
        #[cfg(feature = "test-hooks")]
        if wait == Wait::Roll && worker.close.in_hand > most {
            worker.gate.state().rolls_waited += 1;
        }
        while let Some(done) = worker.close.receive(worker.close.in_hand > most, &self.dir) {
            result = result.and(done);
        }
        result
    }

    /// R7 and R8, off the append path: closes the segments sealed by the last rolls (SET.md 5.4),
    /// then applies the set's stored retention (SET.md 8.2) as a prune (8.1), with "before" taken
    /// from the newest event of the segment just sealed.
    /// With the set's threads, waits for everything they have in hand first (which may be this
    /// very work).
    fn finish_retiring(&mut self) -> Result<()> {
        let collected = self.collect(Wait::All);
        collected.and(self.finish_retiring_here())
    }

    /// R7 and R8 on this thread for the segment sealed by the last roll, if no thread of the set
    /// took it.
    fn finish_retiring_here(&mut self) -> Result<()> {
        match self.retiring.take() {
            Some(old) => retire(*old, &self.dir, &self.meta),
            None => Ok(()),
        }
    }

    /// Prepares the next segment under `.next.journal` now, if it is not prepared (SET.md 5.3):
    /// created, its header durable, its first chunk allocated and pre-faulted, its index started.
    pub fn prepare_next(&mut self) -> Result<()> {
        self.finish_retiring()?;
        self.prepare_next_inner()
    }

    fn prepare_next_inner(&mut self) -> Result<()> {
        if self.next.is_some() {
            return Ok(());
        }
        remove_next(&self.dir)?;
        let next = self.opts.create(self.dir.join(NEXT_FILE))?;
        self.next = Some(Box::new(next));
        Ok(())
    }

    /// Off the critical path: keeps a chunk allocated and pre-faulted ahead in the current
    /// segment ([`Writer::pretouch`]), finishes the close of the segment sealed by the last roll,
    /// and keeps the next segment prepared when the set rolls at all (SET.md 5.3).
    pub fn pretouch(&mut self) -> Result<()> {
        self.current.pretouch()?;
        if self.worker.is_some() {
            // The set's threads do the rest; an error of their last work is returned here.
            let collected = self.collect(Wait::Nothing);
            self.dispatch();
            return collected;
        }
        self.finish_retiring()?;
        let roll = self.meta.roll;
        if roll.period_ns != 0 || roll.max_bytes != 0 {
            self.prepare_next_inner()?;
        }
        Ok(())
    }

    /// Flushes every published event to stable storage: the current segment's ([`Writer::sync`])
    /// and, under [`SyncPolicy::Never`], those of the segments sealed since the last sync, with
    /// the directory that names them (SET.md 9). Segments sealed under the other policies were
    /// synced by their roll.
    pub fn sync(&mut self) -> Result<()> {
        self.finish_retiring()?;
        if !self.unsynced_sealed.is_empty() {
            for path in &self.unsynced_sealed {
                // A sealed segment retention already removed has nothing left to make durable.
                sync_path(path)?;
            }
            sync_dir(&self.dir)?;
            self.unsynced_sealed.clear();
        }
        self.current.sync()
    }

    /// Test hook (feature `test-hooks`): the paths under the set's directory that syncs made
    /// durable so far in this process (files and the directory itself), in order.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn synced_paths(&self) -> Vec<PathBuf> {
        crate::sys::synced::under(&self.dir)
    }

    /// Syncs if the policy says it is due ([`Writer::sync_if_due`]).
    pub fn sync_if_due(&mut self) -> Result<()> {
        self.current.sync_if_due()
    }

    /// Closes the set cleanly: closes the segments (FORMAT.md 7.4) and deletes the prepared next
    /// segment, leaving no `.next.journal` behind.
    pub fn close(mut self) -> Result<()> {
        self.close_inner()
    }

    fn close_inner(&mut self) -> Result<()> {
        #[cfg(feature = "test-hooks")]
        if self.abandoned {
            return Ok(());
        }
        let retiring = self.finish_retiring();
        // Stopped and joined: nothing it does is left half done.
        self.worker = None;
        let next = self.next.take().map(|w| w.close());
        let removed = remove_next(&self.dir);
        let current = self.current.close_in_place();
        if let Some(w) = self.opts.take_shared_wake() {
            w.close();
        }
        retiring?;
        if let Some(r) = next {
            r?;
        }
        removed?;
        current
    }

    /// Test hook (feature `test-hooks`): the next roll stops right after `step`, returning an
    /// error and leaving the files as a crash there would; then [`abandon`](Self::abandon) the
    /// writer.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn stop_roll_after(&mut self, step: RollStep) {
        self.stop_at = Some(step);
    }

    /// Test hook (feature `test-hooks`): drops the writer as a killed process would (no sync, no
    /// clean close of any segment, `.next.journal` left as it is).
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn abandon(mut self) {
        // Work in flight finishes first (a close already started is a state a crash after R7
        // leaves); closes not started yet are abandoned, as a crash before them leaves their
        // segments, and a segment prepared is abandoned with the others.
        if let Some(worker) = &self.worker {
            worker.gate.abandon();
        }
        let _ = self.collect(Wait::All);
        self.worker = None;
        self.abandoned = true;
        self.current.abandon_in_place();
        for w in [self.next.as_mut(), self.retiring.as_mut()]
            .into_iter()
            .flatten()
        {
            w.abandon_in_place();
        }
    }

    /// Test hook (feature `test-hooks`): holds the closes of sealed segments (SET.md 5.4 R7) on
    /// the set's closing thread (with the segments' pretoucher thread on) until the returned hold
    /// is released, as a disk slower than the appends would. Without that thread it does nothing.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn hold_closes(&mut self) -> CloseHold {
        let gate = self
            .worker
            .as_ref()
            .map_or_else(Default::default, |w| w.gate.clone());
        gate.hold();
        CloseHold { gate }
    }

    /// Test hook (feature `test-hooks`): the next preparation of a segment on the set's preparing
    /// thread (with the segments' pretoucher thread on) fails, as a full disk would make it.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn inject_prepare_failure(&mut self) {
        self.fail_next_prepare = true;
    }

    /// Test hook (feature `test-hooks`): [`Writer::inject_index_failure`] on the current segment.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn inject_index_failure(&mut self) {
        self.current.inject_index_failure();
    }

    #[inline]
    fn stop(&mut self, _step: RollStep) -> Result<()> {
        #[cfg(feature = "test-hooks")]
        if self.stop_at == Some(_step) {
            self.stop_at = None;
            return Err(Error::InvalidArgument(format!(
                "test hook: roll stopped after {_step:?}"
            )));
        }
        Ok(())
    }
}

impl Drop for SetWriter {
    fn drop(&mut self) {
        let _ = self.close_inner();
    }
}

/// Room for one event's payload in the set's current segment, from [`SetWriter::claim`].
///
/// Fill [`as_mut_slice`](Self::as_mut_slice), then [`commit`](Self::commit) or
/// [`commit_len`](Self::commit_len). Dropping it uncommitted publishes nothing and zeroes what was
/// written, as [`Claim`](crate::Claim) does.
pub struct SetClaim<'w> {
    set: &'w mut SetWriter,
    capacity: usize,
}

impl SetClaim<'_> {
    /// The payload area, `capacity` bytes.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        self.set.current.claimed_mut(self.capacity)
    }

    /// The claimed capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Publishes the whole claimed area as one event; returns its global index.
    #[inline]
    pub fn commit(self, timestamp: i64) -> Result<u64> {
        let n = self.capacity;
        self.commit_len(timestamp, n)
    }

    /// Publishes the first `len` bytes of the area as one event; returns its global index. If the
    /// timestamp is in a later cycle than the segment's, the set rolls first and the bytes are
    /// copied into the new segment (SET.md 5.2, claims).
    pub fn commit_len(self, timestamp: i64, len: usize) -> Result<u64> {
        if len > self.capacity {
            return Err(Error::InvalidArgument(format!(
                "commit of {len} bytes exceeds the claim of {} bytes",
                self.capacity
            )));
        }
        let capacity = self.capacity;
        let set = &mut *self.set;
        let result = if timestamp >= set.roll_at {
            set.commit_cold(timestamp, capacity, len)
        } else {
            set.current
                .claim(capacity)
                .and_then(|c| c.commit_len(timestamp, len))
                .map(|local| set.base + local)
        };
        // Committed (or failed as a commit fails): the claim's Drop must not zero anything.
        std::mem::forget(self);
        result
    }
}

impl SetWriter {
    #[cold]
    #[inline(never)]
    fn commit_cold(&mut self, timestamp: i64, capacity: usize, len: usize) -> Result<u64> {
        if self.time_roll_due(timestamp) {
            let mut scratch = std::mem::take(&mut self.scratch);
            scratch.clear();
            scratch.extend_from_slice(&self.current.claimed_mut(capacity)[..len]);
            // The claim in the old segment is abandoned: zeroed, nothing published (SET.md 5.2).
            self.current.claimed_mut(capacity).fill(0);
            let result = self.roll().and_then(|()| {
                let local = self.current.append(timestamp, &scratch)?;
                self.after_publish(timestamp);
                Ok(self.base + local)
            });
            self.scratch = scratch;
            return result;
        }
        let local = self.current.claim(capacity)?.commit_len(timestamp, len)?;
        self.after_publish(timestamp);
        Ok(self.base + local)
    }
}

impl Drop for SetClaim<'_> {
    fn drop(&mut self) {
        // Abandoned: publish nothing, leave no bytes that could pass for an entry (FORMAT.md 7.5).
        self.set.current.claimed_mut(self.capacity).fill(0);
    }
}

/// `pad8(16 + len)` in u64, for any `len` (the size check comes on the cold path).
#[inline(always)]
fn entry_len_u64(len: usize) -> u64 {
    (len as u64).saturating_add(ENTRY_HEADER_LEN + 7) & !7
}

fn check_payload(len: usize) -> Result<()> {
    if len as u64 > MAX_PAYLOAD as u64 {
        return Err(Error::PayloadTooLarge {
            len: len as u64,
            max: MAX_PAYLOAD as u64,
        });
    }
    Ok(())
}

/// Keeps a claim's room without publishing or zeroing anything (it was just made, and is empty).
fn drop_open(claim: crate::writer::Claim<'_>) {
    std::mem::forget(claim);
}

/// R7 and R8 for the segment `old`, sealed by a roll: its clean close (SET.md 5.4), then the set's
/// stored retention (SET.md 8.2) as a prune (8.1), with "before" taken from the newest event of
/// the segment just sealed.
fn retire(old: Writer, dir: &Path, meta: &SetMeta) -> Result<()> {
    let sealed = old.path().to_path_buf();
    old.close()?;
    if meta.retention.is_active() {
        let newest = prune::summarize(&sealed, 0)?.newest_timestamp;
        let policy = PrunePolicy::from_retention(&meta.retention, newest);
        prune::prune(dir, &policy)?;
    }
    Ok(())
}

// The set writer may be moved to, and shared with, other threads, as a journal's writer may.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<SetWriter>();
};

/// Asks the set's preparing thread for `.next.journal` (SET.md 5.3).
struct Prepare {
    #[cfg(feature = "test-hooks")]
    fail: bool,
}

impl Prepare {
    /// Test hook: the preparation fails as a full disk would make it.
    fn check(&self) -> Result<()> {
        #[cfg(feature = "test-hooks")]
        if self.fail {
            return Err(Error::InvalidArgument(
                "test hook: the next segment could not be prepared".into(),
            ));
        }
        Ok(())
    }
}

/// One thread of the set writer: it does the work sent to it one item at a time, in the order
/// sent, and sends each outcome back. It ends when its sender is dropped (after the item in
/// hand), and is joined on drop.
struct Lane<T, R> {
    tasks: Option<mpsc::Sender<T>>,
    /// In a mutex only so that the set writer stays `Sync` (reached through `&mut` alone).
    done: Mutex<mpsc::Receiver<Result<R>>>,
    /// Items sent whose outcome was not received yet.
    in_hand: usize,
    thread: Option<JoinHandle<()>>,
}

impl<T: Send + 'static, R: Send + 'static> Lane<T, R> {
    fn spawn(
        name: &str,
        dir: &Path,
        mut work: impl FnMut(T) -> Result<R> + Send + 'static,
    ) -> Result<Self> {
        let (tasks, inbox) = mpsc::channel::<T>();
        let (outbox, done) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for task in inbox {
                    if outbox.send(work(task)).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| Error::io(dir, "spawn a thread of the set writer", e))?;
        Ok(Lane {
            tasks: Some(tasks),
            done: Mutex::new(done),
            in_hand: 0,
            thread: Some(thread),
        })
    }

    /// Sends an item; gives it back if the thread is gone.
    fn send(&mut self, task: T) -> Option<T> {
        let tasks = self.tasks.as_ref().expect("only dropped with the lane");
        if let Err(e) = tasks.send(task) {
            return Some(e.0);
        }
        self.in_hand += 1;
        None
    }

    /// One outcome of the items in hand: waited for when `wait`, else only if one is there.
    /// `None` when nothing is in hand (or, without `wait`, nothing is done yet).
    fn receive(&mut self, wait: bool, dir: &Path) -> Option<Result<R>> {
        if self.in_hand == 0 {
            return None;
        }
        let done = self.done.get_mut().unwrap_or_else(|e| e.into_inner());
        let got = if wait {
            done.recv().ok()
        } else {
            match done.try_recv() {
                Ok(d) => Some(d),
                Err(mpsc::TryRecvError::Empty) => return None,
                Err(mpsc::TryRecvError::Disconnected) => None,
            }
        };
        match got {
            Some(outcome) => {
                self.in_hand -= 1;
                Some(outcome)
            }
            None => {
                // The thread is gone: nothing more comes back.
                self.in_hand = 0;
                Some(Err(Error::io(
                    dir,
                    "finish a roll",
                    io::Error::other("a thread of the set writer ended without finishing its work"),
                )))
            }
        }
    }
}

impl<T, R> Drop for Lane<T, R> {
    fn drop(&mut self) {
        // Ends the thread's loop once it has finished the item in hand, then waits for it.
        self.tasks = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The set writer's threads, with the segments' pretoucher threads on: `journal-set` prepares
/// the next segment (SET.md 5.3) when the set is opened and after each roll, and `journal-close`
/// closes each sealed segment and applies the retention after it (5.4 R7, R8), in roll order.
/// Two threads, so that a preparation never queues behind a close: under [`SyncPolicy::Never`]
/// a close syncs the whole segment and waits for the disk, while the next roll needs only the
/// prepared segment.
struct Worker {
    prepare: Lane<Prepare, Box<Writer>>,
    close: Lane<Box<Writer>, ()>,
    #[cfg(feature = "test-hooks")]
    gate: std::sync::Arc<Gate>,
}

impl Worker {
    fn spawn(dir: &Path, opts: &WriterOptions, meta: SetMeta) -> Result<Worker> {
        let (at, opts) = (dir.to_path_buf(), opts.clone());
        let prepare = Lane::spawn("journal-set", dir, move |p: Prepare| {
            p.check()?;
            remove_next(&at)?;
            Ok(Box::new(opts.create(at.join(NEXT_FILE))?))
        })?;
        #[cfg(feature = "test-hooks")]
        let gate = std::sync::Arc::<Gate>::default();
        #[cfg(feature = "test-hooks")]
        let held = gate.clone();
        let at = dir.to_path_buf();
        #[allow(unused_mut)] // reason: only the test hook abandons the segment in place
        let close = Lane::spawn("journal-close", dir, move |mut old: Box<Writer>| {
            #[cfg(feature = "test-hooks")]
            if held.pass() {
                old.abandon_in_place();
                return Ok(());
            }
            retire(*old, &at, &meta)
        })?;
        Ok(Worker {
            prepare,
            close,
            #[cfg(feature = "test-hooks")]
            gate,
        })
    }
}

/// How much of the set's threads' work [`SetWriter::collect`] waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Nothing: it takes what is done.
    Nothing,
    /// What a roll needs (SET.md 5.4): the prepared segment, and closes until fewer than
    /// [`MAX_UNCLOSED`] sealed segments are without their R7, so that the roll leaves at most
    /// that many.
    Roll,
    /// Everything sent.
    All,
}

/// Test hook (feature `test-hooks`): holds the closes (SET.md 5.4 R7) of the set's closing thread,
/// from [`SetWriter::hold_closes`]. A close that comes while the hold is on waits before it starts
/// until the hold is released (by [`release`](Self::release) or by dropping it), or until the
/// writer is abandoned, which then abandons it too, as a kill would.
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub struct CloseHold {
    gate: std::sync::Arc<Gate>,
}

#[cfg(feature = "test-hooks")]
impl CloseHold {
    /// Whether a close is waiting at the hold.
    pub fn holding_a_close(&self) -> bool {
        self.gate.state().waiting > 0
    }

    /// How many rolls waited for a close (SET.md 5.4 R7: the bound of sealed segments without it)
    /// since the hold was taken.
    pub fn rolls_waited(&self) -> usize {
        self.gate.state().rolls_waited
    }

    /// Lets every close through (as dropping the hold does).
    pub fn release(self) {}
}

#[cfg(feature = "test-hooks")]
impl Drop for CloseHold {
    fn drop(&mut self) {
        self.gate.state().held = false;
        self.gate.changed.notify_all();
    }
}

#[cfg(feature = "test-hooks")]
impl std::fmt::Debug for CloseHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloseHold").finish_non_exhaustive()
    }
}

/// The state behind a [`CloseHold`], shared by the set writer and its threads.
#[cfg(feature = "test-hooks")]
#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
    changed: std::sync::Condvar,
}

#[cfg(feature = "test-hooks")]
#[derive(Default)]
struct GateState {
    held: bool,
    abandoned: bool,
    waiting: usize,
    rolls_waited: usize,
}

#[cfg(feature = "test-hooks")]
impl Gate {
    fn state(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called by a close before it starts: waits while the hold is on. Returns whether the writer
    /// was abandoned, in which case the close must abandon its segment instead.
    fn pass(&self) -> bool {
        let mut s = self.state();
        s.waiting += 1;
        while s.held && !s.abandoned {
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        s.waiting -= 1;
        s.abandoned
    }

    fn hold(&self) {
        let mut s = self.state();
        s.held = true;
        s.rolls_waited = 0;
    }

    fn abandon(&self) {
        self.state().abandoned = true;
        self.changed.notify_all();
    }
}

/// Checks that `dir` holds nothing but what an interrupted creation leaves (SET.md 7.2).
fn check_empty(dir: &Path) -> Result<()> {
    let rd = fs::read_dir(dir).map_err(|e| Error::io(dir, "read directory", e))?;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, "read directory", e))?;
        let name = entry.file_name();
        if name != LOCK_FILE && name != META_TMP {
            return Err(Error::BadSet {
                path: dir.to_path_buf(),
                reason: format!(
                    "the directory is not empty (it holds {:?}) and is not a journal set",
                    name
                ),
            });
        }
    }
    Ok(())
}

/// Takes the set lock (SET.md 7.1).
fn lock_set(dir: &Path) -> Result<WriterLock> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| Error::io(&path, "open", e))?;
    match WriterLock::try_lock(&file) {
        Ok(Some(lock)) => Ok(lock),
        Ok(None) => Err(Error::Locked {
            path: dir.to_path_buf(),
        }),
        Err(e) => Err(Error::io(&path, "lock", e)),
    }
}

fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, "remove", e)),
    }
}

/// Deletes `.next.journal.idx` and `.next.journal` (SET.md 7.3 step 3).
fn remove_next(dir: &Path) -> Result<()> {
    let next = dir.join(NEXT_FILE);
    remove_if_present(&index_path(&next))?;
    remove_if_present(&next)
}

/// SET.md 7.3 step 5: index files of segments above the newest that do not exist.
fn remove_orphan_indexes(dir: &Path, newest: u64) -> Result<()> {
    let rd = fs::read_dir(dir).map_err(|e| Error::io(dir, "read directory", e))?;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, "read directory", e))?;
        let name = entry.file_name();
        let Some(seg) = name.to_str().and_then(|n| n.strip_suffix(".idx")) else {
            continue;
        };
        match parse_segment_name(seg) {
            Some(first) if first > newest && !dir.join(seg).exists() => {
                remove_if_present(&entry.path())?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// SET.md 7.3 step 6: finishes R7 for a segment before the newest if it was not closed cleanly
/// (its file is longer than its `write_offset`). Best effort: a segment that does not recover in
/// strict mode is left as it is, for `verify` to report.
fn tidy_sealed(opts: &WriterOptions, path: &Path) {
    let Ok(file) = File::open(path) else { return };
    let mut wo = [0u8; 8];
    if file.read_exact_at(&mut wo, 0).is_err() {
        return;
    }
    let len = file.metadata().map_or(0, |m| m.len());
    if len > u64::from_le_bytes(wo) && len >= HEADER_LEN {
        let mut strict = opts.clone();
        strict.recovery(RecoveryMode::Strict);
        if let Ok(w) = strict.open(path) {
            let _ = w.close();
        }
    }
}

/// The timestamp of a segment's first event (at offset 24, FORMAT.md 4).
fn first_timestamp(path: &Path) -> Result<i64> {
    let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let mut ts = [0u8; 8];
    file.read_exact_at(&mut ts, HEADER_LEN)
        .map_err(|e| Error::io(path, "read", e))?;
    Ok(i64::from_le_bytes(ts))
}

/// The set lock (SET.md 7.1) held without writing: while it is held, no [`SetWriter`] can open
/// the set, so no segment is created or renamed and the newest segment stays the newest (a tool
/// that repairs the newest segment holds it). Released when dropped.
pub struct SetLock {
    _lock: WriterLock,
}

impl std::fmt::Debug for SetLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetLock").finish_non_exhaustive()
    }
}

impl SetLock {
    /// Takes the lock of the set in `dir` without waiting: [`Error::BadSet`] if `dir` is not a
    /// set, [`Error::Locked`] if a writer (or another holder) has it.
    pub fn acquire(dir: impl AsRef<Path>) -> Result<SetLock> {
        let dir = dir.as_ref();
        SetMeta::read(dir)?;
        Ok(SetLock {
            _lock: lock_set(dir)?,
        })
    }
}
