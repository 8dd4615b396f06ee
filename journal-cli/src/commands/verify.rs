//! `journal verify`: check every entry (FORMAT.md 6), status 1 if the journal is damaged.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use super::DamageJson;
use crate::exit::Status;
use crate::{output, progress};

const EXAMPLES: &str = "\
Examples:
  journal verify quotes.journal
  journal verify --json quotes.journal
  journal verify quotes.journal || journal repair --dry-run quotes.journal

Exit status: 0 intact; 1 damaged (the offset of the first bad entry, why, and how much before it
is valid are printed); 2 usage or I/O error, or the file is not a journal.
Damage reasons: truncated, bad_header, overrun, checksum, bad_padding (spec/FORMAT.md 6.1).";

/// Check every entry of a journal (CRC-32 included) and report the first damage.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The journal file.
    file: PathBuf,
    /// Print one JSON object: valid, events, valid_bytes, write_offset, file_size,
    /// event_count_hint, error (null or {offset, reason}).
    #[arg(long)]
    json: bool,
}

struct Config {
    path: PathBuf,
    json: bool,
}

impl From<Args> for Config {
    fn from(a: Args) -> Self {
        Config {
            path: a.file,
            json: a.json,
        }
    }
}

/// `verify --json`.
#[derive(Debug, Serialize)]
struct Verdict {
    valid: bool,
    /// Valid events (the content).
    events: u64,
    /// End of the content: the valid prefix of the file, header included.
    valid_bytes: u64,
    write_offset: u64,
    file_size: u64,
    /// The header's `event_count`, a hint that may lag (not damage).
    event_count_hint: u64,
    error: Option<DamageJson>,
}

/// Runs `journal verify`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let cfg = Config::from(args);
    let reader = super::open_reader(&cfg.path)?;
    let report = {
        let _spinner = progress::Spinner::start(
            progress::wanted(cfg.json),
            format!("verifying {}", output::path(&cfg.path)),
        );
        reader.verify()?
    };
    if cfg.json {
        super::print_json(&Verdict {
            valid: report.is_intact(),
            events: report.events,
            valid_bytes: report.end,
            write_offset: report.write_offset,
            file_size: report.file_len,
            event_count_hint: report.event_count_hint,
            error: report.damage.map(DamageJson::from),
        })?;
    } else {
        let mut out = output::stdout();
        let path = output::path(&cfg.path);
        match report.damage {
            None => writeln!(
                out,
                "{path}: intact: {}, {} bytes",
                output::count(report.events, "event"),
                report.end
            )?,
            Some(d) => {
                writeln!(
                    out,
                    "{path}: damaged at offset {}: {} ({})",
                    d.offset,
                    d.reason.describe(),
                    d.reason.as_str()
                )?;
                writeln!(
                    out,
                    "valid before it: {}, {} bytes",
                    output::count(report.events, "event"),
                    report.end
                )?;
                let lost = report.write_offset.min(report.file_len) - report.end;
                writeln!(
                    out,
                    "not content: {} from offset {} to {} (write_offset {}, file size {}); \
                     'journal repair' cuts them",
                    output::count(lost, "byte"),
                    report.end,
                    report.end + lost,
                    report.write_offset,
                    report.file_len
                )?;
            }
        }
        if report.event_count_hint != report.events {
            writeln!(
                out,
                "note: the header's event_count hint is {}, not {} (a hint, not damage)",
                report.event_count_hint, report.events
            )?;
        }
        out.flush()?;
    }
    Ok(if report.is_intact() {
        Status::Success
    } else {
        Status::DataBad
    })
}
