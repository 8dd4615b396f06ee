//! Arbitrary bytes as a ring header's positions and a sequence of producer writes and consumer
//! positions: the producer attaches only to possible positions, never overwrites unread data, and
//! reports an impossible consumer position as a corrupt ring (spec/RING.md 2, 4).
//!
//! The body is shared with the corpus replay in `cargo test`: journal/tests/it/fuzz_harness.rs.
#![no_main]

#[allow(dead_code)]
#[path = "../../journal/tests/it/fuzz_harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::ring_producer(data));
