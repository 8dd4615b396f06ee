//! The SIGBUS guard: survives a mapped file being truncated under us (FORMAT.md 10).
//!
//! A store or load to a page of a file mapping that lies past the end of the file raises SIGBUS. Our
//! handler checks whether the faulting address lies in one of our mappings (registered here); if so
//! it maps a private zero page over the faulting page and returns, so the access completes (reads
//! see zeros, which no valid entry or ring record is) and the mapping is flagged as shrunk, which its
//! owner reports as an error.
//!
//! The handler is process-wide and installed once, when the first mapping is registered. A fault
//! anywhere else is passed on to the disposition that was installed before ours, every time: a
//! handler function is called with the same arguments; the default action (or "ignore", which the
//! kernel overrides for a fault) is restored, and the faulting access, run again on return, meets it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Once;

const SLOTS: usize = 4096;
static STARTS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static ENDS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static WRITABLE: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];
static SHRUNK: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];
/// The slot whose `SHRUNK` flag a fault in this slot's range sets: itself, or for a range added with
/// [`Guarded::also`], the slot of the registration it was added to.
static OWNER: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
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

/// A registered mapping; unregisters on drop. INVARIANTS: `slot` holds this mapping's range; a
/// registration made with [`Guarded::also`] is dropped before the one it was added to (its owner
/// slot must not be reused while it can still set that slot's flag).
pub(crate) struct Guarded {
    slot: Option<usize>,
}

impl Guarded {
    /// Registers `[start, start + len)`. Without a free slot, the mapping is simply unguarded.
    pub(crate) fn new(start: *const u8, len: usize, writable: bool) -> Guarded {
        register(start, len, writable, None)
    }

    /// Registers another mapping `[start, start + len)` of the same file, whose faults set this
    /// registration's flag ([`Self::shrunk`]). The caller drops the result before `self`.
    pub(crate) fn also(&self, start: *const u8, len: usize, writable: bool) -> Guarded {
        match self.slot {
            Some(owner) => register(start, len, writable, Some(owner)),
            None => Guarded { slot: None },
        }
    }

    /// The mapping now covers `[start, start + len)`: it grew in place (same start, larger length)
    /// or was moved by `mremap` (which only its owner, holding `&mut`, can do while nothing else
    /// touches it).
    pub(crate) fn set_range(&mut self, start: *const u8, len: usize) {
        let Some(i) = self.slot else { return };
        let start = start as usize;
        if STARTS[i].load(Ordering::Relaxed) == start {
            // Growth in place: the range only widens, so a concurrent fault is never missed.
            ENDS[i].store(start + len, Ordering::Release);
        } else {
            ENDS[i].store(0, Ordering::Release);
            STARTS[i].store(start, Ordering::Release);
            ENDS[i].store(start + len, Ordering::Release);
        }
    }

    /// A handle on this registration's flag, for an owner that keeps the registration itself
    /// behind a lock. Valid while the registration lives.
    pub(crate) fn flag(&self) -> Flag {
        Flag(self.slot)
    }

    /// Whether a page of this mapping was found past the end of its file.
    #[inline]
    pub(crate) fn shrunk(&self) -> bool {
        self.slot.is_some_and(|i| SHRUNK[i].load(Ordering::Relaxed))
    }
}

/// The "shrunk" flag of a registration, see [`Guarded::flag`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Flag(Option<usize>);

impl Flag {
    /// Whether a page of the registration's mappings was found past the end of its file.
    #[inline]
    pub(crate) fn is_set(self) -> bool {
        self.0.is_some_and(|i| SHRUNK[i].load(Ordering::Relaxed))
    }
}

fn register(start: *const u8, len: usize, writable: bool, owner: Option<usize>) -> Guarded {
    install();
    for i in 0..SLOTS {
        if ENDS[i].load(Ordering::Relaxed) == 0
            && STARTS[i]
                .compare_exchange(0, start as usize, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            WRITABLE[i].store(writable, Ordering::Relaxed);
            SHRUNK[i].store(false, Ordering::Relaxed);
            OWNER[i].store(owner.unwrap_or(i), Ordering::Relaxed);
            ENDS[i].store(start as usize + len, Ordering::Release);
            return Guarded { slot: Some(i) };
        }
    }
    Guarded { slot: None }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            ENDS[i].store(0, Ordering::Release);
            STARTS[i].store(0, Ordering::Release);
        }
    }
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t for a SA_SIGINFO handler of SIGBUS.
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    let page = PAGE.load(Ordering::Relaxed);
    // Only a fault (si_code > 0) has an address; a SIGBUS sent with kill(2) is never ours.
    let slots = if code > 0 { SLOTS } else { 0 };
    for i in 0..slots {
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
                SHRUNK[OWNER[i].load(Ordering::Relaxed)].store(true, Ordering::Relaxed);
                return;
            }
        }
    }
    chain(sig, info, ctx);
}

/// Passes a fault that is not in one of our mappings to the disposition installed before ours.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: PREVIOUS was initialized before our handler was installed and is never written again
    // (INVARIANTS), so a shared borrow of it is sound here.
    let previous: &libc::sigaction = unsafe { &*(&raw const PREVIOUS).cast::<libc::sigaction>() };
    let action = previous.sa_sigaction;
    if action == libc::SIG_DFL || action == libc::SIG_IGN {
        // Restore it and return: the faulting access runs again and meets it. The default action
        // ends the process, as it would have without us; so does "ignore", which the kernel
        // overrides for a fault. A signal sent with kill(2) is not raised again by returning, so
        // it is raised here under the restored disposition.
        // SAFETY: `previous` is a valid sigaction (above); sigaction, raise and the siginfo read
        // (valid, from the kernel) are async-signal-safe.
        unsafe {
            libc::sigaction(libc::SIGBUS, previous, std::ptr::null_mut());
            if (*info).si_code <= 0 {
                libc::raise(sig);
            }
        }
    } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: with SA_SIGINFO, `sa_sigaction` is the address of a three-argument handler that
        // its installer gave the kernel; it is called as the kernel would call it.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(action) };
        f(sig, info, ctx);
    } else {
        // SAFETY: without SA_SIGINFO, `sa_sigaction` is the address of a one-argument handler.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(action) };
        f(sig);
    }
}
