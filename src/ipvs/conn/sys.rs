//! The connection table's one use of `unsafe`: the CPU's prefetch
//! instruction, which the batch calls use to overlap the cache misses of
//! several look-ups.
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
        let last = p.wrapping_add(len.max(1) - 1);
        let mut at = p;
        // One prefetch per 64-byte line: every line from the one holding
        // `p` to the one holding `last`.
        while (at as usize) >> 6 < (last as usize) >> 6 {
            // SAFETY: `_mm_prefetch` needs only SSE, which every x86_64 CPU
            // has (it is in the target's baseline features). A prefetch never
            // faults and never dereferences in the Rust sense: any address,
            // even dangling or unmapped, is allowed, and nothing is read into
            // the program.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(at.cast::<i8>()) };
            at = at.wrapping_add(64);
        }
        // SAFETY: as above.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(last.cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (p, len);
    }
}
