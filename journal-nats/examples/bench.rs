//! The NATS benchmark of BENCHMARKS.md ("NATS JetStream: publish and mirror"): `journal publish`
//! and `journal mirror` against a plain async-nats JetStream publisher and ordered consumer moving
//! the same messages, and the end-to-end lag with `--follow` on both ends.
//!
//! ```sh
//! cargo build --release -p journal-cli
//! cargo run --release -p journal-nats --example bench -- [--events N] [--lag-seconds S]
//!     [--rate R] [--journal PATH] [--only throughput|lag] [--size BYTES]... [--rounds N]
//! ```
//!
//! It starts its own `nats-server` (JetStream, file storage in a temporary directory: `TMPDIR`
//! chooses where, e.g. `/dev/shm` to keep the disk out of the figures) on a free loopback port,
//! runs the `journal` binary (by default `target/release/journal`) as child processes, and prints
//! one line per figure. The throughput part runs `--rounds` rounds (default 3), each with fresh
//! streams: both publishers once (taking turns going first), then both readers twice (plain,
//! mirror, mirror, plain), each run after a `sync -f` of the directory; it prints every run's
//! time and the medians, and the ratios of the medians. Nothing is asserted: the figures are for BENCHMARKS.md.
//!
//! For profiling one contender alone, `bench serve [--events N] [--size BYTES] [--journal PATH]`
//! starts the server, fills stream `J<size>` (subject `j.<size>`) with `journal publish`, prints
//! the server's URL and the commands that read the stream (`journal mirror`, `bench
//! plain-consume`), and keeps both until its standard input closes.

use std::collections::VecDeque;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;
use journal::{Reader, WaitStrategy, Writer};

struct Options {
    events: u64,
    lag_seconds: u64,
    rate: u64,
    journal: PathBuf,
    /// Which parts run: "throughput", "lag" or both.
    only: Option<String>,
    /// The payload sizes of the throughput part.
    sizes: Vec<usize>,
    /// `bench serve`: fill one stream and keep it for profiling (see the module's comment).
    serve: bool,
    /// Throughput rounds: each publishes once per contender and mirrors twice per contender.
    rounds: u32,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        events: 500_000,
        lag_seconds: 20,
        rate: 10_000,
        journal: PathBuf::from("target/release/journal"),
        only: None,
        sizes: Vec::new(),
        serve: false,
        rounds: 3,
    };
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().is_some_and(|a| a == "serve") {
        args.next();
        o.serve = true;
    }
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--events" => o.events = value()?.parse()?,
            "--lag-seconds" => o.lag_seconds = value()?.parse()?,
            "--rate" => o.rate = value()?.parse()?,
            "--journal" => o.journal = value()?.into(),
            "--size" => o.sizes.push(value()?.parse()?),
            "--rounds" => o.rounds = value()?.parse()?,
            "--only" => {
                let v = value()?;
                if v != "throughput" && v != "lag" {
                    bail!("--only takes throughput or lag");
                }
                o.only = Some(v);
            }
            _ => bail!(
                "usage: bench [serve] [--events N] [--lag-seconds S] [--rate EVENTS_PER_SEC] [--journal PATH] [--only throughput|lag] [--size BYTES]... [--rounds N]"
            ),
        }
    }
    if o.events == 0 || o.rate == 0 || o.rounds == 0 || o.sizes.contains(&0) {
        bail!("--events, --rate, --rounds and --size must be positive");
    }
    if o.sizes.is_empty() {
        o.sizes = vec![64, 1024];
    }
    if !o.journal.is_file() {
        bail!(
            "{}: no journal binary (cargo build --release -p journal-cli, or --journal PATH)",
            o.journal.display()
        );
    }
    Ok(o)
}

/// A `nats-server` with JetStream, killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(dir: &Path) -> anyhow::Result<Server> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.join("store"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start nats-server (Debian: apt-get install nats-server)")?;
        let server = Server {
            child,
            url: format!("nats://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("nats-server did not listen on port {port}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(server)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A journal of `n` events of `size` bytes.
fn make_journal(path: &Path, n: u64, size: usize) -> anyhow::Result<()> {
    let mut w = Writer::create(path)?;
    let mut payload = vec![0u8; size];
    for i in 0..n {
        payload[..8.min(size)].copy_from_slice(&i.to_le_bytes()[..8.min(size)]);
        w.append(1_700_000_000_000_000_000 + i as i64, &payload)?;
    }
    w.close()?;
    Ok(())
}

/// Runs the `journal` binary to its end and returns how long it took.
fn time_journal(o: &Options, args: &[&str]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let out = Command::new(&o.journal)
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    let took = started.elapsed();
    if !out.status.success() {
        bail!(
            "journal {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(took)
}

/// Runs `journal publish` of `source` to `stream` on `subject` and returns how long it took.
fn journal_publish(
    o: &Options,
    source: &Path,
    url: &str,
    stream: &str,
    subject: &str,
) -> anyhow::Result<Duration> {
    time_journal(
        o,
        &[
            "publish",
            path(source)?,
            "--nats",
            url,
            "--stream",
            stream,
            "--subject",
            subject,
        ],
    )
}

async fn create_stream(js: &jetstream::Context, name: &str, subject: &str) -> anyhow::Result<()> {
    js.create_stream(stream::Config {
        name: name.into(),
        subjects: vec![subject.into()],
        ..Default::default()
    })
    .await?;
    Ok(())
}

/// The plain publisher: the same messages as `journal publish` (payload, the journal headers and
/// `Nats-Msg-Id`), read from the same journal, with the same number of acknowledgements in
/// flight (1024), but without `journal publish`'s position checks and expected-sequence headers.
async fn plain_publish(
    js: &jetstream::Context,
    source: &Path,
    subject: &str,
) -> anyhow::Result<()> {
    let reader = Reader::open(source)?;
    let start = reader.header()?.start_timestamp;
    let id = format!("plain-{start}");
    let mut acks = VecDeque::new();
    for ev in reader.iter() {
        let ev = ev?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(journal_nats::HDR_ID, id.as_str());
        headers.insert(journal_nats::HDR_INDEX, ev.index.to_string().as_str());
        headers.insert(
            journal_nats::HDR_TIMESTAMP,
            ev.timestamp.to_string().as_str(),
        );
        headers.insert(journal_nats::HDR_START, start.to_string().as_str());
        let msg = jetstream::message::PublishMessage::build()
            .payload(bytes::Bytes::copy_from_slice(ev.payload))
            .headers(headers)
            .message_id(format!("{id}:{}", ev.index));
        acks.push_back(js.send_publish(subject.to_owned(), msg).await?);
        if acks.len() >= 1024 {
            acks.pop_front().unwrap().await?;
        }
    }
    for ack in acks {
        ack.await?;
    }
    Ok(())
}

/// The plain consumer: an ordered push consumer reading `n` messages of `stream`, touching each
/// payload (it writes nothing).
async fn plain_consume(
    client: &async_nats::Client,
    js: &jetstream::Context,
    stream: &str,
    n: u64,
) -> anyhow::Result<()> {
    let consumer = js
        .get_stream(stream)
        .await?
        .create_consumer(consumer::push::OrderedConfig {
            deliver_subject: client.new_inbox(),
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    let (mut count, mut sum) = (0u64, 0u64);
    while count < n {
        let m = messages.next().await.context("the consumer ended")??;
        sum = sum.wrapping_add(m.payload.first().copied().unwrap_or(0) as u64);
        count += 1;
    }
    std::hint::black_box(sum);
    Ok(())
}

/// The plain clients run as child processes of this program (`bench plain-publish URL SOURCE
/// SUBJECT`, `bench plain-consume URL STREAM N`), on a current-thread runtime like the `journal`
/// binary's, so both sides are timed alike: process start, connection and stream look-up included.
fn plain_child(mode: &str, args: &[String]) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let client = async_nats::connect(args[0].as_str()).await?;
        let js = jetstream::new(client.clone());
        match mode {
            "plain-publish" => plain_publish(&js, Path::new(&args[1]), &args[2]).await?,
            _ => plain_consume(&client, &js, &args[1], args[2].parse()?).await?,
        }
        client.flush().await?;
        anyhow::Ok(())
    })
}

/// Runs this program as a plain client (see [`plain_child`]) and returns how long it took.
fn time_plain(args: &[&str]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let out = Command::new(std::env::current_exe()?)
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    let took = started.elapsed();
    if !out.status.success() {
        bail!(
            "bench {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(took)
}

fn rate(n: u64, size: usize, took: Duration) -> String {
    let s = took.as_secs_f64();
    format!(
        "{:>10.0} msg/s {:>8.1} MB/s ({:.2}s)",
        n as f64 / s,
        (n * size as u64) as f64 / s / 1e6,
        s
    )
}

/// Writes back what the previous steps left dirty in the file system of `dir` (`sync -f`), so
/// that each timed run starts with no write-back pending from another: on a slow disk, the
/// 512 MB a 1 KiB publish leaves in the stream's store would otherwise be written back during
/// whichever run comes next, and throttle it.
fn settle(dir: &Path) -> anyhow::Result<()> {
    let ok = Command::new("sync").arg("-f").arg(dir).status()?.success();
    if !ok {
        bail!("sync -f {} failed", dir.display());
    }
    Ok(())
}

/// The median of `runs` (sorted in place).
fn median(runs: &mut [Duration]) -> Duration {
    runs.sort();
    let n = runs.len();
    if n % 2 == 1 {
        runs[n / 2]
    } else {
        (runs[n / 2 - 1] + runs[n / 2]) / 2
    }
}

fn seconds(runs: &[Duration]) -> String {
    let s: Vec<String> = runs
        .iter()
        .map(|d| format!("{:.3}", d.as_secs_f64()))
        .collect();
    s.join(", ")
}

/// Prints one contender pair's runs, medians and ratio (plain median / journal median, so above
/// 0.8 meets the goal).
fn report(
    what: &str,
    size: usize,
    n: u64,
    (ours, mut journal): (&str, Vec<Duration>),
    (theirs, mut plain): (&str, Vec<Duration>),
) {
    println!(
        "{what} {size:>4} B  runs: journal {} s; plain {} s",
        seconds(&journal),
        seconds(&plain)
    );
    let (j, p) = (median(&mut journal), median(&mut plain));
    println!("{what} {size:>4} B  {ours:<16} {}", rate(n, size, j));
    println!("{what} {size:>4} B  {theirs:<16} {}", rate(n, size, p));
    println!(
        "{what} {size:>4} B  ratio {:.2} (medians of {} runs each)",
        p.as_secs_f64() / j.as_secs_f64(),
        journal.len()
    );
}

fn throughput(
    o: &Options,
    dir: &Path,
    url: &str,
    rt: &tokio::runtime::Runtime,
) -> anyhow::Result<()> {
    let js = rt.block_on(async {
        let client = async_nats::connect(url).await?;
        anyhow::Ok(jetstream::new(client))
    })?;
    let n = o.events;
    for &size in &o.sizes {
        let source = dir.join(format!("src-{size}.journal"));
        make_journal(&source, n, size)?;
        let (ours, plain) = (format!("J{size}"), format!("P{size}"));
        let (ours_subj, plain_subj) = (format!("j.{size}"), format!("p.{size}"));
        let target = dir.join(format!("mirror-{size}.journal"));
        let (mut journal_pub, mut plain_pub) = (Vec::new(), Vec::new());
        let (mut journal_mirror, mut plain_sub) = (Vec::new(), Vec::new());
        for round in 0..o.rounds {
            // Fresh streams each round (`journal publish` would resume after what a stream
            // holds); the two publishers take turns going first.
            rt.block_on(async {
                create_stream(&js, &ours, &ours_subj).await?;
                create_stream(&js, &plain, &plain_subj).await
            })?;
            let journal_once = || journal_publish(o, &source, url, &ours, &ours_subj);
            let plain_once = || time_plain(&["plain-publish", url, path(&source)?, &plain_subj]);
            if round % 2 == 0 {
                journal_pub.push(journal_once()?);
                plain_pub.push(plain_once()?);
            } else {
                plain_pub.push(plain_once()?);
                journal_pub.push(journal_once()?);
            }
            // Both read the stream `journal publish` filled, twice each in the order plain,
            // mirror, mirror, plain (so neither always runs first on the fresh stream, or last).
            let mirror_once = || -> anyhow::Result<Duration> {
                remove_target(&target)?;
                settle(dir)?;
                time_journal(
                    o,
                    &[
                        "mirror",
                        "--nats",
                        url,
                        "--stream",
                        &ours,
                        "--subject",
                        &ours_subj,
                        path(&target)?,
                    ],
                )
            };
            let plain_once = || {
                settle(dir)?;
                time_plain(&["plain-consume", url, &ours, &n.to_string()])
            };
            plain_sub.push(plain_once()?);
            journal_mirror.push(mirror_once()?);
            journal_mirror.push(mirror_once()?);
            plain_sub.push(plain_once()?);
            rt.block_on(async {
                js.delete_stream(&ours).await?;
                js.delete_stream(&plain).await
            })?;
        }
        report(
            "publish",
            size,
            n,
            ("journal publish", journal_pub),
            ("plain async-nats", plain_pub),
        );
        report(
            "mirror ",
            size,
            n,
            ("journal mirror", journal_mirror),
            ("plain ordered", plain_sub),
        );
        std::fs::remove_file(&source)?;
        remove_target(&target)?;
    }
    Ok(())
}

/// `bench serve`: one stream of `--events` messages of the first `--size` (1 KiB by default),
/// filled by `journal publish` and kept, with its server, until standard input closes, so that
/// the mirror and the plain consumer can be run and profiled alone on it, again and again.
fn serve(o: &Options, dir: &Path, url: &str, rt: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    let size = o.sizes.first().copied().unwrap_or(1024);
    let (stream, subject) = (format!("J{size}"), format!("j.{size}"));
    let source = dir.join(format!("src-{size}.journal"));
    make_journal(&source, o.events, size)?;
    rt.block_on(async {
        let js = jetstream::new(async_nats::connect(url).await?);
        create_stream(&js, &stream, &subject).await
    })?;
    let took = journal_publish(o, &source, url, &stream, &subject)?;
    std::fs::remove_file(&source)?;
    println!(
        "stream {stream} holds {} messages of {size} B (published in {:.2} s); read it with",
        o.events,
        took.as_secs_f64()
    );
    println!(
        "  {} mirror --nats {url} --stream {stream} --subject {subject} TARGET",
        o.journal.display()
    );
    println!(
        "  {} plain-consume {url} {stream} {}",
        std::env::current_exe()?.display(),
        o.events
    );
    println!("the server stops when standard input closes");
    std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink())?;
    Ok(())
}

/// Removes a mirror's target journal and its sidecar files (`TARGET.nats`, the index), if any.
fn remove_target(target: &Path) -> anyhow::Result<()> {
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        bail!("{}: not a file path", target.display());
    };
    let name = name.to_string_lossy();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_name().to_string_lossy().starts_with(&*name) {
            std::fs::remove_file(e.path())?;
        }
    }
    Ok(())
}

fn path(p: &Path) -> anyhow::Result<&str> {
    p.to_str().context("a temporary path that is not UTF-8")
}

/// A `journal` child process stopped with SIGTERM on drop.
struct Follower(Child);

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn follow(o: &Options, args: &[&str]) -> anyhow::Result<Follower> {
    Ok(Follower(
        Command::new(&o.journal)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    ))
}

/// End-to-end lag: a writer appends 64-byte events stamped with the clock at `--rate` for
/// `--lag-seconds`; `journal publish -f` and `journal mirror -f` carry them over; a tailer of the
/// mirror takes the clock again when each event appears there.
fn lag(o: &Options, dir: &Path, url: &str, rt: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    rt.block_on(async {
        let js = jetstream::new(async_nats::connect(url).await?);
        create_stream(&js, "L", "l.live").await
    })?;
    let source = dir.join("live.journal");
    let target = dir.join("live-mirror.journal");
    let mut w = Writer::create(&source)?;
    let total = o.rate * o.lag_seconds;
    let warmup = o.rate; // the first second is not counted
    let _publisher = follow(
        o,
        &[
            "publish",
            "-f",
            path(&source)?,
            "--nats",
            url,
            "--stream",
            "L",
            "--subject",
            "l.live",
        ],
    )?;
    let _mirror = follow(
        o,
        &[
            "mirror",
            "-f",
            "--nats",
            url,
            "--stream",
            "L",
            "--subject",
            "l.live",
            path(&target)?,
        ],
    )?;
    // One event first, to wait for both followers to be connected and carrying events: the lag
    // measured is the steady state's, not the start of two processes (printed apart).
    let primed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let observer = {
        let target = target.clone();
        let primed = std::sync::Arc::clone(&primed);
        std::thread::spawn(move || -> anyhow::Result<hdrhistogram::Histogram<u64>> {
            let mut hist = hdrhistogram::Histogram::<u64>::new(3)?;
            let deadline = Instant::now() + Duration::from_secs(60);
            while !target.exists() {
                if Instant::now() > deadline {
                    bail!("the mirror did not create {}", target.display());
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            // The mirror creates its journal when the first message arrives.
            let reader = loop {
                match Reader::open(&target) {
                    Ok(r) => break r,
                    Err(e) if Instant::now() > deadline => return Err(e.into()),
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            };
            let mut tailer = reader.tail();
            let mut seen = 0;
            while seen < total + 1 {
                let limit = Instant::now() + Duration::from_secs(60);
                let Some(ev) = tailer.wait(WaitStrategy::Yield, Some(limit))? else {
                    bail!("no event in the mirror for 60 s ({seen} of {total} seen)");
                };
                let now = journal::now_ns();
                if ev.index == 0 {
                    primed.store(true, std::sync::atomic::Ordering::Release);
                } else if ev.index > warmup {
                    hist.record((now - ev.timestamp).max(0) as u64)?;
                }
                seen += 1;
            }
            Ok(hist)
        })
    };
    let payload = [7u8; 64];
    let spawned = Instant::now();
    w.append_now(&payload)?;
    while !primed.load(std::sync::atomic::Ordering::Acquire) {
        if observer.is_finished() || spawned.elapsed() > Duration::from_secs(120) {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    println!(
        "lag: the first event reached the mirror {:.0} ms after both followers were started",
        spawned.elapsed().as_secs_f64() * 1e3
    );
    let period = Duration::from_secs_f64(1.0 / o.rate as f64);
    let started = Instant::now();
    for i in 0..total {
        let due = started + period * i as u32;
        loop {
            let now = Instant::now();
            if now >= due {
                break;
            }
            if due - now > Duration::from_micros(200) {
                std::thread::sleep(due - now - Duration::from_micros(100));
            } else {
                std::hint::spin_loop();
            }
        }
        w.append_now(&payload)?;
    }
    let hist = observer.join().expect("the observer panicked")?;
    w.close()?;
    let us = |q: f64| hist.value_at_quantile(q) as f64 / 1e3;
    println!(
        "lag 64 B at {}/s, {} events: p50 {:.0} us  p99 {:.0} us  p99.9 {:.0} us  max {:.0} us",
        o.rate,
        hist.len(),
        us(0.5),
        us(0.99),
        us(0.999),
        hist.max() as f64 / 1e3
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(mode) = args.get(1).filter(|m| m.starts_with("plain-")) {
        if args.len() != 5 {
            bail!("usage: bench {mode} URL SOURCE|STREAM SUBJECT|N");
        }
        return plain_child(mode, &args[2..]);
    }
    // A usage error is one line and exit status 2, with no backtrace (whatever RUST_BACKTRACE).
    let o = options().unwrap_or_else(|e| {
        eprintln!("bench: {e:#}");
        std::process::exit(2)
    });
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!(
        "nats-server at {}; {} events per size; journal binary {}",
        server.url,
        o.events,
        o.journal.display()
    );
    if o.serve {
        return serve(&o, dir.path(), &server.url, &rt);
    }
    if o.only.as_deref() != Some("lag") {
        throughput(&o, dir.path(), &server.url, &rt)?;
    }
    if o.only.as_deref() != Some("throughput") {
        lag(&o, dir.path(), &server.url, &rt)?;
    }
    Ok(())
}
