//! Reading a journal set as one journal (SET.md 6): iteration, seek by global index and by time
//! across segments, and tailers that follow the writer across rolls.
//!
//! A [`SetReader`] lists the set's directory once at open and again only when it needs a segment
//! it does not know. A cursor over the set ([`SetIter`], [`SetTailer`], [`OwnedSetTailer`]) holds
//! one segment open (one [`Reader`], one mapping) at a time; a segment it leaves is unmapped. So a
//! set of any number of segments costs one mapping per cursor.
//!
//! Crossing a roll (SET.md 6): a cursor that has read `n` events of the segment whose first global
//! index is `F` and finds no more checks whether the segment named `F + n` exists (one `stat`, no
//! directory listing). If it does, the segment it read is sealed with exactly `n` events (its
//! `write_offset` is re-read once to be sure) and the cursor moves on; if not, the segment is still
//! the newest and the cursor keeps polling it. A writer that died mid-roll leaves either a stale
//! `.next.journal` (never read: it is not a segment) or an empty newest segment (read like any
//! other): neither stops a follower.
//!
//! Events carry their global index: the segment's first index plus the event's index in it.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::layout::{list_segments, segment_name, SegmentEntry, SetMeta, INDEX_DIGITS, WAKE_FILE};
use crate::cursor::{Cursor, Event};
use crate::error::{Error, Result};
use crate::index::{Index, Position, START};
use crate::reader::{Reader, Report};
use crate::tail::OwnedTailer;
use crate::wait::WaitStrategy;
use crate::wake::WakeSlot;

/// A segment's path whose 20 digits are rewritten in place for each name a cursor checks (SET.md
/// 2): a tailer's idle polls stat without allocating.
struct NameBuf {
    bytes: Vec<u8>,
    digits: usize,
}

impl NameBuf {
    fn new(dir: &Path) -> NameBuf {
        use std::os::unix::ffi::OsStrExt;
        let mut bytes = dir.as_os_str().as_bytes().to_vec();
        bytes.push(b'/');
        let digits = bytes.len();
        bytes.extend_from_slice(segment_name(0).as_bytes());
        NameBuf { bytes, digits }
    }

    /// The path of segment `first` (as `dir.join(segment_name(first))`).
    fn path(&mut self, first: u64) -> &Path {
        use std::os::unix::ffi::OsStrExt;
        let mut n = first;
        for b in self.bytes[self.digits..self.digits + INDEX_DIGITS]
            .iter_mut()
            .rev()
        {
            *b = b'0' + (n % 10) as u8;
            n /= 10;
        }
        Path::new(std::ffi::OsStr::from_bytes(&self.bytes))
    }
}

/// What opening a segment found.
enum Opened {
    /// The segment, open.
    Reader(Arc<Reader>),
    /// No such file: retention removed it (SET.md 8).
    Missing,
    /// A file shorter than a journal header: a writer is creating it.
    Creating,
}

/// Where a seek by time starts looking ([`SetReader::time_candidate`]).
enum Candidate {
    /// In the segment with this first index.
    Segment(u64),
    /// Nowhere: the set has no segment.
    Empty,
    /// A segment was removed on the way: list again and retry.
    Retry,
}

/// How long a cursor idle at the end of a segment goes without listing the directory.
const RELIST_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

/// How many times a seek starts over after retention removed a segment under it.
const SEEK_ATTEMPTS: u32 = 4;

/// A cursor that finds no next segment checks, on one idle poll in this many, whether its own
/// segment was removed under it (SET.md 8): then the next one may have been removed too.
const REMOVED_CHECK_EVERY: u32 = 16;

/// What the reader knows of the set's segments: their first indexes from the last listing (plus
/// the ones found since by the one-`stat` rule), and the largest timestamp of sealed segments
/// already computed for seeks by time.
#[derive(Debug)]
struct Known {
    /// When the directory was last listed.
    listed: Instant,
    firsts: Vec<u64>,
    /// `maxima[k]`: the largest timestamp in sealed segment `k` (`i64::MIN` if it has no event),
    /// once computed. Only sealed segments' are kept: their content never changes.
    maxima: Vec<Option<i64>>,
    /// `prefix[k]`: the largest timestamp in segments `0..=k` (the set's running maximum, which
    /// never decreases), for every `k` whose maxima up to it are all known.
    prefix: Vec<i64>,
}

impl Known {
    fn from_list(list: &[SegmentEntry], old: Option<&Known>) -> Known {
        let firsts: Vec<u64> = list.iter().map(|s| s.first_index).collect();
        let maxima = firsts
            .iter()
            .map(|f| {
                let old = old?;
                let k = old.firsts.binary_search(f).ok()?;
                old.maxima[k]
            })
            .collect();
        let mut k = Known {
            listed: Instant::now(),
            firsts,
            maxima,
            prefix: Vec::new(),
        };
        k.extend_prefix();
        k
    }

    /// Extends `prefix` over the maxima known in a row after it.
    fn extend_prefix(&mut self) {
        while let Some(Some(m)) = self.maxima.get(self.prefix.len()) {
            let running = self.prefix.last().map_or(*m, |p| (*p).max(*m));
            self.prefix.push(running);
        }
    }

    /// The first index of the segment after the one starting at `first`, if known.
    fn after(&self, first: u64) -> Option<u64> {
        let k = self.firsts.partition_point(|f| *f <= first);
        self.firsts.get(k).copied()
    }

    /// The first index of the known segment that holds global index `g` (the last one starting at
    /// or before it), if any.
    fn holding(&self, g: u64) -> Option<u64> {
        let k = self.firsts.partition_point(|f| *f <= g);
        k.checked_sub(1).map(|k| self.firsts[k])
    }

    /// Notes a segment found by its name (SET.md 6) after the last known one.
    fn note(&mut self, first: u64) {
        if self.firsts.last().is_none_or(|l| *l < first) {
            self.firsts.push(first);
            self.maxima.push(None);
        }
    }
}

/// A read-only view of a journal set (spec/SET.md): its segments read as one journal, with global
/// event indexes.
///
/// Opening lists the directory once; nothing else is opened until a cursor needs it. Each cursor
/// made from the reader holds at most one segment open and mapped (sealed segments are mapped at
/// their content's size), so a set of tens of thousands of segments is read within normal limits.
///
/// Each event's `index` is global (its segment's first index plus its index in the segment); its
/// `offset` is the entry's offset in its segment's file.
///
/// The events a cursor yields borrow the cursor (its current segment's mapping): each is used
/// before the next call, which may move to another segment and unmap this one. So a cursor is not
/// a [`std::iter::Iterator`]; walk it with `while let Some(event) = it.next_event()`.
///
/// ```
/// use journal::set::{layout, SetMeta, SetReader};
/// use journal::Writer;
///
/// # fn main() -> journal::Result<()> {
/// # let dir = std::env::temp_dir().join(format!("journal-doc-setreader-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir_all(&dir).unwrap();
/// // A set of two segments, written by hand (a set writer does this by itself).
/// SetMeta::default().write(&dir)?;
/// let mut w = Writer::create(dir.join(layout::segment_name(0)))?;
/// w.append(10, b"a")?;
/// w.append(30, b"b")?;
/// w.close()?;
/// let mut w = Writer::create(dir.join(layout::segment_name(2)))?;
/// w.append(20, b"c")?;
/// w.close()?;
///
/// let set = SetReader::open(&dir)?;
/// let mut it = set.iter_from_time(20)?; // the first event at or after 20, in global order
/// let mut seen = Vec::new();
/// while let Some(event) = it.next_event() {
///     let event = event?;
///     seen.push((event.index, event.timestamp));
/// }
/// assert_eq!(seen, [(1, 30), (2, 20)]);
/// assert!(set.verify()?.is_intact());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok(())
/// # }
/// ```
pub struct SetReader {
    dir: PathBuf,
    meta: SetMeta,
    verify: bool,
    known: Mutex<Known>,
    /// The set's wake-up file (SET.md 6.5.1), for tailers that block. Boxed: it is cold, and a
    /// set reader stays as small as it was without it.
    wake: Box<WakeSlot>,
}

impl std::fmt::Debug for SetReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetReader").field("dir", &self.dir).finish()
    }
}

/// One segment's verdict in a [`SetReport`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentReport {
    /// The global index of the segment's first event (its name).
    pub first_index: u64,
    /// The segment's path.
    pub path: PathBuf,
    /// The walk over the segment (FORMAT.md 6.2).
    pub report: Report,
}

/// A place where the segments' event counts do not chain (SET.md 2): the segment after the one
/// starting at `first_index` should start at `expected` but starts at `found`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainBreak {
    /// The first index of the segment before the break.
    pub first_index: u64,
    /// Its first index plus its event count.
    pub expected: u64,
    /// The next segment's first index.
    pub found: u64,
}

/// The verdict of [`SetReader::verify`]: every segment walked in full, and the chain of first
/// indexes checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetReport {
    /// Each segment's verdict, in order.
    pub segments: Vec<SegmentReport>,
    /// Where the chain of first indexes breaks.
    pub breaks: Vec<ChainBreak>,
}

impl SetReport {
    /// Whether every segment is intact and the segments chain.
    pub fn is_intact(&self) -> bool {
        self.breaks.is_empty() && self.segments.iter().all(|s| s.report.is_intact())
    }

    /// The set's first available global index (0 for a set with no segment).
    pub fn first_index(&self) -> u64 {
        self.segments.first().map_or(0, |s| s.first_index)
    }

    /// The number of valid events in all segments.
    pub fn events(&self) -> u64 {
        self.segments.iter().map(|s| s.report.events).sum()
    }
}

impl SetReader {
    /// Opens the journal set in `dir` read-only: reads its metadata file and lists its segments
    /// (SET.md 3, 6). Fails with [`Error::BadSet`] if `dir` is not a set.
    pub fn open(dir: impl AsRef<Path>) -> Result<SetReader> {
        let dir = dir.as_ref();
        let meta = SetMeta::read(dir)?;
        let list = list_segments(dir)?;
        Ok(SetReader {
            dir: dir.to_path_buf(),
            meta,
            verify: true,
            known: Mutex::new(Known::from_list(&list, None)),
            wake: Box::new(WakeSlot::new(dir.join(WAKE_FILE))),
        })
    }

    /// Test hook (feature `test-hooks`): the longest sleep of this reader's blocking tailers when
    /// the writer's barrier is in place (FORMAT.md 15.4; 100 ms by default). A long one makes a
    /// lost wake-up visible as a hang.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn set_wake_recheck(&self, d: std::time::Duration) {
        self.wake.set_recheck(d);
    }

    /// Test hook (feature `test-hooks`): this reader's blocking tailers pause for `d` before each
    /// announcement that they sleep, as a tailer descheduled right after its last poll would: a
    /// publication, or a roll, then lands between the poll and the announcement (SET.md 6.5.1).
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn set_wake_pause(&self, d: std::time::Duration) {
        self.wake.set_pause(d);
    }

    /// Test hook (feature `test-hooks`): the blocking rounds this reader's tailers began with
    /// [`WaitStrategy::Block`] past its spins (each one poll, then a sleep on the set's wake-up
    /// file or, without a usable one, a back-off).
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn wait_rounds(&self) -> u64 {
        self.wake.rounds()
    }

    /// Whether cursors check each entry's CRC and padding (as [`Reader::set_verify_checksums`]).
    /// On by default.
    pub fn set_verify_checksums(&mut self, on: bool) {
        self.verify = on;
    }

    /// The set's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The set's metadata, as read at open.
    pub fn meta(&self) -> &SetMeta {
        &self.meta
    }

    /// The segments as the reader knows them (its last listing, plus segments found since).
    pub fn segments(&self) -> Vec<SegmentEntry> {
        self.known()
            .firsts
            .iter()
            .map(|f| SegmentEntry {
                first_index: *f,
                path: self.segment_path(*f),
            })
            .collect()
    }

    /// Lists the directory again, learning of segments added and removed since.
    pub fn refresh(&self) -> Result<()> {
        let list = list_segments(&self.dir)?;
        let mut known = self.known();
        *known = Known::from_list(&list, Some(&known));
        Ok(())
    }

    /// The set's first available global index as the reader knows it (0 for a set with no
    /// segment). More than 0 once retention removed the first segments (SET.md 8);
    /// [`SetReader::refresh`] learns of removals since the last listing.
    pub fn first_index(&self) -> u64 {
        self.known().firsts.first().copied().unwrap_or(0)
    }

    fn known(&self) -> MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn segment_path(&self, first: u64) -> PathBuf {
        self.dir.join(segment_name(first))
    }

    fn bad(&self, reason: String) -> Error {
        Error::BadSet {
            path: self.dir.clone(),
            reason,
        }
    }

    /// Opens segment `first` for reading.
    fn open_segment(&self, first: u64) -> Result<Opened> {
        let path = self.segment_path(first);
        match Reader::open(&path) {
            Ok(mut r) => {
                r.set_verify_checksums(self.verify);
                Ok(Opened::Reader(Arc::new(r)))
            }
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(Opened::Missing)
            }
            Err(e @ Error::NotAJournal { .. }) => match std::fs::metadata(&path) {
                // A writer creating the set's first segment under its name writes the header
                // first thing (FORMAT.md 3): a file shorter than that is being created, if it is
                // the newest segment (SET.md 6.1). With a later segment it never will be: its
                // creation never reached the disk (a power cut under `never`), and the set is
                // damaged there. The directory is listed again at most once per RELIST_IDLE, so
                // a later segment written meanwhile is noticed.
                Ok(m) if m.len() < crate::format::HEADER_LEN => {
                    let stale = {
                        let known = self.known();
                        known.after(first).is_none() && known.listed.elapsed() >= RELIST_IDLE
                    };
                    if stale {
                        self.refresh()?;
                    }
                    if self.known().after(first).is_some() {
                        Err(self.bad(format!(
                            "{} is shorter than a journal header and a later segment exists",
                            segment_name(first)
                        )))
                    } else {
                        Ok(Opened::Creating)
                    }
                }
                _ => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// The segment after the one starting at `first`, whose content ends at global index `end`:
    /// the next known one, else `end`'s segment if it exists now (the one `stat` of SET.md 6.2,
    /// on a path rewritten in `name`: no allocation), else none.
    fn successor(&self, first: u64, end: u64, name: &mut NameBuf) -> Result<Option<u64>> {
        if let Some(next) = self.known().after(first) {
            return Ok(Some(next));
        }
        // A sealed segment is never empty (SET.md 5): an empty one is the newest.
        if end <= first {
            return Ok(None);
        }
        let path = name.path(end);
        let exists = match std::fs::symlink_metadata(path) {
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(Error::io(path, "stat", e)),
        };
        if exists {
            self.known().note(end);
            return Ok(Some(end));
        }
        Ok(None)
    }

    /// [`Error::Pruned`] for global index `index`, held by segment `segment` (a file name), with
    /// the first index available now (after listing the directory again).
    fn pruned(&self, segment: String, index: u64) -> Error {
        if let Err(e) = self.refresh() {
            return e;
        }
        let known = self.known();
        match known.firsts.first() {
            Some(first) => Error::Pruned {
                path: self.dir.clone(),
                segment,
                index,
                first_available: *first,
            },
            None => self.bad(format!(
                "needs event {index} in segment {segment}, but the set has no segment left"
            )),
        }
    }

    /// The error for segments whose first indexes do not chain (SET.md 2).
    fn chain_error(&self, first: u64, events: u64, next: u64) -> Error {
        self.bad(format!(
            "segment {} holds {events} events, so the next segment should be {}, but it is {}: \
             the set is damaged (events lost or duplicated between segments)",
            segment_name(first),
            segment_name(first.saturating_add(events)),
            segment_name(next)
        ))
    }

    /// The largest timestamp in sealed segment `first` (`i64::MIN` if it has none): from its index
    /// (the checkpoint's maximum) and a walk of what lies past the checkpoint (SET.md 6).
    /// `Ok(None)` if the segment no longer exists.
    fn segment_max(&self, first: u64) -> Result<Option<i64>> {
        let reader = match self.open_segment(first)? {
            Opened::Reader(r) => r,
            Opened::Missing => return Ok(None),
            Opened::Creating => {
                return Err(self.bad(format!("{} has no header", segment_name(first))))
            }
        };
        let mut max = i64::MIN;
        let mut start = START;
        if let Ok(idx) = Index::load(&reader) {
            if let Ok(p) = idx.seek_index(&reader, u64::MAX) {
                if p.index > 0 {
                    max = idx.checkpoint_max_timestamp();
                    start = p;
                }
            }
        }
        for e in reader.iter_at(start.offset, start.index) {
            max = max.max(e?.timestamp);
        }
        Ok(Some(max))
    }

    /// Where a seek for the first event at or after `t` starts looking: the first segment that
    /// may hold one. Sealed segments whose largest timestamp is below `t` are skipped: by a
    /// binary search over the running maximum where it is known, then by computing the next
    /// segments' maxima (kept for later seeks).
    fn time_candidate(&self, t: i64) -> Result<Candidate> {
        let mut known = self.known();
        if known.prefix.last().is_some_and(|m| *m >= t) {
            let k = known.prefix.partition_point(|m| *m < t);
            return Ok(Candidate::Segment(known.firsts[k]));
        }
        let mut k = known.prefix.len();
        // Only sealed segments (those with a successor) are skipped on their maximum.
        while k + 1 < known.firsts.len() {
            let first = known.firsts[k];
            drop(known);
            let max = match self.segment_max(first) {
                Ok(Some(m)) => m,
                Ok(None) => return Ok(Candidate::Retry),
                // Damage or an I/O error: let the seek in this segment find what a walk finds.
                Err(_) => return Ok(Candidate::Segment(first)),
            };
            known = self.known();
            if known.firsts.get(k) != Some(&first) {
                return Ok(Candidate::Retry); // listed again meanwhile
            }
            known.maxima[k] = Some(max);
            known.extend_prefix();
            if max >= t {
                return Ok(Candidate::Segment(first));
            }
            k += 1;
        }
        Ok(match known.firsts.get(k) {
            Some(first) => Candidate::Segment(*first),
            None => Candidate::Empty,
        })
    }

    /// Walks every segment in full (CRC included) and checks that their first indexes chain
    /// (SET.md 2): the verdict. Lists the directory first; segments removed by retention before
    /// the walk reaches the first remaining one are left out. A newest segment shorter than a
    /// journal header is being created (SET.md 6.1, 7.2) and holds no events: its report has
    /// `events`, `end` and `write_offset` 0, and no damage.
    pub fn verify(&self) -> Result<SetReport> {
        self.refresh()?;
        let firsts = self.known().firsts.clone();
        let newest = firsts.last().copied();
        let mut segments: Vec<SegmentReport> = Vec::new();
        let mut breaks = Vec::new();
        for first in firsts {
            let (path, report) = match self.open_segment(first)? {
                Opened::Reader(r) => (r.path().to_path_buf(), r.verify()?),
                Opened::Missing if segments.is_empty() => continue, // pruned meanwhile
                Opened::Missing => return Err(self.pruned(segment_name(first), first)),
                Opened::Creating if Some(first) == newest => {
                    let path = self.segment_path(first);
                    let file_len = std::fs::metadata(&path).map_or(0, |m| m.len());
                    let report = Report {
                        events: 0,
                        end: 0,
                        write_offset: 0,
                        file_len,
                        event_count_hint: 0,
                        start_timestamp: 0,
                        damage: None,
                    };
                    (path, report)
                }
                Opened::Creating => {
                    return Err(self.bad(format!(
                        "{} is shorter than a journal header",
                        segment_name(first)
                    )))
                }
            };
            if let Some(prev) = segments.last() {
                let expected = prev.first_index.saturating_add(prev.report.events);
                if expected != first {
                    breaks.push(ChainBreak {
                        first_index: prev.first_index,
                        expected,
                        found: first,
                    });
                }
            }
            segments.push(SegmentReport {
                first_index: first,
                path,
                report,
            });
        }
        Ok(SetReport { segments, breaks })
    }

    /// Iterates over the set's events from the first available one. The iterator ends where the
    /// published content ends when it gets there (it crosses rolls made meanwhile). Errors
    /// (damage, a chain that breaks, a segment removed before the iterator reached it) are
    /// yielded once, then the iterator ends.
    pub fn iter(&self) -> SetIter<'_> {
        SetIter::new(Engine::at_start(self))
    }

    /// An iterator starting at global event `index` (or at the end of the set, if it has fewer
    /// events): a binary search over the segments' first indexes, then the segment's own
    /// index-backed seek ([`Reader::iter_from_index`]). [`Error::Pruned`] if `index` is below the
    /// set's first available index.
    pub fn iter_from_index(&self, index: u64) -> Result<SetIter<'_>> {
        Ok(SetIter::new(Engine::at_index(self, index)?))
    }

    /// An iterator starting at the first event, in global order, whose timestamp is `>= ts`
    /// (FORMAT.md 6.4 over the whole set: timestamps may go backwards within and across
    /// segments), or at the end of the set if there is none. The answer is exactly what a walk
    /// over every segment from the first gives.
    ///
    /// Sealed segments are skipped on their largest timestamp (from each segment's index and a
    /// walk of its last interval), which the reader keeps. Timestamps may go backwards across
    /// segments, so only the set's running maximum is monotone, and it is known only once every
    /// earlier segment's maximum is: the first seek past segments not seen yet opens each of them
    /// once (briefly, one at a time); later seeks into that range are a binary search over the
    /// running maximum and open only the segment found.
    pub fn iter_from_time(&self, ts: i64) -> Result<SetIter<'_>> {
        Ok(SetIter::new(Engine::at_time(self, ts)?))
    }

    /// A live tailer from the first available event: it follows the writer across rolls.
    pub fn tail(&self) -> SetTailer<'_> {
        SetTailer {
            engine: Engine::at_start(self),
        }
    }

    /// A live tailer starting at the end of the set as published now.
    pub fn tail_from_end(&self) -> Result<SetTailer<'_>> {
        Ok(SetTailer {
            engine: Engine::at_end(self)?,
        })
    }

    /// A live tailer that starts where `iter` stands (e.g. after a seek by time: replay then
    /// live, with no gap and no duplicate).
    pub fn tail_from<'s>(&'s self, iter: SetIter<'s>) -> SetTailer<'s> {
        iter.into_tailer()
    }

    /// A live tailer that owns (a share of) this reader, from the first available event: it can
    /// be stored next to other state or moved to another thread.
    pub fn into_tailer(self: Arc<Self>) -> OwnedSetTailer {
        OwnedSetTailer {
            engine: Engine::at_start(self),
        }
    }

    /// As [`SetReader::into_tailer`], starting at the end of the set as published now.
    pub fn into_tailer_from_end(self: Arc<Self>) -> Result<OwnedSetTailer> {
        Ok(OwnedSetTailer {
            engine: Engine::at_end(self)?,
        })
    }

    /// As [`SetReader::into_tailer`], starting at global event `index` (as
    /// [`SetReader::iter_from_index`]).
    pub fn into_tailer_from_index(self: Arc<Self>, index: u64) -> Result<OwnedSetTailer> {
        Ok(OwnedSetTailer {
            engine: Engine::at_index(self, index)?,
        })
    }

    /// As [`SetReader::into_tailer`], starting at the first event at or after `ts` in global
    /// order (as [`SetReader::iter_from_time`]).
    pub fn into_tailer_from_time(self: Arc<Self>, ts: i64) -> Result<OwnedSetTailer> {
        Ok(OwnedSetTailer {
            engine: Engine::at_time(self, ts)?,
        })
    }
}

/// The segment a cursor reads: its first global index and a follower over it.
struct Current {
    first: u64,
    tail: OwnedTailer,
}

impl Current {
    fn new(first: u64, reader: Arc<Reader>, at: Cursor) -> Current {
        Current {
            first,
            tail: reader.into_tailer_at(at),
        }
    }

    /// The global index of the next event.
    fn next_index(&self) -> u64 {
        self.first.saturating_add(self.tail.index())
    }

    /// Moves to `at` in the same segment.
    fn reposition(&mut self, at: Cursor) {
        let reader = Arc::clone(self.tail.reader());
        self.tail = reader.into_tailer_at(at);
    }

    fn position(&self) -> Position {
        Position {
            index: self.tail.index(),
            offset: self.tail.offset(),
        }
    }
}

/// A cursor over a set: the segment it reads (none before the set has a segment) and how it
/// crosses to the next (SET.md 6). Shared by the iterator and both tailers.
struct Engine<S: Deref<Target = SetReader>> {
    set: S,
    current: Option<Current>,
    /// Idle polls in a row that found no next segment.
    misses: u32,
    /// For an iterator: it yielded an error, and ends.
    ended: bool,
    /// An error found while positioning, for an iterator to yield first.
    error: Option<Error>,
    /// The path the one-`stat` rule checks.
    name: NameBuf,
}

impl<S: Deref<Target = SetReader>> Engine<S> {
    fn empty(set: S) -> Engine<S> {
        Engine {
            name: NameBuf::new(&set.dir),
            set,
            current: None,
            misses: 0,
            ended: false,
            error: None,
        }
    }

    /// At the first event of the first available segment.
    fn at_start(set: S) -> Engine<S> {
        let mut e = Engine::empty(set);
        for _ in 0..SEEK_ATTEMPTS {
            let Some(first) = e.set.known().firsts.first().copied() else {
                return e; // no segment yet: the first poll looks for one
            };
            match e.set.open_segment(first) {
                Ok(Opened::Reader(r)) => {
                    e.current = Some(Current::new(first, r, Cursor::START));
                    return e;
                }
                // Being created: the first poll opens it.
                Ok(Opened::Creating) => return e,
                Ok(Opened::Missing) => {
                    if let Err(err) = e.set.refresh() {
                        e.error = Some(err);
                        return e;
                    }
                }
                Err(err) => {
                    e.error = Some(err);
                    return e;
                }
            }
        }
        e.error = Some(
            e.set
                .bad("segments keep disappearing under the reader".into()),
        );
        e
    }

    /// At global event `g`, or the end of the set.
    fn at_index(set: S, g: u64) -> Result<Engine<S>> {
        let mut e = Engine::empty(set);
        for _ in 0..SEEK_ATTEMPTS {
            let (holding, first) = {
                let known = e.set.known();
                (known.holding(g), known.firsts.first().copied())
            };
            let Some(f) = holding else {
                return match first {
                    None => Ok(e), // no segment yet
                    Some(first) => Err(e.set.pruned(format!("before {}", segment_name(first)), g)),
                };
            };
            let r = match e.set.open_segment(f)? {
                Opened::Reader(r) => r,
                Opened::Missing => {
                    e.set.refresh()?;
                    continue;
                }
                // The set's first segment, being created: no event yet.
                Opened::Creating => return Ok(e),
            };
            e.current = Some(Current::new(f, r, Cursor::START));
            e.seek_on(|cur| {
                let local = g - cur.first;
                let reader = Arc::clone(cur.tail.reader());
                let start = cur.position();
                let it = if cur.tail.index() == 0 {
                    reader.iter_from_index(local)?
                } else {
                    reader.walk_to_index(start, local)?
                };
                let at = it.cursor();
                Ok((at.index >= local, at))
            })?;
            return Ok(e);
        }
        Err(e
            .set
            .bad("segments keep disappearing under the reader".into()))
    }

    /// At the first event whose timestamp is `>= t` in global order, or the end of the set.
    fn at_time(set: S, t: i64) -> Result<Engine<S>> {
        let mut e = Engine::empty(set);
        for _ in 0..SEEK_ATTEMPTS {
            let f = match e.set.time_candidate(t)? {
                Candidate::Segment(f) => f,
                Candidate::Empty => return Ok(e), // no segment yet
                Candidate::Retry => {
                    e.set.refresh()?;
                    continue;
                }
            };
            let r = match e.set.open_segment(f)? {
                Opened::Reader(r) => r,
                Opened::Missing => {
                    e.set.refresh()?;
                    continue;
                }
                // The set's first segment, being created: no event yet.
                Opened::Creating => return Ok(e),
            };
            e.current = Some(Current::new(f, r, Cursor::START));
            e.seek_on(|cur| {
                let reader = Arc::clone(cur.tail.reader());
                let start = cur.position();
                let mut it = if cur.tail.index() == 0 {
                    reader.iter_from_time(t)?
                } else {
                    reader.walk_to_time(start, t)?
                };
                let at = it.cursor();
                // The walk stops at the event found, or at the end of the content.
                let found = it.next().is_some();
                Ok((found, at))
            })?;
            return Ok(e);
        }
        Err(e
            .set
            .bad("segments keep disappearing under the reader".into()))
    }

    /// At the end of the set as published now.
    fn at_end(set: S) -> Result<Engine<S>> {
        let mut e = Engine::empty(set);
        for _ in 0..SEEK_ATTEMPTS {
            let Some(f) = e.set.known().firsts.last().copied() else {
                return Ok(e); // no segment yet: the first one's first event comes next
            };
            let r = match e.set.open_segment(f)? {
                Opened::Reader(r) => r,
                Opened::Missing => {
                    e.set.refresh()?;
                    continue;
                }
                // The set's first segment, being created: no event yet.
                Opened::Creating => return Ok(e),
            };
            e.current = Some(Current::new(f, r, Cursor::START));
            e.seek_on(|cur| {
                let reader = Arc::clone(cur.tail.reader());
                // From the index's checkpoint when the segment has a usable index (INDEX.md 8).
                let mut it = if cur.tail.index() == 0 {
                    reader.iter_from_index(u64::MAX)?
                } else {
                    reader.walk_to_index(cur.position(), u64::MAX)?
                };
                for ev in it.by_ref() {
                    ev?;
                }
                Ok((false, it.cursor()))
            })?;
            return Ok(e);
        }
        Err(e
            .set
            .bad("segments keep disappearing under the reader".into()))
    }

    /// Runs a seek from the current segment on: `seek` walks the current segment from the
    /// cursor and says whether it found its target (and where it stopped). At the end of a
    /// segment, the seek goes on in the next one if it exists (SET.md 6) and stops at the end of
    /// the newest; it never waits, and never chases a writer within the newest segment.
    fn seek_on(&mut self, mut seek: impl FnMut(&Current) -> Result<(bool, Cursor)>) -> Result<()> {
        let mut rounds_without_progress = 0u32;
        loop {
            let Some(cur) = self.current.as_mut() else {
                return Ok(());
            };
            let (found, at) = seek(cur)?;
            cur.reposition(at);
            if found {
                return Ok(());
            }
            let first = cur.first;
            let end = cur.next_index();
            match self.set.successor(first, end, &mut self.name)? {
                None => return Ok(()),
                Some(next) if next == end => match self.set.open_segment(next)? {
                    Opened::Reader(r) => {
                        self.current = Some(Current::new(next, r, Cursor::START));
                        rounds_without_progress = 0;
                    }
                    Opened::Missing => return Err(self.set.pruned(segment_name(next), next)),
                    Opened::Creating => return Ok(()),
                },
                Some(next) => {
                    // The segment was sealed after the walk: walk it again, once.
                    rounds_without_progress += 1;
                    if rounds_without_progress > 1 {
                        return Err(self.set.chain_error(first, end - first, next));
                    }
                }
            }
        }
    }

    /// The global index of the next event.
    fn index(&self) -> u64 {
        match &self.current {
            Some(cur) => cur.next_index(),
            None => self.set.first_index(),
        }
    }

    /// The path of the segment the cursor reads, if any.
    fn segment(&self) -> Option<&Path> {
        self.current.as_ref().map(|c| c.tail.reader().path())
    }

    /// Whether an event is published at the cursor now, crossing to the next segment when the
    /// current one is sealed and read to its end (SET.md 6). Never waits.
    fn step(&mut self) -> Result<bool> {
        loop {
            let Some(cur) = self.current.as_mut() else {
                return self.find_first();
            };
            if cur.tail.available()? {
                self.misses = 0;
                return Ok(true);
            }
            let first = cur.first;
            let n = cur.tail.index();
            let end = first
                .checked_add(n)
                .ok_or_else(|| self.set.bad("global event index overflows".into()))?;
            let Some(next) = self.set.successor(first, end, &mut self.name)? else {
                self.idle_check(first, end)?;
                return Ok(false);
            };
            // A later segment exists, so this one is sealed: its write_offset is final. Read it
            // once more (SET.md 6).
            if cur.tail.available()? {
                if next == end {
                    let more = cur.tail.index() + 1;
                    return Err(self.set.chain_error(first, more, next));
                }
                return Ok(true); // it holds more than the cursor had seen: read them first
            }
            if next != end {
                return Err(self.set.chain_error(first, n, next));
            }
            match self.set.open_segment(next)? {
                Opened::Reader(r) => self.current = Some(Current::new(next, r, Cursor::START)),
                Opened::Missing => return Err(self.set.pruned(segment_name(next), next)),
                Opened::Creating => return Ok(false),
            }
            self.misses = 0;
        }
    }

    /// Before the set has a segment: looks for the first one (a listing per call; a set has no
    /// segment only for a moment after its creation).
    #[cold]
    fn find_first(&mut self) -> Result<bool> {
        self.set.refresh()?;
        let Some(first) = self.set.known().firsts.first().copied() else {
            return Ok(false);
        };
        match self.set.open_segment(first)? {
            Opened::Reader(r) => {
                self.current = Some(Current::new(first, r, Cursor::START));
                self.step()
            }
            Opened::Missing | Opened::Creating => Ok(false),
        }
    }

    /// The current segment has no more events and no successor. If it was removed (retention
    /// removes whole segments, oldest first, never the newest), the segment that follows it was
    /// written and maybe removed too: list the directory and report [`Error::Pruned`] if a later
    /// segment exists but not the one needed (SET.md 8). Else, if the last listing is older than
    /// [`RELIST_IDLE`], list again: a later segment whose name is not the one expected (a broken
    /// chain, SET.md 6.6) is then reported by the next poll instead of waited on forever. Checked
    /// on one idle poll in [`REMOVED_CHECK_EVERY`].
    fn idle_check(&mut self, first: u64, end: u64) -> Result<()> {
        self.misses = self.misses.wrapping_add(1);
        if self.misses % REMOVED_CHECK_EVERY != 1 {
            return Ok(());
        }
        use std::os::unix::fs::MetadataExt;
        let Some(cur) = self.current.as_ref() else {
            return Ok(());
        };
        let reader = cur.tail.reader();
        let meta = reader
            .map()
            .file()
            .metadata()
            .map_err(|e| Error::io(reader.path(), "stat", e))?;
        if meta.nlink() > 0 {
            if self.set.known().listed.elapsed() >= RELIST_IDLE {
                self.set.refresh()?;
            }
            return Ok(());
        }
        self.set.refresh()?;
        let later = self.set.known().after(first);
        match later {
            Some(next) if next == end => Ok(()), // found at the next poll
            Some(_) => Err(self.set.pruned(segment_name(end), end)),
            None => Ok(()),
        }
    }

    /// The next event if one is published now. An error also ends an iterator (`ended`).
    fn next(&mut self) -> Result<Option<Event<'_>>> {
        if let Some(e) = self.error.take() {
            self.ended = true;
            return Err(e);
        }
        match self.step() {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) => {
                self.ended = true;
                return Err(e);
            }
        }
        let Some(cur) = self.current.as_mut() else {
            return Ok(None);
        };
        let first = cur.first;
        match cur.tail.poll() {
            Ok(found) => Ok(found.map(|e| Event {
                index: first + e.index,
                ..e
            })),
            Err(e) => {
                self.ended = true;
                Err(e)
            }
        }
    }

    fn wait(
        &mut self,
        strategy: WaitStrategy,
        deadline: Option<Instant>,
    ) -> Result<Option<Event<'_>>> {
        let mut round: u32 = 0;
        while !self.step()? {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
            if !(strategy.blocks(round) && self.sleep(deadline)?) {
                strategy.idle(round);
            }
            round = round.saturating_add(1);
        }
        self.next()
    }

    /// One blocking round ([`WaitStrategy::Block`] past its spins) after a step found nothing:
    /// sleeps on the set's wake-up file until the writer publishes, with the check of SET.md 6.5.1
    /// before it (the current segment's `write_offset`, then the next segment's name). Returns
    /// `Ok(false)` when it cannot sleep (no segment yet, a later segment already known, no usable
    /// wake-up file): the caller backs off instead.
    #[cold]
    fn sleep(&mut self, deadline: Option<Instant>) -> Result<bool> {
        let Some(cur) = self.current.as_ref() else {
            return Ok(false);
        };
        let first = cur.first;
        if self.set.known().after(first).is_some() {
            return Ok(false);
        }
        let end = first.saturating_add(cur.tail.index());
        let (set, name) = (&*self.set, &mut self.name);
        set.wake.sleep(deadline, || {
            Ok(cur.tail.moved()? || set.successor(first, end, name)?.is_some())
        })
    }
}

/// An iterator over a set's events; see [`SetReader::iter`]. Lending: each event borrows the
/// iterator, so walk it with `while let Some(event) = it.next_event()`.
pub struct SetIter<'s> {
    engine: Engine<&'s SetReader>,
}

impl std::fmt::Debug for SetIter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetIter")
            .field("set", &self.engine.set.dir)
            .field("index", &self.index())
            .finish()
    }
}

impl<'s> SetIter<'s> {
    fn new(engine: Engine<&'s SetReader>) -> SetIter<'s> {
        SetIter { engine }
    }

    /// The global index of the next event.
    pub fn index(&self) -> u64 {
        self.engine.index()
    }

    /// The path of the segment the iterator is reading, if any.
    pub fn segment(&self) -> Option<&Path> {
        self.engine.segment()
    }

    /// The next event, or `None` at the end of the published content. An error is yielded once,
    /// then the iterator ends.
    pub fn next_event(&mut self) -> Option<Result<Event<'_>>> {
        if self.engine.ended && self.engine.error.is_none() {
            return None;
        }
        self.engine.next().transpose()
    }

    /// A live tailer that goes on from where this iterator stands, in the segment it has open.
    pub fn into_tailer(self) -> SetTailer<'s> {
        SetTailer {
            engine: self.engine,
        }
    }
}

/// Follows a journal set as its writer appends and rolls; see [`SetReader::tail`].
///
/// [`SetTailer::poll`] never blocks. While events are available it makes no system call; when
/// it has caught up with its segment it makes one `stat` per call (is the next segment there?),
/// so it never waits more than one poll at a boundary. Errors: those of
/// [`Tailer::poll`](crate::Tailer::poll), [`Error::BadSet`] when the segments' counts do not
/// chain (SET.md 2), [`Error::Pruned`] when the segment it needs next was removed.
pub struct SetTailer<'s> {
    engine: Engine<&'s SetReader>,
}

impl std::fmt::Debug for SetTailer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetTailer")
            .field("set", &self.engine.set.dir)
            .field("index", &self.index())
            .finish()
    }
}

impl SetTailer<'_> {
    /// The global index of the next event.
    pub fn index(&self) -> u64 {
        self.engine.index()
    }

    /// The path of the segment the tailer is reading, if any.
    pub fn segment(&self) -> Option<&Path> {
        self.engine.segment()
    }

    /// The next event if one is published, without blocking.
    pub fn poll(&mut self) -> Result<Option<Event<'_>>> {
        self.engine.next()
    }

    /// Waits for the next event with `strategy`, until `deadline` (forever if `None`). Returns
    /// `Ok(None)` at the deadline.
    ///
    /// With [`WaitStrategy::Block`] the tailer sleeps in the kernel on the set's wake-up file
    /// `journal-set.wake` until the writer publishes in any segment, a roll included (spec/SET.md
    /// 6.5.1); where it cannot use the file it backs off with sleeps of at most 1 ms.
    pub fn wait(
        &mut self,
        strategy: WaitStrategy,
        deadline: Option<Instant>,
    ) -> Result<Option<Event<'_>>> {
        self.engine.wait(strategy, deadline)
    }
}

/// A [`SetTailer`] that holds its set reader through an [`Arc`]: no lifetime, so it can be kept
/// in a struct or moved to another thread. Made by [`SetReader::into_tailer`] and its siblings.
pub struct OwnedSetTailer {
    engine: Engine<Arc<SetReader>>,
}

impl std::fmt::Debug for OwnedSetTailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnedSetTailer")
            .field("set", &self.engine.set.dir)
            .field("index", &self.index())
            .finish()
    }
}

impl OwnedSetTailer {
    /// The set reader this tailer follows with.
    pub fn reader(&self) -> &Arc<SetReader> {
        &self.engine.set
    }

    /// The global index of the next event.
    pub fn index(&self) -> u64 {
        self.engine.index()
    }

    /// The path of the segment the tailer is reading, if any.
    pub fn segment(&self) -> Option<&Path> {
        self.engine.segment()
    }

    /// The next event if one is published, without blocking. As [`SetTailer::poll`].
    pub fn poll(&mut self) -> Result<Option<Event<'_>>> {
        self.engine.next()
    }

    /// Waits for the next event, as [`SetTailer::wait`].
    pub fn wait(
        &mut self,
        strategy: WaitStrategy,
        deadline: Option<Instant>,
    ) -> Result<Option<Event<'_>>> {
        self.engine.wait(strategy, deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_buffer_spells_segment_paths() {
        let dir = Path::new("/some/set");
        let mut name = NameBuf::new(dir);
        for first in [0, 7, 12_345_678_901, u64::MAX, 1] {
            assert_eq!(name.path(first), dir.join(segment_name(first)));
        }
    }
}
