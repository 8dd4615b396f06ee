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
use journal::named_cursor::CursorFault;
use journal::{
    Error, Event, Iter, NamedCursor, Reader, SetIter, SetReader, SetTailer, Tailer, WaitStrategy,
};

use crate::exit::{DataError, Status};
use crate::output::{self, EventWriter, Format, Stdout};
use crate::time::{self, RangeFilter, Step, TimeRange};

/// Events written between two flushes when many are ready.
const BATCH: usize = 4096;
/// With --cursor, events written between two flushes and commits: few enough that the output
/// buffer (64 KiB) rarely fills in between, so a crash repeats at most this many events.
const CURSOR_BATCH: usize = 256;

const EXAMPLES: &str = "\
Examples:
  journal tail quotes.journal                  the last 10 events
  journal tail -n 100 --format jsonl quotes.journal
  journal tail -n +1 -f quotes.journal         every event, then follow the writer
  journal tail -f -n 0 quotes.journal | grep BTC
  journal tail -n 5 --to-time 2026-11-02T14:31:00Z quotes.journal
                                               the last 5 events before that time
  journal tail -f quotes/                      a journal set: the last 10 events, then follow
                                               the writer across its rolls
  journal tail -f --from-time 2026-11-02T09:00:00Z quotes/
                                               replay then live: every event from 09:00 on,
                                               then the live ones, no gap and no duplicate

--from-time and --to-time select events as for 'journal dump' (spec/FORMAT.md 6.4): the range
starts at the first event at or after --from-time and ends at the first one at or after
--to-time, which also ends --follow. With --from-time, tail prints every event of the range (as
dump does) unless -n says otherwise; -n counts within the range. Memory does not grow with the
journal or with N.

With --follow, new events are printed as the writer appends them, until SIGINT or SIGTERM (status
0). If the file is truncated, removed or replaced meanwhile, tail stops with an error (status 2);
if it reaches a damaged entry, it reports it (status 1).

A journal set (a directory of segments, spec/SET.md) is read as one journal: indexes are global,
-n N and --from-time seek through the segments' indexes, and --follow crosses the writer's rolls
as they happen (spec/SET.md 6.5). If the set is damaged (segments that do not chain) tail reports
it (status 1); if retention removed the segment it needs next, tail says which events were pruned
(status 2). A segment removed while tail reads it is read to its end first.

Named cursors (spec/CURSOR.md):
  journal tail -n +1 -f --cursor strategy-a quotes.journal
                                               every event; after a crash or a stop, the same
                                               command goes on after the last event committed
  journal tail -f --from-time 2026-11-02T09:00:00Z --cursor strategy-a quotes/
                                               a set's cursor: its first run starts at 09:00

--cursor NAME keeps this reader's position in the file FILE.cursors/NAME (for a set,
SET/cursors/NAME, a global index). The first run creates the cursor where tail would start
without it (-n and --from-time, default the last 10 events) and commits that start before
printing anything. Every later run resumes at the committed position and prints every event from
there (all of them, not the last N; with --follow, then the new ones): -n and --from-time are then
refused (status 2), since the cursor already says where to start; remove the cursor file to start
afresh. --to-time still ends the run, and the event that ends it is left for the next run.

tail writes a batch of at most 256 events, flushes its output, then commits the position after
the batch's last event (one store into the cursor file; CURSOR.md 8). So a resumed run never skips an event
and never repeats one that was committed, but a crash (or SIGKILL) between a flush and its commit
prints that batch again: the output is at-least-once; deduplicate by event index if it matters.
A commit survives a crash of tail at once, and a power cut once it is synced, which tail does at
exit (status 0). One tail at a time owns a cursor: a second one with the same NAME fails (status 2).
A cursor that is damaged, another journal's, or past the journal's end fails (status 1); a set's
cursor whose next event was pruned fails (status 2).";

/// How often a follower that is idle checks that the path still names the file it follows.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// Print the last events of a journal, and with --follow the events appended after them.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The journal file, or a journal set's directory.
    file: PathBuf,
    /// The last N events; or, as +K, every event from the K-th on (counting from 1). Default 10,
    /// or with --from-time every event from there.
    #[arg(short = 'n', long = "events", value_name = "N|+K", value_parser = parse_start)]
    events: Option<Start>,
    /// Keep printing events as they are appended, until SIGINT or SIGTERM.
    #[arg(short, long)]
    follow: bool,
    /// Output format (as for 'journal dump').
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    time: time::RangeArgs,
    /// Resume from (and commit to) the named cursor FILE.cursors/NAME (SET/cursors/NAME for a
    /// set), created on first use.
    #[arg(long, value_name = "NAME")]
    cursor: Option<String>,
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
    /// Whether -n was given (with --cursor, it is refused for a cursor that exists).
    start_given: bool,
    follow: bool,
    format: Format,
    range: TimeRange,
    cursor: Option<String>,
}

impl TryFrom<Args> for Config {
    type Error = anyhow::Error;

    fn try_from(a: Args) -> anyhow::Result<Config> {
        // With --from-time, every event of the range, as `dump --from-time` shows it (replay
        // then live with --follow); else the last 10.
        let default = match a.time.from_time {
            Some(_) => Start::From(0),
            None => Start::Last(10),
        };
        Ok(Config {
            path: a.file,
            start: a.events.unwrap_or(default),
            start_given: a.events.is_some(),
            follow: a.follow,
            format: a.format,
            range: a.time.range()?,
            cursor: a.cursor,
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
    if journal::set::is_set(&cfg.path) {
        return run_set(&cfg, &stop);
    }
    let (reader, file) = open_followed(&cfg.path)?;
    let mut out = EventWriter::new(output::stdout(), cfg.format);
    if let Some(name) = &cfg.cursor {
        return run_with_cursor(&cfg, name, &reader, &file, &mut out, &stop);
    }

    // The backlog, in memory independent of the journal and of N: for the last N events, a first
    // walk counts the valid events and those in the time range (stopping at damage or at the
    // range's end), then the second prints from the (count - N)-th event of the range on (all of
    // it if N is larger). Nothing is kept per event. The second walk stops after the counted
    // events, so a follower picks up exactly where they end.
    //
    // Without a time range the count comes from the journal's index instead (spec/INDEX.md 8):
    // the end is found from the index's checkpoint, and the walk starts at event count - N, found
    // by a binary search. Damage past the checkpoint makes that fail: the two walks then run.
    let unbounded = cfg.range.from.is_none() && cfg.range.to.is_none();
    let fast = match cfg.start {
        Start::Last(n) if unbounded => reader
            .tail_from_end()
            .ok()
            .map(|t| (t.index(), t.index().saturating_sub(n))),
        _ => None,
    };
    let (first, end, damaged) = match (cfg.start, fast) {
        (_, Some((count, from))) => (Ok(from), count, false),
        (Start::From(k), None) => (Ok(k), u64::MAX, false),
        (Start::Last(n), None) => {
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
    let mut it = match fast {
        Some((_, from)) => reader
            .iter_from_index(from)
            .map_err(|e| damage_or(e, &cfg.path, from))?,
        None => reader.iter(),
    };
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
    let mut live = FileLive {
        tailer: reader.tail_from(&it),
        path: &cfg.path,
        file: &file,
    };
    follow(&mut live, &mut range, &mut out, &stop, None)?;
    Ok(Status::Success)
}

/// `tail --cursor NAME`: from the cursor's position (or, for a new cursor, from where tail would
/// start without one), every event, committing after each flush (spec/CURSOR.md 11).
fn run_with_cursor(
    cfg: &Config,
    name: &str,
    reader: &Reader,
    file: &File,
    out: &mut EventWriter<Stdout>,
    stop: &AtomicBool,
) -> anyhow::Result<Status> {
    let cursor = reader
        .cursor(name)
        .map_err(|e| cursor_error(e, &cfg.path, name))?;
    let mut pending = false;
    if cursor.is_new() {
        match first_shown(cfg, reader) {
            Ok((start, waiting)) => {
                // Before anything is printed: a crash now resumes here, not at event 0.
                cursor.commit(start);
                cursor.sync()?;
                pending = waiting;
            }
            Err(e) => {
                // Leave no cursor behind that would start somewhere the user did not ask for.
                let _ = fs::remove_file(cursor.path());
                return Err(e);
            }
        }
    } else if cfg.start_given || cfg.range.from.is_some() {
        bail!(
            "--cursor {name}: the cursor exists (next event {}), and -n and --from-time only \
             choose where a new cursor starts: leave them out to resume, or remove {} to start \
             afresh",
            cursor.position(),
            output::path(cursor.path())
        );
    }
    let mut it = cursor.resume(reader).map_err(|e| match e {
        Error::Damaged { .. } => damage_or(e, &cfg.path, cursor.position()),
        e => cursor_error(e, &cfg.path, name),
    })?;
    let from = cfg.range.from.filter(|_| pending);
    let (mut range, ended) = cursor_backlog(&mut it, cfg, from, &cursor, out, stop, |e, at| {
        damage_or(e, &cfg.path, at)
    })?;
    if cfg.follow && !ended && !stop.load(Ordering::Relaxed) {
        let mut live = FileLive {
            tailer: reader.tail_from(&it),
            path: &cfg.path,
            file,
        };
        follow(&mut live, &mut range, out, stop, Some(&cursor))?;
    }
    finish_cursor(&cursor, &range)
}

/// Syncs the cursor at the end of a run. A new cursor whose --from-time range has not started
/// (no event at or after T yet) has delivered nothing and is removed: its position alone could
/// not say that the events before T are still to be skipped, so the same command run again
/// starts it afresh instead (spec/CURSOR.md 11).
fn finish_cursor(cursor: &NamedCursor, range: &RangeFilter) -> anyhow::Result<Status> {
    if !range.started() {
        let _ = fs::remove_file(cursor.path());
        return Ok(Status::Success);
    }
    cursor.sync()?;
    Ok(Status::Success)
}

/// With a cursor, the events from `it` on (the cursor's position) up to the end of the published
/// content or of the range, in batches, each flushed then committed. Returns the range (only
/// --to-time is left in it: the cursor already says where the range starts, unless `from` is
/// given: a new cursor created before any event at or after --from-time existed skips, as
/// `tail -f --from-time` does, every event until the first at or after it) and whether it ended.
/// A damaged entry (or another error) is reported after the events before it are committed.
fn cursor_backlog(
    it: &mut impl History,
    cfg: &Config,
    from: Option<i64>,
    cursor: &NamedCursor,
    out: &mut EventWriter<Stdout>,
    stop: &AtomicBool,
    error: impl Fn(Error, u64) -> anyhow::Error,
) -> anyhow::Result<(RangeFilter, bool)> {
    let mut range = TimeRange {
        from,
        to: cfg.range.to,
    }
    .filter();
    let mut delivered = cursor.position();
    let (mut damage, mut ended, mut batch) = (None, false, 0);
    loop {
        let ev = match it.next_event() {
            Some(Ok(ev)) => ev,
            Some(Err(e)) => {
                damage = Some(error(e, delivered));
                break;
            }
            None => break,
        };
        if !write_in(&mut range, &ev, out)? {
            ended = true;
            break;
        }
        delivered = ev.index + 1;
        batch += 1;
        if batch == CURSOR_BATCH {
            flush_and_commit(out, Some(cursor), delivered)?;
            batch = 0;
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
    }
    flush_and_commit(out, Some(cursor), delivered)?;
    match damage {
        Some(e) => Err(e),
        None => Ok((range, ended)),
    }
}

/// The index of the first event plain `tail` (without a cursor) would print, or, if it would
/// print none, of the event where it would stop (the end of the range or of the content): a new
/// cursor starts there. The events tail prints are always a run of consecutive indexes. True
/// with it if --from-time's range has not started: no event at or after it exists yet.
fn first_shown(cfg: &Config, reader: &Reader) -> anyhow::Result<(u64, bool)> {
    let unbounded = cfg.range.from.is_none() && cfg.range.to.is_none();
    if unbounded {
        // O(log n) through the index (spec/INDEX.md 8).
        let end = match cfg.start {
            Start::From(k) => reader.iter_from_index(k).map(|it| it.index()),
            Start::Last(n) => reader.tail_from_end().map(|t| t.index().saturating_sub(n)),
        };
        if let Ok(i) = end {
            return Ok((i, false));
        }
    }
    // One walk: where the range starts, how many events it takes, and where it ends.
    let (mut range_start, mut taken, mut end) = (None, 0u64, 0u64);
    let mut range = cfg.range.filter();
    for item in reader.iter() {
        let Ok(ev) = item else { break };
        end = ev.index;
        match range.step(ev.timestamp) {
            Step::Skip => {}
            Step::Take => {
                range_start.get_or_insert(ev.index);
                taken += 1;
            }
            Step::Stop => break,
        }
        end = ev.index + 1;
    }
    Ok(match range_start {
        None => (end, cfg.range.from.is_some()),
        Some(rs) => match cfg.start {
            Start::Last(n) => (rs + taken.saturating_sub(n), false),
            Start::From(k) => (k.clamp(rs, rs + taken), false),
        },
    })
}

/// A cursor that cannot be used: a damaged, foreign or ahead cursor is "the data is bad" (status
/// 1); a cursor in use or an I/O error passes through (status 2).
fn cursor_error(e: Error, path: &Path, name: &str) -> anyhow::Error {
    match e {
        Error::BadCursor { .. } => DataError(format!(
            "{e}; the cursor is left as it is: remove it to start afresh"
        ))
        .into(),
        Error::CursorInUse { .. } => anyhow::anyhow!(
            "{e} (another 'journal tail --cursor {name} {}' is running?)",
            output::path(path)
        ),
        e => e.into(),
    }
}

/// Flushes the output, then commits `delivered` (every event below it is out): the order makes a
/// crash repeat output, never lose it (spec/CURSOR.md 11).
fn flush_and_commit(
    out: &mut EventWriter<Stdout>,
    cursor: Option<&NamedCursor>,
    delivered: u64,
) -> io::Result<()> {
    out.flush()?;
    if let Some(c) = cursor {
        c.commit(delivered);
    }
    Ok(())
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

/// The events of the backlog: a journal's iterator or a set's.
trait History {
    fn next_event(&mut self) -> Option<journal::Result<Event<'_>>>;
}

impl History for Iter<'_> {
    fn next_event(&mut self) -> Option<journal::Result<Event<'_>>> {
        self.next()
    }
}

impl History for SetIter<'_> {
    fn next_event(&mut self) -> Option<journal::Result<Event<'_>>> {
        SetIter::next_event(self)
    }
}

/// How `follow` waits while caught up: sleep in the kernel until the writer wakes it (the wake-up
/// file of the journal or of the set, spec/FORMAT.md 15, SET.md 6.5.1), after a few polls;
/// without a usable wake-up file it backs off with sleeps of up to 1 ms.
const FOLLOW_WAIT: WaitStrategy = WaitStrategy::Block { spins: 100 };

/// What `follow` follows: a journal's tailer or a set's, with the checks and the error wording
/// that go with it.
trait Live {
    fn wait(
        &mut self,
        strategy: WaitStrategy,
        deadline: Instant,
    ) -> journal::Result<Option<Event<'_>>>;
    fn poll(&mut self) -> journal::Result<Option<Event<'_>>>;
    /// The index of the next event.
    fn index(&self) -> u64;
    /// Run every [`CHECK_EVERY`] while following: fails if what is followed went away.
    fn check(&self) -> anyhow::Result<()>;
    /// The error to report for a failed wait or poll.
    fn error(&self, e: Error) -> anyhow::Error;
}

/// A journal file followed, and a second handle on it to notice the path being truncated, removed
/// or replaced.
struct FileLive<'a> {
    tailer: Tailer<'a>,
    path: &'a Path,
    file: &'a File,
}

impl Live for FileLive<'_> {
    fn wait(
        &mut self,
        strategy: WaitStrategy,
        deadline: Instant,
    ) -> journal::Result<Option<Event<'_>>> {
        self.tailer.wait(strategy, Some(deadline))
    }

    fn poll(&mut self) -> journal::Result<Option<Event<'_>>> {
        self.tailer.poll()
    }

    fn index(&self) -> u64 {
        self.tailer.index()
    }

    fn check(&self) -> anyhow::Result<()> {
        check_same_file(self.path, self.file, self.tailer.offset())
    }

    fn error(&self, e: Error) -> anyhow::Error {
        damage_or(e, self.path, self.tailer.index())
    }
}

/// A journal set followed across its rolls. The set tailer itself notices a broken chain and
/// segments removed under it (spec/SET.md 6.5, 6.6).
struct SetLive<'a> {
    tailer: SetTailer<'a>,
}

impl Live for SetLive<'_> {
    fn wait(
        &mut self,
        strategy: WaitStrategy,
        deadline: Instant,
    ) -> journal::Result<Option<Event<'_>>> {
        self.tailer.wait(strategy, Some(deadline))
    }

    fn poll(&mut self) -> journal::Result<Option<Event<'_>>> {
        self.tailer.poll()
    }

    fn index(&self) -> u64 {
        self.tailer.index()
    }

    fn check(&self) -> anyhow::Result<()> {
        Ok(())
    }

    fn error(&self, e: Error) -> anyhow::Error {
        set_error(e, self.tailer.index())
    }
}

/// Prints events as they are published until `stop` is set by a signal.
///
/// The tailer waits with a deadline, so that the signal flag and what is followed are checked at
/// least every [`CHECK_EVERY`]. A truncation the check does not see first is the tailer's
/// [`Error::FileShrunk`] (the library turns the SIGBUS of a truncated mapping into that error).
fn follow(
    live: &mut impl Live,
    range: &mut RangeFilter,
    out: &mut EventWriter<Stdout>,
    stop: &AtomicBool,
    cursor: Option<&NamedCursor>,
) -> anyhow::Result<()> {
    let mut checked = Instant::now();
    // The index after the last event written (with --cursor, what the next commit says).
    let mut delivered = live.index();
    while !stop.load(Ordering::Relaxed) {
        match live.wait(FOLLOW_WAIT, Instant::now() + CHECK_EVERY) {
            Ok(Some(ev)) => {
                if !write_in(range, &ev, out)? {
                    break;
                }
                delivered = ev.index + 1;
                // Drain what is already published (a batch at a time, so that a signal or a
                // replaced file is noticed under a steady stream), then flush once.
                let batch = if cursor.is_some() {
                    CURSOR_BATCH
                } else {
                    BATCH
                };
                for _ in 1..batch {
                    match live.poll() {
                        Ok(Some(ev)) => {
                            if !write_in(range, &ev, out)? {
                                flush_and_commit(out, cursor, delivered)?;
                                return Ok(());
                            }
                            delivered = ev.index + 1;
                        }
                        Ok(None) => break,
                        Err(e) => {
                            flush_and_commit(out, cursor, delivered)?;
                            return Err(live.error(e));
                        }
                    }
                }
                flush_and_commit(out, cursor, delivered)?;
            }
            Ok(None) => {}
            Err(e) => {
                // What was printed is out, and committed.
                flush_and_commit(out, cursor, delivered)?;
                return Err(live.error(e));
            }
        }
        if checked.elapsed() >= CHECK_EVERY {
            live.check()?;
            checked = Instant::now();
        }
    }
    flush_and_commit(out, cursor, delivered)?;
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

/// Where `tail` on a set starts and stops printing (global indexes, spec/SET.md 4).
struct SetPlan {
    /// The first event of the range (FORMAT.md 6.4 over the whole set): where --from-time
    /// starts, else the set's first available event.
    range_start: u64,
    /// The first event printed (or, if none is, where the printing stops).
    start: u64,
    /// The backlog ends before this event; `u64::MAX`: at the end of the published content.
    end: u64,
    /// The range ended at `end` (an event at or after --to-time): nothing to follow.
    ended: bool,
    /// --from-time's range has not started: no event at or after it exists yet.
    pending: bool,
    /// The walk that counted the range stopped at this error; reported after the events before
    /// it.
    error: Option<Error>,
}

/// Plans `tail` on a set. Without --to-time, the end of the set comes from the newest segment's
/// index (spec/INDEX.md 8) and the start from a seek (by global index, or by time through each
/// segment's index, SET.md 6.3, 6.4): nothing is walked but an index interval. With --to-time,
/// one walk from the range's start finds where the range ends.
fn set_plan(cfg: &Config, set: &SetReader) -> anyhow::Result<SetPlan> {
    let first = set.first_index();
    let (range_start, pending) = match cfg.range.from {
        Some(t) => {
            let mut it = set.iter_from_time(t).map_err(|e| set_error(e, first))?;
            let at = it.index();
            (at, it.next_event().is_none())
        }
        None => (first, false),
    };
    let needs_end = matches!(cfg.start, Start::Last(_)) || cfg.range.to.is_some();
    let fast_end = match cfg.range.to {
        None if needs_end => set.tail_from_end().ok().map(|t| t.index()),
        _ => None,
    };
    let (end, ended, error) = match fast_end {
        Some(end) => (end, false, None),
        None if !needs_end => (u64::MAX, false, None),
        None => {
            // Walk the range: every event from its start is in it until --to-time ends it.
            let mut it = set
                .iter_from_index(range_start)
                .map_err(|e| set_error(e, range_start))?;
            let (mut ended, mut error) = (false, None);
            let mut at = it.index();
            while let Some(item) = it.next_event() {
                match item {
                    Ok(ev) if cfg.range.to.is_some_and(|to| ev.timestamp >= to) => {
                        ended = true;
                        break;
                    }
                    Ok(ev) => at = ev.index + 1,
                    Err(e) => {
                        error = Some(e);
                        break;
                    }
                }
            }
            (at, ended, error)
        }
    };
    let start = match cfg.start {
        Start::Last(n) => range_start.max(end.saturating_sub(n)),
        Start::From(k) => range_start.max(k).min(end),
    };
    Ok(SetPlan {
        range_start,
        start,
        end,
        ended,
        pending,
        error,
    })
}

/// `journal tail` on a journal set (spec/SET.md): the same output as for one journal, with
/// global indexes, following the writer across its rolls.
fn run_set(cfg: &Config, stop: &AtomicBool) -> anyhow::Result<Status> {
    let path = &cfg.path;
    let set = SetReader::open(path).map_err(|e| set_error(e, 0))?;
    let mut out = EventWriter::new(output::stdout(), cfg.format);
    if let Some(name) = &cfg.cursor {
        return run_set_with_cursor(cfg, name, &set, &mut out, stop);
    }
    let plan = set_plan(cfg, &set)?;
    let mut it = set
        .iter_from_index(plan.start)
        .map_err(|e| set_error(e, plan.start))?;
    // From the range's start, --from-time still has to find its first event (there may be none
    // yet: the live events before it are skipped); from later on, the range has started.
    let mut range = TimeRange {
        from: cfg.range.from.filter(|_| plan.start == plan.range_start),
        to: cfg.range.to,
    }
    .filter();
    let (mut damage, mut ended) = (None, plan.ended);
    let mut count = 0usize;
    while it.index() < plan.end {
        let at = it.index();
        let ev = match it.next_event() {
            Some(Ok(ev)) => ev,
            Some(Err(e)) => {
                damage = Some(set_error(e, at));
                break;
            }
            None => break,
        };
        if !write_in(&mut range, &ev, &mut out)? {
            ended = true;
            break;
        }
        count += 1;
        if count.is_multiple_of(BATCH) && stop.load(Ordering::Relaxed) {
            out.flush()?;
            return Ok(Status::Success);
        }
    }
    if damage.is_none() && it.index() >= plan.end {
        // The walk that planned the backlog stopped at an error at its end.
        damage = plan.error.map(|e| set_error(e, plan.end));
    }
    out.flush()?;
    if let Some(e) = damage {
        return Err(e);
    }
    if !cfg.follow || ended {
        return Ok(Status::Success);
    }
    let mut live = SetLive {
        tailer: it.into_tailer(),
    };
    follow(&mut live, &mut range, &mut out, stop, None)?;
    Ok(Status::Success)
}

/// `tail --cursor NAME` on a set: the cursor `SET/cursors/NAME` holds a global index (spec/SET.md
/// 10, CURSOR.md 6.2).
fn run_set_with_cursor(
    cfg: &Config,
    name: &str,
    set: &SetReader,
    out: &mut EventWriter<Stdout>,
    stop: &AtomicBool,
) -> anyhow::Result<Status> {
    let path = &cfg.path;
    let cursor = NamedCursor::open(path, name).map_err(|e| cursor_error(e, path, name))?;
    let mut pending = false;
    if cursor.is_new() {
        match set_plan(cfg, set) {
            Ok(plan) => {
                // Before anything is printed: a crash now resumes here, not at event 0.
                cursor.commit(plan.start);
                cursor.sync()?;
                pending = plan.pending;
            }
            Err(e) => {
                // Leave no cursor behind that would start somewhere the user did not ask for.
                let _ = fs::remove_file(cursor.path());
                return Err(e);
            }
        }
    } else if cfg.start_given || cfg.range.from.is_some() {
        bail!(
            "--cursor {name}: the cursor exists (next event {}), and -n and --from-time only \
             choose where a new cursor starts: leave them out to resume, or remove {} to start \
             afresh",
            cursor.position(),
            output::path(cursor.path())
        );
    }
    let p = cursor.position();
    let mut it = set.iter_from_index(p).map_err(|e| set_error(e, p))?;
    if it.index() < p {
        // CURSOR.md 6.2: never wait for the set to reach the position.
        let e = Error::BadCursor {
            path: cursor.path().to_path_buf(),
            fault: CursorFault::Ahead,
            detail: format!(
                "position {p} is past the set's {} events (the set lost events already \
                 delivered, or the cursor is damaged)",
                it.index()
            ),
        };
        return Err(cursor_error(e, path, name));
    }
    let from = cfg.range.from.filter(|_| pending);
    let (mut range, ended) = cursor_backlog(&mut it, cfg, from, &cursor, out, stop, set_error)?;
    if cfg.follow && !ended && !stop.load(Ordering::Relaxed) {
        let mut live = SetLive {
            tailer: it.into_tailer(),
        };
        follow(&mut live, &mut range, out, stop, Some(&cursor))?;
    }
    finish_cursor(&cursor, &range)
}

/// An error reading a set, before global event `index`: a damaged entry, or a set whose segments
/// do not chain, is "the data is bad" (status 1); events removed by retention and anything else
/// pass through (status 2). The library's errors name the set or the segment.
fn set_error(e: Error, index: u64) -> anyhow::Error {
    match e {
        Error::Damaged {
            path,
            offset,
            reason,
        } => DataError(format!(
            "{}: damaged at offset {offset}: {} ({}); the set's events before event {index} are \
             valid",
            output::path(&path),
            reason.describe(),
            reason.as_str(),
        ))
        .into(),
        Error::BadSet { .. } => DataError(e.to_string()).into(),
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
