"""Shared fixtures: the real `journal` binary (to write journals and as the reference reader) and
journals made with it."""

import base64
import importlib
import json
import os
import pathlib
import random
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
VECTORS = REPO / "spec" / "vectors"


def need(module: str):
    """Imports an optional component; a missing one fails the test under CI (CI=true), else skips."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{module} is missing under CI: {e}")
        pytest.skip(f"{module} is not installed")


def journal_bin() -> str:
    path = os.environ.get("JOURNAL_BIN") or str(REPO / "target" / "debug" / "journal")
    if not os.path.exists(path):
        if os.environ.get("CI") == "true":
            pytest.fail(f"the journal binary is missing at {path} (cargo build -p journal-cli)")
        pytest.skip(f"no journal binary at {path}")
    return path


@pytest.fixture(scope="session")
def bin_path():
    return journal_bin()


def run(bin_path, *args, input=None, check=True):
    return subprocess.run(
        [bin_path, *map(str, args)], input=input, capture_output=True, check=check, timeout=300
    )


def jsonl(events):
    """`journal append --format jsonl` input for (timestamp, payload) pairs."""
    return "".join(
        json.dumps({"timestamp": t, "payload": base64.b64encode(p).decode()}) + "\n"
        for t, p in events
    ).encode()


def write_journal(bin_path, path, events, start_time=0):
    run(bin_path, "append", "--format", "jsonl", "--start-time", start_time, path, input=jsonl(events))
    return path


def dump(bin_path, path):
    """The events as the Rust library reads them (`journal dump --format jsonl`), and its status."""
    r = run(bin_path, "dump", "--format", "jsonl", path, check=False)
    evs = [json.loads(line) for line in r.stdout.decode().splitlines() if line.strip()]
    return evs, r.returncode


def random_events(n, seed, sizes=(0, 1, 7, 8, 9, 16, 64, 200), jitter=True):
    rng = random.Random(seed)
    t = 1_700_000_000_000_000_000
    out = []
    for _ in range(n):
        # Mostly increasing, sometimes going back (timestamps need not be monotonic, FORMAT.md 2).
        t += rng.randrange(0, 5_000) - (rng.randrange(0, 20_000) if jitter and rng.random() < 0.05 else 0)
        size = rng.choice(sizes)
        out.append((t, rng.randbytes(size)))
    return out


@pytest.fixture(scope="session")
def mixed(bin_path, tmp_path_factory):
    """A journal of 3,000 events of mixed sizes and mostly increasing timestamps."""
    evs = random_events(3000, seed=7)
    path = tmp_path_factory.mktemp("mixed") / "mixed.journal"
    write_journal(bin_path, path, evs)
    return path, evs
