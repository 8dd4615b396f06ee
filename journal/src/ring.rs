//! The cross-process shared-memory SPSC ring (spec/RING.md).

use std::fs::{File, OpenOptions};
use std::io;
use std::ops::ControlFlow;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

use crate::error::{Error, Result};
use crate::format::{checksum, entry_len, EntryHeader, MAX_PAYLOAD};
use crate::sys::ringlock::{range_locked, RoleLock};
use crate::sys::{self, RingMap};
use crate::wait::{WaitStrategy, WakeWord};

/// Length of the ring header (spec/RING.md 2).
pub const RING_HEADER_LEN: u64 = 4096;
/// Smallest ring capacity.
pub const RING_MIN_CAPACITY: u64 = 4096;
/// Largest ring capacity.
pub const RING_MAX_CAPACITY: u64 = 1 << 40;
const MAGIC: u64 = u64::from_le_bytes(*b"JRNLRING");
/// The ring format version this build reads and writes (spec/RING.md 2, 10).
pub const RING_VERSION: u32 = 2;
const VERSION: u32 = RING_VERSION;

/// The ring header's first line as stored (spec/RING.md 2); written once at creation.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug)]
#[repr(C)]
struct RingStatic {
    magic: U64,
    version: U32,
    header_len: U32,
    capacity: U64,
}

// Offsets of the header words that change (spec/RING.md 2), each on its own 128-byte line.
const OFF_PRODUCER_POS: usize = 128;
const OFF_CONSUMER_POS: usize = 256;
// Each owner line holds the pid, then at +8 the process's start time.
const OFF_PRODUCER_PID: usize = 384;
const OFF_CONSUMER_PID: usize = 512;
// The wake-up words of the blocking waits (spec/RING.md 2, 5.1), 32-bit, each pair on its own line:
// the consumer sleeps on DATA_SEQ for records, the producer on ROOM_SEQ for room.
const OFF_DATA_SEQ: usize = 640;
const OFF_CONSUMER_SLEEPING: usize = 644;
const OFF_ROOM_SEQ: usize = 768;
const OFF_PRODUCER_SLEEPING: usize = 772;
/// Length of a role's owner line, which is also the byte range its ownership lock covers
/// (spec/RING.md 7).
const OWNER_LINE: u64 = 128;

// Record kinds, the low three bits of a commit word (spec/RING.md 3).
const KIND_DATA: u64 = 1;
const KIND_PADDING: u64 = 2;
const KIND_END: u64 = 3;
/// A data record whose entry carries no CRC (its `checksum` field is 0).
const KIND_DATA_UNCHECKED: u64 = 4;
/// The largest valid kind.
const KIND_MAX: u64 = KIND_DATA_UNCHECKED;
/// Length of the commit word that starts every record (spec/RING.md 3).
const COMMIT_LEN: u64 = 8;
/// Length of an end-of-stream record: its commit word and an empty entry's 16-byte header.
const END_LEN: u64 = COMMIT_LEN + 16;

/// The largest producer position a producer attaches at (spec/RING.md 4): far enough below 2^64
/// that its position never overflows (2^63 bytes is 29 years at 10 GB/s).
const MAX_POSITION: u64 = 1 << 63;

/// How often a waiting side checks that the other side is still alive.
const LIVENESS_INTERVAL: Duration = Duration::from_millis(10);

/// The fields of a ring's header, for display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingInfo {
    /// Data area size in bytes.
    pub capacity: u64,
    /// Bytes published by the producer, ever: a lower bound, since the producer stores it lazily
    /// (spec/RING.md 4.4); records may be committed past it.
    pub producer_position: u64,
    /// Bytes consumed, ever.
    pub consumer_position: u64,
    /// Pid of the attached producer (0 if none).
    pub producer_pid: u32,
    /// Whether a producer holds the producer role (its ownership lock, spec/RING.md 7).
    pub producer_alive: bool,
    /// Pid of the attached consumer (0 if none).
    pub consumer_pid: u32,
    /// Whether a consumer holds the consumer role (its ownership lock, spec/RING.md 7).
    pub consumer_alive: bool,
}

/// Creates a ring file of `capacity` data bytes (a power of two, 4 KiB to 1 TiB), mode 0600, not
/// following a symlink at the path; fails if the path exists.
pub fn create_ring(path: impl AsRef<Path>, capacity: u64) -> Result<()> {
    let path = path.as_ref();
    if !capacity.is_power_of_two() || !(RING_MIN_CAPACITY..=RING_MAX_CAPACITY).contains(&capacity) {
        return Err(Error::InvalidArgument(format!(
            "ring capacity {capacity} must be a power of two from {RING_MIN_CAPACITY} to {RING_MAX_CAPACITY}"
        )));
    }
    let file = sys::create_exclusive(path, 0o600)?;
    let setup = || -> io::Result<()> {
        sys::allocate(&file, 0, RING_HEADER_LEN + capacity)?;
        // The magic goes last, so a half-created ring is never attached to.
        let head = RingStatic {
            magic: U64::new(0),
            version: U32::new(VERSION),
            header_len: U32::new(RING_HEADER_LEN as u32),
            capacity: U64::new(capacity),
        };
        file.write_all_at(head.as_bytes(), 0)?;
        file.write_all_at(&MAGIC.to_le_bytes(), 0)
    };
    setup().map_err(|e| {
        let _ = std::fs::remove_file(path);
        Error::io(path, "create ring", e)
    })
}

/// Opens an existing ring file and validates its static header and size (spec/RING.md 2); returns
/// the file and the capacity. `write` opens it read-write (to attach), else read-only.
fn open_ring_file(path: &Path, write: bool) -> Result<(File, u64)> {
    let file = OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| Error::io(path, "open", e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, "stat", e))?;
    let mismatch = |field, expected: String, found: String| Error::NotARing {
        path: path.to_path_buf(),
        field,
        expected,
        found,
    };
    if !meta.is_file() {
        return Err(mismatch(
            "type",
            "a regular file".into(),
            "something else".into(),
        ));
    }
    let len = meta.len();
    let mut head = RingStatic::new_zeroed();
    if len < RING_HEADER_LEN {
        return Err(mismatch(
            "file size",
            format!(">= {RING_HEADER_LEN}"),
            len.to_string(),
        ));
    }
    file.read_exact_at(head.as_mut_bytes(), 0)
        .map_err(|e| Error::io(path, "read", e))?;
    let (magic, version) = (head.magic.get(), head.version.get());
    let (header_len, capacity) = (head.header_len.get() as u64, head.capacity.get());
    if magic != MAGIC {
        return Err(mismatch(
            "magic",
            "\"JRNLRING\"".into(),
            format!("{:?}", String::from_utf8_lossy(&magic.to_le_bytes())),
        ));
    }
    if version != VERSION {
        let expected = if version < VERSION {
            format!(
                "{VERSION} (this build reads ring format version {VERSION} only: recreate the ring \
                 with it, or use a build of version {version})"
            )
        } else {
            format!("{VERSION} (a newer ring format: use a build that reads version {version})")
        };
        return Err(mismatch("version", expected, version.to_string()));
    }
    if header_len != RING_HEADER_LEN {
        return Err(mismatch(
            "header_len",
            RING_HEADER_LEN.to_string(),
            header_len.to_string(),
        ));
    }
    if !capacity.is_power_of_two() || !(RING_MIN_CAPACITY..=RING_MAX_CAPACITY).contains(&capacity) {
        return Err(mismatch(
            "capacity",
            "a power of two from 4096 to 2^40".into(),
            capacity.to_string(),
        ));
    }
    if len != RING_HEADER_LEN + capacity {
        return Err(mismatch(
            "file size",
            (RING_HEADER_LEN + capacity).to_string(),
            len.to_string(),
        ));
    }
    Ok((file, capacity))
}

/// Opens a ring to attach as `role`: validates it, takes the role's ownership lock
/// (spec/RING.md 7), records this process in the owner line at `pid_off`, and maps the ring.
fn attach_as(path: &Path, role: &'static str, pid_off: usize) -> Result<(RingMap, RoleLock, u64)> {
    let (file, capacity) = open_ring_file(path, true)?;
    let me = std::process::id();
    let (_, my_start) = sys::process_identity(me).ok_or_else(|| {
        Error::io(
            path,
            "read /proc/self/stat",
            io::Error::other("no /proc entry for this process"),
        )
    })?;
    let lock = RoleLock::try_lock(&file, pid_off as u64, OWNER_LINE)
        .map_err(|e| Error::io(path, "lock the ring role (F_OFD_SETLK)", e))?;
    let Some(lock) = lock else {
        let mut pid = [0u8; 4];
        let _ = file.read_exact_at(&mut pid, pid_off as u64);
        return Err(Error::AlreadyAttached {
            path: path.to_path_buf(),
            role,
            pid: u32::from_le_bytes(pid),
        });
    };
    let map =
        RingMap::new(&file, RING_HEADER_LEN, capacity).map_err(|e| Error::io(path, "mmap", e))?;
    // The lock makes this process the owner; the owner line only says who it is.
    map.word(pid_off + 8).store(my_start, Ordering::Release);
    map.word(pid_off).store(me as u64, Ordering::Release);
    Ok((map, lock, capacity))
}

/// Clears this process's owner line at `pid_off` on a clean detach (before the lock is released).
fn detach(map: &RingMap, pid_off: usize) {
    let me = std::process::id() as u64;
    let _ = map
        .word(pid_off)
        .compare_exchange(me, 0, Ordering::AcqRel, Ordering::Relaxed);
}

/// Reads a ring's header (validating it as attach does) without attaching: a read-only open and one
/// read of the header; the data area is neither mapped nor read.
pub fn ring_info(path: impl AsRef<Path>) -> Result<RingInfo> {
    let path = path.as_ref();
    let (file, capacity) = open_ring_file(path, false)?;
    let mut head = [0u8; 640];
    file.read_exact_at(&mut head, 0)
        .map_err(|e| Error::io(path, "read", e))?;
    let word = |off: usize| u64::from_le_bytes(head[off..off + 8].try_into().expect("8 bytes"));
    let owner = |off: usize| -> Result<(u32, bool)> {
        let locked = range_locked(&file, off as u64, OWNER_LINE)
            .map_err(|e| Error::io(path, "query the ring role lock (F_OFD_GETLK)", e))?;
        Ok((word(off) as u32, locked))
    };
    let (producer_pid, producer_alive) = owner(OFF_PRODUCER_PID)?;
    let (consumer_pid, consumer_alive) = owner(OFF_CONSUMER_PID)?;
    Ok(RingInfo {
        capacity,
        producer_position: word(OFF_PRODUCER_POS),
        consumer_position: word(OFF_CONSUMER_POS),
        producer_pid,
        producer_alive,
        consumer_pid,
        consumer_alive,
    })
}

/// The peer recorded in the owner line at `pid_off`, if it is recorded but no longer holds the
/// role's lock: it died without detaching (spec/RING.md 7). `lock` is this side's own lock (its
/// descriptor is used to query the peer's range; a process never conflicts with its own lock).
fn peer_dead(map: &RingMap, lock: &RoleLock, pid_off: usize) -> Option<u32> {
    let pid = map.word(pid_off).load(Ordering::Acquire);
    if pid == 0 {
        return None;
    }
    match range_locked(lock.file(), pid_off as u64, OWNER_LINE) {
        Ok(false) => {}
        _ => return None,
    }
    // A clean detach clears the pid before it unlocks: a pid still there after the lock was
    // seen free belongs to a process that died holding the role.
    (map.word(pid_off).load(Ordering::Acquire) == pid).then_some(pid as u32)
}

/// Whether a peer holds the role whose owner line is at `pid_off`.
fn peer_present(lock: &RoleLock, pid_off: usize) -> bool {
    range_locked(lock.file(), pid_off as u64, OWNER_LINE).unwrap_or(false)
}

/// The producing side of a ring. At most one per ring; see spec/RING.md 4 (records, each with a
/// commit word the consumer polls, RING.md 3) and 7.2 (attaching after another producer).
///
/// ```
/// use journal::{create_ring, Consumer, Producer};
/// use std::ops::ControlFlow;
///
/// # let dir = std::env::temp_dir().join(format!("journal-producer-doc-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join("md.ring");
/// create_ring(&path, 64 * 1024)?;
/// let mut producer = Producer::attach(&path)?;
/// producer.push(1_700_000_000_000_000_000, b"bid 101.25")?;
/// producer.end_of_stream(1_700_000_000_000_000_001)?;
///
/// let mut consumer = Consumer::attach(&path)?;
/// let mut got = Vec::new();
/// let status = consumer.read(16, |r| {
///     got.push(r.payload.to_vec());
///     ControlFlow::Continue(())
/// })?;
/// assert!(status.end_of_stream);
/// assert_eq!(got, [b"bid 101.25".to_vec()]);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Producer {
    map: RingMap,
    lock: RoleLock,
    path: PathBuf,
    capacity: u64,
    /// Private position: bytes written (published or staged).
    position: u64,
    /// Position of the first staged record: every record before it is committed.
    published: u64,
    /// The kind of the record at `published`, whose commit word is stored last, by
    /// [`Producer::publish`] (valid while `published != position`).
    pending_kind: u64,
    /// The last value stored in the header's `producer_position` (spec/RING.md 4: lazily).
    stored: u64,
    cached_consumer: u64,
    wait: WaitStrategy,
    full_waits: u64,
    wakes: u64,
    wait_timeout: Option<Duration>,
    /// Whether records written from a payload carry its CRC-32 (kind 1) or none (kind 4).
    checksums: bool,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("path", &self.path)
            .field("position", &self.position)
            .finish()
    }
}

/// What the commit word `commit` at ring position `pos` says (spec/RING.md 3, 5): `Ok(None)` if no
/// record is committed there yet (the word is 0), else the record's kind and length, its entry's
/// size and timestamp (zeros for padding), checked to lie before the wrap point; `Err` with the
/// reason if the word or the record is impossible. Reads only inside the data area.
#[inline]
fn committed(
    map: &RingMap,
    capacity: u64,
    pos: u64,
    commit: u64,
) -> std::result::Result<Option<(u64, u64, u32, i64)>, String> {
    if commit == 0 {
        return Ok(None);
    }
    let off = pos & (capacity - 1);
    let room = capacity - off;
    let kind = commit & 7;
    if commit & !7 != pos || kind == 0 || kind > KIND_MAX {
        return Err(bad_commit(pos, commit, capacity));
    }
    if kind == KIND_PADDING {
        return Ok(Some((kind, room, 0, 0)));
    }
    if room < END_LEN {
        return Err(format!(
            "a record committed {room} bytes before the wrap point, too few for its header"
        ));
    }
    let head = EntryHeader::decode(map.data(off + COMMIT_LEN, 16)).expect("16 bytes");
    let (size, timestamp) = (head.size(), head.timestamp());
    let len = if kind == KIND_END {
        if size != 0 {
            return Err(format!("end-of-stream record with size {size}, not 0"));
        }
        END_LEN
    } else if size <= MAX_PAYLOAD && COMMIT_LEN + entry_len(size) <= capacity / 2 {
        COMMIT_LEN + entry_len(size)
    } else {
        return Err(format!(
            "record of size {size}: longer than half the ring ({} bytes)",
            capacity / 2
        ));
    };
    if len > room {
        return Err(format!(
            "record of size {size} runs past the wrap point ({room} bytes left)"
        ));
    }
    Ok(Some((kind, len, size, timestamp)))
}

/// Why a commit word that is neither 0 nor a record committed at `pos` is refused.
#[cold]
fn bad_commit(pos: u64, commit: u64, capacity: u64) -> String {
    let (at, kind) = (commit & !7, commit & 7);
    if (1..=KIND_MAX).contains(&kind) && at < pos && (pos - at).is_multiple_of(capacity) {
        format!(
            "commit word {commit:#x} belongs to a record of an earlier lap (position {at}), \
             which the producer must have cleared: a stale record"
        )
    } else {
        format!("commit word {commit:#x} is neither 0 nor a record committed at position {pos}")
    }
}

impl Producer {
    /// Attaches to an existing ring as its producer. The records a previous producer committed
    /// after the `producer_position` it stored are found from their commit words and kept
    /// (spec/RING.md 4, 7).
    pub fn attach(path: impl AsRef<Path>) -> Result<Producer> {
        let path = path.as_ref();
        let (map, lock, capacity) = attach_as(path, "producer", OFF_PRODUCER_PID)?;
        let stored = map.word(OFF_PRODUCER_POS).load(Ordering::Acquire);
        let consumer = map.word(OFF_CONSUMER_POS).load(Ordering::Acquire);
        // From here on, Drop clears the owner line.
        let mut producer = Producer {
            map,
            lock,
            path: path.to_path_buf(),
            capacity,
            position: stored,
            published: stored,
            pending_kind: 0,
            stored,
            cached_consumer: consumer,
            wait: WaitStrategy::default(),
            full_waits: 0,
            wakes: 0,
            wait_timeout: None,
            checksums: true,
        };
        // Both positions come from a header another process may have written: check them before
        // any arithmetic on them (spec/RING.md 4).
        if !stored.is_multiple_of(8) || stored > MAX_POSITION {
            return Err(producer.corrupt_header(format!(
                "producer_position {stored} is not a multiple of 8 below 2^63"
            )));
        }
        if !consumer.is_multiple_of(8)
            || consumer > stored + capacity
            || stored + COMMIT_LEN > consumer + capacity
        {
            return Err(producer.corrupt_header(format!(
                "consumer_position {consumer} is impossible for producer_position {stored} \
                 (it must be a multiple of 8 from {} to {})",
                (stored + COMMIT_LEN).saturating_sub(capacity),
                stored + capacity
            )));
        }
        let end = producer.recover(stored.max(consumer), consumer)?;
        producer.position = end;
        producer.published = end;
        producer.store_position();
        Ok(producer)
    }

    /// Walks the records committed from `start` (a record boundary at or below the committed end)
    /// to the first word that commits nothing, and returns that position (spec/RING.md 7).
    fn recover(&self, start: u64, consumer: u64) -> Result<u64> {
        let mask = self.capacity - 1;
        let limit = consumer + self.capacity;
        let mut pos = start;
        loop {
            if pos + COMMIT_LEN > limit {
                return Err(self.corrupt_header(format!(
                    "records are committed up to position {pos}, past consumer_position \
                     {consumer} plus the capacity less 8"
                )));
            }
            let commit = self.map.data_word(pos & mask).load(Ordering::Acquire);
            match committed(&self.map, self.capacity, pos, commit) {
                Ok(None) => return Ok(pos),
                Ok(Some((_, len, _, _))) => pos += len,
                Err(reason) => {
                    return Err(Error::CorruptRing {
                        path: self.path.clone(),
                        position: pos,
                        reason,
                    })
                }
            }
        }
    }

    /// The error for a header whose positions break spec/RING.md 2.
    #[cold]
    fn corrupt_header(&self, reason: String) -> Error {
        Error::CorruptRing {
            path: self.path.clone(),
            position: self.published,
            reason,
        }
    }

    /// Whether a consumer holds the ring's consumer role now (spec/RING.md 7). A system call.
    pub fn consumer_attached(&self) -> bool {
        peer_present(&self.lock, OFF_CONSUMER_PID)
    }

    /// How long a write may wait on a full ring before failing with an [`Error::Io`] of kind
    /// [`std::io::ErrorKind::TimedOut`]. By default `None`: it waits as long as a consumer is
    /// attached or none ever was (a consumer that dies is reported as [`Error::PeerDied`]).
    pub fn set_wait_timeout(&mut self, timeout: Option<Duration>) {
        self.wait_timeout = timeout;
    }

    /// The wait timeout [`Producer::set_wait_timeout`] set.
    pub(crate) fn wait_timeout(&self) -> Option<Duration> {
        self.wait_timeout
    }

    /// How [`Producer::push`] waits while the ring is full. By default [`WaitStrategy::default`].
    pub fn set_wait_strategy(&mut self, wait: WaitStrategy) {
        self.wait = wait;
    }

    /// Whether [`Producer::push`], [`Producer::try_push`], [`Producer::write`] and
    /// [`Producer::claim`] compute each record's CRC-32 (`true`, the default: a data record, kind 1
    /// of spec/RING.md 3) or write records without one (`false`: kind 4, whose `checksum` field is
    /// 0), which saves a pass over every payload on the producer's path. A consumer sees which in
    /// [`Record::checksummed`]; one that stores records in a journal computes the CRC then.
    /// [`Producer::write_entry`] always copies the entry's own CRC.
    pub fn set_checksums(&mut self, checksums: bool) {
        self.checksums = checksums;
    }

    /// How many times a write found the ring full and waited for the consumer (backpressure).
    pub fn full_waits(&self) -> u64 {
        self.full_waits
    }

    /// How many times this producer woke a consumer sleeping in a [`WaitStrategy::Block`] wait (a
    /// system call each; none while the consumer is not asleep).
    pub fn wakes(&self) -> u64 {
        self.wakes
    }

    /// The ring's data capacity in bytes.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The ring position after the last record written (published or staged): the bytes this
    /// ring has carried, ever. The header's `producer_position` may lag behind it (spec/RING.md 4).
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The largest record this ring takes (commit word, header, payload and padding): half its
    /// capacity.
    pub fn max_record_len(&self) -> u64 {
        self.capacity / 2
    }

    /// Bytes needed at the current position for a record of `len` bytes (wrap padding included),
    /// or an error if the record can never fit.
    #[inline]
    fn needed(&self, len: u64) -> Result<u64> {
        if len > self.capacity / 2 {
            return Err(Error::RecordTooLarge {
                len,
                max: self.capacity / 2,
            });
        }
        let room = self.capacity - (self.position & (self.capacity - 1));
        Ok(if room < len { room + len } else { len })
    }

    /// Whether `need` bytes are free, refreshing the cached consumer position only if needed. A
    /// refreshed position is checked before use (spec/RING.md 4): it may only grow, up to what was
    /// published, in steps of 8; anything else is a corrupt ring.
    #[inline]
    fn has_room(&mut self, need: u64) -> Result<bool> {
        if self.capacity - (self.position - self.cached_consumer) >= need {
            return Ok(true);
        }
        let consumer = self.map.word(OFF_CONSUMER_POS).load(Ordering::Acquire);
        if consumer < self.cached_consumer
            || consumer > self.published
            || !consumer.is_multiple_of(8)
        {
            return Err(self.bad_consumer_position(consumer));
        }
        self.cached_consumer = consumer;
        Ok(self.capacity - (self.position - consumer) >= need)
    }

    #[cold]
    fn bad_consumer_position(&self, consumer: u64) -> Error {
        self.corrupt_header(format!(
            "consumer_position {consumer} is impossible: it was {}, the producer committed up to \
             {} (it may only grow, by multiples of 8, up to the committed end)",
            self.cached_consumer, self.published
        ))
    }

    /// Waits until `need` bytes are free (publishing staged records first, so the consumer can make
    /// room). Fails if the consumer died.
    fn wait_for_room(&mut self, need: u64) -> Result<()> {
        if self.has_room(need)? {
            return Ok(());
        }
        self.publish();
        self.store_position();
        self.full_waits += 1;
        let started = Instant::now();
        let mut last_check = started;
        let mut round = 0u32;
        while !self.has_room(need)? {
            if self.wait.blocks(round) {
                // Announce, check again, sleep (spec/RING.md 5.1); at most until the next liveness
                // check.
                let seen = room_word(&self.map).announce();
                if !self.has_room(need)? {
                    room_word(&self.map)
                        .sleep(seen, LIVENESS_INTERVAL.saturating_sub(last_check.elapsed()));
                }
            } else {
                self.wait.idle(round);
            }
            round = round.saturating_add(1);
            if last_check.elapsed() >= LIVENESS_INTERVAL {
                last_check = Instant::now();
                if let Some(pid) = peer_dead(&self.map, &self.lock, OFF_CONSUMER_PID) {
                    return Err(Error::PeerDied {
                        path: self.path.clone(),
                        role: "consumer",
                        pid,
                    });
                }
                if let Some(limit) = self.wait_timeout.filter(|&t| started.elapsed() >= t) {
                    let who = if self.consumer_attached() {
                        "the consumer did not make room"
                    } else {
                        "no consumer is attached"
                    };
                    return Err(Error::io(
                        &self.path,
                        "wait for room in the ring",
                        io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("the ring stayed full for {limit:?}: {who}"),
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Reserves `len` contiguous bytes for a record (staging the wrap padding first if needed), with
    /// room for the commit word after it (spec/RING.md 4), and returns its offset in the data area.
    /// The caller fills the record after its commit word, then calls [`Producer::stage`].
    #[inline]
    fn reserve(&mut self, len: u64, block: bool) -> Result<Option<u64>> {
        let need = self.needed(len)?;
        if block {
            self.wait_for_room(need + COMMIT_LEN)?;
        } else if !self.has_room(need + COMMIT_LEN)? {
            return Ok(None);
        }
        if need != len {
            // Not enough room before the wrap point: pad to it (spec/RING.md 3).
            self.stage(KIND_PADDING, need - len);
        }
        Ok(Some(self.position & (self.capacity - 1)))
    }

    /// Stages the record of `kind` and `len` bytes at the current position, whose bytes after the
    /// commit word are written: stores its commit word now, or, if it is the first staged record,
    /// at the next [`Producer::publish`] (spec/RING.md 4).
    #[inline]
    fn stage(&mut self, kind: u64, len: u64) {
        let pos = self.position;
        if pos == self.published {
            self.pending_kind = kind;
        } else {
            // Ordered before the consumer's view by the release store of the first staged record.
            self.map
                .data_word(pos & (self.capacity - 1))
                .store(pos | kind, Ordering::Relaxed);
        }
        self.position = pos + len;
    }

    /// Stages one record (not yet visible to the consumer until [`Producer::publish`]); waits while
    /// the ring is full.
    #[inline]
    pub fn write(&mut self, timestamp: i64, payload: &[u8]) -> Result<()> {
        let size = check_payload(payload.len())?;
        let len = entry_len(size);
        let off = self
            .reserve(COMMIT_LEN + len, true)?
            .expect("blocking reserve");
        let kind = self.encode(off, len, timestamp, payload);
        self.stage(kind, COMMIT_LEN + len);
        Ok(())
    }

    /// Writes the entry of `payload` (`len` bytes) after the commit word at `off`, with its CRC-32 or
    /// without ([`Producer::set_checksums`]), and returns the record's kind.
    #[inline]
    fn encode(&mut self, off: u64, len: u64, timestamp: i64, payload: &[u8]) -> u64 {
        let out = self.map.data_mut(off + COMMIT_LEN, len);
        if self.checksums {
            crate::format::encode_entry(out, timestamp, payload);
            KIND_DATA
        } else {
            crate::format::encode_entry_unchecked(out, timestamp, payload);
            KIND_DATA_UNCHECKED
        }
    }

    /// Writes one record and publishes it; waits while the ring is full (lossless backpressure).
    #[inline]
    pub fn push(&mut self, timestamp: i64, payload: &[u8]) -> Result<()> {
        self.write(timestamp, payload)?;
        self.publish();
        Ok(())
    }

    /// Writes and publishes one record if there is room now; `Ok(false)` if the ring is full.
    #[inline]
    pub fn try_push(&mut self, timestamp: i64, payload: &[u8]) -> Result<bool> {
        let size = check_payload(payload.len())?;
        let len = entry_len(size);
        let Some(off) = self.reserve(COMMIT_LEN + len, false)? else {
            return Ok(false);
        };
        let kind = self.encode(off, len, timestamp, payload);
        self.stage(kind, COMMIT_LEN + len);
        self.publish();
        Ok(true)
    }

    /// Stages a journal entry verbatim (header, payload and padding, with its CRC, as
    /// [`Event::entry`](crate::Event::entry) gives it): the replay path. Waits while the ring is full.
    #[inline]
    pub fn write_entry(&mut self, entry: &[u8]) -> Result<()> {
        let len = entry.len() as u64;
        let size = EntryHeader::decode(entry).map_or(u32::MAX, |h| h.size());
        if size > MAX_PAYLOAD || entry_len(size) != len {
            return Err(Error::InvalidArgument(format!(
                "not a journal entry: {len} bytes with size field {size}"
            )));
        }
        let off = self
            .reserve(COMMIT_LEN + len, true)?
            .expect("blocking reserve");
        self.map
            .data_mut(off + COMMIT_LEN, len)
            .copy_from_slice(entry);
        self.stage(KIND_DATA, COMMIT_LEN + len);
        Ok(())
    }

    /// Reserves room for a payload of `capacity` bytes, to fill in place (zero-copy). Waits while the
    /// ring is full. Nothing is visible until [`RingClaim::commit`].
    pub fn claim(&mut self, capacity: usize) -> Result<RingClaim<'_>> {
        let size = check_payload(capacity)?;
        let len = COMMIT_LEN + entry_len(size);
        let off = self.reserve(len, true)?.expect("blocking reserve");
        Ok(RingClaim {
            producer: self,
            offset: off,
            size,
        })
    }

    /// Makes every staged record visible to the consumer (spec/RING.md 4): zeroes the commit word
    /// after the last one, then stores the first one's commit word with release ordering. Stores
    /// the header's `producer_position` only once it lags by a quarter of the ring (it is a lower
    /// bound, for flow control and display; the commit words are what the consumer reads).
    #[inline]
    pub fn publish(&mut self) {
        if self.published != self.position && !self.map.shrunk() {
            let mask = self.capacity - 1;
            self.map
                .data_word(self.position & mask)
                .store(0, Ordering::Relaxed);
            // Sequentially consistent (a release, and ordered before the load of the sleeping
            // flag below: spec/RING.md 5.1).
            self.map
                .data_word(self.published & mask)
                .store(self.published | self.pending_kind, Ordering::SeqCst);
            self.published = self.position;
            if data_word(&self.map).wake() {
                self.wakes += 1;
            }
            if self.published - self.stored >= self.capacity / 4 {
                self.store_position();
            }
        }
    }

    /// Stores the committed end in the header's `producer_position` (release).
    fn store_position(&mut self) {
        if self.stored != self.published && !self.map.shrunk() {
            self.map
                .word(OFF_PRODUCER_POS)
                .store(self.published, Ordering::Release);
            self.stored = self.published;
        }
    }

    /// Writes the end-of-stream record and publishes (spec/RING.md 3).
    pub fn end_of_stream(&mut self, timestamp: i64) -> Result<()> {
        let off = self.reserve(END_LEN, true)?.expect("blocking reserve");
        let head = EntryHeader::without_payload(timestamp, 0).to_bytes();
        self.map
            .data_mut(off + COMMIT_LEN, 16)
            .copy_from_slice(&head);
        self.stage(KIND_END, END_LEN);
        self.publish();
        self.store_position();
        Ok(())
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.publish();
        self.store_position();
        // Then the lock is released, when the field drops.
        detach(&self.map, OFF_PRODUCER_PID);
    }
}

fn check_payload(len: usize) -> Result<u32> {
    if len as u64 > MAX_PAYLOAD as u64 {
        return Err(Error::PayloadTooLarge {
            len: len as u64,
            max: MAX_PAYLOAD as u64,
        });
    }
    Ok(len as u32)
}

/// Room for one record's payload inside the ring, from [`Producer::claim`].
pub struct RingClaim<'p> {
    producer: &'p mut Producer,
    /// Data-area offset of the record (its commit word).
    offset: u64,
    size: u32,
}

impl RingClaim<'_> {
    /// The payload area.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        self.producer
            .map
            .data_mut(self.offset + COMMIT_LEN + 16, self.size as u64)
    }

    /// Writes the record header (CRC over the filled payload, unless the producer writes records
    /// without one, [`Producer::set_checksums`]) and publishes the record.
    pub fn commit(self, timestamp: i64) -> Result<()> {
        let len = entry_len(self.size);
        let checksums = self.producer.checksums;
        let entry = self.producer.map.data_mut(self.offset + COMMIT_LEN, len);
        let (head, rest) = entry.split_at_mut(16);
        let (payload, pad) = rest.split_at_mut(self.size as usize);
        pad.fill(0);
        let kind = if checksums {
            EntryHeader::for_payload(timestamp, payload).write_to(head);
            KIND_DATA
        } else {
            EntryHeader::from_fields(timestamp, self.size, 0).write_to(head);
            KIND_DATA_UNCHECKED
        };
        self.producer.stage(kind, COMMIT_LEN + len);
        self.producer.publish();
        Ok(())
    }
}

/// One record handed to a consumer's callback, borrowed from the ring.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// The record's timestamp.
    pub timestamp: i64,
    /// The payload.
    pub payload: &'a [u8],
    /// The record's journal entry as stored (FORMAT.md 4): the record without its commit word.
    pub entry: &'a [u8],
    /// The ring position of the record's first byte, its commit word (bytes published before it,
    /// ever; spec/RING.md 3).
    pub position: u64,
    /// Whether the entry carries the CRC-32 of FORMAT.md 5 (a data record, kind 1 of spec/RING.md
    /// 3), or none (kind 4, from a producer that writes records without checksums,
    /// [`Producer::set_checksums`]): its `checksum` field is then 0 and is no CRC.
    pub checksummed: bool,
}

impl Record<'_> {
    /// The stored CRC-32 (0 if the record carries none, [`Record::checksummed`]).
    pub fn checksum(&self) -> u32 {
        crate::format::stored_checksum(self.entry)
    }

    /// Whether the record carries a CRC-32 and it matches the timestamp, size and payload (`false`
    /// for a record written without one: see [`Record::checksummed`]).
    pub fn checksum_ok(&self) -> bool {
        self.checksummed && checksum(self.timestamp, self.payload) == self.checksum()
    }
}

/// What one [`Consumer::read`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadStatus {
    /// Data records handed to the callback.
    pub records: usize,
    /// Whether the end-of-stream record was reached (and consumed).
    pub end_of_stream: bool,
    /// Whether the handler stopped the read ([`ControlFlow::Break`]); the record it was handed
    /// then stays in the ring and comes first in the next read.
    pub stopped: bool,
}

/// The consuming side of a ring. At most one per ring; see spec/RING.md 5.
///
/// The handler of [`Consumer::read`] borrows each record in place and decides whether to go on:
///
/// ```
/// use journal::{create_ring, Consumer, Producer};
/// use std::ops::ControlFlow;
///
/// # let dir = std::env::temp_dir().join(format!("journal-consumer-doc-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join("md.ring");
/// create_ring(&path, 64 * 1024)?;
/// let mut producer = Producer::attach(&path)?;
/// for i in 0..10u8 {
///     producer.push(i64::from(i), &[i])?;
/// }
/// let mut consumer = Consumer::attach(&path)?;
/// // Take records up to the first one this side cannot handle now; it stays in the ring.
/// let mut sum = 0u32;
/// let status = consumer.read(100, |r| {
///     if r.payload[0] == 4 {
///         return ControlFlow::Break(());
///     }
///     sum += u32::from(r.payload[0]);
///     ControlFlow::Continue(())
/// })?;
/// assert_eq!((status.records, status.stopped, sum), (4, true, 0 + 1 + 2 + 3));
/// let status = consumer.read(100, |r| {
///     sum += u32::from(r.payload[0]);
///     ControlFlow::Continue(())
/// })?;
/// assert_eq!((status.records, sum), (6, 45));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Consumer {
    map: RingMap,
    lock: RoleLock,
    path: PathBuf,
    capacity: u64,
    /// Private position: bytes handed out (or skipped).
    position: u64,
    /// Last position stored in `consumer_position`.
    released: u64,
    deferred_release: bool,
    wakes: u64,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("path", &self.path)
            .field("position", &self.position)
            .finish()
    }
}

impl Consumer {
    /// Attaches to an existing ring as its consumer. Fails with [`Error::CorruptRing`] if the
    /// header's `consumer_position` is not a multiple of 8 below 2^63 (spec/RING.md 5).
    pub fn attach(path: impl AsRef<Path>) -> Result<Consumer> {
        let path = path.as_ref();
        let (map, lock, capacity) = attach_as(path, "consumer", OFF_CONSUMER_PID)?;
        let position = map.word(OFF_CONSUMER_POS).load(Ordering::Acquire);
        let consumer = Consumer {
            map,
            lock,
            path: path.to_path_buf(),
            capacity,
            position,
            released: position,
            deferred_release: false,
            wakes: 0,
        };
        if !position.is_multiple_of(8) || position > MAX_POSITION {
            return Err(Error::CorruptRing {
                path: consumer.path.clone(),
                position,
                reason: format!("consumer_position {position} is not a multiple of 8 below 2^63"),
            });
        }
        Ok(consumer)
    }

    /// Whether [`Consumer::read`] leaves the records it handed out in the ring until
    /// [`Consumer::release`] (`true`), or releases them itself at its end (`false`, the default).
    /// Deferring lets a consumer that copies records somewhere (a buffered file, a socket) release
    /// them only once they are safely out: nothing is lost if it stops in between. Unreleased
    /// records still take room in the ring, so the producer waits if they are never released.
    pub fn set_deferred_release(&mut self, deferred: bool) {
        self.deferred_release = deferred;
    }

    /// Releases every record handed out so far, with one release store (spec/RING.md 5); the
    /// producer may then overwrite them. Only needed with [`Consumer::set_deferred_release`].
    #[inline]
    pub fn release(&mut self) {
        if self.released != self.position && !self.map.shrunk() {
            // Sequentially consistent (a release, and ordered before the load of the sleeping
            // flag below: spec/RING.md 5.1).
            self.map
                .word(OFF_CONSUMER_POS)
                .store(self.position, Ordering::SeqCst);
            self.released = self.position;
            if room_word(&self.map).wake() {
                self.wakes += 1;
            }
        }
    }

    /// How many times this consumer woke a producer sleeping on a full ring in a
    /// [`WaitStrategy::Block`] wait (a system call each; none while the producer is not asleep).
    pub fn wakes(&self) -> u64 {
        self.wakes
    }

    /// Whether a producer holds the ring's producer role now (spec/RING.md 7). A system call.
    pub fn producer_attached(&self) -> bool {
        peer_present(&self.lock, OFF_PRODUCER_PID)
    }

    /// Releases the records before `pos` (already handed out) and reports corruption at `pos`.
    #[cold]
    fn corrupt(&mut self, pos: u64, reason: String) -> Error {
        if pos > self.position {
            self.position = pos;
            if !self.deferred_release {
                self.release();
            }
        }
        Error::CorruptRing {
            path: self.path.clone(),
            position: pos,
            reason,
        }
    }

    /// Hands up to `limit` committed records to `handler`, then releases them with one release
    /// store (spec/RING.md 5; unless [deferred](Consumer::set_deferred_release)). Never blocks;
    /// `records == 0` (and not `stopped`) means no record was committed at this consumer's
    /// position. The consumer reads each record's commit word in the data area, not the
    /// producer's position: a small record arrives with the line its commit word is on.
    ///
    /// The handler returns [`ControlFlow::Continue`] to go on, or [`ControlFlow::Break`] to stop:
    /// the record it was just handed is then not consumed (it comes first in the next read), and
    /// the records handled before it are released. A handler that fails keeps its error in a
    /// captured variable and breaks.
    #[inline]
    pub fn read(
        &mut self,
        limit: usize,
        mut handler: impl FnMut(Record<'_>) -> ControlFlow<()>,
    ) -> Result<ReadStatus> {
        if self.map.shrunk() {
            let pos = self.position;
            return Err(self.corrupt(pos, "the ring file was truncated under the consumer".into()));
        }
        let mut status = ReadStatus::default();
        let mask = self.capacity - 1;
        let mut pos = self.position;
        // No record, nor the commit word after it, may end past this (spec/RING.md 4, 5).
        let bound = self.released + self.capacity;
        while status.records < limit {
            let off = pos & mask;
            let commit = self.map.data_word(off).load(Ordering::Acquire);
            let (kind, len, size, timestamp) =
                match committed(&self.map, self.capacity, pos, commit) {
                    Ok(Some(r)) => r,
                    Ok(None) => break,
                    Err(reason) => return Err(self.corrupt(pos, reason)),
                };
            if pos + len + COMMIT_LEN > bound {
                return Err(self.corrupt(
                    pos,
                    format!(
                        "a record of {len} bytes here ends past what the producer may write \
                         (consumer position {} plus the capacity less 8)",
                        self.released
                    ),
                ));
            }
            match kind {
                KIND_PADDING => {
                    pos += len;
                    continue;
                }
                KIND_END => {
                    pos += len;
                    status.end_of_stream = true;
                    break;
                }
                _ => {}
            }
            let entry = self.map.data(off + COMMIT_LEN, len - COMMIT_LEN);
            let flow = handler(Record {
                timestamp,
                payload: &entry[16..16 + size as usize],
                entry,
                position: pos,
                checksummed: kind == KIND_DATA,
            });
            if flow.is_break() {
                status.stopped = true;
                break;
            }
            pos += len;
            status.records += 1;
        }
        self.position = pos;
        if !self.deferred_release {
            self.release();
        }
        Ok(status)
    }

    /// Like [`Consumer::read`], but waits with `strategy` until at least one record or the end of
    /// stream arrives, or `deadline` passes (then `records == 0`). Fails with [`Error::PeerDied`] if
    /// the producer dies without ending the stream, and with [`Error::CorruptRing`] if the header's
    /// `producer_position` says records are committed where none is (both checked every 10 ms of
    /// waiting).
    pub fn read_wait(
        &mut self,
        limit: usize,
        mut handler: impl FnMut(Record<'_>) -> ControlFlow<()>,
        strategy: WaitStrategy,
        deadline: Option<Instant>,
    ) -> Result<ReadStatus> {
        let mut round = 0u32;
        let mut last_check = Instant::now();
        loop {
            let s = self.read(limit, &mut handler)?;
            if s.records > 0 || s.end_of_stream || s.stopped {
                return Ok(s);
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Ok(s);
            }
            if now.duration_since(last_check) >= LIVENESS_INTERVAL {
                last_check = now;
                // Records below producer_position are committed (spec/RING.md 4): after this
                // acquire load, the read below must find them.
                let stored = self.map.word(OFF_PRODUCER_POS).load(Ordering::Acquire);
                let dead = peer_dead(&self.map, &self.lock, OFF_PRODUCER_PID);
                if stored > self.position || dead.is_some() {
                    // Anything it published before dying is still delivered first.
                    let s = self.read(limit, &mut handler)?;
                    if s.records > 0 || s.end_of_stream || s.stopped {
                        return Ok(s);
                    }
                    if stored > self.position {
                        let pos = self.position;
                        return Err(self.corrupt(
                            pos,
                            format!(
                                "producer_position {stored} is past this position, where no \
                                 record is committed"
                            ),
                        ));
                    }
                    if let Some(pid) = dead {
                        return Err(Error::PeerDied {
                            path: self.path.clone(),
                            role: "producer",
                            pid,
                        });
                    }
                }
            }
            if strategy.blocks(round) {
                // Announce, check the commit word again, sleep (spec/RING.md 5.1); at most until
                // the next liveness check or the deadline.
                let word = data_word(&self.map);
                let seen = word.announce();
                let commit = self
                    .map
                    .data_word(self.position & (self.capacity - 1))
                    .load(Ordering::Acquire);
                if commit == 0 {
                    let mut sleep = LIVENESS_INTERVAL.saturating_sub(last_check.elapsed());
                    if let Some(d) = deadline {
                        sleep = sleep.min(d.saturating_duration_since(Instant::now()));
                    }
                    word.sleep(seen, sleep);
                }
            } else {
                strategy.idle(round);
            }
            round = round.saturating_add(1);
        }
    }
}

/// The words a consumer sleeps on while the ring is empty (spec/RING.md 5.1).
fn data_word(map: &RingMap) -> WakeWord<'_> {
    WakeWord {
        seq: map.word32(OFF_DATA_SEQ),
        sleeping: map.word32(OFF_CONSUMER_SLEEPING),
    }
}

/// The words a producer sleeps on while the ring is full (spec/RING.md 5.1).
fn room_word(map: &RingMap) -> WakeWord<'_> {
    WakeWord {
        seq: map.word32(OFF_ROOM_SEQ),
        sleeping: map.word32(OFF_PRODUCER_SLEEPING),
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        // Then the lock is released, when the field drops.
        detach(&self.map, OFF_CONSUMER_PID);
    }
}
