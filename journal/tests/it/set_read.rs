//! Journal set readers (SET.md 6, 8): iteration, seeks by global index and by time against a
//! linear scan, tailers across rolls (in this process and in other processes), a writer that died
//! mid-roll, retention under a reader, and a set of 10,000 segments.
//!
//! The sets are written here with the plain [`Writer`] and the layout's naming
//! ([`TestSetWriter`]), independently of the set writer: a check of the layout as much as of the
//! readers.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use journal::set::layout::{self, NEXT_FILE};
use journal::set::{RollPolicy, SetMeta, SetReader};
use journal::{Error, WaitStrategy, Writer, WriterOptions};

use crate::process::{lines, say};
use crate::support::{mix, payload_for, KillOnDrop, Rng, TempDir, PATIENCE};

/// A set's events as a linear scan over every segment sees them: (global index, timestamp,
/// payload).
type Linear = Vec<(u64, i64, Vec<u8>)>;

/// Writes a closed set in `dir`: segment `k` holds `segments[k]`, the first one starting at global
/// index `base`. With `index`, each segment keeps a small-interval index (so seeks go through it).
fn write_set(dir: &Path, base: u64, segments: &[Vec<(i64, Vec<u8>)>], index: bool) -> Linear {
    SetMeta::default().write(dir).unwrap();
    let mut opts = WriterOptions::new();
    opts.chunk_size(4096);
    if index {
        opts.index_intervals(journal::index::Intervals {
            bytes: 256,
            events: 4,
        });
    } else {
        opts.index(false);
    }
    let mut first = base;
    let mut linear = Vec::new();
    for events in segments {
        let mut w = opts.create(dir.join(layout::segment_name(first))).unwrap();
        for (ts, p) in events {
            w.append(*ts, p).unwrap();
            linear.push((base + linear.len() as u64, *ts, p.clone()));
        }
        w.close().unwrap();
        first += events.len() as u64;
    }
    linear
}

/// Everything a set iterator yields, as owned values.
fn collect(it: &mut journal::set::SetIter<'_>) -> Linear {
    let mut out = Vec::new();
    while let Some(e) = it.next_event() {
        let e = e.unwrap();
        out.push((e.index, e.timestamp, e.payload.to_vec()));
    }
    out
}

/// Random segments: sizes from 1 to `max_len` events (the last one possibly empty, as a writer
/// that died right after a roll leaves it), timestamps that mostly rise but often go backwards,
/// within and across segments, with repeats.
fn random_segments(rng: &mut Rng, count: u64, max_len: u64) -> Vec<Vec<(i64, Vec<u8>)>> {
    let mut ts: i64 = 1_000_000;
    let mut out = Vec::new();
    for k in 0..count {
        let last = k + 1 == count;
        let len = if last && rng.below(4) == 0 {
            0
        } else {
            1 + rng.below(max_len)
        };
        let mut seg = Vec::new();
        for _ in 0..len {
            match rng.below(10) {
                0 => ts -= rng.below(2_000) as i64,
                1 => {}
                _ => ts += rng.below(100) as i64,
            }
            let p = payload_for(rng.next(), 40);
            seg.push((ts, p));
        }
        out.push(seg);
    }
    out
}

/// Where a linear scan puts a seek for the first event at or after `t` (FORMAT.md 6.4).
fn linear_time(linear: &Linear, t: i64) -> usize {
    linear
        .iter()
        .position(|(_, ts, _)| *ts >= t)
        .unwrap_or(linear.len())
}

#[test]
fn random_sets_seek_by_index_and_time_as_a_linear_scan_does() {
    let mut rng = Rng(0x5E7_5EED ^ u64::from(std::process::id()));
    let (mut by_index, mut by_time) = (0, 0);
    for round in 0..20u64 {
        let dir = TempDir::new("set-random");
        let base = if round % 3 == 0 { rng.below(1_000) } else { 0 };
        let count = 1 + rng.below(25);
        let segments = random_segments(&mut rng, count, 120);
        let linear = write_set(dir.path(), base, &segments, round % 4 != 1);
        // Some segments lose their index: the seek walks instead, with the same answer.
        if round % 5 == 2 {
            for seg in layout::list_segments(dir.path()).unwrap() {
                if rng.below(2) == 0 {
                    let _ = std::fs::remove_file(journal::index::index_path(&seg.path));
                }
            }
        }
        let set = SetReader::open(dir.path()).unwrap();
        assert_eq!(set.first_index(), base);
        assert_eq!(collect(&mut set.iter()), linear, "round {round}: iteration");
        let report = set.verify().unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.events(), linear.len() as u64);
        let n = linear.len() as u64;
        let (lo, hi) = linear.iter().fold((i64::MAX, i64::MIN), |(lo, hi), e| {
            (lo.min(e.1), hi.max(e.1))
        });
        for _ in 0..50 {
            // By index: anywhere from the first available to past the end.
            let g = base + rng.below(n + 3);
            let mut it = set.iter_from_index(g).unwrap();
            let want = &linear[(g - base).min(n) as usize..];
            assert_eq!(it.index(), g.min(base + n));
            let got = take(&mut it, 4);
            assert_eq!(got, want[..want.len().min(4)], "round {round}: index {g}");
            by_index += 1;
            // By time: anywhere from below the smallest to above the largest timestamp.
            let t = if n == 0 {
                rng.next() as i64
            } else {
                lo - 5 + rng.below((hi - lo + 10) as u64) as i64
            };
            let mut it = set.iter_from_time(t).unwrap();
            let at = linear_time(&linear, t);
            assert_eq!(it.index(), base + at as u64, "round {round}: time {t}");
            let got = take(&mut it, 4);
            let want = &linear[at..];
            assert_eq!(got, want[..want.len().min(4)], "round {round}: time {t}");
            by_time += 1;
        }
        // A seek then the whole rest of the set.
        let t = linear.get(rng.below(n) as usize).map_or(0, |e| e.1);
        let at = linear_time(&linear, t);
        assert_eq!(collect(&mut set.iter_from_time(t).unwrap()), linear[at..]);
        if base > 0 {
            match set.iter_from_index(base - 1) {
                Err(Error::Pruned {
                    index,
                    first_available,
                    ..
                }) => assert_eq!((index, first_available), (base - 1, base)),
                other => panic!("a seek below the first index: {other:?}"),
            }
        }
    }
    assert_eq!((by_index, by_time), (1_000, 1_000));
}

/// The first `n` events an iterator yields.
fn take(it: &mut journal::set::SetIter<'_>, n: usize) -> Linear {
    let mut out = Vec::new();
    while out.len() < n {
        match it.next_event() {
            Some(e) => {
                let e = e.unwrap();
                out.push((e.index, e.timestamp, e.payload.to_vec()));
            }
            None => break,
        }
    }
    out
}

/// A set writer for tests, from the plain [`Writer`] and the layout (SET.md 5): it rolls when an
/// append would take the segment past `max_bytes`, preparing the next segment as
/// `.next.journal` and renaming it to its name. Segments keep no index (a renamed writer would
/// write it under its old name).
struct TestSetWriter {
    dir: PathBuf,
    w: Writer,
    first: u64,
    max_bytes: u64,
    rolls: u64,
}

impl TestSetWriter {
    fn opts() -> WriterOptions {
        let mut o = WriterOptions::new();
        o.chunk_size(256 << 10).index(false);
        o
    }

    /// Continues a set as a restarted writer does (SET.md 7): a stale `.next.journal` is
    /// deleted, the newest segment reopened (recovered), an empty newest segment reused.
    fn reopen(dir: &Path, max_bytes: u64) -> TestSetWriter {
        let _ = std::fs::remove_file(dir.join(NEXT_FILE));
        let newest = layout::list_segments(dir).unwrap().pop().unwrap();
        let w = Self::opts().open(&newest.path).unwrap();
        TestSetWriter {
            dir: dir.to_path_buf(),
            w,
            first: newest.first_index,
            max_bytes,
            rolls: 0,
        }
    }

    fn create(dir: &Path, max_bytes: u64) -> TestSetWriter {
        std::fs::create_dir_all(dir).unwrap();
        if !layout::is_set(dir) {
            SetMeta {
                roll: RollPolicy::by_size(max_bytes),
                ..SetMeta::default()
            }
            .write(dir)
            .unwrap();
        }
        let w = Self::opts()
            .create(dir.join(layout::segment_name(0)))
            .unwrap();
        TestSetWriter {
            dir: dir.to_path_buf(),
            w,
            first: 0,
            max_bytes,
            rolls: 0,
        }
    }

    /// The global index of the next event.
    fn next_index(&self) -> u64 {
        self.first + self.w.events()
    }

    fn append(&mut self, ts: i64, payload: &[u8]) {
        let len = journal::entry_len(payload.len() as u32);
        if self.w.events() > 0 && self.w.write_offset() + len > self.max_bytes {
            self.roll();
        }
        self.w.append(ts, payload).unwrap();
    }

    /// Prepares the next segment (written to `.next.journal`), or leaves it there with `commit`
    /// false (a writer that dies before the rename).
    fn prepare(&self) -> Writer {
        let next = self.dir.join(NEXT_FILE);
        let _ = std::fs::remove_file(&next);
        Self::opts().create(&next).unwrap()
    }

    /// The roll (SET.md 5): the next segment renamed into place, then the switch.
    fn roll(&mut self) {
        let next = self.prepare();
        let first = self.next_index();
        std::fs::rename(
            self.dir.join(NEXT_FILE),
            self.dir.join(layout::segment_name(first)),
        )
        .unwrap();
        let old = std::mem::replace(&mut self.w, next);
        old.close().unwrap();
        self.first = first;
        self.rolls += 1;
    }
}

fn ts_for(i: u64) -> i64 {
    // Rising, with a step back every so often (FORMAT.md 6.4 allows it).
    let back = if mix(i).is_multiple_of(7) { 5_000 } else { 0 };
    1_000_000_000 + i as i64 * 1_000 - back
}

#[test]
fn a_tailer_crosses_a_roll_in_one_poll() {
    let dir = TempDir::new("set-roll");
    let mut w = TestSetWriter::create(dir.path(), 4096);
    let set = SetReader::open(dir.path()).unwrap();
    let mut t = set.tail();
    let mut expect = 0u64;
    for round in 0..30u64 {
        // Fill the segment, read all of it, then roll and append one event: the very next poll
        // returns it (no wait at the boundary).
        while w.w.events() < 10 + round {
            let i = w.next_index();
            w.w.append(ts_for(i), &payload_for(i, 50)).unwrap();
        }
        while let Some(e) = t.poll().unwrap() {
            assert_eq!(e.index, expect);
            expect += 1;
        }
        assert_eq!(expect, w.next_index());
        assert!(t.poll().unwrap().is_none());
        w.roll();
        if round % 2 == 0 {
            assert!(t.poll().unwrap().is_none(), "the new segment is empty");
        }
        let i = w.next_index();
        w.append(ts_for(i), &payload_for(i, 50));
        let e = t
            .poll()
            .unwrap()
            .expect("the event after the roll, at the first poll");
        assert_eq!((e.index, e.timestamp), (i, ts_for(i)));
        assert_eq!(e.payload, &payload_for(i, 50)[..]);
        expect += 1;
    }
    assert_eq!(
        t.segment().unwrap(),
        dir.join(&layout::segment_name(w.first))
    );
}

#[test]
fn a_writer_that_died_mid_roll_stops_no_tailer() {
    let dir = TempDir::new("set-midroll");
    let mut w = TestSetWriter::create(dir.path(), 1 << 20);
    for i in 0..5 {
        w.append(ts_for(i), b"x");
    }
    let set = SetReader::open(dir.path()).unwrap();
    let mut t = set.tail();
    for i in 0..5 {
        assert_eq!(t.poll().unwrap().unwrap().index, i);
    }
    // Dies after preparing the next segment, before the rename: a stale .next.journal.
    let stale = w.prepare();
    drop(stale);
    let TestSetWriter { w: old, .. } = w;
    old.abandon();
    for _ in 0..100 {
        assert!(t.poll().unwrap().is_none());
    }
    // The next writer reopens the newest segment (and would delete the stale file): the tailer
    // goes on in the same segment.
    let mut w = TestSetWriter {
        dir: dir.path().to_path_buf(),
        w: TestSetWriter::opts()
            .open(dir.join(&layout::segment_name(0)))
            .unwrap(),
        first: 0,
        max_bytes: 1 << 20,
        rolls: 0,
    };
    w.append(ts_for(5), b"y");
    assert_eq!(t.poll().unwrap().unwrap().index, 5);
    // Dies right after the rename: an empty newest segment, which the tailer enters and waits in.
    w.roll();
    let TestSetWriter { w: newest, .. } = w;
    newest.abandon();
    for _ in 0..100 {
        assert!(t.poll().unwrap().is_none());
    }
    assert_eq!(t.segment().unwrap(), dir.join(&layout::segment_name(6)));
    // The next writer reuses the empty newest segment.
    let mut w = TestSetWriter::opts()
        .open(dir.join(&layout::segment_name(6)))
        .unwrap();
    w.append(ts_for(6), b"z").unwrap();
    let e = t.poll().unwrap().unwrap();
    assert_eq!((e.index, e.payload), (6, &b"z"[..]));
    w.close().unwrap();
}

#[test]
fn a_reader_finishes_a_segment_removed_under_it_and_reports_one_it_needs() {
    let dir = TempDir::new("set-prune");
    let segments: Vec<Vec<(i64, Vec<u8>)>> = (0..4)
        .map(|k| (0..10).map(|i| (k * 100 + i, vec![k as u8; 20])).collect())
        .collect();
    let linear = write_set(dir.path(), 0, &segments, true);
    let remove = |first: u64| {
        let p = dir.join(&layout::segment_name(first));
        std::fs::remove_file(journal::index::index_path(&p)).unwrap();
        std::fs::remove_file(p).unwrap();
    };

    // Removed under the iterator: it finishes segment 0 from its mapping and goes on.
    let set = SetReader::open(dir.path()).unwrap();
    let mut it = set.iter_from_index(3).unwrap();
    remove(0);
    assert_eq!(collect(&mut it), linear[3..]);
    assert_eq!(set.iter_from_index(10).unwrap().index(), 10);

    // The segment after the one being read was removed too: a clear error once the reader needs
    // it, naming it and the first available index.
    let set = SetReader::open(dir.path()).unwrap();
    let mut it = set.iter_from_index(12).unwrap();
    remove(10);
    remove(20);
    let got = take(&mut it, 8);
    assert_eq!(got, linear[12..20]);
    match it.next_event() {
        Some(Err(Error::Pruned {
            segment,
            index,
            first_available,
            ..
        })) => {
            assert_eq!(segment, layout::segment_name(20));
            assert_eq!((index, first_available), (20, 30));
        }
        other => panic!("{other:?}"),
    }
    assert!(it.next_event().is_none(), "the error ends the iterator");
    let err = set.iter_from_index(25).unwrap_err();
    assert!(
        err.to_string().contains("first available event is 30"),
        "{err}"
    );
}

#[test]
fn a_tailer_whose_next_segments_were_written_and_removed_reports_it() {
    // The reader knows only segment 0; the writer rolls twice and retention removes 0 and the
    // next one: the one stat finds nothing, the reader notices its segment is gone.
    let dir = TempDir::new("set-prune-tail");
    let mut w = TestSetWriter::create(dir.path(), 1 << 20);
    for i in 0..5 {
        w.append(ts_for(i), b"a");
    }
    let set = SetReader::open(dir.path()).unwrap();
    let mut t = set.tail();
    assert_eq!(t.poll().unwrap().unwrap().index, 0);
    w.roll();
    w.append(ts_for(5), b"b");
    w.roll();
    w.append(ts_for(6), b"c");
    for first in [0, 5] {
        std::fs::remove_file(dir.join(&layout::segment_name(first))).unwrap();
    }
    for i in 1..5 {
        assert_eq!(t.poll().unwrap().unwrap().index, i);
    }
    let deadline = Instant::now() + PATIENCE;
    let err = loop {
        match t.poll() {
            Ok(None) => assert!(Instant::now() < deadline, "the tailer never noticed"),
            Ok(Some(e)) => panic!("event {} from a removed segment", e.index),
            Err(e) => break e,
        }
    };
    match err {
        Error::Pruned {
            index,
            first_available,
            ..
        } => assert_eq!((index, first_available), (5, 6)),
        other => panic!("{other}"),
    }
}

#[test]
fn segments_that_do_not_chain_are_reported() {
    let dir = TempDir::new("set-gap");
    write_set(dir.path(), 0, &[vec![(1, vec![1]), (2, vec![2])]], true);
    let mut w = Writer::create(dir.join(&layout::segment_name(5))).unwrap();
    w.append(3, b"c").unwrap();
    w.close().unwrap();
    let set = SetReader::open(dir.path()).unwrap();
    let report = set.verify().unwrap();
    assert!(!report.is_intact());
    assert_eq!(report.breaks.len(), 1);
    assert_eq!((report.breaks[0].expected, report.breaks[0].found), (2, 5));
    let mut it = set.iter();
    assert_eq!(take(&mut it, 2).len(), 2);
    let err = it.next_event().unwrap().unwrap_err();
    assert!(matches!(err, Error::BadSet { .. }), "{err}");
    assert!(err.to_string().contains("should be"), "{err}");
}

#[test]
fn an_owned_tailer_follows_from_another_thread() {
    let dir = TempDir::new("set-owned");
    let mut w = TestSetWriter::create(dir.path(), 8192);
    let set = Arc::new(SetReader::open(dir.path()).unwrap());
    let mut t = Arc::clone(&set).into_tailer_from_end().unwrap();
    let total = 5_000u64;
    let reader = std::thread::spawn(move || {
        let deadline = Instant::now() + PATIENCE;
        let mut next = 0;
        while next < total {
            let e = t
                .wait(WaitStrategy::default(), Some(deadline))
                .unwrap()
                .expect("timed out");
            assert_eq!((e.index, e.timestamp), (next, ts_for(next)));
            next += 1;
        }
    });
    for i in 0..total {
        w.append(ts_for(i), &payload_for(i, 100));
    }
    reader.join().unwrap();
    assert!(w.rolls > 20, "{} rolls", w.rolls);
}

/// How many mappings this process has (lines of /proc/self/maps).
fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

/// Checks the mappings of the set's segment files in this process: one (the segment the one
/// open cursor reads), no longer than its file rounded up to a page (a sealed segment is mapped at
/// its size, with no headroom).
fn check_segment_mappings(dir: &Path) {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let dir = dir.to_str().unwrap();
    let mut count = 0;
    for line in maps.lines().filter(|l| l.contains(dir)) {
        count += 1;
        let range = line.split(' ').next().unwrap();
        let (start, end) = range.split_once('-').unwrap();
        let len = u64::from_str_radix(end, 16).unwrap() - u64::from_str_radix(start, 16).unwrap();
        let path = &line[line.find(dir).unwrap()..];
        let file_len = std::fs::metadata(path).unwrap().len();
        assert!(
            len <= file_len.div_ceil(4096) * 4096,
            "{path} ({file_len} bytes) mapped over {len} bytes"
        );
    }
    // Every check runs with one cursor open: exactly its segment is mapped.
    assert_eq!(count, 1, "segments mapped at once");
}

/// The entry point of the set tests' child processes (run by the tests, not by hand).
#[test]
#[ignore = "child process entry point for the set reader tests; run by them, not by hand"]
fn set_child_entry() {
    let role = std::env::var("JOURNAL_IT_SET_ROLE").expect("JOURNAL_IT_SET_ROLE");
    let dir = PathBuf::from(std::env::var("JOURNAL_IT_PATH").expect("JOURNAL_IT_PATH"));
    let total: u64 = std::env::var("JOURNAL_IT_TOTAL")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut out = std::io::stdout().lock();
    match role.as_str() {
        // Append `total` events at full speed, rolling every MiB.
        "writer" => {
            let mut w = TestSetWriter::create(&dir, 1 << 20);
            for i in 0..total {
                w.append(ts_for(i), &payload_for(i, MAX_PAYLOAD_LEN));
            }
            let rolls = w.rolls;
            w.w.close().unwrap();
            say(&mut out, format!("RES rolls {rolls}"));
        }
        // Continue the set at full speed, rolling every 16 KiB, until killed; report each roll.
        "kill-writer" => {
            let mut w = TestSetWriter::reopen(&dir, 16 << 10);
            loop {
                let i = w.next_index();
                let rolls = w.rolls;
                w.append(ts_for(i), &payload_for(i, MAX_PAYLOAD_LEN));
                if w.rolls != rolls {
                    say(&mut out, format!("PUB roll {i}"));
                }
            }
        }
        // Follow the set from its start until `total` events, checking each.
        "tailer" => {
            let set = SetReader::open(&dir).unwrap();
            let mut t = set.tail();
            let mut segments = 0u64;
            let mut last_segment = PathBuf::new();
            let deadline = Instant::now() + Duration::from_secs(300);
            while t.index() < total {
                let e = t
                    .wait(WaitStrategy::default(), Some(deadline))
                    .unwrap()
                    .expect("timed out");
                let i = e.index;
                assert_eq!(e.timestamp, ts_for(i), "event {i}");
                assert_eq!(e.payload, &payload_for(i, MAX_PAYLOAD_LEN)[..], "event {i}");
                if i.is_multiple_of(50_000) {
                    say(&mut out, format!("GOT {i}"));
                }
                if t.segment() != Some(last_segment.as_path()) {
                    last_segment = t.segment().unwrap().to_path_buf();
                    segments += 1;
                }
            }
            say(&mut out, format!("RES tailed {} {segments}", t.index()));
        }
        // Open a set of 10,000 segments; seek and iterate; say how many mappings it took.
        "many" => {
            let before = mappings();
            let set = SetReader::open(&dir).unwrap();
            let mut most = mappings();
            let mut rng = Rng(7);
            let n = total;
            for _ in 0..200 {
                let g = rng.below(n);
                let mut it = set.iter_from_index(g).unwrap();
                let e = it.next_event().unwrap().unwrap();
                assert_eq!(e.index, g);
                assert_eq!(e.payload, &many_payload(g)[..]);
                most = most.max(mappings());
                check_segment_mappings(&dir);
            }
            for _ in 0..200 {
                let j = rng.below(n);
                let t = many_ts(j);
                let want = (0..n).find(|i| many_ts(*i) >= t).unwrap();
                let mut it = set.iter_from_time(t).unwrap();
                let e = it.next_event().unwrap().unwrap();
                assert_eq!(e.index, want, "time {t}");
                most = most.max(mappings());
                check_segment_mappings(&dir);
            }
            let mut it = set.iter();
            let mut next = 0;
            while let Some(e) = it.next_event() {
                let e = e.unwrap();
                assert_eq!((e.index, e.timestamp), (next, many_ts(next)));
                next += 1;
                if next.is_multiple_of(1_000) {
                    most = most.max(mappings());
                    check_segment_mappings(&dir);
                }
            }
            assert_eq!(next, n);
            drop(it);
            let after = mappings();
            say(&mut out, format!("RES maps {before} {most} {after}"));
        }
        other => panic!("unknown role {other}"),
    }
}

const MAX_PAYLOAD_LEN: usize = 200;

fn set_child(role: &str, dir: &Path, total: u64) -> KillOnDrop {
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "set_read::set_child_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("JOURNAL_IT_SET_ROLE", role)
        .env("JOURNAL_IT_PATH", dir)
        .env("JOURNAL_IT_TOTAL", total.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    KillOnDrop(child)
}

/// Waits for a child's `RES` line and its successful exit.
fn result_of(mut c: KillOnDrop, within: Duration) -> String {
    let rx = lines(c.stdout.take().unwrap());
    let deadline = Instant::now() + within;
    let res = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("the child fell silent");
        if let Some(res) = line.strip_prefix("RES ") {
            break res.to_string();
        }
    };
    assert!(c.wait().unwrap().success(), "the child failed");
    res
}

#[test]
fn tailer_processes_follow_a_writer_process_across_200_rolls() {
    let dir = TempDir::new("set-procs");
    let set_dir = dir.join("set");
    std::fs::create_dir(&set_dir).unwrap();
    SetMeta {
        roll: RollPolicy::by_size(1 << 20),
        ..SetMeta::default()
    }
    .write(&set_dir)
    .unwrap();
    // About 120 bytes an entry: 1 MiB holds some 8,700; about 230 segments.
    let total = crate::support::env_count("JOURNAL_SET_EVENTS", 230 * 8_800);
    // The tailers start first: they wait for the set's first segment, then follow.
    let tailers = [
        set_child("tailer", &set_dir, total),
        set_child("tailer", &set_dir, total),
    ];
    let writer = set_child("writer", &set_dir, total);
    let within = Duration::from_secs(600);
    let rolls: u64 = result_of(writer, within)
        .strip_prefix("rolls ")
        .unwrap()
        .parse()
        .unwrap();
    assert!(rolls >= 200, "only {rolls} rolls");
    for t in tailers {
        let res = result_of(t, within);
        let parts: Vec<u64> = res
            .strip_prefix("tailed ")
            .unwrap()
            .split(' ')
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(parts[0], total, "every event once and in order");
        assert_eq!(parts[1], rolls + 1, "every segment visited");
    }
    let set = SetReader::open(&set_dir).unwrap();
    let report = set.verify().unwrap();
    assert!(report.is_intact());
    assert_eq!(report.events(), total);
}

fn many_ts(i: u64) -> i64 {
    // Rising by segment, backwards inside some, and below the previous segment's maximum at
    // the start of others.
    let back = match mix(i) % 13 {
        0 => 40,
        1 => 9,
        _ => 0,
    };
    100 + (i as i64) * 5 - back
}

fn many_payload(i: u64) -> Vec<u8> {
    payload_for(i, 24)
}

#[test]
fn ten_thousand_segments_open_and_read_with_a_handful_of_mappings() {
    let dir = TempDir::new("set-many");
    SetMeta::default().write(dir.path()).unwrap();
    let mut rng = Rng(11);
    let mut first = 0u64;
    for k in 0..10_000u64 {
        let len = 1 + rng.below(3);
        let events: Vec<(i64, Vec<u8>)> = (first..first + len)
            .map(|i| (many_ts(i), many_payload(i)))
            .collect();
        let bytes = crate::spec_impl::encode(1_000 + k as i64, &events);
        std::fs::write(dir.join(&layout::segment_name(first)), bytes).unwrap();
        first += len;
    }
    let res = result_of(
        set_child("many", dir.path(), first),
        Duration::from_secs(300),
    );
    let maps: Vec<usize> = res
        .strip_prefix("maps ")
        .unwrap()
        .split(' ')
        .map(|s| s.parse().unwrap())
        .collect();
    let (before, most, after) = (maps[0], maps[1], maps[2]);
    assert!(
        most <= before + 16,
        "mappings grew from {before} to {most} reading 10,000 segments"
    );
    assert!(
        after <= before + 16,
        "{before} mappings before, {after} after"
    );
}

#[test]
fn replay_then_live_starts_where_a_linear_scan_does_with_no_gap_and_no_duplicate() {
    let dir = TempDir::new("set-replay-live");
    let total = 200_000u64;
    let published = Arc::new(AtomicU64::new(0));
    let writer = {
        let dir = dir.path().to_path_buf();
        let published = Arc::clone(&published);
        std::thread::spawn(move || {
            let mut w = TestSetWriter::create(&dir, 64 << 10);
            for i in 0..total {
                w.append(ts_for(i), &payload_for(i, 64));
                published.store(i + 1, Ordering::Release);
            }
            w.w.close().unwrap();
            w.rolls
        })
    };
    crate::support::wait_for("the writer's first 20,000 events", || {
        published.load(Ordering::Acquire) >= 20_000
    });
    let mut rng = Rng(99);
    let set = SetReader::open(dir.path()).unwrap();
    for round in 0..20 {
        // T: the timestamp of an event already published (so the answer lies in the history), or
        // past every timestamp (so it is the end of the set at the seek).
        let c0 = published.load(Ordering::Acquire);
        let t = if round % 5 == 4 {
            i64::MAX
        } else {
            ts_for(rng.below(c0))
        };
        let it = set.iter_from_time(t).unwrap();
        let c1 = published.load(Ordering::Acquire);
        let start = it.index();
        match (0..c0).find(|i| ts_for(*i) >= t) {
            Some(want) => assert_eq!(start, want, "round {round}: time {t}"),
            // The writer publishes an event before it counts it in `published`, so the set may
            // hold one more than `c1` says.
            None => assert!(
                (c0..=c1 + 1).contains(&start),
                "{start} not in {c0}..={}",
                c1 + 1
            ),
        }
        // Then live: every later event, once, in order, until a few thousand past the seek.
        let mut tail = set.tail_from(it);
        let until = (start + 5_000).min(total);
        let deadline = Instant::now() + PATIENCE;
        let mut next = start;
        while next < until {
            let e = tail
                .wait(WaitStrategy::default(), Some(deadline))
                .unwrap()
                .expect("timed out");
            assert_eq!(e.index, next);
            assert_eq!(e.timestamp, ts_for(next));
            assert_eq!(e.payload, &payload_for(next, 64)[..]);
            next += 1;
        }
    }
    let rolls = writer.join().unwrap();
    assert!(rolls > 50, "{rolls} rolls");
}

#[test]
fn a_first_segment_being_created_is_no_error() {
    // A writer creating the set's first segment under its name: the file exists before its
    // header does. Readers see an empty set, then follow it.
    let dir = TempDir::new("set-creating");
    SetMeta::default().write(dir.path()).unwrap();
    let path = dir.join(&layout::segment_name(0));
    std::fs::write(&path, b"").unwrap();
    let set = SetReader::open(dir.path()).unwrap();
    assert!(set.iter().next_event().is_none());
    assert_eq!(set.iter_from_time(0).unwrap().index(), 0);
    let mut t = set.tail();
    let mut from_end = set.tail_from_end().unwrap();
    assert!(t.poll().unwrap().is_none());
    std::fs::remove_file(&path).unwrap();
    let mut w = Writer::create(&path).unwrap();
    w.append(5, b"first").unwrap();
    assert_eq!(t.poll().unwrap().unwrap().payload, b"first");
    assert_eq!(from_end.poll().unwrap().unwrap().payload, b"first");
    w.close().unwrap();
}

/// Everything a ring's consumer receives until the end of stream: (timestamp, payload).
fn drain_ring(ring: &Path, seen: &AtomicU64) -> Vec<(i64, Vec<u8>)> {
    let mut c = journal::Consumer::attach(ring).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = c
            .read_wait(
                usize::MAX,
                |r| {
                    out.push((r.timestamp, r.payload.to_vec()));
                    std::ops::ControlFlow::Continue(())
                },
                WaitStrategy::default(),
                Some(deadline),
            )
            .unwrap();
        seen.store(out.len() as u64, Ordering::Release);
        if s.end_of_stream {
            return out;
        }
        assert!(Instant::now() < deadline, "no end of stream");
    }
}

#[test]
fn replay_reads_a_set_across_segments_from_an_index_or_a_time() {
    let dir = TempDir::new("set-replay");
    let mut rng = Rng(0xEE);
    let segments = random_segments(&mut rng, 12, 60);
    let base = 40;
    let linear = write_set(dir.path(), base, &segments, true);
    let set = SetReader::open(dir.path()).unwrap();
    let n = linear.len();
    let t = linear[n / 2].1;
    let at = linear_time(&linear, t);
    let g = base + n as u64 / 3;
    let mut from_time = journal::ReplayOptions::new();
    from_time.from_time(t);
    let mut from_index = journal::ReplayOptions::new();
    from_index.from_index(g);
    for (opts, want) in [
        (journal::ReplayOptions::new(), &linear[..]),
        (from_time, &linear[at..]),
        (from_index, &linear[(g - base) as usize..]),
    ] {
        let ring = dir.join("ring");
        let _ = std::fs::remove_file(&ring);
        journal::create_ring(&ring, 1 << 20).unwrap();
        let mut p = journal::Producer::attach(&ring).unwrap();
        let stats = journal::replay(&set, &mut p, &opts).unwrap();
        let got = drain_ring(&ring, &AtomicU64::new(0));
        let want: Vec<(i64, Vec<u8>)> = want.iter().map(|e| (e.1, e.2.clone())).collect();
        assert_eq!(stats.events, want.len() as u64);
        assert_eq!(got, want);
    }
}

/// The payload of event `i` in the replay-then-live tests: its index, then some bytes.
fn live_payload(i: u64) -> Vec<u8> {
    let mut p = i.to_le_bytes().to_vec();
    p.extend(payload_for(i, 40));
    p
}

/// Runs `replay_follow` from `source` (made in the replay thread) while `append` writes `total`
/// events at full speed in another thread; returns the index the replay started at, the indexes
/// the ring's consumer received, and what a linear scan says the start must be.
fn replay_then_live(
    total: u64,
    append: impl FnOnce(&AtomicU64) + Send + 'static,
    replay: impl FnOnce(&journal::ReplayOptions, &AtomicBool, &mut journal::Producer) + Send + 'static,
    t: impl FnOnce(u64) -> i64,
) -> (u64, Vec<u64>) {
    let dir = TempDir::new("replay-live");
    let ring = dir.join("ring");
    journal::create_ring(&ring, 1 << 20).unwrap();
    let published = Arc::new(AtomicU64::new(0));
    let writer = {
        let published = Arc::clone(&published);
        std::thread::spawn(move || append(&published))
    };
    crate::support::wait_for("the writer's first 20,000 events", || {
        published.load(Ordering::Acquire) >= 20_000
    });
    let c0 = published.load(Ordering::Acquire);
    let t = t(c0);
    let want_start = (0..c0)
        .find(|i| ts_for(*i) >= t)
        .expect("t is in the history");
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicU64::new(0));
    let consumer = {
        let (ring, seen) = (ring.clone(), Arc::clone(&seen));
        std::thread::spawn(move || drain_ring(&ring, &seen))
    };
    let replayer = {
        let (ring, stop) = (ring.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut p = journal::Producer::attach(&ring).unwrap();
            let mut opts = journal::ReplayOptions::new();
            opts.from_time(t);
            replay(&opts, &stop, &mut p);
        })
    };
    writer.join().unwrap();
    crate::support::wait_for("the consumer to receive the last event", || {
        seen.load(Ordering::Acquire) >= total - want_start
    });
    stop.store(true, Ordering::Release);
    replayer.join().unwrap();
    let got = consumer.join().unwrap();
    let indexes = got
        .iter()
        .map(|(ts, p)| {
            let i = u64::from_le_bytes(p[..8].try_into().unwrap());
            assert_eq!((*ts, &p[..]), (ts_for(i), &live_payload(i)[..]));
            i
        })
        .collect();
    (want_start, indexes)
}

#[test]
fn replay_follow_from_a_time_in_a_set_is_replay_then_live_with_no_gap_and_no_duplicate() {
    let total = 150_000u64;
    let dir = TempDir::new("replay-live-set");
    let set_dir = dir.path().to_path_buf();
    let w_dir = set_dir.clone();
    let (start, got) = replay_then_live(
        total,
        move |published| {
            let mut w = TestSetWriter::create(&w_dir, 64 << 10);
            for i in 0..total {
                w.append(ts_for(i), &live_payload(i));
                published.store(i + 1, Ordering::Release);
            }
            assert!(w.rolls > 50, "{} rolls", w.rolls);
            w.w.close().unwrap();
        },
        move |opts, stop, p| {
            let set = SetReader::open(&set_dir).unwrap();
            // Sleeping at once on the set's wake-up file whenever caught up (what `journal
            // replay -f` does after its spins), across the rolls too.
            let wait = WaitStrategy::Block { spins: 0 };
            journal::replay_follow(&set, p, opts, wait, stop).unwrap();
        },
        |c0| ts_for(c0 / 3),
    );
    assert_eq!(got, (start..total).collect::<Vec<_>>());
}

#[test]
fn replay_follow_from_a_time_in_one_journal_is_replay_then_live_too() {
    let total = 60_000u64;
    let dir = TempDir::new("replay-live-one");
    let path = dir.join("j");
    let w_path = path.clone();
    let mut w = Writer::create(&path).unwrap();
    w.append(ts_for(0), &live_payload(0)).unwrap();
    let (start, got) = replay_then_live(
        total,
        move |published| {
            published.store(1, Ordering::Release);
            for i in 1..total {
                w.append(ts_for(i), &live_payload(i)).unwrap();
                published.store(i + 1, Ordering::Release);
            }
            w.close().unwrap();
        },
        move |opts, stop, p| {
            let r = journal::Reader::open(&w_path).unwrap();
            journal::replay_follow(&r, p, opts, WaitStrategy::default(), stop).unwrap();
        },
        |c0| ts_for(c0 / 2),
    );
    assert_eq!(got, (start..total).collect::<Vec<_>>());
}

#[test]
fn a_tailer_reports_a_broken_chain_it_learns_of_while_idle() {
    // The tailer knows only segment 0 (3 events); a segment appears whose name does not follow
    // (events lost by a power cut): the one stat never finds the expected name, the tailer's
    // idle listing finds the other and reports the damage instead of waiting forever.
    let dir = TempDir::new("set-gap-tail");
    write_set(
        dir.path(),
        0,
        &[vec![(1, vec![1]), (2, vec![2]), (3, vec![3])]],
        false,
    );
    let set = SetReader::open(dir.path()).unwrap();
    let mut t = set.tail();
    for i in 0..3 {
        assert_eq!(t.poll().unwrap().unwrap().index, i);
    }
    assert!(t.poll().unwrap().is_none());
    let mut w = Writer::create(dir.join(&layout::segment_name(7))).unwrap();
    w.append(4, b"d").unwrap();
    w.close().unwrap();
    let deadline = Instant::now() + PATIENCE;
    let err = loop {
        match t.poll() {
            Ok(None) => assert!(Instant::now() < deadline, "the tailer waits forever"),
            Ok(Some(e)) => panic!("event {} across a broken chain", e.index),
            Err(e) => break e,
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    assert!(matches!(err, Error::BadSet { .. }), "{err}");
    assert!(
        err.to_string().contains("00000000000000000007.journal"),
        "{err}"
    );
}

#[test]
fn a_set_tailer_allocates_nothing_per_event_or_per_idle_poll() {
    let dir = TempDir::new("set-alloc");
    let mut w = TestSetWriter::create(dir.path(), 1 << 20);
    let set = SetReader::open(dir.path()).unwrap();
    let mut t = set.tail();
    for i in 0..1_000 {
        w.append(ts_for(i), &payload_for(i, 100));
    }
    let (read, allocs, _) = crate::support::count_allocs(|| {
        let mut n = 0;
        while t.poll().unwrap().is_some() {
            n += 1;
        }
        n
    });
    assert_eq!((read, allocs), (1_000, 0));
    // Caught up: each poll stats the next segment's name. A listing (at most once a second of
    // idleness) allocates; the polls themselves do not.
    let (_, allocs, _) = crate::support::count_allocs(|| {
        for _ in 0..20_000 {
            assert!(t.poll().unwrap().is_none());
        }
    });
    assert!(allocs < 50, "{allocs} allocations in 20,000 idle polls");
}

#[test]
fn a_tailer_follows_a_writer_sigkilled_100_times_at_random_moments_including_inside_rolls() {
    let kills = crate::support::env_count("JOURNAL_KILLS", 100);
    let dir = TempDir::new("set-kills");
    let set_dir = dir.path().to_path_buf();
    TestSetWriter::create(&set_dir, 16 << 10).w.close().unwrap();
    let done = Arc::new(AtomicU64::new(u64::MAX));
    let tailer = {
        let (set_dir, done) = (set_dir.clone(), Arc::clone(&done));
        std::thread::spawn(move || {
            let set = SetReader::open(&set_dir).unwrap();
            let mut t = set.tail();
            let deadline = Instant::now() + Duration::from_secs(600);
            let mut next = 0u64;
            loop {
                if next >= done.load(Ordering::Acquire) {
                    return next;
                }
                let Some(e) = t
                    .wait(
                        WaitStrategy::default(),
                        Some(Instant::now() + Duration::from_millis(50)),
                    )
                    .unwrap()
                else {
                    assert!(Instant::now() < deadline, "the tailer hangs at {next}");
                    continue;
                };
                assert_eq!(e.index, next, "every event once, in order");
                assert_eq!(e.timestamp, ts_for(next));
                assert_eq!(e.payload, &payload_for(next, MAX_PAYLOAD_LEN)[..]);
                next += 1;
            }
        })
    };
    let mut seed = 0xC0FFEE ^ u64::from(std::process::id());
    for _ in 0..kills {
        let mut c = set_child("kill-writer", &set_dir, 0);
        let rx = lines(c.stdout.take().unwrap());
        // Kill at a random moment once the child is writing: most of a writer's time goes to
        // preparing the next segment (create, allocate, fsync), so many kills land inside a roll.
        rx.recv_timeout(PATIENCE).expect("the writer rolls");
        seed = mix(seed);
        std::thread::sleep(Duration::from_micros(seed % 20_000));
        c.kill().unwrap();
        c.wait().unwrap();
    }
    // A last writer closes the set cleanly; the tailer must get to its end.
    let w = TestSetWriter::reopen(&set_dir, 16 << 10);
    let total = w.next_index();
    w.w.close().unwrap();
    let set = SetReader::open(&set_dir).unwrap();
    let report = set.verify().unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events(), total);
    done.store(total, Ordering::Release);
    assert_eq!(tailer.join().unwrap(), total);
    assert!(
        report.segments.len() as u64 > kills,
        "only {} segments after {kills} runs",
        report.segments.len()
    );
}
