//! The sparse index (spec/INDEX.md) in use.
//!
//! - `index-seek`: `Reader::iter_from_index` and `Reader::iter_from_time` to random targets,
//!   warm (the reader and its index loaded, the journal in the page cache), in journals of 64 B and
//!   1 KiB events of each size in `JOURNAL_INDEX_BENCH_SIZES` (default `256M,1G,8G`; suffixes
//!   K, M, G). The files go to `TMPDIR` (an 8 GiB journal needs 8 GiB free) and are removed after.
//! - `index-open`: `Writer::open` (and the close of the writer) of the largest 1 KiB journal after
//!   a clean close (the index covers everything: O(1)), and `Writer::open` after an abandoned writer (the `test-hooks` feature's stand-in
//!   for a killed one) that appended `B` bytes past the index's checkpoint, for `B` in 0, 1 MiB and
//!   64 MiB: the open walks those bytes, cuts the preallocated tail and moves the checkpoint.
#![allow(missing_docs)] // reason: criterion_group!/criterion_main! generate undocumented items

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use journal::{entry_len, index, Reader, Writer};
use journal_benches::{payload, results, Scratch};
use serde_json::json;

/// The journal sizes, from `JOURNAL_INDEX_BENCH_SIZES`.
fn sizes() -> Vec<u64> {
    let spec = std::env::var("JOURNAL_INDEX_BENCH_SIZES").unwrap_or_else(|_| "256M,1G,8G".into());
    spec.split(',')
        .filter_map(|s| {
            let s = s.trim();
            let (digits, shift) = match s.chars().last()? {
                'K' | 'k' => (&s[..s.len() - 1], 10),
                'M' | 'm' => (&s[..s.len() - 1], 20),
                'G' | 'g' => (&s[..s.len() - 1], 30),
                _ => (s, 0),
            };
            digits.parse::<u64>().ok().map(|n| n << shift)
        })
        .collect()
}

fn label(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{}GiB", b >> 30),
        b if b >= 1 << 20 => format!("{}MiB", b >> 20),
        b => format!("{}KiB", b >> 10),
    }
}

/// A journal of `bytes` of events of `size` bytes, timestamps `0, 1, 2, ...`, closed cleanly by a
/// writer that keeps the index.
fn write_journal(path: &Path, size: usize, bytes: u64) -> u64 {
    let data = payload(size);
    let events = bytes / entry_len(size as u32);
    let mut w = Writer::options()
        .chunk_size(64 << 20)
        .create(path)
        .expect("create journal");
    for i in 0..events {
        w.append(i as i64, &data).expect("append");
    }
    w.close().expect("close");
    events
}

/// A cheap deterministic sequence of targets.
fn targets(events: u64, count: usize) -> Vec<u64> {
    let mut x = 0x9E37_79B9_7F4A_7C15_u64;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % events.max(1)
        })
        .collect()
}

fn seek(c: &mut Criterion) {
    let scratch = Scratch::new("index");
    let mut largest: Option<(PathBuf, u64)> = None;
    let mut g = c.benchmark_group("index-seek");
    for bytes in sizes() {
        for size in [64usize, 1024] {
            let path = scratch.fresh("index-journal");
            let events = write_journal(&path, size, bytes);
            let r = Reader::open(&path).expect("open");
            let idx = index::Index::load(&r).expect("the writer kept the index");
            results::record(
                "index-seek",
                &format!("{}-{size}", label(bytes)),
                json!({ "bytes": bytes, "events": events, "payload": size,
                        "records": idx.records().len() }),
            );
            let ts = targets(events, 4096);
            let id = format!("{}/{size}B", label(bytes));
            let mut k = 0usize;
            g.bench_function(BenchmarkId::new("by-index", &id), |b| {
                b.iter(|| {
                    k = (k + 1) % ts.len();
                    let it = r.iter_from_index(black_box(ts[k])).expect("seek");
                    black_box(it.offset())
                })
            });
            g.bench_function(BenchmarkId::new("by-time", &id), |b| {
                b.iter(|| {
                    k = (k + 1) % ts.len();
                    let it = r.iter_from_time(black_box(ts[k] as i64)).expect("seek");
                    black_box(it.offset())
                })
            });
            drop(r);
            if size == 1024 {
                if let Some((old, _)) = largest.take() {
                    remove(&old);
                }
                largest = Some((path, events));
            } else {
                remove(&path);
            }
        }
    }
    g.finish();

    let Some((path, _)) = largest else { return };
    let mut g = c.benchmark_group("index-open");
    // Open and close: a writer holds the journal's lock until it is dropped, so each open must
    // drop the previous one (the close of a cleanly closed journal writes nothing).
    g.bench_function(BenchmarkId::new("clean-close", label(len(&path))), |b| {
        b.iter(|| drop(Writer::open(&path).expect("open")))
    });
    for since in [0u64, 1 << 20, 64 << 20] {
        // The state an abandoned writer leaves: `since` bytes past the checkpoint and a
        // preallocated tail. Kept aside (the index file and the length) and restored before each
        // open, which repairs it.
        let data = payload(1024);
        let mut w = Writer::open(&path).expect("open");
        let cp = w.index_checkpoint().expect("index").offset;
        let saved = std::fs::read(index::index_path(&path)).expect("read index");
        while w.write_offset() - cp < since {
            w.append(w.events() as i64, &data).expect("append");
        }
        w.abandon();
        let file_len = len(&path);
        let restore = || {
            std::fs::write(index::index_path(&path), &saved).expect("restore index");
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(file_len))
                .expect("restore length");
        };
        g.bench_function(
            BenchmarkId::new(
                "after-abandon",
                if since == 0 {
                    "0B".to_string()
                } else {
                    label(since)
                },
            ),
            |b| {
                b.iter_batched(
                    restore,
                    |()| Writer::open(&path).expect("open"),
                    BatchSize::PerIteration,
                )
            },
        );
    }
    g.finish();
    remove(&path);
}

fn len(path: &Path) -> u64 {
    std::fs::metadata(path).expect("stat").len()
}

fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(index::index_path(path));
}

criterion_group! {
    name = benches;
    config = journal_benches::criterion();
    targets = seek
}
criterion_main!(benches);
