//! `journal tail`: the last events, like tail(1), and with `--follow` the events another process
//! appends, until SIGINT or SIGTERM.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use journal::{Error, Reader, Tailer, WaitStrategy};

use crate::exit::{DataError, Status};
use crate::output::{self, EventWriter, Format, Stdout};

const EXAMPLES: &str = "\
Examples:
  journal tail quotes.journal                  the last 10 events
  journal tail -n 100 --format jsonl quotes.journal
  journal tail -n +1 -f quotes.journal         every event, then follow the writer
  journal tail -f -n 0 quotes.journal | grep BTC

With --follow, new events are printed as the writer appends them, until SIGINT or SIGTERM (status
0). If the file is truncated, removed or replaced meanwhile, tail stops with an error (status 2);
if it reaches a damaged entry, it reports it (status 1).";

/// How often a follower that is idle checks that the path still names the file it follows.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// Print the last events of a journal, and with --follow the events appended after them.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The journal file.
    file: PathBuf,
    /// The last N events; or, as +K, every event from the K-th on (counting from 1).
    #[arg(short = 'n', long = "events", value_name = "N|+K", default_value = "10",
          value_parser = parse_start)]
    events: Start,
    /// Keep printing events as they are appended, until SIGINT or SIGTERM.
    #[arg(short, long)]
    follow: bool,
    /// Output format (as for 'journal dump').
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Where the output starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Start {
    /// The last N events.
    Last(u64),
    /// Every event from this index (counting from 0) on.
    From(u64),
}

fn parse_start(s: &str) -> Result<Start, String> {
    let count = |digits: &str| {
        digits
            .parse::<u64>()
            .map_err(|e| format!("'{s}' is not N or +K with N, K whole numbers ({e})"))
    };
    match s.strip_prefix('+') {
        // Like tail(1), +0 means the same as +1.
        Some(k) => Ok(Start::From(count(k)?.saturating_sub(1))),
        None => Ok(Start::Last(count(s)?)),
    }
}

struct Config {
    path: PathBuf,
    start: Start,
    follow: bool,
    format: Format,
}

impl From<Args> for Config {
    fn from(a: Args) -> Self {
        Config {
            path: a.file,
            start: a.events,
            follow: a.follow,
            format: a.format,
        }
    }
}

/// Runs `journal tail`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let cfg = Config::from(args);
    // Signals first, so that one arriving while the backlog prints still ends the run cleanly.
    let stop = Arc::new(AtomicBool::new(false));
    if cfg.follow {
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(sig, Arc::clone(&stop))
                .context("cannot install a signal handler")?;
        }
    }
    let (reader, file) = open_followed(&cfg.path)?;
    let mut out = EventWriter::new(output::stdout(), cfg.format);

    // The backlog: one walk over the content, keeping the last N events (borrowed from the
    // mapping, so N costs N small structs, not N payloads).
    let mut it = reader.iter();
    let mut last = VecDeque::new();
    let mut valid = 0;
    let mut damage = None;
    for item in it.by_ref() {
        let ev = match item {
            Ok(ev) => ev,
            Err(e) => {
                damage = Some(damage_or(e, &cfg.path, valid));
                break;
            }
        };
        valid = ev.index + 1;
        match cfg.start {
            Start::Last(0) => {}
            Start::Last(n) => {
                if last.len() as u64 == n {
                    last.pop_front();
                }
                last.push_back(ev);
            }
            Start::From(k) if ev.index >= k => out.write(&ev)?,
            Start::From(_) => {}
        }
    }
    for ev in &last {
        out.write(ev)?;
    }
    out.flush()?;
    // As `dump`: the valid events first, then the damage (a damaged entry stays damaged, so
    // there is nothing to follow past it).
    if let Some(e) = damage {
        return Err(e);
    }
    if !cfg.follow {
        return Ok(Status::Success);
    }
    let tailer = reader.tail_from(&it);
    follow(&cfg.path, &file, tailer, &mut out, &stop)?;
    Ok(Status::Success)
}

/// Opens the journal and a second handle on the same file, used to notice the path being
/// truncated, removed or replaced while it is followed.
fn open_followed(path: &Path) -> anyhow::Result<(Reader, File)> {
    // The reader first: it refuses a named pipe or a device without blocking on it.
    let reader = super::open_reader(path)?;
    let file = File::open(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        op: "open",
        source: e,
    })?;
    check_same_file(path, &file, journal::HEADER_LEN)?;
    Ok((reader, file))
}

/// Fails if `path` no longer names `file`, or `file` is shorter than `pos`.
fn check_same_file(path: &Path, file: &File, pos: u64) -> anyhow::Result<()> {
    let ours = file
        .metadata()
        .with_context(|| format!("{}: stat failed", path.display()))?;
    match fs::metadata(path) {
        Ok(now) if (now.dev(), now.ino()) == (ours.dev(), ours.ino()) => {}
        Ok(_) => bail!(
            "{}: replaced by another file while it was followed",
            path.display()
        ),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            bail!(
                "{}: removed or renamed while it was followed",
                path.display()
            )
        }
        Err(e) => return Err(e).with_context(|| format!("{}: stat failed", path.display())),
    }
    if ours.len() < pos {
        bail!(
            "{}: truncated to {} bytes while it was followed (at offset {pos})",
            path.display(),
            ours.len()
        );
    }
    Ok(())
}

/// Prints events as they are published until `stop` is set by a signal.
///
/// The tailer waits with a deadline, so that the signal flag and the file's identity are checked
/// at least every [`CHECK_EVERY`]. A truncation the check does not see first is the tailer's
/// [`Error::FileShrunk`] (the library turns the SIGBUS of a truncated mapping into that error).
fn follow(
    path: &Path,
    file: &File,
    mut tailer: Tailer<'_>,
    out: &mut EventWriter<Stdout>,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    // Idle sleeps double from 1 µs up to 10 ms: a person watching does not see 10 ms, and the
    // CPU does not see an idle follower.
    let strategy = WaitStrategy::Backoff {
        spins: 0,
        yields: 0,
        max_sleep: Duration::from_millis(10),
    };
    let mut checked = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        match tailer.wait(strategy, Some(Instant::now() + CHECK_EVERY)) {
            Ok(Some(ev)) => {
                out.write(&ev)?;
                // Drain what is already published (a batch at a time, so that a signal or a
                // replaced file is noticed under a steady stream), then flush once.
                for _ in 0..4096 {
                    match tailer.poll() {
                        Ok(Some(ev)) => out.write(&ev)?,
                        Ok(None) => break,
                        Err(e) => {
                            out.flush()?;
                            return Err(damage_or(e, path, tailer.index()));
                        }
                    }
                }
                out.flush()?;
            }
            Ok(None) => {}
            Err(e) => return Err(damage_or(e, path, tailer.index())),
        }
        if checked.elapsed() >= CHECK_EVERY {
            check_same_file(path, file, tailer.offset())?;
            checked = Instant::now();
        }
    }
    out.flush()?;
    Ok(())
}

/// A damaged entry is "the data is bad" (status 1), said as `dump` says it, with the number of
/// valid `events` before it; anything else passes through.
fn damage_or(e: Error, path: &Path, events: u64) -> anyhow::Error {
    match e {
        Error::Damaged { offset, reason, .. } => {
            DataError(super::damage_message(path, offset, reason, events)).into()
        }
        e => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_parses_like_tail() {
        assert_eq!(parse_start("10"), Ok(Start::Last(10)));
        assert_eq!(parse_start("0"), Ok(Start::Last(0)));
        assert_eq!(parse_start("+1"), Ok(Start::From(0)));
        assert_eq!(parse_start("+0"), Ok(Start::From(0)));
        assert_eq!(parse_start("+5"), Ok(Start::From(4)));
        assert!(parse_start("-3").is_err());
        assert!(parse_start("x").is_err());
        assert!(parse_start("+").is_err());
    }
}
