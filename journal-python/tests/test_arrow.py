"""`to_arrow()`'s one pass: split over threads (each part from its own seek through the index) it
gives exactly the events of a single-threaded pass and of the library, for the whole journal and
for slices, with payload chunks of any size; damage inside a later part is raised, or ends the
columns before it."""

import random

import numpy as np
import pytest

import journal
from conftest import need, write_journal

T0 = 1_700_000_000_000_000_000


def columns(j, start, stop, strict=True, chunk_bytes=1 << 30, min_part=1, threads=None):
    """The native pass's columns as Python lists: indexes, timestamps, payloads, and the parts."""
    idx, ts, chunks = j._core.arrow_columns(start, stop, strict, chunk_bytes, min_part, threads)
    assert len(idx) == len(ts)  # one part of each per thread
    idx = [int(i) for part in idx for i in np.asarray(part)]
    tss = [int(t) for part in ts for t in np.asarray(part)]
    payloads = []
    for rows, offs, data in chunks:
        o, d = np.asarray(offs), np.asarray(data).tobytes()
        assert len(o) == rows + 1 and o[0] == 0 and o[-1] == len(d)
        payloads += [d[o[i]:o[i + 1]] for i in range(rows)]
    return idx, tss, payloads, len(ts), len(chunks)


@pytest.fixture(scope="module")
def big(bin_path, tmp_path_factory):
    rng = random.Random(9)
    evs = [(T0 + 1_000 * i - rng.randrange(0, 3_000), rng.randbytes(rng.choice((0, 3, 8, 64, 100))))
           for i in range(40_000)]
    path = write_journal(bin_path, tmp_path_factory.mktemp("arrow") / "big.journal", evs, start_time=T0)
    assert (path.parent / "big.journal.idx").exists()
    return path, evs


def test_the_pass_split_over_threads_equals_one_thread(big):
    path, evs = big
    j = journal.open(path)
    want_ts = [t for t, _ in evs]
    want_p = [p for _, p in evs]
    one = columns(j, 0, len(evs), threads=1)
    assert one[3] == 1  # one part
    assert one[:3] == (list(range(len(evs))), want_ts, want_p)
    for threads in (2, 3, 8):
        got = columns(j, 0, len(evs), threads=threads)
        assert got[3] == threads  # one timestamp part per thread
        assert got[:3] == one[:3]
    # Small payload chunks within each part.
    got = columns(j, 0, len(evs), chunk_bytes=5_000, threads=4)
    assert got[4] > 100 and got[:3] == one[:3]
    rng = random.Random(1)
    for _ in range(40):
        a = rng.randrange(0, len(evs))
        b = rng.randrange(a, len(evs) + 1)
        got = columns(j, a, b, threads=rng.choice((1, 2, 5)), min_part=rng.choice((1, 100, 5_000)))
        assert got[:3] == (list(range(a, b)), want_ts[a:b], want_p[a:b])
    assert not j._core.walked()  # seeks, not the whole walk

    pa = need("pyarrow")
    t = j.to_arrow()
    assert t.column("index").to_pylist() == list(range(len(evs)))
    assert t.column("timestamp").cast(pa.int64()).to_pylist() == want_ts
    assert t.column("payload").to_pylist() == want_p


def test_damage_in_a_later_part_is_found_by_its_thread(bin_path, tmp_path, big):
    path, evs = big
    offsets = journal.open(path).offsets()
    copy = tmp_path / "flip.journal"
    data = bytearray(path.read_bytes())
    # Event 30,000 (in the third of four parts) with a non-empty payload: flip a payload byte.
    k = next(i for i in range(30_000, len(evs)) if len(evs[i][1]) > 0)
    data[int(offsets[k]) + 16] ^= 0x40
    copy.write_bytes(bytes(data))
    (tmp_path / "flip.journal.idx").write_bytes((path.parent / "big.journal.idx").read_bytes())

    j = journal.open(copy)
    assert len(j) == len(evs)  # the index vouches for the events below its checkpoint
    with pytest.raises(journal.DamagedError) as e:
        columns(j, 0, len(evs), threads=4)
    assert e.value.offset == int(offsets[k]) and e.value.reason == "checksum"
    lenient = journal.open(copy, allow_damaged=True)
    got = columns(lenient, 0, len(evs), strict=False, threads=4)
    assert got[:3] == (list(range(k)), [t for t, _ in evs[:k]], [p for _, p in evs[:k]])
    # The pass made the journal walk: it now presents the events before the damage.
    assert len(lenient) == k
    with pytest.raises(journal.DamagedError):
        journal.open(copy).to_arrow()
