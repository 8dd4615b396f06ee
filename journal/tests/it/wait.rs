//! Blocking waits (`WaitStrategy::Block`, spec/RING.md 5.1): a sleeping consumer or producer is
//! woken by the other side, in another thread or process, with no wake-up lost; a waiter that dies
//! asleep costs the waker one system call; a sleeping waiter uses next to no CPU.

use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use journal::{create_ring, Consumer, Producer, WaitStrategy};

use crate::process::{child, lines, say};
use crate::support::{wait_for, TempDir};

/// Sleep at the first empty or full poll, so every wait below goes through the futex.
const SLEEP_AT_ONCE: WaitStrategy = WaitStrategy::Block { spins: 0 };

/// Child roles for these tests (called from `ring::child_role`); the others go to `tail_block`.
pub(crate) fn child_role(role: &str, path: &Path, out: &mut impl std::io::Write) {
    match role {
        // Consume with a blocking wait, saying "GOT i" for every record, until end of stream.
        "ring-block-consumer" => {
            let mut c = Consumer::attach(path).unwrap();
            say(out, "RES attached".to_string());
            let mut got = 0u64;
            loop {
                let mut lines = Vec::new();
                let s = c
                    .read_wait(
                        64,
                        |r| {
                            lines.push(format!("GOT {}", r.timestamp));
                            ControlFlow::Continue(())
                        },
                        SLEEP_AT_ONCE,
                        None,
                    )
                    .unwrap();
                for l in lines {
                    say(out, l);
                }
                got += s.records as u64;
                if s.end_of_stream {
                    break;
                }
            }
            say(out, format!("RES done {got}"));
        }
        other => crate::tail_block::child_role(other, path, out),
    }
}

/// The consumer's sleeping flag (spec/RING.md 2), read through the file.
fn consumer_sleeping(path: &Path) -> u32 {
    let mut b = [0u8; 4];
    std::fs::File::open(path)
        .unwrap()
        .read_exact_at(&mut b, 644)
        .unwrap();
    u32::from_le_bytes(b)
}

/// A consumer thread that sleeps in every wait and counts the records it got in `seen`.
fn sleeping_consumer(
    path: &Path,
    n: u64,
    seen: Arc<AtomicU64>,
) -> std::thread::JoinHandle<Consumer> {
    let mut c = Consumer::attach(path).unwrap();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut next = 0u64;
        while next < n {
            let s = c
                .read_wait(
                    16,
                    |r| {
                        assert_eq!(r.timestamp, next as i64, "records out of order");
                        next += 1;
                        ControlFlow::Continue(())
                    },
                    SLEEP_AT_ONCE,
                    Some(deadline),
                )
                .unwrap();
            assert!(s.records > 0, "no record within the deadline at {next}");
            seen.store(next, Ordering::Release);
        }
        c
    })
}

/// Waits (polling, with a deadline) until `seen` reaches `n`.
fn until_seen(seen: &AtomicU64, n: u64, deadline: Instant) {
    while seen.load(Ordering::Acquire) < n {
        assert!(
            Instant::now() < deadline,
            "lost wake-up: the consumer has {} of {n} records past the deadline",
            seen.load(Ordering::Acquire)
        );
        std::thread::yield_now();
    }
}

#[test]
fn a_sleeping_consumer_thread_wakes_on_every_push_with_no_wake_up_lost() {
    // Each round: one push, then the producer waits until the consumer has it, so the consumer is
    // asleep (or going to sleep) at nearly every push. A lost wake-up costs the 10 ms liveness
    // interval of the wait; 5000 of them would take 50 s, far past the deadline.
    let rounds = 5000u64;
    let dir = TempDir::new("waitthread");
    let path = dir.join("ring");
    create_ring(&path, 64 << 10).unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let consumer = sleeping_consumer(&path, rounds, seen.clone());
    let mut p = Producer::attach(&path).unwrap();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(30);
    for i in 0..rounds {
        p.push(i as i64, b"tick").unwrap();
        until_seen(&seen, i + 1, deadline);
    }
    let consumer = consumer.join().unwrap();
    eprintln!(
        "{rounds} alternations in {:?}, {} wakes",
        started.elapsed(),
        p.wakes()
    );
    assert!(p.wakes() > 0, "the consumer never slept");
    assert!(p.wakes() <= rounds);
    drop(consumer);
}

#[test]
fn a_sleeping_consumer_process_wakes_on_every_push() {
    // A lost wake-up costs 10 ms (the liveness interval): 4000 of them would take 40 s.
    let rounds = 4000u64;
    let dir = TempDir::new("waitproc");
    let path = dir.join("ring");
    create_ring(&path, 64 << 10).unwrap();
    let mut c = child("ring-block-consumer", &path);
    let rx = lines(c.stdout.take().unwrap());
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(30)).unwrap(),
        "RES attached"
    );
    let mut p = Producer::attach(&path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    for i in 0..rounds {
        p.push(i as i64, b"tick").unwrap();
        let left = deadline.saturating_duration_since(Instant::now());
        let got = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("lost wake-up: record {i} not received by the deadline"));
        assert_eq!(got, format!("GOT {i}"));
    }
    p.end_of_stream(0).unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(30)).unwrap(),
        format!("RES done {rounds}")
    );
    assert!(c.wait().unwrap().success());
    assert!(p.wakes() > 0, "the consumer never slept");
}

#[test]
fn a_producer_sleeping_on_a_full_ring_wakes_when_the_consumer_makes_room() {
    let n = 60_000u64;
    let dir = TempDir::new("waitfull");
    let path = dir.join("ring");
    create_ring(&path, 4096).unwrap();
    let mut consumer = Consumer::attach(&path).unwrap();
    let producer = {
        let mut p = Producer::attach(&path).unwrap();
        p.set_wait_strategy(SLEEP_AT_ONCE);
        std::thread::spawn(move || {
            for i in 0..n {
                p.push(i as i64, &[i as u8; 100]).unwrap();
            }
            p.end_of_stream(0).unwrap();
            p.full_waits()
        })
    };
    // A slow consumer: one record per read, so the ring is full most of the time. A lost wake-up
    // costs the producer 10 ms; thousands of them (one per full wait, about one per ten records)
    // would miss the deadline.
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut next = 0u64;
    loop {
        let s = consumer
            .read_wait(
                1,
                |r| {
                    assert_eq!(r.timestamp, next as i64);
                    assert_eq!(r.payload, &[next as u8; 100]);
                    next += 1;
                    ControlFlow::Continue(())
                },
                WaitStrategy::Yield,
                Some(deadline),
            )
            .unwrap();
        if s.end_of_stream {
            break;
        }
        assert!(
            s.records > 0,
            "lost wake-up: the producer is stuck at {next} of {n}"
        );
    }
    assert_eq!(next, n);
    let full_waits = producer.join().unwrap();
    eprintln!("{full_waits} full waits, {} wakes", consumer.wakes());
    assert!(full_waits > 0, "the ring never filled");
    assert!(consumer.wakes() > 0, "the producer never slept");
}

#[test]
fn a_consumer_killed_asleep_costs_the_producer_one_wake_not_one_per_push() {
    let dir = TempDir::new("waitkill");
    let path = dir.join("ring");
    create_ring(&path, 64 << 10).unwrap();
    let mut c = child("ring-block-consumer", &path);
    let rx = lines(c.stdout.take().unwrap());
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(30)).unwrap(),
        "RES attached"
    );
    // No producer yet: the consumer sleeps, having announced itself.
    wait_for("the consumer to sleep", || consumer_sleeping(&path) == 1);
    c.kill().unwrap();
    c.wait().unwrap();
    assert_eq!(
        consumer_sleeping(&path),
        1,
        "the dead waiter's flag is left"
    );
    let mut p = Producer::attach(&path).unwrap();
    for i in 0..1000 {
        p.push(i, b"nobody listens").unwrap();
    }
    assert_eq!(p.wakes(), 1, "the producer kept waking a dead consumer");
    assert_eq!(consumer_sleeping(&path), 0);
}

/// CPU time (user + system, in clock ticks) of the calling thread so far.
fn thread_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces): state is
    // field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// The CPU ticks a consumer thread uses waiting 1 s on an empty ring with `strategy`.
fn idle_wait_ticks(path: &Path, strategy: WaitStrategy) -> (u64, Duration) {
    let mut c = Consumer::attach(path).unwrap();
    std::thread::spawn(move || {
        let before = thread_cpu_ticks();
        let started = Instant::now();
        let deadline = started + Duration::from_secs(1);
        while Instant::now() < deadline {
            let s = c
                .read_wait(1, |_| ControlFlow::Continue(()), strategy, Some(deadline))
                .unwrap();
            assert_eq!(s.records, 0);
        }
        (thread_cpu_ticks() - before, started.elapsed())
    })
    .join()
    .unwrap()
}

#[test]
fn a_sleeping_idle_consumer_uses_far_less_cpu_than_a_spinning_one() {
    let dir = TempDir::new("waitcpu");
    let path = dir.join("ring");
    create_ring(&path, 4096).unwrap();
    let _producer = Producer::attach(&path).unwrap();
    let (spin, spin_took) = idle_wait_ticks(&path, WaitStrategy::BusySpin);
    let (block, block_took) = idle_wait_ticks(&path, WaitStrategy::BLOCK);
    let hz = 100; // USER_HZ, the unit of /proc's CPU times on Linux
    eprintln!(
        "idle wait: spinning {spin} ticks in {spin_took:?}, blocking {block} ticks in \
         {block_took:?} (1 tick = 1/{hz} s)"
    );
    // A ceiling (5 % of a core over the second), not a speed target.
    assert!(
        block * 100 < 5 * hz * block_took.as_secs_f64().ceil() as u64,
        "a blocking idle wait used {block} ticks in {block_took:?}"
    );
    assert!(
        spin > block,
        "spinning {spin} ticks, blocking {block} ticks"
    );
}
