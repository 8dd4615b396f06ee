//! Address space and the SIGBUS guard: readers and writers map what they need and grow their
//! mappings as the journal grows (FORMAT.md 10); a SIGBUS outside our mappings reaches the handler
//! installed before ours, every time.
//!
//! The tests that change process-wide state (an address-space limit, a SIGBUS handler) run in a
//! child: this test binary re-run on [`child_entry`] with the role in `JOURNAL_IT_MAPPING`.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use journal::{Error, Reader, WaitStrategy, Writer, WriterOptions};

use crate::support::TempDir;

/// Runs `role` in a child process on `path`; panics unless it exits successfully after saying
/// `RES ok`.
fn run_child(role: &str, path: &Path) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "mapping::child_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("JOURNAL_IT_MAPPING", role)
        .env("JOURNAL_IT_PATH", path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("RES ok"),
        "child {role}: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
}

/// The entry point of the child processes (run by the tests below only).
#[test]
#[ignore = "child process entry point for the mapping tests; run by them, not by hand"]
fn child_entry() {
    let role = std::env::var("JOURNAL_IT_MAPPING").expect("JOURNAL_IT_MAPPING");
    let path = std::path::PathBuf::from(std::env::var("JOURNAL_IT_PATH").expect("JOURNAL_IT_PATH"));
    match role.as_str() {
        "writer_under_4g" => writer_under_4g(&path),
        "sigbus_chain" => sigbus_chain(&path),
        "sigbus_default" => {
            let _r = Reader::open(&path).unwrap();
            fault_outside(path.parent().unwrap());
            println!("survived a SIGBUS outside the journal's mappings");
        }
        other => panic!("unknown role {other}"),
    }
    println!("RES ok");
}

/// Limits this process's address space (`ulimit -v`).
fn limit_address_space(bytes: u64) {
    let lim = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: setrlimit reads the valid rlimit struct passed by reference.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

fn writer_under_4g(path: &Path) {
    limit_address_space(4 << 30);
    // Default options: a 1 TiB maximum size must not mean a 1 TiB reservation.
    let mut w = Writer::create(path).unwrap_or_else(|e| panic!("create: {e}"));
    for i in 0..1000 {
        w.append(i, &[i as u8; 100]).unwrap();
    }
    // A live reader next to the writer.
    let r = Reader::open(path).unwrap_or_else(|e| panic!("reader: {e}"));
    assert_eq!(r.verify().unwrap().events, 1000);
    w.close().unwrap();
    let mut w = Writer::open(path).unwrap_or_else(|e| panic!("reopen: {e}"));
    w.append(1000, b"after reopening").unwrap();
    w.close().unwrap();
    assert_eq!(Reader::open(path).unwrap().verify().unwrap().events, 1001);
}

/// A writer with default options opens, appends and reopens under a 4 GiB address-space limit.
#[test]
fn a_writer_opens_under_a_4_gib_address_space_limit() {
    let dir = TempDir::new("as4g");
    run_child("writer_under_4g", &dir.join("j"));
}

static CUSTOM_CALLS: AtomicUsize = AtomicUsize::new(0);

/// A SIGBUS handler installed before the journal's: counts its calls and maps a zero page over the
/// faulting page so the access completes.
extern "C" fn custom_handler(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    CUSTOM_CALLS.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the kernel passes a valid siginfo_t to an SA_SIGINFO handler; mapping an anonymous
    // page over the faulting page of the test's own mapping is what the test wants (mmap is
    // async-signal-safe).
    unsafe {
        let page = libc::sysconf(libc::_SC_PAGESIZE) as usize;
        let addr = (*info).si_addr() as usize & !(page - 1);
        libc::mmap(
            addr as *mut libc::c_void,
            page,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
            -1,
            0,
        );
    }
}

/// Maps a one-page file, truncates it to nothing and reads the page: a SIGBUS outside the
/// journal's mappings. Returns the byte read.
fn fault_outside(dir: &Path) -> u8 {
    let path = dir.join("victim");
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    f.set_len(4096).unwrap();
    // SAFETY: a fresh shared read-only mapping of a file of ours; unmapped below.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    f.set_len(0).unwrap();
    // SAFETY: the page is mapped; reading it raises SIGBUS (the file is empty), which the custom
    // handler resolves by mapping a zero page there.
    let byte = unsafe { std::ptr::read_volatile(p.cast::<u8>()) };
    // SAFETY: unmaps the mapping made above, which nothing references any more.
    unsafe { libc::munmap(p, 4096) };
    byte
}

fn sigbus_chain(path: &Path) {
    // SAFETY: installs a valid SA_SIGINFO handler for SIGBUS in this single-purpose child.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = custom_handler as *const () as usize;
        act.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut act.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGBUS, &act, std::ptr::null_mut()), 0);
    }
    let dir = path.parent().unwrap();
    // Opening a reader installs the journal's handler over the custom one.
    let r = Reader::open(path).unwrap();
    assert_eq!(r.verify().unwrap().events, 100);
    for round in 1..=3 {
        assert_eq!(fault_outside(dir), 0);
        assert_eq!(CUSTOM_CALLS.load(Ordering::SeqCst), round, "round {round}");
    }
    // Ours is still installed: a truncation under the reader is caught and reported.
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(0)
        .unwrap();
    match r.verify() {
        Err(Error::FileShrunk { .. }) => {}
        other => panic!("verify after truncation: {other:?}"),
    }
    assert_eq!(CUSTOM_CALLS.load(Ordering::SeqCst), 3);
}

/// A SIGBUS outside the journal's mappings reaches the handler installed before the journal's, every
/// time, and the journal's handler stays installed for its own mappings.
#[test]
fn sigbus_outside_our_mappings_chains_to_the_previous_handler() {
    let dir = TempDir::new("sigbus");
    let path = dir.join("j");
    let mut w = Writer::create(&path).unwrap();
    for i in 0..100 {
        w.append(i, &[7u8; 200]).unwrap();
    }
    w.close().unwrap();
    run_child("sigbus_chain", &path);
}

/// Two thousand readers of a small journal are open at once in one process: a reader of a journal
/// no writer holds maps what the file holds, not a fixed 256 GiB.
#[test]
fn two_thousand_readers_of_a_small_journal_at_once() {
    let dir = TempDir::new("readers");
    let path = dir.join("j");
    let mut w = Writer::create(&path).unwrap();
    for i in 0..10 {
        w.append(i, b"shared").unwrap();
    }
    w.close().unwrap();
    let readers: Vec<Reader> = (0..2000)
        .map(|i| Reader::open(&path).unwrap_or_else(|e| panic!("reader {i}: {e}")))
        .collect();
    for r in &readers {
        assert_eq!(r.verify().unwrap().events, 10);
    }
}

/// A reader opened on a small journal follows a writer that then grows it far past the reader's
/// first mapping; events borrowed before the mapping grew stay valid and unchanged.
#[test]
fn a_reader_follows_growth_past_its_first_mapping() {
    let dir = TempDir::new("follow");
    let path = dir.join("j");
    let mut w = Writer::create(&path).unwrap();
    w.append(0, b"first").unwrap();
    w.close().unwrap();
    // No writer holds it: the reader maps one page.
    let r = Reader::open(&path).unwrap();
    let first = r.iter().next().unwrap().unwrap();
    assert_eq!(first.payload, b"first");
    let mut t = r.tail_from_end().unwrap();
    let mut w = WriterOptions::new()
        .chunk_size(64 << 10)
        .open(&path)
        .unwrap();
    let payload = |i: u64| vec![(i % 251) as u8; 1000 + (i as usize % 3000)];
    let mut kept = Vec::new();
    for i in 1..4000u64 {
        w.append(i as i64, &payload(i)).unwrap();
        if i % 97 == 0 {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while t.index() <= i {
                let e = t
                    .wait(WaitStrategy::default(), Some(deadline))
                    .unwrap()
                    .expect("the tailer timed out");
                assert_eq!(e.payload, &payload(e.index)[..]);
                kept.push(e);
            }
        }
    }
    // Every slice handed out, from the first mapping on, still reads what was published.
    assert_eq!(first.payload, b"first");
    for e in &kept {
        assert_eq!(e.payload, &payload(e.index)[..]);
    }
    assert!(kept.len() > 3000);
    w.close().unwrap();
    assert_eq!(r.verify().unwrap().events, 4000);
}

/// With the default SIGBUS disposition before ours, a fault outside the journal's mappings ends the
/// process with SIGBUS, as it would without the journal.
#[test]
fn sigbus_outside_our_mappings_keeps_the_default_action() {
    use std::os::unix::process::ExitStatusExt;
    let dir = TempDir::new("sigbusdfl");
    let path = dir.join("j");
    Writer::create(&path).unwrap().close().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "mapping::child_entry",
            "--nocapture",
        ])
        .env("JOURNAL_IT_MAPPING", "sigbus_default")
        .env("JOURNAL_IT_PATH", &path)
        .output()
        .unwrap();
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGBUS),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Three hundred writers are open at once in one process: a writer reserves address space for
/// what it holds and grows the reservation later, instead of reserving its maximum size (1 TiB by
/// default) up front.
#[test]
fn three_hundred_writers_at_once() {
    let dir = TempDir::new("writers");
    let mut writers: Vec<Writer> = (0..300)
        .map(|i| {
            WriterOptions::new()
                .chunk_size(64 << 10)
                .create(dir.join(&format!("j{i}")))
                .unwrap_or_else(|e| panic!("writer {i}: {e}"))
        })
        .collect();
    for (i, w) in writers.iter_mut().enumerate() {
        w.append(i as i64, b"one of many").unwrap();
    }
    for w in writers {
        w.close().unwrap();
    }
    for i in 0..300 {
        let rep = Reader::open(dir.join(&format!("j{i}")))
            .unwrap()
            .verify()
            .unwrap();
        assert_eq!(rep.events, 1);
    }
}

/// A writer whose file outgrows its first reservation many times over (4 KiB chunks: the first
/// reservation is 256 KiB) keeps appending and claiming correctly, with a live reader following.
#[test]
fn a_writer_grows_past_its_first_reservation() {
    let dir = TempDir::new("wgrow");
    let path = dir.join("j");
    let mut w = WriterOptions::new().chunk_size(4096).create(&path).unwrap();
    let r = Reader::open(&path).unwrap();
    let mut t = r.tail();
    let payload = |i: u64| vec![(i * 7 % 251) as u8; (i as usize * 37) % 9000];
    for i in 0..3000u64 {
        if i % 3 == 0 {
            let p = payload(i);
            let mut c = w.claim(p.len()).unwrap();
            c.as_mut_slice().copy_from_slice(&p);
            c.commit(i as i64).unwrap();
        } else {
            w.append(i as i64, &payload(i)).unwrap();
        }
        if i % 500 == 0 {
            w.pretouch().unwrap();
        }
    }
    assert!(w.write_offset() > 12 << 20);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while t.index() < 3000 {
        let e = t
            .wait(WaitStrategy::default(), Some(deadline))
            .unwrap()
            .expect("the tailer timed out");
        assert_eq!(
            (e.timestamp, e.payload),
            (e.index as i64, &payload(e.index)[..])
        );
    }
    w.close().unwrap();
    assert_eq!(Reader::open(&path).unwrap().verify().unwrap().events, 3000);
}

/// Growing the reservation works when the mapping was split into several kernel areas by `mlock`
/// and huge-page advice on each chunk (which `mremap` cannot resize as one).
#[test]
fn a_writer_with_locked_and_huge_page_chunks_grows_past_its_first_reservation() {
    let dir = TempDir::new("wgrowlock");
    let path = dir.join("j");
    for (lock, huge) in [(false, true), (true, false), (true, true)] {
        let _ = std::fs::remove_file(&path);
        let mut w = WriterOptions::new()
            .chunk_size(4096)
            .lock_memory(lock)
            .huge_pages(huge)
            .create(&path)
            .unwrap();
        for i in 0..400u64 {
            w.append(i as i64, &[i as u8; 2000])
                .unwrap_or_else(|e| panic!("lock {lock} huge {huge}: append {i}: {e}"));
        }
        w.close().unwrap();
        let rep = Reader::open(&path).unwrap().verify().unwrap();
        assert_eq!((rep.events, rep.damage), (400, None));
    }
}
