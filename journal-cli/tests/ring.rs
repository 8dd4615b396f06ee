//! `journal ring` and `journal replay` run as real processes: signals, a ring without a consumer,
//! argument checks, and how much of a ring `ring info` touches.

use std::io::{BufRead, BufReader, Read};
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use journal::{create_ring, ring_info, Consumer, Producer, Writer};
use tempfile::TempDir;

mod common;
use common::{run, s, spawn, Run};

/// Generous: the machine running the tests may be busy.
const DEADLINE: Duration = Duration::from_secs(60);

/// Record `i` as `ring consume --format raw` prints it: one line.
fn record(i: usize) -> Vec<u8> {
    let mut r = format!("record {i:06} ").into_bytes();
    r.resize(1000, b'x');
    r.push(b'\n');
    r
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

/// Waits for `cond` with a generous deadline.
#[track_caller]
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Reads the child's stdout to the end on a thread.
fn drain_stdout(child: &mut Child) -> std::thread::JoinHandle<Vec<u8>> {
    let mut out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut o = Vec::new();
        out.read_to_end(&mut o).unwrap();
        o
    })
}

/// Waits for the child's exit (killing it after the deadline) and collects its output.
fn finish(mut child: Child) -> Run {
    let reader = drain_stdout(&mut child);
    finish_with(child, reader)
}

fn finish_with(mut child: Child, reader: std::thread::JoinHandle<Vec<u8>>) -> Run {
    let mut err = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut e = Vec::new();
        err.read_to_end(&mut e).unwrap();
        e
    });
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() >= deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("`journal` did not exit within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run {
        code: status.code().expect("exited, not killed by a signal"),
        stdout: String::from_utf8_lossy(&reader.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned(),
    }
}

/// The record numbers in `ring consume --format raw` output, checking each line whole.
fn numbers(out: &str) -> Vec<usize> {
    out.lines()
        .map(|l| {
            let n: usize = l[7..13].parse().unwrap_or_else(|_| panic!("line {l:?}"));
            assert_eq!(format!("{l}\n").as_bytes(), record(n), "line {n} damaged");
            n
        })
        .collect()
}

/// A new ring holding a record written without a checksum (kind 4, RING.md 3.1; stamped 1), one
/// with (stamped 2, payload "with one"), and the end of the stream.
fn ring_with_and_without_checksum(ring: &Path) {
    create_ring(ring, 64 * 1024).unwrap();
    let mut p = Producer::attach(ring).unwrap();
    p.set_checksums(false);
    p.push(1, b"without a checksum").unwrap();
    p.set_checksums(true);
    p.push(2, b"with one").unwrap();
    p.end_of_stream(3).unwrap();
}

/// `ring consume` checks the CRC of the records that carry one, and takes the records written
/// without a checksum (kind 4, RING.md 3.1) as they are: their `checksum` field of 0 is no CRC.
#[test]
fn consume_checks_only_the_records_that_carry_a_checksum() {
    let dir = TempDir::new().unwrap();
    let ring = dir.path().join("nocrc.ring");
    ring_with_and_without_checksum(&ring);
    let r = run(&["ring", "consume", "--format", "raw", s(&ring)]);
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (0, "without a checksumwith one", "")
    );
}

/// Regression: `ring consume --format jsonl` printed `"crc32":0` for a record written without a
/// checksum (kind 4, RING.md 3.1), a value a real CRC may have. Such a record now shows
/// `"crc32":null` (and `crc32=none` in the hex format); a checksummed one its CRC.
#[test]
fn consume_shows_no_crc_for_records_written_without_one() {
    let dir = TempDir::new().unwrap();
    for (format, without, with) in [
        ("jsonl", "\"crc32\":null,", "\"crc32\":"),
        ("hex", "crc32=none\n", "crc32="),
    ] {
        let ring = dir.path().join(format!("{format}.ring"));
        ring_with_and_without_checksum(&ring);
        let r = run(&["ring", "consume", "--format", format, s(&ring)]);
        assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{format}");
        let crc = journal::format::checksum(2, b"with one");
        let heads: Vec<&str> = r.stdout.lines().filter(|l| l.contains("crc32")).collect();
        assert_eq!(heads.len(), 2, "{format}: {}", r.stdout);
        assert!(
            format!("{}\n", heads[0]).contains(without),
            "{format}: {}",
            heads[0]
        );
        let shown = match format {
            "jsonl" => format!("{with}{crc},"),
            _ => format!("{with}{crc:08x}"),
        };
        assert!(
            heads[1].contains(&shown),
            "{format}: {} lacks {shown}",
            heads[1]
        );
    }
}

/// Regression: `ring consume` released records once they sat in its stdout buffer, flushed only at
/// the end of the stream and had no signal handler: SIGINT or SIGTERM lost every record it had
/// taken (500 of 500). Now it flushes, then releases; a signal ends it with status 0.
#[test]
fn consume_loses_nothing_on_sigint_or_sigterm() {
    for sig in ["-INT", "-TERM"] {
        let dir = TempDir::new().unwrap();
        let ring = dir.path().join("md.ring");
        create_ring(&ring, 1 << 20).unwrap();
        let mut p = Producer::attach(&ring).unwrap();
        for i in 0..500 {
            p.push(i as i64, &record(i)).unwrap();
        }
        // No end of stream: the consumer waits for more, as a live feed's would.
        let mut child = spawn(&["ring", "consume", "--format", "raw", s(&ring)]);
        let out = drain_stdout(&mut child);
        let info = || ring_info(&ring).unwrap();
        wait_for("the consumer to take every record", || {
            let i = info();
            i.consumer_pid != 0 && i.consumer_position == p.position()
        });
        signal(&child, sig);
        let r = finish_with(child, out);
        assert_eq!(r.code, 0, "{sig}: {}", r.stderr);
        assert_eq!(r.stderr, "", "{sig}");
        assert_eq!(numbers(&r.stdout), (0..500).collect::<Vec<_>>(), "{sig}");
        assert!(!info().consumer_alive);
    }
}

/// `ring consume --wait block` sleeps on an empty ring, wakes for each record pushed after it
/// started (spec/RING.md 5.1) and ends on SIGINT.
#[test]
fn consume_with_a_blocking_wait_gets_records_pushed_while_it_sleeps() {
    let dir = TempDir::new().unwrap();
    let ring = dir.path().join("md.ring");
    create_ring(&ring, 1 << 20).unwrap();
    let mut p = Producer::attach(&ring).unwrap();
    let mut child = spawn(&[
        "ring",
        "consume",
        "--wait",
        "block",
        "--format",
        "raw",
        s(&ring),
    ]);
    let out = drain_stdout(&mut child);
    let info = || ring_info(&ring).unwrap();
    wait_for("the consumer to attach", || info().consumer_pid != 0);
    for i in 0..100 {
        p.push(i as i64, &record(i)).unwrap();
        wait_for("the consumer to take the record", || {
            info().consumer_position == p.position()
        });
    }
    signal(&child, "-INT");
    let r = finish_with(child, out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(numbers(&r.stdout), (0..100).collect::<Vec<_>>());
    assert!(p.wakes() > 0, "the consumer never slept");
}

/// A signal while `ring consume` is stuck writing to a full pipe: whatever it did not write out
/// stays in the ring, so its output plus what a next consumer reads is every record, once, in
/// order.
#[test]
fn consume_releases_only_what_it_wrote_out() {
    let dir = TempDir::new().unwrap();
    let ring = dir.path().join("md.ring");
    create_ring(&ring, 4 << 20).unwrap();
    let mut p = Producer::attach(&ring).unwrap();
    // ~3 MB, several of the consumer's batches, each more than a pipe and its buffer hold.
    let n = 3000;
    for i in 0..n {
        p.push(i as i64, &record(i)).unwrap();
    }
    p.end_of_stream(0).unwrap();
    // Read one line, so it is writing, then nothing until after the signal: it blocks writing.
    let mut child = spawn(&["ring", "consume", "--format", "raw", s(&ring)]);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    signal(&child, "-TERM");
    let reader = std::thread::spawn(move || {
        let mut o = first.into_bytes();
        out.read_to_end(&mut o).unwrap();
        o
    });
    let r = finish_with(child, reader);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut got = numbers(&r.stdout);
    assert!(
        got.len() < n,
        "the signal came after everything was printed"
    );
    let mut c = Consumer::attach(&ring).unwrap();
    loop {
        let st = c
            .read(usize::MAX, |rec| {
                let line = rec.payload;
                let k: usize = std::str::from_utf8(&line[7..13]).unwrap().parse().unwrap();
                assert_eq!(line, record(k));
                got.push(k);
                ControlFlow::Continue(())
            })
            .unwrap();
        if st.end_of_stream {
            break;
        }
        assert!(st.records > 0, "the stream ends with its end record");
    }
    assert_eq!(got, (0..n).collect::<Vec<_>>());
}

fn journal_of(path: &Path, stamps: &[i64], len: usize) {
    let mut w = Writer::create(path).unwrap();
    for &t in stamps {
        w.append(t, &vec![b'e'; len]).unwrap();
    }
    w.close().unwrap();
}

/// Regression: `replay` into a ring nobody consumes hung silently once the ring was full. It says
/// that no consumer is attached, and `--timeout` gives up with status 2.
#[test]
fn replay_without_a_consumer_says_so_and_times_out() {
    let dir = TempDir::new().unwrap();
    let (j, ring) = (dir.path().join("q.journal"), dir.path().join("q.ring"));
    journal_of(&j, &(0..100).collect::<Vec<_>>(), 500);
    let r = finish(spawn(&[
        "replay",
        s(&j),
        "--ring",
        s(&ring),
        "--capacity",
        "4K",
        "--timeout",
        "300ms",
    ]));
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(r.stdout, "");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{r:?}");
    assert!(
        lines[0].contains("no consumer is attached") && lines[0].contains(s(&ring)),
        "{r:?}"
    );
    assert!(lines[1].starts_with("journal: error: "), "{r:?}");
    assert!(lines[1].contains("stayed full"), "{r:?}");
    assert!(lines[1].contains("no consumer is attached"), "{r:?}");
}

/// Regression: `--capacity` was silently ignored for an existing ring; a different one is now an
/// error naming both, and the same one (or none) is fine.
#[test]
fn replay_capacity_must_match_an_existing_ring() {
    let dir = TempDir::new().unwrap();
    let (j, ring) = (dir.path().join("q.journal"), dir.path().join("q.ring"));
    journal_of(&j, &[1, 2, 3], 10);
    create_ring(&ring, 64 << 10).unwrap();
    let r = run(&["replay", s(&j), "--ring", s(&ring), "--capacity", "1M"]);
    common::assert_error(
        &r,
        2,
        "exists with capacity 65536 bytes; --capacity 1048576",
    );
    assert_eq!(
        ring_info(&ring).unwrap().producer_position,
        0,
        "replayed anyway"
    );
    for extra in [&["--capacity", "64K"][..], &[]] {
        let mut args = vec!["replay", s(&j), "--ring", s(&ring)];
        args.extend_from_slice(extra);
        let r = run(&args);
        assert_eq!(r.code, 0, "{r:?}");
    }
}

/// Regression: `--speed 1e-300` (and other speeds that mean "never" or "instantly") were accepted.
#[test]
fn replay_refuses_speeds_outside_the_sane_range() {
    let dir = TempDir::new().unwrap();
    let (j, ring) = (dir.path().join("q.journal"), dir.path().join("q.ring"));
    journal_of(&j, &[0, 1_000_000], 10);
    for speed in ["1e-300", "0", "-1", "nan", "inf", "1e300", "0.0001"] {
        let arg = format!("--speed={speed}");
        let r = finish(spawn(&["replay", s(&j), "--ring", s(&ring), &arg]));
        assert_eq!(r.code, 2, "{speed}: {r:?}");
        assert!(r.stderr.contains("from 0.001 to 1000000"), "{speed}: {r:?}");
        assert!(!ring.exists(), "{speed}: the ring was created");
    }
    let r = run(&[
        "replay",
        s(&j),
        "--ring",
        s(&ring),
        "--speed",
        "0.001",
        "--max-gap",
        "1ms",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
}

/// Regression: with `--speed 1`, one outlying timestamp made replay wait ~56 years without a
/// word. It warns before a long wait, and `--max-gap` shortens the gap (saying so).
#[test]
fn replay_warns_about_a_long_gap_and_max_gap_shortens_it() {
    let dir = TempDir::new().unwrap();
    let (j, ring) = (dir.path().join("q.journal"), dir.path().join("q.ring"));
    let year = 365 * 86_400 * 1_000_000_000i64;
    journal_of(&j, &[0, 1_000_000, 56 * year, 56 * year + 1_000_000], 10);
    // Without --max-gap: the warning comes before the wait (then the test stops it).
    let mut child = spawn(&["replay", s(&j), "--ring", s(&ring), "--speed", "1"]);
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let warning = loop {
        let line = rx
            .recv_timeout(DEADLINE)
            .expect("a warning before the long wait");
        if line.contains("warning") {
            break line;
        }
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        warning.contains("event 2")
            && warning.contains("56.0 years")
            && warning.contains("--max-gap"),
        "{warning}"
    );
    std::fs::remove_file(&ring).unwrap();
    // With it: done at once, and it says what it did.
    let r = finish(spawn(&[
        "replay",
        s(&j),
        "--ring",
        s(&ring),
        "--speed",
        "1",
        "--max-gap",
        "10ms",
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.starts_with("replayed 4 events"), "{r:?}");
    assert!(r.stderr.contains("shortened to --max-gap"), "{r:?}");
    assert!(
        r.stderr
            .contains("1 gaps longer than --max-gap were shortened"),
        "{r:?}"
    );
    // --max-gap without pacing is a usage error.
    let r = run(&["replay", s(&j), "--ring", s(&ring), "--max-gap", "1s"]);
    common::assert_error(&r, 2, "--max-gap applies to a paced replay");
}

/// Regression: the producer trusted the ring header: with the consumer position ahead of the
/// producer's, `replay` wrote many times the capacity over unread data and reported success.
#[test]
fn replay_into_a_ring_with_impossible_positions_is_refused() {
    let dir = TempDir::new().unwrap();
    let (j, ring) = (dir.path().join("q.journal"), dir.path().join("q.ring"));
    journal_of(&j, &(0..200).collect::<Vec<_>>(), 100);
    create_ring(&ring, 4096).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&ring).unwrap();
    f.write_all_at(&4096u64.to_le_bytes(), 128).unwrap(); // producer_position
    f.write_all_at(&(1u64 << 40).to_le_bytes(), 256).unwrap(); // consumer_position
    let before = std::fs::read(&ring).unwrap();
    let r = run(&["replay", s(&j), "--ring", s(&ring)]);
    common::assert_error(&r, 2, "consumer_position 1099511627776");
    assert!(r.stderr.contains("producer_position 4096"), "{r:?}");
    // Positions and data as they were (the attach itself only wrote the owner line).
    let after = std::fs::read(&ring).unwrap();
    assert!(
        before[..384] == after[..384],
        "the header's positions were written"
    );
    assert!(before[4096..] == after[4096..], "the data area was written");
}

/// The peak resident set of this process, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/self/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Regression: `ring info` opened the ring read-write and mapped and pre-faulted its whole data
/// area (a 256 MiB ring made it 265 MB resident). It reads the header alone, read-only: the peak
/// resident set does not grow by the data area, and the file is left as it was.
#[test]
fn ring_info_reads_only_the_header() {
    let dir = TempDir::new().unwrap();
    let ring = dir.path().join("big.ring");
    create_ring(&ring, 128 << 20).unwrap();
    let before = peak_rss_kib();
    let info = ring_info(&ring).unwrap();
    let grown = peak_rss_kib() - before;
    assert_eq!(info.capacity, 128 << 20);
    assert!(
        grown < 16 << 10,
        "ring_info grew the peak RSS by {grown} KiB"
    );
    // The CLI's view of it.
    let r = run(&["ring", "info", "--json", s(&ring)]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = common::json(&r.stdout);
    assert_eq!(v["capacity"], 128 << 20);
    assert_eq!(v["producer_alive"], false);
}

/// Regression: `replay --follow` waiting on a full ring that nobody consumes did not look at its
/// stop flag, so SIGINT and SIGTERM left it hanging. It now exits promptly with status 0 and its
/// usual summary; and `--timeout` still gives up after the whole wait, saying how long it was.
#[test]
fn replay_follow_on_a_full_ring_stops_on_sigint_and_sigterm() {
    for sig in ["-INT", "-TERM"] {
        let dir = TempDir::new().unwrap();
        let (j, ring) = (dir.path().join("q.journal"), dir.path().join("q.ring"));
        journal_of(&j, &(0..100).collect::<Vec<_>>(), 500);
        let child = spawn(&[
            "replay",
            s(&j),
            "--ring",
            s(&ring),
            "--capacity",
            "4K",
            "--follow",
        ]);
        // Full: no room left for another record of about 530 bytes.
        wait_for("the ring to fill up", || {
            ring_info(&ring).is_ok_and(|i| {
                i.producer_pid != 0 && i.producer_position - i.consumer_position > i.capacity - 1100
            })
        });
        signal(&child, sig);
        let r = finish(child);
        assert_eq!(r.code, 0, "{sig}: {r:?}");
        assert!(r.stdout.starts_with("replayed "), "{sig}: {r:?}");
        assert!(
            r.stderr.contains("no consumer is attached") && !r.stderr.contains("error"),
            "{sig}: {r:?}"
        );
    }
    let dir = TempDir::new().unwrap();
    let (j, ring) = (dir.path().join("q.journal"), dir.path().join("q.ring"));
    journal_of(&j, &(0..100).collect::<Vec<_>>(), 500);
    let r = finish(spawn(&[
        "replay",
        s(&j),
        "--ring",
        s(&ring),
        "--capacity",
        "4K",
        "--follow",
        "--timeout",
        "300ms",
    ]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("stayed full for 300ms: no consumer is attached"),
        "{r:?}"
    );
}

/// `replay --follow`, caught up with a live writer, sleeps on the journal's wake-up file
/// (FORMAT.md 15) instead of polling in steps, and each append wakes it: the event reaches the
/// ring, and a signal still stops it while it sleeps.
#[test]
fn replay_follow_sleeps_on_the_wake_up_file_until_the_writer_appends() {
    let dir = TempDir::new().unwrap();
    let (j, ring) = (dir.path().join("q.journal"), dir.path().join("q.ring"));
    let mut w = Writer::create(&j).unwrap();
    let wake = journal::wake::wake_path(&j);
    let header = || {
        let mut b = [0u8; 32];
        std::fs::File::open(&wake)
            .unwrap()
            .read_exact_at(&mut b, 0)
            .unwrap();
        journal::wake::decode_wake(&b).unwrap()
    };
    create_ring(&ring, 1 << 20).unwrap();
    let child = spawn(&["replay", s(&j), "--ring", s(&ring), "--follow"]);
    let mut c = Consumer::attach(&ring).unwrap();
    for i in 0..10i64 {
        wait_for("the replay to sleep", || header().sleeping != 0);
        let before = header().wakes;
        w.append(i, b"live").unwrap();
        assert_eq!(header().wakes, before + 1, "nobody was asleep");
        let mut got = Vec::new();
        wait_for("the replayed event", || {
            c.read(1, |r| {
                got.push((r.timestamp, r.payload.to_vec()));
                ControlFlow::Continue(())
            })
            .unwrap()
            .records
                > 0
        });
        assert_eq!(got, [(i, b"live".to_vec())]);
    }
    signal(&child, "-INT");
    let r = finish(child);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.starts_with("replayed 10 "), "{r:?}");
}
