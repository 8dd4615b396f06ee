//! Turns one run of the benchmark suite into the markdown tables of BENCHMARKS.md.
//!
//! Reads criterion's estimates (`<criterion>/**/new/{benchmark,estimates}.json`, the median of each
//! benchmark) and the suite's own results file (latency and wake-up percentiles, idle CPU, file
//! sizes), and prints the machine, one table per group, and the goals with their verdicts. With
//! `--update FILE` it also replaces the text between `<!-- tables:begin -->` and
//! `<!-- tables:end -->` in FILE.
//!
//! With `--update FILE` (or `--charts DIR`) it also draws two SVG charts, linked from the tables:
//! the distribution of one-way latency per contender (a CDF) and payload throughput against
//! payload size. They go to `DIR`, by default `docs/bench` beside FILE.
//!
//! ```text
//! bench-summary [--criterion DIR] [--results FILE] [--label TEXT] [--command TEXT] [--update FILE]
//!               [--charts DIR]
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

const BEGIN: &str = "<!-- tables:begin -->";
const END: &str = "<!-- tables:end -->";

/// The median of one criterion benchmark.
#[derive(Clone, Copy, Debug)]
struct Est {
    /// Median time of one iteration, nanoseconds.
    ns: f64,
    /// Elements per iteration, if the group declared them.
    elements: Option<u64>,
    /// Bytes per iteration, if the group declared them.
    bytes: Option<u64>,
}

#[derive(Default)]
struct Data {
    /// (group, function, parameter) -> estimate.
    crit: HashMap<(String, String, String), Est>,
    /// (group, id) -> the last result line.
    results: HashMap<(String, String), Value>,
}

impl Data {
    fn est(&self, group: &str, function: &str, param: &str) -> Option<Est> {
        self.crit
            .get(&(group.to_string(), function.to_string(), param.to_string()))
            .copied()
    }

    /// Median nanoseconds per event (per element when the group declared elements).
    fn ns_per_event(&self, group: &str, function: &str, param: &str) -> Option<f64> {
        let e = self.est(group, function, param)?;
        Some(e.ns / e.elements.unwrap_or(1).max(1) as f64)
    }

    fn result(&self, group: &str, id: &str) -> Option<&Value> {
        self.results.get(&(group.to_string(), id.to_string()))
    }
}

fn load_criterion(dir: &Path, out: &mut HashMap<(String, String, String), Est>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "new") {
                if let Some((key, est)) = read_estimate(&path) {
                    out.insert(key, est);
                }
            } else {
                load_criterion(&path, out);
            }
        }
    }
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn read_estimate(new_dir: &Path) -> Option<((String, String, String), Est)> {
    let bench = read_json(&new_dir.join("benchmark.json"))?;
    let est = read_json(&new_dir.join("estimates.json"))?;
    let s = |k: &str| {
        bench
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let ns = est.get("median")?.get("point_estimate")?.as_f64()?;
    let tp = bench.get("throughput");
    let elements = tp.and_then(|t| t.get("Elements")).and_then(Value::as_u64);
    let bytes = tp
        .and_then(|t| t.get("Bytes").or_else(|| t.get("BytesDecimal")))
        .and_then(Value::as_u64);
    Some((
        (s("group_id"), s("function_id"), s("value_str")),
        Est {
            ns,
            elements,
            bytes,
        },
    ))
}

fn load_results(path: &Path) -> HashMap<(String, String), Value> {
    let mut out = HashMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return out;
    };
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let g = v.get("group").and_then(Value::as_str).map(str::to_string);
        let i = v.get("id").and_then(Value::as_str).map(str::to_string);
        if let (Some(g), Some(i)) = (g, i) {
            out.insert((g, i), v);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Formatting.

fn ns(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v < 1_000.0 => format!("{v:.1} ns"),
        Some(v) if v < 1_000_000.0 => format!("{:.2} µs", v / 1e3),
        Some(v) if v < 1_000_000_000.0 => format!("{:.2} ms", v / 1e6),
        Some(v) => format!("{:.2} s", v / 1e9),
    }
}

/// Events per second from nanoseconds per event, in millions.
fn mevs(ns_per_event: Option<f64>) -> String {
    match ns_per_event {
        Some(v) if v > 0.0 => format!("{:.2} M/s", 1e3 / v),
        _ => "—".into(),
    }
}

/// Payload bytes per second (decimal GB/s) from nanoseconds per event.
fn gbs(ns_per_event: Option<f64>, bytes_per_event: f64) -> String {
    match ns_per_event {
        Some(v) if v > 0.0 => format!("{:.2} GB/s", bytes_per_event / v),
        _ => "—".into(),
    }
}

/// How many times faster `ours` is than `other` (both in time per event): other / ours.
fn speedup(ours: Option<f64>, other: Option<f64>) -> Option<f64> {
    match (ours, other) {
        (Some(o), Some(t)) if o > 0.0 => Some(t / o),
        _ => None,
    }
}

fn x(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{v:.2}×"))
}

fn min_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "not measured",
    }
}

// ---------------------------------------------------------------------------------------------
// Machine.

fn first_line_with(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

fn fs_type(path: &Path) -> String {
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else {
        return "?".into();
    };
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mut best: Option<(usize, String)> = None;
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 3 && path.starts_with(f[1]) {
            let len = f[1].len();
            if !matches!(&best, Some((l, _)) if *l >= len) {
                best = Some((len, format!("{} ({})", f[2], f[0])));
            }
        }
    }
    best.map_or("?".into(), |(_, s)| s)
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let cpu = first_line_with(&cpuinfo, "model name").unwrap_or_else(|| "?".into());
    let cpus = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let mem_gib = first_line_with(&meminfo, "MemTotal")
        .and_then(|v| {
            v.split_whitespace()
                .next()
                .and_then(|n| n.parse::<f64>().ok())
        })
        .map_or("?".into(), |kib| {
            format!("{:.0} GiB", kib / 1024.0 / 1024.0)
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or("?".into(), |s| s.trim().to_string());
    let clock =
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .map_or("?".into(), |s| s.trim().to_string());
    let rustc = std::process::Command::new("rustc")
        .arg("-V")
        .output()
        .ok()
        .map_or("?".into(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        });
    let tmp = std::env::temp_dir();
    format!(
        "- CPU: {cpu}, {cpus} logical CPUs; memory {mem_gib}; Linux {kernel}; clocksource {clock}\n\
         - Files: {} on {}; rings and shared words: /dev/shm on {}\n\
         - {rustc}; release profile (opt-level 3, debug = 1)\n",
        tmp.display(),
        fs_type(&tmp),
        fs_type(Path::new("/dev/shm")),
    )
}

// ---------------------------------------------------------------------------------------------
// Tables.

const SIZES: [&str; 3] = ["64", "256", "1024"];
const RING_SIZES: [&str; 2] = ["64", "1024"];

fn append_tables(d: &Data, out: &mut String) {
    for (group, title) in [
        ("append-sync-never", "sync never"),
        ("append-sync-1MiB", "sync every 1 MiB (msync of the range)"),
        ("append-sync-1000ev", "sync every 1,000 events"),
    ] {
        let _ = writeln!(out, "\n#### Append, {title} (`{group}`)\n");
        let with_limit = group == "append-sync-never";
        out.push_str("| payload | file | append | append rate | append payload | claim |");
        if with_limit {
            out.push_str(" limit | append / limit |");
        }
        out.push_str(" seglog | khata-rs | ours / best peer |\n|---|---|---:|---:|---:|---:|");
        if with_limit {
            out.push_str("---:|---:|");
        }
        out.push_str("---:|---:|---:|\n");
        for size in SIZES {
            let bytes: f64 = size.parse().unwrap_or(0.0);
            for state in ["prefaulted", "fresh"] {
                let copy = d.ns_per_event(group, &format!("journal-copy/{state}"), size);
                let claim = d.ns_per_event(group, &format!("journal-claim/{state}"), size);
                let limit = d.ns_per_event(group, "limit", size);
                let (seglog, khata) = if state == "fresh" {
                    (
                        d.ns_per_event(group, "seglog", size),
                        d.ns_per_event(group, "khata-rs", size),
                    )
                } else {
                    (None, None)
                };
                let best_peer = min_opt(seglog, khata);
                let _ = write!(
                    out,
                    "| {size} B | {state} | {} | {} | {} | {} |",
                    ns(copy),
                    mevs(copy),
                    gbs(copy, bytes),
                    ns(claim)
                );
                if with_limit {
                    let _ = write!(out, " {} | {} |", ns(limit), x(speedup(copy, limit)));
                }
                let peer_ratio = if state == "fresh" {
                    x(speedup(copy, best_peer))
                } else {
                    "(peers: fresh only)".into()
                };
                let _ = writeln!(
                    out,
                    " {} | {} | {} |",
                    if state == "fresh" {
                        ns(seglog)
                    } else {
                        "—".into()
                    },
                    if state == "fresh" {
                        ns(khata)
                    } else {
                        "—".into()
                    },
                    peer_ratio
                );
            }
        }
    }
}

/// The group of issue 15's fresh, growing file.
const GROWING: &str = "append-growing-1GiB";
/// The run past the kernel's dirty-page budget (`benches/benches/dirty.rs`).
const DIRTY: &str = "dirty-budget";

fn growing_table(d: &Data, out: &mut String) {
    let _ = writeln!(
        out,
        "\n#### Append on a fresh file growing to 1 GiB, sync never (`{GROWING}`)\n"
    );
    out.push_str(
        "| payload | default | pretoucher | limit | default / limit | pretoucher / limit | seglog | khata-rs | pretoucher / best peer |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for size in SIZES {
        let def = d.ns_per_event(GROWING, "journal-copy/default", size);
        let pt = d.ns_per_event(GROWING, "journal-copy/pretoucher", size);
        let limit = d.ns_per_event("append-sync-never", "limit", size);
        let seglog = d.ns_per_event(GROWING, "seglog", size);
        let khata = d.ns_per_event(GROWING, "khata-rs", size);
        let _ = writeln!(
            out,
            "| {size} B | {} | {} | {} | {} | {} | {} | {} | {} |",
            ns(def),
            ns(pt),
            ns(limit),
            x(speedup(def, limit)),
            x(speedup(pt, limit)),
            ns(seglog),
            ns(khata),
            x(speedup(pt, min_opt(seglog, khata)))
        );
    }
}

fn dirty_table(d: &Data, out: &mut String) {
    let rows = [
        ("buffered-1MiB", "buffered, 1 MiB writes + `sync_all`"),
        (
            "journal-pretoucher",
            "journal, 1 KiB appends, pretoucher, + `sync`",
        ),
    ];
    if rows.iter().all(|(id, _)| d.result(DIRTY, id).is_none()) {
        return;
    }
    let _ = writeln!(
        out,
        "\n#### Past the kernel's dirty-page budget (`{DIRTY}`)\n"
    );
    out.push_str(
        "| writer | bytes | dirty budget | time to durable | GB/s |\n|---|---:|---:|---:|---:|\n",
    );
    for (id, name) in rows {
        let v = d.result(DIRTY, id);
        let get = |k: &str| v.and_then(|v| v.get(k)).and_then(Value::as_f64);
        let (bytes, secs, budget) = (get("bytes"), get("secs"), get("budget_bytes"));
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} |",
            bytes.map_or("—".into(), |b| format!(
                "{:.2} GiB",
                b / (1u64 << 30) as f64
            )),
            budget.map_or("—".into(), |b| format!(
                "{:.2} GiB",
                b / (1u64 << 30) as f64
            )),
            secs.map_or("—".into(), |s| format!("{s:.2} s")),
            match (bytes, secs) {
                (Some(b), Some(s)) if s > 0.0 => format!("{:.2}", b / s / 1e9),
                _ => "—".into(),
            }
        );
    }
}

fn table_10k(d: &Data, out: &mut String) {
    let g = "table-10k-1KiB";
    out.push_str("\n#### 10,000 events × 1 KiB, new file each time (`table-10k-1KiB`)\n\n");
    out.push_str("| contender | time for 10,000 | events/s | payload bytes/s | limit / this |\n");
    out.push_str("|---|---:|---:|---:|---:|\n");
    let limit = d.est(g, "limit (memcpy+crc32)", "").map(|e| e.ns);
    for f in [
        "limit (memcpy+crc32)",
        "journal (append only)",
        "journal (create+append+close)",
        "journal (create+close only)",
        "write() per event",
        "BufWriter (64 KiB)",
        "channel to writer thread",
    ] {
        let t = d.est(g, f, "").map(|e| e.ns);
        let per = t.map(|t| t / 10_000.0);
        let _ = writeln!(
            out,
            "| {f} | {} | {} | {} | {} |",
            ns(t),
            mevs(per),
            gbs(per, 1024.0),
            x(speedup(limit, t).map(|v| 1.0 / v))
        );
    }
}

fn read_tables(d: &Data, out: &mut String) {
    out.push_str("\n#### Sequential read of 64 MiB of entries (`read`)\n\n");
    out.push_str("| payload | journal, CRC | journal, no CRC | seglog (CRC-32) | khata-rs (no check) | khata-rs + CRC-16 | ours / best checking peer | ours (no CRC) / khata-rs |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for size in SIZES {
        let bytes: f64 = size.parse().unwrap_or(0.0);
        let e = |f: &str| d.ns_per_event("read", f, size);
        let cell = |v: Option<f64>| format!("{} ({})", mevs(v), gbs(v, bytes));
        let (crc, nocrc) = (e("journal-crc"), e("journal-nocrc"));
        let (seg, kh, khc) = (e("seglog-crc32"), e("khata-rs"), e("khata-rs+crc16"));
        let _ = writeln!(
            out,
            "| {size} B | {} | {} | {} | {} | {} | {} | {} |",
            cell(crc),
            cell(nocrc),
            cell(seg),
            cell(kh),
            cell(khc),
            x(speedup(crc, min_opt(seg, khc))),
            x(speedup(nocrc, kh))
        );
    }

    out.push_str(
        "\n#### Verify of a 1 GiB journal of 1 KiB events in the page cache (`verify-1GiB`)\n\n",
    );
    out.push_str("| how | time | file bytes/s |\n|---|---:|---:|\n");
    for f in ["journal (reader open)", "journal (open+verify)"] {
        let e = d.est("verify-1GiB", f, "");
        let rate = e.and_then(|e| e.bytes.map(|b| b as f64 / e.ns));
        let _ = writeln!(
            out,
            "| {f} | {} | {} |",
            ns(e.map(|e| e.ns)),
            rate.map_or("—".into(), |r| format!("{r:.2} GB/s"))
        );
    }

    out.push_str("\n#### Timestamp seek to the middle of a 64 MiB journal (`seek`)\n\n");
    out.push_str("| payload | CRC | time per seek | events skipped/s |\n|---|---|---:|---:|\n");
    for size in ["64", "1024"] {
        for (f, crc) in [("journal-crc", "on"), ("journal-nocrc", "off")] {
            let e = d.est("seek", f, size);
            let _ = writeln!(
                out,
                "| {size} B | {crc} | {} | {} |",
                ns(e.map(|e| e.ns)),
                mevs(d.ns_per_event("seek", f, size))
            );
        }
    }
}

fn ring_table(d: &Data, out: &mut String) {
    out.push_str("\n#### Ring in one process (`ring-1proc`)\n\n");
    out.push_str("| payload | journal ring, 2 threads | rtrb, 2 threads | ours / rtrb | journal ring, 1 thread | rtrb, 1 thread | ours / rtrb |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    for size in RING_SIZES {
        let e = |f: &str| d.ns_per_event("ring-1proc", f, size);
        let (j2, r2) = (e("journal-ring (2 threads)"), e("rtrb (2 threads)"));
        let (j1, r1) = (e("journal-ring (1 thread)"), e("rtrb (1 thread)"));
        let cell = |v: Option<f64>| format!("{} ({})", ns(v), mevs(v));
        let _ = writeln!(
            out,
            "| {size} B | {} | {} | {} | {} | {} | {} |",
            cell(j2),
            cell(r2),
            x(speedup(j2, r2)),
            cell(j1),
            cell(r1),
            x(speedup(j1, r1))
        );
    }
}

fn pct(v: &Value, k: &str) -> Option<f64> {
    v.get(k).and_then(Value::as_f64)
}

fn latency_table(d: &Data, out: &mut String) {
    out.push_str("\n#### One-way latency between two processes, round trip / 2 (`latency`)\n\n");
    out.push_str("| path | p50 | p99 | p99.9 | max | p50 / floor | p99 / floor | round trips |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    let floor = d.result("latency", "floor");
    let fp = |k: &str| floor.and_then(|f| pct(f, k));
    for id in LATENCY_IDS {
        let Some(v) = d.result("latency", id) else {
            let _ = writeln!(out, "| {id} | — | — | — | — | — | — | not run |");
            continue;
        };
        if let Some(why) = v.get("unavailable").and_then(Value::as_str) {
            let _ = writeln!(out, "| {id} | — | — | — | — | — | — | unavailable: {why} |");
            continue;
        }
        let ratio = |k: &str| match (pct(v, k), fp(k)) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        let _ = writeln!(
            out,
            "| {id} | {} | {} | {} | {} | {} | {} | {} |",
            ns(pct(v, "p50_ns")),
            ns(pct(v, "p99_ns")),
            ns(pct(v, "p999_ns")),
            ns(pct(v, "max_ns")),
            x(ratio("p50_ns")),
            x(ratio("p99_ns")),
            v.get("count").and_then(Value::as_u64).unwrap_or(0)
        );
    }
}

/// The group of the blocking-wait benchmark (`benches/benches/wait.rs`).
const WAIT: &str = "wait";

/// The contenders of the `wait` group in their order, each with the spinning contender of the
/// same kind its figures are compared with (`None` for the spinning ones).
const WAIT_IDS: [(&str, Option<&str>); 7] = [
    ("journal-ring/spin", None),
    ("journal-ring/block", Some("journal-ring/spin")),
    ("journal-ring-nocrc/spin", None),
    ("journal-tailer/spin", None),
    ("journal-tailer/block", Some("journal-tailer/spin")),
    ("ringfire/spin", None),
    ("ringfire/futex", Some("ringfire/spin")),
];

/// `a / b`, when both are known and `b` is positive.
fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// A `wait` contender's field `k`, `None` when it did not run or was unavailable.
fn wait_field(d: &Data, id: &str, k: &str) -> Option<f64> {
    d.result(WAIT, id).and_then(|v| pct(v, k))
}

/// A share of a core, `0.23 %`.
fn percent(v: Option<f64>) -> String {
    v.map_or("—".into(), |p| format!("{p:.2} %"))
}

/// A results text (an unavailable contender's reason) as one markdown table cell.
fn cell_text(s: &str) -> String {
    s.replace('|', "\\|").replace(['\r', '\n'], " ")
}

/// One row per `wait` contender the run recorded; no table when it recorded none.
fn wait_table(d: &Data, out: &mut String) {
    if WAIT_IDS.iter().all(|(id, _)| d.result(WAIT, id).is_none()) {
        return;
    }
    let _ = writeln!(
        out,
        "\n#### Blocking waits: wake-up latency and idle CPU (`{WAIT}`)\n"
    );
    out.push_str(
        "| contender | wake-up p50 | p99 | p99.9 | messages | idle CPU, % of a core | p50 / spin | p99 / spin |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (id, spin) in WAIT_IDS {
        let Some(v) = d.result(WAIT, id) else {
            continue;
        };
        if let Some(why) = v.get("unavailable").and_then(Value::as_str) {
            let _ = writeln!(
                out,
                "| {id} | — | — | — | unavailable: {} | — | — | — |",
                cell_text(why)
            );
            continue;
        }
        let vs_spin = |k: &str| match spin {
            Some(spin) => x(ratio(pct(v, k), wait_field(d, spin, k))),
            None => "—".into(),
        };
        let _ = writeln!(
            out,
            "| {id} | {} | {} | {} | {} | {} | {} | {} |",
            ns(pct(v, "p50_ns")),
            ns(pct(v, "p99_ns")),
            ns(pct(v, "p999_ns")),
            v.get("count").and_then(Value::as_u64).unwrap_or(0),
            percent(pct(v, "idle_cpu_percent")),
            vs_spin("p50_ns"),
            vs_spin("p99_ns")
        );
    }
}

fn replay_table(d: &Data, out: &mut String) {
    out.push_str("\n#### Replay journal → ring → consumer process (`replay`)\n\n");
    out.push_str("| payload | journal → ring, CRC checked | journal → ring, no CRC | khata-rs → iceoryx2 | ours (CRC) / peer |\n");
    out.push_str("|---|---:|---:|---:|---:|\n");
    for size in RING_SIZES {
        let bytes: f64 = size.parse().unwrap_or(0.0);
        let e = |f: &str| d.ns_per_event("replay", f, size);
        let (crc, nocrc, peer) = (
            e("journal-ring-crc"),
            e("journal-ring-nocrc"),
            e("khata-rs+iceoryx2"),
        );
        let cell = |v: Option<f64>| format!("{} ({})", mevs(v), gbs(v, bytes));
        let _ = writeln!(
            out,
            "| {size} B | {} | {} | {} | {} |",
            cell(crc),
            cell(nocrc),
            cell(peer),
            x(speedup(crc, peer))
        );
    }
}

fn goals(d: &Data, out: &mut String) {
    out.push_str("\n#### Goals\n\n| goal | measured | verdict |\n|---|---|---|\n");
    let never = "append-sync-never";
    // 1-2. Issue 15: append on a fresh file growing to 1 GiB, growth included, under sync never
    // (`append-growing-1GiB`), against the limit of `append-sync-never`.
    let grow = GROWING;
    let pt = d.ns_per_event(grow, "journal-copy/pretoucher", "1024");
    let limit = d.ns_per_event(never, "limit", "1024");
    let r = speedup(pt, limit);
    let _ = writeln!(
        out,
        "| 1 KiB append, fresh 1 GiB file, growth included, pretoucher ≥ 0.85 × limit | {} ({} vs limit {}) | {} |",
        x(r),
        ns(pt),
        ns(limit),
        verdict(r.map(|r| r >= 0.85))
    );
    for (label, group, function) in [
        ("prefaulted file", never, "journal-copy/prefaulted"),
        (
            "fresh 1 GiB file, pretoucher",
            grow,
            "journal-copy/pretoucher",
        ),
    ] {
        let v = d.ns_per_event(group, function, "64");
        let _ = writeln!(
            out,
            "| 64 B append ≤ 25 ns ({label}) | {} | {} |",
            ns(v),
            verdict(v.map(|v| v <= 25.0))
        );
    }
    for size in ["64", "1024"] {
        let v = d.ns_per_event(grow, "journal-copy/default", size);
        let limit = d.ns_per_event(never, "limit", size);
        let r = speedup(v, limit);
        let _ = writeln!(
            out,
            "| {size} B append, fresh 1 GiB file, default options (no pretoucher) ≥ 0.5 × limit | {} ({} vs limit {}) | {} |",
            x(r),
            ns(v),
            ns(limit),
            verdict(r.map(|r| r >= 0.5))
        );
    }
    // Create under sync never <= 1 ms (`create`).
    for f in ["journal/sync-never", "journal/sync-never-pretoucher"] {
        let v = d.est("create", f, "").map(|e| e.ns);
        let _ = writeln!(
            out,
            "| create ≤ 1 ms, sync never (`create/{f}`) | {} | {} |",
            ns(v),
            verdict(v.map(|v| v <= 1e6))
        );
    }
    // Past the dirty-page budget: journal >= 0.9 x a buffered 1 MiB-block writer, same run.
    let rate = |id: &str| {
        let v = d.result(DIRTY, id)?;
        let (b, t) = (v.get("bytes")?.as_f64()?, v.get("secs")?.as_f64()?);
        (t > 0.0).then(|| b / t / 1e9)
    };
    let (j, b) = (rate("journal-pretoucher"), rate("buffered-1MiB"));
    let r = match (j, b) {
        (Some(j), Some(b)) if b > 0.0 => Some(j / b),
        _ => None,
    };
    let _ = writeln!(
        out,
        "| past the dirty-page budget, journal (pretoucher) ≥ 0.9 × buffered 1 MiB writes | {} ({} vs {}) | {} |",
        x(r),
        j.map_or("—".into(), |v| format!("{v:.2} GB/s")),
        b.map_or("—".into(), |v| format!("{v:.2} GB/s")),
        verdict(r.map(|r| r >= 0.9))
    );
    // 3. verify >= 10 GB/s.
    for f in ["journal (reader open)", "journal (open+verify)"] {
        let rate = d
            .est("verify-1GiB", f, "")
            .and_then(|e| e.bytes.map(|b| b as f64 / e.ns));
        let _ = writeln!(
            out,
            "| verify ≥ 10 GB/s, cached file, {f} | {} | {} |",
            rate.map_or("—".into(), |r| format!("{r:.2} GB/s")),
            verdict(rate.map(|r| r >= 10.0))
        );
    }
    // 4. latency within 1.3 x (p50; 1.6 x at 1 KiB) and 2 x (p99) of the floor, and below
    // ringfire's at p50 and p99.
    let floor = d.result("latency", "floor");
    for size in RING_SIZES {
        let v = d.result("latency", &format!("journal-ring/{size}"));
        let p50_bound = if size == "1024" { 1.6 } else { 1.3 };
        for (k, bound, name) in [("p50_ns", p50_bound, "p50"), ("p99_ns", 2.0, "p99")] {
            let ratio = match (v.and_then(|v| pct(v, k)), floor.and_then(|f| pct(f, k))) {
                (Some(a), Some(b)) if b > 0.0 => Some(a / b),
                _ => None,
            };
            let _ = writeln!(
                out,
                "| cross-process ring {name} ≤ {bound} × floor, {size} B | {} | {} |",
                x(ratio),
                verdict(ratio.map(|r| r <= bound))
            );
        }
        let peer = d.result("latency", &format!("ringfire/{size}"));
        for (k, name) in [("p50_ns", "p50"), ("p99_ns", "p99")] {
            let ratio = match (v.and_then(|v| pct(v, k)), peer.and_then(|p| pct(p, k))) {
                (Some(a), Some(b)) if b > 0.0 => Some(a / b),
                _ => None,
            };
            let _ = writeln!(
                out,
                "| cross-process ring {name} below ringfire's, {size} B | {} of ringfire's | {} |",
                x(ratio),
                verdict(ratio.map(|r| r < 1.0))
            );
        }
    }
    // 4b. journal append -> tailer in another process (issue 15) within 1.5 x (p50) and 2.5 x
    // (p99) of the floor, at Chronicle Queue's headline 40 B and at 1 KiB.
    tail_goals(d, out);
    // 4c. Blocking waits (`wait`): an idle waiter under 1 % of a core, and the ring's blocking
    // wake-up below ringfire's futex wait at p50 and p99.
    wait_goals(d, out);
    // 5. replay >= 10 M events/s at 64 B.
    let v = d.ns_per_event("replay", "journal-ring-crc", "64");
    let _ = writeln!(
        out,
        "| replay journal → ring ≥ 10 M events/s at 64 B (CRC checked) | {} | {} |",
        mevs(v),
        verdict(v.map(|v| 1e3 / v >= 10.0))
    );
    // 6. append and replay >= 2 x the fastest peer at every size.
    // Under sync never the goal's file is the fresh, growing 1 GiB one with the pretoucher (issue
    // 15), beside peers writing 1 GiB files; the other policies compare the fresh rows.
    for (group, function, label) in [
        (
            GROWING,
            "journal-copy/pretoucher",
            "fresh 1 GiB, pretoucher, sync never",
        ),
        (
            "append-sync-1MiB",
            "journal-copy/fresh",
            "fresh, sync 1 MiB",
        ),
        (
            "append-sync-1000ev",
            "journal-copy/fresh",
            "fresh, sync 1,000 events",
        ),
    ] {
        for size in SIZES {
            let ours = d.ns_per_event(group, function, size);
            let peer = min_opt(
                d.ns_per_event(group, "seglog", size),
                d.ns_per_event(group, "khata-rs", size),
            );
            let r = speedup(ours, peer);
            let _ = writeln!(
                out,
                "| append ≥ 2 × fastest peer, {size} B, {label} | {} | {} |",
                x(r),
                verdict(r.map(|r| r >= 2.0))
            );
        }
    }
    for size in RING_SIZES {
        let r = speedup(
            d.ns_per_event("replay", "journal-ring-crc", size),
            d.ns_per_event("replay", "khata-rs+iceoryx2", size),
        );
        let _ = writeln!(
            out,
            "| replay ≥ 2 × peer pipeline, {size} B | {} | {} |",
            x(r),
            verdict(r.map(|r| r >= 2.0))
        );
    }
}

/// The payload sizes of the journal → tailer latency rows (`latency/journal-tail/N`).
const TAIL_SIZES: [&str; 2] = ["40", "1024"];

/// `id`'s percentile `k` over the floor's, from the latency results.
fn latency_over_floor(d: &Data, id: &str, k: &str) -> Option<f64> {
    let v = d.result("latency", id).and_then(|v| pct(v, k));
    let floor = d.result("latency", "floor").and_then(|f| pct(f, k));
    match (v, floor) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// The goals of the journal → tailer rows: p50 ≤ 1.5 × floor and p99 ≤ 2.5 × floor at each
/// size, with the figures and the ring's ratio beside them.
fn tail_goals(d: &Data, out: &mut String) {
    for size in TAIL_SIZES {
        let id = format!("journal-tail/{size}");
        let ring = if size == "1024" {
            "journal-ring/1024"
        } else {
            "journal-ring/64"
        };
        for (k, bound, name) in [("p50_ns", 1.5, "p50"), ("p99_ns", 2.5, "p99")] {
            let ratio = latency_over_floor(d, &id, k);
            let v = d.result("latency", &id).and_then(|v| pct(v, k));
            let floor = d.result("latency", "floor").and_then(|f| pct(f, k));
            let _ = writeln!(
                out,
                "| journal append → tailer (other process) {name} ≤ {bound} × floor, {size} B | {} ({} vs floor {}; ring {}: {}) | {} |",
                x(ratio),
                ns(v),
                ns(floor),
                ring.trim_start_matches("journal-ring/"),
                x(latency_over_floor(d, ring, k)),
                verdict(ratio.map(|r| r <= bound))
            );
        }
    }
}

/// The goals of the `wait` group: the blocking ring consumer and the blocking tailer each use
/// under 1 % of a core while idle, and the blocking ring wakes sooner than ringfire's futex wait at
/// p50 and p99.
fn wait_goals(d: &Data, out: &mut String) {
    for (who, id) in [
        ("consumer", "journal-ring/block"),
        ("tailer", "journal-tailer/block"),
    ] {
        let idle = wait_field(d, id, "idle_cpu_percent");
        let _ = writeln!(
            out,
            "| idle waiting {who} < 1 % of a core (`{WAIT}/{id}`) | {} | {} |",
            percent(idle),
            verdict(idle.map(|p| p < 1.0))
        );
    }
    for (k, name) in [("p50_ns", "p50"), ("p99_ns", "p99")] {
        let (ring, peer) = (
            wait_field(d, "journal-ring/block", k),
            wait_field(d, "ringfire/futex", k),
        );
        let r = ratio(ring, peer);
        let _ = writeln!(
            out,
            "| blocking ring wake-up {name} below ringfire's futex wait (`{WAIT}`) | {} of ringfire's ({} vs {}) | {} |",
            x(r),
            ns(ring),
            ns(peer),
            verdict(r.map(|r| r < 1.0))
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Charts.

/// The latency contenders of the latency table and the CDF chart, in their order.
const LATENCY_IDS: [&str; 12] = [
    "floor",
    "floor-2lines",
    "journal-ring/64",
    "journal-ring/1024",
    "journal-ring-nocrc/64",
    "journal-ring-nocrc/1024",
    "journal-tail/40",
    "journal-tail/1024",
    "iceoryx2/64",
    "iceoryx2/1024",
    "ringfire/64",
    "ringfire/1024",
];

/// One contender's one-way latency distribution as `(quantile, ns)` points, ascending: the
/// results' `cdf` when the run recorded it, else the percentiles every run records.
fn cdf_points(v: &Value) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = match v.get("cdf").and_then(Value::as_array) {
        Some(cdf) => cdf
            .iter()
            .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
            .collect(),
        None => [
            (0.5, "p50_ns"),
            (0.99, "p99_ns"),
            (0.999, "p999_ns"),
            (1.0, "max_ns"),
        ]
        .iter()
        .filter_map(|&(q, k)| Some((q, pct(v, k)?)))
        .collect(),
    };
    pts.retain(|&(q, ns)| (0.0..=1.0).contains(&q) && ns.is_finite() && ns > 0.0);
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    pts
}

/// One series of a chart: its name and points.
type Series = (String, Vec<(f64, f64)>);

fn latency_series(d: &Data) -> Vec<Series> {
    LATENCY_IDS
        .iter()
        .filter_map(|id| {
            let v = d.result("latency", id)?;
            // x: the latency, y: the fraction of round trips at or below it.
            let pts: Vec<(f64, f64)> = cdf_points(v).into_iter().map(|(q, ns)| (ns, q)).collect();
            (!pts.is_empty()).then(|| ((*id).to_string(), pts))
        })
        .collect()
}

/// Payload GB/s against payload size, per contender and operation.
fn throughput_series(d: &Data) -> Vec<Series> {
    let never = "append-sync-never";
    let series: [(&str, &str, &str, &[&str]); 7] = [
        (
            "append, journal (fresh file)",
            never,
            "journal-copy/fresh",
            &SIZES,
        ),
        ("append, seglog", never, "seglog", &SIZES),
        ("append, khata-rs", never, "khata-rs", &SIZES),
        ("read, journal (CRC)", "read", "journal-crc", &SIZES),
        ("read, seglog (CRC-32)", "read", "seglog-crc32", &SIZES),
        ("read, khata-rs + CRC-16", "read", "khata-rs+crc16", &SIZES),
        (
            "replay → ring, journal (CRC)",
            "replay",
            "journal-ring-crc",
            &RING_SIZES,
        ),
    ];
    series
        .iter()
        .filter_map(|&(name, group, function, sizes)| {
            let pts: Vec<(f64, f64)> = sizes
                .iter()
                .filter_map(|size| {
                    let bytes: f64 = size.parse().ok()?;
                    let per = d.ns_per_event(group, function, size)?;
                    Some((bytes, bytes / per))
                })
                .filter(|p| p.1.is_finite() && p.1 > 0.0)
                .collect();
            (!pts.is_empty()).then(|| (name.to_string(), pts))
        })
        .collect()
}

const CHART: (u32, u32) = (900, 560);

/// The font the charts' text is measured with: the CLI's DejaVu Sans (its license beside it,
/// `journal-cli/assets/DejaVuSans-LICENSE.txt`). The SVG writes its text as `<text>`, rendered by
/// the viewer's fonts, but plotters' `ab_glyph` feature (on here, and in the CLI, which a
/// workspace build unifies) lays text out with a registered font and fails without one.
const FONT: &[u8] = include_bytes!("../../../journal-cli/assets/DejaVuSans.ttf");

/// Registers [`FONT`] as plotters' "sans-serif", once per process; called before any drawing.
fn register_font() -> Result<(), String> {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, FONT)
            .is_ok()
    });
    ok.then_some(())
        .ok_or_else(|| "the built-in font could not be read".to_string())
}

/// Draws `series` as lines with points; `log_x`/`log_y` pick logarithmic axes.
#[allow(clippy::too_many_arguments)] // reason: one private drawing helper, called twice
fn line_chart(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[Series],
    log_x: bool,
    (y_lo, y_hi): (f64, f64),
    x_fmt: &dyn Fn(&f64) -> String,
    out: &mut String,
) -> Result<(), String> {
    use plotters::prelude::*;
    let err = |e: &dyn std::fmt::Display| format!("drawing {title}: {e}");
    register_font().map_err(|e| err(&e))?;
    let xs = series.iter().flat_map(|s| s.1.iter().map(|p| p.0));
    let (x_lo, x_hi) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let root = SVGBackend::with_string(out, CHART).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut b = ChartBuilder::on(&root);
    b.caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(70);
    // Draws on either coordinate system: the mesh, then each series with its legend entry.
    macro_rules! draw {
        ($chart:expr) => {{
            let mut chart = $chart.map_err(|e| err(&e))?;
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc(y_desc)
                .x_label_formatter(x_fmt)
                .draw()
                .map_err(|e| err(&e))?;
            for (i, (name, pts)) in series.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                chart
                    .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                    .map_err(|e| err(&e))?
                    .label(name.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2))
                    });
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(|e| err(&e))?;
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(|e| err(&e))?;
        }};
    }
    if log_x {
        draw!(b.build_cartesian_2d((x_lo * 0.8..x_hi * 1.25).log_scale(), y_lo..y_hi));
    } else {
        draw!(b.build_cartesian_2d(x_lo..x_hi, y_lo..y_hi));
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// `12 ns`, `3.4 µs`, `1.2 ms`.
fn ns_label(v: &f64) -> String {
    ns(Some(*v)).replace(".0 ", " ")
}

/// Writes the charts into `dir` and returns the markdown that links them as `link_dir/...`.
fn charts(d: &Data, dir: &Path, link_dir: &str) -> Result<String, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut md = String::from("\n#### Charts\n\n");
    let mut any = false;
    let latency = latency_series(d);
    if !latency.is_empty() {
        let mut svg = String::new();
        line_chart(
            "One-way latency between two processes: CDF",
            "one-way latency (round trip / 2), log scale",
            "fraction of round trips at or below",
            &latency,
            true,
            (0.0, 1.0),
            &ns_label,
            &mut svg,
        )?;
        let path = dir.join("latency-cdf.svg");
        std::fs::write(&path, svg).map_err(|e| format!("{}: {e}", path.display()))?;
        let _ = writeln!(
            md,
            "![One-way latency CDF per contender]({link_dir}/latency-cdf.svg)\n"
        );
        any = true;
    }
    let throughput = throughput_series(d);
    if !throughput.is_empty() {
        let top = throughput
            .iter()
            .flat_map(|s| s.1.iter().map(|p| p.1))
            .fold(0.0, f64::max);
        let mut svg = String::new();
        line_chart(
            "Payload throughput against payload size",
            "payload size (bytes), log scale",
            "payload GB/s",
            &throughput,
            true,
            (0.0, top * 1.15),
            &|v| format!("{v:.0} B"),
            &mut svg,
        )?;
        let path = dir.join("throughput-vs-size.svg");
        std::fs::write(&path, svg).map_err(|e| format!("{}: {e}", path.display()))?;
        let _ = writeln!(
            md,
            "![Payload throughput against payload size]({link_dir}/throughput-vs-size.svg)\n"
        );
        any = true;
    }
    Ok(if any { md } else { String::new() })
}

fn render(d: &Data, label: &str, command: &str) -> String {
    let mut out = String::new();
    if !label.is_empty() {
        let _ = writeln!(out, "**{label}**\n");
    }
    out.push_str("Machine:\n\n");
    out.push_str(&machine());
    if !command.is_empty() {
        let _ = writeln!(out, "- Command: `{command}`");
    }
    out.push_str(
        "\nAll figures are criterion medians (HDR percentiles for latency). \"M/s\" is millions of \
         events per second; GB/s counts payload bytes (10^9), except for verify (file bytes). \
         Ratios are throughput ratios: above 1× means ours is faster.\n",
    );
    goals(d, &mut out);
    append_tables(d, &mut out);
    growing_table(d, &mut out);
    dirty_table(d, &mut out);
    table_10k(d, &mut out);
    read_tables(d, &mut out);
    ring_table(d, &mut out);
    latency_table(d, &mut out);
    wait_table(d, &mut out);
    replay_table(d, &mut out);
    out
}

fn main() {
    let mut criterion = PathBuf::from("target/criterion");
    let mut results = PathBuf::from("target/journal-bench/results.jsonl");
    let (mut label, mut command, mut update) = (String::new(), String::new(), None);
    let mut chart_dir: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next().unwrap_or_else(|| {
                eprintln!("bench-summary: {a} needs a value");
                std::process::exit(2);
            })
        };
        match a.as_str() {
            "--criterion" => criterion = PathBuf::from(value()),
            "--results" => results = PathBuf::from(value()),
            "--label" => label = value(),
            "--command" => command = value(),
            "--update" => update = Some(PathBuf::from(value())),
            "--charts" => chart_dir = Some(PathBuf::from(value())),
            _ => {
                eprintln!("usage: bench-summary [--criterion DIR] [--results FILE] [--label TEXT] [--command TEXT] [--update FILE] [--charts DIR]");
                std::process::exit(2);
            }
        }
    }
    let mut data = Data::default();
    load_criterion(&criterion, &mut data.crit);
    data.results = load_results(&results);
    if data.crit.is_empty() {
        eprintln!(
            "bench-summary: no criterion estimates under {}",
            criterion.display()
        );
        std::process::exit(2);
    }
    let mut text = render(&data, &label, &command);
    // The charts: into --charts DIR, or docs/bench beside the --update file; linked relative to
    // the updated file.
    let base = update
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    if let Some(dir) = chart_dir.or_else(|| update.as_ref().map(|_| base.join("docs/bench"))) {
        let link = dir
            .strip_prefix(&base)
            .unwrap_or(&dir)
            .to_string_lossy()
            .into_owned();
        match charts(&data, &dir, &link) {
            Ok(md) => text.push_str(&md),
            Err(e) => {
                eprintln!("bench-summary: {e}");
                std::process::exit(2);
            }
        }
    }
    print!("{text}");
    if let Some(path) = update {
        let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            eprintln!("bench-summary: {}: {e}", path.display());
            std::process::exit(2);
        });
        let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
            eprintln!(
                "bench-summary: {} has no {BEGIN} ... {END} section",
                path.display()
            );
            std::process::exit(2);
        };
        let new = format!("{}{BEGIN}\n{text}\n{}", &doc[..b], &doc[e..]);
        if let Err(e) = std::fs::write(&path, new) {
            eprintln!("bench-summary: {}: {e}", path.display());
            std::process::exit(2);
        }
        eprintln!("bench-summary: updated {}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A run with every latency contender (one with a recorded CDF, the rest with percentiles
    /// only) and the throughput benchmarks at every size.
    fn data() -> Data {
        let mut d = Data::default();
        for id in LATENCY_IDS {
            let mut v =
                json!({"p50_ns": 100.0, "p99_ns": 200.0, "p999_ns": 400.0, "max_ns": 9000.0});
            if id == "journal-ring/64" {
                v["cdf"] = json!([[0.0, 40.0], [0.5, 90.0], [0.99, 150.0], [1.0, 8000.0]]);
            }
            d.results.insert(("latency".into(), id.into()), v);
        }
        let est = Est {
            ns: 1000.0,
            elements: Some(100),
            bytes: None,
        };
        for (g, f) in [
            ("append-sync-never", "journal-copy/fresh"),
            ("append-sync-never", "seglog"),
            ("read", "journal-crc"),
        ] {
            for size in SIZES {
                d.crit.insert((g.into(), f.into(), size.into()), est);
            }
        }
        d
    }

    /// Issue 15's goals read the growing 1 GiB group: the pretoucher row against the limit and
    /// the peers, the default row against half the limit, and the dirty-budget results.
    #[test]
    fn growth_goals_pick_the_growing_group_rows() {
        let mut d = Data::default();
        let put = |d: &mut Data, g: &str, f: &str, size: &str, ns: f64| {
            let est = Est {
                ns,
                elements: Some(1),
                bytes: None,
            };
            d.crit.insert((g.into(), f.into(), size.into()), est);
        };
        for size in SIZES {
            put(&mut d, "append-sync-never", "limit", size, 100.0);
            // The fresh rows of the 256 MiB group must not be used for these goals.
            put(
                &mut d,
                "append-sync-never",
                "journal-copy/fresh",
                size,
                10_000.0,
            );
            put(&mut d, GROWING, "journal-copy/pretoucher", size, 110.0);
            put(&mut d, GROWING, "journal-copy/default", size, 300.0);
            put(&mut d, GROWING, "seglog", size, 250.0);
            put(&mut d, GROWING, "khata-rs", size, 200.0);
        }
        put(&mut d, GROWING, "journal-copy/pretoucher", "64", 20.0);
        put(&mut d, "create", "journal/sync-never", "", 400_000.0);
        put(
            &mut d,
            "create",
            "journal/sync-never-pretoucher",
            "",
            1_200_000.0,
        );
        d.results.insert(
            (DIRTY.into(), "journal-pretoucher".into()),
            json!({"bytes": 1e9, "secs": 1.0}),
        );
        d.results.insert(
            (DIRTY.into(), "buffered-1MiB".into()),
            json!({"bytes": 1e9, "secs": 0.95}),
        );
        let mut out = String::new();
        goals(&d, &mut out);
        let row = |start: &str| -> &str {
            out.lines()
                .find(|l| l.starts_with(start))
                .unwrap_or_else(|| panic!("no row {start:?} in\n{out}"))
        };
        assert!(
            row("| 1 KiB append, fresh 1 GiB file, growth included, pretoucher").contains("0.91×")
        );
        assert!(
            row("| 1 KiB append, fresh 1 GiB file, growth included, pretoucher")
                .ends_with("| met |")
        );
        assert!(row("| 64 B append ≤ 25 ns (fresh 1 GiB file, pretoucher)").ends_with("| met |"));
        assert!(row("| 64 B append, fresh 1 GiB file, default options").contains("0.33×"));
        assert!(
            row("| 1024 B append, fresh 1 GiB file, default options").ends_with("| **missed** |")
        );
        assert!(row("| 64 B append ≤ 25 ns (fresh 1 GiB file, pretoucher)").contains("20.0 ns"));
        assert!(
            row("| append ≥ 2 × fastest peer, 64 B, fresh 1 GiB, pretoucher, sync never")
                .contains("10.00×")
        );
        assert!(
            row("| append ≥ 2 × fastest peer, 256 B, fresh 1 GiB, pretoucher, sync never")
                .ends_with("| **missed** |")
        );
        assert!(
            row("| create ≤ 1 ms, sync never (`create/journal/sync-never`)")
                .ends_with("| 400.00 µs | met |")
        );
        assert!(
            row("| create ≤ 1 ms, sync never (`create/journal/sync-never-pretoucher`)")
                .ends_with("| **missed** |")
        );
        assert!(row("| past the dirty-page budget").contains("0.95×"));
        assert!(row("| past the dirty-page budget").ends_with("| met |"));
        let mut tables = String::new();
        growing_table(&d, &mut tables);
        dirty_table(&d, &mut tables);
        assert!(tables.contains("| 1024 B | 300.0 ns | 110.0 ns | 100.0 ns | 0.33× | 0.91× | 250.0 ns | 200.0 ns | 1.82× |"), "{tables}");
        assert!(tables.contains("| journal, 1 KiB appends"), "{tables}");
    }

    #[test]
    fn tailer_rows_in_the_latency_table_and_goals() {
        let mut d = Data::default();
        let mut put = |id: &str, p50: f64, p99: f64| {
            d.results.insert(
                ("latency".into(), id.into()),
                json!({"p50_ns": p50, "p99_ns": p99, "p999_ns": 2.0 * p99, "max_ns": 9000.0, "count": 7}),
            );
        };
        put("floor", 100.0, 200.0);
        put("journal-ring/64", 170.0, 300.0);
        // p50 just within 1.5x, p99 just past 2.5x.
        put("journal-tail/40", 150.0, 501.0);
        let mut table = String::new();
        latency_table(&d, &mut table);
        assert!(
            table.contains(
                "| journal-tail/40 | 150.0 ns | 501.0 ns | 1.00 µs | 9.00 µs | 1.50× | 2.50× | 7 |"
            ),
            "{table}"
        );
        assert!(
            table.contains("| journal-tail/1024 | — | — | — | — | — | — | not run |"),
            "{table}"
        );
        let mut goals = String::new();
        tail_goals(&d, &mut goals);
        let rows: Vec<&str> = goals.lines().collect();
        assert_eq!(rows.len(), 4, "{goals}");
        assert_eq!(
            rows[0],
            "| journal append → tailer (other process) p50 ≤ 1.5 × floor, 40 B | 1.50× (150.0 ns vs floor 100.0 ns; ring 64: 1.70×) | met |"
        );
        assert_eq!(
            rows[1],
            "| journal append → tailer (other process) p99 ≤ 2.5 × floor, 40 B | 2.50× (501.0 ns vs floor 200.0 ns; ring 64: 1.50×) | **missed** |"
        );
        for row in &rows[2..] {
            assert!(row.contains(", 1024 B | —"), "{row}");
            assert!(row.ends_with("| not measured |"), "{row}");
        }
        // The whole rendering carries them in the Goals table.
        assert!(render(&d, "", "").contains(rows[1]));
    }

    /// A run's data from results lines as `wait.rs` records them, read through the results file.
    fn from_results_lines(name: &str, lines: &[serde_json::Value]) -> Data {
        let path =
            std::env::temp_dir().join(format!("bench-summary-{name}-{}.jsonl", std::process::id()));
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(&path, text).unwrap();
        let d = Data {
            results: load_results(&path),
            ..Data::default()
        };
        std::fs::remove_file(&path).unwrap();
        d
    }

    /// A `wait` results line with the fields `results::record` writes in `wait.rs`.
    fn wait_line(id: &str, p50: u64, p99: u64, p999: u64, idle: f64) -> serde_json::Value {
        json!({"group": "wait", "id": id, "p50_ns": p50, "p99_ns": p99, "p999_ns": p999,
               "max_ns": 2 * p999, "count": 2000, "gap_us": 1000, "idle_cpu_percent": idle,
               "idle_seconds": 3.0})
    }

    /// The lines of `text` that start with `start`, exactly one expected.
    fn row<'a>(text: &'a str, start: &str) -> &'a str {
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with(start)).collect();
        assert_eq!(rows.len(), 1, "rows {start:?} in\n{text}");
        rows[0]
    }

    #[test]
    fn wait_table_and_goals_with_every_contender() {
        let d = from_results_lines(
            "wait-all",
            &[
                // A later line for the same contender replaces this one.
                wait_line("journal-ring/block", 1, 1, 1, 50.0),
                wait_line("journal-ring/spin", 300, 1000, 8000, 99.99),
                wait_line("journal-ring/block", 12_000, 38_000, 72_000, 0.23),
                wait_line("journal-tailer/spin", 400, 2000, 9000, 99.9),
                wait_line("journal-tailer/block", 20_000, 50_000, 90_000, 1.5),
                wait_line("ringfire/spin", 150, 600, 6000, 99.99),
                wait_line("ringfire/futex", 10_000, 40_000, 88_000, 0.22),
            ],
        );
        let mut table = String::new();
        wait_table(&d, &mut table);
        let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("| ")).collect();
        assert_eq!(
            rows,
            [
                "| contender | wake-up p50 | p99 | p99.9 | messages | idle CPU, % of a core | p50 / spin | p99 / spin |",
                "| journal-ring/spin | 300.0 ns | 1.00 µs | 8.00 µs | 2000 | 99.99 % | — | — |",
                "| journal-ring/block | 12.00 µs | 38.00 µs | 72.00 µs | 2000 | 0.23 % | 40.00× | 38.00× |",
                "| journal-tailer/spin | 400.0 ns | 2.00 µs | 9.00 µs | 2000 | 99.90 % | — | — |",
                "| journal-tailer/block | 20.00 µs | 50.00 µs | 90.00 µs | 2000 | 1.50 % | 50.00× | 25.00× |",
                "| ringfire/spin | 150.0 ns | 600.0 ns | 6.00 µs | 2000 | 99.99 % | — | — |",
                "| ringfire/futex | 10.00 µs | 40.00 µs | 88.00 µs | 2000 | 0.22 % | 66.67× | 66.67× |",
            ],
            "{table}"
        );
        let mut goals = String::new();
        wait_goals(&d, &mut goals);
        assert_eq!(
            goals.lines().collect::<Vec<_>>(),
            [
                "| idle waiting consumer < 1 % of a core (`wait/journal-ring/block`) | 0.23 % | met |",
                "| idle waiting tailer < 1 % of a core (`wait/journal-tailer/block`) | 1.50 % | **missed** |",
                "| blocking ring wake-up p50 below ringfire's futex wait (`wait`) | 1.20× of ringfire's (12.00 µs vs 10.00 µs) | **missed** |",
                "| blocking ring wake-up p99 below ringfire's futex wait (`wait`) | 0.95× of ringfire's (38.00 µs vs 40.00 µs) | met |",
            ]
        );
        // The whole rendering carries the table after the latency table, and the verdicts in the
        // Goals table.
        let all = render(&d, "", "");
        let at = |s: &str| all.find(s).unwrap_or_else(|| panic!("no {s:?} in\n{all}"));
        assert!(at("#### Goals") < at(goals.lines().next().unwrap()));
        assert!(at("(`latency`)") < at("(`wait`)\n") && at("(`wait`)\n") < at("(`replay`)"));
        assert!(all.contains(rows[2]));
    }

    #[test]
    fn wait_table_lists_unavailable_contenders_and_skips_missing_ones() {
        let d = from_results_lines(
            "wait-partial",
            &[
                wait_line("journal-ring/spin", 300, 1000, 8000, 99.99),
                wait_line("journal-ring/block", 12_000, 38_000, 72_000, 0.23),
                // No journal-tailer/spin: the blocking tailer has nothing to be compared with.
                wait_line("journal-tailer/block", 20_000, 50_000, 90_000, 0.04),
                json!({"group": "wait", "id": "ringfire/futex",
                       "unavailable": "futex: a | b\nsecond line"}),
                // Another group's contender of the same name is not the wait group's.
                json!({"group": "latency", "id": "ringfire/spin", "p50_ns": 1.0}),
            ],
        );
        let mut table = String::new();
        wait_table(&d, &mut table);
        assert_eq!(
            row(&table, "| journal-tailer/block |"),
            "| journal-tailer/block | 20.00 µs | 50.00 µs | 90.00 µs | 2000 | 0.04 % | — | — |"
        );
        assert_eq!(
            row(&table, "| ringfire/futex |"),
            "| ringfire/futex | — | — | — | unavailable: futex: a \\| b second line | — | — | — |"
        );
        for missing in ["| journal-tailer/spin |", "| ringfire/spin |"] {
            assert!(!table.contains(missing), "{missing} in\n{table}");
        }
        let mut goals = String::new();
        wait_goals(&d, &mut goals);
        assert_eq!(
            row(&goals, "| idle waiting tailer"),
            "| idle waiting tailer < 1 % of a core (`wait/journal-tailer/block`) | 0.04 % | met |"
        );
        for name in ["p50", "p99"] {
            let r = row(&goals, &format!("| blocking ring wake-up {name} "));
            assert!(r.contains(" vs —) | not measured |"), "{r}");
        }

        // ringfire missing altogether (a run without the `peers` feature): no rows, no verdict.
        let d = from_results_lines(
            "wait-no-peers",
            &[wait_line(
                "journal-ring/block",
                12_000,
                38_000,
                72_000,
                0.23,
            )],
        );
        let mut table = String::new();
        wait_table(&d, &mut table);
        assert!(!table.contains("ringfire"), "{table}");
        assert_eq!(
            row(&table, "| journal-ring/block |"),
            "| journal-ring/block | 12.00 µs | 38.00 µs | 72.00 µs | 2000 | 0.23 % | — | — |"
        );
        let mut goals = String::new();
        wait_goals(&d, &mut goals);
        assert_eq!(
            row(&goals, "| blocking ring wake-up p50 "),
            "| blocking ring wake-up p50 below ringfire's futex wait (`wait`) | — of ringfire's (12.00 µs vs —) | not measured |"
        );
    }

    #[test]
    fn no_wait_results_no_wait_table() {
        let d = data();
        let mut table = String::new();
        wait_table(&d, &mut table);
        assert_eq!(table, "");
        let all = render(&d, "", "");
        assert!(!all.contains("(`wait`)\n"), "{all}");
        // The goals are listed, not measured.
        let mut goals = String::new();
        wait_goals(&d, &mut goals);
        assert_eq!(goals.lines().count(), 4, "{goals}");
        for r in goals.lines() {
            assert!(
                r.ends_with("| — | not measured |") || r.ends_with("vs —) | not measured |"),
                "{r}"
            );
        }
    }

    #[test]
    fn charts_are_svg_with_one_line_per_contender() {
        let d = data();
        assert_eq!(
            cdf_points(d.result("latency", "journal-ring/64").unwrap()).len(),
            4
        );
        assert_eq!(
            cdf_points(d.result("latency", "floor").unwrap()),
            [(0.5, 100.0), (0.99, 200.0), (0.999, 400.0), (1.0, 9000.0)]
        );
        let dir = std::env::temp_dir().join(format!("bench-summary-test-{}", std::process::id()));
        let md = charts(&d, &dir, "docs/bench").unwrap();
        assert!(md.contains("](docs/bench/latency-cdf.svg)"), "{md}");
        assert!(md.contains("](docs/bench/throughput-vs-size.svg)"), "{md}");
        for (file, series) in [
            ("latency-cdf.svg", LATENCY_IDS.len()),
            ("throughput-vs-size.svg", 3),
        ] {
            let svg = std::fs::read_to_string(dir.join(file)).unwrap();
            assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
            // Each series: its line and its legend sample (the axes are 1 pixel wide).
            let lines: Vec<&str> = svg
                .split("<polyline")
                .skip(1)
                .filter(|l| l.contains("stroke-width=\"2\""))
                .collect();
            assert_eq!(lines.len(), 2 * series, "{file}");
            // The lines span the chart: not every point on one edge.
            let ys = |l: &str| -> Vec<i32> {
                let pts = l
                    .split("points=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap();
                pts.split_whitespace()
                    .map(|p| p.split(',').nth(1).unwrap().parse().unwrap())
                    .collect()
            };
            for l in &lines[..series] {
                let y = ys(l);
                assert!(y.iter().min() < y.iter().max(), "{file}: {l}");
            }
        }
        let svg = std::fs::read_to_string(dir.join("latency-cdf.svg")).unwrap();
        for id in LATENCY_IDS {
            assert!(svg.contains(id), "{id}");
        }
        // The title and axis labels are <text> elements.
        let texts: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .filter_map(|t| t.split_once('>')?.1.split("</text>").next())
            .map(str::trim)
            .collect();
        for want in [
            "One-way latency between two processes: CDF",
            "fraction of round trips at or below",
        ] {
            assert!(texts.contains(&want), "{want}: {texts:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
