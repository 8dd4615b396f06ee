//! The sync handle (FORMAT.md 9): a sync of `[0, write_offset)` from another thread while the
//! writer appends, which leaves the pages pre-faulted ahead of `write_offset` alone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use journal::{Reader, SyncPolicy, Writer, WriterOptions};

use crate::support::{payload_for, read_all, timestamp_for, TempDir};

/// Minor page faults taken so far by the calling thread.
fn thread_minor_faults() -> u64 {
    let mut u = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes one rusage into the pointer, which is valid for it.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, u.as_mut_ptr()) };
    assert_eq!(rc, 0, "getrusage: {}", std::io::Error::last_os_error());
    // SAFETY: initialised by the successful call above.
    unsafe { u.assume_init() }.ru_minflt as u64
}

#[test]
fn a_sync_from_another_thread_covers_what_was_published_before_it() {
    let dir = TempDir::new("syncer");
    let path = dir.join("j");
    let mut o = WriterOptions::new();
    o.sync_policy(SyncPolicy::Never)
        .chunk_size(1 << 20)
        .pretouch_thread(true);
    let mut w = o.create(&path).unwrap();
    let s = w.syncer().unwrap();
    let published = std::sync::atomic::AtomicU64::new(w.write_offset());
    let done = AtomicBool::new(false);
    let n = 20_000u64;
    std::thread::scope(|scope| {
        let syncs = scope.spawn(|| {
            let mut syncs = 0u64;
            let mut last = 0u64;
            while !done.load(Ordering::Acquire) || syncs == 0 {
                let before = published.load(Ordering::Acquire);
                let wo = s.sync().unwrap();
                assert!(
                    wo >= before,
                    "synced to {wo}, but {before} was published before"
                );
                assert!(wo >= last, "synced offsets go back: {last} then {wo}");
                last = wo;
                syncs += 1;
            }
            syncs
        });
        for i in 0..n {
            w.append(timestamp_for(i), &payload_for(i, 300)).unwrap();
            published.store(w.write_offset(), Ordering::Release);
        }
        done.store(true, Ordering::Release);
        assert!(syncs.join().unwrap() > 0);
    });
    // A last sync covers every event.
    let end = w.write_offset();
    assert_eq!(s.sync().unwrap(), end);
    assert!(!s.writer_closed());
    w.close().unwrap();
    assert!(s.writer_closed());
    assert_eq!(
        s.sync().unwrap(),
        end,
        "after close it syncs what the writer left"
    );
    let got = read_all(&path);
    assert_eq!(got.len() as u64, n);
    assert!(Reader::open(&path).unwrap().verify().unwrap().is_intact());
}

/// The handle holds its own mapping: syncing while (and after) the writer closes or is dropped is
/// safe, never an error or a crash, and covers what the writer left.
#[test]
fn a_syncer_outlives_its_writer_closed_or_dropped() {
    let dir = TempDir::new("syncer-close");
    for close in [true, false] {
        let path = dir.join(if close { "closed" } else { "dropped" });
        let mut o = WriterOptions::new();
        o.chunk_size(1 << 16).pretouch_thread(true);
        let mut w = o.create(&path).unwrap();
        let s = w.syncer().unwrap();
        let stop = AtomicBool::new(false);
        let end = std::thread::scope(|scope| {
            let t = scope.spawn(|| {
                let deadline = Instant::now() + Duration::from_secs(30);
                let mut last = 0;
                while !stop.load(Ordering::Acquire) {
                    let wo = s.sync().unwrap();
                    assert!(wo >= last, "synced offsets go back: {last} then {wo}");
                    last = wo;
                    assert!(Instant::now() < deadline, "the writer never closed");
                }
                last
            });
            for i in 0..5_000u64 {
                w.append(timestamp_for(i), &payload_for(i, 100)).unwrap();
            }
            if close {
                w.close().unwrap();
            } else {
                drop(w);
            }
            // Wait until the syncing thread saw the writer gone.
            let deadline = Instant::now() + Duration::from_secs(30);
            while !s.writer_closed() {
                assert!(Instant::now() < deadline);
                std::thread::yield_now();
            }
            let clone = s.clone();
            let end = clone.sync().unwrap();
            stop.store(true, Ordering::Release);
            assert_eq!(t.join().unwrap(), end);
            end
        });
        // The writer's close cut the file at its final `write_offset`, which the last sync covered.
        assert_eq!(std::fs::metadata(&path).unwrap().len(), end);
        assert_eq!(read_all(&path).len(), 5_000);
    }
}

/// The point of the handle: it writes back `[0, write_offset)` only, so the pages pre-faulted past
/// `write_offset` stay mapped writable and the appends into them take no page fault (an
/// `fdatasync` of the whole file would write them back and make every one fault again).
#[test]
fn a_sync_leaves_the_pages_prefaulted_ahead_alone() {
    let dir = TempDir::new("syncer-faults");
    let path = dir.join("j");
    let chunk = 1u64 << 20;
    let mut o = WriterOptions::new();
    o.sync_policy(SyncPolicy::Never)
        .index(false)
        .chunk_size(chunk)
        .prefault(true);
    let mut w: Writer = o.create(&path).unwrap();
    let payload = vec![7u8; 1000];
    w.append(1, &payload).unwrap();
    // Ready (allocated and pre-faulted) up to two chunks; appends below that do not grow.
    w.pretouch().unwrap();
    let s = w.syncer().unwrap();
    // On another thread, as the mirror's checkpoint runs it.
    std::thread::scope(|scope| {
        scope
            .spawn(|| assert_eq!(s.sync().unwrap(), w.write_offset()))
            .join()
            .unwrap()
    });
    let before = thread_minor_faults();
    let mut ts = 2;
    while w.write_offset() + 2048 < chunk {
        w.append(ts, &payload).unwrap();
        ts += 1;
    }
    let faults = thread_minor_faults() - before;
    // 256 pages appended into; the page holding `write_offset` at the sync was written back, so
    // it faults once.
    assert!(
        faults <= 8,
        "{faults} page faults appending into pre-faulted pages after a sync"
    );
    w.close().unwrap();
}
