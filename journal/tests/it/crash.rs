//! Power-loss crash states, and a full disk.
//!
//! The crash-state simulator runs random workloads under each sync policy. After every completed
//! sync it snapshots the file (the state a power cut can no longer go behind). At crash points it
//! builds images: that snapshot, plus an arbitrary subset of the 4 KiB pages that changed since
//! (the kernel may have written any of them back), one of them possibly torn at 512-byte sector
//! granularity, with the file length of either moment. Opening each image must recover a prefix of
//! the appended events that includes every event acknowledged durable, and show nothing damaged.

use std::path::{Path, PathBuf};

use journal::{Reader, SyncPolicy, Writer, WriterOptions};

use crate::support::{skip, InCi, Rng, TempDir};

const PAGE: usize = 4096;
const SECTOR: usize = 512;

/// A scratch directory in memory when possible: recovery fsyncs, and the images are many.
fn scratch(name: &str) -> (Option<TempDir>, PathBuf) {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        let p = shm.join(format!("journal-crash-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        if std::fs::create_dir_all(&p).is_ok() {
            return (None, p);
        }
    }
    let t = TempDir::new(name);
    let p = t.path().to_path_buf();
    (Some(t), p)
}

/// Checks one crash image against the model: returns nothing, panics with the image's story.
fn check_image(image: &[u8], path: &Path, model: &[(i64, Vec<u8>)], durable: u64, what: &str) {
    std::fs::write(path, image).unwrap();
    // The image has no index: the one the previous image's recovery wrote is not part of it.
    let _ = std::fs::remove_file(journal::index::index_path(path));
    // A reader sees a prefix of the model, and never an event that differs from it.
    let r = Reader::open(path).unwrap_or_else(|e| panic!("{what}: not openable: {e}"));
    let mut seen = 0u64;
    for e in r.iter() {
        let Ok(e) = e else { break };
        let want = &model[e.index as usize];
        assert_eq!(
            (e.timestamp, e.payload),
            (want.0, &want.1[..]),
            "{what}: event {}",
            e.index
        );
        seen += 1;
    }
    assert!(
        seen >= durable,
        "{what}: {seen} events readable, {durable} were durable"
    );
    drop(r);
    // Recovery keeps that prefix, and afterwards the journal is intact.
    let w = WriterOptions::new()
        .open(path)
        .unwrap_or_else(|e| panic!("{what}: recovery failed: {e}"));
    assert_eq!(w.events(), seen, "{what}: recovery kept a different prefix");
    drop(w);
    let rep = Reader::open(path).unwrap().verify().unwrap();
    assert!(rep.is_intact(), "{what}: damaged after recovery: {rep:?}");
    assert_eq!(rep.events, seen);
}

/// Builds `count` crash images between `synced` and `current` and checks each.
#[allow(clippy::too_many_arguments)]
fn crash_states(
    rng: &mut Rng,
    synced: &[u8],
    current: &[u8],
    model: &[(i64, Vec<u8>)],
    durable: u64,
    path: &Path,
    count: usize,
    what: &str,
) -> usize {
    let len = synced.len().max(current.len());
    let pages = len.div_ceil(PAGE);
    let dirty: Vec<usize> = (0..pages)
        .filter(|&p| {
            let r = p * PAGE..((p + 1) * PAGE).min(len);
            synced.get(r.clone()) != current.get(r)
        })
        .collect();
    for k in 0..count {
        let mut image = synced.to_vec();
        image.resize(len, 0);
        for &p in &dirty {
            if rng.below(2) == 0 {
                continue;
            }
            let end = ((p + 1) * PAGE).min(current.len());
            let start = p * PAGE;
            if start >= end {
                continue;
            }
            if rng.below(4) == 0 {
                // A torn page: only some of its sectors reached the disk.
                let mut s = start;
                while s < end {
                    let e = (s + SECTOR).min(end);
                    if rng.below(2) == 0 {
                        image[s..e].copy_from_slice(&current[s..e]);
                    }
                    s = e;
                }
            } else {
                image[start..end].copy_from_slice(&current[start..end]);
            }
        }
        // The file's length as of either moment (the size change may not have reached the disk).
        image.truncate(
            if rng.below(2) == 0 {
                synced.len()
            } else {
                current.len()
            }
            .max(24),
        );
        let story = format!("{what}, image {k} ({} dirty pages)", dirty.len());
        check_image(&image, path, model, durable, &story);
    }
    count
}

#[test]
fn power_loss_crash_states_recover_every_durable_event() {
    let target = crate::support::env_count("JOURNAL_CRASH_STATES", 4_000) as usize;
    let (_keep, dir) = scratch("power");
    let policies = [
        SyncPolicy::EveryAppend,
        SyncPolicy::EveryEvents(3),
        SyncPolicy::EveryBytes(5_000),
        SyncPolicy::Never, // with explicit syncs
    ];
    let mut rng = Rng(0xC0FFEE ^ std::process::id() as u64);
    let mut checked = 0usize;
    let mut workload = 0u64;
    while checked < target {
        let policy = policies[(workload % 4) as usize];
        workload += 1;
        let path = dir.join("live");
        let _ = std::fs::remove_file(&path);
        let image_path = dir.join("image");
        let mut w = WriterOptions::new()
            .chunk_size(8192)
            .sync_policy(policy)
            .create(&path)
            .unwrap();
        // Half the workloads run a pretoucher (FORMAT.md 7.3) between appends: the file then
        // grows ahead of the writer, by another party.
        let pretoucher = (workload % 8 >= 4).then(|| w.pretoucher().unwrap());
        let mut model: Vec<(i64, Vec<u8>)> = Vec::new();
        let mut synced = std::fs::read(&path).unwrap();
        let mut durable = 0u64;
        for step in 0..24 {
            let len = match rng.below(4) {
                0 => rng.below(16),
                1 => rng.below(600),
                2 => 4000 + rng.below(200), // crosses pages
                _ => rng.below(9000),
            } as usize;
            let payload: Vec<u8> = (0..len).map(|i| (i as u64 ^ rng.0) as u8 | 1).collect();
            let ts = rng.next() as i64;
            w.append(ts, &payload).unwrap();
            model.push((ts, payload));
            if let Some(p) = pretoucher.as_ref().filter(|_| rng.below(2) == 0) {
                assert!(p.pretouch().unwrap());
            }
            if policy == SyncPolicy::Never && rng.below(5) == 0 {
                w.sync().unwrap();
            }
            if w.durable_events() != durable {
                durable = w.durable_events();
                synced = std::fs::read(&path).unwrap();
            }
            // A crash point: the state between this sync point and the last one.
            if step % 3 == 2 || rng.below(3) == 0 {
                let current = std::fs::read(&path).unwrap();
                let what = format!("workload {workload} {policy:?} step {step}");
                checked += crash_states(
                    &mut rng,
                    &synced,
                    &current,
                    &model,
                    durable,
                    &image_path,
                    4,
                    &what,
                );
            }
        }
        drop(w);
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("crash states checked: {checked} over {workload} workloads");
    assert!(checked >= target);
}

/// A tmpfs of `size` mounted under a scratch directory, unmounted on drop; `None` (with the reason
/// printed) when this process cannot mount one. Under `CI=true` a missing prerequisite is a failure,
/// so a CI runner that lost root does not silently stop running these tests.
struct SmallFs {
    mnt: PathBuf,
    _dir: TempDir,
}

impl SmallFs {
    fn mount(name: &str, size: &str) -> Option<SmallFs> {
        if !nix_is_root() {
            skip("root (to mount a small tmpfs)", "not root", InCi::Required);
            return None;
        }
        let dir = TempDir::new(name);
        let mnt = dir.join("mnt");
        std::fs::create_dir_all(&mnt).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&mnt)
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            skip("a tmpfs mount", format!("{status:?}"), InCi::Required);
            return None;
        }
        Some(SmallFs { mnt, _dir: dir })
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.mnt).status();
    }
}

#[test]
fn full_disk_is_an_error_at_growth_and_space_freed_lets_appends_resume() {
    let Some(fs) = SmallFs::mount("fulldisk", "1m") else {
        return;
    };
    let mnt = fs.mnt.clone();
    let filler = mnt.join("filler");
    std::fs::write(&filler, vec![1u8; 400 << 10]).unwrap();
    let path = mnt.join("j");
    let mut w = WriterOptions::new()
        .chunk_size(64 << 10)
        .create(&path)
        .unwrap();
    let mut n = 0u64;
    let err = loop {
        match w.append(n as i64, &[n as u8; 1000]) {
            Ok(_) => n += 1,
            Err(e) => break e,
        }
        assert!(n < 10_000, "the disk never filled");
    };
    assert!(
        matches!(
            err,
            journal::Error::Io {
                op: "fallocate",
                ..
            }
        ),
        "{err:?}"
    );
    let cause = std::error::Error::source(&err).map(|c| c.to_string());
    assert!(
        cause
            .as_deref()
            .is_some_and(|c| c.contains("No space left")),
        "{err}: {cause:?}"
    );
    assert!(n > 100);
    // Everything appended before the error is intact, and the writer is still usable.
    let rep = Reader::open(&path).unwrap().verify().unwrap();
    assert!(rep.is_intact());
    assert_eq!(rep.events, n);
    std::fs::remove_file(&filler).unwrap();
    for i in 0..100 {
        w.append(i, b"after space was freed").unwrap();
    }
    w.close().unwrap();
    let rep = Reader::open(&path).unwrap().verify().unwrap();
    assert!(rep.is_intact());
    assert_eq!(rep.events, n + 100);
    drop(Writer::open(&path).unwrap());
}

fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A 72-byte journal extended to 1 GiB by `truncate` on a 64 MiB file system: recovery cuts the file
/// back to its content instead of allocating the sparse tail to zero it (which failed with "No space
/// left" and, on ext4, left the disk full), and appends and reopens work (FORMAT.md 8).
#[test]
fn sparse_tail_past_the_free_space_is_cut_back_not_allocated() {
    let Some(fs) = SmallFs::mount("sparsetail", "64m") else {
        return;
    };
    let path = fs.mnt.join("j");
    crate::support::journal_with_sparse_tail(&path, 1, 1 << 30);
    let mut w = Writer::open(&path).unwrap_or_else(|e| panic!("open for append: {e}"));
    assert_eq!(w.events(), 1);
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len <= 72 + (16 << 20), "file still {len} bytes long");
    for i in 2..100 {
        w.append(i, b"after the sparse tail").unwrap();
    }
    // The file system still has room for a file the size of the rest of it.
    std::fs::write(fs.mnt.join("room"), vec![1u8; 32 << 20]).unwrap();
    drop(w);
    let rep = Reader::open(&path).unwrap().verify().unwrap();
    assert!(rep.is_intact(), "{rep:?}");
    assert_eq!(rep.events, 99);
}

/// FORMAT.md 9: under `SyncPolicy::Never` a create syncs nothing, and a writer abandoned right
/// after it (as a killed process leaves it, before or after a few appends) reopens correctly: the
/// published events, the preallocated tail cut back, appends resuming.
#[test]
fn a_journal_created_and_abandoned_under_never_reopens() {
    let dir = TempDir::new("create-abandon");
    for appended in [0u64, 3] {
        let path = dir.join(&format!("j{appended}"));
        let mut w = WriterOptions::new()
            .sync_policy(SyncPolicy::Never)
            .create(&path)
            .unwrap();
        for i in 0..appended {
            w.append(i as i64, &[i as u8 + 1; 100]).unwrap();
        }
        w.abandon();
        assert!(
            std::fs::metadata(&path).unwrap().len() > 24 + appended * 120,
            "the abandoned file keeps its allocation"
        );
        for open_or_create in [false, true] {
            let o = WriterOptions::new();
            let mut w = if open_or_create {
                o.open_or_create(&path).unwrap()
            } else {
                o.open(&path).unwrap()
            };
            assert_eq!(w.events(), appended + open_or_create as u64);
            w.append(99, b"after").unwrap();
            w.close().unwrap();
        }
        let r = Reader::open(&path).unwrap();
        let rep = r.verify().unwrap();
        assert!(rep.is_intact(), "{rep:?}");
        assert_eq!(rep.events, appended + 2);
        let last: Vec<_> = r.iter().map(|e| e.unwrap().payload.to_vec()).collect();
        assert_eq!(
            &last[appended as usize..],
            &[b"after".to_vec(), b"after".to_vec()]
        );
    }
}

/// FORMAT.md 9: the states a power cut right after a create under `SyncPolicy::Never` may leave
/// on the disk (no file, an empty file, the allocated length with the header never written, or a
/// valid empty journal) are all taken by `open_or_create` as a new journal; `open` refuses the
/// zero header as not a journal. A zero header over bytes of an older session (entries that are
/// valid on their own) never lets one of them reappear after the new writer's events.
#[test]
fn power_cut_states_after_a_create_under_never_are_new_journals_to_open_or_create() {
    let dir = TempDir::new("create-powercut");
    // The images: what the file system may hold of the file.
    let live = dir.join("live");
    let mut w = WriterOptions::new()
        .sync_policy(SyncPolicy::Never)
        .chunk_size(1 << 20)
        .create(&live)
        .unwrap();
    let allocated = std::fs::metadata(&live).unwrap().len() as usize;
    let header_only = std::fs::read(&live).unwrap()[..24].to_vec();
    for i in 0..50i64 {
        w.append(i, &[7u8; 300]).unwrap();
    }
    let mut older_session = std::fs::read(&live).unwrap();
    older_session[..24].fill(0);
    w.abandon();
    let images: [(&str, Vec<u8>); 4] = [
        ("empty file", Vec::new()),
        ("zero-filled allocation", vec![0u8; allocated]),
        ("header only", header_only),
        ("zero header over an older session's entries", older_session),
    ];
    for (what, image) in images {
        let path = dir.join("image");
        std::fs::write(&path, &image).unwrap();
        let _ = std::fs::remove_file(journal::index::index_path(&path));
        if image.len() >= 24 && image[..24].iter().all(|&b| b == 0) {
            match WriterOptions::new().open(&path) {
                Err(journal::Error::NotAJournal { .. }) => {}
                other => panic!("{what}: open gave {other:?}"),
            }
        }
        let mut w = WriterOptions::new()
            .sync_policy(SyncPolicy::Never)
            .open_or_create(&path)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(w.events(), 0, "{what}");
        // FORMAT.md 7.5: past write_offset every byte is zero, none left from the older file.
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            bytes[24..].iter().all(|&b| b == 0),
            "{what}: stale bytes past the new header"
        );
        w.append(1, b"new").unwrap();
        w.abandon();
        let w = WriterOptions::new().open(&path).unwrap();
        assert_eq!(w.events(), 1, "{what}: a stale entry came back");
        drop(w);
        let rep = Reader::open(&path).unwrap().verify().unwrap();
        assert!(rep.is_intact() && rep.events == 1, "{what}: {rep:?}");
        std::fs::remove_file(&path).unwrap();
    }
}
