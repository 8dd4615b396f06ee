//! Replay journal -> ring -> consumer process (BENCHMARKS.md, "Replay"), at 64 B and 1 KiB.
//!
//! One iteration replays a whole journal (32 MiB of entries) with `journal::replay` at full speed
//! into a 1 MiB ring in `/dev/shm`; a consumer child (this binary, re-executed) reads every record
//! (touching its payload) until the end-of-stream record, then reports its count through a shared
//! word. The time runs from the start of `replay` until the consumer has reported. The reader
//! checks every entry's CRC-32 ("crc") or trusts the file ("nocrc").
//!
//! The peer pipeline (with the `peers` feature) does the same with the fastest peers: `khata-rs` reads its queue (no check)
//! and each event is copied into an `iceoryx2` sample (`loan_uninit`, copy, `send`, publisher
//! blocking while the subscriber's 1,024-sample buffer is full), received by a subscriber process.
#![allow(missing_docs)] // reason: criterion macros and helpers generate undocumented items

use std::hint::black_box;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use journal::WaitStrategy;
use journal::{create_ring, entry_len, replay, Consumer, Producer, Reader, ReplayOptions, Writer};
use journal_benches::{child, payload, pin_to_cpu, results, selected, Scratch, SharedWords};
use journal_benches::{ShmFile, RING_SIZES};
use serde_json::json;

const GROUP: &str = "replay";
/// Bytes of entries in each replayed journal.
const JOURNAL_BYTES: u64 = 32 << 20;
const RING_CAPACITY: u64 = 1 << 20;
/// Shared words: the consumer's generation (bumped after each complete pass), the count of its
/// last pass, the stop flag and the ready flag; each on its own cache line.
const GENERATION: usize = 0;
const COUNT: usize = 16;
const STOP: usize = 32;
#[cfg(feature = "peers")] // reason: only the iceoryx2 consumer signals readiness
const READY: usize = 48;

#[inline]
fn touch(acc: u64, payload: &[u8]) -> u64 {
    acc.wrapping_add(payload.len() as u64) ^ payload.first().copied().unwrap_or(0) as u64
}

/// Spins until the consumer's generation passes `seen`; returns the count of that pass. Panics
/// after a minute (a consumer that lost an event would otherwise hang the run).
fn wait_pass(words: &SharedWords, seen: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    while words.word(GENERATION).load(Ordering::Acquire) == seen {
        std::hint::spin_loop();
        assert!(
            Instant::now() < deadline,
            "the consumer never finished a pass"
        );
    }
    words.word(COUNT).load(Ordering::Acquire)
}

fn build_journal(scratch: &Scratch, size: usize) -> (PathBuf, u64) {
    let events = JOURNAL_BYTES / entry_len(size as u32);
    let path = scratch.fresh("replay");
    let data = payload(size);
    let mut o = Writer::options();
    o.chunk_size(64 << 20);
    let mut w = o.create(&path).expect("create journal");
    for i in 0..events {
        w.append(i as i64, &data).expect("append");
    }
    w.close().expect("close");
    (path, events)
}

// ---------------------------------------------------------------------------------------------
// Ours.

struct RingConsumer {
    _ring: ShmFile,
    _words_file: ShmFile,
    words: SharedWords,
    producer: Producer,
    child: Option<std::process::Child>,
}

impl RingConsumer {
    fn start() -> RingConsumer {
        let ring = ShmFile::new("replay-ring");
        create_ring(ring.path(), RING_CAPACITY).expect("create ring");
        let words_file = ShmFile::new("replay-words");
        let words = SharedWords::create(words_file.path()).expect("create words");
        let mut producer = Producer::attach(ring.path()).expect("attach producer");
        producer.set_wait_strategy(WaitStrategy::BusySpin);
        let child = child::spawn(
            "ring-consumer",
            [
                ("JOURNAL_BENCH_RING", ring.path().as_os_str()),
                ("JOURNAL_BENCH_WORDS", words_file.path().as_os_str()),
            ],
        );
        RingConsumer {
            _ring: ring,
            _words_file: words_file,
            words,
            producer,
            child: Some(child),
        }
    }

    fn pass(&mut self, reader: &Reader, events: u64) -> Duration {
        let seen = self.words.word(GENERATION).load(Ordering::Acquire);
        let start = Instant::now();
        let stats = replay(reader, &mut self.producer, &ReplayOptions::default()).expect("replay");
        let got = wait_pass(&self.words, seen);
        let took = start.elapsed();
        assert_eq!(
            (stats.events, got),
            (events, events),
            "every event replayed"
        );
        took
    }
}

impl Drop for RingConsumer {
    fn drop(&mut self) {
        self.words.word(STOP).store(1, Ordering::Release);
        let _ = self.producer.end_of_stream(0);
        if let Some(c) = self.child.take() {
            child::join(c, "ring consumer");
        }
    }
}

fn ring_consumer() {
    pin_to_cpu(1);
    let words = SharedWords::open(child::env("JOURNAL_BENCH_WORDS").as_ref()).expect("words");
    let mut consumer = Consumer::attach(child::env("JOURNAL_BENCH_RING")).expect("attach");
    let (mut count, mut acc) = (0u64, 0u64);
    loop {
        let s = consumer
            .read_wait(
                usize::MAX,
                |r| {
                    acc = touch(acc, r.payload);
                    count += 1;
                    ControlFlow::Continue(())
                },
                WaitStrategy::BusySpin,
                None,
            )
            .expect("read");
        if s.end_of_stream {
            if words.word(STOP).load(Ordering::Acquire) == 1 {
                break;
            }
            words.word(COUNT).store(count, Ordering::Release);
            words.word(GENERATION).fetch_add(1, Ordering::AcqRel);
            count = 0;
        }
    }
    black_box(acc);
}

// ---------------------------------------------------------------------------------------------
// The peer pipeline: khata-rs -> iceoryx2 -> subscriber process.

/// The peer pipeline (the `peers` feature).
#[cfg(feature = "peers")]
mod peer {
    use super::*;
    use iceoryx2::prelude::*;

    const IOX_BUFFER: usize = 1024;

    type Error = Box<dyn std::error::Error>;

    fn iox_service<const N: usize>(
        node: &Node<ipc::Service>,
        name: &str,
    ) -> Result<
        iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, [u8; N], ()>,
        Error,
    > {
        Ok(node
            .service_builder(&ServiceName::new(name)?)
            .publish_subscribe::<[u8; N]>()
            .max_publishers(1)
            .max_subscribers(1)
            .history_size(0)
            .subscriber_max_buffer_size(IOX_BUFFER)
            .enable_safe_overflow(false)
            .open_or_create()?)
    }

    fn iox_node() -> Result<Node<ipc::Service>, Error> {
        Ok(NodeBuilder::new()
            .signal_handling_mode(SignalHandlingMode::Disabled)
            .create::<ipc::Service>()?)
    }

    struct IoxPipeline<const N: usize> {
        _scratch: Scratch,
        queue: khata_rs::Queue,
        events: u64,
        publisher: iceoryx2::port::publisher::Publisher<ipc::Service, [u8; N], ()>,
        _words_file: ShmFile,
        words: SharedWords,
        child: Option<std::process::Child>,
        _node: Node<ipc::Service>,
    }

    impl<const N: usize> IoxPipeline<N> {
        fn start() -> Result<IoxPipeline<N>, Error> {
            let scratch = Scratch::new("replay-khata");
            let events = JOURNAL_BYTES / (8 + N as u64);
            let queue = khata_rs::Queue::new(scratch.dir().join("queue"))
                .block_size(events as usize * (8 + N) + (1 << 20))
                .checksums(true)
                .build()?;
            {
                let data = payload(N);
                let mut w = queue.writer()?;
                for _ in 0..events {
                    w.write(&data)?;
                }
            }
            let node = iox_node()?;
            let name = journal_benches::unique_name("iox-replay");
            let publisher = iox_service::<N>(&node, &name)?
                .publisher_builder()
                .max_loaned_samples(1)
                .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
                .create()?;
            let words_file = ShmFile::new("replay-iox-words");
            let words = SharedWords::create(words_file.path())?;
            let (n, count) = (N.to_string(), events.to_string());
            let child = child::spawn(
                "iox-consumer",
                [
                    ("JOURNAL_BENCH_IOX", name.as_str()),
                    ("JOURNAL_BENCH_SIZE", n.as_str()),
                    ("JOURNAL_BENCH_EVENTS", count.as_str()),
                    (
                        "JOURNAL_BENCH_WORDS",
                        words_file.path().to_str().expect("utf-8"),
                    ),
                ],
            );
            let pipeline = IoxPipeline {
                _scratch: scratch,
                queue,
                events,
                publisher,
                _words_file: words_file,
                words,
                child: Some(child),
                _node: node,
            };
            // Wait for the subscriber: a publisher delivers to the subscribers it sees at each send.
            let deadline = Instant::now() + Duration::from_secs(20);
            while pipeline.words.word(READY).load(Ordering::Acquire) == 0 {
                if Instant::now() > deadline {
                    return Err("iceoryx2 consumer did not start".into());
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(pipeline)
        }

        fn pass(&mut self) -> Duration {
            let seen = self.words.word(GENERATION).load(Ordering::Acquire);
            let start = Instant::now();
            let mut r = self.queue.reader().expect("khata reader");
            r.rewind().expect("rewind");
            let mut sent = 0u64;
            while let Some(d) = r.read().expect("khata read") {
                let mut sample = self.publisher.loan_uninit().expect("loan");
                let out = sample.payload_mut().as_mut_ptr().cast::<u8>();
                assert_eq!(d.len(), N);
                // SAFETY: `out` points to the sample's N-byte payload, which nothing else references
                // while the sample is loaned, and `d` is N bytes that do not overlap it.
                let sample = unsafe {
                    std::ptr::copy_nonoverlapping(d.as_ptr(), out, N);
                    sample.assume_init()
                };
                sample.send().expect("send");
                sent += 1;
            }
            let got = wait_pass(&self.words, seen);
            let took = start.elapsed();
            assert_eq!(
                (sent, got),
                (self.events, self.events),
                "every event replayed"
            );
            took
        }
    }

    impl<const N: usize> Drop for IoxPipeline<N> {
        fn drop(&mut self) {
            self.words.word(STOP).store(1, Ordering::Release);
            if let Some(mut c) = self.child.take() {
                // The consumer polls the stop word while its buffer is empty.
                let deadline = Instant::now() + Duration::from_secs(10);
                while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    fn iox_consumer_n<const N: usize>() -> Result<(), Error> {
        pin_to_cpu(1);
        let words = SharedWords::open(child::env("JOURNAL_BENCH_WORDS").as_ref())?;
        let events: u64 = child::env("JOURNAL_BENCH_EVENTS").parse()?;
        let node = iox_node()?;
        let subscriber = iox_service::<N>(&node, &child::env("JOURNAL_BENCH_IOX"))?
            .subscriber_builder()
            .buffer_size(IOX_BUFFER)
            .create()?;
        words.word(READY).store(1, Ordering::Release);
        let (mut count, mut acc) = (0u64, 0u64);
        loop {
            match subscriber.receive()? {
                Some(sample) => {
                    acc = touch(acc, sample.payload());
                    count += 1;
                    if count == events {
                        words.word(COUNT).store(count, Ordering::Release);
                        words.word(GENERATION).fetch_add(1, Ordering::AcqRel);
                        count = 0;
                    }
                }
                None => {
                    if words.word(STOP).load(Ordering::Acquire) == 1 {
                        black_box(acc);
                        return Ok(());
                    }
                    std::hint::spin_loop();
                }
            }
        }
    }

    pub(super) fn iox_consumer() {
        let result = match child::env("JOURNAL_BENCH_SIZE").as_str() {
            "64" => iox_consumer_n::<64>(),
            "1024" => iox_consumer_n::<1024>(),
            other => panic!("no iceoryx2 consumer for {other} bytes"),
        };
        if let Err(e) = result {
            eprintln!("iceoryx2 consumer child: {e}");
            std::process::exit(1);
        }
    }

    pub(super) fn bench_iox<const N: usize>(c: &mut Criterion) {
        let id = format!("khata-rs+iceoryx2/{N}");
        if !selected(&format!("{GROUP}/{id}")) {
            return;
        }
        match IoxPipeline::<N>::start() {
            Ok(mut p) => {
                let mut g = c.benchmark_group(GROUP);
                g.throughput(Throughput::Elements(p.events));
                g.bench_function(BenchmarkId::new("khata-rs+iceoryx2", N), |b| {
                    b.iter_custom(|iters| (0..iters).map(|_| p.pass()).sum())
                });
                g.finish();
            }
            Err(e) => {
                eprintln!("{GROUP}/{id}: unavailable: {e}");
                results::record(GROUP, &id, json!({ "unavailable": e.to_string() }));
            }
        }
    }
}

fn bench_ours(c: &mut Criterion, scratch: &Scratch, size: usize) {
    let (path, events) = build_journal(scratch, size);
    results::record(
        GROUP,
        &format!("journal/{size}"),
        json!({ "events": events, "payload": size }),
    );
    for (name, crc) in [("journal-ring-crc", true), ("journal-ring-nocrc", false)] {
        if !selected(&format!("{GROUP}/{name}/{size}")) {
            continue;
        }
        let mut reader = Reader::open(&path).expect("open journal");
        reader.set_verify_checksums(crc);
        let mut consumer = RingConsumer::start();
        let mut g = c.benchmark_group(GROUP);
        g.throughput(Throughput::Elements(events));
        g.bench_function(BenchmarkId::new(name, size), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| consumer.pass(&reader, events)).sum())
        });
        g.finish();
    }
    let _ = std::fs::remove_file(path);
}

fn main() {
    match child::role().as_deref() {
        Some("ring-consumer") => return ring_consumer(),
        #[cfg(feature = "peers")]
        Some("iox-consumer") => return peer::iox_consumer(),
        Some(other) => panic!("unknown role {other}"),
        None => {}
    }
    pin_to_cpu(0);
    let scratch = Scratch::new("replay");
    let mut c = journal_benches::criterion();
    for size in RING_SIZES {
        bench_ours(&mut c, &scratch, size);
    }
    #[cfg(feature = "peers")]
    {
        peer::bench_iox::<64>(&mut c);
        peer::bench_iox::<1024>(&mut c);
    }
    c.final_summary();
}
