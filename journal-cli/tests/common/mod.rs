//! Helpers shared by the CLI's integration test binaries (`cli.rs`, `capture.rs`): run the real
//! binary and check what it printed.
#![allow(dead_code)] // reason: each test binary uses its own subset of these helpers

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

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
