//! File system calls: creating and opening journal files, space allocation (`fallocate`), zeroing
//! ranges, and the writer's open-file-description lock (FORMAT.md 7.3, 10).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::cvt;
use crate::error::{Error, Result};

/// Creates a file that must not exist, without following a symlink planted at the path.
pub(crate) fn create_exclusive(path: &Path, mode: u32) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => Error::AlreadyExists {
                path: path.to_path_buf(),
            },
            _ => Error::io(path, "create", e),
        })
}

/// Opens an existing file read-write, without following a symlink planted at the path.
pub(crate) fn open_rw(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| Error::io(path, "open", e))
}

/// `fsync` of a directory, making the creation, rename or removal of its entries durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, "fsync directory", e))?;
    #[cfg(feature = "test-hooks")]
    synced::record(dir);
    Ok(())
}

/// `fsync` of a closed file by its path (opened read-only, without following a symlink):
/// `Ok(false)` when the file is gone.
pub(crate) fn sync_path(path: &Path) -> Result<bool> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(path, "open", e)),
    };
    file.sync_all().map_err(|e| Error::io(path, "fsync", e))?;
    #[cfg(feature = "test-hooks")]
    synced::record(path);
    Ok(true)
}

/// Test hook (feature `test-hooks`): the paths [`sync_dir`] and [`sync_path`] synced, so that a
/// test can check what a sync made durable.
#[cfg(feature = "test-hooks")]
pub(crate) mod synced {
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    static SYNCED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

    pub(crate) fn record(path: &Path) {
        SYNCED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(path.to_path_buf());
    }

    /// The paths synced so far that lie under `dir` (or are `dir`), in order.
    pub(crate) fn under(dir: &Path) -> Vec<PathBuf> {
        SYNCED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|p| p.starts_with(dir))
            .cloned()
            .collect()
    }
}

/// `fallocate(fd, mode, off, len)`, falling back to `posix_fallocate` when the file system does not
/// support `fallocate` (FORMAT.md 7.3).
pub(crate) fn allocate(file: &File, off: u64, len: u64) -> io::Result<()> {
    // SAFETY: plain system call on an open descriptor; no memory is passed.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, off as i64, len as i64) };
    match cvt(rc) {
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
            // SAFETY: as above. posix_fallocate returns the error number instead of setting errno.
            let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), off as i64, len as i64) };
            if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::from_raw_os_error(rc))
            }
        }
        other => other,
    }
}

fn ofd_lock(kind: libc::c_short) -> libc::flock {
    // SAFETY: `flock` is a plain C struct for which all-zero bytes are a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = 0;
    fl.l_len = 0; // the whole file, however long it grows
    fl
}

/// Takes the writer's exclusive open-file-description lock (FORMAT.md 10) without waiting.
/// Returns `Ok(false)` when another open file description holds a conflicting lock.
fn try_lock_writer(file: &File) -> io::Result<bool> {
    let mut fl = ofd_lock(libc::F_WRLCK as libc::c_short);
    // SAFETY: `fl` is a valid, exclusively borrowed flock for the duration of the call.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &mut fl) };
    match cvt(rc) {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The writer's lock, held for as long as this guard lives, released explicitly on drop: closing
/// the descriptor is not enough, because a child forked by another thread holds a copy of the open
/// file description (and so the lock) until it execs. The guard holds its own duplicate of the
/// descriptor, so it releases the lock on every path: a writer's close, and an open that fails
/// after locking.
pub(crate) struct WriterLock(File);

impl WriterLock {
    /// Takes the lock on `file` without waiting; `Ok(None)` if another writer holds it.
    pub(crate) fn try_lock(file: &File) -> io::Result<Option<WriterLock>> {
        if !try_lock_writer(file)? {
            return Ok(None);
        }
        let dup = file.try_clone();
        match dup {
            Ok(dup) => Ok(Some(WriterLock(dup))),
            Err(e) => {
                let _ = unlock_writer(file);
                Err(e)
            }
        }
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        let _ = unlock_writer(&self.0);
    }
}

fn unlock_writer(file: &File) -> io::Result<()> {
    let mut fl = ofd_lock(libc::F_UNLCK as libc::c_short);
    // SAFETY: `fl` is a valid, exclusively borrowed flock for the duration of the call.
    cvt(unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &mut fl) })
}

/// Whether some open file description (a writer) holds a lock on the file, without taking one.
pub(crate) fn writer_present(file: &File) -> io::Result<bool> {
    let mut fl = ofd_lock(libc::F_WRLCK as libc::c_short);
    // SAFETY: `fl` is a valid, exclusively borrowed flock for the duration of the call.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) };
    cvt(rc)?;
    Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
}
