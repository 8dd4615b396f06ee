//! Test helpers shared by the library's and the CLI's integration tests (each includes this file
//! with `#[path]`): skipping a test for a missing prerequisite, waiting on a condition, child
//! processes killed on drop.
#![allow(dead_code)] // reason: each test binary uses its own subset of these helpers

use std::io::Write;
use std::ops::{Deref, DerefMut};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// No test waits longer than this for a condition that should hold almost at once.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Whether a test may skip for a missing prerequisite when CI runs it (`CI=true`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InCi {
    /// CI's machine has the prerequisite: missing there, it is a failure, not a skip.
    Required,
    /// A property of the host's kernel or network configuration that CI's machine may lack too:
    /// the test skips there as well, saying why.
    MaySkip,
}

/// Whether this run is CI's (`CI=true`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Reports that the calling test cannot run because `prerequisite` is missing (`why`), and returns
/// so that the test can return. The line goes straight to the process's stderr, past the test
/// harness's capture, so every run shows it. Under `CI=true` a [`InCi::Required`] prerequisite
/// fails the test instead.
#[track_caller]
pub fn skip(prerequisite: &str, why: impl std::fmt::Display, in_ci_: InCi) {
    let at = std::panic::Location::caller();
    if in_ci_ == InCi::Required && in_ci() {
        panic!("{prerequisite} is missing, and CI=true requires it: {why} ({at})");
    }
    let test = std::thread::current().name().unwrap_or("?").to_string();
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {prerequisite} is missing: {why} ({at})"
    );
}

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

    /// Waits up to [`PATIENCE`] for the exit (killed on drop past it): the exit status.
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
