//! Wake-up latency and idle CPU of a waiting consumer in another process (BENCHMARKS.md, "Blocking
//! waits").
//!
//! Method: the parent stamps each message with `CLOCK_MONOTONIC` (one clock for the whole
//! machine on Linux) and sends it; the waiting child reads the clock as soon as its wait hands it
//! the message and sends the difference back on a second ring, which the parent polls. Between
//! messages the parent pauses `JOURNAL_BENCH_WAIT_GAP_US` (default 1000 µs), longer than any
//! contender spins, so a blocking waiter is asleep when each message arrives: the figure is the
//! wake-up latency, push to "the waiting process has the event". `JOURNAL_BENCH_WAIT_ROUNDS`
//! messages (default 2000) go into an HDR histogram. The parent also times its own send (the
//! stamp to the return of its push) into a second histogram: what the push costs after the pause,
//! with the sender's code and data no longer in its caches.
//!
//! Idle CPU: the child reports the CPU time (`getrusage`) it used between two messages sent
//! `JOURNAL_BENCH_WAIT_IDLE_MS` apart (default 3000), while it waited with nothing to read.
//!
//! Contenders, each waiting with the same number of spins (100) before it sleeps, and each with a
//! bounded sleep of 10 ms (our liveness interval; ringfire's timeout set to match):
//! - journal-ring/spin: `Consumer::read_wait` with `WaitStrategy::BusySpin` (the reference).
//! - journal-ring/block: `Consumer::read_wait` with `WaitStrategy::Block { spins: 100 }`
//!   (spec/RING.md 5.1).
//! - journal-ring-nocrc/spin: journal-ring/spin with records written without a checksum
//!   (`Producer::set_checksums(false)`, kind 4 of spec/RING.md 3.1), as ringfire writes its slots.
//! - journal-tailer/spin, journal-tailer/block: a journal's `Tailer::wait` in the child, the parent
//!   appending to the journal (`Writer::append`), with `BusySpin` and with `Block { spins: 100 }`
//!   (spec/FORMAT.md 15; sleeps bounded by 100 ms). The replies come back on a ring as above.
//! - ringfire/spin, ringfire/futex (the `peers` feature): `RingConsumer::recv_blocking` with
//!   `BusySpin` and with `FutexWait::new(100, Some(10 ms))` on a lossless ring of 64-byte slots.
#![allow(missing_docs)] // reason: helpers generate undocumented items

use std::ops::ControlFlow;
use std::time::Duration;

use hdrhistogram::Histogram;
use journal::{create_ring, Consumer, Producer, Reader, WaitStrategy, Writer};
use journal_benches::{child, env_u64, pin_to_cpu, results, selected, ShmFile};
use serde_json::json;

const GROUP: &str = "wait";
const RING_CAPACITY: u64 = 64 << 10;
const SPINS: u32 = 100;
#[cfg(feature = "peers")]
const FUTEX_TIMEOUT: Duration = Duration::from_millis(10);
/// Message kinds (first payload byte).
const PROBE: u8 = 0;
const IDLE: u8 = 1;
const STOP: u8 = 2;
const MSG: usize = 64;

/// Nanoseconds of `CLOCK_MONOTONIC`, the same clock in every process.
fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, exclusively borrowed timespec; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CPU time (user + system) of this process so far, in nanoseconds.
fn cpu_ns() -> u64 {
    // SAFETY: `ru` is a plain C struct for which all-zero bytes are valid; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid, exclusively borrowed rusage; RUSAGE_SELF is a valid target.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn message(kind: u8, value: u64) -> [u8; MSG] {
    let mut m = [0u8; MSG];
    m[0] = kind;
    m[8..16].copy_from_slice(&value.to_le_bytes());
    m
}

fn value(m: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(m[at..at + 8].try_into().expect("8 bytes"))
}

/// The child's answer to a message: the wake-up latency of a probe, or the CPU and wall time
/// since the previous message.
struct Answerer {
    last_cpu: u64,
    last_wall: u64,
}

impl Answerer {
    fn new() -> Answerer {
        Answerer {
            last_cpu: cpu_ns(),
            last_wall: mono_ns(),
        }
    }

    fn answer(&mut self, got: u64, m: &[u8]) -> [u8; MSG] {
        let mut reply = message(m[0], got.saturating_sub(value(m, 8)));
        if m[0] == IDLE {
            let (cpu, wall) = (cpu_ns(), mono_ns());
            reply[8..16].copy_from_slice(&(cpu - self.last_cpu).to_le_bytes());
            reply[16..24].copy_from_slice(&(wall - self.last_wall).to_le_bytes());
        }
        self.last_cpu = cpu_ns();
        self.last_wall = mono_ns();
        reply
    }
}

/// The parent's side of a contender: send a message, spin for the child's reply.
trait Pair {
    fn send(&mut self, m: [u8; MSG]);
    fn reply(&mut self) -> [u8; MSG];
}

fn measure(id: &str, pair: &mut impl Pair) {
    let rounds = env_u64("JOURNAL_BENCH_WAIT_ROUNDS", 2000);
    let gap = Duration::from_micros(env_u64("JOURNAL_BENCH_WAIT_GAP_US", 1000));
    let idle = Duration::from_millis(env_u64("JOURNAL_BENCH_WAIT_IDLE_MS", 3000));
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
    let mut sends = h.clone();
    for i in 0..rounds + rounds / 10 {
        std::thread::sleep(gap); // pacing, so that the waiter is asleep when the message comes
        let stamp = mono_ns();
        pair.send(message(PROBE, stamp));
        let sent = mono_ns();
        let r = pair.reply();
        if i >= rounds / 10 {
            h.saturating_record(value(&r, 8).max(1));
            sends.saturating_record((sent - stamp).max(1));
        }
    }
    pair.send(message(IDLE, 0));
    pair.reply();
    std::thread::sleep(idle);
    pair.send(message(IDLE, 0));
    let r = pair.reply();
    let (cpu, wall) = (value(&r, 8), value(&r, 16));
    let percent = 100.0 * cpu as f64 / wall.max(1) as f64;
    let (p50, p99, p999, max) = (
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max(),
    );
    let (send_p50, send_p99) = (sends.value_at_quantile(0.5), sends.value_at_quantile(0.99));
    println!(
        "{GROUP}/{id}: the sender's push after its pause p50 {send_p50} ns, p99 {send_p99} ns"
    );
    println!(
        "{GROUP}/{id}: wake-up p50 {p50} ns, p99 {p99} ns, p99.9 {p999} ns, max {max} ns ({} \
         messages, {} µs apart); idle waiter {percent:.2} % of a core over {:.1} s",
        h.len(),
        gap.as_micros(),
        wall as f64 / 1e9
    );
    results::record(
        GROUP,
        id,
        json!({
            "p50_ns": p50, "p99_ns": p99, "p999_ns": p999, "max_ns": max, "count": h.len(),
            "gap_us": gap.as_micros() as u64, "idle_cpu_percent": percent,
            "idle_seconds": wall as f64 / 1e9, "send_p50_ns": send_p50, "send_p99_ns": send_p99,
        }),
    );
    pair.send(message(STOP, 0));
}

// ---------------------------------------------------------------------------------------------
// The journal's ring.

struct RingPair {
    _files: (ShmFile, ShmFile),
    producer: Producer,
    consumer: Consumer,
    child: Option<std::process::Child>,
}

impl RingPair {
    /// A pair whose parent writes records with their CRC-32 (`checksums`) or without (kind 4 of
    /// spec/RING.md 3.1, as the peers write theirs).
    fn start(wait: &str, checksums: bool) -> RingPair {
        let (a, b) = (ShmFile::new("wait-a"), ShmFile::new("wait-b"));
        create_ring(a.path(), RING_CAPACITY).expect("create ring a");
        create_ring(b.path(), RING_CAPACITY).expect("create ring b");
        let mut producer = Producer::attach(a.path()).expect("attach producer");
        producer.set_wait_strategy(WaitStrategy::BusySpin);
        producer.set_checksums(checksums);
        let consumer = Consumer::attach(b.path()).expect("attach consumer");
        let child = child::spawn(
            "ring-waiter",
            [
                ("JOURNAL_BENCH_RING_A", a.path().as_os_str()),
                ("JOURNAL_BENCH_RING_B", b.path().as_os_str()),
                ("JOURNAL_BENCH_WAIT", std::ffi::OsStr::new(wait)),
            ],
        );
        RingPair {
            _files: (a, b),
            producer,
            consumer,
            child: Some(child),
        }
    }
}

impl Pair for RingPair {
    fn send(&mut self, m: [u8; MSG]) {
        self.producer.push(0, &m).expect("push");
    }

    fn reply(&mut self) -> [u8; MSG] {
        read_echo(&mut self.consumer)
    }
}

impl Drop for RingPair {
    fn drop(&mut self) {
        if let Some(c) = self.child.take() {
            child::join(c, "ring waiter");
        }
    }
}

/// Spins until the waiter's echo arrives on the back ring, and returns it.
fn read_echo(consumer: &mut Consumer) -> [u8; MSG] {
    let mut out = [0u8; MSG];
    loop {
        let s = consumer
            .read(1, |r| {
                out.copy_from_slice(r.payload);
                ControlFlow::Continue(())
            })
            .expect("read");
        if s.records == 1 {
            return out;
        }
        std::hint::spin_loop();
    }
}

fn ring_waiter() {
    pin_to_cpu(1);
    let strategy = match child::env("JOURNAL_BENCH_WAIT").as_str() {
        "spin" => WaitStrategy::BusySpin,
        _ => WaitStrategy::Block { spins: SPINS },
    };
    let mut consumer = Consumer::attach(child::env("JOURNAL_BENCH_RING_A")).expect("attach a");
    let mut producer = Producer::attach(child::env("JOURNAL_BENCH_RING_B")).expect("attach b");
    producer.set_wait_strategy(WaitStrategy::BusySpin);
    let mut answerer = Answerer::new();
    let mut stop = false;
    while !stop {
        consumer
            .read_wait(
                1,
                |r| {
                    let got = mono_ns();
                    stop = r.payload[0] == STOP;
                    if !stop {
                        let reply = answerer.answer(got, r.payload);
                        producer.push(0, &reply).expect("reply");
                    }
                    ControlFlow::Continue(())
                },
                strategy,
                None,
            )
            .expect("read");
    }
}

// ---------------------------------------------------------------------------------------------
// The journal's tailer.

struct JournalPair {
    files: (ShmFile, ShmFile),
    writer: Writer,
    consumer: Consumer,
    child: Option<std::process::Child>,
}

impl JournalPair {
    fn start(wait: &str) -> JournalPair {
        let (a, b) = (ShmFile::new("wait-journal"), ShmFile::new("wait-back"));
        let writer = Writer::options()
            .index(false)
            .chunk_size(1 << 20)
            .create(a.path())
            .expect("create journal");
        create_ring(b.path(), RING_CAPACITY).expect("create ring b");
        let consumer = Consumer::attach(b.path()).expect("attach consumer");
        let child = child::spawn(
            "journal-waiter",
            [
                ("JOURNAL_BENCH_JOURNAL", a.path().as_os_str()),
                ("JOURNAL_BENCH_RING_B", b.path().as_os_str()),
                ("JOURNAL_BENCH_WAIT", std::ffi::OsStr::new(wait)),
            ],
        );
        JournalPair {
            files: (a, b),
            writer,
            consumer,
            child: Some(child),
        }
    }
}

impl Pair for JournalPair {
    fn send(&mut self, m: [u8; MSG]) {
        self.writer.append(0, &m).expect("append");
    }

    fn reply(&mut self) -> [u8; MSG] {
        read_echo(&mut self.consumer)
    }
}

impl Drop for JournalPair {
    fn drop(&mut self) {
        if let Some(c) = self.child.take() {
            child::join(c, "journal waiter");
        }
        let _ = std::fs::remove_file(journal::wake::wake_path(self.files.0.path()));
    }
}

fn journal_waiter() {
    pin_to_cpu(1);
    let strategy = match child::env("JOURNAL_BENCH_WAIT").as_str() {
        "spin" => WaitStrategy::BusySpin,
        _ => WaitStrategy::Block { spins: SPINS },
    };
    let reader = Reader::open(child::env("JOURNAL_BENCH_JOURNAL")).expect("open journal");
    let mut tail = reader.tail();
    let mut producer = Producer::attach(child::env("JOURNAL_BENCH_RING_B")).expect("attach b");
    producer.set_wait_strategy(WaitStrategy::BusySpin);
    let mut answerer = Answerer::new();
    loop {
        let e = tail.wait(strategy, None).expect("wait").expect("an event");
        let got = mono_ns();
        if e.payload[0] == STOP {
            return;
        }
        let reply = answerer.answer(got, e.payload);
        producer.push(0, &reply).expect("reply");
    }
}

// ---------------------------------------------------------------------------------------------
// ringfire.

#[cfg(feature = "peers")]
mod rf {
    use super::*;
    use ringfire::{
        BusySpin, FlowControl, FutexWait, RingConsumer, RingProducer, RingProducerBuilder,
    };
    use std::path::Path;
    use std::sync::atomic::Ordering;
    use std::time::Instant;

    type Error = Box<dyn std::error::Error>;

    fn rf_producer(path: &Path) -> Result<RingProducer<[u8; MSG]>, Error> {
        Ok(RingProducerBuilder::new(RING_CAPACITY / MSG as u64)
            .flow_control(FlowControl::LosslessBackpressure)
            .build::<[u8; MSG], _>(path)?)
    }

    fn rf_consumer(path: &Path) -> Result<RingConsumer<[u8; MSG]>, Error> {
        Ok(RingConsumer::<[u8; MSG]>::builder()
            .start_from_head()
            .attach(path)?)
    }

    struct RfPair {
        producer: RingProducer<[u8; MSG]>,
        consumer: RingConsumer<[u8; MSG]>,
        child: Option<std::process::Child>,
        _files: (ShmFile, ShmFile, ShmFile),
    }

    impl RfPair {
        fn start(wait: &str) -> Result<RfPair, Error> {
            let (a, b) = (ShmFile::new("rfw-a"), ShmFile::new("rfw-b"));
            let ready_file = ShmFile::new("rfw-ready");
            let ready = journal_benches::SharedWords::create(ready_file.path())?;
            let producer = rf_producer(a.path())?;
            let mut child = Some(child::spawn(
                "ringfire-waiter",
                [
                    ("JOURNAL_BENCH_RING_A", a.path().as_os_str()),
                    ("JOURNAL_BENCH_RING_B", b.path().as_os_str()),
                    ("JOURNAL_BENCH_WAIT", std::ffi::OsStr::new(wait)),
                    ("JOURNAL_BENCH_WORDS", ready_file.path().as_os_str()),
                ],
            ));
            let deadline = Instant::now() + Duration::from_secs(20);
            while ready.word(0).load(Ordering::Acquire) == 0 {
                if Instant::now() > deadline {
                    if let Some(c) = child.take() {
                        child::join(c, "ringfire waiter");
                    }
                    return Err("ringfire waiter child did not start".into());
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            let consumer = rf_consumer(b.path())?;
            Ok(RfPair {
                producer,
                consumer,
                child,
                _files: (a, b, ready_file),
            })
        }
    }

    impl Pair for RfPair {
        fn send(&mut self, m: [u8; MSG]) {
            self.producer.push(&m);
        }

        fn reply(&mut self) -> [u8; MSG] {
            loop {
                if let Some(r) = self.consumer.try_recv() {
                    return r;
                }
                std::hint::spin_loop();
            }
        }
    }

    impl Drop for RfPair {
        fn drop(&mut self) {
            if let Some(c) = self.child.take() {
                child::join(c, "ringfire waiter");
            }
        }
    }

    fn waiter(wait: &mut impl ringfire::WaitStrategy) -> Result<(), Error> {
        pin_to_cpu(1);
        let mut consumer = rf_consumer(child::env("JOURNAL_BENCH_RING_A").as_ref())?;
        let mut producer = rf_producer(child::env("JOURNAL_BENCH_RING_B").as_ref())?;
        let ready = journal_benches::SharedWords::open(child::env("JOURNAL_BENCH_WORDS").as_ref())?;
        ready.word(0).store(1, Ordering::Release);
        let mut answerer = Answerer::new();
        loop {
            let m = consumer.recv_blocking(wait);
            let got = mono_ns();
            if m[0] == STOP {
                return Ok(());
            }
            producer.push(&answerer.answer(got, &m));
        }
    }

    pub(super) fn ringfire_waiter() {
        let result = match child::env("JOURNAL_BENCH_WAIT").as_str() {
            "spin" => waiter(&mut BusySpin::new()),
            _ => waiter(&mut FutexWait::new(SPINS, Some(FUTEX_TIMEOUT))),
        };
        if let Err(e) = result {
            eprintln!("ringfire waiter child: {e}");
            std::process::exit(1);
        }
    }

    pub(super) fn measure_rf(wait: &str) {
        let id = format!("ringfire/{wait}");
        if !selected(&format!("{GROUP}/{id}")) {
            return;
        }
        match RfPair::start(wait) {
            Ok(mut pair) => measure(&id, &mut pair),
            Err(e) => {
                eprintln!("{GROUP}/{id}: ringfire unavailable: {e}");
                results::record(GROUP, &id, json!({ "unavailable": e.to_string() }));
            }
        }
    }
}

fn main() {
    match child::role().as_deref() {
        Some("ring-waiter") => return ring_waiter(),
        Some("journal-waiter") => return journal_waiter(),
        #[cfg(feature = "peers")]
        Some("ringfire-waiter") => return rf::ringfire_waiter(),
        Some(other) => panic!("unknown role {other}"),
        None => {}
    }
    // Criterion's flags (run.sh passes them to every bench) are accepted and ignored: this
    // benchmark takes its settings from the environment (see the module comment).
    pin_to_cpu(0);
    for (id, wait, checksums) in [
        ("journal-ring/spin", "spin", true),
        ("journal-ring/block", "block", true),
        ("journal-ring-nocrc/spin", "spin", false),
    ] {
        if selected(&format!("{GROUP}/{id}")) {
            measure(id, &mut RingPair::start(wait, checksums));
        }
    }
    for wait in ["spin", "block"] {
        let id = format!("journal-tailer/{wait}");
        if selected(&format!("{GROUP}/{id}")) {
            measure(&id, &mut JournalPair::start(wait));
        }
    }
    #[cfg(feature = "peers")]
    for wait in ["spin", "futex"] {
        rf::measure_rf(wait);
    }
}
