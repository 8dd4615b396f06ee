//! Futex waits and wakes on a 32-bit word of a shared mapping (the blocking waits of
//! [`WaitStrategy::Block`](crate::WaitStrategy::Block)).
//!
//! The word lives in a `MAP_SHARED` file mapping that other processes map too, so the calls do not
//! use `FUTEX_PRIVATE_FLAG`: the kernel keys the wait on the file and offset, and a wake from any
//! process that maps the same bytes reaches the waiters.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// Sleeps while `word` holds `expected`, for at most `timeout`. Returns when woken, when the word
/// no longer holds `expected` (at once), on a signal, or at the timeout: the caller re-checks its
/// condition in every case.
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `word` is a valid, 4-byte aligned u32 for the duration of the call (an `AtomicU32`
    // borrowed for it); the kernel only reads it. `ts` is a valid relative timeout that outlives
    // the call. The other arguments are ignored by FUTEX_WAIT. Any error (EAGAIN: the value
    // changed; EINTR; ETIMEDOUT) is a return to the caller, who re-checks.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Wakes every waiter sleeping on `word`, in any process. Returns how many were woken.
pub(crate) fn wake_all(word: &AtomicU32) -> usize {
    // SAFETY: `word` is a valid, 4-byte aligned u32 for the duration of the call; FUTEX_WAKE does
    // not access the memory at all (it only uses its address as the key), and ignores the
    // timeout and second-address arguments.
    let n = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            i32::MAX,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    usize::try_from(n).unwrap_or(0)
}

const MEMBARRIER_CMD_GLOBAL_EXPEDITED: libc::c_int = 1 << 1;
const MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED: libc::c_int = 1 << 2;

fn membarrier(cmd: libc::c_int) -> bool {
    // SAFETY: membarrier(2) takes two integers and accesses no memory of the caller; an
    // unsupported command or kernel returns -1 (EINVAL, ENOSYS, or EPERM under a seccomp filter).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_membarrier,
            cmd,
            0 as libc::c_uint,
            0 as libc::c_int,
        )
    };
    rc == 0
}

/// Registers this process for expedited global memory barriers
/// (`MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED`): afterwards, another process's
/// [`global_barrier`] runs a full memory barrier on every running thread of this one. A journal's
/// writer calls it once, when it opens the wake-up file (FORMAT.md 15.3). Returns whether the
/// kernel accepted it.
pub(crate) fn register_global_barrier() -> bool {
    membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED)
}

/// `MEMBARRIER_CMD_GLOBAL_EXPEDITED`: a full memory barrier on the calling thread and on every
/// running thread of every process registered with [`register_global_barrier`], all made before
/// it returns. Returns whether it was made.
pub(crate) fn global_barrier() -> bool {
    membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)
}
