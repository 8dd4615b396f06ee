//! The only module with `unsafe` (the crate root denies it elsewhere), split by job:
//!
//! - [`file`]: file system calls (create/open, fallocate, zeroing, the writer's lock);
//! - [`map`]: the shared mappings of journals and rings, and the header atomics;
//! - [`guard`]: the process-wide SIGBUS guard for files truncated under a mapping;
//! - [`proc`]: `/proc` queries (process liveness);
//! - [`timer`]: the thread's timer slack;
//! - [`ringlock`]: the ring roles' ownership locks (RING.md);
//! - [`cursor_map`]: the mapping of a named cursor file (CURSOR.md);
//! - [`net`]: the socket calls of capture;
//! - [`huge`]: arrays in memory advised for huge pages (the index's, for seeks);
//! - [`crc`]: the entry checksum (FORMAT.md 5), with carry-less multiplication where the CPU has it.
//! - [`futex`]: futex waits and wakes on a shared word, and `membarrier` (blocking waits);
//! - [`wake_map`]: the mapping of a journal's wake-up file (FORMAT.md 15).

use std::io;

pub(crate) mod crc;
pub(crate) mod cursor_map;
pub(crate) mod file;
pub(crate) mod futex;
pub(crate) mod guard;
pub(crate) mod huge;
pub(crate) mod map;
pub(crate) mod net;
pub(crate) mod proc;
pub(crate) mod ringlock;
pub(crate) mod timer;
pub(crate) mod wake_map;

pub(crate) use cursor_map::CursorMap;
#[cfg(feature = "test-hooks")]
pub(crate) use file::synced;
pub(crate) use file::{
    allocate, create_exclusive, open_rw, sync_dir, sync_path, writer_present, WriterLock,
};
pub(crate) use huge::HugeVec;
pub(crate) use map::{
    populate_by_advice, writeback_room, Ahead, AheadPlan, Observed, ReadMap, RingMap, SyncMap,
    WriteMap, PREFAULT_STEP,
};
pub(crate) use proc::process_identity;
pub(crate) use timer::set_timer_slack_ns;
pub(crate) use wake_map::WakeMap;

/// The system page size.
pub(crate) fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions; _SC_PAGESIZE is a valid name.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as u64
    } else {
        4096
    }
}

fn cvt(rc: libc::c_int) -> io::Result<()> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
