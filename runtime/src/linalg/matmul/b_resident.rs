//! The loop nest with `B`'s K block packed once and the register tiles of `C` visited row by
//! row: for products whose `C` does not fit half the L2 while a packed `KC × n` block of `B`
//! does (the batch-4096 forward `4096 × 256 × 256` on a 1 MiB L2, a convolution's input
//! gradient `585 × 64 × 784`), or, where it does not, a `KC × nc` column block of it does and
//! `A`'s `m × KC` block fits the L2 (on a 512 KiB L2: the `256 × 256 × 256` row block, and that
//! conv input gradient, whose transposed `A` is packed again per column block).
//!
//! The panel-outer nests ([`super::streamed::streamed`], [`super::packed`]) keep one `KC × NR` panel of
//! `B` in the L1d and sweep it down every row tile, so consecutive tiles of `C` lie one tile
//! height apart: with a `C` of several MiB each tile's stores go to lines that have left the
//! caches, a column of tiles at a time (and `streamed` packs `B`'s panels once per sweep).
//! Here each row tile of `A` (`MR × KC`, in the L1d) is run against every packed panel of the
//! column block in turn (from the L2), so `C` is written a row band at a time, `A` is read in
//! place (no `A` packing however tall it is; once per column block), and `B` is packed once per
//! K block. Every output element gets the same sums in the same order as in the other nests
//! (the same `KC` blocks, summed in order, by the same kernel), so the choice never changes a
//! bit.

use std::mem::size_of;

use super::pack::{a_pack_buffer, pack_a_block};
use super::{Micro, Panel, Problem};
use crate::linalg::cache::CacheSizes;
use crate::real::Real;

/// Columns per term of `A`'s K block that a column block needs when `A` is not row-major: its
/// row tiles are packed again for every column block, which pays when the block's products
/// outweigh the packing (the conv input gradient `585 × 64 × 784` on a 512 KiB L2: two blocks
/// of 49 panels, 392 columns, for 64 terms), not otherwise (`δᵀ·H` at `256 × 256 × 256`: blocks
/// of 16 panels, 128 columns, for 256 terms, 2–5% slower in blocks).
const STRIDED_A_COLUMNS_PER_TERM: usize = 4;

/// Panels of `B` per column block, or `None` when the product does not take this nest: several
/// panels, and a `C` that overflows half the L2. The packed `kc × n` block of `B` is kept whole
/// when it fits half the L2 (one column block). Otherwise `n` is cut into column blocks whose
/// packed `kc × nc` block does (as equal as whole panels allow, at least two panels each) when
/// `A` is row-major, an `MR × kc` tile of it fits half the L1d, so that it stays there while
/// the block's panels stream from the L2, and its `m × kc` block fits the L2 (the
/// `256 × 256 × 256` row block on a 512 KiB L2). An `A` that is not row-major is packed again
/// for every column block, so it takes them only with [`STRIDED_A_COLUMNS_PER_TERM`] columns
/// per term or more.
#[inline(always)]
pub(super) fn panels_per_block<T, K: Micro<T>>(
    p: &Problem<T>,
    kc: usize,
    caches: CacheSizes,
) -> Option<usize> {
    let elem = size_of::<T>();
    let panels = p.n.div_ceil(K::NR);
    if p.n < 2 * K::NR
        || p.m <= K::MR
        || p.m.saturating_mul(p.n).saturating_mul(elem) <= caches.l2 / 2
    {
        return None;
    }
    let panel_bytes = kc.saturating_mul(K::NR).saturating_mul(elem);
    if panels.saturating_mul(panel_bytes) <= caches.l2 / 2 {
        return Some(panels);
    }
    // Each column block reads all of A's K block again: only where that fits the L2 (a
    // 4096-row A read twice from memory was 6–9% slower than the panel-outer nests).
    let fit = caches.l2 / 2 / panel_bytes.max(1);
    if fit < 2 {
        return None;
    }
    let per_block = panels.div_ceil(panels.div_ceil(fit));
    if (p.cs_a != 1 && per_block.saturating_mul(K::NR) < STRIDED_A_COLUMNS_PER_TERM * kc)
        || K::MR.saturating_mul(kc).saturating_mul(elem) > caches.l1d / 2
        || p.m.saturating_mul(kc).saturating_mul(elem) > caches.l2
    {
        return None;
    }
    Some(per_block)
}

/// Packs `B`'s `kc × n` block at term `p0` as `ceil(n / NR)` panels of `kc × NR` (the last
/// zero-padded), panel `jp` at `dst + jp · panel_len`.
///
/// # Safety
/// Terms `p0..p0 + kc` are inside B; `panel_len ≥ kc · NR`; `dst` holds
/// `ceil(n / NR) · panel_len` elements.
#[inline(always)]
pub(super) unsafe fn pack_b_block<T: Real, K: Micro<T>>(
    p: &Problem<T>,
    p0: usize,
    kc: usize,
    panel_len: usize,
    dst: *mut T,
) {
    // SAFETY: forwarded; all panels.
    unsafe { pack_b_panels::<T, K>(p, p0, kc, 0..p.n.div_ceil(K::NR), panel_len, dst) }
}

/// Packs panels `range` of `B`'s `kc × n` block at term `p0`, panel `range.start + q` at
/// `dst + q · panel_len`.
///
/// # Safety
/// Terms `p0..p0 + kc` and the range's panels are inside B; `panel_len ≥ kc · NR`; `dst`
/// holds `range.len() · panel_len` elements.
#[inline(always)]
unsafe fn pack_b_panels<T: Real, K: Micro<T>>(
    p: &Problem<T>,
    p0: usize,
    kc: usize,
    range: std::ops::Range<usize>,
    panel_len: usize,
    dst: *mut T,
) {
    let first = range.start;
    for jp in range {
        let j0 = jp * K::NR;
        // SAFETY: the block (p0.., j0..) of kc × nr is inside B; slot jp − first of the
        // buffer holds kc · NR ≤ panel_len elements.
        unsafe {
            K::pack_b(
                p,
                p0,
                kc,
                j0,
                K::NR.min(p.n - j0),
                dst.add((jp - first) * panel_len),
            )
        };
    }
}

/// Runs the nest with column blocks of `per_block` panels ([`panels_per_block`]); returns
/// `false` (nothing written) when no buffer could be had.
///
/// # Safety
/// As `super::blocked`; `kc_max · NR · size_of::<T>() ≤ BYTES`; `per_block ≥ 1`.
#[inline(always)]
pub(super) unsafe fn run<T: Real, K: Micro<T>, const BYTES: usize>(
    p: &Problem<T>,
    kc_max: usize,
    per_block: usize,
) -> bool {
    let nr_full = K::NR;
    let panels = p.n.div_ceil(nr_full);
    let per_block = per_block.clamp(1, panels);
    let panel_len = kc_max.min(p.k) * nr_full;
    let Some(bbuf) = a_pack_buffer::<T>(per_block * panel_len) else {
        return false;
    };
    // One packed micro-panel of A (kc × MR ≤ kc × NR elements) when A is not row-major.
    let mut apanel = Panel::<BYTES>::new();
    let apanel = apanel.0.as_mut_ptr() as *mut T;
    // Column blocks outermost, K blocks in order inside each: every element of C gets its
    // K blocks' sums in the same order as in the other nests.
    let mut jb = 0;
    while jb < panels {
        let block = jb..panels.min(jb + per_block);
        let mut p0 = 0;
        while p0 < p.k {
            let kc = kc_max.min(p.k - p0);
            let acc_mode = p.accumulate || p0 > 0;
            // SAFETY: the buffer holds `per_block · panel_len` elements, panel_len ≥ kc · NR.
            unsafe { pack_b_panels::<T, K>(p, p0, kc, block.clone(), panel_len, bbuf) };
            let mut i0 = 0;
            while i0 < p.m {
                let mr = K::MR.min(p.m - i0);
                let (ap, rs, cs) = if p.cs_a == 1 {
                    // SAFETY: (i0, p0) is inside A.
                    (unsafe { p.a.add(i0 * p.rs_a + p0) }, p.rs_a, 1)
                } else {
                    // SAFETY: rows i0..i0 + mr, columns p0..p0 + kc are inside A; the buffer
                    // holds kc · NR ≥ kc · MR elements.
                    unsafe { pack_a_block(p, i0, mr, p0, kc, K::MR, apanel) };
                    (apanel as *const T, 1, K::MR)
                };
                let mut jp = block.start;
                while jp < block.end {
                    let j0 = jp * nr_full;
                    // SAFETY: the A tile is mr × kc with strides (rs, cs); slot jp − start of
                    // the buffer is a packed kc × NR panel; the C tile (i0.., j0..) of mr × nr
                    // elements is in bounds.
                    unsafe {
                        K::run(
                            kc,
                            ap,
                            rs,
                            cs,
                            mr,
                            bbuf.add((jp - block.start) * panel_len),
                            nr_full,
                            p.c.add(i0 * p.ldc + j0),
                            p.ldc,
                            nr_full.min(p.n - j0),
                            acc_mode,
                            p.bias_at(p0, j0),
                        );
                    }
                    jp += 1;
                }
                i0 += K::MR;
            }
            p0 += kc;
        }
        jb = block.end;
    }
    true
}
