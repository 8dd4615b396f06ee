//! Blocking waits of a journal's tailer (`WaitStrategy::Block`, spec/FORMAT.md 15): a tailer in
//! another process (or thread) sleeps on the journal's wake-up file and the writer wakes it, with no
//! wake-up lost; the writer makes no wake-up call while nobody sleeps; a missing or damaged
//! wake-up file makes the tailer back off instead, never fail.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use journal::wake::{decode_wake, wake_path, WakeHeader, FLAG_BARRIER};
use journal::{Reader, WaitStrategy, Writer};

use crate::process::{child, lines, say};
use crate::support::{skip, wait_for, InCi, TempDir};

/// Sleep at the first caught-up poll, so that every wait goes through the futex.
pub(crate) const SLEEP_AT_ONCE: WaitStrategy = WaitStrategy::Block { spins: 0 };

/// How long one sleep may last in these tests: a lost wake-up then hangs a wait far past the
/// deadlines below, and fails the test, instead of costing the default 100 ms.
pub(crate) const LONG_RECHECK: Duration = Duration::from_secs(3600);

/// The deadline for one event to arrive: generous, not a timing target.
pub(crate) const EVENT_DEADLINE: Duration = Duration::from_secs(30);

/// The deadline of a child tailer's wait for one event: generous, not a timing target.
pub(crate) fn child_deadline() -> Option<Instant> {
    Some(Instant::now() + Duration::from_secs(120))
}

/// Child roles for these tests (called from `wait::child_role`).
pub(crate) fn child_role(role: &str, path: &Path, out: &mut impl std::io::Write) {
    match role {
        // Follow the journal from its end with a blocking wait that sleeps at once, saying
        // "GOT i" for each event, until the count read from stdin.
        "journal-block-tailer" => {
            let total: u64 = crate::support::count_from_stdin();
            let r = Reader::open(path).unwrap();
            r.set_wake_recheck(LONG_RECHECK);
            let mut t = r.tail_from_end().unwrap();
            say(out, "RES ready".to_string());
            while t.index() < total {
                let e = t
                    .wait(SLEEP_AT_ONCE, child_deadline())
                    .unwrap()
                    .expect("no event within the deadline");
                assert_eq!(e.timestamp, e.index as i64);
                say(out, format!("GOT {}", e.index));
            }
        }
        other => crate::set_block::child_role(other, path, out),
    }
}

/// The wake-up file beside `journal`, decoded from the file (not through the writer).
fn wake_header(journal: &Path) -> WakeHeader {
    read_wake(&wake_path(journal))
}

/// The wake-up file at `path`, decoded from the file.
pub(crate) fn read_wake(path: &Path) -> WakeHeader {
    let mut b = [0u8; 32];
    std::fs::File::open(path)
        .unwrap()
        .read_exact_at(&mut b, 0)
        .unwrap();
    decode_wake(&b).expect("a valid wake-up file")
}

/// Whether the writer that made the wake-up file beside `journal` registered for the waiters'
/// barrier; when it did not (a kernel without `membarrier`), a lost wake-up costs 1 ms instead of
/// a hang and the tests that detect lost wake-ups by hanging cannot run.
fn barrier_in_place(journal: &Path) -> bool {
    barrier_in(&wake_path(journal))
}

/// [`barrier_in_place`] for the wake-up file at `path`.
pub(crate) fn barrier_in(path: &Path) -> bool {
    if read_wake(path).flags & FLAG_BARRIER != 0 {
        return true;
    }
    skip(
        "membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED)",
        "the writer could not register, so tailers sleep 1 ms at most",
        InCi::Required,
    );
    false
}

/// Waits until a waiter (`who`) announced in the wake-up file beside `path` that it sleeps, then
/// appends event `i` (timestamp `i`) and checks that the append made the one wake-up call.
fn append_to_a_sleeper(w: &mut Writer, path: &Path, i: u64, payload: &[u8], who: &str) {
    wait_for(&format!("the {who} to sleep"), || {
        wake_header(path).sleeping != 0
    });
    let before = w.wake_calls().unwrap();
    w.append(i as i64, payload).unwrap();
    assert_eq!(
        w.wake_calls().unwrap(),
        before + 1,
        "the append did not wake the sleeping {who}"
    );
}

fn create(dir: &TempDir) -> (std::path::PathBuf, Writer) {
    let path = dir.join("j");
    let w = Writer::options().chunk_size(1 << 20).create(&path).unwrap();
    (path, w)
}

#[test]
fn a_tailer_process_asleep_is_woken_by_each_append() {
    let dir = TempDir::new("tailblock");
    let (path, mut w) = create(&dir);
    if !barrier_in_place(&path) {
        return;
    }
    let rounds = 20u64;
    let mut c = child("journal-block-tailer", &path);
    let rx = lines(c.stdout.take().unwrap());
    use std::io::Write;
    writeln!(c.stdin.as_mut().unwrap(), "{rounds}").unwrap();
    assert_eq!(rx.recv_timeout(EVENT_DEADLINE).unwrap(), "RES ready");
    for i in 0..rounds {
        // The tailer announced it sleeps (and, with no spins, goes to sleep right after).
        append_to_a_sleeper(&mut w, &path, i, b"after a pause", "tailer");
        let got = rx
            .recv_timeout(EVENT_DEADLINE)
            .unwrap_or_else(|_| panic!("the tailer did not get event {i}"));
        assert_eq!(got, format!("GOT {i}"));
    }
    assert!(c.wait().unwrap().success());
    assert_eq!(wake_header(&path).wakes, rounds);
}

#[test]
fn a_tailer_process_loses_no_wake_up_over_many_appends() {
    // Each round: one append, then the writer waits until the tailer has it, so the append lands
    // at any point of the tailer's way back to sleep. A lost wake-up hangs the tailer for an hour
    // (LONG_RECHECK), past the deadline.
    let rounds = crate::support::env_count("JOURNAL_TAIL_BLOCK_ROUNDS", 3000);
    let dir = TempDir::new("tailblockmany");
    let (path, mut w) = create(&dir);
    if !barrier_in_place(&path) {
        return;
    }
    let mut c = child("journal-block-tailer", &path);
    let rx = lines(c.stdout.take().unwrap());
    use std::io::Write;
    writeln!(c.stdin.as_mut().unwrap(), "{rounds}").unwrap();
    assert_eq!(rx.recv_timeout(EVENT_DEADLINE).unwrap(), "RES ready");
    for i in 0..rounds {
        w.append(i as i64, b"tick").unwrap();
        let got = rx
            .recv_timeout(EVENT_DEADLINE)
            .unwrap_or_else(|_| panic!("lost wake-up: event {i} not received by the deadline"));
        assert_eq!(got, format!("GOT {i}"));
    }
    assert!(c.wait().unwrap().success());
    let calls = w.wake_calls().unwrap();
    assert!(calls > 0, "the tailer never slept");
    assert!(
        calls <= rounds,
        "{calls} wake-up calls for {rounds} appends"
    );
}

#[test]
fn tailer_threads_lose_no_wake_up_over_many_appends() {
    // As above with two tailer threads of this process, which also holds the writer: both sleep
    // on the same word, and one wake-up call wakes both.
    let rounds = crate::support::env_count("JOURNAL_TAIL_BLOCK_ROUNDS", 3000);
    let dir = TempDir::new("tailblockthreads");
    let (path, mut w) = create(&dir);
    if !barrier_in_place(&path) {
        return;
    }
    let reader = Arc::new(Reader::open(&path).unwrap());
    reader.set_wake_recheck(LONG_RECHECK);
    let seen: Vec<Arc<AtomicU64>> = (0..2).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let threads: Vec<_> = seen
        .iter()
        .map(|seen| {
            let mut t = reader.clone().into_tailer();
            let seen = seen.clone();
            std::thread::spawn(move || {
                while t.index() < rounds {
                    let e = t
                        .wait(SLEEP_AT_ONCE, Some(Instant::now() + EVENT_DEADLINE))
                        .unwrap()
                        .expect("lost wake-up: no event by the deadline");
                    assert_eq!(e.timestamp, e.index as i64);
                    seen.store(e.index + 1, Ordering::Release);
                }
            })
        })
        .collect();
    for i in 0..rounds {
        w.append(i as i64, b"tick").unwrap();
        let deadline = Instant::now() + EVENT_DEADLINE;
        for s in &seen {
            while s.load(Ordering::Acquire) <= i {
                assert!(Instant::now() < deadline, "lost wake-up at event {i}");
                std::thread::yield_now();
            }
        }
    }
    for t in threads {
        t.join().unwrap();
    }
    assert!(w.wake_calls().unwrap() > 0, "no tailer ever slept");
}

#[test]
fn the_writer_makes_no_wake_up_call_while_nobody_sleeps() {
    let dir = TempDir::new("tailnowake");
    let (path, mut w) = create(&dir);
    // A tailer that follows by polling, in another thread, the whole time.
    let reader = Arc::new(Reader::open(&path).unwrap());
    let mut t = reader.into_tailer();
    let n = 20_000u64;
    let follower = std::thread::spawn(move || {
        while t.index() < n {
            t.wait(
                WaitStrategy::BusySpin,
                Some(Instant::now() + EVENT_DEADLINE),
            )
            .unwrap()
            .expect("event");
        }
    });
    for i in 0..n {
        w.append(i as i64, b"nobody sleeps").unwrap();
    }
    follower.join().unwrap();
    assert_eq!(w.wake_calls(), Some(0));
    assert_eq!(wake_header(&path).sleeping, 0);
    assert_eq!(wake_header(&path).wakes, 0);
}

#[test]
fn a_blocking_tailer_backs_off_without_a_usable_wake_up_file() {
    for damage in ["deleted", "garbage", "short", "other version"] {
        let dir = TempDir::new("tailnofile");
        let path = dir.join("j");
        let mut w = Writer::create(&path).unwrap();
        let wake = wake_path(&path);
        match damage {
            "deleted" => std::fs::remove_file(&wake).unwrap(),
            "garbage" => std::fs::write(&wake, [0xa5u8; 32]).unwrap(),
            "short" => std::fs::write(&wake, b"JRNLWAKE").unwrap(),
            _ => {
                let f = std::fs::OpenOptions::new().write(true).open(&wake).unwrap();
                f.write_all_at(&2u32.to_le_bytes(), 8).unwrap();
            }
        }
        let reader = Reader::open(&path).unwrap();
        let mut t = reader.tail();
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..50 {
                    w.append(i, b"x").unwrap();
                    std::thread::sleep(Duration::from_micros(200));
                }
            });
            for i in 0..50 {
                let e = t
                    .wait(SLEEP_AT_ONCE, Some(Instant::now() + EVENT_DEADLINE))
                    .unwrap()
                    .unwrap_or_else(|| panic!("{damage}: event {i} not received"));
                assert_eq!(e.index, i as u64, "{damage}");
            }
        });
        // The file is no business of the journal: it was left as it was found.
        match damage {
            "deleted" => assert!(!wake.exists()),
            _ => assert!(
                decode_wake(&std::fs::read(&wake).unwrap()).is_none(),
                "{damage}"
            ),
        }
        drop(w);
        // The next writer makes it usable again.
        let w = Writer::open(&path).unwrap();
        assert!(wake_header(&path).version == 1, "{damage}");
        drop(w);
    }
}

#[test]
fn a_writer_without_the_wake_up_file_leaves_none() {
    let dir = TempDir::new("tailnowakeopt");
    let path = dir.join("j");
    let mut w = Writer::options().wake_file(false).create(&path).unwrap();
    w.append(1, b"x").unwrap();
    assert_eq!(w.wake_calls(), None);
    assert!(!wake_path(&path).exists());
}

/// `spec/vectors/wake/`: every vector gives its expected line with the library and with the
/// independent decoder, and every `.wake` file there has a line.
#[test]
fn wake_vectors_decode_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors/wake");
    let expected = std::fs::read_to_string(dir.join("expected.txt")).unwrap();
    let mut named = std::collections::BTreeSet::new();
    for line in expected.lines() {
        let (name, want) = line.split_once(' ').unwrap();
        named.insert(name.to_string());
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let lib = match decode_wake(&bytes) {
            Some(h) => format!(
                "usable version={} flags={} seq={} sleeping={} wakes={}",
                h.version, h.flags, h.seq, h.sleeping, h.wakes
            ),
            None => "unusable".to_string(),
        };
        assert_eq!(lib, want, "library on {name}");
        assert_eq!(
            crate::spec_impl::wake::outcome(&bytes),
            want,
            "spec_impl on {name}"
        );
    }
    for f in std::fs::read_dir(&dir).unwrap() {
        let name = f.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".wake") {
            assert!(named.contains(&name), "{name} has no line in expected.txt");
        }
    }
}

/// The file a writer makes is the one FORMAT.md 15.2 describes, as the independent decoder reads it.
#[test]
fn a_new_writer_makes_the_wake_up_file_of_the_spec() {
    let dir = TempDir::new("tailwakefile");
    let (path, w) = create(&dir);
    let bytes = std::fs::read(wake_path(&path)).unwrap();
    assert_eq!(bytes.len(), 32);
    let flags = wake_header(&path).flags;
    assert_eq!(
        crate::spec_impl::wake::outcome(&bytes),
        format!("usable version=1 flags={flags} seq=0 sleeping=0 wakes=0")
    );
    assert_eq!(flags & !FLAG_BARRIER, 0);
    w.close().unwrap();
    // A clean close clears the barrier flag (15.2).
    assert_eq!(wake_header(&path).flags, 0);
}

#[test]
fn a_following_replay_sleeps_on_the_wake_up_file_and_each_append_wakes_it() {
    let dir = TempDir::new("replayblock");
    let (path, mut w) = create(&dir);
    if !barrier_in_place(&path) {
        return;
    }
    let ring = dir.join("ring");
    journal::create_ring(&ring, 1 << 16).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let replayer = {
        let (path, ring, stop) = (path.clone(), ring.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let r = Reader::open(&path).unwrap();
            r.set_wake_recheck(LONG_RECHECK);
            let mut p = journal::Producer::attach(&ring).unwrap();
            let opts = journal::ReplayOptions::new();
            journal::replay_follow(&r, &mut p, &opts, SLEEP_AT_ONCE, &stop).unwrap()
        })
    };
    let mut c = journal::Consumer::attach(&ring).unwrap();
    let rounds = 20u64;
    for i in 0..rounds {
        // Caught up, the replay sleeps in the kernel rather than backing off in steps.
        append_to_a_sleeper(&mut w, &path, i, b"live", "replay");
        let mut got = Vec::new();
        let s = c
            .read_wait(
                1,
                |r| {
                    got.push((r.timestamp, r.payload.to_vec()));
                    std::ops::ControlFlow::Continue(())
                },
                WaitStrategy::BusySpin,
                Some(Instant::now() + EVENT_DEADLINE),
            )
            .unwrap();
        assert_eq!(s.records, 1, "the replay did not pass on event {i}");
        assert_eq!(got, [(i as i64, b"live".to_vec())]);
    }
    // The stop flag is seen while asleep (each wait is bounded), not at the next append.
    stop.store(true, Ordering::Release);
    let stats = replayer.join().unwrap();
    assert_eq!(stats.events, rounds);
}
