//! Ring role ownership: one open-file-description lock per role on a byte range of the ring file
//! (spec/RING.md 7). The kernel takes such a lock atomically and drops it when the last descriptor
//! of the open file description closes, so also when the owner dies, however it dies.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// A `flock` describing bytes `[start, start + len)` of the file.
fn range(kind: libc::c_short, start: u64, len: u64) -> libc::flock {
    // SAFETY: `flock` is a plain C struct for which all-zero bytes are a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = start as libc::off_t;
    fl.l_len = len as libc::off_t;
    fl
}

/// `fcntl(fd, cmd, fl)` on an OFD lock command.
fn fcntl_lock(file: &File, cmd: libc::c_int, fl: &mut libc::flock) -> io::Result<libc::c_int> {
    // SAFETY: `fl` is a valid, exclusively borrowed flock for the duration of the call, and `cmd`
    // is one of the OFD lock commands, which read or write exactly one flock.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), cmd, fl as *mut libc::flock) };
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// An exclusive OFD lock on one role's byte range of a ring file, held until dropped. The guard
/// holds its own duplicate of the descriptor (same open file description), so the lock lives as
/// long as the guard, whatever happens to the descriptor it was taken through.
#[derive(Debug)]
pub(crate) struct RoleLock {
    file: File,
    start: u64,
    len: u64,
}

impl RoleLock {
    /// Takes the lock without waiting; `Ok(None)` if another open file description holds a
    /// conflicting lock on the range.
    pub(crate) fn try_lock(file: &File, start: u64, len: u64) -> io::Result<Option<RoleLock>> {
        let file = file.try_clone()?;
        let mut fl = range(libc::F_WRLCK as libc::c_short, start, len);
        match fcntl_lock(&file, libc::F_OFD_SETLK, &mut fl) {
            Ok(_) => Ok(Some(RoleLock { file, start, len })),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The descriptor the lock was taken through.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }
}

impl Drop for RoleLock {
    fn drop(&mut self) {
        let mut fl = range(libc::F_UNLCK as libc::c_short, self.start, self.len);
        let _ = fcntl_lock(&self.file, libc::F_OFD_SETLK, &mut fl);
    }
}

/// Whether another open file description holds a lock on bytes `[start, start + len)` of `file`.
/// Works on a descriptor opened read-only.
pub(crate) fn range_locked(file: &File, start: u64, len: u64) -> io::Result<bool> {
    let mut fl = range(libc::F_WRLCK as libc::c_short, start, len);
    fcntl_lock(file, libc::F_OFD_GETLK, &mut fl)?;
    Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
}
