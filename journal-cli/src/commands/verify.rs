//! `journal verify`: check every entry (FORMAT.md 6), status 1 if the journal is damaged.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use journal::set::layout::segment_name;
use journal::set::SetReader;
use journal::Report;

use super::DamageJson;
use crate::exit::Status;
use crate::{output, progress};

const EXAMPLES: &str = "\
Examples:
  journal verify quotes.journal
  journal verify --json quotes.journal
  journal verify quotes.journal || journal repair --dry-run quotes.journal
  journal verify quotes/                  # a journal set: every segment, and the chain

Exit status: 0 intact; 1 damaged (the offset of the first bad entry, why, and how much before it
is valid are printed); 2 usage or I/O error, or the file is not a journal.
Damage reasons: truncated, bad_header, overrun, checksum, bad_padding (spec/FORMAT.md 6.1).

Given a journal set's directory (spec/SET.md), every segment is checked in full, one verdict each,
and so is the chain: each segment must start at the global index where the one before it ends. A
pair that does not is reported with both names and the missing (or doubly numbered) indexes. The
last line is the set's verdict; the status is 1 if any segment is damaged or the chain breaks.
--json prints one object: set, path, valid, first_index, events, segments [{name, first_index,
sealed, and the fields above}], breaks [{segment, events, expected, found}].";

/// Check every entry of a journal (CRC-32 included) and report the first damage; given a journal
/// set's directory, check every segment and the chain between them.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The journal file, or a journal set's directory.
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

impl From<&Report> for Verdict {
    fn from(r: &Report) -> Verdict {
        Verdict {
            valid: r.is_intact(),
            events: r.events,
            valid_bytes: r.end,
            write_offset: r.write_offset,
            file_size: r.file_len,
            event_count_hint: r.event_count_hint,
            error: r.damage.map(DamageJson::from),
        }
    }
}

/// `verify --json` of a set.
#[derive(Debug, Serialize)]
struct SetVerdict {
    set: bool,
    path: String,
    /// Every segment intact and the segments chain.
    valid: bool,
    /// The set's first available global index.
    first_index: u64,
    /// Valid events in all segments.
    events: u64,
    segments: Vec<SegmentVerdict>,
    /// Where the chain of first indexes breaks (SET.md 4).
    breaks: Vec<BreakJson>,
}

/// One segment in [`SetVerdict`]: its name, first global index and state, and the fields of a
/// single journal's verdict.
#[derive(Debug, Serialize)]
struct SegmentVerdict {
    name: String,
    first_index: u64,
    sealed: bool,
    #[serde(flatten)]
    verdict: Verdict,
}

/// A chain break: `segment` holds `events` events, so the next segment should start at
/// `expected`; it starts at `found`.
#[derive(Debug, Serialize)]
struct BreakJson {
    segment: String,
    events: u64,
    expected: u64,
    found: u64,
}

/// Runs `journal verify`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let cfg = Config::from(args);
    if crate::source::is_set(&cfg.path)? {
        return verify_set(&cfg);
    }
    let reader = super::open_reader(&cfg.path)?;
    let report = {
        let _spinner = progress::Spinner::start(
            progress::wanted(cfg.json),
            format!("verifying {}", output::path(&cfg.path)),
        );
        reader.verify()?
    };
    if cfg.json {
        super::print_json(&Verdict::from(&report))?;
    } else {
        let mut out = output::stdout();
        print_report(&mut out, &output::path(&cfg.path), &report, None)?;
        out.flush()?;
    }
    Ok(if report.is_intact() {
        Status::Success
    } else {
        Status::DataBad
    })
}

/// Where a segment stands in its set, for [`print_report`].
#[derive(Clone, Copy)]
enum Place {
    Sealed,
    Newest,
}

/// The text verdict of one journal (or one segment of a set, at `place`).
fn print_report(
    out: &mut impl Write,
    path: &str,
    report: &Report,
    place: Option<Place>,
) -> anyhow::Result<()> {
    if matches!(place, Some(Place::Newest)) && report.file_len < journal::HEADER_LEN {
        // SET.md 6.1, 7.2: a writer creating the set's segment has not written its header yet.
        writeln!(
            out,
            "{path}: being created ({}, no header yet): no events",
            output::count(report.file_len, "byte")
        )?;
        return Ok(());
    }
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
                "not content: {} from offset {} to {} (write_offset {}, file size {}); {}",
                output::count(lost, "byte"),
                report.end,
                report.end + lost,
                report.write_offset,
                report.file_len,
                match place {
                    None => "'journal repair' cuts them",
                    Some(Place::Newest) => "'journal repair' on the set cuts them",
                    Some(Place::Sealed) => {
                        "a sealed segment, which 'journal repair' never changes: its events \
                         past the damage are lost to the set"
                    }
                }
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
    Ok(())
}

/// `journal verify SET`: every segment walked in full, and the chain of first indexes checked
/// (SET.md 4).
fn verify_set(cfg: &Config) -> anyhow::Result<Status> {
    let set = SetReader::open(&cfg.path)?;
    let report = {
        let _spinner = progress::Spinner::start(
            progress::wanted(cfg.json),
            format!("verifying {}", output::path(&cfg.path)),
        );
        set.verify()?
    };
    let last = report.segments.len().saturating_sub(1);
    let events_of = |first: u64| {
        report
            .segments
            .iter()
            .find(|s| s.first_index == first)
            .map_or(0, |s| s.report.events)
    };
    if cfg.json {
        super::print_json(&SetVerdict {
            set: true,
            path: output::path(&cfg.path),
            valid: report.is_intact(),
            first_index: report.first_index(),
            events: report.events(),
            segments: report
                .segments
                .iter()
                .enumerate()
                .map(|(k, s)| SegmentVerdict {
                    name: segment_name(s.first_index),
                    first_index: s.first_index,
                    sealed: k < last,
                    verdict: Verdict::from(&s.report),
                })
                .collect(),
            breaks: report
                .breaks
                .iter()
                .map(|b| BreakJson {
                    segment: segment_name(b.first_index),
                    events: events_of(b.first_index),
                    expected: b.expected,
                    found: b.found,
                })
                .collect(),
        })?;
    } else {
        let mut out = output::stdout();
        for (k, seg) in report.segments.iter().enumerate() {
            let place = if k < last {
                Place::Sealed
            } else {
                Place::Newest
            };
            print_report(&mut out, &output::path(&seg.path), &seg.report, Some(place))?;
            if let Some(b) = report
                .breaks
                .iter()
                .find(|b| b.first_index == seg.first_index)
            {
                writeln!(
                    out,
                    "chain broken: {} holds {}, so the next segment should be {}, but it is {} \
                     ({})",
                    segment_name(b.first_index),
                    output::count(seg.report.events, "event"),
                    segment_name(b.expected),
                    segment_name(b.found),
                    match (b.found > b.expected, b.found.abs_diff(b.expected)) {
                        (true, 1) => format!("event {} is missing", b.expected),
                        (true, _) => format!("events {}..={} are missing", b.expected, b.found - 1),
                        (false, 1) => format!("index {} is numbered twice", b.found),
                        (false, _) => {
                            format!(
                                "indexes {}..={} are numbered twice",
                                b.found,
                                b.expected - 1
                            )
                        }
                    }
                )?;
            }
        }
        let path = output::path(&cfg.path);
        let segments = output::count(report.segments.len() as u64, "segment");
        let events = output::count(report.events(), "event");
        if report.is_intact() {
            writeln!(out, "{path}: intact: {segments}, {events}{}", span(&report))?;
        } else {
            let damaged = report
                .segments
                .iter()
                .filter(|s| !s.report.is_intact())
                .count() as u64;
            writeln!(
                out,
                "{path}: damaged: {damaged} of {segments} damaged, {}; {events} valid",
                output::count(report.breaks.len() as u64, "chain break"),
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

/// ` (global indexes F..=L)` for a set with events.
fn span(report: &journal::set::SetReport) -> String {
    let first = report.first_index();
    match report.events() {
        0 => String::new(),
        n => format!(" (global indexes {first}..={})", first + n - 1),
    }
}
