//! Retention of journal sets (SET.md 8): every limit of `PrunePolicy` and their combinations on sets
//! of plain segments, and pruning while a writer process rolls and a reader process follows.
//!
//! The sets here are built with plain `Writer`s and the layout helpers; the concurrent writer rolls
//! as SET.md 5 says (the next segment prepared as `.next.journal`, then renamed, index first). A
//! child process is this test binary re-run on [`child_entry`] with its role in `PRUNE_CHILD`.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use journal::index::index_path;
use journal::set::layout::{list_segments, segment_name, SetMeta, NEXT_FILE};
use journal::set::{plan, prune, summarize, Cause, PrunePolicy, Removal};
use journal::{Error, Reader, Writer, WriterOptions};

#[path = "helpers/mod.rs"]
mod helpers;
use helpers::{KillOnDrop, PATIENCE};

/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000_000_000_000;

/// Event `g`'s payload: its global index, then `g % 97` filler bytes.
fn payload(g: u64) -> Vec<u8> {
    let mut p = g.to_le_bytes().to_vec();
    p.resize(8 + (g % 97) as usize, b'.');
    p
}

fn global_of(payload: &[u8]) -> u64 {
    u64::from_le_bytes(payload[..8].try_into().unwrap())
}

/// A set in a new temporary directory whose segment `i` holds events at the timestamps
/// `segments[i]`, with global indexes running across segments.
fn make_set(segments: &[Vec<i64>]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    SetMeta::default().write(dir.path()).unwrap();
    let mut g = 0u64;
    for times in segments {
        let mut w = Writer::options()
            .chunk_size(4096)
            .create(dir.path().join(segment_name(g)))
            .unwrap();
        for &ts in times {
            w.append(ts, &payload(g)).unwrap();
            g += 1;
        }
        w.close().unwrap();
    }
    dir
}

/// `n` segments of 10 events each; segment `i`'s events are at `T0 + 100 i + 0..10`.
fn uniform(n: i64) -> tempfile::TempDir {
    let segs: Vec<Vec<i64>> = (0..n)
        .map(|i| (0..10).map(|k| T0 + 100 * i + k).collect())
        .collect();
    make_set(&segs)
}

fn firsts(removals: &[Removal]) -> Vec<u64> {
    removals.iter().map(|r| r.summary.first_index).collect()
}

fn causes(removals: &[Removal]) -> Vec<Cause> {
    removals.iter().map(|r| r.cause).collect()
}

fn listed(dir: &Path) -> Vec<u64> {
    list_segments(dir)
        .unwrap()
        .iter()
        .map(|s| s.first_index)
        .collect()
}

fn keep(n: u64) -> PrunePolicy {
    PrunePolicy {
        keep: Some(n),
        ..PrunePolicy::default()
    }
}

fn before(t: i64) -> PrunePolicy {
    PrunePolicy {
        before: Some(t),
        ..PrunePolicy::default()
    }
}

fn max_bytes(b: u64) -> PrunePolicy {
    PrunePolicy {
        max_bytes: Some(b),
        ..PrunePolicy::default()
    }
}

/// The size a prune counts for each segment: the file and its index.
fn sizes(dir: &Path) -> Vec<u64> {
    list_segments(dir)
        .unwrap()
        .iter()
        .map(|s| {
            fs::metadata(&s.path).unwrap().len()
                + fs::metadata(index_path(&s.path)).map_or(0, |m| m.len())
        })
        .collect()
}

/// The most extreme value of every limit: each removes every sealed segment there is.
fn extremes() -> [PrunePolicy; 4] {
    [
        keep(0),
        before(i64::MAX),
        max_bytes(0),
        PrunePolicy {
            keep: Some(0),
            before: Some(i64::MAX),
            max_bytes: Some(0),
        },
    ]
}

#[test]
fn an_empty_set_has_nothing_to_remove() {
    let dir = make_set(&[]);
    for p in extremes() {
        assert_eq!(plan(dir.path(), &p).unwrap(), []);
        assert_eq!(prune(dir.path(), &p).unwrap(), []);
    }
}

#[test]
fn a_set_of_one_segment_keeps_it_whatever_the_limits() {
    let dir = uniform(1);
    for p in extremes() {
        assert_eq!(prune(dir.path(), &p).unwrap(), [], "{p:?}");
    }
    assert_eq!(listed(dir.path()), [0]);
    // An empty newest segment (a crash right after a roll leaves one) is not removed either.
    for p in extremes() {
        let dir = make_set(&[vec![T0], vec![]]);
        assert_eq!(firsts(&prune(dir.path(), &p).unwrap()), [0], "{p:?}");
        assert_eq!(listed(dir.path()), [1]);
    }
}

#[test]
fn no_limit_removes_nothing() {
    let dir = uniform(3);
    assert_eq!(prune(dir.path(), &PrunePolicy::default()).unwrap(), []);
    assert_eq!(listed(dir.path()), [0, 10, 20]);
}

#[test]
fn keep_removes_the_oldest_segments_beyond_n() {
    let dir = uniform(5);
    assert_eq!(firsts(&plan(dir.path(), &keep(2)).unwrap()), [0, 10, 20]);
    assert_eq!(firsts(&plan(dir.path(), &keep(4)).unwrap()), [0]);
    for n in [5, 6, u64::MAX] {
        assert_eq!(plan(dir.path(), &keep(n)).unwrap(), [], "keep {n}");
    }
    // 0 and 1 both leave the newest segment alone.
    for n in [0, 1] {
        assert_eq!(
            firsts(&plan(dir.path(), &keep(n)).unwrap()),
            [0, 10, 20, 30]
        );
    }

    let removed = prune(dir.path(), &keep(2)).unwrap();
    assert_eq!(causes(&removed), [Cause::Keep; 3]);
    let r = &removed[1];
    assert_eq!(r.path, dir.path().join(segment_name(10)));
    assert_eq!(r.summary.first_index, 10);
    assert_eq!(r.summary.last_index(), Some(19));
    assert_eq!(r.summary.events, 10);
    assert_eq!(r.summary.first_timestamp, Some(T0 + 100));
    assert_eq!(r.summary.newest_timestamp, Some(T0 + 109));
    assert!(r.summary.segment_bytes > 0 && r.summary.index_bytes > 0);

    assert_eq!(listed(dir.path()), [30, 40]);
    for first in [0, 10, 20] {
        let seg = dir.path().join(segment_name(first));
        assert!(!seg.exists() && !index_path(&seg).exists());
    }
    for first in [30, 40] {
        assert!(index_path(&dir.path().join(segment_name(first))).exists());
    }
    // Done: a second run removes nothing.
    assert_eq!(prune(dir.path(), &keep(2)).unwrap(), []);
}

#[test]
fn before_removes_segments_whose_newest_event_is_older() {
    // Segment i's newest event is at T0 + 100 i + 9.
    let dir = uniform(5);
    assert_eq!(plan(dir.path(), &before(T0 + 9)).unwrap(), []);
    assert_eq!(firsts(&plan(dir.path(), &before(T0 + 10)).unwrap()), [0]);
    assert_eq!(firsts(&plan(dir.path(), &before(T0 + 109)).unwrap()), [0]);
    assert_eq!(
        firsts(&plan(dir.path(), &before(T0 + 110)).unwrap()),
        [0, 10]
    );
    assert_eq!(plan(dir.path(), &before(i64::MIN)).unwrap(), []);
    // Every segment too old: all the sealed ones go, the newest stays.
    let removed = prune(dir.path(), &before(i64::MAX)).unwrap();
    assert_eq!(firsts(&removed), [0, 10, 20, 30]);
    assert_eq!(causes(&removed), [Cause::Before; 4]);
    assert_eq!(listed(dir.path()), [40]);
}

#[test]
fn before_looks_at_the_newest_event_not_the_last() {
    // Segment 0's newest event is in the middle; timestamps go back after it.
    let dir = make_set(&[vec![T0, T0 + 500, T0 + 1], vec![T0 + 2], vec![T0 + 3]]);
    assert_eq!(plan(dir.path(), &before(T0 + 500)).unwrap(), []);
    assert_eq!(
        firsts(&plan(dir.path(), &before(T0 + 501)).unwrap()),
        [0, 3]
    );
}

#[test]
fn removal_stops_at_the_first_segment_no_limit_removes() {
    // Segment 1 alone is old: removing it would open a hole between segments 0 and 2.
    let dir = make_set(&[vec![T0 + 1000], vec![T0], vec![T0 + 2000]]);
    assert_eq!(prune(dir.path(), &before(T0 + 500)).unwrap(), []);
    assert_eq!(listed(dir.path()), [0, 1, 2]);
}

#[test]
fn max_bytes_removes_the_oldest_until_the_set_fits() {
    let dir = uniform(4);
    let s = sizes(dir.path());
    let total: u64 = s.iter().sum();
    assert_eq!(plan(dir.path(), &max_bytes(total)).unwrap(), []);
    assert_eq!(
        firsts(&plan(dir.path(), &max_bytes(total - 1)).unwrap()),
        [0]
    );
    assert_eq!(
        firsts(&plan(dir.path(), &max_bytes(total - s[0])).unwrap()),
        [0]
    );
    assert_eq!(
        firsts(&plan(dir.path(), &max_bytes(total - s[0] - 1)).unwrap()),
        [0, 10]
    );
    // Smaller than the newest segment alone: every sealed one goes, the newest stays.
    let removed = prune(dir.path(), &max_bytes(0)).unwrap();
    assert_eq!(firsts(&removed), [0, 10, 20]);
    assert_eq!(causes(&removed), [Cause::MaxBytes; 3]);
    assert_eq!(listed(dir.path()), [30]);
}

#[test]
fn max_bytes_counts_segments_and_indexes_only() {
    let dir = uniform(3);
    let total: u64 = sizes(dir.path()).iter().sum();
    // A prepared next segment, cursors and the metadata are not the set's segments.
    fs::write(dir.path().join(NEXT_FILE), vec![0u8; 1 << 20]).unwrap();
    fs::create_dir(dir.path().join("cursors")).unwrap();
    fs::write(dir.path().join("cursors").join("a"), vec![0u8; 1 << 16]).unwrap();
    assert_eq!(plan(dir.path(), &max_bytes(total)).unwrap(), []);
    assert_eq!(firsts(&prune(dir.path(), &keep(1)).unwrap()), [0, 10]);
    assert!(dir.path().join(NEXT_FILE).exists());
    assert!(dir.path().join("cursors").join("a").exists());
    assert!(SetMeta::read(dir.path()).is_ok());
}

#[test]
fn any_limit_removes_and_the_first_one_is_named() {
    let dir = uniform(6);
    let s = sizes(dir.path());
    let total: u64 = s.iter().sum();
    // keep 5 removes 1 segment, before removes 3, max-bytes removes 2: 3 go.
    let p = PrunePolicy {
        keep: Some(5),
        before: Some(T0 + 210),
        max_bytes: Some(total - s[0] - 1),
    };
    let planned = plan(dir.path(), &p).unwrap();
    assert_eq!(firsts(&planned), [0, 10, 20]);
    assert_eq!(
        causes(&planned),
        [Cause::Keep, Cause::Before, Cause::Before]
    );
    // Without the age limit the size limit takes over after keep.
    let p2 = PrunePolicy { before: None, ..p };
    let planned2 = plan(dir.path(), &p2).unwrap();
    assert_eq!(causes(&planned2), [Cause::Keep, Cause::MaxBytes]);
    // The size limit counts what keep already removed: with room for all but segment 0, keep's
    // removal of segment 0 is enough.
    let p3 = PrunePolicy {
        keep: Some(5),
        before: None,
        max_bytes: Some(total - s[0]),
    };
    assert_eq!(firsts(&plan(dir.path(), &p3).unwrap()), [0]);

    // A dry run lists exactly what the prune then removes.
    assert_eq!(prune(dir.path(), &p).unwrap(), planned);
    assert_eq!(listed(dir.path()), [30, 40, 50]);
}

#[test]
fn a_segment_without_index_is_pruned_and_measured_by_walking_it() {
    let dir = uniform(3);
    let seg0 = dir.path().join(segment_name(0));
    fs::remove_file(index_path(&seg0)).unwrap();
    let removed = prune(dir.path(), &before(T0 + 10)).unwrap();
    assert_eq!(firsts(&removed), [0]);
    assert_eq!(removed[0].summary.newest_timestamp, Some(T0 + 9));
    assert_eq!(removed[0].summary.index_bytes, 0);
    assert_eq!(listed(dir.path()), [10, 20]);
}

#[test]
fn a_directory_that_is_not_a_set_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(segment_name(0)), b"").unwrap();
    for p in extremes() {
        assert!(matches!(plan(dir.path(), &p), Err(Error::BadSet { .. })));
        assert!(matches!(prune(dir.path(), &p), Err(Error::BadSet { .. })));
    }
    assert!(dir.path().join(segment_name(0)).exists());
}

#[test]
fn a_prune_waits_for_the_one_holding_the_prune_lock() {
    let dir = uniform(3);
    let lock = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.path().join(journal::set::prune::PRUNE_LOCK_FILE))
        .unwrap();
    lock.lock().unwrap();
    let path = dir.path().to_path_buf();
    let pruner = std::thread::spawn(move || prune(&path, &keep(1)).unwrap());
    // Not synchronisation: room for a prune that ignores the lock to show itself. A correct one
    // is still waiting, whatever the scheduling.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        listed(dir.path()),
        [0, 10, 20],
        "removed under another's lock"
    );
    assert!(!pruner.is_finished());
    // A dry run takes no lock.
    assert_eq!(firsts(&plan(dir.path(), &keep(1)).unwrap()), [0, 10]);
    lock.unlock().unwrap();
    assert_eq!(firsts(&pruner.join().unwrap()), [0, 10]);
    assert_eq!(listed(dir.path()), [20]);
}

#[test]
fn a_reader_on_a_removed_segment_finishes_it() {
    let dir = uniform(3);
    let r = Reader::open(dir.path().join(segment_name(0))).unwrap();
    let mut it = r.iter();
    assert_eq!(global_of(it.next().unwrap().unwrap().payload), 0);
    assert_eq!(firsts(&prune(dir.path(), &keep(1)).unwrap()), [0, 10]);
    let rest: Vec<u64> = it.map(|e| global_of(e.unwrap().payload)).collect();
    assert_eq!(rest, (1..10).collect::<Vec<_>>());
    // A reader opened after the removal is told the segment is not there.
    let err = Reader::open(dir.path().join(segment_name(10))).unwrap_err();
    assert!(
        matches!(&err, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
        "{err}"
    );
}

// ---- Pruning while a writer process rolls and a reader process follows ----

/// Events the concurrent writer appends, and how many go into each segment.
const TOTAL: u64 = 30_000;
const PER_SEGMENT: u64 = 120;

/// Starts a child process in `role` on the set `dir`; it is killed if the test ends without it.
fn child(role: &str, dir: &Path) -> (KillOnDrop, mpsc::Receiver<String>) {
    let mut c = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PRUNE_CHILD", role)
        .env("PRUNE_DIR", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = c.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            // The harness prints "test child_entry ... " without a newline before our first line.
            if let Some(at) = ["ROLL ", "DONE ", "JUMP ", "READ "]
                .iter()
                .filter_map(|m| line.find(m))
                .min()
            {
                if tx.send(line[at..].to_string()).is_err() {
                    break;
                }
            }
        }
    });
    (KillOnDrop(c), rx)
}

fn say(line: String) {
    let mut out = std::io::stdout().lock();
    out.write_all(line.as_bytes()).unwrap();
    out.write_all(b"\n").unwrap();
    out.flush().unwrap();
}

/// The entry point of the child processes (run by the concurrent test only).
#[test]
#[ignore = "child process entry point for the concurrent prune test; run by it, not by hand"]
fn child_entry() {
    let role = std::env::var("PRUNE_CHILD").expect("PRUNE_CHILD");
    let dir = PathBuf::from(std::env::var("PRUNE_DIR").expect("PRUNE_DIR"));
    match role.as_str() {
        "writer" => roll_writer(&dir),
        "reader" => set_follower(&dir),
        other => panic!("unknown role {other}"),
    }
}

/// Appends `TOTAL` events, rolling every `PER_SEGMENT` events as SET.md 5 says: the next segment
/// is prepared as `.next.journal` (with its index), and the roll renames its index, then the
/// journal (the commit point), then closes the old segment.
fn roll_writer(dir: &Path) {
    let mut opts = WriterOptions::new();
    opts.chunk_size(64 << 10);
    let next_path = dir.join(NEXT_FILE);
    let prepare = || opts.create(&next_path).unwrap();
    // The first segment is created in place, so a reader can find it shorter than the header
    // (SET.md 6.1). Hold it empty a while, so that the reader meets that case on every run, then
    // put a whole segment there in one rename.
    let first_path = dir.join(segment_name(0));
    fs::File::create(&first_path).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let staged = dir.join(".first.journal");
    let mut cur = opts.create(&staged).unwrap();
    fs::rename(index_path(&staged), index_path(&first_path)).unwrap();
    fs::rename(&staged, &first_path).unwrap();
    let mut next = prepare();
    let mut first = 0u64;
    for g in 0..TOTAL {
        if g - first == PER_SEGMENT {
            let name = dir.join(segment_name(g));
            fs::rename(index_path(&next_path), index_path(&name)).unwrap();
            fs::rename(&next_path, &name).unwrap();
            let old = std::mem::replace(&mut cur, next);
            old.close().unwrap();
            next = prepare();
            first = g;
            say(format!("ROLL {g}"));
        }
        cur.append(T0 + g as i64, &payload(g)).unwrap();
    }
    cur.close().unwrap();
    next.close().unwrap();
    say(format!("DONE {TOTAL}"));
}

/// Follows the set from its first segment to event `TOTAL - 1` with plain readers, crossing rolls
/// by the one-stat rule (SET.md 6): after the last event of a segment, the next segment's name
/// tells whether it is sealed. When the segment it needs was pruned (its next segment is gone and
/// so is its own file, or the next one vanished before it was opened), it says `JUMP missing
/// first` and continues at the set's first segment: the error a set reader reports there. Checks
/// that every event carries its global index and that events come in order with no gap other than
/// a jump.
fn set_follower(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let first_listed = || loop {
        if let Some(s) = list_segments(dir).unwrap().first() {
            return s.first_index;
        }
        assert!(Instant::now() < deadline, "no segment appeared");
        std::thread::sleep(Duration::from_millis(1));
    };
    let not_found = |e: &Error| matches!(e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound);
    let mut first = first_listed();
    let mut expect = first; // the next global index
    let mut jumps = 0u64;
    'segments: loop {
        let path = dir.join(segment_name(first));
        let reader = match Reader::open(&path) {
            Ok(r) => r,
            Err(e) if not_found(&e) => {
                let f = first_listed();
                assert!(f > expect, "segment {first} is missing but {f} is first");
                say(format!("JUMP {expect} {f}"));
                jumps += 1;
                (first, expect) = (f, f);
                continue 'segments;
            }
            // A newest segment shorter than the header is being created (SET.md 6.1): the
            // writer creates the first segment in place, so poll it again.
            // The error may name a short file that has grown since: retry on either.
            Err(e)
                if fs::metadata(&path).is_ok_and(|m| m.len() < 24)
                    || matches!(&e, Error::NotAJournal { reason, .. }
                        if reason.contains("shorter than the 24-byte header")) =>
            {
                assert!(Instant::now() < deadline, "segment {first} stayed empty");
                std::thread::sleep(Duration::from_micros(200));
                continue 'segments;
            }
            Err(e) => panic!("open {}: {e}", path.display()),
        };
        let mut n = expect - first; // events of this segment read so far
        let (mut sealed_seen, mut gone_seen) = (false, false);
        loop {
            let mut progressed = false;
            for ev in reader.iter_from_index(n).unwrap() {
                let ev = ev.unwrap();
                let g = global_of(ev.payload);
                assert_eq!(g, first + ev.index, "payload vs position");
                assert_eq!(g, expect, "out of order");
                expect += 1;
                n += 1;
                progressed = true;
                if expect == TOTAL {
                    say(format!("READ {} {jumps}", expect - 1));
                    return;
                }
            }
            if progressed {
                (sealed_seen, gone_seen) = (false, false);
                continue;
            }
            let next = first + n;
            if sealed_seen {
                // The next segment exists and this one had nothing more after it appeared.
                first = next;
                continue 'segments;
            }
            if dir.join(segment_name(next)).exists() {
                sealed_seen = true; // read once more, then move on
                continue;
            }
            if !path.exists() {
                // Our segment was removed, so it is sealed: what the mapping holds is all of it.
                // Read it once more (events appended before the roll may be new to us), then: if
                // the set's first segment is our successor, it appeared since the stat above and
                // we move on; if it is later, what we need next is gone.
                if !gone_seen {
                    gone_seen = true;
                    continue;
                }
                let f = first_listed();
                if f > next {
                    say(format!("JUMP {expect} {f}"));
                    jumps += 1;
                    (first, expect) = (f, f);
                    continue 'segments;
                }
                assert_eq!(f, next, "segment {first} is gone but {f} is first");
                continue;
            }
            assert!(Instant::now() < deadline, "stalled at event {expect}");
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// Waits for a protocol line starting with `prefix` (at most `PATIENCE` * 6), returning it and
/// the lines before it.
fn await_line(rx: &mpsc::Receiver<String>, prefix: &str) -> (String, Vec<String>) {
    let deadline = Instant::now() + PATIENCE * 6;
    let mut before = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l.starts_with(prefix) => return (l, before),
            Ok(l) => before.push(l),
            Err(e) => panic!("no {prefix:?} line: {e}"),
        }
    }
}

#[test]
fn prune_runs_while_a_writer_rolls_and_a_reader_follows() {
    let dir = tempfile::tempdir().unwrap();
    SetMeta::default().write(dir.path()).unwrap();
    let (mut writer, writer_rx) = child("writer", dir.path());
    let (mut reader, reader_rx) = child("reader", dir.path());

    let stop = Arc::new(AtomicBool::new(false));
    let removed = Arc::new(AtomicU64::new(0));
    // Two pruners at once, with different limits: they take turns on the set's prune lock.
    let pruners: Vec<_> = [keep(3), max_bytes(32 << 10)]
        .into_iter()
        .map(|policy| {
            let (dir, stop, removed) = (dir.path().to_path_buf(), stop.clone(), removed.clone());
            std::thread::spawn(move || {
                let mut runs = 0u64;
                while !stop.load(Ordering::Relaxed) || runs == 0 {
                    let had = listed(&dir);
                    let gone = prune(&dir, &policy).unwrap();
                    let left = listed(&dir);
                    // Oldest first, contiguous, and never the newest: everything left is later.
                    for w in gone.windows(2) {
                        assert_eq!(
                            w[0].summary.first_index + w[0].summary.events,
                            w[1].summary.first_index,
                            "a hole in what one prune removed"
                        );
                    }
                    if let (Some(last), Some(&next)) = (gone.last(), left.first()) {
                        assert!(last.summary.first_index < next);
                    }
                    assert!(
                        had.is_empty() || !left.is_empty(),
                        "the newest segment was removed"
                    );
                    removed.fetch_add(gone.len() as u64, Ordering::Relaxed);
                    runs += 1;
                    std::thread::sleep(Duration::from_millis(2));
                }
                runs
            })
        })
        .collect();

    let (done, rolls) = await_line(&writer_rx, "DONE");
    assert_eq!(done, format!("DONE {TOTAL}"));
    assert_eq!(rolls.len() as u64, TOTAL.div_ceil(PER_SEGMENT) - 1);
    assert!(writer.wait().unwrap().success());
    let (read, jump_lines) = await_line(&reader_rx, "READ");
    assert!(reader.wait().unwrap().success(), "the reader failed");
    stop.store(true, Ordering::Relaxed);
    for p in pruners {
        assert!(p.join().unwrap() > 0);
    }
    // The reader saw every event in order up to the last, except where the segment it needed was
    // pruned: then it was told so and went on at the set's first segment, later than the one missing.
    assert_eq!(read, format!("READ {} {}", TOTAL - 1, jump_lines.len()));
    for j in &jump_lines {
        let v: Vec<u64> = j.split(' ').skip(1).map(|x| x.parse().unwrap()).collect();
        assert!(j.starts_with("JUMP ") && v[1] > v[0], "{j}");
    }
    let removed = removed.load(Ordering::Relaxed);
    assert!(removed > 0, "nothing was pruned");

    // The writer lost nothing: the segments left chain from the first available index to TOTAL,
    // every event in place.
    let segs = list_segments(dir.path()).unwrap();
    let mut expect = segs[0].first_index;
    assert!(
        expect > 0 && expect.is_multiple_of(PER_SEGMENT),
        "first left {expect}"
    );
    for s in &segs {
        assert_eq!(s.first_index, expect, "a hole in the chain");
        let summary = summarize(&s.path, s.first_index).unwrap();
        assert!(!summary.damaged);
        let r = Reader::open(&s.path).unwrap();
        for ev in r.iter() {
            let ev = ev.unwrap();
            assert_eq!(global_of(ev.payload), expect);
            assert_eq!(ev.timestamp, T0 + expect as i64);
            expect += 1;
        }
        assert_eq!(expect, s.first_index + summary.events);
    }
    assert_eq!(expect, TOTAL);
}
