//! Arbitrary bytes as a journal's index file (spec/INDEX.md): decoding never panics and re-encodes
//! to the same bytes, loading it beside a fixed journal never panics, and once a full check accepts
//! it, seeks through it give exactly what a linear scan gives.
//!
//! The body is shared with the corpus replay in `cargo test`: journal/tests/it/index/harness.rs.
#![no_main]

#[allow(dead_code)]
#[path = "../../journal/tests/it/index/harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::index_bytes(data));
