//! Shared test helpers: temporary directories, deterministic payloads, a counting allocator,
//! skipping a test for a missing prerequisite, waiting on a condition, child processes killed on
//! drop.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// No test waits longer than this for a condition that should hold almost at once.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Whether a test may skip for a missing prerequisite when CI runs it (`CI=true`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InCi {
    /// CI's machine has the prerequisite: missing there, it is a failure, not a skip.
    Required,
    /// A property of the host's kernel or network configuration that CI's machine may lack too:
    /// the test skips there as well, saying why.
    MaySkip,
}

/// Whether this run is CI's (`CI=true`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Reports that the calling test cannot run because `prerequisite` is missing (`why`), and returns
/// so that the test can return. The line goes straight to the process's stderr, past the test
/// harness's capture, so every run shows it. Under `CI=true` a [`InCi::Required`] prerequisite
/// fails the test instead.
#[track_caller]
pub fn skip(prerequisite: &str, why: impl std::fmt::Display, in_ci_: InCi) {
    let at = std::panic::Location::caller();
    if in_ci_ == InCi::Required && in_ci() {
        panic!("{prerequisite} is missing, and CI=true requires it: {why} ({at})");
    }
    let test = std::thread::current().name().unwrap_or("?").to_string();
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {prerequisite} is missing: {why} ({at})"
    );
}

/// Polls `done` until it holds, panicking with `what` after [`PATIENCE`].
#[track_caller]
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "waited {PATIENCE:?} for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A child process that is killed (and reaped) when dropped, unless it was already waited for:
/// a failing test leaves no process behind.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl Deref for KillOnDrop {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("journal-it-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A count from the environment variable `name` (to scale a test up), or `default`.
pub fn env_count(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// SplitMix64: a small deterministic generator, so a child process and its parent agree on data.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A seeded stream of [`mix`] values.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = mix(self.0);
        self.0
    }

    /// Uniform enough in `0..n` for tests; 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The payload of event `index` in the process tests: length 0..max_len, bytes from the index.
pub fn payload_for(index: u64, max_len: usize) -> Vec<u8> {
    let len = (mix(index) % (max_len as u64 + 1)) as usize;
    (0..len)
        .map(|i| mix(index ^ ((i as u64) << 32)) as u8)
        .collect()
}

/// The timestamp of event `index` in the process tests.
pub fn timestamp_for(index: u64) -> i64 {
    1_700_000_000_000_000_000 + index as i64 * 1_000
}

/// Counts allocations made by the current thread while [`count_allocs`] runs.
pub struct CountingAlloc;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = COUNTING.try_with(|c| {
        if c.get() {
            let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
            let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
        }
    });
}

// SAFETY: delegates every call to the system allocator unchanged; the bookkeeping only touches
// const-initialized thread-locals, which never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller upholds `alloc`'s contract, which we pass on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` and returns (its result, allocations made by this thread, largest allocation).
pub fn count_allocs<T>(f: impl FnOnce() -> T) -> (T, u64, usize) {
    ALLOCS.with(|a| a.set(0));
    LARGEST.with(|l| l.set(0));
    COUNTING.with(|c| c.set(true));
    let out = f();
    COUNTING.with(|c| c.set(false));
    (out, ALLOCS.with(|a| a.get()), LARGEST.with(|l| l.get()))
}

/// Small options for tests: 4 KiB chunks so growth happens often; a modest reservation.
pub fn small_opts() -> journal::WriterOptions {
    let mut o = journal::WriterOptions::new();
    o.chunk_size(4096).max_size(1 << 30);
    o
}

/// All events of a journal as owned (timestamp, payload) pairs; panics on damage.
pub fn read_all(path: &Path) -> Vec<(i64, Vec<u8>)> {
    let r = journal::Reader::open(path).unwrap();
    r.iter()
        .map(|e| {
            let e = e.unwrap();
            (e.timestamp, e.payload.to_vec())
        })
        .collect()
}
