//! The sparse index kept beside a journal (spec/INDEX.md): encoding, decoding, building, extending,
//! validating against a journal, and O(log n) seeks by event index and by time.
//!
//! The index is a cache, never the truth (INDEX.md 1): whatever is wrong with it (missing, stale,
//! truncated, damaged, another journal's), the helpers here answer from the journal alone, and they
//! give exactly what [`Reader::iter_from_index`] and [`Reader::iter_from_time`] give.
//!
//! ```
//! use journal::{index, Reader, Writer};
//!
//! # fn main() -> journal::Result<()> {
//! # let dir = std::env::temp_dir().join(format!("journal-idx-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("quotes.journal");
//! # let _ = std::fs::remove_file(&path);
//! let mut w = Writer::create(&path)?;
//! for i in 0..1000 {
//!     w.append(1_700_000_000_000_000_000 + i, b"tick")?;
//! }
//! w.close()?;
//! index::build(&path)?; // writes quotes.journal.idx
//!
//! let r = Reader::open(&path)?;
//! let idx = index::Index::load(&r).ok(); // None: answer from the journal alone
//! let first = index::iter_from_time(&r, idx.as_ref(), 1_700_000_000_000_000_500)?
//!     .next()
//!     .unwrap()?;
//! assert_eq!(first.index, 500);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use zerocopy::byteorder::little_endian::{I64, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::cursor::Cursor;
use crate::error::{Error, Result};
use crate::format::{check_entry, stored_checksum, ENTRY_HEADER_LEN, HEADER_LEN, MAX_WRITE_OFFSET};
use crate::reader::{Iter, Reader};
use crate::sys::HugeVec;

/// The index file's magic (INDEX.md 3): the ASCII bytes `JRNL.IDX`.
pub const INDEX_MAGIC: [u8; 8] = *b"JRNL.IDX";
/// The index format version this library reads and writes (INDEX.md 3).
pub const INDEX_VERSION: u32 = 1;
/// Length of the index header (INDEX.md 3).
pub const INDEX_HEADER_LEN: u64 = 96;
/// Length of one index record (INDEX.md 4).
pub const INDEX_RECORD_LEN: u64 = 32;
/// Default byte interval between records (INDEX.md 5).
pub const DEFAULT_INTERVAL_BYTES: u64 = 4096;
/// Default event interval between records (INDEX.md 5).
pub const DEFAULT_INTERVAL_EVENTS: u64 = 256;
/// Smallest `interval_bytes` (INDEX.md 3): one smallest entry.
pub const MIN_INTERVAL_BYTES: u64 = ENTRY_HEADER_LEN;
/// Largest `interval_bytes` and `interval_events` (INDEX.md 3).
pub const MAX_INTERVAL: u64 = MAX_WRITE_OFFSET;

/// The index header as stored (INDEX.md 3).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug, Default)]
#[repr(C)]
struct RawHeader {
    magic: [u8; 8],
    version: U32,
    flags: U32,
    interval_bytes: U64,
    interval_events: U64,
    journal_start_timestamp: I64,
    first_entry_checksum: U32,
    last_entry_checksum: U32,
    last_entry_offset: U64,
    checkpoint: U64,
    checkpoint_events: U64,
    checkpoint_max_timestamp: I64,
    record_count: U64,
    reserved: U32,
    header_checksum: U32,
}

/// An index record as stored (INDEX.md 4).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug, Default)]
#[repr(C)]
struct RawRecord {
    event_index: U64,
    offset: U64,
    max_timestamp: I64,
    entry_checksum: U32,
    record_checksum: U32,
}

const _: () = assert!(std::mem::size_of::<RawHeader>() == INDEX_HEADER_LEN as usize);
const _: () = assert!(std::mem::size_of::<RawRecord>() == INDEX_RECORD_LEN as usize);

/// One index record (INDEX.md 4): an entry of the journal and the running maximum timestamp of the
/// journal's events up to and including it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// The entry's event index.
    pub event_index: u64,
    /// The entry's offset in the journal.
    pub offset: u64,
    /// The largest timestamp of events `0..=event_index`.
    pub max_timestamp: i64,
    /// The entry's stored CRC-32 (FORMAT.md 5).
    pub entry_checksum: u32,
}

/// When records are taken (INDEX.md 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Intervals {
    /// A record at least every this many journal bytes.
    pub bytes: u64,
    /// A record at least every this many events.
    pub events: u64,
}

impl Default for Intervals {
    fn default() -> Self {
        Intervals {
            bytes: DEFAULT_INTERVAL_BYTES,
            events: DEFAULT_INTERVAL_EVENTS,
        }
    }
}

impl Intervals {
    fn check(&self) -> std::result::Result<(), IndexFault> {
        if !(MIN_INTERVAL_BYTES..=MAX_INTERVAL).contains(&self.bytes) {
            return Err(IndexFault::BadHeader(format!(
                "interval_bytes {} is outside {MIN_INTERVAL_BYTES}..=2^48",
                self.bytes
            )));
        }
        if !(1..=MAX_INTERVAL).contains(&self.events) {
            return Err(IndexFault::BadHeader(format!(
                "interval_events {} is outside 1..=2^48",
                self.events
            )));
        }
        Ok(())
    }
}

/// Why an index cannot be used (INDEX.md 6 and 7). Every fault means the same thing to a reader:
/// answer from the journal alone.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IndexFault {
    /// There is no index file.
    Missing,
    /// Reading the index file failed.
    Io(String),
    /// The file ends inside the header or inside a record it counts (`len` bytes, `need` needed).
    Truncated {
        /// The file's length.
        len: u64,
        /// The length the header requires.
        need: u64,
    },
    /// The first 8 bytes are not `JRNL.IDX`.
    BadMagic,
    /// The version is not 1.
    UnsupportedVersion(u32),
    /// The header's CRC-32 does not match.
    HeaderChecksum,
    /// A header field breaks a rule of INDEX.md 3.
    BadHeader(String),
    /// A record's CRC-32 does not match.
    RecordChecksum {
        /// The record's position in the index, from 0.
        record: u64,
    },
    /// A record breaks a rule of INDEX.md 4.
    BadRecord {
        /// The record's position in the index, from 0.
        record: u64,
        /// Which rule, for a person.
        why: String,
    },
    /// The index describes another journal (INDEX.md 6.1).
    OtherJournal(String),
    /// The journal is shorter than the index's checkpoint: it was cut back, or is another file.
    JournalShorter {
        /// The index's checkpoint.
        checkpoint: u64,
        /// `min(write_offset, file length)` of the journal.
        available: u64,
    },
    /// The journal's entry where a record or the checkpoint points does not match it (INDEX.md 6.2).
    EntryMismatch {
        /// The journal offset.
        offset: u64,
        /// What did not match, for a person.
        why: String,
    },
    /// A full check found the journal's content ending below the checkpoint (INDEX.md 7).
    JournalDamaged {
        /// Where the content ends.
        offset: u64,
    },
    /// A full check found a record that differs from the one a rebuild writes (INDEX.md 7).
    RecordMismatch {
        /// The record's position in the index, from 0.
        record: u64,
    },
    /// A full check found a header field that differs from what a rebuild writes (INDEX.md 7).
    HeaderMismatch(&'static str),
}

impl IndexFault {
    /// The fault's stable name, as in spec/vectors/index/expected.txt and the CLI's output.
    pub fn as_str(&self) -> &'static str {
        match self {
            IndexFault::Missing => "missing",
            IndexFault::Io(_) => "io",
            IndexFault::Truncated { .. } => "truncated",
            IndexFault::BadMagic => "bad_magic",
            IndexFault::UnsupportedVersion(_) => "unsupported_version",
            IndexFault::HeaderChecksum => "header_checksum",
            IndexFault::BadHeader(_) => "bad_header",
            IndexFault::RecordChecksum { .. } => "record_checksum",
            IndexFault::BadRecord { .. } => "bad_record",
            IndexFault::OtherJournal(_) => "other_journal",
            IndexFault::JournalShorter { .. } => "journal_shorter",
            IndexFault::EntryMismatch { .. } => "entry_mismatch",
            IndexFault::JournalDamaged { .. } => "journal_damaged",
            IndexFault::RecordMismatch { .. } => "record_mismatch",
            IndexFault::HeaderMismatch(_) => "header_mismatch",
        }
    }
}

impl fmt::Display for IndexFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexFault::Missing => f.write_str("no index file"),
            IndexFault::Io(e) => write!(f, "cannot read the index: {e}"),
            IndexFault::Truncated { len, need } => {
                write!(f, "index file is {len} bytes, its header requires {need}")
            }
            IndexFault::BadMagic => f.write_str("not an index file (bad magic)"),
            IndexFault::UnsupportedVersion(v) => write!(f, "index version {v} is not supported"),
            IndexFault::HeaderChecksum => f.write_str("index header CRC-32 mismatch"),
            IndexFault::BadHeader(why) => write!(f, "bad index header: {why}"),
            IndexFault::RecordChecksum { record } => {
                write!(f, "index record {record}: CRC-32 mismatch")
            }
            IndexFault::BadRecord { record, why } => write!(f, "index record {record}: {why}"),
            IndexFault::OtherJournal(why) => {
                write!(f, "the index describes another journal: {why}")
            }
            IndexFault::JournalShorter {
                checkpoint,
                available,
            } => write!(
                f,
                "the journal holds {available} bytes, below the index's checkpoint {checkpoint}"
            ),
            IndexFault::EntryMismatch { offset, why } => {
                write!(
                    f,
                    "journal entry at offset {offset} does not match the index: {why}"
                )
            }
            IndexFault::JournalDamaged { offset } => write!(
                f,
                "the journal's content ends at offset {offset}, below the index's checkpoint \
                 (damage only a full check finds)"
            ),
            IndexFault::RecordMismatch { record } => {
                write!(f, "index record {record} differs from the journal's")
            }
            IndexFault::HeaderMismatch(field) => {
                write!(f, "index header field {field} differs from the journal's")
            }
        }
    }
}

impl std::error::Error for IndexFault {}

/// Where to start a scan: an event index and the offset of its entry (INDEX.md 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// The event index of the entry at `offset`.
    pub index: u64,
    /// The entry's offset in the journal.
    pub offset: u64,
}

/// The start of every journal: event 0 at offset 24.
pub const START: Position = Position {
    index: 0,
    offset: HEADER_LEN,
};

/// The verdict of [`check`] (INDEX.md 7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The index is exactly what a rebuild writes, and covers the journal's whole content.
    Current {
        /// Records in the index.
        records: u64,
        /// Events covered (all of the content).
        events: u64,
    },
    /// The index is exact up to its checkpoint, and the journal's content goes on past it.
    Stale {
        /// The index's checkpoint.
        checkpoint: u64,
        /// Where the journal's content ends.
        content_end: u64,
    },
    /// The index must not be used.
    Unusable(IndexFault),
}

/// A decoded index (INDEX.md 3, 4).
///
/// Memory is proportional to the records: 32 bytes per record, and about one byte per record more
/// for the levels that make a seek read a few cache lines instead of binary-searching them all.
/// Arrays of 512 KiB or more are kept in memory advised for transparent huge pages
/// (`sys::HugeVec`): a seek's reads at random places in them then rarely miss the TLB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Index {
    intervals: Intervals,
    journal_start_timestamp: i64,
    first_entry_checksum: u32,
    last_entry_checksum: u32,
    last_entry_offset: u64,
    checkpoint: u64,
    checkpoint_events: u64,
    checkpoint_max_timestamp: i64,
    records: HugeVec<Record>,
    /// The search levels over `records` (kept up to date by [`Index::index_records`]).
    search: Search,
}

/// Records under one key of the first search level: a search ends in a window of this many
/// consecutive records (512 bytes), among which is the record it answers with.
const LEAF: usize = 16;
/// Keys of a search level under one key of the level above (512 bytes of keys).
const FAN: usize = 64;

/// The keys of one field of the records, in levels over them (an index of the index, as
/// Chronicle's index2index): level 0 holds the field of every [`LEAF`]th record, level `l + 1`
/// every [`FAN`]th key of level `l`, and there is a level `l + 1` exactly when level `l` holds more
/// than `FAN` keys, so the top level holds at most `FAN`. Each level is a plain array of the field
/// (struct of arrays), so a search reads at most `FAN` keys (8 cache lines) per level and then
/// `LEAF` records (8 cache lines), about a dozen lines in all for millions of records where a
/// binary search over the records misses the cache and the TLB on most of its ~20 steps.
///
/// Memory: 8 bytes per `LEAF` records, plus 1/`FAN` of that per level above: under 0.6 bytes per
/// record for one ladder (records take 32), proportional to the records.
#[derive(Clone, Default)]
struct Ladder<T: Copy> {
    levels: Vec<HugeVec<T>>,
}

impl<T: Copy> Ladder<T> {
    /// Takes in the key of record `i`; records come in order from 0. O(1) amortised.
    fn push(&mut self, i: usize, key: T) {
        if !i.is_multiple_of(LEAF) {
            return;
        }
        if self.levels.is_empty() {
            self.levels.push(HugeVec::new());
        }
        let mut l = 0;
        loop {
            let j = self.levels[l].len();
            self.levels[l].push(key);
            if j == 0 || !j.is_multiple_of(FAN) {
                return;
            }
            if l + 1 == self.levels.len() {
                // Level l has just passed FAN keys (j == FAN): start the level above it.
                let first = self.levels[l][0];
                self.levels.push([first, key].into_iter().collect());
                return;
            }
            l += 1;
        }
    }

    /// `records.partition_point(|r| pred(key(r)))` for the records whose keys were pushed, when
    /// `pred` holds on a prefix of them and not after it (true of the index's event indexes and
    /// running maxima under `<=`/`<` a target: both never decrease, INDEX.md 4). Each level narrows
    /// the answer to the `FAN` keys (at the records, `LEAF` records) under one key of the level
    /// above, counted without branches: on monotone keys the count is the partition point.
    fn partition_point(
        &self,
        records: &[Record],
        key: impl Fn(&Record) -> T,
        pred: impl Fn(T) -> bool,
    ) -> usize {
        let Some(top) = self.levels.last() else {
            return 0;
        };
        let (mut lo, mut hi) = (0, top.len());
        for l in (0..self.levels.len()).rev() {
            // levels[l][lo] satisfies pred (it is the key the level above counted last), so
            // k > lo unless lo == 0.
            let k = lo + self.levels[l][lo..hi].iter().filter(|&&x| pred(x)).count();
            if k == 0 {
                return 0;
            }
            let (fan, below) = match l {
                0 => (LEAF, records.len()),
                _ => (FAN, self.levels[l - 1].len()),
            };
            lo = (k - 1) * fan;
            hi = (k * fan).min(below);
        }
        lo + records[lo..hi].iter().filter(|r| pred(key(r))).count()
    }
}

/// The search structure of an [`Index`]: a [`Ladder`] over the event indexes and one over the
/// running maximum timestamps, covering the first `covered` records. Built in O(records) when an
/// index is decoded or built, extended in O(new records) as it grows (a reader following a writer,
/// INDEX.md 9.3). A writer's upkeep of the index does not use it: it holds the last record only.
#[derive(Clone, Default)]
struct Search {
    covered: usize,
    events: Ladder<u64>,
    times: Ladder<i64>,
}

impl fmt::Debug for Search {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Search")
            .field("covered", &self.covered)
            .field("levels", &self.events.levels.len())
            .finish()
    }
}

/// The search structure is a function of the records, which [`Index`] compares itself.
impl PartialEq for Search {
    fn eq(&self, _: &Search) -> bool {
        true
    }
}

impl Eq for Search {}

/// The path of a journal's index: the journal's file name with `.idx` appended (INDEX.md 2).
pub fn index_path(journal: &Path) -> PathBuf {
    let mut name = journal.file_name().unwrap_or_default().to_os_string();
    name.push(".idx");
    journal.with_file_name(name)
}

/// What a reader saw of its index file when it read it: the file's identity (device, inode), length,
/// modification and change times, and its header bytes. A reader that found the index unusable
/// keeps the stamp and does not read the file again while the file shows the same stamp.
///
/// Every rewrite of the index changes the stamp: [`Index::write`] renames a new file over it (a
/// new inode), and a writer's upkeep rewrites the header in place (INDEX.md 9.3) with a new
/// checkpoint. The header bytes are part of the stamp so that a header read while a writer rewrote
/// it (torn) does not pass for the header the file holds once the write is done, whatever the
/// clock's granularity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    head: Vec<u8>,
}

impl Stamp {
    /// The stamp of the reader's index file now; `None` if it cannot be opened and its header read.
    pub(crate) fn now(reader: &Reader) -> Option<Stamp> {
        let mut seen = None;
        let _ = open_index_header(reader, &mut seen);
        seen
    }
}

/// Opens the reader's index file and reads its header bytes (at most [`INDEX_HEADER_LEN`]): the
/// file, its path, its length and the bytes. Notes the file's [`Stamp`] in `seen` once the header
/// bytes are read.
fn open_index_header(
    reader: &Reader,
    seen: &mut Option<Stamp>,
) -> std::result::Result<(File, PathBuf, u64, Vec<u8>), IndexFault> {
    use std::os::unix::fs::MetadataExt;
    let path = index_path(reader.path());
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(IndexFault::Missing),
        Err(e) => return Err(IndexFault::Io(format!("{}: {e}", path.display()))),
    };
    let io = |e: std::io::Error| IndexFault::Io(format!("{}: {e}", path.display()));
    let meta = file.metadata().map_err(io)?;
    let len = meta.len();
    let mut head = vec![0u8; INDEX_HEADER_LEN.min(len) as usize];
    file.read_exact(&mut head).map_err(io)?;
    *seen = Some(Stamp {
        dev: meta.dev(),
        ino: meta.ino(),
        len,
        mtime: (meta.mtime(), meta.mtime_nsec()),
        ctime: (meta.ctime(), meta.ctime_nsec()),
        head: head.clone(),
    });
    Ok((file, path, len, head))
}

fn crc(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

impl Index {
    /// The intervals the records were taken at.
    pub fn intervals(&self) -> Intervals {
        self.intervals
    }

    /// The checkpoint: the journal offset up to which the index describes the content (INDEX.md 3).
    pub fn checkpoint(&self) -> Position {
        Position {
            index: self.checkpoint_events,
            offset: self.checkpoint,
        }
    }

    /// The largest timestamp of the events below the checkpoint (`i64::MIN` if none).
    pub fn checkpoint_max_timestamp(&self) -> i64 {
        self.checkpoint_max_timestamp
    }

    /// The journal `start_timestamp` the index was built for.
    pub fn journal_start_timestamp(&self) -> i64 {
        self.journal_start_timestamp
    }

    /// The records, in order.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    fn empty(intervals: Intervals, journal_start_timestamp: i64) -> Index {
        Index {
            intervals,
            journal_start_timestamp,
            first_entry_checksum: 0,
            last_entry_checksum: 0,
            last_entry_offset: 0,
            checkpoint: HEADER_LEN,
            checkpoint_events: 0,
            checkpoint_max_timestamp: i64::MIN,
            records: HugeVec::new(),
            search: Search::default(),
        }
    }

    /// Brings the search structure up to date with the records: O(records added since the last
    /// call), or a rebuild if records were dropped.
    fn index_records(&mut self) {
        if self.search.covered > self.records.len() {
            self.search = Search::default();
        }
        let s = &mut self.search;
        for (i, r) in self.records.iter().enumerate().skip(s.covered) {
            s.events.push(i, r.event_index);
            s.times.push(i, r.max_timestamp);
        }
        s.covered = self.records.len();
    }

    /// `records.partition_point(|r| r.event_index <= n)`, through the search structure.
    fn records_at_or_before(&self, n: u64) -> usize {
        if self.search.covered != self.records.len() {
            return self.records.partition_point(|r| r.event_index <= n);
        }
        self.search
            .events
            .partition_point(&self.records, |r| r.event_index, |e| e <= n)
    }

    /// `records.partition_point(|r| r.max_timestamp < t)`, through the search structure.
    fn records_below_time(&self, t: i64) -> usize {
        if self.search.covered != self.records.len() {
            return self.records.partition_point(|r| r.max_timestamp < t);
        }
        self.search
            .times
            .partition_point(&self.records, |r| r.max_timestamp, |m| m < t)
    }

    /// Builds the index of a journal's whole content as it is now (INDEX.md 5), in memory.
    pub fn from_reader(reader: &Reader, intervals: Intervals) -> Result<Index> {
        intervals
            .check()
            .map_err(|f| Error::InvalidArgument(f.to_string()))?;
        let start = reader.header()?.start_timestamp;
        let mut idx = Index::empty(intervals, start);
        idx.scan(reader, u64::MAX)?;
        Ok(idx)
    }

    /// Moves the checkpoint forward over the journal's content appended since the index was built,
    /// adding the records a full build would add (INDEX.md 5). The index must have been validated
    /// against this journal ([`Index::validate`]). Returns the number of events added.
    pub fn extend(&mut self, reader: &Reader) -> Result<u64> {
        let before = self.checkpoint_events;
        self.scan(reader, u64::MAX)?;
        Ok(self.checkpoint_events - before)
    }

    /// Walks the content from the checkpoint up to `limit` (or the content's end), applying the
    /// record rule of INDEX.md 5. Every entry is checked in full (CRC included).
    fn scan(&mut self, reader: &Reader, limit: u64) -> Result<()> {
        let obs = reader.observe()?;
        let body = reader.map().body(obs.write_offset.min(obs.file_len));
        self.walk(body, obs.write_offset, obs.file_len, limit, true);
        self.index_records();
        if reader.map().shrunk() {
            // The file was cut under the walk (FORMAT.md 10): report it rather than index zeros.
            reader.observe()?;
        }
        Ok(())
    }

    /// The walk of [`Index::scan`] over a journal's bytes `[24, min(write_offset, file_len))`.
    /// `verify` off skips the CRC (for a writer walking what it wrote itself).
    fn walk(&mut self, body: &[u8], write_offset: u64, file_len: u64, limit: u64, verify: bool) {
        let mut cur = Cursor {
            pos: self.checkpoint,
            index: self.checkpoint_events,
        };
        while cur.pos < write_offset && cur.pos < limit {
            let Ok(ev) = cur.step(body, write_offset, file_len, verify) else {
                break;
            };
            let max = self.checkpoint_max_timestamp.max(ev.timestamp);
            let take = match self.records.last() {
                None => true,
                Some(last) => {
                    ev.offset - last.offset >= self.intervals.bytes
                        || ev.index - last.event_index >= self.intervals.events
                }
            };
            let crc = ev.checksum();
            if take {
                self.records.push(Record {
                    event_index: ev.index,
                    offset: ev.offset,
                    max_timestamp: max,
                    entry_checksum: crc,
                });
            }
            if ev.index == 0 {
                self.first_entry_checksum = crc;
            }
            self.last_entry_checksum = crc;
            self.last_entry_offset = ev.offset;
            self.checkpoint = ev.end();
            self.checkpoint_events = ev.index + 1;
            self.checkpoint_max_timestamp = max;
        }
    }

    /// Encodes the index file's bytes (INDEX.md 3, 4).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            (INDEX_HEADER_LEN + INDEX_RECORD_LEN * self.records.len() as u64) as usize,
        );
        out.extend_from_slice(&self.encode_header(self.records.len() as u64));
        for r in &self.records {
            out.extend_from_slice(&encode_record(r));
        }
        out
    }

    /// The header's 96 bytes with `record_count` records (INDEX.md 3).
    fn encode_header(&self, record_count: u64) -> [u8; INDEX_HEADER_LEN as usize] {
        let mut h = RawHeader {
            magic: INDEX_MAGIC,
            version: U32::new(INDEX_VERSION),
            flags: U32::new(0),
            interval_bytes: U64::new(self.intervals.bytes),
            interval_events: U64::new(self.intervals.events),
            journal_start_timestamp: I64::new(self.journal_start_timestamp),
            first_entry_checksum: U32::new(self.first_entry_checksum),
            last_entry_checksum: U32::new(self.last_entry_checksum),
            last_entry_offset: U64::new(self.last_entry_offset),
            checkpoint: U64::new(self.checkpoint),
            checkpoint_events: U64::new(self.checkpoint_events),
            checkpoint_max_timestamp: I64::new(self.checkpoint_max_timestamp),
            record_count: U64::new(record_count),
            reserved: U32::new(0),
            header_checksum: U32::new(0),
        };
        h.header_checksum = U32::new(crc(&h.as_bytes()[..92]));
        let mut out = [0u8; INDEX_HEADER_LEN as usize];
        out.copy_from_slice(h.as_bytes());
        out
    }

    /// Decodes and checks the header alone (INDEX.md 3), returning the index without records and
    /// the record count.
    fn decode_header(bytes: &[u8]) -> std::result::Result<(Index, u64), IndexFault> {
        let Ok((h, _)) = RawHeader::read_from_prefix(bytes) else {
            return Err(IndexFault::Truncated {
                len: bytes.len() as u64,
                need: INDEX_HEADER_LEN,
            });
        };
        if h.magic != INDEX_MAGIC {
            return Err(IndexFault::BadMagic);
        }
        if h.version.get() != INDEX_VERSION {
            return Err(IndexFault::UnsupportedVersion(h.version.get()));
        }
        if crc(&bytes[..92]) != h.header_checksum.get() {
            return Err(IndexFault::HeaderChecksum);
        }
        let bad = |why: String| Err(IndexFault::BadHeader(why));
        if h.flags.get() != 0 || h.reserved.get() != 0 {
            return bad("flags or reserved field is not zero".into());
        }
        let intervals = Intervals {
            bytes: h.interval_bytes.get(),
            events: h.interval_events.get(),
        };
        intervals.check()?;
        let checkpoint = h.checkpoint.get();
        let events = h.checkpoint_events.get();
        let count = h.record_count.get();
        let last_off = h.last_entry_offset.get();
        if !(HEADER_LEN..=MAX_WRITE_OFFSET).contains(&checkpoint) || checkpoint % 8 != 0 {
            return bad(format!(
                "checkpoint {checkpoint} is not a valid journal offset"
            ));
        }
        if events > (checkpoint - HEADER_LEN) / ENTRY_HEADER_LEN {
            return bad(format!(
                "{events} events cannot fit below checkpoint {checkpoint}"
            ));
        }
        if (events == 0) != (checkpoint == HEADER_LEN) {
            return bad("checkpoint_events and checkpoint disagree".into());
        }
        if events == 0 {
            if count != 0
                || last_off != 0
                || h.first_entry_checksum.get() != 0
                || h.last_entry_checksum.get() != 0
                || h.checkpoint_max_timestamp.get() != i64::MIN
            {
                return bad("an index of no events must have no records and zero fields".into());
            }
        } else {
            if count == 0 || count > events {
                return bad(format!("record_count {count} for {events} events"));
            }
            if last_off < HEADER_LEN
                || last_off % 8 != 0
                || last_off.saturating_add(ENTRY_HEADER_LEN) > checkpoint
            {
                return bad(format!(
                    "last_entry_offset {last_off} does not lie below checkpoint {checkpoint}"
                ));
            }
        }
        let idx = Index {
            intervals,
            journal_start_timestamp: h.journal_start_timestamp.get(),
            first_entry_checksum: h.first_entry_checksum.get(),
            last_entry_checksum: h.last_entry_checksum.get(),
            last_entry_offset: last_off,
            checkpoint,
            checkpoint_events: events,
            checkpoint_max_timestamp: h.checkpoint_max_timestamp.get(),
            records: HugeVec::new(),
            search: Search::default(),
        };
        Ok((idx, count))
    }

    /// Decodes an index file's bytes and checks every structural rule of INDEX.md 3 and 4 (no
    /// journal needed). Bytes after the last counted record are ignored.
    pub fn decode(bytes: &[u8]) -> std::result::Result<Index, IndexFault> {
        let (mut idx, count) = Index::decode_header(bytes)?;
        let need = INDEX_HEADER_LEN + count * INDEX_RECORD_LEN;
        if (bytes.len() as u64) < need {
            return Err(IndexFault::Truncated {
                len: bytes.len() as u64,
                need,
            });
        }
        idx.records = decode_records(&idx, &bytes[INDEX_HEADER_LEN as usize..need as usize])?;
        idx.index_records();
        Ok(idx)
    }

    /// Reads the journal's index file (`NAME.idx`, INDEX.md 2), decodes it and validates it against
    /// the journal (INDEX.md 6.1). The header is checked against the journal before the records are
    /// read, so memory is bounded by the journal's length.
    pub fn load(reader: &Reader) -> std::result::Result<Index, IndexFault> {
        Index::load_noting(reader, &mut None)
    }

    /// [`Index::load`], noting in `seen` the [`Stamp`] of the file read (left as it was if the file
    /// could not be opened and its header read).
    pub(crate) fn load_noting(
        reader: &Reader,
        seen: &mut Option<Stamp>,
    ) -> std::result::Result<Index, IndexFault> {
        let (mut file, path, len, head) = open_index_header(reader, seen)?;
        let io = |e: std::io::Error| IndexFault::Io(format!("{}: {e}", path.display()));
        let (mut idx, count) = Index::decode_header(&head)?;
        idx.validate_header(reader)?;
        let need = INDEX_HEADER_LEN + count * INDEX_RECORD_LEN;
        if len < need {
            return Err(IndexFault::Truncated { len, need });
        }
        let mut recs = vec![0u8; (need - INDEX_HEADER_LEN) as usize];
        file.read_exact(&mut recs).map_err(io)?;
        idx.records = decode_records(&idx, &recs)?;
        idx.index_records();
        Ok(idx)
    }

    /// The checkpoint and the largest timestamp below it, from the index file's header alone,
    /// validated against the journal (INDEX.md 6.1): O(1) whatever the index's size, for callers
    /// that only need where the index ends (set retention, SET.md 8). The records are not read.
    pub(crate) fn load_checkpoint(
        reader: &Reader,
    ) -> std::result::Result<(Position, i64), IndexFault> {
        let (_, _, _, head) = open_index_header(reader, &mut None)?;
        let (idx, _) = Index::decode_header(&head)?;
        idx.validate_header(reader)?;
        Ok((idx.checkpoint(), idx.checkpoint_max_timestamp))
    }

    /// Checks the index against a journal in O(1) (INDEX.md 6.1): same journal (start timestamp and
    /// first entry), checkpoint within the journal, and the entry ending at the checkpoint the one
    /// the index recorded.
    pub fn validate(&self, reader: &Reader) -> std::result::Result<(), IndexFault> {
        self.validate_header(reader)
    }

    fn validate_header(&self, reader: &Reader) -> std::result::Result<(), IndexFault> {
        let info = reader.header().map_err(|e| IndexFault::Io(e.to_string()))?;
        self.validate_with(
            info.start_timestamp,
            info.write_offset,
            info.file_len,
            &|off| self.entry_at(reader, off),
        )
    }

    /// The checks of INDEX.md 6.1, in order, against a journal whose header holds `start` and
    /// `write_offset`, `file_len` bytes long; `entry_at` checks one entry in full (FORMAT.md 6.1).
    fn validate_with(
        &self,
        start: i64,
        write_offset: u64,
        file_len: u64,
        entry_at: &dyn Fn(u64) -> std::result::Result<(i64, u32, u64), IndexFault>,
    ) -> std::result::Result<(), IndexFault> {
        if start != self.journal_start_timestamp {
            return Err(IndexFault::OtherJournal(format!(
                "journal start_timestamp {} is not the index's {}",
                start, self.journal_start_timestamp
            )));
        }
        let available = write_offset.min(file_len);
        if self.checkpoint > available {
            return Err(IndexFault::JournalShorter {
                checkpoint: self.checkpoint,
                available,
            });
        }
        if self.checkpoint_events == 0 {
            return Ok(());
        }
        let first = match entry_at(HEADER_LEN) {
            Ok(first) => first.1,
            Err(IndexFault::EntryMismatch { why, .. }) => {
                return Err(IndexFault::OtherJournal(format!("first {why}")))
            }
            Err(f) => return Err(f),
        };
        if first != self.first_entry_checksum {
            return Err(IndexFault::OtherJournal(format!(
                "first entry checksum {first:#010x} is not the index's {:#010x}",
                self.first_entry_checksum
            )));
        }
        let (ts, sum, end) = entry_at(self.last_entry_offset)?;
        let offset = self.last_entry_offset;
        if sum != self.last_entry_checksum {
            return Err(IndexFault::EntryMismatch {
                offset,
                why: "checksum differs from the checkpoint's last entry".into(),
            });
        }
        if end != self.checkpoint || ts > self.checkpoint_max_timestamp {
            return Err(IndexFault::EntryMismatch {
                offset,
                why: "last entry does not end at the checkpoint under its maximum timestamp".into(),
            });
        }
        Ok(())
    }

    /// Checks the journal's entry at `offset` in full (FORMAT.md 6.1), returning its timestamp,
    /// stored checksum and end.
    fn entry_at(
        &self,
        reader: &Reader,
        offset: u64,
    ) -> std::result::Result<(i64, u32, u64), IndexFault> {
        let obs = reader
            .observe()
            .map_err(|e| IndexFault::Io(e.to_string()))?;
        let body = reader.map().body(obs.write_offset.min(obs.file_len));
        match check_entry(body, offset, obs.write_offset, obs.file_len, true) {
            Ok(e) if !reader.map().shrunk() => {
                Ok((e.timestamp, stored_checksum(e.bytes), offset + e.len))
            }
            Ok(_) => Err(IndexFault::Io("journal truncated under the reader".into())),
            Err(reason) => Err(IndexFault::EntryMismatch {
                offset,
                why: format!("entry is not valid ({reason})"),
            }),
        }
    }

    /// Trusts a record only once the entry it points at passes the entry checks, carries the
    /// recorded checksum and a timestamp not above the recorded maximum (INDEX.md 6.2).
    fn verify_record(
        &self,
        reader: &Reader,
        r: &Record,
    ) -> std::result::Result<Position, IndexFault> {
        let (ts, sum, _) = self.entry_at(reader, r.offset)?;
        if sum != r.entry_checksum {
            return Err(IndexFault::EntryMismatch {
                offset: r.offset,
                why: format!(
                    "stored checksum {sum:#010x}, the index recorded {:#010x}",
                    r.entry_checksum
                ),
            });
        }
        if ts > r.max_timestamp || (r.event_index == 0 && ts != r.max_timestamp) {
            return Err(IndexFault::EntryMismatch {
                offset: r.offset,
                why: format!(
                    "timestamp {ts} is above the recorded maximum {}",
                    r.max_timestamp
                ),
            });
        }
        Ok(Position {
            index: r.event_index,
            offset: r.offset,
        })
    }

    /// The checkpoint as a start position, re-checked against the journal (INDEX.md 6.1).
    fn verified_checkpoint(&self, reader: &Reader) -> std::result::Result<Position, IndexFault> {
        self.validate_header(reader)?;
        Ok(self.checkpoint())
    }

    /// How far a scan from `start`, a position this index gave and the journal confirmed (INDEX.md
    /// 6.2), may step over entries by their headers alone (INDEX.md 8): to the checkpoint, from a
    /// record; nowhere from the first event, whose scan checks every entry in full.
    pub(crate) fn trusted_end(&self, start: Position) -> u64 {
        if start == START {
            HEADER_LEN
        } else {
            self.checkpoint
        }
    }

    /// Where to start a scan for event `n` (INDEX.md 8): the last record at or before it, or the
    /// checkpoint if `n` lies at or past it. O(log records), reading a few cache lines; the position
    /// is verified against the journal before it is returned.
    pub fn seek_index(&self, reader: &Reader, n: u64) -> std::result::Result<Position, IndexFault> {
        if self.checkpoint_events == 0 || n == 0 {
            return Ok(START);
        }
        if n >= self.checkpoint_events {
            return self.verified_checkpoint(reader);
        }
        let k = self.records_at_or_before(n);
        // Record 0 is event 0 <= n, so k >= 1.
        self.verify_record(reader, &self.records[k - 1])
    }

    /// Where to start a scan for the first event whose timestamp is `>= t` (INDEX.md 8): the record
    /// before the first whose running maximum reaches `t`, or the checkpoint if no event below it
    /// does. O(log records), reading a few cache lines; verified against the journal before it is
    /// returned.
    pub fn seek_time(&self, reader: &Reader, t: i64) -> std::result::Result<Position, IndexFault> {
        if self.checkpoint_events == 0 {
            return Ok(START);
        }
        if self.checkpoint_max_timestamp < t {
            return self.verified_checkpoint(reader);
        }
        let k = self.records_below_time(t);
        if k == 0 {
            return Ok(START);
        }
        self.verify_record(reader, &self.records[k - 1])
    }

    /// Writes the index file atomically beside the journal: a temporary file in the same
    /// directory, synced, renamed over `NAME.idx`, then the directory synced (INDEX.md 9).
    pub fn write(&self, journal: &Path) -> Result<()> {
        self.write_with(journal, true)
    }

    /// [`Index::write`], with the two syncs only when `durable` (a writer under
    /// `SyncPolicy::Never` creating a journal, FORMAT.md 9: a lost or torn index fails the checks of
    /// INDEX.md 6.1 and is rebuilt).
    pub(crate) fn write_with(&self, journal: &Path, durable: bool) -> Result<()> {
        let path = index_path(journal);
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(path.file_name().unwrap_or_default());
        tmp_name.push(format!(".tmp.{}", std::process::id()));
        let tmp = dir.join(tmp_name);
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)
                .map_err(|e| Error::io(&tmp, "create", e))?;
            f.write_all(&self.encode())
                .map_err(|e| Error::io(&tmp, "write", e))?;
            if durable {
                f.sync_all().map_err(|e| Error::io(&tmp, "fsync", e))?;
            }
            std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, "rename", e))?;
            if !durable {
                return Ok(());
            }
            crate::sys::sync_dir(&dir)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

/// One record's 32 bytes (INDEX.md 4).
fn encode_record(r: &Record) -> [u8; INDEX_RECORD_LEN as usize] {
    let mut raw = RawRecord {
        event_index: U64::new(r.event_index),
        offset: U64::new(r.offset),
        max_timestamp: I64::new(r.max_timestamp),
        entry_checksum: U32::new(r.entry_checksum),
        record_checksum: U32::new(0),
    };
    raw.record_checksum = U32::new(crc(&raw.as_bytes()[..28]));
    let mut out = [0u8; INDEX_RECORD_LEN as usize];
    out.copy_from_slice(raw.as_bytes());
    out
}

/// Decodes and checks the records (INDEX.md 4) against the header already decoded into `idx`.
fn decode_records(idx: &Index, bytes: &[u8]) -> std::result::Result<HugeVec<Record>, IndexFault> {
    decode_records_from(idx, bytes, 0, None)
}

/// [`decode_records`] for records `first ..` of an index, `prev` being record `first - 1` when it
/// is known (a reader extending what it loaded before); without it, the rules that compare a
/// record with the one before it are not applied to record `first`.
fn decode_records_from(
    idx: &Index,
    bytes: &[u8],
    first: u64,
    prev: Option<Record>,
) -> std::result::Result<HugeVec<Record>, IndexFault> {
    let mut out = HugeVec::with_capacity(bytes.len() / INDEX_RECORD_LEN as usize);
    for (k, chunk) in bytes.chunks_exact(INDEX_RECORD_LEN as usize).enumerate() {
        let record = first + k as u64;
        let Ok(raw) = RawRecord::read_from_bytes(chunk) else {
            return Err(IndexFault::Truncated {
                len: bytes.len() as u64,
                need: INDEX_RECORD_LEN,
            });
        };
        if crc(&chunk[..28]) != raw.record_checksum.get() {
            return Err(IndexFault::RecordChecksum { record });
        }
        let r = Record {
            event_index: raw.event_index.get(),
            offset: raw.offset.get(),
            max_timestamp: raw.max_timestamp.get(),
            entry_checksum: raw.entry_checksum.get(),
        };
        let bad = |why: String| Err(IndexFault::BadRecord { record, why });
        if !r.offset.is_multiple_of(8) || r.offset > idx.last_entry_offset {
            return bad(format!(
                "offset {} is not an entry below the checkpoint",
                r.offset
            ));
        }
        if r.event_index >= idx.checkpoint_events {
            return bad(format!(
                "event index {} is not below the checkpoint's {}",
                r.event_index, idx.checkpoint_events
            ));
        }
        if r.max_timestamp > idx.checkpoint_max_timestamp {
            return bad("max_timestamp is above the checkpoint's".into());
        }
        match out.last().copied().or(prev) {
            None if record > 0 => {}
            None => {
                if r.event_index != 0
                    || r.offset != HEADER_LEN
                    || r.entry_checksum != idx.first_entry_checksum
                {
                    return bad("the first record is not event 0 at offset 24".into());
                }
            }
            Some(p) => {
                if r.event_index <= p.event_index || r.offset <= p.offset {
                    return bad("event index and offset do not increase".into());
                }
                let gap = r.event_index - p.event_index;
                if gap > idx.intervals.events {
                    return bad(format!(
                        "{gap} events after the previous record, above interval_events"
                    ));
                }
                if (r.offset - p.offset) / ENTRY_HEADER_LEN < gap {
                    return bad(format!(
                        "{gap} events cannot fit in {} bytes",
                        r.offset - p.offset
                    ));
                }
                if r.max_timestamp < p.max_timestamp {
                    return bad("max_timestamp decreases".into());
                }
            }
        }
        out.push(r);
    }
    if let Some(last) = out.last() {
        if idx.checkpoint_events - last.event_index > idx.intervals.events {
            return Err(IndexFault::BadRecord {
                record: first + out.len() as u64 - 1,
                why: "more than interval_events events after the last record".into(),
            });
        }
    }
    Ok(out)
}

/// Builds (or rebuilds) the index of the journal at `path` with the default intervals and writes it
/// atomically to `NAME.idx` (INDEX.md 9).
pub fn build(path: impl AsRef<Path>) -> Result<Index> {
    build_with(path, Intervals::default())
}

/// [`build`] with chosen intervals.
pub fn build_with(path: impl AsRef<Path>, intervals: Intervals) -> Result<Index> {
    let path = path.as_ref();
    let reader = Reader::open(path)?;
    let idx = Index::from_reader(&reader, intervals)?;
    idx.write(path)?;
    Ok(idx)
}

/// Extends the journal's index over the events appended since it was built, or rebuilds it with the
/// default intervals if it is missing or unusable; writes it atomically (INDEX.md 9).
pub fn extend(path: impl AsRef<Path>) -> Result<Index> {
    let path = path.as_ref();
    let reader = Reader::open(path)?;
    let idx = match Index::load(&reader) {
        Ok(mut idx) => {
            idx.extend(&reader)?;
            idx
        }
        Err(_) => Index::from_reader(&reader, Intervals::default())?,
    };
    idx.write(path)?;
    Ok(idx)
}

/// Checks a loaded index against the journal in full (INDEX.md 7): rebuilds the index of the
/// journal up to the checkpoint with the same intervals and compares. O(checkpoint).
pub fn check(reader: &Reader, idx: &Index) -> Result<Verdict> {
    if let Err(f) = idx.validate(reader) {
        return Ok(Verdict::Unusable(f));
    }
    let mut fresh = Index::empty(idx.intervals, idx.journal_start_timestamp);
    fresh.scan(reader, idx.checkpoint)?;
    if fresh.checkpoint != idx.checkpoint {
        return Ok(Verdict::Unusable(IndexFault::JournalDamaged {
            offset: fresh.checkpoint,
        }));
    }
    let n = idx.records.len().max(fresh.records.len());
    if let Some(k) = (0..n).find(|&k| idx.records.get(k) != fresh.records.get(k)) {
        return Ok(Verdict::Unusable(IndexFault::RecordMismatch {
            record: k as u64,
        }));
    }
    let fields: [(&'static str, bool); 4] = [
        (
            "checkpoint_events",
            fresh.checkpoint_events == idx.checkpoint_events,
        ),
        (
            "checkpoint_max_timestamp",
            fresh.checkpoint_max_timestamp == idx.checkpoint_max_timestamp,
        ),
        (
            "first_entry_checksum",
            fresh.first_entry_checksum == idx.first_entry_checksum,
        ),
        (
            "last_entry",
            fresh.last_entry_checksum == idx.last_entry_checksum
                && fresh.last_entry_offset == idx.last_entry_offset,
        ),
    ];
    if let Some((field, _)) = fields.iter().find(|(_, same)| !same) {
        return Ok(Verdict::Unusable(IndexFault::HeaderMismatch(field)));
    }
    let content_end = reader.verify()?.end;
    if content_end > idx.checkpoint {
        return Ok(Verdict::Stale {
            checkpoint: idx.checkpoint,
            content_end,
        });
    }
    Ok(Verdict::Current {
        records: idx.records.len() as u64,
        events: idx.checkpoint_events,
    })
}

/// Loads the journal's index file and checks it in full ([`check`]); a missing or undecodable index
/// is [`Verdict::Unusable`].
pub fn check_file(reader: &Reader) -> Result<Verdict> {
    match Index::load(reader) {
        Ok(idx) => check(reader, &idx),
        Err(f) => Ok(Verdict::Unusable(f)),
    }
}

/// Exactly what [`Reader::iter_from_index`] gives, starting the walk at the position the index
/// finds (INDEX.md 8) when it has one and it verifies, else at the first event.
pub fn iter_from_index<'r>(reader: &'r Reader, idx: Option<&Index>, n: u64) -> Result<Iter<'r>> {
    let (start, trusted) = idx
        .and_then(|i| i.seek_index(reader, n).ok().map(|p| (p, i.trusted_end(p))))
        .unwrap_or((START, HEADER_LEN));
    reader.walk_to_index_trusting(start, trusted, n)
}

/// Exactly what [`Reader::iter_from_time`] gives: the first event, in file order, whose timestamp is
/// `>= t` (FORMAT.md 6.4), found by binary search on the records' running maximum and a scan of at
/// most one interval (INDEX.md 8), or from the first event when the index is absent or unusable.
pub fn iter_from_time<'r>(reader: &'r Reader, idx: Option<&Index>, t: i64) -> Result<Iter<'r>> {
    let (start, trusted) = idx
        .and_then(|i| i.seek_time(reader, t).ok().map(|p| (p, i.trusted_end(p))))
        .unwrap_or((START, HEADER_LEN));
    reader.walk_to_time_trusting(start, trusted, t)
}

impl Index {
    /// Follows the index file as a writer extends it (INDEX.md 9.3): rereads its header and, when
    /// the file still describes this journal with the same intervals and its records extend the
    /// ones held here, reads only the new records (bounded by what was added); otherwise loads the
    /// whole file again. Returns whether the checkpoint moved. On a fault the index must be dropped.
    pub fn refresh(&mut self, reader: &Reader) -> std::result::Result<bool, IndexFault> {
        self.refresh_noting(reader, &mut None)
    }

    /// [`Index::refresh`], noting in `seen` the [`Stamp`] of the file read last (left as it was if
    /// the file could not be opened and its header read).
    pub(crate) fn refresh_noting(
        &mut self,
        reader: &Reader,
        seen: &mut Option<Stamp>,
    ) -> std::result::Result<bool, IndexFault> {
        let (mut file, path, len, head) = open_index_header(reader, seen)?;
        let io = |e: std::io::Error| IndexFault::Io(format!("{}: {e}", path.display()));
        let (mut fresh, count) = Index::decode_header(&head)?;
        if fresh.checkpoint == self.checkpoint
            && fresh.checkpoint_events == self.checkpoint_events
            && fresh.last_entry_checksum == self.last_entry_checksum
            && count == self.records.len() as u64
            && fresh.intervals == self.intervals
            && fresh.journal_start_timestamp == self.journal_start_timestamp
        {
            return Ok(false);
        }
        fresh.validate_header(reader)?;
        let need = INDEX_HEADER_LEN + count * INDEX_RECORD_LEN;
        if len < need {
            return Err(IndexFault::Truncated { len, need });
        }
        let have = self.records.len() as u64;
        let extends = have > 0
            && count >= have
            && fresh.checkpoint_events >= self.checkpoint_events
            && fresh.intervals == self.intervals
            && fresh.journal_start_timestamp == self.journal_start_timestamp
            && fresh.first_entry_checksum == self.first_entry_checksum;
        let from = if extends { have - 1 } else { 0 };
        let mut recs = vec![0u8; ((count - from) * INDEX_RECORD_LEN) as usize];
        use std::io::{Seek, SeekFrom};
        file.seek(SeekFrom::Start(INDEX_HEADER_LEN + from * INDEX_RECORD_LEN))
            .map_err(io)?;
        file.read_exact(&mut recs).map_err(io)?;
        if extends {
            // The last record held and the new ones, decoded together: the rule on the events
            // after the last record (INDEX.md 4) applies to the new last record, not the held one.
            let more = decode_records_from(&fresh, &recs, from, None)?;
            if more.first() != self.records.last() {
                // Not a continuation of what is held: load it all.
                *self = Index::load_noting(reader, seen)?;
                return Ok(true);
            }
            fresh.records = std::mem::take(&mut self.records);
            fresh.search = std::mem::take(&mut self.search);
            fresh.records.extend_from_slice(&more[1..]);
        } else {
            fresh.records = decode_records(&fresh, &recs)?;
        }
        fresh.index_records();
        *self = fresh;
        Ok(true)
    }
}

/// The index a [`Writer`](crate::Writer) keeps up to date as it appends (INDEX.md 9.3): the
/// header's fields and the last record only (O(1) memory), and the open index file.
pub(crate) struct Upkeep {
    file: File,
    /// The header as on disk, with `records` holding the last counted record (if any) followed by
    /// records not yet written.
    idx: Index,
    /// `record_count` in the file's header.
    on_disk: u64,
    /// Test hook: the next [`Upkeep::advance`] fails as if with `EIO` (it travels with the upkeep,
    /// whichever thread holds it).
    fail_next_write: bool,
}

impl Upkeep {
    /// The checkpoint the index file holds.
    pub(crate) fn checkpoint(&self) -> Position {
        self.idx.checkpoint()
    }

    /// How far past the checkpoint a sync must reach before the checkpoint moves
    /// ([`crate::writer::INDEX_SYNC_STEP`]).
    pub(crate) fn step(&self) -> u64 {
        self.idx
            .intervals
            .bytes
            .saturating_mul(64)
            .min(crate::writer::INDEX_SYNC_STEP)
    }

    /// Opens the journal's index for upkeep and validates it against the journal in O(1)
    /// (INDEX.md 6.1; the header and the last record only). `body` is the journal's bytes
    /// `[24, min(write_offset, file_len))`.
    pub(crate) fn open(
        journal: &Path,
        body: &[u8],
        start: i64,
        write_offset: u64,
        file_len: u64,
    ) -> std::result::Result<Upkeep, IndexFault> {
        use std::os::unix::fs::FileExt;
        let path = index_path(journal);
        let file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(IndexFault::Missing),
            Err(e) => return Err(IndexFault::Io(format!("{}: {e}", path.display()))),
        };
        let io = |e: std::io::Error| IndexFault::Io(format!("{}: {e}", path.display()));
        let len = file.metadata().map_err(io)?.len();
        let mut head = vec![0u8; INDEX_HEADER_LEN.min(len) as usize];
        file.read_exact_at(&mut head, 0).map_err(io)?;
        let (mut idx, count) = Index::decode_header(&head)?;
        let entry_at = |off: u64| match check_entry(body, off, write_offset, file_len, true) {
            Ok(e) => Ok((e.timestamp, stored_checksum(e.bytes), off + e.len)),
            Err(reason) => Err(IndexFault::EntryMismatch {
                offset: off,
                why: format!("entry is not valid ({reason})"),
            }),
        };
        idx.validate_with(start, write_offset, file_len, &entry_at)?;
        let need = INDEX_HEADER_LEN + count * INDEX_RECORD_LEN;
        if len < need {
            return Err(IndexFault::Truncated { len, need });
        }
        if count > 0 {
            let mut last = [0u8; INDEX_RECORD_LEN as usize];
            file.read_exact_at(&mut last, need - INDEX_RECORD_LEN)
                .map_err(io)?;
            idx.records = decode_records_from(&idx, &last, count - 1, None)?;
        }
        idx.records.reserve(1);
        Ok(Upkeep {
            file,
            idx,
            on_disk: count,
            fail_next_write: false,
        })
    }

    /// Builds the index of the journal's content up to `to` from scratch (INDEX.md 5), writes it
    /// atomically (INDEX.md 9.1; synced only when `durable`) and opens it for upkeep. The content
    /// must be valid up to `to`.
    pub(crate) fn rebuild(
        journal: &Path,
        intervals: Intervals,
        start: i64,
        body: &[u8],
        to: u64,
        durable: bool,
    ) -> Result<Upkeep> {
        intervals
            .check()
            .map_err(|f| Error::InvalidArgument(f.to_string()))?;
        let mut idx = Index::empty(intervals, start);
        idx.walk(body, to, to, to, false);
        idx.write_with(journal, durable)?;
        let path = index_path(journal);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, "open", e))?;
        let on_disk = idx.records.len() as u64;
        let last = idx.records.last().copied();
        idx.records = HugeVec::with_capacity(1);
        if let Some(l) = last {
            idx.records.push(l);
        }
        Ok(Upkeep {
            file,
            idx,
            on_disk,
            fail_next_write: false,
        })
    }

    /// Extends the index over the content from its checkpoint to `to` (INDEX.md 5 and 9.3): the
    /// new records are written past `record_count`, then the header in place. With `durable`, each
    /// step is followed by an `fsync` of the index. `body` covers the journal up to `to`, bytes the
    /// writer published itself (their CRC is not recomputed). Allocates nothing: the records go out
    /// through a fixed buffer.
    pub(crate) fn advance(&mut self, body: &[u8], to: u64, durable: bool) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        const BATCH: usize = 128;
        if std::mem::take(&mut self.fail_next_write) {
            return Err(std::io::Error::from_raw_os_error(libc::EIO));
        }
        if to <= self.idx.checkpoint {
            return Ok(());
        }
        let rec = INDEX_RECORD_LEN as usize;
        let mut buf = [0u8; BATCH * INDEX_RECORD_LEN as usize];
        let (mut batched, mut count) = (0usize, self.on_disk);
        let mut at = INDEX_HEADER_LEN + self.on_disk * INDEX_RECORD_LEN;
        let mut last = self.idx.records.last().copied();
        let idx = &mut self.idx;
        let mut cur = Cursor {
            pos: idx.checkpoint,
            index: idx.checkpoint_events,
        };
        while cur.pos < to {
            let Ok(ev) = cur.step(body, to, to, false) else {
                break;
            };
            let max = idx.checkpoint_max_timestamp.max(ev.timestamp);
            let crc = ev.checksum();
            let take = match last {
                None => true,
                Some(l) => {
                    ev.offset - l.offset >= idx.intervals.bytes
                        || ev.index - l.event_index >= idx.intervals.events
                }
            };
            if take {
                let r = Record {
                    event_index: ev.index,
                    offset: ev.offset,
                    max_timestamp: max,
                    entry_checksum: crc,
                };
                buf[batched * rec..(batched + 1) * rec].copy_from_slice(&encode_record(&r));
                batched += 1;
                count += 1;
                last = Some(r);
                if batched == BATCH {
                    self.file.write_all_at(&buf, at)?;
                    at += (BATCH * rec) as u64;
                    batched = 0;
                }
            }
            if ev.index == 0 {
                idx.first_entry_checksum = crc;
            }
            idx.last_entry_checksum = crc;
            idx.last_entry_offset = ev.offset;
            idx.checkpoint = ev.end();
            idx.checkpoint_events = ev.index + 1;
            idx.checkpoint_max_timestamp = max;
        }
        if batched > 0 {
            self.file.write_all_at(&buf[..batched * rec], at)?;
        }
        if durable && count > self.on_disk {
            self.file.sync_data()?;
        }
        self.file.write_all_at(&self.idx.encode_header(count), 0)?;
        if durable {
            self.file.sync_data()?;
        }
        self.on_disk = count;
        if let Some(l) = last {
            // Capacity for one record is kept from open: no allocation.
            self.idx.records.clear();
            self.idx.records.push(l);
        }
        Ok(())
    }

    /// Test hook: makes the next [`Upkeep::advance`] fail as if with `EIO`.
    #[cfg(feature = "test-hooks")]
    pub(crate) fn fail_next_write(&mut self) {
        self.fail_next_write = true;
    }
}

/// The [`Upkeep`] a writer lends to its pretoucher while the pretoucher runs the periodic sync
/// under `never` (INDEX.md 9.3): the thread that synced then moves the checkpoint over what it
/// synced, reading the journal through the sync's own mapping, so that the appending thread
/// neither walks the entries nor writes the index. The upkeep is in one place at a time (here, or
/// taken back by the writer with [`SharedUpkeep::take`] for its own sync and at close, after the
/// pretoucher was stopped), and every move of it happens under the lock, so the index's writes
/// stay serialized, in order, each continuing from the previous checkpoint.
pub(crate) struct SharedUpkeep {
    slot: Mutex<Option<Box<Upkeep>>>,
    /// Why a move on the pretoucher's side disabled the index (the upkeep is then dropped): the
    /// error alone, which the writer prefixes with the index file's name (a set's roll renames
    /// the file while the upkeep is lent).
    error: OnceLock<String>,
}

impl SharedUpkeep {
    /// An empty slot.
    pub(crate) fn new() -> SharedUpkeep {
        SharedUpkeep {
            slot: Mutex::new(None),
            error: OnceLock::new(),
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Box<Upkeep>>> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lends `upkeep` (the slot was empty).
    pub(crate) fn put(&self, upkeep: Box<Upkeep>) {
        *self.slot() = Some(upkeep);
    }

    /// Takes the upkeep back, waiting for a move in flight; `None` if it was never lent, was
    /// taken already, or was dropped by an error ([`SharedUpkeep::error`]).
    pub(crate) fn take(&self) -> Option<Box<Upkeep>> {
        self.slot().take()
    }

    /// The checkpoint of the upkeep lent, if it is here.
    pub(crate) fn checkpoint(&self) -> Option<Position> {
        self.slot().as_ref().map(|u| u.checkpoint())
    }

    /// Why a move on the pretoucher's side disabled the index, if one did (the error, without the
    /// index file's name).
    pub(crate) fn error(&self) -> Option<&str> {
        self.error.get().map(String::as_str)
    }

    /// Calls `f` on the upkeep lent, if it is here (a test hook reaches it this way).
    #[cfg(feature = "test-hooks")]
    pub(crate) fn with(&self, f: impl FnOnce(&mut Upkeep)) {
        if let Some(u) = self.slot().as_mut() {
            f(u);
        }
    }

    /// Moves the checkpoint to `to`, the end of content a completed sync covered, when `to` lies at
    /// least `step` past it (INDEX.md 9.3 moment 2), without `fsync`s of the index (the policy is
    /// `never`). `body` is the journal's bytes `[24, to)`. Returns whether it moved. An error
    /// disables the index (the upkeep is dropped, the error kept for the writer); it never fails
    /// the journal.
    pub(crate) fn advance(&self, body: &[u8], to: u64, step: u64) -> bool {
        let mut slot = self.slot();
        let Some(u) = slot.as_mut() else {
            return false;
        };
        if to < u.checkpoint().offset.saturating_add(step) {
            return false;
        }
        match u.advance(body, to, false) {
            Ok(()) => true,
            Err(e) => {
                *slot = None;
                self.note(&e);
                false
            }
        }
    }

    /// Disables the index for `why` (an error of the upkeep's reads or writes): the upkeep is
    /// dropped, the first reason kept.
    pub(crate) fn disable(&self, why: &std::io::Error) {
        *self.slot() = None;
        self.note(why);
    }

    fn note(&self, why: &std::io::Error) {
        let _ = self.error.set(why.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: enough for tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    /// `n` records whose event indexes never decrease (they repeat when `dups`) and whose running
    /// maxima climb in steps of every size, with long plateaus and equal neighbours.
    fn random_records(rng: &mut Rng, n: usize, dups: bool) -> Vec<Record> {
        let (mut e, mut m) = (0u64, -1_000i64);
        (0..n)
            .map(|k| {
                if k > 0 {
                    e += if dups {
                        rng.below(3)
                    } else {
                        1 + rng.below(40)
                    };
                }
                m += match rng.below(10) {
                    0..=4 => 0,
                    5 => rng.below(1 << 40) as i64,
                    _ => rng.below(4) as i64,
                };
                Record {
                    event_index: e,
                    offset: HEADER_LEN + 8 * k as u64,
                    max_timestamp: m,
                    entry_checksum: k as u32,
                }
            })
            .collect()
    }

    fn index_of(records: Vec<Record>) -> Index {
        let mut idx = Index::empty(Intervals::default(), 0);
        idx.records = records.into_iter().collect();
        idx.index_records();
        idx
    }

    /// Every key, its neighbours, the extremes and random values give what `partition_point` over
    /// the plain records gives, and the search structure (not the fallback) answered.
    fn assert_searches_match(idx: &Index, rng: &mut Rng, what: &str) {
        let recs = &idx.records;
        assert_eq!(
            idx.search.covered,
            recs.len(),
            "{what}: search covers the records"
        );
        let mut events = vec![0, 1, u64::MAX, u64::MAX - 1];
        let mut times = vec![i64::MIN, i64::MIN + 1, i64::MAX, 0, -1_000];
        for r in recs {
            events.extend([
                r.event_index,
                r.event_index.wrapping_sub(1),
                r.event_index + 1,
            ]);
            times.extend([r.max_timestamp, r.max_timestamp - 1, r.max_timestamp + 1]);
        }
        for _ in 0..200 {
            events.push(rng.below(recs.last().map_or(10, |r| r.event_index + 10)));
            times.push(rng.next() as i64);
        }
        for n in events {
            assert_eq!(
                idx.records_at_or_before(n),
                recs.partition_point(|r| r.event_index <= n),
                "{what}: records at or before event {n}"
            );
        }
        for t in times {
            assert_eq!(
                idx.records_below_time(t),
                recs.partition_point(|r| r.max_timestamp < t),
                "{what}: records below time {t}"
            );
        }
    }

    #[test]
    fn the_search_structure_answers_as_partition_point_over_the_records() {
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let sizes = [
            0,
            1,
            2,
            LEAF - 1,
            LEAF,
            LEAF + 1,
            63,
            64,
            65,
            LEAF * FAN - 1,
            LEAF * FAN,
            LEAF * FAN + 1,
            LEAF * (FAN + 1),
            LEAF * FAN * FAN - 1,
            LEAF * FAN * FAN,
            LEAF * FAN * FAN + 1,
            LEAF * (FAN * FAN + 1) + 3,
            300_000,
        ];
        for n in sizes {
            for dups in [false, true] {
                let idx = index_of(random_records(&mut rng, n, dups));
                let levels = idx.search.events.levels.len();
                assert!(
                    idx.search
                        .events
                        .levels
                        .last()
                        .is_none_or(|t| t.len() <= FAN),
                    "{n} records: the top level is small"
                );
                assert_searches_match(&idx, &mut rng, &format!("{n} records, dups {dups}"));
                // All keys equal: one plateau over everything.
                let mut flat = idx.records.to_vec();
                flat.iter_mut().for_each(|r| r.max_timestamp = 7);
                let flat = index_of(flat);
                assert_eq!(flat.search.events.levels.len(), levels);
                assert_searches_match(&flat, &mut rng, &format!("{n} equal timestamps"));
            }
        }
    }

    #[test]
    fn the_search_structure_grows_incrementally_into_what_a_full_build_gives() {
        let mut rng = Rng(0x5eed_1234_abcd_0002);
        let all = random_records(&mut rng, LEAF * FAN * FAN + 5 * LEAF * FAN + 7, false);
        let mut idx = index_of(Vec::new());
        let mut steps = 0;
        while idx.records.len() < all.len() {
            let add = match rng.below(4) {
                0 => 1,
                1 => 1 + rng.below(LEAF as u64 * 2) as usize,
                _ => 1 + rng.below(LEAF as u64 * FAN as u64 * 3) as usize,
            };
            let to = (idx.records.len() + add).min(all.len());
            idx.records.extend_from_slice(&all[idx.records.len()..to]);
            idx.index_records();
            let full = index_of(idx.records.to_vec());
            assert_eq!(idx.search.events.levels, full.search.events.levels);
            assert_eq!(idx.search.times.levels, full.search.times.levels);
            if steps % 8 == 0 || to == all.len() {
                assert_searches_match(&idx, &mut rng, &format!("grown to {to} records"));
            }
            steps += 1;
        }
        // Records dropped (a reload that found fewer): the structure is rebuilt, not misused.
        idx.records.truncate(LEAF * FAN + 5);
        idx.index_records();
        assert_searches_match(&idx, &mut rng, "cut back");
    }
}
