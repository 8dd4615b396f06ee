//! `journal info`: the header, the content's extent and time range, and whether a writer is live.

use std::io::Write;
use std::path::PathBuf;

use journal::{Damage, Error};
use serde::Serialize;

use super::DamageJson;
use crate::exit::Status;
use crate::{output, progress, time};

const EXAMPLES: &str = "\
Examples:
  journal info quotes.journal
  journal info --json quotes.journal | jq .events

Counting the events walks the whole journal, checking every entry. A damaged journal is described
(status 0); use 'journal verify' to test one.";

/// Show a journal's header, event count, first and last timestamps, size, and whether a writer
/// holds it open.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The journal file.
    file: PathBuf,
    /// Print one JSON object instead of text.
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

/// `info --json`.
#[derive(Debug, Serialize)]
struct Info {
    path: String,
    /// The file's length in bytes.
    file_size: u64,
    write_offset: u64,
    /// Bytes holding the journal: `min(write_offset, file_size)`.
    used_bytes: u64,
    /// Bytes past `write_offset` (preallocated by a writer; a clean close removes them).
    preallocated_bytes: u64,
    /// The header's `event_count` (a hint).
    event_count_hint: u64,
    /// Valid events (the content, FORMAT.md 6.2).
    events: u64,
    start_timestamp: i64,
    first_timestamp: Option<i64>,
    last_timestamp: Option<i64>,
    writer_present: bool,
    valid: bool,
    error: Option<DamageJson>,
}

/// Runs `journal info`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let cfg = Config::from(args);
    let reader = super::open_reader(&cfg.path)?;
    let header = reader.header()?;
    let writer_present = reader.writer_present()?;
    let used = header.write_offset.min(header.file_len);

    let mut bar = progress::Bar::new(progress::wanted(cfg.json), used, "counting");
    let (mut events, mut first, mut last, mut damage) = (0u64, None, None, None);
    for item in reader.iter() {
        match item {
            Ok(ev) => {
                events += 1;
                first.get_or_insert(ev.timestamp);
                last = Some(ev.timestamp);
                if events % 65_536 == 0 {
                    bar.set(ev.end());
                }
            }
            Err(Error::Damaged { offset, reason, .. }) => damage = Some(Damage { offset, reason }),
            Err(e) => return Err(e.into()),
        }
    }
    drop(bar);

    let info = Info {
        path: output::path(&cfg.path),
        file_size: header.file_len,
        write_offset: header.write_offset,
        used_bytes: used,
        preallocated_bytes: header.file_len.saturating_sub(header.write_offset),
        event_count_hint: header.event_count,
        events,
        start_timestamp: header.start_timestamp,
        first_timestamp: first,
        last_timestamp: last,
        writer_present,
        valid: damage.is_none(),
        error: damage.map(DamageJson::from),
    };
    if cfg.json {
        super::print_json(&info)?;
    } else {
        print_text(&info, damage)?;
    }
    Ok(Status::Success)
}

fn print_text(i: &Info, damage: Option<Damage>) -> anyhow::Result<()> {
    let when = |ts: Option<i64>| match ts {
        Some(ns) => format!("{} ({ns})", time::rfc3339(ns)),
        None => "-".to_owned(),
    };
    let mut out = output::stdout();
    writeln!(out, "file:             {}", i.path)?;
    writeln!(
        out,
        "size:             {} bytes ({} used, {} preallocated)",
        i.file_size, i.used_bytes, i.preallocated_bytes
    )?;
    writeln!(out, "write_offset:     {}", i.write_offset)?;
    writeln!(out, "start_timestamp:  {}", when(Some(i.start_timestamp)))?;
    writeln!(out, "events:           {}", i.events)?;
    writeln!(out, "event_count hint: {}", i.event_count_hint)?;
    writeln!(out, "first event:      {}", when(i.first_timestamp))?;
    writeln!(out, "last event:       {}", when(i.last_timestamp))?;
    writeln!(
        out,
        "writer:           {}",
        if i.writer_present {
            "a writer holds the lock (the journal is being written)"
        } else {
            "none"
        }
    )?;
    match damage {
        None => writeln!(out, "content:          intact")?,
        Some(d) => writeln!(
            out,
            "content:          damaged at offset {}: {} ({})",
            d.offset,
            d.reason.describe(),
            d.reason.as_str()
        )?,
    }
    out.flush()?;
    Ok(())
}
