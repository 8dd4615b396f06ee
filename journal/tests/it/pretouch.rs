//! Growth off the appending thread (FORMAT.md 7.3): allocation ahead of the pre-fault window and
//! the pretoucher, run by the caller or on the writer's own thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use journal::index::{self, Index, Verdict};
use journal::{Reader, SyncPolicy, Writer, WriterOptions};

use crate::support::{
    count_allocs, payload_for, read_all, skip, small_opts, thread_write_calls, timestamp_for, InCi,
    TempDir,
};
use crate::writer::thread_faults;

fn file_len(w: &Writer) -> u64 {
    std::fs::metadata(w.path()).unwrap().len()
}

/// Every event reads back as appended, the journal verifies intact, and the file ends at
/// `write_offset` after the clean close.
fn check_journal(path: &std::path::Path, n: u64, max_len: usize) {
    let got = read_all(path);
    assert_eq!(got.len() as u64, n);
    for (i, (ts, p)) in got.iter().enumerate() {
        let i = i as u64;
        assert_eq!(
            (*ts, &p[..]),
            (timestamp_for(i), &payload_for(i, max_len)[..]),
            "event {i}"
        );
    }
    let rep = Reader::open(path).unwrap().verify().unwrap();
    assert!(rep.is_intact() && rep.events == n, "{rep:?}");
    let r = Reader::open(path).unwrap();
    let h = r.header().unwrap();
    assert_eq!(h.file_len, h.write_offset);
}

/// Growth without a pretoucher allocates one chunk past what it pre-faults: after any append the
/// file is at least one whole chunk longer than the chunk the next append writes into.
#[test]
fn growth_allocates_a_chunk_ahead_of_the_prefault_window() {
    let dir = TempDir::new("ahead");
    let path = dir.join("j");
    let chunk = 64 << 10;
    let mut w = WriterOptions::new()
        .chunk_size(chunk)
        .create(&path)
        .unwrap();
    for i in 0..2_000u64 {
        w.append(timestamp_for(i), &payload_for(i, 700)).unwrap();
        let in_chunk_end = w.write_offset().div_ceil(chunk) * chunk;
        assert!(
            file_len(&w) >= in_chunk_end + chunk,
            "event {i}: file {} bytes, write_offset {}",
            file_len(&w),
            w.write_offset()
        );
    }
    w.close().unwrap();
    check_journal(&path, 2_000, 700);
}

/// A pretoucher run by the caller prepares the next chunks; the appends that fit in them adopt
/// them and grow nothing themselves (the file keeps the length the pretoucher gave it). Once the
/// writer overtakes it (it made one pass and stopped), the writer goes on into the file the
/// pretoucher allocated, taking its own page faults there, instead of growing the file and
/// pre-faulting a step itself: where pre-faulting is `MADV_POPULATE_WRITE`, which writes no byte,
/// the writer and a pretoucher that fell behind may fault the same pages at once, so both cores
/// provision pages. Past the allocation (or, on kernels before 5.14, past what was ready) the
/// writer grows the file itself.
#[test]
fn appends_adopt_what_a_caller_run_pretoucher_prepared() {
    let dir = TempDir::new("adopt");
    let path = dir.join("j");
    let chunk = 64 << 10;
    let mut w = WriterOptions::new()
        .chunk_size(chunk)
        .create(&path)
        .unwrap();
    let p = w.pretoucher().unwrap();
    assert!(p.pretouch().unwrap());
    let prepared = file_len(&w);
    // Two chunks past the chunk holding write_offset are ready, the file allocated one further.
    assert!(
        prepared >= 4 * chunk,
        "pretoucher allocated only {prepared} bytes"
    );
    let mut i = 0u64;
    while w.write_offset() + 1024 < 3 * chunk {
        w.append(timestamp_for(i), &payload_for(i, 900)).unwrap();
        i += 1;
    }
    assert_eq!(file_len(&w), prepared, "the writer grew the file itself");
    // Past the ready window (a chunk short of the allocation, FORMAT.md 7.3), up to the end of
    // the allocation.
    let ready = prepared - chunk;
    while w.write_offset() + 1024 < prepared {
        w.append(timestamp_for(i), &payload_for(i, 900)).unwrap();
        i += 1;
        if w.write_offset() > ready + 4096 {
            if kernel_has_populate_write() {
                assert_eq!(
                    file_len(&w),
                    prepared,
                    "event {i} at {}: the writer grew the file inside the allocation",
                    w.write_offset()
                );
            } else {
                assert!(file_len(&w) > prepared);
            }
        }
    }
    assert!(w.write_offset() > ready + 4096);
    // Past the allocation, the writer grows the file as without a pretoucher.
    while w.write_offset() < prepared + 2 * chunk {
        w.append(timestamp_for(i), &payload_for(i, 900)).unwrap();
        i += 1;
    }
    assert!(file_len(&w) > prepared);
    w.close().unwrap();
    assert!(
        !p.pretouch().unwrap(),
        "a pretoucher of a closed writer does nothing"
    );
    assert!(p.writer_closed());
    check_journal(&path, i, 900);
}

/// The `VmFlags` of this process's writable mapping of `path` (the writer's) that covers file
/// offset `offset`, from `/proc/self/smaps`.
fn vm_flags_at(path: &std::path::Path, offset: u64) -> Option<String> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let path = path.to_str().unwrap();
    let mut covering = false;
    for line in smaps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields
            .first()
            .is_some_and(|f| f.contains('-') && !f.ends_with(':'))
        {
            // `start-end perms pgoff dev inode path`
            let (start, end) = fields[0].split_once('-').unwrap();
            let len =
                u64::from_str_radix(end, 16).unwrap() - u64::from_str_radix(start, 16).unwrap();
            let pgoff = u64::from_str_radix(fields[2], 16).unwrap();
            covering = fields.get(5) == Some(&path)
                && fields[1].starts_with("rw")
                && (pgoff..pgoff + len).contains(&offset);
        } else if covering && line.starts_with("VmFlags:") {
            return Some(line.to_string());
        }
    }
    None
}

/// Regression: with huge-page advice on, a writer pre-faulting from `write_offset` (a reopened
/// journal's first append) advised the range from that offset, which is rarely page-aligned, and
/// `madvise` refused the unaligned range, so the advice was never given. Now it is given from the
/// page that holds the start.
#[test]
fn a_reopened_writer_gives_the_huge_page_advice() {
    let dir = TempDir::new("reopen-huge");
    let path = dir.join("j");
    let opts = || {
        let mut o = WriterOptions::new();
        o.chunk_size(4 << 20).huge_pages(true);
        o
    };
    let mut w = opts().create(&path).unwrap();
    let mut i = 0u64;
    while w.write_offset() < 100_000 {
        w.append(timestamp_for(i), &payload_for(i, 900)).unwrap();
        i += 1;
    }
    w.close().unwrap();
    let mut w = opts().open(&path).unwrap();
    let reopened_at = w.write_offset();
    assert_ne!(reopened_at % 4096, 0);
    // The first append prepares the rest of the chunk, from `write_offset`.
    w.append(timestamp_for(i), &payload_for(i, 900)).unwrap();
    let flags = vm_flags_at(&path, reopened_at + (1 << 20)).expect("the writer maps the file");
    assert!(
        flags.contains(" hg"),
        "no huge-page advice ahead of the reopened writer: {flags}"
    );
    w.close().unwrap();
    check_journal(&path, i + 1, 900);
}

/// With huge-page advice on, a writer that overtakes its pretoucher advises the range it goes on
/// into, as the pretoucher advises each range before it pre-faults it: the pages it faults in
/// itself may then be mapped in 2 MiB folios too.
#[test]
fn a_writer_that_overtakes_its_pretoucher_gives_the_huge_page_advice() {
    if !kernel_has_populate_write() {
        return skip(
            "an overtaking writer's own page faults",
            "this kernel predates MADV_POPULATE_WRITE (Linux 5.14)",
            InCi::MaySkip,
        );
    }
    let dir = TempDir::new("overtake-huge");
    let path = dir.join("j");
    let chunk = 4 << 20;
    let mut w = WriterOptions::new()
        .chunk_size(chunk)
        .huge_pages(true)
        .create(&path)
        .unwrap();
    let p = w.pretoucher().unwrap();
    assert!(p.pretouch().unwrap());
    let prepared = file_len(&w);
    let ready = prepared - chunk;
    let probe = ready + (1 << 20);
    let flags = vm_flags_at(&path, probe).expect("the writer maps the file");
    assert!(
        !flags.contains(" hg"),
        "advised before the writer got there: {flags}"
    );
    let mut i = 0u64;
    while w.write_offset() < probe {
        w.append(timestamp_for(i), &payload_for(i, 900)).unwrap();
        i += 1;
    }
    assert_eq!(file_len(&w), prepared, "the writer grew the file itself");
    let flags = vm_flags_at(&path, probe).expect("the writer maps the file");
    assert!(
        flags.contains(" hg"),
        "no huge-page advice where the writer overtook: {flags}"
    );
    drop(p);
    w.close().unwrap();
    check_journal(&path, i, 900);
}

/// Whether this kernel knows `MADV_POPULATE_WRITE` (Linux 5.14 and later), from its release.
fn kernel_has_populate_write() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut v = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    (v.next().unwrap_or(0), v.next().unwrap_or(0)) >= (5, 14)
}

/// A pretoucher spinning on another thread while the writer appends across many chunks and
/// several doublings of its address-space reservation (the mapping may move under it): every event
/// intact, and the writer closes while it runs, after which it stops by itself.
#[test]
fn growth_is_correct_under_a_concurrent_pretoucher_and_close_stops_it() {
    let dir = TempDir::new("concurrent");
    for policy in [SyncPolicy::Never, SyncPolicy::EveryEvents(500)] {
        let path = dir.join(&format!("{policy:?}"));
        let mut w = small_opts()
            .chunk_size(16 << 10)
            .sync_policy(policy)
            .create(&path)
            .unwrap();
        let p = w.pretoucher().unwrap();
        let passes = Arc::new(AtomicBool::new(false));
        let runner = {
            let passes = passes.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while p.pretouch().unwrap() {
                    n += 1;
                    passes.store(true, Ordering::Relaxed);
                }
                n
            })
        };
        let n = 20_000u64;
        for i in 0..n {
            if i % 3 == 0 {
                let len = payload_for(i, 2_000).len();
                let mut c = w.claim(len).unwrap();
                c.as_mut_slice().copy_from_slice(&payload_for(i, 2_000));
                c.commit(timestamp_for(i)).unwrap();
            } else {
                w.append(timestamp_for(i), &payload_for(i, 2_000)).unwrap();
            }
        }
        assert!(
            w.write_offset() > 8 << 20,
            "crossed several reservation doublings"
        );
        w.close().unwrap();
        let ran = runner.join().unwrap();
        assert!(ran > 0 && passes.load(Ordering::Relaxed));
        check_journal(&path, n, 2_000);
    }
}

/// The writer's own pretoucher thread: appends across many chunks allocate nothing on the
/// appending thread, every event is intact, close joins the thread; a writer dropped, or abandoned
/// as a killed process leaves it, with the thread running reopens with every published event.
#[test]
fn the_writers_own_pretoucher_thread_keeps_events_intact_and_stops_with_the_writer() {
    let dir = TempDir::new("thread");
    let path = dir.join("j");
    let mut w = small_opts()
        .chunk_size(32 << 10)
        .pretouch_thread(true)
        .create(&path)
        .unwrap();
    let n = 5_000u64;
    let payloads: Vec<Vec<u8>> = (0..n).map(|i| payload_for(i, 1_500)).collect();
    let ((), allocs, _) = count_allocs(|| {
        for (i, p) in payloads.iter().enumerate() {
            w.append(timestamp_for(i as u64), p).unwrap();
        }
    });
    assert_eq!(allocs, 0, "the append path allocated {allocs} times");
    w.close().unwrap();
    check_journal(&path, n, 1_500);

    // Dropped without close: the drop closes it and stops the thread.
    let mut w = small_opts().pretouch_thread(true).open(&path).unwrap();
    for i in n..n + 100 {
        w.append(timestamp_for(i), &payload_for(i, 1_500)).unwrap();
    }
    drop(w);
    check_journal(&path, n + 100, 1_500);

    // Abandoned (a killed process): recovery finds every published event.
    let mut w = small_opts().pretouch_thread(true).open(&path).unwrap();
    for i in n + 100..n + 200 {
        w.append(timestamp_for(i), &payload_for(i, 1_500)).unwrap();
    }
    w.abandon();
    let w = small_opts().open(&path).unwrap();
    assert_eq!(w.events(), n + 200);
    w.close().unwrap();
    check_journal(&path, n + 200, 1_500);
}

/// Asserts that the calling thread made no write-type system call since `before` (from
/// [`thread_write_calls`]): the index's `pwrite`s were made elsewhere. Says so and returns where
/// the kernel does not count them.
fn assert_no_write_calls_since(before: Option<u64>, what: &str) {
    match (before, thread_write_calls()) {
        (Some(before), Some(now)) => assert_eq!(
            now - before,
            0,
            "the appending thread made {} write calls (the index's) while {what}",
            now - before
        ),
        _ => skip(
            "per-thread I/O accounting",
            "/proc/thread-self/io has no syscw",
            InCi::Required,
        ),
    }
}

/// The journal of `n` events `i` stamped `i` holds an index that covers it all, exactly what a
/// rebuild writes (INDEX.md 7), and seeks through it land on the right events.
fn assert_indexed_and_seeks(path: &std::path::Path, n: u64) {
    let r = Reader::open(path).unwrap();
    let rep = r.verify().unwrap();
    assert!(rep.is_intact() && rep.events == n, "{rep:?}");
    assert!(
        matches!(index::check_file(&r).unwrap(), Verdict::Current { events, .. } if events == n),
        "{:?}",
        index::check_file(&r)
    );
    let idx = Index::load(&r).unwrap();
    for k in [0, 1, n / 3, n / 2 + 7, n - 1] {
        let e = index::iter_from_index(&r, Some(&idx), k)
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!((e.index, e.timestamp), (k, k as i64));
        let e = index::iter_from_time(&r, Some(&idx), k as i64)
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(e.index, k);
    }
}

/// A new journal under `SyncPolicy::Never` with the index on and 1 MiB chunks, with the writer's
/// own pretoucher thread or not.
fn never_writer(path: &std::path::Path, own_thread: bool) -> Writer {
    WriterOptions::new()
        .chunk_size(1 << 20)
        .sync_policy(SyncPolicy::Never)
        .pretouch_thread(own_thread)
        .create(path)
        .unwrap()
}

/// Appends 60 KiB events (event `i` stamped `i`, counting on from `*i`) until `done` holds, past
/// 64 MiB at a pace a slow disk keeps up with (60 KiB a millisecond), so that the pretoucher's
/// sync, which waits for the disk without holding up the growth, finishes and its range stops
/// growing; fails after two minutes.
fn append_paced_until(w: &mut Writer, i: &mut i64, what: &str, done: impl Fn(&Writer) -> bool) {
    let payload = vec![0x3Cu8; 60 << 10];
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done(w) {
        assert!(Instant::now() < deadline, "{what} never happened");
        w.append(*i, &payload).unwrap();
        *i += 1;
        if w.write_offset() > 64 << 20 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Under `SyncPolicy::Never` with the index on, the pretoucher does the periodic sync (every 64
/// MiB, INDEX.md 9.3), and the thread that runs it moves the index's checkpoint over what it
/// synced, before any close: the appending thread neither walks the entries nor writes the index
/// (it makes no write call). An explicit sync takes the upkeep back and moves the checkpoint; crash
/// images of a writer whose pretoucher synced recover every event the sync covered.
#[test]
fn the_pretoucher_syncs_for_the_index_checkpoint_under_never() {
    let dir = TempDir::new("cpsync");
    let path = dir.join("j");
    let mut w = never_writer(&path, false);
    let p = w.pretoucher().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let runner = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) && p.pretouch().unwrap() {
                std::hint::spin_loop();
            }
        })
    };
    let mut i = 0i64;
    // 64 MiB, then more until the pretoucher's sync of them is done: the writer adopts a prepared
    // chunk every MiB, and the pretoucher moves the checkpoint once it has synced past 64 MiB.
    let writes = thread_write_calls();
    append_paced_until(&mut w, &mut i, "the checkpoint's move", |w| {
        w.index_checkpoint().unwrap().offset > 24
    });
    assert_no_write_calls_since(writes, "the pretoucher moved the checkpoint");
    let cp = w.index_checkpoint().unwrap();
    assert!(cp.offset >= 64 << 20 && cp.offset <= w.write_offset());
    // An explicit sync moves the checkpoint to the end, on the calling thread.
    let end = w.write_offset() + (1 << 20);
    append_paced_until(&mut w, &mut i, "1 MiB more", |w| w.write_offset() > end);
    w.sync().unwrap();
    assert_eq!(w.index_checkpoint().unwrap().offset, w.write_offset());
    let cp = w.index_checkpoint().unwrap();
    stop.store(true, Ordering::Relaxed);
    runner.join().unwrap();
    w.abandon();
    let w = WriterOptions::new().open(&path).unwrap();
    assert_eq!(w.events(), i as u64);
    assert!(w.index_checkpoint().unwrap().offset >= cp.offset);
    w.close().unwrap();
}

/// The writer's own pretoucher thread under `SyncPolicy::Never` with the index on runs the periodic
/// sync on a thread of its own (`journal-sync`, so that pre-faulting never waits for the disk), and
/// that thread moves the index's checkpoint over what it synced, before any close: the appending
/// thread makes no write call. The close takes the upkeep back and leaves an index that covers
/// everything and seeks exactly.
#[test]
fn the_writers_own_pretoucher_syncs_on_its_own_thread_for_the_index_checkpoint() {
    let dir = TempDir::new("cpthread");
    let path = dir.join("j");
    let mut w = never_writer(&path, true);
    let mut i = 0i64;
    // Past 64 MiB the sync thread syncs (as fast as the disk allows), then moves the checkpoint.
    let writes = thread_write_calls();
    append_paced_until(&mut w, &mut i, "the checkpoint's move", |w| {
        w.index_checkpoint().unwrap().offset > 24
    });
    assert_no_write_calls_since(writes, "the pretoucher's thread moved the checkpoint");
    let cp = w.index_checkpoint().unwrap();
    assert!(cp.offset >= 64 << 20 && cp.offset <= w.write_offset());
    let end = w.write_offset() + (1 << 20);
    append_paced_until(&mut w, &mut i, "1 MiB more", |w| w.write_offset() > end);
    assert!(w.index_error().is_none());
    w.close().unwrap();
    assert_indexed_and_seeks(&path, i as u64);
    let w = WriterOptions::new().open(&path).unwrap();
    assert_eq!(w.events(), i as u64);
    // An open after the clean close trusts the checkpoint: it walks nothing, repairs nothing.
    assert_eq!(w.index_checkpoint().unwrap().offset, w.write_offset());
    assert!(w.recovered().is_none());
    w.close().unwrap();
}

/// An index write that fails on the pretoucher's thread (the writer's own, under `Never`) disables
/// the index and fails nothing of the journal: appends go on, the close succeeds, the index is
/// left at its last checkpoint (stale, still usable), and the next writer extends it.
#[test]
fn an_index_write_error_on_the_pretouchers_thread_disables_the_index_only() {
    let dir = TempDir::new("cpfail");
    let path = dir.join("j");
    let mut w = never_writer(&path, true);
    w.inject_index_failure();
    let mut i = 0i64;
    append_paced_until(&mut w, &mut i, "the index's failed write", |w| {
        w.index_checkpoint().is_none()
    });
    let why = w.index_error().expect("the index is disabled").to_string();
    assert!(why.contains("j.idx"), "{why}");
    let end = w.write_offset() + (1 << 20);
    append_paced_until(&mut w, &mut i, "1 MiB more", |w| w.write_offset() > end);
    assert_eq!(w.events(), i as u64);
    assert_eq!(w.index_error(), Some(why.as_str()));
    w.close().unwrap();
    let r = Reader::open(&path).unwrap();
    let idx = Index::load(&r).unwrap();
    assert_eq!(idx.checkpoint(), index::START);
    assert!(matches!(
        index::check(&r, &idx).unwrap(),
        Verdict::Stale { .. }
    ));
    drop(r);
    let w = WriterOptions::new().open(&path).unwrap();
    assert_eq!(w.index_checkpoint().unwrap().offset, w.write_offset());
    w.close().unwrap();
    assert_indexed_and_seeks(&path, i as u64);
}

/// With a pretoucher ahead of it (a pass completed on another thread), the appending thread takes
/// no page fault and grows nothing on a fresh, growing file: across several chunks, each burst of
/// appends stays inside what the pass prepared (two chunks past the chunk of `write_offset`), and
/// the file keeps the length the pretoucher gave it. Both for the writer's own pretoucher thread
/// (running concurrently) and for a handle run by the caller.
#[test]
fn the_appending_thread_takes_no_page_fault_in_what_the_pretoucher_prepared() {
    let dir = TempDir::new("nofault");
    for own_thread in [false, true] {
        let path = dir.join(&format!("j-{own_thread}"));
        let chunk = 1u64 << 20;
        let mut w = WriterOptions::new()
            .chunk_size(chunk)
            .index(false)
            .pretouch_thread(own_thread)
            .create(&path)
            .unwrap();
        let p = Arc::new(w.pretoucher().unwrap());
        let payload = payload_for(3, 1_000);
        // Warm the code path.
        w.append(timestamp_for(0), &payload).unwrap();
        let mut n = 1u64;
        let (mut faults, mut bursts) = (0u64, 0u64);
        for _ in 0..6 {
            // One complete pass on another thread: the pretoucher is ahead when it returns.
            let q = Arc::clone(&p);
            assert!(std::thread::spawn(move || q.pretouch().unwrap())
                .join()
                .unwrap());
            let ready = w.write_offset().div_ceil(chunk) * chunk + 2 * chunk;
            let len = file_len(&w);
            assert!(len >= ready + chunk, "file {len} bytes, ready {ready}");
            let before = thread_faults();
            let start = n;
            while w.write_offset() + 2 * 1024 < ready {
                w.append(timestamp_for(n), &payload).unwrap();
                n += 1;
            }
            faults += thread_faults() - before;
            bursts += n - start;
            if !own_thread {
                assert_eq!(file_len(&w), len, "the appending thread grew the file");
            }
        }
        assert!(bursts > 6_000, "only {bursts} appends");
        assert_eq!(
            faults, 0,
            "{faults} page faults in {bursts} appends into prepared chunks (own thread: {own_thread})"
        );
        w.close().unwrap();
        let got = read_all(&path);
        assert_eq!(got.len() as u64, n);
    }
}

/// Creation pre-faults only its first window (64 KiB): the page cache holds no more of the new
/// file than that. Without read-ahead turned off for that pre-fault, the kernel zero-fills a whole
/// read-ahead window (the device's `read_ahead_kb`, megabytes on some), which made creation cost
/// milliseconds.
#[test]
fn creation_fills_the_page_cache_with_its_first_window_only() {
    let dir = TempDir::new("create-ra");
    let path = dir.join("j");
    let w = WriterOptions::new()
        .sync_policy(SyncPolicy::Never)
        .create(&path)
        .unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let len = 16usize << 20;
    assert!(file_len(&w) >= len as u64);
    let page = 4096usize;
    // SAFETY: a read-only shared mapping of `len` bytes of a file at least that long, only passed
    // to mincore and unmapped below; no byte of it is read.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            std::os::fd::AsRawFd::as_raw_fd(&file),
            0,
        )
    };
    assert_ne!(base, libc::MAP_FAILED);
    let mut vec = vec![0u8; len / page];
    // SAFETY: `base` maps `len` bytes; `vec` has one byte per page of them.
    let rc = unsafe { libc::mincore(base, len, vec.as_mut_ptr()) };
    // SAFETY: the mapping made above, which nothing references.
    unsafe { libc::munmap(base, len) };
    assert_eq!(rc, 0);
    let resident = vec.iter().filter(|&&b| b & 1 == 1).count() * page;
    assert!(
        resident <= 96 << 10,
        "{resident} bytes of the new file in the page cache"
    );
    w.close().unwrap();
}

/// The voluntary context switches (each a wake-up after a sleep) of this process's threads whose
/// name starts with `name` (a thread's name shows cut to 15 bytes), by thread id.
fn thread_wakes(name: &str) -> std::collections::HashMap<String, u64> {
    let mut out = std::collections::HashMap::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        // A thread that ended meanwhile has no files left: skipped.
        let (Ok(comm), Ok(status)) = (
            std::fs::read_to_string(dir.join("comm")),
            std::fs::read_to_string(dir.join("status")),
        ) else {
            continue;
        };
        if !name.starts_with(comm.trim_end()) {
            continue;
        }
        let wakes = status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .map(|v| v.trim().parse::<u64>().unwrap())
            .unwrap();
        out.insert(dir.file_name().unwrap().to_str().unwrap().to_owned(), wakes);
    }
    out
}

/// Regression: the writer's own pretouch and sync threads woke every millisecond, idle or not
/// (2,000 wake-ups a second, each taking a core from the writer and the process's other threads).
/// Now they follow the writer's rate: while it is idle, with the default 16 MiB chunks (32 MiB or
/// more ready), the pretouch thread wakes every 8 to 13 ms, the sync thread every 20. Other tests may run
/// writers with such threads meanwhile, so the check is that a pretouch and a sync thread started
/// by this test's writer were that quiet; with the fixed millisecond, none was.
#[test]
fn an_idle_writers_own_threads_wake_seldom() {
    let dir = TempDir::new("idle-threads");
    let old_pretouch = thread_wakes("journal-pretouch");
    let old_sync = thread_wakes("journal-sync");
    let mut w = small_opts()
        .chunk_size(16 << 20)
        .sync_policy(SyncPolicy::Never)
        .pretouch_thread(true)
        .create(dir.join("j"))
        .unwrap();
    for i in 0..100 {
        w.append(timestamp_for(i), &payload_for(i, 100)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    let start = (
        thread_wakes("journal-pretouch"),
        thread_wakes("journal-sync"),
    );
    let idle = Duration::from_millis(400);
    std::thread::sleep(idle);
    let end = (
        thread_wakes("journal-pretouch"),
        thread_wakes("journal-sync"),
    );
    w.close().unwrap();
    // New threads, and their wake-ups over the idle time.
    let quietest = |old: &std::collections::HashMap<String, u64>,
                    start: &std::collections::HashMap<String, u64>,
                    end: &std::collections::HashMap<String, u64>| {
        end.iter()
            .filter(|(tid, _)| !old.contains_key(*tid))
            .filter_map(|(tid, n)| start.get(tid).map(|s| n - s))
            .min()
    };
    let pretouch = quietest(&old_pretouch, &start.0, &end.0).expect("a new pretouch thread");
    let sync = quietest(&old_sync, &start.1, &end.1).expect("a new sync thread");
    // 400 ms at 8 to 20 ms is 20 to 50 wake-ups; at a millisecond it was about 400.
    assert!(
        pretouch <= 100 && sync <= 100,
        "over {idle:?} idle: the pretouch thread woke {pretouch} times, the sync thread {sync}"
    );
}

/// Regression: an index error met on the pretoucher's side of a set's segment that was prepared
/// under `.next.journal` named that file's index after the roll renamed it. Now it names the
/// segment's own index.
#[test]
fn an_index_error_after_a_roll_names_the_segments_own_index() {
    let dir = TempDir::new("roll-index-error");
    let mut seg = WriterOptions::new();
    seg.chunk_size(1 << 20)
        .sync_policy(SyncPolicy::Never)
        .pretouch_thread(true);
    let second = 1_000_000_000i64;
    let mut set = journal::set::SetWriterOptions::new()
        .segment_options(seg)
        .roll(journal::set::RollPolicy {
            period_ns: second as u64,
            ..Default::default()
        })
        .create(dir.join("set"))
        .unwrap();
    set.append(0, b"first segment").unwrap();
    // The next second's cycle: a roll to the segment prepared under `.next.journal`.
    set.append(second, b"second segment").unwrap();
    assert!(set.segment_path() != dir.join("set").join(".next.journal"));
    set.inject_index_failure();
    // Past 64 MiB, paced as the disk keeps up: the pretoucher's sync, then the failed index write.
    let payload = vec![0x3Cu8; 60 << 10];
    let deadline = Instant::now() + Duration::from_secs(120);
    while set.segment().index_checkpoint().is_some() {
        assert!(
            Instant::now() < deadline,
            "the index's failed write never happened"
        );
        set.append(second, &payload).unwrap();
        if set.segment().write_offset() > 64 << 20 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let why = set.segment().index_error().expect("the index is disabled");
    let own = journal::index::index_path(set.segment_path());
    assert!(
        why.starts_with(&format!("{}: ", own.display())),
        "{why} does not name {}",
        own.display()
    );
    set.close().unwrap();
}
