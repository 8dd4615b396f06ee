//! Power-cut crash states of a journal set, across rolls (SET.md 5.4, 7.3, 9).
//!
//! The single-journal simulator (`crash.rs`) builds images of one file. A set adds directory
//! entries whose durability is separate from the files': a prepared `.next.journal`, the renames of
//! a roll, the metadata file. This simulator keeps a model of the disk:
//!
//! - the directory entries known durable (name -> inode), and every name each inode has had since;
//! - for each inode, the content known durable, and its latest content.
//!
//! It runs random workloads on a [`SetWriter`](journal::SetWriter) (appends and claims that roll by
//! size and by time, `pretouch` that prepares the next segment ahead, explicit syncs) under each
//! sync policy, observes the directory after every operation, and updates the model with what
//! SET.md promises is durable at that point: under a policy other than `never` the directory and
//! every sealed segment after each operation (R2, R5, and the syncs of a create), the newest segment
//! up to its last completed sync; under `never`, no name and nothing beyond the newest segment's
//! explicitly synced content. A roll is replayed step by step (SET.md 5.4: R1 prepared, R2 synced,
//! R3 and R4 renamed, R5 directory synced) with the durability each completed step adds, so power
//! cuts land inside rolls too.
//!
//! A power-cut image puts each inode under one of its possible names (its durable one, or absent if
//! it has none, or any name it had since; a segment created since may still be `.next.journal`),
//! two inodes claiming one name leave one of them, and gives each the durable content plus an
//! arbitrary subset of the 4 KiB pages that changed since, one possibly torn at 512-byte sectors,
//! with the file length of either moment. Index files are never taken as durable (they are caches).
//!
//! Each image must: be readable by a [`SetReader`] that delivers, without hanging, events that are
//! each the one appended at their global index, none twice, every durable one before any error;
//! open for writing (SET.md 7.3) with every durable event, no `.next.journal` left, and under a
//! policy other than `never` a set that chains (sealed segments are whole, SET.md 9); and then take
//! appends (rolling again) that a tailer opened on the reopened set receives at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use journal::set::layout::{parse_segment_name, segment_name, LOCK_FILE, META_FILE, NEXT_FILE};
use journal::set::{RollPolicy, SetMeta, SetReader};
use journal::{Error, SetWriterOptions, SyncPolicy, WaitStrategy};

use crate::support::{Rng, TempDir, PATIENCE};

const PAGE: usize = 4096;
const SECTOR: usize = 512;
const NEXT_IDX: &str = ".next.journal.idx";
const SEC: i64 = 1_000_000_000;

/// The files of a set directory: name -> (inode, content).
type Files = BTreeMap<String, (u64, Vec<u8>)>;

/// The events appended, by global index: (timestamp, payload).
type Model = Vec<(i64, Vec<u8>)>;

/// A scratch directory in memory when possible (every image is written and reopened).
fn scratch(name: &str) -> (Option<TempDir>, PathBuf) {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        let p = shm.join(format!("journal-crash-set-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        if std::fs::create_dir_all(&p).is_ok() {
            return (None, p);
        }
    }
    let t = TempDir::new(name);
    let p = t.path().to_path_buf();
    (Some(t), p)
}

/// The set's files (not the lock, which holds no data, nor the metadata, durable from creation).
fn observe(dir: &Path) -> Files {
    let mut out = Files::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        let m = e.metadata().unwrap();
        if !m.is_file() || name == LOCK_FILE || name == META_FILE {
            continue;
        }
        out.insert(name, (m.ino(), std::fs::read(e.path()).unwrap()));
    }
    out
}

/// What a create leaves durable (FORMAT.md 3, 9): the header of an empty journal, the rest of the
/// allocation zero. `bytes` is the file later, which keeps its start timestamp.
fn created_state(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; bytes.len()];
    if bytes.len() >= 24 {
        out[..8].copy_from_slice(&24u64.to_le_bytes());
        out[16..24].copy_from_slice(&bytes[16..24]);
    }
    out
}

/// The disk as a power cut may leave it.
#[derive(Default)]
struct Disk {
    /// Directory entries known durable: name -> inode.
    names: BTreeMap<String, u64>,
    /// The names each inode has had since `names` was made durable.
    since: HashMap<u64, BTreeSet<String>>,
    /// Content known durable, per inode.
    synced: HashMap<u64, Vec<u8>>,
    /// The latest content, per inode.
    latest: HashMap<u64, Vec<u8>>,
}

impl Disk {
    /// The directory holds `files` now (not necessarily durably).
    fn saw(&mut self, files: &Files) {
        for (name, (ino, bytes)) in files {
            self.since.entry(*ino).or_default().insert(name.clone());
            self.latest.insert(*ino, bytes.clone());
        }
    }

    /// The directory as it holds `files` is durable (a directory `fsync` completed).
    fn dir_durable(&mut self, files: &Files) {
        self.saw(files);
        self.names = files.iter().map(|(n, (i, _))| (n.clone(), *i)).collect();
        self.since.clear();
    }

    /// Where each inode may be found after a power cut, and with what content.
    fn image(&self, rng: &mut Rng) -> Vec<(String, Vec<u8>)> {
        let mut inos: BTreeSet<u64> = self.names.values().copied().collect();
        inos.extend(self.since.keys().copied());
        let mut placed: BTreeMap<String, u64> = BTreeMap::new();
        for ino in inos {
            let durable = self
                .names
                .iter()
                .find(|(_, i)| **i == ino)
                .map(|(n, _)| n.clone());
            let mut cands: Vec<Option<String>> = vec![durable.clone()];
            for n in self.since.get(&ino).into_iter().flatten() {
                cands.push(Some(n.clone()));
                // Created since the directory was durable: it was prepared under the fixed name
                // first (SET.md 5.3), and that rename may not have reached the disk.
                if durable.is_none() {
                    if parse_segment_name(n).is_some() {
                        cands.push(Some(NEXT_FILE.to_string()));
                    } else if n
                        .strip_suffix(".idx")
                        .is_some_and(|s| parse_segment_name(s).is_some())
                    {
                        cands.push(Some(NEXT_IDX.to_string()));
                    }
                }
            }
            let pick = cands[rng.below(cands.len() as u64) as usize].clone();
            if let Some(name) = pick {
                // Two inodes on one name: the disk holds one of them.
                if placed.contains_key(&name) && rng.below(2) == 0 {
                    continue;
                }
                placed.insert(name, ino);
            }
        }
        placed
            .into_iter()
            .map(|(name, ino)| {
                let synced = self.synced.get(&ino).map_or(&[][..], |v| &v[..]);
                let bytes = pages(rng, synced, &self.latest[&ino]);
                (name, bytes)
            })
            .collect()
    }
}

/// `synced` plus an arbitrary subset of the pages of `current` that differ from it, one possibly
/// torn at sector granularity, with the length of either.
fn pages(rng: &mut Rng, synced: &[u8], current: &[u8]) -> Vec<u8> {
    let len = synced.len().max(current.len());
    let mut image = synced.to_vec();
    image.resize(len, 0);
    for p in 0..len.div_ceil(PAGE) {
        let start = p * PAGE;
        let end = ((p + 1) * PAGE).min(current.len());
        if start >= end || synced.get(start..end) == current.get(start..end) {
            continue;
        }
        if rng.below(2) == 0 {
            continue;
        }
        if rng.below(4) == 0 {
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
    image.truncate(if rng.below(2) == 0 {
        synced.len()
    } else {
        current.len()
    });
    image
}

/// What a set reader delivers from `dir`: checks every event against the model (no event that
/// differs, none twice, no gap) and returns (first index delivered, end, whether it stopped on an
/// error). Bounded: it never delivers more than the model holds.
fn read_set(dir: &Path, model: &Model, what: &str) -> (Option<u64>, u64, Option<Error>) {
    let set = SetReader::open(dir).unwrap_or_else(|e| panic!("{what}: set not readable: {e}"));
    let mut it = set.iter();
    let (mut first, mut end, mut err) = (None, 0u64, None);
    while let Some(e) = it.next_event() {
        match e {
            Ok(e) => {
                if first.is_some() {
                    assert_eq!(e.index, end, "{what}: a gap or a duplicate");
                } else {
                    first = Some(e.index);
                }
                let want = model
                    .get(e.index as usize)
                    .unwrap_or_else(|| panic!("{what}: event {} was never appended", e.index));
                assert_eq!(
                    (e.timestamp, e.payload),
                    (want.0, &want.1[..]),
                    "{what}: event {}",
                    e.index
                );
                end = e.index + 1;
            }
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    (first, end, err)
}

/// Checks that the delivered range holds every durable event.
fn holds_durable(got: &(Option<u64>, u64, Option<Error>), durable: u64, what: &str) {
    if durable > 0 {
        assert_eq!(
            got.0,
            Some(0),
            "{what}: {durable} durable events, delivered from {:?} ({:?})",
            got.0,
            got.2
        );
        assert!(
            got.1 >= durable,
            "{what}: {durable} durable events, {} delivered, then {:?}",
            got.1,
            got.2
        );
    }
}

/// The payload of the `j`-th event appended after a reopen at `k`.
fn after_payload(k: u64, j: u64) -> Vec<u8> {
    let len = if j == 1 { 3000 } else { 40 };
    let mut p = format!("after {k} {j} ").into_bytes();
    p.resize(len, b'a' + j as u8);
    p
}

struct Case<'a> {
    meta: &'a [u8],
    opts: &'a SetWriterOptions,
    model: &'a Model,
    durable: u64,
    /// Under a policy other than `never`, sealed segments are whole: the set chains.
    must_chain: bool,
    image_dir: &'a Path,
}

/// Writes one image and checks it: readers, the reopen, appends after it and a tailer.
fn check_image(case: &Case<'_>, files: &[(String, Vec<u8>)], what: &str) {
    let dir = case.image_dir;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(META_FILE), case.meta).unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let story = || {
        let names: Vec<String> = files
            .iter()
            .map(|(n, b)| format!("{n}:{}", b.len()))
            .collect();
        format!("{what} [{}]", names.join(" "))
    };
    // A reader of the state as the power cut left it.
    let before = read_set(dir, case.model, &story());
    holds_durable(&before, case.durable, &story());
    // The next writer (SET.md 7.3).
    let mut w = case
        .opts
        .open(dir)
        .unwrap_or_else(|e| panic!("{}: the writer does not reopen: {e}", story()));
    let k = w.events();
    assert!(
        k >= case.durable && k <= case.model.len() as u64,
        "{}: reopened at {k}, {} durable, {} appended",
        story(),
        case.durable,
        case.model.len()
    );
    assert!(!dir.join(NEXT_FILE).exists(), "{}: .next left", story());
    assert!(!dir.join(NEXT_IDX).exists(), "{}: .next.idx left", story());
    let after = read_set(dir, case.model, &story());
    holds_durable(&after, case.durable, &story());
    // Under `never` a sealed segment may have lost any part of its content (SET.md 9): the set is
    // then damaged, which verification reports (as a report or as an error), never silently.
    let intact = match SetReader::open(dir).and_then(|s| s.verify()) {
        Ok(report) => {
            if report.is_intact() {
                assert!(after.2.is_none(), "{}: {:?}", story(), after.2);
                assert_eq!(after.1.max(report.first_index()), k, "{}", story());
            }
            report.is_intact()
        }
        Err(e) if !case.must_chain => {
            assert!(
                after.2.is_some(),
                "{}: verify says {e}, a reader saw nothing",
                story()
            );
            false
        }
        Err(e) => panic!("{}: verify after the reopen: {e}", story()),
    };
    assert!(
        intact || !case.must_chain,
        "{}: the set does not chain",
        story()
    );
    // A tailer at the end receives what the writer appends now, across a roll, at once.
    let set = SetReader::open(dir).unwrap();
    let mut t = set.tail_from(set.iter_from_index(k).unwrap());
    let ts = case.model.last().map_or(0, |e| e.0) + 1;
    for j in 0..3 {
        assert_eq!(w.append(ts, &after_payload(k, j)).unwrap(), k + j);
    }
    let deadline = Instant::now() + PATIENCE;
    for j in 0..3 {
        let e = t
            .wait(WaitStrategy::default(), Some(deadline))
            .unwrap_or_else(|e| panic!("{}: tailer: {e}", story()))
            .unwrap_or_else(|| panic!("{}: the tailer hangs at {}", story(), k + j));
        assert_eq!(e.index, k + j, "{}", story());
        assert_eq!(e.payload, &after_payload(k, j)[..], "{}", story());
    }
    drop(t);
    w.close().unwrap();
    if intact {
        let end = SetReader::open(dir).unwrap().verify().unwrap();
        assert!(end.is_intact(), "{}: {end:?}", story());
    }
}

/// One random event: sizes that mostly fit a 4 KiB segment several times, sometimes fill it, and
/// now and then exceed it (an event in a segment of its own, SET.md 5.1).
fn random_event(rng: &mut Rng, index: u64, ts: &mut i64) -> (i64, Vec<u8>) {
    let len = match rng.below(8) {
        0 => rng.below(16),
        1..=4 => rng.below(600),
        5 | 6 => 1000 + rng.below(1500),
        _ => 4100 + rng.below(2000),
    } as usize;
    let mut p: Vec<u8> = (0..len).map(|i| (rng.next() ^ i as u64) as u8).collect();
    if len >= 8 {
        p[..8].copy_from_slice(&index.to_le_bytes());
    }
    // Time rolls too: a cycle is a second; timestamps rise by up to 0.4 s, and go back sometimes.
    *ts += if rng.below(10) == 0 {
        -(rng.below(SEC as u64) as i64)
    } else {
        rng.below(SEC as u64 * 2 / 5) as i64
    };
    (*ts, p)
}

/// Runs one workload and checks `per_point` images at every crash point; returns how many.
fn workload(
    rng: &mut Rng,
    policy: SyncPolicy,
    index: bool,
    dir: &Path,
    per_point: usize,
    label: &str,
) -> usize {
    let live = dir.join("live");
    let image_dir = dir.join("image");
    let _ = std::fs::remove_dir_all(&live);
    let mut opts = SetWriterOptions::new();
    opts.roll(RollPolicy {
        period_ns: SEC as u64,
        offset_ns: 0,
        max_bytes: 4096,
    })
    .chunk_size(4096)
    .sync_policy(policy)
    .index(index);
    let never = policy == SyncPolicy::Never;
    let mut w = opts.create(&live).unwrap();
    let meta = std::fs::read(live.join(META_FILE)).unwrap();
    assert_eq!(
        SetMeta::read(&live).unwrap().roll.max_bytes,
        4096,
        "the stored policy"
    );
    let mut disk = Disk::default();
    let mut now = observe(&live);
    // A create syncs the segment and the directory unless the policy is `never` (FORMAT.md 9).
    if !never {
        disk.dir_durable(&now);
        for (ino, bytes) in now.values() {
            disk.synced.insert(*ino, bytes.clone());
        }
    } else {
        disk.saw(&now);
    }
    let mut model: Model = Vec::new();
    let mut durable = 0u64;
    let mut seg_synced = (0u64, 0u64);
    let mut ts = 1_700_000_000 * SEC;
    let mut checked = 0usize;
    let mut rolls = 0;
    for step in 0..40 {
        let before = now;
        let durable_before = durable;
        let base_before = w.segment_first_index();
        let op = rng.below(12);
        match op {
            0 => w.pretouch().unwrap(),
            1 => w.sync().unwrap(),
            2 | 3 => {
                // A claim: the size roll at the claim, the time roll at the commit.
                let (t, p) = random_event(rng, model.len() as u64, &mut ts);
                let cap = p.len() + rng.below(64) as usize;
                let mut c = w.claim(cap).unwrap();
                c.as_mut_slice()[..p.len()].copy_from_slice(&p);
                let g = c.commit_len(t, p.len()).unwrap();
                assert_eq!(g, model.len() as u64);
                model.push((t, p));
            }
            _ => {
                let (t, p) = random_event(rng, model.len() as u64, &mut ts);
                assert_eq!(w.append(t, &p).unwrap(), model.len() as u64);
                model.push((t, p));
            }
        }
        now = observe(&live);
        let base = w.segment_first_index();
        let case = |durable| Case {
            meta: &meta,
            opts: &opts,
            model: &model,
            durable,
            must_chain: !never,
            image_dir: &image_dir,
        };
        let images = |disk: &Disk, durable: u64, point: &str, rng: &mut Rng| {
            for k in 0..per_point {
                let files = disk.image(rng);
                let what = format!("{label} step {step} {point} image {k}");
                check_image(&case(durable), &files, &what);
            }
            per_point
        };
        if base != base_before {
            rolls += 1;
            // The roll, step by step (SET.md 5.4). The sealed segment S, the new one N.
            let s_name = segment_name(base_before);
            let n_name = segment_name(base);
            let n_idx = format!("{n_name}.idx");
            let (n_ino, n_now) = now[&n_name].clone();
            let n_created = match before.get(NEXT_FILE) {
                Some((ino, bytes)) if *ino == n_ino => bytes.clone(),
                _ => created_state(&n_now),
            };
            // Before R1: every other file as it is now (the segment sealed by the previous roll
            // was closed at the start of this one, R7).
            let mut o: Files = now.clone();
            o.remove(&n_name);
            let idx = o.remove(&n_idx);
            o.insert(NEXT_FILE.to_string(), (n_ino, n_created.clone()));
            if let Some(idx) = idx.clone() {
                o.insert(NEXT_IDX.to_string(), idx);
            }
            // R1 under way: .next.journal being created.
            disk.saw(&o);
            checked += images(&disk, durable_before, "R1", rng);
            if !never {
                // R1 done: created, its header and the directory synced (FORMAT.md 9).
                disk.dir_durable(&o);
                disk.synced.insert(n_ino, n_created);
                for (name, (ino, bytes)) in &o {
                    if parse_segment_name(name).is_some() && *name != s_name {
                        disk.synced.insert(*ino, bytes.clone());
                    }
                }
            }
            checked += images(&disk, durable_before, "R2", rng);
            if !never {
                // R2 done: S synced, all its events.
                let (s_ino, s_bytes) = &o[&s_name];
                disk.synced.insert(*s_ino, s_bytes.clone());
            }
            // R3: the index renamed.
            if let Some(idx) = o.remove(NEXT_IDX) {
                o.insert(n_idx.clone(), idx);
                disk.saw(&o);
            }
            checked += images(&disk, durable_before, "R3", rng);
            // R4: the commit point.
            let n = o.remove(NEXT_FILE).unwrap();
            o.insert(n_name.clone(), n);
            disk.saw(&o);
            checked += images(&disk, durable_before, "R4", rng);
            if !never {
                // R5: the renames made durable.
                disk.dir_durable(&o);
                checked += images(&disk, durable_before, "R5", rng);
            }
        }
        // After the operation returned.
        disk.saw(&now);
        let cur_ino = now[&segment_name(base)].0;
        let seg = (base, w.segment().durable_events());
        if !never {
            disk.dir_durable(&now);
            for (name, (ino, bytes)) in &now {
                if *ino != cur_ino && (parse_segment_name(name).is_some() || name == NEXT_FILE) {
                    disk.synced.insert(*ino, bytes.clone());
                }
            }
            durable = durable.max(base);
        }
        if seg != seg_synced && seg.1 > 0 {
            // The newest segment's content up to its last sync (FORMAT.md 9); under `never` its
            // name need not be durable (SET.md 9), so no event is counted durable.
            disk.synced
                .insert(cur_ino, now[&segment_name(base)].1.clone());
            if !never {
                durable = durable.max(base + seg.1);
            }
        } else if !never && !disk.synced.contains_key(&cur_ino) {
            disk.synced
                .insert(cur_ino, created_state(&now[&segment_name(base)].1));
        }
        seg_synced = seg;
        checked += images(&disk, durable, "after", rng);
    }
    assert!(rolls >= 3, "{label}: only {rolls} rolls");
    w.close().unwrap();
    checked
}

#[test]
fn power_cuts_across_set_rolls_lose_no_durable_event_and_duplicate_none() {
    let target = crate::support::env_count("JOURNAL_SET_CRASH_STATES", 3_000) as usize;
    let (_keep, dir) = scratch("rolls");
    let policies = [
        SyncPolicy::EveryAppend,
        SyncPolicy::EveryEvents(3),
        SyncPolicy::EveryBytes(3_000),
        SyncPolicy::Never,
    ];
    let mut rng = Rng(0x5E7_C0DE ^ u64::from(std::process::id()));
    let (mut checked, mut n) = (0usize, 0u64);
    while checked < target {
        let policy = policies[(n % 4) as usize];
        let index = (n / 4) % 2 == 0;
        let label = format!("workload {n} {policy:?} index {index}");
        checked += workload(&mut rng, policy, index, &dir, 2, &label);
        n += 1;
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("set crash states checked: {checked} over {n} workloads");
}

/// SET.md 7.2: the states an interrupted creation leaves (the lock alone, a torn `.journal-set.tmp`,
/// the metadata without a segment, a first segment empty, with a zero header, or only its header)
/// are not a set (a clear error for a reader) or an empty set, and `open_or_create` makes each a
/// working set with no stale byte.
#[test]
fn power_cuts_during_set_creation_leave_a_set_the_next_writer_completes() {
    let dir = TempDir::new("set-create-cut");
    let live = dir.join("live");
    let mut opts = SetWriterOptions::new();
    opts.roll(RollPolicy::by_size(4096))
        .chunk_size(4096)
        .sync_policy(SyncPolicy::Never);
    let mut w = opts.create(&live).unwrap();
    for i in 0..5i64 {
        w.append(i, &[9u8; 100]).unwrap();
    }
    let meta = std::fs::read(live.join(META_FILE)).unwrap();
    let seg0 = std::fs::read(live.join(segment_name(0))).unwrap();
    w.abandon();
    let zero_header_over_events = {
        let mut b = seg0.clone();
        b[..24].fill(0);
        b
    };
    let header_only = created_state(&seg0)[..24].to_vec();
    let torn_tmp = meta[..meta.len() / 2].to_vec();
    type Image = Vec<(&'static str, Vec<u8>)>;
    let seg = "00000000000000000000.journal";
    let states: Vec<(&str, Image, bool)> = vec![
        ("the lock only", vec![(LOCK_FILE, vec![])], false),
        (
            "a torn .journal-set.tmp",
            vec![(LOCK_FILE, vec![]), (".journal-set.tmp", torn_tmp)],
            false,
        ),
        ("the metadata only", vec![(META_FILE, meta.clone())], true),
        (
            "an empty first segment",
            vec![(META_FILE, meta.clone()), (seg, vec![])],
            true,
        ),
        (
            "a zero-filled first segment",
            vec![(META_FILE, meta.clone()), (seg, vec![0u8; 4096])],
            true,
        ),
        (
            "a zero header over events",
            vec![(META_FILE, meta.clone()), (seg, zero_header_over_events)],
            true,
        ),
        (
            "a first segment with its header only",
            vec![(META_FILE, meta.clone()), (seg, header_only)],
            true,
        ),
    ];
    for (what, files, is_set) in states {
        let img = dir.join("img");
        let _ = std::fs::remove_dir_all(&img);
        std::fs::create_dir_all(&img).unwrap();
        for (name, bytes) in &files {
            std::fs::write(img.join(name), bytes).unwrap();
        }
        match SetReader::open(&img) {
            Ok(set) if is_set => {
                // No event, and no hang: an iterator ends, a tailer's poll returns.
                let mut it = set.iter();
                match it.next_event() {
                    None | Some(Err(_)) => {}
                    Some(Ok(e)) => panic!("{what}: event {} in a set being created", e.index),
                }
                let mut t = set.tail();
                let _ = t.poll();
            }
            Err(Error::BadSet { .. }) if !is_set => {}
            other => panic!("{what}: {:?}", other.map(|_| ())),
        }
        let mut w = opts
            .open_or_create(&img)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(w.events(), 0, "{what}");
        for i in 0..50u64 {
            assert_eq!(w.append(i as i64, &[i as u8; 300]).unwrap(), i, "{what}");
        }
        w.close().unwrap();
        let set = SetReader::open(&img).unwrap();
        let report = set.verify().unwrap();
        assert!(report.is_intact(), "{what}: {report:?}");
        assert_eq!(report.events(), 50, "{what}");
        assert!(report.segments.len() > 3, "{what}: it rolled");
        let mut it = set.iter();
        let mut n = 0u64;
        while let Some(e) = it.next_event() {
            let e = e.unwrap();
            assert_eq!((e.index, e.payload), (n, &[n as u8; 300][..]), "{what}");
            n += 1;
        }
        assert_eq!(n, 50);
    }
}

/// SET.md 6.1: only the newest segment may be shorter than a header (being created). A sealed
/// segment whose creation never reached the disk (a power cut under `never` leaves it empty, with
/// later segments present) makes the set damaged there: an iterator reports it after the events
/// before it, and a tailer reports it instead of waiting forever for the segment to be written.
#[test]
fn a_sealed_segment_left_empty_by_a_power_cut_is_reported_not_waited_on() {
    for victim in [0usize, 1] {
        let dir = TempDir::new("set-empty-sealed");
        let live = dir.join("set");
        let mut w = SetWriterOptions::new()
            .roll(RollPolicy::by_size(4096))
            .sync_policy(SyncPolicy::Never)
            .create(&live)
            .unwrap();
        let mut n = 0u64;
        while journal::set::list_segments(&live).unwrap().len() < 4 {
            w.append(n as i64, &[n as u8; 300]).unwrap();
            n += 1;
        }
        w.abandon();
        let segs = journal::set::list_segments(&live).unwrap();
        std::fs::write(&segs[victim].path, b"").unwrap();
        let _ = std::fs::remove_file(journal::index::index_path(&segs[victim].path));
        let before = segs[victim].first_index;
        let set = SetReader::open(&live).unwrap();
        let mut it = set.iter();
        let mut seen = 0u64;
        let err = loop {
            match it.next_event() {
                Some(Ok(e)) => {
                    assert_eq!(e.index, seen);
                    seen += 1;
                }
                Some(Err(e)) => break e,
                None => panic!("victim {victim}: the iterator ended silently after {seen} events"),
            }
        };
        assert_eq!(seen, before, "victim {victim}");
        assert!(matches!(err, Error::BadSet { .. }), "{err}");
        assert!(err.to_string().contains(&segment_name(before)), "{err}");
        let mut t = set.tail();
        let deadline = Instant::now() + PATIENCE;
        let err = loop {
            match t.poll() {
                Ok(Some(_)) => {}
                Ok(None) => assert!(
                    Instant::now() < deadline,
                    "victim {victim}: the tailer waits forever at {}",
                    t.index()
                ),
                Err(e) => break e,
            }
            std::thread::yield_now();
        };
        assert!(matches!(err, Error::BadSet { .. }), "{err}");
        assert_eq!(t.index(), before);
    }
}
