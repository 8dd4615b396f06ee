//! `journal prune` and `journal info` on journal sets (spec/SET.md 8), with the real binary. The
//! sets are built with plain `Writer`s and the set layout helpers.

use std::fs;
use std::path::Path;

use journal::index::index_path;
use journal::set::layout::{segment_name, Retention, RollPolicy, SetMeta, WAKE_FILE};
use journal::set::list_segments;
use journal::{SetWriter, Writer};
use tempfile::TempDir;

mod common;
use common::{assert_error, json, run, s};

/// 2023-11-14T22:13:20Z (FORMAT.md 12).
const T0: i64 = 1_700_000_000_000_000_000;
const SECOND: i64 = 1_000_000_000;

/// A set of `n` segments of 10 events; segment `i`'s events are at `T0 + i s + k ns`, `k` in 0..10.
fn make_set(n: i64, meta: SetMeta) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    meta.write(dir.path()).unwrap();
    for i in 0..n {
        let mut w = Writer::options()
            .chunk_size(4096)
            .create(dir.path().join(segment_name(10 * i as u64)))
            .unwrap();
        for k in 0..10 {
            w.append(
                T0 + i * SECOND + k,
                format!("event {}", 10 * i + k).as_bytes(),
            )
            .unwrap();
        }
        w.close().unwrap();
    }
    dir
}

fn exists(dir: &Path, first: u64) -> bool {
    dir.join(segment_name(first)).exists()
}

#[test]
fn prune_dry_run_removes_nothing_and_lists_what_prune_then_removes() {
    let set = make_set(5, SetMeta::default());
    let dir = set.path();
    let dry = run(&["prune", "--keep", "2", "--dry-run", s(dir)]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert_eq!(dry.stderr, "");
    for first in [0, 10, 20, 30, 40] {
        assert!(exists(dir, first));
    }
    let lines: Vec<&str> = dry.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{dry:?}");
    assert!(lines[0].starts_with("00000000000000000000.journal  events 0..=9 (10)  newest "));
    assert!(
        lines[0].contains("2023-11-14T22:13:20.000000009Z"),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("00000000000000000010.journal  events 10..=19 (10)"));
    assert!(lines[2].starts_with("00000000000000000020.journal  events 20..=29 (10)"));
    assert!(lines[..3].iter().all(|l| l.ends_with(" bytes  keep")));
    let bytes: u64 = [0, 10, 20]
        .iter()
        .map(|&f| {
            let seg = dir.join(segment_name(f));
            fs::metadata(&seg).unwrap().len() + fs::metadata(index_path(&seg)).unwrap().len()
        })
        .sum();
    assert_eq!(
        lines[3],
        format!(
            "dry run: would remove 3 segments, 30 events, {bytes} bytes; the set would start at \
             event 30"
        )
    );

    let done = run(&["prune", "--keep", "2", s(dir)]);
    assert_eq!(done.code, 0, "{done:?}");
    let removed: Vec<&str> = done.stdout.lines().collect();
    assert_eq!(removed[..3], lines[..3]);
    assert_eq!(
        removed[3],
        format!("removed 3 segments, 30 events, {bytes} bytes; the set now starts at event 30")
    );
    for first in [0, 10, 20] {
        assert!(!exists(dir, first));
        assert!(!index_path(&dir.join(segment_name(first))).exists());
    }
    assert!(exists(dir, 30) && exists(dir, 40));

    let again = run(&["prune", "--keep", "2", s(dir)]);
    assert_eq!(
        (again.code, again.stdout.as_str()),
        (0, "nothing to remove\n")
    );
    let again = run(&["prune", "--keep", "2", "--dry-run", s(dir)]);
    assert_eq!(again.stdout, "dry run: nothing to remove\n");
}

#[test]
fn prune_takes_times_and_sizes_as_the_other_commands_do() {
    let set = make_set(4, SetMeta::default());
    let dir = set.path();
    // Segment 1's newest event is at T0 + 1 s + 9 ns: older than T0 + 2 s, not than T0 + 1 s + 9.
    let r = run(&[
        "prune",
        "--before",
        "2023-11-14T22:13:21.000000009Z",
        s(dir),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.lines().count(), 2, "{r:?}");
    assert!(r.stdout.lines().next().unwrap().ends_with("before"));
    assert!(!exists(dir, 0) && exists(dir, 10));
    let ns = (T0 + 2 * SECOND).to_string();
    let r = run(&["prune", "--before", &ns, "--max-bytes", "1GiB", s(dir)]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r
        .stdout
        .starts_with("00000000000000000010.journal  events 10..=19 (10)"));
    // A size limit smaller than the newest segment: only the newest is left.
    let r = run(&["prune", "--max-bytes", "0", s(dir)]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.lines().next().unwrap().ends_with("max-bytes"),
        "{r:?}"
    );
    assert!(!exists(dir, 20) && exists(dir, 30));
}

#[test]
fn prune_refuses_bad_arguments_and_what_is_not_a_set() {
    let set = make_set(2, SetMeta::default());
    let dir = set.path();
    assert_error(&run(&["prune", s(dir)]), 2, "--keep");
    assert_error(&run(&["prune", "--keep", "x", s(dir)]), 2, "--keep");
    assert_error(
        &run(&["prune", "--max-bytes", "5MB", s(dir)]),
        2,
        "not a size",
    );
    assert_error(
        &run(&["prune", "--before", "yesterday", s(dir)]),
        2,
        "RFC 3339",
    );
    let plain = tempfile::tempdir().unwrap();
    assert_error(
        &run(&["prune", "--keep", "1", s(plain.path())]),
        2,
        "not a journal set",
    );
    let file = dir.join(segment_name(0));
    assert_error(
        &run(&["prune", "--keep", "1", s(&file)]),
        2,
        "not a journal set",
    );
    assert_error(
        &run(&["prune", "--keep", "1", s(&plain.path().join("absent"))]),
        2,
        "not a journal set",
    );
    assert!(exists(dir, 0) && exists(dir, 10));
}

#[test]
fn info_on_a_set_lists_its_segments_and_policies() {
    let meta = SetMeta {
        roll: RollPolicy {
            period_ns: 3_600 * SECOND as u64,
            offset_ns: 0,
            max_bytes: 1 << 30,
        },
        retention: Retention {
            keep: 24,
            ..Retention::default()
        },
    };
    let set = make_set(3, meta);
    let dir = set.path();
    let r = run(&["info", s(dir)]);
    assert_eq!(r.code, 0, "{r:?}");
    let out = &r.stdout;
    assert!(
        out.contains(&format!("set:              {}\n", s(dir))),
        "{out}"
    );
    assert!(
        out.contains("roll:             every 1h, or at 1073741824 bytes\n"),
        "{out}"
    );
    assert!(out.contains("retention:        keep 24 segments"), "{out}");
    assert!(out.contains("segments:         3, 30 events (global indexes 0 to 30 exclusive)\n"));
    assert!(out.contains("writer:           none\n"), "{out}");
    assert!(out.contains("chain:            intact"), "{out}");
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("000000000000000000"))
        .collect();
    assert_eq!(rows.len(), 3, "{out}");
    let cols: Vec<&str> = rows[1].split_whitespace().collect();
    assert_eq!(
        cols[..4],
        ["00000000000000000010.journal", "10", "19", "10"]
    );
    assert_eq!(cols[4], "2023-11-14T22:13:21.000000000Z");
    assert_eq!(cols[5], "2023-11-14T22:13:21.000000009Z");
    assert_eq!(cols[7], "sealed");
    assert!(rows[2].ends_with("  newest"), "{}", rows[2]);

    let j = json(run(&["info", "--json", s(dir)]).stdout.trim_end());
    assert_eq!(j["set"], true);
    assert_eq!(j["roll"]["period_ns"], 3_600 * SECOND);
    assert_eq!(j["retention"]["keep"], 24);
    assert_eq!(j["events"], 30);
    assert_eq!(j["first_index"], 0);
    assert_eq!(j["next_index"], 30);
    assert_eq!(j["chained"], true);
    let segs = j["segments"].as_array().unwrap();
    assert_eq!(segs.len(), 3);
    assert_eq!(segs[2]["first_index"], 20);
    assert_eq!(segs[2]["last_index"], 29);
    assert_eq!(segs[2]["newest_timestamp"], T0 + 2 * SECOND + 9);
    assert_eq!(segs[0]["state"], "sealed");
    assert_eq!(segs[2]["state"], "newest");
    let bytes: u64 = segs
        .iter()
        .map(|s| s["segment_bytes"].as_u64().unwrap() + s["index_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(j["total_bytes"], bytes);

    // After a prune the set starts later, and a writer on the newest segment shows.
    assert_eq!(run(&["prune", "--keep", "1", s(dir)]).code, 0);
    let mut w = Writer::open(dir.join(segment_name(20))).unwrap();
    w.append(T0 + 3 * SECOND, b"more").unwrap();
    let j = json(run(&["info", "--json", s(dir)]).stdout.trim_end());
    assert_eq!(j["first_index"], 20);
    assert_eq!(j["next_index"], 31);
    assert_eq!(j["writer_present"], true);
    assert_eq!(j["segments"][0]["state"], "writing");
    w.close().unwrap();
}

#[test]
fn info_on_a_set_says_when_the_segments_do_not_chain() {
    let set = make_set(2, SetMeta::default());
    // Segment 10 renamed to 12: two events are missing between the segments.
    fs::rename(
        set.path().join(segment_name(10)),
        set.path().join(segment_name(12)),
    )
    .unwrap();
    let r = run(&["info", s(set.path())]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("chain:            broken"), "{r:?}");
    let j = json(run(&["info", "--json", s(set.path())]).stdout.trim_end());
    assert_eq!(j["chained"], false);
}

#[test]
fn info_on_an_empty_set() {
    let set = make_set(0, SetMeta::default());
    let r = run(&["info", s(set.path())]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("segments:         none\n"), "{r:?}");
    assert!(r.stdout.contains("roll:             none\n"), "{r:?}");
    let j = json(run(&["info", "--json", s(set.path())]).stdout.trim_end());
    assert_eq!(j["segments"].as_array().unwrap().len(), 0);
    assert_eq!(j["first_index"], serde_json::Value::Null);
}

#[test]
fn prune_and_verify_leave_the_sets_wake_up_file_alone() {
    // A set written by its writer, which keeps the set's wake-up file (spec/SET.md 6.5.1): not a
    // segment, so neither command counts it, removes it or complains about it.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("set");
    let mut w = SetWriter::options()
        .roll(RollPolicy::by_size(4096))
        .chunk_size(4096)
        .create(&dir)
        .unwrap();
    for i in 0..200 {
        w.append(T0 + i, &[b'x'; 100]).unwrap();
    }
    w.close().unwrap();
    let wake = dir.join(WAKE_FILE);
    let before = fs::read(&wake).unwrap();
    assert_eq!(&before[..8], b"JRNLWAKE");
    let segments = list_segments(&dir).unwrap().len();
    assert!(segments > 3, "{segments} segments");

    let v = run(&["verify", s(&dir)]);
    assert_eq!(v.code, 0, "{v:?}");
    assert_eq!(v.stderr, "");
    assert!(!v.stdout.contains(".wake"), "{v:?}");
    let p = run(&["prune", "--keep", "2", s(&dir)]);
    assert_eq!(p.code, 0, "{p:?}");
    assert_eq!(p.stderr, "");
    assert!(!p.stdout.contains(".wake"), "{p:?}");
    assert_eq!(list_segments(&dir).unwrap().len(), 2);
    // The size limit counts segments and their indexes only: a limit of exactly what they hold
    // removes nothing, whatever the wake-up file's size.
    let held: u64 = list_segments(&dir)
        .unwrap()
        .iter()
        .map(|seg| {
            fs::metadata(&seg.path).unwrap().len()
                + fs::metadata(index_path(&seg.path)).map_or(0, |m| m.len())
        })
        .sum();
    let dry = run(&[
        "prune",
        "--max-bytes",
        &held.to_string(),
        "--dry-run",
        s(&dir),
    ]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(dry.stdout.contains("nothing to remove"), "{dry:?}");
    assert_eq!(
        fs::read(&wake).unwrap(),
        before,
        "the wake-up file was touched"
    );
    let v = run(&["verify", s(&dir)]);
    assert_eq!(v.code, 0, "{v:?}");
}
