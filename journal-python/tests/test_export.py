"""Round trips: `journal export` (Parquet, Arrow, CSV, JSON Lines) agrees with `to_arrow()`, and
`journal import` of the Parquet reproduces the journal's events exactly."""

import base64
import csv
import json

import pytest

import journal
from conftest import need, run


@pytest.mark.parametrize("window", [None, (0.25, 0.75)])
def test_parquet_export_import_round_trip(bin_path, mixed, tmp_path, window):
    pq = need("pyarrow.parquet")
    path, evs = mixed
    j = journal.open(path)
    args = []
    view = j
    if window:
        lo, hi = j.time_range
        f = lo + int((hi - lo) * window[0])
        t = lo + int((hi - lo) * window[1])
        args = ["--from-time", str(f), "--to-time", str(t)]
        view = j.between(f, t)
        assert 0 < len(view) < len(j)
    out = tmp_path / "out.parquet"
    run(bin_path, "export", path, out, "--format", "parquet", *args)
    table = pq.read_table(out)
    assert table.equals(view.to_arrow())
    back = tmp_path / "back.journal"
    run(bin_path, "import", out, back)
    k = journal.open(back)
    assert [(e.timestamp, bytes(e.payload)) for e in k] == [
        (e.timestamp, bytes(e.payload)) for e in view
    ]
    assert journal.verify(back).intact


def test_arrow_csv_jsonl_exports(bin_path, mixed, tmp_path):
    pa = need("pyarrow")
    path, evs = mixed
    j = journal.open(path)
    run(bin_path, "export", path, tmp_path / "a.arrow", "--format", "arrow")
    with pa.memory_map(str(tmp_path / "a.arrow")) as src:
        assert pa.ipc.open_file(src).read_all().equals(j.to_arrow())
    run(bin_path, "export", path, tmp_path / "a.csv", "--format", "csv")
    with open(tmp_path / "a.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [base64.b64decode(r["payload"]) for r in rows] == [p for _, p in evs]
    assert [journal.to_ns(r["timestamp"]) for r in rows] == [t for t, _ in evs]
    assert [int(r["index"]) for r in rows] == list(range(len(evs)))
    run(bin_path, "export", path, tmp_path / "a.jsonl", "--format", "jsonl")
    lines = [json.loads(x) for x in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert [(x["timestamp"], base64.b64decode(x["payload"])) for x in lines] == evs


def test_import_of_a_pyarrow_written_file(bin_path, tmp_path):
    pa = need("pyarrow")
    pq = need("pyarrow.parquet")
    t = pa.table(
        {
            "timestamp": pa.array([5, -3, 10], type=pa.timestamp("ns", tz="UTC")),
            "payload": pa.array([b"a", b"", b"ccc"], type=pa.binary()),
        }
    )
    src = tmp_path / "in.parquet"
    pq.write_table(t, src, compression="zstd")
    run(bin_path, "import", src, tmp_path / "j.journal")
    j = journal.open(tmp_path / "j.journal")
    assert [(e.timestamp, bytes(e.payload)) for e in j] == [(5, b"a"), (-3, b""), (10, b"ccc")]
