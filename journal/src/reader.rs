//! Zero-copy readers: open read-only (O(1)), iterate, verify, seek by index or time.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::{check_entry, check_header, DamageReason, HEADER_LEN};
use crate::recovery::{scan, Damage};
use crate::sys::{self, ReadMap};
use crate::tail::Tailer;

/// The least address space a reader of a journal with a live writer maps past the content at open,
/// so that it follows the first appends without growing its view. A reader of a journal no writer
/// holds maps only the content. Either view grows geometrically when the content passes it
/// ([`ReadMap`]).
const READER_HEADROOM: u64 = 64 << 20;

/// One event, borrowed from the mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event<'a> {
    /// Position in the journal, from 0.
    pub index: u64,
    /// Offset of the entry in the file.
    pub offset: u64,
    /// Nanoseconds since the Unix epoch.
    pub timestamp: i64,
    /// The payload, borrowed from the file's mapping (no copy).
    pub payload: &'a [u8],
    /// The whole entry as stored: header, payload and padding (FORMAT.md 4).
    pub entry: &'a [u8],
}

impl Event<'_> {
    /// The offset just past this entry (where the next one starts).
    pub fn end(&self) -> u64 {
        self.offset + self.entry.len() as u64
    }

    /// The entry's stored CRC-32 (FORMAT.md 5).
    pub fn checksum(&self) -> u32 {
        crate::format::stored_checksum(self.entry)
    }
}

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
pub struct Reader {
    map: ReadMap,
    path: PathBuf,
    verify: bool,
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
        let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
        let meta = file.metadata().map_err(|e| Error::io(path, "stat", e))?;
        if !meta.is_file() {
            return Err(Error::not_a_journal(path, "not a regular file".into()));
        }
        let len = meta.len();
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
            map,
            path: path.to_path_buf(),
            verify: true,
        })
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

    /// Whether a writer currently holds the journal's lock (FORMAT.md 10).
    pub fn writer_present(&self) -> Result<bool> {
        sys::writer_present(self.map.file()).map_err(|e| self.io("lock query", e))
    }

    fn io(&self, op: &'static str, e: std::io::Error) -> Error {
        Error::io(&self.path, op, e)
    }

    pub(crate) fn observe(&self) -> Result<sys::Observed> {
        let obs = self.map.observe().map_err(|(op, e)| self.io(op, e))?;
        if self.map.shrunk() {
            return Err(self.shrunk_error(obs));
        }
        Ok(obs)
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

    /// The error for an invalid entry at `offset`: [`Error::FileShrunk`] if the file was truncated
    /// under the mapping (the bytes read as zeros), else [`Error::Damaged`].
    pub(crate) fn damaged(&self, offset: u64, reason: DamageReason) -> Error {
        if self.map.shrunk() {
            let obs = sys::Observed {
                write_offset: offset,
                file_len: 0,
            };
            return self.shrunk_error(obs);
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

    /// Iterates over the events published when this is called, from the first. At a damaged entry
    /// it yields one [`Error::Damaged`] and ends.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_at(HEADER_LEN, 0)
    }

    fn iter_at(&self, pos: u64, index: u64) -> Iter<'_> {
        let (wo, len, body) = match self.observe() {
            Ok(obs) => {
                let end = obs.write_offset.min(obs.file_len);
                (obs.write_offset, obs.file_len, self.map.body(end))
            }
            Err(_) => (HEADER_LEN, HEADER_LEN, &[][..]),
        };
        Iter {
            reader: self,
            body,
            write_offset: wo,
            file_len: len,
            cursor: Cursor { pos, index },
            done: false,
        }
    }

    /// An iterator starting at event `index` (or at the end, if there are fewer events). Walks the
    /// entries before it: O(index) hops, each checked as iteration would.
    pub fn iter_from_index(&self, index: u64) -> Result<Iter<'_>> {
        let mut it = self.iter();
        while it.cursor.index < index {
            match it.next() {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => break,
            }
        }
        Ok(it)
    }

    /// An iterator starting at the first event, in file order, whose timestamp is `>= ts`
    /// (FORMAT.md 6.4), or at the end if there is none. O(events before it).
    pub fn iter_from_time(&self, ts: i64) -> Result<Iter<'_>> {
        let mut it = self.iter();
        loop {
            let (pos, index) = (it.cursor.pos, it.cursor.index);
            match it.next() {
                Some(Ok(e)) if e.timestamp >= ts => return Ok(self.iter_at(pos, index)),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(it),
            }
        }
    }

    /// A live tailer starting at the first event: it follows appends made after this call.
    pub fn tail(&self) -> Tailer<'_> {
        Tailer::new(self, HEADER_LEN, 0)
    }

    /// A live tailer starting at the end of the journal as published now.
    pub fn tail_from_end(&self) -> Result<Tailer<'_>> {
        let it = self.iter();
        let (mut pos, mut index) = (it.cursor.pos, it.cursor.index);
        for e in it {
            let e = e?;
            pos = e.end();
            index = e.index + 1;
        }
        Ok(Tailer::new(self, pos, index))
    }

    /// A live tailer that starts where `iter` stands.
    pub fn tail_from<'r>(&'r self, iter: &Iter<'r>) -> Tailer<'r> {
        Tailer::new(self, iter.cursor.pos, iter.cursor.index)
    }
}

/// A position in the content: the next entry's offset and index.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cursor {
    pub pos: u64,
    pub index: u64,
}

impl Cursor {
    /// Checks the entry at the cursor against `body` (FORMAT.md 6.1) and, if valid, returns it as
    /// an event and moves past it.
    #[inline]
    pub(crate) fn step<'a>(
        &mut self,
        body: &'a [u8],
        write_offset: u64,
        file_len: u64,
        verify: bool,
    ) -> Result<Event<'a>, DamageReason> {
        let e = check_entry(body, self.pos, write_offset, file_len, verify)?;
        let ev = Event {
            index: self.index,
            offset: self.pos,
            timestamp: e.timestamp,
            payload: e.payload,
            entry: e.bytes,
        };
        self.pos += e.len;
        self.index += 1;
        Ok(ev)
    }
}

/// Iterator over a snapshot of a journal's content; see [`Reader::iter`].
pub struct Iter<'r> {
    reader: &'r Reader,
    body: &'r [u8],
    write_offset: u64,
    file_len: u64,
    cursor: Cursor,
    done: bool,
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
}

impl<'r> Iterator for Iter<'r> {
    type Item = Result<Event<'r>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.cursor.pos >= self.write_offset {
            return None;
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
                Some(Err(self.reader.damaged(self.cursor.pos, reason)))
            }
        }
    }
}

impl std::iter::FusedIterator for Iter<'_> {}
