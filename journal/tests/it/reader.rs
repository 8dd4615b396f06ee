//! Readers against files that are not journals, or stop being the journal they opened: named
//! pipes, a file cut or rewritten under an iterator or a tailer (FORMAT.md 10), and how errors
//! report their cause.

use std::error::Error as _;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use journal::{Error, OwnedTailer, Reader, WaitStrategy, Writer};

use crate::support::{small_opts, TempDir};

/// A closed journal started at `start` holding one event per payload.
fn journal(path: &Path, start: i64, payloads: &[&[u8]]) -> Vec<u8> {
    let mut w = small_opts().start_timestamp(start).create(path).unwrap();
    for (i, p) in payloads.iter().enumerate() {
        w.append(start + i as i64, p).unwrap();
    }
    w.close().unwrap();
    std::fs::read(path).unwrap()
}

fn overwrite(path: &Path, bytes: &[u8]) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(bytes, 0).unwrap();
}

fn cut(path: &Path, len: u64) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_len(len).unwrap();
}

#[test]
fn opening_a_named_pipe_is_refused_without_blocking() {
    let dir = TempDir::new("fifo");
    let fifo = dir.join("pipe");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let (tx, rx) = mpsc::channel();
    let opener = fifo.clone();
    // A thread, so that a hang fails the test at the deadline instead of stalling it.
    std::thread::spawn(move || tx.send(Reader::open(&opener).map(|_| ())));
    let got = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("Reader::open of a named pipe with no writer hangs");
    match got {
        Err(e @ Error::NotAJournal { .. }) => {
            assert!(
                e.to_string().ends_with("not a regular file (a FIFO)"),
                "{e}"
            )
        }
        other => panic!("expected NotAJournal, got {other:?}"),
    }
    // A directory says what it is too.
    let e = Reader::open(dir.path()).unwrap_err();
    assert!(
        e.to_string().ends_with("not a regular file (a directory)"),
        "{e}"
    );
}

#[test]
fn iteration_over_a_file_cut_to_nothing_yields_the_error_once() {
    let dir = TempDir::new("cut0");
    let path = dir.join("j");
    journal(&path, 1, &[b"one", b"two"]);
    let r = Reader::open(&path).unwrap();
    cut(&path, 0);
    let items: Vec<_> = r.iter().collect();
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(
        matches!(items[0], Err(Error::FileShrunk { file_len: 0, .. })),
        "{items:?}"
    );
    // The same for everything built on iteration: no silent end, no offset 24.
    assert!(matches!(r.tail_from_end(), Err(Error::FileShrunk { .. })));
    assert!(matches!(
        r.iter_from_index(1),
        Err(Error::FileShrunk { .. })
    ));
    assert!(matches!(r.iter_from_time(0), Err(Error::FileShrunk { .. })));
    assert!(matches!(r.verify(), Err(Error::FileShrunk { .. })));
    let mut it = r.iter();
    assert!(matches!(it.next(), Some(Err(_))));
    assert!(it.next().is_none() && it.next().is_none());
}

#[test]
fn a_cut_under_a_running_iterator_is_file_shrunk_not_damage() {
    let dir = TempDir::new("cutmid");
    let path = dir.join("j");
    let payload = [7u8; 100];
    journal(&path, 1, &[&payload[..]; 8]);
    let r = Reader::open(&path).unwrap();
    let mut it = r.iter();
    assert_eq!(it.next().unwrap().unwrap().payload, payload);
    // Inside the first page: the bytes past the new end read as zeros, no fault.
    cut(&path, 200);
    let rest: Vec<_> = it.collect();
    let errors: Vec<_> = rest.iter().filter(|i| i.is_err()).collect();
    assert_eq!(errors.len(), 1, "{rest:?}");
    assert!(
        matches!(
            rest.last(),
            Some(Err(Error::FileShrunk { file_len: 200, .. }))
        ),
        "{rest:?}"
    );
}

#[test]
fn a_tailer_stops_when_the_journal_is_rewritten_in_place_with_another() {
    let dir = TempDir::new("rewrite");
    let path = dir.join("j");
    journal(&path, 1_000, &[b"a"]);
    let other = journal(&dir.join("other"), 2_000, &[b"b", b"c", b"d"]);
    let r = Reader::open(&path).unwrap();
    let mut t = r.tail();
    assert_eq!(t.poll().unwrap().unwrap().payload, b"a");
    assert!(t.poll().unwrap().is_none());
    overwrite(&path, &other);
    let e = t.poll().unwrap_err();
    assert!(matches!(e, Error::Replaced { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("start_timestamp changed from 1000 to 2000"),
        "{e}"
    );
    // The reader as a whole knows it too.
    assert!(matches!(r.iter().next(), Some(Err(Error::Replaced { .. }))));
    assert!(matches!(r.header(), Err(Error::Replaced { .. })));
}

#[test]
fn a_tailer_stops_when_write_offset_goes_back_below_what_it_read() {
    let dir = TempDir::new("back");
    let path = dir.join("j");
    let long = journal(&path, 5, &[b"a", b"b", b"c"]);
    // The same journal's first event only (same start_timestamp), written over the longer one:
    // the file keeps its length, the header says less than the tailer already read.
    let short = journal(&dir.join("short"), 5, &[b"a"]);
    let r = Reader::open(&path).unwrap();
    let mut t = r.tail();
    for p in [b"a", b"b", b"c"] {
        assert_eq!(t.poll().unwrap().unwrap().payload, p);
    }
    assert!(t.poll().unwrap().is_none());
    overwrite(&path, &short);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), long.len() as u64);
    let e = t.poll().unwrap_err();
    assert!(matches!(e, Error::Replaced { .. }), "{e:?}");
    assert!(
        e.to_string().contains("write_offset went back to 48"),
        "{e}"
    );
}

#[test]
fn io_errors_keep_their_cause_in_source_only() {
    let dir = TempDir::new("ioerr");
    let e = Reader::open(dir.join("missing")).unwrap_err();
    let shown = e.to_string();
    assert!(shown.ends_with("missing: open failed"), "{shown}");
    let cause = e.source().expect("the OS error is the source").to_string();
    assert!(cause.contains("No such file or directory"), "{cause}");
    // Walking the chain, as error reporters do, names the cause exactly once.
    let mut chain = shown.clone();
    let mut next = e.source();
    while let Some(c) = next {
        chain = format!("{chain}: {c}");
        next = c.source();
    }
    assert_eq!(
        chain.matches("No such file or directory").count(),
        1,
        "{chain}"
    );
}

#[test]
fn an_owned_tailer_follows_a_writer_from_another_thread() {
    fn assert_send<T: Send + 'static>(_: &T) {}
    let dir = TempDir::new("owned");
    let path = dir.join("j");
    let mut w = small_opts().start_timestamp(1).create(&path).unwrap();
    w.append(1, b"before").unwrap();
    let reader = Arc::new(Reader::open(&path).unwrap());
    let mut from_end: OwnedTailer = Arc::clone(&reader).into_tailer_from_end().unwrap();
    assert_eq!((from_end.index(), from_end.offset()), (1, 24 + 24));
    let mut all = reader.into_tailer();
    assert_send(&all);
    let n = 500u64;
    let follower = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        while (seen.len() as u64) < n + 1 {
            match all.wait(WaitStrategy::default(), Some(deadline)).unwrap() {
                Some(e) => seen.push((e.index, e.payload.to_vec())),
                None => panic!("deadline: saw {} events", seen.len()),
            }
        }
        (seen, all)
    });
    for i in 0..n {
        w.append(2 + i as i64, format!("event {i}").as_bytes())
            .unwrap();
    }
    let (seen, mut all) = follower.join().unwrap();
    assert_eq!(seen[0], (0, b"before".to_vec()));
    for (i, (index, payload)) in seen[1..].iter().enumerate() {
        assert_eq!(
            (*index, payload.as_slice()),
            (i as u64 + 1, format!("event {i}").as_bytes())
        );
    }
    assert!(all.poll().unwrap().is_none());
    assert_eq!(from_end.poll().unwrap().unwrap().payload, b"event 0");
    w.close().unwrap();
}

#[test]
fn an_owned_tailer_reports_a_replaced_journal() {
    let dir = TempDir::new("ownedrep");
    let path = dir.join("j");
    journal(&path, 10, &[b"x"]);
    let other = journal(&dir.join("other"), 20, &[b"y", b"z"]);
    let mut t = Arc::new(Reader::open(&path).unwrap()).into_tailer();
    assert_eq!(t.poll().unwrap().unwrap().payload, b"x");
    overwrite(&path, &other);
    let e = t
        .wait(
            WaitStrategy::Yield,
            Some(Instant::now() + Duration::from_secs(30)),
        )
        .unwrap_err();
    assert!(matches!(e, Error::Replaced { .. }), "{e:?}");
    let _ = Writer::open(&path).unwrap(); // the other journal itself is fine
}

#[test]
fn check_replaced_notices_a_file_renamed_over_the_path_or_removed() {
    let dir = TempDir::new("rename");
    let path = dir.join("j");
    journal(&path, 1, &[b"a"]);
    let other = dir.join("other");
    // The same start_timestamp and content: only the file's identity differs.
    journal(&other, 1, &[b"a", b"b"]);
    let r = Reader::open(&path).unwrap();
    r.check_replaced().unwrap();
    std::fs::rename(&other, &path).unwrap();
    let e = r.check_replaced().unwrap_err();
    assert!(matches!(e, Error::Replaced { .. }), "{e:?}");
    assert!(
        e.to_string().ends_with("the path now names another file"),
        "{e}"
    );
    let r = Reader::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let e = r.check_replaced().unwrap_err();
    assert!(
        e.to_string().ends_with("the path was removed or renamed"),
        "{e}"
    );
    // The open file itself is still readable.
    assert_eq!(r.iter().count(), 2);
}

/// Minor and major page faults taken by the calling thread so far.
fn thread_faults() -> u64 {
    // SAFETY: getrusage writes one rusage struct, which we own, and nothing else.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_THREAD is valid on Linux.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    assert_eq!(rc, 0);
    (ru.ru_minflt + ru.ru_majflt) as u64
}

/// Appends 1 KiB events to a pre-faulted writer and polls each one with `tail` until 512 KiB before
/// the end of the first chunk; returns the events and the page faults the polls took.
fn tail_faults(
    w: &mut Writer,
    chunk: u64,
    mut poll: impl FnMut() -> Option<Vec<u8>>,
) -> (u64, u64) {
    let payload = [0x5au8; 1000];
    let (mut n, mut faults) = (0u64, 0u64);
    while w.write_offset() + 1024 < chunk - (512 << 10) {
        w.append(n as i64, &payload).unwrap();
        let before = thread_faults();
        let got = poll();
        faults += thread_faults() - before;
        assert_eq!(got.as_deref(), Some(&payload[..]), "event {n}");
        n += 1;
    }
    (n, faults)
}

#[test]
fn a_pretouched_tailer_polls_new_pages_without_page_faults() {
    let dir = TempDir::new("tailfaults");
    let chunk = 4 << 20;
    for pretouch in [true, false] {
        let path = dir.join(if pretouch { "pretouched" } else { "plain" });
        let mut w = journal::WriterOptions::new()
            .chunk_size(chunk)
            .index(false)
            .create(&path)
            .unwrap();
        w.pretouch().unwrap();
        let r = Reader::open(&path).unwrap();
        let mut tail = r.tail();
        let owned = Arc::new(Reader::open(&path).unwrap()).into_tailer();
        if pretouch {
            tail.pretouch(chunk).unwrap();
            // The owned tailer's call reaches the same place; past the file it stops at its end.
            owned.pretouch(u64::MAX).unwrap();
        }
        let (n, faults) = tail_faults(&mut w, chunk, || {
            tail.poll().unwrap().map(|e| e.payload.to_vec())
        });
        assert!(n > 3000, "only {n} events");
        if pretouch {
            assert_eq!(faults, 0, "{faults} page faults in {n} polls");
        } else {
            // The reference: without it, reading new pages faults.
            assert!(faults > 0, "no page fault in {n} polls of new pages");
        }
        assert!(tail.poll().unwrap().is_none());
        drop(owned);
        w.close().unwrap();
    }
}
