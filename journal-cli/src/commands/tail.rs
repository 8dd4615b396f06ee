//! `journal tail`: the last events, like tail(1), and with `--follow` the events another process
//! appends, until SIGINT or SIGTERM.

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
use crate::time::{self, RangeFilter, Step, TimeRange};

const EXAMPLES: &str = "\
Examples:
  journal tail quotes.journal                  the last 10 events
  journal tail -n 100 --format jsonl quotes.journal
  journal tail -n +1 -f quotes.journal         every event, then follow the writer
  journal tail -f -n 0 quotes.journal | grep BTC
  journal tail -n 5 --to-time 2026-11-02T14:31:00Z quotes.journal
                                               the last 5 events before that time

--from-time and --to-time select events as for 'journal dump' (spec/FORMAT.md 6.4), and -n counts
within them: the range starts at the first event at or after --from-time and ends at the first one
at or after --to-time, which also ends --follow. Memory does not grow with the journal or with N.

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
    #[command(flatten)]
    time: time::RangeArgs,
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
    range: TimeRange,
}

impl TryFrom<Args> for Config {
    type Error = anyhow::Error;

    fn try_from(a: Args) -> anyhow::Result<Config> {
        Ok(Config {
            path: a.file,
            start: a.events,
            follow: a.follow,
            format: a.format,
            range: a.time.range()?,
        })
    }
}

/// Runs `journal tail`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let cfg = Config::try_from(args)?;
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

    // The backlog, in memory independent of the journal and of N: for the last N events, a first
    // walk counts the valid events and those in the time range (stopping at damage or at the
    // range's end), then the second prints from the (count - N)-th event of the range on (all of
    // it if N is larger). Nothing is kept per event. The second walk stops after the counted
    // events, so a follower picks up exactly where they end.
    let (first, end, damaged) = match cfg.start {
        Start::From(k) => (Ok(k), u64::MAX, false),
        Start::Last(n) => {
            let (mut count, mut taken, mut damaged) = (0u64, 0u64, false);
            let mut range = cfg.range.filter();
            for item in reader.iter() {
                let Ok(ev) = item else {
                    damaged = true;
                    break;
                };
                match range.step(ev.timestamp) {
                    Step::Skip => {}
                    Step::Take => taken += 1,
                    Step::Stop => break,
                }
                count += 1;
            }
            (Err(taken.saturating_sub(n)), count, damaged)
        }
    };
    let mut range = cfg.range.filter();
    let mut it = reader.iter();
    let (mut valid, mut taken) = (0, 0u64);
    let mut damage = None;
    let mut ended = false;
    while it.index() < end {
        let ev = match it.next() {
            Some(Ok(ev)) => ev,
            Some(Err(e)) => {
                damage = Some(damage_or(e, &cfg.path, valid));
                break;
            }
            None => break,
        };
        valid = ev.index + 1;
        match range.step(ev.timestamp) {
            Step::Skip => continue,
            Step::Stop => {
                ended = true;
                break;
            }
            Step::Take => {}
        }
        let shown = match first {
            // From the K-th event of the journal, those in the range.
            Ok(k) => ev.index >= k,
            // The last N of those in the range.
            Err(skip) => taken >= skip,
        };
        taken += 1;
        if shown {
            out.write(&ev)?;
        }
    }
    if damaged && damage.is_none() && !ended {
        // The first walk ended at damage: the entry after the counted ones.
        if let Some(Err(e)) = it.next() {
            damage = Some(damage_or(e, &cfg.path, valid));
        }
    }
    out.flush()?;
    // As `dump`: the valid events first, then the damage (a damaged entry stays damaged, so
    // there is nothing to follow past it).
    if let Some(e) = damage {
        return Err(e);
    }
    // Past --to-time nothing more can be in the range: there is nothing to follow.
    if !cfg.follow || ended {
        return Ok(Status::Success);
    }
    let tailer = reader.tail_from(&it);
    follow(&cfg.path, &file, tailer, &mut range, &mut out, &stop)?;
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
    let shown = output::path(path);
    let ours = file
        .metadata()
        .with_context(|| format!("{shown}: stat failed"))?;
    match fs::metadata(path) {
        Ok(now) if (now.dev(), now.ino()) == (ours.dev(), ours.ino()) => {}
        Ok(_) => bail!("{shown}: replaced by another file while it was followed"),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            bail!("{shown}: removed or renamed while it was followed")
        }
        Err(e) => return Err(e).with_context(|| format!("{shown}: stat failed")),
    }
    if ours.len() < pos {
        bail!(
            "{shown}: truncated to {} bytes while it was followed (at offset {pos})",
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
    range: &mut RangeFilter,
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
                if !write_in(range, &ev, out)? {
                    break;
                }
                // Drain what is already published (a batch at a time, so that a signal or a
                // replaced file is noticed under a steady stream), then flush once.
                for _ in 0..4096 {
                    match tailer.poll() {
                        Ok(Some(ev)) => {
                            if !write_in(range, &ev, out)? {
                                out.flush()?;
                                return Ok(());
                            }
                        }
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

/// Writes `ev` if it is in the range; false once the range has ended.
fn write_in(
    range: &mut RangeFilter,
    ev: &journal::Event<'_>,
    out: &mut EventWriter<Stdout>,
) -> io::Result<bool> {
    match range.step(ev.timestamp) {
        Step::Skip => Ok(true),
        Step::Take => out.write(ev).map(|()| true),
        Step::Stop => Ok(false),
    }
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
