//! The reading commands against files that are not journals or stop being the journal they were:
//! a named pipe, a missing file, a journal rewritten in place while `tail -f` follows it. Every
//! case runs the real binary with a deadline, so a hang fails the test instead of stalling it.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use journal::Writer;
use tempfile::TempDir;

mod common;
use common::{assert_error, s, Follower, Run, BIN};

/// 2023-11-14T22:13:20Z (FORMAT.md 12).
const T0: i64 = 1_700_000_000_000_000_000;

/// Generous: a hang is minutes, a slow machine is seconds.
const DEADLINE: Duration = Duration::from_secs(30);

/// A closed journal holding `events`, created at `start`.
fn make(dir: &TempDir, name: &str, start: i64, events: &[(i64, &[u8])]) -> PathBuf {
    let path = dir.path().join(name);
    let mut w = Writer::options()
        .chunk_size(4096)
        .start_timestamp(start)
        .create(&path)
        .unwrap();
    for (ts, payload) in events {
        w.append(*ts, payload).unwrap();
    }
    w.close().unwrap();
    path
}

/// Waits for `child` to exit, killing it (and failing) if it is still running at the deadline.
fn finish(mut child: Child, what: &str) -> Run {
    let deadline = Instant::now() + DEADLINE;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`journal {what}` still running after {DEADLINE:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap().into()
}

/// Runs the binary with `args` and a deadline.
fn run_bounded(args: &[&str]) -> Run {
    let child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(child, &args.join(" "))
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

#[test]
fn reading_commands_refuse_a_named_pipe_instead_of_hanging() {
    let dir = TempDir::new().unwrap();
    let fifo = dir.path().join("pipe.journal");
    mkfifo(&fifo);
    let f = s(&fifo);
    for args in [
        vec!["info", f],
        vec!["info", "--json", f],
        vec!["verify", f],
        vec!["verify", "--json", f],
        vec!["dump", f],
        vec!["tail", f],
        vec!["tail", "-f", f],
        vec!["repair", "--dry-run", f],
    ] {
        let r = run_bounded(&args);
        assert_error(&r, 2, "not a journal: not a regular file (a FIFO)");
        assert!(r.stderr.contains(f), "{r:?}");
    }
}

#[test]
fn an_io_error_names_its_cause_exactly_once() {
    let dir = TempDir::new().unwrap();
    let missing = dir.path().join("missing.journal");
    for cmd in ["info", "verify", "dump", "tail"] {
        let r = run_bounded(&[cmd, s(&missing)]);
        assert_error(
            &r,
            2,
            "missing.journal: open failed: No such file or directory",
        );
        assert_eq!(
            r.stderr.matches("No such file or directory").count(),
            1,
            "{r:?}"
        );
    }
}

#[test]
fn tail_follow_stops_when_the_file_is_rewritten_in_place_with_another_journal() {
    let dir = TempDir::new().unwrap();
    let path = make(&dir, "f", T0, &[(T0, b"a\n")]);
    // Another journal, started later, with more content than the followed one: its entries lie
    // past the follower's position, so reading on would print them as if they followed "a".
    let other = make(
        &dir,
        "other",
        T0 + 1_000_000_000,
        &[(T0 + 5, b"b\n"), (T0 + 6, b"c\n"), (T0 + 7, b"d\n")],
    );
    let bytes = std::fs::read(&other).unwrap();
    let tail = Follower::start(&["tail", "-f", "--format", "raw", s(&path)]);
    assert_eq!(tail.line(), "a");
    // Same inode, new content written over the old (never shorter than the old, so that only
    // the content tells the two apart).
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all_at(&bytes, 0).unwrap();
    drop(f);
    let (code, err, rest) = tail.finish_with_rest();
    assert_eq!(
        rest,
        Vec::<String>::new(),
        "printed the other journal's events"
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.starts_with("journal: error: "), "{err}");
    assert!(err.ends_with('\n') && err.lines().count() == 1, "{err}");
    assert!(
        err.contains(&format!("{}: replaced under the reader", s(&path))),
        "{err}"
    );
}
