//! The library's error type.

use std::io;
use std::path::PathBuf;

use crate::format::DamageReason;

/// A specialized `Result` for journal operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong with a journal. Messages name the file, the offset and what was
/// expected, for a person to read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A system call on the file failed.
    #[error("{}: {op} failed", path.display())]
    Io {
        /// The journal's path.
        path: PathBuf,
        /// What was being done ("open", "fallocate", "msync", ...).
        op: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
    /// The file's header is not structurally valid (FORMAT.md 3): it is not a journal.
    #[error("{}: not a journal: {reason}", path.display())]
    NotAJournal {
        /// The file's path.
        path: PathBuf,
        /// Why, for a person.
        reason: String,
    },
    /// The journal's content ends at a damaged entry (FORMAT.md 6.2).
    #[error("{}: damaged at offset {offset}: {} ({})", path.display(), reason.describe(), reason.as_str())]
    Damaged {
        /// The journal's path.
        path: PathBuf,
        /// Offset of the first entry that is not valid.
        offset: u64,
        /// Which check failed.
        reason: DamageReason,
    },
    /// Another writer holds the journal's lock (FORMAT.md 10).
    #[error("{}: locked: another writer has this journal open", path.display())]
    Locked {
        /// The journal's path.
        path: PathBuf,
    },
    /// A journal already exists at the path given to `create`.
    #[error("{}: already exists", path.display())]
    AlreadyExists {
        /// The path.
        path: PathBuf,
    },
    /// A payload is larger than [`MAX_PAYLOAD`](crate::MAX_PAYLOAD).
    #[error("payload of {len} bytes is larger than the limit of {max} bytes")]
    PayloadTooLarge {
        /// The payload's length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// Appending would take the journal past its configured maximum size.
    #[error("{}: journal full: needs {needed} bytes, maximum size is {max} bytes", path.display())]
    Full {
        /// The journal's path.
        path: PathBuf,
        /// The size the append needed.
        needed: u64,
        /// The configured maximum (`WriterOptions::max_size`).
        max: u64,
    },
    /// An earlier sync failed, so this writer reports no further success (FORMAT.md 9).
    #[error("{}: writer is poisoned by an earlier failure ({cause}); reopen the journal", path.display())]
    Poisoned {
        /// The journal's path.
        path: PathBuf,
        /// The failed operation's error, as text.
        cause: String,
    },
    /// The file was truncated or replaced under a reader: bytes below `write_offset` are gone.
    #[error("{}: file is {file_len} bytes but write_offset is {write_offset}: truncated or replaced under the reader", path.display())]
    FileShrunk {
        /// The journal's path.
        path: PathBuf,
        /// The `write_offset` the reader saw.
        write_offset: u64,
        /// The file length it found.
        file_len: u64,
    },
    /// The file is not a ring of this version, or its size does not match its header
    /// (spec/RING.md 2).
    #[error("{}: not a ring: {field} is {found}, expected {expected}", path.display())]
    NotARing {
        /// The file's path.
        path: PathBuf,
        /// Which field or property is wrong.
        field: &'static str,
        /// What was expected.
        expected: String,
        /// What was found.
        found: String,
    },
    /// Another live process is attached to the ring in this role (spec/RING.md 7).
    #[error("{}: a {role} is already attached (pid {pid})", path.display())]
    AlreadyAttached {
        /// The ring's path.
        path: PathBuf,
        /// "producer" or "consumer".
        role: &'static str,
        /// The other process.
        pid: u32,
    },
    /// A record is larger than the ring allows (half its capacity, spec/RING.md 3).
    #[error(
        "record of {len} bytes is larger than this ring allows ({max} bytes, half its capacity)"
    )]
    RecordTooLarge {
        /// The record's length in bytes (header, payload, padding).
        len: u64,
        /// The largest allowed.
        max: u64,
    },
    /// The process on the other side of the ring died without ending the stream (spec/RING.md 7).
    #[error("{}: the {role} (pid {pid}) died without ending the stream", path.display())]
    PeerDied {
        /// The ring's path.
        path: PathBuf,
        /// "producer" or "consumer".
        role: &'static str,
        /// Its pid.
        pid: u32,
    },
    /// A ring's data area holds a record that breaks spec/RING.md 5.
    #[error("{}: corrupt ring at position {position}: {reason}", path.display())]
    CorruptRing {
        /// The ring's path.
        path: PathBuf,
        /// The consumer position of the bad record.
        position: u64,
        /// What is wrong, for a person.
        reason: String,
    },
    /// An argument is outside its allowed range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A socket call made by a capture failed.
    #[error("{addr}: {op} failed")]
    Socket {
        /// The address the socket is bound (or being bound) to.
        addr: std::net::SocketAddr,
        /// What was being done ("bind", "join multicast group", "recvmmsg", ...).
        op: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
    /// The journal a reader follows was replaced under it: the path now holds another journal, or
    /// the same file was rewritten with other content (see FORMAT.md 10 for what a reader checks).
    #[error("{}: replaced under the reader: {reason}", path.display())]
    Replaced {
        /// The journal's path.
        path: PathBuf,
        /// What changed, for a person.
        reason: String,
    },
    /// A directory is not a usable journal set (SET.md): no metadata file, a malformed one, or a
    /// segment layout that breaks the set's rules.
    #[error("{}: bad journal set: {reason}", path.display())]
    BadSet {
        /// The set's directory.
        path: PathBuf,
        /// What is wrong, for a person.
        reason: String,
    },
    /// A named cursor file cannot be used: damaged, truncated, not a cursor, another journal's, or
    /// past the end of its journal (spec/CURSOR.md 5, 6).
    #[error("{}: bad cursor: {detail} ({})", path.display(), fault.as_str())]
    BadCursor {
        /// The cursor file's path.
        path: PathBuf,
        /// Which check failed.
        fault: crate::named_cursor::CursorFault,
        /// What was found, for a person.
        detail: String,
    },
    /// Another owner has the named cursor open (spec/CURSOR.md 8).
    #[error("{}: cursor in use: another reader has it open", path.display())]
    CursorInUse {
        /// The cursor file's path.
        path: PathBuf,
    },
    /// A set reader needs events whose segment retention removed (SET.md 8): the reader fell
    /// behind the set's first available event.
    #[error("{}: event {index} was pruned (segment {segment} is gone); the set's first available event is {first_available}", path.display())]
    Pruned {
        /// The set's directory.
        path: PathBuf,
        /// The file name of the segment that holds (or held) the event the reader needs.
        segment: String,
        /// The global index of the event the reader needs.
        index: u64,
        /// The set's first available global index now.
        first_available: u64,
    },
}

impl Error {
    pub(crate) fn io(path: &std::path::Path, op: &'static str, source: io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }
}

impl Error {
    /// [`Error::NotAJournal`] for `path`, with the reason.
    pub(crate) fn not_a_journal(path: &std::path::Path, reason: String) -> Error {
        Error::NotAJournal {
            path: path.to_path_buf(),
            reason,
        }
    }
}
