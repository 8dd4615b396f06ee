//! One-way latency between two processes (BENCHMARKS.md, "Cross-process latency").
//!
//! Method: round trip / 2. The benchmark process sends a message; an echo child (this same binary,
//! re-executed with `JOURNAL_BENCH_ROLE`) sends the same payload back as soon as it sees it; the
//! parent times the round trip with its own monotonic clock, so no clock is shared between
//! processes. Both sides spin (with a pause hint) and are pinned to different cores.
//!
//! - floor: a counter bounced in one cache line of a `MAP_SHARED` file in `/dev/shm` (parent
//!   stores an odd value, the child answers with the next even one).
//! - floor-2lines: each direction stores a data line and then a position line, and the reader
//!   loads the data after it saw the position: the cache-line traffic of a ring that publishes
//!   positions, without any copy or checksum (the design of ring format version 1, which version
//!   2 replaced with a commit word per record; a reference, not a goal).
//! - journal-ring: two rings in `/dev/shm`; each message is a `push` (copy, CRC-32, commit word;
//!   spec/RING.md 4) and the child, which polls the next record's commit word, echoes the record's
//!   entry with `write_entry` (a copy: the CRC it carries is not computed again, as on the replay
//!   path).
//! - journal-ring-nocrc: the same, with records written without a checksum
//!   (`Producer::set_checksums(false)`, kind 4 of spec/RING.md 3.1): the parent's `push` is a copy
//!   and a commit word, and the child echoes the payload with such a `push`.
//!   with its own `push`.
//! - journal-tail (40 B and 1 KiB, Chronicle Queue's headline case): two journals in `/dev/shm`;
//!   each message is an `append` (copy, CRC-32, release store of `write_offset`) to journal a,
//!   which the child follows with a busy-spinning `OwnedTailer` (CRC checked) and echoes with its
//!   own `append` to journal b, which the parent tails. Both journals of a generation are created
//!   fully allocated and pre-faulted (32 MiB), and each tailer pre-faults its own mapping of them
//!   (`OwnedTailer::pretouch`); between round trips, untimed, both sides move to a
//!   new pair when one fills, so no append grows a file.
//! - iceoryx2 (with the `peers` feature): two publish-subscribe services of `[u8; N]`; each message is `loan_uninit`,
//!   `write_payload` (a copy of the payload) and `send`; the child copies the received payload
//!   into its own sample.
//! - ringfire (with the `peers` feature): two `RingProducer<[u8; N]>` rings of 64 KiB of slots
//!   with lossless backpressure (as ours); each message is a `push` (a copy into the slot) and the
//!   child pushes the payload it received (`try_recv` copies it out) into its own ring. Both sides
//!   poll `try_recv`, as ours polls `read`.
//!
//! Criterion reports the mean one-way time; a second pass of `JOURNAL_BENCH_ROUNDS` round trips
//! (default 500,000, after 50,000 to warm up) records every one in an HDR histogram for the
//! percentiles, which go to the results file for `bench-summary`.
#![allow(missing_docs)] // reason: criterion macros and helpers generate undocumented items

use std::hint::black_box;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use journal::{create_ring, Consumer, OwnedTailer, Producer, Reader, WaitStrategy, Writer};
use journal_benches::results::{self, OneWay};
use journal_benches::{
    child, env_u64, payload, pin_to_cpu, selected, SharedWords, ShmFile, RING_SIZES,
};

const GROUP: &str = "latency";
const RING_CAPACITY: u64 = 64 << 10;
/// The floor's stop value (even, so never mistaken for a request).
const STOP: u64 = u64::MAX - 1;

/// Something that does one timed round trip.
trait RoundTrip {
    fn round_trip(&mut self) -> Duration;
}

/// Runs criterion (mean one-way time) and then the HDR pass for `pair`, and records the result.
fn measure(c: &mut Criterion, id: &str, pair: &mut impl RoundTrip) {
    let mut g = c.benchmark_group(GROUP);
    g.bench_function(BenchmarkId::from_parameter(id), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| pair.round_trip()).sum::<Duration>() / 2)
    });
    g.finish();
    let warm = env_u64("JOURNAL_BENCH_WARMUP_ROUNDS", 50_000);
    let rounds = env_u64("JOURNAL_BENCH_ROUNDS", 500_000);
    for _ in 0..warm {
        pair.round_trip();
    }
    let mut h = results::rtt_histogram();
    for _ in 0..rounds {
        h.saturating_record(pair.round_trip().as_nanos() as u64);
    }
    let one_way = OneWay::from_round_trips(&h);
    println!(
        "{GROUP}/{id}: one-way p50 {:.0} ns, p99 {:.0} ns, p99.9 {:.0} ns, max {:.0} ns ({} round trips)",
        one_way.p50, one_way.p99, one_way.p999, one_way.max, one_way.count
    );
    results::record(GROUP, id, one_way.to_json());
}

// ---------------------------------------------------------------------------------------------
// The floor: one cache line.

struct Floor {
    _file: ShmFile,
    words: SharedWords,
    next: u64,
    child: Option<std::process::Child>,
}

impl Floor {
    fn start() -> Floor {
        let file = ShmFile::new("floor");
        let words = SharedWords::create(file.path()).expect("create floor line");
        let child = child::spawn(
            "floor-echo",
            [("JOURNAL_BENCH_WORDS", file.path().as_os_str())],
        );
        Floor {
            _file: file,
            words,
            next: 1,
            child: Some(child),
        }
    }
}

impl RoundTrip for Floor {
    #[inline]
    fn round_trip(&mut self) -> Duration {
        let line = self.words.word(0);
        let (ask, answer) = (self.next, self.next + 1);
        self.next += 2;
        let start = Instant::now();
        line.store(ask, Ordering::Release);
        while line.load(Ordering::Acquire) != answer {
            std::hint::spin_loop();
        }
        start.elapsed()
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        self.words.word(0).store(STOP, Ordering::Release);
        if let Some(c) = self.child.take() {
            child::join(c, "floor echo");
        }
    }
}

fn floor_echo() {
    pin_to_cpu(1);
    let words = SharedWords::open(child::env("JOURNAL_BENCH_WORDS").as_ref()).expect("open line");
    let line = words.word(0);
    loop {
        let v = line.load(Ordering::Acquire);
        if v == STOP {
            break;
        }
        if v % 2 == 1 {
            line.store(v + 1, Ordering::Release);
        } else {
            std::hint::spin_loop();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The two-line floor: the least a position-published ring can do.

/// Word indexes of the two-line floor, each on its own cache line (words are 8 bytes, lines 64).
const REQ_DATA: usize = 16;
const REQ_POS: usize = 32;
const RESP_DATA: usize = 48;
const RESP_POS: usize = 64;

/// Like [`Floor`], but each direction writes a data line and then publishes a position on a
/// second line, and the reader reads the data line after it saw the position: the cache-line
/// traffic of an SPSC ring that publishes positions (ring format version 1; version 2 polls a
/// commit word in the record instead, spec/RING.md 5), without copy or CRC.
struct Floor2 {
    _file: ShmFile,
    words: SharedWords,
    next: u64,
    child: Option<std::process::Child>,
}

impl Floor2 {
    fn start() -> Floor2 {
        let file = ShmFile::new("floor2");
        let words = SharedWords::create(file.path()).expect("create floor lines");
        let child = child::spawn(
            "floor2-echo",
            [("JOURNAL_BENCH_WORDS", file.path().as_os_str())],
        );
        Floor2 {
            _file: file,
            words,
            next: 1,
            child: Some(child),
        }
    }
}

impl RoundTrip for Floor2 {
    #[inline]
    fn round_trip(&mut self) -> Duration {
        let w = &self.words;
        let k = self.next;
        self.next += 1;
        let start = Instant::now();
        w.word(REQ_DATA).store(k ^ 0x5555, Ordering::Relaxed);
        w.word(REQ_POS).store(k, Ordering::Release);
        while w.word(RESP_POS).load(Ordering::Acquire) != k {
            std::hint::spin_loop();
        }
        black_box(w.word(RESP_DATA).load(Ordering::Relaxed));
        start.elapsed()
    }
}

impl Drop for Floor2 {
    fn drop(&mut self) {
        self.words.word(REQ_POS).store(STOP, Ordering::Release);
        if let Some(c) = self.child.take() {
            child::join(c, "two-line floor echo");
        }
    }
}

fn floor2_echo() {
    pin_to_cpu(1);
    let words = SharedWords::open(child::env("JOURNAL_BENCH_WORDS").as_ref()).expect("open lines");
    let mut seen = 0;
    loop {
        let k = words.word(REQ_POS).load(Ordering::Acquire);
        if k == STOP {
            break;
        }
        if k != seen {
            let data = words.word(REQ_DATA).load(Ordering::Relaxed);
            words.word(RESP_DATA).store(data, Ordering::Relaxed);
            words.word(RESP_POS).store(k, Ordering::Release);
            seen = k;
        } else {
            std::hint::spin_loop();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The journal's ring.

struct RingPair {
    _files: (ShmFile, ShmFile),
    producer: Producer,
    consumer: Consumer,
    data: Vec<u8>,
    ts: i64,
    child: Option<std::process::Child>,
}

impl RingPair {
    /// A pair whose parent writes records with their CRC-32 (`checksums`) or without (kind 4 of
    /// spec/RING.md 3.1).
    fn start(size: usize, checksums: bool) -> RingPair {
        let (a, b) = (ShmFile::new("lat-a"), ShmFile::new("lat-b"));
        create_ring(a.path(), RING_CAPACITY).expect("create ring a");
        create_ring(b.path(), RING_CAPACITY).expect("create ring b");
        let mut producer = Producer::attach(a.path()).expect("attach producer");
        producer.set_wait_strategy(WaitStrategy::BusySpin);
        producer.set_checksums(checksums);
        let consumer = Consumer::attach(b.path()).expect("attach consumer");
        let child = child::spawn(
            "ring-echo",
            [
                ("JOURNAL_BENCH_RING_A", a.path().as_os_str()),
                ("JOURNAL_BENCH_RING_B", b.path().as_os_str()),
            ],
        );
        RingPair {
            _files: (a, b),
            producer,
            consumer,
            data: payload(size),
            ts: 0,
            child: Some(child),
        }
    }
}

impl RoundTrip for RingPair {
    #[inline]
    fn round_trip(&mut self) -> Duration {
        self.ts += 1;
        let start = Instant::now();
        self.producer
            .push(self.ts, black_box(&self.data))
            .expect("push");
        loop {
            let s = self
                .consumer
                .read(1, |r| {
                    black_box(r.payload);
                    ControlFlow::Continue(())
                })
                .expect("read");
            if s.records == 1 {
                break;
            }
            std::hint::spin_loop();
        }
        start.elapsed()
    }
}

impl Drop for RingPair {
    fn drop(&mut self) {
        let _ = self.producer.end_of_stream(0);
        if let Some(c) = self.child.take() {
            child::join(c, "ring echo");
        }
    }
}

fn ring_echo() {
    pin_to_cpu(1);
    let mut consumer = Consumer::attach(child::env("JOURNAL_BENCH_RING_A")).expect("attach a");
    let mut producer = Producer::attach(child::env("JOURNAL_BENCH_RING_B")).expect("attach b");
    producer.set_wait_strategy(WaitStrategy::BusySpin);
    producer.set_checksums(false);
    loop {
        let s = consumer
            .read(1, |r| {
                // One copy and no second CRC, as any forwarder would do: a checksummed entry is
                // copied with the CRC it carries (the replay path), one without is copied as such.
                if r.checksummed {
                    producer.write_entry(r.entry).expect("echo");
                    producer.publish();
                } else {
                    producer.push(r.timestamp, r.payload).expect("echo");
                }
                ControlFlow::Continue(())
            })
            .expect("read");
        if s.end_of_stream {
            break;
        }
        if s.records == 0 {
            std::hint::spin_loop();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// iceoryx2.

/// The iceoryx2 pair (the `peers` feature).
#[cfg(feature = "peers")]
mod iox {
    use super::*;
    use iceoryx2::prelude::*;
    use serde_json::json;

    /// First payload byte of the message that stops an iceoryx2 echo child (payload() never makes it).
    const IOX_STOP: u8 = 0xFE;

    type Error = Box<dyn std::error::Error>;
    type IoxPublisher<const N: usize> =
        iceoryx2::port::publisher::Publisher<ipc::Service, [u8; N], ()>;
    type IoxSubscriber<const N: usize> =
        iceoryx2::port::subscriber::Subscriber<ipc::Service, [u8; N], ()>;

    fn iox_node() -> Result<Node<ipc::Service>, Error> {
        Ok(NodeBuilder::new()
            .signal_handling_mode(SignalHandlingMode::Disabled)
            .create::<ipc::Service>()?)
    }

    /// One direction: a service both sides open with the same settings, a small subscriber buffer
    /// (one message is in flight at a time), no history.
    fn iox_ports<const N: usize>(
        node: &Node<ipc::Service>,
        send_on: &str,
        receive_on: &str,
    ) -> Result<(IoxPublisher<N>, IoxSubscriber<N>), Error> {
        let service = |name: &str| -> Result<_, Error> {
            Ok(node
                .service_builder(&ServiceName::new(name)?)
                .publish_subscribe::<[u8; N]>()
                .max_publishers(1)
                .max_subscribers(1)
                .history_size(0)
                .subscriber_max_buffer_size(4)
                .open_or_create()?)
        };
        let publisher = service(send_on)?
            .publisher_builder()
            .max_loaned_samples(1)
            .create()?;
        let subscriber = service(receive_on)?
            .subscriber_builder()
            .buffer_size(4)
            .create()?;
        Ok((publisher, subscriber))
    }

    struct IoxPair<const N: usize> {
        publisher: IoxPublisher<N>,
        subscriber: IoxSubscriber<N>,
        data: [u8; N],
        child: Option<std::process::Child>,
        ready: SharedWords,
        _ready_file: ShmFile,
        _node: Node<ipc::Service>,
    }

    impl<const N: usize> IoxPair<N> {
        fn start() -> Result<IoxPair<N>, Error> {
            let node = iox_node()?;
            let base = journal_benches::unique_name("iox");
            let (a, b) = (format!("{base}-a"), format!("{base}-b"));
            let (publisher, subscriber) = iox_ports::<N>(&node, &a, &b)?;
            let ready_file = ShmFile::new("iox-ready");
            let ready = SharedWords::create(ready_file.path())?;
            let size = N.to_string();
            let child = child::spawn(
                "iox-echo",
                [
                    ("JOURNAL_BENCH_IOX_A", a.as_str()),
                    ("JOURNAL_BENCH_IOX_B", b.as_str()),
                    ("JOURNAL_BENCH_SIZE", size.as_str()),
                    (
                        "JOURNAL_BENCH_WORDS",
                        ready_file.path().to_str().expect("utf-8"),
                    ),
                ],
            );
            let mut pair = IoxPair {
                publisher,
                subscriber,
                data: payload(N).try_into().expect("N bytes"),
                child: Some(child),
                ready,
                _ready_file: ready_file,
                _node: node,
            };
            // Wait for the child's ports, then until a message makes it there and back (a publisher
            // reaches a subscriber once it has seen it connect), then drain any duplicate replies.
            let deadline = Instant::now() + Duration::from_secs(20);
            while pair.ready.word(0).load(Ordering::Acquire) == 0 {
                if Instant::now() > deadline {
                    return Err("iceoryx2 echo child did not start".into());
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            'handshake: loop {
                pair.send()?;
                let wait = Instant::now() + Duration::from_millis(50);
                while Instant::now() < wait {
                    if pair.subscriber.receive()?.is_some() {
                        break 'handshake;
                    }
                }
                if Instant::now() > deadline {
                    return Err("iceoryx2 echo child never answered".into());
                }
            }
            std::thread::sleep(Duration::from_millis(100));
            while pair.subscriber.receive()?.is_some() {}
            Ok(pair)
        }

        #[inline]
        fn send(&mut self) -> Result<(), Error> {
            let sample = self.publisher.loan_uninit()?;
            let sample = sample.write_payload(*black_box(&self.data));
            sample.send()?;
            Ok(())
        }
    }

    impl<const N: usize> RoundTrip for IoxPair<N> {
        #[inline]
        fn round_trip(&mut self) -> Duration {
            let start = Instant::now();
            self.send().expect("iceoryx2 send");
            loop {
                if let Some(sample) = self.subscriber.receive().expect("iceoryx2 receive") {
                    black_box(sample.payload());
                    break;
                }
                std::hint::spin_loop();
            }
            start.elapsed()
        }
    }

    impl<const N: usize> Drop for IoxPair<N> {
        fn drop(&mut self) {
            self.data[0] = IOX_STOP;
            let _ = self.send();
            if let Some(c) = self.child.take() {
                child::join(c, "iceoryx2 echo");
            }
        }
    }

    fn iox_echo_n<const N: usize>() -> Result<(), Error> {
        pin_to_cpu(1);
        let node = iox_node()?;
        let (publisher, subscriber) = iox_ports::<N>(
            &node,
            &child::env("JOURNAL_BENCH_IOX_B"),
            &child::env("JOURNAL_BENCH_IOX_A"),
        )?;
        let ready = SharedWords::open(child::env("JOURNAL_BENCH_WORDS").as_ref())?;
        ready.word(0).store(1, Ordering::Release);
        loop {
            match subscriber.receive()? {
                Some(sample) => {
                    if sample.payload()[0] == IOX_STOP {
                        return Ok(());
                    }
                    let reply = publisher.loan_uninit()?;
                    reply.write_payload(*sample.payload()).send()?;
                }
                None => std::hint::spin_loop(),
            }
        }
    }

    pub(super) fn iox_echo() {
        let result = match child::env("JOURNAL_BENCH_SIZE").as_str() {
            "64" => iox_echo_n::<64>(),
            "1024" => iox_echo_n::<1024>(),
            other => panic!("no iceoryx2 echo for {other} bytes"),
        };
        if let Err(e) = result {
            eprintln!("iceoryx2 echo child: {e}");
            std::process::exit(1);
        }
    }

    pub(super) fn measure_iox<const N: usize>(c: &mut Criterion) {
        let id = format!("iceoryx2/{N}");
        if !selected(&format!("{GROUP}/{id}")) {
            return;
        }
        match IoxPair::<N>::start() {
            Ok(mut pair) => measure(c, &id, &mut pair),
            Err(e) => {
                eprintln!("{GROUP}/{id}: iceoryx2 unavailable: {e}");
                results::record(GROUP, &id, json!({ "unavailable": e.to_string() }));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ringfire.

/// The ringfire pair (the `peers` feature).
#[cfg(feature = "peers")]
mod rf {
    use super::*;
    use ringfire::{FlowControl, RingConsumer, RingProducer, RingProducerBuilder};
    use serde_json::json;

    /// First payload byte of the message that stops a ringfire echo child (payload() never makes it).
    const RF_STOP: u8 = 0xFE;

    type Error = Box<dyn std::error::Error>;

    /// A ring of `N`-byte slots holding as many bytes as ours (64 KiB), lossless like ours: the
    /// producer waits for the registered reader instead of overwriting it.
    fn rf_producer<const N: usize>(path: &Path) -> Result<RingProducer<[u8; N]>, Error> {
        Ok(RingProducerBuilder::new(RING_CAPACITY / N as u64)
            .flow_control(FlowControl::LosslessBackpressure)
            .build::<[u8; N], _>(path)?)
    }

    fn rf_consumer<const N: usize>(path: &Path) -> Result<RingConsumer<[u8; N]>, Error> {
        Ok(RingConsumer::<[u8; N]>::builder()
            .start_from_head()
            .attach(path)?)
    }

    struct RfPair<const N: usize> {
        producer: RingProducer<[u8; N]>,
        consumer: RingConsumer<[u8; N]>,
        data: [u8; N],
        child: Option<std::process::Child>,
        _files: (ShmFile, ShmFile, ShmFile),
    }

    impl<const N: usize> RfPair<N> {
        fn start() -> Result<RfPair<N>, Error> {
            let (a, b) = (ShmFile::new("rf-a"), ShmFile::new("rf-b"));
            let ready_file = ShmFile::new("rf-ready");
            let ready = SharedWords::create(ready_file.path())?;
            let producer = rf_producer::<N>(a.path())?;
            let size = N.to_string();
            let child = child::spawn(
                "ringfire-echo",
                [
                    ("JOURNAL_BENCH_RING_A", a.path().as_os_str()),
                    ("JOURNAL_BENCH_RING_B", b.path().as_os_str()),
                    ("JOURNAL_BENCH_SIZE", std::ffi::OsStr::new(&size)),
                    ("JOURNAL_BENCH_WORDS", ready_file.path().as_os_str()),
                ],
            );
            let mut child = Some(child);
            // The child attaches to ring a and creates ring b, then says so.
            let deadline = Instant::now() + Duration::from_secs(20);
            while ready.word(0).load(Ordering::Acquire) == 0 {
                if Instant::now() > deadline {
                    if let Some(c) = child.take() {
                        child::join(c, "ringfire echo");
                    }
                    return Err("ringfire echo child did not start".into());
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            let consumer = rf_consumer::<N>(b.path())?;
            Ok(RfPair {
                producer,
                consumer,
                data: payload(N).try_into().expect("N bytes"),
                child,
                _files: (a, b, ready_file),
            })
        }
    }

    impl<const N: usize> RoundTrip for RfPair<N> {
        #[inline]
        fn round_trip(&mut self) -> Duration {
            let start = Instant::now();
            self.producer.push(black_box(&self.data));
            loop {
                if let Some(reply) = self.consumer.try_recv() {
                    black_box(&reply);
                    break;
                }
                std::hint::spin_loop();
            }
            start.elapsed()
        }
    }

    impl<const N: usize> Drop for RfPair<N> {
        fn drop(&mut self) {
            self.data[0] = RF_STOP;
            self.producer.push(&self.data);
            if let Some(c) = self.child.take() {
                child::join(c, "ringfire echo");
            }
        }
    }

    fn rf_echo_n<const N: usize>() -> Result<(), Error> {
        pin_to_cpu(1);
        let mut consumer = rf_consumer::<N>(child::env("JOURNAL_BENCH_RING_A").as_ref())?;
        let mut producer = rf_producer::<N>(child::env("JOURNAL_BENCH_RING_B").as_ref())?;
        let ready = SharedWords::open(child::env("JOURNAL_BENCH_WORDS").as_ref())?;
        ready.word(0).store(1, Ordering::Release);
        loop {
            match consumer.try_recv() {
                Some(msg) => {
                    if msg[0] == RF_STOP {
                        return Ok(());
                    }
                    producer.push(&msg);
                }
                None => std::hint::spin_loop(),
            }
        }
    }

    pub(super) fn rf_echo() {
        let result = match child::env("JOURNAL_BENCH_SIZE").as_str() {
            "64" => rf_echo_n::<64>(),
            "1024" => rf_echo_n::<1024>(),
            other => panic!("no ringfire echo for {other} bytes"),
        };
        if let Err(e) = result {
            eprintln!("ringfire echo child: {e}");
            std::process::exit(1);
        }
    }

    pub(super) fn measure_rf<const N: usize>(c: &mut Criterion) {
        let id = format!("ringfire/{N}");
        if !selected(&format!("{GROUP}/{id}")) {
            return;
        }
        match RfPair::<N>::start() {
            Ok(mut pair) => measure(c, &id, &mut pair),
            Err(e) => {
                eprintln!("{GROUP}/{id}: ringfire unavailable: {e}");
                results::record(GROUP, &id, json!({ "unavailable": e.to_string() }));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The journal's tailer: append to one journal, tail another.

/// Payload sizes of the tailer rows: Chronicle Queue's headline size and 1 KiB.
const TAIL_SIZES: [usize; 2] = [40, 1024];

/// Bytes of each journal generation, all allocated and pre-faulted at creation: the round trips
/// never grow a file. Below a reader's 64 MiB of headroom, so no tailer grows its mapping either.
const TAIL_GENERATION: u64 = 32 << 20;

/// Control payloads (one byte; the measured payloads are longer): move to the next generation,
/// stop.
const TAIL_ROLL: &[u8] = b"R";
const TAIL_STOP: &[u8] = b"S";

/// A directory under `/dev/shm` for one pair's journals, removed with them on drop.
struct ShmDir(std::path::PathBuf);

impl ShmDir {
    fn new(tag: &str) -> ShmDir {
        let dir = ShmFile::new(tag).path().to_path_buf();
        std::fs::create_dir(&dir).expect("create the journals' directory");
        ShmDir(dir)
    }
}

impl Drop for ShmDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Journal `side` (`a`: parent to child, `b`: back) of generation `generation` in `dir`.
fn tail_journal(dir: &Path, side: &str, generation: u64) -> std::path::PathBuf {
    dir.join(format!("{side}-{generation}.journal"))
}

/// A writer of one generation: the whole generation allocated and pre-faulted now, no index (its
/// upkeep runs on the growth path, which these journals never take).
fn tail_writer(path: &Path) -> Writer {
    let mut w = Writer::options()
        .chunk_size(TAIL_GENERATION)
        .max_size(TAIL_GENERATION)
        .index(false)
        .create(path)
        .expect("create journal");
    w.pretouch().expect("pre-fault journal");
    w
}

/// A tailer of `path` from its first event, its mapping of the whole generation pre-faulted.
fn tail_reader(path: &Path) -> OwnedTailer {
    tail_of(Reader::open(path).expect("open journal"))
}

fn tail_of(reader: Reader) -> OwnedTailer {
    let tail = Arc::new(reader).into_tailer();
    // The reader's own mapping takes a page fault at the first read of each page (or group of
    // pages) unless it is pre-faulted, as the writer's is.
    tail.pretouch(TAIL_GENERATION)
        .expect("pre-fault the tailer's mapping");
    tail
}

/// The next event's payload, spinning (the next event must come).
#[inline]
fn tail_next(tail: &mut OwnedTailer) -> journal::Event<'_> {
    tail.wait(WaitStrategy::BusySpin, None)
        .expect("tail")
        .expect("no deadline")
}

/// The parent appends each message to journal `a` and tails journal `b`; the child tails `a` and
/// appends every event's payload to `b`. Every `TAIL_GENERATION` bytes both move to a new pair of
/// journals, outside the timed part of a round trip.
struct TailPair {
    dir: ShmDir,
    generation: u64,
    writer: Option<Writer>,
    tail: OwnedTailer,
    data: Vec<u8>,
    ts: i64,
    child: Option<std::process::Child>,
}

impl TailPair {
    fn start(size: usize) -> TailPair {
        let dir = ShmDir::new("tail");
        let writer = tail_writer(&tail_journal(&dir.0, "a", 0));
        let child = child::spawn("tail-echo", [("JOURNAL_BENCH_DIR", dir.0.as_os_str())]);
        // The child creates journal b of generation 0 and then appends one event to it.
        let b = tail_journal(&dir.0, "b", 0);
        let deadline = Instant::now() + Duration::from_secs(20);
        let tail = loop {
            if let Ok(r) = Reader::open(&b) {
                let mut tail = tail_of(r);
                let ready = tail
                    .wait(WaitStrategy::BusySpin, Some(deadline))
                    .expect("tail b");
                assert!(ready.is_some(), "tail echo child did not start");
                break tail;
            }
            assert!(Instant::now() < deadline, "tail echo child did not start");
            std::thread::sleep(Duration::from_millis(1));
        };
        TailPair {
            dir,
            generation: 0,
            writer: Some(writer),
            tail,
            data: payload(size),
            ts: 0,
            child: Some(child),
        }
    }

    fn writer(&mut self) -> &mut Writer {
        self.writer.as_mut().expect("writer")
    }

    /// Both sides move to the next generation: the parent creates `a`, asks the child to move, the
    /// child creates `b` and answers on the old `b`.
    #[cold]
    fn roll(&mut self) {
        let next = self.generation + 1;
        let new_writer = tail_writer(&tail_journal(&self.dir.0, "a", next));
        let mut old_writer = self.writer.replace(new_writer).expect("writer");
        old_writer.append(0, TAIL_ROLL).expect("append roll");
        assert_eq!(tail_next(&mut self.tail).payload, TAIL_ROLL);
        self.tail = tail_reader(&tail_journal(&self.dir.0, "b", next));
        old_writer.close().expect("close journal");
        for side in ["a", "b"] {
            let _ = std::fs::remove_file(tail_journal(&self.dir.0, side, self.generation));
        }
        self.generation = next;
    }
}

impl RoundTrip for TailPair {
    #[inline]
    fn round_trip(&mut self) -> Duration {
        let need = journal::entry_len(self.data.len() as u32) + journal::entry_len(1);
        if self.writer().write_offset() + need > TAIL_GENERATION {
            self.roll();
        }
        self.ts += 1;
        let ts = self.ts;
        let start = Instant::now();
        self.writer
            .as_mut()
            .expect("writer")
            .append(ts, black_box(&self.data))
            .expect("append");
        black_box(tail_next(&mut self.tail).payload);
        start.elapsed()
    }
}

impl Drop for TailPair {
    fn drop(&mut self) {
        if let Some(w) = self.writer.as_mut() {
            let _ = w.append(0, TAIL_STOP);
        }
        if let Some(c) = self.child.take() {
            child::join(c, "tail echo");
        }
    }
}

fn tail_echo() {
    pin_to_cpu(1);
    let dir = std::path::PathBuf::from(child::env("JOURNAL_BENCH_DIR"));
    let mut generation = 0;
    let mut writer = tail_writer(&tail_journal(&dir, "b", 0));
    // The parent waits for this before its first round trip.
    writer.append(0, b"ready").expect("append ready");
    let mut tail = tail_reader(&tail_journal(&dir, "a", 0));
    loop {
        let ev = tail_next(&mut tail);
        if ev.payload == TAIL_STOP {
            break;
        }
        if ev.payload == TAIL_ROLL {
            generation += 1;
            let new_writer = tail_writer(&tail_journal(&dir, "b", generation));
            let mut old = std::mem::replace(&mut writer, new_writer);
            tail = tail_reader(&tail_journal(&dir, "a", generation));
            old.append(0, TAIL_ROLL).expect("append roll");
            old.close().expect("close journal");
            continue;
        }
        writer.append(ev.timestamp, ev.payload).expect("echo");
    }
}

fn main() {
    match child::role().as_deref() {
        Some("floor-echo") => return floor_echo(),
        Some("floor2-echo") => return floor2_echo(),
        Some("ring-echo") => return ring_echo(),
        Some("tail-echo") => return tail_echo(),
        #[cfg(feature = "peers")]
        Some("iox-echo") => return iox::iox_echo(),
        #[cfg(feature = "peers")]
        Some("ringfire-echo") => return rf::rf_echo(),
        Some(other) => panic!("unknown role {other}"),
        None => {}
    }
    pin_to_cpu(0);
    let mut c = journal_benches::criterion();
    if selected(&format!("{GROUP}/floor")) {
        measure(&mut c, "floor", &mut Floor::start());
    }
    if selected(&format!("{GROUP}/floor-2lines")) {
        measure(&mut c, "floor-2lines", &mut Floor2::start());
    }
    for (name, checksums) in [("journal-ring", true), ("journal-ring-nocrc", false)] {
        for size in RING_SIZES {
            let id = format!("{name}/{size}");
            if selected(&format!("{GROUP}/{id}")) {
                measure(&mut c, &id, &mut RingPair::start(size, checksums));
            }
        }
    }
    for size in TAIL_SIZES {
        let id = format!("journal-tail/{size}");
        if selected(&format!("{GROUP}/{id}")) {
            measure(&mut c, &id, &mut TailPair::start(size));
        }
    }
    #[cfg(feature = "peers")]
    {
        iox::measure_iox::<64>(&mut c);
        iox::measure_iox::<1024>(&mut c);
        rf::measure_rf::<64>(&mut c);
        rf::measure_rf::<1024>(&mut c);
    }
    c.final_summary();
}
