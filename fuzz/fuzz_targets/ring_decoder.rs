//! Arbitrary bytes as a ring file, and as the positions and data area of a valid ring: the consumer
//! refuses or reads cleanly, as spec/RING.md section 5 says, and never reads outside the data area.
//!
//! The body is shared with the corpus replay in `cargo test`: journal/tests/it/fuzz_harness.rs.
#![no_main]

#[allow(dead_code)]
#[path = "../../journal/tests/it/fuzz_harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::ring_bytes(data));
