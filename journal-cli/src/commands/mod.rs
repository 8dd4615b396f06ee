//! One module per subcommand, each an `Args` struct (clap) and a `run` that first validates the
//! arguments into a plain `Config`, then does the work.

pub mod append;
pub mod capture;
pub mod demo;
pub mod dump;
pub mod export;
pub mod import;
pub mod import_pcap;
pub mod index;
pub mod info;
#[cfg(feature = "nats")]
pub mod mirror;
pub mod prune;
#[cfg(feature = "nats")]
pub mod publish;
pub mod repair;
pub mod replay;
pub mod ring;
pub mod stats;
pub mod tail;
pub mod verify;

use std::path::Path;

use journal::Reader;

use crate::output;

/// Opens a journal for reading, naming the file in the error.
pub fn open_reader(path: &Path) -> anyhow::Result<Reader> {
    Reader::open(path).map_err(|e| open_error(e, path))
}

/// The error for a journal that could not be opened. The library opens journals with
/// `O_NOFOLLOW` (a link planted where a journal is expected cannot redirect the writes), which the
/// kernel reports as "Too many levels of symbolic links"; that is said plainly here. Other errors
/// pass through (the library's errors already name the path).
pub fn open_error(e: journal::Error, path: &Path) -> anyhow::Error {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    match e {
        journal::Error::Io { .. } if is_link => anyhow::anyhow!(
            "{}: is a symbolic link, and journals are not opened through one (so that a link \
             planted where a journal is expected cannot redirect its writes); give the path of \
             the file itself",
            output::path(path)
        ),
        e => e.into(),
    }
}

/// Says, on one line, how much of a damaged journal is still good.
pub fn damage_message(
    path: &Path,
    offset: u64,
    reason: journal::DamageReason,
    events: u64,
) -> String {
    format!(
        "{}: damaged at offset {offset}: {} ({}); the {} before it ({offset} bytes) {} valid",
        output::path(path),
        reason.describe(),
        reason.as_str(),
        output::count(events, "event"),
        if events == 1 { "is" } else { "are" },
    )
}

/// A sync-policy or count argument `N` that must be positive.
pub fn positive(s: &str, what: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) => Err(format!("{what} must be at least 1")),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{what} '{s}': {e}")),
    }
}

/// The `error` object of the JSON outputs: where the first bad entry is and why (FORMAT.md 6.1).
#[derive(Debug, serde::Serialize)]
pub struct DamageJson {
    /// Offset of the first entry that is not valid.
    pub offset: u64,
    /// `truncated`, `bad_header`, `overrun`, `checksum` or `bad_padding`.
    pub reason: &'static str,
}

impl From<journal::Damage> for DamageJson {
    fn from(d: journal::Damage) -> Self {
        DamageJson {
            offset: d.offset,
            reason: d.reason.as_str(),
        }
    }
}

/// Writes `value` as one line of JSON to stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = crate::output::stdout();
    serde_json::to_writer(&mut out, value)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}
