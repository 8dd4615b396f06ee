//! What the reading commands are given: a journal file, or a journal set's directory (spec/SET.md)
//! read as one journal whose events carry global indexes. The commands walk a [`Source`]'s
//! [`Events`] without caring which it is.

use std::path::{Path, PathBuf};

use journal::set::layout::parse_segment_name;
use journal::set::{SetIter, SetReader};
use journal::{Error, Event, Iter, Reader};

use crate::commands;
use crate::exit::DataError;
use crate::output;

/// Whether `path` is a journal set (a directory holding a `journal-set` file, SET.md 2). Any other
/// directory is an error that says it is neither a journal nor a set.
pub fn is_set(path: &Path) -> anyhow::Result<bool> {
    if journal::set::is_set(path) {
        return Ok(true);
    }
    if path.is_dir() {
        anyhow::bail!(
            "{}: not a journal: not a regular file (a directory), and not a journal set (no \
             journal-set file in it)",
            output::path(path)
        );
    }
    Ok(false)
}

/// A journal file or a journal set, open for reading.
pub enum Source {
    /// One journal file.
    File(Box<Reader>),
    /// A journal set, with its segments' sizes at open (for progress).
    Set(SetReader, Vec<(u64, u64)>),
}

impl Source {
    /// Opens `path`: a directory is read as a journal set (an error says so if it is not one),
    /// anything else as a journal file.
    pub fn open(path: &Path) -> anyhow::Result<Source> {
        if is_set(path)? {
            let set = SetReader::open(path)?;
            // (first index, bytes of the segments before it), for progress over the whole set.
            let mut before = 0u64;
            let mut starts = Vec::new();
            for s in set.segments() {
                starts.push((s.first_index, before));
                before += std::fs::metadata(&s.path).map_or(0, |m| m.len());
            }
            starts.push((u64::MAX, before));
            Ok(Source::Set(set, starts))
        } else {
            commands::open_reader(path).map(|r| Source::File(Box::new(r)))
        }
    }

    /// The bytes a full walk covers (for a progress bar): the journal's content, or the size of
    /// the set's segment files.
    pub fn size(&self) -> anyhow::Result<u64> {
        Ok(match self {
            Source::File(r) => {
                let h = r.header()?;
                h.write_offset.min(h.file_len)
            }
            Source::Set(_, starts) => starts.last().map_or(0, |s| s.1),
        })
    }

    /// How far a walk has got, in bytes of [`Source::size`], at the event with global index
    /// `index` whose entry is at `offset` in its file.
    pub fn progress(&self, index: u64, offset: u64) -> u64 {
        match self {
            Source::File(_) => offset,
            Source::Set(_, starts) => {
                let k = starts.partition_point(|s| s.0 <= index);
                k.checked_sub(1).map_or(0, |k| starts[k].1) + offset
            }
        }
    }

    /// The events from global index `from_index` on, starting at the first one (in global order)
    /// whose timestamp is `>= from_time` if given: positioned there, or earlier. The caller still
    /// filters the events it reads by index and time (`RangeFilter`), so the result is exactly a
    /// linear filter over the whole walk.
    ///
    /// A journal file is always walked from its first event (every entry checked, as before). A
    /// set is positioned by its segments' names and indexes (SET.md 6.3, 6.4); if damage stops the
    /// seek, it is walked from its first event instead, so the damage is met where a walk meets
    /// it and reported the same way.
    pub fn events(&self, from_index: u64, from_time: Option<i64>) -> anyhow::Result<Events<'_>> {
        let set = match self {
            Source::File(r) => return Ok(Events::File(r.iter())),
            Source::Set(set, _) => set,
        };
        let seek = || -> journal::Result<Option<SetIter<'_>>> {
            if from_index <= set.first_index() && from_time.is_none() {
                return Ok(None);
            }
            let by_index = set.iter_from_index(from_index.max(set.first_index()))?;
            let Some(t) = from_time else {
                return Ok(Some(by_index));
            };
            let by_time = set.iter_from_time(t)?;
            // The first event at or after `t` in global order, if it is not before `from_index`;
            // else the filter looks for it from `from_index` on.
            Ok(Some(if by_time.index() >= by_index.index() {
                by_time
            } else {
                by_index
            }))
        };
        let it = match seek() {
            Ok(Some(it)) => it,
            Ok(None) | Err(Error::Damaged { .. }) | Err(Error::BadSet { .. }) => set.iter(),
            Err(e) => return Err(e.into()),
        };
        Ok(Events::Set(it))
    }
}

/// The events of a [`Source`], in order; see [`Source::events`]. Walk it with
/// `while let Some(item) = events.next_event()`.
pub enum Events<'a> {
    /// A journal file's events.
    File(Iter<'a>),
    /// A set's events, with global indexes.
    Set(SetIter<'a>),
}

impl Events<'_> {
    /// The next event, or `None` at the end. An error is yielded once, then the walk ends.
    #[inline]
    pub fn next_event(&mut self) -> Option<journal::Result<Event<'_>>> {
        match self {
            Events::File(it) => it.next(),
            Events::Set(it) => it.next_event(),
        }
    }

    /// The file being read and the number of events before the next one in it (its first global
    /// index subtracted): after a damage error, the valid events before the damage.
    fn position(&self) -> (Option<PathBuf>, u64) {
        match self {
            Events::File(it) => (None, it.index()),
            Events::Set(it) => {
                let first = it
                    .segment()
                    .and_then(|p| p.file_name())
                    .and_then(|n| n.to_str())
                    .and_then(parse_segment_name);
                (
                    it.segment().map(Path::to_path_buf),
                    it.index() - first.unwrap_or(0),
                )
            }
        }
    }

    /// The error to report for `e`, met while walking: damage (with the number of valid events
    /// before it in its file) and a set whose segments do not chain are "the data is bad"
    /// (status 1); anything else passes through.
    pub fn error(&self, e: Error) -> anyhow::Error {
        match e {
            Error::Damaged {
                path,
                offset,
                reason,
            } => {
                let (_, valid) = self.position();
                DataError(commands::damage_message(&path, offset, reason, valid)).into()
            }
            e @ Error::BadSet { .. } => DataError(e.to_string()).into(),
            e => e.into(),
        }
    }

    /// The name of the segment being read, for a set (to say where damage is).
    pub fn segment_name(&self) -> Option<String> {
        let (path, _) = self.position();
        path.as_deref()
            .and_then(Path::file_name)
            .map(|n| output::path(Path::new(n)))
    }
}
