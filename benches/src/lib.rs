//! Shared helpers for the benchmarks in `benches/` (issue 6; the tables are in `BENCHMARKS.md`).
//!
//! - [`Scratch`] and [`ShmFile`]: files for one benchmark process, removed on drop (journals and
//!   peers' files go under [`std::env::temp_dir`], rings and shared words under `/dev/shm`).
//! - [`child`]: the two-process benchmarks re-execute their own binary with a role in the
//!   environment; [`child::role`] is checked at the top of `main`, before criterion starts.
//! - [`SharedWords`]: atomics in a `MAP_SHARED` file, for the cache-line ping-pong floor and for
//!   control words between a benchmark and its child.
//! - [`results`]: facts criterion does not keep (latency percentiles, sizes), as JSON lines that
//!   `bench-summary` turns into the markdown tables together with criterion's own estimates.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod child;
pub mod results;
mod shm;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::Criterion;

pub use shm::SharedWords;

/// The payload sizes of the append and read groups, in bytes.
pub const SIZES: [usize; 3] = [64, 256, 1024];

/// The payload sizes of the ring, latency and replay groups, in bytes.
pub const RING_SIZES: [usize; 2] = [64, 1024];

/// A deterministic, non-zero payload of `len` bytes.
pub fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31) | 1).collect()
}

/// Criterion settings shared by every group: 10 samples, 1 s warm-up, 2 s measurement (the whole
/// suite stays around ten minutes on two cores). Command-line flags (`--measurement-time`,
/// `--warm-up-time`, `--sample-size`, `--quick`) override these.
pub fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args()
}

/// A number from the environment variable `name`, or `default` if it is unset or not a number.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Criterion's options that take a value (their value is not a benchmark filter).
const VALUE_OPTIONS: &[&str] = &[
    "--warm-up-time",
    "--measurement-time",
    "--sample-size",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--save-baseline",
    "--baseline",
    "--baseline-lenient",
    "--load-baseline",
    "--profile-time",
    "--output-format",
    "--plotting-backend",
    "--color",
    "-c",
    "-s",
    "-b",
];

/// Whether the benchmark `id` (`group/function/parameter`) passes the filter given on the command
/// line (criterion's positional argument, matched here as a substring), for the measurements this
/// crate runs outside criterion. No filter: everything passes.
pub fn selected(id: &str) -> bool {
    let mut args = std::env::args().skip(1);
    let mut filter = None;
    while let Some(a) = args.next() {
        if VALUE_OPTIONS.contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            filter = Some(a);
        }
    }
    match filter {
        None => true,
        Some(f) => id.contains(&f),
    }
}

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// A name that is unique within this process: `journal-bench-{tag}-{pid}-{n}`.
pub fn unique_name(tag: &str) -> String {
    format!(
        "journal-bench-{tag}-{}-{}",
        std::process::id(),
        UNIQUE.fetch_add(1, Ordering::Relaxed)
    )
}

/// A scratch directory under [`std::env::temp_dir`] (set `TMPDIR` to move it), removed with its
/// contents on drop.
#[derive(Debug)]
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    /// Creates a new, empty scratch directory.
    pub fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(unique_name(tag));
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        Scratch { dir }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A path inside the directory that no earlier call returned (nothing is created).
    pub fn fresh(&self, stem: &str) -> PathBuf {
        self.dir.join(unique_name(stem))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A path under `/dev/shm` (memory only), removed on drop if something was created there.
#[derive(Debug)]
pub struct ShmFile {
    path: PathBuf,
}

impl ShmFile {
    /// A fresh path (nothing is created).
    pub fn new(tag: &str) -> ShmFile {
        ShmFile {
            path: Path::new("/dev/shm").join(unique_name(tag)),
        }
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ShmFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Pins the calling thread to `cpu`, unless `JOURNAL_BENCH_PIN=0` or the machine has no such CPU.
/// The two-party benchmarks put the two sides on different cores so that they measure the
/// cross-core path rather than the scheduler. Returns whether the thread is pinned.
pub fn pin_to_cpu(cpu: usize) -> bool {
    if std::env::var("JOURNAL_BENCH_PIN").is_ok_and(|v| v == "0") {
        return false;
    }
    // Not available_parallelism(): it counts this thread's affinity mask, which an earlier pin (or
    // one inherited from the spawning thread) has narrowed.
    // SAFETY: sysconf has no preconditions; _SC_NPROCESSORS_ONLN is a valid name.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if cpu as i64 >= cpus as i64 {
        return false;
    }
    // SAFETY: cpu_set_t is a plain bit set for which all-zero bytes are a valid (empty) value.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below the number of CPUs, far below the set's capacity (1024).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid, initialized cpu_set_t of the size passed; pid 0 is this thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    rc == 0
}

/// Writes the 16-byte header and the payload of one format-v1 entry into `out` the plain way:
/// the raw limit the journal's append is compared with (a copy plus a CRC-32 of the payload).
#[inline]
pub fn limit_store(out: &mut [u8], timestamp: i64, payload: &[u8], crc: u32) {
    out[..8].copy_from_slice(&timestamp.to_le_bytes());
    out[8..12].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    out[12..16].copy_from_slice(&crc.to_le_bytes());
    out[16..16 + payload.len()].copy_from_slice(payload);
}

/// A buffer of `len` bytes whose pages have all been written once (so later stores take no fault).
pub fn prefaulted(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    for b in v.iter_mut().step_by(4096) {
        *b = 1;
    }
    std::hint::black_box(&mut v);
    v
}
