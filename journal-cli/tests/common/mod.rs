//! Helpers shared by the CLI's integration test binaries: run the real binary and check what it
//! printed; follow a long-running one (killed on drop); wait on conditions; skip a test for a
//! missing prerequisite.
#![allow(dead_code)] // reason: each test binary uses its own subset of these helpers

use std::io::{BufRead, BufReader, Read, Write};
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

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

/// No test waits longer than this for the binary.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Polls `done` until it holds, panicking with `what` after [`PATIENCE`].
#[track_caller]
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "waited {PATIENCE:?} for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A child process that is killed (and reaped) when dropped, unless it was already waited for:
/// a failing test leaves no process behind.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl Deref for KillOnDrop {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl KillOnDrop {
    /// Sends `sig` (such as `-INT`) with kill(1).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.0.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }

    /// Waits up to [`PATIENCE`] for the exit (killing the child past it): the exit status.
    pub fn exit_code(&mut self) -> i32 {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the child did not exit");
            std::thread::sleep(Duration::from_millis(5));
        };
        status.code().expect("exited, not killed by a signal")
    }
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

/// Whether a test may skip for a missing prerequisite when CI runs it (`CI=true`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InCi {
    /// CI's machine has the prerequisite: missing there, it is a failure, not a skip.
    Required,
    /// A property of the host's kernel or network configuration that CI's machine may lack too:
    /// the test skips there as well, saying why.
    MaySkip,
}

/// Reports that the calling test cannot run because `prerequisite` is missing (`why`), and returns
/// so that the test can return. The line goes straight to the process's stderr, past the test
/// harness's capture, so every run shows it. Under `CI=true` a [`InCi::Required`] prerequisite
/// fails the test instead.
#[track_caller]
pub fn skip(prerequisite: &str, why: impl std::fmt::Display, in_ci: InCi) {
    let at = std::panic::Location::caller();
    if in_ci == InCi::Required && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{prerequisite} is missing, and CI=true requires it: {why} ({at})");
    }
    let test = std::thread::current().name().unwrap_or("?").to_string();
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {prerequisite} is missing: {why} ({at})"
    );
}

/// A running `journal tail -f` (or any long-running command), its stdout lines arriving on a
/// channel; killed on drop if the test fails before it exits.
pub struct Follower {
    child: KillOnDrop,
    lines: mpsc::Receiver<String>,
}

impl Follower {
    pub fn start(args: &[&str]) -> Follower {
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line.unwrap()).is_err() {
                    break;
                }
            }
        });
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
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
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
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the follower did not exit");
            std::thread::sleep(Duration::from_millis(5));
        };
        let err = reader.join().unwrap();
        let rest = self.lines.iter().collect();
        (status.code().expect("exited, not killed"), err, rest)
    }
}
