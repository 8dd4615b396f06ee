//! Named cursors (spec/CURSOR.md) in use.
//!
//! - `cursor/commit`: `NamedCursor::commit`, one release store into the mapped cursor file (the
//!   target is a few nanoseconds; issue 12 allows a few tens).
//! - `cursor/read-commit`: a tailer's poll of one published event plus the commit after it, the
//!   per-event cost of a reader that commits every event.
//! - `cursor/sync`: `NamedCursor::sync` (`msync` of the cursor's page), for scale: a reader syncs
//!   every so often, never per event.
#![allow(missing_docs)] // reason: criterion_group!/criterion_main! generate undocumented items

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use journal::{Reader, Writer};
use journal_benches::{payload, Scratch};

fn cursor(c: &mut Criterion) {
    let scratch = Scratch::new("cursor");
    let path = scratch.fresh("cursor-journal");
    let mut w = Writer::create(&path).expect("create");
    let data = payload(64);
    let r = Reader::open(&path).expect("open reader");
    let cur = r.cursor("bench").expect("open cursor");
    let mut g = c.benchmark_group("cursor");
    g.throughput(Throughput::Elements(1));

    let mut next = 0u64;
    g.bench_function("commit", |b| {
        b.iter(|| {
            next += 1;
            cur.commit(black_box(next));
        })
    });

    let mut t = r.tail_from_end().expect("tailer");
    g.bench_function("read-commit", |b| {
        b.iter_custom(|iters| {
            // Published before the clock starts: the timed loop reads and commits only.
            for i in 0..iters {
                w.append(i as i64, &data).expect("append");
            }
            let start = std::time::Instant::now();
            for _ in 0..iters {
                let ev = t.poll().expect("poll").expect("an event");
                cur.commit(black_box(ev.index) + 1);
            }
            start.elapsed()
        })
    });

    g.bench_function("sync", |b| b.iter(|| cur.sync().expect("sync")));
    g.finish();
    drop(cur);
    drop(r);
    w.close().expect("close");
}

criterion_group! {
    name = benches;
    config = journal_benches::criterion();
    targets = cursor
}
criterion_main!(benches);
