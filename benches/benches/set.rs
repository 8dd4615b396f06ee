//! Journal sets (spec/SET.md): the cost of rolling.
//!
//! - `set-append`: copying append of 64 B and 1 KiB events into a set that rolls every 64 MiB
//!   (`set-64MiB`) against the same appends into one journal (`single-file`), default segment
//!   options, sync policy `never`. Both call `pretouch` once per MiB appended, inside the timed
//!   loop, so the set's `pretouch` (which also prepares the next segment ahead, SET.md 5.3) is paid
//!   for. Every 512 MiB the file or set is replaced, untimed. The goal: the set within 5 %
//!   of the single file. Both sides do the same syncs: the single journal syncs every 64 MiB for
//!   its index checkpoint (INDEX.md 9.3), the set syncs each sealed segment at its close for the
//!   same reason. `single-file-thread` and `set-64MiB-thread` are the same with the pretoucher
//!   thread on (`WriterOptions::pretouch_thread`): the journal's growth and periodic sync, and the
//!   set's growth, sealed-segment closes and next-segment preparation, then run off the appending
//!   thread on both sides.
//! - `set-latency`: the latency of each append (one `Instant` pair around it) over
//!   `JOURNAL_BENCH_SET_EVENTS` appends (default 4 million: several 64 MiB rolls at 64 B), in an
//!   HDR histogram: `single-file` (no roll), `set-prepared` (the next segment prepared ahead by
//!   `pretouch`, once per MiB) and `set-unprepared` (no `pretouch`: each roll creates its segment);
//!   `single-file-thread` and `set-thread` with the pretoucher thread on and no `pretouch` call
//!   (the set's own thread prepares the next segment).
//!   The percentiles go to the results file. The goal: p99.9 of `set-prepared` within 2x of
//!   `single-file`. Because a run holds only a few dozen rolls (one per 64 MiB), which the p99.9 of
//!   millions of appends cannot show, each set also reports the appends that rolled (their median
//!   and maximum) and the p99.9 and maximum of the 1,000 appends after each roll (the new
//!   segment's first pages).
#![allow(missing_docs)] // reason: criterion_group!/criterion_main! generate undocumented items

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hdrhistogram::Histogram;
use journal::set::RollPolicy;
use journal::{entry_len, SetWriter, SetWriterOptions, Writer, WriterOptions};
use journal_benches::{env_u64, payload, results, selected, Scratch, RING_SIZES};
use serde_json::json;

const ROLL: u64 = 64 << 20;
/// Bytes written into one file or set before it is replaced (untimed).
const CAP: u64 = 512 << 20;
const PRETOUCH_EVERY: u64 = 1 << 20;
/// How many appends after each roll the latency benchmark also reports on their own.
const AFTER_ROLL: u64 = 1_000;

/// One contender: a journal or a set, replaced when full.
#[allow(
    clippy::large_enum_variant,
    reason = "one value per benchmark, never moved in the timed loop"
)]
enum Target {
    Single(Writer),
    Set(SetWriter),
}

impl Target {
    #[inline]
    fn append(&mut self, ts: i64, data: &[u8]) {
        match self {
            Target::Single(w) => black_box(w.append(ts, data).expect("append")),
            Target::Set(w) => black_box(w.append(ts, data).expect("append")),
        };
    }

    /// The first index of the segment being written (a set's), to see a roll happen.
    #[inline]
    fn segment_first(&self) -> u64 {
        match self {
            Target::Single(_) => 0,
            Target::Set(w) => w.segment_first_index(),
        }
    }

    fn pretouch(&mut self) {
        match self {
            Target::Single(w) => w.pretouch().expect("pretouch"),
            Target::Set(w) => w.pretouch().expect("pretouch"),
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Single,
    Set,
}

/// A journal or a set that rolls every 64 MiB, with default options but for the pretoucher
/// thread (`thread`: the writer's own, and for a set each segment's and the set's own thread,
/// which closes sealed segments and prepares the next one).
fn make(kind: Kind, thread: bool, path: &std::path::Path) -> Target {
    let mut opts = WriterOptions::new();
    opts.pretouch_thread(thread);
    match kind {
        Kind::Single => Target::Single(opts.create(path).expect("create journal")),
        Kind::Set => Target::Set(
            SetWriterOptions::new()
                .segment_options(opts)
                .roll(RollPolicy::by_size(ROLL))
                .create(path)
                .expect("create set"),
        ),
    }
}

/// A target and how much went into it.
struct Rotating<'s> {
    scratch: &'s Scratch,
    kind: Kind,
    thread: bool,
    target: Option<(Target, PathBuf)>,
    written: u64,
    since_pretouch: u64,
    ts: i64,
}

impl Rotating<'_> {
    fn open(&mut self) {
        let path = self.scratch.fresh("set");
        let target = make(self.kind, self.thread, &path);
        self.target = Some((target, path));
        self.written = 0;
    }

    fn close(&mut self) {
        if let Some((t, path)) = self.target.take() {
            drop(t);
            let _ = std::fs::remove_dir_all(&path);
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(journal::index::index_path(&path));
        }
    }

    /// Appends `n` events of `data`, replacing the target (untimed) when it is full.
    fn run(&mut self, n: u64, data: &[u8]) -> Duration {
        let len = entry_len(data.len() as u32);
        let mut left = n;
        let mut total = Duration::ZERO;
        while left > 0 {
            if self.target.is_none() || self.written + len > CAP {
                self.close();
                self.open();
            }
            let room = ((CAP - self.written) / len).min(left);
            let (t, _) = self.target.as_mut().expect("opened");
            let start = Instant::now();
            for _ in 0..room {
                self.ts += 1;
                t.append(self.ts, data);
                self.since_pretouch += len;
                if self.since_pretouch >= PRETOUCH_EVERY {
                    self.since_pretouch = 0;
                    t.pretouch();
                }
            }
            total += start.elapsed();
            self.written += room * len;
            left -= room;
        }
        total
    }
}

fn append(c: &mut Criterion) {
    let scratch = Scratch::new("set-append");
    let mut g = c.benchmark_group("set-append");
    for size in RING_SIZES {
        let data = payload(size);
        g.throughput(Throughput::Bytes(size as u64));
        for (name, kind, thread) in [
            ("single-file", Kind::Single, false),
            ("set-64MiB", Kind::Set, false),
            ("single-file-thread", Kind::Single, true),
            ("set-64MiB-thread", Kind::Set, true),
        ] {
            let mut r = Rotating {
                scratch: &scratch,
                kind,
                thread,
                target: None,
                written: 0,
                since_pretouch: 0,
                ts: 0,
            };
            // Opened by the first run (untimed), so a contender the filter leaves out opens nothing.
            g.bench_function(BenchmarkId::new(name, size), |b| {
                b.iter_custom(|iters| r.run(iters, &data))
            });
            r.close();
        }
    }
    g.finish();
}

fn latency(_c: &mut Criterion) {
    let events = env_u64("JOURNAL_BENCH_SET_EVENTS", 4_000_000);
    let scratch = Scratch::new("set-latency");
    for size in RING_SIZES {
        let data = payload(size);
        let len = entry_len(size as u32);
        for (name, kind, thread, prepared) in [
            ("single-file", Kind::Single, false, true),
            ("set-prepared", Kind::Set, false, true),
            ("set-unprepared", Kind::Set, false, false),
            ("single-file-thread", Kind::Single, true, false),
            ("set-thread", Kind::Set, true, false),
        ] {
            let id = format!("{name}/{size}");
            if !selected(&format!("set-latency/{id}")) {
                continue;
            }
            let path = scratch.fresh("lat");
            let mut t = make(kind, thread, &path);
            let mut h: Histogram<u64> =
                Histogram::new_with_bounds(1, 10_000_000_000, 3).expect("histogram bounds");
            // The appends that rolled, and the AFTER_ROLL appends after each roll.
            let mut roll_h = h.clone();
            let mut after_h = h.clone();
            let mut after_left = 0u64;
            let mut since = 0u64;
            for i in 0..events {
                let segment = t.segment_first();
                let start = Instant::now();
                t.append(i as i64, &data);
                let ns = start.elapsed().as_nanos() as u64;
                h.saturating_record(ns);
                if t.segment_first() != segment {
                    roll_h.saturating_record(ns);
                    after_left = AFTER_ROLL;
                } else if after_left > 0 {
                    after_h.saturating_record(ns);
                    after_left -= 1;
                }
                since += len;
                if prepared && since >= PRETOUCH_EVERY {
                    since = 0;
                    t.pretouch();
                }
            }
            let rolls = match &t {
                Target::Set(w) => {
                    journal::set::list_segments(w.path()).map_or(0, |s| s.len() as u64 - 1)
                }
                Target::Single(_) => 0,
            };
            drop(t);
            let _ = std::fs::remove_dir_all(&path);
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(journal::index::index_path(&path));
            let q = |p: f64| h.value_at_quantile(p) as f64;
            println!(
                "set-latency/{id}: p50 {:.0} ns, p99 {:.0} ns, p99.9 {:.0} ns, max {:.0} ns ({} appends, {rolls} rolls)",
                q(0.5),
                q(0.99),
                q(0.999),
                h.max() as f64,
                h.len()
            );
            if !roll_h.is_empty() {
                println!(
                    "set-latency/{id}: the {} appends that rolled: p50 {} ns, max {} ns; the {AFTER_ROLL} appends after each roll: p99.9 {} ns, max {} ns",
                    roll_h.len(),
                    roll_h.value_at_quantile(0.5),
                    roll_h.max(),
                    after_h.value_at_quantile(0.999),
                    after_h.max()
                );
            }
            results::record(
                "set-latency",
                &id,
                json!({
                    "count": h.len(),
                    "rolls": rolls,
                    "p50_ns": q(0.5),
                    "p99_ns": q(0.99),
                    "p999_ns": q(0.999),
                    "max_ns": h.max() as f64,
                    "roll_appends": roll_h.len(),
                    "roll_p50_ns": roll_h.value_at_quantile(0.5),
                    "roll_max_ns": roll_h.max(),
                    "after_roll_p999_ns": after_h.value_at_quantile(0.999),
                    "after_roll_max_ns": after_h.max(),
                }),
            );
        }
    }
}

criterion_group! {
    name = benches;
    config = journal_benches::criterion();
    targets = append, latency
}
criterion_main!(benches);
