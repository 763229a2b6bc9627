//! The panel-outer nest with `A` read in place ([`streamed`]): the common case, and the
//! alternative to [`super::packed`] for tall row-major `A` that the first-use calibration picks.

use std::mem::size_of;

use super::{Micro, Panel, Problem};
use crate::real::Real;

/// The loop nest with A read in place: for each `NR`-column panel of `B` and each `KC`-row
/// block, pack the panel on the stack and sweep the micro-kernel down all rows of `A`. When the
/// whole of `A` overflows half the L2 (`l2` bytes), `k` spans several blocks and one `m × KC`
/// block fits that half, the `KC` loop goes outside the panel loop instead, so each block is
/// read from the L2 by every panel rather than all of `A` from memory once per panel (a weight
/// gradient `δᵀ·H` at batch 4096 read its 8 MiB `A` 16 times). Each output element gets the
/// same sums in the same order either way.
///
/// # Safety
/// As [`super::blocked`]; `kc_max · NR · size_of::<T>() ≤ BYTES`. `K_OUTER = false` compiles the
/// panel-outer order only (for callers with one K block).
#[inline(always)]
pub(super) unsafe fn streamed<T: Real, K: Micro<T>, const BYTES: usize, const K_OUTER: bool>(
    p: &Problem<T>,
    kc_max: usize,
    l2: usize,
) {
    let nr_full = K::NR;
    let mut panel = Panel::<BYTES>::new();
    let panel = panel.0.as_mut_ptr() as *mut T;
    // With few rows the panel is used only a few times, so a row-major B is read in place
    // (full-width panels only) instead of being copied first.
    let in_place = p.cs_b == 1 && p.m <= 4 * K::MR;
    // One (panel, K block): pack (or point at) the panel and sweep all rows of A. A macro, not
    // a closure: a closure does not inherit the caller's target features, so the kernel's
    // intrinsics would not inline into it (1 GFLOP/s).
    macro_rules! sweep {
        ($j0:expr, $p0:expr) => {{
            let (j0, p0): (usize, usize) = ($j0, $p0);
            let nr = nr_full.min(p.n - j0);
            let kc = kc_max.min(p.k - p0);
            let (bp, bs) = if in_place && nr == nr_full {
                // SAFETY: (p0, j0) is inside B.
                (unsafe { p.b.add(p0 * p.rs_b + j0) }, p.rs_b)
            } else {
                // SAFETY: (p0 + pp, j0 + j) with pp < kc, j < nr is inside B; the panel holds
                // kc·NR elements (kc·NR·size_of::<T>() ≤ BYTES).
                unsafe { K::pack_b(p, p0, kc, j0, nr, panel) };
                (panel as *const T, nr_full)
            };
            let acc_mode = p.accumulate || p0 > 0;
            let mut i0 = 0;
            while i0 < p.m {
                let mr = K::MR.min(p.m - i0);
                // SAFETY: rows i0..i0+mr and columns p0..p0+kc of A are in bounds; the C tile
                // (i0.., j0..) with mr × nr elements is in bounds; the panel is initialised.
                unsafe {
                    K::run(
                        kc,
                        p.a.add(i0 * p.rs_a + p0 * p.cs_a),
                        p.rs_a,
                        p.cs_a,
                        mr,
                        bp,
                        bs,
                        p.c.add(i0 * p.ldc + j0),
                        p.ldc,
                        nr,
                        acc_mode,
                        p.bias_at(p0, j0),
                    );
                }
                i0 += K::MR;
            }
        }};
    }
    // Only when an m × KC block of A does fit there: otherwise A streams from memory either
    // way and the KC-outer order only adds passes over C (4096 × 256 × 256 streamed: 48 → 42
    // GFLOP/s in `speed` on a Zen 4).
    let a_bytes = |cols: usize| p.m.saturating_mul(cols).saturating_mul(size_of::<T>());
    let k_outer = K_OUTER && p.k > kc_max && a_bytes(p.k) > l2 / 2 && a_bytes(kc_max) <= l2 / 2;
    // `while` loops: `step_by` iterators cost measurably on small products.
    if k_outer {
        let mut p0 = 0;
        while p0 < p.k {
            let mut j0 = 0;
            while j0 < p.n {
                sweep!(j0, p0);
                j0 += nr_full;
            }
            p0 += kc_max;
        }
    } else {
        let mut j0 = 0;
        while j0 < p.n {
            let mut p0 = 0;
            while p0 < p.k {
                sweep!(j0, p0);
                p0 += kc_max;
            }
            j0 += nr_full;
        }
    }
}
