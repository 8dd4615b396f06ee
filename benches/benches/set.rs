//! Journal sets (spec/SET.md): the cost of rolling.
//!
//! - `set-append`: copying append of 64 B and 1 KiB events into a set that rolls every 64 MiB
//!   (`set-64MiB`) against the same appends into one journal (`single-file`), default segment
//!   options, sync policy `never`. Both call `pretouch` once per MiB appended, inside the timed
//!   loop, so the set's `pretouch` (which also prepares the next segment ahead, SET.md 5.3, and
//!   closes the sealed one) is paid for. One iteration is one roll period: the events that fill
//!   one segment (838,860 of 64 B, 64,527 of 1 KiB), so that every sample holds whole periods, each
//!   with one roll of the set and one periodic sync of the single file; sampling is flat (the same
//!   number of periods in every sample) over 5 s. After eight periods (512 MiB) the file or set is
//!   closed, removed and replaced by a fresh one, untimed, on both sides. Both sides do the same
//!   syncs: the single journal syncs every 64 MiB for its index checkpoint (INDEX.md 9.3), the set
//!   syncs each sealed segment at its close for the same reason. `single-file-thread` and
//!   `set-64MiB-thread` are the same with the pretoucher thread on
//!   (`WriterOptions::pretouch_thread`): the journal's growth and periodic sync, and the set's
//!   growth, sealed-segment closes and next-segment preparation, then run off the appending thread
//!   on both sides. Criterion reports the time of one period; divide by the events above (its
//!   throughput line is in events per second).
//! - `set-append-ab`: the same contenders, but the single file and the set alternate, one fresh
//!   512 MiB (eight roll periods) run at a time, `JOURNAL_BENCH_SET_ROUNDS` runs each (default 7)
//!   in the order AB BA AB ..., so that a change in the machine's load hits both alike. For each
//!   it prints, per append, the median and range of the wall time, of the part of it spent in
//!   `pretouch`, of the appending thread's CPU time and of the process's CPU time (all threads,
//!   the pretoucher and set threads included; not the kernel's write-back), and the median of the
//!   paired ratios set / single file (runs of the same round). CPU time does not count waiting for
//!   the disk or for a core, which on a shared machine is most of the noise.
//! - `set-latency`: the latency of each append (one `Instant` pair around it) over
//!   `JOURNAL_BENCH_SET_EVENTS` appends (default 4 million: several 64 MiB rolls at 64 B), in an
//!   HDR histogram: `single-file` (no roll), `set-prepared` (the next segment prepared ahead by
//!   `pretouch`, once per MiB) and `set-unprepared` (no `pretouch`: each roll creates its segment);
//!   `single-file-thread` and `set-thread` with the pretoucher thread on and no `pretouch` call
//!   (the set's own threads prepare the next segment and close the sealed ones).
//!   The percentiles go to the results file. The goal: p99.9 of `set-prepared` within 2x of
//!   `single-file`. Because a run holds only a few dozen rolls (one per 64 MiB), which the p99.9 of
//!   millions of appends cannot show, each set also reports the appends that rolled (their median
//!   and maximum) and the p99.9 and maximum of the 1,000 appends after each roll (the new
//!   segment's first pages).
#![allow(missing_docs)] // reason: criterion_group!/criterion_main! generate undocumented items

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
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
/// thread (`thread`: the writer's own, and for a set each segment's and the set's own two, which
/// prepare the next segment and close sealed ones).
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

    /// Appends `periods` roll periods of `data` (each the events of one whole segment, see
    /// [`per_period`]), replacing the target (untimed) after [`CAP`] / [`ROLL`] of them.
    fn run(&mut self, periods: u64, data: &[u8]) -> Duration {
        let len = entry_len(data.len() as u32);
        let n = per_period(len);
        let mut total = Duration::ZERO;
        for _ in 0..periods {
            if self.target.is_none() || self.written + ROLL > CAP {
                self.close();
                self.open();
            }
            let (t, _) = self.target.as_mut().expect("opened");
            let start = Instant::now();
            for _ in 0..n {
                self.ts += 1;
                t.append(self.ts, data);
                self.since_pretouch += len;
                if self.since_pretouch >= PRETOUCH_EVERY {
                    self.since_pretouch = 0;
                    t.pretouch();
                }
            }
            total += start.elapsed();
            self.written += ROLL;
        }
        total
    }
}

/// The events of `len` bytes that fill one segment of the set: one roll period.
fn per_period(len: u64) -> u64 {
    (ROLL - journal::HEADER_LEN) / len
}

fn append(c: &mut Criterion) {
    let scratch = Scratch::new("set-append");
    let mut g = c.benchmark_group("set-append");
    // One iteration is a roll period, about 0.1 s: the same number of iterations in every sample,
    // and 5 s so that each sample holds several of them.
    g.sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(5));
    for size in RING_SIZES {
        let data = payload(size);
        g.throughput(Throughput::Elements(per_period(entry_len(size as u32))));
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

/// CPU time so far of the calling thread and of the whole process (all its threads), in ns.
fn cpu_ns() -> (u64, u64) {
    let read = |clock: libc::clockid_t| {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `t` is a valid, writable timespec; both clocks exist on Linux.
        let rc = unsafe { libc::clock_gettime(clock, &mut t) };
        assert_eq!(rc, 0, "clock_gettime");
        t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
    };
    (
        read(libc::CLOCK_THREAD_CPUTIME_ID),
        read(libc::CLOCK_PROCESS_CPUTIME_ID),
    )
}

/// One run of `set-append-ab`, in ns per append.
#[derive(Clone, Copy, Default)]
struct AbRun {
    wall: f64,
    /// Of it, inside `pretouch` (the set's roll work without the pretouch thread).
    pretouch: f64,
    thread_cpu: f64,
    process_cpu: f64,
}

/// A fresh file or set (made untimed), [`CAP`] bytes of appends into it with `pretouch` once per
/// MiB (timed), closed and removed (untimed).
fn ab_run(scratch: &Scratch, kind: Kind, thread: bool, data: &[u8]) -> AbRun {
    let path = scratch.fresh("ab");
    let mut t = make(kind, thread, &path);
    let len = entry_len(data.len() as u32);
    let n = CAP / len;
    let mut since = 0u64;
    let mut in_pretouch = Duration::ZERO;
    let (thread0, process0) = cpu_ns();
    let start = Instant::now();
    for i in 0..n {
        t.append(i as i64, data);
        since += len;
        if since >= PRETOUCH_EVERY {
            since = 0;
            let p = Instant::now();
            t.pretouch();
            in_pretouch += p.elapsed();
        }
    }
    let wall = start.elapsed();
    let (thread1, process1) = cpu_ns();
    drop(t);
    let _ = std::fs::remove_dir_all(&path);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(journal::index::index_path(&path));
    let per = |ns: f64| ns / n as f64;
    AbRun {
        wall: per(wall.as_nanos() as f64),
        pretouch: per(in_pretouch.as_nanos() as f64),
        thread_cpu: per((thread1 - thread0) as f64),
        process_cpu: per((process1 - process0) as f64),
    }
}

/// A quantity of [`AbRun`], by name.
type AbField = (&'static str, fn(&AbRun) -> f64);

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// `set-append-ab`: the single file and the set run alternately, [`CAP`] bytes (eight rolls) per
/// run, `JOURNAL_BENCH_SET_ROUNDS` runs each (default 7), in the order AB BA AB ...; reports the
/// median and range of each side's wall time, time in `pretouch`, appending-thread CPU time and
/// process CPU time per append, and the median of the paired ratios (set / single file, same
/// round).
fn append_ab(_c: &mut Criterion) {
    let rounds = env_u64("JOURNAL_BENCH_SET_ROUNDS", 7).max(1);
    let scratch = Scratch::new("set-append-ab");
    for size in RING_SIZES {
        let data = payload(size);
        for (thread, names) in [
            (false, ["single-file", "set-64MiB"]),
            (true, ["single-file-thread", "set-64MiB-thread"]),
        ] {
            let id = format!("{}/{size}", names[1]);
            if !selected(&format!("set-append-ab/{id}")) {
                continue;
            }
            let kinds = [Kind::Single, Kind::Set];
            let mut runs: [Vec<AbRun>; 2] = [Vec::new(), Vec::new()];
            for round in 0..rounds {
                let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
                for k in order {
                    runs[k].push(ab_run(&scratch, kinds[k], thread, &data));
                }
            }
            let stat = |k: usize, f: fn(&AbRun) -> f64| {
                let v: Vec<f64> = runs[k].iter().map(f).collect();
                let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = v.iter().copied().fold(0.0, f64::max);
                (median(v), lo, hi)
            };
            let ratio = |f: fn(&AbRun) -> f64| {
                median(
                    runs[0]
                        .iter()
                        .zip(&runs[1])
                        .map(|(a, b)| f(b) / f(a))
                        .collect(),
                )
            };
            let fields: [AbField; 4] = [
                ("wall", |r| r.wall),
                ("pretouch", |r| r.pretouch),
                ("thread_cpu", |r| r.thread_cpu),
                ("process_cpu", |r| r.process_cpu),
            ];
            let mut record = serde_json::Map::new();
            record.insert("rounds".into(), json!(rounds));
            for (field, f) in fields {
                let s = [stat(0, f), stat(1, f)];
                let r = ratio(f);
                println!(
                    "set-append-ab/{id}: {field:>11} ns/append: {} {:.1} [{:.1}-{:.1}], {} {:.1} [{:.1}-{:.1}], paired ratio {r:.3}",
                    names[0], s[0].0, s[0].1, s[0].2, names[1], s[1].0, s[1].1, s[1].2
                );
                for (k, name) in ["single", "set"].iter().enumerate() {
                    record.insert(format!("{name}_{field}_ns"), json!(s[k].0));
                    record.insert(format!("{name}_{field}_min_ns"), json!(s[k].1));
                    record.insert(format!("{name}_{field}_max_ns"), json!(s[k].2));
                }
                record.insert(format!("{field}_ratio"), json!(r));
            }
            results::record("set-append-ab", &id, serde_json::Value::Object(record));
        }
    }
}

criterion_group! {
    name = benches;
    config = journal_benches::criterion();
    targets = append, append_ab, latency
}
criterion_main!(benches);
