//! The loop nest with all of `B`'s K block packed once and the register tiles of `C` visited
//! row by row: for products whose `C` does not fit half the L2 while a packed `KC × n` block of
//! `B` does (the batch-4096 forward `4096 × 256 × 256`, a convolution's input gradient
//! `585 × 64 × 784`).
//!
//! The panel-outer nests ([`super::streamed::streamed`], [`super::packed`]) keep one `KC × NR` panel of
//! `B` in the L1d and sweep it down every row tile, so consecutive tiles of `C` lie one tile
//! height apart: with a `C` of several MiB each tile's stores go to lines that have left the
//! caches, a column of tiles at a time (and `streamed` packs `B`'s panels once per sweep).
//! Here each row tile of `A` (`MR × KC`, in the L1d) is run against every packed panel in turn
//! (from the L2), so `C` is written a full row band at a time, `A` is read once in place (no
//! `A` packing however tall it is), and `B` is packed once per K block. Every output element
//! gets the same sums in the same order as in the other nests (the same `KC` blocks, summed in
//! order, by the same kernel), so the choice never changes a bit.

use std::mem::size_of;

use super::pack::{a_pack_buffer, pack_a_block};
use super::{Micro, Panel, Problem};
use crate::real::Real;

/// Whether the product takes this nest: several panels, a `C` that overflows half the L2 and
/// a packed `kc × n` block of `B` that fits it.
#[inline(always)]
pub(super) fn applies<T, K: Micro<T>>(p: &Problem<T>, kc: usize, l2: usize) -> bool {
    let elem = size_of::<T>();
    let n_padded = p.n.div_ceil(K::NR) * K::NR;
    p.n >= 2 * K::NR
        && p.m > K::MR
        && p.m.saturating_mul(p.n).saturating_mul(elem) > l2 / 2
        && kc.saturating_mul(n_padded).saturating_mul(elem) <= l2 / 2
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
    for jp in 0..p.n.div_ceil(K::NR) {
        let j0 = jp * K::NR;
        // SAFETY: the block (p0.., j0..) of kc × nr is inside B; panel jp of the buffer holds
        // kc · NR ≤ panel_len elements.
        unsafe { K::pack_b(p, p0, kc, j0, K::NR.min(p.n - j0), dst.add(jp * panel_len)) };
    }
}

/// Runs the nest; returns `false` (nothing written) when no buffer could be had.
///
/// # Safety
/// As `super::blocked`; `kc_max · NR · size_of::<T>() ≤ BYTES`.
#[inline(always)]
pub(super) unsafe fn run<T: Real, K: Micro<T>, const BYTES: usize>(
    p: &Problem<T>,
    kc_max: usize,
) -> bool {
    let nr_full = K::NR;
    let panels = p.n.div_ceil(nr_full);
    let panel_len = kc_max.min(p.k) * nr_full;
    let Some(bbuf) = a_pack_buffer::<T>(panels * panel_len) else {
        return false;
    };
    // One packed micro-panel of A (kc × MR ≤ kc × NR elements) when A is not row-major.
    let mut apanel = Panel::<BYTES>::new();
    let apanel = apanel.0.as_mut_ptr() as *mut T;
    let mut p0 = 0;
    while p0 < p.k {
        let kc = kc_max.min(p.k - p0);
        let acc_mode = p.accumulate || p0 > 0;
        // SAFETY: the buffer holds `panels · panel_len` elements, panel_len ≥ kc · NR.
        unsafe { pack_b_block::<T, K>(p, p0, kc, panel_len, bbuf) };
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
            let mut jp = 0;
            while jp < panels {
                let j0 = jp * nr_full;
                // SAFETY: the A tile is mr × kc with strides (rs, cs); panel jp is a packed
                // kc × NR panel; the C tile (i0.., j0..) of mr × nr elements is in bounds.
                unsafe {
                    K::run(
                        kc,
                        ap,
                        rs,
                        cs,
                        mr,
                        bbuf.add(jp * panel_len),
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
    true
}
