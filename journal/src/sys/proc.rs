//! `/proc` queries.

/// Liveness without a clock: a process's state letter and start time (`/proc/PID/stat`
/// fields 3 and 22), or `None` if it does not exist (spec/RING.md 7).
pub(crate) fn process_identity(pid: u32) -> Option<(u8, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = *fields.next()?.as_bytes().first()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}
