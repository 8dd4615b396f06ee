//! Zero-copy readers: open read-only (O(1)), iterate, verify, seek by index or time.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub use crate::cursor::Event;

use crate::cursor::Cursor;
use crate::error::{Error, Result};
use crate::format::{check_header, DamageReason, HEADER_LEN};
use crate::index::{Index, IndexFault, Position, Stamp, START};
use crate::recovery::{scan, Damage};
use crate::sys::{self, ReadMap};

/// The least address space a reader of a journal with a live writer maps past the content at open,
/// so that it follows the first appends without growing its view. A reader of a journal no writer
/// holds maps only the content. Either view grows geometrically when the content passes it
/// ([`ReadMap`]).
const READER_HEADROOM: u64 = 64 << 20;

/// The header fields and file length as a reader sees them now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderInfo {
    /// The published `write_offset`.
    pub write_offset: u64,
    /// The header's `event_count` (a hint).
    pub event_count: u64,
    /// The header's `start_timestamp`.
    pub start_timestamp: i64,
    /// The file's length.
    pub file_len: u64,
}

/// The verdict of a full walk over a journal (FORMAT.md 6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    /// Number of valid events (the content).
    pub events: u64,
    /// End offset of the content.
    pub end: u64,
    /// The header's `write_offset` when the walk started.
    pub write_offset: u64,
    /// The file's length when the walk started.
    pub file_len: u64,
    /// The header's `event_count` hint.
    pub event_count_hint: u64,
    /// The header's `start_timestamp`.
    pub start_timestamp: i64,
    /// The first invalid entry, if the journal is damaged.
    pub damage: Option<Damage>,
}

impl Report {
    /// Whether the content reaches `write_offset` with no damage.
    pub fn is_intact(&self) -> bool {
        self.damage.is_none()
    }
}

/// A read-only view of a journal, safe to use while another process appends to it.
///
/// Opening costs O(1): the header is checked structurally (FORMAT.md 3) and entries are validated
/// lazily, CRC included unless [`Reader::set_verify_checksums`] turned that off.
///
/// A reader notices when the journal it reads is no longer the one it opened (FORMAT.md 10): the
/// header's `start_timestamp` changed, or `write_offset` went back below a position already read
/// while the file still reaches it. Then every call fails with [`Error::Replaced`]; a truncated file
/// is [`Error::FileShrunk`].
pub struct Reader {
    map: ReadMap,
    path: PathBuf,
    verify: bool,
    /// The header's `start_timestamp` at open: the journal's identity (FORMAT.md 10).
    start_timestamp: i64,
    /// The journal's index (spec/INDEX.md), loaded on the first seek that can use it and followed
    /// as a writer extends it, or what made it unusable.
    index: Mutex<IndexState>,
    /// The journal's wake-up file (FORMAT.md 15), for tailers that block.
    wake: crate::wake::WakeSlot,
    /// Times this reader read its index file to load it (test hook).
    #[cfg(feature = "test-hooks")]
    index_loads: std::sync::atomic::AtomicU64,
}

/// What a reader knows of its journal's index (INDEX.md 6).
enum IndexState {
    /// Not read yet, or there was no file to read (missing, or it could not be opened): the next
    /// seek looks for it again (one `open`).
    Unknown,
    /// Loaded and usable. `seen` is the [`Stamp`] of the file it was read from, `None` when the
    /// file no longer holds it (a refresh failed).
    Held { idx: Index, seen: Option<Stamp> },
    /// The file with stamp `seen` is unusable: seeks answer from the journal alone and do not read
    /// it again until its stamp changes (a rebuild, a writer's upkeep, any rewrite), or, when it
    /// describes more than the journal holds (`journal_shorter`), until the journal's content
    /// reaches its checkpoint `until`. Checking costs an `open` and a read of the header.
    Unusable { seen: Stamp, until: Option<u64> },
}

impl IndexState {
    fn unusable(fault: IndexFault, seen: Stamp) -> IndexState {
        match fault {
            // Reading may succeed next time: read again.
            IndexFault::Io(_) | IndexFault::Missing => IndexState::Unknown,
            IndexFault::JournalShorter { checkpoint, .. } => IndexState::Unusable {
                seen,
                until: Some(checkpoint),
            },
            _ => IndexState::Unusable { seen, until: None },
        }
    }
}

/// What a seek looks for (INDEX.md 8).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Seek {
    /// Event `n`.
    Index(u64),
    /// The first event at or after this time.
    Time(i64),
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("path", &self.path).finish()
    }
}

impl Reader {
    /// Opens a journal read-only. Fails with [`Error::NotAJournal`] if the file is not a regular file
    /// or its header is not structurally valid.
    pub fn open(path: impl AsRef<Path>) -> Result<Reader> {
        let path = path.as_ref();
        let (file, len) = open_regular(path)?;
        check_header(HEADER_LEN, len).map_err(|f| Error::not_a_journal(path, f.to_string()))?;
        // Map the content as the header describes it now, and headroom only if a writer is live.
        let mut wo = [0u8; 8];
        file.read_exact_at(&mut wo, 0)
            .map_err(|e| Error::io(path, "read header", e))?;
        let content = u64::from_le_bytes(wo).min(len);
        let live = sys::writer_present(&file).map_err(|e| Error::io(path, "lock query", e))?;
        let reserve = if live {
            content + content.max(READER_HEADROOM)
        } else {
            content
        };
        let map = ReadMap::new(file, len, reserve).map_err(|e| Error::io(path, "mmap", e))?;
        let obs = map.observe().map_err(|(op, e)| Error::io(path, op, e))?;
        check_header(obs.write_offset, len)
            .map_err(|f| Error::not_a_journal(path, f.to_string()))?;
        Ok(Reader {
            start_timestamp: map.start_timestamp(),
            map,
            path: path.to_path_buf(),
            verify: true,
            index: Mutex::new(IndexState::Unknown),
            wake: crate::wake::WakeSlot::new(crate::wake::wake_path(path)),
            #[cfg(feature = "test-hooks")]
            index_loads: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Where a scan for `want` may start (INDEX.md 8): a position the journal's index gives and the
    /// journal confirms (INDEX.md 6), else the first event. Loads the index on first use, and
    /// rereads it (only what a writer added) when the target lies past its checkpoint. An index
    /// found unusable is not read again until its file changes ([`IndexState::Unusable`]). Whatever
    /// is wrong with the index, the answer is a position from which the scan finds exactly what a
    /// scan from the first event finds (up to damage below the checkpoint, INDEX.md 10).
    pub(crate) fn index_start(&self, want: Seek) -> Position {
        self.index_start_trusting(want).0
    }

    /// [`Reader::index_start`], with the end of the content a scan from the position may step over
    /// by entry headers alone ([`Index::trusted_end`]; [`HEADER_LEN`] when nothing is trusted).
    pub(crate) fn index_start_trusting(&self, want: Seek) -> (Position, u64) {
        let mut guard = match self.index.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let past = |idx: &Index| match want {
            Seek::Index(n) => n > idx.checkpoint().index,
            Seek::Time(t) => t > idx.checkpoint_max_timestamp(),
        };
        match &mut *guard {
            IndexState::Unknown => *guard = self.load_index(),
            IndexState::Unusable { seen, until } => {
                // Read the file again only if it changed, or if the journal reached the
                // checkpoint it was shorter than (INDEX.md 6.1 check 2).
                let grown = until.is_some_and(|c| {
                    self.observe()
                        .is_ok_and(|o| o.write_offset.min(o.file_len) >= c)
                });
                if grown || Stamp::now(self).as_ref() != Some(seen) {
                    *guard = self.load_index();
                }
            }
            IndexState::Held { idx, seen } if past(idx) => {
                // A writer may have moved the checkpoint (INDEX.md 9.3). A fault rereading it
                // keeps the index held: it is checked against the journal below anyway; the file
                // no longer holds what is held.
                let mut now = None;
                *seen = match idx.refresh_noting(self, &mut now) {
                    Ok(_) => now,
                    Err(_) => None,
                };
            }
            IndexState::Held { .. } => {}
        }
        let IndexState::Held { idx, seen } = &*guard else {
            return (START, HEADER_LEN);
        };
        let found = match want {
            Seek::Index(n) => idx.seek_index(self, n),
            Seek::Time(t) => idx.seek_time(self, t),
        };
        match found {
            Ok(p) => (p, idx.trusted_end(p)),
            Err(_) => {
                // What loading the file again would give, without reading it: while the file is
                // the one the index was read from, the same index, usable if it still passes the
                // checks of INDEX.md 6.1 (a record that failed 6.2 fails only the lookups that
                // start from it); otherwise the file is read at the next seek.
                let now = Stamp::now(self);
                if seen.is_none() || now != *seen {
                    *guard = IndexState::Unknown;
                } else if let (Err(fault), Some(seen)) = (idx.validate(self), now) {
                    *guard = IndexState::unusable(fault, seen);
                }
                (START, HEADER_LEN)
            }
        }
    }

    /// Reads and validates the journal's index file (INDEX.md 6.1), noting what was seen of it.
    fn load_index(&self) -> IndexState {
        let mut seen = None;
        let loaded = Index::load_noting(self, &mut seen);
        #[cfg(feature = "test-hooks")]
        if seen.is_some() {
            self.index_loads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        match (loaded, seen) {
            (Ok(idx), seen) => IndexState::Held { idx, seen },
            (Err(fault), Some(seen)) => IndexState::unusable(fault, seen),
            (Err(_), None) => IndexState::Unknown,
        }
    }

    /// Test hook (feature `test-hooks`): how many times this reader has read its index file to load
    /// it (reading only its header to see whether it changed does not count).
    #[cfg(feature = "test-hooks")]
    pub fn index_loads(&self) -> u64 {
        self.index_loads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Opens (creating it at position 0 if missing) the named cursor `name` of this journal and
    /// takes ownership of it (spec/CURSOR.md; the errors are those of
    /// [`NamedCursor::open`](crate::NamedCursor::open)). Resume with
    /// [`NamedCursor::resume`](crate::NamedCursor::resume), or
    /// `self.iter_from_index(cursor.position())`.
    pub fn cursor(&self, name: &str) -> Result<crate::NamedCursor> {
        crate::NamedCursor::open_for_journal(&self.path, self.start_timestamp, name)
    }

    /// Whether iteration checks each entry's CRC and padding. On by default; turn it off only for
    /// trusted hot replay of journals already verified.
    pub fn set_verify_checksums(&mut self, on: bool) {
        self.verify = on;
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The header and file length as they are now.
    pub fn header(&self) -> Result<HeaderInfo> {
        let obs = self.observe()?;
        Ok(HeaderInfo {
            write_offset: obs.write_offset,
            event_count: self.map.event_count(),
            start_timestamp: self.map.start_timestamp(),
            file_len: self
                .map
                .file()
                .metadata()
                .map_err(|e| self.io("stat", e))?
                .len(),
        })
    }

    /// Checks that the journal is still the one this reader opened and that its path still names
    /// it: [`Error::Replaced`] if the header's `start_timestamp` changed, or if the path was removed,
    /// renamed or now names another file (device and inode differ from the open file's).
    ///
    /// Costs two system calls (`stat` of the path, `fstat` of the open file): for a follower to
    /// call from time to time off its read path, e.g. while a [`Tailer`](crate::Tailer) idles. The
    /// read path itself notices a rewritten journal without it (FORMAT.md 10).
    pub fn check_replaced(&self) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        self.check_identity()?;
        let ours = self.map.file().metadata().map_err(|e| self.io("stat", e))?;
        match std::fs::metadata(&self.path) {
            Ok(now) if (now.dev(), now.ino()) == (ours.dev(), ours.ino()) => Ok(()),
            Ok(_) => Err(self.replaced("the path now names another file".into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(self.replaced("the path was removed or renamed".into()))
            }
            Err(e) => Err(self.io("stat", e)),
        }
    }

    /// Whether a writer currently holds the journal's lock (FORMAT.md 10).
    pub fn writer_present(&self) -> Result<bool> {
        sys::writer_present(self.map.file()).map_err(|e| self.io("lock query", e))
    }

    fn io(&self, op: &'static str, e: std::io::Error) -> Error {
        Error::io(&self.path, op, e)
    }

    /// One blocking round of a tailer that saw `write_offset` at `seen` (FORMAT.md 15.3): sleeps
    /// until the writer wakes it, `write_offset` moves, `deadline`, or a bounded timeout. Returns
    /// `Ok(false)` at once when there is no usable wake-up file (the caller backs off instead).
    pub(crate) fn sleep_past(
        &self,
        seen: u64,
        deadline: Option<std::time::Instant>,
    ) -> Result<bool> {
        self.wake
            .sleep(deadline, || Ok(self.observe()?.write_offset != seen))
    }

    /// Test hook (feature `test-hooks`): the longest sleep of a blocking tailer of this reader
    /// when the writer's barrier is in place (FORMAT.md 15.4; 100 ms by default). A long one makes
    /// a lost wake-up visible as a hang.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn set_wake_recheck(&self, d: std::time::Duration) {
        self.wake.set_recheck(d);
    }

    pub(crate) fn observe(&self) -> Result<sys::Observed> {
        let obs = self.map.observe().map_err(|(op, e)| self.io(op, e))?;
        if self.map.shrunk() {
            return Err(self.shrunk_error(obs));
        }
        // One more load from the header's cache line: the journal is still the one opened.
        self.check_identity()?;
        Ok(obs)
    }

    /// [`Error::Replaced`] if the header's `start_timestamp` is no longer the one seen at open.
    #[inline]
    fn check_identity(&self) -> Result<()> {
        let now = self.map.start_timestamp();
        if now == self.start_timestamp {
            return Ok(());
        }
        Err(self.replaced(format!(
            "start_timestamp changed from {} to {now}",
            self.start_timestamp
        )))
    }

    pub(crate) fn replaced(&self, reason: String) -> Error {
        Error::Replaced {
            path: self.path.clone(),
            reason,
        }
    }

    /// The file's length now (`fstat`).
    pub(crate) fn file_len_now(&self) -> Result<u64> {
        Ok(self
            .map
            .file()
            .metadata()
            .map_err(|e| self.io("stat", e))?
            .len())
    }

    pub(crate) fn map(&self) -> &ReadMap {
        &self.map
    }

    pub(crate) fn verifies(&self) -> bool {
        self.verify
    }

    fn shrunk_error(&self, obs: sys::Observed) -> Error {
        let file_len = self.map.file().metadata().map_or(0, |m| m.len());
        Error::FileShrunk {
            path: self.path.clone(),
            write_offset: obs.write_offset,
            file_len,
        }
    }

    /// The error for an invalid entry at `offset`, found by a walk that saw the file `seen_len`
    /// bytes long: [`Error::Replaced`] if the journal is no longer the one opened,
    /// [`Error::FileShrunk`] if the file was truncated under the walk (the bytes read as zeros, or
    /// the file is now shorter than it was), else [`Error::Damaged`]. Cold: once per walk at most.
    #[cold]
    pub(crate) fn damaged(&self, offset: u64, reason: DamageReason, seen_len: u64) -> Error {
        let obs = sys::Observed {
            write_offset: offset,
            file_len: 0,
        };
        if self.map.shrunk() {
            return self.shrunk_error(obs);
        }
        if let Err(e) = self.check_identity() {
            return e;
        }
        match self.file_len_now() {
            Ok(len) if len < seen_len => return self.shrunk_error(obs),
            Ok(_) => {}
            Err(e) => return e,
        }
        Error::Damaged {
            path: self.path.clone(),
            offset,
            reason,
        }
    }

    /// Walks the whole content, checking every entry (CRC included, whatever the verify setting),
    /// and reports the verdict (FORMAT.md 6.2).
    pub fn verify(&self) -> Result<Report> {
        let obs = self.observe()?;
        let end = obs.write_offset.min(obs.file_len);
        let s = scan(self.map.body(end), obs.write_offset, obs.file_len, true);
        if self.map.shrunk() {
            // The file was cut under the walk: what it read as zeros was never the journal's.
            return Err(self.shrunk_error(obs));
        }
        Ok(Report {
            events: s.events,
            end: s.end,
            write_offset: obs.write_offset,
            file_len: obs.file_len,
            event_count_hint: self.map.event_count(),
            start_timestamp: self.map.start_timestamp(),
            damage: s.damage,
        })
    }

    /// The published content as it is now: the file's bytes from `HEADER_LEN` up to
    /// `min(write_offset, file_len)`, borrowed from the mapping (no copy). The entry at file offset
    /// `o` starts at `body[o - HEADER_LEN]` (FORMAT.md 4). Nothing here is checked: find entries
    /// by iterating, which validates them.
    pub fn body(&self) -> Result<&[u8]> {
        let obs = self.observe()?;
        Ok(self.map.body(obs.write_offset.min(obs.file_len)))
    }

    /// Iterates over the events published when this is called, from the first. At a damaged entry
    /// it yields one [`Error::Damaged`] and ends; if the journal cannot be read (truncated or
    /// replaced under the reader, FORMAT.md 10) it yields that error once and ends.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_at(HEADER_LEN, 0)
    }

    pub(crate) fn iter_at(&self, pos: u64, index: u64) -> Iter<'_> {
        let (wo, len, body, error) = match self.observe() {
            Ok(obs) => {
                let end = obs.write_offset.min(obs.file_len);
                (obs.write_offset, obs.file_len, self.map.body(end), None)
            }
            // Yielded by the first `next`, which sees nothing to read before it.
            Err(e) => (HEADER_LEN, HEADER_LEN, &[][..], Some(e)),
        };
        Iter {
            reader: self,
            body,
            write_offset: wo,
            file_len: len,
            cursor: Cursor { pos, index },
            done: false,
            error,
        }
    }

    /// An iterator starting at event `index` (or at the end, if there are fewer events).
    ///
    /// With the journal's index (`NAME.idx`, spec/INDEX.md) this is a binary search and a walk of
    /// at most one index interval; without it (or with an index that is stale, damaged or
    /// another journal's, which is detected) a walk from the first event. Either way the answer is
    /// what the walk from the first event gives, except that damage below the index's checkpoint
    /// before `index` is not seen (INDEX.md 10; [`Reader::verify`] sees it).
    pub fn iter_from_index(&self, index: u64) -> Result<Iter<'_>> {
        let (start, trusted) = self.index_start_trusting(Seek::Index(index));
        self.walk_to_index_trusting(start, trusted, index)
    }

    /// Walks from `start` to event `index` (or the end of the content), checking every entry.
    pub(crate) fn walk_to_index(&self, start: Position, index: u64) -> Result<Iter<'_>> {
        self.walk_to_index_trusting(start, HEADER_LEN, index)
    }

    /// Walks from `start` to event `index` (or the end of the content), stepping over the entries
    /// that end at or below `trusted` by their headers alone (INDEX.md 8).
    pub(crate) fn walk_to_index_trusting(
        &self,
        start: Position,
        trusted: u64,
        index: u64,
    ) -> Result<Iter<'_>> {
        let mut it = self.iter_at(start.offset, start.index);
        while it.cursor.index < index {
            match it.advance(trusted) {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => break,
            }
        }
        Ok(it)
    }

    /// An iterator starting at the first event, in file order, whose timestamp is `>= ts`
    /// (FORMAT.md 6.4), or at the end if there is none.
    ///
    /// With the journal's index, a binary search on the records' running maximum timestamps and a
    /// walk of at most one interval (INDEX.md 8); without a usable one, a walk from the first
    /// event. The answer is the same, as for [`Reader::iter_from_index`].
    pub fn iter_from_time(&self, ts: i64) -> Result<Iter<'_>> {
        let (start, trusted) = self.index_start_trusting(Seek::Time(ts));
        self.walk_to_time_trusting(start, trusted, ts)
    }

    /// An iterator from the furthest event the journal's index vouches for: its checkpoint
    /// (INDEX.md 3), checked against the journal as INDEX.md 6.1 says; from the first event
    /// without a usable index. [`Iter::index`] and [`Iter::offset`] say where it starts.
    ///
    /// Walking it to its end counts the content (its start index plus the events it yields before
    /// it ends or yields an error) and finds where the content ends, in O(events past the
    /// checkpoint) with a current index and O(n) without one. As for
    /// [`Reader::iter_from_index`], damage below the checkpoint is not seen (INDEX.md 10).
    pub fn iter_from_checkpoint(&self) -> Iter<'_> {
        let start = self.index_start(Seek::Index(u64::MAX));
        self.iter_at(start.offset, start.index)
    }

    /// Walks from `start` to the first event whose timestamp is `>= ts` (or the end), checking
    /// every entry.
    pub(crate) fn walk_to_time(&self, start: Position, ts: i64) -> Result<Iter<'_>> {
        self.walk_to_time_trusting(start, HEADER_LEN, ts)
    }

    /// Walks from `start` to the first event whose timestamp is `>= ts` (or the end), stepping over
    /// the entries that end at or below `trusted` by their headers alone (INDEX.md 8).
    pub(crate) fn walk_to_time_trusting(
        &self,
        start: Position,
        trusted: u64,
        ts: i64,
    ) -> Result<Iter<'_>> {
        let mut it = self.iter_at(start.offset, start.index);
        loop {
            let (pos, index) = (it.cursor.pos, it.cursor.index);
            match it.advance(trusted) {
                Some(Ok(e)) if e.timestamp >= ts => return Ok(self.iter_at(pos, index)),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(it),
            }
        }
    }
}

/// Opens `path` read-only without blocking and refuses anything but a regular file, with its
/// length. `O_NONBLOCK` keeps `open(2)` of a named pipe with no writer from waiting forever; the
/// flag has no effect on a regular file's reads or mapping.
pub(crate) fn open_regular(path: &Path) -> Result<(File, u64)> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::io(path, "open", e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, "stat", e))?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_char_device() {
            "a character device"
        } else if kind.is_block_device() {
            "a block device"
        } else {
            "not a file"
        };
        return Err(Error::not_a_journal(
            path,
            format!("not a regular file ({what})"),
        ));
    }
    Ok((file, meta.len()))
}

/// Iterator over a snapshot of a journal's content; see [`Reader::iter`].
pub struct Iter<'r> {
    reader: &'r Reader,
    body: &'r [u8],
    write_offset: u64,
    file_len: u64,
    cursor: Cursor,
    done: bool,
    /// An error found when the iterator was made, yielded once.
    error: Option<Error>,
}

impl<'r> Iter<'r> {
    /// Offset of the next entry.
    pub fn offset(&self) -> u64 {
        self.cursor.pos
    }

    /// Index of the next event.
    pub fn index(&self) -> u64 {
        self.cursor.index
    }

    pub(crate) fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// [`Iterator::next`] for a seek's walk: an entry that ends at or below `trusted` (content an
    /// index vouches for, INDEX.md 8) is stepped over by its header alone, with the checks of
    /// FORMAT.md 6.1 that bound it (1 to 5) but not its CRC or padding, so the walk reads one cache
    /// line of it instead of all of it. Any other entry, or one whose header does not pass, is
    /// checked as `next` checks it.
    #[inline]
    fn advance(&mut self, trusted: u64) -> Option<Result<Event<'r>>> {
        if self.cursor.pos < trusted && !self.done && self.cursor.pos < self.write_offset {
            let mut c = self.cursor;
            if let Ok(ev) = c.step(self.body, self.write_offset, self.file_len, false) {
                if ev.end() <= trusted {
                    self.cursor = c;
                    return Some(Ok(ev));
                }
            }
        }
        self.next()
    }
}

impl<'r> Iterator for Iter<'r> {
    type Item = Result<Event<'r>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.cursor.pos >= self.write_offset {
            return self.error.take().map(Err);
        }
        match self.cursor.step(
            self.body,
            self.write_offset,
            self.file_len,
            self.reader.verify,
        ) {
            Ok(ev) => Some(Ok(ev)),
            Err(reason) => {
                self.done = true;
                Some(Err(self.reader.damaged(
                    self.cursor.pos,
                    reason,
                    self.file_len,
                )))
            }
        }
    }
}

impl std::iter::FusedIterator for Iter<'_> {}
