//! `journal index`: build, rebuild or check the sparse index kept beside a journal (INDEX.md).

use std::io::Write;
use std::path::PathBuf;

use journal::index::{self, Intervals, Verdict};

use crate::exit::Status;
use crate::{output, progress};

const EXAMPLES: &str = "\
Examples:
  journal index quotes.journal            # writes quotes.journal.idx
  journal index --check quotes.journal
  journal index --interval-bytes 65536 --interval-events 1024 quotes.journal

Exit status: 0 index written, or (--check) the index is current; 1 (--check) the index is stale,
damaged, missing or another journal's (the reason is printed; readers then ignore it and scan the
journal); 2 usage or I/O error, or the file is not a journal.
The index is a cache (spec/INDEX.md): deleting it is always safe.";

/// Build (or rebuild) the sparse index of a journal, or check it with --check.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The journal file; its index is FILE.idx.
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
    let reader = super::open_reader(&cfg.path)?;
    let idx_path = index::index_path(&cfg.path);
    let mut out = output::stdout();
    let spinner = progress::Spinner::start(
        progress::wanted(false),
        format!("indexing {}", cfg.path.display()),
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
        out.flush()?;
        return Ok(status);
    }
    let idx = index::Index::from_reader(&reader, cfg.intervals)?;
    idx.write(&cfg.path)?;
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
    out.flush()?;
    Ok(Status::Success)
}
