//! `journal repair`: cut a torn or damaged tail back to the longest valid prefix (FORMAT.md 8).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use journal::set::{list_segments, SetLock, SetMeta};
use journal::{Error, SyncPolicy, WriterOptions};

use crate::exit::Status;
use crate::{output, progress};

const EXAMPLES: &str = "\
Examples:
  journal repair --dry-run quotes.journal      say what would be cut; change nothing
  journal repair quotes.journal
  journal repair quotes/                       a journal set: its newest segment only

Repair keeps every valid event before the first damaged entry and cuts everything from that entry
on (spec/FORMAT.md 8): the header is corrected, the bytes after the content zeroed and the file
truncated to its content. It refuses while a writer has the journal open (status 2).

Given a journal set's directory (spec/SET.md), repair works on the set's newest segment only: the
one its writer appends to, where a crash leaves a torn tail. Sealed segments are never changed
(their events are the set's history, and cutting one would break the chain of global indexes):
'journal verify' reports damage in them. It refuses while a writer has the set open (status 2).";

/// Cut a journal's torn or damaged tail back to its longest valid prefix (of a journal set, the
/// newest segment's).
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The journal file, or a journal set's directory (its newest segment is repaired).
    file: PathBuf,
    /// Report what would be cut, and change nothing.
    #[arg(long)]
    dry_run: bool,
}

struct Config {
    path: PathBuf,
    dry_run: bool,
}

impl From<Args> for Config {
    fn from(a: Args) -> Self {
        Config {
            path: a.file,
            dry_run: a.dry_run,
        }
    }
}

/// Runs `journal repair`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let cfg = Config::from(args);
    if crate::source::is_set(&cfg.path)? {
        return repair_set(&cfg);
    }
    if cfg.dry_run {
        dry_run(&cfg.path)
    } else {
        repair(&cfg.path)
    }
}

/// `journal repair SET`: the newest segment only (SET.md 7.3: the one a writer appends to, which
/// a crash can leave with a torn tail). Sealed segments are never changed: damage there is the
/// set's, reported by `journal verify`. The set lock is held for the repair, so no writer can
/// roll meanwhile (the segment repaired is the newest until the end).
fn repair_set(cfg: &Config) -> anyhow::Result<Status> {
    let lock = if cfg.dry_run {
        SetMeta::read(&cfg.path)?;
        None
    } else {
        match SetLock::acquire(&cfg.path) {
            Ok(l) => Some(l),
            Err(e @ Error::Locked { .. }) => {
                anyhow::bail!("{e}; refusing to repair a set that is being written")
            }
            Err(e) => return Err(e.into()),
        }
    };
    let segments = list_segments(&cfg.path)?;
    let set = output::path(&cfg.path);
    let mut out = output::stdout();
    let Some(newest) = segments.last() else {
        writeln!(
            out,
            "{set}: a journal set with no segment; nothing to repair"
        )?;
        out.flush()?;
        return Ok(Status::Success);
    };
    writeln!(
        out,
        "{set}: newest segment {}; {} left as {}",
        newest
            .path
            .file_name()
            .map_or_else(String::new, |n| output::path(Path::new(n))),
        output::count(segments.len() as u64 - 1, "sealed segment"),
        if segments.len() == 2 {
            "it is"
        } else {
            "they are"
        },
    )?;
    let len = fs::symlink_metadata(&newest.path).map_or(0, |m| m.len());
    if len < journal::HEADER_LEN {
        // A crash while the segment was created (SET.md 7.2): the next writer initializes it.
        writeln!(
            out,
            "{}: {} long, a segment being created; the set's next writer initializes it; \
             nothing to repair",
            output::path(&newest.path),
            output::count(len, "byte")
        )?;
        out.flush()?;
        return Ok(Status::Success);
    }
    out.flush()?;
    drop(out);
    let status = if cfg.dry_run {
        dry_run(&newest.path)
    } else {
        repair(&newest.path)
    };
    drop(lock);
    status
}

fn dry_run(file: &Path) -> anyhow::Result<Status> {
    let reader = super::open_reader(file)?;
    let report = {
        let _s = progress::Spinner::start(
            progress::wanted(false),
            format!("verifying {}", output::path(file)),
        );
        reader.verify()?
    };
    let path = output::path(file);
    let mut out = output::stdout();
    match report.damage {
        Some(d) => {
            let dropped = report.write_offset.min(report.file_len) - report.end;
            writeln!(
                out,
                "{path}: would cut at offset {}: {} ({}); would drop {}, keep {} ({} bytes)",
                d.offset,
                d.reason.describe(),
                d.reason.as_str(),
                output::count(dropped, "byte"),
                output::count(report.events, "event"),
                report.end
            )?;
        }
        None if report.event_count_hint != report.events => writeln!(
            out,
            "{path}: intact, {}; would correct the header's event_count hint from {}; would drop nothing",
            output::count(report.events, "event"), report.event_count_hint
        )?,
        None => writeln!(
            out,
            "{path}: intact, {}; nothing to repair",
            output::count(report.events, "event")
        )?,
    }
    if reader.writer_present()? {
        writeln!(
            out,
            "note: a writer has the journal open now; repair would refuse until it closes"
        )?;
    }
    out.flush()?;
    Ok(Status::Success)
}

fn repair(file: &Path) -> anyhow::Result<Status> {
    let size_before = fs::metadata(file).map(|m| m.len()).ok();
    let w = {
        let _s = progress::Spinner::start(
            progress::wanted(false),
            format!("repairing {}", output::path(file)),
        );
        // Opening for append runs recovery (FORMAT.md 8) in the default mode, which cuts a
        // damaged tail; a sync policy other than `Never` makes `close` sync and fsync the cut.
        WriterOptions::new()
            .prefault(false)
            .sync_policy(SyncPolicy::EveryAppend)
            // A repair walks the whole content: it must not trust the index's checkpoint
            // (spec/INDEX.md 10). An index the cut leaves behind fails INDEX.md 6.1 and is rebuilt
            // by the next writer.
            .index(false)
            // It publishes nothing new, so it keeps no wake-up file (FORMAT.md 15), in a set's
            // directory or beside a single journal.
            .wake_file(false)
            .open(file)
    };
    let w = match w {
        Ok(w) => w,
        Err(e @ Error::Locked { .. }) => {
            anyhow::bail!("{e}; refusing to repair a journal that is being written")
        }
        Err(e) => return Err(super::open_error(e, file)),
    };
    let recovered = w.recovered().copied();
    let events = w.events();
    let write_offset = w.write_offset();
    w.close()?;
    let size_after = fs::metadata(file).map(|m| m.len()).ok();

    let path = output::path(file);
    let mut out = output::stdout();
    match recovered {
        Some(r) => match r.damage {
            Some(d) => writeln!(
                out,
                "{path}: cut at offset {}: {} ({}); dropped {}, kept {} ({} bytes)",
                d.offset,
                d.reason.describe(),
                d.reason.as_str(),
                output::count(r.dropped_bytes, "byte"),
                output::count(r.events, "event"),
                r.write_offset
            )?,
            None => writeln!(
                out,
                "{path}: intact, {}; corrected the header's event_count hint from {}; dropped nothing",
                output::count(r.events, "event"), r.previous_event_count
            )?,
        },
        None => writeln!(
            out,
            "{path}: intact, {} ({write_offset} bytes); nothing to repair",
            output::count(events, "event")
        )?,
    }
    if let (Some(before), Some(after)) = (size_before, size_after) {
        if before != after {
            writeln!(out, "file size: {before} -> {after} bytes")?;
        }
    }
    out.flush()?;
    Ok(Status::Success)
}
