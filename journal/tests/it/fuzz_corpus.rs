//! Replays every committed fuzz input through the fuzz harness, so that each finding stays guarded
//! forever: `fuzz/corpus/<target>/` (the minimized corpus) and `fuzz/regressions/<target>/` (every
//! crash, timeout or out-of-memory input the fuzzers found). See fuzz/README.md.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use crate::fuzz_harness;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted; the directory must exist and hold some.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "{} holds no inputs: the replay would guard nothing",
        dir.display()
    );
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    let mut count = 0;
    for kind in ["corpus", "regressions"] {
        for file in inputs(kind, target) {
            let data = std::fs::read(&file).unwrap();
            if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
                let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
                panic!(
                    "{target}: {} fails the harness (panic above); input: {hex}",
                    file.display()
                );
            }
            count += 1;
        }
    }
    println!("{target}: {count} inputs replayed");
}

#[test]
fn journal_decoder_corpus_and_regressions_pass() {
    replay("journal_decoder", fuzz_harness::journal_bytes);
}

#[test]
fn ring_decoder_corpus_and_regressions_pass() {
    replay("ring_decoder", fuzz_harness::ring_bytes);
}

#[test]
fn model_corpus_and_regressions_pass() {
    replay("model", fuzz_harness::model);
}

#[test]
fn ring_producer_corpus_and_regressions_pass() {
    replay("ring_producer", fuzz_harness::ring_producer);
}
