//! Writer behaviour: round-trips, growth, claims, locks, sync policies, poisoning, recovery.

use journal::{
    DamageReason, Error, Reader, RecoveryMode, SyncPolicy, WaitStrategy, Writer, WriterOptions,
    MAX_PAYLOAD,
};
use proptest::prelude::*;

use crate::support::{read_all, small_opts, TempDir};

fn sizes() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..64,
        4080usize..4112,    // around a page
        0usize..=64 * 1024, // anything up to 64 KiB
        Just(64 * 1024),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Appended events read back exactly, through small chunks so the file grows many times.
    #[test]
    fn roundtrip_across_chunks(events in prop::collection::vec((any::<i64>(), sizes()), 0..40),
                               seed in any::<u8>(), use_claim in any::<bool>()) {
        let dir = TempDir::new("roundtrip");
        let path = dir.join("j");
        let mut w = small_opts().create(&path).unwrap();
        let mut expect = Vec::new();
        for (i, (ts, len)) in events.iter().enumerate() {
            let payload: Vec<u8> = (0..*len).map(|k| (k as u8).wrapping_mul(seed).wrapping_add(i as u8)).collect();
            let index = if use_claim && i % 2 == 0 {
                let mut c = w.claim(*len).unwrap();
                c.as_mut_slice().copy_from_slice(&payload);
                c.commit(*ts).unwrap()
            } else {
                w.append(*ts, &payload).unwrap()
            };
            prop_assert_eq!(index, i as u64);
            expect.push((*ts, payload));
        }
        // A live reader sees everything before close, through iteration and through a tailer.
        let r = Reader::open(&path).unwrap();
        let got: Vec<_> = r.iter().map(|e| { let e = e.unwrap(); (e.timestamp, e.payload.to_vec()) }).collect();
        prop_assert_eq!(&got, &expect);
        let mut t = r.tail();
        for (i, (ts, p)) in expect.iter().enumerate() {
            let e = t.poll().unwrap().unwrap();
            prop_assert_eq!((e.index, e.timestamp, e.payload), (i as u64, *ts, &p[..]));
        }
        prop_assert!(t.poll().unwrap().is_none());
        let wo = w.write_offset();
        w.close().unwrap();
        prop_assert_eq!(std::fs::metadata(&path).unwrap().len(), wo);
        prop_assert_eq!(read_all(&path), expect.clone());
        let rep = Reader::open(&path).unwrap().verify().unwrap();
        prop_assert!(rep.is_intact());
        prop_assert_eq!((rep.events, rep.end, rep.event_count_hint), (expect.len() as u64, wo, expect.len() as u64));
    }
}

#[test]
fn reopen_appends_after_existing_events() {
    let dir = TempDir::new("reopen");
    let path = dir.join("j");
    let mut w = small_opts().create(&path).unwrap();
    for i in 0..100 {
        w.append(i, &vec![i as u8; i as usize * 13]).unwrap();
    }
    drop(w);
    let mut w = small_opts().open(&path).unwrap();
    assert_eq!(w.events(), 100);
    assert_eq!(w.recovered(), None, "a clean close needs no recovery");
    assert_eq!(w.append(100, b"more").unwrap(), 100);
    w.close().unwrap();
    let all = read_all(&path);
    assert_eq!(all.len(), 101);
    assert_eq!(all[99], (99, vec![99u8; 99 * 13]));
    assert_eq!(all[100], (100, b"more".to_vec()));
}

#[test]
fn create_refuses_existing_path_and_symlink() {
    let dir = TempDir::new("exists");
    let path = dir.join("j");
    Writer::create(&path).unwrap().close().unwrap();
    assert!(matches!(
        Writer::create(&path),
        Err(Error::AlreadyExists { .. })
    ));
    // A symlink planted at the path is not followed, by create or by open.
    let target = dir.join("target");
    std::fs::write(&target, b"precious").unwrap();
    let link = dir.join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert!(Writer::create(&link).is_err());
    assert!(Writer::open(&link).is_err());
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
}

#[test]
fn second_writer_gets_locked_and_first_is_unharmed() {
    let dir = TempDir::new("locked");
    let path = dir.join("j");
    let mut w = Writer::create(&path).unwrap();
    w.append(1, b"first").unwrap();
    let err = Writer::open(&path).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains("locked"), "{err}");
    assert!(matches!(
        WriterOptions::new().open_or_create(&path),
        Err(Error::Locked { .. })
    ));
    assert!(Reader::open(&path).unwrap().writer_present().unwrap());
    w.append(2, b"second").unwrap();
    w.close().unwrap();
    assert!(!Reader::open(&path).unwrap().writer_present().unwrap());
    assert_eq!(
        read_all(&path),
        vec![(1, b"first".to_vec()), (2, b"second".to_vec())]
    );
    // The lock is released by close: a new writer may open.
    Writer::open(&path).unwrap().close().unwrap();
}

#[test]
fn dropped_claim_leaves_no_trace() {
    let dir = TempDir::new("claim");
    let path = dir.join("j");
    let mut w = small_opts().create(&path).unwrap();
    w.append(1, b"kept").unwrap();
    let wo = w.write_offset();
    let r = Reader::open(&path).unwrap();
    {
        let mut c = w.claim(100).unwrap();
        // Fill the claim with bytes that form a valid-looking entry.
        let fake = std::fs::read(&path).unwrap();
        let n = c.capacity().min(fake.len() - 24);
        c.as_mut_slice()[..n].copy_from_slice(&fake[24..24 + n]);
        // Readers see nothing while the claim is open.
        assert_eq!(r.verify().unwrap().events, 1);
    }
    assert_eq!(w.write_offset(), wo);
    assert_eq!(w.events(), 1);
    assert_eq!(r.verify().unwrap().events, 1);
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        bytes[wo as usize..].iter().all(|&b| b == 0),
        "abandoned claim left bytes"
    );
    // A later claim committed with fewer bytes than reserved.
    let mut c = w.claim(64).unwrap();
    c.as_mut_slice().fill(0xEE);
    c.as_mut_slice()[..3].copy_from_slice(b"abc");
    assert_eq!(c.commit_len(2, 3).unwrap(), 1);
    // Regression (found by the model fuzzer): the unused part of a short commit is zeroed, so it
    // can never pass for an entry past write_offset.
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        bytes[w.write_offset() as usize..].iter().all(|&b| b == 0),
        "a short commit left claimed bytes behind"
    );
    let c = w.claim(4).unwrap();
    assert!(matches!(c.commit_len(3, 5), Err(Error::InvalidArgument(_))));
    w.close().unwrap();
    assert_eq!(
        read_all(&path),
        vec![(1, b"kept".to_vec()), (2, b"abc".to_vec())]
    );
}

#[test]
fn payload_limits() {
    let dir = TempDir::new("limits");
    let path = dir.join("j");
    let mut w = small_opts().max_size(1 << 16).create(&path).unwrap();
    assert!(matches!(
        w.claim(MAX_PAYLOAD as usize + 1),
        Err(Error::PayloadTooLarge { .. })
    ));
    // Past max_size: a clear error, and the journal stays usable.
    let err = w.append(1, &vec![0u8; 1 << 16]).unwrap_err();
    assert!(matches!(err, Error::Full { .. }), "{err:?}");
    w.append(2, b"small").unwrap();
    w.close().unwrap();
    assert_eq!(read_all(&path), vec![(2, b"small".to_vec())]);
}

#[test]
fn sync_policies_advance_durable_count() {
    let dir = TempDir::new("sync");
    let cases = [
        (SyncPolicy::Never, [0, 0, 0, 0]),
        (SyncPolicy::EveryAppend, [1, 2, 3, 4]),
        (SyncPolicy::EveryEvents(2), [0, 2, 2, 4]),
        (SyncPolicy::EveryBytes(64), [0, 2, 2, 4]), // each entry is 32 bytes: a sync every 2
    ];
    for (n, (policy, expect)) in cases.into_iter().enumerate() {
        let path = dir.join(&format!("j{n}"));
        let mut w = small_opts().sync_policy(policy).create(&path).unwrap();
        let mut got = [0; 4];
        for (i, g) in got.iter_mut().enumerate() {
            w.append(i as i64, &[i as u8; 9]).unwrap();
            *g = w.durable_events();
        }
        assert_eq!(got, expect, "{policy:?}");
        w.sync().unwrap();
        assert_eq!(w.durable_events(), 4);
        w.close().unwrap();
    }
    let path = dir.join("interval");
    let mut w = small_opts()
        .sync_policy(SyncPolicy::Interval(std::time::Duration::ZERO))
        .create(&path)
        .unwrap();
    w.append(1, b"x").unwrap();
    assert_eq!(w.durable_events(), 1);
    w.close().unwrap();
}

#[test]
fn failed_sync_poisons_the_writer() {
    let dir = TempDir::new("poison");
    let path = dir.join("j");
    let mut w = small_opts()
        .sync_policy(SyncPolicy::EveryAppend)
        .create(&path)
        .unwrap();
    w.append(1, b"durable").unwrap();
    assert_eq!(w.durable_events(), 1);
    w.inject_sync_failure();
    // The append's event is published, but success is not reported: its sync failed.
    assert!(matches!(
        w.append(2, b"not durable"),
        Err(Error::Io { op: "msync", .. })
    ));
    assert_eq!(w.durable_events(), 1);
    for _ in 0..3 {
        assert!(matches!(w.append(3, b"x"), Err(Error::Poisoned { .. })));
        assert!(matches!(w.sync(), Err(Error::Poisoned { .. })));
        assert!(matches!(
            w.claim(1).map(|_| ()),
            Err(Error::Poisoned { .. })
        ));
    }
    // Regression (found by fuzzing): sync_if_due reported success on a poisoned writer.
    assert!(matches!(w.sync_if_due(), Err(Error::Poisoned { .. })));
    assert!(matches!(w.close(), Err(Error::Poisoned { .. })));
    // The file is a valid journal; reopening recovers both published events.
    let mut w = small_opts().open(&path).unwrap();
    assert_eq!(w.events(), 2);
    w.append(4, b"after").unwrap();
}

#[test]
fn open_recovers_torn_tail_and_strict_refuses() {
    let dir = TempDir::new("torn");
    let path = dir.join("j");
    let mut w = small_opts().create(&path).unwrap();
    for i in 0..10 {
        w.append(i, &[i as u8; 40]).unwrap();
    }
    w.close().unwrap();
    // Corrupt event 7's payload: the content is events 0..7.
    let mut bytes = std::fs::read(&path).unwrap();
    let entry = 56u64; // pad8(16 + 40)
    let off7 = 24 + 7 * entry;
    bytes[off7 as usize + 20] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    // Damage below the index's checkpoint is seen only by a full walk (INDEX.md 10): without the
    // index, recovery walks everything.
    std::fs::remove_file(journal::index::index_path(&path)).unwrap();

    let err = small_opts()
        .recovery(RecoveryMode::Strict)
        .open(&path)
        .unwrap_err();
    assert!(
        matches!(err, Error::Damaged { offset, reason: DamageReason::Checksum, .. } if offset == off7),
        "{err:?}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "strict open must not modify the file"
    );

    let mut w = small_opts().open(&path).unwrap();
    assert_eq!((w.events(), w.write_offset()), (7, off7));
    let rec = *w.recovered().expect("recovery cut the tail");
    assert_eq!(
        (
            rec.previous_write_offset,
            rec.previous_event_count,
            rec.write_offset,
            rec.events
        ),
        (24 + 10 * entry, 10, off7, 7)
    );
    assert_eq!(rec.dropped_bytes, 3 * entry);
    assert_eq!(
        rec.damage.map(|d| (d.offset, d.reason)),
        Some((off7, DamageReason::Checksum))
    );
    w.append(100, b"new").unwrap();
    w.close().unwrap();
    let all = read_all(&path);
    assert_eq!(all.len(), 8);
    assert_eq!(all[6], (6, vec![6u8; 40]));
    assert_eq!(all[7], (100, b"new".to_vec()));
}

#[test]
fn open_zeroes_stale_bytes_past_write_offset() {
    let dir = TempDir::new("stale");
    let path = dir.join("j");
    let mut w = small_opts().create(&path).unwrap();
    w.append(1, b"one").unwrap();
    w.append(2, b"two").unwrap();
    w.close().unwrap();
    // Simulate a writer killed after writing event 2 but before publishing it: lower write_offset
    // so that a complete, valid entry sits past it.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..8].copy_from_slice(&48u64.to_le_bytes());
    bytes[8..16].copy_from_slice(&1u64.to_le_bytes());
    bytes.resize(8192, 0);
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(
        read_all(&path),
        vec![(1, b"one".to_vec())],
        "bytes past write_offset are not content"
    );
    let w = small_opts().open(&path).unwrap();
    let after = std::fs::read(&path).unwrap();
    assert!(
        after[48..].iter().all(|&b| b == 0),
        "recovery must zero the stale entry"
    );
    drop(w);
    assert_eq!(read_all(&path), vec![(1, b"one".to_vec())]);
}

#[test]
fn open_or_create_initializes_missing_and_empty_files() {
    let dir = TempDir::new("ooc");
    let path = dir.join("j");
    let mut w = WriterOptions::new().open_or_create(&path).unwrap();
    w.append(1, b"a").unwrap();
    drop(w);
    let mut w = WriterOptions::new().open_or_create(&path).unwrap();
    assert_eq!(w.append(2, b"b").unwrap(), 1);
    drop(w);
    let empty = dir.join("empty");
    std::fs::write(&empty, b"").unwrap();
    let mut w = WriterOptions::new()
        .start_timestamp(77)
        .open_or_create(&empty)
        .unwrap();
    w.append(3, b"c").unwrap();
    drop(w);
    let r = Reader::open(&empty).unwrap();
    assert_eq!(r.header().unwrap().start_timestamp, 77);
    assert_eq!(read_all(&empty), vec![(3, b"c".to_vec())]);
}

#[test]
fn not_a_journal_is_refused_by_reader_and_writer() {
    let dir = TempDir::new("nota");
    let text = dir.join("text");
    std::fs::write(&text, b"hello world, this is certainly not a journal\n").unwrap();
    for p in [text.as_path(), dir.path()] {
        assert!(
            matches!(Reader::open(p), Err(Error::NotAJournal { .. })),
            "{p:?}"
        );
    }
    assert!(matches!(
        Writer::open(&text),
        Err(Error::NotAJournal { .. })
    ));
    assert_eq!(
        std::fs::read(&text).unwrap(),
        b"hello world, this is certainly not a journal\n",
        "a refused file must be left untouched"
    );
    let missing = dir.join("missing");
    assert!(matches!(Reader::open(&missing), Err(Error::Io { .. })));
    assert!(matches!(Writer::open(&missing), Err(Error::Io { .. })));
}

#[test]
fn seek_by_index_and_time() {
    let dir = TempDir::new("seek");
    let path = dir.join("j");
    let mut w = small_opts().create(&path).unwrap();
    for i in 0..50u64 {
        w.append(i as i64 * 10, &i.to_le_bytes()).unwrap();
    }
    w.close().unwrap();
    let r = Reader::open(&path).unwrap();
    let first = |it: journal::Iter<'_>| it.map(|e| e.unwrap().index).next();
    assert_eq!(first(r.iter_from_index(0).unwrap()), Some(0));
    assert_eq!(first(r.iter_from_index(37).unwrap()), Some(37));
    assert_eq!(first(r.iter_from_index(50).unwrap()), None);
    assert_eq!(first(r.iter_from_index(1000).unwrap()), None);
    assert_eq!(first(r.iter_from_time(i64::MIN).unwrap()), Some(0));
    assert_eq!(first(r.iter_from_time(200).unwrap()), Some(20));
    assert_eq!(first(r.iter_from_time(201).unwrap()), Some(21));
    assert_eq!(first(r.iter_from_time(491).unwrap()), None);
    // A tailer from a seek position continues from there.
    let it = r.iter_from_index(48).unwrap();
    let mut t = r.tail_from(&it);
    assert_eq!(t.poll().unwrap().unwrap().index, 48);
    assert_eq!(t.poll().unwrap().unwrap().index, 49);
    assert!(t.poll().unwrap().is_none());
    let mut t = r.tail_from_end().unwrap();
    assert_eq!(t.index(), 50);
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(5);
    assert!(t
        .wait(WaitStrategy::default(), Some(deadline))
        .unwrap()
        .is_none());
}

#[test]
fn tailer_follows_growth_in_same_process() {
    let dir = TempDir::new("tailgrow");
    let path = dir.join("j");
    let mut w = small_opts().create(&path).unwrap();
    let r = Reader::open(&path).unwrap();
    let mut t = r.tail();
    assert!(t.poll().unwrap().is_none());
    for i in 0..2000u64 {
        // 1000-byte events: the file grows by a 4 KiB chunk every few events.
        w.append(i as i64, &[i as u8; 1000]).unwrap();
        let e = t
            .poll()
            .unwrap()
            .expect("published event is visible at once");
        assert_eq!((e.index, e.payload.len(), e.payload[0]), (i, 1000, i as u8));
        assert!(t.poll().unwrap().is_none());
    }
}

/// Regression: the lock lived on in children forked by other threads (they hold a copy of the open
/// file description until exec), so a writer reopening right after a close could get `Locked`.
#[test]
fn close_releases_the_lock_even_while_other_threads_fork() {
    let dir = TempDir::new("forklock");
    let path = dir.join("j");
    Writer::create(&path).unwrap().close().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let spawner = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::process::Command::new("true").status();
            }
        })
    };
    for i in 0..100 {
        let mut w = Writer::open(&path).unwrap_or_else(|e| panic!("reopen {i}: {e}"));
        w.append(i, b"x").unwrap();
        w.close().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    spawner.join().unwrap();
    assert_eq!(read_all(&path).len(), 100);
}

/// Minor and major page faults taken by the calling thread so far.
pub(crate) fn thread_faults() -> u64 {
    // SAFETY: getrusage writes one rusage struct, which we own, and nothing else.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_THREAD is valid on Linux.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    assert_eq!(rc, 0);
    (ru.ru_minflt + ru.ru_majflt) as u64
}

#[test]
fn steady_state_appends_take_no_page_faults_after_pretouch() {
    let dir = TempDir::new("faults");
    let path = dir.join("j");
    let chunk = 4 << 20;
    let mut w = WriterOptions::new()
        .chunk_size(chunk)
        .create(&path)
        .unwrap();
    let payload = [0x42u8; 1000];
    // Warm the code path, then keep a chunk ready ahead of the writer.
    w.append_now(&payload).unwrap();
    w.pretouch().unwrap();
    let before = thread_faults();
    let mut n = 0u64;
    // Stay inside the pre-faulted chunk: about 3.5 MiB of entries.
    while w.write_offset() + 1024 < chunk - 512 * 1024 {
        w.append_now(&payload).unwrap();
        n += 1;
    }
    let faults = thread_faults() - before;
    assert!(n > 3000, "only {n} appends");
    assert_eq!(
        faults, 0,
        "{faults} page faults in {n} steady-state appends"
    );
    let r = Reader::open(&path).unwrap();
    let rep = r.verify().unwrap();
    assert_eq!(rep.events, n + 1);
    // append_now stamps events with the current time, in order.
    let ts: Vec<i64> = r.iter().map(|e| e.unwrap().timestamp).collect();
    assert!(ts.windows(2).all(|p| p[0] <= p[1]));
    assert!((journal::now_ns() - ts[0]).abs() < 600_000_000_000);
}

#[test]
fn abandoned_writer_leaves_a_recoverable_journal_like_a_killed_one() {
    let dir = TempDir::new("abandon");
    let path = dir.join("j");
    let mut w = small_opts().create(&path).unwrap();
    w.append(1, b"one").unwrap();
    let claim = {
        let mut c = w.claim(10).unwrap();
        c.as_mut_slice().fill(7);
        std::mem::forget(c); // the process "dies" mid-claim
        w.write_offset()
    };
    w.abandon();
    // No clean close: the preallocated tail is still there.
    assert!(std::fs::metadata(&path).unwrap().len() > claim);
    let mut w = small_opts().open(&path).unwrap();
    assert_eq!(w.events(), 1);
    w.append(2, b"two").unwrap();
    w.close().unwrap();
    assert_eq!(
        read_all(&path),
        vec![(1, b"one".to_vec()), (2, b"two".to_vec())]
    );
}

/// Regression (seen in CI): an open that took the lock and then failed (here, strict recovery of a
/// damaged journal) released it only by closing its descriptor, so a child forked by another
/// thread at that moment kept the lock and the next open got `Locked`.
#[test]
fn a_failed_open_releases_the_lock_even_while_other_threads_fork() {
    let dir = TempDir::new("failopen");
    let path = dir.join("j");
    let mut w = small_opts().create(&path).unwrap();
    w.append(1, b"one").unwrap();
    w.append(2, b"two").unwrap();
    w.close().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    *bytes.last_mut().unwrap() ^= 0x55; // damage the last entry's padding
    std::fs::write(&path, &bytes).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let spawner = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::process::Command::new("true").status();
            }
        })
    };
    // For a second (thousands of opens), so that forks land inside the window.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(1);
    let mut i = 0;
    while std::time::Instant::now() < until {
        let err = small_opts()
            .recovery(RecoveryMode::Strict)
            .open(&path)
            .unwrap_err();
        assert!(matches!(err, Error::Damaged { .. }), "open {i}: {err:?}");
        i += 1;
    }
    assert!(i > 100, "only {i} opens");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    spawner.join().unwrap();
}

/// Options that cannot work are refused when the writer opens, with a clear error, instead of a
/// panic (a division by zero or an overflow) at the first append.
#[test]
fn impossible_options_are_refused_at_open() {
    let dir = TempDir::new("badopts");
    let path = dir.join("j");
    let refused = |opts: &WriterOptions, what: &str| {
        for (how, res) in [
            ("create", opts.create(&path)),
            ("open_or_create", opts.open_or_create(&path)),
        ] {
            match res {
                Err(Error::InvalidArgument(msg)) => assert!(msg.contains(what), "{how}: {msg}"),
                other => panic!("{how}: {other:?}"),
            }
            assert!(!path.exists() || std::fs::metadata(&path).unwrap().len() == 0);
        }
    };
    refused(WriterOptions::new().chunk_size(u64::MAX), "chunk size");
    refused(
        WriterOptions::new().chunk_size(u64::MAX - 4094),
        "chunk size",
    );
    refused(WriterOptions::new().max_size(8), "max size");
    refused(WriterOptions::new().max_size(u64::MAX), "max size");
    refused(WriterOptions::new().max_size((1 << 48) + 8), "max size");
    // And when opening an existing journal for append.
    let _ = std::fs::remove_file(&path);
    Writer::create(&path).unwrap().close().unwrap();
    match WriterOptions::new().chunk_size(u64::MAX).open(&path) {
        Err(Error::InvalidArgument(msg)) => assert!(msg.contains("chunk size"), "{msg}"),
        other => panic!("{other:?}"),
    }
    // A huge but representable chunk is fine: it is capped by the maximum size.
    let mut w = WriterOptions::new()
        .chunk_size(1 << 47)
        .max_size(1 << 20)
        .open(&path)
        .unwrap();
    w.append(1, b"fits").unwrap();
    w.close().unwrap();
    assert_eq!(read_all(&path), vec![(1, b"fits".to_vec())]);
}

/// A journal whose file was extended sparsely far past its content (`truncate -s 2T`) opens for
/// append: recovery cuts the file back to the content instead of treating the hole as content to
/// fit under the maximum size or to zero (FORMAT.md 8).
#[test]
fn sparse_two_tib_tail_is_cut_back_on_open() {
    let dir = TempDir::new("sparse");
    let path = dir.join("j");
    crate::support::journal_with_sparse_tail(&path, 7, 2 << 40);
    let mut w = Writer::open(&path).unwrap();
    assert_eq!(w.events(), 1);
    w.append(8, b"after the hole").unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len <= 72 + (16 << 20), "file still {len} bytes long");
    w.close().unwrap();
    assert_eq!(
        read_all(&path),
        vec![(7, vec![5u8; 32]), (8, b"after the hole".to_vec())]
    );
}

#[test]
fn batch_append_publishes_every_event_and_grows_the_file() {
    let dir = TempDir::new("batch");
    let path = dir.join("j");
    let mut w = small_opts().create(&path).unwrap();
    w.append(-1, b"before").unwrap();
    // An empty batch publishes nothing and returns the next index.
    let wo = w.write_offset();
    assert_eq!(
        w.append_batch(std::iter::empty::<(i64, &[u8])>()).unwrap(),
        1
    );
    assert_eq!((w.write_offset(), w.events()), (wo, 1));
    // 300 events of 0..299 bytes: about 50 KiB, many 4 KiB chunks past what is ready.
    let events: Vec<(i64, Vec<u8>)> = (0..300u32)
        .map(|i| (i as i64 * 3, (0..i).map(|k| (k ^ i) as u8).collect()))
        .collect();
    let first = w.append_batch(events.iter().map(|(t, p)| (*t, p))).unwrap();
    assert_eq!((first, w.events()), (1, 301));
    let expected_end = wo
        + events
            .iter()
            .map(|(_, p)| journal::entry_len(p.len() as u32))
            .sum::<u64>();
    assert_eq!(w.write_offset(), expected_end);
    assert_eq!(w.append(7, b"after").unwrap(), 301);
    w.close().unwrap();
    let mut want = vec![(-1, b"before".to_vec())];
    want.extend(events);
    want.push((7, b"after".to_vec()));
    assert_eq!(read_all(&path), want);
}

#[test]
fn refused_batch_publishes_nothing_and_leaves_zeros() {
    let dir = TempDir::new("batch-refused");
    let path = dir.join("j");
    let mut w = small_opts().max_size(1 << 16).create(&path).unwrap();
    w.append(1, b"kept").unwrap();
    let (wo, events) = (w.write_offset(), w.events());
    // An oversize payload after two good events (calloc'd: never touched).
    let huge = vec![0u8; MAX_PAYLOAD as usize + 1];
    let batch: [(i64, &[u8]); 3] = [(2, &[0xAB; 100]), (3, &[0xCD; 100]), (4, &huge)];
    let err = w.append_batch(batch).unwrap_err();
    assert!(matches!(err, Error::PayloadTooLarge { .. }), "{err:?}");
    assert_eq!((w.write_offset(), w.events()), (wo, events));
    // The staged bytes were zeroed in the file (the mapping is shared).
    let bytes = std::fs::read(&path).unwrap();
    let staged = &bytes[wo as usize..(wo + 2 * 120) as usize];
    assert!(
        staged.iter().all(|&b| b == 0),
        "stale bytes past write_offset"
    );
    // A batch that does not fit in the maximum size: refused whole, after growing.
    let big = vec![0xEEu8; 4000];
    let err = w
        .append_batch((0..20).map(|i| (10 + i as i64, &big[..])))
        .unwrap_err();
    assert!(matches!(err, Error::Full { .. }), "{err:?}");
    assert_eq!((w.write_offset(), w.events()), (wo, events));
    let r = Reader::open(&path).unwrap();
    assert_eq!(r.iter().count(), 1);
    // The writer is still usable.
    assert_eq!(w.append_batch([(5, &b"next"[..])]).unwrap(), 1);
    w.close().unwrap();
    assert_eq!(
        read_all(&path),
        vec![(1, b"kept".to_vec()), (5, b"next".to_vec())]
    );
}

/// A tailer in another thread sees whole batches only: whenever it has caught up (a poll returns
/// nothing), the last event it saw was the last of its batch.
#[test]
fn tailer_in_another_thread_never_sees_a_partial_batch() {
    let dir = TempDir::new("batch-tail");
    let path = dir.join("j");
    let mut w = small_opts().create(&path).unwrap();
    const BATCHES: u32 = 2000;
    let reader_path = path.clone();
    let tailer = std::thread::spawn(move || {
        let r = Reader::open(&reader_path).unwrap();
        let mut t = r.tail();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let (mut seen, mut caught_up, mut last_was_end) = (0u64, 0u64, true);
        let mut batches = 0;
        while batches < BATCHES {
            assert!(std::time::Instant::now() < deadline, "tailer timed out");
            match t.poll().unwrap() {
                Some(e) => {
                    assert_eq!(e.index, seen);
                    seen += 1;
                    // payload: batch number (4 bytes), position, batch length
                    let (pos, len) = (e.payload[4], e.payload[5]);
                    last_was_end = pos + 1 == len;
                    if last_was_end {
                        batches += 1;
                    }
                }
                None => {
                    assert!(last_was_end, "caught up in the middle of a batch at {seen}");
                    caught_up += 1;
                }
            }
        }
        (seen, caught_up)
    });
    let mut total = 0u64;
    for b in 0..BATCHES {
        let len = (b % 37 + 1) as u8;
        let payloads: Vec<Vec<u8>> = (0..len)
            .map(|pos| {
                let mut p = b.to_le_bytes().to_vec();
                p.extend_from_slice(&[pos, len]);
                p.resize(6 + (b as usize * 7 + pos as usize) % 90, 0x11);
                p
            })
            .collect();
        let first = w
            .append_batch(payloads.iter().map(|p| (b as i64, p)))
            .unwrap();
        assert_eq!(first, total);
        total += len as u64;
    }
    let (seen, caught_up) = tailer.join().unwrap();
    assert_eq!(seen, total);
    eprintln!("tailer caught up {caught_up} times");
}

/// A set's batch is split at its rolls only; every event lands once, in order, with the index
/// the batch returned; a refused event in a batch that crosses no roll publishes nothing.
#[test]
fn set_batch_append_splits_at_rolls_only() {
    use journal::set::{RollPolicy, SetMeta, SetReader};
    let dir = TempDir::new("set-batch");
    let set = dir.join("set");
    let meta = SetMeta {
        roll: RollPolicy::by_size(8192),
        ..SetMeta::default()
    };
    let mut w = journal::SetWriterOptions::new()
        .meta(meta)
        .chunk_size(4096)
        .create(&set)
        .unwrap();
    assert_eq!(w.append(0, b"zero").unwrap(), 0);
    // 120-byte entries: about 68 to a segment, so this batch crosses several rolls.
    let events: Vec<(i64, Vec<u8>)> = (1..=500u32)
        .map(|i| (i as i64, vec![i as u8; 100]))
        .collect();
    let first = w.append_batch(events.iter().map(|(t, p)| (*t, p))).unwrap();
    assert_eq!((first, w.events()), (1, 501));
    assert!(w.segment_first_index() > 400, "the batch rolled the set");
    // Oversize, after two good events and with no roll in between: nothing published.
    let (events_before, wo) = (w.events(), w.segment().write_offset());
    let huge = vec![0u8; MAX_PAYLOAD as usize + 1];
    let batch: [(i64, &[u8]); 3] = [(600, b"x"), (601, b"y"), (602, &huge)];
    let err = w.append_batch(batch).unwrap_err();
    assert!(matches!(err, Error::PayloadTooLarge { .. }), "{err:?}");
    assert_eq!(
        (w.events(), w.segment().write_offset()),
        (events_before, wo)
    );
    assert_eq!(w.append_batch([(700, &b"last"[..])]).unwrap(), 501);
    w.close().unwrap();
    let r = SetReader::open(&set).unwrap();
    let mut it = r.iter();
    let mut got = Vec::new();
    while let Some(e) = it.next_event() {
        let e = e.unwrap();
        got.push((e.index, e.timestamp, e.payload.to_vec()));
    }
    let mut want = vec![(0, 0, b"zero".to_vec())];
    want.extend(
        events
            .into_iter()
            .enumerate()
            .map(|(k, (t, p))| (k as u64 + 1, t, p)),
    );
    want.push((501, 700, b"last".to_vec()));
    assert_eq!(got, want);
}

#[test]
fn batch_append_does_not_allocate() {
    let dir = TempDir::new("batch-alloc");
    let path = dir.join("j");
    let mut w = small_opts().create(&path).unwrap();
    let payload = [0x5Au8; 64];
    // 4 KiB chunks: the measured loop also crosses many growth points.
    let ((), allocs, _) = crate::support::count_allocs(|| {
        for b in 0..200i64 {
            let first = w
                .append_batch((0..16).map(|j| (b * 16 + j, &payload[..])))
                .unwrap();
            assert_eq!(first, b as u64 * 16);
        }
    });
    assert_eq!(allocs, 0, "append_batch allocated {allocs} times");
    assert_eq!(w.events(), 3200);
}

/// `index(false)` wins over `index_intervals`, in whichever order the two are called; the
/// intervals alone keep the index (with them).
#[test]
fn index_off_wins_over_index_intervals_in_either_order() {
    let dir = TempDir::new("writer-index-off");
    let iv = journal::index::Intervals {
        bytes: 4096,
        events: 16,
    };
    for (name, off_first, on) in [
        ("off-then-intervals", Some(true), false),
        ("intervals-then-off", Some(false), false),
        ("intervals-only", None, true),
    ] {
        let path = dir.join(name);
        let mut o = WriterOptions::new();
        match off_first {
            Some(true) => o.index(false).index_intervals(iv),
            Some(false) => o.index_intervals(iv).index(false),
            None => o.index_intervals(iv),
        };
        let mut w = o.create(&path).unwrap();
        for i in 0..100 {
            w.append(i, b"event").unwrap();
        }
        w.close().unwrap();
        let idx = journal::index::index_path(&path);
        assert_eq!(idx.exists(), on, "{name}");
        if on {
            let r = Reader::open(&path).unwrap();
            let loaded = journal::index::Index::load(&r).unwrap();
            assert_eq!(loaded.intervals(), iv, "{name}");
        }
    }
}
