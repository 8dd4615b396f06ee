"""The point operations (`len`, `j[i]`, slices, `between`, iteration) go through the journal's
sparse index (spec/INDEX.md) without walking the whole journal, and answer exactly what the walk
answers: with an index, a stale one, none, and with timestamps that go backwards (FORMAT.md 2)."""

import random
import shutil

import numpy as np
import pytest

import journal
from conftest import jsonl, run, write_journal

T0 = 1_700_000_000_000_000_000


def backwards_events(n, seed):
    """Timestamps that often go back, sometimes far, sometimes repeat (FORMAT.md 6.4)."""
    rng = random.Random(seed)
    t = T0
    out = []
    for _ in range(n):
        r = rng.randrange(10)
        if r == 0:
            t -= rng.randrange(50_000)
        elif r in (1, 2):
            pass
        elif r in (3, 4, 5):
            t -= rng.randrange(1_000)
        else:
            t += rng.randrange(3_000)
        out.append((t, rng.randbytes(rng.choice((0, 3, 8, 40, 120)))))
    return out


def make(bin_path, tmp_path, name, evs, variant):
    """A journal of `evs` whose index is: `index` (the writer's, rebuilt with short intervals so
    that seeks land inside the journal), `stale` (describing the first half only), or `none`."""
    path = tmp_path / f"{name}.journal"
    idx = tmp_path / f"{name}.journal.idx"
    if variant == "stale":
        half = len(evs) // 2
        write_journal(bin_path, path, evs[:half], start_time=T0)
        run(bin_path, "index", "--interval-events", "16", "--interval-bytes", "512", path)
        old = idx.read_bytes()
        run(bin_path, "append", "--format", "jsonl", path, input=jsonl(evs[half:]))
        idx.write_bytes(old)
        # `journal index --check` exits 1 for a stale index.
        assert run(bin_path, "index", "--check", path, check=False).returncode == 1
    else:
        write_journal(bin_path, path, evs, start_time=T0)
        run(bin_path, "index", "--interval-events", "16", "--interval-bytes", "512", path)
        assert idx.exists()
        if variant == "none":
            idx.unlink()
    return path


VARIANTS = ["index", "stale", "none"]


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


def ev_tuple(e):
    return (e.index, e.timestamp, e.offset, e.size, bytes(e.payload))


@pytest.mark.parametrize("variant", VARIANTS)
def test_point_operations_equal_the_walk(bin_path, tmp_path, variant):
    evs = backwards_events(3000, seed=21)
    path = make(bin_path, tmp_path, "p", evs, variant)
    j = journal.open(path)
    walked = journal.open(path)
    walked.timestamps()  # the whole walk: every later answer of `walked` comes from it
    assert walked._core.walked()
    n = len(evs)
    assert len(j) == len(walked) == n
    rng = random.Random(22)
    for i in [0, 1, n - 1, -1, -n] + [rng.randrange(-n, n) for _ in range(300)]:
        assert ev_tuple(j[i]) == ev_tuple(walked[i])
        assert (j[i].timestamp, bytes(j[i].payload)) == evs[i]
    for bad in (n, -n - 1):
        with pytest.raises(IndexError):
            j[bad]
    for _ in range(200):
        a, b = rng.randrange(-n - 5, n + 5), rng.randrange(-n - 5, n + 5)
        s, w = j[a:b], walked[a:b]
        want = list(range(n))[a:b]
        assert len(s) == len(w) == len(want)
        got = [ev_tuple(e) for e in s]
        assert got == [ev_tuple(e) for e in w]
        assert [e[0] for e in got] == want
        if want:
            k = rng.randrange(-len(want), len(want))
            assert ev_tuple(s[k]) == ev_tuple(w[k])
    assert [ev_tuple(e) for e in j] == [ev_tuple(e) for e in walked]
    if variant != "none":
        # Nothing above needed the walk.
        assert not j._core.walked()
    # The columns, built now, agree with what the point operations saw.
    assert list(j.timestamps().astype(np.int64)) == [t for t, _ in evs]
    assert j.time_range == (min(t for t, _ in evs), max(t for t, _ in evs))


@pytest.fixture(scope="module")
def backwards(bin_path, tmp_path_factory):
    evs = backwards_events(3000, seed=31)
    d = tmp_path_factory.mktemp("backwards")
    return {v: make(bin_path, d, v, evs, v) for v in VARIANTS}, evs


@pytest.mark.parametrize("variant", VARIANTS + ["walked"])
def test_between_equals_a_linear_filter_on_1000_windows_with_backwards_time(backwards, variant):
    paths, evs = backwards
    j = journal.open(paths["index" if variant == "walked" else variant])
    if variant == "walked":
        j.timestamps()
    rng = random.Random(32)
    stamps = [t for t, _ in evs]
    lo, hi = min(stamps) - 10, max(stamps) + 10
    for k in range(1000):
        if k % 3 == 0:
            # Exactly at an event's time, or next to it: where ties and going back matter.
            f = rng.choice(stamps) + rng.randrange(-1, 2)
            t = f + rng.randrange(0, 20_000)
        else:
            f = rng.randrange(lo, hi)
            t = rng.randrange(f, hi + 1)
        if k % 10 == 0:
            f = None
        if k % 10 == 1:
            t = None
        want = linear_between(evs, f, t)
        got = j.between(f, t)
        assert len(got) == len(want)
        assert [e.index for e in got] == want
    for _ in range(300):
        a = rng.randrange(0, len(evs))
        b = rng.randrange(a, len(evs) + 1)
        f = rng.randrange(lo, hi)
        t = rng.randrange(f, hi + 1)
        want = [a + i for i in linear_between(evs[a:b], f, t)]
        assert [e.index for e in j[a:b].between(f, t)] == want
    if variant in ("index", "stale"):
        assert not j._core.walked()


def test_the_first_point_operations_do_not_walk_the_journal(bin_path, tmp_path):
    """`len`, `j[i]`, slices, `between` and iteration on a 60,000-event journal with its index:
    the whole-journal walk (the table of every event) is never built; without the index the
    first `len` builds it."""
    evs = [(T0 + 1_000 * i - (7_000 if i % 97 == 0 else 0), i.to_bytes(4, "little") * (i % 5))
           for i in range(60_000)]
    path = write_journal(bin_path, tmp_path / "big.journal", evs, start_time=T0)
    idx = tmp_path / "big.journal.idx"
    assert idx.exists()  # the writer keeps it

    j = journal.open(path)
    assert not j._core.walked()
    assert len(j) == 60_000
    assert j.damage is None
    for i in (0, 1, 12_345, 59_999, -1, -60_000):
        assert (j[i].timestamp, bytes(j[i].payload)) == evs[i]
    s = j[40_000:40_010]
    assert [(e.timestamp, bytes(e.payload)) for e in s] == evs[40_000:40_010]
    assert len(j[100:-100]) == 59_800
    w = j.between(T0 + 30_000_000, T0 + 30_050_000)
    want = linear_between(evs, T0 + 30_000_000, T0 + 30_050_000)
    assert len(w) == len(want) and [e.index for e in w] == want
    assert [e.index for e in j[50_000:].between(T0 + 10_000, T0 + 50_010_000)] == list(
        range(50_000, 50_010)
    )
    it = iter(j)
    assert next(it).index == 0 and next(it).index == 1
    assert list(j.indices()[:3]) == [0, 1, 2]
    assert not j._core.walked()
    # A whole-column operation walks, once.
    assert len(j.timestamps()) == 60_000
    assert j._core.walked()

    idx.unlink()
    k = journal.open(path)
    assert not k._core.walked()
    assert len(k) == 60_000
    assert k._core.walked()  # no index: the count is the walk, kept for what follows
    assert (k[12_345].timestamp, bytes(k[12_345].payload)) == evs[12_345]


def test_damage_below_the_checkpoint_is_found_by_a_walk_only(bin_path, tmp_path):
    """INDEX.md 10: a bit flipped after the index was written is not seen through the index; a
    walk (iteration crossing it, the columns, verify) finds it, and without the index the count
    finds it."""
    evs = [(T0 + i, bytes([i % 256]) * 24) for i in range(2000)]
    path = write_journal(bin_path, tmp_path / "flip.journal", evs, start_time=T0)
    offsets = journal.open(path).offsets()
    at = int(offsets[700]) + 16 + 3
    data = bytearray(path.read_bytes())
    data[at] ^= 0x10
    path.write_bytes(bytes(data))

    j = journal.open(path)
    assert len(j) == 2000 and j.damage is None  # the index vouches for the events below it
    assert bytes(j[1500].payload) == evs[1500][1]  # a seek past the damage reads on
    got = []
    with pytest.raises(journal.DamagedError) as e:
        for ev in j:
            got.append(ev.index)
    assert got == list(range(700)) and e.value.offset == int(offsets[700])
    assert e.value.reason == "checksum"
    with pytest.raises(journal.DamagedError):
        j.timestamps()
    with pytest.raises(journal.DamagedError):
        len(j)  # after the walk, the walk's answer
    lenient = journal.open(path, allow_damaged=True)
    assert len(lenient) == 2000
    assert len(lenient.timestamps()) == 700 and len(lenient) == 700
    assert lenient.damage is not None and lenient.damage.offset == int(offsets[700])
    assert not journal.verify(path).intact

    (tmp_path / "flip.journal.idx").unlink()
    with pytest.raises(journal.DamagedError):
        len(journal.open(path))
    assert len(journal.open(path, allow_damaged=True)) == 700
