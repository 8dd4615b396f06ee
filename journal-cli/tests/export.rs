//! `journal export` and `journal import` with the real binary: every format, the shared time range
//! (FORMAT.md 6.4), and export -> import reproducing a journal's events exactly.

use std::path::{Path, PathBuf};

use journal::{Reader, Writer};
use tempfile::TempDir;

mod common;
use common::{assert_error, run, s};

/// 2023-11-14T22:13:20Z (FORMAT.md 12).
const T0: i64 = 1_700_000_000_000_000_000;

/// Events with negative, equal and decreasing timestamps, empty and binary payloads.
fn events() -> Vec<(i64, Vec<u8>)> {
    let mut out = vec![(-5, b"before 1970".to_vec()), (0, Vec::new())];
    for i in 0..2_500i64 {
        let ts = T0 + i * 1_000 - if i % 97 == 0 { 50_000 } else { 0 };
        let payload: Vec<u8> = (0..(i % 70) as u8)
            .map(|b| b.wrapping_mul(37) ^ i as u8)
            .collect();
        out.push((ts, payload));
    }
    out.push((i64::MAX, vec![0xff; 3]));
    out
}

fn make(dir: &TempDir, name: &str, evs: &[(i64, Vec<u8>)]) -> PathBuf {
    let path = dir.path().join(name);
    let mut w = Writer::create(&path).unwrap();
    for (ts, p) in evs {
        w.append(*ts, p).unwrap();
    }
    w.close().unwrap();
    path
}

fn read(path: &Path) -> Vec<(i64, Vec<u8>)> {
    let r = Reader::open(path).unwrap();
    r.iter()
        .map(|e| {
            let e = e.unwrap();
            (e.timestamp, e.payload.to_vec())
        })
        .collect()
}

#[test]
fn parquet_export_then_import_reproduces_the_events() {
    let dir = TempDir::new().unwrap();
    let evs = events();
    let src = make(&dir, "src.journal", &evs);
    let pq = dir.path().join("out.parquet");
    let r = run(&["export", s(&src), s(&pq), "--format", "parquet"]);
    assert_eq!(r.code, 0, "{r:?}");
    let back = dir.path().join("back.journal");
    let r = run(&["import", s(&pq), s(&back)]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(read(&back), evs);
    assert!(Reader::open(&back).unwrap().verify().unwrap().is_intact());
}

#[test]
fn export_takes_the_shared_time_range() {
    let dir = TempDir::new().unwrap();
    let evs = events();
    let src = make(&dir, "src.journal", &evs);
    let range = [
        "--from-time",
        "2023-11-14T22:13:20.000500Z",
        "--to-time",
        "1700000000001500000",
    ];
    // JSON Lines export is exactly `dump --format jsonl` over the same range.
    let out = dir.path().join("range.jsonl");
    let mut args = vec!["export", s(&src), s(&out), "--format", "jsonl"];
    args.extend(range);
    let r = run(&args);
    assert_eq!(r.code, 0, "{r:?}");
    let mut dump = vec!["dump", "--format", "jsonl", s(&src)];
    dump.extend(range);
    let d = run(&dump);
    assert_eq!(d.code, 0, "{d:?}");
    let exported = std::fs::read_to_string(&out).unwrap();
    assert!(exported.lines().count() > 100, "{exported:.200}");
    assert_eq!(exported, d.stdout);
    // The Parquet of the same range imports to the same events.
    let pq = dir.path().join("range.parquet");
    let mut args = vec!["export", s(&src), s(&pq), "--format", "parquet"];
    args.extend(range);
    assert_eq!(run(&args).code, 0);
    let back = dir.path().join("back.journal");
    assert_eq!(run(&["import", s(&pq), s(&back)]).code, 0);
    let want: Vec<(i64, Vec<u8>)> = exported
        .lines()
        .map(|l| {
            let v = common::json(l);
            let p = v["payload"].as_str().unwrap();
            use base64::Engine as _;
            let p = base64::engine::general_purpose::STANDARD.decode(p).unwrap();
            (v["timestamp"].as_i64().unwrap(), p)
        })
        .collect();
    assert_eq!(read(&back), want);
    // --from-time after --to-time is a usage error.
    let bad = dir.path().join("bad.parquet");
    let r = run(&[
        "export",
        s(&src),
        s(&bad),
        "--format",
        "parquet",
        "--from-time",
        "10",
        "--to-time",
        "5",
    ]);
    assert_error(&r, 2, "is after --to-time");
}

#[test]
fn csv_and_arrow_exports() {
    let dir = TempDir::new().unwrap();
    let evs = events();
    let src = make(&dir, "src.journal", &evs);
    let csv = dir.path().join("out.csv");
    assert_eq!(
        run(&["export", s(&src), s(&csv), "--format", "csv"]).code,
        0
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("index,timestamp,payload"));
    assert_eq!(
        lines.next(),
        Some("0,1969-12-31T23:59:59.999999995Z,YmVmb3JlIDE5NzA=")
    );
    assert_eq!(lines.next(), Some("1,1970-01-01T00:00:00.000000000Z,"));
    assert_eq!(text.lines().count(), evs.len() + 1);
    let arrow = dir.path().join("out.arrow");
    assert_eq!(
        run(&["export", s(&src), s(&arrow), "--format", "arrow"]).code,
        0
    );
    let bytes = std::fs::read(&arrow).unwrap();
    // The Arrow IPC file format begins and ends with its magic (the Python suite reads it back).
    assert!(bytes.starts_with(b"ARROW1") && bytes.ends_with(b"ARROW1"));
}

#[test]
fn export_refuses_to_overwrite_and_reports_damage() {
    let dir = TempDir::new().unwrap();
    let evs = events();
    let src = make(&dir, "src.journal", &evs);
    let out = dir.path().join("exists.parquet");
    std::fs::write(&out, b"keep me").unwrap();
    let r = run(&["export", s(&src), s(&out), "--format", "parquet"]);
    assert_error(&r, 2, "cannot create");
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");

    // Cut the journal inside event 1000: its 1000 valid events are exported, then status 1.
    let offset = {
        let r = Reader::open(&src).unwrap();
        r.iter().nth(1000).unwrap().unwrap().offset
    };
    let bytes = std::fs::read(&src).unwrap();
    let cut = dir.path().join("cut.journal");
    std::fs::write(&cut, &bytes[..offset as usize + 8]).unwrap();
    let pq = dir.path().join("cut.parquet");
    let r = run(&["export", s(&cut), s(&pq), "--format", "parquet"]);
    assert_error(&r, 1, &format!("damaged at offset {offset}"));
    let back = dir.path().join("back.journal");
    assert_eq!(run(&["import", s(&pq), s(&back)]).code, 0);
    assert_eq!(read(&back), evs[..1000].to_vec());
}

#[test]
fn import_refuses_what_is_not_parquet_and_keeps_no_partial_journal() {
    let dir = TempDir::new().unwrap();
    let junk = dir.path().join("junk.parquet");
    std::fs::write(&junk, b"not parquet at all").unwrap();
    let out = dir.path().join("out.journal");
    let r = run(&["import", s(&junk), s(&out)]);
    assert_error(&r, 2, "not a readable Parquet file");
    assert!(!out.exists());
    // A journal is not overwritten.
    let src = make(&dir, "src.journal", &events());
    let pq = dir.path().join("ok.parquet");
    assert_eq!(
        run(&["export", s(&src), s(&pq), "--format", "parquet"]).code,
        0
    );
    let r = run(&["import", s(&pq), s(&src)]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(read(&src), events());
}

#[test]
fn export_and_import_have_help_with_examples() {
    for sub in ["export", "import"] {
        let r = run(&[sub, "--help"]);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stdout.contains(&format!("Usage: journal {sub}")), "{r:?}");
        assert!(
            r.stdout.contains(&format!("Examples:\n  journal {sub}")),
            "{r:?}"
        );
    }
    let r = run(&["export", "a.journal", "b.parquet", "--format", "xml"]);
    assert_eq!(r.code, 2, "{r:?}");
}
