//! An append-only, memory-mapped event journal.
#![deny(unsafe_op_in_unsafe_fn)]
