//! Retention (SET.md 8): removing a set's oldest sealed segments by count, age or total size, while
//! a writer appends and readers read.
//!
//! What is removed:
//! - whole segments only, with their indexes, and only SEALED ones: a segment is sealed once a
//!   segment with a larger first index exists (SET.md 4), so the newest segment (the one a writer
//!   appends to) is never removed;
//! - oldest first and contiguously from the front: the set's first available global index moves
//!   forward, and no hole ever opens inside the chain. A segment that no limit removes stops the
//!   run, even if a later one would qualify (timestamps that go back across segments);
//! - a segment is removed when ANY limit of the [`PrunePolicy`] says so.
//!
//! Concurrency: pruning takes no writer lock. A writer only ever touches the newest segment and
//! the prepared `.next.journal` (SET.md 5), and a segment sealed when the directory was listed stays
//! sealed, so what a prune removes is never written again. A reader that has a removed segment
//! mapped keeps reading it (the mapping stays valid after the unlink); a reader that needs a
//! segment that is gone gets the set readers' error for a pruned segment. Two prunes serialise on an
//! `flock(2)` of [`PRUNE_LOCK_FILE`] in the set's directory, and a segment that vanished under a
//! prune anyway (removed by something that takes no lock) counts as removed, not as an error.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::index::{index_path, Index, START};
use crate::reader::Reader;
use crate::set::layout::{list_segments, Retention, SegmentEntry, SetMeta};
use crate::sys::sync_dir;

/// The file in a set's directory whose `flock(2)` one prune holds while it lists and removes
/// segments (SET.md 8). It is created on the first prune and never removed; it holds nothing.
pub const PRUNE_LOCK_FILE: &str = ".prune.lock";

/// Which segments a prune removes (SET.md 8). Each limit left `None` is off; a segment is removed
/// when any limit that is on says so. With every limit off, nothing is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrunePolicy {
    /// Keep at most this many segments, the newest included. `Some(0)` and `Some(1)` both leave the
    /// newest segment only: it is never removed.
    pub keep: Option<u64>,
    /// Remove segments whose newest event (largest timestamp) is older than this time, in
    /// nanoseconds since the epoch. A sealed segment without events has no newest event, and goes.
    pub before: Option<i64>,
    /// Remove segments until the set's segments and their indexes take at most this many bytes
    /// (file sizes), or only the newest segment is left.
    pub max_bytes: Option<u64>,
}

impl PrunePolicy {
    /// Whether any limit is on.
    pub fn is_active(&self) -> bool {
        self.keep.is_some() || self.before.is_some() || self.max_bytes.is_some()
    }

    /// The policy for a set's stored [`Retention`] (SET.md 3, 8), which a writer applies at a
    /// roll: its age limit counts back from `newest`, the newest event timestamp of the set
    /// (without one, the age limit is off). Limits that are 0 in the metadata are off.
    pub fn from_retention(retention: &Retention, newest: Option<i64>) -> PrunePolicy {
        let nonzero = |v: u64| (v != 0).then_some(v);
        PrunePolicy {
            keep: nonzero(retention.keep),
            before: nonzero(retention.max_age_ns).and_then(|age| {
                newest.map(|t| {
                    let before = i128::from(t) - i128::from(age);
                    before.max(i128::from(i64::MIN)) as i64
                })
            }),
            max_bytes: nonzero(retention.max_bytes),
        }
    }
}

/// The first limit, in the order keep, before, max-bytes, that removes a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// More segments than [`PrunePolicy::keep`].
    Keep,
    /// The segment's newest event is older than [`PrunePolicy::before`].
    Before,
    /// The set is larger than [`PrunePolicy::max_bytes`].
    MaxBytes,
}

impl Cause {
    /// The name of the limit as the CLI's flag spells it: `keep`, `before` or `max-bytes`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Cause::Keep => "keep",
            Cause::Before => "before",
            Cause::MaxBytes => "max-bytes",
        }
    }
}

/// What a segment holds, as far as retention and `info` need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentSummary {
    /// The global index of its first event (from its name).
    pub first_index: u64,
    /// Its valid events (up to damage, if any: FORMAT.md 6.2).
    pub events: u64,
    /// The timestamp of its first event.
    pub first_timestamp: Option<i64>,
    /// The largest timestamp of its events.
    pub newest_timestamp: Option<i64>,
    /// The segment file's size in bytes.
    pub segment_bytes: u64,
    /// Its index file's size in bytes (0 without one).
    pub index_bytes: u64,
    /// Whether its content ends at a damaged entry before `write_offset`.
    pub damaged: bool,
}

impl SegmentSummary {
    /// The global index of its last event, if it has one.
    pub fn last_index(&self) -> Option<u64> {
        self.events
            .checked_sub(1)
            .map(|n| self.first_index.saturating_add(n))
    }

    /// The segment's and its index's sizes together.
    pub fn bytes(&self) -> u64 {
        self.segment_bytes.saturating_add(self.index_bytes)
    }
}

/// One segment a prune removes (or, for [`plan`], would remove).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// The segment's path (its index is the same path with `.idx` appended, INDEX.md 2).
    pub path: PathBuf,
    /// What it holds.
    pub summary: SegmentSummary,
    /// Why it goes.
    pub cause: Cause,
}

/// Reads what a segment holds: its event count, first and newest timestamps, and its size.
///
/// Cheap for a segment with a current index (every sealed segment a writer closed has one): the
/// index's header gives the events and newest timestamp below its checkpoint (INDEX.md 3), and only
/// the content past the checkpoint is walked. Without a usable index the whole segment is walked.
/// The segment's content ends at damage, if any, as for [`Reader::verify`]; other read failures
/// are errors.
pub fn summarize(segment: &Path, first_index: u64) -> Result<SegmentSummary> {
    let reader = Reader::open(segment)?;
    let segment_bytes = reader.header()?.file_len;
    let index_bytes = file_len(&index_path(segment))?.unwrap_or(0);
    let (start, mut newest) = match Index::load_checkpoint(&reader) {
        Ok((pos, max)) => (pos, (pos.index > 0).then_some(max)),
        Err(_) => (START, None),
    };
    let mut first_timestamp = None;
    if start.index > 0 {
        // The first event is at the start of every journal: one entry read.
        if let Some(Ok(ev)) = reader.iter().next() {
            first_timestamp = Some(ev.timestamp);
        }
    }
    let mut it = reader.iter_at(start.offset, start.index);
    let mut damaged = false;
    for item in it.by_ref() {
        match item {
            Ok(ev) => {
                first_timestamp.get_or_insert(ev.timestamp);
                newest = Some(newest.map_or(ev.timestamp, |m: i64| m.max(ev.timestamp)));
            }
            Err(Error::Damaged { .. }) => damaged = true,
            Err(e) => return Err(e),
        }
    }
    Ok(SegmentSummary {
        first_index,
        events: it.index(),
        first_timestamp,
        newest_timestamp: newest,
        segment_bytes,
        index_bytes,
        damaged,
    })
}

/// What [`prune`] would remove from the set in `dir` under `policy` now, oldest first. Removes
/// nothing and takes no lock. Fails with [`Error::BadSet`] if `dir` is not a journal set.
pub fn plan(dir: &Path, policy: &PrunePolicy) -> Result<Vec<Removal>> {
    SetMeta::read(dir)?;
    plan_listed(dir, policy)
}

fn plan_listed(dir: &Path, policy: &PrunePolicy) -> Result<Vec<Removal>> {
    let mut out = Vec::new();
    if !policy.is_active() {
        return Ok(out);
    }
    // Sizes first: the max-bytes limit needs the total of every segment, the newest included.
    let mut segments: Vec<(SegmentEntry, u64)> = Vec::new();
    for seg in list_segments(dir)? {
        // A segment that vanished since the listing was removed by someone else: it is not ours.
        let Some(len) = file_len(&seg.path)? else {
            continue;
        };
        let idx = file_len(&index_path(&seg.path))?.unwrap_or(0);
        segments.push((seg, len.saturating_add(idx)));
    }
    let mut total: u64 = segments.iter().map(|s| s.1).sum();
    let n = segments.len() as u64;
    let by_keep = policy.keep.map_or(0, |k| n.saturating_sub(k.max(1)));
    // Every segment but the newest is sealed (SET.md 4); only those are candidates.
    for (i, (seg, bytes)) in segments
        .iter()
        .enumerate()
        .take(segments.len().saturating_sub(1))
    {
        let keep = (i as u64) < by_keep;
        let size = policy.max_bytes.is_some_and(|max| total > max);
        if !keep && !size && policy.before.is_none() {
            break;
        }
        let summary = match summarize(&seg.path, seg.first_index) {
            Ok(s) => s,
            Err(e) if is_not_found(&e) => {
                total = total.saturating_sub(*bytes);
                continue;
            }
            Err(e) => return Err(e),
        };
        let old = policy
            .before
            .is_some_and(|t| summary.newest_timestamp.is_none_or(|ts| ts < t));
        let cause = if keep {
            Cause::Keep
        } else if old {
            Cause::Before
        } else if size {
            Cause::MaxBytes
        } else {
            break;
        };
        total = total.saturating_sub(*bytes);
        out.push(Removal {
            path: seg.path.clone(),
            summary,
            cause,
        });
    }
    Ok(out)
}

/// Removes from the set in `dir` the segments [`plan`] lists under `policy`, oldest first, and says
/// what it removed (SET.md 8). For each segment its index is unlinked first, then the segment (a
/// crash between the two leaves a segment without an index, which is only a cache); the directory
/// is fsynced once at the end. Safe while a writer appends and readers read (see the module's
/// documentation). Waits while another prune of the same set runs, then plans afresh.
pub fn prune(dir: &Path, policy: &PrunePolicy) -> Result<Vec<Removal>> {
    SetMeta::read(dir)?;
    let _lock = lock(dir)?;
    let removals = plan_listed(dir, policy)?;
    for r in &removals {
        remove(&index_path(&r.path))?;
        remove(&r.path)?;
    }
    if !removals.is_empty() {
        sync_dir(dir)?;
    }
    Ok(removals)
}

/// Takes the set's prune lock ([`PRUNE_LOCK_FILE`]), waiting for another prune to finish. Held
/// until the returned file is dropped.
fn lock(dir: &Path) -> Result<File> {
    let path = dir.join(PRUNE_LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io(&path, "open", e))?;
    file.lock().map_err(|e| Error::io(&path, "flock", e))?;
    Ok(file)
}

/// Unlinks `path`; one that is already gone is not an error.
fn remove(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, "unlink", e)),
    }
}

/// The length of the file at `path`, or `None` if there is none.
fn file_len(path: &Path) -> Result<Option<u64>> {
    match fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m.len())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, "stat", e)),
    }
}

fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::set::layout::segment_name;
    use crate::Writer;

    /// A set whose segments hold `counts[i]` events each, event `g` (global) at time `g * 10`.
    fn set(counts: &[u64]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        SetMeta::default().write(dir.path()).unwrap();
        let mut first = 0;
        for &n in counts {
            let mut w = Writer::options()
                .chunk_size(4096)
                .create(dir.path().join(segment_name(first)))
                .unwrap();
            for g in first..first + n {
                w.append(g as i64 * 10, b"x").unwrap();
            }
            w.close().unwrap();
            first += n;
        }
        dir
    }

    #[test]
    fn summary_reads_only_past_the_index_checkpoint() {
        let dir = set(&[1000, 5]);
        let seg = dir.path().join(segment_name(0));
        let s = summarize(&seg, 0).unwrap();
        assert_eq!(s.events, 1000);
        assert_eq!(s.first_timestamp, Some(0));
        assert_eq!(s.newest_timestamp, Some(9990));
        assert_eq!(s.last_index(), Some(999));
        assert!(s.index_bytes > 0 && !s.damaged);
        // Damage in the middle, below the index's checkpoint: the summary does not walk there (the
        // index vouches for the content below its checkpoint, INDEX.md 10)...
        let r = Reader::open(&seg).unwrap();
        let at = r.iter().nth(500).unwrap().unwrap().end() - 1;
        drop(r);
        let mut bytes = fs::read(&seg).unwrap();
        bytes[at as usize] ^= 0xff;
        fs::write(&seg, &bytes).unwrap();
        let t = summarize(&seg, 0).unwrap();
        assert_eq!(
            (t.events, t.newest_timestamp, t.damaged),
            (1000, Some(9990), false)
        );
        // ...while without the index the whole segment is walked, and the content ends there.
        fs::remove_file(index_path(&seg)).unwrap();
        let u = summarize(&seg, 0).unwrap();
        assert_eq!(
            (u.events, u.newest_timestamp, u.damaged),
            (500, Some(4990), true)
        );
        assert_eq!(u.index_bytes, 0);
    }

    #[test]
    fn the_stored_retention_becomes_a_policy() {
        let off = Retention::default();
        assert!(!PrunePolicy::from_retention(&off, Some(5)).is_active());
        let r = Retention {
            keep: 24,
            max_bytes: 1 << 30,
            max_age_ns: 100,
        };
        assert_eq!(
            PrunePolicy::from_retention(&r, Some(1_000)),
            PrunePolicy {
                keep: Some(24),
                before: Some(900),
                max_bytes: Some(1 << 30),
            }
        );
        // No newest event: no age limit. An age reaching past i64::MIN saturates.
        assert_eq!(PrunePolicy::from_retention(&r, None).before, None);
        let old = Retention {
            max_age_ns: u64::MAX,
            ..off
        };
        assert_eq!(
            PrunePolicy::from_retention(&old, Some(-5)).before,
            Some(i64::MIN)
        );
    }

    #[test]
    fn a_directory_without_metadata_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let policy = PrunePolicy {
            keep: Some(1),
            ..PrunePolicy::default()
        };
        assert!(matches!(
            plan(dir.path(), &policy),
            Err(Error::BadSet { .. })
        ));
        assert!(matches!(
            prune(dir.path(), &policy),
            Err(Error::BadSet { .. })
        ));
        // No lock file was left in a directory that is not a set.
        assert!(!dir.path().join(PRUNE_LOCK_FILE).exists());
    }
}
