//! The shared-memory ring inside one process (BENCHMARKS.md, "Ring, one process"), against `rtrb`
//! as the same-process floor (with the `peers` feature), at 64 B and 1 KiB.
//!
//! - "2 threads": a producer thread (the benchmark's) pushes records one by one, each published
//!   on its own; a consumer thread on the other core reads whatever is published in one batch and
//!   releases it with one store. Timed until the consumer has seen every record.
//! - "1 thread": push one record, then read it back, in the same thread (the cost of the two
//!   operations without any cache-line transfer).
//!
//! `rtrb` carries the same bytes in a `RingBuffer<u8>` of the same capacity: a producer chunk per
//! record, copied in; the consumer takes every whole record available as one chunk. It has no
//! framing and no checksum; ours writes an 8-byte commit word and a 16-byte header with a CRC-32
//! per record (spec/RING.md 3).
#![allow(missing_docs)] // reason: criterion_group!/criterion_main! generate undocumented items

use std::hint::black_box;
use std::ops::ControlFlow;
#[cfg(feature = "peers")]
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use journal::{create_ring, Consumer, Producer, WaitStrategy};
use journal_benches::{payload, pin_to_cpu, ShmFile, RING_SIZES};

const CAPACITY: u64 = 256 << 10;

#[inline]
fn touch(acc: u64, payload: &[u8]) -> u64 {
    acc.wrapping_add(payload.len() as u64) ^ payload.first().copied().unwrap_or(0) as u64
}

/// Waits until `counter` reaches `target`.
fn wait_for(counter: &AtomicU64, target: u64) {
    while counter.load(Ordering::Acquire) < target {
        std::hint::spin_loop();
    }
}

struct JournalPair {
    _file: ShmFile,
    producer: Producer,
    consumed: Arc<AtomicU64>,
    consumer: Option<JoinHandle<()>>,
    sent: u64,
}

impl JournalPair {
    fn new() -> JournalPair {
        let file = ShmFile::new("ring");
        create_ring(file.path(), CAPACITY).expect("create ring");
        let mut producer = Producer::attach(file.path()).expect("attach producer");
        producer.set_wait_strategy(WaitStrategy::BusySpin);
        let consumed = Arc::new(AtomicU64::new(0));
        let path = file.path().to_path_buf();
        let counter = Arc::clone(&consumed);
        let consumer = std::thread::spawn(move || {
            pin_to_cpu(1);
            let mut c = Consumer::attach(&path).expect("attach consumer");
            let mut acc = 0u64;
            loop {
                let s = c
                    .read(usize::MAX, |r| {
                        acc = touch(acc, r.payload);
                        ControlFlow::Continue(())
                    })
                    .expect("read");
                if s.records > 0 {
                    counter.fetch_add(s.records as u64, Ordering::Release);
                }
                if s.end_of_stream {
                    break;
                }
                if s.records == 0 {
                    std::hint::spin_loop();
                }
            }
            black_box(acc);
        });
        JournalPair {
            _file: file,
            producer,
            consumed,
            consumer: Some(consumer),
            sent: 0,
        }
    }

    fn run(&mut self, iters: u64, data: &[u8]) -> Duration {
        let start = Instant::now();
        for i in 0..iters {
            self.producer.push(i as i64, black_box(data)).expect("push");
        }
        self.sent += iters;
        wait_for(&self.consumed, self.sent);
        start.elapsed()
    }
}

impl Drop for JournalPair {
    fn drop(&mut self) {
        let _ = self.producer.end_of_stream(0);
        if let Some(t) = self.consumer.take() {
            t.join().expect("consumer thread");
        }
    }
}

#[cfg(feature = "peers")]
struct RtrbPair {
    producer: rtrb::Producer<u8>,
    consumed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    consumer: Option<JoinHandle<()>>,
    sent: u64,
}

#[cfg(feature = "peers")]
impl RtrbPair {
    fn new(size: usize) -> RtrbPair {
        let (producer, mut rx) = rtrb::RingBuffer::<u8>::new(CAPACITY as usize);
        let consumed = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (counter, stopped) = (Arc::clone(&consumed), Arc::clone(&stop));
        let consumer = std::thread::spawn(move || {
            pin_to_cpu(1);
            let mut acc = 0u64;
            loop {
                let records = rx.slots() / size;
                if records == 0 {
                    if stopped.load(Ordering::Relaxed) {
                        break;
                    }
                    std::hint::spin_loop();
                    continue;
                }
                let chunk = rx.read_chunk(records * size).expect("read chunk");
                let (a, b) = chunk.as_slices();
                // A record may straddle the wrap point; touch each one where it starts.
                let mut at = 0;
                while at < records * size {
                    let first = if at < a.len() { a[at] } else { b[at - a.len()] };
                    acc = acc.wrapping_add(size as u64) ^ first as u64;
                    at += size;
                }
                chunk.commit_all();
                counter.fetch_add(records as u64, Ordering::Release);
            }
            black_box(acc);
        });
        RtrbPair {
            producer,
            consumed,
            stop,
            consumer: Some(consumer),
            sent: 0,
        }
    }

    fn run(&mut self, iters: u64, data: &[u8]) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            rtrb_push(&mut self.producer, black_box(data));
        }
        self.sent += iters;
        wait_for(&self.consumed, self.sent);
        start.elapsed()
    }
}

#[cfg(feature = "peers")]
impl Drop for RtrbPair {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.consumer.take() {
            t.join().expect("consumer thread");
        }
    }
}

/// Copies one record into the ring, spinning while it is full.
#[cfg(feature = "peers")]
#[inline]
fn rtrb_push(p: &mut rtrb::Producer<u8>, data: &[u8]) {
    let mut chunk = loop {
        match p.write_chunk_uninit(data.len()) {
            Ok(c) => break c,
            Err(_) => std::hint::spin_loop(),
        }
    };
    let (a, b) = chunk.as_mut_slices();
    let (head, tail) = data.split_at(a.len());
    // SAFETY: `a` and `b` are exclusively borrowed slots of the ring, `a.len() + b.len() ==
    // data.len()`, and a `MaybeUninit<u8>` has the layout of a `u8`; every slot is written
    // before the commit below.
    unsafe {
        std::ptr::copy_nonoverlapping(head.as_ptr(), a.as_mut_ptr().cast::<u8>(), a.len());
        std::ptr::copy_nonoverlapping(tail.as_ptr(), b.as_mut_ptr().cast::<u8>(), b.len());
        chunk.commit_all();
    }
}

fn ring(c: &mut Criterion) {
    pin_to_cpu(0);
    let mut g = c.benchmark_group("ring-1proc");
    g.throughput(Throughput::Elements(1));
    for size in RING_SIZES {
        let data = payload(size);

        let mut pair = JournalPair::new();
        g.bench_function(BenchmarkId::new("journal-ring (2 threads)", size), |b| {
            b.iter_custom(|iters| pair.run(iters, &data))
        });
        drop(pair);

        #[cfg(feature = "peers")]
        {
            let mut pair = RtrbPair::new(size);
            g.bench_function(BenchmarkId::new("rtrb (2 threads)", size), |b| {
                b.iter_custom(|iters| pair.run(iters, &data))
            });
        }

        let file = ShmFile::new("ring1");
        create_ring(file.path(), CAPACITY).expect("create ring");
        let mut p = Producer::attach(file.path()).expect("attach producer");
        let mut cons = Consumer::attach(file.path()).expect("attach consumer");
        g.bench_function(BenchmarkId::new("journal-ring (1 thread)", size), |b| {
            let mut acc = 0u64;
            b.iter(|| {
                p.push(0, black_box(&data)).expect("push");
                let s = cons
                    .read(1, |r| {
                        acc = touch(acc, r.payload);
                        ControlFlow::Continue(())
                    })
                    .expect("read");
                debug_assert_eq!(s.records, 1);
            });
            black_box(acc);
        });
        drop((p, cons, file));

        #[cfg(feature = "peers")]
        {
            let (mut p, mut rx) = rtrb::RingBuffer::<u8>::new(CAPACITY as usize);
            g.bench_function(BenchmarkId::new("rtrb (1 thread)", size), |b| {
                let mut acc = 0u64;
                b.iter(|| {
                    rtrb_push(&mut p, black_box(&data));
                    let chunk = rx.read_chunk(size).expect("read chunk");
                    let (a, b) = chunk.as_slices();
                    acc = touch(acc, if a.is_empty() { b } else { a });
                    chunk.commit_all();
                });
                black_box(acc);
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = journal_benches::criterion();
    targets = ring
}
criterion_main!(benches);
