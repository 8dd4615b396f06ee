//! Helpers shared by the CLI's integration test binaries: run the real binary and check what it
//! printed; follow a long-running one (killed on drop); wait on conditions; skip a test for a
//! missing prerequisite.
#![allow(dead_code)] // reason: each test binary uses its own subset of these helpers

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;

use serde_json::Value;

#[path = "../../../journal/tests/helpers/mod.rs"]
mod helpers;
#[allow(unused_imports)] // reason: each test binary uses its own subset of these helpers
pub use helpers::{in_ci, skip, wait_for, InCi, KillOnDrop, PATIENCE};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_journal");

/// What a run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().expect("exited, not killed by a signal"),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Runs the binary with `args`, feeding `stdin`.
pub fn run_with(args: &[&str], stdin: &[u8]) -> Run {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        // The binary may stop reading early (a malformed line): ignore the broken pipe.
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    out.into()
}

/// Starts the binary with `args`, empty stdin, and stdout and stderr piped.
pub fn spawn(args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A closed journal `dir/name` created at `start` (4 KiB chunks), holding `events`.
pub fn make_journal(dir: &Path, name: &str, start: i64, events: &[(i64, &[u8])]) -> PathBuf {
    let path = dir.join(name);
    let mut w = journal::Writer::options()
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

/// Runs the binary with `args` and empty stdin.
pub fn run(args: &[&str]) -> Run {
    run_with(args, b"")
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

pub fn json(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
}

/// Asserts a failure: the status, nothing on stdout, one `journal: error:` line containing `needle`.
#[track_caller]
pub fn assert_error(r: &Run, code: i32, needle: &str) {
    assert_eq!(r.code, code, "{r:?}");
    assert_eq!(r.stdout, "", "{r:?}");
    assert!(r.stderr.starts_with("journal: error: "), "{r:?}");
    assert!(
        r.stderr.ends_with('\n') && r.stderr.lines().count() == 1,
        "{r:?}"
    );
    assert!(r.stderr.contains(needle), "expected {needle:?} in {r:?}");
}

/// The lines of `from` (a child's stdout or stderr), delivered through a channel by a thread.
pub fn lines(from: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A running `journal tail -f` (or any long-running command), its stdout lines arriving on a
/// channel; killed on drop if the test fails before it exits.
pub struct Follower {
    child: KillOnDrop,
    lines: mpsc::Receiver<String>,
}

impl Follower {
    pub fn start(args: &[&str]) -> Follower {
        let mut child = spawn(args);
        let lines = lines(child.stdout.take().unwrap());
        Follower {
            child: KillOnDrop(child),
            lines,
        }
    }

    /// The next stdout line, waiting at most [`PATIENCE`].
    #[track_caller]
    pub fn line(&self) -> String {
        self.lines
            .recv_timeout(PATIENCE)
            .expect("a line from the follower")
    }

    /// Sends a signal (`-TERM`, `-INT`) with kill(1).
    pub fn signal(&self, sig: &str) {
        self.child.signal(sig);
    }

    /// Waits (at most [`PATIENCE`]) for the exit: status and stderr.
    pub fn finish(self) -> (i32, String) {
        let (code, err, _) = self.finish_with_rest();
        (code, err)
    }

    /// Waits (at most [`PATIENCE`]) for the exit: status, stderr, and the stdout lines not yet
    /// read.
    pub fn finish_with_rest(mut self) -> (i32, String, Vec<String>) {
        let stderr = self.child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut err = String::new();
            BufReader::new(stderr).read_to_string(&mut err).unwrap();
            err
        });
        let code = self.child.exit_code();
        let err = reader.join().unwrap();
        let rest = self.lines.iter().collect();
        (code, err, rest)
    }
}
