"""Every spec vector reads in Python as the Rust library reads it (spec/vectors/expected.txt, and
the events `journal dump` prints)."""

import base64

import pytest

import journal
from conftest import VECTORS, dump


def expectations():
    out = {}
    for line in (VECTORS / "expected.txt").read_text().splitlines():
        if not line.strip():
            continue
        name, verdict, *fields = line.split()
        out[name] = (verdict, dict(f.split("=", 1) for f in fields))
    return out


EXPECTED = expectations()


def test_every_vector_has_an_expectation():
    files = sorted(p.name for p in VECTORS.glob("*.journal"))
    assert files and files == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_vector(name, bin_path):
    verdict, f = EXPECTED[name]
    path = VECTORS / name
    if verdict == "not_a_journal":
        with pytest.raises(journal.NotAJournalError) as e:
            journal.open(path)
        assert isinstance(e.value, journal.JournalError)
        with pytest.raises(journal.NotAJournalError):
            journal.verify(path)
        return

    events = int(f["events"])
    report = journal.verify(path)
    assert report.events == events
    assert report.end == int(f["end"])
    reference, status = dump(bin_path, path)
    assert len(reference) == events

    if verdict == "damaged":
        assert not report.intact
        assert report.damage == {"offset": int(f["offset"]), "reason": f["reason"]}
        assert status == 1
        j = journal.open(path)
        with pytest.raises(journal.DamagedError) as e:
            len(j)
        assert e.value.offset == int(f["offset"])
        assert e.value.reason == f["reason"]
        assert isinstance(e.value, journal.JournalError)
        # Iteration yields the valid events, then raises, as the library's iterator.
        got = []
        with pytest.raises(journal.DamagedError):
            for ev in j:
                got.append(ev)
        j = journal.open(path, allow_damaged=True)
        assert j.damage.offset == int(f["offset"])
    else:
        assert verdict == "intact"
        assert report.intact and report.damage is None
        assert status == 0
        j = journal.open(path)
        got = list(j)
    assert len(j) == events
    assert len(got) == events
    for ev, ref in zip(got, reference):
        assert ev.index == ref["index"]
        assert ev.offset == ref["offset"]
        assert ev.timestamp == ref["timestamp"]
        assert ev.size == ref["size"]
        assert bytes(ev.payload) == base64.b64decode(ref["payload"])
    assert [int(t) for t in j.timestamps().astype("int64")] == [r["timestamp"] for r in reference]
    assert list(j.offsets()) == [r["offset"] for r in reference]
    assert list(j.sizes()) == [r["size"] for r in reference]
