//! Tests with real child processes: SIGKILLed writers, a live reader in another process, the lock
//! across processes.
//!
//! A child is this test binary re-run on [`child_entry`] (an `#[ignore]`d test) with the role in
//! `JOURNAL_IT_CHILD` and the journal's path in `JOURNAL_IT_PATH`. Children talk to the parent in
//! lines on stdout (`PUB i`, `GOT i`, ...); the test harness's own lines are ignored.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use journal::{Error, Reader, WaitStrategy, Writer, WriterOptions};

use crate::support::{mix, payload_for, timestamp_for, KillOnDrop, TempDir};

const MAX_PAYLOAD_LEN: usize = 600;

/// Starts a child in `role`; it is killed if the test ends (or fails) without waiting for it.
pub(crate) fn child(role: &str, path: &Path) -> KillOnDrop {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "process::child_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("JOURNAL_IT_CHILD", role)
        .env("JOURNAL_IT_PATH", path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    KillOnDrop(child)
}

/// Lines from a child's stdout that carry our protocol, delivered through a channel.
pub(crate) fn lines(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // The harness prints "test process::child_entry ... " without a newline, so the first
            // protocol line may follow it on the same line.
            let at = ["PUB ", "GOT ", "RES "]
                .iter()
                .filter_map(|m| line.find(m))
                .min();
            if let Some(at) = at {
                if tx.send(line[at..].to_string()).is_err() {
                    break;
                }
            }
        }
    });
    rx
}

pub(crate) fn say(out: &mut impl Write, line: String) {
    out.write_all(line.as_bytes()).unwrap();
    out.write_all(b"\n").unwrap();
    out.flush().unwrap();
}

/// The entry point of every child process (run by the parent tests only).
#[test]
#[ignore = "child process entry point for the process tests; run by them, not by hand"]
fn child_entry() {
    let role = std::env::var("JOURNAL_IT_CHILD").expect("JOURNAL_IT_CHILD");
    let path = std::path::PathBuf::from(std::env::var("JOURNAL_IT_PATH").expect("JOURNAL_IT_PATH"));
    let mut out = std::io::stdout().lock();
    match role.as_str() {
        // Append forever, reporting each event once its append returned (it is published).
        "writer" => {
            let mut w = WriterOptions::new()
                .chunk_size(64 << 10)
                .open_or_create(&path)
                .unwrap();
            for i in w.events().. {
                w.append(timestamp_for(i), &payload_for(i, MAX_PAYLOAD_LEN))
                    .unwrap();
                say(&mut out, format!("PUB {i}"));
            }
        }
        // As "writer", keeping the index with small intervals and syncing every 4 KiB, so that
        // the index's checkpoint moves while it runs (INDEX.md 9.3).
        "index-writer" => {
            let mut w = WriterOptions::new()
                .chunk_size(64 << 10)
                .sync_policy(journal::SyncPolicy::EveryBytes(4096))
                .index_intervals(journal::index::Intervals {
                    bytes: 256,
                    events: 8,
                })
                .open_or_create(&path)
                .unwrap();
            for i in w.events().. {
                w.append(timestamp_for(i), &payload_for(i, MAX_PAYLOAD_LEN))
                    .unwrap();
                say(&mut out, format!("PUB {i}"));
            }
        }
        // Follow the journal live and check every event; stop after the count on stdin.
        "tailer" => {
            let total: u64 = crate::support::count_from_stdin();
            let r = Reader::open(&path).unwrap();
            let mut t = r.tail();
            let deadline = Instant::now() + Duration::from_secs(60);
            while t.index() < total {
                let e = t
                    .wait(WaitStrategy::default(), Some(deadline))
                    .unwrap()
                    .expect("timed out");
                assert_eq!(e.timestamp, timestamp_for(e.index));
                assert_eq!(e.payload, &payload_for(e.index, MAX_PAYLOAD_LEN)[..]);
                say(&mut out, format!("GOT {}", e.index));
            }
        }
        // Try to open for append and say what happened.
        "lock" => {
            let res = match Writer::open(&path) {
                Ok(_) => "opened".to_string(),
                Err(Error::Locked { .. }) => "locked".to_string(),
                Err(e) => format!("error {e}"),
            };
            say(&mut out, format!("RES {res}"));
        }
        other => crate::ring::child_role(other, &path, &mut out),
    }
}

/// Checks the journal after a kill: intact, and holding every reported event exactly.
fn check_after_kill(path: &Path, reported: u64, checked_up_to: &mut u64) -> u64 {
    if !path.exists() {
        assert_eq!(reported, 0, "events reported but no journal");
        return 0;
    }
    let len = std::fs::metadata(path).unwrap().len();
    if len == 0 {
        assert_eq!(reported, 0);
        return 0;
    }
    let r = Reader::open(path).unwrap();
    let rep = r.verify().unwrap();
    assert!(
        rep.is_intact(),
        "after a kill the journal shows damage: {rep:?}"
    );
    assert!(
        rep.events >= reported,
        "{} events reported published, {} in the journal",
        reported,
        rep.events
    );
    for e in r.iter_from_index(*checked_up_to).unwrap() {
        let e = e.unwrap();
        assert_eq!(e.timestamp, timestamp_for(e.index), "event {}", e.index);
        assert_eq!(
            e.payload,
            &payload_for(e.index, MAX_PAYLOAD_LEN)[..],
            "event {}",
            e.index
        );
    }
    *checked_up_to = rep.events;
    rep.events
}

#[test]
fn sigkilled_writer_loses_no_published_event() {
    let kills = crate::support::env_count("JOURNAL_KILLS", 200);
    let dir = TempDir::new("kill");
    let path = dir.join("j");
    let mut checked = 0;
    let mut seed = 0x5EED_u64 ^ std::process::id() as u64;
    let mut max_reported = 0u64;
    for round in 0..kills {
        let mut c = child("writer", &path);
        let rx = lines(c.stdout.take().unwrap());
        seed = mix(seed);
        // Kill at a random moment: from before the child has started to well into its appends.
        std::thread::sleep(Duration::from_micros(seed % 25_000));
        c.kill().unwrap();
        c.wait().unwrap();
        let reported = rx
            .iter()
            .map(|l| l[4..].parse::<u64>().unwrap() + 1)
            .max()
            .unwrap_or(0)
            .max(max_reported);
        max_reported = reported;
        let present = check_after_kill(&path, reported, &mut checked);
        assert!(present >= reported, "round {round}");
    }
    eprintln!("kill test: {kills} kills, {max_reported} events reported published");
    assert!(
        max_reported > 0,
        "no child ever got to append; the test proved nothing"
    );
    // The journal is still appendable after all the kills.
    let mut w = WriterOptions::new().open_or_create(&path).unwrap();
    let n = w.events();
    w.append(timestamp_for(n), &payload_for(n, MAX_PAYLOAD_LEN))
        .unwrap();
    w.close().unwrap();
    check_after_kill(&path, n + 1, &mut checked);
}

#[test]
fn reader_process_sees_appends_live() {
    let dir = TempDir::new("live");
    let path = dir.join("j");
    let mut w = WriterOptions::new()
        .chunk_size(64 << 10)
        .create(&path)
        .unwrap();
    let total = 3_000u64;
    let mut c = child("tailer", &path);
    let rx = lines(c.stdout.take().unwrap());
    say(c.stdin.as_mut().unwrap(), total.to_string());
    // Append in batches and wait, with the writer still open, until the other process has seen
    // each batch: it can only do so by following the live writer.
    for batch in 0..total / 100 {
        for i in batch * 100..(batch + 1) * 100 {
            w.append(timestamp_for(i), &payload_for(i, MAX_PAYLOAD_LEN))
                .unwrap();
        }
        let last = (batch + 1) * 100 - 1;
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("reader process fell silent");
            if line == format!("GOT {last}") {
                break;
            }
        }
    }
    assert!(c.wait().unwrap().success());
    w.close().unwrap();
}

#[test]
fn writer_lock_holds_across_processes() {
    let dir = TempDir::new("xlock");
    let path = dir.join("j");
    let ask = |path: &Path| {
        let mut c = child("lock", path);
        let rx = lines(c.stdout.take().unwrap());
        let res = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        assert!(c.wait().unwrap().success());
        res
    };
    let w = Writer::create(&path).unwrap();
    assert_eq!(ask(&path), "RES locked");
    drop(w);
    assert_eq!(ask(&path), "RES opened");
}
