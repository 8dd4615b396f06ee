//! The `journal` crate's integration tests, in one binary; shared helpers are in `support.rs`.
//!
//! Child processes for the process tests are this same binary re-run on an `#[ignore]`d entry point
//! (see `process.rs`).

mod alloc;
mod capture;
mod crash;
mod crash_set;
mod cross;
mod damage;
mod fuzz_corpus;
mod fuzz_harness;
mod hostile;
mod index;
mod mapping;
mod named_cursor;
mod pretouch;
mod process;
mod reader;
mod ring;
mod set_block;
mod set_read;
mod set_reliability;
mod set_vectors;
mod set_writer;
mod spec_impl;
mod support;
mod syncer;
mod tail_block;
mod vectors;
mod wait;
mod writer;

#[global_allocator]
static ALLOC: support::CountingAlloc = support::CountingAlloc;
