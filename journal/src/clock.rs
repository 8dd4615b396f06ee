//! The wall clock.

/// Nanoseconds since the Unix epoch (`CLOCK_REALTIME`, read through the vDSO: no system call).
#[inline]
pub fn now_ns() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i64,
        Err(e) => -(e.duration().as_nanos() as i64),
    }
}
