//! Hostile files: a journal truncated or replaced under a live reader, tailer or writer gives an
//! error or end of data, never SIGBUS (the guard in `sys::guard`, FORMAT.md 10).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use journal::{Error, Reader, Writer, WriterOptions};

use crate::support::{small_opts, TempDir};

const RACES: usize = 1_000;

fn build(path: &std::path::Path) -> Vec<u8> {
    let mut w = small_opts().create(path).unwrap();
    for i in 0..64u64 {
        w.append(i as i64, &[i as u8; 1000]).unwrap();
    }
    w.close().unwrap();
    std::fs::read(path).unwrap()
}

fn restore(path: &std::path::Path, bytes: &[u8]) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, bytes, 0).unwrap();
}

#[test]
fn truncation_under_a_live_reader_is_an_error_not_a_crash() {
    let dir = TempDir::new("shrink");
    let path = dir.join("j");
    let bytes = build(&path);
    let mut guard_hits = 0;
    for i in 0..RACES as u64 {
        let r = Reader::open(&path).unwrap();
        // A tailer that has already read up to event k, k in 40..64.
        let k = 40 + crate::support::mix(i) % 24;
        let mut t = r.tail();
        for _ in 0..k {
            t.poll().unwrap().unwrap();
        }
        // Another party cuts the file at least a page before event k.
        let limit = t.offset() - 4096 - 24;
        let cut = 24 + crate::support::mix(i ^ 0xABCD) % limit;
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(cut)
            .unwrap();
        // The tailer's next entry lies in a page that no longer exists.
        match t.poll() {
            Err(Error::FileShrunk { .. }) => guard_hits += 1,
            other => panic!("expected FileShrunk, got {other:?}"),
        }
        // A full walk stops at the cut: damaged there, or (if it touched a page past the end) an
        // error. Never a crash.
        match r.verify() {
            Ok(rep) => assert!(rep.damage.is_some() && rep.end <= cut, "{rep:?}"),
            Err(Error::FileShrunk { .. }) => {}
            Err(e) => panic!("unexpected error {e:?}"),
        }
        restore(&path, &bytes);
    }
    assert_eq!(guard_hits, RACES);
    // A fresh reader after the restore sees the whole journal again.
    assert_eq!(Reader::open(&path).unwrap().verify().unwrap().events, 64);
}

#[test]
fn concurrent_truncation_races_never_crash_a_reader() {
    let dir = TempDir::new("race");
    let path = dir.join("j");
    let bytes = build(&path);
    let stop = Arc::new(AtomicBool::new(false));
    let cutter = {
        let (path, bytes, stop) = (path.clone(), bytes.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                f.set_len(24 + crate::support::mix(n) % bytes.len() as u64)
                    .unwrap();
                std::thread::yield_now();
                std::os::unix::fs::FileExt::write_all_at(&f, &bytes, 0).unwrap();
                n += 1;
            }
            n
        })
    };
    // Every race ends in one of three ways, each with its own invariant: the open is refused
    // (caught between a cut and its restore, the header is missing), the walk ends cleanly on a
    // prefix of the journal, or the walk ends with one error and nothing after it.
    let (mut refused, mut clean, mut cut_short) = (0usize, 0usize, 0usize);
    for _ in 0..RACES {
        let r = match Reader::open(&path) {
            Ok(r) => r,
            Err(Error::NotAJournal { .. } | Error::FileShrunk { .. }) => {
                refused += 1;
                continue;
            }
            Err(e) => panic!("open during the races: unexpected error {e:?}"),
        };
        let mut it = r.iter();
        let mut events = 0u64;
        let mut failed = false;
        for e in it.by_ref() {
            match e {
                Ok(e) => {
                    // Everything fixed when the event was checked is real: it is the next event
                    // of the journal, none skipped. (Its bytes are the file's: a hostile
                    // truncation may turn them to zeros afterwards, FORMAT.md 10.)
                    assert_eq!(e.index, events, "events out of order or skipped");
                    assert!(e.index < 64, "event {} of a 64-event journal", e.index);
                    assert_eq!(e.payload.len(), 1000, "event {}", e.index);
                    events += 1;
                }
                Err(Error::FileShrunk { .. } | Error::Damaged { .. }) => {
                    failed = true;
                    break;
                }
                Err(e) => panic!("unexpected error {e:?} after {events} events"),
            }
        }
        if failed {
            assert!(it.next().is_none(), "the walk went on after an error");
            cut_short += 1;
        } else {
            // A clean end: a prefix of the 64 events, and a walk that stays ended.
            assert!(it.next().is_none(), "the walk went on after its end");
            clean += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let cuts = cutter.join().unwrap();
    eprintln!("races: {refused} refused, {clean} clean, {cut_short} cut short; {cuts} cuts");
    assert!(cuts > 0);
}

#[test]
fn truncation_under_the_writer_poisons_it() {
    let dir = TempDir::new("wshrink");
    let path = dir.join("j");
    let mut w = WriterOptions::new()
        .chunk_size(1 << 20)
        .create(&path)
        .unwrap();
    w.append(1, &[1u8; 100]).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    // The stores of the next append hit pages past the end of the file.
    let err = w.append(2, &[2u8; 100]).unwrap_err();
    assert!(matches!(err, Error::FileShrunk { .. }), "{err:?}");
    assert!(matches!(w.append(3, b"x"), Err(Error::Poisoned { .. })));
    assert!(matches!(w.sync(), Err(Error::Poisoned { .. })));
    drop(w);
    let _ = Writer::open(&path); // an empty file: not a journal, and no crash
}
