//! Atomic words in a shared file mapping, for the ping-pong floor and parent/child control.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

use memmap2::{MmapOptions, MmapRaw};

/// Length of the mapping: one page, 512 words.
const LEN: usize = 4096;

/// A page of `u64` words in a `MAP_SHARED` file (under `/dev/shm`), read and written only through
/// atomics by every process that maps it.
///
/// INVARIANTS: `raw` maps exactly [`LEN`] bytes of a file at least that long, page aligned; every
/// access to those bytes, in every process, is atomic.
pub struct SharedWords {
    raw: MmapRaw,
    path: PathBuf,
    owner: bool,
}

impl std::fmt::Debug for SharedWords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedWords")
            .field("path", &self.path)
            .finish()
    }
}

impl SharedWords {
    /// Creates the file (which must not exist), zero-filled, and maps it. The file is removed when
    /// this value is dropped.
    pub fn create(path: &Path) -> io::Result<SharedWords> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        file.set_len(LEN as u64)?;
        let raw = MmapOptions::new().len(LEN).map_raw(&file)?;
        Ok(SharedWords {
            raw,
            path: path.to_path_buf(),
            owner: true,
        })
    }

    /// Maps an existing file made by [`SharedWords::create`] (in another process).
    pub fn open(path: &Path) -> io::Result<SharedWords> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        if file.metadata()?.len() < LEN as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "shared words file too short",
            ));
        }
        let raw = MmapOptions::new().len(LEN).map_raw(&file)?;
        Ok(SharedWords {
            raw,
            path: path.to_path_buf(),
            owner: false,
        })
    }

    /// The word at index `i` (byte offset `8 * i`); words 0, 16, 32, ... start cache lines.
    #[inline]
    pub fn word(&self, i: usize) -> &AtomicU64 {
        assert!(i < LEN / 8, "word {i} outside the page");
        // SAFETY: the offset is inside the mapping and 8-aligned (the mapping is page aligned), the
        // mapping lives as long as the returned borrow, and by the invariant no process accesses
        // these bytes non-atomically.
        unsafe { AtomicU64::from_ptr(self.raw.as_mut_ptr().add(8 * i).cast::<u64>()) }
    }
}

impl Drop for SharedWords {
    fn drop(&mut self) {
        if self.owner {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
