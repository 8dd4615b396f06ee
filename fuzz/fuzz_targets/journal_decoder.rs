//! Arbitrary bytes as a journal file: open, verify, iterate, seek, tail and recover must agree with
//! an independent walk written from spec/FORMAT.md, and never panic.
//!
//! The body is shared with the corpus replay in `cargo test`: journal/tests/it/fuzz_harness.rs.
#![no_main]

#[allow(dead_code)]
#[path = "../../journal/tests/it/fuzz_harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::journal_bytes(data));
