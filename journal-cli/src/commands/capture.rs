//! `journal capture`: record UDP datagrams (unicast or multicast) into a journal, one event per
//! datagram stamped with the kernel receive time, until SIGINT or SIGTERM.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use journal::set::RollPolicy;
use journal::{
    CaptureOptions, CaptureStats, Interface, RecoveryMode, SyncPolicy, UdpCapture, WriterOptions,
};
use serde::Serialize;

use crate::exit::Status;
use crate::sink::{Mode, RollArgs, Sink, SinkOptions};
use crate::{output, time};

const EXAMPLES: &str = concat!(
    "\
Examples:
  journal capture --udp 0.0.0.0:5000 feed.journal
  journal capture --udp 239.1.1.1:5000 --iface 10.0.0.5 --stats-interval 1s feed.journal
  journal capture --udp 0.0.0.0:5000 --group 239.1.1.1 --iface eth1 --sync interval:1s feed.journal
  journal capture --udp [::]:5000 --group ff15::1 --iface eth1 feed.journal
  journal capture --udp 239.1.1.1:5000 --roll daily --roll-offset 22h feed.set

Every datagram becomes one event, byte for byte, stamped with the time the kernel received it
(SO_TIMESTAMPNS, ns since the epoch). Bursts are received with recvmmsg, --batch datagrams per call,
into a socket buffer of --rcvbuf bytes (SO_RCVBUFFORCE when permitted, else SO_RCVBUF, which
net.core.rmem_max caps). Datagrams the kernel had to drop are counted (SO_RXQ_OVFL) and reported.

--udp binds the socket: a local address, the wildcard address (0.0.0.0, [::]) or a multicast group,
which is then joined. --group joins a group while bound to the wildcard address. --iface picks the
interface that joins: its IPv4 address, its name or its index (IPv6: name or index).

SIGINT or SIGTERM stops the capture: what the kernel has already queued is recorded, the journal is
synced and closed, and a summary is printed (status 0). With --stats-interval, statistics go to
stderr while it runs. The journal (or set) is created if missing and appended to otherwise; a
damaged one is refused (status 1; 'journal repair' cuts the damage).

Sync policies: never, always (every append), events:N, bytes:SIZE, interval:DURATION.
Durations take a unit (100ms, 2s, 1h); sizes are bytes or K/KiB, M/MiB, G/GiB.

",
    crate::sink::roll_help!()
);

/// After a stop signal, how long datagrams received before it may still be drained.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);

/// Record UDP datagrams into a journal, one event per datagram, stamped with the kernel receive
/// time, until SIGINT or SIGTERM.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The journal file, or a journal set's directory (created if missing).
    file: PathBuf,
    /// Where to receive: a local address, the wildcard address or a multicast group, and a port.
    #[arg(long, value_name = "ADDR:PORT")]
    udp: SocketAddr,
    /// Join this multicast group (with --udp bound to the wildcard address or to the group).
    #[arg(long, value_name = "MCAST_ADDR")]
    group: Option<IpAddr>,
    /// The interface that joins the group: its IPv4 address, its name or its index.
    #[arg(long, value_name = "IP|NAME|INDEX")]
    iface: Option<String>,
    /// When to flush events to disk: never, always, events:N, bytes:SIZE or interval:DURATION.
    #[arg(long, value_name = "POLICY", default_value = "never", value_parser = super::append::parse_sync)]
    sync: SyncPolicy,
    /// Print statistics to stderr every DURATION (e.g. 1s, 500ms) while capturing.
    #[arg(long, value_name = "DURATION", value_parser = crate::units::parse_duration)]
    stats_interval: Option<Duration>,
    /// The socket receive buffer to ask for: bytes, or K/KiB, M/MiB, G/GiB (at most 1 GiB).
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_rcvbuf)]
    rcvbuf: usize,
    /// The most datagrams received by one system call (1 to 1024).
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    batch: u16,
    /// Silences of at least DURATION between datagrams are counted as gaps in the summary.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = crate::units::parse_duration)]
    gap: Duration,
    /// Print the summary (stdout) and the statistics (stderr) as JSON lines.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    roll: RollArgs,
}

/// `--rcvbuf`: a size from 1 byte to 1 GiB, in the one size syntax of every flag.
fn parse_rcvbuf(s: &str) -> Result<usize, String> {
    let n = crate::units::parse_size(s)?;
    if n == 0 || n > 1 << 30 {
        return Err(format!("--rcvbuf '{s}' must be from 1 byte to 1GiB"));
    }
    Ok(n as usize)
}

/// `--iface`: an IPv4 address, an index, or a name.
fn parse_interface(s: &str) -> Result<Interface, String> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return match ip {
            IpAddr::V4(a) => Ok(Interface::Addr(a)),
            IpAddr::V6(_) => Err(format!(
                "--iface {s}: give an IPv6 group's interface by name or index"
            )),
        };
    }
    if let Ok(index) = s.parse::<u32>() {
        return Ok(Interface::Index(index));
    }
    if s.is_empty() || s.len() > 15 || s.contains(['/', ' ', '\0']) {
        return Err(format!(
            "--iface '{s}' is not an interface address, name or index"
        ));
    }
    Ok(Interface::Name(s.to_owned()))
}

struct Config {
    path: PathBuf,
    addr: SocketAddr,
    writer: WriterOptions,
    roll: Option<RollPolicy>,
    batch: usize,
    capture: CaptureOptions,
    stats_interval: Option<Duration>,
    gap_threshold: Duration,
    requested_rcvbuf: usize,
    json: bool,
}

impl TryFrom<Args> for Config {
    type Error = anyhow::Error;

    fn try_from(a: Args) -> anyhow::Result<Config> {
        let roll = a.roll.policy()?;
        let group = a
            .group
            .or_else(|| a.udp.ip().is_multicast().then_some(a.udp.ip()));
        let mut capture = CaptureOptions::new();
        capture
            .recv_buffer(a.rcvbuf)
            .batch(usize::from(a.batch))
            .gap_threshold(a.gap);
        match (group, &a.iface) {
            (None, Some(_)) => anyhow::bail!(
                "--iface picks the interface that joins a multicast group, but there is no group \
                 (give --group, or a group address to --udp)"
            ),
            (None, None) => {}
            (Some(g), iface) => {
                if !g.is_multicast() {
                    anyhow::bail!("--group {g} is not a multicast address");
                }
                if g.is_ipv4() != a.udp.is_ipv4() {
                    anyhow::bail!(
                        "--group {g} and --udp {} are of different IP families",
                        a.udp
                    );
                }
                if a.udp.ip() != g && !a.udp.ip().is_unspecified() {
                    anyhow::bail!(
                        "to receive group {g}, --udp must be {g} or the wildcard address, not {}",
                        a.udp.ip()
                    );
                }
                let iface = match iface {
                    Some(s) => parse_interface(s).map_err(anyhow::Error::msg)?,
                    None => Interface::Any,
                };
                if g.is_ipv6() && matches!(iface, Interface::Addr(_)) {
                    anyhow::bail!("--iface for IPv6 group {g} must be an interface name or index");
                }
                capture.multicast(g, iface);
            }
        }
        let mut writer = WriterOptions::new();
        // 16 MiB chunks (a set rolling by a smaller size: chunks of its roll size), pre-faulted:
        // appends take no page fault, and the capture grows the file between bursts (it
        // pretouches when the socket queue is drained, which in a set also prepares the next
        // segment ahead of the roll).
        writer.sync_policy(a.sync).recovery(RecoveryMode::Strict);
        Ok(Config {
            path: a.file,
            addr: a.udp,
            writer,
            roll,
            batch: usize::from(a.batch),
            capture,
            stats_interval: a.stats_interval,
            gap_threshold: a.gap,
            requested_rcvbuf: a.rcvbuf,
            json: a.json,
        })
    }
}

/// The summary (`--json`: one object on stdout).
#[derive(Debug, Serialize)]
struct Summary {
    local: String,
    group: Option<String>,
    journal: String,
    datagrams: u64,
    bytes: u64,
    elapsed_ns: u64,
    datagrams_per_sec: f64,
    bytes_per_sec: f64,
    kernel_drops: u64,
    truncated: u64,
    untimestamped: u64,
    backwards: u64,
    receive_calls: u64,
    first_timestamp: Option<i64>,
    last_timestamp: Option<i64>,
    largest_gap_ns: Option<u64>,
    largest_gap_from: Option<i64>,
    largest_gap_to: Option<i64>,
    gap_threshold_ns: u64,
    gaps: u64,
    recv_buffer: usize,
    journal_events: u64,
}

/// A line of periodic statistics (`--json`: one object on stderr).
#[derive(Debug, Serialize)]
struct Progress {
    elapsed_ns: u64,
    datagrams: u64,
    bytes: u64,
    kernel_drops: u64,
    /// Datagrams per second since the previous line.
    datagrams_per_sec: f64,
}

/// Runs `journal capture`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let cfg = Config::try_from(args)?;
    // Signals first, so that one arriving while the socket is set up still ends the run cleanly.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("cannot install a signal handler")?;
    }
    let mut cap = UdpCapture::bind(cfg.addr, &cfg.capture)?;
    let (mut w, _) = Sink::open(
        &cfg.path,
        &SinkOptions {
            writer: cfg.writer.clone(),
            chunk: 16 << 20,
            roll: cfg.roll,
            mode: Mode::OpenOrCreate,
            refusing: "capture into it",
        },
    )?;
    let before = w.events();
    announce(&cfg, &cap, w.roll())?;

    let started = Instant::now();
    let mut ticker = cfg.stats_interval.map(|every| Ticker::new(every, started));
    let mut captured = Ok(());
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = w.recv_batch(&mut cap, true, cfg.batch) {
            captured = Err(e);
            break;
        }
        if let Some(t) = &mut ticker {
            t.tick(&cfg, &cap, started);
        }
    }
    // Stopped: record every datagram the kernel received before the signal, however long that
    // takes (a slow sync policy may leave many queued); stop at the first one received after it.
    // Only a clock stepped back could keep this going; the safety net says so.
    let stopped_at = journal::now_ns();
    let give_up = Instant::now() + DRAIN_LIMIT;
    while captured.is_ok() {
        match w.recv_batch(&mut cap, false, cfg.batch) {
            Ok(0) => break,
            Ok(_) if cap.last_timestamp().is_some_and(|t| t > stopped_at) => break,
            Ok(_) if Instant::now() > give_up => {
                eprintln!(
                    "journal: warning: still receiving datagrams stamped before the stop after \
                     {} s; the ones still queued are not recorded",
                    DRAIN_LIMIT.as_secs()
                );
                break;
            }
            Ok(_) => {}
            Err(e) => captured = Err(e),
        }
    }
    let elapsed = started.elapsed();
    let events = w.events() - before;
    let closed = w.finish();
    let stats = cap.stats();
    match (captured, closed) {
        (Ok(()), Ok(())) => {}
        (Err(e), Ok(())) | (Ok(()), Err(e)) => return Err(e.into()),
        (Err(e), Err(c)) => {
            return Err(crate::exit::also_failed(
                e.into(),
                "closing the journal",
                c.into(),
            ))
        }
    }
    let summary = summarize(&cfg, &cap, &stats, elapsed, events);
    if cfg.json {
        super::print_json(&summary)?;
    } else {
        print_summary(&summary, cfg.gap_threshold)?;
    }
    Ok(Status::Success)
}

/// One line on stderr when the socket is ready (tests and scripts wait for it), and a warning when
/// the kernel granted less receive buffer than asked.
fn announce(cfg: &Config, cap: &UdpCapture, roll: Option<RollPolicy>) -> anyhow::Result<()> {
    let mut err = std::io::stderr().lock();
    // SO_RCVBUF reports twice the size asked for (the kernel counts its bookkeeping too).
    let granted = cap.recv_buffer_size() / 2;
    if cfg.json {
        let line = serde_json::json!({
            "listening": cap.local_addr().to_string(),
            "group": cap.group().map(|g| g.to_string()),
            "journal": cfg.path.display().to_string(),
            "recv_buffer": cap.recv_buffer_size(),
        });
        writeln!(err, "{line}")?;
    } else {
        let group = cap
            .group()
            .map_or_else(String::new, |g| format!(", group {g}"));
        let into = match roll {
            Some(p) => format!(
                "journal set {} (rolling {})",
                cfg.path.display(),
                crate::sink::roll_text(&p)
            ),
            None => cfg.path.display().to_string(),
        };
        writeln!(
            err,
            "journal: capturing {}{group} into {into} (receive buffer {} bytes); SIGINT or SIGTERM \
             stops",
            cap.local_addr(),
            cap.recv_buffer_size()
        )?;
    }
    if granted < cfg.requested_rcvbuf {
        writeln!(
            err,
            "journal: warning: the kernel granted a receive buffer of {granted} usable bytes, not \
             the {} asked for (raise net.core.rmem_max, or run with CAP_NET_ADMIN)",
            cfg.requested_rcvbuf
        )?;
    }
    err.flush()?;
    Ok(())
}

/// The periodic statistics of `--stats-interval`.
struct Ticker {
    every: Duration,
    /// When the next line is due.
    due: Instant,
    /// The datagram count and time of the previous line.
    count: u64,
    at: Instant,
}

impl Ticker {
    fn new(every: Duration, started: Instant) -> Ticker {
        Ticker {
            every,
            due: started + every,
            count: 0,
            at: started,
        }
    }

    /// Prints a line if one is due. A line that cannot be written (stderr closed) is dropped:
    /// statistics never stop a capture.
    fn tick(&mut self, cfg: &Config, cap: &UdpCapture, started: Instant) {
        let now = Instant::now();
        if now < self.due {
            return;
        }
        let s = cap.stats();
        let since = (now - self.at).as_secs_f64().max(1e-9);
        let p = Progress {
            elapsed_ns: (now - started).as_nanos() as u64,
            datagrams: s.datagrams,
            bytes: s.bytes,
            kernel_drops: s.kernel_drops,
            datagrams_per_sec: (s.datagrams - self.count) as f64 / since,
        };
        let line = if cfg.json {
            serde_json::to_string(&p).unwrap_or_default()
        } else {
            format!(
                "journal: capture: {:.1} s, {} datagrams ({:.0}/s), {} bytes, {} kernel drops",
                (now - started).as_secs_f64(),
                p.datagrams,
                p.datagrams_per_sec,
                p.bytes,
                p.kernel_drops
            )
        };
        let _ = writeln!(std::io::stderr(), "{line}");
        // The next line one interval after this one was due, or after now if the loop fell
        // behind (a long sync).
        self.due = (self.due + self.every).max(now + self.every / 2);
        (self.count, self.at) = (s.datagrams, now);
    }
}

fn summarize(
    cfg: &Config,
    cap: &UdpCapture,
    s: &CaptureStats,
    elapsed: Duration,
    events: u64,
) -> Summary {
    let secs = elapsed.as_secs_f64().max(1e-9);
    Summary {
        local: cap.local_addr().to_string(),
        group: cap.group().map(|g| g.to_string()),
        journal: cfg.path.display().to_string(),
        datagrams: s.datagrams,
        bytes: s.bytes,
        elapsed_ns: elapsed.as_nanos() as u64,
        datagrams_per_sec: s.datagrams as f64 / secs,
        bytes_per_sec: s.bytes as f64 / secs,
        kernel_drops: s.kernel_drops,
        truncated: s.truncated,
        untimestamped: s.untimestamped,
        backwards: s.backwards,
        receive_calls: s.receive_calls,
        first_timestamp: s.first_timestamp,
        last_timestamp: s.last_timestamp,
        largest_gap_ns: s.largest_gap.map(|g| g.nanos()),
        largest_gap_from: s.largest_gap.map(|g| g.from),
        largest_gap_to: s.largest_gap.map(|g| g.to),
        gap_threshold_ns: cfg.gap_threshold.as_nanos() as u64,
        gaps: s.gaps,
        recv_buffer: cap.recv_buffer_size(),
        journal_events: events,
    }
}

fn print_summary(s: &Summary, gap_threshold: Duration) -> anyhow::Result<()> {
    let when = |ts: Option<i64>| ts.map_or_else(|| "-".to_owned(), time::rfc3339);
    let mut out = output::stdout();
    writeln!(
        out,
        "captured {} datagrams ({} bytes) in {:.3} s: {:.0} datagrams/s, {:.0} bytes/s",
        s.datagrams,
        s.bytes,
        s.elapsed_ns as f64 / 1e9,
        s.datagrams_per_sec,
        s.bytes_per_sec
    )?;
    writeln!(
        out,
        "kernel drops:  {}{}",
        s.kernel_drops,
        if s.kernel_drops > 0 {
            " (datagrams lost before they were read: raise --rcvbuf)"
        } else {
            ""
        }
    )?;
    if s.truncated > 0 {
        writeln!(
            out,
            "truncated:     {} (longer than 65536 bytes; not recorded)",
            s.truncated
        )?;
    }
    if s.backwards > 0 {
        writeln!(
            out,
            "clock steps:   {} datagrams stamped earlier than the one before",
            s.backwards
        )?;
    }
    writeln!(out, "first:         {}", when(s.first_timestamp))?;
    writeln!(out, "last:          {}", when(s.last_timestamp))?;
    match (s.largest_gap_ns, s.largest_gap_from, s.largest_gap_to) {
        (Some(ns), Some(from), Some(to)) => writeln!(
            out,
            "largest gap:   {} from {} to {}",
            human_duration(ns),
            time::rfc3339(from),
            time::rfc3339(to)
        )?,
        _ => writeln!(out, "largest gap:   -")?,
    }
    writeln!(
        out,
        "gaps:          {} of {} or more",
        s.gaps,
        human_duration(gap_threshold.as_nanos() as u64)
    )?;
    writeln!(
        out,
        "journal:       {} ({} events appended, synced and closed)",
        s.journal, s.journal_events
    )?;
    out.flush()?;
    Ok(())
}

/// `1.500 s`, `2.250 ms`, `750 ns`.
fn human_duration(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.3} µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.3} ms", ns as f64 / 1e6),
        _ => format!("{:.3} s", ns as f64 / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_parse() {
        assert_eq!(parse_rcvbuf("64M"), Ok(64 << 20));
        assert_eq!(parse_rcvbuf("512KiB"), Ok(512 << 10));
        assert_eq!(parse_rcvbuf("4096"), Ok(4096));
        for bad in ["0", "2G", "x", "", "-5", "1T"] {
            assert!(parse_rcvbuf(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_interface("10.0.0.5"),
            Ok(Interface::Addr("10.0.0.5".parse().unwrap()))
        );
        assert_eq!(parse_interface("3"), Ok(Interface::Index(3)));
        assert_eq!(parse_interface("eth1"), Ok(Interface::Name("eth1".into())));
        for bad in ["::1", "", "a/b", "much-too-long-interface-name"] {
            assert!(parse_interface(bad).is_err(), "{bad}");
        }
        assert_eq!(human_duration(750), "750 ns");
        assert_eq!(human_duration(2_250_000), "2.250 ms");
        assert_eq!(human_duration(1_500_000_000), "1.500 s");
    }
}
