//! The portable micro-kernel, for CPUs without the SIMD kernels' features.

use super::{LARGE_PANEL, Micro, Problem, blocked};
use crate::real::Real;

/// Portable kernel: an `MR × NR` accumulator array in plain loops (LLVM vectorises it for the
/// baseline instruction set); `FMA` selects `mul_add` (only where FMA is a native instruction).
pub(super) struct Generic<const MR: usize, const NR: usize, const FMA: bool>;

impl<T: Real, const MR: usize, const NR: usize, const FMA: bool> Micro<T> for Generic<MR, NR, FMA> {
    const MR: usize = MR;
    const NR: usize = NR;

    #[inline(never)]
    unsafe fn large(p: &Problem<T>) {
        // SAFETY: forwarded; the generic kernel needs no CPU features.
        unsafe { blocked::<T, Self, LARGE_PANEL>(p) }
    }

    #[inline(always)]
    unsafe fn run(
        kc: usize,
        a: *const T,
        rs_a: usize,
        cs_a: usize,
        mr: usize,
        b: *const T,
        bs: usize,
        c: *mut T,
        ldc: usize,
        nr: usize,
        acc_mode: bool,
        bias: *const T,
    ) {
        // Rows past the bottom edge repeat the last valid row; their results are not stored.
        let mut rows = [a; MR];
        for (i, r) in rows.iter_mut().enumerate() {
            // SAFETY: min(i, mr − 1) < mr rows.
            *r = unsafe { a.add(i.min(mr - 1) * rs_a) };
        }
        let mut acc = [[T::zero(); NR]; MR];
        for pp in 0..kc {
            // SAFETY: the panel row pp has NR initialised elements.
            let bp: [T; NR] = unsafe { std::ptr::read_unaligned(b.add(pp * bs) as *const [T; NR]) };
            let off = pp * cs_a;
            for i in 0..MR {
                // SAFETY: column pp < kc of a valid row.
                let ai = unsafe { *rows[i].add(off) };
                for j in 0..NR {
                    acc[i][j] = if FMA {
                        ai.mul_add(bp[j], acc[i][j])
                    } else {
                        ai * bp[j] + acc[i][j]
                    };
                }
            }
        }
        // Constant-bound loops with guards (rather than `0..mr`), so that after unrolling every
        // `acc` index is a constant and the accumulators can stay in registers.
        // SAFETY: the tile is mr × nr with row stride ldc.
        unsafe {
            for i in 0..MR {
                if i < mr {
                    let row = c.add(i * ldc);
                    for j in 0..NR {
                        if j < nr {
                            let cp = row.add(j);
                            *cp = if acc_mode {
                                *cp + acc[i][j]
                            } else if !bias.is_null() {
                                *bias.add(j) + acc[i][j]
                            } else {
                                acc[i][j]
                            };
                        }
                    }
                }
            }
        }
    }
}
