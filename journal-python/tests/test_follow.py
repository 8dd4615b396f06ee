"""`follow()` sees events appended by a live `journal append` process (the real binary)."""

import subprocess
import threading
import time

import pytest

import journal
from conftest import jsonl, write_journal


def append_process(bin_path, path):
    """A live `journal append --format jsonl PATH`, reading events from its stdin."""
    return subprocess.Popen(
        [bin_path, "append", "--format", "jsonl", str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_follow_sees_events_from_a_journal_append_process(bin_path, tmp_path):
    path = write_journal(bin_path, tmp_path / "live.journal", [(1, b"first")])
    proc = append_process(bin_path, path)
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


def wake_header(journal_path):
    """`sleeping` and `wakes` of the journal's wake-up file (FORMAT.md 15.1)."""
    with open(str(journal_path) + ".wake", "rb") as f:
        b = f.read(32)
    assert b[:8] == b"JRNLWAKE"
    return int.from_bytes(b[20:24], "little"), int.from_bytes(b[24:32], "little")


def test_a_waiting_follower_sleeps_on_the_wake_up_file_until_the_writer_appends(bin_path, tmp_path):
    path = write_journal(bin_path, tmp_path / "sleepy.journal", [(1, b"first")])
    proc = append_process(bin_path, path)
    try:
        follower = journal.open(path).follow(timeout=60, from_end=True)
        got = []
        t = threading.Thread(target=lambda: got.extend(next(follower) for _ in range(5)))
        t.start()
        for k in range(5):
            # Caught up, the follower sleeps in the kernel (it announced itself in the file)
            # rather than polling in steps; the next append wakes it.
            deadline = time.monotonic() + 60
            while wake_header(path)[0] == 0:
                assert time.monotonic() < deadline, "the follower never slept"
                time.sleep(0.001)
            wakes = wake_header(path)[1]
            proc.stdin.write(jsonl([(10 + k, b"live %d" % k)]))
            proc.stdin.flush()
            deadline = time.monotonic() + 60
            while len(got) <= k or wake_header(path)[1] == wakes:
                assert time.monotonic() < deadline, "no event, or the append woke nobody"
                assert t.is_alive() or len(got) == 5, "the follower stopped"
                time.sleep(0.001)
            assert wake_header(path)[1] == wakes + 1
        t.join(timeout=60)
        assert [(e.index, e.timestamp, bytes(e.payload)) for e in got] == [
            (1 + k, 10 + k, b"live %d" % k) for k in range(5)
        ]
    finally:
        proc.stdin.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
