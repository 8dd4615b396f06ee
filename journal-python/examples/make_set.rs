//! Writes a journal set (spec/SET.md) for the Python package's tests, through the library's
//! `SetWriter` (the command-line tool does not write sets).
//!
//! ```text
//! make_set DIR ROLL_MAX_BYTES [RETAIN_SEGMENTS] < events
//! ```
//!
//! Creates the set in DIR (or opens it if it exists), rolling when a segment's content would pass
//! ROLL_MAX_BYTES (at least 4096) and, with RETAIN_SEGMENTS, keeping only that many segments.
//! Each line of standard input is one event, `TIMESTAMP HEX_PAYLOAD` (the payload may be empty);
//! the event is published before the next line is read, and the line `.` is answered with the
//! line `ok` on standard output once every event before it is published (a follower test's
//! handshake). Exit 0 at the end of input; 2 with a one-line message on bad input.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use journal::set::layout::{Retention, RollPolicy, SetMeta};
use journal::SetWriter;

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, max_bytes) = match &args[..] {
        [dir, bytes] | [dir, bytes, _] => (dir, bytes),
        _ => return Err("usage: make_set DIR ROLL_MAX_BYTES [RETAIN_SEGMENTS] < events".into()),
    };
    let max_bytes: u64 = max_bytes
        .parse()
        .map_err(|e| format!("ROLL_MAX_BYTES: {e}"))?;
    let mut meta = SetMeta {
        roll: RollPolicy::by_size(max_bytes),
        ..SetMeta::default()
    };
    if let Some(keep) = args.get(2) {
        meta.retention = Retention {
            keep: keep.parse().map_err(|e| format!("RETAIN_SEGMENTS: {e}"))?,
            ..Retention::default()
        };
    }
    let mut w = SetWriter::open_or_create(dir, meta).map_err(|e| e.to_string())?;
    let stdout = std::io::stdout();
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.map_err(|e| e.to_string())?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line == "." {
            let mut out = stdout.lock();
            writeln!(out, "ok")
                .and_then(|_| out.flush())
                .map_err(|e| e.to_string())?;
            continue;
        }
        let mut parts = line.splitn(2, ' ');
        let ts: i64 = parts
            .next()
            .unwrap_or("")
            .parse()
            .map_err(|e| format!("line {}: timestamp: {e}", n + 1))?;
        let payload = hex(parts.next().unwrap_or("").trim())
            .ok_or_else(|| format!("line {}: the payload is not hex", n + 1))?;
        w.append(ts, &payload).map_err(|e| e.to_string())?;
    }
    w.close().map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("make_set: error: {e}");
            ExitCode::from(2)
        }
    }
}
