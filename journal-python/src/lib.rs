//! The native half of the `journal` Python package: a thin layer over the `journal` library's
//! [`Reader`], [`OwnedTailer`] and index (no second decoder). The Python half
//! (`python/journal/__init__.py`) builds the public API on these primitives.
//!
//! Zero copy without `unsafe`: memory is handed to NumPy as a [`Span`], an object with an
//! `__array_interface__` (address, length, read-only) that owns what keeps the memory alive (the
//! reader's mapping through an `Arc`, or a vector). `numpy.asarray(span)` keeps the span as the
//! array's base, and a `memoryview` of the array keeps the array; so every view holds a strong
//! reference to the mapping. Events are published only up to `write_offset` and a reader's
//! mapping never moves or shrinks while it lives (FORMAT.md 10), so an address taken from an
//! event stays valid as long as its reader.
//!
//! Long work (the walk over a journal, building Arrow buffers, waiting for a writer) runs with the
//! GIL released.

use std::any::Any;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use journal::{Error, OwnedTailer, Reader, WaitStrategy};

mod set;
use pyo3::exceptions::{PyException, PyIndexError, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyDict, PySlice};

pyo3::create_exception!(
    _journal,
    JournalError,
    PyException,
    "Base class of the errors this package raises for journals."
);
pyo3::create_exception!(
    _journal,
    DamagedError,
    JournalError,
    "The journal's content ends at a damaged entry (FORMAT.md 6.2); `offset` and `reason` say where and why."
);
pyo3::create_exception!(
    _journal,
    NotAJournalError,
    JournalError,
    "The file is not a journal: its header is not structurally valid (FORMAT.md 3)."
);

/// A library error as the Python exception for it, with attributes `path` and, for a damaged
/// journal, `offset` and `reason` (`truncated`, `bad_header`, `overrun`, `checksum`,
/// `bad_padding`).
fn to_py(py: Python<'_>, e: &Error) -> PyErr {
    let msg = e.to_string();
    let err = match e {
        Error::Damaged { .. } => DamagedError::new_err(msg),
        Error::NotAJournal { .. } => NotAJournalError::new_err(msg),
        // OSError(errno, msg) is FileNotFoundError, PermissionError, ... as the errno says.
        Error::Io { source, .. } => PyOSError::new_err((source.raw_os_error().unwrap_or(0), msg)),
        Error::InvalidArgument(_) => PyValueError::new_err(msg),
        _ => JournalError::new_err(msg),
    };
    let v = err.value(py);
    match e {
        Error::Damaged {
            path,
            offset,
            reason,
        } => {
            let _ = v.setattr("path", path.display().to_string());
            let _ = v.setattr("offset", *offset);
            let _ = v.setattr("reason", reason.as_str());
        }
        Error::NotAJournal { path, reason } => {
            let _ = v.setattr("path", path.display().to_string());
            let _ = v.setattr("reason", reason.as_str());
        }
        _ => {}
    }
    err
}

/// Memory handed to NumPy through `__array_interface__`; owns what keeps it alive.
#[pyclass(frozen, module = "journal._journal")]
struct Span {
    /// The mapping's reader or the vector the bytes live in; only held.
    _owner: Arc<dyn Any + Send + Sync>,
    addr: usize,
    len: usize,
    typestr: &'static str,
    itemsize: usize,
}

impl Span {
    fn of_vec<T: Send + Sync + 'static>(v: Vec<T>, typestr: &'static str) -> Span {
        let itemsize = std::mem::size_of::<T>();
        let addr = v.as_ptr() as usize;
        let len = v.len();
        Span {
            _owner: Arc::new(v),
            addr,
            len,
            typestr,
            itemsize,
        }
    }
}

#[pymethods]
impl Span {
    /// NumPy's array interface (version 3): a read-only one-dimensional array over the memory.
    #[getter]
    fn __array_interface__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("version", 3)?;
        d.set_item("shape", (self.len,))?;
        d.set_item("typestr", self.typestr)?;
        // An empty array still needs an address NumPy accepts; a dangling aligned one is never read.
        let addr = if self.len == 0 {
            self.itemsize.max(1)
        } else {
            self.addr
        };
        d.set_item("data", (addr, true))?;
        Ok(d)
    }

    fn __len__(&self) -> usize {
        self.len
    }
}

/// `memoryview(numpy.asarray(span))`: a read-only view that keeps the span alive.
fn view(py: Python<'_>, span: Span) -> PyResult<PyObject> {
    static ASARRAY: GILOnceCell<PyObject> = GILOnceCell::new();
    static MEMORYVIEW: GILOnceCell<PyObject> = GILOnceCell::new();
    let asarray = ASARRAY.get_or_try_init(py, || -> PyResult<PyObject> {
        Ok(py.import("numpy")?.getattr("asarray")?.unbind())
    })?;
    let memoryview = MEMORYVIEW.get_or_try_init(py, || -> PyResult<PyObject> {
        Ok(py.import("builtins")?.getattr("memoryview")?.unbind())
    })?;
    let arr = asarray.call1(py, (Bound::new(py, span)?,))?;
    memoryview.call1(py, (arr,))
}

/// One event: its index, timestamp (ns since the epoch, UTC), entry offset and payload size, and
/// its payload as a zero-copy `memoryview` into the mapping.
#[pyclass(frozen, module = "journal._journal", name = "Event")]
struct PyEvent {
    #[pyo3(get)]
    index: u64,
    #[pyo3(get)]
    timestamp: i64,
    #[pyo3(get)]
    offset: u64,
    #[pyo3(get)]
    size: u32,
    /// A memoryview holding the payload at `start`.
    buf: PyObject,
    start: usize,
}

#[pymethods]
impl PyEvent {
    /// The payload, a read-only `memoryview` into the journal's mapping (no copy). It keeps the
    /// mapping alive on its own.
    #[getter]
    fn payload(&self, py: Python<'_>) -> PyResult<PyObject> {
        let end = self.start + self.size as usize;
        let s = PySlice::new(py, self.start as isize, end as isize, 1);
        Ok(self.buf.bind(py).get_item(s)?.unbind())
    }

    fn __repr__(&self) -> String {
        format!(
            "Event(index={}, timestamp={}, offset={}, size={})",
            self.index, self.timestamp, self.offset, self.size
        )
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(o) = other.downcast::<PyEvent>() else {
            return Ok(false);
        };
        let o = o.get();
        if (self.index, self.timestamp, self.size) != (o.index, o.timestamp, o.size) {
            return Ok(false);
        }
        self.payload(py)?.bind(py).eq(o.payload(py)?)
    }
}

/// Events found by a walk, as columns: events `first..first + len` of the journal, and what ended
/// the walk if not the end of the content.
struct Table {
    /// The index of the first event here.
    first: usize,
    offsets: Vec<u64>,
    timestamps: Vec<i64>,
    sizes: Vec<u32>,
    /// The offset the walk started at (the entry of event `first`).
    start: u64,
    /// The offset just past the last event here (`start` if none).
    end: u64,
    /// The error that ended the walk early (damage, or the file replaced or truncated under it).
    error: Option<Arc<Error>>,
}

impl Table {
    fn new(first: usize, start: u64) -> Table {
        Table {
            first,
            offsets: Vec::new(),
            timestamps: Vec::new(),
            sizes: Vec::new(),
            start,
            end: start,
            error: None,
        }
    }

    /// The number of events up to the end of this table (those before `first` included).
    fn count(&self) -> usize {
        self.first + self.offsets.len()
    }

    fn push(&mut self, ev: &journal::Event<'_>) {
        self.offsets.push(ev.offset);
        self.timestamps.push(ev.timestamp);
        self.sizes.push(ev.payload.len() as u32);
        self.end = ev.end();
    }

    /// Event `i` (`first <= i < count()`) as (timestamp, offset, size).
    fn row(&self, i: usize) -> Row {
        let k = i - self.first;
        (self.timestamps[k], self.offsets[k], self.sizes[k])
    }

    /// Walks `it` to its end, to its first error (which ends the table), or to the first event
    /// that ends at or past `until`.
    fn fill<'r>(
        &mut self,
        it: impl Iterator<Item = journal::Result<journal::Event<'r>>>,
        until: u64,
    ) {
        for item in it {
            match item {
                Ok(ev) => {
                    self.push(&ev);
                    if self.end >= until {
                        break;
                    }
                }
                Err(e) => {
                    self.error = Some(Arc::new(e));
                    break;
                }
            }
        }
    }
}

/// An event's timestamp, entry offset and payload size.
type Row = (i64, u64, u32);

/// What `len(j)` and the point operations stand on: how far the content reaches, found through the
/// journal's index in O(log n) plus a walk of what lies past its checkpoint (INDEX.md 8), and where
/// the mapping is.
struct Snapshot {
    /// The events past the index's checkpoint, walked. Without a usable index the checkpoint is
    /// the first event, and this is the whole walk (`first == 0`).
    tail: Arc<Table>,
    /// Address of file offset 0 in the reader's mapping.
    base: usize,
}

impl Snapshot {
    fn take(reader: &Reader) -> Snapshot {
        let it = reader.iter_from_checkpoint();
        let mut tail = Table::new(it.index() as usize, it.offset());
        if tail.first == 0 {
            if let Ok(h) = reader.header() {
                // A hint (FORMAT.md 3): never trusted beyond what the file could hold.
                let most = h.write_offset.min(h.file_len) / journal::ENTRY_HEADER_LEN;
                let n = h.event_count.min(most) as usize;
                tail.offsets.reserve(n);
                tail.timestamps.reserve(n);
                tail.sizes.reserve(n);
            }
        }
        tail.fill(it, u64::MAX);
        // The mapping now reaches at least the walk's end: it only grows (FORMAT.md 10), and an
        // older mapping stays valid while the reader lives.
        match reader.body() {
            Ok(body) if body.len() as u64 + journal::HEADER_LEN >= tail.end => Snapshot {
                base: body.as_ptr() as usize - journal::HEADER_LEN as usize,
                tail: Arc::new(tail),
            },
            got => {
                let mut t = Table::new(0, journal::HEADER_LEN);
                t.error = Some(Arc::new(got.err().unwrap_or_else(|| {
                    Error::InvalidArgument("the journal shrank under the reader".into())
                })));
                Snapshot {
                    base: 0,
                    tail: Arc::new(t),
                }
            }
        }
    }

    /// Whether the journal's index vouched for the events before the tail.
    fn indexed(&self) -> bool {
        self.tail.first > 0
    }
}

/// The whole walk over the content of the snapshot: the events before the tail walked from the
/// first, then the tail's (the tail itself without an index).
fn walk(reader: &Reader, snap: &Snapshot) -> Arc<Table> {
    let tail = &snap.tail;
    if !snap.indexed() {
        return tail.clone();
    }
    let mut t = Table::new(0, journal::HEADER_LEN);
    let n = tail.count();
    t.offsets.reserve(n);
    t.timestamps.reserve(n);
    t.sizes.reserve(n);
    let mut it = reader.iter();
    t.fill(&mut it, tail.start);
    if t.error.is_some() {
        // Damage below the index's checkpoint, which only a walk sees (INDEX.md 10).
        return Arc::new(t);
    }
    if t.end == tail.start && t.count() == tail.first {
        t.offsets.extend_from_slice(&tail.offsets);
        t.timestamps.extend_from_slice(&tail.timestamps);
        t.sizes.extend_from_slice(&tail.sizes);
        t.end = tail.end;
        t.error = tail.error.clone();
    } else if t.end < tail.end {
        // The index does not describe the content (INDEX.md 10): the walk is the truth, up to
        // the snapshot's end.
        t.fill(&mut it, tail.end);
    }
    Arc::new(t)
}

/// An open journal: the reader (which owns the read-only mapping); once something needs them, the
/// snapshot (through the index) and the whole walk over the content.
#[pyclass(frozen, module = "journal._journal")]
struct Core {
    reader: Arc<Reader>,
    snap: OnceLock<Arc<Snapshot>>,
    table: OnceLock<Arc<Table>>,
    /// `memoryview` over the content, file offset 0 to the snapshot's end.
    content: GILOnceCell<PyObject>,
    spans: GILOnceCell<(PyObject, PyObject, PyObject)>,
}

impl Core {
    fn snapshot(&self, py: Python<'_>) -> Arc<Snapshot> {
        if let Some(s) = self.snap.get() {
            return s.clone();
        }
        let reader = &self.reader;
        let snap = &self.snap;
        let s = py.allow_threads(|| {
            snap.get_or_init(|| Arc::new(Snapshot::take(reader)))
                .clone()
        });
        if !s.indexed() {
            // Without an index the count was the whole walk: it serves what needs the walk.
            let _ = self.table.set(s.tail.clone());
        }
        s
    }

    /// The whole walk (built once, with the GIL released).
    fn table(&self, py: Python<'_>) -> Arc<Table> {
        if let Some(t) = self.table.get() {
            return t.clone();
        }
        let snap = self.snapshot(py);
        let reader = &self.reader;
        let table = &self.table;
        py.allow_threads(|| table.get_or_init(|| walk(reader, &snap)).clone())
    }

    fn content(&self, py: Python<'_>) -> PyResult<PyObject> {
        let snap = self.snapshot(py);
        let v = self.content.get_or_try_init(py, || {
            let owner: Arc<dyn Any + Send + Sync> = self.reader.clone();
            let len = if snap.tail.count() == 0 {
                0
            } else {
                snap.tail.end as usize
            };
            view(
                py,
                Span {
                    _owner: owner,
                    addr: snap.base,
                    len,
                    typestr: "|u1",
                    itemsize: 1,
                },
            )
        })?;
        Ok(v.clone_ref(py))
    }

    /// Checks that `start..stop` is a range of the events up to `t`'s end; past it, the error
    /// that ended it.
    fn check_range(py: Python<'_>, t: &Table, start: usize, stop: usize) -> PyResult<()> {
        if start > stop || stop > t.count() {
            if stop > t.count() {
                if let Some(e) = &t.error {
                    return Err(to_py(py, e));
                }
            }
            return Err(PyIndexError::new_err(format!(
                "range {start}..{stop} is outside the journal's {} events",
                t.count()
            )));
        }
        Ok(())
    }

    fn event_at(&self, py: Python<'_>, i: usize, row: Row) -> PyResult<PyEvent> {
        let (timestamp, offset, size) = row;
        Ok(PyEvent {
            index: i as u64,
            timestamp,
            offset,
            size,
            buf: self.content(py)?,
            start: (offset + journal::ENTRY_HEADER_LEN) as usize,
        })
    }

    /// The first event of `lo..stop` whose timestamp is `>= ts`, or `stop` (FORMAT.md 6.4). With an
    /// index, the first such event of the whole journal is found by a seek (O(log n)); only when it
    /// lies before `lo` are the events from `lo` on scanned.
    fn locate(
        reader: &Reader,
        snap: &Snapshot,
        table: Option<&Table>,
        lo: usize,
        stop: usize,
        ts: i64,
    ) -> journal::Result<usize> {
        if lo >= stop {
            return Ok(stop);
        }
        if snap.indexed() {
            let global = match reader.iter_from_time(ts) {
                Ok(it) => Some(it.index() as usize),
                // The seek met the end of the snapshot's content: no event in it qualifies.
                Err(Error::Damaged { offset, .. }) if offset >= snap.tail.end => Some(usize::MAX),
                Err(e) if table.is_none() => return Err(e),
                Err(_) => None,
            };
            if let Some(g) = global.filter(|&g| g >= lo) {
                return Ok(g.min(stop));
            }
        }
        if let Some(t) = table {
            return Ok((lo..stop).find(|&i| t.timestamps[i] >= ts).unwrap_or(stop));
        }
        let tail = &snap.tail;
        let mut i = lo;
        if i < tail.first {
            let below = stop.min(tail.first);
            for item in reader.iter_from_index(i as u64)?.take(below - i) {
                let ev = item?;
                if ev.timestamp >= ts {
                    return Ok(ev.index as usize);
                }
            }
            i = below;
        }
        Ok((i..stop)
            .find(|&k| tail.timestamps[k - tail.first] >= ts)
            .unwrap_or(stop))
    }
}

#[pymethods]
impl Core {
    /// Opens the journal; `verify_checksums` as [`Reader::set_verify_checksums`].
    #[new]
    #[pyo3(signature = (path, verify_checksums=true))]
    fn new(py: Python<'_>, path: PathBuf, verify_checksums: bool) -> PyResult<Core> {
        let mut reader = py
            .allow_threads(|| Reader::open(&path))
            .map_err(|e| to_py(py, &e))?;
        reader.set_verify_checksums(verify_checksums);
        Ok(Core {
            reader: Arc::new(reader),
            snap: OnceLock::new(),
            table: OnceLock::new(),
            content: GILOnceCell::new(),
            spans: GILOnceCell::new(),
        })
    }

    /// The journal's path.
    #[getter]
    fn path(&self) -> PathBuf {
        self.reader.path().to_path_buf()
    }

    /// The number of valid events and the exception that ended the content early, or None. Found
    /// through the index (once) unless `full`, which walks the whole content (once). Once walked,
    /// the walk's answer: it also sees damage below the index's checkpoint (INDEX.md 10).
    #[pyo3(signature = (full=false))]
    fn scan(&self, py: Python<'_>, full: bool) -> (usize, Option<PyObject>) {
        let t = if full || self.table.get().is_some() {
            self.table(py)
        } else {
            self.snapshot(py).tail.clone()
        };
        let err = t
            .error
            .as_ref()
            .map(|e| to_py(py, e).into_value(py).into_any());
        (t.count(), err)
    }

    /// Whether the whole content was walked (for tests: the point operations do not walk it).
    fn walked(&self) -> bool {
        self.table.get().is_some()
    }

    /// The event at `i`, an index into the whole journal: through the index (a seek and a walk of
    /// at most one interval, INDEX.md 8), or from the walk when there is one.
    fn event(&self, py: Python<'_>, i: usize) -> PyResult<PyEvent> {
        let snap = self.snapshot(py);
        if let Some(t) = self.table.get() {
            Core::check_range(py, t, i, i + 1)?;
            return self.event_at(py, i, t.row(i));
        }
        let tail = &snap.tail;
        if i >= tail.first {
            Core::check_range(py, tail, i, i + 1)?;
            return self.event_at(py, i, tail.row(i));
        }
        let reader = &self.reader;
        let got = py
            .allow_threads(|| -> journal::Result<Option<Row>> {
                match reader.iter_from_index(i as u64)?.next() {
                    Some(Ok(ev)) => Ok(Some((ev.timestamp, ev.offset, ev.payload.len() as u32))),
                    Some(Err(e)) => Err(e),
                    None => Ok(None),
                }
            })
            .map_err(|e| to_py(py, &e))?;
        match got {
            Some(row) => self.event_at(py, i, row),
            // The content ends before an event the index counted: an index that does not
            // describe the journal (INDEX.md 10).
            None => Err(JournalError::new_err(format!(
                "{}: the content ends before event {i}, which the journal's index counts",
                self.reader.path().display()
            ))),
        }
    }

    /// An iterator over events `start..stop`, streamed from the reader (or from the walk, if
    /// there is one). If `strict`, an error met on the way is raised after the valid events
    /// before it, and so is the error that ended the content, if `stop` is its end; otherwise
    /// iteration ends there.
    fn iter(
        slf: &Bound<'_, Self>,
        py: Python<'_>,
        start: usize,
        stop: usize,
        strict: bool,
    ) -> PyResult<EventIter> {
        let core = slf.get();
        let snap = core.snapshot(py);
        let table = core.table.get().cloned();
        let ends = table.as_ref().unwrap_or(&snap.tail);
        Core::check_range(py, ends, start, stop)?;
        let raise_at_end = strict && ends.error.is_some() && stop == ends.count();
        Ok(EventIter {
            core: slf.clone().unbind(),
            buf: core.content(py)?,
            table,
            tail: snap.tail.clone(),
            pos: start,
            stop,
            strict,
            raise_at_end,
            chunk: Vec::new(),
            chunk_first: 0,
            chunk_len: FIRST_CHUNK,
            pending: None,
        })
    }

    /// Spans over the walk's timestamps (`<i8`), offsets (`<u8`) and sizes (`<u4`), zero copy.
    fn columns(&self, py: Python<'_>) -> PyResult<(PyObject, PyObject, PyObject)> {
        let t = self.table(py);
        let v = self.spans.get_or_try_init(py, || -> PyResult<_> {
            let owner: Arc<dyn Any + Send + Sync> = t.clone();
            crate::column_spans(py, &owner, &t.timestamps, &t.offsets, &t.sizes)
        })?;
        Ok((v.0.clone_ref(py), v.1.clone_ref(py), v.2.clone_ref(py)))
    }

    /// The smallest and largest timestamp of events `start..stop`, or None if there are none (from
    /// the walk: timestamps may go backwards, FORMAT.md 2, so every one is looked at).
    fn time_range(
        &self,
        py: Python<'_>,
        start: usize,
        stop: usize,
    ) -> PyResult<Option<(i64, i64)>> {
        let t = self.table(py);
        Core::check_range(py, &t, start, stop)?;
        let ts = &t.timestamps[start..stop];
        Ok(py.allow_threads(|| {
            let lo = ts.iter().min()?;
            let hi = ts.iter().max()?;
            Some((*lo, *hi))
        }))
    }

    /// The slice of events `start..stop` selected by time (FORMAT.md 6.4): from the first event,
    /// in file order, whose timestamp is `>= from`, to before the first one after it whose
    /// timestamp is `>= to`. With the journal's index both ends are found by seeks
    /// (`Reader::iter_from_time`, O(log n), INDEX.md 8) when the first such event of the whole
    /// journal lies in the slice (always for the whole journal); otherwise by a scan.
    #[pyo3(signature = (start, stop, from_ns=None, to_ns=None))]
    fn between(
        &self,
        py: Python<'_>,
        start: usize,
        stop: usize,
        from_ns: Option<i64>,
        to_ns: Option<i64>,
    ) -> PyResult<(usize, usize)> {
        let snap = self.snapshot(py);
        let table = self.table.get().cloned();
        Core::check_range(py, table.as_deref().unwrap_or(&snap.tail), start, stop)?;
        let reader = &self.reader;
        let t = table.as_deref();
        py.allow_threads(|| -> journal::Result<(usize, usize)> {
            let a = match from_ns {
                Some(from) => Core::locate(reader, &snap, t, start, stop, from)?,
                None => start,
            };
            let b = match to_ns {
                Some(to) => Core::locate(reader, &snap, t, a, stop, to)?,
                None => stop,
            };
            Ok((a, b))
        })
        .map_err(|e| to_py(py, &e))
    }

    /// The Arrow columns of events `start..stop` in one pass over the reader (GIL released):
    /// each event's timestamp is stored and its payload copied into `binary` buffers (`<i4`
    /// offsets, the bytes back to back) as it is read, so the mapping is read once. Payload
    /// chunks stay under `chunk_bytes` (at most 2 GiB - 1: Arrow `binary` has 32-bit offsets).
    ///
    /// Returns the indexes (`<u8`), the timestamps (`<i8`) and a list of (rows, offsets, bytes)
    /// chunks. An error met before `stop` (damage below the index's checkpoint, INDEX.md 10, or
    /// the file replaced under the reader) is raised if `strict`; otherwise the columns end
    /// before it. Either way the whole walk is then made, so that the journal presents what it
    /// found (as after the whole-column operations).
    ///
    /// `min_part` (the fewest events per thread) and `threads` (default: the available cores)
    /// are for tests, which split small journals.
    #[pyo3(signature = (start, stop, strict, chunk_bytes=i32::MAX as usize, min_part=MIN_PART, threads=None))]
    #[allow(clippy::too_many_arguments)] // Python's keyword arguments
    fn arrow_columns(
        &self,
        py: Python<'_>,
        start: usize,
        stop: usize,
        strict: bool,
        chunk_bytes: usize,
        min_part: usize,
        threads: Option<usize>,
    ) -> PyResult<ArrowColumns> {
        let snap = self.snapshot(py);
        if let Some(t) = self.table.get() {
            Core::check_range(py, t, start, stop)?;
        } else {
            Core::check_range(py, &snap.tail, start, stop)?;
        }
        let reader = &self.reader;
        let (sinks, err) = py.allow_threads(|| {
            let split = Split { min_part, threads };
            arrow_pass(reader, &snap, start, stop, chunk_bytes, split)
        });
        let rows: usize = sinks.iter().map(|s| s.rows).sum();
        match err {
            None if rows == stop - start => Ok(arrow_columns_of(sinks)),
            None => Err(JournalError::new_err(format!(
                "{}: the content ends before event {}, which the journal's index counts",
                self.reader.path().display(),
                start + rows
            ))),
            Some(e) => {
                // The walk sees what the pass saw: the journal presents the events before it.
                let _ = self.table(py);
                if strict {
                    Err(to_py(py, &e))
                } else {
                    Ok(arrow_columns_of(sinks))
                }
            }
        }
    }

    /// For `to_numpy`: if every payload of events `start..stop` is `itemsize` bytes, a byte span
    /// from the first payload to the end of the last and the stride between payloads (the entry
    /// length, FORMAT.md 4); else None.
    fn strided(
        &self,
        py: Python<'_>,
        start: usize,
        stop: usize,
        itemsize: usize,
    ) -> PyResult<Option<(Span, usize)>> {
        let t = self.table(py);
        Core::check_range(py, &t, start, stop)?;
        if start == stop || t.sizes[start..stop].iter().any(|&s| s as usize != itemsize) {
            return Ok(None);
        }
        let stride = journal::entry_len(itemsize as u32) as usize;
        // Entries are back to back (FORMAT.md 4): equal sizes mean equal strides.
        let first = (t.offsets[start] + journal::ENTRY_HEADER_LEN) as usize;
        let last = (t.offsets[stop - 1] + journal::ENTRY_HEADER_LEN) as usize;
        if last - first != (stop - 1 - start) * stride {
            return Ok(None);
        }
        let owner: Arc<dyn Any + Send + Sync> = self.reader.clone();
        let span = Span {
            _owner: owner,
            addr: self.snapshot(py).base + first,
            len: last + itemsize - first,
            typestr: "|u1",
            itemsize: 1,
        };
        Ok(Some((span, stride)))
    }

    /// A follower of the live journal, from the first event or from the current end.
    fn follow(&self, py: Python<'_>, from_end: bool) -> PyResult<Follower> {
        let r = self.reader.clone();
        let tailer = if from_end {
            r.into_tailer_from_end().map_err(|e| to_py(py, &e))?
        } else {
            r.into_tailer()
        };
        Ok(Follower {
            followed: Followed::File(tailer),
        })
    }
}

/// What [`Core::arrow_columns`] hands to Python: the indexes and the timestamps in parts, and
/// the payload chunks (rows, offsets, bytes).
type ArrowColumns = (Vec<Span>, Vec<Span>, Vec<(usize, Span, Span)>);

/// Builds the Arrow columns of a run of events as they are read: timestamps, and payloads copied
/// into `binary` chunks of at most `chunk_bytes` bytes.
struct ArrowSink {
    /// The global index of the first event.
    first: u64,
    rows: usize,
    /// Filled by [`ArrowSink::seal`] once the events are read.
    indexes: Vec<u64>,
    timestamps: Vec<i64>,
    /// Finished payload chunks: rows, `<i4` offsets (rows + 1), bytes.
    chunks: Vec<(usize, Vec<i32>, Vec<u8>)>,
    offs: Vec<i32>,
    data: Vec<u8>,
    chunk_rows: usize,
    /// Rows expected, and an upper bound of their payload bytes (0 if unknown).
    n: usize,
    bytes: usize,
    /// Payload bytes in finished chunks.
    taken: usize,
    chunk_bytes: usize,
}

impl ArrowSink {
    fn new(first: u64, n: usize, bytes: usize, chunk_bytes: usize) -> ArrowSink {
        let chunk_bytes = chunk_bytes.clamp(1, i32::MAX as usize);
        let mut offs = Vec::with_capacity(n + 1);
        offs.push(0);
        ArrowSink {
            first,
            rows: 0,
            indexes: Vec::new(),
            timestamps: Vec::with_capacity(n),
            chunks: Vec::new(),
            offs,
            data: Vec::with_capacity(bytes.min(chunk_bytes)),
            chunk_rows: 0,
            n,
            bytes,
            taken: 0,
            chunk_bytes,
        }
    }

    #[inline]
    fn push(&mut self, timestamp: i64, payload: &[u8]) {
        if self.data.len() + payload.len() > self.chunk_bytes && self.chunk_rows > 0 {
            self.cut();
        }
        self.timestamps.push(timestamp);
        self.data.extend_from_slice(payload);
        // Below 2 GiB: the chunk is cut before it would pass `chunk_bytes`, and one payload is at
        // most 1 GiB (FORMAT.md 5).
        self.offs.push(self.data.len() as i32);
        self.chunk_rows += 1;
        self.rows += 1;
    }

    /// Ends the current payload chunk and starts the next.
    #[cold]
    fn cut(&mut self) {
        self.taken += self.data.len();
        let rest = self.bytes.saturating_sub(self.taken).min(self.chunk_bytes);
        let data = std::mem::replace(&mut self.data, Vec::with_capacity(rest));
        let left = self.n.saturating_sub(self.rows);
        let offs = std::mem::replace(&mut self.offs, Vec::with_capacity(left + 1));
        self.chunks.push((self.chunk_rows, offs, data));
        self.offs.push(0);
        self.chunk_rows = 0;
    }

    /// Builds the index column of the events read (on the thread that read them).
    fn seal(&mut self) {
        self.indexes = (self.first..self.first + self.rows as u64).collect();
    }

    /// Pushes up to `self.n` events of `it`, then seals; the error that ended them early, if
    /// any.
    fn fill<'r>(
        &mut self,
        it: impl Iterator<Item = journal::Result<journal::Event<'r>>>,
    ) -> Option<Error> {
        let mut err = None;
        for item in it.take(self.n) {
            match item {
                Ok(ev) => self.push(ev.timestamp, ev.payload),
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        self.seal();
        err
    }
}

/// The columns of runs of events that follow each other (each sealed).
fn arrow_columns_of(sinks: Vec<ArrowSink>) -> ArrowColumns {
    let mut idx = Vec::new();
    let mut ts = Vec::new();
    let mut chunks = Vec::new();
    for mut s in sinks {
        s.chunks.push((s.chunk_rows, s.offs, s.data));
        idx.push(Span::of_vec(s.indexes, "<u8"));
        ts.push(Span::of_vec(s.timestamps, "<i8"));
        for (n, o, d) in s.chunks {
            if n > 0 {
                chunks.push((n, Span::of_vec(o, "<i4"), Span::of_vec(d, "|u1")));
            }
        }
    }
    if chunks.is_empty() {
        chunks.push((
            0,
            Span::of_vec(vec![0i32], "<i4"),
            Span::of_vec(Vec::<u8>::new(), "|u1"),
        ));
    }
    if ts.is_empty() {
        idx.push(Span::of_vec(Vec::<u64>::new(), "<u8"));
        ts.push(Span::of_vec(Vec::<i64>::new(), "<i8"));
    }
    (idx, ts, chunks)
}

/// Events per thread below which [`arrow_pass`] does not split its work.
const MIN_PART: usize = 1 << 18;

/// How [`arrow_pass`] splits its work: at least `min_part` events per thread, at most `threads`
/// threads (the available cores if None), and at most 8.
#[derive(Clone, Copy)]
struct Split {
    min_part: usize,
    threads: Option<usize>,
}

/// One pass over events `start..stop` of `reader` (see [`Core::arrow_columns`]): the runs read,
/// in order, and the error that ended them early, if any.
///
/// With the journal's index, a large range is split into one part per available core (at most
/// 8): each part starts with a seek (O(log n), INDEX.md 8) and is read on its own thread, into its
/// own buffers (Arrow columns may be chunked). Without the index a seek would be a walk, so the
/// pass is one thread.
fn arrow_pass(
    reader: &Reader,
    snap: &Snapshot,
    start: usize,
    stop: usize,
    chunk_bytes: usize,
    split: Split,
) -> (Vec<ArrowSink>, Option<Error>) {
    let n = stop - start;
    if n == 0 {
        return (Vec::new(), None);
    }
    let cores = split
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |c| c.get()));
    let parts = if snap.indexed() {
        cores.min(8).min(n / split.min_part.max(1)).max(1)
    } else {
        1
    };
    let seek = |i: usize| {
        if i == 0 {
            Ok(reader.iter())
        } else {
            reader.iter_from_index(i as u64)
        }
    };
    // Where each part starts; a seek that fails or lands elsewhere leaves one part, whose walk
    // meets what the seek met.
    let bounds: Vec<usize> = (0..=parts).map(|k| start + n * k / parts).collect();
    let mut iters = Vec::with_capacity(parts);
    for &b in &bounds[..parts] {
        match seek(b) {
            Ok(it) if it.index() as usize == b => iters.push(it),
            Ok(_) | Err(_) if !iters.is_empty() => {
                iters.truncate(1);
                break;
            }
            Ok(_) => break,
            Err(e) => return (Vec::new(), Some(e)),
        }
    }
    if iters.is_empty() {
        // The first seek landed short of `start`: the index does not describe the content.
        return (Vec::new(), None);
    }
    let parts = iters.len();
    let bounds: Vec<usize> = if parts == 1 {
        vec![start, stop]
    } else {
        bounds
    };
    // The payload bytes of a part are at most its entries' bytes less their headers: its
    // buffers are sized up front, not regrown.
    let end = if stop >= snap.tail.count() {
        snap.tail.end
    } else {
        reader
            .iter_from_index(stop as u64)
            .map_or(snap.tail.end, |e| e.offset())
    };
    let mut ends: Vec<u64> = iters.iter().skip(1).map(|it| it.offset()).collect();
    ends.push(end);
    let sinks: Vec<ArrowSink> = (0..parts)
        .map(|k| {
            let rows = bounds[k + 1] - bounds[k];
            let span = ends[k].saturating_sub(iters[k].offset()) as usize;
            let bytes = span.saturating_sub(rows * journal::ENTRY_HEADER_LEN as usize);
            ArrowSink::new(bounds[k] as u64, rows, bytes, chunk_bytes)
        })
        .collect();
    let results: Vec<(ArrowSink, Option<Error>)> = if parts == 1 {
        let mut sink = sinks.into_iter().next().expect("one part");
        let it = iters.into_iter().next().expect("one part");
        let err = sink.fill(it);
        vec![(sink, err)]
    } else {
        std::thread::scope(|s| {
            let mut work = iters.into_iter().zip(sinks);
            let (it0, mut sink0) = work.next().expect("parts > 1");
            let handles: Vec<_> = work
                .map(|(it, mut sink)| {
                    s.spawn(move || {
                        let err = sink.fill(it);
                        (sink, err)
                    })
                })
                .collect();
            let err0 = sink0.fill(it0);
            let mut out = vec![(sink0, err0)];
            for h in handles {
                out.push(h.join().unwrap_or_else(|_| {
                    (
                        ArrowSink::new(0, 0, 0, 1),
                        Some(Error::InvalidArgument(
                            "a thread building the Arrow columns failed".into(),
                        )),
                    )
                }));
            }
            out
        })
    };
    // The runs in order, up to the first that ended early (an error, or content that ends
    // before the count).
    let mut out = Vec::with_capacity(results.len());
    for (sink, err) in results {
        let short = sink.rows < sink.n;
        out.push(sink);
        if err.is_some() || short {
            return (out, err);
        }
    }
    (out, None)
}

/// Events an iterator reads from the reader at a time, at first; the batch doubles up to
/// [`MAX_CHUNK`]. Each batch starts with a seek (O(log n) and a walk of at most one index
/// interval, INDEX.md 8), so the first event comes at once and the seeks cost little after.
const FIRST_CHUNK: usize = 256;
const MAX_CHUNK: usize = 1 << 16;

/// Iterator over a range of events: from the walk if there was one when it was made, else from
/// the reader in batches (events before the snapshot's tail) and from the tail.
#[pyclass(module = "journal._journal")]
struct EventIter {
    /// The journal, kept for the reader.
    core: Py<Core>,
    buf: PyObject,
    table: Option<Arc<Table>>,
    tail: Arc<Table>,
    pos: usize,
    stop: usize,
    strict: bool,
    raise_at_end: bool,
    /// Events `chunk_first..chunk_first + chunk.len()`, read ahead from the reader.
    chunk: Vec<Row>,
    chunk_first: usize,
    chunk_len: usize,
    /// The error that ended the last batch, after its events.
    pending: Option<Error>,
}

impl EventIter {
    /// The event at `self.pos` from the reader, reading the next batch when needed; None at an
    /// error (in `pending`) or the end of the content.
    fn read_ahead(&mut self, py: Python<'_>) -> Option<Row> {
        let i = self.pos;
        if i >= self.chunk_first && i - self.chunk_first < self.chunk.len() {
            return Some(self.chunk[i - self.chunk_first]);
        }
        if self.pending.is_some() {
            return None;
        }
        let n = self.chunk_len.min(self.stop.min(self.tail.first) - i);
        self.chunk_len = (self.chunk_len * 2).min(MAX_CHUNK);
        let reader = &self.core.get().reader;
        let chunk = &mut self.chunk;
        chunk.clear();
        self.chunk_first = i;
        self.pending = py.allow_threads(|| {
            let it = match reader.iter_from_index(i as u64) {
                Ok(it) => it,
                Err(e) => return Some(e),
            };
            for item in it.take(n) {
                match item {
                    Ok(ev) => chunk.push((ev.timestamp, ev.offset, ev.payload.len() as u32)),
                    Err(e) => return Some(e),
                }
            }
            None
        });
        self.chunk.first().copied()
    }
}

#[pymethods]
impl EventIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<PyEvent>> {
        let i = self.pos;
        if i >= self.stop {
            if std::mem::take(&mut self.raise_at_end) {
                let ends = self.table.as_ref().unwrap_or(&self.tail);
                if let Some(e) = &ends.error {
                    return Err(to_py(py, e));
                }
            }
            return Ok(None);
        }
        let row = match &self.table {
            Some(t) => t.row(i),
            None if i >= self.tail.first => self.tail.row(i),
            None => match self.read_ahead(py) {
                Some(row) => row,
                None => {
                    // An error met before `stop` (damage below the index's checkpoint, INDEX.md
                    // 10, or the file replaced or truncated): the iteration ends there.
                    self.stop = i;
                    self.raise_at_end = false;
                    match self.pending.take() {
                        Some(e) if self.strict => return Err(to_py(py, &e)),
                        _ => return Ok(None),
                    }
                }
            },
        };
        self.pos = i + 1;
        let (timestamp, offset, size) = row;
        Ok(Some(PyEvent {
            index: i as u64,
            timestamp,
            offset,
            size,
            buf: self.buf.clone_ref(py),
            start: (offset + journal::ENTRY_HEADER_LEN) as usize,
        }))
    }
}

/// What a [`Follower`] follows: one journal, or a set across its rolls.
enum Followed {
    File(OwnedTailer),
    Set(journal::OwnedSetTailer, set::FollowCache),
}

/// Follows a live journal (an [`OwnedTailer`]) or set (an [`journal::OwnedSetTailer`]).
#[pyclass(module = "journal._journal")]
struct Follower {
    followed: Followed,
}

impl Follower {
    fn of_set(tailer: journal::OwnedSetTailer) -> Follower {
        Follower {
            followed: Followed::Set(tailer, None),
        }
    }
}

/// An event a tailer returned: index, timestamp, offset, payload address and length.
type Got = (u64, i64, u64, usize, usize);

fn got(ev: &journal::Event<'_>) -> Got {
    (
        ev.index,
        ev.timestamp,
        ev.offset,
        ev.payload.as_ptr() as usize,
        ev.payload.len(),
    )
}

#[pymethods]
impl Follower {
    /// The next event, waiting up to `timeout` seconds (forever if None); None at the timeout.
    /// Waits with the GIL released, in slices short enough to see Ctrl-C.
    #[pyo3(signature = (timeout=None))]
    fn next(&mut self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<PyEvent>> {
        let deadline = match timeout {
            Some(s) if !(s >= 0.0 && s.is_finite()) => {
                return Err(PyValueError::new_err(
                    "timeout must be a finite number >= 0",
                ))
            }
            Some(s) => Some(Instant::now() + Duration::from_secs_f64(s.min(1e9))),
            None => None,
        };
        // Spins, then sleeps on the journal's (or set's) wake-up file until the writer publishes
        // (FORMAT.md 15, SET.md 6.5.1); without a usable one, in steps of up to 1 ms.
        let strategy = WaitStrategy::Block { spins: 64 };
        loop {
            let slice_end = Instant::now() + Duration::from_millis(100);
            let until = deadline.map_or(slice_end, |d| d.min(slice_end));
            let followed = &mut self.followed;
            let got = py.allow_threads(|| match followed {
                Followed::File(t) => t
                    .wait(strategy, Some(until))
                    .map(|o| o.map(|ev| (got(&ev), None))),
                Followed::Set(t, _) => match t.wait(strategy, Some(until)) {
                    Ok(Some(ev)) => {
                        let g = got(&ev);
                        Ok(Some((g, set::tailer_segment(t))))
                    }
                    Ok(None) => Ok(None),
                    Err(e) => Err(e),
                },
            });
            match got {
                Err(e) => return Err(to_py(py, &e)),
                Ok(Some(((index, timestamp, offset, addr, len), seg))) => {
                    return match &mut self.followed {
                        Followed::File(t) => {
                            let owner: Arc<dyn Any + Send + Sync> = t.reader().clone();
                            let span = Span {
                                _owner: owner,
                                addr,
                                len,
                                typestr: "|u1",
                                itemsize: 1,
                            };
                            Ok(Some(PyEvent {
                                index,
                                timestamp,
                                offset,
                                size: len as u32,
                                buf: view(py, span)?,
                                start: 0,
                            }))
                        }
                        Followed::Set(t, cache) => set::follow_event(
                            py,
                            t.reader(),
                            cache,
                            (index, timestamp, offset, len),
                            seg,
                        )
                        .map(Some),
                    };
                }
                Ok(None) => {
                    py.check_signals()?;
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(None);
                    }
                }
            }
        }
    }
}

/// Walks a whole journal, checking every entry (FORMAT.md 6.2), and returns the report as a dict:
/// `events`, `end`, `write_offset`, `file_len`, `event_count_hint`, `start_timestamp`, `intact`,
/// and `damage` (None or a dict with `offset` and `reason`).
#[pyfunction]
fn verify<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let report = py
        .allow_threads(|| Reader::open(&path).and_then(|r| r.verify()))
        .map_err(|e| to_py(py, &e))?;
    let d = PyDict::new(py);
    d.set_item("path", path)?;
    d.set_item("events", report.events)?;
    d.set_item("end", report.end)?;
    d.set_item("write_offset", report.write_offset)?;
    d.set_item("file_len", report.file_len)?;
    d.set_item("event_count_hint", report.event_count_hint)?;
    d.set_item("start_timestamp", report.start_timestamp)?;
    d.set_item("intact", report.is_intact())?;
    match report.damage {
        None => d.set_item("damage", py.None())?,
        Some(dmg) => {
            let dd = PyDict::new(py);
            dd.set_item("offset", dmg.offset)?;
            dd.set_item("reason", dmg.reason.as_str())?;
            d.set_item("damage", dd)?;
        }
    }
    Ok(d)
}

/// Parses nanoseconds since the epoch (`"-5"`, `"1700000000000000123"`) or an RFC 3339 time with
/// any offset (`"2023-11-14T22:13:20.000000123Z"`), as the command-line tool does (FORMAT.md 6.4).
#[pyfunction]
fn parse_time(s: &str) -> PyResult<i64> {
    let s = s.trim();
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().map_err(|_| {
            PyValueError::new_err(format!("{s} nanoseconds is outside the i64 range"))
        });
    }
    let ts: jiff::Timestamp = s.parse().map_err(|e| {
        PyValueError::new_err(format!(
            "'{s}' is neither nanoseconds since the epoch nor an RFC 3339 time ({e})"
        ))
    })?;
    i64::try_from(ts.as_nanosecond()).map_err(|_| {
        PyValueError::new_err(format!(
            "'{s}' is outside the range of i64 nanoseconds (1677 to 2262)"
        ))
    })
}

/// The native module.
#[pymodule]
fn _journal(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("JournalError", py.get_type::<JournalError>())?;
    m.add("DamagedError", py.get_type::<DamagedError>())?;
    m.add("NotAJournalError", py.get_type::<NotAJournalError>())?;
    m.add_class::<Core>()?;
    m.add_class::<PyEvent>()?;
    m.add_class::<EventIter>()?;
    m.add_class::<Follower>()?;
    m.add_class::<Span>()?;
    m.add_class::<set::SetCore>()?;
    m.add_class::<set::SetEventIter>()?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(parse_time, m)?)?;
    Ok(())
}

/// Zero-copy spans over a walk's timestamps (`<i8`), offsets (`<u8`) and sizes (`<u4`), each
/// keeping `owner` (the table that holds the three arrays) alive.
fn column_spans(
    py: Python<'_>,
    owner: &Arc<dyn Any + Send + Sync>,
    timestamps: &[i64],
    offsets: &[u64],
    sizes: &[u32],
) -> PyResult<(PyObject, PyObject, PyObject)> {
    let mk = |addr: usize, len: usize, typestr, itemsize| -> PyResult<PyObject> {
        let s = Span {
            _owner: owner.clone(),
            addr,
            len,
            typestr,
            itemsize,
        };
        Ok(Bound::new(py, s)?.into_any().unbind())
    };
    Ok((
        mk(timestamps.as_ptr() as usize, timestamps.len(), "<i8", 8)?,
        mk(offsets.as_ptr() as usize, offsets.len(), "<u8", 8)?,
        mk(sizes.as_ptr() as usize, sizes.len(), "<u4", 4)?,
    ))
}
