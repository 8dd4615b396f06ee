//! The shared-memory ring and replay: two real processes, wrap-around, backpressure, a dying
//! producer, bad attaches, byte-exact replay and its pacing, and the zero-allocation rule.

use std::ops::ControlFlow;
use std::path::Path;
use std::time::{Duration, Instant};

use journal::{
    create_ring, replay, ring_info, Consumer, Error, Pacing, Producer, Reader, ReplayOptions,
    WaitStrategy, Writer,
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
            let n: u64 = std::io::stdin()
                .lines()
                .next()
                .unwrap()
                .unwrap()
                .parse()
                .unwrap();
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
        other => panic!("unknown child role {other}"),
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
    // Records above half the capacity can never fit.
    assert_eq!(p.max_record_len(), 2048);
    let e = p.push(1, &[0u8; 2048]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::RecordTooLarge {
                len: 2064,
                max: 2048
            }
        ),
        "{e:?}"
    );
    assert!(p.try_push(1, &[0u8; 2032]).unwrap());
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
    f.write_all_at(&0u64.to_le_bytes(), 128).unwrap(); // producer position
    f.write_all_at(&8u64.to_le_bytes(), 256).unwrap(); // consumer position
    let mut c = Consumer::attach(&ring).unwrap();
    let err = c.read(10, |_| panic!("no record")).unwrap_err();
    assert!(
        matches!(err, Error::CorruptRing { position: 8, .. }),
        "{err:?}"
    );
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
    p.push(1, b"good").unwrap(); // 24 bytes at 0
    p.push(2, b"good").unwrap(); // 24 bytes at 24
    p.push(3, b"soon bad").unwrap(); // at 48
    drop(p);
    let f = std::fs::OpenOptions::new().write(true).open(&ring).unwrap();
    // An unknown control kind in the third record's size field.
    f.write_all_at(
        &(0x8000_0000u32 | (0x33 << 24)).to_le_bytes(),
        4096 + 48 + 8,
    )
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
        matches!(err, Error::CorruptRing { position: 48, .. }),
        "{err:?}"
    );
    let err = c
        .read(10, |_| panic!("records handed out twice"))
        .unwrap_err();
    assert!(
        matches!(err, Error::CorruptRing { position: 48, .. }),
        "{err:?}"
    );
}
