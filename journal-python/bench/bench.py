"""Benchmark of the Python package (BENCHMARKS.md, "Python"): 10 million 64-byte events.

    python journal-python/bench/bench.py [--events N] [--dir DIR] [--bin target/release/journal]

Run it on a quiet machine with the package built in release mode (`maturin develop --release`)
and a release `journal` binary. It prints one line per measurement: rates in events/s and MB/s.
The journal is made with `journal import` from a Parquet file that pyarrow writes.
"""

import argparse
import gc
import os
import pathlib
import subprocess
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import journal


def timed(label, n, nbytes, fn, repeat=3):
    """Runs `fn` `repeat` times and prints the best rate. Each run must do the whole work itself
    (open the journal afresh, build its own arrays): nothing is kept from one run to the next."""
    best = float("inf")
    out = None
    for _ in range(repeat):
        out = None
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    print(f"{label:<44} {n / best / 1e6:8.1f} M events/s {nbytes / best / 1e6:9.1f} MB/s  ({best:.3f} s)")
    return out, best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--bin", default=str(pathlib.Path(__file__).resolve().parents[2] / "target/release/journal"))
    a = ap.parse_args()
    n, size = a.events, a.size
    if a.dir:
        run(a, n, size, pathlib.Path(a.dir))
    else:
        # A temporary directory (about 1.5 GB for 10 million events), removed afterwards.
        with tempfile.TemporaryDirectory(prefix="journal-bench-") as d:
            run(a, n, size, pathlib.Path(d))


def run(a, n, size, d):
    src = d / "src.parquet"
    path = d / "bench.journal"
    if not path.exists():
        ts = pa.array(1_700_000_000_000_000_000 + np.arange(n, dtype=np.int64) * 1000, pa.timestamp("ns", "UTC"))
        data = np.random.default_rng(1).integers(0, 256, n * size, dtype=np.uint8)
        offs = pa.py_buffer((np.arange(n + 1, dtype=np.int32) * size).tobytes())
        payload = pa.Array.from_buffers(pa.binary(), n, [None, offs, pa.py_buffer(data)])
        pq.write_table(pa.table({"timestamp": ts, "payload": payload}), src, compression="zstd")
        subprocess.run([a.bin, "import", str(src), str(path)], check=True)
    file_bytes = os.path.getsize(path)
    print(f"{n} events of {size} B, journal {file_bytes / 1e6:.0f} MB")

    _, t_np = timed("numpy.fromfile (same bytes, reference)", n, file_bytes, lambda: np.fromfile(path, dtype=np.uint8))
    timed("open + len (through the index)", n, file_bytes, lambda: len(journal.open(path)))
    # Each run opens the journal afresh: the columns are built by a walk of the whole journal.
    _, t_ts = timed("open + timestamps()", n, n * 8, lambda: journal.open(path).timestamps())
    _, t_arrow = timed("open + to_arrow()", n, n * size, lambda: journal.open(path).to_arrow())
    # For comparison: the native pass behind to_arrow() held to one thread (no pyarrow table).
    timed(
        "open + to_arrow()'s pass on one thread",
        n,
        n * size,
        lambda: journal.open(path)._core.arrow_columns(0, n, True, 1 << 30, 1 << 18, 1),
    )
    timed(
        "open + to_numpy('V%d') (strided view)" % size,
        n,
        n * size,
        lambda: journal.open(path).to_numpy(np.dtype(f"V{size}")),
    )

    def iterate():
        c = 0
        for _ in journal.open(path):
            c += 1
        assert c == n
        return c

    _, t_iter = timed("open + Python iteration (for ev in j)", n, file_bytes, iterate, repeat=1)

    def export():
        out = d / "export.parquet"
        if out.exists():
            out.unlink()
        subprocess.run([a.bin, "export", str(path), str(out), "--format", "parquet"], check=True)

    _, t_exp = timed("journal export --format parquet", n, file_bytes, export, repeat=1)
    table = journal.open(path).to_arrow()
    _, t_pq = timed(
        "pyarrow write_table (zstd, same table)",
        n,
        file_bytes,
        lambda: pq.write_table(table, d / "pyarrow.parquet", compression="zstd", row_group_size=1 << 20),
        repeat=1,
    )
    print()
    for label, t, goal in (("timestamps()", t_ts, 20e6), ("to_arrow()", t_arrow, 20e6), ("iteration", t_iter, 2e6)):
        rate = n / t
        verdict = "met" if rate >= goal else "MISSED"
        print(f"{label:<14} {rate / 1e6:6.1f} M events/s, {t_np / t:4.2f}x numpy.fromfile; goal >= {goal / 1e6:.0f} M: {verdict}")
    print(f"export --format parquet: {t_pq / t_exp:4.2f}x pyarrow write_table's speed")


if __name__ == "__main__":
    main()
