//! The fuzz targets' bodies, shared with `fuzz/`: each target there includes this very file with
//! `#[path = "../../journal/tests/it/fuzz_harness.rs"] mod harness;`, and `fuzz_corpus.rs`
//! replays the committed corpora and regressions through the same functions under `cargo test`.
//!
//! Only the `journal` public API (its hidden test hooks included), std and libc are used here: the
//! fuzz crate compiles this file on its own, without the test binary's other modules. Each function
//! takes arbitrary bytes and panics on any behaviour the spec does not allow; everything else,
//! including every documented error, is a pass.
//!
//! - [`journal_bytes`]: the bytes as a journal file (spec/FORMAT.md 3, 6, 8), checked against an
//!   independent walk written here from the spec.
//! - [`ring_bytes`]: the bytes as a ring file, and as the positions and data area of a valid ring
//!   (spec/RING.md 2, 5), checked against a consumer written here from the spec.
//! - [`model`]: the bytes as a sequence of writer operations, crashes and damage, checked against
//!   an in-memory model of the events.

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use journal::{
    create_ring, entry_len, ring_info, Consumer, Damage, DamageReason, Error, Event, Reader,
    Recovered, RecoveryMode, SyncPolicy, Writer, WriterOptions, MAX_PAYLOAD,
};

// ---------------------------------------------------------------------------------------------
// Cases kept out of the fuzzers' reach, so that fuzzing can go on looking for other failures. Each
// is described in RELIABILITY.md ("Open findings") with its reproducer, which is committed in
// fuzz/regressions/ and passes while its switch is on. Set a switch to `false` once the library
// changes: the target then reaches the case again and must pass on it.
// ---------------------------------------------------------------------------------------------

/// A library bug. `Consumer::read` computes `producer_position - consumer_position` before checking
/// that the producer is not behind the consumer: with `consumer_position > producer_position` in
/// the shared header it panics on overflow (debug and fuzz builds) instead of reporting a corrupt
/// ring. While `true`, [`ring_bytes`] does not attach a consumer to such a header.
const KNOWN_BUG_RING_CONSUMER_AHEAD: bool = false;

/// The residual case of FORMAT.md 7.5 ("Stale bytes"): `Claim::commit_len` with fewer bytes than
/// the claim's capacity leaves the rest of the claimed area as the caller filled it, past the new
/// `write_offset`. If those bytes form an entry, a header that later points past them (a power cut
/// that wrote the header page but not the data page; here, a flipped `write_offset` bit) shows an
/// event nobody appended. The spec leaves it to the caller ("commit exactly what it claims"), so
/// while `true`, [`model`] writes entry-shaped bytes only into the part of a claim it commits.
/// Set it to `false` if the library starts zeroing the unused part of a short commit.
const RESIDUAL_SHORT_COMMIT_TAIL: bool = false;

// ---------------------------------------------------------------------------------------------
// Scratch files
// ---------------------------------------------------------------------------------------------

static SCRATCH: OnceLock<PathBuf> = OnceLock::new();

/// The per-process scratch directory, in memory (`/dev/shm`) when possible, created on first use
/// and removed at exit. Reused across inputs.
fn scratch_dir() -> &'static Path {
    SCRATCH.get_or_init(|| {
        let name = format!("journal-fuzz-{}", std::process::id());
        let shm = Path::new("/dev/shm");
        let mut candidates = Vec::new();
        if shm.is_dir() {
            candidates.push(shm.join(&name));
        }
        candidates.push(std::env::temp_dir().join(&name));
        let dir = candidates
            .into_iter()
            .find(|d| {
                let _ = fs::remove_dir_all(d);
                fs::create_dir_all(d).is_ok()
            })
            .expect("no writable scratch directory (/dev/shm or the temp dir)");
        extern "C" fn remove_scratch() {
            if let Some(d) = SCRATCH.get() {
                let _ = fs::remove_dir_all(d);
            }
        }
        // SAFETY: `remove_scratch` is a plain `extern "C" fn()` that only removes files;
        // registering it has no other effect. If registration fails the directory is left behind.
        unsafe { libc::atexit(remove_scratch) };
        dir
    })
}

/// A scratch file for one input, private to the calling thread (the corpus replay runs targets on
/// several threads at once); removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        let p = scratch_dir().join(format!("{name}-{}", SLOT.with(|s| *s)));
        let _ = fs::remove_file(&p);
        Scratch(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Reads fixed-width little-endian values from the input, zeros once it runs out.
struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = N.min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        out
    }

    fn u8(&mut self) -> u8 {
        self.bytes::<1>()[0]
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.bytes())
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.bytes())
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.bytes())
    }
}

fn le64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

fn le32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn pad8(n: u64) -> u64 {
    (n + 7) & !7
}

// ---------------------------------------------------------------------------------------------
// An independent decoder, from spec/FORMAT.md 3 and 6 alone (it shares no code with the library
// except the CRC function, whose check values the library's unit tests pin).
// ---------------------------------------------------------------------------------------------

/// One valid entry found by [`spec_walk`].
#[derive(Clone, Copy, Debug)]
struct SpecEntry {
    offset: u64,
    len: u64,
    timestamp: i64,
    size: u32,
}

/// The verdict of FORMAT.md 6.2 for a file's bytes.
#[derive(Clone, Debug)]
struct SpecWalk {
    write_offset: u64,
    event_count: u64,
    start_timestamp: i64,
    entries: Vec<SpecEntry>,
    end: u64,
    damage: Option<Damage>,
}

/// FORMAT.md 3: `None` if the bytes are not a journal.
fn spec_walk(bytes: &[u8], verify: bool) -> Option<SpecWalk> {
    let l = bytes.len() as u64;
    if l < 24 {
        return None;
    }
    let e = le64(bytes, 0);
    if e < 24 || !e.is_multiple_of(8) || e > 1 << 48 {
        return None;
    }
    let mut walk = SpecWalk {
        write_offset: e,
        event_count: le64(bytes, 8),
        start_timestamp: le64(bytes, 16) as i64,
        entries: Vec::new(),
        end: 24,
        damage: None,
    };
    let mut p = 24u64;
    while p < e {
        // FORMAT.md 6.1, checks 1 to 7 in order.
        let reason = if p + 16 > e || p + 16 > l {
            Some(DamageReason::Truncated)
        } else {
            let size = le32(bytes, p as usize + 8);
            let len = pad8(16 + size as u64);
            if size > 1 << 30 {
                Some(DamageReason::BadHeader)
            } else if p + len > e {
                Some(DamageReason::Overrun)
            } else if p + len > l {
                Some(DamageReason::Truncated)
            } else {
                let (at, end) = (p as usize, (p + len) as usize);
                let payload = &bytes[at + 16..at + 16 + size as usize];
                let timestamp = le64(bytes, at) as i64;
                if verify && journal::checksum(timestamp, payload) != le32(bytes, at + 12) {
                    Some(DamageReason::Checksum)
                } else if verify && bytes[at + 16 + size as usize..end].iter().any(|&b| b != 0) {
                    Some(DamageReason::BadPadding)
                } else {
                    walk.entries.push(SpecEntry {
                        offset: p,
                        len,
                        timestamp,
                        size,
                    });
                    p += len;
                    None
                }
            }
        };
        if let Some(reason) = reason {
            walk.damage = Some(Damage { offset: p, reason });
            break;
        }
    }
    walk.end = p;
    Some(walk)
}

// ---------------------------------------------------------------------------------------------
// Target 1: arbitrary bytes as a journal file.
// ---------------------------------------------------------------------------------------------

/// Writes `data` as a journal file and checks every way of reading it against [`spec_walk`]: open,
/// header, verify, iteration from the start, from an index and from a time, tailers, iteration
/// without checksums, strict and truncating recovery on a copy, and an append after recovery.
pub fn journal_bytes(data: &[u8]) {
    let file = Scratch::new("journal");
    let path = file.path();
    fs::write(path, data).unwrap();
    let spec = spec_walk(data, true);
    let reader = match (Reader::open(path), spec) {
        (Err(Error::NotAJournal { .. }), None) => {
            // A writer refuses it too, and leaves it alone.
            match Writer::open(path) {
                Err(Error::NotAJournal { .. }) => {}
                other => panic!("Writer::open of a non-journal: {other:?}"),
            }
            assert_eq!(fs::read(path).unwrap(), data, "refusing changed the file");
            return;
        }
        (Ok(r), Some(spec)) => (r, spec),
        (r, spec) => panic!("Reader::open: {r:?}, but the spec's verdict is {spec:?}"),
    };
    let (r, spec) = reader;
    check_reader(&r, data, &spec);

    // Without checksums, iteration stops only at checks 1 to 5.
    let mut fast = Reader::open(path).unwrap();
    fast.set_verify_checksums(false);
    let loose = spec_walk(data, false).expect("same header");
    check_iter(fast.iter(), &loose, 0, data, "iter without checksums");
    // verify() checks checksums whatever the setting.
    assert_eq!(fast.verify().unwrap().damage, spec.damage);
    drop((r, fast));

    check_recovery(path, data, &spec);
}

/// The reader's views of the journal all agree with the spec's walk.
fn check_reader(r: &Reader, data: &[u8], spec: &SpecWalk) {
    let n = spec.entries.len() as u64;
    let h = r.header().unwrap();
    assert_eq!(
        (h.write_offset, h.event_count, h.start_timestamp, h.file_len),
        (
            spec.write_offset,
            spec.event_count,
            spec.start_timestamp,
            data.len() as u64
        ),
        "header"
    );
    assert!(!r.writer_present().unwrap(), "no writer holds the lock");
    let rep = r.verify().unwrap();
    assert_eq!(
        (rep.events, rep.end, rep.damage, rep.is_intact()),
        (n, spec.end, spec.damage, spec.damage.is_none()),
        "verify"
    );
    assert_eq!(
        (
            rep.write_offset,
            rep.file_len,
            rep.event_count_hint,
            rep.start_timestamp
        ),
        (
            spec.write_offset,
            data.len() as u64,
            spec.event_count,
            spec.start_timestamp
        ),
        "verify's header fields"
    );
    check_iter(r.iter(), spec, 0, data, "iter");

    // From an index: every index up to past the end, sampled.
    let mut indexes = vec![0, 1, n / 2, n.saturating_sub(1), n, n + 1, u64::MAX];
    indexes.push(data.len() as u64 % (n + 2));
    for k in indexes {
        let what = format!("iter_from_index({k})");
        match (r.iter_from_index(k), spec.damage) {
            (Ok(it), _) if k <= n => {
                let at = spec.entries.get(k as usize).map_or(spec.end, |e| e.offset);
                assert_eq!((it.index(), it.offset()), (k, at), "{what}");
                check_iter(it, spec, k as usize, data, &what);
            }
            (Ok(it), None) => {
                assert_eq!((it.index(), it.offset()), (n, spec.end), "{what}");
                check_iter(it, spec, n as usize, data, &what);
            }
            (Err(e), Some(d)) if k > n => assert_damaged(&e, d, &what),
            (other, _) => panic!("{what}: {:?}, spec {spec:?}", other.map(|it| it.offset())),
        }
    }

    // From a time: the first event in file order at or after it (FORMAT.md 6.4).
    let mut times = vec![i64::MIN, i64::MAX, 0];
    for e in spec
        .entries
        .iter()
        .take(3)
        .chain(spec.entries.iter().rev().take(3))
    {
        times.extend([e.timestamp, e.timestamp.saturating_add(1)]);
    }
    for t in times {
        let what = format!("iter_from_time({t})");
        let first = spec.entries.iter().position(|e| e.timestamp >= t);
        match (r.iter_from_time(t), first, spec.damage) {
            (Ok(it), Some(k), _) => {
                assert_eq!(it.offset(), spec.entries[k].offset, "{what}");
                check_iter(it, spec, k, data, &what);
            }
            (Ok(it), None, None) => check_iter(it, spec, n as usize, data, &what),
            (Err(e), None, Some(d)) => assert_damaged(&e, d, &what),
            (other, _, _) => panic!("{what}: {:?}, spec {spec:?}", other.map(|it| it.offset())),
        }
    }

    // Tailers: from the start, from the end, and from where an iterator stands.
    let mut t = r.tail();
    for (i, want) in spec.entries.iter().enumerate() {
        match t.poll() {
            Ok(Some(e)) => check_event(&e, i as u64, want, data, "tail"),
            other => panic!("tail: event {i}: {other:?}"),
        }
    }
    for _ in 0..2 {
        match (t.poll(), spec.damage) {
            (Ok(None), None) => {}
            (Err(e), Some(d)) => assert_damaged(&e, d, "tail"),
            (other, _) => panic!("tail at the end: {other:?}, spec {spec:?}"),
        }
    }
    assert_eq!((t.index(), t.offset()), (n, spec.end), "tail position");
    match (r.tail_from_end(), spec.damage) {
        (Ok(mut t), None) => {
            assert_eq!((t.index(), t.offset()), (n, spec.end), "tail_from_end");
            assert!(matches!(t.poll(), Ok(None)), "tail_from_end polled");
        }
        (Err(e), Some(d)) => assert_damaged(&e, d, "tail_from_end"),
        (other, _) => panic!("tail_from_end: {:?}", other.map(|t| t.offset())),
    }
    let k = n / 2;
    let it = r.iter_from_index(k).unwrap();
    let mut t = r.tail_from(&it);
    if let Some(want) = spec.entries.get(k as usize) {
        match t.poll() {
            Ok(Some(e)) => check_event(&e, k, want, data, "tail_from"),
            other => panic!("tail_from: {other:?}"),
        }
    }
}

/// Checks one event against the spec's entry and the file's bytes.
fn check_event(e: &Event<'_>, index: u64, want: &SpecEntry, data: &[u8], what: &str) {
    let (at, size) = (want.offset as usize, want.size as usize);
    assert_eq!(
        (e.index, e.offset, e.timestamp, e.end()),
        (index, want.offset, want.timestamp, want.offset + want.len),
        "{what}: event {index}"
    );
    assert_eq!(e.payload, &data[at + 16..at + 16 + size], "{what}: payload");
    assert_eq!(e.entry, &data[at..at + want.len as usize], "{what}: entry");
    assert_eq!(e.checksum(), le32(data, at + 12), "{what}: checksum");
    assert_eq!(e.entry.len() as u64, entry_len(e.payload.len() as u32));
}

/// An iterator from event `from` yields the spec's events, then the damage (once), then nothing.
fn check_iter<'r>(
    mut it: impl Iterator<Item = journal::Result<Event<'r>>>,
    spec: &SpecWalk,
    from: usize,
    data: &[u8],
    what: &str,
) {
    for (i, want) in spec.entries.iter().enumerate().skip(from) {
        match it.next() {
            Some(Ok(e)) => check_event(&e, i as u64, want, data, what),
            other => panic!("{what}: event {i}: {other:?}, spec {spec:?}"),
        }
    }
    if let Some(d) = spec.damage {
        match it.next() {
            Some(Err(e)) => assert_damaged(&e, d, what),
            other => panic!("{what}: at the damage: {other:?}, spec {spec:?}"),
        }
    }
    assert!(it.next().is_none(), "{what}: items past the end");
    assert!(it.next().is_none(), "{what}: not fused");
}

fn assert_damaged(e: &Error, want: Damage, what: &str) {
    match e {
        Error::Damaged { offset, reason, .. } => {
            assert_eq!((*offset, *reason), (want.offset, want.reason), "{what}")
        }
        other => panic!("{what}: {other:?}, expected damage {want:?}"),
    }
}

/// Opening for append (FORMAT.md 8) on copies: strict mode refuses exactly the damaged journals
/// and changes nothing; the default mode keeps exactly the content, cuts the file back to it and
/// allocates one chunk of zeros after it, appends after it, and closes to an intact journal.
fn check_recovery(path: &Path, data: &[u8], spec: &SpecWalk) {
    let n = spec.entries.len() as u64;
    fs::write(path, data).unwrap();
    match (
        WriterOptions::new()
            .recovery(RecoveryMode::Strict)
            .open(path),
        spec.damage,
    ) {
        (Err(e), Some(d)) => {
            assert_damaged(&e, d, "strict open");
            assert_eq!(
                fs::read(path).unwrap(),
                data,
                "strict refusal changed the file"
            );
        }
        (Ok(w), None) => {
            assert_eq!((w.events(), w.write_offset()), (n, spec.end), "strict open");
            w.abandon();
        }
        (other, _) => panic!("strict open: {other:?}, spec {spec:?}"),
    }

    fs::write(path, data).unwrap();
    const CHUNK: usize = 4096;
    let mut w = WriterOptions::new()
        .chunk_size(CHUNK as u64)
        .open(path)
        .unwrap_or_else(|e| panic!("Writer::open: {e}"));
    assert_eq!((w.events(), w.write_offset()), (n, spec.end), "recovery");
    let exact = spec.end == spec.write_offset && n == spec.event_count;
    let want = (!exact).then_some(Recovered {
        previous_write_offset: spec.write_offset,
        previous_event_count: spec.event_count,
        write_offset: spec.end,
        events: n,
        dropped_bytes: spec.write_offset.min(data.len() as u64) - spec.end,
        damage: spec.damage,
    });
    assert_eq!(w.recovered(), want.as_ref(), "recovered");
    // FORMAT.md 8: the header is exact, the content untouched, the file cut back to it and one
    // chunk of zeros allocated after it (a clean journal is left as it is).
    let now = fs::read(path).unwrap();
    let end = spec.end as usize;
    let want_len = if exact && end == data.len() {
        data.len()
    } else {
        (end / CHUNK + 1) * CHUNK
    };
    assert_eq!(now.len(), want_len, "file length after recovery");
    assert_eq!(
        (le64(&now, 0), le64(&now, 8), le64(&now, 16) as i64),
        (spec.end, n, spec.start_timestamp),
        "header after recovery"
    );
    assert_eq!(now[24..end], data[24..end], "recovery changed the content");
    assert!(
        now[end..].iter().all(|&b| b == 0),
        "recovery left bytes after the content"
    );

    // Appending after recovery, then a clean close: intact, the old events and the new one.
    let payload = &data[..data.len().min(19)];
    let ts = spec.start_timestamp ^ spec.event_count as i64;
    assert_eq!(w.append(ts, payload).unwrap(), n);
    w.close().unwrap();
    let after = fs::read(path).unwrap();
    let r = Reader::open(path).unwrap();
    let rep = r.verify().unwrap();
    let new_end = spec.end + entry_len(payload.len() as u32);
    assert!(rep.is_intact(), "after recovery and append: {rep:?}");
    assert_eq!(
        (rep.events, rep.end, rep.file_len),
        (n + 1, new_end, new_end)
    );
    let mut kept = spec.clone();
    kept.write_offset = new_end;
    kept.damage = None;
    kept.end = new_end;
    kept.entries.push(SpecEntry {
        offset: spec.end,
        len: new_end - spec.end,
        timestamp: ts,
        size: payload.len() as u32,
    });
    check_iter(r.iter(), &kept, 0, &after, "after recovery and append");
}

// ---------------------------------------------------------------------------------------------
// Target 2: ring records.
// ---------------------------------------------------------------------------------------------

const RING_CAPACITY: u64 = 4096;
const RING_HEADER: u64 = 4096;

/// A consumer written from spec/RING.md 3 and 5 (version 2) over a copy of the data area.
struct SpecConsumer<'a> {
    area: &'a [u8],
    capacity: u64,
    /// The consumer's position, which is also its last release (each read releases).
    position: u64,
}

/// What one read of [`SpecConsumer`] does: the records (ring position, data-area offset of the
/// entry, entry length, whether it carries a checksum) handed out in order, then either whether it
/// reached end of stream, or why the ring is corrupt (records before a corrupt one are handed out
/// and released).
#[derive(Debug)]
struct SpecRead {
    records: Vec<(u64, u64, u64, bool)>,
    /// Where the read stopped: the next record's position, or the corrupt record's.
    end: u64,
    outcome: Result<bool, String>,
}

impl SpecConsumer<'_> {
    fn read(&mut self, limit: usize) -> SpecRead {
        let mut pos = self.position;
        let mut records = Vec::new();
        let outcome = self.walk(&mut pos, &mut records, limit);
        self.position = pos;
        SpecRead {
            records,
            end: pos,
            outcome,
        }
    }

    fn walk(
        &self,
        pos: &mut u64,
        records: &mut Vec<(u64, u64, u64, bool)>,
        limit: usize,
    ) -> Result<bool, String> {
        let cap = self.capacity;
        let released = self.position;
        while records.len() < limit {
            let off = *pos % cap;
            let room = cap - off;
            // RING.md 3: `position | kind`, 0 for nothing yet.
            let commit = le64(self.area, off as usize);
            if commit == 0 {
                return Ok(false);
            }
            let kind = commit & 7;
            if commit & !7 != *pos || !(1..=4).contains(&kind) {
                return Err(format!("commit {commit:#x} at {pos}"));
            }
            let len = if kind == 2 {
                room
            } else {
                if room < 24 {
                    return Err(format!("record {room} bytes before the wrap at {pos}"));
                }
                let size = le32(self.area, off as usize + 16);
                if kind == 3 {
                    if size != 0 {
                        return Err(format!("end of stream of size {size} at {pos}"));
                    }
                    24
                } else {
                    let len = 8 + pad8(16 + size as u64);
                    if size > MAX_PAYLOAD || len > cap / 2 {
                        return Err(format!("size {size} at {pos}"));
                    }
                    len
                }
            };
            if len > room || *pos + len + 8 > released + cap {
                return Err(format!("record of {len} bytes at {pos}"));
            }
            match kind {
                // A data record, with or without checksum (RING.md 3.1).
                1 | 4 => records.push((*pos, off + 8, len - 8, kind == 1)),
                3 => {
                    *pos += len;
                    return Ok(true);
                }
                _ => {}
            }
            *pos += len;
        }
        Ok(false)
    }
}

/// (a) The bytes as a whole ring file: refused cleanly, or read like any ring. (b) The bytes as the
/// producer and consumer positions and the data area of a valid 4096-byte ring: every read agrees
/// with [`SpecConsumer`], hands out records only from inside the data area, and stops cleanly at
/// the end, at end of stream or at a corrupt record.
///
/// Layout of (b): byte 0 flags (bit 7: positions raw, else relative; bits 0-3: batch limit - 1;
/// bit 4: no batch limit), bytes 1-8 `a`, bytes 9-16 `b` (u64 LE), the rest the data area, laid
/// down from the consumer's position on. Raw: producer `a`, consumer `b`. Relative: consumer `b`,
/// producer `b + a % (2 * capacity + 1)` (wrapping). The consumer reads commit words, not the
/// producer position (RING.md 5), which only `ring_info` is checked against.
pub fn ring_bytes(data: &[u8]) {
    // (a)
    let raw = Scratch::new("ring-raw");
    fs::write(raw.path(), data).unwrap();
    let info = ring_info(raw.path());
    match Consumer::attach(raw.path()) {
        Ok(c) => {
            let info = info.unwrap_or_else(|e| panic!("ring_info refused what attach took: {e}"));
            let area = &data[RING_HEADER as usize..];
            assert_eq!(
                area.len() as u64,
                info.capacity,
                "attached a ring of the wrong size"
            );
            let spec = SpecConsumer {
                area,
                capacity: info.capacity,
                position: le64(data, 256),
            };
            if !(KNOWN_BUG_RING_CONSUMER_AHEAD && spec.position > le64(data, 128)) {
                drain(c, raw.path(), spec, 16);
            }
        }
        Err(Error::NotARing { .. }) => {
            assert!(
                matches!(info, Err(Error::NotARing { .. })),
                "ring_info: {info:?}"
            );
        }
        Err(Error::CorruptRing { .. }) => {
            let c = le64(data, 256);
            assert!(
                !c.is_multiple_of(8) || c > 1 << 63,
                "refused consumer_position {c}"
            );
        }
        // The bytes may name a live process as the consumer.
        Err(Error::AlreadyAttached { .. }) => {}
        Err(e) => panic!("Consumer::attach of arbitrary bytes: {e:?}"),
    }
    drop(raw);

    // (b)
    let mut inp = Input { data };
    let flags = inp.u8();
    let (a, b) = (inp.u64(), inp.u64());
    let (producer, consumer) = if flags & 0x80 != 0 {
        (a, b)
    } else {
        (b.wrapping_add(a % (2 * RING_CAPACITY + 1)), b)
    };
    let limit = if flags & 0x10 != 0 {
        usize::MAX
    } else {
        1 + (flags & 0x0f) as usize
    };
    let mut area = vec![0u8; RING_CAPACITY as usize];
    for (i, &byte) in inp.data.iter().take(area.len()).enumerate() {
        area[((consumer % RING_CAPACITY + i as u64) % RING_CAPACITY) as usize] = byte;
    }
    if KNOWN_BUG_RING_CONSUMER_AHEAD && consumer > producer {
        return;
    }
    let ring = Scratch::new("ring");
    let path = ring.path();
    create_ring(path, RING_CAPACITY).unwrap();
    {
        let f = fs::OpenOptions::new().write(true).open(path).unwrap();
        f.write_all_at(&producer.to_le_bytes(), 128).unwrap();
        f.write_all_at(&consumer.to_le_bytes(), 256).unwrap();
        f.write_all_at(&area, RING_HEADER).unwrap();
    }
    let c = match Consumer::attach(path) {
        Ok(c) => c,
        Err(Error::CorruptRing { reason, .. }) => {
            assert!(
                consumer % 8 != 0 || consumer > 1 << 63,
                "refused consumer_position {consumer}: {reason}"
            );
            return;
        }
        Err(e) => panic!("attach to a valid ring: {e}"),
    };
    let info = ring_info(path).unwrap();
    assert_eq!(
        (
            info.capacity,
            info.producer_position,
            info.consumer_position,
            info.consumer_pid,
            info.consumer_alive
        ),
        (RING_CAPACITY, producer, consumer, std::process::id(), true),
        "ring_info"
    );
    let spec = SpecConsumer {
        area: &area,
        capacity: RING_CAPACITY,
        position: consumer,
    };
    drain(c, path, spec, limit);
    // The consumer detached: its pid is cleared, nothing else changed but its position.
    let after = fs::read(path).unwrap();
    assert_eq!(le64(&after, 512), 0, "consumer pid left behind");
    assert_eq!(
        le64(&after, 128),
        producer,
        "the consumer wrote the producer's position"
    );
    assert_eq!(
        &after[RING_HEADER as usize..],
        &area[..],
        "the consumer wrote the data area"
    );
}

/// Reads until empty, end of stream or an error, comparing each read with the spec's consumer.
fn drain(mut c: Consumer, path: &Path, mut spec: SpecConsumer<'_>, limit: usize) {
    let file = fs::File::open(path).unwrap();
    let consumer_position = || {
        let mut word = [0u8; 8];
        file.read_exact_at(&mut word, 256).unwrap();
        u64::from_le_bytes(word)
    };
    // Each read that returns records consumes at least 24 bytes, so this bounds the loop.
    for round in 0..spec.capacity / 16 + 2 {
        let start = spec.position;
        let want = spec.read(limit);
        let mut base: Option<usize> = None;
        let mut handed = 0usize;
        let got = c.read(limit, |rec| {
            let Some(&(position, off, len, checksummed)) = want.records.get(handed) else {
                panic!("round {round}: record {handed} handed out, spec: {want:?}");
            };
            handed += 1;
            let (off, len) = (off as usize, len as usize);
            // The record is the spec's, in place: same bytes, at the same place in the mapping.
            assert!(off + len <= spec.area.len(), "spec record outside the area");
            assert_eq!(
                rec.entry,
                &spec.area[off..off + len],
                "round {round}: record bytes"
            );
            let addr = rec.entry.as_ptr() as usize;
            let b = *base.get_or_insert(addr - off);
            assert_eq!(addr - off, b, "round {round}: record not at its offset");
            assert_eq!(
                rec.payload,
                &rec.entry[16..16 + le32(rec.entry, 8) as usize]
            );
            assert_eq!(rec.timestamp, le64(rec.entry, 0) as i64);
            assert_eq!(rec.position, position, "round {round}: record position");
            assert_eq!(rec.checksum(), le32(rec.entry, 12));
            assert_eq!(rec.checksummed, checksummed, "round {round}: record kind");
            assert!(rec.checksummed || !rec.checksum_ok());
            std::ops::ControlFlow::Continue(())
        });
        assert_eq!(
            handed,
            want.records.len(),
            "round {round}: records handed out"
        );
        match (got, &want.outcome) {
            (Ok(status), Ok(eos)) => {
                assert_eq!(
                    (status.records, status.end_of_stream),
                    (want.records.len(), *eos),
                    "round {round}"
                );
                assert_eq!(
                    consumer_position(),
                    spec.position,
                    "round {round}: released"
                );
                if status.records == 0 || status.end_of_stream {
                    return;
                }
            }
            (Err(Error::CorruptRing { position, .. }), Err(_)) => {
                // The bad record's own position; the good records handed out before it are
                // released (and so never handed out twice), nothing from it on is.
                assert_eq!(position, want.end, "round {round}: corrupt at {position}");
                assert!(
                    position >= start && position <= start + spec.capacity,
                    "round {round}: corrupt at {position}"
                );
                assert_eq!(
                    consumer_position(),
                    position,
                    "round {round}: released up to the bad record"
                );
                return;
            }
            (got, want) => panic!("round {round} from {start}: {got:?}, spec {want:?}"),
        }
    }
    panic!("the consumer never reached the end");
}

// ---------------------------------------------------------------------------------------------
// Target 4: the ring's producer side.
// ---------------------------------------------------------------------------------------------

/// Arbitrary bytes as a ring header's positions (and, optionally, one damaged header word), then as
/// a sequence of producer writes, consumer releases and hostile consumer positions
/// (spec/RING.md 2, 4, 7.2). The producer attaches exactly when the positions are possible, at
/// the later of the two (the data area is zero: no record is committed past them); every write
/// either succeeds without touching an unread byte or past a capacity (less the next commit word)
/// ahead of the consumer, finds the ring full exactly when the spec says, or reports a corrupt
/// ring, only after an impossible consumer position was stored.
///
/// Input: `flags: u8`, `a: u64`, `b: u64`; with `flags & 0x80` the positions are `(a, b)` raw, else
/// `producer = b + a % (2 * capacity + 17)`, `consumer = b`, rounded down to multiples of 8 unless
/// `flags & 0x40`. With `flags & 0x20`, `at: u16, word: u64` overwrite the header's 8 bytes at
/// `at % 640`. Then operations of one byte `op` each: `op % 4` 0 or 1, write a record of
/// `u16 % 2025` bytes with `try_push`; 2, the consumer releases up to `u16`-many 8-byte steps; 3, a
/// raw `u64` is stored as `consumer_position`.
pub fn ring_producer(data: &[u8]) {
    use journal::Producer;
    let mut inp = Input { data };
    let flags = inp.u8();
    let (a, b) = (inp.u64(), inp.u64());
    let (mut producer, mut consumer) = if flags & 0x80 != 0 {
        (a, b)
    } else {
        (b.wrapping_add(a % (2 * RING_CAPACITY + 17)), b)
    };
    if flags & 0xC0 == 0 {
        producer &= !7;
        consumer &= !7;
    }
    let ring = Scratch::new("ring-producer");
    let path = ring.path();
    create_ring(path, RING_CAPACITY).unwrap();
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let put = |at: u64, v: u64| file.write_all_at(&v.to_le_bytes(), at).unwrap();
    let get = |at: u64| {
        let mut w = [0u8; 8];
        file.read_exact_at(&mut w, at).unwrap();
        u64::from_le_bytes(w)
    };
    put(128, producer);
    put(256, consumer);
    let mut static_damaged = false;
    if flags & 0x20 != 0 {
        let (at, word) = ((inp.u16() % 640) as u64, inp.u64());
        file.write_all_at(&word.to_le_bytes(), at).unwrap();
        static_damaged = at < 24;
        // The positions as they now are.
        producer = get(128);
        consumer = get(256);
    }
    // RING.md 7.2.
    let possible = producer % 8 == 0
        && producer <= 1 << 63
        && consumer % 8 == 0
        && consumer <= producer + RING_CAPACITY
        && producer + 8 <= consumer + RING_CAPACITY;
    let mut p = match Producer::attach(path) {
        Ok(p) => {
            assert!(
                possible,
                "attached with producer_position {producer}, consumer_position {consumer}"
            );
            p
        }
        Err(Error::CorruptRing { reason, .. }) => {
            assert!(!possible, "refused possible positions: {reason}");
            assert!(
                reason.contains("_position"),
                "the reason names no field: {reason}"
            );
            return;
        }
        Err(Error::NotARing { .. }) if static_damaged => return,
        Err(e) => panic!("Producer::attach: {e:?}"),
    };
    // The data area is zero: the committed end is the later position, and attaching stores it.
    let start = producer.max(consumer);
    assert_eq!(p.position(), start, "the producer's start");
    assert_eq!(get(128), start, "producer_position after attaching");
    let area = |file: &fs::File| {
        let mut a = vec![0u8; RING_CAPACITY as usize];
        file.read_exact_at(&mut a, RING_HEADER).unwrap();
        a
    };
    // The last valid consumer position stored, and whether an impossible one was stored since.
    let (mut released, mut published, mut hostile) = (consumer, start, false);
    for op_no in 0..256u64 {
        if inp.is_empty() {
            break;
        }
        match inp.u8() % 4 {
            0 | 1 => {
                // A stored consumer position that was impossible becomes possible once the
                // producer has published past it: from then on the producer may use it.
                let stored = get(256);
                if hostile && stored % 8 == 0 && (released..=published).contains(&stored) {
                    released = stored;
                    hostile = false;
                }
                let size = inp.u16() as usize % 2025;
                let len = 8 + entry_len(size as u32);
                let room = RING_CAPACITY - published % RING_CAPACITY;
                let need = if room < len { room + len } else { len } + 8;
                let free = RING_CAPACITY - (published - released);
                let before = area(&file);
                let result = p.try_push(op_no as i64, &vec![op_no as u8; size]);
                let after = area(&file);
                // No unread byte [released, published) changed, whatever happened.
                for pos in released..published {
                    let off = (pos % RING_CAPACITY) as usize;
                    assert_eq!(
                        before[off], after[off],
                        "unread byte at position {pos} overwritten"
                    );
                }
                let now = p.position();
                match result {
                    Ok(true) => {
                        assert!(
                            hostile || need <= free,
                            "wrote {need} bytes with {free} free"
                        );
                        assert!(now > published && now + 8 - released <= RING_CAPACITY);
                        // The record is committed at its position (after any wrap padding).
                        let at = now - len;
                        assert_eq!(le64(&after, (at % RING_CAPACITY) as usize), at | 1);
                        assert_eq!(le64(&after, (now % RING_CAPACITY) as usize), 0);
                        published = now;
                    }
                    Ok(false) => {
                        assert!(hostile || need > free, "full with {free} free for {need}");
                        assert_eq!(now, published, "a refused write moved");
                        assert_eq!(before, after, "a refused write wrote");
                    }
                    Err(Error::CorruptRing { reason, .. }) => {
                        assert!(hostile, "corrupt ring without a bad position: {reason}");
                        assert!(reason.contains("consumer_position"), "{reason}");
                        assert_eq!(now, published, "a failed write moved");
                        assert_eq!(before, after, "a failed write wrote");
                        return;
                    }
                    Err(e) => panic!("try_push of {size} bytes: {e:?}"),
                }
            }
            2 => {
                let steps = (published - released) / 8;
                released += 8 * (inp.u16() as u64 % (steps + 1));
                put(256, released);
                hostile = false;
            }
            _ => {
                let v = inp.u64();
                put(256, v);
                if v.is_multiple_of(8) && (released..=published).contains(&v) {
                    released = v;
                    hostile = false;
                } else {
                    hostile = true;
                }
            }
        }
    }
    drop(p);
    assert_eq!(
        get(128),
        published,
        "the producer's position after detaching"
    );
}

// ---------------------------------------------------------------------------------------------
// Target 3: model-based writer test.
// ---------------------------------------------------------------------------------------------

/// The in-memory model: every published event, where each entry ends, and the header's start.
struct Model {
    events: Vec<(i64, Vec<u8>)>,
    ends: Vec<u64>,
    start: i64,
    max_size: u64,
}

impl Model {
    fn write_offset(&self) -> u64 {
        self.ends.last().copied().unwrap_or(24)
    }

    fn push(&mut self, timestamp: i64, payload: Vec<u8>) {
        let end = self.write_offset() + entry_len(payload.len() as u32);
        self.ends.push(end);
        self.events.push((timestamp, payload));
    }

    /// Keeps the events whose entries lie wholly below `limit`.
    fn keep_below(&mut self, limit: u64) -> usize {
        let kept = self.ends.iter().take_while(|&&e| e <= limit).count();
        self.ends.truncate(kept);
        self.events.truncate(kept);
        kept
    }

    fn options(&self, choice: u8) -> WriterOptions {
        let policy = match choice % 6 {
            0 | 1 => SyncPolicy::Never,
            2 => SyncPolicy::EveryAppend,
            3 => SyncPolicy::EveryEvents(1 + (choice as u64 >> 4) % 4),
            4 => SyncPolicy::EveryBytes(64 << ((choice >> 4) % 6)),
            _ => SyncPolicy::Interval(Duration::ZERO),
        };
        let mut o = WriterOptions::new();
        o.chunk_size(4096)
            .max_size(self.max_size)
            .sync_policy(policy)
            .prefault(choice & 0x08 == 0)
            // The model is full recovery (FORMAT.md 8): a writer trusting an index would not see
            // the bits flipped below its checkpoint (INDEX.md 10).
            .index(false)
            .start_timestamp(self.start);
        o
    }
}

/// What a reopen's [`Writer::recovered`] must say: `None`, or these fields (the damage's reason
/// only where the model knows it).
#[derive(Debug)]
struct WantRecovered {
    previous_write_offset: u64,
    previous_event_count: u64,
    dropped_bytes: u64,
    damage: Option<(u64, Option<DamageReason>)>,
}

/// Deterministic payload bytes.
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_add((i as u8).wrapping_mul(31)))
        .collect()
}

/// Fills `out` with back-to-back valid entries (the bytes a stale region must never pass for).
fn fill_with_entries(out: &mut [u8], seed: u8) {
    let mut at = 0;
    let mut k = 0u8;
    while at + 16 <= out.len() {
        let room = out.len() - at - 16;
        let size = (seed.wrapping_add(k.wrapping_mul(7)) as usize % 24).min(room);
        let ts = i64::from(seed) * 1_000 + i64::from(k);
        let payload = pattern(seed ^ k, size);
        out[at..at + 8].copy_from_slice(&ts.to_le_bytes());
        out[at + 8..at + 12].copy_from_slice(&(size as u32).to_le_bytes());
        out[at + 12..at + 16].copy_from_slice(&journal::checksum(ts, &payload).to_le_bytes());
        out[at + 16..at + 16 + size].copy_from_slice(&payload);
        let len = pad8(16 + size as u64) as usize;
        let pad_end = (at + len).min(out.len());
        out[at + 16 + size..pad_end].fill(0);
        at += len;
        k = k.wrapping_add(1);
    }
}

/// Decodes operations from the bytes and runs them against a writer and the [`Model`]:
/// append, claim and commit (whole, shorter, or too long), claim and abandon, sync, injected sync
/// failure, pretouch, crash (`abandon`) and reopen, clean close and reopen, truncation while
/// closed, a bit flip while closed, and reader checks (a fresh reader, or one held across
/// operations).
/// After every reopen and at the end, a reader's events must be the model's, which after damage
/// keeps exactly the events whose entries lie wholly before it.
pub fn model(data: &[u8]) {
    let mut inp = Input { data };
    let file = Scratch::new("model");
    let path = file.path();
    let mut m = Model {
        events: Vec::new(),
        ends: Vec::new(),
        start: inp.u64() as i64,
        max_size: 4096 * (2 + inp.u8() as u64 % 15),
    };
    let mut w = m.options(inp.u8()).create(path).unwrap();
    let mut reader: Option<Reader> = None;
    let mut ops = 0;
    while !inp.is_empty() && ops < 200 {
        ops += 1;
        let op = inp.u8();
        match op % 12 {
            0 | 1 => {
                let (ts, size, seed) = (timestamp(&mut inp), size(&mut inp), inp.u8());
                let payload = pattern(seed, size);
                let need = m.write_offset() + entry_len(size as u32);
                match w.append(ts, &payload) {
                    Ok(index) => {
                        assert!(need <= m.max_size, "appended past max_size");
                        assert_eq!(index, m.events.len() as u64, "append's index");
                        m.push(ts, payload);
                    }
                    Err(e) => assert_full(&e, need, m.max_size),
                }
            }
            2 => {
                let (ts, cap, how, seed) =
                    (timestamp(&mut inp), size(&mut inp), inp.u8(), inp.u8());
                let need = m.write_offset() + entry_len(cap as u32);
                let mut c = match w.claim(cap) {
                    Ok(c) => c,
                    Err(e) => {
                        assert_full(&e, need, m.max_size);
                        continue;
                    }
                };
                assert!(need <= m.max_size, "claimed past max_size");
                assert_eq!(c.capacity(), cap);
                let len = match how % 4 {
                    0 => cap,
                    1 | 2 => seed as usize % (cap + 1),
                    _ => cap + 1 + seed as usize % 9,
                };
                let area = c.as_mut_slice();
                if RESIDUAL_SHORT_COMMIT_TAIL && len < cap {
                    area.copy_from_slice(&pattern(seed, cap));
                    fill_with_entries(&mut area[..len], seed);
                } else {
                    fill_with_entries(area, seed);
                }
                let payload = area[..len.min(cap)].to_vec();
                let result = if how % 4 == 0 {
                    c.commit(ts)
                } else {
                    c.commit_len(ts, len)
                };
                match result {
                    Ok(index) if len <= cap => {
                        assert_eq!(index, m.events.len() as u64, "commit's index");
                        m.push(ts, payload);
                    }
                    Err(Error::InvalidArgument(_)) if len > cap => {}
                    other => panic!("commit of {len} bytes of a {cap}-byte claim: {other:?}"),
                }
            }
            3 => {
                // A claim filled with valid-looking entries, then dropped: no trace (zeroed).
                let (cap, seed) = (size(&mut inp), inp.u8());
                let wo = m.write_offset();
                match w.claim(cap) {
                    Ok(mut c) => fill_with_entries(c.as_mut_slice(), seed),
                    Err(e) => {
                        assert_full(&e, wo + entry_len(cap as u32), m.max_size);
                        continue;
                    }
                }
                let mut rest = vec![0xAA; cap];
                fs::File::open(path)
                    .unwrap()
                    .read_exact_at(&mut rest, wo + 16)
                    .unwrap();
                assert!(rest.iter().all(|&b| b == 0), "a dropped claim left bytes");
            }
            4 => w.sync().unwrap(),
            5 => {
                // A failed sync poisons the writer; the published events stay.
                w.inject_sync_failure();
                match w.sync() {
                    Err(Error::Io { op: "msync", .. }) => {}
                    other => panic!("injected sync failure: {other:?}"),
                }
                let poisoned = |r: journal::Result<()>, what: &str| match r {
                    Err(Error::Poisoned { .. }) => {}
                    other => panic!("{what} on a poisoned writer: {other:?}"),
                };
                poisoned(w.append(1, b"x").map(drop), "append");
                poisoned(w.claim(1).map(drop), "claim");
                poisoned(w.sync(), "sync");
                poisoned(w.pretouch(), "pretouch");
                // sync_if_due reports the poison only when a sync is due (never, under `Never`).
                match w.sync_if_due() {
                    Ok(()) | Err(Error::Poisoned { .. }) => {}
                    Err(e) => panic!("sync_if_due on a poisoned writer: {e:?}"),
                }
                poisoned(w.close(), "close");
                w = reopen(&m, path, inp.u8(), None);
            }
            6 => {
                w.pretouch().unwrap();
                w.sync_if_due().unwrap();
            }
            7 => {
                // kill -9: every published event survives; the header is exact.
                w.abandon();
                w = reopen(&m, path, inp.u8(), None);
            }
            8 => {
                w.close().unwrap();
                let len = fs::metadata(path).unwrap().len();
                assert_eq!(len, m.write_offset(), "a clean close cuts the file back");
                w = reopen(&m, path, inp.u8(), None);
            }
            9 => {
                let (how, cut) = (inp.u8(), inp.u16());
                reader = None; // a truncation under a mapping is hostile.rs's business
                close_or_crash(w, how);
                w = truncate_and_reopen(&mut m, path, how, cut as u64);
            }
            10 => {
                let (how, bit) = (inp.u8(), inp.u32());
                reader = None;
                close_or_crash(w, how);
                w = flip_and_reopen(&mut m, path, how, bit as u64);
            }
            _ => {
                if reader.is_none() || inp.u8() & 1 == 0 {
                    reader = Some(Reader::open(path).unwrap());
                }
                check_model(reader.as_ref().expect("just opened"), &m, "live reader");
            }
        }
        assert_eq!(
            (w.events(), w.write_offset()),
            (m.events.len() as u64, m.write_offset()),
            "op {ops} ({op}): writer and model disagree"
        );
    }
    drop(reader);
    w.close().unwrap();
    assert_eq!(fs::metadata(path).unwrap().len(), m.write_offset());
    check_model(&Reader::open(path).unwrap(), &m, "at the end");
}

fn timestamp(inp: &mut Input<'_>) -> i64 {
    match inp.u8() {
        255 => inp.u64() as i64,
        t => (i64::from(t) - 128) * 1_000_000_007,
    }
}

/// A payload size: mostly small, sometimes across a 4 KiB chunk.
fn size(inp: &mut Input<'_>) -> usize {
    let s = inp.u16() as usize;
    match s >> 14 {
        0 | 1 => s & 0xff,
        2 => s & 0x3ff,
        _ => s & 0x1fff,
    }
}

fn assert_full(e: &Error, need: u64, max_size: u64) {
    match e {
        Error::Full { needed, max, .. } => {
            assert!(need > max_size, "Full below max_size: {e}");
            assert_eq!((*needed, *max), (need, max_size), "{e}");
        }
        other => panic!("expected Full (need {need}, max {max_size}): {other:?}"),
    }
}

fn close_or_crash(w: Writer, how: u8) {
    if how & 1 == 0 {
        w.close().unwrap();
    } else {
        w.abandon();
    }
}

/// Opens for append and checks recovery's report, the writer's position and the file against the
/// model (which the caller has already cut to what must survive).
fn reopen(m: &Model, path: &Path, choice: u8, want: Option<WantRecovered>) -> Writer {
    let w = m
        .options(choice)
        .open(path)
        .unwrap_or_else(|e| panic!("reopen: {e}"));
    let (n, wo) = (m.events.len() as u64, m.write_offset());
    assert_eq!((w.events(), w.write_offset()), (n, wo), "reopen");
    match (w.recovered(), &want) {
        (None, None) => {}
        (Some(got), Some(want)) => {
            assert_eq!(
                (
                    got.previous_write_offset,
                    got.previous_event_count,
                    got.write_offset,
                    got.events,
                    got.dropped_bytes,
                    got.damage.map(|d| d.offset)
                ),
                (
                    want.previous_write_offset,
                    want.previous_event_count,
                    wo,
                    n,
                    want.dropped_bytes,
                    want.damage.map(|d| d.0)
                ),
                "recovered"
            );
            if let (Some(d), Some((_, Some(reason)))) = (got.damage, want.damage) {
                assert_eq!(d.reason, reason, "recovered damage");
            }
        }
        (got, want) => panic!("recovered: {got:?}, want {want:?}"),
    }
    let bytes = fs::read(path).unwrap();
    assert!(
        bytes[wo as usize..].iter().all(|&b| b == 0),
        "bytes after the content survived recovery"
    );
    check_model(&Reader::open(path).unwrap(), m, "after reopen");
    w
}

/// A reader's view equals the model exactly.
fn check_model(r: &Reader, m: &Model, what: &str) {
    let (n, wo) = (m.events.len() as u64, m.write_offset());
    let rep = r.verify().unwrap();
    assert!(rep.is_intact(), "{what}: {rep:?}");
    assert_eq!(
        (rep.events, rep.end, rep.write_offset, rep.start_timestamp),
        (n, wo, wo, m.start),
        "{what}"
    );
    let mut count = 0;
    for (e, want) in r.iter().zip(&m.events) {
        let e = e.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            (e.timestamp, e.payload, e.end()),
            (want.0, &want.1[..], m.ends[count]),
            "{what}: event {count}"
        );
        count += 1;
    }
    assert_eq!(count, m.events.len(), "{what}: events");
    let mut t = r.tail();
    for want in &m.events {
        let e = t.poll().unwrap().expect("an event");
        assert_eq!(
            (e.timestamp, e.payload),
            (want.0, &want.1[..]),
            "{what}: tail"
        );
    }
    assert!(t.poll().unwrap().is_none(), "{what}: tail past the end");
    if let Some(&(ts, _)) = m.events.get(m.events.len() / 2) {
        let first = m.events.iter().position(|e| e.0 >= ts).expect("itself");
        let it = r.iter_from_time(ts).unwrap();
        assert_eq!(it.index(), first as u64, "{what}: iter_from_time");
    }
}

/// Cuts the closed journal at `cut` bytes (modulo its length + 1) and reopens: the events whose
/// entries lie wholly before the cut survive. A cut inside the header makes it not a journal.
fn truncate_and_reopen(m: &mut Model, path: &Path, how: u8, cut: u64) -> Writer {
    let len = fs::metadata(path).unwrap().len();
    let cut = cut % (len + 1);
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(cut)
        .unwrap();
    if cut < 24 {
        assert!(matches!(Reader::open(path), Err(Error::NotAJournal { .. })));
        assert!(matches!(
            m.options(how).open(path),
            Err(Error::NotAJournal { .. })
        ));
        m.keep_below(0);
        if cut == 0 {
            // An empty file is initialized as a new journal.
            let w = m.options(how).open_or_create(path).unwrap();
            assert_eq!((w.events(), w.write_offset()), (0, 24));
            return w;
        }
        assert!(matches!(
            m.options(how).open_or_create(path),
            Err(Error::NotAJournal { .. })
        ));
        fs::remove_file(path).unwrap();
        return m.options(how).create(path).unwrap();
    }
    let (wo, n) = (m.write_offset(), m.events.len() as u64);
    let kept = m.keep_below(cut);
    let end = m.write_offset();
    if cut >= wo {
        return reopen(m, path, how >> 1, None);
    }
    // FORMAT.md 6.1: the entry the cut goes through fails check 2 or 5.
    strict_refuses(m, path, end);
    let want = WantRecovered {
        previous_write_offset: wo,
        previous_event_count: n,
        dropped_bytes: cut - end,
        damage: Some((end, Some(DamageReason::Truncated))),
    };
    let w = reopen(m, path, how >> 1, Some(want));
    assert_eq!(w.events(), kept as u64);
    w
}

/// Strict recovery refuses the damaged journal, naming the damage, and changes nothing.
fn strict_refuses(m: &Model, path: &Path, at: u64) {
    let before = fs::read(path).unwrap();
    let mut o = m.options(0);
    match o.recovery(RecoveryMode::Strict).open(path) {
        Err(Error::Damaged { offset, .. }) => assert_eq!(offset, at, "strict open"),
        other => panic!("strict open of a journal damaged at {at}: {other:?}"),
    }
    assert_eq!(
        fs::read(path).unwrap(),
        before,
        "strict open changed the file"
    );
}

/// Flips bit `bit` (modulo the file's bits) of the closed journal and reopens: damage in an entry
/// keeps the events before it; the header's hints are corrected; a `write_offset` made invalid
/// makes it not a journal (the bit is flipped back); one moved keeps the entries wholly below it.
fn flip_and_reopen(m: &mut Model, path: &Path, how: u8, bit: u64) -> Writer {
    let len = fs::metadata(path).unwrap().len();
    let bit = bit % (len * 8);
    let at = bit / 8;
    let flip = |path: &Path| {
        let f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        let mut b = [0u8];
        f.read_exact_at(&mut b, at).unwrap();
        b[0] ^= 1 << (bit % 8);
        f.write_all_at(&b, at).unwrap();
    };
    flip(path);
    let (wo, n) = (m.write_offset(), m.events.len() as u64);
    let choice = how >> 1;
    if at < 8 {
        let new_wo = wo ^ (1 << bit);
        if new_wo < 24 || !new_wo.is_multiple_of(8) || new_wo > 1 << 48 {
            assert!(matches!(Reader::open(path), Err(Error::NotAJournal { .. })));
            assert!(matches!(
                m.options(choice).open(path),
                Err(Error::NotAJournal { .. })
            ));
            flip(path);
            return reopen(m, path, choice, None);
        }
        let limit = new_wo.min(len);
        m.keep_below(limit);
        let end = m.write_offset();
        if end < new_wo {
            strict_refuses(m, path, end);
        }
        let want = WantRecovered {
            previous_write_offset: new_wo,
            previous_event_count: n,
            dropped_bytes: limit - end,
            damage: (end < new_wo).then_some((end, None)),
        };
        reopen(m, path, choice, Some(want))
    } else if at < 16 {
        let want = WantRecovered {
            previous_write_offset: wo,
            previous_event_count: n ^ (1 << (bit - 64)),
            dropped_bytes: 0,
            damage: None,
        };
        reopen(m, path, choice, Some(want))
    } else if at < 24 {
        m.start ^= 1 << (bit - 128);
        reopen(m, path, choice, None)
    } else if at < wo {
        // Inside entry k: a CRC-32 detects every single-bit error, and a changed size fails a
        // bound or the CRC.
        let k = m.ends.iter().take_while(|&&e| e <= at).count();
        m.keep_below(m.ends[k] - 1);
        let end = m.write_offset();
        strict_refuses(m, path, end);
        let want = WantRecovered {
            previous_write_offset: wo,
            previous_event_count: n,
            dropped_bytes: wo - end,
            damage: Some((end, None)),
        };
        reopen(m, path, choice, Some(want))
    } else {
        // Past write_offset (a crashed writer's preallocated tail): not the journal's; zeroed.
        reopen(m, path, choice, None)
    }
}
