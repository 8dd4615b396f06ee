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
(status 0); use 'journal verify' to test one. The index line describes NAME.idx (spec/INDEX.md):
current (it covers the whole content), stale (it covers a prefix, and is still used), missing, or
damaged (unusable, with the reason; readers then answer from the journal alone; 'journal index
FILE' rebuilds it).";

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
    index: IndexInfo,
}

/// The index beside the journal (spec/INDEX.md), as `info --json` shows it.
#[derive(Debug, Serialize)]
struct IndexInfo {
    /// `current`, `stale`, `missing` or `damaged`.
    state: &'static str,
    /// For `damaged`: the fault's name (INDEX.md 3, 4, 6.1) and its description.
    fault: Option<String>,
    reason: Option<String>,
    records: Option<u64>,
    interval_bytes: Option<u64>,
    interval_events: Option<u64>,
    /// The journal offset the index covers, and the events below it.
    checkpoint: Option<u64>,
    checkpoint_events: Option<u64>,
}

/// Loads the index and places its checkpoint against the content's end (O(1) checks of
/// INDEX.md 6.1; `journal index --check` compares it in full).
fn index_info(reader: &journal::Reader, content_end: u64) -> IndexInfo {
    use journal::index::{Index, IndexFault};
    match Index::load(reader) {
        Ok(idx) => IndexInfo {
            state: if idx.checkpoint().offset >= content_end {
                "current"
            } else {
                "stale"
            },
            fault: None,
            reason: None,
            records: Some(idx.records().len() as u64),
            interval_bytes: Some(idx.intervals().bytes),
            interval_events: Some(idx.intervals().events),
            checkpoint: Some(idx.checkpoint().offset),
            checkpoint_events: Some(idx.checkpoint().index),
        },
        Err(f) => IndexInfo {
            state: if f == IndexFault::Missing {
                "missing"
            } else {
                "damaged"
            },
            fault: (f != IndexFault::Missing).then(|| f.as_str().to_owned()),
            reason: (f != IndexFault::Missing).then(|| f.to_string()),
            records: None,
            interval_bytes: None,
            interval_events: None,
            checkpoint: None,
            checkpoint_events: None,
        },
    }
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
    let mut end = journal::HEADER_LEN;
    for item in reader.iter() {
        match item {
            Ok(ev) => {
                events += 1;
                first.get_or_insert(ev.timestamp);
                last = Some(ev.timestamp);
                end = ev.end();
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
        index: index_info(&reader, end),
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
    let x = &i.index;
    match (x.state, &x.reason) {
        ("current" | "stale", _) => writeln!(
            out,
            "index:            {} ({} records, every {} bytes / {} events; checkpoint at offset {}, \
             {} events)",
            x.state,
            x.records.unwrap_or(0),
            x.interval_bytes.unwrap_or(0),
            x.interval_events.unwrap_or(0),
            x.checkpoint.unwrap_or(0),
            x.checkpoint_events.unwrap_or(0)
        )?,
        (state, Some(reason)) => writeln!(out, "index:            {state}: {reason}")?,
        (state, None) => writeln!(out, "index:            {state}")?,
    }
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
