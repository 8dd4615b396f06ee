//! Shared test helpers: temporary directories, deterministic payloads, a counting allocator,
//! skipping a test for a missing prerequisite, waiting on a condition, child processes killed on
//! drop.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};

#[path = "../helpers/mod.rs"]
mod helpers;
#[allow(unused_imports)] // reason: each test binary uses its own subset of these helpers
pub use helpers::{in_ci, skip, wait_for, InCi, KillOnDrop, PATIENCE};

/// A temporary directory removed on drop.
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    /// A fresh private directory (mkdtemp semantics) named after `name`, removed on drop.
    pub fn new(name: &str) -> TempDir {
        TempDir(
            tempfile::Builder::new()
                .prefix(&format!("journal-it-{name}-"))
                .tempdir()
                .unwrap(),
        )
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
}

/// A closed journal at `path` holding one 32-byte event at `timestamp` (72 bytes), then extended
/// by `set_len` to `len` bytes: a sparse tail past the content.
pub fn journal_with_sparse_tail(path: &Path, timestamp: i64, len: u64) {
    let mut w = journal::Writer::create(path).unwrap();
    w.append(timestamp, &[5u8; 32]).unwrap();
    w.close().unwrap();
    assert_eq!(std::fs::metadata(path).unwrap().len(), 72);
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// A count from the environment variable `name` (to scale a test up), or `default`.
pub fn env_count(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The count a child process reads as the first line of its stdin (the tests' child roles).
pub fn count_from_stdin() -> u64 {
    let line = std::io::stdin().lines().next().expect("a line on stdin");
    line.expect("stdin").trim().parse().expect("a count")
}

/// The write-type system calls (`write`, `pwrite`, ...) the calling thread made so far (`syscw` of
/// `/proc/thread-self/io`), or `None` where the kernel does not count them (no task I/O
/// accounting). Reading it makes read calls only, which it does not count.
pub fn thread_write_calls() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/thread-self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("syscw:"))?
        .trim()
        .parse()
        .ok()
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
