"""Damaged, truncated and non-journal files raise the right exceptions; no input crashes."""

import os
import random
import shutil

import pytest

import journal
from conftest import write_journal


def test_truncated_journal(mixed, tmp_path):
    path, evs = mixed
    cut = tmp_path / "cut.journal"
    shutil.copy(path, cut)
    j0 = journal.open(path)
    mid = int(j0.offsets()[1500]) + 10  # inside event 1500's header
    with open(cut, "r+b") as f:
        f.truncate(mid)
    j = journal.open(cut)
    with pytest.raises(journal.DamagedError) as e:
        len(j)
    assert e.value.reason == "truncated"
    assert e.value.offset == int(j0.offsets()[1500])
    assert isinstance(e.value, journal.JournalError)
    got = []
    with pytest.raises(journal.DamagedError):
        for ev in j:
            got.append(bytes(ev.payload))
    assert got == [p for _, p in evs[:1500]]
    ok = journal.open(cut, allow_damaged=True)
    assert len(ok) == 1500
    r = journal.verify(cut)
    assert not r.intact and r.events == 1500 and r.damage["reason"] == "truncated"


def test_flipped_payload_bit(mixed, tmp_path):
    path, evs = mixed
    bad = tmp_path / "flip.journal"
    shutil.copy(path, bad)
    j0 = journal.open(path)
    i = next(k for k in range(700, 3000) if evs[k][1])
    at = int(j0.offsets()[i]) + 16
    data = bytearray(bad.read_bytes())
    data[at] ^= 0x01
    bad.write_bytes(bytes(data))
    with pytest.raises(journal.DamagedError) as e:
        len(journal.open(bad))
    assert e.value.reason == "checksum" and e.value.offset == int(j0.offsets()[i])
    # Without the CRC check the flipped bit goes unnoticed (structure is still checked).
    unchecked = journal.open(bad, verify_checksums=False)
    assert len(unchecked) == len(evs)
    assert bytes(unchecked[i].payload) != evs[i][1]


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, world\n" * 10, bytes(4096), os.urandom(24), os.urandom(10_000)],
    ids=["empty", "text", "zeros", "random24", "random10k"],
)
def test_not_a_journal(tmp_path, content):
    p = tmp_path / "x.journal"
    p.write_bytes(content)
    with pytest.raises(journal.NotAJournalError) as e:
        journal.open(p)
    assert isinstance(e.value, journal.JournalError)


def test_directory_and_missing(tmp_path):
    with pytest.raises(journal.NotAJournalError):
        journal.open(tmp_path)
    with pytest.raises(FileNotFoundError):
        journal.open(tmp_path / "missing.journal")


def test_no_crash_on_mutated_journals(bin_path, tmp_path):
    """Random byte changes anywhere: every operation returns or raises a JournalError."""
    evs = [(1_000 + i, bytes([i % 251]) * (i % 40)) for i in range(200)]
    src = write_journal(bin_path, tmp_path / "src.journal", evs)
    base = src.read_bytes()
    # The writer's index: half of the mutated copies keep it, so that the point operations seek
    # through an index that may no longer describe the journal (INDEX.md 6).
    index = (tmp_path / "src.journal.idx").read_bytes()
    rng = random.Random(11)
    outcomes = set()
    for k in range(300):
        data = bytearray(base)
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(0, len(data))
            data[at] = rng.randrange(256)
        if k % 7 == 0:
            data = data[: rng.randrange(0, len(data))]
        p = tmp_path / f"m{k}.journal"
        p.write_bytes(bytes(data))
        idx = tmp_path / f"m{k}.journal.idx"
        if k % 2:
            idx.write_bytes(index)
        try:
            j = journal.open(p)
            n = len(j)
            j[n // 2] if n else None
            j[n // 3 : n // 2].between(1_050, 1_100)
            list(j)
            j.timestamps()
            j.to_numpy("u1") if n and all(s == 1 for s in j.sizes()) else None
            j.between(1_050, 1_100)
            outcomes.add("ok")
        except journal.JournalError as e:
            outcomes.add(type(e).__name__)
        try:
            journal.verify(p)
        except journal.NotAJournalError:
            pass
        p.unlink()
        idx.unlink(missing_ok=True)
    assert "DamagedError" in outcomes
