//! Named cursors (spec/CURSOR.md): a reader names itself and commits how far it has got, so that
//! after a crash it resumes exactly after the last event it committed.
//!
//! A cursor is a 64-byte file beside its journal (`PATH.cursors/NAME` for a journal file,
//! `SET/cursors/NAME` for a journal set; CURSOR.md 2). [`NamedCursor::open`] creates it if missing
//! and takes ownership (one owner at a time, CURSOR.md 8); [`NamedCursor::commit`] is one atomic
//! store into a shared mapping of the file (no system call, no allocation), which survives the
//! process's crash; [`NamedCursor::sync`] makes it survive a power cut as well (CURSOR.md 10).
//!
//! ```
//! use journal::{Reader, Writer};
//!
//! # fn main() -> journal::Result<()> {
//! # let dir = std::env::temp_dir().join(format!("journal-cursor-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("quotes.journal");
//! # let _ = std::fs::remove_file(&path);
//! # let _ = std::fs::remove_dir_all(dir.join("quotes.journal.cursors"));
//! let mut w = Writer::create(&path)?;
//! for i in 0..10 {
//!     w.append(i, b"tick")?;
//! }
//! let r = Reader::open(&path)?;
//! let cursor = r.cursor("strategy-a")?; // created at position 0, owned until dropped
//! for event in cursor.resume(&r)?.take(4) {
//!     let event = event?;
//!     // ... act on the event, then:
//!     cursor.commit(event.index + 1);
//! }
//! drop(cursor);
//! // Later, or after a crash: the same name resumes after the last committed event.
//! let cursor = r.cursor("strategy-a")?;
//! assert_eq!(cursor.resume(&r)?.next().unwrap()?.index, 4);
//! # drop(cursor);
//! # w.close()?;
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok(())
//! # }
//! ```

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::reader::{Iter, Reader};
use crate::sys::{self, CursorMap, WriterLock};

/// The length of a cursor file (CURSOR.md 4).
pub const CURSOR_LEN: u64 = 64;
/// The first 8 bytes of a cursor file (CURSOR.md 4).
pub const CURSOR_MAGIC: [u8; 8] = *b"JRNL.CUR";
/// The cursor file format version this library reads and writes (CURSOR.md 4).
pub const CURSOR_VERSION: u32 = 1;
/// The longest cursor name, in bytes (CURSOR.md 3).
pub const MAX_NAME_LEN: usize = 64;

/// Where the position lives (CURSOR.md 4).
const POSITION_OFFSET: usize = 32;
/// The part the header checksum covers (CURSOR.md 4).
const CHECKED_LEN: usize = 28;

/// What a cursor belongs to (CURSOR.md 4, `kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CursorKind {
    /// A journal file (`kind = 1`).
    Journal,
    /// A journal set, a directory of segments (`kind = 2`).
    Set,
}

impl CursorKind {
    fn code(self) -> u32 {
        match self {
            CursorKind::Journal => 1,
            CursorKind::Set => 2,
        }
    }

    /// `journal` or `set`, as in spec/vectors/cursor/expected.txt.
    pub fn as_str(self) -> &'static str {
        match self {
            CursorKind::Journal => "journal",
            CursorKind::Set => "set",
        }
    }
}

/// Why a cursor file cannot be used (CURSOR.md 5, 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CursorFault {
    /// The file is shorter than 64 bytes (5, rule 1).
    Truncated,
    /// The first 8 bytes are not `JRNL.CUR` (5, rule 2).
    BadMagic,
    /// `version` is not 1 (5, rule 3).
    UnsupportedVersion,
    /// The header checksum does not match (5, rule 4).
    HeaderChecksum,
    /// A field is out of range or the file is longer than 64 bytes (5, rule 5).
    BadHeader,
    /// The cursor belongs to another journal (6.1).
    OtherJournal,
    /// The position lies past the end of the journal's content (6.2).
    Ahead,
}

impl CursorFault {
    /// The fault's name in CURSOR.md and in the test vectors.
    pub fn as_str(self) -> &'static str {
        match self {
            CursorFault::Truncated => "truncated",
            CursorFault::BadMagic => "bad_magic",
            CursorFault::UnsupportedVersion => "unsupported_version",
            CursorFault::HeaderChecksum => "header_checksum",
            CursorFault::BadHeader => "bad_header",
            CursorFault::OtherJournal => "other_journal",
            CursorFault::Ahead => "ahead",
        }
    }

    /// What it means, for a person.
    pub fn describe(self) -> &'static str {
        match self {
            CursorFault::Truncated => "the file is shorter than a cursor (64 bytes)",
            CursorFault::BadMagic => "not a cursor file",
            CursorFault::UnsupportedVersion => "a cursor of a version this program does not read",
            CursorFault::HeaderChecksum => "the header checksum does not match: damaged",
            CursorFault::BadHeader => "a header field is out of range: damaged",
            CursorFault::OtherJournal => "the cursor belongs to another journal",
            CursorFault::Ahead => "the position is past the end of the journal",
        }
    }
}

/// A decoded cursor file (CURSOR.md 4, 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// What the cursor belongs to.
    pub kind: CursorKind,
    /// The journal's `start_timestamp` (0 for a set).
    pub journal_start_timestamp: i64,
    /// The committed position: the index of the next event to deliver.
    pub position: u64,
}

/// The 64 bytes of a cursor file (CURSOR.md 4). For a set, `journal_start_timestamp` must be 0.
pub fn encode(kind: CursorKind, journal_start_timestamp: i64, position: u64) -> [u8; 64] {
    let mut b = [0u8; 64];
    b[0..8].copy_from_slice(&CURSOR_MAGIC);
    b[8..12].copy_from_slice(&CURSOR_VERSION.to_le_bytes());
    b[12..16].copy_from_slice(&kind.code().to_le_bytes());
    b[16..24].copy_from_slice(&journal_start_timestamp.to_le_bytes());
    let crc = crc32fast::hash(&b[..CHECKED_LEN]);
    b[28..32].copy_from_slice(&crc.to_le_bytes());
    b[32..40].copy_from_slice(&position.to_le_bytes());
    b
}

/// Decodes a whole cursor file (CURSOR.md 5, the checks in order). `file` is the file's bytes; a
/// caller needs only the first 65 to get the same verdict as with all of them.
pub fn decode(file: &[u8]) -> std::result::Result<Decoded, CursorFault> {
    if file.len() < CURSOR_LEN as usize {
        return Err(CursorFault::Truncated);
    }
    let u32_at = |o: usize| u32::from_le_bytes(file[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |o: usize| u64::from_le_bytes(file[o..o + 8].try_into().expect("8 bytes"));
    if file[0..8] != CURSOR_MAGIC {
        return Err(CursorFault::BadMagic);
    }
    if u32_at(8) != CURSOR_VERSION {
        return Err(CursorFault::UnsupportedVersion);
    }
    if u32_at(28) != crc32fast::hash(&file[..CHECKED_LEN]) {
        return Err(CursorFault::HeaderChecksum);
    }
    let start = u64_at(16) as i64;
    let kind = match u32_at(12) {
        1 => Some(CursorKind::Journal),
        2 if start == 0 => Some(CursorKind::Set),
        _ => None,
    };
    let Some(kind) = kind else {
        return Err(CursorFault::BadHeader);
    };
    if file.len() > CURSOR_LEN as usize || u32_at(24) != 0 || file[40..64].iter().any(|&b| b != 0) {
        return Err(CursorFault::BadHeader);
    }
    Ok(Decoded {
        kind,
        journal_start_timestamp: start,
        position: u64_at(POSITION_OFFSET),
    })
}

/// Checks a cursor name (CURSOR.md 3): 1 to 64 bytes of `A-Z a-z 0-9 - _ .`, not starting with
/// `.`. [`Error::InvalidArgument`] otherwise.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "cursor name {name:?}: a name is 1 to {MAX_NAME_LEN} characters of A-Z, a-z, 0-9, \
             '-', '_' and '.', not starting with '.'"
        )))
    }
}

/// The identity a cursor must match (CURSOR.md 6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Identity {
    kind: CursorKind,
    start: i64,
}

/// The cursors directory of `journal` (CURSOR.md 2) and what it is: `SET/cursors` for a
/// directory, `PATH.cursors` for anything else.
pub fn cursors_dir(journal: &Path) -> Result<(PathBuf, CursorKind)> {
    let is_dir = match fs::metadata(journal) {
        Ok(m) => m.is_dir(),
        Err(e) => return Err(Error::io(journal, "stat", e)),
    };
    if is_dir {
        return Ok((journal.join("cursors"), CursorKind::Set));
    }
    let Some(file_name) = journal.file_name() else {
        return Err(Error::InvalidArgument(format!(
            "{}: not a journal file name",
            journal.display()
        )));
    };
    let mut dir = file_name.to_os_string();
    dir.push(".cursors");
    Ok((journal.with_file_name(dir), CursorKind::Journal))
}

/// The identity of the journal (file or set) at `journal`.
fn identity_of(journal: &Path, kind: CursorKind) -> Result<Identity> {
    let start = match kind {
        CursorKind::Set => 0,
        CursorKind::Journal => Reader::open(journal)?.header()?.start_timestamp,
    };
    Ok(Identity { kind, start })
}

fn bad(path: &Path, fault: CursorFault, detail: String) -> Error {
    Error::BadCursor {
        path: path.to_path_buf(),
        fault,
        detail,
    }
}

/// Decodes the open cursor file and checks it against `want` (CURSOR.md 5, 6.1). Reads at most 65
/// bytes.
fn read_checked(path: &Path, file: &File, want: Identity) -> Result<Decoded> {
    let meta = file.metadata().map_err(|e| Error::io(path, "stat", e))?;
    if !meta.is_file() {
        return Err(Error::io(
            path,
            "open",
            io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
        ));
    }
    let mut buf = [0u8; CURSOR_LEN as usize + 1];
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, "read", e)),
        }
    }
    let d = decode(&buf[..n]).map_err(|f| bad(path, f, f.describe().to_string()))?;
    if (d.kind, d.journal_start_timestamp) != (want.kind, want.start) {
        let detail = match (d.kind, want.kind) {
            (CursorKind::Journal, CursorKind::Journal) => format!(
                "the cursor belongs to the journal created at {}, this one was created at {}",
                d.journal_start_timestamp, want.start
            ),
            (have, _) => format!(
                "the cursor belongs to a journal {}, not to a journal {}",
                kind_noun(have),
                kind_noun(want.kind)
            ),
        };
        return Err(bad(path, CursorFault::OtherJournal, detail));
    }
    Ok(d)
}

fn kind_noun(k: CursorKind) -> &'static str {
    match k {
        CursorKind::Journal => "file",
        CursorKind::Set => "set",
    }
}

fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
}

/// Opens the cursor file at `path` read-write, creating it (CURSOR.md 7) at position 0 if it does
/// not exist. Returns the file and whether this call created it.
fn open_or_create(dir: &Path, path: &Path, name: &str, want: Identity) -> Result<(File, bool)> {
    match sys::open_rw(path) {
        Ok(f) => return Ok((f, false)),
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(e),
    }
    match fs::create_dir(dir) {
        Ok(()) => {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sys::sync_dir(parent)?;
            }
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io(dir, "create directory", e)),
    }
    // Not a cursor name (it starts with '.'): never read as a cursor (CURSOR.md 2, 7).
    // Unique to this process and this call: threads may race to create the same cursor.
    static TMP_SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{seq}.tmp", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let written = sys::create_exclusive(&tmp, 0o644).and_then(|f| {
        f.write_all_at(&encode(want.kind, want.start, 0), 0)
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io(&tmp, "write", e))
    });
    let linked = written.and_then(|()| match fs::hard_link(&tmp, path) {
        Ok(()) => Ok(true),
        // Another process created it meanwhile: open theirs.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(Error::io(path, "link", e)),
    });
    let _ = fs::remove_file(&tmp);
    let created = linked?;
    sys::sync_dir(dir)?;
    Ok((sys::open_rw(path)?, created))
}

/// A named cursor, owned: the only handle that commits into it until it is dropped (CURSOR.md 8).
///
/// `commit` takes `&self` and is one atomic store, so the cursor may be shared between the threads
/// of its owner; they then decide among themselves what is committed.
pub struct NamedCursor {
    map: CursorMap,
    // Released on drop, after the mapping (CURSOR.md 8).
    _lock: WriterLock,
    path: PathBuf,
    name: String,
    kind: CursorKind,
    journal_start_timestamp: i64,
    created: bool,
}

impl std::fmt::Debug for NamedCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamedCursor")
            .field("path", &self.path)
            .field("position", &self.position())
            .finish()
    }
}

/// A cursor as any process can see it, without owning it (CURSOR.md 9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CursorInfo {
    /// The cursor's name.
    pub name: String,
    /// The cursor file.
    pub path: PathBuf,
    /// What it belongs to.
    pub kind: CursorKind,
    /// The committed position: the index of the next event its owner will deliver.
    pub position: u64,
    /// Whether an owner has it open now.
    pub in_use: bool,
}

impl NamedCursor {
    /// Opens the cursor `name` of the journal at `journal` (a journal file, or a journal set's
    /// directory), creating it at position 0 if it does not exist (CURSOR.md 7), and takes
    /// ownership of it until the returned value is dropped.
    ///
    /// Errors: [`Error::InvalidArgument`] for a name that breaks CURSOR.md 3;
    /// [`Error::CursorInUse`] if another owner has it open (in this process or another);
    /// [`Error::BadCursor`] if the file is damaged, truncated, not a cursor, or another journal's
    /// (the file is left as it is); the errors of [`Reader::open`] for a journal file that cannot
    /// be read.
    pub fn open(journal: impl AsRef<Path>, name: &str) -> Result<NamedCursor> {
        let journal = journal.as_ref();
        check_name(name)?;
        let (dir, kind) = cursors_dir(journal)?;
        let want = identity_of(journal, kind)?;
        Self::open_in(&dir, name, want)
    }

    /// [`Reader::cursor`]: the journal file is open already, its identity known.
    pub(crate) fn open_for_journal(
        journal: &Path,
        start_timestamp: i64,
        name: &str,
    ) -> Result<NamedCursor> {
        check_name(name)?;
        let (dir, _) = cursors_dir(journal)?;
        let want = Identity {
            kind: CursorKind::Journal,
            start: start_timestamp,
        };
        Self::open_in(&dir, name, want)
    }

    fn open_in(dir: &Path, name: &str, want: Identity) -> Result<NamedCursor> {
        let path = dir.join(name);
        let (file, created) = open_or_create(dir, &path, name, want)?;
        let lock = WriterLock::try_lock(&file)
            .map_err(|e| Error::io(&path, "lock", e))?
            .ok_or_else(|| Error::CursorInUse { path: path.clone() })?;
        read_checked(&path, &file, want)?;
        let map = CursorMap::new(&file, CURSOR_LEN as usize, true)
            .map_err(|e| Error::io(&path, "mmap", e))?;
        Ok(NamedCursor {
            map,
            _lock: lock,
            path,
            name: name.to_string(),
            kind: want.kind,
            journal_start_timestamp: want.start,
            created,
        })
    }

    /// Reads the cursor `name` of `journal` without owning it (CURSOR.md 9): its position now, and
    /// whether an owner has it open. The same checks as [`NamedCursor::open`]; never creates.
    pub fn read(journal: impl AsRef<Path>, name: &str) -> Result<CursorInfo> {
        let journal = journal.as_ref();
        check_name(name)?;
        let (dir, kind) = cursors_dir(journal)?;
        let want = identity_of(journal, kind)?;
        let path = dir.join(name);
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
            .map_err(|e| Error::io(&path, "open", e))?;
        read_checked(&path, &file, want)?;
        let in_use = sys::writer_present(&file).map_err(|e| Error::io(&path, "lock query", e))?;
        let map = CursorMap::new(&file, CURSOR_LEN as usize, false)
            .map_err(|e| Error::io(&path, "mmap", e))?;
        let position = u64::from_le(map.word(POSITION_OFFSET).load(Ordering::Acquire));
        if map.shrunk() {
            return Err(bad(
                &path,
                CursorFault::Truncated,
                "truncated while read".into(),
            ));
        }
        Ok(CursorInfo {
            name: name.to_string(),
            path,
            kind,
            position,
            in_use,
        })
    }

    /// The names of `journal`'s cursors, sorted (files in its cursors directory whose names are
    /// valid, CURSOR.md 2, 3); empty if it has none.
    pub fn names(journal: impl AsRef<Path>) -> Result<Vec<String>> {
        let (dir, _) = cursors_dir(journal.as_ref())?;
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&dir, "read directory", e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&dir, "read directory", e))?;
            if let Some(name) = entry.file_name().to_str() {
                if check_name(name).is_ok() {
                    names.push(name.to_string());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// The cursor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cursor file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the cursor belongs to.
    pub fn kind(&self) -> CursorKind {
        self.kind
    }

    /// Whether this open created the cursor file (it did not exist before).
    pub fn is_new(&self) -> bool {
        self.created
    }

    /// The committed position: the index of the next event to deliver.
    #[inline]
    pub fn position(&self) -> u64 {
        u64::from_le(self.map.word(POSITION_OFFSET).load(Ordering::Acquire))
    }

    /// Commits `next_index`: every event below it has been delivered (CURSOR.md 8). One release
    /// store into the shared mapping: no system call, no allocation. It survives this process's
    /// crash at once; call [`NamedCursor::sync`] for it to survive a power cut.
    #[inline]
    pub fn commit(&self, next_index: u64) {
        self.map
            .word(POSITION_OFFSET)
            .store(next_index.to_le(), Ordering::Release);
    }

    /// Writes the committed position to the disk (`msync`, CURSOR.md 8, 10). Fails with
    /// [`Error::BadCursor`] (`truncated`) if the file was truncated while open, which loses the
    /// commits made since.
    pub fn sync(&self) -> Result<()> {
        self.check()?;
        self.map
            .sync()
            .map_err(|e| Error::io(&self.path, "msync", e))?;
        self.check()
    }

    /// Fails if the file was truncated under the mapping (its commits then go nowhere).
    fn check(&self) -> Result<()> {
        if self.map.shrunk() {
            return Err(bad(
                &self.path,
                CursorFault::Truncated,
                "the file was truncated while the cursor was open".into(),
            ));
        }
        Ok(())
    }

    /// An iterator over `reader`'s events from the committed position on (CURSOR.md 6.2): a
    /// lookup through the journal's index and a walk of one interval. Fails with
    /// [`Error::BadCursor`] if `reader` is another journal's (`other_journal`), or if its content
    /// holds fewer events than the position (`ahead`: the journal lost events already delivered,
    /// or the position is damaged); with the journal's error if it is damaged before the
    /// position.
    pub fn resume<'r>(&self, reader: &'r Reader) -> Result<Iter<'r>> {
        self.check()?;
        if self.kind != CursorKind::Journal {
            return Err(bad(
                &self.path,
                CursorFault::OtherJournal,
                "the cursor belongs to a journal set, not to a journal file".into(),
            ));
        }
        let start = reader.header()?.start_timestamp;
        if start != self.journal_start_timestamp {
            return Err(bad(
                &self.path,
                CursorFault::OtherJournal,
                format!(
                    "the cursor belongs to the journal created at {}, this one was created at \
                     {start}",
                    self.journal_start_timestamp
                ),
            ));
        }
        let p = self.position();
        let it = reader.iter_from_index(p)?;
        if it.index() < p {
            return Err(bad(
                &self.path,
                CursorFault::Ahead,
                format!(
                    "position {p} is past the journal's {} events (the journal lost events \
                     already delivered, or the cursor is damaged)",
                    it.index()
                ),
            ));
        }
        Ok(it)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rules() {
        for ok in ["a", "strategy-a", "A.b_c-9", &"x".repeat(64), "a.."] {
            assert!(check_name(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "a b",
            "é",
            "a\0",
            &"x".repeat(65),
        ] {
            assert!(
                matches!(check_name(bad), Err(Error::InvalidArgument(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn encode_then_decode_is_identity() {
        for (kind, start, pos) in [
            (CursorKind::Journal, 1_700_000_000_000_000_000, 5),
            (CursorKind::Journal, -1, u64::MAX),
            (CursorKind::Set, 0, 42),
        ] {
            let d = decode(&encode(kind, start, pos)).unwrap();
            assert_eq!(
                d,
                Decoded {
                    kind,
                    journal_start_timestamp: start,
                    position: pos
                }
            );
        }
    }

    #[test]
    fn the_rules_apply_in_order() {
        let good = encode(CursorKind::Journal, 7, 1);
        assert_eq!(decode(&good[..63]), Err(CursorFault::Truncated));
        let mut b = good;
        b[0] = b'X';
        b[8] = 2; // also a wrong version: the magic comes first
        assert_eq!(decode(&b), Err(CursorFault::BadMagic));
        b[0] = b'J';
        assert_eq!(decode(&b), Err(CursorFault::UnsupportedVersion));
        let mut b = good;
        b[40] = 1;
        assert_eq!(decode(&b), Err(CursorFault::BadHeader));
        b[17] ^= 1; // and the checksum: the checksum comes first
        assert_eq!(decode(&b), Err(CursorFault::HeaderChecksum));
        let mut long = good.to_vec();
        long.push(0);
        assert_eq!(decode(&long), Err(CursorFault::BadHeader));
        let set = encode(CursorKind::Set, 3, 0);
        assert_eq!(decode(&set), Err(CursorFault::BadHeader));
    }
}
