"""`follow()` sees events appended by a live `journal append` process (the real binary)."""

import subprocess
import time

import pytest

import journal
from conftest import jsonl, write_journal


def test_follow_sees_events_from_a_journal_append_process(bin_path, tmp_path):
    path = write_journal(bin_path, tmp_path / "live.journal", [(1, b"first")])
    proc = subprocess.Popen(
        [bin_path, "append", "--format", "jsonl", str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        j = journal.open(path)
        follower = j.follow(timeout=60)
        ev = next(follower)
        assert (ev.index, ev.timestamp, bytes(ev.payload)) == (0, 1, b"first")
        for k in range(1, 51):
            # One line at a time: each event must be seen before the next is written.
            proc.stdin.write(jsonl([(1 + k, b"event %d" % k)]))
            proc.stdin.flush()
            ev = next(follower)
            assert (ev.index, ev.timestamp, bytes(ev.payload)) == (k, 1 + k, b"event %d" % k)
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
        # Nothing more comes: the generator ends at its timeout.
        quiet = j.follow(timeout=0.2, from_end=True)
        started = time.monotonic()
        assert list(quiet) == []
        assert time.monotonic() - started >= 0.2
        # A new follower from the start sees all of them.
        assert [e.index for e in j.follow(timeout=0.2)] == list(range(51))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_follow_rejects_a_bad_timeout(bin_path, tmp_path):
    path = write_journal(bin_path, tmp_path / "t.journal", [(1, b"x")])
    with pytest.raises(ValueError):
        next(journal.open(path).follow(timeout=-1))
