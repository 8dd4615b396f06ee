//! An append-only, memory-mapped event journal for low-latency systems.
//!
//! One process appends timestamped events at memory speed (no system call and no page fault on the
//! steady-state path); any number of processes read the same file while it grows. The file format is
//! specified in `spec/FORMAT.md`; this crate is one implementation of it. Journals are replayed into
//! a cross-process shared-memory ring ([`Producer`], [`Consumer`], [`replay`]) specified in
//! `spec/RING.md`. [`UdpCapture`] records UDP (multicast) datagrams into a journal, one event per
//! datagram stamped with the kernel's receive time.
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
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]

mod capture;
mod error;
mod format;
mod reader;
mod recovery;
mod replay;
mod ring;
mod sys;
mod tail;
mod writer;

pub use capture::{CaptureOptions, CaptureStats, Datagram, Gap, Interface, UdpCapture};
pub use error::{Error, Result};
pub use format::{
    checksum, entry_len, pad8, DamageReason, ENTRY_HEADER_LEN, HEADER_LEN, MAX_PAYLOAD,
};
pub use reader::{Event, HeaderInfo, Iter, Reader, Report};
pub use recovery::{Damage, Recovered, RecoveryMode};
pub use replay::{
    replay, GapReport, LongGap, Pacing, ReplayOptions, ReplayStats, MAX_SPEED, MIN_SPEED,
};
pub use ring::{
    create_ring, ring_info, Consumer, Producer, ReadStatus, Record, RingClaim, RingInfo,
    RING_HEADER_LEN, RING_MAX_CAPACITY, RING_MIN_CAPACITY,
};
pub use tail::{Tailer, WaitStrategy};
pub use writer::{now_ns, Claim, SyncPolicy, Writer, WriterOptions};
