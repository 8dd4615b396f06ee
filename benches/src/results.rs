//! Facts criterion does not keep, as JSON lines for `bench-summary`.
//!
//! Each line is one object with at least `group` and `id`; a later line with the same pair replaces
//! an earlier one. The file is `$JOURNAL_BENCH_RESULTS` if set, else `journal-bench/results.jsonl`
//! in the cargo target directory the benchmark binary was built in.

use std::io::Write;
use std::path::PathBuf;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

/// Where results go (see the module documentation).
pub fn path() -> PathBuf {
    if let Some(p) = std::env::var_os("JOURNAL_BENCH_RESULTS") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<bench>-<hash>: three levels up is the target directory.
    let exe = std::env::current_exe().expect("current_exe");
    let target = exe
        .ancestors()
        .nth(3)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("journal-bench").join("results.jsonl")
}

/// Appends one result line: `{"group": group, "id": id, ...fields}`.
pub fn record(group: &str, id: &str, fields: Value) {
    let mut obj = json!({ "group": group, "id": id });
    if let (Some(o), Value::Object(f)) = (obj.as_object_mut(), fields) {
        o.extend(f);
    }
    let path = path();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let line = format!("{obj}\n");
    match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        Ok(mut f) => {
            if let Err(e) = f.write_all(line.as_bytes()) {
                eprintln!("warning: cannot write {}: {e}", path.display());
            }
        }
        Err(e) => eprintln!("warning: cannot open {}: {e}", path.display()),
    }
}

/// Percentiles of a histogram of round-trip times, halved: one-way latency in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OneWay {
    /// Round trips recorded.
    pub count: u64,
    /// Median one-way latency.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Maximum.
    pub max: f64,
    /// Mean.
    pub mean: f64,
    /// The distribution for `bench-summary`'s CDF chart: one-way latency at each of
    /// [`CDF_QUANTILES`], as `(quantile, ns)`.
    pub cdf: [(f64, f64); CDF_QUANTILES.len()],
}

/// The quantiles [`OneWay::cdf`] holds, from the minimum to the maximum, denser in the tail.
pub const CDF_QUANTILES: [f64; 16] = [
    0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999,
    1.0,
];

impl OneWay {
    /// Halves the round-trip percentiles of `rtt` (recorded in nanoseconds).
    pub fn from_round_trips(rtt: &Histogram<u64>) -> OneWay {
        let half = |v: u64| v as f64 / 2.0;
        OneWay {
            count: rtt.len(),
            p50: half(rtt.value_at_quantile(0.5)),
            p99: half(rtt.value_at_quantile(0.99)),
            p999: half(rtt.value_at_quantile(0.999)),
            max: half(rtt.max()),
            mean: rtt.mean() / 2.0,
            cdf: CDF_QUANTILES.map(|q| (q, half(rtt.value_at_quantile(q)))),
        }
    }

    /// As JSON fields for [`record`].
    pub fn to_json(&self) -> Value {
        json!({
            "count": self.count,
            "p50_ns": self.p50,
            "p99_ns": self.p99,
            "p999_ns": self.p999,
            "max_ns": self.max,
            "mean_ns": self.mean,
            "cdf": self.cdf.iter().map(|&(q, ns)| json!([q, ns])).collect::<Vec<_>>(),
        })
    }
}

/// A histogram for round-trip times from 1 ns to 10 s, three significant digits.
pub fn rtt_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 10_000_000_000, 3).expect("histogram bounds")
}
