//! The connection table's uses of `unsafe`, kept in this one file: the
//! CPU's prefetch instruction, which the batch calls use to overlap the
//! cache misses of several look-ups; [`HugeArena`], the memory of large
//! slot segments, mapped on transparent huge pages (with the `huge-pages`
//! feature on Linux; without it the arena maps nothing and every segment
//! comes from the global allocator); and [`SlotMem`], one segment's slice,
//! from either, read as a pointer and a length.
//!
//! `_mm_prefetch` carries `#[target_feature(enable = "sse")]`, and Rust
//! (checked with 1.95) lets such a function be called only from `unsafe`
//! code unless the caller repeats the attribute, even though SSE is part of
//! the x86_64 baseline. A plain load cannot stand in for it: a load that
//! misses holds up retirement until its data arrives, which limits how many
//! misses overlap (measured: about half the batch throughput of a prefetch).

#![allow(unsafe_code)]

/// Asks the CPU to bring the cache lines holding `len` bytes from `p`
/// (`len` at least 1) into all cache levels. A hint: it reads nothing the
/// program sees, and on targets other than x86_64 it does nothing.
#[inline(always)]
pub(crate) fn prefetch(p: *const u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // One prefetch every 64 bytes from `p` (each lands in the line after
        // the previous one's), then one at the last byte: every line from the
        // one holding `p` to the one holding the last byte, with no test of
        // `p`'s alignment, so that a constant `len` unrolls to a few
        // instructions.
        let mut off = 0;
        while off + 64 < len {
            // SAFETY: `_mm_prefetch` needs only SSE, which every x86_64 CPU
            // has (it is in the target's baseline features). A prefetch never
            // faults and never dereferences in the Rust sense: any address,
            // even dangling or unmapped, is allowed, and nothing is read into
            // the program.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(off).cast::<i8>()) };
            off += 64;
        }
        // SAFETY: as above.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(off).cast::<i8>()) };
        // SAFETY: as above.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(len.max(1) - 1).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (p, len);
    }
}

/// A slice type whose all-zero bytes are a valid value of every element:
/// what [`HugeArena`] may hand out, since fresh anonymous pages are zero.
///
/// # Safety
/// An implementor must be valid (and its default state) when every byte is
/// zero, have no `Drop`, and be `Sync` as a shared slice.
pub(crate) unsafe trait ZeroValid: Sync {}

// SAFETY: an AtomicU32 of zero bytes is 0; no Drop; Sync.
unsafe impl ZeroValid for std::sync::atomic::AtomicU32 {}
// SAFETY: four AtomicU32s, as above.
unsafe impl ZeroValid for super::store::AtomicV6 {}
// SAFETY: a slot is AtomicU32 fields and two or three addresses of type
// `A::Atomic`, which `Addr` requires to be ZeroValid; a slot of zeros is
// empty (tag 0 marks a free slot); no Drop; Sync.
unsafe impl<A: super::store::Addr> ZeroValid for super::store::Slot<A> {}

/// Size of a transparent huge page on x86_64 and of a PMD on most other
/// 64-bit Linux targets: the alignment and granule of arena chunks.
pub(crate) const HUGE_PAGE: usize = 2 << 20;

/// Memory for slot segments, carved from anonymous mappings that are
/// 2 MiB-aligned and advised `MADV_HUGEPAGE`, so that the kernel backs them
/// with transparent huge pages when it can (`transparent_hugepage/enabled`
/// set to `always` or `madvise`). A table's slots are read at random, one
/// cache line per look-up; on 4 KiB pages each such read also misses the
/// TLB (a page walk, nested under a hypervisor), on 2 MiB pages a table of
/// a few GiB stays within the TLB's reach.
///
/// A bump allocator: segments are never freed one by one (a shard's
/// segments live as long as the table), so a chunk is unmapped only when
/// the last [`SlotMem`] carved from it is dropped. Chunks grow
/// geometrically (2 MiB, then the size mapped so far, at most 256 MiB), so
/// a table of n bytes of slots maps O(log n) chunks up to 256 MiB and then
/// one per 256 MiB; a request that does not fit the last chunk's rest gets
/// a new chunk and that rest stays unused. Pages become resident (huge page
/// by huge page) as slots are first written; untouched mapped space is not
/// resident, but each mapping is charged in full against the commit limit
/// when it is made (strict overcommit refuses it then, and the caller falls
/// back).
///
/// Linux only; elsewhere, or when a mapping fails, callers fall back to the
/// global allocator.
#[derive(Debug, Default)]
pub(crate) struct HugeArena {
    chunks: parking_lot::Mutex<Vec<Chunk>>,
}

/// One mapping of the arena.
#[derive(Debug)]
struct Chunk {
    /// Start of the mapping (2 MiB-aligned).
    base: *mut u8,
    /// Length of the mapping (a multiple of 2 MiB).
    len: usize,
    /// Bytes handed out from `base`.
    used: usize,
}

// SAFETY: a chunk is an address range the arena owns; the raw pointer is
// only a handle to it (used to carve slices and to unmap), never
// dereferenced by the arena itself.
unsafe impl Send for Chunk {}

/// Largest chunk the arena maps at once (bigger requests get a chunk of
/// their own size).
const MAX_CHUNK: usize = 256 << 20;

/// The memory of one slot segment: a zeroed slice carved from a
/// [`HugeArena`] (which it keeps alive, and so its mapping), or a slice of
/// the global allocator that it owns. Both are one pointer and one length,
/// so reading the slice (every look-up does) costs no branch on where it
/// came from.
pub(crate) struct SlotMem<T> {
    ptr: std::ptr::NonNull<T>,
    len: usize,
    /// The arena the slice was carved from; `None` for a slice from the
    /// global allocator, which `ptr` and `len` own (`Box::leak`).
    arena: Option<std::sync::Arc<HugeArena>>,
}

// SAFETY: a SlotMem is a shared, immutable view (only `&[T]` is handed
// out) of memory no one else aliases mutably, owned as long as the SlotMem
// lives (through the Arc, or as the Box it was made from); sharing it is
// sharing `&[T]`, which is sound for `T: Sync`; sending it also sends
// what it owns, a `Box<[T]>` (`Send` for `T: Send`) or an Arc of the arena
// (`Send`), so `Send` asks `T: Send + Sync`.
unsafe impl<T: Sync + Send> Send for SlotMem<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for SlotMem<T> {}

impl<T> std::fmt::Debug for SlotMem<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotMem").field("len", &self.len).field("huge", &self.is_huge()).finish()
    }
}

impl<T> SlotMem<T> {
    /// A slice of the global allocator.
    pub(crate) fn heap(b: Box<[T]>) -> Self {
        let len = b.len();
        // Leaked here, taken back in `drop` (`Box::from_raw`).
        let ptr = std::ptr::NonNull::from(Box::leak(b)).cast::<T>();
        SlotMem { ptr, len, arena: None }
    }

    /// Whether the slice was carved from a [`HugeArena`].
    pub(crate) fn is_huge(&self) -> bool {
        self.arena.is_some()
    }
}

impl<T> std::ops::Deref for SlotMem<T> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` points at `len` initialised elements: either a
        // `Box<[T]>`'s, alive until `drop` below, or ones inside a live
        // chunk (the Arc keeps the arena, and the arena keeps its chunks
        // mapped until it drops) that were zero when carved, which is a
        // valid `T` (`ZeroValid`). Either way they are only ever accessed
        // through shared references, so through `T`'s own interior
        // mutability.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> Drop for SlotMem<T> {
    fn drop(&mut self) {
        if self.arena.is_none() {
            // SAFETY: `ptr` and `len` came from `Box::leak` of a `Box<[T]>`
            // of `len` elements (`heap`), which nothing else frees; no
            // reference from `deref` outlives `self`.
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.len)) });
        }
    }
}

impl HugeArena {
    /// `len` zeroed elements of `T` carved from the arena, aligned to 64
    /// bytes (a cache line); `None` when the memory cannot be mapped (or
    /// off Linux), and the caller allocates elsewhere.
    pub(crate) fn slice<T: ZeroValid>(self: &std::sync::Arc<Self>, len: usize) -> Option<SlotMem<T>> {
        let bytes = len.checked_mul(std::mem::size_of::<T>())?;
        if bytes == 0 || std::mem::align_of::<T>() > 64 {
            return None;
        }
        let ptr = self.carve(bytes)?;
        Some(SlotMem { ptr: ptr.cast(), len, arena: Some(self.clone()) })
    }

    /// Bytes handed out, rounded up to whole huge pages per chunk: the most
    /// the arena's slots can make resident (the commit charge of its
    /// mappings is their whole length, which can be larger).
    pub(crate) fn resident_bound_bytes(&self) -> usize {
        self.chunks.lock().iter().map(|c| c.used.next_multiple_of(HUGE_PAGE)).sum()
    }

    /// Bytes handed out.
    #[cfg(all(test, feature = "huge-pages", target_os = "linux"))]
    pub(crate) fn used_bytes(&self) -> usize {
        self.chunks.lock().iter().map(|c| c.used).sum()
    }

    fn carve(&self, bytes: usize) -> Option<std::ptr::NonNull<u8>> {
        let bytes = bytes.checked_next_multiple_of(64)?;
        let mut chunks = self.chunks.lock();
        if let Some(c) = chunks.last_mut() {
            if c.len - c.used >= bytes {
                // SAFETY: `used + bytes <= len`, inside the mapping.
                let p = unsafe { c.base.add(c.used) };
                c.used += bytes;
                return std::ptr::NonNull::new(p);
            }
        }
        let mapped: usize = chunks.iter().map(|c| c.len).sum();
        let len = bytes.checked_next_multiple_of(HUGE_PAGE)?.max(mapped.clamp(HUGE_PAGE, MAX_CHUNK));
        let base = map_huge(len)?;
        chunks.push(Chunk { base, len, used: bytes });
        std::ptr::NonNull::new(base)
    }
}

impl Drop for HugeArena {
    fn drop(&mut self) {
        for c in self.chunks.get_mut().drain(..) {
            unmap(c.base, c.len);
        }
    }
}

/// Maps `len` bytes (a multiple of [`HUGE_PAGE`]) of zeroed anonymous
/// memory at a 2 MiB-aligned address and advises huge pages for it.
#[cfg(all(feature = "huge-pages", target_os = "linux"))]
fn map_huge(len: usize) -> Option<*mut u8> {
    let span = len.checked_add(HUGE_PAGE)?;
    // SAFETY: an anonymous private mapping at an address the kernel picks
    // touches no existing memory; the result is checked for MAP_FAILED.
    let raw = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            span,
            libc::PROT_READ | libc::PROT_WRITE,
            // Accounted as usual (no MAP_NORESERVE): under strict overcommit
            // a chunk the system cannot back fails here, and the segment
            // comes from the global allocator, rather than faulting later.
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return None;
    }
    let raw = raw.cast::<u8>();
    let head = (raw as usize).next_multiple_of(HUGE_PAGE) - raw as usize;
    let tail = span - head - len;
    // SAFETY: `head < HUGE_PAGE <= span - len`, so both offsets stay inside
    // the mapping just made.
    let (aligned, end) = unsafe { (raw.add(head), raw.add(head + len)) };
    // The unaligned head and the tail beyond `len` go back to the kernel.
    // SAFETY: both ranges lie inside the mapping just made, which nothing
    // else refers to yet.
    unsafe {
        if head > 0 {
            libc::munmap(raw.cast(), head);
        }
        if tail > 0 {
            libc::munmap(end.cast(), tail);
        }
        // Advice only: a kernel without transparent huge pages refuses it
        // and the chunk stays on 4 KiB pages.
        libc::madvise(aligned.cast(), len, libc::MADV_HUGEPAGE);
    }
    Some(aligned)
}

#[cfg(not(all(feature = "huge-pages", target_os = "linux")))]
fn map_huge(_len: usize) -> Option<*mut u8> {
    None
}

/// Unmaps a chunk made by [`map_huge`].
#[cfg(all(feature = "huge-pages", target_os = "linux"))]
fn unmap(base: *mut u8, len: usize) {
    // SAFETY: (base, len) is exactly one mapping made by `map_huge`, and the
    // arena unmaps it only when it drops, after every SlotMem carved (each holds
    // an Arc of it) is gone.
    unsafe { libc::munmap(base.cast::<libc::c_void>(), len) };
}

#[cfg(not(all(feature = "huge-pages", target_os = "linux")))]
fn unmap(_base: *mut u8, _len: usize) {}

#[cfg(all(test, feature = "huge-pages", target_os = "linux"))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

    struct Word(AtomicU32);
    // SAFETY: an AtomicU32 of zero bytes is 0.
    unsafe impl ZeroValid for Word {}

    #[test]
    fn slices_are_zeroed_aligned_disjoint_and_outlive_the_arena() {
        let arena = Arc::new(HugeArena::default());
        let a = arena.slice::<Word>(1000).expect("map");
        let b = arena.slice::<Word>(3).expect("map");
        // A request past the first chunk gets a chunk of its own.
        let c = arena.slice::<Word>(HUGE_PAGE).expect("map");
        assert!(a.iter().chain(b.iter()).chain(c.iter()).all(|w| w.0.load(Relaxed) == 0));
        assert_eq!((a.as_ptr() as usize % 64, b.as_ptr() as usize % 64), (0, 0));
        assert_eq!(c.as_ptr() as usize % HUGE_PAGE, 0, "a fresh chunk starts on a huge page");
        let (a0, a1) = (a.as_ptr() as usize, a.as_ptr() as usize + 4000);
        assert!(b.as_ptr() as usize >= a1 || (b.as_ptr() as usize) + 12 <= a0);
        for (i, w) in a.iter().enumerate() {
            w.0.store(i as u32, Relaxed);
        }
        c[HUGE_PAGE - 1].0.store(7, Relaxed);
        assert_eq!(arena.used_bytes(), 4032 + 64 + 4 * HUGE_PAGE);
        assert_eq!(arena.resident_bound_bytes(), HUGE_PAGE + 4 * HUGE_PAGE);
        drop(arena);
        // The slices keep the mapping alive.
        assert_eq!(a[999].0.load(Relaxed), 999);
        assert_eq!(c[HUGE_PAGE - 1].0.load(Relaxed), 7);
    }

    #[test]
    fn empty_and_overflowing_requests_are_refused() {
        let arena = Arc::new(HugeArena::default());
        assert!(arena.slice::<Word>(0).is_none());
        assert!(arena.slice::<Word>(usize::MAX / 2).is_none());
    }
}
