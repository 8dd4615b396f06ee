//! `journal index`: build, rebuild or check the sparse index kept beside a journal (INDEX.md).

use std::io::Write;
use std::path::{Path, PathBuf};

use journal::index::{self, Intervals, Verdict};
use journal::set::SetReader;

use crate::exit::Status;
use crate::{output, progress};

const EXAMPLES: &str = "\
Examples:
  journal index quotes.journal            # writes quotes.journal.idx
  journal index --check quotes.journal
  journal index --interval-bytes 65536 --interval-events 1024 quotes.journal
  journal index --check quotes/           # a journal set: every segment's index

Exit status: 0 index written, or (--check) the index is current; 1 (--check) the index is stale,
damaged, missing or another journal's (the reason is printed; readers then ignore it and scan the
journal); 2 usage or I/O error, or the file is not a journal.
The index is a cache (spec/INDEX.md): deleting it is always safe.

Given a journal set's directory (spec/SET.md), each segment's own index is built (or checked), one
line per segment, then a line for the set; with --check the status is 1 if any segment's index is
not current.";

/// Build (or rebuild) the sparse index of a journal, or check it with --check.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The journal file (its index is FILE.idx), or a journal set's directory (each segment's
    /// index).
    file: PathBuf,
    /// Check the existing index against the journal instead of writing one (INDEX.md 7).
    #[arg(long)]
    check: bool,
    /// A record at least every SIZE of journal (16 bytes or more; e.g. 4096, 4KiB, 1MiB).
    #[arg(long, value_name = "SIZE", default_value_t = index::DEFAULT_INTERVAL_BYTES,
          value_parser = |s: &str| crate::units::parse_size(s)
              .and_then(|n| interval(n, "--interval-bytes", index::MIN_INTERVAL_BYTES)))]
    interval_bytes: u64,
    /// A record at least every N events (1 or more).
    #[arg(long, value_name = "N", default_value_t = index::DEFAULT_INTERVAL_EVENTS,
          value_parser = |s: &str| s.parse::<u64>().map_err(|e| format!("--interval-events '{s}': {e}"))
              .and_then(|n| interval(n, "--interval-events", 1)))]
    interval_events: u64,
}

fn interval(n: u64, what: &str, min: u64) -> Result<u64, String> {
    if (min..=index::MAX_INTERVAL).contains(&n) {
        Ok(n)
    } else {
        Err(format!("{what} {n} is outside {min}..=2^48"))
    }
}

struct Config {
    path: PathBuf,
    check: bool,
    intervals: Intervals,
}

impl From<Args> for Config {
    fn from(a: Args) -> Self {
        Config {
            path: a.file,
            check: a.check,
            intervals: Intervals {
                bytes: a.interval_bytes,
                events: a.interval_events,
            },
        }
    }
}

/// Runs `journal index`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let cfg = Config::from(args);
    let mut out = output::stdout();
    if !crate::source::is_set(&cfg.path)? {
        let status = index_one(&mut out, &cfg.path, &cfg)?;
        out.flush()?;
        return Ok(status);
    }
    // A journal set (SET.md): each segment has its own index.
    let set = SetReader::open(&cfg.path)?;
    let mut status = Status::Success;
    let (mut done, mut bad) = (0u64, 0u64);
    let segments = set.segments();
    for (k, seg) in segments.iter().enumerate() {
        let Ok(meta) = std::fs::metadata(&seg.path) else {
            continue; // removed by a prune since the listing: no longer part of the set
        };
        if k + 1 == segments.len() && meta.len() < journal::HEADER_LEN {
            // SET.md 6.1, 7.2: the newest segment is being created; it has nothing to index.
            writeln!(
                out,
                "{}: being created (no header yet): nothing to index",
                output::path(&seg.path)
            )?;
            continue;
        }
        if index_one(&mut out, &seg.path, &cfg)? == Status::DataBad {
            status = Status::DataBad;
            bad += 1;
        }
        done += 1;
    }
    let path = output::path(&cfg.path);
    let segments = output::count(done, "segment");
    if cfg.check {
        writeln!(
            out,
            "{path}: {segments} checked: {} current, {bad} not",
            done - bad
        )?;
    } else {
        writeln!(out, "{path}: indexed {segments}")?;
    }
    out.flush()?;
    Ok(status)
}

/// Builds (or, with `--check`, checks) the index of the journal `path`, saying so on `out`.
fn index_one(out: &mut impl Write, path: &Path, cfg: &Config) -> anyhow::Result<Status> {
    let reader = super::open_reader(path)?;
    let idx_path = index::index_path(path);
    let spinner = progress::Spinner::start(
        progress::wanted(false),
        format!("indexing {}", path.display()),
    );
    if cfg.check {
        let verdict = index::check_file(&reader)?;
        drop(spinner);
        let shown = idx_path.display();
        let status = match verdict {
            Verdict::Current { records, events } => {
                writeln!(
                    out,
                    "{shown}: current: {records} records for {events} events"
                )?;
                Status::Success
            }
            Verdict::Stale {
                checkpoint,
                content_end,
            } => {
                writeln!(
                    out,
                    "{shown}: stale: covers the journal up to offset {checkpoint}, its content \
                     ends at {content_end}; 'journal index' rebuilds it"
                )?;
                Status::DataBad
            }
            Verdict::Unusable(fault) => {
                writeln!(
                    out,
                    "{shown}: unusable ({}): {fault}; readers ignore it, 'journal index' rebuilds it",
                    fault.as_str()
                )?;
                Status::DataBad
            }
        };
        return Ok(status);
    }
    let idx = index::Index::from_reader(&reader, cfg.intervals)?;
    idx.write(path)?;
    let report = reader.verify()?;
    drop(spinner);
    let cp = idx.checkpoint();
    writeln!(
        out,
        "{}: {} records for {} events, checkpoint at offset {}",
        idx_path.display(),
        idx.records().len(),
        cp.index,
        cp.offset
    )?;
    if let Some(d) = report.damage {
        writeln!(
            out,
            "note: the journal is damaged at offset {} ({}): the index covers the content before it",
            d.offset,
            d.reason.as_str()
        )?;
    }
    Ok(Status::Success)
}
