//! [`HugeVec`]: a growable array of plain values whose large buffers live in anonymous memory
//! advised for transparent huge pages (`MADV_HUGEPAGE`), for the in-memory arrays of an index that
//! a seek touches at random (spec/INDEX.md 8).
//!
//! A seek reads a few cache lines at a random place in arrays of up to hundreds of megabytes: with
//! 4 KiB pages nearly every one of those reads also misses the TLB and walks the page tables (under
//! a hypervisor, two sets of them). In 2 MiB pages the same arrays need a few hundred TLB entries,
//! and their page-table entries stay in the cache. The advice works under the `madvise` setting of
//! `/sys/kernel/mm/transparent_hugepage/enabled` (and `always`); without huge pages (`never`, or no
//! free 2 MiB page) the memory is plain 4 KiB pages and nothing else changes.

use std::fmt;
use std::ptr::NonNull;

use memmap2::{Advice, MmapMut};

/// Buffers at least this large are mapped and advised; smaller ones are plain heap vectors.
const HUGE_MIN: usize = 512 << 10;
/// The huge page size the mappings are aligned to.
const HUGE_PAGE: usize = 2 << 20;

/// A growable array of `T` (plain values: `Copy`, no destructor), as `Vec<T>` but with buffers of
/// at least [`HUGE_MIN`] bytes in an anonymous mapping aligned to 2 MiB and advised `MADV_HUGEPAGE`
/// before any of it is touched, so that its pages are huge pages from their first fault.
///
/// INVARIANTS:
/// - With `map` `None` the elements are `small` and `len`, `cap` and `ptr` are unused.
/// - With `map` `Some(m)`: `small` is empty; `ptr` points into `m`, aligned for `T` (it is 2 MiB
///   aligned, or `m`'s start, which is page aligned), with room for `cap` values of `T` inside `m`;
///   the first `len <= cap` of them are initialized. `m` is never unmapped or moved while it is
///   held, and is owned by this value alone.
pub(crate) struct HugeVec<T: Copy> {
    small: Vec<T>,
    map: Option<MmapMut>,
    ptr: NonNull<T>,
    len: usize,
    cap: usize,
}

// SAFETY: a HugeVec owns its elements as a Vec<T> does (the mapping is private to it, INVARIANTS),
// so it may move to or be shared with another thread when T may.
unsafe impl<T: Copy + Send> Send for HugeVec<T> {}
// SAFETY: as above: `&HugeVec` gives only `&[T]`.
unsafe impl<T: Copy + Sync> Sync for HugeVec<T> {}

impl<T: Copy> Default for HugeVec<T> {
    fn default() -> Self {
        HugeVec::new()
    }
}

impl<T: Copy> HugeVec<T> {
    /// An empty array (no allocation).
    pub(crate) const fn new() -> Self {
        HugeVec {
            small: Vec::new(),
            map: None,
            ptr: NonNull::dangling(),
            len: 0,
            cap: 0,
        }
    }

    /// An empty array with room for `n` values.
    pub(crate) fn with_capacity(n: usize) -> Self {
        let mut v = HugeVec::new();
        v.reserve(n);
        v
    }

    /// Whether the buffer is mapped and advised for huge pages (test hook).
    #[cfg(test)]
    pub(crate) fn is_mapped(&self) -> bool {
        self.map.is_some()
    }

    /// The elements.
    pub(crate) fn as_slice(&self) -> &[T] {
        match &self.map {
            None => &self.small,
            // SAFETY: INVARIANTS: `ptr` is aligned and the first `len` values are initialized
            // inside the live mapping owned by `self`, which the borrow cannot outlive.
            Some(_) => unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) },
        }
    }

    fn capacity(&self) -> usize {
        match &self.map {
            None => self.small.capacity(),
            Some(_) => self.cap,
        }
    }

    /// Makes room for `more` values past the current length: at least doubles the buffer when it
    /// grows, so pushes are O(1) amortised. A buffer that reaches [`HUGE_MIN`] bytes moves to a
    /// mapping advised for huge pages.
    pub(crate) fn reserve(&mut self, more: usize) {
        let len = self.as_slice().len();
        let need = len.checked_add(more).expect("capacity overflow");
        if need <= self.capacity() {
            return;
        }
        // As a Vec grows: at least 4 values at first, then doubling.
        let cap = need.max(2 * self.capacity()).max(4);
        let size = std::mem::size_of::<T>().max(1);
        let bytes = cap.checked_mul(size).expect("capacity overflow");
        if self.map.is_none() && bytes < HUGE_MIN {
            self.small.reserve_exact(cap - len);
            return;
        }
        // Round up to whole huge pages, plus one to align the start.
        let bytes = bytes.div_ceil(HUGE_PAGE) * HUGE_PAGE;
        let mut map = match MmapMut::map_anon(bytes + HUGE_PAGE) {
            Ok(m) => m,
            // No address space for it: stay on the heap, as a Vec would (and abort like it when
            // the heap cannot grow either).
            Err(_) if self.map.is_none() => {
                self.small.reserve_exact(cap - len);
                return;
            }
            Err(e) => panic!("cannot map {bytes} bytes of memory: {e}"),
        };
        // Advisory: without huge pages the memory works the same in 4 KiB pages.
        let _ = map.advise(Advice::HugePage);
        let base = map.as_mut_ptr();
        let skip = base.align_offset(HUGE_PAGE).min(HUGE_PAGE);
        // SAFETY: skip <= HUGE_PAGE and the mapping is `bytes + HUGE_PAGE` long, so the start and
        // the `bytes` after it lie inside it.
        let start = unsafe { base.add(skip) }.cast::<T>();
        debug_assert!(start.is_aligned());
        let old = self.as_slice();
        // SAFETY: `start` has room for `bytes / size >= cap >= len` aligned values of T inside the
        // new mapping, which nothing else references; `old` is `len` initialized values in another
        // buffer (the old mapping or vector), so the ranges do not overlap. T: Copy, so a bitwise
        // copy is a valid copy.
        unsafe { std::ptr::copy_nonoverlapping(old.as_ptr(), start, len) };
        self.small = Vec::new();
        self.map = Some(map);
        self.ptr = NonNull::new(start).expect("a mapping is not at address 0");
        self.len = len;
        self.cap = bytes / size;
    }

    /// Appends `value`.
    pub(crate) fn push(&mut self, value: T) {
        if self.map.is_none() && self.small.len() < self.small.capacity() {
            self.small.push(value);
            return;
        }
        self.reserve(1);
        match self.map {
            None => self.small.push(value),
            Some(_) => {
                // SAFETY: reserve(1) left len < cap: slot `len` lies inside the mapping, aligned
                // (INVARIANTS); writing it and counting it keeps the first `len` initialized.
                unsafe { self.ptr.as_ptr().add(self.len).write(value) };
                self.len += 1;
            }
        }
    }

    /// Appends the values of `more`.
    pub(crate) fn extend_from_slice(&mut self, more: &[T]) {
        self.reserve(more.len());
        match self.map {
            None => self.small.extend_from_slice(more),
            Some(_) => {
                // SAFETY: reserve left room for `more.len()` values past `len` inside the mapping
                // (INVARIANTS), which `more` (a borrow of other memory: `&mut self` is exclusive)
                // does not overlap; T: Copy.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        more.as_ptr(),
                        self.ptr.as_ptr().add(self.len),
                        more.len(),
                    )
                };
                self.len += more.len();
            }
        }
    }

    /// Keeps the first `n` values (all if there are fewer). The buffer stays.
    pub(crate) fn truncate(&mut self, n: usize) {
        match self.map {
            None => self.small.truncate(n),
            // T: Copy has no destructor: forgetting values is dropping them.
            Some(_) => self.len = self.len.min(n),
        }
    }

    /// Removes every value; the buffer stays.
    pub(crate) fn clear(&mut self) {
        self.truncate(0);
    }
}

impl<T: Copy> std::ops::Deref for HugeVec<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<'a, T: Copy> IntoIterator for &'a HugeVec<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl<T: Copy> Clone for HugeVec<T> {
    fn clone(&self) -> Self {
        let mut v = HugeVec::with_capacity(self.len());
        v.extend_from_slice(self);
        v
    }
}

impl<T: Copy + fmt::Debug> fmt::Debug for HugeVec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: Copy + PartialEq> PartialEq for HugeVec<T> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Copy + Eq> Eq for HugeVec<T> {}

impl<T: Copy> FromIterator<T> for HugeVec<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let mut v = HugeVec::with_capacity(iter.size_hint().0);
        for x in iter {
            v.push(x);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_from_the_heap_into_an_aligned_mapping_keeping_every_value() {
        let mut v: HugeVec<u64> = HugeVec::new();
        let mut want = Vec::new();
        for i in 0..(3 * HUGE_PAGE / 8 + 17) as u64 {
            v.push(i * 7);
            want.push(i * 7);
            if i == 10 {
                assert!(!v.is_mapped(), "small arrays stay on the heap");
            }
        }
        assert!(v.is_mapped());
        assert_eq!(
            v.as_ptr() as usize % HUGE_PAGE,
            0,
            "mapped buffers are 2 MiB aligned"
        );
        assert_eq!(&v[..], &want[..]);
        v.extend_from_slice(&[1, 2, 3]);
        want.extend_from_slice(&[1, 2, 3]);
        assert_eq!(v, v.clone());
        assert_eq!(&v.clone()[..], &want[..]);
        v.truncate(5);
        assert_eq!(&v[..], &want[..5]);
        v.clear();
        assert!(v.is_empty());
        v.push(9);
        assert_eq!(&v[..], &[9]);
        let big: HugeVec<u32> = (0..HUGE_MIN as u32).collect();
        assert!(big.is_mapped());
        assert!(big.iter().enumerate().all(|(i, &x)| x == i as u32));
    }
}
