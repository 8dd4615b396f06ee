//! `journal demo`: the whole product in one command, on a fresh machine, in seconds.
//!
//! Synthesizes a market-data feed (quotes and trades for a few symbols, bursty timestamps),
//! journals it, verifies it, replays it into a ring consumed by a second process, measures the
//! ring's one-way latency between two processes, and prints a summary table.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use journal::{Producer, Reader, ReplayOptions, WriterOptions};

use crate::exit::Status;
use crate::output;

const EXAMPLES: &str = "\
Examples:
  journal demo
  journal demo --events 5000000
  journal demo --dir ./demo-out     # keep the journal and rings for a look with dump/info

Without --dir the files go to a temporary directory that is removed at the end.";

/// Synthesize a market-data feed, journal, verify and replay it across processes, and report.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Keep the files in this directory (created if missing) instead of a temporary one.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// How many market-data events to synthesize.
    #[arg(long, default_value_t = 2_000_000, value_parser = events_arg)]
    events: u64,
}

fn events_arg(s: &str) -> Result<u64, String> {
    let n = super::positive(s, "events")?;
    if n > 200_000_000 {
        return Err(format!("events {n}: at most 200000000"));
    }
    Ok(n)
}

const SYMBOLS: [(&str, f64); 5] = [
    ("BTC-USD", 42_000.0),
    ("ETH-USD", 2_250.0),
    ("AAPL", 189.5),
    ("MSFT", 411.2),
    ("ESZ6", 5_120.25),
];
const LATENCY_RECORDS: u64 = 20_000;

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The feed: quotes (`Q SYM bid=PxQ ask=PxQ`) and trades (`T SYM PxQ buy|sell`), in bursts of up
/// to 40 events a few hundred ns apart, separated by quiet gaps of up to 2 ms.
struct Feed {
    rng: Rng,
    ts: i64,
    burst_left: u64,
    mids: [f64; 5],
}

impl Feed {
    fn new(start: i64) -> Feed {
        Feed {
            rng: Rng(0x5EED),
            ts: start,
            burst_left: 0,
            mids: SYMBOLS.map(|(_, p)| p),
        }
    }

    fn next(&mut self, line: &mut String) -> i64 {
        if self.burst_left == 0 {
            self.burst_left = 1 + self.rng.below(40);
            self.ts += 20_000 + self.rng.below(2_000_000) as i64;
        } else {
            self.ts += 100 + self.rng.below(900) as i64;
        }
        self.burst_left -= 1;
        let s = self.rng.below(SYMBOLS.len() as u64) as usize;
        let step = (self.rng.below(21) as f64 - 10.0) * 0.0001;
        self.mids[s] *= 1.0 + step;
        let mid = self.mids[s];
        let tick = if mid > 1_000.0 { 0.25 } else { 0.01 };
        let qty = |r: &mut Rng| (1 + r.below(5_000)) as f64 / 1_000.0;
        line.clear();
        if self.rng.below(5) == 0 {
            let side = if self.rng.below(2) == 0 {
                "buy"
            } else {
                "sell"
            };
            let q = qty(&mut self.rng);
            let _ = write!(line, "T {} {:.2}x{q:.3} {side}", SYMBOLS[s].0, mid);
        } else {
            let (bq, aq) = (qty(&mut self.rng), qty(&mut self.rng));
            let _ = write!(
                line,
                "Q {} bid={:.2}x{bq:.3} ask={:.2}x{aq:.3}",
                SYMBOLS[s].0,
                mid - tick,
                mid + tick
            );
        }
        self.ts
    }
}

/// Where the demo's files go: the `--dir` the user gave (kept), or a fresh private directory
/// (mode 0700, a name no other process can predict, created with `mkdtemp` semantics: it did not
/// exist before) that is removed with everything in it on drop. Nothing that existed before the
/// demo is ever followed into or deleted.
enum WorkDir {
    Kept(PathBuf),
    Temporary(tempfile::TempDir),
}

impl WorkDir {
    fn path(&self) -> &Path {
        match self {
            WorkDir::Kept(p) => p,
            WorkDir::Temporary(t) => t.path(),
        }
    }

    fn keep(&self) -> bool {
        matches!(self, WorkDir::Kept(_))
    }
}

/// A child `journal ring consume ...` process, killed if the demo fails early.
struct ConsumerChild(Child);

impl Drop for ConsumerChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_consumer(ring: &Path, mode: &[&str]) -> anyhow::Result<ConsumerChild> {
    let exe = std::env::current_exe().context("finding the journal executable")?;
    let child = Command::new(exe)
        .args(["ring", "consume"])
        .args(mode)
        .arg(ring)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the consumer process")?;
    let child = ConsumerChild(child);
    // Wait until it has attached, so that what follows measures the ring and not its start.
    let deadline = Instant::now() + Duration::from_secs(20);
    while journal::ring_info(ring)?.consumer_pid == 0 {
        if Instant::now() > deadline {
            bail!(
                "the consumer process did not attach to {}",
                output::path(ring)
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(child)
}

fn finish(mut child: ConsumerChild) -> anyhow::Result<String> {
    let mut out = String::new();
    let stdout = child.0.stdout.take().context("consumer stdout")?;
    for line in BufReader::new(stdout).lines() {
        out.push_str(&line?);
        out.push('\n');
    }
    let status = child.0.wait()?;
    if !status.success() {
        bail!("the consumer process failed ({status})");
    }
    Ok(out)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn millions(n: f64) -> String {
    format!("{:.1} M", n / 1e6)
}

fn micros(ns: u64) -> String {
    if ns < 10_000 {
        format!("{:.2} µs", ns as f64 / 1e3)
    } else {
        format!("{:.0} µs", ns as f64 / 1e3)
    }
}

pub fn run(args: Args) -> anyhow::Result<Status> {
    let dir = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", output::path(d)))?;
            WorkDir::Kept(d.clone())
        }
        None => {
            // /dev/shm when there is one: the demo measures the journal, not the disk.
            let base = if Path::new("/dev/shm").is_dir() {
                PathBuf::from("/dev/shm")
            } else {
                std::env::temp_dir()
            };
            let t = tempfile::Builder::new()
                .prefix("journal-demo-")
                .tempdir_in(&base)
                .with_context(|| {
                    format!("creating a temporary directory in {}", output::path(&base))
                })?;
            WorkDir::Temporary(t)
        }
    };
    let journal_path = dir.path().join("md.journal");
    let replay_ring = dir.path().join("replay.ring");
    let latency_ring = dir.path().join("latency.ring");
    for p in [&journal_path, &replay_ring, &latency_ring] {
        if p.exists() {
            bail!("{} exists; choose an empty --dir", output::path(p));
        }
    }
    let n = args.events;

    // 1. Journal the feed.
    let mut w = WriterOptions::new()
        .chunk_size(64 << 20)
        .create(&journal_path)?;
    let mut feed = Feed::new(journal::now_ns());
    let mut line = String::with_capacity(64);
    let mut append_time = Duration::ZERO;
    let mut done = 0;
    // Events are synthesized a batch at a time, off the clock, so the rate is the journal's.
    let mut batch_bytes = Vec::with_capacity(8 << 20);
    let mut batch_events: Vec<(i64, usize, usize)> = Vec::with_capacity(100_000);
    while done < n {
        let batch = (n - done).min(100_000);
        batch_bytes.clear();
        batch_events.clear();
        for _ in 0..batch {
            let ts = feed.next(&mut line);
            batch_events.push((ts, batch_bytes.len(), line.len()));
            batch_bytes.extend_from_slice(line.as_bytes());
        }
        // Keep a chunk pre-faulted ahead, off the timed path, as a capture process would
        // between bursts.
        w.pretouch()?;
        let t = Instant::now();
        for &(ts, at, len) in &batch_events {
            w.append(ts, &batch_bytes[at..at + len])?;
        }
        append_time += t.elapsed();
        done += batch;
    }
    let bytes = w.write_offset();
    w.close()?;

    // 2. Verify every entry.
    let reader = Reader::open(&journal_path)?;
    let t = Instant::now();
    let report = reader.verify()?;
    let verify_time = t.elapsed();
    if !report.is_intact() || report.events != n {
        bail!("verification failed: {report:?}");
    }

    // 3. Replay into a ring consumed by a second process.
    journal::create_ring(&replay_ring, 4 << 20)?;
    let consumer = spawn_consumer(&replay_ring, &["--count"])?;
    let mut producer = Producer::attach(&replay_ring)?;
    let stats = journal::replay(&reader, &mut producer, &ReplayOptions::default())?;
    drop(producer);
    let counted = finish(consumer)?;
    let expected = format!("{n} records, {} bytes", bytes - journal::HEADER_LEN);
    if counted.trim() != expected {
        bail!(
            "the consumer process saw '{}', expected '{expected}'",
            counted.trim()
        );
    }

    // 4. One-way latency between two processes: records stamped with the send time. The producer
    //    sleeps between records, so the figure is latency, not queueing, and the spinning consumer
    //    keeps a core even when the machine has other work.
    journal::create_ring(&latency_ring, 1 << 20)?;
    let consumer = spawn_consumer(&latency_ring, &["--latency", "--wait", "spin"])?;
    let mut producer = Producer::attach(&latency_ring)?;
    let payload = [0x2Au8; 64];
    for _ in 0..LATENCY_RECORDS {
        producer.push(journal::now_ns(), &payload)?;
        std::thread::sleep(Duration::from_micros(20));
    }
    producer.end_of_stream(journal::now_ns())?;
    drop(producer);
    let lat: super::ring::LatencyJson = serde_json::from_str(finish(consumer)?.trim())
        .context("reading the consumer's latency figures")?;

    // 5. The table.
    let mut o = output::stdout();
    let per_sec = |events: u64, d: Duration| events as f64 / d.as_secs_f64().max(1e-9);
    let bps = |b: u64, d: Duration| mb(b) / d.as_secs_f64().max(1e-9);
    writeln!(
        o,
        "journal demo: {n} market-data events ({} symbols, quotes and trades, bursty), {:.1} MB",
        SYMBOLS.len(),
        mb(bytes)
    )?;
    writeln!(
        o,
        "  {}{}",
        output::path(&journal_path),
        if dir.keep() { "" } else { " (removed at exit)" }
    )?;
    writeln!(o)?;
    writeln!(o, "  {:<40}{:>14}{:>12}", "step", "events/s", "MB/s")?;
    let row = |o: &mut output::Stdout, name: &str, ev: f64, mbs: f64| {
        writeln!(o, "  {name:<40}{:>14}{mbs:>12.0}", millions(ev))
    };
    row(
        &mut o,
        "append (in process, CRC-32 per event)",
        per_sec(n, append_time),
        bps(bytes, append_time),
    )?;
    row(
        &mut o,
        "verify (every entry's CRC-32)",
        per_sec(n, verify_time),
        bps(bytes, verify_time),
    )?;
    row(
        &mut o,
        "replay -> ring -> second process",
        stats.events_per_sec,
        bps(stats.bytes, stats.elapsed),
    )?;
    writeln!(o)?;
    writeln!(
        o,
        "  one-way latency through the ring between two processes ({} x 64 B records):",
        lat.records
    )?;
    writeln!(
        o,
        "  p50 {}   p99 {}   p99.9 {}   max {}",
        micros(lat.p50_ns),
        micros(lat.p99_ns),
        micros(lat.p999_ns),
        micros(lat.max_ns)
    )?;
    if dir.keep() {
        writeln!(o)?;
        writeln!(
            o,
            "  look inside: journal info {0}; journal dump {0} --limit 5",
            output::path(&journal_path)
        )?;
    }
    o.flush()?;
    Ok(Status::Success)
}
