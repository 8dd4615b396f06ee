//! Journal sets (spec/SET.md) for Python: a directory of segments read as one journal through
//! the library's [`SetReader`] (the chain of segments, seeks by global index and by time, and
//! tailers that cross rolls are the library's).
//!
//! Positions: the Python object numbers events from 0 at the set's first available event (its
//! first global index, more than 0 once retention removed segments); each event's `index` is its
//! global index. For a set that retention never touched the two are the same.
//!
//! Payloads are zero-copy: a payload's `memoryview` is a slice of a view over its segment's
//! mapping, made through a [`Reader`] of that segment which the view keeps alive (the set's own
//! cursors unmap a segment when they leave it, so they cannot lend their mapping). A segment's
//! bytes below its published end never change (FORMAT.md 10), so this reader sees the bytes the
//! set's cursor validated.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use journal::set::{layout, SetReader};
use journal::{Error, Reader};
use pyo3::exceptions::{PyIndexError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;

use crate::{to_py, view, ArrowColumns, ArrowSink, JournalError, PyEvent, Span};

/// A view over one segment's mapping, file offset 0 to `len`, and the segment's reader.
pub(crate) struct SegView {
    first: u64,
    reader: Arc<Reader>,
    view: PyObject,
    len: usize,
}

/// The view of segment `first` that reaches at least file offset `need`: the cached one, or a
/// new one (over the cached reader's grown mapping, or a new reader's).
fn seg_view(
    py: Python<'_>,
    set: &SetReader,
    cache: &mut Option<SegView>,
    first: u64,
    need: usize,
) -> PyResult<PyObject> {
    if let Some(c) = cache.as_ref() {
        if c.first == first && c.len >= need {
            return Ok(c.view.clone_ref(py));
        }
    }
    let reader = match cache.take() {
        Some(c) if c.first == first => c.reader,
        _ => {
            let path = set.dir().join(layout::segment_name(first));
            Arc::new(
                py.allow_threads(|| Reader::open(&path))
                    .map_err(|e| to_py(py, &e))?,
            )
        }
    };
    let (addr, len) = {
        let body = reader.body().map_err(|e| to_py(py, &e))?;
        (
            body.as_ptr() as usize - journal::HEADER_LEN as usize,
            body.len() + journal::HEADER_LEN as usize,
        )
    };
    if len < need {
        return Err(JournalError::new_err(format!(
            "{}: segment {} ends before offset {need}, where the set's reader read an event \
             (the segment was replaced or truncated)",
            set.dir().display(),
            layout::segment_name(first)
        )));
    }
    let owner: Arc<dyn Any + Send + Sync> = reader.clone();
    let v = view(
        py,
        Span {
            _owner: owner,
            addr,
            len,
            typestr: "|u1",
            itemsize: 1,
        },
    )?;
    *cache = Some(SegView {
        first,
        reader,
        view: v.clone_ref(py),
        len,
    });
    Ok(v)
}

/// The first global index of the segment at `path` (its name, SET.md 2).
fn segment_first(path: Option<&Path>) -> Option<u64> {
    layout::parse_segment_name(path?.file_name()?.to_str()?)
}

/// An event read from a set: global index, timestamp, offset in its segment, size, and the
/// segment's first index.
#[derive(Clone, Copy)]
struct SetRow {
    index: u64,
    timestamp: i64,
    offset: u64,
    size: u32,
    seg: u64,
}

/// Reads events from a set cursor into rows, noting each one's segment (compared by path, parsed
/// only when it changes).
struct SegTracker {
    path: PathBuf,
    first: u64,
}

impl SegTracker {
    fn new() -> SegTracker {
        SegTracker {
            path: PathBuf::new(),
            first: 0,
        }
    }

    fn first(&mut self, seg: Option<&Path>) -> u64 {
        match seg {
            Some(p) if p == self.path => self.first,
            Some(p) => {
                self.path = p.to_path_buf();
                self.first = segment_first(Some(p)).unwrap_or(0);
                self.first
            }
            None => self.first,
        }
    }
}

/// Up to `n` events from global index `from`, and the error that ended them early.
fn read_rows(set: &SetReader, from: u64, n: usize) -> (Vec<SetRow>, Option<Error>) {
    let mut rows = Vec::with_capacity(n.min(1 << 16));
    let mut it = match set.iter_from_index(from) {
        Ok(it) => it,
        Err(e) => return (rows, Some(e)),
    };
    let mut seg = SegTracker::new();
    while rows.len() < n {
        let (index, timestamp, offset, size) = match it.next_event() {
            None => break,
            Some(Err(e)) => return (rows, Some(e)),
            Some(Ok(ev)) => (ev.index, ev.timestamp, ev.offset, ev.payload.len() as u32),
        };
        rows.push(SetRow {
            index,
            timestamp,
            offset,
            size,
            seg: seg.first(it.segment()),
        });
    }
    (rows, None)
}

/// The whole walk over a set's events up to the snapshot's end, as columns.
struct SetTable {
    timestamps: Vec<i64>,
    offsets: Vec<u64>,
    sizes: Vec<u32>,
    /// The first global index of each event's segment.
    segs: Vec<u64>,
    error: Option<Arc<Error>>,
}

impl SetTable {
    fn count(&self) -> usize {
        self.timestamps.len()
    }
}

/// The set's extent when first counted: its first available global index and the global index
/// just past its last published event.
#[derive(Clone, Copy)]
struct Extent {
    first: u64,
    end: u64,
}

/// An open journal set; the Python `Journal` stands on it as on a single journal's core.
#[pyclass(frozen, module = "journal._journal")]
pub(crate) struct SetCore {
    set: Arc<SetReader>,
    extent: OnceLock<Result<Extent, Arc<Error>>>,
    table: OnceLock<Arc<SetTable>>,
    spans: GILOnceCell<(PyObject, PyObject, PyObject)>,
}

impl SetCore {
    /// The extent (once): the first available index and the end, found by a seek (a binary
    /// search over the segments, then the last segment's index, O(log n)).
    fn extent(&self, py: Python<'_>) -> Result<Extent, Arc<Error>> {
        let set = &self.set;
        py.allow_threads(|| {
            self.extent
                .get_or_init(|| {
                    let first = set.first_index();
                    let end = set.iter_from_index(u64::MAX).map_err(Arc::new)?.index();
                    Ok(Extent {
                        first,
                        end: end.max(first),
                    })
                })
                .clone()
        })
    }

    /// The whole walk (once, with the GIL released): every event from the first available to the
    /// extent's end, or to the first error.
    fn table(&self, py: Python<'_>) -> Arc<SetTable> {
        if let Some(t) = self.table.get() {
            return t.clone();
        }
        let ext = self.extent(py);
        let set = &self.set;
        py.allow_threads(|| {
            self.table
                .get_or_init(|| {
                    let (first, n) = match ext {
                        Ok(e) => (e.first, (e.end - e.first) as usize),
                        // The seek failed: the walk finds where the content ends.
                        Err(_) => (set.first_index(), usize::MAX),
                    };
                    let (rows, err) = read_rows(set, first, n);
                    Arc::new(SetTable {
                        timestamps: rows.iter().map(|r| r.timestamp).collect(),
                        offsets: rows.iter().map(|r| r.offset).collect(),
                        sizes: rows.iter().map(|r| r.size).collect(),
                        segs: rows.iter().map(|r| r.seg).collect(),
                        error: err.map(Arc::new),
                    })
                })
                .clone()
        })
    }

    /// The first available global index (the extent's, or the set's if the seek failed).
    fn first(&self, py: Python<'_>) -> u64 {
        match self.extent(py) {
            Ok(e) => e.first,
            Err(_) => self.set.first_index(),
        }
    }

    /// The count and the error that ended the content early, without a walk if possible.
    fn count(&self, py: Python<'_>, full: bool) -> (usize, Option<Arc<Error>>) {
        if !full && self.table.get().is_none() {
            if let Ok(e) = self.extent(py) {
                return ((e.end - e.first) as usize, None);
            }
        }
        let t = self.table(py);
        (t.count(), t.error.clone())
    }

    fn check_range(&self, py: Python<'_>, start: usize, stop: usize) -> PyResult<()> {
        let (n, err) = self.count(py, false);
        if start > stop || stop > n {
            if let (Some(e), true) = (err, stop > n) {
                return Err(to_py(py, &e));
            }
            return Err(PyIndexError::new_err(format!(
                "range {start}..{stop} is outside the set's {n} events"
            )));
        }
        Ok(())
    }

    fn make_event(
        &self,
        py: Python<'_>,
        cache: &mut Option<SegView>,
        row: SetRow,
    ) -> PyResult<PyEvent> {
        let start = (row.offset + journal::ENTRY_HEADER_LEN) as usize;
        let buf = seg_view(py, &self.set, cache, row.seg, start + row.size as usize)?;
        Ok(PyEvent {
            index: row.index,
            timestamp: row.timestamp,
            offset: row.offset,
            size: row.size,
            buf,
            start,
        })
    }
}

#[pymethods]
impl SetCore {
    /// Opens the set in directory `path`; `verify_checksums` as
    /// [`SetReader::set_verify_checksums`].
    #[new]
    #[pyo3(signature = (path, verify_checksums=true))]
    fn new(py: Python<'_>, path: PathBuf, verify_checksums: bool) -> PyResult<SetCore> {
        if !layout::is_set(&path) {
            // A directory, but neither a journal nor a set.
            return Err(crate::NotAJournalError::new_err(format!(
                "{}: a directory that is not a journal set (SET.md 3: no metadata file)",
                path.display()
            )));
        }
        let mut set = py
            .allow_threads(|| SetReader::open(&path))
            .map_err(|e| to_py(py, &e))?;
        set.set_verify_checksums(verify_checksums);
        Ok(SetCore {
            set: Arc::new(set),
            extent: OnceLock::new(),
            table: OnceLock::new(),
            spans: GILOnceCell::new(),
        })
    }

    /// The set's directory.
    #[getter]
    fn path(&self) -> PathBuf {
        self.set.dir().to_path_buf()
    }

    /// The global index of the first event presented (position 0).
    #[getter]
    fn first_index(&self, py: Python<'_>) -> u64 {
        self.first(py)
    }

    /// As `Core.scan`: the number of events and the exception that ended the content early.
    #[pyo3(signature = (full=false))]
    fn scan(&self, py: Python<'_>, full: bool) -> (usize, Option<PyObject>) {
        let (n, err) = self.count(py, full);
        let err = err.map(|e| to_py(py, &e).into_value(py).into_any());
        (n, err)
    }

    /// Whether the whole set was walked.
    fn walked(&self) -> bool {
        self.table.get().is_some()
    }

    /// The event at position `i`: a seek by global index (the library's, O(log n)).
    fn event(&self, py: Python<'_>, i: usize) -> PyResult<PyEvent> {
        self.check_range(py, i, i + 1)?;
        let from = self.first(py) + i as u64;
        let set = &self.set;
        let (rows, err) = py.allow_threads(|| read_rows(set, from, 1));
        match (rows.first(), err) {
            (Some(row), _) => self.make_event(py, &mut None, *row),
            (None, Some(e)) => Err(to_py(py, &e)),
            (None, None) => Err(JournalError::new_err(format!(
                "{}: the set ends before event {from}",
                self.set.dir().display()
            ))),
        }
    }

    /// An iterator over positions `start..stop`, read from the set in batches with the GIL
    /// released. If `strict`, an error met on the way is raised after the events before it.
    fn iter(
        slf: &Bound<'_, Self>,
        py: Python<'_>,
        start: usize,
        stop: usize,
        strict: bool,
    ) -> PyResult<SetEventIter> {
        let core = slf.get();
        core.check_range(py, start, stop)?;
        let (n, err) = core.count(py, false);
        let first = core.first(py);
        Ok(SetEventIter {
            core: slf.clone().unbind(),
            next: first + start as u64,
            stop: first + stop as u64,
            strict,
            end_error: if strict && stop == n { err } else { None },
            chunk: Vec::new(),
            pos: 0,
            chunk_len: crate::FIRST_CHUNK,
            pending: None,
            cache: None,
        })
    }

    /// Spans over the walk's timestamps, offsets (in each event's segment) and sizes.
    fn columns(&self, py: Python<'_>) -> PyResult<(PyObject, PyObject, PyObject)> {
        let t = self.table(py);
        let v = self.spans.get_or_try_init(py, || -> PyResult<_> {
            let owner: Arc<dyn Any + Send + Sync> = t.clone();
            crate::column_spans(py, &owner, &t.timestamps, &t.offsets, &t.sizes)
        })?;
        Ok((v.0.clone_ref(py), v.1.clone_ref(py), v.2.clone_ref(py)))
    }

    /// The first global index of each event's segment (from the walk), a `<u8` span.
    fn segments(&self, py: Python<'_>) -> Span {
        let t = self.table(py);
        let owner: Arc<dyn Any + Send + Sync> = t.clone();
        Span {
            addr: t.segs.as_ptr() as usize,
            len: t.segs.len(),
            _owner: owner,
            typestr: "<u8",
            itemsize: 8,
        }
    }

    /// The smallest and largest timestamp of positions `start..stop` (from the walk).
    fn time_range(
        &self,
        py: Python<'_>,
        start: usize,
        stop: usize,
    ) -> PyResult<Option<(i64, i64)>> {
        let t = self.table(py);
        if start > stop || stop > t.count() {
            return Err(PyIndexError::new_err(format!(
                "range {start}..{stop} is outside the set's {} events",
                t.count()
            )));
        }
        let ts = &t.timestamps[start..stop];
        Ok(py.allow_threads(|| Some((*ts.iter().min()?, *ts.iter().max()?))))
    }

    /// As `Core.between`, over the whole set: the first event of the set whose timestamp is
    /// `>= from` is found by the library's seek by time (SetReader::iter_from_time); when it lies
    /// before the slice, the slice is scanned from its start.
    #[pyo3(signature = (start, stop, from_ns=None, to_ns=None))]
    fn between(
        &self,
        py: Python<'_>,
        start: usize,
        stop: usize,
        from_ns: Option<i64>,
        to_ns: Option<i64>,
    ) -> PyResult<(usize, usize)> {
        self.check_range(py, start, stop)?;
        let first = self.first(py);
        let set = &self.set;
        let table = self.table.get().cloned();
        let locate = |lo: usize, ts: i64| -> journal::Result<usize> {
            if lo >= stop {
                return Ok(stop);
            }
            if let Some(t) = &table {
                return Ok((lo..stop).find(|&i| t.timestamps[i] >= ts).unwrap_or(stop));
            }
            let g = set.iter_from_time(ts)?.index();
            let g = g.saturating_sub(first) as usize;
            if g >= lo {
                return Ok(g.min(stop));
            }
            let mut it = set.iter_from_index(first + lo as u64)?;
            let mut i = lo;
            while i < stop {
                match it.next_event() {
                    None => break,
                    Some(Err(e)) => return Err(e),
                    Some(Ok(ev)) if ev.timestamp >= ts => return Ok(i),
                    Some(Ok(_)) => i += 1,
                }
            }
            Ok(stop)
        };
        py.allow_threads(|| -> journal::Result<(usize, usize)> {
            let a = match from_ns {
                Some(f) => locate(start, f)?,
                None => start,
            };
            let b = match to_ns {
                Some(t) => locate(a, t)?,
                None => stop,
            };
            Ok((a, b))
        })
        .map_err(|e| to_py(py, &e))
    }

    /// As `Core.arrow_columns`, in one pass over the set's cursor.
    #[pyo3(signature = (start, stop, strict, chunk_bytes=i32::MAX as usize))]
    fn arrow_columns(
        &self,
        py: Python<'_>,
        start: usize,
        stop: usize,
        strict: bool,
        chunk_bytes: usize,
    ) -> PyResult<ArrowColumns> {
        self.check_range(py, start, stop)?;
        let first = self.first(py);
        let set = &self.set;
        let n = stop - start;
        let (sink, err) = py.allow_threads(|| {
            let mut sink = ArrowSink::new(first + start as u64, n, 0, chunk_bytes);
            let mut it = match set.iter_from_index(first + start as u64) {
                Ok(it) => it,
                Err(e) => return (sink, Some(e)),
            };
            while sink.rows < n {
                match it.next_event() {
                    None => break,
                    Some(Err(e)) => return (sink, Some(e)),
                    Some(Ok(ev)) => sink.push(ev.timestamp, ev.payload),
                }
            }
            (sink, None)
        });
        let first = first + start as u64;
        let mut sink = sink;
        sink.seal();
        match err {
            None if sink.rows == n => Ok(crate::arrow_columns_of(vec![sink])),
            None => Err(JournalError::new_err(format!(
                "{}: the set ends before event {}",
                self.set.dir().display(),
                first + sink.rows as u64
            ))),
            Some(e) if strict => Err(to_py(py, &e)),
            Some(_) => Ok(crate::arrow_columns_of(vec![sink])),
        }
    }

    /// For `to_numpy`: if every payload of positions `start..stop` is `itemsize` bytes, the
    /// payloads copied back to back (a set's events lie in several files, so no single strided
    /// view reaches them) and the stride (`itemsize`); else None.
    fn strided(
        &self,
        py: Python<'_>,
        start: usize,
        stop: usize,
        itemsize: usize,
    ) -> PyResult<Option<(Span, usize)>> {
        let t = self.table(py);
        if start > stop || stop > t.count() {
            return Err(PyIndexError::new_err("range outside the set"));
        }
        if start == stop || t.sizes[start..stop].iter().any(|&s| s as usize != itemsize) {
            return Ok(None);
        }
        let (_, _, chunks) = self.arrow_columns(py, start, stop, true, i32::MAX as usize)?;
        if chunks.len() != 1 {
            return Err(PyValueError::new_err(
                "the payloads exceed 2 GiB: take a slice of the set",
            ));
        }
        let (_, _, data) = chunks.into_iter().next().expect("one chunk");
        Ok(Some((data, itemsize)))
    }

    /// A follower of the live set (across rolls), from the first available event or from the
    /// current end.
    fn follow(&self, py: Python<'_>, from_end: bool) -> PyResult<crate::Follower> {
        let s = self.set.clone();
        let tailer = if from_end {
            py.allow_threads(|| s.into_tailer_from_end())
                .map_err(|e| to_py(py, &e))?
        } else {
            s.into_tailer()
        };
        Ok(crate::Follower::of_set(tailer))
    }
}

/// Iterator over positions of a set, read in batches (doubling up to `MAX_CHUNK`).
#[pyclass(module = "journal._journal")]
pub(crate) struct SetEventIter {
    core: Py<SetCore>,
    /// The global index of the next event to read from the set.
    next: u64,
    /// The global index to stop at.
    stop: u64,
    strict: bool,
    /// The error that ended the content, raised after the last event (if `strict`).
    end_error: Option<Arc<Error>>,
    chunk: Vec<SetRow>,
    pos: usize,
    chunk_len: usize,
    /// The error that ended the last batch, after its events.
    pending: Option<Error>,
    cache: Option<SegView>,
}

#[pymethods]
impl SetEventIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<PyEvent>> {
        if self.pos >= self.chunk.len() {
            if let Some(e) = self.pending.take() {
                self.stop = self.next;
                self.end_error = None;
                return if self.strict {
                    Err(to_py(py, &e))
                } else {
                    Ok(None)
                };
            }
            if self.next >= self.stop {
                return match self.end_error.take() {
                    Some(e) => Err(to_py(py, &e)),
                    None => Ok(None),
                };
            }
            let n = (self.chunk_len as u64).min(self.stop - self.next) as usize;
            self.chunk_len = (self.chunk_len * 2).min(crate::MAX_CHUNK);
            let core = self.core.get();
            let from = self.next;
            let (rows, err) = py.allow_threads(|| read_rows(&core.set, from, n));
            if rows.is_empty() && err.is_none() {
                // The set ends before the count it gave (a segment removed meanwhile).
                self.stop = self.next;
                return Err(JournalError::new_err(format!(
                    "{}: the set ends before event {from}",
                    core.set.dir().display()
                )));
            }
            self.next += rows.len() as u64;
            self.chunk = rows;
            self.pos = 0;
            self.pending = err;
            if self.chunk.is_empty() {
                return self.__next__(py);
            }
        }
        let row = self.chunk[self.pos];
        self.pos += 1;
        let core = self.core.get();
        core.make_event(py, &mut self.cache, row).map(Some)
    }
}

/// Makes a set follower's event: its payload is a view of its segment (cached per segment).
pub(crate) fn follow_event(
    py: Python<'_>,
    set: &SetReader,
    cache: &mut Option<SegView>,
    ev: (u64, i64, u64, usize),
    seg: Option<u64>,
) -> PyResult<PyEvent> {
    let (index, timestamp, offset, len) = ev;
    let seg = seg.ok_or_else(|| {
        JournalError::new_err(format!(
            "{}: an event without a segment",
            set.dir().display()
        ))
    })?;
    let start = (offset + journal::ENTRY_HEADER_LEN) as usize;
    let buf = seg_view(py, set, cache, seg, start + len)?;
    Ok(PyEvent {
        index,
        timestamp,
        offset,
        size: len as u32,
        buf,
        start,
    })
}

/// The segment cache a set follower keeps.
pub(crate) type FollowCache = Option<SegView>;

/// The first global index of the segment a tailer reads.
pub(crate) fn tailer_segment(t: &journal::OwnedSetTailer) -> Option<u64> {
    segment_first(t.segment())
}
