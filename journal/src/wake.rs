//! The wake-up file `NAME.wake` of a journal (FORMAT.md 15): where a tailer with
//! [`WaitStrategy::Block`](crate::WaitStrategy::Block) announces that it sleeps, and the futex word
//! it sleeps on, so that the writer wakes it after a publication, paying one load per append when
//! nobody sleeps. It carries no data: deleting it at any time only makes tailers back off instead.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{compiler_fence, fence, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::sys::{futex, WakeMap};
use crate::wait::WakeWord;

/// The file's first 8 bytes (FORMAT.md 15.1).
pub const WAKE_MAGIC: [u8; 8] = *b"JRNLWAKE";
/// The layout version this crate writes and reads.
pub const WAKE_VERSION: u32 = 1;
/// The length of the layout; the file is at least this long.
pub const WAKE_LEN: usize = 32;
/// Bit of `flags`: the writer that opened the file last registered for the waiters' expedited
/// memory barrier (FORMAT.md 15.3).
pub const FLAG_BARRIER: u32 = 1;

/// How long a tailer sleeps at most when the writer's barrier is in place (FORMAT.md 15.4): a
/// bound on the cost of a wake-up file replaced under it, or of a writer that does not wake.
pub(crate) const RECHECK: Duration = Duration::from_millis(100);
/// How long a tailer sleeps at most without the barrier: the cost of a missed wake-up.
pub(crate) const UNFENCED: Duration = Duration::from_millis(1);
/// How often a tailer re-reads the file's header and identity, or looks again for a missing one.
const REVALIDATE: Duration = Duration::from_secs(1);

/// The path of the wake-up file of the journal at `journal`: the same path with `.wake` appended.
pub fn wake_path(journal: &Path) -> PathBuf {
    let mut s = journal.as_os_str().to_owned();
    s.push(".wake");
    PathBuf::from(s)
}

/// The fields of a wake-up file (FORMAT.md 15.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WakeHeader {
    /// Layout version (1).
    pub version: u32,
    /// Bit 0: [`FLAG_BARRIER`]; other bits are ignored.
    pub flags: u32,
    /// The futex word.
    pub seq: u32,
    /// Nonzero when a tailer announced it may sleep.
    pub sleeping: u32,
    /// Wake-up calls the writers made (informational).
    pub wakes: u64,
}

/// Decodes the first bytes of a wake-up file; `None` when it is not usable (FORMAT.md 15.2):
/// shorter than [`WAKE_LEN`], another magic, or another version.
pub fn decode_wake(bytes: &[u8]) -> Option<WakeHeader> {
    let b = bytes.get(..WAKE_LEN)?;
    if b[..8] != WAKE_MAGIC {
        return None;
    }
    let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let version = u32_at(8);
    if version != WAKE_VERSION {
        return None;
    }
    Some(WakeHeader {
        version,
        flags: u32_at(12),
        seq: u32_at(16),
        sleeping: u32_at(20),
        wakes: u64::from_le_bytes(b[24..32].try_into().unwrap()),
    })
}

/// The 32 bytes of a new wake-up file with `flags`.
pub fn encode_wake(flags: u32) -> [u8; WAKE_LEN] {
    let mut b = [0u8; WAKE_LEN];
    b[..8].copy_from_slice(&WAKE_MAGIC);
    b[8..12].copy_from_slice(&WAKE_VERSION.to_le_bytes());
    b[12..16].copy_from_slice(&flags.to_le_bytes());
    b
}

fn read_header(file: &File) -> io::Result<Option<WakeHeader>> {
    let mut b = [0u8; WAKE_LEN];
    let mut got = 0;
    while got < WAKE_LEN {
        match file.read_at(&mut b[got..], got as u64)? {
            0 => break,
            n => got += n,
        }
    }
    Ok(decode_wake(&b[..got]))
}

fn word(map: &WakeMap) -> WakeWord<'_> {
    WakeWord {
        seq: map.seq(),
        sleeping: map.sleeping(),
    }
}

/// The writer's side (FORMAT.md 15.3): made when a writer opens its journal (the file
/// [`wake_path`] names), or when a set's writer opens its set (`journal-set.wake`, shared by the
/// writers of all its segments, SET.md 6.5.1).
pub(crate) struct Waker {
    map: WakeMap,
    file: File,
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waker").finish_non_exhaustive()
    }
}

impl Waker {
    /// Creates or opens the wake-up file at `path`, rewriting it if it is not usable, registers
    /// this process for the waiters' barrier and records whether that worked in `flags`.
    pub(crate) fn open(path: &Path) -> io::Result<Waker> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let flags = if futex::register_global_barrier() {
            FLAG_BARRIER
        } else {
            0
        };
        if read_header(&file)?.is_some() {
            // Keep `seq`, `sleeping` (a tailer may be asleep already) and `wakes`.
            file.write_all_at(&flags.to_le_bytes(), 12)?;
        } else {
            file.write_all_at(&encode_wake(flags), 0)?;
        }
        let map = WakeMap::new(&file)?;
        // Orders this process's later loads of `sleeping` after the registration, for a waiter
        // whose barrier ran before it (FORMAT.md 15.3).
        fence(Ordering::SeqCst);
        Ok(Waker { map, file })
    }

    /// After a publication (its release store of `write_offset`): wakes the sleeping tailers if
    /// one announced itself. The fast path is one relaxed load; the compiler fence keeps it after
    /// the store, and the waiters' `membarrier` does the hardware's part (FORMAT.md 15.3).
    #[inline(always)]
    pub(crate) fn after_publish(&self) {
        compiler_fence(Ordering::SeqCst);
        if self.map.sleeping().load(Ordering::Relaxed) != 0 {
            self.wake();
        }
    }

    /// Wakes the sleepers: clears `sleeping`, increments `seq`, `FUTEX_WAKE`s all. Returns whether
    /// it made the system call.
    #[cold]
    #[inline(never)]
    pub(crate) fn wake(&self) -> bool {
        let woke = word(&self.map).wake();
        if woke {
            self.map.wakes().fetch_add(1, Ordering::Relaxed);
        }
        woke
    }

    /// At a clean close: wakes the sleepers and clears [`FLAG_BARRIER`] (no registered writer is
    /// left to pair with their barrier).
    pub(crate) fn close(&self) {
        self.wake();
        let _ = self.file.write_all_at(&0u32.to_le_bytes(), 12);
    }

    /// Wake-up system calls made through this file, by every writer (the `wakes` counter).
    #[cfg(feature = "test-hooks")]
    pub(crate) fn wakes(&self) -> u64 {
        self.map.wakes().load(Ordering::Relaxed)
    }
}

/// A wake-up file as a tailer holds it.
struct Held {
    map: WakeMap,
    barrier: bool,
    checked: Instant,
}

/// What a reader knows of its journal's (or its set's) wake-up file: opened lazily, at the first
/// blocking wait, and opened afresh at most every [`REVALIDATE`] (which follows a file replaced or
/// rewritten).
pub(crate) struct WakeSlot {
    /// The wake-up file's path.
    path: PathBuf,
    state: Mutex<Option<Result<Arc<Held>, Instant>>>,
    /// Longest sleep with the barrier in place (test hook; [`RECHECK`] by default).
    recheck: Mutex<Option<Duration>>,
    /// A pause before each announcement (test hook; none by default).
    #[cfg(feature = "test-hooks")]
    pause: Mutex<Option<Duration>>,
    /// Blocking rounds begun ([`WakeSlot::sleep`] calls), for tests that check an idle tailer
    /// does not spin.
    #[cfg(feature = "test-hooks")]
    rounds: std::sync::atomic::AtomicU64,
}

impl WakeSlot {
    /// The slot of the wake-up file at `path`, not opened yet.
    pub(crate) fn new(path: PathBuf) -> WakeSlot {
        WakeSlot {
            path,
            state: Mutex::new(None),
            recheck: Mutex::new(None),
            #[cfg(feature = "test-hooks")]
            pause: Mutex::new(None),
            #[cfg(feature = "test-hooks")]
            rounds: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn open(path: &Path) -> io::Result<Option<Held>> {
        let file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(h) = read_header(&file)? else {
            return Ok(None);
        };
        Ok(Some(Held {
            map: WakeMap::new(&file)?,
            barrier: h.flags & FLAG_BARRIER != 0,
            checked: Instant::now(),
        }))
    }

    /// The file if it is usable, re-checking it (or looking for it again) when due.
    fn get(&self) -> Option<Arc<Held>> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match &*st {
            Some(Ok(h)) if now.duration_since(h.checked) < REVALIDATE => return Some(h.clone()),
            Some(Err(tried)) if now.duration_since(*tried) < REVALIDATE => return None,
            _ => {}
        }
        let fresh = match Self::open(&self.path) {
            Ok(Some(h)) => h,
            _ => {
                *st = Some(Err(now));
                return None;
            }
        };
        let h = Arc::new(fresh);
        *st = Some(Ok(h.clone()));
        Some(h)
    }

    /// Test hook: the longest sleep when the writer's barrier is in place.
    #[cfg(feature = "test-hooks")]
    pub(crate) fn set_recheck(&self, d: Duration) {
        *self.recheck.lock().unwrap_or_else(|p| p.into_inner()) = Some(d);
    }

    /// Test hook: a pause before each announcement, between the caller's last poll and step 2 of
    /// FORMAT.md 15.3, where a descheduled tailer would be.
    #[cfg(feature = "test-hooks")]
    pub(crate) fn set_pause(&self, d: Duration) {
        *self.pause.lock().unwrap_or_else(|p| p.into_inner()) = Some(d);
    }

    /// Test hook: the blocking rounds begun so far.
    #[cfg(feature = "test-hooks")]
    pub(crate) fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::Relaxed)
    }

    /// One blocking round of a tailer (FORMAT.md 15.3): announce, barrier, `moved()` (whether
    /// `write_offset` moved past what the tailer saw; for a set's tailer, or whether the next
    /// segment exists, SET.md 6.5.1), and sleep unless it did. Returns `Ok(false)` when there is no
    /// usable wake-up file (the caller backs off instead).
    pub(crate) fn sleep<E>(
        &self,
        deadline: Option<Instant>,
        moved: impl FnOnce() -> Result<bool, E>,
    ) -> Result<bool, E> {
        #[cfg(feature = "test-hooks")]
        self.rounds.fetch_add(1, Ordering::Relaxed);
        let Some(h) = self.get() else {
            return Ok(false);
        };
        #[cfg(feature = "test-hooks")]
        if let Some(d) = *self.pause.lock().unwrap_or_else(|p| p.into_inner()) {
            std::thread::sleep(d);
        }
        let w = word(&h.map);
        let seen = w.seq.load(Ordering::SeqCst);
        w.sleeping.store(1, Ordering::SeqCst);
        let fenced = h.barrier && futex::global_barrier();
        fence(Ordering::SeqCst);
        if moved()? {
            return Ok(true);
        }
        let mut timeout = if fenced {
            self.recheck
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or(RECHECK)
        } else {
            UNFENCED
        };
        if let Some(d) = deadline {
            timeout = timeout.min(d.saturating_duration_since(Instant::now()));
        }
        w.sleep(seen, timeout);
        Ok(true)
    }
}
