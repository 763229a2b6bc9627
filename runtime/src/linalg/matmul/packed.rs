//! The blocked nest with `A` packed in `MC`-row blocks ([`packed`]).

use std::mem::size_of;

use super::cache_sizes;
use super::pack::{a_pack_buffer, b_pack_buffer, pack_a_block};
use super::{Micro, Panel, Problem, b_resident};
use crate::real::Real;

/// Largest packed `KC × n` block of `B` that [`packed`] keeps for all row blocks of `A`, in
/// L2 sizes (it is read from the L2 or beyond, a panel at a time; the bound only keeps the
/// per-thread buffer in proportion to the caches).
const B_BLOCK_L2S: usize = 4;

/// The blocked loop nest with `A` packed: for each `KC`-term block and each `MC`-row block of
/// `A`, copy the block into `MR`-row micro-panels (`kc × MR`, term-major), then for each
/// `NR`-column panel of `B` sweep the micro-kernel down the packed rows. When `A` has several
/// row blocks, `B`'s `KC × n` block is packed once per K block into a per-thread buffer that
/// every row block reads (up to [`B_BLOCK_L2S`] L2s of it; beyond, each row block packs its
/// panels on the stack as it goes). On a 512 KiB L2 the weight gradient `256 × 4096 × 256` has
/// `MC = 60` and packed every panel of `B` five times: 83–86% of gemm, 92–93% packed once.
/// Each output element gets exactly the sums of [`blocked`](super::blocked)'s unpacked loop, in the same
/// order. Returns `false` (nothing written) when no buffer could be had.
///
/// # Safety
/// As [`blocked`](super::blocked); `kc_max · NR · size_of::<T>() ≤ BYTES`, `mc` a multiple of `MR`.
#[inline(always)]
pub(super) unsafe fn packed<T: Real, K: Micro<T>, const BYTES: usize>(
    p: &Problem<T>,
    kc_max: usize,
    mc: usize,
) -> bool {
    let nr_full = K::NR;
    let Some(abuf) = a_pack_buffer::<T>(mc * kc_max.min(p.k)) else {
        return false;
    };
    let mut panel = Panel::<BYTES>::new();
    let panel = panel.0.as_mut_ptr() as *mut T;
    // B's K block packed once for all row blocks: panel jp at `jp · panel_len`.
    let panels = p.n.div_ceil(nr_full);
    let panel_len = kc_max.min(p.k) * nr_full;
    let b_block = (p.m > mc)
        .then(|| panels.checked_mul(panel_len))
        .flatten()
        .filter(|&len| len.saturating_mul(size_of::<T>()) <= B_BLOCK_L2S * cache_sizes().l2)
        .and_then(b_pack_buffer::<T>);
    let mut p0 = 0;
    while p0 < p.k {
        let kc = kc_max.min(p.k - p0);
        let acc_mode = p.accumulate || p0 > 0;
        if let Some(bbuf) = b_block {
            // SAFETY: the buffer holds `panels · panel_len` elements, panel_len ≥ kc · NR.
            unsafe { b_resident::pack_b_block::<T, K>(p, p0, kc, panel_len, bbuf) };
        }
        let mut i0 = 0;
        while i0 < p.m {
            let mb = mc.min(p.m - i0);
            // SAFETY: rows i0..i0+mb and columns p0..p0+kc of A are in bounds; the buffer
            // holds mc·kc ≥ (micro-panels)·MR·kc elements.
            unsafe { pack_a_block(p, i0, mb, p0, kc, K::MR, abuf) };
            let mut j0 = 0;
            while j0 < p.n {
                let nr = nr_full.min(p.n - j0);
                let panel = match b_block {
                    // SAFETY: panel j0 / NR of the buffer, packed above for this K block.
                    Some(bbuf) => unsafe { bbuf.add(j0 / nr_full * panel_len) },
                    None => {
                        // SAFETY: as in `blocked`.
                        unsafe { K::pack_b(p, p0, kc, j0, nr, panel) };
                        panel
                    }
                };
                let mut ir = 0;
                while ir < mb {
                    let mr = K::MR.min(mb - ir);
                    // SAFETY: micro-panel ir / MR of the packed block holds kc × MR
                    // elements (term-major, row stride 1, term stride MR); the C tile
                    // (i0 + ir.., j0..) with mr × nr elements is in bounds.
                    unsafe {
                        K::run(
                            kc,
                            abuf.add(ir * kc),
                            1,
                            K::MR,
                            mr,
                            panel,
                            nr_full,
                            p.c.add((i0 + ir) * p.ldc + j0),
                            p.ldc,
                            nr,
                            acc_mode,
                            p.bias_at(p0, j0),
                        );
                    }
                    ir += K::MR;
                }
                j0 += nr_full;
            }
            i0 += mc;
        }
        p0 += kc;
    }
    true
}
