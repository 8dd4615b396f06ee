//! Append benchmarks.
#![allow(missing_docs)] // reason: criterion_group!/criterion_main! generate undocumented public items
use criterion::{criterion_group, criterion_main, Criterion};

fn append(_c: &mut Criterion) {}

criterion_group!(benches, append);
criterion_main!(benches);
