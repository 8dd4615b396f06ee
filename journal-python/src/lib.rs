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

/// The walk over a journal's content: where each valid event is, and what ended it if not the end
/// of the content.
struct Table {
    offsets: Vec<u64>,
    timestamps: Vec<i64>,
    sizes: Vec<u32>,
    /// Address of file offset 0 in the reader's mapping (from the first event), 0 if none.
    base: usize,
    /// The offset just past the last valid event.
    end: u64,
    /// The error that ended the walk early (damage, or the file replaced or truncated under it).
    error: Option<Error>,
}

fn walk(reader: &Reader) -> Table {
    let mut t = Table {
        offsets: Vec::new(),
        timestamps: Vec::new(),
        sizes: Vec::new(),
        base: 0,
        end: journal::HEADER_LEN,
        error: None,
    };
    if let Ok(h) = reader.header() {
        // A hint (FORMAT.md 3): never trusted beyond what the file could hold.
        let most = h.write_offset.min(h.file_len) / journal::ENTRY_HEADER_LEN;
        let n = h.event_count.min(most) as usize;
        t.offsets.reserve(n);
        t.timestamps.reserve(n);
        t.sizes.reserve(n);
    }
    for item in reader.iter() {
        match item {
            Ok(ev) => {
                if t.base == 0 {
                    t.base = ev.entry.as_ptr() as usize - ev.offset as usize;
                }
                t.offsets.push(ev.offset);
                t.timestamps.push(ev.timestamp);
                t.sizes.push(ev.payload.len() as u32);
                t.end = ev.end();
            }
            Err(e) => {
                t.error = Some(e);
                break;
            }
        }
    }
    t
}

/// An open journal: the reader (which owns the read-only mapping) and, once something needs it,
/// the walk over its content.
#[pyclass(frozen, module = "journal._journal")]
struct Core {
    reader: Arc<Reader>,
    table: OnceLock<Arc<Table>>,
    /// `memoryview` over the content, file offset 0 to the table's end.
    content: GILOnceCell<PyObject>,
    spans: GILOnceCell<(PyObject, PyObject, PyObject)>,
}

impl Core {
    fn table(&self, py: Python<'_>) -> Arc<Table> {
        if let Some(t) = self.table.get() {
            return t.clone();
        }
        let reader = &self.reader;
        let table = &self.table;
        py.allow_threads(|| table.get_or_init(|| Arc::new(walk(reader))).clone())
    }

    fn content(&self, py: Python<'_>) -> PyResult<PyObject> {
        let t = self.table(py);
        let v = self.content.get_or_try_init(py, || {
            let owner: Arc<dyn Any + Send + Sync> = self.reader.clone();
            let len = if t.base == 0 { 0 } else { t.end as usize };
            view(
                py,
                Span {
                    _owner: owner,
                    addr: t.base,
                    len,
                    typestr: "|u1",
                    itemsize: 1,
                },
            )
        })?;
        Ok(v.clone_ref(py))
    }

    fn check_range(t: &Table, start: usize, stop: usize) -> PyResult<()> {
        if start > stop || stop > t.offsets.len() {
            return Err(PyIndexError::new_err(format!(
                "range {start}..{stop} is outside the journal's {} events",
                t.offsets.len()
            )));
        }
        Ok(())
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

    /// Walks the content (once) and returns the number of valid events and the exception that
    /// ended the walk early, or None.
    fn scan(&self, py: Python<'_>) -> (usize, Option<PyObject>) {
        let t = self.table(py);
        let err = t
            .error
            .as_ref()
            .map(|e| to_py(py, e).into_value(py).into_any());
        (t.offsets.len(), err)
    }

    /// The event at `i`, an index into the whole journal.
    fn event(&self, py: Python<'_>, i: usize) -> PyResult<PyEvent> {
        let t = self.table(py);
        Core::check_range(&t, i, i + 1)?;
        Ok(PyEvent {
            index: i as u64,
            timestamp: t.timestamps[i],
            offset: t.offsets[i],
            size: t.sizes[i],
            buf: self.content(py)?,
            start: (t.offsets[i] + journal::ENTRY_HEADER_LEN) as usize,
        })
    }

    /// An iterator over events `start..stop`; if `raise_at_end` and the walk ended early, it raises
    /// that error after the last valid event.
    fn iter(
        &self,
        py: Python<'_>,
        start: usize,
        stop: usize,
        raise_at_end: bool,
    ) -> PyResult<EventIter> {
        let t = self.table(py);
        Core::check_range(&t, start, stop)?;
        Ok(EventIter {
            buf: self.content(py)?,
            table: t,
            pos: std::sync::atomic::AtomicUsize::new(start),
            stop,
            raise_at_end: std::sync::atomic::AtomicBool::new(raise_at_end),
        })
    }

    /// Spans over the walk's timestamps (`<i8`), offsets (`<u8`) and sizes (`<u4`), zero copy.
    fn columns(&self, py: Python<'_>) -> PyResult<(PyObject, PyObject, PyObject)> {
        let t = self.table(py);
        let v = self.spans.get_or_try_init(py, || -> PyResult<_> {
            let owner: Arc<dyn Any + Send + Sync> = t.clone();
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
                mk(t.timestamps.as_ptr() as usize, t.timestamps.len(), "<i8", 8)?,
                mk(t.offsets.as_ptr() as usize, t.offsets.len(), "<u8", 8)?,
                mk(t.sizes.as_ptr() as usize, t.sizes.len(), "<u4", 4)?,
            ))
        })?;
        Ok((v.0.clone_ref(py), v.1.clone_ref(py), v.2.clone_ref(py)))
    }

    /// The smallest and largest timestamp of events `start..stop`, or None if there are none.
    fn time_range(
        &self,
        py: Python<'_>,
        start: usize,
        stop: usize,
    ) -> PyResult<Option<(i64, i64)>> {
        let t = self.table(py);
        Core::check_range(&t, start, stop)?;
        let ts = &t.timestamps[start..stop];
        Ok(py.allow_threads(|| {
            let lo = ts.iter().min()?;
            let hi = ts.iter().max()?;
            Some((*lo, *hi))
        }))
    }

    /// The slice of events `start..stop` selected by time (FORMAT.md 6.4): from the first event,
    /// in file order, whose timestamp is `>= from`, to before the first one after it whose
    /// timestamp is `>= to`. When the slice starts at the first event and the journal has an
    /// index, the start is found through it (`journal::index::iter_from_time`, O(log n)).
    #[pyo3(signature = (start, stop, from_ns=None, to_ns=None))]
    fn between(
        &self,
        py: Python<'_>,
        start: usize,
        stop: usize,
        from_ns: Option<i64>,
        to_ns: Option<i64>,
    ) -> PyResult<(usize, usize)> {
        let t = self.table(py);
        Core::check_range(&t, start, stop)?;
        let reader = &self.reader;
        Ok(py.allow_threads(|| {
            let ts = &t.timestamps;
            let mut a = start;
            if let Some(from) = from_ns {
                let seek = if start == 0 {
                    journal::index::Index::load(reader)
                        .ok()
                        .and_then(|idx| {
                            journal::index::iter_from_time(reader, Some(&idx), from).ok()
                        })
                        .map(|it| (it.index() as usize).min(stop))
                } else {
                    None
                };
                a = match seek {
                    Some(i) => i,
                    None => (start..stop).find(|&i| ts[i] >= from).unwrap_or(stop),
                };
            }
            let b = match to_ns {
                Some(to) => (a..stop).find(|&i| ts[i] >= to).unwrap_or(stop),
                None => stop,
            };
            (a, b)
        }))
    }

    /// The payloads of events `start..stop` as Arrow `binary` buffers: `<i4` offsets (n + 1) and
    /// the bytes back to back. Fails if they exceed 2 GiB (the caller chunks).
    fn payload_buffers(&self, py: Python<'_>, start: usize, stop: usize) -> PyResult<(Span, Span)> {
        let t = self.table(py);
        Core::check_range(&t, start, stop)?;
        let total: u64 = t.sizes[start..stop].iter().map(|&s| u64::from(s)).sum();
        if total > i32::MAX as u64 {
            return Err(PyValueError::new_err("payload chunk over 2 GiB"));
        }
        let reader = &self.reader;
        let (offs, data) = py
            .allow_threads(|| -> journal::Result<_> {
                // The content now reaches at least the walk's end: it only grows (FORMAT.md 10).
                let body = reader.body()?;
                let mut offs: Vec<i32> = Vec::with_capacity(stop - start + 1);
                let mut data: Vec<u8> = Vec::with_capacity(total as usize);
                offs.push(0);
                for i in start..stop {
                    let p =
                        (t.offsets[i] + journal::ENTRY_HEADER_LEN - journal::HEADER_LEN) as usize;
                    let payload = body.get(p..p + t.sizes[i] as usize).ok_or_else(|| {
                        Error::InvalidArgument("the journal shrank under the reader".into())
                    })?;
                    data.extend_from_slice(payload);
                    offs.push(data.len() as i32);
                }
                Ok((offs, data))
            })
            .map_err(|e| to_py(py, &e))?;
        Ok((Span::of_vec(offs, "<i4"), Span::of_vec(data, "|u1")))
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
        Core::check_range(&t, start, stop)?;
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
            addr: t.base + first,
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
        Ok(Follower { tailer })
    }
}

/// Iterator over a range of events.
#[pyclass(frozen, module = "journal._journal")]
struct EventIter {
    buf: PyObject,
    table: Arc<Table>,
    pos: std::sync::atomic::AtomicUsize,
    stop: usize,
    raise_at_end: std::sync::atomic::AtomicBool,
}

#[pymethods]
impl EventIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PyEvent>> {
        use std::sync::atomic::Ordering::Relaxed;
        let i = self.pos.load(Relaxed);
        if i >= self.stop {
            if self.raise_at_end.swap(false, Relaxed) {
                if let Some(e) = &self.table.error {
                    return Err(to_py(py, e));
                }
            }
            return Ok(None);
        }
        self.pos.store(i + 1, Relaxed);
        let t = &self.table;
        Ok(Some(PyEvent {
            index: i as u64,
            timestamp: t.timestamps[i],
            offset: t.offsets[i],
            size: t.sizes[i],
            buf: self.buf.clone_ref(py),
            start: (t.offsets[i] + journal::ENTRY_HEADER_LEN) as usize,
        }))
    }
}

/// Follows a live journal (a [`OwnedTailer`]).
#[pyclass(module = "journal._journal")]
struct Follower {
    tailer: OwnedTailer,
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
        let strategy = WaitStrategy::Backoff {
            spins: 64,
            yields: 16,
            max_sleep: Duration::from_millis(2),
        };
        loop {
            let slice_end = Instant::now() + Duration::from_millis(100);
            let until = deadline.map_or(slice_end, |d| d.min(slice_end));
            let tailer = &mut self.tailer;
            let got = py.allow_threads(|| {
                tailer.wait(strategy, Some(until)).map(|o| {
                    o.map(|ev| {
                        (
                            ev.index,
                            ev.timestamp,
                            ev.offset,
                            ev.payload.as_ptr() as usize,
                            ev.payload.len(),
                        )
                    })
                })
            });
            match got {
                Err(e) => return Err(to_py(py, &e)),
                Ok(Some((index, timestamp, offset, addr, len))) => {
                    let owner: Arc<dyn Any + Send + Sync> = self.tailer.reader().clone();
                    let span = Span {
                        _owner: owner,
                        addr,
                        len,
                        typestr: "|u1",
                        itemsize: 1,
                    };
                    return Ok(Some(PyEvent {
                        index,
                        timestamp,
                        offset,
                        size: len as u32,
                        buf: view(py, span)?,
                        start: 0,
                    }));
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
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(parse_time, m)?)?;
    Ok(())
}
