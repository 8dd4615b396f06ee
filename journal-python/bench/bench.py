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
    best = float("inf")
    out = None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    print(f"{label:<44} {n / best / 1e6:8.1f} M events/s {nbytes / best / 1e6:9.1f} MB/s  ({best:.3f} s)")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--bin", default=str(pathlib.Path(__file__).resolve().parents[2] / "target/release/journal"))
    a = ap.parse_args()
    n, size = a.events, a.size
    d = pathlib.Path(a.dir or tempfile.mkdtemp(prefix="journal-bench-"))
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

    timed("numpy.fromfile (same bytes)", n, file_bytes, lambda: np.fromfile(path, dtype=np.uint8))
    timed("open + walk (len)", n, file_bytes, lambda: len(journal.open(path)))
    j = journal.open(path)
    len(j)
    timed("timestamps() (after the walk)", n, n * 8, lambda: j.timestamps())
    timed("open + walk + timestamps()", n, file_bytes, lambda: journal.open(path).timestamps())
    table = timed("to_arrow()", n, n * size, lambda: j.to_arrow())
    timed("to_numpy('V64') (strided view)", n, n * size, lambda: j.to_numpy(np.dtype(f"V{size}")))

    def iterate():
        c = 0
        for _ in j:
            c += 1
        return c

    timed("Python iteration (for ev in j)", n, file_bytes, iterate, repeat=1)

    def export():
        out = d / "export.parquet"
        if out.exists():
            out.unlink()
        subprocess.run([a.bin, "export", str(path), str(out), "--format", "parquet"], check=True)

    timed("journal export --format parquet", n, file_bytes, export, repeat=1)
    timed(
        "pyarrow write_table (zstd, same table)",
        n,
        file_bytes,
        lambda: pq.write_table(table, d / "pyarrow.parquet", compression="zstd", row_group_size=1 << 20),
        repeat=1,
    )


if __name__ == "__main__":
    main()
