//! `journal prune`: remove a journal set's oldest sealed segments by count, age or total size
//! (spec/SET.md 8).

use std::io::Write;
use std::path::{Path, PathBuf};

use journal::set::{self, PrunePolicy, Removal};

use crate::exit::Status;
use crate::{output, time, units};

const EXAMPLES: &str = "\
Examples:
  journal prune --keep 30 quotes/
  journal prune --before 2026-11-01T00:00:00Z --dry-run quotes/
  journal prune --max-bytes 500GiB --keep 90 quotes/

Removes whole sealed segments (and their indexes) only, oldest first and without leaving a hole,
and never the newest segment, the one a writer appends to. A segment goes when any limit given
says so. Safe while a writer appends and readers read: a reader already in a removed segment
finishes it; one that needs a removed segment is told so. Prints one line per removed segment:
its name, its events (global indexes), its newest event, its size with its index, and the limit
that removed it; then a summary.";

/// Remove a journal set's oldest sealed segments (never the one being written): beyond a count,
/// whose newest event is older than a time, or until the set fits a size.
#[derive(Debug, clap::Args)]
#[command(
    after_help = EXAMPLES,
    group(clap::ArgGroup::new("limit").required(true).multiple(true)
        .args(["keep", "before", "max_bytes"])),
)]
pub struct Args {
    /// The journal set (a directory holding a journal-set file).
    set: PathBuf,
    /// Keep at most N segments, the newest included (0 and 1 both keep only the newest).
    #[arg(long, value_name = "N")]
    keep: Option<u64>,
    /// Remove segments whose newest event is older than TIME (nanoseconds since the epoch, or
    /// RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = time::parse, allow_hyphen_values = true)]
    before: Option<i64>,
    /// Remove the oldest segments until the segments and their indexes take at most SIZE bytes
    /// (e.g. 500GiB), or only the newest is left.
    #[arg(long, value_name = "SIZE", value_parser = units::parse_size)]
    max_bytes: Option<u64>,
    /// Say what would be removed, and remove nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Runs `journal prune`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let dir = args.set;
    if !dir.is_dir() {
        anyhow::bail!(
            "{}: not a journal set (a directory holding a journal-set file); prune removes \
             segments of sets",
            output::path(&dir)
        );
    }
    let policy = PrunePolicy {
        keep: args.keep,
        before: args.before,
        max_bytes: args.max_bytes,
    };
    let removals = if args.dry_run {
        set::plan(&dir, &policy)?
    } else {
        set::prune(&dir, &policy)?
    };
    print(&dir, &removals, args.dry_run)?;
    Ok(Status::Success)
}

fn print(dir: &Path, removals: &[Removal], dry_run: bool) -> anyhow::Result<()> {
    let mut out = output::stdout();
    for r in removals {
        let s = &r.summary;
        let name = r.path.file_name().map(Path::new).unwrap_or(&r.path);
        let events = match s.last_index() {
            Some(last) => format!("events {}..={last} ({})", s.first_index, s.events),
            None => "no events".to_owned(),
        };
        let newest = s
            .newest_timestamp
            .map_or_else(|| "-".to_owned(), time::rfc3339);
        writeln!(
            out,
            "{}  {events}  newest {newest}  {} bytes  {}",
            output::path(name),
            s.bytes(),
            r.cause.as_str()
        )?;
    }
    let events: u64 = removals.iter().map(|r| r.summary.events).sum();
    let bytes: u64 = removals.iter().map(|r| r.summary.bytes()).sum();
    let (verb, starts) = if dry_run {
        ("dry run: would remove", "would start")
    } else {
        ("removed", "now starts")
    };
    if removals.is_empty() {
        writeln!(
            out,
            "{}",
            if dry_run {
                "dry run: nothing to remove"
            } else {
                "nothing to remove"
            }
        )?;
    } else {
        // The set's first available event afterwards: the first segment not in the list.
        let last = removals.last().map_or(0, |r| r.summary.first_index);
        let next = set::list_segments(dir)?
            .into_iter()
            .find(|s| s.first_index > last)
            .map_or_else(
                || "-".to_owned(),
                |s| format!("the set {starts} at event {}", s.first_index),
            );
        writeln!(
            out,
            "{verb} {}, {}, {bytes} bytes; {next}",
            output::count(removals.len() as u64, "segment"),
            output::count(events, "event"),
        )?;
    }
    out.flush()?;
    Ok(())
}
