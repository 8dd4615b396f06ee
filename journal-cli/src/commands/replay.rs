//! `journal replay`: replay a journal into a shared-memory ring (spec/RING.md).

use std::io::Write;
use std::path::PathBuf;

use journal::{Pacing, Producer, ReplayOptions};
use serde::Serialize;

use crate::exit::Status;
use crate::{output, time};

const EXAMPLES: &str = "\
Examples:
  journal replay quotes.journal --ring /dev/shm/md.ring
  journal replay quotes.journal --ring /dev/shm/md.ring --speed 1
  journal replay quotes.journal --ring /dev/shm/md.ring --speed 10 --from-time 2026-11-02T14:30:00Z

The ring is created (with --capacity) if it does not exist. Records are the journal's entries,
copied verbatim (CRC-32 included). With --speed FACTOR the events are paced by their own timestamps,
FACTOR times faster than they happened (1 = real time); with --speed max (the default) as fast as
the consumer takes them. The end of the stream is sent at the end, then statistics are printed.
--to-time is exclusive: replay stops at the first event at or after it.";

/// Replay a journal's events into a shared-memory ring.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The journal file.
    file: PathBuf,
    /// The ring to replay into (created if missing).
    #[arg(long)]
    ring: PathBuf,
    /// `max`, or a positive factor (1 = real time, 10 = ten times faster).
    #[arg(long, default_value = "max", value_parser = parse_speed)]
    speed: Speed,
    #[command(flatten)]
    time: time::RangeArgs,
    /// Capacity of the ring if it has to be created (power of two; K, M, G suffixes).
    #[arg(long, default_value = "4M", value_parser = super::ring::parse_capacity)]
    capacity: u64,
    /// Print the statistics as one JSON object.
    #[arg(long)]
    json: bool,
}

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
        Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Factor(f)),
        _ => Err(format!("speed '{s}' must be 'max' or a positive number")),
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
    let reader = super::open_reader(&args.file)?;
    if !args.ring.exists() {
        match journal::create_ring(&args.ring, args.capacity) {
            Ok(()) | Err(journal::Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut producer = Producer::attach(&args.ring)?;
    let opts = ReplayOptions {
        pacing: match args.speed {
            Speed::Max => Pacing::Max,
            Speed::Factor(f) => Pacing::Speed(f),
        },
        from_time: range.from,
        to_time: range.to,
        ..ReplayOptions::default()
    };
    let s = journal::replay(&reader, &mut producer, &opts)?;
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
