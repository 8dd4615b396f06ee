//! Journal sets under concurrent retention and killed readers, with real processes (SET.md 6, 8,
//! 10; CURSOR.md):
//!
//! - `prune` runs in a loop while a writer process rolls and two tailer processes follow: the
//!   tailers finish a segment removed under them and get [`Error::Pruned`] for one they need that
//!   is gone, the writer loses no event, and prune never removes the segment being written;
//! - a reader process with a named cursor on a set is SIGKILLed and resumed 100 times at random
//!   moments while a writer process rolls: every event is committed exactly once.
//!
//! Children are this test binary re-run on [`reliability_child_entry`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use journal::set::layout::{list_segments, parse_segment_name};
use journal::set::{prune, PrunePolicy, RollPolicy, SetReader};
use journal::{Error, NamedCursor, SetWriterOptions, SyncPolicy, WaitStrategy};

use crate::process::{lines, say};
use crate::support::{env_count, mix, payload_for, timestamp_for, KillOnDrop, Rng};
use crate::support::{wait_for, PATIENCE};

const PAYLOAD: usize = 200;
const CURSOR: &str = "strategy-a";

fn child(role: &str, set: &Path, total: u64, seed: u64) -> KillOnDrop {
    let c = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "set_reliability::reliability_child_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("JOURNAL_IT_CHILD", role)
        .env("JOURNAL_IT_PATH", set)
        .env("JOURNAL_IT_TOTAL", total.to_string())
        .env("JOURNAL_IT_SEED", seed.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    KillOnDrop(c)
}

fn env_u64(name: &str) -> u64 {
    std::env::var(name).unwrap().parse().unwrap()
}

/// Checks one event against the deterministic one for its global index.
#[track_caller]
fn check_event(e: &journal::Event<'_>) {
    assert_eq!(e.timestamp, timestamp_for(e.index), "event {}", e.index);
    assert_eq!(
        e.payload,
        &payload_for(e.index, PAYLOAD)[..],
        "event {}",
        e.index
    );
}

/// The entry point of this module's child processes (run by the tests, not by hand).
#[test]
#[ignore = "child process entry point for the set reliability tests; run by them, not by hand"]
fn reliability_child_entry() {
    let role = std::env::var("JOURNAL_IT_CHILD").expect("JOURNAL_IT_CHILD");
    let dir = PathBuf::from(std::env::var("JOURNAL_IT_PATH").expect("JOURNAL_IT_PATH"));
    let total = env_u64("JOURNAL_IT_TOTAL");
    let seed = env_u64("JOURNAL_IT_SEED");
    let mut out = std::io::stdout().lock();
    match role.as_str() {
        // Appends `total` events to the set (rolling every 4 KiB), preparing ahead now and then.
        "prune-writer" => {
            let mut w = SetWriterOptions::new()
                .chunk_size(64 << 10)
                .open(&dir)
                .unwrap();
            for i in w.events()..total {
                assert_eq!(
                    w.append(timestamp_for(i), &payload_for(i, PAYLOAD))
                        .unwrap(),
                    i
                );
                if mix(i ^ seed).is_multiple_of(16) {
                    w.pretouch().unwrap();
                }
            }
            w.close().unwrap();
            say(&mut out, format!("RES wrote {total}"));
        }
        // Follows the set from its start to `total`. Now and then it stops until the writer is
        // far enough ahead that retention must remove its segment, and the file is gone (and, for
        // the `-far` variant, the next segment too), then carries on: it must finish the removed
        // segment from its mapping, and report `Pruned` for a needed segment that is gone.
        "prune-tailer" | "prune-tailer-far" => {
            let far = role.ends_with("-far");
            let set = SetReader::open(&dir).unwrap();
            let mut t = set.tail();
            // The parent starts the writer only now: the tail starts at event 0.
            say(&mut out, "GOT ready".to_string());
            let mut rng = Rng(seed);
            let (mut next, mut skipped, mut pruned, mut stalls, mut from_removed) = (0, 0, 0, 0, 0);
            let mut removed_segment: Option<PathBuf> = None;
            let deadline = Instant::now() + Duration::from_secs(300);
            while next < total {
                match t.wait(WaitStrategy::default(), Some(Instant::now() + PATIENCE)) {
                    Ok(Some(e)) => {
                        assert_eq!(e.index, next, "every event once, in order");
                        check_event(&e);
                        next += 1;
                        let seg = t.segment().unwrap().to_path_buf();
                        if removed_segment.as_ref() == Some(&seg) {
                            from_removed += 1;
                        }
                        if rng.below(200) == 0 {
                            if let Some(gone) = stall(&dir, &seg, far, total) {
                                stalls += 1;
                                removed_segment = Some(gone);
                            }
                        }
                    }
                    Ok(None) => panic!("the tailer waited {PATIENCE:?} at {next}"),
                    Err(Error::Pruned {
                        index,
                        first_available,
                        ..
                    }) => {
                        assert_eq!(index, next, "pruned at the event it needs");
                        assert!(first_available > next, "{first_available} <= {next}");
                        pruned += 1;
                        // Resume at the first available event (it may go too: try again).
                        let mut at = first_available;
                        t = loop {
                            match set.iter_from_index(at) {
                                Ok(it) => break set.tail_from(it),
                                Err(Error::Pruned {
                                    first_available, ..
                                }) => at = first_available,
                                Err(e) => panic!("{e}"),
                            }
                        };
                        skipped += at - next;
                        next = at;
                    }
                    Err(e) => panic!("at {next}: {e}"),
                }
                assert!(Instant::now() < deadline, "the tailer is stuck at {next}");
            }
            say(
                &mut out,
                format!("RES tailed {next} {skipped} {pruned} {stalls} {from_removed}"),
            );
        }
        // Appends forever (rolling every 4 KiB), keeping at most `total` events ahead of the
        // named cursor's committed position (flow control: the writer waits on the cursor file,
        // so it keeps rolling while readers come and go).
        "cursor-writer" => {
            let mut w = SetWriterOptions::new()
                .chunk_size(64 << 10)
                .open(&dir)
                .unwrap();
            let mut i = w.events();
            say(&mut out, format!("PUB started at {i}"));
            loop {
                let committed = NamedCursor::read(&dir, CURSOR).map_or(0, |c| c.position);
                while i < committed + total {
                    assert_eq!(
                        w.append(timestamp_for(i), &payload_for(i, PAYLOAD))
                            .unwrap(),
                        i
                    );
                    i += 1;
                    if mix(i ^ seed).is_multiple_of(64) {
                        w.pretouch().unwrap();
                    }
                }
                // Waits for the reader's commits (polling the cursor file).
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        // Resumes the named cursor, reads and commits each event; says where it started and
        // each event it delivered (before committing it). With `total` nonzero it stops cleanly
        // once the cursor reaches it.
        "cursor-reader" => {
            let set = SetReader::open(&dir).unwrap();
            let c = NamedCursor::open(&dir, CURSOR).unwrap();
            let start = c.position();
            let mut t = set.tail_from(set.iter_from_index(start).unwrap());
            say(&mut out, format!("GOT start {start}"));
            let mut next = start;
            loop {
                if total != 0 && next >= total {
                    c.sync().unwrap();
                    say(&mut out, format!("RES done {next}"));
                    return;
                }
                let e = t
                    .wait(WaitStrategy::default(), Some(Instant::now() + PATIENCE))
                    .unwrap()
                    .unwrap_or_else(|| panic!("the reader waited {PATIENCE:?} at {next}"));
                assert_eq!(e.index, next, "resumed exactly after the last commit");
                check_event(&e);
                writeln!(out, "GOT {next}").unwrap();
                out.flush().unwrap();
                next += 1;
                c.commit(next);
            }
        }
        other => panic!("unknown role {other}"),
    }
}

/// For a tailer in `seg`: waits until at least six newer segments exist (so a prune keeping at
/// most five removes it), then until `seg` is removed, and with `far` the segment after it too.
/// Returns the removed segment's path, or None when the writer's `total` events end too soon.
fn stall(dir: &Path, seg: &Path, far: bool, total: u64) -> Option<PathBuf> {
    let mine = parse_segment_name(seg.file_name()?.to_str()?)?;
    // Waits for the writer to get 6 segments ahead, so that retention (keeping at most 5) must
    // remove this one: a tailer that merely checked would, on a loaded machine, find the writer
    // either close behind or so far ahead that every segment it could stall on is already gone.
    let deadline = Instant::now() + PATIENCE;
    let newer = loop {
        let segs = list_segments(dir).ok()?;
        let newer: Vec<PathBuf> = segs
            .iter()
            .filter(|s| s.first_index > mine)
            .map(|s| s.path.clone())
            .collect();
        if newer.len() >= 6 {
            break newer;
        }
        // Every segment holds as many events (one payload size, one roll size): near the end
        // of the run, 6 more segments may never come.
        let per = segs
            .windows(2)
            .map(|w| w[1].first_index - w[0].first_index)
            .min()?;
        let newest = segs.last()?.first_index;
        if newest + per * (8 - newer.len() as u64) >= total {
            return None;
        }
        assert!(
            Instant::now() < deadline,
            "the writer did not get 6 segments past {}",
            seg.display()
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    wait_for("retention to remove the segment being read", || {
        !seg.exists() && (!far || !newer[0].exists())
    });
    Some(seg.to_path_buf())
}

/// A private directory in memory when the machine has one (`/dev/shm`): a roll closes the sealed
/// segment, and under `never` that close still syncs it once for its index (INDEX.md 9.3), which
/// on a disk makes hundreds of rolls take seconds. Removed on drop.
fn fast_dir(name: &str) -> tempfile::TempDir {
    let prefix = format!("journal-it-{name}-");
    let mut b = tempfile::Builder::new();
    b.prefix(&prefix);
    match Path::new("/dev/shm").is_dir() {
        true => b.tempdir_in("/dev/shm").or_else(|_| b.tempdir()).unwrap(),
        false => b.tempdir().unwrap(),
    }
}

/// Creates an empty set rolling every 4 KiB under `never`.
fn new_set(set: &Path) {
    SetWriterOptions::new()
        .roll(RollPolicy::by_size(4096))
        .sync_policy(SyncPolicy::Never)
        .create(set)
        .unwrap()
        .close()
        .unwrap();
}

/// Waits for a child's `RES` line and its successful exit.
fn result_of(mut c: KillOnDrop, within: Duration) -> String {
    let rx = lines(c.stdout.take().unwrap());
    result_on(c, &rx, within)
}

/// [`result_of`], with the child's lines already taken.
fn result_on(mut c: KillOnDrop, rx: &Receiver<String>, within: Duration) -> String {
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
fn prune_under_tailer_processes_and_a_writer_process_loses_nothing_it_must_keep() {
    let total = env_count("JOURNAL_SET_PRUNE_EVENTS", 40_000);
    let dir = fast_dir("set-prune-procs");
    let set = dir.path().join("set");
    new_set(&set);
    let seed = 0x9_12E ^ u64::from(std::process::id());
    let tailers = [
        child("prune-tailer", &set, total, seed),
        child("prune-tailer-far", &set, total, mix(seed)),
    ];
    // Each tailer has its tail open at event 0 before the writer (and so retention) starts: a
    // tailer started late would begin at whatever retention left.
    let tailers = tailers.map(|mut c| {
        let rx = lines(c.stdout.take().unwrap());
        let line = rx.recv_timeout(PATIENCE).expect("the tailer did not start");
        assert_eq!(line, "GOT ready");
        (c, rx)
    });
    let writer = child("prune-writer", &set, total, seed);
    // The pruner: keeps 3 to 5 segments, in a loop, until the readers are done. Every segment it
    // removes must have been sealed: a later segment existed when it was removed.
    let stop = Arc::new(AtomicBool::new(false));
    let removed = Arc::new(Mutex::new(Vec::<u64>::new()));
    let pruner = {
        let (set, stop, removed) = (set.clone(), Arc::clone(&stop), Arc::clone(&removed));
        std::thread::spawn(move || {
            let mut rng = Rng(seed);
            while !stop.load(Ordering::Acquire) {
                let keep = 3 + rng.below(3);
                let policy = PrunePolicy {
                    keep: Some(keep),
                    ..PrunePolicy::default()
                };
                for r in prune(&set, &policy).unwrap() {
                    let after = list_segments(&set).unwrap();
                    let newest = after.last().expect("the newest segment is never removed");
                    assert!(
                        r.summary.first_index < newest.first_index,
                        "removed {} with no later segment",
                        r.path.display()
                    );
                    assert!(r.summary.events > 0, "a sealed segment is never empty");
                    removed.lock().unwrap().push(r.summary.first_index);
                }
                std::thread::yield_now();
            }
        })
    };
    let within = Duration::from_secs(300);
    assert_eq!(result_of(writer, within), format!("wrote {total}"));
    let mut forced_pruned = 0;
    for (k, (t, rx)) in tailers.into_iter().enumerate() {
        let res = result_on(t, &rx, within);
        let v: Vec<u64> = res
            .strip_prefix("tailed ")
            .unwrap()
            .split(' ')
            .map(|s| s.parse().unwrap())
            .collect();
        let (next, skipped, pruned, stalls, from_removed) = (v[0], v[1], v[2], v[3], v[4]);
        eprintln!(
            "tailer {k}: {next} events, {skipped} skipped over {pruned} pruned errors, \
             {stalls} stalls, {from_removed} events read from a removed segment"
        );
        assert_eq!(next, total);
        assert!(stalls > 0, "tailer {k} was never overtaken by retention");
        assert!(
            from_removed > 0,
            "tailer {k} read nothing from a removed segment"
        );
        if k == 1 {
            forced_pruned = pruned;
        }
    }
    assert!(forced_pruned > 0, "the far tailer never got Pruned");
    stop.store(true, Ordering::Release);
    pruner.join().unwrap();
    // The writer lost nothing: the remaining segments chain from the first available event to
    // the last one written, each event the one appended.
    let reader = SetReader::open(&set).unwrap();
    let report = reader.verify().unwrap();
    assert!(report.is_intact(), "{report:?}");
    let first = report.first_index();
    assert!(first > 0, "nothing was pruned");
    assert_eq!(first + report.events(), total, "events lost at the end");
    let mut it = reader.iter();
    let mut n = first;
    while let Some(e) = it.next_event() {
        let e = e.unwrap();
        assert_eq!(e.index, n);
        check_event(&e);
        n += 1;
    }
    assert_eq!(n, total);
    let removed = removed.lock().unwrap();
    assert!(removed.len() > 20, "{} segments removed", removed.len());
}

#[test]
fn a_named_cursor_on_a_set_killed_and_resumed_100_times_commits_every_event_once() {
    let kills = env_count("JOURNAL_CURSOR_KILLS", 100);
    let dir = fast_dir("set-cursor-kills");
    let set = dir.path().join("set");
    new_set(&set);
    let seed = 0xC0_5E7 ^ u64::from(std::process::id());
    // The writer keeps up to 3,000 events (about 70 segments) ahead of the committed position.
    let mut writer = child("cursor-writer", &set, 3_000, seed);
    let wrx = lines(writer.stdout.take().unwrap());
    wrx.recv_timeout(PATIENCE).expect("the writer started");
    let mut rng = Rng(seed);
    // Each life: (where it started, what it delivered, the position committed when it died).
    let mut expect_start = 0u64;
    let mut delivered_total = 0u64;
    let mut lives_with_events = 0;
    let mut segments_at = Vec::new();
    for life in 0..kills {
        let mut c = child("cursor-reader", &set, 0, seed);
        let rx = lines(c.stdout.take().unwrap());
        let first = rx.recv_timeout(PATIENCE).expect("the reader started");
        let start: u64 = first.strip_prefix("GOT start ").unwrap().parse().unwrap();
        assert_eq!(
            start, expect_start,
            "life {life} resumed at {start}, the last commit was {expect_start}"
        );
        // Killed at a random moment while it reads (and the writer rolls).
        std::thread::sleep(Duration::from_micros(rng.below(15_000)));
        c.kill().unwrap();
        let status = c.wait().unwrap();
        assert!(!status.success(), "life {life} ended by itself: {status:?}");
        let got: Vec<u64> = rx
            .iter()
            .filter_map(|l| l.strip_prefix("GOT ").and_then(|v| v.parse().ok()))
            .collect();
        // Nothing is in use after the kill (the lock died with the process); the committed
        // position is what the next life resumes from.
        let info = NamedCursor::read(&set, CURSOR).unwrap();
        assert!(!info.in_use, "life {life}: the cursor is still in use");
        let committed = info.position;
        // It delivered exactly start..committed, in order (and maybe one more, delivered but
        // not committed when it died, which the next life delivers again).
        assert!(committed >= start);
        let n = (committed - start) as usize;
        assert!(got.len() == n || got.len() == n + 1, "life {life}: {got:?}");
        assert!(
            got.iter().copied().eq(start..start + got.len() as u64),
            "life {life}: {got:?}"
        );
        delivered_total += committed - start;
        if committed > start {
            lives_with_events += 1;
        }
        expect_start = committed;
        segments_at.push(list_segments(&set).unwrap().len());
    }
    // The last life, with the writer stopped, runs to the end of what was written.
    writer.kill().unwrap();
    writer.wait().unwrap();
    let end = SetWriterOptions::new().open(&set).unwrap().events();
    let c = child("cursor-reader", &set, end, seed);
    assert_eq!(
        result_of(c, Duration::from_secs(120)),
        format!("done {end}")
    );
    delivered_total += end - expect_start;
    assert_eq!(delivered_total, end, "every event committed exactly once");
    assert_eq!(NamedCursor::read(&set, CURSOR).unwrap().position, end);
    let segments = list_segments(&set).unwrap().len();
    eprintln!(
        "{kills} kills: {end} events over {segments} segments, {lives_with_events} lives \
         committed events"
    );
    assert!(
        lives_with_events * 2 > kills,
        "only {lives_with_events} of {kills} lives read anything"
    );
    assert!(
        segments > 100,
        "only {segments} segments: the writer hardly rolled"
    );
    let report = SetReader::open(&set).unwrap().verify().unwrap();
    assert!(report.is_intact(), "{report:?}");
}
