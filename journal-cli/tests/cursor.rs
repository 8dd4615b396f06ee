//! `journal tail --cursor NAME` (spec/CURSOR.md) with the real binary: a run resumes exactly after
//! the last commit; a new cursor starts where tail would; the options that choose a start are
//! refused for a cursor that exists; one owner at a time; damaged, foreign and ahead cursors are
//! clear errors; and a follower SIGKILLed 100 times at random moments while a writer appends
//! resumes every time exactly after the position committed before the kill, so that the committed
//! ranges cover every event exactly once.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use base64::Engine;
use tempfile::TempDir;

mod common;
use common::{assert_error, json, lines, run, s, wait_for, Follower, KillOnDrop, PATIENCE};

/// 2023-11-14T22:13:20Z (FORMAT.md 12).
const T0: i64 = 1_700_000_000_000_000_000;

/// A closed journal `dir/j` created at `start` with `n` events: event `i` at `T0 + i`, payload `i`
/// as text.
fn make(dir: &Path, start: i64, n: u64) -> PathBuf {
    let path = dir.join("j");
    let _ = std::fs::remove_file(&path);
    let mut w = journal::Writer::options()
        .chunk_size(4096)
        .start_timestamp(start)
        .create(&path)
        .unwrap();
    for i in 0..n {
        w.append(T0 + i as i64, i.to_string().as_bytes()).unwrap();
    }
    w.close().unwrap();
    path
}

fn append(path: &Path, from: u64, to: u64) {
    let mut w = journal::Writer::open(path).unwrap();
    for i in from..to {
        w.append(T0 + i as i64, i.to_string().as_bytes()).unwrap();
    }
    w.close().unwrap();
}

fn cursor_path(journal: &Path, name: &str) -> PathBuf {
    PathBuf::from(format!("{}.cursors/{name}", journal.display()))
}

/// The committed position, read from the file as CURSOR.md 4 lays it out (not through the
/// library); `None` if there is no cursor file.
fn committed(journal: &Path, name: &str) -> Option<u64> {
    let b = std::fs::read(cursor_path(journal, name)).ok()?;
    assert_eq!(b.len(), 64, "a cursor file is 64 bytes");
    assert_eq!(&b[0..8], b"JRNL.CUR");
    assert_eq!(
        u32::from_le_bytes(b[28..32].try_into().unwrap()),
        crc32fast::hash(&b[0..28])
    );
    Some(u64::from_le_bytes(b[32..40].try_into().unwrap()))
}

/// The event index of a jsonl line, checking that its payload is that index.
fn index_of(line: &str) -> u64 {
    let v = json(line);
    let index = v["index"].as_u64().unwrap();
    let payload = base64::engine::general_purpose::STANDARD
        .decode(v["payload"].as_str().unwrap())
        .unwrap();
    assert_eq!(payload, index.to_string().as_bytes(), "{line}");
    index
}

fn indexes(stdout: &str) -> Vec<u64> {
    stdout.lines().map(index_of).collect()
}

fn range(from: u64, to: u64) -> Vec<u64> {
    (from..to).collect()
}

#[test]
fn a_run_resumes_exactly_where_the_last_one_committed() {
    let dir = TempDir::new().unwrap();
    let path = make(dir.path(), T0, 30);
    let p = s(&path);
    let r = run(&["tail", "-n", "+1", "--cursor", "a", "--format", "jsonl", p]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    assert_eq!(indexes(&r.stdout), range(0, 30));
    assert_eq!(committed(&path, "a"), Some(30));
    append(&path, 30, 35);
    // A later run prints everything after the cursor, not the last 10.
    let r = run(&["tail", "--cursor", "a", "--format", "jsonl", p]);
    assert_eq!((r.code, indexes(&r.stdout)), (0, range(30, 35)), "{r:?}");
    assert_eq!(committed(&path, "a"), Some(35));
    let r = run(&["tail", "--cursor", "a", "--format", "jsonl", p]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{r:?}");
    // Another name is another reader.
    let r = run(&["tail", "-n", "+1", "--cursor", "b", "--format", "jsonl", p]);
    assert_eq!(indexes(&r.stdout), range(0, 35));
}

#[test]
fn a_new_cursor_starts_where_tail_would_and_commits_that_at_once() {
    let dir = TempDir::new().unwrap();
    let path = make(dir.path(), T0, 30);
    let p = s(&path);
    let r = run(&["tail", "--cursor", "last", "--format", "jsonl", p]);
    assert_eq!(indexes(&r.stdout), range(20, 30), "{r:?}");
    assert_eq!(committed(&path, "last"), Some(30));
    let from = (T0 + 25).to_string();
    let r = run(&[
        "tail",
        "--from-time",
        &from,
        "--cursor",
        "t",
        "--format",
        "jsonl",
        p,
    ]);
    assert_eq!(indexes(&r.stdout), range(25, 30), "{r:?}");
    let r = run(&[
        "tail",
        "-n",
        "+8",
        "--to-time",
        &from,
        "--cursor",
        "k",
        "--format",
        "jsonl",
        p,
    ]);
    assert_eq!(indexes(&r.stdout), range(7, 25), "{r:?}");
    // --to-time leaves the event that ends the range for the next run.
    assert_eq!(committed(&path, "k"), Some(25));
    let r = run(&["tail", "--cursor", "k", "--format", "jsonl", p]);
    assert_eq!(indexes(&r.stdout), range(25, 30), "{r:?}");
    // A new cursor with nothing to print starts at the end.
    let r = run(&["tail", "-n", "0", "--cursor", "z", p]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{r:?}");
    assert_eq!(committed(&path, "z"), Some(30));
    // With --follow, the start is committed before any event is printed.
    let f = Follower::start(&[
        "tail", "-f", "-n", "3", "--cursor", "f", "--format", "jsonl", p,
    ]);
    assert_eq!(index_of(&f.line()), 27);
    wait_for("the follower's commits", || {
        committed(&path, "f") == Some(30)
    });
    f.signal("-TERM");
    let (code, err) = f.finish();
    assert_eq!((code, err.as_str()), (0, ""));
}

#[test]
fn a_start_option_with_an_existing_cursor_is_refused() {
    let dir = TempDir::new().unwrap();
    let path = make(dir.path(), T0, 30);
    let p = s(&path);
    assert_eq!(run(&["tail", "-n", "+3", "--cursor", "a", p]).code, 0);
    for args in [
        &["tail", "-n", "5", "--cursor", "a", p][..],
        &["tail", "-n", "+1", "-f", "--cursor", "a", p][..],
        &["tail", "--from-time", "0", "--cursor", "a", p][..],
    ] {
        let r = run(args);
        assert_error(&r, 2, "the cursor exists (next event 30)");
        assert!(r.stderr.contains("remove"), "{r:?}");
    }
    assert_eq!(committed(&path, "a"), Some(30));
    let r = run(&["tail", "--cursor", "../x", p]);
    assert_error(&r, 2, "cursor name");
    let r = run(&["tail", "--cursor", "", p]);
    assert_error(&r, 2, "cursor name");
}

#[test]
fn one_tail_owns_a_cursor_at_a_time() {
    let dir = TempDir::new().unwrap();
    let path = make(dir.path(), T0, 5);
    let p = s(&path);
    let f = Follower::start(&[
        "tail", "-f", "-n", "+1", "--cursor", "a", "--format", "jsonl", p,
    ]);
    assert_eq!(index_of(&f.line()), 0);
    let r = run(&["tail", "--cursor", "a", p]);
    assert_error(&r, 2, "cursor in use");
    // A reader of another name is not affected.
    assert_eq!(run(&["tail", "--cursor", "b", p]).code, 0);
    f.signal("-INT");
    let (code, err, rest) = f.finish_with_rest();
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(rest.len(), 4);
    assert_eq!(committed(&path, "a"), Some(5));
}

#[test]
fn damaged_foreign_and_ahead_cursors_are_clear_errors() {
    let dir = TempDir::new().unwrap();
    let path = make(dir.path(), T0, 10);
    let p = s(&path);
    assert_eq!(run(&["tail", "-n", "+1", "--cursor", "a", p]).code, 0);
    let file = cursor_path(&path, "a");
    let good = std::fs::read(&file).unwrap();
    let mut flipped = good.clone();
    flipped[17] ^= 4;
    for (bytes, needle) in [
        (&good[..40], "truncated"),
        (&flipped[..], "header_checksum"),
        (&[b'x'; 64][..], "bad_magic"),
    ] {
        std::fs::write(&file, bytes).unwrap();
        for follow in [false, true] {
            let args = if follow {
                vec!["tail", "-f", "--cursor", "a", p]
            } else {
                vec!["tail", "--cursor", "a", p]
            };
            let r = run(&args);
            assert_error(&r, 1, needle);
            assert!(r.stderr.contains("bad cursor"), "{r:?}");
        }
        // Left as it was.
        assert_eq!(std::fs::read(&file).unwrap(), bytes);
    }
    // The same name, another journal: `other_journal`.
    std::fs::write(&file, &good).unwrap();
    make(dir.path(), T0 + 1, 10);
    assert_error(&run(&["tail", "--cursor", "a", p]), 1, "other_journal");
    // The journal lost events the cursor had delivered: `ahead`, even with --follow.
    make(dir.path(), T0, 4);
    let r = run(&["tail", "-f", "--cursor", "a", p]);
    assert_error(&r, 1, "position 10 is past the journal's 4 events");
    assert_eq!(committed(&path, "a"), Some(10));
}

/// The kill test: a writer appends continuously; `tail -f --cursor` is started, SIGKILLed at a
/// random moment (at once, or after a random number of printed events, or while it prints), and
/// started again, 100 times. After each kill the cursor file is read: the next run must print
/// first exactly the event at that position, and every run's committed range must be events it
/// printed. At the end a run without --follow catches up: the committed ranges are then
/// consecutive, cover every event the writer appended exactly once, and every wait had a deadline.
#[test]
fn a_follower_killed_100_times_resumes_exactly_after_its_last_commit() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("j");
    let mut w = journal::Writer::options()
        .chunk_size(1 << 16)
        .start_timestamp(T0)
        .create(&path)
        .unwrap();
    let stop = AtomicBool::new(false);
    // Events appended so far (published after each burst).
    let appended = AtomicU64::new(0);
    let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(std::process::id());
    let mut rnd = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let kills = std::env::var("JOURNAL_CURSOR_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100u32);
    let (stop, appended) = (&stop, &appended);
    let total = std::thread::scope(|scope| {
        let writer = scope.spawn(move || {
            let mut i = 0u64;
            let mut burst = 1u64;
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..burst {
                    w.append(T0 + i as i64, i.to_string().as_bytes()).unwrap();
                    i += 1;
                }
                appended.store(i, Ordering::Relaxed);
                burst = burst % 97 + 1;
                // Pacing, not synchronisation: the file grows at a few MB/s, not GB/s.
                std::thread::sleep(Duration::from_micros(200));
            }
            w.close().unwrap();
            i
        });
        let mut position = 0u64; // committed before this run
                                 // How many runs committed each event (the union of the committed ranges).
        let mut committed_by = Vec::<u32>::new();
        let mut mark = |from: u64, to: u64| {
            if committed_by.len() < to as usize {
                committed_by.resize(to as usize, 0);
            }
            for c in &mut committed_by[from as usize..to as usize] {
                *c += 1;
            }
        };
        for run_no in 0..kills {
            let mut args = vec!["tail", "-f", "--format", "jsonl", "--cursor", "k"];
            if committed(&path, "k").is_none() {
                // Not created yet (the previous run was killed before it created the cursor).
                args.extend(["-n", "+1"]);
            }
            args.push(s(&path));
            let mut child = KillOnDrop(
                Command::new(common::BIN)
                    .args(&args)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap(),
            );
            let out = lines(child.stdout.take().unwrap());
            let mut printed: Vec<String> = Vec::new();
            let caught_up = appended.load(Ordering::Relaxed);
            match rnd(4) {
                0 => {} // at once: maybe before it opened the journal or created the cursor
                mode => {
                    // 1, 2: in the backlog, after 1 to 400 events; 3: live, a few events after
                    // it caught up with what the writer had appended when it started.
                    let want = 1 + rnd(if mode == 3 { 50 } else { 400 }) as usize;
                    let deadline = Instant::now() + PATIENCE;
                    let mut live = 0;
                    let enough = |printed: &[String], live: usize| {
                        if mode == 3 {
                            live >= want
                        } else {
                            printed.len() >= want
                        }
                    };
                    while !enough(&printed, live) {
                        if mode == 3
                            && printed
                                .last()
                                .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                                .is_some_and(|v| v["index"].as_u64().unwrap() >= caught_up)
                        {
                            live += 1;
                        }
                        let left = deadline.saturating_duration_since(Instant::now());
                        match out.recv_timeout(left) {
                            Ok(line) => printed.push(line),
                            Err(RecvTimeoutError::Timeout) => {
                                panic!("run {run_no}: no output for {PATIENCE:?}: a hang")
                            }
                            Err(RecvTimeoutError::Disconnected) => {
                                panic!("run {run_no}: the follower exited: {:?}", child.wait())
                            }
                        }
                    }
                }
            }
            child.kill().unwrap();
            let status = child.wait().unwrap();
            assert_eq!(status.code(), None, "run {run_no}: killed, not exited");
            // The rest of what it printed (the pipe is closed now: the reader thread ends).
            let deadline = Instant::now() + PATIENCE;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match out.recv_timeout(left) {
                    Ok(line) => printed.push(line),
                    Err(RecvTimeoutError::Disconnected) => break,
                    Err(RecvTimeoutError::Timeout) => panic!("run {run_no}: stdout not closed"),
                }
            }
            // A kill in the middle of a write may leave the last line cut: it was never
            // committed (a commit follows a completed flush), and is not counted.
            if printed
                .last()
                .is_some_and(|l| serde_json::from_str::<serde_json::Value>(l).is_err())
            {
                printed.pop();
            }
            let got: Vec<u64> = printed.iter().map(|l| index_of(l)).collect();
            if let Some(&first) = got.first() {
                assert_eq!(first, position, "run {run_no} did not start at its cursor");
            }
            assert!(
                got.windows(2).all(|w| w[1] == w[0] + 1),
                "run {run_no}: a gap or a repeat inside one run"
            );
            let now = committed(&path, "k").unwrap_or(0);
            assert!(now >= position, "run {run_no}: the cursor went back");
            assert!(
                now <= position + got.len() as u64,
                "run {run_no}: committed {now}, past what it printed ({position} + {})",
                got.len()
            );
            mark(position, now);
            position = now;
        }
        stop.store(true, Ordering::Relaxed);
        let total = writer.join().unwrap();
        // Catch up without --follow: exactly the rest, then the cursor is at the end.
        let r = run(&["tail", "--format", "jsonl", "--cursor", "k", s(&path)]);
        assert_eq!(r.code, 0, "{r:?}");
        assert_eq!(indexes(&r.stdout), range(position, total));
        mark(position, total);
        assert_eq!(committed(&path, "k"), Some(total));
        assert!(position > 0, "the killed runs committed nothing");
        assert_eq!(committed_by.len() as u64, total);
        let not_once = committed_by.iter().position(|&c| c != 1);
        assert_eq!(not_once, None, "an event committed other than exactly once");
        total
    });
    assert!(total > 0);
}
