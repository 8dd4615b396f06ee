//! Runs the real `journal` binary against real files: every subcommand, its exact output and exit
//! status, bad input of every kind, and a live writer in this process.

use std::fs::{self, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use journal::{Reader, Writer};
use serde_json::Value;
use tempfile::TempDir;

mod common;
use common::{assert_error, json, run, run_with, s, Follower, Run, BIN};

/// 2023-11-14T22:13:20Z, the start of every test journal (FORMAT.md 12).
const T0: i64 = 1_700_000_000_000_000_000;
const SUBCOMMANDS: [&str; 9] = [
    "info", "verify", "dump", "tail", "append", "repair", "ring", "replay", "demo",
];

fn vector(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../spec/vectors")
        .join(name)
}

/// A closed journal holding `events`, created at [`T0`].
fn make(dir: &TempDir, name: &str, events: &[(i64, &[u8])]) -> PathBuf {
    common::make_journal(dir.path(), name, T0, events)
}

/// `journal tail --format raw FILE ARGS`, which must succeed quietly: its stdout.
#[track_caller]
fn tail_raw(file: &str, args: &[&str]) -> String {
    let mut all = vec!["tail", "--format", "raw", file];
    all.extend_from_slice(args);
    let r = run(&all);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{args:?}");
    r.stdout
}

/// The raw output of the events of [`make_numbered`] in `r`.
fn events(r: std::ops::Range<usize>) -> String {
    r.map(|i| format!("event {i}")).collect()
}

/// `n` events at T0 + i µs with payloads "event i".
fn numbered(n: usize) -> Vec<(i64, Vec<u8>)> {
    (0..n)
        .map(|i| (T0 + i as i64 * 1000, format!("event {i}").into_bytes()))
        .collect()
}

fn make_numbered(dir: &TempDir, name: &str, n: usize) -> PathBuf {
    let events = numbered(n);
    let refs: Vec<(i64, &[u8])> = events.iter().map(|(t, p)| (*t, &p[..])).collect();
    make(dir, name, &refs)
}

fn payloads(path: &Path) -> Vec<Vec<u8>> {
    let r = Reader::open(path).unwrap();
    r.iter().map(|e| e.unwrap().payload.to_vec()).collect()
}

/// Flips one bit of the file at `offset`.
fn flip(path: &Path, offset: u64) {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, offset).unwrap();
    f.write_all_at(&[b[0] ^ 1], offset).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Usage

#[test]
fn every_subcommand_has_help_with_examples() {
    for sub in SUBCOMMANDS {
        for flag in ["--help", "-h"] {
            let r = run(&[sub, flag]);
            assert_eq!(r.code, 0, "{sub} {flag}: {r:?}");
            assert!(r.stdout.contains(&format!("Usage: journal {sub}")), "{r:?}");
            assert!(
                r.stdout.contains(&format!("Examples:\n  journal {sub}"))
                    || r.stdout.contains("Examples:\n  printf"),
                "{sub} {flag}: {r:?}"
            );
            assert_eq!(r.stderr, "");
        }
    }
    let r = run(&["--help"]);
    assert_eq!(r.code, 0);
    for sub in SUBCOMMANDS {
        assert!(r.stdout.contains(&format!("\n  {sub} ")), "{sub}: {r:?}");
    }
    assert!(r.stdout.contains("Examples:"));
}

#[test]
fn usage_errors_are_one_line_with_status_2() {
    let cases: &[(&[&str], &str)] = &[
        (
            &[],
            "no command given: one of info, verify, dump, tail, append, repair",
        ),
        (
            &["frob"],
            "unrecognized subcommand 'frob' (see 'journal --help')",
        ),
        (
            &["dump"],
            "required arguments were not provided: <FILE> (see 'journal dump --help')",
        ),
        (&["dump", "--bogus", "f"], "unexpected argument '--bogus'"),
        (
            &["dump", "--limit", "x", "f"],
            "invalid value 'x' for '--limit <N>'",
        ),
        (
            &["dump", "--format", "xml", "f"],
            "invalid value 'xml' for '--format <FORMAT>'",
        ),
        (
            &["dump", "--from-time", "yesterday", "f"],
            "neither nanoseconds since the epoch nor an RFC 3339 time",
        ),
        (
            &["dump", "--from-time", "10", "--to-time", "5", "f"],
            "--from-time (1970-01-01T00:00:00.000000010Z) is after --to-time",
        ),
        (
            &["tail", "-n", "x", "f"],
            "'x' is not N or +K with N, K whole numbers",
        ),
        (
            &["append", "--sync", "events:0", "f"],
            "events must be at least 1",
        ),
        (
            &["append", "--sync", "sometimes", "f"],
            "'sometimes' is not a sync policy",
        ),
        (&["append", "--format", "csv", "f"], "invalid value 'csv'"),
        (
            &["append", "--start-time", "soon", "f"],
            "'soon' is neither",
        ),
    ];
    for (args, needle) in cases {
        assert_error(&run(args), 2, needle);
    }
}

// ---------------------------------------------------------------------------------------------
// Files that are not journals

#[test]
fn missing_directory_empty_and_text_files_are_refused_with_status_2() {
    let dir = TempDir::new().unwrap();
    let missing = dir.path().join("missing.journal");
    let empty = dir.path().join("empty");
    fs::write(&empty, b"").unwrap();
    let text = dir.path().join("notes.txt");
    fs::write(&text, b"these are my notes, not a journal\n").unwrap();
    let cases = [
        (
            s(&missing),
            "missing.journal: open failed: No such file or directory",
        ),
        // Readers say "not a regular file"; a writer's open(2) fails first.
        (s(dir.path()), "directory-or-not-regular"),
        (
            s(&empty),
            "not a journal: file is 0 bytes, shorter than the 24-byte header",
        ),
        (s(&text), "notes.txt: not a journal: header write_offset"),
    ];
    for (file, needle) in cases {
        for args in [
            vec!["info", file],
            vec!["info", "--json", file],
            vec!["verify", file],
            vec!["verify", "--json", file],
            vec!["dump", file],
            vec!["tail", file],
            vec!["tail", "-f", file],
            vec!["repair", file],
            vec!["repair", "--dry-run", file],
        ] {
            let r = run(&args);
            if needle == "directory-or-not-regular" {
                assert_error(&r, 2, "");
                assert!(
                    r.stderr.contains("not a journal: not a regular file")
                        || r.stderr.contains("open failed: Is a directory"),
                    "{r:?}"
                );
            } else {
                assert_error(&r, 2, needle);
            }
        }
    }
    // `append` creates a missing file and initializes an empty one; it refuses the others and
    // leaves them alone.
    assert_error(
        &run(&["append", s(dir.path())]),
        2,
        "is a directory but not a journal set",
    );
    assert_error(&run_with(&["append", s(&text)], b"x\n"), 2, "not a journal");
    assert_eq!(
        fs::read(&text).unwrap(),
        b"these are my notes, not a journal\n"
    );
    let r = run_with(&["append", s(&empty)], b"x\n");
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(payloads(&empty), [b"x".to_vec()]);
}

// ---------------------------------------------------------------------------------------------
// verify

/// Every spec vector gets the verdict `spec/vectors/expected.txt` gives it.
#[test]
fn verify_gives_every_spec_vector_its_expected_verdict() {
    let expected = fs::read_to_string(vector("expected.txt")).unwrap();
    let mut checked = 0;
    for line in expected.lines().filter(|l| !l.trim().is_empty()) {
        let mut words = line.split_whitespace();
        let (name, verdict) = (words.next().unwrap(), words.next().unwrap());
        let fields: std::collections::HashMap<&str, &str> =
            words.filter_map(|w| w.split_once('=')).collect();
        let file = vector(name);
        let r = run(&["verify", "--json", s(&file)]);
        match verdict {
            "not_a_journal" => assert_error(&r, 2, "not a journal"),
            "intact" | "damaged" => {
                let v = json(&r.stdout);
                assert_eq!(r.stderr, "", "{name}");
                assert_eq!(
                    v["events"],
                    fields["events"].parse::<u64>().unwrap(),
                    "{name}"
                );
                assert_eq!(
                    v["valid_bytes"],
                    fields["end"].parse::<u64>().unwrap(),
                    "{name}"
                );
                if verdict == "intact" {
                    assert_eq!(r.code, 0, "{name}");
                    assert_eq!(v["valid"], true, "{name}");
                    assert_eq!(v["error"], Value::Null, "{name}");
                } else {
                    assert_eq!(r.code, 1, "{name}");
                    assert_eq!(v["valid"], false, "{name}");
                    let offset = fields["offset"].parse::<u64>().unwrap();
                    assert_eq!(v["error"]["offset"], offset, "{name}");
                    assert_eq!(v["error"]["reason"], fields["reason"], "{name}");
                }
            }
            other => panic!("unknown verdict {other}"),
        }
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} vectors");
}

#[test]
fn verify_text_names_the_damage_and_the_valid_prefix() {
    let file = vector("zeroed_tail.journal");
    let r = run(&["verify", s(&file)]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr, "");
    assert_eq!(
        r.stdout,
        format!(
            "{}: damaged at offset 80: CRC-32 mismatch (checksum)\n\
             valid before it: 2 events, 80 bytes\n\
             not content: 56 bytes from offset 80 to 136 (write_offset 136, file size 200); 'journal repair' cuts them\n\
             note: the header's event_count hint is 4, not 2 (a hint, not damage)\n",
            file.display()
        )
    );

    let file = vector("event_count_lags.journal");
    let r = run(&["verify", s(&file)]);
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stdout,
        format!(
            "{}: intact: 3 events, 96 bytes\n\
             note: the header's event_count hint is 2, not 3 (a hint, not damage)\n",
            file.display()
        )
    );
    let v = json(&run(&["verify", "--json", s(&file)]).stdout);
    assert_eq!(v["event_count_hint"], 2);
    assert_eq!(v["events"], 3);
}

// ---------------------------------------------------------------------------------------------
// info

#[test]
fn info_reports_header_extent_times_and_the_live_writer() {
    let dir = TempDir::new().unwrap();
    let path = make(&dir, "q.journal", &[(T0 + 5, b"a"), (T0 + 9, b"bb")]);
    let r = run(&["info", "--json", s(&path)]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    let v = json(&r.stdout);
    let expected = serde_json::json!({
        "path": s(&path),
        "file_size": 72,
        "write_offset": 72,
        "used_bytes": 72,
        "preallocated_bytes": 0,
        "event_count_hint": 2,
        "events": 2,
        "start_timestamp": T0,
        "first_timestamp": T0 + 5,
        "last_timestamp": T0 + 9,
        "writer_present": false,
        "valid": true,
        "error": null,
        "index": {
            "state": "current",
            "fault": null,
            "reason": null,
            "records": 1,
            "interval_bytes": 4096,
            "interval_events": 256,
            "checkpoint": 72,
            "checkpoint_events": 2,
        },
    });
    assert_eq!(v, expected);

    let r = run(&["info", s(&path)]);
    assert_eq!(r.code, 0);
    for line in [
        "size:             72 bytes (72 used, 0 preallocated)",
        "index:            current (1 records, every 4096 bytes / 256 events; checkpoint at offset \
         72, 2 events)",
        "start_timestamp:  2023-11-14T22:13:20.000000000Z (1700000000000000000)",
        "events:           2",
        "first event:      2023-11-14T22:13:20.000000005Z (1700000000000000005)",
        "last event:       2023-11-14T22:13:20.000000009Z (1700000000000000009)",
        "writer:           none",
        "content:          intact",
    ] {
        assert!(
            r.stdout.contains(&format!("{line}\n")),
            "{line:?} in {}",
            r.stdout
        );
    }

    // A writer in this process holds the journal open, with its preallocated chunks: growth
    // allocates one chunk ahead of the one it pre-faults (FORMAT.md 7.3).
    let mut w = Writer::options().chunk_size(4096).open(&path).unwrap();
    w.append(T0 + 20, b"ccc").unwrap();
    let v = json(&run(&["info", "--json", s(&path)]).stdout);
    assert_eq!(v["writer_present"], true);
    assert_eq!(v["events"], 3);
    assert_eq!(v["write_offset"], 96);
    assert_eq!(v["file_size"], 8192);
    assert_eq!(v["preallocated_bytes"], 8192 - 96);
    let r = run(&["info", s(&path)]);
    assert!(r
        .stdout
        .contains("writer:           a writer holds the lock (the journal is being written)\n"));
    w.close().unwrap();
    assert_eq!(
        json(&run(&["info", "--json", s(&path)]).stdout)["writer_present"],
        false
    );

    // A damaged journal is described, not refused.
    let v = json(&run(&["info", "--json", s(&vector("zeroed_tail.journal"))]).stdout);
    assert_eq!(v["valid"], false);
    assert_eq!(v["events"], 2);
    assert_eq!(v["event_count_hint"], 4);
    assert_eq!(
        v["error"],
        serde_json::json!({"offset": 80, "reason": "checksum"})
    );
}

// ---------------------------------------------------------------------------------------------
// dump

#[test]
fn dump_writes_each_format_exactly() {
    // FORMAT.md 12's worked example.
    let file = vector("example.journal");
    let f = s(&file);
    let r = run(&["dump", f]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(
        r.stdout,
        "index=0 time=2023-11-14T22:13:20.000000123Z size=5 text=hello\n\
         index=1 time=2023-11-14T22:13:20.000004567Z size=0 text=\n"
    );
    let r = run(&["dump", "--format", "jsonl", f]);
    assert_eq!(
        r.stdout,
        "{\"index\":0,\"offset\":24,\"timestamp\":1700000000000000123,\"size\":5,\"crc32\":2723780466,\"payload\":\"aGVsbG8=\"}\n\
         {\"index\":1,\"offset\":48,\"timestamp\":1700000000000004567,\"size\":0,\"crc32\":704076831,\"payload\":\"\"}\n"
    );
    for line in r.stdout.lines() {
        let v = json(line);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            ["crc32", "index", "offset", "payload", "size", "timestamp"]
        );
    }
    assert_eq!(0xA259_9772u32, 2_723_780_466, "FORMAT.md 12's checksum");
    let r = run(&["dump", "--format", "hex", f]);
    assert_eq!(
        r.stdout,
        "index=0 offset=24 time=2023-11-14T22:13:20.000000123Z timestamp=1700000000000000123 size=5 crc32=a2599772\n  \
         00000000  68 65 6c 6c 6f                                    |hello|\n\
         index=1 offset=48 time=2023-11-14T22:13:20.000004567Z timestamp=1700000000000004567 size=0 crc32=29f75c1f\n"
    );
    let r = run(&["dump", "--format", "raw", f]);
    assert_eq!(r.stdout, "hello");

    // Text shows a payload that is not printable as hex.
    let dir = TempDir::new().unwrap();
    let path = make(
        &dir,
        "bin",
        &[
            (-1, b"\x00\xffA"),
            (0, b"two\nlines"),
            (1, "ünï".as_bytes()),
        ],
    );
    assert_eq!(
        run(&["dump", s(&path)]).stdout,
        "index=0 time=1969-12-31T23:59:59.999999999Z size=3 hex=00ff41\n\
         index=1 time=1970-01-01T00:00:00.000000000Z size=9 hex=74776f0a6c696e6573\n\
         index=2 time=1970-01-01T00:00:00.000000001Z size=5 text=ünï\n"
    );
}

#[test]
fn dump_slices_by_index_time_and_limit() {
    let dir = TempDir::new().unwrap();
    let path = make_numbered(&dir, "n", 10);
    let f = s(&path);
    let indices = |args: &[&str]| -> Vec<u64> {
        let mut all = vec!["dump", "--format", "jsonl", f];
        all.extend_from_slice(args);
        let r = run(&all);
        assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{args:?}");
        r.stdout
            .lines()
            .map(|l| json(l)["index"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(indices(&[]), (0..10).collect::<Vec<_>>());
    assert_eq!(indices(&["--from-index", "3", "--limit", "2"]), [3, 4]);
    assert_eq!(indices(&["--from-index", "10"]), [] as [u64; 0]);
    assert_eq!(indices(&["--limit", "0"]), [] as [u64; 0]);
    let t = |i: i64| (T0 + i * 1000).to_string();
    assert_eq!(indices(&["--from-time", &t(7)]), [7, 8, 9]);
    assert_eq!(
        indices(&["--from-time", &(T0 + 6500).to_string()]),
        [7, 8, 9]
    );
    assert_eq!(
        indices(&["--to-time", &t(3)]),
        [0, 1, 2],
        "--to-time is exclusive"
    );
    assert_eq!(
        indices(&["--from-time", &t(2), "--to-time", &t(5)]),
        [2, 3, 4]
    );
    assert_eq!(
        indices(&[
            "--from-time",
            &t(2),
            "--to-time",
            &t(9),
            "--limit",
            "2",
            "--from-index",
            "3"
        ]),
        [3, 4]
    );
    // RFC 3339, in UTC or any offset, means the same instants.
    assert_eq!(
        indices(&["--from-time", "2023-11-14T22:13:20.000007Z"]),
        [7, 8, 9]
    );
    assert_eq!(
        indices(&[
            "--from-time",
            "2023-11-15T00:13:20.000002+02:00",
            "--to-time",
            "2023-11-14T22:13:20.000004000Z"
        ]),
        [2, 3]
    );
    // Time is searched in file order (FORMAT.md 6.4): timestamps need not be sorted.
    let path = make(
        &dir,
        "unsorted",
        &[(30, b"a"), (10, b"b"), (40, b"c"), (20, b"d"), (50, b"e")],
    );
    let r = run(&[
        "dump",
        "--format",
        "raw",
        "--from-time",
        "35",
        "--to-time",
        "45",
        s(&path),
    ]);
    assert_eq!(
        r.stdout, "cd",
        "from the first >= 35 (c) to before the first >= 45 (e)"
    );
}

#[test]
fn dump_of_a_damaged_journal_prints_the_valid_prefix_then_fails_with_status_1() {
    let file = vector("zeroed_tail.journal");
    let r = run(&["dump", "--format", "jsonl", s(&file)]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout.lines().count(), 2);
    assert_eq!(json(r.stdout.lines().last().unwrap())["index"], 1);
    assert_eq!(
        r.stderr,
        format!(
            "journal: error: {}: damaged at offset 80: CRC-32 mismatch (checksum); \
             the 2 events before it (80 bytes) are valid\n",
            file.display()
        )
    );
    // A slice that ends before the damage never reaches it.
    let r = run(&["dump", "--limit", "1", s(&file)]);
    assert_eq!(
        (r.code, r.stderr.as_str(), r.stdout.lines().count()),
        (0, "", 1)
    );
}

#[test]
fn dump_into_a_closed_pipe_exits_0_quietly() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("big");
    let mut w = Writer::options().chunk_size(1 << 20).create(&path).unwrap();
    for i in 0..20_000 {
        w.append(T0 + i, &[b'x'; 100]).unwrap();
    }
    w.close().unwrap();
    // Several megabytes of output, far more than a pipe holds.
    for format in ["text", "jsonl", "hex", "raw"] {
        // The read end closed before the first write...
        let mut child = Command::new(BIN)
            .args(["dump", "--format", format, s(&path)])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{format}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{format}");

        // ...and after a little was read, as `| head -c 100` does.
        let mut child = Command::new(BIN)
            .args(["dump", "--format", format, s(&path)])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut head = [0u8; 100];
        stdout.read_exact(&mut head).unwrap();
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{format}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{format}");
    }
}

// ---------------------------------------------------------------------------------------------
// tail

#[test]
fn tail_prints_the_last_n_or_from_the_kth() {
    let dir = TempDir::new().unwrap();
    let path = make_numbered(&dir, "n", 12);
    let f = s(&path);
    let raw = |args: &[&str]| tail_raw(f, args);
    assert_eq!(raw(&[]), events(2..12), "10 by default");
    assert_eq!(raw(&["-n", "3"]), events(9..12));
    assert_eq!(raw(&["--events", "3"]), events(9..12));
    assert_eq!(raw(&["-n", "100"]), events(0..12));
    assert_eq!(raw(&["-n", "0"]), "");
    assert_eq!(raw(&["-n", "+1"]), events(0..12));
    assert_eq!(raw(&["-n", "+0"]), events(0..12));
    assert_eq!(raw(&["-n", "+11"]), events(10..12));
    assert_eq!(raw(&["-n", "+13"]), "");
    let r = run(&["tail", "-n", "1", "--format", "jsonl", f]);
    let v = json(&r.stdout);
    assert_eq!(
        (v["index"].as_u64(), v["timestamp"].as_i64()),
        (Some(11), Some(T0 + 11_000))
    );

    // A damaged journal: the last valid events, then the damage.
    let file = vector("zeroed_tail.journal");
    let r = run(&["tail", "-n", "1", "--format", "jsonl", s(&file)]);
    assert_eq!(r.code, 1);
    assert_eq!(json(&r.stdout)["index"], 1);
    assert!(r.stderr.contains("damaged at offset 80"), "{r:?}");
}

#[test]
fn tail_follow_prints_a_live_writers_appends_until_a_signal() {
    let dir = TempDir::new().unwrap();
    let path = make(&dir, "live", &[(T0, b"before\n")]);
    for (sig, last) in [("-TERM", "before"), ("-INT", "three")] {
        let mut w = Writer::options().chunk_size(4096).open(&path).unwrap();
        // `raw` with newline-terminated payloads gives one line per event. The backlog's last
        // line says the follower is running, so the appends below are new to it.
        let tail = Follower::start(&["tail", "-f", "-n", "1", "--format", "raw", s(&path)]);
        assert_eq!(tail.line(), last);
        w.append(T0 + 1, b"one\n").unwrap();
        assert_eq!(tail.line(), "one");
        w.append(T0 + 2, b"two\n").unwrap();
        w.append(T0 + 3, b"three\n").unwrap();
        assert_eq!(tail.line(), "two");
        assert_eq!(tail.line(), "three");
        tail.signal(sig);
        assert_eq!(tail.finish(), (0, String::new()), "{sig}");
        w.close().unwrap();
    }

    // JSON Lines, from the start, with the writer appending in bursts across chunk boundaries.
    let mut w = Writer::options().chunk_size(4096).open(&path).unwrap();
    let tail = Follower::start(&["tail", "-f", "-n", "+1", "--format", "jsonl", s(&path)]);
    let before = json(&tail.line());
    assert_eq!(
        (before["index"].as_u64(), before["payload"].as_str()),
        (Some(0), Some("YmVmb3JlCg=="))
    );
    for _ in 0..6 {
        assert!(tail.line().starts_with("{\"index\":"));
    }
    for i in 0..300u64 {
        w.append(T0 + 100 + i as i64, &[b'p'; 40]).unwrap();
    }
    for i in 0..300u64 {
        let v = json(&tail.line());
        assert_eq!(v["index"], 7 + i);
        assert_eq!(v["timestamp"], T0 + 100 + i as i64);
        assert_eq!(v["size"], 40);
    }
    tail.signal("-TERM");
    assert_eq!(tail.finish(), (0, String::new()));
    w.close().unwrap();
}

#[test]
fn tail_follow_stops_with_an_error_when_the_file_is_replaced_truncated_or_removed() {
    let dir = TempDir::new().unwrap();
    let path = make(&dir, "f", &[(T0, b"a\n")]);
    let other = make(&dir, "other", &[(T0, b"b\n"), (T0 + 1, b"c\n")]);
    let follow = || {
        let t = Follower::start(&["tail", "-f", "--format", "raw", s(&path)]);
        assert_eq!(t.line(), "a");
        t
    };

    let tail = follow();
    fs::rename(&other, &path).unwrap();
    let (code, err) = tail.finish();
    assert_eq!(code, 2);
    assert_eq!(
        err,
        format!(
            "journal: error: {}: replaced by another file while it was followed\n",
            s(&path)
        )
    );

    let path = make(&dir, "g", &[(T0, b"a\n")]);
    let tail = Follower::start(&["tail", "-f", "--format", "raw", s(&path)]);
    assert_eq!(tail.line(), "a");
    // Truncated to nothing: an error, never SIGBUS. Whichever notices first says so: the
    // follower's own check of the file, or the library's tailer.
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    let (code, err) = tail.finish();
    assert_eq!(code, 2);
    let ours = format!(
        "journal: error: {}: truncated to 0 bytes while it was followed (at offset 48)\n",
        s(&path)
    );
    let library = format!(
        "journal: error: {}: file is 0 bytes but write_offset is ",
        s(&path)
    );
    assert!(
        err == ours || (err.starts_with(&library) && err.lines().count() == 1),
        "{err}"
    );

    let path = make(&dir, "h", &[(T0, b"a\n")]);
    let tail = Follower::start(&["tail", "-f", "--format", "raw", s(&path)]);
    assert_eq!(tail.line(), "a");
    fs::remove_file(&path).unwrap();
    let (code, err) = tail.finish();
    assert_eq!(code, 2);
    assert!(
        err.contains("removed or renamed while it was followed"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// append

#[test]
fn append_lines_creates_the_journal_and_stamps_now() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("new.journal");
    let before = journal::now_ns();
    let r = run_with(
        &["append", s(&path)],
        b"hello\nworld\n\nno newline at the end",
    );
    let after = journal::now_ns();
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (0, "", ""));
    assert_eq!(
        payloads(&path),
        [&b"hello"[..], b"world", b"", b"no newline at the end"]
    );
    let reader = Reader::open(&path).unwrap();
    let header = reader.header().unwrap();
    assert_eq!(header.file_len, header.write_offset, "closed cleanly");
    assert!((before..=after).contains(&header.start_timestamp));
    let mut last = before;
    for e in reader.iter() {
        let ts = e.unwrap().timestamp;
        assert!(ts >= last && ts <= after);
        last = ts;
    }

    // Appending again adds after what is there.
    let r = run_with(&["append", "--sync", "always", s(&path)], b"more\n");
    assert_eq!(r.code, 0);
    assert_eq!(payloads(&path).len(), 5);
}

#[test]
fn append_accepts_every_sync_policy() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("s");
    for policy in [
        "never",
        "always",
        "events:2",
        "bytes:64",
        "bytes:64KiB",
        "interval:1ms",
        "interval:2s",
    ] {
        let r = run_with(&["append", "--sync", policy, s(&path)], b"a\nb\nc\n");
        assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{policy}");
    }
    assert_eq!(payloads(&path).len(), 21);
    assert!(Reader::open(&path).unwrap().verify().unwrap().is_intact());
    // One duration syntax and one size syntax: a bare number is not guessed as ms or seconds.
    for (bad, needle) in [
        ("interval:1", "needs a unit"),
        ("interval:-1s", "duration"),
        ("bytes:64KB", "not a size"),
        ("bytes:0", "at least 1"),
    ] {
        let r = run_with(&["append", "--sync", bad, s(&path)], b"x\n");
        assert_error(&r, 2, needle);
    }
    assert_eq!(payloads(&path).len(), 21);
}

/// `dump --format jsonl | append --format jsonl --start-time` rebuilds the journal byte for byte.
#[test]
fn jsonl_dump_and_append_round_trip_byte_for_byte() {
    let dir = TempDir::new().unwrap();
    let big: Vec<u8> = (0..5000u32).map(|i| (i * 7 + 3) as u8).collect();
    let events: Vec<(i64, &[u8])> = vec![
        (T0 + 1, b"hello"),
        (T0 + 1, b""),
        (-42, b"\x00\x01\x02\xff\xfe"),
        (i64::MAX, b"max"),
        (i64::MIN, b"min"),
        (T0 + 2, &big),
        (T0 + 3, b"1234567"),
        (T0 + 4, b"12345678"),
        (T0 + 5, "ünïcødé \n\t\"quoted\"".as_bytes()),
    ];
    let original = make(&dir, "original", &events);
    let dump = run(&["dump", "--format", "jsonl", s(&original)]);
    assert_eq!((dump.code, dump.stderr.as_str()), (0, ""));
    assert_eq!(dump.stdout.lines().count(), events.len());

    let copy = dir.path().join("copy");
    let start = T0.to_string();
    let r = run_with(
        &[
            "append",
            "--format",
            "jsonl",
            "--start-time",
            &start,
            s(&copy),
        ],
        dump.stdout.as_bytes(),
    );
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(fs::read(&copy).unwrap(), fs::read(&original).unwrap());

    // RFC 3339 works for --start-time too.
    let copy2 = dir.path().join("copy2");
    let r = run_with(
        &[
            "append",
            "--format",
            "jsonl",
            "--start-time",
            "2023-11-14T22:13:20Z",
            s(&copy2),
        ],
        dump.stdout.as_bytes(),
    );
    assert_eq!(r.code, 0);
    assert_eq!(fs::read(&copy2).unwrap(), fs::read(&original).unwrap());

    // --start-time only applies to a new journal.
    assert_error(
        &run_with(&["append", "--start-time", "5", s(&copy)], b"x\n"),
        2,
        "--start-time sets the header of a new journal, but",
    );
    assert_eq!(fs::read(&copy).unwrap(), fs::read(&original).unwrap());
}

#[test]
fn append_stops_at_a_malformed_line_keeping_every_line_before_it() {
    let dir = TempDir::new().unwrap();
    // The input is read into a typed record (serde, unknown keys refused): its messages are
    // serde's, located by column.
    let cases: &[(&str, &str)] = &[
        (
            "{\"payload\":\"!!\"}",
            "line 3: \"payload\" is not standard base64",
        ),
        (
            "not json",
            "line 3: invalid JSON: expected ident at column 2",
        ),
        ("[1,2]", "line 3: expected a JSON object"),
        (
            "{\"timestamp\":5}",
            "line 3: missing field `payload` at column 15",
        ),
        (
            "{\"payload\":\"\",\"paylod\":\"\"}",
            "line 3: unknown field `paylod`, expected one of",
        ),
        (
            "{\"payload\":\"aGk=\",\"size\":3}",
            "line 3: \"size\" is 3 but the payload is 2 bytes",
        ),
        (
            "{\"payload\":\"aGk=\",\"timestamp\":1,\"crc32\":7}",
            "line 3: \"crc32\" is 7 but timestamp and payload give",
        ),
        (
            "{\"payload\":\"\",\"timestamp\":1e3}",
            "line 3: \"timestamp\" 1000.0 is not a whole number",
        ),
        (
            "{\"payload\":\"\",\"timestamp\":\"noon\"}",
            "line 3: \"timestamp\": 'noon' is neither",
        ),
        (
            "{\"payload\":\"\",\"index\":\"three\"}",
            "line 3: invalid type: string \"three\", expected u64",
        ),
    ];
    for (i, (bad, message)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("j{i}"));
        // Line 2 is blank (skipped, still counted); line 4 is good but comes after the bad one.
        let input = format!(
            "{{\"timestamp\":1,\"payload\":\"Zmlyc3Q=\"}}\n\n{bad}\n{{\"timestamp\":2,\"payload\":\"bGF0ZXI=\"}}\n"
        );
        let r = run_with(&["append", "--format", "jsonl", s(&path)], input.as_bytes());
        assert_error(&r, 1, message);
        assert!(
            r.stderr.starts_with(&format!("journal: error: {message}")),
            "{r:?}"
        );
        assert_eq!(payloads(&path), [b"first".to_vec()], "{bad}");
        let header = Reader::open(&path).unwrap().header().unwrap();
        assert_eq!(
            header.file_len, header.write_offset,
            "closed cleanly after {bad}"
        );
        assert_eq!(header.event_count, 1);
    }
}

#[test]
fn append_refuses_a_locked_or_damaged_journal() {
    let dir = TempDir::new().unwrap();
    let path = make(&dir, "j", &[(T0, b"a")]);
    let w = Writer::open(&path).unwrap();
    let r = run_with(&["append", s(&path)], b"x\n");
    assert_error(&r, 2, "locked: another writer has this journal open");
    drop(w);
    assert_eq!(payloads(&path), [b"a".to_vec()]);

    let damaged = dir.path().join("damaged");
    fs::copy(vector("zeroed_tail.journal"), &damaged).unwrap();
    let r = run_with(&["append", s(&damaged)], b"x\n");
    assert_error(
        &r,
        1,
        "damaged at offset 80: CRC-32 mismatch (checksum); refusing to append ('journal repair",
    );
    assert_eq!(
        fs::read(&damaged).unwrap(),
        fs::read(vector("zeroed_tail.journal")).unwrap()
    );
}

// ---------------------------------------------------------------------------------------------
// repair

#[test]
fn repair_cuts_the_damaged_tail_and_keeps_every_valid_event_before_it() {
    let dir = TempDir::new().unwrap();
    let path = make_numbered(&dir, "j", 5);
    // Entries are pad8(16 + 7) = 24 bytes ("event i"): event 3 starts at 24 + 3 * 24 = 96.
    assert_eq!(journal::entry_len(7), 24);
    flip(&path, 96 + 16 + 2);
    let f = s(&path);
    let valid_before = run(&["dump", "--format", "jsonl", "--limit", "3", f]).stdout;
    let pristine = fs::read(&path).unwrap();

    let r = run(&["repair", "--dry-run", f]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(
        r.stdout,
        format!("{f}: would cut at offset 96: CRC-32 mismatch (checksum); would drop 48 bytes, keep 3 events (96 bytes)\n")
    );
    assert_eq!(
        fs::read(&path).unwrap(),
        pristine,
        "--dry-run changes nothing"
    );

    let r = run(&["repair", f]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(
        r.stdout,
        format!(
            "{f}: cut at offset 96: CRC-32 mismatch (checksum); dropped 48 bytes, kept 3 events (96 bytes)\n\
             file size: 144 -> 96 bytes\n"
        )
    );
    assert_eq!(
        run(&["verify", f]).stdout,
        format!("{f}: intact: 3 events, 96 bytes\n")
    );
    assert_eq!(run(&["dump", "--format", "jsonl", f]).stdout, valid_before);
    assert_eq!(fs::read(&path).unwrap()[24..], pristine[24..96]);

    let r = run(&["repair", f]);
    assert_eq!(
        r.stdout,
        format!("{f}: intact, 3 events (96 bytes); nothing to repair\n")
    );
    let r = run(&["repair", "--dry-run", f]);
    assert_eq!(
        r.stdout,
        format!("{f}: intact, 3 events; nothing to repair\n")
    );
}

#[test]
fn repair_cuts_a_torn_tail_and_fixes_a_stale_hint() {
    let dir = TempDir::new().unwrap();
    // A copy cut short inside event 4's payload: write_offset points past the end (truncated).
    let path = make_numbered(&dir, "torn", 5);
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(130)
        .unwrap();
    let f = s(&path);
    assert_eq!(
        json(&run(&["verify", "--json", f]).stdout)["error"],
        serde_json::json!({"offset": 120, "reason": "truncated"})
    );
    let r = run(&["repair", f]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(
        r.stdout,
        format!(
            "{f}: cut at offset 120: entry is cut short by write_offset or the end of the file (truncated); \
             dropped 10 bytes, kept 4 events (120 bytes)\nfile size: 130 -> 120 bytes\n"
        )
    );
    assert_eq!(payloads(&path).len(), 4);

    let lags = dir.path().join("lags");
    fs::copy(vector("event_count_lags.journal"), &lags).unwrap();
    let r = run(&["repair", s(&lags)]);
    assert_eq!(
        r.stdout,
        format!("{}: intact, 3 events; corrected the header's event_count hint from 2; dropped nothing\n", s(&lags))
    );
    assert_eq!(
        Reader::open(&lags).unwrap().header().unwrap().event_count,
        3
    );
}

#[test]
fn repair_refuses_while_a_writer_holds_the_lock() {
    let dir = TempDir::new().unwrap();
    let path = make_numbered(&dir, "j", 3);
    let mut w = Writer::options().chunk_size(4096).open(&path).unwrap();
    w.append(T0 + 9, b"live").unwrap();
    let before = fs::read(&path).unwrap();
    let r = run(&["repair", s(&path)]);
    assert_error(
        &r,
        2,
        "locked: another writer has this journal open; refusing to repair",
    );
    assert_eq!(fs::read(&path).unwrap(), before);
    let r = run(&["repair", "--dry-run", s(&path)]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.ends_with(
        "note: a writer has the journal open now; repair would refuse until it closes\n"
    ));
    w.append(T0 + 10, b"still mine").unwrap();
    w.close().unwrap();
    assert_eq!(payloads(&path).len(), 5);
}

// ---------------------------------------------------------------------------------------------
// ring, replay, demo

/// Starts `journal ring consume ARGS RING`, waits until it has attached, and collects its output
/// on a thread (so a full stdout pipe never stalls it, and with it the ring's producer).
fn consume(ring: &Path, args: &[&str]) -> std::thread::JoinHandle<Run> {
    let mut child = Command::new(BIN)
        .args(["ring", "consume"])
        .args(args)
        .arg(ring)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    // Attached, or already done (a ring that held the whole stream, end included).
    while journal::ring_info(ring).unwrap().consumer_pid == 0 && child.try_wait().unwrap().is_none()
    {
        assert!(Instant::now() < deadline, "consumer never attached");
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::spawn(move || child.wait_with_output().unwrap().into())
}

fn finish(consumer: std::thread::JoinHandle<Run>) -> Run {
    consumer.join().unwrap()
}

#[test]
fn ring_create_info_and_consume_across_processes() {
    let dir = TempDir::new().unwrap();
    let ring = dir.path().join("md.ring");
    let r = run(&["ring", "create", s(&ring), "--capacity", "64K"]);
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (0, "", ""));
    let info = run(&["ring", "info", "--json", s(&ring)]);
    assert_eq!(info.code, 0, "{info:?}");
    let v = json(info.stdout.trim());
    assert_eq!(v["capacity"], 65536);
    assert_eq!(v["producer_pid"], 0);
    let text = run(&["ring", "info", s(&ring)]);
    assert!(
        text.stdout.contains("capacity:          65536 bytes"),
        "{text:?}"
    );

    let child = consume(&ring, &["--format", "jsonl"]);
    let mut p = journal::Producer::attach(&ring).unwrap();
    for (ts, payload) in numbered(1000) {
        p.push(ts, &payload).unwrap();
    }
    p.end_of_stream(0).unwrap();
    let out = finish(child);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""), "{out:?}");
    let lines: Vec<_> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1000);
    let last = json(lines[999]);
    assert_eq!(last["index"], 999);
    assert_eq!(last["timestamp"], T0 + 999_000);
    assert_eq!(last["payload"], "ZXZlbnQgOTk5"); // base64("event 999")
    assert_eq!(
        last.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["crc32", "index", "offset", "payload", "size", "timestamp"]
    );
    // Existing path, bad capacities.
    assert_error(
        &run(&["ring", "create", s(&ring), "--capacity", "64K"]),
        2,
        "already exists",
    );
    for cap in ["1000", "2K", "3M", "x", "0"] {
        let r = run(&[
            "ring",
            "create",
            s(&dir.path().join("b")),
            "--capacity",
            cap,
        ]);
        assert_error(&r, 2, "capacity");
    }
}

#[test]
fn ring_commands_refuse_files_that_are_not_rings() {
    let dir = TempDir::new().unwrap();
    let journal = make_numbered(&dir, "j.journal", 3);
    let text = dir.path().join("notes.txt");
    fs::write(&text, "not a ring\n".repeat(1000)).unwrap();
    for f in [&journal, &text] {
        assert_error(&run(&["ring", "info", s(f)]), 2, "not a ring");
        assert_error(&run(&["ring", "consume", s(f)]), 2, "not a ring");
    }
    assert_error(
        &run(&["ring", "consume", s(&dir.path().join("missing"))]),
        2,
        "No such file",
    );
}

#[test]
fn replay_feeds_a_consumer_process_byte_for_byte() {
    let dir = TempDir::new().unwrap();
    let journal = make_numbered(&dir, "j.journal", 5000);
    let ring = dir.path().join("r.ring");
    assert_eq!(
        run(&["ring", "create", s(&ring), "--capacity", "16K"]).code,
        0
    );
    let child = consume(&ring, &["--format", "jsonl"]);
    let r = run(&["replay", s(&journal), "--ring", s(&ring), "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let stats = json(r.stdout.trim());
    assert_eq!(stats["events"], 5000);
    let out = finish(child);
    assert_eq!(out.code, 0, "{out:?}");
    let dumped = run(&["dump", "--format", "jsonl", s(&journal)]);
    // The same events, CRCs and payloads as the journal's own dump (offsets are ring positions).
    let strip = |l: &str| {
        let mut v = json(l);
        v.as_object_mut().unwrap().remove("offset");
        v
    };
    let a: Vec<_> = out.stdout.lines().map(strip).collect();
    let b: Vec<_> = dumped.stdout.lines().map(strip).collect();
    assert_eq!(a.len(), 5000);
    assert_eq!(a, b);
    // A time range, into a ring created on the spot; then count it.
    let ring2 = dir.path().join("r2.ring");
    let r = run(&[
        "replay",
        s(&journal),
        "--ring",
        s(&ring2),
        "--capacity",
        "1M",
        "--from-time",
        &(T0 + 100_000).to_string(),
        "--to-time",
        &(T0 + 200_000).to_string(),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.starts_with("replayed 100 events"), "{r:?}");
    let out = finish(consume(&ring2, &["--count"]));
    assert_eq!(
        out.stdout.trim_end(),
        format!("100 records, {} bytes", 100 * 32)
    );
}

#[test]
fn replay_paces_by_timestamps_and_validates_arguments() {
    let dir = TempDir::new().unwrap();
    // 50 events 4 ms apart: 196 ms of history, replayed at 2x: about 98 ms.
    let events: Vec<(i64, Vec<u8>)> = (0..50)
        .map(|i| (T0 + i * 4_000_000, b"tick".to_vec()))
        .collect();
    let refs: Vec<(i64, &[u8])> = events.iter().map(|(t, p)| (*t, &p[..])).collect();
    let journal = make(&dir, "paced.journal", &refs);
    let ring = dir.path().join("p.ring");
    let r = run(&[
        "replay",
        s(&journal),
        "--ring",
        s(&ring),
        "--speed",
        "2",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = json(r.stdout.trim());
    assert_eq!(v["events"], 50);
    assert!(v["elapsed_ns"].as_u64().unwrap() >= 98_000_000, "{v}");
    for speed in ["0", "-1", "fast", "NaN", "inf"] {
        let arg = format!("--speed={speed}");
        assert_error(
            &run(&["replay", s(&journal), "--ring", s(&ring), &arg]),
            2,
            "speed",
        );
    }
    assert_error(
        &run(&["replay", s(&dir.path().join("missing")), "--ring", s(&ring)]),
        2,
        "No such file",
    );
    let text = dir.path().join("t");
    fs::write(&text, b"hello there, not a journal at all\n").unwrap();
    assert_error(
        &run(&["replay", s(&text), "--ring", s(&ring)]),
        2,
        "not a journal",
    );
}

#[test]
fn demo_runs_end_to_end_and_keeps_its_files_with_dir() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("demo");
    let r = run(&["demo", "--events", "20000", "--dir", s(&out)]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    for needle in [
        "journal demo: 20000 market-data events",
        "append",
        "verify",
        "replay -> ring -> second process",
        "one-way latency",
        "p99.9",
    ] {
        assert!(r.stdout.contains(needle), "{needle}: {r:?}");
    }
    let journal = out.join("md.journal");
    let v = run(&["verify", "--json", s(&journal)]);
    assert_eq!(v.code, 0);
    assert_eq!(json(v.stdout.trim())["events"], 20000);
    // A second run into the same directory refuses rather than mixing files.
    assert_error(
        &run(&["demo", "--events", "10", "--dir", s(&out)]),
        2,
        "exists",
    );
    assert_error(&run(&["demo", "--events", "0"]), 2, "events");
}

// ---------------------------------------------------------------------------------------------
// `journal verify` against an independent decoder of spec/FORMAT.md

/// The decoder written from the spec alone (shared with the library's tests, not copied).
#[path = "../../journal/tests/it/spec_impl.rs"]
#[allow(dead_code)] // reason: the CLI tests use only its decoder and encoder
mod spec_impl;

#[test]
fn verify_judges_random_damage_exactly_as_an_independent_decoder() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("damaged.journal");
    let mut x = 0x00DD_BA11_u64;
    let mut next = move || {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut seen = std::collections::BTreeSet::new();
    for case in 0..300 {
        let events: Vec<(i64, Vec<u8>)> = (0..1 + next() % 12)
            .map(|i| {
                let len = (next() % 300) as usize;
                (
                    next() as i64,
                    (0..len).map(|k| (k as u64 ^ i) as u8).collect(),
                )
            })
            .collect();
        let mut bytes = spec_impl::encode(T0, &events);
        // One to three kinds of damage, anywhere.
        for _ in 0..1 + next() % 3 {
            let n = bytes.len() as u64;
            match next() % 5 {
                0 => bytes.truncate((next() % (n + 1)) as usize),
                1 if n > 0 => {
                    let bit = next() % (n * 8);
                    bytes[(bit / 8) as usize] ^= 1 << (bit % 8);
                }
                2 if n > 0 => {
                    let at = (next() % n) as usize;
                    let len = (1 + next() % 16) as usize;
                    let end = (at + len).min(bytes.len());
                    bytes[at..end].fill(next() as u8);
                }
                3 if n >= 8 => {
                    let wo = 24 + (next() % (n + 64)) / 8 * 8;
                    bytes[..8].copy_from_slice(&wo.to_le_bytes());
                }
                _ if n >= 24 + 12 => {
                    // A size field of the first entry.
                    bytes[32..36].copy_from_slice(&(next() as u32).to_le_bytes());
                }
                _ => {}
            }
        }
        fs::write(&path, &bytes).unwrap();
        let r = run(&["verify", "--json", s(&path)]);
        let story = format!("case {case}: {r:?}");
        match spec_impl::decode(&bytes) {
            spec_impl::Decoded::NotAJournal => {
                assert_error(&r, 2, "not a journal");
                seen.insert("not_a_journal");
            }
            spec_impl::Decoded::Journal(j) => {
                let v = json(r.stdout.trim());
                assert_eq!(v["events"], j.events.len() as u64, "{story}");
                match j.damage {
                    None => {
                        assert_eq!((r.code, &v["valid"]), (0, &Value::Bool(true)), "{story}");
                        assert!(v["error"].is_null(), "{story}");
                        seen.insert("intact");
                    }
                    Some((offset, reason)) => {
                        assert_eq!((r.code, &v["valid"]), (1, &Value::Bool(false)), "{story}");
                        assert_eq!(v["error"]["offset"], offset, "{story}");
                        assert_eq!(v["error"]["reason"], reason, "{story}");
                        seen.insert(reason);
                    }
                }
            }
        }
    }
    // The generator reached the verdicts that matter.
    for outcome in [
        "intact",
        "not_a_journal",
        "checksum",
        "truncated",
        "overrun",
    ] {
        assert!(seen.contains(outcome), "never produced {outcome}: {seen:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Hardening: bounded memory, private work directories, one time range, escaped output

/// Runs `script` with `sh -c`, `$BIN` naming the binary under test and `$1`... the `args`.
fn sh(script: &str, args: &[&str]) -> Run {
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .args(args)
        .env("BIN", BIN)
        .stdin(Stdio::null())
        .output()
        .unwrap()
        .into()
}

/// An endless line (no newline, ever) is read only up to the largest payload, then refused with
/// its line number; the lines before it stay appended. The address-space budget for heap and data
/// (`ulimit -d`, 1.75 GiB) is far below what reading the whole line would take, but above the
/// one line of 1 GiB that the bound allows.
#[test]
fn append_refuses_an_endless_line_with_bounded_memory() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("j");
    let r = sh(
        r#"ulimit -d 1835008 && (printf 'first\nsecond\n'; exec cat /dev/zero) | "$BIN" append "$1""#,
        &[s(&path)],
    );
    assert_error(
        &r,
        1,
        "line 3: longer than 1073741824 bytes without a newline; an event's payload is at most \
         1073741824 bytes",
    );
    assert_eq!(payloads(&path), [b"first".to_vec(), b"second".to_vec()]);
    let header = Reader::open(&path).unwrap().header().unwrap();
    assert_eq!(header.file_len, header.write_offset, "closed cleanly");
}

/// `tail -n N` keeps nothing per event, whatever N: a million events print under a heap budget
/// (`ulimit -d`, 32 MiB) that one record per event would exceed.
#[test]
fn tail_of_a_huge_n_keeps_nothing_per_event() {
    const N: usize = 1_000_000;
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("big");
    let mut w = Writer::options().start_timestamp(T0).create(&path).unwrap();
    let mut expected = String::new();
    for i in 0..N {
        let p = format!("{i},");
        w.append(T0 + i as i64, p.as_bytes()).unwrap();
        expected.push_str(&p);
    }
    w.close().unwrap();
    let tail = |n: &str| {
        sh(
            r#"ulimit -d 32768 && exec "$BIN" tail --format raw -n "$1" "$2""#,
            &[n, s(&path)],
        )
    };
    let r = tail("18446744073709551615");
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert!(r.stdout == expected, "every event, in order");
    let r = tail("999999");
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert!(r.stdout == expected["0,".len()..], "all but the first");
}

/// The directory `demo` used to take, `journal-demo-<pid>` in /dev/shm (or the temp directory),
/// planted before `demo` starts (`exec` keeps the shell's pid): a directory or a symlink there is
/// neither followed nor deleted; the demo works in a fresh directory of its own, removed after.
#[test]
fn demo_never_uses_or_deletes_a_planted_directory_or_symlink() {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let target = TempDir::new().unwrap();
    for planting in [
        r#"mkdir "$d" && echo precious > "$d/keep""#,
        r#"ln -s "$2" "$d""#,
    ] {
        let script = format!(
            r#"d="$1/journal-demo-$$"; {planting} && echo "$d" && exec "$BIN" demo --events 1000"#
        );
        let r = sh(&script, &[s(&base), s(target.path())]);
        let planted = PathBuf::from(r.stdout.lines().next().unwrap());
        assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
        // The directory it reported, and that it is gone.
        let used = r
            .stdout
            .lines()
            .find_map(|l| l.trim().strip_suffix("/md.journal (removed at exit)"))
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("no work directory reported: {r:?}"));
        assert_ne!(used, planted);
        assert!(used.starts_with(&base), "{used:?}");
        assert!(!used.exists(), "{used:?} left behind");
        // The planted path is as it was, and nothing was written through the link.
        let meta = fs::symlink_metadata(&planted).unwrap();
        if meta.file_type().is_symlink() {
            fs::remove_file(&planted).unwrap();
        } else {
            assert_eq!(fs::read(planted.join("keep")).unwrap(), b"precious\n");
            assert_eq!(fs::read_dir(&planted).unwrap().count(), 1);
            fs::remove_dir_all(&planted).unwrap();
        }
        assert_eq!(fs::read_dir(target.path()).unwrap().count(), 0);
    }
}

/// `dump` and `replay` read --from-time/--to-time with one parser and one range (FORMAT.md 6.4):
/// negative times are times (before 1970), the range starts at the first event at or after
/// --from-time and ends at the first one at or after --to-time, in file order (the unsorted case
/// is `dump_slices_by_index_time_and_limit`'s).
#[test]
fn dump_and_replay_share_one_time_range_negative_times_included() {
    let dir = TempDir::new().unwrap();
    let path = make(
        &dir,
        "j",
        &[
            (-30, b"a"),
            (-10, b"b"),
            (-5, b"c"),
            (5, b"d"),
            (40, b"e"),
            (20, b"f"),
        ],
    );
    let range = ["--from-time", "-15", "--to-time", "30"];
    let mut args = vec!["dump", "--format", "raw", s(&path)];
    args.extend(range);
    let r = run(&args);
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (0, "bcd", "")
    );
    let rfc = run(&[
        "dump",
        "--format",
        "raw",
        "--from-time",
        "1969-12-31T23:59:59.999999985Z",
        "--to-time",
        "30",
        s(&path),
    ]);
    assert_eq!(rfc.stdout, "bcd");

    let ring = dir.path().join("r.ring");
    assert_eq!(
        run(&["ring", "create", s(&ring), "--capacity", "64K"]).code,
        0
    );
    // The ring holds the whole stream, end included: the consumer starts only once the replay
    // has succeeded (so a failed replay cannot leave it waiting).
    let mut args = vec!["replay", s(&path), "--ring", s(&ring), "--json"];
    args.extend(range);
    let r = run(&args);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(json(r.stdout.trim())["events"], 3);
    assert_eq!(finish(consume(&ring, &["--format", "raw"])).stdout, "bcd");

    // The same refusal, in the same words, from both.
    for cmd in [
        vec!["dump", s(&path)],
        vec!["replay", s(&path), "--ring", s(&ring)],
    ] {
        let mut args = cmd.clone();
        args.extend(["--from-time", "5", "--to-time", "-5"]);
        assert_error(
            &run(&args),
            2,
            "--from-time (1970-01-01T00:00:00.000000005Z) is after --to-time \
             (1969-12-31T23:59:59.999999995Z)",
        );
    }
}

/// `append` (and `repair`) to a symlink: said plainly, with the reason, not as the kernel's
/// "Too many levels of symbolic links".
#[test]
fn append_and_repair_refuse_a_symlink_and_say_why() {
    let dir = TempDir::new().unwrap();
    let real = make(&dir, "real", &[(T0, b"a")]);
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    for args in [vec!["append", s(&link)], vec!["repair", s(&link)]] {
        let r = run_with(&args, b"x\n");
        assert_error(
            &r,
            2,
            "link: is a symbolic link, and journals are not opened through one",
        );
        assert!(!r.stderr.contains("Too many levels"), "{r:?}");
    }
    assert_eq!(payloads(&real), [b"a".to_vec()]);
}

/// Paths are printed escaped (a newline cannot break a line, bytes that are not UTF-8 are shown,
/// not replaced), counts agree with their nouns, and invisible characters in a payload are shown
/// as escapes in `text` output.
#[test]
fn output_escapes_paths_and_invisible_characters_and_counts_in_words() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = TempDir::new().unwrap();
    let name = OsStr::from_bytes(b"two\nlines\xff.journal");
    let mut w = Writer::options()
        .chunk_size(4096)
        .create(dir.path().join(name))
        .unwrap();
    w.append(T0, "left\u{202e}right\u{200b}\\".as_bytes())
        .unwrap();
    w.close().unwrap();
    let path = dir.path().join(name);
    let shown = format!("{}/two\\nlines\\xff.journal", s(dir.path()));

    // Not valid UTF-8: the path is passed as bytes.
    let out: Run = Command::new(BIN)
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap()
        .into();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, format!("{shown}: intact: 1 event, 56 bytes\n"));

    let out: Run = Command::new(BIN)
        .arg("dump")
        .arg(&path)
        .output()
        .unwrap()
        .into();
    assert_eq!(
        out.stdout,
        "index=0 time=2023-11-14T22:13:20.000000000Z size=16 text=left\\u{202e}right\\u{200b}\\\\\n"
    );

    // An error naming the path is still one line.
    let out: Run = Command::new(BIN)
        .args(["append", "--start-time", "5"])
        .arg(&path)
        .output()
        .unwrap()
        .into();
    assert_error(
        &out,
        2,
        &format!("--start-time sets the header of a new journal, but {shown} already exists"),
    );

    // One valid event before damage: "the 1 event before it ... is valid".
    let damaged = dir.path().join("damaged");
    let mut w = Writer::options().chunk_size(4096).create(&damaged).unwrap();
    w.append(T0, b"ok").unwrap();
    w.append(T0, b"bad").unwrap();
    w.close().unwrap();
    flip(&damaged, 24 + 24 + 16);
    let r = run(&["dump", s(&damaged)]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .ends_with("the 1 event before it (48 bytes) is valid\n"),
        "{r:?}"
    );
}

/// `tail` takes the same time range as `dump`: -n counts within it, and --to-time ends --follow.
#[test]
fn tail_selects_by_time_range_and_to_time_ends_follow() {
    let dir = TempDir::new().unwrap();
    let path = make_numbered(&dir, "n", 12);
    let f = s(&path);
    let t = |i: i64| (T0 + i * 1000).to_string();
    let raw = |args: &[&str]| tail_raw(f, args);
    assert_eq!(raw(&["-n", "2", "--to-time", &t(5)]), events(3..5));
    assert_eq!(raw(&["-n", "100", "--to-time", &t(5)]), events(0..5));
    assert_eq!(
        raw(&["-n", "3", "--from-time", &t(2), "--to-time", &t(9)]),
        events(6..9)
    );
    assert_eq!(
        raw(&["-n", "+4", "--from-time", &t(6), "--to-time", &t(9)]),
        events(6..9)
    );
    assert_eq!(raw(&["-n", "+8", "--from-time", &t(2)]), events(7..12));
    // Past --to-time there is nothing to follow: the backlog ends the run.
    assert_eq!(raw(&["-f", "-n", "1", "--to-time", &t(5)]), events(4..5));
    assert_error(
        &run(&["tail", "--from-time", "2", "--to-time", "1", f]),
        2,
        "is after --to-time",
    );

    // Following: events before --to-time are printed; the first at or after it ends the run.
    let live = make(&dir, "live", &[(T0, b"before\n")]);
    let mut w = Writer::options().chunk_size(4096).open(&live).unwrap();
    let end = (T0 + 100).to_string();
    let tail = Follower::start(&[
        "tail",
        "-f",
        "-n",
        "1",
        "--format",
        "raw",
        "--to-time",
        &end,
        s(&live),
    ]);
    assert_eq!(tail.line(), "before");
    w.append(T0 + 50, b"inside\n").unwrap();
    assert_eq!(tail.line(), "inside");
    w.append(T0 + 100, b"the end\n").unwrap();
    w.append(T0 + 1, b"after the end\n").unwrap();
    assert_eq!(tail.finish(), (0, String::new()));
    w.close().unwrap();
}
