//! `journal repair`: cut a torn or damaged tail back to the longest valid prefix (FORMAT.md 8).

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use journal::{Error, SyncPolicy, WriterOptions};

use crate::exit::Status;
use crate::{output, progress};

const EXAMPLES: &str = "\
Examples:
  journal repair --dry-run quotes.journal      say what would be cut; change nothing
  journal repair quotes.journal

Repair keeps every valid event before the first damaged entry and cuts everything from that entry
on (spec/FORMAT.md 8): the header is corrected, the bytes after the content zeroed and the file
truncated to its content. It refuses while a writer has the journal open (status 2).";

/// Cut a journal's torn or damaged tail back to its longest valid prefix.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The journal file.
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
    if cfg.dry_run {
        dry_run(&cfg)
    } else {
        repair(&cfg)
    }
}

fn dry_run(cfg: &Config) -> anyhow::Result<Status> {
    let reader = super::open_reader(&cfg.path)?;
    let report = {
        let _s = progress::Spinner::start(
            progress::wanted(false),
            format!("verifying {}", output::path(&cfg.path)),
        );
        reader.verify()?
    };
    let path = output::path(&cfg.path);
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

fn repair(cfg: &Config) -> anyhow::Result<Status> {
    let size_before = fs::metadata(&cfg.path).map(|m| m.len()).ok();
    let w = {
        let _s = progress::Spinner::start(
            progress::wanted(false),
            format!("repairing {}", output::path(&cfg.path)),
        );
        // Opening for append runs recovery (FORMAT.md 8) in the default mode, which cuts a
        // damaged tail; a sync policy other than `Never` makes `close` sync and fsync the cut.
        WriterOptions::new()
            .prefault(false)
            .sync_policy(SyncPolicy::EveryAppend)
            .open(&cfg.path)
    };
    let w = match w {
        Ok(w) => w,
        Err(e @ Error::Locked { .. }) => {
            anyhow::bail!("{e}; refusing to repair a journal that is being written")
        }
        Err(e) => return Err(super::open_error(e, &cfg.path)),
    };
    let recovered = w.recovered().copied();
    let events = w.events();
    let write_offset = w.write_offset();
    w.close()?;
    let size_after = fs::metadata(&cfg.path).map(|m| m.len()).ok();

    let path = output::path(&cfg.path);
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
