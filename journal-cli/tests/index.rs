//! `journal index` with the real binary: build, rebuild and `--check` (spec/INDEX.md), with exit
//! status 0 current / 1 stale, damaged, missing or another journal's / 2 not a journal or I/O error.

use std::path::{Path, PathBuf};

use journal::index::{self, Index};
use journal::{Reader, Writer};
use tempfile::TempDir;

mod common;
use common::{assert_error, run, s};

/// 2023-11-14T22:13:20Z (FORMAT.md 12).
const T0: i64 = 1_700_000_000_000_000_000;

/// A closed journal of `n` events starting at `from`, created at `start`; timestamps go back now
/// and then.
fn make(dir: &TempDir, name: &str, start: i64, from: u64, n: u64) -> PathBuf {
    let path = dir.path().join(name);
    let mut w = if path.exists() {
        Writer::open(&path).unwrap()
    } else {
        Writer::options()
            .chunk_size(4096)
            .start_timestamp(start)
            .create(&path)
            .unwrap()
    };
    for i in from..from + n {
        let back = if i % 5 == 3 { 7_000 } else { 0 };
        w.append(
            T0 + i as i64 * 1_000 - back,
            format!("event {i}").as_bytes(),
        )
        .unwrap();
    }
    w.close().unwrap();
    path
}

fn idx(path: &Path) -> PathBuf {
    index::index_path(path)
}

#[test]
fn index_builds_the_file_and_check_accepts_it() {
    let dir = TempDir::new().unwrap();
    let j = make(&dir, "q.journal", T0, 0, 500);
    let r = run(&[
        "index",
        "--interval-bytes",
        "256",
        "--interval-events",
        "8",
        s(&j),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let reader = Reader::open(&j).unwrap();
    let built = Index::load(&reader).unwrap();
    assert_eq!(
        r.stdout,
        format!(
            "{}: {} records for 500 events, checkpoint at offset {}\n",
            idx(&j).display(),
            built.records().len(),
            reader.verify().unwrap().end
        )
    );
    // Exactly what the library builds with the same intervals.
    let lib = Index::from_reader(
        &reader,
        index::Intervals {
            bytes: 256,
            events: 8,
        },
    )
    .unwrap();
    assert_eq!(std::fs::read(idx(&j)).unwrap(), lib.encode());
    let c = run(&["index", "--check", s(&j)]);
    assert_eq!(
        (c.code, c.stdout.as_str()),
        (
            0,
            format!(
                "{}: current: {} records for 500 events\n",
                idx(&j).display(),
                built.records().len()
            )
            .as_str()
        ),
        "{c:?}"
    );
}

#[test]
fn check_says_stale_after_an_append_and_a_rebuild_makes_it_current() {
    let dir = TempDir::new().unwrap();
    let j = make(&dir, "q.journal", T0, 0, 300);
    assert_eq!(run(&["index", s(&j)]).code, 0);
    make(&dir, "q.journal", T0, 300, 50);
    let c = run(&["index", "--check", s(&j)]);
    assert_eq!(c.code, 1, "{c:?}");
    assert!(
        c.stdout
            .contains(": stale: covers the journal up to offset"),
        "{c:?}"
    );
    assert_eq!(run(&["index", s(&j)]).code, 0);
    let c = run(&["index", "--check", s(&j)]);
    assert_eq!(c.code, 0, "{c:?}");
    assert!(
        c.stdout.contains("current: ") && c.stdout.contains(" 350 events"),
        "{c:?}"
    );
}

#[test]
fn check_says_why_a_missing_damaged_or_foreign_index_is_unusable() {
    let dir = TempDir::new().unwrap();
    let j = make(&dir, "q.journal", T0, 0, 200);
    let c = run(&["index", "--check", s(&j)]);
    assert_eq!(c.code, 1, "{c:?}");
    assert!(
        c.stdout.contains("unusable (missing): no index file"),
        "{c:?}"
    );

    assert_eq!(run(&["index", s(&j)]).code, 0);
    let good = std::fs::read(idx(&j)).unwrap();
    let mut bad = good.clone();
    bad[100] ^= 1;
    std::fs::write(idx(&j), &bad).unwrap();
    let c = run(&["index", "--check", s(&j)]);
    assert_eq!(c.code, 1, "{c:?}");
    assert!(
        c.stdout
            .contains("unusable (record_checksum): index record 0"),
        "{c:?}"
    );

    std::fs::write(idx(&j), &good[..good.len() - 3]).unwrap();
    let c = run(&["index", "--check", s(&j)]);
    assert_eq!(c.code, 1, "{c:?}");
    assert!(c.stdout.contains("unusable (truncated)"), "{c:?}");

    // Another journal's index (another creation time).
    let other = make(&dir, "other.journal", T0 + 1, 0, 200);
    std::fs::write(idx(&other), &good).unwrap();
    let c = run(&["index", "--check", s(&other)]);
    assert_eq!(c.code, 1, "{c:?}");
    assert!(c.stdout.contains("unusable (other_journal)"), "{c:?}");
}

#[test]
fn check_finds_damage_below_the_checkpoint() {
    let dir = TempDir::new().unwrap();
    let j = make(&dir, "q.journal", T0, 0, 100);
    assert_eq!(run(&["index", s(&j)]).code, 0);
    let victim = Reader::open(&j)
        .unwrap()
        .iter()
        .nth(40)
        .unwrap()
        .unwrap()
        .offset;
    let mut bytes = std::fs::read(&j).unwrap();
    bytes[victim as usize + 17] ^= 0x20;
    std::fs::write(&j, &bytes).unwrap();
    let c = run(&["index", "--check", s(&j)]);
    assert_eq!(c.code, 1, "{c:?}");
    assert!(
        c.stdout.contains(&format!(
            "unusable (journal_damaged): the journal's content ends at offset {victim}"
        )),
        "{c:?}"
    );
    // Rebuilding indexes the content before the damage and says so.
    let r = run(&["index", s(&j)]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains(&format!(
            "40 events, checkpoint at offset {victim}\nnote: the journal is damaged at offset {victim} (checksum)"
        )),
        "{r:?}"
    );
}

#[test]
fn not_a_journal_missing_file_and_bad_intervals_are_status_2() {
    let dir = TempDir::new().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello world, this is not a journal\n").unwrap();
    for args in [vec!["index", s(&text)], vec!["index", "--check", s(&text)]] {
        let r = run(&args);
        assert_error(&r, 2, "not a journal");
        assert!(!idx(&text).exists());
    }
    let missing = dir.path().join("missing.journal");
    assert_error(&run(&["index", s(&missing)]), 2, "missing.journal");
    let j = make(&dir, "q.journal", T0, 0, 10);
    assert_error(
        &run(&["index", "--interval-bytes", "8", s(&j)]),
        2,
        "--interval-bytes 8 is outside 16..=2^48",
    );
    assert_error(
        &run(&["index", "--interval-events", "0", s(&j)]),
        2,
        "--interval-events 0 is outside 1..=2^48",
    );
}

#[test]
fn an_unwritable_directory_is_an_io_error() {
    let dir = TempDir::new().unwrap();
    let j = make(&dir, "q.journal", T0, 0, 10);
    // A directory where the index's temporary file or the index itself must go.
    std::fs::create_dir(idx(&j)).unwrap();
    std::fs::write(idx(&j).join("keep"), b"x").unwrap();
    let r = run(&["index", s(&j)]);
    assert_error(&r, 2, "rename");
    // No temporary file is left behind.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp."))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
