//! Blocking waits of a journal set's tailer (`WaitStrategy::Block`, spec/SET.md 6.5.1): the set has
//! one wake-up file, `journal-set.wake`, which every segment's writer wakes through; a tailer in
//! another process sleeps on it and is woken by each append, across rolls too, with no wake-up
//! lost; an idle tailer sleeps instead of polling; segments get no wake-up file of their own.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use journal::set::layout::WAKE_FILE;
use journal::set::{list_segments, RollPolicy};
use journal::{SetReader, SetWriter, SetWriterOptions, WaitStrategy, WriterOptions};

use crate::process::{child, lines, say};
use crate::support::{payload_for, wait_for, TempDir};
use crate::tail_block::{
    barrier_in, child_deadline, read_wake, EVENT_DEADLINE, LONG_RECHECK, SLEEP_AT_ONCE,
};

/// The longest payload of these tests' events: about 1000 bytes on average, so a 64 KiB roll size
/// makes segments of some 60 events.
const MAX_PAYLOAD: usize = 2000;

/// How long the paused tailer pauses between its last poll and its announcement: far longer than
/// the parent takes to append once it has the tailer's line, so that the append lands in the pause.
const PAUSE: Duration = Duration::from_millis(2);

/// Child roles for these tests (called from `tail_block::child_role`).
pub(crate) fn child_role(role: &str, path: &Path, out: &mut impl Write) {
    match role {
        // Follow the set from its end with a blocking wait that sleeps at once, checking that the
        // events come once each and in order (index, timestamp, payload), saying "GOT i" for
        // each, until the count read from stdin. The paused one pauses before each announcement
        // that it sleeps (PAUSE).
        "set-block-tailer" | "set-block-tailer-paused" => {
            let total: u64 = crate::support::count_from_stdin();
            let r = SetReader::open(path).unwrap();
            r.set_wake_recheck(LONG_RECHECK);
            if role == "set-block-tailer-paused" {
                r.set_wake_pause(PAUSE);
            }
            let mut t = r.tail_from_end().unwrap();
            say(out, "RES ready".to_string());
            let mut want = t.index();
            while want < total {
                let e = t
                    .wait(SLEEP_AT_ONCE, child_deadline())
                    .unwrap()
                    .expect("no event within the deadline");
                assert_eq!(e.index, want, "events out of order or repeated");
                assert_eq!(e.timestamp, e.index as i64);
                assert_eq!(e.payload, payload_for(e.index, MAX_PAYLOAD));
                say(out, format!("GOT {}", e.index));
                want += 1;
            }
        }
        other => panic!("unknown child role {other}"),
    }
}

/// A new set in `dir` rolling every `roll` bytes.
fn create(dir: &TempDir, roll: u64) -> (PathBuf, SetWriter) {
    let set = dir.join("set");
    let w = SetWriterOptions::new()
        .roll(RollPolicy::by_size(roll))
        .chunk_size(64 << 10)
        .create(&set)
        .unwrap();
    (set, w)
}

/// [`create`], if its writer registered for the waiters' barrier: without it (a kernel without
/// `membarrier`) a lost wake-up costs 1 ms instead of a hang, and the tests that detect lost
/// wake-ups by hanging cannot run.
fn create_with_barrier(dir: &TempDir, roll: u64) -> Option<(PathBuf, SetWriter)> {
    let (set, w) = create(dir, roll);
    barrier_in(&set.join(WAKE_FILE)).then_some((set, w))
}

fn append(w: &mut SetWriter, i: u64) {
    assert_eq!(w.append(i as i64, &payload_for(i, MAX_PAYLOAD)).unwrap(), i);
}

/// Starts a set tailer process in `role` on `set` for `total` events; returns its lines once it
/// is ready.
fn tailer(
    role: &str,
    set: &Path,
    total: u64,
) -> (
    crate::support::KillOnDrop,
    std::sync::mpsc::Receiver<String>,
) {
    let mut c = child(role, set);
    let rx = lines(c.stdout.take().unwrap());
    writeln!(c.stdin.as_mut().unwrap(), "{total}").unwrap();
    assert_eq!(rx.recv_timeout(EVENT_DEADLINE).unwrap(), "RES ready");
    (c, rx)
}

fn expect_got(rx: &std::sync::mpsc::Receiver<String>, i: u64) {
    let got = rx
        .recv_timeout(EVENT_DEADLINE)
        .unwrap_or_else(|_| panic!("lost wake-up: event {i} not received by the deadline"));
    assert_eq!(got, format!("GOT {i}"));
}

#[test]
fn a_set_tailer_process_asleep_is_woken_by_each_append_across_rolls() {
    let dir = TempDir::new("setblock");
    // 4 KiB segments: a roll every few events, so some appends roll and some do not.
    let Some((set, mut w)) = create_with_barrier(&dir, 4096) else {
        return;
    };
    let wake = set.join(WAKE_FILE);
    let rounds = 40u64;
    let (mut c, rx) = tailer("set-block-tailer", &set, rounds);
    for i in 0..rounds {
        // The tailer announced it sleeps (and, with no spins, goes to sleep right after).
        wait_for("the tailer to sleep", || read_wake(&wake).sleeping != 0);
        let before = w.segment().wake_calls().unwrap();
        append(&mut w, i);
        assert_eq!(
            w.segment().wake_calls().unwrap(),
            before + 1,
            "append {i} did not wake the sleeping tailer"
        );
        expect_got(&rx, i);
    }
    assert!(c.wait().unwrap().success());
    assert_eq!(read_wake(&wake).wakes, rounds);
    assert!(
        list_segments(&set).unwrap().len() >= 5,
        "the appends should have rolled the set"
    );
}

#[test]
fn a_set_tailer_process_follows_many_rolls_losing_no_wake_up() {
    // First in lockstep (one append, then wait until the tailer has it, so that appends and rolls
    // land at any point of the tailer's way back to sleep; a lost wake-up hangs it for an hour,
    // LONG_RECHECK, past the deadline), then in a burst. The tailer checks every event comes once
    // and in order.
    let rounds = crate::support::env_count("JOURNAL_TAIL_BLOCK_ROUNDS", 3000);
    let burst = rounds;
    let dir = TempDir::new("setblockrolls");
    let Some((set, mut w)) = create_with_barrier(&dir, 64 << 10) else {
        return;
    };
    let (mut c, rx) = tailer("set-block-tailer", &set, rounds + burst);
    for i in 0..rounds {
        append(&mut w, i);
        expect_got(&rx, i);
    }
    for i in rounds..rounds + burst {
        append(&mut w, i);
    }
    for i in rounds..rounds + burst {
        expect_got(&rx, i);
    }
    assert!(c.wait().unwrap().success());
    let segments = list_segments(&set).unwrap().len() as u64;
    // Some 60 events a segment.
    assert!(
        segments >= (rounds + burst) / 120,
        "{segments} segments for {} events",
        rounds + burst
    );
    let calls = w.segment().wake_calls().unwrap();
    assert!(calls > 0, "the tailer never slept");
    assert!(
        calls <= rounds + burst,
        "{calls} wake-up calls for {} appends",
        rounds + burst
    );
}

#[test]
fn a_roll_published_before_the_tailer_announces_itself_is_not_slept_through() {
    // The tailer pauses between its last poll and its announcement, and the parent appends during
    // the pause: the writer sees nobody sleeping and wakes nobody, and a roll leaves the tailer's
    // segment as it was. Only the check of the next segment's name (SET.md 6.5.1 step 4) keeps
    // the tailer from sleeping through it, for an hour (LONG_RECHECK), past the deadline.
    let dir = TempDir::new("setblockpause");
    // 4 KiB segments: about one append in four rolls.
    let Some((set, mut w)) = create_with_barrier(&dir, 4096) else {
        return;
    };
    let rounds = 200u64;
    let (mut c, rx) = tailer("set-block-tailer-paused", &set, rounds);
    for i in 0..rounds {
        append(&mut w, i);
        expect_got(&rx, i);
    }
    assert!(c.wait().unwrap().success());
    assert!(
        list_segments(&set).unwrap().len() >= 20,
        "the appends should have rolled the set many times"
    );
}

/// The blocking rounds a caught-up tailer of `r` makes waiting `idle` for an event that does not
/// come.
fn idle_rounds(r: &SetReader, t: &mut journal::SetTailer<'_>, idle: Duration) -> u64 {
    let before = r.wait_rounds();
    let got = t
        .wait(WaitStrategy::BLOCK, Some(Instant::now() + idle))
        .unwrap();
    assert!(got.is_none(), "no event was appended");
    r.wait_rounds() - before
}

#[test]
fn an_idle_blocking_set_tailer_sleeps_instead_of_polling() {
    let dir = TempDir::new("setblockidle");
    let Some((set, mut w)) = create_with_barrier(&dir, 4096) else {
        return;
    };
    let r = SetReader::open(&set).unwrap();
    // One sleep lasts until the deadline: a tailer that polls (1 ms back-offs, or a check that
    // never lets it sleep) makes hundreds of rounds in the idle period instead of one.
    r.set_wake_recheck(LONG_RECHECK);
    let idle = Duration::from_millis(300);
    let mut t = r.tail_from_end().unwrap();
    // On the new set's empty first segment.
    let rounds = idle_rounds(&r, &mut t, idle);
    assert!((1..=2).contains(&rounds), "{rounds} rounds idle");
    // Past a few rolls, at the end of a segment with events.
    for i in 0..20 {
        append(&mut w, i);
    }
    for i in 0..20 {
        let e = t
            .wait(WaitStrategy::BLOCK, Some(Instant::now() + EVENT_DEADLINE))
            .unwrap()
            .expect("event");
        assert_eq!(e.index, i);
    }
    assert!(
        w.segment_first_index() > 0,
        "the appends should have rolled"
    );
    let rounds = idle_rounds(&r, &mut t, idle);
    assert!((1..=2).contains(&rounds), "{rounds} rounds idle");
}

#[test]
fn a_set_keeps_one_wake_up_file_of_the_spec_and_none_per_segment() {
    let dir = TempDir::new("setwakefile");
    let (set, mut w) = create(&dir, 4096);
    for i in 0..40 {
        append(&mut w, i);
    }
    w.prepare_next().unwrap();
    let wake = set.join(WAKE_FILE);
    let bytes = std::fs::read(&wake).unwrap();
    assert_eq!(bytes.len(), 32);
    let flags = read_wake(&wake).flags;
    // Nobody slept: the independent decoder reads the file FORMAT.md 15.2 describes.
    assert_eq!(
        crate::spec_impl::wake::outcome(&bytes),
        format!("usable version=1 flags={flags} seq=0 sleeping=0 wakes=0")
    );
    let wake_files: Vec<String> = std::fs::read_dir(&set)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".wake"))
        .collect();
    assert_eq!(wake_files, [WAKE_FILE], "segments have no wake-up file");
    assert!(list_segments(&set).unwrap().len() > 1);
    w.close().unwrap();
    // The set's clean close clears the barrier flag (FORMAT.md 15.2).
    assert_eq!(read_wake(&wake).flags, 0);
    // The next writer keeps the file.
    let w = SetWriter::open(&set).unwrap();
    assert_eq!(read_wake(&wake).version, 1);
    drop(w);

    // Without the wake-up file in the segment options, the set keeps none.
    let other = dir.join("nowake");
    let mut segment = WriterOptions::new();
    segment.wake_file(false);
    let mut w = SetWriterOptions::new()
        .roll(RollPolicy::by_size(4096))
        .segment_options(segment)
        .create(&other)
        .unwrap();
    for i in 0..40 {
        append(&mut w, i);
    }
    assert_eq!(w.segment().wake_calls(), None);
    w.close().unwrap();
    let any_wake = std::fs::read_dir(&other)
        .unwrap()
        .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".wake"));
    assert!(!any_wake);
}
