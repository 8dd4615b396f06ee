//! `journal replay`: replay a journal into a shared-memory ring (spec/RING.md).

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use journal::{
    LongGap, Pacing, Producer, Reader, ReplayOptions, ReplaySource, SetReader, WaitStrategy,
    MAX_SPEED, MIN_SPEED,
};
use serde::Serialize;

use crate::exit::{DataError, Status};
use crate::{output, time};

const EXAMPLES: &str = "\
Examples:
  journal replay quotes.journal --ring /dev/shm/md.ring
  journal replay quotes.journal --ring /dev/shm/md.ring --speed 1
  journal replay quotes.journal --ring /dev/shm/md.ring --speed 10 --from-time 2026-11-02T14:30:00Z
  journal replay quotes/ --ring /dev/shm/md.ring --from-time 2026-11-02T09:00:00Z --follow
                                  a journal set: the history from 09:00, then the live events

The source is a journal file or a journal set (a directory of segments, spec/SET.md), read as one
journal across its segments: --from-time seeks through the segments' indexes.

The ring is created (with --capacity) if it does not exist. Records are the journal's entries,
copied verbatim (CRC-32 included). With --speed FACTOR the events are paced by their own timestamps,
FACTOR times faster than they happened (1 = real time); with --speed max (the default) as fast as
the consumer takes them. The end of the stream is sent at the end, then statistics are printed.
--from-time starts at the first event at or after it, in file order (as `dump --from-time`);
--to-time is exclusive: replay stops at the first event at or after it.

With --follow, replay goes on with the events the writer appends after the history (across a
set's rolls), as they are published: the history and the live events meet with no gap and no
duplicate (replay then live). It runs until SIGINT or SIGTERM (or an event at or after
--to-time), then sends the end of the stream and prints the statistics (status 0).

A paced replay warns on stderr before a wait longer than 10 s; --max-gap DURATION replays longer
gaps as DURATION. If no consumer is attached, replay says so and waits for one once the ring is
full; --timeout DURATION gives up (status 2) when the ring stays full that long. Durations: a number
with a unit, ns, us, ms, s, m or h (e.g. 500ms, 2s, 1m).";

/// Replay a journal's events into a shared-memory ring.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The journal file, or a journal set's directory.
    file: PathBuf,
    /// The ring to replay into (created if missing).
    #[arg(long)]
    ring: PathBuf,
    /// `max`, or a factor from 0.001 to 1000000 (1 = real time, 10 = ten times faster).
    #[arg(long, default_value = "max", value_parser = parse_speed)]
    speed: Speed,
    /// With --speed: replay gaps between events longer than this as this long (e.g. 1s).
    #[arg(long, value_parser = crate::units::parse_duration)]
    max_gap: Option<Duration>,
    /// Give up (status 2) when the ring stays full this long (e.g. 30s). By default, wait.
    #[arg(long, value_parser = crate::units::parse_duration)]
    timeout: Option<Duration>,
    #[command(flatten)]
    time: time::RangeArgs,
    /// Capacity of the ring if it has to be created (power of two; K, M, G suffixes; by default
    /// 4M). An existing ring keeps its own capacity: giving a different one is an error.
    #[arg(long, value_parser = super::ring::parse_capacity)]
    capacity: Option<u64>,
    /// Print the statistics as one JSON object.
    #[arg(long)]
    json: bool,
    /// After the history, replay the live events as the writer appends them, until SIGINT or
    /// SIGTERM.
    #[arg(short, long)]
    follow: bool,
}

/// How a following replay waits for the writer: spins first (a live feed's next event is usually
/// microseconds away), then sleeps on the journal's (or set's) wake-up file until the writer
/// publishes (FORMAT.md 15, SET.md 6.5.1): no poll delay and no CPU while idle. Without a usable
/// wake-up file it sleeps in steps of up to 1 ms.
const FOLLOW_WAIT: WaitStrategy = WaitStrategy::Block { spins: 64 };

/// What replay reads.
enum Source {
    Journal(Box<Reader>),
    Set(SetReader),
}

impl Source {
    fn open(path: &std::path::Path) -> anyhow::Result<Source> {
        if journal::set::is_set(path) {
            return SetReader::open(path)
                .map(Source::Set)
                .map_err(data_or_other);
        }
        super::open_reader(path).map(|r| Source::Journal(Box::new(r)))
    }

    fn as_replay(&self) -> ReplaySource<'_> {
        match self {
            Source::Journal(r) => (&**r).into(),
            Source::Set(s) => s.into(),
        }
    }
}

/// A set whose segments do not chain (or whose metadata is refused) is "the data is bad" (status
/// 1), as a damaged entry is; anything else passes through.
fn data_or_other(e: journal::Error) -> anyhow::Error {
    match e {
        journal::Error::BadSet { .. } => DataError(e.to_string()).into(),
        e => e.into(),
    }
}

/// `--capacity` when the ring is created and none is given.
const DEFAULT_CAPACITY: u64 = 4 << 20;

#[derive(Clone, Copy, Debug)]
pub enum Speed {
    Max,
    Factor(f64),
}

fn parse_speed(s: &str) -> Result<Speed, String> {
    if s == "max" {
        return Ok(Speed::Max);
    }
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && (MIN_SPEED..=MAX_SPEED).contains(&f) => Ok(Speed::Factor(f)),
        _ => Err(format!(
            "speed '{s}' must be 'max' or a number from {MIN_SPEED} to {MAX_SPEED}"
        )),
    }
}

/// Waits longer than this in a paced replay are announced on stderr.
const LONG_WAIT: Duration = Duration::from_secs(10);

/// Long gaps announced one by one; after that, only the count at the end.
const GAP_REPORTS: u64 = 10;

fn report_gap(g: &LongGap) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static REPORTED: AtomicU64 = AtomicU64::new(0);
    let n = REPORTED.fetch_add(1, Ordering::Relaxed);
    if n >= GAP_REPORTS {
        return;
    }
    let what = if g.shortened {
        "shortened to --max-gap: "
    } else {
        ""
    };
    eprintln!(
        "journal: warning: event {} comes {} after the one before it; {what}waiting {}{}",
        g.index,
        human(g.gap),
        human(g.wait),
        if g.shortened {
            ""
        } else {
            " (--max-gap to shorten)"
        }
    );
    if n + 1 == GAP_REPORTS {
        eprintln!("journal: warning: further long gaps are not reported one by one");
    }
}

/// A duration for people: `1.5 s`, `3.2 h`, `56.1 years`.
fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    match s {
        s if s < 1e-3 => format!("{} us", (s * 1e6).round()),
        s if s < 1.0 => format!("{:.1} ms", s * 1e3),
        s if s < 120.0 => format!("{s:.1} s"),
        s if s < 7200.0 => format!("{:.1} min", s / 60.0),
        s if s < 2.0 * 86400.0 => format!("{:.1} h", s / 3600.0),
        s if s < 2.0 * 365.25 * 86400.0 => format!("{:.1} days", s / 86400.0),
        s => format!("{:.1} years", s / (365.25 * 86400.0)),
    }
}

#[derive(Serialize)]
struct StatsJson {
    events: u64,
    bytes: u64,
    elapsed_ns: u64,
    events_per_sec: f64,
    lag_p50_ns: u64,
    lag_p99_ns: u64,
    lag_max_ns: u64,
}

pub fn run(args: Args) -> anyhow::Result<Status> {
    let range = args.time.range()?;
    // Signals first, so that one arriving while the history replays still ends the run cleanly.
    let stop = Arc::new(AtomicBool::new(false));
    if args.follow {
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(sig, Arc::clone(&stop))
                .context("cannot install a signal handler")?;
        }
    }
    let source = Source::open(&args.file)?;
    if args.max_gap.is_some() && matches!(args.speed, Speed::Max) {
        anyhow::bail!("--max-gap applies to a paced replay: give --speed too");
    }
    if !args.ring.exists() {
        match journal::create_ring(&args.ring, args.capacity.unwrap_or(DEFAULT_CAPACITY)) {
            Ok(()) | Err(journal::Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut producer = Producer::attach(&args.ring)?;
    // On a full ring, sleep until the consumer makes room (spec/RING.md 5.1) instead of polling.
    producer.set_wait_strategy(WaitStrategy::BLOCK);
    if let Some(c) = args.capacity.filter(|&c| c != producer.capacity()) {
        anyhow::bail!(
            "{}: the ring exists with capacity {} bytes; --capacity {c} cannot change it \
             (remove the ring, or leave --capacity out)",
            args.ring.display(),
            producer.capacity()
        );
    }
    producer.set_wait_timeout(args.timeout);
    if !producer.consumer_attached() {
        eprintln!(
            "journal: no consumer is attached to {}: once the ring is full, replay waits for one{}",
            args.ring.display(),
            match args.timeout {
                Some(t) => format!(" (for up to {})", human(t)),
                None => " (--timeout to give up)".into(),
            }
        );
    }
    let mut opts = ReplayOptions::new();
    if let Speed::Factor(f) = args.speed {
        opts.pacing(Pacing::Speed(f))
            .on_long_gap(LONG_WAIT, report_gap);
    }
    if let Some(t) = range.from {
        opts.from_time(t);
    }
    if let Some(t) = range.to {
        opts.to_time(t);
    }
    if let Some(g) = args.max_gap {
        opts.max_gap(g);
    }
    let s = if args.follow {
        journal::replay_follow(source.as_replay(), &mut producer, &opts, FOLLOW_WAIT, &stop)
    } else {
        journal::replay(source.as_replay(), &mut producer, &opts)
    }
    .map_err(data_or_other)?;
    if s.gaps_shortened > 0 {
        eprintln!(
            "journal: {} gaps longer than --max-gap were shortened to it",
            s.gaps_shortened
        );
    }
    let json = StatsJson {
        events: s.events,
        bytes: s.bytes,
        elapsed_ns: s.elapsed.as_nanos() as u64,
        events_per_sec: s.events_per_sec,
        lag_p50_ns: s.lag_p50.as_nanos() as u64,
        lag_p99_ns: s.lag_p99.as_nanos() as u64,
        lag_max_ns: s.lag_max.as_nanos() as u64,
    };
    if args.json {
        super::print_json(&json)?;
        return Ok(Status::Success);
    }
    let mut o = output::stdout();
    writeln!(
        o,
        "replayed {} events ({} bytes) in {:.3} s: {:.0} events/s",
        s.events,
        s.bytes,
        s.elapsed.as_secs_f64(),
        s.events_per_sec
    )?;
    if let Speed::Factor(f) = args.speed {
        writeln!(
            o,
            "pacing at {f}x: lag p50 {:?}, p99 {:?}, max {:?}",
            s.lag_p50, s.lag_p99, s.lag_max
        )?;
    }
    o.flush()?;
    Ok(Status::Success)
}
