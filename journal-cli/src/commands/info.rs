//! `journal info`: the header, the content's extent and time range, and whether a writer is live;
//! for a journal set (spec/SET.md), its policies and its segments.

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
FILE' rebuilds it).

Given a journal set (a directory holding a journal-set file), info shows its roll and retention
policies and one line per segment: its name, first and last global event index, event count,
first and newest event times, size with its index, and state (sealed; or newest, or writing when a
writer holds it); then the totals and whether the segments chain (each one starts where the one
before ends).";

/// Show a journal's header, event count, first and last timestamps, size, and whether a writer
/// holds it open; or a journal set's policies and segments.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The journal file, or a journal set's directory.
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
    if journal::set::is_set(&cfg.path) {
        return set_info(&cfg);
    }
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

/// `info --json` of a set.
#[derive(Debug, Serialize)]
struct SetInfo {
    path: String,
    set: bool,
    roll: RollJson,
    retention: RetentionJson,
    segments: Vec<SegmentJson>,
    /// The global index of the set's first available event (the first segment's name).
    first_index: Option<u64>,
    /// The global index the next appended event gets.
    next_index: Option<u64>,
    /// Valid events in all segments.
    events: u64,
    /// The segments' and their indexes' bytes.
    total_bytes: u64,
    writer_present: bool,
    /// Whether each segment starts where the one before ends (SET.md 4); `null` when a segment
    /// is unreadable.
    chained: Option<bool>,
}

#[derive(Debug, Serialize)]
struct RollJson {
    period_ns: u64,
    offset_ns: u64,
    max_bytes: u64,
}

#[derive(Debug, Serialize)]
struct RetentionJson {
    keep: u64,
    max_bytes: u64,
    max_age_ns: u64,
}

#[derive(Debug, Serialize)]
struct SegmentJson {
    name: String,
    first_index: u64,
    last_index: Option<u64>,
    events: u64,
    first_timestamp: Option<i64>,
    newest_timestamp: Option<i64>,
    segment_bytes: u64,
    index_bytes: u64,
    /// `sealed`, `newest` or `writing` (newest, with a writer holding it), or `unreadable`.
    state: &'static str,
    damaged: bool,
    /// Why the segment could not be read, for `unreadable`.
    error: Option<String>,
}

/// `journal info SET`.
fn set_info(cfg: &Config) -> anyhow::Result<Status> {
    let meta = journal::set::SetMeta::read(&cfg.path)?;
    let listed = journal::set::list_segments(&cfg.path)?;
    let count = listed.len();
    let mut segments = Vec::with_capacity(count);
    let mut writer_present = false;
    for (i, seg) in listed.iter().enumerate() {
        let name = output::path(
            seg.path
                .file_name()
                .map(std::path::Path::new)
                .unwrap_or(&seg.path),
        );
        let newest = i + 1 == count;
        match journal::set::summarize(&seg.path, seg.first_index) {
            Ok(s) => {
                let writing =
                    newest && journal::Reader::open(&seg.path).and_then(|r| r.writer_present())?;
                writer_present |= writing;
                segments.push(SegmentJson {
                    name,
                    first_index: s.first_index,
                    last_index: s.last_index(),
                    events: s.events,
                    first_timestamp: s.first_timestamp,
                    newest_timestamp: s.newest_timestamp,
                    segment_bytes: s.segment_bytes,
                    index_bytes: s.index_bytes,
                    state: match (newest, writing) {
                        (false, _) => "sealed",
                        (true, false) => "newest",
                        (true, true) => "writing",
                    },
                    damaged: s.damaged,
                    error: None,
                });
            }
            // Removed by a prune since the listing: no longer part of the set.
            Err(journal::Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => segments.push(SegmentJson {
                name,
                first_index: seg.first_index,
                last_index: None,
                events: 0,
                first_timestamp: None,
                newest_timestamp: None,
                segment_bytes: std::fs::metadata(&seg.path).map_or(0, |m| m.len()),
                index_bytes: 0,
                state: "unreadable",
                damaged: false,
                error: Some(output::escape_controls(&e.to_string())),
            }),
        }
    }
    let chained = if segments.iter().any(|s| s.state == "unreadable") {
        None
    } else {
        Some(
            segments
                .windows(2)
                .all(|w| w[0].first_index + w[0].events == w[1].first_index),
        )
    };
    let info = SetInfo {
        path: output::path(&cfg.path),
        set: true,
        roll: RollJson {
            period_ns: meta.roll.period_ns,
            offset_ns: meta.roll.offset_ns,
            max_bytes: meta.roll.max_bytes,
        },
        retention: RetentionJson {
            keep: meta.retention.keep,
            max_bytes: meta.retention.max_bytes,
            max_age_ns: meta.retention.max_age_ns,
        },
        first_index: segments.first().map(|s| s.first_index),
        next_index: segments.last().map(|s| s.first_index + s.events),
        events: segments.iter().map(|s| s.events).sum(),
        total_bytes: segments
            .iter()
            .map(|s| s.segment_bytes + s.index_bytes)
            .sum(),
        writer_present,
        chained,
        segments,
    };
    if cfg.json {
        super::print_json(&info)?;
    } else {
        print_set_text(&info)?;
    }
    Ok(Status::Success)
}

/// `86400000000000` as `1d`, `5400000000000` as `90m`: the largest unit that divides it.
fn span(ns: u64) -> String {
    const UNITS: [(u64, &str); 5] = [
        (86_400_000_000_000, "d"),
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1, "ns"),
    ];
    let (div, unit) = UNITS
        .iter()
        .find(|(d, _)| ns.is_multiple_of(*d))
        .copied()
        .unwrap_or((1, "ns"));
    format!("{}{unit}", ns / div)
}

fn print_set_text(i: &SetInfo) -> anyhow::Result<()> {
    let mut out = output::stdout();
    writeln!(out, "set:              {}", i.path)?;
    let mut roll = Vec::new();
    if i.roll.period_ns != 0 {
        let mut by_time = format!("every {}", span(i.roll.period_ns));
        if i.roll.offset_ns != 0 {
            by_time.push_str(&format!(
                " (cycles start {} after the epoch's)",
                span(i.roll.offset_ns)
            ));
        }
        roll.push(by_time);
    }
    if i.roll.max_bytes != 0 {
        roll.push(format!("at {} bytes", i.roll.max_bytes));
    }
    writeln!(
        out,
        "roll:             {}",
        if roll.is_empty() {
            "none".to_owned()
        } else {
            roll.join(", or ")
        }
    )?;
    let r = &i.retention;
    let mut keep = Vec::new();
    if r.keep != 0 {
        keep.push(format!("keep {}", output::count(r.keep, "segment")));
    }
    if r.max_bytes != 0 {
        keep.push(format!("at most {} bytes", r.max_bytes));
    }
    if r.max_age_ns != 0 {
        keep.push(format!(
            "at most {} of age (a segment's newest event against the set's)",
            span(r.max_age_ns)
        ));
    }
    writeln!(
        out,
        "retention:        {}",
        if keep.is_empty() {
            "none".to_owned()
        } else {
            format!("{} (applied by the writer at each roll)", keep.join(", "))
        }
    )?;
    match (i.first_index, i.next_index) {
        (Some(first), Some(next)) => writeln!(
            out,
            "segments:         {}, {} (global indexes {first} to {next} exclusive)",
            i.segments.len(),
            output::count(i.events, "event")
        )?,
        _ => writeln!(out, "segments:         none")?,
    }
    writeln!(
        out,
        "size:             {} bytes (segments and indexes)",
        i.total_bytes
    )?;
    writeln!(
        out,
        "writer:           {}",
        if i.writer_present {
            "a writer holds the newest segment (the set is being written)"
        } else {
            "none"
        }
    )?;
    writeln!(
        out,
        "chain:            {}",
        match i.chained {
            Some(true) => "intact (each segment starts where the one before ends)",
            Some(false) => {
                "broken: a segment does not start where the one before ends (see 'journal verify')"
            }
            None => "unknown (a segment is unreadable)",
        }
    )?;
    if i.segments.is_empty() {
        out.flush()?;
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<28}  {:>10}  {:>10}  {:>10}  {:<30}  {:<30}  {:>12}  state",
        "segment", "first", "last", "events", "first event", "newest event", "bytes"
    )?;
    let when = |ts: Option<i64>| ts.map_or_else(|| "-".to_owned(), time::rfc3339);
    for s in &i.segments {
        let mut state = s.state.to_owned();
        if s.damaged {
            state.push_str(", damaged");
        }
        if let Some(e) = &s.error {
            state.push_str(&format!(": {e}"));
        }
        writeln!(
            out,
            "{:<28}  {:>10}  {:>10}  {:>10}  {:<30}  {:<30}  {:>12}  {state}",
            s.name,
            s.first_index,
            s.last_index
                .map_or_else(|| "-".to_owned(), |l| l.to_string()),
            s.events,
            when(s.first_timestamp),
            when(s.newest_timestamp),
            s.segment_bytes + s.index_bytes,
        )?;
    }
    out.flush()?;
    Ok(())
}
