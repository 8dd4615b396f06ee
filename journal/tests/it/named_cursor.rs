//! Named cursors (spec/CURSOR.md): a reader resumes exactly after its last commit; one owner at a
//! time, any process reads; committing allocates nothing; every damaged, truncated or foreign cursor
//! file is a clear error (never a panic), verdict for verdict with an independent decoder written
//! from CURSOR.md, on the vectors and on every truncation and bit flip. The real-process kill test is
//! the CLI's (`journal-cli/tests/cursor.rs`).

mod spec_cursor;

use std::path::{Path, PathBuf};

use journal::named_cursor::{self, CursorFault, CursorKind};
use journal::{Error, NamedCursor, Reader, Writer};

use crate::support::{count_allocs, TempDir};

/// 2023-11-14T22:13:20Z (FORMAT.md 12).
const T0: i64 = 1_700_000_000_000_000_000;

/// A closed journal created at `start` with `n` events (payload = the index, as text).
fn journal(path: &Path, start: i64, n: u64) {
    let _ = std::fs::remove_file(path);
    let mut w = Writer::options()
        .chunk_size(4096)
        .start_timestamp(start)
        .create(path)
        .unwrap();
    for i in 0..n {
        w.append(start + i as i64, i.to_string().as_bytes())
            .unwrap();
    }
    w.close().unwrap();
}

fn cursor_file(journal: &Path, name: &str) -> PathBuf {
    let mut p = journal.as_os_str().to_os_string();
    p.push(".cursors");
    PathBuf::from(p).join(name)
}

#[track_caller]
fn fault_of(r: journal::Result<impl std::fmt::Debug>) -> CursorFault {
    match r {
        Err(Error::BadCursor { fault, .. }) => fault,
        other => panic!("expected a bad cursor, got {other:?}"),
    }
}

#[test]
fn a_cursor_resumes_exactly_after_the_last_commit() {
    let dir = TempDir::new("cursor-resume");
    let path = dir.join("quotes.journal");
    journal(&path, T0, 20);
    let r = Reader::open(&path).unwrap();
    {
        let c = r.cursor("strategy-a").unwrap();
        assert!(c.is_new());
        assert_eq!(c.position(), 0);
        assert_eq!(c.path(), cursor_file(&path, "strategy-a"));
        for ev in c.resume(&r).unwrap().take(7) {
            let ev = ev.unwrap();
            c.commit(ev.index + 1);
        }
        // Not synced, not closed cleanly: dropping is what a crash leaves (CURSOR.md 10).
    }
    let bytes = std::fs::read(cursor_file(&path, "strategy-a")).unwrap();
    assert_eq!(bytes, spec_cursor::encode(1, T0, 7));
    let c = NamedCursor::open(&path, "strategy-a").unwrap();
    assert!(!c.is_new());
    assert_eq!(c.position(), 7);
    assert_eq!(c.kind(), CursorKind::Journal);
    let rest: Vec<u64> = c.resume(&r).unwrap().map(|e| e.unwrap().index).collect();
    assert_eq!(rest, (7..20).collect::<Vec<_>>());
    // Same events as the plain seek the brief promises.
    let by_seek = r
        .iter_from_index(c.position())
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(by_seek.payload, b"7");
    c.commit(20);
    c.sync().unwrap();
    // Everything delivered: resuming is not a fault, there is simply nothing yet.
    assert!(c.resume(&r).unwrap().next().is_none());
    assert_eq!(NamedCursor::names(&path).unwrap(), vec!["strategy-a"]);
}

#[test]
fn one_owner_at_a_time_and_anyone_reads() {
    let dir = TempDir::new("cursor-owner");
    let path = dir.join("j");
    journal(&path, T0, 3);
    let owner = NamedCursor::open(&path, "a").unwrap();
    let second = NamedCursor::open(&path, "a");
    assert!(
        matches!(&second, Err(Error::CursorInUse { path: p }) if *p == owner.path()),
        "{second:?}"
    );
    let msg = second.unwrap_err().to_string();
    assert!(msg.contains("cursor in use"), "{msg}");
    let seen = NamedCursor::read(&path, "a").unwrap();
    assert_eq!(
        (seen.position, seen.in_use, seen.kind),
        (0, true, CursorKind::Journal)
    );
    owner.commit(3);
    // Visible at once, without a sync (CURSOR.md 8).
    assert_eq!(NamedCursor::read(&path, "a").unwrap().position, 3);
    drop(owner);
    let seen = NamedCursor::read(&path, "a").unwrap();
    assert_eq!((seen.position, seen.in_use), (3, false));
    assert_eq!(NamedCursor::open(&path, "a").unwrap().position(), 3);
    // Reading never creates.
    assert!(matches!(
        NamedCursor::read(&path, "b"),
        Err(Error::Io { op: "open", .. })
    ));
    assert_eq!(NamedCursor::names(&path).unwrap(), vec!["a"]);
}

#[test]
fn two_openers_racing_to_create_get_one_cursor() {
    let dir = TempDir::new("cursor-race");
    let path = dir.join("j");
    journal(&path, T0, 1);
    for round in 0..20 {
        let name = format!("c{round}");
        let barrier = std::sync::Barrier::new(2);
        let results: Vec<_> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        // Held until both have tried: the loser sees it in use.
                        let r = NamedCursor::open(&path, &name);
                        barrier.wait();
                        r.map(|c| c.is_new())
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let owners = results.iter().filter(|r| r.is_ok()).count();
        let busy = results
            .iter()
            .filter(|r| matches!(r, Err(Error::CursorInUse { .. })))
            .count();
        assert_eq!((owners, busy), (1, 1), "{results:?}");
        let bytes = std::fs::read(cursor_file(&path, &name)).unwrap();
        assert_eq!(bytes, spec_cursor::encode(1, T0, 0));
    }
    // No temporary file is left, and none would be taken for a cursor.
    let names = NamedCursor::names(&path).unwrap();
    assert_eq!(names.len(), 20);
    let dir_entries = std::fs::read_dir(cursor_file(&path, "x").parent().unwrap())
        .unwrap()
        .count();
    assert_eq!(dir_entries, 20);
}

#[test]
fn commit_is_a_store_that_allocates_nothing() {
    let dir = TempDir::new("cursor-alloc");
    let path = dir.join("j");
    journal(&path, T0, 1);
    let c = NamedCursor::open(&path, "hot").unwrap();
    let ((), allocs, _) = count_allocs(|| {
        for i in 0..100_000 {
            c.commit(i);
        }
    });
    assert_eq!(allocs, 0);
    assert_eq!(c.position(), 99_999);
    let bytes = std::fs::read(c.path()).unwrap();
    assert_eq!(bytes, spec_cursor::encode(1, T0, 99_999));
}

#[test]
fn a_set_directory_keeps_its_cursors_in_cursors() {
    let dir = TempDir::new("cursor-set");
    let set = dir.join("set");
    std::fs::create_dir(&set).unwrap();
    let c = NamedCursor::open(&set, "s").unwrap();
    assert_eq!(c.kind(), CursorKind::Set);
    assert_eq!(c.path(), set.join("cursors").join("s"));
    c.commit(42);
    drop(c);
    assert_eq!(
        std::fs::read(set.join("cursors/s")).unwrap(),
        spec_cursor::encode(2, 0, 42)
    );
    assert_eq!(NamedCursor::read(&set, "s").unwrap().position, 42);
    // A set's cursor is never applied to a journal file (CURSOR.md 6.1).
    let path = dir.join("j");
    journal(&path, T0, 50);
    let r = Reader::open(&path).unwrap();
    let c = NamedCursor::open(&set, "s").unwrap();
    assert_eq!(
        fault_of(c.resume(&r).map(|_| ())),
        CursorFault::OtherJournal
    );
}

#[test]
fn a_foreign_or_ahead_cursor_is_refused_and_left_alone() {
    let dir = TempDir::new("cursor-foreign");
    let path = dir.join("j");
    journal(&path, T0, 10);
    NamedCursor::open(&path, "a").unwrap().commit(10);
    // The journal is replaced by another (another start_timestamp): the cursor is not applied.
    journal(&path, T0 + 1, 10);
    let e = NamedCursor::open(&path, "a").unwrap_err();
    assert!(
        matches!(
            &e,
            Error::BadCursor {
                fault: CursorFault::OtherJournal,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("other_journal"), "{e}");
    assert_eq!(
        fault_of(NamedCursor::read(&path, "a")),
        CursorFault::OtherJournal
    );
    let r = Reader::open(&path).unwrap();
    assert_eq!(fault_of(r.cursor("a")), CursorFault::OtherJournal);
    // Left as it was.
    assert_eq!(
        std::fs::read(cursor_file(&path, "a")).unwrap(),
        spec_cursor::encode(1, T0, 10)
    );
    // The same journal, cut back below the position (CURSOR.md 6.2): `ahead`.
    journal(&path, T0, 10);
    let r = Reader::open(&path).unwrap();
    let c = r.cursor("a").unwrap();
    assert!(c.resume(&r).is_ok());
    c.commit(11);
    let e = c.resume(&r).map(|_| ()).unwrap_err();
    assert!(
        matches!(
            &e,
            Error::BadCursor {
                fault: CursorFault::Ahead,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("position 11 is past the journal's 10 events"),
        "{e}"
    );
}

#[test]
fn bad_names_and_odd_files_are_clear_errors() {
    let dir = TempDir::new("cursor-names");
    let path = dir.join("j");
    journal(&path, T0, 1);
    for name in [
        "",
        ".",
        "..",
        "../j",
        "a/b",
        ".x",
        "sp ace",
        &"n".repeat(65),
    ] {
        let e = NamedCursor::open(&path, name).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{name:?}: {e:?}");
        assert!(matches!(
            NamedCursor::read(&path, name),
            Err(Error::InvalidArgument(_))
        ));
    }
    assert!(
        !cursor_file(&path, "x").parent().unwrap().exists(),
        "a bad name touched the disk"
    );
    // A directory, a symlink and a named pipe where the cursor file should be.
    let cdir = cursor_file(&path, "x").parent().unwrap().to_path_buf();
    std::fs::create_dir(&cdir).unwrap();
    std::fs::create_dir(cdir.join("d")).unwrap();
    std::os::unix::fs::symlink(cdir.join("d"), cdir.join("l")).unwrap();
    let fifo = std::ffi::CString::new(cdir.join("p").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    for name in ["d", "l", "p"] {
        let e = NamedCursor::open(&path, name).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{name}: {e:?}");
        let e = NamedCursor::read(&path, name).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{name}: {e:?}");
    }
    // A journal that does not exist, or is not a journal.
    assert!(NamedCursor::open(dir.join("none"), "a").is_err());
    std::fs::write(dir.join("text"), b"hello, not a journal at all").unwrap();
    assert!(matches!(
        NamedCursor::open(dir.join("text"), "a"),
        Err(Error::NotAJournal { .. })
    ));
}

#[test]
fn a_cursor_truncated_while_open_fails_its_sync() {
    let dir = TempDir::new("cursor-shrunk");
    let path = dir.join("j");
    journal(&path, T0, 1);
    let c = NamedCursor::open(&path, "a").unwrap();
    c.commit(1);
    std::fs::OpenOptions::new()
        .write(true)
        .open(c.path())
        .unwrap()
        .set_len(0)
        .unwrap();
    c.commit(2); // into the SIGBUS guard's zero page: no crash
    assert_eq!(fault_of(c.sync()), CursorFault::Truncated);
    drop(c);
    assert_eq!(
        fault_of(NamedCursor::open(&path, "a")),
        CursorFault::Truncated
    );
}

/// Writes `bytes` as the cursor `c` of `path` and returns what opening and reading it give, as the
/// fault's name or `ok <position>`.
fn verdicts(path: &Path, bytes: &[u8]) -> (String, String) {
    let f = cursor_file(path, "c");
    std::fs::write(&f, bytes).unwrap();
    let show = |r: journal::Result<u64>| match r {
        Ok(p) => format!("ok {p}"),
        Err(Error::BadCursor { fault, detail, .. }) => {
            assert!(!detail.is_empty());
            fault.as_str().to_string()
        }
        Err(e) => panic!("not a cursor fault: {e:?}"),
    };
    let open = show(NamedCursor::open(path, "c").map(|c| c.position()));
    let read = show(NamedCursor::read(path, "c").map(|i| i.position));
    (open, read)
}

fn spec_verdict(bytes: &[u8]) -> String {
    match spec_cursor::decode(bytes) {
        Ok(c) if spec_cursor::matches(&c, false, T0) == "ok" => format!("ok {}", c.position),
        Ok(_) => "other_journal".into(),
        Err(f) => f.into(),
    }
}

#[test]
fn every_truncation_and_bit_flip_is_detected_or_is_the_position() {
    let dir = TempDir::new("cursor-fuzz");
    let path = dir.join("j");
    journal(&path, T0, 1);
    drop(NamedCursor::open(&path, "c").unwrap());
    let good = spec_cursor::encode(1, T0, 0x0123_4567_89ab_cdef);
    for len in 0..good.len() {
        let (open, read) = verdicts(&path, &good[..len]);
        assert_eq!(
            (open.as_str(), read.as_str()),
            ("truncated", "truncated"),
            "len {len}"
        );
        assert_eq!(
            named_cursor::decode(&good[..len]),
            Err(CursorFault::Truncated)
        );
    }
    for extra in [1usize, 4096] {
        let mut long = good.clone();
        long.resize(64 + extra, 0);
        assert_eq!(
            verdicts(&path, &long),
            ("bad_header".into(), "bad_header".into())
        );
    }
    for bit in 0..64 * 8 {
        let mut b = good.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        let want = spec_verdict(&b);
        let (open, read) = verdicts(&path, &b);
        assert_eq!((&open, &read), (&want, &want), "bit {bit}");
        if (32 * 8..40 * 8).contains(&bit) {
            // The position is not checksummed (CURSOR.md 4): a flip there is another position.
            assert_eq!(
                want,
                format!("ok {}", 0x0123_4567_89ab_cdefu64 ^ (1 << (bit - 256)))
            );
        } else {
            assert!(!want.starts_with("ok"), "bit {bit} undetected");
        }
        // Two-bit damage too, at a few distances.
        for d in [1, 64] {
            let other = (bit + d) % (64 * 8);
            let mut b2 = b.clone();
            b2[other / 8] ^= 1 << (other % 8);
            let want = spec_verdict(&b2);
            assert_eq!(
                verdicts(&path, &b2),
                (want.clone(), want),
                "bits {bit}, {other}"
            );
        }
    }
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors/cursor")
}

/// Every line of spec/vectors/cursor/expected.txt (CURSOR.md 13), with the library and with the
/// independent decoder; every vector file has a `decode` line.
#[test]
fn the_vectors_agree_with_the_library_and_the_spec_decoder() {
    let dir = TempDir::new("cursor-vectors");
    let text = std::fs::read_to_string(vectors_dir().join("expected.txt")).unwrap();
    let mut decoded = std::collections::BTreeSet::new();
    let mut lines = 0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        lines += 1;
        let f: Vec<&str> = line.split(' ').collect();
        let bytes = std::fs::read(vectors_dir().join(f[1])).unwrap();
        match f[0] {
            "decode" => {
                decoded.insert(f[1].to_string());
                let want = f[2..].join(" ");
                let spec = match spec_cursor::decode(&bytes) {
                    Ok(c) => format!(
                        "ok kind={} start={} position={}",
                        ["", "journal", "set"][c.kind as usize],
                        c.start,
                        c.position
                    ),
                    Err(fault) => fault.to_string(),
                };
                let lib = match named_cursor::decode(&bytes) {
                    Ok(d) => format!(
                        "ok kind={} start={} position={}",
                        d.kind.as_str(),
                        d.journal_start_timestamp,
                        d.position
                    ),
                    Err(fault) => fault.as_str().to_string(),
                };
                assert_eq!((&spec, &lib), (&want, &want), "{line}");
                // Through the file system, as a journal created at T0 would find it.
                let path = dir.join(&format!("j-{}", f[1]));
                journal(&path, T0, 0);
                std::fs::create_dir_all(cursor_file(&path, "c").parent().unwrap()).unwrap();
                let (open, read) = verdicts(&path, &bytes);
                let expect = spec_verdict(&bytes);
                assert_eq!((&open, &read), (&expect, &expect), "{line}");
            }
            "match" => {
                let (set, start): (bool, i64) = (f[2] == "set", f[3].parse().unwrap());
                let want = f[5];
                let c = spec_cursor::decode(&bytes).unwrap();
                assert_eq!(spec_cursor::matches(&c, set, start), want, "{line}");
                let target = dir.join(&format!("m-{lines}"));
                let cursor = if set {
                    std::fs::create_dir(&target).unwrap();
                    std::fs::create_dir(target.join("cursors")).unwrap();
                    target.join("cursors/c")
                } else {
                    journal(&target, start, 0);
                    std::fs::create_dir(cursor_file(&target, "c").parent().unwrap()).unwrap();
                    cursor_file(&target, "c")
                };
                std::fs::write(&cursor, &bytes).unwrap();
                let got = match NamedCursor::read(&target, "c") {
                    Ok(_) => "ok",
                    Err(Error::BadCursor { fault, .. }) => fault.as_str(),
                    Err(e) => panic!("{line}: {e:?}"),
                };
                assert_eq!(got, want, "{line}");
            }
            "resume" => {
                let events: u64 = f[2].parse().unwrap();
                let want = f[4];
                let c = spec_cursor::decode(&bytes).unwrap();
                assert_eq!(spec_cursor::resume(&c, events), want, "{line}");
                if c.kind == 1 {
                    let path = dir.join(&format!("r-{lines}"));
                    journal(&path, c.start, events);
                    std::fs::create_dir(cursor_file(&path, "c").parent().unwrap()).unwrap();
                    std::fs::write(cursor_file(&path, "c"), &bytes).unwrap();
                    let r = Reader::open(&path).unwrap();
                    let cur = r.cursor("c").unwrap();
                    let got = match cur.resume(&r) {
                        Ok(mut it) => {
                            let next = it.next().map(|e| e.unwrap().index);
                            assert_eq!(next, (c.position < events).then_some(c.position));
                            "ok"
                        }
                        Err(Error::BadCursor { fault, .. }) => fault.as_str(),
                        Err(e) => panic!("{line}: {e:?}"),
                    };
                    assert_eq!(got, want, "{line}");
                }
            }
            other => panic!("unknown line kind {other}: {line}"),
        }
    }
    assert!(lines > 20, "expected.txt has only {lines} lines");
    for entry in std::fs::read_dir(vectors_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name != "expected.txt" {
            assert!(decoded.contains(&name), "{name} has no decode line");
        }
    }
}
