"""Journal sets (spec/SET.md): a directory of segments opened with `journal.open(dir)` reads as one
journal with global indexes, through the library's set reader. The sets are written by the
library's `SetWriter` through the `make_set` example of this crate (`examples/make_set.rs`; the
command-line tool does not write sets)."""

import gc
import os
import random
import re
import subprocess

import numpy as np
import pytest

import journal
from conftest import REPO, need, random_events
from test_api import linear_between


def make_set_bin() -> str:
    path = os.environ.get("MAKE_SET_BIN") or str(REPO / "target" / "debug" / "examples" / "make_set")
    if not os.path.exists(path):
        if os.environ.get("CI") == "true":
            pytest.fail(f"the make_set example is missing at {path} (cargo build -p journal-python --examples)")
        pytest.skip(f"no make_set example at {path}")
    return path


def lines(events):
    return "".join(f"{t} {p.hex()}\n" for t, p in events).encode()


def write_set(path, events, roll_bytes=4096, keep=None):
    args = [make_set_bin(), str(path), str(roll_bytes)] + ([str(keep)] if keep else [])
    subprocess.run(args, input=lines(events), check=True, capture_output=True, timeout=300)
    return path


def segments(path):
    return sorted(p for p in os.listdir(path) if re.fullmatch(r"\d{20}\.journal", p))


def ev_tuple(e):
    return (e.index, e.timestamp, bytes(e.payload))


@pytest.fixture(scope="module")
def mixed_set(tmp_path_factory):
    """2,000 events of mixed sizes (timestamps sometimes going back) in segments of 4 KiB."""
    evs = random_events(2000, seed=11)
    path = write_set(tmp_path_factory.mktemp("set") / "mixed.set", evs)
    return path, evs


def test_a_set_reads_as_one_journal(mixed_set):
    path, evs = mixed_set
    assert len(segments(path)) > 20  # many rolls
    j = journal.open(path)
    assert j.is_set and j.first_index == 0
    assert len(j) == len(evs)
    assert not j._core.walked()  # counted by a seek, not a walk
    want = [(i, t, p) for i, (t, p) in enumerate(evs)]
    for i in (0, 1, 57, 999, 1999, -1, -2000):
        assert ev_tuple(j[i]) == want[i]
    with pytest.raises(IndexError):
        j[2000]
    rng = random.Random(3)
    for _ in range(50):
        a = rng.randrange(0, len(evs))
        b = rng.randrange(a, len(evs) + 1)
        s = j[a:b]
        assert len(s) == b - a
        assert [ev_tuple(e) for e in s] == want[a:b]
    assert [ev_tuple(e) for e in j] == want
    assert not j._core.walked()
    assert list(j.indices()) == list(range(len(evs)))

    # The whole-column operations.
    assert list(j.timestamps().astype(np.int64)) == [t for t, _ in evs]
    assert list(j.sizes()) == [len(p) for _, p in evs]
    assert j.time_range == (min(t for t, _ in evs), max(t for t, _ in evs))
    assert j[100:200].time_range == (min(t for t, _ in evs[100:200]), max(t for t, _ in evs[100:200]))


def test_set_between_equals_a_linear_filter(mixed_set):
    path, evs = mixed_set
    lo = min(t for t, _ in evs) - 10
    hi = max(t for t, _ in evs) + 10
    rng = random.Random(5)
    for walked in (False, True):
        j = journal.open(path)
        if walked:
            j.timestamps()
        for _ in range(300):
            f = rng.randrange(lo, hi)
            t = rng.randrange(f, hi + 1)
            assert [e.index for e in j.between(f, t)] == linear_between(evs, f, t)
        for _ in range(200):
            a = rng.randrange(0, len(evs))
            b = rng.randrange(a, len(evs) + 1)
            f = rng.randrange(lo, hi)
            t = rng.randrange(f, hi + 1)
            want = [a + i for i in linear_between(evs[a:b], f, t)]
            assert [e.index for e in j[a:b].between(f, t)] == want
        assert j.between(None, None).__len__() == len(evs)


def test_set_to_arrow_and_to_numpy(mixed_set, tmp_path):
    pa = need("pyarrow")
    path, evs = mixed_set
    j = journal.open(path)
    t = j.to_arrow()
    assert t.schema.names == ["index", "timestamp", "payload"]
    assert t.column("index").to_pylist() == list(range(len(evs)))
    assert t.column("timestamp").cast(pa.int64()).to_pylist() == [ts for ts, _ in evs]
    assert t.column("payload").to_pylist() == [p for _, p in evs]
    s = j[333:1444].to_arrow()
    assert s.column("index").to_pylist() == list(range(333, 1444))
    assert s.column("payload").to_pylist() == [p for _, p in evs[333:1444]]
    # Small chunks: the payload column is split, the values are the same.
    idx, ts, chunks = j._core.arrow_columns(0, len(evs), True, 1000)
    assert len(chunks) > 10 and sum(rows for rows, _, _ in chunks) == len(evs)

    fixed = [(1_000 + i, i.to_bytes(8, "little") * 3) for i in range(700)]
    k = journal.open(write_set(tmp_path / "fixed.set", fixed))
    arr = k.to_numpy(np.dtype([("a", "<u8"), ("b", "<u8"), ("c", "<u8")]))
    assert list(arr["a"]) == list(range(700)) and list(arr["c"]) == list(range(700))
    with pytest.raises(ValueError):
        journal.open(mixed_set[0]).to_numpy("V8")


def test_set_payloads_outlive_the_journal_object(mixed_set):
    path, evs = mixed_set
    j = journal.open(path)
    kept = [j[i].payload for i in (5, 1500)] + [e.payload for e in j[990:1010]]
    del j
    gc.collect()
    assert [bytes(p) for p in kept] == [evs[5][1], evs[1500][1]] + [p for _, p in evs[990:1010]]


def test_a_pruned_set_starts_at_its_first_available_index(tmp_path):
    evs = [(10_000 + i, bytes([i % 251]) * 100) for i in range(1000)]
    path = write_set(tmp_path / "pruned.set", evs, roll_bytes=4096, keep=3)
    assert len(segments(path)) == 3
    j = journal.open(path)
    first = j.first_index
    assert first > 0
    assert len(j) == 1000 - first
    assert ev_tuple(j[0]) == (first, *evs[first])
    assert ev_tuple(j[-1]) == (999, *evs[999])
    assert [e.index for e in j] == list(range(first, 1000))
    assert list(j.indices()) == list(range(first, 1000))
    assert j.to_arrow().column("index").to_pylist() == list(range(first, 1000))
    assert [e.index for e in j.between(10_000 + first + 5, 10_000 + first + 8)] == [
        first + 5, first + 6, first + 7]


def test_a_directory_that_is_not_a_set(tmp_path):
    with pytest.raises(journal.NotAJournalError):
        journal.open(tmp_path)


def test_set_damage_raises_after_the_valid_events(tmp_path):
    evs = [(1_000 + i, bytes([i % 256]) * 40) for i in range(600)]
    path = write_set(tmp_path / "damaged.set", evs)
    segs = segments(path)
    assert len(segs) > 4
    # Flip a payload byte of the third segment's first event (a CRC mismatch).
    first_of_third = int(segs[2].split(".")[0])
    seg = path / segs[2]
    data = bytearray(seg.read_bytes())
    data[24 + 16 + 3] ^= 0x01  # file header (24 B), entry header (16 B), payload byte 3
    seg.write_bytes(bytes(data))
    got = []
    with pytest.raises(journal.DamagedError):
        for e in journal.open(path):
            got.append(e.index)
    assert got == list(range(first_of_third))
    with pytest.raises(journal.DamagedError):
        journal.open(path).to_arrow()
    lenient = journal.open(path, allow_damaged=True)
    assert len(lenient.timestamps()) == first_of_third
    assert lenient.damage is not None


def test_follow_crosses_rolls_of_a_live_set_writer(tmp_path):
    path = tmp_path / "live.set"
    proc = subprocess.Popen(
        [make_set_bin(), str(path), "4096"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        def send(events):
            proc.stdin.write(lines(events) + b".\n")
            proc.stdin.flush()
            # The writer answers once the events are published.
            assert proc.stdout.readline() == b"ok\n", proc.stderr.read()

        evs = [(5_000 + i, b"event %04d " % i + bytes(50)) for i in range(400)]
        send(evs[:1])
        j = journal.open(path)
        follower = j.follow(timeout=60)
        got = [ev_tuple(next(follower))]
        for a in range(1, 400, 57):
            # Each batch is written after the follower caught up: it waits for them live, across
            # the rolls the batch makes.
            send(evs[a:a + 57])
            got += [ev_tuple(next(follower)) for _ in evs[a:a + 57]]
        assert got == [(i, t, p) for i, (t, p) in enumerate(evs)]
        assert len(segments(path)) > 5
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
        # From the end: nothing more comes before the timeout.
        assert list(journal.open(path).follow(timeout=0.2, from_end=True)) == []
        assert [e.index for e in journal.open(path).follow(timeout=0.2)] == list(range(400))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
