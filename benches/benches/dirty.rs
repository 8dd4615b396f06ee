//! Writing past the kernel's dirty-page budget (issue 15, BENCHMARKS.md "What is measured").
//!
//! A fresh journal under `SyncPolicy::Never` with the writer's own pretoucher thread appends 1 KiB
//! events until its file holds more bytes than the kernel lets be dirty in the page cache, so that
//! the run goes at the disk's pace; beside it, in the same run, a buffered writer (`std::fs::File`,
//! `write_all` of 1 MiB blocks) writes the same number of bytes into a new file. Both are timed from
//! the creation of the file to the end of a final sync (`Writer::sync`, `File::sync_all`), so both
//! figures are bytes made durable per second, and the disk's write-back of the tail counts for both.
//!
//! The budget is `/proc/sys/vm/dirty_bytes`, or `dirty_ratio` percent of `MemAvailable` when that is
//! 0 (an estimate of the kernel's "dirtyable" memory). The run writes 1.5 times the budget (at least
//! 1 GiB), at most `JOURNAL_BENCH_DIRTY_MAX` bytes (default 8 GiB); `JOURNAL_BENCH_DIRTY_BYTES`
//! sets the size outright (a short check). It is skipped, with a message, when the cap is below the
//! budget or the scratch directory's file system lacks the space for one file plus 1 GiB (the two
//! files are written one after the other, each removed before the next).
//!
//! The two writers run `JOURNAL_BENCH_DIRTY_ROUNDS` times (default 3), in alternating order. Prints
//! each round and a table of the medians, and records `dirty-budget/buffered-1MiB` and
//! `dirty-budget/journal-pretoucher` (bytes, median seconds, every run's seconds, budget) for
//! `bench-summary`. Runs only under `cargo bench` (the `--bench` argument), never under `cargo test`.

use std::io::Write;
use std::time::{Duration, Instant};

use journal::{SyncPolicy, Writer};
use journal_benches::{env_u64, payload, results, selected, Scratch};
use serde_json::json;

const GROUP: &str = "dirty-budget";
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// A number from a `/proc` file, if it holds one.
fn proc_u64(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `MemAvailable` from `/proc/meminfo`, in bytes.
fn mem_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The kernel's dirty-page budget, in bytes, and how it was found.
fn dirty_budget() -> Option<(u64, String)> {
    match proc_u64("/proc/sys/vm/dirty_bytes") {
        Some(b) if b > 0 => Some((b, format!("vm.dirty_bytes = {b}"))),
        _ => {
            let ratio = proc_u64("/proc/sys/vm/dirty_ratio")?;
            let avail = mem_available()?;
            Some((
                avail / 100 * ratio,
                format!(
                    "vm.dirty_ratio {ratio} % of MemAvailable {} MiB",
                    avail / MIB
                ),
            ))
        }
    }
}

/// Free bytes for an unprivileged writer on the file system holding `dir`.
fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs is plain old data; all-zero is a valid value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `st` a valid out-pointer.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

/// The journal: 1 KiB events until the file holds `total` bytes, then a sync. Returns the file's
/// bytes (`write_offset`) and the time from creation to the end of the sync.
fn journal_run(scratch: &Scratch, total: u64) -> (u64, Duration) {
    let path = scratch.fresh("journal");
    let data = payload(1024);
    let start = Instant::now();
    let mut w = Writer::options()
        .sync_policy(SyncPolicy::Never)
        .pretouch_thread(true)
        .create(&path)
        .expect("create journal");
    let mut ts = 0i64;
    while w.write_offset() < total {
        w.append(ts, std::hint::black_box(&data)).expect("append");
        ts += 1;
    }
    w.sync().expect("sync journal");
    let took = start.elapsed();
    let bytes = w.write_offset();
    w.close().expect("close journal");
    std::fs::remove_file(&path).expect("remove journal");
    let _ = std::fs::remove_file(journal::index::index_path(&path));
    (bytes, took)
}

/// The buffered writer: `bytes` bytes in 1 MiB `write_all` calls (the last one shorter), then
/// `sync_all`. Returns the time from creation to the end of the sync.
fn buffered_run(scratch: &Scratch, bytes: u64) -> Duration {
    let path = scratch.fresh("buffered");
    let block = payload(MIB as usize);
    let start = Instant::now();
    let mut f = std::fs::File::create(&path).expect("create file");
    let mut left = bytes;
    while left > 0 {
        let n = left.min(MIB) as usize;
        f.write_all(std::hint::black_box(&block[..n]))
            .expect("write");
        left -= n as u64;
    }
    f.sync_all().expect("sync file");
    let took = start.elapsed();
    drop(f);
    std::fs::remove_file(&path).expect("remove file");
    took
}

fn gbs(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e9
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("dirty: runs only under `cargo bench`");
        return;
    }
    if !selected(&format!("{GROUP}/journal-pretoucher")) && !selected(&format!("{GROUP}/buffered"))
    {
        return;
    }
    let Some((budget, how)) = dirty_budget() else {
        println!("{GROUP}: skipped: the dirty-page budget cannot be read from /proc");
        return;
    };
    let scratch = Scratch::new("dirty");
    let cap = env_u64("JOURNAL_BENCH_DIRTY_MAX", 8 * GIB);
    let total = match env_u64("JOURNAL_BENCH_DIRTY_BYTES", 0) {
        0 => {
            let want = (budget / 2 * 3).max(GIB).div_ceil(MIB) * MIB;
            if want > cap {
                println!(
                    "{GROUP}: skipped: 1.5 x the dirty budget ({} MiB, {how}) is above the cap of {} MiB (JOURNAL_BENCH_DIRTY_MAX)",
                    want / MIB,
                    cap / MIB
                );
                return;
            }
            want
        }
        n => n,
    };
    let free = free_bytes(scratch.dir()).unwrap_or(0);
    if free < total + GIB {
        println!(
            "{GROUP}: skipped: {} needs {} MiB free plus 1 GiB, has {} MiB",
            scratch.dir().display(),
            total / MIB,
            free / MIB
        );
        return;
    }
    println!(
        "{GROUP}: writing {} MiB per writer; dirty budget {} MiB ({how})",
        total / MIB,
        budget / MIB
    );
    // Rounds in alternating order (journal first, then buffered first, ...): whichever writer runs
    // second starts right after the first one's file was removed, and on a VM that returns free
    // pages to its host (virtio-balloon free page reporting) it gets some pages still backed by
    // the host, which the first writer had to fault in there. Each writer's median is reported.
    let rounds = env_u64("JOURNAL_BENCH_DIRTY_ROUNDS", 3).max(1);
    let mut bytes = 0;
    let (mut journal, mut buffered) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let journal_first = round % 2 == 0;
        if journal_first {
            let (b, took) = journal_run(&scratch, total);
            bytes = b;
            journal.push(took);
            buffered.push(buffered_run(&scratch, bytes));
        } else {
            buffered.push(buffered_run(&scratch, bytes));
            journal.push(journal_run(&scratch, total).1);
        }
        println!(
            "{GROUP}: round {round}: journal {:.2} s, buffered {:.2} s ({} first)",
            journal[round as usize].as_secs_f64(),
            buffered[round as usize].as_secs_f64(),
            if journal_first { "journal" } else { "buffered" }
        );
    }
    let (jm, bm) = (median(&journal), median(&buffered));
    let (j, b) = (gbs(bytes, jm), gbs(bytes, bm));
    println!("| writer | bytes | time to durable (median of {rounds}) | GB/s | / buffered |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| buffered, 1 MiB writes + sync_all | {bytes} | {:.2} s | {b:.3} | 1.00 |",
        bm.as_secs_f64()
    );
    println!(
        "| journal, 1 KiB appends, pretoucher + sync | {bytes} | {:.2} s | {j:.3} | {:.2} |",
        jm.as_secs_f64(),
        j / b
    );
    for (id, runs) in [
        ("buffered-1MiB", &buffered),
        ("journal-pretoucher", &journal),
    ] {
        let secs: Vec<f64> = runs.iter().map(Duration::as_secs_f64).collect();
        results::record(
            GROUP,
            id,
            json!({ "bytes": bytes, "secs": median(runs).as_secs_f64(), "runs_secs": secs, "budget_bytes": budget }),
        );
    }
}

/// The median of `runs` (the upper one of an even count); `runs` is not empty.
fn median(runs: &[Duration]) -> Duration {
    let mut v = runs.to_vec();
    v.sort();
    v[v.len() / 2]
}
