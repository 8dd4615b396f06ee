"""Read append-only, memory-mapped event journals (spec/FORMAT.md) from Python, zero-copy.

The package is a thin layer over the Rust ``journal`` library: the same reader validates every
entry (CRC included), so Python sees exactly the events the library and the ``journal`` command
see.

>>> import journal
>>> with journal.open("quotes.journal") as j:          # doctest: +SKIP
...     print(len(j), j.time_range)
...     for ev in j.between("2026-11-02T14:30:00Z", "2026-11-02T14:31:00Z"):
...         handle(ev.index, ev.timestamp, bytes(ev.payload))
...     df = j.to_pandas()

Opening is O(1) and checks the header only (a file that is not a journal raises
:class:`NotAJournalError`). ``len(j)``, ``j[i]``, slices, :meth:`Journal.between` and iteration
use the journal's sparse index (``NAME.idx``, spec/INDEX.md; the writer keeps it): the number of
events is the index's count plus a walk of what lies past its checkpoint, and an event or a time is
found by a binary search and a walk of at most one index interval, O(log n). The whole-column
operations (:meth:`Journal.timestamps`, :meth:`Journal.offsets`, :meth:`Journal.sizes`,
:attr:`Journal.time_range`, :meth:`Journal.to_arrow` and the conversions built on it) walk the
whole content once (with the GIL released) and remember where each event is; so does the first
``len(j)`` when the index is missing or unusable (a correct, slower path: the answers are the
same). The journal object is a snapshot of the events published when it first counted them.

A damaged journal raises :class:`DamagedError` (with ``offset`` and ``reason``) from the operations
that read the events; iteration yields the valid events first. ``open(path, allow_damaged=True)``
presents the valid events instead, with the damage in ``j.damage``. As in the Rust library, damage
*below* the index's checkpoint (a bit flipped after the index was written) is not seen by the
operations that seek through the index (INDEX.md 10): an iteration that crosses it, :func:`verify`
and the whole-column operations find it (after the latter, the journal presents the events before
it, as without an index).
"""

from __future__ import annotations

import datetime as _dt
import os as _os
from typing import Any, Iterator, Optional, Tuple, Union

import numpy as _np

from ._journal import (  # noqa: F401  (re-exported)
    Core as _Core,
    SetCore as _SetCore,
    DamagedError,
    Event,
    JournalError,
    NotAJournalError,
    parse_time as _parse_time,
    verify as _verify,
)

__all__ = [
    "open",
    "verify",
    "Journal",
    "Event",
    "VerifyReport",
    "JournalError",
    "DamagedError",
    "NotAJournalError",
    "to_ns",
]

# Arrow `binary` has 32-bit offsets: payload columns are built in chunks of at most this many
# bytes (below 2 GiB).
_CHUNK_BYTES = 1 << 30

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def to_ns(t: Any) -> int:
    """A time as nanoseconds since the Unix epoch (UTC).

    Accepts an ``int`` (nanoseconds), an RFC 3339 string (``"2023-11-14T22:13:20.000000123Z"``,
    any offset) or a decimal string of nanoseconds, a ``datetime.datetime`` (naive means UTC),
    a ``numpy.datetime64`` and a ``pandas.Timestamp`` (nanoseconds kept).
    """
    if isinstance(t, bool):
        raise TypeError("a time cannot be a bool")
    if isinstance(t, (int, _np.integer)):
        return int(t)
    if isinstance(t, str):
        return _parse_time(t)
    if isinstance(t, _np.datetime64):
        if _np.isnat(t):
            raise ValueError("NaT is not a time")
        return int(t.astype("datetime64[ns]").astype(_np.int64))
    # pandas.Timestamp is a datetime subclass with nanoseconds in `.value`; checked by name so that
    # pandas stays optional.
    if type(t).__name__ == "Timestamp" and hasattr(t, "value") and hasattr(t, "tz"):
        if t.tz is None:
            return int(t.value)
        return int(t.tz_convert("UTC").value)
    if isinstance(t, _dt.datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=_dt.timezone.utc)
        d = t - _EPOCH
        return (d.days * 86_400 + d.seconds) * 1_000_000_000 + d.microseconds * 1_000
    if isinstance(t, _dt.date):
        return to_ns(_dt.datetime(t.year, t.month, t.day))
    raise TypeError(f"cannot read {type(t).__name__} as a time")


class VerifyReport:
    """The verdict of :func:`verify`: a full walk over a journal, every entry checked.

    Attributes: ``path``, ``events`` (valid events), ``end`` (offset just past them),
    ``write_offset``, ``file_len``, ``event_count_hint``, ``start_timestamp``, ``intact`` and
    ``damage`` (None, or a dict with ``offset`` and ``reason``).
    """

    __slots__ = (
        "path",
        "events",
        "end",
        "write_offset",
        "file_len",
        "event_count_hint",
        "start_timestamp",
        "intact",
        "damage",
    )

    def __init__(self, d: dict) -> None:
        for k in self.__slots__:
            setattr(self, k, d[k])

    def __bool__(self) -> bool:
        return bool(self.intact)

    def __repr__(self) -> str:
        return (
            f"VerifyReport(intact={self.intact}, events={self.events}, end={self.end}, "
            f"damage={self.damage})"
        )


def verify(path) -> VerifyReport:
    """Walks the journal at ``path``, checking every entry, and reports (FORMAT.md 6.2).

    Damage is reported, not raised; a file that is not a journal raises :class:`NotAJournalError`.
    """
    return VerifyReport(_verify(str(path)))


def open(  # noqa: A001 (the API's name)
    path, *, allow_damaged: bool = False, verify_checksums: bool = True
) -> "Journal":
    """Opens the journal file, or the journal set (a directory of segments, spec/SET.md), at
    ``path`` read-only (shared, read-only mappings).

    A set reads as one journal: its segments in order, each event with its global index (the
    set's segments chain, SET.md 2). Positions (``j[0]``, slices, ``len``) count from the set's
    first available event, which is global index 0 unless retention removed segments
    (:attr:`Journal.first_index` says).

    Raises :class:`NotAJournalError` if the header is not a journal's or a directory is not a
    set, ``OSError`` if the file cannot be opened. With ``allow_damaged``, a
    damaged journal presents its valid events and :attr:`Journal.damage` holds the
    :class:`DamagedError`; otherwise the operations that read the events raise it.
    ``verify_checksums=False`` skips each entry's CRC check (the structure is still checked): only
    for journals already verified.
    """
    core = (_SetCore if _os.path.isdir(path) else _Core)(str(path), verify_checksums)
    return Journal(core, allow_damaged=allow_damaged)


def _arrow_schema(pa):
    """The columns of :meth:`Journal.to_arrow` and ``journal export`` (no nulls)."""
    return pa.schema(
        [
            pa.field("index", pa.uint64(), nullable=False),
            pa.field("timestamp", pa.timestamp("ns", tz="UTC"), nullable=False),
            pa.field("payload", pa.binary(), nullable=False),
        ]
    )


class Journal:
    """A journal, or a slice of one (``j[i:k]``, ``j.between(...)``), read-only and zero-copy.

    Use it as a context manager or call :meth:`close`; the mapping itself lives as long as any
    event payload or array taken from it.
    """

    __slots__ = ("_core", "_start", "_stop", "_allow_damaged", "_closed")

    def __init__(self, core, start: int = 0, stop: Optional[int] = None, *, allow_damaged=False):
        self._core = core
        self._start = start
        self._stop = stop
        self._allow_damaged = allow_damaged
        self._closed = False

    # -- bookkeeping ---------------------------------------------------------------------------

    def _bounds(self, full: bool = False) -> Tuple[int, int]:
        """The events ``start..stop`` of this view, counted through the index, or by the walk over
        the whole content with ``full`` (the columns need it)."""
        if self._closed:
            raise ValueError("I/O operation on a closed journal")
        n, err = self._core.scan(full)
        if err is not None and not self._allow_damaged:
            raise err
        # Only a walk that met damage below the index's checkpoint makes `n` smaller than a view
        # taken before it (INDEX.md 10).
        stop = n if self._stop is None else min(self._stop, n)
        return min(self._start, stop), stop

    def _view(self, start: int, stop: int) -> "Journal":
        return Journal(self._core, start, stop, allow_damaged=self._allow_damaged)

    @property
    def path(self) -> str:
        """The journal's path."""
        return str(self._core.path)

    @property
    def is_set(self) -> bool:
        """Whether this is a journal set (a directory of segments) rather than one file."""
        return isinstance(self._core, _SetCore)

    @property
    def first_index(self) -> int:
        """The global index of the event at position 0 of the journal (not of a slice): 0 for a
        file, a set's first available index for a set."""
        return self._core.first_index if self.is_set else 0

    @property
    def damage(self) -> Optional[DamagedError]:
        """The error that ended the journal's valid content early (damage), or None."""
        return self._core.scan()[1]

    def close(self) -> None:
        """Forgets the journal. Payloads and arrays taken from it stay valid (they own the
        mapping)."""
        self._closed = True
        self._core = None

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._closed:
            return "<journal.Journal closed>"
        return f"<journal.Journal {self.path!r} events {self._start}..{self._stop}>"

    # -- sequence ------------------------------------------------------------------------------

    def __len__(self) -> int:
        start, stop = self._bounds()
        return stop - start

    def __getitem__(self, key: Union[int, slice]):
        start, stop = self._bounds()
        n = stop - start
        if isinstance(key, slice):
            a, b, step = key.indices(n)
            if step != 1:
                raise ValueError("journal slices take no step")
            return self._view(start + a, start + max(a, b))
        i = int(key)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"event {key} is outside the {n} events")
        return self._core.event(start + i)

    def __iter__(self) -> Iterator[Event]:
        if self._closed:
            raise ValueError("I/O operation on a closed journal")
        n, _ = self._core.scan()
        stop = n if self._stop is None else min(self._stop, n)
        # Streamed from the reader; the valid events first, then the damage (unless allowed), as
        # the library's iterator.
        return self._core.iter(min(self._start, stop), stop, not self._allow_damaged)

    @property
    def time_range(self) -> Optional[Tuple[int, int]]:
        """(smallest, largest) timestamp in nanoseconds, or None when there are no events.
        Timestamps may go backwards (FORMAT.md 2): this walks the whole journal once."""
        start, stop = self._bounds(full=True)
        return self._core.time_range(start, stop)

    def between(self, start: Any = None, end: Any = None) -> "Journal":
        """The events from the first, in file order, whose timestamp is ``>= start``, up to
        before the first one after it whose timestamp is ``>= end`` (FORMAT.md 6.4); None leaves a
        side open. Times: see :func:`to_ns`. With the journal's index both ends are seeks, O(log n)
        (INDEX.md 8); on a slice, when the first such event of the whole journal lies before the
        slice, the slice is scanned from its start instead."""
        a, b = self._bounds()
        f = None if start is None else to_ns(start)
        t = None if end is None else to_ns(end)
        if f is not None and t is not None and f > t:
            raise ValueError(f"start ({f}) is after end ({t})")
        i, k = self._core.between(a, b, f, t)
        return self._view(i, k)

    # -- columns -------------------------------------------------------------------------------

    def _column(self, which: int) -> _np.ndarray:
        start, stop = self._bounds(full=True)
        arr = _np.asarray(self._core.columns()[which])
        return arr[start:stop]

    def timestamps(self) -> _np.ndarray:
        """The timestamps as a read-only ``datetime64[ns]`` array (no copy)."""
        return self._column(0).view("datetime64[ns]")

    def offsets(self) -> _np.ndarray:
        """Each entry's offset in the file (for a set: in its segment's file), a read-only
        ``uint64`` array (no copy)."""
        return self._column(1)

    def sizes(self) -> _np.ndarray:
        """Each payload's size in bytes, a read-only ``uint32`` array (no copy)."""
        return self._column(2)

    def indices(self) -> _np.ndarray:
        """Each event's (global) index, a ``uint64`` array."""
        start, stop = self._bounds()
        first = self.first_index
        return _np.arange(first + start, first + stop, dtype=_np.uint64)

    def to_numpy(self, dtype) -> _np.ndarray:
        """The payloads as a read-only structured array of ``dtype``, zero-copy.

        Every payload must be ``dtype.itemsize`` bytes (else ``ValueError``). Entries are a
        16-byte header then the payload padded to 8 bytes (FORMAT.md 4), back to back; so the
        payloads of equal-sized events sit at a constant stride (the entry length), and the array
        is a strided view of the mapping: no copy, one row per event. Payloads start 8-aligned.
        For a set (whose events lie in several files) the payloads are copied into one array.
        """
        dtype = _np.dtype(dtype)
        start, stop = self._bounds(full=True)
        if start == stop:
            return _np.empty(0, dtype=dtype)
        got = self._core.strided(start, stop, dtype.itemsize)
        if got is None:
            raise ValueError(f"not every payload is {dtype.itemsize} bytes (the dtype's size)")
        span, stride = got
        buf = _np.asarray(span)
        arr = _np.ndarray((stop - start,), dtype=dtype, buffer=buf, offset=0, strides=(stride,))
        arr.flags.writeable = False
        return arr

    # -- Arrow and data frames -----------------------------------------------------------------

    def to_arrow(self):
        """A ``pyarrow.Table`` with columns ``index`` (uint64), ``timestamp``
        (timestamp[ns, UTC]) and ``payload`` (binary).

        One pass over the events with the GIL released: each timestamp is stored and each payload
        copied into the Arrow buffers as it is read (Arrow ``binary`` keeps payloads back to back,
        while the journal interleaves them with entry headers, so they are copied once). The
        buffers are handed to pyarrow without another copy. With the journal's index a large
        journal is read by one thread per core, each from its own seek, so the columns come in
        chunks (one per thread); payloads are also split below 2 GiB per chunk (``binary`` has
        32-bit offsets)."""
        import pyarrow as pa

        start, stop = self._bounds()
        idx, ts, chunks = self._core.arrow_columns(
            start, stop, not self._allow_damaged, _CHUNK_BYTES
        )
        payload = pa.chunked_array(
            [
                pa.Array.from_buffers(
                    pa.binary(),
                    rows,
                    [None, pa.py_buffer(_np.asarray(offs)), pa.py_buffer(_np.asarray(data))],
                )
                for rows, offs, data in chunks
            ],
            type=pa.binary(),
        )
        ts_type = pa.timestamp("ns", tz="UTC")
        ts_arr = pa.chunked_array(
            [
                pa.Array.from_buffers(ts_type, len(part), [None, pa.py_buffer(_np.asarray(part))])
                for part in ts
            ],
            type=ts_type,
        )
        idx_arr = pa.chunked_array(
            [
                pa.Array.from_buffers(pa.uint64(), len(part), [None, pa.py_buffer(_np.asarray(part))])
                for part in idx
            ],
            type=pa.uint64(),
        )
        return pa.Table.from_arrays([idx_arr, ts_arr, payload], schema=_arrow_schema(pa))

    def __arrow_c_stream__(self, requested_schema=None):
        """The Arrow PyCapsule stream interface: any consumer of it (polars, DuckDB, ...) reads
        the journal as the table :meth:`to_arrow` returns."""
        return self.to_arrow().__arrow_c_stream__(requested_schema)

    def to_pandas(self):
        """A ``pandas.DataFrame`` (``index``, ``timestamp`` as datetime64[ns, UTC], ``payload`` as
        bytes)."""
        return self.to_arrow().to_pandas()

    def to_polars(self):
        """A ``polars.DataFrame`` (``index``, ``timestamp`` as Datetime(ns, UTC), ``payload`` as
        Binary)."""
        import polars as pl

        return pl.from_arrow(self.to_arrow())

    # -- live ----------------------------------------------------------------------------------

    def follow(self, timeout: Optional[float] = None, *, from_end: bool = False) -> Iterator[Event]:
        """Yields events as a writer appends them: from the first event (or, with ``from_end``,
        from those appended after this call), waiting for more. Ends when no new event arrives
        within ``timeout`` seconds (None: never). Waits with the GIL released, asleep in the
        kernel until the writer appends (on the journal's wake-up file); Ctrl-C interrupts.
        Damage raises :class:`DamagedError`."""
        if self._closed:
            raise ValueError("I/O operation on a closed journal")
        f = self._core.follow(from_end)
        while True:
            ev = f.next(timeout)
            if ev is None:
                return
            yield ev
