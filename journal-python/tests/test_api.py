"""Indexing, slicing, `between`, columns, zero-copy views and conversions."""

import datetime as dt
import gc
import random

import numpy as np
import pytest

import journal
from conftest import need, random_events, write_journal


def linear_between(events, f, t):
    """FORMAT.md 6.4 by hand: from the first event with ts >= f, up to before the first one after
    it with ts >= t."""
    out = []
    started = f is None
    for i, (ts, _) in enumerate(events):
        if not started:
            if ts < f:
                continue
            started = True
        if t is not None and ts >= t:
            break
        out.append(i)
    return out


def test_len_index_iter(mixed):
    path, evs = mixed
    with journal.open(path) as j:
        assert len(j) == len(evs)
        for i in (0, 1, len(evs) - 1, -1, -len(evs)):
            ev = j[i]
            k = i % len(evs)
            assert ev.index == k
            assert (ev.timestamp, bytes(ev.payload)) == evs[k]
        with pytest.raises(IndexError):
            j[len(evs)]
        got = [(e.timestamp, bytes(e.payload)) for e in j]
        assert got == evs
        assert j.time_range == (min(t for t, _ in evs), max(t for t, _ in evs))


def test_slices_equal_a_linear_filter(mixed):
    path, evs = mixed
    rng = random.Random(1)
    j = journal.open(path)
    n = len(evs)
    for _ in range(1000):
        a, b = rng.randrange(-n - 5, n + 5), rng.randrange(-n - 5, n + 5)
        s = j[a:b]
        want = list(range(n))[a:b]
        assert len(s) == len(want)
        if want:
            assert s[0].index == want[0] and s[-1].index == want[-1]
            assert [e.index for e in s] == want if len(want) < 50 else True
            assert np.array_equal(s.offsets(), j.offsets()[want[0] : want[-1] + 1])
    sub = j[100:200][10:20]
    assert [e.index for e in sub] == list(range(110, 120))


def test_between_equals_a_linear_filter_on_1000_windows(mixed):
    path, evs = mixed
    rng = random.Random(2)
    j = journal.open(path)
    lo = min(t for t, _ in evs) - 10
    hi = max(t for t, _ in evs) + 10
    for k in range(1000):
        f = rng.randrange(lo, hi)
        t = rng.randrange(f, hi + 1)
        if k % 10 == 0:
            f = None
        if k % 10 == 1:
            t = None
        want = linear_between(evs, f, t)
        got = j.between(f, t)
        assert [e.index for e in got] == want
        assert len(got) == len(want)
        # Within a slice too.
    s = j[500:2500]
    for _ in range(100):
        f = rng.randrange(lo, hi)
        t = rng.randrange(f, hi + 1)
        want = [500 + i for i in linear_between(evs[500:2500], f, t)]
        assert [e.index for e in s.between(f, t)] == want


def test_between_through_an_index_file(bin_path, mixed, tmp_path):
    import shutil
    import subprocess

    path, evs = mixed
    copy = tmp_path / "indexed.journal"
    shutil.copy(path, copy)
    r = subprocess.run([bin_path, "index", "--interval-events", "64", str(copy)], capture_output=True)
    assert r.returncode == 0, r.stderr
    j = journal.open(copy)
    rng = random.Random(3)
    lo, hi = min(t for t, _ in evs), max(t for t, _ in evs)
    for _ in range(200):
        f = rng.randrange(lo, hi)
        t = rng.randrange(f, hi + 1)
        assert [e.index for e in j.between(f, t)] == linear_between(evs, f, t)


def test_time_forms(mixed):
    pd = need("pandas")
    path, evs = mixed
    j = journal.open(path)
    t0 = evs[1000][0]
    t1 = evs[2000][0]
    want = [e.index for e in j.between(t0, t1)]
    secs, ns = divmod(t0, 1_000_000_000)
    rfc = dt.datetime.fromtimestamp(secs, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns:09d}Z"
    assert journal.to_ns(rfc) == t0
    assert journal.to_ns(str(t0)) == t0
    assert journal.to_ns(np.datetime64(t0, "ns")) == t0
    assert journal.to_ns(pd.Timestamp(t0, unit="ns", tz="UTC")) == t0
    assert journal.to_ns(pd.Timestamp(t0, unit="ns")) == t0
    us = t0 // 1000 * 1000
    d = dt.datetime.fromtimestamp(us // 1000 // 1_000_000, dt.timezone.utc).replace(
        microsecond=(us // 1000) % 1_000_000
    )
    assert journal.to_ns(d) == us
    assert journal.to_ns(d.replace(tzinfo=None)) == us
    assert journal.to_ns(d.astimezone(dt.timezone(dt.timedelta(hours=5)))) == us
    assert [e.index for e in j.between(rfc, np.datetime64(t1, "ns"))] == want
    assert [e.index for e in j.between(pd.Timestamp(t0, unit="ns", tz="UTC"), str(t1))] == want
    with pytest.raises(ValueError):
        j.between("not a time", None)
    with pytest.raises(ValueError):
        j.between(t1, t0)


def test_columns(mixed):
    path, evs = mixed
    j = journal.open(path)
    ts = j.timestamps()
    assert ts.dtype == np.dtype("datetime64[ns]")
    assert list(ts.astype(np.int64)) == [t for t, _ in evs]
    assert list(j.sizes()) == [len(p) for _, p in evs]
    offs = j.offsets()
    assert offs[0] == 24
    assert all(int(offs[i]) == j[i].offset for i in range(0, len(evs), 97))
    assert not ts.flags.writeable
    assert list(j[10:20].timestamps().astype(np.int64)) == [t for t, _ in evs[10:20]]


def test_payload_view_outlives_the_journal(mixed):
    path, evs = mixed
    j = journal.open(path)
    views = [j[i].payload for i in range(0, 3000, 300)]
    it = iter(j)
    first = next(it).payload
    ts = j.timestamps()
    j.close()
    del j, it
    gc.collect()
    assert isinstance(first, memoryview) and first.readonly
    assert bytes(first) == evs[0][1]
    assert [bytes(v) for v in views] == [evs[i][1] for i in range(0, 3000, 300)]
    assert int(ts[5].astype(np.int64)) == evs[5][0]


def test_closed_journal_refuses(mixed):
    path, _ = mixed
    j = journal.open(path)
    j.close()
    with pytest.raises(ValueError):
        len(j)


def test_to_numpy_strided_view(bin_path, tmp_path):
    dtype = np.dtype([("price", "<f8"), ("qty", "<i4"), ("side", "u1"), ("pad", "V3")])
    rng = np.random.default_rng(5)
    rows = np.zeros(500, dtype=dtype)
    rows["price"] = rng.random(500)
    rows["qty"] = rng.integers(0, 1000, 500)
    rows["side"] = rng.integers(0, 2, 500)
    evs = [(1_000 + i, rows[i].tobytes()) for i in range(500)]
    path = write_journal(bin_path, tmp_path / "fixed.journal", evs)
    j = journal.open(path)
    arr = j.to_numpy(dtype)
    assert arr.shape == (500,)
    assert arr.strides == (16 + 16,)  # 16-byte entry header + 16-byte payload (FORMAT.md 4)
    assert not arr.flags.writeable
    assert np.array_equal(arr, rows)
    # Zero copy: the array's memory is the journal's mapping, at the first payload.
    assert arr.__array_interface__["data"][0] != rows.__array_interface__["data"][0]
    assert np.array_equal(j[100:200].to_numpy(dtype), rows[100:200])
    with pytest.raises(ValueError):
        j.to_numpy(np.dtype("<f8"))
    assert j[5:5].to_numpy(dtype).shape == (0,)
    del j
    gc.collect()
    assert np.array_equal(arr, rows)


def test_to_arrow_pandas_polars(mixed):
    pa = need("pyarrow")
    path, evs = mixed
    j = journal.open(path)
    t = j.to_arrow()
    assert t.schema.names == ["index", "timestamp", "payload"]
    assert t.schema.field("index").type == pa.uint64()
    assert t.schema.field("timestamp").type == pa.timestamp("ns", tz="UTC")
    assert t.schema.field("payload").type == pa.binary()
    assert t.column("index").to_pylist() == list(range(len(evs)))
    assert t.column("timestamp").cast(pa.int64()).to_pylist() == [ts for ts, _ in evs]
    assert t.column("payload").to_pylist() == [p for _, p in evs]
    s = j[100:110].to_arrow()
    assert s.column("index").to_pylist() == list(range(100, 110))
    assert s.column("payload").to_pylist() == [p for _, p in evs[100:110]]
    assert pa.table(j).equals(t)  # the Arrow PyCapsule stream interface

    pd = need("pandas")
    df = j.to_pandas()
    assert list(df.columns) == ["index", "timestamp", "payload"]
    assert list(df["payload"][:5]) == [p for _, p in evs[:5]]
    assert list(df["timestamp"][:5]) == [pd.Timestamp(ts, unit="ns", tz="UTC") for ts, _ in evs[:5]]

    pl = need("polars")
    pdf = j.to_polars()
    assert pdf.columns == ["index", "timestamp", "payload"]
    assert pdf["payload"].to_list()[:5] == [p for _, p in evs[:5]]
    assert pdf["timestamp"].dtype == pl.Datetime("ns", "UTC")


def test_empty_journal(bin_path, tmp_path):
    path = write_journal(bin_path, tmp_path / "empty.journal", [])
    j = journal.open(path)
    assert len(j) == 0 and list(j) == [] and j.time_range is None
    assert j.timestamps().shape == (0,)
    pa = need("pyarrow")
    assert j.to_arrow().num_rows == 0
    assert j.to_arrow().schema.field("payload").type == pa.binary()
