//! The workload of the published mmap table (BENCHMARKS.md, "10,000 x 1 KiB"): 10,000 events of
//! 1 KiB, into a new file each time, by the journal and, in the same run, by the usual
//! alternatives: a `write()` per event, a `BufWriter`, a channel to a writer thread, and the raw
//! limit (a copy plus CRC-32 into a prefaulted buffer).
//!
//! Every file contender is timed from opening its new file to closing it (no fsync anywhere: the
//! journal runs with `SyncPolicy::Never`). The journal is also timed on appends alone, and its
//! create+close alone, to show where its time goes. The baselines write the payload only (no framing,
//! no checksum), as the table's alternatives do.
#![allow(missing_docs)] // reason: criterion_group!/criterion_main! generate undocumented items

use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use journal::{entry_len, Writer};
use journal_benches::{limit_store, payload, prefaulted, Scratch};

const EVENTS: u64 = 10_000;
const SIZE: usize = 1024;

/// Times `work(path)` on a new path `iters` times, removing the file after each (untimed).
fn per_file(scratch: &Scratch, iters: u64, mut work: impl FnMut(&Path) -> Duration) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let path = scratch.fresh("table");
        total += work(&path);
        let _ = std::fs::remove_file(&path);
    }
    total
}

fn table(c: &mut Criterion) {
    let scratch = Scratch::new("table");
    let data = payload(SIZE);
    let mut g = c.benchmark_group("table-10k-1KiB");
    g.throughput(Throughput::Elements(EVENTS));

    let slot = entry_len(SIZE as u32) as usize;
    let mut buf = prefaulted(slot * EVENTS as usize);
    g.bench_function("limit (memcpy+crc32)", |b| {
        b.iter(|| {
            for (i, out) in buf.chunks_exact_mut(slot).enumerate() {
                let d = black_box(&data[..]);
                limit_store(out, i as i64, d, crc32fast::hash(d));
            }
        })
    });

    g.bench_function("journal (create+append+close)", |b| {
        b.iter_custom(|iters| {
            per_file(&scratch, iters, |path| {
                let start = Instant::now();
                let mut w = Writer::create(path).expect("create");
                for i in 0..EVENTS {
                    w.append(i as i64, black_box(&data)).expect("append");
                }
                w.close().expect("close");
                start.elapsed()
            })
        })
    });

    g.bench_function("journal (append only)", |b| {
        b.iter_custom(|iters| {
            per_file(&scratch, iters, |path| {
                let mut w = Writer::create(path).expect("create");
                let start = Instant::now();
                for i in 0..EVENTS {
                    w.append(i as i64, black_box(&data)).expect("append");
                }
                let took = start.elapsed();
                w.close().expect("close");
                took
            })
        })
    });

    g.bench_function("journal (create+close only)", |b| {
        b.iter_custom(|iters| {
            per_file(&scratch, iters, |path| {
                let start = Instant::now();
                let w = Writer::create(path).expect("create");
                w.close().expect("close");
                start.elapsed()
            })
        })
    });

    g.bench_function("write() per event", |b| {
        b.iter_custom(|iters| {
            per_file(&scratch, iters, |path| {
                let start = Instant::now();
                let mut f = File::create(path).expect("create");
                for _ in 0..EVENTS {
                    f.write_all(black_box(&data)).expect("write");
                }
                drop(f);
                start.elapsed()
            })
        })
    });

    g.bench_function("BufWriter (64 KiB)", |b| {
        b.iter_custom(|iters| {
            per_file(&scratch, iters, |path| {
                let start = Instant::now();
                let mut f = BufWriter::with_capacity(64 << 10, File::create(path).expect("create"));
                for _ in 0..EVENTS {
                    f.write_all(black_box(&data)).expect("write");
                }
                f.into_inner().expect("flush");
                start.elapsed()
            })
        })
    });

    g.bench_function("channel to writer thread", |b| {
        b.iter_custom(|iters| {
            per_file(&scratch, iters, |path| {
                let start = Instant::now();
                let f = File::create(path).expect("create");
                let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(1024);
                let writer = std::thread::spawn(move || {
                    let mut f = BufWriter::with_capacity(64 << 10, f);
                    for event in rx {
                        f.write_all(&event).expect("write");
                    }
                    f.into_inner().expect("flush");
                });
                for _ in 0..EVENTS {
                    tx.send(black_box(&data).to_vec()).expect("send");
                }
                drop(tx);
                writer.join().expect("writer thread");
                start.elapsed()
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = journal_benches::criterion();
    targets = table
}
criterion_main!(benches);
