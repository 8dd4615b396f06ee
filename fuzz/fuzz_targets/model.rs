//! Arbitrary bytes as writer operations, crashes, truncations and bit flips, checked against an
//! in-memory model of the events.
//!
//! The body is shared with the corpus replay in `cargo test`: journal/tests/it/fuzz_harness.rs.
#![no_main]

#[allow(dead_code)]
#[path = "../../journal/tests/it/fuzz_harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::model(data));
