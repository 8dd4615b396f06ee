//! The shared-memory ring and replay: two real processes, wrap-around, backpressure, a dying
//! producer, bad attaches, byte-exact replay and its pacing, and the zero-allocation rule.

use std::ops::ControlFlow;
use std::path::Path;
use std::time::{Duration, Instant};

use journal::{
    create_ring, replay, ring_info, Consumer, Error, Pacing, Producer, ReadStatus, Reader,
    ReplayOptions, WaitStrategy, Writer, RING_VERSION,
};

use crate::process::{child, lines, say};
use crate::support::{count_allocs, mix, small_opts, TempDir};

/// Length of record `i` in the ring tests: 0..=2048 bytes.
fn len_for(i: u64) -> usize {
    (mix(i) % 2049) as usize
}

/// Fills `buf` as record `i`: its index in the first 8 bytes (when they fit), then the byte `i`.
fn fill(i: u64, buf: &mut [u8]) {
    let k = buf.len().min(8);
    buf[..k].copy_from_slice(&i.to_le_bytes()[..k]);
    buf[k..].fill(i as u8);
}

/// Checks that `payload` is record `i`.
fn is_record(i: u64, payload: &[u8]) -> bool {
    let k = payload.len().min(8);
    payload.len() == len_for(i)
        && payload[..k] == i.to_le_bytes()[..k]
        && payload[k..].iter().all(|&b| b == i as u8)
}

fn timestamp(i: u64) -> i64 {
    1_700_000_000_000_000_000 + i as i64
}

/// Child roles for the ring tests (called from `process::child_entry`).
pub(crate) fn child_role(role: &str, path: &Path, out: &mut impl std::io::Write) {
    match role {
        // Push N records (N on stdin) with random sizes, in claim and copy styles, then end.
        "ring-producer" => {
            let n: u64 = crate::support::count_from_stdin();
            let mut p = Producer::attach(path).unwrap();
            let mut scratch = vec![0u8; 2048];
            for i in 0..n {
                let len = len_for(i);
                if i % 2 == 0 {
                    let mut c = p.claim(len).unwrap();
                    fill(i, c.as_mut_slice());
                    c.commit(timestamp(i)).unwrap();
                } else {
                    fill(i, &mut scratch[..len]);
                    p.push(timestamp(i), &scratch[..len]).unwrap();
                }
            }
            p.end_of_stream(0).unwrap();
            say(out, format!("RES full_waits {}", p.full_waits()));
        }
        // Push forever (blocking when full), until killed.
        "ring-flood" => {
            let mut p = Producer::attach(path).unwrap();
            say(out, "RES attached".to_string());
            for i in 0.. {
                p.push(timestamp(i), &[i as u8; 100]).unwrap();
            }
        }
        // Rounds of attach attempts on a signal from the parent: "go" tries both roles and reports
        // what it got, "drop" detaches, "quit" ends; "hold" keeps what it has until killed.
        "ring-attach-race" => {
            let mut held: (Option<Consumer>, Option<Producer>) = (None, None);
            say(out, "RES ready".to_string());
            for line in std::io::stdin().lines() {
                match line.unwrap().as_str() {
                    "go" => {
                        held = (Consumer::attach(path).ok(), Producer::attach(path).ok());
                        say(
                            out,
                            format!(
                                "RES consumer {} producer {}",
                                held.0.is_some(),
                                held.1.is_some()
                            ),
                        );
                    }
                    "drop" => {
                        held = (None, None);
                        say(out, "RES dropped".to_string());
                    }
                    _ => break,
                }
            }
            drop(held);
        }
        other => crate::wait::child_role(other, path, out),
    }
}

#[test]
fn ten_million_records_between_two_processes() {
    let n = crate::support::env_count("JOURNAL_RING_RECORDS", 10_000_000);
    let dir = TempDir::new("ring2p");
    let path = dir.join("ring");
    let capacity = 64 << 10;
    create_ring(&path, capacity).unwrap();
    let mut consumer = Consumer::attach(&path).unwrap();
    let mut c = child("ring-producer", &path);
    let rx = lines(c.stdout.take().unwrap());
    say(c.stdin.as_mut().unwrap(), n.to_string());
    let (mut next, mut bytes, mut bad) = (0u64, 0u64, Vec::new());
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let s = consumer
            .read_wait(
                256,
                |r| {
                    let ok = r.checksum_ok()
                        && r.timestamp == timestamp(next)
                        && is_record(next, r.payload);
                    if !ok && bad.len() < 5 {
                        bad.push(next);
                    }
                    bytes += r.entry.len() as u64;
                    next += 1;
                    ControlFlow::Continue(())
                },
                WaitStrategy::default(),
                Some(deadline),
            )
            .unwrap();
        if s.end_of_stream {
            break;
        }
        assert!(s.records > 0, "timed out at record {next}");
    }
    assert!(
        bad.is_empty(),
        "bad records (CRC, order or content) at {bad:?}"
    );
    assert_eq!(next, n, "records lost or duplicated");
    let wraps = bytes / capacity;
    assert!(wraps >= 100 || n < 1_000_000, "only {wraps} wraps");
    assert!(c.wait().unwrap().success());
    let res = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(res.starts_with("RES full_waits "), "{res}");
    eprintln!("ring: {n} records, {bytes} bytes, {wraps} wraps, producer {res}");
    // After end of stream, a read reports nothing more.
    assert_eq!(
        consumer
            .read(10, |_| panic!("record after end"))
            .unwrap()
            .records,
        0
    );
}

#[test]
fn killed_producer_is_reported_to_the_consumer() {
    let dir = TempDir::new("ringkill");
    let path = dir.join("ring");
    create_ring(&path, 16 << 10).unwrap();
    let mut consumer = Consumer::attach(&path).unwrap();
    let mut c = child("ring-flood", &path);
    let rx = lines(c.stdout.take().unwrap());
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(30)).unwrap(),
        "RES attached"
    );
    let mut seen = 0u64;
    let s = consumer
        .read_wait(
            1000,
            |_| {
                seen += 1;
                ControlFlow::Continue(())
            },
            WaitStrategy::default(),
            None,
        )
        .unwrap();
    assert!(s.records > 0);
    assert!(ring_info(&path).unwrap().producer_alive);
    c.kill().unwrap();
    // Not reaped yet: the producer is a zombie, which must count as dead.
    let killed = Instant::now();
    let err = loop {
        match consumer.read_wait(
            1000,
            |_| {
                seen += 1;
                ControlFlow::Continue(())
            },
            WaitStrategy::default(),
            None,
        ) {
            Ok(_) => continue, // records it published before dying are still delivered
            Err(e) => break e,
        }
    };
    let took = killed.elapsed();
    c.wait().unwrap();
    assert!(
        matches!(
            err,
            Error::PeerDied {
                role: "producer",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "death noticed after {took:?}"
    );
    assert!(seen > 0);
    // A new producer may take over the stale claim.
    assert!(!ring_info(&path).unwrap().producer_alive);
    let mut p = Producer::attach(&path).unwrap();
    p.push(1, b"after").unwrap();
}

#[test]
fn slow_consumer_makes_the_producer_wait_and_nothing_is_lost() {
    let dir = TempDir::new("ringslow");
    let path = dir.join("ring");
    create_ring(&path, 8 << 10).unwrap();
    let mut consumer = Consumer::attach(&path).unwrap();
    let n = 20_000u64;
    let producer = {
        let path = path.clone();
        std::thread::spawn(move || {
            let mut p = Producer::attach(&path).unwrap();
            let mut buf = vec![0u8; 2048];
            for i in 0..n {
                let len = len_for(i) / 4;
                fill(i, &mut buf[..len]);
                p.push(timestamp(i), &buf[..len]).unwrap();
            }
            p.end_of_stream(0).unwrap();
            p.full_waits()
        })
    };
    let mut next = 0u64;
    loop {
        let s = consumer
            .read_wait(
                64,
                |r| {
                    let k = r.payload.len().min(8);
                    assert!(r.checksum_ok());
                    assert_eq!(r.payload.len(), len_for(next) / 4);
                    assert_eq!(r.payload[..k], next.to_le_bytes()[..k]);
                    next += 1;
                    ControlFlow::Continue(())
                },
                WaitStrategy::default(),
                None,
            )
            .unwrap();
        if s.end_of_stream {
            break;
        }
        if next % 2_000 < 64 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let waits = producer.join().unwrap();
    assert_eq!(next, n);
    assert!(
        waits > 0,
        "the producer never had to wait: the test proved nothing"
    );
}

#[test]
fn bad_attaches_and_oversized_records_are_refused() {
    let dir = TempDir::new("ringbad");
    // Not a ring: a journal, a text file, an empty file, a directory, a missing file.
    let journal = dir.join("j");
    Writer::create(&journal).unwrap().close().unwrap();
    let text = dir.join("text");
    std::fs::write(&text, "x".repeat(8192)).unwrap();
    let empty = dir.join("empty");
    std::fs::write(&empty, b"").unwrap();
    for p in [&journal, &text, &empty] {
        let e = Consumer::attach(p).unwrap_err();
        assert!(matches!(e, Error::NotARing { .. }), "{p:?}: {e:?}");
        assert!(matches!(Producer::attach(p), Err(Error::NotARing { .. })));
    }
    assert!(matches!(
        Consumer::attach(dir.path()),
        Err(Error::NotARing { .. } | Error::Io { .. })
    ));
    assert!(matches!(
        Consumer::attach(dir.join("missing")),
        Err(Error::Io { .. })
    ));
    // A ring whose size does not match its header.
    let ring = dir.join("ring");
    create_ring(&ring, 4096).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&ring).unwrap();
    f.set_len(4096 + 8192).unwrap();
    let e = Consumer::attach(&ring).unwrap_err();
    assert!(e.to_string().contains("file size"), "{e}");
    f.set_len(4096 + 4096).unwrap();
    // Bad capacities, an existing path, a planted symlink.
    for cap in [0, 1000, 2048, 4097] {
        assert!(matches!(
            create_ring(dir.join(&format!("c{cap}")), cap),
            Err(Error::InvalidArgument(_))
        ));
    }
    assert!(matches!(
        create_ring(&ring, 4096),
        Err(Error::AlreadyExists { .. })
    ));
    std::os::unix::fs::symlink(&text, dir.join("link")).unwrap();
    assert!(create_ring(dir.join("link"), 4096).is_err());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&ring).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // One producer and one consumer at most.
    let mut p = Producer::attach(&ring).unwrap();
    assert!(matches!(
        Producer::attach(&ring),
        Err(Error::AlreadyAttached {
            role: "producer",
            ..
        })
    ));
    let _c = Consumer::attach(&ring).unwrap();
    assert!(matches!(
        Consumer::attach(&ring),
        Err(Error::AlreadyAttached {
            role: "consumer",
            ..
        })
    ));
    // Records above half the capacity can never fit (8-byte commit word, 16-byte header).
    assert_eq!(p.max_record_len(), 2048);
    let e = p.push(1, &[0u8; 2032]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::RecordTooLarge {
                len: 2056,
                max: 2048
            }
        ),
        "{e:?}"
    );
    assert!(p.try_push(1, &[0u8; 2024]).unwrap());
    drop(p);
    Producer::attach(&ring).unwrap();
}

/// Builds a journal of `n` events spread evenly over `span`.
fn journal_over(path: &Path, n: u64, span: Duration) {
    let mut w = small_opts().create(path).unwrap();
    let step = span.as_nanos() as i64 / n.max(1) as i64;
    for i in 0..n {
        let mut p = vec![0u8; len_for(i) / 2];
        fill(i, &mut p);
        w.append(1_000_000_000 + i as i64 * step, &p).unwrap();
    }
    w.close().unwrap();
}

/// Replays `journal` into a fresh ring with a consumer thread; returns the stats and what the
/// consumer received (timestamp, payload, and whether the entry bytes equal the journal's).
fn replay_and_collect(
    dir: &TempDir,
    journal: &Path,
    opts: ReplayOptions,
) -> (journal::ReplayStats, Vec<(i64, Vec<u8>)>) {
    let ring = dir.join("replay-ring");
    let _ = std::fs::remove_file(&ring);
    create_ring(&ring, 64 << 10).unwrap();
    let mut consumer = Consumer::attach(&ring).unwrap();
    let collector = std::thread::spawn(move || {
        let mut got = Vec::new();
        loop {
            let s = consumer
                .read_wait(
                    128,
                    |r| {
                        assert!(r.checksum_ok());
                        got.push((r.timestamp, r.payload.to_vec()));
                        ControlFlow::Continue(())
                    },
                    WaitStrategy::default(),
                    None,
                )
                .unwrap();
            if s.end_of_stream {
                return got;
            }
        }
    });
    let reader = Reader::open(journal).unwrap();
    let mut producer = Producer::attach(&ring).unwrap();
    let stats = replay(&reader, &mut producer, &opts).unwrap();
    (stats, collector.join().unwrap())
}

#[test]
fn replay_delivers_exactly_what_a_reader_sees() {
    let dir = TempDir::new("replay");
    let path = dir.join("j");
    journal_over(&path, 5_000, Duration::from_secs(5));
    let expect: Vec<(i64, Vec<u8>)> = crate::support::read_all(&path);
    let (stats, got) = replay_and_collect(&dir, &path, ReplayOptions::default());
    assert_eq!(got, expect);
    assert_eq!(stats.events, 5_000);
    assert_eq!(stats.bytes, std::fs::metadata(&path).unwrap().len() - 24);
    // A range by index, and by time [from, to).
    let opts = *ReplayOptions::new().from_index(4_990);
    assert_eq!(replay_and_collect(&dir, &path, opts).1, expect[4_990..]);
    let (t0, t1) = (expect[100].0, expect[200].0);
    let opts = *ReplayOptions::new().from_time(t0).to_time(t1);
    assert_eq!(replay_and_collect(&dir, &path, opts).1, expect[100..200]);
    // A bad speed is refused before anything is sent.
    let reader = Reader::open(&path).unwrap();
    create_ring(dir.join("r2"), 4096).unwrap();
    let mut p = Producer::attach(dir.join("r2")).unwrap();
    for speed in [0.0, -1.0, 1e-300, f64::NAN, f64::INFINITY, 1e300] {
        let bad = ReplayOptions::new().pacing(Pacing::Speed(speed)).to_owned();
        assert!(
            matches!(
                replay(&reader, &mut p, &bad),
                Err(Error::InvalidArgument(_))
            ),
            "speed {speed}"
        );
    }
    assert_eq!(ring_info(dir.join("r2")).unwrap().producer_position, 0);
}

#[test]
fn real_time_pacing_follows_the_timestamps() {
    let dir = TempDir::new("pacing");
    let path = dir.join("j");
    // 500 events over one second.
    journal_over(&path, 500, Duration::from_secs(1));
    let opts = *ReplayOptions::new().pacing(Pacing::Speed(1.0));
    let (stats, got) = replay_and_collect(&dir, &path, opts);
    assert_eq!(got.len(), 500);
    // The last event is due 0.998 s after the first; pacing never runs early. The upper bound only
    // guards against pacing that ignores timestamps entirely; the measured figure goes in the notes.
    assert!(
        stats.elapsed >= Duration::from_millis(998),
        "{:?}",
        stats.elapsed
    );
    assert!(
        stats.elapsed < Duration::from_secs(5),
        "{:?}",
        stats.elapsed
    );
    assert!(stats.lag_max >= stats.lag_p99 && stats.lag_p99 >= stats.lag_p50);
    eprintln!(
        "pacing 1.0: elapsed {:?}, lag p50 {:?} p99 {:?} max {:?}",
        stats.elapsed, stats.lag_p50, stats.lag_p99, stats.lag_max
    );
    let opts = *ReplayOptions::new().pacing(Pacing::Speed(10.0));
    let (stats, _) = replay_and_collect(&dir, &path, opts);
    assert!(
        stats.elapsed >= Duration::from_micros(99_800),
        "{:?}",
        stats.elapsed
    );
    assert!(
        stats.elapsed < Duration::from_secs(1),
        "{:?}",
        stats.elapsed
    );
}

#[test]
fn push_read_and_replay_do_not_allocate_per_event() {
    let dir = TempDir::new("ringalloc");
    let ring = dir.join("ring");
    create_ring(&ring, 16 << 10).unwrap();
    let mut p = Producer::attach(&ring).unwrap();
    let mut c = Consumer::attach(&ring).unwrap();
    let ((), allocs, _) = count_allocs(|| {
        for i in 0..50_000u64 {
            p.push(timestamp(i), &[i as u8; 200]).unwrap();
            let mut c2 = p.claim(30).unwrap();
            c2.as_mut_slice().fill(1);
            c2.commit(0).unwrap();
            let s = c
                .read(10, |r| {
                    assert!(r.payload.len() == 200 || r.payload.len() == 30);
                    ControlFlow::Continue(())
                })
                .unwrap();
            assert_eq!(s.records, 2);
        }
    });
    assert_eq!(allocs, 0, "push/claim/read allocated {allocs} times");
    drop((p, c));
    // Replay: the allocations do not grow with the number of events.
    let count_for = |n: u64| {
        let path = dir.join(&format!("j{n}"));
        journal_over(&path, n, Duration::from_secs(1));
        let reader = Reader::open(&path).unwrap();
        let ring = dir.join(&format!("r{n}"));
        create_ring(&ring, 1 << 20).unwrap();
        let mut p = Producer::attach(&ring).unwrap();
        let mut c = Consumer::attach(&ring).unwrap();
        // Big enough ring that replay never waits; drain afterwards.
        let (stats, allocs, _) =
            count_allocs(|| replay(&reader, &mut p, &ReplayOptions::default()).unwrap());
        let mut got = 0;
        while !c
            .read(usize::MAX, |_| {
                got += 1;
                ControlFlow::Continue(())
            })
            .unwrap()
            .end_of_stream
        {}
        assert_eq!((stats.events, got), (n, n));
        allocs
    };
    let (small, large) = (count_for(10), count_for(500));
    assert_eq!(
        small, large,
        "replay allocations grew with the number of events"
    );
}

/// Regression (found by the ring_decoder fuzzer): a header whose consumer position is ahead of the
/// producer's made `Consumer::read` subtract with overflow; it must report a corrupt ring.
#[test]
fn consumer_ahead_of_producer_is_a_corrupt_ring_not_a_panic() {
    use std::os::unix::fs::FileExt;
    let dir = TempDir::new("ahead");
    let ring = dir.join("ring");
    create_ring(&ring, 4096).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&ring).unwrap();
    // In version 2 the producer stores its position lazily (RING.md 4): a consumer ahead of it is
    // normal, and reads what the commit words say (here: nothing).
    f.write_all_at(&0u64.to_le_bytes(), 128).unwrap(); // producer position
    f.write_all_at(&8u64.to_le_bytes(), 256).unwrap(); // consumer position
    let mut c = Consumer::attach(&ring).unwrap();
    let s = c.read(10, |_| panic!("no record")).unwrap();
    assert_eq!(s, ReadStatus::default());
    drop(c);
    // A misaligned consumer position is refused at attach.
    f.write_all_at(&12u64.to_le_bytes(), 256).unwrap();
    assert_corrupt_naming(Consumer::attach(&ring), &["consumer_position 12"]);
    // A producer position past records that are not committed: a waiting consumer reports a
    // corrupt ring (within the liveness check interval) instead of waiting forever.
    f.write_all_at(&64u64.to_le_bytes(), 128).unwrap();
    f.write_all_at(&0u64.to_le_bytes(), 256).unwrap();
    let mut c = Consumer::attach(&ring).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let err = c
        .read_wait(
            10,
            |_| panic!("no record"),
            WaitStrategy::default(),
            Some(deadline),
        )
        .unwrap_err();
    assert!(Instant::now() < deadline, "waited to the deadline");
    assert!(
        matches!(err, Error::CorruptRing { position: 0, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("producer_position 64"), "{err}");
}

/// Corruption after some good records: the error names the bad record's position, and the good
/// ones handed out before it are released (not handed out again).
#[test]
fn corrupt_record_is_reported_at_its_own_position() {
    use std::os::unix::fs::FileExt;
    let dir = TempDir::new("badrec");
    let ring = dir.join("ring");
    create_ring(&ring, 4096).unwrap();
    let mut p = Producer::attach(&ring).unwrap();
    p.push(1, b"good").unwrap(); // 32 bytes at 0 (commit word, header, payload, padding)
    p.push(2, b"good").unwrap(); // 32 bytes at 32
    p.push(3, b"soon bad").unwrap(); // at 64
    drop(p);
    let f = std::fs::OpenOptions::new().write(true).open(&ring).unwrap();
    // An impossible size in the third record's header (after its commit word and timestamp).
    f.write_all_at(&0xFFFF_FFFFu32.to_le_bytes(), 4096 + 64 + 8 + 8)
        .unwrap();
    let mut c = Consumer::attach(&ring).unwrap();
    let mut seen = 0;
    let err = c
        .read(10, |_| {
            seen += 1;
            ControlFlow::Continue(())
        })
        .unwrap_err();
    assert_eq!(seen, 2);
    assert!(
        matches!(err, Error::CorruptRing { position: 64, .. }),
        "{err:?}"
    );
    let err = c
        .read(10, |_| panic!("records handed out twice"))
        .unwrap_err();
    assert!(
        matches!(err, Error::CorruptRing { position: 64, .. }),
        "{err:?}"
    );
}

/// Regression: attaching stored the start time before the pid's compare-and-swap, so two racing
/// consumers could both believe they had attached. Ownership is now an OFD lock per role
/// (RING.md 7): among many processes attaching at once, exactly one wins each role, every round;
/// a SIGKILLed owner frees its role without any cleanup.
#[test]
fn concurrent_attaches_from_many_processes_give_each_role_to_exactly_one() {
    const PROCS: usize = 8;
    const ROUNDS: usize = 40;
    let dir = TempDir::new("attachrace");
    let path = dir.join("ring");
    create_ring(&path, 4096).unwrap();
    let mut kids: Vec<_> = (0..PROCS)
        .map(|_| {
            let mut c = child("ring-attach-race", &path);
            let rx = lines(c.stdout.take().unwrap());
            (c, rx)
        })
        .collect();
    let recv = |rx: &std::sync::mpsc::Receiver<String>| {
        rx.recv_timeout(Duration::from_secs(60))
            .expect("child answers")
    };
    for (_, rx) in &kids {
        assert_eq!(recv(rx), "RES ready");
    }
    let mut winners = (0, 0);
    for round in 0..ROUNDS {
        for (c, _) in &mut kids {
            say(c.stdin.as_mut().unwrap(), "go".to_string());
        }
        let (mut consumers, mut producers) = (Vec::new(), Vec::new());
        for (k, (_, rx)) in kids.iter().enumerate() {
            let line = recv(rx);
            let parts: Vec<&str> = line.split(' ').collect();
            assert_eq!(parts.len(), 5, "{line}");
            if parts[2] == "true" {
                consumers.push(k);
            }
            if parts[4] == "true" {
                producers.push(k);
            }
        }
        assert_eq!(consumers.len(), 1, "round {round}: consumers {consumers:?}");
        assert_eq!(producers.len(), 1, "round {round}: producers {producers:?}");
        winners = (consumers[0], producers[0]);
        if round + 1 < ROUNDS {
            for (c, rx) in &mut kids {
                say(c.stdin.as_mut().unwrap(), "drop".to_string());
                assert_eq!(recv(rx), "RES dropped");
            }
        }
    }
    // The last round's owners hold on; the roles are taken.
    let info = ring_info(&path).unwrap();
    assert!(info.consumer_alive && info.producer_alive, "{info:?}");
    assert!(matches!(
        Consumer::attach(&path),
        Err(Error::AlreadyAttached {
            role: "consumer",
            ..
        })
    ));
    // SIGKILL the consumer's owner: its role is free again, with nothing cleaned up by anyone.
    let owner = kids[winners.0].0.id();
    kids[winners.0].0.kill().unwrap();
    kids[winners.0].0.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let consumer = loop {
        match Consumer::attach(&path) {
            Ok(c) => break c,
            Err(Error::AlreadyAttached { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("attach after the owner {owner} was killed: {e:?}"),
        }
    };
    let info = ring_info(&path).unwrap();
    assert_eq!(
        (info.consumer_pid, info.consumer_alive),
        (std::process::id(), true)
    );
    drop(consumer);
    for (mut c, _) in kids {
        if c.try_wait().unwrap().is_none() {
            say(c.stdin.as_mut().unwrap(), "quit".to_string());
            drop(c.stdin.take());
            assert!(c.wait().unwrap().success());
        }
    }
    let info = ring_info(&path).unwrap();
    assert!(!info.consumer_alive && !info.producer_alive, "{info:?}");
    // A killed owner leaves its pid behind (not alive): only if it also held the producer role.
    let stale = if winners.1 == winners.0 { owner } else { 0 };
    assert_eq!((info.consumer_pid, info.producer_pid), (0, stale));
}

/// Writes the two positions of a ring's header, as another (broken or hostile) process could.
fn set_positions(ring: &Path, producer: Option<u64>, consumer: Option<u64>) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(ring).unwrap();
    if let Some(p) = producer {
        f.write_all_at(&p.to_le_bytes(), 128).unwrap();
    }
    if let Some(c) = consumer {
        f.write_all_at(&c.to_le_bytes(), 256).unwrap();
    }
}

#[track_caller]
fn assert_corrupt_naming(r: journal::Result<impl std::fmt::Debug>, words: &[&str]) {
    match r {
        Err(e @ Error::CorruptRing { .. }) => {
            let msg = e.to_string();
            for w in words {
                assert!(msg.contains(w), "{w:?} not in {msg:?}");
            }
        }
        other => panic!("expected a corrupt ring naming {words:?}, got {other:?}"),
    }
}

/// Regression: the producer trusted the header's positions. With the consumer ahead of it, or the
/// producer more than a capacity ahead, `has_room` wrapped and the producer overwrote unread data
/// (release builds) or panicked (debug builds). Attaching, and every refresh of the cached consumer
/// position, now check 0 <= producer - consumer <= capacity and alignment (RING.md 4).
#[test]
fn producer_refuses_impossible_positions_at_attach_and_on_refresh() {
    let dir = TempDir::new("prodpos");
    let ring = dir.join("ring");
    create_ring(&ring, 4096).unwrap();
    for (p, c, words) in [
        (
            0,
            8192,
            &["consumer_position 8192", "producer_position 0"][..],
        ),
        (
            3 * 4096,
            0,
            &["consumer_position 0", "producer_position 12288"],
        ),
        (4, 0, &["producer_position 4", "multiple of 8"]),
        (64, 12, &["consumer_position 12"]),
        (
            u64::MAX - 7,
            0,
            &["producer_position 18446744073709551608", "2^63"],
        ),
        (
            u64::MAX - 7,
            u64::MAX - 4095,
            &["producer_position 18446744073709551608"],
        ),
    ] {
        set_positions(&ring, Some(p), Some(c));
        assert_corrupt_naming(Producer::attach(&ring), words);
        // Refused, and detached: the role is free, nothing was written.
        let info = ring_info(&ring).unwrap();
        assert_eq!(
            (
                info.producer_position,
                info.consumer_position,
                info.producer_alive
            ),
            (p, c, false)
        );
    }
    // A valid header: fill the ring, then break the consumer position under the producer.
    for bad in [u64::MAX - 7, 8 * 4096, 3, 0] {
        set_positions(&ring, Some(4096), Some(4096));
        let mut p = Producer::attach(&ring).unwrap();
        let mut n = 0;
        while p.try_push(n, &[n as u8; 100]).unwrap() {
            n += 1;
        }
        let before = std::fs::read(&ring).unwrap();
        set_positions(&ring, None, Some(bad));
        let r = p.try_push(0, &[0xEE; 100]);
        assert_corrupt_naming(r, &[&format!("consumer_position {bad}")]);
        assert_corrupt_naming(p.push(0, &[0xEE; 100]), &["consumer_position"]);
        drop(p);
        let after = std::fs::read(&ring).unwrap();
        assert_eq!(
            before[4096..],
            after[4096..],
            "consumer_position {bad}: the producer overwrote unread data"
        );
    }
}

/// Regression: `Reader`-level replay with `from_time` dropped every later event whose timestamp
/// was below it; FORMAT.md 6.4 (and `dump --from-time`) start at the first event at or after T and
/// then take everything in file order, until the first event at or after `to_time`.
#[test]
fn replay_from_time_follows_format_6_4_on_backwards_timestamps() {
    let dir = TempDir::new("replaytime");
    let path = dir.join("j");
    let mut w = small_opts().create(&path).unwrap();
    let stamps: Vec<i64> = (0..300u64).map(|i| (mix(i) % 1000) as i64).collect();
    for (i, &ts) in stamps.iter().enumerate() {
        w.append(ts, &(i as u64).to_le_bytes()).unwrap();
    }
    w.close().unwrap();
    let all: Vec<(i64, Vec<u8>)> = crate::support::read_all(&path);
    // FORMAT.md 6.4 by a linear scan.
    let spec = |from: Option<i64>, to: Option<i64>, index: usize| -> Vec<(i64, Vec<u8>)> {
        let start = all
            .iter()
            .enumerate()
            .skip(index)
            .find(|(_, e)| from.is_none_or(|t| e.0 >= t))
            .map_or(all.len(), |(k, _)| k);
        all[start..]
            .iter()
            .take_while(|e| to.is_none_or(|t| e.0 < t))
            .cloned()
            .collect()
    };
    for (from, to, index) in [
        (Some(500), None, 0),
        (Some(990), None, 0),
        (Some(1), None, 0),
        (Some(500), Some(900), 0),
        (Some(500), None, 150),
        (None, Some(700), 10),
        (Some(2000), None, 0),
    ] {
        let mut opts = ReplayOptions::new();
        opts.from_index(index as u64);
        if let Some(t) = from {
            opts.from_time(t);
        }
        if let Some(t) = to {
            opts.to_time(t);
        }
        let want = spec(from, to, index);
        let (stats, got) = replay_and_collect(&dir, &path, opts);
        assert_eq!(got, want, "from {from:?} to {to:?} index {index}");
        assert_eq!(stats.events, want.len() as u64);
        if from == Some(500) && to.is_none() && index == 0 {
            assert!(
                got.iter().any(|e| e.0 < 500),
                "the journal must have earlier timestamps after the start"
            );
        }
    }
}

/// `--speed`-style pacing with an outlying timestamp: `max_gap` shortens the gap (and says so
/// through the long-gap report), so the replay does not wait for the outlier.
#[test]
fn max_gap_shortens_outlying_gaps_and_reports_them() {
    use std::sync::atomic::{AtomicU64, Ordering};
    static REPORTED: AtomicU64 = AtomicU64::new(0);
    static SHORTENED: AtomicU64 = AtomicU64::new(0);
    fn report(g: &journal::LongGap) {
        REPORTED.fetch_add(1, Ordering::Relaxed);
        if g.shortened && g.index == 2 && g.wait == Duration::from_millis(5) {
            SHORTENED.fetch_add(1, Ordering::Relaxed);
        }
    }
    let dir = TempDir::new("maxgap");
    let path = dir.join("j");
    let mut w = small_opts().create(&path).unwrap();
    let year = 365 * 86_400 * 1_000_000_000i64;
    for ts in [0, 1_000_000, 56 * year, 56 * year + 1_000_000] {
        w.append(ts, b"x").unwrap();
    }
    w.close().unwrap();
    let opts = *ReplayOptions::new()
        .pacing(Pacing::Speed(1.0))
        .max_gap(Duration::from_millis(5))
        .on_long_gap(Duration::from_secs(10), report);
    let (stats, got) = replay_and_collect(&dir, &path, opts);
    assert_eq!(got.len(), 4);
    assert_eq!(stats.gaps_shortened, 1);
    assert_eq!(
        (
            REPORTED.load(Ordering::Relaxed),
            SHORTENED.load(Ordering::Relaxed)
        ),
        (1, 1)
    );
    // 1 ms + 5 ms + 1 ms of schedule; the bound only says the 56 years were not waited.
    assert!(
        stats.elapsed >= Duration::from_millis(7),
        "{:?}",
        stats.elapsed
    );
    assert!(
        stats.elapsed < Duration::from_secs(60),
        "{:?}",
        stats.elapsed
    );
}

/// The handler stops a read with `ControlFlow::Break`: the records before it are released, the
/// one it broke on and the rest stay. With deferred release nothing is released until `release`.
#[test]
fn read_handler_can_stop_and_release_can_be_deferred() {
    let dir = TempDir::new("flow");
    let ring = dir.join("ring");
    create_ring(&ring, 4096).unwrap();
    let mut p = Producer::attach(&ring).unwrap();
    for i in 0..10u8 {
        p.push(i64::from(i), &[i; 8]).unwrap(); // 32 bytes each
    }
    let mut c = Consumer::attach(&ring).unwrap();
    let mut seen = Vec::new();
    let s = c
        .read(100, |r| {
            if r.payload[0] == 3 {
                return ControlFlow::Break(());
            }
            seen.push(r.payload[0]);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!((s.records, s.stopped, &seen[..]), (3, true, &[0, 1, 2][..]));
    assert_eq!(ring_info(&ring).unwrap().consumer_position, 3 * 32);
    c.set_deferred_release(true);
    let s = c
        .read(4, |r| {
            seen.push(r.payload[0]);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!((s.records, s.stopped), (4, false));
    assert_eq!(ring_info(&ring).unwrap().consumer_position, 3 * 32);
    c.release();
    assert_eq!(ring_info(&ring).unwrap().consumer_position, 7 * 32);
    // A consumer that stops without releasing leaves the records for the next one.
    let s = c
        .read(100, |r| {
            seen.push(r.payload[0]);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(s.records, 3);
    drop(c);
    let mut c = Consumer::attach(&ring).unwrap();
    let mut again = Vec::new();
    c.read(100, |r| {
        again.push(r.payload[0]);
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(again, [7, 8, 9]);
    assert_eq!(seen, (0..10).collect::<Vec<u8>>());
}

/// Writes `bytes` at byte `at` of a ring file, as another (broken, hostile or older) process could.
fn poke(ring: &Path, at: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(ring).unwrap();
    f.write_all_at(bytes, at).unwrap();
}

/// Version negotiation (RING.md 2, 10): a version 1 ring (or a newer one) is refused by attach
/// and by `ring_info` with an error that names the version found and the one this build reads;
/// nothing is written to it.
#[test]
fn ring_of_another_version_is_refused_with_a_clear_error() {
    assert_eq!(RING_VERSION, 2);
    let dir = TempDir::new("ringver");
    let ring = dir.join("ring");
    create_ring(&ring, 4096).unwrap();
    assert_eq!(std::fs::read(&ring).unwrap()[8..12], 2u32.to_le_bytes());
    for (version, words) in [
        (1u32, &["version is 1", "expected 2", "recreate"][..]),
        (3, &["version is 3", "newer"]),
    ] {
        poke(&ring, 8, &version.to_le_bytes());
        let before = std::fs::read(&ring).unwrap();
        let errors = [
            Consumer::attach(&ring).map(drop).unwrap_err(),
            Producer::attach(&ring).map(drop).unwrap_err(),
            ring_info(&ring).map(drop).unwrap_err(),
        ];
        for e in errors {
            assert!(
                matches!(
                    e,
                    Error::NotARing {
                        field: "version",
                        ..
                    }
                ),
                "{e:?}"
            );
            let msg = e.to_string();
            for w in words {
                assert!(msg.contains(w), "{w:?} not in {msg:?}");
            }
        }
        assert_eq!(
            std::fs::read(&ring).unwrap(),
            before,
            "a refused attach wrote"
        );
    }
    poke(&ring, 8, &2u32.to_le_bytes());
    Producer::attach(&ring).unwrap().push(1, b"v2").unwrap();
}

/// Wrap-around (RING.md 3, 4): over many laps of records of every length, a consumer that has
/// taken everything finds nothing more, though the bytes of every earlier lap's records are
/// still in the data area: the producer zeroes the commit word after each record it publishes,
/// and a commit word names its record's position, so an old record never reads as a new one.
#[test]
fn records_of_earlier_laps_are_never_handed_out_again() {
    let dir = TempDir::new("ringlap");
    let ring = dir.join("ring");
    create_ring(&ring, 4096).unwrap();
    let mut p = Producer::attach(&ring).unwrap();
    let mut c = Consumer::attach(&ring).unwrap();
    let mut buf = vec![0u8; 2048];
    let (mut sent, mut got) = (0u64, 0u64);
    for round in 0..2000u64 {
        // A burst of 1 to 4 records, then drain, then check that nothing is left.
        for _ in 0..1 + mix(round) % 4 {
            let len = lap_len(sent);
            fill(sent, &mut buf[..len]);
            // Records with and without checksum (kinds 1 and 4, RING.md 3.1) lap alike.
            p.set_checksums(!sent.is_multiple_of(3));
            if !p.try_push(timestamp(sent), &buf[..len]).unwrap() {
                break;
            }
            sent += 1;
        }
        let s = c
            .read(usize::MAX, |r| {
                let mut want = vec![0u8; lap_len(got)];
                fill(got, &mut want);
                assert_eq!(r.payload, &want[..], "record {got}");
                assert_eq!(r.timestamp, timestamp(got));
                assert_eq!(r.checksummed, !got.is_multiple_of(3), "record {got}");
                assert_eq!(r.checksum_ok(), r.checksummed, "record {got}");
                got += 1;
                ControlFlow::Continue(())
            })
            .unwrap();
        assert!(!s.end_of_stream);
        assert_eq!(got, sent, "round {round}");
        let again = c.read(usize::MAX, |r| panic!("handed out again: {r:?}"));
        assert_eq!(again.unwrap(), ReadStatus::default(), "round {round}");
    }
    assert!(
        ring_info(&ring).unwrap().consumer_position > 100 * 4096,
        "too few laps"
    );
}

/// A producer writes records without checksum (kind 4, RING.md 3.1) through every write path once
/// it is told to, and with one again once told so; `write_entry` always copies the entry's own CRC.
/// The consumer says which records carry one, and the others hold 0 in their `checksum` field.
#[test]
fn records_without_checksum_are_written_by_every_path_and_told_apart() {
    let dir = TempDir::new("ringnocrc");
    let ring = dir.join("ring");
    create_ring(&ring, 4096).unwrap();
    let mut p = Producer::attach(&ring).unwrap();
    let mut c = Consumer::attach(&ring).unwrap();
    p.push(1, b"checked").unwrap();
    let mut entry = Vec::new();
    c.read(1, |r| {
        entry = r.entry.to_vec();
        ControlFlow::Continue(())
    })
    .unwrap();
    p.set_checksums(false);
    p.push(2, b"push").unwrap();
    assert!(p.try_push(3, b"try_push").unwrap());
    p.write(4, b"write").unwrap();
    p.publish();
    let mut claim = p.claim(5).unwrap();
    claim.as_mut_slice().copy_from_slice(b"claim");
    claim.commit(5).unwrap();
    p.write_entry(&entry).unwrap();
    p.publish();
    p.set_checksums(true);
    p.push(7, b"checked again").unwrap();
    let mut got = Vec::new();
    c.read(usize::MAX, |r| {
        got.push((
            r.timestamp,
            r.payload.to_vec(),
            r.checksummed,
            r.checksum(),
            r.checksum_ok(),
        ));
        ControlFlow::Continue(())
    })
    .unwrap();
    let crc =
        |ts: i64, payload: &[u8]| journal::format::EntryHeader::for_payload(ts, payload).checksum();
    let want: Vec<(i64, Vec<u8>, bool, u32, bool)> = vec![
        (2, b"push".to_vec(), false, 0, false),
        (3, b"try_push".to_vec(), false, 0, false),
        (4, b"write".to_vec(), false, 0, false),
        (5, b"claim".to_vec(), false, 0, false),
        (1, b"checked".to_vec(), true, crc(1, b"checked"), true),
        (
            7,
            b"checked again".to_vec(),
            true,
            crc(7, b"checked again"),
            true,
        ),
    ];
    assert_eq!(got, want);
}

/// Payload length of record `i` in the lap test: 0 to 999 bytes.
fn lap_len(i: u64) -> usize {
    (mix(i ^ 0xABCD) % 1000) as usize
}

/// A complete, correctly checksummed record of the previous lap at the consumer's position (as a
/// producer that did not zero the next commit word would leave it) is a corrupt ring, reported at
/// that position, to the consumer and to an attaching producer: never a new record.
#[test]
fn a_stale_record_of_the_previous_lap_is_a_corrupt_ring() {
    let dir = TempDir::new("ringstale");
    let ring = dir.join("ring");
    create_ring(&ring, 4096).unwrap();
    {
        let mut p = Producer::attach(&ring).unwrap();
        p.push(7, b"lap zero").unwrap();
    }
    let mut c = Consumer::attach(&ring).unwrap();
    assert_eq!(
        c.read(10, |_| ControlFlow::Continue(())).unwrap().records,
        1
    );
    drop(c);
    // Both positions one lap later, at the old record's offset: its commit word (position 0,
    // data) is intact, but the record there now would have to carry position 4096.
    set_positions(&ring, Some(4096), Some(4096));
    let mut c = Consumer::attach(&ring).unwrap();
    let err = c
        .read(10, |r| panic!("stale record handed out: {r:?}"))
        .unwrap_err();
    assert!(
        matches!(err, Error::CorruptRing { position: 4096, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("earlier lap"), "{err}");
    drop(c);
    assert_corrupt_naming(Producer::attach(&ring), &["earlier lap"]);
    // A commit word that names the right position but an unknown kind is refused alike.
    poke(&ring, 4096, &(4096u64 | 5).to_le_bytes());
    let mut c = Consumer::attach(&ring).unwrap();
    assert_corrupt_naming(
        c.read(10, |_| ControlFlow::Continue(())),
        &["commit word 0x1005"],
    );
}

/// The producer stores `producer_position` lazily (RING.md 4): a few small records leave it
/// behind. A producer attaching after one that stopped without storing it (here: the header set
/// back, as after a crash) finds the committed records from their commit words and appends after
/// them, so nothing committed is lost or overwritten.
#[test]
fn a_new_producer_appends_after_records_committed_past_the_stored_position() {
    let dir = TempDir::new("ringlazy");
    let ring = dir.join("ring");
    create_ring(&ring, 64 * 1024).unwrap();
    let mut p = Producer::attach(&ring).unwrap();
    for i in 0..5u64 {
        p.push(timestamp(i), &[i as u8; 40]).unwrap();
    }
    assert_eq!(
        ring_info(&ring).unwrap().producer_position,
        0,
        "stored eagerly"
    );
    drop(p);
    assert_eq!(ring_info(&ring).unwrap().producer_position, 5 * 64);
    set_positions(&ring, Some(64), None);
    let mut p = Producer::attach(&ring).unwrap();
    assert_eq!(ring_info(&ring).unwrap().producer_position, 5 * 64);
    for i in 5..8u64 {
        p.push(timestamp(i), &[i as u8; 40]).unwrap();
    }
    p.end_of_stream(0).unwrap();
    let mut c = Consumer::attach(&ring).unwrap();
    let mut got = Vec::new();
    let s = c
        .read(100, |r| {
            got.push((r.timestamp, r.payload[0], r.position));
            ControlFlow::Continue(())
        })
        .unwrap();
    assert!(s.end_of_stream);
    let want: Vec<_> = (0..8u64).map(|i| (timestamp(i), i as u8, i * 64)).collect();
    assert_eq!(got, want);
}

/// The library's outcome for the ring file `bytes`, in the grammar of
/// spec/vectors/ring/expected.txt: one unlimited read of a consumer, then (on a fresh copy) where
/// an attaching producer starts.
fn library_ring_outcome(dir: &TempDir, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let consumer = match Consumer::attach(&path) {
        Err(Error::NotARing { field, .. }) => {
            return format!("not_a_ring field={}", field.replace(' ', "_"))
        }
        Err(Error::CorruptRing { position, .. }) => ("corrupt", 0, position),
        Err(e) => panic!("{name}: consumer attach: {e:?}"),
        Ok(mut c) => {
            let mut records = 0u64;
            match c.read(usize::MAX, |_| {
                records += 1;
                ControlFlow::Continue(())
            }) {
                Ok(s) => {
                    let at = ring_info(&path).unwrap().consumer_position;
                    let verdict = if s.end_of_stream {
                        "end_of_stream"
                    } else {
                        "empty"
                    };
                    (verdict, records, at)
                }
                Err(Error::CorruptRing { position, .. }) => ("corrupt", records, position),
                Err(e) => panic!("{name}: read: {e:?}"),
            }
        }
    };
    std::fs::write(&path, bytes).unwrap();
    let producer = match Producer::attach(&path) {
        Ok(p) => {
            assert_eq!(ring_info(&path).unwrap().producer_position, p.position());
            p.position().to_string()
        }
        Err(Error::CorruptRing { .. }) => "corrupt".to_string(),
        Err(e) => panic!("{name}: producer attach: {e:?}"),
    };
    let (verdict, records, at) = consumer;
    format!("ring consumer={verdict} records={records} at={at} producer={producer}")
}

/// The ring vectors (spec/vectors/ring, RING.md 2-9): every line of expected.txt is the outcome of
/// both the library and the independent decoder of spec_impl.rs, and every vector has a line.
#[test]
fn ring_vectors_give_their_expected_outcome_in_the_library_and_the_spec_decoder() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors/ring");
    let expected = std::fs::read_to_string(root.join("expected.txt")).unwrap();
    let dir = TempDir::new("ringvec");
    let mut named = std::collections::BTreeSet::new();
    for line in expected.lines().filter(|l| !l.starts_with('#')) {
        let (name, want) = line.split_once(' ').expect("a name and an outcome");
        let bytes = std::fs::read(root.join(name)).unwrap();
        assert_eq!(
            crate::spec_impl::ring::outcome(&bytes),
            want,
            "{name}: spec decoder"
        );
        assert_eq!(
            library_ring_outcome(&dir, name, &bytes),
            want,
            "{name}: library"
        );
        named.insert(name.to_string());
    }
    for f in std::fs::read_dir(&root).unwrap() {
        let f = f.unwrap().file_name().into_string().unwrap();
        if f.ends_with(".ring") {
            assert!(named.contains(&f), "{f} has no line in expected.txt");
        }
    }
    assert!(named.len() >= 18, "vectors missing");
}
