//! An append-only, memory-mapped event journal for low-latency systems.
//!
//! One process appends timestamped events at memory speed (no system call and no page fault on the
//! steady-state path); any number of processes read the same file while it grows. The file format is
//! specified in `spec/FORMAT.md`; this crate is one implementation of it. Journals are replayed into
//! a cross-process shared-memory ring ([`Producer`], [`Consumer`], [`replay`]) specified in
//! `spec/RING.md`. [`UdpCapture`] records UDP (multicast) datagrams into a journal, one event per
//! datagram stamped with the kernel's receive time. A [`Tailer`] (or an [`OwnedTailer`], which
//! holds its reader through an `Arc` and can move to another thread) follows a live writer; the
//! [`format`](mod@format) module has the on-disk layout, its encoder and decoder.
//!
//! # The process-wide `SIGBUS` handler
//!
//! A file mapped into memory that another process truncates raises `SIGBUS` on the next access to
//! a page past its new end. So that a hostile truncation is an error rather than a crash, the first
//! [`Reader`], [`Writer`], [`Producer`] or [`Consumer`] a process opens installs a `SIGBUS` handler
//! (`sigaction`, once, for the life of the process; FORMAT.md 10). A fault inside one of this
//! crate's mappings is absorbed (a zero page is mapped over the faulting page, and the owner reports
//! [`Error::FileShrunk`] or is poisoned). A fault anywhere else is passed on, every time, to the
//! disposition installed before ours: a handler function is called with the same arguments; the
//! default action (or `SIG_IGN`) is restored and the faulting access re-run, which ends the process
//! as it would have without this crate. A program that installs its own `SIGBUS` handler should do
//! so before opening its first journal or ring; one installed afterwards replaces ours.
//!
//! # Address space
//!
//! A reader maps the journal's content, plus headroom (at least 64 MiB) when a writer is live, and
//! maps a range at least twice as long when the content outgrows it, keeping the earlier mappings
//! until it drops (so borrowed events never move). A writer reserves
//! `min(max_size, max(64 chunks, twice the file))` (1 GiB with the default options, see
//! [`WriterOptions`]) and doubles the reservation when it grows the file past it, never on an append
//! that fits.
//!
//! ```
//! use journal::{Reader, Writer};
//!
//! # fn main() -> journal::Result<()> {
//! # let dir = std::env::temp_dir().join(format!("journal-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("quotes.journal");
//! # let _ = std::fs::remove_file(&path);
//! let mut w = Writer::create(&path)?;
//! w.append(1_700_000_000_000_000_000, b"BTC-USD 42000.5 @ 1.2")?;
//! let mut claim = w.claim(5)?; // zero-copy: fill the bytes in place, then commit
//! claim.as_mut_slice().copy_from_slice(b"hello");
//! claim.commit(1_700_000_000_000_000_001)?;
//! w.close()?;
//!
//! let r = Reader::open(&path)?;
//! for event in r.iter() {
//!     let event = event?;
//!     println!("{} {} bytes", event.timestamp, event.payload.len());
//! }
//! assert!(r.verify()?.is_intact());
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok(())
//! # }
//! ```
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]

mod capture;
mod clock;
mod cursor;
mod error;
pub mod format;
pub mod index;
pub mod named_cursor;
mod pretouch;
mod reader;
mod recovery;
mod replay;
mod ring;
pub mod set;
mod syncer;
// The system calls and shared memory need `unsafe`; every other module is safe code (`unsafe_code`
// is denied at the crate root), and every block here carries a `// SAFETY:` comment.
#[allow(
    unsafe_code,
    reason = "system calls and shared memory; every block has a SAFETY comment"
)]
mod sys;
mod tail;
mod wait;
pub mod wake;
mod writer;

pub use capture::{CaptureOptions, CaptureStats, Datagram, Gap, Interface, UdpCapture};
pub use clock::now_ns;
pub use cursor::Event;
pub use error::{Error, Result};
pub use format::{
    checksum, entry_len, pad8, DamageReason, ENTRY_HEADER_LEN, HEADER_LEN, MAX_PAYLOAD,
};
pub use named_cursor::NamedCursor;
pub use pretouch::Pretoucher;
pub use reader::{HeaderInfo, Iter, Reader, Report};
pub use recovery::{Damage, Recovered, RecoveryMode};
pub use replay::{
    replay, replay_follow, GapReport, LongGap, Pacing, ReplayOptions, ReplaySource, ReplayStats,
    MAX_SPEED, MIN_SPEED,
};
pub use ring::{
    create_ring, ring_info, Consumer, Producer, ReadStatus, Record, RingClaim, RingInfo,
    RING_HEADER_LEN, RING_MAX_CAPACITY, RING_MIN_CAPACITY, RING_VERSION,
};
pub use set::{OwnedSetTailer, SetIter, SetReader, SetTailer};
pub use set::{SetClaim, SetWriter, SetWriterOptions};
pub use syncer::Syncer;
pub use tail::{OwnedTailer, Tailer};
pub use wait::WaitStrategy;
pub use writer::{Claim, SyncPolicy, Writer, WriterOptions};
