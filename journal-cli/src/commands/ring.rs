//! `journal ring`: create, inspect and consume shared-memory rings (spec/RING.md).

use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use journal::{Consumer, Event, WaitStrategy};
use serde::Serialize;

use crate::exit::{DataError, Status};
use crate::output::{self, EventWriter, Format};

const EXAMPLES: &str = "\
Examples:
  journal ring create /dev/shm/md.ring --capacity 1M
  journal ring info /dev/shm/md.ring
  journal ring consume /dev/shm/md.ring --format jsonl
  journal ring consume /dev/shm/md.ring --count

A ring carries records from one producer process to one consumer process (spec/RING.md).
`consume` prints records as `dump` prints events and exits 0 at the end of the stream, or on
SIGINT or SIGTERM (after writing out every record it took from the ring).";

/// Create, inspect and consume shared-memory rings.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    #[command(subcommand)]
    command: RingCommand,
}

#[derive(Debug, clap::Subcommand)]
enum RingCommand {
    /// Create a ring file (mode 0600; the path must not exist).
    #[command(after_help = "Example:\n  journal ring create /dev/shm/md.ring --capacity 4M")]
    Create {
        /// Where to create it (usually under /dev/shm).
        path: PathBuf,
        /// Data capacity in bytes: a power of two from 4K to 1T; K, M, G suffixes allowed.
        #[arg(long, value_parser = parse_capacity)]
        capacity: u64,
    },
    /// Print a ring's header: capacity, positions, attached processes.
    #[command(after_help = "Example:\n  journal ring info --json /dev/shm/md.ring")]
    Info {
        /// The ring file.
        path: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Attach as the consumer and print records until the end of the stream.
    #[command(
        after_help = "Examples:\n  journal ring consume /dev/shm/md.ring\n  journal ring consume --count /dev/shm/md.ring\n\nExit status: 0 at the end of the stream, or on SIGINT or SIGTERM; 1 if a record fails its CRC-32;\n2 if the producer died without ending the stream, or on usage or I/O errors."
    )]
    Consume {
        /// The ring file.
        path: PathBuf,
        /// Output format, as for `dump`.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Print only the number of records and bytes at the end.
        #[arg(long, conflicts_with = "format")]
        count: bool,
        /// Print one-way latency percentiles (receive time minus record timestamp, ns, as JSON)
        /// at the end; for producers that stamp records with the send time.
        #[arg(long, conflicts_with_all = ["format", "count"])]
        latency: bool,
        /// How to wait for records: spin (lowest latency, burns a core), yield, backoff, or block
        /// (spin briefly, then sleep in the kernel until the producer wakes it: no CPU while idle).
        #[arg(long, value_enum, default_value_t = Wait::Backoff)]
        wait: Wait,
    },
}

/// `--wait`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Wait {
    Spin,
    Yield,
    Backoff,
    Block,
}

impl From<Wait> for WaitStrategy {
    fn from(w: Wait) -> WaitStrategy {
        match w {
            Wait::Spin => WaitStrategy::BusySpin,
            Wait::Yield => WaitStrategy::Yield,
            Wait::Backoff => WaitStrategy::default(),
            Wait::Block => WaitStrategy::BLOCK,
        }
    }
}

/// Parses `4096`, `64K`, `1M`, `2G` (powers of 1024).
pub fn parse_capacity(s: &str) -> Result<u64, String> {
    let bytes = crate::units::parse_size(s)?;
    if !bytes.is_power_of_two()
        || !(journal::RING_MIN_CAPACITY..=journal::RING_MAX_CAPACITY).contains(&bytes)
    {
        return Err(format!(
            "capacity '{s}' must be a power of two from 4KiB to 1TiB"
        ));
    }
    Ok(bytes)
}

#[derive(Serialize)]
struct InfoJson {
    capacity: u64,
    /// A lower bound of the bytes written (spec/RING.md 4.4).
    producer_position: u64,
    consumer_position: u64,
    /// A lower bound of the bytes not yet consumed.
    unread_bytes: u64,
    producer_pid: u32,
    producer_alive: bool,
    consumer_pid: u32,
    consumer_alive: bool,
}

/// The statistics `consume --latency` prints.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct LatencyJson {
    /// Records received.
    pub records: u64,
    /// Median one-way latency, ns.
    pub p50_ns: u64,
    /// 99th percentile, ns.
    pub p99_ns: u64,
    /// 99.9th percentile, ns.
    pub p999_ns: u64,
    /// Maximum, ns.
    pub max_ns: u64,
}

pub fn run(args: Args) -> anyhow::Result<Status> {
    match args.command {
        RingCommand::Create { path, capacity } => {
            journal::create_ring(&path, capacity)?;
            Ok(Status::Success)
        }
        RingCommand::Info { path, json } => info(path, json),
        RingCommand::Consume {
            path,
            format,
            count,
            latency,
            wait,
        } => consume(path, format, count, latency, wait.into()),
    }
}

fn info(path: PathBuf, json: bool) -> anyhow::Result<Status> {
    let i = journal::ring_info(&path)?;
    let out = InfoJson {
        capacity: i.capacity,
        producer_position: i.producer_position,
        consumer_position: i.consumer_position,
        unread_bytes: i.producer_position.saturating_sub(i.consumer_position),
        producer_pid: i.producer_pid,
        producer_alive: i.producer_alive,
        consumer_pid: i.consumer_pid,
        consumer_alive: i.consumer_alive,
    };
    if json {
        super::print_json(&out)?;
        return Ok(Status::Success);
    }
    let who = |pid: u32, alive: bool| match (pid, alive) {
        (0, _) => "none".to_string(),
        (p, true) => format!("pid {p} (alive)"),
        (p, false) => format!("pid {p} (dead)"),
    };
    let mut o = output::stdout();
    writeln!(o, "ring:              {}", path.display())?;
    writeln!(o, "capacity:          {} bytes", out.capacity)?;
    // The producer stores its position lazily (spec/RING.md 4.4): records may be committed past
    // it, so the unread count is a lower bound.
    writeln!(o, "format:            version {}", journal::RING_VERSION)?;
    writeln!(
        o,
        "producer position: {} (stored lazily: at least this much was written)",
        out.producer_position
    )?;
    writeln!(o, "consumer position: {}", out.consumer_position)?;
    writeln!(o, "unread:            at least {} bytes", out.unread_bytes)?;
    writeln!(
        o,
        "producer:          {}",
        who(out.producer_pid, out.producer_alive)
    )?;
    writeln!(
        o,
        "consumer:          {}",
        who(out.consumer_pid, out.consumer_alive)
    )?;
    o.flush()?;
    Ok(Status::Success)
}

fn consume(
    path: PathBuf,
    format: Format,
    count: bool,
    latency: bool,
    wait: WaitStrategy,
) -> anyhow::Result<Status> {
    // Signals first: SIGINT or SIGTERM end the run cleanly (status 0), after what was taken from
    // the ring is written out.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("cannot install a signal handler")?;
    }
    let mut consumer = Consumer::attach(&path)?;
    // A record leaves the ring only once it is out of this process (written to stdout): each
    // batch is flushed, then released (spec/RING.md 5).
    consumer.set_deferred_release(true);
    let mut out = EventWriter::new(output::stdout(), format);
    let mut hist = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
        .context("latency histogram")?;
    let (mut records, mut bytes, mut bad_crc) = (0u64, 0u64, None);
    let mut io_error: Option<std::io::Error> = None;
    while !stop.load(Ordering::Relaxed) {
        let deadline = Some(Instant::now() + Duration::from_millis(100));
        let status = consumer.read_wait(
            1024,
            |r| {
                if !count && !latency {
                    let ev = Event {
                        index: records,
                        offset: r.position,
                        timestamp: r.timestamp,
                        payload: r.payload,
                        entry: r.entry,
                    };
                    if let Err(e) = out.write_checked(&ev, r.checksummed) {
                        // The record stays in the ring.
                        io_error = Some(e);
                        return ControlFlow::Break(());
                    }
                }
                if latency {
                    let now = journal::now_ns();
                    let _ = hist.record(now.saturating_sub(r.timestamp).max(1) as u64);
                }
                // A record written without a checksum (RING.md 3.1) has none to check.
                if r.checksummed && !r.checksum_ok() && bad_crc.is_none() {
                    bad_crc = Some((records, r.position));
                }
                records += 1;
                bytes += r.entry.len() as u64;
                ControlFlow::Continue(())
            },
            wait,
            deadline,
        );
        if let Some(e) = io_error.take() {
            return Err(e.into());
        }
        // Out first, then released: a failed flush leaves the batch in the ring.
        out.flush()?;
        consumer.release();
        if status?.end_of_stream {
            break;
        }
    }
    out.flush()?;
    if count {
        let mut o = output::stdout();
        writeln!(o, "{records} records, {bytes} bytes")?;
        o.flush()?;
    }
    if latency {
        let q = |p| {
            if hist.is_empty() {
                0
            } else {
                hist.value_at_quantile(p)
            }
        };
        super::print_json(&LatencyJson {
            records,
            p50_ns: q(0.5),
            p99_ns: q(0.99),
            p999_ns: q(0.999),
            max_ns: if hist.is_empty() { 0 } else { hist.max() },
        })?;
    }
    if let Some((index, position)) = bad_crc {
        return Err(DataError(format!(
            "{}: record {index} at ring position {position} fails its CRC-32",
            path.display()
        ))
        .into());
    }
    Ok(Status::Success)
}
