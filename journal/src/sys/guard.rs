//! The SIGBUS guard: survives a mapped file being truncated under us (FORMAT.md 10).
//!
//! A store or load to a page of a file mapping that lies past the end of the file raises SIGBUS. Our
//! handler checks whether the faulting address lies in one of our mappings (registered here); if so
//! it maps a private zero page over the faulting page and returns, so the access completes (reads
//! see zeros, which no valid entry or ring record is) and the mapping is flagged as shrunk, which its
//! owner reports as an error. A fault anywhere else is handed back to the previous disposition.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Once;

const SLOTS: usize = 4096;
static STARTS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static ENDS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static WRITABLE: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];
static SHRUNK: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];
static PAGE: AtomicUsize = AtomicUsize::new(4096);
static INSTALL: Once = Once::new();
/// The disposition before ours. INVARIANTS: written once, inside `INSTALL`, before our handler
/// is installed; only read afterwards.
static mut PREVIOUS: std::mem::MaybeUninit<libc::sigaction> = std::mem::MaybeUninit::uninit();

fn install() {
    INSTALL.call_once(|| {
        PAGE.store(super::page_size() as usize, Ordering::Relaxed);
        // SAFETY: sigaction structs are plain C data (all-zero is valid); PREVIOUS is written
        // here, once, before the handler that reads it can run (INVARIANTS above).
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = handler as *const () as usize;
            act.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER;
            libc::sigemptyset(&mut act.sa_mask);
            let previous = &raw mut PREVIOUS;
            libc::sigaction(libc::SIGBUS, &act, (*previous).as_mut_ptr());
        }
    });
}

/// A registered mapping; unregisters on drop. INVARIANTS: `slot` holds this mapping's range.
pub(crate) struct Guarded {
    slot: Option<usize>,
}

impl Guarded {
    /// Registers `[start, start + len)`. Without a free slot, the mapping is simply unguarded.
    pub(crate) fn new(start: *const u8, len: usize, writable: bool) -> Guarded {
        install();
        for i in 0..SLOTS {
            if ENDS[i].load(Ordering::Relaxed) == 0
                && STARTS[i]
                    .compare_exchange(0, start as usize, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            {
                WRITABLE[i].store(writable, Ordering::Relaxed);
                SHRUNK[i].store(false, Ordering::Relaxed);
                ENDS[i].store(start as usize + len, Ordering::Release);
                return Guarded { slot: Some(i) };
            }
        }
        Guarded { slot: None }
    }

    /// Whether a page of this mapping was found past the end of its file.
    #[inline]
    pub(crate) fn shrunk(&self) -> bool {
        self.slot.is_some_and(|i| SHRUNK[i].load(Ordering::Relaxed))
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            ENDS[i].store(0, Ordering::Release);
            STARTS[i].store(0, Ordering::Release);
        }
    }
}

extern "C" fn handler(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t for a SA_SIGINFO handler of SIGBUS.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = PAGE.load(Ordering::Relaxed);
    for i in 0..SLOTS {
        let end = ENDS[i].load(Ordering::Acquire);
        let start = STARTS[i].load(Ordering::Acquire);
        if end != 0 && addr >= start && addr < end {
            let prot = if WRITABLE[i].load(Ordering::Relaxed) {
                libc::PROT_READ | libc::PROT_WRITE
            } else {
                libc::PROT_READ
            };
            // SAFETY: the faulting page lies inside a live mapping of ours (it is registered,
            // and a mapping is unregistered before it is unmapped); replacing that one page
            // with a private zero page is what this guard is for. mmap is async-signal-safe.
            let r = unsafe {
                libc::mmap(
                    (addr & !(page - 1)) as *mut libc::c_void,
                    page,
                    prot,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if r != libc::MAP_FAILED {
                SHRUNK[i].store(true, Ordering::Relaxed);
                return;
            }
        }
    }
    // Not ours: restore the previous disposition and return; the faulting access runs again
    // and meets it (the default one ends the process, as it would have without us).
    // SAFETY: PREVIOUS was initialized before this handler was installed (INVARIANTS).
    unsafe {
        let previous = &raw const PREVIOUS;
        libc::sigaction(libc::SIGBUS, (*previous).as_ptr(), std::ptr::null_mut());
    }
}
