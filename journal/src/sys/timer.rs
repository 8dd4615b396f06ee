//! Timer slack (`prctl(PR_SET_TIMERSLACK)`).

/// Sets this thread's timer slack (how late the kernel may wake a sleeper, 50 µs by default) and
/// returns the previous value, so paced replay can sleep accurately.
pub(crate) fn set_timer_slack_ns(ns: u64) -> u64 {
    // SAFETY: prctl with PR_GET_TIMERSLACK / PR_SET_TIMERSLACK takes plain integers and affects only
    // the calling thread.
    unsafe {
        let old = libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0);
        libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0);
        old.max(1) as u64
    }
}
